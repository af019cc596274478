//! Queueing reconciles one at a time (the API's sync, the backstop, an initial sync): while a run
//! of a (target, SHA) waits, asking again joins it and writes nothing; once it has run, asking
//! again gets a run of its own. Every event points at its job, whose payload names the event.

mod common;

use common::{Repo, Setup, setup};
use trove_core::SyncEventId;
use trove_store::connectors::model::{SyncStatus, Trigger};
use trove_store::sql;
use trove_testkit::{TestDb, backend_tests};
use uuid::Uuid;

backend_tests!(a_waiting_run_is_joined_and_a_finished_one_is_not);

async fn count(s: &Setup, table: &str) -> i64 {
    s.store
        .db
        .scalar(sql(format!("SELECT CAST(COUNT(*) AS BIGINT) FROM {table}")))
        .await
        .unwrap()
        .unwrap()
}

/// The job event `id` points at, with the event id its payload names.
async fn job_of(s: &Setup, id: SyncEventId) -> (Uuid, String) {
    let job: Uuid = s
        .store
        .db
        .scalar(sql("SELECT job_id FROM sync_events WHERE id = $1").bind(id.uuid()))
        .await
        .unwrap()
        .expect("the event points at a job");
    let payload: String = s
        .store
        .db
        .scalar(sql("SELECT payload FROM jobs WHERE id = $1").bind(job))
        .await
        .unwrap()
        .expect("the job exists");
    let payload: serde_json::Value = serde_json::from_str(&payload).unwrap();
    (
        job,
        payload["eventId"].as_str().unwrap_or_default().to_owned(),
    )
}

async fn a_waiting_run_is_joined_and_a_finished_one_is_not(db: &TestDb) {
    let repo = Repo::fixture("anthropics__skills");
    let s = setup(&db.store, &repo.url()).await;
    let sha = repo.head();

    let first = s.queue(Trigger::Manual, Some(&sha)).await;
    let (first_job, named) = job_of(&s, first).await;
    assert_eq!(named, first.to_string());
    let joined = s.queue(Trigger::Push, Some(&sha)).await;
    assert_eq!(joined, first, "the waiting run covers the second request");
    assert_eq!(count(&s, "sync_events").await, 1, "nothing written to join");
    assert_eq!(count(&s, "jobs").await, 1);

    // Run directly, its job is left queued (a worker would find the event done).
    let ran = s.engine.run_sync_event(first).await.unwrap();
    assert!(
        matches!(ran.status, SyncStatus::Completed | SyncStatus::Partial),
        "{ran:?}"
    );
    let own = s.queue(Trigger::Push, Some(&sha)).await;
    assert_ne!(own, first, "a finished run does not cover a new request");
    let (own_job, named) = job_of(&s, own).await;
    assert_ne!(own_job, first_job);
    assert_eq!(named, own.to_string());
    assert_eq!(count(&s, "sync_events").await, 2);
    assert_eq!(count(&s, "jobs").await, 2);
}
