//! kiln-store — the kiln home: content-addressed objects and the SQLite database.
//!
//! Issue #3 starts it (objects verified on every read, a minimal capability registry, the
//! compiled-code index); issue #4 completes it (history, rollback, diff, the causal chain).
//! Storage sits behind traits ([`ObjectStore`], [`Registry`]) so a later backend can replace
//! the embedded default without touching callers.

pub mod error;
pub mod hash;
pub mod home;
pub mod objects;
pub mod registry;

pub use error::{Result, StoreError};
pub use hash::Hash;
pub use home::Home;
pub use objects::{FsObjects, ObjectStore};
pub use registry::{Registry, SqliteRegistry, Version, VersionRow};
