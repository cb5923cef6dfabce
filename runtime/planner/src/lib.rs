//! kiln-planner — the planner's logic as pure functions: a plain-English goal about datasets
//! read into a query ([`reader`]) and into intents, each a specification the synthesizer
//! accepts with examples drawn from the data ([`intent`]); an intent resolved against the
//! capabilities there are ([`resolve`], over a [`catalog::Catalog`] the kernel implements);
//! a plan generated from intents ([`generate`]) and checked before it runs ([`validate`]);
//! an execution's output inspected ([`inspect`]). No store, no sandbox, no clock: the kernel's
//! `planner.*` natives wrap these.
//!
//! ```
//! use kiln_planner::{dataset::Dataset, reader};
//! let rows = rtfs::reader::read_expr(
//!     r#"[{:id 1 :genre "crime" :pages 300} {:id 2 :genre "poetry" :pages 80}]"#,
//!     &Default::default(),
//! ).unwrap().to_value();
//! let books = Dataset::new("books", &rows).unwrap();
//! let q = reader::read("total pages per genre", &[books]).unwrap();
//! assert_eq!(q.group.as_deref(), Some("genre"));
//! ```

#![forbid(unsafe_code)]

pub mod catalog;
pub mod dataset;
pub mod error;
pub mod generate;
pub mod inspect;
pub mod intent;
pub mod program;
pub mod query;
pub mod reader;
pub mod resolve;
pub mod validate;
pub mod words;

pub use error::PlanError;

/// `s` cut to `n` characters, with `…` when cut.
pub(crate) fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        return s.to_string();
    }
    let mut out: String = s.chars().take(n).collect();
    out.push('…');
    out
}

/// Reads `goal` against `datasets` into its intents (the body of `planner.decompose`).
pub fn decompose(goal: &str, datasets: &[dataset::Dataset]) -> Result<Vec<rtfs::Value>, PlanError> {
    let q = reader::read(goal, datasets)?;
    let d = datasets
        .iter()
        .find(|d| d.name == q.dataset)
        .ok_or_else(|| PlanError::Goal(format!("no dataset {}", q.dataset)))?;
    intent::intents(&q, d)
}
