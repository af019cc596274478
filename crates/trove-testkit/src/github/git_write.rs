//! Writing the fake's repositories with the `git` command: bare repositories, commits built with
//! plumbing on a private index (no work tree is ever checked out), branch deletion, archives.
//!
//! Every `git` runs isolated from the user's and the system's configuration, with a fixed
//! identity, so what a test sees does not depend on the machine.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

/// The author and committer of every commit the fake makes.
const IDENTITY: (&str, &str) = ("Fake GitHub", "fake-github@users.noreply.github.test");
const ZERO_SHA: &str = "0000000000000000000000000000000000000000";

fn git(git_dir: &Path) -> Command {
    let mut cmd = Command::new("git");
    // Git reads a per-user ignore file even without any configuration; a fixture's own
    // `.gitignore` files are all that may decide what a commit holds.
    cmd.args(["-c", "core.excludesFile=/dev/null", "--git-dir"])
        .arg(git_dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", IDENTITY.0)
        .env("GIT_AUTHOR_EMAIL", IDENTITY.1)
        .env("GIT_COMMITTER_NAME", IDENTITY.0)
        .env("GIT_COMMITTER_EMAIL", IDENTITY.1)
        .env("LC_ALL", "C")
        .stdin(Stdio::null());
    cmd
}

/// Runs `cmd`, feeding `input` on stdin, and returns its stdout; panics with git's message on
/// failure (these are test fixtures: a failing git is a broken setup).
pub(crate) fn run(mut cmd: Command, input: Option<&[u8]>) -> Vec<u8> {
    if input.is_some() {
        cmd.stdin(Stdio::piped());
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("run git: {e}"));
    if let Some(input) = input {
        let mut stdin = child.stdin.take().expect("piped stdin");
        stdin.write_all(input).expect("write to git");
    }
    let out = child.wait_with_output().expect("wait for git");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn text(out: Vec<u8>) -> String {
    String::from_utf8(out)
        .expect("git prints UTF-8 here")
        .trim()
        .to_owned()
}

/// Runs `git --git-dir=<git_dir> <args…>` and returns its trimmed stdout.
pub(crate) fn git_text(git_dir: &Path, args: &[&str]) -> String {
    let mut cmd = git(git_dir);
    cmd.args(args);
    text(run(cmd, None))
}

/// Creates an empty bare repository whose `HEAD` names `default_branch`.
pub(crate) fn init_bare(git_dir: &Path, default_branch: &str) {
    let mut cmd = Command::new("git");
    cmd.args([
        "init",
        "--quiet",
        "--bare",
        "--initial-branch",
        default_branch,
    ])
    .arg(git_dir)
    .env("GIT_CONFIG_NOSYSTEM", "1")
    .env("GIT_CONFIG_GLOBAL", "/dev/null")
    .stdin(Stdio::null());
    run(cmd, None);
}

/// The head of `branch`, if it exists.
pub(crate) fn branch_head(git_dir: &Path, branch: &str) -> Option<String> {
    let mut cmd = git(git_dir);
    cmd.args(["rev-parse", "--verify", "--quiet", "--end-of-options"])
        .arg(format!("refs/heads/{branch}^{{commit}}"));
    let out = cmd.output().expect("run git rev-parse");
    out.status
        .success()
        .then(|| text(out.stdout))
        .filter(|s| !s.is_empty())
}

/// Commits the whole content of `dir` (honouring its `.gitignore` files, keeping executable bits
/// and symlinks) as the next commit of `branch`, and returns the commit SHA.
pub(crate) fn commit_dir(git_dir: &Path, branch: &str, dir: &Path, message: &str) -> String {
    let scratch = tempfile::tempdir().expect("scratch dir");
    let index = scratch.path().join("index");
    let mut add = git(git_dir);
    add.arg("--work-tree")
        .arg(dir)
        .args(["add", "--all", "--", "."])
        .env("GIT_INDEX_FILE", &index)
        .current_dir(dir);
    run(add, None);
    let parent = branch_head(git_dir, branch);
    finish_commit(git_dir, &index, branch, parent.as_deref(), message)
}

/// Applies `changes` (path → new content, or `None` to delete) on top of `branch` and commits.
/// A branch that does not exist yet starts from `base` (the default branch), as a push of a new
/// branch would. Overwritten executables stay executable. Returns the commit SHA.
pub(crate) fn commit_changes(
    git_dir: &Path,
    branch: &str,
    base: &str,
    changes: &[(&str, Option<&[u8]>)],
    message: &str,
) -> String {
    let scratch = tempfile::tempdir().expect("scratch dir");
    let index = scratch.path().join("index");
    let indexed = |args: &[&str]| {
        let mut cmd = git(git_dir);
        cmd.args(args).env("GIT_INDEX_FILE", &index);
        cmd
    };
    let parent = branch_head(git_dir, branch).or_else(|| branch_head(git_dir, base));
    if let Some(parent) = &parent {
        run(indexed(&["read-tree", parent]), None);
    }

    let writes: Vec<(&str, &[u8])> = changes
        .iter()
        .filter_map(|(path, content)| content.map(|c| (*path, c)))
        .collect();
    let deletes: Vec<&str> = changes
        .iter()
        .filter(|(_, content)| content.is_none())
        .map(|(path, _)| *path)
        .collect();

    if !writes.is_empty() {
        // Contents go through files so one `hash-object` stores them all.
        let mut list = String::new();
        for (n, (_, content)) in writes.iter().enumerate() {
            let file = scratch.path().join(format!("blob-{n}"));
            std::fs::write(&file, content).expect("write scratch blob");
            list.push_str(file.to_str().expect("UTF-8 temp path"));
            list.push('\n');
        }
        let oids = text(run(
            indexed(&["hash-object", "-w", "--no-filters", "--stdin-paths"]),
            Some(list.as_bytes()),
        ));
        let mut ls = indexed(&["ls-files", "--stage", "-z", "--"]);
        ls.args(writes.iter().map(|(path, _)| *path));
        let staged = run(ls, None);
        let executable: Vec<&[u8]> = staged
            .split(|b| *b == 0)
            .filter(|rec| rec.starts_with(b"100755 "))
            .filter_map(|rec| rec.splitn(2, |b| *b == b'\t').nth(1))
            .collect();
        let mut info = String::new();
        for ((path, _), oid) in writes.iter().zip(oids.lines()) {
            let mode = if executable.contains(&path.as_bytes()) {
                "100755"
            } else {
                "100644"
            };
            info.push_str(&format!("{mode} {oid}\t{path}\n"));
        }
        run(
            indexed(&["update-index", "--add", "--index-info"]),
            Some(info.as_bytes()),
        );
    }
    if !deletes.is_empty() {
        // A mode-0 entry removes a path (`--force-remove` would want a work tree).
        let info: String = deletes
            .iter()
            .map(|path| format!("0 {ZERO_SHA}\t{path}\n"))
            .collect();
        run(
            indexed(&["update-index", "--index-info"]),
            Some(info.as_bytes()),
        );
    }
    finish_commit(git_dir, &index, branch, parent.as_deref(), message)
}

/// Writes the index as a tree, commits it on `parent` and moves `branch` to the new commit.
fn finish_commit(
    git_dir: &Path,
    index: &Path,
    branch: &str,
    parent: Option<&str>,
    message: &str,
) -> String {
    let mut write_tree = git(git_dir);
    write_tree.arg("write-tree").env("GIT_INDEX_FILE", index);
    let tree = text(run(write_tree, None));
    let mut commit = git(git_dir);
    commit.args(["commit-tree", &tree]);
    if let Some(parent) = parent {
        commit.args(["-p", parent]);
    }
    let sha = text(run(commit, Some(message.as_bytes())));
    let old = branch_head(git_dir, branch).unwrap_or_else(|| ZERO_SHA.to_owned());
    git_text(
        git_dir,
        &["update-ref", &format!("refs/heads/{branch}"), &sha, &old],
    );
    sha
}

/// Deletes `branch`; a branch that does not exist is left alone.
pub(crate) fn delete_branch(git_dir: &Path, branch: &str) {
    if branch_head(git_dir, branch).is_some() {
        git_text(
            git_dir,
            &["update-ref", "-d", &format!("refs/heads/{branch}")],
        );
    }
}

/// `git archive --format=tar.gz` of commit `sha`, every path under `prefix/`.
pub(crate) fn archive_tar_gz(git_dir: &Path, sha: &str, prefix: &str) -> Vec<u8> {
    let mut cmd = git(git_dir);
    cmd.args(["archive", "--format=tar.gz"])
        .arg(format!("--prefix={prefix}/"))
        .arg(sha);
    run(cmd, None)
}
