//! A governed home with a sandbox: what plans and calls run on.

use std::path::Path;
use std::sync::Arc;

use kiln_sandbox::{ArtifactIndex, CodeCache, Sandbox, SandboxConfig};
use kiln_store::{Hash, SqliteRegistry};

use crate::error::{KernelError, Result};
use crate::kernel::Kernel;
use crate::loader::{Loaded, Loader, Parts};

/// The compiled-code index kept in `kiln.db`.
struct DbIndex(Arc<SqliteRegistry>);

impl ArtifactIndex for DbIndex {
    fn get(&self, key: &str) -> Option<[u8; 32]> {
        self.0.artifact_sha(key).ok().flatten().map(|h| h.0)
    }
    fn put(&self, key: &str, sha: [u8; 32]) -> std::io::Result<()> {
        self.0
            .set_artifact_sha(key, Hash(sha))
            .map_err(|e| std::io::Error::other(e.to_string()))
    }
}

/// A home with a sandbox and its code cache.
pub struct Runtime {
    kernel: Kernel,
    sandbox: Sandbox,
    cache: CodeCache,
    loader: Loader,
}

impl Runtime {
    /// Opens the home at `dir` (creating it) and the sandbox; `trust` may only lower the
    /// constitution's level.
    pub fn open(dir: &Path, trust: Option<u8>) -> Result<Runtime> {
        let kernel = Kernel::open(dir, trust)?;
        let sandbox = Sandbox::new(SandboxConfig::default())?;
        let home = kernel.home();
        let cache = CodeCache::new(home.cache_dir(), Arc::new(DbIndex(home.registry.clone())))
            .map_err(|e| KernelError::invalid(format!("{}: {e}", home.cache_dir().display())))?;
        Ok(Runtime {
            kernel,
            sandbox,
            cache,
            loader: Loader::default(),
        })
    }

    /// The governance kernel.
    pub fn kernel(&self) -> &Kernel {
        &self.kernel
    }

    /// The sandbox.
    pub fn sandbox(&self) -> &Sandbox {
        &self.sandbox
    }

    /// The compiled-code cache.
    pub fn code_cache(&self) -> &CodeCache {
        &self.cache
    }

    /// Loaded versions.
    pub fn loader(&self) -> &Loader {
        &self.loader
    }

    /// What loading a version needs.
    pub fn parts(&self) -> Parts<'_> {
        Parts {
            kernel: &self.kernel,
            sandbox: &self.sandbox,
            cache: &self.cache,
        }
    }

    /// The installed capability `spec` (`ID` or `ID@PREFIX`), loaded into the sandbox.
    pub fn load(&self, spec: &str) -> Result<Loaded> {
        self.loader.load(&self.parts(), spec)
    }
}
