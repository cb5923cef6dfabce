//! Static analysis of a program before it runs — what `planner.validate_plan` reports.
//!
//! Reading and analysis errors (§3.1) are returned as errors. A program that compiles is then
//! checked for what is certain to fail or worth knowing without running it: calls to builtins
//! or top-level functions with an argument count they never accept, symbols that are neither
//! local, defined by the program nor builtins, the capabilities it `call`s, and how deeply its
//! source nests. Nothing here evaluates anything.

use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

use crate::error::{Location, Result};
use crate::reader::{Form, FormKind, ReadOptions, read_program};
use crate::vm::Program;

/// The builtins that reach the host (a capability).
const HOST_BUILTINS: [&str; 1] = ["call"];

/// What kind of problem.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProblemKind {
    /// A call with an argument count the callee never accepts.
    Arity,
    /// A symbol nothing defines.
    UnknownSymbol,
}

/// A problem found without running the program.
#[derive(Clone, Debug)]
pub struct Problem {
    /// What kind.
    pub kind: ProblemKind,
    /// Prose.
    pub message: String,
    /// Where.
    pub location: Location,
}

/// The result of analysing a program.
#[derive(Clone, Debug, Default)]
pub struct Analysis {
    /// Problems, in source order.
    pub problems: Vec<Problem>,
    /// Capability ids `call`ed with a literal id.
    pub call_targets: BTreeSet<String>,
    /// `call`s whose id is computed at run time, and every use of `call` as a value (passed
    /// to `apply` or `map`, bound to another name, returned): what it will call is unknown.
    pub dynamic_calls: usize,
    /// Builtins the program uses.
    pub builtins_used: BTreeSet<String>,
    /// Names the program defines at the top level.
    pub defined: BTreeSet<String>,
    /// Deepest bracket nesting of the source.
    pub max_nesting: usize,
    /// Number of top-level forms.
    pub forms: usize,
}

impl Analysis {
    /// Whether nothing is certain to fail.
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Reads, compiles and analyses a program.
pub fn analyze(src: &str, file: Option<&str>) -> Result<Analysis> {
    let file: Option<Rc<str>> = file.map(Rc::from);
    let opts = ReadOptions {
        file: file.clone(),
        ..Default::default()
    };
    let forms = read_program(src, &opts)?;
    let program = crate::compile::compile_program(&forms, file.clone())?;
    Ok(analyze_program(&forms, &program, file))
}

fn nesting(f: &Form) -> usize {
    let mut max = 0;
    let mut stack = vec![(f, 1usize)];
    while let Some((f, d)) = stack.pop() {
        if let FormKind::List(items) | FormKind::Vector(items) | FormKind::Map(items) = &f.kind {
            max = max.max(d);
            stack.extend(items.iter().map(|i| (i, d + 1)));
        }
    }
    max
}

/// Analyses an already compiled program.
pub fn analyze_program(forms: &[Form], program: &Program, file: Option<Rc<str>>) -> Analysis {
    let info = program.info();
    let mut a = Analysis {
        max_nesting: forms.iter().map(nesting).max().unwrap_or(0),
        forms: forms.len(),
        ..Default::default()
    };
    let mut defs: BTreeMap<String, Vec<Option<crate::compile::Arities>>> = BTreeMap::new();
    for (name, arities) in &info.defined {
        defs.entry(name.as_str().to_string())
            .or_default()
            .push(arities.clone());
        a.defined.insert(name.as_str().to_string());
    }
    let loc = |span: crate::reader::Span| span.location(file.as_ref());
    let mut seen_unknown = BTreeSet::new();
    for (name, span) in &info.global_refs {
        let n = name.as_str();
        if defs.contains_key(n) {
            continue;
        }
        if crate::stdlib::lookup(n).is_some() {
            let canonical = crate::stdlib::builtin(n).map_or(n, |b| b.name);
            a.builtins_used.insert(canonical.to_string());
        } else if seen_unknown.insert(n.to_string()) {
            a.problems.push(Problem {
                kind: ProblemKind::UnknownSymbol,
                message: format!("undefined symbol: {n}"),
                location: loc(*span),
            });
        }
    }
    for (name, argc, span) in &info.global_calls {
        let n = name.as_str();
        let expected = match defs.get(n) {
            // Defined once as a function: its arities decide.
            Some(d) if d.len() == 1 => match &d[0] {
                Some(arities) => {
                    let ok = arities
                        .iter()
                        .any(|&(fixed, rest)| *argc == fixed || (rest && *argc >= fixed));
                    (!ok).then(|| {
                        arities
                            .iter()
                            .map(|&(f, r)| if r { format!("{f}+") } else { f.to_string() })
                            .collect::<Vec<_>>()
                            .join(" or ")
                    })
                }
                None => None,
            },
            Some(_) => None,
            None => crate::stdlib::builtin(n).and_then(|b| {
                let ok = b.accepts(*argc);
                (!ok).then(|| match (b.min, b.max) {
                    (lo, u16::MAX) => format!("{lo}+"),
                    (lo, hi) if lo == hi => lo.to_string(),
                    (lo, hi) => format!("{lo}-{hi}"),
                })
            }),
        };
        if let Some(expected) = expected {
            a.problems.push(Problem {
                kind: ProblemKind::Arity,
                message: format!("{n} called with {argc} argument(s); it accepts {expected}"),
                location: loc(*span),
            });
        }
    }
    for (id, _) in &info.call_sites {
        match id {
            Some(id) => {
                a.call_targets.insert(id.clone());
            }
            None => a.dynamic_calls += 1,
        }
    }
    // Every reference to `call` that is not the head of one of those applications uses it as
    // a value: `(apply call …)`, `(map call …)`, `(let [c call] …)`.
    let references = info
        .global_refs
        .iter()
        .filter(|(name, _)| HOST_BUILTINS.contains(&name.as_str()))
        .count();
    a.dynamic_calls += references.saturating_sub(info.call_sites.len());
    a.problems
        .sort_by_key(|p| (p.location.line, p.location.column));
    a
}
