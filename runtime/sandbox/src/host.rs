//! The host functions a guest may import from module `kiln`: `kiln.log` (a bounded line into
//! the call's log) and `kiln.call` (another capability through the [`Dispatcher`], nested on
//! this thread within the caller's fuel and deadline). Both charge fuel for the bytes they
//! move, and reach guest memory only through [`crate::abi`].
//!
//! [`Dispatcher`]: crate::Dispatcher

use rtfs::Value;
use rtfs::encoding::{decode, encode};
use wasmtime::{Caller, Linker, Trap};

use crate::abi::{self, violation};
use crate::dispatch::NestedCall;
use crate::effects::KILN_MODULE;
use crate::error::{Result, SandboxError};
use crate::exec::{CallState, LogLine, MAX_LOG_LINE, MAX_LOG_TOTAL, decode_limits};

/// Adds `kiln.log` and `kiln.call` to the linker.
pub(crate) fn add_host_functions(linker: &mut Linker<CallState>) -> Result<()> {
    let internal = |e: wasmtime::Error| SandboxError::Internal(e.to_string());
    linker
        .func_wrap(
            KILN_MODULE,
            "log",
            |mut caller: Caller<'_, CallState>,
             level: i32,
             ptr: i32,
             len: i32|
             -> wasmtime::Result<()> { host_log(&mut caller, level, ptr, len) },
        )
        .map_err(internal)?;
    linker
        .func_wrap(
            KILN_MODULE,
            "call",
            |mut caller: Caller<'_, CallState>,
             id_ptr: i32,
             id_len: i32,
             arg_ptr: i32,
             arg_len: i32|
             -> wasmtime::Result<i64> {
                host_call(&mut caller, id_ptr, id_len, arg_ptr, arg_len)
            },
        )
        .map_err(internal)?;
    Ok(())
}

/// `kiln.log(level, ptr, len)`: keeps the line while the call has logged less than
/// [`MAX_LOG_TOTAL`] bytes.
fn host_log(
    caller: &mut Caller<'_, CallState>,
    level: i32,
    ptr: i32,
    len: i32,
) -> wasmtime::Result<()> {
    charge(caller, 1 + (len.max(0) as u64) / 8)?;
    let memory = abi::guest_memory(caller)?;
    let bytes = abi::read_log_text(&memory, caller, ptr, len, MAX_LOG_LINE)?;
    let state = caller.data_mut();
    if state.log_bytes < MAX_LOG_TOTAL {
        state.log_bytes += bytes.len();
        state.logs.push(LogLine {
            level: level.clamp(0, 4) as u8,
            text: String::from_utf8_lossy(&bytes).into_owned(),
        });
    }
    Ok(())
}

/// `kiln.call(id_ptr, id_len, arg_ptr, arg_len) -> i64`: the callee's result envelope,
/// written into the guest's own `kiln_alloc` buffer. A refusal or failure is an `:error`
/// envelope the guest can handle; only a broken ABI (or the caller's own limits) traps.
fn host_call(
    caller: &mut Caller<'_, CallState>,
    id_ptr: i32,
    id_len: i32,
    arg_ptr: i32,
    arg_len: i32,
) -> wasmtime::Result<i64> {
    let memory = abi::guest_memory(caller)?;
    let max = caller.data().sandbox.config.max_value_bytes;
    let abi::CallRequest { id, arg } =
        abi::read_call_request(&memory, caller, id_ptr, id_len, arg_ptr, arg_len, max)?;
    charge(caller, 100 + arg.len() as u64 / 8)?;
    let state = caller.data();
    let depth = state.depth + 1;
    let limit = state.sandbox.config.engine.max_nesting;
    let envelope = if depth > limit {
        let e = SandboxError::NestingLimit { limit };
        abi::error_envelope("error/capability", &e.to_string(), Value::Nil)
    } else {
        match decode(&arg, decode_limits(max)) {
            Err(e) => {
                return Err(wasmtime::Error::new(violation(format!(
                    "kiln.call argument is undecodable: {e}"
                ))));
            }
            Ok(arg) => {
                let sandbox = state.sandbox.clone();
                let dispatcher = state.dispatcher.clone();
                let deadline = state.deadline;
                let fuel_left = caller.get_fuel()?;
                let mut nested = NestedCall {
                    sandbox: &sandbox,
                    dispatcher: &dispatcher,
                    depth,
                    deadline,
                    fuel_left,
                    fuel_used: 0,
                    logs: Vec::new(),
                };
                let r = dispatcher.dispatch(&mut nested, &id, arg);
                let (used, logs) = (nested.fuel_used, nested.logs);
                caller.set_fuel(fuel_left.saturating_sub(used))?;
                caller.data_mut().logs.extend(logs);
                match r {
                    Ok(v) => abi::ok_envelope(v),
                    Err(e) => failure_envelope(&id, &e),
                }
            }
        }
    };
    let bytes = encode(&envelope)
        .map_err(|e| wasmtime::Error::new(SandboxError::Internal(e.to_string())))?;
    abi::write_call_result(&memory, caller, &bytes)
}

/// The `:error` envelope of a refused or failed `kiln.call`, with the reason a plan would see
/// (LANGUAGE.md §8.2).
fn failure_envelope(id: &str, e: &SandboxError) -> Value {
    let reason = match e {
        SandboxError::Dispatch { reason, .. } => reason.as_str(),
        SandboxError::FuelExhausted { .. }
        | SandboxError::Deadline { .. }
        | SandboxError::MemoryLimit { .. } => "limit",
        _ => "failed",
    };
    abi::error_envelope(
        "error/capability",
        &e.to_string(),
        Value::map(vec![
            (Value::keyword("capability"), Value::str(id)),
            (Value::keyword("reason"), Value::keyword(reason)),
        ]),
    )
}

/// Takes `fuel` from the guest for host work, trapping as out of fuel if it has less.
fn charge(caller: &mut Caller<'_, CallState>, fuel: u64) -> wasmtime::Result<()> {
    let left = caller.get_fuel()?;
    if fuel > left {
        caller.set_fuel(0)?;
        return Err(wasmtime::Error::new(Trap::OutOfFuel));
    }
    caller.set_fuel(left - fuel)
}
