//! Comparing two versions: a unified diff of the raw source files (Myers' algorithm, three lines of
//! context) and the list of payload fields that changed.
//!
//! The diff is bounded: past [`MAX_EDIT_DISTANCE`] differing lines a file is shown as wholly replaced
//! instead of searching further, so a hostile pair of 1 MiB files costs milliseconds, not minutes.

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::validate::{FileEncoding, SourceFile};
use super::{ObjectVersion, VersionSummary};

/// Largest edit distance searched per file before falling back to "replace everything".
pub const MAX_EDIT_DISTANCE: usize = 2000;
/// Lines of context around each change.
const CONTEXT: usize = 3;
/// Most payload field changes listed.
const MAX_FIELD_CHANGES: usize = 500;

/// One payload field that differs.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FieldChange {
    /// Dotted path of the field (`frontmatter.description`, `mcpServers.db.command`).
    pub path: String,
    /// The value in the `from` version (absent when the field was added).
    #[schema(value_type = Option<Object>)]
    pub from: Option<Value>,
    /// The value in the `to` version (absent when the field was removed).
    #[schema(value_type = Option<Object>)]
    pub to: Option<Value>,
}

/// What changed between two versions.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Comparison {
    /// The older side.
    pub from: VersionSummary,
    /// The newer side.
    pub to: VersionSummary,
    /// Whether the content is the same.
    pub identical: bool,
    /// Unified diff of the raw source files (`--- a/path`, `+++ b/path`, `@@` hunks).
    pub diff: String,
    /// Payload fields that were added, removed or changed.
    pub changed_fields: Vec<FieldChange>,
}

/// Compares two versions.
pub fn compare(from: &ObjectVersion, to: &ObjectVersion) -> Comparison {
    let mut changed_fields = Vec::new();
    field_changes(
        "",
        Some(&from.payload),
        Some(&to.payload),
        &mut changed_fields,
    );
    Comparison {
        from: from.summary(),
        to: to.summary(),
        identical: from.content_hash == to.content_hash,
        diff: files_diff(&from.files, &to.files),
        changed_fields,
    }
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_owned()
    } else {
        format!("{prefix}.{key}")
    }
}

/// Objects are compared key by key; anything else as a whole value.
fn field_changes(path: &str, a: Option<&Value>, b: Option<&Value>, out: &mut Vec<FieldChange>) {
    if out.len() >= MAX_FIELD_CHANGES || a == b {
        return;
    }
    match (a, b) {
        (Some(Value::Object(x)), Some(Value::Object(y))) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                field_changes(&join(path, k), x.get(k), y.get(k), out);
            }
        }
        _ => out.push(FieldChange {
            path: if path.is_empty() {
                "$".into()
            } else {
                path.to_owned()
            },
            from: a.cloned(),
            to: b.cloned(),
        }),
    }
}

/// Unified diff of two file sets, file by file in path order.
pub fn files_diff(from: &[SourceFile], to: &[SourceFile]) -> String {
    let mut paths: Vec<&str> = from.iter().chain(to).map(|f| f.path.as_str()).collect();
    paths.sort_unstable();
    paths.dedup();
    let mut out = String::new();
    for path in paths {
        let a = from.iter().find(|f| f.path == path);
        let b = to.iter().find(|f| f.path == path);
        if a == b {
            continue;
        }
        let binary = [a, b]
            .iter()
            .flatten()
            .any(|f| f.encoding == FileEncoding::Base64);
        let old_name = if a.is_some() {
            format!("a/{path}")
        } else {
            "/dev/null".into()
        };
        let new_name = if b.is_some() {
            format!("b/{path}")
        } else {
            "/dev/null".into()
        };
        if binary {
            out.push_str(&format!("Binary files {old_name} and {new_name} differ\n"));
            continue;
        }
        out.push_str(&format!("--- {old_name}\n+++ {new_name}\n"));
        let a_lines: Vec<&str> =
            a.map_or(Vec::new(), |f| f.content.split_inclusive('\n').collect());
        let b_lines: Vec<&str> =
            b.map_or(Vec::new(), |f| f.content.split_inclusive('\n').collect());
        unified(&a_lines, &b_lines, &mut out);
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Equal(usize, usize),
    Delete(usize),
    Insert(usize),
}

/// The edit script from `a` to `b`, or `None` past [`MAX_EDIT_DISTANCE`].
fn myers(a: &[&str], b: &[&str]) -> Option<Vec<Op>> {
    let (n, m) = (a.len() as isize, b.len() as isize);
    let max = (a.len() + b.len()).min(MAX_EDIT_DISTANCE) as isize;
    let offset = max + 1;
    let mut v = vec![0isize; (2 * max + 3) as usize];
    let mut trace: Vec<Vec<isize>> = Vec::new();
    let at = |k: isize| (k + offset) as usize;
    for d in 0..=max {
        trace.push(v.clone());
        let mut k = -d;
        while k <= d {
            let mut x = if k == -d || (k != d && v[at(k - 1)] < v[at(k + 1)]) {
                v[at(k + 1)]
            } else {
                v[at(k - 1)] + 1
            };
            let mut y = x - k;
            while x < n && y < m && a[x as usize] == b[y as usize] {
                x += 1;
                y += 1;
            }
            v[at(k)] = x;
            if x >= n && y >= m {
                return Some(backtrack(&trace, n, m, at));
            }
            k += 2;
        }
    }
    None
}

fn backtrack(trace: &[Vec<isize>], n: isize, m: isize, at: impl Fn(isize) -> usize) -> Vec<Op> {
    let (mut x, mut y) = (n, m);
    let mut ops = Vec::new();
    for (d, v) in trace.iter().enumerate().rev() {
        let d = d as isize;
        let k = x - y;
        let prev_k = if k == -d || (k != d && v[at(k - 1)] < v[at(k + 1)]) {
            k + 1
        } else {
            k - 1
        };
        let prev_x = v[at(prev_k)];
        let prev_y = prev_x - prev_k;
        while x > prev_x && y > prev_y {
            ops.push(Op::Equal((x - 1) as usize, (y - 1) as usize));
            x -= 1;
            y -= 1;
        }
        if d > 0 {
            if x == prev_x {
                ops.push(Op::Insert((y - 1) as usize));
            } else {
                ops.push(Op::Delete((x - 1) as usize));
            }
        }
        x = prev_x;
        y = prev_y;
    }
    ops.reverse();
    ops
}

/// Appends the hunks turning `a` into `b`.
fn unified(a: &[&str], b: &[&str], out: &mut String) {
    // Common prefix and suffix need no search.
    let pre = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let suf = a[pre..]
        .iter()
        .rev()
        .zip(b[pre..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let (am, bm) = (&a[pre..a.len() - suf], &b[pre..b.len() - suf]);
    let middle = myers(am, bm).unwrap_or_else(|| {
        (0..am.len())
            .map(Op::Delete)
            .chain((0..bm.len()).map(Op::Insert))
            .collect()
    });
    let mut ops: Vec<Op> = (0..pre).map(|i| Op::Equal(i, i)).collect();
    ops.extend(middle.into_iter().map(|op| match op {
        Op::Equal(i, j) => Op::Equal(i + pre, j + pre),
        Op::Delete(i) => Op::Delete(i + pre),
        Op::Insert(j) => Op::Insert(j + pre),
    }));
    ops.extend((0..suf).map(|s| Op::Equal(a.len() - suf + s, b.len() - suf + s)));

    let changes: Vec<usize> = ops
        .iter()
        .enumerate()
        .filter(|(_, op)| !matches!(op, Op::Equal(..)))
        .map(|(i, _)| i)
        .collect();
    let mut i = 0;
    while i < changes.len() {
        // Extend the hunk while the next change is within two contexts.
        let start = changes[i].saturating_sub(CONTEXT);
        let mut end = changes[i];
        while i + 1 < changes.len() && changes[i + 1] <= end + 2 * CONTEXT + 1 {
            i += 1;
            end = changes[i];
        }
        let end = (end + CONTEXT + 1).min(ops.len());
        let hunk = &ops[start..end];
        // Line positions: the a/b line each op starts at.
        let (a_pos, b_pos) = position_before(&ops, start);
        let a_len = hunk.iter().filter(|o| !matches!(o, Op::Insert(_))).count();
        let b_len = hunk.iter().filter(|o| !matches!(o, Op::Delete(_))).count();
        let a_start = if a_len == 0 { a_pos } else { a_pos + 1 };
        let b_start = if b_len == 0 { b_pos } else { b_pos + 1 };
        out.push_str(&format!("@@ -{a_start},{a_len} +{b_start},{b_len} @@\n"));
        for op in hunk {
            let (mark, line) = match *op {
                Op::Equal(x, _) => (' ', a[x]),
                Op::Delete(x) => ('-', a[x]),
                Op::Insert(y) => ('+', b[y]),
            };
            out.push(mark);
            out.push_str(line);
            if !line.ends_with('\n') {
                out.push_str("\n\\ No newline at end of file\n");
            }
        }
        i += 1;
    }
}

/// How many lines of `a` and `b` come before op `index`.
fn position_before(ops: &[Op], index: usize) -> (usize, usize) {
    ops[..index].iter().fold((0, 0), |(x, y), op| match op {
        Op::Equal(..) => (x + 1, y + 1),
        Op::Delete(_) => (x + 1, y),
        Op::Insert(_) => (x, y + 1),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, content: &str) -> SourceFile {
        SourceFile {
            path: path.into(),
            content: content.into(),
            encoding: FileEncoding::Utf8,
        }
    }

    #[test]
    fn one_changed_line_with_context() {
        let a = "1\n2\n3\n4\n5\n6\n7\n8\n9\n";
        let b = "1\n2\n3\n4\nfive\n6\n7\n8\n9\n";
        let d = files_diff(&[file("x.md", a)], &[file("x.md", b)]);
        assert_eq!(
            d,
            "--- a/x.md\n+++ b/x.md\n@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n"
        );
    }

    #[test]
    fn added_removed_and_identical_files() {
        let d = files_diff(&[file("a", "x\n"), file("same", "s\n")], &[file("b", "y")]);
        assert!(
            d.contains("--- a/a\n+++ /dev/null\n@@ -1,1 +0,0 @@\n-x\n"),
            "{d}"
        );
        assert!(
            d.contains(
                "--- /dev/null\n+++ b/b\n@@ -0,0 +1,1 @@\n+y\n\\ No newline at end of file\n"
            ),
            "{d}"
        );
        assert!(d.contains("--- a/same"), "{d}");
        assert_eq!(files_diff(&[file("a", "x")], &[file("a", "x")]), "");
    }

    #[test]
    fn distant_changes_make_two_hunks() {
        let a: String = (1..=30).map(|i| format!("l{i}\n")).collect();
        let b = a.replace("l3\n", "three\n").replace("l27\n", "xxvii\n");
        let d = files_diff(&[file("f", &a)], &[file("f", &b)]);
        assert_eq!(d.matches("@@ -").count(), 2, "{d}");
    }

    #[test]
    fn huge_rewrites_fall_back_to_replacement() {
        let a: String = (0..5000).map(|i| format!("a{i}\n")).collect();
        let b: String = (0..5000).map(|i| format!("b{i}\n")).collect();
        let d = files_diff(&[file("f", &a)], &[file("f", &b)]);
        assert!(d.starts_with("--- a/f\n+++ b/f\n@@ -1,5000 +1,5000 @@\n-a0\n"));
    }

    #[test]
    fn payload_fields() {
        let mut out = Vec::new();
        let a = serde_json::json!({"name": "x", "frontmatter": {"description": "d", "model": "m"}});
        let b = serde_json::json!({"name": "x", "frontmatter": {"description": "e"}, "new": 1});
        field_changes("", Some(&a), Some(&b), &mut out);
        let paths: Vec<&str> = out.iter().map(|c| c.path.as_str()).collect();
        assert_eq!(
            paths,
            ["frontmatter.description", "frontmatter.model", "new"]
        );
        assert_eq!(out[1].to, None);
    }
}
