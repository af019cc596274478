//! Subcommands of `trove`.

mod admin;
mod connect;
mod discover;
mod serve;
mod sync;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::Settings;
use crate::runtime;

/// Trove: a self-hosted registry that turns Git repositories into governed, organization-private
/// marketplaces of Claude Code plugins.
///
/// Run `trove serve` to start the API server with its embedded worker on SQLite (no setup needed).
/// Every setting can also be given as an environment variable (shown in brackets).
#[derive(Debug, Parser)]
#[command(
    name = "trove",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(flatten)]
    settings: Settings,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the API server and the embedded background worker.
    ///
    /// On the first start against an empty database it creates organization `default` with owner
    /// `admin@localhost` and prints a generated password and API token once.
    Serve(serve::ServeArgs),
    /// Run only the background worker (scale-out next to API replicas on PostgreSQL).
    Worker(serve::WorkerArgs),
    /// Apply pending database migrations and exit.
    Migrate,
    /// Administration: bootstrap organizations, create tokens, manage encryption keys.
    #[command(subcommand)]
    Admin(admin::AdminCommand),
    /// Print the OpenAPI document of the REST API.
    Openapi,
    /// Show what a repository holds: marketplaces, plugins and their components, as Claude Code reads
    /// them. Needs no server or database.
    Discover(discover::DiscoverArgs),
    /// Connect a repository to an organization: discover it, select its plugins (`--all`) and sync
    /// (`--wait`). Works on the database directly, with or without a running server.
    #[command(subcommand)]
    Connect(connect::ConnectCommand),
    /// Reconcile a connected repository branch now (`--wait` to follow it, with a progress bar).
    Sync(sync::SyncArgs),
}

/// Parses the command line and runs the command.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let long_running = matches!(cli.command, Command::Serve(_) | Command::Worker(_));
    runtime::init_logging(cli.settings.log_format, long_running);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let settings = cli.settings;
    match cli.command {
        Command::Serve(args) => serve::serve(&settings, args).await,
        Command::Worker(args) => serve::worker(&settings, args).await,
        Command::Migrate => {
            let db = runtime::open_db(&settings, true).await?;
            eprintln!("migrations applied ({})", db.backend().name());
            Ok(ExitCode::SUCCESS)
        }
        Command::Admin(cmd) => admin::run(&settings, cmd).await,
        Command::Discover(args) => discover::run(&args),
        Command::Connect(cmd) => connect::run(&settings, cmd).await,
        Command::Sync(args) => sync::run(&settings, args).await,
        Command::Openapi => {
            print!("{}", trove_server::openapi_json());
            Ok(ExitCode::SUCCESS)
        }
    }
}
