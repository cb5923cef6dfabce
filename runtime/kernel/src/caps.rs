//! Installing and calling sandboxed capabilities from the CLI (`kiln cap install`, `kiln cap
//! list`, `kiln call`). Until the governance kernel (issue #5) mediates every call, a
//! human-installed capability gets exactly the effects and grants its manifest declares.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use kiln_sandbox::{
    ArtifactIndex, Capability, CodeCache, DirGrant, Effect, Grants, Limits, Sandbox, SandboxConfig,
    SandboxError,
};
use kiln_store::{Hash, ObjectStore, Registry, SqliteRegistry};

use crate::dispatch::{Budget, Governed};
use crate::governance::{Action, ActionKind, Who};
use crate::kernel::{GovError, Kernel};
use rtfs::Value;

/// A CLI-level failure: a message for the user.
#[derive(Debug)]
pub struct Failure(pub String);

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<kiln_store::StoreError> for Failure {
    fn from(e: kiln_store::StoreError) -> Failure {
        Failure(e.to_string())
    }
}

impl From<SandboxError> for Failure {
    fn from(e: SandboxError) -> Failure {
        match &e {
            // The capability's own error data (e.g. the :reason of a refused kiln.call).
            SandboxError::Guest { data, .. } if data != "nil" => {
                Failure(format!("{e}\n  data: {data}"))
            }
            _ => Failure(e.to_string()),
        }
    }
}

/// The compiled-code index kept in `kiln.db`.
struct DbIndex(Arc<SqliteRegistry>);

impl ArtifactIndex for DbIndex {
    fn get(&self, key: &str) -> Option<[u8; 32]> {
        self.0.artifact_sha(key).ok().flatten().map(|h| h.0)
    }
    fn put(&self, key: &str, sha: [u8; 32]) -> std::io::Result<()> {
        self.0
            .set_artifact_sha(key, Hash(sha))
            .map_err(|e| std::io::Error::other(e.to_string()))
    }
}

/// A loaded version: the checked module and the encoded manifest.
type Loaded = (Arc<Capability>, Arc<Vec<u8>>);

/// A home with a sandbox and its code cache.
pub struct Runtime {
    kernel: Kernel,
    sandbox: Sandbox,
    cache: CodeCache,
    /// Versions loaded in this process, by version hash: the checked module and the manifest
    /// (encoded). A version is immutable, so this never goes stale.
    loaded: std::sync::Mutex<std::collections::HashMap<Hash, Loaded>>,
}

impl Runtime {
    /// Opens the home (creating it) and the sandbox.
    pub fn open(home: &Path) -> Result<Runtime, Failure> {
        Runtime::open_with_trust(home, None)
    }

    /// Opens the home for a run whose trust level may only be lower than the constitution's.
    pub fn open_with_trust(home: &Path, trust: Option<u8>) -> Result<Runtime, Failure> {
        let kernel = Kernel::open(home, trust)?;
        let sandbox = Sandbox::new(SandboxConfig::default())?;
        let home = &kernel.home;
        let cache = CodeCache::new(home.cache_dir(), Arc::new(DbIndex(home.registry.clone())))
            .map_err(|e| Failure(format!("{}: {e}", home.cache_dir().display())))?;
        Ok(Runtime {
            kernel,
            sandbox,
            cache,
            loaded: Default::default(),
        })
    }

    /// The installed capability `spec` (`ID` or `ID@PREFIX`), loaded into the sandbox, with
    /// its manifest.
    pub fn load(&self, spec: &str) -> Result<(Arc<Capability>, Value), Failure> {
        load(self, spec)
    }

    /// The governance kernel.
    pub fn kernel(&self) -> &Kernel {
        &self.kernel
    }

    /// The sandbox.
    pub fn sandbox(&self) -> &Sandbox {
        &self.sandbox
    }

    /// The paths a grant may never overlap: the home (database, objects, cache) and the
    /// constitution directory.
    fn protected(&self) -> Vec<PathBuf> {
        vec![
            self.kernel.home.root().to_path_buf(),
            PathBuf::from("constitution"),
        ]
    }
}

fn kw_list(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_seq)
        .map(|s| {
            s.items()
                .iter()
                .filter_map(|x| match x {
                    Value::Keyword(k) | Value::Symbol(k) => Some(k.as_str().to_string()),
                    Value::Str(s) => Some(s.to_string()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default()
}

pub(crate) fn effects_of(manifest: &Value) -> Result<BTreeSet<Effect>, Failure> {
    let mut out = BTreeSet::new();
    for e in kw_list(manifest.get_key("effects")) {
        let eff = Effect::parse(&e).ok_or_else(|| {
            Failure(format!(
                "unknown effect :{e} (the vocabulary: :pure :log :call :fs/read :fs/write :env :clock :random :llm :net :self-modify)"
            ))
        })?;
        if eff != Effect::Pure {
            out.insert(eff);
        }
    }
    Ok(out)
}

/// `:grants {:dirs [{:path "…" :as "/data" :write false}] :env ["NAME"]}` of a manifest.
fn grants_of(manifest: &Value, effects: &BTreeSet<Effect>) -> Result<Grants, Failure> {
    let g = manifest.get_key("grants").cloned().unwrap_or(Value::Nil);
    let mut dirs = Vec::new();
    if let Some(list) = g.get_key("dirs").and_then(Value::as_seq) {
        for d in list.items().iter() {
            let path = d
                .get_key("path")
                .and_then(Value::as_str)
                .ok_or_else(|| Failure("each :grants :dirs entry needs a :path string".into()))?;
            let guest = d.get_key("as").and_then(Value::as_str).unwrap_or("/data");
            dirs.push(DirGrant {
                host: PathBuf::from(path),
                guest: guest.to_string(),
                write: d.get_key("write").is_some_and(Value::truthy),
            });
        }
    }
    let mut env = Vec::new();
    for name in kw_list(g.get_key("env")) {
        // Values are read when the capability is installed and never logged.
        if let Ok(v) = std::env::var(&name) {
            env.push((name, v));
        }
    }
    Ok(Grants {
        effects: effects.clone(),
        dirs,
        env,
    })
}

/// Reads a manifest file: an RTFS program whose last `(capability …)` form describes the
/// module (no `:implementation`; kiln extension key `:grants`).
fn read_manifest(path: &Path) -> Result<Value, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure(format!("cannot read {}: {e}", path.display())))?;
    let mut it = rtfs::Interpreter::default();
    let name = path.display().to_string();
    let mut host = rtfs::vm::DescriptorHost::default();
    it.compile(&text, Some(&name))
        .and_then(|p| it.run(&p, &mut host))
        .map_err(|e| Failure(crate::report::render_error(&e, Some((&name, &text)))))?;
    host.descriptors
        .pop()
        .ok_or_else(|| Failure(format!("{name} has no (capability …) form")))
}

fn entry(k: &str, v: Value) -> (Value, Value) {
    (Value::keyword(k), v)
}

/// `kiln cap install FILE.wasm --id ID [--manifest FILE.rtfs]`: checks, stores and activates
/// a version; returns its hash.
pub fn install(
    rt: &Runtime,
    wasm: &Path,
    id: &str,
    manifest: Option<&Path>,
) -> Result<Hash, GovError> {
    let (m, effects) = install_manifest(rt, wasm, id, manifest)?;
    let done = rt.kernel.register_as_human(&m, &effects)?;
    tracing::info!(id, version = %done.hash, entry = done.entry, "installed");
    Ok(done.hash)
}

/// Checks and stores the module; returns the manifest to register and its effects.
fn install_manifest(
    rt: &Runtime,
    wasm: &Path,
    id: &str,
    manifest: Option<&Path>,
) -> Result<(Value, Vec<Effect>), Failure> {
    kiln_store::registry::check_id(id)?;
    let bytes =
        std::fs::read(wasm).map_err(|e| Failure(format!("cannot read {}: {e}", wasm.display())))?;
    let desc = match manifest {
        Some(p) => read_manifest(p)?,
        None => Value::map(vec![entry("id", Value::str(id))]),
    };
    if let Some(other) = desc.get_key("id").and_then(Value::as_str)
        && other != id
    {
        return Err(Failure(format!(
            "the manifest describes {other:?}, not {id:?}"
        )));
    }
    let effects = effects_of(&desc)?;
    let grants = grants_of(&desc, &effects)?.checked(&rt.protected())?;
    // Checks (sizes, ABI, imports ⊆ effects ⊆ grants) and compiles into the cache.
    rt.sandbox
        .load_cached(&bytes, &effects, &grants, &rt.cache)?;
    let module = rt.kernel.home.objects.put(&bytes)?;
    let field = |k: &str, default: Value| desc.get_key(k).cloned().unwrap_or(default);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let dirs: Vec<Value> = grants
        .dirs
        .iter()
        .map(|d| {
            Value::map(vec![
                entry("path", Value::str(&d.host.display().to_string())),
                entry("as", Value::str(&d.guest)),
                entry("write", Value::Bool(d.write)),
            ])
        })
        .collect();
    let env: Vec<Value> = grants.env.iter().map(|(k, _)| Value::str(k)).collect();
    let effects_v = if effects.is_empty() {
        vec![Value::keyword("pure")]
    } else {
        effects.iter().map(|e| Value::keyword(e.as_str())).collect()
    };
    let m = Value::map(vec![
        entry("id", Value::str(id)),
        entry("kind", Value::keyword("wasm")),
        entry("module", Value::str(&module.hex())),
        entry("name", field("name", Value::str(id))),
        entry("description", field("description", Value::str(""))),
        entry("version", field("version", Value::str("1.0.0"))),
        entry("input-schema", field("input-schema", Value::keyword("any"))),
        entry(
            "output-schema",
            field("output-schema", Value::keyword("any")),
        ),
        entry("examples", field("examples", Value::vector(vec![]))),
        entry("effects", Value::vector(effects_v)),
        entry(
            "grants",
            Value::map(vec![
                entry("dirs", Value::vector(dirs)),
                entry("env", Value::vector(env)),
            ]),
        ),
        entry(
            "provenance",
            Value::map(vec![
                entry("principal", Value::keyword("human")),
                entry("created-by", Value::str("kiln cap install")),
                entry("time", Value::Int(now)),
            ]),
        ),
    ]);
    Ok((m, effects.iter().copied().collect()))
}

/// `kiln cap list`: one line per active capability.
pub fn list(rt: &Runtime) -> Result<Vec<String>, Failure> {
    let mut out = Vec::new();
    for r in rt.kernel.home.registry.list()? {
        let m = rt.kernel.home.registry.manifest(&r.hash)?;
        let effects = rtfs::print::print(m.get_key("effects").unwrap_or(&Value::Nil));
        out.push(format!(
            "{:<32} {}  v{}  {:<5} {}",
            r.id,
            &r.hash.hex()[..12],
            r.seq,
            r.kind,
            effects
        ));
    }
    Ok(out)
}

pub(crate) fn schema_check(m: &Value, key: &str, v: &Value, what: &str) -> Result<(), Failure> {
    let s = match m.get_key(key) {
        // No schema, or `:any`: everything passes.
        None => return Ok(()),
        Some(Value::Keyword(k)) if k.as_str() == "any" => return Ok(()),
        Some(s) => s.clone(),
    };
    let schema = rtfs::schema::parse(&s, true)
        .map_err(|e| Failure(format!("the manifest's {key} is ill-formed: {e}")))?;
    if !rtfs::schema::valid(&schema, v) {
        return Err(Failure(format!(
            "{what} {} does not satisfy {}",
            rtfs::print::print(v),
            rtfs::print::print(&s)
        )));
    }
    Ok(())
}

fn load(rt: &Runtime, spec: &str) -> Result<(Arc<Capability>, Value), Failure> {
    let version = rt.kernel.home.registry.resolve(spec)?;
    load_version(rt, &version)
}

/// The version whose hash is `hash`, from this process's cache.
pub(crate) fn cached_version(rt: &Runtime, hash: &Hash) -> Option<(Arc<Capability>, Value)> {
    let (cap, bytes) = rt.loaded.lock().ok()?.get(hash).cloned()?;
    let manifest = rtfs::encoding::decode(&bytes, Default::default()).ok()?;
    Some((cap, manifest))
}

/// Loads a resolved version (its module checked against its effects and grants) and keeps it
/// for the rest of the process.
pub(crate) fn load_version(
    rt: &Runtime,
    version: &kiln_store::Version,
) -> Result<(Arc<Capability>, Value), Failure> {
    if let Some(hit) = cached_version(rt, &version.row.hash) {
        return Ok(hit);
    }
    if version.row.kind == "native" {
        return Err(Failure(format!(
            "{} is native: kiln runs it itself, not in the sandbox",
            version.row.id
        )));
    }
    let bytes = rt.kernel.home.objects.get(&version.row.module)?;
    let mut effects = effects_of(&version.manifest)?;
    if version.row.kind == "rtfs" {
        // The engine imports `kiln.call` for the program's calls, each decided on its own.
        effects.insert(Effect::Call);
    }
    let mut grants = grants_of(&version.manifest, &effects)?;
    // What the constitution grants this id, on top of what the human's manifest asked for.
    if let Some(g) = rt.kernel.constitution.grants.get(&version.row.id) {
        for d in &g.dirs {
            grants.dirs.push(DirGrant {
                host: PathBuf::from(&d.path),
                guest: d.guest.clone(),
                write: d.write,
            });
        }
        for name in &g.env {
            if let Ok(v) = std::env::var(name) {
                grants.env.push((name.clone(), v));
            }
        }
    }
    let grants = grants.checked(&rt.protected())?;
    let cap = rt
        .sandbox
        .load_cached(&bytes, &effects, &grants, &rt.cache)?
        .capability;
    if let (Ok(encoded), Ok(mut loaded)) =
        (rtfs::encoding::encode(&version.manifest), rt.loaded.lock())
    {
        loaded.insert(version.row.hash, (cap.clone(), Arc::new(encoded)));
    }
    Ok((cap, version.manifest.clone()))
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

/// The constitution's byte quotas on `id`'s writable directories: `Err` names the first one
/// that is used up. Checked before a call (refused when full) and after it (the call fails
/// when it went past); a single call may overshoot by what it writes before it returns.
pub(crate) fn check_byte_quotas(rt: &Runtime, id: &str, after: bool) -> Result<(), String> {
    let Some(g) = rt.kernel.constitution.grants.get(id) else {
        return Ok(());
    };
    for d in &g.dirs {
        if let Some(max) = d.quota_bytes {
            let used = usage(Path::new(&d.path)).map_err(|e| format!("{}: {e}", d.path))?;
            if (after && used > max) || (!after && used >= max) {
                return Err(format!(
                    "quota :quota-bytes = {max} of {} ({}) {}: {used} bytes",
                    d.guest,
                    d.path,
                    if after {
                        "exceeded by this call"
                    } else {
                        "is used up"
                    }
                ));
            }
        }
    }
    Ok(())
}

/// What `kiln call` produced.
pub struct Called {
    /// The result.
    pub value: Value,
    /// Fuel used.
    pub fuel: u64,
    /// Lines the capability logged.
    pub logs: Vec<kiln_sandbox::LogLine>,
}

/// `kiln call ID [ARG]`: runs the active (or pinned `ID@prefix`) version on ARG, decided and
/// recorded like any call; the capability's own `kiln.call`s go through the same dispatcher.
pub fn call(rt: Arc<Runtime>, spec: &str, arg: &Value, limits: Limits) -> Result<Called, GovError> {
    let span = tracing::info_span!("call", id = spec);
    let _entered = span.enter();
    if !arg.is_data() {
        return Err(Failure("the argument must be a data value".into()).into());
    }
    let (cap, manifest) = load(&rt, spec)?;
    let effects: Vec<Effect> = effects_of(&manifest)?.into_iter().collect();
    let id = spec.split('@').next().unwrap_or(spec);
    rt.kernel.decide(&Action {
        kind: ActionKind::Call,
        capability: Some(id),
        effects: &effects,
        who: Who::Human,
    })?;
    schema_check(&manifest, "input-schema", arg, "input")?;
    check_byte_quotas(&rt, id, false).map_err(Failure)?;
    let input =
        crate::dispatch::engine_input(&rt, id, &manifest, arg).map_err(|f| Failure(f.message))?;
    let gov = Governed::new(
        rt.clone(),
        None,
        Arc::new(Budget::new(limits.fuel, limits.timeout)),
    );
    let started = std::time::Instant::now();
    let out = rt.sandbox.call(&cap, &input, limits, gov.dispatcher());
    gov.flush()?;
    let checked = match &out {
        Ok(o) => schema_check(&manifest, "output-schema", &o.value, "output")
            .and_then(|()| check_byte_quotas(&rt, id, true).map_err(Failure)),
        Err(_) => Ok(()),
    };
    let home = &rt.kernel.home;
    rt.kernel.append_records(vec![kiln_store::Record {
        input: home.record_value(arg).ok(),
        output: out
            .as_ref()
            .ok()
            .and_then(|o| home.record_value(&o.value).ok()),
        outcome: if out.is_ok() && checked.is_ok() {
            "ok"
        } else {
            "error"
        }
        .into(),
        cost: kiln_store::Cost {
            fuel: out.as_ref().map_or(0, |o| o.fuel_used),
            ms: started.elapsed().as_millis() as u64,
            ..Default::default()
        },
        ..kiln_store::Record::ok(
            "call",
            Value::map(vec![(Value::keyword("capability"), Value::str(id))]),
        )
    }])?;
    let out = out?;
    checked?;
    Ok(Called {
        value: out.value,
        fuel: out.fuel_used,
        logs: out.logs,
    })
}

/// Limits from the command line (defaults where absent).
pub fn limits(fuel: Option<u64>, memory: Option<u64>, timeout_ms: Option<u64>) -> Limits {
    let d = Limits::default();
    Limits {
        fuel: fuel.unwrap_or(d.fuel),
        memory_bytes: memory.unwrap_or(d.memory_bytes),
        timeout: timeout_ms.map_or(d.timeout, Duration::from_millis),
        deterministic: false,
    }
}
