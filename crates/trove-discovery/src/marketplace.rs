//! `.claude-plugin/marketplace.json`: validation of the file and of each entry's `source`.
//!
//! A file that is not a Claude marketplace (look-alikes with no `name`/`plugins`), that does not
//! parse, or whose name could act as a path is rejected with a warning; the rest of the snapshot
//! is still judged. Entries are judged one by one: a bad entry is reported and kept as an
//! unsupported candidate, never allowed to sink the marketplace.

use serde_json::{Map, Value};

use crate::ctx::Ctx;
use crate::manifest::{self, NameCheck};
use crate::model::{MarketplaceInfo, Source, Warning, WarningCode};
use crate::paths;

/// Most entries read from one marketplace.
pub const MAX_ENTRIES: usize = 5_000;

/// A marketplace file that passed validation.
#[derive(Debug)]
pub struct Marketplace {
    /// Metadata for the report.
    pub info: MarketplaceInfo,
    /// The folder holding `.claude-plugin/` (relative sources resolve from here).
    pub root: String,
    /// Entry objects, with their index in `plugins`.
    pub entries: Vec<(usize, Map<String, Value>)>,
    /// File-level warnings (JSONC, reserved name, skipped entries).
    pub warnings: Vec<Warning>,
}

/// Reads and validates a marketplace file. `Err` carries the warnings explaining the rejection.
pub fn read(ctx: &Ctx<'_>, path: &str) -> Result<Marketplace, Vec<Warning>> {
    let root = paths::parent(paths::parent(path)).to_owned();
    let parsed = ctx.json(path);
    let file = match &*parsed {
        Ok(f) => f,
        Err(w) => {
            let mut w = w.clone();
            w.message = format!("marketplace not loaded: {}", w.message);
            return Err(vec![w]);
        }
    };
    let mut warnings: Vec<Warning> = file.jsonc_warning.iter().cloned().collect();
    let reject = |mut warnings: Vec<Warning>, code: WarningCode, msg: String| {
        warnings.push(Warning::at(code, path, msg));
        Err(warnings)
    };
    let Some(obj) = file.value.as_object() else {
        return reject(
            warnings,
            WarningCode::InvalidManifest,
            "not a Claude marketplace: the file must hold an object with `name`, `owner` and `plugins`".into(),
        );
    };
    let name = match obj.get("name") {
        Some(Value::String(s)) => s.clone(),
        _ => {
            let hint = if obj.contains_key("marketplace") {
                " (fields are wrapped in `marketplace`; move them to the top level)"
            } else {
                ""
            };
            return reject(
                warnings,
                WarningCode::InvalidManifest,
                format!("not a Claude marketplace: no string `name`{hint}"),
            );
        }
    };
    match manifest::check_name(&name) {
        NameCheck::Reject(why) => {
            return reject(
                warnings,
                WarningCode::InvalidName,
                format!("marketplace refused: {why}"),
            );
        }
        NameCheck::Warn(why) => warnings.push(Warning::at(WarningCode::InvalidName, path, why)),
        NameCheck::Ok => {}
    }
    if manifest::RESERVED_MARKETPLACE_NAMES.contains(&name.as_str()) {
        warnings.push(Warning::at(
            WarningCode::ReservedName,
            path,
            format!("{name:?} is reserved for Anthropic's official marketplaces; Claude Code refuses it when served from anywhere else, so Trove must publish it under another name"),
        ));
    }
    let Some(plugins) = obj.get("plugins").and_then(Value::as_array) else {
        return reject(
            warnings,
            WarningCode::InvalidManifest,
            "not a usable marketplace: `plugins` is missing or not a list".into(),
        );
    };
    let owner = match obj.get("owner") {
        Some(Value::Object(m)) => m.clone(),
        Some(Value::String(s)) => {
            warnings.push(Warning::at(
                WarningCode::InvalidManifest,
                path,
                "`owner` should be an object with `name`",
            ));
            let mut m = Map::new();
            m.insert("name".into(), Value::String(s.clone()));
            m
        }
        _ => {
            warnings.push(Warning::at(
                WarningCode::InvalidManifest,
                path,
                "`owner` (with `name`) is required",
            ));
            Map::new()
        }
    };
    let metadata = obj.get("metadata").and_then(Value::as_object);
    let text = |key: &str| -> Option<String> {
        let v = obj.get(key).or_else(|| metadata.and_then(|m| m.get(key)))?;
        match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    };
    let plugin_root = match metadata
        .and_then(|m| m.get("pluginRoot"))
        .and_then(Value::as_str)
    {
        Some(pr) => match paths::resolve_relative(&root, pr) {
            Ok(r) => Some(r.path),
            Err(e) => {
                warnings.push(Warning::at(
                    WarningCode::PathEscape,
                    path,
                    format!("`metadata.pluginRoot` {pr:?} ignored: {}", e.describe()),
                ));
                None
            }
        },
        None => None,
    };
    if plugins.len() > MAX_ENTRIES {
        warnings.push(Warning::at(
            WarningCode::LimitReached,
            path,
            format!(
                "{} entries; only the first {MAX_ENTRIES} were read",
                plugins.len()
            ),
        ));
    }
    if plugins.is_empty() {
        warnings.push(Warning::at(
            WarningCode::Empty,
            path,
            "the marketplace lists no plugins",
        ));
    }
    let mut entries = Vec::new();
    for (i, e) in plugins.iter().enumerate().take(MAX_ENTRIES) {
        match e {
            Value::Object(m) => entries.push((i, m.clone())),
            _ => warnings.push(Warning::at(
                WarningCode::InvalidManifest,
                path,
                format!("plugins[{i}] is not an object; skipped"),
            )),
        }
    }
    Ok(Marketplace {
        info: MarketplaceInfo {
            name,
            owner,
            description: text("description"),
            path: path.to_owned(),
            version: text("version"),
            plugin_root,
        },
        root,
        entries,
        warnings,
    })
}

/// What an entry's `source` resolves to.
#[derive(Debug)]
pub enum Resolution {
    /// A folder of this snapshot (which may not exist: the caller checks).
    Local(String),
    /// Outside the snapshot; to be fetched.
    Remote(Source),
    /// Unusable; the message says why.
    Invalid(Source, String),
}

/// Resolves an entry's `source`. Warnings that do not invalidate the entry go to `warnings`.
pub fn resolve_source(
    source: Option<&Value>,
    mkt: &Marketplace,
    warnings: &mut Vec<Warning>,
) -> Resolution {
    let Some(source) = source else {
        return Resolution::Invalid(
            Source::Unknown { raw: Value::Null },
            "the entry has no `source`".into(),
        );
    };
    match source {
        Value::String(s) => resolve_string(s, mkt, warnings),
        Value::Object(o) => resolve_object(o, source),
        other => Resolution::Invalid(
            Source::Unknown { raw: other.clone() },
            "`source` must be a string or an object".into(),
        ),
    }
}

fn resolve_string(s: &str, mkt: &Marketplace, warnings: &mut Vec<Warning>) -> Resolution {
    let unknown = || Source::Unknown {
        raw: Value::String(s.to_owned()),
    };
    if s.contains("://") || s.starts_with("github:") || s.starts_with("git@") {
        return Resolution::Invalid(
            unknown(),
            format!(
                "string source {s:?} looks like a remote reference; use an object such as {{\"source\": \"github\", \"repo\": \"owner/repo\"}}"
            ),
        );
    }
    let bare = !s.starts_with("./") && s != "." && !s.contains('/');
    if bare {
        // A bare name resolves under `metadata.pluginRoot` (newer clients only).
        return match &mkt.info.plugin_root {
            Some(pr) => match paths::resolve_relative(pr, s) {
                Ok(r) => Resolution::Local(r.path),
                Err(e) => Resolution::Invalid(unknown(), format!("source {s:?}: {}", e.describe())),
            },
            None => Resolution::Invalid(
                unknown(),
                format!(
                    "relative source {s:?} must start with `./` (a bare name needs `metadata.pluginRoot`)"
                ),
            ),
        };
    }
    match paths::resolve_relative(&mkt.root, s) {
        Ok(r) => {
            if s == "." {
                warnings.push(Warning::at(
                    WarningCode::PathStyle,
                    mkt.info.path.clone(),
                    "source \".\" was refused by older clients; write \"./\"",
                ));
            }
            if !r.dot_prefixed {
                return Resolution::Invalid(
                    unknown(),
                    format!("relative source {s:?} must start with `./`"),
                );
            }
            Resolution::Local(r.path)
        }
        Err(e) => Resolution::Invalid(unknown(), format!("source {s:?} refused: {}", e.describe())),
    }
}

fn opt_str(o: &Map<String, Value>, key: &str) -> Option<String> {
    o.get(key).and_then(Value::as_str).map(str::to_owned)
}

fn resolve_object(o: &Map<String, Value>, raw: &Value) -> Resolution {
    let unknown = || Source::Unknown { raw: raw.clone() };
    let kind = o.get("source").and_then(Value::as_str).unwrap_or("");
    let git_ref = opt_str(o, "ref");
    let sha = opt_str(o, "sha");
    if let Some(sha) = &sha
        && !(sha.len() == 40 && sha.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        return Resolution::Invalid(
            unknown(),
            format!("`sha` {sha:?} is not a full 40-character commit hash"),
        );
    }
    let need = |key: &str| -> Result<String, Resolution> {
        match opt_str(o, key) {
            Some(v) if !v.trim().is_empty() => Ok(v),
            _ => Err(Resolution::Invalid(
                unknown(),
                format!("`{kind}` source needs `{key}`"),
            )),
        }
    };
    let res = match kind {
        "github" => need("repo").and_then(|repo| {
            let parts: Vec<&str> = repo.split('/').collect();
            let ok = parts.len() == 2
                && parts.iter().all(|p| {
                    !p.is_empty() && *p != "." && *p != ".." && p.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
                });
            if ok {
                Ok(Source::Github { repo, git_ref, sha })
            } else {
                Err(Resolution::Invalid(unknown(), format!("`repo` {repo:?} is not `owner/repo`")))
            }
        }),
        "url" => need("url").map(|url| Source::Url {
            url,
            git_ref,
            sha,
            path: opt_str(o, "path"),
        }),
        "git-subdir" => need("url").and_then(|url| {
            need("path").and_then(|p| match paths::resolve_relative("", &p) {
                Ok(r) => Ok(Source::GitSubdir {
                    url,
                    path: r.path,
                    git_ref,
                    sha,
                }),
                Err(e) => Err(Resolution::Invalid(unknown(), format!("`path` {p:?}: {}", e.describe()))),
            })
        }),
        "npm" => need("package").map(|package| Source::Npm {
            package,
            version: opt_str(o, "version"),
            registry: opt_str(o, "registry"),
        }),
        "archive" => need("url").and_then(|url| {
            if url.starts_with("https://") {
                Ok(Source::Archive {
                    url,
                    sha256: opt_str(o, "sha256"),
                })
            } else {
                Err(Resolution::Invalid(unknown(), "`archive` sources must use an https:// URL".into()))
            }
        }),
        "command" => Err(Resolution::Invalid(
            unknown(),
            "`command` sources run a local command on the user's machine; a registry cannot use them".into(),
        )),
        "pip" => Err(Resolution::Invalid(
            unknown(),
            "`pip` sources were documented briefly and dropped; Claude Code does not support them".into(),
        )),
        other => Err(Resolution::Invalid(
            unknown(),
            format!("unknown source type {other:?} (expected github, url, git-subdir, npm or archive)"),
        )),
    };
    match res {
        Ok(s) => Resolution::Remote(s),
        Err(r) => r,
    }
}
