//! What a kernel operation can end in: one enum whose variants a caller can act on — a refusal
//! or a wait for a human (exit 3 at the command line), a busy store (retry), a broken
//! configuration, input to fix.

use kiln_sandbox::SandboxError;
use kiln_store::StoreError;

use crate::diagnostic::Diagnostic;
use crate::governance::{ConfigError, Decision};
use crate::manifest::ManifestError;

/// A refusal by the constitution, or a wait for a human's approval.
#[derive(Debug, thiserror::Error)]
pub enum Blocked {
    /// The constitution denies it.
    #[error("denied: {}", .0.reason)]
    Denied(Decision),
    /// A human must approve it first (the request is `approval`, when one was filed).
    #[error("needs a human's approval: {}", .decision.reason)]
    NeedsApproval {
        /// The decision.
        decision: Decision,
        /// The approval request filed for it.
        approval: Option<i64>,
    },
}

/// An RTFS source that does not read or evaluate.
#[derive(Debug)]
pub struct SourceError {
    /// What and where.
    pub diagnostic: Diagnostic,
    /// The file's name.
    pub file: String,
    /// Its text.
    pub text: String,
}

/// A kernel failure.
#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    /// Refused or waiting for a human.
    #[error(transparent)]
    Blocked(#[from] Blocked),
    /// The store, whole: [`StoreError::Busy`] means another kiln process held the database
    /// past the deadline, and the operation can be retried.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The sandbox refused a module or a call failed there.
    #[error("{}", sandbox_message(.0))]
    Sandbox(#[from] SandboxError),
    /// A manifest that does not say what a version is.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// A broken `agent_config.toml` or constitution: kiln does not run ungoverned.
    #[error("{error}\nkiln refuses to run with a broken {what}")]
    Config {
        /// Where and what.
        error: Box<ConfigError>,
        /// `configuration` or `constitution`.
        what: &'static str,
    },
    /// A quota is used up; the message names it and its value.
    #[error("{0}")]
    Quota(String),
    /// An RTFS source that does not read or evaluate (a manifest file, a plan): the
    /// diagnostic, with the source for a snippet.
    #[error("{}: {}", .0.file, .0.diagnostic.message)]
    Source(Box<SourceError>),
    /// Input to fix: a file that cannot be read, an id that does not exist, a malformed
    /// argument. The message says what and where.
    #[error("{0}")]
    Invalid(String),
}

impl KernelError {
    /// An [`KernelError::Invalid`] with this message.
    pub fn invalid(message: impl Into<String>) -> KernelError {
        KernelError::Invalid(message.into())
    }

    /// Whether this is a refusal or a wait for approval (exit code 3).
    pub fn is_blocked(&self) -> bool {
        matches!(self, KernelError::Blocked(_))
    }
}

/// A sandbox error, with the capability's own error data when it gave some (e.g. the
/// `:reason` of a refused `kiln.call`).
fn sandbox_message(e: &SandboxError) -> String {
    match e {
        SandboxError::Guest { data, .. } if data != "nil" => format!("{e}\n  data: {data}"),
        _ => e.to_string(),
    }
}

/// Result alias.
pub type Result<T, E = KernelError> = std::result::Result<T, E>;
