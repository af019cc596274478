//! Discovery cost against a baseline measured in the same run: list the folder and read every
//! file in full. Discovery lists once and reads only what it needs (manifests, frontmatter,
//! hook/server JSON), then parses and classifies; the target is at most 3x the baseline.
//!
//! Two inputs: the largest fixture repository (`kivilaid__plugin-marketplace`, when `shared/` is
//! checked out beside the repository) and a generated 10,000-file marketplace written to a
//! temporary folder. Run with `cargo bench -p trove-discovery`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use trove_discovery::{DirSnapshot, discover};

const ITERATIONS: usize = 15;

fn main() {
    let fixture = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/fixtures/claude-plugins/kivilaid__plugin-marketplace");
    let mut worst: f64 = 0.0;
    if fixture.is_dir() {
        worst = worst.max(compare("largest fixture (kivilaid, 77 plugins)", &fixture));
    } else {
        println!(
            "fixture folder {} not found; skipping it",
            fixture.display()
        );
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let files = generate(dir.path(), 10_000);
    worst = worst.max(compare(
        &format!("generated marketplace ({files} files)"),
        dir.path(),
    ));
    println!("worst ratio: {worst:.2}x (target: at most 3.00x)");
}

/// Times baseline and discovery alternately and prints medians and their ratio.
fn compare(label: &str, root: &Path) -> f64 {
    // Warm the page cache and check the work is real.
    let bytes = baseline(root);
    let plugins = discovery(root);
    let mut base = Vec::with_capacity(ITERATIONS);
    let mut disc = Vec::with_capacity(ITERATIONS);
    for _ in 0..ITERATIONS {
        let t = Instant::now();
        std::hint::black_box(baseline(root));
        base.push(t.elapsed());
        let t = Instant::now();
        std::hint::black_box(discovery(root));
        disc.push(t.elapsed());
    }
    let b = median(&mut base);
    let d = median(&mut disc);
    let ratio = d.as_secs_f64() / b.as_secs_f64();
    println!("{label}");
    println!(
        "  baseline  (list + read every file, {bytes} bytes): median {b:>10.3?}  min {:>10.3?}",
        min(&base)
    );
    println!(
        "  discovery ({plugins} plugins):{:>width$} median {d:>10.3?}  min {:>10.3?}",
        "",
        min(&disc),
        width = 18usize.saturating_sub(plugins.to_string().len())
    );
    println!("  ratio discovery / baseline: {ratio:.2}x over {ITERATIONS} iterations");
    ratio
}

/// Lists the folder and reads every file in full, with plain `std::fs` and no checks: the floor
/// any discovery over this folder is compared with.
fn baseline(root: &Path) -> usize {
    let mut total = 0;
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("list").flatten() {
            let Ok(ft) = entry.file_type() else { continue };
            if ft.is_dir() {
                stack.push(entry.path());
            } else if ft.is_file() {
                total += std::fs::read(entry.path()).map(|b| b.len()).unwrap_or(0);
            }
        }
    }
    total
}

fn discovery(root: &Path) -> usize {
    let snap = DirSnapshot::open(root).expect("list");
    discover(&snap).plugins.len()
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn min(v: &[Duration]) -> Duration {
    v.iter().copied().min().unwrap_or_default()
}

/// Writes a marketplace of plugins with skills (and their support files), commands, agents,
/// hooks and MCP servers, padded with documentation to `target` files. Returns the file count.
fn generate(root: &Path, target: usize) -> usize {
    let count = std::cell::Cell::new(0usize);
    let write = |rel: String, body: String| {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, body).expect("write");
        count.set(count.get() + 1);
    };
    let plugins = 100;
    let mut entries = Vec::new();
    for i in 0..plugins {
        let name = format!("plugin-{i:03}");
        let base = format!("plugins/{name}");
        entries.push(format!(
            r#"{{"name": "{name}", "source": "./{base}", "description": "Generated plugin {i}"}}"#
        ));
        write(
            format!("{base}/.claude-plugin/plugin.json"),
            format!(
                r#"{{"name": "{name}", "version": "1.0.{i}", "description": "Plugin {i}", "author": {{"name": "Bench"}}}}"#
            ),
        );
        for s in 0..10 {
            let sk = format!("{base}/skills/skill-{s}");
            write(
                format!("{sk}/SKILL.md"),
                format!(
                    "---\nname: skill-{s}\ndescription: Skill {s} of plugin {i}; use it when the task mentions topic {s}.\nallowed-tools: Read, Grep\nmetadata:\n  short-description: skill {s}\n---\n\n# Skill {s}\n\n{}",
                    "Instructions line.\n".repeat(40)
                ),
            );
            write(
                format!("{sk}/scripts/run.sh"),
                "#!/bin/sh\necho run\n".into(),
            );
            write(format!("{sk}/references/guide.md"), "# Guide\n".repeat(50));
            write(format!("{sk}/assets/template.txt"), "template\n".repeat(20));
        }
        for c in 0..20 {
            write(
                format!("{base}/commands/group-{}/cmd-{c}.md", c % 3),
                format!(
                    "---\ndescription: Command {c}\nargument-hint: <file>\n---\n\nDo thing {c} with $ARGUMENTS.\n"
                ),
            );
        }
        for a in 0..30 {
            // Every third agent has frontmatter that is not valid YAML, as real repositories do.
            let desc = if a % 3 == 0 {
                format!(
                    "Use this agent when: the user asks for review {a}. Examples: <example>Context: x</example>"
                )
            } else {
                format!("Agent {a} for plugin {i}")
            };
            write(
                format!("{base}/agents/agent-{a}.md"),
                format!(
                    "---\nname: agent-{a}\ndescription: {desc}\nmodel: sonnet\n---\n\nYou are agent {a}.\n"
                ),
            );
        }
        write(
            format!("{base}/hooks/hooks.json"),
            r#"{"hooks": {"PreToolUse": [{"matcher": "Write|Edit", "hooks": [{"type": "command", "command": "${CLAUDE_PLUGIN_ROOT}/fmt.sh"}]}]}}"#.into(),
        );
        write(
            format!("{base}/.mcp.json"),
            r#"{"mcpServers": {"db": {"command": "db-server"}, "api": {"type": "http", "url": "https://example.com/mcp"}}}"#.into(),
        );
    }
    write(
        ".claude-plugin/marketplace.json".into(),
        format!(
            r#"{{"name": "bench", "owner": {{"name": "Bench"}}, "plugins": [{}]}}"#,
            entries.join(",")
        ),
    );
    let mut n = 0;
    while count.get() < target {
        write(
            format!("docs/section-{}/page-{n}.md", n % 50),
            format!("# Page {n}\n\nText.\n"),
        );
        n += 1;
    }
    count.get()
}
