//! Storage on SQLite and PostgreSQL: one query path ([`db`]), migrations, the queries of each aggregate,
//! the job queue and encryption at rest.

pub mod accounts;
pub mod audit;
pub mod connectors;
pub mod crypto;
pub mod db;
pub mod members;
pub mod model;
pub mod queue;
pub mod registry;
pub mod rekey;
pub mod secret;
pub mod settings;
pub mod teams;
pub mod tokens;

use std::sync::{Arc, RwLock};

pub use crypto::{Aad, KeyRing};
pub use db::{Backend, Db, Sql, Tx, postgres_options, sql};
use trove_core::{TokenId, UserId};

/// Who performed a change, for the audit log.
#[derive(Debug, Clone, Copy, Default)]
pub struct Actor {
    /// The user, when a person (or their token) acted.
    pub user_id: Option<UserId>,
    /// The API token, when one was used.
    pub token_id: Option<TokenId>,
}

/// The store: the database and the encryption keys.
#[derive(Clone, Debug)]
pub struct Store {
    /// The database pool.
    pub db: Db,
    keys: Arc<RwLock<KeyRing>>,
}

impl Store {
    /// A store over a migrated database.
    pub fn new(db: Db, keys: KeyRing) -> Self {
        Self {
            db,
            keys: Arc::new(RwLock::new(keys)),
        }
    }

    /// A snapshot of the key ring.
    pub fn keys(&self) -> KeyRing {
        self.keys.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Replaces the key ring (after a rotation added a key).
    pub fn set_keys(&self, keys: KeyRing) {
        *self.keys.write().unwrap_or_else(|p| p.into_inner()) = keys;
    }
}

/// Keyset paging of one list: at most `limit` rows after the row with id `after`.
#[derive(Debug, Clone, Copy)]
pub struct PageRequest {
    /// Page size (already clamped to 1..=200).
    pub limit: u32,
    /// The id of the last row of the previous page.
    pub after: Option<uuid::Uuid>,
}

impl PageRequest {
    /// The first page of `limit` rows.
    pub fn first(limit: u32) -> Self {
        Self { limit, after: None }
    }

    /// How many rows to fetch: one more than the page, to know whether another page follows.
    pub fn fetch(&self) -> i64 {
        i64::from(self.limit) + 1
    }
}
