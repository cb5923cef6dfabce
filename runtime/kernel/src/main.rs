//! The `kiln` binary (thin: parse arguments, run, exit).

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    kiln::cli::init_logging();
    kiln::cli::run(kiln::cli::Cli::parse())
}
