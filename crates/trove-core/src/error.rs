//! The one error type of Trove.
//!
//! Every layer returns [`AppError`]; the server maps each variant to a status code and the error envelope
//! `{ok: false, error, message}`. Internal errors keep their source for the log and show the client only a
//! generic message, so no database text, path or secret reaches a response.

use std::fmt;

/// Which kind of permission a 403 is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForbiddenKind {
    /// The caller's org role lacks a capability (only owners/admins may do this).
    MissingOrgCapability,
    /// The caller has no sufficient role on the resource itself.
    MissingResourceAccess,
}

impl ForbiddenKind {
    /// The error code shown in the response body.
    pub fn code(self) -> &'static str {
        match self {
            Self::MissingOrgCapability => "missing_org_capability",
            Self::MissingResourceAccess => "missing_resource_access",
        }
    }
}

/// The error of every fallible operation in Trove.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// No or invalid credentials (401).
    #[error("{0}")]
    Unauthorized(String),
    /// The caller is known but may not do this (403).
    #[error("{message}")]
    Forbidden {
        /// Which permission is missing.
        kind: ForbiddenKind,
        /// What was refused, for the client.
        message: String,
    },
    /// The resource does not exist, or belongs to an org the caller cannot see (404).
    #[error("{resource} not found")]
    NotFound {
        /// What kind of thing was looked up (`organization`, `team`, …).
        resource: &'static str,
    },
    /// The request is malformed or violates a rule (400). `field` names the offending field.
    #[error("{message}")]
    Invalid {
        /// The JSON field (or query parameter) at fault, when there is one.
        field: Option<String>,
        /// What is wrong and, where possible, what to do.
        message: String,
    },
    /// The request conflicts with the current state (409).
    #[error("{message}")]
    Conflict {
        /// A stable machine-readable code, e.g. `already_exists` or `last_owner`.
        code: &'static str,
        /// What conflicts, for the client.
        message: String,
    },
    /// The request body is over the limit (413).
    #[error("request body is larger than {limit} bytes")]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// A dependency (the database, GitHub) is unavailable right now (503).
    #[error("{0}")]
    Unavailable(String),
    /// Anything else (500). The source is logged, never shown.
    #[error("internal error: {0}")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// `Result` with [`AppError`].
pub type AppResult<T> = Result<T, AppError>;

impl AppError {
    /// A 400 about one field.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            field: Some(field.into()),
            message: message.into(),
        }
    }

    /// A 400 not tied to a field.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::Invalid {
            field: None,
            message: message.into(),
        }
    }

    /// A 404.
    pub fn not_found(resource: &'static str) -> Self {
        Self::NotFound { resource }
    }

    /// A 409.
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::Conflict {
            code,
            message: message.into(),
        }
    }

    /// A 403 for a missing org capability.
    pub fn missing_org_capability(what: impl fmt::Display) -> Self {
        Self::Forbidden {
            kind: ForbiddenKind::MissingOrgCapability,
            message: format!("only organization owners and admins may {what}"),
        }
    }

    /// A 403 for a missing role on a resource.
    pub fn missing_resource_access(message: impl Into<String>) -> Self {
        Self::Forbidden {
            kind: ForbiddenKind::MissingResourceAccess,
            message: message.into(),
        }
    }

    /// A 500 from any error.
    pub fn internal(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Internal(error.into())
    }

    /// The stable error code of the response body.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthorized(_) => "unauthorized",
            Self::Forbidden { kind, .. } => kind.code(),
            Self::NotFound { .. } => "not_found",
            Self::Invalid { .. } => "invalid_request",
            Self::Conflict { code, .. } => code,
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::Unavailable(_) => "service_unavailable",
            Self::Internal(_) => "internal_error",
        }
    }

    /// The HTTP status code.
    pub fn status(&self) -> u16 {
        match self {
            Self::Unauthorized(_) => 401,
            Self::Forbidden { .. } => 403,
            Self::NotFound { .. } => 404,
            Self::Invalid { .. } => 400,
            Self::Conflict { .. } => 409,
            Self::PayloadTooLarge { .. } => 413,
            Self::Unavailable(_) => 503,
            Self::Internal(_) => 500,
        }
    }

    /// The message shown to the client: internal details are replaced by a generic sentence.
    pub fn public_message(&self) -> String {
        match self {
            Self::Internal(_) => {
                "an internal error occurred; the server log has the details".into()
            }
            other => other.to_string(),
        }
    }
}

impl From<serde_json::Error> for AppError {
    fn from(error: serde_json::Error) -> Self {
        Self::internal(error)
    }
}
