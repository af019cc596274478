//! API routes about the App, its installations, users and repositories (everything but git data).

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::header::LOCATION;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Utc;
use serde_json::json;

use super::auth::{Caller, not_for_integration};
use super::http::{PageQuery, gh_error, not_found};
use super::state::{Grant, RepoLookup, Shared, Token, random_text};
use super::views;

/// How long an installation token lives (GitHub: one hour).
const INSTALLATION_TOKEN_LIFETIME: chrono::TimeDelta = chrono::TimeDelta::hours(1);

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/app", get(get_app))
        .route("/app/installations", get(list_app_installations))
        .route("/app/installations/{id}", get(get_installation))
        .route(
            "/app/installations/{id}/access_tokens",
            post(create_access_token),
        )
        .route(
            "/installation/repositories",
            get(list_installation_repositories),
        )
        .route("/user", get(get_user))
        .route("/user/installations", get(list_user_installations))
        .route("/repos/{owner}/{repo}", get(get_repo))
}

type Answer = Result<Response, Response>;

async fn get_app(State(shared): State<Arc<Shared>>, caller: Caller) -> Answer {
    caller.require_app()?;
    let world = shared.world();
    Ok(Json(views::app(&shared, &world)).into_response())
}

async fn list_app_installations(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Query(page): Query<PageQuery>,
) -> Answer {
    caller.require_app()?;
    let world = shared.world();
    let all = world
        .installations
        .values()
        .map(|i| views::installation(&shared, &world, i))
        .collect();
    let (items, links) = page.apply(all, &shared.base_url, "/app/installations");
    Ok((links, Json(items)).into_response())
}

async fn get_installation(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path(id): Path<u64>,
) -> Answer {
    caller.require_app()?;
    let world = shared.world();
    let inst = world.installations.get(&id).ok_or_else(not_found)?;
    Ok(Json(views::installation(&shared, &world, inst)).into_response())
}

async fn create_access_token(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path(id): Path<u64>,
) -> Answer {
    caller.require_app()?;
    let mut world = shared.world();
    let inst = world.installations.get(&id).ok_or_else(not_found)?;
    if inst.suspended_at.is_some() {
        return Err(gh_error(
            StatusCode::FORBIDDEN,
            "This installation has been suspended",
        ));
    }
    let token = format!("ghs_{}", random_text(36));
    let expires_at = Utc::now() + INSTALLATION_TOKEN_LIFETIME;
    world.tokens.insert(
        token.clone(),
        Token {
            grant: Grant::Installation(id),
            expires_at,
        },
    );
    world.tokens_minted += 1;
    let body = json!({
        "token": token,
        "expires_at": views::timestamp(expires_at),
        "permissions": {"contents": "read", "metadata": "read"},
        "repository_selection": "selected",
    });
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

async fn list_installation_repositories(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Query(page): Query<PageQuery>,
) -> Answer {
    let Grant::Installation(id) = caller.require_token()? else {
        return Err(not_for_integration());
    };
    let world = shared.world();
    let inst = world.installations.get(&id).ok_or_else(not_found)?;
    let all: Vec<_> = inst
        .repos
        .iter()
        .filter_map(|r| world.repos.get(r))
        .map(|r| views::repository(&shared.base_url, &world, r))
        .collect();
    let total = all.len();
    let (items, links) = page.apply(all, &shared.base_url, "/installation/repositories");
    let body = json!({
        "total_count": total,
        "repository_selection": "selected",
        "repositories": items,
    });
    Ok((links, Json(body)).into_response())
}

async fn get_user(State(shared): State<Arc<Shared>>, caller: Caller) -> Answer {
    let Grant::User(user) = caller.require_token()? else {
        return Err(not_for_integration());
    };
    let world = shared.world();
    let account = world.accounts.get(&user).ok_or_else(not_found)?;
    let mut body = views::account(&shared.base_url, account);
    body["name"] = json!(account.login);
    Ok(Json(body).into_response())
}

async fn list_user_installations(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Query(page): Query<PageQuery>,
) -> Answer {
    let Grant::User(user) = caller.require_token()? else {
        return Err(not_for_integration());
    };
    let world = shared.world();
    let all: Vec<_> = world
        .installations
        .values()
        .filter(|i| i.users.contains(&user))
        .map(|i| views::installation(&shared, &world, i))
        .collect();
    let total = all.len();
    let (items, links) = page.apply(all, &shared.base_url, "/user/installations");
    let body = json!({"total_count": total, "installations": items});
    Ok((links, Json(body)).into_response())
}

async fn get_repo(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path((owner, name)): Path<(String, String)>,
    uri: Uri,
) -> Answer {
    let handle = open_repo(&shared, caller, &owner, &name, &uri)?;
    let world = shared.world();
    let repo = world.repos.get(&handle.id).ok_or_else(not_found)?;
    Ok(Json(views::repository(&shared.base_url, &world, repo)).into_response())
}

/// A repository the caller may read, opened for git access.
pub(crate) struct RepoHandle {
    pub id: u64,
    pub full_name: String,
    pub default_branch: String,
    pub git: gix::Repository,
}

/// Resolves `owner/name` for `caller`: 404 for unknown repositories and for those the credential
/// cannot see (GitHub never confirms a private repository exists), 301 to `/repositories/{id}/…`
/// for an old name, as GitHub redirects renamed repositories.
pub(crate) fn open_repo(
    shared: &Shared,
    caller: Caller,
    owner: &str,
    name: &str,
    uri: &Uri,
) -> Result<RepoHandle, Response> {
    let grant = match caller {
        Caller::Anonymous => return Err(not_found()),
        other => other.require_token()?,
    };
    let world = shared.world();
    let id = match world.lookup_repo(owner, name) {
        RepoLookup::Found(id) => id,
        RepoLookup::Moved(id) => {
            let prefix = format!("/repos/{owner}/{name}");
            let rest = uri.path().get(prefix.len()..).unwrap_or_default();
            let query = uri.query().map(|q| format!("?{q}")).unwrap_or_default();
            let location = format!("{}/repositories/{id}{rest}{query}", shared.base_url);
            let body = json!({
                "message": "Moved Permanently",
                "url": location,
                "documentation_url": "https://docs.github.com/rest",
            });
            return Err((
                StatusCode::MOVED_PERMANENTLY,
                [(LOCATION, location)],
                Json(body),
            )
                .into_response());
        }
        RepoLookup::Missing => return Err(not_found()),
    };
    if !world.grant_sees_repo(grant, id) {
        return Err(not_found());
    }
    let repo = &world.repos[&id];
    Ok(RepoHandle {
        id,
        full_name: world.full_name(repo),
        default_branch: repo.default_branch.clone(),
        git: repo.git.to_thread_local(),
    })
}
