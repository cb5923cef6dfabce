//! The offline synthesizer (`kiln-synth`) and `kiln synth`: the public PBE tasks solved and
//! generalising to held-out inputs, the same program twice, no dependence on task ids or
//! field names, every printed builtin a real one, bad specs refused with a clear error.

use crate::support::kiln;
use kiln_synth::accept::{Found, find};
use kiln_synth::tasks::{self, Task};
use kiln_synth::{Budget, Spec, SynthError, synthesize};

fn tasks_of(file: &str) -> Vec<Task> {
    let path = format!(
        "{}/../runtime/synth/data/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    tasks::parse_tsv(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn spec(text: &str) -> Spec {
    Spec::parse(
        &rtfs::reader::read_expr(text, &Default::default())
            .unwrap()
            .to_value(),
    )
    .unwrap()
}

fn spec_error(text: &str) -> String {
    let v = rtfs::reader::read_expr(text, &Default::default())
        .unwrap()
        .to_value();
    match Spec::parse(&v) {
        Err(e) => e.to_string(),
        Ok(s) => match synthesize(&s, Budget::default()) {
            Err(e) => e.to_string(),
            Ok(c) => panic!("{text}: accepted, found {}", c.source),
        },
    }
}

/// The protocol's held-out seed (`runtime/synth/benches/synth.rs`).
const SEED: u64 = 20_240_601;

#[test]
fn the_public_tasks_are_solved_and_generalise() {
    let tasks = tasks_of("pbe-tasks.tsv");
    assert_eq!(tasks.len(), 25);
    let mut solved = Vec::new();
    for t in &tasks {
        let spec = t.spec().unwrap();
        let Ok(c) = synthesize(&spec, Budget::default()) else {
            continue;
        };
        // Consistent with every example, by construction; checked again here.
        let examples: Vec<_> = spec
            .examples
            .iter()
            .map(|e| (e.args.clone(), e.out.clone()))
            .collect();
        assert!(
            tasks::passes(&c.source, &examples),
            "{}: {}",
            t.id,
            c.source
        );
        let held = t.held_out(SEED, 20).unwrap();
        assert!(held.len() >= 3, "{}", t.id);
        if tasks::passes(&c.source, &held) {
            solved.push(t.id.clone());
        }
        // Deterministic: the same program and node count again.
        let again = synthesize(&spec, Budget::default()).unwrap();
        assert_eq!(
            (&again.source, again.nodes_explored),
            (&c.source, c.nodes_explored)
        );
    }
    assert!(
        solved.len() >= 24,
        "{} of 25 solved on held-out inputs: {solved:?}",
        solved.len()
    );
}

#[test]
fn the_search_does_not_depend_on_task_ids_or_field_names() {
    // The same task under another id and with its field renamed: the same program, with the
    // new field.
    let t = tasks_of("pbe-tasks.tsv")
        .into_iter()
        .find(|t| t.id == "pluck")
        .unwrap();
    let original = synthesize(&t.spec().unwrap(), Budget::default()).unwrap();
    assert!(original.source.contains(":name"), "{}", original.source);
    let renamed = Task {
        id: "zz-unseen-17".into(),
        params: t.params.replace(":name", ":moniker"),
        examples: t.examples.replace(":name", ":moniker"),
        reference: t.reference.replace(":name", ":moniker"),
        ..t.clone()
    };
    let c = synthesize(&renamed.spec().unwrap(), Budget::default()).unwrap();
    assert_eq!(c.source, original.source.replace(":name", ":moniker"));
    assert_eq!(c.nodes_explored, original.nodes_explored);
}

#[test]
fn every_builtin_the_search_prints_is_an_rtfs_builtin_with_that_arity() {
    let used = kiln_synth::builtins_used();
    assert!(used.len() > 40, "{used:?}");
    for (name, n) in used {
        let sig = rtfs::stdlib::signature(name).unwrap_or_else(|| panic!("{name} is not RTFS"));
        assert!(
            n >= sig.min_args() && sig.max_args().is_none_or(|m| n <= m),
            "{name} with {n} arguments: {:?}",
            sig.params
        );
    }
}

#[test]
fn an_empty_input_guard_comes_from_the_examples() {
    // Nil for no records, else the mean of a field as a float: no single expression without a
    // branch fits both, so the guard is found from the examples.
    let s = spec(
        r#"{:params [[rows [:vector [:map [:amount :int] [:status :string]]]]]
            :examples [{:args [[{:amount 10 :status "paid"} {:amount 21 :status "paid"}]] :out 15.5}
                       {:args [[{:amount 4 :status "paid"}]] :out 4.0}
                       {:args [[{:amount 1 :status "a"} {:amount 2 :status "b"} {:amount 6 :status "c"}]] :out 3.0}
                       {:args [[]] :out nil}]}"#,
    );
    let Found::Program { candidate, .. } = find(&s, Budget::default(), 1).unwrap() else {
        panic!("nothing found");
    };
    assert!(
        candidate
            .source
            .starts_with("(fn [rows] (if (empty? rows) nil "),
        "{}",
        candidate.source
    );
    let rows = |xs: &[i64]| {
        rtfs::Value::vector(
            xs.iter()
                .map(|&a| {
                    rtfs::Value::map(vec![
                        (rtfs::Value::keyword("amount"), rtfs::Value::Int(a)),
                        (rtfs::Value::keyword("status"), rtfs::Value::str("x")),
                    ])
                })
                .collect(),
        )
    };
    let cases = vec![
        (vec![rows(&[])], rtfs::Value::Nil),
        (vec![rows(&[7, 8])], rtfs::Value::Float(7.5)),
        (vec![rows(&[5, 5, 5, 9])], rtfs::Value::Float(6.0)),
    ];
    assert!(
        tasks::passes(&candidate.source, &cases),
        "{}",
        candidate.source
    );
}

#[test]
fn bad_specs_are_refused_before_any_search() {
    let cases: &[(&str, &str)] = &[
        ("[1 2]", "map"),
        ("{:params [[x :int]]}", ":examples"),
        ("{:params [[x :int]] :examples []}", "at least one example"),
        (
            "{:params [[x :int]] :examples [{:args [1] :out 2} {:args [1] :out 3}]}",
            "contradict",
        ),
        (
            "{:params [[x :int] [x :int]] :examples [{:args [1 1] :out 2}]}",
            "named twice",
        ),
        (
            "{:params [[x :int]] :exmaples [{:args [1] :out 2}]}",
            "unknown field",
        ),
        (
            "{:params [[x :int]] :examples [{:args [1 2] :out 2}]}",
            "argument",
        ),
    ];
    for (text, want) in cases {
        let e = spec_error(text);
        assert!(e.contains(want), "{text}: {e}");
    }
}

#[test]
fn a_spec_no_program_satisfies_within_the_budget_says_so() {
    // Outputs unrelated to the inputs: nothing small explains them.
    let s = spec(
        "{:params [[xs [:vector :int]]]
          :examples [{:args [[1 2]] :out 9137} {:args [[3]] :out -44} {:args [[]] :out 5}]}",
    );
    let e = synthesize(
        &s,
        Budget {
            nodes: 2_000,
            steps: 10_000,
        },
    )
    .unwrap_err();
    let SynthError::NoProgram { nodes } = e else {
        panic!("{e}");
    };
    // A level that outgrows its share of the budget ends the search: at most the budget.
    assert!(nodes > 0 && nodes <= 2_000, "{nodes}");
    assert_eq!(e.to_string(), format!("no program within {nodes} nodes"));
}

#[test]
fn kiln_synth_prints_the_program_and_refuses_bad_files() {
    let base = std::env::temp_dir().join(format!("kiln-synth-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir_all(&base).unwrap();
    let home = base.join("home");
    let file = |name: &str, text: &str| {
        let p = base.join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_string()
    };
    let good = file(
        "inc.rtfs",
        "{:params [[xs [:vector :int]]] :examples [{:args [[1 2]] :out [2 3]} {:args [[]] :out []} {:args [[5]] :out [6]}]}",
    );
    let o = kiln(&home, &["synth", &good]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(out.lines().next(), Some("(fn [xs] (map inc xs))"), "{out}");
    assert!(out.contains("nodes explored"), "{out}");
    let o = kiln(&home, &["--json", "synth", &good]);
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["ok"], true);
    assert_eq!(j["value"]["program"], "(fn [xs] (map inc xs))");
    assert!(j["value"]["nodes_explored"].as_u64().unwrap() > 0);
    assert_eq!(j["value"]["budget"]["nodes"], 1_000_000);
    // It needs no home and makes none.
    assert!(!home.exists());
    // --register: governed like an agent's synthesis (trust 0: the human approves).
    let o = kiln(&home, &["--json", "synth", &good, "--register", "inc-all"]);
    assert_eq!(
        o.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["status"], "pending-approval", "{j}");
    let n = j["approval"].to_string();
    assert_eq!(
        kiln(&home, &["approvals", "approve", &n]).status.code(),
        Some(0)
    );
    let o = kiln(&home, &["--json", "synth", &good, "--register", "inc-all"]);
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["value"]["status"], "active", "{j}");
    assert_eq!(j["value"]["source"], "(fn [xs] (map inc xs))");
    let o = kiln(&home, &["call", "generated/inc-all", "[4 5]"]);
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "[5 6]");
    // Unreadable RTFS: where.
    let bad = file(
        "bad.rtfs",
        "{:params [[xs :int]]\n :examples [{:args [1] :out 2}",
    );
    let o = kiln(&home, &["synth", &bad]);
    assert_eq!(o.status.code(), Some(1));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("bad.rtfs:"), "{e}");
    // Contradictory examples: what.
    let contra = file(
        "contra.rtfs",
        "{:params [[x :int]] :examples [{:args [1] :out 2} {:args [1] :out 3}]}",
    );
    let o = kiln(&home, &["synth", &contra]);
    assert_eq!(o.status.code(), Some(1));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("contra.rtfs") && e.contains("contradict"), "{e}");
    // Nothing within the budget: how far it looked, and what to do.
    let none = file(
        "none.rtfs",
        "{:params [[xs [:vector :int]]] :examples [{:args [[1 2]] :out 9137} {:args [[3]] :out -44} {:args [[]] :out 5}]}",
    );
    let o = kiln(&home, &["synth", &none, "--nodes", "3000"]);
    assert_eq!(o.status.code(), Some(1));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains("no program found") && e.contains("--nodes"),
        "{e}"
    );
    std::fs::remove_dir_all(&base).ok();
}
