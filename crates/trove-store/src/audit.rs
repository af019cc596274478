//! The audit log: one row per mutation, written in the same transaction as the change it records.
//!
//! Details can name people (emails) and so are encrypted like other payloads; the action, resource and
//! actor columns stay in clear so the log can be filtered.

use trove_core::time::now_ms;
use trove_core::{AppResult, AuditId, OrgId, Timestamp};
use uuid::Uuid;

use crate::crypto::Aad;
use crate::db::{Tx, sql};
use crate::model::AuditEntry;
use crate::{Actor, PageRequest, Store};

/// The encrypted column of the audit log.
pub const DETAIL_COLUMN: (&str, &str) = ("audit_log", "detail");

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    actor_user_id: Option<Uuid>,
    actor_token_id: Option<Uuid>,
    action: String,
    resource_type: String,
    resource_id: String,
    detail: Option<Vec<u8>>,
    created_at: i64,
}

impl Store {
    /// Writes an audit entry in the transaction of the change it records, its detail encrypted.
    #[allow(clippy::too_many_arguments)]
    pub async fn audit(
        &self,
        tx: &mut Tx,
        org: OrgId,
        actor: Actor,
        action: &str,
        resource_type: &str,
        resource_id: &str,
        detail: serde_json::Value,
    ) -> AppResult<()> {
        let id = AuditId::new();
        let sealed = self.keys().encrypt(
            &serde_json::to_vec(&detail)?,
            Aad {
                table: DETAIL_COLUMN.0,
                column: DETAIL_COLUMN.1,
                row: id.uuid(),
                org: org.uuid(),
            },
        )?;
        tx.execute(
            sql("INSERT INTO audit_log (id, org_id, actor_user_id, actor_token_id, action, resource_type, resource_id, detail, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)")
            .bind(id.uuid())
            .bind(org.uuid())
            .bind(actor.user_id.map(|u| u.uuid()))
            .bind(actor.token_id.map(|t| t.uuid()))
            .bind(action)
            .bind(resource_type)
            .bind(resource_id)
            .bind(sealed)
            .bind(now_ms()),
        )
        .await?;
        Ok(())
    }

    /// The org's audit log, newest first.
    pub async fn audit_log(&self, org: OrgId, page: PageRequest) -> AppResult<Vec<AuditEntry>> {
        let mut q = sql(
            "SELECT id, actor_user_id, actor_token_id, action, resource_type, resource_id, detail, created_at \
             FROM audit_log WHERE org_id = $1",
        )
        .bind(org.uuid());
        if let Some(after) = page.after {
            let p = q.push_arg(after);
            q.push(&format!(" AND id < {p}"));
        }
        let p = q.push_arg(page.fetch());
        q.push(&format!(" ORDER BY id DESC LIMIT {p}"));
        let rows: Vec<Row> = self.db.fetch_all(q).await?;
        let keys = self.keys();
        rows.into_iter()
            .map(|r| {
                let detail = match &r.detail {
                    Some(sealed) => {
                        let plain = keys.decrypt(
                            sealed,
                            Aad {
                                table: DETAIL_COLUMN.0,
                                column: DETAIL_COLUMN.1,
                                row: r.id,
                                org: org.uuid(),
                            },
                        )?;
                        serde_json::from_slice(&plain)?
                    }
                    None => serde_json::Value::Null,
                };
                Ok(AuditEntry {
                    id: r.id.into(),
                    actor_user_id: r.actor_user_id.map(Into::into),
                    actor_token_id: r.actor_token_id.map(Into::into),
                    action: r.action,
                    resource_type: r.resource_type,
                    resource_id: r.resource_id,
                    detail,
                    created_at: Timestamp(r.created_at),
                })
            })
            .collect()
    }
}
