//! The seed's meta-plan, verbatim (`plans/self-programming.rtfs`), over the bundled issues:
//! the right counts at trust 0 (with the human's approvals) and at trust 3 (none), every step
//! on the chain and `kiln verify` passing; a rollback of what it made, then a run that
//! answers again; a spec nothing satisfies and a plan `validate_plan` rejects register and run
//! nothing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value as J;

use crate::goals::{registered, trust};
use crate::support::{kiln, text};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Each label of the bundled issues and how many issues carry it, counted here.
fn label_counts() -> J {
    let text = std::fs::read_to_string(root().join("demo/data/issues.json")).unwrap();
    let issues: Vec<J> = serde_json::from_str(&text).unwrap();
    let mut counts: BTreeMap<String, i64> = BTreeMap::new();
    for i in &issues {
        for l in i["labels"].as_array().into_iter().flatten() {
            *counts.entry(l.as_str().unwrap().to_string()).or_default() += 1;
        }
    }
    assert!(issues.len() >= 200 && counts.len() >= 5);
    J::Object(counts.into_iter().map(|(k, v)| (k, J::from(v))).collect())
}

fn base(name: &str) -> PathBuf {
    let b = std::env::temp_dir().join(format!("kiln-meta-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&b);
    std::fs::create_dir_all(&b).unwrap();
    b
}

fn meta_plan(home: &Path) -> Output {
    let plan = root().join("plans/self-programming.rtfs");
    let data = root().join("demo/data");
    kiln(
        home,
        &[
            "--json",
            "run",
            plan.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
        ],
    )
}

fn kinds(home: &Path) -> Vec<String> {
    let o = kiln(home, &["--json", "chain", "show"]);
    text(&o.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<J>(l).ok())
        .map(|e| e["kind"].as_str().unwrap_or("").to_string())
        .collect()
}

#[test]
fn the_verbatim_meta_plan_counts_labels_at_trust_0_with_approvals() {
    // The file is the seed's sample, as written.
    let src = std::fs::read_to_string(root().join("plans/self-programming.rtfs")).unwrap();
    assert!(src.contains(r#"(let [goal "group issues by label and count""#));
    assert!(src.contains(r#"(call "planner.synthesize_capability" {:spec m})"#));
    let b = base("t0");
    let home = b.join("home");
    let mut approvals = 0;
    let answer = loop {
        let o = meta_plan(&home);
        let j: J = serde_json::from_str(text(&o.stdout).trim()).unwrap();
        if o.status.code() == Some(3) {
            // Waiting for the human: the synthesized capability, then the plan's execution.
            assert_eq!(j["status"], "pending-approval", "{j}");
            let n = j["approval"].to_string();
            let show = kiln(&home, &["approvals", "show", &n]);
            let shown = text(&show.stdout);
            assert!(
                shown.contains("generated/") || shown.contains("plan"),
                "{shown}"
            );
            let o = kiln(&home, &["approvals", "approve", &n]);
            assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
            approvals += 1;
            assert!(approvals <= 4, "too many approvals asked for");
            continue;
        }
        assert_eq!(o.status.code(), Some(0), "{j} {}", text(&o.stderr));
        break j["value"].clone();
    };
    assert!(approvals >= 1, "trust 0 asks the human");
    assert_eq!(answer, label_counts());
    let ks = kinds(&home);
    for kind in [
        "plan.start",
        "decision",
        "cap.register",
        "approval.request",
        "approval.approve",
        "cap.activate",
        "plan.end",
    ] {
        assert!(
            ks.iter().any(|k| k == kind),
            "no {kind} on the chain: {ks:?}"
        );
    }
    assert!(
        ks.iter().any(|k| k == "call"),
        "the planner's calls are on the chain"
    );
    assert_eq!(kiln(&home, &["verify"]).status.code(), Some(0));
    std::fs::remove_dir_all(&b).ok();
}

#[test]
fn at_trust_3_it_needs_no_approval_reuses_and_survives_a_rollback() {
    let b = base("t3");
    let home = b.join("home");
    trust(&home, &b, 3);
    let want = label_counts();
    let o = meta_plan(&home);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let j: J = serde_json::from_str(text(&o.stdout).trim()).unwrap();
    assert_eq!(j["value"], want);
    let made = registered(&home);
    assert_eq!(made, 1, "one capability synthesized");
    // Again: reused, nothing new.
    let o = meta_plan(&home);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_eq!(registered(&home), made);
    // The human rolls it back: the next run resolves nothing, makes it again (the same
    // version, re-activated), and answers right.
    let list = kiln(&home, &["--json", "cap", "list"]);
    let listed = text(&list.stdout);
    let id = "generated/issues-count-by-label";
    assert!(listed.contains(id), "{listed}");
    let o = kiln(&home, &["cap", "rollback", id]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let o = meta_plan(&home);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let j: J = serde_json::from_str(text(&o.stdout).trim()).unwrap();
    assert_eq!(j["value"], want);
    let o = kiln(&home, &["--json", "cap", "history", id]);
    let h: J = serde_json::from_str(text(&o.stdout).trim()).unwrap();
    let moves: Vec<&str> = h["value"]["moves"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        moves.iter().filter(|k| **k == "activate").count(),
        2,
        "{moves:?}"
    );
    assert!(h["value"]["versions"].as_array().unwrap().len() == 1, "{h}");
    assert_eq!(kiln(&home, &["verify"]).status.code(), Some(0));
    std::fs::remove_dir_all(&b).ok();
}

#[test]
fn nothing_satisfies_the_spec_or_the_plan_is_invalid_and_nothing_happens() {
    let b = base("bad");
    let home = b.join("home");
    trust(&home, &b, 3);
    let plan = |name: &str, src: &str| {
        let p = b.join(name);
        std::fs::write(&p, src).unwrap();
        kiln(&home, &["--json", "run", p.to_str().unwrap()])
    };
    // Outputs no small program explains.
    let o = plan(
        "none.rtfs",
        r#"(call "planner.synthesize_capability"
             {:spec {:id "generated/noise" :params [["xs" [:vector :int]]]
                     :examples [{:args [[1 2]] :out 9137} {:args [[3]] :out -44} {:args [[]] :out 5}]}})"#,
    );
    assert_eq!(o.status.code(), Some(1));
    let out = text(&o.stdout);
    assert!(
        out.contains("no program found for generated/noise") && out.contains("quota"),
        "{out}"
    );
    // Contradictory examples.
    let o = plan(
        "contra.rtfs",
        r#"(call "planner.synthesize_capability"
             {:spec {:id "generated/c" :params [["x" :int]]
                     :examples [{:args [1] :out 2} {:args [1] :out 3}]}})"#,
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stdout).contains("contradictory"),
        "{}",
        text(&o.stdout)
    );
    assert_eq!(registered(&home), 0);
    // A plan that validate_plan rejects: the meta-plan's branch never runs it.
    let o = plan(
        "invalid.rtfs",
        r#"(let [plan "(call :no.such/capability 1)"
                 v (call "planner.validate_plan" {:plan plan})]
             (if (:valid v) (call "planner.execute_plan" {:plan plan}) {:error "Validation failed" :issues (:issues v)}))"#,
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let j: J = serde_json::from_str(text(&o.stdout).trim()).unwrap();
    assert_eq!(j["value"]["error"], "Validation failed");
    let issues = j["value"]["issues"].as_array().unwrap();
    assert!(
        issues.iter().any(|i| i["kind"] == "unknown-capability"),
        "{issues:?}"
    );
    // The synthesis attempts are on the chain.
    let ks = kinds(&home);
    assert!(ks.iter().any(|k| k == "synthesis"), "{ks:?}");
    std::fs::remove_dir_all(&b).ok();
}
