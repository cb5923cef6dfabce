//! The `kiln` binary (thin: arguments and printing).

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [cmd, expr] if cmd == "read" => match kiln::read_and_print(expr) {
            Ok(s) => {
                println!("{s}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(1)
            }
        },
        _ => {
            eprintln!("usage: kiln read EXPR   (evaluation lands with issue #2 M2)");
            ExitCode::from(2)
        }
    }
}
