//! Reconcile and apply (snapshot, discovery, plan, store), and the background job handlers.

pub mod engine;
pub mod jobs;

pub use engine::{Engine, Faults, TargetDiscovery};
