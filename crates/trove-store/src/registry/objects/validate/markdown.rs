//! Markdown components: skills (SKILL.md plus the folder's files), agents, commands, output styles
//! and context files. Frontmatter is read with trove-discovery's parser (YAML within budgets, with the
//! line-wise fallback Claude Code uses); the rules checked are the ones clients enforce.

use serde_json::{Map, Value, json};
use trove_discovery::frontmatter::{Document, parse_document, str_field};
use trove_discovery::manifest::{NameCheck, check_name};
use trove_discovery::model::FrontmatterStatus;

use super::{Parsed, Problem, SourceFile, stem};
use crate::registry::ObjectType;

/// Longest skill name (Agent Skills spec).
const MAX_SKILL_NAME: usize = 64;
/// Longest skill description (Agent Skills spec).
const MAX_SKILL_DESCRIPTION: usize = 1024;

/// Agent colours Claude Code knows.
const AGENT_COLORS: [&str; 8] = [
    "red", "blue", "green", "yellow", "purple", "orange", "pink", "cyan",
];

fn is_skill_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_SKILL_NAME
        && name.split('-').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
}

fn yaml_warning(doc: &Document<'_>, file: &str) -> Option<String> {
    match (&doc.status, &doc.problem) {
        (FrontmatterStatus::Lenient, Some(p)) => Some(format!(
            "{file}: the frontmatter is not valid YAML ({}); it was read line by line, as Claude Code does",
            p.message
        )),
        _ => None,
    }
}

/// A skill: SKILL.md at the root of the files, with `name` and `description` in its frontmatter.
pub(super) fn parse_skill(
    files: &[SourceFile],
    decoded: &[Vec<u8>],
    strict_name: bool,
) -> Result<Parsed, Vec<Problem>> {
    let Some(index) = files.iter().position(|f| f.path == "SKILL.md") else {
        return Err(vec![Problem::new(
            "input.files",
            "a skill needs a `SKILL.md` at the root of its files",
        )]);
    };
    let field = "SKILL.md";
    let Ok(text) = std::str::from_utf8(&decoded[index]) else {
        return Err(vec![Problem::new(field, "SKILL.md is not UTF-8 text")]);
    };
    let doc = parse_document(text);
    let mut problems = Vec::new();
    if doc.status == FrontmatterStatus::None {
        let why = doc
            .problem
            .as_ref()
            .map(|p| format!(" ({})", p.message))
            .unwrap_or_default();
        return Err(vec![Problem::new(
            format!("{field}.frontmatter"),
            format!(
                "SKILL.md must start with a `---` frontmatter block holding `name` and `description`{why}"
            ),
        )]);
    }
    let name = str_field(&doc.fields, "name").unwrap_or_default();
    if name.is_empty() {
        problems.push(Problem::new(
            format!("{field}.frontmatter.name"),
            "`name` is missing",
        ));
    } else if strict_name && !is_skill_name(&name) {
        problems.push(Problem::new(
            format!("{field}.frontmatter.name"),
            format!(
                "`{}` is not a valid skill name: use 1-{MAX_SKILL_NAME} lower-case letters, digits and single hyphens (e.g. `pdf-tools`)",
                trove_discovery::frontmatter::clamp(&name, 80)
            ),
        ));
    }
    let description = str_field(&doc.fields, "description").unwrap_or_default();
    if description.is_empty() {
        problems.push(Problem::new(
            format!("{field}.frontmatter.description"),
            "`description` is missing: say what the skill does and when to use it",
        ));
    } else if strict_name && description.chars().count() > MAX_SKILL_DESCRIPTION {
        problems.push(Problem::new(
            format!("{field}.frontmatter.description"),
            format!("`description` is longer than {MAX_SKILL_DESCRIPTION} characters"),
        ));
    }
    if doc.body.trim().is_empty() {
        problems.push(Problem::new(
            format!("{field}.body"),
            "the body after the frontmatter is empty: it holds the skill's instructions",
        ));
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let listing: Vec<Value> = files
        .iter()
        .zip(decoded)
        .map(|(f, b)| json!({"path": f.path, "size": b.len()}))
        .collect();
    Ok(Parsed {
        title: str_field(&doc.fields, "title"),
        payload: json!({
            "name": name,
            "description": description,
            "frontmatter": Value::Object(doc.fields.clone()),
            "files": listing,
        }),
        warnings: yaml_warning(&doc, field).into_iter().collect(),
        name,
        description,
        file_name: None,
    })
}

/// Checks that a frontmatter field, when present, is a string or a list of strings.
fn string_or_list(fields: &Map<String, Value>, key: &str, problems: &mut Vec<Problem>) {
    match fields.get(key) {
        None | Some(Value::String(_)) | Some(Value::Null) => {}
        Some(Value::Array(items)) if items.iter().all(Value::is_string) => {}
        Some(_) => problems.push(Problem::new(
            format!("frontmatter.{key}"),
            format!("`{key}` must be a string or a list of strings"),
        )),
    }
}

fn string_field(fields: &Map<String, Value>, key: &str, problems: &mut Vec<Problem>) {
    match fields.get(key) {
        None | Some(Value::String(_)) | Some(Value::Null) => {}
        Some(_) => problems.push(Problem::new(
            format!("frontmatter.{key}"),
            format!("`{key}` must be a string"),
        )),
    }
}

/// An agent, command, output style or context file: one Markdown file.
pub(super) fn parse_markdown(
    kind: ObjectType,
    path: &str,
    path_given: bool,
    text: &str,
    strict: bool,
) -> Result<Parsed, Vec<Problem>> {
    let doc = parse_document(text);
    let fields = &doc.fields;
    let mut problems = Vec::new();
    // Field-shape checks: errors for content written through the API, warnings for imported
    // content (Claude Code loads a file whose `color` or `argument-hint` is off).
    let mut soft: Vec<Problem> = Vec::new();
    if let Some(p) = doc
        .problem
        .as_ref()
        .filter(|_| doc.status == FrontmatterStatus::None)
    {
        problems.push(Problem::new("frontmatter", p.message.clone()));
    }
    let fm_name = str_field(fields, "name");
    let name = match kind {
        ObjectType::Agent => {
            if fm_name.is_none() {
                problems.push(Problem::new(
                    "frontmatter.name",
                    "an agent needs `name` in its frontmatter",
                ));
            }
            if str_field(fields, "description").is_none() {
                problems.push(Problem::new(
                    "frontmatter.description",
                    "an agent needs `description` in its frontmatter: when should Claude delegate to it?",
                ));
            }
            if let Some(n) = &fm_name
                && n.contains(':')
            {
                problems.push(Problem::new(
                    "frontmatter.name",
                    "an agent's `name` may not contain `:`",
                ));
            }
            string_or_list(fields, "tools", &mut soft);
            string_or_list(fields, "disallowedTools", &mut soft);
            string_field(fields, "model", &mut soft);
            if let Some(color) = str_field(fields, "color")
                && !AGENT_COLORS.contains(&color.as_str())
            {
                soft.push(Problem::new(
                    "frontmatter.color",
                    format!("`color` must be one of {}", AGENT_COLORS.join(", ")),
                ));
            }
            fm_name.clone().unwrap_or_default()
        }
        ObjectType::Command => {
            string_field(fields, "description", &mut soft);
            string_field(fields, "argument-hint", &mut soft);
            string_field(fields, "model", &mut soft);
            string_or_list(fields, "allowed-tools", &mut soft);
            match (&fm_name, path_given) {
                (Some(n), _) => n.clone(),
                (None, true) => stem(path),
                (None, false) => {
                    problems.push(Problem::new(
                        "input.path",
                        "a command is named after its file: give `path` (e.g. `deploy.md`) or `name` in the frontmatter",
                    ));
                    String::new()
                }
            }
        }
        _ => match (&fm_name, path_given) {
            (Some(n), _) => n.clone(),
            (None, true) => stem(path),
            (None, false) => kind.as_str().to_owned(),
        },
    };
    if !name.is_empty()
        && let NameCheck::Reject(why) = check_name(&name)
    {
        problems.push(Problem::new("frontmatter.name", why));
    }
    let soft_warnings: Vec<String> = if strict {
        problems.append(&mut soft);
        Vec::new()
    } else {
        soft.iter()
            .map(|p| format!("{}: {}", p.field, p.message))
            .collect()
    };
    if matches!(kind, ObjectType::Agent | ObjectType::Command) && doc.body.trim().is_empty() {
        problems.push(Problem::new(
            "body",
            format!("the {} has no body after its frontmatter", kind.as_str()),
        ));
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    // Never the body as a description: it would sit in clear beside the encrypted version.
    let description = str_field(fields, "description").unwrap_or_default();
    let file_name = (!path_given).then(|| format!("{name}.md"));
    Ok(Parsed {
        title: str_field(fields, "title"),
        payload: json!({
            "name": name,
            "description": description,
            "frontmatter": Value::Object(fields.clone()),
        }),
        warnings: yaml_warning(&doc, path)
            .into_iter()
            .chain(soft_warnings)
            .collect(),
        name,
        description,
        file_name,
    })
}
