//! Connectors: accounts, instances, targets and mappings (where content comes from), selections,
//! bindings and tombstones (what was imported from where), discoveries (cached per commit) and sync
//! events (each reconciliation).

pub mod accounts;
pub mod bindings;
pub mod deliveries;
pub mod discoveries;
pub mod events;
pub mod install_states;
pub mod instances;
pub mod lifecycle;
pub mod mappings;
pub mod model;
pub mod selections;
pub mod targets;
