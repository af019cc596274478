//! Building one plugin candidate: from a local folder (with an optional `plugin.json` and an
//! optional marketplace entry), from a remote source, or as an unusable entry.
//!
//! `strict` decides how the two manifests combine: `true` (default) merges the entry's component
//! fields into `plugin.json`'s; `false` makes the entry the whole definition, and a `plugin.json`
//! that also declares components is the "conflicting manifests" error Claude Code refuses to load.

use std::sync::Arc;

use serde_json::{Map, Value};

use crate::components::{self, Layout};
use crate::ctx::Ctx;
use crate::manifest::{self, ComponentSpecs, NameCheck};
use crate::marketplace::Marketplace;
use crate::model::{Components, PluginCandidate, Source, Warning, WarningCode};
use crate::paths;

/// What is known about a local plugin before its folder is read.
#[derive(Debug)]
pub struct LocalSpec<'e> {
    /// Stable key.
    pub key: String,
    /// Name from the marketplace entry (wins over `plugin.json`).
    pub entry_name: Option<String>,
    /// Plugin folder.
    pub root: String,
    /// The marketplace entry, if any.
    pub entry: Option<&'e Map<String, Value>>,
    /// The marketplace, if any.
    pub marketplace: Option<&'e Marketplace>,
    /// The entry's `strict`.
    pub strict: bool,
    /// Preselect it when supported.
    pub selectable: bool,
    /// Warnings found before (source resolution, name checks).
    pub warnings: Vec<Warning>,
    /// Already known to be unusable (e.g. a rejected name).
    pub fatal: bool,
}

/// Builds a candidate from a local folder, or takes the one an earlier discovery built from the
/// same inputs.
pub fn build_local(ctx: &Ctx<'_>, spec: LocalSpec<'_>) -> Arc<PluginCandidate> {
    match ctx.reuse {
        Some(reuse) => reuse.build_local(ctx, spec, build_from_files),
        None => Arc::new(build_from_files(ctx, spec)),
    }
}

/// Builds a candidate by reading its folder. Every input it uses must be part of the reuse
/// fingerprint (`reuse::fingerprint`): the spec, the snapshot's root name, and the folder's
/// listing and blobs.
fn build_from_files(ctx: &Ctx<'_>, spec: LocalSpec<'_>) -> PluginCandidate {
    let mut warnings = spec.warnings;
    let mut fatal = spec.fatal;
    let root = spec.root.as_str();
    let manifest_path = paths::join(root, ".claude-plugin/plugin.json");
    let mut manifest_obj: Option<Map<String, Value>> = None;
    let mut manifest_read = false;
    if ctx.index.is_file(&manifest_path) {
        manifest_read = true;
        match &*ctx.json(&manifest_path) {
            Ok(f) => {
                warnings.extend(f.jsonc_warning.iter().cloned());
                match &f.value {
                    Value::Object(o) => manifest_obj = Some(o.clone()),
                    _ => {
                        fatal = true;
                        warnings.push(Warning::at(
                            WarningCode::InvalidManifest,
                            &manifest_path,
                            "plugin.json must hold an object",
                        ));
                    }
                }
            }
            Err(w) => {
                fatal = true;
                let mut w = w.clone();
                w.message = format!("plugin not loadable: {}", w.message);
                warnings.push(w);
            }
        }
    } else if ctx.index.symlink_at(&manifest_path).is_some() {
        warnings.push(Warning::at(
            WarningCode::Symlink,
            &manifest_path,
            "plugin.json is a symlink; not followed",
        ));
    } else {
        misplaced_manifest_check(ctx, root, &mut warnings);
    }

    let empty = Map::new();
    let mobj = manifest_obj.as_ref().unwrap_or(&empty);
    let (manifest_specs, problems) = ComponentSpecs::from_object(mobj, &manifest_path);
    fatal |= push_problems(&mut warnings, &manifest_path, problems, true);
    let (manifest_md, problems) = manifest::metadata_from(mobj);
    push_problems(&mut warnings, &manifest_path, problems, false);

    let origin = spec
        .marketplace
        .map_or("", |m| m.info.path.as_str())
        .to_owned();
    let eobj = spec.entry.unwrap_or(&empty);
    let (entry_specs, problems) = ComponentSpecs::from_object(eobj, &origin);
    fatal |= push_problems(&mut warnings, &origin, problems, true);
    let (entry_md, problems) = manifest::metadata_from(eobj);
    push_problems(&mut warnings, &origin, problems, false);

    let specs = if spec.strict {
        manifest_specs.merge(entry_specs)
    } else {
        if manifest_obj.is_some() {
            if manifest_specs.declares_any() {
                fatal = true;
                warnings.push(Warning::at(
                    WarningCode::ConflictingManifests,
                    &manifest_path,
                    "conflicting manifests: both plugin.json and the `strict: false` marketplace entry specify components; Claude Code refuses to load this plugin. Set `strict: true` in the entry or remove the component fields from one of them.",
                ));
            } else if has_default_folders(ctx, root) {
                warnings.push(Warning::at(
                    WarningCode::ConflictingManifests,
                    &manifest_path,
                    "`strict: false` entry with a plugin.json beside default component folders: recent Claude Code versions report conflicting manifests and may refuse to load it. Remove plugin.json or set `strict: true`.",
                ));
            }
        }
        entry_specs
    };

    let manifest_name = mobj.get("name").and_then(Value::as_str).map(str::to_owned);
    if manifest_read && manifest_obj.is_some() && manifest_name.is_none() {
        warnings.push(Warning::at(
            WarningCode::InvalidManifest,
            &manifest_path,
            "plugin.json has no `name` (the only required field)",
        ));
    }
    let dir_name = if root.is_empty() {
        ctx.snap.root_name().unwrap_or("plugin").to_owned()
    } else {
        paths::file_name(root).to_owned()
    };
    if let (Some(e), Some(m)) = (&spec.entry_name, &manifest_name)
        && e != m
    {
        warnings.push(Warning::at(
            WarningCode::Note,
            &manifest_path,
            format!("plugin.json name {m:?} differs from the marketplace entry name {e:?}; the entry name is used"),
        ));
    }
    let name = spec
        .entry_name
        .clone()
        .or_else(|| manifest_name.clone())
        .unwrap_or_else(|| dir_name.clone());
    if spec.entry_name.is_none() {
        // Entry names were checked by the caller.
        fatal |= check_plugin_name(&name, &manifest_path, &mut warnings);
    }
    if let (Some(ev), Some(mv)) = (&entry_md.version, &manifest_md.version)
        && ev != mv
    {
        warnings.push(Warning::at(
            WarningCode::Note,
            &manifest_path,
            format!(
                "plugin.json version {mv:?} differs from the entry version {ev:?}; plugin.json wins"
            ),
        ));
    }
    let metadata = manifest::merge_metadata(entry_md, manifest_md);

    let layout = Layout {
        root,
        specs: &specs,
        source_is_marketplace_root: spec.marketplace.is_some_and(|m| m.root == root),
        marketplace_root: spec.marketplace.map(|m| m.root.as_str()),
        dir_name: &dir_name,
    };
    let components = components::collect(ctx, &layout, &mut warnings);
    if layout.source_is_marketplace_root {
        let root_mcp = paths::join(root, ".mcp.json");
        if components.mcp_servers.iter().any(|s| s.path == root_mcp) {
            warnings.push(Warning::at(
                WarningCode::Note,
                root_mcp,
                "this entry's source is the marketplace root, so the repository's own .mcp.json is loaded as this plugin's MCP configuration; if it is the author's development setup, move it or give the entry its own folder",
            ));
        }
    }
    if components.total() == 0 {
        warnings.push(Warning::general(
            WarningCode::Empty,
            "no components found in this plugin",
        ));
    }
    PluginCandidate {
        key: spec.key,
        name,
        root: Some(root.to_owned()),
        source: Source::Local {
            path: root.to_owned(),
        },
        strict: spec.strict,
        supported: !fatal,
        selected_by_default: !fatal && spec.selectable,
        components,
        warnings,
        metadata,
        manifest_path: manifest_obj.is_some().then_some(manifest_path),
        marketplace_path: spec.marketplace.map(|m| m.info.path.clone()),
        needs_fetch: false,
    }
}

/// A candidate whose components cannot be known here: remote sources (supported, to be
/// fetched) and unusable entries (unsupported).
#[allow(clippy::too_many_arguments)]
pub fn build_without_files(
    key: String,
    name: String,
    root: Option<String>,
    source: Source,
    entry: &Map<String, Value>,
    marketplace: &Marketplace,
    strict: bool,
    supported: bool,
    selectable: bool,
    mut warnings: Vec<Warning>,
) -> Arc<PluginCandidate> {
    let (metadata, problems) = manifest::metadata_from(entry);
    push_problems(&mut warnings, &marketplace.info.path, problems, false);
    let needs_fetch = supported && source.is_remote();
    if needs_fetch {
        warnings.push(Warning::general(
            WarningCode::Note,
            "remote source: components are listed after the sync engine fetches it",
        ));
    }
    Arc::new(PluginCandidate {
        key,
        name,
        root,
        source,
        strict,
        supported,
        selected_by_default: supported && selectable,
        components: Components::default(),
        warnings,
        metadata,
        manifest_path: None,
        marketplace_path: Some(marketplace.info.path.clone()),
        needs_fetch,
    })
}

/// Checks a plugin name; returns true when it makes the plugin unusable.
pub fn check_plugin_name(name: &str, path: &str, warnings: &mut Vec<Warning>) -> bool {
    let fatal = match manifest::check_name(name) {
        NameCheck::Reject(why) => {
            warnings.push(Warning::at(
                WarningCode::InvalidName,
                path,
                format!("plugin refused: {why}"),
            ));
            true
        }
        NameCheck::Warn(why) => {
            warnings.push(Warning::at(WarningCode::InvalidName, path, why));
            false
        }
        NameCheck::Ok => false,
    };
    if manifest::reserved_plugin_prefix(name) {
        warnings.push(Warning::at(
            WarningCode::ReservedName,
            path,
            format!("plugin name {name:?} starts with a prefix Claude Code reserves (claude-, anthropic-, cc-plugin-); the validator refuses it for third parties"),
        ));
    }
    fatal
}

fn push_problems(
    warnings: &mut Vec<Warning>,
    path: &str,
    problems: Vec<String>,
    fatal: bool,
) -> bool {
    let any = !problems.is_empty();
    for p in problems {
        let msg = if fatal {
            format!("{p}; Claude Code refuses a known field with the wrong type")
        } else {
            p
        };
        warnings.push(Warning::at(WarningCode::InvalidManifest, path, msg));
    }
    fatal && any
}

fn has_default_folders(ctx: &Ctx<'_>, root: &str) -> bool {
    ["skills", "commands", "agents"]
        .iter()
        .any(|d| ctx.index.has_files_under(&paths::join(root, d)))
        || ctx.index.is_file(&paths::join(root, "hooks/hooks.json"))
}

/// A `plugin.json` at the plugin root is not read by Claude Code; other ecosystems put theirs
/// there too (agent-plugins.org), so only a Claude-looking one is worth a warning.
fn misplaced_manifest_check(ctx: &Ctx<'_>, root: &str, warnings: &mut Vec<Warning>) {
    let p = paths::join(root, "plugin.json");
    if !ctx.index.is_file(&p) {
        return;
    }
    if let Ok(f) = &*ctx.json(&p)
        && let Some(schema) = f.value.get("$schema").and_then(Value::as_str)
        && !schema.contains("claude")
    {
        return;
    }
    warnings.push(Warning::at(
        WarningCode::MisplacedManifest,
        p,
        "plugin.json at the plugin root is not read by Claude Code; move it to .claude-plugin/plugin.json",
    ));
}
