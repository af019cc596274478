//! Connector instances: create (instance + target + creator grant in the caller's transaction, so the
//! initial sync event joins it), read, SQL-filtered lists, patch with a config *merge*, status, and
//! removal (in [`removal`]). Request shapes and their checks are in [`input`].
//!
//! Git and GitHub instances are created by the same [`Store::create_instance_in`]: a GitHub one
//! ([`ValidInstance::github`]) also records the repository id (what webhooks match on, stable
//! across renames and transfers) and full name on its target, and must use an active `github`
//! account of the org.
//!
//! A duplicate name is a 409 `connector_instance_name_taken` (checked in the transaction, and the
//! unique index turns a race into a 409 too), never a 500. Config is merged as a JSON merge patch
//! (RFC 7386): keys absent from the patch are kept; only an explicit `null` removes a key.

#[path = "instances/input.rs"]
pub mod input;
#[path = "instances/removal.rs"]
pub mod removal;

use trove_core::time::now_ms;
use trove_core::{
    AppError, AppResult, ConnectorInstanceId, ConnectorTargetId, OrgId, SyncEventId, Timestamp,
};
use uuid::Uuid;

use input::check_config;
pub use input::{
    GithubRepository, InstanceFilter, InstancePatch, MAX_CONFIG_BYTES, NewInstance, ValidInstance,
    merge_config, validate_branch, validate_url,
};

use super::model::{Instance, SYNC_EVENT_COLUMNS, SyncEvent, SyncEventRow, TARGET_COLUMNS, Target};
use crate::db::{Tx, in_list, sql};
use crate::registry::access::{Principal, ResourceKind, can_view};
use crate::{Actor, PageRequest, Store};

const INSTANCE_COLUMNS: &str = "i.id, i.account_id, i.type, i.name, i.status, i.status_reason, i.auto_import, i.config, i.created_at, i.updated_at";

#[derive(sqlx::FromRow)]
struct InstanceRow {
    id: Uuid,
    account_id: Option<Uuid>,
    #[sqlx(rename = "type")]
    kind: String,
    name: String,
    status: String,
    status_reason: Option<String>,
    auto_import: bool,
    config: String,
    created_at: i64,
    updated_at: i64,
}

impl InstanceRow {
    fn into_instance(self, targets: Vec<Target>) -> Instance {
        Instance {
            id: self.id.into(),
            account_id: self.account_id.map(Into::into),
            kind: self.kind,
            name: self.name,
            status: self.status,
            status_reason: self.status_reason,
            auto_import: self.auto_import,
            config: serde_json::from_str(&self.config).unwrap_or_else(|_| serde_json::json!({})),
            targets,
            created_at: Timestamp(self.created_at),
            updated_at: Timestamp(self.updated_at),
        }
    }
}

async fn name_taken(tx: &mut Tx, org: OrgId, name: &str, except: Option<Uuid>) -> AppResult<()> {
    let found: Option<Uuid> = tx
        .scalar(
            sql("SELECT id FROM connector_instances WHERE org_id = $1 AND name = $2")
                .bind(org.uuid())
                .bind(name),
        )
        .await?;
    match found {
        Some(id) if Some(id) != except => Err(AppError::conflict(
            "connector_instance_name_taken",
            format!(
                "a connector instance named `{name}` already exists in this organization; choose another name"
            ),
        )),
        _ => Ok(()),
    }
}

impl Store {
    /// Creates an instance and its target in the caller's transaction, and makes the creator a
    /// manager of it. The caller queues the initial sync in the same transaction and commits
    /// (`trove_sync::jobs::enqueue_sync_in` with `Trigger::Initial`), so the instance never exists
    /// without its first sync. A GitHub instance needs an active `github` account of the org; a git
    /// instance may use an active `git` credential account.
    pub async fn create_instance_in(
        &self,
        tx: &mut Tx,
        p: &Principal,
        new: &ValidInstance,
        actor: Actor,
    ) -> AppResult<(ConnectorInstanceId, ConnectorTargetId)> {
        name_taken(tx, p.org_id, &new.name, None).await?;
        let kind = if new.github.is_some() {
            "github"
        } else {
            "git"
        };
        if let Some(account) = new.account_id {
            let status: Option<String> = tx
                .scalar(
                    sql("SELECT status FROM connector_accounts WHERE id = $1 AND org_id = $2 AND kind = $3")
                        .bind(account.uuid())
                        .bind(p.org_id.uuid())
                        .bind(kind),
                )
                .await?;
            match status.as_deref() {
                None => return Err(AppError::not_found("connector account")),
                Some("active") => {}
                Some(_) => {
                    return Err(AppError::conflict(
                        "connector_account_inactive",
                        "this connector account is not active (disconnected or suspended)",
                    ));
                }
            }
        } else if new.github.is_some() {
            return Err(AppError::invalid(
                "accountId",
                "a GitHub repository is connected through a GitHub account (`cac_…`)",
            ));
        }
        let id = ConnectorInstanceId::new();
        let target = ConnectorTargetId::new();
        let now = now_ms();
        tx.execute(
            sql("INSERT INTO connector_instances (id, org_id, account_id, type, name, status, auto_import, config, created_by, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, 'active', $6, $7, $8, $9, $9)")
            .bind(id.uuid())
            .bind(p.org_id.uuid())
            .bind(new.account_id.map(|a| a.uuid()))
            .bind(kind)
            .bind(new.name.as_str())
            .bind(new.auto_import)
            .bind(serde_json::to_string(&new.config)?)
            .bind(actor.user_id.map(|u| u.uuid()))
            .bind(now),
        )
        .await?;
        tx.execute(
            sql("INSERT INTO connector_targets (id, org_id, instance_id, url, repository_id, repository_name, branch, status, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, 'active', $8, $8)")
            .bind(target.uuid())
            .bind(p.org_id.uuid())
            .bind(id.uuid())
            .bind(new.url.as_str())
            .bind(new.github.as_ref().map(|g| g.repository_id.to_string()))
            .bind(new.github.as_ref().map(|g| g.repository_name.clone()))
            .bind(new.branch.as_str())
            .bind(now),
        )
        .await?;
        self.grant_creator_in(tx, p, ResourceKind::ConnectorInstance, id.uuid(), actor)
            .await?;
        self.audit(
            tx,
            p.org_id,
            actor,
            "connector_instance.create",
            "connector_instance",
            &id.to_string(),
            serde_json::json!({"name": new.name, "type": kind, "branch": new.branch}),
        )
        .await?;
        Ok((id, target))
    }

    /// One instance of the org with its targets (callers check the role first).
    pub async fn instance(&self, org: OrgId, id: ConnectorInstanceId) -> AppResult<Instance> {
        let row: InstanceRow = self
            .db
            .fetch_one(
                sql(format!(
                    "SELECT {INSTANCE_COLUMNS} FROM connector_instances i WHERE i.id = $1 AND i.org_id = $2"
                ))
                .bind(id.uuid())
                .bind(org.uuid()),
                "connector instance",
            )
            .await?;
        let targets = self.targets_of(id).await?;
        Ok(row.into_instance(targets))
    }

    /// One page of the instances the principal may view (admins: all; others: those they hold a
    /// grant on), filtered in SQL, with their targets (one more query for the page).
    pub async fn instances(
        &self,
        p: &Principal,
        filter: &InstanceFilter,
        page: PageRequest,
    ) -> AppResult<Vec<Instance>> {
        let mut q = sql("");
        let org = q.push_arg(p.org_id.uuid());
        let mut text =
            format!("SELECT {INSTANCE_COLUMNS} FROM connector_instances i WHERE i.org_id = {org}");
        if let Some(status) = &filter.status {
            let s = q.push_arg(status.clone());
            text.push_str(&format!(" AND i.status = {s}"));
        }
        if let Some(account) = filter.account {
            let a = q.push_arg(account.uuid());
            text.push_str(&format!(" AND i.account_id = {a}"));
        }
        if let Some(needle) = filter.q.as_deref().filter(|t| !t.is_empty()) {
            let escaped = needle
                .to_lowercase()
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            let pat = q.push_arg(format!("%{escaped}%"));
            text.push_str(&format!(" AND LOWER(i.name) LIKE {pat} ESCAPE '\\'"));
        }
        if let Some(after) = page.after {
            let a = q.push_arg(after);
            text.push_str(&format!(" AND i.id > {a}"));
        }
        let visible = can_view(&mut q, p, ResourceKind::ConnectorInstance, "i.id");
        let limit = q.push_arg(page.fetch());
        text.push_str(&format!(" AND {visible} ORDER BY i.id LIMIT {limit}"));
        q.push(&text);
        let rows: Vec<InstanceRow> = self.db.fetch_all(q).await?;
        let mut targets = self.targets_of_many(rows.iter().map(|r| r.id)).await?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let mine = targets
                    .extract_if(.., |t| t.instance_id.uuid() == r.id)
                    .collect();
                r.into_instance(mine)
            })
            .collect())
    }

    async fn targets_of_many(&self, ids: impl IntoIterator<Item = Uuid>) -> AppResult<Vec<Target>> {
        let ids: Vec<Uuid> = ids.into_iter().collect();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut q = sql("");
        let list = in_list(&mut q, ids);
        q.push(&format!(
            "SELECT {TARGET_COLUMNS} FROM connector_targets WHERE instance_id IN {list} ORDER BY id"
        ));
        self.db.fetch_all(q).await
    }

    /// Changes an instance's name, auto-import flag or settings (config is merged, never replaced).
    pub async fn update_instance(
        &self,
        org: OrgId,
        id: ConnectorInstanceId,
        patch: &InstancePatch,
        actor: Actor,
    ) -> AppResult<Instance> {
        if let Some(config) = &patch.config {
            check_config(config)?;
        }
        let name = patch
            .name
            .as_deref()
            .map(|n| trove_core::names::validate_name("name", n))
            .transpose()?;
        let mut tx = self.db.begin().await?;
        let current: Option<String> = tx
            .scalar(
                sql(format!(
                    "SELECT config FROM connector_instances WHERE id = $1 AND org_id = $2{}",
                    tx.backend().for_update()
                ))
                .bind(id.uuid())
                .bind(org.uuid()),
            )
            .await?;
        let current = current.ok_or_else(|| AppError::not_found("connector instance"))?;
        let mut config: serde_json::Value =
            serde_json::from_str(&current).unwrap_or_else(|_| serde_json::json!({}));
        if let Some(patch) = &patch.config {
            merge_config(&mut config, patch);
            if serde_json::to_vec(&config)?.len() > MAX_CONFIG_BYTES {
                return Err(AppError::invalid(
                    "config",
                    format!("the merged settings exceed {MAX_CONFIG_BYTES} bytes"),
                ));
            }
        }
        if let Some(name) = &name {
            name_taken(&mut tx, org, name, Some(id.uuid())).await?;
        }
        tx.execute(
            sql("UPDATE connector_instances SET name = COALESCE($1, name), auto_import = COALESCE($2, auto_import), \
                 config = $3, updated_at = $4 WHERE id = $5")
            .bind(name.clone())
            .bind(patch.auto_import)
            .bind(serde_json::to_string(&config)?)
            .bind(now_ms())
            .bind(id.uuid()),
        )
        .await?;
        self.audit(
            &mut tx,
            org,
            actor,
            "connector_instance.update",
            "connector_instance",
            &id.to_string(),
            serde_json::json!({"name": name, "autoImport": patch.auto_import, "configKeys": patch.config.as_ref().and_then(|c| c.as_object()).map(|m| m.keys().cloned().collect::<Vec<_>>())}),
        )
        .await?;
        tx.commit().await?;
        self.instance(org, id).await
    }

    /// Disables (`active = false`) or re-enables an instance. Enabling clears an error reason.
    pub async fn set_instance_active(
        &self,
        org: OrgId,
        id: ConnectorInstanceId,
        active: bool,
        actor: Actor,
    ) -> AppResult<Instance> {
        let mut tx = self.db.begin().await?;
        let (status, action) = if active {
            ("active", "connector_instance.enable")
        } else {
            ("disabled", "connector_instance.disable")
        };
        let changed = tx
            .execute(
                sql("UPDATE connector_instances SET status = $1, status_reason = NULL, updated_at = $2 WHERE id = $3 AND org_id = $4")
                    .bind(status)
                    .bind(now_ms())
                    .bind(id.uuid())
                    .bind(org.uuid()),
            )
            .await?;
        if changed == 0 {
            return Err(AppError::not_found("connector instance"));
        }
        self.audit(
            &mut tx,
            org,
            actor,
            action,
            "connector_instance",
            &id.to_string(),
            serde_json::json!({}),
        )
        .await?;
        tx.commit().await?;
        self.instance(org, id).await
    }

    /// The instance an event belongs to (404 when the event is not in the org).
    pub async fn sync_event_instance(
        &self,
        org: OrgId,
        id: SyncEventId,
    ) -> AppResult<ConnectorInstanceId> {
        let found: Option<Uuid> = self
            .db
            .scalar(
                sql("SELECT instance_id FROM sync_events WHERE id = $1 AND org_id = $2")
                    .bind(id.uuid())
                    .bind(org.uuid()),
            )
            .await?;
        found
            .map(Into::into)
            .ok_or_else(|| AppError::not_found("sync event"))
    }

    /// One page of the org's sync events whose instance the principal may view, newest first,
    /// optionally of one instance and one status (visibility filtered in SQL).
    pub async fn visible_sync_events(
        &self,
        p: &Principal,
        instance: Option<ConnectorInstanceId>,
        status: Option<&str>,
        page: PageRequest,
    ) -> AppResult<Vec<SyncEvent>> {
        let mut q = sql("");
        let org = q.push_arg(p.org_id.uuid());
        let mut text =
            format!("SELECT {SYNC_EVENT_COLUMNS} FROM sync_events e WHERE e.org_id = {org}");
        if let Some(instance) = instance {
            let i = q.push_arg(instance.uuid());
            text.push_str(&format!(" AND e.instance_id = {i}"));
        }
        if let Some(status) = status {
            let s = q.push_arg(status.to_string());
            text.push_str(&format!(" AND e.status = {s}"));
        }
        if let Some(after) = page.after {
            let a = q.push_arg(after);
            text.push_str(&format!(" AND e.id < {a}"));
        }
        let visible = can_view(&mut q, p, ResourceKind::ConnectorInstance, "e.instance_id");
        let limit = q.push_arg(page.fetch());
        text.push_str(&format!(" AND {visible} ORDER BY e.id DESC LIMIT {limit}"));
        q.push(&text);
        let rows: Vec<SyncEventRow> = self.db.fetch_all(q).await?;
        Ok(rows.into_iter().map(SyncEventRow::into_event).collect())
    }
}

impl Store {
    /// The org of an instance, for operator commands that name only the instance (`trove sync`).
    pub async fn instance_org(&self, id: ConnectorInstanceId) -> AppResult<OrgId> {
        let org: Option<Uuid> = self
            .db
            .scalar(sql("SELECT org_id FROM connector_instances WHERE id = $1").bind(id.uuid()))
            .await?;
        org.map(Into::into)
            .ok_or_else(|| AppError::not_found("connector instance"))
    }
}
