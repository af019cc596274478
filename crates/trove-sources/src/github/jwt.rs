//! App authentication: the private key from PEM, and RS256 JWTs signed with it.
//!
//! GitHub accepts an app JWT for at most ten minutes. Ours claim `iat` a minute in the past (the
//! clocks of GitHub and this host may disagree) and expire nine minutes from now; one is reused
//! until a minute before it expires, so a busy client signs about one JWT every eight minutes.

use std::sync::Mutex;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

use super::error::GitHubError;

/// How far back `iat` is dated, for clock drift between this host and GitHub.
const BACKDATE_SECS: i64 = 60;
/// Lifetime from now (GitHub's maximum is ten minutes after `iat`).
const LIFETIME_SECS: i64 = 540;
/// A JWT is replaced this long before it expires.
const RENEW_BEFORE_SECS: i64 = 60;

/// The App's signing key and the JWT currently in use.
pub(crate) struct AppSigner {
    app_id: u64,
    key: RsaKeyPair,
    current: Mutex<Option<(String, i64)>>,
}

impl AppSigner {
    /// Parses `pem` (PKCS#1 or PKCS#8). Errors never quote the key.
    pub fn new(app_id: u64, pem: &str) -> Result<Self, GitHubError> {
        Ok(AppSigner {
            app_id,
            key: parse_private_key(pem)?,
            current: Mutex::new(None),
        })
    }

    /// A JWT valid for at least another minute, and whether it was signed just now.
    pub fn jwt(&self, now: i64) -> Result<(String, bool), GitHubError> {
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((jwt, exp)) = current.as_ref()
            && now < exp - RENEW_BEFORE_SECS
        {
            return Ok((jwt.clone(), false));
        }
        let exp = now + LIFETIME_SECS;
        let jwt = self.sign(now - BACKDATE_SECS, exp)?;
        *current = Some((jwt.clone(), exp));
        Ok((jwt, true))
    }

    /// Signs `{"iat", "exp", "iss"}` with RS256.
    fn sign(&self, iat: i64, exp: i64) -> Result<String, GitHubError> {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT"}"#);
        let claims = serde_json::json!({ "iat": iat, "exp": exp, "iss": self.app_id.to_string() });
        let claims = URL_SAFE_NO_PAD.encode(claims.to_string());
        let signing_input = format!("{header}.{claims}");
        let mut signature = vec![0; self.key.public_modulus_len()];
        self.key
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                signing_input.as_bytes(),
                &mut signature,
            )
            .map_err(|_| GitHubError::Config("signing the app JWT failed".to_owned()))?;
        Ok(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature)
        ))
    }
}

/// Reads an RSA private key from PEM: `RSA PRIVATE KEY` (PKCS#1, what GitHub hands out) or
/// `PRIVATE KEY` (PKCS#8). A PEM pasted into an environment variable with literal `\n` escapes
/// is accepted too.
pub(crate) fn parse_private_key(pem: &str) -> Result<RsaKeyPair, GitHubError> {
    let unescaped;
    let pem = if !pem.contains('\n') && pem.contains("\\n") {
        unescaped = pem.replace("\\n", "\n");
        unescaped.as_str()
    } else {
        pem
    };
    let (label, der) = decode_pem(pem)?;
    let parsed = match label.as_str() {
        "RSA PRIVATE KEY" => RsaKeyPair::from_der(&der),
        "PRIVATE KEY" => RsaKeyPair::from_pkcs8(&der),
        "ENCRYPTED PRIVATE KEY" => {
            return Err(GitHubError::Config(
                "the App private key is encrypted; give the unencrypted PEM GitHub generated"
                    .to_owned(),
            ));
        }
        other => {
            return Err(GitHubError::Config(format!(
                "the App private key is a PEM {other:?} block, not an RSA private key"
            )));
        }
    };
    parsed.map_err(|e| {
        GitHubError::Config(format!(
            "the App private key is not a usable RSA key ({})",
            e.description_()
        ))
    })
}

/// The label and bytes of the first PEM block in `text`.
fn decode_pem(text: &str) -> Result<(String, Vec<u8>), GitHubError> {
    let missing = || {
        GitHubError::Config(
            "the App private key is not PEM (no -----BEGIN ...----- line)".to_owned(),
        )
    };
    let start = text.find("-----BEGIN ").ok_or_else(missing)?;
    let rest = &text[start + "-----BEGIN ".len()..];
    let label_end = rest.find("-----").ok_or_else(missing)?;
    let label = rest[..label_end].trim().to_owned();
    let body = &rest[label_end + "-----".len()..];
    let end_marker = format!("-----END {label}-----");
    let body_end = body.find(&end_marker).ok_or_else(|| {
        GitHubError::Config(format!("the App private key has no {end_marker:?} line"))
    })?;
    let body = &body[..body_end];
    if body.contains(':') {
        // RFC 1421 headers (Proc-Type, DEK-Info) only appear on encrypted legacy keys.
        return Err(GitHubError::Config(
            "the App private key is encrypted; give the unencrypted PEM GitHub generated"
                .to_owned(),
        ));
    }
    let b64: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let der = STANDARD.decode(b64).map_err(|_| {
        GitHubError::Config("the App private key PEM body is not valid base64".to_owned())
    })?;
    Ok((label, der))
}
