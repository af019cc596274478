//! Reading `plugin.json` objects and marketplace entries: metadata and component fields.
//!
//! Both places accept the same component fields (`skills`, `commands`, `agents`, `hooks`,
//! `mcpServers`, `lspServers`, `outputStyles`), each as a string, an array of strings, or (for
//! some) an inline object. A field that is present but empty (`"commands": []`) is still
//! "declared": for replacing kinds it switches the default folder off.

use serde_json::{Map, Value};

use crate::model::Metadata;

/// One declared value of a component field.
#[derive(Debug, Clone, PartialEq)]
pub enum SpecItem {
    /// A path, relative to the plugin root (or a URL for MCPB bundles).
    Path(String),
    /// An inline object (`mcpServers`, `lspServers`, `hooks`, `commands`).
    Inline(Map<String, Value>),
}

/// A declared item with the file that declared it (for inline items' `path`).
#[derive(Debug, Clone, PartialEq)]
pub struct Declared {
    /// The value.
    pub item: SpecItem,
    /// Manifest or marketplace file that declared it.
    pub origin: String,
}

/// Declared component fields; `None` = field absent.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ComponentSpecs {
    /// `skills`.
    pub skills: Option<Vec<Declared>>,
    /// `commands`.
    pub commands: Option<Vec<Declared>>,
    /// `agents`.
    pub agents: Option<Vec<Declared>>,
    /// `hooks`.
    pub hooks: Option<Vec<Declared>>,
    /// `mcpServers`.
    pub mcp_servers: Option<Vec<Declared>>,
    /// `lspServers`.
    pub lsp_servers: Option<Vec<Declared>>,
    /// `outputStyles`.
    pub output_styles: Option<Vec<Declared>>,
}

/// The JSON key of each component field, and whether an inline object is allowed.
const FIELDS: [(&str, bool); 7] = [
    ("skills", false),
    ("commands", true),
    ("agents", false),
    ("hooks", true),
    ("mcpServers", true),
    ("lspServers", true),
    ("outputStyles", false),
];

/// Most items accepted in one component field.
const MAX_ITEMS: usize = 10_000;

impl ComponentSpecs {
    /// Reads the component fields of a manifest object. Problems (wrong types) are returned as
    /// messages; Claude Code refuses to load a plugin with a known field of the wrong type.
    pub fn from_object(obj: &Map<String, Value>, origin: &str) -> (Self, Vec<String>) {
        let mut specs = ComponentSpecs::default();
        let mut problems = Vec::new();
        for (key, inline_ok) in FIELDS {
            let Some(v) = obj.get(key) else { continue };
            let items = match v {
                Value::String(s) => Some(vec![SpecItem::Path(s.clone())]),
                Value::Array(a) => {
                    let mut items = Vec::new();
                    for x in a.iter().take(MAX_ITEMS) {
                        match x {
                            Value::String(s) => items.push(SpecItem::Path(s.clone())),
                            // MCP/LSP arrays may mix paths and inline objects.
                            Value::Object(m) if inline_ok => {
                                items.push(SpecItem::Inline(m.clone()))
                            }
                            _ => problems.push(format!("`{key}` items must be strings")),
                        }
                    }
                    Some(items)
                }
                Value::Object(m) if inline_ok => Some(vec![SpecItem::Inline(m.clone())]),
                Value::Null => None,
                _ => {
                    problems.push(format!(
                        "`{key}` must be {}",
                        if inline_ok {
                            "a path, a list of paths or an object"
                        } else {
                            "a path or a list of paths"
                        }
                    ));
                    None
                }
            };
            if let Some(items) = items {
                let declared = items
                    .into_iter()
                    .map(|item| Declared {
                        item,
                        origin: origin.to_owned(),
                    })
                    .collect();
                *specs.field_mut(key) = Some(declared);
            }
        }
        (specs, problems)
    }

    fn field_mut(&mut self, key: &str) -> &mut Option<Vec<Declared>> {
        match key {
            "skills" => &mut self.skills,
            "commands" => &mut self.commands,
            "agents" => &mut self.agents,
            "hooks" => &mut self.hooks,
            "mcpServers" => &mut self.mcp_servers,
            "lspServers" => &mut self.lsp_servers,
            _ => &mut self.output_styles,
        }
    }

    /// Whether any component field is present.
    pub fn declares_any(&self) -> bool {
        self.skills.is_some()
            || self.commands.is_some()
            || self.agents.is_some()
            || self.hooks.is_some()
            || self.mcp_servers.is_some()
            || self.lsp_servers.is_some()
            || self.output_styles.is_some()
    }

    /// Strict-mode merge: the entry adds to `plugin.json`, field by field.
    pub fn merge(mut self, other: ComponentSpecs) -> ComponentSpecs {
        fn join(a: &mut Option<Vec<Declared>>, b: Option<Vec<Declared>>) {
            match (a.as_mut(), b) {
                (Some(x), Some(y)) => x.extend(y),
                (None, Some(y)) => *a = Some(y),
                _ => {}
            }
        }
        join(&mut self.skills, other.skills);
        join(&mut self.commands, other.commands);
        join(&mut self.agents, other.agents);
        join(&mut self.hooks, other.hooks);
        join(&mut self.mcp_servers, other.mcp_servers);
        join(&mut self.lsp_servers, other.lsp_servers);
        join(&mut self.output_styles, other.output_styles);
        self
    }
}

/// Reads a string field; numbers are printed (a numeric `version` is a known mistake).
fn string_field(obj: &Map<String, Value>, key: &str, problems: &mut Vec<String>) -> Option<String> {
    match obj.get(key)? {
        Value::String(s) => {
            let s = s.trim();
            (!s.is_empty()).then(|| s.to_owned())
        }
        Value::Number(n) => {
            problems.push(format!("`{key}` should be a string, not a number"));
            Some(n.to_string())
        }
        Value::Null => None,
        _ => {
            problems.push(format!("`{key}` should be a string"));
            None
        }
    }
}

fn string_list(obj: &Map<String, Value>, key: &str, problems: &mut Vec<String>) -> Vec<String> {
    match obj.get(key) {
        Some(Value::Array(a)) => a
            .iter()
            .take(MAX_ITEMS)
            .filter_map(|x| x.as_str().map(str::to_owned))
            .collect(),
        Some(Value::String(s)) => vec![s.clone()],
        None | Some(Value::Null) => Vec::new(),
        Some(_) => {
            problems.push(format!("`{key}` should be a list of strings"));
            Vec::new()
        }
    }
}

/// Reads metadata fields. Type problems are returned as messages (warnings, not failures:
/// metadata never decides what loads).
pub fn metadata_from(obj: &Map<String, Value>) -> (Metadata, Vec<String>) {
    let mut p = Vec::new();
    let author = match obj.get("author") {
        Some(Value::Object(m)) => Some(Value::Object(m.clone())),
        Some(Value::String(s)) => {
            p.push("`author` should be an object with `name`, not a string".into());
            let mut m = Map::new();
            m.insert("name".into(), Value::String(s.clone()));
            Some(Value::Object(m))
        }
        None | Some(Value::Null) => None,
        Some(_) => {
            p.push("`author` should be an object".into());
            None
        }
    };
    let repository = match obj.get("repository") {
        Some(Value::Object(m)) => {
            p.push("`repository` should be a string URL, not an object".into());
            m.get("url").and_then(Value::as_str).map(str::to_owned)
        }
        _ => string_field(obj, "repository", &mut p),
    };
    let md = Metadata {
        display_name: string_field(obj, "displayName", &mut p),
        version: string_field(obj, "version", &mut p),
        description: string_field(obj, "description", &mut p),
        author,
        homepage: string_field(obj, "homepage", &mut p),
        repository,
        license: string_field(obj, "license", &mut p),
        keywords: string_list(obj, "keywords", &mut p),
        category: string_field(obj, "category", &mut p),
        tags: string_list(obj, "tags", &mut p),
    };
    (md, p)
}

/// Combines entry metadata with `plugin.json` metadata: `plugin.json` wins for `version` (it pins
/// updates), the entry wins for everything else it sets (it is what the marketplace shows).
pub fn merge_metadata(entry: Metadata, manifest: Metadata) -> Metadata {
    Metadata {
        display_name: entry.display_name.or(manifest.display_name),
        version: manifest.version.or(entry.version),
        description: entry.description.or(manifest.description),
        author: entry.author.or(manifest.author),
        homepage: entry.homepage.or(manifest.homepage),
        repository: entry.repository.or(manifest.repository),
        license: entry.license.or(manifest.license),
        keywords: if entry.keywords.is_empty() {
            manifest.keywords
        } else {
            entry.keywords
        },
        category: entry.category.or(manifest.category),
        tags: if entry.tags.is_empty() {
            manifest.tags
        } else {
            entry.tags
        },
    }
}

/// How acceptable a plugin or marketplace name is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameCheck {
    /// Fine.
    Ok,
    /// Loads in Claude Code, but something will complain (validate, Desktop, claude.ai sync).
    Warn(String),
    /// Unsafe: could act as a path, or is not a usable name at all.
    Reject(String),
}

/// Checks a name that clients may turn into a directory name.
pub fn check_name(name: &str) -> NameCheck {
    if name.trim().is_empty() {
        return NameCheck::Reject("the name is empty".into());
    }
    if name.len() > 256 {
        return NameCheck::Reject("the name is longer than 256 bytes".into());
    }
    if name.contains(['/', '\\']) || name == "." || name == ".." || name.contains("..") {
        return NameCheck::Reject(format!(
            "the name {:?} contains path separators or `..`; clients use names as directory names",
            name
        ));
    }
    if name.chars().any(char::is_control) {
        return NameCheck::Reject("the name contains control characters".into());
    }
    let desktop_ok = name.len() <= 128
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if !desktop_ok {
        return NameCheck::Warn(format!(
            "the name {name:?} is not kebab-case; `claude plugin validate` warns and Claude Desktop refuses it"
        ));
    }
    NameCheck::Ok
}

/// Marketplace names that only Anthropic may use.
pub const RESERVED_MARKETPLACE_NAMES: [&str; 16] = [
    "claude-code-marketplace",
    "claude-code-plugins",
    "claude-plugins-official",
    "claude-plugins-community",
    "claude-community",
    "anthropic-marketplace",
    "anthropic-plugins",
    "agent-skills",
    "anthropic-agent-skills",
    "knowledge-work-plugins",
    "life-sciences",
    "claude-for-legal",
    "claude-for-financial-services",
    "financial-services-plugins",
    "first-party-plugins",
    "healthcare",
];

/// Plugin name prefixes the validator refuses for third parties.
pub fn reserved_plugin_prefix(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n == "claude"
        || ["claude-", "anthropic-", "anthropics-", "cc-plugin-"]
            .iter()
            .any(|p| n.starts_with(p))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn specs_forms() {
        let v = json!({"skills": "./s", "commands": [], "mcpServers": {"a": {"command": "x"}}, "agents": 3});
        let (s, p) = ComponentSpecs::from_object(v.as_object().unwrap(), "m");
        assert_eq!(s.skills.as_ref().unwrap().len(), 1);
        assert_eq!(s.commands.as_ref().unwrap().len(), 0);
        assert!(matches!(
            s.mcp_servers.as_ref().unwrap()[0].item,
            SpecItem::Inline(_)
        ));
        assert!(s.agents.is_none());
        assert_eq!(p.len(), 1);
    }

    #[test]
    fn names() {
        assert!(matches!(check_name("../../../.ssh"), NameCheck::Reject(_)));
        assert!(matches!(check_name("a/b"), NameCheck::Reject(_)));
        assert!(matches!(check_name("Writing Rules"), NameCheck::Warn(_)));
        assert_eq!(check_name("my-plugin"), NameCheck::Ok);
    }
}
