//! Property tests over the parsers and over discovery as a whole.

use std::collections::HashSet;

use proptest::prelude::*;
use serde_json::Value;
use trove_discovery::frontmatter::{parse_document, str_field};
use trove_discovery::{FrontmatterStatus, MemSnapshot, discover, jsonc, paths};

/// JSON values whose strings avoid characters that matter to the JSONC rewrite below.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i32>().prop_map(Value::from),
        "[a-z0-9 _-]{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 40, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-z]{1,8}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Adds a trailing comma after the last element of every non-empty array and object, and a
/// comment at the start: valid JSONC for the same value.
fn to_jsonc(text: &str) -> String {
    let mut out = String::from("// generated\n");
    let mut prev: Option<char> = None;
    let mut in_string = false;
    for c in text.chars() {
        if c == '"' {
            in_string = !in_string;
        }
        if !in_string && (c == ']' || c == '}') && !matches!(prev, Some('[') | Some('{')) {
            out.push(',');
        }
        out.push(c);
        prev = Some(c);
    }
    out.push_str("\n/* end */");
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn json_parse_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = jsonc::parse(&bytes);
    }

    #[test]
    fn json_parse_never_panics_on_text(text in "[\\[\\]{}\",:/* \\n0-9a-z]{0,300}") {
        let _ = jsonc::parse(text.as_bytes());
    }

    #[test]
    fn strict_json_round_trips(v in json_value()) {
        let text = serde_json::to_string(&v).unwrap();
        let p = jsonc::parse(text.as_bytes()).unwrap();
        prop_assert!(p.needed_jsonc.is_none());
        prop_assert_eq!(p.value, v);
    }

    #[test]
    fn jsonc_gives_the_same_value_with_a_warning(v in json_value()) {
        let text = to_jsonc(&serde_json::to_string(&v).unwrap());
        let p = jsonc::parse(text.as_bytes()).unwrap();
        prop_assert!(p.needed_jsonc.is_some());
        prop_assert_eq!(p.value, v);
    }

    #[test]
    fn frontmatter_never_panics(text in ".{0,400}") {
        let _ = parse_document(&text);
        let _ = parse_document(&format!("---\n{text}\n---\nbody"));
    }

    #[test]
    fn frontmatter_lines_never_panic(lines in prop::collection::vec("[ \\t]{0,3}[a-z&*!|>:#'\"\\[\\]{}-]{0,8}[ :]{0,2}[a-z&*'\"\\[\\]{}]{0,8}", 0..20)) {
        let text = format!("---\n{}\n---\n", lines.join("\n"));
        let d = parse_document(&text);
        prop_assert!(d.status != FrontmatterStatus::None);
    }

    #[test]
    fn simple_frontmatter_is_read_as_yaml(fields in prop::collection::btree_map("[a-z][a-z_-]{0,10}", "[a-zA-Z][a-zA-Z0-9 .,]{0,30}[a-zA-Z0-9]", 1..8)) {
        let body: String = fields.iter().map(|(k, v)| format!("{k}: {v}\n")).collect();
        let text = format!("---\n{body}---\n# Title\n");
        let d = parse_document(&text);
        prop_assert_eq!(d.status, FrontmatterStatus::Yaml);
        for (k, v) in &fields {
            // YAML may type `true`/numbers; strings round-trip.
            let typed = ["true", "false", "yes", "no", "on", "off", "null", "y", "n", "nan", "inf"]
                .contains(&v.to_ascii_lowercase().as_str());
            if !typed {
                let got = str_field(&d.fields, k);
                prop_assert_eq!(got.as_deref(), Some(v.as_str()));
            }
        }
    }

    #[test]
    fn resolved_paths_never_escape(base in "([a-z]{1,4}/){0,3}[a-z]{0,4}", rel in "(\\.\\.|\\.|[a-z]{1,3}|/|\\\\){0,8}") {
        let base = base.trim_end_matches('/');
        if let Ok(r) = paths::resolve_relative(base, &rel) {
            prop_assert!(!r.path.starts_with('/'));
            prop_assert!(!r.path.split('/').any(|s| s == ".." || s == "."));
            prop_assert!(paths::strip_dir(&r.path, base).is_some() || r.path == base);
        }
    }
}

/// Pieces that make random snapshots look like (broken) plugin repositories.
const SEGMENTS: &[&str] = &[
    ".claude-plugin",
    "skills",
    "commands",
    "agents",
    "hooks",
    "a",
    "b",
    "..",
    ".",
    "",
    "plugins",
    "x",
];
const LEAVES: &[&str] = &[
    "plugin.json",
    "marketplace.json",
    "SKILL.md",
    "hooks.json",
    ".mcp.json",
    ".lsp.json",
    "c.md",
    "README.md",
];
const CONTENTS: &[&str] = &[
    r#"{"name": "p", "skills": "./skills", "commands": ["./x.md", "../y"], "hooks": {"Stop": [{"hooks": [{"type": "command"}]}]}}"#,
    r#"{"name": "m", "owner": {}, "plugins": [{"name": "a", "source": "./a"}, {"name": "b", "source": "./", "strict": false, "skills": ["./skills/a"]}, {"name": "g", "source": {"source": "github", "repo": "o/r"}}]}"#,
    r#"{"name": "../x", "plugins": []}"#,
    r#"{"hooks": {"PreToolUse": [{"matcher": "*", "hooks": [{"type": "command", "command": "x"}, 3]}]}}"#,
    r#"{"mcpServers": {"s": {"url": "u"}, "t": 4}}"#,
    "---\nname: s\ndescription: a: b: c\n---\nbody",
    "---\na: &a [*a]\n---\n",
    "{ // c\n \"name\": \"p\",\n}",
    "not json at all",
    "",
];

fn snapshot_strategy() -> impl Strategy<Value = MemSnapshot> {
    let path = (
        prop::collection::vec(prop::sample::select(SEGMENTS), 0..4),
        prop::sample::select(LEAVES),
    )
        .prop_map(|(segs, leaf)| {
            let mut p = segs.join("/");
            if !p.is_empty() {
                p.push('/');
            }
            p.push_str(leaf);
            p
        });
    prop::collection::vec((path, prop::sample::select(CONTENTS)), 0..24).prop_map(|files| {
        let mut s = MemSnapshot::new();
        let mut seen = HashSet::new();
        for (p, c) in files {
            if seen.insert(p.clone()) {
                s.add_file(&p, c);
            }
        }
        s
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 384, ..ProptestConfig::default() })]

    #[test]
    fn discovery_invariants(snap in snapshot_strategy()) {
        let d = discover(&snap);
        let listed: HashSet<&str> = trove_discovery::Snapshot::entries(&snap).iter().map(|e| e.path.as_str()).collect();
        let mut keys = HashSet::new();
        for p in &d.plugins {
            prop_assert!(keys.insert(p.key.clone()), "duplicate key {}", p.key);
            prop_assert!(!p.selected_by_default || p.supported);
            if let Some(root) = &p.root {
                prop_assert!(!root.split('/').any(|s| s == ".."));
            }
            for s in &p.components.skills {
                prop_assert!(listed.contains(s.path.as_str()));
                for f in &s.files {
                    prop_assert!(listed.contains(f.as_str()));
                }
            }
            for c in p.components.commands.iter().chain(&p.components.agents) {
                prop_assert!(listed.contains(c.path.as_str()));
            }
            for h in &p.components.hooks {
                prop_assert!(listed.contains(h.path.as_str()));
            }
        }
        // JSON output always serialises.
        prop_assert!(serde_json::to_string(&d).is_ok());
    }
}
