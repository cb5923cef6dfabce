//! The human's `kiln call ID [ARG]`: the active (or pinned `ID@prefix`) version run on ARG,
//! decided and recorded like any call; the capability's own `kiln.call`s go through the same
//! dispatcher as a plan's.

use std::sync::Arc;
use std::time::Instant;

use kiln_sandbox::{Limits, LogLine};
use kiln_store::{Cost, Record};
use rtfs::Value;

use crate::byte_quota::{self, When};
use crate::dispatch::{Budget, Governed, Natives, engine_input};
use crate::error::{KernelError, Result};
use crate::governance::ActionKind;
use crate::runtime::Runtime;

/// What `kiln call` produced.
pub struct Called {
    /// The result.
    pub value: Value,
    /// Fuel used.
    pub fuel: u64,
    /// Lines the capability logged.
    pub logs: Vec<LogLine>,
}

/// Calls `spec` on `arg` as the human, within `limits`.
pub fn call(
    rt: Arc<Runtime>,
    natives: Natives,
    spec: &str,
    arg: &Value,
    limits: Limits,
) -> Result<Called> {
    let span = tracing::info_span!("call", id = spec);
    let _entered = span.enter();
    if !arg.is_data() {
        return Err(KernelError::invalid("the argument must be a data value"));
    }
    let loaded = rt.load(spec)?;
    let id = spec.split('@').next().unwrap_or(spec);
    let gate = rt.kernel().gate();
    let permit = gate.authorize_human(ActionKind::Call, Some(id), &loaded.manifest.effects)?;
    loaded
        .manifest
        .check_input(arg)
        .map_err(KernelError::Invalid)?;
    let policy = rt.kernel().policy();
    byte_quota::check(policy, id, When::Before).map_err(KernelError::Invalid)?;
    let input = engine_input(&rt, id, &loaded, arg).map_err(|f| KernelError::Invalid(f.message))?;
    let gov = Governed::new(
        rt.clone(),
        natives,
        gate.call_journal(&permit),
        Arc::new(Budget::new(limits.fuel, limits.timeout)),
        Arc::new(crate::datasets::Datasets::none()),
    );
    let started = Instant::now();
    let out = rt.sandbox().call(
        &loaded.capability,
        &input,
        limits,
        gov.guest_dispatcher(id, &loaded.manifest.effects),
    );
    gov.flush()?;
    let checked = match &out {
        Ok(o) => loaded
            .manifest
            .check_output(&o.value)
            .and_then(|()| byte_quota::check(policy, id, When::After)),
        Err(_) => Ok(()),
    };
    let home = rt.kernel().home();
    gate.record_call(
        &permit,
        Record {
            input: home.record_value(arg).ok(),
            output: out
                .as_ref()
                .ok()
                .and_then(|o| home.record_value(&o.value).ok()),
            outcome: if out.is_ok() && checked.is_ok() {
                "ok"
            } else {
                "error"
            }
            .into(),
            cost: Cost {
                fuel: out.as_ref().map_or(0, |o| o.fuel_used),
                ms: started.elapsed().as_millis() as u64,
                ..Default::default()
            },
            ..Record::ok(
                "call",
                Value::map(vec![(Value::keyword("capability"), Value::str(id))]),
            )
        },
    )?;
    let out = out?;
    checked.map_err(KernelError::Invalid)?;
    Ok(Called {
        value: out.value,
        fuel: out.fuel_used,
        logs: out.logs,
    })
}

/// Limits from the command line (defaults where absent).
pub fn limits(fuel: Option<u64>, memory: Option<u64>, timeout_ms: Option<u64>) -> Limits {
    let d = Limits::default();
    Limits {
        fuel: fuel.unwrap_or(d.fuel),
        memory_bytes: memory.unwrap_or(d.memory_bytes),
        timeout: timeout_ms.map_or(d.timeout, std::time::Duration::from_millis),
        deterministic: false,
    }
}
