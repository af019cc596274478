//! Imported plugins and marketplaces: their rows (by source key), the plugin's place in the
//! marketplace, its memberships, and [`ImportedState`], everything the import last wrote for an
//! instance read in three queries so a reconcile can skip plugins that would write nothing.

use std::collections::{HashMap, HashSet};

use trove_core::time::now_ms;
use trove_core::{
    AppResult, AuditId, ConfigObjectId, ConnectorInstanceId, MarketplaceId, OrgId, PluginId,
};
use uuid::Uuid;

use super::{ImportedMarketplace, ImportedPlugin};
use crate::Store;
use crate::audit::DETAIL_COLUMN;
use crate::crypto::Aad;
use crate::db::{Tx, sql};
use crate::registry::batch::InsertRows;

/// A plugin row as an import compares it.
#[derive(Debug, Clone, sqlx::FromRow)]
struct PluginRow {
    id: Uuid,
    name: String,
    version: Option<String>,
    description: String,
    metadata: String,
    status: String,
}

impl PluginRow {
    /// True when writing `p` (whose metadata serialises to `metadata`) would change nothing.
    fn holds(&self, p: &ImportedPlugin, metadata: &str) -> bool {
        self.name == p.name
            && self.version == p.version
            && self.description == p.description
            && self.metadata == metadata
            && self.status == "active"
    }
}

/// A marketplace row as an import compares it.
#[derive(Debug, Clone, sqlx::FromRow)]
struct MarketplaceRow {
    id: Uuid,
    name: String,
    description: String,
    owner: String,
    status: String,
}

impl MarketplaceRow {
    /// True when writing `m` (whose owner serialises to `owner`) would change nothing.
    fn holds(&self, m: &ImportedMarketplace, owner: &str) -> bool {
        self.name == m.name
            && self.description == m.description
            && self.owner == owner
            && self.status == "active"
    }
}

/// The plugin and marketplace rows an instance's imports wrote, and where each plugin is placed.
#[derive(Debug, Default)]
pub struct ImportedState {
    plugins: HashMap<String, PluginRow>,
    marketplaces: HashMap<String, MarketplaceRow>,
    positions: HashMap<(Uuid, Uuid), i32>,
}

impl ImportedState {
    /// True when the plugin of `source_key` exists and [`Store::upsert_imported_plugin_in`] with
    /// `p` would write nothing.
    pub fn plugin_current(&self, source_key: &str, p: &ImportedPlugin) -> AppResult<bool> {
        let metadata = serde_json::to_string(&p.metadata)?;
        Ok(self
            .plugins
            .get(source_key)
            .is_some_and(|row| row.holds(p, &metadata)))
    }

    /// The id of the plugin of `source_key`, if the instance imported it.
    pub fn plugin_id(&self, source_key: &str) -> Option<PluginId> {
        self.plugins.get(source_key).map(|row| row.id.into())
    }

    /// The id of the marketplace of `source_key`, if the instance imported it.
    pub fn marketplace_id(&self, source_key: &str) -> Option<MarketplaceId> {
        self.marketplaces.get(source_key).map(|row| row.id.into())
    }

    /// True when the marketplace of `source_key` exists and
    /// [`Store::upsert_imported_marketplace_in`] with `m` would write nothing.
    pub fn marketplace_current(
        &self,
        source_key: &str,
        m: &ImportedMarketplace,
    ) -> AppResult<bool> {
        let owner = serde_json::to_string(&m.owner)?;
        Ok(self
            .marketplaces
            .get(source_key)
            .is_some_and(|row| row.holds(m, &owner)))
    }

    /// True when the plugin of `plugin_key` is a live member of the marketplace of `market_key`
    /// at `position`.
    pub fn placed(&self, market_key: &str, plugin_key: &str, position: i32) -> bool {
        match (
            self.marketplaces.get(market_key),
            self.plugins.get(plugin_key),
        ) {
            (Some(m), Some(p)) => self.positions.get(&(m.id, p.id)) == Some(&position),
            _ => false,
        }
    }
}

impl Store {
    /// Every plugin and marketplace row `instance` imported (by source key) and each plugin's
    /// live place in those marketplaces: three queries, run at once.
    pub async fn imported_state(
        &self,
        org: OrgId,
        instance: ConnectorInstanceId,
    ) -> AppResult<ImportedState> {
        let (plugins, marketplaces, positions) = tokio::try_join!(
            self.db.fetch_all::<KeyedPlugin>(
                sql("SELECT source_key, id, name, version, description, metadata, status FROM plugins \
                     WHERE org_id = $1 AND connector_instance_id = $2 AND source_key IS NOT NULL")
                .bind(org.uuid())
                .bind(instance.uuid()),
            ),
            self.db.fetch_all::<KeyedMarketplace>(
                sql(
                    "SELECT source_key, id, name, description, owner, status FROM marketplaces \
                     WHERE org_id = $1 AND connector_instance_id = $2 AND source_key IS NOT NULL",
                )
                .bind(org.uuid())
                .bind(instance.uuid()),
            ),
            self.db.fetch_all::<(Uuid, Uuid, i32)>(
                sql("SELECT mp.marketplace_id, mp.plugin_id, mp.position FROM marketplace_plugins mp \
                     JOIN marketplaces m ON m.id = mp.marketplace_id \
                     WHERE m.org_id = $1 AND m.connector_instance_id = $2 AND mp.removed_at IS NULL")
                .bind(org.uuid())
                .bind(instance.uuid()),
            ),
        )?;
        Ok(ImportedState {
            plugins: plugins.into_iter().map(|k| (k.source_key, k.row)).collect(),
            marketplaces: marketplaces
                .into_iter()
                .map(|k| (k.source_key, k.row))
                .collect(),
            positions: positions
                .into_iter()
                .map(|(m, p, position)| ((m, p), position))
                .collect(),
        })
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
        let existing: Option<PluginRow> = tx
            .fetch_optional(
                sql("SELECT id, name, version, description, metadata, status FROM plugins WHERE org_id = $1 AND source_key = $2")
                    .bind(org.uuid())
                    .bind(source_key.to_owned()),
            )
            .await?;
        let now = now_ms();
        if let Some(row) = existing {
            let same = row.holds(p, &meta);
            if !same {
                tx.execute(
                    sql("UPDATE plugins SET name = $1, version = $2, description = $3, metadata = $4, status = 'active', \
                         deleted_at = NULL, updated_at = $5 WHERE id = $6")
                    .bind(p.name.clone())
                    .bind(p.version.clone())
                    .bind(p.description.clone())
                    .bind(meta)
                    .bind(now)
                    .bind(row.id),
                )
                .await?;
            }
            return Ok((row.id.into(), !same));
        }
        Ok((
            self.insert_imported_plugin_in(tx, org, instance, source_key, p)
                .await?,
            true,
        ))
    }

    /// Creates the plugin of `source_key` (the caller knows there is none: a row there is a
    /// unique-index conflict).
    pub async fn insert_imported_plugin_in(
        &self,
        tx: &mut Tx,
        org: OrgId,
        instance: ConnectorInstanceId,
        source_key: &str,
        p: &ImportedPlugin,
    ) -> AppResult<PluginId> {
        let meta = serde_json::to_string(&p.metadata)?;
        let now = now_ms();
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
        Ok(id)
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
        let existing: Option<MarketplaceRow> = tx
            .fetch_optional(
                sql("SELECT id, name, description, owner, status FROM marketplaces WHERE org_id = $1 AND source_key = $2")
                    .bind(org.uuid())
                    .bind(source_key.to_owned()),
            )
            .await?;
        let now = now_ms();
        if let Some(row) = existing {
            if !row.holds(m, &owner) {
                tx.execute(
                    sql("UPDATE marketplaces SET name = $1, description = $2, owner = $3, status = 'active', \
                         deleted_at = NULL, updated_at = $4 WHERE id = $5")
                    .bind(m.name.clone())
                    .bind(m.description.clone())
                    .bind(owner)
                    .bind(now)
                    .bind(row.id),
                )
                .await?;
            }
            return Ok(row.id.into());
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
                self.insert_placement_in(tx, org, marketplace, plugin, position)
                    .await
            }
        }
    }

    /// Puts a plugin that has no live membership (a plugin created in this transaction) in a
    /// marketplace at `position`.
    pub async fn insert_placement_in(
        &self,
        tx: &mut Tx,
        org: OrgId,
        marketplace: MarketplaceId,
        plugin: PluginId,
        position: i32,
    ) -> AppResult<()> {
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

    /// Adds imported objects to their plugin (idempotent: live memberships are kept), each new
    /// membership with its audit entry, as `attach_object_in` does one at a time. Returns how many
    /// memberships are new.
    ///
    /// Unlike `attach_object_in`, the ids are not looked up first: the importer passes objects it
    /// created for `org` in this transaction and a plugin of `org` it upserted or read, and the
    /// foreign keys refuse any other (two round trips per plugin saved on a cold import).
    pub async fn attach_imported_in(
        &self,
        tx: &mut Tx,
        org: OrgId,
        plugin: PluginId,
        objects: &[ConfigObjectId],
    ) -> AppResult<usize> {
        if objects.is_empty() {
            return Ok(0);
        }
        // In the given order (membership ids follow it, and lists show members in that order).
        let mut seen = HashSet::new();
        let unique: Vec<Uuid> = objects
            .iter()
            .map(|o| o.uuid())
            .filter(|o| seen.insert(*o))
            .collect();
        let now = now_ms();
        let no_user: Option<Uuid> = None;
        let mut rows = InsertRows::new(
            "plugin_objects",
            &[
                "id",
                "org_id",
                "plugin_id",
                "object_id",
                "created_by",
                "created_at",
            ],
            "ON CONFLICT (plugin_id, object_id) WHERE removed_at IS NULL DO NOTHING RETURNING object_id",
        );
        for object in &unique {
            rows.push(vec![
                Uuid::now_v7().into(),
                org.uuid().into(),
                plugin.uuid().into(),
                (*object).into(),
                no_user.into(),
                now.into(),
            ]);
        }
        let added: Vec<(Uuid,)> = rows.fetch_all(tx).await?;
        self.audit_added_members_in(tx, org, plugin, &added, now)
            .await?;
        Ok(added.len())
    }

    /// One `plugin.object.add` audit entry per new membership, by the connector (no user, no
    /// token), details sealed as `Store::audit` seals them.
    async fn audit_added_members_in(
        &self,
        tx: &mut Tx,
        org: OrgId,
        plugin: PluginId,
        added: &[(Uuid,)],
        now: i64,
    ) -> AppResult<()> {
        let keys = self.keys();
        let no_actor: Option<Uuid> = None;
        let mut rows = InsertRows::new(
            "audit_log",
            &[
                "id",
                "org_id",
                "actor_user_id",
                "actor_token_id",
                "action",
                "resource_type",
                "resource_id",
                "detail",
                "created_at",
            ],
            "",
        );
        for (object,) in added {
            let id = AuditId::new();
            let detail = serde_json::json!({ "configObjectId": ConfigObjectId::from(*object) });
            let sealed = keys.encrypt(
                &serde_json::to_vec(&detail)?,
                Aad {
                    table: DETAIL_COLUMN.0,
                    column: DETAIL_COLUMN.1,
                    row: id.uuid(),
                    org: org.uuid(),
                },
            )?;
            rows.push(vec![
                id.uuid().into(),
                org.uuid().into(),
                no_actor.into(),
                no_actor.into(),
                "plugin.object.add".into(),
                "plugin".into(),
                plugin.to_string().into(),
                sealed.into(),
                now.into(),
            ]);
        }
        rows.execute(tx).await?;
        Ok(())
    }
}

#[derive(sqlx::FromRow)]
struct KeyedPlugin {
    source_key: String,
    #[sqlx(flatten)]
    row: PluginRow,
}

#[derive(sqlx::FromRow)]
struct KeyedMarketplace {
    source_key: String,
    #[sqlx(flatten)]
    row: MarketplaceRow,
}
