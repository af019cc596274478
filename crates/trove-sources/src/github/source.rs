//! [`GitHubSource`]: the [`RepositorySource`] for targets that name a GitHub repository.

use super::app::GitHubApp;
use super::config::GitHubSourceLimits;
use crate::snapshot::RepoSnapshot;
use crate::source::{BoxFuture, Head, RepositorySource, SourceError, Target};

/// Reads repositories of App installations through the REST API.
#[derive(Debug, Clone)]
pub struct GitHubSource {
    app: GitHubApp,
    limits: GitHubSourceLimits,
}

impl GitHubSource {
    /// A source reading through `app`, with default limits.
    pub fn new(app: GitHubApp) -> Self {
        Self::with_limits(app, GitHubSourceLimits::default())
    }

    /// A source reading through `app` within `limits`.
    pub fn with_limits(app: GitHubApp, limits: GitHubSourceLimits) -> Self {
        GitHubSource { app, limits }
    }

    /// The limits in force.
    pub fn limits(&self) -> &GitHubSourceLimits {
        &self.limits
    }

    /// Where the target's reference points now.
    pub async fn head(&self, target: &Target) -> Result<Head, SourceError> {
        let _ = (target, &self.app);
        Err(SourceError::Auth("not yet".into()))
    }

    /// A snapshot of commit `sha` of the target's repository.
    pub async fn snapshot(&self, target: &Target, sha: &str) -> Result<RepoSnapshot, SourceError> {
        let _ = (target, sha);
        Err(SourceError::Auth("not yet".into()))
    }
}

impl RepositorySource for GitHubSource {
    fn head<'a>(&'a self, target: &'a Target) -> BoxFuture<'a, Result<Head, SourceError>> {
        Box::pin(GitHubSource::head(self, target))
    }

    fn snapshot<'a>(
        &'a self,
        target: &'a Target,
        sha: &'a str,
    ) -> BoxFuture<'a, Result<RepoSnapshot, SourceError>> {
        Box::pin(GitHubSource::snapshot(self, target, sha))
    }
}
