//! A marketplace's plugins: ordered memberships (`position`, then membership id), adding, removing and
//! reordering. Positions only order; removing a plugin leaves a gap, and a reorder renumbers from 0.
//! Every change locks the marketplace row, so concurrent adds and reorders do not interleave.

use std::collections::HashSet;

use serde::Serialize;
use trove_core::time::now_ms;
use trove_core::{AppError, AppResult, MarketplaceId, OrgId, PluginId, Timestamp};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::db::sql;
use crate::registry::access::{Principal, can_view_plugin};
use crate::registry::plugins::lifecycle::{Lifecycled, ensure_not_deleted, lock_status};
use crate::registry::plugins::{PLUGIN_COLUMNS, Plugin, PluginRow, with_counts};
use crate::{Actor, PageRequest, Store};

/// The most plugins one reorder may list.
pub const MAX_REORDER: usize = 5000;

/// One plugin's membership of a marketplace.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MarketplacePlugin {
    /// The membership row (the list's cursor).
    pub membership_id: Uuid,
    /// Its place in the marketplace (ascending).
    pub position: i32,
    /// When the plugin joined the marketplace.
    pub added_at: Timestamp,
    /// When it left (`null` while it is listed).
    pub removed_at: Option<Timestamp>,
    /// The plugin, with component counts.
    pub plugin: Plugin,
}

#[derive(sqlx::FromRow)]
struct Row {
    #[sqlx(flatten)]
    plugin: PluginRow,
    membership_id: Uuid,
    position: i32,
    added_at: i64,
    removed_at: Option<i64>,
}

impl TryFrom<Row> for MarketplacePlugin {
    type Error = AppError;
    fn try_from(r: Row) -> Result<Self, AppError> {
        Ok(MarketplacePlugin {
            membership_id: r.membership_id,
            position: r.position,
            added_at: Timestamp(r.added_at),
            removed_at: r.removed_at.map(Timestamp),
            plugin: Plugin::try_from(r.plugin)?,
        })
    }
}

/// Which memberships [`Store::marketplace_plugin_rows`] returns.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct MemberQuery {
    /// Only active plugins (what the marketplace delivers).
    pub active_only: bool,
    /// Removed memberships too.
    pub include_removed: bool,
    /// Only this plugin's membership.
    pub plugin: Option<PluginId>,
    /// One page; `None` for the whole list.
    pub page: Option<PageRequest>,
}

impl Store {
    /// Memberships of a marketplace in order, with each plugin and its counts, filtered to plugins
    /// the principal may view: one query.
    pub(crate) async fn marketplace_plugin_rows(
        &self,
        p: &Principal,
        marketplace: MarketplaceId,
        mq: MemberQuery,
    ) -> AppResult<Vec<MarketplacePlugin>> {
        let MemberQuery {
            active_only,
            include_removed,
            plugin,
            page,
        } = mq;
        let mut q = sql("");
        let org = q.push_arg(p.org_id.uuid());
        let mkt = q.push_arg(marketplace.uuid());
        let mut inner = format!(
            "SELECT {PLUGIN_COLUMNS}, mp.id AS membership_id, mp.position, mp.created_at AS added_at, \
             mp.removed_at FROM marketplace_plugins mp JOIN plugins p ON p.id = mp.plugin_id \
             WHERE mp.org_id = {org} AND mp.marketplace_id = {mkt}"
        );
        if !include_removed {
            inner.push_str(" AND mp.removed_at IS NULL");
        }
        if active_only {
            inner.push_str(" AND p.status = 'active'");
        }
        if let Some(plugin) = plugin {
            let pl = q.push_arg(plugin.uuid());
            inner.push_str(&format!(" AND mp.plugin_id = {pl}"));
        }
        if let Some(after) = page.and_then(|pg| pg.after) {
            // Keyset on (position, id); the cursor row's own values, so a page never restarts.
            let a = q.push_arg(after);
            inner.push_str(&format!(
                " AND (mp.position > (SELECT c.position FROM marketplace_plugins c WHERE c.id = {a}) \
                 OR (mp.position = (SELECT c.position FROM marketplace_plugins c WHERE c.id = {a}) AND mp.id > {a}))"
            ));
        }
        let visible = can_view_plugin(&mut q, p, "p.id");
        inner.push_str(&format!(" AND {visible} ORDER BY mp.position, mp.id"));
        if let Some(pg) = page {
            let limit = q.push_arg(pg.fetch());
            inner.push_str(&format!(" LIMIT {limit}"));
        }
        q.push(&with_counts(&inner, "page.position, page.membership_id"));
        let rows: Vec<Row> = self.db.fetch_all(q).await?;
        rows.into_iter().map(MarketplacePlugin::try_from).collect()
    }

    /// One page of a marketplace's memberships (live ones, or all with `include_removed`), in order.
    pub async fn marketplace_plugins(
        &self,
        p: &Principal,
        marketplace: MarketplaceId,
        include_removed: bool,
        page: PageRequest,
    ) -> AppResult<Vec<MarketplacePlugin>> {
        let mq = MemberQuery {
            include_removed,
            page: Some(page),
            ..MemberQuery::default()
        };
        self.marketplace_plugin_rows(p, marketplace, mq).await
    }

    /// Adds a plugin at the end of a marketplace (callers check editor on the marketplace and viewer
    /// on the plugin). Neither may be deleted (409 `resource_deleted`). Returns the membership and
    /// whether it is new (adding a listed plugin again changes nothing).
    pub async fn add_marketplace_plugin(
        &self,
        p: &Principal,
        marketplace: MarketplaceId,
        plugin: PluginId,
        actor: Actor,
    ) -> AppResult<(MarketplacePlugin, bool)> {
        let org = p.org_id;
        let mut tx = self.db.begin().await?;
        let status = lock_status(&mut tx, Lifecycled::Marketplace, org, marketplace.uuid()).await?;
        ensure_not_deleted(status, "marketplace")?;
        let plugin_status = lock_status(&mut tx, Lifecycled::Plugin, org, plugin.uuid()).await?;
        ensure_not_deleted(plugin_status, "plugin")?;
        let inserted = tx
            .execute(
                sql("INSERT INTO marketplace_plugins (id, org_id, marketplace_id, plugin_id, position, created_by, created_at) \
                     SELECT $1, $2, $3, $4, COALESCE(MAX(position) + 1, 0), $5, $6 FROM marketplace_plugins \
                     WHERE marketplace_id = $3 AND removed_at IS NULL \
                     ON CONFLICT (marketplace_id, plugin_id) WHERE removed_at IS NULL DO NOTHING")
                .bind(Uuid::now_v7())
                .bind(org.uuid())
                .bind(marketplace.uuid())
                .bind(plugin.uuid())
                .bind(actor.user_id.map(|u| u.uuid()))
                .bind(now_ms()),
            )
            .await?;
        if inserted > 0 {
            self.audit(
                &mut tx,
                org,
                actor,
                "marketplace.plugin.add",
                "marketplace",
                &marketplace.to_string(),
                serde_json::json!({"pluginId": plugin}),
            )
            .await?;
        }
        tx.commit().await?;
        Ok((
            self.marketplace_plugin(p, marketplace, plugin).await?,
            inserted > 0,
        ))
    }

    /// The live membership of a plugin in a marketplace.
    pub async fn marketplace_plugin(
        &self,
        p: &Principal,
        marketplace: MarketplaceId,
        plugin: PluginId,
    ) -> AppResult<MarketplacePlugin> {
        // The caller may have just added it: an org-wide view of the one row, not the caller's.
        let admin = Principal {
            is_admin: true,
            ..*p
        };
        let mq = MemberQuery {
            plugin: Some(plugin),
            ..MemberQuery::default()
        };
        self.marketplace_plugin_rows(&admin, marketplace, mq)
            .await?
            .into_iter()
            .next()
            .ok_or(AppError::NotFound {
                resource: "marketplace membership",
            })
    }

    /// Removes a plugin from a marketplace (404 when it is not listed).
    pub async fn remove_marketplace_plugin(
        &self,
        org: OrgId,
        marketplace: MarketplaceId,
        plugin: PluginId,
        actor: Actor,
    ) -> AppResult<()> {
        let mut tx = self.db.begin().await?;
        lock_status(&mut tx, Lifecycled::Marketplace, org, marketplace.uuid()).await?;
        let changed = tx
            .execute(
                sql("UPDATE marketplace_plugins SET removed_at = $1 WHERE org_id = $2 AND marketplace_id = $3 \
                     AND plugin_id = $4 AND removed_at IS NULL")
                .bind(now_ms())
                .bind(org.uuid())
                .bind(marketplace.uuid())
                .bind(plugin.uuid()),
            )
            .await?;
        if changed == 0 {
            return Err(AppError::not_found("marketplace membership"));
        }
        self.audit(
            &mut tx,
            org,
            actor,
            "marketplace.plugin.remove",
            "marketplace",
            &marketplace.to_string(),
            serde_json::json!({"pluginId": plugin}),
        )
        .await?;
        tx.commit().await
    }

    /// Puts a marketplace's plugins in the given order. `order` must list every listed plugin exactly
    /// once (400 on `pluginIds` otherwise); positions become 0, 1, 2, … in one statement.
    pub async fn reorder_marketplace_plugins(
        &self,
        org: OrgId,
        marketplace: MarketplaceId,
        order: &[PluginId],
        actor: Actor,
    ) -> AppResult<()> {
        if order.len() > MAX_REORDER {
            return Err(AppError::invalid(
                "pluginIds",
                format!("at most {MAX_REORDER} plugins can be ordered at once"),
            ));
        }
        let mut tx = self.db.begin().await?;
        let status = lock_status(&mut tx, Lifecycled::Marketplace, org, marketplace.uuid()).await?;
        ensure_not_deleted(status, "marketplace")?;
        let listed: Vec<Uuid> = tx
            .fetch_all::<(Uuid,)>(
                sql("SELECT plugin_id FROM marketplace_plugins WHERE marketplace_id = $1 AND removed_at IS NULL")
                    .bind(marketplace.uuid()),
            )
            .await?
            .into_iter()
            .map(|(id,)| id)
            .collect();
        let wanted: HashSet<Uuid> = order.iter().map(|p| p.uuid()).collect();
        if wanted.len() != order.len() {
            return Err(AppError::invalid(
                "pluginIds",
                "lists a plugin more than once",
            ));
        }
        if wanted != listed.iter().copied().collect::<HashSet<_>>() {
            return Err(AppError::invalid(
                "pluginIds",
                format!(
                    "must list each of the marketplace's {} plugins exactly once (it lists {})",
                    listed.len(),
                    order.len()
                ),
            ));
        }
        if !order.is_empty() {
            let mut q = sql("");
            let mut cases = String::new();
            for (position, id) in order.iter().enumerate() {
                let i = q.push_arg(id.uuid());
                let pos = q.push_arg(i32::try_from(position).map_err(AppError::internal)?);
                cases.push_str(&format!(" WHEN {i} THEN {pos}"));
            }
            let m = q.push_arg(marketplace.uuid());
            q.push(&format!(
                "UPDATE marketplace_plugins SET position = CASE plugin_id{cases} END \
                 WHERE marketplace_id = {m} AND removed_at IS NULL"
            ));
            tx.execute(q).await?;
        }
        self.audit(
            &mut tx,
            org,
            actor,
            "marketplace.plugin.reorder",
            "marketplace",
            &marketplace.to_string(),
            serde_json::json!({"pluginIds": order}),
        )
        .await?;
        tx.commit().await
    }
}
