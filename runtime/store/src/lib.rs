//! kiln-store — the kiln home: content-addressed objects, the SQLite database, the
//! capability registry with rollback, and the causal chain with its Merkle tree.
//!
//! Storage sits behind traits ([`ObjectStore`], [`Registry`]) so a later backend can replace
//! the embedded default without touching callers. Every mutation commits together with the
//! chain entry that records it.

#![forbid(unsafe_code)]

pub mod approvals;
pub mod authority;
pub mod chain;
pub mod db;
pub mod diff;
pub mod error;
pub mod hash;
pub mod home;
pub mod merkle;
pub mod objects;
pub mod plans;
pub mod registry;
pub mod replay;

pub use authority::{
    Activate, Append, Authority, Authorized, Collect, Decide, Register, RegisterNative, Request,
};
pub use chain::{ChainStore, Context, Cost, Entry, Head, Principal, Record};
pub use error::{Result, StoreError};
pub use hash::Hash;
pub use home::{GcReport, Home, VerifyReport};
pub use objects::{FsObjects, ObjectStore};
pub use registry::{
    Caller, Deactivated, Move, Moved, Registered, Registry, SqliteRegistry, Version, VersionRow,
};
