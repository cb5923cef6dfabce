//! Immutable objects named by the SHA-256 of their bytes, written atomically before anything
//! references them and verified on every read.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Result, StoreError, io};
use crate::hash::Hash;

/// Where objects live.
pub trait ObjectStore: Send + Sync {
    /// Stores bytes (idempotent); returns their hash. Durable when it returns.
    fn put(&self, bytes: &[u8]) -> Result<Hash>;
    /// The bytes of an object, verified against its name.
    fn get(&self, hash: &Hash) -> Result<Vec<u8>>;
    /// Whether an object is present (not verified).
    fn has(&self, hash: &Hash) -> bool;
}

/// Objects as files `objects/ab/cdef…` in the home.
pub struct FsObjects {
    dir: PathBuf,
}

impl FsObjects {
    /// Objects under `dir` (created if missing).
    pub fn open(dir: impl Into<PathBuf>) -> Result<FsObjects> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
        Ok(FsObjects { dir })
    }

    fn path(&self, hash: &Hash) -> PathBuf {
        let hex = hash.hex();
        self.dir.join(&hex[..2]).join(&hex[2..])
    }
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

impl ObjectStore for FsObjects {
    fn put(&self, bytes: &[u8]) -> Result<Hash> {
        let hash = Hash::of(bytes);
        let path = self.path(&hash);
        if path.exists() && self.get(&hash).is_ok() {
            return Ok(hash);
        }
        let parent = path.parent().expect("object paths have a parent");
        std::fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
        let tmp = parent.join(format!(".tmp-{}-{}", std::process::id(), &hash.hex()[..16]));
        {
            let mut f = std::fs::File::create(&tmp).map_err(|e| io(&tmp, e))?;
            f.write_all(bytes).map_err(|e| io(&tmp, e))?;
            f.sync_all().map_err(|e| io(&tmp, e))?;
        }
        std::fs::rename(&tmp, &path).map_err(|e| io(&path, e))?;
        sync_dir(parent);
        sync_dir(&self.dir);
        Ok(hash)
    }

    fn get(&self, hash: &Hash) -> Result<Vec<u8>> {
        let path = self.path(hash);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StoreError::Missing(*hash));
            }
            Err(e) => return Err(io(&path, e)),
        };
        if Hash::of(&bytes) != *hash {
            return Err(StoreError::Corrupt(*hash));
        }
        Ok(bytes)
    }

    fn has(&self, hash: &Hash) -> bool {
        self.path(hash).exists()
    }
}
