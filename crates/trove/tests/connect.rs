//! `trove connect git` and `trove sync` through the binary, with no server running: the command
//! queues the sync and, with `--wait`, runs it itself.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=T",
            "-c",
            "user.email=t@example.com",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn repo(dir: &Path) -> String {
    let root = dir.join("repo");
    std::fs::create_dir_all(root.join(".claude-plugin")).unwrap();
    std::fs::create_dir_all(root.join("skills/checklist")).unwrap();
    std::fs::write(
        root.join(".claude-plugin/plugin.json"),
        r#"{"name": "review", "description": "Review helpers"}"#,
    )
    .unwrap();
    std::fs::write(
        root.join("skills/checklist/SKILL.md"),
        "---\nname: checklist\ndescription: A checklist\n---\nCheck.\n",
    )
    .unwrap();
    git(&root, &["init", "-q", "-b", "main"]);
    git(&root, &["add", "-A"]);
    git(&root, &["commit", "-q", "-m", "init"]);
    format!("file://{}", root.display())
}

fn trove(data: &Path, cache: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_trove"))
        .args(args)
        .env("TROVE_DATA_DIR", data)
        .env("TROVE_GIT_CACHE_DIR", cache)
        .env_remove("TROVE_DATABASE_URL")
        .env_remove("TROVE_ENCRYPTION_KEYS")
        .output()
        .expect("run trove")
}

fn json(out: &std::process::Output) -> Value {
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

/// A temporary folder with a data directory holding org `acme`, and a git cache beside it.
fn bootstrapped() -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let cache = dir.path().join("cache");
    let boot = trove(
        &data,
        &cache,
        &[
            "admin",
            "bootstrap",
            "--org",
            "acme",
            "--email",
            "o@acme.test",
        ],
    );
    assert!(
        boot.status.success(),
        "{}",
        String::from_utf8_lossy(&boot.stderr)
    );
    (dir, data, cache)
}

#[test]
fn connect_all_wait_then_sync_wait_without_a_server() {
    let (dir, data, cache) = bootstrapped();
    let url = repo(dir.path());

    let out = trove(
        &data,
        &cache,
        &[
            "connect", "git", &url, "--org", "acme", "--all", "--wait", "--json",
        ],
    );
    let event = json(&out);
    assert_eq!(event["status"], "completed", "{event}");
    assert!(event["id"].as_str().unwrap().starts_with("cse_"));
    assert_eq!(event["sourceRevisionRef"].as_str().unwrap().len(), 40);
    for key in ["created", "updated", "deleted", "unchanged", "skipped"] {
        assert!(event["counts"][key].is_number(), "counts.{key}");
    }
    assert!(event["counts"]["created"].as_i64().unwrap() >= 1, "{event}");
    assert!(event["errors"].is_array());
    let instance = event["instance"]["id"].as_str().unwrap().to_string();
    assert!(instance.starts_with("cin_"));

    let out = trove(&data, &cache, &["sync", &instance, "--wait", "--json"]);
    let again = json(&out);
    assert!(
        matches!(again["status"].as_str(), Some("completed" | "ignored")),
        "{again}"
    );
    assert_eq!(again["counts"]["created"], 0, "{again}");

    let missing = trove(
        &data,
        &cache,
        &["sync", "cin_0190f3c2a1b27c4d8e9f0a1b2c3d4e5f"],
    );
    assert!(!missing.status.success());
}

#[test]
fn connect_takes_the_path_of_a_local_repository() {
    let (dir, data, cache) = bootstrapped();
    let url = repo(dir.path());

    // A folder is connected by its absolute file:// URL.
    let path = url.strip_prefix("file://").unwrap();
    let out = trove(
        &data,
        &cache,
        &[
            "connect", "git", path, "--org", "acme", "--all", "--wait", "--json",
        ],
    );
    let event = json(&out);
    assert_eq!(event["status"], "completed", "{event}");
    let canonical = std::path::Path::new(path).canonicalize().unwrap();
    assert_eq!(
        event["instance"]["targets"][0]["url"],
        format!("file://{}", canonical.display()),
        "{event}"
    );

    // What is neither a URL nor a folder says so, an scp-style address how to write it, and a
    // second connection of one repository how to name it.
    for (arg, says) in [
        (path, "`--name`"),
        ("/no/such/folder", "neither a repository URL"),
        (
            "git@github.com:acme/plugins.git",
            "ssh://git@github.com/acme/plugins.git",
        ),
    ] {
        let out = trove(&data, &cache, &["connect", "git", arg, "--org", "acme"]);
        assert!(!out.status.success(), "{arg}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(says), "{arg}: {stderr}");
    }
}
