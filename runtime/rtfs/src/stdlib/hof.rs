//! Higher-order functions (§5.7, `sort`/`sort-by`/`group-by`, the `update` family,
//! `merge-with`). They never call functions themselves: each returns a driver that the machine
//! resumes with the result of every call it asks for.

use std::cmp::Ordering;

use super::coll::{assoc_in_value, check_key, get_in_value, map_arg};
use super::{MANY, MapBuilder, fn_value, hof, items, key_in, orderable, plain};
use crate::error::{Error, Result};
use crate::order::{compare_in, num_cmp};
use crate::value::{Map, PVec, Seq, Value};
use crate::vm::{Builtin, Ctx, Driver, Flow, Function};

fn callable(fname: &str, f: &Value) -> Result<()> {
    match f {
        Value::Fn(_) | Value::Keyword(_) | Value::Map(_) | Value::Vector(_) => Ok(()),
        other => Err(Error::type_error(fname, "a function", other)),
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Map,
    Mapcat,
    Filter,
    Remove,
    Keep,
    Every,
    Some,
    NotAny,
    NotEvery,
    TakeWhile,
    DropWhile,
    GroupBy,
    MaxKey,
    MinKey,
    UpdateVals,
    UpdateKeys,
}

/// Calls `f` once per prepared argument list, folding the results by mode.
struct Each {
    fname: &'static str,
    mode: Mode,
    f: Value,
    items: Vec<Value>,
    calls: Vec<Vec<Value>>,
    i: usize,
    out: PVec,
    groups: MapBuilder,
    best: Option<(Value, Value)>,
}

impl Each {
    fn new(
        fname: &'static str,
        mode: Mode,
        f: Value,
        items: Vec<Value>,
        calls: Vec<Vec<Value>>,
    ) -> Each {
        Each {
            fname,
            mode,
            f,
            items,
            calls,
            i: 0,
            out: PVec::new(),
            groups: MapBuilder::default(),
            best: None,
        }
    }

    fn finish(&mut self) -> Value {
        match self.mode {
            Mode::Every | Mode::NotAny => Value::Bool(true),
            Mode::Some => Value::Nil,
            Mode::NotEvery => Value::Bool(false),
            Mode::GroupBy => Value::Map(std::mem::take(&mut self.groups).finish()),
            Mode::UpdateVals | Mode::UpdateKeys => {
                Value::Map(std::mem::take(&mut self.groups).finish())
            }
            Mode::MaxKey | Mode::MinKey => self.best.take().map_or(Value::Nil, |b| b.1),
            Mode::DropWhile => Value::vector(vec![]),
            _ => Value::Vector(Seq::new(std::mem::take(&mut self.out))),
        }
    }
}

impl Driver for Each {
    fn resume(&mut self, ctx: &mut Ctx<'_>, value: Option<Value>) -> Result<Flow> {
        if let Some(r) = value {
            let item = &self.items[self.i];
            self.i += 1;
            ctx.charge(1)?;
            match self.mode {
                Mode::Map => self.out.push_back(r),
                Mode::Mapcat => {
                    let parts = super::items(ctx, self.fname, &r)?;
                    ctx.reserve(24 * parts.len() as u64)?;
                    self.out.append(parts);
                }
                Mode::Filter => {
                    if r.truthy() {
                        self.out.push_back(item.clone());
                    }
                }
                Mode::Remove => {
                    if !r.truthy() {
                        self.out.push_back(item.clone());
                    }
                }
                Mode::Keep => {
                    if !matches!(r, Value::Nil) {
                        self.out.push_back(r);
                    }
                }
                Mode::Every => {
                    if !r.truthy() {
                        return Ok(Flow::Done(Value::Bool(false)));
                    }
                }
                Mode::NotEvery => {
                    if !r.truthy() {
                        return Ok(Flow::Done(Value::Bool(true)));
                    }
                }
                Mode::Some => {
                    if r.truthy() {
                        return Ok(Flow::Done(r));
                    }
                }
                Mode::NotAny => {
                    if r.truthy() {
                        return Ok(Flow::Done(Value::Bool(false)));
                    }
                }
                Mode::TakeWhile => {
                    if !r.truthy() {
                        return Ok(Flow::Done(Value::Vector(Seq::new(std::mem::take(
                            &mut self.out,
                        )))));
                    }
                    self.out.push_back(item.clone());
                }
                Mode::DropWhile => {
                    if !r.truthy() {
                        let rest: Vec<Value> = self.items[self.i - 1..].to_vec();
                        return Ok(Flow::Done(Value::vector(rest)));
                    }
                }
                Mode::GroupBy => {
                    check_key(self.fname, &r)?;
                    let group = match self.groups.get(ctx, &r)? {
                        Some(Value::Vector(s)) => s.clone().push_back(item.clone()),
                        _ => Seq::from_vec(vec![item.clone()]),
                    };
                    self.groups.insert(ctx, r, Value::Vector(group))?;
                }
                Mode::MaxKey | Mode::MinKey => {
                    if !matches!(r, Value::Int(_) | Value::Float(_)) {
                        return Err(Error::type_error(
                            self.fname,
                            "a number from the key function",
                            &r,
                        ));
                    }
                    let want = if self.mode == Mode::MaxKey {
                        Ordering::Greater
                    } else {
                        Ordering::Less
                    };
                    let better = match &self.best {
                        None => true,
                        Some((b, _)) => {
                            matches!(num_cmp(&r, b), Some(o) if o == want || o == Ordering::Equal)
                        }
                    };
                    if better {
                        self.best = Some((r, item.clone()));
                    }
                }
                Mode::UpdateVals => {
                    let Value::Vector(pair) = item else {
                        unreachable!("entries")
                    };
                    self.groups
                        .insert(ctx, pair.get(0).cloned().unwrap_or(Value::Nil), r)?;
                }
                Mode::UpdateKeys => {
                    check_key(self.fname, &r)?;
                    let Value::Vector(pair) = item else {
                        unreachable!("entries")
                    };
                    self.groups
                        .insert(ctx, r, pair.get(1).cloned().unwrap_or(Value::Nil))?;
                }
            }
        }
        match self.calls.get_mut(self.i) {
            Some(args) => Ok(Flow::Call(self.f.clone(), std::mem::take(args))),
            None => Ok(Flow::Done(self.finish())),
        }
    }
}

fn each1(
    ctx: &mut Ctx<'_>,
    fname: &'static str,
    mode: Mode,
    f: &Value,
    coll: &Value,
) -> Result<Flow> {
    callable(fname, f)?;
    let it: Vec<Value> = items(ctx, fname, coll)?.into_iter().collect();
    let calls = it.iter().map(|x| vec![x.clone()]).collect();
    Ok(Flow::Drive(Box::new(Each::new(
        fname,
        mode,
        f.clone(),
        it,
        calls,
    ))))
}

/// `f` over several collections in step (stopping at the shortest), as `mode`.
fn each_n(ctx: &mut Ctx<'_>, fname: &'static str, mode: Mode, args: &[Value]) -> Result<Flow> {
    callable(fname, &args[0])?;
    let colls: Vec<PVec> = args[1..]
        .iter()
        .map(|c| items(ctx, fname, c))
        .collect::<Result<_>>()?;
    let n = colls.iter().map(|c| c.len()).min().unwrap_or(0);
    let calls: Vec<Vec<Value>> = (0..n)
        .map(|i| colls.iter().map(|c| c[i].clone()).collect())
        .collect();
    let it = vec![Value::Nil; n];
    let each = Each::new(fname, mode, args[0].clone(), it, calls);
    Ok(Flow::Drive(Box::new(each)))
}

fn map(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Flow> {
    if args.len() == 2 {
        return each1(ctx, "map", Mode::Map, &args[0], &args[1]);
    }
    each_n(ctx, "map", Mode::Map, args)
}

fn map_indexed(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Flow> {
    callable("map-indexed", &args[0])?;
    let it: Vec<Value> = items(ctx, "map-indexed", &args[1])?.into_iter().collect();
    let calls = it
        .iter()
        .enumerate()
        .map(|(i, x)| vec![Value::Int(i as i64), x.clone()])
        .collect();
    Ok(Flow::Drive(Box::new(Each::new(
        "map-indexed",
        Mode::Map,
        args[0].clone(),
        it,
        calls,
    ))))
}

fn mapcat(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Flow> {
    each_n(ctx, "mapcat", Mode::Mapcat, args)
}

macro_rules! each_fn {
    ($name:ident, $fname:literal, $mode:expr) => {
        fn $name(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Flow> {
            each1(ctx, $fname, $mode, &args[0], &args[1])
        }
    };
}

each_fn!(filter, "filter", Mode::Filter);
each_fn!(remove, "remove", Mode::Remove);
each_fn!(keep, "keep", Mode::Keep);
each_fn!(every, "every?", Mode::Every);
each_fn!(some, "some", Mode::Some);
each_fn!(not_any, "not-any?", Mode::NotAny);
each_fn!(not_every, "not-every?", Mode::NotEvery);
each_fn!(take_while, "take-while", Mode::TakeWhile);
each_fn!(drop_while, "drop-while", Mode::DropWhile);
each_fn!(group_by, "group-by", Mode::GroupBy);

fn extreme_key(ctx: &mut Ctx<'_>, fname: &'static str, mode: Mode, args: &[Value]) -> Result<Flow> {
    callable(fname, &args[0])?;
    let it: Vec<Value> = args[1..].to_vec();
    ctx.charge(it.len() as u64)?;
    let calls = it.iter().map(|x| vec![x.clone()]).collect();
    Ok(Flow::Drive(Box::new(Each::new(
        fname,
        mode,
        args[0].clone(),
        it,
        calls,
    ))))
}

fn max_key(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Flow> {
    extreme_key(ctx, "max-key", Mode::MaxKey, args)
}

fn min_key(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Flow> {
    extreme_key(ctx, "min-key", Mode::MinKey, args)
}

fn update_entries(
    ctx: &mut Ctx<'_>,
    fname: &'static str,
    mode: Mode,
    args: &[Value],
) -> Result<Flow> {
    let m = map_arg(fname, &args[0])?;
    callable(fname, &args[1])?;
    ctx.charge(m.len() as u64)?;
    let it: Vec<Value> = m
        .entries()
        .iter()
        .map(|(k, v)| Value::vector(vec![k.clone(), v.clone()]))
        .collect();
    let calls = m
        .entries()
        .iter()
        .map(|(k, v)| {
            vec![if mode == Mode::UpdateVals {
                v.clone()
            } else {
                k.clone()
            }]
        })
        .collect();
    Ok(Flow::Drive(Box::new(Each::new(
        fname,
        mode,
        args[1].clone(),
        it,
        calls,
    ))))
}

fn update_vals(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Flow> {
    update_entries(ctx, "update-vals", Mode::UpdateVals, args)
}

fn update_keys(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Flow> {
    update_entries(ctx, "update-keys", Mode::UpdateKeys, args)
}

struct Reduce {
    f: Value,
    items: PVec,
    i: usize,
    kv: bool,
    acc: Option<Value>,
}

impl Driver for Reduce {
    fn resume(&mut self, ctx: &mut Ctx<'_>, value: Option<Value>) -> Result<Flow> {
        if let Some(v) = value {
            self.acc = Some(v);
        }
        let Some(x) = self.items.get(self.i) else {
            return Ok(Flow::Done(self.acc.take().unwrap_or(Value::Nil)));
        };
        self.i += 1;
        ctx.charge(1)?;
        let acc = self.acc.take().unwrap_or(Value::Nil);
        let args = if self.kv {
            let Value::Vector(pair) = x else {
                unreachable!("entries")
            };
            vec![
                acc,
                pair.get(0).cloned().unwrap_or(Value::Nil),
                pair.get(1).cloned().unwrap_or(Value::Nil),
            ]
        } else {
            vec![acc, x.clone()]
        };
        Ok(Flow::Call(self.f.clone(), args))
    }
}

fn reduce(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Flow> {
    callable("reduce", &args[0])?;
    let f = args[0].clone();
    if args.len() == 3 {
        let it = items(ctx, "reduce", &args[2])?;
        return Ok(Flow::Drive(Box::new(Reduce {
            f,
            items: it,
            i: 0,
            kv: false,
            acc: Some(args[1].clone()),
        })));
    }
    let it = items(ctx, "reduce", &args[1])?;
    match it.len() {
        0 => Ok(Flow::Tail(f, vec![])),
        1 => Ok(Flow::Done(it[0].clone())),
        _ => {
            let first = it[0].clone();
            Ok(Flow::Drive(Box::new(Reduce {
                f,
                items: it.skip(1),
                i: 0,
                kv: false,
                acc: Some(first),
            })))
        }
    }
}

fn reduce_kv(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Flow> {
    callable("reduce-kv", &args[0])?;
    let m = map_arg("reduce-kv", &args[2])?;
    ctx.charge(m.len() as u64)?;
    let it: PVec = m
        .entries()
        .iter()
        .map(|(k, v)| Value::vector(vec![k.clone(), v.clone()]))
        .collect();
    Ok(Flow::Drive(Box::new(Reduce {
        f: args[0].clone(),
        items: it,
        i: 0,
        kv: true,
        acc: Some(args[1].clone()),
    })))
}

fn apply(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Flow> {
    callable("apply", &args[0])?;
    let last = &args[args.len() - 1];
    let tail = items(ctx, "apply", last)?;
    let mut all: Vec<Value> = args[1..args.len() - 1].to_vec();
    all.extend(tail);
    Ok(Flow::Tail(args[0].clone(), all))
}

fn comp(_: &mut Ctx<'_>, args: &[Value]) -> Result<crate::Value> {
    for f in args {
        callable("comp", f)?;
    }
    Ok(fn_value(Function::Comp(args.to_vec())))
}

fn partial(_: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    callable("partial", &args[0])?;
    Ok(fn_value(Function::Partial(
        args[0].clone(),
        args[1..].to_vec(),
    )))
}

fn juxt(_: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    for f in args {
        callable("juxt", f)?;
    }
    Ok(fn_value(Function::Juxt(args.to_vec())))
}

fn complement(_: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    callable("complement", &args[0])?;
    Ok(fn_value(Function::Complement(args[0].clone())))
}

/// Stable bottom-up merge sort whose comparisons are calls (or the canonical order).
struct Sort {
    /// (key, item) pairs.
    src: Vec<(Value, Value)>,
    dst: Vec<(Value, Value)>,
    cmp: Option<Value>,
    width: usize,
    lo: usize,
    i: usize,
    j: usize,
    mid: usize,
    hi: usize,
    /// Key function still to apply (sort-by): index of the next key to compute.
    keying: Option<(Value, usize)>,
}

impl Sort {
    fn start_run(&mut self) {
        let n = self.src.len();
        self.mid = (self.lo + self.width).min(n);
        self.hi = (self.lo + 2 * self.width).min(n);
        self.i = self.lo;
        self.j = self.mid;
    }
}

impl Driver for Sort {
    fn resume(&mut self, ctx: &mut Ctx<'_>, value: Option<Value>) -> Result<Flow> {
        // Phase 1: compute keys.
        if let Some((f, k)) = &mut self.keying {
            if let Some(v) = value {
                self.src[*k].0 = v;
                *k += 1;
            }
            if *k < self.src.len() {
                ctx.charge(1)?;
                return Ok(Flow::Call(f.clone(), vec![self.src[*k].1.clone()]));
            }
            self.keying = None;
            if self.cmp.is_none() {
                for (k, _) in &self.src {
                    orderable("sort-by", k)?;
                }
                self.src = sort_canonical(ctx, std::mem::take(&mut self.src))?;
                return Ok(Flow::Done(self.done()));
            }
            self.start_run();
            return self.step(ctx, None);
        }
        self.step(ctx, value)
    }
}

impl Sort {
    fn done(&mut self) -> Value {
        Value::vector(
            std::mem::take(&mut self.src)
                .into_iter()
                .map(|p| p.1)
                .collect(),
        )
    }

    fn step(&mut self, ctx: &mut Ctx<'_>, value: Option<Value>) -> Result<Flow> {
        let n = self.src.len();
        if let Some(r) = value {
            // r answers "does the right item go before the left one?"
            let right_first = match &r {
                Value::Bool(b) => *b,
                Value::Int(i) => *i < 0,
                Value::Float(f) => *f < 0.0,
                Value::Nil => false,
                other => {
                    return Err(Error::type_error(
                        "sort",
                        "a number or boolean from the comparator",
                        other,
                    ));
                }
            };
            if right_first {
                self.dst.push(self.src[self.j].clone());
                self.j += 1;
            } else {
                self.dst.push(self.src[self.i].clone());
                self.i += 1;
            }
        }
        loop {
            if self.width >= n {
                return Ok(Flow::Done(self.done()));
            }
            if self.i < self.mid && self.j < self.hi {
                ctx.charge(1)?;
                let cmp = self.cmp.clone().expect("comparator");
                return Ok(Flow::Call(
                    cmp,
                    vec![self.src[self.j].0.clone(), self.src[self.i].0.clone()],
                ));
            }
            while self.i < self.mid {
                self.dst.push(self.src[self.i].clone());
                self.i += 1;
            }
            while self.j < self.hi {
                self.dst.push(self.src[self.j].clone());
                self.j += 1;
            }
            self.lo = self.hi;
            if self.lo >= n {
                std::mem::swap(&mut self.src, &mut self.dst);
                self.dst.clear();
                self.width *= 2;
                self.lo = 0;
            }
            if self.width < n {
                self.start_run();
            }
        }
    }
}

fn sorter(
    ctx: &mut Ctx<'_>,
    fname: &str,
    key: Option<Value>,
    cmp: Option<Value>,
    coll: &Value,
) -> Result<Flow> {
    if let Some(c) = &cmp {
        callable(fname, c)?;
    }
    if let Some(k) = &key {
        callable(fname, k)?;
    }
    let it = items(ctx, fname, coll)?;
    let n = it.len() as u64;
    ctx.charge(n * (64 - n.leading_zeros() as u64).max(1))?;
    let src: Vec<(Value, Value)> = it.iter().map(|x| (x.clone(), x.clone())).collect();
    if key.is_none() && cmp.is_none() {
        for (k, _) in &src {
            orderable(fname, k)?;
        }
        let src = sort_canonical(ctx, src)?;
        return Ok(Flow::Done(Value::vector(
            src.into_iter().map(|p| p.1).collect(),
        )));
    }
    let mut s = Sort {
        src,
        dst: Vec::new(),
        cmp,
        width: 1,
        lo: 0,
        i: 0,
        j: 0,
        mid: 0,
        hi: 0,
        keying: key.map(|k| (k, 0)),
    };
    if s.keying.is_none() {
        s.start_run();
    }
    Ok(Flow::Drive(Box::new(s)))
}

/// A stable bottom-up merge sort of (key, item) pairs by the canonical order of the keys,
/// each comparison paid for ([`compare_in`]) — so it can stop at a limit, which a sort
/// through `Ord` cannot.
fn sort_canonical(ctx: &mut Ctx<'_>, pairs: Vec<(Value, Value)>) -> Result<Vec<(Value, Value)>> {
    let n = pairs.len();
    let mut src = pairs;
    let mut dst = Vec::with_capacity(n);
    let mut width = 1;
    while width < n {
        dst.clear();
        let mut lo = 0;
        while lo < n {
            let mid = (lo + width).min(n);
            let hi = (lo + 2 * width).min(n);
            let (mut i, mut j) = (lo, mid);
            while i < mid && j < hi {
                if compare_in(&src[j].0, &src[i].0, ctx)? == Ordering::Less {
                    dst.push(src[j].clone());
                    j += 1;
                } else {
                    dst.push(src[i].clone());
                    i += 1;
                }
            }
            dst.extend_from_slice(&src[i..mid]);
            dst.extend_from_slice(&src[j..hi]);
            lo = hi;
        }
        std::mem::swap(&mut src, &mut dst);
        width *= 2;
    }
    Ok(src)
}

fn sort(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Flow> {
    match args {
        [coll] => sorter(ctx, "sort", None, None, coll),
        [cmp, coll] => sorter(ctx, "sort", None, Some(cmp.clone()), coll),
        _ => unreachable!("arity checked"),
    }
}

fn sort_by(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Flow> {
    match args {
        [key, coll] => sorter(ctx, "sort-by", Some(key.clone()), None, coll),
        [key, cmp, coll] => sorter(ctx, "sort-by", Some(key.clone()), Some(cmp.clone()), coll),
        _ => unreachable!("arity checked"),
    }
}

/// Calls once, then assoc-in the result at a path of the root.
struct ThenAssocIn {
    root: Value,
    path: Vec<Value>,
    call: Option<(Value, Vec<Value>)>,
}

impl Driver for ThenAssocIn {
    fn resume(&mut self, ctx: &mut Ctx<'_>, value: Option<Value>) -> Result<Flow> {
        if let Some((f, args)) = self.call.take() {
            return Ok(Flow::Call(f, args));
        }
        let v = value.unwrap_or(Value::Nil);
        Ok(Flow::Done(assoc_in_value(
            ctx, "update", &self.root, &self.path, v,
        )?))
    }
}

fn update(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Flow> {
    callable("update", &args[2])?;
    let old = match &args[0] {
        Value::Nil => None,
        m => get_in_value(ctx, "update", m, &args[1])?,
    };
    let mut call_args = vec![old.unwrap_or(Value::Nil)];
    call_args.extend(args[3..].iter().cloned());
    Ok(Flow::Drive(Box::new(ThenAssocIn {
        root: args[0].clone(),
        path: vec![args[1].clone()],
        call: Some((args[2].clone(), call_args)),
    })))
}

fn update_in(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Flow> {
    callable("update-in", &args[2])?;
    let mut path: Vec<Value> = items(ctx, "update-in", &args[1])?.into_iter().collect();
    if path.is_empty() {
        // As in Clojure, an empty path updates the key nil.
        path.push(Value::Nil);
    }
    if path.len() > ctx.limits().value_depth as usize {
        return Err(Error::limit(
            crate::LimitKind::ValueDepth,
            ctx.limits().value_depth as u64,
        ));
    }
    let mut cur = args[0].clone();
    for k in &path {
        cur = match &cur {
            Value::Nil => Value::Nil,
            c => get_in_value(ctx, "update-in", c, k)?.unwrap_or(Value::Nil),
        };
    }
    let mut call_args = vec![cur];
    call_args.extend(args[3..].iter().cloned());
    Ok(Flow::Drive(Box::new(ThenAssocIn {
        root: args[0].clone(),
        path,
        call: Some((args[2].clone(), call_args)),
    })))
}

struct MergeWith {
    f: Value,
    acc: Option<Map>,
    pending: Vec<(Value, Value)>,
    maps: Vec<Map>,
    waiting: Option<Value>,
}

impl Driver for MergeWith {
    fn resume(&mut self, ctx: &mut Ctx<'_>, value: Option<Value>) -> Result<Flow> {
        if let (Some(v), Some(k)) = (value, self.waiting.take()) {
            let acc = self.acc.take().unwrap_or_else(Map::empty);
            key_in(ctx, &acc, &k)?;
            self.acc = Some(acc.insert(k, v));
        }
        loop {
            if let Some((k, v)) = self.pending.pop() {
                ctx.charge(1)?;
                let acc = self.acc.take().unwrap_or_else(Map::empty);
                key_in(ctx, &acc, &k)?;
                match acc.get(&k).cloned() {
                    Some(old) => {
                        self.acc = Some(acc);
                        self.waiting = Some(k);
                        return Ok(Flow::Call(self.f.clone(), vec![old, v]));
                    }
                    None => self.acc = Some(acc.insert(k, v)),
                }
                continue;
            }
            match self.maps.pop() {
                Some(m) => {
                    if self.acc.is_none() {
                        self.acc = Some(m);
                    } else {
                        self.pending = m
                            .entries()
                            .iter()
                            .rev()
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .collect();
                    }
                }
                None => return Ok(Flow::Done(self.acc.take().map_or(Value::Nil, Value::Map))),
            }
        }
    }
}

fn merge_with(_: &mut Ctx<'_>, args: &[Value]) -> Result<Flow> {
    callable("merge-with", &args[0])?;
    let mut maps = Vec::new();
    for a in &args[1..] {
        if !matches!(a, Value::Nil) {
            maps.push(map_arg("merge-with", a)?);
        }
    }
    maps.reverse();
    Ok(Flow::Drive(Box::new(MergeWith {
        f: args[0].clone(),
        acc: None,
        pending: Vec::new(),
        maps,
        waiting: None,
    })))
}

pub(super) const BUILTINS: &[Builtin] = &[
    hof("map", 2, MANY, map),
    hof("map-indexed", 2, 2, map_indexed),
    hof("mapcat", 2, MANY, mapcat),
    hof("filter", 2, 2, filter),
    hof("remove", 2, 2, remove),
    hof("keep", 2, 2, keep),
    hof("reduce", 2, 3, reduce),
    hof("reduce-kv", 3, 3, reduce_kv),
    hof("apply", 2, MANY, apply),
    hof("every?", 2, 2, every),
    hof("some", 2, 2, some),
    hof("not-any?", 2, 2, not_any),
    hof("not-every?", 2, 2, not_every),
    hof("max-key", 2, MANY, max_key),
    hof("min-key", 2, MANY, min_key),
    hof("take-while", 2, 2, take_while),
    hof("drop-while", 2, 2, drop_while),
    hof("sort", 1, 2, sort),
    hof("sort-by", 2, 3, sort_by),
    hof("group-by", 2, 2, group_by),
    hof("update", 3, MANY, update),
    hof("update-in", 3, MANY, update_in),
    hof("update-vals", 2, 2, update_vals),
    hof("update-keys", 2, 2, update_keys),
    hof("merge-with", 2, MANY, merge_with),
    plain("comp", 0, MANY, comp),
    plain("partial", 1, MANY, partial),
    plain("juxt", 1, MANY, juxt),
    plain("complement", 1, 1, complement),
];
