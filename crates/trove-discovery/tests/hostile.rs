//! Hostile repositories: traversal, symlinks out of the tree, oversized files, enormous and deep
//! trees, nesting and alias bombs. Each gives warnings or skipped files — never a panic, an
//! unbounded allocation, or a read outside the snapshot.

use std::time::{Duration, Instant};

use serde_json::json;
use trove_discovery::snapshot::{DirLimits, Entry, EntryKind, ReadError, Snapshot};
use trove_discovery::{Classification, DirSnapshot, Discovery, MemSnapshot, WarningCode, discover};

fn all_warnings(d: &Discovery) -> Vec<&trove_discovery::Warning> {
    d.warnings
        .iter()
        .chain(d.plugins.iter().flat_map(|p| p.warnings.iter()))
        .collect()
}

fn has(d: &Discovery, code: WarningCode) -> bool {
    all_warnings(d).iter().any(|w| w.code == code)
}

#[test]
fn unsafe_listing_entries_are_skipped() {
    let mut s = MemSnapshot::new().file(".claude-plugin/plugin.json", r#"{"name": "p"}"#);
    for p in [
        "../escape/commands/x.md",
        "/etc/passwd",
        "commands/../../x.md",
        "commands//y.md",
        "a\u{0}b",
        "commands\\z.md",
    ] {
        s.add_file(p, "x");
    }
    s.add_file("commands/ok.md", "ok");
    let d = discover(&s);
    assert_eq!(d.plugins[0].components.commands.len(), 1);
    let w = d
        .warnings
        .iter()
        .find(|w| w.code == WarningCode::SkippedEntry)
        .expect("skipped entries reported");
    assert!(w.message.starts_with("6 listing entries skipped"));
}

#[test]
fn traversal_in_manifests_is_refused() {
    let s = MemSnapshot::new()
        .file(
            ".claude-plugin/marketplace.json",
            json!({"name": "m", "owner": {"name": "o"}, "metadata": {"pluginRoot": "../../outside"}, "plugins": [
                {"name": "up", "source": "../"},
                {"name": "abs", "source": "/etc"},
                {"name": "sneaky", "source": "./a/../../b"},
                {"name": "ok", "source": "./a", "skills": ["../../.ssh"], "commands": ["/etc/passwd", "./commands/../../../x.md"],
                 "hooks": "~/../../x", "mcpServers": "C:\\evil.json"},
                {"name": "sub", "source": {"source": "git-subdir", "url": "o/r", "path": "../../x"}}
            ]})
            .to_string(),
        )
        .file("a/commands/c.md", "c");
    let d = discover(&s);
    let supported: Vec<bool> = d.plugins.iter().map(|p| p.supported).collect();
    assert_eq!(supported, [false, false, false, true, false]);
    let ok = &d.plugins[3];
    assert_eq!(
        ok.components.commands.len(),
        0,
        "declared (refused) paths still replace the default"
    );
    assert!(
        ok.warnings
            .iter()
            .filter(|w| w.code == WarningCode::PathEscape)
            .count()
            >= 4
    );
    assert!(
        d.marketplace
            .as_ref()
            .is_some_and(|m| m.plugin_root.is_none())
    );
}

#[test]
fn hostile_names_never_become_paths() {
    for name in ["../../../.ssh", "a/b", "..", "x\\y", "", "\u{7}bell"] {
        let s = MemSnapshot::new().file(
            ".claude-plugin/marketplace.json",
            json!({"name": name, "owner": {"name": "o"}, "plugins": []}).to_string(),
        );
        let d = discover(&s);
        assert!(d.marketplace.is_none(), "{name:?} must be refused");
        assert!(has(&d, WarningCode::InvalidName), "{name:?}");
    }
}

#[test]
fn symlinks_are_never_followed() {
    let s = MemSnapshot::new()
        .file(
            ".claude-plugin/plugin.json",
            r#"{"name": "p", "commands": ["./commands/link.md"]}"#,
        )
        .symlink("commands/link.md", "/etc/passwd")
        .symlink("skills/evil", "../../../../home")
        .symlink("skills/fine", "../docs")
        .file("skills/a/SKILL.md", "---\nname: a\n---\n")
        .symlink("skills/a/secret", "/root/.ssh/id_rsa");
    let d = discover(&s);
    let p = &d.plugins[0];
    assert_eq!(p.components.commands.len(), 0);
    assert_eq!(p.components.skills.len(), 1);
    assert!(
        !p.components.skills[0]
            .files
            .iter()
            .any(|f| f.ends_with("secret"))
    );
    let w = d
        .warnings
        .iter()
        .find(|w| w.code == WarningCode::Symlink && w.message.contains("outside"))
        .expect("escaping links reported");
    assert!(w.message.starts_with("3 symlinks"));
    assert!(has(&d, WarningCode::Symlink));
}

#[cfg(unix)]
#[test]
fn dir_snapshot_does_not_follow_symlinks_out_of_the_root() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(
        outside.path().join("secret.md"),
        "---\nname: stolen\n---\nsecret",
    )
    .unwrap();
    std::fs::create_dir(outside.path().join("skill")).unwrap();
    std::fs::write(
        outside.path().join("skill/SKILL.md"),
        "---\nname: stolen\n---\n",
    )
    .unwrap();

    let repo = tempfile::tempdir().unwrap();
    let r = repo.path();
    std::fs::create_dir_all(r.join(".claude-plugin")).unwrap();
    std::fs::write(r.join(".claude-plugin/plugin.json"), r#"{"name": "p"}"#).unwrap();
    std::fs::create_dir_all(r.join("commands")).unwrap();
    std::fs::create_dir_all(r.join("skills")).unwrap();
    std::os::unix::fs::symlink(
        outside.path().join("secret.md"),
        r.join("commands/secret.md"),
    )
    .unwrap();
    std::os::unix::fs::symlink(outside.path().join("skill"), r.join("skills/stolen")).unwrap();
    std::os::unix::fs::symlink(outside.path(), r.join("agents")).unwrap();

    let snap = DirSnapshot::open(r).unwrap();
    assert!(
        snap.entries().iter().all(|e| !e.path.contains("SKILL.md")),
        "the walk never enters a linked folder"
    );
    assert_eq!(
        snap.read("commands/secret.md", 1 << 20),
        Err(ReadError::NotFound)
    );
    assert_eq!(snap.read("../secret.md", 1 << 20), Err(ReadError::NotFound));
    let d = discover(&snap);
    let c = &d.plugins[0].components;
    assert!(c.commands.is_empty() && c.skills.is_empty() && c.agents.is_empty());
    assert!(
        d.warnings
            .iter()
            .any(|w| w.code == WarningCode::Symlink && w.message.contains("outside"))
    );
}

#[cfg(unix)]
#[test]
fn dir_snapshot_rejects_a_parent_swapped_for_a_symlink_after_listing() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::create_dir(outside.path().join("commands")).unwrap();
    std::fs::write(outside.path().join("commands/x.md"), "outside").unwrap();
    let repo = tempfile::tempdir().unwrap();
    std::fs::create_dir(repo.path().join("commands")).unwrap();
    std::fs::write(repo.path().join("commands/x.md"), "inside").unwrap();
    let snap = DirSnapshot::open(repo.path()).unwrap();
    std::fs::remove_dir_all(repo.path().join("commands")).unwrap();
    std::os::unix::fs::symlink(
        outside.path().join("commands"),
        repo.path().join("commands"),
    )
    .unwrap();
    assert_eq!(
        snap.read("commands/x.md", 100),
        Err(ReadError::OutsideSnapshot)
    );
}

/// A snapshot whose listing lies about sizes and whose reads return more than asked.
struct Liar {
    entries: Vec<Entry>,
    data: MemSnapshot,
}

impl Snapshot for Liar {
    fn entries(&self) -> &[Entry] {
        &self.entries
    }
    fn read(&self, path: &str, _max: usize) -> Result<Vec<u8>, ReadError> {
        self.data.read(path, usize::MAX)
    }
}

#[test]
fn oversized_files_are_skipped() {
    let big = format!(
        "{{\"name\": \"p\", \"description\": \"{}\"}}",
        "x".repeat(5 << 20)
    );
    let d = discover(&MemSnapshot::new().file(".claude-plugin/plugin.json", big.clone()));
    assert!(!d.plugins[0].supported);
    assert!(has(&d, WarningCode::FileTooLarge));

    // The listing says 10 bytes, the read returns megabytes: still refused.
    let liar = Liar {
        entries: vec![Entry::blob(".claude-plugin/plugin.json", 10)],
        data: MemSnapshot::new().file(".claude-plugin/plugin.json", big),
    };
    let d = discover(&liar);
    assert!(!d.plugins[0].supported);
    assert!(has(&d, WarningCode::FileTooLarge));

    // A huge Markdown file: only a prefix is read; an unclosed frontmatter is reported.
    let md = format!("---\nname: x\n{}", "y: z\n".repeat(1 << 20));
    let d = discover(
        &MemSnapshot::new()
            .file(".claude-plugin/plugin.json", r#"{"name": "p"}"#)
            .file("agents/a.md", md),
    );
    assert_eq!(d.plugins[0].components.agents.len(), 1);
    assert!(has(&d, WarningCode::FrontmatterTooLarge));
}

#[test]
fn deep_json_nesting_is_an_error_not_a_crash() {
    for deep in [
        "[".repeat(1_000_000),
        format!("{{\"name\": \"p\", \"x\": {}}}", "{\"a\":".repeat(200_000)),
    ] {
        let d = discover(&MemSnapshot::new().file(".claude-plugin/plugin.json", deep));
        assert!(!d.plugins[0].supported);
        let w = all_warnings(&d)
            .into_iter()
            .find(|w| w.code == WarningCode::InvalidJson)
            .expect("error");
        assert!(w.message.contains("nesting"));
    }
    let hooks = format!("{{\"hooks\": {}}}", "[".repeat(500_000));
    let d = discover(
        &MemSnapshot::new()
            .file(".claude-plugin/plugin.json", r#"{"name": "p"}"#)
            .file("hooks/hooks.json", hooks),
    );
    assert!(d.plugins[0].supported);
    assert!(has(&d, WarningCode::InvalidJson));
}

#[test]
fn yaml_alias_bomb_and_deep_yaml_are_bounded() {
    let mut bomb = String::from(
        "---\nname: bomb\na: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    for (i, prev) in ["a", "b", "c", "d", "e", "f", "g", "h"].iter().enumerate() {
        let cur = ["b", "c", "d", "e", "f", "g", "h", "i"][i];
        bomb.push_str(&format!("{cur}: &{cur} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]\n"));
    }
    bomb.push_str("description: boom\n---\nbody\n");
    let deep = format!("---\nname: deep\nx: {}\n---\n", "[".repeat(50_000));
    let start = Instant::now();
    let d = discover(
        &MemSnapshot::new()
            .file(".claude-plugin/plugin.json", r#"{"name": "p"}"#)
            .file("skills/bomb/SKILL.md", bomb)
            .file("skills/deep/SKILL.md", deep),
    );
    assert!(start.elapsed() < Duration::from_secs(5));
    let skills = &d.plugins[0].components.skills;
    assert_eq!(skills.len(), 2, "the skills still load");
    assert!(has(&d, WarningCode::FrontmatterNotYaml));
    let bomb = skills.iter().find(|s| s.name == "bomb").unwrap();
    assert_eq!(
        bomb.description.as_deref(),
        Some("boom"),
        "lenient reading still finds the fields"
    );
}

#[test]
fn enormous_tree_is_handled_in_bounded_time() {
    let mut s = MemSnapshot::new().file(".claude-plugin/plugin.json", r#"{"name": "p"}"#);
    for i in 0..200_000 {
        s.add_entry(Entry::blob(
            format!("vendor/{}/{}/file{i}.txt", i % 97, i % 13),
            10,
        ));
    }
    s.add_file("commands/x.md", "x");
    let start = Instant::now();
    let d = discover(&s);
    assert!(start.elapsed() < Duration::from_secs(20));
    assert_eq!(d.plugins[0].components.commands.len(), 1);
}

#[test]
fn deep_trees() {
    let deep_path = format!("{}x.md", "d/".repeat(100));
    let d = discover(
        &MemSnapshot::new()
            .file(".claude-plugin/plugin.json", r#"{"name": "p"}"#)
            .file(&format!("commands/{deep_path}"), "x"),
    );
    assert_eq!(
        d.plugins[0].components.commands.len(),
        0,
        "paths deeper than the limit are skipped"
    );
    assert!(has(&d, WarningCode::SkippedEntry));

    let repo = tempfile::tempdir().unwrap();
    let mut p = repo.path().join("commands");
    for _ in 0..60 {
        p.push("d");
    }
    std::fs::create_dir_all(&p).unwrap();
    std::fs::write(p.join("x.md"), "x").unwrap();
    let snap = DirSnapshot::open_with(
        repo.path(),
        DirLimits {
            max_entries: 1000,
            max_depth: 20,
        },
    )
    .unwrap();
    assert!(snap.truncated());
    let d = discover(&snap);
    assert!(has(&d, WarningCode::Truncated));

    let repo = tempfile::tempdir().unwrap();
    for i in 0..50 {
        std::fs::write(repo.path().join(format!("f{i}")), "x").unwrap();
    }
    let snap = DirSnapshot::open_with(
        repo.path(),
        DirLimits {
            max_entries: 10,
            max_depth: 20,
        },
    )
    .unwrap();
    assert!(snap.truncated());
    assert_eq!(snap.entries().len(), 10);
}

#[test]
fn submodules_and_non_utf8_manifests() {
    let mut s = MemSnapshot::new().file(
        ".claude-plugin/plugin.json",
        b"{\"name\": \"p\xff\"}".to_vec(),
    );
    s.add_entry(Entry {
        path: "vendor/lib".into(),
        kind: EntryKind::Submodule,
        size: 0,
        mode: 0o160_000,
        link_target: None,
        oid: None,
    });
    let d = discover(&s);
    assert!(has(&d, WarningCode::Submodule));
    let w = all_warnings(&d)
        .into_iter()
        .find(|w| w.code == WarningCode::InvalidJson)
        .expect("utf-8 error");
    assert_eq!(w.line, Some(1));
}

#[test]
fn empty_and_degenerate_snapshots() {
    let d = discover(&MemSnapshot::new());
    assert_eq!(d.classification, Classification::Unsupported);
    for text in [
        "",
        "null",
        "[]",
        "\"x\"",
        "{\"name\": 5, \"plugins\": {}}",
        "{\"name\": \"m\", \"plugins\": [1, null, []]}",
    ] {
        let _ = discover(&MemSnapshot::new().file(".claude-plugin/marketplace.json", text));
        let _ = discover(&MemSnapshot::new().file(".claude-plugin/plugin.json", text));
        let _ = discover(
            &MemSnapshot::new()
                .file(".claude-plugin/plugin.json", r#"{"name":"p"}"#)
                .file("hooks/hooks.json", text)
                .file(".mcp.json", text)
                .file(".lsp.json", text),
        );
    }
}
