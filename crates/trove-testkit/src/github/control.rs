//! `/_fake/…`: JSON control routes for driving a running fake by hand (the `fake-github`
//! binary), mirroring [`FakeGitHub`](super::FakeGitHub)'s methods. They are not part of GitHub,
//! need no credentials, are not rate limited and are not recorded.
//!
//! Every change runs on a blocking thread; a misuse that would panic in a test (an unknown
//! repository, say) answers 400 `{"error": …}` instead.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::deliveries::{delivery_id, post_delivery, push_payload};
use super::state::{FailRule, Shared};

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/_fake/state", get(show_state))
        .route("/_fake/requests", get(show_requests))
        .route("/_fake/users", post(add_user))
        .route("/_fake/installations", post(add_installation))
        .route("/_fake/repos", post(add_repo))
        .route("/_fake/commit", post(commit))
        .route("/_fake/delete-branch", post(delete_branch))
        .route("/_fake/rename", post(rename))
        .route("/_fake/suspend", post(suspend))
        .route("/_fake/switches", post(switches))
        .route("/_fake/authorize", post(authorize))
        .route("/_fake/install", post(install))
        .route("/_fake/push", post(push))
        .route("/_fake/deliver", post(deliver))
}

fn bad_request(message: impl Into<String>) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"error": message.into()})),
    )
        .into_response()
}

/// Runs `op` on a blocking thread (it may run `git`), turning a panic into a 400.
async fn run<T: Send + 'static>(op: impl FnOnce() -> T + Send + 'static) -> Result<T, Response> {
    tokio::task::spawn_blocking(op).await.map_err(|e| {
        let panic = e.into_panic();
        let message = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_else(|| "the operation failed".to_owned());
        bad_request(message)
    })
}

type Answer = Result<Json<Value>, Response>;

async fn show_state(State(shared): State<Arc<Shared>>) -> Json<Value> {
    let world = shared.world();
    let login = |id: &u64| world.accounts[id].login.clone();
    let installations: Vec<Value> = world
        .installations
        .values()
        .map(|i| {
            json!({
                "id": i.id,
                "account": login(&i.account),
                "type": world.accounts[&i.account].kind.as_str(),
                "users": i.users.iter().map(login).collect::<Vec<_>>(),
                "repositories": i.repos.iter().map(|r| world.full_name(&world.repos[r])).collect::<Vec<_>>(),
                "suspended": i.suspended_at.is_some(),
            })
        })
        .collect();
    let repos: Vec<Value> = world
        .repos
        .values()
        .map(|r| {
            json!({
                "id": r.id,
                "full_name": world.full_name(r),
                "path": r.git_dir,
                "default_branch": r.default_branch,
                "installation": world.installation_of(r.id),
            })
        })
        .collect();
    Json(json!({
        "app": {"id": shared.app.id, "slug": shared.app.slug, "client_id": shared.app.client_id},
        "users": world.accounts.values().filter(|a| a.kind == super::state::AccountKind::User).map(|a| json!({"id": a.id, "login": a.login})).collect::<Vec<_>>(),
        "installations": installations,
        "repositories": repos,
        "setup_url": world.setup_url,
        "webhook_url": world.webhook_url,
        "truncate_trees": world.truncate_trees,
        "tokens_minted": world.tokens_minted,
    }))
}

async fn show_requests(State(shared): State<Arc<Shared>>) -> Json<Value> {
    Json(json!(shared.world().requests))
}

#[derive(Deserialize)]
struct NewUser {
    login: String,
}

async fn add_user(State(shared): State<Arc<Shared>>, Json(body): Json<NewUser>) -> Json<Value> {
    Json(json!({"id": shared.add_user(&body.login)}))
}

#[derive(Deserialize)]
struct NewInstallation {
    account: String,
    #[serde(rename = "type", default = "organization")]
    kind: String,
    #[serde(default)]
    users: Vec<String>,
}

fn organization() -> String {
    "Organization".to_owned()
}

async fn add_installation(
    State(shared): State<Arc<Shared>>,
    Json(body): Json<NewInstallation>,
) -> Answer {
    let id = run(move || {
        let users: Vec<&str> = body.users.iter().map(String::as_str).collect();
        shared.add_installation(&body.account, &body.kind, &users)
    })
    .await?;
    Ok(Json(json!({"id": id})))
}

#[derive(Deserialize)]
struct NewRepo {
    installation: u64,
    full_name: String,
    dir: PathBuf,
}

async fn add_repo(State(shared): State<Arc<Shared>>, Json(body): Json<NewRepo>) -> Answer {
    let repo =
        run(move || shared.create_repo(body.installation, &body.full_name, &body.dir)).await?;
    Ok(Json(
        json!({"id": repo.id, "full_name": repo.full_name, "path": repo.path}),
    ))
}

fn repo_id(shared: &Shared, full_name: &str) -> Result<u64, Response> {
    shared
        .repo_id(full_name)
        .ok_or_else(|| bad_request(format!("no repository {full_name}")))
}

#[derive(Deserialize)]
struct Commit {
    repo: String,
    branch: Option<String>,
    #[serde(default = "default_message")]
    message: String,
    /// Path → new text, or `null` to delete the file.
    files: BTreeMap<String, Option<String>>,
}

fn default_message() -> String {
    "Change from /_fake/commit".to_owned()
}

async fn commit(State(shared): State<Arc<Shared>>, Json(body): Json<Commit>) -> Answer {
    let id = repo_id(&shared, &body.repo)?;
    let (sha, branch, before) = run(move || {
        let branch = body.branch.unwrap_or_else(|| shared.default_branch(id));
        let before = shared.head(id, &branch);
        let changes: Vec<(&str, Option<&[u8]>)> = body
            .files
            .iter()
            .map(|(path, text)| (path.as_str(), text.as_deref().map(str::as_bytes)))
            .collect();
        let sha = shared.commit(id, &branch, &changes, &body.message);
        (sha, branch, before)
    })
    .await?;
    Ok(Json(
        json!({"sha": sha, "branch": branch, "before": before}),
    ))
}

#[derive(Deserialize)]
struct BranchRef {
    repo: String,
    branch: String,
}

async fn delete_branch(State(shared): State<Arc<Shared>>, Json(body): Json<BranchRef>) -> Answer {
    let id = repo_id(&shared, &body.repo)?;
    run(move || shared.delete_branch(id, &body.branch)).await?;
    Ok(Json(json!({"ok": true})))
}

#[derive(Deserialize)]
struct Rename {
    repo: String,
    to: String,
}

async fn rename(State(shared): State<Arc<Shared>>, Json(body): Json<Rename>) -> Answer {
    let id = repo_id(&shared, &body.repo)?;
    let repo = run(move || shared.rename_repo(id, &body.to)).await?;
    Ok(Json(json!({"id": repo.id, "full_name": repo.full_name})))
}

#[derive(Deserialize)]
struct Suspend {
    installation: u64,
    #[serde(default = "yes")]
    suspended: bool,
}

fn yes() -> bool {
    true
}

async fn suspend(State(shared): State<Arc<Shared>>, Json(body): Json<Suspend>) -> Answer {
    run(move || shared.set_suspended(body.installation, body.suspended)).await?;
    Ok(Json(json!({"ok": true})))
}

/// `{"rate_limit": n | null, "truncate_trees": bool, "fail_next": {"path_contains", "count",
/// "status"}, "setup_url": …, "webhook_url": …}`; absent keys are left as they are.
async fn switches(State(shared): State<Arc<Shared>>, Json(body): Json<Value>) -> Answer {
    let mut world = shared.world();
    if let Some(limit) = body.get("rate_limit") {
        let remaining = match limit {
            Value::Null => None,
            n => Some(
                n.as_u64()
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or_else(|| bad_request("rate_limit must be a count or null"))?,
            ),
        };
        world.set_rate_limit(remaining);
    }
    if let Some(on) = body.get("truncate_trees").and_then(Value::as_bool) {
        world.truncate_trees = on;
    }
    if let Some(rule) = body.get("fail_next") {
        let path_contains = rule["path_contains"].as_str().unwrap_or("/").to_owned();
        let count = rule["count"].as_u64().unwrap_or(1) as u32;
        let status = rule["status"].as_u64().unwrap_or(502) as u16;
        world.fail_rules.push(FailRule {
            path_contains,
            remaining: count,
            status,
        });
    }
    if let Some(url) = body.get("setup_url") {
        world.setup_url = url.as_str().map(str::to_owned);
    }
    if let Some(url) = body.get("webhook_url") {
        world.webhook_url = url.as_str().map(str::to_owned);
    }
    Ok(Json(json!({"ok": true})))
}

#[derive(Deserialize)]
struct Authorize {
    login: String,
}

async fn authorize(State(shared): State<Arc<Shared>>, Json(body): Json<Authorize>) -> Answer {
    let code = run(move || shared.authorize(&body.login)).await?;
    Ok(Json(json!({"code": code})))
}

#[derive(Deserialize)]
struct Install {
    login: String,
    state: String,
    installation: u64,
}

async fn install(State(shared): State<Arc<Shared>>, Json(body): Json<Install>) -> Answer {
    let url =
        run(move || shared.install_redirect(&body.login, &body.state, body.installation)).await?;
    Ok(Json(json!({"url": url})))
}

#[derive(Deserialize)]
struct Push {
    repo: String,
    branch: Option<String>,
    before: Option<String>,
    after: Option<String>,
}

/// Sends a signed `push` delivery for a branch to the webhook URL. `after` defaults to the branch
/// head (40 zeros, a deletion, when the branch is gone), `before` to its first parent.
async fn push(State(shared): State<Arc<Shared>>, Json(body): Json<Push>) -> Answer {
    let id = repo_id(&shared, &body.repo)?;
    let payload = run({
        let shared = shared.clone();
        move || {
            let repo = shared.fake_repo(id);
            let branch = body.branch.unwrap_or_else(|| shared.default_branch(id));
            let installation = shared.world().installation_of(id).unwrap_or_default();
            let zero = "0".repeat(40);
            let after = body
                .after
                .or_else(|| shared.head(id, &branch))
                .unwrap_or_else(|| zero.clone());
            let deleted = after == zero;
            let before = body
                .before
                .or_else(|| shared.first_parent(id, &after))
                .unwrap_or_else(|| zero.clone());
            push_payload(
                &repo,
                installation,
                &format!("refs/heads/{branch}"),
                &before,
                &after,
                deleted,
            )
        }
    })
    .await?;
    send(&shared, "push", payload).await
}

#[derive(Deserialize)]
struct Deliver {
    event: String,
    payload: Value,
}

/// Sends any payload, signed, as event `event` to the webhook URL.
async fn deliver(State(shared): State<Arc<Shared>>, Json(body): Json<Deliver>) -> Answer {
    send(&shared, &body.event, body.payload).await
}

async fn send(shared: &Shared, event: &str, payload: Value) -> Answer {
    let url = shared.world().webhook_url.clone().ok_or_else(|| {
        bad_request("no webhook URL (start with --webhook-url or set it in /_fake/switches)")
    })?;
    let id = delivery_id();
    let body = payload.to_string();
    let (status, answer) = post_delivery(
        &url,
        shared.app.webhook_secret.as_bytes(),
        event,
        &id,
        body.as_bytes(),
        Some(shared.app.id),
    )
    .await
    .map_err(bad_request)?;
    Ok(Json(
        json!({"delivery_id": id, "status": status, "response": answer}),
    ))
}
