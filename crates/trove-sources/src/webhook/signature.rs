//! `X-Hub-Signature-256` verification: `sha256=` + lowercase hex HMAC-SHA256 of the raw body.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The only signature header consulted. The legacy SHA-1 `X-Hub-Signature` is deliberately not an
/// input of [`verify_signature`], so a delivery that carries only that header is
/// [`SignatureError::Missing`].
pub const SIGNATURE_256_HEADER: &str = "x-hub-signature-256";

const PREFIX: &[u8] = b"sha256=";
/// 32 bytes of HMAC-SHA256 as hex.
const HEX_LEN: usize = 64;

/// Why a delivery was refused. Both map to 401; the split only chooses the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No `X-Hub-Signature-256` header (including deliveries signed only with legacy SHA-1).
    #[error("missing signature")]
    Missing,
    /// The header is present but is not `sha256=` + 64 lowercase hex digits, or the HMAC does not
    /// match, or no usable secret is configured.
    #[error("invalid signature")]
    Invalid,
}

/// Checks `signature_256` (the raw value of the `X-Hub-Signature-256` header, `None` when absent)
/// against HMAC-SHA256 of `body` keyed by `secret`.
///
/// - `body` must be the bytes exactly as received; verify before parsing anything.
/// - Only lowercase hex is accepted: GitHub sends lowercase, and accepting a second spelling of
///   the same MAC buys nothing (the fixtures' `derived-uppercase-hex` vector expects refusal).
/// - A `sha1=` value (even inside the SHA-256 header) is [`SignatureError::Invalid`]; a delivery
///   with only the legacy `X-Hub-Signature` header never reaches this function with a value, so
///   it is [`SignatureError::Missing`].
/// - An empty `secret` is refused as [`SignatureError::Invalid`]: anyone could forge its MAC, so
///   an unconfigured secret must fail closed rather than accept everything.
/// - The MAC comparison is `hmac`'s constant-time `verify_slice`; the shape checks before it only
///   look at the presented header, never at the expected MAC, so they leak nothing about it.
pub fn verify_signature(
    secret: &[u8],
    signature_256: Option<&[u8]>,
    body: &[u8],
) -> Result<(), SignatureError> {
    let value = signature_256.ok_or(SignatureError::Missing)?;
    if secret.is_empty() {
        return Err(SignatureError::Invalid);
    }
    let digits = value.strip_prefix(PREFIX).ok_or(SignatureError::Invalid)?;
    if digits.len() != HEX_LEN
        || !digits
            .iter()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return Err(SignatureError::Invalid);
    }
    let presented = hex::decode(digits).map_err(|_| SignatureError::Invalid)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).map_err(|_| SignatureError::Invalid)?;
    mac.update(body);
    mac.verify_slice(&presented)
        .map_err(|_| SignatureError::Invalid)
}
