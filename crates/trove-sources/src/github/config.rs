//! What the App client needs to know ([`GitHubConfig`]) and how far it may go
//! ([`GitHubLimits`] for HTTP behaviour, [`GitHubSourceLimits`] for snapshots).

use std::fmt;
use std::time::Duration;

/// How to reach GitHub and act as the App.
#[derive(Clone)]
pub struct GitHubConfig {
    /// REST API root: `https://api.github.com`, `https://HOST/api/v3` on GitHub Enterprise
    /// Server, or a loopback fake. No trailing slash needed.
    pub api_url: String,
    /// Web root for install pages and OAuth: `https://github.com`.
    pub web_url: String,
    /// The App's numeric id (the JWT issuer).
    pub app_id: u64,
    /// The App's private key as PEM: PKCS#1 (`BEGIN RSA PRIVATE KEY`, what GitHub hands out) or
    /// PKCS#8 (`BEGIN PRIVATE KEY`). Never printed.
    pub private_key_pem: String,
    /// OAuth client id of the App, for user-to-server tokens (proof of installation ownership).
    pub client_id: Option<String>,
    /// OAuth client secret of the App. Never printed.
    pub client_secret: Option<String>,
}

impl fmt::Debug for GitHubConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GitHubConfig")
            .field("api_url", &self.api_url)
            .field("web_url", &self.web_url)
            .field("app_id", &self.app_id)
            .field("private_key_pem", &"<redacted>")
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// HTTP behaviour of the client: timeouts, retries, rate-limit patience, pagination and cache
/// bounds.
#[derive(Debug, Clone, Copy)]
pub struct GitHubLimits {
    /// Time allowed to open a connection.
    pub connect_timeout: Duration,
    /// Time allowed for one whole request, body included.
    pub request_timeout: Duration,
    /// Attempts for one request when GitHub answers 5xx or the connection fails (the first try
    /// included).
    pub attempts: u32,
    /// First backoff delay between attempts; doubled each time, plus up to as much again of
    /// random jitter.
    pub backoff: Duration,
    /// Longest rate-limit wait the client sits out before retrying; longer waits give
    /// [`crate::GitHubError::RateLimited`] at once.
    pub max_rate_limit_wait: Duration,
    /// Most pages one paginated listing follows before it fails (a safety stop, not a cap on
    /// results: a listing that would need more pages is an error, never a silent cut).
    pub max_pages: usize,
    /// Most remembered `(ETag, body)` pairs.
    pub etag_entries: usize,
    /// Most bytes of remembered bodies, all entries together.
    pub etag_bytes: usize,
}

impl Default for GitHubLimits {
    fn default() -> Self {
        GitHubLimits {
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            attempts: 3,
            backoff: Duration::from_millis(250),
            max_rate_limit_wait: Duration::from_secs(10),
            max_pages: 100,
            etag_entries: 4096,
            etag_bytes: 32 << 20,
        }
    }
}

/// Bounds for one snapshot read through the REST API, like [`crate::GitLimits`] for git.
#[derive(Debug, Clone, Copy)]
pub struct GitHubSourceLimits {
    /// Wall-clock limit for one `head` or `snapshot` call.
    pub timeout: Duration,
    /// Stop listing after this many entries; the snapshot is then marked truncated.
    pub max_entries: usize,
    /// Largest blob ever read into memory.
    pub max_blob_bytes: u64,
    /// Do not descend below this many folder levels (the snapshot is then marked truncated).
    pub max_depth: usize,
    /// Subtree requests in flight at once when a truncated listing is walked folder by folder
    /// (GitHub allows at most 100 concurrent requests per App).
    pub tree_concurrency: usize,
    /// Bytes of blob content a snapshot keeps for repeated reads (discovery, then import).
    pub blob_cache_bytes: usize,
    /// Most bytes of listed files a snapshot may take from the commit's tarball instead of one
    /// blob request each (a snapshot listing more reads every file through the blobs API).
    pub archive_bytes: u64,
}

impl Default for GitHubSourceLimits {
    fn default() -> Self {
        GitHubSourceLimits {
            timeout: Duration::from_secs(120),
            max_entries: 250_000,
            max_blob_bytes: 32 << 20,
            max_depth: 48,
            tree_concurrency: 8,
            blob_cache_bytes: 8 << 20,
            archive_bytes: 64 << 20,
        }
    }
}
