//! Accepting a candidate: the search yields programs consistent with the examples, smallest
//! first; the first one accepted is the first that also takes inputs generated from the
//! parameters' schemas ([`inputs::generate`](crate::inputs::generate)) without failing, and
//! answers within the output schema when the spec has one. A program that fits the examples
//! only by accident (`(first xs)` where the examples happened to be sorted) usually fails
//! there, or is outranked by one that does not. Generated inputs can break preconditions a
//! schema cannot state (a list of keys and the map they index): when every candidate
//! considered fails on some, the one that fails on the fewest is taken, and the count is
//! reported.

use rtfs::Value;
use rtfs::schema::{self, Schema};

use crate::search::{Budget, Candidate, Search};
use crate::spec::{Spec, SpecError};

/// Inputs generated from the parameters' schemas that a candidate must take.
pub const HELD_OUT: usize = 20;
/// Candidates (each consistent with every example) tried against the generated inputs before
/// the search gives up.
pub const MAX_CANDIDATES: usize = 64;

/// What a search came to.
#[derive(Debug)]
pub enum Found {
    /// The first candidate that also took every generated input (or, when none did, the one
    /// that failed on the fewest).
    Program {
        candidate: Candidate,
        /// Candidates before it that fit the examples but not the generated inputs.
        rejected: usize,
        /// Generated inputs it fails on (0 unless every candidate failed on some).
        failures: usize,
        /// Nodes explored when it was found.
        nodes: u64,
    },
    /// None was accepted.
    Nothing {
        /// Candidates that fit the examples but not the generated inputs.
        rejected: usize,
        /// Nodes explored in all.
        nodes: u64,
    },
}

/// Searches `spec` within `budget`: the first candidate (smallest first) that takes every
/// input generated from the parameters' schemas (by `seed`: the same inputs for the same
/// seed) without failing and within the output schema (else the one failing on the fewest of
/// the first [`MAX_CANDIDATES`]). When none is found and the examples
/// show a guard — every example whose collection parameter `p` is empty has one same output
/// `v`, and some example's is not empty — the rest of the budget searches the other examples,
/// and the program found is `(if (empty? p) v BODY)`.
pub fn find(spec: &Spec, budget: Budget, seed: u64) -> Result<Found, SpecError> {
    let accept = Acceptance::new(spec, budget, seed);
    let plain = accept.first(spec, budget, |body| body.to_string())?;
    let Found::Nothing { rejected, nodes } = plain else {
        return Ok(plain);
    };
    let left = budget.nodes.saturating_sub(nodes);
    let Some((p, out, rest)) = empty_guard(spec).filter(|_| left > 0) else {
        return Ok(plain);
    };
    let name = spec.params[p].0.clone();
    let out = rtfs::print::print(&out);
    let inner = Budget {
        nodes: left,
        ..budget
    };
    let guarded = accept.first(&rest, inner, |body| {
        format!("(if (empty? {name}) {out} {body})")
    })?;
    Ok(match guarded {
        Found::Program {
            mut candidate,
            rejected: r,
            failures,
            nodes: n,
        } => {
            // `if`, `empty?`, the parameter and the value.
            candidate.size += 4;
            candidate.nodes_explored += nodes;
            Found::Program {
                candidate,
                rejected: rejected + r,
                failures,
                nodes: nodes + n,
            }
        }
        Found::Nothing {
            rejected: r,
            nodes: n,
        } => Found::Nothing {
            rejected: rejected + r,
            nodes: nodes + n,
        },
    })
}

/// The guard the examples show, if any: the first parameter whose empty values (in some
/// examples, not all) all go with one output; with that output and the spec of the other
/// examples.
fn empty_guard(spec: &Spec) -> Option<(usize, Value, Spec)> {
    let empty = |v: &Value| match v {
        Value::List(s) | Value::Vector(s) => s.is_empty(),
        Value::Map(m) => m.is_empty(),
        Value::Str(s) => s.is_empty(),
        _ => false,
    };
    (0..spec.params.len()).find_map(|p| {
        let (when, rest): (Vec<_>, Vec<_>) = spec
            .examples
            .iter()
            .partition(|e| e.args.get(p).is_some_and(empty));
        let out = &when.first()?.out;
        if rest.is_empty() || when.iter().any(|e| e.out != *out) {
            return None;
        }
        let rest = Spec {
            examples: rest.into_iter().cloned().collect(),
            ..spec.clone()
        };
        rest.check().ok()?;
        Some((p, out.clone(), rest))
    })
}

/// What a candidate is accepted against: the spec's examples, inputs generated from its
/// parameters' schemas, its output schema.
struct Acceptance<'a> {
    spec: &'a Spec,
    held: Vec<Vec<Value>>,
    out_schema: Option<Schema>,
    limits: rtfs::Limits,
    params: String,
}

impl<'a> Acceptance<'a> {
    fn new(spec: &'a Spec, budget: Budget, seed: u64) -> Acceptance<'a> {
        Acceptance {
            spec,
            held: crate::inputs::generate(&spec.params, seed, HELD_OUT),
            out_schema: spec
                .output_schema
                .as_ref()
                .and_then(|s| schema::parse(s, true).ok()),
            limits: rtfs::Limits {
                steps: budget.steps.saturating_mul(10),
                ..rtfs::Limits::default()
            },
            params: spec
                .params
                .iter()
                .map(|(n, _)| n.as_str())
                .collect::<Vec<_>>()
                .join(" "),
        }
    }

    /// The first candidate of a search of `spec`, its body rewritten by `wrap`, that passes
    /// every example of the whole spec and every generated input.
    fn first(
        &self,
        spec: &Spec,
        budget: Budget,
        wrap: impl Fn(&str) -> String,
    ) -> Result<Found, SpecError> {
        let mut search = Search::new(spec, budget)?;
        let prefix = format!("(fn [{}] ", self.params);
        let mut rejected = 0;
        // The candidate that failed on the fewest generated inputs so far, and how many.
        let mut best: Option<(usize, Candidate)> = None;
        for mut candidate in search.by_ref().take(MAX_CANDIDATES) {
            let Some(body) = candidate
                .source
                .strip_prefix(&prefix)
                .and_then(|b| b.strip_suffix(')'))
            else {
                rejected += 1;
                continue;
            };
            candidate.source = format!("{prefix}{})", wrap(body));
            match self.failures(&candidate.source) {
                Some(0) => {
                    let nodes = candidate.nodes_explored;
                    return Ok(Found::Program {
                        candidate,
                        rejected,
                        failures: 0,
                        nodes,
                    });
                }
                Some(n) if best.as_ref().is_none_or(|(m, _)| n < *m) => {
                    best = Some((n, candidate));
                }
                _ => {}
            }
            rejected += 1;
        }
        let nodes = search.nodes_explored();
        Ok(match best {
            // Generated inputs can break what the schemas cannot say (a list of keys and
            // the map they are keys of): when every candidate fails on some, the one that
            // fails on the fewest is taken, and says so.
            Some((failures, candidate)) => Found::Program {
                candidate,
                rejected: rejected - 1,
                failures,
                nodes,
            },
            None => Found::Nothing { rejected, nodes },
        })
    }

    /// On how many generated inputs `source` fails or answers outside the output schema —
    /// None if it does not give every example's output (in the pure environment).
    fn failures(&self, source: &str) -> Option<usize> {
        let mut f = crate::check::Compiled::new(source, self.limits).ok()?;
        let examples = self.spec.examples.iter().all(|e| {
            f.apply(&e.args)
                .is_ok_and(|v| rtfs::order::equal(&v, &e.out))
        });
        if !examples {
            return None;
        }
        Some(
            self.held
                .iter()
                .filter(|args| match f.apply(args) {
                    Ok(v) => !self
                        .out_schema
                        .as_ref()
                        .is_none_or(|s| schema::valid(s, &v)),
                    Err(_) => true,
                })
                .count(),
        )
    }
}
