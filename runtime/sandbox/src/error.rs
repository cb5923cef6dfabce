//! What can go wrong running a capability, as errors a caller can act on: [`SandboxError`],
//! and [`FailedCall`] — an error with the fuel the call burned before it.

use thiserror::Error;

/// A sandbox failure. Every variant says what happened in terms the caller can act on; none
/// carries a guest-controlled string longer than a bounded excerpt.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum SandboxError {
    /// The guest ran out of fuel (its CPU budget).
    #[error("the capability ran out of fuel after {used} units")]
    FuelExhausted {
        /// Fuel consumed.
        used: u64,
    },
    /// The guest tried to grow memory past its limit (or the process-wide budget).
    #[error("the capability tried to use more than {limit} bytes of memory")]
    MemoryLimit {
        /// The limit that refused it, in bytes.
        limit: u64,
    },
    /// The wall-clock deadline passed.
    #[error("the capability ran past its {ms} ms deadline")]
    Deadline {
        /// The deadline, in milliseconds.
        ms: u64,
    },
    /// The guest exhausted its wasm stack.
    #[error("the capability overflowed its stack")]
    StackOverflow,
    /// Any other trap.
    #[error("the capability trapped: {code}")]
    Trap {
        /// What trapped (wasmtime's trap code or message).
        code: String,
    },
    /// The guest broke the ABI (a bad pointer, a missing export, undecodable bytes …).
    #[error("the capability broke the guest ABI: {what}")]
    AbiViolation {
        /// What it did.
        what: String,
    },
    /// The module imports something its declared effects (or grants) do not cover.
    #[error("import `{import}` needs effect {effect}, which is not {why}")]
    ImportNotCovered {
        /// `module.name` of the import.
        import: String,
        /// The effect it needs (or `unknown` for imports kiln does not provide).
        effect: String,
        /// `declared` or `granted`.
        why: String,
    },
    /// The module is not acceptable wasm.
    #[error("invalid module: {why}")]
    InvalidModule {
        /// Why.
        why: String,
    },
    /// Something is bigger than allowed (module, function count, body, input, result …).
    #[error("{what} is too large: {size} > {limit}")]
    TooLarge {
        /// What.
        what: String,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// `kiln.call` nested deeper than allowed.
    #[error("capability calls nested deeper than {limit}")]
    NestingLimit {
        /// The nesting limit.
        limit: u32,
    },
    /// The process-wide memory budget or the instance pool is exhausted right now.
    #[error("the sandbox is at capacity: {what}")]
    Busy {
        /// What ran out.
        what: String,
    },
    /// The capability returned an error value (kind, message, data as RTFS printed forms).
    #[error("the capability failed: {kind}: {message}")]
    Guest {
        /// The error kind (a keyword text without `:`).
        kind: String,
        /// Its message.
        message: String,
        /// Its data, printed.
        data: String,
    },
    /// A nested `kiln.call` was refused or failed in the dispatcher.
    #[error("kiln.call {id}: {message}")]
    Dispatch {
        /// The callee.
        id: String,
        /// The `call` reason the guest sees (LANGUAGE.md §8.2): `unknown`, `denied`,
        /// `pending-approval`, `quota`, `failed` …
        reason: String,
        /// Why.
        message: String,
    },
    /// The compiled-code cache is unusable (corrupt artifact, I/O).
    #[error("compiled-code cache: {0}")]
    Cache(String),
    /// An engine-level failure that is not the guest's doing.
    #[error("sandbox internal error: {0}")]
    Internal(String),
}

/// A call that failed, with the fuel it burned before it failed: a budget must still be
/// charged for it ([`Sandbox::call_metered`]). Displays as its error.
///
/// ```
/// use kiln_sandbox::{FailedCall, SandboxError};
/// let f = FailedCall { error: SandboxError::StackOverflow, fuel_used: 1200 };
/// assert_eq!(f.to_string(), "the capability overflowed its stack");
/// assert_eq!(SandboxError::from(f), SandboxError::StackOverflow);
/// ```
///
/// [`Sandbox::call_metered`]: crate::Sandbox::call_metered
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("{error}")]
pub struct FailedCall {
    /// What went wrong.
    pub error: SandboxError,
    /// Fuel consumed before the failure, nested calls included (0 if the guest never ran).
    pub fuel_used: u64,
}

impl From<FailedCall> for SandboxError {
    fn from(f: FailedCall) -> SandboxError {
        f.error
    }
}

impl SandboxError {
    /// This error as a call that failed after using `fuel_used`.
    pub(crate) fn after(self, fuel_used: u64) -> FailedCall {
        FailedCall {
            error: self,
            fuel_used,
        }
    }
}

/// Result alias.
pub type Result<T, E = SandboxError> = std::result::Result<T, E>;
