//! The plugin transactions of one run, several in flight at once on PostgreSQL.
//!
//! Plugins share no rows but the ones they reference (org, instance, target, marketplace), so
//! their transactions can overlap. On PostgreSQL most of a transaction's time is the server's
//! (index and foreign-key work) and the round trips to it: with a few in flight, the server works
//! on one while this process seals and sends the next. SQLite writes one transaction at a time
//! whatever the caller does, so there they run one after the other.
//!
//! A write that may create or update the marketplace row runs alone, once every write before it
//! has committed: the writes after it reference the row it leaves, by the id it returns.
//! Results are folded as writes commit; a failed write fails the run, and the writes still in
//! flight are dropped, which rolls them back (each plugin is its own transaction, so the next run
//! recomputes whatever did not commit, as after a killed worker).

use std::future::Future;
use std::pin::Pin;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use trove_core::{AppError, AppResult, MarketplaceId};
use trove_store::connectors::model::{FileError, SyncCounts};
use trove_store::{Backend, Store};

use super::apply::{KnownRows, PluginWrite, Written, write_plugin};
use super::desired::PluginPlan;
use super::faults::{Faults, points};

/// Plugin transactions in flight at once on PostgreSQL. Past a few, they only queue for the same
/// two or three busy cores and hold more plugins' contents in memory.
const POSTGRES_WRITES: usize = 4;

/// What a committed write adds to the run's result.
struct Committed {
    written: Written,
    skipped: i32,
    errors: Vec<FileError>,
}

type Pending<'r> = Pin<Box<dyn Future<Output = AppResult<Committed>> + Send + 'r>>;

/// The writes of one run and what the committed ones added up to.
pub(super) struct PluginWrites<'r> {
    store: &'r Store,
    faults: &'r Faults,
    limit: usize,
    in_flight: FuturesUnordered<Pending<'r>>,
    /// Counts and per-file errors of the committed writes.
    pub counts: SyncCounts,
    pub errors: Vec<FileError>,
    /// The marketplace id the last write that ran alone returned, if it wrote the row.
    market: Option<MarketplaceId>,
}

impl<'r> PluginWrites<'r> {
    pub(super) fn new(store: &'r Store, faults: &'r Faults) -> Self {
        let limit = match store.db.backend() {
            Backend::Sqlite => 1,
            Backend::Postgres => POSTGRES_WRITES,
        };
        Self {
            store,
            faults,
            limit,
            in_flight: FuturesUnordered::new(),
            counts: SyncCounts::default(),
            errors: Vec::new(),
            market: None,
        }
    }

    /// Starts writing `plan` as `write`, after waiting for a slot. A write that may create or
    /// update the marketplace row (see [`PluginWrite::writes_marketplace`]) waits for every write
    /// before it and commits before this returns; [`Self::learnt_market`] then gives the row's id.
    pub(super) async fn start(
        &mut self,
        write: PluginWrite<'r>,
        plan: PluginPlan,
    ) -> AppResult<()> {
        let alone = write.writes_marketplace();
        if alone {
            self.settle_all().await?;
        }
        let (store, faults) = (self.store, self.faults);
        self.in_flight.push(Box::pin(async move {
            let written = match write_plugin(store, faults, &write, &plan).await {
                // A unique-index refusal means another run wrote this plugin meanwhile (or its
                // rows changed since they were read): re-read the bindings, upsert the rows and
                // apply once more.
                Err(AppError::Conflict { .. }) => {
                    let again = PluginWrite {
                        known: KnownRows::default(),
                        ..write
                    };
                    write_plugin(store, faults, &again, &plan).await?
                }
                other => other?,
            };
            Ok(Committed {
                written,
                skipped: plan.skipped,
                errors: plan.errors,
            })
        }));
        if alone {
            self.market = None;
            self.settle_all().await?;
        } else if self.in_flight.len() >= self.limit {
            self.settle_one().await?;
        }
        Ok(())
    }

    /// The marketplace id written by the last write that ran alone, if it wrote the row.
    pub(super) fn learnt_market(&self) -> Option<MarketplaceId> {
        self.market
    }

    /// Waits for every write in flight.
    pub(super) async fn settle_all(&mut self) -> AppResult<()> {
        while !self.in_flight.is_empty() {
            self.settle_one().await?;
        }
        Ok(())
    }

    async fn settle_one(&mut self) -> AppResult<()> {
        let Some(done) = self.in_flight.next().await else {
            return Ok(());
        };
        let Committed {
            written,
            skipped,
            errors,
        } = done?;
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
