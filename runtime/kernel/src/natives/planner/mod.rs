//! The `planner.*` natives: `planner.register_capability {:source "<RTFS program>"}`
//! — the program's one `(capability …)` descriptor becomes a version of kind `:rtfs` under
//! `generated/`, run by the pinned rtfs-engine, its examples checked in the sandbox first,
//! then governed like any self-modification (quota, decision, approval) — and
//! `planner.execute_plan {:plan "<RTFS source>"}`, an agent's plan run nested in the calling
//! one.

use kiln_sandbox::Effect;
use kiln_store::Hash;
use rtfs::Value;
use rtfs::host::{CallFailure, Reason};

pub mod reading;
pub mod synthesis;

use super::{descriptor, fail, failed, text_arg};
use crate::approval::ApprovalAction;
use crate::dispatch::{Native, NativeContext};
use crate::gate::{ActionRequest, Refusal};
use crate::governance::{ActionKind, Who};
use crate::install::ENGINE_ID;
use crate::journal::Parts;
use crate::manifest::{self, Manifest};
use crate::scope::Scope;

fn kw(k: &str) -> Value {
    Value::keyword(k)
}

/// `planner.register_capability`.
pub struct RegisterCapability;

impl Native for RegisterCapability {
    fn id(&self) -> &'static str {
        "planner.register_capability"
    }

    fn description(&self) -> &'static str {
        "Registers the one (capability …) an RTFS program yields as a version under generated/, governed"
    }

    fn input_schema(&self) -> &'static str {
        "[:map [:source :string]]"
    }

    fn effects(&self) -> &'static [Effect] {
        &[Effect::SelfModify]
    }

    fn run(&self, cx: &mut NativeContext<'_>, arg: &Value) -> Result<Value, CallFailure> {
        let source = text_arg(self, arg, "source", "{:source \"<RTFS program>\"}")?;
        register_program(cx, &source, self.id(), Vec::new())
    }
}

/// Registers the one `(capability …)` an RTFS program yields as a version under
/// `generated/`: its effects must cover its callees, its examples pass in the sandbox, then
/// the synthesis quota, the decision, the approval at the levels that ask for one, and
/// activation (rollback kept) where the constitution allows it. `provenance` says more of how
/// it was made.
pub fn register_program(
    cx: &mut NativeContext<'_>,
    source: &str,
    created_by: &str,
    provenance: Vec<(Value, Value)>,
) -> Result<Value, CallFailure> {
    let desc = descriptor(source)?;
    let name = desc
        .get_key("id")
        .and_then(Value::as_str)
        .ok_or_else(|| fail(Reason::InvalidInput, "the descriptor has no id"))?;
    let id = if name.starts_with("generated/") {
        name.to_string()
    } else {
        format!("generated/{name}")
    };
    kiln_store::registry::check_id(&id).map_err(|e| fail(Reason::InvalidInput, e.to_string()))?;
    let effects =
        manifest::effects_of(&desc).map_err(|e| fail(Reason::InvalidInput, e.to_string()))?;
    covers_callees(cx, source, &effects)?;
    let engine = cx.engine().map_err(|e| {
        fail(
            Reason::Unavailable,
            format!("{e}: RTFS capabilities run in the rtfs-engine module ({ENGINE_ID})"),
        )
    })?;
    // The examples, in the sandbox, before anything is stored.
    check_examples(cx, &desc, source)?;
    let program = cx.put_object(source.as_bytes()).map_err(failed)?;
    let agent = format!("plan/{}", cx.plan().unwrap_or(0));
    let manifest = manifest::registered(&manifest::Registered {
        id: &id,
        engine: engine.row.module,
        program,
        descriptor: &desc,
        effects: &effects,
        agent: &agent,
        created_by,
        provenance,
    });
    let kind = if effects.is_empty() {
        ActionKind::ModifyPure
    } else {
        ActionKind::ModifyEffectful
    };
    // The same content is the same version: only a new one takes from the quota. An
    // approval of exactly this version is in force while it is active (a human may have
    // rolled it back since; then it is asked for again).
    let existing = cx.existing_version(&id, &manifest).map_err(failed)?;
    let active = cx.resolve(&id).ok().map(|v| v.row.hash);
    let mut req = ActionRequest::new(kind, Who::Agent)
        .capability(&id)
        .effects(&effects);
    req.hash = existing;
    if existing.is_some() && existing == active {
        req.approval = Some(ApprovalAction::Activate);
    }
    req.takes_synthesis = existing.is_none();
    let status = |s: &str, version: Hash, extra: Vec<(Value, Value)>| {
        let mut m = vec![
            (kw("status"), kw(s)),
            (kw("id"), Value::str(&id)),
            (kw("version"), Value::str(&version.hex())),
        ];
        m.extend(extra);
        Value::map(m)
    };
    match cx.authorize(&req) {
        Ok(permit) => {
            let registered = cx.register(&permit, &manifest).map_err(failed)?;
            if let Some(n) = permit.approval() {
                return Ok(status(
                    "active",
                    registered.hash,
                    vec![(kw("approval"), Value::Int(n))],
                ));
            }
            cx.activate(&permit, &id, registered.hash).map_err(failed)?;
            Ok(status(
                "active",
                registered.hash,
                vec![(kw("rollback"), Value::Bool(true))],
            ))
        }
        Err(Refusal::Pending(pending)) => {
            let registered = cx.register(&*pending, &manifest).map_err(failed)?;
            Err(cx.file_request(
                &pending,
                ApprovalAction::Activate,
                &id,
                registered.hash,
                effects.is_empty(),
                &format!("registering {id}"),
            ))
        }
        Err(Refusal::Denied(d)) => Err(fail(
            Reason::Denied,
            format!("registering {id} is denied: {}", d.reason),
        )),
        Err(other) => Err(crate::dispatch::refusal_failure(other)),
    }
}

/// A capability's declared effects must cover what it calls (LANGUAGE.md §8.6): any call
/// needs `:call`, and the effects of every capability it names literally must be declared too
/// — so an agent cannot pass off a wrapper around an effectful capability as pure. (Calls by
/// computed id are decided one by one when they happen.)
fn covers_callees(
    cx: &NativeContext<'_>,
    source: &str,
    declared: &[Effect],
) -> Result<(), CallFailure> {
    let analysis = rtfs::analysis::analyze(source, Some("<source>")).map_err(|e| {
        fail(
            Reason::InvalidInput,
            format!("the program does not read: {}", e.message()),
        )
    })?;
    if (analysis.dynamic_calls > 0 || !analysis.call_targets.is_empty())
        && !declared.contains(&Effect::Call)
    {
        return Err(fail(
            Reason::InvalidInput,
            "the program calls other capabilities: declare :effects [:call …] (and their effects)",
        ));
    }
    for target in &analysis.call_targets {
        let base = target.split('@').next().unwrap_or(target);
        let theirs = match cx.resolve(base) {
            Ok(v) => {
                Manifest::parse(&v.manifest)
                    .map_err(|e| fail(Reason::Failed, e.to_string()))?
                    .effects
            }
            // Not installed: the call will fail as :unknown when it is made.
            Err(_) => Vec::new(),
        };
        if let Some(missing) = theirs.iter().find(|e| !declared.contains(e)) {
            return Err(fail(
                Reason::InvalidInput,
                format!(
                    "the program calls {target}, which has effect :{}; declare it in :effects",
                    missing.as_str()
                ),
            ));
        }
    }
    Ok(())
}

/// Runs each `{:input … :output …}` example through the engine in the sandbox, on the run's
/// budget.
fn check_examples(cx: &NativeContext<'_>, desc: &Value, source: &str) -> Result<(), CallFailure> {
    let Some(examples) = desc.get_key("examples").and_then(Value::as_seq) else {
        return Ok(());
    };
    let engine = cx
        .load(ENGINE_ID)
        .map_err(|e| fail(Reason::Unavailable, e.to_string()))?;
    for (i, ex) in examples.items().iter().enumerate() {
        let input = ex.get_key("input").cloned().unwrap_or(Value::Nil);
        let want = ex.get_key("output").cloned().unwrap_or(Value::Nil);
        let arg = Value::map(vec![
            (kw("program"), Value::str(source)),
            (kw("input"), input),
        ]);
        let got = cx
            .run_checked(&engine.capability, &arg)
            .map_err(|e| fail(Reason::InvalidInput, format!("example {i}: {e}")))?;
        if got != want {
            cx.note(
                "synthesis.example",
                &Value::map(vec![(kw("example"), Value::Int(i as i64))]),
                Parts {
                    outcome: "error",
                    ..Parts::default()
                },
            )?;
            return Err(fail(
                Reason::InvalidInput,
                format!(
                    "example {i}: expected {}, got {}",
                    rtfs::print::print(&want),
                    rtfs::print::print(&got)
                ),
            ));
        }
    }
    Ok(())
}

/// `planner.execute_plan`: runs an agent-written plan nested in the calling one, under the
/// same budget, one level deeper (refused past `max_plan_nesting`). A plan that calls only
/// active pure capabilities by literal id is an `execute-pure-plan` action; any other is
/// effectful. At levels that ask for approval, the request names the plan source's hash, and
/// re-running after approval continues.
pub struct ExecutePlan;

impl Native for ExecutePlan {
    fn id(&self) -> &'static str {
        "planner.execute_plan"
    }

    fn description(&self) -> &'static str {
        "Runs an agent-written plan nested in the calling one, under the same budget, governed"
    }

    fn input_schema(&self) -> &'static str {
        "[:map [:plan :string]]"
    }

    fn effects(&self) -> &'static [Effect] {
        &[]
    }

    fn run(&self, cx: &mut NativeContext<'_>, arg: &Value) -> Result<Value, CallFailure> {
        let source = text_arg(self, arg, "plan", "{:plan \"<RTFS source>\"}")?;
        let max = cx.policy().max_plan_nesting();
        let depth = cx.nesting() + 1;
        if depth > max {
            cx.record_now(
                "quota",
                Value::map(vec![
                    (kw("quota"), kw("max-plan-nesting")),
                    (kw("max"), Value::Int(max as i64)),
                    (kw("depth"), Value::Int(depth as i64)),
                ]),
                "denied",
            )?;
            return Err(fail(
                Reason::Quota,
                format!("quota max_plan_nesting = {max}: a plan nested {depth} deep is refused"),
            ));
        }
        let analysis = rtfs::analysis::analyze(&source, Some("<plan>")).map_err(|e| {
            fail(
                Reason::InvalidInput,
                format!("the plan does not read: {}", e.message()),
            )
        })?;
        if let Some(p) = analysis.problems.first() {
            return Err(fail(
                Reason::InvalidInput,
                format!(
                    "the plan is invalid: {} at {}:{}",
                    p.message, p.location.line, p.location.column
                ),
            ));
        }
        // Pure: literal targets only, each an active version declaring no effects.
        let pure = analysis.dynamic_calls == 0
            && analysis.call_targets.iter().all(|id| {
                cx.resolve(id)
                    .ok()
                    .and_then(|v| Manifest::parse(&v.manifest).ok())
                    .is_some_and(|m| m.is_pure())
            });
        let (kind, approval) = if pure {
            (ActionKind::ExecutePurePlan, ApprovalAction::ExecutePlan)
        } else {
            (
                ActionKind::ModifyEffectful,
                ApprovalAction::ExecuteEffectfulPlan,
            )
        };
        // An approval covers the plan as it was judged: if its targets' effects change, it is
        // asked for again.
        let hash = Hash::of(source.as_bytes());
        let req = ActionRequest::new(kind, Who::Agent).content(hash, Some(approval));
        match cx.authorize(&req) {
            Ok(_) => {}
            Err(Refusal::Denied(d)) => {
                return Err(fail(
                    Reason::Denied,
                    format!("executing the plan is denied: {}", d.reason),
                ));
            }
            Err(Refusal::Pending(p)) => {
                // The source is kept, so that the human sees what they approve.
                cx.put_object(source.as_bytes()).map_err(failed)?;
                return Err(cx.file_request(
                    &p,
                    approval,
                    "plan",
                    hash,
                    pure,
                    "executing the plan",
                ));
            }
            Err(other) => return Err(crate::dispatch::refusal_failure(other)),
        }
        crate::run::nested(
            cx,
            &source,
            Value::map(vec![
                (kw("source-hash"), Value::str(&hash.hex())),
                (
                    kw("parent-plan"),
                    cx.plan().map_or(Value::Nil, |p| Value::Int(p as i64)),
                ),
                (kw("depth"), Value::Int(depth as i64)),
            ]),
            // A plan judged pure runs within that judgement: it reaches only pure
            // capabilities, whatever its source hides. Any other plan keeps its caller's.
            if pure {
                Some(Scope::pure_plan())
            } else {
                cx.scope().cloned()
            },
        )
    }
}
