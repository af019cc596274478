//! A fake GitHub on loopback: a stateful axum server speaking GitHub's REST shapes for the App,
//! installation, user, repository and git-data endpoints Trove uses, plus the OAuth and install
//! pages, backed by real git repositories on disk. Switches simulate rate limits, failing answers
//! and truncated trees; [`deliver`] and [`push_payload`] send signed webhooks as GitHub does.
//!
//! One base URL serves the API at the root (like `api.github.com`) and the web pages (like
//! `github.com`), so Trove's API and web URLs both point at [`FakeGitHub::url`]. `/_fake/…` holds
//! JSON control routes for the `fake-github` binary.
//!
//! ```no_run
//! # async fn demo() {
//! use trove_testkit::github::FakeGitHub;
//! let gh = FakeGitHub::start().await;
//! gh.add_user("alice");
//! let inst = gh.add_installation("acme", "Organization", &["alice"]);
//! let repo = gh.add_repo(inst, "acme/plugins", &[("README.md", b"hello")]);
//! let sha = gh.commit(&repo, "main", &[("README.md", Some(b"hello again"))], "edit");
//! # let _ = sha;
//! # }
//! ```

mod api;
mod auth;
mod control;
mod deliveries;
mod git;
mod git_api;
mod git_write;
mod http;
mod keys;
mod setup;
mod state;
mod views;
mod web;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::{Router, ServiceExt as _};
use chrono::Utc;
use serde::Serialize;
use serde_json::{Value, json};
use tower::Layer;

pub use deliveries::{deliver, delivery_id, push_payload, sign};
use state::{AppIdentity, FailRule, Shared, random_text};

/// The App id every fake registers (the JWT `iss`).
const APP_ID: u64 = 424_242;

/// A repository in the fake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeRepo {
    /// GitHub's numeric repository id (stable across renames).
    pub id: u64,
    /// `owner/name` when this value was taken (see [`FakeGitHub::rename_repo`]).
    pub full_name: String,
    /// The bare git repository on disk (`git --git-dir <path> …` reads it).
    pub path: PathBuf,
    /// The owning account's id.
    pub owner_id: u64,
    /// `"Organization"` or `"User"`.
    pub owner_type: String,
    /// The fake's base URL, for the links in payloads.
    base_url: String,
}

/// One request the fake answered (control routes excluded).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordedRequest {
    /// `GET`, `POST`, …
    pub method: String,
    /// Path and query, as requested (before any rewriting).
    pub path: String,
    /// The status answered.
    pub status: u16,
    /// Answered `304 Not Modified` to a matching `If-None-Match`.
    pub not_modified: bool,
}

/// Where and how a fake runs.
#[derive(Debug, Clone)]
pub struct FakeOptions {
    /// Address to listen on; port 0 picks a free one.
    pub listen: SocketAddr,
    /// Directory for the repositories; a temporary one (removed on drop) when `None`.
    pub data_dir: Option<PathBuf>,
}

impl Default for FakeOptions {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir: None,
        }
    }
}

/// A running fake GitHub. Stops when dropped.
pub struct FakeGitHub {
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    _temp_dir: Option<tempfile::TempDir>,
}

impl Drop for FakeGitHub {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl FakeGitHub {
    /// Starts a fake on `127.0.0.1:0` with a fresh App: id, slug `trove-test`, client id and
    /// secret, webhook secret and RSA-2048 key pair.
    pub async fn start() -> FakeGitHub {
        Self::start_with(FakeOptions::default())
    }

    /// Starts a fake as `options` say. The server runs on its own thread and runtime, so it keeps
    /// answering while the caller blocks (a sync client, a `block_on` in a blob reader).
    pub fn start_with(options: FakeOptions) -> FakeGitHub {
        let listener = std::net::TcpListener::bind(options.listen)
            .unwrap_or_else(|e| panic!("bind {}: {e}", options.listen));
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let base_url = format!("http://{}", listener.local_addr().expect("local address"));
        let (temp_dir, data_dir) = match options.data_dir {
            Some(dir) => (None, dir),
            None => {
                let temp = tempfile::tempdir().expect("fake GitHub data dir");
                let path = temp.path().to_owned();
                (Some(temp), path)
            }
        };
        let app = AppIdentity {
            id: APP_ID,
            slug: "trove-test".to_owned(),
            name: "Trove Test".to_owned(),
            client_id: format!("Iv23li{}", random_text(14)),
            client_secret: hex_secret(),
            webhook_secret: random_text(32),
            key: keys::AppKey::generate(),
            owner: "trove-dev".to_owned(),
        };
        let shared = Arc::new(Shared::new(app, base_url, data_dir));
        let service = axum::middleware::from_fn_with_state(shared.clone(), http::gate).layer(
            Router::new()
                .merge(api::routes())
                .merge(git_api::routes())
                .merge(web::routes())
                .merge(control::routes())
                .fallback(|| async { http::not_found() })
                .with_state(shared.clone()),
        );
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("fake-github".to_owned())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("fake GitHub runtime");
                runtime.block_on(async move {
                    let listener =
                        tokio::net::TcpListener::from_std(listener).expect("tokio listener");
                    let server = axum::serve(listener, service.into_make_service());
                    tokio::select! {
                        _ = server => {}
                        _ = stopped => {}
                    }
                });
                // Open connections are dropped, not drained: a test is over when its fake goes.
                runtime.shutdown_background();
            })
            .expect("spawn the fake GitHub thread");
        FakeGitHub {
            shared,
            stop: Some(stop),
            thread: Some(thread),
            _temp_dir: temp_dir,
        }
    }

    /// The base URL (`http://127.0.0.1:<port>`), for both the API and the web endpoints.
    pub fn url(&self) -> String {
        self.shared.base_url.clone()
    }

    /// The App id (JWT `iss`).
    pub fn app_id(&self) -> u64 {
        self.shared.app.id
    }

    /// The App slug, `trove-test`.
    pub fn app_slug(&self) -> &str {
        &self.shared.app.slug
    }

    /// The App's private key as GitHub hands it out: PKCS#1 PEM (`BEGIN RSA PRIVATE KEY`).
    pub fn private_key_pem(&self) -> String {
        self.shared.app.key.pkcs1_pem()
    }

    /// The same key as PKCS#8 PEM (`BEGIN PRIVATE KEY`).
    pub fn private_key_pem_pkcs8(&self) -> String {
        self.shared.app.key.pkcs8_pem()
    }

    /// The OAuth client id.
    pub fn client_id(&self) -> &str {
        &self.shared.app.client_id
    }

    /// The OAuth client secret.
    pub fn client_secret(&self) -> &str {
        &self.shared.app.client_secret
    }

    /// The webhook secret deliveries are signed with.
    pub fn webhook_secret(&self) -> &str {
        &self.shared.app.webhook_secret
    }

    /// An app JWT as a correct client makes one (`iat` 60 s ago, `exp` in 9 minutes).
    pub fn app_jwt(&self) -> String {
        let now = Utc::now().timestamp();
        self.sign_app_jwt(
            &json!({"iat": now - 60, "exp": now + 540, "iss": self.app_id().to_string()}),
        )
    }

    /// Any claims, RS256-signed with the App's key (for expired or wrong-`iss` tokens).
    pub fn sign_app_jwt(&self, claims: &Value) -> String {
        self.shared.app.key.sign_jwt(claims)
    }

    /// The App's Setup URL (Trove's install callback), where [`install`](Self::install) sends users.
    pub fn set_setup_url(&self, url: &str) {
        self.shared.world().setup_url = Some(url.to_owned());
    }

    /// Where [`send_event`](Self::send_event) and `/_fake/push` deliver webhooks.
    pub fn set_webhook_url(&self, url: &str) {
        self.shared.world().webhook_url = Some(url.to_owned());
    }

    /// Adds a user (idempotent per login) and returns its id.
    pub fn add_user(&self, login: &str) -> u64 {
        self.shared.add_user(login)
    }

    /// Installs the App on `account_login` (`"Organization"` or `"User"`); `users` see the
    /// installation in `GET /user/installations`. Returns the installation id.
    pub fn add_installation(&self, account_login: &str, account_type: &str, users: &[&str]) -> u64 {
        self.shared
            .add_installation(account_login, account_type, users)
    }

    /// Creates `full_name` with one commit on `main` holding `files`, readable by `installation`.
    pub fn add_repo(
        &self,
        installation: u64,
        full_name: &str,
        files: &[(&str, &[u8])],
    ) -> FakeRepo {
        self.shared.add_repo(installation, full_name, files)
    }

    /// Creates `full_name` with one commit on `main` holding a copy of `dir` (executable bits and
    /// symlinks kept, `.gitignore` honoured).
    pub fn repo_from_dir(&self, installation: u64, full_name: &str, dir: &Path) -> FakeRepo {
        self.shared.create_repo(installation, full_name, dir)
    }

    /// Commits on `branch` (created from the default branch when new): each change writes a
    /// file or, with `None`, deletes it. Returns the new commit SHA.
    pub fn commit(
        &self,
        repo: &FakeRepo,
        branch: &str,
        changes: &[(&str, Option<&[u8]>)],
        message: &str,
    ) -> String {
        self.shared.commit(repo.id, branch, changes, message)
    }

    /// The head of `branch`, if it exists.
    pub fn head(&self, repo: &FakeRepo, branch: &str) -> Option<String> {
        self.shared.head(repo.id, branch)
    }

    /// Deletes `branch`.
    pub fn delete_branch(&self, repo: &FakeRepo, branch: &str) {
        self.shared.delete_branch(repo.id, branch);
    }

    /// Renames the repository (a new owner makes it a transfer). The old name answers 301 to
    /// `/repositories/{id}/…`. Returns the repository under its new name.
    pub fn rename_repo(&self, repo: &FakeRepo, new_full_name: &str) -> FakeRepo {
        self.shared.rename_repo(repo.id, new_full_name)
    }

    /// Archives or unarchives the repository (`archived` in its JSON).
    pub fn set_archived(&self, repo: &FakeRepo, archived: bool) {
        self.shared.set_archived(repo.id, archived);
    }

    /// Suspends the installation: no new tokens (403), and its tokens stop working (403).
    pub fn suspend_installation(&self, installation: u64) {
        self.shared.set_suspended(installation, true);
    }

    /// Lifts a suspension.
    pub fn unsuspend_installation(&self, installation: u64) {
        self.shared.set_suspended(installation, false);
    }

    /// Takes the repository away from the installation: its tokens get 404 for it.
    pub fn remove_repo_from_installation(&self, installation: u64, repo: &FakeRepo) {
        self.shared
            .set_repo_in_installation(installation, repo.id, false);
    }

    /// Grants the repository to the installation.
    pub fn add_repo_to_installation(&self, installation: u64, repo: &FakeRepo) {
        self.shared
            .set_repo_in_installation(installation, repo.id, true);
    }

    /// A fresh single-use OAuth code for `login` (what GitHub puts on the redirect).
    pub fn authorize(&self, login: &str) -> String {
        self.shared.authorize(login)
    }

    /// The Setup URL GitHub would send `login` to after installing:
    /// `{setup_url}?installation_id=…&setup_action=install&state=…&code=…`, with a fresh code for
    /// `login`. It does not change who can see the installation, so a URL naming someone else's
    /// installation is exactly what a hijack attempt looks like.
    pub fn install(&self, login: &str, state: &str, installation: u64) -> String {
        self.shared.install_redirect(login, state, installation)
    }

    /// Requests left before answers turn into 403 with `x-ratelimit-remaining: 0` (`None`:
    /// unlimited). The window resets after [`set_rate_limit_window`](Self::set_rate_limit_window)
    /// (60 s by default), and a reset lifts the limit. `304` answers cost nothing.
    pub fn set_rate_limit(&self, remaining: Option<u32>) {
        self.shared.world().set_rate_limit(remaining);
    }

    /// The length of a rate-limit window (`x-ratelimit-reset` is its end), applied from the next
    /// [`set_rate_limit`](Self::set_rate_limit).
    pub fn set_rate_limit_window(&self, window: Duration) {
        self.shared.world().rate.window = window;
    }

    /// The next `count` requests whose path and query contain `path_contains` answer `status`.
    pub fn fail_next(&self, path_contains: &str, count: u32, status: u16) {
        self.shared.world().fail_rules.push(FailRule {
            path_contains: path_contains.to_owned(),
            remaining: count,
            status,
        });
    }

    /// Drops every pending [`fail_next`](Self::fail_next) rule: GitHub answers normally again.
    pub fn clear_failures(&self) {
        self.shared.world().fail_rules.clear();
    }

    /// Recursive tree answers come back `truncated: true` with half of their entries.
    pub fn set_truncate_trees(&self, on: bool) {
        self.shared.world().truncate_trees = on;
    }

    /// Every request answered so far (control routes excluded), oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.world().requests.clone()
    }

    /// Forgets the recorded requests (to measure one phase of a test).
    pub fn clear_requests(&self) {
        self.shared.world().requests.clear();
    }

    /// Installation tokens minted so far.
    pub fn tokens_minted(&self) -> u32 {
        self.shared.world().tokens_minted
    }

    /// Makes every issued token expire now (the next use is a 401), to test refreshing.
    pub fn expire_tokens(&self) {
        let now = Utc::now();
        for token in self.shared.world().tokens.values_mut() {
            token.expires_at = now;
        }
    }
}

/// 40 hex digits, the shape of a GitHub OAuth client secret.
fn hex_secret() -> String {
    let mut bytes = [0u8; 20];
    aws_lc_rs::rand::fill(&mut bytes).expect("system randomness");
    hex::encode(bytes)
}
