//! The GitHub webhook endpoint on both engines, through a real server: every payload fixture and
//! signature vector, the refusals (401, 400, 413, 503), push → one reconcile per (target, head),
//! redeliveries and concurrent copies, branch deletion, the lifecycle events of DESIGN flow 7,
//! zero writes on a bad signature, and tenancy.

mod common;
mod gitrepo;
#[path = "webhooks/support.rs"]
mod support;

use std::sync::Arc;

use serde_json::{Value, json};
use support::*;
use trove_core::OrgId;
use trove_server::ServerConfig;
use trove_store::sql;
use trove_testkit::{TestDb, TestServer, backend_tests, bootstrap};

backend_tests!(
    every_fixture_is_answered_as_documented,
    refusals_come_before_any_work,
    push_queues_one_reconcile_and_a_redelivery_nothing,
    concurrent_copies_make_one_job,
    branch_deletion_keeps_objects_and_a_new_push_revives,
    lifecycle_events_change_what_flow_7_says,
    a_push_never_reaches_another_org,
);

fn org_id(org: &trove_testkit::TestOrg) -> OrgId {
    org.id.parse().unwrap()
}

/// The outcome a fixture must get, in the order the table is posted.
enum Want {
    /// 202 and `queued: true` with this many sync events.
    Queued(usize),
    /// 202 and `queued: false`.
    Applied,
    /// 200 `accepted: false`, the reason containing this text.
    Ignored(&'static str),
}

async fn every_fixture_is_answered_as_documented(db: &TestDb) {
    let w = common::world(db).await;
    let s = &w.server;
    let org = org_id(&w.org);
    let st = &db.store;
    // Installations and targets matching the fixtures' ids.
    let app_main = github_target(
        st,
        org,
        92907551,
        926103085,
        "ctbur/ci-server",
        "main",
        None,
    )
    .await;
    let app_fix = github_target(
        st,
        org,
        92907551,
        926103085,
        "ctbur/ci-server",
        "fix-installation-token",
        None,
    )
    .await;
    let hello = github_target(
        st,
        org,
        1,
        186853002,
        "Codertocat/Hello-World",
        "master",
        None,
    )
    .await;
    let octo = github_target(
        st,
        org,
        1,
        186853261,
        "Octocoders/Old-Name",
        "main",
        Some("https://github.com/Octocoders/Old-Name.git"),
    )
    .await;
    let packit = github_target(
        st,
        org,
        1924121,
        184635124,
        "packit-service/hello-world",
        "build-branch",
        None,
    )
    .await;
    let flight = github_target(
        st,
        org,
        47030689,
        700724239,
        "flightctl/flightctl",
        "EDM-1179",
        None,
    )
    .await;
    let removed = github_target(st, org, 2, 1296269, "octocat/Hello-World", "main", None).await;
    let added = github_target(st, org, 957387, 186853007, "octocat/Space", "main", None).await;
    let suspended = github_target(st, org, 16598467, 42, "octo-org/thing", "main", None).await;
    st.db
        .execute(
            sql("UPDATE connector_instances SET status = 'error', status_reason = 'repo_access_removed' WHERE id = $1")
                .bind(added.instance.uuid()),
        )
        .await
        .unwrap();

    use Want::*;
    let table: &[(&str, &str, Want)] = &[
        ("push/delivery.app.branch-push.json", "push", Queued(1)),
        ("push/delivery.app.branch-deleted.json", "push", Applied),
        (
            "push/branch-created.with-installation.json",
            "push",
            Queued(1),
        ),
        // Same (target, head) as the previous delivery: joins its sync event.
        (
            "push/branch-created.no-username-committer.json",
            "push",
            Queued(1),
        ),
        ("push/branch-created.with-commits.json", "push", Queued(1)),
        ("push/force-push.with-installation.json", "push", Queued(1)),
        (
            "push/branch-push.json",
            "push",
            Ignored("not a GitHub App delivery"),
        ),
        (
            "push/delivery.repo-hook.branch-push.json",
            "push",
            Ignored("not a GitHub App delivery"),
        ),
        (
            "push/delivery.repo-hook.branch-deleted.json",
            "push",
            Ignored("not a GitHub App delivery"),
        ),
        (
            "push/tag-created.ghes-35.json",
            "push",
            Ignored("only branch pushes"),
        ),
        (
            "push/tag-deleted.json",
            "push",
            Ignored("only branch pushes"),
        ),
        (
            "push/tag-deleted.1.json",
            "push",
            Ignored("only branch pushes"),
        ),
        (
            "push/tag-deleted.with-installation.json",
            "push",
            Ignored("only branch pushes"),
        ),
        (
            "push/tag-deleted.with-organization.json",
            "push",
            Ignored("only branch pushes"),
        ),
        (
            "installation_repositories/removed.json",
            "installation_repositories",
            Applied,
        ),
        (
            "installation_repositories/added.json",
            "installation_repositories",
            Applied,
        ),
        (
            "installation/created.json",
            "installation",
            Ignored("changes nothing"),
        ),
        (
            "installation/created.with-requester.json",
            "installation",
            Ignored("changes nothing"),
        ),
        (
            "installation/new_permissions_accepted.json",
            "installation",
            Ignored("changes nothing"),
        ),
        ("installation/suspend.json", "installation", Applied),
        ("installation/unsuspend.json", "installation", Applied),
        ("installation/deleted.json", "installation", Applied),
        ("repository/renamed.json", "repository", Applied),
        // Same name and URL as the rename left: nothing to change.
        (
            "repository/transferred.with-installation.json",
            "repository",
            Ignored("nothing to change"),
        ),
        (
            "repository/transferred.json",
            "repository",
            Ignored("not a GitHub App delivery"),
        ),
        ("repository/archived.derived.json", "repository", Applied),
        (
            "repository/created.json",
            "repository",
            Ignored("changes nothing"),
        ),
        (
            "repository/created.with-installation.json",
            "repository",
            Ignored("changes nothing"),
        ),
        (
            "repository/edited.json",
            "repository",
            Ignored("changes nothing"),
        ),
        (
            "repository/edited.with-default_branch-edit.json",
            "repository",
            Ignored("changes nothing"),
        ),
        (
            "repository/privatized.json",
            "repository",
            Ignored("changes nothing"),
        ),
        (
            "repository/publicized.json",
            "repository",
            Ignored("changes nothing"),
        ),
        (
            "repository/deleted.ghes-35.json",
            "repository",
            Ignored("not a GitHub App delivery"),
        ),
        (
            "repository/deleted.github-ae.json",
            "repository",
            Ignored("not a GitHub App delivery"),
        ),
        ("ping/ping.json", "ping", Ignored("ping")),
        ("ping/with-app_id.json", "ping", Ignored("ping")),
        ("ping/with-organization.json", "ping", Ignored("ping")),
        (
            "issues/opened.json",
            "issues",
            Ignored("`issues` is not handled"),
        ),
        (
            "pull_request/opened.json",
            "pull_request",
            Ignored("`pull_request` is not handled"),
        ),
        (
            "pull_request/synchronize.json",
            "pull_request",
            Ignored("`pull_request` is not handled"),
        ),
    ];
    let mut shared_event = None;
    for (n, (file, event, want)) in table.iter().enumerate() {
        let id = format!("fixture-{n}");
        let r = deliver(s, event, &id, &fixture(file)).await;
        match want {
            Queued(events) => {
                assert_eq!(r.status, 202, "{file}: {:?}", r.body);
                assert_eq!(
                    (r.body["queued"].as_bool(), r.body["event"].as_str()),
                    (Some(true), Some(*event)),
                    "{file}"
                );
                assert_eq!(r.body["deliveryId"], id.as_str(), "{file}");
                assert_eq!(event_ids(&r).len(), *events, "{file}");
                if file.contains("branch-created.with-installation") {
                    shared_event = event_ids(&r).pop();
                }
                if file.contains("no-username-committer") {
                    assert_eq!(
                        event_ids(&r).pop(),
                        shared_event,
                        "same (target, head): one sync event"
                    );
                }
            }
            Applied => {
                assert_eq!(r.status, 202, "{file}: {:?}", r.body);
                assert_eq!(
                    (r.body["accepted"].as_bool(), r.body["queued"].as_bool()),
                    (Some(true), Some(false)),
                    "{file}"
                );
            }
            Ignored(reason) => {
                assert_eq!(r.status, 200, "{file}: {:?}", r.body);
                assert_eq!(
                    (r.body["ok"].as_bool(), r.body["accepted"].as_bool()),
                    (Some(true), Some(false)),
                    "{file}"
                );
                let text = r.body["reason"].as_str().unwrap_or_default();
                assert!(
                    text.contains(reason),
                    "{file}: reason {text:?} lacks {reason:?}"
                );
            }
        }
    }

    // What the deliveries did, target by target.
    let target = |t: &GhTarget| st.target(org, t.target);
    let instance = |t: &GhTarget| st.instance(org, t.instance);
    assert_eq!(target(&app_fix).await.unwrap().status, "branch_missing");
    assert_eq!(target(&app_main).await.unwrap().status, "active");
    for t in [&app_main, &hello, &packit, &flight] {
        let pushes: i64 = st
            .db
            .scalar(
                sql("SELECT COUNT(*) FROM sync_events WHERE target_id = $1 AND trigger = 'push'")
                    .bind(t.target.uuid()),
            )
            .await
            .unwrap()
            .unwrap();
        assert_eq!(pushes, 1, "one push sync event for {:?}", t.target);
    }
    let moved = target(&octo).await.unwrap();
    assert_eq!(
        moved.repository_name.as_deref(),
        Some("Octocoders/Hello-World")
    );
    assert_eq!(moved.url, "https://github.com/Octocoders/Hello-World.git");
    let archived = instance(&octo).await.unwrap();
    assert_eq!(
        (archived.status.as_str(), archived.status_reason.as_deref()),
        ("error", Some("repository_archived"))
    );
    let gone = instance(&removed).await.unwrap();
    // `removed` put it in error; `installation.deleted` (same installation) then disabled it.
    assert_eq!(
        (gone.status.as_str(), gone.status_reason.as_deref()),
        ("disabled", Some("installation_deleted"))
    );
    assert_eq!(
        st.account(org, removed.account).await.unwrap().status,
        "disconnected"
    );
    let back = instance(&added).await.unwrap();
    assert_eq!(
        (back.status.as_str(), back.status_reason.as_deref()),
        ("active", None)
    );
    assert_eq!(
        st.account(org, suspended.account).await.unwrap().status,
        "active"
    );
    // Every delivery that reached the database is recorded with its outcome, none left `received`.
    let left: i64 = st
        .db
        .scalar(sql(
            "SELECT COUNT(*) FROM webhook_deliveries WHERE outcome = 'received'",
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(left, 0);
    let record = st.delivery("fixture-0").await.unwrap().expect("recorded");
    assert_eq!(
        (
            record.event.as_str(),
            record.outcome.as_str(),
            record.installation_id,
            record.repository_id
        ),
        ("push", "queued", Some(92907551), Some(926103085))
    );
    assert!(
        st.delivery("fixture-38").await.unwrap().is_none(),
        "ignored events are not recorded"
    );
}

fn vector_body(v: &Value) -> Vec<u8> {
    if let Some(hex_body) = v["payload_utf8_hex"].as_str() {
        return hex::decode(hex_body).unwrap();
    }
    if let Some(p) = v["payload"]
        .as_str()
        .or(v["payload_as_reserialized"].as_str())
    {
        return p.as_bytes().to_vec();
    }
    if let Some(file) = v["body_file"].as_str() {
        return std::fs::read(shared_dir().join(file)).unwrap();
    }
    let spec = v["body"].as_str().expect("a body");
    let (file, transform) = spec.split_once(" transformed: ").unwrap();
    let original = fixture(file);
    match transform {
        "trailing-newline-added" => [original.as_slice(), b"\n"].concat(),
        "reserialized-pretty" => serde_json::to_vec_pretty(&json_of(&original)).unwrap(),
        other => panic!("unknown transform {other}"),
    }
}

/// Every signature vector through the HTTP route: a server per secret, the vector's headers.
async fn signature_vectors(db: &TestDb) {
    let doc = json_of(&fixture("signature-vectors.json"));
    let vectors = doc["vectors"].as_array().unwrap();
    assert!(vectors.len() >= 16);
    for (n, v) in vectors.iter().enumerate() {
        let name = v["name"].as_str().unwrap();
        let body = vector_body(v);
        let signature = v["expected_x_hub_signature_256"]
            .as_str()
            .or(v["presented_x_hub_signature_256"].as_str())
            .or(v["headers"]["X-Hub-Signature-256"].as_str());
        let secrets: Vec<String> = match v["secret"].as_str() {
            Some(s) => vec![s.to_string()],
            None => v["secrets"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_str().unwrap().to_string())
                .collect(),
        };
        let mut accepted_by_any = false;
        for secret in &secrets {
            let config = ServerConfig {
                webhook_secret: trove_server::WebhookSecret::new(secret.as_bytes()),
                ..ServerConfig::default()
            };
            let s = TestServer::start_with(db.store.clone(), config).await;
            let event = v["headers"]["X-GitHub-Event"].as_str().unwrap_or("ping");
            let delivery = format!("vector-{n}-{secret}");
            let mut headers = vec![
                ("x-github-event", event),
                ("x-github-delivery", delivery.as_str()),
            ];
            if let Some(sig) = signature {
                headers.push(("x-hub-signature-256", sig));
            }
            if let Some(sha1) = v["headers"]["X-Hub-Signature"].as_str() {
                headers.push(("x-hub-signature", sha1));
            }
            let r = post(&s, &headers, body.clone()).await;
            if r.status == 401 {
                let want = if signature.is_none() {
                    "missing signature"
                } else {
                    "invalid signature"
                };
                assert_eq!(r.body, json!({"ok": false, "error": want}), "{name}");
            } else {
                // Past the signature: a ping (200), a delivery for no tracked target (200), or a body
                // that is not JSON (400).
                assert!(
                    [200, 400].contains(&r.status.as_u16()),
                    "{name}: {} {:?}",
                    r.status,
                    r.body
                );
                accepted_by_any = true;
            }
        }
        assert_eq!(
            accepted_by_any,
            v["valid"].as_bool().unwrap(),
            "vector {name}"
        );
    }
}

async fn refusals_come_before_any_work(db: &TestDb) {
    let w = common::world(db).await;
    let org = org_id(&w.org);
    github_target(&db.store, org, 77, 7001, "acme/tools", "main", None).await;
    let body = push_body(77, 7001, "acme/tools", "main", &sha(1));
    let before = counts(db).await;

    // No secret configured: 503, the body unread.
    let plain = TestServer::start_with(db.store.clone(), ServerConfig::default()).await;
    let r = deliver(&plain, "push", "d-1", &body).await;
    assert_eq!(r.status, 503);
    assert_eq!(
        r.body,
        json!({"ok": false, "error": "webhook secret not configured"})
    );

    let s = &w.server;
    let good = sign(trove_testkit::server::WEBHOOK_SECRET.as_bytes(), &body);
    let wrong = sign(b"another secret", &body);
    let sha1_only = "sha1=4786d04e00b7e096196f1aea84542e08295e8c7c";
    // (headers, body, status, error)
    type Case<'a> = (Vec<(&'a str, &'a str)>, Vec<u8>, u16, &'a str);
    let cases: Vec<Case<'_>> = vec![
        (
            vec![("x-github-event", "push"), ("x-github-delivery", "d-2")],
            body.clone(),
            401,
            "missing signature",
        ),
        (
            vec![
                ("x-github-event", "push"),
                ("x-github-delivery", "d-3"),
                ("x-hub-signature", sha1_only),
            ],
            body.clone(),
            401,
            "missing signature",
        ),
        (
            vec![
                ("x-github-event", "push"),
                ("x-github-delivery", "d-4"),
                ("x-hub-signature-256", &wrong),
            ],
            body.clone(),
            401,
            "invalid signature",
        ),
        (
            vec![
                ("x-github-event", "push"),
                ("x-github-delivery", "d-5"),
                ("x-hub-signature-256", "sha256=zz"),
            ],
            body.clone(),
            401,
            "invalid signature",
        ),
        // A valid signature over other bytes (the body gained a newline).
        (
            vec![
                ("x-github-event", "push"),
                ("x-github-delivery", "d-6"),
                ("x-hub-signature-256", &good),
            ],
            [body.as_slice(), b"\n"].concat(),
            401,
            "invalid signature",
        ),
        (
            vec![("x-github-delivery", "d-7"), ("x-hub-signature-256", &good)],
            body.clone(),
            400,
            "invalid delivery",
        ),
        (
            vec![("x-github-event", "push"), ("x-hub-signature-256", &good)],
            body.clone(),
            400,
            "invalid delivery",
        ),
    ];
    for (headers, bytes, status, error) in cases {
        let r = post(s, &headers, bytes).await;
        assert_eq!(
            (r.status.as_u16(), r.error()),
            (status, error),
            "{headers:?}: {:?}",
            r.body
        );
    }
    for (event, bytes) in [
        ("push", b"{not json".to_vec()),
        (
            "push",
            br#"{"repository": {"id": 1, "full_name": "a/b"}}"#.to_vec(),
        ),
    ] {
        let r = deliver(s, event, "d-8", &bytes).await;
        assert_eq!(
            (r.status.as_u16(), r.error()),
            (400, "invalid delivery"),
            "{:?}",
            r.body
        );
    }
    // Over 25 MiB: 413 (the signature is never computed over it).
    let huge = vec![b' '; trove_server::routes::webhooks::WEBHOOK_BODY_LIMIT + 1];
    let r = post(
        s,
        &[
            ("x-github-event", "push"),
            ("x-github-delivery", "d-9"),
            ("x-hub-signature-256", &good),
        ],
        huge,
    )
    .await;
    assert_eq!(r.status, 413);
    // Nothing above wrote anything, and a correctly signed copy still works afterwards.
    assert_eq!(counts(db).await, before);
    let ok = deliver(s, "push", "d-10", &body).await;
    assert_eq!(ok.status, 202, "{:?}", ok.body);
    signature_vectors(db).await;
}

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

async fn lifecycle_events_change_what_flow_7_says(db: &TestDb) {
    let w = common::world(db).await;
    let s = &w.server;
    let org = org_id(&w.org);
    let a = github_target(&db.store, org, 800, 9301, "acme/one", "main", None).await;
    let b = github_target(&db.store, org, 800, 9302, "acme/two", "main", None).await;
    let jobs = count(db, "jobs").await;
    let objects = count(db, "config_objects").await;
    let body = |v: Value| serde_json::to_vec(&v).unwrap();
    let installation = json!({"id": 800});
    let repo = |id: i64, name: &str| json!({"id": id, "full_name": name, "clone_url": format!("https://github.com/{name}.git")});
    let mut n = 0;
    // Each step: the delivery, then exactly the rows that must differ from the state before it.
    let mut step = async |event: &str, payload: Value, want: u16| {
        n += 1;
        let before = state(db).await;
        let r = deliver(s, event, &format!("life-{n}"), &body(payload)).await;
        assert_eq!(r.status, want, "{event}: {:?}", r.body);
        let after = state(db).await;
        let changed: Vec<String> = after
            .into_iter()
            .filter(|row| !before.contains(row))
            .collect();
        changed
    };
    let inst = |i: &GhTarget| i.instance.uuid().to_string();
    let tgt = |i: &GhTarget| i.target.uuid().to_string();
    let acct = a.account.uuid().to_string();

    let changed = step(
        "installation",
        json!({"action": "suspend", "installation": installation}),
        202,
    )
    .await;
    assert_eq!(changed, vec![format!("account {acct} suspended")]);
    let changed = step(
        "installation",
        json!({"action": "unsuspend", "installation": installation}),
        202,
    )
    .await;
    assert_eq!(changed, vec![format!("account {acct} active")]);
    let changed = step("installation_repositories", json!({"action": "removed", "installation": installation, "repositories_added": [], "repositories_removed": [repo(9301, "acme/one")]}), 202).await;
    assert_eq!(
        changed,
        vec![format!(
            "instance {} error Some(\"repo_access_removed\")",
            inst(&a)
        )]
    );
    let changed = step("installation_repositories", json!({"action": "added", "installation": installation, "repositories_added": [repo(9301, "acme/one")], "repositories_removed": []}), 202).await;
    assert_eq!(changed, vec![format!("instance {} active None", inst(&a))]);
    let changed = step("repository", json!({"action": "renamed", "installation": installation, "repository": repo(9302, "acme/deux")}), 202).await;
    assert_eq!(
        changed,
        vec![format!(
            "target {} active Some(\"acme/deux\") https://github.com/acme/deux.git",
            tgt(&b)
        )]
    );
    let changed = step("repository", json!({"action": "transferred", "installation": installation, "repository": repo(9302, "other/deux")}), 202).await;
    assert_eq!(
        changed,
        vec![format!(
            "target {} active Some(\"other/deux\") https://github.com/other/deux.git",
            tgt(&b)
        )]
    );
    let changed = step("repository", json!({"action": "archived", "installation": installation, "repository": repo(9302, "other/deux")}), 202).await;
    assert_eq!(
        changed,
        vec![format!(
            "instance {} error Some(\"repository_archived\")",
            inst(&b)
        )]
    );
    let changed = step("repository", json!({"action": "unarchived", "installation": installation, "repository": repo(9302, "other/deux")}), 202).await;
    assert_eq!(changed, vec![format!("instance {} active None", inst(&b))]);
    let changed = step("repository", json!({"action": "deleted", "installation": installation, "repository": repo(9302, "other/deux")}), 202).await;
    assert_eq!(
        changed,
        vec![format!(
            "instance {} error Some(\"repository_deleted\")",
            inst(&b)
        )]
    );
    // A repository of no instance, and an unknown installation: recorded, nothing changes.
    let changed = step(
        "repository",
        json!({"action": "archived", "installation": installation, "repository": repo(1, "x/y")}),
        200,
    )
    .await;
    assert!(changed.is_empty());
    let changed = step(
        "installation",
        json!({"action": "deleted", "installation": {"id": 999}}),
        200,
    )
    .await;
    assert!(changed.is_empty());
    let changed = step(
        "installation",
        json!({"action": "deleted", "installation": installation}),
        202,
    )
    .await;
    let mut want = vec![
        format!("account {acct} disconnected"),
        format!(
            "instance {} disabled Some(\"installation_deleted\")",
            inst(&a)
        ),
        format!(
            "instance {} disabled Some(\"installation_deleted\")",
            inst(&b)
        ),
    ];
    want.sort();
    let mut changed = changed;
    changed.sort();
    assert_eq!(changed, want);
    // None of them enqueued a reconcile or touched an object; each change was audited.
    assert_eq!(count(db, "jobs").await, jobs);
    assert_eq!(count(db, "config_objects").await, objects);
    let audited: i64 = db
        .store
        .db
        .scalar(sql(
            "SELECT COUNT(*) FROM audit_log WHERE action LIKE 'github.%'",
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(audited, 10);
    // A push through the disconnected installation reaches nothing.
    let r = deliver(
        s,
        "push",
        "life-push",
        &push_body(800, 9301, "acme/one", "main", &sha(5)),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
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
