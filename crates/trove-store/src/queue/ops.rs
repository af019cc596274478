//! The queue's statements. Each is written once for both engines; times are epoch milliseconds bound
//! from Rust, never the database clock.

use trove_core::time::now_ms;
use trove_core::{AppError, AppResult, JobId};
use uuid::Uuid;

use super::{
    ClaimedJob, Enqueued, Failed, JobError, JobState, JobView, NOTIFY_CHANNEL, NewJob, Queue,
    truncate_error,
};
use crate::db::{Backend, Conn, Sql, Tx, in_list, sql};

/// Columns of [`JobView`].
const VIEW_COLUMNS: &str = "id, kind, state, payload, dedupe_key, priority, attempts, max_attempts, \
                            run_at, locked_by, locked_until, last_error, created_at, updated_at";

/// Columns a claim returns.
const CLAIM_COLUMNS: &str =
    "id, kind, payload, dedupe_key, priority, attempts, max_attempts, locked_by, locked_until";

/// Moving a job back to `queued` must not collide with a queued twin that was enqueued meanwhile (the
/// partial unique index allows one queued job per key). The twin will do the same work, so this job
/// gives up its key instead: both run, which idempotent jobs tolerate, and neither enqueue is lost.
const DROP_KEY_IF_TWIN_QUEUED: &str = "dedupe_key = CASE WHEN EXISTS (SELECT 1 FROM jobs t \
     WHERE t.dedupe_key = jobs.dedupe_key AND t.state = 'queued' AND t.id <> jobs.id) \
     THEN NULL ELSE dedupe_key END";

/// How many times a statement that may race a concurrent enqueue of a twin is retried.
const TWIN_RACE_RETRIES: usize = 3;

#[derive(sqlx::FromRow)]
struct ClaimRow {
    id: Uuid,
    kind: String,
    payload: String,
    dedupe_key: Option<String>,
    priority: i32,
    attempts: i32,
    max_attempts: i32,
    locked_by: Option<String>,
    locked_until: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct ViewRow {
    id: Uuid,
    kind: String,
    state: String,
    payload: String,
    dedupe_key: Option<String>,
    priority: i32,
    attempts: i32,
    max_attempts: i32,
    run_at: i64,
    locked_by: Option<String>,
    locked_until: Option<i64>,
    last_error: Option<String>,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<ViewRow> for JobView {
    type Error = AppError;
    fn try_from(r: ViewRow) -> AppResult<Self> {
        Ok(Self {
            id: r.id.into(),
            kind: r.kind,
            state: JobState::parse(&r.state)?,
            payload: r.payload,
            dedupe_key: r.dedupe_key,
            priority: r.priority,
            attempts: r.attempts,
            max_attempts: r.max_attempts,
            run_at: r.run_at,
            locked_by: r.locked_by,
            locked_until: r.locked_until,
            last_error: r.last_error,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

/// A unique violation, which [`crate::db::db_error`] maps to this conflict.
fn is_unique_violation(error: &AppError) -> bool {
    matches!(
        error,
        AppError::Conflict {
            code: "already_exists",
            ..
        }
    )
}

impl Queue {
    /// Enqueues a job on its own (autocommit). Prefer [`Queue::enqueue_in`] when the job is caused by
    /// a write, so that the two commit together.
    pub async fn enqueue(&self, job: NewJob) -> AppResult<Enqueued> {
        // Autocommit: one round trip, whose commit also delivers the insert's notification on
        // PostgreSQL.
        let mut conn = self.db.conn().await?;
        insert_job(&mut conn, job).await
    }

    /// Enqueues a job in the caller's transaction. A job whose `dedupe_key` equals that of a *queued*
    /// job is not inserted; the queued job's id comes back with `coalesced: true`. On PostgreSQL the
    /// insert also signals `trove_jobs` (a trigger), delivered when the transaction commits.
    pub async fn enqueue_in(&self, tx: &mut Tx, job: NewJob) -> AppResult<Enqueued> {
        insert_job(tx, job).await
    }

    /// Claims the most urgent runnable job (highest priority, then oldest `run_at`) for `worker` for
    /// `lease_ms`, or `None` when nothing is runnable. A running job whose lease expired counts as
    /// runnable: its worker died. `kinds`, when given, restricts the claim to those kinds.
    ///
    /// A job reclaimed after its lease expired with no attempts left is buried instead of run (it is
    /// probably what kills its workers), and the claim moves on to the next job.
    pub async fn claim(
        &self,
        worker: &str,
        lease_ms: i64,
        kinds: Option<&[String]>,
    ) -> AppResult<Option<ClaimedJob>> {
        loop {
            let Some(job) = self.claim_one(worker, lease_ms, kinds).await? else {
                return Ok(None);
            };
            if job.attempts <= job.max_attempts {
                return Ok(Some(job));
            }
            let message = format!(
                "gave up after {} attempts: the worker running it stopped renewing its lease \
                 (it crashed, hung or lost the database)",
                job.max_attempts
            );
            self.bury(&job, &message).await?;
        }
    }

    async fn claim_one(
        &self,
        worker: &str,
        lease_ms: i64,
        kinds: Option<&[String]>,
    ) -> AppResult<Option<ClaimedJob>> {
        let now = now_ms();
        let mut q: Sql = sql(
            "UPDATE jobs SET state = 'running', locked_by = $1, locked_until = $2, \
             attempts = attempts + 1, updated_at = $3 WHERE id IN (SELECT id FROM jobs WHERE \
             ((state = 'queued' AND run_at <= $3) OR (state = 'running' AND locked_until < $3))",
        )
        .bind(worker)
        .bind(now.saturating_add(lease_ms.max(1)))
        .bind(now);
        if let Some(kinds) = kinds {
            let list = in_list(&mut q, kinds.iter().map(String::as_str));
            q.push(&format!(" AND kind IN {list}"));
        }
        q.push(" ORDER BY priority DESC, run_at, id LIMIT 1");
        q.push(self.db.backend().skip_locked());
        q.push(&format!(") RETURNING {CLAIM_COLUMNS}"));
        let row: Option<ClaimRow> = self.db.fetch_optional(q).await?;
        Ok(row.map(|r| ClaimedJob {
            id: r.id.into(),
            kind: r.kind,
            payload: r.payload,
            dedupe_key: r.dedupe_key,
            priority: r.priority,
            attempts: r.attempts,
            max_attempts: r.max_attempts,
            locked_by: r.locked_by.unwrap_or_default(),
            locked_until: r.locked_until.unwrap_or_default(),
        }))
    }

    async fn bury(&self, job: &ClaimedJob, message: &str) -> AppResult<()> {
        self.db
            .execute(
                sql("UPDATE jobs SET state = 'dead', locked_by = NULL, locked_until = NULL, \
                     last_error = $1, updated_at = $2 WHERE id = $3 AND locked_by = $4 AND state = 'running'")
                .bind(truncate_error(message))
                .bind(now_ms())
                .bind(job.id.uuid())
                .bind(job.locked_by.as_str()),
            )
            .await?;
        tracing::warn!(job = %job.id, kind = %job.kind, "{message}");
        metrics::counter!("trove_jobs_total", "kind" => job.kind.clone(), "outcome" => "dead")
            .increment(1);
        Ok(())
    }

    /// Renews the lease of a job `worker` holds until `now + lease_ms`. `false` means the lease is lost
    /// (expired and claimed by another worker, or released): stop working on the job.
    pub async fn heartbeat(&self, id: JobId, worker: &str, lease_ms: i64) -> AppResult<bool> {
        let now = now_ms();
        let changed = self
            .db
            .execute(
                sql("UPDATE jobs SET locked_until = $1, updated_at = $2 \
                     WHERE id = $3 AND locked_by = $4 AND state = 'running'")
                .bind(now.saturating_add(lease_ms.max(1)))
                .bind(now)
                .bind(id.uuid())
                .bind(worker),
            )
            .await?;
        Ok(changed == 1)
    }

    /// Marks a job `worker` holds as done. `false` means the lease was lost and nothing changed.
    ///
    /// Done jobs are kept (rather than deleted) for [`super::DONE_RETENTION_MS`], so the API can show the
    /// outcome of the last run; [`Queue::purge_done`] removes older ones.
    pub async fn complete(&self, id: JobId, worker: &str) -> AppResult<bool> {
        let changed = self
            .db
            .execute(
                sql("UPDATE jobs SET state = 'done', locked_by = NULL, locked_until = NULL, updated_at = $1 \
                     WHERE id = $2 AND locked_by = $3 AND state = 'running'")
                .bind(now_ms())
                .bind(id.uuid())
                .bind(worker),
            )
            .await?;
        Ok(changed == 1)
    }

    /// Records a failed attempt of a job `worker` holds: queued again after a backoff, or `dead` when
    /// the error is permanent or no attempts are left. The error text (truncated) is kept in
    /// `last_error`; it must already be free of secrets.
    pub async fn fail(&self, id: JobId, worker: &str, error: &JobError) -> AppResult<Failed> {
        let message = truncate_error(error.message());
        let mut tries = 0;
        loop {
            match self
                .fail_once(id, worker, error.is_retryable(), &message)
                .await
            {
                Err(e) if is_unique_violation(&e) && tries + 1 < TWIN_RACE_RETRIES => tries += 1,
                other => return other,
            }
        }
    }

    async fn fail_once(
        &self,
        id: JobId,
        worker: &str,
        retryable: bool,
        message: &str,
    ) -> AppResult<Failed> {
        // The backoff depends on the attempt count, which only the row knows; read it under the write
        // lock (`FOR UPDATE` on PostgreSQL, `BEGIN IMMEDIATE` on SQLite) so it cannot change meanwhile.
        let mut tx = self.db.begin().await?;
        let row: Option<(i32, i32)> = tx
            .fetch_optional(
                sql(format!(
                    "SELECT attempts, max_attempts FROM jobs \
                     WHERE id = $1 AND locked_by = $2 AND state = 'running'{}",
                    tx.backend().for_update()
                ))
                .bind(id.uuid())
                .bind(worker),
            )
            .await?;
        let Some((attempts, max_attempts)) = row else {
            return Ok(Failed::LeaseLost);
        };
        let now = now_ms();
        let outcome = if !retryable || attempts >= max_attempts {
            tx.execute(
                sql(
                    "UPDATE jobs SET state = 'dead', locked_by = NULL, locked_until = NULL, \
                     last_error = $1, updated_at = $2 WHERE id = $3",
                )
                .bind(message)
                .bind(now)
                .bind(id.uuid()),
            )
            .await?;
            Failed::Dead
        } else {
            let run_at = now.saturating_add(self.backoff.delay_ms(attempts));
            tx.execute(
                sql(format!(
                    "UPDATE jobs SET state = 'queued', run_at = $1, locked_by = NULL, locked_until = NULL, \
                     last_error = $2, updated_at = $3, {DROP_KEY_IF_TWIN_QUEUED} WHERE id = $4"
                ))
                .bind(run_at)
                .bind(message)
                .bind(now)
                .bind(id.uuid()),
            )
            .await?;
            Failed::Retry { run_at }
        };
        tx.commit().await?;
        Ok(outcome)
    }

    /// Hands a job `worker` holds back to the queue to run at once elsewhere, without spending the
    /// attempt (graceful shutdown). `false` means the lease was lost and nothing changed.
    pub async fn release(&self, id: JobId, worker: &str) -> AppResult<bool> {
        let q = || {
            sql(format!(
                "UPDATE jobs SET state = 'queued', attempts = attempts - 1, run_at = $1, \
                 locked_by = NULL, locked_until = NULL, updated_at = $1, {DROP_KEY_IF_TWIN_QUEUED} \
                 WHERE id = $2 AND locked_by = $3 AND state = 'running'"
            ))
            .bind(now_ms())
            .bind(id.uuid())
            .bind(worker)
        };
        let changed = self.retry_twin_race(q).await?;
        if changed == 1 {
            self.notify().await;
        }
        Ok(changed == 1)
    }

    /// Queues a dead job again with a fresh set of attempts (an operator's "retry"). `false` when the
    /// job is not dead. Its `last_error` stays until the next failure.
    pub async fn retry_dead(&self, id: JobId) -> AppResult<bool> {
        let q = || {
            sql(format!(
                "UPDATE jobs SET state = 'queued', attempts = 0, run_at = $1, updated_at = $1, \
                 {DROP_KEY_IF_TWIN_QUEUED} WHERE id = $2 AND state = 'dead'"
            ))
            .bind(now_ms())
            .bind(id.uuid())
        };
        let changed = self.retry_twin_race(q).await?;
        if changed == 1 {
            self.notify().await;
        }
        Ok(changed == 1)
    }

    /// Runs a statement that re-queues a job, again if it lost a race with a concurrent enqueue of a
    /// twin (PostgreSQL, whose `EXISTS` cannot see the other uncommitted insert).
    async fn retry_twin_race(&self, q: impl Fn() -> Sql) -> AppResult<u64> {
        let mut tries = 0;
        loop {
            match self.db.execute(q()).await {
                Err(e) if is_unique_violation(&e) && tries + 1 < TWIN_RACE_RETRIES => tries += 1,
                other => return other,
            }
        }
    }

    /// Wakes listening workers (PostgreSQL); a lost notification only delays a job until the next poll.
    async fn notify(&self) {
        if self.db.backend() == Backend::Postgres
            && let Err(error) = self
                .db
                .execute(sql("SELECT pg_notify($1, '')").bind(NOTIFY_CHANNEL))
                .await
        {
            tracing::debug!(%error, "job notification failed; workers will poll");
        }
    }

    /// The number of jobs in each state, every state listed (zero included), for metrics.
    pub async fn depth_by_state(&self) -> AppResult<Vec<(String, i64)>> {
        let rows: Vec<(String, i64)> = self
            .db
            .fetch_all(sql("SELECT state, COUNT(*) FROM jobs GROUP BY state"))
            .await?;
        Ok(JobState::ALL
            .iter()
            .map(|s| {
                let n = rows
                    .iter()
                    .find(|(state, _)| state == s.as_str())
                    .map_or(0, |(_, n)| *n);
                (s.as_str().to_owned(), n)
            })
            .collect())
    }

    /// One job.
    pub async fn job(&self, id: JobId) -> AppResult<Option<JobView>> {
        let row: Option<ViewRow> = self
            .db
            .fetch_optional(
                sql(format!("SELECT {VIEW_COLUMNS} FROM jobs WHERE id = $1")).bind(id.uuid()),
            )
            .await?;
        row.map(JobView::try_from).transpose()
    }

    /// Deletes `done` jobs last changed before `before` (epoch ms), in small batches so no statement
    /// holds the write lock for long. Returns how many were deleted.
    pub async fn purge_done(&self, before: i64) -> AppResult<u64> {
        let mut total = 0;
        loop {
            let n = self
                .db
                .execute(
                    sql("DELETE FROM jobs WHERE id IN (SELECT id FROM jobs \
                         WHERE state = 'done' AND updated_at < $1 LIMIT 500)")
                    .bind(before),
                )
                .await?;
            total += n;
            if n < 500 {
                return Ok(total);
            }
        }
    }
}

/// What an enqueue runs on: the caller's transaction or a pool connection (autocommit).
trait Exec: Send {
    fn scalar_id(&mut self, q: Sql) -> impl Future<Output = AppResult<Option<Uuid>>> + Send;
}

impl Exec for Tx {
    fn scalar_id(&mut self, q: Sql) -> impl Future<Output = AppResult<Option<Uuid>>> + Send {
        self.scalar(q)
    }
}

impl Exec for Conn {
    fn scalar_id(&mut self, q: Sql) -> impl Future<Output = AppResult<Option<Uuid>>> + Send {
        self.scalar(q)
    }
}

/// Inserts a job, or finds the queued twin it coalesces into.
async fn insert_job(e: &mut impl Exec, job: NewJob) -> AppResult<Enqueued> {
    let payload = serde_json::to_string(&job.payload).map_err(AppError::internal)?;
    let now = now_ms();
    let run_at = job.run_at.unwrap_or(now);
    for _ in 0..TWIN_RACE_RETRIES {
        // The conflict target's predicate must be a literal: both engines match it against the
        // index predicate syntactically, and PostgreSQL rejects a bound `$n` under a generic plan.
        let id = JobId::new();
        let inserted: Option<Uuid> = e
            .scalar_id(
                sql(
                    "INSERT INTO jobs (id, kind, dedupe_key, payload, state, priority, attempts, \
                     max_attempts, run_at, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, 'queued', $5, 0, $6, $7, $8, $8) \
                     ON CONFLICT (dedupe_key) WHERE state = 'queued' DO NOTHING RETURNING id",
                )
                .bind(id.uuid())
                .bind(job.kind.as_str())
                .bind(job.dedupe_key.clone())
                .bind(payload.as_str())
                .bind(job.priority)
                .bind(job.max_attempts.max(1))
                .bind(run_at)
                .bind(now),
            )
            .await?;
        // On PostgreSQL the insert itself wakes the workers (a trigger notifies at commit).
        if let Some(id) = inserted {
            return Ok(Enqueued {
                id: id.into(),
                coalesced: false,
            });
        }
        // Only a dedupe key can conflict. The twin may have been claimed since the insert looked;
        // then the insert is tried again and succeeds.
        let existing: Option<Uuid> = e
            .scalar_id(
                sql("SELECT id FROM jobs WHERE dedupe_key = $1 AND state = 'queued'")
                    .bind(job.dedupe_key.clone()),
            )
            .await?;
        if let Some(id) = existing {
            return Ok(Enqueued {
                id: id.into(),
                coalesced: true,
            });
        }
    }
    Err(AppError::Unavailable(
        "the job queue is too busy to enqueue; try again".into(),
    ))
}
