//! Who is calling: an app JWT (checked for real: RS256 signature against the App's public key,
//! `iss`, `iat`, `exp`), an installation token, a user token, or nobody. Bad, expired or unknown
//! credentials answer 401 `{"message":"Bad credentials"}`, as GitHub does.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::Response;
use chrono::Utc;
use serde_json::Value;

use super::http::gh_error;
use super::state::{Grant, Shared};

/// GitHub refuses app JWTs that live longer than this.
const MAX_JWT_LIFETIME_SECS: i64 = 600;
/// Tolerated clock skew for an `iat` slightly in the future.
const IAT_SKEW_SECS: i64 = 60;

/// The authenticated caller of a request.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Caller {
    Anonymous,
    /// A valid app JWT.
    App,
    /// An unexpired installation token or user-to-server token.
    Token(Grant),
}

impl Caller {
    /// The 401 GitHub gives for a missing credential where one is needed.
    pub(crate) fn required() -> Response {
        gh_error(StatusCode::UNAUTHORIZED, "Requires authentication")
    }

    /// The app JWT is required here (`/app/...`).
    pub(crate) fn require_app(self) -> Result<(), Response> {
        match self {
            Self::App => Ok(()),
            Self::Anonymous => Err(Self::required()),
            // GitHub parses whatever bearer it gets as a JWT on these routes, and a token is none.
            Self::Token(_) => Err(gh_error(
                StatusCode::UNAUTHORIZED,
                "A JSON web token could not be decoded",
            )),
        }
    }

    /// A token is required here (repositories, `/installation/...`, `/user...`).
    pub(crate) fn require_token(self) -> Result<Grant, Response> {
        match self {
            Self::Token(grant) => Ok(grant),
            Self::Anonymous => Err(Self::required()),
            Self::App => Err(not_for_integration()),
        }
    }
}

/// 403 for a credential that exists but may not use this endpoint.
pub(crate) fn not_for_integration() -> Response {
    gh_error(
        StatusCode::FORBIDDEN,
        "Resource not accessible by integration",
    )
}

fn bad_credentials() -> Response {
    gh_error(StatusCode::UNAUTHORIZED, "Bad credentials")
}

impl FromRequestParts<Arc<Shared>> for Caller {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        shared: &Arc<Shared>,
    ) -> Result<Self, Self::Rejection> {
        let Some(value) = parts.headers.get(axum::http::header::AUTHORIZATION) else {
            return Ok(Self::Anonymous);
        };
        let value = value.to_str().map_err(|_| bad_credentials())?;
        let (scheme, credential) = value.split_once(' ').ok_or_else(bad_credentials)?;
        let credential = credential.trim();
        let is_bearer = scheme.eq_ignore_ascii_case("bearer");
        if !is_bearer && !scheme.eq_ignore_ascii_case("token") {
            return Err(bad_credentials());
        }
        // An app JWT is three base64url parts; GitHub only takes it as a bearer.
        if credential.matches('.').count() == 2 {
            return if is_bearer && app_jwt_is_valid(shared, credential) {
                Ok(Self::App)
            } else {
                Err(bad_credentials())
            };
        }
        let world = shared.world();
        let token = world.tokens.get(credential).ok_or_else(bad_credentials)?;
        if token.expires_at <= Utc::now() {
            return Err(bad_credentials());
        }
        if let Grant::Installation(id) = token.grant
            && world
                .installations
                .get(&id)
                .is_none_or(|i| i.suspended_at.is_some())
        {
            return Err(gh_error(
                StatusCode::FORBIDDEN,
                "This installation has been suspended",
            ));
        }
        Ok(Self::Token(token.grant))
    }
}

/// Signature, `iss` (the App id as a number or string, or the client id, as GitHub accepts),
/// `exp` in the future and at most ten minutes after `iat`, `iat` not in the future.
fn app_jwt_is_valid(shared: &Shared, jwt: &str) -> bool {
    let Some(claims) = shared.app.key.verify_jwt(jwt) else {
        return false;
    };
    let now = Utc::now().timestamp();
    let (Some(iat), Some(exp)) = (claims["iat"].as_i64(), claims["exp"].as_i64()) else {
        return false;
    };
    let app_id = shared.app.id.to_string();
    let iss_ok = match &claims["iss"] {
        Value::Number(n) => n.as_u64() == Some(shared.app.id),
        Value::String(s) => *s == app_id || *s == shared.app.client_id,
        _ => false,
    };
    iss_ok && exp > now && exp - iat <= MAX_JWT_LIFETIME_SECS && iat <= now + IAT_SKEW_SECS
}
