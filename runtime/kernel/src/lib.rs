//! kiln — the governance kernel and its command line. So far: evaluating RTFS (`kiln eval`,
//! `kiln run`, `kiln repl`) in the pure environment, and installing and calling sandboxed
//! capabilities (`kiln cap install|list`, `kiln call`); governance arrives with issue #5.

pub mod caps;
pub mod cli;
pub mod dispatch;
pub mod governance;
pub mod kernel;
pub mod natives;
pub mod plan;
pub mod records;
pub mod report;
