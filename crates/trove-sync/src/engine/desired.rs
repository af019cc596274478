//! What a plugin should hold at a commit: one desired object per component identity.
//!
//! Identity paths: a skill is its folder; an agent, command or output style its file; a hooks file
//! is one object (inline hooks: `<manifest>#hooks`); an MCP or LSP server is `<file>#<name>`.
//! Content is read from the snapshot (always at its commit SHA) and checked with the registry's own
//! validation; a component that cannot be read or does not validate becomes a per-file error and is
//! remembered as *present*, so its existing object is left alone rather than tombstoned.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use base64::Engine as _;
use serde_json::{Map, Value, json};
use sha2::{Digest as _, Sha256};
use trove_discovery::PluginCandidate;
use trove_sources::RepoSnapshot;
use trove_store::connectors::model::FileError;
use trove_store::registry::ObjectType;
use trove_store::registry::objects::validate::{self, ObjectInput, Prepared};
use trove_store::registry::objects::{FileEncoding, SourceFile};

/// Largest file read for an import (the registry caps a whole version at this size anyway).
const MAX_FILE_BYTES: u64 = trove_store::registry::objects::validate::MAX_SOURCE_BYTES as u64;

/// One component as the commit has it.
#[derive(Debug, Clone)]
pub struct Desired {
    /// Its object type.
    pub object_type: ObjectType,
    /// The validated content.
    pub prepared: Prepared,
    /// The digest of the object ids it was read from, when the source gave them.
    pub digest: Option<String>,
}

/// Everything a plugin should hold, and what could not be read.
#[derive(Debug, Default)]
pub struct PluginPlan {
    /// Valid components, by identity path.
    pub desired: BTreeMap<String, Desired>,
    /// Identity paths present in the commit but not importable (their objects are kept as they are).
    pub present_invalid: BTreeSet<String>,
    /// Per-file errors.
    pub errors: Vec<FileError>,
    /// Components not imported (invalid, or declared inline in a form that is not a file).
    pub skipped: i32,
    /// Components known unchanged without reading them: identity path → the digest their live
    /// binding already holds.
    pub same: BTreeMap<String, String>,
    /// The live bindings' digests this plan was made against, by identity path.
    known: HashMap<String, String>,
    /// The digest of the component being planned, taken by `add`.
    next_digest: Option<String>,
}

/// A digest of the object ids of `files` (plus what else names the component), or `None` when
/// the snapshot does not know every id (then the files must be read).
fn source_digest(
    snap: &RepoSnapshot,
    kind: ObjectType,
    part: &str,
    files: &[&str],
) -> Option<String> {
    let mut h = Sha256::new();
    h.update(kind.as_str().as_bytes());
    h.update([0]);
    h.update(part.as_bytes());
    for f in files {
        let oid = snap.blob_entry(f)?.oid.as_deref()?;
        h.update([0]);
        h.update(f.as_bytes());
        h.update([0]);
        h.update(oid.as_bytes());
    }
    Some(hex::encode(h.finalize()))
}

impl PluginPlan {
    /// A plan against the live bindings' `known` digests (identity path → digest).
    pub fn against(known: HashMap<String, String>) -> Self {
        PluginPlan {
            known,
            ..Default::default()
        }
    }

    /// True when component `id` reads exactly the objects its live binding was written from: it
    /// is recorded in `same` and need not be read. Otherwise remembers the digest for `add`.
    fn unchanged(&mut self, id: &str, digest: Option<String>) -> bool {
        match digest {
            Some(d) if self.known.get(id) == Some(&d) => {
                self.same.insert(id.to_owned(), d);
                true
            }
            other => {
                self.next_digest = other;
                false
            }
        }
    }

    fn fail(&mut self, path: String, message: String) {
        self.next_digest = None;
        self.errors.push(FileError {
            path: path.clone(),
            message,
        });
        self.present_invalid.insert(path);
        self.skipped += 1;
    }

    fn add(&mut self, path: String, object_type: ObjectType, input: &ObjectInput) {
        match validate::prepare_imported(object_type, input) {
            Ok(prepared) => {
                self.desired.insert(
                    path.clone(),
                    Desired {
                        object_type,
                        prepared,
                        digest: self.next_digest.take(),
                    },
                );
            }
            Err(problems) => {
                self.next_digest = None;
                let message = problems
                    .iter()
                    .map(|p| format!("{}: {}", p.field, p.message))
                    .collect::<Vec<_>>()
                    .join("; ");
                self.fail(path, message);
            }
        }
    }
}

fn read_text(snap: &RepoSnapshot, path: &str) -> Result<String, String> {
    let bytes = snap
        .read_full(path, MAX_FILE_BYTES)
        .map_err(|e| e.to_string())?;
    String::from_utf8(bytes).map_err(|_| "the file is not UTF-8 text".to_owned())
}

fn read_json(snap: &RepoSnapshot, path: &str) -> Result<Value, String> {
    let bytes = snap
        .read_full(path, MAX_FILE_BYTES)
        .map_err(|e| e.to_string())?;
    trove_discovery::jsonc::parse(&bytes)
        .map(|p| p.value)
        .map_err(|e| format!("not valid JSON: {e}"))
}

/// The desired objects of `plugin` read from `snap` (blocking: reads blobs). Components whose
/// object ids match `known` (the live bindings' digests) are not read: they go to `same`.
pub fn plan_plugin(
    snap: &RepoSnapshot,
    plugin: &PluginCandidate,
    known: HashMap<String, String>,
) -> PluginPlan {
    let mut plan = PluginPlan::against(known);
    let c = &plugin.components;
    for skill in &c.skills {
        let paths: Vec<&str> = skill.files.iter().map(String::as_str).collect();
        let digest = source_digest(snap, ObjectType::Skill, "", &paths);
        if plan.unchanged(&skill.folder, digest) {
            continue;
        }
        let prefix = if skill.folder.is_empty() {
            String::new()
        } else {
            format!("{}/", skill.folder)
        };
        let mut files = Vec::with_capacity(skill.files.len());
        let mut failed = None;
        for f in &skill.files {
            let rel = f.strip_prefix(&prefix).unwrap_or(f).to_owned();
            match snap.read_full(f, MAX_FILE_BYTES) {
                Ok(bytes) => files.push(match String::from_utf8(bytes) {
                    Ok(text) => SourceFile {
                        path: rel,
                        content: text,
                        encoding: FileEncoding::Utf8,
                    },
                    Err(e) => SourceFile {
                        path: rel,
                        content: base64::engine::general_purpose::STANDARD.encode(e.into_bytes()),
                        encoding: FileEncoding::Base64,
                    },
                }),
                Err(e) => {
                    failed = Some(format!("{f}: {e}"));
                    break;
                }
            }
        }
        let id = skill.folder.clone();
        match failed {
            Some(message) => plan.fail(id, message),
            None => plan.add(
                id,
                ObjectType::Skill,
                &ObjectInput {
                    files: Some(files),
                    ..Default::default()
                },
            ),
        }
    }
    let markdown = [
        (&c.commands, ObjectType::Command),
        (&c.agents, ObjectType::Agent),
        (&c.output_styles, ObjectType::OutputStyle),
    ];
    for (items, kind) in markdown {
        for item in items {
            if item.frontmatter == trove_discovery::FrontmatterStatus::Inline {
                // Declared inside a manifest, not a file of its own: nothing to bind a path to.
                plan.skipped += 1;
                continue;
            }
            let digest = source_digest(snap, kind, "", &[&item.path]);
            if plan.unchanged(&item.path, digest) {
                continue;
            }
            match read_text(snap, &item.path) {
                Ok(text) => plan.add(
                    item.path.clone(),
                    kind,
                    &ObjectInput {
                        raw_source_text: Some(text),
                        path: Some(file_name(&item.path)),
                        ..Default::default()
                    },
                ),
                Err(e) => plan.fail(item.path.clone(), e),
            }
        }
    }
    let manifest = plugin.manifest_path.as_deref();
    let hook_files: BTreeSet<&str> = c.hooks.iter().map(|h| h.path.as_str()).collect();
    for path in hook_files {
        let inline = Some(path) == manifest;
        let id = if inline {
            format!("{path}#hooks")
        } else {
            path.to_owned()
        };
        let digest = source_digest(
            snap,
            ObjectType::Hook,
            if inline { "hooks" } else { "" },
            &[path],
        );
        if plan.unchanged(&id, digest) {
            continue;
        }
        if inline {
            inline_section(
                snap,
                &mut plan,
                path,
                "hooks",
                ObjectType::Hook,
                |v| json!({ "hooks": v }),
            );
            continue;
        }
        match read_text(snap, path) {
            Ok(text) => plan.add(
                path.to_owned(),
                ObjectType::Hook,
                &ObjectInput {
                    raw_source_text: Some(text),
                    path: Some(file_name(path)),
                    ..Default::default()
                },
            ),
            Err(e) => plan.fail(path.to_owned(), e),
        }
    }
    servers(
        snap,
        &mut plan,
        &c.mcp_servers,
        "mcpServers",
        ObjectType::Mcp,
    );
    servers(
        snap,
        &mut plan,
        &c.lsp_servers,
        "lspServers",
        ObjectType::Lsp,
    );
    plan
}

fn file_name(path: &str) -> String {
    path.rsplit('/').next().unwrap_or(path).to_owned()
}

/// An inline section of a manifest (`hooks`) as one object `<manifest>#<key>`.
fn inline_section(
    snap: &RepoSnapshot,
    plan: &mut PluginPlan,
    manifest: &str,
    key: &str,
    kind: ObjectType,
    wrap: impl Fn(Value) -> Value,
) {
    let id = format!("{manifest}#{key}");
    match read_json(snap, manifest) {
        Ok(Value::Object(mut obj)) => match obj.remove(key) {
            Some(v @ Value::Object(_)) => plan.add(
                id,
                kind,
                &ObjectInput {
                    normalized_payload: Some(wrap(v)),
                    path: Some(file_name(manifest)),
                    ..Default::default()
                },
            ),
            _ => plan.fail(id, format!("`{key}` in the manifest is not an object")),
        },
        Ok(_) => plan.fail(id, "the manifest is not a JSON object".into()),
        Err(e) => plan.fail(id, e),
    }
}

/// One object per server (`<file>#<name>`), from the file's `wrapper` map or its top level.
fn servers(
    snap: &RepoSnapshot,
    plan: &mut PluginPlan,
    items: &[trove_discovery::model::Server],
    wrapper: &str,
    kind: ObjectType,
) {
    let mut files: BTreeMap<&str, Result<Map<String, Value>, String>> = BTreeMap::new();
    for server in items {
        let id = format!("{}#{}", server.path, server.name);
        if plan.unchanged(
            &id,
            source_digest(snap, kind, &server.name, &[&server.path]),
        ) {
            continue;
        }
        let parsed = files.entry(server.path.as_str()).or_insert_with(|| {
            match read_json(snap, &server.path) {
                Ok(Value::Object(obj)) => Ok(match obj.get(wrapper) {
                    Some(Value::Object(inner)) => inner.clone(),
                    _ => obj,
                }),
                Ok(_) => Err("not a JSON object".into()),
                Err(e) => Err(e),
            }
        });
        let cfg = match parsed {
            Ok(map) => map.get(&server.name).cloned(),
            Err(e) => {
                plan.fail(id, e.clone());
                continue;
            }
        };
        match cfg {
            Some(cfg) => plan.add(
                id,
                kind,
                &ObjectInput {
                    normalized_payload: Some(json!({ wrapper: { server.name.clone(): cfg } })),
                    path: Some(file_name(&server.path)),
                    ..Default::default()
                },
            ),
            // A path-valued or bundle server declared elsewhere: not a JSON entry to import.
            None => plan.skipped += 1,
        }
    }
}
