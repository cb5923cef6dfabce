//! The kiln home: `kiln.db`, `objects/`, `cache/`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Result, io};
use crate::objects::FsObjects;
use crate::registry::SqliteRegistry;

/// An open home.
pub struct Home {
    root: PathBuf,
    /// Content-addressed objects.
    pub objects: Arc<FsObjects>,
    /// The registry (and the compiled-code index).
    pub registry: Arc<SqliteRegistry>,
}

impl Home {
    /// Opens the home at `root`, creating it when missing.
    pub fn open(root: &Path) -> Result<Home> {
        std::fs::create_dir_all(root).map_err(|e| io(root, e))?;
        let root = root.canonicalize().map_err(|e| io(root, e))?;
        let objects = Arc::new(FsObjects::open(root.join("objects"))?);
        let registry = Arc::new(SqliteRegistry::open(
            &root.join("kiln.db"),
            objects.clone(),
        )?);
        Ok(Home {
            root,
            objects,
            registry,
        })
    }

    /// The home directory (canonical).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The compiled-code cache directory.
    pub fn cache_dir(&self) -> PathBuf {
        self.root.join("cache")
    }
}
