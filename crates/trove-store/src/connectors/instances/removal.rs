//! Removing connector instances (DESIGN flow 8): the instance, its targets, mappings, selections,
//! bindings, tombstones and sync events go, and so do the objects, plugins and marketplaces it
//! created — except what a user also placed in something hand-made, which is kept and detached from
//! the connector (it becomes a manual resource). The report says which is which.
//!
//! The plan is computed *inside* the transaction that executes it, from the memberships as they are
//! before any delete, and in dependency order: objects first (kept when a plugin the connector did
//! not create lists them), then plugins (kept when a marketplace the connector did not create lists
//! them, or when they hold an object the connector did not import), then marketplaces (kept when
//! they still list a plugin that stays). Each decision uses only the final sets of the level below,
//! so nothing that stays ends up pointing at something deleted, and nothing is left half-planned.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use trove_core::time::now_ms;
use trove_core::{AppResult, ConfigObjectId, ConnectorInstanceId, MarketplaceId, OrgId, PluginId};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::db::{Tx, in_list, sql};
use crate::{Actor, Store};

/// Something the removal kept, and why.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeptResource {
    /// The resource's id (`cob_…`, `plg_…` or `mkt_…`).
    pub id: String,
    /// Its name.
    pub name: String,
    /// Why it was kept, e.g. `in_hand_made_plugin`.
    pub reason: String,
    /// The hand-made containers that hold it (plugin or marketplace ids, or object ids for a plugin
    /// kept because it holds objects the connector did not import).
    pub held_by: Vec<String>,
}

/// What removing one or more instances did.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RemovalReport {
    /// The instances removed.
    pub removed_instance_ids: Vec<ConnectorInstanceId>,
    /// Config objects deleted (with their versions, memberships and grants).
    pub deleted_config_object_ids: Vec<ConfigObjectId>,
    /// Plugins deleted.
    pub deleted_plugin_ids: Vec<PluginId>,
    /// Marketplaces deleted.
    pub deleted_marketplace_ids: Vec<MarketplaceId>,
    /// How many mappings were deleted.
    pub deleted_mapping_count: i64,
    /// Objects kept because a hand-made plugin holds them; they are now manual objects.
    pub kept_config_objects: Vec<KeptResource>,
    /// Plugins kept (listed in a hand-made marketplace, or holding hand-added objects); now manual.
    pub kept_plugins: Vec<KeptResource>,
    /// Marketplaces kept because they still list plugins that stay; now manual.
    pub kept_marketplaces: Vec<KeptResource>,
}

#[derive(sqlx::FromRow)]
struct Named {
    id: Uuid,
    name: String,
}

#[derive(sqlx::FromRow)]
struct Link {
    child: Uuid,
    parent: Uuid,
}

type Ids = BTreeSet<Uuid>;

fn ids_of(rows: &[Named]) -> Ids {
    rows.iter().map(|r| r.id).collect()
}

impl Store {
    /// Removes `instances` (all of `org`) and what they created, in the caller's transaction.
    pub async fn remove_instances_in(
        &self,
        tx: &mut Tx,
        org: OrgId,
        instances: &[ConnectorInstanceId],
        actor: Actor,
    ) -> AppResult<RemovalReport> {
        let mut report = RemovalReport::default();
        if instances.is_empty() {
            return Ok(report);
        }
        let inst: Vec<Uuid> = instances.iter().map(|i| i.uuid()).collect();
        let o = org.uuid();

        // Lock the instances so a concurrent removal or rename waits for this one.
        let mut q = sql("");
        let org_arg = q.push_arg(o);
        let list = in_list(&mut q, inst.clone());
        q.push(&format!(
            "SELECT id, name FROM connector_instances WHERE org_id = {org_arg} AND id IN {list}{}",
            tx.backend().for_update()
        ));
        let locked: Vec<Named> = tx.fetch_all(q).await?;

        let objects: Vec<Named> = tx
            .fetch_all(select_owned(
                o,
                &inst,
                "config_objects",
                " OR id IN (SELECT object_id FROM source_bindings WHERE instance_id IN {list})",
            ))
            .await?;
        let plugins: Vec<Named> = tx.fetch_all(select_owned(o, &inst, "plugins", "")).await?;
        let markets: Vec<Named> = tx
            .fetch_all(select_owned(o, &inst, "marketplaces", ""))
            .await?;
        let (object_ids, plugin_ids, market_ids) =
            (ids_of(&objects), ids_of(&plugins), ids_of(&markets));

        // Objects: kept when a plugin the connector did not create holds them.
        let object_links: Vec<Link> = tx
            .fetch_all(links(
                "SELECT object_id AS child, plugin_id AS parent FROM plugin_objects WHERE removed_at IS NULL AND object_id IN ",
                &object_ids,
            ))
            .await?;
        let kept_objects = holders(&object_links, |parent| !plugin_ids.contains(parent));

        // Plugins: kept when listed by a hand-made marketplace, or holding objects not imported here.
        let market_links: Vec<Link> = tx
            .fetch_all(links(
                "SELECT plugin_id AS child, marketplace_id AS parent FROM marketplace_plugins WHERE removed_at IS NULL AND plugin_id IN ",
                &plugin_ids,
            ))
            .await?;
        let content_links: Vec<Link> = tx
            .fetch_all(links(
                "SELECT plugin_id AS child, object_id AS parent FROM plugin_objects WHERE removed_at IS NULL AND plugin_id IN ",
                &plugin_ids,
            ))
            .await?;
        let in_foreign_market = holders(&market_links, |m| !market_ids.contains(m));
        let with_foreign_objects = holders(&content_links, |obj| !object_ids.contains(obj));

        // Marketplaces: kept while they list a plugin that stays.
        let listing: Vec<Link> = tx
            .fetch_all(links(
                "SELECT marketplace_id AS child, plugin_id AS parent FROM marketplace_plugins WHERE removed_at IS NULL AND marketplace_id IN ",
                &market_ids,
            ))
            .await?;
        let plugin_stays = |p: &Uuid| {
            !plugin_ids.contains(p)
                || in_foreign_market.contains_key(p)
                || with_foreign_objects.contains_key(p)
        };
        let kept_markets = holders(&listing, plugin_stays);

        for object in &objects {
            match kept_objects.get(&object.id) {
                Some(held) => report.kept_config_objects.push(KeptResource {
                    id: ConfigObjectId::from(object.id).to_string(),
                    name: object.name.clone(),
                    reason: "in_hand_made_plugin".into(),
                    held_by: held
                        .iter()
                        .map(|p| PluginId::from(*p).to_string())
                        .collect(),
                }),
                None => report.deleted_config_object_ids.push(object.id.into()),
            }
        }
        for plugin in &plugins {
            if let Some(held) = in_foreign_market.get(&plugin.id) {
                report.kept_plugins.push(KeptResource {
                    id: PluginId::from(plugin.id).to_string(),
                    name: plugin.name.clone(),
                    reason: "in_hand_made_marketplace".into(),
                    held_by: held
                        .iter()
                        .map(|m| MarketplaceId::from(*m).to_string())
                        .collect(),
                });
            } else if let Some(held) = with_foreign_objects.get(&plugin.id) {
                report.kept_plugins.push(KeptResource {
                    id: PluginId::from(plugin.id).to_string(),
                    name: plugin.name.clone(),
                    reason: "holds_hand_added_objects".into(),
                    held_by: held
                        .iter()
                        .map(|c| ConfigObjectId::from(*c).to_string())
                        .collect(),
                });
            } else {
                report.deleted_plugin_ids.push(plugin.id.into());
            }
        }
        for market in &markets {
            match kept_markets.get(&market.id) {
                Some(held) => report.kept_marketplaces.push(KeptResource {
                    id: MarketplaceId::from(market.id).to_string(),
                    name: market.name.clone(),
                    reason: "lists_remaining_plugins".into(),
                    held_by: held
                        .iter()
                        .map(|p| PluginId::from(*p).to_string())
                        .collect(),
                }),
                None => report.deleted_marketplace_ids.push(market.id.into()),
            }
        }

        let mut q = sql("");
        let list = in_list(&mut q, inst.clone());
        q.push(&format!(
            "SELECT COUNT(*) FROM connector_mappings WHERE instance_id IN {list}"
        ));
        report.deleted_mapping_count = tx.scalar::<i64>(q).await?.unwrap_or(0);

        // Writes: detach what stays, then delete children before parents.
        let now = now_ms();
        let kept_object_ids: Vec<Uuid> = kept_objects.keys().copied().collect();
        detach(
            tx,
            "config_objects",
            ", source_mode = 'manual'",
            &kept_object_ids,
            now,
        )
        .await?;
        let kept_plugin_ids: Vec<Uuid> = plugins
            .iter()
            .map(|p| p.id)
            .filter(|p| in_foreign_market.contains_key(p) || with_foreign_objects.contains_key(p))
            .collect();
        detach(tx, "plugins", ", source_key = NULL", &kept_plugin_ids, now).await?;
        let kept_market_ids: Vec<Uuid> = kept_markets.keys().copied().collect();
        detach(
            tx,
            "marketplaces",
            ", source_key = NULL",
            &kept_market_ids,
            now,
        )
        .await?;

        let gone_objects: Vec<Uuid> = report
            .deleted_config_object_ids
            .iter()
            .map(|i| i.uuid())
            .collect();
        let gone_plugins: Vec<Uuid> = report.deleted_plugin_ids.iter().map(|i| i.uuid()).collect();
        let gone_markets: Vec<Uuid> = report
            .deleted_marketplace_ids
            .iter()
            .map(|i| i.uuid())
            .collect();
        let all_gone: Vec<Uuid> = gone_objects
            .iter()
            .chain(&gone_plugins)
            .chain(&gone_markets)
            .chain(&inst)
            .copied()
            .collect();
        delete_where(tx, "access_grants", "resource_id", &all_gone).await?;
        // Instances first: their bindings and tombstones reference the objects.
        delete_where(tx, "connector_instances", "id", &inst).await?;
        delete_where(tx, "config_objects", "id", &gone_objects).await?;
        delete_where(tx, "plugins", "id", &gone_plugins).await?;
        delete_where(tx, "marketplaces", "id", &gone_markets).await?;

        for instance in &locked {
            self.audit(
                tx,
                org,
                actor,
                "connector_instance.remove",
                "connector_instance",
                &ConnectorInstanceId::from(instance.id).to_string(),
                serde_json::json!({
                    "name": instance.name,
                    "deletedConfigObjects": report.deleted_config_object_ids.len(),
                    "keptConfigObjects": report.kept_config_objects.len(),
                }),
            )
            .await?;
        }
        report.removed_instance_ids = locked.iter().map(|i| i.id.into()).collect();
        Ok(report)
    }

    /// Removes one instance and what it created (see the module docs).
    pub async fn remove_instance(
        &self,
        org: OrgId,
        id: ConnectorInstanceId,
        actor: Actor,
    ) -> AppResult<RemovalReport> {
        let mut tx = self.db.begin().await?;
        let report = self.remove_instances_in(&mut tx, org, &[id], actor).await?;
        if report.removed_instance_ids.is_empty() {
            return Err(trove_core::AppError::not_found("connector instance"));
        }
        tx.commit().await?;
        Ok(report)
    }
}

/// `SELECT id, name FROM <table>` of the rows created by the instances (`extra` may widen it; its
/// `{list}` is the instance list).
fn select_owned(org: Uuid, inst: &[Uuid], table: &str, extra: &str) -> crate::Sql {
    let mut q = sql("");
    let o = q.push_arg(org);
    let list = in_list(&mut q, inst.iter().copied());
    let extra = extra.replace("{list}", &list);
    q.push(&format!(
        "SELECT id, name FROM {table} WHERE org_id = {o} AND (connector_instance_id IN {list}{extra}) ORDER BY id"
    ));
    q
}

fn links(prefix: &str, ids: &Ids) -> crate::Sql {
    let mut q = sql("");
    let list = in_list(&mut q, ids.iter().copied());
    q.push(&format!("{prefix}{list}"));
    q
}

/// For each child, the parents that pass `foreign` (children with none are absent).
fn holders(links: &[Link], foreign: impl Fn(&Uuid) -> bool) -> BTreeMap<Uuid, Vec<Uuid>> {
    let mut out: BTreeMap<Uuid, Vec<Uuid>> = BTreeMap::new();
    for link in links.iter().filter(|l| foreign(&l.parent)) {
        out.entry(link.child).or_default().push(link.parent);
    }
    out
}

async fn detach(tx: &mut Tx, table: &str, extra: &str, ids: &[Uuid], now: i64) -> AppResult<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let mut q = sql("");
    let n = q.push_arg(now);
    let list = in_list(&mut q, ids.iter().copied());
    q.push(&format!(
        "UPDATE {table} SET connector_instance_id = NULL, updated_at = {n}{extra} WHERE id IN {list}"
    ));
    tx.execute(q).await?;
    Ok(())
}

async fn delete_where(tx: &mut Tx, table: &str, column: &str, ids: &[Uuid]) -> AppResult<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let mut q = sql("");
    let list = in_list(&mut q, ids.iter().copied());
    q.push(&format!("DELETE FROM {table} WHERE {column} IN {list}"));
    tx.execute(q).await?;
    Ok(())
}
