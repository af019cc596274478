//! Mappings: a path selector (glob) in a target, the object type its files become, and the plugin
//! its objects join. Discovery generates mappings on apply (`origin = discovery`); admins add their
//! own (`manual`). Deleting a mapping removes only the mapping: the objects it produced stay until
//! the next reconcile decides about them (never a silent mass delete from a config edit).

use serde::Deserialize;
use trove_core::time::now_ms;
use trove_core::{
    AppError, AppResult, ConnectorInstanceId, ConnectorTargetId, MappingId, OrgId, PluginId,
    Timestamp,
};
use utoipa::ToSchema;
use uuid::Uuid;

use super::model::Mapping;
use crate::db::sql;
use crate::registry::ObjectType;
use crate::registry::plugins::nullable;
use crate::{Actor, Store};

/// A new mapping.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NewMapping {
    /// The target it reads (default: the instance's only target).
    #[serde(default)]
    pub target_id: Option<ConnectorTargetId>,
    /// A glob over repository paths, e.g. `sales/skills/**`.
    pub selector: String,
    /// The object type its files become.
    pub object_type: ObjectType,
    /// The plugin its objects join (`plg_…`).
    #[serde(default)]
    pub plugin_id: Option<PluginId>,
}

/// A change to a mapping; absent fields stay.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MappingPatch {
    /// A new selector.
    #[serde(default)]
    pub selector: Option<String>,
    /// A new object type.
    #[serde(default)]
    pub object_type: Option<ObjectType>,
    /// A new plugin, or `null` for none.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub plugin_id: Option<Option<PluginId>>,
}

/// Checks a selector: a relative glob of at most 1024 characters, no `..` segment, compilable.
pub fn validate_selector(selector: &str) -> AppResult<String> {
    let s = selector.trim().trim_start_matches("./").to_string();
    let bad = s.is_empty()
        || s.len() > 1024
        || s.starts_with('/')
        || s.split('/').any(|seg| seg == "..")
        || s.chars().any(char::is_control);
    if bad {
        return Err(AppError::invalid(
            "selector",
            "must be a relative glob of at most 1024 characters without `..`, e.g. `sales/skills/**`",
        ));
    }
    globset::Glob::new(&s)
        .map_err(|e| AppError::invalid("selector", format!("is not a valid glob: {e}")))?;
    Ok(s)
}

/// A compiled selector: does a repository path match it? (A directory selector `dir` or `dir/`
/// also matches everything under it.)
pub fn selector_matcher(selector: &str) -> AppResult<globset::GlobMatcher> {
    let s = selector.trim_end_matches('/');
    let pattern = if globset::Glob::new(s).is_ok() && !s.contains(['*', '?', '[', '{']) {
        format!("{s}/**")
    } else {
        s.to_string()
    };
    globset::GlobBuilder::new(&pattern)
        .literal_separator(true)
        .build()
        .map(|g| g.compile_matcher())
        .map_err(|e| AppError::invalid("selector", format!("is not a valid glob: {e}")))
}

const MAPPING_COLUMNS: &str =
    "id, target_id, selector, object_type, plugin_id, plugin_key, origin, created_at";

#[derive(sqlx::FromRow)]
struct MappingRow {
    id: Uuid,
    target_id: Uuid,
    selector: String,
    object_type: String,
    plugin_id: Option<Uuid>,
    plugin_key: Option<String>,
    origin: String,
    created_at: i64,
}

impl From<MappingRow> for Mapping {
    fn from(r: MappingRow) -> Self {
        Mapping {
            id: r.id.into(),
            target_id: r.target_id.into(),
            selector: r.selector,
            object_type: r.object_type,
            plugin_id: r.plugin_id.map(Into::into),
            plugin_key: r.plugin_key,
            origin: r.origin,
            created_at: Timestamp(r.created_at),
        }
    }
}

impl Store {
    /// The mappings of an instance, oldest first.
    pub async fn mappings(
        &self,
        org: OrgId,
        instance: ConnectorInstanceId,
    ) -> AppResult<Vec<Mapping>> {
        let rows: Vec<MappingRow> = self
            .db
            .fetch_all(
                sql(format!("SELECT {MAPPING_COLUMNS} FROM connector_mappings WHERE instance_id = $1 AND org_id = $2 ORDER BY id"))
                    .bind(instance.uuid())
                    .bind(org.uuid()),
            )
            .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// One mapping of an instance.
    pub async fn mapping(
        &self,
        org: OrgId,
        instance: ConnectorInstanceId,
        id: MappingId,
    ) -> AppResult<Mapping> {
        let row: MappingRow = self
            .db
            .fetch_one(
                sql(format!("SELECT {MAPPING_COLUMNS} FROM connector_mappings WHERE id = $1 AND instance_id = $2 AND org_id = $3"))
                    .bind(id.uuid())
                    .bind(instance.uuid())
                    .bind(org.uuid()),
                "connector mapping",
            )
            .await?;
        Ok(row.into())
    }

    /// Creates a manual mapping (the caller checks editor on the instance and on the plugin).
    pub async fn create_mapping(
        &self,
        org: OrgId,
        instance: ConnectorInstanceId,
        new: &NewMapping,
        actor: Actor,
    ) -> AppResult<Mapping> {
        let selector = validate_selector(&new.selector)?;
        let targets = self.targets_of(instance).await?;
        let target = match new.target_id {
            Some(t) => targets
                .iter()
                .find(|x| x.id == t)
                .map(|x| x.id)
                .ok_or_else(|| AppError::invalid("targetId", "is not a target of this instance"))?,
            None => targets
                .first()
                .map(|x| x.id)
                .ok_or_else(|| AppError::not_found("connector target"))?,
        };
        if let Some(plugin) = new.plugin_id {
            self.require_plugin_in(org, plugin).await?;
        }
        let id = MappingId::new();
        let now = now_ms();
        let mut tx = self.db.begin().await?;
        tx.execute(
            sql("INSERT INTO connector_mappings (id, org_id, instance_id, target_id, selector, object_type, plugin_id, origin, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, 'manual', $8, $8)")
            .bind(id.uuid())
            .bind(org.uuid())
            .bind(instance.uuid())
            .bind(target.uuid())
            .bind(selector.as_str())
            .bind(new.object_type.as_str())
            .bind(new.plugin_id.map(|p| p.uuid()))
            .bind(now),
        )
        .await?;
        self.audit(
            &mut tx,
            org,
            actor,
            "connector_mapping.create",
            "connector_instance",
            &instance.to_string(),
            serde_json::json!({"mappingId": id, "selector": selector, "objectType": new.object_type}),
        )
        .await?;
        tx.commit().await?;
        self.mapping(org, instance, id).await
    }

    /// Changes a mapping.
    pub async fn update_mapping(
        &self,
        org: OrgId,
        instance: ConnectorInstanceId,
        id: MappingId,
        patch: &MappingPatch,
        actor: Actor,
    ) -> AppResult<Mapping> {
        let current = self.mapping(org, instance, id).await?;
        let selector = match &patch.selector {
            Some(s) => validate_selector(s)?,
            None => current.selector,
        };
        let object_type = patch
            .object_type
            .map(|t| t.as_str().to_string())
            .unwrap_or(current.object_type);
        let plugin = match patch.plugin_id {
            Some(p) => p,
            None => current.plugin_id,
        };
        if let Some(p) = plugin {
            self.require_plugin_in(org, p).await?;
        }
        let mut tx = self.db.begin().await?;
        tx.execute(
            sql("UPDATE connector_mappings SET selector = $1, object_type = $2, plugin_id = $3, updated_at = $4 WHERE id = $5")
                .bind(selector.as_str())
                .bind(object_type.as_str())
                .bind(plugin.map(|p| p.uuid()))
                .bind(now_ms())
                .bind(id.uuid()),
        )
        .await?;
        self.audit(
            &mut tx,
            org,
            actor,
            "connector_mapping.update",
            "connector_instance",
            &instance.to_string(),
            serde_json::json!({"mappingId": id, "selector": selector, "objectType": object_type}),
        )
        .await?;
        tx.commit().await?;
        self.mapping(org, instance, id).await
    }

    /// Deletes a mapping (the objects it produced stay; see the module docs).
    pub async fn delete_mapping(
        &self,
        org: OrgId,
        instance: ConnectorInstanceId,
        id: MappingId,
        actor: Actor,
    ) -> AppResult<()> {
        let mut tx = self.db.begin().await?;
        let gone = tx
            .execute(
                sql("DELETE FROM connector_mappings WHERE id = $1 AND instance_id = $2 AND org_id = $3")
                    .bind(id.uuid())
                    .bind(instance.uuid())
                    .bind(org.uuid()),
            )
            .await?;
        if gone == 0 {
            return Err(AppError::not_found("connector mapping"));
        }
        self.audit(
            &mut tx,
            org,
            actor,
            "connector_mapping.delete",
            "connector_instance",
            &instance.to_string(),
            serde_json::json!({"mappingId": id}),
        )
        .await?;
        tx.commit().await
    }

    async fn require_plugin_in(&self, org: OrgId, plugin: PluginId) -> AppResult<()> {
        let found: Option<i32> = self
            .db
            .scalar(
                sql("SELECT 1 FROM plugins WHERE id = $1 AND org_id = $2")
                    .bind(plugin.uuid())
                    .bind(org.uuid()),
            )
            .await?;
        found
            .map(|_| ())
            .ok_or_else(|| AppError::invalid("pluginId", "no such plugin in this organization"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors() {
        assert_eq!(
            validate_selector("./sales/skills/**").unwrap(),
            "sales/skills/**"
        );
        assert!(validate_selector("../x").is_err());
        assert!(validate_selector("/abs").is_err());
        let m = selector_matcher("sales/skills").unwrap();
        assert!(m.is_match("sales/skills/a/SKILL.md"));
        assert!(!m.is_match("sales/other.md"));
        let m = selector_matcher("agents/*.md").unwrap();
        assert!(m.is_match("agents/a.md"));
        assert!(!m.is_match("agents/x/a.md"));
    }
}
