//! Running a plan under governance (`kiln run`): `plan.start` on the chain, evaluation on a
//! sandbox worker with the constitution's step, fuel and time budget, every `call` through the
//! governed dispatcher, the buffered entries committed, `plan.end` with the outcome.

use std::sync::Arc;
use std::time::{Duration, Instant};

use kiln_store::{Cost, Hash, Record};
use rtfs::Value;
use rtfs::vm::{CallFailure, CallRequest, Host, Reason};

use crate::caps::{Failure, Runtime};
use crate::dispatch::{Budget, Governed};

/// How a plan run ended.
pub enum PlanEnd {
    /// A value, encoded (values do not cross threads).
    Value(Vec<u8>),
    /// An error, rendered with its source location; `blocked` when it was a refusal or a wait
    /// for approval (exit code 3).
    Error {
        /// The error's kind, e.g. `error/capability`.
        kind: String,
        /// The rendered report.
        rendered: String,
        /// Denied or pending approval.
        blocked: bool,
        /// The approval request the run waits for.
        approval: Option<i64>,
    },
}

/// A finished run.
pub struct PlanRun {
    /// The run's id: the seq of its `plan.start` entry.
    pub id: u64,
    /// How it ended.
    pub end: PlanEnd,
    /// Steps used.
    pub steps: u64,
    /// Fuel used.
    pub fuel: u64,
}

pub(crate) struct PlanHost {
    pub(crate) gov: Arc<Governed>,
    pub(crate) plan_ms: u64,
}

impl Host for PlanHost {
    fn call(&mut self, request: &CallRequest<'_>, charge: &mut u64) -> Result<Value, CallFailure> {
        let r = self.gov.plan_call(request);
        // A nested plan's steps count against this one: one budget for the whole run.
        *charge = self
            .gov
            .steps_spent
            .swap(0, std::sync::atomic::Ordering::SeqCst);
        r
    }

    fn poll(&mut self) -> rtfs::Result<()> {
        match budget_stop(self.gov.budget(), self.plan_ms) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// The limit error of a run whose fuel budget is spent or whose time is up, if so.
fn budget_stop(b: &Budget, plan_ms: u64) -> Option<rtfs::Error> {
    if b.spent() {
        return Some(rtfs::Error::new(
            rtfs::Kind::Limit,
            format!("the plan's wasm-fuel budget of {} is spent", b.fuel_total),
            vec![
                ("limit", Value::keyword("wasm-fuel")),
                ("max", Value::Int(b.fuel_total.min(i64::MAX as u64) as i64)),
            ],
        ));
    }
    if Instant::now() >= b.deadline {
        return Some(rtfs::Error::limit(rtfs::LimitKind::Time, plan_ms));
    }
    None
}

/// A run's result, checked against its budget once more when it ends: a plan that caught
/// the failure of the call that spent its fuel (or ran out of time) and finished before its
/// next poll still stops — the budget is a limit, never a catchable error.
pub(crate) fn settle<T>(gov: &Governed, plan_ms: u64, result: rtfs::Result<T>) -> rtfs::Result<T> {
    match result {
        Ok(v) => match budget_stop(gov.budget(), plan_ms) {
            Some(e) => Err(e),
            None => Ok(v),
        },
        Err(e) => Err(e),
    }
}

/// When a run stopped on one of the constitution's plan budgets (steps, wasm fuel, wall
/// time), records the refusal as a `quota` entry naming the quota and its value.
pub(crate) fn record_budget_stop(gov: &Governed, e: &rtfs::Error) -> Result<(), Failure> {
    if !e.is(rtfs::Kind::Limit) {
        return Ok(());
    }
    let q = &gov.rt.kernel().constitution.quotas;
    let (quota, max) = match e.data().get_key("limit") {
        Some(Value::Keyword(k)) if k.as_str() == "steps" => ("plan-steps", q.plan_steps),
        Some(Value::Keyword(k)) if k.as_str() == "wasm-fuel" => {
            ("plan-wasm-fuel", q.plan_wasm_fuel)
        }
        Some(Value::Keyword(k)) if k.as_str() == "time" => ("plan-ms", q.plan_ms),
        _ => return Ok(()),
    };
    gov.record_now(
        "quota",
        Value::map(vec![
            (Value::keyword("quota"), Value::keyword(quota)),
            (
                Value::keyword("max"),
                Value::Int(max.min(i64::MAX as u64) as i64),
            ),
            (
                Value::keyword("plan"),
                gov.plan.map_or(Value::Nil, |p| Value::Int(p as i64)),
            ),
            (Value::keyword("message"), Value::str(e.message())),
        ]),
        "stopped",
    )
    .map_err(|f| Failure(f.message))
}

fn blocked(e: &rtfs::Error) -> bool {
    let reason = e.data().get_key("reason");
    matches!(reason, Some(Value::Keyword(k))
        if k.as_str() == Reason::Denied.as_str() || k.as_str() == Reason::PendingApproval.as_str())
}

/// Runs `source` (named `name`) as a human-launched plan.
pub fn run(rt: Arc<Runtime>, source: String, name: String) -> Result<PlanRun, Failure> {
    let kernel = rt.kernel();
    let q = kernel.constitution.quotas.clone();
    let id = kernel.start_plan(
        None,
        &name,
        &source,
        Value::map(vec![
            (Value::keyword("source"), Value::str(&name)),
            (
                Value::keyword("source-hash"),
                Value::str(&Hash::of(source.as_bytes()).hex()),
            ),
        ]),
    )?;
    let budget = Arc::new(Budget::new(
        q.plan_wasm_fuel,
        Duration::from_millis(q.plan_ms),
    ));
    let gov = Governed::new(rt.clone(), Some(id), budget.clone());
    let started = Instant::now();
    let worker_gov = gov.clone();
    let steps_limit = q.plan_steps;
    let plan_ms = q.plan_ms;
    let (end, steps, stopped) = rt
        .sandbox()
        .run_on_worker(move || {
            let limits = rtfs::Limits {
                steps: steps_limit,
                ..rtfs::Limits::default()
            };
            let mut it = rtfs::Interpreter::new(limits);
            let mut host = PlanHost {
                gov: worker_gov,
                plan_ms,
            };
            let result = it
                .compile(&source, Some(&name))
                .and_then(|p| it.run(&p, &mut host));
            let result = settle(&host.gov, plan_ms, result);
            let steps = it.last_steps();
            let stopped = match &result {
                Err(e) => record_budget_stop(&host.gov, e).err(),
                Ok(_) => None,
            };
            let end = match result {
                Ok(v) => match rtfs::encoding::encode(&v) {
                    Ok(bytes) => PlanEnd::Value(bytes),
                    Err(e) => PlanEnd::Error {
                        kind: "error/type".into(),
                        rendered: format!("error: the plan's result is not data: {e}\n"),
                        blocked: false,
                        approval: None,
                    },
                },
                Err(e) => PlanEnd::Error {
                    kind: e.kind().to_string(),
                    rendered: crate::report::render_error(&e, Some((&name, &source))),
                    blocked: blocked(&e),
                    approval: match e.data().get_key("approval") {
                        Some(Value::Int(n)) => Some(*n),
                        _ => None,
                    },
                },
            };
            (end, steps, stopped)
        })
        .map_err(|e| Failure(e.to_string()))?;
    // The run ends on the chain whatever happened; a failure to record its quota stop (or
    // to commit its buffered entries) is reported after.
    let flushed = gov.flush();
    let fuel = budget.fuel_total - budget.fuel_left();
    let outcome = match &end {
        PlanEnd::Value(_) => "ok",
        PlanEnd::Error { blocked: true, .. } => "blocked",
        PlanEnd::Error { .. } => "error",
    };
    let output = match &end {
        PlanEnd::Value(bytes) => rtfs::encoding::decode(bytes, Default::default())
            .ok()
            .and_then(|v| kernel.home.record_value(&v).ok()),
        PlanEnd::Error { .. } => None,
    };
    let mut subject = vec![(Value::keyword("plan"), Value::Int(id as i64))];
    if let PlanEnd::Error { kind, .. } = &end {
        subject.push((Value::keyword("error"), Value::keyword(kind)));
    }
    kernel.end_plan(
        id,
        false,
        Record {
            output,
            outcome: outcome.into(),
            cost: Cost {
                steps,
                fuel,
                ms: started.elapsed().as_millis() as u64,
                llm: 0,
            },
            ..Record::ok("plan.end", Value::map(subject))
        },
    )?;
    if let Some(e) = stopped {
        return Err(e);
    }
    flushed?;
    Ok(PlanRun {
        id,
        end,
        steps,
        fuel,
    })
}
