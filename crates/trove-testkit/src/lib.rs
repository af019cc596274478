//! Test support: a fresh database per test on SQLite and on PostgreSQL, and helpers to run the same
//! test body on both.
//!
//! PostgreSQL tests read `TROVE_TEST_POSTGRES_URL` (a server URL; the harness creates its own
//! databases there). Without it they are skipped with a loud message, except under CI (`CI` set), where
//! a missing URL fails the test so a green run always means both engines were tested.

pub mod db;
pub mod github;
pub mod server;

pub use db::{TestDb, postgres_url};
pub use server::{Reply, TestOrg, TestServer, bootstrap};

/// Declares, for each `async fn name(db: &TestDb)` given, a module `name` with two tests, `sqlite` and
/// `postgres`, that run the function on a fresh database of each engine.
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let db = $crate::TestDb::sqlite().await;
                super::$name(&db).await;
                db.finish().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some(db) = $crate::TestDb::postgres().await else { return };
                super::$name(&db).await;
                db.finish().await;
            }
        }
    )*};
}
