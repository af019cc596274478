//! Marketplaces: list, create, read, change, lifecycle, ordered plugin membership, resolution and
//! access.
//!
//! Any org member may create a marketplace (the issue settles it so; DESIGN's "created by admins"
//! reflects the reference system): the creator becomes its manager and it stays private until shared,
//! and only owners and admins may share it with the whole org, so a member cannot publish to everyone
//! on their own. Reading needs `viewer`, changing and reordering need `editor`, lifecycle and access
//! need `manager`. Adding a plugin needs `editor` on the marketplace and `viewer` on the plugin.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use trove_core::{AppError, MarketplaceId, PluginId, ResourceRole};
use trove_store::registry::access::{Grant, NewGrant, ResourceKind};
use trove_store::registry::marketplaces::{
    Marketplace, MarketplacePatch, MarketplacePlugin, NewMarketplace, ResolvedMarketplace,
};
use trove_store::registry::plugins::lifecycle::Lifecycle;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::access;
use super::plugins::{MembershipListParams, RegistryListParams, plugin_id};
use crate::auth::OrgCtx;
use crate::envelope::{Deleted, Item, List, Mutation, list};
use crate::error::{ApiResult, AppJson, AppQuery};
use crate::paths::{MarketplaceGrantPath, MarketplacePath, MarketplacePluginPath};
use crate::state::AppState;

/// A plugin to add to a marketplace (at the end).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AddMarketplacePlugin {
    /// The plugin (`plg_…`).
    pub plugin_id: PluginId,
}

/// The order of a marketplace's plugins.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PluginOrder {
    /// Every plugin the marketplace lists, each once, first to last.
    pub plugin_ids: Vec<PluginId>,
}

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_marketplaces, create_marketplace))
        .routes(routes!(
            get_marketplace,
            update_marketplace,
            delete_marketplace
        ))
        .routes(routes!(archive_marketplace))
        .routes(routes!(restore_marketplace))
        .routes(routes!(list_marketplace_plugins, add_marketplace_plugin))
        .routes(routes!(remove_marketplace_plugin))
        .routes(routes!(reorder_marketplace_plugins))
        .routes(routes!(resolve_marketplace))
        .routes(routes!(list_marketplace_access, grant_marketplace_access))
        .routes(routes!(revoke_marketplace_access))
}

fn marketplace_id(text: &str) -> Result<MarketplaceId, AppError> {
    text.parse().map_err(|_| AppError::not_found("marketplace"))
}

/// Parses the path's marketplace and checks the caller holds `min` on it.
async fn require(
    state: &AppState,
    ctx: &OrgCtx,
    path: &str,
    min: ResourceRole,
) -> ApiResult<MarketplaceId> {
    let id = marketplace_id(path)?;
    state
        .store
        .require_role(&ctx.principal(), ResourceKind::Marketplace, id.uuid(), min)
        .await?;
    Ok(id)
}

/// The marketplaces the caller may view, with plugin counts.
#[utoipa::path(get, path = "/v1/orgs/{org}/marketplaces", tag = "marketplaces",
    params(("org" = String, Path, description = "Org slug or id"), RegistryListParams),
    responses((status = 200, body = List<Marketplace>)))]
async fn list_marketplaces(
    State(state): State<AppState>,
    ctx: OrgCtx,
    AppQuery(params): AppQuery<RegistryListParams>,
) -> ApiResult<Json<List<Marketplace>>> {
    let page = params.paging().for_id::<MarketplaceId>()?;
    let rows = state
        .store
        .marketplaces(&ctx.principal(), &params.filter(), page)
        .await?;
    Ok(list(rows, page, |m| m.id.to_string()))
}

/// Creates a marketplace (any member; the creator becomes its manager).
#[utoipa::path(post, path = "/v1/orgs/{org}/marketplaces", tag = "marketplaces", request_body = NewMarketplace,
    params(("org" = String, Path, description = "Org slug or id")),
    responses((status = 201, body = Mutation<Marketplace>)))]
async fn create_marketplace(
    State(state): State<AppState>,
    ctx: OrgCtx,
    AppJson(req): AppJson<NewMarketplace>,
) -> ApiResult<(StatusCode, Json<Mutation<Marketplace>>)> {
    let new = req.validate()?;
    let item = state
        .store
        .create_marketplace(&ctx.principal(), &new, ctx.actor())
        .await?;
    Ok((StatusCode::CREATED, Mutation::ok(item)))
}

/// One marketplace (viewer).
#[utoipa::path(get, path = "/v1/orgs/{org}/marketplaces/{marketplace}", tag = "marketplaces",
    params(("org" = String, Path, description = "Org slug or id"), ("marketplace" = String, Path, description = "Marketplace id (`mkt_…`)")),
    responses((status = 200, body = Item<Marketplace>)))]
async fn get_marketplace(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Path(path): Path<MarketplacePath>,
) -> ApiResult<Json<Item<Marketplace>>> {
    let id = require(&state, &ctx, &path.marketplace, ResourceRole::Viewer).await?;
    let item = state.store.marketplace(ctx.org_id(), id).await?;
    Ok(Json(Item { item }))
}

/// Changes a marketplace's name, description or owner (editor).
#[utoipa::path(patch, path = "/v1/orgs/{org}/marketplaces/{marketplace}", tag = "marketplaces", request_body = MarketplacePatch,
    params(("org" = String, Path, description = "Org slug or id"), ("marketplace" = String, Path, description = "Marketplace id (`mkt_…`)")),
    responses((status = 200, body = Mutation<Marketplace>)))]
async fn update_marketplace(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Path(path): Path<MarketplacePath>,
    AppJson(req): AppJson<MarketplacePatch>,
) -> ApiResult<Json<Mutation<Marketplace>>> {
    let id = require(&state, &ctx, &path.marketplace, ResourceRole::Editor).await?;
    let patch = req.validate()?;
    let item = state
        .store
        .update_marketplace(ctx.org_id(), id, &patch, ctx.actor())
        .await?;
    Ok(Mutation::ok(item))
}

async fn lifecycle(
    state: &AppState,
    ctx: &OrgCtx,
    path: &MarketplacePath,
    action: Lifecycle,
) -> ApiResult<Json<Mutation<Marketplace>>> {
    let id = require(state, ctx, &path.marketplace, ResourceRole::Manager).await?;
    let item = state
        .store
        .set_marketplace_status(ctx.org_id(), id, action, ctx.actor())
        .await?;
    Ok(Mutation::ok(item))
}

/// Soft-deletes a marketplace (manager): hidden from lists unless `status=deleted`, restorable.
#[utoipa::path(delete, path = "/v1/orgs/{org}/marketplaces/{marketplace}", tag = "marketplaces",
    params(("org" = String, Path, description = "Org slug or id"), ("marketplace" = String, Path, description = "Marketplace id (`mkt_…`)")),
    responses((status = 200, body = Mutation<Marketplace>)))]
async fn delete_marketplace(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Path(path): Path<MarketplacePath>,
) -> ApiResult<Json<Mutation<Marketplace>>> {
    lifecycle(&state, &ctx, &path, Lifecycle::Delete).await
}

/// Archives a marketplace (manager): its grants stop lending view access to its plugins.
#[utoipa::path(post, path = "/v1/orgs/{org}/marketplaces/{marketplace}/archive", tag = "marketplaces",
    params(("org" = String, Path, description = "Org slug or id"), ("marketplace" = String, Path, description = "Marketplace id (`mkt_…`)")),
    responses((status = 200, body = Mutation<Marketplace>)))]
async fn archive_marketplace(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Path(path): Path<MarketplacePath>,
) -> ApiResult<Json<Mutation<Marketplace>>> {
    lifecycle(&state, &ctx, &path, Lifecycle::Archive).await
}

/// Restores an archived or deleted marketplace (manager).
#[utoipa::path(post, path = "/v1/orgs/{org}/marketplaces/{marketplace}/restore", tag = "marketplaces",
    params(("org" = String, Path, description = "Org slug or id"), ("marketplace" = String, Path, description = "Marketplace id (`mkt_…`)")),
    responses((status = 200, body = Mutation<Marketplace>)))]
async fn restore_marketplace(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Path(path): Path<MarketplacePath>,
) -> ApiResult<Json<Mutation<Marketplace>>> {
    lifecycle(&state, &ctx, &path, Lifecycle::Restore).await
}

/// A marketplace's plugins in order, with component counts, limited to those the caller may view
/// (viewer on the marketplace).
#[utoipa::path(get, path = "/v1/orgs/{org}/marketplaces/{marketplace}/plugins", tag = "marketplaces",
    params(("org" = String, Path, description = "Org slug or id"), ("marketplace" = String, Path, description = "Marketplace id (`mkt_…`)"), MembershipListParams),
    responses((status = 200, body = List<MarketplacePlugin>)))]
async fn list_marketplace_plugins(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Path(path): Path<MarketplacePath>,
    AppQuery(params): AppQuery<MembershipListParams>,
) -> ApiResult<Json<List<MarketplacePlugin>>> {
    let page = params.page()?;
    let id = require(&state, &ctx, &path.marketplace, ResourceRole::Viewer).await?;
    let rows = state
        .store
        .marketplace_plugins(
            &ctx.principal(),
            id,
            params.include_removed.unwrap_or(false),
            page,
        )
        .await?;
    Ok(list(rows, page, |m| m.membership_id.simple().to_string()))
}

/// Adds a plugin at the end of a marketplace (editor on the marketplace, viewer on the plugin). 201
/// when added, 200 when it was already listed.
#[utoipa::path(post, path = "/v1/orgs/{org}/marketplaces/{marketplace}/plugins", tag = "marketplaces", request_body = AddMarketplacePlugin,
    params(("org" = String, Path, description = "Org slug or id"), ("marketplace" = String, Path, description = "Marketplace id (`mkt_…`)")),
    responses((status = 201, body = Mutation<MarketplacePlugin>), (status = 200, body = Mutation<MarketplacePlugin>)))]
async fn add_marketplace_plugin(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Path(path): Path<MarketplacePath>,
    AppJson(req): AppJson<AddMarketplacePlugin>,
) -> ApiResult<(StatusCode, Json<Mutation<MarketplacePlugin>>)> {
    let id = require(&state, &ctx, &path.marketplace, ResourceRole::Editor).await?;
    state
        .store
        .require_role(
            &ctx.principal(),
            ResourceKind::Plugin,
            req.plugin_id.uuid(),
            ResourceRole::Viewer,
        )
        .await?;
    let (member, created) = state
        .store
        .add_marketplace_plugin(&ctx.principal(), id, req.plugin_id, ctx.actor())
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Mutation::ok(member)))
}

/// Removes a plugin from a marketplace (editor on the marketplace).
#[utoipa::path(delete, path = "/v1/orgs/{org}/marketplaces/{marketplace}/plugins/{plugin}", tag = "marketplaces",
    params(("org" = String, Path, description = "Org slug or id"), ("marketplace" = String, Path, description = "Marketplace id (`mkt_…`)"), ("plugin" = String, Path, description = "Plugin id (`plg_…`)")),
    responses((status = 200, body = Mutation<Deleted>)))]
async fn remove_marketplace_plugin(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Path(path): Path<MarketplacePluginPath>,
) -> ApiResult<Json<Mutation<Deleted>>> {
    let id = require(&state, &ctx, &path.marketplace, ResourceRole::Editor).await?;
    let plugin = plugin_id(&path.plugin)?;
    state
        .store
        .remove_marketplace_plugin(ctx.org_id(), id, plugin, ctx.actor())
        .await?;
    Ok(Mutation::ok(Deleted {
        id: plugin.to_string(),
    }))
}

/// Puts a marketplace's plugins in a new order (editor): `pluginIds` lists every listed plugin once.
#[utoipa::path(put, path = "/v1/orgs/{org}/marketplaces/{marketplace}/order", tag = "marketplaces", request_body = PluginOrder,
    params(("org" = String, Path, description = "Org slug or id"), ("marketplace" = String, Path, description = "Marketplace id (`mkt_…`)")),
    responses((status = 200, body = Mutation<PluginOrder>)))]
async fn reorder_marketplace_plugins(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Path(path): Path<MarketplacePath>,
    AppJson(req): AppJson<PluginOrder>,
) -> ApiResult<Json<Mutation<PluginOrder>>> {
    let id = require(&state, &ctx, &path.marketplace, ResourceRole::Editor).await?;
    state
        .store
        .reorder_marketplace_plugins(ctx.org_id(), id, &req.plugin_ids, ctx.actor())
        .await?;
    Ok(Mutation::ok(req))
}

/// The marketplace, its active plugins the caller may view (in order, with component counts), and the
/// repository it came from (viewer).
#[utoipa::path(get, path = "/v1/orgs/{org}/marketplaces/{marketplace}/resolved", tag = "marketplaces",
    params(("org" = String, Path, description = "Org slug or id"), ("marketplace" = String, Path, description = "Marketplace id (`mkt_…`)")),
    responses((status = 200, body = Item<ResolvedMarketplace>)))]
async fn resolve_marketplace(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Path(path): Path<MarketplacePath>,
) -> ApiResult<Json<Item<ResolvedMarketplace>>> {
    let id = require(&state, &ctx, &path.marketplace, ResourceRole::Viewer).await?;
    let item = state
        .store
        .resolve_marketplace(&ctx.principal(), id)
        .await?;
    Ok(Json(Item { item }))
}

/// The live grants on a marketplace (manager).
#[utoipa::path(get, path = "/v1/orgs/{org}/marketplaces/{marketplace}/access", tag = "marketplaces",
    params(("org" = String, Path, description = "Org slug or id"), ("marketplace" = String, Path, description = "Marketplace id (`mkt_…`)")),
    responses((status = 200, body = List<Grant>)))]
async fn list_marketplace_access(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Path(path): Path<MarketplacePath>,
) -> ApiResult<Json<List<Grant>>> {
    let id = marketplace_id(&path.marketplace)?;
    access::list(&state, &ctx, ResourceKind::Marketplace, id.uuid()).await
}

/// Grants a role on a marketplace to a member, a team or the whole org (manager; org-wide needs an
/// admin). Viewers of an active marketplace may view its plugins and their objects.
#[utoipa::path(post, path = "/v1/orgs/{org}/marketplaces/{marketplace}/access", tag = "marketplaces", request_body = NewGrant,
    params(("org" = String, Path, description = "Org slug or id"), ("marketplace" = String, Path, description = "Marketplace id (`mkt_…`)")),
    responses((status = 201, body = Mutation<Grant>)))]
async fn grant_marketplace_access(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Path(path): Path<MarketplacePath>,
    AppJson(req): AppJson<NewGrant>,
) -> ApiResult<(StatusCode, Json<Mutation<Grant>>)> {
    let id = marketplace_id(&path.marketplace)?;
    access::grant(&state, &ctx, ResourceKind::Marketplace, id.uuid(), req).await
}

/// Revokes a grant on a marketplace (manager).
#[utoipa::path(delete, path = "/v1/orgs/{org}/marketplaces/{marketplace}/access/{grant}", tag = "marketplaces",
    params(("org" = String, Path, description = "Org slug or id"), ("marketplace" = String, Path, description = "Marketplace id (`mkt_…`)"), ("grant" = String, Path, description = "Grant id (`grt_…`)")),
    responses((status = 200, body = Mutation<Deleted>)))]
async fn revoke_marketplace_access(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Path(path): Path<MarketplaceGrantPath>,
) -> ApiResult<Json<Mutation<Deleted>>> {
    let id = marketplace_id(&path.marketplace)?;
    access::revoke(
        &state,
        &ctx,
        ResourceKind::Marketplace,
        id.uuid(),
        &path.grant,
    )
    .await
}
