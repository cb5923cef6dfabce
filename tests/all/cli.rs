//! The `kiln` command line as a user meets it (ARCHITECTURE.md §CLI contract).

use std::process::{Command, Output};

fn kiln(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kiln-under-test"))
        .args(args)
        .env_remove("KILN_HOME")
        .output()
        .expect("run kiln")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn eval_prints_values_and_limits_end_cleanly() {
    let o = kiln(&[
        "eval",
        "(let [fib (fn [n] (if (< n 2) n (+ (fib (- n 1)) (fib (- n 2)))))] (fib 25))",
    ]);
    assert_eq!(
        (o.status.code(), text(&o.stdout).as_str()),
        (Some(0), "75025\n")
    );
    let o = kiln(&["eval", "(loop [i 0] (if (< i 1000000) (recur (inc i)) i))"]);
    assert_eq!(text(&o.stdout), "1000000\n");
    // Each one form (`kiln eval` reads one expression), each stopped by a limit.
    for (runaway, limit, max) in [
        (
            "(let [f (fn [n] (+ 1 (f (+ n 1))))] (f 0))",
            "depth",
            10_000,
        ),
        ("(loop [] (recur))", "steps", 100_000_000),
        ("(do (defn f [n] (f (inc n))) (f 0))", "depth", 10_000),
    ] {
        let o = kiln(&["eval", runaway]);
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{runaway}: {err}");
        let mut lines = err.lines();
        assert_eq!(
            lines.next(),
            Some(format!("error[:error/limit]: {limit} limit of {max} exceeded").as_str()),
            "{runaway}: {err}"
        );
        assert_eq!(
            lines.nth(1),
            Some(format!("  data: {{:limit :{limit} :max {max}}}").as_str()),
            "{runaway}: {err}"
        );
    }
}

#[test]
fn errors_say_where_and_what() {
    let o = kiln(&["eval", "(+ 1"]);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        err.contains("end of input") && err.contains("expected `)`"),
        "{err}"
    );
    assert!(err.contains("<expr>:1:5"), "{err}");

    let o = kiln(&["eval", "(frobnicate 1)"]);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("error[:error/undefined-symbol]") && err.contains("frobnicate"),
        "{err}"
    );

    let dir = std::env::temp_dir().join(format!("kiln-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("plan.rtfs");
    let home = dir.join("home");
    let home = home.to_str().unwrap();
    // Reading a home that does not exist is an error, and creates nothing.
    let typo = dir.join("no-such-home");
    for args in [&["verify"][..], &["chain", "show"], &["approvals", "list"]] {
        let mut all = vec!["--home", typo.to_str().unwrap()];
        all.extend_from_slice(args);
        let o = kiln(&all);
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        assert!(
            text(&o.stderr).contains("there is no kiln home at"),
            "{}",
            text(&o.stderr)
        );
        assert!(!typo.exists(), "{args:?} created the home");
    }
    std::fs::write(&file, "(defn f [x]\n  (/ x 0))\n\n(f 5)\n").unwrap();
    let o = kiln(&["--home", home, "run", file.to_str().unwrap()]);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        err.contains("plan.rtfs:2:3") && err.contains("(/ x 0)"),
        "{err}"
    );

    std::fs::write(&file, "(call \"nobody.here\" {:goal \"x\"})").unwrap();
    let o = kiln(&["--home", home, "run", file.to_str().unwrap()]);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("error[:error/capability]")
            && err.contains(":reason :unknown")
            && err.contains("no capability \"nobody.here\" is installed"),
        "{err}"
    );

    let o = kiln(&[
        "--home",
        home,
        "run",
        dir.join("missing.rtfs").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("cannot read"));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn usage_json_and_home_are_accepted() {
    assert_eq!(kiln(&[]).status.code(), Some(2));
    assert_eq!(kiln(&["eval"]).status.code(), Some(2));
    assert_eq!(kiln(&["frobnicate"]).status.code(), Some(2));
    let o = kiln(&["--json", "--home", "/nonexistent/home", "eval", "(/ 1 0)"]);
    assert_eq!(o.status.code(), Some(1));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(j["error"]["kind"], ":error/division-by-zero");
    assert_eq!(j["error"]["location"]["line"], 1);
    let o = kiln(&["eval", "--json", "{:b [1 2.0] :a \"x\"}"]);
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    // Values are JSON, mapped as serialize-json maps them.
    assert_eq!(j["value"], serde_json::json!({"a": "x", "b": [1, 2.0]}));
}

#[test]
fn odd_input_never_panics() {
    for input in [
        "",
        " ",
        ")",
        "#",
        "\"\\u12",
        "(#(#(1)))",
        "{:a}",
        "(capability)",
        "\u{1}",
        "(fn [& & x])",
        "##Nope",
        "(let [[a & b c] [1]] a)",
    ] {
        let o = kiln(&["eval", input]);
        let err = text(&o.stderr);
        assert!(!err.contains("panicked"), "{input:?}: {err}");
        assert!(
            o.status.code() == Some(0) || o.status.code() == Some(1),
            "{input:?}: {:?}",
            o.status
        );
    }
}

#[test]
fn the_repl_reads_multi_line_forms_and_keeps_definitions() {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_kiln-under-test"))
        .args(["--home", "/nonexistent/kiln-home", "repl"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start repl");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"(defn add [a b]\n  (+ a\n     b))\n(add 40 2)\n(/ 1 0)\n[1\n 2]\n")
        .unwrap();
    let o = child.wait_with_output().unwrap();
    let out = text(&o.stdout);
    assert_eq!(o.status.code(), Some(0));
    assert!(
        out.contains("#<fn add>") && out.contains("\n42\n") && out.contains("[1 2]"),
        "{out}"
    );
    assert!(text(&o.stderr).contains("error[:error/division-by-zero]"));
}

#[test]
fn capabilities_install_list_and_call_through_the_cli() {
    let base = std::env::temp_dir().join(format!("kiln-cli-caps-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    let home = base.join("home");
    let data = base.join("data");
    let secret = base.join("secret");
    std::fs::create_dir_all(data.join("sub")).unwrap();
    std::fs::create_dir_all(&secret).unwrap();
    std::fs::write(data.join("sub/x.json"), r#"{"n": [1, 2]}"#).unwrap();
    std::fs::write(secret.join("s.json"), r#"{"key": "hunter2"}"#).unwrap();
    std::os::unix::fs::symlink(secret.join("s.json"), data.join("link.json")).unwrap();
    let h = home.to_str().unwrap();
    let words = crate::guests::wasm_path("text_words", "wasm32-unknown-unknown");
    let o = kiln(&[
        "--home",
        h,
        "cap",
        "install",
        words.to_str().unwrap(),
        "--id",
        "text.words",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let version = text(&o.stdout).trim().to_string();
    assert_eq!(version.len(), 64);
    let o = kiln(&[
        "--home",
        h,
        "call",
        "text.words",
        r#"{:text "to be or not to be"}"#,
    ]);
    assert_eq!(
        text(&o.stdout).trim(),
        r#"{:counts {"be" 2 "not" 1 "or" 1 "to" 2} :distinct 4 :words 6}"#
    );
    // Pinned by prefix; a bad prefix is a clear error.
    let pinned = format!("text.words@{}", &version[..8]);
    assert_eq!(
        kiln(&["--home", h, "call", &pinned, r#"{:text "x"}"#])
            .status
            .code(),
        Some(0)
    );
    let o = kiln(&["--home", h, "call", "text.words@ffff0000", "{}"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("text.words has no version ffff0000"),
        "{}",
        text(&o.stderr)
    );
    // Limits from the command line.
    let o = kiln(&[
        "--home",
        h,
        "call",
        "text.words",
        r#"{:text "x"}"#,
        "--fuel",
        "1000",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("ran out of fuel"),
        "{}",
        text(&o.stderr)
    );

    let manifest = base.join("fs.rtfs");
    std::fs::write(
        &manifest,
        format!(
            r#"(capability "fs.read_json"
                 :input-schema [:map [:path :string]]
                 :effects [:fs/read :log :env]
                 :grants {{:dirs [{{:path "{}" :as "/data"}}]}})"#,
            data.display()
        ),
    )
    .unwrap();
    let fs = crate::guests::wasm_path("fs_read_json", "wasm32-wasip1");
    let install = |m: &std::path::Path| {
        kiln(&[
            "--home",
            h,
            "cap",
            "install",
            fs.to_str().unwrap(),
            "--id",
            "fs.read_json",
            "--manifest",
            m.to_str().unwrap(),
        ])
    };
    let o = install(&manifest);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let o = kiln(&[
        "--home",
        h,
        "call",
        "fs.read_json",
        r#"{:path "/data/sub/x.json"}"#,
    ]);
    assert_eq!(
        text(&o.stdout).trim(),
        r#"{"n" [1 2]}"#,
        "{}",
        text(&o.stderr)
    );
    for outside in ["/data/../secret/s.json", "/data/link.json", "/etc/passwd"] {
        let o = kiln(&[
            "--home",
            h,
            "call",
            "fs.read_json",
            &format!("{{:path \"{outside}\"}}"),
        ]);
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{outside}");
        assert!(
            err.contains("fs/denied") && err.contains("cannot read"),
            "{outside}: {err}"
        );
        assert!(!text(&o.stdout).contains("hunter2"));
    }
    // Input schemas are checked before the guest runs.
    let o = kiln(&["--home", h, "call", "fs.read_json", "{:file 1}"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("does not satisfy"),
        "{}",
        text(&o.stderr)
    );
    // A manifest that grants kiln's own home is refused, naming why.
    std::fs::write(
        &manifest,
        format!(r#"(capability "fs.read_json" :effects [:fs/read :log :env] :grants {{:dirs [{{:path "{h}"}}]}})"#),
    )
    .unwrap();
    let o = install(&manifest);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("overlaps kiln's own"),
        "{}",
        text(&o.stderr)
    );
    // Declaring fewer effects than the module imports is refused, naming the import.
    std::fs::write(
        &manifest,
        r#"(capability "fs.read_json" :effects [:log :env])"#,
    )
    .unwrap();
    let o = install(&manifest);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("error: import `wasi_snapshot_preview1.")
            && text(&o.stderr).contains("` needs effect :fs/read, which is not declared"),
        "{}",
        text(&o.stderr)
    );
    let o = kiln(&["--home", h, "cap", "list"]);
    let list = text(&o.stdout);
    assert!(
        list.contains("text.words") && list.contains("fs.read_json"),
        "{list}"
    );
    std::fs::remove_dir_all(&base).ok();
}

#[test]
fn logging_shows_spans_and_never_passes_guest_control_codes_to_the_terminal() {
    let base = std::env::temp_dir().join(format!("kiln-cli-log-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir_all(&base).unwrap();
    // A guest that logs a terminal escape sequence (clear screen) and a bell, then echoes.
    let wasm = crate::sandbox::guest(
        r#"(import "kiln" "log" (func $log (param i32 i32 i32)))"#,
        "(call $log (i32.const 2) (i32.const 100) (i32.const 10))
         (call $ok (local.get $ptr) (local.get $len))",
        r#"(data (i32.const 100) "\1b[2Jboom\07")"#,
    );
    let file = base.join("loud.wasm");
    std::fs::write(&file, wasm).unwrap();
    let manifest = base.join("loud.rtfs");
    std::fs::write(&manifest, r#"(capability "loud" :effects [:log])"#).unwrap();
    let h = base.join("home");
    let h = h.to_str().unwrap();
    let o = kiln(&[
        "--home",
        h,
        "cap",
        "install",
        file.to_str().unwrap(),
        "--id",
        "loud",
        "--manifest",
        manifest.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let o = Command::new(env!("CARGO_BIN_EXE_kiln-under-test"))
        .args(["--home", h, "call", "loud", "7"])
        .env("KILN_LOG", "debug")
        .output()
        .unwrap();
    let (out, err) = (text(&o.stdout), text(&o.stderr));
    assert_eq!(out.trim(), "7", "{err}");
    // The spans of one call: the kernel's `call` around the sandbox's `capability_call`.
    assert!(err.contains("call{id=\"loud\"}"), "{err}");
    assert!(err.contains("capability_call{module="), "{err}");
    assert!(err.contains("capability returned"), "{err}");
    assert!(err.contains("fuel="), "{err}");
    // The guest's text arrives, escaped: no raw ESC or BEL reaches stderr.
    assert!(err.contains("boom"), "{err}");
    assert!(!err.contains('\u{1b}') && !err.contains('\u{7}'), "{err:?}");
    // Without KILN_LOG only the guest's log line is printed, escaped as well.
    let o = kiln(&["--home", h, "call", "loud", "7"]);
    let err = text(&o.stderr);
    assert!(err.contains("log[2] \\u{1b}[2Jboom\\u{7}"), "{err:?}");
    assert!(!err.contains("capability_call"), "{err}");
    let _ = std::fs::remove_dir_all(&base);
}

#[test]
fn store_commands_show_history_diff_roll_back_and_record_every_change() {
    let base = std::env::temp_dir().join(format!("kiln-cli-store-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    let h = base.join("home");
    let h = h.to_str().unwrap();
    let words = crate::guests::wasm_path("text_words", "wasm32-unknown-unknown");
    let echo = crate::guests::wasm_path("echo", "wasm32-unknown-unknown");
    let install = |file: &std::path::Path| {
        let o = kiln(&[
            "--home",
            h,
            "cap",
            "install",
            file.to_str().unwrap(),
            "--id",
            "text.words",
        ]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
        text(&o.stdout).trim().to_string()
    };
    let v1 = install(&words);
    let v2 = install(&echo);
    let out = |args: &[&str]| {
        let mut all = vec!["--home", h];
        all.extend_from_slice(args);
        let o = kiln(&all);
        (o.status.code(), text(&o.stdout), text(&o.stderr))
    };
    let (code, s, _) = out(&["cap", "history", "text.words"]);
    assert_eq!(code, Some(0));
    assert!(s.contains(&format!("  v1   {}", &v1[..12])), "{s}");
    assert!(s.contains(&format!("* v2   {}", &v2[..12])), "{s}");
    let (code, s, _) = out(&["cap", "show", "text.words"]);
    assert_eq!(code, Some(0));
    assert!(
        s.contains(&v2) && s.contains("active:   yes") && s.contains(":parent"),
        "{s}"
    );
    let (_, s, _) = out(&["cap", "diff", "text.words"]);
    assert!(s.contains("module: ") && s.contains("bytes) → "), "{s}");
    // Roll back, then the version runs again.
    let (code, s, _) = out(&["cap", "rollback", "text.words"]);
    assert_eq!(code, Some(0));
    assert!(s.contains(&format!("{} → {}", &v2[..12], &v1[..12])), "{s}");
    let (_, s, _) = out(&["call", "text.words", r#"{:text "a a"}"#]);
    assert!(s.contains(":words 2"), "{s}");
    // Rolling back the first active version leaves none active, recorded.
    let (code, s, _) = out(&["cap", "rollback", "text.words"]);
    assert_eq!(code, Some(0), "{s}");
    assert!(s.contains("→ none"), "{s}");
    let (code, _, e) = out(&["call", "text.words", r#"{:text "a a"}"#]);
    assert_eq!(code, Some(1));
    assert!(e.contains("no active version"), "{e}");
    let (code, _, e) = out(&["cap", "rollback", "text.words"]);
    assert_eq!(code, Some(1), "nothing left to roll back");
    assert!(e.contains("no earlier active version"), "{e}");
    let (code, s, _) = out(&["cap", "rollback", "text.words", "--to", &v2[..10]]);
    assert_eq!(code, Some(0), "{s}");
    let (_, s, _) = out(&["call", "text.words", "42"]);
    assert_eq!(s.trim(), "42", "echo is active again");
    // gc really chooses: every object is a day old (gc judges age by modification time),
    // and beside them lie an object nothing names and two temporary files of interrupted
    // writes, one old and one younger than any write can take.
    let home = std::path::Path::new(h);
    let day = std::time::Duration::from_secs(86_400);
    let orphan = crate::store::put_object(home, b"nothing names this");
    let shard = home.join("objects").join("00");
    std::fs::create_dir_all(&shard).unwrap();
    std::fs::write(shard.join(".tmp-1-old"), b"part").unwrap();
    std::fs::write(shard.join(".tmp-2-new"), b"part").unwrap();
    crate::store::backdate_objects(home, day);
    crate::store::backdate(
        &shard.join(".tmp-2-new"),
        std::time::Duration::from_secs(60),
    );
    let before = crate::store::object_files(home);
    let objects = before.iter().filter(|f| !f.contains(".tmp-")).count();
    let (code, s, e) = out(&["gc", "--grace", "0"]);
    assert_eq!(code, Some(0), "{e}");
    // `--grace 0` is raised to the busy timeout + 50 s.
    assert!(
        s.starts_with(&format!(
            "removed 1 objects (18 bytes) and 1 leftover temporary files unreferenced for over 60 s; kept {} (chain entry ",
            objects - 1
        )),
        "{s}"
    );
    let after = crate::store::object_files(home);
    assert_eq!(
        before.difference(&after).collect::<Vec<_>>(),
        vec!["00/.tmp-1-old", &crate::store::object_file(&orphan)],
        "{s}"
    );
    assert!(after.is_subset(&before));
    // (The young temporary file would be litter for `kiln verify` to note.)
    std::fs::remove_file(shard.join(".tmp-2-new")).unwrap();
    // Every mutating command is on the chain, in order.
    let (_, s, _) = out(&["chain", "show"]);
    let kinds: Vec<&str> = s
        .lines()
        .map(|l| l.split_whitespace().nth(2).unwrap_or(""))
        .collect();
    // Each command opens a session and records the kernel's decision before the change,
    // whose entry follows it; the refused rollback left its decision and nothing else.
    let session = |change: &[&'static str]| {
        let mut v = vec!["session.start", "decision"];
        v.extend_from_slice(change);
        v
    };
    // The first start of the home also registers kiln's natives, the same way.
    let n = kiln_kernel::natives::ALL.len();
    let natives = ["decision", "cap.register", "cap.activate"].repeat(n);
    let want: Vec<&str> = [
        vec!["session.start"],
        natives,
        vec!["decision", "cap.register", "cap.activate"],
        session(&["cap.register", "cap.activate"]),
        session(&["cap.rollback"]),
        session(&["call"]),
        session(&["cap.deactivate"]),
        // (the call of a capability with no active version stopped before any decision)
        session(&[]),
        session(&["cap.rollback"]),
        session(&["call"]),
        session(&["gc"]),
    ]
    .concat();
    assert_eq!(kinds, want, "{s}");
    // The change names the decision that authorised it.
    let (_, s, _) = out(&["--json", "chain", "show", "--kind", "cap.register"]);
    let first: serde_json::Value = serde_json::from_str(s.lines().nth(n).unwrap()).unwrap();
    assert_eq!(first["subject"]["kind"], "wasm", "{s}");
    assert_eq!(first["parent"], 3 * n + 2, "{s}");
    let (_, s, _) = out(&["chain", "show", "--kind", "cap.rollback"]);
    assert_eq!(s.lines().count(), 2, "{s}");
    // A call's entry holds its input and output as objects.
    let (_, s, _) = out(&["--json", "chain", "show", "--kind", "call"]);
    let call: serde_json::Value = serde_json::from_str(s.lines().next().unwrap()).unwrap();
    assert_eq!(call["input"].as_str().map(str::len), Some(64), "{s}");
    assert_eq!(call["output"].as_str().map(str::len), Some(64), "{s}");
    let (_, s, _) = out(&["--json", "chain", "show", "--kind", "gc"]);
    let v: serde_json::Value = serde_json::from_str(s.trim()).unwrap();
    assert_eq!(v["kind"], "gc");
    assert_eq!(v["seq"], want.len());
    let (_, s, _) = out(&["chain", "export"]);
    assert_eq!(s.lines().count(), want.len());
    for line in s.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["hash"].as_str().unwrap().len(), 64);
    }
    let (code, s, _) = out(&["verify"]);
    assert_eq!(code, Some(0), "{s}");
    assert!(s.starts_with("ok: "), "{s}");
    // Odd arguments get clear errors, never a panic.
    for (args, want) in [
        (vec!["chain", "prove", "0"], "no chain entry 0"),
        (vec!["chain", "prove", "99"], "no chain entry 99"),
        (vec!["verify", "--head", "garbage"], "expected SIZE:ROOT"),
        (
            vec!["chain", "prove", "--since", "99:00"],
            "expected SIZE:ROOT",
        ),
        (
            vec!["cap", "rollback", "text.words", "--to", "xyz"],
            "at least 4 hex digits",
        ),
        (
            vec!["cap", "diff", "text.words", "ffffffff"],
            "no version ffffffff",
        ),
        (vec!["cap", "history", "nobody"], "no capability"),
        (vec!["chain", "check-proof", "/nonexistent"], "cannot read"),
    ] {
        let (code, _, e) = out(&args);
        assert_eq!(code, Some(1), "{args:?}: {e}");
        assert!(e.contains(want) && !e.contains("panicked"), "{args:?}: {e}");
    }
    // A file that is not a kiln database is named, not used.
    let bad = base.join("bad");
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::write(bad.join("kiln.db"), "not a database at all, just text").unwrap();
    let o = kiln(&["--home", bad.to_str().unwrap(), "verify"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("kiln.db: file is not a database"),
        "{}",
        text(&o.stderr)
    );
    let _ = std::fs::remove_dir_all(&base);
}

/// A fresh directory for one test.
fn scratch(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("kiln-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Every command that only reads, on a home that does not exist: an error that names the
/// home, exit 1, and nothing created — not even the directory.
#[test]
fn read_only_commands_never_create_a_home() {
    let base = scratch("typo");
    let typo = base.join("typo");
    let h = typo.to_str().unwrap();
    for args in [
        &["cap", "list"][..],
        &["cap", "show", "echo"],
        &["cap", "history", "echo"],
        &["cap", "diff", "echo"],
        &["chain", "show"],
        &["chain", "verify"],
        &["chain", "head"],
        &["chain", "export"],
        &["chain", "prove", "1"],
        &["constitution", "show"],
        &["plans", "list"],
        &["plans", "show", "1"],
        &["approvals", "list"],
        &["approvals", "show", "1"],
        &["verify"],
    ] {
        let mut all = vec!["--home", h];
        all.extend_from_slice(args);
        let o = kiln(&all);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", text(&o.stderr));
        assert!(
            text(&o.stderr).contains("there is no kiln home at") && text(&o.stderr).contains(h),
            "{args:?}: {}",
            text(&o.stderr)
        );
        assert!(!typo.exists(), "{args:?} created {}", typo.display());
    }
    std::fs::remove_dir_all(&base).ok();
}

/// `--json` gives one parseable JSON document for every subcommand — results and errors —
/// (JSON Lines for the entry listings), and values are JSON, not RTFS text.
#[test]
fn json_is_json_for_every_subcommand() {
    let base = scratch("json");
    let home = base.join("home");
    let h = home.to_str().unwrap();
    let echo = crate::guests::wasm_path("echo", "wasm32-unknown-unknown");
    let plan = base.join("plan.rtfs");
    std::fs::write(&plan, r#"{:sum (+ 1 2) :echoed (call :echo [:a "b"])}"#).unwrap();
    let constitution = base.join("c.rtfs");
    std::fs::write(&constitution, "{:trust-level 9}").unwrap();
    let proof = base.join("proof.json");
    let json = |args: &[&str]| {
        let mut all = vec!["--json", "--home", h];
        all.extend_from_slice(args);
        let o = kiln(&all);
        let s = text(&o.stdout);
        let doc: serde_json::Value = serde_json::from_str(s.trim())
            .unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {s:?} {}", text(&o.stderr)));
        (o.status.code(), doc)
    };
    let (code, j) = json(&["cap", "install", echo.to_str().unwrap(), "--id", "echo"]);
    assert_eq!((code, &j["ok"]), (Some(0), &serde_json::json!(true)), "{j}");
    let version = j["value"]["version"].as_str().unwrap().to_string();
    assert_eq!(version.len(), 64, "{j}");
    // Values map as serialize-json maps them.
    let (code, j) = json(&["run", plan.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{j}");
    assert_eq!(
        j["value"],
        serde_json::json!({"sum": 3, "echoed": ["a", "b"]}),
        "{j}"
    );
    let (code, j) = json(&["call", "echo", "{:b [1 2.5] :a \"x\"}"]);
    assert_eq!(code, Some(0), "{j}");
    assert_eq!(
        j["value"],
        serde_json::json!({"a": "x", "b": [1, 2.5]}),
        "{j}"
    );
    // Two keys with the same text have no JSON form: the printed form stands in.
    let (_, j) = json(&["eval", "{:a 1 \"a\" 2}"]);
    assert!(
        j["value"]["rtfs"]
            .as_str()
            .is_some_and(|p| p.contains(":a 1")),
        "{j}"
    );
    // Each subcommand: (arguments, exit code, what must hold of the document).
    type Check = fn(&serde_json::Value) -> bool;
    let table: Vec<(Vec<&str>, i32, Check)> = vec![
        (vec!["cap", "list"], 0, |j| {
            j["value"]
                .as_array()
                .is_some_and(|a| a.iter().any(|c| c["id"] == "echo"))
        }),
        (vec!["cap", "show", "echo"], 0, |j| {
            j["value"]["manifest"]["id"] == "echo" && j["value"]["active"] == true
        }),
        (vec!["cap", "history", "echo"], 0, |j| {
            j["value"]["versions"].as_array().map(Vec::len) == Some(1)
        }),
        (vec!["cap", "diff", "echo"], 1, |j| j["ok"] == false),
        (vec!["cap", "show", "nothing.here"], 1, |j| {
            j["ok"] == false && j["error"]["kind"] == "not-found"
        }),
        (vec!["chain", "verify"], 0, |j| {
            j["value"]["entries"].as_u64() > Some(0)
        }),
        (vec!["chain", "head"], 0, |j| {
            j["value"]["head"].as_str().is_some_and(|h| h.contains(':'))
        }),
        (vec!["chain", "prove", "1"], 0, |j| {
            j["value"]["proof"] == "inclusion"
        }),
        (vec!["constitution", "show"], 0, |j| {
            j["value"]["trust_level"] == 0
        }),
        (
            vec!["constitution", "propose", constitution.to_str().unwrap()],
            1,
            |j| {
                j["error"]["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("c.rtfs:"))
            },
        ),
        (vec!["plans", "list"], 0, |j| {
            j["value"].as_array().map(Vec::len) == Some(1)
        }),
        (vec!["plans", "show", "999"], 1, |j| {
            j["error"]["kind"] == "invalid"
        }),
        (vec!["approvals", "list"], 0, |j| {
            j["value"] == serde_json::json!([])
        }),
        (vec!["approvals", "show", "1"], 1, |j| j["ok"] == false),
        (vec!["approvals", "approve", "1"], 1, |j| j["ok"] == false),
        (vec!["plans", "undo", "999"], 1, |j| j["ok"] == false),
        (vec!["cap", "rollback", "echo"], 0, |j| {
            j["value"]["to"].is_null()
        }),
        (vec!["cap", "rollback", "echo"], 1, |j| {
            j["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("no earlier"))
        }),
        (vec!["verify"], 0, |j| j["value"]["sound"] == true),
        (vec!["gc"], 0, |j| j["value"]["removed"].is_u64()),
        (vec!["eval", "(+ 1"], 1, |j| {
            j["error"]["kind"] == ":error/parse"
        }),
        (vec!["call", "nothing.here"], 1, |j| j["ok"] == false),
    ];
    for (args, want, check) in &table {
        let (code, j) = json(args);
        assert_eq!(code, Some(*want), "{args:?}: {j}");
        assert!(check(&j), "{args:?}: {j}");
    }
    // The proof round-trips through check-proof, which needs no home.
    let o = kiln(&["--home", h, "chain", "prove", "2"]);
    std::fs::write(&proof, &o.stdout).unwrap();
    let (code, j) = json(&["chain", "check-proof", proof.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{j}");
    assert!(
        j["value"]["proves"]
            .as_str()
            .is_some_and(|p| p.contains("entry 2")),
        "{j}"
    );
    // The entry listings are JSON Lines.
    for args in [&["chain", "show"][..], &["chain", "export"]] {
        let mut all = vec!["--json", "--home", h];
        all.extend_from_slice(args);
        let o = kiln(&all);
        assert_eq!(o.status.code(), Some(0));
        let lines: Vec<serde_json::Value> = text(&o.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{args:?}: {e}: {l}")))
            .collect();
        assert!(
            lines.len() > 5 && lines.iter().all(|e| e["seq"].is_u64()),
            "{args:?}"
        );
    }
    std::fs::remove_dir_all(&base).ok();
}

/// Negative numbers are arguments, not flags.
#[test]
fn negative_literals_are_arguments() {
    for (expr, want) in [("-4", "-4"), ("-4.5", "-4.5"), ("-0", "0")] {
        let o = kiln(&["eval", expr]);
        assert_eq!(
            (o.status.code(), text(&o.stdout).trim()),
            (Some(0), want),
            "{expr}: {}",
            text(&o.stderr)
        );
    }
    // A real unknown flag is still a usage error.
    assert_eq!(kiln(&["eval", "--frob"]).status.code(), Some(2));
}

/// A reader that stops reading (`kiln … | head -1`) ends kiln quietly, never a panic.
#[test]
fn a_closed_pipe_ends_quietly() {
    use std::io::{BufRead, BufReader};
    let base = scratch("pipe");
    let home = base.join("home");
    let h = home.to_str().unwrap();
    // A chain far longer than a pipe holds: 3 000 refused calls, one entry each.
    let plan = base.join("plan.rtfs");
    std::fs::write(
        &plan,
        "(count (map (fn [i] (try (call :nothing.here i) (catch :error/capability e 0))) (range 3000)))",
    )
    .unwrap();
    let o = kiln(&["--home", h, "run", plan.to_str().unwrap()]);
    assert_eq!(text(&o.stdout).trim(), "3000", "{}", text(&o.stderr));
    for args in [
        &["constitution", "show"][..],
        &["chain", "export"],
        &["chain", "show"],
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_kiln-under-test"))
            .args(["--home", h])
            .args(args)
            .env_remove("KILN_HOME")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        // The reader is gone: the rest of the output meets a closed pipe.
        let o = child.wait_with_output().unwrap();
        assert!(!first.is_empty(), "{args:?}");
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", text(&o.stderr));
        assert!(
            !text(&o.stderr).contains("panicked"),
            "{args:?}: {}",
            text(&o.stderr)
        );
    }
    std::fs::remove_dir_all(&base).ok();
}
