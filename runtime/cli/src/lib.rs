//! kiln — the command line (ARCHITECTURE.md §CLI contract): parses arguments, calls the
//! kernel (crate `kiln-kernel`), prints its data as text or JSON. It holds no logic of its
//! own. Exit codes: 0 success, 1 error, 2 usage, 3 denied or waiting for approval.

#![forbid(unsafe_code)]

pub mod args;
pub mod commands;
pub mod json;
pub mod output;
pub mod repl;
pub mod report;
pub mod show;
pub mod synth;

pub use args::Cli;
pub use commands::run;

/// Diagnostics go to stderr through `tracing`, filtered by `KILN_LOG` (e.g. `KILN_LOG=debug`,
/// or `KILN_LOG=kiln_sandbox=debug`); warnings only by default. Spans: `plan` per plan run,
/// `call` per capability call, `capability_call` per sandboxed execution (fuel, µs, outcome).
pub fn init_logging() {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_env("KILN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    // A malformed KILN_LOG falls back to warnings rather than stopping the command.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}
