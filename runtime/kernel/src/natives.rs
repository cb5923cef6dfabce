//! The kernel's native capabilities, reached through the same dispatcher as sandboxed ones.
//! So far: `planner.register_capability {:source "<RTFS program>"}` — the program's one
//! `(capability …)` descriptor becomes a version of kind `:rtfs` under `generated/`, run by the
//! pinned rtfs-engine, its examples checked in the sandbox first, then governed like any
//! self-modification (quota, decision, approval).

use std::sync::Arc;

use kiln_sandbox::Effect;
use kiln_store::Registry;
use kiln_store::approvals::NewRequest;
use rtfs::Value;
use rtfs::vm::{CallFailure, Reason};

use crate::dispatch::{Governed, PendingParts};
use crate::governance::{Action, ActionKind, Verdict, Who, decide};

/// A native capability.
pub struct Native {
    /// Its id.
    pub id: &'static str,
    /// What it does (shown by `kiln cap show`).
    pub description: &'static str,
    /// Its input schema, as RTFS source.
    pub input_schema: &'static str,
    /// Its own effects (what it does besides what it runs, which is decided separately).
    pub effects: &'static [Effect],
    /// What it does with its input.
    pub run: fn(&Arc<Governed>, &Value) -> Result<Value, CallFailure>,
}

/// The natives, by id.
pub const NATIVES: [Native; 2] = [
    Native {
        id: "planner.register_capability",
        description: "Registers the one (capability …) an RTFS program yields as a version under generated/, governed",
        input_schema: "[:map [:source :string]]",
        effects: &[Effect::SelfModify],
        run: register_capability,
    },
    Native {
        id: "planner.execute_plan",
        description: "Runs an agent-written plan nested in the calling one, under the same budget, governed",
        input_schema: "[:map [:plan :string]]",
        effects: &[],
        run: execute_plan,
    },
];

impl Native {
    /// The text of the object a native version's `:module` names: what implements it (kiln's
    /// package version), so each kiln release has its own native versions.
    pub fn implementation(&self) -> String {
        format!(
            "kiln native capability {}\nimplemented by kiln {} (runtime/kernel/src/natives.rs)\n",
            self.id,
            env!("CARGO_PKG_VERSION")
        )
    }

    /// Its manifest: the same fields as an installed version's, kind `:native`, `:module` the
    /// implementation's object. The kernel registers it at start (immutable: no agent or
    /// human registers, activates or rolls back a version in a native namespace).
    pub fn manifest(&self) -> Value {
        let schema = rtfs::reader::read_expr(self.input_schema, &Default::default())
            .map(|f| f.to_value())
            .unwrap_or_else(|_| kw("any"));
        Value::map(vec![
            (kw("id"), Value::str(self.id)),
            (kw("kind"), kw("native")),
            (
                kw("module"),
                Value::str(&kiln_store::Hash::of(self.implementation().as_bytes()).hex()),
            ),
            (kw("description"), Value::str(self.description)),
            (kw("input-schema"), schema),
            (kw("output-schema"), kw("any")),
            (
                kw("effects"),
                Value::vector(if self.effects.is_empty() {
                    vec![kw("pure")]
                } else {
                    self.effects.iter().map(|e| kw(e.as_str())).collect()
                }),
            ),
        ])
    }
}

/// The native capability `id`, if there is one.
pub fn native(id: &str) -> Option<&'static Native> {
    NATIVES.iter().find(|n| n.id == id)
}

/// The installed capability id of the RTFS engine that `:rtfs` versions pin.
pub const ENGINE_ID: &str = "rtfs.engine";

fn kw(k: &str) -> Value {
    Value::keyword(k)
}

fn fail(reason: Reason, m: impl Into<String>) -> CallFailure {
    CallFailure::new(reason, m)
}

/// Evaluates a capability program on the host (no capabilities: only its descriptor is
/// wanted) and returns its one descriptor.
fn descriptor(source: &str) -> Result<Value, CallFailure> {
    let limits = rtfs::Limits {
        steps: 1_000_000,
        ..rtfs::Limits::default()
    };
    let mut it = rtfs::Interpreter::new(limits);
    let mut host = rtfs::vm::DescriptorHost::default();
    it.compile(source, Some("<source>"))
        .and_then(|p| it.run(&p, &mut host))
        .map_err(|e| {
            fail(
                Reason::InvalidInput,
                format!("the program does not evaluate: {}", e.message()),
            )
        })?;
    match host.descriptors.len() {
        1 => Ok(host.descriptors.remove(0)),
        n => Err(fail(
            Reason::InvalidInput,
            format!("the program must yield exactly one (capability …) descriptor, not {n}"),
        )),
    }
}

fn register_capability(gov: &Arc<Governed>, arg: &Value) -> Result<Value, CallFailure> {
    let kernel = gov.rt.kernel();
    let source = arg
        .get_key("source")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            fail(
                Reason::InvalidInput,
                "planner.register_capability expects {:source \"<RTFS program>\"}",
            )
        })?
        .to_string();
    let desc = descriptor(&source)?;
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
    let effects: Vec<Effect> = crate::caps::effects_of(&desc)
        .map_err(|e| fail(Reason::InvalidInput, e.0))?
        .into_iter()
        .collect();
    covers_callees(gov, &source, &effects)?;
    let engine = kernel.home.registry.resolve(ENGINE_ID).map_err(|e| {
        fail(
            Reason::Unavailable,
            format!(
                "{e}: RTFS capabilities run in the rtfs-engine module; install it with `kiln cap install capabilities/target/wasm32-unknown-unknown/release/rtfs_engine.wasm --id {ENGINE_ID} --manifest <(echo '(capability \"{ENGINE_ID}\" :effects [:call])')`"
            ),
        )
    })?;
    // The examples, in the sandbox, before anything is stored.
    check_examples(gov, &desc, &source)?;
    let program = kiln_store::ObjectStore::put(kernel.home.objects.as_ref(), source.as_bytes())
        .map_err(|e| fail(Reason::Failed, e.to_string()))?;
    let field = |k: &str, d: Value| desc.get_key(k).cloned().unwrap_or(d);
    let manifest = Value::map(vec![
        (kw("id"), Value::str(&id)),
        (kw("kind"), kw("rtfs")),
        (kw("module"), Value::str(&engine.row.module.hex())),
        (kw("engine"), Value::str(&engine.row.module.hex())),
        (kw("program"), Value::str(&program.hex())),
        (kw("input-schema"), field("input-schema", kw("any"))),
        (kw("output-schema"), field("output-schema", kw("any"))),
        (kw("examples"), field("examples", Value::vector(vec![]))),
        (
            kw("effects"),
            Value::vector(if effects.is_empty() {
                vec![kw("pure")]
            } else {
                effects.iter().map(|e| kw(e.as_str())).collect()
            }),
        ),
        (
            kw("provenance"),
            Value::map(vec![
                (kw("principal"), kw("agent")),
                (
                    kw("agent"),
                    Value::str(&format!("plan/{}", gov.plan.unwrap_or(0))),
                ),
                (kw("created-by"), Value::str("planner.register_capability")),
            ]),
        ),
    ]);
    // Quota, then the decision (both on the chain), then the version.
    let quota = kernel.config_quota_synthesis();
    let kind = if effects.is_empty() {
        ActionKind::ModifyPure
    } else {
        ActionKind::ModifyEffectful
    };
    let d = decide(
        &kernel.constitution,
        kernel.trust,
        &Action {
            kind,
            capability: Some(&id),
            effects: &effects,
            who: Who::Agent,
        },
    );
    let failed = |e: String| fail(Reason::Failed, e);
    // The same content is the same version: only a new one takes from the quota.
    let existing = kernel
        .home
        .registry
        .existing_version(&id, &manifest)
        .map_err(|e| failed(e.to_string()))?;
    if existing.is_none() && d.verdict != Verdict::Deny {
        kernel
            .take_synthesis_quota(gov.plan, &id, quota)
            .map_err(|e| match e {
                crate::kernel::AgentError::Quota(m) => fail(Reason::Quota, m),
                crate::kernel::AgentError::Failed(m) => failed(m),
            })?;
    }
    // An approval of exactly this version that is still in force: it was activated then and
    // is active now (a human may have rolled it back since; then it is asked for again).
    let active = kernel.home.registry.resolve(&id).ok().map(|v| v.row.hash);
    let approval = match (d.verdict, existing) {
        (Verdict::RequireApproval, Some(h)) if active == Some(h) => {
            kiln_store::approvals::approved(&kernel.home.db, "activate", &h)
                .map_err(|e| failed(e.to_string()))?
        }
        _ => None,
    };
    let mut subject = Value::map(vec![
        (kw("action"), kw(kind.keyword())),
        (kw("capability"), Value::str(&id)),
        (kw("verdict"), kw(&d.verdict.to_string())),
        (kw("reason"), Value::str(&d.reason)),
        (kw("rule"), d.rule.as_deref().map_or(Value::Nil, Value::str)),
    ]);
    if let Some(n) = approval {
        subject = approved_by(subject, n);
    }
    // The decision is durable before anything is stored.
    let outcome = match (d.verdict, approval) {
        (Verdict::Deny, _) => "denied",
        (Verdict::RequireApproval, None) => "pending",
        _ => "ok",
    };
    gov.record_now("decision", subject, outcome)?;
    if d.verdict == Verdict::Deny {
        return Err(fail(
            Reason::Denied,
            format!("registering {id} is denied: {}", d.reason),
        ));
    }
    let registered = kernel
        .register_as_agent(gov.plan, &manifest)
        .map_err(|e| failed(e.0))?;
    let status = |s: &str, extra: Vec<(Value, Value)>| {
        let mut m = vec![
            (kw("status"), kw(s)),
            (kw("id"), Value::str(&id)),
            (kw("version"), Value::str(&registered.hex())),
        ];
        m.extend(extra);
        Value::map(m)
    };
    match (d.verdict, approval) {
        (Verdict::RequireApproval, Some(n)) => {
            Ok(status("active", vec![(kw("approval"), Value::Int(n))]))
        }
        (Verdict::RequireApproval, None) => Err(pending(
            gov,
            "activate",
            &id,
            registered,
            effects.is_empty(),
            &d.reason,
            &format!("registering {id}"),
        )),
        _ => {
            kernel
                .activate_as_agent(gov.plan, &id, registered)
                .map_err(|e| failed(e.0))?;
            gov.forget(&id);
            Ok(status("active", vec![(kw("rollback"), Value::Bool(true))]))
        }
    }
}

/// A capability's declared effects must cover what it calls (LANGUAGE.md §8.6): any call
/// needs `:call`, and the effects of every capability it names literally must be declared too
/// — so an agent cannot pass off a wrapper around an effectful capability as pure. (Calls by
/// computed id are decided one by one when they happen.)
fn covers_callees(
    gov: &Arc<Governed>,
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
        let theirs: Vec<Effect> = match gov.rt.kernel().home.registry.resolve(base) {
            Ok(v) => crate::caps::effects_of(&v.manifest)
                .map_err(|e| fail(Reason::Failed, e.0))?
                .into_iter()
                .collect(),
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

/// A decision's subject, noting the human approval that lets it proceed.
fn approved_by(subject: Value, approval: i64) -> Value {
    match subject {
        Value::Map(m) => Value::Map(
            m.insert(kw("approval"), Value::Int(approval))
                .insert(kw("verdict"), kw("approved")),
        ),
        other => other,
    }
}

/// Files an approval request for `action` on exactly `hash` and returns the refusal that
/// names it (`{:reason :pending-approval :approval N}`).
pub(crate) fn pending(
    gov: &Arc<Governed>,
    action: &str,
    subject: &str,
    hash: kiln_store::Hash,
    low_risk: bool,
    reason: &str,
    what: &str,
) -> CallFailure {
    let kernel = gov.rt.kernel();
    let filed = kernel.file_approval(
        gov.plan,
        &NewRequest {
            action: action.into(),
            subject: subject.into(),
            hash,
            risk: if low_risk { "medium" } else { "high" }.into(),
            reasons: vec![reason.to_string()],
            requester: format!("agent plan/{}", gov.plan.unwrap_or(0)),
            expires_at: kernel.now_secs() + 7 * 24 * 3600,
        },
    );
    match filed {
        Ok(n) => {
            let mut f = fail(
                Reason::PendingApproval,
                format!("{what} needs a human's approval: run `kiln approvals approve {n}`"),
            );
            f.extra.push(("approval", Value::Int(n)));
            f
        }
        Err(e) => fail(Reason::Failed, e.0),
    }
}

/// Runs each `{:input … :output …}` example through the engine in the sandbox.
fn check_examples(gov: &Arc<Governed>, desc: &Value, source: &str) -> Result<(), CallFailure> {
    let Some(examples) = desc.get_key("examples").and_then(Value::as_seq) else {
        return Ok(());
    };
    let kernel = gov.rt.kernel();
    let (engine, _) = gov
        .rt
        .load(ENGINE_ID)
        .map_err(|e| fail(Reason::Unavailable, e.0))?;
    for (i, ex) in examples.items().iter().enumerate() {
        let input = ex.get_key("input").cloned().unwrap_or(Value::Nil);
        let want = ex.get_key("output").cloned().unwrap_or(Value::Nil);
        let arg = Value::map(vec![
            (kw("program"), Value::str(source)),
            (kw("input"), input),
        ]);
        let limits = kiln_sandbox::Limits {
            fuel: kernel.config.sandbox.fuel.min(gov.budget().fuel_left()),
            memory_bytes: kernel.config.sandbox.memory_bytes,
            timeout: std::time::Duration::from_millis(kernel.config.sandbox.timeout_ms).min(
                gov.budget()
                    .deadline
                    .saturating_duration_since(std::time::Instant::now()),
            ),
            deterministic: true,
        };
        // Examples run on the plan's budget like any call.
        let got = match gov.rt.sandbox().call_metered(
            &engine,
            &arg,
            limits,
            Arc::new(kiln_sandbox::NoDispatch),
        ) {
            Ok(o) => {
                gov.budget().charge(o.fuel_used);
                o
            }
            Err(kiln_sandbox::FailedCall {
                error: e,
                fuel_used: used,
            }) => {
                gov.budget().charge(used);
                return Err(fail(Reason::InvalidInput, format!("example {i}: {e}")));
            }
        };
        if got.value != want {
            gov.buffer(
                "synthesis.example",
                &Value::map(vec![(kw("example"), Value::Int(i as i64))]),
                PendingParts {
                    outcome: "error",
                    ..PendingParts::default()
                },
            );
            return Err(fail(
                Reason::InvalidInput,
                format!(
                    "example {i}: expected {}, got {}",
                    rtfs::print::print(&want),
                    rtfs::print::print(&got.value)
                ),
            ));
        }
    }
    Ok(())
}

/// `planner.execute_plan {:plan "<RTFS source>"}`: runs an agent-written plan nested in the
/// calling one, under the same budget, one level deeper (refused past `max_plan_nesting`).
/// A plan that calls only active pure capabilities by literal id is an `execute-pure-plan`
/// action; any other is effectful. At levels that ask for approval, the request names the
/// plan source's hash, and re-running after approval continues.
fn execute_plan(gov: &Arc<Governed>, arg: &Value) -> Result<Value, CallFailure> {
    let kernel = gov.rt.kernel();
    let source = arg
        .get_key("plan")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            fail(
                Reason::InvalidInput,
                "planner.execute_plan expects {:plan \"<RTFS source>\"}",
            )
        })?
        .to_string();
    let max = kernel
        .constitution
        .quotas
        .max_plan_nesting
        .min(kernel.config.self_programming.max_plan_nesting);
    let depth = gov.nesting + 1;
    if depth > max {
        gov.record_now(
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
            kernel
                .home
                .registry
                .resolve(id)
                .ok()
                .and_then(|v| crate::caps::effects_of(&v.manifest).ok())
                .is_some_and(|e| e.is_empty())
        });
    let kind = if pure {
        ActionKind::ExecutePurePlan
    } else {
        ActionKind::ModifyEffectful
    };
    let hash = kiln_store::Hash::of(source.as_bytes());
    // An approval covers the plan as it was judged: if its targets' effects change, it is
    // asked for again.
    let approval_action = if pure {
        "execute-plan"
    } else {
        "execute-effectful-plan"
    };
    let d = decide(
        &kernel.constitution,
        kernel.trust,
        &Action {
            kind,
            capability: None,
            effects: &[],
            who: Who::Agent,
        },
    );
    let subject = Value::map(vec![
        (kw("action"), kw(kind.keyword())),
        (kw("plan-source"), Value::str(&hash.hex())),
        (kw("verdict"), kw(&d.verdict.to_string())),
        (kw("reason"), Value::str(&d.reason)),
    ]);
    match d.verdict {
        Verdict::Deny => {
            gov.record_now("decision", subject, "denied")?;
            return Err(fail(
                Reason::Denied,
                format!("executing the plan is denied: {}", d.reason),
            ));
        }
        Verdict::RequireApproval => {
            let approved = kiln_store::approvals::approved(&kernel.home.db, approval_action, &hash)
                .map_err(|e| fail(Reason::Failed, e.to_string()))?;
            let Some(n) = approved else {
                gov.record_now("decision", subject, "pending")?;
                return Err(pending(
                    gov,
                    approval_action,
                    "plan",
                    hash,
                    pure,
                    &d.reason,
                    "executing the plan",
                ));
            };
            gov.record_now("decision", approved_by(subject, n), "ok")?;
        }
        Verdict::Allow => gov.record_now("decision", subject, "ok")?,
    }
    // The nested run: its own plan.start, the same budget, one level deeper.
    gov.flush().map_err(|e| fail(Reason::Failed, e.0))?;
    let id = kernel
        .start_plan(
            gov.plan,
            "<planner.execute_plan>",
            &source,
            Value::map(vec![
                (kw("source-hash"), Value::str(&hash.hex())),
                (
                    kw("parent-plan"),
                    gov.plan.map_or(Value::Nil, |p| Value::Int(p as i64)),
                ),
                (kw("depth"), Value::Int(depth as i64)),
            ]),
        )
        .map_err(|e| fail(Reason::Failed, e.0))?;
    let child = gov.child(id);
    let q = &kernel.constitution.quotas;
    // The nested plan runs on what the calling plan has left (one step budget per run).
    let steps_left = gov
        .steps_left
        .load(std::sync::atomic::Ordering::SeqCst)
        .min(q.plan_steps);
    let mut it = rtfs::Interpreter::new(rtfs::Limits {
        steps: steps_left,
        ..rtfs::Limits::default()
    });
    let mut host = crate::plan::PlanHost {
        gov: child.clone(),
        plan_ms: q.plan_ms,
    };
    let name = format!("<plan {id}>");
    let result = it
        .compile(&source, Some(&name))
        .and_then(|p| it.run(&p, &mut host));
    let result = crate::plan::settle(&child, q.plan_ms, result);
    gov.steps_spent
        .fetch_add(it.last_steps(), std::sync::atomic::Ordering::SeqCst);
    let stopped = match &result {
        Err(e) => crate::plan::record_budget_stop(&child, e),
        Ok(_) => Ok(()),
    };
    let flushed = stopped.and_then(|()| child.flush());
    let outcome = if result.is_ok() && flushed.is_ok() {
        "ok"
    } else {
        "error"
    };
    kernel
        .end_plan(
            id,
            true,
            kiln_store::Record {
                outcome: outcome.into(),
                ..kiln_store::Record::ok(
                    "plan.end",
                    Value::map(vec![(kw("plan"), Value::Int(id as i64))]),
                )
            },
        )
        .map_err(|e| fail(Reason::Failed, e.0))?;
    flushed.map_err(|e| fail(Reason::Failed, e.0))?;
    result.map_err(|e| {
        // The nested plan's own refusal (quota, approval) keeps its reason for the caller.
        let reason = match e.data().get_key("reason") {
            Some(Value::Keyword(k)) if k.as_str() == "quota" => Reason::Quota,
            Some(Value::Keyword(k)) if k.as_str() == "pending-approval" => Reason::PendingApproval,
            Some(Value::Keyword(k)) if k.as_str() == "denied" => Reason::Denied,
            _ => Reason::Failed,
        };
        let mut f = fail(reason, format!("the nested plan failed: {}", e.message()));
        if let Some(n) = e.data().get_key("approval") {
            f.extra.push(("approval", n.clone()));
        }
        f.cause = Some(e);
        f
    })
}
