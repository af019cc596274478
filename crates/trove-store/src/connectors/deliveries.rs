//! GitHub webhook deliveries: the record that makes a redelivery (same `X-GitHub-Delivery`) do no
//! new work, and its retention.
//!
//! A delivery is inserted before anything it causes, in the same transaction as its effects; the
//! primary key does the deduplication, so two servers receiving the same delivery at once cannot
//! both act on it (the second insert waits for the first transaction, then finds the row). It is
//! inserted with its outcome when the caller knows it beforehand (a push), otherwise as `received`
//! and given its outcome before that transaction commits, so a committed row never says
//! `received`. Rows are written many per statement: the webhook ingest commits deliveries in
//! groups.

use std::collections::HashSet;

use serde::Serialize;
use trove_core::AppResult;
use trove_core::time::now_ms;

use crate::Store;
use crate::db::{Tx, in_list, sql};

/// How long delivery ids are remembered: GitHub lets a delivery be redelivered for 3 days on
/// github.com and 7 on GitHub Enterprise Server; a day more covers clock skew and a slow operator.
pub const DELIVERY_RETENTION_MS: i64 = 8 * 24 * 3600 * 1000;

/// Rows per multi-row statement (8 arguments each, far under both engines' parameter limits).
const ROWS_PER_STATEMENT: usize = 500;

/// A delivery about to be recorded.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    /// `X-GitHub-Delivery`.
    pub delivery_id: String,
    /// `X-GitHub-Event`.
    pub event: String,
    /// The payload's `action`, if any.
    pub action: Option<String>,
    /// `installation.id`, if any.
    pub installation_id: Option<i64>,
    /// `repository.id`, if any.
    pub repository_id: Option<i64>,
}

/// A delivery to record with the outcome it gets if it is new (`None`: `received`, to be settled
/// before commit).
pub type SettledDelivery<'a> = (&'a NewDelivery, Option<(DeliveryOutcome, Option<&'a str>)>);

/// What a recorded delivery led to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryOutcome {
    /// Reconciles were enqueued.
    Queued,
    /// A lifecycle change was applied (statuses, names); nothing was enqueued.
    Applied,
    /// Nothing matched; the reason says why.
    Ignored,
}

impl DeliveryOutcome {
    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Applied => "applied",
            Self::Ignored => "ignored",
        }
    }
}

/// A recorded delivery.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DeliveryRecord {
    /// `X-GitHub-Delivery`.
    pub delivery_id: String,
    /// `X-GitHub-Event`.
    pub event: String,
    /// The payload's `action`.
    pub action: Option<String>,
    /// `installation.id`.
    pub installation_id: Option<i64>,
    /// `repository.id`.
    pub repository_id: Option<i64>,
    /// `queued`, `applied` or `ignored`.
    pub outcome: String,
    /// Why it was ignored, or what was applied.
    pub reason: Option<String>,
    /// When it was received (epoch ms).
    pub received_at: i64,
}

impl Store {
    /// Records deliveries in `tx` as `received` and returns the ids that were new; an id already
    /// recorded (a redelivery, or a copy in flight on another server) is left out and must cause no
    /// work. Rows are inserted in id order, so concurrent transactions lock them in the same order.
    pub async fn record_deliveries_in(
        &self,
        tx: &mut Tx,
        deliveries: &[NewDelivery],
    ) -> AppResult<HashSet<String>> {
        let rows: Vec<SettledDelivery<'_>> = deliveries.iter().map(|d| (d, None)).collect();
        self.record_settled_deliveries_in(tx, &rows).await
    }

    /// Records deliveries in `tx` with the outcome each will have if it is new (`None`: `received`,
    /// to be set by [`Store::set_delivery_outcomes_in`] before commit), and returns the ids that
    /// were new. A caller that can decide outcomes before knowing which ids are new saves the
    /// follow-up update; the row of an id already recorded is left as it was.
    pub async fn record_settled_deliveries_in(
        &self,
        tx: &mut Tx,
        deliveries: &[SettledDelivery<'_>],
    ) -> AppResult<HashSet<String>> {
        let mut sorted: Vec<_> = deliveries.iter().collect();
        sorted.sort_by(|a, b| a.0.delivery_id.cmp(&b.0.delivery_id));
        sorted.dedup_by(|a, b| a.0.delivery_id == b.0.delivery_id);
        let now = now_ms();
        let mut fresh = HashSet::with_capacity(sorted.len());
        for chunk in sorted.chunks(ROWS_PER_STATEMENT) {
            let mut q = sql("");
            let mut tuples = Vec::with_capacity(chunk.len());
            for (d, outcome) in chunk {
                let (outcome, reason) = match outcome {
                    Some((outcome, reason)) => (outcome.as_str(), reason.map(str::to_owned)),
                    None => ("received", None),
                };
                let values = [
                    q.push_arg(d.delivery_id.as_str()),
                    q.push_arg(d.event.as_str()),
                    q.push_arg(d.action.clone()),
                    q.push_arg(d.installation_id),
                    q.push_arg(d.repository_id),
                    q.push_arg(outcome),
                    q.push_arg(reason),
                    q.push_arg(now),
                ];
                tuples.push(format!("({})", values.join(", ")));
            }
            q.push(&format!(
                "INSERT INTO webhook_deliveries (delivery_id, event, action, installation_id, repository_id, outcome, reason, received_at) \
                 VALUES {} ON CONFLICT (delivery_id) DO NOTHING RETURNING delivery_id",
                tuples.join(", ")
            ));
            let inserted: Vec<(String,)> = tx.fetch_all(q).await?;
            fresh.extend(inserted.into_iter().map(|(id,)| id));
        }
        Ok(fresh)
    }

    /// Sets the outcome of deliveries recorded in `tx` (one statement per distinct outcome and
    /// reason).
    pub async fn set_delivery_outcomes_in(
        &self,
        tx: &mut Tx,
        outcomes: &[(String, DeliveryOutcome, Option<String>)],
    ) -> AppResult<()> {
        type Group<'a> = ((DeliveryOutcome, Option<&'a str>), Vec<&'a str>);
        let mut groups: Vec<Group<'_>> = Vec::new();
        for (id, outcome, reason) in outcomes {
            let key = (*outcome, reason.as_deref());
            match groups.iter_mut().find(|(k, _)| *k == key) {
                Some((_, ids)) => ids.push(id),
                None => groups.push((key, vec![id])),
            }
        }
        for ((outcome, reason), ids) in groups {
            for chunk in ids.chunks(ROWS_PER_STATEMENT) {
                let mut q = sql(
                    "UPDATE webhook_deliveries SET outcome = $1, reason = $2 WHERE delivery_id IN ",
                )
                .bind(outcome.as_str())
                .bind(reason.map(str::to_owned));
                let list = in_list(&mut q, chunk.iter().copied());
                q.push(&list);
                tx.execute(q).await?;
            }
        }
        Ok(())
    }

    /// One recorded delivery.
    pub async fn delivery(&self, delivery_id: &str) -> AppResult<Option<DeliveryRecord>> {
        self.db
            .fetch_optional(
                sql("SELECT delivery_id, event, action, installation_id, repository_id, outcome, reason, received_at \
                     FROM webhook_deliveries WHERE delivery_id = $1")
                .bind(delivery_id),
            )
            .await
    }

    /// Forgets deliveries received before `before` (epoch ms); returns how many.
    pub async fn prune_deliveries(&self, before: i64) -> AppResult<u64> {
        self.db
            .execute(sql("DELETE FROM webhook_deliveries WHERE received_at < $1").bind(before))
            .await
    }
}
