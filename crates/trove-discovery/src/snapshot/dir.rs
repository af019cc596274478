//! A snapshot of a local directory.
//!
//! The walk never follows symlinks (they are listed as [`EntryKind::Symlink`] with their target),
//! skips `.git`, and stops at entry-count and depth limits, marking the snapshot truncated rather
//! than growing without bound. Reading re-checks that the resolved file is still a regular file
//! inside the root, so a tree changed after listing cannot redirect a read elsewhere.

use std::collections::HashSet;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::{Entry, EntryKind, ReadError, Snapshot};

/// Bounds for walking a directory.
#[derive(Debug, Clone, Copy)]
pub struct DirLimits {
    /// Stop listing after this many entries (files, directories and links together).
    pub max_entries: usize,
    /// Do not descend below this many path segments.
    pub max_depth: usize,
}

impl Default for DirLimits {
    fn default() -> Self {
        DirLimits {
            max_entries: 250_000,
            max_depth: 48,
        }
    }
}

/// A local directory as a [`Snapshot`].
#[derive(Debug)]
pub struct DirSnapshot {
    root: PathBuf,
    canonical_root: PathBuf,
    root_name: Option<String>,
    entries: Vec<Entry>,
    blobs: HashSet<String>,
    truncated: bool,
    skipped: Vec<String>,
}

impl DirSnapshot {
    /// Lists `root` with the default limits.
    pub fn open(root: &Path) -> std::io::Result<Self> {
        Self::open_with(root, DirLimits::default())
    }

    /// Lists `root` with explicit limits.
    pub fn open_with(root: &Path, limits: DirLimits) -> std::io::Result<Self> {
        let canonical_root = fs::canonicalize(root)?;
        if !fs::metadata(&canonical_root)?.is_dir() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotADirectory,
                format!("{} is not a directory", root.display()),
            ));
        }
        let root_name = canonical_root
            .file_name()
            .and_then(|n| n.to_str())
            .map(str::to_owned);
        let mut snap = DirSnapshot {
            root: root.to_path_buf(),
            canonical_root,
            root_name,
            entries: Vec::new(),
            blobs: HashSet::new(),
            truncated: false,
            skipped: Vec::new(),
        };
        snap.walk(limits);
        snap.blobs = snap
            .entries
            .iter()
            .filter(|e| e.kind == EntryKind::Blob)
            .map(|e| e.path.clone())
            .collect();
        Ok(snap)
    }

    /// Paths (relative, lossy) that the walk left out and why: non-UTF-8 names, unreadable
    /// directories, special files.
    pub fn skipped(&self) -> &[String] {
        &self.skipped
    }

    fn walk(&mut self, limits: DirLimits) {
        // An explicit stack instead of recursion: depth is attacker-controlled.
        let mut stack: Vec<(PathBuf, String, usize)> = vec![(self.root.clone(), String::new(), 0)];
        while let Some((dir, rel, depth)) = stack.pop() {
            let read = match fs::read_dir(&dir) {
                Ok(r) => r,
                Err(e) => {
                    self.skipped.push(format!("{rel}/: {e}"));
                    continue;
                }
            };
            let mut children: Vec<fs::DirEntry> = read.filter_map(Result::ok).collect();
            children.sort_by_key(|c| c.file_name());
            for child in children {
                if self.entries.len() >= limits.max_entries {
                    self.truncated = true;
                    return;
                }
                let name = child.file_name();
                let Some(name) = name.to_str() else {
                    self.skipped.push(format!(
                        "{rel}/{}: name is not UTF-8",
                        name.to_string_lossy()
                    ));
                    continue;
                };
                if name == ".git" {
                    continue;
                }
                let path = if rel.is_empty() {
                    name.to_owned()
                } else {
                    format!("{rel}/{name}")
                };
                // The entry's own type (never follows a link); stat only when a size is needed.
                let ft = match child.file_type() {
                    Ok(t) => t,
                    Err(e) => {
                        self.skipped.push(format!("{path}: {e}"));
                        continue;
                    }
                };
                if ft.is_symlink() {
                    let target = fs::read_link(child.path())
                        .ok()
                        .map(|t| t.to_string_lossy().into_owned());
                    self.entries.push(Entry {
                        path,
                        kind: EntryKind::Symlink,
                        size: 0,
                        mode: 0o120_000,
                        link_target: target,
                        oid: None,
                    });
                } else if ft.is_dir() {
                    if depth + 1 >= limits.max_depth {
                        self.truncated = true;
                        self.skipped
                            .push(format!("{path}/: deeper than {} levels", limits.max_depth));
                        continue;
                    }
                    self.entries.push(Entry {
                        path: path.clone(),
                        kind: EntryKind::Tree,
                        size: 0,
                        mode: 0o040_000,
                        link_target: None,
                        oid: None,
                    });
                    stack.push((child.path(), path, depth + 1));
                } else if ft.is_file() {
                    let meta = match child.metadata() {
                        Ok(m) => m,
                        Err(e) => {
                            self.skipped.push(format!("{path}: {e}"));
                            continue;
                        }
                    };
                    self.entries.push(Entry {
                        path,
                        kind: EntryKind::Blob,
                        size: meta.len(),
                        mode: file_mode(&meta),
                        link_target: None,
                        oid: None,
                    });
                } else {
                    self.skipped.push(format!("{path}: not a regular file"));
                }
            }
        }
    }

    fn is_listed_blob(&self, path: &str) -> bool {
        self.blobs.contains(path)
    }
}

/// The path of an open file as the kernel sees it (Linux `/proc/self/fd`).
#[cfg(target_os = "linux")]
fn opened_path(file: &fs::File) -> Option<PathBuf> {
    use std::os::fd::AsRawFd;
    fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd())).ok()
}

#[cfg(not(target_os = "linux"))]
fn opened_path(_file: &fs::File) -> Option<PathBuf> {
    None
}

#[cfg(unix)]
fn file_mode(meta: &fs::Metadata) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    if meta.permissions().mode() & 0o111 != 0 {
        0o100_755
    } else {
        0o100_644
    }
}

#[cfg(not(unix))]
fn file_mode(_meta: &fs::Metadata) -> u32 {
    0o100_644
}

impl Snapshot for DirSnapshot {
    fn entries(&self) -> &[Entry] {
        &self.entries
    }

    fn read(&self, path: &str, max_bytes: usize) -> Result<Vec<u8>, ReadError> {
        if !self.is_listed_blob(path) {
            return Err(ReadError::NotFound);
        }
        let mut full = self.root.clone();
        for seg in path.split('/') {
            // Listed paths come from our own walk, but check anyway: this is the one place
            // where a path string becomes a filesystem path.
            if seg.is_empty() || seg == "." || seg == ".." || seg.contains('\\') {
                return Err(ReadError::OutsideSnapshot);
            }
            full.push(seg);
        }
        let file = fs::File::open(&full).map_err(|e| ReadError::Source(e.to_string()))?;
        // Check where the opened file really is: if a parent was swapped for a symlink after
        // listing, the open followed it out of the root. Asking the kernel about the open
        // descriptor leaves no gap between check and read; elsewhere, resolve the path instead.
        let real = opened_path(&file).or_else(|| fs::canonicalize(&full).ok());
        if !real.is_some_and(|r| r.starts_with(&self.canonical_root)) {
            return Err(ReadError::OutsideSnapshot);
        }
        let meta = file
            .metadata()
            .map_err(|e| ReadError::Source(e.to_string()))?;
        if !meta.is_file() {
            return Err(ReadError::NotFound);
        }
        let mut buf = Vec::with_capacity(max_bytes.min(meta.len() as usize).min(1 << 20));
        file.take(max_bytes as u64)
            .read_to_end(&mut buf)
            .map_err(|e| ReadError::Source(e.to_string()))?;
        Ok(buf)
    }

    fn truncated(&self) -> bool {
        self.truncated
    }

    fn root_name(&self) -> Option<&str> {
        self.root_name.as_deref()
    }
}
