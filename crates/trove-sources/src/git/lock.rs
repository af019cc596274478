//! Mutual exclusion on one cache entry: an async mutex per entry inside the process (waiting
//! costs no thread) and an advisory file lock across processes (a worker and a server sharing one
//! data directory). The file lock dies with its process, so a killed worker never leaves a stale
//! lock behind.

use std::collections::HashMap;
use std::fs::{File, OpenOptions, TryLockError};
use std::path::Path;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use crate::source::SourceError;

/// Per-entry async mutexes, created on demand and dropped when no one holds or waits on them.
#[derive(Debug, Default)]
pub(crate) struct KeyedLocks {
    map: Mutex<HashMap<String, Weak<tokio::sync::Mutex<()>>>>,
}

impl KeyedLocks {
    /// The mutex for `key` (shared by every caller using the same key right now).
    pub fn get(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        // A poisoned map only means another thread panicked while inserting; the map itself is
        // still consistent, so keep using it.
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(m) = map.get(key).and_then(Weak::upgrade) {
            return m;
        }
        map.retain(|_, w| w.strong_count() > 0);
        let m = Arc::new(tokio::sync::Mutex::new(()));
        map.insert(key.to_owned(), Arc::downgrade(&m));
        m
    }
}

/// An exclusive advisory lock on a file, released on drop (or when the process dies).
#[derive(Debug)]
pub(crate) struct FileLock {
    file: File,
}

impl FileLock {
    /// Takes the lock on `path` (created if missing), polling until `deadline`. Blocking: call it
    /// from a blocking thread.
    pub fn acquire(path: &Path, deadline: Instant, timeout: Duration) -> Result<Self, SourceError> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(|e| SourceError::Git(format!("cannot open cache lock file: {e}")))?;
        let mut pause = Duration::from_millis(5);
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(FileLock { file }),
                Err(TryLockError::WouldBlock) => {
                    if Instant::now() >= deadline {
                        return Err(SourceError::Timeout(timeout));
                    }
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(100));
                }
                Err(TryLockError::Error(e)) => {
                    return Err(SourceError::Git(format!("cannot lock the cache: {e}")));
                }
            }
        }
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        // Closing the descriptor releases the lock anyway; unlocking first just makes it prompt.
        let _ = self.file.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_holder_waits_until_the_first_drops() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("x.lock");
        let t = Duration::from_millis(50);
        let first = FileLock::acquire(&path, Instant::now() + t, t).expect("first");
        assert!(matches!(
            FileLock::acquire(&path, Instant::now() + t, t),
            Err(SourceError::Timeout(_))
        ));
        drop(first);
        FileLock::acquire(&path, Instant::now() + t, t).expect("after release");
    }

    #[test]
    fn keyed_locks_share_per_key() {
        let locks = KeyedLocks::default();
        let a = locks.get("a");
        assert!(Arc::ptr_eq(&a, &locks.get("a")));
        assert!(!Arc::ptr_eq(&a, &locks.get("b")));
    }
}
