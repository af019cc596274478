//! Connector instances: create (instance + target + creator grant in the caller's transaction, so the
//! initial sync event joins it), read, SQL-filtered lists, patch with a config *merge*, status, and
//! removal (in [`removal`]).
//!
//! A duplicate name is a 409 `connector_instance_name_taken` (checked in the transaction, and the
//! unique index turns a race into a 409 too), never a 500. Config is merged as a JSON merge patch
//! (RFC 7386): keys absent from the patch are kept; only an explicit `null` removes a key.

#[path = "instances/removal.rs"]
pub mod removal;

use serde::Deserialize;
use trove_core::time::now_ms;
use trove_core::{
    AppError, AppResult, ConnectorAccountId, ConnectorInstanceId, ConnectorTargetId, OrgId,
    SyncEventId, Timestamp,
};
use utoipa::ToSchema;
use uuid::Uuid;

use super::model::{Instance, SYNC_EVENT_COLUMNS, SyncEvent, SyncEventRow, TARGET_COLUMNS, Target};
use crate::db::{Tx, in_list, sql};
use crate::registry::access::{Principal, ResourceKind, can_view};
use crate::{Actor, PageRequest, Store};

/// The largest accepted `config` document, in bytes of JSON.
pub const MAX_CONFIG_BYTES: usize = 16 * 1024;

/// A request to connect a repository branch.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NewInstance {
    /// `git` (GitHub instances are created by the GitHub setup flow).
    #[serde(rename = "type")]
    pub kind: String,
    /// The repository URL (`https://…`, `http://…`, `ssh://…`, `file://…`); never with a password in
    /// it: put credentials in a connector account.
    pub url: String,
    /// The branch to follow (default: the remote's default branch, resolved by the server).
    #[serde(default)]
    pub branch: Option<String>,
    /// A name unique in the org (default: the repository's name).
    #[serde(default)]
    pub name: Option<String>,
    /// A git credential account (`cac_…`) for private repositories.
    #[serde(default)]
    pub account_id: Option<ConnectorAccountId>,
    /// Import plugins that appear later (default `false`).
    #[serde(default)]
    pub auto_import: Option<bool>,
    /// Free-form settings (a JSON object).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub config: Option<serde_json::Value>,
}

/// A checked [`NewInstance`] with its branch resolved.
#[derive(Debug, Clone)]
pub struct ValidInstance {
    /// The URL.
    pub url: String,
    /// The branch.
    pub branch: String,
    /// The name.
    pub name: String,
    /// The credential account.
    pub account_id: Option<ConnectorAccountId>,
    /// Auto-import.
    pub auto_import: bool,
    /// Settings.
    pub config: serde_json::Map<String, serde_json::Value>,
}

impl NewInstance {
    /// Checks the type, URL and config; returns the URL (trimmed). The branch and name are resolved by
    /// [`NewInstance::resolve`] once the caller knows the remote's default branch.
    pub fn check(&self) -> AppResult<String> {
        if self.kind != "git" {
            return Err(AppError::invalid(
                "type",
                "only `git` instances are created here (GitHub repositories are connected through the GitHub setup)",
            ));
        }
        let url = validate_url(&self.url)?;
        if let Some(branch) = &self.branch {
            validate_branch(branch)?;
        }
        if let Some(config) = &self.config {
            check_config(config)?;
        }
        Ok(url)
    }

    /// The checked instance, with `branch` the given branch or the remote's default.
    pub fn resolve(&self, url: String, default_branch: Option<String>) -> AppResult<ValidInstance> {
        let branch = match (&self.branch, default_branch) {
            (Some(b), _) => b.clone(),
            (None, Some(b)) => b,
            (None, None) => {
                return Err(AppError::invalid(
                    "branch",
                    "the repository has no default branch; name one",
                ));
            }
        };
        validate_branch(&branch)?;
        let name = match &self.name {
            Some(n) => trove_core::names::validate_name("name", n)?,
            None => default_name(&url, &branch),
        };
        let config = match &self.config {
            Some(serde_json::Value::Object(map)) => map.clone(),
            _ => serde_json::Map::new(),
        };
        Ok(ValidInstance {
            url,
            branch,
            name,
            account_id: self.account_id,
            auto_import: self.auto_import.unwrap_or(false),
            config,
        })
    }
}

/// `repo` from `…/repo.git`, or `repo@branch` when the branch is not a usual default.
fn default_name(url: &str, branch: &str) -> String {
    let last = url
        .trim_end_matches('/')
        .rsplit(['/', ':'])
        .next()
        .unwrap_or("repository");
    let repo = last.strip_suffix(".git").unwrap_or(last);
    let repo = if repo.is_empty() { "repository" } else { repo };
    if matches!(branch, "main" | "master") {
        repo.to_string()
    } else {
        format!("{repo}@{branch}")
    }
}

/// Checks a repository URL: a known scheme, no whitespace or control characters, no password.
pub fn validate_url(url: &str) -> AppResult<String> {
    let url = url.trim();
    if url.is_empty() || url.len() > 2048 || url.chars().any(|c| c.is_control() || c == ' ') {
        return Err(AppError::invalid(
            "url",
            "must be a repository URL of at most 2048 characters without spaces",
        ));
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(AppError::invalid(
            "url",
            "must start with https://, http://, ssh:// or file://",
        ));
    };
    if !matches!(scheme, "https" | "http" | "ssh" | "file") {
        return Err(AppError::invalid(
            "url",
            "must start with https://, http://, ssh:// or file://",
        ));
    }
    let authority = rest.split('/').next().unwrap_or_default();
    if let Some((userinfo, _)) = authority.rsplit_once('@')
        && userinfo.contains(':')
    {
        return Err(AppError::invalid(
            "url",
            "must not contain a password; create a connector account with the credential and pass its `accountId`",
        ));
    }
    Ok(url.to_string())
}

/// Checks a branch name against git's ref rules (the parts that matter for a branch name).
pub fn validate_branch(branch: &str) -> AppResult<()> {
    let bad = branch.is_empty()
        || branch.len() > 255
        || branch.starts_with(['-', '/'])
        || branch.ends_with(['/', '.'])
        || branch.ends_with(".lock")
        || branch.contains("..")
        || branch.contains("//")
        || branch.contains("@{")
        || branch
            .chars()
            .any(|c| c.is_control() || " ~^:?*[\\".contains(c));
    if bad {
        return Err(AppError::invalid(
            "branch",
            "is not a valid branch name (e.g. `main` or `release/1.x`)",
        ));
    }
    Ok(())
}

/// Checks that a config value is a JSON object of bounded size.
fn check_config(config: &serde_json::Value) -> AppResult<()> {
    if !config.is_object() {
        return Err(AppError::invalid("config", "must be a JSON object"));
    }
    if serde_json::to_vec(config)?.len() > MAX_CONFIG_BYTES {
        return Err(AppError::invalid(
            "config",
            format!("must be at most {MAX_CONFIG_BYTES} bytes of JSON"),
        ));
    }
    Ok(())
}

/// Applies a JSON merge patch (RFC 7386): objects merge key by key, `null` removes a key, anything
/// else replaces. Fields the patch does not mention are never dropped.
pub fn merge_config(base: &mut serde_json::Value, patch: &serde_json::Value) {
    match (base, patch) {
        (serde_json::Value::Object(base), serde_json::Value::Object(patch)) => {
            for (key, value) in patch {
                if value.is_null() {
                    base.remove(key);
                } else {
                    merge_config(
                        base.entry(key.clone()).or_insert(serde_json::Value::Null),
                        value,
                    );
                }
            }
        }
        (base, patch) => *base = patch.clone(),
    }
}

/// A change to an instance; absent fields are left alone.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct InstancePatch {
    /// A new name (unique in the org).
    #[serde(default)]
    pub name: Option<String>,
    /// Import plugins that appear later.
    #[serde(default)]
    pub auto_import: Option<bool>,
    /// Merged into the stored settings (JSON merge patch: `null` removes a key, other keys stay).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub config: Option<serde_json::Value>,
}

/// Filters of the instance list.
#[derive(Debug, Clone, Default)]
pub struct InstanceFilter {
    /// Only instances in this state.
    pub status: Option<String>,
    /// A case-insensitive substring of the name.
    pub q: Option<String>,
    /// Only instances using this account.
    pub account: Option<ConnectorAccountId>,
}

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
    /// manager of it. The caller queues the initial sync in the same transaction and commits.
    pub async fn create_instance_in(
        &self,
        tx: &mut Tx,
        p: &Principal,
        new: &ValidInstance,
        actor: Actor,
    ) -> AppResult<(ConnectorInstanceId, ConnectorTargetId)> {
        name_taken(tx, p.org_id, &new.name, None).await?;
        if let Some(account) = new.account_id {
            let status: Option<String> = tx
                .scalar(
                    sql("SELECT status FROM connector_accounts WHERE id = $1 AND org_id = $2 AND kind = 'git'")
                        .bind(account.uuid())
                        .bind(p.org_id.uuid()),
                )
                .await?;
            match status.as_deref() {
                None => return Err(AppError::not_found("connector account")),
                Some("active") => {}
                Some(_) => {
                    return Err(AppError::conflict(
                        "connector_account_inactive",
                        "this connector account is disconnected; create a new one",
                    ));
                }
            }
        }
        let id = ConnectorInstanceId::new();
        let target = ConnectorTargetId::new();
        let now = now_ms();
        tx.execute(
            sql("INSERT INTO connector_instances (id, org_id, account_id, type, name, status, auto_import, config, created_by, created_at, updated_at) \
                 VALUES ($1, $2, $3, 'git', $4, 'active', $5, $6, $7, $8, $8)")
            .bind(id.uuid())
            .bind(p.org_id.uuid())
            .bind(new.account_id.map(|a| a.uuid()))
            .bind(new.name.as_str())
            .bind(new.auto_import)
            .bind(serde_json::to_string(&new.config)?)
            .bind(actor.user_id.map(|u| u.uuid()))
            .bind(now),
        )
        .await?;
        tx.execute(
            sql("INSERT INTO connector_targets (id, org_id, instance_id, url, branch, status, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, 'active', $6, $6)")
            .bind(target.uuid())
            .bind(p.org_id.uuid())
            .bind(id.uuid())
            .bind(new.url.as_str())
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
            serde_json::json!({"name": new.name, "branch": new.branch}),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_keeps_fields_the_patch_does_not_name() {
        let mut base = serde_json::json!({"a": 1, "nested": {"x": 1, "y": 2}, "gone": true});
        merge_config(
            &mut base,
            &serde_json::json!({"b": 2, "nested": {"y": 3}, "gone": null}),
        );
        assert_eq!(
            base,
            serde_json::json!({"a": 1, "b": 2, "nested": {"x": 1, "y": 3}})
        );
    }

    #[test]
    fn urls_and_branches() {
        assert!(validate_url("https://github.com/acme/plugins.git").is_ok());
        assert!(validate_url("file:///tmp/repo").is_ok());
        assert!(validate_url("https://user:secret@host/repo").is_err());
        assert!(validate_url("ftp://host/repo").is_err());
        assert!(validate_branch("release/1.x").is_ok());
        for bad in ["", "-x", "a..b", "a b", "x.lock", "a~1"] {
            assert!(validate_branch(bad).is_err(), "{bad}");
        }
        assert_eq!(default_name("https://h/acme/tools.git", "main"), "tools");
        assert_eq!(default_name("file:///tmp/r/", "dev"), "r@dev");
    }
}
