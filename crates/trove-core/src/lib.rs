//! Domain types shared by every Trove crate: typed ids, roles, the error type and time helpers.
//!
//! This crate does no I/O, so everything here can be used from the pure discovery code as well as from
//! the store and the server.

pub mod error;
pub mod id;
pub mod names;
pub mod page;
pub mod role;
pub mod time;

pub use error::{AppError, AppResult, ForbiddenKind};
pub use id::*;
pub use role::{OrgRole, ResourceRole};
pub use time::Timestamp;
