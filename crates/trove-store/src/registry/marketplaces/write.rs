//! Creating and changing marketplaces. Inputs are validated by the caller; these functions make the
//! creator a manager in the same transaction and refuse edits to a deleted marketplace.

use serde::Deserialize;
use trove_core::time::now_ms;
use trove_core::{AppResult, MarketplaceId, OrgId};
use utoipa::ToSchema;

use super::Marketplace;
use crate::db::sql;
use crate::registry::access::{Principal, ResourceKind};
use crate::registry::plugins::lifecycle::{Lifecycle, Lifecycled, ensure_not_deleted, lock_status};
use crate::registry::plugins::{Person, nullable};
use crate::{Actor, Store};

/// A new marketplace.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NewMarketplace {
    /// The marketplace name (kebab-case; need not be unique).
    pub name: String,
    /// What it offers.
    #[serde(default)]
    pub description: String,
    /// Who maintains it.
    #[serde(default)]
    pub owner: Option<Person>,
}

/// Changes to a marketplace: absent fields stay, `owner: null` clears the owner.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MarketplacePatch {
    /// A new name.
    #[serde(default)]
    pub name: Option<String>,
    /// A new description.
    #[serde(default)]
    pub description: Option<String>,
    /// A new owner, or `null`.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Person>)]
    pub owner: Option<Option<Person>>,
}

#[derive(sqlx::FromRow)]
struct Editable {
    name: String,
    description: String,
    owner: String,
}

impl Store {
    /// Creates a marketplace and makes its creator (the principal's membership) a manager of it, in
    /// one transaction. It is private until someone grants access.
    pub async fn create_marketplace(
        &self,
        p: &Principal,
        new: &NewMarketplace,
        actor: Actor,
    ) -> AppResult<Marketplace> {
        let id = MarketplaceId::new();
        let mut tx = self.db.begin().await?;
        tx.execute(
            sql("INSERT INTO marketplaces (id, org_id, name, description, owner, status, created_by, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, 'active', $6, $7, $7)")
            .bind(id.uuid())
            .bind(p.org_id.uuid())
            .bind(new.name.as_str())
            .bind(new.description.as_str())
            .bind(serde_json::to_string(&new.owner)?)
            .bind(actor.user_id.map(|u| u.uuid()))
            .bind(now_ms()),
        )
        .await?;
        self.grant_creator_in(&mut tx, p, ResourceKind::Marketplace, id.uuid(), actor)
            .await?;
        self.audit(
            &mut tx,
            p.org_id,
            actor,
            "marketplace.create",
            "marketplace",
            &id.to_string(),
            serde_json::json!({"name": new.name}),
        )
        .await?;
        tx.commit().await?;
        self.marketplace(p.org_id, id).await
    }

    /// Changes a marketplace's name, description or owner (409 `resource_deleted` when deleted).
    pub async fn update_marketplace(
        &self,
        org: OrgId,
        id: MarketplaceId,
        patch: &MarketplacePatch,
        actor: Actor,
    ) -> AppResult<Marketplace> {
        let mut tx = self.db.begin().await?;
        let status = lock_status(&mut tx, Lifecycled::Marketplace, org, id.uuid()).await?;
        ensure_not_deleted(status, "marketplace")?;
        let mut row: Editable = tx
            .fetch_one(
                sql("SELECT name, description, owner FROM marketplaces WHERE id = $1")
                    .bind(id.uuid()),
                "marketplace",
            )
            .await?;
        if let Some(name) = &patch.name {
            row.name = name.clone();
        }
        if let Some(description) = &patch.description {
            row.description = description.clone();
        }
        if let Some(owner) = &patch.owner {
            row.owner = serde_json::to_string(owner)?;
        }
        tx.execute(
            sql("UPDATE marketplaces SET name = $1, description = $2, owner = $3, updated_at = $4 WHERE id = $5")
                .bind(row.name)
                .bind(row.description)
                .bind(row.owner)
                .bind(now_ms())
                .bind(id.uuid()),
        )
        .await?;
        self.audit(
            &mut tx,
            org,
            actor,
            "marketplace.update",
            "marketplace",
            &id.to_string(),
            serde_json::json!({"name": patch.name}),
        )
        .await?;
        tx.commit().await?;
        self.marketplace(org, id).await
    }

    /// Archives, restores or deletes a marketplace (see [`Lifecycle`]).
    pub async fn set_marketplace_status(
        &self,
        org: OrgId,
        id: MarketplaceId,
        action: Lifecycle,
        actor: Actor,
    ) -> AppResult<Marketplace> {
        self.transition(Lifecycled::Marketplace, org, id.uuid(), action, actor)
            .await?;
        self.marketplace(org, id).await
    }
}
