//! Teams and their members.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use trove_core::names::validate_name;
use trove_core::{AppError, MembershipId, TeamId};
use trove_store::model::{Member, Team};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::members::membership_id;
use crate::auth::OrgCtx;
use crate::envelope::{Deleted, Item, List, Mutation, PageParams, list};
use crate::error::{ApiResult, AppJson, AppQuery};
use crate::paths::{TeamMemberPath, TeamPath};
use crate::state::AppState;

/// A team's name.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamName {
    /// The name, unique in the org.
    pub name: String,
}

/// A member to add to a team.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AddTeamMember {
    /// The org membership id (`mem_…`).
    pub org_membership_id: MembershipId,
}

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_teams, create_team))
        .routes(routes!(get_team, rename_team, delete_team))
        .routes(routes!(list_team_members, add_team_member))
        .routes(routes!(remove_team_member))
}

fn team_id(text: &str) -> Result<TeamId, AppError> {
    text.parse().map_err(|_| AppError::not_found("team"))
}

/// The org's teams.
#[utoipa::path(get, path = "/v1/orgs/{org}/teams", tag = "teams",
    params(("org" = String, Path, description = "Org slug or id"), PageParams),
    responses((status = 200, body = List<Team>)))]
async fn list_teams(
    State(state): State<AppState>,
    ctx: OrgCtx,
    AppQuery(params): AppQuery<PageParams>,
) -> ApiResult<Json<List<Team>>> {
    let page = params.for_id::<TeamId>()?;
    let rows = state.store.teams(ctx.org_id(), page).await?;
    Ok(list(rows, page, |t| t.id.to_string()))
}

/// Creates a team (owners and admins).
#[utoipa::path(post, path = "/v1/orgs/{org}/teams", tag = "teams", request_body = TeamName,
    params(("org" = String, Path, description = "Org slug or id")),
    responses((status = 201, body = Mutation<Team>)))]
async fn create_team(
    State(state): State<AppState>,
    ctx: OrgCtx,
    AppJson(req): AppJson<TeamName>,
) -> ApiResult<(StatusCode, Json<Mutation<Team>>)> {
    ctx.require_admin("create teams")?;
    let name = validate_name("name", &req.name)?;
    let team = state
        .store
        .create_team(ctx.org_id(), &name, ctx.actor())
        .await?;
    Ok((StatusCode::CREATED, Mutation::ok(team)))
}

/// One team.
#[utoipa::path(get, path = "/v1/orgs/{org}/teams/{team}", tag = "teams",
    params(("org" = String, Path, description = "Org slug or id"), ("team" = String, Path, description = "Team id (`team_…`)")),
    responses((status = 200, body = Item<Team>)))]
async fn get_team(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Path(path): Path<TeamPath>,
) -> ApiResult<Json<Item<Team>>> {
    let item = state.store.team(ctx.org_id(), team_id(&path.team)?).await?;
    Ok(Json(Item { item }))
}

/// Renames a team (owners and admins).
#[utoipa::path(patch, path = "/v1/orgs/{org}/teams/{team}", tag = "teams", request_body = TeamName,
    params(("org" = String, Path, description = "Org slug or id"), ("team" = String, Path, description = "Team id (`team_…`)")),
    responses((status = 200, body = Mutation<Team>)))]
async fn rename_team(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Path(path): Path<TeamPath>,
    AppJson(req): AppJson<TeamName>,
) -> ApiResult<Json<Mutation<Team>>> {
    ctx.require_admin("rename teams")?;
    let name = validate_name("name", &req.name)?;
    let team = state
        .store
        .rename_team(ctx.org_id(), team_id(&path.team)?, &name, ctx.actor())
        .await?;
    Ok(Mutation::ok(team))
}

/// Deletes a team (owners and admins).
#[utoipa::path(delete, path = "/v1/orgs/{org}/teams/{team}", tag = "teams",
    params(("org" = String, Path, description = "Org slug or id"), ("team" = String, Path, description = "Team id (`team_…`)")),
    responses((status = 200, body = Mutation<Deleted>)))]
async fn delete_team(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Path(path): Path<TeamPath>,
) -> ApiResult<Json<Mutation<Deleted>>> {
    ctx.require_admin("delete teams")?;
    let id = team_id(&path.team)?;
    state
        .store
        .delete_team(ctx.org_id(), id, ctx.actor())
        .await?;
    Ok(Mutation::ok(Deleted { id: id.to_string() }))
}

/// A team's members.
#[utoipa::path(get, path = "/v1/orgs/{org}/teams/{team}/members", tag = "teams",
    params(("org" = String, Path, description = "Org slug or id"), ("team" = String, Path, description = "Team id (`team_…`)"), PageParams),
    responses((status = 200, body = List<Member>)))]
async fn list_team_members(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Path(path): Path<TeamPath>,
    AppQuery(params): AppQuery<PageParams>,
) -> ApiResult<Json<List<Member>>> {
    let page = params.for_id::<MembershipId>()?;
    let rows = state
        .store
        .team_members(ctx.org_id(), team_id(&path.team)?, page)
        .await?;
    Ok(list(rows, page, |m| m.id.to_string()))
}

/// Adds an org member to a team (owners and admins).
#[utoipa::path(post, path = "/v1/orgs/{org}/teams/{team}/members", tag = "teams", request_body = AddTeamMember,
    params(("org" = String, Path, description = "Org slug or id"), ("team" = String, Path, description = "Team id (`team_…`)")),
    responses((status = 201, body = Mutation<Member>)))]
async fn add_team_member(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Path(path): Path<TeamPath>,
    AppJson(req): AppJson<AddTeamMember>,
) -> ApiResult<(StatusCode, Json<Mutation<Member>>)> {
    ctx.require_admin("change team members")?;
    let member = state
        .store
        .add_team_member(
            ctx.org_id(),
            team_id(&path.team)?,
            req.org_membership_id,
            ctx.actor(),
        )
        .await?;
    Ok((StatusCode::CREATED, Mutation::ok(member)))
}

/// Removes a member from a team (owners and admins).
#[utoipa::path(delete, path = "/v1/orgs/{org}/teams/{team}/members/{member}", tag = "teams",
    params(("org" = String, Path, description = "Org slug or id"), ("team" = String, Path, description = "Team id (`team_…`)"), ("member" = String, Path, description = "Membership id (`mem_…`)")),
    responses((status = 200, body = Mutation<Deleted>)))]
async fn remove_team_member(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Path(path): Path<TeamMemberPath>,
) -> ApiResult<Json<Mutation<Deleted>>> {
    ctx.require_admin("change team members")?;
    let id = membership_id(&path.member)?;
    state
        .store
        .remove_team_member(ctx.org_id(), team_id(&path.team)?, id, ctx.actor())
        .await?;
    Ok(Mutation::ok(Deleted { id: id.to_string() }))
}
