//! JSON components: hooks, MCP servers, LSP servers and custom objects. JSON text is read as Claude
//! Code reads manifests (strict JSON, with a JSONC fallback that earns a warning); the normalized
//! payload always has the wrapped shape (`{hooks}`, `{mcpServers}`, `{lspServers}`).

use serde_json::{Map, Value, json};
use trove_discovery::frontmatter::str_field;
use trove_discovery::manifest::{NameCheck, check_name};

use super::{Parsed, Problem, stem};
use crate::registry::ObjectType;
// The hook events Claude Code fires; an unknown one is a warning, since the list grows.
use trove_discovery::components::HOOK_EVENTS;

/// JSON text of a hook, MCP or LSP configuration.
pub(super) fn parse_json_text(
    kind: ObjectType,
    path: &str,
    text: &str,
) -> Result<Parsed, Vec<Problem>> {
    let parsed = trove_discovery::jsonc::parse(text.as_bytes())
        .map_err(|e| vec![Problem::new(path, format!("not valid JSON: {e}"))])?;
    let mut out = parse_payload(kind, parsed.value, path, path)?;
    if let Some(strict) = parsed.needed_jsonc {
        out.warnings.push(format!(
            "{path}: has comments or trailing commas ({strict}); Claude Code reads plain JSON only"
        ));
    }
    Ok(out)
}

/// A JSON value as the payload of an object of `kind`.
pub(super) fn parse_payload(
    kind: ObjectType,
    payload: Value,
    path: &str,
    field: &str,
) -> Result<Parsed, Vec<Problem>> {
    let Value::Object(obj) = payload else {
        return Err(vec![Problem::new(field, "must be a JSON object")]);
    };
    match kind {
        ObjectType::Hook => hooks(obj, path, field),
        ObjectType::Mcp => mcp(obj, path, field),
        ObjectType::Lsp => lsp(obj, path, field),
        ObjectType::Custom => Ok(custom_object(obj, path)),
        other => Err(vec![Problem::new(
            field,
            format!(
                "a {} is Markdown: give `rawSourceText` or `files`",
                other.as_str()
            ),
        )]),
    }
}

/// Anything: JSON objects keep their fields; other text only its path.
pub(super) fn parse_custom(path: &str, text: &str) -> Parsed {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(obj)) => custom_object(obj, path),
        _ => Parsed {
            name: stem(path),
            title: None,
            description: String::new(),
            payload: json!({}),
            warnings: Vec::new(),
            file_name: None,
        },
    }
}

fn custom_object(obj: Map<String, Value>, path: &str) -> Parsed {
    Parsed {
        name: str_field(&obj, "name").unwrap_or_else(|| stem(path)),
        title: str_field(&obj, "title"),
        description: str_field(&obj, "description").unwrap_or_default(),
        payload: Value::Object(obj),
        warnings: Vec::new(),
        file_name: None,
    }
}

fn nonempty_str(v: Option<&Value>) -> bool {
    v.and_then(Value::as_str)
        .is_some_and(|s| !s.trim().is_empty())
}

fn strings(v: Option<&Value>) -> bool {
    match v {
        None => true,
        Some(Value::Array(items)) => items.iter().all(Value::is_string),
        Some(_) => false,
    }
}

fn string_map(v: Option<&Value>) -> bool {
    match v {
        None => true,
        Some(Value::Object(m)) => m.values().all(Value::is_string),
        Some(_) => false,
    }
}

fn hooks(mut obj: Map<String, Value>, path: &str, field: &str) -> Result<Parsed, Vec<Problem>> {
    let description = str_field(&obj, "description");
    // `{description?, hooks: {Event: […]}}`, or the event map itself (the inline plugin.json form).
    let events = match obj.remove("hooks") {
        Some(Value::Object(map)) => map,
        Some(_) => {
            return Err(vec![Problem::new(
                format!("{field}.hooks"),
                "must be an object of hook events",
            )]);
        }
        None => {
            obj.remove("description");
            obj
        }
    };
    let mut problems = Vec::new();
    let mut warnings = Vec::new();
    if events.is_empty() {
        problems.push(Problem::new(
            format!("{field}.hooks"),
            "declares no hook events",
        ));
    }
    for (event, groups) in &events {
        let at = format!("{field}.hooks.{event}");
        if !HOOK_EVENTS.contains(&event.as_str()) {
            warnings.push(format!(
                "{path}: `{event}` is not a hook event Claude Code is known to fire"
            ));
        }
        let Some(groups) = groups.as_array() else {
            problems.push(Problem::new(at, "must be a list of matcher groups"));
            continue;
        };
        for (gi, group) in groups.iter().enumerate() {
            let at = format!("{at}[{gi}]");
            let Some(group) = group.as_object() else {
                problems.push(Problem::new(
                    at,
                    "must be an object with `hooks` (and optionally `matcher`)",
                ));
                continue;
            };
            if group.get("matcher").is_some_and(|m| !m.is_string()) {
                problems.push(Problem::new(format!("{at}.matcher"), "must be a string"));
            }
            let Some(handlers) = group.get("hooks").and_then(Value::as_array) else {
                problems.push(Problem::new(
                    format!("{at}.hooks"),
                    "must be a list of hook handlers",
                ));
                continue;
            };
            for (hi, h) in handlers.iter().enumerate() {
                let at = format!("{at}.hooks[{hi}]");
                let kind = h.get("type").and_then(Value::as_str).unwrap_or("");
                let needs: &[&str] = match kind {
                    "command" => &["command"],
                    "http" => &["url"],
                    "mcp_tool" => &["server", "tool"],
                    "prompt" => &["prompt"],
                    "agent" => &[],
                    _ => {
                        problems.push(Problem::new(
                            format!("{at}.type"),
                            "must be one of command, http, mcp_tool, prompt, agent",
                        ));
                        continue;
                    }
                };
                for key in needs {
                    if !nonempty_str(h.get(*key)) {
                        problems.push(Problem::new(
                            format!("{at}.{key}"),
                            format!("a `{kind}` hook needs `{key}`"),
                        ));
                    }
                }
                if h.get("timeout").is_some_and(|t| !t.is_number()) {
                    problems.push(Problem::new(
                        format!("{at}.timeout"),
                        "must be a number of seconds",
                    ));
                }
            }
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let names: Vec<&str> = events.keys().map(String::as_str).collect();
    let mut payload = Map::new();
    if let Some(d) = &description {
        payload.insert("description".into(), Value::String(d.clone()));
    }
    let description = description.unwrap_or_else(|| format!("Hooks on {}", names.join(", ")));
    payload.insert("hooks".into(), Value::Object(events));
    Ok(Parsed {
        name: stem(path),
        title: None,
        description,
        payload: Value::Object(payload),
        warnings,
        file_name: None,
    })
}

/// A JSON object.
type Object = Map<String, Value>;

/// The server map of an MCP or LSP file (under `wrapper`, or the object itself for flat files) and
/// the other top-level fields.
fn servers(mut obj: Object, wrapper: &str, field: &str) -> Result<(Object, Object), Vec<Problem>> {
    match obj.remove(wrapper) {
        Some(Value::Object(map)) => Ok((map, obj)),
        Some(_) => Err(vec![Problem::new(
            format!("{field}.{wrapper}"),
            "must be an object of servers by name",
        )]),
        None => Ok((obj, Map::new())),
    }
}

fn check_server_name(name: &str, at: &str, problems: &mut Vec<Problem>) {
    if let NameCheck::Reject(why) = check_name(name) {
        problems.push(Problem::new(at, why));
    }
}

fn projection(
    kind: &str,
    servers: &Map<String, Value>,
    rest: &Map<String, Value>,
    path: &str,
) -> (String, String) {
    let names: Vec<&str> = servers.keys().map(String::as_str).collect();
    let name = match names.as_slice() {
        [one] => (*one).to_owned(),
        _ => str_field(rest, "name").unwrap_or_else(|| stem(path)),
    };
    let description = str_field(rest, "description").unwrap_or_else(|| match names.as_slice() {
        [one] => format!("{kind} server `{one}`"),
        many => format!("{} {kind} servers: {}", many.len(), many.join(", ")),
    });
    (name, description)
}

fn mcp(obj: Map<String, Value>, path: &str, field: &str) -> Result<Parsed, Vec<Problem>> {
    let (servers, rest) = servers(obj, "mcpServers", field)?;
    let mut problems = Vec::new();
    if servers.is_empty() {
        problems.push(Problem::new(
            format!("{field}.mcpServers"),
            "declares no MCP servers",
        ));
    }
    for (name, cfg) in &servers {
        let at = format!("{field}.mcpServers.{name}");
        check_server_name(name, &at, &mut problems);
        let Some(cfg) = cfg.as_object() else {
            problems.push(Problem::new(
                at,
                "must be an object (`command` for stdio, or `type` and `url`)",
            ));
            continue;
        };
        match cfg.get("type").map(|t| t.as_str().unwrap_or("?")) {
            None | Some("stdio") => {
                if cfg.get("type").is_none() && cfg.contains_key("url") {
                    problems.push(Problem::new(
                        format!("{at}.type"),
                        "has a `url` but no `type`: set `type` to `http`, `sse` or `ws`",
                    ));
                } else if !nonempty_str(cfg.get("command")) {
                    problems.push(Problem::new(
                        format!("{at}.command"),
                        "a stdio server needs `command`",
                    ));
                }
                if !strings(cfg.get("args")) {
                    problems.push(Problem::new(
                        format!("{at}.args"),
                        "must be a list of strings",
                    ));
                }
                if !string_map(cfg.get("env")) {
                    problems.push(Problem::new(
                        format!("{at}.env"),
                        "must be an object of strings",
                    ));
                }
            }
            Some("http" | "streamable-http" | "sse" | "ws") => {
                if !nonempty_str(cfg.get("url")) {
                    problems.push(Problem::new(
                        format!("{at}.url"),
                        "an http, sse or ws server needs `url`",
                    ));
                }
                if !string_map(cfg.get("headers")) {
                    problems.push(Problem::new(
                        format!("{at}.headers"),
                        "must be an object of strings",
                    ));
                }
            }
            Some(_) => problems.push(Problem::new(
                format!("{at}.type"),
                "must be one of stdio, http, streamable-http, sse, ws",
            )),
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let (name, description) = projection("MCP", &servers, &rest, path);
    let mut payload = rest;
    payload.insert("mcpServers".into(), Value::Object(servers));
    Ok(Parsed {
        name,
        title: None,
        description,
        payload: Value::Object(payload),
        warnings: Vec::new(),
        file_name: None,
    })
}

fn lsp(obj: Map<String, Value>, path: &str, field: &str) -> Result<Parsed, Vec<Problem>> {
    let (servers, rest) = servers(obj, "lspServers", field)?;
    let mut problems = Vec::new();
    if servers.is_empty() {
        problems.push(Problem::new(
            format!("{field}.lspServers"),
            "declares no LSP servers",
        ));
    }
    for (name, cfg) in &servers {
        let at = format!("{field}.lspServers.{name}");
        check_server_name(name, &at, &mut problems);
        let Some(cfg) = cfg.as_object() else {
            problems.push(Problem::new(
                at,
                "must be an object with `command` and `extensionToLanguage`",
            ));
            continue;
        };
        if !nonempty_str(cfg.get("command")) {
            problems.push(Problem::new(
                format!("{at}.command"),
                "an LSP server needs `command`",
            ));
        }
        match cfg.get("extensionToLanguage") {
            Some(Value::Object(m)) if !m.is_empty() && m.values().all(Value::is_string) => {}
            _ => problems.push(Problem::new(
                format!("{at}.extensionToLanguage"),
                "must map file extensions to language ids, e.g. {\".rs\": \"rust\"}",
            )),
        }
        if !strings(cfg.get("args")) {
            problems.push(Problem::new(
                format!("{at}.args"),
                "must be a list of strings",
            ));
        }
        if !string_map(cfg.get("env")) {
            problems.push(Problem::new(
                format!("{at}.env"),
                "must be an object of strings",
            ));
        }
        if let Some(t) = cfg.get("transport")
            && !matches!(t.as_str(), Some("stdio" | "socket"))
        {
            problems.push(Problem::new(
                format!("{at}.transport"),
                "must be `stdio` or `socket`",
            ));
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let (name, description) = projection("LSP", &servers, &rest, path);
    let mut payload = rest;
    payload.insert("lspServers".into(), Value::Object(servers));
    Ok(Parsed {
        name,
        title: None,
        description,
        payload: Value::Object(payload),
        warnings: Vec::new(),
        file_name: None,
    })
}
