//! The port through which the dispatcher runs kiln's native capabilities: the [`Native`]
//! trait, and the narrow [`NativeContext`] a native works through — the gate's permits, the
//! run's budget and journal, the catalog of versions, the sandbox for checking examples. A
//! native changes nothing except through a permit: the context hands out no store authority.

use std::sync::Arc;

use kiln_sandbox::{Capability, Effect, Limits, NoDispatch, SandboxError};
use kiln_store::{Hash, Moved, ObjectStore, Registered, Registry, Version};
use rtfs::Value;
use rtfs::host::{CallFailure, Reason};

use crate::approval::ApprovalAction;
use crate::error::{KernelError, Result};
use crate::gate::{ActionRequest, Decided, Pending, Permit, Refusal};
use crate::journal::Parts;
use crate::kernel::NativeRelease;
use crate::loader::Loaded;
use crate::policy::Policy;

use super::{Budget, Governed, Steps};

/// A native capability: host code of kiln's own, registered as a version of kind `:native`
/// and reached through the same dispatcher as sandboxed ones (by plans only).
pub trait Native: Send + Sync {
    /// Its id (`planner.…`).
    fn id(&self) -> &'static str;
    /// What it does (shown by `kiln cap show`).
    fn description(&self) -> &'static str;
    /// Its input schema, as RTFS source.
    fn input_schema(&self) -> &'static str;
    /// Its own effects (what it does besides what it runs, which is decided separately).
    fn effects(&self) -> &'static [Effect];
    /// What it does with its input (checked against the input schema already).
    fn run(&self, cx: &mut NativeContext<'_>, arg: &Value) -> Result<Value, CallFailure>;

    /// The text of the object a native version's `:module` names: what implements it (kiln's
    /// package version), so each kiln release has its own native versions.
    fn implementation(&self) -> String {
        format!(
            "kiln native capability {}\nimplemented by kiln {} (runtime/kernel/src/natives)\n",
            self.id(),
            env!("CARGO_PKG_VERSION")
        )
    }

    /// Its manifest (kind `:native`, `:module` the implementation's object).
    fn manifest(&self) -> Value {
        let schema = rtfs::reader::read_expr(self.input_schema(), &Default::default())
            .map(|f| f.to_value())
            .unwrap_or_else(|_| Value::keyword("any"));
        crate::manifest::native(
            self.id(),
            Hash::of(self.implementation().as_bytes()),
            self.description(),
            schema,
            self.effects(),
        )
    }

    /// What the kernel registers for it.
    fn release(&self) -> NativeRelease {
        NativeRelease {
            id: self.id(),
            implementation: self.implementation(),
            manifest: self.manifest(),
            effects: self.effects(),
        }
    }
}

/// The natives a dispatcher serves.
pub type Natives = &'static [&'static dyn Native];

/// What a native works through, for one call.
pub struct NativeContext<'a> {
    gov: &'a Arc<Governed>,
}

fn fail(reason: Reason, m: impl Into<String>) -> CallFailure {
    CallFailure::new(reason, m)
}

impl<'a> NativeContext<'a> {
    pub(super) fn new(gov: &'a Arc<Governed>) -> NativeContext<'a> {
        NativeContext { gov }
    }

    /// The calling run's dispatcher (for the plan runner, which nests a run in it).
    pub(crate) fn governed(&self) -> &Arc<Governed> {
        self.gov
    }

    /// What was decided for the calling plan, if it runs within a scope.
    pub fn scope(&self) -> Option<&crate::scope::Scope> {
        self.gov.scope()
    }

    /// The datasets the human handed to the run.
    pub fn datasets(&self) -> &crate::datasets::Datasets {
        self.gov.datasets()
    }

    /// Calls capability `id` on `input` as the calling plan would: decided and recorded like
    /// any of its calls (natives refused: a native does not run natives this way).
    pub fn call(&self, id: &str, input: &Value) -> Result<Value, CallFailure> {
        if id.starts_with("planner.") {
            return Err(fail(
                Reason::Unavailable,
                format!("{id}: natives are not called on a native's behalf"),
            ));
        }
        self.gov.call(None, id, input)
    }

    /// Every active version with its manifest (the catalog the planner searches).
    pub fn active(&self) -> Result<Vec<Version>> {
        let registry = &self.gov.runtime().kernel().home().registry;
        registry
            .list()?
            .into_iter()
            .map(|row| {
                let manifest = registry.manifest(&row.hash)?;
                Ok(Version { row, manifest })
            })
            .collect()
    }

    /// The calling run's id.
    pub fn plan(&self) -> Option<u64> {
        self.gov.plan()
    }

    /// How many plans the calling one runs inside.
    pub fn nesting(&self) -> u64 {
        self.gov.nesting()
    }

    /// The policy in force.
    pub fn policy(&self) -> &Policy {
        self.gov.runtime().kernel().policy()
    }

    /// The run's budget.
    pub fn budget(&self) -> &Budget {
        self.gov.budget()
    }

    /// The calling evaluation's steps.
    pub fn steps(&self) -> &Steps {
        self.gov.steps()
    }

    /// Decides `req` as the run's agent, recorded with the run's journal.
    pub fn authorize(&self, req: &ActionRequest<'_>) -> Result<Permit, Refusal> {
        self.gov
            .runtime()
            .kernel()
            .gate()
            .authorize(req, Some(self.gov.journal()))
    }

    /// Stores a version, inactive.
    pub fn register(&self, decided: &impl Decided, manifest: &Value) -> Result<Registered> {
        self.gov
            .runtime()
            .kernel()
            .gate()
            .register(decided, manifest)
    }

    /// Makes version `hash` of `id` active (and this run uses it from now on).
    pub fn activate(&self, permit: &Permit, id: &str, hash: Hash) -> Result<Moved> {
        let moved = self
            .gov
            .runtime()
            .kernel()
            .gate()
            .activate(permit, id, hash)?;
        self.gov.forget(id);
        Ok(moved)
    }

    /// Files an approval request for `action` on `hash` and returns the failure naming it.
    pub fn file_request(
        &self,
        pending: &Pending,
        action: ApprovalAction,
        subject: &str,
        hash: Hash,
        low_risk: bool,
        what: &str,
    ) -> CallFailure {
        self.gov
            .file_request(pending, action, subject, hash, low_risk, what)
    }

    /// Commits the run's buffer and then one entry, durably.
    pub fn record_now(&self, kind: &str, subject: Value, outcome: &str) -> Result<(), CallFailure> {
        self.gov.record_now(kind, subject, outcome)
    }

    /// Buffers an entry for the run's next group commit.
    pub fn note(
        &self,
        kind: &'static str,
        subject: &Value,
        parts: Parts,
    ) -> Result<(), CallFailure> {
        self.gov.note(kind, subject, parts)
    }

    /// The version `spec` resolves to (read-only).
    pub fn resolve(&self, spec: &str) -> Result<Version> {
        Ok(self.gov.runtime().kernel().home().registry.resolve(spec)?)
    }

    /// The version of `id` whose manifest is `manifest`, if it is registered.
    pub fn existing_version(&self, id: &str, manifest: &Value) -> Result<Option<Hash>> {
        Ok(self
            .gov
            .runtime()
            .kernel()
            .home()
            .registry
            .existing_version(id, manifest)?)
    }

    /// Stores an object (content-addressed; kept by what comes to reference it).
    pub fn put_object(&self, bytes: &[u8]) -> Result<Hash> {
        Ok(self.gov.runtime().kernel().home().objects.put(bytes)?)
    }

    /// The active RTFS engine (kiln's shipped one installed first on a home that has none).
    pub fn engine(&self) -> Result<Version> {
        crate::install::engine(self.gov.runtime())
    }

    /// Loads an installed capability.
    pub fn load(&self, spec: &str) -> Result<Loaded> {
        self.gov.runtime().load(spec)
    }

    /// Runs `cap` on `input` in the sandbox, deterministically (fixed clocks and randomness),
    /// with no capability calls, on the run's budget.
    pub fn run_checked(&self, cap: &Arc<Capability>, input: &Value) -> Result<Value, SandboxError> {
        let cfg = &self.policy().config.sandbox;
        let budget = self.gov.budget();
        let limits = Limits {
            fuel: cfg.fuel.min(budget.fuel_left()),
            memory_bytes: cfg.memory_bytes,
            timeout: std::time::Duration::from_millis(cfg.timeout_ms).min(budget.time_left()),
            deterministic: true,
        };
        match self
            .gov
            .runtime()
            .sandbox()
            .call_metered(cap, input, limits, Arc::new(NoDispatch))
        {
            Ok(o) => {
                budget.charge(o.fuel_used);
                Ok(o.value)
            }
            Err(f) => {
                budget.charge(f.fuel_used);
                Err(f.error)
            }
        }
    }

    /// A kernel error as the failure the calling plan sees.
    pub fn failed(e: KernelError) -> CallFailure {
        fail(Reason::Failed, e.to_string())
    }
}
