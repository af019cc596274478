//! The top-level judgment: marketplace, plugin(s), skills only, or unsupported.
//!
//! Order of precedence: any `.claude-plugin/marketplace.json` (root first, nested ones after) makes
//! a marketplace; otherwise `.claude-plugin/plugin.json` manifests make one or several plugins;
//! otherwise a root folder laid out as a plugin (commands, agents or hooks) is one plugin without
//! a manifest; otherwise `SKILL.md` folders make a skills collection offered as one plugin, not
//! preselected; otherwise nothing is supported and the warning says what to add.

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::Value;

use crate::components::Warn;
use crate::ctx::Ctx;
use crate::index::TreeIndex;
use crate::marketplace::{self, Marketplace, Resolution};
use crate::model::{
    Classification, Components, Discovery, Metadata, PluginCandidate, Source, Warning, WarningCode,
};
use crate::paths;
use crate::plugin::{self, LocalSpec};
use crate::reuse::Reuse;
use crate::snapshot::Snapshot;

const MARKETPLACE_FILE: &str = ".claude-plugin/marketplace.json";
const PLUGIN_FILE: &str = ".claude-plugin/plugin.json";

/// Classifies a snapshot and lists its candidate plugins.
pub fn discover(snapshot: &dyn Snapshot) -> Discovery {
    discover_with(snapshot, None)
}

/// [`discover`], building plugin folders through `reuse` when given.
pub(crate) fn discover_with(snapshot: &dyn Snapshot, reuse: Option<&Reuse<'_>>) -> Discovery {
    let index = TreeIndex::new(snapshot.entries());
    let ctx = Ctx::new(snapshot, &index, reuse);
    let mut warnings = index.warnings.clone();
    if snapshot.truncated() || index.truncated {
        warnings.push(Warning::general(
            WarningCode::Truncated,
            "the file listing is incomplete; discovery may have missed plugins or components",
        ));
    }
    tree_warnings(&index, &mut warnings);

    let marketplaces = find(&index, MARKETPLACE_FILE);
    let manifests = find(&index, PLUGIN_FILE);

    if !marketplaces.is_empty() {
        let (info, plugins) = from_marketplaces(&ctx, &marketplaces, &manifests, &mut warnings);
        return Discovery {
            classification: Classification::Marketplace,
            marketplace: info,
            plugins,
            warnings,
        };
    }
    if !manifests.is_empty() {
        let plugins: Vec<Arc<PluginCandidate>> = manifests
            .iter()
            .map(|m| {
                plugin::build_local(
                    &ctx,
                    LocalSpec {
                        key: format!("manifest:{m}"),
                        entry_name: None,
                        root: paths::parent(paths::parent(m)).to_owned(),
                        entry: None,
                        marketplace: None,
                        strict: true,
                        selectable: true,
                        warnings: Vec::new(),
                        fatal: false,
                    },
                )
            })
            .collect();
        let classification = if plugins.len() == 1 {
            Classification::Plugin
        } else {
            Classification::MultiPlugin
        };
        return Discovery {
            classification,
            marketplace: None,
            plugins,
            warnings,
        };
    }
    if is_plugin_folder(&index) {
        let pre = vec![Warning::general(
            WarningCode::Hint,
            "no .claude-plugin/plugin.json: the folder is laid out as a plugin, so it is offered but not preselected. Add .claude-plugin/plugin.json with a `name` to make it a plugin Claude Code can install from a marketplace.",
        )];
        let p = plugin::build_local(
            &ctx,
            LocalSpec {
                key: "folder:".into(),
                entry_name: None,
                root: String::new(),
                entry: None,
                marketplace: None,
                strict: true,
                selectable: false,
                warnings: pre,
                fatal: false,
            },
        );
        return Discovery {
            classification: Classification::Plugin,
            marketplace: None,
            plugins: vec![p],
            warnings,
        };
    }
    if let Some(p) = skills_collection(&ctx) {
        return Discovery {
            classification: Classification::SkillsOnly,
            marketplace: None,
            plugins: vec![Arc::new(p)],
            warnings,
        };
    }
    warnings.push(Warning::general(
        WarningCode::Hint,
        "nothing Claude Code can load was found. Add .claude-plugin/plugin.json (one plugin, with skills/<name>/SKILL.md, commands/, agents/, hooks/hooks.json or .mcp.json beside it) or .claude-plugin/marketplace.json (several plugins).",
    ));
    Discovery {
        classification: Classification::Unsupported,
        marketplace: None,
        plugins: Vec::new(),
        warnings,
    }
}

/// Every file named `<dir>/.claude-plugin/<file>` outside dependency folders, shallowest first.
fn find<'a>(index: &TreeIndex<'a>, suffix: &str) -> Vec<&'a str> {
    let slash_suffix = format!("/{suffix}");
    let mut out: Vec<&'a str> = index
        .all_files()
        .iter()
        .copied()
        .filter(|f| *f == suffix || f.ends_with(&slash_suffix))
        .filter(|f| !f.split('/').any(|s| s == "node_modules"))
        .collect();
    out.sort_by_key(|f| (f.matches('/').count(), *f));
    out
}

fn from_marketplaces(
    ctx: &Ctx<'_>,
    files: &[&str],
    manifests: &[&str],
    warnings: &mut Vec<Warning>,
) -> (
    Option<crate::model::MarketplaceInfo>,
    Vec<Arc<PluginCandidate>>,
) {
    let mut accepted: Vec<Marketplace> = Vec::new();
    for f in files {
        match marketplace::read(ctx, f) {
            Ok(m) => accepted.push(m),
            Err(ws) => warnings.extend(ws),
        }
    }
    let mut plugins = Vec::new();
    let mut claimed: HashSet<String> = HashSet::new();
    for (mi, m) in accepted.iter().enumerate() {
        warnings.extend(m.warnings.iter().cloned());
        if mi > 0 {
            warnings.push(Warning::at(
                WarningCode::Note,
                m.info.path.clone(),
                format!(
                    "another marketplace {:?} is nested here; its plugins are listed too, not preselected",
                    m.info.name
                ),
            ));
        }
        let mut this_roots = Vec::new();
        let mut names: HashSet<String> = HashSet::new();
        for (i, entry) in &m.entries {
            let mut w = Vec::new();
            let mut fatal = false;
            let (name, key) = match entry.get("name").and_then(Value::as_str) {
                Some(n) => {
                    fatal |= plugin::check_plugin_name(n, &m.info.path, &mut w);
                    if names.insert(n.to_owned()) {
                        (n.to_owned(), format!("{}#{n}", m.info.path))
                    } else {
                        fatal = true;
                        w.push(Warning::at(
                            WarningCode::DuplicateName,
                            m.info.path.clone(),
                            format!("duplicate plugin name {n:?} in the marketplace (entry {i}); Claude Code's validation fails on it"),
                        ));
                        (n.to_owned(), format!("{}#{n}[{i}]", m.info.path))
                    }
                }
                None => {
                    fatal = true;
                    w.push(Warning::at(
                        WarningCode::InvalidManifest,
                        m.info.path.clone(),
                        format!("plugins[{i}] has no string `name`"),
                    ));
                    (format!("plugins[{i}]"), format!("{}#[{i}]", m.info.path))
                }
            };
            let strict = match entry.get("strict") {
                None | Some(Value::Null) => true,
                Some(Value::Bool(b)) => *b,
                Some(_) => {
                    w.push(Warning::at(
                        WarningCode::InvalidManifest,
                        m.info.path.clone(),
                        "`strict` must be true or false; treated as true",
                    ));
                    true
                }
            };
            let selectable = mi == 0;
            let candidate = match marketplace::resolve_source(entry.get("source"), m, &mut w) {
                Resolution::Local(root) => {
                    if mi > 0 && claimed.contains(&root) {
                        warnings.push(Warning::at(
                            WarningCode::Note,
                            m.info.path.clone(),
                            format!("entry {name:?} points at {root:?}, already listed from another marketplace; skipped"),
                        ));
                        continue;
                    }
                    this_roots.push(root.clone());
                    if !ctx.index.has_files_under(&root) {
                        w.push(not_found(ctx, m, entry.get("source"), &root));
                        plugin::build_without_files(
                            key,
                            name,
                            Some(root.clone()),
                            Source::Local { path: root },
                            entry,
                            m,
                            strict,
                            false,
                            false,
                            w,
                        )
                    } else {
                        plugin::build_local(
                            ctx,
                            LocalSpec {
                                key,
                                entry_name: Some(name),
                                root,
                                entry: Some(entry),
                                marketplace: Some(m),
                                strict,
                                selectable,
                                warnings: w,
                                fatal,
                            },
                        )
                    }
                }
                Resolution::Remote(source) => plugin::build_without_files(
                    key, name, None, source, entry, m, strict, !fatal, selectable, w,
                ),
                Resolution::Invalid(source, why) => {
                    w.push(Warning::at(
                        WarningCode::UnsupportedSource,
                        m.info.path.clone(),
                        why,
                    ));
                    plugin::build_without_files(
                        key, name, None, source, entry, m, strict, false, false, w,
                    )
                }
            };
            plugins.push(candidate);
        }
        claimed.extend(this_roots);
    }
    for mf in manifests {
        let root = paths::parent(paths::parent(mf));
        if !claimed.contains(root) {
            warnings.push(Warning::at(
                WarningCode::Unreferenced,
                (*mf).to_owned(),
                "this plugin is not listed in the marketplace, so Claude Code does not offer it; add an entry for it",
            ));
        }
    }
    (accepted.first().map(|m| m.info.clone()), plugins)
}

fn not_found(ctx: &Ctx<'_>, m: &Marketplace, source: Option<&Value>, root: &str) -> Warning {
    let mut msg = format!("plugin directory not found at {root:?}");
    if let (Some(pr), Some(Value::String(s))) = (&m.info.plugin_root, source)
        && let Ok(r) = paths::resolve_relative(pr, s)
        && ctx.index.has_files_under(&r.path)
    {
        msg.push_str(&format!(
            "; {:?} exists under metadata.pluginRoot, but `./` sources are resolved from the marketplace root",
            r.path
        ));
    }
    Warning::at(WarningCode::PluginDirNotFound, m.info.path.clone(), msg)
}

/// A root folder with plugin component folders (not only skills: a bare `skills/` folder is a
/// skills collection).
fn is_plugin_folder(index: &TreeIndex<'_>) -> bool {
    let has_md = |dir: &str| index.files_under(dir).iter().any(|f| f.ends_with(".md"));
    has_md("commands") || has_md("agents") || index.is_file("hooks/hooks.json")
}

/// Every folder holding `SKILL.md` (outermost only), as one candidate plugin.
fn skills_collection(ctx: &Ctx<'_>) -> Option<PluginCandidate> {
    let mut all: Vec<&str> = ctx
        .index
        .all_files()
        .iter()
        .filter(|f| paths::file_name(f) == "SKILL.md" && !f.split('/').any(|s| s == "node_modules"))
        .map(|f| paths::parent(f))
        .collect();
    all.sort_unstable();
    all.dedup();
    // Keep outermost skill folders only: a SKILL.md inside another skill's folder is one of
    // that skill's files. Ancestors sort before descendants, so one pass suffices.
    let mut kept: HashSet<&str> = HashSet::new();
    let mut folders: Vec<&str> = Vec::new();
    for folder in all {
        let nested = kept.contains("")
            || std::iter::successors(Some(folder), |p| {
                let parent = paths::parent(p);
                (parent != *p && !parent.is_empty()).then_some(parent)
            })
            .skip(1)
            .any(|a| kept.contains(a));
        if !nested {
            kept.insert(folder);
            folders.push(folder);
        }
    }
    if folders.is_empty() {
        return None;
    }
    let mut w = Warn::default();
    let root_name = ctx.snap.root_name().unwrap_or("skills").to_owned();
    let skills: Vec<_> = folders
        .iter()
        .map(|folder| {
            let name = if folder.is_empty() {
                root_name.clone()
            } else {
                paths::file_name(folder).to_owned()
            };
            crate::components::skill_item(ctx, folder, name, &mut w)
        })
        .collect();
    let standard = folders
        .iter()
        .filter(|f| paths::parent(f) == "skills")
        .count();
    let mut warnings = vec![Warning::general(
        WarningCode::Hint,
        format!(
            "no plugin manifest: {} skill folder{} found, {standard} of them at skills/<name>/SKILL.md where Claude Code's plugin scan looks. Trove offers them as one plugin, not preselected; add .claude-plugin/plugin.json to make this a plugin.",
            folders.len(),
            if folders.len() == 1 { "" } else { "s" },
        ),
    )];
    w.finish(&mut warnings);
    Some(PluginCandidate {
        key: "skills:".into(),
        name: root_name,
        root: Some(String::new()),
        source: Source::Local {
            path: String::new(),
        },
        strict: true,
        supported: true,
        selected_by_default: false,
        components: Components {
            skills,
            ..Components::default()
        },
        warnings,
        metadata: Metadata::default(),
        manifest_path: None,
        marketplace_path: None,
        needs_fetch: false,
    })
}

/// Repository-level notes about entries discovery does not follow.
fn tree_warnings(index: &TreeIndex<'_>, warnings: &mut Vec<Warning>) {
    let mut escaping = Vec::new();
    let mut inside = 0usize;
    for e in index.symlinks_under("") {
        let target = e.link_target.as_deref().unwrap_or("");
        let base = paths::parent(&e.path);
        let leaves = target.is_empty()
            || target.starts_with('/')
            || target.contains('\\')
            || !stays_inside(base, target);
        if leaves {
            escaping.push(format!("{} -> {}", e.path, target.escape_debug()));
        } else {
            inside += 1;
        }
    }
    if !escaping.is_empty() {
        warnings.push(Warning::general(
            WarningCode::Symlink,
            format!(
                "{} symlink{} point{} outside the repository and {} ignored: {}",
                escaping.len(),
                if escaping.len() == 1 { "" } else { "s" },
                if escaping.len() == 1 { "s" } else { "" },
                if escaping.len() == 1 { "is" } else { "are" },
                escaping
                    .iter()
                    .take(5)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    if inside > 0 {
        warnings.push(Warning::general(
            WarningCode::Symlink,
            format!(
                "{inside} symlink{} inside the repository not followed",
                if inside == 1 { "" } else { "s" }
            ),
        ));
    }
    let subs = index.submodules();
    if !subs.is_empty() {
        warnings.push(Warning::general(
            WarningCode::Submodule,
            format!(
                "{} submodule{} not included (their content lives in other repositories): {}",
                subs.len(),
                if subs.len() == 1 { "" } else { "s" },
                subs.iter().take(5).copied().collect::<Vec<_>>().join(", ")
            ),
        ));
    }
}

/// Whether a relative link target, read from folder `base`, stays inside the snapshot.
fn stays_inside(base: &str, target: &str) -> bool {
    let mut depth = base.split('/').filter(|s| !s.is_empty()).count() as isize;
    for seg in target.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            _ => depth += 1,
        }
    }
    true
}
