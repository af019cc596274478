//! Writes made by a connector import, never as a user.
//!
//! The reference implementation ran imports as the connector's creator (with that person's current
//! role, and a manager grant for them on everything imported). Here the connector itself is the
//! author: objects get `source_mode = 'connector'`, `connector_instance_id` set, `created_by` NULL
//! and no creator grant; who may see them is decided by grants on the plugins and marketplaces.
//! Every function works inside the caller's transaction: the reconcile writes one plugin (its row,
//! objects, versions, bindings and memberships) per transaction.

use serde_json::Value;
use trove_core::time::now_ms;
use trove_core::{AppResult, ConfigObjectId, ConnectorInstanceId, MarketplaceId, OrgId, PluginId};
use uuid::Uuid;

use super::ObjectType;
use super::objects::Prepared;
use super::plugins::{Person, PluginMetadata};
use crate::db::{Tx, sql};
use crate::{Actor, Store};

/// A plugin as an import describes it (from `plugin.json` and the marketplace entry).
#[derive(Debug, Clone, Default)]
pub struct ImportedPlugin {
    /// The plugin name.
    pub name: String,
    /// Its version string.
    pub version: Option<String>,
    /// What it does.
    pub description: String,
    /// Author, homepage, repository, license, keywords, category, tags.
    pub metadata: PluginMetadata,
}

/// A marketplace as an import describes it (from `marketplace.json`).
#[derive(Debug, Clone, Default)]
pub struct ImportedMarketplace {
    /// `name` from `marketplace.json`.
    pub name: String,
    /// `description` from `marketplace.json`.
    pub description: String,
    /// The `owner` object.
    pub owner: Option<Person>,
}

/// A person from a manifest's free-form `author` / `owner` value (a name is required).
pub fn person_from_json(value: Option<&Value>) -> Option<Person> {
    let obj = value?.as_object()?;
    let text = |k: &str| {
        obj.get(k)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    Some(Person {
        name: text("name")?,
        email: text("email"),
        url: text("url"),
    })
}

/// The connector as the actor of audit entries: no user, no token.
fn connector_actor() -> Actor {
    Actor::default()
}

impl Store {
    /// A new identity imported by `instance`, with its first version at commit `sha`.
    pub async fn import_object_in(
        &self,
        tx: &mut Tx,
        org: OrgId,
        instance: ConnectorInstanceId,
        object_type: ObjectType,
        v: &Prepared,
        sha: &str,
    ) -> AppResult<ConfigObjectId> {
        let id = ConfigObjectId::new();
        let now = now_ms();
        tx.execute(
            sql("INSERT INTO config_objects (id, org_id, type, source_mode, status, name, title, description, \
                 search_text, connector_instance_id, created_by, created_at, updated_at) \
                 VALUES ($1, $2, $3, 'connector', 'active', $4, $5, $6, $7, $8, NULL, $9, $9)")
            .bind(id.uuid())
            .bind(org.uuid())
            .bind(object_type.as_str())
            .bind(v.name.clone())
            .bind(v.title.clone())
            .bind(v.description.clone())
            .bind(v.search_text.clone())
            .bind(instance.uuid())
            .bind(now),
        )
        .await?;
        self.insert_version(
            tx,
            org,
            id,
            1,
            now,
            v,
            (Some(sha.to_owned()), None),
            connector_actor(),
        )
        .await?;
        Ok(id)
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
        let latest: Option<(String, i64, i64)> = tx
            .fetch_optional(
                sql("SELECT content_hash, CAST(version_number AS BIGINT), created_at FROM config_object_versions \
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
        let max: Option<i64> = tx
            .scalar(
                sql("SELECT CAST(MAX(version_number) AS BIGINT) FROM config_object_versions WHERE object_id = $1")
                    .bind(object.uuid()),
            )
            .await?
            .flatten();
        // Never older than the previous version, so "latest by created_at" follows the numbers.
        let at = now_ms().max(latest.as_ref().map_or(0, |l| l.2));
        self.insert_version(
            tx,
            org,
            object,
            max.unwrap_or(0) + 1,
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

    /// The plugin of `source_key` (its identity: connector target + plugin root or marketplace
    /// entry, never the display name), created or updated from `p`. Returns its id and whether
    /// anything was written.
    pub async fn upsert_imported_plugin_in(
        &self,
        tx: &mut Tx,
        org: OrgId,
        instance: ConnectorInstanceId,
        source_key: &str,
        p: &ImportedPlugin,
    ) -> AppResult<(PluginId, bool)> {
        let meta = serde_json::to_string(&p.metadata)?;
        let existing: Option<(Uuid, String, Option<String>, String, String, String)> = tx
            .fetch_optional(
                sql("SELECT id, name, version, description, metadata, status FROM plugins WHERE org_id = $1 AND source_key = $2")
                    .bind(org.uuid())
                    .bind(source_key.to_owned()),
            )
            .await?;
        let now = now_ms();
        if let Some((id, name, version, description, metadata, status)) = existing {
            let same = name == p.name
                && version == p.version
                && description == p.description
                && metadata == meta
                && status == "active";
            if !same {
                tx.execute(
                    sql("UPDATE plugins SET name = $1, version = $2, description = $3, metadata = $4, status = 'active', \
                         deleted_at = NULL, updated_at = $5 WHERE id = $6")
                    .bind(p.name.clone())
                    .bind(p.version.clone())
                    .bind(p.description.clone())
                    .bind(meta)
                    .bind(now)
                    .bind(id),
                )
                .await?;
            }
            return Ok((id.into(), !same));
        }
        let id = PluginId::new();
        tx.execute(
            sql("INSERT INTO plugins (id, org_id, name, version, description, metadata, status, source_key, \
                 connector_instance_id, created_by, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, 'active', $7, $8, NULL, $9, $9)")
            .bind(id.uuid())
            .bind(org.uuid())
            .bind(p.name.clone())
            .bind(p.version.clone())
            .bind(p.description.clone())
            .bind(meta)
            .bind(source_key.to_owned())
            .bind(instance.uuid())
            .bind(now),
        )
        .await?;
        Ok((id, true))
    }

    /// The marketplace of `source_key`, created or updated with the name, description and owner of
    /// its `marketplace.json`.
    pub async fn upsert_imported_marketplace_in(
        &self,
        tx: &mut Tx,
        org: OrgId,
        instance: ConnectorInstanceId,
        source_key: &str,
        m: &ImportedMarketplace,
    ) -> AppResult<MarketplaceId> {
        let owner = serde_json::to_string(&m.owner)?;
        let existing: Option<(Uuid, String, String, String, String)> = tx
            .fetch_optional(
                sql("SELECT id, name, description, owner, status FROM marketplaces WHERE org_id = $1 AND source_key = $2")
                    .bind(org.uuid())
                    .bind(source_key.to_owned()),
            )
            .await?;
        let now = now_ms();
        if let Some((id, name, description, stored_owner, status)) = existing {
            if name != m.name
                || description != m.description
                || stored_owner != owner
                || status != "active"
            {
                tx.execute(
                    sql("UPDATE marketplaces SET name = $1, description = $2, owner = $3, status = 'active', \
                         deleted_at = NULL, updated_at = $4 WHERE id = $5")
                    .bind(m.name.clone())
                    .bind(m.description.clone())
                    .bind(owner)
                    .bind(now)
                    .bind(id),
                )
                .await?;
            }
            return Ok(id.into());
        }
        let id = MarketplaceId::new();
        tx.execute(
            sql("INSERT INTO marketplaces (id, org_id, name, description, owner, status, source_key, \
                 connector_instance_id, created_by, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, 'active', $6, $7, NULL, $8, $8)")
            .bind(id.uuid())
            .bind(org.uuid())
            .bind(m.name.clone())
            .bind(m.description.clone())
            .bind(owner)
            .bind(source_key.to_owned())
            .bind(instance.uuid())
            .bind(now),
        )
        .await?;
        Ok(id)
    }

    /// Puts a plugin in a marketplace at `position` (the entry's place in `marketplace.json`);
    /// an existing live membership only has its position corrected.
    pub async fn place_imported_plugin_in(
        &self,
        tx: &mut Tx,
        org: OrgId,
        marketplace: MarketplaceId,
        plugin: PluginId,
        position: i32,
    ) -> AppResult<()> {
        let current: Option<(Uuid, i32)> = tx
            .fetch_optional(
                sql("SELECT id, position FROM marketplace_plugins WHERE marketplace_id = $1 AND plugin_id = $2 \
                     AND removed_at IS NULL")
                .bind(marketplace.uuid())
                .bind(plugin.uuid()),
            )
            .await?;
        match current {
            Some((_, p)) if p == position => Ok(()),
            Some((id, _)) => {
                tx.execute(
                    sql("UPDATE marketplace_plugins SET position = $1 WHERE id = $2")
                        .bind(position)
                        .bind(id),
                )
                .await?;
                Ok(())
            }
            None => {
                tx.execute(
                    sql("INSERT INTO marketplace_plugins (id, org_id, marketplace_id, plugin_id, position, created_by, created_at) \
                         VALUES ($1, $2, $3, $4, $5, NULL, $6)")
                    .bind(Uuid::now_v7())
                    .bind(org.uuid())
                    .bind(marketplace.uuid())
                    .bind(plugin.uuid())
                    .bind(position)
                    .bind(now_ms()),
                )
                .await?;
                Ok(())
            }
        }
    }

    /// Adds an imported object to its plugin (idempotent).
    pub async fn attach_imported_in(
        &self,
        tx: &mut Tx,
        org: OrgId,
        plugin: PluginId,
        object: ConfigObjectId,
    ) -> AppResult<bool> {
        self.attach_object_in(tx, org, plugin, object, connector_actor())
            .await
    }
}
