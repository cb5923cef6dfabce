//! Installing WebAssembly capabilities: the human's `kiln cap install`, and kiln's own shipped
//! RTFS engine, which the binary carries so that a new home runs RTFS capabilities with no
//! manual step. Each module passes the sandbox's install checks (sizes, ABI, imports ⊆
//! effects ⊆ grants) and is compiled into the code cache before its version is registered.

use std::path::Path;

use kiln_sandbox::{Effect, Grants};
use kiln_store::{Hash, ObjectStore, Registry};
use rtfs::Value;

use crate::diagnostic::Diagnostic;
use crate::error::{KernelError, Result, SourceError};
use crate::loader::protected;
use crate::manifest::{self, Installed};
use crate::runtime::Runtime;

/// The installed capability id of the RTFS engine that `:rtfs` versions pin.
pub const ENGINE_ID: &str = "rtfs.engine";

/// The RTFS engine guest this kiln was built with (`capabilities/rtfs-engine`).
pub const ENGINE_WASM: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/rtfs_engine.wasm"));

/// How long evaluating a manifest may take: 10 s, beside the default step and memory limits.
pub const MANIFEST_TIME_MS: u64 = 10_000;

/// Reads a manifest file: an RTFS program whose last `(capability …)` form describes the
/// module (no `:implementation`; kiln extension key `:grants`), evaluated under the default
/// limits and [`MANIFEST_TIME_MS`].
pub fn read_manifest(path: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| KernelError::invalid(format!("cannot read {}: {e}", path.display())))?;
    let name = path.display().to_string();
    let mut it = rtfs::Interpreter::default();
    let start = std::time::Instant::now();
    let mut host = rtfs::host::TimeLimit::new(
        rtfs::host::DescriptorHost::default(),
        MANIFEST_TIME_MS,
        move || start.elapsed() >= std::time::Duration::from_millis(MANIFEST_TIME_MS),
    );
    if let Err(e) = it
        .compile(&text, Some(&name))
        .and_then(|p| it.run(&p, &mut host))
    {
        return Err(KernelError::Source(Box::new(SourceError {
            diagnostic: Diagnostic::of(&e),
            file: name,
            text,
        })));
    }
    host.host
        .descriptors
        .pop()
        .ok_or_else(|| KernelError::invalid(format!("{name} has no (capability …) form")))
}

/// `kiln cap install FILE.wasm --id ID [--manifest FILE.rtfs]`: checks, stores and activates
/// a version; returns its hash.
pub fn install(rt: &Runtime, wasm: &Path, id: &str, manifest: Option<&Path>) -> Result<Hash> {
    kiln_store::registry::check_id(id)?;
    let bytes = std::fs::read(wasm)
        .map_err(|e| KernelError::invalid(format!("cannot read {}: {e}", wasm.display())))?;
    let descriptor = match manifest {
        Some(p) => read_manifest(p)?,
        None => Value::map(vec![(Value::keyword("id"), Value::str(id))]),
    };
    if let Some(other) = descriptor.get_key("id").and_then(Value::as_str)
        && other != id
    {
        return Err(KernelError::invalid(format!(
            "the manifest describes {other:?}, not {id:?}"
        )));
    }
    install_module(rt, &bytes, id, &descriptor, "kiln cap install")
}

/// Checks `bytes` against the descriptor's effects and grants, stores the module, and
/// registers and activates the version as the human's.
fn install_module(
    rt: &Runtime,
    bytes: &[u8],
    id: &str,
    descriptor: &Value,
    created_by: &str,
) -> Result<Hash> {
    let effects = manifest::effects_of(descriptor)?;
    let requested = manifest::grants_of(descriptor)?;
    // Values are read now, to check the grant, and never logged; only names are stored.
    let env = requested
        .env
        .iter()
        .filter_map(|name| std::env::var(name).ok().map(|v| (name.clone(), v)))
        .collect();
    let grants = Grants {
        effects: effects.iter().copied().collect(),
        dirs: requested.dirs,
        env,
    }
    .checked(&protected(rt.kernel()))?;
    if !grants.dirs.is_empty() {
        crate::loader::no_shared_roots(rt.kernel(), id, &grants.dirs)?;
    }
    rt.sandbox().load_cached(
        bytes,
        &effects.iter().copied().collect(),
        &grants,
        rt.code_cache(),
    )?;
    let module = rt.kernel().home().objects.put(bytes)?;
    let names: Vec<String> = grants.env.iter().map(|(k, _)| k.clone()).collect();
    let m = manifest::installed(&Installed {
        id,
        module,
        descriptor,
        effects: &effects,
        dirs: &grants.dirs,
        env: &names,
        created_by,
    });
    let done = rt.kernel().register_as_human(&m)?;
    tracing::info!(id, version = %done.hash, entry = done.entry, "installed");
    Ok(done.hash)
}

/// The active RTFS engine; on a home that has none (no version at all — a human's own
/// install, even rolled back, is left alone), kiln installs the one it ships first, as its
/// own decision on the chain, the way it registers its natives.
pub fn engine(rt: &Runtime) -> Result<kiln_store::Version> {
    let registry = &rt.kernel().home().registry;
    if registry.history(ENGINE_ID)?.is_empty() {
        install_engine(rt)?;
    }
    Ok(registry.resolve(ENGINE_ID)?)
}

fn install_engine(rt: &Runtime) -> Result<Hash> {
    let descriptor = Value::map(vec![
        (Value::keyword("id"), Value::str(ENGINE_ID)),
        (
            Value::keyword("description"),
            Value::str(
                "RTFS capability programs, evaluated inside the sandbox (shipped with kiln)",
            ),
        ),
        (
            Value::keyword("effects"),
            Value::vector(vec![Value::keyword(Effect::Call.as_str())]),
        ),
    ]);
    install_module(rt, ENGINE_WASM, ENGINE_ID, &descriptor, "kiln (shipped)")
}
