//! GitHub App connection: installing the App for an org with proven ownership (`install/start`,
//! the App's Setup URL `callback`, `install/complete`) and, in [`repos`], listing an
//! installation's repositories, validating a target and connecting one.
//!
//! A signed state proves who *started* an install: the org, the user, a 10-minute expiry and a
//! single-use nonce (`trove_store::connectors::install_states`). It does not prove that the
//! `installation_id` on the redirect is theirs — anyone can type another customer's id into it.
//! So completing also exchanges the OAuth `code` GitHub adds to the same redirect for a
//! user-to-server token and requires the installation among that user's installations
//! (`GET /user/installations`) before anything is bound; an installation another org holds is a
//! 409. The order of checks is: caller and role, App configured, request shape, state (signature,
//! expiry, same user, same org, unused), then the nonce is consumed — before any GitHub call, so a
//! state can be spent once even by two racing requests — then ownership, then binding.
//!
//! Authorization: org owners and admins (the callback, which has no org in its path, checks the
//! role in the state's org). While the App is not configured every route answers
//! 409 `github_not_configured` once the caller has passed authentication and authorization.
//! Errors never echo the state, the code or any token.

#[path = "github_repos.rs"]
mod repos;
#[path = "github_setup_page.rs"]
mod setup_page;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use trove_core::{AppError, OrgId, Timestamp};
use trove_sources::{GitHubApp, GitHubError, Installation};
use trove_store::connectors::accounts::{Account, GithubInstallation};
use trove_store::connectors::install_states::InstallState;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Caller, OrgCtx};
use crate::envelope::Mutation;
use crate::error::{ApiError, ApiResult, AppJson, AppQuery};
use crate::state::AppState;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(start_install))
        .routes(routes!(install_callback))
        .routes(routes!(complete_install))
        .merge(repos::router())
}

/// The App client, or 409 `github_not_configured`.
pub(crate) fn configured(state: &AppState) -> Result<&GitHubApp, AppError> {
    state.github.as_ref().ok_or_else(|| {
        AppError::conflict(
            "github_not_configured",
            "the GitHub App is not configured on this server: set TROVE_GITHUB_APP_ID and \
             TROVE_GITHUB_APP_PRIVATE_KEY (or TROVE_GITHUB_APP_PRIVATE_KEY_FILE), and \
             TROVE_GITHUB_CLIENT_ID and TROVE_GITHUB_CLIENT_SECRET for installs",
        )
    })
}

/// A GitHub failure as an API error. [`GitHubError`] messages never hold a key, JWT, token or
/// client secret, so they can be shown.
pub(crate) fn github_error(e: GitHubError) -> AppError {
    match e {
        GitHubError::Config(message) => AppError::conflict(
            "github_not_configured",
            format!("the GitHub App is not fully configured: {message}"),
        ),
        GitHubError::OAuth(message) => AppError::invalid(
            "code",
            format!(
                "GitHub did not accept the authorization code (codes are single-use and expire \
                 after 10 minutes); install again from Trove. GitHub said: {message}"
            ),
        ),
        GitHubError::RateLimited { .. } | GitHubError::Unavailable(_) => {
            AppError::Unavailable(format!("{e}; try again shortly"))
        }
        other => AppError::conflict("github_request_failed", other.to_string()),
    }
}

/// Where to send the browser to install the App.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InstallStart {
    /// Always `true`.
    pub ok: bool,
    /// The App's install page on GitHub, carrying `state`.
    pub redirect_url: String,
    /// The signed, single-use state (also inside `redirectUrl`).
    pub state: String,
    /// When the state stops being accepted (10 minutes from now).
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: Timestamp,
}

/// What `install/complete` needs from the App's redirect.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CompleteInstall {
    /// The `state` of the redirect (from `install/start`).
    pub state: String,
    /// The `installation_id` of the redirect.
    pub installation_id: u64,
    /// The `code` of the redirect: GitHub adds it when the App requests user authorization
    /// (OAuth) during installation, which Trove requires to prove ownership.
    #[serde(default)]
    pub code: Option<String>,
}

/// The query GitHub sends to the App's Setup URL.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SetupRedirect {
    /// The installation that was created or changed.
    pub installation_id: Option<u64>,
    /// `install`, `update`, or `request` (an installation awaiting an owner's approval).
    pub setup_action: Option<String>,
    /// The state from `install/start`.
    pub state: Option<String>,
    /// The OAuth code (present when the App requests user authorization during installation).
    pub code: Option<String>,
}

/// Starts installing the App for this org (admin): a state bound to the org and the caller,
/// valid once for 10 minutes, and the App's install URL carrying it.
#[utoipa::path(post, path = "/v1/orgs/{org}/connectors/github/install/start", tag = "connectors",
    params(("org" = String, Path, description = "Org slug or id")),
    responses((status = 200, body = InstallStart)))]
async fn start_install(
    State(state): State<AppState>,
    ctx: OrgCtx,
) -> ApiResult<Json<InstallStart>> {
    ctx.require_admin("install the GitHub App")?;
    let app = configured(&state)?;
    let issued = state
        .store
        .issue_install_state(ctx.org_id(), ctx.caller.user_id)
        .await?;
    let redirect_url = app.install_url(&issued.token).await.map_err(github_error)?;
    Ok(Json(InstallStart {
        ok: true,
        redirect_url,
        state: issued.token,
        expires_at: Timestamp(issued.expires_at),
    }))
}

/// The App's Setup URL: GitHub sends the browser here after an install with `installation_id`,
/// `setup_action`, `state` and `code`; the caller is the signed-in user (session cookie) who
/// started the install, and must still be an admin of the state's org. Binds the installation
/// like `install/complete` and answers with the same envelope, or, to a browser (`Accept:
/// text/html`), with a page saying what happened.
#[utoipa::path(get, path = "/v1/connectors/github/callback", tag = "connectors",
    params(SetupRedirect),
    responses((status = 200, body = Mutation<Account>, description = "The installation is bound to the org (a short HTML page instead when the request accepts `text/html`)")))]
async fn install_callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    caller: Result<Caller, ApiError>,
    AppQuery(query): AppQuery<SetupRedirect>,
) -> Response {
    let result = match caller {
        Ok(caller) => bind_from_redirect(&state, caller, query).await,
        Err(ApiError(error)) => Err(error),
    };
    if !wants_html(&headers) {
        return match result {
            Ok(account) => Mutation::ok(account).into_response(),
            Err(error) => ApiError(error).into_response(),
        };
    }
    match result {
        Ok(account) => setup_page::connected(&account),
        Err(error) => setup_page::failed(&error),
    }
}

/// Whether the client asked for HTML first (a browser following GitHub's redirect).
fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.split(',').any(|t| t.trim().starts_with("text/html")))
}

async fn bind_from_redirect(
    state: &AppState,
    caller: Caller,
    query: SetupRedirect,
) -> Result<Account, AppError> {
    let app = configured(state)?;
    let Some(installation_id) = query.installation_id else {
        let message = if query.setup_action.as_deref() == Some("request") {
            "the installation awaits approval by an owner of the GitHub account; once approved, \
             start the installation again from Trove"
        } else {
            "the redirect has no installation_id"
        };
        return Err(AppError::invalid("installation_id", message));
    };
    let token = query.state.ok_or_else(|| {
        AppError::invalid(
            "state",
            "the redirect has no state; start the installation from Trove",
        )
    })?;
    let code = required_code(query.code)?;
    let install = verified_state(state, &token, caller.user_id).await?;
    let ctx = org_context(state, caller, install.org_id).await?;
    ctx.require_admin("install the GitHub App")?;
    finish(state, app, &ctx, &install, installation_id, &code).await
}

/// Completes an install from the App's redirect values (admin, the same user and org that
/// started it): checks the state, proves with the OAuth `code` that the installation is one the
/// user can access on GitHub, and binds it to the org as a `github` connector account. A state
/// works once; an installation another org holds is a 409 `installation_bound_elsewhere`.
#[utoipa::path(post, path = "/v1/orgs/{org}/connectors/github/install/complete", tag = "connectors",
    request_body = CompleteInstall,
    params(("org" = String, Path, description = "Org slug or id")),
    responses((status = 200, body = Mutation<Account>)))]
async fn complete_install(
    State(state): State<AppState>,
    ctx: OrgCtx,
    AppJson(req): AppJson<CompleteInstall>,
) -> ApiResult<Json<Mutation<Account>>> {
    ctx.require_admin("install the GitHub App")?;
    let app = configured(&state)?;
    let code = required_code(req.code)?;
    let install = verified_state(&state, &req.state, ctx.caller.user_id).await?;
    if install.org_id != ctx.org_id() {
        return Err(AppError::conflict(
            "install_state_org_mismatch",
            "this install was started for another organization; complete it there",
        )
        .into());
    }
    let account = finish(&state, app, &ctx, &install, req.installation_id, &code).await?;
    Ok(Mutation::ok(account))
}

fn required_code(code: Option<String>) -> Result<String, AppError> {
    code.filter(|c| !c.trim().is_empty()).ok_or_else(|| {
        AppError::invalid(
            "code",
            "GitHub sent no OAuth code, so Trove cannot check that the installation is yours: \
             enable \"Request user authorization (OAuth) during installation\" in the GitHub App's \
             settings, then install again",
        )
    })
}

/// A state that verifies and was started by `user`.
async fn verified_state(
    state: &AppState,
    token: &str,
    user: trove_core::UserId,
) -> Result<InstallState, AppError> {
    let install = state.store.verify_install_state(token).await?;
    if install.user_id != user {
        return Err(AppError::conflict(
            "install_state_user_mismatch",
            "this install was started by another user; only they can complete it",
        ));
    }
    Ok(install)
}

/// The caller inside the state's org, as the `OrgCtx` extractor would resolve it from a path.
async fn org_context(state: &AppState, caller: Caller, org: OrgId) -> Result<OrgCtx, AppError> {
    let (org, membership) = state
        .store
        .org_for_user(&org.to_string(), caller.user_id)
        .await?
        .ok_or_else(|| AppError::not_found("organization"))?;
    if caller.token_org().is_some_and(|bound| bound != org.id) {
        return Err(AppError::not_found("organization"));
    }
    Ok(OrgCtx {
        caller,
        org,
        membership_id: membership.id,
        role: membership.role,
    })
}

/// Spends the state, proves ownership of `installation_id` with `code`, and binds it.
async fn finish(
    state: &AppState,
    app: &GitHubApp,
    ctx: &OrgCtx,
    install: &InstallState,
    installation_id: u64,
    code: &str,
) -> Result<Account, AppError> {
    state.store.consume_install_state(install).await?;
    let user_token = app.exchange_code(code).await.map_err(github_error)?;
    let reachable = app
        .user_installation_ids(&user_token)
        .await
        .map_err(github_error)?;
    if !reachable.contains(&installation_id) {
        tracing::warn!(
            org = %ctx.org_id(),
            user = %ctx.caller.user_id,
            installation_id,
            "refused a GitHub install: the installation is not among the user's installations"
        );
        return Err(AppError::missing_resource_access(format!(
            "your GitHub account cannot access installation {installation_id}; only someone who \
             can manage the installation on GitHub can connect it"
        )));
    }
    let installation = app
        .installation(installation_id)
        .await
        .map_err(github_error)?;
    let binding = github_installation(&installation)?;
    state
        .store
        .bind_github_installation(ctx.org_id(), &binding, ctx.actor())
        .await
        .map_err(|e| match e {
            AppError::Conflict {
                code: "github_installation_bound",
                message,
            } => AppError::Conflict {
                code: "installation_bound_elsewhere",
                message,
            },
            other => other,
        })
}

/// What the store keeps of an installation: GitHub's own description, nothing secret.
fn github_installation(installation: &Installation) -> Result<GithubInstallation, AppError> {
    let installation_id = i64::try_from(installation.id)
        .map_err(|_| AppError::invalid("installationId", "is out of range"))?;
    Ok(GithubInstallation {
        installation_id,
        name: installation.account_login.clone(),
        metadata: serde_json::json!({
            "accountLogin": installation.account_login,
            "accountId": installation.account_id,
            "accountType": installation.account_type,
            "repositorySelection": installation.repository_selection,
            "settingsUrl": installation.html_url,
        }),
        suspended: installation.suspended,
    })
}
