//! Reconcile and apply: snapshot, discovery, plan, store; and the job handlers.
