//! Errors (§7.3), schemas (§6.2), the host boundary (§8.2, §8.4), JSON and `read-string`
//! (§5.9).

use std::rc::Rc;

use super::{arg_error, plain, str_arg};
use crate::error::{Error, ErrorValue, Kind, Result};
use crate::print::format_float;
use crate::schema;
use crate::value::{Name, Value};
use crate::vm::{Builtin, CallRequest, Ctx};

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

fn runtime_schema(fname: &str, v: &Value) -> Result<schema::Schema> {
    schema::parse(v, false).map_err(|m| {
        Error::new(
            Kind::Schema,
            format!("{fname}: ill-formed schema: {m}"),
            vec![("schema", v.clone())],
        )
    })
}

fn valid(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    let s = runtime_schema("valid?", &args[0])?;
    ctx.charge(1 + args[1].depth() as u64)?;
    Ok(Value::Bool(schema::valid(&s, &args[1])))
}

fn validate(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    let s = runtime_schema("validate", &args[0])?;
    ctx.charge(1 + args[1].depth() as u64)?;
    let mut path = Vec::new();
    match schema::first_failure(&s, &args[1], &mut path) {
        None => Ok(args[1].clone()),
        Some(p) => {
            let mut at = args[1].clone();
            for k in &p {
                at = super::coll::get_in_value("validate", &at, k)
                    .ok()
                    .flatten()
                    .unwrap_or(Value::Nil);
            }
            Err(Error::new(
                Kind::Schema,
                format!(
                    "{} does not satisfy {} at {}",
                    crate::print::print(&at),
                    crate::print::print(&args[0]),
                    crate::print::print(&Value::vector(p.clone()))
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
    for a in &args[1..] {
        if !a.is_data() {
            return Err(Error::type_error("call", "data values as arguments", a));
        }
    }
    ctx.charge(1)?;
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

/// Converts parsed JSON into an RTFS value (§5.9).
pub fn json_to_value(j: &serde_json::Value) -> Value {
    match j {
        serde_json::Value::Null => Value::Nil,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) if !n.to_string().contains(['.', 'e', 'E']) => Value::Int(i),
            _ => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        serde_json::Value::String(s) => Value::str(s),
        serde_json::Value::Array(items) => Value::vector(items.iter().map(json_to_value).collect()),
        serde_json::Value::Object(m) => Value::map(
            m.iter()
                .map(|(k, v)| (Value::str(k), json_to_value(v)))
                .collect(),
        ),
    }
}

fn parse_json(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    let s = str_arg("parse-json", &args[0])?;
    ctx.produce(s.len() as u64, 8 * s.len() as u64)?;
    let j: serde_json::Value =
        serde_json::from_str(s).map_err(|e| json_error(format!("invalid JSON: {e}")))?;
    Ok(json_to_value(&j))
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

fn write_json(out: &mut String, v: &Value, pretty: bool, indent: usize) -> Result<()> {
    let nl = |out: &mut String, level: usize| {
        if pretty {
            out.push('\n');
            for _ in 0..level {
                out.push_str("  ");
            }
        }
    };
    match v {
        Value::Nil => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => out.push_str(&i.to_string()),
        Value::Float(f) => {
            if !f.is_finite() {
                return Err(json_error("non-finite floats cannot be serialised to JSON"));
            }
            out.push_str(&format_float(*f));
        }
        Value::Str(s) => out.push_str(&serde_json::to_string(&**s).unwrap_or_default()),
        Value::Keyword(n) | Value::Symbol(n) => {
            out.push_str(&serde_json::to_string(n.as_str()).unwrap_or_default())
        }
        Value::List(s) | Value::Vector(s) => {
            out.push('[');
            for (i, x) in s.items().iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                nl(out, indent + 1);
                write_json(out, x, pretty, indent + 1)?;
            }
            if !s.is_empty() {
                nl(out, indent);
            }
            out.push(']');
        }
        Value::Map(m) => {
            let mut seen = std::collections::HashSet::new();
            out.push('{');
            for (i, (k, x)) in m.entries().iter().enumerate() {
                let key = json_key(k)?;
                if !seen.insert(key.clone()) {
                    return Err(json_error(format!(
                        "two map keys serialise to the JSON key {key:?}"
                    )));
                }
                if i > 0 {
                    out.push(',');
                }
                nl(out, indent + 1);
                out.push_str(&serde_json::to_string(&key).unwrap_or_default());
                out.push_str(if pretty { ": " } else { ":" });
                write_json(out, x, pretty, indent + 1)?;
            }
            if !m.is_empty() {
                nl(out, indent);
            }
            out.push('}');
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

fn serialize(ctx: &mut Ctx<'_>, v: &Value, pretty: bool) -> Result<Value> {
    let mut out = String::new();
    write_json(&mut out, v, pretty, 0)?;
    ctx.produce(out.len() as u64, out.len() as u64)?;
    Ok(Value::from(out))
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
