//! The worker runtime: claims jobs, runs their handlers with a renewed lease, records the outcome.
//!
//! * Handlers are registered by kind in one [`Handlers`] registry; typed jobs ([`super::Job`]) with
//!   [`Handlers::register_job`].
//! * [`Worker::run`] keeps up to `concurrency` jobs running. When nothing is runnable it sleeps for a
//!   jittered poll interval, or until a PostgreSQL notification says a job was enqueued.
//! * Each running job's lease is renewed every third of the lease. If a renewal finds the lease lost
//!   (another worker reclaimed the job), the job's [`CancellationToken`] is cancelled and, after
//!   `cancel_grace`, its handler is dropped: the job belongs to someone else now.
//! * A panicking handler is caught and recorded as a failed attempt; the worker carries on.
//! * On shutdown the worker stops claiming, lets running jobs finish for `shutdown_grace`, then cancels
//!   the rest and releases them (without spending the attempt) so another worker starts them at once.

use std::any::Any;
use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::FutureExt as _;
use futures_util::future::BoxFuture;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use trove_core::JobId;
use trove_core::time::now_ms;

use super::{ClaimedJob, DONE_RETENTION_MS, Failed, Job, JobError, Queue, listen};
use crate::Store;

/// What a handler returns.
pub type JobFuture = BoxFuture<'static, Result<(), JobError>>;

/// Runs jobs of one kind. Handlers must be idempotent: a job runs at least once, and again after a
/// worker dies mid-way. Closures `Fn(ClaimedJob, CancellationToken) -> impl Future` implement it.
pub trait JobHandler: Send + Sync + 'static {
    /// Runs one job. `cancel` fires when the lease is lost or the worker shuts down past its grace
    /// period; the handler should then stop soon (it is dropped after the worker's `cancel_grace`).
    fn handle(&self, job: ClaimedJob, cancel: CancellationToken) -> JobFuture;
}

impl<F, Fut> JobHandler for F
where
    F: Fn(ClaimedJob, CancellationToken) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), JobError>> + Send + 'static,
{
    fn handle(&self, job: ClaimedJob, cancel: CancellationToken) -> JobFuture {
        Box::pin(self(job, cancel))
    }
}

/// What a typed handler gets besides its payload.
#[derive(Debug, Clone)]
pub struct JobContext {
    /// The job.
    pub id: JobId,
    /// Claims so far, this one included.
    pub attempts: i32,
    /// Claims allowed.
    pub max_attempts: i32,
    /// Fires when the handler should stop (see [`JobHandler::handle`]).
    pub cancel: CancellationToken,
}

/// The registry of handlers by job kind: the one place where the application lists its jobs.
#[derive(Clone, Default)]
pub struct Handlers {
    map: HashMap<String, Arc<dyn JobHandler>>,
}

impl Handlers {
    /// No handlers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers the handler of `kind`.
    ///
    /// # Panics
    /// When `kind` already has one: two handlers for one kind is a programming error found at startup.
    pub fn register(&mut self, kind: impl Into<String>, handler: impl JobHandler) -> &mut Self {
        let kind = kind.into();
        assert!(
            !self.map.contains_key(&kind),
            "two handlers registered for job kind {kind:?}"
        );
        self.map.insert(kind, Arc::new(handler));
        self
    }

    /// Registers the handler of a typed job: the payload is decoded (a payload that does not decode
    /// fails the job permanently) and passed with a [`JobContext`].
    pub fn register_job<J, F, Fut>(&mut self, handler: F) -> &mut Self
    where
        J: Job,
        F: Fn(J, JobContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), JobError>> + Send + 'static,
    {
        let handler = Arc::new(handler);
        self.register(
            J::KIND,
            move |job: ClaimedJob, cancel: CancellationToken| {
                let handler = Arc::clone(&handler);
                async move {
                    let payload: J = job.payload_as()?;
                    let ctx = JobContext {
                        id: job.id,
                        attempts: job.attempts,
                        max_attempts: job.max_attempts,
                        cancel,
                    };
                    handler(payload, ctx).await
                }
            },
        )
    }

    /// The registered kinds, sorted.
    pub fn kinds(&self) -> Vec<&str> {
        let mut kinds: Vec<&str> = self.map.keys().map(String::as_str).collect();
        kinds.sort_unstable();
        kinds
    }

    fn get(&self, kind: &str) -> Option<Arc<dyn JobHandler>> {
        self.map.get(kind).cloned()
    }
}

impl std::fmt::Debug for Handlers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handlers")
            .field("kinds", &self.kinds())
            .finish()
    }
}

/// How a [`Worker`] runs.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Names this worker in `locked_by` (each claim appends `#n`); unique per process.
    pub worker_id: String,
    /// Jobs run at once. On PostgreSQL the pool needs this many connections plus two (one listens).
    pub concurrency: usize,
    /// How long a claim lasts without a heartbeat (ms); heartbeats come every third of it.
    pub lease_ms: i64,
    /// How often to look for jobs when idle (jittered between half and all of it).
    pub poll_interval: Duration,
    /// On shutdown, how long running jobs may finish before they are cancelled and released.
    pub shutdown_grace: Duration,
    /// After a job's token is cancelled, how long its handler may run on before it is dropped. Keep it
    /// well under the lease.
    pub cancel_grace: Duration,
    /// Claim only these kinds (`None`: every kind; jobs of unregistered kinds then fail).
    pub kinds: Option<Vec<String>>,
    /// Done jobs older than this are purged (ms); `None` keeps them.
    pub done_retention_ms: Option<i64>,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            worker_id: default_worker_id(),
            concurrency: 4,
            lease_ms: 60_000,
            poll_interval: Duration::from_secs(1),
            shutdown_grace: Duration::from_secs(30),
            cancel_grace: Duration::from_secs(5),
            kinds: None,
            done_retention_ms: Some(DONE_RETENTION_MS),
        }
    }
}

/// `host:pid:random`, so two processes (or two runs of one) never share a lease holder name.
pub fn default_worker_id() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "worker".into());
    // The tail of a v7 UUID is random.
    let random = uuid::Uuid::now_v7().simple().to_string();
    format!("{host}:{}:{}", std::process::id(), &random[24..])
}

/// How often done jobs are purged.
const PURGE_EVERY: Duration = Duration::from_secs(600);
/// Recording an outcome is retried this often before the worker gives up and lets the lease expire.
const RECORD_TRIES: u32 = 3;

/// Runs jobs until shut down.
#[derive(Debug)]
pub struct Worker {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    queue: Queue,
    handlers: Handlers,
    config: WorkerConfig,
    /// Cancelled when the shutdown grace period is over: running jobs must stop and be released.
    hard_stop: CancellationToken,
}

impl Worker {
    /// A worker over the store's queue.
    pub fn new(store: &Store, handlers: Handlers, config: WorkerConfig) -> Self {
        Self::with_queue(store.queue(), handlers, config)
    }

    /// A worker over a configured queue (e.g. another backoff).
    pub fn with_queue(queue: Queue, handlers: Handlers, config: WorkerConfig) -> Self {
        Self {
            shared: Arc::new(Shared {
                queue,
                handlers,
                config,
                hard_stop: CancellationToken::new(),
            }),
        }
    }

    /// Claims and runs jobs until `shutdown` is cancelled, then stops claiming, waits up to
    /// `shutdown_grace` for running jobs and releases those still running. Returns when every job
    /// task has ended. Database errors are logged and retried; they never end the loop.
    pub async fn run(self, shutdown: CancellationToken) {
        let s = &self.shared;
        let cfg = &s.config;
        let slots = Arc::new(Semaphore::new(cfg.concurrency.max(1)));
        let wake = Arc::new(Notify::new());
        let tracker = TaskTracker::new();
        let listener_stop = CancellationToken::new();
        if let Some(pool) = s.queue.db().postgres_pool() {
            tracker.spawn(listen::listen(
                pool.clone(),
                Arc::clone(&wake),
                listener_stop.clone(),
            ));
        }
        tracing::info!(worker = %cfg.worker_id, kinds = ?s.handlers.kinds(), "job worker started");
        let mut next_purge = Instant::now();
        let mut claims: u64 = 0;
        loop {
            let permit = tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                permit = Arc::clone(&slots).acquire_owned() => match permit {
                    Ok(permit) => permit,
                    Err(_) => break, // never closed
                },
            };
            if next_purge <= Instant::now() {
                next_purge = Instant::now() + PURGE_EVERY;
                self.purge().await;
            }
            claims += 1;
            // A per-claim holder name: if this worker's own expired lease is reclaimed by another of
            // its slots, the old slot still cannot finish the new claim.
            let holder = format!("{}#{claims}", cfg.worker_id);
            match s
                .queue
                .claim(&holder, cfg.lease_ms, cfg.kinds.as_deref())
                .await
            {
                Ok(Some(job)) => {
                    tracker.spawn(run_job(Arc::clone(s), job, permit));
                    continue;
                }
                Ok(None) => drop(permit),
                Err(error) => {
                    drop(permit);
                    tracing::warn!(%error, "cannot claim jobs; retrying after the poll interval");
                }
            }
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = wake.notified() => {}
                () = tokio::time::sleep(jittered(cfg.poll_interval)) => {}
            }
        }
        tracing::info!(worker = %cfg.worker_id, "job worker stopping");
        listener_stop.cancel();
        tracker.close();
        if tokio::time::timeout(cfg.shutdown_grace, tracker.wait())
            .await
            .is_err()
        {
            tracing::info!(worker = %cfg.worker_id, "releasing jobs still running after the grace period");
            s.hard_stop.cancel();
            tracker.wait().await;
        }
        tracing::info!(worker = %cfg.worker_id, "job worker stopped");
    }

    async fn purge(&self) {
        let Some(retention) = self.shared.config.done_retention_ms else {
            return;
        };
        match self.shared.queue.purge_done(now_ms() - retention).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(purged = n, "purged finished jobs"),
            Err(error) => tracing::warn!(%error, "cannot purge finished jobs"),
        }
    }
}

/// A duration between half and all of `d`, so idle workers do not poll in lockstep.
fn jittered(d: Duration) -> Duration {
    use rand::RngExt as _;
    d.mul_f64(rand::rng().random_range(0.5..=1.0))
}

/// How a job ended, as the `outcome` label of `trove_jobs_total`.
enum Outcome {
    Done,
    Retry,
    Dead,
    Panic,
    Released,
    LeaseLost,
}

impl Outcome {
    fn label(&self) -> &'static str {
        match self {
            Self::Done => "done",
            Self::Retry => "retry",
            Self::Dead => "dead",
            Self::Panic => "panic",
            Self::Released => "released",
            Self::LeaseLost => "lease_lost",
        }
    }
}

/// Runs one claimed job to its recorded outcome; the permit frees its slot when this returns.
async fn run_job(s: Arc<Shared>, job: ClaimedJob, _permit: OwnedSemaphorePermit) {
    let started = Instant::now();
    let (id, kind, holder) = (job.id, job.kind.clone(), job.locked_by.clone());
    let token = s.hard_stop.child_token();
    let handler = s.handlers.get(&kind);
    let handler_token = token.clone();
    // The handler is called inside the future, so a panic while building its future is caught too.
    let run = async move {
        match handler {
            Some(handler) => handler.handle(job, handler_token).await,
            None => Err(JobError::retry(format!(
                "no handler is registered for job kind {:?} in this worker",
                job.kind
            ))),
        }
    };
    let mut run = pin!(AssertUnwindSafe(run).catch_unwind());
    let result = {
        let beat = heartbeat(&s.queue, id, &holder, s.config.lease_ms, token.clone());
        tokio::select! {
            result = &mut run => Some(result),
            () = token.cancelled() => None,
            () = beat => None,
        }
    };
    let result = match result {
        Some(result) => Some(result),
        // Cancelled: give a cooperative handler a moment to stop, then drop it.
        None => tokio::time::timeout(s.config.cancel_grace, &mut run)
            .await
            .ok(),
    };
    let shutting_down = s.hard_stop.is_cancelled();
    let outcome = match result {
        Some(Ok(Ok(()))) => match record(|| s.queue.complete(id, &holder)).await {
            Some(true) => Outcome::Done,
            _ => Outcome::LeaseLost,
        },
        // Stopped by the shutdown, not by its own fault: hand it back without spending the attempt.
        Some(Ok(Err(_))) | None if shutting_down => {
            match record(|| s.queue.release(id, &holder)).await {
                Some(true) => Outcome::Released,
                _ => Outcome::LeaseLost,
            }
        }
        None => Outcome::LeaseLost,
        Some(Ok(Err(error))) => {
            tracing::info!(job = %id, %kind, %error, retryable = error.is_retryable(), "job failed");
            fail(&s.queue, id, &holder, &error).await
        }
        Some(Err(panic)) => {
            let error =
                JobError::retry(format!("the handler panicked: {}", panic_message(&*panic)));
            tracing::error!(job = %id, %kind, %error, "job handler panicked");
            match fail(&s.queue, id, &holder, &error).await {
                Outcome::LeaseLost => Outcome::LeaseLost,
                _ => Outcome::Panic,
            }
        }
    };
    if matches!(outcome, Outcome::LeaseLost) {
        tracing::warn!(job = %id, %kind, "lost the lease of a job; its outcome was not recorded");
    }
    metrics::counter!("trove_jobs_total", "kind" => kind.clone(), "outcome" => outcome.label())
        .increment(1);
    metrics::histogram!("trove_job_duration_seconds", "kind" => kind)
        .record(started.elapsed().as_secs_f64());
}

/// Renews the lease every third of it. Returns only when the lease is lost, after cancelling `token`.
/// A failed renewal (database hiccup) is retried at the next beat; if the lease expires meanwhile, the
/// next beat finds it lost.
async fn heartbeat(
    queue: &Queue,
    id: JobId,
    holder: &str,
    lease_ms: i64,
    token: CancellationToken,
) {
    let every = Duration::from_millis(u64::try_from(lease_ms / 3).unwrap_or(0).max(10));
    loop {
        tokio::time::sleep(every).await;
        match queue.heartbeat(id, holder, lease_ms).await {
            Ok(true) => {}
            Ok(false) => {
                token.cancel();
                return;
            }
            Err(error) => tracing::warn!(job = %id, %error, "cannot renew a job lease"),
        }
    }
}

/// Records a failed attempt.
async fn fail(queue: &Queue, id: JobId, holder: &str, error: &JobError) -> Outcome {
    match record(|| queue.fail(id, holder, error)).await {
        Some(Failed::Retry { .. }) => Outcome::Retry,
        Some(Failed::Dead) => Outcome::Dead,
        Some(Failed::LeaseLost) | None => Outcome::LeaseLost,
    }
}

/// Runs a recording statement, retrying a few times on database errors. `None` when it kept failing:
/// the lease then expires and the job runs again elsewhere (at least once, never lost).
async fn record<T, F, Fut>(op: F) -> Option<T>
where
    F: Fn() -> Fut,
    Fut: Future<Output = trove_core::AppResult<T>>,
{
    for attempt in 1..=RECORD_TRIES {
        match op().await {
            Ok(value) => return Some(value),
            Err(error) => {
                tracing::warn!(%error, attempt, "cannot record a job outcome");
                if attempt < RECORD_TRIES {
                    tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
                }
            }
        }
    }
    None
}

fn panic_message(panic: &(dyn Any + Send)) -> String {
    if let Some(text) = panic.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = panic.downcast_ref::<String>() {
        text.clone()
    } else {
        "(no message)".into()
    }
}
