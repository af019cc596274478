//! One query path for SQLite and PostgreSQL.
//!
//! Every statement is written once, with `$1`-style placeholders that both engines accept (on SQLite
//! they are rewritten to positional `?`, see [`placeholders`]), and its arguments are collected as
//! `sea_query::Value`s, which `sea-query-sqlx` turns into either engine's arguments. [`Db`] (a pool)
//! and [`Tx`] (a transaction) run such a [`Sql`] on whichever engine they hold. Only DDL and a few
//! clauses (row locks) differ per engine; [`Backend`] says which one is in use.

mod placeholders;

use std::borrow::Cow;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sea_query::{Value, Values};
use sea_query_sqlx::SqlxValues;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow, PgSslMode};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{AssertSqlSafe, FromRow, Postgres, Sqlite};
use trove_core::{AppError, AppResult};

/// Which database engine a [`Db`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite (one node).
    Sqlite,
    /// PostgreSQL (several API replicas and workers).
    Postgres,
}

impl Backend {
    /// The row-lock clause for a claim: PostgreSQL skips rows other workers hold; SQLite has a single
    /// writer, which serialises claims by itself, and no such clause.
    pub fn skip_locked(self) -> &'static str {
        match self {
            Self::Sqlite => "",
            Self::Postgres => " FOR UPDATE SKIP LOCKED",
        }
    }

    /// The row-lock clause that makes concurrent writers of the same rows wait for each other
    /// (PostgreSQL); SQLite's `BEGIN IMMEDIATE` already serialises writers.
    pub fn for_update(self) -> &'static str {
        match self {
            Self::Sqlite => "",
            Self::Postgres => " FOR UPDATE",
        }
    }

    /// A short name for logs and metrics.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

/// A connection pool on either engine.
#[derive(Clone, Debug)]
pub enum Db {
    /// SQLite in WAL mode.
    Sqlite(SqlitePools),
    /// PostgreSQL.
    Postgres(PgPool),
}

/// SQLite's connections: one that every write transaction takes in turn, and the rest for
/// statements outside a transaction.
///
/// SQLite lets one transaction write at a time anyway; queueing for a single writer connection
/// replaces waiting in its busy handler (which sleeps and retries), and the writer keeps its page
/// cache. A connection discards its whole cache once another connection has written, and the pool
/// hands out its connections in turn, so with several writer connections nearly every write
/// transaction began by reading its pages back from the file.
#[derive(Clone, Debug)]
pub struct SqlitePools {
    /// Write transactions ([`Db::begin`]).
    write: SqlitePool,
    /// Everything else.
    read: SqlitePool,
}

/// A statement and its arguments.
#[derive(Debug, Clone)]
pub struct Sql {
    text: Cow<'static, str>,
    args: Vec<Value>,
}

/// Starts a statement.
pub fn sql(text: impl Into<Cow<'static, str>>) -> Sql {
    Sql {
        text: text.into(),
        args: Vec::new(),
    }
}

impl Sql {
    /// Adds the next positional argument (`$1`, `$2`, … in the order of the calls).
    pub fn bind(mut self, value: impl Into<Value>) -> Self {
        self.args.push(value.into());
        self
    }

    /// Adds an argument and returns its placeholder, for statements assembled piece by piece.
    pub fn push_arg(&mut self, value: impl Into<Value>) -> String {
        self.args.push(value.into());
        format!("${}", self.args.len())
    }

    /// Appends text to the statement.
    pub fn push(&mut self, text: &str) {
        self.text.to_mut().push_str(text);
    }

    /// How many arguments are bound.
    pub fn arg_count(&self) -> usize {
        self.args.len()
    }

    /// The statement text.
    pub fn text(&self) -> &str {
        &self.text
    }

    fn parts(self, backend: Backend) -> (AssertSqlSafe<String>, SqlxValues) {
        let (text, args) = match backend {
            Backend::Sqlite => placeholders::positional(&self.text, self.args),
            Backend::Postgres => (self.text.into_owned(), self.args),
        };
        (AssertSqlSafe(text), SqlxValues(Values(args)))
    }
}

/// A row type that decodes from both engines' rows.
pub trait Row: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin {}
impl<T> Row for T where T: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin
{}

/// A scalar that decodes from both engines.
pub trait Scalar:
    for<'r> sqlx::Decode<'r, Sqlite>
    + sqlx::Type<Sqlite>
    + for<'r> sqlx::Decode<'r, Postgres>
    + sqlx::Type<Postgres>
    + Send
    + Unpin
{
}
impl<T> Scalar for T where
    T: for<'r> sqlx::Decode<'r, Sqlite>
        + sqlx::Type<Sqlite>
        + for<'r> sqlx::Decode<'r, Postgres>
        + sqlx::Type<Postgres>
        + Send
        + Unpin
{
}

/// Maps a database error to the one error type: unique violations become 409, an exhausted pool or a
/// lost connection 503, everything else 500.
pub fn db_error(error: sqlx::Error) -> AppError {
    match &error {
        sqlx::Error::Database(db) if db.is_unique_violation() => AppError::conflict(
            "already_exists",
            "a resource with these values already exists",
        ),
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
            tracing::warn!(%error, "database unavailable");
            AppError::Unavailable("the database is unavailable; try again shortly".into())
        }
        _ => AppError::internal(error),
    }
}

/// Runs one body against whichever engine an executor holds. `$conn` is bound to a value usable as a
/// sqlx executor for that engine.
macro_rules! on_engine {
    ($self:expr, $conn:ident => $body:expr) => {
        match $self {
            Exec::Sqlite($conn) => $body,
            Exec::Postgres($conn) => $body,
        }
    };
}

/// What statements run on: a pool or a transaction's connection, of either engine.
enum Exec<'a> {
    Sqlite(&'a mut sqlx::SqliteConnection),
    Postgres(&'a mut sqlx::PgConnection),
}

impl Exec<'_> {
    fn backend(&self) -> Backend {
        match self {
            Self::Sqlite(_) => Backend::Sqlite,
            Self::Postgres(_) => Backend::Postgres,
        }
    }

    async fn execute(self, q: Sql) -> AppResult<u64> {
        let (text, args) = q.parts(self.backend());
        on_engine!(self, c => sqlx::query_with(text, args).execute(c).await.map(|r| r.rows_affected()))
            .map_err(db_error)
    }

    async fn fetch_all<T: Row>(self, q: Sql) -> AppResult<Vec<T>> {
        let (text, args) = q.parts(self.backend());
        on_engine!(self, c => sqlx::query_as_with(text, args).fetch_all(c).await).map_err(db_error)
    }

    async fn fetch_optional<T: Row>(self, q: Sql) -> AppResult<Option<T>> {
        let (text, args) = q.parts(self.backend());
        on_engine!(self, c => sqlx::query_as_with(text, args).fetch_optional(c).await)
            .map_err(db_error)
    }

    async fn scalar<T: Scalar>(self, q: Sql) -> AppResult<Option<T>> {
        let (text, args) = q.parts(self.backend());
        on_engine!(self, c => sqlx::query_scalar_with(text, args).fetch_optional(c).await)
            .map_err(db_error)
    }
}

/// The statement-running methods shared by [`Db`] and [`Tx`].
macro_rules! query_methods {
    () => {
        /// Runs a statement and returns the number of rows it changed.
        pub async fn execute(&mut self, q: Sql) -> AppResult<u64> {
            self.exec().await?.execute(q).await
        }

        /// Runs a query and decodes every row.
        pub async fn fetch_all<T: Row>(&mut self, q: Sql) -> AppResult<Vec<T>> {
            self.exec().await?.fetch_all(q).await
        }

        /// Runs a query and decodes the first row, if any.
        pub async fn fetch_optional<T: Row>(&mut self, q: Sql) -> AppResult<Option<T>> {
            self.exec().await?.fetch_optional(q).await
        }

        /// Runs a query that must return a row.
        pub async fn fetch_one<T: Row>(&mut self, q: Sql, missing: &'static str) -> AppResult<T> {
            self.fetch_optional(q)
                .await?
                .ok_or(AppError::NotFound { resource: missing })
        }

        /// Runs a query and decodes the first column of the first row, if any.
        pub async fn scalar<T: Scalar>(&mut self, q: Sql) -> AppResult<Option<T>> {
            self.exec().await?.scalar(q).await
        }
    };
}

/// A pool connection held for a few statements outside a transaction.
pub struct Conn {
    inner: ConnInner,
}

enum ConnInner {
    Sqlite(sqlx::pool::PoolConnection<Sqlite>),
    Postgres(sqlx::pool::PoolConnection<Postgres>),
}

impl Conn {
    async fn exec(&mut self) -> AppResult<Exec<'_>> {
        Ok(match &mut self.inner {
            ConnInner::Sqlite(c) => Exec::Sqlite(&mut *c),
            ConnInner::Postgres(c) => Exec::Postgres(&mut *c),
        })
    }
    query_methods!();
}

/// A transaction on either engine. Dropped without [`Tx::commit`], it rolls back.
pub struct Tx {
    inner: TxInner,
    backend: Backend,
}

enum TxInner {
    Sqlite(sqlx::Transaction<'static, Sqlite>),
    Postgres(sqlx::Transaction<'static, Postgres>),
}

impl Tx {
    async fn exec(&mut self) -> AppResult<Exec<'_>> {
        Ok(match &mut self.inner {
            TxInner::Sqlite(t) => Exec::Sqlite(&mut *t),
            TxInner::Postgres(t) => Exec::Postgres(&mut *t),
        })
    }
    query_methods!();

    /// Which engine this transaction runs on.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Commits.
    pub async fn commit(self) -> AppResult<()> {
        match self.inner {
            TxInner::Sqlite(t) => t.commit().await,
            TxInner::Postgres(t) => t.commit().await,
        }
        .map_err(db_error)
    }
}

/// How long a pooled PostgreSQL connection may sit idle before it is checked when handed out.
const PING_WHEN_IDLE_FOR: Duration = Duration::from_secs(1);

/// Prepared statements kept per connection. Multi-row inserts have one text per row count, so
/// the driver's default (100) would evict and re-prepare them batch after batch.
const STATEMENT_CACHE: usize = 1024;

/// Whether a PostgreSQL URL reaches a server on this machine over TCP without saying which TLS
/// mode it wants (neither `sslmode` in the URL nor `PGSSLMODE`).
///
/// Such a connection is made without TLS: loopback traffic never leaves the machine, and the
/// driver writes each 16 KiB TLS record separately without `TCP_NODELAY`, so every statement
/// longer than one record waited ~40 ms for a delayed acknowledgement (a cold import of 10,000
/// files took 9 s instead of 2.7 s). A URL that sets `sslmode` is always obeyed.
fn loopback_without_tls_choice(url: &str) -> bool {
    let Ok(parsed) = url::Url::parse(url) else {
        return false;
    };
    let chose_tls = parsed
        .query_pairs()
        .any(|(k, _)| k == "sslmode" || k == "ssl-mode")
        || std::env::var_os("PGSSLMODE").is_some();
    let loopback = match parsed.host() {
        // `postgres:` is not a special scheme, so the URL parser leaves IP addresses as names.
        Some(url::Host::Domain(d)) => {
            d.eq_ignore_ascii_case("localhost")
                || d.trim_start_matches('[')
                    .trim_end_matches(']')
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    // A `host=/path` query parameter means a Unix socket: no TLS is involved either way.
    let unix_socket = parsed.query_pairs().any(|(k, _)| k == "host");
    loopback && !chose_tls && !unix_socket
}

/// The connection options Trove uses for a `postgres://` URL: the URL's own settings, a larger
/// statement cache, and no TLS on loopback unless the URL (or `PGSSLMODE`) asks for it.
pub fn postgres_options(url: &str) -> AppResult<PgConnectOptions> {
    let mut options = PgConnectOptions::from_str(url)
        .map_err(|e| AppError::bad_request(format!("invalid PostgreSQL URL: {e}")))?
        .statement_cache_capacity(STATEMENT_CACHE);
    if loopback_without_tls_choice(url) {
        options = options.ssl_mode(PgSslMode::Disable);
    }
    Ok(options)
}

impl Db {
    /// Connects to `url`: `postgres://…` for PostgreSQL, `sqlite://path` (or a bare path) for SQLite.
    pub async fn connect(url: &str) -> AppResult<Self> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Self::connect_postgres(postgres_options(url)?, 16).await
        } else {
            let path = url.strip_prefix("sqlite://").unwrap_or(url);
            let path = path.split('?').next().unwrap_or(path);
            Self::open_sqlite(Path::new(path)).await
        }
    }

    /// Connects to PostgreSQL with a pool of at most `max` connections.
    pub async fn connect_postgres(options: PgConnectOptions, max: u32) -> AppResult<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(max)
            .acquire_timeout(Duration::from_secs(10))
            // A liveness round trip before every statement doubled the round trips of the short
            // statements the engine runs one by one. Only a connection that sat idle long enough
            // for the server to have restarted meanwhile (a restart takes longer than this) is
            // checked; a busy one is handed out as it is.
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for >= PING_WHEN_IDLE_FOR {
                        sqlx::Connection::ping(conn).await?;
                    }
                    Ok(true)
                })
            })
            .connect_with(options)
            .await
            .map_err(|e| {
                AppError::Unavailable(format!("cannot connect to PostgreSQL: {}", redact(&e)))
            })?;
        Ok(Self::Postgres(pool))
    }

    /// Opens (creating if needed) an SQLite database file in WAL mode.
    pub async fn open_sqlite(path: &Path) -> AppResult<Self> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // NORMAL in WAL mode survives a killed process (the WAL is written before commit returns);
            // only a power loss can drop the last transactions.
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(15))
            .foreign_keys(true)
            // Statement journals (a multi-row write inside a transaction keeps one, to undo just
            // that statement) in memory rather than in temporary files: a file costs system calls
            // on every page the statement changes.
            .pragma("temp_store", "memory")
            .statement_cache_capacity(STATEMENT_CACHE);
        let pool = |connections: u32| {
            SqlitePoolOptions::new()
                .max_connections(connections)
                .acquire_timeout(Duration::from_secs(15))
                // A connection to a local file does not go stale; the default check costs a round
                // trip to the connection's thread on every acquire.
                .test_before_acquire(false)
                .connect_with(options.clone())
        };
        let opened = async { Ok::<_, sqlx::Error>((pool(1).await?, pool(8).await?)) };
        let (write, read) = opened.await.map_err(|e| {
            AppError::Unavailable(format!(
                "cannot open the SQLite database {}: {e}",
                path.display()
            ))
        })?;
        Ok(Self::Sqlite(SqlitePools { write, read }))
    }

    /// Which engine this is.
    pub fn backend(&self) -> Backend {
        match self {
            Self::Sqlite(_) => Backend::Sqlite,
            Self::Postgres(_) => Backend::Postgres,
        }
    }

    /// Starts a write transaction. On SQLite it takes the write lock at once (`BEGIN IMMEDIATE`), so a
    /// transaction never fails half-way when it upgrades from reading to writing.
    pub async fn begin(&self) -> AppResult<Tx> {
        let inner = match self {
            Self::Sqlite(p) => TxInner::Sqlite(
                p.write
                    .begin_with("BEGIN IMMEDIATE")
                    .await
                    .map_err(db_error)?,
            ),
            Self::Postgres(p) => TxInner::Postgres(p.begin().await.map_err(db_error)?),
        };
        Ok(Tx {
            inner,
            backend: self.backend(),
        })
    }

    /// Starts a transaction whose writes are recomputed when lost (caches, or a reconcile's writes,
    /// which its sync event's flushed commit makes durable). On PostgreSQL its commit does not
    /// wait for the WAL flush (`synchronous_commit = off` for this transaction only): it is
    /// visible to every other session at once, and a crash of the database server can lose at
    /// most the last fraction of a second of such commits, never leave them half-applied.
    /// SQLite's commits already skip the flush (`synchronous = NORMAL` in WAL mode), so there it
    /// is [`Db::begin`].
    pub async fn begin_relaxed(&self) -> AppResult<Tx> {
        match self {
            Self::Sqlite(_) => self.begin().await,
            // One round trip: a simple query may hold both statements, and the transaction stays
            // open after it.
            Self::Postgres(p) => Ok(Tx {
                inner: TxInner::Postgres(
                    p.begin_with("BEGIN; SET LOCAL synchronous_commit = off")
                        .await
                        .map_err(db_error)?,
                ),
                backend: Backend::Postgres,
            }),
        }
    }

    /// Takes a connection from the pool for statements outside a transaction.
    pub async fn conn(&self) -> AppResult<Conn> {
        let inner = match self {
            Self::Sqlite(p) => ConnInner::Sqlite(p.read.acquire().await.map_err(db_error)?),
            Self::Postgres(p) => ConnInner::Postgres(p.acquire().await.map_err(db_error)?),
        };
        Ok(Conn { inner })
    }

    /// Runs a statement on a pool connection.
    pub async fn execute(&self, q: Sql) -> AppResult<u64> {
        self.conn().await?.execute(q).await
    }

    /// Runs a query on a pool connection and decodes every row.
    pub async fn fetch_all<T: Row>(&self, q: Sql) -> AppResult<Vec<T>> {
        self.conn().await?.fetch_all(q).await
    }

    /// Runs a query on a pool connection and decodes the first row, if any.
    pub async fn fetch_optional<T: Row>(&self, q: Sql) -> AppResult<Option<T>> {
        self.conn().await?.fetch_optional(q).await
    }

    /// Runs a query that must return a row.
    pub async fn fetch_one<T: Row>(&self, q: Sql, missing: &'static str) -> AppResult<T> {
        self.conn().await?.fetch_one(q, missing).await
    }

    /// Runs a query and decodes the first column of the first row, if any.
    pub async fn scalar<T: Scalar>(&self, q: Sql) -> AppResult<Option<T>> {
        self.conn().await?.scalar(q).await
    }

    /// Applies every pending migration of this engine.
    pub async fn migrate(&self) -> AppResult<()> {
        match self {
            Self::Sqlite(p) => sqlx::migrate!("migrations/sqlite").run(&p.write).await,
            Self::Postgres(p) => sqlx::migrate!("migrations/postgres").run(p).await,
        }
        .map_err(|e| AppError::internal(format!("migration failed: {e}")))
    }

    /// Whether every migration this binary knows has been applied (for `/readyz`).
    pub async fn is_migrated(&self) -> AppResult<bool> {
        let expected = match self {
            Self::Sqlite(_) => sqlx::migrate!("migrations/sqlite").migrations.len(),
            Self::Postgres(_) => sqlx::migrate!("migrations/postgres").migrations.len(),
        } as i64;
        let applied: Option<i64> = self
            .scalar(sql(
                "SELECT COUNT(*) FROM _sqlx_migrations WHERE success = TRUE",
            ))
            .await
            .unwrap_or(None);
        Ok(applied.unwrap_or(0) >= expected)
    }

    /// Closes the pool, waiting for connections to be returned.
    pub async fn close(&self) {
        match self {
            Self::Sqlite(p) => {
                p.write.close().await;
                p.read.close().await;
            }
            Self::Postgres(p) => p.close().await,
        }
    }

    /// The PostgreSQL pool, for engine-specific features (LISTEN/NOTIFY).
    pub fn postgres_pool(&self) -> Option<&PgPool> {
        match self {
            Self::Postgres(p) => Some(p),
            Self::Sqlite(_) => None,
        }
    }
}

/// A fingerprint of the PostgreSQL migrations compiled into this binary (versions and checksums), so
/// test harnesses can tell whether a migrated template database matches this build.
pub fn postgres_migrations_fingerprint() -> String {
    use sha2::Digest as _;
    let mut hash = sha2::Sha256::new();
    for m in sqlx::migrate!("migrations/postgres").migrations.iter() {
        hash.update(m.version.to_be_bytes());
        hash.update(&m.checksum);
    }
    hex::encode(&hash.finalize()[..8])
}

/// A connection error without the password that the URL may hold.
fn redact(error: &sqlx::Error) -> String {
    match error {
        sqlx::Error::Configuration(_) => "invalid connection settings".into(),
        other => other.to_string(),
    }
}

/// Builds `IN ($n, $m, …)` for a list of values, pushing them as arguments.
pub fn in_list<V: Into<Value>>(q: &mut Sql, values: impl IntoIterator<Item = V>) -> String {
    let placeholders: Vec<String> = values.into_iter().map(|v| q.push_arg(v)).collect();
    if placeholders.is_empty() {
        // `IN ()` is invalid SQL; a list that matches nothing keeps the statement valid.
        "(NULL)".into()
    } else {
        format!("({})", placeholders.join(", "))
    }
}

#[cfg(test)]
mod tls_choice_tests {
    use super::loopback_without_tls_choice as plain;

    #[test]
    fn loopback_without_sslmode_goes_without_tls() {
        assert!(plain("postgres://postgres@127.0.0.1:5432/postgres"));
        assert!(plain("postgres://u:p@localhost/db"));
        assert!(plain("postgresql://u@[::1]:5432/db"));
    }

    #[test]
    fn an_explicit_choice_or_a_remote_host_is_left_alone() {
        assert!(!plain("postgres://u@127.0.0.1/db?sslmode=require"));
        assert!(!plain("postgres://u@localhost/db?ssl-mode=verify-full"));
        assert!(!plain("postgres://u@db.internal:5432/db"));
        assert!(!plain("postgres://u@10.0.0.5/db"));
        assert!(!plain("postgres://u@localhost/db?host=/var/run/postgresql"));
        assert!(!plain("not a url"));
    }
}
