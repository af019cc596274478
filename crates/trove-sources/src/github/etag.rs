//! A bounded memory of `(ETag, body)` per request, so a repeated GET can be answered `304 Not
//! Modified` (free against GitHub's rate limit) and served from here.
//!
//! Keys include the credential identity (the app, an installation id, or a digest of a user
//! token): two installations never see each other's answers. Bounded by entry count and total
//! body bytes; the least recently used entries go first.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// What is remembered of one answer.
#[derive(Debug)]
pub(crate) struct Remembered {
    pub etag: String,
    pub body: Vec<u8>,
    /// The `rel="next"` link of a page, so a cached page still leads to the next one.
    pub next: Option<String>,
}

/// The cache key: request URL, media type asked for, and whose credential asked.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct EtagKey {
    pub url: String,
    pub accept: &'static str,
    pub identity: String,
}

struct Slot {
    value: Arc<Remembered>,
    last_used: u64,
}

struct State {
    slots: HashMap<EtagKey, Slot>,
    bytes: usize,
    clock: u64,
}

/// The bounded cache.
pub(crate) struct EtagCache {
    max_entries: usize,
    max_bytes: usize,
    state: Mutex<State>,
}

impl EtagCache {
    pub fn new(max_entries: usize, max_bytes: usize) -> Self {
        EtagCache {
            max_entries,
            max_bytes,
            state: Mutex::new(State {
                slots: HashMap::new(),
                bytes: 0,
                clock: 0,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The remembered answer for `key`, marking it recently used.
    pub fn get(&self, key: &EtagKey) -> Option<Arc<Remembered>> {
        let mut state = self.lock();
        state.clock += 1;
        let now = state.clock;
        let slot = state.slots.get_mut(key)?;
        slot.last_used = now;
        Some(slot.value.clone())
    }

    /// Remembers `value` for `key`, evicting the least recently used entries to stay in bounds.
    /// A body larger than a quarter of the byte budget is not remembered at all.
    pub fn put(&self, key: EtagKey, value: Remembered) {
        let size = value.body.len();
        if self.max_entries == 0 || size > self.max_bytes / 4 {
            self.remove(&key);
            return;
        }
        let mut state = self.lock();
        state.clock += 1;
        let now = state.clock;
        if let Some(old) = state.slots.remove(&key) {
            state.bytes -= old.value.body.len();
        }
        while !state.slots.is_empty()
            && (state.slots.len() >= self.max_entries || state.bytes + size > self.max_bytes)
        {
            // Linear scan: eviction is rare next to lookups and the cache holds a few thousand
            // entries at most.
            let oldest = state
                .slots
                .iter()
                .min_by_key(|(_, s)| s.last_used)
                .map(|(k, _)| k.clone());
            let Some(oldest) = oldest else { break };
            if let Some(s) = state.slots.remove(&oldest) {
                state.bytes -= s.value.body.len();
            }
        }
        state.bytes += size;
        state.slots.insert(
            key,
            Slot {
                value: Arc::new(value),
                last_used: now,
            },
        );
    }

    /// Forgets `key`.
    pub fn remove(&self, key: &EtagKey) {
        let mut state = self.lock();
        if let Some(s) = state.slots.remove(key) {
            state.bytes -= s.value.body.len();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u32) -> EtagKey {
        EtagKey {
            url: format!("https://api.example/{n}"),
            accept: "application/json",
            identity: "app".to_owned(),
        }
    }

    fn value(len: usize) -> Remembered {
        Remembered {
            etag: "\"e\"".to_owned(),
            body: vec![b'x'; len],
            next: None,
        }
    }

    #[test]
    fn evicts_least_recently_used_by_count() {
        let cache = EtagCache::new(2, 1 << 20);
        cache.put(key(1), value(1));
        cache.put(key(2), value(1));
        assert!(cache.get(&key(1)).is_some());
        cache.put(key(3), value(1));
        assert!(cache.get(&key(1)).is_some());
        assert!(cache.get(&key(2)).is_none());
        assert!(cache.get(&key(3)).is_some());
    }

    #[test]
    fn evicts_to_stay_within_bytes_and_skips_huge_bodies() {
        let cache = EtagCache::new(100, 100);
        cache.put(key(1), value(20));
        cache.put(key(2), value(20));
        cache.put(key(3), value(20));
        cache.put(key(4), value(20));
        cache.put(key(5), value(25));
        assert!(cache.get(&key(1)).is_none());
        assert!(cache.get(&key(5)).is_some());
        assert!(cache.lock().bytes <= 100);
        cache.put(key(6), value(26));
        assert!(cache.get(&key(6)).is_none());
    }
}
