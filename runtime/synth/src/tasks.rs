//! Benchmark task files (`data/README.md`): tab-separated `id tier params description
//! examples reference`, and the protocol's held-out check against the reference.

use rtfs::{Limits, Value};

use crate::check::Compiled;
use crate::spec::{Spec, SpecError};

/// One benchmark task.
///
/// ```
/// let tsv = "id\ttier\tparams\tdescription\texamples\treference\n\
///            inc\tT1\t[[x :int]]\tAdd one.\t[{:args [1] :out 2}]\t(fn [x] (inc x))\n";
/// let tasks = kiln_synth::tasks::parse_tsv(tsv).unwrap();
/// assert_eq!(tasks[0].id, "inc");
/// assert_eq!(tasks[0].spec().unwrap().params[0].0, "x");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Task {
    pub id: String,
    pub tier: String,
    /// RTFS source of the `[[name schema] …]` vector.
    pub params: String,
    pub description: String,
    /// RTFS source of the examples vector.
    pub examples: String,
    /// The reference implementation, `(fn [params…] body)`.
    pub reference: String,
}

/// A task file that does not follow the format.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TaskError {
    #[error("line {line}: {message}")]
    Format { line: usize, message: String },
    #[error("task {id}: {message}")]
    Spec { id: String, message: String },
}

/// The header line of a task file.
pub const HEADER: &str = "id\ttier\tparams\tdescription\texamples\treference";

/// Parses a task file.
///
/// ```
/// assert!(kiln_synth::tasks::parse_tsv("not a header\n").is_err());
/// ```
pub fn parse_tsv(text: &str) -> Result<Vec<Task>, TaskError> {
    let mut lines = text.lines().enumerate();
    match lines.next() {
        Some((_, h)) if h.trim_end_matches('\r') == HEADER => {}
        _ => {
            return Err(TaskError::Format {
                line: 1,
                message: format!("the header must be `{}`", HEADER.replace('\t', " ")),
            });
        }
    }
    let mut out: Vec<Task> = Vec::new();
    for (i, line) in lines {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() != 6 {
            return Err(TaskError::Format {
                line: i + 1,
                message: format!("6 tab-separated fields expected, found {}", f.len()),
            });
        }
        if out.iter().any(|t| t.id == f[0]) {
            return Err(TaskError::Format {
                line: i + 1,
                message: format!("the id `{}` is used twice", f[0]),
            });
        }
        out.push(Task {
            id: f[0].to_string(),
            tier: f[1].to_string(),
            params: f[2].to_string(),
            description: f[3].to_string(),
            examples: f[4].to_string(),
            reference: f[5].to_string(),
        });
    }
    Ok(out)
}

fn read(id: &str, what: &str, src: &str) -> Result<Value, TaskError> {
    rtfs::reader::read_expr(src, &Default::default())
        .map(|f| f.to_value())
        .map_err(|e| TaskError::Spec {
            id: id.to_string(),
            message: format!("{what}: {}", e.message()),
        })
}

impl Task {
    /// The spec the synthesizer is given: params, description and examples.
    pub fn spec(&self) -> Result<Spec, TaskError> {
        let params = read(&self.id, "params", &self.params)?;
        let examples = read(&self.id, "examples", &self.examples)?;
        let map = Value::map(vec![
            (Value::keyword("params"), params),
            (Value::keyword("examples"), examples),
            (Value::keyword("description"), Value::str(&self.description)),
        ]);
        Spec::parse(&map).map_err(|e: SpecError| TaskError::Spec {
            id: self.id.clone(),
            message: e.to_string(),
        })
    }

    /// The protocol's held-out cases: inputs from [`crate::inputs::generate`] with `seed`
    /// on which the reference succeeds, `n` of them (inputs on which it fails are replaced by
    /// further draws), with the reference's results.
    pub fn held_out(&self, seed: u64, n: usize) -> Result<Vec<(Vec<Value>, Value)>, TaskError> {
        let spec = self.spec()?;
        let mut reference =
            Compiled::new(&self.reference, Limits::default()).map_err(|e| TaskError::Spec {
                id: self.id.clone(),
                message: format!("reference: {}", e.message()),
            })?;
        let mut out = Vec::new();
        for args in crate::inputs::generate(&spec.params, seed, n * 20) {
            if out.len() == n {
                break;
            }
            if let Ok(v) = reference.apply(&args) {
                out.push((args, v));
            }
        }
        Ok(out)
    }
}

/// Whether a candidate source gives the expected result on every case.
///
/// ```
/// let cases = vec![(vec![rtfs::Value::Int(1)], rtfs::Value::Int(2))];
/// assert!(kiln_synth::tasks::passes("(fn [x] (inc x))", &cases));
/// assert!(!kiln_synth::tasks::passes("(fn [x] x)", &cases));
/// ```
pub fn passes(source: &str, cases: &[(Vec<Value>, Value)]) -> bool {
    let Ok(mut f) = Compiled::new(source, Limits::default()) else {
        return false;
    };
    cases
        .iter()
        .all(|(args, want)| matches!(f.apply(args), Ok(v) if rtfs::order::equal(&v, want)))
}
