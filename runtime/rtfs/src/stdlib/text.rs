//! Strings and regular expressions (§5.3 `str`/`keyword`/…, §5.4).

use std::rc::Rc;

use super::{MANY, arg_error, int_arg, items, plain, str_arg};
use crate::error::{Error, Result};
use crate::meter::TextOut;
use crate::print::{write_str_of, write_value};
use crate::value::{RegexValue, Value};
use crate::vm::{Builtin, Ctx};

fn produce_text(ctx: &mut Ctx<'_>, bytes: usize) -> Result<()> {
    ctx.produce(bytes as u64, bytes as u64 + 32)
}

/// `str` of many values, paying per byte as the result grows (refused at once when the
/// values' expanded size cannot fit).
pub(crate) fn str_concat(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<String> {
    let least = args.iter().fold(0u64, |n, a| {
        n.saturating_add(match a {
            Value::Str(s) => s.len() as u64,
            other => other.weight(),
        })
    });
    ctx.afford(least, least)?;
    let mut out = TextOut::new(ctx);
    for a in args {
        write_str_of(&mut out, a)?;
    }
    out.finish()
}

fn str_fn(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    Ok(Value::Str(crate::value::Str::new(str_concat(ctx, args)?)))
}

fn pr_str(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    let least = args.iter().fold(0u64, |n, a| n.saturating_add(a.weight()));
    ctx.afford(least, least)?;
    let mut out = TextOut::new(ctx);
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            out.push(' ')?;
        }
        write_value(&mut out, a)?;
    }
    Ok(Value::from(out.finish()?))
}

fn name_text(fname: &str, args: &[Value]) -> Result<Option<String>> {
    let part = |v: &Value| -> Result<Option<String>> {
        Ok(match v {
            Value::Str(s) => Some(s.to_string()),
            Value::Keyword(n) | Value::Symbol(n) => Some(n.as_str().to_string()),
            Value::Nil => None,
            other => {
                return Err(Error::type_error(
                    fname,
                    "a string, keyword or symbol",
                    other,
                ));
            }
        })
    };
    match args {
        [one] => {
            let t = part(one)?;
            if t.as_deref() == Some("") {
                return Err(arg_error(
                    fname,
                    format!("{fname}: the name must not be empty"),
                ));
            }
            Ok(t)
        }
        [ns, n] => {
            let n = part(n)?.unwrap_or_default();
            if n.is_empty() {
                return Err(arg_error(
                    fname,
                    format!("{fname}: the name must not be empty"),
                ));
            }
            Ok(Some(match part(ns)? {
                Some(ns) if !ns.is_empty() => format!("{ns}/{n}"),
                _ => n,
            }))
        }
        _ => unreachable!("arity checked"),
    }
}

fn keyword(_: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    Ok(name_text("keyword", args)?.map_or(Value::Nil, |t| Value::keyword(&t)))
}

fn symbol(_: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    Ok(name_text("symbol", args)?.map_or(Value::Nil, |t| Value::symbol(&t)))
}

fn name(_: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    match &args[0] {
        Value::Str(s) => Ok(Value::Str(s.clone())),
        Value::Keyword(n) | Value::Symbol(n) => Ok(Value::str(n.name())),
        other => Err(Error::type_error(
            "name",
            "a string, keyword or symbol",
            other,
        )),
    }
}

fn namespace(_: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    match &args[0] {
        Value::Keyword(n) | Value::Symbol(n) => Ok(n.namespace().map_or(Value::Nil, Value::str)),
        other => Err(Error::type_error("namespace", "a keyword or symbol", other)),
    }
}

fn subs(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    let s = str_arg("subs", &args[0])?;
    let chars: Vec<char> = s.chars().collect();
    ctx.charge(chars.len() as u64)?;
    let n = chars.len();
    let start = int_arg("subs", &args[1])?;
    let end = match args.get(2) {
        Some(e) => int_arg("subs", e)?,
        None => n as i64,
    };
    if start < 0 || start as usize > n {
        return Err(Error::index(start, n));
    }
    if end < start || end as usize > n {
        return Err(Error::index(end, n));
    }
    Ok(Value::from(
        chars[start as usize..end as usize]
            .iter()
            .collect::<String>(),
    ))
}

fn format(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    let fmt = str_arg("format", &args[0])?;
    let mut rest = args[1..].iter();
    let mut out = TextOut::new(ctx);
    let mut chars = fmt.chars().peekable();
    let mismatch = |m: &str| arg_error("format", format!("format: {m}"));
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c)?;
            continue;
        }
        let mut precision: Option<usize> = None;
        if chars.peek() == Some(&'.') {
            chars.next();
            let mut digits = String::new();
            while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                digits.push(*d);
                chars.next();
            }
            precision = Some(digits.parse().map_err(|_| mismatch("bad precision"))?);
            if precision.is_some_and(|p| p > 100) {
                return Err(mismatch("precision above 100"));
            }
        }
        match chars.next() {
            Some('%') if precision.is_none() => out.push('%')?,
            Some('s') if precision.is_none() => {
                let a = rest
                    .next()
                    .ok_or_else(|| mismatch("more directives than arguments"))?;
                write_str_of(&mut out, a)?;
            }
            Some('d') if precision.is_none() => match rest.next() {
                Some(Value::Int(i)) => out.write_fmt(format_args!("{i}"))?,
                Some(other) => {
                    return Err(mismatch(&format!(
                        "%d needs an integer, got {}",
                        other.type_name()
                    )));
                }
                None => return Err(mismatch("more directives than arguments")),
            },
            Some('f') => {
                let p = precision.unwrap_or(6);
                match rest.next() {
                    Some(Value::Int(i)) => out.write_fmt(format_args!("{:.p$}", *i as f64))?,
                    Some(Value::Float(f)) => out.write_fmt(format_args!("{f:.p$}"))?,
                    Some(other) => {
                        return Err(mismatch(&format!(
                            "%f needs a number, got {}",
                            other.type_name()
                        )));
                    }
                    None => return Err(mismatch("more directives than arguments")),
                }
            }
            Some(other) => return Err(mismatch(&format!("unknown directive %{other}"))),
            None => return Err(mismatch("a lone % at the end")),
        }
        out.meter().charge(1)?;
    }
    if rest.next().is_some() {
        return Err(mismatch("more arguments than directives"));
    }
    Ok(Value::from(out.finish()?))
}

fn join(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    let (sep, coll) = match args {
        [coll] => ("", coll),
        [sep, coll] => (str_arg("str/join", sep)?, coll),
        _ => unreachable!("arity checked"),
    };
    let it = items(ctx, "str/join", coll)?;
    let mut out = TextOut::new(ctx);
    for (i, x) in it.iter().enumerate() {
        if i > 0 {
            out.push_str(sep)?;
        }
        write_str_of(&mut out, x)?;
    }
    Ok(Value::from(out.finish()?))
}

/// A regex argument: a regex value or a pattern string.
fn regex_arg(fname: &str, v: &Value) -> Result<Rc<RegexValue>> {
    match v {
        Value::Regex(r) => Ok(r.clone()),
        Value::Str(s) => RegexValue::compile(s)
            .map(Rc::new)
            .map_err(|e| arg_error(fname, format!("{fname}: invalid regex: {e}"))),
        other => Err(Error::type_error(fname, "a regex or pattern string", other)),
    }
}

fn parts_value(ctx: &mut Ctx<'_>, parts: Vec<&str>) -> Result<Value> {
    let bytes: usize = parts.iter().map(|p| p.len() + 32).sum();
    ctx.produce(parts.len() as u64, bytes as u64)?;
    Ok(Value::vector(parts.into_iter().map(Value::str).collect()))
}

fn split(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    let s = str_arg("str/split", &args[0])?;
    ctx.charge(s.len() as u64)?;
    match &args[1] {
        Value::Str(sep) => {
            if sep.is_empty() {
                return Err(arg_error("str/split", "str/split: empty separator"));
            }
            parts_value(ctx, s.split(&**sep).collect())
        }
        Value::Regex(r) => {
            if r.regex.is_match("") {
                return Err(arg_error(
                    "str/split",
                    "str/split: the regex matches the empty string",
                ));
            }
            parts_value(ctx, r.regex.split(s).collect())
        }
        other => Err(Error::type_error(
            "str/split",
            "a string or regex separator",
            other,
        )),
    }
}

fn split_lines(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    let s = str_arg("str/split-lines", &args[0])?;
    ctx.charge(s.len() as u64)?;
    if s.is_empty() {
        return parts_value(ctx, vec![""]);
    }
    parts_value(ctx, s.lines().collect())
}

fn text_map(ctx: &mut Ctx<'_>, fname: &str, v: &Value, f: fn(&str) -> String) -> Result<Value> {
    let s = str_arg(fname, v)?;
    produce_text(ctx, s.len())?;
    Ok(Value::from(f(s)))
}

fn upper(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    text_map(ctx, "str/upper-case", &args[0], str::to_uppercase)
}
fn lower(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    text_map(ctx, "str/lower-case", &args[0], str::to_lowercase)
}
fn capitalize(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    text_map(ctx, "str/capitalize", &args[0], |s| {
        let mut c = s.chars();
        match c.next() {
            Some(f) => f.to_uppercase().collect::<String>() + &c.as_str().to_lowercase(),
            None => String::new(),
        }
    })
}
fn trim(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    text_map(ctx, "str/trim", &args[0], |s| s.trim().to_string())
}
fn triml(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    text_map(ctx, "str/triml", &args[0], |s| s.trim_start().to_string())
}
fn trimr(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    text_map(ctx, "str/trimr", &args[0], |s| s.trim_end().to_string())
}
fn reverse(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    text_map(ctx, "str/reverse", &args[0], |s| s.chars().rev().collect())
}

fn blank(_: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    match &args[0] {
        Value::Nil => Ok(Value::Bool(true)),
        v => Ok(Value::Bool(str_arg("str/blank?", v)?.trim().is_empty())),
    }
}

fn two_strs<'a>(ctx: &mut Ctx<'_>, fname: &str, args: &'a [Value]) -> Result<(&'a str, &'a str)> {
    let a = str_arg(fname, &args[0])?;
    let b = str_arg(fname, &args[1])?;
    ctx.charge((a.len() + b.len()) as u64)?;
    Ok((a, b))
}

fn includes(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    let (a, b) = two_strs(ctx, "str/includes?", args)?;
    Ok(Value::Bool(a.contains(b)))
}
fn starts_with(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    let (a, b) = two_strs(ctx, "str/starts-with?", args)?;
    Ok(Value::Bool(a.starts_with(b)))
}
fn ends_with(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    let (a, b) = two_strs(ctx, "str/ends-with?", args)?;
    Ok(Value::Bool(a.ends_with(b)))
}

fn index_of(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    let (s, needle) = two_strs(ctx, "str/index-of", args)?;
    let from = match args.get(2) {
        Some(v) => int_arg("str/index-of", v)?.max(0) as usize,
        None => 0,
    };
    let Some((byte_from, _)) = s.char_indices().nth(from).or(if from == s.chars().count() {
        Some((s.len(), ' '))
    } else {
        None
    }) else {
        return Ok(Value::Nil);
    };
    Ok(match s[byte_from..].find(needle) {
        Some(b) => Value::Int((from + s[byte_from..byte_from + b].chars().count()) as i64),
        None => Value::Nil,
    })
}

fn replace(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    let s = str_arg("str/replace", &args[0])?;
    let rep = str_arg("str/replace", &args[2])?;
    ctx.charge(s.len() as u64)?;
    let out = match &args[1] {
        Value::Str(m) => {
            if m.is_empty() {
                return Err(arg_error("str/replace", "str/replace: empty match string"));
            }
            let n = s.matches(&**m).count();
            produce_text(ctx, s.len() + n * rep.len())?;
            s.replace(&**m, rep)
        }
        Value::Regex(r) => {
            let n = r.regex.find_iter(s).count();
            produce_text(ctx, s.len() + n * (rep.len() + 64))?;
            r.regex.replace_all(s, rep).into_owned()
        }
        other => {
            return Err(Error::type_error(
                "str/replace",
                "a string or regex to match",
                other,
            ));
        }
    };
    Ok(Value::from(out))
}

fn re_pattern(_: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    Ok(Value::Regex(regex_arg("re-pattern", &args[0])?))
}

fn captures_value(r: &regex::Regex, caps: &regex::Captures<'_>) -> Value {
    if r.captures_len() == 1 {
        return Value::str(caps.get(0).map_or("", |m| m.as_str()));
    }
    Value::vector(
        caps.iter()
            .map(|m| m.map_or(Value::Nil, |m| Value::str(m.as_str())))
            .collect(),
    )
}

fn re_find(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    let r = regex_arg("re-find", &args[0])?;
    let s = str_arg("re-find", &args[1])?;
    ctx.charge(s.len() as u64)?;
    Ok(r.regex
        .captures(s)
        .map_or(Value::Nil, |c| captures_value(&r.regex, &c)))
}

fn re_matches(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    let r = regex_arg("re-matches", &args[0])?;
    let s = str_arg("re-matches", &args[1])?;
    ctx.charge(s.len() as u64)?;
    let anchored = RegexValue::compile(&format!("^(?:{})$", r.pattern))
        .map_err(|e| arg_error("re-matches", format!("re-matches: {e}")))?;
    // Keep group numbering of the original pattern: the wrapper group is non-capturing.
    Ok(anchored
        .regex
        .captures(s)
        .map_or(Value::Nil, |c| captures_value(&anchored.regex, &c)))
}

fn re_seq(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    let r = regex_arg("re-seq", &args[0])?;
    let s = str_arg("re-seq", &args[1])?;
    ctx.charge(s.len() as u64)?;
    let mut out = Vec::new();
    for c in r.regex.captures_iter(s) {
        ctx.produce(1, 64)?;
        out.push(captures_value(&r.regex, &c));
    }
    Ok(Value::vector(out))
}

pub(super) const BUILTINS: &[Builtin] = &[
    plain("str", 0, MANY, str_fn),
    plain("pr-str", 0, MANY, pr_str),
    plain("keyword", 1, 2, keyword),
    plain("symbol", 1, 2, symbol),
    plain("name", 1, 1, name),
    plain("namespace", 1, 1, namespace),
    plain("subs", 2, 3, subs),
    plain("format", 1, MANY, format),
    plain("str/join", 1, 2, join),
    plain("str/split", 2, 2, split),
    plain("str/split-lines", 1, 1, split_lines),
    plain("str/upper-case", 1, 1, upper),
    plain("str/lower-case", 1, 1, lower),
    plain("str/capitalize", 1, 1, capitalize),
    plain("str/trim", 1, 1, trim),
    plain("str/triml", 1, 1, triml),
    plain("str/trimr", 1, 1, trimr),
    plain("str/blank?", 1, 1, blank),
    plain("str/includes?", 2, 2, includes),
    plain("str/starts-with?", 2, 2, starts_with),
    plain("str/ends-with?", 2, 2, ends_with),
    plain("str/index-of", 2, 3, index_of),
    plain("str/replace", 3, 3, replace),
    plain("str/reverse", 1, 1, reverse),
    plain("re-pattern", 1, 1, re_pattern),
    plain("re-find", 2, 2, re_find),
    plain("re-matches", 2, 2, re_matches),
    plain("re-seq", 2, 2, re_seq),
];
