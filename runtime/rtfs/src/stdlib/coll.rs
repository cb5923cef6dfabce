//! Collections: building, reading, sequences and maps (§5.3 `vec`, §5.5, §5.6, §5.8).

use super::{MANY, MapBuilder, arg_error, int_arg, items, key_in, plain, vector_of};
use crate::error::{Error, Result};
use crate::order::equal_in;
use crate::value::{Map, PVec, Seq, Value};
use crate::vm::{Builtin, Ctx};

pub(crate) fn check_key(fname: &str, k: &Value) -> Result<()> {
    if k.is_data() {
        Ok(())
    } else {
        Err(Error::type_error(fname, "a data value as map key", k))
    }
}

pub(crate) fn map_arg(fname: &str, v: &Value) -> Result<Map> {
    match v {
        Value::Map(m) => Ok(m.clone()),
        Value::Nil => Ok(Map::empty()),
        other => Err(Error::type_error(fname, "a map", other)),
    }
}

fn vector(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    ctx.charge(args.len() as u64)?;
    Ok(Value::vector(args.to_vec()))
}

fn list(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    ctx.charge(args.len() as u64)?;
    Ok(Value::list(args.to_vec()))
}

fn hash_map(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    if !args.len().is_multiple_of(2) {
        return Err(Error::arity("hash-map", "an even number of", args.len()));
    }
    ctx.charge(args.len() as u64)?;
    let mut m = MapBuilder::default();
    for p in args.chunks(2) {
        check_key("hash-map", &p[0])?;
        m.insert(ctx, p[0].clone(), p[1].clone())?;
    }
    Ok(Value::Map(m.finish()))
}

/// `get` (§5.5).
pub(crate) fn get_in_value(
    ctx: &mut Ctx<'_>,
    fname: &str,
    coll: &Value,
    key: &Value,
) -> Result<Option<Value>> {
    Ok(match coll {
        Value::Map(m) => {
            key_in(ctx, m, key)?;
            m.get(key).cloned()
        }
        Value::Vector(s) | Value::List(s) => match key {
            Value::Int(i) => usize::try_from(*i).ok().and_then(|i| s.get(i).cloned()),
            other => return Err(Error::type_error(fname, "an integer index", other)),
        },
        Value::Nil => None,
        Value::Error(e) => e.field(key),
        other => {
            return Err(Error::type_error(
                fname,
                "a map, vector, list or nil",
                other,
            ));
        }
    })
}

fn get(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    let default = args.get(2).cloned().unwrap_or(Value::Nil);
    Ok(get_in_value(ctx, "get", &args[0], &args[1])?.unwrap_or(default))
}

fn get_in(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    let default = args.get(2).cloned().unwrap_or(Value::Nil);
    let path = items(ctx, "get-in", &args[1])?;
    let mut cur = args[0].clone();
    for k in path.iter() {
        match get_in_value(ctx, "get-in", &cur, k)? {
            Some(v) => cur = v,
            None => return Ok(default),
        }
    }
    Ok(cur)
}

fn nth(_: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    let i = int_arg("nth", &args[1])?;
    let default = args.get(2).cloned();
    let found = match &args[0] {
        Value::Vector(s) | Value::List(s) => {
            let n = s.len();
            match usize::try_from(i).ok().and_then(|i| s.get(i).cloned()) {
                Some(v) => return Ok(v),
                None => n,
            }
        }
        Value::Str(s) => match usize::try_from(i).ok().and_then(|i| s.chars().nth(i)) {
            Some(c) => return Ok(super::char_value(c)),
            None => s.chars().count(),
        },
        Value::Nil => return Ok(default.unwrap_or(Value::Nil)),
        other => return Err(Error::type_error("nth", "a vector, list or string", other)),
    };
    default.ok_or_else(|| Error::index(i, found))
}

fn first(_: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    Ok(match &args[0] {
        Value::Vector(s) | Value::List(s) => s.get(0).cloned().unwrap_or(Value::Nil),
        Value::Str(s) => s.chars().next().map_or(Value::Nil, super::char_value),
        Value::Map(m) => m.entries().get_min().map_or(Value::Nil, |(k, v)| {
            Value::vector(vec![k.clone(), v.clone()])
        }),
        Value::Nil => Value::Nil,
        other => return Err(Error::type_error("first", "a seqable collection", other)),
    })
}

fn second(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    let it = items(ctx, "second", &args[0])?;
    Ok(it.get(1).cloned().unwrap_or(Value::Nil))
}

fn last(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    let it = items(ctx, "last", &args[0])?;
    Ok(it.last().cloned().unwrap_or(Value::Nil))
}

pub(crate) fn count_of(fname: &str, v: &Value) -> Result<usize> {
    Ok(match v {
        Value::Vector(s) | Value::List(s) => s.len(),
        Value::Map(m) => m.len(),
        Value::Str(s) => s.chars().count(),
        Value::Nil => 0,
        other => return Err(Error::type_error(fname, "a collection or string", other)),
    })
}

fn count(_: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    Ok(Value::Int(count_of("count", &args[0])? as i64))
}

fn length(_: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    if matches!(args[0], Value::Nil) {
        return Err(Error::type_error(
            "length",
            "a collection or string",
            &args[0],
        ));
    }
    Ok(Value::Int(count_of("length", &args[0])? as i64))
}

fn string_length(_: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    let s = super::str_arg("string-length", &args[0])?;
    Ok(Value::Int(s.chars().count() as i64))
}

fn is_empty(_: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    Ok(Value::Bool(count_of("empty?", &args[0])? == 0))
}

fn not_empty(_: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    Ok(if count_of("not-empty", &args[0])? == 0 {
        Value::Nil
    } else {
        args[0].clone()
    })
}

fn seq(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    let it = items(ctx, "seq", &args[0])?;
    if it.is_empty() {
        Ok(Value::Nil)
    } else {
        vector_of(ctx, it)
    }
}

fn contains(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    let k = &args[1];
    Ok(Value::Bool(match &args[0] {
        Value::Map(m) => {
            key_in(ctx, m, k)?;
            m.get(k).is_some()
        }
        Value::Vector(s) | Value::List(s) => {
            matches!(k, Value::Int(i) if *i >= 0 && (*i as usize) < s.len())
        }
        Value::Str(s) => matches!(k, Value::Int(i) if *i >= 0 && (*i as usize) < s.chars().count()),
        Value::Nil => false,
        other => {
            return Err(Error::type_error(
                "contains?",
                "a collection or string",
                other,
            ));
        }
    }))
}

fn find(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    if let Value::Vector(s) = &args[0] {
        return Ok(match &args[1] {
            Value::Int(i) => usize::try_from(*i)
                .ok()
                .and_then(|i| s.get(i))
                .map_or(Value::Nil, |v| {
                    Value::vector(vec![args[1].clone(), v.clone()])
                }),
            _ => Value::Nil,
        });
    }
    let m = map_arg("find", &args[0])?;
    key_in(ctx, &m, &args[1])?;
    Ok(m.get(&args[1]).map_or(Value::Nil, |v| {
        Value::vector(vec![args[1].clone(), v.clone()])
    }))
}

fn keys(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    let m = map_arg("keys", &args[0])?;
    let out: PVec = m.entries().keys().cloned().collect();
    vector_of(ctx, out)
}

fn vals(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    let m = map_arg("vals", &args[0])?;
    let out: PVec = m.entries().values().cloned().collect();
    vector_of(ctx, out)
}

fn vec(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    let it = items(ctx, "vec", &args[0])?;
    vector_of(ctx, it)
}

fn rest(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    let mut it = items(ctx, "rest", &args[0])?;
    if !it.is_empty() {
        it = it.skip(1);
    }
    vector_of(ctx, it)
}

fn next(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    let it = items(ctx, "next", &args[0])?;
    if it.len() <= 1 {
        return Ok(Value::Nil);
    }
    vector_of(ctx, it.skip(1))
}

fn butlast(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    let it = items(ctx, "butlast", &args[0])?;
    let n = it.len().saturating_sub(1);
    vector_of(ctx, it.take(n))
}

fn cons(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    let mut it = items(ctx, "cons", &args[1])?;
    it.push_front(args[0].clone());
    vector_of(ctx, it)
}

pub(crate) fn conj1(ctx: &mut Ctx<'_>, fname: &str, coll: Value, x: &Value) -> Result<Value> {
    Ok(match coll {
        Value::Vector(s) => Value::Vector(s.push_back(x.clone())),
        Value::List(s) => Value::List(s.push_front(x.clone())),
        Value::Nil => Value::list(vec![x.clone()]),
        Value::Map(m) => match x {
            Value::Map(other) => {
                let mut m = m;
                for (k, v) in other.entries().iter() {
                    key_in(ctx, &m, k)?;
                    m = m.insert(k.clone(), v.clone());
                }
                Value::Map(m)
            }
            Value::Vector(pair) | Value::List(pair) if pair.len() == 2 => {
                let k = pair.get(0).cloned().unwrap_or(Value::Nil);
                check_key(fname, &k)?;
                key_in(ctx, &m, &k)?;
                Value::Map(m.insert(k, pair.get(1).cloned().unwrap_or(Value::Nil)))
            }
            Value::Nil => Value::Map(m),
            other => {
                return Err(Error::type_error(
                    fname,
                    "a [key value] pair or a map",
                    other,
                ));
            }
        },
        other => {
            return Err(Error::type_error(
                fname,
                "a vector, list, map or nil",
                &other,
            ));
        }
    })
}

fn conj(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    let Some(first) = args.first() else {
        return Ok(Value::vector(vec![]));
    };
    ctx.charge(args.len() as u64)?;
    let mut acc = first.clone();
    if args.len() == 1 {
        // `(conj coll)` is `coll` (nil stays nil-as-list semantics: `()` for nil).
        return Ok(match acc {
            Value::Nil => Value::list(vec![]),
            other => conj_check(other)?,
        });
    }
    for x in &args[1..] {
        acc = conj1(ctx, "conj", acc, x)?;
    }
    Ok(acc)
}

fn conj_check(v: Value) -> Result<Value> {
    match v {
        Value::Vector(_) | Value::List(_) | Value::Map(_) => Ok(v),
        other => Err(Error::type_error(
            "conj",
            "a vector, list, map or nil",
            &other,
        )),
    }
}

fn concat(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    let mut out = PVec::new();
    for a in args {
        let it = items(ctx, "concat", a)?;
        ctx.produce(it.len() as u64, 24 * it.len() as u64)?;
        out.append(it);
    }
    Ok(Value::Vector(Seq::new(out)))
}

fn into(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    let from = items(ctx, "into", &args[1])?;
    ctx.produce(from.len() as u64, 24 * from.len() as u64)?;
    let mut acc = match &args[0] {
        Value::Nil => Value::list(vec![]),
        other => conj_check(other.clone())
            .map_err(|_| Error::type_error("into", "a vector, list, map or nil", other))?,
    };
    if let Value::Vector(s) = &acc {
        let mut v = s.items().clone();
        v.append(from);
        return Ok(Value::Vector(Seq::new(v)));
    }
    for x in from.iter() {
        acc = conj1(ctx, "into", acc, x)?;
    }
    Ok(acc)
}

fn take(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    let n = int_arg("take", &args[0])?.max(0) as usize;
    let it = items(ctx, "take", &args[1])?;
    let n = n.min(it.len());
    vector_of(ctx, it.take(n))
}

fn drop(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    let n = int_arg("drop", &args[0])?.max(0) as usize;
    let it = items(ctx, "drop", &args[1])?;
    let n = n.min(it.len());
    vector_of(ctx, it.skip(n))
}

fn reverse(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    let it = items(ctx, "reverse", &args[0])?;
    let out: PVec = it.iter().rev().cloned().collect();
    vector_of(ctx, out)
}

fn distinct(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    let it = items(ctx, "distinct", &args[0])?;
    let mut seen = MapBuilder::default();
    let mut out = PVec::new();
    for x in it.iter() {
        if x.is_data() {
            if seen.get(ctx, x)?.is_none() {
                seen.insert(ctx, x.clone(), Value::Nil)?;
                out.push_back(x.clone());
            }
        } else {
            let mut known = false;
            for y in out.iter() {
                ctx.charge_walk(1)?;
                if equal_in(x, y, ctx)? {
                    known = true;
                    break;
                }
            }
            if !known {
                out.push_back(x.clone());
            }
        }
    }
    vector_of(ctx, out)
}

fn range_values(ctx: &mut Ctx<'_>, fname: &str, start: i64, end: i64, step: i64) -> Result<Value> {
    if step == 0 {
        return Err(arg_error(fname, format!("{fname}: step must not be 0")));
    }
    let n: u128 = if (step > 0 && start >= end) || (step < 0 && start <= end) {
        0
    } else {
        let span = (end as i128 - start as i128).unsigned_abs();
        let st = (step as i128).unsigned_abs();
        span.div_ceil(st)
    };
    let n = u64::try_from(n).unwrap_or(u64::MAX);
    ctx.produce(n, n.saturating_mul(24))?;
    let mut out = PVec::new();
    let mut x = start as i128;
    for _ in 0..n {
        out.push_back(Value::Int(x as i64));
        x += step as i128;
    }
    Ok(Value::Vector(Seq::new(out)))
}

fn range(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    let ints: Vec<i64> = args
        .iter()
        .map(|a| int_arg("range", a))
        .collect::<Result<_>>()?;
    let (start, end, step) = match ints.as_slice() {
        [end] => (0, *end, 1),
        [s, e] => (*s, *e, 1),
        [s, e, st] => (*s, *e, *st),
        _ => unreachable!("arity checked"),
    };
    range_values(ctx, "range", start, end, step)
}

fn numbers(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    let s = int_arg("numbers", &args[0])?;
    let e = int_arg("numbers", &args[1])?;
    if e == i64::MAX {
        return Err(arg_error("numbers", "numbers: end out of range"));
    }
    range_values(ctx, "numbers", s, e + 1, 1)
}

fn repeat(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    let n = int_arg("repeat", &args[0])?.max(0) as u64;
    ctx.produce(n, n.saturating_mul(24))?;
    let out: PVec = std::iter::repeat_n(args[1].clone(), n as usize).collect();
    Ok(Value::Vector(Seq::new(out)))
}

fn chunks(
    ctx: &mut Ctx<'_>,
    fname: &str,
    n: i64,
    step: i64,
    coll: &Value,
    keep_short: bool,
) -> Result<Value> {
    if n < 1 || step < 1 {
        return Err(arg_error(
            fname,
            format!("{fname}: size and step must be at least 1"),
        ));
    }
    let it = items(ctx, fname, coll)?;
    let (n, step) = (n as usize, step as usize);
    let mut out = PVec::new();
    let mut i = 0;
    while i < it.len() {
        let end = (i + n).min(it.len());
        if end - i < n && !keep_short {
            break;
        }
        ctx.produce((end - i) as u64 + 1, 24 * (end - i) as u64 + 48)?;
        out.push_back(Value::Vector(Seq::new(it.clone().slice(i..end))));
        i = i.saturating_add(step);
    }
    Ok(Value::Vector(Seq::new(out)))
}

fn partition(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    let n = int_arg("partition", &args[0])?;
    let (step, coll) = if args.len() == 3 {
        (int_arg("partition", &args[1])?, &args[2])
    } else {
        (n, &args[1])
    };
    chunks(ctx, "partition", n, step, coll, false)
}

fn partition_all(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    let n = int_arg("partition-all", &args[0])?;
    chunks(ctx, "partition-all", n, n, &args[1], true)
}

fn subvec(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    let Value::Vector(s) = &args[0] else {
        return Err(Error::type_error("subvec", "a vector", &args[0]));
    };
    let n = s.len();
    let start = int_arg("subvec", &args[1])?;
    let end = match args.get(2) {
        Some(e) => int_arg("subvec", e)?,
        None => n as i64,
    };
    if start < 0 || start as usize > n {
        return Err(Error::index(start, n));
    }
    if end < start || end as usize > n {
        return Err(Error::index(end, n));
    }
    vector_of(ctx, s.items().clone().slice(start as usize..end as usize))
}

fn flatten(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    let mut out = Vec::new();
    let mut stack: Vec<(Seq, usize)> = Vec::new();
    match &args[0] {
        Value::List(s) | Value::Vector(s) => stack.push((s.clone(), 0)),
        _ => return Ok(Value::vector(vec![])),
    }
    while let Some((items, i)) = stack.last_mut() {
        let Some(x) = items.get(*i).cloned() else {
            stack.pop();
            continue;
        };
        *i += 1;
        ctx.charge_walk(1)?;
        match x {
            Value::List(s) | Value::Vector(s) => stack.push((s, 0)),
            other => {
                out.push(other);
                // A shared value flattens to its whole expansion: check memory as it grows.
                if out.len().is_multiple_of(4096) {
                    ctx.reserve(crate::value::seq_cost(out.len()) as u64)?;
                }
            }
        }
    }
    vector_of(ctx, out.into_iter().collect())
}

fn interpose(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    let it = items(ctx, "interpose", &args[1])?;
    ctx.produce(2 * it.len() as u64, 48 * it.len() as u64)?;
    let mut out = PVec::new();
    for (i, x) in it.iter().enumerate() {
        if i > 0 {
            out.push_back(args[0].clone());
        }
        out.push_back(x.clone());
    }
    Ok(Value::Vector(Seq::new(out)))
}

fn frequencies(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    let it = items(ctx, "frequencies", &args[0])?;
    let mut m = MapBuilder::default();
    for x in it.iter() {
        check_key("frequencies", x)?;
        let n = match m.get(ctx, x)? {
            Some(Value::Int(n)) => n + 1,
            _ => 1,
        };
        m.insert(ctx, x.clone(), Value::Int(n))?;
    }
    Ok(Value::Map(m.finish()))
}

fn assoc_one(ctx: &mut Ctx<'_>, fname: &str, coll: Value, k: &Value, v: &Value) -> Result<Value> {
    Ok(match coll {
        Value::Map(m) => {
            check_key(fname, k)?;
            key_in(ctx, &m, k)?;
            Value::Map(m.insert(k.clone(), v.clone()))
        }
        Value::Nil => {
            check_key(fname, k)?;
            Value::map(vec![(k.clone(), v.clone())])
        }
        Value::Vector(s) => {
            let i = int_arg(fname, k)?;
            let n = s.len();
            if i < 0 || i as usize > n {
                return Err(Error::index(i, n));
            }
            if i as usize == n {
                Value::Vector(s.push_back(v.clone()))
            } else {
                Value::Vector(s.set(i as usize, v.clone()))
            }
        }
        other => return Err(Error::type_error(fname, "a map, vector or nil", &other)),
    })
}

fn assoc(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    if args.len() % 2 != 1 {
        return Err(Error::arity("assoc", "3, 5, 7, …", args.len()));
    }
    ctx.charge(args.len() as u64)?;
    let mut acc = args[0].clone();
    for p in args[1..].chunks(2) {
        acc = assoc_one(ctx, "assoc", acc, &p[0], &p[1])?;
    }
    Ok(acc)
}

fn dissoc(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    ctx.charge(args.len() as u64)?;
    let mut m = match &args[0] {
        Value::Nil => return Ok(Value::Nil),
        other => map_arg("dissoc", other)?,
    };
    for k in &args[1..] {
        key_in(ctx, &m, k)?;
        m = m.remove(k);
    }
    Ok(Value::Map(m))
}

/// Nested assoc along a path; missing levels become maps.
pub(crate) fn assoc_in_value(
    ctx: &mut Ctx<'_>,
    fname: &str,
    root: &Value,
    path: &[Value],
    v: Value,
) -> Result<Value> {
    let Some((k, rest)) = path.split_first() else {
        return Ok(v);
    };
    ctx.charge(1)?;
    let child = match root {
        Value::Nil => None,
        other => get_in_value(ctx, fname, other, k)?,
    };
    let inner = assoc_in_value(ctx, fname, &child.unwrap_or(Value::Nil), rest, v)?;
    assoc_one(ctx, fname, root.clone(), k, &inner)
}

fn assoc_in(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    let path = items(ctx, "assoc-in", &args[1])?;
    // As in Clojure, an empty path assocs under the key nil.
    let path: Vec<Value> = if path.is_empty() {
        vec![Value::Nil]
    } else {
        path.iter().cloned().collect()
    };
    if path.len() > ctx.limits().value_depth as usize {
        return Err(Error::limit(
            crate::LimitKind::ValueDepth,
            ctx.limits().value_depth as u64,
        ));
    }
    assoc_in_value(ctx, "assoc-in", &args[0], &path, args[2].clone())
}

fn merge(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    let mut acc: Option<Map> = None;
    for a in args {
        if matches!(a, Value::Nil) {
            continue;
        }
        let m = map_arg("merge", a)?;
        ctx.charge(m.len() as u64)?;
        acc = Some(match acc {
            None => m,
            Some(mut base) => {
                for (k, v) in m.entries().iter() {
                    key_in(ctx, &base, k)?;
                    base = base.insert(k.clone(), v.clone());
                }
                base
            }
        });
    }
    Ok(acc.map_or(Value::Nil, Value::Map))
}

fn select_keys(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    let m = map_arg("select-keys", &args[0])?;
    let ks = items(ctx, "select-keys", &args[1])?;
    let mut out = MapBuilder::default();
    for k in ks.iter() {
        key_in(ctx, &m, k)?;
        if let Some(v) = m.get(k) {
            out.insert(ctx, k.clone(), v.clone())?;
        }
    }
    Ok(Value::Map(out.finish()))
}

fn zipmap(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    let ks = items(ctx, "zipmap", &args[0])?;
    let vs = items(ctx, "zipmap", &args[1])?;
    let mut out = MapBuilder::default();
    for (k, v) in ks.iter().zip(vs.iter()) {
        check_key("zipmap", k)?;
        out.insert(ctx, k.clone(), v.clone())?;
    }
    Ok(Value::Map(out.finish()))
}

fn rename_keys(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    let m = map_arg("rename-keys", &args[0])?;
    let renames = map_arg("rename-keys", &args[1])?;
    ctx.charge((m.len() + renames.len()) as u64)?;
    let mut out = MapBuilder::from_map(&m);
    for (old, _) in renames.entries().iter() {
        out.remove(ctx, old)?;
    }
    for (old, new) in renames.entries().iter() {
        key_in(ctx, &m, old)?;
        if let Some(v) = m.get(old) {
            check_key("rename-keys", new)?;
            out.insert(ctx, new.clone(), v.clone())?;
        }
    }
    Ok(Value::Map(out.finish()))
}

pub(super) const BUILTINS: &[Builtin] = &[
    plain("vector", 0, MANY, vector),
    plain("list", 0, MANY, list),
    plain("hash-map", 0, MANY, hash_map),
    plain("get", 2, 3, get),
    plain("get-in", 2, 3, get_in),
    plain("nth", 2, 3, nth),
    plain("first", 1, 1, first),
    plain("second", 1, 1, second),
    plain("last", 1, 1, last),
    plain("count", 1, 1, count),
    plain("length", 1, 1, length),
    plain("string-length", 1, 1, string_length),
    plain("empty?", 1, 1, is_empty),
    plain("not-empty", 1, 1, not_empty),
    plain("seq", 1, 1, seq),
    plain("contains?", 2, 2, contains),
    plain("find", 2, 2, find),
    plain("keys", 1, 1, keys),
    plain("vals", 1, 1, vals),
    plain("vec", 1, 1, vec),
    plain("rest", 1, 1, rest),
    plain("next", 1, 1, next),
    plain("butlast", 1, 1, butlast),
    plain("cons", 2, 2, cons),
    plain("conj", 0, MANY, conj),
    plain("concat", 0, MANY, concat),
    plain("into", 2, 2, into),
    plain("take", 2, 2, take),
    plain("drop", 2, 2, drop),
    plain("reverse", 1, 1, reverse),
    plain("distinct", 1, 1, distinct),
    plain("range", 1, 3, range),
    plain("numbers", 2, 2, numbers),
    plain("repeat", 2, 2, repeat),
    plain("partition", 2, 3, partition),
    plain("partition-all", 2, 2, partition_all),
    plain("subvec", 2, 3, subvec),
    plain("flatten", 1, 1, flatten),
    plain("interpose", 2, 2, interpose),
    plain("frequencies", 1, 1, frequencies),
    plain("assoc", 3, MANY, assoc),
    plain("dissoc", 1, MANY, dissoc),
    plain("assoc-in", 3, 3, assoc_in),
    plain("merge", 0, MANY, merge),
    plain("select-keys", 2, 2, select_keys),
    plain("zipmap", 2, 2, zipmap),
    plain("rename-keys", 2, 2, rename_keys),
];
