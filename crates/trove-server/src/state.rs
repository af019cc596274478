//! The state shared by every handler.

use std::sync::Arc;
use std::time::Duration;

use metrics_exporter_prometheus::PrometheusHandle;
use trove_sources::RepositorySource;
use trove_store::Store;
use trove_sync::Engine;
use zeroize::Zeroizing;

use crate::routes::webhooks::WebhookIngest;

/// The secret GitHub signs webhook deliveries with (`X-Hub-Signature-256`). Never printed: its
/// `Debug` is redacted, and the bytes are wiped when the last copy is dropped.
#[derive(Clone)]
pub struct WebhookSecret(Arc<Zeroizing<Vec<u8>>>);

impl WebhookSecret {
    /// The secret, or `None` when it is empty: anyone could sign with an empty key, so an empty
    /// value counts as "not configured".
    pub fn new(secret: impl Into<Vec<u8>>) -> Option<Self> {
        let bytes = Zeroizing::new(secret.into());
        (!bytes.is_empty()).then(|| Self(Arc::new(bytes)))
    }

    /// The key bytes, for signature verification only.
    pub(crate) fn key(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(<redacted>)")
    }
}

/// Settings of the HTTP server.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Whether cookies get the `Secure` attribute (set when Trove is served over HTTPS).
    pub secure_cookies: bool,
    /// How long one request may take before it is answered 408.
    pub request_timeout: Duration,
    /// The GitHub App's webhook secret; without it the webhook answers 503.
    pub webhook_secret: Option<WebhookSecret>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            secure_cookies: false,
            request_timeout: Duration::from_secs(30),
            webhook_secret: None,
        }
    }
}

/// The handle every handler gets: one reference count to clone, however much [`AppShared`] holds
/// (the router clones it at least twice per request).
#[derive(Clone)]
pub struct AppState(Arc<AppShared>);

impl AppState {
    /// Wraps what handlers share.
    pub fn new(shared: AppShared) -> Self {
        Self(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = AppShared;

    fn deref(&self) -> &AppShared {
        &self.0
    }
}

/// What handlers share: the store, the repository source and sync engine, settings, the metrics
/// registry and the webhook ingest.
pub struct AppShared {
    /// The store.
    pub store: Store,
    /// Server settings.
    pub config: Arc<ServerConfig>,
    /// Renders `/metrics`.
    pub metrics: PrometheusHandle,
    /// Reads connected repositories (default-branch resolution, head listings).
    pub sources: Arc<dyn RepositorySource>,
    /// The reconcile engine (discovery of a target's head).
    pub engine: Arc<Engine>,
    /// Writes verified webhook deliveries in group commits ([`WebhookIngest::start`]).
    pub webhooks: WebhookIngest,
    /// The GitHub App client, when `TROVE_GITHUB_APP_ID` and its key are set; without it the
    /// GitHub routes answer 409 `github_not_configured`.
    pub github: Option<trove_sources::GitHubApp>,
}
