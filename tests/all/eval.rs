//! The evaluator from the embedder's side: limits (§8.5), the host boundary (§8), memory
//! accounting and reuse of compiled programs — and programs that try to break out.

use std::cell::RefCell;
use std::rc::Rc;

use rtfs::host::{CallFailure, CallRequest, Host, NoHost, Reason, StepStarted};
use rtfs::{Error, Interpreter, Limits, Value};

fn eval_with(limits: Limits, src: &str) -> Result<Value, Error> {
    let mut it = Interpreter::new(limits);
    let p = it.compile(src, Some("test.rtfs"))?;
    it.run(&p, &mut NoHost)
}

fn limit_of(r: Result<Value, Error>) -> String {
    match r {
        Err(e) if e.kind() == "error/limit" => {
            rtfs::print::print(e.data().get_key("limit").expect("limit key"))
        }
        Err(e) => panic!("expected a limit error, got {e}"),
        Ok(v) => panic!("expected a limit error, got {}", rtfs::print::print(&v)),
    }
}

/// Runs on a thread with a small native stack: depth must not use it.
fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    on_stack(256 * 1024, f)
}

fn on_stack<T: Send + 'static>(size: usize, f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(size)
        .spawn(f)
        .expect("spawn")
        .join()
        .expect("evaluation thread panicked")
}

#[test]
fn depth_ten_thousand_needs_no_native_stack() {
    let v = on_small_stack(|| {
        let r = eval_with(
            Limits::default(),
            "(defn down [n] (if (= n 0) 0 (+ 1 (down (- n 1))))) (down 9990)",
        );
        rtfs::print::print(&r.expect("deep recursion"))
    });
    assert_eq!(v, "9990");
    // Higher-order builtins calling back nest on the heap too.
    let v = on_small_stack(|| {
        let r = eval_with(
            Limits::default(),
            "(defn nest [n] (if (= n 0) [] (first (map (fn [_] (nest (- n 1))) [1])))) (nest 3000)",
        );
        rtfs::print::print(&r.expect("nested map"))
    });
    assert_eq!(v, "[]");
}

#[test]
fn each_limit_is_its_own_uncatchable_error() {
    let d = Limits::default();
    assert_eq!(
        limit_of(eval_with(d, "(let [f (fn [n] (+ 1 (f (+ n 1))))] (f 0))")),
        ":depth"
    );
    let few_steps = Limits { steps: 10_000, ..d };
    assert_eq!(
        limit_of(eval_with(
            few_steps,
            "(try (loop [] (recur)) (catch :default e 0))"
        )),
        ":steps"
    );
    let small = Limits {
        memory: 1 << 20,
        ..d
    };
    assert_eq!(
        limit_of(eval_with(
            small,
            "(loop [acc []] (recur (conj acc (str (count acc) \"-padding-padding\"))))"
        )),
        ":memory"
    );
    assert_eq!(
        limit_of(eval_with(small, "(count (range 0 100000000))")),
        ":memory"
    );
    assert_eq!(
        limit_of(eval_with(d, "(loop [v []] (recur [v]))")),
        ":value-depth"
    );
    assert_eq!(
        limit_of(eval_with(d, "(reduce + 0 (range 0 100000000000))")),
        ":memory"
    );
    // Nothing catches a limit, not even a symbol selector, and finally does not run.
    let mut host = Recorder::default();
    let mut it = Interpreter::new(few_steps);
    let p = it
        .compile(
            "(try (loop [] (recur)) (catch Exception e :caught) (finally (call \"log\" 1)))",
            None,
        )
        .unwrap();
    let r = it.run(&p, &mut host);
    assert_eq!(limit_of(r), ":steps");
    assert!(host.calls.borrow().is_empty(), "finally ran after a limit");
}

#[test]
fn steps_are_deterministic() {
    let src = "(reduce + (map (fn [x] (* x x)) (range 1000)))";
    let mut a = Interpreter::default();
    let p = a.compile(src, None).unwrap();
    a.run(&p, &mut NoHost).unwrap();
    let mut b = Interpreter::default();
    b.run(&p, &mut NoHost).unwrap();
    assert_eq!(a.last_steps(), b.last_steps());
    assert!(
        a.last_steps() > 2000,
        "items are charged: {}",
        a.last_steps()
    );
    // The same limit stops the same program at the same point.
    let tight = Limits {
        steps: a.last_steps() - 1,
        ..Limits::default()
    };
    assert_eq!(limit_of(eval_with(tight, src)), ":steps");
    let exact = Limits {
        steps: a.last_steps(),
        ..Limits::default()
    };
    assert!(eval_with(exact, src).is_ok());
}

#[test]
fn closures_over_their_own_frame_are_freed() {
    let before = rtfs::value::live_bytes();
    {
        let mut it = Interpreter::default();
        for src in [
            "(let [f (fn [n] (if (= n 0) 0 (f (- n 1))))] (f 10))",
            "(let [v (vec (range 1000)) f (fn [n] (if (= n 0) (count v) (f (- n 1))))] (f 3))",
            "(let [w (vec (range 1000))] (defn g [n] (if (= n 0) (count w) (g (- n 1)))) (g 2))",
            "(defn h [x] (let [k (fn [] (h x))] x)) (h (vec (range 100)))",
            "(let [ev? (fn [n] (if (= n 0) true (od? (- n 1)))) od? (fn [n] (if (= n 0) false (ev? (- n 1))))] (ev? 7))",
            "(let [x 1 f (fn [] x) x (vec (range 50))] (f))",
        ] {
            it.eval_str(src).unwrap();
        }
        assert!(
            rtfs::value::live_bytes() > before,
            "values are alive while defined"
        );
    }
    assert_eq!(
        rtfs::value::live_bytes(),
        before,
        "reference cycles leaked when the interpreter was dropped"
    );
}

#[test]
fn a_compiled_program_runs_again_cheaply_in_fresh_environments() {
    let it = Interpreter::default();
    let p = it
        .compile("(defn sq [x] (* x x)) (def n 7) (sq n)", None)
        .unwrap();
    for _ in 0..3 {
        let mut fresh = Interpreter::default();
        assert_eq!(fresh.run(&p, &mut NoHost).unwrap(), Value::Int(49));
        assert_eq!(fresh.global("n"), Some(Value::Int(7)));
    }
}

#[derive(Default)]
struct Recorder {
    calls: RefCell<Vec<(String, Vec<Value>)>>,
    events: Vec<String>,
    descriptors: Vec<Value>,
}

impl Host for Recorder {
    fn call(&mut self, req: &CallRequest<'_>, charge: &mut u64) -> Result<Value, CallFailure> {
        self.calls
            .borrow_mut()
            .push((req.id.to_string(), req.args.to_vec()));
        *charge = 5;
        match req.id {
            "echo" => Ok(Value::vector(req.args.to_vec())),
            "fail" => Err(CallFailure {
                reason: Reason::Failed,
                message: "it broke".into(),
                cause: Some(Error::new(rtfs::Kind::User, "inner", vec![])),
                extra: vec![],
            }),
            _ => Err(CallFailure::new(Reason::Unknown, "no such capability")),
        }
    }
    fn step_started(&mut self, e: &StepStarted<'_>) {
        self.events.push(format!(
            "start {} {:?} {} {}",
            e.id,
            e.parent,
            e.name,
            rtfs::print::print(e.params)
        ));
    }
    fn step_completed(&mut self, id: u64, v: &Value) {
        self.events
            .push(format!("done {id} {}", rtfs::print::print(v)));
    }
    fn step_failed(&mut self, id: u64, e: &Error) {
        self.events.push(format!("failed {id} :{}", e.kind()));
    }
    fn resource(&mut self, name: &str) -> Option<Value> {
        (name == "db").then(|| Value::str("handle-1"))
    }
    fn capability(&mut self, d: &Value) {
        self.descriptors.push(d.clone());
    }
}

#[test]
fn the_host_sees_calls_and_steps_in_order() {
    let mut host = Recorder::default();
    let mut it = Interpreter::default();
    let p = it
        .compile(
            r#"(plan "p" :body
                 (step "outer" :params {:n 1}
                   [(call :echo (:n %params) "x")
                    (step "inner" (resource:ref "db"))
                    (try (step "bad" (/ 1 0)) (catch :error/division-by-zero e :ok))
                    (try (call "fail" 1) (catch :error/capability e (ex-data e)))
                    (map #(call "echo" %) [1 2])]))"#,
            None,
        )
        .unwrap();
    let v = it.run(&p, &mut host).unwrap();
    assert_eq!(
        rtfs::print::print(&v),
        r#"[[1 "x"] "handle-1" :ok {:capability "fail" :cause {:data {} :kind :error/user :message "inner"} :reason :failed} [[1] [2]]]"#
    );
    assert_eq!(
        host.events,
        vec![
            "start 1 None p nil",
            "start 2 Some(1) outer {:n 1}",
            "start 3 Some(2) inner nil",
            "done 3 \"handle-1\"",
            "start 4 Some(2) bad nil",
            "failed 4 :error/division-by-zero",
            r#"done 2 [[1 "x"] "handle-1" :ok {:capability "fail" :cause {:data {} :kind :error/user :message "inner"} :reason :failed} [[1] [2]]]"#,
            r#"done 1 [[1 "x"] "handle-1" :ok {:capability "fail" :cause {:data {} :kind :error/user :message "inner"} :reason :failed} [[1] [2]]]"#,
        ]
    );
    assert_eq!(host.calls.borrow().len(), 4);
    // Host charges count against the evaluation's steps.
    assert!(it.last_steps() >= 20);
}

#[test]
fn only_data_crosses_and_capabilities_reach_the_host() {
    let mut host = Recorder::default();
    let mut it = Interpreter::default();
    let p = it.compile("(call \"echo\" {:f inc})", None).unwrap();
    let e = it.run(&p, &mut host).unwrap_err();
    assert_eq!(e.kind(), "error/type");
    assert!(
        host.calls.borrow().is_empty(),
        "the host saw a non-data value"
    );

    let p = it
        .compile(
            "(defn helper [x] (* 2 x)) (capability \"demo/double\" :input-schema :int :implementation (fn [x] (helper x)))",
            None,
        )
        .unwrap();
    let d = it.run(&p, &mut host).unwrap();
    assert_eq!(host.descriptors.len(), 1);
    let imp = d.get_key("implementation").unwrap().clone();
    assert_eq!(
        it.apply(&imp, &[Value::Int(21)], &mut host).unwrap(),
        Value::Int(42)
    );
    assert_eq!(d.get_key("input-schema"), Some(&Value::keyword("int")));
}

#[test]
fn errors_carry_where_they_happened() {
    let e = eval_with(Limits::default(), "(do\n  (+ 1\n     (/ 2 0)))").unwrap_err();
    let loc = e.location().expect("location");
    assert_eq!((loc.line, loc.column), (3, 6));
    assert_eq!(loc.file.as_deref(), Some("test.rtfs"));
    let e = eval_with(Limits::default(), "(let [x 1]\n  (undefined-thing x))").unwrap_err();
    assert_eq!(e.kind(), "error/undefined-symbol");
    assert_eq!(e.location().map(|l| l.line), Some(2));
}

#[test]
fn hostile_programs_fail_safely() {
    let d = Limits {
        steps: 5_000_000,
        memory: 16 << 20,
        ..Limits::default()
    };
    for (src, kind) in [
        ("(str/join (repeat 1000000000 \"x\"))", "error/limit"),
        ("(apply str (repeat 100000000 \"abc\"))", "error/limit"),
        ("(loop [s \"x\"] (recur (str s s)))", "error/limit"),
        ("(sort (fn [a b] (throw :x/y \"no\")) [3 1 2])", "x/y"),
        ("(sort [inc dec])", "error/type"),
        ("(assoc-in {} (vec (range 5000)) 1)", "error/limit"),
        (
            "(re-find (apply str (repeat 5000 \"(a*)*\")) \"aaaa\")",
            "error/argument",
        ),
        ("(let [f (fn [& xs] (apply f 1 xs))] (f))", "error/limit"),
        (
            "(reduce (fn [a b] (vector a)) [] (range 5000))",
            "error/limit",
        ),
        (
            "(read-string (apply str (repeat 600 \"[\")))",
            "error/parse",
        ),
        ("(range 0 10 0)", "error/argument"),
        ("(nth [1] 9223372036854775807)", "error/index"),
        ("(subs \"héllo\" 2 9)", "error/index"),
        ("(format \"%d\" \"x\")", "error/argument"),
        (
            "(throw (ex-info :error/limit \"fake\" {}))",
            "error/argument",
        ),
    ] {
        match eval_with(d, src) {
            Err(e) => assert_eq!(e.kind(), kind, "{src}: {e}"),
            Ok(v) => panic!("{src} returned {}", rtfs::print::print(&v)),
        }
    }
}

#[test]
fn deep_data_from_the_reader_is_refused_not_crashed() {
    let src = "[".repeat(100_000);
    let e = on_stack(1 << 20, move || {
        eval_with(Limits::default(), &src)
            .unwrap_err()
            .kind()
            .to_string()
    });
    assert_eq!(e, "error/parse");
    let _ = Rc::new(());
}

#[test]
fn the_deepest_legal_program_compiles_and_runs_on_a_small_stack() {
    for (open, close) in [
        ("(do ", ")"),
        ("(let [x 1] ", ")"),
        ("(fn [] ", ")"),
        ("[", "]"),
        ("(if true ", " 0)"),
        ("(try ", " (finally 1))"),
        ("(-> ", ")"),
    ] {
        let src = format!("{}1{}", open.repeat(500), close.repeat(500));
        let r = on_stack(1 << 20, move || {
            eval_with(Limits::default(), &src)
                .map(|_| ())
                .map_err(|e| e.to_string())
        });
        assert!(r.is_ok(), "{open}…: {r:?}");
    }
}

/// Stubs the capabilities the seed's samples call (LANGUAGE.md §9.4).
#[derive(Default)]
struct SeedHost {
    log: Vec<String>,
}

impl Host for SeedHost {
    fn call(&mut self, req: &CallRequest<'_>, _: &mut u64) -> Result<Value, CallFailure> {
        let arg = req.args.first().cloned().unwrap_or(Value::Nil);
        self.log
            .push(format!("{} {}", req.id, rtfs::print::print(&arg)));
        let v = |s: &str| {
            rtfs::reader::read_expr(s, &Default::default())
                .unwrap()
                .to_value()
        };
        Ok(match req.id {
            "planner.decompose" => v(r#"["fetch issues" "group by label" "count groups"]"#),
            "planner.resolve_intent" => match arg.get_key("intent").and_then(Value::as_str) {
                Some("group by label") => Value::Nil,
                _ => Value::str("known.capability"),
            },
            "planner.synthesize_capability" => v(r#"{:id "generated/group-by-label"}"#),
            "planner.generate_rtfs" => Value::str("(+ 1 2)"),
            "planner.validate_plan" => v("{:valid true :issues []}"),
            "planner.execute_plan" => v("{:status :ok :value 3}"),
            "introspect.plan_trace" => v(r#"{:steps [{:name "a" :ok false}]}"#),
            "learning.analyze_failure" => {
                v(r#"{:explanation "step a failed" :suggested_fix "retry a"}"#)
            }
            _ => return Err(CallFailure::new(Reason::Unknown, "not stubbed")),
        })
    }
}

const SEED_PLAN: &str = r#";; A plan that creates and tests a new capability
(let [goal "group issues by label and count"
      ;; Step 1: Decompose the goal
      intents (call "planner.decompose" {:goal goal})
      
      ;; Step 2: Find missing capabilities
      missing (filter (fn [i] (nil? (call "planner.resolve_intent" {:intent i}))) intents)
      
      ;; Step 3: Synthesize missing capabilities
      synthesized (map (fn [m] (call "planner.synthesize_capability" {:spec m})) missing)
      
      ;; Step 4: Generate the plan
      plan (call "planner.generate_rtfs" {:intents intents :capabilities synthesized})
      
      ;; Step 5: Validate before execution
      validation (call "planner.validate_plan" {:plan plan})]
  
  ;; Only execute if validation passes
  (if (:valid validation)
    (call "planner.execute_plan" {:plan plan})
    {:error "Validation failed" :issues (:issues validation)}))
"#;

const SEED_CAPABILITY: &str = r#";; Self-debugging capability
(capability "self/debug-plan"
  :input-schema [:map [:plan :string] [:issue :string]]
  :output-schema [:map [:diagnosis :string] [:fix [:maybe :string]]]
  :effects [:pure]
  :implementation
  (fn [input]
    (let [trace (call "introspect.plan_trace" {:plan (:plan input)})
          failure-point (find-failure trace)
          diagnosis (call "learning.analyze_failure" 
                         {:trace trace :issue (:issue input)})]
      {:diagnosis (:explanation diagnosis)
       :fix (:suggested_fix diagnosis)})))
"#;

#[test]
fn the_seed_samples_run_against_stubbed_capabilities() {
    let mut host = SeedHost::default();
    let mut it = Interpreter::default();
    let p = it.compile(SEED_PLAN, Some("seed-plan.rtfs")).unwrap();
    let v = it.run(&p, &mut host).unwrap();
    assert_eq!(rtfs::print::print(&v), "{:status :ok :value 3}");
    assert_eq!(host.log.len(), 8, "{:?}", host.log);
    assert_eq!(
        host.log[4],
        r#"planner.synthesize_capability {:spec "group by label"}"#
    );
    // Without a host the first call fails.
    let e = Interpreter::default().eval_str(SEED_PLAN).unwrap_err();
    assert_eq!(e.kind(), "error/capability");

    let src = format!(
        "(defn find-failure [trace] (first (filter #(not (:ok %)) (:steps trace))))\n{SEED_CAPABILITY}"
    );
    let mut it = Interpreter::default();
    let p = it.compile(&src, Some("seed-capability.rtfs")).unwrap();
    let d = it.run(&p, &mut host).unwrap();
    assert_eq!(d.get_key("id"), Some(&Value::str("self/debug-plan")));
    assert_eq!(d.get_key("version"), Some(&Value::str("1.0.0")));
    assert_eq!(
        rtfs::print::print(d.get_key("output-schema").unwrap()),
        "[:map [:diagnosis :string] [:fix [:maybe :string]]]"
    );
    let input = rtfs::reader::read_expr(r#"{:plan "p1" :issue "slow"}"#, &Default::default())
        .unwrap()
        .to_value();
    let imp = d.get_key("implementation").unwrap().clone();
    let out = it
        .apply(&imp, std::slice::from_ref(&input), &mut host)
        .unwrap();
    assert_eq!(
        rtfs::print::print(&out),
        r#"{:diagnosis "step a failed" :fix "retry a"}"#
    );
    // Without find-failure defined, invocation names the missing symbol.
    let mut bare = Interpreter::default();
    let p = bare.compile(SEED_CAPABILITY, None).unwrap();
    let d = bare.run(&p, &mut host).unwrap();
    let imp = d.get_key("implementation").unwrap().clone();
    let e = bare.apply(&imp, &[input], &mut host).unwrap_err();
    assert_eq!(e.kind(), "error/undefined-symbol");
    assert!(e.message().contains("find-failure"));
}
