//! kiln-sandbox — untrusted capabilities as WebAssembly under fuel, memory and time limits.
//!
//! One process-wide wasmtime `Engine` (fuel, epoch interruption, the pooling allocator, a
//! pinned feature set, NaN canonicalization); per call a fresh `Store` whose fuel, epoch
//! deadline and memory limiter are set before instantiation; calls on dedicated big-stack
//! threads; install checks before compiling (sizes, imports ⊆ declared effects ⊆ grants);
//! the guest ABI v1 (`docs/abi.md`) with every guest pointer bounds-checked, in `abi`.
//!
//! One concept per module: `config` (settings and their defaults), `engine`, `limiter`,
//! `pool` (worker threads), `sandbox` (load and call), `capability`, `exec` (one call on this
//! thread), `dispatch` (where `kiln.call` goes), `host` (the `kiln.*` host functions), `wasi`,
//! `abi` (every access to guest memory), `effects`, `grants`, `cache`, `error`.

// Guest memory is accessed without `unsafe` (`abi`); the one exception is
// `Module::deserialize` of a verified artifact in `cache`, allowed there and nowhere else.
#![deny(unsafe_code)]

pub mod abi;
pub mod cache;
mod capability;
mod config;
mod dispatch;
pub mod effects;
pub mod engine;
pub mod error;
mod exec;
pub mod grants;
mod host;
mod limiter;
mod opened;
mod pool;
pub mod sandbox;
mod wasi;

pub use cache::{ArtifactIndex, CacheOutcome, CodeCache, CompiledModule, FileIndex};
pub use capability::{CachedLoad, Capability};
pub use config::{EngineConfig, Limits, SandboxConfig};
pub use dispatch::{Dispatcher, NestedCall, NoDispatch};
pub use effects::{Effect, InstallLimits};
pub use error::{FailedCall, Result, SandboxError};
pub use exec::{LogLine, Outcome};
pub use grants::{DirGrant, Grants};
pub use sandbox::Sandbox;
