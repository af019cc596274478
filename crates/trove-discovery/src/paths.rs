//! Path handling for untrusted strings.
//!
//! Every path that comes from a manifest or a listing is treated as hostile: no absolute paths, no
//! `..`, no backslashes, no empty or control-character segments. Paths are plain `/`-separated
//! strings relative to the snapshot root; the empty string is the root itself. Nothing here ever
//! touches a filesystem.

/// Longest path accepted from a listing, in bytes.
pub const MAX_PATH_BYTES: usize = 4096;
/// Deepest path accepted from a listing, in segments.
pub const MAX_PATH_DEPTH: usize = 64;

/// Why a listed path was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryPathProblem {
    /// Empty, absolute, or with empty / `.` / `..` segments.
    NotNormal,
    /// Control characters or backslashes.
    BadCharacters,
    /// Longer than [`MAX_PATH_BYTES`] or deeper than [`MAX_PATH_DEPTH`].
    TooLong,
}

/// Checks that a path from a snapshot listing is normal and safe to use as a key.
pub fn check_entry_path(path: &str) -> Result<(), EntryPathProblem> {
    if path.is_empty() || path.starts_with('/') {
        return Err(EntryPathProblem::NotNormal);
    }
    if path.len() > MAX_PATH_BYTES {
        return Err(EntryPathProblem::TooLong);
    }
    if path.is_ascii() {
        // Listings are mostly ASCII: a branch-free pass over the bytes (it vectorises), then the
        // segments.
        let bad = path
            .bytes()
            .fold(false, |bad, b| bad | b.is_ascii_control() | (b == b'\\'));
        if bad {
            return Err(EntryPathProblem::BadCharacters);
        }
        let mut depth = 0;
        for segment in path.as_bytes().split(|b| *b == b'/') {
            check_segment(segment)?;
            depth += 1;
        }
        return if depth > MAX_PATH_DEPTH {
            Err(EntryPathProblem::TooLong)
        } else {
            Ok(())
        };
    }
    if path.chars().any(|c| c.is_control() || c == '\\') {
        return Err(EntryPathProblem::BadCharacters);
    }
    let mut depth = 0;
    for seg in path.split('/') {
        check_segment(seg.as_bytes())?;
        depth += 1;
    }
    if depth > MAX_PATH_DEPTH {
        return Err(EntryPathProblem::TooLong);
    }
    Ok(())
}

/// A listing path's segment must name something: not empty, `.` or `..`.
fn check_segment(segment: &[u8]) -> Result<(), EntryPathProblem> {
    match segment {
        b"" | b"." | b".." => Err(EntryPathProblem::NotNormal),
        _ => Ok(()),
    }
}

/// Joins a folder (possibly the root `""`) and a relative normal path.
pub fn join(dir: &str, rel: &str) -> String {
    match (dir.is_empty(), rel.is_empty()) {
        (true, _) => rel.to_owned(),
        (false, true) => dir.to_owned(),
        (false, false) => format!("{dir}/{rel}"),
    }
}

/// The folder holding `path` (`""` for a top-level name).
pub fn parent(path: &str) -> &str {
    path.rfind('/').map_or("", |i| &path[..i])
}

/// The last segment of `path`.
pub fn file_name(path: &str) -> &str {
    path.rfind('/').map_or(path, |i| &path[i + 1..])
}

/// `path` relative to `dir`, if it lies inside it (`dir == ""` contains everything).
pub fn strip_dir<'a>(path: &'a str, dir: &str) -> Option<&'a str> {
    if dir.is_empty() {
        return Some(path);
    }
    path.strip_prefix(dir)?.strip_prefix('/')
}

/// Why a declared relative path was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelPathError {
    /// Empty string.
    Empty,
    /// Absolute path, drive letter or URL.
    Absolute,
    /// Contains a `..` segment.
    Escapes,
    /// Control characters or backslashes.
    BadCharacters,
    /// Longer than the limits allow.
    TooLong,
}

impl RelPathError {
    /// Human-readable reason.
    pub fn describe(self) -> &'static str {
        match self {
            RelPathError::Empty => "the path is empty",
            RelPathError::Absolute => "absolute paths and URLs are not allowed",
            RelPathError::Escapes => {
                "`..` segments are not allowed (the path would leave its root)"
            }
            RelPathError::BadCharacters => "the path contains backslashes or control characters",
            RelPathError::TooLong => "the path is too long",
        }
    }
}

/// A declared path resolved against its base folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// Normal path relative to the snapshot root.
    pub path: String,
    /// Whether the path was written with the `./` prefix (or as `.`), as the format requires.
    pub dot_prefixed: bool,
}

/// Resolves a path written in a manifest (`./skills/x`, `.`, `./`, `skills/x`) against `base`.
///
/// `.` segments are dropped; `..` anywhere is refused even when it would stay inside, because
/// Claude Code refuses it too.
pub fn resolve_relative(base: &str, rel: &str) -> Result<Resolved, RelPathError> {
    let rel = rel.trim();
    if rel.is_empty() {
        return Err(RelPathError::Empty);
    }
    if rel.len() > MAX_PATH_BYTES {
        return Err(RelPathError::TooLong);
    }
    if rel.starts_with('/') || rel.contains("://") || has_drive_letter(rel) {
        return Err(RelPathError::Absolute);
    }
    if rel.chars().any(|c| c.is_control() || c == '\\') {
        return Err(RelPathError::BadCharacters);
    }
    let dot_prefixed = rel == "." || rel.starts_with("./");
    let mut out = String::with_capacity(base.len() + rel.len() + 1);
    out.push_str(base);
    let mut depth = base.split('/').filter(|s| !s.is_empty()).count();
    for seg in rel.split('/') {
        match seg {
            "" | "." => {}
            ".." => return Err(RelPathError::Escapes),
            s => {
                if !out.is_empty() {
                    out.push('/');
                }
                out.push_str(s);
                depth += 1;
                if depth > MAX_PATH_DEPTH {
                    return Err(RelPathError::TooLong);
                }
            }
        }
    }
    Ok(Resolved {
        path: out,
        dot_prefixed,
    })
}

fn has_drive_letter(p: &str) -> bool {
    let b = p.as_bytes();
    b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_and_refuses() {
        assert_eq!(
            resolve_relative("plugins/x", "./skills/a").unwrap().path,
            "plugins/x/skills/a"
        );
        assert_eq!(resolve_relative("", "./").unwrap().path, "");
        assert_eq!(resolve_relative("", ".").unwrap().path, "");
        assert!(!resolve_relative("", "skills").unwrap().dot_prefixed);
        assert_eq!(resolve_relative("", "../x"), Err(RelPathError::Escapes));
        assert_eq!(
            resolve_relative("a", "./b/../../c"),
            Err(RelPathError::Escapes)
        );
        assert_eq!(
            resolve_relative("", "/etc/passwd"),
            Err(RelPathError::Absolute)
        );
        assert_eq!(resolve_relative("", "C:\\x"), Err(RelPathError::Absolute));
        assert_eq!(
            resolve_relative("", "https://x/y"),
            Err(RelPathError::Absolute)
        );
        assert_eq!(
            resolve_relative("", "a\\..\\b"),
            Err(RelPathError::BadCharacters)
        );
    }

    #[test]
    fn entry_paths() {
        assert!(check_entry_path("a/b.md").is_ok());
        assert!(check_entry_path("../a").is_err());
        assert!(check_entry_path("/a").is_err());
        assert!(check_entry_path("a//b").is_err());
        assert!(check_entry_path("a/./b").is_err());
        assert!(check_entry_path("").is_err());
        assert!(check_entry_path("a/").is_err());
        assert!(check_entry_path("a/..").is_err());
        assert!(check_entry_path(".").is_err());
        assert!(check_entry_path("..a/b.").is_ok());
        let bad = Err(EntryPathProblem::BadCharacters);
        assert_eq!(check_entry_path("a\\b"), bad);
        assert_eq!(check_entry_path("a/b\u{7f}"), bad);
        assert_eq!(check_entry_path("a\tb"), bad);
        assert_eq!(
            check_entry_path("é/\u{85}"),
            bad,
            "a C1 control in a non-ASCII path"
        );
        assert!(check_entry_path("é/ü.md").is_ok());
        let deep = vec!["d"; MAX_PATH_DEPTH].join("/");
        assert!(check_entry_path(&deep).is_ok());
        assert_eq!(
            check_entry_path(&format!("{deep}/e")),
            Err(EntryPathProblem::TooLong)
        );
        assert_eq!(strip_dir("a/b/c", "a"), Some("b/c"));
        assert_eq!(strip_dir("ab/c", "a"), None);
        assert_eq!(strip_dir("x", ""), Some("x"));
    }
}
