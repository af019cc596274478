//! The human-readable summary printed by `trove discover` without `--json`.

use std::fmt::Write;

use crate::model::{Discovery, PluginCandidate, Source, Warning};

/// Renders a discovery as plain text: classification, marketplace, each plugin with its
/// component counts and warnings, then repository warnings.
pub fn render_summary(d: &Discovery) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "classification: {}", d.classification.as_str());
    if let Some(m) = &d.marketplace {
        let _ = write!(out, "marketplace: {} ({})", m.name, m.path);
        if let Some(v) = &m.version {
            let _ = write!(out, " v{v}");
        }
        out.push('\n');
        if let Some(desc) = &m.description {
            let _ = writeln!(out, "  {}", one_line(desc));
        }
    }
    let supported = d.plugins.iter().filter(|p| p.supported).count();
    let selected = d.plugins.iter().filter(|p| p.selected_by_default).count();
    let _ = writeln!(
        out,
        "plugins: {} ({supported} supported, {selected} preselected)",
        d.plugins.len()
    );
    for p in &d.plugins {
        plugin_block(&mut out, p);
    }
    if !d.warnings.is_empty() {
        let _ = writeln!(out, "warnings ({}):", d.warnings.len());
        for w in &d.warnings {
            let _ = writeln!(out, "  - {}", warning_line(w));
        }
    }
    out
}

fn plugin_block(out: &mut String, p: &PluginCandidate) {
    let mark = match (p.supported, p.selected_by_default) {
        (true, true) => "[x]",
        (true, false) => "[ ]",
        (false, _) => "[!]",
    };
    let where_ = match (&p.source, &p.root) {
        (Source::Local { .. }, Some(r)) if r.is_empty() => "./ (repository root)".to_owned(),
        (Source::Local { .. }, Some(r)) => format!("./{r}"),
        (s, _) => remote_label(s),
    };
    let _ = write!(out, "  {mark} {}  {}", one_line(&p.name), one_line(&where_));
    if let Some(v) = &p.metadata.version {
        let _ = write!(out, "  v{v}");
    }
    if !p.strict {
        out.push_str("  strict:false");
    }
    out.push('\n');
    let c = &p.components;
    if p.needs_fetch {
        let _ = writeln!(out, "      components: unknown until fetched");
    } else {
        let _ = writeln!(
            out,
            "      skills {}  commands {}  agents {}  hooks {}  mcp {}  lsp {}  output-styles {}",
            c.skills.len(),
            c.commands.len(),
            c.agents.len(),
            c.hooks.len(),
            c.mcp_servers.len(),
            c.lsp_servers.len(),
            c.output_styles.len()
        );
    }
    for w in &p.warnings {
        let _ = writeln!(out, "      ! {}", warning_line(w));
    }
}

fn remote_label(s: &Source) -> String {
    match s {
        Source::Github { repo, git_ref, sha } => {
            let pin = sha.as_ref().or(git_ref.as_ref());
            format!(
                "github:{repo}{}",
                pin.map(|p| format!("@{p}")).unwrap_or_default()
            )
        }
        Source::Url { url, .. } => format!("git:{url}"),
        Source::GitSubdir { url, path, .. } => format!("git:{url}//{path}"),
        Source::Npm {
            package, version, ..
        } => {
            format!(
                "npm:{package}{}",
                version
                    .as_ref()
                    .map(|v| format!("@{v}"))
                    .unwrap_or_default()
            )
        }
        Source::Archive { url, .. } => format!("archive:{url}"),
        Source::Unknown { .. } => "unknown source".into(),
        Source::Local { path } => format!("./{path}"),
    }
}

fn warning_line(w: &Warning) -> String {
    let mut s = String::new();
    if let Some(p) = &w.path {
        s.push_str(p);
        if let (Some(l), Some(c)) = (w.line, w.column) {
            let _ = write!(s, ":{l}:{c}");
        }
        s.push_str(": ");
    }
    s.push_str(&one_line(&w.message));
    s
}

/// Names and messages come from untrusted files: keep each on one line without control
/// characters so they cannot forge extra output lines or terminal escapes.
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}
