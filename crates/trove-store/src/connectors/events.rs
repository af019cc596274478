//! Sync events: created (queued) with the job that runs them, started and finished by the reconcile.
//!
//! [`Store::enqueue_sync_events_in`] creates many events with their jobs in a few multi-row
//! statements, for the webhook ingest, whose group commits would otherwise spend several round
//! trips per push. It keeps the queue's rules (a job coalesces into a *queued* job of the same
//! dedupe key, through the same partial unique index; one `NOTIFY` wakes the workers) and hands
//! back, for the caller's one-at-a-time path, the rare item it cannot settle in bulk.

use std::collections::HashMap;

use trove_core::time::now_ms;
use trove_core::{
    AppError, AppResult, ConnectorInstanceId, ConnectorTargetId, JobId, OrgId, SyncEventId,
};
use uuid::Uuid;

use super::model::{
    FileError, SYNC_EVENT_COLUMNS, SyncCounts, SyncEvent, SyncEventRow, SyncStatus, Trigger,
};
use crate::db::{Tx, in_list, sql};
use crate::queue::NewJob;
use crate::{PageRequest, Store};

/// Rows per multi-row statement (12 arguments per event row, 8 per job row: far under both
/// engines' parameter limits).
const ROWS_PER_STATEMENT: usize = 400;

/// A sync event to create together with the job that runs it ([`Store::enqueue_sync_events_in`]).
#[derive(Debug, Clone)]
pub struct QueuedSync {
    /// The id the event gets (the job's payload names it).
    pub event_id: SyncEventId,
    /// The event.
    pub event: NewSyncEvent,
    /// Its job, with the dedupe key that coalesces equal work.
    pub job: NewJob,
}

/// How a [`QueuedSync`] was settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncEnqueued {
    /// A new event and job were created.
    Created(SyncEventId, JobId),
    /// An equal job was already queued with its event still waiting: that event covers this one,
    /// and nothing was created.
    Joined(SyncEventId, JobId),
    /// An equal job is queued but its event already ran (or it was claimed meanwhile): nothing was
    /// created; enqueue this one on its own (which gives it a job of its own).
    Unsettled,
}

/// At most this many per-file errors are kept on one event (the count of the rest is in `message`).
pub const MAX_FILE_ERRORS: usize = 200;

/// What a new event is about.
#[derive(Debug, Clone)]
pub struct NewSyncEvent {
    /// The org.
    pub org: OrgId,
    /// The instance.
    pub instance: ConnectorInstanceId,
    /// The target.
    pub target: ConnectorTargetId,
    /// What started it.
    pub trigger: Trigger,
    /// The GitHub delivery id, for webhooks.
    pub delivery_id: Option<String>,
    /// The commit the trigger named, if any.
    pub requested_sha: Option<String>,
}

/// How a reconciliation ended.
#[derive(Debug, Clone)]
pub struct SyncResult {
    /// `completed`, `partial`, `failed` or `ignored`.
    pub status: SyncStatus,
    /// The commit reconciled.
    pub head_sha: Option<String>,
    /// What changed.
    pub counts: SyncCounts,
    /// Files that failed.
    pub errors: Vec<FileError>,
    /// A summary or the failure (never secrets).
    pub message: Option<String>,
}

/// A `sync_events` row with its org.
#[derive(sqlx::FromRow)]
struct OrgEventRow {
    org_id: Uuid,
    #[sqlx(flatten)]
    event: SyncEventRow,
}

impl Store {
    /// Creates queued event `id`, run by `job`, in the caller's transaction (which enqueued the
    /// job first).
    pub async fn create_sync_event_in(
        &self,
        tx: &mut Tx,
        id: SyncEventId,
        new: &NewSyncEvent,
        job: JobId,
    ) -> AppResult<SyncEvent> {
        let row: SyncEventRow = tx
            .fetch_one(
                sql(format!(
                    "INSERT INTO sync_events (id, org_id, instance_id, target_id, trigger, delivery_id, status, requested_sha, \
                     created_count, updated_count, deleted_count, unchanged_count, skipped_count, errors, job_id, attempts, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, 'queued', $7, 0, 0, 0, 0, 0, '[]', $8, 0, $9) RETURNING {SYNC_EVENT_COLUMNS}"
                ))
                .bind(id.uuid())
                .bind(new.org.uuid())
                .bind(new.instance.uuid())
                .bind(new.target.uuid())
                .bind(new.trigger.as_str())
                .bind(new.delivery_id.clone())
                .bind(new.requested_sha.clone())
                .bind(job.uuid())
                .bind(now_ms()),
                "sync event",
            )
            .await?;
        Ok(row.into_event())
    }

    /// Creates events with their jobs in `tx`, a few statements for the whole list: jobs are
    /// inserted with the queue's coalescing clause, events only for the jobs that were inserted,
    /// and a job that coalesced into a queued twin joins that twin's event when it is still
    /// waiting. Items must have distinct dedupe keys (the caller merges equal work first).
    pub async fn enqueue_sync_events_in(
        &self,
        tx: &mut Tx,
        items: &[QueuedSync],
    ) -> AppResult<Vec<SyncEnqueued>> {
        let now = now_ms();
        let mut inserted: HashMap<Uuid, JobId> = HashMap::new();
        let job_ids: Vec<JobId> = items.iter().map(|_| JobId::new()).collect();
        // Rows go in dedupe-key order, so concurrent batches take the index's locks in one order.
        let mut order: Vec<usize> = (0..items.len()).collect();
        order.sort_by(|a, b| items[*a].job.dedupe_key.cmp(&items[*b].job.dedupe_key));
        for chunk in order.chunks(ROWS_PER_STATEMENT) {
            let mut q = sql("");
            let mut tuples = Vec::with_capacity(chunk.len());
            for &index in chunk {
                let id = job_ids[index];
                let job = &items[index].job;
                let payload = serde_json::to_string(&job.payload)?;
                let values = [
                    q.push_arg(id.uuid()),
                    q.push_arg(job.kind.as_str()),
                    q.push_arg(job.dedupe_key.clone()),
                    q.push_arg(payload),
                    q.push_arg(job.priority),
                    q.push_arg(job.max_attempts.max(1)),
                    q.push_arg(job.run_at.unwrap_or(now)),
                    q.push_arg(now),
                ];
                let [id, kind, key, payload, priority, attempts, run_at, at] = values;
                tuples.push(format!(
                    "({id}, {kind}, {key}, {payload}, 'queued', {priority}, 0, {attempts}, {run_at}, {at}, {at})"
                ));
            }
            // The conflict target's predicate is a literal, as in the queue: both engines match it
            // against the partial index syntactically.
            q.push(&format!(
                "INSERT INTO jobs (id, kind, dedupe_key, payload, state, priority, attempts, max_attempts, \
                 run_at, created_at, updated_at) VALUES {} \
                 ON CONFLICT (dedupe_key) WHERE state = 'queued' DO NOTHING RETURNING id",
                tuples.join(", ")
            ));
            let rows: Vec<(Uuid,)> = tx.fetch_all(q).await?;
            inserted.extend(rows.into_iter().map(|(id,)| (id, JobId::from(id))));
        }

        // Jobs that coalesced: join the twin's event while it still waits.
        let coalesced: Vec<&str> = items
            .iter()
            .zip(&job_ids)
            .filter(|(_, id)| !inserted.contains_key(&id.uuid()))
            .filter_map(|(item, _)| item.job.dedupe_key.as_deref())
            .collect();
        let mut twins: HashMap<String, (Uuid, Option<Uuid>, Option<String>)> = HashMap::new();
        for chunk in coalesced.chunks(ROWS_PER_STATEMENT) {
            let mut q = sql("");
            let list = in_list(&mut q, chunk.iter().copied());
            q.push(&format!(
                "SELECT j.dedupe_key, j.id, e.id, e.status FROM jobs j LEFT JOIN sync_events e ON e.job_id = j.id \
                 WHERE j.state = 'queued' AND j.dedupe_key IN {list}"
            ));
            let rows: Vec<(String, Uuid, Option<Uuid>, Option<String>)> = tx.fetch_all(q).await?;
            twins.extend(rows.into_iter().map(|(k, j, e, s)| (k, (j, e, s))));
        }

        let mut out = Vec::with_capacity(items.len());
        let mut created = Vec::new();
        for (item, job) in items.iter().zip(&job_ids) {
            if inserted.contains_key(&job.uuid()) {
                created.push((item, *job));
                out.push(SyncEnqueued::Created(item.event_id, *job));
                continue;
            }
            let twin = item.job.dedupe_key.as_ref().and_then(|k| twins.get(k));
            out.push(match twin {
                Some((job, Some(event), Some(status))) if status == "queued" => {
                    SyncEnqueued::Joined((*event).into(), (*job).into())
                }
                _ => SyncEnqueued::Unsettled,
            });
        }
        for chunk in created.chunks(ROWS_PER_STATEMENT) {
            let mut q = sql("");
            let mut tuples = Vec::with_capacity(chunk.len());
            for (item, job) in chunk {
                let e = &item.event;
                let values = [
                    q.push_arg(item.event_id.uuid()),
                    q.push_arg(e.org.uuid()),
                    q.push_arg(e.instance.uuid()),
                    q.push_arg(e.target.uuid()),
                    q.push_arg(e.trigger.as_str()),
                    q.push_arg(e.delivery_id.clone()),
                    q.push_arg(e.requested_sha.clone()),
                    q.push_arg(job.uuid()),
                    q.push_arg(now),
                ];
                let [id, org, instance, target, trigger, delivery, sha, job, at] = values;
                tuples.push(format!(
                    "({id}, {org}, {instance}, {target}, {trigger}, {delivery}, 'queued', {sha}, 0, 0, 0, 0, 0, '[]', {job}, 0, {at})"
                ));
            }
            q.push(&format!(
                "INSERT INTO sync_events (id, org_id, instance_id, target_id, trigger, delivery_id, status, requested_sha, \
                 created_count, updated_count, deleted_count, unchanged_count, skipped_count, errors, job_id, attempts, created_at) \
                 VALUES {}",
                tuples.join(", ")
            ));
            tx.execute(q).await?;
        }
        // The workers are woken by the jobs' insert (a trigger on PostgreSQL).
        Ok(out)
    }

    /// Records the job that runs an event.
    pub async fn set_sync_event_job(
        &self,
        tx: &mut Tx,
        event: SyncEventId,
        job: JobId,
    ) -> AppResult<()> {
        tx.execute(
            sql("UPDATE sync_events SET job_id = $1 WHERE id = $2")
                .bind(job.uuid())
                .bind(event.uuid()),
        )
        .await?;
        Ok(())
    }

    /// An event by its id alone, with its org (for a worker, which is handed only the id).
    pub async fn sync_event_and_org(&self, id: SyncEventId) -> AppResult<(OrgId, SyncEvent)> {
        let row: OrgEventRow = self
            .db
            .fetch_one(
                sql(format!(
                    "SELECT org_id, {SYNC_EVENT_COLUMNS} FROM sync_events WHERE id = $1"
                ))
                .bind(id.uuid()),
                "sync event",
            )
            .await?;
        Ok((row.org_id.into(), row.event.into_event()))
    }

    /// One event of the org.
    pub async fn sync_event(&self, org: OrgId, id: SyncEventId) -> AppResult<SyncEvent> {
        let row: SyncEventRow = self
            .db
            .fetch_one(
                sql(format!(
                    "SELECT {SYNC_EVENT_COLUMNS} FROM sync_events WHERE id = $1 AND org_id = $2"
                ))
                .bind(id.uuid())
                .bind(org.uuid()),
                "sync event",
            )
            .await?;
        Ok(row.into_event())
    }

    /// The org's events, newest first, optionally of one instance (filtering by who may see the
    /// instance is the caller's: pass the instance ids the caller can see, or `None` for all).
    pub async fn sync_events(
        &self,
        org: OrgId,
        instance: Option<ConnectorInstanceId>,
        page: PageRequest,
    ) -> AppResult<Vec<SyncEvent>> {
        let mut q = sql(format!(
            "SELECT {SYNC_EVENT_COLUMNS} FROM sync_events WHERE org_id = $1"
        ))
        .bind(org.uuid());
        if let Some(instance) = instance {
            let p = q.push_arg(instance.uuid());
            q.push(&format!(" AND instance_id = {p}"));
        }
        if let Some(after) = page.after {
            let p = q.push_arg(after);
            q.push(&format!(" AND id < {p}"));
        }
        let p = q.push_arg(page.fetch());
        q.push(&format!(" ORDER BY id DESC LIMIT {p}"));
        let rows: Vec<SyncEventRow> = self.db.fetch_all(q).await?;
        Ok(rows.into_iter().map(SyncEventRow::into_event).collect())
    }

    /// Marks an event running (one more attempt). Returns `false` when it is already final.
    pub async fn start_sync_event(&self, id: SyncEventId) -> AppResult<bool> {
        let changed = self
            .db
            .execute(
                sql("UPDATE sync_events SET status = 'running', attempts = attempts + 1, started_at = $1 \
                     WHERE id = $2 AND status IN ('queued', 'running')")
                .bind(now_ms())
                .bind(id.uuid()),
            )
            .await?;
        Ok(changed > 0)
    }

    /// Records how an event ended, with a flushed commit: it also makes durable every relaxed
    /// commit of the run before it (PostgreSQL flushes its WAL in order).
    /// Returns the event as it now is.
    pub async fn finish_sync_event(
        &self,
        id: SyncEventId,
        result: &SyncResult,
    ) -> AppResult<SyncEvent> {
        if !result.status.is_final() {
            return Err(AppError::internal("finish_sync_event needs a final status"));
        }
        let mut errors = result.errors.clone();
        let mut message = result.message.clone();
        if errors.len() > MAX_FILE_ERRORS {
            let more = errors.len() - MAX_FILE_ERRORS;
            errors.truncate(MAX_FILE_ERRORS);
            message = Some(format!(
                "{} ({more} more file errors not listed)",
                message.unwrap_or_default()
            ));
        }
        let row: SyncEventRow = self
            .db
            .fetch_one(
                sql(format!("UPDATE sync_events SET status = $1, head_sha = COALESCE($2, head_sha), created_count = $3, \
                     updated_count = $4, deleted_count = $5, unchanged_count = $6, skipped_count = $7, errors = $8, \
                     message = $9, finished_at = $10 WHERE id = $11 RETURNING {SYNC_EVENT_COLUMNS}"))
                .bind(result.status.as_str())
                .bind(result.head_sha.clone())
                .bind(result.counts.created)
                .bind(result.counts.updated)
                .bind(result.counts.deleted)
                .bind(result.counts.unchanged)
                .bind(result.counts.skipped)
                .bind(serde_json::to_string(&errors)?)
                .bind(message)
                .bind(now_ms())
                .bind(id.uuid()),
                "sync event",
            )
            .await?;
        Ok(row.into_event())
    }

    /// Puts a final event back in the queue state for a retry (the caller enqueues the job in `tx`).
    /// A running or queued event is refused with 409.
    pub async fn requeue_sync_event(
        &self,
        tx: &mut Tx,
        org: OrgId,
        id: SyncEventId,
    ) -> AppResult<SyncEvent> {
        let changed = tx
            .execute(
                sql("UPDATE sync_events SET status = 'queued', started_at = NULL, finished_at = NULL, message = NULL \
                     WHERE id = $1 AND org_id = $2 AND status NOT IN ('queued', 'running')")
                .bind(id.uuid())
                .bind(org.uuid()),
            )
            .await?;
        if changed == 0 {
            let exists: Option<i32> = tx
                .scalar(
                    sql("SELECT 1 FROM sync_events WHERE id = $1 AND org_id = $2")
                        .bind(id.uuid())
                        .bind(org.uuid()),
                )
                .await?;
            return Err(match exists {
                None => AppError::not_found("sync event"),
                Some(_) => AppError::conflict(
                    "sync_in_progress",
                    "this sync is queued or running; wait for it to end before retrying",
                ),
            });
        }
        let row: SyncEventRow = tx
            .fetch_one(
                sql(format!(
                    "SELECT {SYNC_EVENT_COLUMNS} FROM sync_events WHERE id = $1"
                ))
                .bind(id.uuid()),
                "sync event",
            )
            .await?;
        Ok(row.into_event())
    }

    /// Events left `running` by a worker that died are shown as such until their job is reclaimed;
    /// this returns the id of the event of a job, if any (for the reconcile handler).
    pub async fn sync_event_of_job(&self, job: JobId) -> AppResult<Option<SyncEventId>> {
        let id: Option<Uuid> = self
            .db
            .scalar(sql("SELECT id FROM sync_events WHERE job_id = $1").bind(job.uuid()))
            .await?;
        Ok(id.map(Into::into))
    }
}
