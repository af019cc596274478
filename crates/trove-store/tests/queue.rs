//! The job queue and its worker runtime, on both engines. Nothing here asserts on timings: waits are
//! generous upper bounds for shared, noisy machines.

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use trove_core::JobId;
use trove_core::time::now_ms;
use trove_store::queue::{
    ClaimedJob, Failed, Handlers, Job, JobError, JobState, MAX_ERROR_BYTES, NewJob, Queue, Worker,
    WorkerConfig,
};
use trove_store::sql;
use trove_testkit::TestDb;

trove_testkit::backend_tests!(
    concurrent_claimers_claim_each_job_once,
    duplicate_enqueue_is_coalesced_only_while_queued,
    enqueue_in_a_transaction_commits_with_it,
    expired_lease_is_reclaimed_by_another_worker,
    job_failing_past_its_attempts_ends_dead,
    backoff_puts_the_retry_in_the_future,
    heartbeat_extends_the_lease_and_reports_a_lost_one,
    release_returns_the_job_without_spending_an_attempt,
    claims_follow_priority_and_kinds,
    depth_and_purge,
    worker_runs_jobs_to_completion,
    worker_survives_panics_and_unknown_kinds,
    worker_cancels_a_job_whose_lease_was_lost,
    worker_shutdown_releases_a_long_running_job,
);

const LEASE: i64 = 60_000;

/// Waits (polling) until `check` holds, failing the test after a generous upper bound.
async fn wait_until<F, Fut>(what: &str, check: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Asks a running worker to stop and waits until it has.
async fn stop(shutdown: &CancellationToken, running: tokio::task::JoinHandle<()>) {
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(60), running)
        .await
        .expect("the worker stops")
        .unwrap();
}

/// Makes a queued job runnable now (instead of waiting out its backoff).
async fn make_due(db: &TestDb, id: JobId) {
    db.store
        .db
        .execute(sql("UPDATE jobs SET run_at = 0 WHERE id = $1").bind(id.uuid()))
        .await
        .unwrap();
}

async fn state(q: &Queue, id: JobId) -> JobState {
    q.job(id).await.unwrap().expect("job exists").state
}

async fn depth(q: &Queue, state: &str) -> i64 {
    q.depth_by_state()
        .await
        .unwrap()
        .into_iter()
        .find(|(s, _)| s == state)
        .map_or(0, |(_, n)| n)
}

fn job(kind: &str) -> NewJob {
    NewJob::new(kind, serde_json::json!({}))
}

async fn concurrent_claimers_claim_each_job_once(db: &TestDb) {
    let q = db.store.queue();
    for i in 0..500 {
        q.enqueue(NewJob::new("work", serde_json::json!({ "i": i })))
            .await
            .unwrap();
    }
    let mut tasks = Vec::new();
    for w in 0..8 {
        let q = q.clone();
        tasks.push(tokio::spawn(async move {
            let worker = format!("w{w}");
            let mut claimed = Vec::new();
            while let Some(job) = q.claim(&worker, LEASE, None).await.unwrap() {
                assert_eq!(job.attempts, 1);
                assert!(q.complete(job.id, &worker).await.unwrap());
                claimed.push(job.id);
            }
            claimed
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let unique: HashSet<JobId> = all.iter().copied().collect();
    assert_eq!(all.len(), 500, "every job claimed once");
    assert_eq!(unique.len(), 500, "no job claimed twice");
    assert_eq!(depth(&q, "done").await, 500);
    assert_eq!(depth(&q, "queued").await, 0);
    assert_eq!(depth(&q, "running").await, 0);
}

async fn duplicate_enqueue_is_coalesced_only_while_queued(db: &TestDb) {
    let q = db.store.queue();
    let first = q.enqueue(job("sync").dedupe_key("repo:1")).await.unwrap();
    assert!(!first.coalesced);
    // Repeatedly, so that PostgreSQL's prepared statement also runs under a generic plan.
    for _ in 0..8 {
        let again = q.enqueue(job("sync").dedupe_key("repo:1")).await.unwrap();
        assert!(again.coalesced);
        assert_eq!(again.id, first.id);
    }
    let other = q.enqueue(job("sync").dedupe_key("repo:2")).await.unwrap();
    assert!(!other.coalesced);

    let claimed = q.claim("w1", LEASE, None).await.unwrap().unwrap();
    assert_eq!(claimed.id, first.id);
    // Running does not absorb a new request: the work must happen again after this run.
    let after = q.enqueue(job("sync").dedupe_key("repo:1")).await.unwrap();
    assert!(!after.coalesced);
    assert_ne!(after.id, first.id);

    // The running one fails while its twin is queued: it is retried without its key, no conflict.
    let failed = q
        .fail(first.id, "w1", &JobError::retry("flaky"))
        .await
        .unwrap();
    assert!(matches!(failed, Failed::Retry { .. }));
    let view = q.job(first.id).await.unwrap().unwrap();
    assert_eq!(view.state, JobState::Queued);
    assert_eq!(view.dedupe_key, None);
    let twin = q.job(after.id).await.unwrap().unwrap();
    assert_eq!(twin.dedupe_key.as_deref(), Some("repo:1"));
    assert_eq!(
        q.enqueue(job("sync").dedupe_key("repo:1"))
            .await
            .unwrap()
            .id,
        after.id
    );
}

async fn enqueue_in_a_transaction_commits_with_it(db: &TestDb) {
    let q = db.store.queue();
    let mut tx = db.store.db.begin().await.unwrap();
    let rolled_back = db
        .store
        .enqueue_in(&mut tx, job("x").dedupe_key("k"))
        .await
        .unwrap();
    drop(tx);
    assert!(q.job(rolled_back.id).await.unwrap().is_none());

    let mut tx = db.store.db.begin().await.unwrap();
    if db.engine() == "postgres" {
        // The literal conflict predicate must also match under a generic plan, which sqlx's cached
        // statements may switch to (a bound predicate fails there).
        tx.execute(sql("SET LOCAL plan_cache_mode = force_generic_plan"))
            .await
            .unwrap();
    }
    let a = db
        .store
        .enqueue_in(&mut tx, job("x").dedupe_key("k"))
        .await
        .unwrap();
    let b = db
        .store
        .enqueue_in(&mut tx, job("x").dedupe_key("k"))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert!(!a.coalesced);
    assert!(b.coalesced);
    assert_eq!(a.id, b.id);
    assert_eq!(state(&q, a.id).await, JobState::Queued);
}

async fn expired_lease_is_reclaimed_by_another_worker(db: &TestDb) {
    let q = db.store.queue();
    let id = q.enqueue(job("x")).await.unwrap().id;
    let first = q.claim("dead-worker", 1, None).await.unwrap().unwrap();
    assert_eq!(first.id, id);
    // The first worker "dies": no heartbeat. Wait until its 1 ms lease is over.
    let until = first.locked_until;
    wait_until("the lease expired", || async move { now_ms() > until }).await;

    let second = q.claim("w2", LEASE, None).await.unwrap().unwrap();
    assert_eq!(second.id, id);
    assert_eq!(second.attempts, 2);
    // The old holder can no longer touch it.
    assert!(!q.heartbeat(id, "dead-worker", LEASE).await.unwrap());
    assert!(!q.complete(id, "dead-worker").await.unwrap());
    assert_eq!(
        q.fail(id, "dead-worker", &JobError::retry("late"))
            .await
            .unwrap(),
        Failed::LeaseLost
    );
    assert!(!q.release(id, "dead-worker").await.unwrap());
    assert!(q.complete(id, "w2").await.unwrap());
    assert_eq!(state(&q, id).await, JobState::Done);

    // A job that keeps killing its workers is buried once its attempts are spent.
    let doomed = q.enqueue(job("x").max_attempts(1)).await.unwrap().id;
    let c = q.claim("w3", 1, None).await.unwrap().unwrap();
    assert_eq!(c.id, doomed);
    wait_until(
        "the lease expired",
        || async move { now_ms() > c.locked_until },
    )
    .await;
    assert!(q.claim("w4", LEASE, None).await.unwrap().is_none());
    let view = q.job(doomed).await.unwrap().unwrap();
    assert_eq!(view.state, JobState::Dead);
    assert!(view.last_error.unwrap().contains("lease"));
}

async fn job_failing_past_its_attempts_ends_dead(db: &TestDb) {
    let q = db.store.queue();
    let id = q.enqueue(job("x").max_attempts(3)).await.unwrap().id;
    for attempt in 1..=3 {
        make_due(db, id).await;
        let c = q.claim("w", LEASE, None).await.unwrap().unwrap();
        assert_eq!((c.id, c.attempts), (id, attempt));
        let outcome = q
            .fail(id, "w", &JobError::retry(format!("boom {attempt}")))
            .await
            .unwrap();
        if attempt < 3 {
            assert!(matches!(outcome, Failed::Retry { .. }), "{outcome:?}");
        } else {
            assert_eq!(outcome, Failed::Dead);
        }
    }
    let view = q.job(id).await.unwrap().unwrap();
    assert_eq!(view.state, JobState::Dead);
    assert_eq!(view.attempts, 3);
    assert_eq!(view.last_error.as_deref(), Some("boom 3"));
    make_due(db, id).await;
    assert!(q.claim("w", LEASE, None).await.unwrap().is_none());

    // An operator retries it: queued with fresh attempts.
    assert!(q.retry_dead(id).await.unwrap());
    assert!(!q.retry_dead(id).await.unwrap());
    let c = q.claim("w", LEASE, None).await.unwrap().unwrap();
    assert_eq!((c.id, c.attempts), (id, 1));

    // A permanent error buries at once; a long error is truncated.
    let long = "x".repeat(MAX_ERROR_BYTES * 3);
    assert_eq!(
        q.fail(id, "w", &JobError::permanent(&long)).await.unwrap(),
        Failed::Dead
    );
    let view = q.job(id).await.unwrap().unwrap();
    assert_eq!(view.state, JobState::Dead);
    assert!(view.last_error.unwrap().len() <= MAX_ERROR_BYTES);
}

async fn backoff_puts_the_retry_in_the_future(db: &TestDb) {
    let q = db.store.queue();
    let id = q.enqueue(job("x")).await.unwrap().id;
    q.claim("w", LEASE, None).await.unwrap().unwrap();
    let before = now_ms();
    let Failed::Retry { run_at } = q.fail(id, "w", &JobError::retry("503")).await.unwrap() else {
        panic!("expected a retry");
    };
    assert!(run_at > before, "the retry is scheduled later");
    let view = q.job(id).await.unwrap().unwrap();
    assert_eq!(view.state, JobState::Queued);
    assert_eq!(view.run_at, run_at);
    assert_eq!(view.locked_by, None);
    assert_eq!(view.last_error.as_deref(), Some("503"));
    assert!(
        q.claim("w", LEASE, None).await.unwrap().is_none(),
        "not runnable before its run_at"
    );
}

async fn heartbeat_extends_the_lease_and_reports_a_lost_one(db: &TestDb) {
    let q = db.store.queue();
    let id = q.enqueue(job("x")).await.unwrap().id;
    let c = q.claim("w", 1_000, None).await.unwrap().unwrap();
    assert!(q.heartbeat(id, "w", 3_600_000).await.unwrap());
    let view = q.job(id).await.unwrap().unwrap();
    assert!(view.locked_until.unwrap() > c.locked_until);
    assert_eq!(view.locked_by.as_deref(), Some("w"));
    assert!(!q.heartbeat(id, "someone-else", LEASE).await.unwrap());
    // The lease is lost once another worker holds the job (simulated: it was reclaimed).
    db.store
        .db
        .execute(sql("UPDATE jobs SET locked_by = 'thief' WHERE id = $1").bind(id.uuid()))
        .await
        .unwrap();
    assert!(!q.heartbeat(id, "w", LEASE).await.unwrap());
    assert!(!q.complete(id, "w").await.unwrap());
}

async fn release_returns_the_job_without_spending_an_attempt(db: &TestDb) {
    let q = db.store.queue();
    let id = q.enqueue(job("x").max_attempts(1)).await.unwrap().id;
    let c = q.claim("w", LEASE, None).await.unwrap().unwrap();
    assert_eq!(c.attempts, 1);
    assert!(q.release(id, "w").await.unwrap());
    let view = q.job(id).await.unwrap().unwrap();
    assert_eq!(view.state, JobState::Queued);
    assert_eq!(view.attempts, 0);
    assert_eq!(view.locked_by, None);
    assert!(!q.release(id, "w").await.unwrap());
    let again = q.claim("w2", LEASE, None).await.unwrap().unwrap();
    assert_eq!((again.id, again.attempts), (id, 1));
}

async fn claims_follow_priority_and_kinds(db: &TestDb) {
    let q = db.store.queue();
    let low = q.enqueue(job("a")).await.unwrap().id;
    let high = q.enqueue(job("a").priority(10)).await.unwrap().id;
    let other = q.enqueue(job("b").priority(20)).await.unwrap().id;
    let later = q
        .enqueue(job("a").priority(30).run_at(now_ms() + 3_600_000))
        .await
        .unwrap()
        .id;
    let only_a = ["a".to_string()];
    let c = q.claim("w", LEASE, Some(&only_a)).await.unwrap().unwrap();
    assert_eq!(c.id, high);
    let c = q.claim("w", LEASE, None).await.unwrap().unwrap();
    assert_eq!(c.id, other);
    let c = q.claim("w", LEASE, None).await.unwrap().unwrap();
    assert_eq!(c.id, low);
    assert!(q.claim("w", LEASE, None).await.unwrap().is_none());
    assert_eq!(state(&q, later).await, JobState::Queued);
    assert!(
        q.claim("w", LEASE, Some(&[])).await.unwrap().is_none(),
        "an empty kind list matches nothing"
    );
}

async fn depth_and_purge(db: &TestDb) {
    let q = db.store.queue();
    for _ in 0..3 {
        q.enqueue(job("x")).await.unwrap();
    }
    let c = q.claim("w", LEASE, None).await.unwrap().unwrap();
    q.complete(c.id, "w").await.unwrap();
    q.claim("w", LEASE, None).await.unwrap().unwrap();
    let depth = q.depth_by_state().await.unwrap();
    assert_eq!(
        depth,
        vec![
            ("queued".to_string(), 1),
            ("running".to_string(), 1),
            ("done".to_string(), 1),
            ("dead".to_string(), 0)
        ]
    );
    assert_eq!(q.purge_done(now_ms() - 3_600_000).await.unwrap(), 0);
    assert_eq!(q.purge_done(now_ms() + 1).await.unwrap(), 1);
    assert!(q.job(c.id).await.unwrap().is_none());
}

#[derive(Debug, Serialize, Deserialize)]
struct Greet {
    name: String,
}

impl Job for Greet {
    const KIND: &'static str = "greet";
    fn dedupe_key(&self) -> Option<String> {
        Some(format!("greet:{}", self.name))
    }
}

fn fast_config() -> WorkerConfig {
    WorkerConfig {
        concurrency: 3,
        poll_interval: Duration::from_millis(50),
        ..WorkerConfig::default()
    }
}

async fn worker_runs_jobs_to_completion(db: &TestDb) {
    let q = db.store.queue();
    let counted = Arc::new(AtomicUsize::new(0));
    let greeted = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let mut handlers = Handlers::new();
    {
        let counted = Arc::clone(&counted);
        handlers.register(
            "count",
            move |_job: ClaimedJob, _cancel: CancellationToken| {
                let counted = Arc::clone(&counted);
                async move {
                    counted.fetch_add(1, Ordering::SeqCst);
                    Ok(())
                }
            },
        );
    }
    {
        let greeted = Arc::clone(&greeted);
        handlers.register_job(move |job: Greet, ctx| {
            let greeted = Arc::clone(&greeted);
            async move {
                assert_eq!(ctx.attempts, 1);
                greeted.lock().unwrap().push(job.name);
                Ok(())
            }
        });
    }
    assert_eq!(handlers.kinds(), vec!["count", "greet"]);
    let shutdown = CancellationToken::new();
    let worker = Worker::new(&db.store, handlers, fast_config());
    let running = tokio::spawn(worker.run(shutdown.clone()));

    // Some jobs before the worker looks, some after (woken by NOTIFY on PostgreSQL, polling on SQLite).
    for _ in 0..20 {
        q.enqueue(job("count")).await.unwrap();
    }
    let greet = NewJob::typed(&Greet { name: "ada".into() }).unwrap();
    assert_eq!(greet.dedupe_key.as_deref(), Some("greet:ada"));
    q.enqueue(greet).await.unwrap();
    wait_until("every job is done", || async {
        depth(&q, "done").await == 21
    })
    .await;
    assert_eq!(counted.load(Ordering::SeqCst), 20);
    assert_eq!(*greeted.lock().unwrap(), vec!["ada".to_string()]);

    stop(&shutdown, running).await;
}

async fn worker_survives_panics_and_unknown_kinds(db: &TestDb) {
    let q = db.store.queue();
    let mut handlers = Handlers::new();
    handlers.register(
        "panics",
        |_job: ClaimedJob, _cancel: CancellationToken| async {
            panic!("handler bug");
        },
    );
    handlers.register(
        "fails",
        |_job: ClaimedJob, _cancel: CancellationToken| async {
            Err(JobError::permanent("the repository is gone"))
        },
    );
    handlers.register("ok", |_job: ClaimedJob, _cancel: CancellationToken| async {
        Ok(())
    });
    let shutdown = CancellationToken::new();
    let running =
        tokio::spawn(Worker::new(&db.store, handlers, fast_config()).run(shutdown.clone()));

    let panics = q.enqueue(job("panics").max_attempts(1)).await.unwrap().id;
    let unknown = q.enqueue(job("nobody").max_attempts(1)).await.unwrap().id;
    let fails = q.enqueue(job("fails")).await.unwrap().id;
    wait_until("the failing jobs are dead", || async {
        depth(&q, "dead").await == 3
    })
    .await;
    let view = q.job(panics).await.unwrap().unwrap();
    assert!(view.last_error.unwrap().contains("panicked: handler bug"));
    let view = q.job(unknown).await.unwrap().unwrap();
    assert!(view.last_error.unwrap().contains("no handler"));
    let view = q.job(fails).await.unwrap().unwrap();
    assert_eq!(view.attempts, 1, "a permanent error is not retried");

    // The worker is still alive.
    let ok = q.enqueue(job("ok")).await.unwrap().id;
    wait_until("the next job is done", || async {
        state(&q, ok).await == JobState::Done
    })
    .await;
    stop(&shutdown, running).await;
}

async fn worker_cancels_a_job_whose_lease_was_lost(db: &TestDb) {
    let q = db.store.queue();
    let cancelled = Arc::new(AtomicUsize::new(0));
    let mut handlers = Handlers::new();
    {
        let cancelled = Arc::clone(&cancelled);
        handlers.register(
            "slow",
            move |_job: ClaimedJob, cancel: CancellationToken| {
                let cancelled = Arc::clone(&cancelled);
                async move {
                    cancel.cancelled().await;
                    cancelled.fetch_add(1, Ordering::SeqCst);
                    Err(JobError::retry("cancelled"))
                }
            },
        );
    }
    let config = WorkerConfig {
        lease_ms: 300, // heartbeats every 100 ms
        ..fast_config()
    };
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(Worker::new(&db.store, handlers, config).run(shutdown.clone()));
    let id = q.enqueue(job("slow")).await.unwrap().id;
    wait_until("the job runs", || async {
        state(&q, id).await == JobState::Running
    })
    .await;
    // Another worker takes it over (as if the lease had expired and it was reclaimed).
    db.store
        .db
        .execute(
            sql("UPDATE jobs SET locked_by = 'thief', locked_until = $1 WHERE id = $2")
                .bind(now_ms() + 3_600_000)
                .bind(id.uuid()),
        )
        .await
        .unwrap();
    wait_until("the handler sees the cancellation", || async {
        cancelled.load(Ordering::SeqCst) == 1
    })
    .await;
    stop(&shutdown, running).await;
    // The loser recorded nothing: the thief still holds it.
    let view = q.job(id).await.unwrap().unwrap();
    assert_eq!(view.state, JobState::Running);
    assert_eq!(view.locked_by.as_deref(), Some("thief"));
    assert_eq!(view.last_error, None);
}

async fn worker_shutdown_releases_a_long_running_job(db: &TestDb) {
    let q = db.store.queue();
    let mut handlers = Handlers::new();
    // Ignores cancellation: the worker must still stop and hand the job back.
    handlers.register(
        "forever",
        |_job: ClaimedJob, _cancel: CancellationToken| async {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok(())
        },
    );
    let config = WorkerConfig {
        shutdown_grace: Duration::from_millis(100),
        cancel_grace: Duration::from_millis(100),
        ..fast_config()
    };
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(Worker::new(&db.store, handlers, config).run(shutdown.clone()));
    let id = q.enqueue(job("forever")).await.unwrap().id;
    wait_until("the job runs", || async {
        state(&q, id).await == JobState::Running
    })
    .await;
    stop(&shutdown, running).await;
    let view = q.job(id).await.unwrap().unwrap();
    assert_eq!(view.state, JobState::Queued);
    assert_eq!(view.attempts, 0, "the interrupted attempt is not counted");
    assert_eq!(view.locked_by, None);
    // Another worker can pick it up at once.
    let c = q.claim("next", LEASE, None).await.unwrap().unwrap();
    assert_eq!((c.id, c.attempts), (id, 1));
}

/// On PostgreSQL an idle worker is woken by the insert of a job (a trigger notifies at commit),
/// whether the job was enqueued on its own or in a transaction: with an hour between polls, the
/// jobs run only if the notifications arrive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_enqueued_job_wakes_an_idle_postgres_worker() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let q = db.store.queue();
    let mut handlers = Handlers::new();
    handlers.register(
        "count",
        |_job: ClaimedJob, _cancel: CancellationToken| async { Ok(()) },
    );
    let config = WorkerConfig {
        poll_interval: Duration::from_secs(3600),
        ..fast_config()
    };
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(Worker::new(&db.store, handlers, config).run(shutdown.clone()));
    // Past the worker's first look at the queue, and its listener connected (on loopback).
    tokio::time::sleep(Duration::from_secs(1)).await;
    q.enqueue(job("count")).await.unwrap();
    wait_until("the job enqueued on its own is done", || async {
        depth(&q, "done").await == 1
    })
    .await;
    let mut tx = db.store.db.begin().await.unwrap();
    q.enqueue_in(&mut tx, job("count")).await.unwrap();
    tx.commit().await.unwrap();
    wait_until("the job enqueued in a transaction is done", || async {
        depth(&q, "done").await == 2
    })
    .await;
    stop(&shutdown, running).await;
    db.finish().await;
}
