//! Health, readiness and metrics.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

/// A health answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// Whether the check passed.
    pub ok: bool,
    /// What was found.
    pub status: String,
}

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "system", security(),
    responses((status = 200, body = Health)))]
async fn healthz() -> Json<Health> {
    Json(Health {
        ok: true,
        status: "alive".into(),
    })
}

/// The database is reachable and fully migrated.
#[utoipa::path(get, path = "/readyz", tag = "system", security(),
    responses((status = 200, body = Health), (status = 503, body = Health)))]
async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    let (code, status) = match state.store.db.is_migrated().await {
        Ok(true) => (StatusCode::OK, "ready"),
        Ok(false) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "migrations pending: run `trove migrate`",
        ),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "database unreachable"),
    };
    (
        code,
        Json(Health {
            ok: code == StatusCode::OK,
            status: status.into(),
        }),
    )
}

/// Prometheus metrics: requests by route and status, latency, queue depth by state, job outcomes.
#[utoipa::path(get, path = "/metrics", tag = "system", security(),
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    crate::metrics::record_queue_depth(&state.store).await;
    (
        [(CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}
