//! Per-test databases.

use sqlx::postgres::PgConnectOptions;
use sqlx::{AssertSqlSafe, Connection, PgConnection};
use trove_store::{Db, KeyRing, Store};

/// The environment variable naming the PostgreSQL server for tests.
pub const POSTGRES_ENV: &str = "TROVE_TEST_POSTGRES_URL";

/// The PostgreSQL URL for tests, or `None` when PostgreSQL tests should be skipped. Panics under CI when
/// the URL is missing: CI must test both engines.
pub fn postgres_url() -> Option<String> {
    match std::env::var(POSTGRES_ENV) {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var_os("CI").is_some() => {
            panic!("{POSTGRES_ENV} is not set, but CI must run every PostgreSQL test")
        }
        _ => {
            eprintln!(
                "SKIPPED: PostgreSQL test (set {POSTGRES_ENV}=postgres://postgres@127.0.0.1:5432/postgres to run it)"
            );
            None
        }
    }
}

/// A database for one test, removed by [`TestDb::finish`].
pub struct TestDb {
    /// The store over the test database, with a fresh key ring.
    pub store: Store,
    /// A scratch directory for the test (the SQLite file lives here).
    pub dir: tempfile::TempDir,
    /// The URL of the database (for a server or CLI started by the test).
    pub url: String,
    pg: Option<(PgConnectOptions, String)>,
}

impl TestDb {
    /// A migrated SQLite database in a temporary directory.
    pub async fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("trove.db");
        let db = Db::open_sqlite(&path).await.expect("open sqlite");
        db.migrate().await.expect("migrate sqlite");
        Self {
            store: Store::new(db, KeyRing::generate(1)),
            url: format!("sqlite://{}", path.display()),
            dir,
            pg: None,
        }
    }

    /// A migrated PostgreSQL database copied from a template, or `None` when PostgreSQL tests are
    /// skipped.
    pub async fn postgres() -> Option<Self> {
        let url = postgres_url()?;
        let admin = trove_store::postgres_options(&url).expect("valid TROVE_TEST_POSTGRES_URL");
        let template = ensure_template(&admin).await;
        let name = format!(
            "trove_t_{}_{}",
            std::process::id(),
            uuid::Uuid::now_v7().simple()
        );
        let mut conn = PgConnection::connect_with(&admin)
            .await
            .expect("connect to PostgreSQL");
        sqlx::query(AssertSqlSafe(format!(
            r#"CREATE DATABASE "{name}" TEMPLATE "{template}""#
        )))
        .execute(&mut conn)
        .await
        .expect("create test database");
        conn.close().await.ok();
        let options = admin.clone().database(&name);
        let db = Db::connect_postgres(options, 8)
            .await
            .expect("connect test database");
        let dir = tempfile::tempdir().expect("temp dir");
        Some(Self {
            store: Store::new(db, KeyRing::generate(1)),
            url: replace_database(&url, &name),
            dir,
            pg: Some((admin, name)),
        })
    }

    /// The database's engine name (`sqlite` or `postgres`).
    pub fn engine(&self) -> &'static str {
        self.store.db.backend().name()
    }

    /// Closes the pool and drops the PostgreSQL database.
    pub async fn finish(self) {
        self.store.db.close().await;
        if let Some((admin, name)) = self.pg
            && let Ok(mut conn) = PgConnection::connect_with(&admin).await
        {
            let _ = sqlx::query(AssertSqlSafe(format!(
                r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#
            )))
            .execute(&mut conn)
            .await;
        }
    }
}

/// Swaps the database name in a PostgreSQL URL.
fn replace_database(url: &str, name: &str) -> String {
    let mut parsed = url::Url::parse(url).expect("valid URL");
    parsed.set_path(&format!("/{name}"));
    parsed.to_string()
}

/// A name for the template that changes whenever the migrations compiled into this test binary change
/// (keyed on what `migrate!` embedded, not on the files on disk, which may be newer than the build).
fn template_name() -> String {
    format!(
        "trove_tmpl_{}",
        trove_store::db::postgres_migrations_fingerprint()
    )
}

/// Creates the migrated template database once (under an advisory lock, since tests run in parallel
/// processes), and drops databases left behind by test processes that no longer exist.
async fn ensure_template(admin: &PgConnectOptions) -> String {
    let name = template_name();
    let mut conn = PgConnection::connect_with(admin)
        .await
        .expect("connect to PostgreSQL");
    sqlx::query("SELECT pg_advisory_lock(72010)")
        .execute(&mut conn)
        .await
        .expect("advisory lock");
    let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
        .bind(&name)
        .fetch_optional(&mut conn)
        .await
        .expect("look up template");
    if exists.is_none() {
        sqlx::query(AssertSqlSafe(format!(r#"CREATE DATABASE "{name}""#)))
            .execute(&mut conn)
            .await
            .expect("create template");
        let db = Db::connect_postgres(admin.clone().database(&name), 1)
            .await
            .expect("connect template");
        db.migrate().await.expect("migrate template");
        db.close().await;
        drop_stale(&mut conn).await;
    }
    sqlx::query("SELECT pg_advisory_unlock(72010)")
        .execute(&mut conn)
        .await
        .ok();
    conn.close().await.ok();
    name
}

async fn drop_stale(conn: &mut PgConnection) {
    let names: Vec<String> = sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE 'trove_t_%' OR datname LIKE 'trove_tmpl_%'")
        .fetch_all(&mut *conn)
        .await
        .unwrap_or_default();
    let current = template_name();
    for name in names {
        let stale = if let Some(rest) = name.strip_prefix("trove_t_") {
            rest.split('_')
                .next()
                .and_then(|pid| pid.parse::<u32>().ok())
                .is_some_and(|pid| !std::path::Path::new(&format!("/proc/{pid}")).exists())
        } else {
            name != current
        };
        if stale {
            let _ = sqlx::query(AssertSqlSafe(format!(
                r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#
            )))
            .execute(&mut *conn)
            .await;
        }
    }
}
