//! Checking a plan before it runs: it reads and compiles (errors with line and column), its
//! static analysis finds nothing certain to fail (arity, unknown symbols), every capability it
//! calls exists, each step's output fits the next step's input, what it calls is within what
//! the trust level lets an agent's plan do without a human, and it is no more nested than
//! `max_plan_depth` allows.

use std::collections::HashMap;

use rtfs::Value;
use rtfs::reader::{Form, FormKind};

use crate::catalog::Entry;

/// One problem of a plan.
#[derive(Clone, Debug, PartialEq)]
pub struct Issue {
    /// `parse`, `arity`, `unknown-symbol`, `unknown-capability`, `schema`, `effects`,
    /// `depth`, `dynamic-call`.
    pub kind: &'static str,
    /// What is wrong.
    pub message: String,
    /// Where (1-based; 0 when the whole plan).
    pub line: u32,
    /// Where.
    pub column: u32,
}

impl Issue {
    /// `{:kind :K :message S :line L :column C}`.
    pub fn to_value(&self) -> Value {
        Value::map(vec![
            (Value::keyword("kind"), Value::keyword(self.kind)),
            (Value::keyword("message"), Value::str(&self.message)),
            (Value::keyword("line"), Value::Int(self.line as i64)),
            (Value::keyword("column"), Value::Int(self.column as i64)),
        ])
    }
}

/// What the validation needs to know.
pub struct Limits {
    /// `max_plan_depth`: how deeply a plan may nest (its brackets, in units of 4) and how many
    /// plans it may run inside itself.
    pub max_plan_depth: u64,
    /// The session's trust level (an agent's effectful plan waits for a human below 4).
    pub trust: u8,
}

fn issue(kind: &'static str, message: String, line: u32, column: u32) -> Issue {
    Issue {
        kind,
        message,
        line,
        column,
    }
}

/// Schemas that cannot both hold of one value (their kinds differ), when both are known.
fn disjoint(out: &Value, input: &Value) -> bool {
    let kind = |s: &Value| match s {
        Value::Keyword(k) => match k.as_str() {
            "int" | "float" | "number" => Some("number"),
            "string" => Some("string"),
            "bool" | "boolean" => Some("bool"),
            "map" => Some("map"),
            "vector" | "sequential" => Some("seq"),
            _ => None,
        },
        Value::Vector(items) => match items.items().front() {
            Some(Value::Keyword(k)) => match k.as_str() {
                "vector" | "sequential" | "tuple" => Some("seq"),
                "map" | "map-of" => Some("map"),
                _ => None,
            },
            _ => None,
        },
        _ => None,
    };
    matches!((kind(out), kind(input)), (Some(a), Some(b)) if a != b)
}

/// The schema of argument `i` of `n` given to a capability whose input schema is `s` (a plan's
/// `(call id a b)` hands over `[a b]`).
fn arg_schema(s: &Value, i: usize, n: usize) -> Option<Value> {
    if n == 1 {
        return Some(s.clone());
    }
    match s {
        Value::Vector(items) if matches!(items.items().front(), Some(Value::Keyword(k)) if k.as_str() == "tuple") => {
            items.items().get(i + 1).cloned()
        }
        _ => None,
    }
}

/// Validates `source` against the catalog.
pub fn validate(source: &str, catalog: &[Entry], natives: &[&str], limits: &Limits) -> Vec<Issue> {
    let mut issues = Vec::new();
    let analysis = match rtfs::analysis::analyze(source, Some("<plan>")) {
        Ok(a) => a,
        Err(e) => {
            let (line, column) = e.location().map_or((0, 0), |l| (l.line, l.column));
            return vec![issue("parse", e.message().to_string(), line, column)];
        }
    };
    for p in &analysis.problems {
        let kind = match p.kind {
            rtfs::analysis::ProblemKind::Arity => "arity",
            rtfs::analysis::ProblemKind::UnknownSymbol => "unknown-symbol",
        };
        issues.push(issue(
            kind,
            p.message.clone(),
            p.location.line,
            p.location.column,
        ));
    }
    let by_id: HashMap<&str, &Entry> = catalog.iter().map(|e| (e.id.as_str(), e)).collect();
    for target in &analysis.call_targets {
        let base = target.split('@').next().unwrap_or(target);
        if !by_id.contains_key(base) && !natives.contains(&base) {
            issues.push(issue(
                "unknown-capability",
                format!("the plan calls {target}, which is not installed"),
                0,
                0,
            ));
        }
        if let Some(e) = by_id.get(base)
            && !e.effects.is_empty()
            && limits.trust < 4
        {
            issues.push(issue(
                "effects",
                format!(
                    "the plan calls {target}, which has effects [{}]: at trust level {} a human must approve running it",
                    e.effects.join(" "),
                    limits.trust
                ),
                0,
                0,
            ));
        }
    }
    if analysis.dynamic_calls > 0 {
        issues.push(issue(
            "dynamic-call",
            format!(
                "{} call(s) with a computed target: what they reach cannot be checked before the plan runs",
                analysis.dynamic_calls
            ),
            0,
            0,
        ));
    }
    let max_nesting = (limits.max_plan_depth as usize).saturating_mul(4);
    if analysis.max_nesting > max_nesting {
        issues.push(issue(
            "depth",
            format!(
                "the plan nests {} deep; max_plan_depth = {} allows {max_nesting}",
                analysis.max_nesting, limits.max_plan_depth
            ),
            0,
            0,
        ));
    }
    if let Ok(forms) = rtfs::reader::read_program(source, &Default::default()) {
        let mut nested = 0;
        for f in &forms {
            count_execute(f, &mut nested);
            check_steps(f, &by_id, &mut issues);
        }
        if nested as u64 > limits.max_plan_depth {
            issues.push(issue(
                "depth",
                format!(
                    "the plan runs {nested} plans inside it; max_plan_depth = {}",
                    limits.max_plan_depth
                ),
                0,
                0,
            ));
        }
    }
    issues
}

fn call_target(f: &Form) -> Option<(String, &[Form])> {
    let FormKind::List(items) = &f.kind else {
        return None;
    };
    match (
        items.first().map(|h| &h.kind),
        items.get(1).map(|i| &i.kind),
    ) {
        (Some(FormKind::Symbol(s)), Some(FormKind::Keyword(k))) if s.as_str() == "call" => {
            Some((k.as_str().to_string(), &items[2..]))
        }
        (Some(FormKind::Symbol(s)), Some(FormKind::Str(k))) if s.as_str() == "call" => {
            Some((k.to_string(), &items[2..]))
        }
        _ => None,
    }
}

fn count_execute(f: &Form, n: &mut usize) {
    if let Some((id, _)) = call_target(f)
        && id == "planner.execute_plan"
    {
        *n += 1;
    }
    if let FormKind::List(items) | FormKind::Vector(items) | FormKind::Map(items) = &f.kind {
        for i in items {
            count_execute(i, n);
        }
    }
}

/// In `(let [a (call :x …) b (call :y a …)] …)`, each step's output schema against the input
/// schema of the step that takes it.
fn check_steps(f: &Form, by_id: &HashMap<&str, &Entry>, issues: &mut Vec<Issue>) {
    if let FormKind::List(items) = &f.kind
        && matches!(items.first().map(|h| &h.kind), Some(FormKind::Symbol(s)) if s.as_str() == "let")
        && let Some(FormKind::Vector(bindings)) = items.get(1).map(|b| &b.kind)
    {
        let mut produced: HashMap<String, String> = HashMap::new();
        for pair in bindings.chunks(2) {
            let [name, value] = pair else { continue };
            let FormKind::Symbol(name) = &name.kind else {
                continue;
            };
            if let Some((id, args)) = call_target(value) {
                for (i, a) in args.iter().enumerate() {
                    let FormKind::Symbol(s) = &a.kind else {
                        continue;
                    };
                    let (Some(from), Some(to)) = (
                        produced.get(s.as_str()).and_then(|p| by_id.get(p.as_str())),
                        by_id.get(id.as_str()),
                    ) else {
                        continue;
                    };
                    if let Some(want) = arg_schema(&to.input_schema, i, args.len())
                        && disjoint(&from.output_schema, &want)
                    {
                        issues.push(issue(
                            "schema",
                            format!(
                                "{} gives {}, but {id} takes {} there",
                                from.id,
                                rtfs::print::print(&from.output_schema),
                                rtfs::print::print(&want)
                            ),
                            a.span.line,
                            a.span.column,
                        ));
                    }
                }
                produced.insert(name.as_str().to_string(), id);
            }
        }
    }
    if let FormKind::List(items) | FormKind::Vector(items) | FormKind::Map(items) = &f.kind {
        for i in items {
            check_steps(i, by_id, issues);
        }
    }
}
