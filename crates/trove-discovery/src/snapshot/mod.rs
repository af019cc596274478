//! The snapshot abstraction: one commit of a repository as a flat list of entries plus a way to read
//! one blob.
//!
//! Discovery never touches a filesystem or a network by itself; it only sees this trait. A local
//! directory ([`DirSnapshot`]), a git tree and a GitHub tree listing all implement it, so the same
//! judgment is made whatever the source. Listing is done once by the implementation; discovery reads
//! only the few blobs it needs (manifests, frontmatter files, hook and server JSON).

mod dir;
mod mem;

pub use dir::{DirLimits, DirSnapshot};
pub use mem::MemSnapshot;

use serde::Serialize;

/// What a tree entry is. Git has exactly these four kinds; a directory walker maps onto them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// A regular file.
    Blob,
    /// A directory. Sources that only list files may omit these; discovery infers directories
    /// from file paths.
    Tree,
    /// A symbolic link. Discovery never follows it: a link may point outside the snapshot.
    Symlink,
    /// A git submodule (a commit of another repository). Its content is not in the snapshot.
    Submodule,
}

/// One entry of a snapshot listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Path relative to the snapshot root, `/`-separated, without a leading `/`.
    pub path: String,
    /// Entry kind.
    pub kind: EntryKind,
    /// Size in bytes as the source reports it (0 for trees and submodules). Untrusted: readers
    /// still enforce their own limit.
    pub size: u64,
    /// Git-style mode (`0o100644`, `0o100755`, `0o120000`, `0o040000`, `0o160000`).
    pub mode: u32,
    /// For symlinks, the link target as stored, when the source knows it.
    pub link_target: Option<String>,
    /// For blobs, the git object id (hexadecimal) when the source knows it. Equal ids mean equal
    /// bytes, so a reconcile can tell a file is unchanged without reading it.
    pub oid: Option<String>,
}

impl Entry {
    /// A regular file entry with the usual non-executable mode.
    pub fn blob(path: impl Into<String>, size: u64) -> Self {
        Entry {
            path: path.into(),
            kind: EntryKind::Blob,
            size,
            mode: 0o100_644,
            link_target: None,
            oid: None,
        }
    }
}

/// Why a blob could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    /// The path is not a blob of this snapshot.
    #[error("not a file in this snapshot")]
    NotFound,
    /// The path exists but resolving it would leave the snapshot (for example through a symlinked
    /// parent directory that appeared after listing).
    #[error("path leaves the snapshot")]
    OutsideSnapshot,
    /// The source failed (I/O error, network error, ...).
    #[error("read failed: {0}")]
    Source(String),
}

/// One commit of a repository, as discovery sees it.
pub trait Snapshot {
    /// Every entry, listed once. Order does not matter.
    fn entries(&self) -> &[Entry];

    /// Reads at most `max_bytes` bytes from the start of the blob at `path`.
    ///
    /// Implementations must only serve paths that [`Snapshot::entries`] lists as blobs, and must
    /// never return more than `max_bytes` bytes: callers rely on this to bound memory. A caller
    /// that needs the whole file compares the entry size with its limit first.
    fn read(&self, path: &str, max_bytes: usize) -> Result<Vec<u8>, ReadError>;

    /// True when the listing is known to be incomplete (a truncated tree, a walk that hit a limit).
    fn truncated(&self) -> bool {
        false
    }

    /// A name for the snapshot root (the directory or repository name), used only as the name
    /// of last resort for a plugin at the root that has no manifest name.
    fn root_name(&self) -> Option<&str> {
        None
    }
}
