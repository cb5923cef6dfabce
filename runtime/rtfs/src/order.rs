//! Equality (§2.3) and the canonical total order (§2.4).
//!
//! The canonical order agrees with `=`: `compare(a, b) == Equal` exactly when `a = b`. That is
//! what lets maps be ordered by it, so iteration, printing and encoding are canonical for free.
//! Non-data values (functions, errors, regexes) rank after maps; they never become map keys
//! (the evaluator refuses them), and ordering them in RTFS is `:error/type`.
//!
//! Builtins compare through [`compare_in`] and [`equal_in`], which pay their meter per pair
//! of items and per byte of text, so that two separately built values with shared structure
//! (2^40 leaves each) cost what their expansions cost; map keys are paid for beforehand by
//! [`charge_key`].

use std::cmp::Ordering;
use std::rc::Rc;

use crate::error::Result;
use crate::meter::{Free, Meter};
use crate::value::{Map, Seq, Value};

fn rank(v: &Value) -> u8 {
    match v {
        Value::Nil => 0,
        Value::Bool(_) => 1,
        Value::Int(_) | Value::Float(_) => 2,
        Value::Str(_) => 3,
        Value::Keyword(_) => 4,
        Value::Symbol(_) => 5,
        Value::List(_) | Value::Vector(_) => 6,
        Value::Map(_) => 7,
        Value::Regex(_) => 8,
        Value::Error(_) => 9,
        Value::Fn(_) => 10,
    }
}

/// Compares an integer with a non-NaN float by exact mathematical value.
pub fn cmp_int_float(i: i64, f: f64) -> Ordering {
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    if f >= TWO_63 {
        return Ordering::Less;
    }
    if f < -TWO_63 {
        return Ordering::Greater;
    }
    let t = f.trunc();
    match i.cmp(&(t as i64)) {
        Ordering::Equal => {
            if f > t {
                Ordering::Less
            } else if f < t {
                Ordering::Greater
            } else {
                Ordering::Equal
            }
        }
        o => o,
    }
}

/// Numeric comparison across Integer and Float (`<`, `==`, `max` …). `None` when a NaN is
/// involved.
pub fn num_cmp(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => Some(x.cmp(y)),
        (Value::Float(x), Value::Float(y)) => x.partial_cmp(y),
        (Value::Int(x), Value::Float(y)) => (!y.is_nan()).then(|| cmp_int_float(*x, *y)),
        (Value::Float(x), Value::Int(y)) => (!x.is_nan()).then(|| cmp_int_float(*y, *x).reverse()),
        _ => None,
    }
}

fn canonical_float(x: f64, y: f64) -> Ordering {
    match (x.is_nan(), y.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        // 0.0 and -0.0 are equal.
        (false, false) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
    }
}

/// The canonical order of §2.4 (total on data; non-data ranked last, by identity). Not
/// metered: it is the order behind `Ord` (map keys), whose callers bound each comparison with
/// [`charge_key`]; builtins that compare values use [`compare_in`].
pub fn compare(a: &Value, b: &Value) -> Ordering {
    match compare_in(a, b, &mut Free) {
        Ok(o) => o,
        Err(_) => Ordering::Equal,
    }
}

/// Structural equality (`=`, §2.3), not metered (see [`compare`]).
// Not inlined: the machine's dispatch loop calls it (`case`, `match`), and inlining it there
// costs the loop's hot path more than the call.
#[inline(never)]
pub fn equal(a: &Value, b: &Value) -> bool {
    equal_in(a, b, &mut Free).unwrap_or(false)
}

/// Compares two texts bytewise, paying one unit per byte read (a chunk at a time).
#[inline]
fn text_cmp<M: Meter>(x: &str, y: &str, m: &mut M) -> Result<Ordering> {
    if M::FREE {
        return Ok(x.cmp(y));
    }
    let (a, b) = (x.as_bytes(), y.as_bytes());
    let n = a.len().min(b.len());
    let mut i = 0;
    while i < n {
        let end = (i + TEXT_CHUNK).min(n);
        m.charge((end - i) as u64)?;
        if a[i..end] != b[i..end] {
            return Ok(a[i..end].cmp(&b[i..end]));
        }
        i = end;
    }
    Ok(a.len().cmp(&b.len()))
}

/// Whether two texts are equal, paying one unit per byte read.
#[inline]
fn text_eq<M: Meter>(x: &str, y: &str, m: &mut M) -> Result<bool> {
    if M::FREE || x.len() != y.len() {
        return Ok(x == y);
    }
    Ok(text_cmp(x, y, m)? == Ordering::Equal)
}

/// How many bytes of two texts are compared between two charges.
const TEXT_CHUNK: usize = 4096;

/// The canonical order, paying `m` one unit per pair of items and per byte of text it reads.
pub fn compare_in<M: Meter>(a: &Value, b: &Value, m: &mut M) -> Result<Ordering> {
    Ok(match (a, b) {
        (Value::Int(x), Value::Int(y)) => x.cmp(y),
        (Value::Float(x), Value::Float(y)) => canonical_float(*x, *y),
        (Value::Int(x), Value::Float(y)) => {
            if y.is_nan() {
                Ordering::Less
            } else {
                // An Integer sorts just before an equal-valued Float.
                cmp_int_float(*x, *y).then(Ordering::Less)
            }
        }
        (Value::Float(x), Value::Int(y)) => {
            if x.is_nan() {
                Ordering::Greater
            } else {
                cmp_int_float(*y, *x).reverse().then(Ordering::Greater)
            }
        }
        (Value::Nil, Value::Nil) => Ordering::Equal,
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Str(x), Value::Str(y)) => text_cmp(x, y, m)?,
        (Value::Keyword(x), Value::Keyword(y)) | (Value::Symbol(x), Value::Symbol(y)) => {
            if crate::value::Name::ptr_eq(x, y) {
                Ordering::Equal
            } else {
                text_cmp(x, y, m)?
            }
        }
        (Value::List(x) | Value::Vector(x), Value::List(y) | Value::Vector(y)) => {
            seqs_compare(x, y, m)?
        }
        (Value::Map(x), Value::Map(y)) => maps_compare(x, y, m)?,
        (Value::Regex(x), Value::Regex(y)) => text_cmp(&x.pattern, &y.pattern, m)?,
        (Value::Error(x), Value::Error(y)) => {
            let mut o = text_cmp(x.kind.as_str(), y.kind.as_str(), m)?;
            if o == Ordering::Equal {
                o = text_cmp(&x.message, &y.message, m)?;
            }
            if o == Ordering::Equal {
                o = compare_in(&x.data, &y.data, m)?;
            }
            o
        }
        (Value::Fn(x), Value::Fn(y)) => {
            (Rc::as_ptr(&x.0) as usize).cmp(&(Rc::as_ptr(&y.0) as usize))
        }
        _ => rank(a).cmp(&rank(b)),
    })
}

/// Structural equality, paying `m` one unit per pair of items and per byte of text it reads.
pub fn equal_in<M: Meter>(a: &Value, b: &Value, m: &mut M) -> Result<bool> {
    Ok(match (a, b) {
        (Value::Int(x), Value::Int(y)) => x == y,
        (Value::Float(x), Value::Float(y)) => x == y || (x.is_nan() && y.is_nan()),
        (Value::Int(_), Value::Float(_)) | (Value::Float(_), Value::Int(_)) => false,
        (Value::Str(x), Value::Str(y)) => text_eq(x, y, m)?,
        (Value::Keyword(x), Value::Keyword(y)) | (Value::Symbol(x), Value::Symbol(y)) => {
            crate::value::Name::ptr_eq(x, y) || text_eq(x, y, m)?
        }
        (Value::List(x) | Value::Vector(x), Value::List(y) | Value::Vector(y)) => {
            seqs_equal(x, y, m)?
        }
        (Value::Map(x), Value::Map(y)) => maps_equal(x, y, m)?,
        (Value::Fn(x), Value::Fn(y)) => Rc::ptr_eq(&x.0, &y.0),
        _ => compare_in(a, b, m)? == Ordering::Equal && rank(a) == rank(b),
    })
}

// The collection cases live in their own (never inlined) functions so that the frames a
// walk recurses through stay small: values nest 1 000 deep, in a guest's 1 MiB stack too.

#[inline(never)]
fn seqs_equal<M: Meter>(x: &Seq, y: &Seq, m: &mut M) -> Result<bool> {
    if Seq::ptr_eq(x, y) {
        return Ok(true);
    }
    // Equal values have equal expanded sizes.
    if x.len() != y.len() || x.weight() != y.weight() {
        return Ok(false);
    }
    pairs(x, y, |p, q| {
        m.charge(1)?;
        equal_in(p, q, m)
    })
}

#[inline(never)]
fn maps_equal<M: Meter>(x: &Map, y: &Map, m: &mut M) -> Result<bool> {
    if x.len() != y.len() || x.weight() != y.weight() {
        return Ok(false);
    }
    for ((k1, v1), (k2, v2)) in x.entries().iter().zip(y.entries().iter()) {
        m.charge(1)?;
        if !equal_in(k1, k2, m)? || !equal_in(v1, v2, m)? {
            return Ok(false);
        }
    }
    Ok(true)
}

#[inline(never)]
fn seqs_compare<M: Meter>(x: &Seq, y: &Seq, m: &mut M) -> Result<Ordering> {
    if Seq::ptr_eq(x, y) {
        return Ok(Ordering::Equal);
    }
    let o = x.len().cmp(&y.len());
    if o != Ordering::Equal {
        return Ok(o);
    }
    let mut o = Ordering::Equal;
    pairs(x, y, |p, q| {
        m.charge(1)?;
        o = compare_in(p, q, m)?;
        Ok(o == Ordering::Equal)
    })?;
    Ok(o)
}

#[inline(never)]
fn maps_compare<M: Meter>(x: &Map, y: &Map, m: &mut M) -> Result<Ordering> {
    let o = x.len().cmp(&y.len());
    if o != Ordering::Equal {
        return Ok(o);
    }
    for ((k1, v1), (k2, v2)) in x.entries().iter().zip(y.entries().iter()) {
        m.charge(1)?;
        let mut o = compare_in(k1, k2, m)?;
        if o == Ordering::Equal {
            o = compare_in(v1, v2, m)?;
        }
        if o != Ordering::Equal {
            return Ok(o);
        }
    }
    Ok(Ordering::Equal)
}

/// Calls `f` on the items of two sequences of the same length, pairwise in order, while it
/// answers true; answers whether it always did. Short sequences are indexed (an imbl
/// iterator costs more to set up than a comparison of two small items).
#[inline]
fn pairs(x: &Seq, y: &Seq, mut f: impl FnMut(&Value, &Value) -> Result<bool>) -> Result<bool> {
    let (a, b) = (x.items(), y.items());
    if a.len() <= crate::value::SHORT {
        for i in 0..a.len().min(b.len()) {
            if !f(&a[i], &b[i])? {
                return Ok(false);
            }
        }
        return Ok(true);
    }
    pairs_long(a, b, f)
}

/// The iterator path of [`pairs`], apart so that its iterators do not enlarge the frame of
/// every walk through short sequences.
#[inline(never)]
fn pairs_long(
    a: &crate::value::PVec,
    b: &crate::value::PVec,
    mut f: impl FnMut(&Value, &Value) -> Result<bool>,
) -> Result<bool> {
    for (p, q) in a.iter().zip(b.iter()) {
        if !f(p, q)? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Keys no larger than this (in expanded size, [`Value::weight`]) compare in constant time
/// as far as the step budget is concerned: keywords, numbers, short strings and small
/// vectors cost a map operation nothing extra.
pub const SMALL_KEY: u64 = 64;

/// Charges for finding `key` among the keys of a map of `len` entries none of which expands
/// beyond `key_weight` ([`crate::value::Map::key_weight`]): a B-tree search compares it with
/// about log2(len) keys, and each comparison visits at most the smaller of the two expansions.
/// So two separately built 2^40-node keys cannot meet in one map without paying for it, while
/// a large key among keywords costs nothing.
#[inline]
pub fn charge_key<M: Meter>(m: &mut M, key: &Value, key_weight: u64, len: usize) -> Result<()> {
    if key_weight <= SMALL_KEY {
        return Ok(());
    }
    let each = key.weight().min(key_weight);
    if each <= SMALL_KEY || len == 0 {
        return Ok(());
    }
    let probes = 1 + u64::from(usize::BITS - len.leading_zeros());
    m.charge(each.saturating_mul(probes))
}

impl PartialEq for Value {
    fn eq(&self, other: &Value) -> bool {
        equal(self, other)
    }
}

impl Eq for Value {}

impl PartialOrd for Value {
    fn partial_cmp(&self, other: &Value) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Value {
    fn cmp(&self, other: &Value) -> Ordering {
        compare(self, other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_sorts_just_before_equal_float() {
        let cases: &[(Value, Value, Ordering)] = &[
            (Value::Int(1), Value::Float(1.0), Ordering::Less),
            (Value::Float(1.0), Value::Int(1), Ordering::Greater),
            (Value::Int(2), Value::Float(1.5), Ordering::Greater),
            (
                Value::Float(f64::NAN),
                Value::Int(i64::MAX),
                Ordering::Greater,
            ),
            (Value::Float(0.0), Value::Float(-0.0), Ordering::Equal),
            (Value::Int(i64::MAX), Value::Float(9.3e18), Ordering::Less),
            (Value::Nil, Value::Bool(false), Ordering::Less),
        ];
        for (a, b, want) in cases {
            assert_eq!(compare(a, b), *want, "{a:?} vs {b:?}");
        }
    }
}
