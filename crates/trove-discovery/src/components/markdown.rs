//! Markdown components: skills (folders with `SKILL.md`), commands, agents and output styles.

use std::collections::HashSet;

use super::{Layout, Warn, declared_paths, report_missing, resolve_declared};
use crate::ctx::{Ctx, DocInfo};
use crate::frontmatter::{self, MAX_DESCRIPTION_CHARS, MAX_TITLE_CHARS, str_field};
use crate::manifest::SpecItem;
use crate::model::{FrontmatterStatus, MarkdownComponent, Skill, Warning, WarningCode};
use crate::paths;

/// Most files listed for one skill folder.
const MAX_SKILL_FILES: usize = 5_000;
/// Most components of one kind in one plugin.
const MAX_PER_KIND: usize = 10_000;

pub(super) fn skills(ctx: &Ctx<'_>, layout: &Layout<'_>, w: &mut Warn) -> Vec<Skill> {
    let idx = ctx.index;
    let default_dir = paths::join(layout.root, "skills");
    let mut declared_folders: Vec<String> = Vec::new();
    let mut any_exists = false;
    let mut keeps_full_scan = false;
    if let Some(items) = &layout.specs.skills {
        for (d, raw) in declared_paths(items, "skills", w) {
            let Some(p) = resolve_declared(layout, d, raw, "skills", w) else {
                continue;
            };
            if p == layout.root || p == default_dir {
                keeps_full_scan = true;
            }
            if idx.is_file(&paths::join(&p, "SKILL.md")) {
                any_exists = true;
                declared_folders.push(p);
            } else if idx.is_dir(&p) {
                any_exists = true;
                for child in idx.child_dirs(&p) {
                    let folder = paths::join(&p, child);
                    if idx.is_file(&paths::join(&folder, "SKILL.md")) {
                        declared_folders.push(folder);
                    }
                }
            } else if idx.is_file(&p) {
                any_exists = true;
                w.push(Warning::at(
                    WarningCode::InvalidManifest,
                    d.origin.clone(),
                    format!("`skills` path {raw:?} names a file; skills paths name folders"),
                ));
            } else {
                report_missing(ctx, layout, d, raw, "skills", w);
            }
        }
    }
    // For an entry whose source is the marketplace root, specific folders replace the default
    // scan; this is what cuts one `skills/` folder into several plugins.
    let replace = layout.source_is_marketplace_root && any_exists && !keeps_full_scan;
    let mut folders: Vec<String> = Vec::new();
    if !replace {
        for child in idx.child_dirs(&default_dir) {
            let folder = paths::join(&default_dir, child);
            if idx.is_file(&paths::join(&folder, "SKILL.md")) {
                folders.push(folder);
            }
        }
    }
    folders.extend(declared_folders);
    let root_skill = layout.specs.skills.is_none()
        && !idx.has_files_under(&default_dir)
        && idx.is_file(&paths::join(layout.root, "SKILL.md"));
    if root_skill {
        folders.push(layout.root.to_owned());
    }
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for folder in folders {
        if !seen.insert(folder.clone()) {
            continue;
        }
        if out.len() >= MAX_PER_KIND {
            w.push(limit_warning("skills"));
            break;
        }
        let name = if folder == layout.root {
            layout.dir_name.to_owned()
        } else {
            paths::file_name(&folder).to_owned()
        };
        out.push(skill(ctx, &folder, name, w));
    }
    out
}

/// Builds one skill item; `folder` holds `SKILL.md`.
pub(crate) fn skill(ctx: &Ctx<'_>, folder: &str, name: String, w: &mut Warn) -> Skill {
    let path = paths::join(folder, "SKILL.md");
    let doc = ctx.doc(&path);
    doc_warnings(&doc, &path, w);
    let fm_name = str_field(&doc.fields, "name");
    if let Some(n) = &fm_name
        && *n != name
    {
        w.push(Warning::at(
            WarningCode::NameMismatch,
            path.clone(),
            format!("frontmatter name {n:?} differs from the folder name {name:?}; the folder name is the skill's identity"),
        ));
    }
    let mut files: Vec<String> = Vec::new();
    for f in ctx.index.files_under(folder) {
        let rel = paths::strip_dir(f, folder).unwrap_or(f);
        // A root skill's folder is the plugin root: its manifest folder is not skill content.
        if rel.starts_with(".claude-plugin/") {
            continue;
        }
        if files.len() >= MAX_SKILL_FILES {
            w.push(Warning::at(
                WarningCode::LimitReached,
                path.clone(),
                format!(
                    "skill folder has more than {MAX_SKILL_FILES} files; the rest are not listed"
                ),
            ));
            break;
        }
        files.push((*f).to_owned());
    }
    let links: Vec<String> = ctx
        .index
        .symlinks_under(folder)
        .map(|e| e.path.clone())
        .collect();
    if !links.is_empty() {
        w.push(Warning::at(
            WarningCode::Symlink,
            path.clone(),
            format!(
                "{} symlink{} in the skill folder not followed: {}",
                links.len(),
                if links.len() == 1 { "" } else { "s" },
                links.iter().take(5).cloned().collect::<Vec<_>>().join(", ")
            ),
        ));
    }
    Skill {
        title: frontmatter::clamp(fm_name.as_deref().unwrap_or(&name), MAX_TITLE_CHARS),
        description: description(&doc),
        name,
        path,
        folder: folder.to_owned(),
        files,
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum MdKind {
    Command,
    Agent,
    OutputStyle,
}

impl MdKind {
    fn field(self) -> &'static str {
        match self {
            MdKind::Command => "commands",
            MdKind::Agent => "agents",
            MdKind::OutputStyle => "outputStyles",
        }
    }
    fn default_dir(self) -> &'static str {
        match self {
            MdKind::Command => "commands",
            MdKind::Agent => "agents",
            MdKind::OutputStyle => "output-styles",
        }
    }
}

pub(super) fn commands(ctx: &Ctx<'_>, l: &Layout<'_>, w: &mut Warn) -> Vec<MarkdownComponent> {
    markdown_kind(ctx, l, MdKind::Command, l.specs.commands.as_deref(), w)
}

pub(super) fn agents(ctx: &Ctx<'_>, l: &Layout<'_>, w: &mut Warn) -> Vec<MarkdownComponent> {
    markdown_kind(ctx, l, MdKind::Agent, l.specs.agents.as_deref(), w)
}

pub(super) fn output_styles(ctx: &Ctx<'_>, l: &Layout<'_>, w: &mut Warn) -> Vec<MarkdownComponent> {
    markdown_kind(
        ctx,
        l,
        MdKind::OutputStyle,
        l.specs.output_styles.as_deref(),
        w,
    )
}

fn markdown_kind(
    ctx: &Ctx<'_>,
    layout: &Layout<'_>,
    kind: MdKind,
    declared: Option<&[crate::manifest::Declared]>,
    w: &mut Warn,
) -> Vec<MarkdownComponent> {
    let field = kind.field();
    // (path, name) pairs; inline commands are built directly.
    let mut found: Vec<(String, String)> = Vec::new();
    let mut out: Vec<MarkdownComponent> = Vec::new();
    match declared {
        // Declared: exactly what is listed, the default folder is not scanned.
        Some(items) => {
            for d in items {
                match &d.item {
                    SpecItem::Path(raw) => {
                        let Some(p) = resolve_declared(layout, d, raw, field, w) else {
                            continue;
                        };
                        if ctx.index.is_file(&p) {
                            if p.ends_with(".md") {
                                let name = stem(paths::file_name(&p));
                                found.push((p, name));
                            } else {
                                w.push(Warning::at(
                                    WarningCode::InvalidManifest,
                                    d.origin.clone(),
                                    format!("`{field}` path {raw:?} is not a Markdown file"),
                                ));
                            }
                        } else if ctx.index.is_dir(&p) {
                            scan_dir(ctx, &p, kind, &mut found);
                        } else {
                            report_missing(ctx, layout, d, raw, field, w);
                        }
                    }
                    SpecItem::Inline(map) if kind == MdKind::Command => {
                        inline_commands(ctx, layout, d, map, &mut found, &mut out, w);
                    }
                    SpecItem::Inline(_) => w.push(Warning::at(
                        WarningCode::InvalidManifest,
                        d.origin.clone(),
                        format!("`{field}` does not accept inline objects"),
                    )),
                }
            }
        }
        None => scan_dir(
            ctx,
            &paths::join(layout.root, kind.default_dir()),
            kind,
            &mut found,
        ),
    }
    let mut seen: HashSet<String> = out.iter().map(|c| c.path.clone()).collect();
    for (path, name) in found {
        if !seen.insert(path.clone()) {
            continue;
        }
        if out.len() >= MAX_PER_KIND {
            w.push(limit_warning(field));
            break;
        }
        out.push(md_item(ctx, &path, name, kind, w));
    }
    out
}

/// `.md` files below `dir`, recursively, skipping hidden names. In `commands/`, a folder with
/// `SKILL.md` is one command named after the folder, and its other files belong to it.
fn scan_dir(ctx: &Ctx<'_>, dir: &str, kind: MdKind, found: &mut Vec<(String, String)>) {
    let files = ctx.index.files_under(dir);
    let mut skill_folders: Vec<&str> = Vec::new();
    if kind == MdKind::Command {
        for f in files {
            if paths::file_name(f) == "SKILL.md" {
                let folder = paths::parent(f);
                if folder != dir {
                    skill_folders.push(folder);
                }
            }
        }
    }
    for f in files {
        let Some(rel) = paths::strip_dir(f, dir) else {
            continue;
        };
        if !rel.ends_with(".md") || rel.split('/').any(|s| s.starts_with('.')) {
            continue;
        }
        if let Some(folder) = skill_folders
            .iter()
            .find(|sf| paths::strip_dir(f, sf).is_some())
        {
            if paths::parent(f) == *folder && paths::file_name(f) == "SKILL.md" {
                let rel_folder = paths::strip_dir(folder, dir).unwrap_or(folder);
                found.push(((*f).to_owned(), rel_folder.replace('/', ":")));
            }
            continue;
        }
        found.push(((*f).to_owned(), stem(rel).replace('/', ":")));
    }
}

fn inline_commands(
    ctx: &Ctx<'_>,
    layout: &Layout<'_>,
    d: &crate::manifest::Declared,
    map: &serde_json::Map<String, serde_json::Value>,
    found: &mut Vec<(String, String)>,
    out: &mut Vec<MarkdownComponent>,
    w: &mut Warn,
) {
    for (name, cfg) in map.iter().take(MAX_PER_KIND) {
        let source = cfg.get("source").and_then(|v| v.as_str());
        let content = cfg.get("content").and_then(|v| v.as_str());
        if let Some(raw) = source {
            let Some(p) = resolve_declared(layout, d, raw, "commands", w) else {
                continue;
            };
            if ctx.index.is_file(&p) {
                found.push((p, name.clone()));
            } else {
                report_missing(ctx, layout, d, raw, "commands", w);
            }
        } else if let Some(content) = content {
            let doc = frontmatter::parse_document(content);
            let desc = cfg
                .get("description")
                .and_then(|v| v.as_str())
                .map(str::to_owned)
                .or_else(|| str_field(&doc.fields, "description"))
                .or_else(|| frontmatter::first_body_line(doc.body));
            out.push(MarkdownComponent {
                name: name.clone(),
                path: d.origin.clone(),
                title: frontmatter::clamp(name, MAX_TITLE_CHARS),
                description: desc.map(|s| frontmatter::clamp(&s, MAX_DESCRIPTION_CHARS)),
                frontmatter: FrontmatterStatus::Inline,
            });
        } else {
            w.push(Warning::at(
                WarningCode::InvalidManifest,
                d.origin.clone(),
                format!("inline command {name:?} has neither `source` nor `content`"),
            ));
        }
    }
}

fn md_item(
    ctx: &Ctx<'_>,
    path: &str,
    name: String,
    kind: MdKind,
    w: &mut Warn,
) -> MarkdownComponent {
    let doc = ctx.doc(path);
    doc_warnings(&doc, path, w);
    // Commands have no `name` field: the file name is the command.
    let title = match kind {
        MdKind::Command => name.clone(),
        MdKind::Agent | MdKind::OutputStyle => {
            str_field(&doc.fields, "name").unwrap_or_else(|| name.clone())
        }
    };
    MarkdownComponent {
        title: frontmatter::clamp(&title, MAX_TITLE_CHARS),
        description: description(&doc),
        name,
        path: path.to_owned(),
        frontmatter: doc.status,
    }
}

fn description(doc: &DocInfo) -> Option<String> {
    str_field(&doc.fields, "description")
        .or_else(|| doc.first_line.clone())
        .map(|d| frontmatter::clamp(&d, MAX_DESCRIPTION_CHARS))
}

fn doc_warnings(doc: &DocInfo, path: &str, w: &mut Warn) {
    if let Some(e) = &doc.read_error {
        w.push(e.clone());
    }
    if let Some(p) = &doc.problem {
        let (code, msg) = if doc.status == FrontmatterStatus::Lenient {
            (
                WarningCode::FrontmatterNotYaml,
                format!(
                    "frontmatter is not valid YAML ({}); read line by line, as Claude Code does",
                    p.message
                ),
            )
        } else {
            (
                WarningCode::FrontmatterTooLarge,
                format!("{}; frontmatter ignored", p.message),
            )
        };
        let mut warning = Warning::at(code, path, msg);
        warning.line = p.line;
        warning.column = p.column;
        w.push(warning);
    }
}

fn stem(name: &str) -> String {
    name.strip_suffix(".md").unwrap_or(name).to_owned()
}

fn limit_warning(field: &str) -> Warning {
    Warning::general(
        WarningCode::LimitReached,
        format!("more than {MAX_PER_KIND} {field}; the rest were skipped"),
    )
}
