//! Shared helpers for the fixture tests.
#![allow(dead_code)]

use std::path::PathBuf;

use trove_discovery::{DirSnapshot, Discovery, PluginCandidate, discover};

/// `shared/fixtures/claude-plugins`, beside the repository checkout.
pub fn fixtures_dir() -> PathBuf {
    let dir =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/claude-plugins");
    assert!(
        dir.is_dir(),
        "fixture folder not found at {}: the tests expect `shared/` checked out beside the repository (…/main and …/shared)",
        dir.display()
    );
    dir
}

/// Runs discovery over one fixture repository.
pub fn run(name: &str) -> Discovery {
    let path = fixtures_dir().join(name);
    let snap = DirSnapshot::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    discover(&snap)
}

/// S, C, A, H, MCP, LSP of one plugin.
pub fn counts(p: &PluginCandidate) -> [usize; 6] {
    let c = &p.components;
    [
        c.skills.len(),
        c.commands.len(),
        c.agents.len(),
        c.hooks.len(),
        c.mcp_servers.len(),
        c.lsp_servers.len(),
    ]
}

/// Sum of [`counts`] over every plugin.
pub fn totals(d: &Discovery) -> [usize; 6] {
    d.plugins
        .iter()
        .map(|p| counts(p))
        .fold([0; 6], |mut acc, c| {
            for i in 0..6 {
                acc[i] += c[i];
            }
            acc
        })
}

/// The plugin named `name`.
pub fn plugin<'d>(d: &'d Discovery, name: &str) -> &'d PluginCandidate {
    d.plugins
        .iter()
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("no plugin named {name}"))
}

/// One `### [i] \`name\`` section of an EXPECTED.md file.
#[derive(Debug, Default)]
pub struct ExpectedEntry {
    pub name: String,
    pub unresolved: bool,
    pub counts: Option<[usize; 6]>,
    pub skills: Vec<String>,
    pub commands: Vec<String>,
    pub agents: Vec<String>,
}

/// Entries of the first `## Marketplace` section (or of the root-plugin section when
/// `section_prefix` says so) of `<fixture>.EXPECTED.md`.
pub fn expected_entries(fixture: &str, section_prefix: &str) -> Vec<ExpectedEntry> {
    let path = fixtures_dir().join(format!("{fixture}.EXPECTED.md"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out: Vec<ExpectedEntry> = Vec::new();
    let mut in_section = false;
    let mut seen_section = false;
    for line in text.lines() {
        if let Some(h) = line.strip_prefix("## ") {
            in_section = !seen_section && h.starts_with(section_prefix);
            seen_section |= in_section;
            continue;
        }
        if !in_section {
            continue;
        }
        if let Some(h) = line.strip_prefix("### ") {
            let name = h.split('`').nth(1).unwrap_or("root").to_owned();
            out.push(ExpectedEntry {
                name,
                ..ExpectedEntry::default()
            });
            continue;
        }
        let Some(cur) = out.last_mut() else { continue };
        if line.trim() == "- unresolved" {
            cur.unresolved = true;
        } else if let Some(rest) = line.strip_prefix("- counts: ") {
            let mut c = [0usize; 6];
            for tok in rest.split_whitespace() {
                for (i, prefix) in ["S", "C", "A", "H", "MCP", "LSP"].iter().enumerate() {
                    if let Some(n) = tok.strip_prefix(prefix)
                        && let Ok(n) = n.parse::<usize>()
                    {
                        c[i] = n;
                    }
                }
            }
            cur.counts = Some(c);
        } else if let Some(rest) = line.strip_prefix("- skills: ") {
            cur.skills = list(rest);
        } else if let Some(rest) = line.strip_prefix("- commands: ") {
            cur.commands = list(rest);
        } else if let Some(rest) = line.strip_prefix("- agents: ") {
            cur.agents = list(rest);
        }
    }
    out
}

fn list(s: &str) -> Vec<String> {
    let mut v: Vec<String> = s.split(", ").map(|x| x.trim().to_owned()).collect();
    v.sort();
    v
}

/// Component names of one kind, sorted, last `:` segment (EXPECTED lists file stems).
pub fn names<T>(items: &[T], f: impl Fn(&T) -> &str) -> Vec<String> {
    let mut v: Vec<String> = items
        .iter()
        .map(|i| f(i).rsplit(':').next().unwrap_or_default().to_owned())
        .collect();
    v.sort();
    v
}

/// Checks every plugin of a marketplace fixture against its EXPECTED.md, entry by entry.
pub fn check_against_expected(fixture: &str, d: &Discovery, section_prefix: &str) {
    let expected = expected_entries(fixture, section_prefix);
    assert!(
        !expected.is_empty(),
        "{fixture}: no entries parsed from EXPECTED.md"
    );
    assert_eq!(d.plugins.len(), expected.len(), "{fixture}: plugin count");
    for (p, e) in d.plugins.iter().zip(&expected) {
        if section_prefix.starts_with("Marketplace") {
            assert_eq!(p.name, e.name, "{fixture}: entry order");
        }
        if e.unresolved {
            assert!(
                !p.supported,
                "{fixture}/{}: unresolved entry must be unsupported",
                e.name
            );
            continue;
        }
        let Some(c) = e.counts else { continue };
        assert_eq!(counts(p), c, "{fixture}/{}: S C A H MCP LSP", e.name);
        if !e.skills.is_empty() {
            assert_eq!(
                names(&p.components.skills, |s| &s.name),
                e.skills,
                "{fixture}/{} skills",
                e.name
            );
        }
        if !e.commands.is_empty() {
            assert_eq!(
                names(&p.components.commands, |s| &s.name),
                e.commands,
                "{fixture}/{} commands",
                e.name
            );
        }
        if !e.agents.is_empty() {
            assert_eq!(
                names(&p.components.agents, |s| &s.name),
                e.agents,
                "{fixture}/{} agents",
                e.name
            );
        }
    }
}
