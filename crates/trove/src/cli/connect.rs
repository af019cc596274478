//! `trove connect git <url> --org <slug>`: connect a repository branch (instance + target + queued
//! initial sync in one transaction, as the API does), and with `--all` discover the head and select
//! every supported plugin; `--wait` follows the sync to its end (see [`super::sync`]). Acts as the
//! operator on the database directly, with or without a running server; the org's first owner
//! becomes the instance's manager.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use trove_core::OrgRole;
use trove_sources::{Reference, Target};
use trove_store::connectors::instances::NewInstance;
use trove_store::connectors::model::Trigger;
use trove_store::registry::access::Principal;
use trove_store::{Actor, PageRequest};
use trove_sync::Engine;

use super::sync::{event_json, event_line, exit_for, progress, queue, wait};
use crate::config::Settings;
use crate::runtime;

#[derive(Debug, Subcommand)]
pub(crate) enum ConnectCommand {
    /// Connect a git repository branch (an https://, http://, ssh:// or file:// URL, or the path of
    /// a repository on this machine).
    Git(ConnectGitArgs),
}

/// Options of `trove connect git`.
#[derive(Debug, Args)]
pub(crate) struct ConnectGitArgs {
    /// The repository: a URL, or the path of a local repository (read as a `file://` URL).
    url: String,
    /// The organization's slug.
    #[arg(long)]
    org: String,
    /// The branch to follow (default: the repository's default branch).
    #[arg(long)]
    branch: Option<String>,
    /// The instance's name (default: the repository's name).
    #[arg(long)]
    name: Option<String>,
    /// Import every supported plugin discovery finds at the head.
    #[arg(long)]
    all: bool,
    /// Also import plugins that appear in the repository later.
    #[arg(long)]
    auto_import: bool,
    /// Wait until the sync ends (running it here when no server worker picks it up).
    #[arg(long)]
    wait: bool,
    /// Print the sync event, with the instance, as JSON.
    #[arg(long)]
    json: bool,
}

pub(crate) async fn run(settings: &Settings, cmd: ConnectCommand) -> Result<ExitCode> {
    let ConnectCommand::Git(args) = cmd;
    let (store, _) = runtime::open_store(settings, true).await?;
    let org = store
        .org_by_slug(&args.org)
        .await
        .with_context(|| format!("no organization `{}`", args.org))?;
    let owner = store
        .members(org.id, PageRequest::first(200))
        .await?
        .into_iter()
        .find(|m| m.role == OrgRole::Owner)
        .context("the organization has no owner to manage the instance")?;
    let principal = Principal {
        org_id: org.id,
        membership_id: owner.id,
        is_admin: true,
    };
    let actor = Actor::default();
    let bar = progress("connecting");

    let request = NewInstance {
        kind: "git".into(),
        url: repository_url(&args.url)?,
        branch: args.branch.clone(),
        name: args.name.clone(),
        account_id: None,
        auto_import: Some(args.auto_import),
        config: None,
    };
    let url = request.check()?;
    let sources = settings.git_source();
    let reference = match &args.branch {
        Some(b) => Reference::Branch(b.clone()),
        None => Reference::DefaultBranch,
    };
    let head = sources
        .head(&Target::new(url.clone(), reference))
        .await
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", trove_sources::redact_url(&url)))?;
    let default_branch = head
        .ref_name
        .as_deref()
        .and_then(|r| r.strip_prefix("refs/heads/"))
        .map(str::to_string);
    let valid = request.resolve(url, default_branch)?;
    let mut tx = store.db.begin().await?;
    let trove_sync::jobs::CreatedInstance {
        instance,
        target,
        mut event,
        ..
    } = trove_sync::jobs::create_instance_in(&store, &mut tx, &principal, &valid, actor)
        .await
        .map_err(|e| match e {
            trove_core::AppError::Conflict {
                code: "connector_instance_name_taken",
                ..
            } => anyhow::anyhow!("{e} (`--name` gives this connection another name)"),
            other => other.into(),
        })?;
    tx.commit().await?;

    let engine = Arc::new(Engine::new(store.clone(), sources));
    if args.all {
        if let Some(bar) = &bar {
            bar.set_message("discovering");
        }
        let found = engine.discover_target(org.id, target).await?;
        let known: Vec<String> = found
            .discovery
            .plugins
            .iter()
            .map(|p| p.key.clone())
            .collect();
        let selected: Vec<String> = found
            .discovery
            .plugins
            .iter()
            .filter(|p| p.supported)
            .map(|p| p.key.clone())
            .collect();
        store
            .apply_selection(org.id, instance, &selected, &known, args.auto_import, actor)
            .await?;
        // Folds into the queued initial sync when it has not started yet.
        event = queue(&store, org.id, instance, Trigger::Manual).await?;
    }
    if args.wait {
        event = wait(&store, engine, org.id, event.id, bar.as_ref()).await?;
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let mut shown = store.instance(org.id, instance).await?;
    for t in &mut shown.targets {
        t.url = trove_sources::redact_url(&t.url);
    }
    if args.json {
        let mut out = event_json(&event);
        out["instance"] = serde_json::to_value(&shown)?;
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!(
            "connected {} ({}) on branch {}",
            shown.name, shown.id, valid.branch
        );
        println!("{}", event_line(&event));
        if !args.wait {
            println!("follow it with: trove sync {} --wait", shown.id);
        }
    }
    store.db.close().await;
    Ok(exit_for(&event))
}

/// The URL to connect: `arg` as given when it has a scheme, or, for the path of a folder on this
/// machine, its `file://` URL (absolute, so the server and workers read the same folder).
fn repository_url(arg: &str) -> Result<String> {
    if arg.contains("://") {
        return Ok(arg.to_string());
    }
    let path = std::path::Path::new(arg);
    if !path.is_dir() {
        if let Some((user_host, repo)) = arg.split_once(':')
            && user_host.contains('@')
        {
            anyhow::bail!(
                "`{arg}` is an scp-style address; write it as a URL: ssh://{user_host}/{repo}"
            );
        }
        anyhow::bail!(
            "`{arg}` is neither a repository URL (https://, http://, ssh://, file://) nor a folder on this machine"
        );
    }
    let absolute = path
        .canonicalize()
        .with_context(|| format!("cannot resolve the folder {arg}"))?;
    let absolute = absolute
        .to_str()
        .with_context(|| format!("the path of {arg} is not UTF-8"))?;
    Ok(format!("file://{absolute}"))
}
