//! A test App key (generated once per test binary) in both PEM forms GitHub users meet, and a
//! verifier for the app JWTs signed with it.

use std::sync::OnceLock;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{self, KeyPair, RsaKeyPair, UnparsedPublicKey};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

use super::{APP_ID, Req, now};

pub struct Keys {
    /// `BEGIN RSA PRIVATE KEY`, as GitHub hands out.
    pub pkcs1_pem: String,
    /// `BEGIN PRIVATE KEY`.
    pub pkcs8_pem: String,
    /// The public key as DER `RSAPublicKey`.
    pub public_der: Vec<u8>,
}

pub fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let pair = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
        let pkcs8 = AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&pair).unwrap();
        let pkcs8 = pkcs8.as_ref().to_vec();
        let pkcs1 = pkcs1_from_pkcs8(&pkcs8);
        Keys {
            pkcs1_pem: pem("RSA PRIVATE KEY", &pkcs1),
            pkcs8_pem: pem("PRIVATE KEY", &pkcs8),
            public_der: pair.public_key().as_ref().to_vec(),
        }
    })
}

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// One DER element: (tag, contents, rest).
fn der(input: &[u8]) -> (u8, &[u8], &[u8]) {
    let tag = input[0];
    let (len, header) = match input[1] {
        n if n < 0x80 => (n as usize, 2),
        n => {
            let k = (n & 0x7f) as usize;
            let len = input[2..2 + k]
                .iter()
                .fold(0usize, |a, &b| (a << 8) | b as usize);
            (len, 2 + k)
        }
    };
    (tag, &input[header..header + len], &input[header + len..])
}

/// PKCS#8 `PrivateKeyInfo` is `SEQUENCE { version, algorithm, OCTET STRING RSAPrivateKey }`.
fn pkcs1_from_pkcs8(pkcs8: &[u8]) -> Vec<u8> {
    let (_, info, _) = der(pkcs8);
    let (_, _version, rest) = der(info);
    let (_, _algorithm, rest) = der(rest);
    let (tag, key, _) = der(rest);
    assert_eq!(tag, 0x04, "OCTET STRING");
    key.to_vec()
}

/// The claims of a verified app JWT.
#[derive(Debug, serde::Deserialize)]
pub struct Claims {
    pub iat: i64,
    pub exp: i64,
    pub iss: String,
}

/// Verifies the app JWT on `req`: RS256 header, signature by the test key, issuer, a lifetime
/// of at most ten minutes that covers now.
pub fn check_app_jwt(req: &Req) -> Result<Claims, String> {
    let jwt = req.bearer().ok_or("no bearer credential")?;
    verify_jwt(jwt)
}

pub fn verify_jwt(jwt: &str) -> Result<Claims, String> {
    let parts: Vec<&str> = jwt.split('.').collect();
    let [header, claims, sig] = parts[..] else {
        return Err("not three parts".into());
    };
    let header: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
    if header["alg"] != "RS256" {
        return Err(format!("alg {}", header["alg"]));
    }
    let signature = URL_SAFE_NO_PAD.decode(sig).map_err(|e| e.to_string())?;
    UnparsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, &keys().public_der)
        .verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &signature)
        .map_err(|_| "bad signature".to_string())?;
    let claims: Claims =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
    let now = now();
    if claims.iss != APP_ID.to_string() {
        return Err(format!("iss {}", claims.iss));
    }
    if claims.exp <= now || claims.iat > now || claims.exp - claims.iat > 600 {
        return Err(format!("lifetime {claims:?} at {now}"));
    }
    Ok(claims)
}
