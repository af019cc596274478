//! `fake-github`: trove-testkit's fake GitHub as a standalone server, to try Trove's GitHub App
//! flow (install, repository listing, sync, push webhooks) offline.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;
use trove_testkit::github::{FakeGitHub, FakeOptions};

const CONTROL_HELP: &str = "\
Control routes (JSON, no credentials, loopback use only):
  GET  /_fake/state           users, installations, repositories, URLs, switches
  GET  /_fake/requests        every API request answered so far (method, path, status, 304)
  POST /_fake/users           {\"login\"}                                  -> {id}
  POST /_fake/installations   {\"account\", \"type\": \"Organization\"|\"User\", \"users\": [login]} -> {id}
  POST /_fake/repos           {\"installation\", \"full_name\", \"dir\"}       -> {id, full_name, path}
  POST /_fake/commit          {\"repo\": \"owner/name\", \"branch\"?, \"message\"?,
                               \"files\": {\"path\": \"new text\" | null to delete}} -> {sha, before}
  POST /_fake/delete-branch   {\"repo\", \"branch\"}
  POST /_fake/rename          {\"repo\", \"to\": \"owner/new-name\"}
  POST /_fake/suspend         {\"installation\", \"suspended\": true|false}
  POST /_fake/switches        {\"rate_limit\": n|null, \"truncate_trees\": bool,
                               \"fail_next\": {\"path_contains\", \"count\", \"status\"},
                               \"setup_url\", \"webhook_url\"}
  POST /_fake/authorize       {\"login\"}                                  -> {code}
  POST /_fake/install         {\"login\", \"state\", \"installation\"}           -> {url}
  POST /_fake/push            {\"repo\", \"branch\"?, \"before\"?, \"after\"?}     signed push to the webhook URL
  POST /_fake/deliver         {\"event\", \"payload\"}                         any signed delivery

Web pages: /apps/trove-test/installations/new?state=... lists \"install as <user>\" links that
redirect to the Setup URL with installation_id, setup_action=install, state and an OAuth code.

Example:
  cargo run -p trove-testkit --bin fake-github -- --listen 127.0.0.1:9300 \\
    --webhook-url http://127.0.0.1:8080/v1/webhooks/connectors/github \\
    --setup-url http://127.0.0.1:8080/v1/connectors/github/callback \\
    --repo acme/plugins=../shared/fixtures/claude-plugins/anthropics__claude-code
  curl -s localhost:9300/_fake/commit -d '{\"repo\":\"acme/plugins\",\"files\":{\"README.md\":\"hi\"}}' \\
    -H content-type:application/json
  curl -s localhost:9300/_fake/push -d '{\"repo\":\"acme/plugins\"}' -H content-type:application/json";

/// A fake GitHub (REST API, App installation and OAuth pages, signed webhooks) on loopback,
/// backed by real git repositories. Prints the TROVE_GITHUB_* environment Trove needs.
#[derive(Parser)]
#[command(name = "fake-github", after_help = CONTROL_HELP)]
struct Args {
    /// Address to listen on (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Directory for the repositories, the App's private key and `trove.env`; a temporary
    /// directory removed on exit when omitted.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Where `/_fake/push` and `/_fake/deliver` send signed webhooks (Trove's
    /// `/v1/webhooks/connectors/github`).
    #[arg(long)]
    webhook_url: Option<String>,
    /// The App's Setup URL, where the install page sends the browser (Trove's
    /// `/v1/connectors/github/callback`).
    #[arg(long)]
    setup_url: Option<String>,
    /// `owner/name=DIR`: a repository holding a copy of DIR, in an installation on `owner`
    /// (repeatable; repositories of one owner share an installation).
    #[arg(long = "repo", value_name = "OWNER/NAME=DIR", value_parser = parse_repo)]
    repos: Vec<(String, PathBuf)>,
    /// The user who can see every installation made for `--repo` (a User installation when it
    /// owns the repository, an Organization otherwise).
    #[arg(long, default_value = "octocat")]
    user: String,
}

fn parse_repo(text: &str) -> Result<(String, PathBuf), String> {
    let (name, dir) = text
        .split_once('=')
        .ok_or_else(|| format!("expected owner/name=DIR, got {text:?}"))?;
    if name.split('/').count() != 2 || name.split('/').any(str::is_empty) {
        return Err(format!("expected owner/name, got {name:?}"));
    }
    let dir = PathBuf::from(dir);
    if !dir.is_dir() {
        return Err(format!("{} is not a directory", dir.display()));
    }
    Ok((name.to_owned(), dir))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let (_temp, data_dir) = match args.data_dir {
        Some(dir) => {
            std::fs::create_dir_all(&dir)?;
            // Absolute, so the printed key path works from any directory.
            (None, std::fs::canonicalize(dir)?)
        }
        None => {
            let temp = tempfile::tempdir()?;
            let path = temp.path().to_owned();
            (Some(temp), path)
        }
    };
    let gh = FakeGitHub::start_with(FakeOptions {
        listen: args.listen,
        data_dir: Some(data_dir.clone()),
    });
    if let Some(url) = &args.webhook_url {
        gh.set_webhook_url(url);
    }
    if let Some(url) = &args.setup_url {
        gh.set_setup_url(url);
    }
    gh.add_user(&args.user);
    let mut installations = BTreeMap::new();
    for (full_name, dir) in &args.repos {
        let owner = full_name.split('/').next().unwrap_or_default().to_owned();
        let installation = *installations.entry(owner.clone()).or_insert_with(|| {
            let kind = if owner == args.user {
                "User"
            } else {
                "Organization"
            };
            gh.add_installation(&owner, kind, &[&args.user])
        });
        let repo = gh.repo_from_dir(installation, full_name, dir);
        println!(
            "repository {} (id {}) in installation {installation}: {}",
            repo.full_name,
            repo.id,
            repo.path.display()
        );
    }

    let key_file = data_dir.join("app-private-key.pem");
    write_private(&key_file, &gh.private_key_pem())?;
    let env = format!(
        "export TROVE_GITHUB_API_URL={url}\n\
         export TROVE_GITHUB_WEB_URL={url}\n\
         export TROVE_GITHUB_APP_ID={app_id}\n\
         export TROVE_GITHUB_APP_PRIVATE_KEY_FILE={key}\n\
         export TROVE_GITHUB_WEBHOOK_SECRET={webhook}\n\
         export TROVE_GITHUB_CLIENT_ID={client_id}\n\
         export TROVE_GITHUB_CLIENT_SECRET={client_secret}\n",
        url = gh.url(),
        app_id = gh.app_id(),
        key = key_file.display(),
        webhook = gh.webhook_secret(),
        client_id = gh.client_id(),
        client_secret = gh.client_secret(),
    );
    let env_file = data_dir.join("trove.env");
    write_private(&env_file, &env)?;
    println!(
        "fake GitHub on {} (App {}, user {})",
        gh.url(),
        gh.app_slug(),
        args.user
    );
    println!(
        "# environment for `trove serve` (also in {}):",
        env_file.display()
    );
    print!("{env}");
    println!(
        "# control routes: {}/_fake/state (see --help); Ctrl-C stops",
        gh.url()
    );

    tokio::signal::ctrl_c().await?;
    Ok(())
}

/// Writes a file only its owner can read: it holds the App's key and secrets.
fn write_private(path: &std::path::Path, content: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(content.as_bytes())
}
