//! Shared helpers for the reconcile tests: git repositories built with the `git` CLI, connector rows
//! written directly, and an engine over a fresh git cache.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use trove_core::time::now_ms;
use trove_core::{ConnectorInstanceId, ConnectorTargetId, OrgId, SyncEventId};
use trove_discovery::Snapshot as _;
use trove_sources::{
    BlobReader, BoxFuture, GitSource, Head, RepoSnapshot, RepositorySource, SnapshotParts,
    SourceError, Target,
};
use trove_store::connectors::events::NewSyncEvent;
use trove_store::connectors::model::{SyncEvent, Trigger};
use trove_store::{Store, sql};
use trove_sync::Engine;
use uuid::Uuid;

/// The fixture repositories.
pub const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/fixtures/claude-plugins"
);

/// Runs git in `dir`, panicking with its output on failure.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=Trove Test",
            "-c",
            "user.email=test@example.com",
        ])
        .args([
            "-c",
            "commit.gpgsign=false",
            "-c",
            "init.defaultBranch=main",
            // No `gc --auto` in the background: it would repack while a test or a benchmark
            // reads the repository, or deletes it.
            "-c",
            "gc.auto=0",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Copies a folder recursively (no symlinks followed).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let ty = entry.file_type().unwrap();
        let dest = to.join(entry.file_name());
        if ty.is_dir() {
            if entry.file_name() == ".git" {
                continue;
            }
            copy_dir(&entry.path(), &dest);
        } else if ty.is_file() {
            std::fs::copy(entry.path(), dest).unwrap();
        }
    }
}

/// A work-tree repository on branch `main`.
pub struct Repo {
    pub dir: tempfile::TempDir,
}

impl Repo {
    /// A repository holding a copy of fixture `name`, committed.
    pub fn fixture(name: &str) -> Self {
        let repo = Self::empty();
        copy_dir(&Path::new(FIXTURES).join(name), repo.path());
        repo.commit("import fixture");
        repo
    }

    /// An empty repository.
    pub fn empty() -> Self {
        let dir = tempfile::tempdir().unwrap();
        git(dir.path(), &["init", "-q", "-b", "main"]);
        Self { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn url(&self) -> String {
        format!("file://{}", self.path().display())
    }

    /// Writes a file (creating folders).
    pub fn write(&self, rel: &str, text: &str) {
        let p = self.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    /// Commits everything; returns the SHA.
    pub fn commit(&self, message: &str) -> String {
        git(self.path(), &["add", "-A"]);
        git(
            self.path(),
            &["commit", "-q", "--allow-empty", "-m", message],
        );
        self.head()
    }

    pub fn head(&self) -> String {
        git(self.path(), &["rev-parse", "HEAD"])
    }
}

/// An org with one git connector instance and one target on `url`'s `main`.
pub struct Setup {
    pub store: Store,
    pub org: OrgId,
    pub instance: ConnectorInstanceId,
    pub target: ConnectorTargetId,
    pub engine: Arc<Engine>,
    pub cache: tempfile::TempDir,
}

/// Creates the org (once per store), an instance (auto-import on) and a target.
pub async fn setup(store: &Store, url: &str) -> Setup {
    let slug = format!("o{}", &Uuid::now_v7().simple().to_string()[20..]);
    let (org, _, _) = store
        .bootstrap(&slug, &format!("{slug}@example.com"), None)
        .await
        .unwrap();
    let (instance, target) = connect(store, org.id, url, true).await;
    let cache = tempfile::tempdir().unwrap();
    let source = trove_sources::GitSource::new(cache.path(), trove_sources::GitLimits::default());
    let engine = Arc::new(Engine::new(store.clone(), Arc::new(source)).with_lease_ms(5_000));
    Setup {
        store: store.clone(),
        org: org.id,
        instance,
        target,
        engine,
        cache,
    }
}

/// Inserts an instance and its target.
pub async fn connect(
    store: &Store,
    org: OrgId,
    url: &str,
    auto_import: bool,
) -> (ConnectorInstanceId, ConnectorTargetId) {
    let instance = Uuid::now_v7();
    let target = Uuid::now_v7();
    let now = now_ms();
    store
        .db
        .execute(
            sql("INSERT INTO connector_instances (id, org_id, type, name, status, auto_import, config, created_at, updated_at) \
                 VALUES ($1, $2, 'git', $3, 'active', $4, '{}', $5, $5)")
            .bind(instance)
            .bind(org.uuid())
            .bind(format!("repo-{instance}"))
            .bind(auto_import)
            .bind(now),
        )
        .await
        .unwrap();
    store
        .db
        .execute(
            sql("INSERT INTO connector_targets (id, org_id, instance_id, url, branch, status, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, 'main', 'active', $5, $5)")
            .bind(target)
            .bind(org.uuid())
            .bind(instance)
            .bind(url.to_owned())
            .bind(now),
        )
        .await
        .unwrap();
    (instance.into(), target.into())
}

impl Setup {
    /// Queues a sync event (as the webhook or the API would).
    pub async fn queue(&self, trigger: Trigger, sha: Option<&str>) -> SyncEventId {
        let mut tx = self.store.db.begin().await.unwrap();
        let (event, _) = trove_sync::jobs::enqueue_sync_in(
            &self.store,
            &mut tx,
            NewSyncEvent {
                org: self.org,
                instance: self.instance,
                target: self.target,
                trigger,
                delivery_id: None,
                requested_sha: sha.map(str::to_owned),
            },
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        event.id
    }

    /// Queues and runs a manual sync to its end.
    pub async fn sync(&self) -> SyncEvent {
        let id = self.queue(Trigger::Manual, None).await;
        self.engine.run_sync_event(id).await.unwrap()
    }

    /// Live objects of this instance by type.
    pub async fn counts(&self) -> std::collections::BTreeMap<String, i64> {
        let rows: Vec<(String, i64)> = self
            .store
            .db
            .fetch_all(
                sql("SELECT type, CAST(COUNT(*) AS BIGINT) FROM config_objects WHERE connector_instance_id = $1 \
                     AND status = 'active' GROUP BY type")
                .bind(self.instance.uuid()),
            )
            .await
            .unwrap();
        rows.into_iter().collect()
    }

    /// Hook handlers across this instance's live hook objects, read from their latest payloads
    /// (`{hooks: {Event: [{matcher, hooks: [handler…]}]}}`), as the fixtures' README counts them.
    pub async fn hook_handlers(&self) -> i64 {
        let ids: Vec<(Uuid,)> = self
            .store
            .db
            .fetch_all(
                sql("SELECT id FROM config_objects WHERE connector_instance_id = $1 AND status = 'active' AND type = 'hook'")
                    .bind(self.instance.uuid()),
            )
            .await
            .unwrap();
        let ids: Vec<trove_core::ConfigObjectId> = ids.into_iter().map(|(id,)| id.into()).collect();
        let resolved = self.store.resolve_objects(self.org, &ids).await.unwrap();
        resolved
            .iter()
            .filter_map(|r| r.version.payload["hooks"].as_object())
            .flat_map(|events| events.values())
            .filter_map(|groups| groups.as_array())
            .flatten()
            .filter_map(|group| group["hooks"].as_array())
            .map(|handlers| handlers.len() as i64)
            .sum()
    }

    /// A scalar count.
    pub async fn count(&self, query: &'static str) -> i64 {
        self.store
            .db
            .scalar::<i64>(sql(query).bind(self.instance.uuid()))
            .await
            .unwrap()
            .unwrap_or(0)
    }

    pub async fn plugins(&self) -> i64 {
        self.count("SELECT CAST(COUNT(*) AS BIGINT) FROM plugins WHERE connector_instance_id = $1")
            .await
    }

    pub async fn versions(&self) -> i64 {
        self.count("SELECT CAST(COUNT(*) AS BIGINT) FROM config_object_versions v JOIN config_objects o ON o.id = v.object_id WHERE o.connector_instance_id = $1").await
    }

    pub async fn bindings(&self) -> i64 {
        self.count("SELECT CAST(COUNT(*) AS BIGINT) FROM source_bindings WHERE instance_id = $1")
            .await
    }

    pub async fn live_bindings(&self) -> i64 {
        self.count("SELECT CAST(COUNT(*) AS BIGINT) FROM source_bindings WHERE instance_id = $1 AND closed_at IS NULL").await
    }

    pub async fn objects(&self) -> i64 {
        self.count(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM config_objects WHERE connector_instance_id = $1",
        )
        .await
    }

    pub async fn tombstones(&self) -> i64 {
        self.count("SELECT CAST(COUNT(*) AS BIGINT) FROM source_tombstones t JOIN connector_targets g ON g.id = t.target_id WHERE g.instance_id = $1").await
    }
}

/// A path under the fixtures.
pub fn fixture_path(name: &str) -> PathBuf {
    Path::new(FIXTURES).join(name)
}

/// Every blob read through a [`RecordingSource`]'s snapshots: the path and the byte limit asked
/// for (discovery reads with no limit of its own, `u64::MAX`; the import reads at its limit).
pub type Reads = Arc<Mutex<Vec<(String, u64)>>>;

/// A git source whose snapshots record every blob read.
#[derive(Debug)]
pub struct RecordingSource {
    /// The source read through.
    pub git: GitSource,
    /// What was read.
    pub reads: Reads,
}

/// A snapshot's blob reader that records each read before serving it.
#[derive(Debug)]
struct RecordingReader {
    inner: RepoSnapshot,
    reads: Reads,
}

impl BlobReader for RecordingReader {
    fn read_blob(
        &self,
        entry: &trove_discovery::Entry,
        max_bytes: u64,
    ) -> Result<Vec<u8>, SourceError> {
        self.reads
            .lock()
            .unwrap()
            .push((entry.path.clone(), max_bytes));
        self.inner.read_full(&entry.path, max_bytes)
    }
}

impl RepositorySource for RecordingSource {
    fn head<'a>(&'a self, target: &'a Target) -> BoxFuture<'a, Result<Head, SourceError>> {
        RepositorySource::head(&self.git, target)
    }

    fn snapshot<'a>(
        &'a self,
        target: &'a Target,
        sha: &'a str,
    ) -> BoxFuture<'a, Result<RepoSnapshot, SourceError>> {
        Box::pin(async move {
            let inner = RepositorySource::snapshot(&self.git, target, sha).await?;
            let parts = SnapshotParts {
                sha: inner.sha().to_owned(),
                entries: inner.entries().to_vec(),
                truncated: inner.truncated(),
                root_name: inner.root_name().map(str::to_owned),
                skipped: inner.skipped().to_vec(),
            };
            let reader = RecordingReader {
                inner,
                reads: self.reads.clone(),
            };
            Ok(RepoSnapshot::new(parts, Box::new(reader)))
        })
    }
}
