//! `connector-accounts`: git credentials (list, read, create, disconnect). Org admins only — accounts
//! reveal which hosts and repositories the org reads, so members never list them.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use trove_core::{AppError, ConnectorAccountId};
use trove_store::connectors::accounts::{Account, DisconnectReport, NewAccount};
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::OrgCtx;
use crate::envelope::{Item, List, Mutation, PageParams, list};
use crate::error::{ApiResult, AppJson, AppQuery};
use crate::state::AppState;

/// `/v1/orgs/{org}/connector-accounts/{account}`.
#[derive(Debug, Deserialize)]
pub struct AccountPath {
    /// The account id.
    pub account: String,
}

/// Paging and filters of the account list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AccountListParams {
    /// Page size, 1-200 (default 50).
    pub limit: Option<u32>,
    /// The `nextCursor` of the previous page.
    pub cursor: Option<String>,
    /// Only accounts in this state (`active`, `suspended`, `disconnected`).
    pub status: Option<String>,
}

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_accounts, create_account))
        .routes(routes!(get_account))
        .routes(routes!(disconnect_account))
}

fn account_id(text: &str) -> Result<ConnectorAccountId, AppError> {
    text.parse()
        .map_err(|_| AppError::not_found("connector account"))
}

/// The org's connector accounts (admin). Credentials are never shown.
#[utoipa::path(get, path = "/v1/orgs/{org}/connector-accounts", tag = "connectors",
    params(("org" = String, Path, description = "Org slug or id"), AccountListParams),
    responses((status = 200, body = List<Account>)))]
async fn list_accounts(
    State(state): State<AppState>,
    ctx: OrgCtx,
    AppQuery(params): AppQuery<AccountListParams>,
) -> ApiResult<Json<List<Account>>> {
    ctx.require_admin("list connector accounts")?;
    let page = PageParams {
        limit: params.limit,
        cursor: params.cursor.clone(),
    }
    .for_id::<ConnectorAccountId>()?;
    let rows = state
        .store
        .accounts(ctx.org_id(), params.status.as_deref(), page)
        .await?;
    Ok(list(rows, page, |a| a.id.to_string()))
}

/// Stores a git credential (admin). The token is encrypted at rest and never returned.
#[utoipa::path(post, path = "/v1/orgs/{org}/connector-accounts", tag = "connectors", request_body = NewAccount,
    params(("org" = String, Path, description = "Org slug or id")),
    responses((status = 201, body = Mutation<Account>)))]
async fn create_account(
    State(state): State<AppState>,
    ctx: OrgCtx,
    AppJson(req): AppJson<NewAccount>,
) -> ApiResult<(StatusCode, Json<Mutation<Account>>)> {
    ctx.require_admin("create connector accounts")?;
    let account = state
        .store
        .create_account(ctx.org_id(), &req, ctx.actor())
        .await?;
    Ok((StatusCode::CREATED, Mutation::ok(account)))
}

/// One connector account (admin).
#[utoipa::path(get, path = "/v1/orgs/{org}/connector-accounts/{account}", tag = "connectors",
    params(("org" = String, Path, description = "Org slug or id"), ("account" = String, Path, description = "Account id (`cac_…`)")),
    responses((status = 200, body = Item<Account>)))]
async fn get_account(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Path(path): Path<AccountPath>,
) -> ApiResult<Json<Item<Account>>> {
    ctx.require_admin("read connector accounts")?;
    let id = account_id(&path.account)?;
    let item = state.store.account(ctx.org_id(), id).await?;
    Ok(Json(Item { item }))
}

/// Disconnects an account (admin): removes its instances with the cascade of `remove` (objects a
/// user placed in hand-made plugins are kept and detached), drops the credential, and reports what
/// was removed and what was kept.
#[utoipa::path(post, path = "/v1/orgs/{org}/connector-accounts/{account}/disconnect", tag = "connectors",
    params(("org" = String, Path, description = "Org slug or id"), ("account" = String, Path, description = "Account id (`cac_…`)")),
    responses((status = 200, body = Mutation<DisconnectReport>)))]
async fn disconnect_account(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Path(path): Path<AccountPath>,
) -> ApiResult<Json<Mutation<DisconnectReport>>> {
    ctx.require_admin("disconnect connector accounts")?;
    let id = account_id(&path.account)?;
    let report = state
        .store
        .disconnect_account(ctx.org_id(), id, ctx.actor())
        .await?;
    Ok(Mutation::ok(report))
}
