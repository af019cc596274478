//! Plugins: list, create, read, change, lifecycle, member config objects, resolution and access.
//!
//! Any org member may create a plugin (as in the reference system); the creator becomes its manager
//! and it is private until shared. Reading needs `viewer` (held directly, or inherited from an active
//! marketplace), changing needs `editor`, lifecycle and access need `manager`; org owners and admins
//! are managers of everything. Adding an object needs `editor` on the plugin and `viewer` on the object.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use trove_core::{AppError, ConfigObjectId, PluginId, ResourceRole};
use trove_store::registry::Status;
use trove_store::registry::access::{Grant, NewGrant, ResourceKind};
use trove_store::registry::plugins::lifecycle::Lifecycle;
use trove_store::registry::plugins::{
    NewPlugin, Plugin, PluginFilter, PluginObject, PluginPatch, ResolvedPlugin,
};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::access;
use crate::auth::OrgCtx;
use crate::envelope::{Deleted, Item, List, Mutation, PageParams, list};
use crate::error::{ApiResult, AppJson, AppQuery};
use crate::paths::{PluginGrantPath, PluginObjectPath, PluginPath};
use crate::state::AppState;

/// Paging and filters of the plugin and marketplace lists.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RegistryListParams {
    /// Page size, 1-200 (default 50).
    pub limit: Option<u32>,
    /// The `nextCursor` of the previous page.
    pub cursor: Option<String>,
    /// Only resources in this state (default `active`).
    pub status: Option<Status>,
    /// A case-insensitive substring of the name or description.
    pub q: Option<String>,
}

impl RegistryListParams {
    /// The paging part.
    pub fn paging(&self) -> PageParams {
        PageParams {
            limit: self.limit,
            cursor: self.cursor.clone(),
        }
    }

    /// The filter part.
    pub fn filter(&self) -> PluginFilter {
        PluginFilter {
            status: self.status,
            q: self.q.clone(),
        }
    }
}

/// Paging of membership lists.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MembershipListParams {
    /// Page size, 1-200 (default 50).
    pub limit: Option<u32>,
    /// The `nextCursor` of the previous page.
    pub cursor: Option<String>,
    /// Removed memberships too (history).
    pub include_removed: Option<bool>,
}

impl MembershipListParams {
    /// The paging part; the cursor is a membership row id.
    pub fn page(&self) -> Result<trove_store::PageRequest, AppError> {
        PageParams {
            limit: self.limit,
            cursor: self.cursor.clone(),
        }
        .request(|c| Uuid::try_parse(c).ok())
    }
}

/// An object to add to a plugin.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AddPluginObject {
    /// The config object (`cob_…`).
    pub config_object_id: ConfigObjectId,
}

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_plugins, create_plugin))
        .routes(routes!(get_plugin, update_plugin, delete_plugin))
        .routes(routes!(archive_plugin))
        .routes(routes!(restore_plugin))
        .routes(routes!(list_plugin_objects, add_plugin_object))
        .routes(routes!(remove_plugin_object))
        .routes(routes!(resolve_plugin))
        .routes(routes!(list_plugin_access, grant_plugin_access))
        .routes(routes!(revoke_plugin_access))
}

/// Parses a plugin id from a path (anything else is a 404).
pub(crate) fn plugin_id(text: &str) -> Result<PluginId, AppError> {
    text.parse().map_err(|_| AppError::not_found("plugin"))
}

async fn require(state: &AppState, ctx: &OrgCtx, id: PluginId, min: ResourceRole) -> ApiResult<()> {
    state
        .store
        .require_role(&ctx.principal(), ResourceKind::Plugin, id.uuid(), min)
        .await?;
    Ok(())
}

/// The plugins the caller may view, with component counts by type.
#[utoipa::path(get, path = "/v1/orgs/{org}/plugins", tag = "plugins",
    params(("org" = String, Path, description = "Org slug or id"), RegistryListParams),
    responses((status = 200, body = List<Plugin>)))]
async fn list_plugins(
    State(state): State<AppState>,
    ctx: OrgCtx,
    AppQuery(params): AppQuery<RegistryListParams>,
) -> ApiResult<Json<List<Plugin>>> {
    let page = params.paging().for_id::<PluginId>()?;
    let rows = state
        .store
        .plugins(&ctx.principal(), &params.filter(), page)
        .await?;
    Ok(list(rows, page, |p| p.id.to_string()))
}

/// Creates a plugin (any member; the creator becomes its manager).
#[utoipa::path(post, path = "/v1/orgs/{org}/plugins", tag = "plugins", request_body = NewPlugin,
    params(("org" = String, Path, description = "Org slug or id")),
    responses((status = 201, body = Mutation<Plugin>)))]
async fn create_plugin(
    State(state): State<AppState>,
    ctx: OrgCtx,
    AppJson(req): AppJson<NewPlugin>,
) -> ApiResult<(StatusCode, Json<Mutation<Plugin>>)> {
    let new = req.validate()?;
    let plugin = state
        .store
        .create_plugin(&ctx.principal(), &new, ctx.actor())
        .await?;
    Ok((StatusCode::CREATED, Mutation::ok(plugin)))
}

/// One plugin (viewer).
#[utoipa::path(get, path = "/v1/orgs/{org}/plugins/{plugin}", tag = "plugins",
    params(("org" = String, Path, description = "Org slug or id"), ("plugin" = String, Path, description = "Plugin id (`plg_…`)")),
    responses((status = 200, body = Item<Plugin>)))]
async fn get_plugin(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Path(path): Path<PluginPath>,
) -> ApiResult<Json<Item<Plugin>>> {
    let id = plugin_id(&path.plugin)?;
    require(&state, &ctx, id, ResourceRole::Viewer).await?;
    let item = state.store.plugin(ctx.org_id(), id).await?;
    Ok(Json(Item { item }))
}

/// Changes a plugin's name or metadata (editor).
#[utoipa::path(patch, path = "/v1/orgs/{org}/plugins/{plugin}", tag = "plugins", request_body = PluginPatch,
    params(("org" = String, Path, description = "Org slug or id"), ("plugin" = String, Path, description = "Plugin id (`plg_…`)")),
    responses((status = 200, body = Mutation<Plugin>)))]
async fn update_plugin(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Path(path): Path<PluginPath>,
    AppJson(req): AppJson<PluginPatch>,
) -> ApiResult<Json<Mutation<Plugin>>> {
    let id = plugin_id(&path.plugin)?;
    require(&state, &ctx, id, ResourceRole::Editor).await?;
    let patch = req.validate()?;
    let plugin = state
        .store
        .update_plugin(ctx.org_id(), id, &patch, ctx.actor())
        .await?;
    Ok(Mutation::ok(plugin))
}

async fn lifecycle(
    state: &AppState,
    ctx: &OrgCtx,
    path: &PluginPath,
    action: Lifecycle,
) -> ApiResult<Json<Mutation<Plugin>>> {
    let id = plugin_id(&path.plugin)?;
    require(state, ctx, id, ResourceRole::Manager).await?;
    let plugin = state
        .store
        .set_plugin_status(ctx.org_id(), id, action, ctx.actor())
        .await?;
    Ok(Mutation::ok(plugin))
}

/// Soft-deletes a plugin (manager): hidden from lists unless `status=deleted`, restorable.
#[utoipa::path(delete, path = "/v1/orgs/{org}/plugins/{plugin}", tag = "plugins",
    params(("org" = String, Path, description = "Org slug or id"), ("plugin" = String, Path, description = "Plugin id (`plg_…`)")),
    responses((status = 200, body = Mutation<Plugin>)))]
async fn delete_plugin(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Path(path): Path<PluginPath>,
) -> ApiResult<Json<Mutation<Plugin>>> {
    lifecycle(&state, &ctx, &path, Lifecycle::Delete).await
}

/// Archives a plugin (manager): no longer delivered, and no longer lends view access to its objects.
#[utoipa::path(post, path = "/v1/orgs/{org}/plugins/{plugin}/archive", tag = "plugins",
    params(("org" = String, Path, description = "Org slug or id"), ("plugin" = String, Path, description = "Plugin id (`plg_…`)")),
    responses((status = 200, body = Mutation<Plugin>)))]
async fn archive_plugin(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Path(path): Path<PluginPath>,
) -> ApiResult<Json<Mutation<Plugin>>> {
    lifecycle(&state, &ctx, &path, Lifecycle::Archive).await
}

/// Restores an archived or deleted plugin (manager).
#[utoipa::path(post, path = "/v1/orgs/{org}/plugins/{plugin}/restore", tag = "plugins",
    params(("org" = String, Path, description = "Org slug or id"), ("plugin" = String, Path, description = "Plugin id (`plg_…`)")),
    responses((status = 200, body = Mutation<Plugin>)))]
async fn restore_plugin(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Path(path): Path<PluginPath>,
) -> ApiResult<Json<Mutation<Plugin>>> {
    lifecycle(&state, &ctx, &path, Lifecycle::Restore).await
}

/// A plugin's member objects that the caller may view (viewer on the plugin).
#[utoipa::path(get, path = "/v1/orgs/{org}/plugins/{plugin}/config-objects", tag = "plugins",
    params(("org" = String, Path, description = "Org slug or id"), ("plugin" = String, Path, description = "Plugin id (`plg_…`)"), MembershipListParams),
    responses((status = 200, body = List<PluginObject>)))]
async fn list_plugin_objects(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Path(path): Path<PluginPath>,
    AppQuery(params): AppQuery<MembershipListParams>,
) -> ApiResult<Json<List<PluginObject>>> {
    let id = plugin_id(&path.plugin)?;
    let page = params.page()?;
    require(&state, &ctx, id, ResourceRole::Viewer).await?;
    let rows = state
        .store
        .plugin_objects(
            &ctx.principal(),
            id,
            params.include_removed.unwrap_or(false),
            page,
        )
        .await?;
    Ok(list(rows, page, |m| m.membership_id.simple().to_string()))
}

/// Adds an object to a plugin (editor on the plugin, viewer on the object). 201 when added, 200 when
/// it was already a member.
#[utoipa::path(post, path = "/v1/orgs/{org}/plugins/{plugin}/config-objects", tag = "plugins", request_body = AddPluginObject,
    params(("org" = String, Path, description = "Org slug or id"), ("plugin" = String, Path, description = "Plugin id (`plg_…`)")),
    responses((status = 201, body = Mutation<PluginObject>), (status = 200, body = Mutation<PluginObject>)))]
async fn add_plugin_object(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Path(path): Path<PluginPath>,
    AppJson(req): AppJson<AddPluginObject>,
) -> ApiResult<(StatusCode, Json<Mutation<PluginObject>>)> {
    let id = plugin_id(&path.plugin)?;
    require(&state, &ctx, id, ResourceRole::Editor).await?;
    state
        .store
        .require_role(
            &ctx.principal(),
            ResourceKind::ConfigObject,
            req.config_object_id.uuid(),
            ResourceRole::Viewer,
        )
        .await?;
    let (member, created) = state
        .store
        .add_plugin_object(ctx.org_id(), id, req.config_object_id, ctx.actor())
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Mutation::ok(member)))
}

/// Removes an object from a plugin (editor on the plugin).
#[utoipa::path(delete, path = "/v1/orgs/{org}/plugins/{plugin}/config-objects/{object}", tag = "plugins",
    params(("org" = String, Path, description = "Org slug or id"), ("plugin" = String, Path, description = "Plugin id (`plg_…`)"), ("object" = String, Path, description = "Config object id (`cob_…`)")),
    responses((status = 200, body = Mutation<Deleted>)))]
async fn remove_plugin_object(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Path(path): Path<PluginObjectPath>,
) -> ApiResult<Json<Mutation<Deleted>>> {
    let id = plugin_id(&path.plugin)?;
    let object: ConfigObjectId = path
        .object
        .parse()
        .map_err(|_| AppError::not_found("plugin membership"))?;
    require(&state, &ctx, id, ResourceRole::Editor).await?;
    state
        .store
        .detach_object(ctx.org_id(), id, object, ctx.actor())
        .await?;
    Ok(Mutation::ok(Deleted {
        id: object.to_string(),
    }))
}

/// The plugin with the latest version of each active member object the caller may view (viewer).
#[utoipa::path(get, path = "/v1/orgs/{org}/plugins/{plugin}/resolved", tag = "plugins",
    params(("org" = String, Path, description = "Org slug or id"), ("plugin" = String, Path, description = "Plugin id (`plg_…`)")),
    responses((status = 200, body = Item<ResolvedPlugin>)))]
async fn resolve_plugin(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Path(path): Path<PluginPath>,
) -> ApiResult<Json<Item<ResolvedPlugin>>> {
    let id = plugin_id(&path.plugin)?;
    require(&state, &ctx, id, ResourceRole::Viewer).await?;
    let item = state.store.resolve_plugin(&ctx.principal(), id).await?;
    Ok(Json(Item { item }))
}

/// The live grants on a plugin (manager).
#[utoipa::path(get, path = "/v1/orgs/{org}/plugins/{plugin}/access", tag = "plugins",
    params(("org" = String, Path, description = "Org slug or id"), ("plugin" = String, Path, description = "Plugin id (`plg_…`)")),
    responses((status = 200, body = List<Grant>)))]
async fn list_plugin_access(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Path(path): Path<PluginPath>,
) -> ApiResult<Json<List<Grant>>> {
    let id = plugin_id(&path.plugin)?;
    access::list(&state, &ctx, ResourceKind::Plugin, id.uuid()).await
}

/// Grants a role on a plugin to a member, a team or the whole org (manager; org-wide needs an admin).
#[utoipa::path(post, path = "/v1/orgs/{org}/plugins/{plugin}/access", tag = "plugins", request_body = NewGrant,
    params(("org" = String, Path, description = "Org slug or id"), ("plugin" = String, Path, description = "Plugin id (`plg_…`)")),
    responses((status = 201, body = Mutation<Grant>)))]
async fn grant_plugin_access(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Path(path): Path<PluginPath>,
    AppJson(req): AppJson<NewGrant>,
) -> ApiResult<(StatusCode, Json<Mutation<Grant>>)> {
    let id = plugin_id(&path.plugin)?;
    access::grant(&state, &ctx, ResourceKind::Plugin, id.uuid(), req).await
}

/// Revokes a grant on a plugin (manager).
#[utoipa::path(delete, path = "/v1/orgs/{org}/plugins/{plugin}/access/{grant}", tag = "plugins",
    params(("org" = String, Path, description = "Org slug or id"), ("plugin" = String, Path, description = "Plugin id (`plg_…`)"), ("grant" = String, Path, description = "Grant id (`grt_…`)")),
    responses((status = 200, body = Mutation<Deleted>)))]
async fn revoke_plugin_access(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Path(path): Path<PluginGrantPath>,
) -> ApiResult<Json<Mutation<Deleted>>> {
    let id = plugin_id(&path.plugin)?;
    access::revoke(&state, &ctx, ResourceKind::Plugin, id.uuid(), &path.grant).await
}
