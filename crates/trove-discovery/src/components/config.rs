//! JSON-configured components: hook handlers (`hooks/hooks.json`), MCP servers (`.mcp.json`)
//! and LSP servers (`.lsp.json`), from the default files, declared files and inline objects.

use std::collections::HashSet;

use serde_json::{Map, Value};

use super::{Layout, Warn, report_missing, resolve_declared};
use crate::ctx::Ctx;
use crate::manifest::SpecItem;
use crate::model::{Hook, Server, Warning, WarningCode};
use crate::paths;

/// Most handlers or servers read from one file.
const MAX_ITEMS_PER_FILE: usize = 10_000;

/// Hook events Claude Code knows (current list of the docs). The registry's validation uses the same
/// list, so discovery and validation never disagree about an event.
pub const HOOK_EVENTS: [&str; 31] = [
    "SessionStart",
    "Setup",
    "UserPromptSubmit",
    "UserPromptExpansion",
    "PreToolUse",
    "PermissionRequest",
    "PermissionDenied",
    "PostToolUse",
    "PostToolUseFailure",
    "PostToolBatch",
    "Notification",
    "MessageDisplay",
    "SubagentStart",
    "SubagentStop",
    "TaskCreated",
    "TaskCompleted",
    "Stop",
    "StopFailure",
    "TeammateIdle",
    "InstructionsLoaded",
    "ConfigChange",
    "CwdChanged",
    "DirectoryAdded",
    "FileChanged",
    "WorktreeCreate",
    "WorktreeRemove",
    "PreCompact",
    "PostCompact",
    "Elicitation",
    "ElicitationResult",
    "SessionEnd",
];

pub(super) fn hooks(ctx: &Ctx<'_>, layout: &Layout<'_>, w: &mut Warn) -> Vec<Hook> {
    let default = paths::join(layout.root, "hooks/hooks.json");
    let mut out = Vec::new();
    let mut files_read: HashSet<String> = HashSet::new();
    if ctx.index.is_file(&default) {
        read_hooks_file(ctx, &default, &mut out, w);
        files_read.insert(default.clone());
    }
    for d in layout.specs.hooks.iter().flatten() {
        match &d.item {
            SpecItem::Path(raw) => {
                let Some(p) = resolve_declared(layout, d, raw, "hooks", w) else {
                    continue;
                };
                if p == default {
                    w.push(Warning::at(
                        WarningCode::InvalidHook,
                        d.origin.clone(),
                        format!("`hooks` names the default file {raw:?}, which loads anyway; Claude Code reports \"Duplicate hooks file detected\" and flags the plugin. Only list additional hook files."),
                    ));
                    continue;
                }
                if !files_read.insert(p.clone()) {
                    continue;
                }
                if ctx.index.is_file(&p) {
                    read_hooks_file(ctx, &p, &mut out, w);
                } else {
                    report_missing(ctx, layout, d, raw, "hooks", w);
                }
            }
            SpecItem::Inline(map) => {
                out.extend(hooks_from_value(
                    &Value::Object(map.clone()),
                    &d.origin,
                    true,
                    &mut |x| w.push(x),
                ));
            }
        }
    }
    out
}

fn read_hooks_file(ctx: &Ctx<'_>, path: &str, out: &mut Vec<Hook>, w: &mut Warn) {
    match &*ctx.json(path) {
        Ok(f) => {
            if let Some(j) = &f.jsonc_warning {
                w.push(j.clone());
            }
            out.extend(hooks_from_value(&f.value, path, false, &mut |x| w.push(x)));
        }
        Err(e) => w.push(e.clone()),
    }
}

/// Reads hook handlers from a hooks file (`{"hooks": {event: [groups]}}`) or an inline event map.
/// One item per handler object.
pub fn hooks_from_value(
    value: &Value,
    path: &str,
    inline: bool,
    warn: &mut dyn FnMut(Warning),
) -> Vec<Hook> {
    let mut out = Vec::new();
    let Some(obj) = value.as_object() else {
        warn(Warning::at(
            WarningCode::InvalidHook,
            path,
            "hooks configuration must be an object",
        ));
        return out;
    };
    // A file wraps the event map in `hooks`; inline config is the map itself, but accept either.
    let events: &Map<String, Value> = match obj.get("hooks") {
        Some(Value::Object(m)) => m,
        Some(_) => {
            warn(Warning::at(
                WarningCode::InvalidHook,
                path,
                "`hooks` must be an object of events",
            ));
            return out;
        }
        None if inline || obj.keys().any(|k| HOOK_EVENTS.contains(&k.as_str())) => {
            if !inline {
                warn(Warning::at(
                    WarningCode::InvalidHook,
                    path,
                    "event map is not wrapped in `{\"hooks\": ...}`; read anyway",
                ));
            }
            obj
        }
        None => return out,
    };
    for (event, groups) in events {
        if !HOOK_EVENTS.contains(&event.as_str()) {
            warn(Warning::at(
                WarningCode::InvalidHook,
                path,
                format!("unknown hook event {event:?}"),
            ));
        }
        let Some(groups) = groups.as_array() else {
            warn(Warning::at(
                WarningCode::InvalidHook,
                path,
                format!("`{event}` must be a list of matcher groups"),
            ));
            continue;
        };
        let mut n = 0usize;
        for group in groups {
            let Some(g) = group.as_object() else {
                warn(Warning::at(
                    WarningCode::InvalidHook,
                    path,
                    format!("a `{event}` group is not an object"),
                ));
                continue;
            };
            let matcher = g.get("matcher").and_then(Value::as_str).map(str::to_owned);
            let handlers: Vec<&Value> = match g.get("hooks") {
                Some(Value::Array(a)) => a.iter().collect(),
                // Settings-style: the handler itself without the group wrapper.
                None if g.contains_key("type") || g.contains_key("command") => {
                    warn(Warning::at(
                        WarningCode::InvalidHook,
                        path,
                        format!(
                            "a `{event}` handler is not wrapped in a group with `hooks`; read anyway"
                        ),
                    ));
                    vec![group]
                }
                _ => {
                    warn(Warning::at(
                        WarningCode::InvalidHook,
                        path,
                        format!("a `{event}` group has no `hooks` list"),
                    ));
                    continue;
                }
            };
            for h in handlers {
                let Some(h) = h.as_object() else {
                    warn(Warning::at(
                        WarningCode::InvalidHook,
                        path,
                        format!("a `{event}` handler is not an object"),
                    ));
                    continue;
                };
                if out.len() >= MAX_ITEMS_PER_FILE {
                    warn(Warning::at(
                        WarningCode::LimitReached,
                        path,
                        "too many hook handlers; the rest were skipped",
                    ));
                    return out;
                }
                n += 1;
                let handler_type = h
                    .get("type")
                    .and_then(Value::as_str)
                    .unwrap_or("command")
                    .to_owned();
                let command = ["command", "url", "prompt", "tool"]
                    .iter()
                    .find_map(|k| h.get(*k).and_then(Value::as_str))
                    .map(str::to_owned);
                out.push(Hook {
                    name: format!("{event}#{n}"),
                    event: event.clone(),
                    matcher: matcher.clone(),
                    path: path.to_owned(),
                    handler_type,
                    command,
                });
            }
        }
    }
    out
}

/// Which server file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerKind {
    /// `.mcp.json` / `mcpServers`.
    Mcp,
    /// `.lsp.json` / `lspServers`.
    Lsp,
}

impl ServerKind {
    fn field(self) -> &'static str {
        match self {
            ServerKind::Mcp => "mcpServers",
            ServerKind::Lsp => "lspServers",
        }
    }
    fn default_file(self) -> &'static str {
        match self {
            ServerKind::Mcp => ".mcp.json",
            ServerKind::Lsp => ".lsp.json",
        }
    }
}

pub(super) fn servers(
    ctx: &Ctx<'_>,
    layout: &Layout<'_>,
    kind: ServerKind,
    w: &mut Warn,
) -> Vec<Server> {
    let field = kind.field();
    let default = paths::join(layout.root, kind.default_file());
    let mut out: Vec<Server> = Vec::new();
    let mut files_read: HashSet<String> = HashSet::new();
    let add = |found: Vec<Server>, out: &mut Vec<Server>, w: &mut Warn| {
        for s in found {
            if out.iter().any(|o| o.name == s.name) {
                w.push(Warning::at(
                    WarningCode::InvalidServer,
                    s.path.clone(),
                    format!(
                        "server {:?} is defined more than once; the first definition is kept",
                        s.name
                    ),
                ));
            } else {
                out.push(s);
            }
        }
    };
    if ctx.index.is_file(&default) {
        files_read.insert(default.clone());
        add(read_servers_file(ctx, &default, kind, w), &mut out, w);
    }
    for d in layout.specs_for(kind).iter().flatten() {
        match &d.item {
            SpecItem::Path(raw) => {
                // MCPB bundles: a file or a URL, one server each.
                if kind == ServerKind::Mcp
                    && (raw.ends_with(".mcpb")
                        || raw.starts_with("https://")
                        || raw.starts_with("http://"))
                {
                    let remote = raw.contains("://");
                    let path = if remote {
                        Some(raw.clone())
                    } else {
                        resolve_declared(layout, d, raw, field, w)
                    };
                    let Some(path) = path else { continue };
                    if !remote && !ctx.index.is_file(&path) {
                        report_missing(ctx, layout, d, raw, field, w);
                        continue;
                    }
                    let name = paths::file_name(&path).trim_end_matches(".mcpb").to_owned();
                    add(
                        vec![Server {
                            name,
                            server_type: "mcpb".into(),
                            path: if remote {
                                d.origin.clone()
                            } else {
                                path.clone()
                            },
                            command: None,
                            url: remote.then(|| raw.clone()),
                        }],
                        &mut out,
                        w,
                    );
                    continue;
                }
                let Some(p) = resolve_declared(layout, d, raw, field, w) else {
                    continue;
                };
                if !files_read.insert(p.clone()) {
                    continue;
                }
                if ctx.index.is_file(&p) {
                    add(read_servers_file(ctx, &p, kind, w), &mut out, w);
                } else {
                    report_missing(ctx, layout, d, raw, field, w);
                }
            }
            SpecItem::Inline(map) => {
                let found =
                    servers_from_value(&Value::Object(map.clone()), &d.origin, kind, &mut |x| {
                        w.push(x)
                    });
                add(found, &mut out, w);
            }
        }
    }
    out
}

impl Layout<'_> {
    fn specs_for(&self, kind: ServerKind) -> &Option<Vec<crate::manifest::Declared>> {
        match kind {
            ServerKind::Mcp => &self.specs.mcp_servers,
            ServerKind::Lsp => &self.specs.lsp_servers,
        }
    }
}

fn read_servers_file(ctx: &Ctx<'_>, path: &str, kind: ServerKind, w: &mut Warn) -> Vec<Server> {
    match &*ctx.json(path) {
        Ok(f) => {
            if let Some(j) = &f.jsonc_warning {
                w.push(j.clone());
            }
            servers_from_value(&f.value, path, kind, &mut |x| w.push(x))
        }
        Err(e) => {
            w.push(e.clone());
            Vec::new()
        }
    }
}

/// Reads servers from `{"mcpServers": {...}}` / `{"lspServers": {...}}` or a flat map of
/// name → config (accepted in practice inside plugins).
pub fn servers_from_value(
    value: &Value,
    path: &str,
    kind: ServerKind,
    warn: &mut dyn FnMut(Warning),
) -> Vec<Server> {
    let mut out = Vec::new();
    let Some(obj) = value.as_object() else {
        warn(Warning::at(
            WarningCode::InvalidServer,
            path,
            "server configuration must be an object",
        ));
        return out;
    };
    let map = match obj.get(kind.field()) {
        Some(Value::Object(m)) => m,
        Some(_) => {
            warn(Warning::at(
                WarningCode::InvalidServer,
                path,
                format!("`{}` must be an object", kind.field()),
            ));
            return out;
        }
        None => obj,
    };
    for (name, cfg) in map {
        if name.starts_with('$') {
            continue;
        }
        let Some(cfg) = cfg.as_object() else {
            warn(Warning::at(
                WarningCode::InvalidServer,
                path,
                format!("server {name:?} is not an object; skipped"),
            ));
            continue;
        };
        if out.len() >= MAX_ITEMS_PER_FILE {
            warn(Warning::at(
                WarningCode::LimitReached,
                path,
                "too many servers; the rest were skipped",
            ));
            break;
        }
        let command = cfg.get("command").and_then(|c| match c {
            Value::String(s) => Some(s.clone()),
            // OpenCode-style command arrays: show the program.
            Value::Array(a) => a.first().and_then(Value::as_str).map(str::to_owned),
            _ => None,
        });
        let url = cfg.get("url").and_then(Value::as_str).map(str::to_owned);
        let declared_type = match kind {
            ServerKind::Mcp => cfg.get("type"),
            ServerKind::Lsp => cfg.get("transport"),
        }
        .and_then(Value::as_str);
        let server_type = match declared_type {
            Some(t) => t.to_owned(),
            None => {
                if kind == ServerKind::Mcp && url.is_some() && command.is_none() {
                    warn(Warning::at(
                        WarningCode::InvalidServer,
                        path,
                        format!(
                            "server {name:?} has a \"url\" but no \"type\"; Claude Code treats it as stdio and rejects it"
                        ),
                    ));
                }
                "stdio".to_owned()
            }
        };
        out.push(Server {
            name: name.clone(),
            server_type,
            path: path.to_owned(),
            command,
            url,
        });
    }
    out
}
