//! The one printed form of every value (§2.5).
//!
//! Printing walks the expansion of a value, which sharing can make astronomically larger than
//! the value itself, so every printer pays a [`Meter`] one unit per byte it writes (each node
//! writes at least one) and checks the output's size before it grows. Inside an evaluation
//! that meter is the builtin's context ([`print_in`]); the host's [`print`] stops at
//! [`PRINT_MAX`] bytes and [`brief`], for messages, at [`BRIEF_MAX`].

use crate::error::Result;
use crate::meter::{Bound, Meter, TextOut};
use crate::value::Value;

/// The most [`print`] writes: 16 MiB; a longer form is cut and ends in `…`.
pub const PRINT_MAX: usize = 16 << 20;

/// The most [`brief`] writes: 1 KiB, for a value inside a message.
pub const BRIEF_MAX: usize = 1024;

/// The printed form of a value (`pr-str`, the REPL, `kiln eval`), cut at [`PRINT_MAX`] bytes.
pub fn print(v: &Value) -> String {
    print_cut(v, PRINT_MAX)
}

/// The printed form cut at [`BRIEF_MAX`] bytes: for messages that name a value.
pub fn brief(v: &Value) -> String {
    print_cut(v, BRIEF_MAX)
}

/// The printed form of a value, or as much as fits `max` bytes followed by `…`.
pub fn print_cut(v: &Value, max: usize) -> String {
    let mut meter = Bound::new(u64::MAX, max as u64);
    let mut out = TextOut::new(&mut meter);
    match write_value(&mut out, v) {
        Ok(()) if out.text.len() <= max => out.text,
        _ => {
            let mut text = out.text;
            let mut cut = max.min(text.len());
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
            text.push('…');
            text
        }
    }
}

/// The printed form, paid for by `meter` (refused at once when it cannot fit).
pub fn print_in<M: Meter>(v: &Value, meter: &mut M) -> Result<String> {
    meter.afford(v.weight(), v.weight())?;
    let mut out = TextOut::new(meter);
    write_value(&mut out, v)?;
    out.finish()
}

/// `str` of one value: raw text for strings, the printed form otherwise (host side, cut at
/// [`PRINT_MAX`]).
pub fn to_str(v: &Value) -> String {
    match v {
        Value::Str(s) => s.as_str().to_owned(),
        other => print(other),
    }
}

/// Appends `str` of one value.
pub(crate) fn write_str_of<M: Meter>(out: &mut TextOut<'_, M>, v: &Value) -> Result<()> {
    match v {
        Value::Str(s) => out.push_str(s),
        other => write_value(out, other),
    }
}

/// The decimal text of an integer, written into `buf` (faster than `fmt` for the many small
/// integers a walk prints).
pub(crate) fn int_text(i: i64, buf: &mut [u8; 20]) -> &str {
    let mut n = i.unsigned_abs();
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if i < 0 {
        at -= 1;
        buf[at] = b'-';
    }
    std::str::from_utf8(&buf[at..]).unwrap_or("0")
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
                use std::fmt::Write;
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Appends a string literal with §2.5's escapes, paying for it.
fn write_literal<M: Meter>(out: &mut TextOut<'_, M>, s: &str) -> Result<()> {
    out.push('"')?;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        let escape = match c {
            '"' => "\\\"",
            '\\' => "\\\\",
            '\n' => "\\n",
            '\t' => "\\t",
            '\r' => "\\r",
            c if c.is_control() => "",
            _ => continue,
        };
        out.push_str(&s[start..i])?;
        if escape.is_empty() {
            out.write_fmt(format_args!("\\u{:04x}", c as u32))?;
        } else {
            out.push_str(escape)?;
        }
        start = i + c.len_utf8();
    }
    out.push_str(&s[start..])?;
    out.push('"')
}

/// Appends the printed form of `v`.
pub(crate) fn write_value<M: Meter>(out: &mut TextOut<'_, M>, v: &Value) -> Result<()> {
    match v {
        Value::Nil => out.push_str("nil"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => out.push_str(int_text(*i, &mut [0; 20])),
        Value::Float(f) => out.push_str(&format_float(*f)),
        Value::Str(s) => write_literal(out, s),
        Value::Keyword(k) => {
            out.push(':')?;
            out.push_str(k)
        }
        Value::Symbol(s) => out.push_str(s),
        Value::List(items) => write_items(out, '(', ')', items),
        Value::Vector(items) => write_items(out, '[', ']', items),
        Value::Map(m) => {
            out.push('{')?;
            for (i, (k, v)) in m.entries().iter().enumerate() {
                if i > 0 {
                    out.push(' ')?;
                }
                write_value(out, k)?;
                out.push(' ')?;
                write_value(out, v)?;
            }
            out.push('}')
        }
        Value::Fn(f) => match f.name() {
            Some(name) => out.write_fmt(format_args!("#<fn {name}>")),
            None => out.push_str("#<fn>"),
        },
        Value::Error(e) => {
            out.write_fmt(format_args!("#<error :{} ", e.kind.as_str()))?;
            write_literal(out, &e.message)?;
            out.push('>')
        }
        Value::Regex(r) => {
            out.push_str("#\"")?;
            out.push_str(&r.pattern)?;
            out.push('"')
        }
    }
}

#[inline(never)]
fn write_items<M: Meter>(
    out: &mut TextOut<'_, M>,
    open: char,
    close: char,
    items: &crate::value::Seq,
) -> Result<()> {
    out.push(open)?;
    items.try_each(|i, item| {
        if i > 0 {
            out.push(' ')?;
        }
        write_value(out, item)
    })?;
    out.push(close)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_print_in_decimal() {
        for i in [0, 7, -7, 10, 1234567890, i64::MAX, i64::MIN] {
            assert_eq!(int_text(i, &mut [0; 20]), i.to_string());
        }
    }

    #[test]
    fn a_cut_print_ends_in_an_ellipsis_on_a_char_boundary() {
        let v = Value::vector(vec![Value::str("ééééé"); 400]);
        let cut = print_cut(&v, 101);
        assert!(
            cut.ends_with('…') && cut.len() <= 101 + '…'.len_utf8(),
            "{cut}"
        );
        assert_eq!(print_cut(&v, 1 << 20), print(&v));
    }

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
