//! Syncs and sync events: `sync` (queue a reconcile now), `auto-import`, and
//! `connector-sync-events` (list, read, `retry`, which refuses an event that is queued or running).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use trove_core::{AppError, ConnectorInstanceId, ResourceRole, SyncEventId};
use trove_store::connectors::instances::InstancePatch;
use trove_store::connectors::model::{Instance, SyncEvent, SyncStatus, Trigger};
use trove_store::queue::NewJob;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{InstancePath, Queued, instance_id, queue_sync, redacted, require};
use crate::auth::OrgCtx;
use crate::envelope::{Item, List, Mutation, PageParams, list};
use crate::error::{ApiResult, AppJson, AppQuery};
use crate::state::AppState;

/// `/v1/orgs/{org}/connector-sync-events/{event}`.
#[derive(Debug, Deserialize)]
pub struct EventPath {
    /// The sync event id.
    pub event: String,
}

/// Paging and filters of the sync event list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EventListParams {
    /// Page size, 1-200 (default 50).
    pub limit: Option<u32>,
    /// The `nextCursor` of the previous page.
    pub cursor: Option<String>,
    /// Only events of this instance (`cin_…`).
    pub instance_id: Option<ConnectorInstanceId>,
    /// Only events in this state.
    pub status: Option<SyncStatus>,
}

/// The auto-import switch.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AutoImport {
    /// Import plugins that appear in the repository later.
    pub auto_import: bool,
}

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(sync_instance))
        .routes(routes!(set_auto_import))
        .routes(routes!(list_events))
        .routes(routes!(get_event))
        .routes(routes!(retry_event))
}

fn event_id(text: &str) -> Result<SyncEventId, AppError> {
    text.parse().map_err(|_| AppError::not_found("sync event"))
}

/// Queues a reconcile of the instance's branch head now (editor): 202 with the job and the sync
/// event. When a reconcile of the same head is already queued, that one is returned.
#[utoipa::path(post, path = "/v1/orgs/{org}/connector-instances/{instance}/sync", tag = "connectors",
    params(("org" = String, Path, description = "Org slug or id"), ("instance" = String, Path, description = "Instance id (`cin_…`)")),
    responses((status = 202, body = Queued)))]
async fn sync_instance(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Path(path): Path<InstancePath>,
) -> ApiResult<(StatusCode, Json<Queued>)> {
    let id = instance_id(&path.instance)?;
    require(&state, &ctx, id, ResourceRole::Editor).await?;
    let instance = state.store.instance(ctx.org_id(), id).await?;
    let (event, job) = queue_sync(&state, ctx.org_id(), &instance, Trigger::Manual).await?;
    Ok(Queued::accepted(event, job))
}

/// Turns auto-import of plugins that appear later on or off (editor).
#[utoipa::path(post, path = "/v1/orgs/{org}/connector-instances/{instance}/auto-import", tag = "connectors", request_body = AutoImport,
    params(("org" = String, Path, description = "Org slug or id"), ("instance" = String, Path, description = "Instance id (`cin_…`)")),
    responses((status = 200, body = Mutation<Instance>)))]
async fn set_auto_import(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Path(path): Path<InstancePath>,
    AppJson(req): AppJson<AutoImport>,
) -> ApiResult<Json<Mutation<Instance>>> {
    let id = instance_id(&path.instance)?;
    require(&state, &ctx, id, ResourceRole::Editor).await?;
    let patch = InstancePatch {
        auto_import: Some(req.auto_import),
        ..Default::default()
    };
    let item = state
        .store
        .update_instance(ctx.org_id(), id, &patch, ctx.actor())
        .await?;
    Ok(Mutation::ok(redacted(item)))
}

/// Sync events of the instances the caller may view, newest first (viewer on each, filtered in SQL).
#[utoipa::path(get, path = "/v1/orgs/{org}/connector-sync-events", tag = "connectors",
    params(("org" = String, Path, description = "Org slug or id"), EventListParams),
    responses((status = 200, body = List<SyncEvent>)))]
async fn list_events(
    State(state): State<AppState>,
    ctx: OrgCtx,
    AppQuery(params): AppQuery<EventListParams>,
) -> ApiResult<Json<List<SyncEvent>>> {
    let page = PageParams {
        limit: params.limit,
        cursor: params.cursor.clone(),
    }
    .for_id::<SyncEventId>()?;
    if let Some(instance) = params.instance_id {
        require(&state, &ctx, instance, ResourceRole::Viewer).await?;
    }
    let rows = state
        .store
        .visible_sync_events(
            &ctx.principal(),
            params.instance_id,
            params.status.map(SyncStatus::as_str),
            page,
        )
        .await?;
    Ok(list(rows, page, |e| e.id.to_string()))
}

/// One sync event: status, the commit reconciled, counts and per-file errors (viewer on its instance).
#[utoipa::path(get, path = "/v1/orgs/{org}/connector-sync-events/{event}", tag = "connectors",
    params(("org" = String, Path, description = "Org slug or id"), ("event" = String, Path, description = "Sync event id (`cse_…`)")),
    responses((status = 200, body = Item<SyncEvent>)))]
async fn get_event(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Path(path): Path<EventPath>,
) -> ApiResult<Json<Item<SyncEvent>>> {
    let id = event_id(&path.event)?;
    let instance = state.store.sync_event_instance(ctx.org_id(), id).await?;
    require(&state, &ctx, instance, ResourceRole::Viewer).await?;
    let item = state.store.sync_event(ctx.org_id(), id).await?;
    Ok(Json(Item { item }))
}

/// Runs a finished sync event again (editor on its instance): 202 with its new job. An event that is
/// queued or running is refused with 409 `sync_in_progress`.
#[utoipa::path(post, path = "/v1/orgs/{org}/connector-sync-events/{event}/retry", tag = "connectors",
    params(("org" = String, Path, description = "Org slug or id"), ("event" = String, Path, description = "Sync event id (`cse_…`)")),
    responses((status = 202, body = Queued)))]
async fn retry_event(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Path(path): Path<EventPath>,
) -> ApiResult<(StatusCode, Json<Queued>)> {
    let id = event_id(&path.event)?;
    let instance = state.store.sync_event_instance(ctx.org_id(), id).await?;
    require(&state, &ctx, instance, ResourceRole::Editor).await?;
    let status = state.store.instance(ctx.org_id(), instance).await?.status;
    if status == "disabled" {
        return Err(AppError::conflict(
            "connector_instance_disabled",
            "this connector instance is disabled; enable it first",
        )
        .into());
    }
    let mut tx = state.store.db.begin().await?;
    let mut event = state
        .store
        .requeue_sync_event(&mut tx, ctx.org_id(), id)
        .await?;
    // No dedupe key: a retry must run this very event, not be folded into another one.
    let job = NewJob::typed(&trove_sync::jobs::ReconcileJob { event_id: id })?;
    let enqueued = state.store.enqueue_in(&mut tx, job).await?;
    state
        .store
        .set_sync_event_job(&mut tx, id, enqueued.id)
        .await?;
    tx.commit().await?;
    event.job_id = Some(enqueued.id);
    Ok(Queued::accepted(event, enqueued.id))
}
