//! The GitHub App settings (`TROVE_GITHUB_*`) and the App client they make.

use std::path::PathBuf;

use clap::Args;

/// The GitHub App: its id and private key (for app JWTs and installation tokens), its OAuth client
/// (to prove who owns an installation during install), and where GitHub is (GitHub Enterprise
/// Server, or a local fake). All optional: without the App id nothing GitHub-related runs.
#[derive(Clone, Args)]
#[command(next_help_heading = "GitHub App")]
pub struct GitHubSettings {
    /// The GitHub App's numeric id (App settings → About). With the private key, enables the
    /// GitHub install flow, repository listing and GitHub sync.
    #[arg(long, env = "TROVE_GITHUB_APP_ID", global = true)]
    pub github_app_id: Option<u64>,

    /// The App's private key as PEM (what GitHub hands out; literal `\n` sequences are read as
    /// newlines). Prefer the environment variable or `--github-app-private-key-file` to a flag,
    /// which other users can see in `ps`.
    #[arg(
        long,
        env = "TROVE_GITHUB_APP_PRIVATE_KEY",
        hide_env_values = true,
        conflicts_with = "github_app_private_key_file",
        // A PEM starts with `-----BEGIN`.
        allow_hyphen_values = true,
        global = true
    )]
    pub github_app_private_key: Option<String>,

    /// A file holding the App's private key (PEM), e.g. a mounted secret.
    #[arg(long, env = "TROVE_GITHUB_APP_PRIVATE_KEY_FILE", global = true)]
    pub github_app_private_key_file: Option<PathBuf>,

    /// The App's OAuth client id. Completing an install exchanges the code GitHub returns for a
    /// user token and checks the installation is one that user can access; without the client id
    /// and secret installs cannot complete. Enable "Request user authorization (OAuth) during
    /// installation" in the App settings.
    #[arg(long, env = "TROVE_GITHUB_CLIENT_ID", global = true)]
    pub github_client_id: Option<String>,

    /// The App's OAuth client secret (prefer the environment variable to a flag).
    #[arg(
        long,
        env = "TROVE_GITHUB_CLIENT_SECRET",
        hide_env_values = true,
        global = true
    )]
    pub github_client_secret: Option<String>,

    /// GitHub's REST API root: `https://HOST/api/v3` on GitHub Enterprise Server.
    #[arg(
        long,
        env = "TROVE_GITHUB_API_URL",
        default_value = "https://api.github.com",
        global = true
    )]
    pub github_api_url: String,

    /// GitHub's web root, for install pages and OAuth: `https://HOST` on GitHub Enterprise Server.
    #[arg(
        long,
        env = "TROVE_GITHUB_WEB_URL",
        default_value = "https://github.com",
        global = true
    )]
    pub github_web_url: String,
}

impl std::fmt::Debug for GitHubSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redacted = |set: bool| set.then_some("<redacted>");
        f.debug_struct("GitHubSettings")
            .field("github_app_id", &self.github_app_id)
            .field(
                "github_app_private_key",
                &redacted(self.github_app_private_key.is_some()),
            )
            .field(
                "github_app_private_key_file",
                &self.github_app_private_key_file,
            )
            .field("github_client_id", &self.github_client_id)
            .field(
                "github_client_secret",
                &redacted(self.github_client_secret.is_some()),
            )
            .field("github_api_url", &self.github_api_url)
            .field("github_web_url", &self.github_web_url)
            .finish()
    }
}

impl GitHubSettings {
    /// The App client, or `None` when no App is configured. Half a configuration (an id without a
    /// key, a key without an id, an OAuth client id without its secret) or a key that does not
    /// parse is an error that names the setting to fix, so a bad deployment fails at startup.
    pub fn app(&self) -> anyhow::Result<Option<trove_sources::GitHubApp>> {
        use anyhow::{Context as _, bail};
        let non_empty = |v: &Option<String>| v.clone().filter(|s| !s.trim().is_empty());
        let inline_key = non_empty(&self.github_app_private_key);
        let Some(app_id) = self.github_app_id else {
            if inline_key.is_some() || self.github_app_private_key_file.is_some() {
                bail!(
                    "a GitHub App private key is set but TROVE_GITHUB_APP_ID is not; set the App id too"
                );
            }
            return Ok(None);
        };
        let pem = match (inline_key, &self.github_app_private_key_file) {
            (Some(pem), _) => pem,
            (None, Some(path)) => std::fs::read_to_string(path).with_context(|| {
                format!(
                    "cannot read the GitHub App private key file {} (TROVE_GITHUB_APP_PRIVATE_KEY_FILE)",
                    path.display()
                )
            })?,
            (None, None) => bail!(
                "TROVE_GITHUB_APP_ID is set but the App's private key is not: set \
                 TROVE_GITHUB_APP_PRIVATE_KEY or TROVE_GITHUB_APP_PRIVATE_KEY_FILE"
            ),
        };
        // Keys pasted into a single-line variable often arrive with `\n` escapes for newlines.
        let pem = if pem.contains("\\n") && !pem.trim().contains('\n') {
            pem.replace("\\n", "\n")
        } else {
            pem
        };
        let client_id = non_empty(&self.github_client_id);
        let client_secret = non_empty(&self.github_client_secret);
        if client_id.is_some() != client_secret.is_some() {
            bail!(
                "set both TROVE_GITHUB_CLIENT_ID and TROVE_GITHUB_CLIENT_SECRET (the App's OAuth \
                 client), or neither"
            );
        }
        if client_id.is_none() {
            tracing::warn!(
                "TROVE_GITHUB_CLIENT_ID and TROVE_GITHUB_CLIENT_SECRET are not set: GitHub App \
                 installs cannot complete, because ownership of an installation is proven through \
                 the App's OAuth client"
            );
        }
        let app = trove_sources::GitHubApp::new(trove_sources::GitHubConfig {
            api_url: self.github_api_url.clone(),
            web_url: self.github_web_url.clone(),
            app_id,
            private_key_pem: pem,
            client_id,
            client_secret,
        })
        .map_err(|e| {
            anyhow::anyhow!(
                "the GitHub App settings are unusable (TROVE_GITHUB_APP_ID, \
                 TROVE_GITHUB_APP_PRIVATE_KEY[_FILE], TROVE_GITHUB_API_URL, TROVE_GITHUB_WEB_URL): {e}"
            )
        })?;
        Ok(Some(app))
    }
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory as _, Parser};

    use super::*;
    use crate::config::Settings;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        settings: Settings,
    }

    fn github(args: &[&str]) -> GitHubSettings {
        let argv = std::iter::once("trove").chain(args.iter().copied());
        Cli::try_parse_from(argv)
            .expect("arguments")
            .settings
            .github
    }

    fn refusal(args: &[&str]) -> String {
        format!("{:#}", github(args).app().expect_err("refused"))
    }

    #[test]
    fn no_github_app_is_not_an_error() {
        assert!(github(&[]).app().unwrap().is_none());
    }

    #[test]
    fn half_a_github_app_names_the_setting_to_fix() {
        let no_key = refusal(&["--github-app-id", "5"]);
        assert!(no_key.contains("TROVE_GITHUB_APP_PRIVATE_KEY"), "{no_key}");
        let no_id = refusal(&["--github-app-private-key", "pem"]);
        assert!(no_id.contains("TROVE_GITHUB_APP_ID"), "{no_id}");
        let missing = refusal(&[
            "--github-app-id",
            "5",
            "--github-app-private-key-file",
            "/nonexistent/app.pem",
        ]);
        assert!(
            missing.contains("/nonexistent/app.pem")
                && missing.contains("TROVE_GITHUB_APP_PRIVATE_KEY_FILE"),
            "{missing}"
        );
        let bad_pem = "-----BEGIN RSA PRIVATE KEY-----\nc2VjcmV0LWJ1dC1ub3QtYS1rZXk=\n-----END RSA PRIVATE KEY-----\n";
        let unusable = refusal(&["--github-app-id", "5", "--github-app-private-key", bad_pem]);
        assert!(unusable.contains("unusable"), "{unusable}");
        assert!(
            !unusable.contains("c2VjcmV0"),
            "the key never appears: {unusable}"
        );
    }

    #[tokio::test]
    async fn a_github_app_loads_from_a_key_file_or_escaped_text() {
        let fake = trove_testkit::github::FakeGitHub::start().await;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("app.pem");
        std::fs::write(&file, fake.private_key_pem()).unwrap();
        let id = fake.app_id().to_string();
        let file = file.to_str().unwrap();
        let from_file = github(&[
            "--github-app-id",
            &id,
            "--github-app-private-key-file",
            file,
            "--github-client-id",
            fake.client_id(),
            "--github-client-secret",
            fake.client_secret(),
            "--github-api-url",
            &fake.url(),
        ]);
        let app = from_file.app().unwrap().expect("configured");
        assert_eq!(app.app_id(), fake.app_id());
        assert_eq!(app.api_url(), fake.url());
        assert_eq!(app.web_url(), "https://github.com");
        // The App really authenticates with the key it read.
        assert_eq!(app.app_info().await.unwrap().slug, fake.app_slug());

        let escaped = fake.private_key_pem().trim().replace('\n', "\\n");
        assert!(
            github(&["--github-app-id", &id, "--github-app-private-key", &escaped])
                .app()
                .unwrap()
                .is_some()
        );
        let half_client = refusal(&[
            "--github-app-id",
            &id,
            "--github-app-private-key-file",
            file,
            "--github-client-id",
            "Iv1.abc",
        ]);
        assert!(
            half_client.contains("TROVE_GITHUB_CLIENT_SECRET"),
            "{half_client}"
        );

        let secret = fake.client_secret().to_owned();
        let shown = format!(
            "{:?}",
            github(&[
                "--github-app-private-key",
                &escaped,
                "--github-client-secret",
                &secret
            ])
        );
        assert!(
            !shown.contains(&secret) && !shown.contains("PRIVATE KEY"),
            "{shown}"
        );
    }

    #[test]
    fn help_documents_the_github_settings() {
        let help = Cli::command().render_long_help().to_string();
        for name in [
            "TROVE_GITHUB_APP_ID",
            "TROVE_GITHUB_APP_PRIVATE_KEY",
            "TROVE_GITHUB_APP_PRIVATE_KEY_FILE",
            "TROVE_GITHUB_CLIENT_ID",
            "TROVE_GITHUB_CLIENT_SECRET",
            "TROVE_GITHUB_API_URL",
            "TROVE_GITHUB_WEB_URL",
        ] {
            assert!(help.contains(name), "--help does not mention {name}");
        }
    }
}
