//! Builds the RTFS engine guest (`capabilities/rtfs-engine`) for wasm32 with the same command
//! as `cargo xtask build-guests`, so that kiln carries it inside its binary: a new home runs
//! RTFS capabilities with no manual install.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let here = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let root = here.join("../..");
    for watched in [
        "runtime/rtfs/src",
        "runtime/rtfs/Cargo.toml",
        "guest-sdk",
        "capabilities/rtfs-engine",
        "capabilities/Cargo.toml",
        "capabilities/Cargo.lock",
    ] {
        println!("cargo::rerun-if-changed={}", root.join(watched).display());
    }
    let manifest = root.join("capabilities/Cargo.toml");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args([
        "build",
        "--quiet",
        "--release",
        "--target",
        "wasm32-unknown-unknown",
        "-p",
        "rtfs-engine",
        "--manifest-path",
    ])
    .arg(&manifest);
    // The guest is its own build: nothing of this build's configuration may leak into it
    // (clippy's wrapper, this crate's flags, its target directory).
    for (key, _) in std::env::vars_os() {
        let Some(k) = key.to_str() else { continue };
        let keep = matches!(k, "CARGO_HOME" | "CARGO_MAKEFLAGS" | "CARGO_NET_OFFLINE");
        if (k.starts_with("CARGO_") && !keep)
            || matches!(
                k,
                "RUSTC"
                    | "RUSTC_WRAPPER"
                    | "RUSTC_WORKSPACE_WRAPPER"
                    | "RUSTFLAGS"
                    | "RUSTDOCFLAGS"
                    | "TARGET"
                    | "HOST"
                    | "OUT_DIR"
                    | "OPT_LEVEL"
                    | "PROFILE"
                    | "DEBUG"
            )
        {
            cmd.env_remove(&key);
        }
    }
    let status = cmd
        .status()
        .unwrap_or_else(|e| fail(&format!("cannot run cargo: {e}")));
    if !status.success() {
        fail(&format!(
            "building the RTFS engine guest failed ({status}); it needs the wasm32-unknown-unknown target: `rustup target add wasm32-unknown-unknown` (`cargo xtask test` and `cargo xtask demo` add it for you)"
        ));
    }
    let built = root.join("capabilities/target/wasm32-unknown-unknown/release/rtfs_engine.wasm");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets it"));
    copy(&built, &out.join("rtfs_engine.wasm"));
}

fn copy(from: &Path, to: &Path) {
    let bytes = std::fs::read(from)
        .unwrap_or_else(|e| fail(&format!("cannot read {}: {e}", from.display())));
    std::fs::write(to, bytes)
        .unwrap_or_else(|e| fail(&format!("cannot write {}: {e}", to.display())));
}

fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    std::process::exit(1);
}
