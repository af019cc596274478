//! The GitHub webhook endpoint on both engines, through a real server: every payload fixture and
//! signature vector, the refusals (401, 400, 413, 503), push → one reconcile per (target, head),
//! redeliveries and concurrent copies, branch deletion, the lifecycle events of DESIGN flow 7,
//! zero writes on a bad signature, and tenancy.

mod common;
#[path = "webhooks/fixtures.rs"]
mod fixtures;
mod gitrepo;
#[path = "webhooks/lifecycle.rs"]
mod lifecycle;
#[path = "webhooks/pushes.rs"]
mod pushes;
#[path = "webhooks/support.rs"]
mod support;
