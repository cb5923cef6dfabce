//! Print → read round trips over a table of data literals.

#[test]
fn print_read_round_trip() {
    let cases = [
        "nil",
        "true",
        "42",
        "-7",
        "4.0",
        "1e20",
        "##NaN",
        "\"say \\\"hi\\\"\"",
        ":a/b",
        "x",
        "(1 2)",
        "[1 [2 3]]",
        "{:a 1 \"b\" 2}",
        "{[1 2] :pair nil 0 1.5 \"x\"}",
        "-0.0456",
    ];
    for src in cases {
        let v = rtfs::reader::read_expr(src, &Default::default())
            .unwrap()
            .to_value();
        let printed = rtfs::print::print(&v);
        let back = rtfs::reader::read_expr(&printed, &Default::default())
            .unwrap()
            .to_value();
        assert_eq!(v, back, "{src} printed as {printed}");
        let bytes = rtfs::encoding::encode(&v).unwrap();
        assert_eq!(
            rtfs::encoding::decode(&bytes, Default::default()).unwrap(),
            v
        );
    }
}

mod props {
    use proptest::prelude::*;
    use rtfs::Value;

    fn name() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z][a-z0-9*+!?<>=_-]{0,8}",
            "[a-z]{1,4}\\.[a-z]{1,4}/[a-z][a-z0-9-]{0,5}",
            "[α-ω]{1,3}",
        ]
    }

    fn scalar() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Nil),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::Int),
            any::<f64>().prop_map(Value::Float),
            prop_oneof![Just(f64::INFINITY), Just(f64::NEG_INFINITY), Just(-0.0)]
                .prop_map(Value::Float),
            ".{0,12}".prop_map(|s: String| Value::str(&s)),
            name().prop_map(|n| Value::keyword(&n)),
            name().prop_map(|n| Value::symbol(&n)),
        ]
    }

    fn value() -> impl Strategy<Value = Value> {
        scalar().prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::vector),
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::list),
                prop::collection::vec((inner.clone(), inner), 0..5).prop_map(Value::map),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn print_read_round_trips(v in value()) {
            let printed = rtfs::print::print(&v);
            let back = rtfs::reader::read_expr(&printed, &Default::default())
                .map_err(|e| TestCaseError::fail(format!("{printed}: {e}")))?
                .to_value();
            prop_assert_eq!(rtfs::print::print(&back), printed.clone());
            prop_assert!(rtfs::order::equal(&back, &v), "{}", printed);
        }

        #[test]
        fn encode_decode_round_trips(v in value()) {
            let bytes = rtfs::encoding::encode(&v).unwrap();
            let back = rtfs::encoding::decode(&bytes, Default::default()).unwrap();
            // Exact: kinds are preserved (Integer vs Float, list vs vector).
            prop_assert_eq!(rtfs::print::print(&back), rtfs::print::print(&v));
            prop_assert_eq!(rtfs::encoding::encode(&back).unwrap(), bytes);
        }

        #[test]
        fn equal_values_compare_equal_and_order_is_total(a in value(), b in value()) {
            use std::cmp::Ordering;
            let ab = rtfs::order::compare(&a, &b);
            prop_assert_eq!(ab == Ordering::Equal, rtfs::order::equal(&a, &b));
            prop_assert_eq!(rtfs::order::compare(&b, &a), ab.reverse());
        }
    }
}
