//! Memory limits: the per-call [`MemoryLimiter`] wasmtime consults before a memory or table
//! grows, and the process-wide [`MemoryBudget`] it draws from. Both are in force before the
//! instance exists (the limiter is set on the `Store` before instantiation), so even a start
//! function runs under them.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use wasmtime::ResourceLimiter;

use crate::engine::MAX_TABLE_ELEMENTS;
use crate::error::SandboxError;

/// Linear memory that all running instances of a sandbox may still take, in bytes. Shared by
/// every call; a call gives back what it took when its `Store` is dropped.
#[derive(Clone, Debug)]
pub(crate) struct MemoryBudget(Arc<AtomicU64>);

impl MemoryBudget {
    /// A budget of `bytes`.
    pub(crate) fn new(bytes: u64) -> MemoryBudget {
        MemoryBudget(Arc::new(AtomicU64::new(bytes)))
    }

    /// Bytes left.
    pub(crate) fn left(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }

    /// Takes `bytes` if that many are left; never takes part of them.
    fn take(&self, bytes: u64) -> bool {
        self.0
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
                left.checked_sub(bytes)
            })
            .is_ok()
    }

    fn give_back(&self, bytes: u64) {
        self.0.fetch_add(bytes, Ordering::SeqCst);
    }
}

/// One call's memory limiter: a memory may grow up to `limit` bytes, and only with bytes taken
/// from the process-wide budget; tables up to [`MAX_TABLE_ELEMENTS`].
pub(crate) struct MemoryLimiter {
    limit: u64,
    budget: MemoryBudget,
    /// Taken from the budget so far, given back on drop.
    reserved: u64,
}

impl MemoryLimiter {
    /// A limiter for one call.
    pub(crate) fn new(limit: u64, budget: MemoryBudget) -> MemoryLimiter {
        MemoryLimiter {
            limit,
            budget,
            reserved: 0,
        }
    }
}

impl Drop for MemoryLimiter {
    fn drop(&mut self) {
        self.budget.give_back(self.reserved);
    }
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired as u64 > self.limit {
            return Err(wasmtime::Error::new(SandboxError::MemoryLimit {
                limit: self.limit,
            }));
        }
        let more = (desired - current) as u64;
        if !self.budget.take(more) {
            return Err(wasmtime::Error::new(SandboxError::Busy {
                what: "the process-wide memory budget".into(),
            }));
        }
        self.reserved += more;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}
