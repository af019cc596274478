//! Mappings of an instance: list (viewer), create, patch, delete and `preview` (editor). A mapping
//! that names a plugin also needs `editor` on that plugin, since its objects will join it.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use trove_core::{AppError, ConnectorTargetId, MappingId, PluginId, ResourceRole};
use trove_sources::Reference;
use trove_store::connectors::mappings::{
    MappingPatch, NewMapping, selector_matcher, validate_selector,
};
use trove_store::connectors::model::Mapping;
use trove_store::registry::access::ResourceKind;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::source::{head_snapshot, source_target};
use super::{InstancePath, instance_id, require};
use crate::auth::OrgCtx;
use crate::envelope::{Deleted, Item, List, Mutation};
use crate::error::{ApiResult, AppJson};
use crate::state::AppState;

/// At most this many paths in a preview.
pub const MAX_PREVIEW_FILES: usize = 1000;

/// `/v1/orgs/{org}/connector-instances/{instance}/mappings/{mapping}`.
#[derive(Debug, Deserialize)]
pub struct MappingPath {
    /// The instance id.
    pub instance: String,
    /// The mapping id.
    pub mapping: String,
}

/// A selector to try.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PreviewRequest {
    /// The glob, e.g. `sales/skills/**`.
    pub selector: String,
    /// The target (default: the instance's only target).
    #[serde(default)]
    pub target_id: Option<ConnectorTargetId>,
}

/// The files a selector matches at the branch head.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Preview {
    /// The commit listed.
    pub source_revision_ref: String,
    /// The selector, normalised.
    pub selector: String,
    /// Matching file paths, sorted (at most 1000).
    pub files: Vec<String>,
    /// How many files match in all.
    pub total: usize,
    /// Whether `files` was cut at 1000, or the listing itself was incomplete.
    pub truncated: bool,
}

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_mappings, create_mapping))
        .routes(routes!(update_mapping, delete_mapping))
        .routes(routes!(preview_mapping))
}

fn mapping_id(text: &str) -> Result<MappingId, AppError> {
    text.parse()
        .map_err(|_| AppError::not_found("connector mapping"))
}

async fn require_plugin(state: &AppState, ctx: &OrgCtx, plugin: Option<PluginId>) -> ApiResult<()> {
    if let Some(plugin) = plugin {
        state
            .store
            .require_role(
                &ctx.principal(),
                ResourceKind::Plugin,
                plugin.uuid(),
                ResourceRole::Editor,
            )
            .await
            .map_err(|e| match e {
                AppError::NotFound { .. } => {
                    AppError::invalid("pluginId", "no such plugin in this organization")
                }
                other => other,
            })?;
    }
    Ok(())
}

/// The mappings of an instance (viewer).
#[utoipa::path(get, path = "/v1/orgs/{org}/connector-instances/{instance}/mappings", tag = "connectors",
    params(("org" = String, Path, description = "Org slug or id"), ("instance" = String, Path, description = "Instance id (`cin_…`)")),
    responses((status = 200, body = List<Mapping>)))]
async fn list_mappings(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Path(path): Path<InstancePath>,
) -> ApiResult<Json<List<Mapping>>> {
    let id = instance_id(&path.instance)?;
    require(&state, &ctx, id, ResourceRole::Viewer).await?;
    let items = state.store.mappings(ctx.org_id(), id).await?;
    Ok(Json(List {
        items,
        next_cursor: None,
    }))
}

/// Adds a mapping (editor; and editor on its plugin).
#[utoipa::path(post, path = "/v1/orgs/{org}/connector-instances/{instance}/mappings", tag = "connectors", request_body = NewMapping,
    params(("org" = String, Path, description = "Org slug or id"), ("instance" = String, Path, description = "Instance id (`cin_…`)")),
    responses((status = 201, body = Mutation<Mapping>)))]
async fn create_mapping(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Path(path): Path<InstancePath>,
    AppJson(req): AppJson<NewMapping>,
) -> ApiResult<(StatusCode, Json<Mutation<Mapping>>)> {
    let id = instance_id(&path.instance)?;
    require(&state, &ctx, id, ResourceRole::Editor).await?;
    require_plugin(&state, &ctx, req.plugin_id).await?;
    let item = state
        .store
        .create_mapping(ctx.org_id(), id, &req, ctx.actor())
        .await?;
    Ok((StatusCode::CREATED, Mutation::ok(item)))
}

/// Changes a mapping (editor; and editor on a newly named plugin).
#[utoipa::path(patch, path = "/v1/orgs/{org}/connector-instances/{instance}/mappings/{mapping}", tag = "connectors", request_body = MappingPatch,
    params(("org" = String, Path, description = "Org slug or id"), ("instance" = String, Path, description = "Instance id (`cin_…`)"), ("mapping" = String, Path, description = "Mapping id (`cmp_…`)")),
    responses((status = 200, body = Mutation<Mapping>)))]
async fn update_mapping(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Path(path): Path<MappingPath>,
    AppJson(req): AppJson<MappingPatch>,
) -> ApiResult<Json<Mutation<Mapping>>> {
    let id = instance_id(&path.instance)?;
    let mapping = mapping_id(&path.mapping)?;
    require(&state, &ctx, id, ResourceRole::Editor).await?;
    require_plugin(&state, &ctx, req.plugin_id.flatten()).await?;
    let item = state
        .store
        .update_mapping(ctx.org_id(), id, mapping, &req, ctx.actor())
        .await?;
    Ok(Mutation::ok(item))
}

/// Deletes a mapping (editor). The objects it produced stay until a reconcile decides about them.
#[utoipa::path(delete, path = "/v1/orgs/{org}/connector-instances/{instance}/mappings/{mapping}", tag = "connectors",
    params(("org" = String, Path, description = "Org slug or id"), ("instance" = String, Path, description = "Instance id (`cin_…`)"), ("mapping" = String, Path, description = "Mapping id (`cmp_…`)")),
    responses((status = 200, body = Mutation<Deleted>)))]
async fn delete_mapping(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Path(path): Path<MappingPath>,
) -> ApiResult<Json<Mutation<Deleted>>> {
    let id = instance_id(&path.instance)?;
    let mapping = mapping_id(&path.mapping)?;
    require(&state, &ctx, id, ResourceRole::Editor).await?;
    state
        .store
        .delete_mapping(ctx.org_id(), id, mapping, ctx.actor())
        .await?;
    Ok(Mutation::ok(Deleted {
        id: mapping.to_string(),
    }))
}

/// The files a selector matches at the branch head (editor: it reads the repository).
#[utoipa::path(post, path = "/v1/orgs/{org}/connector-instances/{instance}/mappings/preview", tag = "connectors", request_body = PreviewRequest,
    params(("org" = String, Path, description = "Org slug or id"), ("instance" = String, Path, description = "Instance id (`cin_…`)")),
    responses((status = 200, body = Item<Preview>)))]
async fn preview_mapping(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Path(path): Path<InstancePath>,
    AppJson(req): AppJson<PreviewRequest>,
) -> ApiResult<Json<Item<Preview>>> {
    let id = instance_id(&path.instance)?;
    let selector = validate_selector(&req.selector)?;
    let matcher = selector_matcher(&selector)?;
    require(&state, &ctx, id, ResourceRole::Editor).await?;
    let instance = state.store.instance(ctx.org_id(), id).await?;
    let target = match req.target_id {
        Some(t) => instance.targets.iter().find(|x| x.id == t),
        None => instance.targets.first(),
    }
    .ok_or_else(|| AppError::invalid("targetId", "is not a target of this instance"))?;
    let source = source_target(
        &state,
        ctx.org_id(),
        instance.account_id,
        &target.url,
        Reference::Branch(target.branch.clone()),
        target.repository_name.as_deref(),
    )
    .await?;
    let snapshot = head_snapshot(&state, &source).await?;
    let mut files: Vec<String> = snapshot
        .entries()
        .iter()
        .filter(|e| e.kind == trove_discovery::EntryKind::Blob && matcher.is_match(&e.path))
        .map(|e| e.path.clone())
        .collect();
    files.sort();
    let total = files.len();
    files.truncate(MAX_PREVIEW_FILES);
    Ok(Json(Item {
        item: Preview {
            source_revision_ref: snapshot.sha().to_string(),
            selector,
            truncated: total > MAX_PREVIEW_FILES || snapshot.truncated(),
            files,
            total,
        },
    }))
}
