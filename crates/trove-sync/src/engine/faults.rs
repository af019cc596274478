//! A test-only fault hook: named points between reconcile steps where a test can make the run fail
//! (as if the worker were killed there). Always compiled so the crash tests exercise the real code
//! path; inert unless a test arms a point.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use trove_core::{AppError, AppResult};

/// The points a reconcile checks, in the order it reaches them.
pub mod points {
    /// After the lease is taken and the event marked running, before any read.
    pub const STARTED: &str = "started";
    /// After the snapshot and discovery, before any plugin is written.
    pub const DISCOVERED: &str = "discovered";
    /// Inside a plugin's transaction, after its objects are written but before the commit (the
    /// transaction is rolled back).
    pub const PLUGIN_BEFORE_COMMIT: &str = "plugin_before_commit";
    /// After a plugin's transaction committed, before the next plugin.
    pub const PLUGIN_COMMITTED: &str = "plugin_committed";
    /// After every plugin, before the target is marked synced.
    pub const BEFORE_SYNCED: &str = "before_synced";
}

/// Armed fault points: `arm(point, n)` makes the `n`-th pass through `point` fail (once).
#[derive(Debug, Clone, Default)]
pub struct Faults {
    armed: Arc<Mutex<HashMap<String, u32>>>,
}

impl Faults {
    /// No armed points.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes the `nth` (1-based) pass through `point` fail, once.
    pub fn arm(&self, point: &str, nth: u32) {
        if let Ok(mut armed) = self.armed.lock() {
            armed.insert(point.to_owned(), nth.max(1));
        }
    }

    /// Disarms every point.
    pub fn clear(&self) {
        if let Ok(mut armed) = self.armed.lock() {
            armed.clear();
        }
    }

    /// Called by the engine at `point`: an error when the point is armed and its count is reached.
    pub fn check(&self, point: &str) -> AppResult<()> {
        let Ok(mut armed) = self.armed.lock() else {
            return Ok(());
        };
        let Some(left) = armed.get_mut(point) else {
            return Ok(());
        };
        *left -= 1;
        if *left == 0 {
            armed.remove(point);
            return Err(AppError::Unavailable(format!(
                "fault injected at `{point}`"
            )));
        }
        Ok(())
    }
}
