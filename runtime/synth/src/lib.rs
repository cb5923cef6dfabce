//! kiln's offline synthesizer: programs by example, no LLM.
//!
//! Given a [`Spec`] — parameters with schemas and input/output examples — the search finds RTFS
//! functions `(fn [params…] body)` consistent with every example, smallest first. It is a
//! typed bottom-up enumeration over the RTFS builtins (λ², Myth, Probe, TF-Coder, LambdaBeam),
//! with:
//!
//! - **banks per scope** ([`bank`](self)): terms grown one size at a time from the parameters
//!   and the spec's constants, applying the builtins whose argument kinds fit
//!   (`rtfs::stdlib::signature`), each term kept with its values on the examples; a term with
//!   the same values as an earlier one is dropped (observational equivalence);
//! - **lambdas** for the higher-order builtins (`map`, `filter`, `group-by`, `sort-by`,
//!   `update-vals`, `mapcat`, `some`, …): their bodies are the terms of a child scope whose
//!   environments are the items the lambda is applied to; keywords and builtins are functions
//!   too (`(map :name rs)`, `(apply max xs)`);
//! - **deduction**: when the wanted output is a list as long as a small collection term, a
//!   subsequence of it, a map with its keys, …, the search also tries `(map f C)`, `(filter p
//!   C)`, `(update-vals C f)`, `(assoc C k v)`, … with the examples of `f` computed from the
//!   output, in a child scope of their own.
//!
//! The search's own fast evaluator mirrors RTFS semantics; every candidate it yields has been
//! run by the RTFS interpreter on every example. Budgets are counts (nodes explored, steps per
//! run), never time: the same spec gives the same candidates in the same order, with the same
//! node counts, on every run.
//!
//! **Invariant:** no I/O, no clock, no threads, no randomness; depends on `rtfs` only.
//!
//! ```
//! use kiln_synth::{Budget, Spec, synthesize};
//! let spec = Spec::parse(&rtfs::reader::read_expr(
//!     "{:params [[xs [:vector :int]] [k :int]]
//!       :examples [{:args [[1 2] 5] :out [6 7]} {:args [[] 3] :out []} {:args [[0 -1 4] 1] :out [1 0 5]}]}",
//!     &Default::default(),
//! ).unwrap().to_value()).unwrap();
//! let c = synthesize(&spec, Budget::default()).unwrap();
//! assert_eq!(c.source, "(fn [xs k] (map (fn [x] (+ k x)) xs))");
//! ```

#![forbid(unsafe_code)]

pub mod accept;
mod bank;
mod budget;
mod check;
mod constants;
mod deduce;
mod engine;
pub mod inputs;
mod ops;
mod search;
mod spec;
pub mod tasks;
mod value;

pub use check::Compiled;
pub use search::{Budget, Candidate, Search, SynthError, synthesize};
pub use spec::{Example, Spec, SpecError};

/// The RTFS names the search may print, with the argument counts it uses, so a test can check
/// them against `rtfs::stdlib::signature`.
#[doc(hidden)]
pub fn builtins_used() -> Vec<(&'static str, usize)> {
    ops::uses()
}
