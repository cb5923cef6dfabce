//! The engine and the call path: one process-wide `Engine`, a fresh `Store` per call with
//! fuel, an epoch deadline and a memory limiter set before instantiation, calls on dedicated
//! big-stack threads, and the `kiln.call` / `kiln.log` host functions.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use rtfs::Value;
use rtfs::encoding::{DecodeLimits, decode, encode};
use sha2::{Digest, Sha256};
use wasmtime::{
    Caller, Config, Engine, InstanceAllocationStrategy, InstancePre, Linker, Module,
    PoolingAllocationConfig, ResourceLimiter, Store, Trap, TypedFunc, WasmFeatures,
};

use crate::abi::{self, bounded};
use crate::effects::{Effect, InstallLimits, ModuleFacts, check_effects, inspect};
use crate::error::{Result, SandboxError};
use crate::grants::Grants;

/// Engine-wide settings. The engine is built once per process from the first `Sandbox`'s
/// settings; a later `Sandbox` must ask for the same ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EngineConfig {
    /// Top-level calls that may run at once (worker threads).
    pub concurrency: u32,
    /// How deep `kiln.call` may nest below a top-level call.
    pub max_nesting: u32,
    /// Largest linear memory of one instance, in bytes.
    pub max_memory_bytes: u64,
    /// Native stack wasm may use per call level, in bytes.
    pub max_wasm_stack: usize,
    /// Native stack reserved per call level for host code (decoding, the dispatcher).
    pub host_stack_reserve: usize,
    /// Epoch tick (the deadline's resolution).
    pub epoch_tick: Duration,
}

impl Default for EngineConfig {
    fn default() -> EngineConfig {
        EngineConfig {
            concurrency: 8,
            max_nesting: 4,
            max_memory_bytes: 256 << 20,
            max_wasm_stack: 512 << 10,
            host_stack_reserve: 2 << 20,
            epoch_tick: Duration::from_millis(5),
        }
    }
}

/// Per-sandbox settings that do not shape the engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SandboxConfig {
    /// The engine.
    pub engine: EngineConfig,
    /// Linear memory all running instances may hold together, in bytes.
    pub process_memory_budget: u64,
    /// Largest encoded input or result, in bytes.
    pub max_value_bytes: u64,
    /// Bounds checked before compiling.
    pub install: InstallLimits,
}

impl Default for SandboxConfig {
    fn default() -> SandboxConfig {
        SandboxConfig {
            engine: EngineConfig::default(),
            process_memory_budget: 2 << 30,
            max_value_bytes: 16 << 20,
            install: InstallLimits::default(),
        }
    }
}

/// The budget of one call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Fuel (wasm instructions, roughly).
    pub fuel: u64,
    /// Largest linear memory, in bytes (at most the engine's maximum).
    pub memory_bytes: u64,
    /// Wall-clock deadline.
    pub timeout: Duration,
    /// Validation mode: fixed clocks and randomness for WASI guests.
    pub deterministic: bool,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            fuel: 1_000_000_000,
            memory_bytes: 64 << 20,
            timeout: Duration::from_secs(10),
            deterministic: false,
        }
    }
}

/// A line a guest logged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLine {
    /// 0 error, 1 warn, 2 info, 3 debug, 4 trace.
    pub level: u8,
    /// The text (bounded).
    pub text: String,
}

/// What a successful call produced.
#[derive(Debug)]
pub struct Outcome {
    /// The capability's result.
    pub value: Value,
    /// Fuel consumed, nested calls included.
    pub fuel_used: u64,
    /// Lines logged, nested calls included.
    pub logs: Vec<LogLine>,
}

/// Where `kiln.call` goes: the kernel implements it (governed in #5).
pub trait Dispatcher: Send + Sync {
    /// Runs capability `id` on `arg` for a guest. `call` carries the caller's remaining
    /// budget and can run a sandboxed capability nested on this thread.
    fn dispatch(&self, call: &mut NestedCall<'_>, id: &str, arg: Value) -> Result<Value>;
}

/// A dispatcher with no capabilities: every `kiln.call` is refused.
pub struct NoDispatch;

impl Dispatcher for NoDispatch {
    fn dispatch(&self, _: &mut NestedCall<'_>, id: &str, _: Value) -> Result<Value> {
        Err(SandboxError::Dispatch {
            id: id.into(),
            reason: "unknown".into(),
            message: "no such capability".into(),
        })
    }
}

/// A compiled, checked capability module with its grants, ready to instantiate.
pub struct Capability {
    hash: [u8; 32],
    pre: Arc<Prepared>,
    grants: Arc<Grants>,
}

impl std::fmt::Debug for Capability {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Capability")
            .field("hash", &hex(&self.hash))
            .field("facts", &self.pre.facts)
            .finish()
    }
}

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Capability {
    /// SHA-256 of the module bytes.
    pub fn hash(&self) -> [u8; 32] {
        self.hash
    }

    /// What the install check learnt.
    pub fn facts(&self) -> &ModuleFacts {
        &self.pre.facts
    }
}

struct Inner {
    engine: Engine,
    linker: Linker<CallState>,
    config: SandboxConfig,
    budget: Arc<AtomicU64>,
    modules: Mutex<Modules>,
    jobs: crossbeam_channel::Sender<Job>,
}

type Job = Box<dyn FnOnce() + Send>;

thread_local! {
    /// Set on sandbox worker threads (whose stacks are sized for the nesting limit).
    static ON_WORKER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// Set while a call executes on this thread.
    static IN_CALL: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Prepared modules by hash.
type Modules = HashMap<[u8; 32], Arc<Prepared>>;

/// A module ready to instantiate, with its ABI exports looked up once.
pub(crate) struct Prepared {
    pre: InstancePre<CallState>,
    facts: ModuleFacts,
    memory: wasmtime::ModuleExport,
    alloc: wasmtime::ModuleExport,
    invoke: wasmtime::ModuleExport,
}

/// The sandbox: load modules, call them under limits.
#[derive(Clone)]
pub struct Sandbox {
    inner: Arc<Inner>,
}

struct Shared {
    engine: Engine,
    config: EngineConfig,
}

fn shared(config: EngineConfig) -> Result<Engine> {
    static ENGINE: OnceLock<std::result::Result<Shared, String>> = OnceLock::new();
    let s = ENGINE.get_or_init(|| build_engine(config).map_err(|e| e.to_string()));
    match s {
        Ok(s) if s.config == config => Ok(s.engine.clone()),
        Ok(s) => Err(SandboxError::Internal(format!(
            "the process engine was built with {:?}; a sandbox asked for {config:?}",
            s.config
        ))),
        Err(e) => Err(SandboxError::Internal(e.clone())),
    }
}

/// The pooling allocator kiln's engine uses: `slots` instances, memories and tables, each
/// memory at most `max_memory_bytes`. Public so that benchmarks can give a bare-wasmtime
/// baseline the same pool.
pub fn pool_config(slots: u32, max_memory_bytes: u64) -> PoolingAllocationConfig {
    let mut pool = PoolingAllocationConfig::default();
    pool.total_core_instances(slots)
        .total_memories(slots)
        .total_tables(slots)
        .max_memories_per_module(1)
        .max_tables_per_module(4)
        .table_elements(100_000)
        .max_memory_size(max_memory_bytes as usize)
        .max_unused_warm_slots(slots)
        // Reset small memories and tables by zeroing instead of madvise: no TLB-shootdown
        // interrupts to every thread of the process on each call.
        .linear_memory_keep_resident(2 << 20)
        .table_keep_resident(64 << 10);
    pool
}

fn build_engine(config: EngineConfig) -> Result<Shared> {
    let mut c = Config::new();
    c.consume_fuel(true)
        .epoch_interruption(true)
        .max_wasm_stack(config.max_wasm_stack)
        .cranelift_nan_canonicalization(true)
        // The pinned feature set: what Rust, C and Zig guests compile to by default.
        .wasm_features(WasmFeatures::BULK_MEMORY, true)
        .wasm_features(WasmFeatures::MULTI_VALUE, true)
        .wasm_features(WasmFeatures::REFERENCE_TYPES, true)
        .wasm_features(WasmFeatures::SIGN_EXTENSION, true)
        .wasm_features(WasmFeatures::SATURATING_FLOAT_TO_INT, true)
        .wasm_features(WasmFeatures::MUTABLE_GLOBAL, true)
        .wasm_features(WasmFeatures::SIMD, false)
        .wasm_features(WasmFeatures::RELAXED_SIMD, false)
        .wasm_features(WasmFeatures::THREADS, false)
        .wasm_features(WasmFeatures::SHARED_EVERYTHING_THREADS, false)
        .wasm_features(WasmFeatures::MULTI_MEMORY, false)
        .wasm_features(WasmFeatures::MEMORY64, false)
        .wasm_features(WasmFeatures::TAIL_CALL, false)
        .wasm_features(WasmFeatures::FUNCTION_REFERENCES, false)
        .wasm_features(WasmFeatures::GC, false)
        .wasm_features(WasmFeatures::EXCEPTIONS, false)
        .wasm_features(WasmFeatures::LEGACY_EXCEPTIONS, false)
        .wasm_features(WasmFeatures::CUSTOM_PAGE_SIZES, false)
        .wasm_features(WasmFeatures::WIDE_ARITHMETIC, false)
        .wasm_features(WasmFeatures::EXTENDED_CONST, false)
        .wasm_features(WasmFeatures::STACK_SWITCHING, false)
        .wasm_features(WasmFeatures::COMPONENT_MODEL, false);
    let slots = config.concurrency * (config.max_nesting + 1);
    c.allocation_strategy(InstanceAllocationStrategy::Pooling(pool_config(
        slots,
        config.max_memory_bytes,
    )));
    let engine = Engine::new(&c).map_err(|e| SandboxError::Internal(e.to_string()))?;
    let ticker = engine.weak();
    let tick = config.epoch_tick;
    std::thread::Builder::new()
        .name("kiln-epoch".into())
        .spawn(move || {
            while let Some(engine) = ticker.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(tick);
            }
        })
        .map_err(|e| SandboxError::Internal(format!("epoch ticker: {e}")))?;
    Ok(Shared { engine, config })
}

/// Per-call state in the `Store`.
pub struct CallState {
    limiter: Limiter,
    sandbox: Arc<Inner>,
    dispatcher: Arc<dyn Dispatcher>,
    depth: u32,
    deadline: Instant,
    logs: Vec<LogLine>,
    log_bytes: usize,
    wasi: Option<wasmtime_wasi::p1::WasiP1Ctx>,
}

struct Limiter {
    limit: u64,
    budget: Arc<AtomicU64>,
    reserved: u64,
}

impl Drop for Limiter {
    fn drop(&mut self) {
        self.budget.fetch_add(self.reserved, Ordering::SeqCst);
    }
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired as u64 > self.limit {
            return Err(wasmtime::Error::new(SandboxError::MemoryLimit {
                limit: self.limit,
            }));
        }
        let more = (desired - current) as u64;
        let taken = self
            .budget
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
                left.checked_sub(more)
            });
        if taken.is_err() {
            return Err(wasmtime::Error::new(SandboxError::Busy {
                what: "the process-wide memory budget".into(),
            }));
        }
        self.reserved += more;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}

/// A call in progress, as a dispatcher sees it: the budget left to the calling guest, and a
/// way to run a sandboxed capability nested on this thread.
pub struct NestedCall<'a> {
    sandbox: &'a Arc<Inner>,
    dispatcher: &'a Arc<dyn Dispatcher>,
    depth: u32,
    deadline: Instant,
    fuel_left: u64,
    fuel_used: u64,
    logs: Vec<LogLine>,
}

impl NestedCall<'_> {
    /// Nesting depth of the callee (1 for a call made by a top-level guest).
    pub fn depth(&self) -> u32 {
        self.depth
    }

    /// The caller's deadline.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Fuel the caller has left (a callee's fuel is drawn from it).
    pub fn fuel_left(&self) -> u64 {
        self.fuel_left - self.fuel_used
    }

    /// Runs a sandboxed capability for the calling guest, within the caller's remaining fuel
    /// and deadline (and `limits`, whichever is tighter).
    pub fn run(&mut self, cap: &Capability, input: &Value, limits: Limits) -> Result<Value> {
        let limits = Limits {
            fuel: limits.fuel.min(self.fuel_left()),
            memory_bytes: limits.memory_bytes,
            timeout: limits
                .timeout
                .min(self.deadline.saturating_duration_since(Instant::now())),
            deterministic: limits.deterministic,
        };
        let bytes = encode(input).map_err(|e| SandboxError::AbiViolation {
            what: format!("input: {e}"),
        })?;
        let r = execute(
            self.sandbox,
            cap,
            &bytes,
            limits,
            self.dispatcher.clone(),
            self.depth,
        );
        let (value, used, logs) = match r {
            Ok(ok) => ok,
            Err((e, used)) => {
                self.fuel_used += used;
                return Err(e);
            }
        };
        self.fuel_used += used;
        self.logs.extend(logs);
        Ok(value)
    }
}

impl Sandbox {
    /// A sandbox on the process engine.
    pub fn new(config: SandboxConfig) -> Result<Sandbox> {
        let engine = shared(config.engine)?;
        let mut linker = Linker::new(&engine);
        add_host_functions(&mut linker)?;
        wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |s: &mut CallState| {
            s.wasi.get_or_insert_with(|| deny_all_wasi().build_p1())
        })
        .map_err(|e| SandboxError::Internal(e.to_string()))?;
        let (tx, rx) = crossbeam_channel::unbounded::<Job>();
        let e = config.engine;
        let stack =
            (e.max_nesting as usize + 1) * (e.max_wasm_stack + e.host_stack_reserve) + (1 << 20);
        for i in 0..e.concurrency {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("kiln-sandbox-{i}"))
                .stack_size(stack)
                .spawn(move || {
                    ON_WORKER.with(|w| w.set(true));
                    // Ends when the sandbox (the sender) is dropped.
                    while let Ok(job) = rx.recv() {
                        job();
                    }
                })
                .map_err(|e| SandboxError::Internal(format!("worker thread: {e}")))?;
        }
        Ok(Sandbox {
            inner: Arc::new(Inner {
                engine,
                linker,
                budget: Arc::new(AtomicU64::new(config.process_memory_budget)),
                config,
                modules: Mutex::new(HashMap::new()),
                jobs: tx,
            }),
        })
    }

    /// The engine (for precompiling and cache keys).
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// Memory left in the process-wide budget, in bytes.
    pub fn budget_left(&self) -> u64 {
        self.inner.budget.load(Ordering::SeqCst)
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
        let (cap, _) = self.load_with(bytes, declared, grants, |_| {
            let module = Module::new(engine, bytes).map_err(|e| SandboxError::InvalidModule {
                why: bounded(&e.to_string(), 1024),
            })?;
            Ok((module, crate::cache::CacheOutcome::Miss))
        })?;
        Ok(cap)
    }

    /// As [`Sandbox::load`], compiling through a code cache; says whether the cache hit.
    pub fn load_cached(
        &self,
        bytes: &[u8],
        declared: &BTreeSet<Effect>,
        grants: &Grants,
        cache: &crate::cache::CodeCache,
    ) -> Result<(Arc<Capability>, crate::cache::CacheOutcome)> {
        let engine = &self.inner.engine;
        self.load_with(bytes, declared, grants, |hash| {
            cache.module(engine, bytes, hash)
        })
    }

    /// The one load path. A module seen before (by hash) is neither parsed nor compiled again:
    /// only its effects are re-checked against these grants. A new one is inspected (sizes,
    /// ABI, imports) and effect-checked before `compile` runs.
    fn load_with(
        &self,
        bytes: &[u8],
        declared: &BTreeSet<Effect>,
        grants: &Grants,
        compile: impl FnOnce(&[u8; 32]) -> Result<(Module, crate::cache::CacheOutcome)>,
    ) -> Result<(Arc<Capability>, crate::cache::CacheOutcome)> {
        let hash: [u8; 32] = Sha256::digest(bytes).into();
        let cached = self.lock_modules()?.get(&hash).cloned();
        let (pre, outcome) = match cached {
            Some(pre) => {
                check_effects(&pre.facts, declared, &grants.effects)?;
                (pre, crate::cache::CacheOutcome::Hit)
            }
            None => {
                let facts = inspect(bytes, &self.inner.config.install)?;
                check_effects(&facts, declared, &grants.effects)?;
                let started = Instant::now();
                let (module, outcome) = compile(&hash)?;
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
        };
        Ok((Arc::new(cap), outcome))
    }

    fn prepare(&self, hash: [u8; 32], module: Module, facts: ModuleFacts) -> Result<Arc<Prepared>> {
        let export = |name: &str| {
            module
                .get_export_index(name)
                .ok_or_else(|| SandboxError::InvalidModule {
                    why: format!("missing export `{name}`"),
                })
        };
        let (memory, alloc, invoke) = (
            export(abi::EXPORT_MEMORY)?,
            export(abi::EXPORT_ALLOC)?,
            export(abi::EXPORT_INVOKE)?,
        );
        let pre = self.inner.linker.instantiate_pre(&module).map_err(|e| {
            SandboxError::InvalidModule {
                why: bounded(&e.to_string(), 1024),
            }
        })?;
        let pre = Arc::new(Prepared {
            pre,
            facts,
            memory,
            alloc,
            invoke,
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

    /// Calls a capability at the top level, on a sandbox worker thread.
    pub fn call(
        &self,
        cap: &Arc<Capability>,
        input: &Value,
        limits: Limits,
        dispatcher: Arc<dyn Dispatcher>,
    ) -> Result<Outcome> {
        self.call_metered(cap, input, limits, dispatcher)
            .map_err(|(e, _)| e)
    }

    /// [`Sandbox::call`], reporting on failure too how much fuel the call used (a budget
    /// must be charged for a call that trapped after burning fuel).
    pub fn call_metered(
        &self,
        cap: &Arc<Capability>,
        input: &Value,
        limits: Limits,
        dispatcher: Arc<dyn Dispatcher>,
    ) -> std::result::Result<Outcome, (SandboxError, u64)> {
        let early = |e: SandboxError| (e, 0);
        let bytes = encode(input)
            .map_err(|e| SandboxError::AbiViolation {
                what: format!("input: {e}"),
            })
            .map_err(early)?;
        let max = self.inner.config.max_value_bytes;
        if bytes.len() as u64 > max {
            return Err(early(SandboxError::TooLarge {
                what: "input".into(),
                size: bytes.len() as u64,
                limit: max,
            }));
        }
        // A call started from inside a running call would wait on a worker its parent may
        // hold: nested calls go through `NestedCall::run`, on the same thread.
        if IN_CALL.with(|c| c.get()) {
            return Err(early(SandboxError::Internal(
                "Sandbox::call inside a running call: a dispatcher must use NestedCall::run".into(),
            )));
        }
        // Already on a worker (e.g. a plan running through `run_on_worker`): no hop.
        if ON_WORKER.with(|w| w.get()) {
            let (value, fuel_used, logs) =
                execute(&self.inner, cap, &bytes, limits, dispatcher, 0)?;
            return Ok(Outcome {
                value,
                fuel_used,
                logs,
            });
        }
        let (tx, rx) = mpsc::sync_channel(1);
        let inner = self.inner.clone();
        let cap = cap.clone();
        let job: Job = Box::new(move || {
            let r = execute(&inner, &cap, &bytes, limits, dispatcher, 0).and_then_encode();
            let _ = tx.send(r);
        });
        self.submit(job).map_err(early)?;
        let (bytes, fuel_used, logs) = wait_briefly_spinning(&rx).map_err(early)??;
        let value = decode(&bytes, decode_limits(max))
            .map_err(|e| (SandboxError::Internal(e.to_string()), fuel_used))?;
        Ok(Outcome {
            value,
            fuel_used,
            logs,
        })
    }
}

impl Sandbox {
    fn submit(&self, job: Job) -> Result<()> {
        self.inner
            .jobs
            .send(job)
            .map_err(|_| SandboxError::Internal("sandbox workers stopped".into()))
    }

    /// Runs `f` on a sandbox worker thread and returns its result. Calls `f` makes through
    /// [`Sandbox::call`] run inline on that worker, without a thread hop each (a plan's
    /// evaluation is the intended `f`).
    pub fn run_on_worker<R: Send + 'static>(
        &self,
        f: impl FnOnce() -> R + Send + 'static,
    ) -> Result<R> {
        let (tx, rx) = mpsc::sync_channel(1);
        self.submit(Box::new(move || {
            let _ = tx.send(f());
        }))?;
        wait_briefly_spinning(&rx)
    }
}

/// Waits for a worker's reply. A trivial call finishes within a few microseconds, sooner than
/// a parked thread can be woken again, so the caller polls for 10 µs before it blocks. (Not
/// longer: on a small VM a spinning caller measurably slows the worker it waits for — a 50 µs
/// spin made a 40 µs call 25% slower.)
fn wait_briefly_spinning<R>(rx: &mpsc::Receiver<R>) -> Result<R> {
    let died = || SandboxError::Internal("sandbox worker died".into());
    let start = Instant::now();
    while start.elapsed() < Duration::from_micros(10) {
        match rx.try_recv() {
            Ok(r) => return Ok(r),
            Err(mpsc::TryRecvError::Empty) => std::hint::spin_loop(),
            Err(mpsc::TryRecvError::Disconnected) => return Err(died()),
        }
    }
    rx.recv().map_err(|_| died())
}

type Encoded = std::result::Result<(Vec<u8>, u64, Vec<LogLine>), (SandboxError, u64)>;

trait EncodeOutcome {
    fn and_then_encode(self) -> Encoded;
}

impl EncodeOutcome for std::result::Result<(Value, u64, Vec<LogLine>), (SandboxError, u64)> {
    fn and_then_encode(self) -> Encoded {
        let (v, used, logs) = self?;
        let bytes = encode(&v).map_err(|e| (SandboxError::Internal(e.to_string()), used))?;
        Ok((bytes, used, logs))
    }
}

type Pipe = wasmtime_wasi::p2::pipe::MemoryOutputPipe;

/// The WASI context of one call: no sockets, stdin closed, bounded stdout/stderr, the granted
/// directories and environment variables only.
fn wasi_for(
    grants: &Grants,
    deterministic: bool,
) -> Result<(wasmtime_wasi::p1::WasiP1Ctx, (Pipe, Pipe))> {
    let mut b = deny_all_wasi();
    let (out, err) = (Pipe::new(64 << 10), Pipe::new(64 << 10));
    b.stdout(out.clone()).stderr(err.clone());
    for d in &grants.dirs {
        let perms = if d.write {
            wasmtime_wasi::FsPerms::ReadWrite
        } else {
            wasmtime_wasi::FsPerms::ReadOnly
        };
        b.preopened_dir(&d.host, &d.guest, perms)
            .map_err(|e| SandboxError::Internal(format!("preopening {}: {e}", d.host.display())))?;
    }
    for (k, v) in &grants.env {
        b.env(k, v);
    }
    if deterministic {
        b.wall_clock(FixedClock).monotonic_clock(FixedClock);
        b.secure_random(wasmtime_wasi::Deterministic::new(vec![42; 32]));
        b.insecure_random(wasmtime_wasi::Deterministic::new(vec![7; 32]));
        b.insecure_random_seed(0);
    }
    Ok((b.build_p1(), (out, err)))
}

/// Validation-mode clock: always 2000-01-01T00:00:00Z (wall) and 0 (monotonic).
struct FixedClock;

impl wasmtime_wasi::HostWallClock for FixedClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }
    fn now(&self) -> Duration {
        Duration::from_secs(946_684_800)
    }
}

impl wasmtime_wasi::HostMonotonicClock for FixedClock {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }
    fn now(&self) -> u64 {
        0
    }
}

fn deny_all_wasi() -> wasmtime_wasi::WasiCtxBuilder {
    let mut b = wasmtime_wasi::WasiCtxBuilder::new();
    b.allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false);
    b
}

fn decode_limits(max: u64) -> DecodeLimits {
    DecodeLimits {
        max_depth: 1000,
        max_bytes: max as usize,
    }
}

fn violation(what: impl Into<String>) -> SandboxError {
    SandboxError::AbiViolation { what: what.into() }
}

/// Turns a wasmtime failure into our error.
fn classify(e: wasmtime::Error, used: u64, timeout_ms: u64) -> SandboxError {
    if let Some(s) = e.downcast_ref::<SandboxError>() {
        return s.clone();
    }
    if let Some(t) = e.downcast_ref::<Trap>() {
        return match t {
            Trap::OutOfFuel => SandboxError::FuelExhausted { used },
            Trap::Interrupt => SandboxError::Deadline { ms: timeout_ms },
            Trap::StackOverflow => SandboxError::StackOverflow,
            other => SandboxError::Trap {
                code: other.to_string(),
            },
        };
    }
    SandboxError::Trap {
        code: bounded(&format!("{e:#}"), 1024),
    }
}

type Executed = std::result::Result<(Value, u64, Vec<LogLine>), (SandboxError, u64)>;

/// Runs one call on this thread, in a `capability_call` span. On failure, also returns the
/// fuel used.
fn execute(
    inner: &Arc<Inner>,
    cap: &Capability,
    input: &[u8],
    limits: Limits,
    dispatcher: Arc<dyn Dispatcher>,
    depth: u32,
) -> Executed {
    let span = tracing::debug_span!("capability_call", module = %hex(&cap.hash[..6]), depth);
    let _entered = span.enter();
    let started = Instant::now();
    let result = execute_here(inner, cap, input, limits, dispatcher, depth);
    let us = started.elapsed().as_micros() as u64;
    match &result {
        Ok((_, fuel, logs)) => {
            for l in logs {
                // Guest text is untrusted: `?` prints it escaped (no terminal control codes).
                tracing::debug!(target: "kiln::guest", level = l.level, text = ?l.text);
            }
            tracing::debug!(fuel, us, "capability returned");
        }
        Err((e, fuel)) => tracing::debug!(fuel, us, error = %e, "capability failed"),
    }
    result
}

fn execute_here(
    inner: &Arc<Inner>,
    cap: &Capability,
    input: &[u8],
    limits: Limits,
    dispatcher: Arc<dyn Dispatcher>,
    depth: u32,
) -> Executed {
    struct InCall(bool);
    impl Drop for InCall {
        fn drop(&mut self) {
            IN_CALL.with(|c| c.set(self.0));
        }
    }
    let _guard = InCall(IN_CALL.with(|c| c.replace(true)));
    let cfg = &inner.config;
    let memory_limit = limits.memory_bytes.min(cfg.engine.max_memory_bytes);
    let timeout_ms = limits.timeout.as_millis() as u64;
    let state = CallState {
        limiter: Limiter {
            limit: memory_limit,
            budget: inner.budget.clone(),
            reserved: 0,
        },
        sandbox: inner.clone(),
        dispatcher,
        depth,
        deadline: Instant::now() + limits.timeout,
        logs: Vec::new(),
        log_bytes: 0,
        wasi: None,
    };
    let mut store = Store::new(&inner.engine, state);
    store.limiter(|s| &mut s.limiter);
    let pipes = if cap.pre.facts.uses_wasi {
        let (ctx, pipes) = wasi_for(&cap.grants, limits.deterministic).map_err(|e| (e, 0))?;
        store.data_mut().wasi = Some(ctx);
        Some(pipes)
    } else {
        None
    };
    let fail = |e: SandboxError| (e, 0);
    store
        .set_fuel(limits.fuel)
        .map_err(|e| fail(SandboxError::Internal(e.to_string())))?;
    let tick = cfg.engine.epoch_tick.as_millis().max(1) as u64;
    store.set_epoch_deadline(timeout_ms.div_ceil(tick).max(1));
    store.epoch_deadline_trap();
    let used = |store: &Store<CallState>| limits.fuel - store.get_fuel().unwrap_or(0);
    let instance = match cap.pre.pre.instantiate(&mut store) {
        Ok(i) => i,
        Err(e) => {
            let u = used(&store);
            return Err((classify(e, u, timeout_ms), u));
        }
    };
    let result = (|| -> std::result::Result<Vec<u8>, wasmtime::Error> {
        // The ABI exports, looked up by index (resolved once per module).
        let p = &cap.pre;
        let mut export = |e: &wasmtime::ModuleExport, what: &str| {
            instance
                .get_module_export(&mut store, e)
                .ok_or_else(|| wasmtime::Error::new(violation(format!("missing export {what}"))))
        };
        let memory = export(&p.memory, "memory")?
            .into_memory()
            .ok_or_else(|| wasmtime::Error::new(violation("`memory` is not a memory")))?;
        let alloc = export(&p.alloc, "kiln_alloc")?.into_func();
        let invoke = export(&p.invoke, "kiln_invoke")?.into_func();
        let (Some(alloc), Some(invoke)) = (alloc, invoke) else {
            return Err(wasmtime::Error::new(violation(
                "ABI exports are not functions",
            )));
        };
        let alloc: TypedFunc<i32, i32> = alloc.typed(&store)?;
        let invoke: TypedFunc<(i32, i32), i64> = invoke.typed(&store)?;
        let len = i32::try_from(input.len())
            .map_err(|_| wasmtime::Error::new(violation("input larger than 2 GiB")))?;
        let ptr = alloc.call(&mut store, len)?;
        write_guest(&memory, &mut store, ptr as u32, input)?;
        let packed = invoke.call(&mut store, (ptr, len))?;
        let (rptr, rlen) = abi::unpack(packed);
        if rlen as u64 > cfg.max_value_bytes {
            return Err(wasmtime::Error::new(SandboxError::TooLarge {
                what: "result".into(),
                size: rlen as u64,
                limit: cfg.max_value_bytes,
            }));
        }
        read_guest(&memory, &store, rptr, rlen)
    })();
    let u = used(&store);
    if let Some((out, err)) = pipes {
        for (pipe, level) in [(out, 2u8), (err, 1u8)] {
            let text = String::from_utf8_lossy(&pipe.contents()).into_owned();
            for line in text.lines().take(1000) {
                store.data_mut().logs.push(LogLine {
                    level,
                    text: bounded(line, MAX_LOG_LINE),
                });
            }
        }
    }
    let bytes = result.map_err(|e| (classify(e, u, timeout_ms), u))?;
    let value = decode(&bytes, decode_limits(cfg.max_value_bytes))
        .map_err(|e| (violation(format!("undecodable result: {e}")), u))?;
    let value = abi::open_envelope(value).map_err(|e| (e, u))?;
    let logs = std::mem::take(&mut store.data_mut().logs);
    Ok((value, u, logs))
}

fn read_guest(
    memory: &wasmtime::Memory,
    store: impl wasmtime::AsContext,
    ptr: u32,
    len: u32,
) -> wasmtime::Result<Vec<u8>> {
    let data = memory.data(&store);
    let end = (ptr as usize).checked_add(len as usize);
    match end {
        Some(end) if end <= data.len() => Ok(data[ptr as usize..end].to_vec()),
        _ => Err(wasmtime::Error::new(violation(format!(
            "range {ptr}+{len} is outside guest memory ({} bytes)",
            data.len()
        )))),
    }
}

fn write_guest(
    memory: &wasmtime::Memory,
    mut store: impl wasmtime::AsContextMut,
    ptr: u32,
    bytes: &[u8],
) -> wasmtime::Result<()> {
    let data = memory.data_mut(&mut store);
    let end = (ptr as usize).checked_add(bytes.len());
    match end {
        Some(end) if end <= data.len() => {
            data[ptr as usize..end].copy_from_slice(bytes);
            Ok(())
        }
        _ => Err(wasmtime::Error::new(violation(format!(
            "kiln_alloc returned {ptr}, which with {} bytes is outside guest memory ({} bytes)",
            bytes.len(),
            data.len()
        )))),
    }
}

fn guest_memory(caller: &mut Caller<'_, CallState>) -> wasmtime::Result<wasmtime::Memory> {
    caller
        .get_export(abi::EXPORT_MEMORY)
        .and_then(|e| e.into_memory())
        .ok_or_else(|| wasmtime::Error::new(violation("no exported memory")))
}

fn charge(caller: &mut Caller<'_, CallState>, fuel: u64) -> wasmtime::Result<()> {
    let left = caller.get_fuel()?;
    if fuel > left {
        caller.set_fuel(0)?;
        return Err(wasmtime::Error::new(Trap::OutOfFuel));
    }
    caller.set_fuel(left - fuel)
}

const MAX_LOG_LINE: usize = 8 << 10;
const MAX_LOG_TOTAL: usize = 1 << 20;
const MAX_ID: usize = 256;

fn add_host_functions(linker: &mut Linker<CallState>) -> Result<()> {
    let internal = |e: wasmtime::Error| SandboxError::Internal(e.to_string());
    linker
        .func_wrap(
            crate::effects::KILN_MODULE,
            "log",
            |mut caller: Caller<'_, CallState>,
             level: i32,
             ptr: i32,
             len: i32|
             -> wasmtime::Result<()> {
                charge(&mut caller, 1 + (len.max(0) as u64) / 8)?;
                let memory = guest_memory(&mut caller)?;
                let take = (len.max(0) as usize).min(MAX_LOG_LINE) as u32;
                let bytes = read_guest(&memory, &caller, ptr as u32, take)?;
                let state = caller.data_mut();
                if state.log_bytes < MAX_LOG_TOTAL {
                    state.log_bytes += bytes.len();
                    state.logs.push(LogLine {
                        level: level.clamp(0, 4) as u8,
                        text: String::from_utf8_lossy(&bytes).into_owned(),
                    });
                }
                Ok(())
            },
        )
        .map_err(internal)?;
    linker
        .func_wrap(
            crate::effects::KILN_MODULE,
            "call",
            |mut caller: Caller<'_, CallState>,
             id_ptr: i32,
             id_len: i32,
             arg_ptr: i32,
             arg_len: i32|
             -> wasmtime::Result<i64> {
                host_call(&mut caller, id_ptr, id_len, arg_ptr, arg_len)
            },
        )
        .map_err(internal)?;
    Ok(())
}

fn host_call(
    caller: &mut Caller<'_, CallState>,
    id_ptr: i32,
    id_len: i32,
    arg_ptr: i32,
    arg_len: i32,
) -> wasmtime::Result<i64> {
    let memory = guest_memory(caller)?;
    if id_len < 0 || id_len as usize > MAX_ID {
        return Err(wasmtime::Error::new(violation(format!(
            "kiln.call id length {id_len} (at most {MAX_ID})"
        ))));
    }
    let max = caller.data().sandbox.config.max_value_bytes;
    if arg_len < 0 || arg_len as u64 > max {
        return Err(wasmtime::Error::new(SandboxError::TooLarge {
            what: "kiln.call argument".into(),
            size: arg_len.max(0) as u64,
            limit: max,
        }));
    }
    let id = read_guest(&memory, &*caller, id_ptr as u32, id_len as u32)?;
    let id = String::from_utf8(id)
        .map_err(|_| wasmtime::Error::new(violation("kiln.call id is not UTF-8")))?;
    let arg = read_guest(&memory, &*caller, arg_ptr as u32, arg_len as u32)?;
    charge(caller, 100 + arg.len() as u64 / 8)?;
    let state = caller.data();
    let depth = state.depth + 1;
    let limit = state.sandbox.config.engine.max_nesting;
    let envelope = if depth > limit {
        let e = SandboxError::NestingLimit { limit };
        abi::error_envelope("error/capability", &e.to_string(), Value::Nil)
    } else {
        match decode(&arg, decode_limits(max)) {
            Err(e) => {
                return Err(wasmtime::Error::new(violation(format!(
                    "kiln.call argument is undecodable: {e}"
                ))));
            }
            Ok(arg) => {
                let sandbox = state.sandbox.clone();
                let dispatcher = state.dispatcher.clone();
                let deadline = state.deadline;
                let fuel_left = caller.get_fuel()?;
                let mut nested = NestedCall {
                    sandbox: &sandbox,
                    dispatcher: &dispatcher,
                    depth,
                    deadline,
                    fuel_left,
                    fuel_used: 0,
                    logs: Vec::new(),
                };
                let r = dispatcher.dispatch(&mut nested, &id, arg);
                let (used, logs) = (nested.fuel_used, nested.logs);
                caller.set_fuel(fuel_left.saturating_sub(used))?;
                caller.data_mut().logs.extend(logs);
                match r {
                    Ok(v) => abi::ok_envelope(v),
                    Err(e) => {
                        let reason = match &e {
                            SandboxError::Dispatch { reason, .. } => reason.as_str(),
                            SandboxError::FuelExhausted { .. }
                            | SandboxError::Deadline { .. }
                            | SandboxError::MemoryLimit { .. } => "limit",
                            _ => "failed",
                        };
                        abi::error_envelope(
                            "error/capability",
                            &e.to_string(),
                            Value::map(vec![
                                (Value::keyword("capability"), Value::str(&id)),
                                (Value::keyword("reason"), Value::keyword(reason)),
                            ]),
                        )
                    }
                }
            }
        }
    };
    let bytes = encode(&envelope)
        .map_err(|e| wasmtime::Error::new(SandboxError::Internal(e.to_string())))?;
    let alloc = caller
        .get_export(abi::EXPORT_ALLOC)
        .and_then(|e| e.into_func())
        .ok_or_else(|| wasmtime::Error::new(violation("no kiln_alloc export")))?
        .typed::<i32, i32>(&*caller)?;
    let len = bytes.len() as i32;
    let ptr = alloc.call(&mut *caller, len)?;
    write_guest(&memory, &mut *caller, ptr as u32, &bytes)?;
    Ok(abi::pack(ptr as u32, len as u32))
}
