//! Members of an organization: list, add by email, change role, remove.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use trove_core::names::{normalize_email, validate_name};
use trove_core::{AppError, MembershipId, OrgRole};
use trove_store::model::Member;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::OrgCtx;
use crate::envelope::{Deleted, Item, List, Mutation, PageParams, list};
use crate::error::{ApiResult, AppJson, AppQuery};
use crate::paths::MemberPath;
use crate::state::AppState;

/// A member to add.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddMember {
    /// The person's email; an account is created (invited, no password yet) when it is new.
    pub email: String,
    /// Their org role (default `member`).
    pub role: Option<OrgRole>,
    /// Their display name, for a new account.
    pub name: Option<String>,
}

/// A role change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeRole {
    /// The new org role.
    pub role: OrgRole,
}

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_members, add_member))
        .routes(routes!(get_member, change_role, remove_member))
}

/// Parses a `mem_…` path segment (a malformed id is simply not found).
pub(crate) fn membership_id(text: &str) -> Result<MembershipId, AppError> {
    text.parse().map_err(|_| AppError::not_found("member"))
}

/// The org's members.
#[utoipa::path(get, path = "/v1/orgs/{org}/members", tag = "members",
    params(("org" = String, Path, description = "Org slug or id"), PageParams),
    responses((status = 200, body = List<Member>)))]
async fn list_members(
    State(state): State<AppState>,
    ctx: OrgCtx,
    AppQuery(params): AppQuery<PageParams>,
) -> ApiResult<Json<List<Member>>> {
    let page = params.for_id::<MembershipId>()?;
    let rows = state.store.members(ctx.org_id(), page).await?;
    Ok(list(rows, page, |m| m.id.to_string()))
}

/// Adds a member by email (owners and admins; only owners may add owners).
#[utoipa::path(post, path = "/v1/orgs/{org}/members", tag = "members", request_body = AddMember,
    params(("org" = String, Path, description = "Org slug or id")),
    responses((status = 201, body = Mutation<Member>)))]
async fn add_member(
    State(state): State<AppState>,
    ctx: OrgCtx,
    AppJson(req): AppJson<AddMember>,
) -> ApiResult<(StatusCode, Json<Mutation<Member>>)> {
    ctx.require_admin("add members")?;
    let role = req.role.unwrap_or(OrgRole::Member);
    if role == OrgRole::Owner {
        ctx.require_owner("add owners")?;
    }
    let email = normalize_email("email", &req.email)?;
    let name = req
        .name
        .as_deref()
        .map(|n| validate_name("name", n))
        .transpose()?;
    let member = state
        .store
        .add_member(ctx.org_id(), &email, name.as_deref(), role, ctx.actor())
        .await?;
    Ok((StatusCode::CREATED, Mutation::ok(member)))
}

/// One member.
#[utoipa::path(get, path = "/v1/orgs/{org}/members/{member}", tag = "members",
    params(("org" = String, Path, description = "Org slug or id"), ("member" = String, Path, description = "Membership id (`mem_…`)")),
    responses((status = 200, body = Item<Member>)))]
async fn get_member(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Path(path): Path<MemberPath>,
) -> ApiResult<Json<Item<Member>>> {
    let item = state
        .store
        .member(ctx.org_id(), membership_id(&path.member)?)
        .await?;
    Ok(Json(Item { item }))
}

/// Changes a member's role (owners and admins; only owners may grant or take away `owner`). The last
/// owner cannot be demoted.
#[utoipa::path(patch, path = "/v1/orgs/{org}/members/{member}", tag = "members", request_body = ChangeRole,
    params(("org" = String, Path, description = "Org slug or id"), ("member" = String, Path, description = "Membership id (`mem_…`)")),
    responses((status = 200, body = Mutation<Member>)))]
async fn change_role(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Path(path): Path<MemberPath>,
    AppJson(req): AppJson<ChangeRole>,
) -> ApiResult<Json<Mutation<Member>>> {
    ctx.require_admin("change member roles")?;
    let id = membership_id(&path.member)?;
    let current = state.store.member(ctx.org_id(), id).await?;
    if req.role == OrgRole::Owner || current.role == OrgRole::Owner {
        ctx.require_owner("grant or remove the owner role")?;
    }
    let member = state
        .store
        .change_role(ctx.org_id(), id, req.role, ctx.actor())
        .await?;
    Ok(Mutation::ok(member))
}

/// Removes a member (owners and admins; only owners may remove owners; anyone may leave). The last owner
/// cannot be removed.
#[utoipa::path(delete, path = "/v1/orgs/{org}/members/{member}", tag = "members",
    params(("org" = String, Path, description = "Org slug or id"), ("member" = String, Path, description = "Membership id (`mem_…`)")),
    responses((status = 200, body = Mutation<Deleted>)))]
async fn remove_member(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Path(path): Path<MemberPath>,
) -> ApiResult<Json<Mutation<Deleted>>> {
    let id = membership_id(&path.member)?;
    if id != ctx.membership_id {
        ctx.require_admin("remove members")?;
        let current = state.store.member(ctx.org_id(), id).await?;
        if current.role == OrgRole::Owner {
            ctx.require_owner("remove owners")?;
        }
    }
    state
        .store
        .remove_member(ctx.org_id(), id, ctx.actor())
        .await?;
    Ok(Mutation::ok(Deleted { id: id.to_string() }))
}
