//! The backstop (DESIGN flow 6): GitHub never redelivers a failed webhook, and a plain git URL
//! has none, so every active target's head is checked on an interval and reconciled when it moved.

use trove_core::{AppResult, ConnectorInstanceId, OrgId};
use trove_store::connectors::events::NewSyncEvent;
use trove_store::connectors::model::Trigger;
use trove_store::sql;
use uuid::Uuid;

use super::{Engine, source_error, source_target};

impl Engine {
    /// The backstop: every active target of an active instance whose head moved gets a periodic
    /// reconcile (deduplicated on (target, head)).
    pub(super) async fn backstop(&self) -> AppResult<usize> {
        let rows: Vec<(Uuid, Uuid, Uuid)> = self
            .store
            .db
            .fetch_all(sql(
                "SELECT t.id, t.org_id, t.instance_id FROM connector_targets t \
                 JOIN connector_instances i ON i.id = t.instance_id \
                 WHERE t.status = 'active' AND i.status = 'active' ORDER BY t.id",
            ))
            .await?;
        let mut queued = 0;
        for (target, org, instance) in rows {
            let org: OrgId = org.into();
            let t = self.store.target(org, target.into()).await?;
            let head = match source_target(&self.store, &t).await {
                Ok(src) => self.source.head(&src).await.map_err(source_error),
                Err(e) => Err(e),
            };
            let head = match head {
                Ok(h) => h,
                Err(e) => {
                    tracing::warn!(target = %t.id, error = %e, "backstop: cannot read the head");
                    continue;
                }
            };
            if t.synced_sha.as_deref() == Some(head.sha.as_str()) {
                continue;
            }
            if t.head_sha.as_deref() != Some(head.sha.as_str()) {
                self.store.set_target_head(t.id, &head.sha).await?;
            }
            let mut tx = self.store.db.begin().await?;
            crate::jobs::enqueue_sync_in(
                &self.store,
                &mut tx,
                NewSyncEvent {
                    org,
                    instance: ConnectorInstanceId::from(instance),
                    target: t.id,
                    trigger: Trigger::Periodic,
                    delivery_id: None,
                    requested_sha: Some(head.sha),
                },
            )
            .await?;
            tx.commit().await?;
            queued += 1;
        }
        Ok(queued)
    }
}
