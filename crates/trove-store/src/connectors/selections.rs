//! Which discovered plugins (by stable key) an instance imports.
//!
//! The admin's selection is stored per key, both the selected and the deselected ones, so a plugin
//! the admin turned off stays off on every later push (the reference implementation re-imported
//! every supported plugin on each push). A key seen for the first time by a reconcile is selected
//! only when the instance auto-imports and the plugin is supported.

use std::collections::HashMap;

use trove_core::time::now_ms;
use trove_core::{AppError, AppResult, ConnectorInstanceId, OrgId};

use crate::db::{Tx, sql};
use crate::registry::batch::InsertRows;
use crate::{Actor, Store};

impl Store {
    /// Stores the admin's selection: `selected` keys on, every other key of `known` off; remembers
    /// `auto_import` on the instance. Keys stored earlier and absent from both lists are untouched.
    pub async fn apply_selection(
        &self,
        org: OrgId,
        instance: ConnectorInstanceId,
        selected: &[String],
        known: &[String],
        auto_import: bool,
        actor: Actor,
    ) -> AppResult<()> {
        let now = now_ms();
        let mut tx = self.db.begin().await?;
        let changed = tx
            .execute(
                sql("UPDATE connector_instances SET auto_import = $1, updated_at = $2 WHERE id = $3 AND org_id = $4")
                    .bind(auto_import)
                    .bind(now)
                    .bind(instance.uuid())
                    .bind(org.uuid()),
            )
            .await?;
        if changed == 0 {
            return Err(AppError::not_found("connector instance"));
        }
        let mut keys: Vec<(&str, bool)> = known
            .iter()
            .map(|k| (k.as_str(), selected.contains(k)))
            .collect();
        for key in selected {
            if !known.contains(key) {
                keys.push((key.as_str(), true));
            }
        }
        for (key, on) in &keys {
            upsert_selection(&mut tx, org, instance, key, *on, now).await?;
        }
        self.audit(
            &mut tx,
            org,
            actor,
            "connector_instance.selection",
            "connector_instance",
            &instance.to_string(),
            serde_json::json!({"selected": selected, "autoImport": auto_import}),
        )
        .await?;
        tx.commit().await
    }

    /// Every stored selection of an instance: plugin key → selected.
    pub async fn selections_of(
        &self,
        instance: ConnectorInstanceId,
    ) -> AppResult<HashMap<String, bool>> {
        let rows: Vec<(String, bool)> = self
            .db
            .fetch_all(
                sql("SELECT plugin_key, selected FROM connector_selections WHERE instance_id = $1")
                    .bind(instance.uuid()),
            )
            .await?;
        Ok(rows.into_iter().collect())
    }

    /// Records keys a reconcile saw for the first time (an existing row always wins: the admin's
    /// choice is never overwritten by a reconcile).
    pub async fn record_new_selections(
        &self,
        org: OrgId,
        instance: ConnectorInstanceId,
        keys: &[(String, bool)],
    ) -> AppResult<()> {
        if keys.is_empty() {
            return Ok(());
        }
        let now = now_ms();
        let mut rows = InsertRows::new(
            "connector_selections",
            &[
                "instance_id",
                "plugin_key",
                "org_id",
                "selected",
                "created_at",
                "updated_at",
            ],
            "ON CONFLICT (instance_id, plugin_key) DO NOTHING",
        );
        for (key, on) in keys {
            rows.push(vec![
                instance.uuid().into(),
                key.clone().into(),
                org.uuid().into(),
                (*on).into(),
                now.into(),
                now.into(),
            ]);
        }
        let mut tx = self.db.begin().await?;
        rows.execute(&mut tx).await?;
        tx.commit().await
    }
}

async fn upsert_selection(
    tx: &mut Tx,
    org: OrgId,
    instance: ConnectorInstanceId,
    key: &str,
    on: bool,
    now: i64,
) -> AppResult<()> {
    tx.execute(
        sql("INSERT INTO connector_selections (instance_id, plugin_key, org_id, selected, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $5) \
             ON CONFLICT (instance_id, plugin_key) DO UPDATE SET selected = excluded.selected, updated_at = excluded.updated_at")
        .bind(instance.uuid())
        .bind(key.to_owned())
        .bind(org.uuid())
        .bind(on)
        .bind(now),
    )
    .await?;
    Ok(())
}
