//! The durable job queue: a `jobs` table on the same database as everything else.
//!
//! * **Enqueue** ([`Queue::enqueue`], or [`Queue::enqueue_in`] inside the transaction of the write that
//!   causes the job) coalesces a job into an equal `dedupe_key` that is still *queued*, through the
//!   partial unique index `jobs_dedupe_queued_key`. A job that is already *running* does not absorb a new
//!   one: a webhook that arrives during a reconcile must lead to another reconcile.
//! * **Claim** ([`Queue::claim`]) is one `UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED)
//!   RETURNING` on both engines (SQLite drops the lock clause; its single writer serialises claims). A
//!   claim is a lease (`locked_by`, `locked_until`) that the holder renews with [`Queue::heartbeat`]; a
//!   running job whose lease expired is claimed again, because its worker died.
//! * **Finish**: [`Queue::complete`] marks the job `done` (kept for [`DONE_RETENTION_MS`] so the API can
//!   show the outcome, then purged by [`Queue::purge_done`]); [`Queue::fail`] schedules a retry with
//!   exponential backoff and jitter or buries the job as `dead`; [`Queue::release`] hands it back
//!   without spending an attempt (graceful shutdown). Every change of a claimed job is guarded by
//!   `locked_by`, so a worker that lost its lease cannot finish somebody else's claim.
//! * **Wake-ups**: on PostgreSQL an enqueue sends `NOTIFY trove_jobs` (delivered at commit) and
//!   workers listen; everywhere, workers also poll with jitter.
//!
//! The worker runtime that runs handlers is in [`worker`].

mod listen;
mod ops;
pub mod worker;

use std::fmt;

use serde::Serialize;
use serde::de::DeserializeOwned;
use trove_core::{AppError, AppResult, JobId};

use crate::{Db, Store};

pub use worker::{Handlers, JobContext, JobFuture, JobHandler, Worker, WorkerConfig};

/// The PostgreSQL notification channel that enqueues signal and workers listen on.
pub const NOTIFY_CHANNEL: &str = "trove_jobs";
/// Attempts a job gets unless its [`NewJob`] says otherwise.
pub const DEFAULT_MAX_ATTEMPTS: i32 = 5;
/// How long finished (`done`) jobs are kept before [`Queue::purge_done`] removes them: a day is enough
/// to show "last sync succeeded" and to debug, and bounds the table.
pub const DONE_RETENTION_MS: i64 = 24 * 3600 * 1000;
/// `last_error` is cut to this many bytes (on a character boundary): errors are for people, and an
/// unbounded one (a whole HTTP body) would bloat every read of the row.
pub const MAX_ERROR_BYTES: usize = 2000;

/// The states of a job, as stored in `jobs.state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    /// Waiting for `run_at`, or for a free worker.
    Queued,
    /// Claimed by a worker that holds a lease.
    Running,
    /// Finished successfully (kept for a while, then purged).
    Done,
    /// Failed permanently or ran out of attempts; waits for an operator ([`Queue::retry_dead`]).
    Dead,
}

impl JobState {
    /// Every state, in the order metrics list them.
    pub const ALL: [JobState; 4] = [Self::Queued, Self::Running, Self::Done, Self::Dead];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Done => "done",
            Self::Dead => "dead",
        }
    }

    fn parse(text: &str) -> AppResult<Self> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == text)
            .ok_or_else(|| {
                AppError::internal(format!("unknown job state {text:?} in the database"))
            })
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A job to enqueue.
#[derive(Debug, Clone)]
pub struct NewJob {
    /// The job kind; a handler must be registered for it in [`Handlers`].
    pub kind: String,
    /// The arguments, stored as JSON. Keep it small and free of secrets (refer to rows by id).
    pub payload: serde_json::Value,
    /// Work with the same key is coalesced while one such job is queued.
    pub dedupe_key: Option<String>,
    /// Higher runs first.
    pub priority: i32,
    /// Claims allowed before the job is buried as `dead`.
    pub max_attempts: i32,
    /// Not before this time (epoch ms); `None` = now.
    pub run_at: Option<i64>,
}

impl NewJob {
    /// A job of `kind` with `payload`, priority 0, [`DEFAULT_MAX_ATTEMPTS`], to run now.
    pub fn new(kind: impl Into<String>, payload: serde_json::Value) -> Self {
        Self {
            kind: kind.into(),
            payload,
            dedupe_key: None,
            priority: 0,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            run_at: None,
        }
    }

    /// A typed job, with the kind, priority, attempts and dedupe key its [`Job`] impl declares.
    pub fn typed<J: Job>(job: &J) -> AppResult<Self> {
        let payload = serde_json::to_value(job).map_err(AppError::internal)?;
        Ok(Self {
            dedupe_key: job.dedupe_key(),
            priority: J::PRIORITY,
            max_attempts: J::MAX_ATTEMPTS,
            ..Self::new(J::KIND, payload)
        })
    }

    /// Coalesces with a queued job of the same key.
    pub fn dedupe_key(mut self, key: impl Into<String>) -> Self {
        self.dedupe_key = Some(key.into());
        self
    }

    /// Sets the priority (higher first).
    pub fn priority(mut self, priority: i32) -> Self {
        self.priority = priority;
        self
    }

    /// Sets the number of attempts (at least 1).
    pub fn max_attempts(mut self, attempts: i32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// Runs no earlier than `at` (epoch ms).
    pub fn run_at(mut self, at: i64) -> Self {
        self.run_at = Some(at);
        self
    }
}

/// A job type with a typed payload: the one place that names its kind and queue settings.
pub trait Job: Serialize + DeserializeOwned + Send + 'static {
    /// The stored kind, unique across the application.
    const KIND: &'static str;
    /// Higher runs first.
    const PRIORITY: i32 = 0;
    /// Claims allowed before the job is buried.
    const MAX_ATTEMPTS: i32 = DEFAULT_MAX_ATTEMPTS;

    /// The key that coalesces equal work while it waits (e.g. `reconcile:<repo id>`); `None` = never.
    fn dedupe_key(&self) -> Option<String> {
        None
    }
}

/// The outcome of an enqueue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Enqueued {
    /// The new job, or the queued job it was coalesced into.
    pub id: JobId,
    /// Whether an equal queued job already existed (nothing was inserted).
    pub coalesced: bool,
}

/// A job claimed by a worker, with its lease.
#[derive(Debug, Clone)]
pub struct ClaimedJob {
    /// The job.
    pub id: JobId,
    /// Its kind.
    pub kind: String,
    /// Its payload as stored (JSON text).
    pub payload: String,
    /// Its dedupe key.
    pub dedupe_key: Option<String>,
    /// Its priority.
    pub priority: i32,
    /// Claims so far, this one included (1 on the first run).
    pub attempts: i32,
    /// Claims allowed.
    pub max_attempts: i32,
    /// The lease holder (what `heartbeat`, `complete`, `fail` and `release` must be given).
    pub locked_by: String,
    /// When the lease ends unless renewed (epoch ms).
    pub locked_until: i64,
}

impl ClaimedJob {
    /// Decodes the payload. A payload that does not decode never will, so the error is permanent.
    pub fn payload_as<T: DeserializeOwned>(&self) -> Result<T, JobError> {
        serde_json::from_str(&self.payload).map_err(|e| {
            JobError::permanent(format!(
                "the payload of this {} job does not decode: {e}",
                self.kind
            ))
        })
    }

    /// Whether this is the last attempt the job gets.
    pub fn is_last_attempt(&self) -> bool {
        self.attempts >= self.max_attempts
    }
}

/// One job as stored, for the API and tests.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JobView {
    /// The job.
    pub id: JobId,
    /// Its kind.
    pub kind: String,
    /// Its state.
    pub state: JobState,
    /// Its payload (JSON text).
    pub payload: String,
    /// Its dedupe key.
    pub dedupe_key: Option<String>,
    /// Its priority.
    pub priority: i32,
    /// Claims so far.
    pub attempts: i32,
    /// Claims allowed.
    pub max_attempts: i32,
    /// Not before this time (epoch ms).
    pub run_at: i64,
    /// The lease holder while running.
    pub locked_by: Option<String>,
    /// The end of the lease while running (epoch ms).
    pub locked_until: Option<i64>,
    /// The error of the last failed attempt.
    pub last_error: Option<String>,
    /// Created (epoch ms).
    pub created_at: i64,
    /// Last changed (epoch ms).
    pub updated_at: i64,
}

/// Why a handler failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobError {
    /// Might succeed later (a timeout, a 5xx, a lock): retried with backoff until attempts run out.
    #[error("{0}")]
    Retryable(String),
    /// Will never succeed (bad payload, the target was deleted): buried as `dead` at once.
    #[error("{0}")]
    Permanent(String),
}

impl JobError {
    /// A retryable failure. The text is stored: it must not contain secrets.
    pub fn retry(message: impl fmt::Display) -> Self {
        Self::Retryable(message.to_string())
    }

    /// A permanent failure. The text is stored: it must not contain secrets.
    pub fn permanent(message: impl fmt::Display) -> Self {
        Self::Permanent(message.to_string())
    }

    /// Whether another attempt may help.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Retryable(_))
    }

    /// The stored text.
    pub fn message(&self) -> &str {
        match self {
            Self::Retryable(m) | Self::Permanent(m) => m,
        }
    }
}

impl From<AppError> for JobError {
    /// Outages, conflicts and internal errors may pass; a missing resource or a rejected request will
    /// not change by retrying. Internal errors keep only their public text, so no driver detail (which
    /// could quote data) ends up in `last_error`.
    fn from(error: AppError) -> Self {
        match &error {
            AppError::Unavailable(_) | AppError::Conflict { .. } => Self::retry(&error),
            AppError::Internal(_) => Self::retry(error.public_message()),
            _ => Self::permanent(&error),
        }
    }
}

/// What [`Queue::fail`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failed {
    /// Queued again, to run at this time (epoch ms).
    Retry {
        /// When the next attempt may start.
        run_at: i64,
    },
    /// Buried: permanent error or no attempts left.
    Dead,
    /// The caller no longer held the lease; nothing changed.
    LeaseLost,
}

/// Exponential backoff between attempts: `base · 2^(attempt-1)`, capped, with "equal jitter" (a random
/// point in the upper half), so retries of many jobs failing together spread out yet never come back
/// sooner than half the nominal delay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The delay after the first failed attempt, before jitter (ms).
    pub base_ms: i64,
    /// The longest delay, before jitter (ms).
    pub cap_ms: i64,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            base_ms: 2_000,
            cap_ms: 3600 * 1000,
        }
    }
}

impl Backoff {
    /// The nominal delay after `attempts` failed attempts (no jitter).
    pub fn nominal_ms(&self, attempts: i32) -> i64 {
        let exp = u32::try_from(attempts.saturating_sub(1))
            .unwrap_or(0)
            .min(40);
        self.base_ms
            .max(1)
            .saturating_mul(1_i64 << exp)
            .min(self.cap_ms.max(1))
    }

    /// The delay to wait after `attempts` failed attempts, jittered into `[nominal/2, nominal]`.
    pub fn delay_ms(&self, attempts: i32) -> i64 {
        use rand::RngExt as _;
        let nominal = self.nominal_ms(attempts);
        let half = nominal / 2;
        half + rand::rng().random_range(0..=nominal - half)
    }
}

/// The queue over one database.
#[derive(Debug, Clone)]
pub struct Queue {
    db: Db,
    backoff: Backoff,
}

impl Queue {
    /// A queue on `db` with the default [`Backoff`].
    pub fn new(db: Db) -> Self {
        Self {
            db,
            backoff: Backoff::default(),
        }
    }

    /// Uses another backoff policy.
    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// The database.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Sets the gauge `trove_jobs_depth{state}` from [`Queue::depth_by_state`] (call it from the
    /// metrics scrape or a timer).
    pub async fn record_depth_metrics(&self) -> AppResult<()> {
        for (state, n) in self.depth_by_state().await? {
            metrics::gauge!("trove_jobs_depth", "state" => state).set(n as f64);
        }
        Ok(())
    }
}

impl Store {
    /// The job queue on this store's database.
    pub fn queue(&self) -> Queue {
        Queue::new(self.db.clone())
    }

    /// Enqueues a job on its own (see [`Queue::enqueue`]).
    pub async fn enqueue(&self, job: NewJob) -> AppResult<Enqueued> {
        self.queue().enqueue(job).await
    }

    /// Enqueues a job in the caller's transaction, so it exists exactly if the write that causes it
    /// commits (see [`Queue::enqueue_in`]).
    pub async fn enqueue_in(&self, tx: &mut crate::Tx, job: NewJob) -> AppResult<Enqueued> {
        self.queue().enqueue_in(tx, job).await
    }
}

/// Cuts an error to [`MAX_ERROR_BYTES`] on a character boundary, saying that it did.
pub(crate) fn truncate_error(text: &str) -> String {
    if text.len() <= MAX_ERROR_BYTES {
        return text.to_owned();
    }
    let mut end = MAX_ERROR_BYTES - 3;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_capped_and_jittered_within_bounds() {
        let b = Backoff {
            base_ms: 1000,
            cap_ms: 10_000,
        };
        assert_eq!(b.nominal_ms(1), 1000);
        assert_eq!(b.nominal_ms(2), 2000);
        assert_eq!(b.nominal_ms(4), 8000);
        assert_eq!(b.nominal_ms(5), 10_000);
        assert_eq!(b.nominal_ms(i32::MAX), 10_000);
        assert_eq!(b.nominal_ms(0), 1000);
        for attempts in 1..8 {
            let d = b.delay_ms(attempts);
            let n = b.nominal_ms(attempts);
            assert!(d >= n / 2 && d <= n, "{d} outside [{}, {n}]", n / 2);
        }
    }

    #[test]
    fn long_errors_are_cut_on_a_char_boundary() {
        let long = "é".repeat(MAX_ERROR_BYTES);
        let cut = truncate_error(&long);
        assert!(cut.len() <= MAX_ERROR_BYTES);
        assert!(cut.ends_with('…'));
        assert_eq!(truncate_error("short"), "short");
    }

    #[test]
    fn states_round_trip() {
        for s in JobState::ALL {
            assert_eq!(JobState::parse(s.as_str()).ok(), Some(s));
        }
        assert!(JobState::parse("weird").is_err());
    }
}
