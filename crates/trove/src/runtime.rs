//! Wiring: logging, opening the store (database, migrations, keys), and first-start bootstrap.

use std::path::Path;

use anyhow::{Context, Result, bail};
use trove_store::{Db, KeyRing, Store};

use crate::config::{LogFormat, Settings};

/// Starts logging to stderr. `RUST_LOG` overrides the default filter.
pub fn init_logging(format: LogFormat, long_running: bool) {
    // A server or worker reports what it does; a one-shot command's output is its result (and its
    // progress bar), so it logs only what went wrong. `RUST_LOG` overrides either.
    let default = if long_running {
        "info,sqlx=warn,tower_http=info"
    } else {
        "warn"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // Colours only for a person at a terminal: a file or a log collector gets plain text.
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Pretty => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// Where the key ring came from, so a rotation knows where to write.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// `TROVE_ENCRYPTION_KEYS`.
    Env,
    /// The generated key file in the data directory.
    File(std::path::PathBuf),
}

/// Loads the key ring: from `TROVE_ENCRYPTION_KEYS`, else from the data directory's key file, which is
/// created on first use (SQLite only: replicas sharing a PostgreSQL database must share keys, so there a
/// missing key is an error that says what to do).
pub fn load_keys(settings: &Settings) -> Result<(KeyRing, KeySource)> {
    if let Some(spec) = settings
        .encryption_keys
        .as_deref()
        .filter(|s| !s.trim().is_empty())
    {
        return Ok((KeyRing::parse(spec)?, KeySource::Env));
    }
    let path = settings.key_file();
    if settings.is_postgres() && !path.exists() {
        bail!(
            "TROVE_ENCRYPTION_KEYS is not set. With PostgreSQL every replica must use the same keys: \
             generate them once with `trove admin keys generate` and set TROVE_ENCRYPTION_KEYS on every replica"
        );
    }
    ensure_data_dir(&settings.data_dir)?;
    let (ring, created) = KeyRing::load_or_create_file(&path)?;
    if created {
        eprintln!(
            "Trove generated an encryption key in {} (mode 0600). Back it up: without it the encrypted \
             data cannot be read.",
            path.display()
        );
    }
    Ok((ring, KeySource::File(path)))
}

/// Creates the data directory (mode 0700) when it is missing.
pub fn ensure_data_dir(dir: &Path) -> Result<()> {
    if !dir.exists() {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder
            .create(dir)
            .with_context(|| format!("cannot create the data directory {}", dir.display()))?;
    }
    Ok(())
}

/// Opens the database (creating the SQLite file and data directory when needed) and, when `migrate` is
/// set, applies pending migrations.
pub async fn open_db(settings: &Settings, migrate: bool) -> Result<Db> {
    if !settings.is_postgres() {
        ensure_data_dir(&settings.data_dir)?;
    }
    let db = Db::connect(&settings.database_url()).await?;
    if migrate {
        db.migrate().await?;
    } else if !db.is_migrated().await? {
        bail!("the database has pending migrations: run `trove migrate` first");
    }
    Ok(db)
}

/// Opens the store: database plus keys.
pub async fn open_store(settings: &Settings, migrate: bool) -> Result<(Store, KeySource)> {
    let db = open_db(settings, migrate).await?;
    let (keys, source) = load_keys(settings)?;
    Ok((Store::new(db, keys), source))
}

/// The first start against an empty database: creates org `default` and owner `admin@localhost` with a
/// generated password and API token, and prints them once.
pub async fn bootstrap_if_empty(store: &Store, base_url: &str) -> Result<()> {
    if store.has_orgs().await? {
        return Ok(());
    }
    let password = trove_store::secret::random_password();
    let (org, user, token) = store
        .bootstrap("default", "admin@localhost", Some(&password))
        .await?;
    println!(
        "\nTrove created organization `{}` and its owner. These secrets are shown only this once:\n\n  \
         email:     {}\n  password:  {}\n  API token: {}\n\nTry: curl -H 'Authorization: Bearer {}' {}/v1/me\n",
        org.slug, user.email, password, token, token, base_url
    );
    Ok(())
}

/// Starts the background worker with every job handler, reading repositories through `sources`
/// ([`Settings::sources`]); it stops when `shutdown` is cancelled, after finishing (or releasing) the
/// jobs it runs.
pub fn spawn_worker(
    settings: &Settings,
    store: Store,
    keys: KeySource,
    concurrency: usize,
    shutdown: tokio_util::sync::CancellationToken,
    sources: std::sync::Arc<dyn trove_sources::RepositorySource>,
) -> tokio::task::JoinHandle<()> {
    let reload: trove_sync::jobs::KeyReloader = match keys {
        KeySource::Env => std::sync::Arc::new(|| None),
        KeySource::File(path) => std::sync::Arc::new(move || {
            Some(
                std::fs::read_to_string(&path)
                    .map_err(trove_core::AppError::internal)
                    .and_then(|t| KeyRing::parse(&t)),
            )
        }),
    };
    let resync_interval_ms = trove_sync::jobs::resync_interval_ms(Some(&settings.resync_interval))
        .unwrap_or_else(|e| {
            tracing::warn!(error = %e, "ignoring TROVE_RESYNC_INTERVAL; using 10 minutes");
            trove_sync::jobs::DEFAULT_RESYNC_INTERVAL_MS
        });
    let sync = trove_sync::jobs::SyncJobs::start(&store, sources, resync_interval_ms);
    let handlers = trove_sync::jobs::handlers(store.clone(), reload, Some(sync));
    let config = trove_store::queue::worker::WorkerConfig {
        concurrency: concurrency.max(1),
        ..Default::default()
    };
    let worker = trove_store::queue::worker::Worker::new(&store, handlers, config);
    tokio::spawn(worker.run(shutdown))
}
