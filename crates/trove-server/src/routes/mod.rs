//! The REST API: one module per resource, each contributing its routes and their OpenAPI entries.

pub mod audit;
pub mod auth;
pub mod me;
pub mod members;
pub mod orgs;
pub mod system;
pub mod teams;
pub mod tokens;

use utoipa_axum::router::OpenApiRouter;

use crate::state::AppState;

/// Every API route with its OpenAPI description.
pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(system::router())
        .merge(auth::router())
        .merge(me::router())
        .merge(orgs::router())
        .merge(members::router())
        .merge(teams::router())
        .merge(tokens::router())
        .merge(audit::router())
}
