//! The HTTP server: REST API, health and metrics, with request ids, body limits, timeouts and an
//! OpenAPI document generated from the handlers.

pub mod auth;
pub mod envelope;
pub mod error;
pub mod metrics;
pub mod paths;
pub mod routes;
pub mod state;

use std::net::SocketAddr;

use axum::http::{HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use trove_core::AppError;
use utoipa::openapi::OpenApi;
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::{Modify, OpenApi as _};
use utoipa_axum::router::OpenApiRouter;

pub use routes::webhooks::{IngestOptions, WebhookIngest};
pub use state::{AppShared, AppState, ServerConfig, WebhookSecret};

use crate::error::{ApiError, ErrorBody};

/// The largest request body accepted by API routes (the webhook route sets its own).
pub const BODY_LIMIT: usize = 2 * 1024 * 1024;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

#[derive(utoipa::OpenApi)]
#[openapi(
    info(title = "Trove", description = "A self-hosted registry of Claude Code plugins: organizations, members, teams, tokens, and (as they land) config objects, plugins, marketplaces and connectors."),
    components(schemas(ErrorBody)),
    tags(
        (name = "system", description = "Health, readiness and metrics"),
        (name = "auth", description = "Sign-in and the current caller"),
        (name = "orgs", description = "Organizations"),
        (name = "members", description = "Organization members"),
        (name = "teams", description = "Teams and their members"),
        (name = "tokens", description = "API tokens"),
        (name = "audit", description = "The audit log"),
        (name = "config-objects", description = "Config objects (skills, agents, commands, hooks, MCP and LSP servers, …) and their versions"),
        (name = "skills", description = "Skills: a typed view of config objects"),
        (name = "agents", description = "Agents: a typed view of config objects"),
        (name = "commands", description = "Commands: a typed view of config objects"),
        (name = "hooks", description = "Hooks: a typed view of config objects"),
        (name = "mcps", description = "MCP servers: a typed view of config objects"),
        (name = "lsps", description = "LSP servers: a typed view of config objects"),
        (name = "plugins", description = "Plugins: named sets of config objects"),
        (name = "marketplaces", description = "Marketplaces: ordered sets of plugins that members add to Claude Code"),
        (name = "connectors", description = "Connectors: git credentials, connected repository branches, their discovery, mappings, syncs and sync events"),
        (name = "webhooks", description = "Deliveries from GitHub, authenticated by their signature"),
    )
)]
struct ApiDoc;

/// Adds what every operation shares: the security schemes and the error responses.
struct Conventions;

impl Modify for Conventions {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("trove_…")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(auth::SESSION_COOKIE))),
        );
        let errors = [
            ("400", "Invalid request: the body names the field at fault"),
            ("401", "No valid credentials"),
            (
                "403",
                "`missing_org_capability` or `missing_resource_access`",
            ),
            (
                "404",
                "Not found, or in an organization the caller cannot see",
            ),
            ("409", "Conflicts with the current state"),
            ("413", "Request body too large"),
        ];
        for (path, item) in openapi.paths.paths.iter_mut() {
            // Webhooks authenticate by their signature, never by a token or cookie.
            let public = !path.starts_with("/v1/")
                || path == "/v1/auth/login"
                || path == "/v1/auth/logout"
                || path.starts_with("/v1/webhooks/");
            for op in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                if !public {
                    op.security = Some(vec![
                        SecurityRequirement::new("bearer", Vec::<String>::new()),
                        SecurityRequirement::new("session", Vec::<String>::new()),
                    ]);
                    for (code, description) in errors {
                        op.responses
                            .responses
                            .entry(code.into())
                            .or_insert_with(|| {
                                utoipa::openapi::ResponseBuilder::new()
                                    .description(description)
                                    .content(
                                        "application/json",
                                        utoipa::openapi::ContentBuilder::new()
                                            .schema(Some(utoipa::openapi::Ref::from_schema_name(
                                                "ErrorBody",
                                            )))
                                            .build(),
                                    )
                                    .build()
                                    .into()
                            });
                    }
                }
            }
        }
    }
}

fn api() -> (Router<AppState>, OpenApi) {
    let (router, mut spec) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(routes::router())
        .split_for_parts();
    // Applied here, not as an `#[openapi(modifiers)]`, because those run before the routes are merged.
    Conventions.modify(&mut spec);
    (router, spec)
}

/// The OpenAPI document of the server (what `/openapi.json` serves).
pub fn openapi() -> OpenApi {
    api().1
}

/// The OpenAPI document as pretty JSON with a trailing newline (the committed `openapi.json`).
pub fn openapi_json() -> String {
    let mut text = openapi()
        .to_pretty_json()
        .expect("the OpenAPI document serialises");
    text.push('\n');
    text
}

async fn not_found() -> ApiError {
    AppError::NotFound { resource: "route" }.into()
}

/// The whole application with its middleware.
pub fn app(state: AppState) -> Router {
    let (router, _) = api();
    let spec = openapi_json();
    let timeout = state.config.request_timeout;
    router
        .route(
            "/openapi.json",
            axum::routing::get(move || async move { ([(axum::http::header::CONTENT_TYPE, "application/json")], spec) }),
        )
        .fallback(not_found)
        .layer(axum::middleware::from_fn(metrics::track))
        .layer(axum::extract::DefaultBodyLimit::max(BODY_LIMIT))
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
                .layer(TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<_>| {
                    let id = req.headers().get(REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("-");
                    tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
                }).on_response(tower_http::trace::DefaultOnResponse::new().level(tracing::Level::INFO)))
                .layer(SetSensitiveRequestHeadersLayer::new([
                    axum::http::header::AUTHORIZATION,
                    axum::http::header::COOKIE,
                ]))
                .layer(PropagateRequestIdLayer::new(REQUEST_ID))
                .layer(CatchPanicLayer::custom(|_| panic_response()))
                .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, timeout)),
        )
        .with_state(state)
}

fn panic_response() -> Response {
    let body = ErrorBody {
        ok: false,
        error: "internal_error".into(),
        message: "an internal error occurred; the server log has the details".into(),
        field: None,
    };
    (StatusCode::INTERNAL_SERVER_ERROR, Json(body)).into_response()
}

/// Serves the application on `listener` until `shutdown` is cancelled, then finishes in-flight requests.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let app = app(state).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
}
