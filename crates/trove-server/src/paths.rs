//! Path parameters of nested resources. The `{org}` segment is resolved by [`crate::auth::OrgCtx`];
//! these structs name the others.

use serde::Deserialize;

/// `/v1/orgs/{org}/members/{member}`.
#[derive(Debug, Deserialize)]
pub struct MemberPath {
    /// The membership id.
    pub member: String,
}

/// `/v1/orgs/{org}/teams/{team}`.
#[derive(Debug, Deserialize)]
pub struct TeamPath {
    /// The team id.
    pub team: String,
}

/// `/v1/orgs/{org}/teams/{team}/members/{member}`.
#[derive(Debug, Deserialize)]
pub struct TeamMemberPath {
    /// The team id.
    pub team: String,
    /// The membership id.
    pub member: String,
}

/// `/v1/orgs/{org}/tokens/{token}`.
#[derive(Debug, Deserialize)]
pub struct TokenPath {
    /// The token id.
    pub token: String,
}

/// `/v1/orgs/{org}/plugins/{plugin}`.
#[derive(Debug, Deserialize)]
pub struct PluginPath {
    /// The plugin id.
    pub plugin: String,
}

/// `/v1/orgs/{org}/plugins/{plugin}/config-objects/{object}`.
#[derive(Debug, Deserialize)]
pub struct PluginObjectPath {
    /// The plugin id.
    pub plugin: String,
    /// The config object id.
    pub object: String,
}

/// `/v1/orgs/{org}/plugins/{plugin}/access/{grant}`.
#[derive(Debug, Deserialize)]
pub struct PluginGrantPath {
    /// The plugin id.
    pub plugin: String,
    /// The grant id.
    pub grant: String,
}

/// `/v1/orgs/{org}/marketplaces/{marketplace}`.
#[derive(Debug, Deserialize)]
pub struct MarketplacePath {
    /// The marketplace id.
    pub marketplace: String,
}

/// `/v1/orgs/{org}/marketplaces/{marketplace}/plugins/{plugin}`.
#[derive(Debug, Deserialize)]
pub struct MarketplacePluginPath {
    /// The marketplace id.
    pub marketplace: String,
    /// The plugin id.
    pub plugin: String,
}

/// `/v1/orgs/{org}/marketplaces/{marketplace}/access/{grant}`.
#[derive(Debug, Deserialize)]
pub struct MarketplaceGrantPath {
    /// The marketplace id.
    pub marketplace: String,
    /// The grant id.
    pub grant: String,
}
