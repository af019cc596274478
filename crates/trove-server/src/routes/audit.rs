//! The org's audit log (owners and admins).

use axum::Json;
use axum::extract::State;
use trove_core::AuditId;
use trove_store::model::AuditEntry;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::OrgCtx;
use crate::envelope::{List, PageParams, list};
use crate::error::{ApiResult, AppQuery};
use crate::state::AppState;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_audit))
}

/// Every change made in the org, newest first.
#[utoipa::path(get, path = "/v1/orgs/{org}/audit", tag = "audit",
    params(("org" = String, Path, description = "Org slug or id"), PageParams),
    responses((status = 200, body = List<AuditEntry>)))]
async fn list_audit(
    State(state): State<AppState>,
    ctx: OrgCtx,
    AppQuery(params): AppQuery<PageParams>,
) -> ApiResult<Json<List<AuditEntry>>> {
    ctx.require_admin("read the audit log")?;
    let page = params.for_id::<AuditId>()?;
    let rows = state.store.audit_log(ctx.org_id(), page).await?;
    Ok(list(rows, page, |a| a.id.to_string()))
}
