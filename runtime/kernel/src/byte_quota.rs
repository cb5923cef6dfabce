//! The constitution's byte quotas on a capability's writable directories
//! (`:grants {ID {:dirs [{… :write true :quota-bytes N}]}}`): checked before a call (refused
//! when full) and after it (the call fails when it went past); a single call may overshoot by
//! what it writes before it returns.

use std::path::Path;

use crate::policy::Policy;

/// When the check is made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum When {
    /// Before the call: refused when a quota is used up.
    Before,
    /// After the call: failed when the call went past a quota.
    After,
}

/// `Err` names the first of `id`'s quotas that is used up (or exceeded, after the call).
pub fn check(policy: &Policy, id: &str, when: When) -> Result<(), String> {
    let Some(g) = policy.constitution.grants.get(id) else {
        return Ok(());
    };
    for d in &g.dirs {
        let Some(max) = d.quota_bytes else { continue };
        let used = usage(Path::new(&d.path)).map_err(|e| format!("{}: {e}", d.path))?;
        let over = match when {
            When::Before => used >= max,
            When::After => used > max,
        };
        if over {
            return Err(format!(
                "quota :quota-bytes = {max} of {} ({}) {}: {used} bytes",
                d.guest,
                d.path,
                match when {
                    When::After => "exceeded by this call",
                    When::Before => "is used up",
                }
            ));
        }
    }
    Ok(())
}

/// Bytes held under `dir` (files, recursively, through a cap-std handle; at most 100 000
/// entries are counted).
fn usage(dir: &Path) -> std::io::Result<u64> {
    fn walk(d: &cap_std::fs::Dir, total: &mut u64, seen: &mut u32) -> std::io::Result<()> {
        for e in d.entries()? {
            let e = e?;
            *seen += 1;
            if *seen > 100_000 {
                return Ok(());
            }
            let t = e.file_type()?;
            if t.is_dir() {
                walk(&e.open_dir()?, total, seen)?;
            } else if t.is_file() {
                *total += e.metadata()?.len();
            }
        }
        Ok(())
    }
    let d = cap_std::fs::Dir::open_ambient_dir(dir, cap_std::ambient_authority())?;
    let (mut total, mut seen) = (0, 0);
    walk(&d, &mut total, &mut seen)?;
    Ok(total)
}
