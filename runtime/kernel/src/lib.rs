//! kiln — the governance kernel and its command line. So far: evaluating RTFS (`kiln eval`,
//! `kiln run`, `kiln repl`) in the pure environment; the store, sandbox and governance arrive
//! with issues #3–#5.

pub mod cli;
pub mod report;
