//! The browser side of GitHub: the App's install page (which sends the user to the App's Setup
//! URL), the OAuth authorize page, and the OAuth code exchange.
//!
//! There are no sessions: the pages list the known users and installations as links, and picking
//! one plays what GitHub would do after the user clicked through. Tests skip the pages and use
//! [`FakeGitHub::authorize`](super::FakeGitHub::authorize) and
//! [`FakeGitHub::install`](super::FakeGitHub::install).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::header::{ACCEPT, CONTENT_TYPE, LOCATION};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{TimeDelta, Utc};
use serde_json::json;

use super::state::{Grant, OAuthCode, Shared, Token, random_text};

/// OAuth codes expire after ten minutes, as GitHub's do.
const CODE_LIFETIME: TimeDelta = TimeDelta::minutes(10);
/// User-to-server tokens expire after eight hours (GitHub's default for Apps).
const USER_TOKEN_LIFETIME: TimeDelta = TimeDelta::hours(8);

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/apps/{slug}/installations/new", get(install_page))
        .route("/login/oauth/authorize", get(authorize_page))
        .route("/login/oauth/access_token", post(exchange_code))
}

fn url_encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn page(title: &str, body: &str) -> Response {
    Html(format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{t}</title></head>\
         <body><h1>{t}</h1>{body}</body></html>",
        t = escape(title)
    ))
    .into_response()
}

fn redirect(location: &str) -> Response {
    (StatusCode::FOUND, [(LOCATION, location.to_owned())]).into_response()
}

/// Issues a single-use OAuth code for `user`.
pub(crate) fn issue_code(shared: &Shared, user: u64, redirect_uri: Option<String>) -> String {
    let code = random_text(20).to_lowercase();
    shared.world().codes.insert(
        code.clone(),
        OAuthCode {
            user,
            expires_at: Utc::now() + CODE_LIFETIME,
            redirect_uri,
        },
    );
    code
}

/// The Setup URL redirect GitHub sends `user` to after installing, with a fresh OAuth code (the
/// App requests user authorization during installation).
pub(crate) fn setup_redirect(
    shared: &Shared,
    setup_url: &str,
    user: u64,
    state: &str,
    installation: u64,
) -> String {
    let code = issue_code(shared, user, None);
    let sep = if setup_url.contains('?') { '&' } else { '?' };
    format!(
        "{setup_url}{sep}installation_id={installation}&setup_action=install&state={}&code={code}",
        url_encode(state)
    )
}

/// `GET /apps/{slug}/installations/new?state=…`: a list of "install as <user> on <account>"
/// links; following one (`&login=…&installation_id=…`) redirects to the Setup URL.
async fn install_page(
    State(shared): State<Arc<Shared>>,
    Path(slug): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if slug != shared.app.slug {
        return (StatusCode::NOT_FOUND, "No such App").into_response();
    }
    let state = query.get("state").cloned().unwrap_or_default();
    let Some(setup_url) = shared.world().setup_url.clone() else {
        return (
            StatusCode::BAD_REQUEST,
            "The App has no Setup URL (set it with --setup-url or FakeGitHub::set_setup_url)",
        )
            .into_response();
    };
    let chosen = query.get("login").zip(query.get("installation_id"));
    if let Some((login, installation)) = chosen {
        let user = shared.world().account_by_login(login).map(|a| a.id);
        let (Some(user), Ok(installation)) = (user, installation.parse::<u64>()) else {
            return (StatusCode::NOT_FOUND, "Unknown user or installation").into_response();
        };
        return redirect(&setup_redirect(
            &shared,
            &setup_url,
            user,
            &state,
            installation,
        ));
    }
    let world = shared.world();
    let mut links = String::new();
    for inst in world.installations.values() {
        let account = &world.accounts[&inst.account].login;
        for user in &inst.users {
            let login = &world.accounts[user].login;
            let href = format!(
                "/apps/{slug}/installations/new?state={}&login={}&installation_id={}",
                url_encode(&state),
                url_encode(login),
                inst.id
            );
            let _ = write!(
                links,
                "<li><a href=\"{}\">Install as {} on {} (installation {})</a></li>",
                escape(&href),
                escape(login),
                escape(account),
                inst.id
            );
        }
    }
    if links.is_empty() {
        links.push_str("<li>No installations yet: add one through /_fake/installations.</li>");
    }
    page(
        &format!("Install {}", shared.app.name),
        &format!("<ul>{links}</ul>"),
    )
}

/// `GET /login/oauth/authorize?client_id=…&state=…&redirect_uri=…`: a list of "continue as"
/// links; following one (`&login=…`) redirects with `code` and `state`.
async fn authorize_page(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if query.get("client_id") != Some(&shared.app.client_id) {
        return (StatusCode::NOT_FOUND, "Unknown client_id").into_response();
    }
    let state = query.get("state").cloned().unwrap_or_default();
    let redirect_uri = query
        .get("redirect_uri")
        .cloned()
        .or_else(|| shared.world().setup_url.clone());
    let Some(target) = redirect_uri.clone() else {
        return (StatusCode::BAD_REQUEST, "No redirect_uri and no Setup URL").into_response();
    };
    if let Some(login) = query.get("login") {
        let Some(user) = shared.world().account_by_login(login).map(|a| a.id) else {
            return (StatusCode::NOT_FOUND, "Unknown user").into_response();
        };
        let code = issue_code(&shared, user, query.get("redirect_uri").cloned());
        let sep = if target.contains('?') { '&' } else { '?' };
        return redirect(&format!(
            "{target}{sep}code={code}&state={}",
            url_encode(&state)
        ));
    }
    let world = shared.world();
    let mut links = String::new();
    for account in world.accounts.values() {
        let mut href = format!(
            "/login/oauth/authorize?client_id={}&state={}&login={}",
            url_encode(&shared.app.client_id),
            url_encode(&state),
            url_encode(&account.login)
        );
        if let Some(uri) = query.get("redirect_uri") {
            let _ = write!(href, "&redirect_uri={}", url_encode(uri));
        }
        let _ = write!(
            links,
            "<li><a href=\"{}\">Continue as {}</a></li>",
            escape(&href),
            escape(&account.login)
        );
    }
    page(
        &format!("Authorize {}", shared.app.name),
        &format!("<ul>{links}</ul>"),
    )
}

/// `POST /login/oauth/access_token` with `client_id`, `client_secret`, `code` (form, JSON or query
/// string). Failures are 200 with an `error` field, as GitHub answers them.
async fn exchange_code(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let is_json = |name| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("json"))
    };
    let mut params = query;
    if is_json(CONTENT_TYPE) {
        if let Ok(serde_json::Value::Object(map)) = serde_json::from_slice(&body) {
            for (key, value) in map {
                if let Some(text) = value.as_str() {
                    params.insert(key, text.to_owned());
                }
            }
        }
    } else {
        params.extend(url::form_urlencoded::parse(&body).into_owned());
    }
    let answer = redeem(&shared, &params);
    if is_json(ACCEPT) {
        return Json(answer).into_response();
    }
    // Without `Accept: application/json` GitHub answers form-encoded.
    let form: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(answer.as_object().into_iter().flatten().map(|(k, v)| {
            (
                k.clone(),
                v.as_str().map_or_else(|| v.to_string(), str::to_owned),
            )
        }))
        .finish();
    (
        [(
            CONTENT_TYPE,
            "application/x-www-form-urlencoded; charset=utf-8",
        )],
        form,
    )
        .into_response()
}

fn redeem(shared: &Shared, params: &HashMap<String, String>) -> serde_json::Value {
    let oauth_error = |error: &str, description: &str| {
        json!({
            "error": error,
            "error_description": description,
            "error_uri": "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors",
        })
    };
    let param = |name: &str| params.get(name).map(String::as_str);
    if param("client_id") != Some(shared.app.client_id.as_str())
        || param("client_secret") != Some(shared.app.client_secret.as_str())
    {
        return oauth_error(
            "incorrect_client_credentials",
            "The client_id and/or client_secret passed are incorrect.",
        );
    }
    let mut world = shared.world();
    // Taking the code out makes it single-use whatever happens next.
    let code = param("code").and_then(|c| world.codes.remove(c));
    let Some(code) = code.filter(|c| c.expires_at > Utc::now()) else {
        return oauth_error(
            "bad_verification_code",
            "The code passed is incorrect or expired.",
        );
    };
    if let (Some(expected), Some(given)) = (&code.redirect_uri, param("redirect_uri"))
        && expected != given
    {
        return oauth_error(
            "redirect_uri_mismatch",
            "The redirect_uri MUST match the registered callback URL for this application.",
        );
    }
    let token = format!("ghu_{}", random_text(36));
    world.tokens.insert(
        token.clone(),
        Token {
            grant: Grant::User(code.user),
            expires_at: Utc::now() + USER_TOKEN_LIFETIME,
        },
    );
    json!({
        "access_token": token,
        "expires_in": USER_TOKEN_LIFETIME.num_seconds(),
        "token_type": "bearer",
        "scope": "",
    })
}
