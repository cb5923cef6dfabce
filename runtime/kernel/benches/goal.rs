//! `cargo xtask bench goal` — the seed's meta-plan for a goal over the bundled issues
//! (`demo/data/issues.json`), release build, at trust 3 (no approvals needed):
//!
//! - the **first run** on a fresh, warm home (decompose, resolve, synthesize, register, generate,
//!   validate, execute), median of 5 fresh homes; target ≤ 300 ms;
//! - the **second run** on a warm home (everything resolves; nothing is synthesized), median of
//!   20; target ≤ 50 ms;
//! - **each native's share** of a first run: the same steps run one per plan on another fresh
//!   home, each timed, minus an empty plan measured the same way (a plan's own start, journal
//!   and end), printed as milliseconds and as a share of their sum.
//!
//! Ratios and shares come from one run of this binary, on this machine.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use kiln_kernel::datasets::{Datasets, MAX_DATASET_BYTES};
use kiln_kernel::run::PlanEnd;

const GOALS: [&str; 2] = [
    "group issues by label and count",
    "average comments per component",
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn data() -> Datasets {
    Datasets::load(&root().join("demo/data"), MAX_DATASET_BYTES).expect("demo/data")
}

/// A fresh home whose constitution the human has set to trust 3, warmed: an earlier,
/// unrelated registration compiled the RTFS engine into the home's code cache (what every
/// home that has run an RTFS capability once has).
fn home(base: &Path, name: &str) -> PathBuf {
    let dir = base.join(name);
    let _ = std::fs::remove_dir_all(&dir);
    let k = kiln_kernel::open_kernel(&dir).expect("home");
    let text =
        kiln_kernel::governance::constitution::DEFAULT.replace(":trust-level 0", ":trust-level 3");
    let (_, n) = k
        .propose_constitution_as_human(&text, "trust3.rtfs")
        .expect("propose");
    k.decide_approval_as_human(n, true, None).expect("approve");
    drop(k);
    run(
        &dir,
        r#"(call "planner.register_capability" {:source "(capability \"warm-up\" :examples [{:input 1 :output 1}] :implementation (fn [x] x))"})"#
            .into(),
    );
    dir
}

/// Runs `source` on the home at `dir`; panics unless it ends in a value.
fn run(dir: &Path, source: String) -> Duration {
    let rt = kiln_kernel::open(dir, None).expect("open");
    let t = Instant::now();
    let r = kiln_kernel::run_plan(rt, source, "<bench>".into(), data()).expect("run");
    let took = t.elapsed();
    if let PlanEnd::Error { diagnostic, .. } = &r.end {
        panic!("the plan failed: {}", diagnostic.message);
    }
    took
}

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The meta-plan's steps, each its own plan, in order (the goal's intents and what each step
/// made are passed along as literals).
fn shares(base: &Path, goal: &str) -> Vec<(&'static str, Duration)> {
    let dir = home(base, "shares");
    let lit = |v: &rtfs::Value| format!("(quote {})", rtfs::print::print(v));
    let value = |dir: &Path, src: String| -> (rtfs::Value, Duration) {
        let rt = kiln_kernel::open(dir, None).expect("open");
        let t = Instant::now();
        let r = kiln_kernel::run_plan(rt, src, "<bench>".into(), data()).expect("run");
        let took = t.elapsed();
        match r.end {
            PlanEnd::Value(bytes) => (
                rtfs::encoding::decode(&bytes, Default::default()).expect("decode"),
                took,
            ),
            PlanEnd::Error { diagnostic, .. } => panic!("{}", diagnostic.message),
        }
    };
    let empty = median((0..5).map(|_| value(&dir, "nil".into()).1).collect());
    let less = |d: Duration| d.saturating_sub(empty);
    let goal_lit = lit(&rtfs::Value::str(goal));
    let (intents, t_decompose) = value(
        &dir,
        format!("(call \"planner.decompose\" {{:goal {goal_lit}}})"),
    );
    let (_, t_resolve) = value(
        &dir,
        format!(
            "(vec (map (fn [i] (call \"planner.resolve_intent\" {{:intent i}})) {}))",
            lit(&intents)
        ),
    );
    let (made, t_synth) = value(
        &dir,
        format!(
            "(vec (map (fn [m] (call \"planner.synthesize_capability\" {{:spec m}})) {}))",
            lit(&intents)
        ),
    );
    let (plan, t_generate) = value(
        &dir,
        format!(
            "(call \"planner.generate_rtfs\" {{:intents {} :capabilities {}}})",
            lit(&intents),
            lit(&made)
        ),
    );
    let (_, t_validate) = value(
        &dir,
        format!("(call \"planner.validate_plan\" {{:plan {}}})", lit(&plan)),
    );
    let (_, t_execute) = value(
        &dir,
        format!("(call \"planner.execute_plan\" {{:plan {}}})", lit(&plan)),
    );
    vec![
        ("planner.decompose", less(t_decompose)),
        ("planner.resolve_intent", less(t_resolve)),
        ("planner.synthesize_capability", less(t_synth)),
        ("planner.generate_rtfs", less(t_generate)),
        ("planner.validate_plan", less(t_validate)),
        ("planner.execute_plan", less(t_execute)),
    ]
}

fn main() {
    let base = std::env::temp_dir().join(format!("kiln-bench-goal-{}", std::process::id()));
    std::fs::create_dir_all(&base).expect("temp dir");
    println!(
        "{:<44} {:>10} {:>10} {:>8}",
        "meta-plan over demo/data/issues.json, trust 3", "first", "second", "target"
    );
    for goal in GOALS {
        let plan = kiln_kernel::goal_plan(goal);
        let mut firsts = Vec::new();
        let mut warm = PathBuf::new();
        for i in 0..5 {
            let dir = home(&base, &format!("first{i}"));
            firsts.push(run(&dir, plan.clone()));
            warm = dir;
        }
        let seconds: Vec<Duration> = (0..20).map(|_| run(&warm, plan.clone())).collect();
        println!(
            "{:<44} {:>8.1}ms {:>8.1}ms {:>8}",
            format!("{goal:?}"),
            ms(median(firsts)),
            ms(median(seconds)),
            "300 / 50"
        );
    }
    let goal = GOALS[0];
    let parts = shares(&base, goal);
    let total: f64 = parts.iter().map(|(_, d)| ms(*d)).sum();
    println!(
        "\neach native's share of a first run of {goal:?} (one plan per step, less an empty plan):"
    );
    for (name, d) in &parts {
        println!(
            "  {name:<32} {:>8.1}ms {:>5.1}%",
            ms(*d),
            100.0 * ms(*d) / total.max(1e-9)
        );
    }
    std::fs::remove_dir_all(&base).ok();
}
