//! Settings shared by every subcommand: where the data lives, which database, which keys, how to log.
//! Each comes from a flag or its environment variable.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Pretty,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Settings every subcommand that opens the database uses.
#[derive(Debug, Clone, Args)]
pub struct Settings {
    /// Directory for the embedded SQLite database, the generated encryption key file and caches.
    #[arg(
        long,
        env = "TROVE_DATA_DIR",
        default_value = "./trove-data",
        global = true
    )]
    pub data_dir: PathBuf,

    /// Database URL. A `postgres://` URL switches to PostgreSQL; the default is SQLite at
    /// `<data dir>/trove.db`.
    #[arg(
        long,
        env = "TROVE_DATABASE_URL",
        hide_env_values = true,
        global = true
    )]
    pub database_url: Option<String>,

    /// Encryption keys as `id:base64key[,id:base64key…]`, the first one active. Without it Trove keeps
    /// a generated key file (mode 0600) in the data directory. Required for PostgreSQL with several
    /// replicas, which must all share the same keys.
    #[arg(
        long,
        env = "TROVE_ENCRYPTION_KEYS",
        hide_env_values = true,
        global = true
    )]
    pub encryption_keys: Option<String>,

    /// Cache of fetched git repositories (bare, shallow). Defaults to `<data dir>/git-cache`.
    #[arg(long, env = "TROVE_GIT_CACHE_DIR", global = true)]
    pub git_cache_dir: Option<PathBuf>,

    /// How often every active target's branch head is checked, and reconciled when it moved
    /// (`30s`, `10m`, `1h`). GitHub does not retry failed webhook deliveries; this is the backstop.
    #[arg(
        long,
        env = "TROVE_RESYNC_INTERVAL",
        default_value = "10m",
        global = true
    )]
    pub resync_interval: String,

    /// Log format.
    #[arg(
        long,
        env = "TROVE_LOG_FORMAT",
        value_enum,
        default_value = "pretty",
        global = true
    )]
    pub log_format: LogFormat,
}

impl Settings {
    /// The database URL in use.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) if !url.is_empty() => url.clone(),
            _ => format!("sqlite://{}", self.data_dir.join("trove.db").display()),
        }
    }

    /// Whether the database is PostgreSQL.
    pub fn is_postgres(&self) -> bool {
        let url = self.database_url();
        url.starts_with("postgres://") || url.starts_with("postgresql://")
    }

    /// Where fetched git repositories are cached.
    pub fn git_cache_dir(&self) -> PathBuf {
        self.git_cache_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("git-cache"))
    }

    /// The git source shared by the server, the worker and the CLI.
    pub fn git_source(&self) -> std::sync::Arc<dyn trove_sources::RepositorySource> {
        std::sync::Arc::new(trove_sources::GitSource::new(
            self.git_cache_dir(),
            trove_sources::GitLimits::default(),
        ))
    }

    /// The generated key file's path.
    pub fn key_file(&self) -> PathBuf {
        self.data_dir.join("encryption-keys")
    }
}
