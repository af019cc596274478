//! Connectors: accounts (git credentials), instances (connected repository branches) with their
//! targets, mappings, discovery and selection, syncs and sync events.
//!
//! Authorization: accounts, and creating or removing instances, need the org admin capability.
//! Instances are listed filtered in SQL (admins see all; others those they hold a grant on); reading
//! an instance, its discovery and its events needs `viewer`; syncing, mappings, apply and patch need
//! `editor`; disable, enable and access need `manager`. Repository URLs are shown through
//! `redact_url` and credentials never leave the store.

mod accounts;
mod discovery;
mod events;
mod github;
mod instances;
mod mappings;
mod source;

use axum::Json;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use trove_core::{AppError, ConnectorInstanceId, JobId, OrgId, ResourceRole};
use trove_store::Tx;
use trove_store::connectors::events::NewSyncEvent;
use trove_store::connectors::instances::ValidInstance;
use trove_store::connectors::model::{Instance, SyncEvent, Target, Trigger};
use trove_store::registry::access::ResourceKind;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;

use crate::auth::OrgCtx;
use crate::error::ApiResult;
use crate::state::AppState;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(accounts::router())
        .merge(instances::router())
        .merge(events::router())
        .merge(mappings::router())
        .merge(discovery::router())
        .merge(github::router())
}

/// `/v1/orgs/{org}/connector-instances/{instance}`.
#[derive(Debug, Deserialize)]
pub struct InstancePath {
    /// The instance id.
    pub instance: String,
}

/// The job that runs a sync.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobRef {
    /// The job's id.
    pub id: JobId,
}

/// The async envelope: the work is queued; `event` is the sync event that tracks it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Queued {
    /// Always `true`.
    pub ok: bool,
    /// Always `true`.
    pub queued: bool,
    /// The job.
    pub job: JobRef,
    /// The sync event (status `queued`).
    pub event: SyncEvent,
}

impl Queued {
    /// 202 with the envelope.
    pub fn accepted(event: SyncEvent, job: JobId) -> (StatusCode, Json<Self>) {
        (
            StatusCode::ACCEPTED,
            Json(Self {
                ok: true,
                queued: true,
                job: JobRef { id: job },
                event,
            }),
        )
    }
}

/// Parses an instance id from a path (anything else is a 404).
pub(crate) fn instance_id(text: &str) -> Result<ConnectorInstanceId, AppError> {
    text.parse()
        .map_err(|_| AppError::not_found("connector instance"))
}

/// Checks the caller's role on an instance (404 when it is not in the org, 403 without the role).
pub(crate) async fn require(
    state: &AppState,
    ctx: &OrgCtx,
    id: ConnectorInstanceId,
    min: ResourceRole,
) -> ApiResult<()> {
    state
        .store
        .require_role(
            &ctx.principal(),
            ResourceKind::ConnectorInstance,
            id.uuid(),
            min,
        )
        .await?;
    Ok(())
}

/// Shows an instance with its targets' URLs redacted.
pub(crate) fn redacted(mut instance: Instance) -> Instance {
    for t in &mut instance.targets {
        t.url = trove_sources::redact_url(&t.url);
    }
    instance
}

/// Creates instance `valid` in `tx` with its `initial` sync queued, commits, and returns the
/// instance as shown (URLs redacted), its sync event and the job.
pub(crate) async fn create_with_initial_sync(
    state: &AppState,
    ctx: &OrgCtx,
    mut tx: Tx,
    valid: &ValidInstance,
) -> ApiResult<(Instance, SyncEvent, JobId)> {
    let created = trove_sync::jobs::create_instance_in(
        &state.store,
        &mut tx,
        &ctx.principal(),
        valid,
        ctx.actor(),
    )
    .await?;
    tx.commit().await?;
    let item = redacted(state.store.instance(ctx.org_id(), created.instance).await?);
    Ok((item, created.event, created.job))
}

/// The instance's first (today: only) target.
pub(crate) fn main_target(instance: &Instance) -> Result<Target, AppError> {
    instance
        .targets
        .first()
        .cloned()
        .ok_or_else(|| AppError::not_found("connector target"))
}

/// Queues a reconcile of `target` in its own transaction (deduplicated by the engine's job).
pub(crate) async fn queue_sync(
    state: &AppState,
    org: OrgId,
    instance: &Instance,
    trigger: Trigger,
) -> ApiResult<(SyncEvent, JobId)> {
    if instance.status == "disabled" {
        return Err(AppError::conflict(
            "connector_instance_disabled",
            "this connector instance is disabled; enable it first",
        )
        .into());
    }
    let target = main_target(instance)?;
    let mut tx = state.store.db.begin().await?;
    let queued = trove_sync::jobs::enqueue_sync_in(
        &state.store,
        &mut tx,
        NewSyncEvent {
            org,
            instance: instance.id,
            target: target.id,
            trigger,
            delivery_id: None,
            requested_sha: None,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(queued)
}
