//! A capability version's manifest, typed: parsed once per version (the dispatcher keeps it
//! by version hash) instead of re-read field by field at every use. The builders
//! ([`installed`], [`registered`], [`native`]) are the one place each kind of version's
//! manifest is written, so the same content always gives the same version hash.
//!
//! ```
//! use kiln_kernel::manifest::Manifest;
//! let v = rtfs::reader::read_expr(
//!     r#"{:id "text.words" :kind :wasm :module "00000000000000000000000000000000000000000000000000000000000000ff" :effects [:log]}"#,
//!     &Default::default(),
//! ).unwrap().to_value();
//! let m = Manifest::parse(&v).unwrap();
//! assert_eq!(m.id, "text.words");
//! assert_eq!(m.effects, vec![kiln_sandbox::Effect::Log]);
//! assert!(!m.is_pure());
//! ```

use std::collections::BTreeSet;
use std::path::PathBuf;

use kiln_sandbox::{DirGrant, Effect};
use kiln_store::Hash;
use rtfs::Value;
use rtfs::schema::Schema;

/// A manifest that does not say what a version is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ManifestError(pub String);

/// How a version runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VersionKind {
    /// A WebAssembly module, in the sandbox.
    Wasm,
    /// An RTFS program, run by the pinned rtfs-engine module in the sandbox.
    Rtfs,
    /// Host code of kiln's own (`planner.*`).
    Native,
}

impl VersionKind {
    /// The keyword the manifest and the registry use.
    pub fn as_str(self) -> &'static str {
        match self {
            VersionKind::Wasm => "wasm",
            VersionKind::Rtfs => "rtfs",
            VersionKind::Native => "native",
        }
    }
}

/// A schema as the manifest declares it: none (everything passes) or parsed once; an
/// ill-formed one is kept as its error and reported when a value is checked against it.
#[derive(Clone, Debug)]
pub enum DeclaredSchema {
    /// No schema, or `:any`.
    Any,
    /// A schema and its source form.
    Schema(Schema, Value),
    /// What is wrong with it.
    IllFormed(String),
}

/// Directories and environment variable names a manifest asks for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestedGrants {
    /// Directories (`:grants {:dirs [{:path "…" :as "/data" :write false}]}`).
    pub dirs: Vec<DirGrant>,
    /// Environment variable names (`:grants {:env ["NAME"]}`); values are read when the
    /// version is loaded and never logged.
    pub env: Vec<String>,
}

/// A parsed manifest.
#[derive(Clone, Debug)]
pub struct Manifest {
    /// The capability id.
    pub id: String,
    /// How it runs.
    pub kind: VersionKind,
    /// The module object (for `:native`, the object naming the implementation).
    pub module: Option<Hash>,
    /// For `:rtfs`: the program's source object.
    pub program: Option<Hash>,
    /// Declared effects, `:pure` left out, in the vocabulary's order.
    pub effects: Vec<Effect>,
    /// Declared input schema.
    pub input_schema: DeclaredSchema,
    /// Declared output schema.
    pub output_schema: DeclaredSchema,
    /// Requested grants.
    pub grants: RequestedGrants,
    /// The manifest as stored.
    pub value: Value,
}

fn kw(k: &str) -> Value {
    Value::keyword(k)
}

fn entry(k: &str, v: Value) -> (Value, Value) {
    (kw(k), v)
}

/// Names in a list of keywords, symbols or strings.
fn names(v: Option<&Value>) -> Vec<String> {
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

/// The effects a descriptor or manifest declares (`:pure` left out).
pub fn effects_of(v: &Value) -> Result<Vec<Effect>, ManifestError> {
    let mut out = BTreeSet::new();
    for e in names(v.get_key("effects")) {
        let eff = Effect::parse(&e).ok_or_else(|| {
            ManifestError(format!(
                "unknown effect :{e} (the vocabulary: :pure :log :call :fs/read :fs/write :env :clock :random :llm :net :self-modify)"
            ))
        })?;
        if eff != Effect::Pure {
            out.insert(eff);
        }
    }
    Ok(out.into_iter().collect())
}

/// `:effects` as a manifest writes it: `[:pure]` for none.
pub fn effects_value(effects: &[Effect]) -> Value {
    Value::vector(if effects.is_empty() {
        vec![kw("pure")]
    } else {
        effects.iter().map(|e| kw(e.as_str())).collect()
    })
}

/// `:grants {:dirs [{:path "…" :as "/data" :write false}] :env ["NAME"]}`.
pub fn grants_of(v: &Value) -> Result<RequestedGrants, ManifestError> {
    let g = v.get_key("grants").cloned().unwrap_or(Value::Nil);
    let mut dirs = Vec::new();
    if let Some(list) = g.get_key("dirs").and_then(Value::as_seq) {
        for d in list.items().iter() {
            let path = d.get_key("path").and_then(Value::as_str).ok_or_else(|| {
                ManifestError("each :grants :dirs entry needs a :path string".into())
            })?;
            dirs.push(DirGrant {
                host: PathBuf::from(path),
                guest: d
                    .get_key("as")
                    .and_then(Value::as_str)
                    .unwrap_or("/data")
                    .to_string(),
                write: d.get_key("write").is_some_and(Value::truthy),
            });
        }
    }
    Ok(RequestedGrants {
        dirs,
        env: names(g.get_key("env")),
    })
}

fn declared_schema(v: Option<&Value>) -> DeclaredSchema {
    match v {
        None => DeclaredSchema::Any,
        Some(Value::Keyword(k)) if k.as_str() == "any" => DeclaredSchema::Any,
        Some(s) => match rtfs::schema::parse(s, true) {
            Ok(schema) => DeclaredSchema::Schema(schema, s.clone()),
            Err(e) => DeclaredSchema::IllFormed(e),
        },
    }
}

fn hash_field(v: &Value, key: &str) -> Result<Option<Hash>, ManifestError> {
    match v.get_key(key) {
        None => Ok(None),
        Some(Value::Str(s)) => Hash::parse(s)
            .map(Some)
            .ok_or_else(|| ManifestError(format!("the manifest's :{key} is not a hash: {s:?}"))),
        Some(other) => Err(ManifestError(format!(
            "the manifest's :{key} is not a hash: {}",
            rtfs::print::print(other)
        ))),
    }
}

impl Manifest {
    /// Parses a stored manifest.
    pub fn parse(v: &Value) -> Result<Manifest, ManifestError> {
        let id = v
            .get_key("id")
            .and_then(Value::as_str)
            .ok_or_else(|| ManifestError("the manifest has no :id string".into()))?
            .to_string();
        let kind = match v.get_key("kind") {
            Some(Value::Keyword(k)) if k.as_str() == "wasm" => VersionKind::Wasm,
            Some(Value::Keyword(k)) if k.as_str() == "rtfs" => VersionKind::Rtfs,
            Some(Value::Keyword(k)) if k.as_str() == "native" => VersionKind::Native,
            None => VersionKind::Wasm,
            Some(other) => {
                return Err(ManifestError(format!(
                    "{id}: unknown :kind {}",
                    rtfs::print::print(other)
                )));
            }
        };
        Ok(Manifest {
            kind,
            module: hash_field(v, "module")?,
            program: hash_field(v, "program")?,
            effects: effects_of(v)?,
            input_schema: declared_schema(v.get_key("input-schema")),
            output_schema: declared_schema(v.get_key("output-schema")),
            grants: grants_of(v)?,
            value: v.clone(),
            id,
        })
    }

    /// Whether it declares no effects.
    pub fn is_pure(&self) -> bool {
        self.effects.is_empty()
    }

    /// Checks `v` against the input schema (`what` is "input" in the message).
    pub fn check_input(&self, v: &Value) -> Result<(), String> {
        check(&self.input_schema, "input-schema", v, "input")
    }

    /// Checks `v` against the output schema.
    pub fn check_output(&self, v: &Value) -> Result<(), String> {
        check(&self.output_schema, "output-schema", v, "output")
    }
}

fn check(s: &DeclaredSchema, key: &str, v: &Value, what: &str) -> Result<(), String> {
    match s {
        DeclaredSchema::Any => Ok(()),
        DeclaredSchema::IllFormed(e) => Err(format!("the manifest's {key} is ill-formed: {e}")),
        DeclaredSchema::Schema(schema, source) => {
            if rtfs::schema::valid(schema, v) {
                Ok(())
            } else {
                Err(format!(
                    "{what} {} does not satisfy {}",
                    rtfs::print::print(v),
                    rtfs::print::print(source)
                ))
            }
        }
    }
}

/// Unix seconds now (for provenance).
pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// What a human's `kiln cap install` records: the module, the descriptor's fields, the checked
/// grants (paths as resolved), provenance.
pub struct Installed<'a> {
    /// The capability id.
    pub id: &'a str,
    /// The stored module.
    pub module: Hash,
    /// The `(capability …)` descriptor of the manifest file (or `{:id ID}`).
    pub descriptor: &'a Value,
    /// Its effects.
    pub effects: &'a [Effect],
    /// The checked directory grants.
    pub dirs: &'a [DirGrant],
    /// The granted environment variable names.
    pub env: &'a [String],
    /// Who installed it (`kiln cap install`, or kiln's own shipped engine).
    pub created_by: &'a str,
}

/// The manifest of a human-installed WebAssembly version.
pub fn installed(i: &Installed<'_>) -> Value {
    let field = |k: &str, default: Value| i.descriptor.get_key(k).cloned().unwrap_or(default);
    let dirs: Vec<Value> = i
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
    Value::map(vec![
        entry("id", Value::str(i.id)),
        entry("kind", kw("wasm")),
        entry("module", Value::str(&i.module.hex())),
        entry("name", field("name", Value::str(i.id))),
        entry("description", field("description", Value::str(""))),
        entry("version", field("version", Value::str("1.0.0"))),
        entry("input-schema", field("input-schema", kw("any"))),
        entry("output-schema", field("output-schema", kw("any"))),
        entry("examples", field("examples", Value::vector(vec![]))),
        entry("effects", effects_value(i.effects)),
        entry(
            "grants",
            Value::map(vec![
                entry("dirs", Value::vector(dirs)),
                entry(
                    "env",
                    Value::vector(i.env.iter().map(|k| Value::str(k)).collect()),
                ),
            ]),
        ),
        entry(
            "provenance",
            Value::map(vec![
                entry("principal", kw("human")),
                entry("created-by", Value::str(i.created_by)),
                entry("time", Value::Int(now_secs())),
            ]),
        ),
    ])
}

/// What an agent's registration of an RTFS capability records.
pub struct Registered<'a> {
    /// The id, under `generated/`.
    pub id: &'a str,
    /// The engine module its program runs in (pinned).
    pub engine: Hash,
    /// The program's source object.
    pub program: Hash,
    /// The program's `(capability …)` descriptor.
    pub descriptor: &'a Value,
    /// Its effects.
    pub effects: &'a [Effect],
    /// The agent (`plan/N`).
    pub agent: &'a str,
    /// The native that created it.
    pub created_by: &'a str,
    /// More provenance (how a synthesizer found it).
    pub provenance: Vec<(Value, Value)>,
}

/// The manifest of an agent-made RTFS version.
pub fn registered(r: &Registered<'_>) -> Value {
    let field = |k: &str, d: Value| r.descriptor.get_key(k).cloned().unwrap_or(d);
    Value::map(vec![
        entry("id", Value::str(r.id)),
        entry("kind", kw("rtfs")),
        entry("module", Value::str(&r.engine.hex())),
        entry("engine", Value::str(&r.engine.hex())),
        entry("program", Value::str(&r.program.hex())),
        entry("input-schema", field("input-schema", kw("any"))),
        entry("output-schema", field("output-schema", kw("any"))),
        entry("examples", field("examples", Value::vector(vec![]))),
        entry("effects", effects_value(r.effects)),
        entry("provenance", {
            let mut p = vec![
                entry("principal", kw("agent")),
                entry("agent", Value::str(r.agent)),
                entry("created-by", Value::str(r.created_by)),
            ];
            p.extend(r.provenance.iter().cloned());
            Value::map(p)
        }),
    ])
}

/// The manifest of a native version: `:module` names the implementation's object.
pub fn native(
    id: &str,
    implementation: Hash,
    description: &str,
    input_schema: Value,
    effects: &[Effect],
) -> Value {
    Value::map(vec![
        entry("id", Value::str(id)),
        entry("kind", kw("native")),
        entry("module", Value::str(&implementation.hex())),
        entry("description", Value::str(description)),
        entry("input-schema", input_schema),
        entry("output-schema", kw("any")),
        entry("effects", effects_value(effects)),
    ])
}
