//! Running one call on the current thread: a fresh `Store` whose memory limiter, fuel and
//! epoch deadline are set before instantiation, the ABI exchange, and wasmtime's failures
//! turned into [`SandboxError`]s. A store, and so an instance, never outlives its call: a
//! trapped instance is never reused.

use std::sync::Arc;
use std::time::Instant;

use rtfs::Value;
use rtfs::encoding::{DecodeError, DecodeLimits, decode};
use wasmtime::{Store, Trap};

use crate::abi::{self, bounded, violation};
use crate::capability::{Capability, hex};
use crate::config::Limits;
use crate::dispatch::Dispatcher;
use crate::error::{FailedCall, SandboxError};
use crate::limiter::MemoryLimiter;
use crate::sandbox::Inner;
use crate::wasi::wasi_for;

/// Longest log line kept, in bytes.
pub(crate) const MAX_LOG_LINE: usize = 8 << 10;
/// Log text kept per call level, in bytes; lines past it are dropped.
pub(crate) const MAX_LOG_TOTAL: usize = 1 << 20;

/// A line a guest logged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLine {
    /// 0 error, 1 warn, 2 info, 3 debug, 4 trace.
    pub level: u8,
    /// The text (bounded).
    pub text: String,
}

/// What a successful call produced.
#[derive(Debug)]
pub struct Outcome {
    /// The capability's result.
    pub value: Value,
    /// Fuel consumed, nested calls included.
    pub fuel_used: u64,
    /// Lines logged, nested calls included.
    pub logs: Vec<LogLine>,
}

thread_local! {
    /// Set while a call executes on this thread.
    static IN_CALL: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether a call is executing on this thread (so a new top-level call would wait on a
/// worker its caller may hold).
pub(crate) fn in_call() -> bool {
    IN_CALL.with(|c| c.get())
}

/// Per-call state in the `Store`.
pub(crate) struct CallState {
    pub(crate) limiter: MemoryLimiter,
    pub(crate) sandbox: Arc<Inner>,
    pub(crate) dispatcher: Arc<dyn Dispatcher>,
    /// 0 for a top-level call, n for a call nested n deep through `kiln.call`.
    pub(crate) depth: u32,
    pub(crate) deadline: Instant,
    pub(crate) logs: Vec<LogLine>,
    /// Text logged so far through `kiln.log`.
    pub(crate) log_bytes: usize,
    /// Only for modules that import WASI.
    pub(crate) wasi: Option<wasmtime_wasi::p1::WasiP1Ctx>,
}

/// Runs one call on this thread, in a `capability_call` span. On failure, the fuel used comes
/// with the error.
pub(crate) fn execute(
    inner: &Arc<Inner>,
    cap: &Capability,
    input: &[u8],
    limits: Limits,
    dispatcher: Arc<dyn Dispatcher>,
    depth: u32,
) -> Result<Outcome, FailedCall> {
    let span = tracing::debug_span!("capability_call", module = %hex(&cap.hash[..6]), depth);
    let _entered = span.enter();
    let started = Instant::now();
    let result = execute_here(inner, cap, input, limits, dispatcher, depth);
    let us = started.elapsed().as_micros() as u64;
    match &result {
        Ok(o) => {
            for l in &o.logs {
                // Guest text is untrusted: `?` prints it escaped (no terminal control codes).
                tracing::debug!(target: "kiln::guest", level = l.level, text = ?l.text);
            }
            tracing::debug!(fuel = o.fuel_used, us, "capability returned");
        }
        Err(f) => tracing::debug!(fuel = f.fuel_used, us, error = %f.error, "capability failed"),
    }
    result
}

/// How deep a value crossing the ABI may nest: RTFS's value-depth limit, so that any value a
/// plan may hold can be passed to a capability and returned by one.
const VALUE_DEPTH: u32 = 1000;

/// Decode limits for values crossing the ABI: at most `max` bytes, nested at most 1 000 deep.
pub(crate) fn decode_limits(max: u64) -> DecodeLimits {
    DecodeLimits {
        max_depth: VALUE_DEPTH,
        max_bytes: max as usize,
    }
}

/// Decodes a guest's result envelope: the envelope is one map around the value, a level that
/// is the ABI's and not the value's, so the value itself may still nest 1 000 deep.
fn decode_envelope(bytes: &[u8], max: u64) -> Result<Value, SandboxError> {
    let limits = DecodeLimits {
        max_depth: VALUE_DEPTH + 1,
        ..decode_limits(max)
    };
    decode(bytes, limits).map_err(|e| match e {
        DecodeError::TooDeep(_) => violation(format!(
            "undecodable result: the value nests deeper than {VALUE_DEPTH}"
        )),
        e => violation(format!("undecodable result: {e}")),
    })
}

fn execute_here(
    inner: &Arc<Inner>,
    cap: &Capability,
    input: &[u8],
    limits: Limits,
    dispatcher: Arc<dyn Dispatcher>,
    depth: u32,
) -> Result<Outcome, FailedCall> {
    struct InCall(bool);
    impl Drop for InCall {
        fn drop(&mut self) {
            IN_CALL.with(|c| c.set(self.0));
        }
    }
    let _guard = InCall(IN_CALL.with(|c| c.replace(true)));
    let cfg = &inner.config;
    let memory_limit = limits.memory_bytes.min(cfg.engine.max_memory_bytes);
    let timeout_ms = limits.timeout.as_millis() as u64;
    let state = CallState {
        limiter: MemoryLimiter::new(memory_limit, inner.budget.clone()),
        sandbox: inner.clone(),
        dispatcher,
        depth,
        deadline: Instant::now() + limits.timeout,
        logs: Vec::new(),
        log_bytes: 0,
        wasi: None,
    };
    let mut store = Store::new(&inner.engine, state);
    store.limiter(|s| &mut s.limiter);
    let output = if cap.pre.facts.uses_wasi {
        let (ctx, output) =
            wasi_for(&cap.grants, &cap.dirs, limits.deterministic).map_err(|e| e.after(0))?;
        store.data_mut().wasi = Some(ctx);
        Some(output)
    } else {
        None
    };
    store
        .set_fuel(limits.fuel)
        .map_err(|e| SandboxError::Internal(e.to_string()).after(0))?;
    let tick = cfg.engine.epoch_tick.as_millis().max(1) as u64;
    store.set_epoch_deadline(timeout_ms.div_ceil(tick).max(1));
    store.epoch_deadline_trap();
    let used = |store: &Store<CallState>| limits.fuel - store.get_fuel().unwrap_or(0);
    let instance = match cap.pre.pre.instantiate(&mut store) {
        Ok(i) => i,
        Err(e) => {
            let u = used(&store);
            return Err(classify(e, u, timeout_ms).after(u));
        }
    };
    let result = cap
        .pre
        .exports
        .exchange(&mut store, &instance, input, cfg.max_value_bytes);
    let u = used(&store);
    if let Some(output) = output {
        let lines = output.log_lines();
        store.data_mut().logs.extend(lines);
    }
    let bytes = result.map_err(|e| classify(e, u, timeout_ms).after(u))?;
    let value = decode_envelope(&bytes, cfg.max_value_bytes).map_err(|e| e.after(u))?;
    let value = abi::open_envelope(value).map_err(|e| e.after(u))?;
    let logs = std::mem::take(&mut store.data_mut().logs);
    Ok(Outcome {
        value,
        fuel_used: u,
        logs,
    })
}

/// Turns a wasmtime failure into our error.
fn classify(e: wasmtime::Error, used: u64, timeout_ms: u64) -> SandboxError {
    if let Some(s) = e.downcast_ref::<SandboxError>() {
        return s.clone();
    }
    if let Some(t) = e.downcast_ref::<Trap>() {
        return match t {
            Trap::OutOfFuel => SandboxError::FuelExhausted { used },
            Trap::Interrupt => SandboxError::Deadline { ms: timeout_ms },
            Trap::StackOverflow => SandboxError::StackOverflow,
            other => SandboxError::Trap {
                code: other.to_string(),
            },
        };
    }
    SandboxError::Trap {
        code: bounded(&format!("{e:#}"), 1024),
    }
}
