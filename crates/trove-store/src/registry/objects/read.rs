//! Queries over config objects and versions. Every list is one query per page: visibility is a
//! condition of the page query itself ([`can_view_object`]), never a check per row.

use std::collections::HashMap;

use trove_core::{
    AppError, AppResult, ConfigObjectId, ConfigVersionId, ConnectorInstanceId, OrgId, PluginId,
};

use super::{
    ConfigObject, OBJECT_COLUMNS, ObjectPlugin, ObjectRow, ObjectVersion, ResolvedObject,
    SUMMARY_COLUMNS, SealedVersionRow, SourceMode, SummaryRow, VERSION_COLUMNS, VersionSummary,
};
use crate::db::{Sql, in_list, sql};
use crate::registry::access::{Principal, can_view_object, can_view_plugin};
use crate::registry::{ObjectType, Status};
use crate::{PageRequest, Store};

/// Filters of the object list.
#[derive(Debug, Clone, Default)]
pub struct ObjectFilter {
    /// Only this type.
    pub object_type: Option<ObjectType>,
    /// Only this status (asking for `deleted` shows deleted objects).
    pub status: Option<Status>,
    /// Only this source mode.
    pub source_mode: Option<SourceMode>,
    /// Only members of this plugin.
    pub plugin_id: Option<PluginId>,
    /// Only objects imported by this connector instance.
    pub connector_instance_id: Option<ConnectorInstanceId>,
    /// A substring of the name, title, description or a path (case-insensitive).
    pub q: Option<String>,
    /// Include deleted objects.
    pub include_deleted: bool,
}

/// `LIKE` pattern for a substring, with `%`, `_` and the escape character escaped (`ESCAPE '!'`).
fn like_pattern(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('%');
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '!') {
            out.push('!');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// The latest version of the object `o`, as a correlated subquery.
const LATEST: &str = "(SELECT lv.id FROM config_object_versions lv WHERE lv.object_id = o.id \
     ORDER BY lv.created_at DESC, lv.id DESC LIMIT 1)";

impl Store {
    /// One page of the objects the principal may view, by id.
    pub async fn list_objects(
        &self,
        p: &Principal,
        filter: &ObjectFilter,
        page: PageRequest,
    ) -> AppResult<Vec<ConfigObject>> {
        let mut q = sql(format!(
            "SELECT {OBJECT_COLUMNS} FROM config_objects o WHERE o.org_id = $1"
        ))
        .bind(p.org_id.uuid());
        if let Some(t) = filter.object_type {
            let a = q.push_arg(t.as_str());
            q.push(&format!(" AND o.type = {a}"));
        }
        match filter.status {
            Some(s) => {
                let a = q.push_arg(s.as_str());
                q.push(&format!(" AND o.status = {a}"));
            }
            None if !filter.include_deleted => q.push(" AND o.status <> 'deleted'"),
            None => {}
        }
        if let Some(m) = filter.source_mode {
            let a = q.push_arg(m.as_str());
            q.push(&format!(" AND o.source_mode = {a}"));
        }
        if let Some(c) = filter.connector_instance_id {
            let a = q.push_arg(c.uuid());
            q.push(&format!(" AND o.connector_instance_id = {a}"));
        }
        if let Some(plugin) = filter.plugin_id {
            let a = q.push_arg(plugin.uuid());
            q.push(&format!(
                " AND EXISTS (SELECT 1 FROM plugin_objects fpo WHERE fpo.object_id = o.id \
                 AND fpo.plugin_id = {a} AND fpo.removed_at IS NULL)"
            ));
        }
        if let Some(text) = filter.q.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
            let a = q.push_arg(like_pattern(text));
            q.push(&format!(" AND LOWER(o.search_text) LIKE {a} ESCAPE '!'"));
        }
        let visible = can_view_object(&mut q, p, "o.id");
        q.push(&format!(" AND {visible}"));
        page_by_id(&mut q, "o.id", page);
        let rows: Vec<ObjectRow> = self.db.fetch_all(q).await?;
        rows.into_iter().map(ConfigObject::try_from).collect()
    }

    /// One object of the org (any status). Callers check access.
    pub async fn object(&self, org: OrgId, id: ConfigObjectId) -> AppResult<ConfigObject> {
        let row: ObjectRow = self
            .db
            .fetch_one(
                sql(format!(
                    "SELECT {OBJECT_COLUMNS} FROM config_objects o WHERE o.org_id = $1 AND o.id = $2"
                ))
                .bind(org.uuid())
                .bind(id.uuid()),
                "config object",
            )
            .await?;
        row.try_into()
    }

    /// One page of an object's versions, newest first, without content.
    pub async fn list_versions(
        &self,
        org: OrgId,
        object: ConfigObjectId,
        page: PageRequest,
    ) -> AppResult<Vec<VersionSummary>> {
        let mut q = sql(format!(
            "SELECT {SUMMARY_COLUMNS} FROM config_object_versions v WHERE v.org_id = $1 AND v.object_id = $2"
        ))
        .bind(org.uuid())
        .bind(object.uuid());
        if let Some(after) = page.after {
            let a = q.push_arg(after);
            q.push(&format!(" AND v.id < {a}"));
        }
        let a = q.push_arg(page.fetch());
        q.push(&format!(" ORDER BY v.id DESC LIMIT {a}"));
        let rows: Vec<SummaryRow> = self.db.fetch_all(q).await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// One version of an object, decrypted.
    pub async fn version(
        &self,
        org: OrgId,
        object: ConfigObjectId,
        id: ConfigVersionId,
    ) -> AppResult<ObjectVersion> {
        self.version_where(org, object, "v.id = $3", id.uuid().into())
            .await
    }

    /// One version of an object by number, decrypted.
    pub async fn version_number(
        &self,
        org: OrgId,
        object: ConfigObjectId,
        number: i64,
    ) -> AppResult<ObjectVersion> {
        self.version_where(org, object, "v.version_number = $3", number.into())
            .await
    }

    async fn version_where(
        &self,
        org: OrgId,
        object: ConfigObjectId,
        cond: &str,
        arg: sea_query::Value,
    ) -> AppResult<ObjectVersion> {
        let row: SealedVersionRow = self
            .db
            .fetch_one(
                sql(format!(
                    "SELECT {VERSION_COLUMNS} FROM config_object_versions v \
                     WHERE v.org_id = $1 AND v.object_id = $2 AND {cond}"
                ))
                .bind(org.uuid())
                .bind(object.uuid())
                .bind(arg),
                "config object version",
            )
            .await?;
        self.open_version(row)
    }

    /// The latest version of an object (newest `created_at`, then id), decrypted.
    pub async fn latest_version(
        &self,
        org: OrgId,
        object: ConfigObjectId,
    ) -> AppResult<ObjectVersion> {
        let row: SealedVersionRow = self
            .db
            .fetch_one(
                sql(format!(
                    "SELECT {VERSION_COLUMNS} FROM config_objects o JOIN config_object_versions v ON v.id = {LATEST} \
                     WHERE o.org_id = $1 AND o.id = $2"
                ))
                .bind(org.uuid())
                .bind(object.uuid()),
                "config object version",
            )
            .await?;
        self.open_version(row)
    }

    /// Latest version of each given object that is active, in one query (no N+1), decrypted. The
    /// result follows the order of `object_ids`; objects that are missing, of another org, archived
    /// or deleted are left out.
    pub async fn resolve_objects(
        &self,
        org: OrgId,
        object_ids: &[ConfigObjectId],
    ) -> AppResult<Vec<ResolvedObject>> {
        if object_ids.is_empty() {
            return Ok(Vec::new());
        }
        // Two queries whatever the number of objects: the latest versions, then the objects.
        let mut q = sql("");
        let o = q.push_arg(org.uuid());
        let ids = in_list(&mut q, object_ids.iter().map(|i| i.uuid()));
        q.push(&format!(
            "SELECT {VERSION_COLUMNS} FROM config_objects o JOIN config_object_versions v ON v.id = {LATEST} \
             WHERE o.org_id = {o} AND o.status = 'active' AND o.id IN {ids}"
        ));
        let versions: Vec<SealedVersionRow> = self.db.fetch_all(q).await?;
        let mut q = sql("");
        let o = q.push_arg(org.uuid());
        let ids = in_list(&mut q, versions.iter().map(|v| v.summary.object_id));
        q.push(&format!(
            "SELECT {OBJECT_COLUMNS} FROM config_objects o WHERE o.org_id = {o} AND o.status = 'active' AND o.id IN {ids}"
        ));
        let objects: Vec<ObjectRow> = self.db.fetch_all(q).await?;
        let mut objects: HashMap<uuid::Uuid, ObjectRow> =
            objects.into_iter().map(|r| (r.id, r)).collect();
        let order: HashMap<uuid::Uuid, usize> = object_ids
            .iter()
            .enumerate()
            .map(|(i, id)| (id.uuid(), i))
            .collect();
        let mut out = Vec::with_capacity(versions.len());
        for v in versions {
            // An object archived between the two queries is simply left out.
            if let Some(object) = objects.remove(&v.summary.object_id) {
                out.push(ResolvedObject {
                    object: object.try_into()?,
                    version: self.open_version(v)?,
                });
            }
        }
        out.sort_by_key(|r| {
            order
                .get(&r.object.id.uuid())
                .copied()
                .unwrap_or(usize::MAX)
        });
        Ok(out)
    }

    /// One page of the live plugin memberships of an object, limited to plugins the principal may
    /// view, by plugin id.
    pub async fn object_plugins(
        &self,
        p: &Principal,
        object: ConfigObjectId,
        page: PageRequest,
    ) -> AppResult<Vec<ObjectPlugin>> {
        let mut q = sql(
            "SELECT pl.id, pl.name, pl.status, po.created_at FROM plugin_objects po \
             JOIN plugins pl ON pl.id = po.plugin_id \
             WHERE po.org_id = $1 AND po.object_id = $2 AND po.removed_at IS NULL",
        )
        .bind(p.org_id.uuid())
        .bind(object.uuid());
        let visible = can_view_plugin(&mut q, p, "pl.id");
        q.push(&format!(" AND {visible}"));
        page_by_id(&mut q, "pl.id", page);
        let rows: Vec<(uuid::Uuid, String, String, i64)> = self.db.fetch_all(q).await?;
        rows.into_iter()
            .map(|(id, name, status, at)| {
                Ok(ObjectPlugin {
                    plugin_id: id.into(),
                    name,
                    status: status.parse().map_err(AppError::internal)?,
                    added_at: at.into(),
                })
            })
            .collect()
    }
}

impl Store {
    /// The live membership of an object in a plugin (after an attach).
    pub async fn object_plugin(
        &self,
        org: OrgId,
        object: ConfigObjectId,
        plugin: PluginId,
    ) -> AppResult<ObjectPlugin> {
        let (id, name, status, at): (uuid::Uuid, String, String, i64) = self
            .db
            .fetch_one(
                sql("SELECT pl.id, pl.name, pl.status, po.created_at FROM plugin_objects po \
                     JOIN plugins pl ON pl.id = po.plugin_id \
                     WHERE po.org_id = $1 AND po.object_id = $2 AND po.plugin_id = $3 AND po.removed_at IS NULL")
                .bind(org.uuid())
                .bind(object.uuid())
                .bind(plugin.uuid()),
                "plugin membership",
            )
            .await?;
        Ok(ObjectPlugin {
            plugin_id: id.into(),
            name,
            status: status.parse().map_err(AppError::internal)?,
            added_at: at.into(),
        })
    }
}

/// Appends keyset paging by an id column, ascending.
fn page_by_id(q: &mut Sql, column: &str, page: PageRequest) {
    if let Some(after) = page.after {
        let a = q.push_arg(after);
        q.push(&format!(" AND {column} > {a}"));
    }
    let a = q.push_arg(page.fetch());
    q.push(&format!(" ORDER BY {column} LIMIT {a}"));
}
