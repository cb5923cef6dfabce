//! kiln-kernel — the governance kernel: the gate that decides and records every action
//! ([`gate`]), the one dispatcher for every capability call ([`dispatch`]), the plan runner
//! ([`run`]), kiln's native capabilities ([`natives`]), and the human's commands
//! ([`kernel`], [`install`], [`call`]) and reads ([`records`], [`proof`]). It returns data; the
//! `kiln` binary (crate `kiln`, `runtime/cli`) parses arguments and prints.
//!
//! The modules depend one way (each only on those listed before it): `error`, `governance`,
//! `diagnostic`, `decision`, `approval`, `manifest`, `policy`, `journal`, `gate`, `kernel`,
//! `loader`, `runtime`, `byte_quota`, `dispatch`, `run`, `natives`, `install`, `call`,
//! `records`, `proof`. This file wires them together: the natives are handed to the
//! dispatcher from here.

#![forbid(unsafe_code)]

pub mod approval;
pub mod byte_quota;
pub mod call;
pub mod datasets;
pub mod decision;
pub mod diagnostic;
pub mod dispatch;
pub mod error;
pub mod gate;
pub mod governance;
pub mod install;
pub mod journal;
pub mod kernel;
pub mod loader;
pub mod manifest;
pub mod natives;
pub mod policy;
pub mod proof;
pub mod records;
pub mod run;
pub mod runtime;
pub mod scope;

use std::path::Path;
use std::sync::Arc;

pub use error::{Blocked, KernelError, Result};
/// The offline synthesizer, as `kiln synth` and `planner.synthesize_capability` use it.
pub use kiln_synth as synth;
pub use runtime::Runtime;

/// Opens the home at `dir` for a command that changes it (creating it): the kernel, the
/// sandbox, and — when this build's differ from the home's — kiln's native versions,
/// registered on the chain. `trust` may only lower the level.
pub fn open(dir: &Path, trust: Option<u8>) -> Result<Arc<Runtime>> {
    let rt = Runtime::open(dir, trust)?;
    let releases: Vec<_> = natives::ALL.iter().map(|n| n.release()).collect();
    rt.kernel().sync_natives(&releases);
    Ok(Arc::new(rt))
}

/// Opens the home at `dir` for a human command that changes it but runs nothing (approvals,
/// rollback, gc, undo, a new constitution): the kernel alone, with kiln's natives registered.
pub fn open_kernel(dir: &Path) -> Result<kernel::Kernel> {
    let kernel = kernel::Kernel::open(dir, None)?;
    let releases: Vec<_> = natives::ALL.iter().map(|n| n.release()).collect();
    kernel.sync_natives(&releases);
    Ok(kernel)
}

/// `kiln run`: runs `source` (named `name`) as a human-launched plan, with the datasets the
/// human hands over.
pub fn run_plan(
    rt: Arc<Runtime>,
    source: String,
    name: String,
    datasets: datasets::Datasets,
) -> Result<run::PlanRun> {
    run::run(rt, natives::ALL, source, name, Arc::new(datasets))
}

/// The seed's sample meta-plan, verbatim (`plans/self-programming.rtfs`): a goal decomposed,
/// what is missing synthesized, a plan generated, validated and executed.
pub const META_PLAN: &str = include_str!("../../../plans/self-programming.rtfs");

/// The goal the meta-plan is written for.
pub const META_PLAN_GOAL: &str = "group issues by label and count";

/// The meta-plan with `goal` in place of its own (`kiln goal`).
pub fn goal_plan(goal: &str) -> String {
    let literal = rtfs::print::print(&rtfs::Value::str(goal));
    META_PLAN.replacen(&format!("{META_PLAN_GOAL:?}"), &literal, 1)
}

/// `kiln call`: calls `spec` on `arg` as the human.
pub fn call(
    rt: Arc<Runtime>,
    spec: &str,
    arg: &rtfs::Value,
    limits: kiln_sandbox::Limits,
) -> Result<call::Called> {
    call::call(rt, natives::ALL, spec, arg, limits)
}
