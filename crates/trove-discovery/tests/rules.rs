//! The format's rules, one small in-memory repository each.

use serde_json::json;
use trove_discovery::{Classification, Discovery, MemSnapshot, Source, WarningCode, discover};

fn mkt(plugins: serde_json::Value) -> String {
    json!({"name": "m", "owner": {"name": "o"}, "plugins": plugins}).to_string()
}

fn skill(name: &str) -> String {
    format!("---\nname: {name}\ndescription: does {name}\n---\n# {name}\n")
}

fn has(d: &Discovery, code: WarningCode) -> bool {
    d.warnings.iter().any(|w| w.code == code)
        || d.plugins
            .iter()
            .any(|p| p.warnings.iter().any(|w| w.code == code))
}

#[test]
fn root_plugin_with_default_layout() {
    let s = MemSnapshot::new()
        .file(".claude-plugin/plugin.json", r#"{"name": "p", "version": "1.0.0"}"#)
        .file("skills/a/SKILL.md", skill("a"))
        .file("skills/a/scripts/run.sh", "#!/bin/sh")
        .file("skills/a/references/deep/x.md", "x")
        .file("skills/notaskill/README.md", "x")
        .file("skills/nested/deeper/SKILL.md", skill("deeper"))
        .file("commands/one.md", "---\ndescription: first\n---\nbody")
        .file("commands/git/two.md", "Second command line\n")
        .file("agents/review/security.md", "---\nname: sec\ndescription: reviews\n---\n")
        .file("agents/.hidden/x.md", "x")
        .file("output-styles/terse.md", "---\nname: Terse\n---\n")
        .file("hooks/hooks.json", r#"{"hooks": {"PreToolUse": [{"matcher": "Bash", "hooks": [
            {"type": "command", "command": "a"}, {"type": "http", "url": "https://x"},
            {"type": "prompt", "prompt": "p"}, {"type": "agent"}, {"type": "mcp_tool", "server": "s", "tool": "t"}]}],
            "Stop": [{"hooks": [{"type": "command", "command": "b"}]}]}}"#)
        .file(".mcp.json", r#"{"mcpServers": {"db": {"command": "x"}, "api": {"type": "http", "url": "https://x"}}}"#)
        .file(".lsp.json", r#"{"rust": {"command": "rust-analyzer", "extensionToLanguage": {".rs": "rust"}}}"#);
    let d = discover(&s);
    assert_eq!(d.classification, Classification::Plugin);
    let p = &d.plugins[0];
    assert_eq!(p.key, "manifest:.claude-plugin/plugin.json");
    let c = &p.components;
    assert_eq!(
        c.skills.len(),
        1,
        "only direct children of skills/ with SKILL.md"
    );
    assert_eq!(c.skills[0].files.len(), 3, "every file of the skill folder");
    assert_eq!(c.skills[0].description.as_deref(), Some("does a"));
    let mut cmds: Vec<_> = c.commands.iter().map(|x| x.name.as_str()).collect();
    cmds.sort();
    assert_eq!(cmds, ["git:two", "one"], "commands are recursive");
    assert_eq!(
        c.commands
            .iter()
            .find(|x| x.name == "git:two")
            .and_then(|x| x.description.as_deref()),
        Some("Second command line")
    );
    assert_eq!(c.agents.len(), 1);
    assert_eq!(c.agents[0].name, "review:security");
    assert_eq!(c.agents[0].title, "sec");
    assert_eq!(c.output_styles.len(), 1);
    assert_eq!(c.hooks.len(), 6, "every handler of every group");
    let types: Vec<_> = c.hooks.iter().map(|h| h.handler_type.as_str()).collect();
    assert!(types.contains(&"http") && types.contains(&"mcp_tool") && types.contains(&"agent"));
    assert_eq!(c.mcp_servers.len(), 2);
    assert_eq!(
        c.mcp_servers
            .iter()
            .find(|m| m.name == "api")
            .map(|m| m.server_type.as_str()),
        Some("http")
    );
    assert_eq!(c.lsp_servers.len(), 1);
    assert_eq!(c.lsp_servers[0].server_type, "stdio");
}

#[test]
fn custom_paths_add_or_replace() {
    let s = MemSnapshot::new()
        .file(
            ".claude-plugin/plugin.json",
            r#"{"name": "p", "skills": "./extra", "commands": ["./cmds/only.md"], "agents": "./team"}"#,
        )
        .file("skills/a/SKILL.md", skill("a"))
        .file("extra/b/SKILL.md", skill("b"))
        .file("extra/c/SKILL.md", skill("c"))
        .file("commands/default.md", "x")
        .file("cmds/only.md", "x")
        .file("cmds/other.md", "x")
        .file("agents/default.md", "x")
        .file("team/x.md", "x")
        .file("team/sub/y.md", "x");
    let p = &discover(&s).plugins[0];
    assert_eq!(p.components.skills.len(), 3, "skills paths add to skills/");
    assert_eq!(
        p.components.commands.len(),
        1,
        "commands paths replace commands/"
    );
    assert_eq!(p.components.commands[0].path, "cmds/only.md");
    assert_eq!(
        p.components.agents.len(),
        2,
        "an agents folder is scanned recursively"
    );
}

#[test]
fn skill_folder_named_directly_and_dedupe() {
    let s = MemSnapshot::new()
        .file(
            ".claude-plugin/plugin.json",
            r#"{"name": "p", "skills": ["./skills/a", "./skills/a/", "./"]}"#,
        )
        .file("skills/a/SKILL.md", skill("a"));
    let p = &discover(&s).plugins[0];
    assert_eq!(p.components.skills.len(), 1);
}

#[test]
fn root_skill_md_is_a_single_skill_plugin() {
    let mut s = MemSnapshot::new()
        .file(".claude-plugin/plugin.json", r#"{"name": "solo"}"#)
        .file("SKILL.md", skill("solo-skill"))
        .file("scripts/x.py", "print()");
    s.set_root_name("repo");
    let p = &discover(&s).plugins[0];
    assert_eq!(p.components.skills.len(), 1);
    let sk = &p.components.skills[0];
    assert_eq!(sk.folder, "");
    assert_eq!(sk.title, "solo-skill");
    assert!(sk.files.contains(&"scripts/x.py".to_owned()));
    assert!(!sk.files.iter().any(|f| f.starts_with(".claude-plugin/")));
}

#[test]
fn marketplace_root_entries_split_skills() {
    let s = MemSnapshot::new()
        .file(
            ".claude-plugin/marketplace.json",
            mkt(json!([
                {"name": "one", "source": "./", "strict": false, "skills": ["./skills/a"]},
                {"name": "all", "source": "./", "strict": false, "skills": ["./skills/"]},
                {"name": "missing", "source": "./", "strict": false, "skills": ["./nope"]},
                {"name": "plain", "source": "./"}
            ])),
        )
        .file("skills/a/SKILL.md", skill("a"))
        .file("skills/b/SKILL.md", skill("b"));
    let d = discover(&s);
    let n: Vec<usize> = d
        .plugins
        .iter()
        .map(|p| p.components.skills.len())
        .collect();
    assert_eq!(n, [1, 2, 2, 2]);
    assert_eq!(d.plugins[0].key, ".claude-plugin/marketplace.json#one");
}

#[test]
fn strict_true_merges_and_strict_false_conflicts() {
    let s = MemSnapshot::new()
        .file(
            ".claude-plugin/marketplace.json",
            mkt(json!([
                {"name": "merged", "source": "./plugins/a", "commands": ["./more/x.md"]},
                {"name": "conflict", "source": "./plugins/b", "strict": false, "commands": ["./commands/y.md"]},
                {"name": "entry-only", "source": "./plugins/c", "strict": false, "agents": ["./agents/z.md"]}
            ])),
        )
        .file("plugins/a/.claude-plugin/plugin.json", r#"{"name": "a", "commands": ["./commands/w.md"]}"#)
        .file("plugins/a/commands/w.md", "w")
        .file("plugins/a/more/x.md", "x")
        .file("plugins/b/.claude-plugin/plugin.json", r#"{"name": "b", "commands": "./commands"}"#)
        .file("plugins/b/commands/y.md", "y")
        .file("plugins/c/agents/z.md", "z")
        .file("plugins/c/agents/unlisted.md", "u");
    let d = discover(&s);
    assert_eq!(
        d.plugins[0].components.commands.len(),
        2,
        "strict: entry adds to plugin.json"
    );
    assert!(d.plugins[0].supported);
    let b = &d.plugins[1];
    assert!(!b.supported && !b.selected_by_default);
    assert!(
        b.warnings
            .iter()
            .any(|w| w.code == WarningCode::ConflictingManifests)
    );
    assert_eq!(d.plugins[2].components.agents.len(), 1);
    assert!(d.plugins[2].supported);
}

#[test]
fn every_source_form() {
    let s = MemSnapshot::new()
        .file(
            ".claude-plugin/marketplace.json",
            json!({"name": "m", "owner": {"name": "o"}, "metadata": {"pluginRoot": "./plugins"}, "plugins": [
                {"name": "rel", "source": "./plugins/rel"},
                {"name": "bare", "source": "bare"},
                {"name": "gh", "source": {"source": "github", "repo": "o/r", "ref": "main", "sha": "0123456789abcdef0123456789abcdef01234567"}},
                {"name": "url", "source": {"source": "url", "url": "https://git.example/r.git"}},
                {"name": "sub", "source": {"source": "git-subdir", "url": "o/r", "path": "plugins/x"}},
                {"name": "npm", "source": {"source": "npm", "package": "@s/p", "version": "^1"}},
                {"name": "zip", "source": {"source": "archive", "url": "https://x/p.zip", "sha256": "ab"}},
                {"name": "cmd", "source": {"source": "command", "command": "rm -rf /"}},
                {"name": "pip", "source": {"source": "pip", "package": "x"}},
                {"name": "ghstr", "source": "github:o/r"},
                {"name": "noslash", "source": "plugins/rel"},
                {"name": "badsha", "source": {"source": "github", "repo": "o/r", "sha": "abc"}},
                {"name": "badrepo", "source": {"source": "github", "repo": "../../x"}}
            ]})
            .to_string(),
        )
        .file("plugins/rel/commands/a.md", "a")
        .file("plugins/bare/commands/b.md", "b");
    let d = discover(&s);
    let kinds: Vec<&str> = d.plugins.iter().map(|p| p.source.kind()).collect();
    assert_eq!(
        kinds,
        [
            "local",
            "local",
            "github",
            "url",
            "git-subdir",
            "npm",
            "archive",
            "unknown",
            "unknown",
            "unknown",
            "unknown",
            "unknown",
            "unknown"
        ]
    );
    let supported: Vec<bool> = d.plugins.iter().map(|p| p.supported).collect();
    assert_eq!(
        supported,
        [
            true, true, true, true, true, true, true, false, false, false, false, false, false
        ]
    );
    assert_eq!(d.plugins[1].root.as_deref(), Some("plugins/bare"));
    assert!(
        d.plugins[2..7]
            .iter()
            .all(|p| p.needs_fetch && p.root.is_none() && p.components.skills.is_empty())
    );
    let v = serde_json::to_value(&d.plugins[2].source).unwrap();
    assert_eq!(
        v,
        json!({"kind": "github", "repo": "o/r", "ref": "main", "sha": "0123456789abcdef0123456789abcdef01234567"})
    );
    let v = serde_json::to_value(&d.plugins[4].source).unwrap();
    assert_eq!(
        v,
        json!({"kind": "git-subdir", "url": "o/r", "path": "plugins/x"})
    );
    assert_eq!(
        d.plugins[5].source,
        Source::Npm {
            package: "@s/p".into(),
            version: Some("^1".into()),
            registry: None
        }
    );
}

#[test]
fn inline_servers_and_hooks() {
    let s = MemSnapshot::new()
        .file(
            ".claude-plugin/plugin.json",
            json!({"name": "p",
                "mcpServers": {"inline": {"command": "x"}},
                "lspServers": {"go": {"command": "gopls", "extensionToLanguage": {".go": "go"}}},
                "hooks": {"PostToolUse": [{"matcher": "Write", "hooks": [{"type": "command", "command": "fmt"}]}]},
                "commands": {"hello": {"content": "---\ndescription: greets\n---\nHi"}}})
            .to_string(),
        )
        .file(".mcp.json", r#"{"flat": {"command": "y"}, "remote": {"url": "https://x"}}"#)
        .file("hooks/hooks.json", r#"{"hooks": {"Stop": [{"hooks": [{"type": "command", "command": "s"}]}]}}"#);
    let d = discover(&s);
    let c = &d.plugins[0].components;
    let mut mcp: Vec<_> = c.mcp_servers.iter().map(|m| m.name.as_str()).collect();
    mcp.sort();
    assert_eq!(
        mcp,
        ["flat", "inline", "remote"],
        ".mcp.json without wrapper merges with inline"
    );
    assert_eq!(c.lsp_servers.len(), 1);
    assert_eq!(c.hooks.len(), 2, "inline hooks add to hooks/hooks.json");
    assert_eq!(c.commands.len(), 1);
    assert_eq!(c.commands[0].description.as_deref(), Some("greets"));
    // `url` without `type` is flagged.
    assert!(has(&d, WarningCode::InvalidServer));
}

#[test]
fn hooks_reference_to_default_file_is_not_double_counted() {
    let s = MemSnapshot::new()
        .file(
            ".claude-plugin/plugin.json",
            r#"{"name": "p", "hooks": "./hooks/hooks.json"}"#,
        )
        .file(
            "hooks/hooks.json",
            r#"{"hooks": {"Stop": [{"hooks": [{"type": "command", "command": "s"}]}]}}"#,
        );
    let d = discover(&s);
    assert_eq!(d.plugins[0].components.hooks.len(), 1);
    assert!(has(&d, WarningCode::InvalidHook));
}

#[test]
fn mcpb_bundles() {
    let s = MemSnapshot::new()
        .file(
            ".claude-plugin/plugin.json",
            r#"{"name": "p", "mcpServers": ["./b/server.mcpb", "https://x/y/tool.mcpb"]}"#,
        )
        .file("b/server.mcpb", "zip");
    let c = &discover(&s).plugins[0].components;
    assert_eq!(c.mcp_servers.len(), 2);
    assert!(c.mcp_servers.iter().all(|m| m.server_type == "mcpb"));
}

#[test]
fn multi_plugin_and_folder_plugin_and_unsupported() {
    let s = MemSnapshot::new()
        .file("a/.claude-plugin/plugin.json", r#"{"name": "a"}"#)
        .file("a/commands/x.md", "x")
        .file("b/.claude-plugin/plugin.json", r#"{"name": "b"}"#)
        .file("b/agents/y.md", "y");
    let d = discover(&s);
    assert_eq!(d.classification, Classification::MultiPlugin);
    assert_eq!(d.plugins.len(), 2);
    assert_eq!(d.plugins[0].key, "manifest:a/.claude-plugin/plugin.json");

    let d = discover(
        &MemSnapshot::new()
            .file("commands/x.md", "x")
            .file("README.md", "r"),
    );
    assert_eq!(d.classification, Classification::Plugin);
    assert!(d.plugins[0].supported && !d.plugins[0].selected_by_default);

    let d = discover(
        &MemSnapshot::new()
            .file("README.md", "hello")
            .file(".claude/skills/x/SKILL.md", skill("x")),
    );
    assert_eq!(d.classification, Classification::SkillsOnly);

    let d = discover(&MemSnapshot::new().file("README.md", "hello"));
    assert_eq!(d.classification, Classification::Unsupported);
    assert!(d.plugins.is_empty());
    assert!(
        d.warnings.iter().any(
            |w| w.code == WarningCode::Hint && w.message.contains(".claude-plugin/plugin.json")
        )
    );
}

#[test]
fn nested_marketplace_in_monorepo() {
    let s = MemSnapshot::new()
        .file(
            "packages/skills/.claude-plugin/marketplace.json",
            mkt(json!([{"name": "x", "source": "./x"}])),
        )
        .file("packages/skills/x/skills/s/SKILL.md", skill("s"));
    let d = discover(&s);
    assert_eq!(d.classification, Classification::Marketplace);
    assert_eq!(
        d.marketplace.as_ref().map(|m| m.path.as_str()),
        Some("packages/skills/.claude-plugin/marketplace.json")
    );
    assert_eq!(d.plugins[0].root.as_deref(), Some("packages/skills/x"));
    assert_eq!(d.plugins[0].components.skills.len(), 1);
}

#[test]
fn duplicate_and_unsafe_entry_names() {
    let s = MemSnapshot::new()
        .file(
            ".claude-plugin/marketplace.json",
            mkt(json!([
                {"name": "x", "source": "./a"},
                {"name": "x", "source": "./a"},
                {"name": "../../../.ssh", "source": "./a"},
                {"source": "./a"},
                "not an object"
            ])),
        )
        .file("a/commands/c.md", "c");
    let d = discover(&s);
    assert_eq!(d.plugins.len(), 4);
    let keys: Vec<&str> = d.plugins.iter().map(|p| p.key.as_str()).collect();
    let mut unique = keys.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 4, "keys stay unique: {keys:?}");
    let supported: Vec<bool> = d.plugins.iter().map(|p| p.supported).collect();
    assert_eq!(supported, [true, false, false, false]);
    assert!(has(&d, WarningCode::DuplicateName));
}

#[test]
fn unreferenced_manifest_is_reported() {
    let s = MemSnapshot::new()
        .file(
            ".claude-plugin/marketplace.json",
            mkt(json!([{"name": "a", "source": "./a"}])),
        )
        .file("a/.claude-plugin/plugin.json", r#"{"name": "a"}"#)
        .file("b/.claude-plugin/plugin.json", r#"{"name": "b"}"#);
    let d = discover(&s);
    assert!(
        d.warnings
            .iter()
            .any(|w| w.code == WarningCode::Unreferenced
                && w.path.as_deref() == Some("b/.claude-plugin/plugin.json"))
    );
}

#[test]
fn json_with_comments_loads_with_a_warning_and_errors_have_positions() {
    let s = MemSnapshot::new().file(
        ".claude-plugin/plugin.json",
        "{\n // c\n \"name\": \"p\",\n}",
    );
    let d = discover(&s);
    assert!(d.plugins[0].supported);
    assert!(has(&d, WarningCode::JsoncAccepted));

    let s = MemSnapshot::new().file(".claude-plugin/plugin.json", "{\n \"name\": 'p'\n}");
    let d = discover(&s);
    assert!(!d.plugins[0].supported);
    let w = d.plugins[0]
        .warnings
        .iter()
        .find(|w| w.code == WarningCode::InvalidJson)
        .unwrap();
    assert_eq!(w.line, Some(2));
}

#[test]
fn render_summary_mentions_everything() {
    let s = MemSnapshot::new()
        .file(".claude-plugin/plugin.json", r#"{"name": "p\u001b[31m"}"#)
        .file("skills/a/SKILL.md", skill("a"));
    let text = trove_discovery::render_summary(&discover(&s));
    assert!(text.contains("classification: plugin"));
    assert!(text.contains("skills 1"));
    assert!(
        !text.contains('\u{1b}'),
        "control characters from names never reach the terminal"
    );
}
