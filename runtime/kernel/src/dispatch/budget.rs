//! A plan run's budget, shared by everything it calls: WebAssembly fuel and wall time for the
//! whole run tree, and the evaluation steps of each level, billed back to the calling plan
//! when a native (a nested plan) spends them on its behalf.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Fuel and time for a run and every run nested in it.
pub struct Budget {
    /// WebAssembly fuel for the whole run.
    pub fuel_total: u64,
    fuel_left: AtomicU64,
    spent: AtomicBool,
    /// Wall-clock end of the run.
    pub deadline: Instant,
}

impl Budget {
    /// A budget of `fuel` and `time`, starting now.
    pub fn new(fuel: u64, time: Duration) -> Budget {
        Budget {
            fuel_total: fuel,
            fuel_left: AtomicU64::new(fuel),
            spent: AtomicBool::new(false),
            deadline: Instant::now() + time,
        }
    }

    /// Fuel left.
    pub fn fuel_left(&self) -> u64 {
        self.fuel_left.load(Ordering::SeqCst)
    }

    /// Charges fuel spent on the plan's behalf.
    pub fn charge(&self, used: u64) {
        let _ = self
            .fuel_left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |l| {
                Some(l.saturating_sub(used))
            });
    }

    /// Whether a call ran out of the plan's fuel: the plan stops at its next poll.
    pub fn spent(&self) -> bool {
        self.spent.load(Ordering::SeqCst)
    }

    /// Marks the fuel as spent.
    pub fn mark_spent(&self) {
        self.spent.store(true, Ordering::SeqCst);
    }

    /// Time left before the deadline.
    pub fn time_left(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }
}

/// The evaluation steps of one run level: what the calling evaluation had left at its last
/// `call`, and what natives spent on its behalf since (billed back at the call's end).
#[derive(Default)]
pub struct Steps {
    left: AtomicU64,
    spent: AtomicU64,
}

impl Steps {
    /// Steps with nothing known yet (no call made).
    pub fn new() -> Steps {
        Steps {
            left: AtomicU64::new(u64::MAX),
            spent: AtomicU64::new(0),
        }
    }

    /// What the evaluation has left, as of its current call.
    pub fn left(&self) -> u64 {
        self.left.load(Ordering::SeqCst)
    }

    /// Sets what the evaluation has left.
    pub fn set_left(&self, n: u64) {
        self.left.store(n, Ordering::SeqCst);
    }

    /// Bills `n` steps spent on the evaluation's behalf.
    pub fn bill(&self, n: u64) {
        self.spent.fetch_add(n, Ordering::SeqCst);
    }

    /// Takes the steps billed so far.
    pub fn take_billed(&self) -> u64 {
        self.spent.swap(0, Ordering::SeqCst)
    }
}
