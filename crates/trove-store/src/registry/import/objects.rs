//! Imported config objects: new identities with their first versions (many per statement), later
//! versions, and tombstoning.

use sea_query::Value;
use trove_core::time::now_ms;
use trove_core::{AppResult, ConfigObjectId, ConfigVersionId, ConnectorInstanceId, OrgId};
use uuid::Uuid;

use super::connector_actor;
use crate::Store;
use crate::db::{Tx, sql};
use crate::registry::ObjectType;
use crate::registry::batch::InsertRows;
use crate::registry::objects::Prepared;

const OBJECT_COLUMNS: [&str; 13] = [
    "id",
    "org_id",
    "type",
    "source_mode",
    "status",
    "name",
    "title",
    "description",
    "search_text",
    "connector_instance_id",
    "created_by",
    "created_at",
    "updated_at",
];

const VERSION_COLUMNS: [&str; 12] = [
    "id",
    "org_id",
    "object_id",
    "version_number",
    "content_hash",
    "payload",
    "raw_source",
    "size_bytes",
    "source_revision",
    "reason",
    "created_by",
    "created_at",
];

impl Store {
    /// New identities imported by `instance`, each with its first version at commit `sha`, in a
    /// few multi-row statements. Returns their ids in the order of `objects`.
    pub async fn import_objects_in(
        &self,
        tx: &mut Tx,
        org: OrgId,
        instance: ConnectorInstanceId,
        objects: &[(ObjectType, &Prepared)],
        sha: &str,
    ) -> AppResult<Vec<ConfigObjectId>> {
        let now = now_ms();
        let no_user: Option<Uuid> = None;
        let mut object_rows = InsertRows::new("config_objects", &OBJECT_COLUMNS, "");
        let mut version_rows = InsertRows::new("config_object_versions", &VERSION_COLUMNS, "");
        let mut ids = Vec::with_capacity(objects.len());
        for (object_type, v) in objects {
            let id = ConfigObjectId::new();
            ids.push(id);
            object_rows.push(vec![
                id.uuid().into(),
                org.uuid().into(),
                object_type.as_str().into(),
                "connector".into(),
                "active".into(),
                v.name.clone().into(),
                v.title.clone().into(),
                v.description.clone().into(),
                v.search_text.clone().into(),
                instance.uuid().into(),
                no_user.into(),
                now.into(),
                now.into(),
            ]);
            let version = ConfigVersionId::new();
            let (payload, raw) = self.seal_version(org, version, &v.payload, &v.files)?;
            version_rows.push(vec![
                version.uuid().into(),
                org.uuid().into(),
                id.uuid().into(),
                Value::from(1i32),
                v.content_hash.clone().into(),
                payload.into(),
                raw.into(),
                v.size_bytes.into(),
                Some(sha.to_owned()).into(),
                Option::<String>::None.into(),
                no_user.into(),
                now.into(),
            ]);
        }
        object_rows.execute(tx).await?;
        version_rows.execute(tx).await?;
        Ok(ids)
    }

    /// A new version of an imported object when `v`'s content hash differs from the latest one;
    /// returns whether one was written. The object is re-projected and set active again (a
    /// connector object is never left deleted while its path is live).
    pub async fn import_version_in(
        &self,
        tx: &mut Tx,
        org: OrgId,
        object: ConfigObjectId,
        v: &Prepared,
        sha: &str,
    ) -> AppResult<bool> {
        // The latest version and the highest number in one round trip (an object without
        // versions gives no row, and its first version is number 1).
        let latest: Option<(String, i64, i64)> = tx
            .fetch_optional(
                sql("SELECT content_hash, created_at, \
                     (SELECT CAST(MAX(version_number) AS BIGINT) FROM config_object_versions WHERE object_id = $1) \
                     FROM config_object_versions \
                     WHERE object_id = $1 AND org_id = $2 ORDER BY created_at DESC, id DESC LIMIT 1")
                .bind(object.uuid())
                .bind(org.uuid()),
            )
            .await?;
        if latest
            .as_ref()
            .is_some_and(|(hash, _, _)| *hash == v.content_hash)
        {
            return Ok(false);
        }
        // Never older than the previous version, so "latest by created_at" follows the numbers.
        let at = now_ms().max(latest.as_ref().map_or(0, |l| l.1));
        let number = latest.as_ref().map_or(0, |l| l.2) + 1;
        self.insert_version(
            tx,
            org,
            object,
            number,
            at,
            v,
            (Some(sha.to_owned()), None),
            connector_actor(),
        )
        .await?;
        tx.execute(
            sql("UPDATE config_objects SET name = $1, title = $2, description = $3, search_text = $4, \
                 status = 'active', deleted_at = NULL, updated_at = $5 WHERE id = $6 AND org_id = $7")
            .bind(v.name.clone())
            .bind(v.title.clone())
            .bind(v.description.clone())
            .bind(v.search_text.clone())
            .bind(at)
            .bind(object.uuid())
            .bind(org.uuid()),
        )
        .await?;
        Ok(true)
    }

    /// Marks an imported object deleted because its source path is gone (soft delete: its
    /// versions are kept; the caller closes the binding and writes the tombstone).
    pub async fn tombstone_object_in(
        &self,
        tx: &mut Tx,
        org: OrgId,
        object: ConfigObjectId,
    ) -> AppResult<()> {
        tx.execute(
            sql("UPDATE config_objects SET status = 'deleted', deleted_at = COALESCE(deleted_at, $1), updated_at = $1 \
                 WHERE id = $2 AND org_id = $3")
            .bind(now_ms())
            .bind(object.uuid())
            .bind(org.uuid()),
        )
        .await?;
        Ok(())
    }
}
