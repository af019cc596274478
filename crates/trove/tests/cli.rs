//! The command line itself: help that explains, and `trove openapi` printing the committed document.

use std::process::Command;

fn trove(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_trove"))
        .args(args)
        .output()
        .expect("run trove")
}

#[test]
fn help_lists_every_command_with_an_explanation() {
    let out = trove(&["--help"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for command in ["serve", "worker", "migrate", "admin", "openapi", "discover"] {
        assert!(text.contains(command), "--help does not mention {command}");
    }
    for (args, expected) in [
        (vec!["serve", "--help"], "TROVE_LISTEN"),
        (vec!["serve", "--help"], "TROVE_DATABASE_URL"),
        (vec!["admin", "bootstrap", "--help"], "--json"),
        (vec!["admin", "keys", "rotate", "--help"], "re-encrypt"),
    ] {
        let out = trove(&args);
        assert!(out.status.success(), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains(expected),
            "{args:?} lacks {expected}"
        );
    }
}

#[test]
fn openapi_command_prints_the_committed_document() {
    let out = trove(&["openapi"]);
    assert!(out.status.success());
    let committed =
        std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../openapi.json")).unwrap();
    assert!(
        out.stdout == committed,
        "`trove openapi` differs from openapi.json"
    );
}

#[test]
fn bad_settings_give_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_trove"))
        .args(["migrate"])
        .env("TROVE_DATA_DIR", dir.path())
        .env("TROVE_ENCRYPTION_KEYS", "1:tooshort")
        .output()
        .unwrap();
    // migrate needs no keys; admin commands do.
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(env!("CARGO_BIN_EXE_trove"))
        .args(["admin", "bootstrap", "--org", "x1", "--email", "a@b.c"])
        .env("TROVE_DATA_DIR", dir.path())
        .env("TROVE_ENCRYPTION_KEYS", "1:tooshort")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("TROVE_ENCRYPTION_KEYS") || err.contains("base64"),
        "{err}"
    );
}

#[test]
fn a_bad_source_limit_names_the_setting_and_its_form() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_trove"))
        .args(["migrate"])
        .env("TROVE_DATA_DIR", dir.path())
        .env("TROVE_SYNC_MAX_FILE_SIZE", "32 potatoes")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--sync-max-file-size"), "{err}");
    assert!(err.contains("unknown unit (use KiB, MiB or GiB)"), "{err}");
    assert!(
        !dir.path().join("trove.db").exists(),
        "nothing is created on a bad setting"
    );
}

#[test]
fn discover_prints_the_documented_json_shape() {
    let fixtures = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/fixtures/claude-plugins"
    );
    let out = trove(&[
        "discover",
        &format!("{fixtures}/anthropics__skills"),
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let keys: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        ["classification", "marketplace", "plugins", "warnings"]
    );
    assert_eq!(json["classification"], "marketplace");
    assert_eq!(json["marketplace"]["name"], "anthropic-agent-skills");
    let skills: Vec<usize> = json["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["components"]["skills"].as_array().unwrap().len())
        .collect();
    assert_eq!(skills, [4, 12, 1]);
    for key in [
        "key",
        "name",
        "root",
        "source",
        "strict",
        "supported",
        "selected_by_default",
        "components",
        "warnings",
    ] {
        assert!(json["plugins"][0].get(key).is_some(), "plugin lacks {key}");
    }
    // The readable summary names the classification and the plugins.
    let out = trove(&["discover", &format!("{fixtures}/obra__superpowers")]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("marketplace") && text.contains("superpowers"),
        "{text}"
    );
    // A missing directory is a clear error.
    let out = trove(&["discover", "/nonexistent/repo"]);
    assert!(!out.status.success());
    assert!(!out.stderr.is_empty());
}
