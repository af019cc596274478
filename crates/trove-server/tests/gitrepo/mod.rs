//! Connector test helpers: real git repositories built with the `git` CLI, and finishing a sync event
//! without a worker.

#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

use trove_store::Store;
use trove_store::connectors::events::SyncResult;
use trove_store::connectors::model::{SyncCounts, SyncStatus};

/// Runs `git` in `dir`, panicking with its output on failure.
pub fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=Test",
            "-c",
            "user.email=test@example.com",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Writes `files` (path, content) under `dir`.
pub fn write(dir: &Path, files: &[(&str, &str)]) {
    for (path, content) in files {
        let full = dir.join(path);
        std::fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
        std::fs::write(full, content).expect("write");
    }
}

/// Commits everything in `dir`.
pub fn commit(dir: &Path, message: &str) {
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", message]);
}

/// A repository on branch `main` with one plugin (`review`) holding a skill and an agent, plus a
/// top-level `skills/` folder; returns its `file://` URL.
pub fn git_repo(dir: &tempfile::TempDir) -> String {
    let root = dir.path().join("plugins-repo");
    std::fs::create_dir_all(&root).expect("mkdir");
    git(&root, &["init", "-q", "-b", "main"]);
    write(
        &root,
        &[
            (
                ".claude-plugin/plugin.json",
                r#"{"name": "review", "description": "Code review helpers", "version": "1.0.0"}"#,
            ),
            (
                "skills/checklist/SKILL.md",
                "---\nname: checklist\ndescription: A review checklist\n---\nCheck everything.\n",
            ),
            (
                "agents/reviewer.md",
                "---\nname: reviewer\ndescription: Reviews code\n---\nYou review code.\n",
            ),
        ],
    );
    commit(&root, "initial");
    format!("file://{}", root.display())
}

/// Marks a queued event as failed (as a worker would after a failed run), so it can be retried.
pub async fn fail_event(store: &Store, id: &str) {
    let id = id.parse().expect("event id");
    store.start_sync_event(id).await.expect("start");
    store
        .finish_sync_event(
            id,
            &SyncResult {
                status: SyncStatus::Failed,
                head_sha: None,
                counts: SyncCounts::default(),
                errors: Vec::new(),
                message: Some("failed in the test".into()),
            },
        )
        .await
        .expect("finish");
}
