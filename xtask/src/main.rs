//! The build pipeline: `cargo xtask test | demo`.

use std::process::{Command, ExitCode};

const WASM_TARGETS: [&str; 2] = ["wasm32-unknown-unknown", "wasm32-wasip1"];

fn run(cmd: &mut Command) -> Result<(), String> {
    eprintln!("xtask: running {cmd:?}");
    let status = cmd
        .status()
        .map_err(|e| format!("cannot start {cmd:?}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{cmd:?} failed with {status}"))
    }
}

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

/// Installs the wasm targets the toolchain file names when they are missing.
fn ensure_targets() -> Result<(), String> {
    let out = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map_err(|e| format!("rustup is needed to install the wasm targets: {e}"))?;
    let installed = String::from_utf8_lossy(&out.stdout).to_string();
    let missing: Vec<&str> = WASM_TARGETS
        .iter()
        .copied()
        .filter(|t| !installed.lines().any(|l| l.trim() == *t))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    run(Command::new("rustup")
        .args(["target", "add"])
        .args(&missing))
}

fn test() -> Result<(), String> {
    ensure_targets()?;
    run(cargo().args(["fmt", "--all", "--", "--check"]))?;
    run(cargo().args(["test", "--workspace"]))?;
    // `rtfs` must stay pure: it builds for wasm32-unknown-unknown.
    run(cargo().args(["build", "-p", "rtfs", "--target", "wasm32-unknown-unknown"]))?;
    run(cargo().args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    Ok(())
}

fn demo() -> Result<(), String> {
    for expr in [
        "{:b 1 :a [1 2.5 \"x\"]}",
        "'(call \"planner.decompose\" {:goal \"x\"})",
        "(+ 1",
    ] {
        println!("$ kiln read '{expr}'");
        let _ = cargo()
            .args(["run", "--quiet", "-p", "kiln", "--", "read", expr])
            .status();
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("test") => test(),
        Some("demo") => demo(),
        _ => {
            eprintln!("usage: cargo xtask test | demo");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}
