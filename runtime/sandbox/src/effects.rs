//! The effects vocabulary (ARCHITECTURE.md §Governance) and the install checks: a module's
//! imports must be covered by its declared effects, and its declared effects by its grants.
//! Compile bombs are refused before anything is compiled.

use std::collections::BTreeSet;
use std::fmt;

use crate::error::{Result, SandboxError};

/// One effect of the closed vocabulary.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Effect {
    /// No effects.
    Pure,
    /// Writes log lines (`kiln.log`, stdout/stderr).
    Log,
    /// Calls other capabilities (their effects are added transitively by the kernel).
    Call,
    /// Reads granted directories.
    FsRead,
    /// Writes granted directories.
    FsWrite,
    /// Reads named environment variables.
    Env,
    /// Reads a clock.
    Clock,
    /// Reads randomness.
    Random,
    /// Talks to an LLM.
    Llm,
    /// Uses the network.
    Net,
    /// Changes kiln itself.
    SelfModify,
}

impl Effect {
    /// Every effect.
    pub const ALL: [Effect; 11] = [
        Effect::Pure,
        Effect::Log,
        Effect::Call,
        Effect::FsRead,
        Effect::FsWrite,
        Effect::Env,
        Effect::Clock,
        Effect::Random,
        Effect::Llm,
        Effect::Net,
        Effect::SelfModify,
    ];

    /// The keyword text (without `:`).
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::Pure => "pure",
            Effect::Log => "log",
            Effect::Call => "call",
            Effect::FsRead => "fs/read",
            Effect::FsWrite => "fs/write",
            Effect::Env => "env",
            Effect::Clock => "clock",
            Effect::Random => "random",
            Effect::Llm => "llm",
            Effect::Net => "net",
            Effect::SelfModify => "self-modify",
        }
    }

    /// Parses the keyword text (with or without `:`).
    pub fn parse(text: &str) -> Option<Effect> {
        let t = text.strip_prefix(':').unwrap_or(text);
        Effect::ALL.into_iter().find(|e| e.as_str() == t)
    }
}

impl fmt::Display for Effect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, ":{}", self.as_str())
    }
}

/// The host module of kiln's own imports.
pub const KILN_MODULE: &str = "kiln";
/// The WASI preview 1 module.
pub const WASI_MODULE: &str = "wasi_snapshot_preview1";

/// The effect an import needs, or None when kiln provides no such import.
pub fn import_effect(module: &str, name: &str) -> Option<Effect> {
    match module {
        KILN_MODULE => match name {
            "call" => Some(Effect::Call),
            "log" => Some(Effect::Log),
            _ => None,
        },
        WASI_MODULE => Some(match name {
            "path_open"
            | "path_filestat_get"
            | "path_readlink"
            | "fd_readdir"
            | "fd_prestat_get"
            | "fd_prestat_dir_name" => Effect::FsRead,
            "path_create_directory"
            | "path_remove_directory"
            | "path_rename"
            | "path_symlink"
            | "path_unlink_file"
            | "path_link"
            | "path_filestat_set_times"
            | "fd_pwrite"
            | "fd_allocate"
            | "fd_filestat_set_size"
            | "fd_filestat_set_times"
            | "fd_sync"
            | "fd_datasync"
            | "fd_renumber" => Effect::FsWrite,
            // Descriptor operations: without `path_open` the only descriptors are stdio, whose
            // output is forwarded to the log.
            "fd_write"
            | "fd_read"
            | "fd_close"
            | "fd_seek"
            | "fd_tell"
            | "fd_fdstat_get"
            | "fd_fdstat_set_flags"
            | "fd_filestat_get"
            | "fd_advise"
            | "fd_pread" => Effect::Log,
            "environ_get" | "environ_sizes_get" => Effect::Env,
            "clock_time_get" | "clock_res_get" | "poll_oneoff" => Effect::Clock,
            "random_get" => Effect::Random,
            "args_get" | "args_sizes_get" | "proc_exit" | "proc_raise" | "sched_yield" => {
                Effect::Pure
            }
            _ if name.starts_with("sock_") => Effect::Net,
            _ => return None,
        }),
        _ => None,
    }
}

/// Bounds checked before a module is compiled (compile bombs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InstallLimits {
    /// Module size in bytes.
    pub max_module_bytes: u64,
    /// Number of functions (imported and defined).
    pub max_functions: u64,
    /// Size of one function body in bytes.
    pub max_body_bytes: u64,
    /// Locals of one function.
    pub max_locals: u64,
    /// Initial pages of the memory (64 KiB each).
    pub max_initial_pages: u64,
}

impl Default for InstallLimits {
    fn default() -> InstallLimits {
        InstallLimits {
            max_module_bytes: 64 << 20,
            max_functions: 100_000,
            max_body_bytes: 4 << 20,
            max_locals: 50_000,
            max_initial_pages: 4096,
        }
    }
}

/// What an install check learnt about a module.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ModuleFacts {
    /// `module.name` of every import.
    pub imports: Vec<(String, String)>,
    /// The effects the imports need.
    pub needed: BTreeSet<Effect>,
    /// Whether it imports WASI at all.
    pub uses_wasi: bool,
    /// Number of functions.
    pub functions: u64,
}

fn too_large(what: &str, size: u64, limit: u64) -> SandboxError {
    SandboxError::TooLarge {
        what: what.into(),
        size,
        limit,
    }
}

fn invalid(why: impl fmt::Display) -> SandboxError {
    SandboxError::InvalidModule {
        why: why.to_string(),
    }
}

/// Checks a module before compiling it: [`inspect`] then [`check_effects`] — sizes, the guest
/// ABI exports, and imports ⊆ declared effects ⊆ granted effects, naming the first import or
/// effect that is not covered.
pub fn check_module(
    bytes: &[u8],
    declared: &BTreeSet<Effect>,
    granted: &BTreeSet<Effect>,
    limits: &InstallLimits,
) -> Result<ModuleFacts> {
    let facts = inspect(bytes, limits)?;
    check_effects(&facts, declared, granted)?;
    Ok(facts)
}

/// Checks that declared effects are granted and that every import's effect is declared,
/// naming the first that is not (the part of the install check that depends on the grants;
/// cheap, so it runs on every load of an already inspected module).
pub fn check_effects(
    facts: &ModuleFacts,
    declared: &BTreeSet<Effect>,
    granted: &BTreeSet<Effect>,
) -> Result<()> {
    for e in declared {
        if *e != Effect::Pure && !granted.contains(e) {
            return Err(SandboxError::ImportNotCovered {
                import: format!("(declared effect {e})"),
                effect: e.to_string(),
                why: "granted".into(),
            });
        }
    }
    for (module, name) in &facts.imports {
        if let Some(effect) = import_effect(module, name)
            && effect != Effect::Pure
            && !declared.contains(&effect)
        {
            return Err(SandboxError::ImportNotCovered {
                import: format!("{module}.{name}"),
                effect: effect.to_string(),
                why: "declared".into(),
            });
        }
    }
    Ok(())
}

/// The grant-independent install check: sizes (compile bombs), the ABI exports, and imports
/// kiln provides, with the effects they need. Parses the whole module.
pub fn inspect(bytes: &[u8], limits: &InstallLimits) -> Result<ModuleFacts> {
    use wasmparser::{Parser, Payload, TypeRef};
    if bytes.len() as u64 > limits.max_module_bytes {
        return Err(too_large(
            "module",
            bytes.len() as u64,
            limits.max_module_bytes,
        ));
    }
    let mut facts = ModuleFacts::default();
    let mut exports: Vec<(String, wasmparser::ExternalKind, u32)> = Vec::new();
    let mut func_types: Vec<u32> = Vec::new();
    let mut types: Vec<Option<(Vec<wasmparser::ValType>, Vec<wasmparser::ValType>)>> = Vec::new();
    for payload in Parser::new(0).parse_all(bytes) {
        let payload = payload.map_err(invalid)?;
        match payload {
            Payload::Version { encoding, .. } if encoding != wasmparser::Encoding::Module => {
                return Err(invalid("a component, not a core module"));
            }
            Payload::TypeSection(reader) => {
                for group in reader {
                    for sub in group.map_err(invalid)?.into_types() {
                        types.push(match &sub.composite_type.inner {
                            wasmparser::CompositeInnerType::Func(f) => {
                                Some((f.params().to_vec(), f.results().to_vec()))
                            }
                            _ => None,
                        });
                    }
                }
            }
            Payload::ImportSection(reader) => {
                for imp in reader.into_imports() {
                    let imp = imp.map_err(invalid)?;
                    let (module, name) = (imp.module.to_string(), imp.name.to_string());
                    if let TypeRef::Func(t) = imp.ty {
                        func_types.push(t);
                    }
                    let Some(effect) = import_effect(&module, &name) else {
                        return Err(SandboxError::ImportNotCovered {
                            import: format!("{module}.{name}"),
                            effect: "unknown".into(),
                            why: "provided by kiln".into(),
                        });
                    };
                    if module == WASI_MODULE {
                        facts.uses_wasi = true;
                    }
                    if effect != Effect::Pure {
                        facts.needed.insert(effect);
                    }
                    facts.imports.push((module, name));
                }
            }
            Payload::FunctionSection(reader) => {
                for t in reader {
                    func_types.push(t.map_err(invalid)?);
                }
                if func_types.len() as u64 > limits.max_functions {
                    return Err(too_large(
                        "function count",
                        func_types.len() as u64,
                        limits.max_functions,
                    ));
                }
            }
            Payload::MemorySection(reader) => {
                for m in reader {
                    let m = m.map_err(invalid)?;
                    if m.memory64 || m.shared {
                        return Err(invalid("64-bit and shared memories are not supported"));
                    }
                    if m.initial > limits.max_initial_pages {
                        return Err(too_large(
                            "initial memory (pages)",
                            m.initial,
                            limits.max_initial_pages,
                        ));
                    }
                }
            }
            Payload::ExportSection(reader) => {
                for e in reader {
                    let e = e.map_err(invalid)?;
                    exports.push((e.name.to_string(), e.kind, e.index));
                }
            }
            Payload::CodeSectionStart { count, .. } if count as u64 > limits.max_functions => {
                return Err(too_large(
                    "function count",
                    count as u64,
                    limits.max_functions,
                ));
            }
            Payload::CodeSectionEntry(body) => {
                let size = body.range().len() as u64;
                if size > limits.max_body_bytes {
                    return Err(too_large(
                        "function body (bytes)",
                        size,
                        limits.max_body_bytes,
                    ));
                }
                let mut locals = 0u64;
                for l in body.get_locals_reader().map_err(invalid)? {
                    let (n, _) = l.map_err(invalid)?;
                    locals += n as u64;
                }
                if locals > limits.max_locals {
                    return Err(too_large("function locals", locals, limits.max_locals));
                }
            }
            _ => {}
        }
    }
    facts.functions = func_types.len() as u64;
    let sig = |name: &str| -> Option<(Vec<wasmparser::ValType>, Vec<wasmparser::ValType>)> {
        let (_, kind, idx) = exports.iter().find(|(n, _, _)| n == name)?;
        if *kind != wasmparser::ExternalKind::Func {
            return None;
        }
        let t = *func_types.get(*idx as usize)?;
        types.get(t as usize)?.clone()
    };
    use wasmparser::ValType::{I32, I64};
    let want = [
        (crate::abi::EXPORT_MARKER, vec![], vec![]),
        (crate::abi::EXPORT_ALLOC, vec![I32], vec![I32]),
        (crate::abi::EXPORT_INVOKE, vec![I32, I32], vec![I64]),
    ];
    for (name, params, results) in want {
        match sig(name) {
            Some((p, r)) if p == params && r == results => {}
            Some(_) => {
                return Err(invalid(format!(
                    "export `{name}` has the wrong signature (see docs/abi.md)"
                )));
            }
            None => {
                return Err(invalid(format!(
                    "missing export `{name}` (guest ABI v1, see docs/abi.md)"
                )));
            }
        }
    }
    if !exports
        .iter()
        .any(|(n, k, _)| n == crate::abi::EXPORT_MEMORY && *k == wasmparser::ExternalKind::Memory)
    {
        return Err(invalid("missing exported memory `memory`"));
    }
    Ok(facts)
}
