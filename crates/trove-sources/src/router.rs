//! [`SourceRouter`]: one [`RepositorySource`] in front of the git source and the GitHub source,
//! choosing per target.

use std::sync::Arc;

use crate::snapshot::RepoSnapshot;
use crate::source::{BoxFuture, Head, RepositorySource, SourceError, Target};

/// Sends targets that name a GitHub repository ([`Target::github`]) to the GitHub source and
/// every other target to the git source.
#[derive(Clone)]
pub struct SourceRouter {
    git: Arc<dyn RepositorySource>,
    github: Option<Arc<dyn RepositorySource>>,
}

impl std::fmt::Debug for SourceRouter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SourceRouter")
            .field("github", &self.github.is_some())
            .finish_non_exhaustive()
    }
}

impl SourceRouter {
    /// A router over `git` and, when the GitHub App is configured, `github`.
    pub fn new(git: Arc<dyn RepositorySource>, github: Option<Arc<dyn RepositorySource>>) -> Self {
        SourceRouter { git, github }
    }

    /// The source that serves `target`.
    fn pick(&self, target: &Target) -> Result<&dyn RepositorySource, SourceError> {
        if target.github.is_none() {
            return Ok(self.git.as_ref());
        }
        self.github.as_deref().ok_or_else(|| {
            SourceError::Auth(
                "the GitHub App is not configured (set TROVE_GITHUB_APP_ID and \
                 TROVE_GITHUB_APP_PRIVATE_KEY)"
                    .to_owned(),
            )
        })
    }
}

impl RepositorySource for SourceRouter {
    fn head<'a>(&'a self, target: &'a Target) -> BoxFuture<'a, Result<Head, SourceError>> {
        match self.pick(target) {
            Ok(source) => source.head(target),
            Err(e) => Box::pin(std::future::ready(Err(e))),
        }
    }

    fn snapshot<'a>(
        &'a self,
        target: &'a Target,
        sha: &'a str,
    ) -> BoxFuture<'a, Result<RepoSnapshot, SourceError>> {
        match self.pick(target) {
            Ok(source) => source.snapshot(target, sha),
            Err(e) => Box::pin(std::future::ready(Err(e))),
        }
    }
}
