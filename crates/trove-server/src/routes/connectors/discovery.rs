//! Discovery of an instance's branch head (cached by commit in the engine), the head's file tree
//! paged by prefix, and `discovery/apply` (store the selection, queue the reconcile that imports it).

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use trove_core::{AppError, ConnectorInstanceId, ResourceRole};
use trove_sources::Reference;
use trove_store::connectors::model::Trigger;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::source::{head_snapshot, source_target};
use super::{InstancePath, Queued, instance_id, main_target, queue_sync, require};
use crate::auth::OrgCtx;
use crate::envelope::{Item, List};
use crate::error::{ApiResult, AppJson, AppQuery};
use crate::state::AppState;

/// At most this many keys in one apply.
pub const MAX_SELECTED_KEYS: usize = 200;

/// What discovery found at the branch head.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DiscoveryView {
    /// The instance.
    pub instance_id: ConnectorInstanceId,
    /// The commit discovered.
    pub source_revision_ref: String,
    /// Whether plugins that appear later are imported.
    pub auto_import: bool,
    /// The stored selection: plugin key → selected.
    pub selections: HashMap<String, bool>,
    /// Classification, marketplace, candidate plugins (with their `key`, components and warnings)
    /// and warnings, with camelCase field names.
    #[schema(value_type = Object)]
    pub discovery: serde_json::Value,
}

/// One entry of the head's tree.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TreeEntry {
    /// The path (also the cursor).
    pub path: String,
    /// `blob`, `tree`, `symlink` or `submodule`.
    pub kind: String,
    /// Size in bytes (0 for folders).
    pub size: u64,
}

/// Paging of the tree.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TreeParams {
    /// Page size, 1-500 (default 100).
    pub limit: Option<u32>,
    /// The `nextCursor` of the previous page (a path).
    pub cursor: Option<String>,
    /// Only paths under this folder (or starting with this text).
    pub prefix: Option<String>,
}

/// Which discovered plugins to import.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ApplyRequest {
    /// Keys of discovered plugins to import (at most 200); every other discovered key is deselected.
    pub selected_keys: Vec<String>,
    /// Also import plugins that appear later (default `false`).
    #[serde(default)]
    pub auto_import: bool,
}

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_discovery))
        .routes(routes!(get_tree))
        .routes(routes!(apply_discovery))
}

/// Recursively renames object keys from snake_case to camelCase (API convention).
fn camel(value: serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(map) => map
            .into_iter()
            .map(|(k, v)| {
                let mut out = String::with_capacity(k.len());
                let mut upper = false;
                for c in k.chars() {
                    if c == '_' && !out.is_empty() {
                        upper = true;
                    } else if upper {
                        out.extend(c.to_uppercase());
                        upper = false;
                    } else {
                        out.push(c);
                    }
                }
                (out, camel(v))
            })
            .collect(),
        serde_json::Value::Array(items) => items.into_iter().map(camel).collect(),
        other => other,
    }
}

/// Discovery of the branch head (viewer), computed once per commit and cached.
#[utoipa::path(get, path = "/v1/orgs/{org}/connector-instances/{instance}/discovery", tag = "connectors",
    params(("org" = String, Path, description = "Org slug or id"), ("instance" = String, Path, description = "Instance id (`cin_…`)")),
    responses((status = 200, body = Item<DiscoveryView>)))]
async fn get_discovery(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Path(path): Path<InstancePath>,
) -> ApiResult<Json<Item<DiscoveryView>>> {
    let id = instance_id(&path.instance)?;
    require(&state, &ctx, id, ResourceRole::Viewer).await?;
    let instance = state.store.instance(ctx.org_id(), id).await?;
    let target = main_target(&instance)?;
    let found = state
        .engine
        .discover_target(ctx.org_id(), target.id)
        .await?;
    let selections = state.store.selections_of(id).await?;
    Ok(Json(Item {
        item: DiscoveryView {
            instance_id: id,
            source_revision_ref: found.sha,
            auto_import: instance.auto_import,
            selections,
            discovery: camel(serde_json::to_value(&found.discovery).map_err(AppError::internal)?),
        },
    }))
}

/// The files and folders at the branch head, by path, under `prefix` (viewer).
#[utoipa::path(get, path = "/v1/orgs/{org}/connector-instances/{instance}/discovery/tree", tag = "connectors",
    params(("org" = String, Path, description = "Org slug or id"), ("instance" = String, Path, description = "Instance id (`cin_…`)"), TreeParams),
    responses((status = 200, body = List<TreeEntry>)))]
async fn get_tree(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Path(path): Path<InstancePath>,
    AppQuery(params): AppQuery<TreeParams>,
) -> ApiResult<Json<List<TreeEntry>>> {
    let id = instance_id(&path.instance)?;
    let limit = params.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(AppError::invalid("limit", "must be between 1 and 500").into());
    }
    require(&state, &ctx, id, ResourceRole::Viewer).await?;
    let instance = state.store.instance(ctx.org_id(), id).await?;
    let target = main_target(&instance)?;
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
    let prefix = params
        .prefix
        .as_deref()
        .unwrap_or("")
        .trim_start_matches('/');
    let cursor = params.cursor.as_deref().filter(|c| !c.is_empty());
    let mut entries: Vec<&trove_discovery::Entry> = snapshot
        .entries()
        .iter()
        .filter(|e| e.path.starts_with(prefix))
        .filter(|e| cursor.is_none_or(|c| e.path.as_str() > c))
        .collect();
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    let more = entries.len() > limit as usize;
    entries.truncate(limit as usize);
    let items: Vec<TreeEntry> = entries
        .into_iter()
        .map(|e| TreeEntry {
            path: e.path.clone(),
            kind: format!("{:?}", e.kind).to_lowercase(),
            size: e.size,
        })
        .collect();
    let next_cursor = if more {
        items.last().map(|e| e.path.clone())
    } else {
        None
    };
    Ok(Json(List { items, next_cursor }))
}

/// Stores which discovered plugins to import and the auto-import flag (editor), then queues the
/// reconcile that imports them at the head commit: 202 with the job and the sync event. Keys not
/// found by discovery, or of unsupported plugins, are a 400.
#[utoipa::path(post, path = "/v1/orgs/{org}/connector-instances/{instance}/discovery/apply", tag = "connectors", request_body = ApplyRequest,
    params(("org" = String, Path, description = "Org slug or id"), ("instance" = String, Path, description = "Instance id (`cin_…`)")),
    responses((status = 202, body = Queued)))]
async fn apply_discovery(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Path(path): Path<InstancePath>,
    AppJson(req): AppJson<ApplyRequest>,
) -> ApiResult<(StatusCode, Json<Queued>)> {
    let id = instance_id(&path.instance)?;
    if req.selected_keys.len() > MAX_SELECTED_KEYS {
        return Err(AppError::invalid(
            "selectedKeys",
            format!("at most {MAX_SELECTED_KEYS} keys per apply"),
        )
        .into());
    }
    require(&state, &ctx, id, ResourceRole::Editor).await?;
    let instance = state.store.instance(ctx.org_id(), id).await?;
    let target = main_target(&instance)?;
    let found = state
        .engine
        .discover_target(ctx.org_id(), target.id)
        .await?;
    let known: Vec<String> = found
        .discovery
        .plugins
        .iter()
        .map(|p| p.key.clone())
        .collect();
    for key in &req.selected_keys {
        match found.discovery.plugins.iter().find(|p| &p.key == key) {
            None => {
                return Err(AppError::invalid(
                    "selectedKeys",
                    format!("`{key}` is not a plugin discovered at the head commit"),
                )
                .into());
            }
            Some(p) if !p.supported => {
                return Err(AppError::invalid(
                    "selectedKeys",
                    format!("`{key}` cannot be imported (see its warnings in the discovery)"),
                )
                .into());
            }
            Some(_) => {}
        }
    }
    state
        .store
        .apply_selection(
            ctx.org_id(),
            id,
            &req.selected_keys,
            &known,
            req.auto_import,
            ctx.actor(),
        )
        .await?;
    let instance = state.store.instance(ctx.org_id(), id).await?;
    let (event, job) = queue_sync(&state, ctx.org_id(), &instance, Trigger::Manual).await?;
    Ok(Queued::accepted(event, job))
}
