//! The build pipeline: `cargo xtask test | demo | bench [rtfs|peers|sandbox] | build-guests`.

#![forbid(unsafe_code)]

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
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .map_err(|e| e.to_string())?;
    let kiln = |args: &[&str]| {
        println!(
            "$ kiln {}",
            args.iter()
                .map(|a| if a.contains(' ') || a.contains('{') {
                    format!("'{a}'")
                } else {
                    a.to_string()
                })
                .collect::<Vec<_>>()
                .join(" ")
        );
        let _ = cargo()
            .args(["run", "--quiet", "-p", "kiln", "--"])
            .args(args)
            .status();
        println!();
    };
    // The same, printing what it says and returning its exit code and output.
    let kiln_capture = |args: &[&str]| -> Result<(Option<i32>, String), String> {
        println!("$ kiln {}", args.join(" "));
        let out = cargo()
            .args(["run", "--quiet", "-p", "kiln", "--"])
            .args(args)
            .output()
            .map_err(|e| e.to_string())?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        print!("{stdout}");
        eprint!("{}", String::from_utf8_lossy(&out.stderr));
        println!();
        Ok((out.status.code(), stdout))
    };
    println!("== RTFS in the pure environment\n");
    kiln(&[
        "eval",
        "(let [fib (fn [n] (if (< n 2) n (+ (fib (- n 1)) (fib (- n 2)))))] (fib 25))",
    ]);
    kiln(&[
        "eval",
        "(->> (range 10) (filter odd?) (map #(* % %)) (reduce +))",
    ]);
    kiln(&[
        "eval",
        "(try (/ 1 0) (catch :error/division-by-zero e (:message e)))",
    ]);
    kiln(&["eval", "(let [f (fn [n] (+ 1 (f (+ n 1))))] (f 0))"]);
    kiln(&["eval", "(+ 1"]);

    println!("== Capabilities as WebAssembly\n");
    build_guests()?;
    let home = root.join("target/demo-home");
    let _ = std::fs::remove_dir_all(&home);
    let data = root.join("target/demo-data");
    let _ = std::fs::remove_dir_all(&data);
    std::fs::create_dir_all(&data).map_err(|e| e.to_string())?;
    std::fs::write(
        data.join("issues.json"),
        r#"[{"id": 1, "labels": ["bug"]}, {"id": 2, "labels": ["docs", "bug"]}]"#,
    )
    .map_err(|e| e.to_string())?;
    let h = home.to_str().ok_or("non-UTF-8 path")?.to_string();
    let wasm = |t: &str, n: &str| {
        root.join("capabilities/target")
            .join(t)
            .join("release")
            .join(format!("{n}.wasm"))
            .display()
            .to_string()
    };
    kiln(&[
        "--home",
        &h,
        "cap",
        "install",
        &wasm("wasm32-unknown-unknown", "text_words"),
        "--id",
        "text.words",
    ]);
    kiln(&[
        "--home",
        &h,
        "call",
        "text.words",
        r#"{:text "to be or not to be"}"#,
    ]);
    kiln(&[
        "--home",
        &h,
        "call",
        "text.words",
        r#"{:text "endless"}"#,
        "--fuel",
        "500",
    ]);
    let manifest = root.join("target/demo-data.rtfs");
    std::fs::write(&manifest, format!(
        r#"(capability "fs.read_json" :input-schema [:map [:path :string]] :effects [:fs/read :log :env] :grants {{:dirs [{{:path "{}" :as "/data"}}]}})"#,
        data.display()
    )).map_err(|e| e.to_string())?;
    kiln(&[
        "--home",
        &h,
        "cap",
        "install",
        &wasm("wasm32-wasip1", "fs_read_json"),
        "--id",
        "fs.read_json",
        "--manifest",
        &manifest.display().to_string(),
    ]);
    kiln(&[
        "--home",
        &h,
        "call",
        "fs.read_json",
        r#"{:path "/data/issues.json"}"#,
    ]);
    kiln(&[
        "--home",
        &h,
        "call",
        "fs.read_json",
        r#"{:path "/data/../../etc/passwd"}"#,
    ]);
    kiln(&["--home", &h, "cap", "list"]);

    println!("== Self-programming: the seed's meta-plan over 240 issues, with no LLM\n");
    // The meta-plan, verbatim from the seed, over a bundled dataset the human hands the run.
    let meta = root.join("plans/self-programming.rtfs");
    println!(
        "$ cat plans/self-programming.rtfs\n{}",
        std::fs::read_to_string(&meta).map_err(|e| e.to_string())?
    );
    let sp = root.join("target/demo-self-home");
    let _ = std::fs::remove_dir_all(&sp);
    let sp = sp.to_str().ok_or("non-UTF-8 path")?.to_string();
    let data = root.join("demo/data").display().to_string();
    let meta = meta.display().to_string();
    let decompose = root.join("demo/decompose.rtfs").display().to_string();
    println!(
        "-- what planner.decompose reads in the goal, and what already serves it (nothing yet)\n"
    );
    kiln(&["--home", &sp, "run", &decompose, "--data", &data]);
    // At trust level 0 every self-modification, and running the agent's plan, waits for a
    // human: each time the run stops with the request, the human reads and approves it, and
    // the same command continues.
    let until_answered = |what: &str| -> Result<(), String> {
        println!("-- {what}\n");
        for _ in 0..4 {
            let (code, out) = kiln_capture(&["--home", &sp, "run", &meta, "--data", &data])?;
            if code != Some(3) {
                return Ok(());
            }
            let n = out
                .split(":approval ")
                .nth(1)
                .and_then(|r| r.split('}').next())
                .ok_or("the run stopped without naming its approval request")?
                .trim()
                .to_string();
            kiln(&["--home", &sp, "approvals", "show", &n]);
            kiln(&["--home", &sp, "approvals", "approve", &n]);
        }
        Err("the meta-plan kept waiting for approvals".into())
    };
    until_answered(
        "the first run: synthesize what is missing, validate, execute (a human approves)",
    )?;
    until_answered(
        "the second run: the capability the first one made is found; nothing is synthesized",
    )?;
    kiln(&["--home", &sp, "plans", "list"]);
    kiln(&["--home", &sp, "chain", "show", "--kind", "synthesis"]);
    kiln(&["--home", &sp, "chain", "show", "--kind", "decision"]);
    let made = "generated/issues-count-by-label";
    kiln(&["--home", &sp, "cap", "show", made]);
    kiln(&["--home", &sp, "cap", "history", made]);
    kiln(&["--home", &sp, "cap", "rollback", made]);
    until_answered("after the rollback nothing serves the intent: the next run makes it again")?;
    kiln(&["--home", &sp, "verify"]);

    println!("== The causal chain: every decision, verifiable\n");
    kiln(&["--home", &h, "chain", "show", "--kind", "decision"]);
    kiln(&["--home", &h, "chain", "head"]);
    kiln(&["--home", &h, "verify"]);
    Ok(())
}

/// The capabilities under `capabilities/` and the wasm target each is built for.
const GUESTS: [(&str, &str); 8] = [
    ("text-words", "wasm32-unknown-unknown"),
    ("json-parse", "wasm32-unknown-unknown"),
    ("json-emit", "wasm32-unknown-unknown"),
    ("rtfs-engine", "wasm32-unknown-unknown"),
    ("hash-sha256", "wasm32-unknown-unknown"),
    ("echo", "wasm32-unknown-unknown"),
    ("fs-read-json", "wasm32-wasip1"),
    ("fs-write-text", "wasm32-wasip1"),
];

/// Builds every capability for wasm32 in release and records each artifact's SHA-256 in
/// `capabilities/target/guests.sha256` (name, target, sha256, bytes).
fn build_guests() -> Result<(), String> {
    use sha2::Digest;
    ensure_targets()?;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let manifest = root.join("capabilities/Cargo.toml");
    let mut lines = Vec::new();
    for target in ["wasm32-unknown-unknown", "wasm32-wasip1"] {
        let mut cmd = cargo();
        cmd.args(["build", "--release", "--target", target, "--manifest-path"])
            .arg(&manifest);
        for (name, t) in GUESTS {
            if t == target {
                cmd.args(["-p", name]);
            }
        }
        run(&mut cmd)?;
    }
    for (name, target) in GUESTS {
        let file = root
            .join("capabilities/target")
            .join(target)
            .join("release")
            .join(format!("{}.wasm", name.replace('-', "_")));
        let bytes = std::fs::read(&file).map_err(|e| format!("{}: {e}", file.display()))?;
        let sha: String = sha2::Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        println!("{name:<14} {target:<24} {sha} {:>9} bytes", bytes.len());
        lines.push(format!("{name} {target} {sha} {}", bytes.len()));
    }
    let list = root.join("capabilities/target/guests.sha256");
    std::fs::write(&list, lines.join("\n") + "\n")
        .map_err(|e| format!("{}: {e}", list.display()))?;
    Ok(())
}

/// B5: the first `kiln call` in a new process with a warm compiled-code cache (median of 15
/// runs of the release binary, process start included).
fn bench_first_call(root: &std::path::Path) -> Result<(), String> {
    run(cargo().args(["build", "--release", "-p", "kiln"]))?;
    let kiln = root.join("target/release/kiln");
    let home = root.join("target/bench-home");
    let _ = std::fs::remove_dir_all(&home);
    let wasm = root.join("capabilities/target/wasm32-unknown-unknown/release/text_words.wasm");
    let status = Command::new(&kiln)
        .arg("--home")
        .arg(&home)
        .args(["cap", "install"])
        .arg(&wasm)
        .args(["--id", "text.words"])
        .output()
        .map_err(|e| e.to_string())?;
    if !status.status.success() {
        return Err(format!(
            "install failed: {}",
            String::from_utf8_lossy(&status.stderr)
        ));
    }
    let mut times = Vec::new();
    for _ in 0..15 {
        let t = std::time::Instant::now();
        let out = Command::new(&kiln)
            .arg("--home")
            .arg(&home)
            .args(["call", "text.words", "{:text \"a b a\"}"])
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(format!(
                "call failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        times.push(t.elapsed());
    }
    times.sort();
    println!(
        "B5 first call in a new process, warm cache: median {:.1} ms (min {:.1}, max {:.1})",
        times[7].as_secs_f64() * 1e3,
        times[0].as_secs_f64() * 1e3,
        times[14].as_secs_f64() * 1e3
    );
    Ok(())
}

/// `bench rtfs`: criterion over the workloads; `bench peers`: kiln beside Rhai with ratios;
/// `bench sandbox`: B1, B3, B4 (ratios in one run) and B5; `bench store`: chain appends,
/// verify, rollback and register beside bare SQLite; `bench governance`: a governed call
/// beside a direct sandbox call; `bench synth [FILE.tsv] [--json OUT]`: the PBE protocol on the
/// public tasks or on FILE; `bench goal`: the meta-plan for a goal, first and second run, and
/// each native's share.
fn bench(which: Option<&str>, rest: &[String]) -> Result<(), String> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .map_err(|e| e.to_string())?;
    if matches!(which, None | Some("sandbox")) {
        build_guests()?;
        run(cargo().args(["bench", "-p", "kiln-sandbox", "--bench", "sandbox"]))?;
        bench_first_call(&root)?;
    }
    if matches!(which, None | Some("rtfs")) {
        run(cargo().args(["bench", "-p", "rtfs", "--bench", "workloads"]))?;
    }
    if matches!(which, None | Some("store")) {
        run(cargo().args(["bench", "-p", "kiln-store", "--bench", "store"]))?;
    }
    if matches!(which, None | Some("governance")) {
        build_guests()?;
        run(cargo().args(["bench", "-p", "kiln-kernel", "--bench", "governance"]))?;
    }
    if matches!(which, None | Some("synth")) {
        // The bench's own paths are relative to its crate; a file given here is relative to
        // where the command was typed.
        let here = std::env::current_dir().map_err(|e| e.to_string())?;
        let mut c = cargo();
        c.args(["bench", "-p", "kiln-synth", "--bench", "synth", "--"]);
        let mut args = rest.iter();
        while let Some(a) = args.next() {
            if a == "--json" {
                c.arg("--json");
                if let Some(out) = args.next() {
                    c.arg(here.join(out));
                }
            } else {
                c.arg(here.join(a));
            }
        }
        run(&mut c)?;
    }
    if matches!(which, None | Some("goal")) {
        run(cargo().args(["bench", "-p", "kiln-kernel", "--bench", "goal"]))?;
    }
    if matches!(which, None | Some("peers")) {
        let peers = root.join("benches/peers/Cargo.toml");
        run(cargo()
            .args(["run", "--release", "--bin", "kiln-peers", "--manifest-path"])
            .arg(&peers))?;
        // B2: Extism 1.30.0 beside kiln on the same trivial echo.
        build_guests()?;
        run(cargo()
            .args([
                "build",
                "--release",
                "--target",
                "wasm32-unknown-unknown",
                "--manifest-path",
            ])
            .arg(root.join("benches/peers/guests/extism-echo/Cargo.toml")))?;
        run(cargo()
            .args(["run", "--release", "--bin", "b2", "--manifest-path"])
            .arg(&peers))?;
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("test") => test(),
        Some("demo") => demo(),
        Some("bench") => bench(
            args.get(1).map(String::as_str),
            args.get(2..).unwrap_or_default(),
        ),
        Some("build-guests") => build_guests(),
        _ => {
            eprintln!(
                "usage: cargo xtask test | demo | bench [rtfs|peers|sandbox|store|governance|synth [FILE.tsv] [--json OUT]|goal] | build-guests"
            );
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
