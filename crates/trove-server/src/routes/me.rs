//! `GET /v1/me`: who the caller is.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use trove_core::OrgId;
use trove_store::model::User;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Caller, Credential};
use crate::envelope::Item;
use crate::error::ApiResult;
use crate::state::AppState;

/// The caller.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Me {
    /// The user.
    pub user: User,
    /// `token` or `session`.
    pub authenticated_by: String,
    /// The org an API token is bound to; `null` for sessions.
    pub token_org_id: Option<OrgId>,
}

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_me))
}

/// The authenticated user.
#[utoipa::path(get, path = "/v1/me", tag = "auth", responses((status = 200, body = Item<Me>)))]
async fn get_me(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Item<Me>>> {
    let user = state.store.user(caller.user_id).await?;
    let (by, org) = match caller.credential {
        Credential::Token { org_id, .. } => ("token", Some(org_id)),
        Credential::Session => ("session", None),
    };
    Ok(Json(Item {
        item: Me {
            user,
            authenticated_by: by.into(),
            token_org_id: org,
        },
    }))
}
