//! The source abstraction: what the sync engine asks of any repository host.
//!
//! Two questions, deliberately separate so the periodic backstop stays cheap: "where is this ref
//! now?" ([`RepositorySource::head`], a ref advertisement, no content) and "give me the tree of this
//! exact commit" ([`RepositorySource::snapshot`]). Content is always read at a commit SHA, never at
//! a moving ref, so a reconcile sees one consistent tree even while the branch moves.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use crate::snapshot::RepoSnapshot;

/// A boxed, `Send` future: what the trait methods return so the trait stays usable as
/// `Arc<dyn RepositorySource>` (an `async fn` in a trait is not dyn-compatible).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A repository host that can resolve refs and produce snapshots of commits.
///
/// Implemented by [`crate::GitSource`] (any git URL or local repository) and
/// [`crate::GitHubSource`] (the REST API through the GitHub App); [`crate::SourceRouter`] picks
/// between them per target. Every method is bounded in time by the implementation.
pub trait RepositorySource: Send + Sync {
    /// Resolves the target's reference to a commit SHA without downloading content.
    ///
    /// For [`Reference::Sha`] this only validates the SHA. Errors: [`SourceError::NotFound`] when
    /// the repository or the ref does not exist.
    fn head<'a>(&'a self, target: &'a Target) -> BoxFuture<'a, Result<Head, SourceError>>;

    /// A snapshot of commit `sha` of the target's repository, rooted at `target.subdir` when set.
    ///
    /// `sha` is a full hexadecimal commit id, usually the one [`RepositorySource::head`] returned.
    /// Older commits work too (the source fetches them by id when they are not cached).
    fn snapshot<'a>(
        &'a self,
        target: &'a Target,
        sha: &'a str,
    ) -> BoxFuture<'a, Result<RepoSnapshot, SourceError>>;
}

/// Which commit of a repository a target follows.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Reference {
    /// The remote's default branch (what its `HEAD` points to).
    DefaultBranch,
    /// A branch, by short name (`main`, `release/1.x`).
    Branch(String),
    /// A tag, by short name (`v1.2.0`). Annotated tags are peeled to their commit.
    Tag(String),
    /// A branch or tag name as `git clone --branch` resolves it (branch first, then tag); a full
    /// ref name (`refs/...`) is used as is. This is what a marketplace entry's `ref` field means.
    Named(String),
    /// One fixed commit, as a full hexadecimal SHA.
    Sha(String),
}

/// One repository location and the commit of it to follow.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Target {
    /// An `https://`, `http://` or `file://` URL, or a local path to a repository (with or
    /// without a work tree). Userinfo in an https URL is accepted as credentials and never logged.
    pub url: String,
    /// The ref to follow.
    pub reference: Reference,
    /// For `git-subdir` sources: the snapshot is rooted at this folder of the commit
    /// (`/`-separated, relative).
    pub subdir: Option<String>,
    /// Credentials for a private host (https only). Part of the cache identity, so two accounts
    /// never share a cached copy.
    pub credentials: Option<Credentials>,
    /// Set when the repository is read through the GitHub App (REST API, installation token)
    /// instead of git; `url` is then informational.
    pub github: Option<GitHubRepo>,
}

/// A repository reached through an installation of the GitHub App.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GitHubRepo {
    /// The installation whose token reads the repository.
    pub installation_id: u64,
    /// `owner/name`, as GitHub currently spells it.
    pub full_name: String,
}

impl Target {
    /// A target following `reference` of `url`, without subdir or credentials.
    pub fn new(url: impl Into<String>, reference: Reference) -> Self {
        Target {
            url: url.into(),
            reference,
            subdir: None,
            credentials: None,
            github: None,
        }
    }

    /// The same target rooted at `subdir`.
    pub fn with_subdir(mut self, subdir: impl Into<String>) -> Self {
        self.subdir = Some(subdir.into());
        self
    }

    /// The same target with credentials.
    pub fn with_credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = Some(credentials);
        self
    }

    /// The same target, read through the GitHub App.
    pub fn with_github(mut self, repo: GitHubRepo) -> Self {
        self.github = Some(repo);
        self
    }
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Target")
            .field("url", &crate::git::location::redact_url(&self.url))
            .field("reference", &self.reference)
            .field("subdir", &self.subdir)
            .field(
                "credentials",
                &self.credentials.as_ref().map(|_| "<redacted>"),
            )
            .field("github", &self.github)
            .finish()
    }
}

/// A username and a secret (password or token) for an https git host.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Credentials {
    /// The username (for token-based hosts often any non-empty string, e.g. `x-access-token`).
    pub username: String,
    /// The password or token. Never logged, never part of an error.
    pub secret: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// Where a reference points now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// The commit SHA (full hexadecimal). Annotated tags are peeled.
    pub sha: String,
    /// The full ref name it was resolved from (`refs/heads/main`), or `None` for a fixed SHA.
    pub ref_name: Option<String>,
}

/// Why a source operation failed. Messages never contain credentials.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    /// The repository, ref, commit or subdir does not exist (or is not visible with the
    /// credentials given).
    #[error("not found: {0}")]
    NotFound(String),
    /// The host could not be reached (connection refused, DNS, TLS, server error).
    #[error("unreachable: {0}")]
    Unreachable(String),
    /// The operation did not finish within its time limit.
    #[error("timed out after {0:?} (TROVE_SYNC_TIMEOUT raises the limit)")]
    Timeout(std::time::Duration),
    /// A size limit stopped the operation (pack download, blob size).
    #[error("too large: {0}")]
    TooLarge(String),
    /// The URL, ref name, SHA or subdir is malformed or not allowed.
    #[error("invalid: {0}")]
    Invalid(String),
    /// The host refused the credentials (or demanded some).
    #[error("authentication failed: {0}")]
    Auth(String),
    /// Any other git failure (corrupt data, protocol error, I/O on the cache).
    #[error("git: {0}")]
    Git(String),
}

impl SourceError {
    /// True when a retry later may succeed (network trouble, timeouts, lock contention).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            SourceError::Unreachable(_) | SourceError::Timeout(_) | SourceError::Git(_)
        )
    }
}
