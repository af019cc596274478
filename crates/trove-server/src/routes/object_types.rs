//! Typed views over config objects: `/skills`, `/agents`, `/commands`, `/hooks`, `/mcps`, `/lsps`.
//! Each lists, creates, gets, adds versions to and validates objects of one type, with the same
//! rules and responses as `/config-objects` (an object of another type is a 404 here).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use trove_core::{ConnectorInstanceId, PluginId, ResourceRole};
use trove_store::registry::objects::{ConfigObject, ObjectFilter, ObjectInput, SourceMode};
use trove_store::registry::{ObjectType, Status};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::config_objects::versions::{NewVersion, WrittenVersion, new_version};
use super::config_objects::{
    ObjectPath, ValidationReport, create, list_filtered, object_id, validate_input, viewable,
};
use crate::auth::OrgCtx;
use crate::envelope::{Item, List, Mutation};
use crate::error::{ApiResult, AppJson, AppQuery};
use crate::state::AppState;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(skills::router())
        .merge(agents::router())
        .merge(commands::router())
        .merge(hooks::router())
        .merge(mcps::router())
        .merge(lsps::router())
}

/// Filters and paging of a typed list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TypedListParams {
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

/// A new object of the view's type.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TypedCreate {
    /// `manual` (the default).
    pub source_mode: Option<SourceMode>,
    /// Plugins to add it to (needs `editor` on each; at most 100).
    pub plugin_ids: Option<Vec<PluginId>>,
    /// The content.
    pub input: ObjectInput,
}

/// Content to validate as the view's type.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TypedValidate {
    /// The content.
    pub input: ObjectInput,
}

async fn typed_list(
    state: &AppState,
    ctx: &OrgCtx,
    kind: ObjectType,
    params: TypedListParams,
) -> ApiResult<Json<List<ConfigObject>>> {
    let filter = ObjectFilter {
        object_type: Some(kind),
        status: params.status,
        source_mode: params.source_mode,
        plugin_id: params.plugin_id,
        connector_instance_id: params.connector_instance_id,
        q: params.q,
        include_deleted: params.include_deleted.unwrap_or(false),
    };
    list_filtered(state, ctx, filter, params.limit, params.cursor).await
}

async fn typed_get(
    state: &AppState,
    ctx: &OrgCtx,
    kind: ObjectType,
    path: &ObjectPath,
) -> ApiResult<Json<Item<ConfigObject>>> {
    let id = object_id(&path.object)?;
    let item = viewable(state, ctx, id, Some(kind), ResourceRole::Viewer).await?;
    Ok(Json(Item { item }))
}

/// One typed view: five handlers over one type, with their OpenAPI paths.
macro_rules! type_view {
    ($module:ident, $kind:expr, $tag:literal, $list:literal, $one:literal, $versions:literal, $validate:literal) => {
        mod $module {
            use super::*;

            pub(super) fn router() -> OpenApiRouter<AppState> {
                OpenApiRouter::new()
                    .routes(routes!(list, create_one))
                    .routes(routes!(validate))
                    .routes(routes!(get))
                    .routes(routes!(add_version))
            }

            #[utoipa::path(get, path = $list, tag = $tag, operation_id = concat!("list_", $tag),
                summary = concat!("Lists the ", $tag, " the caller may view."),
                params(("org" = String, Path, description = "Org slug or id"), TypedListParams),
                responses((status = 200, body = List<ConfigObject>)))]
            async fn list(
                State(state): State<AppState>,
                ctx: OrgCtx,
                AppQuery(params): AppQuery<TypedListParams>,
            ) -> ApiResult<Json<List<ConfigObject>>> {
                typed_list(&state, &ctx, $kind, params).await
            }

            #[utoipa::path(post, path = $list, tag = $tag, operation_id = concat!("create_", $tag),
                summary = concat!("Creates one of the ", $tag, "; the caller becomes its manager."),
                request_body = TypedCreate,
                params(("org" = String, Path, description = "Org slug or id")),
                responses((status = 201, body = Mutation<ConfigObject>)))]
            async fn create_one(
                State(state): State<AppState>,
                ctx: OrgCtx,
                AppJson(req): AppJson<TypedCreate>,
            ) -> ApiResult<(StatusCode, Json<Mutation<ConfigObject>>)> {
                create(&state, &ctx, $kind, req.source_mode, req.plugin_ids, req.input).await
            }

            #[utoipa::path(post, path = $validate, tag = $tag, operation_id = concat!("validate_", $tag),
                summary = concat!("Parses and checks content as one of the ", $tag, " without storing anything."),
                request_body = TypedValidate,
                params(("org" = String, Path, description = "Org slug or id")),
                responses((status = 200, body = ValidationReport)))]
            async fn validate(
                _ctx: OrgCtx,
                AppJson(req): AppJson<TypedValidate>,
            ) -> ApiResult<Json<ValidationReport>> {
                Ok(Json(validate_input($kind, &req.input)))
            }

            #[utoipa::path(get, path = $one, tag = $tag, operation_id = concat!("get_", $tag),
                summary = concat!("One of the ", $tag, " (viewer)."),
                params(("org" = String, Path, description = "Org slug or id"), ("object" = String, Path, description = "Config object id (`cob_…`)")),
                responses((status = 200, body = Item<ConfigObject>)))]
            async fn get(
                State(state): State<AppState>,
                ctx: OrgCtx,
                Path(path): Path<ObjectPath>,
            ) -> ApiResult<Json<Item<ConfigObject>>> {
                typed_get(&state, &ctx, $kind, &path).await
            }

            #[utoipa::path(post, path = $versions, tag = $tag, operation_id = concat!("version_", $tag),
                summary = concat!("Writes a new version of one of the ", $tag, " (editor), unless nothing changed."),
                request_body = NewVersion,
                params(("org" = String, Path, description = "Org slug or id"), ("object" = String, Path, description = "Config object id (`cob_…`)")),
                responses((status = 201, body = Mutation<WrittenVersion>), (status = 200, body = Mutation<WrittenVersion>, description = "Nothing changed")))]
            async fn add_version(
                State(state): State<AppState>,
                ctx: OrgCtx,
                Path(path): Path<ObjectPath>,
                AppJson(req): AppJson<NewVersion>,
            ) -> ApiResult<(StatusCode, Json<Mutation<WrittenVersion>>)> {
                new_version(&state, &ctx, &path.object, Some($kind), req).await
            }
        }
    };
}

type_view!(
    skills,
    ObjectType::Skill,
    "skills",
    "/v1/orgs/{org}/skills",
    "/v1/orgs/{org}/skills/{object}",
    "/v1/orgs/{org}/skills/{object}/versions",
    "/v1/orgs/{org}/skills/validate"
);
type_view!(
    agents,
    ObjectType::Agent,
    "agents",
    "/v1/orgs/{org}/agents",
    "/v1/orgs/{org}/agents/{object}",
    "/v1/orgs/{org}/agents/{object}/versions",
    "/v1/orgs/{org}/agents/validate"
);
type_view!(
    commands,
    ObjectType::Command,
    "commands",
    "/v1/orgs/{org}/commands",
    "/v1/orgs/{org}/commands/{object}",
    "/v1/orgs/{org}/commands/{object}/versions",
    "/v1/orgs/{org}/commands/validate"
);
type_view!(
    hooks,
    ObjectType::Hook,
    "hooks",
    "/v1/orgs/{org}/hooks",
    "/v1/orgs/{org}/hooks/{object}",
    "/v1/orgs/{org}/hooks/{object}/versions",
    "/v1/orgs/{org}/hooks/validate"
);
type_view!(
    mcps,
    ObjectType::Mcp,
    "mcps",
    "/v1/orgs/{org}/mcps",
    "/v1/orgs/{org}/mcps/{object}",
    "/v1/orgs/{org}/mcps/{object}/versions",
    "/v1/orgs/{org}/mcps/validate"
);
type_view!(
    lsps,
    ObjectType::Lsp,
    "lsps",
    "/v1/orgs/{org}/lsps",
    "/v1/orgs/{org}/lsps/{object}",
    "/v1/orgs/{org}/lsps/{object}/versions",
    "/v1/orgs/{org}/lsps/validate"
);
