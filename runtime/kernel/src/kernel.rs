//! The governance kernel: the only holder of the home's [`Authority`]. Every change to the
//! store goes through it: decide (the constitution's table × rules × principal × effects) →
//! record the decision on the chain, durably → make the change. A human command's change names
//! its decision as parent; an agent's names the plan run it happened in (the decision precedes
//! it in the same run).

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use kiln_sandbox::Effect;
use kiln_store::{
    Activate, Append, Authority, Caller, Collect, Context, GcReport, Hash, Home, Moved, Record,
    Register, RegisterNative, Registered, Registry,
};
use rtfs::Value;

use crate::caps::Failure;
use crate::governance::config::{self, AgentConfig};
use crate::governance::constitution::{self, Constitution};
use crate::governance::{Action, ActionKind, Decision, Verdict, Who, decide};

/// A refusal or a wait for approval, as the CLI reports it (exit code 3).
#[derive(Debug)]
pub enum Blocked {
    /// The constitution denies it.
    Denied(Decision),
    /// A human must approve it first.
    NeedsApproval(Decision),
}

/// What a governed operation can end in.
#[derive(Debug)]
pub enum GovError {
    /// Refused or waiting: exit 3.
    Blocked(Blocked),
    /// Anything else: exit 1.
    Failed(Failure),
}

impl From<Failure> for GovError {
    fn from(f: Failure) -> GovError {
        GovError::Failed(f)
    }
}

impl From<kiln_sandbox::SandboxError> for GovError {
    fn from(e: kiln_sandbox::SandboxError) -> GovError {
        GovError::Failed(e.into())
    }
}

impl From<kiln_store::StoreError> for GovError {
    fn from(e: kiln_store::StoreError) -> GovError {
        GovError::Failed(e.into())
    }
}

impl std::fmt::Display for GovError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GovError::Blocked(Blocked::Denied(d)) => write!(f, "denied: {}", d.reason),
            GovError::Blocked(Blocked::NeedsApproval(d)) => {
                write!(f, "needs a human's approval: {}", d.reason)
            }
            GovError::Failed(e) => write!(f, "{e}"),
        }
    }
}

/// An open, governed home.
pub struct Kernel {
    /// The home (read access for everyone; changes only through the kernel).
    pub home: Home,
    authority: Authority,
    /// The active constitution.
    pub constitution: Constitution,
    /// The hash of its source text.
    pub constitution_hash: Hash,
    /// Where it came from (the built-in default, or a version approved in this home).
    pub constitution_origin: String,
    /// Its source text.
    pub constitution_source: String,
    /// This installation's configuration.
    pub config: AgentConfig,
    /// The effective trust level of this session: the lowest of the constitution's, the
    /// configuration's and the run's.
    pub trust: u8,
    session: Context,
    started: Mutex<Option<u64>>,
    /// New agent-created capability versions in this session (the synthesis quota).
    agent_versions: std::sync::atomic::AtomicU64,
}

/// Why an agent's change was refused.
#[derive(Debug)]
pub enum AgentError {
    /// A quota, named with its value.
    Quota(String),
    /// Anything else.
    Failed(String),
}

/// The shortest grace period `kiln gc` uses, beyond the store's busy timeout.
pub const MIN_GC_GRACE: Duration = Duration::from_secs(50);

fn kw(k: &str) -> Value {
    Value::keyword(k)
}

impl Kernel {
    /// Opens the home at `dir` with its configuration (`<home>/agent_config.toml`, else the
    /// built-in default) and the active constitution (the built-in default on a new home).
    /// `trust` may only lower the level. A broken configuration stops here: kiln does not
    /// run ungoverned.
    pub fn open(dir: &Path, trust: Option<u8>) -> Result<Kernel, Failure> {
        let (home, authority) = Home::open_governed(dir)?;
        let config_path = home.root().join("agent_config.toml");
        let config = match std::fs::read_to_string(&config_path) {
            Ok(text) => AgentConfig::parse(&text, &config_path.display().to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                AgentConfig::parse(config::DEFAULT, "agent_config.toml (built in)")
            }
            Err(e) => {
                return Err(Failure(format!(
                    "cannot read {}: {e}",
                    config_path.display()
                )));
            }
        }
        .map_err(|e| {
            Failure(format!(
                "{e}\nkiln refuses to run with a broken configuration"
            ))
        })?;
        let (source, origin) = match kiln_store::approvals::active_constitution(&home.db)? {
            None => (
                constitution::DEFAULT.to_string(),
                "constitution.rtfs (built in)".to_string(),
            ),
            Some((n, hash)) => {
                // Verified on read: a tampered constitution is an error, never used.
                let bytes = kiln_store::ObjectStore::get(home.objects.as_ref(), &hash)?;
                (
                    String::from_utf8_lossy(&bytes).into_owned(),
                    format!("constitution version {n} ({})", &hash.hex()[..12]),
                )
            }
        };
        let constitution = Constitution::parse(&source, &origin).map_err(|e| {
            Failure(format!(
                "{e}\nkiln refuses to run with a broken constitution"
            ))
        })?;
        let trust = [
            constitution.trust_level,
            config.self_programming.trust_level,
            trust.unwrap_or(u8::MAX),
        ]
        .into_iter()
        .min()
        .unwrap_or(0);
        let kernel = Kernel {
            home,
            authority,
            constitution_hash: Hash::of(source.as_bytes()),
            constitution_origin: origin,
            constitution_source: source,
            constitution,
            config,
            trust,
            session: Context::human(),
            started: Mutex::new(None),
            agent_versions: std::sync::atomic::AtomicU64::new(0),
        };
        kernel.sync_natives();
        Ok(kernel)
    }

    fn caller(&self, parent: Option<u64>) -> Caller {
        Caller {
            context: Context {
                parent,
                ..self.session.clone()
            },
            deadline: Some(
                std::time::Instant::now()
                    + Duration::from_millis(self.config.store.busy_timeout_ms),
            ),
        }
    }

    /// Records `session.start` (trust level, constitution hash) before the session's first
    /// entry; returns its seq.
    fn session_start(&self) -> Result<u64, Failure> {
        let mut started = self
            .started
            .lock()
            .map_err(|_| Failure("session state poisoned".into()))?;
        if let Some(seq) = *started {
            return Ok(seq);
        }
        let e = self.home.append(
            &self.authority.authorize(self.caller(None), Append),
            vec![Record::ok(
                "session.start",
                Value::map(vec![
                    (kw("trust-level"), Value::Int(self.trust as i64)),
                    (
                        kw("constitution"),
                        Value::str(&self.constitution_hash.hex()),
                    ),
                ]),
            )],
        )?;
        let seq = e.first().map_or(0, |e| e.seq);
        *started = Some(seq);
        Ok(seq)
    }

    /// Appends entries of this session in one durable commit (the dispatcher's group commits
    /// and durable decisions).
    pub fn append_records(&self, records: Vec<Record>) -> Result<Vec<kiln_store::Entry>, Failure> {
        // The human's own session (a `kiln call` outcome, a plan's start and end).
        let session = self.session_start()?;
        Ok(self.home.append(
            &self.authority.authorize(self.caller(Some(session)), Append),
            records,
        )?)
    }

    /// Appends entries of an agent's actions: inside plan run `plan` (agent id `plan/RUN`),
    /// or, outside any plan, by the code a capability runs (agent id `capability`).
    pub fn append_in_plan(
        &self,
        plan: Option<u64>,
        records: Vec<Record>,
    ) -> Result<Vec<kiln_store::Entry>, Failure> {
        let caller = self.agent_caller(plan)?;
        Ok(self
            .home
            .append(&self.authority.authorize(caller, Append), records)?)
    }

    /// Starts a plan run: its source stored, its `plan.start` entry and history row written
    /// together. A nested run (`parent`) is an agent's. Returns the run id.
    pub fn start_plan(
        &self,
        parent: Option<u64>,
        name: &str,
        source: &str,
        subject: Value,
    ) -> Result<u64, Failure> {
        let hash = kiln_store::ObjectStore::put(self.home.objects.as_ref(), source.as_bytes())?;
        let caller = match parent {
            Some(_) => self.agent_caller(parent)?,
            None => {
                let session = self.session_start()?;
                self.caller(Some(session))
            }
        };
        let e = kiln_store::plans::start(
            &self.home.db,
            &self.authority.authorize(caller, Append),
            Record::ok("plan.start", subject),
            hash,
            name,
            parent.map(|p| p as i64),
        )?;
        Ok(e.seq)
    }

    /// Ends plan run `run` with its `plan.end` record (entries inside it are the agent's).
    pub fn end_plan(&self, run: u64, nested: bool, record: Record) -> Result<(), Failure> {
        let caller = if nested {
            self.agent_caller(Some(run))?
        } else {
            let session = self.session_start()?;
            self.caller(Some(session))
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

    /// `kiln plans undo RUN`: reverts that run's registry moves as new recorded moves.
    pub fn undo_plan_as_human(&self, run: i64) -> Result<Vec<String>, GovError> {
        if kiln_store::plans::get(&self.home.db, run)?.is_none() {
            return Err(Failure(format!(
                "there is no plan run {run} (see `kiln plans list`)"
            ))
            .into());
        }
        let caller = self.decide_human(ActionKind::ModifyEffectful, None, &[])?;
        let auth = self.authority.authorize(caller, Activate);
        Ok(self.home.registry.undo_plan(&auth, run)?)
    }

    /// Decides a human's command of `kind` (about `capability`, involving `effects`) and
    /// returns the caller its change is made as, naming the recorded decision as parent.
    fn decide_human(
        &self,
        kind: ActionKind,
        capability: Option<&str>,
        effects: &[Effect],
    ) -> Result<Caller, GovError> {
        let decision = self.decide(&Action {
            kind,
            capability,
            effects,
            who: Who::Human,
        })?;
        Ok(self.caller(Some(decision)))
    }

    /// Decides `action` and records the decision durably; returns the decision entry's seq,
    /// or the refusal (also recorded).
    pub fn decide(&self, action: &Action<'_>) -> Result<u64, GovError> {
        let session = self.session_start()?;
        let d = decide(&self.constitution, self.trust, action);
        let mut subject = vec![
            (kw("action"), kw(action.kind.keyword())),
            (
                kw("who"),
                kw(match action.who {
                    Who::Human => "human",
                    Who::Agent => "agent",
                }),
            ),
            (kw("verdict"), kw(&d.verdict.to_string())),
            (kw("reason"), Value::str(&d.reason)),
            (
                kw("effects"),
                Value::vector(action.effects.iter().map(|e| kw(e.as_str())).collect()),
            ),
        ];
        if let Some(c) = action.capability {
            subject.push((kw("capability"), Value::str(c)));
        }
        if let Some(r) = &d.rule {
            subject.push((kw("rule"), Value::str(r)));
        }
        let outcome = match d.verdict {
            Verdict::Allow => "ok",
            Verdict::RequireApproval => "pending",
            Verdict::Deny => "denied",
        };
        let record = Record {
            outcome: outcome.into(),
            ..Record::ok("decision", Value::map(subject))
        };
        let e = self.home.append(
            &self.authority.authorize(self.caller(Some(session)), Append),
            vec![record],
        )?;
        let seq = e.first().map_or(0, |e| e.seq);
        match d.verdict {
            Verdict::Allow => Ok(seq),
            Verdict::RequireApproval => Err(GovError::Blocked(Blocked::NeedsApproval(d))),
            Verdict::Deny => Err(GovError::Blocked(Blocked::Denied(d))),
        }
    }

    /// Unix seconds now.
    pub fn now_secs(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64)
    }

    /// The synthesis quota: the lower of the constitution's and the configuration's.
    pub fn config_quota_synthesis(&self) -> u64 {
        self.constitution
            .quotas
            .max_synthesis_per_session
            .min(self.config.self_programming.max_synthesis_per_session)
    }

    fn agent_caller(&self, plan: Option<u64>) -> Result<Caller, Failure> {
        let session = self.session_start()?;
        let mut caller = self.caller(Some(plan.unwrap_or(session)));
        caller.context.plan = plan.map(|p| p as i64);
        caller.context.principal = kiln_store::Principal::Agent(match plan {
            Some(p) => format!("plan/{p}"),
            None => "capability".into(),
        });
        Ok(caller)
    }

    /// Takes one new capability version from the session's synthesis quota, or refuses
    /// (the refusal, naming the quota, is on the chain). Also refuses when self-programming
    /// is disabled.
    pub fn take_synthesis_quota(
        &self,
        plan: Option<u64>,
        id: &str,
        quota: u64,
    ) -> Result<(), AgentError> {
        use std::sync::atomic::Ordering;
        let failed = |e: String| AgentError::Failed(e);
        if !self.config.self_programming.enabled {
            return Err(failed(
                "self-programming is disabled ([self_programming] enabled = false in agent_config.toml)"
                    .into(),
            ));
        }
        let taken = self
            .agent_versions
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |used| {
                (used < quota).then_some(used + 1)
            });
        if let Err(used) = taken {
            let caller = self.agent_caller(plan).map_err(|e| failed(e.0))?;
            self.home
                .append(
                    &self.authority.authorize(caller, Append),
                    vec![Record {
                        outcome: "denied".into(),
                        ..Record::ok(
                            "quota",
                            Value::map(vec![
                                (kw("quota"), kw("max-synthesis-per-session")),
                                (kw("max"), Value::Int(quota as i64)),
                                (kw("capability"), Value::str(id)),
                            ]),
                        )
                    }],
                )
                .map_err(|e| failed(e.to_string()))?;
            return Err(AgentError::Quota(format!(
                "quota max_synthesis_per_session = {quota} reached: this session already created {used} capability versions"
            )));
        }
        Ok(())
    }

    /// Stores an agent-made version, inactive (after its decision is recorded).
    pub fn register_as_agent(&self, plan: Option<u64>, manifest: &Value) -> Result<Hash, Failure> {
        let caller = self.agent_caller(plan)?;
        let r = self.home.registry.register(
            &self.authority.authorize(caller, Register),
            manifest,
            false,
        )?;
        Ok(r.hash)
    }

    /// Activates an agent-made version the decision allowed.
    pub fn activate_as_agent(
        &self,
        plan: Option<u64>,
        id: &str,
        hash: Hash,
    ) -> Result<Moved, Failure> {
        let caller = self.agent_caller(plan)?;
        Ok(self.home.registry.activate(
            &self.authority.authorize(caller, Activate),
            id,
            &hash.hex(),
        )?)
    }

    /// Files an approval request for an agent's action.
    pub fn file_approval(
        &self,
        plan: Option<u64>,
        req: &kiln_store::approvals::NewRequest,
    ) -> Result<i64, Failure> {
        let caller = self.agent_caller(plan)?;
        Ok(kiln_store::approvals::file(
            &self.home.db,
            &self.authority.authorize(caller, kiln_store::Request),
            req,
        )?)
    }

    /// `kiln approvals approve N` / `reject N`: the human principal's alone. Approving
    /// carries out the approved change in the same transaction, and refuses a request whose
    /// hash no longer names what it approved (stale).
    pub fn decide_approval_as_human(
        &self,
        n: i64,
        approve: bool,
        note: Option<&str>,
    ) -> Result<String, GovError> {
        let caller = self.decide_human(ActionKind::Approve, None, &[])?;
        let auth = self.authority.authorize(caller.clone(), kiln_store::Decide);
        let registry = self.home.registry.clone();
        let objects = self.home.objects.clone();
        let done = kiln_store::approvals::decide(
            &self.home.db,
            &auth,
            n,
            approve,
            note,
            |tx, a| match a.request.action.as_str() {
                "execute-plan" | "execute-effectful-plan" | "call" => Ok(format!(
                    "approved {n}: {} {} may proceed; re-run the work to continue",
                    a.request.action,
                    &a.request.hash.hex()[..12]
                )),
                "constitution" => {
                    // What is approved must be there and must govern: a proposal whose object
                    // is gone or no longer parses is stale, never activated.
                    let bytes = kiln_store::ObjectStore::get(objects.as_ref(), &a.request.hash).map_err(|e| {
                        kiln_store::StoreError::Invalid(format!(
                            "approval {n} is stale: the proposed constitution cannot be read ({e}); propose it again"
                        ))
                    })?;
                    Constitution::parse(
                        &String::from_utf8_lossy(&bytes),
                        "the proposed constitution",
                    )
                    .map_err(|e| {
                        kiln_store::StoreError::Invalid(format!(
                            "approval {n} is stale: {e}; propose it again"
                        ))
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
                "activate" => {
                    let m =
                        registry.activate_in(tx, &caller, &a.request.subject, a.request.hash)?;
                    Ok(format!(
                        "approved {n}: {} {} is active (chain entry {})",
                        a.request.subject,
                        &a.request.hash.hex()[..12],
                        m.entry
                    ))
                }
                other => Err(kiln_store::StoreError::Invalid(format!(
                    "approval {n} is for an action this kiln cannot carry out: {other}"
                ))),
            },
        )?;
        Ok(done.unwrap_or_else(|| format!("rejected {n}")))
    }

    /// `kiln constitution propose FILE`: validates the new constitution (errors name the
    /// file, line, column and key), stores it and files an approval request; approving it
    /// makes it active.
    pub fn propose_constitution_as_human(
        &self,
        text: &str,
        file: &str,
    ) -> Result<String, GovError> {
        let proposed = Constitution::parse(text, file).map_err(|e| Failure(e.to_string()))?;
        // No grant may reach kiln's own home (the database, the objects, the constitution's
        // versions): refused before anything is filed, whoever would approve it.
        let root = self.home.root();
        let home = &root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
        for (id, g) in &proposed.grants {
            for d in &g.dirs {
                let canon = lexical(&d.path);
                if kiln_sandbox::grants::overlaps(&canon, home) {
                    return Err(Failure(format!(
                        "{file}: :grants {id:?} {:?} overlaps kiln's home {}: no capability may reach the store through the file system",
                        d.path,
                        home.display()
                    ))
                    .into());
                }
            }
        }
        let caller = self.decide_human(ActionKind::ChangeConstitution, None, &[])?;
        let hash = kiln_store::ObjectStore::put(self.home.objects.as_ref(), text.as_bytes())?;
        let n = kiln_store::approvals::file(
            &self.home.db,
            &self.authority.authorize(caller, kiln_store::Request),
            &kiln_store::approvals::NewRequest {
                action: "constitution".into(),
                subject: "constitution".into(),
                hash,
                risk: "high".into(),
                reasons: vec![format!(
                    "a new constitution (trust level {} → {})",
                    self.constitution.trust_level, proposed.trust_level
                )],
                requester: "human".into(),
                expires_at: self.now_secs() + 7 * 24 * 3600,
            },
        )?;
        Ok(format!(
            "constitution {} proposed as approval request {n}; `kiln approvals approve {n}` makes it active",
            &hash.hex()[..12]
        ))
    }

    /// The action kind of making `id` with `effects` active.
    fn modify_kind(id: &str, effects: &[Effect]) -> ActionKind {
        if id.starts_with("generated/") && effects.is_empty() {
            ActionKind::ModifyPure
        } else {
            ActionKind::ModifyEffectful
        }
    }

    /// Registers kiln's native capabilities in the registry like any version (kind
    /// `:native`), when the active version's content differs from this build's (a new home, a
    /// new kiln): the human's decision first, then the version, both on the chain. A version
    /// refused by the constitution stays unregistered (and its calls `:unknown`). A failure
    /// here (a busy or damaged store) does not stop kiln — the commands that repair a home
    /// must still run — it leaves that native unavailable and says why in the log.
    fn sync_natives(&self) {
        for native in crate::natives::NATIVES.iter() {
            if let Err(e) = self.sync_native(native) {
                tracing::warn!(native = native.id, error = %e, "native capability not registered");
            }
        }
    }

    fn sync_native(&self, native: &crate::natives::Native) -> Result<(), Failure> {
        // The implementation's object, restored if it was lost.
        kiln_store::ObjectStore::put(
            self.home.objects.as_ref(),
            native.implementation().as_bytes(),
        )?;
        let manifest = native.manifest();
        let active = self.home.registry.resolve(native.id).ok();
        if let (Some(v), Some(existing)) = (
            &active,
            self.home.registry.existing_version(native.id, &manifest)?,
        ) && v.row.hash == existing
        {
            return Ok(());
        }
        let caller = match self.decide_human(
            Self::modify_kind(native.id, native.effects),
            Some(native.id),
            native.effects,
        ) {
            Ok(c) => c,
            Err(GovError::Blocked(_)) => return Ok(()),
            Err(GovError::Failed(f)) => return Err(f),
        };
        self.home
            .registry
            .register_native(&self.authority.authorize(caller, RegisterNative), &manifest)?;
        Ok(())
    }

    /// `kiln cap install`: the human registers and activates a version.
    pub fn register_as_human(
        &self,
        manifest: &Value,
        effects: &[Effect],
    ) -> Result<Registered, GovError> {
        let id = manifest.get_key("id").and_then(Value::as_str).unwrap_or("");
        kiln_store::registry::check_mutable(id)?;
        let caller = self.decide_human(Self::modify_kind(id, effects), Some(id), effects)?;
        let auth = self.authority.authorize(caller, Register);
        Ok(self.home.registry.register(&auth, manifest, true)?)
    }

    /// `kiln cap rollback`: the human moves an active pointer back.
    pub fn rollback_as_human(&self, id: &str, to: Option<&str>) -> Result<Moved, GovError> {
        // Natives are immutable for everyone: refused before anything is decided.
        kiln_store::registry::check_mutable(id)?;
        let effects = match self.home.registry.resolve(id) {
            Ok(v) => crate::caps::effects_of(&v.manifest)?.into_iter().collect(),
            Err(_) => Vec::new(),
        };
        let caller = self.decide_human(Self::modify_kind(id, &effects), Some(id), &effects)?;
        let auth = self.authority.authorize(caller, Activate);
        Ok(self.home.registry.rollback(&auth, id, to)?)
    }

    /// `kiln gc`: the human removes unreferenced objects.
    pub fn gc_as_human(&self, grace: Duration) -> Result<(GcReport, Duration), GovError> {
        // Other kiln processes write an object (a plan's source, a call's input, a proposal)
        // just before the row that names it; a grace period longer than any such write
        // (including its wait for the write lock) keeps gc from removing it in between.
        let grace =
            grace.max(Duration::from_millis(self.config.store.busy_timeout_ms) + MIN_GC_GRACE);
        let caller = self.decide_human(ActionKind::ModifyEffectful, None, &[])?;
        let auth = self.authority.authorize(caller, Collect);
        Ok((self.home.gc(&auth, grace)?, grace))
    }
}

/// `path` as the file system resolves it (symlinks followed) when it exists, else made absolute
/// with `.` and `..` resolved by its text — for the early check of a proposed constitution's
/// grants; each grant is checked again, against the real file system, whenever it is loaded.
fn lexical(path: &str) -> std::path::PathBuf {
    use std::path::{Component, Path, PathBuf};
    let p = Path::new(path);
    if let Ok(c) = p.canonicalize() {
        return c;
    }
    let abs = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let mut out = PathBuf::new();
    for c in abs.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    // The longest existing ancestor, resolved, with the rest appended.
    let mut base = out.clone();
    let mut rest = Vec::new();
    while !base.exists() {
        match base.file_name() {
            Some(n) => rest.push(n.to_os_string()),
            None => break,
        }
        if !base.pop() {
            break;
        }
    }
    let mut resolved = base.canonicalize().unwrap_or(base);
    for n in rest.into_iter().rev() {
        resolved.push(n);
    }
    resolved
}
