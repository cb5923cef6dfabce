//! Static analysis (what `planner.validate_plan` will report) and the builtin signature table.

use rtfs::analysis::{ProblemKind, analyze};

#[test]
fn analysis_finds_what_is_certain_to_fail() {
    let src = r#"
(defn helper [a b] (+ a b))
(let [x (helper 1)
      y (inc 1 2)
      z (frobnicate x)
      s (str/join "," [1 2])
      r (call "planner.decompose" {:goal "g"})
      k (call :text.words "a b")
      d (call (str "dyn" "amic") 1)]
  (if false (no-such-fn) [x y z s r k d (helper 1 2)]))
"#;
    let a = analyze(src, Some("plan.rtfs")).expect("analyses");
    let found: Vec<(ProblemKind, u32, &str)> = a
        .problems
        .iter()
        .map(|p| (p.kind, p.location.line, p.message.as_str()))
        .collect();
    assert_eq!(
        found,
        vec![
            (
                ProblemKind::Arity,
                3,
                "helper called with 1 argument(s); it accepts 2"
            ),
            (
                ProblemKind::Arity,
                4,
                "inc called with 2 argument(s); it accepts 1"
            ),
            (
                ProblemKind::UnknownSymbol,
                5,
                "undefined symbol: frobnicate"
            ),
            (
                ProblemKind::UnknownSymbol,
                10,
                "undefined symbol: no-such-fn"
            ),
        ]
    );
    assert_eq!(
        a.call_targets
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        vec!["planner.decompose", "text.words"]
    );
    assert_eq!(a.dynamic_calls, 1);
    assert!(a.builtins_used.contains("str/join") && a.builtins_used.contains("call"));
    assert!(a.defined.contains("helper"));
    assert_eq!(a.max_nesting, 4);
    assert_eq!(a.forms, 2);
}

#[test]
fn analysis_respects_shadowing_and_reports_syntax_errors() {
    // Locals shadow builtins; a redefinition of a builtin is the program's own.
    let a = analyze(
        "(defn inc [a b] (+ a b)) (let [count (fn [a b c] a)] [(count 1 2 3) (inc 1 2)])",
        None,
    )
    .unwrap();
    assert!(a.is_clean(), "{:?}", a.problems);
    let e = analyze("(let [x] x)", None).unwrap_err();
    assert_eq!(e.kind(), "error/parse");
    let e = analyze("(loop [i 0] (inc (recur i)))", None).unwrap_err();
    assert_eq!(e.kind(), "error/parse");
}

#[test]
fn every_builtin_has_a_signature_that_agrees_with_its_arity() {
    let mut n = 0;
    for b in rtfs::stdlib::all() {
        let s = rtfs::stdlib::signature(b.name)
            .unwrap_or_else(|| panic!("no signature for {}", b.name));
        assert_eq!(s.min_args(), b.min as usize, "{}", b.name);
        let max = if b.max == u16::MAX {
            None
        } else {
            Some(b.max as usize)
        };
        assert_eq!(s.max_args(), max, "{}", b.name);
        n += 1;
    }
    assert_eq!(
        rtfs::stdlib::signatures().count(),
        n,
        "signatures of unknown builtins"
    );
    assert_eq!(
        rtfs::stdlib::signature("string-join").unwrap().name,
        "str/join"
    );
    assert_eq!(rtfs::stdlib::signature("map").unwrap().returns, "vector");
}
