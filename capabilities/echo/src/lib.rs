//! `echo` — returns its input unchanged (the trivial capability of the sandbox benchmarks).

use kiln_guest::{Error, Value};

/// The capability.
pub fn echo(input: Value) -> Result<Value, Error> {
    Ok(input)
}

kiln_guest::export!(echo);
