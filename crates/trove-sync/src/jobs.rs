//! Every background job kind of Trove, registered in one place: [`handlers`].

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use trove_core::{AppResult, JobId};
use trove_store::queue::worker::{Handlers, JobContext};
use trove_store::queue::{Job, JobError, NewJob};
use trove_store::{KeyRing, Store};

/// Reloads the key ring from its source (the key file may have gained a key since this process
/// started). Returns `None` when the source cannot change (environment variable).
pub type KeyReloader = Arc<dyn Fn() -> Option<AppResult<KeyRing>> + Send + Sync>;

/// Re-encrypts every stored value under key `key_id`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RekeyJob {
    /// The key every value should end up under.
    pub key_id: u32,
}

impl Job for RekeyJob {
    const KIND: &'static str = "keys.rekey";
    const MAX_ATTEMPTS: i32 = 10;

    fn dedupe_key(&self) -> Option<String> {
        Some(format!("keys.rekey:{}", self.key_id))
    }
}

/// Queues a re-encryption under `key_id`.
pub async fn enqueue_rekey(store: &Store, key_id: u32) -> AppResult<JobId> {
    Ok(store
        .enqueue(NewJob::typed(&RekeyJob { key_id })?)
        .await?
        .id)
}

/// The handlers of every job kind.
pub fn handlers(store: Store, reload_keys: KeyReloader) -> Handlers {
    let mut handlers = Handlers::new();
    let rekey_store = store.clone();
    handlers.register_job::<RekeyJob, _, _>(move |job, ctx| {
        let store = rekey_store.clone();
        let reload = Arc::clone(&reload_keys);
        async move { rekey(store, reload, job, ctx).await }
    });
    handlers
}

async fn rekey(
    store: Store,
    reload: KeyReloader,
    job: RekeyJob,
    ctx: JobContext,
) -> Result<(), JobError> {
    let mut ring = store.keys();
    if !ring.has(job.key_id) {
        // A rotation wrote a new key to the key file after this process started: pick it up.
        if let Some(fresh) = reload() {
            let fresh = fresh
                .map_err(|e| JobError::retry(format!("cannot reload the encryption keys: {e}")))?;
            store.set_keys(fresh.clone());
            ring = fresh;
        }
    }
    let target = ring.with_active(job.key_id).ok_or_else(|| {
        JobError::retry(format!(
            "this worker does not have encryption key {}; add it to TROVE_ENCRYPTION_KEYS (first) and restart",
            job.key_id
        ))
    })?;
    let cancel = ctx.cancel.clone();
    let report = store
        .rekey(&target, || cancel.is_cancelled())
        .await
        .map_err(|e| JobError::retry(e.public_message()))?;
    tracing::info!(
        key_id = job.key_id,
        scanned = report.scanned,
        rewritten = report.rewritten,
        "re-encryption finished"
    );
    Ok(())
}
