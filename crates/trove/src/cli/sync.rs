//! `trove sync <instance-id>`: queue a reconcile of a connected branch now and, with `--wait`,
//! follow it to its end. Works against the same database as the server whether or not a server is
//! running: while waiting, the command runs a one-job-at-a-time reconcile worker of its own, so a
//! job that no server worker claims is run right here (whichever worker claims it first runs it).

use std::io::IsTerminal as _;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use trove_core::{ConnectorInstanceId, OrgId, SyncEventId};
use trove_store::Store;
use trove_store::connectors::events::NewSyncEvent;
use trove_store::connectors::model::{SyncEvent, SyncStatus, Trigger};
use trove_store::queue::Job as _;
use trove_store::queue::worker::{Handlers, Worker, WorkerConfig};
use trove_sync::Engine;
use trove_sync::jobs::ReconcileJob;

use crate::config::Settings;
use crate::runtime;

/// Options of `trove sync`.
#[derive(Debug, Args)]
pub(crate) struct SyncArgs {
    /// The connector instance (`cin_…`).
    instance: String,
    /// Wait until the sync ends (running it here when no server worker picks it up).
    #[arg(long)]
    wait: bool,
    /// Print the sync event as JSON.
    #[arg(long)]
    json: bool,
}

/// A spinner on stderr, only when stderr is a terminal.
pub(crate) fn progress(message: &str) -> Option<indicatif::ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new_spinner();
    bar.enable_steady_tick(Duration::from_millis(120));
    bar.set_message(message.to_string());
    Some(bar)
}

/// The documented JSON of a sync event.
pub(crate) fn event_json(event: &SyncEvent) -> Value {
    json!({
        "id": event.id,
        "status": event.status,
        "sourceRevisionRef": event.source_revision_ref,
        "counts": event.counts,
        "errors": event.errors,
        "message": event.message,
    })
}

/// One human line about an event.
pub(crate) fn event_line(event: &SyncEvent) -> String {
    let c = &event.counts;
    format!(
        "sync {} {}{}: {} created, {} updated, {} deleted, {} unchanged, {} skipped, {} file errors{}",
        event.id,
        event.status.as_str(),
        event
            .source_revision_ref
            .as_deref()
            .map(|s| format!(" at {}", &s[..s.len().min(12)]))
            .unwrap_or_default(),
        c.created,
        c.updated,
        c.deleted,
        c.unchanged,
        c.skipped,
        event.errors.len(),
        event
            .message
            .as_deref()
            .map(|m| format!(" ({m})"))
            .unwrap_or_default()
    )
}

/// Queues a reconcile of the instance's first target.
pub(crate) async fn queue(
    store: &Store,
    org: OrgId,
    instance: ConnectorInstanceId,
    trigger: Trigger,
) -> Result<SyncEvent> {
    let found = store.instance(org, instance).await?;
    if found.status == "disabled" {
        anyhow::bail!("connector instance {instance} is disabled; enable it first");
    }
    let target = found
        .targets
        .first()
        .context("the connector instance has no target")?;
    let mut tx = store.db.begin().await?;
    let (event, _) = trove_sync::jobs::enqueue_sync_in(
        store,
        &mut tx,
        NewSyncEvent {
            org,
            instance,
            target: target.id,
            trigger,
            delivery_id: None,
            requested_sha: None,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(event)
}

/// Waits until `event` is final, running reconcile jobs in this process meanwhile (a server's
/// worker may claim the job first; either way the event's status is what is followed).
pub(crate) async fn wait(
    store: &Store,
    engine: Arc<Engine>,
    org: OrgId,
    event: SyncEventId,
    bar: Option<&indicatif::ProgressBar>,
) -> Result<SyncEvent> {
    let mut handlers = Handlers::new();
    let run = Arc::clone(&engine);
    handlers.register_job::<ReconcileJob, _, _>(move |job, _ctx| {
        let engine = Arc::clone(&run);
        async move {
            engine
                .run_sync_event(job.event_id)
                .await
                .map(|_| ())
                .map_err(|e| trove_store::queue::JobError::retry(e.public_message()))
        }
    });
    let config = WorkerConfig {
        concurrency: 1,
        poll_interval: Duration::from_millis(250),
        kinds: Some(vec![ReconcileJob::KIND.to_string()]),
        ..Default::default()
    };
    let stop = CancellationToken::new();
    let worker = tokio::spawn(Worker::new(store, handlers, config).run(stop.clone()));
    let result = loop {
        let current = match store.sync_event(org, event).await {
            Ok(e) => e,
            Err(e) => break Err(anyhow::Error::from(e)),
        };
        if let Some(bar) = bar {
            bar.set_message(format!("sync {}", current.status.as_str()));
        }
        if current.status.is_final() {
            break Ok(current);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    stop.cancel();
    let _ = worker.await;
    result
}

/// Exit status for a finished event: failure only when the sync failed.
pub(crate) fn exit_for(event: &SyncEvent) -> ExitCode {
    if event.status == SyncStatus::Failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

pub(crate) async fn run(settings: &Settings, args: SyncArgs) -> Result<ExitCode> {
    let instance: ConnectorInstanceId = args.instance.parse().map_err(|_| {
        anyhow::anyhow!("`{}` is not a connector instance id (cin_…)", args.instance)
    })?;
    let (store, _) = runtime::open_store(settings, true).await?;
    let org = store.instance_org(instance).await?;
    let bar = progress("queueing the sync");
    let mut event = queue(&store, org, instance, Trigger::Manual).await?;
    if args.wait {
        let github = settings.github.app()?;
        let engine = Arc::new(Engine::new(
            store.clone(),
            settings.sources(github.as_ref()),
        ));
        event = wait(&store, engine, org, event.id, bar.as_ref()).await?;
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&event_json(&event))?);
    } else {
        println!("{}", event_line(&event));
    }
    store.db.close().await;
    Ok(exit_for(&event))
}
