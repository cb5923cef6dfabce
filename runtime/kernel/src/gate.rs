//! The gate: the one place that decides. [`Gate::authorize`] takes an action, decides it (the
//! constitution's table × rules × principal × effects), looks for a human's approval in force
//! for exactly the content concerned, takes from the session's synthesis quota when asked,
//! records the decision on the chain (durably before the effect; an allowed pure call's
//! decision goes into the call's own entry, group-committed) and returns a [`Permit`] — or a
//! [`Refusal`]. Every change to the store takes a `Permit` (or, for what a decision that waits
//! for a human still allows — storing the version, filing the request — a [`Pending`]), and
//! only the gate makes either: the store's `Authority` never leaves this file.
//!
//! ```compile_fail
//! # fn f(gate: &kiln_kernel::gate::Gate, manifest: &rtfs::Value) {
//! // No way to register a version without a permit from `Gate::authorize`:
//! gate.register(manifest);
//! # }
//! ```
//!
//! ```compile_fail
//! # fn f(gate: &kiln_kernel::gate::Gate, manifest: &rtfs::Value, caller: kiln_store::Caller) {
//! // …and a permit cannot be made by hand.
//! let permit = kiln_kernel::gate::Permit { caller, decision: None, approval: None, rule: None };
//! gate.register(&permit, manifest);
//! # }
//! ```

use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use kiln_sandbox::Effect;
use kiln_store::approvals::NewRequest;
use kiln_store::{
    Activate, Append, Authority, Caller, Collect, Context, Entry, GcReport, Hash, Home, Moved,
    ObjectStore, Principal, Record, Register, RegisterNative, Registered, Registry,
};
use rtfs::Value;

use crate::approval::ApprovalAction;
use crate::decision::DecisionRecord;
use crate::error::{Blocked, KernelError, Result};
use crate::governance::constitution::Constitution;
use crate::governance::{Action, ActionKind, Decision, Verdict, Who, decide, plainly_allowed};
use crate::journal::Journal;
use crate::policy::Policy;
use crate::scope::Scope;

/// An action to authorize.
#[derive(Clone, Debug)]
pub struct ActionRequest<'a> {
    /// What kind of action.
    pub kind: ActionKind,
    /// Who acts.
    pub who: Who,
    /// The capability concerned, if any.
    pub capability: Option<&'a str>,
    /// The effects involved.
    pub effects: &'a [Effect],
    /// The exact content decided on (a version, a plan's source), recorded with the decision.
    pub hash: Option<Hash>,
    /// The approval action whose approval of `hash` lets a decision that needs approval
    /// proceed (`None`: none is looked for).
    pub approval: Option<ApprovalAction>,
    /// An allowed decision is recorded in the action's own entry, group-committed, instead of
    /// durably on its own (allowed pure calls).
    pub with_outcome: bool,
    /// Allowing it takes one new version from the session's synthesis quota.
    pub takes_synthesis: bool,
    /// Only a rule's denial applies, and only it is recorded (calling a native: what the
    /// native does is decided on its own, when it does it).
    pub rules_only: bool,
    /// What was decided for the caller: a callee outside it is denied, whatever else says.
    pub scope: Option<&'a Scope>,
}

impl<'a> ActionRequest<'a> {
    /// A request of `kind` by `who` with no capability, effects or content.
    pub fn new(kind: ActionKind, who: Who) -> ActionRequest<'a> {
        ActionRequest {
            kind,
            who,
            capability: None,
            effects: &[],
            hash: None,
            approval: None,
            with_outcome: false,
            takes_synthesis: false,
            rules_only: false,
            scope: None,
        }
    }

    /// About `capability`.
    pub fn capability(mut self, id: &'a str) -> Self {
        self.capability = Some(id);
        self
    }

    /// Involving `effects`.
    pub fn effects(mut self, effects: &'a [Effect]) -> Self {
        self.effects = effects;
        self
    }

    /// About exactly `hash`; `approval` of it lets the action proceed.
    pub fn content(mut self, hash: Hash, approval: Option<ApprovalAction>) -> Self {
        self.hash = Some(hash);
        self.approval = approval;
        self
    }
}

/// Proof that a decision letting an action proceed is on the chain (or, for an allowed pure
/// call, will be, in the call's own entry). Only [`Gate::authorize`] makes one.
#[derive(Debug)]
pub struct Permit {
    caller: Caller,
    decision: Option<u64>,
    approval: Option<i64>,
    rule: Option<String>,
}

impl Permit {
    /// The decision's chain entry (`None`: recorded with the action's outcome).
    pub fn decision(&self) -> Option<u64> {
        self.decision
    }

    /// The human approval it proceeds on, if any.
    pub fn approval(&self) -> Option<i64> {
        self.approval
    }

    /// The rule that decided, if one did.
    pub fn rule(&self) -> Option<&str> {
        self.rule.as_deref()
    }
}

/// A recorded decision that waits for a human: it lets the requester store what is to be
/// approved (inactive) and file the request, nothing else.
#[derive(Debug)]
pub struct Pending {
    caller: Caller,
    decision: Decision,
}

impl Pending {
    /// The decision.
    pub fn decision(&self) -> &Decision {
        &self.decision
    }
}

/// Why an action may not proceed (each is on the chain).
#[derive(Debug)]
pub enum Refusal {
    /// The constitution denies it.
    Denied(Decision),
    /// A human must approve it first.
    Pending(Box<Pending>),
    /// A quota is used up (the message names it).
    Quota(String),
    /// The decision could not be made or recorded.
    Failed(KernelError),
}

impl From<KernelError> for Refusal {
    fn from(e: KernelError) -> Refusal {
        Refusal::Failed(e)
    }
}

impl From<kiln_store::StoreError> for Refusal {
    fn from(e: kiln_store::StoreError) -> Refusal {
        Refusal::Failed(e.into())
    }
}

impl From<Refusal> for KernelError {
    fn from(r: Refusal) -> KernelError {
        match r {
            Refusal::Denied(d) => Blocked::Denied(d).into(),
            Refusal::Pending(p) => Blocked::NeedsApproval {
                decision: p.decision.clone(),
                approval: None,
            }
            .into(),
            Refusal::Quota(m) => KernelError::Quota(m),
            Refusal::Failed(e) => e,
        }
    }
}

/// What a store change may be made on: a permit, or — for storing an inactive version and
/// filing a request — a pending decision. Sealed: only the gate's two types are.
pub trait Decided: sealed::Sealed {
    /// The caller the change is recorded as.
    #[doc(hidden)]
    fn caller(&self) -> &Caller;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::Permit {}
    impl Sealed for super::Pending {}
}

impl Decided for Permit {
    fn caller(&self) -> &Caller {
        &self.caller
    }
}

impl Decided for Pending {
    fn caller(&self) -> &Caller {
        &self.caller
    }
}

/// The shortest grace period `kiln gc` uses, beyond the store's busy timeout.
pub const MIN_GC_GRACE: Duration = Duration::from_secs(50);

/// The governed home: the only holder of its store `Authority`.
pub struct Gate {
    home: Home,
    authority: Authority,
    policy: Policy,
    session: Context,
    started: Mutex<Option<u64>>,
    /// New agent-created capability versions in this session (the synthesis quota).
    agent_versions: AtomicU64,
}

fn kw(k: &str) -> Value {
    Value::keyword(k)
}

impl Gate {
    /// Opens the home at `dir` (creating it) with its policy; `trust` may only lower the level.
    pub fn open(dir: &Path, trust: Option<u8>) -> Result<Gate> {
        let (home, authority) = Home::open_governed(dir)?;
        let policy = Policy::load(&home, trust)?;
        Ok(Gate {
            home,
            authority,
            policy,
            session: Context::human(),
            started: Mutex::new(None),
            agent_versions: AtomicU64::new(0),
        })
    }

    /// The home, to read.
    pub fn home(&self) -> &Home {
        &self.home
    }

    /// The policy in force.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    fn caller(&self, parent: Option<u64>) -> Caller {
        Caller {
            context: Context {
                parent,
                ..self.session.clone()
            },
            deadline: Some(
                Instant::now() + Duration::from_millis(self.policy.config.store.busy_timeout_ms),
            ),
        }
    }

    /// Records `session.start` (trust level, constitution hash) before the session's first
    /// entry; returns its seq.
    fn session_start(&self) -> Result<u64> {
        let mut started = self
            .started
            .lock()
            .map_err(|_| KernelError::invalid("session state poisoned"))?;
        if let Some(seq) = *started {
            return Ok(seq);
        }
        let e = self.home.append(
            &self.authority.authorize(self.caller(None), Append),
            vec![Record::ok(
                "session.start",
                Value::map(vec![
                    (kw("trust-level"), Value::Int(self.policy.trust as i64)),
                    (
                        kw("constitution"),
                        Value::str(&self.policy.constitution_hash.hex()),
                    ),
                ]),
            )],
        )?;
        let seq = e.first().map_or(0, |e| e.seq);
        *started = Some(seq);
        Ok(seq)
    }

    /// The human's caller in this session.
    fn human_caller(&self) -> Result<Caller> {
        let session = self.session_start()?;
        Ok(self.caller(Some(session)))
    }

    /// An agent's caller: inside plan run `plan` (agent id `plan/RUN`), or, outside any plan,
    /// the code a capability runs (agent id `capability`).
    fn agent_caller(&self, plan: Option<u64>) -> Result<Caller> {
        let session = self.session_start()?;
        let mut caller = self.caller(Some(plan.unwrap_or(session)));
        caller.context.plan = plan.map(|p| p as i64);
        caller.context.principal = Principal::Agent(match plan {
            Some(p) => format!("plan/{p}"),
            None => "capability".into(),
        });
        Ok(caller)
    }

    fn caller_for(&self, who: Who, journal: Option<&Journal>) -> Result<Caller> {
        match who {
            Who::Human => self.human_caller(),
            Who::Agent => self.agent_caller(journal.and_then(Journal::plan)),
        }
    }

    /// Decides `req` and records the decision; see the module documentation. An agent's
    /// action passes its run's journal: the decision commits together with what is buffered.
    pub fn authorize(
        &self,
        req: &ActionRequest<'_>,
        journal: Option<&Journal>,
    ) -> Result<Permit, Refusal> {
        let action = Action {
            kind: req.kind,
            capability: req.capability,
            effects: req.effects,
            who: req.who,
        };
        let (constitution, trust) = (&self.policy.constitution, self.policy.trust);
        if let Some(why) = req
            .scope
            .and_then(|s| s.refuses(req.capability.unwrap_or("a capability"), req.effects))
        {
            // The constitution's own denial (a rule, a human-only action) is what the chain
            // names when there is one; else the caller's scope refuses.
            let d = match decide(constitution, trust, &action) {
                d if d.verdict == Verdict::Deny => d,
                _ => Decision {
                    verdict: Verdict::Deny,
                    reason: why,
                    rule: None,
                },
            };
            self.record(req, journal, &d, None)?;
            return Err(Refusal::Denied(d));
        }
        // With self-programming off, no agent creates, changes, activates or runs anything of
        // its own — decided and recorded like any refusal.
        if req.who == Who::Agent
            && !self.policy.config.self_programming.enabled
            && matches!(
                req.kind,
                ActionKind::ModifyPure | ActionKind::ModifyEffectful | ActionKind::ExecutePurePlan
            )
        {
            let d = Decision {
                verdict: Verdict::Deny,
                reason: "self-programming is disabled ([self_programming] enabled = false in agent_config.toml)".into(),
                rule: None,
            };
            self.record(req, journal, &d, None)?;
            return Err(Refusal::Denied(d));
        }
        // The common pure call the table allows with no rule concerned: its reason would be
        // the table cell, so nothing is formatted; it is recorded with the call.
        if req.with_outcome && plainly_allowed(constitution, trust, &action) {
            return Ok(Permit {
                caller: self.caller_for(req.who, journal)?,
                decision: None,
                approval: None,
                rule: None,
            });
        }
        let d = decide(constitution, trust, &action);
        if req.rules_only && !(d.verdict == Verdict::Deny && d.rule.is_some()) {
            return Ok(Permit {
                caller: self.caller_for(req.who, journal)?,
                decision: None,
                approval: None,
                rule: None,
            });
        }
        if req.with_outcome && d.verdict == Verdict::Allow {
            return Ok(Permit {
                caller: self.caller_for(req.who, journal)?,
                decision: None,
                approval: None,
                rule: d.rule,
            });
        }
        let approval = match (d.verdict, req.approval, req.hash) {
            (Verdict::RequireApproval, Some(a), Some(h)) => {
                kiln_store::approvals::approved(&self.home.db, a.as_str(), &h)?
            }
            _ => None,
        };
        if req.takes_synthesis && d.verdict != Verdict::Deny {
            self.take_synthesis_quota(journal, req.capability.unwrap_or(""))?;
        }
        let seq = self.record(req, journal, &d, approval)?;
        let caller = match req.who {
            // A human's change names its decision as parent; an agent's names its run.
            Who::Human => self.caller(seq),
            Who::Agent => self.agent_caller(journal.and_then(Journal::plan))?,
        };
        match (d.verdict, approval) {
            (Verdict::Deny, _) => Err(Refusal::Denied(d)),
            (Verdict::RequireApproval, None) => Err(Refusal::Pending(Box::new(Pending {
                caller,
                decision: d,
            }))),
            _ => Ok(Permit {
                caller,
                decision: seq,
                approval,
                rule: d.rule,
            }),
        }
    }

    /// Records decision `d` on `req` (proceeding on `approval`, if any) durably, with what
    /// `journal` buffered; returns its entry's seq.
    fn record(
        &self,
        req: &ActionRequest<'_>,
        journal: Option<&Journal>,
        d: &Decision,
        approval: Option<i64>,
    ) -> Result<Option<u64>> {
        let mut record = DecisionRecord::new(req.kind, req.who, d, approval);
        record.capability = req.capability.map(str::to_string);
        record.hash = req.hash;
        record.effects = req.effects.to_vec();
        let entry = Record {
            outcome: record.outcome().into(),
            ..Record::ok("decision", record.to_value())
        };
        Ok(match journal {
            Some(j) => self.commit(j, vec![entry])?.last().map(|e| e.seq),
            None => self
                .home
                .append(
                    &self
                        .authority
                        .authorize(self.caller_for(req.who, None)?, Append),
                    vec![entry],
                )?
                .first()
                .map(|e| e.seq),
        })
    }

    /// A human's command of `kind` (about `capability`, involving `effects`), decided and
    /// recorded; refusals as errors.
    pub fn authorize_human(
        &self,
        kind: ActionKind,
        capability: Option<&str>,
        effects: &[Effect],
    ) -> Result<Permit> {
        let mut req = ActionRequest::new(kind, Who::Human).effects(effects);
        req.capability = capability;
        self.authorize(&req, None).map_err(KernelError::from)
    }

    /// Takes one new capability version from the session's synthesis quota, or refuses (the
    /// refusal, naming the quota, is on the chain). Also refuses when self-programming is
    /// disabled.
    fn take_synthesis_quota(&self, journal: Option<&Journal>, id: &str) -> Result<(), Refusal> {
        let quota = self.policy.synthesis_quota();
        let taken = self
            .agent_versions
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |used| {
                (used < quota).then_some(used + 1)
            });
        let Err(used) = taken else { return Ok(()) };
        let record = Record {
            outcome: "denied".into(),
            ..Record::ok(
                "quota",
                Value::map(vec![
                    (kw("quota"), kw("max-synthesis-per-session")),
                    (kw("max"), Value::Int(quota as i64)),
                    (kw("capability"), Value::str(id)),
                ]),
            )
        };
        match journal {
            Some(j) => self.commit(j, vec![record])?,
            None => self.home.append(
                &self.authority.authorize(self.agent_caller(None)?, Append),
                vec![record],
            )?,
        };
        Err(Refusal::Quota(format!(
            "quota max_synthesis_per_session = {quota} reached: this session already created {used} capability versions"
        )))
    }

    /// A journal for the guests' calls during a human's `kiln call` (agent `capability`), on
    /// the human's permit to call.
    pub fn call_journal(&self, _permit: &Permit) -> Journal {
        Journal::new(None)
    }

    /// Commits what `journal` buffered, then `more`, in one durable transaction (objects
    /// first).
    pub fn commit(&self, journal: &Journal, more: Vec<Record>) -> Result<Vec<Entry>> {
        let batch = journal.take(more).map_err(KernelError::Invalid)?;
        if batch.records.is_empty() {
            return Ok(Vec::new());
        }
        for (h, bytes) in &batch.objects {
            if !self.home.objects.touch(h) {
                self.home.objects.put(bytes)?;
            }
        }
        let caller = self.agent_caller(journal.plan())?;
        Ok(self
            .home
            .append(&self.authority.authorize(caller, Append), batch.records)?)
    }

    /// Commits the buffer and then one entry, durably (a refusal, a quota stop).
    pub fn record_now(
        &self,
        journal: &Journal,
        kind: &str,
        subject: Value,
        outcome: &str,
    ) -> Result<()> {
        self.commit(
            journal,
            vec![Record {
                outcome: outcome.into(),
                ..Record::ok(kind, subject)
            }],
        )?;
        Ok(())
    }

    /// Records the outcome of a human's `kiln call` (in the human's session, after the
    /// decision its permit proves).
    pub fn record_call(&self, _permit: &Permit, record: Record) -> Result<()> {
        let caller = self.human_caller()?;
        self.home
            .append(&self.authority.authorize(caller, Append), vec![record])?;
        Ok(())
    }

    /// Starts a plan run: its source stored, its `plan.start` entry and history row written
    /// together; returns the run's journal (its id is the entry's seq). A run nested in
    /// `parent`'s is an agent's; a top-level run is the human's.
    pub fn start_plan(
        &self,
        parent: Option<&Journal>,
        name: &str,
        source: &str,
        subject: Value,
    ) -> Result<Journal> {
        let hash = self.home.objects.put(source.as_bytes())?;
        let (caller, parent_run) = match parent {
            Some(j) => (self.agent_caller(j.plan())?, j.plan()),
            None => (self.human_caller()?, None),
        };
        let e = kiln_store::plans::start(
            &self.home.db,
            &self.authority.authorize(caller, Append),
            Record::ok("plan.start", subject),
            hash,
            name,
            parent_run.map(|p| p as i64),
        )?;
        Ok(Journal::new(Some(e.seq)))
    }

    /// Ends the run of `journal` with its `plan.end` record (a nested run's is the agent's).
    pub fn end_plan(&self, journal: &Journal, nested: bool, record: Record) -> Result<()> {
        let run = journal
            .plan()
            .ok_or_else(|| KernelError::invalid("a call's journal has no plan to end"))?;
        let caller = if nested {
            self.agent_caller(Some(run))?
        } else {
            self.human_caller()?
        };
        kiln_store::plans::end(
            &self.home.db,
            &self.authority.authorize(caller, Append),
            run as i64,
            Vec::new(),
            record,
        )?;
        Ok(())
    }

    /// Stores a version (inactive unless `activate`, which only a permit allows).
    pub fn register(&self, decided: &impl Decided, manifest: &Value) -> Result<Registered> {
        Ok(self.home.registry.register(
            &self.authority.authorize(decided.caller().clone(), Register),
            manifest,
            false,
        )?)
    }

    /// Stores a version and makes it active (a human's install).
    pub fn register_active(&self, permit: &Permit, manifest: &Value) -> Result<Registered> {
        Ok(self.home.registry.register(
            &self.authority.authorize(permit.caller.clone(), Register),
            manifest,
            true,
        )?)
    }

    /// Stores and activates a version of one of kiln's natives.
    pub fn register_native(&self, permit: &Permit, manifest: &Value) -> Result<Registered> {
        Ok(self.home.registry.register_native(
            &self
                .authority
                .authorize(permit.caller.clone(), RegisterNative),
            manifest,
        )?)
    }

    /// Makes version `hash` of `id` active.
    pub fn activate(&self, permit: &Permit, id: &str, hash: Hash) -> Result<Moved> {
        Ok(self.home.registry.activate(
            &self.authority.authorize(permit.caller.clone(), Activate),
            id,
            &hash.hex(),
        )?)
    }

    /// Moves `id`'s active pointer back (or `--to` a version).
    pub fn rollback(&self, permit: &Permit, id: &str, to: Option<&str>) -> Result<Moved> {
        Ok(self.home.registry.rollback(
            &self.authority.authorize(permit.caller.clone(), Activate),
            id,
            to,
        )?)
    }

    /// Leaves `id` with no active version.
    pub fn deactivate(&self, permit: &Permit, id: &str) -> Result<kiln_store::Deactivated> {
        Ok(self.home.registry.deactivate(
            &self.authority.authorize(permit.caller.clone(), Activate),
            id,
        )?)
    }

    /// Reverts plan run `run`'s registry moves as new recorded moves.
    pub fn undo_plan(&self, permit: &Permit, run: i64) -> Result<Vec<String>> {
        Ok(self.home.registry.undo_plan(
            &self.authority.authorize(permit.caller.clone(), Activate),
            run,
        )?)
    }

    /// Removes unreferenced objects older than `grace`.
    pub fn gc(&self, permit: &Permit, grace: Duration) -> Result<GcReport> {
        Ok(self.home.gc(
            &self.authority.authorize(permit.caller.clone(), Collect),
            grace,
        )?)
    }

    /// Files an approval request for what `decided` concerns: `action` on exactly `hash`.
    pub fn file_request(
        &self,
        decided: &impl Decided,
        action: ApprovalAction,
        subject: &str,
        hash: Hash,
        risk: &str,
        reasons: Vec<String>,
    ) -> Result<i64> {
        let requester = match (
            &decided.caller().context.principal,
            decided.caller().context.plan,
        ) {
            (Principal::Human, _) => "human".to_string(),
            (Principal::Agent(_), Some(p)) => format!("agent plan/{p}"),
            (Principal::Agent(_), None) => "agent plan/0".to_string(),
        };
        Ok(kiln_store::approvals::file(
            &self.home.db,
            &self
                .authority
                .authorize(decided.caller().clone(), kiln_store::Request),
            &NewRequest {
                action: action.as_str().into(),
                subject: subject.into(),
                hash,
                risk: risk.into(),
                reasons,
                requester,
                expires_at: crate::manifest::now_secs() + 7 * 24 * 3600,
            },
        )?)
    }

    /// `kiln approvals approve N` / `reject N`: the human's alone. Approving carries out the
    /// approved change in the same transaction, and refuses a request whose hash no longer
    /// names what it approved (stale).
    pub fn decide_approval(
        &self,
        permit: &Permit,
        n: i64,
        approve: bool,
        note: Option<&str>,
    ) -> Result<String> {
        if permit.caller.context.principal != Principal::Human {
            return Err(KernelError::invalid(
                "only the human decides approval requests",
            ));
        }
        let caller = permit.caller.clone();
        let auth = self.authority.authorize(caller.clone(), kiln_store::Decide);
        let registry = self.home.registry.clone();
        let objects = self.home.objects.clone();
        let done = kiln_store::approvals::decide(
            &self.home.db,
            &auth,
            n,
            approve,
            note,
            |tx, a| {
                let stale = |why: String| kiln_store::StoreError::Invalid(why);
                match ApprovalAction::parse(&a.request.action) {
                    Some(
                        action @ (ApprovalAction::ExecutePlan
                        | ApprovalAction::ExecuteEffectfulPlan
                        | ApprovalAction::Call),
                    ) => Ok(format!(
                        "approved {n}: {action} {} may proceed; re-run the work to continue",
                        &a.request.hash.hex()[..12]
                    )),
                    Some(ApprovalAction::Constitution) => {
                        // What is approved must be there and must govern: a proposal whose object
                        // is gone or no longer parses is stale, never activated.
                        let bytes = objects.get(&a.request.hash).map_err(|e| {
                        stale(format!(
                            "approval {n} is stale: the proposed constitution cannot be read ({e}); propose it again"
                        ))
                    })?;
                        Constitution::parse(
                            &String::from_utf8_lossy(&bytes),
                            "the proposed constitution",
                        )
                        .map_err(|e| {
                            stale(format!("approval {n} is stale: {e}; propose it again"))
                        })?;
                        let seq = kiln_store::approvals::activate_constitution_in(
                            tx,
                            &caller,
                            a.request.hash,
                            n,
                        )?;
                        Ok(format!(
                            "approved {n}: constitution {} is active from the next run (chain entry {seq})",
                            &a.request.hash.hex()[..12]
                        ))
                    }
                    Some(ApprovalAction::Activate) => {
                        let m = registry.activate_in(
                            tx,
                            &caller,
                            &a.request.subject,
                            a.request.hash,
                        )?;
                        Ok(format!(
                            "approved {n}: {} {} is active (chain entry {})",
                            a.request.subject,
                            &a.request.hash.hex()[..12],
                            m.entry
                        ))
                    }
                    None => Err(stale(format!(
                        "approval {n} is for an action this kiln cannot carry out: {}",
                        a.request.action
                    ))),
                }
            },
        )?;
        Ok(done.unwrap_or_else(|| format!("rejected {n}")))
    }

    /// Files a proposed constitution (already validated by the caller) as an approval request.
    pub fn propose_constitution(
        &self,
        permit: &Permit,
        text: &str,
        reason: String,
    ) -> Result<(Hash, i64)> {
        let hash = self.home.objects.put(text.as_bytes())?;
        let n = self.file_request(
            permit,
            ApprovalAction::Constitution,
            "constitution",
            hash,
            "high",
            vec![reason],
        )?;
        Ok((hash, n))
    }
}
