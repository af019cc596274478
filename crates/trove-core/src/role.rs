//! Roles: an org member's role, and a role on one resource.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A member's role in an organization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum OrgRole {
    /// Full control, including other owners. An org always keeps at least one.
    Owner,
    /// Manages members, teams and every resource.
    Admin,
    /// Sees and edits what grants allow.
    Member,
}

impl OrgRole {
    /// Owners and admins hold the org capabilities (manage members, teams, connectors, grants).
    pub fn is_admin(self) -> bool {
        matches!(self, Self::Owner | Self::Admin)
    }

    /// The text stored in the database and shown in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Admin => "admin",
            Self::Member => "member",
        }
    }
}

impl fmt::Display for OrgRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for OrgRole {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "owner" => Ok(Self::Owner),
            "admin" => Ok(Self::Admin),
            "member" => Ok(Self::Member),
            other => Err(format!(
                "unknown org role `{other}` (expected owner, admin or member)"
            )),
        }
    }
}

/// A role on one resource. Ordered: `Viewer < Editor < Manager`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum ResourceRole {
    /// May see the resource.
    Viewer,
    /// May change its content.
    Editor,
    /// May change its access and lifecycle.
    Manager,
}

impl ResourceRole {
    /// The text stored in the database and shown in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Editor => "editor",
            Self::Manager => "manager",
        }
    }
}

impl fmt::Display for ResourceRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ResourceRole {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "viewer" => Ok(Self::Viewer),
            "editor" => Ok(Self::Editor),
            "manager" => Ok(Self::Manager),
            other => Err(format!(
                "unknown role `{other}` (expected viewer, editor or manager)"
            )),
        }
    }
}

impl TryFrom<String> for OrgRole {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl TryFrom<String> for ResourceRole {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_roles_are_ordered() {
        assert!(ResourceRole::Viewer < ResourceRole::Editor);
        assert!(ResourceRole::Editor < ResourceRole::Manager);
    }

    #[test]
    fn org_roles_round_trip() {
        for role in [OrgRole::Owner, OrgRole::Admin, OrgRole::Member] {
            assert_eq!(role.as_str().parse::<OrgRole>().unwrap(), role);
        }
        assert!("superuser".parse::<OrgRole>().is_err());
    }
}
