//! Source bindings (which repository path produced which live config object) and tombstones.
//!
//! A binding is live while `closed_at` is NULL; the partial unique index on live
//! `(target_id, plugin_key, path)` makes a second live binding of one path impossible, which is what
//! keeps two racing reconciles (or a rerun after a crash) from creating duplicate objects. When a
//! path disappears the binding is closed and a tombstone written; a path that comes back gets a new
//! object and a new binding, never the tombstoned identity.

use std::collections::HashMap;

use trove_core::time::now_ms;
use trove_core::{AppResult, ConfigObjectId, ConnectorInstanceId, ConnectorTargetId, OrgId};
use uuid::Uuid;

use crate::Store;
use crate::db::{Tx, in_list, sql};
use crate::registry::batch::InsertRows;

/// A live binding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// The binding row.
    pub id: Uuid,
    /// The object it produced.
    pub object_id: ConfigObjectId,
    /// The discovered plugin's key.
    pub plugin_key: String,
    /// The identity path (skill folder, component file, `file#server`).
    pub path: String,
    /// The content hash of the object's latest imported version.
    pub content_hash: String,
    /// The commit that content was last written from.
    pub sha: String,
    /// A digest of the git object ids that content was read from, when known: equal digests mean
    /// the component is unchanged without reading it.
    pub source_digest: Option<String>,
}

/// A new binding.
#[derive(Debug, Clone)]
pub struct NewBinding<'a> {
    /// The org.
    pub org: OrgId,
    /// The instance.
    pub instance: ConnectorInstanceId,
    /// The target.
    pub target: ConnectorTargetId,
    /// The object.
    pub object: ConfigObjectId,
    /// The discovered plugin's key.
    pub plugin_key: &'a str,
    /// The identity path.
    pub path: &'a str,
    /// The content hash.
    pub content_hash: &'a str,
    /// The commit.
    pub sha: &'a str,
    /// The digest of the object ids read, when the source gave them.
    pub source_digest: Option<&'a str>,
}

type BindingRow = (Uuid, Uuid, String, String, String, String, Option<String>);

fn binding(r: BindingRow) -> Binding {
    Binding {
        id: r.0,
        object_id: r.1.into(),
        plugin_key: r.2,
        path: r.3,
        content_hash: r.4,
        sha: r.5,
        source_digest: r.6,
    }
}

impl Store {
    /// Every live binding of a target.
    pub async fn live_bindings(&self, target: ConnectorTargetId) -> AppResult<Vec<Binding>> {
        let rows: Vec<BindingRow> = self
            .db
            .fetch_all(
                sql("SELECT id, object_id, plugin_key, path, content_hash, sha, source_digest FROM source_bindings \
                     WHERE target_id = $1 AND closed_at IS NULL ORDER BY plugin_key, path")
                .bind(target.uuid()),
            )
            .await?;
        Ok(rows.into_iter().map(binding).collect())
    }

    /// How many live bindings each plugin key of a target has.
    pub async fn live_binding_counts(
        &self,
        target: ConnectorTargetId,
    ) -> AppResult<HashMap<String, i64>> {
        let rows: Vec<(String, i64)> = self
            .db
            .fetch_all(
                sql(
                    "SELECT plugin_key, CAST(COUNT(*) AS BIGINT) FROM source_bindings \
                     WHERE target_id = $1 AND closed_at IS NULL GROUP BY plugin_key",
                )
                .bind(target.uuid()),
            )
            .await?;
        Ok(rows.into_iter().collect())
    }

    /// The live bindings of some plugin keys of a target.
    pub async fn live_bindings_of(
        &self,
        target: ConnectorTargetId,
        plugin_keys: &[String],
    ) -> AppResult<Vec<Binding>> {
        let mut out = Vec::new();
        for chunk in plugin_keys.chunks(10_000) {
            let mut q = sql("");
            let t = q.push_arg(target.uuid());
            let keys = in_list(&mut q, chunk.iter().cloned());
            q.push(&format!(
                "SELECT id, object_id, plugin_key, path, content_hash, sha, source_digest FROM source_bindings \
                 WHERE target_id = {t} AND plugin_key IN {keys} AND closed_at IS NULL ORDER BY plugin_key, path"
            ));
            let rows: Vec<BindingRow> = self.db.fetch_all(q).await?;
            out.extend(rows.into_iter().map(binding));
        }
        Ok(out)
    }

    /// The live bindings of one plugin of a target, read in the plugin's transaction.
    pub async fn live_bindings_in(
        &self,
        tx: &mut Tx,
        target: ConnectorTargetId,
        plugin_key: &str,
    ) -> AppResult<Vec<Binding>> {
        let rows: Vec<BindingRow> = tx
            .fetch_all(
                sql("SELECT id, object_id, plugin_key, path, content_hash, sha, source_digest FROM source_bindings \
                     WHERE target_id = $1 AND plugin_key = $2 AND closed_at IS NULL ORDER BY path")
                .bind(target.uuid())
                .bind(plugin_key.to_owned()),
            )
            .await?;
        Ok(rows.into_iter().map(binding).collect())
    }

    /// Records which paths produced which objects, in multi-row statements. Fails with a conflict
    /// when a path already has a live binding (another reconcile got there first).
    pub async fn insert_bindings_in(&self, tx: &mut Tx, new: &[NewBinding<'_>]) -> AppResult<()> {
        let now = now_ms();
        let mut rows = InsertRows::new(
            "source_bindings",
            &[
                "id",
                "org_id",
                "instance_id",
                "target_id",
                "object_id",
                "plugin_key",
                "path",
                "content_hash",
                "sha",
                "source_digest",
                "created_at",
                "updated_at",
            ],
            "",
        );
        for b in new {
            rows.push(vec![
                Uuid::now_v7().into(),
                b.org.uuid().into(),
                b.instance.uuid().into(),
                b.target.uuid().into(),
                b.object.uuid().into(),
                b.plugin_key.to_owned().into(),
                b.path.to_owned().into(),
                b.content_hash.to_owned().into(),
                b.sha.to_owned().into(),
                b.source_digest.map(str::to_owned).into(),
                now.into(),
                now.into(),
            ]);
        }
        rows.execute(tx).await?;
        Ok(())
    }

    /// Records the new content of a bound path (and the digest of the object ids it was read from).
    pub async fn update_binding_in(
        &self,
        tx: &mut Tx,
        binding: Uuid,
        content_hash: &str,
        sha: &str,
        source_digest: Option<&str>,
    ) -> AppResult<()> {
        tx.execute(
            sql("UPDATE source_bindings SET content_hash = $1, sha = $2, source_digest = $3, updated_at = $4 \
                 WHERE id = $5 AND closed_at IS NULL")
                .bind(content_hash.to_owned())
                .bind(sha.to_owned())
                .bind(source_digest.map(str::to_owned))
                .bind(now_ms())
                .bind(binding),
        )
        .await?;
        Ok(())
    }

    /// Closes a binding whose path is gone at `sha` and writes its tombstone. Returns `false` when
    /// the binding was already closed (a concurrent run did it).
    pub async fn close_binding_in(
        &self,
        tx: &mut Tx,
        org: OrgId,
        target: ConnectorTargetId,
        b: &Binding,
        sha: &str,
    ) -> AppResult<bool> {
        let now = now_ms();
        let closed = tx
            .execute(
                sql("UPDATE source_bindings SET closed_at = $1, updated_at = $1 WHERE id = $2 AND closed_at IS NULL")
                    .bind(now)
                    .bind(b.id),
            )
            .await?;
        if closed == 0 {
            return Ok(false);
        }
        tx.execute(
            sql("INSERT INTO source_tombstones (id, org_id, target_id, object_id, plugin_key, path, sha, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
            .bind(Uuid::now_v7())
            .bind(org.uuid())
            .bind(target.uuid())
            .bind(b.object_id.uuid())
            .bind(b.plugin_key.clone())
            .bind(b.path.clone())
            .bind(sha.to_owned())
            .bind(now),
        )
        .await?;
        Ok(true)
    }
}
