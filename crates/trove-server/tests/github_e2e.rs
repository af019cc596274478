//! The whole GitHub path on both engines, with a real worker: install (ownership proven) →
//! connect a repository → push → signed webhook 202 → the worker reconciles through the GitHub
//! REST API → the change is in the registry. Around it: redeliveries, a thousand concurrent copies
//! of one delivery, deliveries arriving out of order, and listings that fail part-way.

mod common;
#[path = "github_install/support.rs"]
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use trove_sources::{GitHubSource, GitLimits, GitSource, SourceRouter};
use trove_store::queue::{Worker, WorkerConfig};
use trove_store::{Store, sql};
use trove_sync::jobs::{SyncJobs, handlers};
use trove_testkit::github::{FakeRepo, push_payload, sign};
use trove_testkit::server::WEBHOOK_SECRET;
use trove_testkit::{TestDb, backend_tests};

use support::{World, world};

backend_tests!(
    push_reaches_the_registry,
    identical_deliveries_make_one_job,
    out_of_order_deliveries_converge_on_the_newest,
    failed_listings_tombstone_nothing,
    a_cold_import_reads_many_files_from_one_tarball
);

const CHECKLIST: &str = "skills/checklist/SKILL.md";
const STYLE: &str = "skills/style/SKILL.md";

/// An installed App, a connected repository with two skills imported, and a worker running.
struct Connected {
    w: World,
    repo: FakeRepo,
    store: Store,
    stop: CancellationToken,
}

impl Drop for Connected {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

fn skill(name: &str, body: &str) -> Vec<u8> {
    format!("---\nname: {name}\ndescription: The {name} skill\n---\n{body}\n").into_bytes()
}

async fn connected(db: &TestDb) -> Connected {
    let checklist = skill("checklist", "Check everything.");
    let style = skill("style", "Write plainly.");
    let files: &[(&str, &[u8])] = &[
        (
            ".claude-plugin/plugin.json",
            br#"{"name": "review", "description": "Review helpers", "version": "1.0.0"}"#,
        ),
        (CHECKLIST, &checklist),
        (STYLE, &style),
    ];
    let c = connect(db, "acme-gh/plugins", files).await;
    assert_eq!(c.object_names().await, ["checklist", "style"]);
    c
}

/// Installs the App, puts `files` in repository `name`, connects it with every plugin imported,
/// and waits for the first sync.
async fn connect(db: &TestDb, name: &str, files: &[(&str, &[u8])]) -> Connected {
    let w = world(db).await;
    let org = &w.base.org;
    let account = w.install(org).await;
    let repo = w.fake.add_repo(w.installation, name, files);
    let setup = w
        .base
        .server
        .post(
            &w.path(org, &format!("/connector-accounts/{account}/setup")),
            &org.owner_token,
            json!({"repository": name, "autoImport": true}),
        )
        .await;
    assert_eq!(setup.status, 201, "{:?}", setup.body);

    let stop = start_worker(&w, db);
    let c = Connected {
        w,
        repo,
        store: db.store.clone(),
        stop,
    };
    c.settle().await;
    c
}

impl Connected {
    fn webhook_url(&self) -> String {
        format!("{}/v1/webhooks/connectors/github", self.w.base.server.base)
    }

    /// A signed push of `main` from `before` to `after`, delivered as GitHub would.
    async fn push(&self, delivery: &str, before: &str, after: &str) -> (u16, Value) {
        let body = self.push_body(before, after);
        trove_testkit::github::deliver(
            &self.webhook_url(),
            WEBHOOK_SECRET.as_bytes(),
            "push",
            delivery,
            &body,
        )
        .await
    }

    fn push_body(&self, before: &str, after: &str) -> Vec<u8> {
        push_payload(
            &self.repo,
            self.w.installation,
            "refs/heads/main",
            before,
            after,
            false,
        )
        .to_string()
        .into_bytes()
    }

    fn commit(&self, changes: &[(&str, Option<&[u8]>)], message: &str) -> String {
        self.w.fake.commit(&self.repo, "main", changes, message)
    }

    fn head(&self) -> String {
        self.w.fake.head(&self.repo, "main").unwrap()
    }

    /// Waits until no job is queued or running and no sync event is waiting. A bound on how long
    /// the worker may take, not a performance assertion: it only turns a hang into a failure.
    async fn settle(&self) {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let busy = self
                .count(
                    "SELECT (SELECT COUNT(*) FROM jobs WHERE state IN ('queued', 'running') \
                       AND kind = 'connectors.reconcile') \
                     + (SELECT COUNT(*) FROM sync_events WHERE status IN ('queued', 'running'))",
                )
                .await;
            if busy == 0 {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the worker did not finish: {busy} jobs or events still pending"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn count(&self, query: &'static str) -> i64 {
        self.store.db.scalar(sql(query)).await.unwrap().unwrap_or(0)
    }

    async fn reconcile_jobs(&self) -> i64 {
        self.count("SELECT COUNT(*) FROM jobs WHERE kind = 'connectors.reconcile'")
            .await
    }

    async fn synced_sha(&self) -> Option<String> {
        self.store
            .db
            .scalar(sql("SELECT synced_sha FROM connector_targets"))
            .await
            .unwrap()
            .flatten()
    }

    /// The live config objects' names, through the API.
    async fn object_names(&self) -> Vec<String> {
        let org = &self.w.base.org;
        let reply = self
            .w
            .base
            .server
            .get(&self.w.path(org, "/config-objects"), &org.owner_token)
            .await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        let mut names: Vec<String> = reply.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|o| o["lifecycle"] != "deleted")
            .map(|o| o["name"].as_str().unwrap().to_owned())
            .collect();
        names.sort();
        names
    }

    /// The newest stored content of the `checklist` skill.
    async fn checklist_body(&self) -> String {
        self.latest_body("checklist").await
    }

    /// The newest stored content of the object the search for `name` finds first.
    async fn latest_body(&self, name: &str) -> String {
        let org = &self.w.base.org;
        let t = &org.owner_token;
        let server = &self.w.base.server;
        let list = server
            .get(&self.w.path(org, &format!("/config-objects?q={name}")), t)
            .await;
        let id = list.body["items"][0]["id"].as_str().unwrap().to_owned();
        let item = server
            .get(
                &self
                    .w
                    .path(org, &format!("/config-objects/{id}/versions/latest")),
                t,
            )
            .await;
        assert_eq!(item.status, 200, "{:?}", item.body);
        item.body.to_string()
    }

    async fn delivery_event(&self, delivery: &str) -> (String, Option<String>) {
        let rows: Vec<(String, Option<String>)> = self
            .store
            .db
            .fetch_all(
                sql("SELECT status, head_sha FROM sync_events WHERE delivery_id = $1")
                    .bind(delivery.to_owned()),
            )
            .await
            .unwrap();
        assert_eq!(rows.len(), 1, "one sync event for delivery {delivery}");
        rows.into_iter().next().unwrap()
    }
}

/// Push → 202 → the worker reconciles through the REST API → the registry has the change; the
/// same delivery again is acknowledged without new work.
async fn push_reaches_the_registry(db: &TestDb) {
    let c = connected(db).await;
    let before = c.head();
    let versions = c.count("SELECT COUNT(*) FROM config_object_versions").await;
    let changed = skill("checklist", "Check everything twice.");
    let after = c.commit(&[(CHECKLIST, Some(&changed))], "stricter checklist");
    c.w.fake.clear_requests();

    let (status, body) = c.push("delivery-1", &before, &after).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["ok"], true);
    assert_eq!(body["accepted"], true);
    assert_eq!(body["event"], "push");
    assert_eq!(body["deliveryId"], "delivery-1");
    assert_eq!(body["queued"], true);
    c.settle().await;

    assert_eq!(
        c.delivery_event("delivery-1").await,
        ("completed".to_owned(), Some(after.clone()))
    );
    assert_eq!(c.synced_sha().await.as_deref(), Some(after.as_str()));
    assert_eq!(
        c.count("SELECT COUNT(*) FROM config_object_versions").await,
        versions + 1,
        "exactly one new version: the changed skill"
    );
    assert!(c.checklist_body().await.contains("twice"));
    assert!(
        c.w.fake
            .requests()
            .iter()
            .any(|r| r.path.starts_with("/repos/acme-gh/plugins/git/")),
        "the content came through the GitHub REST API"
    );

    // A redelivery of the same id: acknowledged, nothing new queued or run.
    let jobs = c.reconcile_jobs().await;
    let (status, body) = c.push("delivery-1", &before, &after).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["accepted"], false);
    assert_eq!(c.reconcile_jobs().await, jobs);
    assert_eq!(
        c.count("SELECT COUNT(*) FROM sync_events WHERE delivery_id = 'delivery-1'")
            .await,
        1
    );
}

/// A thousand copies of one delivery racing in: one reconcile job, one sync event, one 202.
async fn identical_deliveries_make_one_job(db: &TestDb) {
    let c = connected(db).await;
    let before = c.head();
    let changed = skill("style", "Write plainly and briefly.");
    let after = c.commit(&[(STYLE, Some(&changed))], "briefer");
    let jobs = c.reconcile_jobs().await;
    let body = Arc::new(c.push_body(&before, &after));
    let signature = sign(WEBHOOK_SECRET.as_bytes(), &body);
    let client = reqwest::Client::new();
    // Every copy is in flight together; a semaphore keeps open sockets within a CI's file limit.
    let gate = Arc::new(tokio::sync::Semaphore::new(128));
    let mut copies = Vec::new();
    for _ in 0..1000 {
        let (client, body, signature, gate) = (
            client.clone(),
            Arc::clone(&body),
            signature.clone(),
            Arc::clone(&gate),
        );
        let url = c.webhook_url();
        copies.push(tokio::spawn(async move {
            let _permit = gate.acquire_owned().await.unwrap();
            client
                .post(url)
                .header("content-type", "application/json")
                .header("x-github-event", "push")
                .header("x-github-delivery", "same-delivery")
                .header("x-hub-signature-256", signature)
                .body(body.to_vec())
                .send()
                .await
                .expect("delivery sent")
                .status()
                .as_u16()
        }));
    }
    let mut statuses = std::collections::BTreeMap::new();
    for copy in copies {
        *statuses.entry(copy.await.unwrap()).or_insert(0) += 1;
    }
    assert_eq!(
        statuses,
        [(200, 999), (202, 1)].into_iter().collect(),
        "one copy acts, every other is a duplicate"
    );
    assert_eq!(c.reconcile_jobs().await, jobs + 1);
    c.settle().await;
    assert_eq!(
        c.delivery_event("same-delivery").await,
        ("completed".to_owned(), Some(after.clone()))
    );
    assert_eq!(
        c.count("SELECT COUNT(*) FROM webhook_deliveries WHERE delivery_id = 'same-delivery'")
            .await,
        1
    );
}

/// Commits A, B, C delivered as C, A, B: the newest head wins and nothing goes backwards.
async fn out_of_order_deliveries_converge_on_the_newest(db: &TestDb) {
    let c = connected(db).await;
    let start = c.head();
    let mut heads = vec![start.clone()];
    for step in ["A", "B", "C"] {
        let text = skill("checklist", &format!("Step {step}."));
        heads.push(c.commit(&[(CHECKLIST, Some(&text))], step));
    }
    // Stop the worker from racing ahead between deliveries: all three are queued first.
    c.stop.cancel();
    tokio::time::sleep(Duration::from_millis(200)).await;
    for (delivery, i) in [("push-c", 3), ("push-a", 1), ("push-b", 2)] {
        let (status, body) = c.push(delivery, &heads[i - 1], &heads[i]).await;
        assert_eq!(status, 202, "{body}");
    }
    let restarted = start_worker(&c.w, db);
    c.settle().await;
    restarted.cancel();

    assert_eq!(c.synced_sha().await.as_deref(), Some(heads[3].as_str()));
    let body = c.checklist_body().await;
    assert!(body.contains("Step C."), "{body}");
    // Each run reconciles the branch head as it is when it runs, so whichever event the worker
    // takes first applies C and the others find C already applied.
    let mut outcomes = Vec::new();
    for delivery in ["push-c", "push-a", "push-b"] {
        outcomes.push(c.delivery_event(delivery).await);
    }
    let completed: Vec<_> = outcomes.iter().filter(|(s, _)| s == "completed").collect();
    assert_eq!(completed.len(), 1, "{outcomes:?}");
    assert_eq!(completed[0].1.as_deref(), Some(heads[3].as_str()));
    assert!(
        outcomes
            .iter()
            .all(|(s, _)| s == "completed" || s == "ignored"),
        "{outcomes:?}"
    );
    // Whatever order the worker ran them in, the head it last applied is C.
    assert_eq!(c.synced_sha().await.as_deref(), Some(heads[3].as_str()));
}

/// The reconcile engine as the worker builds it: git and GitHub sources behind one router.
fn engine(c: &Connected, db: &TestDb) -> trove_sync::Engine {
    engine_for(&c.w, db)
}

fn engine_for(w: &World, db: &TestDb) -> trove_sync::Engine {
    // GitHub targets never touch the git cache; the router still needs a git source.
    let cache = std::env::temp_dir().join("trove-e2e-unused-git-cache");
    let sources = Arc::new(SourceRouter::new(
        Arc::new(GitSource::new(&cache, GitLimits::default())),
        Some(Arc::new(GitHubSource::new(w.app.clone()))),
    ));
    trove_sync::Engine::new(db.store.clone(), sources)
}

/// A worker as `trove serve` runs it (reconcile handler over both sources); stopped by the token.
fn start_worker(w: &World, db: &TestDb) -> CancellationToken {
    let sync = SyncJobs {
        engine: Arc::new(engine_for(w, db)),
        resync_interval_ms: 3_600_000,
    };
    let config = WorkerConfig {
        concurrency: 2,
        poll_interval: Duration::from_millis(50),
        ..WorkerConfig::default()
    };
    let worker = Worker::new(
        &db.store,
        handlers(db.store.clone(), Arc::new(|| None), Some(sync)),
        config,
    );
    let stop = CancellationToken::new();
    tokio::spawn(worker.run(stop.clone()));
    stop
}

/// A file is deleted, but the listing that would show it fails part-way (a truncated tree whose
/// folder walk hits server errors): that run fails and tombstones nothing. Once GitHub answers
/// again, the worker's retry of the same event removes exactly that one file.
async fn failed_listings_tombstone_nothing(db: &TestDb) {
    let c = connected(db).await;
    // The failing run is driven by hand, so the worker's retries cannot race the assertions.
    c.stop.cancel();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = c.head();
    let after = c.commit(&[(STYLE, None)], "drop the style skill");
    let (status, body) = c.push("broken-listing", &before, &after).await;
    assert_eq!(status, 202, "{body}");
    let event = body["syncEventIds"][0].as_str().unwrap().parse().unwrap();

    c.w.fake.set_truncate_trees(true);
    c.w.fake.fail_next("/git/trees/", 1000, 502);
    let failed = engine(&c, db).run_sync_event(event).await;
    assert!(
        failed.is_err(),
        "an incomplete listing cannot complete: {failed:?}"
    );
    assert_eq!(c.count("SELECT COUNT(*) FROM source_tombstones").await, 0);
    assert_eq!(c.object_names().await, ["checklist", "style"]);
    assert_eq!(
        c.synced_sha().await.as_deref(),
        Some(before.as_str()),
        "the target still shows the last complete reconcile"
    );

    // GitHub recovers (trees stay truncated, so the folder-by-folder walk runs): one tombstone.
    c.w.fake.clear_failures();
    let worker = start_worker(&c.w, db);
    c.settle().await;
    worker.cancel();
    assert_eq!(c.delivery_event("broken-listing").await.0, "completed");
    assert_eq!(c.count("SELECT COUNT(*) FROM source_tombstones").await, 1);
    assert_eq!(c.object_names().await, ["checklist"]);
    assert_eq!(c.synced_sha().await.as_deref(), Some(after.as_str()));
}

/// A cold import of a repository of many files: a few blob requests, then the commit's tarball
/// (GitHub's real layout, from `git archive`) for the rest, instead of one request per file; every
/// file's content arrives.
async fn a_cold_import_reads_many_files_from_one_tarball(db: &TestDb) {
    let skills: Vec<(String, Vec<u8>)> = (0..80)
        .map(|i| {
            let name = format!("skill-{i:02}");
            let body = skill(&name, &format!("Step {i} of the many."));
            (format!("skills/{name}/SKILL.md"), body)
        })
        .collect();
    let mut files: Vec<(&str, &[u8])> = vec![(
        ".claude-plugin/plugin.json",
        br#"{"name": "many", "description": "Many skills", "version": "1.0.0"}"#,
    )];
    files.extend(skills.iter().map(|(p, b)| (p.as_str(), b.as_slice())));
    let c = connect(db, "acme-gh/many", &files).await;

    let requests = c.w.fake.requests();
    let count = |prefix: &str| {
        requests
            .iter()
            .filter(|r| r.method == "GET" && r.path.starts_with(prefix))
            .count()
    };
    assert!(
        count("/repos/acme-gh/many/git/blobs/") <= 16,
        "{} blob requests for {} files",
        count("/repos/acme-gh/many/git/blobs/"),
        files.len()
    );
    assert_eq!(count("/repos/acme-gh/many/tarball/"), 1);
    assert_eq!(
        c.count("SELECT COUNT(*) FROM config_objects WHERE status = 'active'")
            .await,
        80
    );
    let body = c.latest_body("skill-42").await;
    assert!(body.contains("Step 42 of the many."), "{body}");
}
