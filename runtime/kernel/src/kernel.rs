//! The human's commands on a governed home — install, rollback, approvals, a new
//! constitution, plan undo, gc — and the registration of kiln's own native versions. Each goes
//! through the gate: decided and recorded first, then the change on the permit.

use std::path::{Path, PathBuf};
use std::time::Duration;

use kiln_sandbox::Effect;
use kiln_store::{GcReport, Hash, Home, Moved, ObjectStore, Registered, Registry};
use rtfs::Value;

use crate::error::{KernelError, Result};
use crate::gate::{Gate, MIN_GC_GRACE};
use crate::governance::ActionKind;
use crate::governance::constitution::Constitution;
use crate::manifest::Manifest;
use crate::policy::Policy;

/// A native capability as this build of kiln ships it, for registration.
pub struct NativeRelease {
    /// Its id.
    pub id: &'static str,
    /// The text naming its implementation (kiln's package version).
    pub implementation: String,
    /// Its manifest.
    pub manifest: Value,
    /// Its own effects.
    pub effects: &'static [Effect],
}

/// What a rollback did.
pub enum Rollback {
    /// The pointer moved (or was already there).
    Moved(Moved),
    /// The rolled-back version was the first active one: none is active now.
    Deactivated(kiln_store::Deactivated),
}

/// An open, governed home.
pub struct Kernel {
    gate: Gate,
}

/// The action kind of making `id` with `effects` active.
pub fn modify_kind(id: &str, effects: &[Effect]) -> ActionKind {
    if id.starts_with("generated/") && effects.is_empty() {
        ActionKind::ModifyPure
    } else {
        ActionKind::ModifyEffectful
    }
}

impl Kernel {
    /// Opens the home at `dir` (creating it) with its configuration and constitution; `trust`
    /// may only lower the level. A broken configuration stops here.
    pub fn open(dir: &Path, trust: Option<u8>) -> Result<Kernel> {
        Ok(Kernel {
            gate: Gate::open(dir, trust)?,
        })
    }

    /// The gate.
    pub fn gate(&self) -> &Gate {
        &self.gate
    }

    /// The home, to read.
    pub fn home(&self) -> &Home {
        self.gate.home()
    }

    /// The policy in force.
    pub fn policy(&self) -> &Policy {
        self.gate.policy()
    }

    /// `kiln plans undo RUN`: reverts that run's registry moves as new recorded moves.
    pub fn undo_plan_as_human(&self, run: i64) -> Result<Vec<String>> {
        if kiln_store::plans::get(&self.home().db, run)?.is_none() {
            return Err(KernelError::invalid(format!(
                "there is no plan run {run} (see `kiln plans list`)"
            )));
        }
        let permit = self
            .gate
            .authorize_human(ActionKind::ModifyEffectful, None, &[])?;
        self.gate.undo_plan(&permit, run)
    }

    /// `kiln approvals approve N` / `reject N`.
    pub fn decide_approval_as_human(
        &self,
        n: i64,
        approve: bool,
        note: Option<&str>,
    ) -> Result<String> {
        let permit = self.gate.authorize_human(ActionKind::Approve, None, &[])?;
        self.gate.decide_approval(&permit, n, approve, note)
    }

    /// `kiln constitution propose FILE`: validates the new constitution (errors name the
    /// file, line, column and key), stores it and files an approval request; approving it
    /// makes it active. Returns its hash and the request's number.
    pub fn propose_constitution_as_human(&self, text: &str, file: &str) -> Result<(Hash, i64)> {
        let proposed =
            Constitution::parse(text, file).map_err(|e| KernelError::invalid(e.to_string()))?;
        // No grant may reach kiln's own home (the database, the objects, the constitution's
        // versions): refused before anything is filed, whoever would approve it.
        let root = self.home().root();
        let home = &root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
        for (id, g) in &proposed.grants {
            for d in &g.dirs {
                if kiln_sandbox::grants::overlaps(&lexical(&d.path), home) {
                    return Err(KernelError::invalid(format!(
                        "{file}: :grants {id:?} {:?} overlaps kiln's home {}: no capability may reach the store through the file system",
                        d.path,
                        home.display()
                    )));
                }
            }
        }
        let permit = self
            .gate
            .authorize_human(ActionKind::ChangeConstitution, None, &[])?;
        self.gate.propose_constitution(
            &permit,
            text,
            format!(
                "a new constitution (trust level {} → {})",
                self.policy().constitution.trust_level,
                proposed.trust_level
            ),
        )
    }

    /// `kiln cap install`: the human registers and activates a version.
    pub fn register_as_human(&self, manifest: &Value) -> Result<Registered> {
        let m = Manifest::parse(manifest)?;
        kiln_store::registry::check_mutable(&m.id)?;
        let permit =
            self.gate
                .authorize_human(modify_kind(&m.id, &m.effects), Some(&m.id), &m.effects)?;
        self.gate.register_active(&permit, manifest)
    }

    /// `kiln cap rollback`: the human moves an active pointer back — to the version active
    /// before, or `to` one; rolling back the first activation leaves no version active.
    pub fn rollback_as_human(&self, id: &str, to: Option<&str>) -> Result<Rollback> {
        // Natives are immutable for everyone: refused before anything is decided.
        kiln_store::registry::check_mutable(id)?;
        let effects = match self.home().registry.resolve(id) {
            Ok(v) => Manifest::parse(&v.manifest)?.effects,
            Err(_) => Vec::new(),
        };
        let permit = self
            .gate
            .authorize_human(modify_kind(id, &effects), Some(id), &effects)?;
        match self.gate.rollback(&permit, id, to) {
            Ok(m) => Ok(Rollback::Moved(m)),
            // Nothing was active before the first activation: back to that.
            Err(KernelError::Store(kiln_store::StoreError::NotFound(_)))
                if to.is_none() && self.home().registry.resolve(id).is_ok() =>
            {
                Ok(Rollback::Deactivated(self.gate.deactivate(&permit, id)?))
            }
            Err(e) => Err(e),
        }
    }

    /// `kiln gc`: the human removes unreferenced objects; returns the report and the grace
    /// period used.
    pub fn gc_as_human(&self, grace: Duration) -> Result<(GcReport, Duration)> {
        // Other kiln processes write an object (a plan's source, a call's input, a proposal)
        // just before the row that names it; a grace period longer than any such write
        // (including its wait for the write lock) keeps gc from removing it in between.
        let grace = grace
            .max(Duration::from_millis(self.policy().config.store.busy_timeout_ms) + MIN_GC_GRACE);
        let permit = self
            .gate
            .authorize_human(ActionKind::ModifyEffectful, None, &[])?;
        Ok((self.gate.gc(&permit, grace)?, grace))
    }

    /// Registers kiln's native capabilities in the registry like any version (kind
    /// `:native`), when the active version's content differs from this build's (a new home, a
    /// new kiln): the human's decision first, then the version, both on the chain. A version
    /// refused by the constitution stays unregistered (and its calls `:unknown`). A failure
    /// here (a busy or damaged store) does not stop kiln — the commands that repair a home
    /// must still run — it leaves that native unavailable and says why in the log.
    pub fn sync_natives(&self, natives: &[NativeRelease]) {
        for native in natives {
            if let Err(e) = self.sync_native(native) {
                tracing::warn!(native = native.id, error = %e, "native capability not registered");
            }
        }
    }

    fn sync_native(&self, native: &NativeRelease) -> Result<()> {
        // The implementation's object, restored if it was lost.
        self.home().objects.put(native.implementation.as_bytes())?;
        let registry = &self.home().registry;
        let active = registry.resolve(native.id).ok();
        if let (Some(v), Some(existing)) = (
            &active,
            registry.existing_version(native.id, &native.manifest)?,
        ) && v.row.hash == existing
        {
            return Ok(());
        }
        let permit = match self.gate.authorize_human(
            modify_kind(native.id, native.effects),
            Some(native.id),
            native.effects,
        ) {
            Ok(p) => p,
            Err(KernelError::Blocked(_)) => return Ok(()),
            Err(e) => return Err(e),
        };
        self.gate.register_native(&permit, &native.manifest)?;
        Ok(())
    }
}

/// `path` as the file system resolves it (symlinks followed) when it exists, else made absolute
/// with `.` and `..` resolved by its text — for the early check of a proposed constitution's
/// grants; each grant is checked again, against the real file system, whenever it is loaded.
fn lexical(path: &str) -> PathBuf {
    use std::path::Component;
    let p = Path::new(path);
    if let Ok(c) = p.canonicalize() {
        return c;
    }
    let abs = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let mut out = PathBuf::new();
    for c in abs.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    // The longest existing ancestor, resolved, with the rest appended.
    let mut base = out.clone();
    let mut rest = Vec::new();
    while !base.exists() {
        match base.file_name() {
            Some(n) => rest.push(n.to_os_string()),
            None => break,
        }
        if !base.pop() {
            break;
        }
    }
    let mut resolved = base.canonicalize().unwrap_or(base);
    for n in rest.into_iter().rev() {
        resolved.push(n);
    }
    resolved
}
