//! The plans of a run's selected local plugins, made in order on a blocking thread one plugin
//! ahead of the writes: reading and validating the next plugin's files overlaps the previous
//! plugin's transaction instead of waiting for it.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::mpsc;
use trove_discovery::PluginCandidate;
use trove_sources::RepoSnapshot;

use super::desired::{PluginPlan, plan_plugin};

/// A plugin to plan and the digests its live bindings were read from (identity path → digest).
pub(super) type PlanWork = (Arc<PluginCandidate>, HashMap<String, String>);

/// Plans arriving in the order their work was given.
pub(super) struct LocalPlans {
    plans: mpsc::Receiver<PluginPlan>,
}

impl LocalPlans {
    /// Starts planning `work` against `snap`. At most one finished plan waits while the next is
    /// made, so memory holds two plugins' contents at most; dropping this stops the planning.
    pub(super) fn start(snap: RepoSnapshot, work: Vec<PlanWork>) -> Self {
        let (tx, plans) = mpsc::channel(1);
        tokio::task::spawn_blocking(move || {
            for (candidate, known) in work {
                if tx
                    .blocking_send(plan_plugin(&snap, &candidate, known))
                    .is_err()
                {
                    // The run stopped (an error, or it was dropped): nobody needs the rest.
                    return;
                }
            }
        });
        LocalPlans { plans }
    }

    /// The next plan, in the order of the work.
    pub(super) async fn next(&mut self) -> Result<PluginPlan, String> {
        self.plans
            .recv()
            .await
            .ok_or_else(|| "planning stopped before this plugin".to_owned())
    }
}
