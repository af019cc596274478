//! [`GitHubError`]: why a GitHub call failed, and how that maps onto [`SourceError`].

use crate::source::SourceError;

/// Why a call to GitHub failed. Messages never contain the App key, a JWT, a token or the
/// client secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GitHubError {
    /// The App is not configured, or configured wrongly (unreadable key, missing OAuth client).
    #[error("GitHub App configuration: {0}")]
    Config(String),
    /// GitHub answered 404: the resource does not exist or the credential cannot see it.
    #[error("not found on GitHub: {0}")]
    NotFound(String),
    /// GitHub answered 401: the credential was refused.
    #[error("GitHub refused the credentials: {0}")]
    Unauthorized(String),
    /// GitHub answered 403 for a reason other than a rate limit (missing permission, suspended
    /// installation).
    #[error("GitHub forbade the request: {0}")]
    Forbidden(String),
    /// A rate limit that lasts longer than the client is willing to wait.
    #[error("GitHub rate limit exceeded{}", reset_hint(.reset_at))]
    RateLimited {
        /// When the limit resets, in unix seconds, when GitHub said so.
        reset_at: Option<i64>,
    },
    /// The OAuth code exchange failed (bad, expired or already used code).
    #[error("GitHub OAuth: {0}")]
    OAuth(String),
    /// Server errors or network failures that persisted through the retries.
    #[error("GitHub unavailable: {0}")]
    Unavailable(String),
    /// An answer that does not have the expected shape, or a request that cannot be made (a
    /// malformed repository name, an unprocessable entity).
    #[error("invalid GitHub answer or request: {0}")]
    Invalid(String),
}

fn reset_hint(reset_at: &Option<i64>) -> String {
    match reset_at {
        Some(t) => format!(" (resets at unix time {t})"),
        None => String::new(),
    }
}

impl From<GitHubError> for SourceError {
    fn from(e: GitHubError) -> Self {
        let message = e.to_string();
        match e {
            GitHubError::NotFound(_) => SourceError::NotFound(message),
            GitHubError::Unauthorized(_)
            | GitHubError::Forbidden(_)
            | GitHubError::OAuth(_)
            | GitHubError::Config(_) => SourceError::Auth(message),
            GitHubError::RateLimited { .. } | GitHubError::Unavailable(_) => {
                SourceError::Unreachable(message)
            }
            GitHubError::Invalid(_) => SourceError::Invalid(message),
        }
    }
}
