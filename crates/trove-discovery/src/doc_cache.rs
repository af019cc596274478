//! Parsed Markdown files kept between discoveries, by blob object id.
//!
//! What discovery keeps of a Markdown file ([`DocInfo`]: frontmatter fields, how they were read,
//! the first body line) is a function of the file's bytes alone, and a blob id names those bytes,
//! so an entry holds for every later discovery that meets the same id, in any repository. A push
//! that edits one skill changes that plugin's fingerprint, and its rebuild then reads only the
//! edited file: the folder's other files come from here.
//!
//! Bounded by an estimate of what its entries hold; entries the latest discovery did not use go
//! first when it is full. Files that could not be read are never kept.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::ctx::DocInfo;

/// The default bound, in estimated bytes (about the frontmatter of 100,000 typical files).
pub const DEFAULT_DOC_CACHE_BYTES: usize = 32 * 1024 * 1024;

/// Fixed cost counted per entry on top of its text: the map slot, the id and the `DocInfo`.
const ENTRY_OVERHEAD: usize = 160;

/// A bounded, thread-safe map from blob id to what discovery read of that Markdown file.
#[derive(Debug)]
pub struct DocCache {
    state: Mutex<State>,
    max_bytes: usize,
}

#[derive(Debug, Default)]
struct State {
    docs: HashMap<String, Kept>,
    bytes: usize,
    generation: u64,
}

#[derive(Debug)]
struct Kept {
    doc: Arc<DocInfo>,
    cost: usize,
    used: u64,
}

impl Default for DocCache {
    fn default() -> Self {
        Self::new(DEFAULT_DOC_CACHE_BYTES)
    }
}

impl DocCache {
    /// A cache holding at most about `max_bytes` (0 disables it).
    pub fn new(max_bytes: usize) -> Self {
        DocCache {
            state: Mutex::new(State::default()),
            max_bytes,
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A plain map: a panic elsewhere cannot leave it inconsistent.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts a discovery; the returned generation marks the entries it uses.
    pub(crate) fn begin(&self) -> u64 {
        let mut state = self.state();
        state.generation += 1;
        state.generation
    }

    /// What was read of blob `oid`, when known, marked as used by discovery `generation`.
    pub(crate) fn get(&self, oid: &str, generation: u64) -> Option<Arc<DocInfo>> {
        let mut state = self.state();
        let kept = state.docs.get_mut(oid)?;
        kept.used = generation;
        Some(Arc::clone(&kept.doc))
    }

    /// Keeps what was read of blob `oid`; `text_bytes` is the size of the text it came from
    /// (frontmatter and first line), the estimate of what the entry holds.
    pub(crate) fn insert(&self, oid: &str, doc: Arc<DocInfo>, text_bytes: usize, generation: u64) {
        if doc.read_error.is_some() {
            return;
        }
        let cost = ENTRY_OVERHEAD + oid.len() + text_bytes;
        if cost > self.max_bytes {
            return;
        }
        let mut state = self.state();
        if state.bytes + cost > self.max_bytes {
            state.docs.retain(|_, kept| kept.used == generation);
            state.bytes = state.docs.values().map(|k| k.cost).sum();
            if state.bytes + cost > self.max_bytes {
                state.docs.clear();
                state.bytes = 0;
            }
        }
        let kept = Kept {
            doc,
            cost,
            used: generation,
        };
        if let Some(old) = state.docs.insert(oid.to_owned(), kept) {
            state.bytes -= old.cost;
        }
        state.bytes += cost;
    }

    /// How many files it holds.
    pub fn len(&self) -> usize {
        self.state().docs.len()
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Map;

    use super::*;
    use crate::model::{FrontmatterStatus, Warning, WarningCode};

    fn doc(first_line: &str) -> Arc<DocInfo> {
        Arc::new(DocInfo {
            fields: Map::new(),
            status: FrontmatterStatus::None,
            problem: None,
            first_line: Some(first_line.to_owned()),
            read_error: None,
        })
    }

    #[test]
    fn a_full_cache_keeps_what_the_latest_discovery_used() {
        let cache = DocCache::new(3 * (ENTRY_OVERHEAD + 1 + 100));
        let first = cache.begin();
        cache.insert("a", doc("a"), 100, first);
        cache.insert("b", doc("b"), 100, first);
        let second = cache.begin();
        assert!(cache.get("a", second).is_some());
        cache.insert("c", doc("c"), 100, second);
        // Over the bound: `b`, which the second discovery did not use, makes room.
        cache.insert("d", doc("d"), 100, second);
        assert!(cache.get("b", second).is_none());
        for kept in ["a", "c", "d"] {
            assert!(cache.get(kept, second).is_some(), "{kept}");
        }
        assert_eq!(cache.len(), 3);
    }

    #[test]
    fn unreadable_files_and_oversized_entries_are_not_kept() {
        let cache = DocCache::new(ENTRY_OVERHEAD + 10);
        let g = cache.begin();
        let failed = Arc::new(DocInfo {
            read_error: Some(Warning::at(WarningCode::ReadFailed, "x.md", "gone")),
            ..(*doc("x")).clone()
        });
        cache.insert("x", failed, 1, g);
        cache.insert("y", doc("y"), 1_000, g);
        assert!(cache.is_empty());
        let disabled = DocCache::new(0);
        disabled.insert("z", doc("z"), 0, g);
        assert!(disabled.is_empty());
    }
}
