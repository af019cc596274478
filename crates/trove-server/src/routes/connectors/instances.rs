//! `connector-instances`: list, create (instance + target + initial sync in one transaction), read,
//! patch (config merged, never replaced), disable, enable, remove (cascade report), targets, access.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use trove_core::{ConnectorAccountId, ConnectorInstanceId, ResourceRole};
use trove_sources::Reference;
use trove_store::connectors::instances::removal::RemovalReport;
use trove_store::connectors::instances::{InstanceFilter, InstancePatch, NewInstance};
use trove_store::connectors::model::{Instance, SyncEvent, Target};
use trove_store::registry::access::{Grant, NewGrant, ResourceKind};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::source::{branch_of, source_error, source_target};
use super::{InstancePath, JobRef, create_with_initial_sync, instance_id, redacted, require};
use crate::auth::OrgCtx;
use crate::envelope::{Deleted, Item, List, Mutation, PageParams, list};
use crate::error::{ApiResult, AppJson, AppQuery};
use crate::routes::access;
use crate::state::AppState;

/// `/v1/orgs/{org}/connector-instances/{instance}/access/{grant}`.
#[derive(Debug, Deserialize)]
pub struct InstanceGrantPath {
    /// The instance id.
    pub instance: String,
    /// The grant id.
    pub grant: String,
}

/// Paging and filters of the instance list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct InstanceListParams {
    /// Page size, 1-200 (default 50).
    pub limit: Option<u32>,
    /// The `nextCursor` of the previous page.
    pub cursor: Option<String>,
    /// Only instances in this state (`active`, `disabled`, `error`).
    pub status: Option<String>,
    /// A case-insensitive substring of the name.
    pub q: Option<String>,
    /// Only instances using this account (`cac_…`).
    pub account_id: Option<ConnectorAccountId>,
}

/// A created instance, with the initial sync it queued.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedInstance {
    /// Always `true`.
    pub ok: bool,
    /// The instance.
    pub item: Instance,
    /// Always `true`: the initial sync is queued.
    pub queued: bool,
    /// The job of the initial sync.
    pub job: JobRef,
    /// The initial sync event.
    pub event: SyncEvent,
}

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_instances, create_instance))
        .routes(routes!(get_instance, update_instance))
        .routes(routes!(disable_instance))
        .routes(routes!(enable_instance))
        .routes(routes!(remove_instance))
        .routes(routes!(list_targets))
        .routes(routes!(list_instance_access, grant_instance_access))
        .routes(routes!(revoke_instance_access))
}

/// The instances the caller may view (admins: all; others: those shared with them).
#[utoipa::path(get, path = "/v1/orgs/{org}/connector-instances", tag = "connectors",
    params(("org" = String, Path, description = "Org slug or id"), InstanceListParams),
    responses((status = 200, body = List<Instance>)))]
async fn list_instances(
    State(state): State<AppState>,
    ctx: OrgCtx,
    AppQuery(params): AppQuery<InstanceListParams>,
) -> ApiResult<Json<List<Instance>>> {
    let page = PageParams {
        limit: params.limit,
        cursor: params.cursor.clone(),
    }
    .for_id::<ConnectorInstanceId>()?;
    let filter = InstanceFilter {
        status: params.status.clone(),
        q: params.q.clone(),
        account: params.account_id,
    };
    let rows = state
        .store
        .instances(&ctx.principal(), &filter, page)
        .await?;
    let rows = rows.into_iter().map(redacted).collect();
    Ok(list(rows, page, |i| i.id.to_string()))
}

/// Connects a repository branch (admin): `{type: "git", url, branch?, name?, accountId?,
/// autoImport?, config?}`. The instance, its target and the creator's manager grant are created in
/// one transaction with a queued `initial` sync (201 with the job and event). The branch defaults to
/// the remote's default branch; the repository must be reachable. A taken name is a 409.
#[utoipa::path(post, path = "/v1/orgs/{org}/connector-instances", tag = "connectors", request_body = NewInstance,
    params(("org" = String, Path, description = "Org slug or id")),
    responses((status = 201, body = CreatedInstance)))]
async fn create_instance(
    State(state): State<AppState>,
    ctx: OrgCtx,
    AppJson(req): AppJson<NewInstance>,
) -> ApiResult<(StatusCode, Json<CreatedInstance>)> {
    ctx.require_admin("connect repositories")?;
    let url = req.check()?;
    let reference = match &req.branch {
        Some(b) => Reference::Branch(b.clone()),
        None => Reference::DefaultBranch,
    };
    let target = source_target(&state, ctx.org_id(), req.account_id, &url, reference, None).await?;
    let head = state.sources.head(&target).await.map_err(source_error)?;
    let valid = req.resolve(url, branch_of(head.ref_name.as_deref()))?;
    let tx = state.store.db.begin().await?;
    let (item, event, job) = create_with_initial_sync(&state, &ctx, tx, &valid).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedInstance {
            ok: true,
            item,
            queued: true,
            job: JobRef { id: job },
            event,
        }),
    ))
}

/// One instance with its targets (viewer).
#[utoipa::path(get, path = "/v1/orgs/{org}/connector-instances/{instance}", tag = "connectors",
    params(("org" = String, Path, description = "Org slug or id"), ("instance" = String, Path, description = "Instance id (`cin_…`)")),
    responses((status = 200, body = Item<Instance>)))]
async fn get_instance(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Path(path): Path<InstancePath>,
) -> ApiResult<Json<Item<Instance>>> {
    let id = instance_id(&path.instance)?;
    require(&state, &ctx, id, ResourceRole::Viewer).await?;
    let item = redacted(state.store.instance(ctx.org_id(), id).await?);
    Ok(Json(Item { item }))
}

/// Changes an instance's name, auto-import flag or settings (editor). `config` is merged as a JSON
/// merge patch: keys it does not name are kept; `null` removes a key.
#[utoipa::path(patch, path = "/v1/orgs/{org}/connector-instances/{instance}", tag = "connectors", request_body = InstancePatch,
    params(("org" = String, Path, description = "Org slug or id"), ("instance" = String, Path, description = "Instance id (`cin_…`)")),
    responses((status = 200, body = Mutation<Instance>)))]
async fn update_instance(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Path(path): Path<InstancePath>,
    AppJson(req): AppJson<InstancePatch>,
) -> ApiResult<Json<Mutation<Instance>>> {
    let id = instance_id(&path.instance)?;
    require(&state, &ctx, id, ResourceRole::Editor).await?;
    let item = state
        .store
        .update_instance(ctx.org_id(), id, &req, ctx.actor())
        .await?;
    Ok(Mutation::ok(redacted(item)))
}

async fn set_active(
    state: &AppState,
    ctx: &OrgCtx,
    path: &InstancePath,
    active: bool,
) -> ApiResult<Json<Mutation<Instance>>> {
    let id = instance_id(&path.instance)?;
    require(state, ctx, id, ResourceRole::Manager).await?;
    let item = state
        .store
        .set_instance_active(ctx.org_id(), id, active, ctx.actor())
        .await?;
    Ok(Mutation::ok(redacted(item)))
}

/// Disables an instance (manager): pushes and the backstop no longer sync it; imported content stays.
#[utoipa::path(post, path = "/v1/orgs/{org}/connector-instances/{instance}/disable", tag = "connectors",
    params(("org" = String, Path, description = "Org slug or id"), ("instance" = String, Path, description = "Instance id (`cin_…`)")),
    responses((status = 200, body = Mutation<Instance>)))]
async fn disable_instance(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Path(path): Path<InstancePath>,
) -> ApiResult<Json<Mutation<Instance>>> {
    set_active(&state, &ctx, &path, false).await
}

/// Enables an instance again (manager); clears an error status.
#[utoipa::path(post, path = "/v1/orgs/{org}/connector-instances/{instance}/enable", tag = "connectors",
    params(("org" = String, Path, description = "Org slug or id"), ("instance" = String, Path, description = "Instance id (`cin_…`)")),
    responses((status = 200, body = Mutation<Instance>)))]
async fn enable_instance(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Path(path): Path<InstancePath>,
) -> ApiResult<Json<Mutation<Instance>>> {
    set_active(&state, &ctx, &path, true).await
}

/// Removes an instance (admin): its targets, mappings, bindings and sync events, and the objects,
/// plugins and marketplaces it created — except an object a user also put in a hand-made plugin,
/// which is kept and detached. The report lists what was deleted and what was kept, and why.
#[utoipa::path(post, path = "/v1/orgs/{org}/connector-instances/{instance}/remove", tag = "connectors",
    params(("org" = String, Path, description = "Org slug or id"), ("instance" = String, Path, description = "Instance id (`cin_…`)")),
    responses((status = 200, body = Mutation<RemovalReport>)))]
async fn remove_instance(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Path(path): Path<InstancePath>,
) -> ApiResult<Json<Mutation<RemovalReport>>> {
    let id = instance_id(&path.instance)?;
    if !state
        .store
        .resource_exists(ctx.org_id(), ResourceKind::ConnectorInstance, id.uuid())
        .await?
    {
        return Err(trove_core::AppError::not_found("connector instance").into());
    }
    ctx.require_admin("remove connector instances")?;
    let report = state
        .store
        .remove_instance(ctx.org_id(), id, ctx.actor())
        .await?;
    Ok(Mutation::ok(report))
}

/// The targets (repository branches) of an instance (viewer).
#[utoipa::path(get, path = "/v1/orgs/{org}/connector-instances/{instance}/targets", tag = "connectors",
    params(("org" = String, Path, description = "Org slug or id"), ("instance" = String, Path, description = "Instance id (`cin_…`)")),
    responses((status = 200, body = List<Target>)))]
async fn list_targets(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Path(path): Path<InstancePath>,
) -> ApiResult<Json<List<Target>>> {
    let id = instance_id(&path.instance)?;
    require(&state, &ctx, id, ResourceRole::Viewer).await?;
    let items = redacted(state.store.instance(ctx.org_id(), id).await?).targets;
    Ok(Json(List {
        items,
        next_cursor: None,
    }))
}

/// The live grants on an instance (manager).
#[utoipa::path(get, path = "/v1/orgs/{org}/connector-instances/{instance}/access", tag = "connectors",
    params(("org" = String, Path, description = "Org slug or id"), ("instance" = String, Path, description = "Instance id (`cin_…`)")),
    responses((status = 200, body = List<Grant>)))]
async fn list_instance_access(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Path(path): Path<InstancePath>,
) -> ApiResult<Json<List<Grant>>> {
    let id = instance_id(&path.instance)?;
    access::list(&state, &ctx, ResourceKind::ConnectorInstance, id.uuid()).await
}

/// Grants a role on an instance (manager; org-wide needs an admin).
#[utoipa::path(post, path = "/v1/orgs/{org}/connector-instances/{instance}/access", tag = "connectors", request_body = NewGrant,
    params(("org" = String, Path, description = "Org slug or id"), ("instance" = String, Path, description = "Instance id (`cin_…`)")),
    responses((status = 201, body = Mutation<Grant>)))]
async fn grant_instance_access(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Path(path): Path<InstancePath>,
    AppJson(req): AppJson<NewGrant>,
) -> ApiResult<(StatusCode, Json<Mutation<Grant>>)> {
    let id = instance_id(&path.instance)?;
    access::grant(
        &state,
        &ctx,
        ResourceKind::ConnectorInstance,
        id.uuid(),
        req,
    )
    .await
}

/// Revokes a grant on an instance (manager).
#[utoipa::path(delete, path = "/v1/orgs/{org}/connector-instances/{instance}/access/{grant}", tag = "connectors",
    params(("org" = String, Path, description = "Org slug or id"), ("instance" = String, Path, description = "Instance id (`cin_…`)"), ("grant" = String, Path, description = "Grant id (`grt_…`)")),
    responses((status = 200, body = Mutation<Deleted>)))]
async fn revoke_instance_access(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Path(path): Path<InstanceGrantPath>,
) -> ApiResult<Json<Mutation<Deleted>>> {
    let id = instance_id(&path.instance)?;
    access::revoke(
        &state,
        &ctx,
        ResourceKind::ConnectorInstance,
        id.uuid(),
        &path.grant,
    )
    .await
}
