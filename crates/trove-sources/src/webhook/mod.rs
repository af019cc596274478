//! GitHub webhook deliveries, before any HTTP or database work: signature verification over the
//! raw body, then one normalisation of the envelope and a routing decision.
//!
//! The order is the contract: [`verify_signature`] runs on the exact received bytes first, and
//! only a verified body reaches [`Delivery::parse`]. Re-serialised JSON never matches GitHub's
//! HMAC (it escapes control characters as `\u001B`, compact, no trailing newline), so nothing
//! here ever re-encodes a body.
//!
//! Mapping to HTTP (done by the server, not here): [`SignatureError::Missing`] → 401
//! `"missing signature"`, [`SignatureError::Invalid`] → 401 `"invalid signature"`,
//! [`Route::Ignored`] → 200, every other route → 202 once enqueued.

mod delivery;
mod signature;

pub use delivery::{Delivery, ParseError, RepoRef, Route};
pub use signature::{SIGNATURE_256_HEADER, SignatureError, verify_signature};
