//! The public face of the search: [`Budget`], [`Search`] (an iterator of [`Candidate`]s) and
//! [`synthesize`].

use std::collections::{BTreeMap, HashSet, VecDeque};

pub use crate::budget::Budget;
use crate::check::Checker;
use crate::deduce::Sol;
use crate::engine::{Engine, MAX_SIZE, PENALTY, Part};
use crate::spec::{Spec, SpecError};

/// A program consistent with every example, checked by the RTFS interpreter.
///
/// ```
/// let c = kiln_synth::Candidate { source: "(fn [xs] (count xs))".into(), size: 2, nodes_explored: 7 };
/// assert!(c.source.starts_with("(fn [xs]"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// `(fn [p1 p2 …] body)`, valid RTFS.
    pub source: String,
    /// AST nodes of the body: one per symbol, keyword and literal, and one per `fn`.
    pub size: usize,
    /// Nodes the search had explored when it found this candidate.
    pub nodes_explored: u64,
}

/// Why [`synthesize`] found nothing.
///
/// ```
/// let e = kiln_synth::SynthError::NoProgram { nodes: 1000 };
/// assert_eq!(e.to_string(), "no program within 1000 nodes");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SynthError {
    /// The spec was refused before any search.
    #[error(transparent)]
    Spec(#[from] SpecError),
    /// The budget (or the size bound) ran out without a program.
    #[error("no program within {nodes} nodes")]
    NoProgram { nodes: u64 },
}

/// The candidates of a spec, smallest first, in a deterministic order: each is consistent
/// with every example (checked by the RTFS interpreter under `budget.steps`), and each is
/// distinct from the ones before. Iterating further after a candidate is rejected (for
/// example by a sandbox check on other inputs) continues the search where it stopped.
///
/// ```
/// use kiln_synth::{Budget, Search, Spec};
/// let v = rtfs::reader::read_expr(
///     "{:params [[xs [:vector :int]]] :examples [{:args [[1 2 3]] :out [3 2 1]} {:args [[]] :out []}]}",
///     &Default::default(),
/// ).unwrap().to_value();
/// let spec = Spec::parse(&v).unwrap();
/// let mut search = Search::new(&spec, Budget::default()).unwrap();
/// assert_eq!(search.next().unwrap().source, "(fn [xs] (reverse xs))");
/// assert!(search.next().is_some()); // another program that fits the examples
/// ```
pub struct Search {
    engine: Engine,
    checker: Checker,
    params: String,
    round: usize,
    /// The step within the round: through each deduction of the spec's target with the
    /// child's deduced solutions, then with the child's bank hits, then the top bank's hits.
    step: usize,
    steps: usize,
    pending: VecDeque<Candidate>,
    tried: HashSet<String>,
    done: bool,
    /// All parameters, as a bit set; a solution that ignores one costs [`PENALTY`] more and
    /// waits here for its round.
    all_params: u64,
    deferred: BTreeMap<usize, Vec<Sol>>,
}

impl Search {
    /// Prepares the search; refuses a malformed or contradictory spec before searching.
    ///
    /// ```
    /// use kiln_synth::{Budget, Example, Search, Spec};
    /// use rtfs::Value;
    /// let spec = Spec {
    ///     params: vec![("x".into(), Value::keyword("int"))],
    ///     examples: vec![
    ///         Example { args: vec![Value::Int(1)], out: Value::Int(2) },
    ///         Example { args: vec![Value::Int(1)], out: Value::Int(3) },
    ///     ],
    ///     description: None,
    ///     output_schema: None,
    /// };
    /// assert!(Search::new(&spec, Budget::default()).is_err());
    /// ```
    pub fn new(spec: &Spec, budget: Budget) -> Result<Search, SpecError> {
        spec.check()?;
        let params = spec
            .params
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        Ok(Search {
            engine: Engine::new(spec, budget),
            checker: Checker::new(&spec.examples, budget.steps),
            params,
            round: 0,
            step: 0,
            steps: 0,
            pending: VecDeque::new(),
            tried: HashSet::new(),
            done: false,
            all_params: (1u64 << spec.params.len()) - 1,
            deferred: BTreeMap::new(),
        })
    }

    /// Nodes explored so far.
    ///
    /// ```
    /// # use kiln_synth::{Budget, Search, Spec};
    /// # let v = rtfs::reader::read_expr("{:params [[x :int]] :examples [{:args [1] :out 2}]}", &Default::default()).unwrap().to_value();
    /// let mut search = Search::new(&Spec::parse(&v).unwrap(), Budget::default()).unwrap();
    /// let c = search.next().unwrap();
    /// assert_eq!(search.nodes_explored(), c.nodes_explored);
    /// ```
    pub fn nodes_explored(&self) -> u64 {
        self.engine.nodes
    }

    /// The budget in force.
    ///
    /// ```
    /// # use kiln_synth::{Budget, Search, Spec};
    /// # let v = rtfs::reader::read_expr("{:params [[x :int]] :examples [{:args [1] :out 2}]}", &Default::default()).unwrap().to_value();
    /// let search = Search::new(&Spec::parse(&v).unwrap(), Budget { nodes: 10, steps: 100 }).unwrap();
    /// assert_eq!(search.budget().nodes, 10);
    /// ```
    pub fn budget(&self) -> Budget {
        self.engine.budget
    }
}

impl Iterator for Search {
    type Item = Candidate;

    fn next(&mut self) -> Option<Candidate> {
        loop {
            if let Some(c) = self.pending.pop_front() {
                return Some(c);
            }
            if self.done {
                return None;
            }
            // Each cost in steps, cheapest to compute first, so that a deduced solution is
            // yielded before the banks grow to its cost.
            let top = self.engine.top;
            if self.step >= self.steps {
                self.round += 1;
                self.step = 0;
                if self.round > MAX_SIZE {
                    self.done = true;
                    continue;
                }
                self.steps = 2 * self.engine.deductions(top, self.round) + 1;
            }
            let n = self.steps / 2;
            let step = self.step;
            self.step += 1;
            let last = step == 2 * n;
            let found: Vec<Sol> = if step < n {
                self.engine.via(top, self.round, step, Some(Part::Deduced))
            } else if step < 2 * n {
                self.engine.via(top, self.round, step - n, Some(Part::Hits))
            } else {
                (*self.engine.part(top, self.round, Part::Hits)).clone()
            };
            let mut sols: Vec<Sol> = Vec::new();
            for sol in found.iter() {
                if sol.uses == self.all_params || self.all_params == 1 {
                    sols.push(sol.clone());
                } else {
                    // The spec gave a parameter the program ignores: weaker.
                    self.deferred
                        .entry(self.round + PENALTY as usize)
                        .or_default()
                        .push(sol.clone());
                }
            }
            if last {
                sols.extend(self.deferred.remove(&self.round).unwrap_or_default());
            }
            for sol in sols.iter() {
                if !self.tried.insert(sol.src.clone()) {
                    continue;
                }
                let source = format!("(fn [{}] {})", self.params, sol.src);
                if self.checker.passes(&source) {
                    self.pending.push_back(Candidate {
                        source,
                        size: sol.nodes,
                        nodes_explored: self.engine.nodes,
                    });
                }
            }
            if self.engine.exhausted && last {
                self.done = true;
            }
        }
    }
}

/// The smallest program found for a spec within the budget.
///
/// ```
/// use kiln_synth::{Budget, Spec, synthesize};
/// let v = rtfs::reader::read_expr(
///     "{:params [[rs [:vector [:map [:name :string]]]]]
///       :examples [{:args [[{:name \"a\"} {:name \"b\"}]] :out [\"a\" \"b\"]} {:args [[]] :out []}]}",
///     &Default::default(),
/// ).unwrap().to_value();
/// let c = synthesize(&Spec::parse(&v).unwrap(), Budget::default()).unwrap();
/// assert_eq!(c.source, "(fn [rs] (map :name rs))");
/// assert_eq!(c.size, 3);
/// ```
pub fn synthesize(spec: &Spec, budget: Budget) -> Result<Candidate, SynthError> {
    let mut search = Search::new(spec, budget)?;
    match search.next() {
        Some(c) => Ok(c),
        None => Err(SynthError::NoProgram {
            nodes: search.nodes_explored(),
        }),
    }
}
