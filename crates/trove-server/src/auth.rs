//! Who is calling, and in which organization.
//!
//! Extractors come in rungs: [`Caller`] (a valid API token or session cookie, else 401) and [`OrgCtx`]
//! (the `{org}` of the path, resolved by slug or id, where the caller is a member, else 404). A token is
//! bound to one org: used on another org's routes it sees a 404, as if that org did not exist.

use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::header::{AUTHORIZATION, COOKIE};
use axum::http::request::Parts;
use trove_core::{AppError, MembershipId, OrgId, OrgRole, TokenId, UserId};
use trove_store::Actor;
use trove_store::model::Org;

use crate::error::ApiError;
use crate::state::AppState;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "trove_session";

/// How the caller authenticated.
#[derive(Debug, Clone, Copy)]
pub enum Credential {
    /// An API token, bound to one org.
    Token {
        /// The token.
        token_id: TokenId,
        /// Its org.
        org_id: OrgId,
    },
    /// A session cookie of the web UI.
    Session,
}

/// An authenticated caller.
#[derive(Debug, Clone, Copy)]
pub struct Caller {
    /// The user.
    pub user_id: UserId,
    /// How they authenticated.
    pub credential: Credential,
}

impl Caller {
    /// The actor recorded in the audit log.
    pub fn actor(&self) -> Actor {
        Actor {
            user_id: Some(self.user_id),
            token_id: match self.credential {
                Credential::Token { token_id, .. } => Some(token_id),
                Credential::Session => None,
            },
        }
    }

    /// The org a token is bound to (`None` for sessions, which may act in every org of the user).
    pub fn token_org(&self) -> Option<OrgId> {
        match self.credential {
            Credential::Token { org_id, .. } => Some(org_id),
            Credential::Session => None,
        }
    }
}

/// Reads the session cookie's value from the request headers.
pub fn session_cookie(parts: &Parts) -> Option<String> {
    parts
        .headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.to_string())
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(caller) = parts.extensions.get::<Caller>() {
            return Ok(*caller);
        }
        let caller = authenticate(parts, state).await?;
        parts.extensions.insert(caller);
        Ok(caller)
    }
}

async fn authenticate(parts: &Parts, state: &AppState) -> Result<Caller, ApiError> {
    if let Some(header) = parts.headers.get(AUTHORIZATION) {
        let value = header.to_str().unwrap_or_default();
        let Some(secret) = value.strip_prefix("Bearer ").map(str::trim) else {
            return Err(AppError::Unauthorized(
                "the Authorization header must be `Bearer trove_…`".into(),
            )
            .into());
        };
        return match state.store.authenticate_token(secret).await? {
            Some(p) => Ok(Caller {
                user_id: p.user_id,
                credential: Credential::Token {
                    token_id: p.token_id,
                    org_id: p.org_id,
                },
            }),
            None => Err(AppError::Unauthorized(
                "the API token is unknown, expired or revoked; create a new one with `trove admin token create`".into(),
            )
            .into()),
        };
    }
    if let Some(secret) = session_cookie(parts) {
        if let Some((_, user_id)) = state.store.authenticate_session(&secret).await? {
            return Ok(Caller {
                user_id,
                credential: Credential::Session,
            });
        }
        return Err(AppError::Unauthorized("the session has expired; sign in again".into()).into());
    }
    Err(AppError::Unauthorized(
        "authentication required: send `Authorization: Bearer trove_…` or sign in".into(),
    )
    .into())
}

/// The caller inside one organization.
#[derive(Debug, Clone)]
pub struct OrgCtx {
    /// The caller.
    pub caller: Caller,
    /// The org of the path.
    pub org: Org,
    /// The caller's membership of it.
    pub membership_id: MembershipId,
    /// The caller's org role.
    pub role: OrgRole,
}

impl OrgCtx {
    /// The org's id.
    pub fn org_id(&self) -> OrgId {
        self.org.id
    }

    /// Fails with `403 missing_org_capability` unless the caller is an owner or admin.
    pub fn require_admin(&self, what: &str) -> Result<(), AppError> {
        if self.role.is_admin() {
            Ok(())
        } else {
            Err(AppError::missing_org_capability(what))
        }
    }

    /// Fails with `403 missing_org_capability` unless the caller is an owner.
    pub fn require_owner(&self, what: &str) -> Result<(), AppError> {
        if self.role == OrgRole::Owner {
            Ok(())
        } else {
            Err(AppError::Forbidden {
                kind: trove_core::ForbiddenKind::MissingOrgCapability,
                message: format!("only organization owners may {what}"),
            })
        }
    }

    /// The actor for the audit log.
    pub fn actor(&self) -> Actor {
        self.caller.actor()
    }

    /// The caller as far as resource access is concerned.
    pub fn principal(&self) -> trove_store::registry::access::Principal {
        trove_store::registry::access::Principal {
            org_id: self.org.id,
            membership_id: self.membership_id,
            is_admin: self.role.is_admin(),
        }
    }
}

impl FromRequestParts<AppState> for OrgCtx {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let caller = Caller::from_request_parts(parts, state).await?;
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| AppError::not_found("organization"))?;
        let reference = params
            .iter()
            .find(|(name, _)| *name == "org")
            .map(|(_, value)| value.to_string())
            .ok_or_else(|| AppError::not_found("organization"))?;
        let (org, membership) = state
            .store
            .org_for_user(&reference, caller.user_id)
            .await?
            .ok_or_else(|| AppError::not_found("organization"))?;
        if caller.token_org().is_some_and(|bound| bound != org.id) {
            return Err(AppError::not_found("organization").into());
        }
        Ok(OrgCtx {
            caller,
            org,
            membership_id: membership.id,
            role: membership.role,
        })
    }
}
