//! Granted directories, opened once when a capability is loaded — the last component without
//! following a symlink, and the handle's real path checked against the one the grant check
//! approved — and preopened for every call through that handle, never by the path again. So a
//! directory swapped for a symlink after the check (by another guest with write access to its
//! parent, or by another process) changes nothing for a loaded capability, and a later load
//! of the swapped path is refused.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Result, SandboxError};
use crate::grants::{DirGrant, Grants};

/// A granted directory as an open handle.
#[derive(Debug)]
pub(crate) struct OpenedDir {
    file: std::fs::File,
    /// The directory's path when it was checked and opened (for messages).
    pub(crate) host: PathBuf,
    /// Where the guest sees it.
    pub(crate) guest: String,
    /// Whether the guest may write.
    pub(crate) write: bool,
}

fn refuse(why: String) -> SandboxError {
    SandboxError::ImportNotCovered {
        import: "(grant)".into(),
        effect: "grant".into(),
        why,
    }
}

impl OpenedDir {
    /// Opens a checked grant (its `host` already canonical).
    fn open(d: &DirGrant) -> Result<OpenedDir> {
        use rustix::fs::{Mode, OFlags};
        let fd = rustix::fs::open(
            &d.host,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| {
            refuse(format!(
                "a directory that can be opened without following a symlink: {} ({e})",
                d.host.display()
            ))
        })?;
        let opened = OpenedDir {
            file: std::fs::File::from(fd),
            host: d.host.clone(),
            guest: d.guest.clone(),
            write: d.write,
        };
        // The handle must be the directory that was checked: an intermediate component
        // swapped between the check and the open would land elsewhere.
        if let Some(real) = opened.real_path()
            && real != d.host
        {
            return Err(refuse(format!(
                "unchanged since it was checked: {} now opens {}",
                d.host.display(),
                real.display()
            )));
        }
        Ok(opened)
    }

    /// The path that reaches exactly this handle: on Linux the process's own descriptor
    /// link, which names the open directory whatever happened to its path since.
    pub(crate) fn preopen_path(&self) -> PathBuf {
        match fd_link(&self.file) {
            Some(link) if link.exists() => link,
            _ => self.host.clone(),
        }
    }

    /// Where the handle's directory is now, as the kernel says (Linux).
    fn real_path(&self) -> Option<PathBuf> {
        std::fs::read_link(fd_link(&self.file)?).ok()
    }
}

#[cfg(target_os = "linux")]
fn fd_link(file: &std::fs::File) -> Option<PathBuf> {
    use std::os::fd::AsRawFd;
    Some(Path::new("/proc/self/fd").join(file.as_raw_fd().to_string()))
}

#[cfg(not(target_os = "linux"))]
fn fd_link(_: &std::fs::File) -> Option<PathBuf> {
    None
}

/// Opens every directory of checked `grants`.
pub(crate) fn open_all(grants: &Grants) -> Result<Arc<[OpenedDir]>> {
    grants.dirs.iter().map(OpenedDir::open).collect()
}
