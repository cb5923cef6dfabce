//! The sandbox: load modules into [`Capability`]s (checked, compiled and prepared once per
//! hash) and call them under limits on the worker pool.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use rtfs::Value;
use rtfs::encoding::{decode, encode};
use sha2::{Digest, Sha256};
use wasmtime::{Engine, Linker, Module};

use crate::abi::{AbiExports, bounded};
use crate::cache::{CacheOutcome, CodeCache, CompiledModule};
use crate::capability::{CachedLoad, Capability, Prepared, hex};
use crate::config::{Limits, SandboxConfig};
use crate::dispatch::Dispatcher;
use crate::effects::{Effect, ModuleFacts, check_effects, inspect};
use crate::engine::process_engine;
use crate::error::{FailedCall, Result, SandboxError};
use crate::exec::{CallState, LogLine, Outcome, decode_limits, execute, in_call};
use crate::grants::Grants;
use crate::host::add_host_functions;
use crate::limiter::MemoryBudget;
use crate::pool::{WorkerPool, on_worker};

/// The sandbox: load modules, call them under limits.
///
/// ```no_run
/// # use std::{collections::BTreeSet, sync::Arc};
/// # use kiln_sandbox::*;
/// # fn main() -> kiln_sandbox::Result<()> {
/// # let wasm: Vec<u8> = Vec::new();
/// let sandbox = Sandbox::new(SandboxConfig::default())?;
/// let pure = BTreeSet::new();
/// let cap = sandbox.load(&wasm, &pure, &pure)?;
/// let out = sandbox.call(&cap, &rtfs::Value::Int(1), Limits::default(), Arc::new(NoDispatch))?;
/// println!("{:?} in {} fuel", out.value, out.fuel_used);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Sandbox {
    inner: Arc<Inner>,
}

/// What every call of a sandbox shares.
pub(crate) struct Inner {
    pub(crate) engine: Engine,
    linker: Linker<CallState>,
    pub(crate) config: SandboxConfig,
    pub(crate) budget: MemoryBudget,
    modules: Mutex<Modules>,
    workers: WorkerPool,
}

/// Prepared modules by hash.
type Modules = HashMap<[u8; 32], Arc<Prepared>>;

impl Sandbox {
    /// A sandbox on the process engine.
    pub fn new(config: SandboxConfig) -> Result<Sandbox> {
        let engine = process_engine(config.engine)?;
        let mut linker = Linker::new(&engine);
        add_host_functions(&mut linker)?;
        crate::wasi::add_to_linker(&mut linker)?;
        let workers = WorkerPool::start(&config.engine)?;
        Ok(Sandbox {
            inner: Arc::new(Inner {
                engine,
                linker,
                budget: MemoryBudget::new(config.process_memory_budget),
                config,
                modules: Mutex::new(HashMap::new()),
                workers,
            }),
        })
    }

    /// The engine (for precompiling and cache keys).
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// Memory left in the process-wide budget, in bytes.
    pub fn budget_left(&self) -> u64 {
        self.inner.budget.left()
    }

    /// Checks, compiles and prepares a module whose declared effects are `declared` and
    /// granted effects `granted` (no directories or environment).
    pub fn load(
        &self,
        bytes: &[u8],
        declared: &BTreeSet<Effect>,
        granted: &BTreeSet<Effect>,
    ) -> Result<Arc<Capability>> {
        self.load_granted(bytes, declared, &Grants::effects(granted.iter().copied()))
    }

    /// Checks, compiles and prepares a module with its grants (already `Grants::checked`).
    /// Compiled modules are cached by hash.
    pub fn load_granted(
        &self,
        bytes: &[u8],
        declared: &BTreeSet<Effect>,
        grants: &Grants,
    ) -> Result<Arc<Capability>> {
        let engine = &self.inner.engine;
        let loaded = self.load_with(bytes, declared, grants, |_| {
            let module = Module::new(engine, bytes).map_err(|e| SandboxError::InvalidModule {
                why: bounded(&e.to_string(), 1024),
            })?;
            Ok(CompiledModule {
                module,
                outcome: CacheOutcome::Miss,
            })
        })?;
        Ok(loaded.capability)
    }

    /// As [`Sandbox::load`], compiling through a code cache; says whether the cache hit.
    pub fn load_cached(
        &self,
        bytes: &[u8],
        declared: &BTreeSet<Effect>,
        grants: &Grants,
        cache: &CodeCache,
    ) -> Result<CachedLoad> {
        let engine = &self.inner.engine;
        self.load_with(bytes, declared, grants, |hash| {
            cache.module(engine, bytes, hash)
        })
    }

    /// Calls a capability at the top level, on a sandbox worker thread.
    pub fn call(
        &self,
        cap: &Arc<Capability>,
        input: &Value,
        limits: Limits,
        dispatcher: Arc<dyn Dispatcher>,
    ) -> Result<Outcome> {
        self.call_metered(cap, input, limits, dispatcher)
            .map_err(SandboxError::from)
    }

    /// [`Sandbox::call`], reporting on failure too how much fuel the call used (a budget
    /// must be charged for a call that trapped after burning fuel).
    pub fn call_metered(
        &self,
        cap: &Arc<Capability>,
        input: &Value,
        limits: Limits,
        dispatcher: Arc<dyn Dispatcher>,
    ) -> std::result::Result<Outcome, FailedCall> {
        let bytes = encode(input)
            .map_err(|e| SandboxError::AbiViolation {
                what: format!("input: {e}"),
            })
            .map_err(|e| e.after(0))?;
        let max = self.inner.config.max_value_bytes;
        if bytes.len() as u64 > max {
            return Err(SandboxError::TooLarge {
                what: "input".into(),
                size: bytes.len() as u64,
                limit: max,
            }
            .after(0));
        }
        // A call started from inside a running call would wait on a worker its parent may
        // hold: nested calls go through `NestedCall::run`, on the same thread.
        if in_call() {
            return Err(SandboxError::Internal(
                "Sandbox::call inside a running call: a dispatcher must use NestedCall::run".into(),
            )
            .after(0));
        }
        // Already on a worker (e.g. a plan running through `run_on_worker`): no hop.
        if on_worker() {
            return execute(&self.inner, cap, &bytes, limits, dispatcher, 0);
        }
        let inner = self.inner.clone();
        let cap = cap.clone();
        // Values are not `Send`: the result crosses back from the worker encoded.
        let encoded = self
            .inner
            .workers
            .run(move || {
                let outcome = execute(&inner, &cap, &bytes, limits, dispatcher, 0)?;
                EncodedOutcome::of(outcome)
            })
            .map_err(|e| e.after(0))??;
        let value = decode(&encoded.bytes, decode_limits(max))
            .map_err(|e| SandboxError::Internal(e.to_string()).after(encoded.fuel_used))?;
        Ok(Outcome {
            value,
            fuel_used: encoded.fuel_used,
            logs: encoded.logs,
        })
    }

    /// Runs `f` on a sandbox worker thread and returns its result. Calls `f` makes through
    /// [`Sandbox::call`] run inline on that worker, without a thread hop each (a plan's
    /// evaluation is the intended `f`).
    pub fn run_on_worker<R: Send + 'static>(
        &self,
        f: impl FnOnce() -> R + Send + 'static,
    ) -> Result<R> {
        self.inner.workers.run(f)
    }

    /// The one load path. A module seen before (by hash) is neither parsed nor compiled again:
    /// only its effects are re-checked against these grants. A new one is inspected (sizes,
    /// ABI, imports) and effect-checked before `compile` runs.
    fn load_with(
        &self,
        bytes: &[u8],
        declared: &BTreeSet<Effect>,
        grants: &Grants,
        compile: impl FnOnce(&[u8; 32]) -> Result<CompiledModule>,
    ) -> Result<CachedLoad> {
        let hash: [u8; 32] = Sha256::digest(bytes).into();
        let cached = self.lock_modules()?.get(&hash).cloned();
        let (pre, outcome) = match cached {
            Some(pre) => {
                check_effects(&pre.facts, declared, &grants.effects)?;
                (pre, CacheOutcome::Hit)
            }
            None => {
                let facts = inspect(bytes, &self.inner.config.install)?;
                check_effects(&facts, declared, &grants.effects)?;
                let started = Instant::now();
                let CompiledModule { module, outcome } = compile(&hash)?;
                tracing::debug!(
                    module = %hex(&hash[..6]),
                    ?outcome,
                    ms = started.elapsed().as_millis() as u64,
                    "module prepared"
                );
                (self.prepare(hash, module, facts)?, outcome)
            }
        };
        let cap = Capability {
            hash,
            pre,
            grants: Arc::new(grants.clone()),
            dirs: crate::opened::open_all(grants)?,
        };
        Ok(CachedLoad {
            capability: Arc::new(cap),
            cache: outcome,
        })
    }

    fn prepare(&self, hash: [u8; 32], module: Module, facts: ModuleFacts) -> Result<Arc<Prepared>> {
        let exports = AbiExports::of(&module)?;
        let pre = self.inner.linker.instantiate_pre(&module).map_err(|e| {
            SandboxError::InvalidModule {
                why: bounded(&e.to_string(), 1024),
            }
        })?;
        let pre = Arc::new(Prepared {
            pre,
            facts,
            exports,
        });
        self.lock_modules()?.insert(hash, pre.clone());
        Ok(pre)
    }

    fn lock_modules(&self) -> Result<std::sync::MutexGuard<'_, Modules>> {
        self.inner
            .modules
            .lock()
            .map_err(|_| SandboxError::Internal("module table poisoned".into()))
    }
}

/// A successful outcome encoded on the worker, to cross back to the caller's thread.
struct EncodedOutcome {
    bytes: Vec<u8>,
    fuel_used: u64,
    logs: Vec<LogLine>,
}

impl EncodedOutcome {
    fn of(o: Outcome) -> std::result::Result<EncodedOutcome, FailedCall> {
        let bytes = encode(&o.value)
            .map_err(|e| SandboxError::Internal(e.to_string()).after(o.fuel_used))?;
        Ok(EncodedOutcome {
            bytes,
            fuel_used: o.fuel_used,
            logs: o.logs,
        })
    }
}
