//! Config objects: list, create, get, validate and lifecycle here; versions in [`versions`]; plugin
//! memberships and access grants in [`relations`]. The typed views (`/skills`, `/agents`, …) in
//! [`super::object_types`] reuse the helpers of this module.
//!
//! Access: any member may list (filtered in SQL to what they may view) and create (becoming the
//! object's manager); reading needs `viewer`, new versions `editor`, lifecycle and grants `manager`.

mod relations;
pub(crate) mod versions;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use trove_core::{AppError, ConfigObjectId, ConnectorInstanceId, PluginId, ResourceRole};
use trove_store::registry::access::ResourceKind;
use trove_store::registry::objects::validate::{self, problems_error};
use trove_store::registry::objects::{
    ConfigObject, Lifecycle, NewObject, ObjectFilter, ObjectInput, Problem, SourceMode,
};
use trove_store::registry::{ObjectType, Status};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::OrgCtx;
use crate::envelope::{Item, List, Mutation, PageParams, list};
use crate::error::{ApiResult, AppJson, AppQuery};
use crate::state::AppState;

/// Most plugins an object may join at creation.
const MAX_PLUGIN_IDS: usize = 100;

/// `/v1/orgs/{org}/config-objects/{object}` (and the typed views' `/{object}`).
#[derive(Debug, Deserialize)]
pub struct ObjectPath {
    /// The config object id.
    pub object: String,
}

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_objects, create_object))
        .routes(routes!(validate_object))
        .routes(routes!(get_object))
        .routes(routes!(archive_object))
        .routes(routes!(delete_object))
        .routes(routes!(restore_object))
        .merge(versions::router())
        .merge(relations::router())
}

/// A config object id from a path: one that does not parse cannot exist (404).
pub(crate) fn object_id(text: &str) -> Result<ConfigObjectId, AppError> {
    text.parse()
        .map_err(|_| AppError::not_found("config object"))
}

/// Filters and paging of the object list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ObjectListParams {
    /// Only this type.
    #[serde(rename = "type")]
    pub object_type: Option<ObjectType>,
    /// Only this status (`deleted` lists deleted objects).
    pub status: Option<Status>,
    /// Only `manual` or `connector` objects.
    pub source_mode: Option<SourceMode>,
    /// Only members of this plugin (needs view access to it).
    #[param(value_type = Option<String>)]
    pub plugin_id: Option<PluginId>,
    /// Only objects imported by this connector instance.
    #[param(value_type = Option<String>)]
    pub connector_instance_id: Option<ConnectorInstanceId>,
    /// Case-insensitive substring of the name, title, description or a file path.
    pub q: Option<String>,
    /// Include deleted objects (default false).
    pub include_deleted: Option<bool>,
    /// Page size, 1-200 (default 50).
    pub limit: Option<u32>,
    /// The `nextCursor` of the previous page.
    pub cursor: Option<String>,
}

/// A new config object.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateObject {
    /// The kind of component.
    #[serde(rename = "type")]
    pub object_type: ObjectType,
    /// `manual` (the default); connector objects are created by connector sync only.
    pub source_mode: Option<SourceMode>,
    /// Plugins to add it to (needs `editor` on each; at most 100).
    pub plugin_ids: Option<Vec<PluginId>>,
    /// The content.
    pub input: ObjectInput,
}

/// Content to validate.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ValidateObject {
    /// The kind of component.
    #[serde(rename = "type")]
    pub object_type: ObjectType,
    /// The content.
    pub input: ObjectInput,
}

/// What validation found; nothing is stored.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ValidationReport {
    /// Whether the content would be accepted.
    pub valid: bool,
    /// Everything that is wrong (empty when valid).
    pub problems: Vec<Problem>,
    /// Things that load but deserve attention.
    pub warnings: Vec<String>,
    /// The projection the object would get (when valid).
    pub preview: Option<Preview>,
}

/// The projection and content of valid input.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Preview {
    /// The name.
    pub name: String,
    /// The title.
    pub title: String,
    /// The description.
    pub description: String,
    /// The file paths of the raw source.
    pub paths: Vec<String>,
    /// Total size of the files.
    pub size_bytes: i64,
    /// The content hash.
    pub content_hash: String,
    /// The normalized payload.
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
}

/// Parses and checks input without writing anything.
pub(crate) fn validate_input(kind: ObjectType, input: &ObjectInput) -> ValidationReport {
    match validate::prepare(kind, input) {
        Ok(p) => ValidationReport {
            valid: true,
            problems: Vec::new(),
            warnings: p.warnings.clone(),
            preview: Some(Preview {
                paths: p.files.iter().map(|f| f.path.clone()).collect(),
                name: p.name,
                title: p.title,
                description: p.description,
                size_bytes: p.size_bytes,
                content_hash: p.content_hash,
                payload: p.payload,
            }),
        },
        Err(problems) => ValidationReport {
            valid: false,
            problems,
            warnings: Vec::new(),
            preview: None,
        },
    }
}

/// Lists the objects the caller may view (one query per page).
pub(crate) async fn list_filtered(
    state: &AppState,
    ctx: &OrgCtx,
    filter: ObjectFilter,
    limit: Option<u32>,
    cursor: Option<String>,
) -> ApiResult<Json<List<ConfigObject>>> {
    let page = PageParams { limit, cursor }.for_id::<ConfigObjectId>()?;
    if let Some(plugin) = filter.plugin_id {
        state
            .store
            .require_role(
                &ctx.principal(),
                ResourceKind::Plugin,
                plugin.uuid(),
                ResourceRole::Viewer,
            )
            .await?;
    }
    let rows = state
        .store
        .list_objects(&ctx.principal(), &filter, page)
        .await?;
    Ok(list(rows, page, |o| o.id.to_string()))
}

/// Creates an object of `kind` (validation, plugin checks, one transaction).
pub(crate) async fn create(
    state: &AppState,
    ctx: &OrgCtx,
    kind: ObjectType,
    source_mode: Option<SourceMode>,
    plugin_ids: Option<Vec<PluginId>>,
    input: ObjectInput,
) -> ApiResult<(StatusCode, Json<Mutation<ConfigObject>>)> {
    if source_mode == Some(SourceMode::Connector) {
        return Err(AppError::invalid(
            "sourceMode",
            "`sourceMode` connector is reserved for objects imported by connector sync; use `manual`",
        )
        .into());
    }
    let mut plugin_ids = plugin_ids.unwrap_or_default();
    plugin_ids.sort();
    plugin_ids.dedup();
    if plugin_ids.len() > MAX_PLUGIN_IDS {
        return Err(
            AppError::invalid("pluginIds", format!("at most {MAX_PLUGIN_IDS} plugins")).into(),
        );
    }
    let prepared = validate::prepare(kind, &input).map_err(|p| problems_error(&p))?;
    let principal = ctx.principal();
    for plugin in &plugin_ids {
        state
            .store
            .require_role(
                &principal,
                ResourceKind::Plugin,
                plugin.uuid(),
                ResourceRole::Editor,
            )
            .await?;
    }
    let written = state
        .store
        .create_object(
            &principal,
            NewObject {
                object_type: kind,
                source_mode: SourceMode::Manual,
                connector_instance_id: None,
                plugin_ids,
                version: prepared,
                source_revision: None,
                reason: None,
            },
            ctx.actor(),
        )
        .await?;
    Ok((StatusCode::CREATED, Mutation::ok(written.object)))
}

/// Loads an object the caller may view; with `kind`, one of another type is a 404.
pub(crate) async fn viewable(
    state: &AppState,
    ctx: &OrgCtx,
    id: ConfigObjectId,
    kind: Option<ObjectType>,
    min: ResourceRole,
) -> ApiResult<ConfigObject> {
    state
        .store
        .require_role(&ctx.principal(), ResourceKind::ConfigObject, id.uuid(), min)
        .await?;
    let object = state.store.object(ctx.org_id(), id).await?;
    if kind.is_some_and(|k| k != object.object_type) {
        return Err(AppError::not_found("config object").into());
    }
    Ok(object)
}

/// The org's config objects that the caller may view.
#[utoipa::path(get, path = "/v1/orgs/{org}/config-objects", tag = "config-objects",
    params(("org" = String, Path, description = "Org slug or id"), ObjectListParams),
    responses((status = 200, body = List<ConfigObject>)))]
async fn list_objects(
    State(state): State<AppState>,
    ctx: OrgCtx,
    AppQuery(params): AppQuery<ObjectListParams>,
) -> ApiResult<Json<List<ConfigObject>>> {
    let filter = ObjectFilter {
        object_type: params.object_type,
        status: params.status,
        source_mode: params.source_mode,
        plugin_id: params.plugin_id,
        connector_instance_id: params.connector_instance_id,
        q: params.q,
        include_deleted: params.include_deleted.unwrap_or(false),
    };
    list_filtered(&state, &ctx, filter, params.limit, params.cursor).await
}

/// Creates a config object with its first version; the caller becomes its manager.
#[utoipa::path(post, path = "/v1/orgs/{org}/config-objects", tag = "config-objects", request_body = CreateObject,
    params(("org" = String, Path, description = "Org slug or id")),
    responses((status = 201, body = Mutation<ConfigObject>)))]
async fn create_object(
    State(state): State<AppState>,
    ctx: OrgCtx,
    AppJson(req): AppJson<CreateObject>,
) -> ApiResult<(StatusCode, Json<Mutation<ConfigObject>>)> {
    create(
        &state,
        &ctx,
        req.object_type,
        req.source_mode,
        req.plugin_ids,
        req.input,
    )
    .await
}

/// Parses and checks content of any type without storing anything.
#[utoipa::path(post, path = "/v1/orgs/{org}/config-objects/validate", tag = "config-objects", request_body = ValidateObject,
    params(("org" = String, Path, description = "Org slug or id")),
    responses((status = 200, body = ValidationReport)))]
async fn validate_object(
    _ctx: OrgCtx,
    AppJson(req): AppJson<ValidateObject>,
) -> ApiResult<Json<ValidationReport>> {
    Ok(Json(validate_input(req.object_type, &req.input)))
}

/// One config object (`viewer`).
#[utoipa::path(get, path = "/v1/orgs/{org}/config-objects/{object}", tag = "config-objects",
    params(("org" = String, Path, description = "Org slug or id"), ("object" = String, Path, description = "Config object id (`cob_…`)")),
    responses((status = 200, body = Item<ConfigObject>)))]
async fn get_object(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Path(path): Path<ObjectPath>,
) -> ApiResult<Json<Item<ConfigObject>>> {
    let item = viewable(
        &state,
        &ctx,
        object_id(&path.object)?,
        None,
        ResourceRole::Viewer,
    )
    .await?;
    Ok(Json(Item { item }))
}

async fn lifecycle(
    state: &AppState,
    ctx: &OrgCtx,
    path: &ObjectPath,
    change: Lifecycle,
) -> ApiResult<Json<Mutation<ConfigObject>>> {
    let id = object_id(&path.object)?;
    state
        .store
        .require_role(
            &ctx.principal(),
            ResourceKind::ConfigObject,
            id.uuid(),
            ResourceRole::Manager,
        )
        .await?;
    let object = state
        .store
        .set_object_lifecycle(ctx.org_id(), id, change, ctx.actor())
        .await?;
    Ok(Mutation::ok(object))
}

/// Archives a config object (`manager`): kept, no longer delivered.
#[utoipa::path(post, path = "/v1/orgs/{org}/config-objects/{object}/archive", tag = "config-objects",
    params(("org" = String, Path, description = "Org slug or id"), ("object" = String, Path, description = "Config object id (`cob_…`)")),
    responses((status = 200, body = Mutation<ConfigObject>)))]
async fn archive_object(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Path(path): Path<ObjectPath>,
) -> ApiResult<Json<Mutation<ConfigObject>>> {
    lifecycle(&state, &ctx, &path, Lifecycle::Archive).await
}

/// Deletes a config object (`manager`): soft, hidden from lists, restorable.
#[utoipa::path(post, path = "/v1/orgs/{org}/config-objects/{object}/delete", tag = "config-objects",
    params(("org" = String, Path, description = "Org slug or id"), ("object" = String, Path, description = "Config object id (`cob_…`)")),
    responses((status = 200, body = Mutation<ConfigObject>)))]
async fn delete_object(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Path(path): Path<ObjectPath>,
) -> ApiResult<Json<Mutation<ConfigObject>>> {
    lifecycle(&state, &ctx, &path, Lifecycle::Delete).await
}

/// Restores an archived or deleted config object to active (`manager`).
#[utoipa::path(post, path = "/v1/orgs/{org}/config-objects/{object}/restore", tag = "config-objects",
    params(("org" = String, Path, description = "Org slug or id"), ("object" = String, Path, description = "Config object id (`cob_…`)")),
    responses((status = 200, body = Mutation<ConfigObject>)))]
async fn restore_object(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Path(path): Path<ObjectPath>,
) -> ApiResult<Json<Mutation<ConfigObject>>> {
    lifecycle(&state, &ctx, &path, Lifecycle::Restore).await
}
