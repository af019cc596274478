//! Markdown frontmatter: split, parse as YAML within budgets, fall back to line-wise reading.
//!
//! Skills, commands and agents start with a `---` block of YAML. Real files are often not valid
//! YAML (long `description:` values with `: ` and `\n` inside), yet Claude Code loads them, so a
//! YAML error never drops a component: the block is re-read line by line (`key: value`, with
//! continuation lines) and the caller records a warning. The YAML parser runs with tight budgets
//! (size, depth, nodes, aliases) because frontmatter comes from untrusted repositories.

use serde_json::{Map, Value};

use crate::model::FrontmatterStatus;

/// Largest frontmatter block parsed, in bytes.
pub const MAX_FRONTMATTER_BYTES: usize = 64 * 1024;
/// Longest title kept, in characters.
pub const MAX_TITLE_CHARS: usize = 200;
/// Longest description kept, in characters (Claude Code truncates listings at 1,536).
pub const MAX_DESCRIPTION_CHARS: usize = 1536;

/// A YAML problem with its position in the file (1-based; the frontmatter starts on line 2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlProblem {
    /// What went wrong.
    pub message: String,
    /// 1-based line in the file, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
}

/// A Markdown document split into frontmatter fields and body.
#[derive(Debug, Clone)]
pub struct Document<'t> {
    /// Frontmatter keys and values (strings only in lenient mode).
    pub fields: Map<String, Value>,
    /// The text after the frontmatter block (the whole text when there is none).
    pub body: &'t str,
    /// How the block was read.
    pub status: FrontmatterStatus,
    /// Why YAML parsing failed (lenient mode), or why the block was ignored (too large).
    pub problem: Option<YamlProblem>,
}

/// Splits and parses a Markdown document.
pub fn parse_document(text: &str) -> Document<'_> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let Some((yaml, body)) = split(text) else {
        return Document {
            fields: Map::new(),
            body: text,
            status: FrontmatterStatus::None,
            problem: None,
        };
    };
    if yaml.len() > MAX_FRONTMATTER_BYTES {
        return Document {
            fields: Map::new(),
            body,
            status: FrontmatterStatus::None,
            problem: Some(YamlProblem {
                message: format!("frontmatter is larger than {MAX_FRONTMATTER_BYTES} bytes"),
                line: None,
                column: None,
            }),
        };
    }
    match parse_yaml(yaml) {
        Ok(fields) => Document {
            fields,
            body,
            status: FrontmatterStatus::Yaml,
            problem: None,
        },
        Err(problem) => Document {
            fields: parse_lenient(yaml),
            body,
            status: FrontmatterStatus::Lenient,
            problem: Some(problem),
        },
    }
}

/// Finds the frontmatter block: a first line `---`, then lines up to a closing `---` (or `...`).
/// Returns (block, body). Without a closing line there is no frontmatter.
fn split(text: &str) -> Option<(&str, &str)> {
    let first_end = text.find('\n')?;
    if text[..first_end].trim_end() != "---" {
        return None;
    }
    let start = first_end + 1;
    let mut pos = start;
    while pos <= text.len() {
        let end = text[pos..].find('\n').map_or(text.len(), |i| pos + i);
        let line = text[pos..end].trim_end();
        if line == "---" || line == "..." {
            let body_start = (end + 1).min(text.len());
            return Some((&text[start..pos], &text[body_start..]));
        }
        if end >= text.len() {
            break;
        }
        pos = end + 1;
    }
    None
}

fn yaml_options() -> serde_saphyr::Options {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_reader_input_bytes = Some(MAX_FRONTMATTER_BYTES);
    budget.max_depth = 32;
    budget.max_nodes = 20_000;
    budget.max_events = 50_000;
    budget.max_aliases = 200;
    budget.max_anchors = 200;
    budget.max_documents = 1;
    budget.max_total_scalar_bytes = MAX_FRONTMATTER_BYTES * 2;
    budget.max_merge_keys = 100;
    budget.max_recorded_anchor_events = 20_000;
    budget.max_recorded_anchor_bytes = MAX_FRONTMATTER_BYTES * 4;
    let mut opts = serde_saphyr::Options::default();
    opts.budget = Some(budget);
    opts.alias_limits.max_total_replayed_events = 20_000;
    opts.alias_limits.max_replay_stack_depth = 16;
    opts.alias_limits.max_alias_expansions_per_anchor = 200;
    opts
}

fn parse_yaml(yaml: &str) -> Result<Map<String, Value>, YamlProblem> {
    if yaml.trim().is_empty() {
        return Ok(Map::new());
    }
    if let Some(map) = parse_flat(yaml) {
        return Ok(map);
    }
    match serde_saphyr::from_str_with_options::<Value>(yaml, yaml_options()) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(Value::Null) => Ok(Map::new()),
        Ok(_) => Err(YamlProblem {
            message: "frontmatter is not a mapping of keys to values".into(),
            line: Some(2),
            column: Some(1),
        }),
        Err(e) => {
            let loc = e.location();
            let message = e
                .to_string()
                .lines()
                .next()
                .unwrap_or("invalid YAML")
                .to_owned();
            Err(YamlProblem {
                message,
                // +1: the block starts on the file's second line.
                line: loc.map(|l| l.line() as usize + 1),
                column: loc.map(|l| l.column() as usize),
            })
        }
    }
}

/// Fast path for the commonest frontmatter: one `key: value` per line, every value a plain or
/// simply quoted string. For exactly this subset YAML yields the same strings, so the full parser
/// (whose fixed cost dominates on small blocks) is skipped. Anything else returns `None`.
fn parse_flat(yaml: &str) -> Option<Map<String, Value>> {
    let mut map = Map::new();
    for line in yaml.lines() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            continue;
        }
        let (key, rest) = split_key(line)?;
        let value = rest.trim_matches(' ');
        let text = flat_scalar(value)?;
        if map.insert(key.to_owned(), Value::String(text)).is_some() {
            return None;
        }
    }
    Some(map)
}

/// A scalar YAML reads as exactly this string, or `None` when YAML might read it otherwise
/// (typed values, indicators, comments, escapes, nested syntax).
fn flat_scalar(v: &str) -> Option<String> {
    if v.is_empty() || v.chars().any(|c| c.is_control()) {
        return None;
    }
    let b = v.as_bytes();
    let last = b[b.len() - 1];
    if b[0] == b'\'' {
        let inner = v.strip_prefix('\'')?.strip_suffix('\'')?;
        return (!inner.contains('\'')).then(|| inner.to_owned());
    }
    if b[0] == b'"' {
        let inner = v.strip_prefix('"')?.strip_suffix('"')?;
        return (!inner.contains(['"', '\\'])).then(|| inner.to_owned());
    }
    let indicator = b"-?:,[]{}#&*!|>%@`+.~".contains(&b[0]) || b[0].is_ascii_digit();
    if indicator || last == b':' || v.contains(": ") || v.contains(" #") {
        return None;
    }
    const TYPED: [&str; 12] = [
        "true", "false", "yes", "no", "on", "off", "y", "n", "null", "nan", "inf", "infinity",
    ];
    if TYPED.contains(&v.to_ascii_lowercase().as_str()) {
        return None;
    }
    Some(v.to_owned())
}

/// Line-wise `key: value` reading: what Claude Code falls back to for frontmatter that is not
/// YAML. A line starting at column 0 with `word:` starts a key; other lines continue the value.
pub fn parse_lenient(yaml: &str) -> Map<String, Value> {
    let mut out = Map::new();
    let mut current: Option<(String, String)> = None;
    let finish = |cur: &mut Option<(String, String)>, out: &mut Map<String, Value>| {
        if let Some((k, v)) = cur.take() {
            let v = unquote(v.trim());
            if !out.contains_key(&k) {
                out.insert(k, Value::String(v));
            }
        }
    };
    for line in yaml.lines() {
        if line.starts_with('#') {
            continue;
        }
        if !line.starts_with([' ', '\t'])
            && let Some((k, v)) = split_key(line)
        {
            finish(&mut current, &mut out);
            let v = v.trim();
            let v = if matches!(v, "|" | ">" | "|-" | ">-" | "|+" | ">+") {
                ""
            } else {
                v
            };
            current = Some((k.to_owned(), v.to_owned()));
            continue;
        }
        if let Some((_, v)) = current.as_mut() {
            let t = line.trim();
            if !v.is_empty() {
                v.push('\n');
            }
            v.push_str(t);
        }
    }
    finish(&mut current, &mut out);
    out
}

fn split_key(line: &str) -> Option<(&str, &str)> {
    let i = line.find(':')?;
    let key = &line[..i];
    let rest = &line[i + 1..];
    let key_ok = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.');
    if key_ok && (rest.is_empty() || rest.starts_with([' ', '\t'])) {
        Some((key, rest))
    } else {
        None
    }
}

fn unquote(v: &str) -> String {
    let b = v.as_bytes();
    if b.len() >= 2 && (b[0] == b'"' || b[0] == b'\'') && b[b.len() - 1] == b[0] {
        v[1..v.len() - 1].to_owned()
    } else {
        v.to_owned()
    }
}

/// A frontmatter field as display text: strings as is, numbers and booleans printed; empty → None.
pub fn str_field(fields: &Map<String, Value>, key: &str) -> Option<String> {
    let s = match fields.get(key)? {
        Value::String(s) => s.trim().to_owned(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => return None,
    };
    (!s.is_empty()).then_some(s)
}

/// The first meaningful line of a Markdown body, without heading or list markers: the
/// description of last resort.
pub fn first_body_line(body: &str) -> Option<String> {
    body.lines()
        .map(|l| l.trim().trim_start_matches(['#', '-', '*', '>']).trim())
        .find(|l| !l.is_empty() && !l.starts_with("```") && !l.starts_with("<!--"))
        .map(str::to_owned)
}

/// Cuts `s` to at most `max` characters (on a character boundary).
pub fn clamp(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => s[..i].to_owned(),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_frontmatter() {
        let d = parse_document("---\nname: x\ndescription: \"a: b\"\n---\n# Title\nbody\n");
        assert_eq!(d.status, FrontmatterStatus::Yaml);
        assert_eq!(str_field(&d.fields, "name").as_deref(), Some("x"));
        assert_eq!(str_field(&d.fields, "description").as_deref(), Some("a: b"));
        assert_eq!(first_body_line(d.body).as_deref(), Some("Title"));
    }

    #[test]
    fn invalid_yaml_falls_back() {
        let text = "---\nname: agent\ndescription: Use this when: the user asks. Examples:\\n<example>Context: x</example>\nmodel: sonnet\n---\nbody";
        let d = parse_document(text);
        assert_eq!(d.status, FrontmatterStatus::Lenient);
        assert!(d.problem.is_some());
        assert_eq!(str_field(&d.fields, "name").as_deref(), Some("agent"));
        assert_eq!(str_field(&d.fields, "model").as_deref(), Some("sonnet"));
        assert!(
            str_field(&d.fields, "description")
                .unwrap()
                .starts_with("Use this when")
        );
    }

    #[test]
    fn no_frontmatter() {
        let d = parse_document("# Just markdown\n");
        assert_eq!(d.status, FrontmatterStatus::None);
        let d = parse_document("---\nname: never closed\n");
        assert_eq!(d.status, FrontmatterStatus::None);
        let d = parse_document("\u{feff}---\r\nname: crlf\r\n---\r\nbody");
        assert_eq!(str_field(&d.fields, "name").as_deref(), Some("crlf"));
    }

    #[test]
    fn alias_bomb_is_refused_quickly() {
        let mut y = String::from("---\na: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 0..20 {
            let prev = if i == 0 {
                "a".to_string()
            } else {
                format!("l{}", i - 1)
            };
            y.push_str(&format!(
                "l{i}: &l{i} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"
            ));
        }
        y.push_str("---\nbody");
        let start = std::time::Instant::now();
        let d = parse_document(&y);
        assert_eq!(d.status, FrontmatterStatus::Lenient);
        assert!(start.elapsed().as_secs() < 2);
    }

    #[test]
    fn flat_fast_path_agrees_with_yaml() {
        let cases = [
            "name: a\ndescription: Does things, well. (v2)\n",
            "name: 'quoted'\ndescription: \"double\"\nargument-hint: <file> [--x]\n",
            "name: x\nurl: https://example.com/a#b\n",
            "a: b\r\nc: d e f\r\n",
        ];
        for c in cases {
            let fast = parse_flat(c).expect(c);
            let full = serde_saphyr::from_str::<Value>(c).expect(c);
            assert_eq!(Value::Object(fast), full, "{c}");
        }
        for slow in [
            "a: true",
            "a: 1.5",
            "a: b: c",
            "a: [x]",
            "a:\n  b: c",
            "a: x #c",
            "a: *r",
            "a: ~",
            "a: 'it''s'",
            "a: -x",
            "a: b\na: c",
        ] {
            assert!(parse_flat(slow).is_none(), "{slow}");
        }
    }

    #[test]
    fn clamp_is_char_safe() {
        assert_eq!(clamp("ééé", 2), "éé");
        assert_eq!(clamp("ab", 5), "ab");
    }
}
