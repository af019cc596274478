//! The state shared by every handler.

use std::sync::Arc;
use std::time::Duration;

use metrics_exporter_prometheus::PrometheusHandle;
use trove_sources::RepositorySource;
use trove_store::Store;
use trove_sync::Engine;

/// Settings of the HTTP server.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Whether cookies get the `Secure` attribute (set when Trove is served over HTTPS).
    pub secure_cookies: bool,
    /// How long one request may take before it is answered 408.
    pub request_timeout: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            secure_cookies: false,
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// What handlers share: the store, the repository source and sync engine, settings and the metrics
/// registry.
#[derive(Clone)]
pub struct AppState {
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
}
