//! Decoded trees kept between listings, by tree object id.
//!
//! A tree id names its content exactly (names, modes and child ids), and a blob id names its size,
//! so what one listing learnt about a tree holds for every later listing that meets the same id, in
//! any repository. A push that changes one file changes only the trees on that file's path; every
//! other folder of the next listing is taken from here without decoding a tree or reading a blob
//! header, which is what makes listing a large repository after a small change cheap.

use std::sync::{Arc, Mutex};

use gix::ObjectId;

/// Keyed by tree id with seeded foldhash: a listing looks up every tree it walks, and SipHash
/// showed in its profile. Ids come from the repository, so the hash stays seeded (not the raw id).
type HashMap<K, V> = std::collections::HashMap<K, V, hashbrown::DefaultHashBuilder>;

/// What a listing needs to know about one child of a tree.
#[derive(Debug, Clone)]
pub(crate) enum ChildKind {
    Tree,
    Blob {
        size: u64,
        executable: bool,
    },
    Link {
        size: u64,
        target: String,
    },
    Submodule,
    /// A name that cannot be a path; `name` holds a printable form and this says why.
    Unsafe(&'static str),
}

/// One child of a tree.
#[derive(Debug, Clone)]
pub(crate) struct Child {
    pub name: String,
    pub oid: ObjectId,
    pub kind: ChildKind,
}

/// The children of one tree, in tree order.
pub(crate) type Children = Arc<[Child]>;

/// A bounded map of decoded trees. When it is full, trees that no running listing has used go
/// first, so the trees of the repositories being reconciled now stay; if that is not enough room,
/// it starts over empty.
#[derive(Debug)]
pub(crate) struct TreeCache {
    state: Mutex<State>,
    max_children: usize,
}

#[derive(Debug, Default)]
struct State {
    /// Each tree's children and the generation of the last listing that used it.
    trees: HashMap<ObjectId, (Children, u64)>,
    children: usize,
    generation: u64,
    /// The generations of the listings running now (a few: one per concurrent reconcile).
    running: Vec<u64>,
}

/// One listing's use of the cache; the trees it meets are marked with its generation until it
/// ends (on drop).
pub(crate) struct Listing<'c> {
    cache: &'c TreeCache,
    generation: u64,
}

impl TreeCache {
    /// A cache holding at most `max_children` children over all its trees (0 disables it).
    pub(crate) fn new(max_children: usize) -> Self {
        TreeCache {
            state: Mutex::new(State::default()),
            max_children,
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is a plain map: a panic elsewhere cannot leave it inconsistent.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts a listing.
    pub(crate) fn begin(&self) -> Listing<'_> {
        let mut state = self.state();
        state.generation += 1;
        let generation = state.generation;
        state.running.push(generation);
        Listing {
            cache: self,
            generation,
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.state().trees.len()
    }
}

impl Listing<'_> {
    /// The children of tree `id` when known, marked as used by this listing.
    pub(crate) fn get(&self, id: &ObjectId) -> Option<Children> {
        let mut state = self.cache.state();
        let (children, used) = state.trees.get_mut(id)?;
        *used = (*used).max(self.generation);
        Some(Arc::clone(children))
    }

    /// Remembers the children of tree `id`, making room first when the cache is full.
    pub(crate) fn insert(&self, id: ObjectId, children: Children) {
        let max = self.cache.max_children;
        let size = children.len().max(1);
        if size > max {
            return;
        }
        let mut state = self.cache.state();
        if state.children + size > max {
            // Only the trees of finished listings go: evicting by this listing's generation alone
            // would drop the trees of a listing running beside it, and two listings near the limit
            // would then empty each other's trees insert by insert, each time scanning the map.
            // Once these are gone, the next time the cache is full nothing is left to pick, so it
            // starts over: a scan per insert would make a listing near the limit quadratic.
            let oldest = state
                .running
                .iter()
                .copied()
                .min()
                .unwrap_or(self.generation);
            state.trees.retain(|_, (_, used)| *used >= oldest);
            state.children = state.trees.values().map(|(c, _)| c.len().max(1)).sum();
            if state.children + size > max {
                state.trees.clear();
                state.children = 0;
            }
        }
        let generation = self.generation;
        if let Some((old, _)) = state.trees.insert(id, (children, generation)) {
            state.children -= old.len().max(1);
        }
        state.children += size;
    }
}

impl Drop for Listing<'_> {
    fn drop(&mut self) {
        let generation = self.generation;
        self.cache.state().running.retain(|g| *g != generation);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn children(n: usize) -> Children {
        (0..n)
            .map(|i| Child {
                name: format!("f{i}"),
                oid: ObjectId::null(gix::hash::Kind::Sha1),
                kind: ChildKind::Submodule,
            })
            .collect()
    }

    fn id(n: u8) -> ObjectId {
        ObjectId::from_bytes_or_panic(&[n; 20])
    }

    #[test]
    fn a_full_cache_keeps_the_trees_of_the_latest_listing() {
        let cache = TreeCache::new(10);
        let first = cache.begin();
        first.insert(id(1), children(4));
        first.insert(id(2), children(4));
        drop(first);
        let second = cache.begin();
        assert!(second.get(&id(1)).is_some());
        // Over the limit: tree 2 (not used by the second listing) makes room.
        second.insert(id(3), children(4));
        assert!(second.get(&id(1)).is_some());
        assert!(second.get(&id(2)).is_none());
        assert!(second.get(&id(3)).is_some());
        assert_eq!(cache.len(), 2);
    }

    #[test]
    fn a_listing_does_not_evict_the_trees_of_one_running_beside_it() {
        let cache = TreeCache::new(12);
        let done = cache.begin();
        done.insert(id(1), children(4));
        drop(done);
        let (a, b) = (cache.begin(), cache.begin());
        a.insert(id(2), children(4));
        b.insert(id(3), children(4));
        // Full: the finished listing's tree goes, the running ones' stay.
        a.insert(id(4), children(4));
        assert!(a.get(&id(1)).is_none());
        assert!(a.get(&id(2)).is_some());
        assert!(b.get(&id(3)).is_some());
        assert!(a.get(&id(4)).is_some());
        // Full again with nothing finished to pick: it starts over rather than scanning again.
        b.insert(id(5), children(4));
        assert_eq!(cache.len(), 1);
        assert!(b.get(&id(5)).is_some());
        drop((a, b));
        assert!(
            cache.state().running.is_empty(),
            "ended listings are forgotten"
        );
    }

    #[test]
    fn a_tree_larger_than_the_cache_is_not_kept() {
        let cache = TreeCache::new(3);
        let listing = cache.begin();
        listing.insert(id(1), children(4));
        assert!(listing.get(&id(1)).is_none());
        let disabled = TreeCache::new(0);
        let listing = disabled.begin();
        listing.insert(id(1), children(0));
        assert!(listing.get(&id(1)).is_none());
    }
}
