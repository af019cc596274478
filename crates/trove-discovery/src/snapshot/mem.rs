//! An in-memory snapshot: tests, property tests, benchmarks, and sources that already hold the
//! bytes (an extracted tarball, a fetched tree).

use std::collections::HashMap;

use super::{Entry, EntryKind, ReadError, Snapshot};

/// Entries plus blob contents held in memory.
#[derive(Debug, Default, Clone)]
pub struct MemSnapshot {
    entries: Vec<Entry>,
    blobs: HashMap<String, Vec<u8>>,
    truncated: bool,
    root_name: Option<String>,
}

impl MemSnapshot {
    /// An empty snapshot.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a file with its contents.
    pub fn file(mut self, path: &str, contents: impl Into<Vec<u8>>) -> Self {
        self.add_file(path, contents);
        self
    }

    /// Adds a file with its contents (by reference).
    pub fn add_file(&mut self, path: &str, contents: impl Into<Vec<u8>>) {
        let bytes = contents.into();
        self.entries.push(Entry::blob(path, bytes.len() as u64));
        self.blobs.insert(path.to_owned(), bytes);
    }

    /// Adds an arbitrary entry without contents (symlinks, submodules, entries with a lying size).
    pub fn add_entry(&mut self, entry: Entry) {
        self.entries.push(entry);
    }

    /// Adds a symlink entry.
    pub fn symlink(mut self, path: &str, target: &str) -> Self {
        self.entries.push(Entry {
            path: path.to_owned(),
            kind: EntryKind::Symlink,
            size: 0,
            mode: 0o120_000,
            link_target: Some(target.to_owned()),
            oid: None,
        });
        self
    }

    /// Marks the listing as incomplete.
    pub fn set_truncated(&mut self, truncated: bool) {
        self.truncated = truncated;
    }

    /// Sets the root name.
    pub fn set_root_name(&mut self, name: &str) {
        self.root_name = Some(name.to_owned());
    }
}

impl Snapshot for MemSnapshot {
    fn entries(&self) -> &[Entry] {
        &self.entries
    }

    fn read(&self, path: &str, max_bytes: usize) -> Result<Vec<u8>, ReadError> {
        let bytes = self.blobs.get(path).ok_or(ReadError::NotFound)?;
        Ok(bytes[..bytes.len().min(max_bytes)].to_vec())
    }

    fn truncated(&self) -> bool {
        self.truncated
    }

    fn root_name(&self) -> Option<&str> {
        self.root_name.as_deref()
    }
}
