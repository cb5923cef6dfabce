//! Loading versions: a version's module checked against its effects and grants (its
//! manifest's and the constitution's) and compiled through the code cache, once per process;
//! its manifest parsed once per thread (values are per-thread). Both caches are keyed by the
//! runtime's id — a number no other runtime in the process ever has — and the version's hash
//! (immutable, so never stale): a long-lived process that opens several homes never serves
//! one home's grants to another.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use kiln_sandbox::{Capability, CodeCache, DirGrant, Effect, Grants, Sandbox};
use kiln_store::{Hash, ObjectStore, Registry, Version};

use crate::error::{KernelError, Result};
use crate::kernel::Kernel;
use crate::manifest::{Manifest, VersionKind};

/// A loaded version: its checked module and its parsed manifest.
#[derive(Clone)]
pub struct Loaded {
    /// The version's hash.
    pub hash: Hash,
    /// The module, checked against the version's effects and grants.
    pub capability: Arc<Capability>,
    /// The manifest.
    pub manifest: Rc<Manifest>,
}

thread_local! {
    /// Manifests this thread has parsed, by (runtime, version).
    static MANIFESTS: RefCell<HashMap<(u64, Hash), Loaded>> = RefCell::default();
}

/// Runtime ids, never reused within a process.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// One runtime's loaded versions.
pub struct Loader {
    id: u64,
    /// By version hash.
    loaded: Mutex<HashMap<Hash, Shared>>,
}

/// A loaded version as threads share it: the checked module and the manifest, encoded
/// (values do not cross threads).
type Shared = (Arc<Capability>, Arc<Vec<u8>>);

/// What loading needs: the governed home, the sandbox and its code cache.
pub struct Parts<'a> {
    /// The kernel (registry, objects, the constitution's grants).
    pub kernel: &'a Kernel,
    /// The sandbox.
    pub sandbox: &'a Sandbox,
    /// The compiled-code cache.
    pub cache: &'a CodeCache,
}

impl Default for Loader {
    fn default() -> Loader {
        Loader {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            loaded: Mutex::default(),
        }
    }
}

impl Loader {
    /// This runtime's id.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The version `hash` if this process loaded it already.
    pub fn cached(&self, hash: &Hash) -> Option<Loaded> {
        if let Some(hit) = MANIFESTS.with(|m| m.borrow().get(&(self.id, *hash)).cloned()) {
            return Some(hit);
        }
        let (capability, bytes) = self.loaded.lock().ok()?.get(hash).cloned()?;
        let value = rtfs::encoding::decode(&bytes, Default::default()).ok()?;
        let manifest = Manifest::parse(&value).ok()?;
        Some(self.remember(*hash, capability, manifest))
    }

    fn remember(&self, hash: Hash, capability: Arc<Capability>, manifest: Manifest) -> Loaded {
        let loaded = Loaded {
            hash,
            capability,
            manifest: Rc::new(manifest),
        };
        MANIFESTS.with(|m| {
            let mut m = m.borrow_mut();
            if m.len() >= 1024 {
                m.clear();
            }
            m.insert((self.id, hash), loaded.clone());
        });
        loaded
    }

    /// Resolves `spec` (`ID` or `ID@PREFIX`) and loads it.
    pub fn load(&self, parts: &Parts<'_>, spec: &str) -> Result<Loaded> {
        let version = parts.kernel.home().registry.resolve(spec)?;
        self.load_version(parts, &version)
    }

    /// Loads a resolved version and keeps it for the rest of the process.
    pub fn load_version(&self, parts: &Parts<'_>, version: &Version) -> Result<Loaded> {
        if let Some(hit) = self.cached(&version.row.hash) {
            return Ok(hit);
        }
        let manifest = Manifest::parse(&version.manifest)?;
        if manifest.kind == VersionKind::Native || version.row.kind == "native" {
            return Err(KernelError::invalid(format!(
                "{} is native: kiln runs it itself, not in the sandbox",
                version.row.id
            )));
        }
        let bytes = parts.kernel.home().objects.get(&version.row.module)?;
        let mut effects: BTreeSet<Effect> = manifest.effects.iter().copied().collect();
        if version.row.kind == "rtfs" {
            // The engine imports `kiln.call` for the program's calls, each decided on its own.
            effects.insert(Effect::Call);
        }
        let grants = grants(parts.kernel, &version.row.id, &manifest, &effects)?;
        let capability = parts
            .sandbox
            .load_cached(&bytes, &effects, &grants, parts.cache)?
            .capability;
        if let (Ok(encoded), Ok(mut loaded)) = (
            rtfs::encoding::encode(&version.manifest),
            self.loaded.lock(),
        ) {
            loaded.insert(version.row.hash, (capability.clone(), Arc::new(encoded)));
        }
        Ok(self.remember(version.row.hash, capability, manifest))
    }
}

/// The paths a grant may never overlap: the home (database, objects, cache) and the
/// constitution directory.
pub fn protected(kernel: &Kernel) -> Vec<PathBuf> {
    vec![
        kernel.home().root().to_path_buf(),
        PathBuf::from("constitution"),
    ]
}

/// What `id` is granted: what its manifest asks for, and what the constitution grants it;
/// environment values read now (never logged); checked against the protected paths.
fn grants(
    kernel: &Kernel,
    id: &str,
    manifest: &Manifest,
    effects: &BTreeSet<Effect>,
) -> Result<Grants> {
    let mut dirs = manifest.grants.dirs.clone();
    let mut names = manifest.grants.env.clone();
    if let Some(g) = kernel.policy().constitution.grants.get(id) {
        dirs.extend(g.dirs.iter().map(|d| DirGrant {
            host: PathBuf::from(&d.path),
            guest: d.guest.clone(),
            write: d.write,
        }));
        names.extend(g.env.iter().cloned());
    }
    let env = names
        .into_iter()
        .filter_map(|name| std::env::var(&name).ok().map(|v| (name, v)))
        .collect();
    let grants = Grants {
        effects: effects.clone(),
        dirs,
        env,
    }
    .checked(&protected(kernel))?;
    if !grants.dirs.is_empty() {
        no_shared_roots(kernel, id, &grants.dirs)?;
    }
    Ok(grants)
}

/// Refuses grants where one capability could swap another's root: a writable grant that
/// contains a directory granted to another capability, or a directory inside another
/// capability's writable grant (by the constitution or an active version's manifest).
pub fn no_shared_roots(kernel: &Kernel, id: &str, mine: &[DirGrant]) -> Result<()> {
    let mut others: Vec<(String, DirGrant)> = Vec::new();
    for (other, g) in &kernel.policy().constitution.grants {
        for d in &g.dirs {
            others.push((
                other.clone(),
                DirGrant {
                    host: PathBuf::from(&d.path),
                    guest: d.guest.clone(),
                    write: d.write,
                },
            ));
        }
    }
    let registry = &kernel.home().registry;
    for row in registry.list()? {
        if row.id == id || row.kind == "native" {
            continue;
        }
        let manifest = Manifest::parse(&registry.manifest(&row.hash)?)?;
        others.extend(
            manifest
                .grants
                .dirs
                .into_iter()
                .map(|d| (row.id.clone(), d)),
        );
    }
    for (other, o) in others.into_iter().filter(|(o, _)| o != id) {
        let Ok(theirs) = o.host.canonicalize() else {
            continue;
        };
        for d in mine {
            // A guest cannot rename its own root, only what is inside it: a directory granted
            // to both is no risk; one strictly inside another's writable grant is.
            if theirs == d.host {
                continue;
            }
            let (outer, inner, writer) = if d.write && theirs.starts_with(&d.host) {
                (&d.host, &theirs, id)
            } else if o.write && d.host.starts_with(&theirs) {
                (&theirs, &d.host, other.as_str())
            } else {
                continue;
            };
            return Err(KernelError::invalid(format!(
                "{id}: the grant of {} is refused: {writer} may write {} and so could replace {} (granted to {}) with a link elsewhere; grant separate directories",
                d.host.display(),
                outer.display(),
                inner.display(),
                if writer == id { other.as_str() } else { id }
            )));
        }
    }
    Ok(())
}
