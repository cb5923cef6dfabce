//! Errors (§7.3), schemas (§6.2), the host boundary (§8.2, §8.4), JSON and `read-string`
//! (§5.9).

use std::rc::Rc;

use super::{arg_error, plain, str_arg};
use crate::error::{Error, ErrorValue, Kind, Result};
use crate::host::CallRequest;
use crate::meter::{Bound, Meter, TextOut};
use crate::print::format_float;
use crate::schema;
use crate::value::{Name, Value};
use crate::vm::{Builtin, Ctx};

fn error_value(fname: &str, kind: Name, message: &Value, data: Option<&Value>) -> Result<Value> {
    let message = str_arg(fname, message)?;
    let data = match data {
        None | Some(Value::Nil) => Value::Nil,
        Some(m @ Value::Map(_)) => m.clone(),
        Some(other) => return Err(Error::type_error(fname, "a map or nil as data", other)),
    };
    Ok(Value::Error(Rc::new(ErrorValue {
        kind,
        message: message.into(),
        data,
        location: None,
    })))
}

fn ex_info_args(fname: &str, args: &[Value]) -> Result<Value> {
    match &args[0] {
        Value::Keyword(k) => {
            let Some(msg) = args.get(1) else {
                return Err(Error::arity(fname, "2-3", args.len()));
            };
            error_value(fname, k.clone(), msg, args.get(2))
        }
        _ => {
            if args.len() > 2 {
                return Err(Error::type_error(
                    fname,
                    "a keyword kind before message and data",
                    &args[0],
                ));
            }
            error_value(fname, Name::new(Kind::User.as_str()), &args[0], args.get(1))
        }
    }
}

fn ex_info(_: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    ex_info_args("ex-info", args)
}

fn throw(_: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    let err = match args {
        [Value::Error(e)] => e.clone(),
        [other] => return Err(Error::type_error("throw", "an error value", other)),
        _ => match ex_info_args("throw", args)? {
            Value::Error(e) => e,
            _ => unreachable!("ex-info builds errors"),
        },
    };
    if err.kind.as_str() == Kind::Limit.as_str() {
        return Err(arg_error(
            "throw",
            "throw: :error/limit is reserved for the host's limits",
        ));
    }
    Err(Error(err))
}

fn ex_field(args: &[Value], field: &str) -> Value {
    match &args[0] {
        Value::Error(e) => e.field(&Value::keyword(field)).unwrap_or(Value::Nil),
        _ => Value::Nil,
    }
}

fn ex_message(_: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    Ok(ex_field(args, "message"))
}
fn ex_data(_: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    Ok(ex_field(args, "data"))
}
fn ex_kind(_: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    Ok(ex_field(args, "kind"))
}

fn runtime_schema(ctx: &mut Ctx<'_>, fname: &str, v: &Value) -> Result<schema::Schema> {
    schema::parse_in(v, false, ctx)?.map_err(|m| {
        Error::new(
            Kind::Schema,
            format!("{fname}: ill-formed schema: {m}"),
            vec![("schema", v.clone())],
        )
    })
}

fn valid(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    let s = runtime_schema(ctx, "valid?", &args[0])?;
    ctx.charge(1 + args[1].depth() as u64)?;
    Ok(Value::Bool(schema::valid_in(&s, &args[1], ctx)?))
}

fn validate(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    let s = runtime_schema(ctx, "validate", &args[0])?;
    ctx.charge(1 + args[1].depth() as u64)?;
    let mut path = Vec::new();
    match schema::first_failure_in(&s, &args[1], &mut path, ctx)? {
        None => Ok(args[1].clone()),
        Some(p) => {
            let mut at = args[1].clone();
            for k in &p {
                at = match super::coll::get_in_value(ctx, "validate", &at, k) {
                    Ok(v) => v.unwrap_or(Value::Nil),
                    Err(e) if e.is(Kind::Limit) => return Err(e),
                    Err(_) => Value::Nil,
                };
            }
            Err(Error::new(
                Kind::Schema,
                format!(
                    "{} does not satisfy {} at {}",
                    crate::print::brief(&at),
                    crate::print::brief(&args[0]),
                    crate::print::brief(&Value::vector(p.clone()))
                ),
                vec![
                    ("path", Value::vector(p)),
                    ("schema", args[0].clone()),
                    ("value", at),
                ],
            ))
        }
    }
}

fn call(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    let id = match &args[0] {
        Value::Str(s) => s.to_string(),
        Value::Keyword(k) => k.as_str().to_string(),
        other => {
            return Err(Error::type_error(
                "call",
                "a string or keyword capability id",
                other,
            ));
        }
    };
    // The host encodes the arguments to hand them over: each node and byte of their
    // expansion is paid for here, and an expansion that cannot be held is refused before any
    // byte is built (their expanded size is known without walking them).
    let mut size = 0u64;
    for a in &args[1..] {
        if !a.is_data() {
            return Err(Error::type_error("call", "data values as arguments", a));
        }
        size = size.saturating_add(a.weight());
    }
    ctx.afford(size, size)?;
    ctx.charge(1 + size)?;
    ctx.host.poll()?;
    let request = CallRequest {
        id: &id,
        args: &args[1..],
        steps_left: ctx.steps_left,
        step: ctx.step_stack.last().copied(),
    };
    let mut charge = 0;
    let result = ctx.host.call(&request, &mut charge);
    ctx.charge(charge)?;
    match result {
        Ok(v) => Ok(v),
        Err(f) => {
            let mut data = vec![
                ("capability", Value::str(&id)),
                ("reason", Value::keyword(f.reason.as_str())),
            ];
            if let Some(cause) = &f.cause {
                data.push((
                    "cause",
                    crate::error::data_map(vec![
                        ("kind", Value::Keyword(cause.0.kind.clone())),
                        ("message", Value::str(cause.message())),
                        ("data", cause.data().clone()),
                    ]),
                ));
            }
            data.extend(f.extra.iter().cloned());
            Err(Error::new(
                Kind::Capability,
                format!("capability {id}: {}", f.message),
                data,
            ))
        }
    }
}

fn resource_ref(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    let name = match &args[0] {
        Value::Str(s) => s.to_string(),
        Value::Keyword(k) | Value::Symbol(k) => k.as_str().to_string(),
        other => {
            return Err(Error::type_error(
                "resource:ref",
                "a resource name string",
                other,
            ));
        }
    };
    Ok(ctx
        .host
        .resource(&name)
        .unwrap_or_else(|| Value::from(format!("@{name}"))))
}

fn json_error(msg: impl Into<String>) -> Error {
    Error::new(Kind::Json, msg, vec![])
}

/// A JSON parser producing RTFS values directly (§5.9): objects → maps with string keys (the
/// last of a repeated key wins), arrays → vectors, numbers without fraction or exponent that
/// fit i64 → Integers (`-0` → `0`), other numbers → Floats. Nesting is bounded by `max_depth`.
struct Json<'a> {
    s: &'a [u8],
    i: usize,
    max_depth: usize,
}

impl Json<'_> {
    fn err(&self, what: &str) -> Error {
        json_error(format!("invalid JSON at byte {}: {what}", self.i))
    }

    fn ws(&mut self) {
        while self.i < self.s.len() && matches!(self.s[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    fn lit(&mut self, word: &str, v: Value) -> Result<Value> {
        if self.s[self.i..].starts_with(word.as_bytes()) {
            self.i += word.len();
            Ok(v)
        } else {
            Err(self.err("unexpected token"))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value> {
        if depth > self.max_depth {
            return Err(Error::limit(
                crate::LimitKind::ValueDepth,
                self.max_depth as u64,
            ));
        }
        self.ws();
        match self.s.get(self.i) {
            None => Err(self.err("unexpected end of input")),
            Some(b'n') => self.lit("null", Value::Nil),
            Some(b't') => self.lit("true", Value::Bool(true)),
            Some(b'f') => self.lit("false", Value::Bool(false)),
            Some(b'"') => Ok(Value::from(self.string()?)),
            Some(b'[') => {
                self.i += 1;
                let mut items = Vec::new();
                self.ws();
                if self.s.get(self.i) == Some(&b']') {
                    self.i += 1;
                    return Ok(Value::vector(items));
                }
                loop {
                    items.push(self.value(depth + 1)?);
                    self.ws();
                    match self.s.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b']') => {
                            self.i += 1;
                            return Ok(Value::vector(items));
                        }
                        _ => return Err(self.err("expected `,` or `]`")),
                    }
                }
            }
            Some(b'{') => {
                self.i += 1;
                let mut entries = crate::value::PMap::new();
                self.ws();
                if self.s.get(self.i) == Some(&b'}') {
                    self.i += 1;
                    return Ok(Value::Map(crate::value::Map::new(entries)));
                }
                loop {
                    self.ws();
                    if self.s.get(self.i) != Some(&b'"') {
                        return Err(self.err("expected a string key"));
                    }
                    let k = self.string()?;
                    self.ws();
                    if self.s.get(self.i) != Some(&b':') {
                        return Err(self.err("expected `:`"));
                    }
                    self.i += 1;
                    let v = self.value(depth + 1)?;
                    entries.insert(Value::from(k), v);
                    self.ws();
                    match self.s.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {
                            self.i += 1;
                            return Ok(Value::Map(crate::value::Map::new(entries)));
                        }
                        _ => return Err(self.err("expected `,` or `}`")),
                    }
                }
            }
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(self.err("unexpected character")),
        }
    }

    fn number(&mut self) -> Result<Value> {
        let start = self.i;
        if self.s[self.i] == b'-' {
            self.i += 1;
        }
        let digits = |j: &mut usize, s: &[u8]| {
            let b = *j;
            while *j < s.len() && s[*j].is_ascii_digit() {
                *j += 1;
            }
            *j - b
        };
        let int_start = self.i;
        let n = digits(&mut self.i, self.s);
        if n == 0 || (n > 1 && self.s[int_start] == b'0') {
            return Err(self.err("malformed number"));
        }
        let mut float = false;
        if self.s.get(self.i) == Some(&b'.') {
            self.i += 1;
            float = true;
            if digits(&mut self.i, self.s) == 0 {
                return Err(self.err("malformed number"));
            }
        }
        if matches!(self.s.get(self.i), Some(b'e' | b'E')) {
            self.i += 1;
            float = true;
            if matches!(self.s.get(self.i), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if digits(&mut self.i, self.s) == 0 {
                return Err(self.err("malformed number"));
            }
        }
        let text = std::str::from_utf8(&self.s[start..self.i]).map_err(|_| self.err("number"))?;
        if !float && let Ok(i) = text.parse::<i64>() {
            return Ok(Value::Int(i));
        }
        text.parse::<f64>()
            .map(Value::Float)
            .map_err(|_| self.err("malformed number"))
    }

    fn hex4(&mut self) -> Result<u32> {
        let h = self
            .s
            .get(self.i..self.i + 4)
            .ok_or_else(|| self.err("short \\u escape"))?;
        let h = std::str::from_utf8(h).map_err(|_| self.err("bad \\u escape"))?;
        let v = u32::from_str_radix(h, 16).map_err(|_| self.err("bad \\u escape"))?;
        self.i += 4;
        Ok(v)
    }

    fn string(&mut self) -> Result<String> {
        self.i += 1;
        let mut out = String::new();
        loop {
            let start = self.i;
            while self.i < self.s.len() && !matches!(self.s[self.i], b'"' | b'\\' | 0..=0x1f) {
                self.i += 1;
            }
            out.push_str(
                std::str::from_utf8(&self.s[start..self.i])
                    .map_err(|_| self.err("invalid UTF-8"))?,
            );
            match self.s.get(self.i) {
                Some(b'"') => {
                    self.i += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.i += 1;
                    let c = *self
                        .s
                        .get(self.i)
                        .ok_or_else(|| self.err("unterminated string"))?;
                    self.i += 1;
                    match c {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let hi = self.hex4()?;
                            let code = if (0xD800..0xDC00).contains(&hi) {
                                if !self.s[self.i..].starts_with(b"\\u") {
                                    return Err(self.err("unpaired surrogate"));
                                }
                                self.i += 2;
                                let lo = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return Err(self.err("unpaired surrogate"));
                                }
                                0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                            } else {
                                hi
                            };
                            out.push(
                                char::from_u32(code)
                                    .ok_or_else(|| self.err("unpaired surrogate"))?,
                            );
                        }
                        _ => return Err(self.err("unknown escape")),
                    }
                }
                Some(_) => return Err(self.err("control character in string")),
                None => return Err(self.err("unterminated string")),
            }
        }
    }
}

/// Parses JSON text into an RTFS value (§5.9), nesting at most `max_depth` deep.
pub fn json_to_value(text: &str, max_depth: usize) -> Result<Value> {
    let mut p = Json {
        s: text.as_bytes(),
        i: 0,
        max_depth,
    };
    let v = p.value(1)?;
    p.ws();
    if p.i != p.s.len() {
        return Err(p.err("trailing characters"));
    }
    Ok(v)
}

fn parse_json(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    let s = str_arg("parse-json", &args[0])?;
    ctx.produce(s.len() as u64, 8 * s.len() as u64)?;
    json_to_value(s, ctx.limits().value_depth as usize)
}

fn json_key(k: &Value) -> Result<String> {
    Ok(match k {
        Value::Str(s) => s.to_string(),
        Value::Keyword(n) | Value::Symbol(n) => n.as_str().to_string(),
        Value::Int(_) | Value::Float(_) | Value::Bool(_) => crate::print::print(k),
        other => {
            return Err(json_error(format!(
                "a {} cannot be a JSON object key",
                other.type_name()
            )));
        }
    })
}

fn write_json<M: Meter>(
    out: &mut TextOut<'_, M>,
    v: &Value,
    pretty: bool,
    indent: usize,
) -> Result<()> {
    let nl = |out: &mut TextOut<'_, M>, level: usize| -> Result<()> {
        if pretty {
            out.push('\n')?;
            for _ in 0..level {
                out.push_str("  ")?;
            }
        }
        Ok(())
    };
    match v {
        Value::Nil => out.push_str("null")?,
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" })?,
        Value::Int(i) => out.push_str(crate::print::int_text(*i, &mut [0; 20]))?,
        Value::Float(f) => {
            if !f.is_finite() {
                return Err(json_error("non-finite floats cannot be serialised to JSON"));
            }
            out.push_str(&format_float(*f))?;
        }
        Value::Str(s) => out.push_str(&serde_json::to_string(&**s).unwrap_or_default())?,
        Value::Keyword(n) | Value::Symbol(n) => {
            out.push_str(&serde_json::to_string(n.as_str()).unwrap_or_default())?
        }
        Value::List(s) | Value::Vector(s) => {
            out.push('[')?;
            for (i, x) in s.items().iter().enumerate() {
                if i > 0 {
                    out.push(',')?;
                }
                nl(out, indent + 1)?;
                write_json(out, x, pretty, indent + 1)?;
            }
            if !s.is_empty() {
                nl(out, indent)?;
            }
            out.push(']')?;
        }
        Value::Map(m) => {
            let mut seen = std::collections::HashSet::new();
            out.push('{')?;
            for (i, (k, x)) in m.entries().iter().enumerate() {
                let key = json_key(k)?;
                if !seen.insert(key.clone()) {
                    return Err(json_error(format!(
                        "two map keys serialise to the JSON key {}",
                        crate::print::brief(&Value::str(&key))
                    )));
                }
                if i > 0 {
                    out.push(',')?;
                }
                nl(out, indent + 1)?;
                out.push_str(&serde_json::to_string(&key).unwrap_or_default())?;
                out.push_str(if pretty { ": " } else { ":" })?;
                write_json(out, x, pretty, indent + 1)?;
            }
            if !m.is_empty() {
                nl(out, indent)?;
            }
            out.push('}')?;
        }
        other => {
            return Err(json_error(format!(
                "a {} cannot be serialised to JSON",
                other.type_name()
            )));
        }
    }
    Ok(())
}

/// Serialises a data value as JSON (§5.9 `serialize-json`), compact or pretty, in at most
/// [`crate::meter::HOST_MAX`] bytes (a larger output is an `:error/limit`).
pub fn value_to_json(v: &Value, pretty: bool) -> Result<String> {
    let mut meter = Bound::default();
    meter.afford(v.weight(), v.weight())?;
    let mut out = TextOut::new(&mut meter);
    write_json(&mut out, v, pretty, 0)?;
    out.finish()
}

fn serialize(ctx: &mut Ctx<'_>, v: &Value, pretty: bool) -> Result<Value> {
    ctx.afford(v.weight(), v.weight())?;
    let mut out = TextOut::new(ctx);
    write_json(&mut out, v, pretty, 0)?;
    Ok(Value::from(out.finish()?))
}

fn serialize_json(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    serialize(ctx, &args[0], false)
}

fn serialize_json_pretty(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    serialize(ctx, &args[0], true)
}

fn read_string(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    let s = str_arg("read-string", &args[0])?;
    ctx.produce(s.len() as u64, 8 * s.len() as u64)?;
    let form = crate::reader::read_expr(s, &Default::default())?;
    if let Some(span) = crate::compile::lone_colon(&form) {
        return Err(Error::parse(
            "a lone `:` is legal only in annotation positions",
            span.location(None),
        ));
    }
    Ok(form.to_value())
}

pub(super) const BUILTINS: &[Builtin] = &[
    plain("ex-info", 2, 3, ex_info),
    plain("throw", 1, 3, throw),
    plain("ex-message", 1, 1, ex_message),
    plain("ex-data", 1, 1, ex_data),
    plain("ex-kind", 1, 1, ex_kind),
    plain("valid?", 2, 2, valid),
    plain("validate", 2, 2, validate),
    plain("call", 1, super::MANY, call),
    plain("resource:ref", 1, 1, resource_ref),
    plain("parse-json", 1, 1, parse_json),
    plain("serialize-json", 1, 1, serialize_json),
    plain("serialize-json-pretty", 1, 1, serialize_json_pretty),
    plain("read-string", 1, 1, read_string),
];
