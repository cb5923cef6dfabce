//! One dispatcher for every capability call — from a plan (`rtfs::Host`), from a guest
//! (`kiln.call`, [`guest`]) — as a pipeline: check the run's budget → resolve the version →
//! authorize at the gate → check the input → execute under the run's budget → record the
//! outcome with its input and output. Entries for allowed pure calls are buffered in the run's
//! journal and group-committed, at the latest before the next effectful call and at the end of
//! the run; the decision for an effectful call is committed durably before it runs.

pub mod budget;
pub mod guest;
pub mod native;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kiln_sandbox::{Effect, Limits, NestedCall, SandboxError};
use kiln_store::{Cost, Hash, ObjectStore, Registry};
use rtfs::Value;
use rtfs::host::{CallFailure, CallRequest, Reason};

use crate::approval::ApprovalAction;
use crate::byte_quota::{self, When};
use crate::datasets::Datasets;
use crate::gate::{ActionRequest, Permit, Refusal};
use crate::governance::{ActionKind, Who};
use crate::journal::{Journal, Parts};
use crate::loader::Loaded;
use crate::runtime::Runtime;
use crate::scope::Scope;

pub use budget::{Budget, Steps};
pub use native::{Native, NativeContext, Natives};

/// The governed dispatcher of one plan run (or of one human `kiln call`'s guest calls).
pub struct Governed {
    rt: Arc<Runtime>,
    natives: Natives,
    journal: Journal,
    /// How many plans this one runs inside (0 for a top-level run).
    nesting: u64,
    budget: Arc<Budget>,
    steps: Steps,
    /// Shared with nested runs: `id` → the version this run (tree) uses.
    resolved: Arc<Mutex<HashMap<String, Hash>>>,
    /// What was decided for this run's plan (`None`: a plan the human launched, whose calls
    /// are each decided on their own).
    scope: Option<Scope>,
    /// The datasets the human handed to the run.
    datasets: Arc<Datasets>,
}

/// Effects whose calls are not "effectful" for the chain's durability rule: logging, and
/// calling others (each of which is decided on its own).
fn is_effectful(effects: &[Effect]) -> bool {
    effects
        .iter()
        .any(|e| !matches!(e, Effect::Log | Effect::Call | Effect::Pure))
}

fn kw(k: &str) -> Value {
    Value::keyword(k)
}

fn fail(reason: Reason, m: impl Into<String>) -> CallFailure {
    CallFailure::new(reason, m)
}

impl Governed {
    /// A dispatcher for a run (its journal) with `budget`; `natives` are the native
    /// capabilities plans may call.
    pub fn new(
        rt: Arc<Runtime>,
        natives: Natives,
        journal: Journal,
        budget: Arc<Budget>,
        datasets: Arc<Datasets>,
    ) -> Arc<Governed> {
        Arc::new(Governed {
            rt,
            natives,
            journal,
            nesting: 0,
            budget,
            steps: Steps::new(),
            resolved: Default::default(),
            scope: None,
            datasets,
        })
    }

    /// The dispatcher of a plan run nested in this one (its journal): the same budget and
    /// versions, one level deeper, within `scope`.
    pub fn child(&self, journal: Journal, scope: Option<Scope>) -> Arc<Governed> {
        Arc::new(Governed {
            rt: self.rt.clone(),
            natives: self.natives,
            journal,
            nesting: self.nesting + 1,
            budget: self.budget.clone(),
            steps: Steps::new(),
            resolved: self.resolved.clone(),
            scope,
            datasets: self.datasets.clone(),
        })
    }

    /// The datasets the human handed to the run.
    pub fn datasets(&self) -> &Datasets {
        &self.datasets
    }

    /// What was decided for this run's plan.
    pub fn scope(&self) -> Option<&Scope> {
        self.scope.as_ref()
    }

    /// The runtime.
    pub fn runtime(&self) -> &Arc<Runtime> {
        &self.rt
    }

    /// The run's budget.
    pub fn budget(&self) -> &Budget {
        &self.budget
    }

    /// This level's evaluation steps.
    pub fn steps(&self) -> &Steps {
        &self.steps
    }

    /// The run's journal.
    pub fn journal(&self) -> &Journal {
        &self.journal
    }

    /// The run's id (`None` outside a plan).
    pub fn plan(&self) -> Option<u64> {
        self.journal.plan()
    }

    /// How many plans this one runs inside.
    pub fn nesting(&self) -> u64 {
        self.nesting
    }

    /// Commits the journal's buffered entries in one transaction.
    pub fn flush(&self) -> crate::error::Result<()> {
        self.rt.kernel().gate().commit(&self.journal, Vec::new())?;
        Ok(())
    }

    /// Commits the buffer and then one entry, durably (a refusal, a quota stop).
    pub fn record_now(&self, kind: &str, subject: Value, outcome: &str) -> Result<(), CallFailure> {
        self.rt
            .kernel()
            .gate()
            .record_now(&self.journal, kind, subject, outcome)
            .map_err(|e| fail(Reason::Failed, e.to_string()))
    }

    /// Buffers an entry for the next group commit.
    pub fn note(
        &self,
        kind: &'static str,
        subject: &Value,
        parts: Parts,
    ) -> Result<(), CallFailure> {
        self.journal
            .push(kind, subject, parts)
            .map_err(|m| fail(Reason::Failed, m))
    }

    /// Forgets which version of `id` this run uses (after the run itself moved it).
    pub fn forget(&self, id: &str) {
        if let Ok(mut r) = self.resolved.lock() {
            r.remove(id);
        }
    }

    /// Runs a plan's `call` (the arguments as one input: none → nil, one → itself, more → a
    /// vector).
    pub fn plan_call(self: &Arc<Self>, request: &CallRequest<'_>) -> Result<Value, CallFailure> {
        self.steps.set_left(request.steps_left);
        let arg = match request.args {
            [] => Value::Nil,
            [one] => one.clone(),
            more => Value::vector(more.to_vec()),
        };
        self.call(None, request.id, &arg)
    }

    /// One governed call by the run's plan (`nested`: within the calling guest's call).
    pub fn call(
        self: &Arc<Self>,
        nested: Option<&mut NestedCall<'_>>,
        spec: &str,
        arg: &Value,
    ) -> Result<Value, CallFailure> {
        let scope = self.scope.clone();
        self.call_in(nested, spec, arg, scope.as_ref())
    }

    /// One governed call by a caller within `scope`.
    fn call_in(
        self: &Arc<Self>,
        nested: Option<&mut NestedCall<'_>>,
        spec: &str,
        arg: &Value,
        scope: Option<&Scope>,
    ) -> Result<Value, CallFailure> {
        self.check_budget()?;
        // `ID@PREFIX` pins a version: decisions, rules and quotas concern the id itself.
        let (id, pinned) = match spec.split_once('@') {
            Some((base, _)) => (base, true),
            None => (spec, false),
        };
        if let Some(native) = self.natives.iter().find(|n| n.id() == id) {
            return self.call_native(*native, spec, nested.is_some(), arg, scope);
        }
        let loaded = self
            .resolve(spec, id, pinned)
            .map_err(|m| self.refuse(id, m, Reason::Unknown))?;
        let effectful = is_effectful(&loaded.manifest.effects);
        let permit = self.authorize_call(id, &loaded, effectful, scope)?;
        loaded
            .manifest
            .check_input(arg)
            .map_err(|m| fail(Reason::InvalidInput, m))?;
        let policy = self.rt.kernel().policy();
        if let Err(m) = byte_quota::check(policy, id, When::Before) {
            self.record_now(
                "quota",
                Value::map(vec![
                    (kw("quota"), kw("quota-bytes")),
                    (kw("capability"), Value::str(id)),
                    (kw("message"), Value::str(&m)),
                ]),
                "denied",
            )?;
            return Err(fail(Reason::Quota, m));
        }
        let started = Instant::now();
        let (result, fuel) = self.execute(nested, id, &loaded, arg)?;
        self.record_outcome(id, &loaded, &permit, effectful, arg, result, fuel, started)
    }

    /// A plan that keeps calling past its fuel budget stops at its next poll.
    fn check_budget(&self) -> Result<(), CallFailure> {
        if self.budget.spent() || self.budget.fuel_left() == 0 {
            self.budget.mark_spent();
            return Err(fail(
                Reason::Quota,
                format!(
                    "the plan's wasm-fuel budget of {} is spent",
                    self.budget.fuel_total
                ),
            ));
        }
        Ok(())
    }

    /// The version of `id` this run uses: resolved once per run (a run sees one consistent
    /// set of versions; a move takes effect from the next run), loaded once per process. An
    /// agent may pin only a version that was active at some time: never one that waits for
    /// approval or was refused.
    fn resolve(&self, spec: &str, id: &str, pinned: bool) -> Result<Loaded, String> {
        let registry = &self.rt.kernel().home().registry;
        let known = self.resolved.lock().ok().and_then(|r| r.get(spec).copied());
        let loaded = match known.and_then(|h| self.rt.loader().cached(&h)) {
            Some(hit) => hit,
            None => {
                let version = registry.resolve(spec).map_err(|e| e.to_string())?;
                let loaded = self
                    .rt
                    .loader()
                    .load_version(&self.rt.parts(), &version)
                    .map_err(|e| e.to_string())?;
                if let Ok(mut r) = self.resolved.lock() {
                    r.insert(spec.to_string(), version.row.hash);
                }
                loaded
            }
        };
        if pinned {
            let moves = registry.moves(id).map_err(|e| e.to_string())?;
            if !moves.iter().any(|m| m.to == loaded.hash) {
                return Err(format!(
                    "{spec}: version {} of {id} was never active; plans may pin only versions a human or the constitution let become active",
                    &loaded.hash.hex()[..12]
                ));
            }
        }
        Ok(loaded)
    }

    /// The gate's decision on calling `loaded`; a call that needs approval proceeds once a
    /// human approved calling exactly this version, else files a request.
    fn authorize_call(
        &self,
        id: &str,
        loaded: &Loaded,
        effectful: bool,
        scope: Option<&Scope>,
    ) -> Result<Permit, CallFailure> {
        let mut req = ActionRequest::new(ActionKind::Call, Who::Agent)
            .capability(id)
            .effects(&loaded.manifest.effects)
            .content(loaded.hash, Some(ApprovalAction::Call));
        req.with_outcome = !effectful;
        req.scope = scope;
        let gate = self.rt.kernel().gate();
        match gate.authorize(&req, Some(&self.journal)) {
            Ok(p) => Ok(p),
            Err(Refusal::Denied(d)) => Err(fail(
                Reason::Denied,
                format!("calling {id} is denied: {}", d.reason),
            )),
            Err(Refusal::Pending(p)) => Err(self.file_request(
                &p,
                ApprovalAction::Call,
                id,
                loaded.hash,
                !effectful,
                &format!("calling {id}"),
            )),
            Err(other) => Err(refusal_failure(other)),
        }
    }

    /// Files an approval request for `action` on exactly `hash` and returns the refusal that
    /// names it (`{:reason :pending-approval :approval N}`).
    pub fn file_request(
        &self,
        pending: &crate::gate::Pending,
        action: ApprovalAction,
        subject: &str,
        hash: Hash,
        low_risk: bool,
        what: &str,
    ) -> CallFailure {
        let filed = self.rt.kernel().gate().file_request(
            pending,
            action,
            subject,
            hash,
            if low_risk { "medium" } else { "high" },
            vec![pending.decision().reason.clone()],
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
            Err(e) => fail(Reason::Failed, e.to_string()),
        }
    }

    /// Runs the version under the run's budget: inside the calling guest's call when a guest
    /// calls, else on a sandbox worker. A call that failed still spends the fuel it burned.
    fn execute(
        self: &Arc<Self>,
        nested: Option<&mut NestedCall<'_>>,
        id: &str,
        loaded: &Loaded,
        arg: &Value,
    ) -> Result<(Result<Value, SandboxError>, u64), CallFailure> {
        let cfg = &self.rt.kernel().policy().config.sandbox;
        let limits = Limits {
            fuel: cfg.fuel.min(self.budget.fuel_left()),
            memory_bytes: cfg.memory_bytes,
            timeout: Duration::from_millis(cfg.timeout_ms).min(self.budget.time_left()),
            deterministic: false,
        };
        let input = engine_input(&self.rt, id, loaded, arg)?;
        // The callee's own calls are within what its manifest declares.
        let calls = self.guest_dispatcher(id, &loaded.manifest.effects);
        let (result, fuel) = match nested {
            Some(call) => {
                let before = call.fuel_left();
                let r = call.run_with(&loaded.capability, &input, limits, calls);
                (r, before.saturating_sub(call.fuel_left()))
            }
            None => match self
                .rt
                .sandbox()
                .call_metered(&loaded.capability, &input, limits, calls)
            {
                Ok(o) => {
                    self.budget.charge(o.fuel_used);
                    (Ok(o.value), o.fuel_used)
                }
                Err(f) => {
                    self.budget.charge(f.fuel_used);
                    (Err(f.error), f.fuel_used)
                }
            },
        };
        if matches!(result, Err(SandboxError::FuelExhausted { .. })) && limits.fuel < cfg.fuel {
            // The plan's budget, not the call's own limit, ran out.
            self.budget.mark_spent();
        }
        Ok((result, fuel))
    }

    /// Checks the result (output schema, byte quotas) and buffers the call's entry: for an
    /// allowed pure call it records the decision too (allowed, by the rule that decided if one
    /// did, else by the session's trust level); the outcome of an effectful call commits with
    /// the next durable entry or the run's end — its decision is already durable.
    #[allow(clippy::too_many_arguments)]
    fn record_outcome(
        &self,
        id: &str,
        loaded: &Loaded,
        permit: &Permit,
        effectful: bool,
        arg: &Value,
        result: Result<Value, SandboxError>,
        fuel: u64,
        started: Instant,
    ) -> Result<Value, CallFailure> {
        let cost = Cost {
            fuel,
            ms: started.elapsed().as_millis() as u64,
            ..Cost::default()
        };
        let mut objects = Vec::new();
        let mut object = |v: &Value| {
            kiln_store::Home::value_object(v).ok().map(|bytes| {
                let h = Hash::of(&bytes);
                objects.push((h, bytes));
                h
            })
        };
        let input = object(arg);
        let policy = self.rt.kernel().policy();
        let (outcome, output, ret) = match result {
            Ok(v) => match loaded.manifest.check_output(&v) {
                Ok(()) => match byte_quota::check(policy, id, When::After) {
                    Ok(()) => ("ok", object(&v), Ok(v)),
                    Err(m) => ("quota", None, Err(fail(Reason::Quota, m))),
                },
                Err(m) => ("error", None, Err(fail(Reason::InvalidOutput, m))),
            },
            Err(e) => {
                let reason = match e {
                    SandboxError::FuelExhausted { .. } | SandboxError::Deadline { .. } => {
                        Reason::Limit
                    }
                    _ => Reason::Failed,
                };
                ("error", None, Err(fail(reason, format!("{id}: {e}"))))
            }
        };
        let parts = Parts {
            input,
            output,
            outcome,
            cost,
            objects,
        };
        if effectful || permit.decision().is_some() {
            self.note(
                "call",
                &Value::map(vec![(kw("capability"), Value::str(id))]),
                parts,
            )?;
        } else {
            self.journal
                .push_pure_call(id, permit.rule().map(str::to_string), parts);
        }
        ret
    }

    /// Refuses a call before any decision (the capability cannot be served to this caller),
    /// with a buffered `call` entry whose outcome is the reason.
    fn refuse(&self, id: &str, message: String, reason: Reason) -> CallFailure {
        let noted = self.journal.push(
            "call",
            &Value::map(vec![
                (kw("capability"), Value::str(id)),
                (kw("error"), Value::str(&message)),
            ]),
            Parts {
                outcome: reason.as_str(),
                ..Parts::default()
            },
        );
        match noted {
            Ok(()) => fail(reason, message),
            Err(m) => fail(Reason::Failed, m),
        }
    }

    /// A call of a native capability (`spec` is its id, perhaps pinned), from a plan or — when
    /// `from_capability` — from a guest, which is refused.
    fn call_native(
        self: &Arc<Self>,
        native: &dyn Native,
        spec: &str,
        from_capability: bool,
        arg: &Value,
        scope: Option<&Scope>,
    ) -> Result<Value, CallFailure> {
        let id = native.id();
        if from_capability {
            // Natives run plans and the sandbox themselves: a plan may call them, a
            // capability may not (refused, and on the chain).
            let m = format!("{id} is available to plans, not to capabilities");
            return Err(self.refuse(id, m, Reason::Unavailable));
        }
        // Resolved like any version, and only the active one runs — when it is this build's
        // (a version refused at open, or another kiln's, is not served).
        let ours = Hash::of(native.implementation().as_bytes());
        let version = match self.rt.kernel().home().registry.resolve(spec) {
            Ok(v) if !v.row.active => Err(format!(
                "{spec}: only the active version of a native capability runs (this kiln's)"
            )),
            Ok(v) if v.row.kind != "native" || v.row.module != ours => Err(format!(
                "{id}: the active version {} is not this kiln's native (reopen the home with this kiln to register it, or see `kiln cap history {id}`)",
                &v.row.hash.hex()[..12]
            )),
            Ok(v) => Ok(v),
            Err(e) => Err(e.to_string()),
        }
        .map_err(|m| self.refuse(spec, m, Reason::Unknown))?;
        let manifest = crate::manifest::Manifest::parse(&version.manifest)
            .map_err(|e| fail(Reason::Failed, e.to_string()))?;
        // A constitution rule may deny calling a native (for an agent); approval for what a
        // native does is decided by the native, on what it creates or runs.
        let mut req = ActionRequest::new(ActionKind::Call, Who::Agent)
            .capability(id)
            .effects(&manifest.effects)
            .content(version.row.hash, None);
        req.rules_only = true;
        req.scope = scope;
        match self.rt.kernel().gate().authorize(&req, Some(&self.journal)) {
            Ok(_) => {}
            Err(Refusal::Denied(d)) => {
                return Err(fail(
                    Reason::Denied,
                    format!("calling {id} is denied: {}", d.reason),
                ));
            }
            Err(other) => return Err(refusal_failure(other)),
        }
        manifest
            .check_input(arg)
            .map_err(|m| fail(Reason::InvalidInput, format!("{id}: {m}")))?;
        native.run(&mut NativeContext::new(self), arg)
    }

    /// This run as the dispatcher of the `kiln.call`s of capability `id`, which declares
    /// `effects`: its callees must be within them.
    pub fn guest_dispatcher(
        self: &Arc<Self>,
        id: &str,
        effects: &[Effect],
    ) -> Arc<dyn kiln_sandbox::Dispatcher> {
        Arc::new(guest::GuestCalls {
            gov: self.clone(),
            scope: Scope::capability(id, effects),
        })
    }

    /// A call by a guest within `scope`.
    pub(crate) fn guest_call(
        self: &Arc<Self>,
        nested: &mut NestedCall<'_>,
        spec: &str,
        arg: &Value,
        scope: &Scope,
    ) -> Result<Value, CallFailure> {
        self.call_in(Some(nested), spec, arg, Some(scope))
    }
}

/// A refusal as the failure a plan sees.
pub fn refusal_failure(r: Refusal) -> CallFailure {
    match r {
        Refusal::Denied(d) => fail(Reason::Denied, format!("denied: {}", d.reason)),
        Refusal::Pending(p) => fail(
            Reason::PendingApproval,
            format!("needs a human's approval: {}", p.decision().reason),
        ),
        Refusal::Quota(m) => fail(Reason::Quota, m),
        Refusal::Failed(e) => fail(Reason::Failed, e.to_string()),
    }
}

/// The input a version's module gets: `arg` itself, or for an `:rtfs` version the engine's
/// `{:program <source> :input arg}`.
pub fn engine_input(
    rt: &Runtime,
    id: &str,
    loaded: &Loaded,
    arg: &Value,
) -> Result<Value, CallFailure> {
    let Some(program) = loaded.manifest.program else {
        return Ok(arg.clone());
    };
    let source = rt
        .kernel()
        .home()
        .objects
        .get(&program)
        .map_err(|e| fail(Reason::Failed, format!("{id}: {e}")))?;
    Ok(Value::map(vec![
        (kw("program"), Value::str(&String::from_utf8_lossy(&source))),
        (kw("input"), arg.clone()),
    ]))
}
