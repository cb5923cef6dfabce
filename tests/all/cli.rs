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
    for runaway in [
        "(let [f (fn [n] (+ 1 (f (+ n 1))))] (f 0))",
        "(loop [] (recur))",
        "(defn f [n] (f (inc n))) (f 0)",
    ] {
        let o = kiln(&["eval", runaway]);
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{runaway}: {err}");
        assert!(
            err.contains("error[:error/limit]") || err.contains("error[:error/parse]"),
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
    assert!(
        err.contains("error[:error/undefined-symbol]") && err.contains("frobnicate"),
        "{err}"
    );

    let dir = std::env::temp_dir().join(format!("kiln-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("plan.rtfs");
    std::fs::write(&file, "(defn f [x]\n  (/ x 0))\n\n(f 5)\n").unwrap();
    let o = kiln(&["run", file.to_str().unwrap()]);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        err.contains("plan.rtfs:2:3") && err.contains("(/ x 0)"),
        "{err}"
    );

    std::fs::write(&file, "(call \"planner.decompose\" {:goal \"x\"})").unwrap();
    let o = kiln(&["run", file.to_str().unwrap()]);
    let err = text(&o.stderr);
    assert!(
        err.contains("error[:error/capability]") && err.contains(":reason :unavailable"),
        "{err}"
    );

    let o = kiln(&["run", dir.join("missing.rtfs").to_str().unwrap()]);
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
    assert_eq!(j["value"], "{:a \"x\" :b [1 2.0]}");
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
