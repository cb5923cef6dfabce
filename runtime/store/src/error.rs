//! Store errors: each names what it concerns.

use thiserror::Error;

use crate::hash::Hash;

/// A store failure.
#[derive(Debug, Error)]
pub enum StoreError {
    /// An object's bytes do not hash to its name: it is never used.
    #[error("object {0} is corrupt: its content does not match its hash")]
    Corrupt(Hash),
    /// A referenced object is missing.
    #[error("object {0} is missing")]
    Missing(Hash),
    /// No such capability, version or prefix.
    #[error("{0}")]
    NotFound(String),
    /// A prefix or name matches several things.
    #[error("{0}")]
    Ambiguous(String),
    /// Invalid input (a bad id, a malformed manifest …).
    #[error("{0}")]
    Invalid(String),
    /// File-system trouble, with the path.
    #[error("{path}: {source}")]
    Io {
        /// The path concerned.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// Another process held the database past the caller's deadline.
    #[error(
        "the kiln database is busy (another kiln process is writing); gave up after {waited_ms} ms"
    )]
    Busy {
        /// How long this call waited.
        waited_ms: u64,
    },
    /// Database trouble.
    #[error("database: {0}")]
    Db(#[from] rusqlite::Error),
}

/// Result alias.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> StoreError {
    StoreError::Io {
        path: path.display().to_string(),
        source,
    }
}
