//! The sandbox's settings: what shapes the process engine ([`EngineConfig`]), what one
//! sandbox enforces ([`SandboxConfig`]) and the budget of one call ([`Limits`]). Every default
//! is safe and is given next to its field.

use std::time::Duration;

use crate::effects::InstallLimits;

/// Engine-wide settings. The engine is built once per process from the first `Sandbox`'s
/// settings; a later `Sandbox` must ask for the same ones.
///
/// ```
/// let c = kiln_sandbox::EngineConfig::default();
/// assert_eq!((c.concurrency, c.max_nesting), (8, 4));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EngineConfig {
    /// Top-level calls that may run at once (worker threads). Default 8.
    pub concurrency: u32,
    /// How deep `kiln.call` may nest below a top-level call. Default 4.
    pub max_nesting: u32,
    /// Largest linear memory of one instance, in bytes. Default 256 MiB.
    pub max_memory_bytes: u64,
    /// Native stack wasm may use per call level, in bytes. Default 512 KiB.
    pub max_wasm_stack: usize,
    /// Native stack reserved per call level for host code (decoding, the dispatcher), in
    /// bytes. Default 2 MiB.
    pub host_stack_reserve: usize,
    /// Epoch tick (the deadline's resolution). Default 5 ms.
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
///
/// ```
/// let c = kiln_sandbox::SandboxConfig::default();
/// assert_eq!(c.max_value_bytes, 16 << 20);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SandboxConfig {
    /// The engine. Default [`EngineConfig::default`].
    pub engine: EngineConfig,
    /// Linear memory all running instances may hold together, in bytes. Default 2 GiB.
    pub process_memory_budget: u64,
    /// Largest encoded input or result (of a call and of a `kiln.call`), in bytes. Default
    /// 16 MiB.
    pub max_value_bytes: u64,
    /// Bounds checked before compiling. Default [`InstallLimits::default`].
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
///
/// ```
/// use std::time::Duration;
/// let tight = kiln_sandbox::Limits { fuel: 10_000, ..Default::default() };
/// assert_eq!(tight.timeout, Duration::from_secs(10));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Fuel (wasm instructions, roughly). Default 10⁹.
    pub fuel: u64,
    /// Largest linear memory, in bytes (at most the engine's maximum). Default 64 MiB.
    pub memory_bytes: u64,
    /// Wall-clock deadline. Default 10 s.
    pub timeout: Duration,
    /// Validation mode: fixed clocks and randomness for WASI guests. Default off.
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
