//! kiln's native capabilities: host code reached through the same dispatcher as sandboxed
//! capabilities, one file per namespace. Each is a thin governed adapter: it decides through
//! the gate (via its [`NativeContext`]) and changes nothing except on a permit.

pub mod planner;

use rtfs::Value;
use rtfs::host::{CallFailure, Reason};

use crate::dispatch::{Native, NativeContext, Natives};

/// Every native capability this kiln ships.
pub static ALL: Natives = &[
    &planner::RegisterCapability,
    &planner::ExecutePlan,
    &planner::reading::DatasetNative,
    &planner::reading::Decompose,
    &planner::reading::ResolveIntent,
    &planner::synthesis::SynthesizeCapability,
    &planner::reading::GenerateRtfs,
    &planner::reading::ValidatePlan,
    &planner::reading::IntrospectResult,
];

fn fail(reason: Reason, m: impl Into<String>) -> CallFailure {
    CallFailure::new(reason, m)
}

/// The string at `key` of a native's input (its schema is checked already; this names the
/// native when it is missing anyway).
fn text_arg(
    native: &dyn Native,
    arg: &Value,
    key: &str,
    shape: &str,
) -> Result<String, CallFailure> {
    arg.get_key(key)
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| {
            fail(
                Reason::InvalidInput,
                format!("{} expects {shape}", native.id()),
            )
        })
}

/// How long evaluating a capability program for its descriptor may take: 2 s (beside its
/// million steps), since it runs on the host, outside any plan's budget.
const DESCRIPTOR_TIME_MS: u64 = 2_000;

/// Evaluates a capability program on the host (no capabilities: only its descriptor is
/// wanted) and returns its one descriptor.
fn descriptor(source: &str) -> Result<Value, CallFailure> {
    let limits = rtfs::Limits {
        steps: 1_000_000,
        ..rtfs::Limits::default()
    };
    let mut it = rtfs::Interpreter::new(limits);
    let start = std::time::Instant::now();
    let mut host = rtfs::host::TimeLimit::new(
        rtfs::host::DescriptorHost::default(),
        DESCRIPTOR_TIME_MS,
        move || start.elapsed() >= std::time::Duration::from_millis(DESCRIPTOR_TIME_MS),
    );
    it.compile(source, Some("<source>"))
        .and_then(|p| it.run(&p, &mut host))
        .map_err(|e| {
            fail(
                Reason::InvalidInput,
                format!("the program does not evaluate: {}", e.message()),
            )
        })?;
    let descriptors = &mut host.host.descriptors;
    match descriptors.len() {
        1 => Ok(descriptors.remove(0)),
        n => Err(fail(
            Reason::InvalidInput,
            format!("the program must yield exactly one (capability …) descriptor, not {n}"),
        )),
    }
}

/// A kernel failure as the calling plan sees it.
fn failed(e: crate::error::KernelError) -> CallFailure {
    NativeContext::failed(e)
}
