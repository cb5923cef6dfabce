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
