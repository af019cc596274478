//! Reconciles that reuse the last discovery and skip unchanged plugins: a change still gives exactly
//! the right versions and tombstones, a changed manifest is read again, added and renamed plugins
//! are seen, and an engine in a fresh process reuses what the database kept.

mod common;

use std::sync::{Arc, Mutex};

use common::{Reads, RecordingSource, Repo, setup};
use trove_sources::{GitLimits, GitSource};
use trove_store::connectors::model::{SyncCounts, SyncEvent, SyncStatus, Trigger};
use trove_store::sql;
use trove_sync::Engine;
use trove_testkit::{TestDb, backend_tests};

const PLUGINS: [&str; 4] = ["alpha", "beta", "gamma", "delta"];

fn marketplace(repo: &Repo, names: &[&str]) {
    let entries: Vec<_> = names
        .iter()
        .map(|n| serde_json::json!({"name": n, "source": format!("./plugins/{n}")}))
        .collect();
    repo.write(
        ".claude-plugin/marketplace.json",
        &serde_json::json!({"name": "m", "owner": {"name": "o"}, "plugins": entries}).to_string(),
    );
}

fn plugin(repo: &Repo, name: &str, version: &str) {
    repo.write(
        &format!("plugins/{name}/.claude-plugin/plugin.json"),
        &serde_json::json!({"name": name, "version": version}).to_string(),
    );
    for c in 0..3 {
        repo.write(
            &format!("plugins/{name}/commands/c{c}.md"),
            &format!("---\ndescription: {name} command {c}\n---\n\nDo {c}.\n"),
        );
    }
    repo.write(
        &format!("plugins/{name}/skills/s/SKILL.md"),
        &format!("---\nname: s\ndescription: skill of {name}\n---\n\nBody.\n"),
    );
}

struct Harness {
    repo: Repo,
    s: common::Setup,
    reads: Reads,
}

impl Harness {
    async fn new(db: &TestDb) -> Self {
        let repo = Repo::empty();
        marketplace(&repo, &PLUGINS);
        for name in PLUGINS {
            plugin(&repo, name, "1.0.0");
        }
        repo.commit("four plugins");
        let s = setup(&db.store, &repo.url()).await;
        Harness {
            repo,
            s,
            reads: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// A new engine (as a fresh worker process would have) over a recording source.
    fn engine(&self) -> Engine {
        let source = RecordingSource {
            git: GitSource::new(self.s.cache.path(), GitLimits::default()),
            reads: self.reads.clone(),
        };
        Engine::new(self.s.store.clone(), Arc::new(source)).with_lease_ms(5_000)
    }

    /// Commits, reconciles with a fresh engine and returns the event and the paths read.
    async fn sync(&self, message: &str) -> (SyncEvent, Vec<String>) {
        self.repo.commit(message);
        self.reads.lock().unwrap().clear();
        let id = self.s.queue(Trigger::Push, None).await;
        let ev = self.engine().run_sync_event(id).await.unwrap();
        let mut reads: Vec<String> = self
            .reads
            .lock()
            .unwrap()
            .iter()
            .map(|(path, _)| path.clone())
            .collect();
        reads.sort();
        reads.dedup();
        (ev, reads)
    }

    async fn plugin_version(&self, name: &str) -> Option<String> {
        self.s
            .store
            .db
            .scalar(
                sql("SELECT version FROM plugins WHERE connector_instance_id = $1 AND name = $2")
                    .bind(self.s.instance.uuid())
                    .bind(name.to_owned()),
            )
            .await
            .unwrap()
            .flatten()
    }
}

fn counts(created: i32, updated: i32, deleted: i32, unchanged: i32) -> SyncCounts {
    SyncCounts {
        created,
        updated,
        deleted,
        unchanged,
        skipped: 0,
    }
}

/// Only the folders that changed are read; every other plugin is taken from the last discovery.
fn read_only_under(reads: &[String], folders: &[&str]) {
    for path in reads {
        assert!(
            path == ".claude-plugin/marketplace.json"
                || folders.iter().any(|f| path.starts_with(&format!("{f}/"))),
            "{path} was read: {reads:?}"
        );
    }
}

async fn one_change_with_reuse_writes_exactly_it(db: &TestDb) {
    let h = Harness::new(db).await;
    let (first, _) = h.sync("first").await;
    assert_eq!(first.status, SyncStatus::Completed, "{first:?}");
    assert_eq!(first.counts, counts(16, 0, 0, 0));
    let (versions, tombstones) = (h.s.versions().await, h.s.tombstones().await);

    // One edited command in beta, one deleted command in gamma.
    h.repo.write(
        "plugins/beta/commands/c1.md",
        "---\ndescription: beta command 1, edited\n---\n\nDo it better.\n",
    );
    std::fs::remove_file(h.repo.path().join("plugins/gamma/commands/c2.md")).unwrap();
    let (ev, reads) = h.sync("edit beta, delete from gamma").await;
    assert_eq!(ev.status, SyncStatus::Completed, "{ev:?}");
    assert_eq!(ev.counts, counts(0, 1, 1, 14));
    assert_eq!(h.s.versions().await - versions, 1);
    assert_eq!(h.s.tombstones().await - tombstones, 1);
    assert_eq!(h.s.live_bindings().await, 15);
    read_only_under(&reads, &["plugins/beta", "plugins/gamma"]);
    assert!(reads.contains(&"plugins/beta/commands/c1.md".to_owned()));

    // The same head again writes nothing; a new commit with no content change reads nothing but
    // the marketplace and writes nothing.
    let (again, _) = h.sync("empty commit").await;
    assert_eq!(again.counts, counts(0, 0, 0, 15));
    assert_eq!(h.s.versions().await - versions, 1);
    assert_eq!(h.s.tombstones().await - tombstones, 1);
}

async fn a_changed_manifest_invalidates_reuse(db: &TestDb) {
    let h = Harness::new(db).await;
    h.sync("first").await;
    assert_eq!(h.plugin_version("alpha").await.as_deref(), Some("1.0.0"));
    let versions = h.s.versions().await;

    plugin(&h.repo, "alpha", "2.0.0");
    let (ev, reads) = h.sync("alpha 2.0.0").await;
    assert_eq!(ev.status, SyncStatus::Completed, "{ev:?}");
    assert_eq!(ev.counts, counts(0, 0, 0, 16));
    assert_eq!(h.plugin_version("alpha").await.as_deref(), Some("2.0.0"));
    assert_eq!(h.s.versions().await, versions);
    read_only_under(&reads, &["plugins/alpha"]);
    assert!(reads.contains(&"plugins/alpha/.claude-plugin/plugin.json".to_owned()));

    // A plugin row changed by hand (archived) is put back by the next reconcile even though its
    // folder did not change.
    h.s.store
        .db
        .execute(
            sql("UPDATE plugins SET status = 'archived' WHERE connector_instance_id = $1 AND name = 'beta'")
                .bind(h.s.instance.uuid()),
        )
        .await
        .unwrap();
    h.sync("empty").await;
    let status: Option<String> = h
        .s
        .store
        .db
        .scalar(
            sql("SELECT status FROM plugins WHERE connector_instance_id = $1 AND name = 'beta'")
                .bind(h.s.instance.uuid()),
        )
        .await
        .unwrap();
    assert_eq!(status.as_deref(), Some("active"));
}

async fn added_and_renamed_plugins_are_seen(db: &TestDb) {
    let h = Harness::new(db).await;
    h.sync("first").await;
    let tombstones = h.s.tombstones().await;

    // delta's folder moves (a new identity), epsilon is added.
    std::fs::rename(
        h.repo.path().join("plugins/delta"),
        h.repo.path().join("plugins/delta2"),
    )
    .unwrap();
    plugin(&h.repo, "epsilon", "1.0.0");
    let entries: Vec<_> = ["alpha", "beta", "gamma", "delta", "epsilon"]
        .iter()
        .map(|n| {
            let folder = if *n == "delta" { "delta2" } else { n };
            serde_json::json!({"name": n, "source": format!("./plugins/{folder}")})
        })
        .collect();
    h.repo.write(
        ".claude-plugin/marketplace.json",
        &serde_json::json!({"name": "m", "owner": {"name": "o"}, "plugins": entries}).to_string(),
    );
    let (ev, reads) = h.sync("move delta, add epsilon").await;
    assert_eq!(ev.status, SyncStatus::Completed, "{ev:?}");
    // delta keeps its key (the entry name) but every path moved: 4 new, 4 tombstoned.
    assert_eq!(ev.counts, counts(8, 0, 4, 12));
    assert_eq!(h.s.tombstones().await - tombstones, 4);
    assert_eq!(h.s.plugins().await, 5);
    read_only_under(&reads, &["plugins/delta2", "plugins/epsilon"]);

    // A plugin dropped from the marketplace is tombstoned whole.
    marketplace(&h.repo, &["alpha", "beta", "gamma"]);
    std::fs::remove_dir_all(h.repo.path().join("plugins/delta2")).unwrap();
    std::fs::remove_dir_all(h.repo.path().join("plugins/epsilon")).unwrap();
    let (ev, _) = h.sync("drop delta and epsilon").await;
    assert_eq!(ev.counts, counts(0, 0, 8, 12));
    assert_eq!(h.s.live_bindings().await, 12);
}

async fn an_error_is_reported_until_fixed(db: &TestDb) {
    let h = Harness::new(db).await;
    h.repo.write(
        "plugins/beta/skills/broken/SKILL.md",
        "no frontmatter at all\n",
    );
    let (first, _) = h.sync("first, with a broken skill").await;
    assert_eq!(first.status, SyncStatus::Partial, "{first:?}");
    assert_eq!(first.errors.len(), 1, "{first:?}");
    assert_eq!(first.counts.created, 16);

    // Every later run reports it again (the plugin never counts as settled), while the others
    // are left alone.
    for message in ["again", "once more"] {
        let (ev, reads) = h.sync(message).await;
        assert_eq!(ev.status, SyncStatus::Partial, "{ev:?}");
        assert_eq!(ev.errors.len(), 1, "{ev:?}");
        assert_eq!(ev.errors[0].path, "plugins/beta/skills/broken");
        assert_eq!(
            ev.counts,
            SyncCounts {
                unchanged: 16,
                skipped: 1,
                ..SyncCounts::default()
            }
        );
        read_only_under(&reads, &["plugins/beta"]);
    }

    h.repo.write(
        "plugins/beta/skills/broken/SKILL.md",
        "---\nname: broken\ndescription: fixed\n---\n\nFixed.\n",
    );
    let (fixed, _) = h.sync("fix it").await;
    assert_eq!(fixed.status, SyncStatus::Completed, "{fixed:?}");
    assert_eq!(fixed.counts, counts(1, 0, 0, 16));
    let (after, reads) = h.sync("settled").await;
    assert_eq!(after.counts, counts(0, 0, 0, 17));
    read_only_under(&reads, &[]);
}

backend_tests!(
    one_change_with_reuse_writes_exactly_it,
    an_error_is_reported_until_fixed,
    a_changed_manifest_invalidates_reuse,
    added_and_renamed_plugins_are_seen
);
