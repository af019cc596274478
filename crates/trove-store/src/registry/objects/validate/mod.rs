//! Parsing and validation of config object input, and the projection of a version onto its object.
//!
//! Pure functions: [`prepare`] turns what a client sent (`rawSourceText`, `files` or
//! `normalizedPayload`) into the files and normalized payload of a version, plus the plaintext
//! projection (name, title, description, search text). Every problem is collected, so one 400 can say
//! everything that is wrong. The projection holds names, titles, descriptions and paths only — never a
//! body — because it is stored in clear next to the encrypted version.

mod markdown;
mod servers;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use trove_core::AppError;
use trove_discovery::frontmatter::{MAX_DESCRIPTION_CHARS, MAX_TITLE_CHARS, clamp};
use utoipa::ToSchema;

use crate::registry::ObjectType;

/// Largest total size of a version's files, in bytes (after base64 decoding). Real skill folders
/// with scripts and references pass 1 MiB (the document skills of anthropics/skills are ~1.1 MiB).
pub const MAX_SOURCE_BYTES: usize = 8 * 1024 * 1024;
/// Most files in one version (a skill folder).
pub const MAX_FILES: usize = 1000;
/// Longest file path, in bytes.
pub const MAX_PATH_BYTES: usize = 512;

/// How a file's `content` is written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum FileEncoding {
    /// UTF-8 text (the default).
    #[default]
    Utf8,
    /// Base64 of arbitrary bytes (images, binaries among a skill's assets).
    Base64,
}

/// One file of a version's raw source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SourceFile {
    /// Relative path inside the component (`SKILL.md`, `scripts/run.sh`).
    pub path: String,
    /// The content, as text or base64 (see `encoding`).
    pub content: String,
    /// `utf8` (default) or `base64`.
    #[serde(default)]
    pub encoding: FileEncoding,
}

/// What a client sends to create an object or a version: exactly one of `rawSourceText`, `files` or
/// `normalizedPayload`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ObjectInput {
    /// The source text: the Markdown of a skill (its SKILL.md), agent or command, or the JSON of a
    /// hook, MCP or LSP configuration.
    pub raw_source_text: Option<String>,
    /// Every file of the component (a skill folder: SKILL.md plus scripts, references, assets).
    pub files: Option<Vec<SourceFile>>,
    /// The configuration as JSON (hooks, MCP and LSP servers, custom objects).
    #[schema(value_type = Option<Object>)]
    pub normalized_payload: Option<Value>,
    /// With `rawSourceText`: the file's path (`commands/deploy.md`); names commands and fills search.
    pub path: Option<String>,
}

/// One thing wrong with the input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Problem {
    /// Where: the request field, or `input.files[SKILL.md].frontmatter.name`.
    pub field: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl Problem {
    pub(crate) fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// The 400 for a list of problems: the first one's field, and every message.
pub fn problems_error(problems: &[Problem]) -> AppError {
    let message = problems
        .iter()
        .map(|p| format!("{}: {}", p.field, p.message))
        .collect::<Vec<_>>()
        .join("; ");
    AppError::Invalid {
        field: problems.first().map(|p| p.field.clone()),
        message: format!("invalid config object: {message}"),
    }
}

/// A validated version, ready to store.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The object's name (from frontmatter, the server key, or the file name).
    pub name: String,
    /// The display title.
    pub title: String,
    /// The description.
    pub description: String,
    /// Lower-cased names, title, description and paths.
    pub search_text: String,
    /// The normalized payload.
    pub payload: Value,
    /// The raw source files, sorted by path.
    pub files: Vec<SourceFile>,
    /// Total size of the files in bytes.
    pub size_bytes: i64,
    /// SHA-256 (hex) of the type, files and payload: equal hashes mean equal content.
    pub content_hash: String,
    /// Things that load but deserve attention (YAML that needed the lenient reader, JSONC).
    pub warnings: Vec<String>,
}

/// What the type-specific parsers produce.
pub(crate) struct Parsed {
    pub name: String,
    pub title: Option<String>,
    pub description: String,
    pub payload: Value,
    pub warnings: Vec<String>,
    /// A file name to use instead of the default one, when the client gave no path.
    pub file_name: Option<String>,
}

/// Validates input for an object of `kind` and computes its version and projection.
pub fn prepare(kind: ObjectType, input: &ObjectInput) -> Result<Prepared, Vec<Problem>> {
    prepare_with(kind, input, true)
}

/// [`prepare`] for content imported from a repository: a skill `name` that is not a slug (Claude
/// Code loads `name: Writing Hookify Rules`) is accepted as written, because the content must be
/// what the commit holds and a repository cannot be asked to change. Every other rule holds.
pub fn prepare_imported(kind: ObjectType, input: &ObjectInput) -> Result<Prepared, Vec<Problem>> {
    prepare_with(kind, input, false)
}

fn prepare_with(
    kind: ObjectType,
    input: &ObjectInput,
    strict_names: bool,
) -> Result<Prepared, Vec<Problem>> {
    let given = [
        input.raw_source_text.is_some(),
        input.files.is_some(),
        input.normalized_payload.is_some(),
    ]
    .iter()
    .filter(|g| **g)
    .count();
    if given != 1 {
        return Err(vec![Problem::new(
            "input",
            "give exactly one of `rawSourceText`, `files` or `normalizedPayload`",
        )]);
    }
    if let Some(path) = &input.path
        && let Err(m) = check_path(path)
    {
        return Err(vec![Problem::new("input.path", m)]);
    }
    let files = match (&input.raw_source_text, &input.files) {
        (Some(text), _) => Some(vec![SourceFile {
            path: input
                .path
                .clone()
                .unwrap_or_else(|| default_path(kind).to_owned()),
            content: text.clone(),
            encoding: FileEncoding::Utf8,
        }]),
        (None, Some(files)) => Some(files.clone()),
        (None, None) => None,
    };
    let (parsed, files) = match files {
        Some(mut files) => {
            let decoded = check_files(&mut files)?;
            let path_given = input.path.is_some() || input.files.is_some();
            let parsed = parse_files(kind, &files, &decoded, path_given, strict_names)?;
            if let (Some(name), [only]) = (&parsed.file_name, files.as_mut_slice()) {
                only.path.clone_from(name);
            }
            (parsed, files)
        }
        None => {
            let payload = input.normalized_payload.clone().unwrap_or(Value::Null);
            let path = input
                .path
                .clone()
                .unwrap_or_else(|| default_path(kind).to_owned());
            let parsed = servers::parse_payload(kind, payload, &path, "input.normalizedPayload")?;
            let text = serde_json::to_string_pretty(&parsed.payload).unwrap_or_default() + "\n";
            let files = vec![SourceFile {
                path,
                content: text,
                encoding: FileEncoding::Utf8,
            }];
            (parsed, files)
        }
    };
    Ok(finish(kind, parsed, files))
}

/// The file name used when the client gives none.
fn default_path(kind: ObjectType) -> &'static str {
    match kind {
        ObjectType::Skill => "SKILL.md",
        ObjectType::Agent => "agent.md",
        ObjectType::Command => "command.md",
        ObjectType::Hook => "hooks.json",
        ObjectType::Mcp => ".mcp.json",
        ObjectType::Lsp => ".lsp.json",
        ObjectType::OutputStyle => "output-style.md",
        ObjectType::Context => "CLAUDE.md",
        ObjectType::Custom => "custom.txt",
    }
}

/// A relative path inside the component: no absolute paths, `..`, `.`, empty segments, backslashes
/// or control characters.
pub(crate) fn check_path(path: &str) -> Result<(), String> {
    if path.is_empty() {
        return Err("the path is empty".into());
    }
    if path.len() > MAX_PATH_BYTES {
        return Err(format!("the path is longer than {MAX_PATH_BYTES} bytes"));
    }
    if path.starts_with('/') || path.contains('\\') || path.contains(':') {
        return Err(format!(
            "`{}` must be a relative path with `/` separators",
            clamp(path, 80)
        ));
    }
    if path.chars().any(char::is_control) {
        return Err("the path contains control characters".into());
    }
    if path
        .split('/')
        .any(|seg| seg.is_empty() || seg == "." || seg == "..")
    {
        return Err(format!(
            "`{}` has an empty, `.` or `..` segment",
            clamp(path, 80)
        ));
    }
    Ok(())
}

/// Checks paths, sizes and encodings; sorts the files by path. Returns each file's bytes.
fn check_files(files: &mut [SourceFile]) -> Result<Vec<Vec<u8>>, Vec<Problem>> {
    let mut problems = Vec::new();
    if files.is_empty() {
        problems.push(Problem::new("input.files", "give at least one file"));
    }
    if files.len() > MAX_FILES {
        problems.push(Problem::new(
            "input.files",
            format!("at most {MAX_FILES} files per version"),
        ));
        return Err(problems);
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    let mut total = 0usize;
    let mut decoded = Vec::with_capacity(files.len());
    for (i, f) in files.iter().enumerate() {
        let field = format!("input.files[{i}]");
        if let Err(m) = check_path(&f.path) {
            problems.push(Problem::new(format!("{field}.path"), m));
        }
        if i > 0 && files[i - 1].path == f.path {
            problems.push(Problem::new(
                format!("{field}.path"),
                format!("`{}` appears twice", clamp(&f.path, 80)),
            ));
        }
        let bytes = match f.encoding {
            FileEncoding::Utf8 => f.content.as_bytes().to_vec(),
            FileEncoding::Base64 => match B64.decode(f.content.as_bytes()) {
                Ok(b) => b,
                Err(_) => {
                    problems.push(Problem::new(
                        format!("{field}.content"),
                        "not valid base64 (standard alphabet, padded)",
                    ));
                    Vec::new()
                }
            },
        };
        total += bytes.len();
        decoded.push(bytes);
    }
    if total > MAX_SOURCE_BYTES {
        problems.push(Problem::new(
            "input",
            format!(
                "the files add up to {total} bytes; a version holds at most {MAX_SOURCE_BYTES}"
            ),
        ));
    }
    if problems.is_empty() {
        Ok(decoded)
    } else {
        Err(problems)
    }
}

/// Dispatches to the type's parser.
fn parse_files(
    kind: ObjectType,
    files: &[SourceFile],
    decoded: &[Vec<u8>],
    path_given: bool,
    strict_names: bool,
) -> Result<Parsed, Vec<Problem>> {
    if kind == ObjectType::Skill {
        return markdown::parse_skill(files, decoded, strict_names);
    }
    if files.len() != 1 {
        return Err(vec![Problem::new(
            "input.files",
            format!("a {} is one file; only skills hold several", kind.as_str()),
        )]);
    }
    let file = &files[0];
    let text = match std::str::from_utf8(&decoded[0]) {
        Ok(t) => t,
        Err(_) if kind == ObjectType::Custom => "",
        Err(_) => {
            return Err(vec![Problem::new(
                "input.files[0].content",
                "the file is not UTF-8 text",
            )]);
        }
    };
    match kind {
        ObjectType::Agent | ObjectType::Command | ObjectType::OutputStyle | ObjectType::Context => {
            markdown::parse_markdown(kind, &file.path, path_given, text, strict_names)
        }
        ObjectType::Hook | ObjectType::Mcp | ObjectType::Lsp => {
            servers::parse_json_text(kind, &file.path, text)
        }
        ObjectType::Custom | ObjectType::Skill => Ok(servers::parse_custom(&file.path, text)),
    }
}

/// The stem of a path's file name (`commands/deploy.md` → `deploy`).
pub(crate) fn stem(path: &str) -> String {
    let file = path.rsplit('/').next().unwrap_or(path);
    let file = file.trim_start_matches('.');
    match file.rsplit_once('.') {
        Some((s, _)) if !s.is_empty() => s.to_owned(),
        _ => file.to_owned(),
    }
}

fn finish(kind: ObjectType, parsed: Parsed, files: Vec<SourceFile>) -> Prepared {
    let name = clamp(parsed.name.trim(), MAX_TITLE_CHARS);
    let title = clamp(
        parsed.title.as_deref().unwrap_or(&name).trim(),
        MAX_TITLE_CHARS,
    );
    let description = clamp(parsed.description.trim(), MAX_DESCRIPTION_CHARS);
    let mut search = vec![name.clone(), title.clone(), description.clone()];
    search.extend(files.iter().map(|f| f.path.clone()));
    let search_text = search.join("\n").to_lowercase();
    let size_bytes: usize = files
        .iter()
        .map(|f| match f.encoding {
            FileEncoding::Utf8 => f.content.len(),
            FileEncoding::Base64 => B64.decode(f.content.as_bytes()).map_or(0, |b| b.len()),
        })
        .sum();
    let content_hash = content_hash(kind, &files, &parsed.payload);
    Prepared {
        name,
        title,
        description,
        search_text,
        payload: parsed.payload,
        files,
        size_bytes: i64::try_from(size_bytes).unwrap_or(i64::MAX),
        content_hash,
        warnings: parsed.warnings,
    }
}

/// SHA-256 over the type, every file (length-prefixed) and the canonical payload JSON.
fn content_hash(kind: ObjectType, files: &[SourceFile], payload: &Value) -> String {
    let mut h = Sha256::new();
    let mut part = |bytes: &[u8]| {
        h.update((bytes.len() as u64).to_be_bytes());
        h.update(bytes);
    };
    part(kind.as_str().as_bytes());
    for f in files {
        part(f.path.as_bytes());
        part(match f.encoding {
            FileEncoding::Utf8 => b"utf8",
            FileEncoding::Base64 => b"base64",
        });
        part(f.content.as_bytes());
    }
    part(
        serde_json::to_string(payload)
            .unwrap_or_default()
            .as_bytes(),
    );
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests;
