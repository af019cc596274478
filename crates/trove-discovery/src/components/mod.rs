//! Components of one plugin folder, by the format's rules.
//!
//! * skills: direct children of `skills/` with `SKILL.md`, plus folders named by `skills` (a folder
//!   that is a skill, or that holds skill folders). Declared paths **add** to the default scan,
//!   except for an entry whose source is the marketplace root, where specific folders **replace**
//!   it (unless `./skills/` or the root is listed, or none of the paths exist). A root `SKILL.md`
//!   is a single-skill plugin when there is no `skills/` folder and no `skills` field.
//! * commands, agents, output styles: `.md` files below the default folder, recursively; a
//!   declared field **replaces** the default (an empty list included).
//! * hooks, MCP and LSP servers: the default file plus whatever is declared (merged).
//!
//! Everything is deduplicated by path. Missing or escaping paths become warnings.

mod config;
mod markdown;

use std::collections::HashSet;

use crate::ctx::Ctx;
use crate::manifest::{ComponentSpecs, Declared, SpecItem};
use crate::model::{Components, Warning, WarningCode};
use crate::paths;

pub use config::{HOOK_EVENTS, ServerKind, hooks_from_value, servers_from_value};
pub(crate) use markdown::skill as skill_item;

/// Where a plugin's files are and what its manifests declare.
#[derive(Debug)]
pub struct Layout<'s> {
    /// Plugin folder (`""` = snapshot root).
    pub root: &'s str,
    /// Declared component fields (already merged per `strict`).
    pub specs: &'s ComponentSpecs,
    /// The entry's source is the marketplace root: listed skills replace the default scan.
    pub source_is_marketplace_root: bool,
    /// The marketplace root, when it differs from the plugin root: declared paths that only
    /// exist from there are reported as the likely author mistake they are.
    pub marketplace_root: Option<&'s str>,
    /// Name for a root `SKILL.md` without frontmatter name: the plugin folder's name.
    pub dir_name: &'s str,
}

/// Collects every component of a plugin.
pub fn collect(ctx: &Ctx<'_>, layout: &Layout<'_>, warnings: &mut Vec<Warning>) -> Components {
    let mut w = Warn::default();
    let components = Components {
        skills: markdown::skills(ctx, layout, &mut w),
        commands: markdown::commands(ctx, layout, &mut w),
        agents: markdown::agents(ctx, layout, &mut w),
        hooks: config::hooks(ctx, layout, &mut w),
        mcp_servers: config::servers(ctx, layout, ServerKind::Mcp, &mut w),
        lsp_servers: config::servers(ctx, layout, ServerKind::Lsp, &mut w),
        output_styles: markdown::output_styles(ctx, layout, &mut w),
    };
    w.finish(warnings);
    components
}

/// Warning collector that groups "path written relative to the marketplace root" per field, so a
/// manifest with fifty such paths yields one readable warning per field.
#[derive(Default)]
pub(crate) struct Warn {
    list: Vec<Warning>,
    seen: HashSet<(WarningCode, Option<String>, String)>,
    root_relative: Vec<(String, Vec<String>)>,
}

impl Warn {
    pub(crate) fn push(&mut self, w: Warning) {
        // The same file can be reached twice (a declared path that is also a default); report once.
        if self
            .seen
            .insert((w.code, w.path.clone(), w.message.clone()))
        {
            self.list.push(w);
        }
    }

    fn root_relative(&mut self, field: &str, raw: &str) {
        match self.root_relative.iter_mut().find(|(f, _)| f == field) {
            Some((_, v)) => v.push(raw.to_owned()),
            None => self
                .root_relative
                .push((field.to_owned(), vec![raw.to_owned()])),
        }
    }

    pub(crate) fn finish(self, out: &mut Vec<Warning>) {
        out.extend(self.list);
        for (field, raws) in self.root_relative {
            let shown: Vec<&str> = raws.iter().take(5).map(String::as_str).collect();
            out.push(Warning::general(
                WarningCode::PathRelativeToMarketplaceRoot,
                format!(
                    "{} `{field}` path{} ({}{}) {} not exist in the plugin folder but {} relative to the marketplace root; Claude Code resolves these paths from the plugin folder, so they are not loaded (a lenient reading would load them). Write them relative to the plugin folder.",
                    raws.len(),
                    if raws.len() == 1 { "" } else { "s" },
                    shown.join(", "),
                    if raws.len() > shown.len() { ", ..." } else { "" },
                    if raws.len() == 1 { "does" } else { "do" },
                    if raws.len() == 1 { "exists" } else { "exist" },
                ),
            ));
        }
    }
}

/// Resolves one declared path against the plugin root; reports escapes and style problems.
pub(crate) fn resolve_declared(
    layout: &Layout<'_>,
    d: &Declared,
    raw: &str,
    field: &str,
    w: &mut Warn,
) -> Option<String> {
    match paths::resolve_relative(layout.root, raw) {
        Err(e) => {
            w.push(Warning::at(
                WarningCode::PathEscape,
                d.origin.clone(),
                format!("`{field}` path {raw:?} ignored: {}", e.describe()),
            ));
            None
        }
        Ok(r) => {
            if !r.dot_prefixed {
                w.push(Warning::at(
                    WarningCode::PathStyle,
                    d.origin.clone(),
                    format!("`{field}` path {raw:?} should start with `./`"),
                ));
            }
            Some(r.path)
        }
    }
}

/// Reports a declared path that does not exist, noticing when it would exist from the
/// marketplace root instead.
pub(crate) fn report_missing(
    ctx: &Ctx<'_>,
    layout: &Layout<'_>,
    d: &Declared,
    raw: &str,
    field: &str,
    w: &mut Warn,
) {
    if let Some(base) = layout.marketplace_root
        && base != layout.root
        && let Ok(r) = paths::resolve_relative(base, raw)
        && (ctx.index.is_file(&r.path) || ctx.index.is_dir(&r.path))
    {
        w.root_relative(field, raw);
        return;
    }
    if ctx
        .index
        .symlink_at(
            &paths::resolve_relative(layout.root, raw)
                .map(|r| r.path)
                .unwrap_or_default(),
        )
        .is_some()
    {
        w.push(Warning::at(
            WarningCode::Symlink,
            d.origin.clone(),
            format!("`{field}` path {raw:?} is a symlink; symlinks are not followed"),
        ));
        return;
    }
    w.push(Warning::at(
        WarningCode::MissingPath,
        d.origin.clone(),
        format!("`{field}` path {raw:?} does not exist in the plugin folder"),
    ));
}

/// Iterates the path items of a declared field, reporting inline objects where they are not
/// allowed.
pub(crate) fn declared_paths<'d>(
    items: &'d [Declared],
    field: &str,
    w: &mut Warn,
) -> Vec<(&'d Declared, &'d str)> {
    let mut out = Vec::new();
    for d in items {
        match &d.item {
            SpecItem::Path(p) => out.push((d, p.as_str())),
            SpecItem::Inline(_) => w.push(Warning::at(
                WarningCode::InvalidManifest,
                d.origin.clone(),
                format!("`{field}` does not accept inline objects here"),
            )),
        }
    }
    out
}
