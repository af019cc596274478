//! Versions of a config object: list, create (only when the content changes), get, latest and
//! compare. Reading needs `viewer` on the object, writing `editor`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use trove_core::{AppError, ConfigObjectId, ConfigVersionId, ResourceRole};
use trove_store::registry::ObjectType;
use trove_store::registry::objects::diff::{Comparison, compare};
use trove_store::registry::objects::validate::{self, problems_error};
use trove_store::registry::objects::{ConfigObject, ObjectInput, ObjectVersion, VersionSummary};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ObjectPath, object_id, viewable};
use crate::auth::OrgCtx;
use crate::envelope::{Item, List, Mutation, PageParams, list};
use crate::error::{ApiResult, AppJson, AppQuery};
use crate::state::AppState;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_versions, create_version))
        .routes(routes!(latest_version))
        .routes(routes!(compare_versions))
        .routes(routes!(get_version))
}

/// `/v1/orgs/{org}/config-objects/{object}/versions/{version}`.
#[derive(Debug, Deserialize)]
pub struct ObjectVersionPath {
    /// The config object id.
    pub object: String,
    /// The version id (`cov_…`) or number.
    pub version: String,
}

/// A new version.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NewVersion {
    /// The content.
    pub input: ObjectInput,
    /// Why this version is made (at most 1,000 characters), kept on the version.
    pub reason: Option<String>,
}

/// Longest `reason`, in characters.
const MAX_REASON_CHARS: usize = 1000;

/// The result of writing a version.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WrittenVersion {
    /// Whether a new version was written; `false` means the content equals the latest version's,
    /// which is returned unchanged.
    pub created: bool,
    /// The object after the write.
    pub object: ConfigObject,
    /// The new (or unchanged latest) version.
    pub version: ObjectVersion,
}

/// The two sides of a comparison.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CompareParams {
    /// The older version: id (`cov_…`) or number; default the one before `to`.
    pub from: Option<String>,
    /// The newer version: id (`cov_…`) or number; default the latest.
    pub to: Option<String>,
}

/// A version named by id or number.
enum VersionRef {
    Id(ConfigVersionId),
    Number(i64),
}

fn version_ref(text: &str) -> Option<VersionRef> {
    if let Ok(id) = text.parse::<ConfigVersionId>() {
        return Some(VersionRef::Id(id));
    }
    text.parse::<i64>()
        .ok()
        .filter(|n| *n >= 1)
        .map(VersionRef::Number)
}

async fn load(
    state: &AppState,
    ctx: &OrgCtx,
    object: ConfigObjectId,
    r: VersionRef,
) -> ApiResult<ObjectVersion> {
    Ok(match r {
        VersionRef::Id(id) => state.store.version(ctx.org_id(), object, id).await?,
        VersionRef::Number(n) => state.store.version_number(ctx.org_id(), object, n).await?,
    })
}

/// Writes a new version of an object (of `kind`, for the typed views) unless nothing changed.
pub(crate) async fn new_version(
    state: &AppState,
    ctx: &OrgCtx,
    object: &str,
    kind: Option<ObjectType>,
    req: NewVersion,
) -> ApiResult<(StatusCode, Json<Mutation<WrittenVersion>>)> {
    let id = object_id(object)?;
    let NewVersion { input, reason } = req;
    let reason = reason
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty());
    if reason
        .as_ref()
        .is_some_and(|r| r.chars().count() > MAX_REASON_CHARS)
    {
        return Err(AppError::invalid(
            "reason",
            format!("`reason` is longer than {MAX_REASON_CHARS} characters"),
        )
        .into());
    }
    let current = viewable(state, ctx, id, kind, ResourceRole::Editor).await?;
    let prepared =
        validate::prepare(current.object_type, &input).map_err(|p| problems_error(&p))?;
    let written = state
        .store
        .create_version(ctx.org_id(), id, &prepared, None, reason, ctx.actor())
        .await?;
    let status = if written.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Mutation::ok(WrittenVersion {
            created: written.created,
            object: written.object,
            version: written.version,
        }),
    ))
}

/// The versions of a config object, newest first, without content (`viewer`).
#[utoipa::path(get, path = "/v1/orgs/{org}/config-objects/{object}/versions", tag = "config-objects",
    params(("org" = String, Path, description = "Org slug or id"), ("object" = String, Path, description = "Config object id (`cob_…`)"), PageParams),
    responses((status = 200, body = List<VersionSummary>)))]
async fn list_versions(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Path(path): Path<ObjectPath>,
    AppQuery(params): AppQuery<PageParams>,
) -> ApiResult<Json<List<VersionSummary>>> {
    let id = object_id(&path.object)?;
    let page = params.for_id::<ConfigVersionId>()?;
    viewable(&state, &ctx, id, None, ResourceRole::Viewer).await?;
    let rows = state.store.list_versions(ctx.org_id(), id, page).await?;
    Ok(list(rows, page, |v| v.id.to_string()))
}

/// Writes a new version (`editor`). 201 with `created: true`, or 200 with `created: false` and the
/// latest version when the content is unchanged.
#[utoipa::path(post, path = "/v1/orgs/{org}/config-objects/{object}/versions", tag = "config-objects", request_body = NewVersion,
    params(("org" = String, Path, description = "Org slug or id"), ("object" = String, Path, description = "Config object id (`cob_…`)")),
    responses((status = 201, body = Mutation<WrittenVersion>), (status = 200, body = Mutation<WrittenVersion>, description = "Nothing changed")))]
async fn create_version(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Path(path): Path<ObjectPath>,
    AppJson(req): AppJson<NewVersion>,
) -> ApiResult<(StatusCode, Json<Mutation<WrittenVersion>>)> {
    new_version(&state, &ctx, &path.object, None, req).await
}

/// The latest version with its content (`viewer`).
#[utoipa::path(get, path = "/v1/orgs/{org}/config-objects/{object}/versions/latest", tag = "config-objects",
    params(("org" = String, Path, description = "Org slug or id"), ("object" = String, Path, description = "Config object id (`cob_…`)")),
    responses((status = 200, body = Item<ObjectVersion>)))]
async fn latest_version(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Path(path): Path<ObjectPath>,
) -> ApiResult<Json<Item<ObjectVersion>>> {
    let id = object_id(&path.object)?;
    viewable(&state, &ctx, id, None, ResourceRole::Viewer).await?;
    let item = state.store.latest_version(ctx.org_id(), id).await?;
    Ok(Json(Item { item }))
}

/// Compares two versions (`viewer`): a unified diff of the raw sources and the changed payload fields.
#[utoipa::path(get, path = "/v1/orgs/{org}/config-objects/{object}/versions/compare", tag = "config-objects",
    params(("org" = String, Path, description = "Org slug or id"), ("object" = String, Path, description = "Config object id (`cob_…`)"), CompareParams),
    responses((status = 200, body = Item<Comparison>)))]
async fn compare_versions(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Path(path): Path<ObjectPath>,
    AppQuery(params): AppQuery<CompareParams>,
) -> ApiResult<Json<Item<Comparison>>> {
    let id = object_id(&path.object)?;
    let parse = |field: &'static str, text: &str| {
        version_ref(text).ok_or_else(|| {
            AppError::invalid(field, "give a version id (`cov_…`) or a version number")
        })
    };
    let from = params
        .from
        .as_deref()
        .map(|t| parse("from", t))
        .transpose()?;
    let to = params.to.as_deref().map(|t| parse("to", t)).transpose()?;
    viewable(&state, &ctx, id, None, ResourceRole::Viewer).await?;
    let to = match to {
        Some(r) => load(&state, &ctx, id, r).await?,
        None => state.store.latest_version(ctx.org_id(), id).await?,
    };
    let from = match from {
        Some(r) => load(&state, &ctx, id, r).await?,
        None if to.version_number > 1 => {
            load(&state, &ctx, id, VersionRef::Number(to.version_number - 1)).await?
        }
        None => {
            return Err(
                AppError::invalid("from", "version 1 has no predecessor; give `from`").into(),
            );
        }
    };
    Ok(Json(Item {
        item: compare(&from, &to),
    }))
}

/// One version with its content (`viewer`), by id (`cov_…`) or number.
#[utoipa::path(get, path = "/v1/orgs/{org}/config-objects/{object}/versions/{version}", tag = "config-objects",
    params(("org" = String, Path, description = "Org slug or id"), ("object" = String, Path, description = "Config object id (`cob_…`)"), ("version" = String, Path, description = "Version id (`cov_…`) or number")),
    responses((status = 200, body = Item<ObjectVersion>)))]
async fn get_version(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Path(path): Path<ObjectVersionPath>,
) -> ApiResult<Json<Item<ObjectVersion>>> {
    let id = object_id(&path.object)?;
    let r =
        version_ref(&path.version).ok_or_else(|| AppError::not_found("config object version"))?;
    viewable(&state, &ctx, id, None, ResourceRole::Viewer).await?;
    let item = load(&state, &ctx, id, r).await?;
    Ok(Json(Item { item }))
}
