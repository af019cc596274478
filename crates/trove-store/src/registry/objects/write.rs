//! Changes to config objects: create (object, version 1, the creator's manager grant and plugin
//! memberships in one transaction), new versions (only when the content hash changes), and the
//! lifecycle (archive, delete, restore).

use trove_core::time::now_ms;
use trove_core::{
    AppError, AppResult, ConfigObjectId, ConfigVersionId, ConnectorInstanceId, OrgId, PluginId,
};
use uuid::Uuid;

use super::validate::Prepared;
use super::{ConfigObject, OBJECT_COLUMNS, ObjectRow, ObjectVersion, SourceMode};
use crate::db::{Tx, sql};
use crate::registry::ObjectType;
use crate::registry::access::{Principal, ResourceKind};
use crate::{Actor, Store};

/// A new object.
#[derive(Debug, Clone)]
pub struct NewObject {
    /// Its type.
    pub object_type: ObjectType,
    /// `manual` for the API; connectors use `connector`.
    pub source_mode: SourceMode,
    /// The connector instance, for imported objects.
    pub connector_instance_id: Option<ConnectorInstanceId>,
    /// Plugins to add it to (the caller has checked `editor` on each).
    pub plugin_ids: Vec<PluginId>,
    /// The first version.
    pub version: Prepared,
    /// The source commit, for imported objects.
    pub source_revision: Option<String>,
    /// Why it was made.
    pub reason: Option<String>,
}

/// The result of writing a version.
#[derive(Debug, Clone)]
pub struct VersionWrite {
    /// The object after the write.
    pub object: ConfigObject,
    /// The new version, or the unchanged latest one.
    pub version: ObjectVersion,
    /// Whether a new version was written (false: the content hash equals the latest version's).
    pub created: bool,
}

/// A lifecycle transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifecycle {
    /// active → archived.
    Archive,
    /// any → deleted (soft).
    Delete,
    /// archived or deleted → active.
    Restore,
}

impl Lifecycle {
    fn action(self) -> &'static str {
        match self {
            Self::Archive => "config_object.archive",
            Self::Delete => "config_object.delete",
            Self::Restore => "config_object.restore",
        }
    }
}

async fn object_in(tx: &mut Tx, org: OrgId, id: ConfigObjectId) -> AppResult<ConfigObject> {
    let row: ObjectRow = tx
        .fetch_one(
            sql(format!(
                "SELECT {OBJECT_COLUMNS} FROM config_objects o WHERE o.org_id = $1 AND o.id = $2"
            ))
            .bind(org.uuid())
            .bind(id.uuid()),
            "config object",
        )
        .await?;
    row.try_into()
}

/// The number the next version of `object` gets (1 for its first).
async fn next_version_number(tx: &mut Tx, object: ConfigObjectId) -> AppResult<i64> {
    let max: Option<i64> = tx
        .scalar(
            sql("SELECT CAST(MAX(version_number) AS BIGINT) FROM config_object_versions WHERE object_id = $1")
                .bind(object.uuid()),
        )
        .await?
        .flatten();
    Ok(max.unwrap_or(0) + 1)
}

impl Store {
    /// Creates an object with its first version. The creator (the principal's membership) becomes
    /// its manager in the same transaction.
    pub async fn create_object(
        &self,
        p: &Principal,
        new: NewObject,
        actor: Actor,
    ) -> AppResult<VersionWrite> {
        let org = p.org_id;
        let id = ConfigObjectId::new();
        let now = now_ms();
        let v = &new.version;
        let mut tx = self.db.begin().await?;
        tx.execute(
            sql("INSERT INTO config_objects (id, org_id, type, source_mode, status, name, title, description, \
                 search_text, connector_instance_id, created_by, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, 'active', $5, $6, $7, $8, $9, $10, $11, $11)")
            .bind(id.uuid())
            .bind(org.uuid())
            .bind(new.object_type.as_str())
            .bind(new.source_mode.as_str())
            .bind(v.name.clone())
            .bind(v.title.clone())
            .bind(v.description.clone())
            .bind(v.search_text.clone())
            .bind(new.connector_instance_id.map(|c| c.uuid()))
            .bind(actor.user_id.map(|u| u.uuid()))
            .bind(now),
        )
        .await?;
        let version = self
            .insert_version(
                &mut tx,
                org,
                id,
                1,
                now,
                v,
                (new.source_revision.clone(), new.reason.clone()),
                actor,
            )
            .await?;
        self.grant_creator_in(&mut tx, p, ResourceKind::ConfigObject, id.uuid(), actor)
            .await?;
        for plugin in &new.plugin_ids {
            self.attach_object_in(&mut tx, org, *plugin, id, actor)
                .await?;
        }
        self.audit(
            &mut tx,
            org,
            actor,
            "config_object.create",
            "config_object",
            &id.to_string(),
            serde_json::json!({"type": new.object_type, "name": v.name, "pluginIds": new.plugin_ids}),
        )
        .await?;
        let object = object_in(&mut tx, org, id).await?;
        tx.commit().await?;
        Ok(VersionWrite {
            object,
            version,
            created: true,
        })
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn insert_version(
        &self,
        tx: &mut Tx,
        org: OrgId,
        object: ConfigObjectId,
        number: i64,
        at: i64,
        v: &Prepared,
        (source_revision, reason): (Option<String>, Option<String>),
        actor: Actor,
    ) -> AppResult<ObjectVersion> {
        let id = ConfigVersionId::new();
        let (payload, raw) = self.seal_version(org, id, &v.payload, &v.files)?;
        tx.execute(
            sql("INSERT INTO config_object_versions (id, org_id, object_id, version_number, content_hash, payload, \
                 raw_source, size_bytes, source_revision, reason, created_by, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)")
            .bind(id.uuid())
            .bind(org.uuid())
            .bind(object.uuid())
            .bind(i32::try_from(number).map_err(AppError::internal)?)
            .bind(v.content_hash.clone())
            .bind(payload)
            .bind(raw)
            .bind(v.size_bytes)
            .bind(source_revision.clone())
            .bind(reason.clone())
            .bind(actor.user_id.map(|u| u.uuid()))
            .bind(at),
        )
        .await?;
        Ok(ObjectVersion {
            id,
            object_id: object,
            version_number: number,
            content_hash: v.content_hash.clone(),
            size_bytes: v.size_bytes,
            source_revision,
            reason,
            created_at: at.into(),
            payload: v.payload.clone(),
            files: v.files.clone(),
        })
    }

    /// Writes a new version of an object unless its content hash equals the latest version's, and
    /// re-projects the object's name, title, description and search text. A deleted object must be
    /// restored first (409).
    pub async fn create_version(
        &self,
        org: OrgId,
        object: ConfigObjectId,
        v: &Prepared,
        source_revision: Option<String>,
        reason: Option<String>,
        actor: Actor,
    ) -> AppResult<VersionWrite> {
        let mut tx = self.db.begin().await?;
        let lock = tx.backend().for_update();
        // The row lock (PostgreSQL; SQLite's write transaction already excludes others) serialises
        // concurrent writers of one object, so version numbers never race.
        let status: Option<String> = tx
            .scalar(
                sql(format!(
                    "SELECT status FROM config_objects WHERE id = $1 AND org_id = $2{lock}"
                ))
                .bind(object.uuid())
                .bind(org.uuid()),
            )
            .await?;
        match status.as_deref() {
            None => return Err(AppError::not_found("config object")),
            Some("deleted") => {
                return Err(AppError::conflict(
                    "object_deleted",
                    "the config object is deleted; restore it before adding versions",
                ));
            }
            Some(_) => {}
        }
        let latest: Option<(Uuid, i64, String, i64)> = tx
            .fetch_optional(
                sql("SELECT id, CAST(version_number AS BIGINT), content_hash, created_at FROM config_object_versions \
                     WHERE object_id = $1 ORDER BY created_at DESC, id DESC LIMIT 1")
                .bind(object.uuid()),
            )
            .await?;
        if let Some((_, _, hash, _)) = &latest
            && *hash == v.content_hash
        {
            drop(tx);
            return Ok(VersionWrite {
                object: self.object(org, object).await?,
                version: self.latest_version(org, object).await?,
                created: false,
            });
        }
        // Never older than the previous version, so "latest by created_at" follows the numbers even
        // if the clock steps back.
        let at = now_ms().max(latest.as_ref().map_or(0, |l| l.3));
        let number = next_version_number(&mut tx, object).await?;
        let version = self
            .insert_version(
                &mut tx,
                org,
                object,
                number,
                at,
                v,
                (source_revision, reason),
                actor,
            )
            .await?;
        tx.execute(
            sql("UPDATE config_objects SET name = $1, title = $2, description = $3, search_text = $4, updated_at = $5 \
                 WHERE id = $6")
            .bind(v.name.clone())
            .bind(v.title.clone())
            .bind(v.description.clone())
            .bind(v.search_text.clone())
            .bind(at)
            .bind(object.uuid()),
        )
        .await?;
        self.audit(
            &mut tx,
            org,
            actor,
            "config_object.version",
            "config_object",
            &object.to_string(),
            serde_json::json!({"versionId": version.id, "versionNumber": number}),
        )
        .await?;
        let updated = object_in(&mut tx, org, object).await?;
        tx.commit().await?;
        Ok(VersionWrite {
            object: updated,
            version,
            created: true,
        })
    }

    /// Archives, deletes (soft) or restores an object. Archiving a deleted object is a 409 (restore
    /// it first); repeating a transition is harmless.
    pub async fn set_object_lifecycle(
        &self,
        org: OrgId,
        id: ConfigObjectId,
        change: Lifecycle,
        actor: Actor,
    ) -> AppResult<ConfigObject> {
        let mut tx = self.db.begin().await?;
        let before = object_in(&mut tx, org, id).await?;
        let now = now_ms();
        let q = match change {
            Lifecycle::Archive => {
                if before.status == crate::registry::Status::Deleted {
                    return Err(AppError::conflict(
                        "object_deleted",
                        "the config object is deleted; restore it before archiving",
                    ));
                }
                sql(
                    "UPDATE config_objects SET status = 'archived', updated_at = $1 WHERE id = $2 AND org_id = $3",
                )
            }
            Lifecycle::Delete => sql(
                "UPDATE config_objects SET status = 'deleted', updated_at = $1, deleted_at = COALESCE(deleted_at, $1) WHERE id = $2 AND org_id = $3",
            ),
            Lifecycle::Restore => sql(
                "UPDATE config_objects SET status = 'active', updated_at = $1, deleted_at = NULL WHERE id = $2 AND org_id = $3",
            ),
        };
        tx.execute(q.bind(now).bind(id.uuid()).bind(org.uuid()))
            .await?;
        self.audit(
            &mut tx,
            org,
            actor,
            change.action(),
            "config_object",
            &id.to_string(),
            serde_json::json!({"from": before.status}),
        )
        .await?;
        let after = object_in(&mut tx, org, id).await?;
        tx.commit().await?;
        Ok(after)
    }
}
