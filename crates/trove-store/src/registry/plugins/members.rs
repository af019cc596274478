//! A plugin's config objects: listing its memberships (with each object's projection) and adding
//! objects with the checks the membership table cannot make.
//!
//! The list shows only the objects the caller may view. For an active plugin its viewers see every
//! member (view access inherits downward); for an archived one inheritance stops, so a member who saw
//! the objects only through the plugin no longer does — the same rule `GET /config-objects/{id}`
//! applies, so listings never reveal what direct reads refuse.

use serde::Serialize;
use trove_core::{AppError, AppResult, ConfigObjectId, OrgId, PluginId, Timestamp};
use utoipa::ToSchema;
use uuid::Uuid;

use super::Plugin;
use super::lifecycle::{Lifecycled, ensure_not_deleted, lock_status};
use crate::db::sql;
use crate::registry::access::{Principal, can_view_object};
use crate::registry::objects::ResolvedObject;
use crate::registry::{ObjectType, Status};
use crate::{Actor, PageRequest, Store};

/// One object's membership of a plugin.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PluginObject {
    /// The membership row (the list's cursor).
    pub membership_id: Uuid,
    /// The config object.
    pub config_object_id: ConfigObjectId,
    /// Its type.
    #[serde(rename = "type")]
    pub object_type: ObjectType,
    /// Its name.
    pub name: String,
    /// Its title (from the latest version).
    pub title: String,
    /// Its description (from the latest version).
    pub description: String,
    /// The object's status; only active objects are resolved and counted.
    pub status: Status,
    /// When it joined the plugin.
    pub added_at: Timestamp,
    /// When it left the plugin (`null` while it is a member).
    pub removed_at: Option<Timestamp>,
}

/// A plugin with what it delivers.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResolvedPlugin {
    /// The plugin.
    pub plugin: Plugin,
    /// The latest version of each active member object the caller may view, in the order they were
    /// added.
    pub objects: Vec<ResolvedObject>,
}

#[derive(sqlx::FromRow)]
struct Row {
    membership_id: Uuid,
    object_id: Uuid,
    object_type: String,
    name: String,
    title: String,
    description: String,
    status: String,
    added_at: i64,
    removed_at: Option<i64>,
}

impl TryFrom<Row> for PluginObject {
    type Error = AppError;
    fn try_from(r: Row) -> Result<Self, AppError> {
        Ok(PluginObject {
            membership_id: r.membership_id,
            config_object_id: r.object_id.into(),
            object_type: r.object_type.parse().map_err(AppError::internal)?,
            name: r.name,
            title: r.title,
            description: r.description,
            status: r.status.parse().map_err(AppError::internal)?,
            added_at: Timestamp(r.added_at),
            removed_at: r.removed_at.map(Timestamp),
        })
    }
}

const SELECT: &str = "SELECT po.id AS membership_id, o.id AS object_id, o.type AS object_type, o.name, \
     o.title, o.description, o.status, po.created_at AS added_at, po.removed_at \
     FROM plugin_objects po JOIN config_objects o ON o.id = po.object_id";

impl Store {
    /// One page of a plugin's memberships (live ones, or all with `include_removed`), in the order
    /// they were added, filtered to the objects the principal may view: one query.
    pub async fn plugin_objects(
        &self,
        p: &Principal,
        plugin: PluginId,
        include_removed: bool,
        page: PageRequest,
    ) -> AppResult<Vec<PluginObject>> {
        let mut q = sql("");
        let org = q.push_arg(p.org_id.uuid());
        let pl = q.push_arg(plugin.uuid());
        let mut text = format!("{SELECT} WHERE po.org_id = {org} AND po.plugin_id = {pl}");
        if !include_removed {
            text.push_str(" AND po.removed_at IS NULL");
        }
        if let Some(after) = page.after {
            let a = q.push_arg(after);
            text.push_str(&format!(" AND po.id > {a}"));
        }
        let visible = can_view_object(&mut q, p, "o.id");
        let limit = q.push_arg(page.fetch());
        text.push_str(&format!(" AND {visible} ORDER BY po.id LIMIT {limit}"));
        q.push(&text);
        let rows: Vec<Row> = self.db.fetch_all(q).await?;
        rows.into_iter().map(PluginObject::try_from).collect()
    }

    /// The live membership of an object in a plugin.
    pub async fn plugin_object(
        &self,
        org: OrgId,
        plugin: PluginId,
        object: ConfigObjectId,
    ) -> AppResult<PluginObject> {
        let row: Row = self
            .db
            .fetch_one(
                sql(format!(
                    "{SELECT} WHERE po.org_id = $1 AND po.plugin_id = $2 AND po.object_id = $3 \
                     AND po.removed_at IS NULL"
                ))
                .bind(org.uuid())
                .bind(plugin.uuid())
                .bind(object.uuid()),
                "plugin membership",
            )
            .await?;
        PluginObject::try_from(row)
    }

    /// Adds an object to a plugin (callers check editor on the plugin and viewer on the object).
    /// Neither may be deleted (409 `resource_deleted`). Returns the membership and whether it is new
    /// (adding a member again changes nothing).
    pub async fn add_plugin_object(
        &self,
        org: OrgId,
        plugin: PluginId,
        object: ConfigObjectId,
        actor: Actor,
    ) -> AppResult<(PluginObject, bool)> {
        let mut tx = self.db.begin().await?;
        let status = lock_status(&mut tx, Lifecycled::Plugin, org, plugin.uuid()).await?;
        ensure_not_deleted(status, "plugin")?;
        let object_status: Option<String> = tx
            .scalar(
                sql("SELECT status FROM config_objects WHERE id = $1 AND org_id = $2")
                    .bind(object.uuid())
                    .bind(org.uuid()),
            )
            .await?;
        match object_status.as_deref() {
            None => return Err(AppError::not_found("config object")),
            Some("deleted") => {
                return Err(AppError::conflict(
                    "resource_deleted",
                    "the config object is deleted; restore it first",
                ));
            }
            Some(_) => {}
        }
        let created = self
            .attach_object_in(&mut tx, org, plugin, object, actor)
            .await?;
        tx.commit().await?;
        Ok((self.plugin_object(org, plugin, object).await?, created))
    }

    /// The plugin and the latest version of each of its active member objects that the principal
    /// may view (callers check viewer on the plugin first). A fixed number of queries, whatever the
    /// plugin's size.
    pub async fn resolve_plugin(&self, p: &Principal, id: PluginId) -> AppResult<ResolvedPlugin> {
        let plugin = self.plugin(p.org_id, id).await?;
        let mut q = sql("");
        let org = q.push_arg(p.org_id.uuid());
        let pl = q.push_arg(id.uuid());
        let visible = can_view_object(&mut q, p, "o.id");
        q.push(&format!(
            "SELECT po.object_id FROM plugin_objects po JOIN config_objects o ON o.id = po.object_id \
             WHERE po.org_id = {org} AND po.plugin_id = {pl} AND po.removed_at IS NULL \
             AND o.status = 'active' AND {visible} ORDER BY po.id"
        ));
        let ids: Vec<ConfigObjectId> = self
            .db
            .fetch_all::<(Uuid,)>(q)
            .await?
            .into_iter()
            .map(|(id,)| id.into())
            .collect();
        let objects = self.resolve_objects(p.org_id, &ids).await?;
        Ok(ResolvedPlugin { plugin, objects })
    }
}
