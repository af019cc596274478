//! The plugin transactions of one run, several in flight at once on PostgreSQL.
//!
//! Plugins share no rows but the ones they reference (org, instance, target, marketplace), so
//! their transactions can overlap. On PostgreSQL most of a transaction's time is the server's
//! (index and foreign-key work) and the round trips to it: with a few in flight, the server works
//! on one while the engine plans and seals the next. SQLite writes one transaction at a time
//! whatever the caller does, so there they run one after the other.
//!
//! - Each write is a task of its own, so it goes on while the run plans or fetches the next plugin.
//! - The engine's write slots ([`WriteSlots`]) cap the transactions in flight across all of its
//!   runs, so concurrent reconciles never hold more database connections than one run could.
//! - A write that may create or update the marketplace row runs alone, once every write before it
//!   has committed: the writes after it reference the row it leaves, by the id it returns.
//! - Results are folded as writes commit. A failed write fails the run; the writes still in flight
//!   are then aborted, which rolls them back (each plugin is its own transaction, so the next run
//!   recomputes whatever did not commit, as after a killed worker).

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use trove_core::{AppError, AppResult, MarketplaceId};
use trove_store::connectors::model::{FileError, SyncCounts};
use trove_store::{Backend, Store};

use super::apply::{KnownRows, PluginWrite, Written, write_plugin};
use super::desired::PluginPlan;
use super::faults::{Faults, points};

/// Plugin transactions in flight at once on PostgreSQL, across an engine's runs. Past a few, they
/// only queue for the same busy cores, hold more connections and more plugins' contents.
const POSTGRES_WRITES: usize = 4;

/// How many plugin transactions an engine has in flight at most.
#[derive(Debug, Clone)]
pub(crate) struct WriteSlots(Arc<Semaphore>);

impl WriteSlots {
    /// The slots for `store`'s engine: a few on PostgreSQL, one on SQLite.
    pub(crate) fn for_store(store: &Store) -> Self {
        Self(Arc::new(Semaphore::new(match store.db.backend() {
            Backend::Sqlite => 1,
            Backend::Postgres => POSTGRES_WRITES,
        })))
    }
}

/// What a committed write adds to the run's result.
struct Committed {
    written: Written,
    skipped: i32,
    errors: Vec<FileError>,
}

/// The writes of one run and what the committed ones added up to.
pub(super) struct PluginWrites {
    store: Store,
    faults: Faults,
    slots: WriteSlots,
    in_flight: JoinSet<AppResult<Committed>>,
    /// Counts and per-file errors of the committed writes.
    counts: SyncCounts,
    errors: Vec<FileError>,
    /// The marketplace id returned by the last write that ran alone, if it wrote the row.
    market: Option<MarketplaceId>,
}

impl PluginWrites {
    pub(super) fn new(store: &Store, faults: &Faults, slots: &WriteSlots) -> Self {
        Self {
            store: store.clone(),
            faults: faults.clone(),
            slots: slots.clone(),
            in_flight: JoinSet::new(),
            counts: SyncCounts::default(),
            errors: Vec::new(),
            market: None,
        }
    }

    /// Starts writing `plan` as `write` once a slot is free. A write that may create or update
    /// the marketplace row (see [`PluginWrite::writes_marketplace`]) waits for every write before
    /// it and commits before this returns; [`Self::learnt_market`] then gives the row's id.
    pub(super) async fn start(&mut self, write: PluginWrite, plan: PluginPlan) -> AppResult<()> {
        let alone = write.writes_marketplace();
        if alone {
            self.settle_all().await?;
        }
        let slot = self.slot().await?;
        let (store, faults) = (self.store.clone(), self.faults.clone());
        self.in_flight.spawn(async move {
            let _slot = slot;
            let written = match write_plugin(&store, &faults, &write, &plan).await {
                // A unique-index refusal means another run wrote this plugin meanwhile (or its
                // rows changed since they were read): re-read the bindings, upsert the rows and
                // apply once more.
                Err(AppError::Conflict { .. }) => {
                    let again = PluginWrite {
                        known: KnownRows::default(),
                        ..write
                    };
                    write_plugin(&store, &faults, &again, &plan).await?
                }
                other => other?,
            };
            Ok(Committed {
                written,
                skipped: plan.skipped,
                errors: plan.errors,
            })
        });
        if alone {
            self.market = None;
            self.settle_all().await?;
        }
        Ok(())
    }

    /// A free slot: while every slot is taken and this run has writes in flight, it waits for
    /// one of its own (whose slot is then free, unless another run takes it first).
    async fn slot(&mut self) -> AppResult<OwnedSemaphorePermit> {
        loop {
            match Arc::clone(&self.slots.0).try_acquire_owned() {
                Ok(slot) => return Ok(slot),
                Err(_) if !self.in_flight.is_empty() => self.settle_one().await?,
                Err(_) => {
                    return Arc::clone(&self.slots.0)
                        .acquire_owned()
                        .await
                        .map_err(AppError::internal);
                }
            }
        }
    }

    /// The marketplace id written by the last write that ran alone, if it wrote the row.
    pub(super) fn learnt_market(&self) -> Option<MarketplaceId> {
        self.market
    }

    /// Waits for every write still in flight; then the counts and per-file errors of them all.
    pub(super) async fn finish(mut self) -> AppResult<(SyncCounts, Vec<FileError>)> {
        self.settle_all().await?;
        Ok((self.counts, self.errors))
    }

    /// Waits for every write in flight.
    async fn settle_all(&mut self) -> AppResult<()> {
        while !self.in_flight.is_empty() {
            self.settle_one().await?;
        }
        Ok(())
    }

    async fn settle_one(&mut self) -> AppResult<()> {
        let Some(done) = self.in_flight.join_next().await else {
            return Ok(());
        };
        let Committed {
            written,
            skipped,
            errors,
        } = done.map_err(AppError::internal)??;
        let c = written.counts;
        self.counts.created += c.created;
        self.counts.updated += c.updated;
        self.counts.deleted += c.deleted;
        self.counts.unchanged += c.unchanged;
        self.counts.skipped += c.skipped + skipped;
        self.errors.extend(errors);
        if written.market.is_some() {
            self.market = written.market;
        }
        self.faults.check(points::PLUGIN_COMMITTED)
    }
}
