//! One dispatcher for every capability call — from a plan (`rtfs::Host`), from a guest
//! (`kiln.call`, `kiln_sandbox::Dispatcher`): resolve the version → decide → record the
//! decision → execute under the plan's budget → record the outcome with its input and
//! output. Entries for pure calls are buffered and group-committed, at the latest before the
//! next effectful call and at the end of the plan; the decision for an effectful call is
//! committed durably before it runs.

use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kiln_sandbox::{Effect, Limits, NestedCall, SandboxError};
use kiln_store::{Cost, Hash, ObjectStore, Record, Registry};
use rtfs::Value;
use rtfs::vm::{CallFailure, CallRequest, Reason};

use crate::caps::{Failure, Runtime};
use crate::governance::{Action, ActionKind, Decision, Verdict, Who, decide, plainly_allowed};

/// A loaded version: the checked module, its manifest, its declared effects.
type Loaded = (Arc<kiln_sandbox::Capability>, Value, Rc<[Effect]>);

thread_local! {
    /// Versions this thread has used, by version hash (values are per-thread).
    static MANIFESTS: std::cell::RefCell<std::collections::HashMap<(usize, Hash), Loaded>> =
        Default::default();
}

/// A plan run's budget, shared by everything it calls.
pub struct Budget {
    /// WebAssembly fuel for the whole run.
    pub fuel_total: u64,
    fuel_left: AtomicU64,
    spent: AtomicBool,
    /// Wall-clock end of the run.
    pub deadline: Instant,
}

impl Budget {
    /// A budget of `fuel` and `time`, starting now.
    pub fn new(fuel: u64, time: Duration) -> Budget {
        Budget {
            fuel_total: fuel,
            fuel_left: AtomicU64::new(fuel),
            spent: AtomicBool::new(false),
            deadline: Instant::now() + time,
        }
    }

    /// Fuel left.
    pub fn fuel_left(&self) -> u64 {
        self.fuel_left.load(Ordering::SeqCst)
    }

    /// Charges fuel spent on the plan's behalf.
    pub fn charge(&self, used: u64) {
        let _ = self
            .fuel_left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |l| {
                Some(l.saturating_sub(used))
            });
    }

    /// Whether a call ran out of the plan's fuel: the plan stops at its next poll.
    pub fn spent(&self) -> bool {
        self.spent.load(Ordering::SeqCst)
    }
}

/// An entry waiting for the next group commit (the subject encoded, so the buffer can be
/// shared across the sandbox's threads).
/// A buffered entry's subject, kept in a form that may cross threads.
enum Subject {
    /// An allowed pure call: `{:capability ID :verdict :allow :rule RULE}`.
    Call { id: String, rule: Option<String> },
    /// Anything else, encoded.
    Encoded(Vec<u8>),
}

impl Subject {
    fn value(self) -> Value {
        match self {
            Subject::Call { id, rule } => Value::map(vec![
                (kw("capability"), Value::str(&id)),
                (kw("verdict"), kw("allow")),
                (kw("rule"), rule.as_deref().map_or(Value::Nil, Value::str)),
            ]),
            Subject::Encoded(bytes) => {
                rtfs::encoding::decode(&bytes, Default::default()).unwrap_or(Value::Nil)
            }
        }
    }
}

struct Pending {
    kind: &'static str,
    subject: Subject,
    input: Option<Hash>,
    output: Option<Hash>,
    outcome: &'static str,
    cost: Cost,
    /// Input and output objects, written (if new) just before the group commits.
    objects: Vec<(Hash, Vec<u8>)>,
}

/// The governed dispatcher of one plan run.
pub struct Governed {
    pub(crate) rt: Arc<Runtime>,
    pub(crate) plan: Option<u64>,
    /// How many plans this one runs inside (0 for a top-level run).
    pub(crate) nesting: u64,
    budget: Arc<Budget>,
    buffer: Mutex<Vec<Pending>>,
    written: Mutex<std::collections::HashSet<Hash>>,
    /// Steps the calling evaluation has left (set at each plan `call`), and steps a native
    /// spent on its behalf (a nested plan), billed back to it.
    pub(crate) steps_left: AtomicU64,
    pub(crate) steps_spent: AtomicU64,
    /// Shared with nested runs: `id` → the version this run (tree) uses.
    resolved: Arc<Mutex<std::collections::HashMap<String, Hash>>>,
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

impl Governed {
    /// A dispatcher for a run with `budget`.
    pub fn new(rt: Arc<Runtime>, plan: Option<u64>, budget: Arc<Budget>) -> Arc<Governed> {
        Arc::new(Governed {
            rt,
            plan,
            nesting: 0,
            budget,
            buffer: Mutex::new(Vec::new()),
            written: Mutex::new(std::collections::HashSet::new()),
            resolved: Default::default(),
            steps_left: AtomicU64::new(u64::MAX),
            steps_spent: AtomicU64::new(0),
        })
    }

    /// The dispatcher of a plan run nested in this one: the same budget, one level deeper.
    pub(crate) fn child(&self, plan: u64) -> Arc<Governed> {
        Arc::new(Governed {
            rt: self.rt.clone(),
            plan: Some(plan),
            nesting: self.nesting + 1,
            budget: self.budget.clone(),
            buffer: Mutex::new(Vec::new()),
            written: Mutex::new(std::collections::HashSet::new()),
            resolved: self.resolved.clone(),
            steps_left: AtomicU64::new(u64::MAX),
            steps_spent: AtomicU64::new(0),
        })
    }

    /// The run's budget.
    pub fn budget(&self) -> &Budget {
        &self.budget
    }

    pub(crate) fn buffer(&self, kind: &'static str, subject: &Value, p: PendingParts) {
        let subject = Subject::Encoded(rtfs::encoding::encode(subject).unwrap_or_default());
        self.buffer_subject(kind, subject, p);
    }

    fn buffer_subject(&self, kind: &'static str, subject: Subject, p: PendingParts) {
        if let Ok(mut b) = self.buffer.lock() {
            b.push(Pending {
                kind,
                subject,
                input: p.input,
                output: p.output,
                outcome: p.outcome,
                cost: p.cost,
                objects: p.objects,
            });
        }
    }

    /// The version of `id` this run uses: resolved once per run (a run sees one consistent
    /// set of versions; a move takes effect from the next run), loaded once per process.
    fn load(&self, spec: &str) -> Result<(Hash, Loaded), Failure> {
        let known = self.resolved.lock().ok().and_then(|r| r.get(spec).copied());
        // Per thread and per runtime (the loaded module carries this home's grants).
        let rt_key = Arc::as_ptr(&self.rt) as usize;
        if let Some(h) = known {
            // Manifests decoded on this thread, by version (immutable, so never stale).
            if let Some(hit) = MANIFESTS.with(|m| m.borrow().get(&(rt_key, h)).cloned()) {
                return Ok((h, hit));
            }
            if let Some((cap, manifest)) = crate::caps::cached_version(&self.rt, &h) {
                return Ok((h, Self::remember(rt_key, h, cap, manifest)?));
            }
        }
        let version = self.rt.kernel().home.registry.resolve(spec)?;
        let (cap, manifest) = crate::caps::load_version(&self.rt, &version)?;
        if let Ok(mut r) = self.resolved.lock() {
            r.insert(spec.to_string(), version.row.hash);
        }
        let loaded = Self::remember(rt_key, version.row.hash, cap, manifest)?;
        Ok((version.row.hash, loaded))
    }

    fn remember(
        rt_key: usize,
        version: Hash,
        cap: Arc<kiln_sandbox::Capability>,
        manifest: Value,
    ) -> Result<Loaded, Failure> {
        let effects: Rc<[Effect]> = crate::caps::effects_of(&manifest)?.into_iter().collect();
        let loaded = (cap, manifest, effects);
        MANIFESTS.with(|m| {
            let mut m = m.borrow_mut();
            if m.len() >= 1024 {
                m.clear();
            }
            m.insert((rt_key, version), loaded.clone());
        });
        Ok(loaded)
    }

    /// Forgets which version of `id` this run uses (after the run itself moved it).
    pub(crate) fn forget(&self, id: &str) {
        if let Ok(mut r) = self.resolved.lock() {
            r.remove(id);
        }
    }

    /// Commits the buffered entries in one transaction.
    pub fn flush(&self) -> Result<(), Failure> {
        self.flush_with(Vec::new())
    }

    /// Commits the buffered entries and then `more`, in one durable transaction.
    fn flush_with(&self, more: Vec<Record>) -> Result<(), Failure> {
        let pending: Vec<Pending> = match self.buffer.lock() {
            Ok(mut b) => std::mem::take(&mut *b),
            Err(_) => return Err(Failure("the chain buffer is poisoned".into())),
        };
        if pending.is_empty() && more.is_empty() {
            return Ok(());
        }
        // Objects before the rows that name them; each distinct one written once per run.
        let home = &self.rt.kernel().home;
        {
            let mut known = self
                .written
                .lock()
                .map_err(|_| Failure("the object set is poisoned".into()))?;
            for (h, bytes) in pending.iter().flat_map(|p| p.objects.iter()) {
                if known.insert(*h) && !home.objects.touch(h) {
                    home.objects.put(bytes)?;
                }
            }
        }
        let mut records: Vec<Record> = pending
            .into_iter()
            .map(|p| Record {
                kind: p.kind.into(),
                subject: p.subject.value(),
                input: p.input,
                output: p.output,
                outcome: p.outcome.into(),
                cost: p.cost,
            })
            .collect();
        records.extend(more);
        self.rt.kernel().append_in_plan(self.plan, records)?;
        Ok(())
    }

    /// One governed call. `nested` is the calling guest's call, when a guest calls.
    pub fn call(
        self: &Arc<Self>,
        nested: Option<&mut NestedCall<'_>>,
        id: &str,
        arg: &Value,
    ) -> Result<Value, CallFailure> {
        let fail = |reason: Reason, m: String| CallFailure::new(reason, m);
        if self.budget.spent() || self.budget.fuel_left() == 0 {
            // A plan that keeps calling past its budget stops at its next poll.
            self.budget.spent.store(true, Ordering::SeqCst);
            return Err(fail(
                Reason::Quota,
                format!(
                    "the plan's wasm-fuel budget of {} is spent",
                    self.budget.fuel_total
                ),
            ));
        }
        // `ID@PREFIX` pins a version: decisions, rules and quotas concern the id itself.
        let spec = id;
        let (id, pinned) = match spec.split_once('@') {
            Some((base, _)) => (base, true),
            None => (spec, false),
        };
        if let Some(native) = crate::natives::native(id) {
            return self.call_native(native, spec, nested.is_some(), arg);
        }
        let loaded = self.load(spec).and_then(|(version, loaded)| {
            // An agent may pin only a version that was active at some time: never one that
            // waits for approval or was refused.
            if pinned {
                let moves = self.rt.kernel().home.registry.moves(id)?;
                if !moves.iter().any(|m| m.to == version) {
                    return Err(Failure(format!(
                        "{spec}: version {} of {id} was never active; plans may pin only versions a human or the constitution let become active",
                        &version.hex()[..12]
                    )));
                }
            }
            Ok((version, loaded))
        });
        let (version, (cap, manifest, effects)) = match loaded {
            Ok(found) => found,
            Err(e) => return Err(self.unknown(id, e.0)),
        };
        let kernel = self.rt.kernel();
        let action = Action {
            kind: ActionKind::Call,
            capability: Some(id),
            effects: &effects,
            who: Who::Agent,
        };
        let effectful = is_effectful(&effects);
        // A pure call the table allows with no rule concerned records no reason of its own
        // (the session's trust level explains it), so none is formatted.
        let mut d = if !effectful && plainly_allowed(&kernel.constitution, kernel.trust, &action) {
            Decision {
                verdict: Verdict::Allow,
                reason: String::new(),
                rule: None,
            }
        } else {
            decide(&kernel.constitution, kernel.trust, &action)
        };
        // A call that needs approval proceeds once a human approved calling this version.
        let mut approval = None;
        if d.verdict == Verdict::RequireApproval {
            approval = kiln_store::approvals::approved(&kernel.home.db, "call", &version)
                .map_err(|e| fail(Reason::Failed, e.to_string()))?;
            if approval.is_some() {
                d.verdict = Verdict::Allow;
            }
        }
        if effectful || d.verdict != Verdict::Allow {
            let subject = Value::map(vec![
                (kw("action"), kw("call")),
                (kw("capability"), Value::str(id)),
                (kw("version"), Value::str(&version.hex())),
                (
                    kw("verdict"),
                    kw(if approval.is_some() {
                        "approved".into()
                    } else {
                        d.verdict.to_string()
                    }
                    .as_str()),
                ),
                (kw("approval"), approval.map_or(Value::Nil, Value::Int)),
                (kw("reason"), Value::str(&d.reason)),
                (kw("rule"), d.rule.as_deref().map_or(Value::Nil, Value::str)),
                (
                    kw("effects"),
                    Value::vector(effects.iter().map(|e| kw(e.as_str())).collect()),
                ),
            ]);
            let outcome = match d.verdict {
                Verdict::Allow => "ok",
                Verdict::RequireApproval => "pending",
                Verdict::Deny => "denied",
            };
            // Durable before the effect (and every refusal is on the chain for certain), in
            // one commit with whatever was buffered.
            self.flush_with(vec![Record {
                outcome: outcome.into(),
                ..Record::ok("decision", subject)
            }])
            .map_err(|e| fail(Reason::Failed, e.0))?;
        }
        // An allowed pure call gets one entry, after it ran, that records the decision too:
        // allowed, by the rule that decided if one did (else by the session's trust level).
        let decision = Subject::Call {
            id: id.to_string(),
            rule: d.rule.clone(),
        };
        match d.verdict {
            Verdict::Allow => {}
            Verdict::Deny => {
                return Err(fail(
                    Reason::Denied,
                    format!("calling {id} is denied: {}", d.reason),
                ));
            }
            Verdict::RequireApproval => {
                return Err(crate::natives::pending(
                    self,
                    "call",
                    id,
                    version,
                    !effectful,
                    &d.reason,
                    &format!("calling {id}"),
                ));
            }
        }
        crate::caps::schema_check(&manifest, "input-schema", arg, "input")
            .map_err(|e| fail(Reason::InvalidInput, e.0))?;
        if let Err(m) = crate::caps::check_byte_quotas(&self.rt, id, false) {
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
        let cfg = &kernel.config.sandbox;
        let limits = Limits {
            fuel: cfg.fuel.min(self.budget.fuel_left()),
            memory_bytes: cfg.memory_bytes,
            timeout: Duration::from_millis(cfg.timeout_ms).min(
                self.budget
                    .deadline
                    .saturating_duration_since(Instant::now()),
            ),
            deterministic: false,
        };
        let engine_arg = engine_input(&self.rt, id, &manifest, arg)?;
        let call_arg = &engine_arg;
        let started = Instant::now();
        let (result, fuel) = match nested {
            Some(call) => {
                let before = call.fuel_left();
                let r = call.run(&cap, call_arg, limits);
                (r, before.saturating_sub(call.fuel_left()))
            }
            None => {
                let me: Arc<dyn kiln_sandbox::Dispatcher> = Arc::new(GovernedRef(self.clone()));
                match self.rt.sandbox().call_metered(&cap, call_arg, limits, me) {
                    Ok(o) => {
                        self.budget.charge(o.fuel_used);
                        (Ok(o.value), o.fuel_used)
                    }
                    Err(kiln_sandbox::FailedCall {
                        error: e,
                        fuel_used: used,
                    }) => {
                        // A call that failed still spent what it burned.
                        self.budget.charge(used);
                        (Err(e), used)
                    }
                }
            }
        };
        if matches!(result, Err(SandboxError::FuelExhausted { .. })) && limits.fuel < cfg.fuel {
            // The plan's budget, not the call's own limit, ran out.
            self.budget.spent.store(true, Ordering::SeqCst);
        }
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
        let (outcome, output, ret) = match result {
            Ok(v) => match crate::caps::schema_check(&manifest, "output-schema", &v, "output") {
                Ok(()) => match crate::caps::check_byte_quotas(&self.rt, id, true) {
                    Ok(()) => ("ok", object(&v), Ok(v)),
                    Err(m) => ("quota", None, Err(fail(Reason::Quota, m))),
                },
                Err(e) => ("error", None, Err(fail(Reason::InvalidOutput, e.0))),
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
        let subject = if effectful {
            Subject::Encoded(
                rtfs::encoding::encode(&Value::map(vec![(kw("capability"), Value::str(id))]))
                    .unwrap_or_default(),
            )
        } else {
            decision
        };
        self.buffer_subject(
            "call",
            subject,
            PendingParts {
                input,
                output,
                outcome,
                cost,
                objects,
            },
        );
        // The outcome is buffered too: it commits with the next durable entry or the run's
        // end; the decision that authorised the effect is already durable.
        ret
    }

    /// Refuses a call of what is not installed (or not servable); on the chain too.
    fn unknown(&self, id: &str, message: String) -> CallFailure {
        self.refuse(id, message, Reason::Unknown)
    }

    /// Refuses a call before any decision (the capability cannot be served to this caller),
    /// with a buffered `call` entry whose outcome is the reason.
    fn refuse(&self, id: &str, message: String, reason: Reason) -> CallFailure {
        self.buffer(
            "call",
            &Value::map(vec![
                (kw("capability"), Value::str(id)),
                (kw("error"), Value::str(&message)),
            ]),
            PendingParts {
                outcome: reason.as_str(),
                ..PendingParts::default()
            },
        );
        CallFailure::new(reason, message)
    }

    /// A call of a native capability (`spec` is its id, perhaps pinned), from a plan or — when
    /// `from_capability` — from a guest, which is refused.
    fn call_native(
        self: &Arc<Self>,
        native: &crate::natives::Native,
        spec: &str,
        from_capability: bool,
        arg: &Value,
    ) -> Result<Value, CallFailure> {
        let id = native.id;
        let fail = |reason: Reason, m: String| CallFailure::new(reason, m);
        if from_capability {
            // Natives run plans and the sandbox themselves: a plan may call them, a
            // capability may not (refused, and on the chain).
            let m = format!("{id} is available to plans, not to capabilities");
            return Err(self.refuse(id, m, Reason::Unavailable));
        }
        // Resolved like any version, and only the active one runs — when it is this build's
        // (a version refused at open, or another kiln's, is not served).
        let ours = Hash::of(native.implementation().as_bytes());
        let version = match self.rt.kernel().home.registry.resolve(spec) {
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
        .map_err(|m| self.unknown(spec, m))?;
        // A constitution rule may deny calling a native (for an agent); approval for what a
        // native does is decided by the native, on what it creates or runs.
        let kernel = self.rt.kernel();
        let effects: Vec<Effect> = crate::caps::effects_of(&version.manifest)
            .map_err(|e| fail(Reason::Failed, e.0))?
            .into_iter()
            .collect();
        let action = Action {
            kind: ActionKind::Call,
            capability: Some(id),
            effects: &effects,
            who: Who::Agent,
        };
        let d = decide(&kernel.constitution, kernel.trust, &action);
        if d.verdict == Verdict::Deny && d.rule.is_some() {
            self.record_now(
                "decision",
                Value::map(vec![
                    (kw("action"), kw("call")),
                    (kw("capability"), Value::str(id)),
                    (kw("version"), Value::str(&version.row.hash.hex())),
                    (kw("verdict"), kw("deny")),
                    (kw("reason"), Value::str(&d.reason)),
                    (kw("rule"), d.rule.as_deref().map_or(Value::Nil, Value::str)),
                ]),
                "denied",
            )?;
            return Err(fail(
                Reason::Denied,
                format!("calling {id} is denied: {}", d.reason),
            ));
        }
        crate::caps::schema_check(&version.manifest, "input-schema", arg, "input")
            .map_err(|e| fail(Reason::InvalidInput, format!("{id}: {}", e.0)))?;
        (native.run)(self, arg)
    }

    /// Commits the buffer and then one entry, durably (a self-modifying decision).
    pub(crate) fn record_now(
        &self,
        kind: &str,
        subject: Value,
        outcome: &str,
    ) -> Result<(), CallFailure> {
        self.flush_with(vec![Record {
            outcome: outcome.into(),
            ..Record::ok(kind, subject)
        }])
        .map_err(|e| CallFailure::new(Reason::Failed, e.0))
    }

    /// Runs a plan's `call` (the arguments as one input: none → nil, one → itself, more → a
    /// vector).
    pub fn plan_call(self: &Arc<Self>, request: &CallRequest<'_>) -> Result<Value, CallFailure> {
        self.steps_left.store(request.steps_left, Ordering::SeqCst);
        let arg = match request.args {
            [] => Value::Nil,
            [one] => one.clone(),
            more => Value::vector(more.to_vec()),
        };
        self.call(None, request.id, &arg)
    }
}

/// The parts of a buffered entry besides its kind and subject.
#[derive(Default)]
pub(crate) struct PendingParts {
    pub input: Option<Hash>,
    pub output: Option<Hash>,
    pub outcome: &'static str,
    pub cost: Cost,
    pub objects: Vec<(Hash, Vec<u8>)>,
}

/// The input a version's module gets: `arg` itself, or for an `:rtfs` version the engine's
/// `{:program <source> :input arg}`.
pub fn engine_input(
    rt: &Runtime,
    id: &str,
    manifest: &Value,
    arg: &Value,
) -> Result<Value, CallFailure> {
    let Some(p) = manifest.get_key("program").and_then(Value::as_str) else {
        return Ok(arg.clone());
    };
    let fail = |m: String| CallFailure::new(Reason::Failed, m);
    let h = Hash::parse(p).ok_or_else(|| fail(format!("{id}: malformed :program")))?;
    let source = rt
        .kernel()
        .home
        .objects
        .get(&h)
        .map_err(|e| fail(format!("{id}: {e}")))?;
    Ok(Value::map(vec![
        (kw("program"), Value::str(&String::from_utf8_lossy(&source))),
        (kw("input"), arg.clone()),
    ]))
}

impl Governed {
    /// This run as the dispatcher of a guest's nested `kiln.call`s.
    pub fn dispatcher(self: &Arc<Self>) -> Arc<dyn kiln_sandbox::Dispatcher> {
        Arc::new(GovernedRef(self.clone()))
    }
}

/// The dispatcher a guest's `kiln.call` reaches during a governed run.
struct GovernedRef(Arc<Governed>);

impl kiln_sandbox::Dispatcher for GovernedRef {
    fn dispatch(
        &self,
        call: &mut NestedCall<'_>,
        id: &str,
        arg: Value,
    ) -> Result<Value, SandboxError> {
        self.0
            .call(Some(call), id, &arg)
            .map_err(|f| SandboxError::Dispatch {
                id: id.into(),
                reason: f.reason.as_str().into(),
                message: f.message,
            })
    }
}
