//! Every background job kind of Trove, registered in one place: [`handlers`].

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use trove_core::time::now_ms;
use trove_core::{AppError, AppResult, ConnectorInstanceId, ConnectorTargetId, JobId, SyncEventId};
use trove_store::connectors::events::{NewSyncEvent, SyncResult};
use trove_store::connectors::instances::ValidInstance;
use trove_store::connectors::model::{
    SYNC_EVENT_COLUMNS, SyncCounts, SyncEvent, SyncEventRow, SyncStatus, Trigger,
};
use trove_store::queue::worker::{Handlers, JobContext};
use trove_store::queue::{Job, JobError, NewJob};
use trove_store::registry::access::Principal;
use trove_store::{Actor, KeyRing, Store, Tx, sql};

use crate::engine::Engine;

/// Reloads the key ring from its source (the key file may have gained a key since this process
/// started). Returns `None` when the source cannot change (environment variable).
pub type KeyReloader = Arc<dyn Fn() -> Option<AppResult<KeyRing>> + Send + Sync>;

/// Re-encrypts every stored value under key `key_id`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RekeyJob {
    /// The key every value should end up under.
    pub key_id: u32,
}

impl Job for RekeyJob {
    const KIND: &'static str = "keys.rekey";
    const MAX_ATTEMPTS: i32 = 10;

    fn dedupe_key(&self) -> Option<String> {
        Some(format!("keys.rekey:{}", self.key_id))
    }
}

/// Queues a re-encryption under `key_id`.
pub async fn enqueue_rekey(store: &Store, key_id: u32) -> AppResult<JobId> {
    Ok(store
        .enqueue(NewJob::typed(&RekeyJob { key_id })?)
        .await?
        .id)
}

/// Reconciles one target for one sync event (the engine always reconciles the current head).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReconcileJob {
    /// The sync event to run.
    pub event_id: SyncEventId,
}

impl Job for ReconcileJob {
    const KIND: &'static str = "connectors.reconcile";
    const MAX_ATTEMPTS: i32 = 8;
}

/// The backstop: checks every active target's head and queues a reconcile where it moved.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CheckHeadsJob {}

impl Job for CheckHeadsJob {
    const KIND: &'static str = "connectors.check_heads";
    const MAX_ATTEMPTS: i32 = 3;

    fn dedupe_key(&self) -> Option<String> {
        Some(Self::KIND.to_owned())
    }
}

/// The dedupe key of a reconcile: one queued job per (target, requested SHA or head).
fn reconcile_dedupe_key(new: &NewSyncEvent) -> String {
    format!(
        "connectors.reconcile:{}:{}",
        new.target,
        new.requested_sha.as_deref().unwrap_or("head")
    )
}

/// Creates a queued sync event and its reconcile job in `tx`, deduplicated on (target, requested
/// SHA or head): when such a job is already queued and its event still waits, that event is
/// returned instead and nothing is written.
///
/// The job goes in first (its payload names the event's id, chosen here), so the event is written
/// once, already pointing at its job, and only when it is needed.
pub async fn enqueue_sync_in(
    store: &Store,
    tx: &mut Tx,
    new: NewSyncEvent,
) -> AppResult<(SyncEvent, JobId)> {
    let event_id = SyncEventId::new();
    let job = NewJob::typed(&ReconcileJob { event_id })?.dedupe_key(reconcile_dedupe_key(&new));
    let mut enqueued = store.enqueue_in(tx, job).await?;
    if enqueued.coalesced {
        // A reconcile of the same (target, sha) is already queued. If its event is still waiting,
        // that run covers this request; if its event already ran (someone ran it directly, the job
        // is only left to find it done), this request needs a run of its own.
        let existing: Option<SyncEventRow> = tx
            .fetch_optional(
                sql(format!(
                    "SELECT {SYNC_EVENT_COLUMNS} FROM sync_events WHERE job_id = $1"
                ))
                .bind(enqueued.id.uuid()),
            )
            .await?;
        match existing.map(SyncEventRow::into_event) {
            Some(waiting) if waiting.status == SyncStatus::Queued => {
                return Ok((waiting, enqueued.id));
            }
            _ => {
                enqueued = store
                    .enqueue_in(tx, NewJob::typed(&ReconcileJob { event_id })?)
                    .await?;
            }
        }
    }
    let event = store
        .create_sync_event_in(tx, event_id, &new, enqueued.id)
        .await?;
    Ok((event, enqueued.id))
}

/// A connector instance just created, with its `initial` sync queued.
#[derive(Debug, Clone)]
pub struct CreatedInstance {
    /// The instance.
    pub instance: ConnectorInstanceId,
    /// Its target.
    pub target: ConnectorTargetId,
    /// The `initial` sync event.
    pub event: SyncEvent,
    /// The reconcile job that runs it.
    pub job: JobId,
}

/// Creates instance `new` in `tx` (with its target and the creator's grant) and queues its
/// `initial` sync: what every way of connecting a repository does, in the caller's transaction.
pub async fn create_instance_in(
    store: &Store,
    tx: &mut Tx,
    principal: &Principal,
    new: &ValidInstance,
    actor: Actor,
) -> AppResult<CreatedInstance> {
    let (instance, target) = store.create_instance_in(tx, principal, new, actor).await?;
    let (event, job) = enqueue_sync_in(
        store,
        tx,
        NewSyncEvent {
            org: principal.org_id,
            instance,
            target,
            trigger: Trigger::Initial,
            delivery_id: None,
            requested_sha: None,
        },
    )
    .await?;
    Ok(CreatedInstance {
        instance,
        target,
        event,
        job,
    })
}

/// Queues the next backstop run `interval_ms` from now (deduplicated: at most one is queued).
pub async fn schedule_check_heads(store: &Store, interval_ms: i64) -> AppResult<JobId> {
    let job = NewJob::typed(&CheckHeadsJob {})?.run_at(now_ms() + interval_ms);
    Ok(store.enqueue(job).await?.id)
}

/// The backstop interval from `TROVE_RESYNC_INTERVAL` (`10m`, `30s`, `1h`, `500ms`, or plain
/// seconds); 10 minutes when unset.
pub fn resync_interval_ms(value: Option<&str>) -> AppResult<i64> {
    let Some(text) = value.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(DEFAULT_RESYNC_INTERVAL_MS);
    };
    let interval = trove_core::time::parse_duration(text).map_err(|message| AppError::Invalid {
        field: Some("TROVE_RESYNC_INTERVAL".into()),
        message,
    })?;
    Ok(i64::try_from(interval.as_millis()).unwrap_or(i64::MAX))
}

/// The backstop interval when `TROVE_RESYNC_INTERVAL` is unset: 10 minutes.
pub const DEFAULT_RESYNC_INTERVAL_MS: i64 = 10 * 60_000;

/// What the sync jobs need.
#[derive(Clone)]
pub struct SyncJobs {
    /// The engine.
    pub engine: Arc<Engine>,
    /// The backstop interval.
    pub resync_interval_ms: i64,
}

impl SyncJobs {
    /// The connector jobs of a worker process over `source`, with the backstop every
    /// `resync_interval_ms`; the first backstop pass is queued now (deduplicated, so several
    /// workers starting together queue one). Must be called inside a tokio runtime.
    pub fn start(
        store: &Store,
        source: Arc<dyn trove_sources::RepositorySource>,
        resync_interval_ms: i64,
    ) -> Self {
        let first = store.clone();
        tokio::spawn(async move {
            if let Err(e) = schedule_check_heads(&first, 0).await {
                tracing::warn!(error = %e, "cannot queue the first backstop pass");
            }
        });
        SyncJobs {
            engine: Arc::new(Engine::new(store.clone(), source)),
            resync_interval_ms,
        }
    }
}

/// The handlers of every job kind. With `sync`, the connector jobs (reconcile, backstop) too.
pub fn handlers(store: Store, reload_keys: KeyReloader, sync: Option<SyncJobs>) -> Handlers {
    let mut handlers = Handlers::new();
    if let Some(sync) = sync {
        register_sync(&mut handlers, sync);
    }
    let rekey_store = store.clone();
    handlers.register_job::<RekeyJob, _, _>(move |job, ctx| {
        let store = rekey_store.clone();
        let reload = Arc::clone(&reload_keys);
        async move { rekey(store, reload, job, ctx).await }
    });
    handlers
}

async fn rekey(
    store: Store,
    reload: KeyReloader,
    job: RekeyJob,
    ctx: JobContext,
) -> Result<(), JobError> {
    let mut ring = store.keys();
    if !ring.has(job.key_id) {
        // A rotation wrote a new key to the key file after this process started: pick it up.
        if let Some(fresh) = reload() {
            let fresh = fresh
                .map_err(|e| JobError::retry(format!("cannot reload the encryption keys: {e}")))?;
            store.set_keys(fresh.clone());
            ring = fresh;
        }
    }
    let target = ring.with_active(job.key_id).ok_or_else(|| {
        JobError::retry(format!(
            "this worker does not have encryption key {}; add it to TROVE_ENCRYPTION_KEYS (first) and restart",
            job.key_id
        ))
    })?;
    let cancel = ctx.cancel.clone();
    let report = store
        .rekey(&target, || cancel.is_cancelled())
        .await
        .map_err(|e| JobError::retry(e.public_message()))?;
    tracing::info!(
        key_id = job.key_id,
        scanned = report.scanned,
        rewritten = report.rewritten,
        "re-encryption finished"
    );
    Ok(())
}

fn register_sync(handlers: &mut Handlers, sync: SyncJobs) {
    let engine = Arc::clone(&sync.engine);
    handlers.register_job::<ReconcileJob, _, _>(move |job, ctx| {
        let engine = Arc::clone(&engine);
        async move {
            match engine.run_sync_event(job.event_id).await {
                Ok(_) => Ok(()),
                Err(e) => {
                    let error = reconcile_error(&e);
                    if ctx.attempts >= ctx.max_attempts || matches!(error, JobError::Permanent(_)) {
                        // No run will follow: the event must not stay `running` forever.
                        let failed = SyncResult {
                            status: SyncStatus::Failed,
                            head_sha: None,
                            counts: SyncCounts::default(),
                            errors: Vec::new(),
                            message: Some(e.public_message()),
                        };
                        if let Err(f) = engine
                            .store()
                            .finish_sync_event(job.event_id, &failed)
                            .await
                        {
                            tracing::warn!(error = %f, "cannot mark the sync event failed");
                        }
                    }
                    Err(error)
                }
            }
        }
    });
    let engine = sync.engine;
    let interval = sync.resync_interval_ms;
    handlers.register_job::<CheckHeadsJob, _, _>(move |_job, _ctx| {
        let engine = Arc::clone(&engine);
        async move {
            let checked = engine.check_heads().await;
            // Always schedule the next pass, even when this one failed, so the backstop never stops.
            // The dedupe key is free again: this job is running, not queued.
            schedule_check_heads(engine.store(), interval)
                .await
                .map_err(|e| JobError::retry(e.public_message()))?;
            match checked {
                Ok(queued) => {
                    tracing::debug!(queued, "backstop head check done");
                    Ok(())
                }
                Err(e) => Err(JobError::retry(e.public_message())),
            }
        }
    });
}

/// A busy target or a transient failure is retried later; bad data is not.
fn reconcile_error(e: &AppError) -> JobError {
    match e {
        AppError::NotFound { .. } | AppError::Invalid { .. } => {
            JobError::permanent(e.public_message())
        }
        _ => JobError::retry(e.public_message()),
    }
}
