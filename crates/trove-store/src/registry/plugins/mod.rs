//! Plugins: the unit of delivery, a named set of config object identities with metadata.
//!
//! A plugin's identity is its row id, never its display name: two plugins may share a name, and
//! connectors recognise their own plugins by `source_key`. Lists filter visibility and page in SQL,
//! and carry component counts computed in the same statement ([`with_counts`]), so a page costs one
//! query whatever its size and the caller's grants.

pub mod lifecycle;
mod members;
mod validate;
mod write;

use std::collections::BTreeMap;
use std::sync::LazyLock;

use serde::{Deserialize, Deserializer, Serialize};
use trove_core::{AppError, AppResult, ConnectorInstanceId, OrgId, PluginId, Timestamp, UserId};
use utoipa::ToSchema;
use uuid::Uuid;

pub use members::{PluginObject, ResolvedPlugin};
pub use write::{NewPlugin, PluginPatch};

use super::access::{Principal, can_view_plugin};
use super::{ObjectType, Status};
use crate::db::{Sql, sql};
use crate::{PageRequest, Store};

/// A person named in metadata: a plugin's author or a marketplace's owner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Person {
    /// The name (required).
    pub name: String,
    /// An email address.
    #[serde(default)]
    pub email: Option<String>,
    /// A web page (http or https).
    #[serde(default)]
    pub url: Option<String>,
}

/// The metadata fields kept as one JSON document in `plugins.metadata`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PluginMetadata {
    /// The author.
    pub author: Option<Person>,
    /// The plugin's web page.
    pub homepage: Option<String>,
    /// The source repository URL.
    pub repository: Option<String>,
    /// An SPDX license id.
    pub license: Option<String>,
    /// Search keywords.
    pub keywords: Vec<String>,
    /// A marketplace category.
    pub category: Option<String>,
    /// Marketplace tags.
    pub tags: Vec<String>,
}

/// A plugin as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Plugin {
    /// The plugin's id: its identity (names need not be unique).
    pub id: PluginId,
    /// The plugin name clients install it by.
    pub name: String,
    /// A version string; setting it pins client updates to it.
    pub version: Option<String>,
    /// What it does.
    pub description: String,
    /// The author.
    pub author: Option<Person>,
    /// The plugin's web page.
    pub homepage: Option<String>,
    /// The source repository URL.
    pub repository: Option<String>,
    /// An SPDX license id.
    pub license: Option<String>,
    /// Search keywords.
    pub keywords: Vec<String>,
    /// A marketplace category.
    pub category: Option<String>,
    /// Marketplace tags.
    pub tags: Vec<String>,
    /// `active`, `archived` or `deleted`.
    pub status: Status,
    /// The connector's key for plugins imported from a repository; `null` for hand-made ones.
    pub source_key: Option<String>,
    /// The connector instance that imported it.
    pub connector_instance_id: Option<ConnectorInstanceId>,
    /// Who created it.
    pub created_by: Option<UserId>,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
    /// When it was deleted (status `deleted`).
    pub deleted_at: Option<Timestamp>,
    /// Active member objects by type (every type is present, zeros included).
    pub component_counts: BTreeMap<String, i64>,
    /// Active member objects in all.
    pub component_count: i64,
}

/// The plugin columns every plugin query selects (table alias `p`).
pub(crate) const PLUGIN_COLUMNS: &str = "p.id, p.name, p.version, p.description, p.metadata, p.status, \
     p.source_key, p.connector_instance_id, p.created_by, p.created_at, p.updated_at, p.deleted_at";

/// A plugin row with its counts, as [`with_counts`] selects it.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct PluginRow {
    id: Uuid,
    name: String,
    version: Option<String>,
    description: String,
    metadata: String,
    status: String,
    source_key: Option<String>,
    connector_instance_id: Option<Uuid>,
    created_by: Option<Uuid>,
    created_at: i64,
    updated_at: i64,
    deleted_at: Option<i64>,
    n_skill: i64,
    n_agent: i64,
    n_command: i64,
    n_hook: i64,
    n_mcp: i64,
    n_lsp: i64,
    n_output_style: i64,
    n_context: i64,
    n_custom: i64,
    n_total: i64,
}

impl TryFrom<PluginRow> for Plugin {
    type Error = AppError;
    fn try_from(r: PluginRow) -> Result<Self, AppError> {
        let meta: PluginMetadata = serde_json::from_str(&r.metadata)?;
        let counts = [
            r.n_skill,
            r.n_agent,
            r.n_command,
            r.n_hook,
            r.n_mcp,
            r.n_lsp,
            r.n_output_style,
            r.n_context,
            r.n_custom,
        ];
        let component_counts = ObjectType::ALL
            .iter()
            .zip(counts)
            .map(|(t, n)| (t.as_str().to_string(), n))
            .collect();
        Ok(Plugin {
            id: r.id.into(),
            name: r.name,
            version: r.version,
            description: r.description,
            author: meta.author,
            homepage: meta.homepage,
            repository: meta.repository,
            license: meta.license,
            keywords: meta.keywords,
            category: meta.category,
            tags: meta.tags,
            status: r.status.parse().map_err(AppError::internal)?,
            source_key: r.source_key,
            connector_instance_id: r.connector_instance_id.map(Into::into),
            created_by: r.created_by.map(Into::into),
            created_at: Timestamp(r.created_at),
            updated_at: Timestamp(r.updated_at),
            deleted_at: r.deleted_at.map(Timestamp),
            component_counts,
            component_count: r.n_total,
        })
    }
}

/// The count columns of [`with_counts`]: one conditional sum per type over the page's memberships.
static COUNT_SQL: LazyLock<(String, String)> = LazyLock::new(|| {
    let sums = ObjectType::ALL
        .iter()
        .map(|t| format!("SUM(CASE WHEN o.type = '{t}' THEN 1 ELSE 0 END) AS c_{t}"))
        .collect::<Vec<_>>()
        .join(", ");
    let picks = ObjectType::ALL
        .iter()
        .map(|t| format!("COALESCE(c.c_{t}, 0) AS n_{t}"))
        .collect::<Vec<_>>()
        .join(", ");
    (sums, picks)
});

/// Wraps `page`, a statement selecting [`PLUGIN_COLUMNS`] (plus any extra columns) for one page of
/// plugins, so that each row also carries the counts of its live memberships of active objects by
/// type. One statement: the counts are grouped over the page's plugins only, never per row in Rust.
pub(crate) fn with_counts(page: &str, order: &str) -> String {
    let (sums, picks) = &*COUNT_SQL;
    // `counts` is MATERIALIZED so it is computed once: inlined, a planner misled by stale statistics
    // can re-aggregate it for every page row.
    format!(
        "WITH page AS ({page}), counts AS MATERIALIZED (SELECT po.plugin_id AS cid, {sums}, COUNT(*) AS total \
         FROM plugin_objects po JOIN config_objects o ON o.id = po.object_id \
         WHERE po.plugin_id IN (SELECT id FROM page) AND po.removed_at IS NULL AND o.status = 'active' \
         GROUP BY po.plugin_id) \
         SELECT page.*, {picks}, COALESCE(c.total, 0) AS n_total FROM page LEFT JOIN counts c ON c.cid = page.id \
         ORDER BY {order}"
    )
}

/// Filters of the plugin list.
#[derive(Debug, Clone, Default)]
pub struct PluginFilter {
    /// Only plugins in this state (default `active`).
    pub status: Option<Status>,
    /// A case-insensitive substring of the name or description.
    pub q: Option<String>,
}

/// Appends `AND (name or description contains q)` for the table alias `alias`.
pub(crate) fn push_text_filter(q: &mut Sql, alias: &str, text: &str, out: &mut String) {
    let escaped = text
        .to_lowercase()
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    let pat = q.push_arg(format!("%{escaped}%"));
    out.push_str(&format!(
        " AND (LOWER({alias}.name) LIKE {pat} ESCAPE '\\' OR LOWER({alias}.description) LIKE {pat} ESCAPE '\\')"
    ));
}

/// Reads `null` as `Some(None)` and a value as `Some(Some(v))`, so a patch can tell "clear this
/// field" from "leave it" (an absent field, `None`, via `#[serde(default)]`).
pub fn nullable<'de, D, T>(de: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(de).map(Some)
}

impl Store {
    /// One page of the plugins the principal may view, by id, with component counts: one query.
    pub async fn plugins(
        &self,
        p: &Principal,
        filter: &PluginFilter,
        page: PageRequest,
    ) -> AppResult<Vec<Plugin>> {
        let mut q = sql("");
        let org = q.push_arg(p.org_id.uuid());
        let status = q.push_arg(filter.status.unwrap_or(Status::Active).as_str());
        let mut inner = format!(
            "SELECT {PLUGIN_COLUMNS} FROM plugins p WHERE p.org_id = {org} AND p.status = {status}"
        );
        if let Some(text) = filter.q.as_deref().filter(|t| !t.is_empty()) {
            push_text_filter(&mut q, "p", text, &mut inner);
        }
        if let Some(after) = page.after {
            let a = q.push_arg(after);
            inner.push_str(&format!(" AND p.id > {a}"));
        }
        let visible = can_view_plugin(&mut q, p, "p.id");
        let limit = q.push_arg(page.fetch());
        inner.push_str(&format!(" AND {visible} ORDER BY p.id LIMIT {limit}"));
        q.push(&with_counts(&inner, "page.id"));
        let rows: Vec<PluginRow> = self.db.fetch_all(q).await?;
        rows.into_iter().map(Plugin::try_from).collect()
    }

    /// One plugin of the org, any status (callers check the role first).
    pub async fn plugin(&self, org: OrgId, id: PluginId) -> AppResult<Plugin> {
        let mut q = sql("");
        let o = q.push_arg(org.uuid());
        let i = q.push_arg(id.uuid());
        q.push(&with_counts(
            &format!("SELECT {PLUGIN_COLUMNS} FROM plugins p WHERE p.org_id = {o} AND p.id = {i}"),
            "page.id",
        ));
        let row: PluginRow = self.db.fetch_one(q, "plugin").await?;
        Plugin::try_from(row)
    }
}
