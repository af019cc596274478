//! The registry: config objects and their versions, plugins, marketplaces, and who may see or change
//! them ([`access`]).

pub mod access;
pub mod batch;
pub mod import;
pub mod marketplaces;
pub mod memberships;
pub mod objects;
pub mod plugins;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The lifecycle state of a config object, plugin or marketplace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// In use.
    Active,
    /// Kept, but no longer delivered and no longer lending visibility to its contents.
    Archived,
    /// Soft-deleted: hidden from lists unless asked for, restorable.
    Deleted,
}

impl Status {
    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Archived => "archived",
            Self::Deleted => "deleted",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Status {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "active" => Ok(Self::Active),
            "archived" => Ok(Self::Archived),
            "deleted" => Ok(Self::Deleted),
            other => Err(format!(
                "unknown status `{other}` (expected active, archived or deleted)"
            )),
        }
    }
}

impl TryFrom<String> for Status {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

/// The kind of a config object.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ObjectType {
    /// A skill folder (SKILL.md plus its files).
    Skill,
    /// An agent (`agents/*.md`).
    Agent,
    /// A slash command (`commands/*.md`).
    Command,
    /// A hook configuration (hooks JSON).
    Hook,
    /// An MCP server configuration.
    Mcp,
    /// An LSP server configuration.
    Lsp,
    /// An output style.
    OutputStyle,
    /// Context (e.g. CLAUDE.md).
    Context,
    /// Anything else.
    Custom,
}

impl ObjectType {
    /// Every type, in a stable order.
    pub const ALL: [ObjectType; 9] = [
        Self::Skill,
        Self::Agent,
        Self::Command,
        Self::Hook,
        Self::Mcp,
        Self::Lsp,
        Self::OutputStyle,
        Self::Context,
        Self::Custom,
    ];

    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Skill => "skill",
            Self::Agent => "agent",
            Self::Command => "command",
            Self::Hook => "hook",
            Self::Mcp => "mcp",
            Self::Lsp => "lsp",
            Self::OutputStyle => "output_style",
            Self::Context => "context",
            Self::Custom => "custom",
        }
    }
}

impl fmt::Display for ObjectType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ObjectType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| format!("unknown type `{s}` (expected one of skill, agent, command, hook, mcp, lsp, output_style, context, custom)"))
    }
}

impl TryFrom<String> for ObjectType {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}
