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
