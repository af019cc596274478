//! An index over one snapshot listing: O(1) file and directory lookups, and contiguous ranges for
//! "every file under this folder" (paths sorted, so a folder's files form one slice).
//!
//! Unsafe listing entries (absolute, `..`, control characters, too deep) are dropped here with a
//! warning, so no later stage ever sees them.
//!
//! While a plugin is built for reuse, the index also watches its queries: a build that looked at
//! anything outside its plugin folder depends on more than that folder's entries, so it must not
//! be reused on the strength of the folder alone.

use std::cell::{OnceCell, RefCell};

/// Maps keyed by listing paths: seeded foldhash, several times faster than SipHash over thousands
/// of paths and still unpredictable to whoever chose them.
type HashMap<K, V> = std::collections::HashMap<K, V, hashbrown::DefaultHashBuilder>;
type HashSet<K> = std::collections::HashSet<K, hashbrown::DefaultHashBuilder>;

use crate::model::{Warning, WarningCode};
use crate::paths::{self, EntryPathProblem};
use crate::snapshot::{Entry, EntryKind};

/// Most entries indexed; a listing beyond this is treated as truncated.
pub const MAX_INDEXED_ENTRIES: usize = 1_000_000;

/// Index over the valid entries of a listing.
#[derive(Debug)]
pub struct TreeIndex<'a> {
    files: Vec<&'a str>,
    blobs: HashMap<&'a str, &'a Entry>,
    dirs: HashSet<&'a str>,
    /// The tree object id of each folder the listing names with one (`None` when the listing
    /// names the folder twice).
    tree_ids: HashMap<&'a str, Option<&'a str>>,
    /// The same folders, sorted for range queries (made when first needed).
    sorted_dirs: OnceCell<Vec<&'a str>>,
    symlinks: Vec<&'a Entry>,
    submodules: Vec<&'a str>,
    /// The folder whose queries are being watched, and whether one left it.
    scope: RefCell<Option<Scope>>,
    /// Problems found while indexing (skipped entries, limits).
    pub warnings: Vec<Warning>,
    /// True when entries were dropped because of [`MAX_INDEXED_ENTRIES`].
    pub truncated: bool,
}

impl<'a> TreeIndex<'a> {
    /// Indexes a listing.
    pub fn new(entries: &'a [Entry]) -> Self {
        // Sized for the listing up front: growing maps of thousands of paths rehashes them all.
        let blobs = entries.iter().filter(|e| e.kind == EntryKind::Blob).count();
        let trees = entries.len() - blobs;
        let hasher = hashbrown::DefaultHashBuilder::default;
        let mut idx = TreeIndex {
            files: Vec::with_capacity(blobs),
            blobs: HashMap::with_capacity_and_hasher(blobs, hasher()),
            dirs: HashSet::with_capacity_and_hasher(trees, hasher()),
            tree_ids: HashMap::with_capacity_and_hasher(trees, hasher()),
            sorted_dirs: OnceCell::new(),
            symlinks: Vec::new(),
            submodules: Vec::new(),
            scope: RefCell::new(None),
            warnings: Vec::new(),
            truncated: false,
        };
        let mut skipped: Vec<(&'static str, &'a str)> = Vec::new();
        for (n, e) in entries.iter().enumerate() {
            if n >= MAX_INDEXED_ENTRIES {
                idx.truncated = true;
                idx.warnings.push(Warning::general(
                    WarningCode::LimitReached,
                    format!(
                        "the listing has {} entries; only the first {MAX_INDEXED_ENTRIES} were considered",
                        entries.len()
                    ),
                ));
                break;
            }
            if let Err(problem) = paths::check_entry_path(&e.path) {
                skipped.push((
                    match problem {
                        EntryPathProblem::NotNormal => "not a normal relative path",
                        EntryPathProblem::BadCharacters => "control characters or backslashes",
                        EntryPathProblem::TooLong => "path too long or too deep",
                    },
                    &e.path,
                ));
                continue;
            }
            let p = e.path.as_str();
            match e.kind {
                EntryKind::Blob => {
                    // A listing that names the same path twice keeps the first entry.
                    if idx.blobs.insert(p, e).is_none() {
                        idx.files.push(p);
                    }
                }
                EntryKind::Tree => {
                    idx.dirs.insert(p);
                    if let Some(oid) = e.oid.as_deref() {
                        idx.tree_ids
                            .entry(p)
                            .and_modify(|id| *id = None)
                            .or_insert(Some(oid));
                    }
                }
                EntryKind::Symlink => idx.symlinks.push(e),
                EntryKind::Submodule => idx.submodules.push(p),
            }
            // Every ancestor of any entry is a directory, even when the source lists no trees.
            let mut rest = p;
            while let Some(i) = rest.rfind('/') {
                rest = &rest[..i];
                if !idx.dirs.insert(rest) {
                    break;
                }
            }
        }
        // A git listing arrives sorted already; checking that costs one pass.
        idx.files.sort_unstable();
        idx.submodules.sort_unstable();
        idx.symlinks.sort_unstable_by(|a, b| a.path.cmp(&b.path));
        idx.symlinks.dedup_by(|a, b| a.path == b.path);
        if !skipped.is_empty() {
            let examples: Vec<String> = skipped
                .iter()
                .take(5)
                .map(|(why, p)| format!("{} ({why})", p.escape_debug()))
                .collect();
            idx.warnings.push(Warning::general(
                WarningCode::SkippedEntry,
                format!(
                    "{} listing entr{} skipped as unsafe: {}",
                    skipped.len(),
                    if skipped.len() == 1 { "y" } else { "ies" },
                    examples.join(", ")
                ),
            ));
        }
        idx
    }

    /// Whether `path` is a regular file of the snapshot.
    pub fn is_file(&self, path: &str) -> bool {
        self.touch(path);
        self.blobs.contains_key(path)
    }

    /// The listing entry of a regular file.
    pub fn blob(&self, path: &str) -> Option<&'a Entry> {
        self.touch(path);
        self.blobs.get(path).copied()
    }

    /// Whether `path` is a directory (the root `""` always is).
    pub fn is_dir(&self, path: &str) -> bool {
        self.touch(path);
        path.is_empty() || self.dirs.contains(path)
    }

    /// Every file below `dir`, recursively, sorted.
    pub fn files_under(&self, dir: &str) -> &[&'a str] {
        self.touch(dir);
        below(&self.files, dir)
    }

    /// Whether `dir` has at least one file below it.
    pub fn has_files_under(&self, dir: &str) -> bool {
        !self.files_under(dir).is_empty()
    }

    /// Names of the direct sub-folders of `dir` that hold files, sorted and unique.
    pub fn child_dirs(&self, dir: &str) -> Vec<&'a str> {
        let mut out: Vec<&'a str> = Vec::new();
        for f in self.files_under(dir) {
            let Some(rest) = paths::strip_dir(f, dir) else {
                continue;
            };
            if let Some(i) = rest.find('/') {
                let name = &rest[..i];
                if out.last() != Some(&name) {
                    out.push(name);
                }
            }
        }
        out.dedup();
        out
    }

    /// Every file of the snapshot, sorted.
    pub fn all_files(&self) -> &[&'a str] {
        self.touch("");
        &self.files
    }

    /// Symlink entries at or below `dir`.
    pub fn symlinks_under<'s>(&'s self, dir: &'s str) -> impl Iterator<Item = &'a Entry> + 's {
        self.touch(dir);
        // Sorted by path: `dir` itself, then everything under `dir/`, form one range.
        let start = self.symlinks.partition_point(|e| e.path.as_str() < dir);
        self.symlinks[start..]
            .iter()
            .copied()
            .take_while(move |e| e.path.starts_with(dir))
            .filter(move |e| e.path == dir || paths::strip_dir(&e.path, dir).is_some())
    }

    /// The symlink entry at exactly `path`.
    pub fn symlink_at(&self, path: &str) -> Option<&'a Entry> {
        self.touch(path);
        self.symlinks
            .binary_search_by(|e| e.path.as_str().cmp(path))
            .ok()
            .map(|i| self.symlinks[i])
    }

    /// Submodule paths, sorted.
    pub fn submodules(&self) -> &[&'a str] {
        self.touch("");
        &self.submodules
    }

    /// Starts watching queries: until [`TreeIndex::end_scope`], any query about a path outside
    /// `root` (or about the whole listing) is noted.
    pub(crate) fn begin_scope(&self, root: &str) {
        *self.scope.borrow_mut() = Some(Scope {
            root: root.to_owned(),
            escaped: false,
        });
    }

    /// Stops watching; true when every query since [`TreeIndex::begin_scope`] stayed inside its
    /// folder.
    pub(crate) fn end_scope(&self) -> bool {
        self.scope.borrow_mut().take().is_some_and(|s| !s.escaped)
    }

    /// Notes a query about `path` (a file or a folder) for the watched scope.
    pub(crate) fn touch(&self, path: &str) {
        if let Some(scope) = self.scope.borrow_mut().as_mut()
            && !scope.escaped
            && !within(path, &scope.root)
        {
            scope.escaped = true;
        }
    }

    /// The object id of folder `root`'s tree, which names everything below it, when the listing
    /// gave one and nothing else could stand in the folder's place: not for the root, a folder
    /// listed twice, a folder that is also a file, or an index that left entries out.
    pub(crate) fn subtree_id(&self, root: &str) -> Option<&'a str> {
        if root.is_empty() || self.truncated || self.blobs.contains_key(root) {
            return None;
        }
        self.tree_ids.get(root).copied().flatten()
    }

    /// Feeds everything the index holds at or below `root` to `feed`, in a fixed order: every
    /// file with its object id, size and mode, every folder, symlink (with its target) and
    /// submodule. Returns false, having fed only part, when a file has no object id (the source
    /// does not know them, so equal feeds would not prove equal contents).
    pub(crate) fn feed_subtree(&self, root: &str, feed: &mut dyn FnMut(&[u8])) -> bool {
        let mut field = |tag: u8, bytes: &[u8]| {
            feed(&[tag]);
            feed(&(bytes.len() as u64).to_le_bytes());
            feed(bytes);
        };
        let own_file = (!root.is_empty()).then_some(root);
        for path in own_file
            .into_iter()
            .chain(below(&self.files, root).iter().copied())
        {
            let Some(entry) = self.blobs.get(path) else {
                continue;
            };
            let Some(oid) = entry.oid.as_deref() else {
                return false;
            };
            field(b'f', path.as_bytes());
            field(b'o', oid.as_bytes());
            field(b's', &entry.size.to_le_bytes());
            field(b'm', &entry.mode.to_le_bytes());
        }
        let own_dir = (!root.is_empty() && self.dirs.contains(root)).then_some(root);
        let sorted_dirs = self.sorted_dirs.get_or_init(|| {
            let mut dirs: Vec<&'a str> = self.dirs.iter().copied().collect();
            dirs.sort_unstable();
            dirs
        });
        for d in own_dir
            .into_iter()
            .chain(below(sorted_dirs, root).iter().copied())
        {
            field(b'd', d.as_bytes());
        }
        for link in self.symlinks.iter().filter(|e| within(&e.path, root)) {
            field(b'l', link.path.as_bytes());
            match link.link_target.as_deref() {
                Some(target) => field(b't', target.as_bytes()),
                None => field(b'n', &[]),
            }
        }
        for sub in self.submodules.iter().filter(|p| within(p, root)) {
            field(b'g', sub.as_bytes());
        }
        true
    }
}

/// The paths below `dir` in a sorted list (all of them for the root `""`).
fn below<'l, 'a>(sorted: &'l [&'a str], dir: &str) -> &'l [&'a str] {
    if dir.is_empty() {
        return sorted;
    }
    // Paths under `dir/` are contiguous in sorted order: they share the prefix `dir/`, and `0` is
    // the byte after `/`.
    let lo = sorted.partition_point(|f| f.as_bytes() < prefix_lo(dir).as_slice());
    let hi = sorted.partition_point(|f| f.as_bytes() < prefix_hi(dir).as_slice());
    &sorted[lo..hi]
}

/// A folder whose queries are watched.
#[derive(Debug)]
struct Scope {
    root: String,
    escaped: bool,
}

/// Whether `path` is `root` itself or lies below it (everything lies below the root `""`).
fn within(path: &str, root: &str) -> bool {
    root.is_empty() || path == root || paths::strip_dir(path, root).is_some()
}

fn prefix_lo(dir: &str) -> Vec<u8> {
    let mut v = dir.as_bytes().to_vec();
    v.push(b'/');
    v
}

fn prefix_hi(dir: &str) -> Vec<u8> {
    let mut v = dir.as_bytes().to_vec();
    v.push(b'0');
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_and_dirs() {
        let entries = vec![
            Entry::blob("a/b/c.md", 1),
            Entry::blob("a/b.md", 1),
            Entry::blob("a-b/x", 1),
            Entry::blob("a/z/y.md", 1),
            Entry::blob("../evil", 1),
            Entry::blob("top", 1),
        ];
        let idx = TreeIndex::new(&entries);
        assert_eq!(idx.files_under("a"), &["a/b.md", "a/b/c.md", "a/z/y.md"]);
        assert_eq!(idx.child_dirs("a"), vec!["b", "z"]);
        assert!(idx.is_dir("a/b"));
        assert!(!idx.is_dir("a/b.md"));
        assert!(idx.is_file("top"));
        assert!(!idx.is_file("../evil"));
        assert_eq!(idx.warnings.len(), 1);
        assert_eq!(idx.files_under("").len(), 5);
    }
}
