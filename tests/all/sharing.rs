//! Values with shared structure (issue 15 §3): a few steps build 41 vectors that expand to
//! 2^40 leaves, so every builtin that walks a value — printing, equality, the canonical order,
//! map keys, schemas, JSON, the encoding `call` hands to the host — must pay per node and per
//! byte it visits, check the memory limit while its output grows and poll the host, and so end
//! in `:error/limit` within the evaluation's budget instead of running for hours inside one
//! builtin. The attacker is a plan (or a capability's program) that builds such a value.

use std::time::{Duration, Instant};

use rtfs::host::{CallFailure, CallRequest, Host, Reason};
use rtfs::{Error, Interpreter, Limits, Value};

/// A host whose `call` accepts anything: it encodes the arguments as the kernel does before
/// a capability sees them, and answers nil. Its `poll` enforces a wall-clock deadline.
struct AnyHost {
    deadline: Instant,
    calls: usize,
}

impl AnyHost {
    fn new(time: Duration) -> AnyHost {
        AnyHost {
            deadline: Instant::now() + time,
            calls: 0,
        }
    }
}

impl Host for AnyHost {
    fn call(&mut self, req: &CallRequest<'_>, _: &mut u64) -> Result<Value, CallFailure> {
        self.calls += 1;
        for a in req.args {
            rtfs::encoding::encode(a)
                .map_err(|e| CallFailure::new(Reason::InvalidInput, e.to_string()))?;
        }
        Ok(Value::Nil)
    }

    fn poll(&mut self) -> rtfs::Result<()> {
        if Instant::now() >= self.deadline {
            return Err(Error::limit(rtfs::LimitKind::Time, 0));
        }
        Ok(())
    }
}

/// `(dag n)`: `[v v]` nested n deep over `[1]` — n + 1 vectors, 2^n leaves. `(dag-of n x)`
/// does the same over any leaf.
const PRELUDE: &str = "
(defn dag-of [n x] (loop [v [x] i 0] (if (< i n) (recur [v v] (inc i)) v)))
(defn dag [n] (dag-of n 1))
";

/// Ten million steps: a traversal that is charged per node stops after ten million nodes.
fn budget() -> Limits {
    Limits {
        steps: 10_000_000,
        ..Limits::default()
    }
}

/// Runs `expr` after the prelude; returns the result, the steps used and the wall time.
fn run(it: &mut Interpreter, expr: &str) -> (Result<Value, Error>, u64, Duration) {
    let src = format!("{PRELUDE}\n{expr}");
    let program = it.compile(&src, Some("sharing.rtfs")).expect("compiles");
    let mut host = AnyHost::new(Duration::from_secs(20));
    let start = Instant::now();
    let r = it.run(&program, &mut host);
    (r, it.last_steps(), start.elapsed())
}

/// The `:limit` of a limit error, or a description of what came instead.
fn limit(r: &Result<Value, Error>) -> Result<String, String> {
    match r {
        Err(e) if e.kind() == "error/limit" => Ok(e
            .data()
            .get_key("limit")
            .map(rtfs::print::print)
            .unwrap_or_default()),
        Err(e) => Err(format!("error {e}")),
        Ok(v) => Err(format!("value {}", rtfs::print::brief(v))),
    }
}

/// Every builtin that walks its argument, given values of 2^40 nodes.
const WALKS: &[(&str, &str)] = &[
    ("str", "(str (dag 40))"),
    ("pr-str", "(pr-str (dag 40))"),
    ("str/join", "(str/join \",\" (dag 40))"),
    ("format", "(format \"%s\" (dag 40))"),
    ("=", "(= (dag 40) (dag 40))"),
    ("not=", "(not= (dag 40) (dag 40))"),
    ("compare", "(compare (dag 40) (dag 40))"),
    ("sort", "(sort [(dag 40) (dag 40)])"),
    ("sort-by", "(sort-by identity [(dag 40) (dag 40)])"),
    ("distinct", "(distinct [(dag 40) (dag 40)])"),
    ("serialize-json", "(serialize-json (dag 40))"),
    ("serialize-json-pretty", "(serialize-json-pretty (dag 40))"),
    ("valid? [:=]", "(valid? [:= (dag 40)] (dag 40))"),
    (
        "valid? deep schema",
        "(valid? (loop [s :int i 0] (if (< i 41) (recur [:vector s] (inc i)) s)) (dag 40))",
    ),
    ("validate", "(validate [:= (dag 40)] (dag 40))"),
    ("call", "(call \"sink\" (dag 40))"),
    ("flatten", "(count (flatten (dag 40)))"),
    ("hash-map keys", "(hash-map (dag 40) 1 (dag 40) 2)"),
    (
        "map literal keys",
        "(let [a (dag 40) b (dag 40)] {a 1 b 2})",
    ),
    ("get", "(get {(dag 40) 1} (dag 40))"),
    ("assoc", "(assoc {(dag 40) 1} (dag 40) 2)"),
    ("frequencies", "(frequencies [(dag 40) (dag 40)])"),
    ("group-by", "(group-by identity [(dag 40) (dag 40)])"),
];

#[test]
fn each_walk_over_a_shared_value_ends_in_a_limit() {
    let mut it = Interpreter::new(budget());
    let mut failures = Vec::new();
    for (name, expr) in WALKS {
        let (r, steps, took) = run(&mut it, expr);
        match limit(&r) {
            Ok(l) if took < Duration::from_secs(3) => {
                eprintln!("{name}: {l} after {steps} steps in {took:?}")
            }
            Ok(l) => failures.push(format!("{name}: {l}, but only after {took:?}")),
            Err(got) => failures.push(format!("{name}: expected a limit, got {got}")),
        }
        // The interpreter keeps serving.
        let (r, _, _) = run(&mut it, "(+ 1 2)");
        assert_eq!(
            r.expect("serves after a limit"),
            Value::Int(3),
            "after {name}"
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn an_annotation_checks_a_shared_value_within_the_budget() {
    // 41 levels of vectors over the integers: the whole expansion satisfies it.
    let mut schema = ":int".to_string();
    for _ in 0..41 {
        schema = format!("[:vector {schema}]");
    }
    let mut it = Interpreter::new(budget());
    let (r, _, took) = run(&mut it, &format!("(let [x : {schema} (dag 40)] 1)"));
    assert_eq!(limit(&r), Ok(":steps".to_string()), "after {took:?}");
}

#[test]
fn shared_values_that_are_not_walked_cost_nothing_special() {
    // Building, counting, using as a map key or value and reporting as a step's params stay
    // cheap: only the walk of an expansion is paid for.
    let cases: &[(&str, &str)] = &[
        ("(count (dag 60))", "2"),
        ("(count {(dag 60) 1})", "1"),
        ("(count {:a (dag 60) :b (dag 60)})", "2"),
        ("(= (dag 60) (dag 59))", "false"),
        ("(let [d (dag 60)] (= d d))", "true"),
        ("(let [d (dag 60)] (compare [d] [d]))", "0"),
        (
            "(step \"s\" {:p (dag-of 60 inc)} (count (dag-of 60 inc)))",
            "2",
        ),
        (
            "(try (call \"sink\" (dag-of 60 inc)) (catch :error/type e :refused))",
            ":refused",
        ),
        (
            "(try (match (dag 60) 1 :one) (catch :error/match e :none))",
            ":none",
        ),
    ];
    let mut it = Interpreter::new(budget());
    for (expr, want) in cases {
        let (r, steps, took) = run(&mut it, expr);
        let v = r.unwrap_or_else(|e| panic!("{expr}: {e}"));
        assert_eq!(rtfs::print::print(&v), *want, "{expr}");
        assert!(
            took < Duration::from_secs(3) && steps < 100_000,
            "{expr}: {steps} steps, {took:?}"
        );
    }
}

#[test]
fn messages_about_shared_values_stay_short() {
    let mut it = Interpreter::new(budget());
    for expr in [
        "(match (dag 40) 1 :one)",
        "(valid? [(dag 40)] 1)",
        "((hash-map 1 (dag 40)) 1 2 3)",
        "(let [x : :int (dag 40)] x)",
        // A schema built with shared structure is refused as too large, not expanded.
        "(valid? (loop [s :int i 0] (if (< i 40) (recur [:or s s] (inc i)) s)) \"x\")",
    ] {
        let (r, _, took) = run(&mut it, expr);
        let e = r.expect_err(expr);
        assert_ne!(e.kind(), "error/limit", "{expr}: {e}");
        assert!(
            e.message().len() < 4096 && took < Duration::from_secs(3),
            "{expr}: a message of {} bytes after {took:?}",
            e.message().len()
        );
    }
}

#[test]
fn the_memory_limit_stops_an_output_that_grows() {
    // Long strings at the leaves: the output outgrows memory long before the steps run out.
    let limits = Limits {
        steps: u64::MAX / 2,
        memory: 16 << 20,
        ..Limits::default()
    };
    let big = "(dag-of 40 (apply str (repeat 4096 \"x\")))";
    let mut it = Interpreter::new(limits);
    for op in ["str", "pr-str", "serialize-json", "flatten"] {
        let (r, _, took) = run(&mut it, &format!("({op} {big})"));
        assert_eq!(limit(&r), Ok(":memory".to_string()), "{op} after {took:?}");
        assert!(took < Duration::from_secs(3), "{op}: {took:?}");
    }
    let (r, _, took) = run(&mut it, &format!("(call \"sink\" {big})"));
    assert_eq!(limit(&r), Ok(":memory".to_string()), "call after {took:?}");
}

#[test]
fn a_deadline_stops_a_walk_that_the_steps_would_allow() {
    // Unlimited steps and memory: only the host's poll can stop these, so the walks must poll.
    let limits = Limits {
        steps: u64::MAX / 2,
        memory: u64::MAX / 2,
        ..Limits::default()
    };
    for expr in ["(= (dag 60) (dag 60))", "(valid? [:= (dag 60)] (dag 60))"] {
        let mut it = Interpreter::new(limits);
        let program = it
            .compile(&format!("{PRELUDE}\n{expr}"), None)
            .expect("compiles");
        let mut host = AnyHost::new(Duration::from_millis(300));
        let start = Instant::now();
        let r = it.run(&program, &mut host);
        assert_eq!(limit(&r), Ok(":time".to_string()), "{expr}");
        assert!(start.elapsed() < Duration::from_secs(3), "{expr}");
    }
}

#[test]
fn comparing_long_strings_is_charged_per_byte() {
    // 200 000 comparisons of two equal 1 MiB strings read 200 GB: far beyond ten million steps.
    let strings = "(defn mb [] (loop [s \"a\" i 0] (if (< i 20) (recur (str s s) (inc i)) s)))";
    let mut it = Interpreter::new(budget());
    for op in [
        "(= a b)",
        "(compare a b)",
        "(get {a 1} b)",
        "(contains? {a 1} b)",
    ] {
        let expr = format!(
            "{strings} (let [a (mb) b (mb)] (loop [i 0] (if (< i 200000) (do {op} (recur (inc i))) i)))"
        );
        let (r, steps, took) = run(&mut it, &expr);
        assert_eq!(limit(&r), Ok(":steps".to_string()), "{op} after {took:?}");
        assert!(took < Duration::from_secs(3), "{op}: {took:?}");
        eprintln!("{op}: stopped after {steps} steps in {took:?}");
    }
}

#[test]
fn the_hosts_own_traversals_are_bounded() {
    // A value that escapes an evaluation (a result, a call's arguments) is walked by the host
    // with no evaluation budget: encoding refuses it, printing is cut short.
    let mut it = Interpreter::new(budget());
    let (r, _, _) = run(&mut it, "(dag 60)");
    let v = r.expect("builds");
    let start = Instant::now();
    assert!(matches!(
        rtfs::encoding::encode(&v),
        Err(rtfs::encoding::EncodeError::TooLarge { .. })
    ));
    assert!(rtfs::stdlib::value_to_json(&v, false).is_err());
    let printed = rtfs::print::print(&v);
    assert!(
        printed.len() <= rtfs::print::PRINT_MAX + 8,
        "{}",
        printed.len()
    );
    assert!(rtfs::print::brief(&v).len() < 4096);
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn kiln_eval_has_a_wall_clock_limit() {
    // A long loop within the step limit ends at the time limit (default 10 s, here 200 ms),
    // as does a walk of a shared value that the time limit reaches first.
    for expr in [
        "(loop [i 0] (recur (inc i)))",
        "(let [d (fn [] (loop [v [1] i 0] (if (< i 60) (recur [v v] (inc i)) v)))] (= (d) (d)))",
    ] {
        let start = Instant::now();
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_kiln-under-test"))
            .args(["--json", "eval", "--time-limit-ms", "200", expr])
            .env_remove("KILN_HOME")
            .output()
            .expect("run kiln");
        let j: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
        assert_eq!(o.status.code(), Some(1), "{expr}: {j}");
        assert_eq!(j["error"]["kind"], ":error/limit", "{expr}: {j}");
        assert!(
            j["error"]["data"].to_string().contains(":limit :time"),
            "{expr}: {j}"
        );
        assert!(start.elapsed() < Duration::from_secs(10), "{expr}");
    }
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    /// How one level wraps the value below it: each multiplies the expansion.
    #[derive(Clone, Debug)]
    enum Wrap {
        Vector(usize),
        List(usize),
        Map,
        MapKey,
        Strings,
    }

    impl Wrap {
        /// The expression wrapping `v`, and by how much it multiplies the expanded size.
        fn expr(&self) -> (String, u32) {
            match self {
                Wrap::Vector(n) => (format!("(vec (repeat {n} v))"), *n as u32),
                Wrap::List(n) => (format!("(apply list (repeat {n} v))"), *n as u32),
                Wrap::Map => ("{:a v :b v \"c\" v}".to_string(), 3),
                Wrap::MapKey => ("{v 1 :b v}".to_string(), 2),
                Wrap::Strings => ("[v \"s\" v (str \"t\" 1)]".to_string(), 2),
            }
        }
    }

    fn wrap() -> impl Strategy<Value = Wrap> {
        prop_oneof![
            (2usize..5).prop_map(Wrap::Vector),
            (2usize..4).prop_map(Wrap::List),
            Just(Wrap::Map),
            Just(Wrap::MapKey),
            Just(Wrap::Strings),
        ]
    }

    fn leaf() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("1".to_string()),
            Just(":k".to_string()),
            Just("\"leaf\"".to_string()),
            (1usize..2000).prop_map(|n| format!("(apply str (repeat {n} \"x\"))")),
            Just("[]".to_string()),
            Just("{}".to_string()),
        ]
    }

    /// A program defining `(mk)`: a DAG of 2^30 to 2^60 expanded nodes built in a few steps.
    fn dag() -> impl Strategy<Value = String> {
        (leaf(), prop::collection::vec(wrap(), 1..8)).prop_map(|(leaf, wraps)| {
            let mut bits = 0.0f64;
            let mut level = 0;
            let mut lets = String::new();
            while bits < 30.0 {
                let w = &wraps[level % wraps.len()];
                let (e, k) = w.expr();
                if bits + (k as f64).log2() > 60.0 {
                    break;
                }
                bits += (k as f64).log2();
                lets.push_str(&format!(" v {e}"));
                level += 1;
            }
            format!("(defn mk [] (let [v {leaf}{lets}] v))")
        })
    }

    /// Every walking builtin, as an expression over `a` and `b` (two separately built DAGs).
    const OPS: &[&str] = &[
        "(str a)",
        "(pr-str a)",
        "(str/join \" \" [a b])",
        "(= a b)",
        "(not= a b)",
        "(compare a b)",
        "(sort [a b])",
        "(distinct [a b])",
        "(serialize-json a)",
        "(valid? [:= a] b)",
        "(validate [:= a] b)",
        "(call \"sink\" a)",
        "(hash-map a 1 b 2)",
        "(get {a 1} b)",
        "(frequencies [a b])",
    ];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        #[test]
        fn shared_values_end_in_a_limit_and_the_interpreter_serves_on(program in dag()) {
            let limits = Limits { steps: 2_000_000, memory: 32 << 20, ..Limits::default() };
            let mut it = Interpreter::new(limits);
            for op in OPS {
                let src = format!("{program} (let [a (mk) b (mk)] {op})");
                let p = it.compile(&src, None).expect("compiles");
                let mut host = AnyHost::new(Duration::from_secs(20));
                let start = Instant::now();
                let before = rtfs::value::live_bytes();
                let r = it.run(&p, &mut host);
                let took = start.elapsed();
                // serialize-json refuses some values outright (a map key that is a
                // collection): an error of its own that is not a limit is fine there.
                let refused = matches!(&r, Err(e) if e.kind() == "error/json" && op.contains("json"));
                prop_assert!(
                    refused || limit(&r).is_ok(),
                    "{}: {:?}", op, limit(&r)
                );
                prop_assert!(it.last_steps() <= limits.steps);
                prop_assert!(took < Duration::from_secs(5), "{}: {:?}", op, took);
                prop_assert!(rtfs::value::live_bytes() <= before + (limits.memory as i64));
                let after = it.run(&it.compile("(+ 1 2)", None).unwrap(), &mut host);
                prop_assert_eq!(after.ok(), Some(Value::Int(3)));
            }
        }
    }
}
