//! Discovery results cached per (target, commit): names, paths and counts only, never bodies, so a
//! page view or an apply does not re-read the repository while its head has not moved.

use trove_core::time::now_ms;
use trove_core::{AppResult, ConnectorTargetId, OrgId};

use crate::Store;
use crate::db::sql;

impl Store {
    /// The cached discovery (JSON) of a target at `sha`, if any.
    pub async fn cached_discovery(
        &self,
        target: ConnectorTargetId,
        sha: &str,
    ) -> AppResult<Option<String>> {
        self.db
            .scalar(
                sql("SELECT result FROM connector_discoveries WHERE target_id = $1 AND sha = $2")
                    .bind(target.uuid())
                    .bind(sha.to_owned()),
            )
            .await
    }

    /// Caches a discovery (JSON) of a target at `sha`; an existing entry is kept (same commit,
    /// same result).
    pub async fn cache_discovery(
        &self,
        org: OrgId,
        target: ConnectorTargetId,
        sha: &str,
        result: &str,
    ) -> AppResult<()> {
        self.db
            .execute(
                sql("INSERT INTO connector_discoveries (target_id, sha, org_id, result, created_at) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (target_id, sha) DO NOTHING")
                .bind(target.uuid())
                .bind(sha.to_owned())
                .bind(org.uuid())
                .bind(result.to_owned())
                .bind(now_ms()),
            )
            .await?;
        Ok(())
    }
}
