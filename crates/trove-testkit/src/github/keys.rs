//! The App's RSA key pair: generated fresh per fake, handed out as PEM (PKCS#8, or PKCS#1 as
//! GitHub's "Generate a private key" button does), and used to check app JWTs for real.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{self, KeyPair as _, RSA_PKCS1_SHA256, UnparsedPublicKey};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::Value;

/// An RSA-2048 key pair with its PKCS#8 encoding kept for export.
pub(crate) struct AppKey {
    pair: KeyPair,
    pkcs8_der: Vec<u8>,
}

impl AppKey {
    /// A fresh RSA-2048 key pair.
    pub(crate) fn generate() -> Self {
        let pair = KeyPair::generate(KeySize::Rsa2048).expect("generate an RSA-2048 key");
        let pkcs8_der = AsDer::<aws_lc_rs::encoding::Pkcs8V1Der<'static>>::as_der(&pair)
            .expect("encode the key as PKCS#8")
            .as_ref()
            .to_vec();
        Self { pair, pkcs8_der }
    }

    /// `-----BEGIN PRIVATE KEY-----` (PKCS#8).
    pub(crate) fn pkcs8_pem(&self) -> String {
        pem("PRIVATE KEY", &self.pkcs8_der)
    }

    /// `-----BEGIN RSA PRIVATE KEY-----` (PKCS#1), the form GitHub hands out.
    pub(crate) fn pkcs1_pem(&self) -> String {
        pem("RSA PRIVATE KEY", pkcs1_from_pkcs8(&self.pkcs8_der))
    }

    /// An RS256 JWT over `claims`, signed with this key.
    pub(crate) fn sign_jwt(&self, claims: &Value) -> String {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT"}"#);
        let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
        let message = format!("{header}.{payload}");
        let mut sig = vec![0; self.pair.public_modulus_len()];
        self.pair
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                message.as_bytes(),
                &mut sig,
            )
            .expect("sign a JWT");
        format!("{message}.{}", URL_SAFE_NO_PAD.encode(sig))
    }

    /// The claims of `jwt` when it is a well-formed RS256 JWT whose signature this key's public
    /// half verifies; `None` otherwise. Claim values are the caller's to check.
    pub(crate) fn verify_jwt(&self, jwt: &str) -> Option<Value> {
        let (message, sig) = jwt.rsplit_once('.')?;
        let (header, payload) = message.split_once('.')?;
        if payload.contains('.') {
            return None;
        }
        let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).ok()?).ok()?;
        if header["alg"] != "RS256" {
            return None;
        }
        let sig = URL_SAFE_NO_PAD.decode(sig).ok()?;
        UnparsedPublicKey::new(
            &signature::RSA_PKCS1_2048_8192_SHA256,
            self.pair.public_key().as_ref(),
        )
        .verify(message.as_bytes(), &sig)
        .ok()?;
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()
    }
}

fn pem(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// The `RSAPrivateKey` (PKCS#1) inside a PKCS#8 `PrivateKeyInfo`:
/// `SEQUENCE { INTEGER version, SEQUENCE algorithm, OCTET STRING privateKey }`.
/// Only our own encoder's output is read here, so a malformed input is a bug and panics.
fn pkcs1_from_pkcs8(der: &[u8]) -> &[u8] {
    let (tag, info) = der_item(der);
    assert_eq!(tag, 0x30, "PrivateKeyInfo is a SEQUENCE");
    let mut rest = info;
    let mut next = |expected: u8| {
        let (tag, content) = der_item(rest);
        assert_eq!(tag, expected, "unexpected DER tag in PrivateKeyInfo");
        let used = content.as_ptr() as usize - rest.as_ptr() as usize + content.len();
        rest = &rest[used..];
        content
    };
    next(0x02); // version
    next(0x30); // algorithm identifier
    next(0x04) // privateKey
}

/// One DER item at the start of `input`: its tag and its content.
fn der_item(input: &[u8]) -> (u8, &[u8]) {
    let tag = input[0];
    let first = input[1];
    let (len, header) = if first < 0x80 {
        (usize::from(first), 2)
    } else {
        let count = usize::from(first & 0x7f);
        let len = input[2..2 + count]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, 2 + count)
    };
    (tag, &input[header..header + len])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkcs1_and_pkcs8_hold_the_same_key() {
        let key = AppKey::generate();
        let pkcs1 = pkcs1_from_pkcs8(&key.pkcs8_der);
        let again = KeyPair::from_der(pkcs1).expect("PKCS#1 parses");
        assert_eq!(again.public_key().as_ref(), key.pair.public_key().as_ref());
        assert!(
            key.pkcs1_pem()
                .starts_with("-----BEGIN RSA PRIVATE KEY-----\n")
        );
        assert!(key.pkcs8_pem().starts_with("-----BEGIN PRIVATE KEY-----\n"));
    }

    #[test]
    fn a_signed_jwt_verifies_and_a_tampered_one_does_not() {
        let key = AppKey::generate();
        let jwt = key.sign_jwt(&serde_json::json!({"iss": "1"}));
        assert_eq!(key.verify_jwt(&jwt).unwrap()["iss"], "1");
        let mut tampered = jwt.clone();
        tampered.insert(jwt.find('.').unwrap() + 2, 'x');
        assert!(key.verify_jwt(&tampered).is_none());
        assert!(key.verify_jwt("a.b").is_none());
    }
}
