//! Immutable objects named by the SHA-256 of their bytes, written atomically before anything
//! references them and verified on every read. All file access goes through a cap-std `Dir`
//! handle on the objects directory, so no path can lead outside it.

use std::io::Write;
use std::path::{Path, PathBuf};

use cap_std::fs::Dir;

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
    /// Every stored object's name, and the names of files that are not objects (temporary
    /// files a crash left behind, strays).
    fn list(&self) -> Result<Listing>;
    /// Removes an object (only `gc` does, under the database's write lock).
    fn remove(&self, hash: &Hash) -> Result<u64>;
}

/// What the object directory holds.
#[derive(Clone, Debug, Default)]
pub struct Listing {
    /// Files named like objects.
    pub objects: Vec<Hash>,
    /// Other files (relative paths), e.g. `ab/.tmp-123-…` from an interrupted write.
    pub other: Vec<String>,
}

/// Objects as files `objects/ab/cdef…` in the home.
pub struct FsObjects {
    path: PathBuf,
    dir: Dir,
}

impl FsObjects {
    /// The file of an object (for messages and tests).
    pub fn path_of(&self, hash: &Hash) -> PathBuf {
        self.path.join(Self::rel(hash).1)
    }

    /// Removes a stray file (e.g. an interrupted write's temporary file) by its listed name.
    pub fn remove_other(&self, rel: &str) -> Result<()> {
        self.dir
            .remove_file(rel)
            .map_err(|e| self.err(Path::new(rel), e))
    }

    /// Objects under `path` (created if missing).
    pub fn open(path: impl Into<PathBuf>) -> Result<FsObjects> {
        let path = path.into();
        std::fs::create_dir_all(&path).map_err(|e| io(&path, e))?;
        let dir =
            Dir::open_ambient_dir(&path, cap_std::ambient_authority()).map_err(|e| io(&path, e))?;
        Ok(FsObjects { path, dir })
    }

    fn rel(hash: &Hash) -> (String, PathBuf) {
        let hex = hash.hex();
        let shard = hex[..2].to_string();
        let rel = Path::new(&shard).join(&hex[2..]);
        (shard, rel)
    }

    fn err(&self, rel: &Path, e: std::io::Error) -> StoreError {
        io(&self.path.join(rel), e)
    }
}

impl FsObjects {
    /// Marks an object as just written (its modification time), so that `gc` — which removes
    /// only unreferenced objects older than its grace period — leaves alone an old object a
    /// writer is about to reference again. Returns whether the object exists.
    pub fn touch(&self, hash: &Hash) -> bool {
        match self.dir.open(Self::rel(hash).1) {
            Ok(f) => {
                let _ = f.into_std().set_modified(std::time::SystemTime::now());
                true
            }
            Err(_) => false,
        }
    }
}

fn sync_dir(dir: &Dir) {
    if let Ok(d) = dir.try_clone() {
        let _ = d.into_std_file().sync_all();
    }
}

impl ObjectStore for FsObjects {
    fn put(&self, bytes: &[u8]) -> Result<Hash> {
        let hash = Hash::of(bytes);
        let (shard, rel) = Self::rel(&hash);
        if self.dir.exists(&rel) && self.get(&hash).is_ok() {
            // Written again: gc's grace period counts from now.
            self.touch(&hash);
            return Ok(hash);
        }
        self.dir
            .create_dir_all(&shard)
            .map_err(|e| self.err(Path::new(&shard), e))?;
        let shard_dir = self
            .dir
            .open_dir(&shard)
            .map_err(|e| self.err(Path::new(&shard), e))?;
        let tmp = format!(".tmp-{}-{}", std::process::id(), &hash.hex()[..16]);
        {
            let mut f = shard_dir
                .create(&tmp)
                .map_err(|e| self.err(Path::new(&tmp), e))?;
            f.write_all(bytes)
                .map_err(|e| self.err(Path::new(&tmp), e))?;
            f.sync_all().map_err(|e| self.err(Path::new(&tmp), e))?;
        }
        let name = &hash.hex()[2..];
        shard_dir
            .rename(&tmp, &shard_dir, name)
            .map_err(|e| self.err(&rel, e))?;
        sync_dir(&shard_dir);
        sync_dir(&self.dir);
        Ok(hash)
    }

    fn get(&self, hash: &Hash) -> Result<Vec<u8>> {
        let (_, rel) = Self::rel(hash);
        let bytes = match self.dir.read(&rel) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StoreError::Missing(*hash));
            }
            Err(e) => return Err(self.err(&rel, e)),
        };
        if Hash::of(&bytes) != *hash {
            return Err(StoreError::Corrupt(*hash));
        }
        Ok(bytes)
    }

    fn has(&self, hash: &Hash) -> bool {
        self.dir.exists(Self::rel(hash).1)
    }

    fn list(&self) -> Result<Listing> {
        let mut out = Listing::default();
        let top = self.dir.entries().map_err(|e| self.err(Path::new(""), e))?;
        for shard in top {
            let shard = shard.map_err(|e| self.err(Path::new(""), e))?;
            let name = shard.file_name().to_string_lossy().into_owned();
            let is_dir = shard.file_type().map(|t| t.is_dir()).unwrap_or(false);
            if !is_dir || name.len() != 2 {
                out.other.push(name);
                continue;
            }
            let sub = self
                .dir
                .open_dir(&name)
                .map_err(|e| self.err(Path::new(&name), e))?;
            for f in sub.entries().map_err(|e| self.err(Path::new(&name), e))? {
                let f = f.map_err(|e| self.err(Path::new(&name), e))?;
                let rest = f.file_name().to_string_lossy().into_owned();
                match Hash::parse(&format!("{name}{rest}")) {
                    Some(h) if h.hex() == format!("{name}{rest}") => out.objects.push(h),
                    _ => out.other.push(format!("{name}/{rest}")),
                }
            }
        }
        out.objects.sort();
        out.other.sort();
        Ok(out)
    }

    fn remove(&self, hash: &Hash) -> Result<u64> {
        let (shard, rel) = Self::rel(hash);
        let size = self.dir.metadata(&rel).map(|m| m.len()).unwrap_or(0);
        match self.dir.remove_file(&rel) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(self.err(&rel, e)),
        }
        if let Ok(d) = self.dir.open_dir(&shard) {
            sync_dir(&d);
        }
        Ok(size)
    }
}
