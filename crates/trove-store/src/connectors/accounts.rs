//! Connector accounts: git credentials (created here) and GitHub App installations (bound by the
//! GitHub install flow through [`Store::bind_github_installation`]; an installation feeds exactly
//! one org, so binding one that another org holds is a 409). The credential is sealed in
//! `connector_accounts.credentials` (AAD bound to the row and org) and never leaves the store
//! except through [`Store::account_credentials`], for the engine that fetches with it. The API
//! shows only whether a credential is set.
//!
//! Disconnecting removes every instance of the account with the cascade of [`super::instances::removal`]
//! (same rules: what a user placed in something hand-made is kept), drops the credential and marks
//! the account `disconnected`, all in one transaction.

use serde::{Deserialize, Serialize};
use trove_core::time::now_ms;
use trove_core::{AppError, AppResult, ConnectorAccountId, ConnectorInstanceId, OrgId, Timestamp};
use utoipa::ToSchema;
use uuid::Uuid;
use zeroize::Zeroizing;

use super::instances::removal::RemovalReport;
use crate::crypto::Aad;
use crate::db::sql;
use crate::{Actor, PageRequest, Store};

/// The encrypted credential column (for key rotation).
pub const CREDENTIALS_COLUMN: (&str, &str) = ("connector_accounts", "credentials");

/// A connector account as the API shows it (never the credential).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Account {
    /// The account's id.
    pub id: ConnectorAccountId,
    /// `git` or `github`.
    #[serde(rename = "type")]
    pub kind: String,
    /// A display name.
    pub name: String,
    /// `active`, `suspended` or `disconnected`.
    pub status: String,
    /// The GitHub installation id, for GitHub accounts.
    pub remote_id: Option<String>,
    /// Whether a credential is stored (it is never shown).
    pub has_credentials: bool,
    /// Non-secret details (e.g. the credential's username).
    #[schema(value_type = Object)]
    pub metadata: serde_json::Value,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
}

/// A git credential to store.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NewAccount {
    /// `git` (GitHub accounts come from the GitHub install flow).
    #[serde(rename = "type")]
    pub kind: String,
    /// A display name.
    pub name: String,
    /// The username sent with the token (default `x-access-token`, which GitHub and most hosts accept).
    #[serde(default)]
    pub username: Option<String>,
    /// The token or password. Stored encrypted, never returned or logged.
    pub token: String,
}

impl std::fmt::Debug for NewAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewAccount")
            .field("kind", &self.kind)
            .field("name", &self.name)
            .field("username", &self.username)
            .field("token", &"<redacted>")
            .finish()
    }
}

/// A decrypted credential, for the engine only.
pub struct AccountCredentials {
    /// The username.
    pub username: String,
    /// The token or password (wiped on drop).
    pub token: Zeroizing<String>,
}

impl std::fmt::Debug for AccountCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountCredentials")
            .field("username", &self.username)
            .field("token", &"<redacted>")
            .finish()
    }
}

#[derive(Serialize, Deserialize)]
struct SealedCredentials {
    username: String,
    token: String,
}

/// What disconnecting an account did.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DisconnectReport {
    /// The account, now `disconnected`.
    pub account: Account,
    /// What removing its instances did.
    pub removal: RemovalReport,
}

/// A GitHub App installation to bind to an org, as GitHub describes it.
#[derive(Debug, Clone)]
pub struct GithubInstallation {
    /// The installation id (`remote_id`).
    pub installation_id: i64,
    /// A display name: the login of the user or organization the App is installed on.
    pub name: String,
    /// Non-secret details (account login and type, repository selection, settings URL).
    pub metadata: serde_json::Value,
    /// Whether GitHub reports the installation suspended.
    pub suspended: bool,
}

const ACCOUNT_COLUMNS: &str = "id, kind, name, status, remote_id, credentials IS NOT NULL AS has_credentials, metadata, created_at, updated_at";

#[derive(sqlx::FromRow)]
struct AccountRow {
    id: Uuid,
    kind: String,
    name: String,
    status: String,
    remote_id: Option<String>,
    has_credentials: bool,
    metadata: String,
    created_at: i64,
    updated_at: i64,
}

impl From<AccountRow> for Account {
    fn from(r: AccountRow) -> Self {
        Account {
            id: r.id.into(),
            kind: r.kind,
            name: r.name,
            status: r.status,
            remote_id: r.remote_id,
            has_credentials: r.has_credentials,
            metadata: serde_json::from_str(&r.metadata).unwrap_or_else(|_| serde_json::json!({})),
            created_at: Timestamp(r.created_at),
            updated_at: Timestamp(r.updated_at),
        }
    }
}

fn aad(id: Uuid, org: OrgId) -> Aad<'static> {
    Aad {
        table: CREDENTIALS_COLUMN.0,
        column: CREDENTIALS_COLUMN.1,
        row: id,
        org: org.uuid(),
    }
}

impl Store {
    /// Stores a git credential (the caller checks the admin capability).
    pub async fn create_account(
        &self,
        org: OrgId,
        new: &NewAccount,
        actor: Actor,
    ) -> AppResult<Account> {
        if new.kind != "git" {
            return Err(AppError::invalid(
                "type",
                "only `git` credential accounts are created here (GitHub accounts come from the GitHub install flow)",
            ));
        }
        let name = trove_core::names::validate_name("name", &new.name)?;
        let username = new
            .username
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .unwrap_or("x-access-token")
            .to_string();
        if username.len() > 255 || username.chars().any(|c| c.is_control() || c == ':') {
            return Err(AppError::invalid(
                "username",
                "must be at most 255 characters, without `:` or control characters",
            ));
        }
        if new.token.is_empty() || new.token.len() > 4096 || new.token.chars().any(char::is_control)
        {
            return Err(AppError::invalid(
                "token",
                "must be 1-4096 characters without control characters",
            ));
        }
        let id = ConnectorAccountId::new();
        let plain = Zeroizing::new(serde_json::to_vec(&SealedCredentials {
            username: username.clone(),
            token: new.token.clone(),
        })?);
        let sealed = self.keys().encrypt(&plain, aad(id.uuid(), org))?;
        let now = now_ms();
        let mut tx = self.db.begin().await?;
        tx.execute(
            sql("INSERT INTO connector_accounts (id, org_id, kind, name, status, credentials, metadata, created_by, created_at, updated_at) \
                 VALUES ($1, $2, 'git', $3, 'active', $4, $5, $6, $7, $7)")
            .bind(id.uuid())
            .bind(org.uuid())
            .bind(name.as_str())
            .bind(sealed)
            .bind(serde_json::json!({"username": username}).to_string())
            .bind(actor.user_id.map(|u| u.uuid()))
            .bind(now),
        )
        .await?;
        self.audit(
            &mut tx,
            org,
            actor,
            "connector_account.create",
            "connector_account",
            &id.to_string(),
            serde_json::json!({"name": name, "type": "git"}),
        )
        .await?;
        tx.commit().await?;
        self.account(org, id).await
    }

    /// Binds a GitHub App installation to `org` (the caller has proven the installation is the
    /// user's): creates the `github` account, or, when this org already holds it, updates its name,
    /// metadata and status. An installation bound to another org is a 409
    /// `github_installation_bound`, also when two orgs race for it (the unique index decides).
    pub async fn bind_github_installation(
        &self,
        org: OrgId,
        installation: &GithubInstallation,
        actor: Actor,
    ) -> AppResult<Account> {
        let name = trove_core::names::validate_name("name", &installation.name)?;
        let remote_id = installation.installation_id.to_string();
        let status = if installation.suspended {
            "suspended"
        } else {
            "active"
        };
        let metadata = serde_json::to_string(&installation.metadata)?;
        let taken = || {
            AppError::conflict(
                "github_installation_bound",
                "this GitHub App installation is connected to another organization; remove it there first",
            )
        };
        let mut tx = self.db.begin().await?;
        let existing: Option<(Uuid, Uuid)> = tx
            .fetch_optional(
                sql(format!(
                    "SELECT id, org_id FROM connector_accounts WHERE kind = 'github' AND remote_id = $1{}",
                    tx.backend().for_update()
                ))
                .bind(remote_id.as_str()),
            )
            .await?;
        let now = now_ms();
        let (id, action) = match existing {
            Some((_, owner)) if owner != org.uuid() => return Err(taken()),
            Some((id, _)) => {
                tx.execute(
                    sql("UPDATE connector_accounts SET name = $1, metadata = $2, status = $3, updated_at = $4 WHERE id = $5")
                        .bind(name.as_str())
                        .bind(metadata.as_str())
                        .bind(status)
                        .bind(now)
                        .bind(id),
                )
                .await?;
                (ConnectorAccountId::from(id), "connector_account.rebind")
            }
            None => {
                let id = ConnectorAccountId::new();
                tx.execute(
                    sql("INSERT INTO connector_accounts (id, org_id, kind, name, status, remote_id, metadata, created_by, created_at, updated_at) \
                         VALUES ($1, $2, 'github', $3, $4, $5, $6, $7, $8, $8)")
                    .bind(id.uuid())
                    .bind(org.uuid())
                    .bind(name.as_str())
                    .bind(status)
                    .bind(remote_id.as_str())
                    .bind(metadata.as_str())
                    .bind(actor.user_id.map(|u| u.uuid()))
                    .bind(now),
                )
                .await
                .map_err(|e| match e {
                    AppError::Conflict { .. } => taken(),
                    other => other,
                })?;
                (id, "connector_account.bind")
            }
        };
        self.audit(
            &mut tx,
            org,
            actor,
            action,
            "connector_account",
            &id.to_string(),
            serde_json::json!({"type": "github", "installationId": installation.installation_id, "name": name}),
        )
        .await?;
        tx.commit().await?;
        self.account(org, id).await
    }

    /// One account of the org.
    pub async fn account(&self, org: OrgId, id: ConnectorAccountId) -> AppResult<Account> {
        let row: AccountRow = self
            .db
            .fetch_one(
                sql(format!(
                    "SELECT {ACCOUNT_COLUMNS} FROM connector_accounts WHERE id = $1 AND org_id = $2"
                ))
                .bind(id.uuid())
                .bind(org.uuid()),
                "connector account",
            )
            .await?;
        Ok(row.into())
    }

    /// One page of the org's accounts, by id, optionally of one status.
    pub async fn accounts(
        &self,
        org: OrgId,
        status: Option<&str>,
        page: PageRequest,
    ) -> AppResult<Vec<Account>> {
        let mut q = sql("");
        let o = q.push_arg(org.uuid());
        let mut text =
            format!("SELECT {ACCOUNT_COLUMNS} FROM connector_accounts WHERE org_id = {o}");
        if let Some(status) = status {
            let s = q.push_arg(status.to_string());
            text.push_str(&format!(" AND status = {s}"));
        }
        if let Some(after) = page.after {
            let a = q.push_arg(after);
            text.push_str(&format!(" AND id > {a}"));
        }
        let l = q.push_arg(page.fetch());
        text.push_str(&format!(" ORDER BY id LIMIT {l}"));
        q.push(&text);
        let rows: Vec<AccountRow> = self.db.fetch_all(q).await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// The decrypted credential of an account, if it has one and is active (for fetching only).
    pub async fn account_credentials(
        &self,
        org: OrgId,
        id: ConnectorAccountId,
    ) -> AppResult<Option<AccountCredentials>> {
        let sealed: Option<Option<Vec<u8>>> = self
            .db
            .scalar(
                sql("SELECT credentials FROM connector_accounts WHERE id = $1 AND org_id = $2 AND status = 'active'")
                    .bind(id.uuid())
                    .bind(org.uuid()),
            )
            .await?;
        let Some(sealed) = sealed.flatten() else {
            return Ok(None);
        };
        let plain = Zeroizing::new(self.keys().decrypt(&sealed, aad(id.uuid(), org))?);
        let creds: SealedCredentials = serde_json::from_slice(&plain)?;
        Ok(Some(AccountCredentials {
            username: creds.username,
            token: Zeroizing::new(creds.token),
        }))
    }

    /// Disconnects an account: removes its instances (cascade), drops the credential, marks it
    /// `disconnected`. One transaction.
    pub async fn disconnect_account(
        &self,
        org: OrgId,
        id: ConnectorAccountId,
        actor: Actor,
    ) -> AppResult<DisconnectReport> {
        let mut tx = self.db.begin().await?;
        let exists: Option<i32> = tx
            .scalar(
                sql(format!(
                    "SELECT 1 FROM connector_accounts WHERE id = $1 AND org_id = $2{}",
                    tx.backend().for_update()
                ))
                .bind(id.uuid())
                .bind(org.uuid()),
            )
            .await?;
        if exists.is_none() {
            return Err(AppError::not_found("connector account"));
        }
        let instances: Vec<(Uuid,)> = tx
            .fetch_all(
                sql("SELECT id FROM connector_instances WHERE account_id = $1 AND org_id = $2 ORDER BY id")
                    .bind(id.uuid())
                    .bind(org.uuid()),
            )
            .await?;
        let instances: Vec<ConnectorInstanceId> =
            instances.into_iter().map(|(i,)| i.into()).collect();
        let removal = self
            .remove_instances_in(&mut tx, org, &instances, actor)
            .await?;
        tx.execute(
            sql("UPDATE connector_accounts SET status = 'disconnected', credentials = NULL, updated_at = $1 WHERE id = $2")
                .bind(now_ms())
                .bind(id.uuid()),
        )
        .await?;
        self.audit(
            &mut tx,
            org,
            actor,
            "connector_account.disconnect",
            "connector_account",
            &id.to_string(),
            serde_json::json!({"removedInstances": removal.removed_instance_ids.len()}),
        )
        .await?;
        tx.commit().await?;
        Ok(DisconnectReport {
            account: self.account(org, id).await?,
            removal,
        })
    }
}
