//! A real Trove API server on a loopback port, over a test database, and a small JSON client for it.

use std::sync::Arc;

use reqwest::{Method, StatusCode};
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use trove_server::{
    AppShared, AppState, IngestOptions, ServerConfig, WebhookIngest, WebhookSecret,
};
use trove_store::Store;

/// A running server. Stopped when dropped.
pub struct TestServer {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// A client without cookies.
    pub client: reqwest::Client,
    shutdown: CancellationToken,
    /// The git cache of the server's source (removed when the server is dropped).
    _git_cache: tempfile::TempDir,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// A response: status and JSON body (`Value::Null` when the body is not JSON).
#[derive(Debug)]
pub struct Reply {
    /// The status code.
    pub status: StatusCode,
    /// The parsed body.
    pub body: Value,
    /// The response headers.
    pub headers: reqwest::header::HeaderMap,
}

impl Reply {
    /// `body["error"]` as text.
    pub fn error(&self) -> &str {
        self.body["error"].as_str().unwrap_or_default()
    }
}

/// The webhook secret of a [`TestServer::start`]ed server (sign test deliveries with it).
pub const WEBHOOK_SECRET: &str = "trove-test-webhook-secret";

impl TestServer {
    /// Starts a server over `store`, with [`WEBHOOK_SECRET`] as its webhook secret.
    pub async fn start(store: Store) -> Self {
        Self::start_with(store, Self::test_config()).await
    }

    /// Starts a server over `store` with `config`.
    pub async fn start_with(store: Store, config: ServerConfig) -> Self {
        Self::launch(store, config, None).await
    }

    /// Starts a server over `store` (webhook secret [`WEBHOOK_SECRET`]) with `app` as its GitHub
    /// App: the GitHub routes work, and GitHub targets are read through the App's REST API.
    pub async fn start_with_github(store: Store, app: trove_sources::GitHubApp) -> Self {
        Self::launch(store, Self::test_config(), Some(app)).await
    }

    fn test_config() -> ServerConfig {
        ServerConfig {
            webhook_secret: WebhookSecret::new(WEBHOOK_SECRET),
            ..ServerConfig::default()
        }
    }

    async fn launch(
        store: Store,
        config: ServerConfig,
        github: Option<trove_sources::GitHubApp>,
    ) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let base = format!("http://{}", listener.local_addr().expect("local addr"));
        let git_cache = tempfile::tempdir().expect("git cache dir");
        let git: Arc<dyn trove_sources::RepositorySource> = Arc::new(
            trove_sources::GitSource::new(git_cache.path(), trove_sources::GitLimits::default()),
        );
        let github_source = github.clone().map(|app| {
            Arc::new(trove_sources::GitHubSource::new(app))
                as Arc<dyn trove_sources::RepositorySource>
        });
        let sources: Arc<dyn trove_sources::RepositorySource> =
            Arc::new(trove_sources::SourceRouter::new(git, github_source));
        let state = AppState::new(AppShared {
            engine: Arc::new(trove_sync::Engine::new(store.clone(), sources.clone())),
            sources,
            webhooks: WebhookIngest::start(store.clone(), IngestOptions::default()),
            store,
            config: Arc::new(config),
            metrics: trove_server::metrics::handle(),
            github,
        });
        let shutdown = CancellationToken::new();
        let stop = shutdown.clone();
        tokio::spawn(async move {
            let _ = trove_server::serve(listener, state, stop).await;
        });
        Self {
            base,
            client: reqwest::Client::new(),
            shutdown,
            _git_cache: git_cache,
        }
    }

    /// Sends a request with an optional bearer token and JSON body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        Self::reply(req.send().await.expect("request sent")).await
    }

    /// Sends raw bytes as a JSON body.
    pub async fn call_raw(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Vec<u8>,
    ) -> Reply {
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body);
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        Self::reply(req.send().await.expect("request sent")).await
    }

    /// Turns a response into a [`Reply`].
    pub async fn reply(response: reqwest::Response) -> Reply {
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.unwrap_or_default();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply {
            status,
            body,
            headers,
        }
    }

    /// GET with a token.
    pub async fn get(&self, path: &str, token: &str) -> Reply {
        self.call(Method::GET, path, Some(token), None).await
    }

    /// POST JSON with a token.
    pub async fn post(&self, path: &str, token: &str, body: Value) -> Reply {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    /// PATCH JSON with a token.
    pub async fn patch(&self, path: &str, token: &str, body: Value) -> Reply {
        self.call(Method::PATCH, path, Some(token), Some(body))
            .await
    }

    /// DELETE with a token.
    pub async fn delete(&self, path: &str, token: &str) -> Reply {
        self.call(Method::DELETE, path, Some(token), None).await
    }
}

/// An org with its owner's token, made through the store (as `trove admin bootstrap` does).
pub struct TestOrg {
    /// The org's slug.
    pub slug: String,
    /// The org's id.
    pub id: String,
    /// The owner's API token.
    pub owner_token: String,
}

/// Bootstraps an org `slug` owned by `email`.
pub async fn bootstrap(store: &Store, slug: &str, email: &str) -> TestOrg {
    let (org, _, token) = store
        .bootstrap(slug, email, Some("correct horse battery"))
        .await
        .expect("bootstrap");
    TestOrg {
        slug: org.slug,
        id: org.id.to_string(),
        owner_token: token,
    }
}
