//! The `kiln` binary (thin: parse arguments, run, exit).

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    kiln::init_logging();
    kiln::run(kiln::Cli::parse())
}
