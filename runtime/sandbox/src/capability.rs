//! A loaded capability: a module that passed the install checks, compiled and prepared for
//! instantiation once per hash, with the grants it was loaded under.

use std::sync::Arc;

use wasmtime::InstancePre;

use crate::abi::AbiExports;
use crate::cache::CacheOutcome;
use crate::effects::ModuleFacts;
use crate::exec::CallState;
use crate::grants::Grants;

/// A compiled, checked capability module with its grants, ready to instantiate.
pub struct Capability {
    pub(crate) hash: [u8; 32],
    pub(crate) pre: Arc<Prepared>,
    pub(crate) grants: Arc<Grants>,
    /// The granted directories, opened when it was loaded (every call preopens these).
    pub(crate) dirs: Arc<[crate::opened::OpenedDir]>,
}

impl std::fmt::Debug for Capability {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Capability")
            .field("hash", &hex(&self.hash))
            .field("facts", &self.pre.facts)
            .finish()
    }
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

/// What [`Sandbox::load_cached`] produced: the capability, and whether the code cache had it.
///
/// [`Sandbox::load_cached`]: crate::Sandbox::load_cached
#[derive(Debug)]
pub struct CachedLoad {
    /// The loaded capability.
    pub capability: Arc<Capability>,
    /// Whether its compiled code came from the cache.
    pub cache: CacheOutcome,
}

/// A module ready to instantiate, with its ABI exports looked up once. Shared by every
/// `Capability` loaded from the same bytes, whatever their grants.
pub(crate) struct Prepared {
    pub(crate) pre: InstancePre<CallState>,
    pub(crate) facts: ModuleFacts,
    pub(crate) exports: AbiExports,
}

/// Lower-case hex of bytes (module hashes in logs and cache keys).
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
