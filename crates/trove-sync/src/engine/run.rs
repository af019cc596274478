//! One reconcile run (DESIGN flow 5).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use trove_core::{AppError, AppResult, ConnectorInstanceId, OrgId, SyncEventId};
use trove_discovery::{Discovery, PluginCandidate};
use trove_sources::RepoSnapshot;
use trove_store::connectors::bindings::Binding;
use trove_store::connectors::events::SyncResult;
use trove_store::connectors::model::{FileError, SyncCounts, SyncEvent, SyncStatus};
use trove_store::registry::import::{ImportedMarketplace, ImportedPlugin, person_from_json};
use trove_store::registry::plugins::PluginMetadata;
use trove_store::sql;
use uuid::Uuid;

use super::apply::{
    KnownRows, MarketRow, PluginRows, PluginWrite, tombstone_plugin, writes_nothing,
};
use super::desired::{PluginPlan, plan_plugin};
use super::faults::points;
use super::plans::LocalPlans;
use super::writes::PluginWrites;
use super::{Discovered, Engine, remote, source_error, source_target};

fn add(total: &mut SyncCounts, c: SyncCounts) {
    total.created += c.created;
    total.updated += c.updated;
    total.deleted += c.deleted;
    total.unchanged += c.unchanged;
    total.skipped += c.skipped;
}

/// What each live binding of a plugin was read from (identity path → digest), so its plan reads
/// only the components whose objects changed.
fn known_digests(bindings: &[Binding]) -> HashMap<String, String> {
    bindings
        .iter()
        .filter_map(|b| Some((b.path.clone(), b.source_digest.clone()?)))
        .collect()
}

fn plugin_meta(p: &PluginCandidate) -> ImportedPlugin {
    let m = &p.metadata;
    ImportedPlugin {
        name: p.name.clone(),
        version: m.version.clone(),
        description: m.description.clone().unwrap_or_default(),
        metadata: PluginMetadata {
            author: person_from_json(m.author.as_ref()),
            homepage: m.homepage.clone(),
            repository: m.repository.clone(),
            license: m.license.clone(),
            keywords: m.keywords.clone(),
            category: m.category.clone(),
            tags: m.tags.clone(),
        },
    }
}

impl Engine {
    pub(super) async fn run(&self, event: SyncEventId) -> AppResult<SyncEvent> {
        let (org, ev) = self.store.sync_event_and_org(event).await?;
        if ev.status.is_final() {
            return Ok(ev);
        }
        let holder = Uuid::now_v7().to_string();
        if !self
            .store
            .lock_target(ev.target_id, &holder, self.lease_ms)
            .await?
        {
            return Err(AppError::conflict(
                "target_busy",
                "another reconcile of this target is running; try again when it ends",
            ));
        }
        match self.reconcile(org, &ev, &holder).await {
            Ok(Reconciled { result, synced }) => {
                // Two rows with nothing between them: written at once. A crash between the two
                // leaves either an event still running (its rerun finds the head reconciled) or a
                // finished event whose head the backstop reconciles again, writing nothing.
                let synced = synced.then_some(result.head_sha.as_deref()).flatten();
                let (released, finished) = tokio::join!(
                    self.store.release_target(ev.target_id, &holder, synced),
                    self.store.finish_sync_event(event, &result),
                );
                released?;
                finished
            }
            Err(e) => {
                let _ = self.store.release_target(ev.target_id, &holder, None).await;
                // Left `running`: a rerun of this event recomputes everything from the bindings.
                let _ = self
                    .store
                    .db
                    .execute(
                        sql("UPDATE sync_events SET message = $1 WHERE id = $2")
                            .bind(e.public_message())
                            .bind(event.uuid()),
                    )
                    .await;
                Err(e)
            }
        }
    }

    async fn reconcile(&self, org: OrgId, ev: &SyncEvent, holder: &str) -> AppResult<Reconciled> {
        // The caller has just taken the lease.
        let mut renewed_at = Instant::now();
        let renew_every = Duration::from_millis(u64::try_from(self.lease_ms / 4).unwrap_or(0));
        // Marked running alongside the reads the run starts with (they write nothing).
        let (started, target, instance) = tokio::try_join!(
            self.store.start_sync_event(ev.id),
            self.store.target(org, ev.target_id),
            self.store.db.fetch_optional::<(bool, String)>(
                sql("SELECT auto_import, status FROM connector_instances WHERE id = $1")
                    .bind(ev.instance_id.uuid()),
            ),
        )?;
        if !started {
            return Err(AppError::conflict("sync_final", "the sync event has ended"));
        }
        self.faults.check(points::STARTED)?;
        let Some((auto_import, status)) = instance else {
            return Err(AppError::not_found("connector instance"));
        };
        if status == "disabled" {
            return Ok(ignored(None, "the connector instance is disabled").into());
        }
        // Always the current head: deliveries arriving out of order all end at the newest commit.
        let src = source_target(&self.store, &target).await?;
        let head = self.source.head(&src).await.map_err(source_error)?;
        if target.synced_sha.as_deref() == Some(head.sha.as_str()) {
            return Ok(ignored(
                Some(head.sha),
                "the head is already reconciled; nothing to do",
            )
            .into());
        }
        // The snapshot and discovery are CPU work on blocking threads; what the run needs from the
        // database meanwhile is read alongside them rather than after, one query per connection.
        let discovered = async {
            let snap = self
                .source
                .snapshot(&src, &head.sha)
                .await
                .map_err(source_error)?;
            let discovered = self.discover_reusing(org, target.id, snap.clone()).await?;
            Ok::<_, AppError>((snap, discovered))
        };
        let (
            (
                snap,
                Discovered {
                    discovery,
                    fingerprints,
                    keep,
                },
            ),
            bound_counts,
            applied,
            state,
            stored_selections,
        ) = tokio::try_join!(
            discovered,
            // How many live bindings each plugin key has (and so which keys the commit lost).
            self.store.live_binding_counts(target.id),
            // The fingerprint each plugin's bindings fully hold.
            self.store.applied_fingerprints(target.id),
            // The plugin and marketplace rows as the last import left them: a plugin whose plan
            // and rows would all stay as they are needs no transaction.
            self.store.imported_state(org, ev.instance_id),
            self.store.selections_of(ev.instance_id),
        )?;
        self.faults.check(points::DISCOVERED)?;
        let complete = !snap.truncated();
        let mut counts = SyncCounts::default();
        let mut errors: Vec<FileError> = Vec::new();
        let mut partial = !complete;
        let market = discovery.marketplace.as_ref().map(|m| {
            (
                format!("{}:{}", target.id, m.path),
                ImportedMarketplace {
                    name: m.name.clone(),
                    description: m.description.clone().unwrap_or_default(),
                    owner: person_from_json(Some(&serde_json::Value::Object(m.owner.clone()))),
                },
            )
        });
        // The keys the commit no longer has.
        let present: HashSet<String> = discovery
            .plugins
            .iter()
            .map(|p| format!("{}:{}", target.id, p.key))
            .collect();
        let vanished: Vec<String> = bound_counts
            .keys()
            .filter(|k| !present.contains(*k))
            .cloned()
            .collect();
        // A settled plugin's folder has the fingerprint whose components its bindings fully hold:
        // planning it would find every component unchanged, so it is neither planned nor are its
        // bindings read.
        let fingerprint_of = |p: &PluginCandidate| fingerprints.get(&p.key).map(String::as_str);
        let settled = |p: &PluginCandidate| {
            complete
                && !p.source.is_remote()
                && fingerprint_of(p)
                    .is_some_and(|f| applied.get(&p.key).map(String::as_str) == Some(f))
        };
        // The selection and the bindings of what will be planned are read while the discovery's
        // reusable candidates are written; both are done before any plugin is written.
        let selected_and_bound = async {
            let selected = self
                .selection(
                    org,
                    ev.instance_id,
                    &discovery,
                    auto_import,
                    stored_selections,
                )
                .await?;
            let to_plan: Vec<&Arc<PluginCandidate>> = discovery
                .plugins
                .iter()
                .filter(|p| selected.contains(&p.key) && !settled(p))
                .collect();
            let keys: Vec<String> = to_plan
                .iter()
                .map(|p| format!("{}:{}", target.id, p.key))
                .collect();
            let bindings = self.store.live_bindings_of(target.id, &keys).await?;
            Ok::<_, AppError>((selected, to_plan, bindings))
        };
        let ((), (selected, to_plan, bindings)) =
            tokio::try_join!(self.keep_reusable(keep), selected_and_bound)?;
        let mut bound: HashMap<String, Vec<Binding>> = HashMap::new();
        for b in bindings {
            bound.entry(b.plugin_key.clone()).or_default().push(b);
        }
        let mut market_row = match &market {
            Some((key, m)) if !state.marketplace_current(key, m)? => MarketRow::Stale,
            _ => MarketRow::Current(None),
        };
        let mut local_plans = LocalPlans::start(
            snap.clone(),
            to_plan
                .iter()
                .filter(|p| !p.source.is_remote())
                .map(|p| {
                    let key = format!("{}:{}", target.id, p.key);
                    let known = known_digests(bound.get(&key).map_or(&[], Vec::as_slice));
                    (Arc::clone(p), known)
                })
                .collect(),
        );
        let mut applied_changes: Vec<(String, Option<String>)> = Vec::new();
        let mut writes = PluginWrites::new(&self.store, &self.faults, &self.write_slots);
        for (position, plugin) in discovery.plugins.iter().enumerate() {
            if !selected.contains(&plugin.key) {
                // Not selected (or deselected later): left exactly as it is.
                counts.skipped += i32::try_from(plugin.components.total()).unwrap_or(i32::MAX);
                continue;
            }
            let key = format!("{}:{}", target.id, plugin.key);
            let marketplace = market
                .as_ref()
                .map(|(k, m)| (k.as_str(), m, i32::try_from(position).unwrap_or(i32::MAX)));
            let is_settled = settled(plugin);
            if is_settled {
                let meta = plugin_meta(plugin);
                let rows = PluginRows {
                    key: &key,
                    plugin: &meta,
                    marketplace,
                };
                if rows.current(&state, market_row.is_current())? {
                    let held = bound_counts.get(&key).copied().unwrap_or(0);
                    counts.unchanged += i32::try_from(held).unwrap_or(i32::MAX);
                    continue;
                }
                // Its rows changed (by hand, or its place in the marketplace): plan it after all.
                let bindings = self
                    .store
                    .live_bindings_of(target.id, std::slice::from_ref(&key))
                    .await?;
                bound.insert(key.clone(), bindings);
            }
            let bindings = bound.remove(&key).unwrap_or_default();
            let (plan, fetched) = if plugin.source.is_remote() {
                self.plan_remote(plugin, known_digests(&bindings)).await
            } else if is_settled {
                (
                    self.plan_local(&snap, plugin, known_digests(&bindings))
                        .await,
                    None,
                )
            } else {
                (local_plans.next().await, None)
            };
            let plan = match plan {
                Ok(plan) => plan,
                Err(message) => {
                    errors.push(FileError {
                        path: plugin.key.clone(),
                        message,
                    });
                    partial = true;
                    continue;
                }
            };
            // Recorded only for a plan with nothing left out, made from a complete listing.
            let clean = complete
                && !plugin.source.is_remote()
                && plan.errors.is_empty()
                && plan.present_invalid.is_empty()
                && plan.skipped == 0;
            let now_applied = fingerprint_of(plugin).filter(|_| clean);
            let meta = plugin_meta(fetched.as_ref().unwrap_or(plugin));
            let known = KnownRows::of(
                &PluginRows {
                    key: &key,
                    plugin: &meta,
                    marketplace,
                },
                &state,
                &bindings,
                market_row,
            )?;
            let write = PluginWrite {
                org,
                instance: ev.instance_id,
                target: target.id,
                sha: head.sha.clone(),
                key,
                plugin: meta,
                marketplace: marketplace
                    .map(|(k, m, position)| (k.to_owned(), m.clone(), position)),
                may_tombstone: complete,
                applied: (plugin.key.clone(), now_applied.map(str::to_owned)),
                known,
            };
            if writes_nothing(&write, &plan, &bindings) {
                counts.unchanged += i32::try_from(plan.same.len()).unwrap_or(i32::MAX);
                counts.skipped += plan.skipped;
                errors.extend(plan.errors);
                if now_applied != applied.get(&plugin.key).map(String::as_str) {
                    applied_changes.push((plugin.key.clone(), now_applied.map(str::to_owned)));
                }
                continue;
            }
            let alone = write.writes_marketplace();
            writes.start(write, plan).await?;
            if alone {
                // It committed before `start` returned, and left the marketplace row current.
                let learnt = match market_row {
                    MarketRow::Current(id) => id,
                    MarketRow::Stale => None,
                };
                market_row = MarketRow::Current(writes.learnt_market().or(learnt));
            }
            // Renewed once a quarter of the lease has gone, not after every plugin: a round trip
            // per plugin bought nothing while most of the lease was left.
            if renewed_at.elapsed() >= renew_every {
                self.store
                    .lock_target(target.id, holder, self.lease_ms)
                    .await?;
                renewed_at = Instant::now();
            }
        }
        let (written, write_errors) = writes.finish().await?;
        add(&mut counts, written);
        errors.extend(write_errors);
        // Writes commit in any order on PostgreSQL: the errors are listed by path, so a run reports
        // them the same way on both engines.
        errors.sort_by(|a, b| a.path.cmp(&b.path));
        self.store.set_applied(target.id, &applied_changes).await?;
        if complete {
            for key in &vanished {
                counts.deleted +=
                    tombstone_plugin(&self.store, org, target.id, key, &head.sha).await?;
            }
        }
        self.faults.check(points::BEFORE_SYNCED)?;
        let status = if partial || !errors.is_empty() {
            SyncStatus::Partial
        } else {
            SyncStatus::Completed
        };
        let message = (!complete)
            .then(|| "the repository listing was incomplete: nothing was tombstoned".to_owned());
        // A listing and its discovery are tens of thousands of small allocations: freed on a
        // blocking thread, not on the runtime's (nor before this run's event is finished).
        drop(local_plans);
        tokio::task::spawn_blocking(move || drop((snap, discovery, state, bound)));
        Ok(Reconciled {
            result: SyncResult {
                status,
                head_sha: Some(head.sha),
                counts,
                errors,
                message,
            },
            // A truncated listing leaves the target unsynced so the next pass completes the work.
            synced: complete,
        })
    }

    /// Reads a selected local plugin's desired objects (off the async threads).
    async fn plan_local(
        &self,
        snap: &RepoSnapshot,
        plugin: &PluginCandidate,
        known: HashMap<String, String>,
    ) -> Result<PluginPlan, String> {
        let (snap, candidate) = (snap.clone(), plugin.clone());
        tokio::task::spawn_blocking(move || plan_plugin(&snap, &candidate, known))
            .await
            .map_err(|e| e.to_string())
    }

    /// Fetches a selected remote plugin's source and reads its desired objects; also returns the
    /// candidate discovered in the fetched source.
    async fn plan_remote(
        &self,
        plugin: &PluginCandidate,
        known: HashMap<String, String>,
    ) -> (Result<PluginPlan, String>, Option<PluginCandidate>) {
        let (snap, mut candidate) = match remote::fetch(self.source.as_ref(), &plugin.source).await
        {
            Ok(fetched) => fetched,
            Err(e) => return (Err(format!("fetching the plugin source: {e}")), None),
        };
        // The marketplace entry names the plugin; the fetched manifest fills the rest.
        candidate.name.clone_from(&plugin.name);
        let fetched = candidate.clone();
        let planned = tokio::task::spawn_blocking(move || plan_plugin(&snap, &candidate, known))
            .await
            .map_err(|e| e.to_string());
        (planned, Some(fetched))
    }

    /// Which plugins to import: the instance's `stored` selection rows decide; a key seen for the
    /// first time is selected only when the instance auto-imports and the plugin is supported (and
    /// is recorded either way).
    async fn selection(
        &self,
        org: OrgId,
        instance: ConnectorInstanceId,
        discovery: &Discovery,
        auto_import: bool,
        stored: HashMap<String, bool>,
    ) -> AppResult<HashSet<String>> {
        let mut new = Vec::new();
        let mut selected = HashSet::new();
        for p in &discovery.plugins {
            let on = match stored.get(&p.key) {
                Some(on) => *on,
                None => {
                    let on = auto_import && p.supported;
                    new.push((p.key.clone(), on));
                    on
                }
            };
            if on && p.supported {
                selected.insert(p.key.clone());
            }
        }
        self.store
            .record_new_selections(org, instance, &new)
            .await?;
        Ok(selected)
    }
}

/// How a run ended, and whether its head is now the target's reconciled head.
struct Reconciled {
    result: SyncResult,
    synced: bool,
}

impl From<SyncResult> for Reconciled {
    /// A run that did nothing: the target's reconciled head stays as it is.
    fn from(result: SyncResult) -> Self {
        Reconciled {
            result,
            synced: false,
        }
    }
}

fn ignored(head: Option<String>, why: &str) -> SyncResult {
    SyncResult {
        status: SyncStatus::Ignored,
        head_sha: head,
        counts: SyncCounts::default(),
        errors: Vec::new(),
        message: Some(why.to_owned()),
    }
}
