//! `trove serve` and `trove worker`.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use tokio_util::sync::CancellationToken;
use trove_server::{AppShared, AppState, IngestOptions, ServerConfig, WebhookIngest};

use crate::config::{Settings, WebhookSettings};
use crate::runtime;

/// Options of `trove serve`.
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "TROVE_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Mark cookies `Secure` (set this when Trove is served over HTTPS, e.g. behind a proxy).
    #[arg(long, env = "TROVE_SECURE_COOKIES")]
    secure_cookies: bool,
    /// Do not run the embedded worker (run `trove worker` processes instead).
    #[arg(long, env = "TROVE_NO_WORKER")]
    no_worker: bool,
    #[command(flatten)]
    worker: WorkerArgs,
    #[command(flatten)]
    webhooks: WebhookSettings,
}

/// Options of the background worker.
#[derive(Debug, Args)]
pub(crate) struct WorkerArgs {
    /// How many jobs one worker runs at once.
    #[arg(long, env = "TROVE_WORKER_CONCURRENCY", default_value_t = 4)]
    concurrency: usize,
}

/// Cancels `token` on SIGTERM or Ctrl-C.
fn cancel_on_signal(token: CancellationToken) {
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term =
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(s) => s,
                    Err(_) => {
                        let _ = ctrl_c.await;
                        token.cancel();
                        return;
                    }
                };
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
        tracing::info!("shutting down: finishing in-flight requests and jobs");
        token.cancel();
    });
}

pub(crate) async fn serve(settings: &Settings, args: ServeArgs) -> Result<ExitCode> {
    let webhook_secret = args.webhooks.secret()?;
    if webhook_secret.is_none() {
        tracing::info!(
            "no GitHub webhook secret (TROVE_GITHUB_WEBHOOK_SECRET or _FILE): the webhook endpoint answers 503"
        );
    }
    // A bad App key fails here, before anything listens.
    let github = settings.github.app()?;
    let sources = settings.sources(github.as_ref());
    let (store, keys) = runtime::open_store(settings, true).await?;
    let shutdown = CancellationToken::new();
    cancel_on_signal(shutdown.clone());
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {}; set --listen or TROVE_LISTEN to a free address",
                args.listen
            )
        })?;
    let address = listener.local_addr()?;
    runtime::bootstrap_if_empty(&store, &format!("http://{address}")).await?;
    let worker = (!args.no_worker).then(|| {
        runtime::spawn_worker(
            settings,
            store.clone(),
            keys,
            args.worker.concurrency,
            shutdown.clone(),
            sources.clone(),
        )
    });
    let state = AppState::new(AppShared {
        engine: Arc::new(trove_sync::Engine::new(store.clone(), sources.clone())),
        sources,
        webhooks: WebhookIngest::start(store.clone(), IngestOptions::default()),
        store: store.clone(),
        config: Arc::new(ServerConfig {
            secure_cookies: args.secure_cookies,
            request_timeout: Duration::from_secs(30),
            webhook_secret,
        }),
        metrics: trove_server::metrics::handle(),
        github,
    });
    tracing::info!(%address, database = store.db.backend().name(), "Trove is listening on http://{address}");
    trove_server::serve(listener, state, shutdown.clone()).await?;
    shutdown.cancel();
    if let Some(worker) = worker {
        let _ = worker.await;
    }
    store.db.close().await;
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn worker(settings: &Settings, args: WorkerArgs) -> Result<ExitCode> {
    let github = settings.github.app()?;
    let sources = settings.sources(github.as_ref());
    let (store, keys) = runtime::open_store(settings, false).await?;
    let shutdown = CancellationToken::new();
    cancel_on_signal(shutdown.clone());
    tracing::info!(database = store.db.backend().name(), "Trove worker started");
    let _ = runtime::spawn_worker(
        settings,
        store.clone(),
        keys,
        args.concurrency,
        shutdown,
        sources,
    )
    .await;
    store.db.close().await;
    Ok(ExitCode::SUCCESS)
}
