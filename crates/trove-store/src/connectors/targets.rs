//! Targets: reading them, recording heads, and the per-target reconcile lease.
//!
//! Only one reconciliation of a target runs at a time: it takes a lease on the target row
//! (`lock_holder`, `lock_until`) with a conditional UPDATE, renews it while it works, and releases it
//! at the end. A reconcile that dies keeps the lease only until it expires.

use trove_core::time::now_ms;
use trove_core::{AppResult, ConnectorInstanceId, ConnectorTargetId, OrgId};

use super::model::{TARGET_COLUMNS, Target};
use crate::Store;
use crate::db::sql;

impl Store {
    /// One target of the org.
    pub async fn target(&self, org: OrgId, id: ConnectorTargetId) -> AppResult<Target> {
        self.db
            .fetch_one(
                sql(format!(
                    "SELECT {TARGET_COLUMNS} FROM connector_targets WHERE id = $1 AND org_id = $2"
                ))
                .bind(id.uuid())
                .bind(org.uuid()),
                "connector target",
            )
            .await
    }

    /// The targets of an instance.
    pub async fn targets_of(&self, instance: ConnectorInstanceId) -> AppResult<Vec<Target>> {
        self.db
            .fetch_all(
                sql(format!("SELECT {TARGET_COLUMNS} FROM connector_targets WHERE instance_id = $1 ORDER BY id"))
                    .bind(instance.uuid()),
            )
            .await
    }

    /// Takes the reconcile lease of a target for `lease_ms`; `false` when another holder has it.
    pub async fn lock_target(
        &self,
        id: ConnectorTargetId,
        holder: &str,
        lease_ms: i64,
    ) -> AppResult<bool> {
        let now = now_ms();
        let changed = self
            .db
            .execute(
                sql(
                    "UPDATE connector_targets SET lock_holder = $1, lock_until = $2 WHERE id = $3 \
                     AND (lock_holder IS NULL OR lock_until < $4 OR lock_holder = $1)",
                )
                .bind(holder)
                .bind(now + lease_ms)
                .bind(id.uuid())
                .bind(now),
            )
            .await?;
        Ok(changed > 0)
    }

    /// Records the head a check saw.
    pub async fn set_target_head(&self, id: ConnectorTargetId, sha: &str) -> AppResult<()> {
        self.db
            .execute(
                sql("UPDATE connector_targets SET head_sha = $1, updated_at = $2 WHERE id = $3")
                    .bind(sha)
                    .bind(now_ms())
                    .bind(id.uuid()),
            )
            .await?;
        Ok(())
    }

    /// Releases the reconcile lease (only its holder can) and, when the run completed, records
    /// `synced` as the reconciled head in the same statement. The head is recorded even when the
    /// lease was lost meanwhile: the run's writes stand either way.
    pub async fn release_target(
        &self,
        id: ConnectorTargetId,
        holder: &str,
        synced: Option<&str>,
    ) -> AppResult<()> {
        let query = match synced {
            None => sql(
                "UPDATE connector_targets SET lock_holder = NULL, lock_until = NULL \
                 WHERE id = $1 AND lock_holder = $2",
            )
            .bind(id.uuid())
            .bind(holder),
            Some(sha) => {
                let now = now_ms();
                // Every right-hand side reads the row as it was, so both CASEs see the holder.
                sql(
                    "UPDATE connector_targets SET synced_sha = $1, synced_at = $2, head_sha = $1, \
                     status = 'active', updated_at = $2, \
                     lock_holder = CASE WHEN lock_holder = $3 THEN NULL ELSE lock_holder END, \
                     lock_until = CASE WHEN lock_holder = $3 THEN NULL ELSE lock_until END \
                     WHERE id = $4",
                )
                .bind(sha)
                .bind(now)
                .bind(holder)
                .bind(id.uuid())
            }
        };
        self.db.execute(query).await?;
        Ok(())
    }
}
