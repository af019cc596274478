//! A progress sink that enforces the download budget.
//!
//! gix reports every byte of an incoming pack to the "read pack" progress child before writing it;
//! counting there and raising the interrupt flag once the budget is spent stops the download within
//! one read buffer of the limit, instead of after the whole pack landed on disk.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use gix::progress::{Id, MessageLevel, Step, StepShared, Unit};
use gix::{Count, NestedProgress, Progress};

/// The id gix gives the progress of reading pack bytes off the wire.
fn read_pack_id() -> Id {
    gix::odb::pack::bundle::write::ProgressId::ReadPackBytes.into()
}

/// Shared between all progress children of one fetch.
#[derive(Debug)]
pub(crate) struct Budget {
    limit: u64,
    received: AtomicU64,
    exceeded: AtomicBool,
    interrupt: Arc<AtomicBool>,
}

impl Budget {
    /// A budget of `limit` pack bytes; when spent, `interrupt` is raised.
    pub fn new(limit: u64, interrupt: Arc<AtomicBool>) -> Arc<Self> {
        Arc::new(Budget {
            limit,
            received: AtomicU64::new(0),
            exceeded: AtomicBool::new(false),
            interrupt,
        })
    }

    /// True once more than the limit was received.
    pub fn exceeded(&self) -> bool {
        self.exceeded.load(Ordering::SeqCst)
    }

    /// Pack bytes received so far.
    pub fn received(&self) -> u64 {
        self.received.load(Ordering::SeqCst)
    }

    fn account(&self, total: u64) {
        if total > self.limit {
            self.exceeded.store(true, Ordering::SeqCst);
            self.interrupt.store(true, Ordering::SeqCst);
        }
    }
}

/// The progress implementation handed to gix: discards everything except pack byte counts.
#[derive(Debug, Clone)]
pub(crate) struct BudgetProgress {
    id: Id,
    budget: Arc<Budget>,
    counter: StepShared,
}

impl BudgetProgress {
    /// The root progress of one fetch.
    pub fn new(budget: Arc<Budget>) -> Self {
        BudgetProgress {
            id: gix::progress::UNKNOWN,
            budget,
            counter: Arc::new(AtomicUsize::new(0)),
        }
    }

    fn is_pack_reader(&self) -> bool {
        self.id == read_pack_id()
    }
}

impl Count for BudgetProgress {
    fn set(&self, step: Step) {
        self.counter.store(step, Ordering::Relaxed);
        if self.is_pack_reader() {
            self.budget.received.store(step as u64, Ordering::SeqCst);
            self.budget.account(step as u64);
        }
    }

    fn step(&self) -> Step {
        self.counter.load(Ordering::Relaxed)
    }

    fn inc_by(&self, step: Step) {
        self.counter.fetch_add(step, Ordering::Relaxed);
        if self.is_pack_reader() {
            let total = self
                .budget
                .received
                .fetch_add(step as u64, Ordering::SeqCst)
                .saturating_add(step as u64);
            self.budget.account(total);
        }
    }

    fn counter(&self) -> StepShared {
        self.counter.clone()
    }
}

impl Progress for BudgetProgress {
    fn init(&mut self, _max: Option<Step>, _unit: Option<Unit>) {}

    fn set_name(&mut self, _name: String) {}

    fn name(&self) -> Option<String> {
        None
    }

    fn id(&self) -> Id {
        self.id
    }

    fn message(&self, _level: MessageLevel, _message: String) {}
}

impl NestedProgress for BudgetProgress {
    type SubProgress = BudgetProgress;

    fn add_child(&mut self, _name: impl Into<String>) -> Self::SubProgress {
        self.add_child_with_id(String::new(), gix::progress::UNKNOWN)
    }

    fn add_child_with_id(&mut self, _name: impl Into<String>, id: Id) -> Self::SubProgress {
        BudgetProgress {
            id,
            budget: self.budget.clone(),
            counter: Arc::new(AtomicUsize::new(0)),
        }
    }
}
