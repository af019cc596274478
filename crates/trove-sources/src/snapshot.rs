//! [`RepoSnapshot`]: one commit of a repository, listed once, read lazily.
//!
//! The listing is complete or says it is not ([`RepoSnapshot::truncated`]); blobs are read on demand
//! through a source-specific [`BlobReader`], so discovery touches only the few files it needs and an
//! import reads exactly the files it imports, all at the snapshot's commit.

use std::fmt;
use std::hash::BuildHasher;
use std::sync::Arc;

use trove_discovery::{Entry, EntryKind, ReadError, Snapshot};

use crate::source::SourceError;

/// Whether a name from a tree listing can be a path segment: not empty, `.`, `..` or `.git`, and
/// without separators. Every source leaves other names out of its listings.
pub(crate) fn is_safe_name(name: &str) -> bool {
    !matches!(name, "" | "." | ".." | ".git") && !name.contains(['/', '\\'])
}

/// Reads blobs of one snapshot. Implemented per source (git object database, GitHub blobs API).
///
/// Called from synchronous code (discovery), so the sync engine runs discovery and imports inside
/// `spawn_blocking`.
pub trait BlobReader: Send + Sync + fmt::Debug {
    /// The whole content of the blob of listing entry `entry` (a regular file of this snapshot,
    /// with the object id and size the listing gave it), or [`SourceError::TooLarge`] when it is
    /// larger than `max_bytes` (never silently cut short).
    fn read_blob(&self, entry: &Entry, max_bytes: u64) -> Result<Vec<u8>, SourceError>;
}

/// One commit of a repository as a flat listing plus a blob reader.
///
/// Cheap to clone (one `Arc`), `Send + Sync`, and implements [`trove_discovery::Snapshot`], so
/// `trove_discovery::discover(&snapshot)` works on it exactly as on a directory.
#[derive(Clone)]
pub struct RepoSnapshot {
    inner: Arc<Inner>,
}

struct Inner {
    sha: String,
    entries: Vec<Entry>,
    /// Where the blob entries are in `entries`.
    by_path: BlobPositions,
    hasher: hashbrown::DefaultHashBuilder,
    truncated: bool,
    root_name: Option<String>,
    skipped: Vec<String>,
    reader: Box<dyn BlobReader>,
}

/// The parts a source assembles a snapshot from.
#[derive(Debug)]
pub struct SnapshotParts {
    /// Commit SHA (full hexadecimal).
    pub sha: String,
    /// Every entry, paths relative to the snapshot root (never `..`, never a leading `/`).
    pub entries: Vec<Entry>,
    /// True when a limit stopped the listing.
    pub truncated: bool,
    /// Name of the root (repository or subdir name).
    pub root_name: Option<String>,
    /// Entries left out and why (names that are not UTF-8 or not safe as paths).
    pub skipped: Vec<String>,
}

impl RepoSnapshot {
    /// Assembles a snapshot from a listing and a reader.
    pub fn new(parts: SnapshotParts, reader: Box<dyn BlobReader>) -> Self {
        let hasher = hashbrown::DefaultHashBuilder::default();
        let entries = parts.entries;
        let by_path = BlobPositions::of(&entries, &hasher);
        RepoSnapshot {
            inner: Arc::new(Inner {
                sha: parts.sha,
                entries,
                by_path,
                hasher,
                truncated: parts.truncated,
                root_name: parts.root_name,
                skipped: parts.skipped,
                reader,
            }),
        }
    }

    /// The commit SHA this snapshot shows.
    pub fn sha(&self) -> &str {
        &self.inner.sha
    }

    /// Every entry (blobs, trees, symlinks, submodules).
    pub fn entries(&self) -> &[Entry] {
        &self.inner.entries
    }

    /// True when a limit stopped the listing: a reconcile must not tombstone anything then.
    pub fn truncated(&self) -> bool {
        self.inner.truncated
    }

    /// Entries left out of the listing and why (not UTF-8, unsafe names). Not truncation: these
    /// paths can never be imported, so their absence says nothing about other files.
    pub fn skipped(&self) -> &[String] {
        &self.inner.skipped
    }

    /// The listing entry of the regular file at `path`.
    pub fn blob_entry(&self, path: &str) -> Option<&Entry> {
        let entries = &self.inner.entries;
        let found = match &self.inner.by_path {
            BlobPositions::Hashed(by_path) => by_path
                .find(self.inner.hasher.hash_one(path), |&i| {
                    entries[i].path == path
                })
                .copied(),
            BlobPositions::Sorted(blobs) => blobs
                .binary_search_by(|&i| entries[i].path.as_str().cmp(path))
                .ok()
                .map(|at| blobs[at]),
        };
        found.map(|i| &entries[i])
    }

    /// The whole content of the file at `path`, for imports. [`SourceError::TooLarge`] when it is
    /// larger than `max_bytes`, [`SourceError::NotFound`] when `path` is not a regular file of the
    /// snapshot (symlinks and submodules are never read through).
    pub fn read_full(&self, path: &str, max_bytes: u64) -> Result<Vec<u8>, SourceError> {
        let Some(entry) = self.blob_entry(path) else {
            return Err(SourceError::NotFound(format!(
                "{} is not a file of this snapshot",
                path.escape_debug()
            )));
        };
        if entry.size > max_bytes {
            return Err(SourceError::TooLarge(format!(
                "{} has {} bytes, over the limit of {max_bytes}",
                path.escape_debug(),
                entry.size
            )));
        }
        self.inner.reader.read_blob(entry, max_bytes)
    }
}

/// Where a listing's blob entries are, by path.
enum BlobPositions {
    /// In strictly increasing path order (the git listing gives files so): found by binary
    /// search, with nothing hashed.
    Sorted(Vec<usize>),
    /// Any other order: by the hash of their path (no second copy of every path).
    Hashed(hashbrown::HashTable<usize>),
}

impl BlobPositions {
    fn of(entries: &[Entry], hasher: &hashbrown::DefaultHashBuilder) -> Self {
        let blobs: Vec<usize> = (0..entries.len())
            .filter(|&i| entries[i].kind == EntryKind::Blob)
            .collect();
        if blobs
            .windows(2)
            .all(|w| entries[w[0]].path < entries[w[1]].path)
        {
            return Self::Sorted(blobs);
        }
        let mut by_path: hashbrown::HashTable<usize> =
            hashbrown::HashTable::with_capacity(blobs.len());
        let hash_of = |i: &usize| hasher.hash_one(entries[*i].path.as_str());
        for i in blobs {
            // A listing naming one path twice keeps the last, as a map insert would.
            let path = entries[i].path.as_str();
            let hash = hasher.hash_one(path);
            match by_path.find_mut(hash, |&j| entries[j].path == path) {
                Some(slot) => *slot = i,
                None => {
                    by_path.insert_unique(hash, i, hash_of);
                }
            }
        }
        Self::Hashed(by_path)
    }
}

impl fmt::Debug for RepoSnapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RepoSnapshot")
            .field("sha", &self.inner.sha)
            .field("entries", &self.inner.entries.len())
            .field("truncated", &self.inner.truncated)
            .field("root_name", &self.inner.root_name)
            .finish_non_exhaustive()
    }
}

impl Snapshot for RepoSnapshot {
    fn entries(&self) -> &[Entry] {
        &self.inner.entries
    }

    fn read(&self, path: &str, max_bytes: usize) -> Result<Vec<u8>, ReadError> {
        let Some(entry) = self.blob_entry(path) else {
            return Err(ReadError::NotFound);
        };
        // A prefix read still inflates the whole object (git stores blobs compressed, often as
        // deltas), so only the reader's own hard blob limit applies; within it, cut to `max_bytes`.
        let mut data = self
            .inner
            .reader
            .read_blob(entry, u64::MAX)
            .map_err(|e| match e {
                SourceError::NotFound(_) => ReadError::NotFound,
                other => ReadError::Source(other.to_string()),
            })?;
        data.truncate(max_bytes);
        Ok(data)
    }

    fn truncated(&self) -> bool {
        self.inner.truncated
    }

    fn root_name(&self) -> Option<&str> {
        self.inner.root_name.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct NoReader;

    impl BlobReader for NoReader {
        fn read_blob(&self, _: &Entry, _: u64) -> Result<Vec<u8>, SourceError> {
            Err(SourceError::NotFound("no blobs here".into()))
        }
    }

    fn snapshot(entries: Vec<Entry>) -> RepoSnapshot {
        let parts = SnapshotParts {
            sha: "0".repeat(40),
            entries,
            truncated: false,
            root_name: None,
            skipped: Vec::new(),
        };
        RepoSnapshot::new(parts, Box::new(NoReader))
    }

    fn folder(path: &str) -> Entry {
        Entry {
            kind: EntryKind::Tree,
            mode: 0o040_000,
            ..Entry::blob(path, 0)
        }
    }

    #[test]
    fn files_are_found_in_a_listing_in_git_order_and_in_any_other() {
        // Git order: the folder `a` sorts as `a/`, after `a-b` and `a.txt`; its files stay sorted.
        let git_order = vec![
            Entry::blob("a-b", 1),
            Entry::blob("a.txt", 2),
            folder("a"),
            Entry::blob("a/x", 3),
            Entry::blob("a0", 4),
        ];
        let mut shuffled = git_order.clone();
        shuffled.reverse();
        for entries in [git_order, shuffled] {
            let snap = snapshot(entries);
            for (path, size) in [("a-b", 1), ("a.txt", 2), ("a/x", 3), ("a0", 4)] {
                assert_eq!(snap.blob_entry(path).map(|e| e.size), Some(size), "{path}");
            }
            assert!(snap.blob_entry("a").is_none(), "a folder is not a file");
            assert!(snap.blob_entry("a/").is_none());
            assert!(snap.blob_entry("b").is_none());
        }
    }

    #[test]
    fn a_path_listed_twice_reads_as_its_last_entry() {
        let snap = snapshot(vec![Entry::blob("x", 1), Entry::blob("x", 2)]);
        assert_eq!(snap.blob_entry("x").map(|e| e.size), Some(2));
    }
}
