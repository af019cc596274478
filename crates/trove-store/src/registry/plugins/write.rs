//! Creating and changing plugins. Inputs are validated by the caller (the API checks names, lengths
//! and URLs); these functions keep the invariants the database cannot: the creator's manager grant in
//! the same transaction, and no edits to a deleted plugin.

use serde::Deserialize;
use trove_core::time::now_ms;
use trove_core::{AppResult, OrgId, PluginId};
use utoipa::ToSchema;

use super::lifecycle::{Lifecycle, Lifecycled, ensure_not_deleted, lock_status};
use super::{Person, Plugin, PluginMetadata, nullable};
use crate::db::sql;
use crate::registry::access::{Principal, ResourceKind};
use crate::{Actor, Store};

/// A new plugin.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NewPlugin {
    /// The plugin name (kebab-case; need not be unique).
    pub name: String,
    /// A version string.
    #[serde(default)]
    pub version: Option<String>,
    /// What it does.
    #[serde(default)]
    pub description: String,
    /// The author.
    #[serde(default)]
    pub author: Option<Person>,
    /// The plugin's web page (http or https).
    #[serde(default)]
    pub homepage: Option<String>,
    /// The source repository URL (http or https).
    #[serde(default)]
    pub repository: Option<String>,
    /// An SPDX license id.
    #[serde(default)]
    pub license: Option<String>,
    /// Search keywords.
    #[serde(default)]
    pub keywords: Vec<String>,
    /// A marketplace category.
    #[serde(default)]
    pub category: Option<String>,
    /// Marketplace tags.
    #[serde(default)]
    pub tags: Vec<String>,
}

/// Changes to a plugin: absent fields stay, `null` clears a nullable field, lists are replaced.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PluginPatch {
    /// A new name.
    #[serde(default)]
    pub name: Option<String>,
    /// A new version, or `null` to unpin.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub version: Option<Option<String>>,
    /// A new description.
    #[serde(default)]
    pub description: Option<String>,
    /// A new author, or `null`.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Person>)]
    pub author: Option<Option<Person>>,
    /// A new web page, or `null`.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub homepage: Option<Option<String>>,
    /// A new repository URL, or `null`.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub repository: Option<Option<String>>,
    /// A new license, or `null`.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub license: Option<Option<String>>,
    /// New keywords (replace the old ones).
    #[serde(default)]
    pub keywords: Option<Vec<String>>,
    /// A new category, or `null`.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub category: Option<Option<String>>,
    /// New tags (replace the old ones).
    #[serde(default)]
    pub tags: Option<Vec<String>>,
}

impl PluginPatch {
    /// Applies the patch to the stored fields.
    fn apply(
        &self,
        name: &mut String,
        version: &mut Option<String>,
        description: &mut String,
        meta: &mut PluginMetadata,
    ) {
        fn set<T: Clone>(slot: &mut T, value: &Option<T>) {
            if let Some(v) = value {
                *slot = v.clone();
            }
        }
        set(name, &self.name);
        set(version, &self.version);
        set(description, &self.description);
        set(&mut meta.author, &self.author);
        set(&mut meta.homepage, &self.homepage);
        set(&mut meta.repository, &self.repository);
        set(&mut meta.license, &self.license);
        set(&mut meta.keywords, &self.keywords);
        set(&mut meta.category, &self.category);
        set(&mut meta.tags, &self.tags);
    }
}

#[derive(sqlx::FromRow)]
struct Editable {
    name: String,
    version: Option<String>,
    description: String,
    metadata: String,
}

impl Store {
    /// Creates a plugin and makes its creator (the principal's membership) a manager of it, in one
    /// transaction.
    pub async fn create_plugin(
        &self,
        p: &Principal,
        new: &NewPlugin,
        actor: Actor,
    ) -> AppResult<Plugin> {
        let id = PluginId::new();
        let meta = PluginMetadata {
            author: new.author.clone(),
            homepage: new.homepage.clone(),
            repository: new.repository.clone(),
            license: new.license.clone(),
            keywords: new.keywords.clone(),
            category: new.category.clone(),
            tags: new.tags.clone(),
        };
        let now = now_ms();
        let mut tx = self.db.begin().await?;
        tx.execute(
            sql("INSERT INTO plugins (id, org_id, name, version, description, metadata, status, created_by, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, 'active', $7, $8, $8)")
            .bind(id.uuid())
            .bind(p.org_id.uuid())
            .bind(new.name.as_str())
            .bind(new.version.clone())
            .bind(new.description.as_str())
            .bind(serde_json::to_string(&meta)?)
            .bind(actor.user_id.map(|u| u.uuid()))
            .bind(now),
        )
        .await?;
        self.grant_creator_in(&mut tx, p, ResourceKind::Plugin, id.uuid(), actor)
            .await?;
        self.audit(
            &mut tx,
            p.org_id,
            actor,
            "plugin.create",
            "plugin",
            &id.to_string(),
            serde_json::json!({"name": new.name}),
        )
        .await?;
        tx.commit().await?;
        self.plugin(p.org_id, id).await
    }

    /// Changes a plugin's name and metadata (409 `resource_deleted` when it is deleted).
    pub async fn update_plugin(
        &self,
        org: OrgId,
        id: PluginId,
        patch: &PluginPatch,
        actor: Actor,
    ) -> AppResult<Plugin> {
        let mut tx = self.db.begin().await?;
        let status = lock_status(&mut tx, Lifecycled::Plugin, org, id.uuid()).await?;
        ensure_not_deleted(status, "plugin")?;
        let mut row: Editable = tx
            .fetch_one(
                sql("SELECT name, version, description, metadata FROM plugins WHERE id = $1")
                    .bind(id.uuid()),
                "plugin",
            )
            .await?;
        let mut meta: PluginMetadata = serde_json::from_str(&row.metadata)?;
        patch.apply(
            &mut row.name,
            &mut row.version,
            &mut row.description,
            &mut meta,
        );
        tx.execute(
            sql("UPDATE plugins SET name = $1, version = $2, description = $3, metadata = $4, updated_at = $5 \
                 WHERE id = $6")
            .bind(row.name)
            .bind(row.version)
            .bind(row.description)
            .bind(serde_json::to_string(&meta)?)
            .bind(now_ms())
            .bind(id.uuid()),
        )
        .await?;
        self.audit(
            &mut tx,
            org,
            actor,
            "plugin.update",
            "plugin",
            &id.to_string(),
            serde_json::json!({"name": patch.name}),
        )
        .await?;
        tx.commit().await?;
        self.plugin(org, id).await
    }

    /// Archives, restores or deletes a plugin (see [`Lifecycle`]).
    pub async fn set_plugin_status(
        &self,
        org: OrgId,
        id: PluginId,
        action: Lifecycle,
        actor: Actor,
    ) -> AppResult<Plugin> {
        self.transition(Lifecycled::Plugin, org, id.uuid(), action, actor)
            .await?;
        self.plugin(org, id).await
    }
}
