use serde_json::json;

use super::*;

fn raw(text: &str) -> ObjectInput {
    ObjectInput {
        raw_source_text: Some(text.into()),
        ..ObjectInput::default()
    }
}

fn fields(r: Result<Prepared, Vec<Problem>>) -> Vec<String> {
    r.err()
        .unwrap_or_default()
        .into_iter()
        .map(|p| p.field)
        .collect()
}

const SKILL: &str = "---\nname: pdf-tools\ndescription: Work with PDFs\n---\n# PDF\nSECRET body\n";

#[test]
fn skill_projection_never_holds_the_body() {
    let p = prepare(ObjectType::Skill, &raw(SKILL)).unwrap();
    assert_eq!(p.name, "pdf-tools");
    assert_eq!(p.title, "pdf-tools");
    assert_eq!(p.description, "Work with PDFs");
    assert_eq!(
        p.search_text,
        "pdf-tools\npdf-tools\nwork with pdfs\nskill.md"
    );
    assert!(!p.search_text.contains("secret"));
    assert_eq!(p.files[0].path, "SKILL.md");
    assert_eq!(p.payload["frontmatter"]["name"], "pdf-tools");
}

#[test]
fn skill_rules() {
    let bad = "---\nname: PDF Tools\n---\n\n";
    let f = fields(prepare(ObjectType::Skill, &raw(bad)));
    assert_eq!(
        f,
        [
            "SKILL.md.frontmatter.name",
            "SKILL.md.frontmatter.description",
            "SKILL.md.body"
        ]
    );
    let f = fields(prepare(ObjectType::Skill, &raw("no frontmatter")));
    assert_eq!(f, ["SKILL.md.frontmatter"]);
    let long = format!(
        "---\nname: x\ndescription: {}\n---\nbody\n",
        "d".repeat(1025)
    );
    assert_eq!(
        fields(prepare(ObjectType::Skill, &raw(&long))),
        ["SKILL.md.frontmatter.description"]
    );
}

#[test]
fn skill_folders_are_checked() {
    let input = |files: Vec<SourceFile>| ObjectInput {
        files: Some(files),
        ..ObjectInput::default()
    };
    let f = |path: &str, content: &str| SourceFile {
        path: path.into(),
        content: content.into(),
        encoding: FileEncoding::Utf8,
    };
    let ok = prepare(
        ObjectType::Skill,
        &input(vec![f("scripts/run.sh", "echo"), f("SKILL.md", SKILL)]),
    )
    .unwrap();
    assert_eq!(ok.files[0].path, "SKILL.md", "sorted by path");
    assert_eq!(ok.payload["files"][1]["path"], "scripts/run.sh");
    for bad in ["../x", "/etc/passwd", "a//b", "a\\b", "./a"] {
        let r = prepare(
            ObjectType::Skill,
            &input(vec![f("SKILL.md", SKILL), f(bad, "x")]),
        );
        assert!(r.is_err(), "{bad} accepted");
    }
    let r = prepare(ObjectType::Skill, &input(vec![f("README.md", "x")]));
    assert_eq!(fields(r), ["input.files"]);
    let big = "x".repeat(MAX_SOURCE_BYTES);
    let r = prepare(
        ObjectType::Skill,
        &input(vec![f("SKILL.md", SKILL), f("big", &big)]),
    );
    assert_eq!(fields(r), ["input"]);
    let b64 = SourceFile {
        path: "a.png".into(),
        content: "!!".into(),
        encoding: FileEncoding::Base64,
    };
    let r = prepare(ObjectType::Skill, &input(vec![f("SKILL.md", SKILL), b64]));
    assert_eq!(fields(r), ["input.files[1].content"]);
}

#[test]
fn same_content_same_hash() {
    let a = prepare(ObjectType::Skill, &raw(SKILL)).unwrap();
    let b = prepare(ObjectType::Skill, &raw(SKILL)).unwrap();
    let c = prepare(ObjectType::Skill, &raw(&SKILL.replace("body", "text"))).unwrap();
    assert_eq!(a.content_hash, b.content_hash);
    assert_ne!(a.content_hash, c.content_hash);
}

#[test]
fn agents_and_commands() {
    let agent =
        "---\nname: reviewer\ndescription: Reviews code\ntools: Read, Grep\n---\nYou review.\n";
    let p = prepare(ObjectType::Agent, &raw(agent)).unwrap();
    assert_eq!(
        (p.name.as_str(), p.files[0].path.as_str()),
        ("reviewer", "reviewer.md")
    );
    let f = fields(prepare(
        ObjectType::Agent,
        &raw("---\ncolor: mauve\n---\nx\n"),
    ));
    assert_eq!(
        f,
        [
            "frontmatter.name",
            "frontmatter.description",
            "frontmatter.color"
        ]
    );

    let cmd = ObjectInput {
        path: Some("commands/deploy.md".into()),
        ..raw("---\ndescription: Ship it\n---\nDeploy $ARGUMENTS\n")
    };
    let p = prepare(ObjectType::Command, &cmd).unwrap();
    assert_eq!(
        (p.name.as_str(), p.description.as_str()),
        ("deploy", "Ship it")
    );
    assert_eq!(
        fields(prepare(ObjectType::Command, &raw("Deploy"))),
        ["input.path"]
    );
    // Without a description the body is not used: it would be stored in clear.
    let p = prepare(
        ObjectType::Command,
        &ObjectInput {
            path: Some("x.md".into()),
            ..raw("Top secret\n")
        },
    )
    .unwrap();
    assert_eq!(p.description, "");
}

#[test]
fn mcp_servers() {
    let ok = json!({"mcpServers": {"db": {"command": "db"}, "api": {"type": "http", "url": "https://x"}}});
    let p = prepare(
        ObjectType::Mcp,
        &ObjectInput {
            normalized_payload: Some(ok),
            ..ObjectInput::default()
        },
    )
    .unwrap();
    assert_eq!(p.description, "2 MCP servers: api, db");
    let flat = prepare(ObjectType::Mcp, &raw("{\"db\": {\"command\": \"x\"}}")).unwrap();
    assert_eq!(flat.name, "db");
    assert_eq!(flat.payload["mcpServers"]["db"]["command"], "x");
    let bad = json!({"mcpServers": {"a": {"type": "stdio"}, "b": {"type": "sse"}, "c": {"url": "https://x"}, "d": {"type": "carrier-pigeon"}}});
    let f = fields(prepare(
        ObjectType::Mcp,
        &ObjectInput {
            normalized_payload: Some(bad),
            ..ObjectInput::default()
        },
    ));
    assert_eq!(
        f,
        [
            "input.normalizedPayload.mcpServers.a.command",
            "input.normalizedPayload.mcpServers.b.url",
            "input.normalizedPayload.mcpServers.c.type",
            "input.normalizedPayload.mcpServers.d.type"
        ]
    );
    assert_eq!(
        fields(prepare(ObjectType::Mcp, &raw("{nope"))),
        [".mcp.json"]
    );
}

#[test]
fn hooks_and_lsp() {
    let hooks = r#"{"hooks": {"PostToolUse": [{"matcher": "Write", "hooks": [{"type": "command", "command": "fmt"}]}]}}"#;
    let p = prepare(ObjectType::Hook, &raw(hooks)).unwrap();
    assert_eq!(p.description, "Hooks on PostToolUse");
    let bad = r#"{"hooks": {"PostToolUse": [{"hooks": [{"type": "command"}, {"type": "x"}]}], "Stop": 3}}"#;
    let f = fields(prepare(ObjectType::Hook, &raw(bad)));
    assert_eq!(
        f,
        [
            "hooks.json.hooks.PostToolUse[0].hooks[0].command",
            "hooks.json.hooks.PostToolUse[0].hooks[1].type",
            "hooks.json.hooks.Stop"
        ]
    );
    let lsp = r#"{"rust": {"command": "rust-analyzer", "extensionToLanguage": {".rs": "rust"}}}"#;
    let p = prepare(ObjectType::Lsp, &raw(lsp)).unwrap();
    assert_eq!(p.name, "rust");
    let f = fields(prepare(
        ObjectType::Lsp,
        &raw(r#"{"lspServers": {"x": {}}}"#),
    ));
    assert_eq!(
        f,
        [
            ".lsp.json.lspServers.x.command",
            ".lsp.json.lspServers.x.extensionToLanguage"
        ]
    );
}

#[test]
fn exactly_one_input() {
    assert_eq!(
        fields(prepare(ObjectType::Skill, &ObjectInput::default())),
        ["input"]
    );
    let both = ObjectInput {
        files: Some(vec![]),
        ..raw(SKILL)
    };
    assert_eq!(fields(prepare(ObjectType::Skill, &both)), ["input"]);
    let md = ObjectInput {
        normalized_payload: Some(json!({})),
        ..ObjectInput::default()
    };
    assert_eq!(
        fields(prepare(ObjectType::Agent, &md)),
        ["input.normalizedPayload"]
    );
}
