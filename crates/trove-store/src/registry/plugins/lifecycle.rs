//! Archive, restore and delete: the status transitions plugins and marketplaces share.
//!
//! `active → archived`, `active | archived → deleted` (soft: the row stays, with `deleted_at`), and
//! `archived | deleted → active`. Asking for the state a resource is already in changes nothing and
//! succeeds, so a retried request is harmless; archiving a deleted resource is a 409 (restore it first).

use serde::Serialize;
use trove_core::time::now_ms;
use trove_core::{AppError, AppResult, MarketplaceId, OrgId, PluginId};
use uuid::Uuid;

use crate::db::{Tx, sql};
use crate::registry::Status;
use crate::{Actor, Store};

/// A lifecycle request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Lifecycle {
    /// Stop delivering it, keep it.
    Archive,
    /// Make it active again.
    Restore,
    /// Soft-delete it.
    Delete,
}

impl Lifecycle {
    /// The status the resource ends in.
    pub fn target(self) -> Status {
        match self {
            Self::Archive => Status::Archived,
            Self::Restore => Status::Active,
            Self::Delete => Status::Deleted,
        }
    }

    fn verb(self) -> &'static str {
        match self {
            Self::Archive => "archive",
            Self::Restore => "restore",
            Self::Delete => "delete",
        }
    }
}

/// Which table a transition applies to.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Lifecycled {
    Plugin,
    Marketplace,
}

impl Lifecycled {
    fn table(self) -> &'static str {
        match self {
            Self::Plugin => "plugins",
            Self::Marketplace => "marketplaces",
        }
    }

    fn noun(self) -> &'static str {
        match self {
            Self::Plugin => "plugin",
            Self::Marketplace => "marketplace",
        }
    }

    /// The prefixed id, as the audit log and the API show it.
    fn show(self, id: Uuid) -> String {
        match self {
            Self::Plugin => PluginId::from(id).to_string(),
            Self::Marketplace => MarketplaceId::from(id).to_string(),
        }
    }
}

/// Locks the row and returns its status (404 when the org has no such row).
pub(crate) async fn lock_status(
    tx: &mut Tx,
    kind: Lifecycled,
    org: OrgId,
    id: Uuid,
) -> AppResult<Status> {
    let lock = tx.backend().for_update();
    let status: Option<String> = tx
        .scalar(
            sql(format!(
                "SELECT status FROM {} WHERE id = $1 AND org_id = $2{lock}",
                kind.table()
            ))
            .bind(id)
            .bind(org.uuid()),
        )
        .await?;
    status
        .ok_or(AppError::NotFound {
            resource: kind.noun(),
        })?
        .parse()
        .map_err(AppError::internal)
}

/// Fails with 409 `resource_deleted` when the status is `deleted`: a deleted resource must be restored
/// before it changes.
pub(crate) fn ensure_not_deleted(status: Status, noun: &str) -> AppResult<()> {
    if status == Status::Deleted {
        return Err(AppError::conflict(
            "resource_deleted",
            format!("the {noun} is deleted; restore it first"),
        ));
    }
    Ok(())
}

impl Store {
    /// Applies a lifecycle transition in its own transaction, with an audit entry when it changed
    /// something.
    pub(crate) async fn transition(
        &self,
        kind: Lifecycled,
        org: OrgId,
        id: Uuid,
        action: Lifecycle,
        actor: Actor,
    ) -> AppResult<()> {
        let mut tx = self.db.begin().await?;
        let current = lock_status(&mut tx, kind, org, id).await?;
        let target = action.target();
        if current == target {
            return Ok(());
        }
        if action == Lifecycle::Archive && current == Status::Deleted {
            return Err(AppError::conflict(
                "invalid_transition",
                format!(
                    "a deleted {} cannot be archived; restore it first",
                    kind.noun()
                ),
            ));
        }
        let now = now_ms();
        let deleted_at = (target == Status::Deleted).then_some(now);
        tx.execute(
            sql(format!(
                "UPDATE {} SET status = $1, deleted_at = $2, updated_at = $3 WHERE id = $4",
                kind.table()
            ))
            .bind(target.as_str())
            .bind(deleted_at)
            .bind(now)
            .bind(id),
        )
        .await?;
        self.audit(
            &mut tx,
            org,
            actor,
            &format!("{}.{}", kind.noun(), action.verb()),
            kind.noun(),
            &kind.show(id),
            serde_json::json!({"from": current, "to": target}),
        )
        .await?;
        tx.commit().await
    }
}
