//! A query as intents: one intent per step, each a specification that
//! `planner.synthesize_capability` accepts — the step's parameters with schemas inferred from
//! the data, and examples drawn from it (small subsets of the records at that step, the
//! expected output of each computed by the step's reference, which is not part of the
//! intent) — plus what the plan generator needs: the capability's id, where each argument
//! comes from, the constants the plan passes.
//!
//! An intent: `{:id "generated/NAME" :name NAME :description S :params [[p schema] …]
//! :examples [{:args [...] :out v} …] :output-schema S? :dataset D :from [nil | i …]
//! :constants [...] :step i}` (`:from` nil is the dataset; `i` the i-th intent's value).

use rtfs::Value;

use crate::dataset::{Dataset, FieldKind};
use crate::error::PlanError;
use crate::query::{Filter, Metric, Query, Step};

fn kw(k: &str) -> Value {
    Value::keyword(k)
}

/// Evaluates a reference `(fn [params…] …)` on `args` with RTFS itself.
pub fn apply(reference: &str, args: &[Value]) -> Result<Value, PlanError> {
    let printed: Vec<String> = args.iter().map(rtfs::print::print).collect();
    let src = format!("({reference} {})", printed.join(" "));
    let mut it = rtfs::Interpreter::new(rtfs::Limits {
        steps: 50_000_000,
        ..rtfs::Limits::default()
    });
    it.compile(&src, Some("<reference>"))
        .and_then(|p| it.run(&p, &mut rtfs::NoHost))
        .map_err(|e| PlanError::Intent(format!("computing an example failed: {}", e.message())))
}

fn items(v: &Value) -> Vec<Value> {
    v.as_seq()
        .map(|s| s.items().iter().cloned().collect())
        .unwrap_or_default()
}

/// Deterministic subsets of `rows` for examples: the first five, five spread over the rest,
/// the last four, none — each distinct, in the data's order.
fn subsets(rows: &[Value], size: usize) -> Vec<Vec<Value>> {
    let n = rows.len();
    let mut out: Vec<Vec<Value>> = Vec::new();
    let add = |s: Vec<Value>, out: &mut Vec<Vec<Value>>| {
        if !out.contains(&s) {
            out.push(s);
        }
    };
    add(rows.iter().take(size).cloned().collect(), &mut out);
    if n > size {
        let stride = (n / size).max(1);
        add(
            rows.iter()
                .skip(stride / 2 + 1)
                .step_by(stride)
                .take(size)
                .cloned()
                .collect(),
            &mut out,
        );
        add(rows[n.saturating_sub(size - 1)..].to_vec(), &mut out);
    }
    add(Vec::new(), &mut out);
    out
}

fn schema_of_field(d: &Dataset, field: &str) -> Value {
    match d.field(field).map(|f| &f.kind) {
        Some(FieldKind::Int) => kw("int"),
        Some(FieldKind::Number) => kw("number"),
        Some(FieldKind::Bool) => kw("bool"),
        Some(FieldKind::Text) | Some(FieldKind::TextList) => kw("string"),
        _ => kw("any"),
    }
}

fn param_schema(d: &Dataset, step: &Step, p: &str) -> Value {
    let rows = d.schema();
    match (step, p) {
        (_, "rows") => rows,
        (Step::Filter(Filter::Eq { field, .. }), "value") => schema_of_field(d, field),
        (Step::Filter(Filter::Has { .. }), "value") => kw("string"),
        (Step::Filter(Filter::Cmp { .. }), "n") => kw("number"),
        (Step::RankKeys, "ks") => Value::vector(vec![kw("vector"), kw("any")]),
        (Step::RankKeys, "m") => Value::vector(vec![kw("map-of"), kw("any"), kw("number")]),
        (_, "n") => Value::vector(vec![
            kw("and"),
            kw("int"),
            Value::vector(vec![kw("in-range"), Value::Int(0), Value::Int(9)]),
        ]),
        _ => kw("any"),
    }
}

fn output_schema(d: &Dataset, step: &Step) -> Option<Value> {
    match step {
        Step::Filter(_) | Step::Sort { .. } | Step::TopRows(_) => Some(d.schema()),
        Step::Compute(Metric::Count | Metric::CountDistinct(_)) => Some(kw("int")),
        Step::Group {
            metric: Metric::Count,
            ..
        } => Some(Value::vector(vec![kw("map-of"), kw("any"), kw("int")])),
        _ => None,
    }
}

/// Another value of the filter's constant, from `rows` (so that examples differ in it and a
/// program must use its parameter).
fn other_constant(step: &Step, rows: &[Value], k: usize) -> Option<Value> {
    let field_values = |f: &str| -> Vec<Value> {
        let mut vs: Vec<Value> = Vec::new();
        for r in rows {
            let v = r.get_key(f).cloned().unwrap_or(Value::Nil);
            let mut add = |x: Value| {
                if !matches!(x, Value::Nil) && !vs.contains(&x) {
                    vs.push(x);
                }
            };
            match v {
                Value::Vector(_) | Value::List(_) => items(&v).into_iter().for_each(&mut add),
                other => add(other),
            }
        }
        vs
    };
    match step {
        Step::Filter(Filter::Eq { field, .. } | Filter::Has { field, .. }) => {
            let vs = field_values(field);
            (!vs.is_empty()).then(|| vs[k % vs.len()].clone())
        }
        Step::Filter(Filter::Cmp { field, .. }) => {
            let mut ns: Vec<Value> = field_values(field)
                .into_iter()
                .filter(|v| matches!(v, Value::Int(_) | Value::Float(_)))
                .collect();
            ns.sort_by(rtfs::order::compare);
            (!ns.is_empty()).then(|| ns[ns.len() / 2].clone())
        }
        _ => None,
    }
}

/// The answer `query` has over `dataset`, computed by the steps' references (for tests and
/// for checking a plan's result; never given to a synthesizer).
pub fn answer(query: &Query, dataset: &Dataset) -> Result<Value, PlanError> {
    let all_rows = Value::vector(dataset.rows.clone());
    let mut full: Vec<Value> = Vec::new();
    for (step, from) in query.steps() {
        let mut args: Vec<Value> = from
            .iter()
            .map(|f| f.map_or(all_rows.clone(), |i| full[i].clone()))
            .collect();
        args.extend(step.constants(query.top));
        full.push(apply(&step.reference(), &args)?);
    }
    full.pop()
        .ok_or_else(|| PlanError::Intent("the query has no steps".into()))
}

/// The intents of `query` over `dataset`.
pub fn intents(query: &Query, dataset: &Dataset) -> Result<Vec<Value>, PlanError> {
    let steps = query.steps();
    // Each step's value on the whole dataset, and each step's example arguments.
    let mut full: Vec<Value> = Vec::new();
    let all_rows = Value::vector(dataset.rows.clone());
    let value_of = |from: &Option<usize>, full: &[Value]| match from {
        None => all_rows.clone(),
        Some(i) => full[*i].clone(),
    };
    let mut out = Vec::new();
    for (i, (step, from)) in steps.iter().enumerate() {
        let reference = step.reference();
        let constants = step.constants(query.top);
        // The whole data through this step, for the next ones.
        let mut args: Vec<Value> = from.iter().map(|f| value_of(f, &full)).collect();
        args.extend(constants.iter().cloned());
        full.push(apply(&reference, &args)?);
        // The records this step's examples are drawn from, and how its other inputs are
        // computed from a subset of them.
        let (root, derived): (Option<usize>, Vec<Option<usize>>) = match step {
            Step::RankKeys => {
                let base = from
                    .first()
                    .and_then(|k| k.map(|k| steps[k].1[0]))
                    .flatten();
                (base, from.clone())
            }
            _ => (from[0], Vec::new()),
        };
        let root_rows = items(&value_of(&root, &full));
        let size = if matches!(step, Step::RankKeys | Step::Group { .. }) {
            8
        } else {
            5
        };
        let mut examples: Vec<Value> = Vec::new();
        let mut seen: Vec<Vec<Value>> = Vec::new();
        let mut subsets = subsets(&root_rows, size);
        // A filter's examples include records that pass it.
        if let Step::Filter(_) = step {
            let passing = items(&apply(
                &reference,
                &[&[Value::vector(root_rows.clone())][..], &constants[..]].concat(),
            )?);
            let failing: Vec<Value> = root_rows
                .iter()
                .filter(|r| !passing.contains(r))
                .take(2)
                .cloned()
                .collect();
            let mix: Vec<Value> = passing.iter().take(3).cloned().chain(failing).collect();
            if !mix.is_empty() {
                subsets.insert(0, mix);
            }
        }
        for (k, subset) in subsets.into_iter().enumerate() {
            let sub = Value::vector(subset.clone());
            let mut ex_args: Vec<Value> = if derived.is_empty() {
                vec![sub.clone()]
            } else {
                derived
                    .iter()
                    .map(|d| match d {
                        Some(j) => {
                            let (s, _) = &steps[*j];
                            let mut a = vec![sub.clone()];
                            a.extend(s.constants(query.top));
                            apply(&s.reference(), &a)
                        }
                        None => Ok(sub.clone()),
                    })
                    .collect::<Result<_, _>>()?
            };
            // Constants: the goal's on the first examples, others after, so that a program
            // must read its parameter.
            let mut consts = constants.clone();
            if k >= 2 && !consts.is_empty() {
                match step {
                    Step::RankKeys | Step::TopRows(_) => {
                        consts = vec![Value::Int(1 + (k as i64 % 2))];
                    }
                    _ => {
                        if let Some(c) = other_constant(step, &subset, k) {
                            consts = vec![c];
                        }
                    }
                }
            }
            ex_args.extend(consts);
            if seen.contains(&ex_args) {
                continue;
            }
            let out_v = apply(&reference, &ex_args)?;
            seen.push(ex_args.clone());
            examples.push(Value::map(vec![
                (kw("args"), Value::vector(ex_args)),
                (kw("out"), out_v),
            ]));
            if examples.len() >= 5 {
                break;
            }
        }
        let params: Vec<Value> = step
            .params()
            .iter()
            .map(|p| Value::vector(vec![Value::symbol(p), param_schema(dataset, step, p)]))
            .collect();
        let name = step.name(&dataset.name);
        let mut m = vec![
            (kw("id"), Value::str(&format!("generated/{name}"))),
            (kw("name"), Value::str(&name)),
            (
                kw("description"),
                Value::str(&step.description(&dataset.name)),
            ),
            (kw("params"), Value::vector(params)),
            (kw("examples"), Value::vector(examples)),
            (kw("dataset"), Value::str(&dataset.name)),
            (
                kw("from"),
                Value::vector(
                    from.iter()
                        .map(|f| f.map_or(Value::Nil, |i| Value::Int(i as i64)))
                        .collect(),
                ),
            ),
            (kw("constants"), Value::vector(constants)),
            (kw("step"), Value::Int(i as i64)),
        ];
        if let Some(s) = output_schema(dataset, step) {
            m.push((kw("output-schema"), s));
        }
        out.push(Value::map(m));
    }
    Ok(out)
}
