//! `POST /v1/webhooks/connectors/github`: GitHub App deliveries.
//!
//! The order is the contract, and each step answers before the next costs anything:
//! 1. no secret configured → 503, before the body is read;
//! 2. the body (at most [`WEBHOOK_BODY_LIMIT`], GitHub's cap; more → 413), as raw bytes;
//! 3. `X-Hub-Signature-256` over exactly those bytes → 401 `missing signature` / `invalid
//!    signature`; nothing is parsed and nothing touches the database before it passes;
//! 4. `X-GitHub-Event` / `X-GitHub-Delivery` and the JSON, normalised once → 400 when unusable;
//! 5. events Trove does not act on → 200 `accepted: false` without reading the body; actions it
//!    does not act on → the same after normalising ([`work::decide`]); nothing written;
//! 6. the rest goes through the group-commit ingest ([`ingest`]): recorded by delivery id (a
//!    repeat → 200 `duplicate delivery`), then a push enqueues one reconcile per (target, head)
//!    → 202 `queued: true`, a lifecycle event changes statuses → 202 `queued: false`.
//!
//! Failures are logged at warning level with the delivery id and event, never the body or the
//! secret, and answered without internals.

mod batch;
mod ingest;
mod work;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use trove_core::SyncEventId;
use trove_sources::webhook::{Delivery, SIGNATURE_256_HEADER, SignatureError, verify_signature};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use batch::{Outcome, write_batch};
pub use ingest::{IngestError, IngestOptions, WebhookIngest};
pub use work::{Work, WorkKind, decide};

use crate::state::AppState;

/// The largest delivery accepted: GitHub does not send payloads over 25 MB.
pub const WEBHOOK_BODY_LIMIT: usize = 25 * 1024 * 1024;

/// The longest `X-GitHub-Delivery` / `X-GitHub-Event` value accepted (GitHub's are a GUID and a
/// short name).
const MAX_HEADER_LEN: usize = 200;

/// The events [`decide`] may act on; any other is answered 200 without being normalised.
const HANDLED_EVENTS: [&str; 5] = [
    "push",
    "installation",
    "installation_repositories",
    "repository",
    "ping",
];

/// How long a client should wait after a 503 for a full ingest queue.
const RETRY_AFTER_SECONDS: &str = "1";

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(receive_github_delivery))
        .layer(DefaultBodyLimit::max(WEBHOOK_BODY_LIMIT))
}

/// The answer to a delivery that passed the signature check.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookReply {
    /// Always `true`.
    pub ok: bool,
    /// Whether Trove acted on it (202) or acknowledged and ignored it (200).
    pub accepted: bool,
    /// `X-GitHub-Event`, on accepted deliveries.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    /// `X-GitHub-Delivery`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery_id: Option<String>,
    /// On accepted deliveries: whether reconciles were enqueued (pushes) or not (lifecycle events).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queued: Option<bool>,
    /// The sync events that track the enqueued reconciles.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sync_event_ids: Option<Vec<SyncEventId>>,
    /// Why it was ignored, or what a lifecycle event changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A refused delivery.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WebhookError {
    /// Always `false`.
    pub ok: bool,
    /// What was wrong (`missing signature`, `invalid signature`, `webhook secret not configured`, …).
    pub error: String,
    /// Details, when there are any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

fn refuse(status: StatusCode, error: &str, message: Option<String>) -> Response {
    let body = WebhookError {
        ok: false,
        error: error.to_string(),
        message,
    };
    (status, axum::Json(body)).into_response()
}

fn close_connection(response: &mut Response) {
    response.headers_mut().insert(
        header::CONNECTION,
        header::HeaderValue::from_static("close"),
    );
}

fn ignored(delivery_id: Option<String>, reason: String) -> Response {
    let reply = WebhookReply {
        ok: true,
        accepted: false,
        event: None,
        delivery_id,
        queued: None,
        sync_event_ids: None,
        reason: Some(reason),
    };
    (StatusCode::OK, axum::Json(reply)).into_response()
}

/// A header as visible ASCII of bounded length, or a 400 naming it.
fn required_header<'h>(value: Option<&'h HeaderValue>, name: &str) -> Result<&'h str, Response> {
    let value = value
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty());
    match value {
        Some(v) if v.len() <= MAX_HEADER_LEN && v.bytes().all(|b| b.is_ascii_graphic()) => Ok(v),
        Some(_) => Err(refuse(
            StatusCode::BAD_REQUEST,
            "invalid delivery",
            Some(format!("`{name}` is not a valid value")),
        )),
        None => Err(refuse(
            StatusCode::BAD_REQUEST,
            "invalid delivery",
            Some(format!("the `{name}` header is missing")),
        )),
    }
}

/// Receives a GitHub App webhook delivery. Authenticated by `X-Hub-Signature-256` (HMAC-SHA256 of
/// the raw body with the webhook secret), not by a token. Pushes to a followed branch enqueue one
/// reconcile per (target, head SHA) and answer 202 `queued: true`; installation and repository
/// events change statuses and answer 202 `queued: false`; a delivery id seen before, and events
/// Trove does not act on, answer 200 `accepted: false` with a reason.
#[utoipa::path(post, path = "/v1/webhooks/connectors/github", tag = "webhooks", security(),
    params(
        ("X-GitHub-Event" = String, Header, description = "The event (`push`, `installation`, …)"),
        ("X-GitHub-Delivery" = String, Header, description = "The delivery id (a redelivery reuses it)"),
        ("X-Hub-Signature-256" = String, Header, description = "`sha256=` and the hex HMAC-SHA256 of the body"),
    ),
    request_body(content = Object, content_type = "application/json", description = "The event payload, exactly as GitHub sent it"),
    responses(
        (status = 202, body = WebhookReply, description = "Accepted: reconciles enqueued or a lifecycle change applied"),
        (status = 200, body = WebhookReply, description = "Acknowledged and ignored (with the reason), or a duplicate delivery"),
        (status = 400, body = WebhookError, description = "Missing event or delivery header, or a body that is not the event's JSON"),
        (status = 401, body = WebhookError, description = "`missing signature` or `invalid signature`"),
        (status = 413, description = "Body over 25 MiB"),
        (status = 503, body = WebhookError, description = "No webhook secret is configured, or too many deliveries are waiting (see `Retry-After`)"),
    ))]
async fn receive_github_delivery(State(state): State<AppState>, request: Request) -> Response {
    let Some(secret) = state.config.webhook_secret.clone() else {
        let mut response = refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "webhook secret not configured",
            None,
        );
        // The body is not read, so the connection cannot carry another request.
        close_connection(&mut response);
        return response;
    };
    let (parts, body) = request.into_parts();
    // The three headers that matter, kept before the request is consumed (cheap: shared bytes).
    let header = |name: &str| parts.headers.get(name).cloned();
    let (signature, event, delivery_id) = (
        header(SIGNATURE_256_HEADER),
        header("x-github-event"),
        header("x-github-delivery"),
    );
    let body = match Bytes::from_request(Request::from_parts(parts, body), &state).await {
        Ok(body) => body,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            let mut response = refuse(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload too large",
                Some(format!("a delivery is at most {WEBHOOK_BODY_LIMIT} bytes")),
            );
            // The rest of the body was not read: this connection cannot carry another request.
            close_connection(&mut response);
            return response;
        }
        Err(rejection) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "invalid delivery",
                Some(rejection.body_text()),
            );
        }
    };
    if let Err(error) = verify_signature(
        secret.key(),
        signature.as_ref().map(|v| v.as_bytes()),
        &body,
    ) {
        tracing::warn!(
            delivery = delivery_id
                .as_ref()
                .and_then(|v| v.to_str().ok())
                .map_or("-", |v| &v[..v.len().min(MAX_HEADER_LEN)]),
            reason = %error,
            "webhook delivery refused"
        );
        let text = match error {
            SignatureError::Missing => "missing signature",
            SignatureError::Invalid => "invalid signature",
        };
        return refuse(StatusCode::UNAUTHORIZED, text, None);
    }
    let (event, delivery_id) = match (
        required_header(event.as_ref(), "x-github-event"),
        required_header(delivery_id.as_ref(), "x-github-delivery"),
    ) {
        (Ok(event), Ok(id)) => (event, id),
        (Err(response), _) | (_, Err(response)) => return response,
    };
    if !HANDLED_EVENTS.contains(&event) {
        // GitHub adds events all the time, and the ones an App hears most (check runs, workflow
        // jobs, pull requests) are large. One Trove does not act on is acknowledged without
        // reading its body: the signature already proves GitHub sent it, and nothing of it is
        // used or stored.
        return ignored(
            Some(delivery_id.to_owned()),
            format!("event `{event}` is not handled"),
        );
    }
    // A push, the event that comes in volume, is read without building the whole document.
    let lean = (event == "push")
        .then(|| Delivery::parse_push(delivery_id, &body))
        .flatten();
    let delivery = match lean.map_or_else(|| Delivery::parse(event, delivery_id, &body), Ok) {
        Ok(delivery) => delivery,
        Err(error) => {
            tracing::warn!(delivery = delivery_id, event, error = %error, "webhook delivery is not usable");
            return refuse(
                StatusCode::BAD_REQUEST,
                "invalid delivery",
                Some(error.to_string()),
            );
        }
    };
    let work = match decide(&delivery) {
        Ok(work) => work,
        Err(reason) => return ignored(Some(delivery.delivery_id), reason),
    };
    drop(delivery);
    let (event, delivery_id) = (work.event.clone(), work.delivery_id.clone());
    match state.webhooks.submit(work).await {
        Ok(outcome) => answer(event, delivery_id, outcome),
        Err(error) => {
            tracing::warn!(delivery = %delivery_id, event = %event, error = %error, "webhook delivery not recorded");
            let status = match &error {
                IngestError::Failed { status, .. } => {
                    StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
                }
                IngestError::Busy | IngestError::Stopped => StatusCode::SERVICE_UNAVAILABLE,
            };
            let mut response = refuse(status, "delivery not recorded", Some(error.to_string()));
            if status == StatusCode::SERVICE_UNAVAILABLE {
                response.headers_mut().insert(
                    header::RETRY_AFTER,
                    header::HeaderValue::from_static(RETRY_AFTER_SECONDS),
                );
            }
            response
        }
    }
}

fn answer(event: String, delivery_id: String, outcome: Outcome) -> Response {
    let accepted = |queued: bool, ids: Option<Vec<SyncEventId>>, reason: Option<String>| {
        let reply = WebhookReply {
            ok: true,
            accepted: true,
            event: Some(event.clone()),
            delivery_id: Some(delivery_id.clone()),
            queued: Some(queued),
            sync_event_ids: ids,
            reason,
        };
        (StatusCode::ACCEPTED, axum::Json(reply)).into_response()
    };
    match outcome {
        Outcome::Queued(ids) => accepted(true, Some(ids), None),
        Outcome::Applied(what) => accepted(false, None, Some(what)),
        Outcome::Ignored(why) => ignored(Some(delivery_id), why),
        Outcome::Duplicate => ignored(Some(delivery_id), "duplicate delivery".into()),
    }
}
