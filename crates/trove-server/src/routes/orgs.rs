//! Organizations: list mine, create, get, update.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use trove_core::names::{validate_name, validate_slug};
use trove_core::{AppError, OrgId};
use trove_store::model::Org;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Caller, OrgCtx};
use crate::envelope::{Item, List, Mutation, PageParams, list};
use crate::error::{ApiResult, AppJson, AppQuery};
use crate::state::AppState;

/// A new organization.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOrg {
    /// URL name: 2-63 lower-case letters, digits and dashes.
    pub slug: String,
    /// Display name (defaults to the slug).
    pub name: Option<String>,
}

/// Changes to an organization.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateOrg {
    /// A new slug.
    pub slug: Option<String>,
    /// A new display name.
    pub name: Option<String>,
}

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_orgs, create_org))
        .routes(routes!(get_org, update_org))
}

/// The organizations the caller belongs to (only the token's own org for an API token).
#[utoipa::path(get, path = "/v1/orgs", tag = "orgs", params(PageParams),
    responses((status = 200, body = List<Org>)))]
async fn list_orgs(
    State(state): State<AppState>,
    caller: Caller,
    AppQuery(params): AppQuery<PageParams>,
) -> ApiResult<Json<List<Org>>> {
    let page = params.for_id::<OrgId>()?;
    let rows = state
        .store
        .orgs_of_user(caller.user_id, caller.token_org(), page)
        .await?;
    Ok(list(rows, page, |o| o.id.to_string()))
}

/// Creates an organization; the caller becomes its owner.
#[utoipa::path(post, path = "/v1/orgs", tag = "orgs", request_body = CreateOrg,
    responses((status = 201, body = Mutation<Org>)))]
async fn create_org(
    State(state): State<AppState>,
    caller: Caller,
    AppJson(req): AppJson<CreateOrg>,
) -> ApiResult<(axum::http::StatusCode, Json<Mutation<Org>>)> {
    validate_slug("slug", &req.slug)?;
    let name = validate_name("name", req.name.as_deref().unwrap_or(&req.slug))?;
    let mut tx = state.store.db.begin().await?;
    let org = state
        .store
        .create_org(&mut tx, &req.slug, &name, caller.user_id, caller.actor())
        .await?;
    tx.commit().await?;
    Ok((axum::http::StatusCode::CREATED, Mutation::ok(org)))
}

/// One organization.
#[utoipa::path(get, path = "/v1/orgs/{org}", tag = "orgs",
    params(("org" = String, Path, description = "Org slug or id")),
    responses((status = 200, body = Item<Org>)))]
async fn get_org(ctx: OrgCtx) -> ApiResult<Json<Item<Org>>> {
    Ok(Json(Item { item: ctx.org }))
}

/// Renames an organization or changes its slug (owners and admins).
#[utoipa::path(patch, path = "/v1/orgs/{org}", tag = "orgs", request_body = UpdateOrg,
    params(("org" = String, Path, description = "Org slug or id")),
    responses((status = 200, body = Mutation<Org>)))]
async fn update_org(
    State(state): State<AppState>,
    ctx: OrgCtx,
    AppJson(req): AppJson<UpdateOrg>,
) -> ApiResult<Json<Mutation<Org>>> {
    ctx.require_admin("change the organization")?;
    if let Some(slug) = &req.slug {
        validate_slug("slug", slug)?;
    }
    let name = req
        .name
        .as_deref()
        .map(|n| validate_name("name", n))
        .transpose()?;
    if req.slug.is_none() && name.is_none() {
        return Err(AppError::bad_request("nothing to change: give `slug` or `name`").into());
    }
    let org = state
        .store
        .update_org(
            ctx.org_id(),
            req.slug.as_deref(),
            name.as_deref(),
            ctx.actor(),
        )
        .await?;
    Ok(Mutation::ok(org))
}
