//! Plugin ↔ config object memberships: one row per relationship, closed with `removed_at`, at most one
//! live row per pair (enforced by a partial unique index). Callers check permissions first: adding an
//! object to a plugin needs `editor` on the plugin and `viewer` on the object.

use trove_core::time::now_ms;
use trove_core::{AppError, AppResult, ConfigObjectId, OrgId, PluginId};

use crate::db::{Tx, sql};
use crate::{Actor, Store};

impl Store {
    /// Adds an object to a plugin in a transaction (idempotent: an existing live membership is kept).
    /// Both must belong to `org`; returns whether a new membership was created.
    pub async fn attach_object_in(
        &self,
        tx: &mut Tx,
        org: OrgId,
        plugin: PluginId,
        object: ConfigObjectId,
        actor: Actor,
    ) -> AppResult<bool> {
        let plugin_ok: Option<i32> = tx
            .scalar(
                sql("SELECT 1 FROM plugins WHERE id = $1 AND org_id = $2")
                    .bind(plugin.uuid())
                    .bind(org.uuid()),
            )
            .await?;
        if plugin_ok.is_none() {
            return Err(AppError::not_found("plugin"));
        }
        let object_ok: Option<i32> = tx
            .scalar(
                sql("SELECT 1 FROM config_objects WHERE id = $1 AND org_id = $2")
                    .bind(object.uuid())
                    .bind(org.uuid()),
            )
            .await?;
        if object_ok.is_none() {
            return Err(AppError::not_found("config object"));
        }
        let inserted = tx
            .execute(
                sql("INSERT INTO plugin_objects (id, org_id, plugin_id, object_id, created_by, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6) \
                     ON CONFLICT (plugin_id, object_id) WHERE removed_at IS NULL DO NOTHING")
                .bind(uuid::Uuid::now_v7())
                .bind(org.uuid())
                .bind(plugin.uuid())
                .bind(object.uuid())
                .bind(actor.user_id.map(|u| u.uuid()))
                .bind(now_ms()),
            )
            .await?;
        if inserted > 0 {
            self.audit(
                tx,
                org,
                actor,
                "plugin.object.add",
                "plugin",
                &plugin.to_string(),
                serde_json::json!({"configObjectId": object}),
            )
            .await?;
        }
        Ok(inserted > 0)
    }

    /// Adds an object to a plugin.
    pub async fn attach_object(
        &self,
        org: OrgId,
        plugin: PluginId,
        object: ConfigObjectId,
        actor: Actor,
    ) -> AppResult<bool> {
        let mut tx = self.db.begin().await?;
        let created = self
            .attach_object_in(&mut tx, org, plugin, object, actor)
            .await?;
        tx.commit().await?;
        Ok(created)
    }

    /// Removes an object from a plugin (closes the live membership; 404 when there is none).
    pub async fn detach_object(
        &self,
        org: OrgId,
        plugin: PluginId,
        object: ConfigObjectId,
        actor: Actor,
    ) -> AppResult<()> {
        let mut tx = self.db.begin().await?;
        let changed = tx
            .execute(
                sql("UPDATE plugin_objects SET removed_at = $1 WHERE org_id = $2 AND plugin_id = $3 AND object_id = $4 \
                     AND removed_at IS NULL")
                .bind(now_ms())
                .bind(org.uuid())
                .bind(plugin.uuid())
                .bind(object.uuid()),
            )
            .await?;
        if changed == 0 {
            return Err(AppError::not_found("plugin membership"));
        }
        self.audit(
            &mut tx,
            org,
            actor,
            "plugin.object.remove",
            "plugin",
            &plugin.to_string(),
            serde_json::json!({"configObjectId": object}),
        )
        .await?;
        tx.commit().await
    }
}
