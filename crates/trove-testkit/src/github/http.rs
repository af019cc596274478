//! What every answer goes through, in front of the routes: the request log, the `fail_next`
//! switch, the primary rate limit with its `x-ratelimit-*` headers, `ETag`/`If-None-Match`, and
//! the `/repositories/{id}/…` form of repository URLs. Also GitHub's error body and pagination.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::{ETAG, IF_NONE_MATCH, LINK, VARY};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::RecordedRequest;
use super::state::{Shared, random_text};

/// GitHub's error body: `{"message", "documentation_url", "status"}`.
///
/// This is deliberately not Trove's `AppError`: the fake must answer exactly as GitHub does.
pub(crate) fn gh_error(status: StatusCode, message: &str) -> Response {
    let body = json!({
        "message": message,
        "documentation_url": "https://docs.github.com/rest",
        "status": status.as_u16().to_string(),
    });
    (status, Json(body)).into_response()
}

pub(crate) fn not_found() -> Response {
    gh_error(StatusCode::NOT_FOUND, "Not Found")
}

/// Paths served like `api.github.com`; the rest are web pages, downloads and control.
fn is_api(path: &str) -> bool {
    !["/apps/", "/login/", "/_codeload/", "/_fake/"]
        .iter()
        .any(|p| path.starts_with(p))
}

/// The middleware in front of every route (see the module doc).
pub(crate) async fn gate(
    State(shared): State<Arc<Shared>>,
    mut request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path().to_owned();
    if path.starts_with("/_fake/") {
        return next.run(request).await;
    }
    let method = request.method().clone();
    let target = request
        .uri()
        .path_and_query()
        .map_or_else(|| path.clone(), ToString::to_string);
    let api = is_api(&path);

    let failure = shared.world().take_failure(&target);
    let charged = api && failure.is_none();
    let mut response = if let Some(status) = failure {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        gh_error(status, status.canonical_reason().unwrap_or("Server Error"))
    } else if charged && shared.world().charge_rate_limit().is_err() {
        gh_error(
            StatusCode::FORBIDDEN,
            "API rate limit exceeded for installation. If you reach out to GitHub Support for \
             help, please include the request ID.",
        )
    } else {
        rewrite_repository_id(&shared, &mut request);
        let if_none_match = request.headers().get(IF_NONE_MATCH).cloned();
        let response = next.run(request).await;
        let response = apply_etag(response, method == Method::GET, if_none_match).await;
        if charged && response.status() == StatusCode::NOT_MODIFIED {
            shared.world().refund_rate_limit();
        }
        response
    };

    let headers = response.headers_mut();
    headers.insert(
        "x-github-request-id",
        HeaderValue::from_str(&random_text(16)).expect("alphanumeric"),
    );
    let mut world = shared.world();
    if api {
        let (limit, remaining, reset, used) = world.rate_headers();
        for (name, value) in [
            ("x-ratelimit-limit", limit.to_string()),
            ("x-ratelimit-remaining", remaining.to_string()),
            ("x-ratelimit-reset", reset.to_string()),
            ("x-ratelimit-used", used.to_string()),
            ("x-ratelimit-resource", "core".to_owned()),
        ] {
            headers.insert(name, HeaderValue::from_str(&value).expect("ASCII"));
        }
    }
    world.requests.push(RecordedRequest {
        method: method.to_string(),
        path: target,
        status: response.status().as_u16(),
        not_modified: response.status() == StatusCode::NOT_MODIFIED,
    });
    response
}

/// GitHub serves every repository also as `/repositories/{id}/…` (where renames redirect to);
/// routing knows only `/repos/{owner}/{name}/…`, so rewrite before routing.
fn rewrite_repository_id(shared: &Shared, request: &mut Request) {
    let Some(rest) = request.uri().path().strip_prefix("/repositories/") else {
        return;
    };
    let (id, tail) = rest
        .split_once('/')
        .map_or((rest, ""), |(id, tail)| (id, tail));
    let Ok(id) = id.parse::<u64>() else { return };
    let world = shared.world();
    let Some(repo) = world.repos.get(&id) else {
        return;
    };
    let mut rewritten = format!("/repos/{}", world.full_name(repo));
    if !tail.is_empty() {
        rewritten.push('/');
        rewritten.push_str(tail);
    }
    if let Some(query) = request.uri().query() {
        rewritten.push('?');
        rewritten.push_str(query);
    }
    if let Ok(uri) = rewritten.parse::<Uri>() {
        *request.uri_mut() = uri;
    }
}

/// Adds a weak `ETag` (SHA-256 of the body) to a successful GET and turns it into an empty
/// `304 Not Modified` when the request's `If-None-Match` names it.
async fn apply_etag(
    response: Response,
    is_get: bool,
    if_none_match: Option<HeaderValue>,
) -> Response {
    if !is_get || response.status() != StatusCode::OK {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return gh_error(StatusCode::INTERNAL_SERVER_ERROR, "Server Error");
    };
    let tag = format!("W/\"{}\"", hex::encode(Sha256::digest(&bytes)));
    parts
        .headers
        .insert(ETAG, HeaderValue::from_str(&tag).expect("ASCII"));
    parts.headers.insert(
        VARY,
        HeaderValue::from_static("Accept, Authorization, Cookie"),
    );
    let matches = if_none_match
        .as_ref()
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .map(|t| t.trim().trim_start_matches("W/"))
                .any(|t| t == "*" || t == tag.trim_start_matches("W/"))
        });
    if matches {
        parts.status = StatusCode::NOT_MODIFIED;
        parts.headers.remove(axum::http::header::CONTENT_TYPE);
        parts.headers.remove(axum::http::header::CONTENT_LENGTH);
        return Response::from_parts(parts, Body::empty());
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// `per_page` (1–100, default 30) and `page` (from 1), as GitHub's list endpoints take them.
#[derive(Deserialize)]
pub(crate) struct PageQuery {
    per_page: Option<usize>,
    page: Option<usize>,
}

impl PageQuery {
    /// The items of the requested page and the `Link` header (`first`/`prev`/`next`/`last`)
    /// pointing at `{base}{path}`.
    pub(crate) fn apply<T>(&self, items: Vec<T>, base: &str, path: &str) -> (Vec<T>, HeaderMap) {
        let per_page = self.per_page.unwrap_or(30).clamp(1, 100);
        let page = self.page.unwrap_or(1).max(1);
        let last = items.len().div_ceil(per_page).max(1);
        let link = |n: usize, rel: &str| {
            format!("<{base}{path}?per_page={per_page}&page={n}>; rel=\"{rel}\"")
        };
        let mut links = Vec::new();
        if page > 1 {
            links.push(link(page - 1, "prev"));
        }
        if page < last {
            links.push(link(page + 1, "next"));
            links.push(link(last, "last"));
        }
        if page > 1 {
            links.push(link(1, "first"));
        }
        let mut headers = HeaderMap::new();
        if !links.is_empty() {
            headers.insert(
                LINK,
                HeaderValue::from_str(&links.join(", ")).expect("ASCII link"),
            );
        }
        let slice = items
            .into_iter()
            .skip((page - 1) * per_page)
            .take(per_page)
            .collect();
        (slice, headers)
    }
}
