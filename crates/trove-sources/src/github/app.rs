//! [`GitHubApp`]: the shared App client (key, HTTP client, caches, counters).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::config::{GitHubConfig, GitHubLimits};
use super::error::GitHubError;
use super::etag::EtagCache;
use super::jwt::AppSigner;
use super::model::{AppInfo, ClientStats};
use super::tokens::TokenCache;

/// A GitHub App client. Cheap to clone; clones share tokens, caches and counters.
#[derive(Clone)]
pub struct GitHubApp {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub api_url: String,
    pub web_url: String,
    pub app_id: u64,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub signer: AppSigner,
    pub http: reqwest::Client,
    pub limits: GitHubLimits,
    pub etags: EtagCache,
    pub tokens: TokenCache,
    pub app_info: tokio::sync::OnceCell<AppInfo>,
    pub stats: Counters,
}

impl std::fmt::Debug for GitHubApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitHubApp")
            .field("api_url", &self.inner.api_url)
            .field("web_url", &self.inner.web_url)
            .field("app_id", &self.inner.app_id)
            .field("oauth", &self.inner.client_id.is_some())
            .finish_non_exhaustive()
    }
}

impl GitHubApp {
    /// A client for the App described by `config`, with default limits. The private key is
    /// parsed now: an unreadable key is a [`GitHubError::Config`].
    pub fn new(config: GitHubConfig) -> Result<Self, GitHubError> {
        Self::with_limits(config, GitHubLimits::default())
    }

    /// Like [`GitHubApp::new`], with explicit HTTP limits (timeouts, retries, rate-limit
    /// patience, pagination and cache bounds).
    pub fn with_limits(config: GitHubConfig, limits: GitHubLimits) -> Result<Self, GitHubError> {
        let api_url = root_url(&config.api_url, "api_url")?;
        let web_url = root_url(&config.web_url, "web_url")?;
        if config.app_id == 0 {
            return Err(GitHubError::Config("the App id is missing".to_owned()));
        }
        let signer = AppSigner::new(config.app_id, &config.private_key_pem)?;
        let http = reqwest::Client::builder()
            .user_agent(concat!("trove/", env!("CARGO_PKG_VERSION")))
            .default_headers(
                [(
                    reqwest::header::HeaderName::from_static("x-github-api-version"),
                    reqwest::header::HeaderValue::from_static("2022-11-28"),
                )]
                .into_iter()
                .collect(),
            )
            .connect_timeout(limits.connect_timeout)
            .timeout(limits.request_timeout)
            .build()
            .map_err(|e| GitHubError::Config(format!("HTTP client: {e}")))?;
        let non_empty = |s: Option<String>| s.filter(|s| !s.trim().is_empty());
        Ok(GitHubApp {
            inner: Arc::new(Inner {
                api_url,
                web_url,
                app_id: config.app_id,
                client_id: non_empty(config.client_id),
                client_secret: non_empty(config.client_secret),
                signer,
                http,
                limits,
                etags: EtagCache::new(limits.etag_entries, limits.etag_bytes),
                tokens: TokenCache::default(),
                app_info: tokio::sync::OnceCell::new(),
                stats: Counters::default(),
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

    /// The App id.
    pub fn app_id(&self) -> u64 {
        self.inner.app_id
    }

    /// Counters since the client was created.
    pub fn stats(&self) -> ClientStats {
        self.inner.stats.snapshot()
    }

    /// The current app JWT (signed anew only when the last one is about to expire).
    pub(crate) fn app_jwt(&self) -> Result<String, GitHubError> {
        let (jwt, signed) = self.inner.signer.jwt(now_unix())?;
        if signed {
            self.inner.stats.jwts_signed.fetch_add(1, Ordering::Relaxed);
        }
        Ok(jwt)
    }
}

/// Checks a configured root URL (http or https, nothing after the path) and drops the trailing
/// slash.
fn root_url(raw: &str, name: &str) -> Result<String, GitHubError> {
    let trimmed = raw.trim().trim_end_matches('/');
    let parsed = url::Url::parse(trimmed)
        .map_err(|e| GitHubError::Config(format!("{name} {trimmed:?} is not a URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https")
        || parsed.query().is_some()
        || parsed.fragment().is_some()
        || !parsed.username().is_empty()
        || parsed.password().is_some()
    {
        return Err(GitHubError::Config(format!(
            "{name} must be a plain http(s) URL without credentials, query or fragment"
        )));
    }
    Ok(trimmed.to_owned())
}

/// Now, in unix seconds.
pub(crate) fn now_unix() -> i64 {
    chrono::Utc::now().timestamp()
}

/// The counters behind [`ClientStats`].
#[derive(Default)]
pub(crate) struct Counters {
    requests: AtomicU64,
    not_modified: AtomicU64,
    tokens_minted: AtomicU64,
    jwts_signed: AtomicU64,
    retries: AtomicU64,
}

impl Counters {
    pub fn add_request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    pub fn add_not_modified(&self) {
        self.not_modified.fetch_add(1, Ordering::Relaxed);
    }

    pub fn add_token_minted(&self) {
        self.tokens_minted.fetch_add(1, Ordering::Relaxed);
    }

    pub fn add_retry(&self) {
        self.retries.fetch_add(1, Ordering::Relaxed);
    }

    fn snapshot(&self) -> ClientStats {
        ClientStats {
            requests: self.requests.load(Ordering::Relaxed),
            not_modified: self.not_modified.load(Ordering::Relaxed),
            tokens_minted: self.tokens_minted.load(Ordering::Relaxed),
            jwts_signed: self.jwts_signed.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
        }
    }
}
