//! Marketplaces: named, ordered sets of plugins with owner metadata — what a member adds to Claude
//! Code.
//!
//! As with plugins, identity is the row id (`source_key` for connector imports), lists filter and page
//! in SQL with their plugin counts in the same statement, and view access to an *active* marketplace
//! lends view access to its plugins (see [`crate::registry::access`]).

mod members;
mod write;

use serde::Serialize;
use trove_core::{
    AppError, AppResult, ConnectorAccountId, ConnectorInstanceId, MarketplaceId, OrgId, Timestamp,
    UserId,
};
use utoipa::ToSchema;
use uuid::Uuid;

pub use members::MarketplacePlugin;
pub use write::{MarketplacePatch, NewMarketplace};

use super::Status;
use super::access::{Principal, can_view_marketplace};
use super::plugins::{Person, Plugin, PluginFilter, push_text_filter};
use crate::db::sql;
use crate::{PageRequest, Store};

/// A marketplace as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Marketplace {
    /// The marketplace's id: its identity (names need not be unique).
    pub id: MarketplaceId,
    /// The marketplace name clients add it by.
    pub name: String,
    /// What it offers.
    pub description: String,
    /// Who maintains it.
    pub owner: Option<Person>,
    /// `active`, `archived` or `deleted`.
    pub status: Status,
    /// The connector's key for marketplaces imported from a repository; `null` for hand-made ones.
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
    /// Active plugins it lists.
    pub plugin_count: i64,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    name: String,
    description: String,
    owner: String,
    status: String,
    source_key: Option<String>,
    connector_instance_id: Option<Uuid>,
    created_by: Option<Uuid>,
    created_at: i64,
    updated_at: i64,
    deleted_at: Option<i64>,
    plugin_count: i64,
}

impl TryFrom<Row> for Marketplace {
    type Error = AppError;
    fn try_from(r: Row) -> Result<Self, AppError> {
        Ok(Marketplace {
            id: r.id.into(),
            name: r.name,
            description: r.description,
            owner: serde_json::from_str(&r.owner)?,
            status: r.status.parse().map_err(AppError::internal)?,
            source_key: r.source_key,
            connector_instance_id: r.connector_instance_id.map(Into::into),
            created_by: r.created_by.map(Into::into),
            created_at: Timestamp(r.created_at),
            updated_at: Timestamp(r.updated_at),
            deleted_at: r.deleted_at.map(Timestamp),
            plugin_count: r.plugin_count,
        })
    }
}

/// Selects marketplaces (alias `m`) with their count of active plugins, in one statement.
const SELECT: &str = "SELECT m.id, m.name, m.description, m.owner, m.status, m.source_key, \
     m.connector_instance_id, m.created_by, m.created_at, m.updated_at, m.deleted_at, \
     (SELECT COUNT(*) FROM marketplace_plugins mp JOIN plugins pp ON pp.id = mp.plugin_id \
      WHERE mp.marketplace_id = m.id AND mp.removed_at IS NULL AND pp.status = 'active') AS plugin_count \
     FROM marketplaces m";

/// Where a marketplace came from, when a connector imported it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MarketplaceSource {
    /// The connector account (GitHub App installation).
    pub connector_account_id: Option<ConnectorAccountId>,
    /// The connector instance.
    pub connector_instance_id: Option<ConnectorInstanceId>,
    /// The account's login (GitHub user or organization).
    pub account_login: Option<String>,
    /// `owner/repo`.
    pub repository_full_name: Option<String>,
    /// The branch.
    pub branch: Option<String>,
}

/// A marketplace with what it delivers.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResolvedMarketplace {
    /// The marketplace.
    pub marketplace: Marketplace,
    /// Its active plugins the caller may view, in marketplace order, with component counts.
    pub plugins: Vec<Plugin>,
    /// The repository it came from; `null` for hand-made marketplaces. Only the instance id is known
    /// until connectors exist.
    pub source: Option<MarketplaceSource>,
}

impl Store {
    /// One page of the marketplaces the principal may view, by id, with plugin counts: one query.
    pub async fn marketplaces(
        &self,
        p: &Principal,
        filter: &PluginFilter,
        page: PageRequest,
    ) -> AppResult<Vec<Marketplace>> {
        let mut q = sql("");
        let org = q.push_arg(p.org_id.uuid());
        let status = q.push_arg(filter.status.unwrap_or(Status::Active).as_str());
        let mut text = format!("{SELECT} WHERE m.org_id = {org} AND m.status = {status}");
        if let Some(t) = filter.q.as_deref().filter(|t| !t.is_empty()) {
            push_text_filter(&mut q, "m", t, &mut text);
        }
        if let Some(after) = page.after {
            let a = q.push_arg(after);
            text.push_str(&format!(" AND m.id > {a}"));
        }
        let visible = can_view_marketplace(&mut q, p, "m.id");
        let limit = q.push_arg(page.fetch());
        text.push_str(&format!(" AND {visible} ORDER BY m.id LIMIT {limit}"));
        q.push(&text);
        let rows: Vec<Row> = self.db.fetch_all(q).await?;
        rows.into_iter().map(Marketplace::try_from).collect()
    }

    /// One marketplace of the org, any status (callers check the role first).
    pub async fn marketplace(&self, org: OrgId, id: MarketplaceId) -> AppResult<Marketplace> {
        let row: Row = self
            .db
            .fetch_one(
                sql(format!("{SELECT} WHERE m.org_id = $1 AND m.id = $2"))
                    .bind(org.uuid())
                    .bind(id.uuid()),
                "marketplace",
            )
            .await?;
        Marketplace::try_from(row)
    }

    /// The marketplace, its active plugins the principal may view (in order, with component counts)
    /// and its source. Callers check viewer on the marketplace first. Two queries, whatever the size.
    pub async fn resolve_marketplace(
        &self,
        p: &Principal,
        id: MarketplaceId,
    ) -> AppResult<ResolvedMarketplace> {
        let marketplace = self.marketplace(p.org_id, id).await?;
        let plugins = self
            .marketplace_plugin_rows(
                p,
                id,
                members::MemberQuery {
                    active_only: true,
                    ..members::MemberQuery::default()
                },
            )
            .await?
            .into_iter()
            .map(|m| m.plugin)
            .collect();
        let source = marketplace
            .connector_instance_id
            .map(|instance| MarketplaceSource {
                connector_account_id: None,
                connector_instance_id: Some(instance),
                account_login: None,
                repository_full_name: None,
                branch: None,
            });
        Ok(ResolvedMarketplace {
            marketplace,
            plugins,
            source,
        })
    }
}
