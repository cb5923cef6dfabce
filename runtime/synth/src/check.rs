//! The final word on a candidate: the RTFS interpreter runs it on every example under the
//! step budget, and its results must equal the examples' by RTFS `=`.

use rtfs::{Interpreter, Limits, NoHost, Value};

use crate::spec::Example;

/// Runs candidate sources on a spec's examples.
pub(crate) struct Checker {
    examples: Vec<Example>,
    limits: Limits,
}

impl Checker {
    pub(crate) fn new(examples: &[Example], steps: u64) -> Checker {
        Checker {
            examples: examples.to_vec(),
            limits: Limits {
                steps,
                ..Limits::default()
            },
        }
    }

    /// Whether `source` (a `(fn [params…] body)`) gives every example's result.
    pub(crate) fn passes(&self, source: &str) -> bool {
        let Ok(mut f) = Compiled::new(source, self.limits) else {
            return false;
        };
        self.examples
            .iter()
            .all(|e| matches!(f.apply(&e.args), Ok(v) if rtfs::order::equal(&v, &e.out)))
    }
}

/// A function source compiled by the RTFS interpreter, ready to be applied.
///
/// ```
/// let mut f = kiln_synth::Compiled::new("(fn [xs] (count xs))", rtfs::Limits::default()).unwrap();
/// let xs = rtfs::Value::vector(vec![rtfs::Value::Int(1)]);
/// assert_eq!(f.apply(&[xs]).unwrap(), rtfs::Value::Int(1));
/// ```
pub struct Compiled {
    interp: Interpreter,
    f: Value,
}

impl Compiled {
    /// Compiles `source`, which must evaluate to a function, under `limits` (used for every
    /// later application too).
    pub fn new(source: &str, limits: Limits) -> Result<Compiled, rtfs::Error> {
        let mut interp = Interpreter::new(limits);
        let program = interp.compile(source, None)?;
        let f = interp.run(&program, &mut NoHost)?;
        if !matches!(f, Value::Fn(_)) {
            return Err(rtfs::Error::type_error("kiln-synth", "a function", &f));
        }
        Ok(Compiled { interp, f })
    }

    /// Applies the function to arguments in the pure environment.
    pub fn apply(&mut self, args: &[Value]) -> Result<Value, rtfs::Error> {
        self.interp.apply(&self.f, args, &mut NoHost)
    }
}
