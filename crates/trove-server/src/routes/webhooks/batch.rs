//! One group commit: every pending delivery's record and effects in one transaction.
//!
//! Deduplication stays exact inside a batch and across batches:
//! - the same delivery id twice in a batch: the first acts, the copies are duplicates;
//! - an id recorded by an earlier batch (or by another server, whose insert this one waits for):
//!   the primary key of `webhook_deliveries` leaves it out, and it is a duplicate;
//! - several pushes for the same (target, head) in a batch: one sync event and one job, shared;
//!   across batches the job coalesces into the queued job of (target, head) and the push joins its
//!   event, exactly as `trove_sync::jobs::enqueue_sync_in` does (whose dedupe key it uses).
//!
//! The reconciles of a whole batch are created in a few multi-row statements
//! ([`Store::enqueue_sync_events_in`]); only an item that cannot be settled in bulk (its twin job
//! is queued but its event already ran) goes through `enqueue_sync_in` on its own.

use std::collections::{HashMap, HashSet};

use trove_core::{AppResult, ConnectorTargetId, SyncEventId};
use trove_store::Store;
use trove_store::connectors::deliveries::{DeliveryOutcome, NewDelivery};
use trove_store::connectors::events::{NewSyncEvent, QueuedSync, SyncEnqueued};
use trove_store::connectors::lifecycle::TrackedTarget;
use trove_store::connectors::model::Trigger;
use trove_store::queue::NewJob;
use trove_sync::jobs::ReconcileJob;

use super::work::{Work, WorkKind};

/// How a delivery's row records its outcome: the outcome and its reason.
type Recorded = (DeliveryOutcome, Option<String>);

/// What a delivery led to, once committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Reconciles were enqueued (or joined): these sync events track them.
    Queued(Vec<SyncEventId>),
    /// A lifecycle change was applied; nothing was enqueued.
    Applied(String),
    /// Recorded, but nothing matched.
    Ignored(String),
    /// This delivery id was seen before: nothing was done.
    Duplicate,
}

impl Outcome {
    /// How the delivery's row records it (`None` for a duplicate, which has no row of its own).
    fn recorded(&self) -> Option<Recorded> {
        match self {
            Self::Queued(_) => Some((DeliveryOutcome::Queued, None)),
            Self::Applied(what) => Some((DeliveryOutcome::Applied, Some(what.clone()))),
            Self::Ignored(why) => Some((DeliveryOutcome::Ignored, Some(why.clone()))),
            Self::Duplicate => None,
        }
    }
}

/// Records and acts on `batch` in one transaction; one outcome per delivery, in order.
///
/// A push's outcome depends only on the targets that follow its branch, so the followed targets
/// are read first and each push's row is inserted with its final outcome: no update follows.
/// Lifecycle deliveries, whose outcome depends on what applying them changes, are inserted as
/// `received` and updated once applied.
pub async fn write_batch(store: &Store, batch: &[Work]) -> AppResult<Vec<Outcome>> {
    // The first occurrence of each id acts; later copies are duplicates of it.
    let mut seen = HashSet::with_capacity(batch.len());
    let firsts: Vec<bool> = batch
        .iter()
        .map(|w| seen.insert(w.delivery_id.as_str()))
        .collect();
    let mut repositories: Vec<i64> = (0..batch.len())
        .filter(|&i| firsts[i])
        .filter_map(|i| match &batch[i].kind {
            WorkKind::Push { repository_id, .. } => Some(*repository_id),
            WorkKind::Lifecycle(_) => None,
        })
        .collect();
    repositories.sort_unstable();
    repositories.dedup();

    let mut tx = store.db.begin().await?;
    let targets = store.tracked_targets_in(&mut tx, &repositories).await?;
    let news: Vec<(NewDelivery, Option<Recorded>)> = batch
        .iter()
        .zip(&firsts)
        .filter(|(_, first)| **first)
        .map(|(w, _)| {
            let new = NewDelivery {
                delivery_id: w.delivery_id.clone(),
                event: w.event.clone(),
                action: w.action.clone(),
                installation_id: Some(w.installation_id),
                repository_id: w.repository_id,
            };
            let settled = match &w.kind {
                WorkKind::Push { branch, head, .. } => {
                    push_outcome(branch, head.as_deref(), &followers(&targets, w)).recorded()
                }
                WorkKind::Lifecycle(_) => None,
            };
            (new, settled)
        })
        .collect();
    let rows: Vec<_> = news
        .iter()
        .map(|(new, settled)| (new, settled.as_ref().map(|(k, r)| (*k, r.as_deref()))))
        .collect();
    let fresh = store.record_settled_deliveries_in(&mut tx, &rows).await?;
    let acts = |i: usize| firsts[i] && fresh.contains(&batch[i].delivery_id);
    let mut statuses = TargetStatuses::new(&targets);

    // Reconciles wanted by the batch, one per (target, head), and which pushes want which.
    let mut planned: HashMap<(ConnectorTargetId, String), usize> = HashMap::new();
    let mut syncs: Vec<QueuedSync> = Vec::new();
    let mut pushes: Vec<(usize, Vec<usize>)> = Vec::new();
    let mut outcomes = vec![Outcome::Duplicate; batch.len()];
    let mut lifecycle_outcomes = Vec::new();
    for (i, work) in batch.iter().enumerate() {
        if !acts(i) {
            continue;
        }
        outcomes[i] = match &work.kind {
            WorkKind::Push { branch, head, .. } => {
                let matched = followers(&targets, work);
                match head {
                    Some(sha) if !matched.is_empty() => {
                        let mut wanted = Vec::with_capacity(matched.len());
                        for t in matched {
                            statuses.set(t.target, "active");
                            let key = (t.target, sha.clone());
                            let next = syncs.len();
                            let slot = *planned.entry(key).or_insert(next);
                            if slot == next {
                                syncs.push(reconcile(t, sha, &work.delivery_id)?);
                            }
                            wanted.push(slot);
                        }
                        pushes.push((i, wanted));
                        continue;
                    }
                    None => {
                        for t in &matched {
                            statuses.set(t.target, "branch_missing");
                        }
                        push_outcome(branch, None, &matched)
                    }
                    Some(_) => push_outcome(branch, head.as_deref(), &matched),
                }
            }
            WorkKind::Lifecycle(event) => {
                let outcome = match store
                    .apply_github_lifecycle_in(&mut tx, work.installation_id, event)
                    .await?
                {
                    None => Outcome::Ignored(format!(
                        "installation {} is not connected to any organization",
                        work.installation_id
                    )),
                    Some(report) if report.changed() => Outcome::Applied(format!(
                        "{} account(s), {} instance(s) and {} target(s) changed",
                        report.accounts, report.instances, report.targets
                    )),
                    Some(_) => Outcome::Ignored("nothing to change".into()),
                };
                if let Some((kind, reason)) = outcome.recorded() {
                    lifecycle_outcomes.push((work.delivery_id.clone(), kind, reason));
                }
                outcome
            }
        };
    }
    let settled = store.enqueue_sync_events_in(&mut tx, &syncs).await?;
    let mut events = Vec::with_capacity(syncs.len());
    for (sync, settled) in syncs.iter().zip(settled) {
        events.push(match settled {
            SyncEnqueued::Created(event, _) | SyncEnqueued::Joined(event, _) => event,
            SyncEnqueued::Unsettled => {
                trove_sync::jobs::enqueue_sync_in(store, &mut tx, sync.event.clone())
                    .await?
                    .0
                    .id
            }
        });
    }
    for (i, wanted) in pushes {
        outcomes[i] = Outcome::Queued(wanted.into_iter().map(|slot| events[slot]).collect());
    }
    for (status, ids) in statuses.changes() {
        store.set_targets_status_in(&mut tx, &ids, status).await?;
    }
    if !lifecycle_outcomes.is_empty() {
        store
            .set_delivery_outcomes_in(&mut tx, &lifecycle_outcomes)
            .await?;
    }
    tx.commit().await?;
    Ok(outcomes)
}

/// The tracked targets that follow the branch `work` pushed to, for its installation.
fn followers<'t>(targets: &'t [TrackedTarget], work: &Work) -> Vec<&'t TrackedTarget> {
    let WorkKind::Push {
        repository_id,
        branch,
        ..
    } = &work.kind
    else {
        return Vec::new();
    };
    targets
        .iter()
        .filter(|t| {
            t.installation_id == work.installation_id
                && t.repository_id == *repository_id
                && t.branch == *branch
        })
        .collect()
}

/// What a push to `branch` leads to, given the targets following it: reconciles (the events are
/// filled in once enqueued), `branch_missing` statuses for a deleted branch, or nothing.
fn push_outcome(branch: &str, head: Option<&str>, matched: &[&TrackedTarget]) -> Outcome {
    match head {
        _ if matched.is_empty() => Outcome::Ignored(format!(
            "branch `{branch}` is not followed by an active connector of this installation"
        )),
        Some(_) => Outcome::Queued(Vec::new()),
        None => Outcome::Applied(format!(
            "branch `{branch}` was deleted: {} target(s) marked branch_missing, objects kept",
            matched.len()
        )),
    }
}

/// The reconcile of `target` at `head` asked for by `delivery`: a push sync event and its job,
/// keyed as `enqueue_sync_in` keys it, so bulk and one-at-a-time enqueues coalesce with each other.
fn reconcile(target: &TrackedTarget, head: &str, delivery: &str) -> AppResult<QueuedSync> {
    let event_id = SyncEventId::new();
    let job = NewJob::typed(&ReconcileJob { event_id })?
        .dedupe_key(format!("connectors.reconcile:{}:{head}", target.target));
    Ok(QueuedSync {
        event_id,
        event: NewSyncEvent {
            org: target.org,
            instance: target.instance,
            target: target.target,
            trigger: Trigger::Push,
            delivery_id: Some(delivery.to_owned()),
            requested_sha: Some(head.to_owned()),
        },
        job,
    })
}

/// The status each touched target ends the batch with (the last push for it wins), written once
/// per status.
struct TargetStatuses {
    initial: HashMap<ConnectorTargetId, &'static str>,
    last: HashMap<ConnectorTargetId, &'static str>,
}

impl TargetStatuses {
    fn new(targets: &[TrackedTarget]) -> Self {
        let initial = targets
            .iter()
            .map(|t| {
                let status = if t.branch_missing {
                    "branch_missing"
                } else {
                    "active"
                };
                (t.target, status)
            })
            .collect();
        Self {
            initial,
            last: HashMap::new(),
        }
    }

    fn set(&mut self, target: ConnectorTargetId, status: &'static str) {
        self.last.insert(target, status);
    }

    fn changes(self) -> Vec<(&'static str, Vec<ConnectorTargetId>)> {
        let mut by_status: Vec<(&'static str, Vec<ConnectorTargetId>)> = Vec::new();
        let mut changed: Vec<(ConnectorTargetId, &'static str)> = self
            .last
            .into_iter()
            .filter(|(t, s)| self.initial.get(t) != Some(s))
            .collect();
        changed.sort_by_key(|(t, _)| t.uuid());
        for (target, status) in changed {
            match by_status.iter_mut().find(|(s, _)| *s == status) {
                Some((_, ids)) => ids.push(target),
                None => by_status.push((status, vec![target])),
            }
        }
        by_status
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use trove_core::{ConnectorTargetId, OrgId, OrgRole};
    use trove_store::connectors::accounts::GithubInstallation;
    use trove_store::connectors::instances::{GithubRepository, ValidInstance};
    use trove_store::connectors::lifecycle::GithubLifecycle;
    use trove_store::registry::access::Principal;
    use trove_store::{Actor, PageRequest, Store, sql};
    use trove_testkit::{TestDb, backend_tests};

    use super::*;

    backend_tests!(
        duplicates_inside_a_batch_act_once,
        the_last_push_of_a_batch_sets_the_status
    );

    const INSTALLATION: i64 = 31;
    const REPOSITORY: i64 = 3100;

    /// An org with a GitHub instance following `main` of [`REPOSITORY`].
    async fn followed(store: &Store) -> ConnectorTargetId {
        let (org, _, _) = store
            .bootstrap("acme", "owner@acme.test", Some("correct horse battery"))
            .await
            .unwrap();
        let org: OrgId = org.id;
        let owner = store
            .members(org, PageRequest::first(10))
            .await
            .unwrap()
            .into_iter()
            .find(|m| m.role == OrgRole::Owner)
            .unwrap();
        let account = store
            .bind_github_installation(
                org,
                &GithubInstallation {
                    installation_id: INSTALLATION,
                    name: "acme".into(),
                    metadata: json!({}),
                    suspended: false,
                },
                Actor::default(),
            )
            .await
            .unwrap();
        let repository = GithubRepository {
            repository_id: REPOSITORY,
            repository_name: "acme/tools".into(),
        };
        let valid = ValidInstance::github(
            account.id,
            repository,
            "https://github.com/acme/tools.git",
            "main",
            None,
            false,
        )
        .unwrap();
        let principal = Principal {
            org_id: org,
            membership_id: owner.id,
            is_admin: true,
        };
        let mut tx = store.db.begin().await.unwrap();
        let (_, target) = store
            .create_instance_in(&mut tx, &principal, &valid, Actor::default())
            .await
            .unwrap();
        tx.commit().await.unwrap();
        target
    }

    fn push(id: &str, head: Option<&str>) -> Work {
        Work {
            delivery_id: id.into(),
            event: "push".into(),
            action: None,
            installation_id: INSTALLATION,
            repository_id: Some(REPOSITORY),
            kind: WorkKind::Push {
                repository_id: REPOSITORY,
                branch: "main".into(),
                head: head.map(str::to_owned),
            },
        }
    }

    async fn count(store: &Store, table: &str) -> i64 {
        store
            .db
            .scalar(sql(format!("SELECT COUNT(*) FROM {table}")))
            .await
            .unwrap()
            .unwrap()
    }

    async fn duplicates_inside_a_batch_act_once(db: &TestDb) {
        let store = &db.store;
        let target = followed(store).await;
        let (x, y) = ("a".repeat(40), "b".repeat(40));
        let stranger = Work {
            delivery_id: "d4".into(),
            event: "installation".into(),
            action: Some("deleted".into()),
            installation_id: 999,
            repository_id: None,
            kind: WorkKind::Lifecycle(GithubLifecycle::InstallationDeleted),
        };
        let batch = vec![
            push("d1", Some(&x)),
            push("d1", Some(&x)),
            push("d2", Some(&x)),
            push("d3", Some(&y)),
            stranger,
        ];
        let out = write_batch(store, &batch).await.unwrap();
        let Outcome::Queued(first) = &out[0] else {
            panic!("{out:?}")
        };
        assert_eq!(out[1], Outcome::Duplicate, "a copy of d1 in the same batch");
        assert_eq!(
            out[2],
            Outcome::Queued(first.clone()),
            "same (target, head)"
        );
        let Outcome::Queued(other) = &out[3] else {
            panic!("{out:?}")
        };
        assert_ne!(other, first);
        assert!(matches!(&out[4], Outcome::Ignored(why) if why.contains("999")));
        assert_eq!(count(store, "webhook_deliveries").await, 4);
        // Pushes are inserted with their outcome, a lifecycle delivery gets its own once applied.
        let outcome = |id: &'static str| async move {
            let row = store.delivery(id).await.unwrap().unwrap();
            (row.outcome, row.reason.is_some())
        };
        assert_eq!(outcome("d1").await, ("queued".to_string(), false));
        assert_eq!(outcome("d4").await, ("ignored".to_string(), true));
        assert_eq!(count(store, "sync_events").await, 2);
        assert_eq!(count(store, "jobs").await, 2);

        // The next batch sees the recorded ids.
        let again = write_batch(store, &[push("d1", Some(&x)), push("d3", Some(&y))])
            .await
            .unwrap();
        assert_eq!(again, vec![Outcome::Duplicate, Outcome::Duplicate]);
        assert_eq!(count(store, "sync_events").await, 2);
        assert_eq!(count(store, "jobs").await, 2);

        // The bulk path keys its jobs as `enqueue_sync_in` does: a one-at-a-time enqueue of the
        // same (target, head), e.g. from the backstop, joins the waiting event.
        let org: OrgId = store
            .db
            .scalar::<uuid::Uuid>(
                sql("SELECT org_id FROM connector_targets WHERE id = $1").bind(target.uuid()),
            )
            .await
            .unwrap()
            .unwrap()
            .into();
        let instance = store.target(org, target).await.unwrap().instance_id;
        let mut tx = store.db.begin().await.unwrap();
        let (joined, _) = trove_sync::jobs::enqueue_sync_in(
            store,
            &mut tx,
            trove_store::connectors::events::NewSyncEvent {
                org,
                instance,
                target,
                trigger: Trigger::Periodic,
                delivery_id: None,
                requested_sha: Some(x.clone()),
            },
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(vec![joined.id], *first);
        assert_eq!(count(store, "jobs").await, 2);
        // And a push after it joins the same event too.
        let later = write_batch(store, &[push("d5", Some(&x))]).await.unwrap();
        assert_eq!(later, vec![Outcome::Queued(first.clone())]);
        assert_eq!(count(store, "sync_events").await, 2);
    }

    async fn the_last_push_of_a_batch_sets_the_status(db: &TestDb) {
        let store = &db.store;
        let target = followed(store).await;
        let status = || async {
            store
                .db
                .scalar::<String>(
                    sql("SELECT status FROM connector_targets WHERE id = $1").bind(target.uuid()),
                )
                .await
                .unwrap()
                .unwrap()
        };
        let head = "c".repeat(40);
        let out = write_batch(store, &[push("e1", None), push("e2", Some(&head))])
            .await
            .unwrap();
        assert!(matches!(out[0], Outcome::Applied(_)), "{out:?}");
        assert_eq!(status().await, "active", "deleted, then pushed again");
        let head = "d".repeat(40);
        write_batch(store, &[push("e3", Some(&head)), push("e4", None)])
            .await
            .unwrap();
        assert_eq!(status().await, "branch_missing", "pushed, then deleted");
    }
}
