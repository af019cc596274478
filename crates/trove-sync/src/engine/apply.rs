//! One plugin's transaction: its row, its objects (new identities, new versions where the content
//! hash changed, tombstones for paths gone), their bindings and memberships, and its place in the
//! marketplace. Either all of it commits or none of it does, so a run killed anywhere leaves each
//! plugin either fully at the new commit or fully at the old one, and the next run recomputes the
//! rest from the bindings.
//!
//! These transactions commit relaxed ([`trove_store::Db::begin_relaxed`]: on PostgreSQL they do
//! not wait for the WAL flush each). The run's sync event is finished last with a flushed commit,
//! which flushes every commit before it, so an event never reads completed unless its writes are
//! durable; a database crash before that leaves the event unfinished, and its rerun recomputes
//! whatever was lost from the bindings, as after a killed worker.

use trove_core::{
    AppError, AppResult, ConnectorInstanceId, ConnectorTargetId, MarketplaceId, OrgId, PluginId,
};
use trove_store::connectors::bindings::{Binding, NewBinding};
use trove_store::connectors::model::SyncCounts;
use trove_store::registry::ObjectType;
use trove_store::registry::import::{ImportedMarketplace, ImportedPlugin, ImportedState};
use trove_store::registry::objects::validate::Prepared;
use trove_store::{Store, Tx};

use super::desired::{Desired, PluginPlan};
use super::faults::{Faults, points};

/// Where a plugin's writes go.
pub struct PluginWrite {
    /// The org.
    pub org: OrgId,
    /// The instance.
    pub instance: ConnectorInstanceId,
    /// The target.
    pub target: ConnectorTargetId,
    /// The commit reconciled.
    pub sha: String,
    /// The plugin's source key (its identity).
    pub key: String,
    /// The plugin's metadata.
    pub plugin: ImportedPlugin,
    /// The marketplace it belongs to (source key, metadata, position), if any.
    pub marketplace: Option<(String, ImportedMarketplace, i32)>,
    /// Whether paths missing from `plan` may be tombstoned (the listing was complete).
    pub may_tombstone: bool,
    /// The plugin's key in discovery, and the fingerprint its bindings hold once this write
    /// commits (`None`: not known to hold any, so the next run plans it again).
    pub applied: (String, Option<String>),
    /// What the run's start knew of the plugin's own rows, so they are not looked up again.
    pub known: KnownRows,
}

impl PluginWrite {
    /// Whether this write may create or update its marketplace row: it belongs to one, and its
    /// rows are not known current nor the row's id known (see [`upsert_rows`]).
    pub fn writes_marketplace(&self) -> bool {
        self.marketplace.is_some() && self.known.current.is_none() && self.known.market.is_none()
    }
}

/// What a run read at its start about a plugin's own rows. Only a shortcut: the rows may have been
/// edited since (by hand), so a write refused on them (a unique-index conflict) is retried with
/// [`KnownRows::default`], which looks everything up again.
#[derive(Debug, Clone, Copy, Default)]
pub struct KnownRows {
    /// The plugin's id when its plugin and marketplace rows and its place were already as the
    /// write would leave them: only its components are written.
    pub current: Option<PluginId>,
    /// No plugin row has its source key (so it has no place in any marketplace either).
    pub plugin_absent: bool,
    /// Also no live binding has its key, so the write inserts everything without reading the
    /// bindings again. A binding written since would come with a plugin row, whose source key
    /// then refuses this write's insert (a conflict, retried with everything looked up).
    pub unbound: bool,
    /// The id of its marketplace, whose row is current.
    pub market: Option<MarketplaceId>,
}

/// What a run knows of the marketplace row when it writes a plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarketRow {
    /// It may not hold what the run's discovery has: the plugin's write upserts it.
    Stale,
    /// It holds what the discovery has. The id, once a write of this run has learnt it (a cold
    /// import creates the row with its first plugin); otherwise the run's start state gives it.
    Current(Option<MarketplaceId>),
}

impl MarketRow {
    /// Whether the row holds what the run's discovery has.
    pub fn is_current(self) -> bool {
        matches!(self, Self::Current(_))
    }
}

impl KnownRows {
    /// What `state` (read at the run's start) says of `rows`, whose live bindings were `bound`,
    /// with the marketplace row as `market` says.
    pub fn of(
        rows: &PluginRows<'_>,
        state: &ImportedState,
        bound: &[Binding],
        market: MarketRow,
    ) -> AppResult<Self> {
        let current = rows
            .current(state, market.is_current())?
            .then(|| state.plugin_id(rows.key))
            .flatten();
        let plugin_absent = state.plugin_id(rows.key).is_none();
        Ok(Self {
            current,
            plugin_absent,
            unbound: plugin_absent && bound.is_empty(),
            market: rows.marketplace.and_then(|(key, _, _)| match market {
                MarketRow::Stale => None,
                MarketRow::Current(id) => id.or_else(|| state.marketplace_id(key)),
            }),
        })
    }
}

/// True when [`write_plugin`] would write nothing for `plan`: no component to create, update or
/// tombstone among the plugin's live `bound` bindings (read before the plan), and the plugin row,
/// the marketplace row and the plugin's place in it already as `w` has them (`w.known.current`).
/// Such a plugin needs no transaction at all.
pub fn writes_nothing(w: &PluginWrite, plan: &PluginPlan, bound: &[Binding]) -> bool {
    if !plan.desired.is_empty() {
        return false;
    }
    let gone = bound
        .iter()
        .any(|b| !plan.same.contains_key(&b.path) && !plan.present_invalid.contains(&b.path));
    if gone && w.may_tombstone {
        return false;
    }
    w.known.current.is_some()
}

/// A plugin's own rows as a write would leave them: the plugin, and its marketplace and place.
pub struct PluginRows<'a> {
    /// The plugin's source key.
    pub key: &'a str,
    /// Its metadata.
    pub plugin: &'a ImportedPlugin,
    /// Its marketplace (source key, metadata, position), if any.
    pub marketplace: Option<(&'a str, &'a ImportedMarketplace, i32)>,
}

impl PluginRows<'_> {
    /// True when `state` already holds these rows (`market_current`: the marketplace row does).
    pub fn current(&self, state: &ImportedState, market_current: bool) -> AppResult<bool> {
        if !state.plugin_current(self.key, self.plugin)? {
            return Ok(false);
        }
        Ok(match self.marketplace {
            Some((market_key, _, position)) => {
                market_current && state.placed(market_key, self.key, position)
            }
            None => true,
        })
    }
}

/// What one plugin's transaction changed.
#[derive(Debug, Default)]
pub struct Written {
    /// Its counts.
    pub counts: SyncCounts,
    /// The id of the marketplace row it wrote, when it wrote one.
    pub market: Option<MarketplaceId>,
}

/// Writes one plugin in one transaction and returns what changed.
pub async fn write_plugin(
    store: &Store,
    faults: &Faults,
    w: &PluginWrite,
    plan: &PluginPlan,
) -> AppResult<Written> {
    let mut counts = SyncCounts::default();
    let mut tx = store.db.begin_relaxed().await?;
    let (plugin_id, market) = match w.known.current {
        Some(id) => (id, None),
        None => upsert_rows(store, &mut tx, w).await?,
    };
    // Read inside the transaction so the diff is against what is committed now, not against what
    // an earlier (possibly killed) run saw; a plugin inserted just now has none.
    let live = if w.known.unbound {
        Vec::new()
    } else {
        store.live_bindings_in(&mut tx, w.target, &w.key).await?
    };
    for binding in &live {
        if let Some(digest) = plan.same.get(&binding.path) {
            // Planned as unchanged from the digest read before this transaction; the lease makes
            // a change in between unlikely, but if it happened the plan is stale: run it again.
            if binding.source_digest.as_deref() != Some(digest.as_str()) {
                return Err(AppError::Unavailable(format!(
                    "the binding of {} changed during the reconcile",
                    binding.path
                )));
            }
            counts.unchanged += 1;
            continue;
        }
        match plan.desired.get(&binding.path) {
            Some(d) if d.prepared.content_hash == binding.content_hash => {
                // Same content read from other objects (or a binding from before digests were
                // kept): remember the digest so the next run can skip reading it.
                if d.digest.is_some() && d.digest != binding.source_digest {
                    store
                        .update_binding_in(
                            &mut tx,
                            binding.id,
                            &binding.content_hash,
                            &binding.sha,
                            d.digest.as_deref(),
                        )
                        .await?;
                }
                counts.unchanged += 1;
            }
            Some(d) => {
                let written = store
                    .import_version_in(&mut tx, w.org, binding.object_id, &d.prepared, &w.sha)
                    .await?;
                store
                    .update_binding_in(
                        &mut tx,
                        binding.id,
                        &d.prepared.content_hash,
                        &w.sha,
                        d.digest.as_deref(),
                    )
                    .await?;
                if written {
                    counts.updated += 1;
                } else {
                    counts.unchanged += 1;
                }
            }
            None if plan.present_invalid.contains(&binding.path) => {}
            // The binding is live and the listing complete: the path is gone.
            None if w.may_tombstone
                && store
                    .close_binding_in(&mut tx, w.org, w.target, binding, &w.sha)
                    .await? =>
            {
                store
                    .tombstone_object_in(&mut tx, w.org, binding.object_id)
                    .await?;
                counts.deleted += 1;
            }
            None => {}
        }
    }
    // Paths with no live binding are new identities, even if a tombstoned object once had them:
    // their objects, first versions, bindings and memberships go in a few multi-row statements.
    let new: Vec<(&String, &Desired)> = plan
        .desired
        .iter()
        .filter(|(path, _)| !live.iter().any(|b| &b.path == *path))
        .collect();
    if !new.is_empty() {
        let contents: Vec<(ObjectType, &Prepared)> = new
            .iter()
            .map(|(_, d)| (d.object_type, &d.prepared))
            .collect();
        let objects = store
            .import_objects_in(&mut tx, w.org, w.instance, &contents, &w.sha)
            .await?;
        let bindings: Vec<NewBinding<'_>> = new
            .iter()
            .zip(&objects)
            .map(|((path, d), object)| NewBinding {
                org: w.org,
                instance: w.instance,
                target: w.target,
                object: *object,
                plugin_key: &w.key,
                path,
                content_hash: &d.prepared.content_hash,
                sha: &w.sha,
                source_digest: d.digest.as_deref(),
            })
            .collect();
        store.insert_bindings_in(&mut tx, &bindings).await?;
        store
            .attach_imported_in(&mut tx, w.org, plugin_id, &objects)
            .await?;
        counts.created += i32::try_from(new.len()).unwrap_or(i32::MAX);
    }
    store
        .set_applied_in(&mut tx, w.target, &w.applied.0, w.applied.1.as_deref())
        .await?;
    faults.check(points::PLUGIN_BEFORE_COMMIT)?;
    tx.commit().await?;
    Ok(Written { counts, market })
}

/// Creates or updates the plugin row, its marketplace row and its place; returns the plugin's id
/// and its marketplace's.
async fn upsert_rows(
    store: &Store,
    tx: &mut Tx,
    w: &PluginWrite,
) -> AppResult<(PluginId, Option<MarketplaceId>)> {
    let plugin_id = if w.known.plugin_absent {
        store
            .insert_imported_plugin_in(tx, w.org, w.instance, &w.key, &w.plugin)
            .await?
    } else {
        store
            .upsert_imported_plugin_in(tx, w.org, w.instance, &w.key, &w.plugin)
            .await?
            .0
    };
    let mut placed_in = None;
    if let Some((mkey, meta, position)) = &w.marketplace {
        let market: MarketplaceId = match w.known.market {
            Some(id) => id,
            None => {
                store
                    .upsert_imported_marketplace_in(tx, w.org, w.instance, mkey, meta)
                    .await?
            }
        };
        if w.known.plugin_absent {
            store
                .insert_placement_in(tx, w.org, market, plugin_id, *position)
                .await?;
        } else {
            store
                .place_imported_plugin_in(tx, w.org, market, plugin_id, *position)
                .await?;
        }
        placed_in = Some(market);
    }
    Ok((plugin_id, placed_in))
}

/// Tombstones every live binding of a plugin key that the commit no longer has at all (the
/// plugin was removed from the repository), in one transaction. The plugin row is kept.
pub async fn tombstone_plugin(
    store: &Store,
    org: OrgId,
    target: ConnectorTargetId,
    key: &str,
    sha: &str,
) -> AppResult<i32> {
    let mut tx = store.db.begin_relaxed().await?;
    let live = store.live_bindings_in(&mut tx, target, key).await?;
    let mut deleted = 0;
    for binding in &live {
        if store
            .close_binding_in(&mut tx, org, target, binding, sha)
            .await?
        {
            store
                .tombstone_object_in(&mut tx, org, binding.object_id)
                .await?;
            deleted += 1;
        }
    }
    tx.commit().await?;
    Ok(deleted)
}
