//! The reconcile engine: brings the registry in line with the head of a connector target.
//!
//! Flow 5 of DESIGN: lease the target → resolve the branch head (always the current head, whatever
//! SHA the trigger named) → snapshot at that SHA → discovery → selection → desired components per
//! selected plugin → diff against the live source bindings → one transaction per plugin (new
//! identities, new versions only when the content hash changed, tombstones for paths gone — never
//! when the listing was incomplete) → target synced → event finished with its counts.

mod apply;
mod desired;
pub mod faults;
mod remote;
mod run;

use std::sync::Arc;

use serde::Serialize;
use trove_core::{AppError, AppResult, ConnectorTargetId, OrgId, SyncEventId};
use trove_discovery::Discovery;
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

/// The reconcile engine (share it as `Arc<Engine>`).
pub struct Engine {
    store: Store,
    source: Arc<dyn RepositorySource>,
    faults: Faults,
    lease_ms: i64,
}

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
            store,
            source,
            faults: Faults::new(),
            lease_ms: DEFAULT_LEASE_MS,
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

    /// Head + snapshot + discovery of a target's branch head, cached by (target, sha) in
    /// `connector_discoveries` (the cache holds names, paths and counts, never bodies).
    pub async fn discover_target(
        &self,
        org: OrgId,
        target: ConnectorTargetId,
    ) -> AppResult<TargetDiscovery> {
        let t = self.store.target(org, target).await?;
        let src = source_target(&self.store, &t).await?;
        let head = self.source.head(&src).await.map_err(source_error)?;
        let snap = self
            .source
            .snapshot(&src, &head.sha)
            .await
            .map_err(source_error)?;
        let discovery = discover_blocking(snap).await?;
        let json = serde_json::to_string(&discovery)?;
        self.store
            .cache_discovery(org, target, &head.sha, &json)
            .await?;
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

/// Discovery off the async threads (it reads blobs).
pub(crate) async fn discover_blocking(snap: RepoSnapshot) -> AppResult<Discovery> {
    tokio::task::spawn_blocking(move || trove_discovery::discover(&snap))
        .await
        .map_err(AppError::internal)
}
