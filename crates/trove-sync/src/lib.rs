//! Reconcile and apply (snapshot, discovery, plan, store), and the background job handlers.

pub mod jobs;
