//! The standard library (§5): builtins by name, with their aliases.
//!
//! Builtins are plain functions of their arguments, or — when they call functions — return a
//! [`Flow`](crate::vm::Flow) so the machine makes the calls (no native re-entry). Every builtin
//! charges one step per item or character it reads or produces, and those that build large
//! results check the memory limit before allocating.

use std::collections::HashMap;
use std::rc::Rc;
use std::sync::OnceLock;

use crate::error::{Error, Kind, Result};
use crate::value::{Func, Map, PMap, PVec, Seq, Value};
use crate::vm::{Builtin, Ctx, Function, Imp};

mod coll;
mod hof;
mod misc;
mod num;
mod signatures;
mod text;

pub use signatures::{Signature, signature, signatures};

pub use misc::{json_to_value, value_to_json};

/// Most arguments of a variadic builtin.
pub(crate) const MANY: u16 = u16::MAX;

pub(crate) const fn plain(
    name: &'static str,
    min: u16,
    max: u16,
    f: fn(&mut Ctx<'_>, &[Value]) -> Result<Value>,
) -> Builtin {
    Builtin {
        name,
        min,
        max,
        imp: Imp::Plain(f),
    }
}

pub(crate) const fn hof(
    name: &'static str,
    min: u16,
    max: u16,
    f: fn(&mut Ctx<'_>, &[Value]) -> Result<crate::vm::Flow>,
) -> Builtin {
    Builtin {
        name,
        min,
        max,
        imp: Imp::Hof(f),
    }
}

/// Alternative names with identical behaviour (§5.4 and elsewhere).
const ALIASES: &[(&str, &str)] = &[
    ("substring", "subs"),
    ("join", "str/join"),
    ("string-join", "str/join"),
    ("split", "str/split"),
    ("string-upper", "str/upper-case"),
    ("string-lower", "str/lower-case"),
    ("string-trim", "str/trim"),
    ("string-contains", "str/includes?"),
    ("starts-with?", "str/starts-with?"),
    ("ends-with?", "str/ends-with?"),
    ("!=", "not="),
    ("bool?", "boolean?"),
    ("integer?", "int?"),
    ("double?", "float?"),
    ("string-p", "string?"),
    ("tool/parse-json", "parse-json"),
    ("tool/serialize-json", "serialize-json"),
    ("tool/serialize-json-pretty", "serialize-json-pretty"),
];

fn table() -> &'static HashMap<&'static str, &'static Builtin> {
    static TABLE: OnceLock<HashMap<&'static str, &'static Builtin>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t = HashMap::new();
        for b in all() {
            t.insert(b.name, b);
        }
        for (alias, target) in ALIASES {
            if let Some(b) = t.get(target).copied() {
                t.insert(*alias, b);
            }
        }
        t
    })
}

/// Every builtin (primary names).
pub fn all() -> impl Iterator<Item = &'static Builtin> {
    num::BUILTINS
        .iter()
        .chain(coll::BUILTINS)
        .chain(hof::BUILTINS)
        .chain(text::BUILTINS)
        .chain(misc::BUILTINS)
}

/// Every name a builtin answers to (primary names and aliases).
pub fn names() -> Vec<&'static str> {
    let mut v: Vec<&'static str> = table().keys().copied().collect();
    v.sort_unstable();
    v
}

/// The builtin a global name refers to (`clojure.string/x` is `str/x`, `clojure.core/x` is
/// `x`), as a value.
pub fn lookup(name: &str) -> Option<Value> {
    if name == "?" {
        // `[k T ?]` in run-time map schemas.
        return Some(Value::symbol("?"));
    }
    let name = if let Some(rest) = name.strip_prefix("clojure.string/") {
        format!("str/{rest}")
    } else if let Some(rest) = name.strip_prefix("clojure.core/") {
        rest.to_string()
    } else {
        name.to_string()
    };
    let b = table().get(name.as_str())?;
    Some(builtin_value(b))
}

/// The builtin of a name, if any.
pub fn builtin(name: &str) -> Option<&'static Builtin> {
    table().get(name).copied()
}

pub(crate) fn builtin_value(b: &'static Builtin) -> Value {
    Value::Fn(Func(Rc::new(Function::Builtin(b))))
}

pub(crate) fn fn_value(f: Function) -> Value {
    Value::Fn(Func(Rc::new(f)))
}

/// The items of a seqable (§5.0) other than lists and vectors: map entries as `[k v]`
/// vectors in canonical key order, string characters; nil is empty. None when not seqable.
pub fn seq_items(v: &Value) -> Option<Vec<Value>> {
    match v {
        Value::Nil => Some(Vec::new()),
        Value::List(s) | Value::Vector(s) => Some(s.items().iter().cloned().collect()),
        Value::Map(m) => Some(
            m.entries()
                .iter()
                .map(|(k, v)| Value::vector(vec![k.clone(), v.clone()]))
                .collect(),
        ),
        Value::Str(s) => Some(s.chars().map(char_value).collect()),
        _ => None,
    }
}

pub(crate) fn char_value(c: char) -> Value {
    Value::str(c.encode_utf8(&mut [0; 4]))
}

/// A seqable's items as a persistent vector (O(1) for lists and vectors), charging one step
/// per item read.
pub(crate) fn items(ctx: &mut Ctx<'_>, fname: &str, v: &Value) -> Result<PVec> {
    let out = match v {
        Value::List(s) | Value::Vector(s) => s.items().clone(),
        Value::Nil => PVec::new(),
        other => match seq_items(other) {
            Some(items) => items.into_iter().collect(),
            None => return Err(Error::type_error(fname, "a seqable collection", other)),
        },
    };
    ctx.charge(out.len() as u64)?;
    Ok(out)
}

/// A vector result from items, charging for what is produced.
pub(crate) fn vector_of(ctx: &mut Ctx<'_>, items: PVec) -> Result<Value> {
    ctx.produce(items.len() as u64, 24 * items.len() as u64)?;
    Ok(Value::Vector(Seq::new(items)))
}

pub(crate) fn int_arg(fname: &str, v: &Value) -> Result<i64> {
    match v {
        Value::Int(i) => Ok(*i),
        other => Err(Error::type_error(fname, "an integer", other)),
    }
}

pub(crate) fn str_arg<'a>(fname: &str, v: &'a Value) -> Result<&'a str> {
    match v {
        Value::Str(s) => Ok(s),
        other => Err(Error::type_error(fname, "a string", other)),
    }
}

pub(crate) fn arg_error(fname: &str, msg: impl Into<String>) -> Error {
    Error::with_fn(Kind::Argument, fname, msg)
}

/// Pays for looking `key` up in `m`: what comparing it with the keys on the way can cost
/// ([`crate::order::charge_key`]).
pub(crate) fn key_in(ctx: &mut Ctx<'_>, m: &Map, key: &Value) -> Result<()> {
    crate::order::charge_key(ctx, key, m.key_weight(), m.len())
}

/// A map being built whose every lookup and insertion pays for the key comparisons it can
/// make (see [`key_in`]).
#[derive(Default)]
pub(crate) struct MapBuilder {
    map: PMap,
    key_weight: u64,
}

impl MapBuilder {
    /// Starts from a map's entries.
    pub(crate) fn from_map(m: &Map) -> MapBuilder {
        MapBuilder {
            map: m.entries().clone(),
            key_weight: m.key_weight(),
        }
    }

    fn pay(&self, ctx: &mut Ctx<'_>, key: &Value) -> Result<()> {
        crate::order::charge_key(ctx, key, self.key_weight, self.map.len())
    }

    /// The value of `key`.
    pub(crate) fn get(&self, ctx: &mut Ctx<'_>, key: &Value) -> Result<Option<&Value>> {
        self.pay(ctx, key)?;
        Ok(self.map.get(key))
    }

    /// Binds `key` (data: the caller checks) to `value`.
    pub(crate) fn insert(&mut self, ctx: &mut Ctx<'_>, key: Value, value: Value) -> Result<()> {
        self.pay(ctx, &key)?;
        self.key_weight = self.key_weight.max(key.weight());
        self.map.insert(key, value);
        Ok(())
    }

    /// Removes `key`.
    pub(crate) fn remove(&mut self, ctx: &mut Ctx<'_>, key: &Value) -> Result<()> {
        self.pay(ctx, key)?;
        self.map.remove(key);
        Ok(())
    }

    /// The map built.
    pub(crate) fn finish(self) -> Map {
        Map::new(self.map)
    }
}

/// Checks that a value may be ordered (§2.4: ordering a non-data value is `:error/type`).
pub(crate) fn orderable(fname: &str, v: &Value) -> Result<()> {
    if v.is_data() {
        Ok(())
    } else {
        Err(Error::type_error(fname, "data values (orderable)", v))
    }
}
