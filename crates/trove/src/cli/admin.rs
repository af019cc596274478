//! `trove admin …`: operator commands that act directly on the database, with or without a running
//! server.

use std::io::Read as _;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use serde_json::json;
use trove_core::names::{normalize_email, validate_slug};
use trove_store::{Actor, KeyRing};

use crate::config::Settings;
use crate::runtime::{self, KeySource};

#[derive(Debug, Subcommand)]
pub(crate) enum AdminCommand {
    /// Create an organization and its owner, and print an API token for the owner.
    Bootstrap {
        /// The new organization's slug.
        #[arg(long)]
        org: String,
        /// The owner's email (an existing user is reused).
        #[arg(long)]
        email: String,
        /// Read a password for a new owner from standard input (otherwise the owner signs in only with
        /// the token until a password is set).
        #[arg(long)]
        password_stdin: bool,
        /// Print `{"org": {...}, "user": {...}, "token": "trove_..."}` instead of text.
        #[arg(long)]
        json: bool,
    },
    /// API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Encryption keys.
    #[command(subcommand)]
    Keys(KeysCommand),
}

#[derive(Debug, Subcommand)]
pub(crate) enum TokenCommand {
    /// Create an API token for a member of an organization.
    Create {
        /// The organization's slug.
        #[arg(long)]
        org: String,
        /// The member's email.
        #[arg(long)]
        email: String,
        /// A label for the token.
        #[arg(long, default_value = "cli")]
        name: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum KeysCommand {
    /// Print a new key ring to put in TROVE_ENCRYPTION_KEYS.
    Generate,
    /// Make a new key active and re-encrypt every stored value with it in the background.
    ///
    /// With the generated key file, a new key is added to the file. With TROVE_ENCRYPTION_KEYS, first put
    /// a new key at the front of the variable on every replica and restart them; this command then
    /// re-encrypts everything under that key. Old keys can be removed once the job is done.
    Rotate,
}

pub(crate) async fn run(settings: &Settings, command: AdminCommand) -> Result<ExitCode> {
    match command {
        AdminCommand::Bootstrap {
            org,
            email,
            password_stdin,
            json,
        } => {
            validate_slug("org", &org)?;
            let email = normalize_email("email", &email)?;
            let password = if password_stdin {
                let mut text = String::new();
                std::io::stdin()
                    .read_to_string(&mut text)
                    .context("cannot read the password")?;
                let text = text.trim_end_matches(['\n', '\r']).to_string();
                if text.len() < 8 {
                    bail!("the password must be at least 8 characters");
                }
                Some(text)
            } else {
                None
            };
            let (store, _) = runtime::open_store(settings, true).await?;
            let (org, user, token) = store.bootstrap(&org, &email, password.as_deref()).await?;
            if json {
                println!("{}", json!({"org": org, "user": user, "token": token}));
            } else {
                println!(
                    "Created organization `{}` with owner {}.",
                    org.slug, user.email
                );
                println!("API token (shown once): {token}");
            }
            Ok(ExitCode::SUCCESS)
        }
        AdminCommand::Token(TokenCommand::Create {
            org,
            email,
            name,
            json,
        }) => {
            let email = normalize_email("email", &email)?;
            let (store, _) = runtime::open_store(settings, true).await?;
            let org = store.org_by_slug(&org).await?;
            let user = store.user_with_email(&email).await?;
            let Some((_, _)) = store.org_for_user(&org.id.to_string(), user.id).await? else {
                bail!("{email} is not a member of `{}`; add them first", org.slug);
            };
            let actor = Actor {
                user_id: None,
                token_id: None,
            };
            let (token, secret) = store
                .create_token(org.id, user.id, &name, None, actor)
                .await?;
            if json {
                println!("{}", json!({"token": secret, "item": token}));
            } else {
                println!(
                    "API token for {email} in `{}` (shown once): {secret}",
                    org.slug
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        AdminCommand::Keys(KeysCommand::Generate) => {
            println!("{}", KeyRing::generate(1).to_spec().as_str());
            Ok(ExitCode::SUCCESS)
        }
        AdminCommand::Keys(KeysCommand::Rotate) => {
            let (store, source) = runtime::open_store(settings, true).await?;
            let mut keys = store.keys();
            if let KeySource::File(path) = &source {
                keys.rotate();
                keys.write_file(path)?;
                store.set_keys(keys.clone());
                eprintln!(
                    "added key {} to {} and made it active",
                    keys.active_id(),
                    path.display()
                );
            }
            let job = trove_sync::jobs::enqueue_rekey(&store, keys.active_id()).await?;
            eprintln!(
                "queued job {job} to re-encrypt stored values under key {}; a running `trove serve` or \
                 `trove worker` will pick it up",
                keys.active_id()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}
