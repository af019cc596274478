//! Settings shared by every subcommand: where the data lives, which database, which keys, how to log.
//! Each comes from a flag or its environment variable.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

mod github;
mod limits;

pub use github::GitHubSettings;
pub use limits::SourceLimitSettings;

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
#[command(next_help_heading = "Settings (every command)")]
pub struct Settings {
    /// Directory for the embedded SQLite database, the generated encryption key file and caches.
    #[arg(
        long,
        env = "TROVE_DATA_DIR",
        default_value = "./trove-data",
        global = true
    )]
    pub data_dir: PathBuf,

    /// Database URL. A `postgres://` URL switches to PostgreSQL (its `sslmode` is obeyed; a
    /// loopback host without one is reached without TLS); the default is SQLite at
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

    /// Bounds on one repository read.
    #[command(flatten)]
    pub limits: SourceLimitSettings,

    /// The GitHub App (optional: without it the GitHub routes answer 409 and only git URLs sync).
    #[command(flatten)]
    pub github: GitHubSettings,
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
            self.limits.git(),
        ))
    }

    /// The generated key file's path.
    pub fn key_file(&self) -> PathBuf {
        self.data_dir.join("encryption-keys")
    }

    /// What the server, the worker and `trove sync` read repositories through: the git source,
    /// and the GitHub App's REST source for GitHub targets when `github` is set. Share one `app`
    /// between the server and this router, so they share its tokens and ETag cache.
    pub fn sources(
        &self,
        github: Option<&trove_sources::GitHubApp>,
    ) -> std::sync::Arc<dyn trove_sources::RepositorySource> {
        let github = github.map(|app| {
            std::sync::Arc::new(trove_sources::GitHubSource::with_limits(
                app.clone(),
                self.limits.github(),
            )) as std::sync::Arc<dyn trove_sources::RepositorySource>
        });
        std::sync::Arc::new(trove_sources::SourceRouter::new(self.git_source(), github))
    }
}

/// The GitHub App's webhook secret, for `trove serve`. Without it the webhook endpoint answers 503.
#[derive(Clone, Args)]
pub struct WebhookSettings {
    /// The secret set on the GitHub App's webhook: deliveries are accepted only when their
    /// `X-Hub-Signature-256` is the HMAC-SHA256 of the body with it. Prefer the environment
    /// variable or `--github-webhook-secret-file` to a flag, which other users can see in `ps`.
    /// Without a secret, `POST /v1/webhooks/connectors/github` answers 503.
    #[arg(
        long,
        env = "TROVE_GITHUB_WEBHOOK_SECRET",
        hide_env_values = true,
        conflicts_with = "github_webhook_secret_file"
    )]
    pub github_webhook_secret: Option<String>,

    /// A file holding the webhook secret (one trailing newline is ignored), e.g. a mounted secret.
    #[arg(long, env = "TROVE_GITHUB_WEBHOOK_SECRET_FILE")]
    pub github_webhook_secret_file: Option<PathBuf>,
}

impl std::fmt::Debug for WebhookSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secret = self.github_webhook_secret.as_ref().map(|_| "<redacted>");
        f.debug_struct("WebhookSettings")
            .field("github_webhook_secret", &secret)
            .field(
                "github_webhook_secret_file",
                &self.github_webhook_secret_file,
            )
            .finish()
    }
}

impl WebhookSettings {
    /// The configured secret, if any. An empty secret counts as none (it would let anyone sign).
    pub fn secret(&self) -> anyhow::Result<Option<trove_server::WebhookSecret>> {
        use anyhow::Context as _;
        let bytes = match (
            &self.github_webhook_secret,
            &self.github_webhook_secret_file,
        ) {
            (Some(secret), _) => secret.clone().into_bytes(),
            (None, Some(path)) => {
                let bytes = std::fs::read(path).with_context(|| {
                    format!(
                        "cannot read the webhook secret file {} (TROVE_GITHUB_WEBHOOK_SECRET_FILE)",
                        path.display()
                    )
                })?;
                without_trailing_newline(bytes)
            }
            (None, None) => return Ok(None),
        };
        let secret = trove_server::WebhookSecret::new(bytes);
        if secret.is_none() {
            tracing::warn!(
                "the GitHub webhook secret is empty; the webhook endpoint will answer 503"
            );
        }
        Ok(secret)
    }
}

/// Drops one trailing newline (`\n` or `\r\n`), which editors and `echo` add to secret files.
fn without_trailing_newline(mut bytes: Vec<u8>) -> Vec<u8> {
    if bytes.ends_with(b"\r\n") {
        bytes.truncate(bytes.len() - 2);
    } else if bytes.ends_with(b"\n") {
        bytes.truncate(bytes.len() - 1);
    }
    bytes
}

#[cfg(test)]
mod webhook_secret_tests {
    use clap::Parser;

    use super::{WebhookSettings, without_trailing_newline};

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        webhooks: WebhookSettings,
    }

    fn settings(args: &[&str]) -> Result<WebhookSettings, clap::Error> {
        Cli::try_parse_from(std::iter::once("trove").chain(args.iter().copied()))
            .map(|c| c.webhooks)
    }

    #[test]
    fn the_secret_comes_from_a_value_or_a_file_and_never_shows() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("secret");
        std::fs::write(&file, "s3cret-from-file\n").unwrap();
        let path = file.to_str().unwrap();

        let inline = settings(&["--github-webhook-secret", "s3cret-inline"]).unwrap();
        assert!(inline.secret().unwrap().is_some());
        assert!(!format!("{inline:?}").contains("s3cret"), "{inline:?}");
        let from_file = settings(&["--github-webhook-secret-file", path]).unwrap();
        let secret = from_file.secret().unwrap().expect("configured");
        assert_eq!(format!("{secret:?}"), "WebhookSecret(<redacted>)");
        for (raw, key) in [
            (&b"abc\n"[..], &b"abc"[..]),
            (b"abc\r\n", b"abc"),
            (b"abc\n\n", b"abc\n"),
            (b"abc", b"abc"),
            (b" abc ", b" abc "),
        ] {
            assert_eq!(without_trailing_newline(raw.to_vec()), key);
        }

        assert!(settings(&[]).unwrap().secret().unwrap().is_none());
        assert!(
            settings(&["--github-webhook-secret", ""])
                .unwrap()
                .secret()
                .unwrap()
                .is_none()
        );
        assert!(
            settings(&[
                "--github-webhook-secret",
                "a",
                "--github-webhook-secret-file",
                path
            ])
            .is_err()
        );
        let missing = settings(&["--github-webhook-secret-file", "/nonexistent/secret"]).unwrap();
        assert!(missing.secret().is_err());
    }
}
