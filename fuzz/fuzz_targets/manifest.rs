//! Manifest parsing: arbitrary bytes as JSON/JSONC, then as every manifest discovery reads
//! (marketplace.json, plugin.json, hooks.json, .mcp.json, .lsp.json).
#![no_main]

use libfuzzer_sys::fuzz_target;
use trove_discovery::{MemSnapshot, discover, jsonc};

fuzz_target!(|data: &[u8]| {
    if let Ok(parsed) = jsonc::parse(data)
        && parsed.needed_jsonc.is_none()
    {
        // Strict success must agree with serde_json.
        assert_eq!(serde_json::from_slice::<serde_json::Value>(data).ok(), Some(parsed.value));
    }
    let snap = MemSnapshot::new()
        .file(".claude-plugin/marketplace.json", data)
        .file("p/.claude-plugin/plugin.json", data)
        .file("p/hooks/hooks.json", data)
        .file("p/.mcp.json", data)
        .file("p/.lsp.json", data)
        .file("p/commands/c.md", "c");
    let d = discover(&snap);
    let _ = serde_json::to_string(&d);
    let snap = MemSnapshot::new()
        .file(".claude-plugin/plugin.json", data)
        .file("skills/s/SKILL.md", "---\nname: s\n---\n");
    let _ = discover(&snap);
});
