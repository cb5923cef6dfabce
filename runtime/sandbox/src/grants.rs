//! What a capability is granted beyond computing: effects, directories (read-only unless
//! write is granted) and named environment variables. Granted paths are canonicalized and
//! refused when they overlap kiln's own files (the home, its configuration, the code cache).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::effects::Effect;
use crate::error::{Result, SandboxError};

/// A granted directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirGrant {
    /// The directory on the host.
    pub host: PathBuf,
    /// Where the guest sees it (e.g. `/data`).
    pub guest: String,
    /// Whether the guest may write (needs `:fs/write`).
    pub write: bool,
}

/// Everything granted to one capability.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Grants {
    /// Granted effects.
    pub effects: BTreeSet<Effect>,
    /// Granted directories.
    pub dirs: Vec<DirGrant>,
    /// Granted environment variables: names with their values (never logged).
    pub env: Vec<(String, String)>,
}

fn refuse(why: String) -> SandboxError {
    SandboxError::ImportNotCovered {
        import: "(grant)".into(),
        effect: "grant".into(),
        why,
    }
}

/// Whether one path contains the other (a grant of either reaches the other).
pub fn overlaps(a: &Path, b: &Path) -> bool {
    a.starts_with(b) || b.starts_with(a)
}

impl Grants {
    /// Grants of effects only.
    pub fn effects(effects: impl IntoIterator<Item = Effect>) -> Grants {
        Grants {
            effects: effects.into_iter().collect(),
            ..Grants::default()
        }
    }

    /// Checks and canonicalizes the grants: directories must exist, must not overlap any of
    /// `protected` (kiln's home, configuration, cache), and need `:fs/read` (and `:fs/write`
    /// to write); environment variables need `:env`.
    pub fn checked(mut self, protected: &[PathBuf]) -> Result<Grants> {
        let protected: Vec<PathBuf> = protected
            .iter()
            .map(|p| p.canonicalize().unwrap_or_else(|_| absolute(p)))
            .collect();
        for d in &mut self.dirs {
            // A grant names a directory, not a link to one: a symlink could be pointed
            // elsewhere after the check.
            if std::fs::symlink_metadata(&d.host).is_ok_and(|m| m.file_type().is_symlink()) {
                return Err(refuse(format!(
                    "a directory, not a symlink: {} is a symlink",
                    d.host.display()
                )));
            }
            let canon = d.host.canonicalize().map_err(|e| {
                refuse(format!(
                    "a granted directory: {} cannot be opened ({e})",
                    d.host.display()
                ))
            })?;
            if !canon.is_dir() {
                return Err(refuse(format!(
                    "a directory: {} is not one",
                    canon.display()
                )));
            }
            if let Some(p) = protected.iter().find(|p| overlaps(&canon, p)) {
                return Err(refuse(format!(
                    "allowed: {} overlaps kiln's own {}",
                    canon.display(),
                    p.display()
                )));
            }
            if !self.effects.contains(&Effect::FsRead) {
                return Err(refuse(format!(
                    "granted: reading {} needs :fs/read",
                    canon.display()
                )));
            }
            if d.write && !self.effects.contains(&Effect::FsWrite) {
                return Err(refuse(format!(
                    "granted: writing {} needs :fs/write",
                    canon.display()
                )));
            }
            if !d.guest.starts_with('/') || d.guest.contains("..") {
                return Err(refuse(format!(
                    "valid: guest path {:?} must be absolute without ..",
                    d.guest
                )));
            }
            d.host = canon;
        }
        if !self.env.is_empty() && !self.effects.contains(&Effect::Env) {
            return Err(refuse("granted: environment variables need :env".into()));
        }
        Ok(self)
    }
}

fn absolute(p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|d| d.join(p))
            .unwrap_or_else(|_| p.to_path_buf())
    }
}
