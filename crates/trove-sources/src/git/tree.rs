//! Listing a commit's tree straight from the object database (no work tree, no checkout), and the
//! blob reader that serves the listed files.
//!
//! Symlinks and submodules are reported as such and never followed. Names that cannot be paths
//! (`.`, `..`, `.git`, backslashes, non-UTF-8) are left out and recorded in `skipped`; a limit that
//! stops the walk marks the listing truncated, so a reconcile knows not to tombstone.

use std::collections::HashMap;

use gix::ObjectId;
use gix::bstr::ByteSlice;
use gix::objs::tree::EntryKind as GitKind;
use trove_discovery::{Entry, EntryKind};

use super::GitLimits;
use super::errors::git_error;
use crate::snapshot::{BlobReader, SnapshotParts};
use crate::source::SourceError;

/// Longest symlink target read for `Entry::link_target`; longer targets are cut.
const MAX_LINK_TARGET: usize = 4096;

/// A listing plus the object id of every blob in it.
pub(crate) struct Listing {
    pub parts: SnapshotParts,
    pub blobs: HashMap<String, (ObjectId, u64)>,
}

/// Lists commit `sha` of `repo`, rooted at `subdir` when given.
pub(crate) fn list_commit(
    repo: &gix::Repository,
    sha: ObjectId,
    subdir: Option<&str>,
    limits: &GitLimits,
    root_name: Option<String>,
) -> Result<Listing, SourceError> {
    let object = repo
        .try_find_object(sha)
        .map_err(|e| git_error("reading the commit", &e))?
        .ok_or_else(|| SourceError::NotFound(format!("commit {sha} is not in the repository")))?;
    let commit = object
        .peel_to_commit()
        .map_err(|_| SourceError::NotFound(format!("{sha} is not a commit")))?;
    let mut tree_id = commit
        .tree_id()
        .map_err(|e| git_error("reading the commit", &e))?
        .detach();
    let mut root_name = root_name;
    if let Some(segments) = subdir.map(subdir_segments).transpose()? {
        for seg in &segments {
            let tree = repo
                .find_tree(tree_id)
                .map_err(|e| git_error("reading a tree", &e))?;
            let entry = tree.find_entry(seg.as_str()).filter(|e| e.mode().is_tree());
            let Some(entry) = entry else {
                return Err(SourceError::NotFound(format!(
                    "folder {} is not in commit {sha}",
                    segments.join("/")
                )));
            };
            tree_id = entry.object_id();
        }
        if let Some(last) = segments.last() {
            root_name = Some(last.clone());
        }
    }

    let mut entries = Vec::new();
    let mut blobs = HashMap::new();
    let mut skipped = Vec::new();
    let mut truncated = false;
    // An explicit stack instead of recursion: depth is attacker-controlled.
    let mut stack: Vec<(ObjectId, String, usize)> = vec![(tree_id, String::new(), 0)];
    'walk: while let Some((id, prefix, depth)) = stack.pop() {
        let tree = repo
            .find_tree(id)
            .map_err(|e| git_error("reading a tree", &e))?;
        let decoded = tree
            .decode()
            .map_err(|e| git_error("decoding a tree", &e))?;
        for e in &decoded.entries {
            if entries.len() >= limits.max_entries {
                truncated = true;
                break 'walk;
            }
            let Ok(name) = e.filename.to_str() else {
                skipped.push(format!(
                    "{prefix}/{}: name is not UTF-8",
                    e.filename.to_str_lossy()
                ));
                continue;
            };
            if matches!(name, "" | "." | ".." | ".git") || name.contains(['/', '\\']) {
                skipped.push(format!("{prefix}/{}: not a safe name", name.escape_debug()));
                continue;
            }
            let path = if prefix.is_empty() {
                name.to_owned()
            } else {
                format!("{prefix}/{name}")
            };
            let oid = e.oid.to_owned();
            let entry = match e.mode.kind() {
                GitKind::Tree => {
                    if depth + 1 >= limits.max_depth {
                        truncated = true;
                        skipped.push(format!("{path}/: deeper than {} levels", limits.max_depth));
                        continue;
                    }
                    stack.push((oid, path.clone(), depth + 1));
                    Entry {
                        path,
                        kind: EntryKind::Tree,
                        size: 0,
                        mode: 0o040_000,
                        link_target: None,
                        oid: None,
                    }
                }
                kind @ (GitKind::Blob | GitKind::BlobExecutable) => {
                    let size = repo
                        .find_header(oid)
                        .map_err(|e| git_error("reading a blob header", &e))?
                        .size();
                    blobs.insert(path.clone(), (oid, size));
                    Entry {
                        path,
                        kind: EntryKind::Blob,
                        size,
                        mode: if kind == GitKind::Blob {
                            0o100_644
                        } else {
                            0o100_755
                        },
                        link_target: None,
                        oid: Some(oid.to_string()),
                    }
                }
                GitKind::Link => {
                    let blob = repo
                        .find_blob(oid)
                        .map_err(|e| git_error("reading a symlink", &e))?;
                    let data = &blob.data[..blob.data.len().min(MAX_LINK_TARGET)];
                    Entry {
                        path,
                        kind: EntryKind::Symlink,
                        size: blob.data.len() as u64,
                        mode: 0o120_000,
                        link_target: Some(String::from_utf8_lossy(data).into_owned()),
                        oid: None,
                    }
                }
                GitKind::Commit => Entry {
                    path,
                    kind: EntryKind::Submodule,
                    size: 0,
                    mode: 0o160_000,
                    link_target: None,
                    oid: None,
                },
            };
            entries.push(entry);
        }
    }
    Ok(Listing {
        parts: SnapshotParts {
            sha: sha.to_string(),
            entries,
            truncated,
            root_name,
            skipped,
        },
        blobs,
    })
}

/// Splits a subdir into checked segments: relative, no `..`, no empty names.
pub(crate) fn subdir_segments(subdir: &str) -> Result<Vec<String>, SourceError> {
    let invalid = || SourceError::Invalid(format!("bad subdir {}", subdir.escape_debug()));
    if subdir.starts_with('/') || subdir.contains(['\\', '\0']) {
        return Err(invalid());
    }
    let mut out = Vec::new();
    for seg in subdir.split('/') {
        match seg {
            "" | "." => continue,
            ".." | ".git" => return Err(invalid()),
            s => out.push(s.to_owned()),
        }
    }
    Ok(out)
}

/// Reads listed blobs from a git object database.
pub(crate) struct GitBlobReader {
    pub repo: gix::ThreadSafeRepository,
    pub blobs: HashMap<String, (ObjectId, u64)>,
    /// Hard limit on one blob, whatever the caller asks.
    pub max_blob_bytes: u64,
    /// Thread-local handles returned after a read, for the next one: making a handle costs more
    /// than reading a small blob, and a reconcile reads thousands of them.
    pub handles: std::sync::Mutex<Vec<gix::Repository>>,
}

impl std::fmt::Debug for GitBlobReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitBlobReader")
            .field("git_dir", &self.repo.git_dir())
            .field("blobs", &self.blobs.len())
            .finish()
    }
}

impl BlobReader for GitBlobReader {
    fn read_blob(&self, path: &str, max_bytes: u64) -> Result<Vec<u8>, SourceError> {
        let Some(&(id, size)) = self.blobs.get(path) else {
            return Err(SourceError::NotFound(format!(
                "{} is not a file of this snapshot",
                path.escape_debug()
            )));
        };
        let limit = max_bytes.min(self.max_blob_bytes);
        if size > limit {
            return Err(SourceError::TooLarge(format!(
                "{} has {size} bytes, over the limit of {limit}",
                path.escape_debug()
            )));
        }
        // `Repository` is not `Sync`: each read borrows a handle from the pool (or makes one; the
        // object database behind them is shared) and gives it back afterwards.
        let pooled = self.handles.lock().ok().and_then(|mut h| h.pop());
        let repo = pooled.unwrap_or_else(|| self.repo.to_thread_local());
        let data = repo
            .find_blob(id)
            .map(|blob| blob.detach().data)
            .map_err(|e| git_error("reading a blob", &e));
        if let Ok(mut handles) = self.handles.lock() {
            handles.push(repo);
        }
        data
    }
}
