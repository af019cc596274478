//! The reconcile engine: brings the registry in line with the head of a connector target.
//!
//! Flow 5 of DESIGN: lease the target → resolve the branch head (always the current head, whatever
//! SHA the trigger named) → snapshot at that SHA → discovery → selection → desired components per
//! selected plugin → diff against the live source bindings → one transaction per plugin (new
//! identities, new versions only when the content hash changed, tombstones for paths gone — never
//! when the listing was incomplete) → target synced → event finished with its counts.

pub mod faults;

use std::sync::Arc;

use serde::Serialize;
use trove_core::{AppError, AppResult, ConnectorTargetId, OrgId, SyncEventId};
use trove_discovery::Discovery;
use trove_sources::RepositorySource;
use trove_store::Store;
use trove_store::connectors::model::SyncEvent;

pub use faults::Faults;

/// A target's discovery at its branch head.
#[derive(Debug, Clone, Serialize)]
pub struct TargetDiscovery {
    /// The commit discovered.
    pub sha: String,
    /// What discovery found there.
    pub discovery: Discovery,
}

/// The reconcile engine (cheap to clone; share it as `Arc<Engine>`).
pub struct Engine {
    store: Store,
    source: Arc<dyn RepositorySource>,
    faults: Faults,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").finish_non_exhaustive()
    }
}

impl Engine {
    /// An engine writing to `store` and reading repositories through `source`.
    pub fn new(store: Store, source: Arc<dyn RepositorySource>) -> Self {
        Self {
            store,
            source,
            faults: Faults::new(),
        }
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
    /// `connector_discoveries`.
    pub async fn discover_target(
        &self,
        _org: OrgId,
        _target: ConnectorTargetId,
    ) -> AppResult<TargetDiscovery> {
        let _ = &self.source;
        Err(AppError::Unavailable("not implemented yet".into()))
    }

    /// Runs one sync event to its end (what the job handler and `trove sync --wait` call).
    pub async fn run_sync_event(&self, _event: SyncEventId) -> AppResult<SyncEvent> {
        Err(AppError::Unavailable("not implemented yet".into()))
    }

    /// Checks every active target's head and queues a reconcile for those that moved (the
    /// backstop). Returns how many were queued.
    pub async fn check_heads(&self) -> AppResult<usize> {
        Err(AppError::Unavailable("not implemented yet".into()))
    }
}
