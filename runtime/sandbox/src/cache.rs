//! The compiled-code cache: precompiled modules on disk, keyed by the module's hash and the
//! engine's compatibility hash. Each artifact's SHA-256 is recorded in an index (the home's
//! metadata — `kiln.db` once the store exists) when it is written; a cached artifact is used
//! only when its bytes hash to the recorded value, and it is loaded from memory
//! (`Module::deserialize`), never mapped from a file that could change under live code.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};
use wasmtime::{Engine, Module};

use crate::capability::hex;
use crate::error::{Result, SandboxError};

/// Where artifact hashes are recorded.
pub trait ArtifactIndex: Send + Sync {
    /// The recorded SHA-256 of an artifact.
    fn get(&self, key: &str) -> Option<[u8; 32]>;
    /// Records the SHA-256 of an artifact.
    fn put(&self, key: &str, sha: [u8; 32]) -> std::io::Result<()>;
}

/// An index of small files (`KEY.sha256`) in a directory: the stand-in until the store's
/// database holds the index.
pub struct FileIndex {
    dir: PathBuf,
}

impl FileIndex {
    /// An index in `dir` (created if missing).
    pub fn new(dir: impl Into<PathBuf>) -> std::io::Result<FileIndex> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir)?;
        Ok(FileIndex { dir })
    }
}

fn parse_hex32(s: &str) -> Option<[u8; 32]> {
    let s = s.trim();
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

impl ArtifactIndex for FileIndex {
    fn get(&self, key: &str) -> Option<[u8; 32]> {
        let text = std::fs::read_to_string(self.dir.join(format!("{key}.sha256"))).ok()?;
        parse_hex32(&text)
    }

    fn put(&self, key: &str, sha: [u8; 32]) -> std::io::Result<()> {
        write_atomically(&self.dir, &format!("{key}.sha256"), hex(&sha).as_bytes())
    }
}

/// Writes `name` in `dir` through a temporary file, fsync and rename, all through a cap-std
/// handle on `dir`.
pub(crate) fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    let d = cap_std::fs::Dir::open_ambient_dir(dir, cap_std::ambient_authority())?;
    write_in(&d, name, bytes)
}

fn write_in(d: &cap_std::fs::Dir, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = format!(".{name}.{}.tmp", std::process::id());
    {
        let mut f = d.create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    d.rename(&tmp, d, name)?;
    let _ = d.try_clone()?.into_std_file().sync_all();
    Ok(())
}

/// How a module was obtained.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheOutcome {
    /// A verified artifact was loaded.
    Hit,
    /// Compiled and stored.
    Miss,
    /// An artifact was present but did not match its recorded hash: compiled afresh and
    /// overwritten.
    Replaced,
}

/// A compiled module and how it was obtained.
pub struct CompiledModule {
    /// The module, ready for the engine it was compiled for.
    pub module: Module,
    /// Whether it came from the cache.
    pub outcome: CacheOutcome,
}

/// Precompiled modules in a directory (shareable between homes that share the index),
/// accessed through a cap-std handle.
#[derive(Clone)]
pub struct CodeCache {
    path: PathBuf,
    dir: Arc<cap_std::fs::Dir>,
    index: Arc<dyn ArtifactIndex>,
}

struct ShaHasher(Sha256);

impl Hasher for ShaHasher {
    fn finish(&self) -> u64 {
        0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

impl CodeCache {
    /// A cache in `dir` (created if missing) recording hashes in `index`.
    pub fn new(
        dir: impl Into<PathBuf>,
        index: Arc<dyn ArtifactIndex>,
    ) -> std::io::Result<CodeCache> {
        let path = dir.into();
        std::fs::create_dir_all(&path)?;
        let dir = cap_std::fs::Dir::open_ambient_dir(&path, cap_std::ambient_authority())?;
        Ok(CodeCache {
            path,
            dir: Arc::new(dir),
            index,
        })
    }

    /// The cache key of a module for an engine.
    pub fn key(engine: &Engine, module_sha: &[u8; 32]) -> String {
        let mut h = ShaHasher(Sha256::new());
        engine.precompile_compatibility_hash().hash(&mut h);
        let compat: [u8; 32] = h.0.finalize().into();
        format!("{}-{}", hex(module_sha), &hex(&compat)[..16])
    }

    /// The artifact path of a key.
    pub fn path(&self, key: &str) -> PathBuf {
        self.path.join(format!("{key}.cwasm"))
    }

    /// The compiled module for `bytes` (whose SHA-256 is `module_sha`): a verified cached
    /// artifact, or a fresh compilation that is then stored.
    // The crate's only `unsafe`: `Module::deserialize` trusts its bytes to be wasmtime's own
    // output; each block says why these are.
    #[allow(unsafe_code)]
    pub fn module(
        &self,
        engine: &Engine,
        bytes: &[u8],
        module_sha: &[u8; 32],
    ) -> Result<CompiledModule> {
        let key = Self::key(engine, module_sha);
        let path = self.path(&key);
        let name = format!("{key}.cwasm");
        let mut outcome = CacheOutcome::Miss;
        if let Ok(artifact) = self.dir.read(&name) {
            let sha: [u8; 32] = Sha256::digest(&artifact).into();
            if self.index.get(&key) == Some(sha) {
                // SAFETY: these bytes hash to the value recorded when this process (or one
                // with the same engine compatibility hash) wrote them from
                // `Engine::precompile_module`, so they are wasmtime's own output for this
                // engine configuration, read into memory (not mapped) before use.
                let module = unsafe { Module::deserialize(engine, &artifact) }
                    .map_err(|e| SandboxError::Cache(format!("{}: {e}", path.display())))?;
                return Ok(CompiledModule {
                    module,
                    outcome: CacheOutcome::Hit,
                });
            }
            tracing::warn!(
                artifact = %path.display(),
                "compiled artifact does not match the hash recorded for it; recompiling"
            );
            outcome = CacheOutcome::Replaced;
        }
        let artifact =
            engine
                .precompile_module(bytes)
                .map_err(|e| SandboxError::InvalidModule {
                    why: crate::abi::bounded(&e.to_string(), 1024),
                })?;
        let sha: [u8; 32] = Sha256::digest(&artifact).into();
        write_in(&self.dir, &name, &artifact)
            .and_then(|_| self.index.put(&key, sha))
            .map_err(|e| SandboxError::Cache(format!("writing {}: {e}", path.display())))?;
        // SAFETY: `artifact` was produced by `precompile_module` of this very engine just now.
        let module = unsafe { Module::deserialize(engine, &artifact) }
            .map_err(|e| SandboxError::Cache(e.to_string()))?;
        Ok(CompiledModule { module, outcome })
    }
}
