//! Equality (§2.3) and the canonical total order (§2.4).
//!
//! The canonical order agrees with `=`: `compare(a, b) == Equal` exactly when `a = b`. That is
//! what lets maps be ordered by it, so iteration, printing and encoding are canonical for free.
//! Non-data values (functions, errors, regexes) rank after maps; they never become map keys
//! (the evaluator refuses them), and ordering them in RTFS is `:error/type`.

use std::cmp::Ordering;
use std::rc::Rc;

use crate::value::Value;

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

/// The canonical order of §2.4 (total on data; non-data ranked last, by identity).
pub fn compare(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
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
        (Value::Str(x), Value::Str(y)) => x.as_str().cmp(y.as_str()),
        (Value::Keyword(x), Value::Keyword(y)) | (Value::Symbol(x), Value::Symbol(y)) => {
            if crate::value::Name::ptr_eq(x, y) {
                Ordering::Equal
            } else {
                x.as_str().cmp(y.as_str())
            }
        }
        (Value::List(x) | Value::Vector(x), Value::List(y) | Value::Vector(y)) => {
            if crate::value::Seq::ptr_eq(x, y) {
                return Ordering::Equal;
            }
            x.len().cmp(&y.len()).then_with(|| {
                for (p, q) in x.items().iter().zip(y.items().iter()) {
                    let o = compare(p, q);
                    if o != Ordering::Equal {
                        return o;
                    }
                }
                Ordering::Equal
            })
        }
        (Value::Map(x), Value::Map(y)) => x.len().cmp(&y.len()).then_with(|| {
            for ((k1, v1), (k2, v2)) in x.entries().iter().zip(y.entries().iter()) {
                let o = compare(k1, k2).then_with(|| compare(v1, v2));
                if o != Ordering::Equal {
                    return o;
                }
            }
            Ordering::Equal
        }),
        (Value::Regex(x), Value::Regex(y)) => x.pattern.cmp(&y.pattern),
        (Value::Error(x), Value::Error(y)) => x
            .kind
            .as_str()
            .cmp(y.kind.as_str())
            .then_with(|| x.message.cmp(&y.message))
            .then_with(|| compare(&x.data, &y.data)),
        (Value::Fn(x), Value::Fn(y)) => {
            (Rc::as_ptr(&x.0) as usize).cmp(&(Rc::as_ptr(&y.0) as usize))
        }
        _ => rank(a).cmp(&rank(b)),
    }
}

/// Structural equality (`=`, §2.3).
pub fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => x == y,
        (Value::Float(x), Value::Float(y)) => x == y || (x.is_nan() && y.is_nan()),
        (Value::Int(_), Value::Float(_)) | (Value::Float(_), Value::Int(_)) => false,
        (Value::Str(x), Value::Str(y)) => x.as_str() == y.as_str(),
        (Value::Keyword(x), Value::Keyword(y)) | (Value::Symbol(x), Value::Symbol(y)) => x == y,
        (Value::List(x) | Value::Vector(x), Value::List(y) | Value::Vector(y)) => {
            crate::value::Seq::ptr_eq(x, y)
                || (x.len() == y.len()
                    && x.items()
                        .iter()
                        .zip(y.items().iter())
                        .all(|(p, q)| equal(p, q)))
        }
        (Value::Map(x), Value::Map(y)) => {
            x.len() == y.len()
                && x.entries()
                    .iter()
                    .zip(y.entries().iter())
                    .all(|((k1, v1), (k2, v2))| equal(k1, k2) && equal(v1, v2))
        }
        (Value::Fn(x), Value::Fn(y)) => Rc::ptr_eq(&x.0, &y.0),
        _ => compare(a, b) == Ordering::Equal && rank(a) == rank(b),
    }
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
