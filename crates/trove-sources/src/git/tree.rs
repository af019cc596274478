//! Listing a commit's tree straight from the object database (no work tree, no checkout), and the
//! blob reader that serves the listed files.
//!
//! Symlinks and submodules are reported as such and never followed. Names that cannot be paths
//! (`.`, `..`, `.git`, backslashes, non-UTF-8) are left out and recorded in `skipped`; a limit that
//! stops the walk marks the listing truncated, so a reconcile knows not to tombstone.

use std::sync::Arc;

use gix::ObjectId;
use gix::bstr::ByteSlice;
use gix::objs::tree::EntryKind as GitKind;
use trove_discovery::{Entry, EntryKind};

use super::GitLimits;
use super::errors::git_error;
use super::tree_cache::{Child, ChildKind, Children, TreeCache};
use crate::snapshot::{BlobReader, SnapshotParts, is_safe_name};
use crate::source::SourceError;

/// Longest symlink target read for `Entry::link_target`; longer targets are cut.
const MAX_LINK_TARGET: usize = 4096;

/// Lists commit `sha` of `repo`, rooted at `subdir` when given, taking the trees `trees` already
/// knows from it and adding the others.
pub(crate) fn list_commit(
    repo: &gix::Repository,
    trees: &TreeCache,
    sha: ObjectId,
    subdir: Option<&str>,
    limits: &GitLimits,
    root_name: Option<String>,
) -> Result<SnapshotParts, SourceError> {
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
    let mut skipped = Vec::new();
    let mut truncated = false;
    let listing = trees.begin();
    let children_of = |id: ObjectId| -> Result<Children, SourceError> {
        if let Some(children) = listing.get(&id) {
            return Ok(children);
        }
        let children = read_tree(repo, id)?;
        listing.insert(id, Arc::clone(&children));
        Ok(children)
    };
    // Depth first, each folder's entries in tree order, its subfolders entered where they stand:
    // git sorts a tree's names as if folders ended in `/`, so files come out in byte order of
    // their full paths, already sorted for the discovery index. An explicit stack instead of
    // recursion: depth is attacker-controlled.
    let mut stack: Vec<Frame> = vec![Frame {
        children: children_of(tree_id)?,
        next: 0,
        prefix: String::new(),
        depth: 0,
    }];
    'walk: while let Some(frame) = stack.last_mut() {
        let Some(child) = frame.children.get(frame.next) else {
            stack.pop();
            continue;
        };
        frame.next += 1;
        if entries.len() >= limits.max_entries {
            truncated = true;
            break 'walk;
        }
        let (prefix, depth) = (&frame.prefix, frame.depth);
        if let ChildKind::Unsafe(why) = child.kind {
            skipped.push(format!("{prefix}/{}: {why}", child.name));
            continue;
        }
        let mut path = String::with_capacity(prefix.len() + 1 + child.name.len());
        if !prefix.is_empty() {
            path.push_str(prefix);
            path.push('/');
        }
        path.push_str(&child.name);
        let oid = child.oid;
        let entry = match &child.kind {
            ChildKind::Tree => {
                if depth + 1 >= limits.max_depth {
                    truncated = true;
                    skipped.push(format!("{path}/: deeper than {} levels", limits.max_depth));
                    continue;
                }
                let below = Frame {
                    children: children_of(oid)?,
                    next: 0,
                    prefix: path.clone(),
                    depth: depth + 1,
                };
                entries.push(Entry {
                    path,
                    kind: EntryKind::Tree,
                    size: 0,
                    mode: 0o040_000,
                    link_target: None,
                    oid: Some(hex_of(&oid)),
                });
                stack.push(below);
                continue;
            }
            &ChildKind::Blob { size, executable } => Entry {
                path,
                kind: EntryKind::Blob,
                size,
                mode: if executable { 0o100_755 } else { 0o100_644 },
                link_target: None,
                oid: Some(hex_of(&oid)),
            },
            ChildKind::Link { size, target } => Entry {
                path,
                kind: EntryKind::Symlink,
                size: *size,
                mode: 0o120_000,
                link_target: Some(target.clone()),
                oid: None,
            },
            ChildKind::Submodule => Entry {
                path,
                kind: EntryKind::Submodule,
                size: 0,
                mode: 0o160_000,
                link_target: None,
                oid: None,
            },
            ChildKind::Unsafe(_) => continue,
        };
        entries.push(entry);
    }
    Ok(SnapshotParts {
        sha: sha.to_string(),
        entries,
        truncated,
        root_name,
        skipped,
    })
}

/// A folder being listed: its children, the next one to visit, its path and depth.
struct Frame {
    children: Children,
    next: usize,
    prefix: String,
    depth: usize,
}

/// The hexadecimal form of an object id (without the formatting machinery of `to_string`, which
/// shows in a listing of many thousand entries).
fn hex_of(oid: &ObjectId) -> String {
    let mut buf = [0u8; 64];
    oid.hex_to_buf(&mut buf).to_owned()
}

/// Decodes tree `id`: its children's names (checked), kinds, ids, blob sizes and link targets.
fn read_tree(repo: &gix::Repository, id: ObjectId) -> Result<Children, SourceError> {
    let tree = repo
        .find_tree(id)
        .map_err(|e| git_error("reading a tree", &e))?;
    let decoded = tree
        .decode()
        .map_err(|e| git_error("decoding a tree", &e))?;
    let mut children = Vec::with_capacity(decoded.entries.len());
    for e in &decoded.entries {
        let oid = e.oid.to_owned();
        let Ok(name) = e.filename.to_str() else {
            children.push(Child {
                name: e.filename.to_str_lossy().into_owned(),
                oid,
                kind: ChildKind::Unsafe("name is not UTF-8"),
            });
            continue;
        };
        if !is_safe_name(name) {
            children.push(Child {
                name: name.escape_debug().to_string(),
                oid,
                kind: ChildKind::Unsafe("not a safe name"),
            });
            continue;
        }
        let kind = match e.mode.kind() {
            GitKind::Tree => ChildKind::Tree,
            kind @ (GitKind::Blob | GitKind::BlobExecutable) => ChildKind::Blob {
                size: repo
                    .find_header(oid)
                    .map_err(|e| git_error("reading a blob header", &e))?
                    .size(),
                executable: kind == GitKind::BlobExecutable,
            },
            GitKind::Link => {
                let blob = repo
                    .find_blob(oid)
                    .map_err(|e| git_error("reading a symlink", &e))?;
                let data = &blob.data[..blob.data.len().min(MAX_LINK_TARGET)];
                ChildKind::Link {
                    size: blob.data.len() as u64,
                    target: String::from_utf8_lossy(data).into_owned(),
                }
            }
            GitKind::Commit => ChildKind::Submodule,
        };
        children.push(Child {
            name: name.to_owned(),
            oid,
            kind,
        });
    }
    Ok(children.into())
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
            .finish()
    }
}

impl BlobReader for GitBlobReader {
    fn read_blob(&self, entry: &Entry, max_bytes: u64) -> Result<Vec<u8>, SourceError> {
        let path = &entry.path;
        let id = entry
            .oid
            .as_deref()
            .and_then(|hex| ObjectId::from_hex(hex.as_bytes()).ok())
            .ok_or_else(|| {
                SourceError::NotFound(format!(
                    "{} is not a file of this snapshot",
                    path.escape_debug()
                ))
            })?;
        let size = entry.size;
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
