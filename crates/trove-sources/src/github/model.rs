//! The GitHub objects Trove uses, trimmed to the fields it reads, and the wire shapes they are
//! parsed from.

use std::fmt;

use serde::Deserialize;

/// The App itself (`GET /app`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AppInfo {
    /// Numeric App id.
    pub id: u64,
    /// URL name of the App (`/apps/{slug}`).
    pub slug: String,
    /// Display name.
    pub name: String,
    /// The App's page on GitHub.
    pub html_url: String,
}

/// One installation of the App on a user or organization account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installation {
    /// Installation id.
    pub id: u64,
    /// Login of the account the App is installed on.
    pub account_login: String,
    /// Numeric id of that account.
    pub account_id: u64,
    /// `User` or `Organization`.
    pub account_type: String,
    /// `all` or `selected`.
    pub repository_selection: String,
    /// True while the installation is suspended.
    pub suspended: bool,
    /// The installation's settings page, when GitHub gives one.
    pub html_url: Option<String>,
}

/// A GitHub user, as a user-to-server token sees itself (`GET /user`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct GitHubUser {
    /// Numeric user id (stable across renames).
    pub id: u64,
    /// Login (can change).
    pub login: String,
}

/// A user-to-server OAuth token. Its `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct UserToken(String);

impl UserToken {
    /// Wraps a token obtained elsewhere.
    pub fn new(token: impl Into<String>) -> Self {
        UserToken(token.into())
    }

    /// The token itself, for the `Authorization` header. Never log it.
    pub fn secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for UserToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("UserToken(<redacted>)")
    }
}

/// A repository an installation can read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repository {
    /// Numeric repository id (stable across renames and transfers).
    pub id: u64,
    /// `owner/name`.
    pub full_name: String,
    /// Name without the owner.
    pub name: String,
    /// Owner login.
    pub owner: String,
    /// The default branch (`main`).
    pub default_branch: String,
    /// True for private (and internal) repositories.
    pub private: bool,
    /// True when archived (read-only).
    pub archived: bool,
    /// The repository's page.
    pub html_url: String,
}

/// Counters of the client since it was created, shared by every clone.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientStats {
    /// HTTP requests sent (each attempt counts).
    pub requests: u64,
    /// `304 Not Modified` answers served from the ETag cache.
    pub not_modified: u64,
    /// Installation tokens minted.
    pub tokens_minted: u64,
    /// App JWTs signed.
    pub jwts_signed: u64,
    /// Requests sent again after a server error, a connection failure or a short rate limit.
    pub retries: u64,
}

/// Wire shape of an account (`owner`, `account`).
#[derive(Debug, Deserialize)]
pub(crate) struct WireAccount {
    pub login: String,
    #[serde(default)]
    pub id: u64,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
}

/// Wire shape of an installation.
#[derive(Debug, Deserialize)]
pub(crate) struct WireInstallation {
    pub id: u64,
    pub account: WireAccount,
    #[serde(default)]
    pub repository_selection: Option<String>,
    #[serde(default)]
    pub suspended_at: Option<String>,
    #[serde(default)]
    pub html_url: Option<String>,
    #[serde(default)]
    pub target_type: Option<String>,
}

impl From<WireInstallation> for Installation {
    fn from(w: WireInstallation) -> Self {
        Installation {
            id: w.id,
            account_login: w.account.login,
            account_id: w.account.id,
            account_type: w
                .account
                .kind
                .or(w.target_type)
                .unwrap_or_else(|| "User".to_owned()),
            repository_selection: w.repository_selection.unwrap_or_else(|| "all".to_owned()),
            suspended: w.suspended_at.is_some(),
            html_url: w.html_url,
        }
    }
}

/// Wire shape of a repository.
#[derive(Debug, Deserialize)]
pub(crate) struct WireRepository {
    pub id: u64,
    pub full_name: String,
    pub name: String,
    pub owner: WireAccount,
    #[serde(default)]
    pub default_branch: Option<String>,
    #[serde(default)]
    pub private: bool,
    #[serde(default)]
    pub archived: bool,
    #[serde(default)]
    pub html_url: String,
}

impl From<WireRepository> for Repository {
    fn from(w: WireRepository) -> Self {
        Repository {
            id: w.id,
            full_name: w.full_name,
            name: w.name,
            owner: w.owner.login,
            // An empty repository has no default branch yet; GitHub's own default is `main`.
            default_branch: w.default_branch.unwrap_or_else(|| "main".to_owned()),
            private: w.private,
            archived: w.archived,
            html_url: w.html_url,
        }
    }
}
