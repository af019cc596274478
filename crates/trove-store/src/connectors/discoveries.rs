//! What discovery found in a target, kept in two forms (names, paths, descriptions and counts only,
//! never file bodies):
//!
//! - the whole discovery of one commit, by (target, SHA), so a page view or an apply does not
//!   re-read the repository while its head has not moved; only the latest commit asked for is
//!   kept per target;
//! - each plugin folder's candidate with the fingerprint of its inputs, per (target, plugin key),
//!   so the next discovery of the target, at any commit, reads only the folders that changed
//!   (`trove_discovery::discover_reusing`). Only candidates whose fingerprint moved are rewritten.
//!   Beside it, the fingerprint whose components the plugin's bindings fully hold (`applied`), so a
//!   reconcile can leave a plugin whose folder did not move without planning it.

use sea_query::Value;
use std::collections::HashMap;

use trove_core::time::now_ms;
use trove_core::{AppResult, ConnectorTargetId, OrgId};
use trove_discovery::{BuiltPlugin, Reusable};

use crate::Store;
use crate::db::{Tx, in_list, sql};
use crate::registry::batch::InsertRows;

impl Store {
    /// The cached discovery (JSON) of a target at `sha`, if any.
    pub async fn cached_discovery(
        &self,
        target: ConnectorTargetId,
        sha: &str,
    ) -> AppResult<Option<String>> {
        self.db
            .scalar(
                sql("SELECT result FROM connector_discoveries WHERE target_id = $1 AND sha = $2")
                    .bind(target.uuid())
                    .bind(sha.to_owned()),
            )
            .await
    }

    /// Caches a discovery (JSON) of a target at `sha`, replacing the target's entries for other
    /// commits; an existing entry for `sha` is kept (same commit, same result). A cache, so
    /// committed relaxed ([`crate::Db::begin_relaxed`]).
    pub async fn cache_discovery(
        &self,
        org: OrgId,
        target: ConnectorTargetId,
        sha: &str,
        result: &str,
    ) -> AppResult<()> {
        let mut tx = self.db.begin_relaxed().await?;
        tx.execute(
            sql("DELETE FROM connector_discoveries WHERE target_id = $1 AND sha <> $2")
                .bind(target.uuid())
                .bind(sha.to_owned()),
        )
        .await?;
        tx.execute(
            sql(
                "INSERT INTO connector_discoveries (target_id, sha, org_id, result, created_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (target_id, sha) DO NOTHING",
            )
            .bind(target.uuid())
            .bind(sha.to_owned())
            .bind(org.uuid())
            .bind(result.to_owned())
            .bind(now_ms()),
        )
        .await?;
        tx.commit().await
    }

    /// The plugin candidates kept from a target's discoveries, for the next one to reuse. A row
    /// that no longer reads as a candidate (written by another version) is left out: its folder
    /// is simply read again.
    pub async fn reusable_discovery(&self, target: ConnectorTargetId) -> AppResult<Reusable> {
        let rows: Vec<(String, String, String)> = self
            .db
            .fetch_all(
                sql(
                    "SELECT plugin_key, fingerprint, candidate FROM connector_plugin_discoveries \
                     WHERE target_id = $1",
                )
                .bind(target.uuid()),
            )
            .await?;
        let mut reusable = Reusable::default();
        for (key, fingerprint, candidate) in rows {
            if let Ok(candidate) = serde_json::from_str(&candidate) {
                reusable.plugins.insert(
                    key,
                    std::sync::Arc::new(BuiltPlugin {
                        fingerprint,
                        candidate,
                    }),
                );
            }
        }
        Ok(reusable)
    }

    /// Stores the candidates `after` keeps for a target, given that `before` is what
    /// [`Store::reusable_discovery`] returned: writes those that are new or whose fingerprint
    /// moved, and drops the keys `after` no longer keeps. Returns how many rows were written.
    /// A cache (a lost entry costs one plugin folder's read), so committed relaxed.
    pub async fn store_reusable_discovery(
        &self,
        org: OrgId,
        target: ConnectorTargetId,
        before: &Reusable,
        after: &Reusable,
    ) -> AppResult<usize> {
        let now = now_ms();
        let mut rows = InsertRows::new(
            "connector_plugin_discoveries",
            &[
                "target_id",
                "plugin_key",
                "org_id",
                "fingerprint",
                "candidate",
                "updated_at",
            ],
            "ON CONFLICT (target_id, plugin_key) DO UPDATE SET fingerprint = excluded.fingerprint, \
             candidate = excluded.candidate, updated_at = excluded.updated_at",
        );
        for (key, built) in &after.plugins {
            if before
                .plugins
                .get(key)
                .is_some_and(|b| b.fingerprint == built.fingerprint)
            {
                continue;
            }
            rows.push(vec![
                target.uuid().into(),
                key.clone().into(),
                org.uuid().into(),
                built.fingerprint.clone().into(),
                serde_json::to_string(&built.candidate)?.into(),
                now.into(),
            ]);
        }
        let gone: Vec<Value> = before
            .plugins
            .keys()
            .filter(|k| !after.plugins.contains_key(*k))
            .map(|k| Value::from(k.clone()))
            .collect();
        let written = rows.len();
        if written == 0 && gone.is_empty() {
            return Ok(0);
        }
        let mut tx = self.db.begin_relaxed().await?;
        for chunk in gone.chunks(10_000) {
            let mut q = sql("");
            let t = q.push_arg(target.uuid());
            let keys = in_list(&mut q, chunk.iter().cloned());
            q.push(&format!(
                "DELETE FROM connector_plugin_discoveries WHERE target_id = {t} AND plugin_key IN {keys}"
            ));
            tx.execute(q).await?;
        }
        rows.execute(&mut tx).await?;
        tx.commit().await?;
        Ok(written)
    }

    /// Per plugin key of a target, the fingerprint whose components its live bindings fully hold.
    pub async fn applied_fingerprints(
        &self,
        target: ConnectorTargetId,
    ) -> AppResult<HashMap<String, String>> {
        let rows: Vec<(String, String)> = self
            .db
            .fetch_all(
                sql(
                    "SELECT plugin_key, applied FROM connector_plugin_discoveries \
                     WHERE target_id = $1 AND applied IS NOT NULL",
                )
                .bind(target.uuid()),
            )
            .await?;
        Ok(rows.into_iter().collect())
    }

    /// Records (or with `None` clears) the fingerprint whose components the bindings of
    /// `plugin_key` now hold, in the transaction that wrote them. A key with no kept candidate
    /// has nothing to record.
    pub async fn set_applied_in(
        &self,
        tx: &mut Tx,
        target: ConnectorTargetId,
        plugin_key: &str,
        applied: Option<&str>,
    ) -> AppResult<()> {
        tx.execute(
            sql("UPDATE connector_plugin_discoveries SET applied = $1 WHERE target_id = $2 AND plugin_key = $3")
                .bind(applied.map(str::to_owned))
                .bind(target.uuid())
                .bind(plugin_key.to_owned()),
        )
        .await?;
        Ok(())
    }

    /// [`Store::set_applied_in`] for several plugins (key, fingerprint or `None`), in one
    /// transaction, committed relaxed ([`crate::Db::begin_relaxed`]): a lost mark makes the next
    /// run plan the plugin again.
    pub async fn set_applied(
        &self,
        target: ConnectorTargetId,
        changes: &[(String, Option<String>)],
    ) -> AppResult<()> {
        if changes.is_empty() {
            return Ok(());
        }
        let mut tx = self.db.begin_relaxed().await?;
        for (key, applied) in changes {
            self.set_applied_in(&mut tx, target, key, applied.as_deref())
                .await?;
        }
        tx.commit().await
    }
}
