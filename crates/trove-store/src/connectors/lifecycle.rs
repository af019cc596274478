//! What GitHub tells Trove about installations and repositories, applied to accounts, instances
//! and targets (DESIGN flow 7), and the lookup of the targets a push reaches.
//!
//! Every change is scoped to the installation that sent it: the account whose `remote_id` is the
//! delivery's installation id, and only that account's instances. An installation is bound to one
//! org, so a delivery can never touch another org's rows, even when that org follows the same
//! repository through another connector. Repositories are matched by GitHub's numeric id, which
//! survives renames and transfers; names are only displayed.
//!
//! None of these changes enqueue a reconcile; objects are never deleted here. Each change that
//! touched something writes one audit entry in the account's org (actor: nobody, it is GitHub's).

use serde::Serialize;
use trove_core::time::now_ms;
use trove_core::{AppResult, ConnectorAccountId, ConnectorInstanceId, ConnectorTargetId, OrgId};
use uuid::Uuid;

use crate::db::{Tx, in_list, sql};
use crate::{Actor, Store};

/// Why an instance is in `error` after a repository event (`status_reason`).
pub mod reasons {
    /// The installation no longer grants the App this repository.
    pub const REPO_ACCESS_REMOVED: &str = "repo_access_removed";
    /// The repository was archived (read-only on GitHub).
    pub const REPOSITORY_ARCHIVED: &str = "repository_archived";
    /// The repository was deleted.
    pub const REPOSITORY_DELETED: &str = "repository_deleted";
    /// The App was uninstalled (the instance is `disabled`).
    pub const INSTALLATION_DELETED: &str = "installation_deleted";
}

/// A lifecycle event, as the webhook normalised it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GithubLifecycle {
    /// `installation.deleted`: the account is `disconnected`, its instances `disabled`.
    InstallationDeleted,
    /// `installation.suspend` (`true`) or `unsuspend` (`false`): the account's status.
    InstallationSuspended(bool),
    /// `installation_repositories.removed`: instances of these repositories go to `error`.
    RepositoriesRemoved(Vec<i64>),
    /// `installation_repositories.added`: instances in `error` because access was removed come back.
    RepositoriesAdded(Vec<i64>),
    /// `repository.renamed` or `transferred`: the stored full name (and clone URL) of its targets.
    RepositoryMoved {
        /// The repository.
        repository_id: i64,
        /// `owner/name` now.
        full_name: String,
        /// The new clone URL, when the payload has a usable one.
        url: Option<String>,
    },
    /// `repository.archived` (`true`) or `unarchived` (`false`).
    RepositoryArchived {
        /// The repository.
        repository_id: i64,
        /// Archived or not.
        archived: bool,
    },
    /// `repository.deleted`.
    RepositoryDeleted {
        /// The repository.
        repository_id: i64,
    },
}

impl GithubLifecycle {
    fn audit_action(&self) -> &'static str {
        match self {
            Self::InstallationDeleted => "github.installation.deleted",
            Self::InstallationSuspended(true) => "github.installation.suspend",
            Self::InstallationSuspended(false) => "github.installation.unsuspend",
            Self::RepositoriesRemoved(_) => "github.repositories.removed",
            Self::RepositoriesAdded(_) => "github.repositories.added",
            Self::RepositoryMoved { .. } => "github.repository.moved",
            Self::RepositoryArchived { archived: true, .. } => "github.repository.archived",
            Self::RepositoryArchived {
                archived: false, ..
            } => "github.repository.unarchived",
            Self::RepositoryDeleted { .. } => "github.repository.deleted",
        }
    }
}

/// What a lifecycle event changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LifecycleReport {
    /// Accounts whose status changed.
    pub accounts: u64,
    /// Instances whose status changed.
    pub instances: u64,
    /// Targets whose name or URL changed.
    pub targets: u64,
}

impl LifecycleReport {
    /// Whether anything changed.
    pub fn changed(&self) -> bool {
        self.accounts + self.instances + self.targets > 0
    }
}

/// A target of a GitHub instance that pushes to its repository reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackedTarget {
    /// The org.
    pub org: OrgId,
    /// The instance (active, of an active account).
    pub instance: ConnectorInstanceId,
    /// The target.
    pub target: ConnectorTargetId,
    /// The installation of the instance's account.
    pub installation_id: i64,
    /// The repository.
    pub repository_id: i64,
    /// The branch it follows.
    pub branch: String,
    /// Whether a push deleted the branch (the next push to it revives the target).
    pub branch_missing: bool,
}

#[derive(sqlx::FromRow)]
struct TrackedRow {
    id: Uuid,
    org_id: Uuid,
    instance_id: Uuid,
    remote_id: String,
    repository_id: String,
    branch: String,
    status: String,
}

const TRACKED_SELECT: &str = "SELECT t.id, t.org_id, t.instance_id, a.remote_id, t.repository_id, t.branch, t.status \
     FROM connector_targets t JOIN connector_instances i ON i.id = t.instance_id \
     JOIN connector_accounts a ON a.id = i.account_id \
     WHERE i.type = 'github' AND i.status = 'active' AND a.kind = 'github' AND a.status = 'active' \
     AND t.status IN ('active', 'branch_missing')";

fn tracked(rows: Vec<TrackedRow>) -> Vec<TrackedTarget> {
    rows.into_iter()
        .filter_map(|r| {
            Some(TrackedTarget {
                org: r.org_id.into(),
                instance: r.instance_id.into(),
                target: r.id.into(),
                installation_id: r.remote_id.parse().ok()?,
                repository_id: r.repository_id.parse().ok()?,
                branch: r.branch,
                branch_missing: r.status == "branch_missing",
            })
        })
        .collect()
}

impl Store {
    /// The tracked targets of any of `repository_ids` (every branch; callers match the branch and
    /// the delivery's installation). One statement for a whole batch of pushes.
    pub async fn tracked_targets_in(
        &self,
        tx: &mut Tx,
        repository_ids: &[i64],
    ) -> AppResult<Vec<TrackedTarget>> {
        if repository_ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut q = sql(TRACKED_SELECT);
        let list = in_list(&mut q, repository_ids.iter().map(|id| id.to_string()));
        q.push(&format!(" AND t.repository_id IN {list} ORDER BY t.id"));
        Ok(tracked(tx.fetch_all(q).await?))
    }

    /// The tracked targets following `branch` of `repository_id`.
    pub async fn tracked_targets(
        &self,
        repository_id: i64,
        branch: &str,
    ) -> AppResult<Vec<TrackedTarget>> {
        let mut q = sql(TRACKED_SELECT);
        let r = q.push_arg(repository_id.to_string());
        let b = q.push_arg(branch);
        q.push(&format!(
            " AND t.repository_id = {r} AND t.branch = {b} ORDER BY t.id"
        ));
        Ok(tracked(self.db.fetch_all(q).await?))
    }

    /// Sets the status of targets (`active` or `branch_missing`); their objects are left alone.
    pub async fn set_targets_status_in(
        &self,
        tx: &mut Tx,
        targets: &[ConnectorTargetId],
        status: &str,
    ) -> AppResult<u64> {
        if targets.is_empty() {
            return Ok(0);
        }
        let mut q = sql("UPDATE connector_targets SET status = $1, updated_at = $2 WHERE id IN ")
            .bind(status)
            .bind(now_ms());
        let list = in_list(&mut q, targets.iter().map(|t| t.uuid()));
        q.push(&list);
        tx.execute(q).await
    }

    /// Applies a lifecycle event of `installation_id` in `tx`. `None` when no org has that
    /// installation (the delivery is then ignored).
    pub async fn apply_github_lifecycle_in(
        &self,
        tx: &mut Tx,
        installation_id: i64,
        event: &GithubLifecycle,
    ) -> AppResult<Option<LifecycleReport>> {
        let account: Option<(Uuid, Uuid)> = tx
            .fetch_optional(
                sql(format!(
                    "SELECT id, org_id FROM connector_accounts WHERE kind = 'github' AND remote_id = $1{}",
                    tx.backend().for_update()
                ))
                .bind(installation_id.to_string()),
            )
            .await?;
        let Some((account, org)) = account else {
            return Ok(None);
        };
        let account = ConnectorAccountId::from(account);
        let now = now_ms();
        let mut report = LifecycleReport::default();
        match event {
            GithubLifecycle::InstallationDeleted => {
                report.accounts =
                    set_account_status(tx, account, "disconnected", None, now).await?;
                report.instances = tx
                    .execute(
                        sql("UPDATE connector_instances SET status = 'disabled', status_reason = $1, updated_at = $2 \
                             WHERE account_id = $3 AND status <> 'disabled'")
                        .bind(reasons::INSTALLATION_DELETED)
                        .bind(now)
                        .bind(account.uuid()),
                    )
                    .await?;
            }
            GithubLifecycle::InstallationSuspended(suspend) => {
                let (to, from) = if *suspend {
                    ("suspended", "active")
                } else {
                    ("active", "suspended")
                };
                report.accounts = set_account_status(tx, account, to, Some(from), now).await?;
            }
            GithubLifecycle::RepositoriesRemoved(repos) => {
                report.instances =
                    instances_to_error(tx, account, repos, reasons::REPO_ACCESS_REMOVED, now)
                        .await?;
            }
            GithubLifecycle::RepositoriesAdded(repos) => {
                report.instances =
                    instances_recover(tx, account, repos, reasons::REPO_ACCESS_REMOVED, now)
                        .await?;
            }
            GithubLifecycle::RepositoryMoved {
                repository_id,
                full_name,
                url,
            } => {
                report.targets = tx
                    .execute(
                        sql("UPDATE connector_targets SET repository_name = $1, url = COALESCE($2, url), updated_at = $3 \
                             WHERE repository_id = $4 AND instance_id IN (SELECT id FROM connector_instances WHERE account_id = $5) \
                             AND (repository_name IS NULL OR repository_name <> $1 OR url <> COALESCE($2, url))")
                        .bind(full_name.as_str())
                        .bind(url.clone())
                        .bind(now)
                        .bind(repository_id.to_string())
                        .bind(account.uuid()),
                    )
                    .await?;
            }
            GithubLifecycle::RepositoryArchived {
                repository_id,
                archived: true,
            } => {
                report.instances = instances_to_error(
                    tx,
                    account,
                    &[*repository_id],
                    reasons::REPOSITORY_ARCHIVED,
                    now,
                )
                .await?;
            }
            GithubLifecycle::RepositoryArchived {
                repository_id,
                archived: false,
            } => {
                report.instances = instances_recover(
                    tx,
                    account,
                    &[*repository_id],
                    reasons::REPOSITORY_ARCHIVED,
                    now,
                )
                .await?;
            }
            GithubLifecycle::RepositoryDeleted { repository_id } => {
                report.instances = instances_to_error(
                    tx,
                    account,
                    &[*repository_id],
                    reasons::REPOSITORY_DELETED,
                    now,
                )
                .await?;
            }
        }
        if report.changed() {
            self.audit(
                tx,
                org.into(),
                Actor::default(),
                event.audit_action(),
                "connector_account",
                &account.to_string(),
                serde_json::json!({"installationId": installation_id, "changed": report}),
            )
            .await?;
        }
        Ok(Some(report))
    }
}

/// Moves an account to `to` (only from `from`, when given).
async fn set_account_status(
    tx: &mut Tx,
    account: ConnectorAccountId,
    to: &str,
    from: Option<&str>,
    now: i64,
) -> AppResult<u64> {
    let mut q = sql(
        "UPDATE connector_accounts SET status = $1, updated_at = $2 WHERE id = $3 AND status <> $1",
    )
    .bind(to)
    .bind(now)
    .bind(account.uuid());
    if let Some(from) = from {
        let f = q.push_arg(from);
        q.push(&format!(" AND status = {f}"));
    }
    tx.execute(q).await
}

/// The instances of `account` following one of `repos` that a person did not disable go to
/// `error` with `reason`.
async fn instances_to_error(
    tx: &mut Tx,
    account: ConnectorAccountId,
    repos: &[i64],
    reason: &str,
    now: i64,
) -> AppResult<u64> {
    if repos.is_empty() {
        return Ok(0);
    }
    let mut q = sql(
        "UPDATE connector_instances SET status = 'error', status_reason = $1, updated_at = $2 \
         WHERE account_id = $3 AND status <> 'disabled' \
         AND (status <> 'error' OR status_reason IS NULL OR status_reason <> $1) \
         AND id IN (SELECT instance_id FROM connector_targets WHERE repository_id IN ",
    )
    .bind(reason)
    .bind(now)
    .bind(account.uuid());
    let list = in_list(&mut q, repos.iter().map(|r| r.to_string()));
    q.push(&list);
    q.push(")");
    tx.execute(q).await
}

/// The instances of `account` following one of `repos` that are in `error` for `reason` become
/// `active` again (an error for another reason stays).
async fn instances_recover(
    tx: &mut Tx,
    account: ConnectorAccountId,
    repos: &[i64],
    reason: &str,
    now: i64,
) -> AppResult<u64> {
    if repos.is_empty() {
        return Ok(0);
    }
    let mut q = sql(
        "UPDATE connector_instances SET status = 'active', status_reason = NULL, updated_at = $1 \
         WHERE account_id = $2 AND status = 'error' AND status_reason = $3 \
         AND id IN (SELECT instance_id FROM connector_targets WHERE repository_id IN ",
    )
    .bind(now)
    .bind(account.uuid())
    .bind(reason);
    let list = in_list(&mut q, repos.iter().map(|r| r.to_string()));
    q.push(&list);
    q.push(")");
    tx.execute(q).await
}
