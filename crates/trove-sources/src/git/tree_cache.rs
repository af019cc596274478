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

/// A bounded map of decoded trees. Entries not met by the latest listing go first when it is
/// full, so the trees of the repositories being reconciled now stay.
#[derive(Debug)]
pub(crate) struct TreeCache {
    state: Mutex<State>,
    max_children: usize,
}

#[derive(Debug, Default)]
struct State {
    trees: HashMap<ObjectId, (Children, u64)>,
    children: usize,
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

    /// Starts a listing; the returned generation marks the trees it uses.
    pub(crate) fn begin(&self) -> u64 {
        let mut state = self.state();
        state.generation += 1;
        state.generation
    }

    /// The children of tree `id` when known, marked as used by listing `generation`.
    pub(crate) fn get(&self, id: &ObjectId, generation: u64) -> Option<Children> {
        let mut state = self.state();
        let (children, used) = state.trees.get_mut(id)?;
        *used = generation;
        Some(Arc::clone(children))
    }

    /// Remembers the children of tree `id`, making room first when the cache is full.
    pub(crate) fn insert(&self, id: ObjectId, children: Children, generation: u64) {
        let size = children.len().max(1);
        if size > self.max_children {
            return;
        }
        let mut state = self.state();
        if state.children + size > self.max_children {
            state.trees.retain(|_, (_, used)| *used == generation);
            state.children = state.trees.values().map(|(c, _)| c.len().max(1)).sum();
            if state.children + size > self.max_children {
                state.trees.clear();
                state.children = 0;
            }
        }
        if let Some((old, _)) = state.trees.insert(id, (children, generation)) {
            state.children -= old.len().max(1);
        }
        state.children += size;
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.state().trees.len()
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
        cache.insert(id(1), children(4), first);
        cache.insert(id(2), children(4), first);
        let second = cache.begin();
        assert!(cache.get(&id(1), second).is_some());
        // Over the limit: tree 2 (not used by the second listing) makes room.
        cache.insert(id(3), children(4), second);
        assert!(cache.get(&id(1), second).is_some());
        assert!(cache.get(&id(2), second).is_none());
        assert!(cache.get(&id(3), second).is_some());
        assert_eq!(cache.len(), 2);
    }

    #[test]
    fn a_tree_larger_than_the_cache_is_not_kept() {
        let cache = TreeCache::new(3);
        let g = cache.begin();
        cache.insert(id(1), children(4), g);
        assert!(cache.get(&id(1), g).is_none());
        let disabled = TreeCache::new(0);
        disabled.insert(id(1), children(0), g);
        assert!(disabled.get(&id(1), g).is_none());
    }
}
