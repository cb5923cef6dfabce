//! The plan runner — the one sequence for `kiln run` and for `planner.execute_plan`'s nested
//! runs: `plan.start` on the chain, evaluation under the run's step, fuel and time budget with
//! every `call` through the governed dispatcher, a budget stop recorded as a `quota` entry, the
//! journal committed, `plan.end` with the outcome.

use std::sync::Arc;
use std::time::{Duration, Instant};

use kiln_store::{Cost, Hash, Record};
use rtfs::Value;
use rtfs::host::{CallFailure, CallRequest, Host, Reason};

use crate::datasets::Datasets;
use crate::diagnostic::Diagnostic;
use crate::dispatch::{Budget, Governed, NativeContext, Natives};
use crate::error::{KernelError, Result};
use crate::runtime::Runtime;
use crate::scope::Scope;

/// How a plan run ended.
pub enum PlanEnd {
    /// A value, encoded (values do not cross threads).
    Value(Vec<u8>),
    /// An error.
    Error {
        /// What and where.
        diagnostic: Diagnostic,
        /// Denied or pending approval (exit code 3).
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

/// The evaluator's host during a governed run: calls go to the dispatcher; the budget is
/// polled.
struct PlanHost {
    gov: Arc<Governed>,
    plan_ms: u64,
}

impl Host for PlanHost {
    fn call(&mut self, request: &CallRequest<'_>, charge: &mut u64) -> Result<Value, CallFailure> {
        let r = self.gov.plan_call(request);
        // A nested plan's steps count against this one: one budget for the whole run.
        *charge = self.gov.steps().take_billed();
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

/// Evaluates `source` on `gov` with `steps`, and settles the result against the budget once
/// more: a plan that caught the failure of the call that spent its fuel (or ran out of time)
/// and finished before its next poll still stops — the budget is a limit, never a catchable
/// error. A stop on one of the constitution's budgets is recorded as a `quota` entry naming
/// it. Returns the result, the steps used, and a failure to record the stop.
fn evaluate(
    gov: &Arc<Governed>,
    source: &str,
    name: &str,
    steps: u64,
) -> (rtfs::Result<Value>, u64, Option<KernelError>) {
    let plan_ms = gov.runtime().kernel().policy().constitution.quotas.plan_ms;
    let mut it = rtfs::Interpreter::new(rtfs::Limits {
        steps,
        ..rtfs::Limits::default()
    });
    let mut host = PlanHost {
        gov: gov.clone(),
        plan_ms,
    };
    let result = it
        .compile(source, Some(name))
        .and_then(|p| it.run(&p, &mut host));
    let result = match result {
        Ok(v) => match budget_stop(gov.budget(), plan_ms) {
            Some(e) => Err(e),
            None => Ok(v),
        },
        Err(e) => Err(e),
    };
    let stopped = match &result {
        Err(e) => record_budget_stop(gov, e).err(),
        Ok(_) => None,
    };
    (result, it.last_steps(), stopped)
}

/// When a run stopped on one of the constitution's plan budgets (steps, wasm fuel, wall
/// time), records the refusal as a `quota` entry naming the quota and its value.
fn record_budget_stop(gov: &Governed, e: &rtfs::Error) -> Result<()> {
    if !e.is(rtfs::Kind::Limit) {
        return Ok(());
    }
    let q = &gov.runtime().kernel().policy().constitution.quotas;
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
                gov.plan().map_or(Value::Nil, |p| Value::Int(p as i64)),
            ),
            (Value::keyword("message"), Value::str(e.message())),
        ]),
        "stopped",
    )
    .map_err(|f| KernelError::invalid(f.message))
}

fn reason_of(e: &rtfs::Error) -> Option<String> {
    match e.data().get_key("reason") {
        Some(Value::Keyword(k)) => Some(k.as_str().to_string()),
        _ => None,
    }
}

fn blocked(e: &rtfs::Error) -> bool {
    reason_of(e)
        .is_some_and(|r| r == Reason::Denied.as_str() || r == Reason::PendingApproval.as_str())
}

/// Runs `source` (named `name`) as a human-launched plan, on a sandbox worker.
pub fn run(
    rt: Arc<Runtime>,
    natives: Natives,
    source: String,
    name: String,
    datasets: Arc<Datasets>,
) -> Result<PlanRun> {
    let kernel = rt.kernel();
    let q = kernel.policy().constitution.quotas.clone();
    let journal = kernel.gate().start_plan(
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
    let id = journal.plan().unwrap_or(0);
    let budget = Arc::new(Budget::new(
        q.plan_wasm_fuel,
        Duration::from_millis(q.plan_ms),
    ));
    let gov = Governed::new(rt.clone(), natives, journal, budget.clone(), datasets);
    let started = Instant::now();
    let worker_gov = gov.clone();
    let (end, steps, stopped) = rt
        .sandbox()
        .run_on_worker(move || {
            let (result, steps, stopped) = evaluate(&worker_gov, &source, &name, q.plan_steps);
            let end = match result {
                Ok(v) => match rtfs::encoding::encode(&v) {
                    Ok(bytes) => PlanEnd::Value(bytes),
                    Err(e) => PlanEnd::Error {
                        diagnostic: Diagnostic::plain(
                            "error/type",
                            format!("the plan's result is not data: {e}"),
                        ),
                        blocked: false,
                        approval: None,
                    },
                },
                Err(e) => PlanEnd::Error {
                    diagnostic: Diagnostic::of(&e),
                    blocked: blocked(&e),
                    approval: match e.data().get_key("approval") {
                        Some(Value::Int(n)) => Some(*n),
                        _ => None,
                    },
                },
            };
            (end, steps, stopped)
        })
        .map_err(KernelError::from)?;
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
            .and_then(|v| kernel.home().record_value(&v).ok()),
        PlanEnd::Error { .. } => None,
    };
    let mut subject = vec![(Value::keyword("plan"), Value::Int(id as i64))];
    if let PlanEnd::Error { diagnostic, .. } = &end {
        subject.push((Value::keyword("error"), Value::keyword(&diagnostic.kind)));
    }
    kernel.gate().end_plan(
        gov.journal(),
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

/// Runs an agent's plan nested in the calling run (`cx`), on what the caller has left of its
/// steps, the same fuel and time budget, one level deeper; its `plan.start` names the
/// subject. The caller is billed for the steps it used.
pub fn nested(
    cx: &NativeContext<'_>,
    source: &str,
    subject: Value,
    scope: Option<Scope>,
) -> Result<Value, CallFailure> {
    let parent = cx.governed();
    let failed = |e: KernelError| CallFailure::new(Reason::Failed, e.to_string());
    parent.flush().map_err(failed)?;
    let gate = parent.runtime().kernel().gate();
    let journal = gate
        .start_plan(
            Some(parent.journal()),
            "<planner.execute_plan>",
            source,
            subject,
        )
        .map_err(failed)?;
    let id = journal.plan().unwrap_or(0);
    let child = parent.child(journal, scope);
    let plan_steps = cx.policy().constitution.quotas.plan_steps;
    let (result, steps, stopped) = evaluate(
        &child,
        source,
        &format!("<plan {id}>"),
        cx.steps().left().min(plan_steps),
    );
    cx.steps().bill(steps);
    let flushed = match stopped {
        Some(e) => Err(e),
        None => child.flush(),
    };
    let outcome = if result.is_ok() && flushed.is_ok() {
        "ok"
    } else {
        "error"
    };
    gate.end_plan(
        child.journal(),
        true,
        Record {
            outcome: outcome.into(),
            ..Record::ok(
                "plan.end",
                Value::map(vec![(Value::keyword("plan"), Value::Int(id as i64))]),
            )
        },
    )
    .map_err(failed)?;
    flushed.map_err(failed)?;
    result.map_err(|e| {
        // The nested plan's own refusal (quota, approval) keeps its reason for the caller.
        let reason = match reason_of(&e).as_deref() {
            Some("quota") => Reason::Quota,
            Some("pending-approval") => Reason::PendingApproval,
            Some("denied") => Reason::Denied,
            _ => Reason::Failed,
        };
        let mut f = CallFailure::new(reason, format!("the nested plan failed: {}", e.message()));
        if let Some(n) = e.data().get_key("approval") {
            f.extra.push(("approval", n.clone()));
        }
        f.cause = Some(e);
        f
    })
}
