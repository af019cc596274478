//! The state shared by every handler.

use std::sync::Arc;
use std::time::Duration;

use metrics_exporter_prometheus::PrometheusHandle;
use trove_store::Store;

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

/// What handlers share: the store, settings and the metrics registry.
#[derive(Clone)]
pub struct AppState {
    /// The store.
    pub store: Store,
    /// Server settings.
    pub config: Arc<ServerConfig>,
    /// Renders `/metrics`.
    pub metrics: PrometheusHandle,
}
