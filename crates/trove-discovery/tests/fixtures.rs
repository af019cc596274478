//! Every fixture repository of `shared/fixtures/claude-plugins`, against the counts of its
//! README (asserted explicitly here) and the per-plugin detail of its EXPECTED.md.

mod common;

use common::*;
use trove_discovery::{Classification, Source, WarningCode};

// Order of the count arrays: [S, C, A, H, MCP, LSP].

#[test]
fn anthropics_claude_code() {
    let f = "anthropics__claude-code";
    let d = run(f);
    assert_eq!(d.classification, Classification::Marketplace);
    let m = d.marketplace.as_ref().expect("marketplace");
    assert_eq!(m.name, "claude-code-plugins");
    assert_eq!(d.plugins.len(), 13);
    assert_eq!(totals(&d), [10, 15, 15, 13, 0, 0]);
    assert!(
        d.plugins
            .iter()
            .all(|p| p.supported && p.selected_by_default)
    );
    // plugin-dev has no plugin.json: name from the entry, default layout.
    let pd = plugin(&d, "plugin-dev");
    assert_eq!(counts(pd), [7, 1, 3, 0, 0, 0]);
    assert!(pd.manifest_path.is_none());
    // hookify: skill whose frontmatter name has spaces; agent with non-YAML frontmatter still loads.
    let hk = plugin(&d, "hookify");
    assert_eq!(counts(hk), [1, 4, 1, 4, 0, 0]);
    assert_eq!(hk.components.skills[0].name, "writing-rules");
    assert_eq!(hk.components.skills[0].title, "Writing Hookify Rules");
    assert!(
        hk.warnings
            .iter()
            .any(|w| w.code == WarningCode::FrontmatterNotYaml)
    );
    let mut events: Vec<&str> = hk
        .components
        .hooks
        .iter()
        .map(|h| h.event.as_str())
        .collect();
    events.sort();
    assert_eq!(
        events,
        ["PostToolUse", "PreToolUse", "Stop", "UserPromptSubmit"]
    );
    // pr-review-toolkit: six agents a strict YAML parser rejects, all with a description.
    let pr = plugin(&d, "pr-review-toolkit");
    assert_eq!(counts(pr), [0, 1, 6, 0, 0, 0]);
    assert!(pr.components.agents.iter().all(|a| a.description.is_some()));
    assert_eq!(
        pr.warnings
            .iter()
            .filter(|w| w.code == WarningCode::FrontmatterNotYaml)
            .count(),
        6
    );
    // security-guidance: 6 handlers, plugin.json version wins over the entry's.
    let sg = plugin(&d, "security-guidance");
    assert_eq!(counts(sg), [0, 0, 0, 6, 0, 0]);
    assert_eq!(sg.metadata.version.as_deref(), Some("2.0.0"));
    // The repository's own .claude/commands are not plugin content.
    assert!(d.plugins.iter().all(|p| {
        p.components
            .commands
            .iter()
            .all(|c| !c.path.starts_with(".claude/"))
    }));
    assert!(
        d.warnings
            .iter()
            .any(|w| w.code == WarningCode::ReservedName)
    );
    check_against_expected(f, &d, "Marketplace");
}

#[test]
fn anthropics_skills() {
    let f = "anthropics__skills";
    let d = run(f);
    assert_eq!(d.classification, Classification::Marketplace);
    assert_eq!(
        d.marketplace.as_ref().map(|m| m.name.as_str()),
        Some("anthropic-agent-skills")
    );
    assert_eq!(d.plugins.len(), 3);
    assert_eq!(counts(plugin(&d, "document-skills")), [4, 0, 0, 0, 0, 0]);
    assert_eq!(counts(plugin(&d, "example-skills")), [12, 0, 0, 0, 0, 0]);
    assert_eq!(counts(plugin(&d, "claude-api")), [1, 0, 0, 0, 0, 0]);
    assert_eq!(totals(&d), [17, 0, 0, 0, 0, 0]);
    // Three plugins, one root, three distinct keys.
    let mut keys: Vec<&str> = d.plugins.iter().map(|p| p.key.as_str()).collect();
    keys.dedup();
    assert_eq!(keys.len(), 3);
    assert!(
        d.plugins
            .iter()
            .all(|p| p.root.as_deref() == Some("") && !p.strict)
    );
    // Every file of a skill folder belongs to it (claude-api's shared/*.md are support files).
    let api = &plugin(&d, "claude-api").components.skills[0];
    assert!(
        api.files
            .iter()
            .any(|f| f.starts_with("skills/claude-api/shared/"))
    );
    assert!(api.files.contains(&"skills/claude-api/SKILL.md".to_owned()));
    check_against_expected(f, &d, "Marketplace");
}

#[test]
fn obra_superpowers() {
    let f = "obra__superpowers";
    let d = run(f);
    assert_eq!(d.classification, Classification::Marketplace);
    assert_eq!(
        d.plugins.len(),
        1,
        "root plugin.json + `./` entry is one plugin"
    );
    let p = plugin(&d, "superpowers");
    assert_eq!(counts(p), [14, 0, 0, 1, 0, 0]);
    let h = &p.components.hooks[0];
    assert_eq!(h.event, "SessionStart");
    assert_eq!(h.matcher.as_deref(), Some("startup|clear|compact"));
    assert!(
        h.command
            .as_deref()
            .unwrap_or_default()
            .contains("run-hook.cmd")
    );
    assert_eq!(
        p.manifest_path.as_deref(),
        Some(".claude-plugin/plugin.json")
    );
    // Decoys of other ecosystems are ignored, and so is the Codex marketplace.
    assert!(
        d.warnings
            .iter()
            .all(|w| !w.path.as_deref().unwrap_or("").starts_with(".agents"))
    );
    check_against_expected(f, &d, "Marketplace");
}

#[test]
fn wshobson_agents() {
    let f = "wshobson__agents__a5ab5d8";
    let d = run(f);
    assert_eq!(d.classification, Classification::Marketplace);
    assert_eq!(d.plugins.len(), 72);
    assert_eq!(totals(&d), [145, 91, 169, 0, 0, 0]);
    assert_eq!(d.plugins.iter().filter(|p| !p.strict).count(), 67);
    // Only the listed agent is exposed; haskell-pro.md exists but is not listed.
    assert_eq!(
        counts(plugin(&d, "functional-programming")),
        [0, 0, 1, 0, 0, 0]
    );
    // `commands: []` replaces the default folder.
    assert_eq!(
        plugin(&d, "cloud-infrastructure").components.commands.len(),
        0
    );
    // Skills listed as SKILL.md files: the default scan still finds them.
    assert_eq!(plugin(&d, "shell-scripting").components.skills.len(), 3);
    // An agent with no frontmatter loads under its file name.
    let ci = plugin(&d, "cloud-infrastructure");
    assert!(
        ci.components
            .agents
            .iter()
            .any(|a| a.name == "service-mesh-expert")
    );
    check_against_expected(f, &d, "Marketplace");
}

#[test]
fn kivilaid_spec_strict_reading() {
    let f = "kivilaid__plugin-marketplace";
    let d = run(f);
    assert_eq!(d.classification, Classification::Marketplace);
    assert_eq!(
        d.marketplace.as_ref().map(|m| m.name.as_str()),
        Some("ando-marketplace")
    );
    assert_eq!(d.plugins.len(), 77);
    assert_eq!(totals(&d), [84, 9, 13, 2, 14, 0], "spec-strict totals");
    // example-full-featured: plugin.json at the plugin root is not read; defaults apply and its
    // declared MCP server is not registered.
    let ef = plugin(&d, "example-full-featured");
    assert_eq!(counts(ef), [0, 3, 2, 1, 0, 0]);
    assert!(
        ef.warnings
            .iter()
            .any(|w| w.code == WarningCode::MisplacedManifest)
    );
    // `./` skill bundles also pick up the root .mcp.json, flagged.
    for b in [
        "document-skills",
        "example-skills",
        "development-workflow-skills",
        "content-productivity-skills",
        "media-data-tools",
        "organization-tools",
        "engineering-workflow-tools",
    ] {
        let p = plugin(&d, b);
        assert_eq!(p.components.mcp_servers.len(), 2, "{b}");
        assert!(
            p.warnings.iter().any(|w| w.message.contains(".mcp.json")),
            "{b}"
        );
    }
    // The lenient (marketplace-root-relative) finding is surfaced as a warning, not counted.
    let cd = plugin(&d, "code-documentation");
    assert_eq!(counts(cd), [0, 0, 0, 0, 0, 0]);
    let lenient: Vec<_> = cd
        .warnings
        .iter()
        .filter(|w| w.code == WarningCode::PathRelativeToMarketplaceRoot)
        .collect();
    assert_eq!(lenient.len(), 2, "one warning for commands, one for agents");
    assert!(
        lenient
            .iter()
            .any(|w| w.message.starts_with("2 `commands`"))
    );
    assert!(lenient.iter().any(|w| w.message.starts_with("3 `agents`")));
    let lenient_plugins = d
        .plugins
        .iter()
        .filter(|p| {
            p.warnings
                .iter()
                .any(|w| w.code == WarningCode::PathRelativeToMarketplaceRoot)
        })
        .count();
    assert_eq!(lenient_plugins, 64);
    // The nested copy of another repo's look-alike marketplace is rejected, not parsed.
    assert!(d.warnings.iter().any(|w| {
        w.code == WarningCode::InvalidManifest
            && w.path
                .as_deref()
                .is_some_and(|p| p.starts_with("plugins/davila7-claude-code-templates/"))
    }));
    check_against_expected(f, &d, "Marketplace `.claude-plugin");
}

#[test]
fn netresearch_marketplace_remote_sources() {
    let f = "netresearch__claude-code-marketplace";
    let d = run(f);
    assert_eq!(d.classification, Classification::Marketplace);
    assert_eq!(d.plugins.len(), 40);
    assert_eq!(totals(&d), [0; 6]);
    for p in &d.plugins {
        assert!(
            matches!(&p.source, Source::Github { repo, .. } if repo.starts_with("netresearch/"))
        );
        assert!(p.supported && p.selected_by_default && p.needs_fetch);
        assert!(p.root.is_none());
    }
    let t = plugin(&d, "typo3-docs");
    assert_eq!(
        t.source,
        Source::Github {
            repo: "netresearch/typo3-docs-skill".into(),
            git_ref: None,
            sha: None
        }
    );
    let json = serde_json::to_value(t).expect("json");
    assert_eq!(
        json["source"],
        serde_json::json!({"kind": "github", "repo": "netresearch/typo3-docs-skill"})
    );
}

#[test]
fn netresearch_typo3_docs_skill() {
    let d = run("netresearch__typo3-docs-skill");
    assert_eq!(d.classification, Classification::Plugin);
    assert_eq!(d.plugins.len(), 1);
    let p = plugin(&d, "typo3-docs");
    assert_eq!(
        counts(p),
        [1, 0, 0, 2, 0, 0],
        "skills field naming skills/typo3-docs is not double counted"
    );
    assert_eq!(p.root.as_deref(), Some(""));
    assert_eq!(p.key, "manifest:.claude-plugin/plugin.json");
    assert_eq!(p.metadata.version.as_deref(), Some("2.18.0"));
    assert_eq!(
        p.metadata.license.as_deref(),
        Some("(MIT AND CC-BY-SA-4.0)")
    );
    let matchers: Vec<_> = p
        .components
        .hooks
        .iter()
        .map(|h| h.matcher.as_deref())
        .collect();
    assert_eq!(matchers, [Some("Write"), Some("Edit")]);
    // The agent-plugins.org plugin.json at the root is another format: no warning.
    assert!(
        p.warnings
            .iter()
            .all(|w| w.code != WarningCode::MisplacedManifest)
    );
    check_against_expected("netresearch__typo3-docs-skill", &d, "Repository root");
}

#[test]
fn openai_skills_is_skills_only() {
    let d = run("openai__skills");
    assert_eq!(d.classification, Classification::SkillsOnly);
    // Offered as one candidate, not preselected; 10 SKILL.md folders, 0 at skills/<name>/.
    assert_eq!(d.plugins.len(), 1);
    let p = &d.plugins[0];
    assert!(p.supported && !p.selected_by_default);
    assert_eq!(counts(p), [10, 0, 0, 0, 0, 0]);
    assert!(
        p.components
            .skills
            .iter()
            .all(|s| s.folder.starts_with("skills/."))
    );
    assert!(
        p.warnings
            .iter()
            .any(|w| w.message.contains("0 of them at skills/<name>/SKILL.md"))
    );
}

#[test]
fn zero_dd_hostile_marketplace_name_is_refused() {
    let d = run("0dd__my-marketplace");
    assert_eq!(d.classification, Classification::Marketplace);
    assert!(
        d.marketplace.is_none(),
        "a marketplace named ../../../.ssh is refused"
    );
    assert!(d.plugins.is_empty());
    assert!(
        d.warnings
            .iter()
            .any(|w| w.code == WarningCode::InvalidName)
    );
}

#[test]
fn dgalarza_trailing_comma_read_as_jsonc() {
    let f = "dgalarza__claude-code-workflows__ba02904";
    let d = run(f);
    assert_eq!(d.classification, Classification::Marketplace);
    assert_eq!(
        d.marketplace.as_ref().map(|m| m.name.as_str()),
        Some("dgalarza-workflows")
    );
    assert_eq!(d.plugins.len(), 7);
    assert_eq!(totals(&d), [7, 2, 5, 1, 0, 0]);
    assert_eq!(counts(plugin(&d, "tdd-workflow")), [1, 0, 0, 1, 0, 0]);
    assert_eq!(counts(plugin(&d, "rails-toolkit")), [2, 2, 4, 0, 0, 0]);
    let w = d
        .warnings
        .iter()
        .find(|w| w.code == WarningCode::JsoncAccepted)
        .expect("JSONC warning");
    assert_eq!((w.line, w.column), (Some(50), Some(3)));
    check_against_expected(f, &d, "Marketplace");
}

#[test]
fn nikhilsitaram_missing_comma_is_a_parse_error() {
    let d = run("nikhilsitaram__claude-caliper__4a1c6df");
    assert_eq!(d.classification, Classification::Marketplace);
    assert!(d.marketplace.is_none());
    assert!(
        d.plugins.is_empty(),
        "no plugins from an unparsable marketplace"
    );
    let w = d
        .warnings
        .iter()
        .find(|w| w.code == WarningCode::InvalidJson)
        .expect("parse error");
    assert_eq!((w.line, w.column), (Some(69), Some(7)));
}

#[test]
fn kuma_unresolved_entries_are_kept() {
    let f = "01kuma20__agi-lab-skills-marketplace";
    let d = run(f);
    assert_eq!(d.classification, Classification::Marketplace);
    assert_eq!(d.plugins.len(), 4);
    let cc = plugin(&d, "career-compass");
    assert_eq!(counts(cc), [3, 1, 0, 0, 0, 0]);
    assert!(cc.supported && cc.selected_by_default);
    for name in ["terminal-vibes", "birthday-countdown", "wingman"] {
        let p = plugin(&d, name);
        assert!(!p.supported && !p.selected_by_default, "{name}");
        assert!(
            p.warnings
                .iter()
                .any(|w| w.code == WarningCode::PluginDirNotFound),
            "{name}"
        );
    }
    check_against_expected(f, &d, "Marketplace");
}

#[test]
fn json_output_has_exactly_the_documented_keys() {
    let d = run("anthropics__claude-code");
    let v = serde_json::to_value(&d).expect("json");
    let keys = |v: &serde_json::Value| {
        let mut k: Vec<String> = v.as_object().expect("object").keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(
        keys(&v),
        ["classification", "marketplace", "plugins", "warnings"]
    );
    assert_eq!(v["classification"], "marketplace");
    for k in ["name", "owner", "description", "path"] {
        assert!(v["marketplace"].get(k).is_some(), "marketplace.{k}");
    }
    assert_eq!(v["marketplace"]["path"], ".claude-plugin/marketplace.json");
    let p = &v["plugins"][7];
    for k in [
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
        assert!(p.get(k).is_some(), "plugin.{k}");
    }
    assert_eq!(p["source"]["kind"], "local");
    assert_eq!(
        keys(&p["components"]),
        [
            "agents",
            "commands",
            "hooks",
            "lsp_servers",
            "mcp_servers",
            "output_styles",
            "skills"
        ]
    );
    let hook = &p["components"]["hooks"][0];
    for k in ["event", "matcher", "path"] {
        assert!(hook.get(k).is_some(), "hook.{k}");
    }
    for k in ["name", "path"] {
        assert!(p["components"]["skills"][0].get(k).is_some());
        assert!(p["components"]["commands"][0].get(k).is_some());
        assert!(p["components"]["agents"][0].get(k).is_some());
    }
}
