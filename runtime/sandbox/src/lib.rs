//! kiln-sandbox — untrusted capabilities as WebAssembly under fuel, memory and time limits.
//!
//! One process-wide wasmtime `Engine` (fuel, epoch interruption, the pooling allocator, a
//! pinned feature set, NaN canonicalization); per call a fresh `Store` whose fuel, epoch
//! deadline and memory limiter are set before instantiation; calls on dedicated big-stack
//! threads; install checks before compiling (sizes, imports ⊆ declared effects ⊆ grants);
//! the guest ABI v1 (`docs/abi.md`) with every guest pointer bounds-checked.

pub mod abi;
pub mod cache;
pub mod effects;
pub mod error;
pub mod grants;
pub mod sandbox;

pub use cache::{ArtifactIndex, CacheOutcome, CodeCache, FileIndex};
pub use effects::{Effect, InstallLimits};
pub use error::{Result, SandboxError};
pub use grants::{DirGrant, Grants};
pub use sandbox::{
    Capability, Dispatcher, EngineConfig, Limits, LogLine, NestedCall, NoDispatch, Outcome,
    Sandbox, SandboxConfig,
};
