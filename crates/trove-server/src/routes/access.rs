//! The `…/access` endpoints every resource shares: list, grant and revoke. Each resource's module wraps
//! these in its own annotated handlers (one OpenAPI path per resource).
//!
//! Listing, granting and revoking need the `manager` role on the resource; an org-wide grant also needs
//! the org admin capability.

use axum::Json;
use axum::http::StatusCode;
use trove_core::{AppError, GrantId, ResourceRole};
use trove_store::registry::access::{Grant, NewGrant, ResourceKind};
use uuid::Uuid;

use crate::auth::OrgCtx;
use crate::envelope::{Deleted, List, Mutation};
use crate::error::ApiResult;
use crate::state::AppState;

/// Lists the live grants on a resource.
pub async fn list(
    state: &AppState,
    ctx: &OrgCtx,
    kind: ResourceKind,
    id: Uuid,
) -> ApiResult<Json<List<Grant>>> {
    state
        .store
        .require_role(&ctx.principal(), kind, id, ResourceRole::Manager)
        .await?;
    let items = state.store.grants(ctx.org_id(), kind, id).await?;
    Ok(Json(List {
        items,
        next_cursor: None,
    }))
}

/// Grants a role on a resource.
pub async fn grant(
    state: &AppState,
    ctx: &OrgCtx,
    kind: ResourceKind,
    id: Uuid,
    new: NewGrant,
) -> ApiResult<(StatusCode, Json<Mutation<Grant>>)> {
    state
        .store
        .require_role(&ctx.principal(), kind, id, ResourceRole::Manager)
        .await?;
    if new.org_wide.unwrap_or(false) {
        ctx.require_admin("grant access to the whole organization")?;
    }
    let grant = state
        .store
        .grant(ctx.org_id(), kind, id, &new, ctx.actor())
        .await?;
    Ok((StatusCode::CREATED, Mutation::ok(grant)))
}

/// Revokes a grant on a resource.
pub async fn revoke(
    state: &AppState,
    ctx: &OrgCtx,
    kind: ResourceKind,
    id: Uuid,
    grant: &str,
) -> ApiResult<Json<Mutation<Deleted>>> {
    state
        .store
        .require_role(&ctx.principal(), kind, id, ResourceRole::Manager)
        .await?;
    let grant: GrantId = grant.parse().map_err(|_| AppError::not_found("grant"))?;
    state
        .store
        .revoke_grant(ctx.org_id(), kind, id, grant, ctx.actor())
        .await?;
    Ok(Mutation::ok(Deleted {
        id: grant.to_string(),
    }))
}
