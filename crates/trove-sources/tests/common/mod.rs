//! Test helpers: real git repositories built with the `git` CLI in temporary directories, and a
//! source caching into its own temporary directory. Nothing here contacts a non-loopback address.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use trove_sources::{GitLimits, GitSource, Reference, Target};

/// Runs `git` in `dir` with a fixed identity and no user or system configuration.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "Test Author")
        .env("GIT_AUTHOR_EMAIL", "author@example.com")
        .env("GIT_COMMITTER_NAME", "Test Committer")
        .env("GIT_COMMITTER_EMAIL", "committer@example.com")
        .env("GIT_AUTHOR_DATE", "2024-01-01T00:00:00Z")
        .env("GIT_COMMITTER_DATE", "2024-01-01T00:00:00Z")
        .args([
            "-c",
            "init.defaultBranch=main",
            "-c",
            "protocol.file.allow=always",
        ])
        .args(args)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A git repository with a work tree, built by the test.
pub struct Repo {
    pub dir: PathBuf,
}

impl Repo {
    /// `git init` at `parent/name`.
    pub fn init(parent: &Path, name: &str) -> Repo {
        let dir = parent.join(name);
        std::fs::create_dir_all(&dir).expect("mkdir");
        git(&dir, &["init", "-q"]);
        Repo { dir }
    }

    /// Writes a file (creating folders).
    pub fn write(&self, path: &str, content: impl AsRef<[u8]>) -> &Self {
        let p = self.dir.join(path);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, content).expect("write");
        self
    }

    /// Adds a symlink `path` → `target`.
    pub fn symlink(&self, path: &str, target: &str) -> &Self {
        let p = self.dir.join(path);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::os::unix::fs::symlink(target, p).expect("symlink");
        self
    }

    /// Records a submodule entry (a gitlink) at `path` pointing to `sha`, without a checkout.
    pub fn gitlink(&self, path: &str, sha: &str) -> &Self {
        git(
            &self.dir,
            &[
                "update-index",
                "--add",
                "--cacheinfo",
                &format!("160000,{sha},{path}"),
            ],
        );
        self
    }

    /// Stages everything (including ignored files) and commits; returns the new HEAD SHA.
    pub fn commit(&self, msg: &str) -> String {
        git(&self.dir, &["add", "-A", "-f", "."]);
        git(&self.dir, &["commit", "-q", "--allow-empty", "-m", msg]);
        self.head()
    }

    /// Commits what is staged, without staging the work tree; returns the new HEAD SHA.
    pub fn commit_staged(&self, msg: &str) -> String {
        git(&self.dir, &["commit", "-q", "-m", msg]);
        self.head()
    }

    /// `git rev-parse HEAD`.
    pub fn head(&self) -> String {
        git(&self.dir, &["rev-parse", "HEAD"])
    }

    /// The repository as a `file://` URL.
    pub fn file_url(&self) -> String {
        format!("file://{}", self.dir.display())
    }

    /// The repository's plain path.
    pub fn path_str(&self) -> String {
        self.dir.display().to_string()
    }
}

/// A source caching under `cache`, with `limits`.
pub fn source(cache: &Path, limits: GitLimits) -> GitSource {
    GitSource::new(cache.join("git-cache"), limits)
}

/// A branch target.
pub fn branch(url: &str, name: &str) -> Target {
    Target::new(url, Reference::Branch(name.to_owned()))
}

/// Names of the pack files in a bare repository.
pub fn packs(git_dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(git_dir.join("objects/pack"))
        .map(|r| {
            r.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".pack"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Entries of the cache directory other than lock files and the probe repository.
pub fn cache_entries(cache: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(cache.join("git-cache"))
        .map(|r| {
            r.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !n.ends_with(".lock") && n != "probe.git")
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}
