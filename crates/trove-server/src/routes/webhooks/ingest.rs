//! Group commit of webhook deliveries.
//!
//! GitHub never retries a delivery and wants an answer within 10 s, so a 202 must follow a durable
//! write, yet one transaction (one WAL flush on PostgreSQL) per request caps the rate at the
//! disk's flush rate. Handlers therefore hand their verified, parsed delivery to one ingest task
//! through a bounded queue and wait; the task takes everything pending (up to
//! [`IngestOptions::max_batch`]), writes it in one transaction ([`super::batch::write_batch`]),
//! and answers each handler after the commit. Under load, batches grow by themselves: whatever
//! arrived during one commit goes into the next.
//!
//! - Nothing is answered 202 before its transaction committed, so a crash loses only deliveries
//!   that were never acknowledged (GitHub shows them as failed, and they can be redelivered).
//! - A full queue answers 503 with `Retry-After` instead of holding unbounded memory.
//! - If a batch fails, its deliveries are retried one by one, so one bad delivery cannot fail the
//!   others (unless the database is unavailable, which would fail them all anyway).
//! - Delivery ids older than the retention are pruned by this task about once an hour.
//! - On PostgreSQL several writers take batches from the queue, so one batch is built while
//!   another waits for its WAL flush; on SQLite, which has one writer at a time, one does.
//!   Deduplication does not depend on this: the unique indexes make a second transaction wait for
//!   the first, and rows are inserted in key order so concurrent batches cannot deadlock on them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Mutex, mpsc, oneshot};
use trove_core::AppError;
use trove_core::time::now_ms;
use trove_store::connectors::deliveries::DELIVERY_RETENTION_MS;
use trove_store::{Backend, Store};

use super::batch::{Outcome, write_batch};
use super::work::Work;

/// How often old delivery ids are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// Sizes of the ingest.
#[derive(Debug, Clone, Copy)]
pub struct IngestOptions {
    /// Deliveries waiting for a commit before new ones are refused with 503.
    pub capacity: usize,
    /// Deliveries written in one transaction at most.
    pub max_batch: usize,
    /// Transactions in flight at once; `None` picks by engine (1 on SQLite, 4 on PostgreSQL).
    pub writers: Option<usize>,
}

impl Default for IngestOptions {
    fn default() -> Self {
        // A burst of a few thousand deliveries (a monorepo merge fanning out) waits rather than
        // failing; each waiting entry is a few ids and names, never a body.
        Self {
            capacity: 4096,
            max_batch: 256,
            writers: None,
        }
    }
}

/// Why a delivery was not written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IngestError {
    /// The queue is full: try again shortly.
    #[error("too many deliveries are waiting to be recorded; retry shortly")]
    Busy,
    /// The ingest task has stopped (the server is shutting down).
    #[error("the server is shutting down")]
    Stopped,
    /// The write failed; `message` is safe to show.
    #[error("{message}")]
    Failed {
        /// The HTTP status of the underlying error.
        status: u16,
        /// Its public message.
        message: String,
    },
}

impl From<&AppError> for IngestError {
    fn from(error: &AppError) -> Self {
        Self::Failed {
            status: error.status(),
            message: error.public_message(),
        }
    }
}

struct Pending {
    work: Work,
    reply: oneshot::Sender<Result<Outcome, IngestError>>,
}

/// The handle handlers submit deliveries through. Cloning it is cheap; the ingest task ends when
/// every handle is dropped, after writing what is pending.
#[derive(Clone)]
pub struct WebhookIngest {
    sender: mpsc::Sender<Pending>,
}

impl std::fmt::Debug for WebhookIngest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookIngest")
            .field(
                "waiting",
                &(self.sender.max_capacity() - self.sender.capacity()),
            )
            .finish()
    }
}

impl WebhookIngest {
    /// Starts the ingest task over `store` (must be called inside a tokio runtime).
    pub fn start(store: Store, options: IngestOptions) -> Self {
        let (sender, receiver) = mpsc::channel(options.capacity.max(1));
        let writers = options.writers.unwrap_or(match store.db.backend() {
            Backend::Sqlite => 1,
            Backend::Postgres => 4,
        });
        let shared = Arc::new(Shared {
            store,
            receiver: Mutex::new(receiver),
            pruned_at: std::sync::Mutex::new(None),
        });
        let max_batch = options.max_batch.max(1);
        match shared.store.db.backend() {
            // SQLite's driver runs each connection on a thread of its own and wakes the caller
            // when a statement is done; a writer task on the server's runtime then waits its
            // turn behind every request handler before sending the next statement, several
            // times per batch. The writer gets a thread of its own instead, so under load a
            // batch costs its statements rather than the handlers' queue.
            Backend::Sqlite => {
                for _ in 0..writers.max(1) {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("a current-thread runtime for the webhook writer");
                    let shared = shared.clone();
                    std::thread::Builder::new()
                        .name("webhook-writer".into())
                        .spawn(move || runtime.block_on(run(shared, max_batch)))
                        .expect("the webhook writer thread");
                }
            }
            // PostgreSQL connections are sockets driven by the server's runtime: the writers
            // stay on it.
            Backend::Postgres => {
                for _ in 0..writers.max(1) {
                    tokio::spawn(run(shared.clone(), max_batch));
                }
            }
        }
        Self { sender }
    }

    /// Queues `work` and waits until it is committed.
    pub async fn submit(&self, work: Work) -> Result<Outcome, IngestError> {
        let (reply, answer) = oneshot::channel();
        self.sender
            .try_send(Pending { work, reply })
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => IngestError::Busy,
                mpsc::error::TrySendError::Closed(_) => IngestError::Stopped,
            })?;
        answer.await.map_err(|_| IngestError::Stopped)?
    }
}

/// What the writers share.
struct Shared {
    store: Store,
    receiver: Mutex<mpsc::Receiver<Pending>>,
    pruned_at: std::sync::Mutex<Option<Instant>>,
}

impl Shared {
    /// Whether it is this writer's turn to prune (about once an hour across writers).
    fn prune_due(&self) -> bool {
        let mut at = self.pruned_at.lock().unwrap_or_else(|p| p.into_inner());
        let due = at.is_none_or(|t| t.elapsed() >= PRUNE_EVERY);
        if due {
            *at = Some(Instant::now());
        }
        due
    }
}

async fn run(shared: Arc<Shared>, max_batch: usize) {
    let store = &shared.store;
    let mut pending = Vec::with_capacity(max_batch);
    loop {
        // One writer at a time waits for work; the others are writing theirs meanwhile.
        let received = shared
            .receiver
            .lock()
            .await
            .recv_many(&mut pending, max_batch)
            .await;
        if received == 0 {
            return;
        }
        if shared.prune_due() {
            match store
                .prune_deliveries(now_ms() - DELIVERY_RETENTION_MS)
                .await
            {
                Ok(n) => tracing::debug!(pruned = n, "pruned old webhook delivery ids"),
                Err(error) => tracing::warn!(%error, "cannot prune old webhook delivery ids"),
            }
        }
        let (works, replies): (Vec<Work>, Vec<_>) =
            pending.drain(..).map(|p| (p.work, p.reply)).unzip();
        let started = Instant::now();
        let results = commit(store, &works).await;
        metrics::histogram!("trove_webhook_batch_size").record(works.len() as f64);
        metrics::histogram!("trove_webhook_batch_seconds").record(started.elapsed().as_secs_f64());
        for (reply, result) in replies.into_iter().zip(results) {
            let label = match &result {
                Ok(Outcome::Queued(_)) => "queued",
                Ok(Outcome::Applied(_)) => "applied",
                Ok(Outcome::Ignored(_)) => "ignored",
                Ok(Outcome::Duplicate) => "duplicate",
                Err(_) => "failed",
            };
            metrics::counter!("trove_webhook_deliveries_total", "outcome" => label).increment(1);
            // The handler may have gone (client timeout); the write stands and a redelivery will
            // be recognised.
            let _ = reply.send(result);
        }
    }
}

/// Writes `works` as one batch, or one by one when the batch fails for a reason that may be one
/// delivery's (a constraint, a deadlock with another server) rather than the database's.
async fn commit(store: &Store, works: &[Work]) -> Vec<Result<Outcome, IngestError>> {
    match write_batch(store, works).await {
        Ok(outcomes) => outcomes.into_iter().map(Ok).collect(),
        Err(error) if works.len() > 1 && !matches!(error, AppError::Unavailable(_)) => {
            tracing::warn!(%error, size = works.len(), "webhook batch failed; writing its deliveries one by one");
            let mut results = Vec::with_capacity(works.len());
            for work in works {
                results.push(match write_batch(store, std::slice::from_ref(work)).await {
                    Ok(mut one) => Ok(one.remove(0)),
                    Err(error) => {
                        tracing::warn!(%error, delivery = %work.delivery_id, event = %work.event, "cannot record a webhook delivery");
                        Err(IngestError::from(&error))
                    }
                });
            }
            results
        }
        Err(error) => {
            tracing::warn!(%error, size = works.len(), "cannot record webhook deliveries");
            let failed = IngestError::from(&error);
            works.iter().map(|_| Err(failed.clone())).collect()
        }
    }
}
