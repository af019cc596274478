//! Writes made by a connector import, never as a user.
//!
//! The reference implementation ran imports as the connector's creator (with that person's current
//! role, and a manager grant for them on everything imported). Here the connector itself is the
//! author: objects get `source_mode = 'connector'`, `connector_instance_id` set, `created_by` NULL
//! and no creator grant; who may see them is decided by grants on the plugins and marketplaces.
//! Every function works inside the caller's transaction: the reconcile writes one plugin (its row,
//! objects, versions, bindings and memberships) per transaction, with multi-row statements, so a
//! plugin of fifty components costs a handful of round trips rather than hundreds.

mod objects;
mod plugins;

pub use plugins::ImportedState;

use serde_json::Value;

use super::plugins::{Person, PluginMetadata};
use crate::Actor;

/// A plugin as an import describes it (from `plugin.json` and the marketplace entry).
#[derive(Debug, Clone, Default)]
pub struct ImportedPlugin {
    /// The plugin name.
    pub name: String,
    /// Its version string.
    pub version: Option<String>,
    /// What it does.
    pub description: String,
    /// Author, homepage, repository, license, keywords, category, tags.
    pub metadata: PluginMetadata,
}

/// A marketplace as an import describes it (from `marketplace.json`).
#[derive(Debug, Clone, Default)]
pub struct ImportedMarketplace {
    /// `name` from `marketplace.json`.
    pub name: String,
    /// `description` from `marketplace.json`.
    pub description: String,
    /// The `owner` object.
    pub owner: Option<Person>,
}

/// A person from a manifest's free-form `author` / `owner` value (a name is required).
pub fn person_from_json(value: Option<&Value>) -> Option<Person> {
    let obj = value?.as_object()?;
    let text = |k: &str| {
        obj.get(k)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    Some(Person {
        name: text("name")?,
        email: text("email"),
        url: text("url"),
    })
}

/// The connector as the actor of audit entries: no user, no token.
fn connector_actor() -> Actor {
    Actor::default()
}
