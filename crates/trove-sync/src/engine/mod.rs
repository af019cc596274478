//! The reconcile engine: brings the registry in line with the head of a connector target.
//!
//! Flow 5 of DESIGN: lease the target → resolve the branch head (always the current head, whatever
//! SHA the trigger named) → snapshot at that SHA → discovery → selection → desired components per
//! selected plugin → diff against the live source bindings → one transaction per plugin (new
//! identities, new versions only when the content hash changed, tombstones for paths gone — never
//! when the listing was incomplete) → target synced → event finished with its counts.

mod apply;
mod backstop;
mod desired;
pub mod faults;
mod plans;
mod remote;
mod run;
mod writes;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use trove_core::{AppError, AppResult, ConnectorTargetId, OrgId, SyncEventId};
use trove_discovery::{Discovery, DocCache, Reusable};
use trove_sources::{RepoSnapshot, RepositorySource};
use trove_store::Store;
use trove_store::connectors::model::{SyncEvent, Target};

pub use faults::Faults;

/// How long a reconcile holds its target lease before it must renew it (it renews after every
/// plugin); a worker that dies releases the target when this runs out.
pub const DEFAULT_LEASE_MS: i64 = 120_000;

/// A target's discovery at its branch head.
#[derive(Debug, Clone, Serialize)]
pub struct TargetDiscovery {
    /// The commit discovered.
    pub sha: String,
    /// What discovery found there.
    pub discovery: Discovery,
}

/// A discovery and the fingerprint of each plugin candidate it kept for reuse (by plugin key).
pub(crate) struct Discovered {
    pub discovery: Discovery,
    pub fingerprints: HashMap<String, String>,
    /// What to write so the next discovery of the target can reuse this one's candidates.
    pub keep: KeepReusable,
}

/// The reusable candidates of a target's discovery, still to be written
/// ([`Engine::keep_reusable`]): the caller chooses what the write overlaps.
pub(crate) struct KeepReusable {
    org: OrgId,
    target: ConnectorTargetId,
    before: Arc<Reusable>,
    after: Arc<Reusable>,
}

/// The reconcile engine (share it as `Arc<Engine>`).
pub struct Engine {
    store: Store,
    source: Arc<dyn RepositorySource>,
    faults: Faults,
    lease_ms: i64,
    /// The reusable part of each target's last discovery made by this engine, so a worker that
    /// reconciles the same target again does not reload it from the database. Only a shortcut:
    /// reuse is decided by fingerprints, so an entry another process made stale costs a re-read,
    /// never a wrong result.
    reusable: Mutex<HashMap<ConnectorTargetId, Arc<Reusable>>>,
    /// Markdown files discoveries read, by blob id: a plugin rebuilt after an edit reads only the
    /// files whose blobs changed.
    docs: Arc<DocCache>,
    /// Plugin transactions in flight at once across this engine's runs.
    write_slots: writes::WriteSlots,
}

/// Targets whose last discovery an engine keeps in memory.
const REUSABLE_TARGETS: usize = 16;

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("lease_ms", &self.lease_ms)
            .finish_non_exhaustive()
    }
}

/// The source-side description of a connector target: its URL and branch and, for a GitHub
/// target (one with a repository name), the installation that reads it, taken from the instance's
/// account, so the source router sends it to the GitHub App's REST source.
pub(crate) async fn source_target(store: &Store, t: &Target) -> AppResult<trove_sources::Target> {
    let target = trove_sources::Target::new(
        t.url.clone(),
        trove_sources::Reference::Branch(t.branch.clone()),
    );
    let Some(full_name) = &t.repository_name else {
        return Ok(target);
    };
    let installation: Option<String> = store
        .db
        .scalar(
            trove_store::sql(
                "SELECT a.remote_id FROM connector_instances i \
                 JOIN connector_accounts a ON a.id = i.account_id \
                 WHERE i.id = $1 AND a.kind = 'github'",
            )
            .bind(t.instance_id.uuid()),
        )
        .await?;
    let installation_id = installation
        .and_then(|id| id.parse::<u64>().ok())
        .ok_or_else(|| {
            AppError::conflict(
                "github_account_missing",
                "this GitHub target has no GitHub App installation account; connect the repository again",
            )
        })?;
    Ok(target.with_github(trove_sources::GitHubRepo {
        installation_id,
        full_name: full_name.clone(),
    }))
}

/// A source failure as an application error (transient ones are retried by the job).
pub(crate) fn source_error(e: trove_sources::SourceError) -> AppError {
    match e {
        trove_sources::SourceError::NotFound(m) => AppError::Invalid {
            field: None,
            message: format!("repository: not found: {m}"),
        },
        other => AppError::Unavailable(format!("repository: {other}")),
    }
}

impl Engine {
    /// An engine writing to `store` and reading repositories through `source`.
    pub fn new(store: Store, source: Arc<dyn RepositorySource>) -> Self {
        Self {
            write_slots: writes::WriteSlots::for_store(&store),
            store,
            source,
            faults: Faults::new(),
            lease_ms: DEFAULT_LEASE_MS,
            reusable: Mutex::new(HashMap::new()),
            docs: Arc::new(DocCache::default()),
        }
    }

    /// The same engine with another lease length (tests use short leases).
    pub fn with_lease_ms(mut self, lease_ms: i64) -> Self {
        self.lease_ms = lease_ms.max(1000);
        self
    }

    /// The fault hook (tests arm points on it; inert otherwise).
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The discovery of a target's branch head: read from `connector_discoveries` when this head
    /// was discovered before, otherwise snapshot + discovery (reading only the plugin folders that
    /// changed since the target's last discovery), then cached by (target, sha). The cache holds
    /// names, paths and counts, never bodies.
    pub async fn discover_target(
        &self,
        org: OrgId,
        target: ConnectorTargetId,
    ) -> AppResult<TargetDiscovery> {
        let t = self.store.target(org, target).await?;
        let src = source_target(&self.store, &t).await?;
        let head = self.source.head(&src).await.map_err(source_error)?;
        let cached = self.store.cached_discovery(target, &head.sha).await?;
        // An entry another version wrote that no longer reads as a discovery is recomputed.
        if let Some(discovery) = cached.and_then(|json| serde_json::from_str(&json).ok()) {
            return Ok(TargetDiscovery {
                sha: head.sha,
                discovery,
            });
        }
        let snap = self
            .source
            .snapshot(&src, &head.sha)
            .await
            .map_err(source_error)?;
        let Discovered {
            discovery, keep, ..
        } = self.discover_reusing(org, target, snap).await?;
        let json = serde_json::to_string(&discovery)?;
        tokio::try_join!(
            self.keep_reusable(keep),
            self.store.cache_discovery(org, target, &head.sha, &json),
        )?;
        Ok(TargetDiscovery {
            sha: head.sha,
            discovery,
        })
    }

    /// Runs one sync event to its end (what the job handler and `trove sync --wait` call).
    ///
    /// A target whose lease another reconcile holds gives a `target_busy` conflict (the job retries
    /// later). A failure leaves the event `running` with the error in its message, so a retry of the
    /// same event completes it; the job handler marks it `failed` after its last attempt.
    pub async fn run_sync_event(&self, event: SyncEventId) -> AppResult<SyncEvent> {
        self.run(event).await
    }

    /// Checks every active target's head and queues a reconcile for those that moved (the
    /// backstop). Returns how many were queued.
    pub async fn check_heads(&self) -> AppResult<usize> {
        self.backstop().await
    }
}

impl Engine {
    /// Discovery of a snapshot of `target`, off the async threads (it reads blobs): plugin folders
    /// unchanged since the target's last discovery are taken from it without being read, and
    /// what this one built is kept for the next.
    pub(crate) async fn discover_reusing(
        &self,
        org: OrgId,
        target: ConnectorTargetId,
        snap: RepoSnapshot,
    ) -> AppResult<Discovered> {
        let remembered = self.remembered(target);
        let prior = match remembered {
            Some(prior) => prior,
            None => Arc::new(self.store.reusable_discovery(target).await?),
        };
        let before = Arc::clone(&prior);
        let docs = Arc::clone(&self.docs);
        let found = tokio::task::spawn_blocking(move || {
            trove_discovery::discover_reusing_with(&snap, &prior, Some(&docs))
        })
        .await
        .map_err(AppError::internal)?;
        let fingerprints = found
            .reusable
            .plugins
            .iter()
            .map(|(key, built)| (key.clone(), built.fingerprint.clone()))
            .collect();
        let after = Arc::new(found.reusable);
        self.remember(target, Arc::clone(&after));
        tracing::debug!(
            %target,
            plugins = found.discovery.plugins.len(),
            reused = found.reused,
            "discovered"
        );
        Ok(Discovered {
            discovery: found.discovery,
            fingerprints,
            keep: KeepReusable {
                org,
                target,
                before,
                after,
            },
        })
    }

    /// Writes what a discovery kept for reuse. A reconcile must have written it before it marks
    /// any plugin applied: that mark is a column of these rows.
    pub(crate) async fn keep_reusable(&self, keep: KeepReusable) -> AppResult<()> {
        self.store
            .store_reusable_discovery(keep.org, keep.target, &keep.before, &keep.after)
            .await?;
        Ok(())
    }

    fn remembered(&self, target: ConnectorTargetId) -> Option<Arc<Reusable>> {
        let held = self.reusable.lock().unwrap_or_else(|p| p.into_inner());
        held.get(&target).cloned()
    }

    fn remember(&self, target: ConnectorTargetId, reusable: Arc<Reusable>) {
        let mut held = self.reusable.lock().unwrap_or_else(|p| p.into_inner());
        if held.len() >= REUSABLE_TARGETS && !held.contains_key(&target) {
            // Any one goes: the next discovery of that target reloads it from the database.
            if let Some(evicted) = held.keys().next().copied() {
                held.remove(&evicted);
            }
        }
        held.insert(target, reusable);
    }
}
