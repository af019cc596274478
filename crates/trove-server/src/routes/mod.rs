//! The REST API: one module per resource, each contributing its routes and their OpenAPI entries.

pub mod access;
pub mod audit;
pub mod auth;
pub mod config_objects;
pub mod connectors;
pub mod marketplaces;
pub mod me;
pub mod members;
pub mod object_types;
pub mod orgs;
pub mod plugins;
pub mod system;
pub mod teams;
pub mod tokens;
pub mod webhooks;

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
        .merge(config_objects::router())
        .merge(object_types::router())
        .merge(plugins::router())
        .merge(marketplaces::router())
        .merge(connectors::router())
        .merge(webhooks::router())
}
