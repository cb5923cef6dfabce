//! The bodies of the fuzz targets (`fuzz/`), here so that a stable test can replay the
//! corpora and the regression inputs in CI (`tests/all/fuzz_replay.rs`).

use crate::encoding::{DecodeLimits, decode as decode_bytes, encode};
use crate::host::NoHost;
use crate::print::print;
use crate::reader::{ReadOptions, read_expr, read_program};
use crate::vm::{Interpreter, Limits};

/// Reads arbitrary text; a data value that reads prints and reads back equal.
pub fn read(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = read_program(text, &ReadOptions::default());
    if let Ok(form) = read_expr(text, &ReadOptions::default()) {
        let v = form.to_value();
        let printed = print(&v);
        if v.is_data()
            && printable_round_trip(&v)
            && let Ok(again) = read_expr(&printed, &ReadOptions::default())
        {
            assert_eq!(
                print(&again.to_value()),
                printed,
                "print → read changed {printed}"
            );
        }
    }
}

fn printable_round_trip(v: &crate::Value) -> bool {
    use crate::Value;
    match v {
        Value::Keyword(n) | Value::Symbol(n) => {
            crate::reader::is_valid_symbol_text(n.as_str()) || matches!(v, Value::Keyword(_))
        }
        Value::List(s) | Value::Vector(s) => s.items().iter().all(printable_round_trip),
        Value::Map(m) => m
            .entries()
            .iter()
            .all(|(k, x)| printable_round_trip(k) && printable_round_trip(x)),
        _ => true,
    }
}

/// Decodes arbitrary bytes; a value that decodes re-encodes to the same bytes (the encoding
/// is canonical, so the decoder accepts only canonical input).
pub fn decode(data: &[u8]) {
    let limits = DecodeLimits {
        max_depth: 200,
        max_bytes: 1 << 20,
    };
    if let Ok(v) = decode_bytes(data, limits) {
        let again = encode(&v).expect("decoded values are data");
        assert_eq!(again, data, "decode → encode is not the identity");
    }
}

/// Reads and evaluates arbitrary text under small limits.
pub fn eval(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let limits = Limits {
        steps: 20_000,
        depth: 200,
        memory: 4 << 20,
        value_depth: 100,
    };
    let mut it = Interpreter::new(limits);
    if let Ok(p) = it.compile(text, None) {
        let _ = it.run(&p, &mut NoHost);
    }
}

/// Parses arbitrary text as JSON (`parse-json`); whatever parses serialises back and parses
/// to an equal value.
pub fn json(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(v) = crate::stdlib::json_to_value(text, 100)
        && let Ok(out) = crate::stdlib::value_to_json(&v, false)
    {
        let again = crate::stdlib::json_to_value(&out, 100).expect("serialised JSON parses");
        assert_eq!(print(&again), print(&v), "JSON round trip changed {out}");
    }
}
