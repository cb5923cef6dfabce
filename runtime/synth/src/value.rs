//! The search's own values: a compact mirror of RTFS data with the same equality, canonical
//! order and printed form (LANGUAGE.md §2.3–2.5), cheap to hash and compare.
//!
//! Lists and vectors are both [`V::Seq`] — `=` does not tell them apart, and every sequence
//! function returns a vector. `V::Err` marks an evaluation that failed; it never sits inside a
//! collection.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::rc::Rc;

use rtfs::Value;

/// A value during the search.
#[derive(Clone, Debug)]
pub(crate) enum V {
    /// The evaluation failed (an RTFS error).
    Err,
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Rc<str>),
    Kw(Rc<str>),
    Sym(Rc<str>),
    /// A vector (or list): items in order.
    Seq(Rc<[V]>),
    /// A map: entries sorted by the canonical order of their keys, keys distinct.
    Map(Rc<[(V, V)]>),
}

/// The kind of a value, or the join of the kinds of several (`Num`: integers and floats,
/// `Mixed`: anything else that differs; `Unknown`: no value at all).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Kind {
    Nil,
    Bool,
    Int,
    Float,
    Num,
    Str,
    Kw,
    Sym,
    Seq,
    Map,
    Mixed,
    Unknown,
}

/// Number of [`Kind`]s.
pub(crate) const KINDS: usize = 12;

impl Kind {
    /// The kind of two sets of values together.
    pub(crate) fn join(self, other: Kind) -> Kind {
        use Kind::*;
        match (self, other) {
            (Unknown, k) | (k, Unknown) => k,
            (a, b) if a == b => a,
            (Int | Float | Num, Int | Float | Num) => Num,
            _ => Mixed,
        }
    }
}

/// A set of kinds, as a bit mask.
pub(crate) type Kinds = u16;

pub(crate) mod kinds {
    use super::Kind;
    pub(crate) const NUM: u16 =
        (1 << Kind::Int as u16) | (1 << Kind::Float as u16) | (1 << Kind::Num as u16);
    pub(crate) const INT: u16 = 1 << Kind::Int as u16;
    pub(crate) const STR: u16 = 1 << Kind::Str as u16;
    pub(crate) const KW: u16 = 1 << Kind::Kw as u16;
    pub(crate) const SEQ: u16 = 1 << Kind::Seq as u16;
    pub(crate) const MAP: u16 = 1 << Kind::Map as u16;
    pub(crate) const COLL: u16 = SEQ | MAP;
    pub(crate) const SEQABLE: u16 = SEQ | MAP | STR;
    pub(crate) const NAMED: u16 = STR | KW;
    /// Anything but the kinds no operation takes usefully.
    pub(crate) const ANY: u16 = !(1 << Kind::Unknown as u16);
    pub(crate) const NIL: u16 = 1 << Kind::Nil as u16;
    pub(crate) const BOOL: u16 = 1 << Kind::Bool as u16;
    pub(crate) const MIXED: u16 = 1 << Kind::Mixed as u16;
    /// What a predicate returns.
    pub(crate) const TRUTH: u16 = BOOL | NIL | MIXED;
    /// A literal key: keywords, strings, integers.
    pub(crate) const KEY: u16 = KW | STR | INT;
}

impl V {
    pub(crate) fn str(s: &str) -> V {
        V::Str(Rc::from(s))
    }

    pub(crate) fn seq(items: Vec<V>) -> V {
        V::Seq(Rc::from(items))
    }

    /// A map from entries in any order; a later entry wins over an earlier equal key.
    pub(crate) fn map_from(mut entries: Vec<(V, V)>) -> V {
        // Stable sort keeps equal keys in input order; keep the last of each run.
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        let mut out: Vec<(V, V)> = Vec::with_capacity(entries.len());
        for (k, v) in entries {
            match out.last_mut() {
                Some(last) if last.0 == k => last.1 = v,
                _ => out.push((k, v)),
            }
        }
        V::Map(Rc::from(out))
    }

    pub(crate) fn is_err(&self) -> bool {
        matches!(self, V::Err)
    }

    pub(crate) fn truthy(&self) -> bool {
        !matches!(self, V::Nil | V::Bool(false))
    }

    pub(crate) fn kind(&self) -> Kind {
        match self {
            V::Err => Kind::Unknown,
            V::Nil => Kind::Nil,
            V::Bool(_) => Kind::Bool,
            V::Int(_) => Kind::Int,
            V::Float(_) => Kind::Float,
            V::Str(_) => Kind::Str,
            V::Kw(_) => Kind::Kw,
            V::Sym(_) => Kind::Sym,
            V::Seq(_) => Kind::Seq,
            V::Map(_) => Kind::Map,
        }
    }

    /// Looks a key up in a map value.
    pub(crate) fn map_get(entries: &[(V, V)], key: &V) -> Option<usize> {
        entries.binary_search_by(|(k, _)| k.cmp(key)).ok()
    }

    /// Converts RTFS data; None for values that are not data (functions, errors, regexes).
    pub(crate) fn from_rtfs(v: &Value) -> Option<V> {
        Some(match v {
            Value::Nil => V::Nil,
            Value::Bool(b) => V::Bool(*b),
            Value::Int(i) => V::Int(*i),
            Value::Float(f) => V::Float(*f),
            Value::Str(s) => V::Str(Rc::from(s.as_str())),
            Value::Keyword(k) => V::Kw(Rc::from(k.as_str())),
            Value::Symbol(s) => V::Sym(Rc::from(s.as_str())),
            Value::List(s) | Value::Vector(s) => V::Seq(
                s.items()
                    .iter()
                    .map(V::from_rtfs)
                    .collect::<Option<Vec<V>>>()?
                    .into(),
            ),
            Value::Map(m) => V::map_from(
                m.entries()
                    .iter()
                    .map(|(k, v)| Some((V::from_rtfs(k)?, V::from_rtfs(v)?)))
                    .collect::<Option<Vec<_>>>()?,
            ),
            Value::Fn(_) | Value::Error(_) | Value::Regex(_) => return None,
        })
    }

    fn rank(&self) -> u8 {
        match self {
            V::Nil => 0,
            V::Bool(_) => 1,
            V::Int(_) | V::Float(_) => 2,
            V::Str(_) => 3,
            V::Kw(_) => 4,
            V::Sym(_) => 5,
            V::Seq(_) => 6,
            V::Map(_) => 7,
            V::Err => 8,
        }
    }
}

/// Numeric comparison (`<`, `max`, …): exact across integers and floats; None with NaN.
pub(crate) fn num_cmp(a: &V, b: &V) -> Option<Ordering> {
    match (a, b) {
        (V::Int(x), V::Int(y)) => Some(x.cmp(y)),
        (V::Float(x), V::Float(y)) => x.partial_cmp(y),
        (V::Int(x), V::Float(y)) => (!y.is_nan()).then(|| rtfs::order::cmp_int_float(*x, *y)),
        (V::Float(x), V::Int(y)) => {
            (!x.is_nan()).then(|| rtfs::order::cmp_int_float(*y, *x).reverse())
        }
        _ => None,
    }
}

fn float_cmp(x: f64, y: f64) -> Ordering {
    match (x.is_nan(), y.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        (false, false) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
    }
}

impl Ord for V {
    /// The canonical total order (§2.4); `Equal` exactly when `=`.
    fn cmp(&self, other: &V) -> Ordering {
        let (ra, rb) = (self.rank(), other.rank());
        if ra != rb {
            return ra.cmp(&rb);
        }
        match (self, other) {
            (V::Bool(a), V::Bool(b)) => a.cmp(b),
            (V::Int(a), V::Int(b)) => a.cmp(b),
            (V::Float(a), V::Float(b)) => float_cmp(*a, *b),
            (V::Int(a), V::Float(b)) => {
                if b.is_nan() {
                    Ordering::Less
                } else {
                    // An integer sits just before an equal float.
                    rtfs::order::cmp_int_float(*a, *b).then(Ordering::Less)
                }
            }
            (V::Float(a), V::Int(b)) => {
                if a.is_nan() {
                    Ordering::Greater
                } else {
                    rtfs::order::cmp_int_float(*b, *a)
                        .reverse()
                        .then(Ordering::Greater)
                }
            }
            (V::Str(a), V::Str(b)) | (V::Kw(a), V::Kw(b)) | (V::Sym(a), V::Sym(b)) => a.cmp(b),
            (V::Seq(a), V::Seq(b)) => {
                if Rc::ptr_eq(a, b) {
                    return Ordering::Equal;
                }
                a.len().cmp(&b.len()).then_with(|| {
                    for (x, y) in a.iter().zip(b.iter()) {
                        let o = x.cmp(y);
                        if o != Ordering::Equal {
                            return o;
                        }
                    }
                    Ordering::Equal
                })
            }
            (V::Map(a), V::Map(b)) => {
                if Rc::ptr_eq(a, b) {
                    return Ordering::Equal;
                }
                a.len().cmp(&b.len()).then_with(|| {
                    for ((ka, va), (kb, vb)) in a.iter().zip(b.iter()) {
                        let o = ka.cmp(kb).then_with(|| va.cmp(vb));
                        if o != Ordering::Equal {
                            return o;
                        }
                    }
                    Ordering::Equal
                })
            }
            _ => Ordering::Equal,
        }
    }
}

impl PartialOrd for V {
    fn partial_cmp(&self, other: &V) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for V {
    fn eq(&self, other: &V) -> bool {
        match (self, other) {
            (V::Int(a), V::Int(b)) => a == b,
            (V::Str(a), V::Str(b)) | (V::Kw(a), V::Kw(b)) => a == b,
            (V::Seq(a), V::Seq(b)) => a.len() == b.len() && self.cmp(other) == Ordering::Equal,
            (V::Map(a), V::Map(b)) => a.len() == b.len() && self.cmp(other) == Ordering::Equal,
            _ => self.cmp(other) == Ordering::Equal,
        }
    }
}

impl Eq for V {}

impl Hash for V {
    fn hash<H: Hasher>(&self, h: &mut H) {
        match self {
            V::Err => h.write_u8(0),
            V::Nil => h.write_u8(1),
            V::Bool(b) => h.write_u8(2 + *b as u8),
            V::Int(i) => {
                h.write_u8(4);
                h.write_i64(*i);
            }
            V::Float(f) => {
                h.write_u8(5);
                let bits = if f.is_nan() {
                    u64::MAX
                } else if *f == 0.0 {
                    0
                } else {
                    f.to_bits()
                };
                h.write_u64(bits);
            }
            V::Str(s) => {
                h.write_u8(6);
                s.hash(h);
            }
            V::Kw(s) => {
                h.write_u8(7);
                s.hash(h);
            }
            V::Sym(s) => {
                h.write_u8(8);
                s.hash(h);
            }
            V::Seq(xs) => {
                h.write_u8(9);
                h.write_usize(xs.len());
                for x in xs.iter() {
                    x.hash(h);
                }
            }
            V::Map(m) => {
                h.write_u8(10);
                h.write_usize(m.len());
                for (k, v) in m.iter() {
                    k.hash(h);
                    v.hash(h);
                }
            }
        }
    }
}

/// Hashes at most about `budget` parts of a value, consistently with `=`.
pub(crate) fn hash_bounded<H: Hasher>(v: &V, h: &mut H, budget: &mut u32) {
    if *budget == 0 {
        return;
    }
    *budget -= 1;
    match v {
        V::Seq(xs) => {
            h.write_u8(9);
            h.write_usize(xs.len());
            for x in xs.iter() {
                if *budget == 0 {
                    break;
                }
                hash_bounded(x, h, budget);
            }
        }
        V::Map(m) => {
            h.write_u8(10);
            h.write_usize(m.len());
            for (k, x) in m.iter() {
                if *budget == 0 {
                    break;
                }
                hash_bounded(k, h, budget);
                hash_bounded(x, h, budget);
            }
        }
        V::Str(s) | V::Kw(s) | V::Sym(s) => {
            h.write_u8(if matches!(v, V::Str(_)) { 6 } else { 7 });
            let b = s.as_bytes();
            h.write(&b[..b.len().min(32)]);
        }
        other => other.hash(h),
    }
}

/// A value as a hash-map key, hashed with [`hash_bounded`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Key(pub V);

impl Hash for Key {
    fn hash<H: Hasher>(&self, h: &mut H) {
        let mut budget = 16;
        hash_bounded(&self.0, h, &mut budget);
    }
}

/// The printed form (§2.5), which for literals is also RTFS source.
pub(crate) fn print(v: &V) -> String {
    let mut out = String::new();
    write(&mut out, v);
    out
}

fn write(out: &mut String, v: &V) {
    match v {
        V::Err => out.push_str("#<error>"),
        V::Nil => out.push_str("nil"),
        V::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        V::Int(i) => out.push_str(&i.to_string()),
        V::Float(f) => out.push_str(&rtfs::print::format_float(*f)),
        V::Str(s) => rtfs::print::write_string_literal(out, s),
        V::Kw(k) => {
            out.push(':');
            out.push_str(k);
        }
        V::Sym(s) => out.push_str(s),
        V::Seq(xs) => {
            out.push('[');
            for (i, x) in xs.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                write(out, x);
            }
            out.push(']');
        }
        V::Map(m) => {
            out.push('{');
            for (i, (k, x)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                write(out, k);
                out.push(' ');
                write(out, x);
            }
            out.push('}');
        }
    }
}

/// `str` of one value: a string's own text, anything else's printed form.
pub(crate) fn to_str(v: &V, out: &mut String) {
    match v {
        V::Str(s) => out.push_str(s),
        other => write(out, other),
    }
}

/// FxHash: a fast, deterministic hasher for the search's tables.
#[derive(Default, Clone, Copy)]
pub(crate) struct Fx(u64);

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl Hasher for Fx {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut b = [0u8; 8];
            b.copy_from_slice(c);
            self.write_u64(u64::from_le_bytes(b));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut b = [0u8; 8];
            b[..rest.len()].copy_from_slice(rest);
            self.write_u64(u64::from_le_bytes(b) ^ rest.len() as u64);
        }
    }
    fn write_u8(&mut self, i: u8) {
        self.write_u64(i as u64);
    }
    fn write_usize(&mut self, i: usize) {
        self.write_u64(i as u64);
    }
    fn write_u64(&mut self, i: u64) {
        self.0 = (self.0.rotate_left(5) ^ i).wrapping_mul(SEED);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

/// A hash map with [`Fx`].
pub(crate) type FxMap<K, T> = HashMap<K, T, BuildHasherDefault<Fx>>;
