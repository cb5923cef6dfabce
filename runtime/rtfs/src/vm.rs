//! The evaluation machine. This first cut defines function values only; the bytecode machine
//! that runs [`crate::code`] lands next (issue #2, M2).

/// What a function value is.
#[derive(Debug)]
pub enum Function {
    /// A builtin, by name.
    Builtin(&'static str),
}

impl Function {
    /// The function's name, when it has one.
    pub fn name(&self) -> Option<&str> {
        match self {
            Function::Builtin(n) => Some(n),
        }
    }
}
