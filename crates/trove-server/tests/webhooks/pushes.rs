//! Pushes: one reconcile per (target, head), redeliveries, concurrent copies, branch deletion and
//! tenancy.

use std::sync::Arc;

use serde_json::json;
use trove_store::sql;
use trove_testkit::{TestDb, backend_tests, bootstrap};

use crate::support::*;
use crate::{common, gitrepo};

backend_tests!(
    push_queues_one_reconcile_and_a_redelivery_nothing,
    concurrent_copies_make_one_job,
    branch_deletion_keeps_objects_and_a_new_push_revives,
    a_push_never_reaches_another_org,
);

async fn push_queues_one_reconcile_and_a_redelivery_nothing(db: &TestDb) {
    let w = common::world(db).await;
    let s = &w.server;
    let org = org_id(&w.org);
    let t = github_target(&db.store, org, 500, 9001, "acme/plugins", "main", None).await;
    let other_branch = github_target(&db.store, org, 500, 9001, "acme/plugins", "dev", None).await;
    let head = sha(0xabc);
    let before = counts(db).await;

    let r = deliver(
        s,
        "push",
        "push-1",
        &push_body(500, 9001, "acme/plugins", "main", &head),
    )
    .await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    let ids = event_ids(&r);
    assert_eq!(
        r.body,
        json!({"ok": true, "accepted": true, "event": "push", "deliveryId": "push-1", "queued": true, "syncEventIds": ids})
    );
    assert_eq!(ids.len(), 1);
    let event = db
        .store
        .sync_event(org, ids[0].parse().unwrap())
        .await
        .unwrap();
    assert_eq!(
        (
            event.target_id,
            event.trigger.as_str(),
            event.delivery_id.as_deref(),
            event.requested_sha.as_deref()
        ),
        (t.target, "push", Some("push-1"), Some(head.as_str()))
    );
    let (kind, key) = job_of(db, &ids[0]).await;
    assert_eq!(kind, "connectors.reconcile");
    assert_eq!(
        key,
        Some(format!("connectors.reconcile:{}:{head}", t.target))
    );
    let after = counts(db).await;
    let delta = |table: &str| {
        after.iter().find(|(n, _)| *n == table).unwrap().1
            - before.iter().find(|(n, _)| *n == table).unwrap().1
    };
    assert_eq!(
        (
            delta("webhook_deliveries"),
            delta("sync_events"),
            delta("jobs")
        ),
        (1, 1, 1)
    );
    let untouched: i64 = db
        .store
        .db
        .scalar(
            sql("SELECT COUNT(*) FROM sync_events WHERE target_id = $1 AND trigger = 'push'")
                .bind(other_branch.target.uuid()),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        untouched, 0,
        "another branch of the same repository is not reconciled"
    );

    // A redelivery (same id): 200, no new rows.
    let again = deliver(
        s,
        "push",
        "push-1",
        &push_body(500, 9001, "acme/plugins", "main", &head),
    )
    .await;
    assert_eq!(again.status, 200);
    assert_eq!(
        again.body,
        json!({"ok": true, "accepted": false, "reason": "duplicate delivery", "deliveryId": "push-1"})
    );
    assert_eq!(counts(db).await, after);
    // Untracked branch: 200 with a reason, recorded as ignored.
    let stray = deliver(
        s,
        "push",
        "push-2",
        &push_body(500, 9001, "acme/plugins", "feature", &head),
    )
    .await;
    assert_eq!(stray.status, 200);
    assert!(
        stray.body["reason"]
            .as_str()
            .unwrap()
            .contains("not followed"),
        "{:?}",
        stray.body
    );
    assert_eq!(
        db.store.delivery("push-2").await.unwrap().unwrap().outcome,
        "ignored"
    );
}

async fn concurrent_copies_make_one_job(db: &TestDb) {
    let w = common::world(db).await;
    let s = Arc::new(w.server);
    let org = org_id(&w.org);
    let t = github_target(&db.store, org, 600, 9100, "acme/busy", "main", None).await;
    let jobs_before = count(db, "jobs").await;

    // 200 concurrent copies of one delivery: one acts, every other is a duplicate.
    let body = Arc::new(push_body(600, 9100, "acme/busy", "main", &sha(1)));
    let tasks: Vec<_> = (0..200)
        .map(|_| {
            let (s, body) = (s.clone(), body.clone());
            tokio::spawn(async move { deliver(&s, "push", "same-delivery", &body).await })
        })
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        let r = task.await.unwrap();
        statuses.push(r.status.as_u16());
        if r.status == 200 {
            assert_eq!(r.body["reason"], "duplicate delivery");
        }
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 202).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 199);
    let events_of = |sha: String| {
        let store = db.store.clone();
        async move {
            store.db.scalar::<i64>(sql("SELECT COUNT(*) FROM sync_events WHERE target_id = $1 AND requested_sha = $2").bind(t.target.uuid()).bind(sha)).await.unwrap().unwrap()
        }
    };
    assert_eq!(events_of(sha(1)).await, 1);
    assert_eq!(count(db, "jobs").await, jobs_before + 1);

    // 50 distinct deliveries of one new head: all accepted, one sync event and one job between them.
    let body = Arc::new(push_body(600, 9100, "acme/busy", "main", &sha(2)));
    let tasks: Vec<_> = (0..50)
        .map(|n| {
            let (s, body) = (s.clone(), body.clone());
            tokio::spawn(async move { deliver(&s, "push", &format!("distinct-{n}"), &body).await })
        })
        .collect();
    let mut seen = std::collections::BTreeSet::new();
    for task in tasks {
        let r = task.await.unwrap();
        assert_eq!(r.status, 202, "{:?}", r.body);
        seen.extend(event_ids(&r));
    }
    assert_eq!(seen.len(), 1, "every delivery names the same sync event");
    assert_eq!(events_of(sha(2)).await, 1);
    assert_eq!(count(db, "jobs").await, jobs_before + 2);
}

async fn branch_deletion_keeps_objects_and_a_new_push_revives(db: &TestDb) {
    let w = common::world(db).await;
    let s = &w.server;
    let org = org_id(&w.org);
    let dir = tempfile::tempdir().unwrap();
    let url = gitrepo::git_repo(&dir);
    let t = github_target(&db.store, org, 700, 9200, "acme/repo", "main", Some(&url)).await;
    // Import the repository as the worker would.
    let sources: Arc<dyn trove_sources::RepositorySource> =
        Arc::new(trove_sources::GitSource::new(
            dir.path().join("cache"),
            trove_sources::GitLimits::default(),
        ));
    let engine = trove_sync::Engine::new(db.store.clone(), sources);
    let done = engine.run_sync_event(t.initial.id).await.unwrap();
    assert!(done.counts.created > 0, "{done:?}");
    let live = "SELECT COUNT(*) FROM config_objects WHERE org_id = $1 AND status = 'active'";
    let objects: i64 = db
        .store
        .db
        .scalar(sql(live).bind(org.uuid()))
        .await
        .unwrap()
        .unwrap();
    let jobs = count(db, "jobs").await;

    let deleted = deliver(
        s,
        "push",
        "del-1",
        &push_body(700, 9200, "acme/repo", "main", &sha(0)),
    )
    .await;
    assert_eq!(deleted.status, 202, "{:?}", deleted.body);
    assert_eq!(deleted.body["queued"], false);
    assert_eq!(
        db.store.target(org, t.target).await.unwrap().status,
        "branch_missing"
    );
    assert_eq!(
        db.store
            .db
            .scalar::<i64>(sql(live).bind(org.uuid()))
            .await
            .unwrap()
            .unwrap(),
        objects,
        "objects kept"
    );
    assert_eq!(
        count(db, "jobs").await,
        jobs,
        "no reconcile for a deleted branch"
    );

    let revived = deliver(
        s,
        "push",
        "del-2",
        &push_body(700, 9200, "acme/repo", "main", &sha(9)),
    )
    .await;
    assert_eq!(revived.status, 202, "{:?}", revived.body);
    assert_eq!(revived.body["queued"], true);
    assert_eq!(
        db.store.target(org, t.target).await.unwrap().status,
        "active"
    );
    assert_eq!(count(db, "jobs").await, jobs + 1);
}

async fn a_push_never_reaches_another_org(db: &TestDb) {
    let w = common::world(db).await;
    let s = &w.server;
    let a = org_id(&w.org);
    let other = bootstrap(&db.store, "other", "boss@other.test").await;
    let b = org_id(&other);
    // Both orgs follow repository 9400 / main, each through its own installation.
    let in_a = github_target(&db.store, a, 900, 9400, "shared/repo", "main", None).await;
    let in_b = github_target(&db.store, b, 901, 9400, "shared/repo", "main", None).await;
    // An installation bound to org A cannot be bound to org B.
    let taken = db
        .store
        .bind_github_installation(
            b,
            &trove_store::connectors::accounts::GithubInstallation {
                installation_id: 900,
                name: "x".into(),
                metadata: json!({}),
                suspended: false,
            },
            trove_store::Actor::default(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            taken,
            trove_core::AppError::Conflict {
                code: "github_installation_bound",
                ..
            }
        ),
        "{taken:?}"
    );

    let r = deliver(
        s,
        "push",
        "tenant-1",
        &push_body(900, 9400, "shared/repo", "main", &sha(3)),
    )
    .await;
    assert_eq!(r.status, 202);
    let pushes = |t: &GhTarget| {
        let store = db.store.clone();
        let target = t.target;
        async move {
            store.db.scalar::<i64>(sql("SELECT COUNT(*) FROM sync_events WHERE target_id = $1 AND trigger = 'push'").bind(target.uuid())).await.unwrap().unwrap()
        }
    };
    assert_eq!((pushes(&in_a).await, pushes(&in_b).await), (1, 0));
    // Lifecycle events of A's installation leave B alone too.
    let r = deliver(
        s,
        "installation",
        "tenant-2",
        &serde_json::to_vec(&json!({"action": "deleted", "installation": {"id": 900}})).unwrap(),
    )
    .await;
    assert_eq!(r.status, 202);
    assert_eq!(
        db.store.instance(b, in_b.instance).await.unwrap().status,
        "active"
    );
    assert_eq!(
        db.store.account(b, in_b.account).await.unwrap().status,
        "active"
    );
    assert_eq!(
        db.store.instance(a, in_a.instance).await.unwrap().status,
        "disabled"
    );
}
