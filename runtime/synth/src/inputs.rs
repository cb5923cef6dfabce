//! The input generator of the benchmark protocol (`data/README.md`): random arguments that
//! satisfy the parameters' schemas, deterministic by seed.
//!
//! - A vector has length 0–6, or 1–6 under `[:non-empty]` (and within `:min-count` …).
//! - An `:int` is uniform in [-5, 9] unless `[:in-range lo hi]` gives another range; a float
//!   is a tenth in the same range.
//! - A `:string` is 1–3 words from a fixed pool of eight, joined by single spaces.
//! - `:bool`, `[:enum …]` and the branches of `[:union …]` are drawn uniformly; a `:keyword`
//!   comes from the pool `:a :b :c :d`; `[:maybe T]` is nil half of the time.
//! - An optional map key is present half of the time; `[:map-of K V]` has 0–4 entries.
//! - In a vector of records, each field takes 1–3 distinct values per input, so groups and
//!   ties occur.
//! - Other predicates of `[:and …]` are met by drawing again (up to 100 times).

use std::borrow::Borrow;

use rtfs::Value;
use rtfs::schema::{self, Schema};

/// The words strings are made of.
pub const WORDS: [&str; 8] = [
    "apple", "Berry", "cherry", "date", "Elder", "fig", "grape", "kiwi",
];
/// The keywords `:keyword` values come from.
pub const KEYWORDS: [&str; 4] = ["a", "b", "c", "d"];

/// `n` argument vectors for `params` (name, schema), the same for the same seed.
///
/// ```
/// let params = vec![("xs".to_string(), rtfs::reader::read_expr("[:vector :int]", &Default::default()).unwrap().to_value())];
/// let a = kiln_synth::inputs::generate(&params, 7, 5);
/// assert_eq!(a.len(), 5);
/// assert_eq!(a, kiln_synth::inputs::generate(&params, 7, 5));
/// ```
pub fn generate(params: &[(String, Value)], seed: u64, n: usize) -> Vec<Vec<Value>> {
    let schemas: Vec<Schema> = params
        .iter()
        .map(|(_, s)| schema::parse(s, true).unwrap_or(Schema::Any))
        .collect();
    let mut rng = Rng::new(seed);
    (0..n)
        .map(|_| schemas.iter().map(|s| value(s, &mut rng)).collect())
        .collect()
}

/// The schema inside a child position (a `Box`, an `Rc` or the schema itself, whichever
/// `rtfs::schema::Schema` uses there).
fn sch<S: Borrow<Schema>>(s: &S) -> &Schema {
    s.borrow()
}

/// A SplitMix64 generator.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9e37_79b9_7f4a_7c15)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    /// Uniform in [lo, hi] (inclusive).
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        if hi <= lo {
            return lo;
        }
        let span = (hi as i128 - lo as i128 + 1) as u128;
        (lo as i128 + (self.next() as u128 % span) as i128) as i64
    }

    fn coin(&mut self) -> bool {
        self.next() & 1 == 1
    }
}

/// Bounds gathered from the predicates of an `[:and …]`.
#[derive(Clone, Copy)]
struct Bounds {
    lo: f64,
    hi: f64,
    min_count: usize,
    max_count: usize,
}

impl Default for Bounds {
    fn default() -> Bounds {
        Bounds {
            lo: -5.0,
            hi: 9.0,
            min_count: 0,
            max_count: 6,
        }
    }
}

fn num(v: &Value) -> Option<f64> {
    match v {
        Value::Int(i) => Some(*i as f64),
        Value::Float(f) => Some(*f),
        _ => None,
    }
}

/// A value satisfying `s` (drawn again when a predicate fails).
fn value(s: &Schema, rng: &mut Rng) -> Value {
    let mut last = Value::Nil;
    for _ in 0..100 {
        last = draw(s, Bounds::default(), rng);
        if schema::valid(s, &last) {
            return last;
        }
    }
    last
}

fn draw(s: &Schema, b: Bounds, rng: &mut Rng) -> Value {
    match s {
        Schema::Any | Schema::Int => {
            let (lo, hi) = (b.lo.ceil() as i64, b.hi.floor() as i64);
            Value::Int(rng.range(lo, hi.max(lo)))
        }
        Schema::Never | Schema::Nil | Schema::Fn => Value::Nil,
        Schema::Bool => Value::Bool(rng.coin()),
        Schema::Float => float(b, rng),
        Schema::Number => {
            if rng.coin() {
                draw(&Schema::Int, b, rng)
            } else {
                float(b, rng)
            }
        }
        Schema::String => {
            let n = 1 + rng.below(3);
            let words: Vec<&str> = (0..n).map(|_| WORDS[rng.below(WORDS.len())]).collect();
            Value::str(&words.join(" "))
        }
        Schema::Keyword => Value::keyword(KEYWORDS[rng.below(KEYWORDS.len())]),
        Schema::Symbol => Value::symbol(KEYWORDS[rng.below(KEYWORDS.len())]),
        Schema::Map => Value::map(vec![]),
        Schema::Vector => Value::vector(items(&Schema::Int, b, rng)),
        Schema::List => Value::list(items(&Schema::Int, b, rng)),
        Schema::VectorOf(t) => Value::vector(items(sch(t), b, rng)),
        Schema::Sequential(t) => Value::vector(items(sch(t), b, rng)),
        Schema::Tuple(ts) => Value::vector(ts.iter().map(|t| value(sch(t), rng)).collect()),
        Schema::MapEntries { entries, .. } => {
            let mut out = Vec::new();
            for (k, optional, t) in entries {
                if *optional && !rng.coin() {
                    continue;
                }
                out.push((k.clone(), value(sch(t), rng)));
            }
            Value::map(out)
        }
        Schema::MapOf(k, v) => {
            let n = rng.below(5);
            let mut out: Vec<(Value, Value)> = Vec::new();
            for _ in 0..n {
                for _ in 0..4 {
                    let key = value(sch(k), rng);
                    if !out.iter().any(|(x, _)| rtfs::order::equal(x, &key)) {
                        out.push((key, value(sch(v), rng)));
                        break;
                    }
                }
            }
            Value::map(out)
        }
        Schema::Maybe(t) => {
            if rng.coin() {
                Value::Nil
            } else {
                value(sch(t), rng)
            }
        }
        Schema::Or(ts) => match ts.len() {
            0 => Value::Nil,
            n => value(ts[rng.below(n)].borrow(), rng),
        },
        Schema::And(parts) => {
            let mut b = b;
            for p in parts.iter().skip(1) {
                let p: &Schema = sch(p);
                match p {
                    Schema::InRange(lo, hi) => {
                        if let (Some(lo), Some(hi)) = (num(lo), num(hi)) {
                            b.lo = lo;
                            b.hi = hi;
                        }
                    }
                    Schema::Count(min, max) => {
                        if let Some(min) = min {
                            b.min_count = (*min).max(0) as usize;
                        }
                        if let Some(max) = max {
                            b.max_count = (*max).max(0) as usize;
                        }
                        b.max_count = b.max_count.max(b.min_count);
                    }
                    _ => {}
                }
            }
            match parts.first() {
                Some(base) => draw(sch(base), b, rng),
                None => Value::Nil,
            }
        }
        Schema::Enum(vs) => match vs.len() {
            0 => Value::Nil,
            n => vs[rng.below(n)].clone(),
        },
        Schema::Eq(v) => v.clone(),
        Schema::NotEq(_)
        | Schema::Compare(..)
        | Schema::InRange(..)
        | Schema::Count(..)
        | Schema::Matches(_)
        | Schema::HasKeys(_) => draw(&Schema::Int, b, rng),
    }
}

fn float(b: Bounds, rng: &mut Rng) -> Value {
    let (lo, hi) = ((b.lo * 10.0).ceil() as i64, (b.hi * 10.0).floor() as i64);
    Value::Float(rng.range(lo, hi.max(lo)) as f64 / 10.0)
}

/// The record schema under an element schema (through `[:and …]`), if it is one.
fn record(t: &Schema) -> Option<Vec<(&Value, bool, &Schema)>> {
    match t {
        Schema::MapEntries { entries, .. } => {
            Some(entries.iter().map(|(k, o, s)| (k, *o, sch(s))).collect())
        }
        Schema::And(parts) => parts.first().and_then(|p| record(sch(p))),
        _ => None,
    }
}

/// The items of a vector: 0–6 of them (within the count bounds); records share 1–3 distinct
/// values per field.
fn items(t: &Schema, b: Bounds, rng: &mut Rng) -> Vec<Value> {
    let n = rng.range(b.min_count as i64, b.max_count as i64) as usize;
    let Some(fields) = record(t) else {
        return (0..n).map(|_| value(t, rng)).collect();
    };
    let pools: Vec<Vec<Value>> = fields
        .iter()
        .map(|(_, _, ft)| {
            let want = 1 + rng.below(3);
            let mut pool: Vec<Value> = Vec::new();
            for _ in 0..want * 4 {
                if pool.len() == want {
                    break;
                }
                let v = value(ft, rng);
                if !pool.iter().any(|p| rtfs::order::equal(p, &v)) {
                    pool.push(v);
                }
            }
            pool
        })
        .collect();
    (0..n)
        .map(|_| {
            let mut last = Value::Nil;
            for _ in 0..20 {
                let mut entries = Vec::new();
                for ((k, optional, _), pool) in fields.iter().zip(&pools) {
                    if *optional && !rng.coin() {
                        continue;
                    }
                    entries.push(((*k).clone(), pool[rng.below(pool.len())].clone()));
                }
                last = Value::map(entries);
                if schema::valid(t, &last) {
                    break;
                }
            }
            last
        })
        .collect()
}
