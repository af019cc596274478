//! Frontmatter parsing: arbitrary text as a Markdown document, with and without a `---` block,
//! and as a skill, command and agent file.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trove_discovery::frontmatter::{first_body_line, parse_document, parse_lenient};
use trove_discovery::{MemSnapshot, discover};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let d = parse_document(&text);
    let _ = first_body_line(d.body);
    let wrapped = format!("---\n{text}\n---\nbody");
    let _ = parse_document(&wrapped);
    let _ = parse_lenient(&text);
    let snap = MemSnapshot::new()
        .file(".claude-plugin/plugin.json", r#"{"name": "p"}"#)
        .file("skills/s/SKILL.md", wrapped.as_bytes())
        .file("commands/c.md", data)
        .file("agents/a.md", wrapped.as_bytes());
    let _ = discover(&snap);
});
