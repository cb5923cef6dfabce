//! The one printed form of every value (§2.5).

use std::fmt::Write;

use crate::value::Value;

/// The printed form of a value (`pr-str`, the REPL, `kiln eval`).
pub fn print(v: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, v);
    out
}

/// `str` of one value: raw text for strings, the printed form otherwise.
pub fn to_str(v: &Value) -> String {
    match v {
        Value::Str(s) => s.as_str().to_owned(),
        other => print(other),
    }
}

/// Appends `str` of one value.
pub fn write_str_of(out: &mut String, v: &Value) {
    match v {
        Value::Str(s) => out.push_str(s),
        other => write_value(out, other),
    }
}

/// Formats a float as §2.5 says (Rust's `{:?}`, with `##` forms for non-finite values).
pub fn format_float(f: f64) -> String {
    if f.is_nan() {
        "##NaN".to_owned()
    } else if f.is_infinite() {
        if f > 0.0 {
            "##Inf".to_owned()
        } else {
            "##-Inf".to_owned()
        }
    } else {
        format!("{f:?}")
    }
}

/// Appends a string literal with §2.5's escapes.
pub fn write_string_literal(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Appends the printed form of `v`.
pub fn write_value(out: &mut String, v: &Value) {
    match v {
        Value::Nil => out.push_str("nil"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Float(f) => out.push_str(&format_float(*f)),
        Value::Str(s) => write_string_literal(out, s),
        Value::Keyword(k) => {
            out.push(':');
            out.push_str(k);
        }
        Value::Symbol(s) => out.push_str(s),
        Value::List(items) => write_items(out, '(', ')', items.items().iter()),
        Value::Vector(items) => write_items(out, '[', ']', items.items().iter()),
        Value::Map(m) => {
            out.push('{');
            for (i, (k, v)) in m.entries().iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                write_value(out, k);
                out.push(' ');
                write_value(out, v);
            }
            out.push('}');
        }
        Value::Fn(f) => match f.name() {
            Some(name) => {
                let _ = write!(out, "#<fn {name}>");
            }
            None => out.push_str("#<fn>"),
        },
        Value::Error(e) => {
            let _ = write!(out, "#<error :{} ", e.kind.as_str());
            write_string_literal(out, &e.message);
            out.push('>');
        }
        Value::Regex(r) => {
            out.push_str("#\"");
            out.push_str(&r.pattern);
            out.push('"');
        }
    }
}

fn write_items<'a>(
    out: &mut String,
    open: char,
    close: char,
    items: impl Iterator<Item = &'a Value>,
) {
    out.push(open);
    for (i, item) in items.enumerate() {
        if i > 0 {
            out.push(' ');
        }
        write_value(out, item);
    }
    out.push(close);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_as_the_contract_says() {
        let cases = [
            (4.0, "4.0"),
            (0.0001, "0.0001"),
            (-0.0, "-0.0"),
            (12300.0, "12300.0"),
            (1e20, "1e20"),
            (1.5e-7, "1.5e-7"),
            (1e16, "1e16"),
            (-0.0456, "-0.0456"),
            (f64::INFINITY, "##Inf"),
            (f64::NEG_INFINITY, "##-Inf"),
            (f64::NAN, "##NaN"),
        ];
        for (f, want) in cases {
            assert_eq!(format_float(f), want);
        }
    }
}
