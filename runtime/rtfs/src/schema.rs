//! Schemas — type expressions (§6): parsing from data and validation.
//!
//! One notation serves annotations, capability schemas and `valid?`/`validate`. Parsing
//! happens once (at analysis for annotations and capability properties, at call time for
//! run-time schemas); validating a well-formed schema never fails, it only answers.

use std::cmp::Ordering;

use crate::meter::{Bound, Meter};
use crate::order::{charge_key, equal_in, num_cmp};
use crate::print::brief;
use crate::value::Value;

/// A parsed type expression.
#[derive(Clone, Debug)]
pub enum Schema {
    /// Every value.
    Any,
    /// No value.
    Never,
    /// nil.
    Nil,
    /// Booleans.
    Bool,
    /// Integers.
    Int,
    /// Floats and Integers (widening).
    Float,
    /// Integers and Floats.
    Number,
    /// Strings.
    String,
    /// Keywords.
    Keyword,
    /// Symbols.
    Symbol,
    /// Any map.
    Map,
    /// Any vector.
    Vector,
    /// Any list.
    List,
    /// Functions.
    Fn,
    /// `[:vector T]`.
    VectorOf(Box<Schema>),
    /// `[:sequential T]`.
    Sequential(Box<Schema>),
    /// `[:tuple T…]`.
    Tuple(Vec<Schema>),
    /// `[:map props? entry…]`.
    MapEntries {
        /// `{:closed true}`.
        closed: bool,
        /// (key, optional, schema).
        entries: Vec<(Value, bool, Schema)>,
    },
    /// `[:map-of K V]`.
    MapOf(Box<Schema>, Box<Schema>),
    /// `[:maybe T]`.
    Maybe(Box<Schema>),
    /// `[:or T…]`.
    Or(Vec<Schema>),
    /// `[:and T x…]`.
    And(Vec<Schema>),
    /// `[:enum v…]`.
    Enum(Vec<Value>),
    /// `[:= v]`.
    Eq(Value),
    /// `[:!= v]`.
    NotEq(Value),
    /// Numeric predicates `[:> v]` …; the ordering that must hold of `x` vs `v`.
    Compare(Value, &'static [Ordering]),
    /// `[:in-range lo hi]`.
    InRange(Value, Value),
    /// Count predicates: (min, max) inclusive.
    Count(Option<i64>, Option<i64>),
    /// `[:matches-regex "re"]`.
    Matches(Box<regex::Regex>),
    /// `[:has-key k]` / `[:required-keys [k…]]`.
    HasKeys(Vec<Value>),
}

/// Parses a named type (`int`, `Int`, `:int?` …) from its text; `T?` means `[:maybe T]`.
pub fn named_type(text: &str) -> Option<Schema> {
    if let Some(base) = text.strip_suffix('?')
        && let Some(s) = base_type(base)
    {
        return Some(Schema::Maybe(Box::new(s)));
    }
    base_type(text)
}

fn base_type(text: &str) -> Option<Schema> {
    Some(match text {
        "any" | "Any" => Schema::Any,
        "never" | "Never" => Schema::Never,
        "nil" | "Nil" => Schema::Nil,
        "bool" | "boolean" | "Bool" | "Boolean" => Schema::Bool,
        "int" | "integer" | "Int" | "Integer" => Schema::Int,
        "float" | "double" | "Float" | "Double" => Schema::Float,
        "number" | "Number" => Schema::Number,
        "string" | "String" => Schema::String,
        "keyword" | "Keyword" => Schema::Keyword,
        "symbol" | "Symbol" => Schema::Symbol,
        "map" | "Map" => Schema::Map,
        "vector" | "Vector" => Schema::Vector,
        "list" | "List" => Schema::List,
        "fn" | "function" | "Fn" | "Function" => Schema::Fn,
        _ => return None,
    })
}

/// Whether `text` is a capitalised type alias (`Int`, `String?` …, §4.2 rule 4).
pub fn is_capitalised_type(text: &str) -> bool {
    text.chars().next().is_some_and(char::is_uppercase) && named_type(text).is_some()
}

/// Parses a schema from data. `symbols` allows bare symbols as named types (annotations and
/// capability properties). The error says what is ill-formed; a schema of more than
/// [`MAX_PARTS`] parts is.
pub fn parse(v: &Value, symbols: bool) -> Result<Schema, String> {
    match parse_in(v, symbols, &mut Bound::default()) {
        Ok(r) => r,
        Err(e) => Err(format!("the schema is too large to parse: {}", e.message())),
    }
}

/// Parses a schema, paying `m` one unit per part read and checking the memory the parsed
/// schema takes as it grows. The outer error is the meter's (a limit); the inner one says
/// what is ill-formed.
pub fn parse_in<M: Meter>(
    v: &Value,
    symbols: bool,
    m: &mut M,
) -> crate::error::Result<Result<Schema, String>> {
    let mut p = Parser { meter: m, nodes: 0 };
    match p.parse(v, symbols) {
        Ok(s) => Ok(Ok(s)),
        Err(Fail::Ill(msg)) => Ok(Err(msg)),
        Err(Fail::Meter(e)) => Err(e),
    }
}

/// Why parsing stopped.
enum Fail {
    Ill(String),
    Meter(crate::error::Error),
}

impl From<String> for Fail {
    fn from(m: String) -> Fail {
        Fail::Ill(m)
    }
}

impl From<&str> for Fail {
    fn from(m: &str) -> Fail {
        Fail::Ill(m.to_string())
    }
}

/// The most parts (type expressions, keys, values) a schema may have: far more than any
/// schema written by hand, and small enough that a schema value built with shared structure
/// — `[:or s s]` nested 40 deep expands to 2^40 parts — is refused after a few milliseconds of
/// parsing rather than expanded until the memory limit.
pub const MAX_PARTS: u64 = 65_536;

/// About what one parsed schema node takes in memory.
const NODE_BYTES: u64 = std::mem::size_of::<Schema>() as u64 + 16;

struct Parser<'m, M: Meter> {
    meter: &'m mut M,
    nodes: u64,
}

impl<M: Meter> Parser<'_, M> {
    fn node(&mut self) -> Result<(), Fail> {
        self.nodes += 1;
        if self.nodes > MAX_PARTS {
            return Err(Fail::Ill(format!("a schema has at most {MAX_PARTS} parts")));
        }
        self.meter.charge(1).map_err(Fail::Meter)?;
        if self.nodes.is_multiple_of(1024) {
            self.meter
                .hold(self.nodes * NODE_BYTES)
                .map_err(Fail::Meter)?;
        }
        Ok(())
    }

    fn all(&mut self, args: &[Value], symbols: bool) -> Result<Vec<Schema>, Fail> {
        args.iter().map(|a| self.parse(a, symbols)).collect()
    }

    fn parse(&mut self, v: &Value, symbols: bool) -> Result<Schema, Fail> {
        self.node()?;
        match v {
            Value::Keyword(k) => {
                named_type(k).ok_or_else(|| format!("unknown type `:{}`", k.as_str()).into())
            }
            Value::Symbol(s) if symbols => {
                named_type(s).ok_or_else(|| format!("unknown type `{}`", s.as_str()).into())
            }
            Value::Nil => Ok(Schema::Nil),
            Value::Vector(items) if !items.is_empty() => {
                let items: Vec<Value> = items.items().iter().cloned().collect();
                let Value::Keyword(head) = &items[0] else {
                    return Err(format!(
                        "a schema vector starts with a keyword, not `{}`",
                        brief(&items[0])
                    )
                    .into());
                };
                let args = &items[1..];
                let one = |what: &str| -> Result<&Value, String> {
                    if args.len() != 1 {
                        return Err(format!("[:{what} T] takes exactly one type"));
                    }
                    Ok(&args[0])
                };
                let value_arg = |what: &str| -> Result<Value, String> {
                    if args.len() != 1 {
                        return Err(format!("[:{what} v] takes exactly one value"));
                    }
                    Ok(args[0].clone())
                };
                let num_arg = |what: &str| -> Result<Value, String> {
                    let v = value_arg(what)?;
                    match v {
                        Value::Int(_) | Value::Float(_) => Ok(v),
                        _ => Err(format!("[:{what} n] needs a number")),
                    }
                };
                let int_arg = |what: &str| -> Result<i64, String> {
                    match value_arg(what)? {
                        Value::Int(n) => Ok(n),
                        _ => Err(format!("[:{what} n] needs an integer")),
                    }
                };
                Ok(match head.as_str() {
                    "vector" => Schema::VectorOf(Box::new(self.parse(one("vector")?, symbols)?)),
                    "sequential" => {
                        Schema::Sequential(Box::new(self.parse(one("sequential")?, symbols)?))
                    }
                    "maybe" => Schema::Maybe(Box::new(self.parse(one("maybe")?, symbols)?)),
                    "tuple" => Schema::Tuple(self.all(args, symbols)?),
                    "map-of" => {
                        if args.len() != 2 {
                            return Err("[:map-of K V] takes two types".into());
                        }
                        Schema::MapOf(
                            Box::new(self.parse(&args[0], symbols)?),
                            Box::new(self.parse(&args[1], symbols)?),
                        )
                    }
                    "map" => self.parse_map(args, symbols)?,
                    "or" | "union" => {
                        if args.is_empty() {
                            return Err(
                                format!("[:{} T…] needs at least one type", head.as_str()).into()
                            );
                        }
                        Schema::Or(self.all(args, symbols)?)
                    }
                    "and" => {
                        if args.is_empty() {
                            return Err("[:and T x…] needs at least one type".into());
                        }
                        Schema::And(self.all(args, symbols)?)
                    }
                    "enum" => Schema::Enum(args.to_vec()),
                    "=" | "val" => Schema::Eq(value_arg(head)?),
                    "!=" => Schema::NotEq(value_arg("!=")?),
                    ">" => Schema::Compare(num_arg(">")?, &[Ordering::Greater]),
                    ">=" => Schema::Compare(num_arg(">=")?, &[Ordering::Greater, Ordering::Equal]),
                    "<" => Schema::Compare(num_arg("<")?, &[Ordering::Less]),
                    "<=" => Schema::Compare(num_arg("<=")?, &[Ordering::Less, Ordering::Equal]),
                    "in-range" => {
                        if args.len() != 2
                            || !args
                                .iter()
                                .all(|a| matches!(a, Value::Int(_) | Value::Float(_)))
                        {
                            return Err("[:in-range lo hi] needs two numbers".into());
                        }
                        Schema::InRange(args[0].clone(), args[1].clone())
                    }
                    "min-length" | "min-count" => Schema::Count(Some(int_arg(head)?), None),
                    "max-length" | "max-count" => Schema::Count(None, Some(int_arg(head)?)),
                    "length" | "count" => {
                        let n = int_arg(head)?;
                        Schema::Count(Some(n), Some(n))
                    }
                    "non-empty" => {
                        if !args.is_empty() {
                            return Err("[:non-empty] takes no arguments".into());
                        }
                        Schema::Count(Some(1), None)
                    }
                    "matches-regex" => match args {
                        [Value::Str(s)] => Schema::Matches(Box::new(
                            crate::value::RegexValue::compile(s)
                                .map_err(|e| format!("invalid regex: {e}"))?
                                .regex,
                        )),
                        _ => return Err("[:matches-regex \"re\"] needs one pattern string".into()),
                    },
                    "has-key" => Schema::HasKeys(vec![value_arg("has-key")?]),
                    "required-keys" => match args {
                        [Value::Vector(ks)] => {
                            Schema::HasKeys(ks.items().iter().cloned().collect())
                        }
                        _ => return Err("[:required-keys [k…]] needs a vector of keys".into()),
                    },
                    "fn" | "=>" => Schema::Fn,
                    other => return Err(format!("unknown schema constructor `:{other}`").into()),
                })
            }
            other => Err(format!("`{}` is not a type expression", brief(other)).into()),
        }
    }

    fn parse_map(&mut self, args: &[Value], symbols: bool) -> Result<Schema, Fail> {
        let mut closed = false;
        let mut rest = args;
        if let Some(Value::Map(props)) = rest.first() {
            closed = props
                .get(&Value::keyword("closed"))
                .is_some_and(Value::truthy);
            rest = &rest[1..];
        }
        let mut entries = Vec::new();
        for e in rest {
            let Value::Vector(parts) = e else {
                return Err(
                    format!("a [:map] entry is a vector [key type], not `{}`", brief(e)).into(),
                );
            };
            let parts: Vec<Value> = parts.items().iter().cloned().collect();
            let key = match parts.first() {
                Some(k @ (Value::Keyword(_) | Value::Str(_) | Value::Int(_))) => k.clone(),
                _ => {
                    return Err("a [:map] entry key is a keyword, string or integer literal".into());
                }
            };
            let (optional, ty) = match &parts[1..] {
                [t] => (false, t),
                [Value::Map(p), t] => (
                    p.get(&Value::keyword("optional"))
                        .is_some_and(Value::truthy),
                    t,
                ),
                [t, Value::Symbol(q)] if q.as_str() == "?" => (true, t),
                _ => {
                    return Err("a [:map] entry is [k T], [k T ?] or [k {:optional true} T]".into());
                }
            };
            entries.push((key, optional, self.parse(ty, symbols)?));
        }
        Ok(Schema::MapEntries { closed, entries })
    }
}

/// `(valid? schema value)` for the host (a capability's declared schemas): at most
/// [`crate::meter::HOST_MAX`] units of work; a value that would take more is not valid.
pub fn valid(s: &Schema, v: &Value) -> bool {
    valid_in(s, v, &mut Bound::default()).unwrap_or(false)
}

/// `(valid? schema value)`, paying `m` one unit per node visited and per byte of text read.
pub fn valid_in<M: Meter>(s: &Schema, v: &Value, m: &mut M) -> crate::error::Result<bool> {
    Ok(first_failure_in(s, v, &mut Vec::new(), m)?.is_none())
}

/// The path to the first failure, depth first in schema order, or None when valid (host
/// side: bounded as [`valid`] is; a value that would take more fails where the bound is met).
pub fn first_failure(s: &Schema, v: &Value, path: &mut Vec<Value>) -> Option<Vec<Value>> {
    first_failure_in(s, v, path, &mut Bound::default()).unwrap_or_else(|_| Some(path.clone()))
}

/// The path to the first failure, paying `m` one unit per node visited and per byte read.
pub fn first_failure_in<M: Meter>(
    s: &Schema,
    v: &Value,
    path: &mut Vec<Value>,
    m: &mut M,
) -> crate::error::Result<Option<Vec<Value>>> {
    m.charge(1)?;
    let ok = match s {
        Schema::Any => true,
        Schema::Never => false,
        Schema::Nil => matches!(v, Value::Nil),
        Schema::Bool => matches!(v, Value::Bool(_)),
        Schema::Int => matches!(v, Value::Int(_)),
        Schema::Float | Schema::Number => matches!(v, Value::Int(_) | Value::Float(_)),
        Schema::String => matches!(v, Value::Str(_)),
        Schema::Keyword => matches!(v, Value::Keyword(_)),
        Schema::Symbol => matches!(v, Value::Symbol(_)),
        Schema::Map => matches!(v, Value::Map(_)),
        Schema::Vector => matches!(v, Value::Vector(_)),
        Schema::List => matches!(v, Value::List(_)),
        Schema::Fn => matches!(v, Value::Fn(_)),
        Schema::VectorOf(t) | Schema::Sequential(t) => {
            let items = match (s, v) {
                (Schema::VectorOf(_), Value::Vector(items)) => items,
                (Schema::Sequential(_), Value::Vector(items) | Value::List(items)) => items,
                _ => return Ok(Some(path.clone())),
            };
            for (i, item) in items.items().iter().enumerate() {
                path.push(Value::Int(i as i64));
                if let Some(p) = first_failure_in(t, item, path, m)? {
                    return Ok(Some(p));
                }
                path.pop();
            }
            true
        }
        Schema::Tuple(ts) => {
            let Some(items) = v.as_seq() else {
                return Ok(Some(path.clone()));
            };
            if items.len() != ts.len() {
                return Ok(Some(path.clone()));
            }
            for (i, (t, item)) in ts.iter().zip(items.items().iter()).enumerate() {
                path.push(Value::Int(i as i64));
                if let Some(p) = first_failure_in(t, item, path, m)? {
                    return Ok(Some(p));
                }
                path.pop();
            }
            true
        }
        Schema::MapEntries { closed, entries } => {
            let Value::Map(map) = v else {
                return Ok(Some(path.clone()));
            };
            for (k, optional, t) in entries {
                charge_key(m, k, map.key_weight(), map.len())?;
                match map.get(k) {
                    None if *optional => {}
                    None => {
                        path.push(k.clone());
                        let p = path.clone();
                        path.pop();
                        return Ok(Some(p));
                    }
                    Some(item) => {
                        path.push(k.clone());
                        if let Some(p) = first_failure_in(t, item, path, m)? {
                            return Ok(Some(p));
                        }
                        path.pop();
                    }
                }
            }
            if *closed {
                for (k, _) in map.entries().iter() {
                    let mut known = false;
                    for (ek, _, _) in entries {
                        m.charge(1)?;
                        if equal_in(ek, k, m)? {
                            known = true;
                            break;
                        }
                    }
                    if !known {
                        path.push(k.clone());
                        let p = path.clone();
                        path.pop();
                        return Ok(Some(p));
                    }
                }
            }
            true
        }
        Schema::MapOf(ks, vs) => {
            let Value::Map(map) = v else {
                return Ok(Some(path.clone()));
            };
            for (k, item) in map.entries().iter() {
                path.push(k.clone());
                if first_failure_in(ks, k, &mut Vec::new(), m)?.is_some() {
                    return Ok(Some(path.clone()));
                }
                if let Some(p) = first_failure_in(vs, item, path, m)? {
                    return Ok(Some(p));
                }
                path.pop();
            }
            true
        }
        Schema::Maybe(t) => {
            if matches!(v, Value::Nil) {
                true
            } else {
                return first_failure_in(t, v, path, m);
            }
        }
        Schema::Or(ts) => {
            let mut any = false;
            for t in ts {
                if first_failure_in(t, v, &mut Vec::new(), m)?.is_none() {
                    any = true;
                    break;
                }
            }
            any
        }
        Schema::And(ts) => {
            for t in ts {
                if let Some(p) = first_failure_in(t, v, path, m)? {
                    return Ok(Some(p));
                }
            }
            true
        }
        Schema::Enum(vals) => {
            let mut any = false;
            for x in vals {
                if equal_in(x, v, m)? {
                    any = true;
                    break;
                }
            }
            any
        }
        Schema::Eq(x) => equal_in(x, v, m)?,
        Schema::NotEq(x) => !equal_in(x, v, m)?,
        Schema::Compare(bound, want) => num_cmp(v, bound).is_some_and(|o| want.contains(&o)),
        Schema::InRange(lo, hi) => {
            num_cmp(v, lo).is_some_and(|o| o != Ordering::Less)
                && num_cmp(v, hi).is_some_and(|o| o != Ordering::Greater)
        }
        Schema::Count(min, max) => {
            if let Value::Str(text) = v {
                m.charge(text.len() as u64)?;
            }
            match count_of(v) {
                Some(n) => min.is_none_or(|m| n >= m) && max.is_none_or(|m| n <= m),
                None => false,
            }
        }
        Schema::Matches(re) => match v {
            Value::Str(text) => {
                m.charge(text.len() as u64)?;
                re.is_match(text)
            }
            _ => false,
        },
        Schema::HasKeys(ks) => match v {
            Value::Map(map) => {
                let mut all = true;
                for k in ks {
                    charge_key(m, k, map.key_weight(), map.len())?;
                    if map.get(k).is_none() {
                        all = false;
                        break;
                    }
                }
                all
            }
            _ => false,
        },
    };
    Ok(if ok { None } else { Some(path.clone()) })
}

fn count_of(v: &Value) -> Option<i64> {
    Some(match v {
        Value::Str(s) => s.chars().count() as i64,
        Value::List(s) | Value::Vector(s) => s.len() as i64,
        Value::Map(m) => m.len() as i64,
        _ => return None,
    })
}
