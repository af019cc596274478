//! A config object's plugin memberships and access grants.
//!
//! Listing memberships needs `viewer` on the object and shows only plugins the caller may view (in the
//! page query). Attaching or detaching needs `editor` on the plugin and `viewer` on the object.
//! Grants need `manager` on the object (see [`crate::routes::access`]).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use trove_core::{AppError, PluginId, ResourceRole};
use trove_store::registry::access::{Grant, NewGrant, ResourceKind};
use trove_store::registry::objects::ObjectPlugin;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ObjectPath, object_id};
use crate::auth::OrgCtx;
use crate::envelope::{Deleted, List, Mutation, PageParams, list};
use crate::error::{ApiResult, AppJson, AppQuery};
use crate::routes::access;
use crate::state::AppState;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_plugins, attach_plugin))
        .routes(routes!(detach_plugin))
        .routes(routes!(list_access, grant_access))
        .routes(routes!(revoke_access))
}

/// `/v1/orgs/{org}/config-objects/{object}/plugins/{plugin}`.
#[derive(Debug, Deserialize)]
pub struct ObjectPluginPath {
    /// The config object id.
    pub object: String,
    /// The plugin id.
    pub plugin: String,
}

/// `/v1/orgs/{org}/config-objects/{object}/access/{grant}`.
#[derive(Debug, Deserialize)]
pub struct ObjectGrantPath {
    /// The config object id.
    pub object: String,
    /// The grant id.
    pub grant: String,
}

/// A plugin to add the object to.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AttachPlugin {
    /// The plugin (`plg_…`).
    pub plugin_id: PluginId,
}

/// Checks `viewer` on the object and `editor` on the plugin.
async fn may_change_membership(
    state: &AppState,
    ctx: &OrgCtx,
    object: trove_core::ConfigObjectId,
    plugin: PluginId,
) -> ApiResult<()> {
    let p = ctx.principal();
    state
        .store
        .require_role(
            &p,
            ResourceKind::ConfigObject,
            object.uuid(),
            ResourceRole::Viewer,
        )
        .await?;
    state
        .store
        .require_role(
            &p,
            ResourceKind::Plugin,
            plugin.uuid(),
            ResourceRole::Editor,
        )
        .await?;
    Ok(())
}

/// The plugins this object belongs to, among those the caller may view (`viewer` on the object).
#[utoipa::path(get, path = "/v1/orgs/{org}/config-objects/{object}/plugins", tag = "config-objects",
    params(("org" = String, Path, description = "Org slug or id"), ("object" = String, Path, description = "Config object id (`cob_…`)"), PageParams),
    responses((status = 200, body = List<ObjectPlugin>)))]
async fn list_plugins(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Path(path): Path<ObjectPath>,
    AppQuery(params): AppQuery<PageParams>,
) -> ApiResult<Json<List<ObjectPlugin>>> {
    let id = object_id(&path.object)?;
    let page = params.for_id::<PluginId>()?;
    let p = ctx.principal();
    state
        .store
        .require_role(
            &p,
            ResourceKind::ConfigObject,
            id.uuid(),
            ResourceRole::Viewer,
        )
        .await?;
    let rows = state.store.object_plugins(&p, id, page).await?;
    Ok(list(rows, page, |m| m.plugin_id.to_string()))
}

/// Adds the object to a plugin (`editor` on the plugin, `viewer` on the object); idempotent.
#[utoipa::path(post, path = "/v1/orgs/{org}/config-objects/{object}/plugins", tag = "config-objects", request_body = AttachPlugin,
    params(("org" = String, Path, description = "Org slug or id"), ("object" = String, Path, description = "Config object id (`cob_…`)")),
    responses((status = 201, body = Mutation<ObjectPlugin>)))]
async fn attach_plugin(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Path(path): Path<ObjectPath>,
    AppJson(req): AppJson<AttachPlugin>,
) -> ApiResult<(StatusCode, Json<Mutation<ObjectPlugin>>)> {
    let id = object_id(&path.object)?;
    may_change_membership(&state, &ctx, id, req.plugin_id).await?;
    state
        .store
        .attach_object(ctx.org_id(), req.plugin_id, id, ctx.actor())
        .await?;
    let item = state
        .store
        .object_plugin(ctx.org_id(), id, req.plugin_id)
        .await?;
    Ok((StatusCode::CREATED, Mutation::ok(item)))
}

/// Removes the object from a plugin (`editor` on the plugin, `viewer` on the object).
#[utoipa::path(delete, path = "/v1/orgs/{org}/config-objects/{object}/plugins/{plugin}", tag = "config-objects",
    params(("org" = String, Path, description = "Org slug or id"), ("object" = String, Path, description = "Config object id (`cob_…`)"), ("plugin" = String, Path, description = "Plugin id (`plg_…`)")),
    responses((status = 200, body = Mutation<Deleted>)))]
async fn detach_plugin(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Path(path): Path<ObjectPluginPath>,
) -> ApiResult<Json<Mutation<Deleted>>> {
    let id = object_id(&path.object)?;
    let plugin: PluginId = path
        .plugin
        .parse()
        .map_err(|_| AppError::not_found("plugin"))?;
    may_change_membership(&state, &ctx, id, plugin).await?;
    state
        .store
        .detach_object(ctx.org_id(), plugin, id, ctx.actor())
        .await?;
    Ok(Mutation::ok(Deleted {
        id: plugin.to_string(),
    }))
}

/// The grants on a config object (`manager`).
#[utoipa::path(get, path = "/v1/orgs/{org}/config-objects/{object}/access", tag = "config-objects",
    params(("org" = String, Path, description = "Org slug or id"), ("object" = String, Path, description = "Config object id (`cob_…`)")),
    responses((status = 200, body = List<Grant>)))]
async fn list_access(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Path(path): Path<ObjectPath>,
) -> ApiResult<Json<List<Grant>>> {
    let id = object_id(&path.object)?;
    access::list(&state, &ctx, ResourceKind::ConfigObject, id.uuid()).await
}

/// Grants a role on a config object to a member, a team or the whole org (`manager`; org-wide
/// grants need an org admin).
#[utoipa::path(post, path = "/v1/orgs/{org}/config-objects/{object}/access", tag = "config-objects", request_body = NewGrant,
    params(("org" = String, Path, description = "Org slug or id"), ("object" = String, Path, description = "Config object id (`cob_…`)")),
    responses((status = 201, body = Mutation<Grant>)))]
async fn grant_access(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Path(path): Path<ObjectPath>,
    AppJson(req): AppJson<NewGrant>,
) -> ApiResult<(StatusCode, Json<Mutation<Grant>>)> {
    let id = object_id(&path.object)?;
    access::grant(&state, &ctx, ResourceKind::ConfigObject, id.uuid(), req).await
}

/// Revokes a grant on a config object (`manager`).
#[utoipa::path(delete, path = "/v1/orgs/{org}/config-objects/{object}/access/{grant}", tag = "config-objects",
    params(("org" = String, Path, description = "Org slug or id"), ("object" = String, Path, description = "Config object id (`cob_…`)"), ("grant" = String, Path, description = "Grant id (`grt_…`)")),
    responses((status = 200, body = Mutation<Deleted>)))]
async fn revoke_access(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Path(path): Path<ObjectGrantPath>,
) -> ApiResult<Json<Mutation<Deleted>>> {
    let id = object_id(&path.object)?;
    access::revoke(
        &state,
        &ctx,
        ResourceKind::ConfigObject,
        id.uuid(),
        &path.grant,
    )
    .await
}
