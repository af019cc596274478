//! Sign-in for the web UI: a session cookie (HttpOnly, SameSite=Lax) backed by the `sessions` table.

use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use trove_core::AppError;
use trove_core::names::normalize_email;
use trove_store::model::User;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{SESSION_COOKIE, session_cookie};
use crate::envelope::Mutation;
use crate::error::{ApiResult, AppJson};
use crate::state::AppState;

/// Credentials for signing in.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// The account's email.
    pub email: String,
    /// The password.
    pub password: String,
}

/// Signing out reports nothing but success.
#[derive(Debug, Serialize, ToSchema)]
pub struct LoggedOut {
    /// Always `true`.
    pub ok: bool,
}

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(logout))
}

fn cookie(state: &AppState, value: &str, max_age: i64) -> String {
    let secure = if state.config.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    format!("{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}")
}

/// Signs in with email and password and sets the session cookie.
#[utoipa::path(post, path = "/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, description = "Signed in; the `trove_session` cookie is set", body = Mutation<User>)))]
async fn login(
    State(state): State<AppState>,
    AppJson(req): AppJson<LoginRequest>,
) -> ApiResult<Response> {
    let email = normalize_email("email", &req.email)?;
    let Some(user_id) = state.store.check_password(&email, &req.password).await? else {
        return Err(AppError::Unauthorized("wrong email or password".into()).into());
    };
    let secret = state.store.create_session(user_id).await?;
    let user = state.store.user(user_id).await?;
    let max_age = trove_store::tokens::SESSION_IDLE_MS / 1000;
    Ok((
        [(SET_COOKIE, cookie(&state, &secret, max_age))],
        Mutation::ok(user),
    )
        .into_response())
}

/// Ends the current session and clears the cookie.
#[utoipa::path(post, path = "/v1/auth/logout", tag = "auth",
    responses((status = 200, description = "Signed out", body = LoggedOut)))]
async fn logout(State(state): State<AppState>, parts: Parts) -> ApiResult<Response> {
    if let Some(secret) = session_cookie(&parts) {
        state.store.delete_session(&secret).await?;
    }
    Ok((
        [(SET_COOKIE, cookie(&state, "", 0))],
        axum::Json(LoggedOut { ok: true }),
    )
        .into_response())
}
