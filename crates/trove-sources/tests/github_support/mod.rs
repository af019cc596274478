//! A scriptable GitHub stand-in for the GitHub client tests: every request is recorded and
//! answered by a closure the test supplies, on a real socket on 127.0.0.1.

#![allow(dead_code)]

pub mod keys;
pub mod repo;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use trove_sources::{GitHubApp, GitHubConfig, GitHubLimits};

pub const APP_ID: u64 = 4242;
pub const CLIENT_ID: &str = "Iv1.testclient";
pub const CLIENT_SECRET: &str = "client-secret-value-0123456789";

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct Req {
    pub method: Method,
    pub path: String,
    pub query: String,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Req {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The bearer credential, if any.
    pub fn bearer(&self) -> Option<&str> {
        self.header("authorization")?.strip_prefix("Bearer ")
    }

    /// A query parameter.
    pub fn param(&self, name: &str) -> Option<String> {
        url::form_urlencoded::parse(self.query.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }
}

type Handler = dyn Fn(&Req) -> Response + Send + Sync;

/// The running fake. Stops when dropped.
pub struct Fake {
    pub url: String,
    log: Arc<Mutex<Vec<Req>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Fake {
    /// Serves `handler` on a fresh loopback port.
    pub async fn start(handler: impl Fn(&Req) -> Response + Send + Sync + 'static) -> Fake {
        let handler: Arc<Handler> = Arc::new(handler);
        let log = Arc::new(Mutex::new(Vec::new()));
        let state = (handler, log.clone());
        let router = axum::Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let (handler, log) = state.clone();
                async move {
                    let req = Req {
                        method,
                        path: uri.path().to_owned(),
                        query: uri.query().unwrap_or_default().to_owned(),
                        headers,
                        body: body.to_vec(),
                    };
                    log.lock().unwrap().push(req.clone());
                    handler(&req)
                }
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        Fake { url, log, task }
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Req> {
        self.log.lock().unwrap().clone()
    }

    /// Requests whose path starts with `prefix`.
    pub fn count(&self, method: &str, prefix: &str) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.method.as_str() == method && r.path.starts_with(prefix))
            .count()
    }
}

/// A JSON answer.
pub fn json(status: u16, value: serde_json::Value) -> Response {
    (
        StatusCode::from_u16(status).unwrap(),
        [("content-type", "application/json")],
        value.to_string(),
    )
        .into_response()
}

/// A bare answer with headers.
pub fn answer(status: u16, headers: &[(&str, String)], body: impl Into<Body>) -> Response {
    let mut response = Response::new(body.into());
    *response.status_mut() = StatusCode::from_u16(status).unwrap();
    for (name, value) in headers {
        response.headers_mut().insert(
            axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    response
}

/// Now in unix seconds.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// An RFC 3339 timestamp `secs` from now.
pub fn rfc3339_in(secs: i64) -> String {
    chrono::DateTime::from_timestamp(now() + secs, 0)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The App configuration for a fake at `url`.
pub fn config(url: &str) -> GitHubConfig {
    GitHubConfig {
        api_url: url.to_owned(),
        web_url: url.to_owned(),
        app_id: APP_ID,
        private_key_pem: keys::keys().pkcs1_pem.clone(),
        client_id: Some(CLIENT_ID.to_owned()),
        client_secret: Some(CLIENT_SECRET.to_owned()),
    }
}

/// Limits that keep retry tests quick.
pub fn fast_limits() -> GitHubLimits {
    GitHubLimits {
        backoff: Duration::from_millis(1),
        ..GitHubLimits::default()
    }
}

/// A client for the fake at `url`.
pub fn app(url: &str) -> GitHubApp {
    GitHubApp::with_limits(config(url), fast_limits()).unwrap()
}

/// Answers `POST /app/installations/{id}/access_tokens` (after checking the app JWT) with a
/// token named after the installation and a counter, valid for `valid_secs`; `None` for other
/// requests.
pub fn mint_tokens(
    req: &Req,
    counter: &std::sync::atomic::AtomicU64,
    valid_secs: i64,
) -> Option<Response> {
    let rest = req.path.strip_prefix("/app/installations/")?;
    let id = rest.strip_suffix("/access_tokens")?;
    if req.method != Method::POST {
        return None;
    }
    if keys::check_app_jwt(req).is_err() {
        return Some(json(401, serde_json::json!({"message": "Bad credentials"})));
    }
    let n = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
    Some(json(
        201,
        serde_json::json!({
            "token": format!("ghs_inst{id}_{n}"),
            "expires_at": rfc3339_in(valid_secs),
            "permissions": {"contents": "read", "metadata": "read"},
        }),
    ))
}
