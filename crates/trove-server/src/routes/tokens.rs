//! API tokens of the caller in one org: list, create (the secret is shown once), revoke.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use trove_core::names::validate_name;
use trove_core::{AppError, Timestamp, TokenId};
use trove_store::model::ApiToken;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::OrgCtx;
use crate::envelope::{List, Mutation, PageParams, list};
use crate::error::{ApiResult, AppJson, AppQuery};
use crate::paths::TokenPath;
use crate::state::AppState;

/// A token to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateToken {
    /// A label, e.g. `ci` or `laptop`.
    pub name: String,
    /// When it stops working (RFC 3339); never when absent.
    pub expires_at: Option<Timestamp>,
}

/// A created token and its secret, which is shown only this once.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedToken {
    /// The token.
    #[serde(flatten)]
    pub token: ApiToken,
    /// The secret to send as `Authorization: Bearer …`. Store it now: Trove keeps only its hash.
    pub secret: String,
}

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_tokens, create_token))
        .routes(routes!(revoke_token))
}

/// The caller's own tokens in this org.
#[utoipa::path(get, path = "/v1/orgs/{org}/tokens", tag = "tokens",
    params(("org" = String, Path, description = "Org slug or id"), PageParams),
    responses((status = 200, body = List<ApiToken>)))]
async fn list_tokens(
    State(state): State<AppState>,
    ctx: OrgCtx,
    AppQuery(params): AppQuery<PageParams>,
) -> ApiResult<Json<List<ApiToken>>> {
    let page = params.for_id::<TokenId>()?;
    let rows = state
        .store
        .tokens_of(ctx.org_id(), ctx.caller.user_id, page)
        .await?;
    Ok(list(rows, page, |t| t.id.to_string()))
}

/// Creates a token acting as the caller in this org.
#[utoipa::path(post, path = "/v1/orgs/{org}/tokens", tag = "tokens", request_body = CreateToken,
    params(("org" = String, Path, description = "Org slug or id")),
    responses((status = 201, body = Mutation<CreatedToken>)))]
async fn create_token(
    State(state): State<AppState>,
    ctx: OrgCtx,
    AppJson(req): AppJson<CreateToken>,
) -> ApiResult<(StatusCode, Json<Mutation<CreatedToken>>)> {
    let name = validate_name("name", &req.name)?;
    let (token, secret) = state
        .store
        .create_token(
            ctx.org_id(),
            ctx.caller.user_id,
            &name,
            req.expires_at.map(|t| t.0),
            ctx.actor(),
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Mutation::ok(CreatedToken { token, secret }),
    ))
}

/// Revokes a token: the caller's own, or any of the org's for owners and admins.
#[utoipa::path(delete, path = "/v1/orgs/{org}/tokens/{token}", tag = "tokens",
    params(("org" = String, Path, description = "Org slug or id"), ("token" = String, Path, description = "Token id (`tok_…`)")),
    responses((status = 200, body = Mutation<ApiToken>)))]
async fn revoke_token(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Path(path): Path<TokenPath>,
) -> ApiResult<Json<Mutation<ApiToken>>> {
    let id: TokenId = path
        .token
        .parse()
        .map_err(|_| AppError::not_found("token"))?;
    let owner = (!ctx.role.is_admin()).then_some(ctx.caller.user_id);
    let revoked = state
        .store
        .revoke_token(ctx.org_id(), id, owner, ctx.actor())
        .await?;
    Ok(Mutation::ok(revoked))
}
