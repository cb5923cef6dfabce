//! The process-wide wasmtime `Engine`: fuel, epoch interruption driven by a ticker thread,
//! the pooling allocator sized concurrency × (nesting + 1), a pinned wasm feature set and NaN
//! canonicalization. Built once per process (a `OnceLock`), tests included.

use std::sync::OnceLock;

use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, WasmFeatures};

use crate::config::EngineConfig;
use crate::error::{Result, SandboxError};

/// Most elements a table may hold (pool slots are sized for it; the limiter refuses more).
pub(crate) const MAX_TABLE_ELEMENTS: usize = 100_000;

/// The process engine, built from `config` on first use. A later caller must ask for the same
/// `config`: one engine cannot serve two shapes of pool.
pub(crate) fn process_engine(config: EngineConfig) -> Result<Engine> {
    static ENGINE: OnceLock<std::result::Result<ProcessEngine, String>> = OnceLock::new();
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
///
/// ```
/// let pool = kiln_sandbox::engine::pool_config(40, 256 << 20);
/// let mut config = wasmtime::Config::new();
/// config.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pool));
/// ```
pub fn pool_config(slots: u32, max_memory_bytes: u64) -> PoolingAllocationConfig {
    let mut pool = PoolingAllocationConfig::default();
    pool.total_core_instances(slots)
        .total_memories(slots)
        .total_tables(slots)
        .max_memories_per_module(1)
        .max_tables_per_module(4)
        .table_elements(MAX_TABLE_ELEMENTS)
        .max_memory_size(max_memory_bytes as usize)
        .max_unused_warm_slots(slots)
        // Reset small memories and tables by zeroing instead of madvise: no TLB-shootdown
        // interrupts to every thread of the process on each call.
        .linear_memory_keep_resident(2 << 20)
        .table_keep_resident(64 << 10);
    pool
}

/// The engine and the settings it was built with.
struct ProcessEngine {
    engine: Engine,
    config: EngineConfig,
}

fn build_engine(config: EngineConfig) -> Result<ProcessEngine> {
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
    start_epoch_ticker(&engine, config)?;
    Ok(ProcessEngine { engine, config })
}

/// Advances the engine's epoch every tick, which is what makes deadlines fire. The thread
/// holds only a weak reference, so it ends if the engine is ever dropped.
fn start_epoch_ticker(engine: &Engine, config: EngineConfig) -> Result<()> {
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
    Ok(())
}
