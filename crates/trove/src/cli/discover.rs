//! `trove discover <dir> [--json]`: print what discovery finds in a local folder.
//!
//! The human summary lists the classification, each candidate plugin with its component counts,
//! and every warning; `--json` prints the discovery exactly as the API and the sync engine see it.
//! Only the listing walk and the reads of the few files discovery needs touch the disk; symlinks
//! are never followed out of the folder.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Args;
use trove_discovery::{DirSnapshot, discover, render_summary};

/// Arguments of `trove discover`.
#[derive(Debug, Args)]
pub struct DiscoverArgs {
    /// Folder to inspect (a checkout of the repository).
    pub path: PathBuf,
    /// Print the full discovery as JSON instead of a summary.
    #[arg(long)]
    pub json: bool,
}

/// Runs discovery over a local folder and prints the result. The exit code is success whenever
/// discovery ran (an unsupported repository is a result, not an error); a missing or unreadable
/// folder is an error.
pub fn run(args: &DiscoverArgs) -> Result<ExitCode> {
    let shown = args.path.display().to_string();
    if shown.contains("://") || shown.starts_with("git@") {
        bail!(
            "{shown} looks like a git URL; clone it and pass the folder (remote sources are read by `trove sync`)"
        );
    }
    let snapshot = DirSnapshot::open(&args.path).with_context(|| format!("cannot read {shown}"))?;
    let discovery = discover(&snapshot);
    let mut out = std::io::stdout().lock();
    let written = if args.json {
        serde_json::to_writer_pretty(&mut out, &discovery)
            .map_err(std::io::Error::from)
            .and_then(|()| writeln!(out))
    } else {
        write!(out, "{}", render_summary(&discovery)).and_then(|()| {
            snapshot
                .skipped()
                .iter()
                .try_for_each(|s| writeln!(out, "  (not listed: {})", s.escape_debug()))
        })
    };
    match written {
        // `trove discover … | head` closes the pipe early: not an error.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
        Err(e) => Err(e).context("cannot write the result"),
        Ok(()) => Ok(ExitCode::SUCCESS),
    }
}
