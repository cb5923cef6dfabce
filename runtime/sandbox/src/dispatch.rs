//! Where `kiln.call` goes: the [`Dispatcher`] trait, which the kernel implements (the sandbox
//! takes the trait and never names the kernel), and [`NestedCall`], the calling guest's
//! remaining budget with a way to run a sandboxed callee nested on the same thread.

use std::sync::Arc;
use std::time::Instant;

use rtfs::Value;
use rtfs::encoding::encode;

use crate::capability::Capability;
use crate::config::Limits;
use crate::error::{FailedCall, Result, SandboxError};
use crate::exec::{LogLine, execute};
use crate::sandbox::Inner;

/// Where `kiln.call` goes: the kernel implements it (governed in #5).
pub trait Dispatcher: Send + Sync {
    /// Runs capability `id` on `arg` for a guest. `call` carries the caller's remaining
    /// budget and can run a sandboxed capability nested on this thread.
    fn dispatch(&self, call: &mut NestedCall<'_>, id: &str, arg: Value) -> Result<Value>;
}

/// A dispatcher with no capabilities: every `kiln.call` is refused.
///
/// ```
/// # use std::sync::Arc;
/// let none: Arc<dyn kiln_sandbox::Dispatcher> = Arc::new(kiln_sandbox::NoDispatch);
/// ```
pub struct NoDispatch;

impl Dispatcher for NoDispatch {
    fn dispatch(&self, _: &mut NestedCall<'_>, id: &str, _: Value) -> Result<Value> {
        Err(SandboxError::Dispatch {
            id: id.into(),
            reason: "unknown".into(),
            message: "no such capability".into(),
        })
    }
}

/// A call in progress, as a dispatcher sees it: the budget left to the calling guest, and a
/// way to run a sandboxed capability nested on this thread.
pub struct NestedCall<'a> {
    pub(crate) sandbox: &'a Arc<Inner>,
    pub(crate) dispatcher: &'a Arc<dyn Dispatcher>,
    pub(crate) depth: u32,
    pub(crate) deadline: Instant,
    pub(crate) fuel_left: u64,
    /// Fuel the callees run through [`NestedCall::run`] used, failed ones included.
    pub(crate) fuel_used: u64,
    /// Lines the successful callees logged.
    pub(crate) logs: Vec<LogLine>,
}

impl NestedCall<'_> {
    /// Nesting depth of the callee (1 for a call made by a top-level guest).
    pub fn depth(&self) -> u32 {
        self.depth
    }

    /// The caller's deadline.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Fuel the caller has left (a callee's fuel is drawn from it).
    pub fn fuel_left(&self) -> u64 {
        self.fuel_left - self.fuel_used
    }

    /// Runs a sandboxed capability for the calling guest, within the caller's remaining fuel
    /// and deadline (and `limits`, whichever is tighter); its own `kiln.call`s go to the same
    /// dispatcher.
    pub fn run(&mut self, cap: &Capability, input: &Value, limits: Limits) -> Result<Value> {
        let dispatcher = self.dispatcher.clone();
        self.run_with(cap, input, limits, dispatcher)
    }

    /// [`NestedCall::run`], the callee's own `kiln.call`s going to `dispatcher` (a dispatcher
    /// that knows what was decided for that callee).
    pub fn run_with(
        &mut self,
        cap: &Capability,
        input: &Value,
        limits: Limits,
        dispatcher: Arc<dyn Dispatcher>,
    ) -> Result<Value> {
        let limits = Limits {
            fuel: limits.fuel.min(self.fuel_left()),
            memory_bytes: limits.memory_bytes,
            timeout: limits
                .timeout
                .min(self.deadline.saturating_duration_since(Instant::now())),
            deterministic: limits.deterministic,
        };
        let bytes = encode(input).map_err(|e| SandboxError::AbiViolation {
            what: format!("input: {e}"),
        })?;
        let r = execute(self.sandbox, cap, &bytes, limits, dispatcher, self.depth);
        match r {
            Ok(o) => {
                self.fuel_used += o.fuel_used;
                self.logs.extend(o.logs);
                Ok(o.value)
            }
            Err(FailedCall { error, fuel_used }) => {
                self.fuel_used += fuel_used;
                Err(error)
            }
        }
    }
}
