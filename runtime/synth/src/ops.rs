//! The components of the search: the RTFS builtins it composes, each with its argument slots
//! (typed by value kinds, after `rtfs::stdlib::signature`) and a fast evaluator over
//! [`V`] whose results agree with the RTFS interpreter's (an error where RTFS raises one).
//!
//! The table's order is the search's order within a size: common operations first, so that of
//! two programs of one size that fit the examples the more ordinary one is met first.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::rc::Rc;

use crate::value::{FxMap, Kinds, V, kinds, num_cmp, to_str};

/// One operation the search can apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Op {
    // Sequences.
    Count,
    /// The arithmetic mean of numbers, a float: printed `(float (/ (reduce + 0 X) (count X)))`.
    Mean,
    First,
    Second,
    Last,
    Rest,
    Butlast,
    Reverse,
    Sort,
    SortDesc,
    Distinct,
    Frequencies,
    Flatten,
    Keys,
    Vals,
    Empty,
    Concat,
    Take,
    Drop,
    Nth,
    Get,
    Get3,
    Contains,
    Cons,
    Conj,
    Into,
    Repeat,
    Range1,
    Range2,
    Zipmap,
    Merge,
    Dissoc,
    Assoc,
    KeyGet,
    Vector1,
    Vector2,
    // Numbers.
    Add,
    Sub,
    Mul,
    Div,
    Quot,
    Mod,
    Max,
    Min,
    Inc,
    Dec,
    Abs,
    Neg,
    Float,
    // Predicates and logic.
    Even,
    Odd,
    Pos,
    NegP,
    Zero,
    Eq,
    NotEq,
    Lt,
    Le,
    Not,
    IsNil,
    IsSome,
    Identity,
    // Strings.
    Str1,
    Str2,
    Upper,
    Lower,
    Capitalize,
    Trim,
    StrReverse,
    Split,
    Join1,
    Join2,
    Includes,
    StartsWith,
    EndsWith,
    Subs2,
    Subs3,
    Name,
    Keyword,
    ParseInt,
    // Higher-order.
    Map,
    Map2,
    Filter,
    Remove,
    Keep,
    Mapcat,
    Some,
    Every,
    NotAny,
    GroupBy,
    SortBy,
    SortByDesc,
    UpdateVals,
    UpdateKeys,
    TakeWhile,
    DropWhile,
    Apply,
    Reduce2,
    Reduce3,
    Update,
}

/// What the items of a collection handed to a function are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Proj {
    /// The collection's items (a map's `[k v]` entries).
    Items,
    /// A map's values (`update-vals`).
    Vals,
    /// A map's keys (`update-keys`).
    Keys,
}

/// One argument position of an operation.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Slot {
    /// Any expression of these kinds.
    Val(Kinds),
    /// A literal (a constant term) of these kinds.
    Lit(Kinds),
    /// A one-argument function: a builtin, a keyword, or a lambda over the items of the
    /// operation's `Coll` slot (when it has one).
    F1,
    /// A builtin of two (or any number of) arguments, from the operation's list.
    F2,
    /// The collection whose items the `F1` slot is applied to.
    Coll(Kinds, Proj),
}

/// Whether a lambda in the `F1` slot may ignore its argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Lambdas {
    /// No lambdas (builtins and keywords only).
    None,
    /// Any body, constant ones included (`(map (fn [x] (first xs)) xs)`).
    Any,
    /// Only bodies that use the argument.
    Own,
}

/// An operation with its slots.
#[derive(Debug)]
pub(crate) struct Component {
    pub op: Op,
    /// The RTFS name printed at the head of the application.
    pub head: &'static str,
    pub slots: &'static [Slot],
    /// Two `Val` arguments that may be swapped without changing the value.
    pub commutative: bool,
    /// Both `Val` arguments must have the same kind (`=` on an int and a string is false).
    pub same_kind: bool,
    pub lambdas: Lambdas,
    /// The kinds a function in the `F1` slot may return (a predicate's: booleans or nil).
    pub returns: Kinds,
    /// Lambda nesting at which the component is first used (building a pair is a step inside
    /// a lambda, `(fn [x] [x x])`, more than a result).
    pub min_depth: u8,
    /// What the application itself costs in the search's size order (its arguments add
    /// theirs): 1, more for a component that stands for a larger RTFS expression.
    pub cost: u8,
}

use Slot::{Coll, F1, F2, Lit, Val};
use kinds::*;

const fn c(op: Op, head: &'static str, slots: &'static [Slot]) -> Component {
    Component {
        op,
        head,
        slots,
        commutative: false,
        same_kind: false,
        lambdas: Lambdas::None,
        returns: ANY,
        min_depth: 0,
        cost: 1,
    }
}

const fn comm(op: Op, head: &'static str, slots: &'static [Slot]) -> Component {
    Component {
        commutative: true,
        ..c(op, head, slots)
    }
}

const fn same(op: Op, head: &'static str, slots: &'static [Slot]) -> Component {
    Component {
        commutative: true,
        same_kind: true,
        ..c(op, head, slots)
    }
}

const fn inner(op: Op, head: &'static str, slots: &'static [Slot]) -> Component {
    Component {
        min_depth: 1,
        ..c(op, head, slots)
    }
}

const fn hof(op: Op, head: &'static str, slots: &'static [Slot], lambdas: Lambdas) -> Component {
    Component {
        lambdas,
        ..c(op, head, slots)
    }
}

/// A higher-order component whose function is a predicate.
const fn pred(op: Op, head: &'static str, slots: &'static [Slot]) -> Component {
    Component {
        lambdas: Lambdas::Own,
        returns: TRUTH,
        ..c(op, head, slots)
    }
}

const fn hof_returning(
    op: Op,
    head: &'static str,
    slots: &'static [Slot],
    lambdas: Lambdas,
    returns: Kinds,
) -> Component {
    Component {
        lambdas,
        returns,
        ..c(op, head, slots)
    }
}

const ITEMS: Slot = Coll(COLL, Proj::Items);

/// Every component, in the search's order.
pub(crate) static COMPONENTS: &[Component] = &[
    // Reading a field, the most common step on records.
    c(Op::KeyGet, "", &[Lit(KW), Val(MAP)]),
    hof(Op::Map, "map", &[F1, ITEMS], Lambdas::Any),
    pred(Op::Filter, "filter", &[F1, ITEMS]),
    c(Op::Count, "count", &[Val(SEQABLE)]),
    // An aggregate of the field, one component: the mean of numbers (its RTFS is larger).
    Component {
        cost: 2,
        ..c(Op::Mean, "mean", &[Val(SEQ)])
    },
    c(Op::First, "first", &[Val(SEQABLE)]),
    c(Op::Last, "last", &[Val(SEQABLE)]),
    c(Op::Rest, "rest", &[Val(SEQABLE)]),
    c(Op::Butlast, "butlast", &[Val(SEQABLE)]),
    c(Op::Reverse, "reverse", &[Val(SEQABLE)]),
    c(Op::Sort, "sort", &[Val(SEQ)]),
    c(Op::Distinct, "distinct", &[Val(SEQ)]),
    c(Op::Frequencies, "frequencies", &[Val(SEQ)]),
    c(Op::Keys, "keys", &[Val(MAP)]),
    c(Op::Vals, "vals", &[Val(MAP)]),
    c(Op::Flatten, "flatten", &[Val(SEQ)]),
    c(Op::Inc, "inc", &[Val(NUM)]),
    c(Op::Dec, "dec", &[Val(NUM)]),
    comm(Op::Add, "+", &[Val(NUM), Val(NUM)]),
    c(Op::Sub, "-", &[Val(NUM), Val(NUM)]),
    comm(Op::Mul, "*", &[Val(NUM), Val(NUM)]),
    comm(Op::Max, "max", &[Val(NUM), Val(NUM)]),
    comm(Op::Min, "min", &[Val(NUM), Val(NUM)]),
    same(Op::Eq, "=", &[Val(ANY), Val(ANY)]),
    c(Op::Lt, "<", &[Val(NUM), Val(NUM)]),
    c(Op::Le, "<=", &[Val(NUM), Val(NUM)]),
    hof(Op::Apply, "apply", &[F2, Val(SEQ)], Lambdas::None),
    hof(
        Op::Reduce3,
        "reduce",
        &[F2, Lit(NUM), Val(SEQ)],
        Lambdas::None,
    ),
    pred(Op::Remove, "remove", &[F1, ITEMS]),
    hof(Op::SortBy, "sort-by", &[F1, ITEMS], Lambdas::Own),
    hof_returning(Op::SortByDesc, "sort-by", &[F1, ITEMS], Lambdas::Own, NUM),
    c(Op::SortDesc, "sort", &[Val(SEQ)]),
    hof(Op::GroupBy, "group-by", &[F1, ITEMS], Lambdas::Own),
    hof(
        Op::UpdateVals,
        "update-vals",
        &[Coll(MAP, Proj::Vals), F1],
        Lambdas::Any,
    ),
    hof_returning(
        Op::Mapcat,
        "mapcat",
        &[F1, ITEMS],
        Lambdas::Own,
        SEQ | MAP | NIL | MIXED,
    ),
    pred(Op::Some, "some", &[F1, ITEMS]),
    pred(Op::Every, "every?", &[F1, ITEMS]),
    pred(Op::NotAny, "not-any?", &[F1, ITEMS]),
    hof_returning(Op::Keep, "keep", &[F1, ITEMS], Lambdas::Own, NIL | MIXED),
    c(Op::Take, "take", &[Val(INT), Val(SEQABLE)]),
    c(Op::Drop, "drop", &[Val(INT), Val(SEQABLE)]),
    c(Op::Concat, "concat", &[Val(SEQ), Val(SEQ)]),
    c(Op::Cons, "cons", &[Val(ANY), Val(SEQ)]),
    c(Op::Conj, "conj", &[Val(SEQ), Val(ANY)]),
    c(Op::Nth, "nth", &[Val(SEQ | STR), Val(INT)]),
    c(Op::Get, "get", &[Val(MAP | SEQ), Val(ANY)]),
    c(Op::Get3, "get", &[Val(MAP), Val(ANY), Lit(ANY)]),
    c(Op::Contains, "contains?", &[Val(MAP), Val(ANY)]),
    c(Op::Zipmap, "zipmap", &[Val(SEQ), Val(SEQ)]),
    c(Op::Dissoc, "dissoc", &[Val(MAP), Lit(KEY)]),
    c(Op::Assoc, "assoc", &[Val(MAP), Lit(KEY), Val(ANY)]),
    hof(
        Op::Update,
        "update",
        &[Val(MAP), Lit(KEY), F1],
        Lambdas::None,
    ),
    c(Op::Merge, "merge", &[Val(MAP), Val(MAP)]),
    c(Op::Repeat, "repeat", &[Val(INT), Val(ANY)]),
    inner(Op::Vector1, "vector", &[Val(ANY)]),
    c(Op::Vector2, "vector", &[Val(ANY), Val(ANY)]),
    c(Op::Empty, "empty?", &[Val(SEQABLE)]),
    c(Op::Second, "second", &[Val(SEQABLE)]),
    c(Op::Even, "even?", &[Val(INT)]),
    c(Op::Odd, "odd?", &[Val(INT)]),
    c(Op::Pos, "pos?", &[Val(NUM)]),
    c(Op::NegP, "neg?", &[Val(NUM)]),
    c(Op::Zero, "zero?", &[Val(NUM)]),
    c(Op::Not, "not", &[Val(ANY)]),
    c(Op::IsNil, "nil?", &[Val(ANY)]),
    same(Op::NotEq, "not=", &[Val(ANY), Val(ANY)]),
    c(Op::Abs, "abs", &[Val(NUM)]),
    c(Op::Neg, "-", &[Val(NUM)]),
    c(Op::Div, "/", &[Val(NUM), Val(NUM)]),
    c(Op::Quot, "quot", &[Val(NUM), Val(NUM)]),
    c(Op::Mod, "mod", &[Val(NUM), Val(NUM)]),
    c(Op::Float, "float", &[Val(NUM)]),
    c(Op::Str1, "str", &[Val(ANY)]),
    c(Op::Str2, "str", &[Val(STR), Val(STR)]),
    c(Op::Split, "str/split", &[Val(STR), Lit(STR)]),
    c(Op::Join2, "str/join", &[Lit(STR), Val(SEQ)]),
    c(Op::Join1, "str/join", &[Val(SEQ)]),
    c(Op::Upper, "str/upper-case", &[Val(STR)]),
    c(Op::Lower, "str/lower-case", &[Val(STR)]),
    c(Op::Capitalize, "str/capitalize", &[Val(STR)]),
    c(Op::Trim, "str/trim", &[Val(STR)]),
    c(Op::StrReverse, "str/reverse", &[Val(STR)]),
    c(Op::Includes, "str/includes?", &[Val(STR), Val(STR)]),
    c(Op::StartsWith, "str/starts-with?", &[Val(STR), Val(STR)]),
    c(Op::EndsWith, "str/ends-with?", &[Val(STR), Val(STR)]),
    c(Op::Subs2, "subs", &[Val(STR), Val(INT)]),
    c(Op::Subs3, "subs", &[Val(STR), Val(INT), Val(INT)]),
    c(Op::Name, "name", &[Val(NAMED)]),
    c(Op::Keyword, "keyword", &[Val(STR)]),
    c(Op::ParseInt, "parse-int", &[Val(STR)]),
    c(Op::Range1, "range", &[Val(INT)]),
    c(Op::Range2, "range", &[Val(INT), Val(INT)]),
    c(Op::Into, "into", &[Val(MAP | SEQ), Val(SEQ)]),
    hof(Op::Map2, "map", &[F2, Val(SEQ), Val(SEQ)], Lambdas::None),
    hof(Op::Reduce2, "reduce", &[F2, Val(SEQ)], Lambdas::None),
    hof(
        Op::UpdateKeys,
        "update-keys",
        &[Coll(MAP, Proj::Keys), F1],
        Lambdas::Own,
    ),
    pred(Op::TakeWhile, "take-while", &[F1, ITEMS]),
    pred(Op::DropWhile, "drop-while", &[F1, ITEMS]),
];

/// The builtins passed by name where a one-argument function is expected.
pub(crate) static F1_BUILTINS: &[Op] = &[
    Op::Inc,
    Op::Dec,
    Op::Count,
    Op::First,
    Op::Last,
    Op::Even,
    Op::Odd,
    Op::Pos,
    Op::NegP,
    Op::Zero,
    Op::Abs,
    Op::Neg,
    Op::Not,
    Op::IsNil,
    Op::IsSome,
    Op::Identity,
    Op::Str1,
    Op::Upper,
    Op::Lower,
    Op::Capitalize,
    Op::Trim,
    Op::Name,
    Op::Keyword,
    Op::Reverse,
    Op::Sort,
    Op::Distinct,
    Op::Rest,
    Op::Empty,
    Op::Vals,
    Op::Keys,
];

/// Whether a builtin returns a boolean (a predicate).
pub(crate) fn is_predicate(op: Op) -> bool {
    matches!(
        op,
        Op::Even
            | Op::Odd
            | Op::Pos
            | Op::NegP
            | Op::Zero
            | Op::Not
            | Op::IsNil
            | Op::IsSome
            | Op::Empty
    )
}

/// The builtins a two-argument slot of `op` may take.
pub(crate) fn f2_builtins(op: Op) -> &'static [Op] {
    match op {
        Op::Apply => &[
            Op::Add,
            Op::Max,
            Op::Min,
            Op::Concat,
            Op::Str2,
            Op::Mul,
            Op::Merge,
        ],
        Op::Reduce2 => &[Op::Add, Op::Max, Op::Min, Op::Concat, Op::Str2, Op::Merge],
        Op::Reduce3 => &[Op::Add, Op::Max, Op::Min, Op::Mul, Op::Sub],
        Op::Map2 => &[
            Op::Add,
            Op::Sub,
            Op::Mul,
            Op::Max,
            Op::Min,
            Op::Vector2,
            Op::Eq,
            Op::Str2,
        ],
        _ => &[],
    }
}

/// The printed head of a builtin passed as a function value.
pub(crate) fn fn_name(op: Op) -> &'static str {
    match op {
        Op::Str1 | Op::Str2 => "str",
        Op::Vector1 | Op::Vector2 => "vector",
        Op::Identity => "identity",
        Op::IsSome => "some?",
        other => COMPONENTS
            .iter()
            .find(|c| c.op == other)
            .map_or("?", |c| c.head),
    }
}

/// Every RTFS name the search may print, with the argument counts it uses it with (for the
/// consistency check against `rtfs::stdlib::signature`).
pub(crate) fn uses() -> Vec<(&'static str, usize)> {
    let mut out: Vec<(&'static str, usize)> = COMPONENTS
        .iter()
        .filter(|c| !matches!(c.op, Op::KeyGet | Op::Mean))
        .map(|c| {
            let n = c.slots.len() + usize::from(matches!(c.op, Op::SortDesc | Op::SortByDesc));
            (c.head, n)
        })
        .collect();
    for op in F1_BUILTINS {
        out.push((fn_name(*op), 1));
    }
    for op in [Op::Apply, Op::Reduce2, Op::Reduce3, Op::Map2] {
        for f in f2_builtins(op) {
            out.push((fn_name(*f), 2));
        }
    }
    out.push((">", 2));
    out
}

/// Evaluation state: the steps left for the current run.
pub(crate) struct Cx {
    pub fuel: i64,
    /// An operation silently truncated or clamped (`take` past the end, `zipmap` of unequal
    /// lengths): the result leans on a boundary case.
    pub clamped: bool,
}

impl Cx {
    /// Charges `n` steps; false when the run is out of steps.
    #[inline]
    fn charge(&mut self, n: usize) -> bool {
        self.fuel -= n as i64;
        self.fuel >= 0
    }
}

/// A function argument.
pub(crate) enum Fun<'a> {
    /// A builtin by name.
    B(Op),
    /// A keyword as a function.
    K(&'a V),
    /// A lambda of the search.
    L(crate::bank::Lambda<'a>),
    /// A map as a function: the value at its argument.
    M(&'a V),
}

impl Fun<'_> {
    /// Calls a one-argument function.
    pub(crate) fn call1(&self, cx: &mut Cx, x: &V) -> V {
        match self {
            Fun::B(op) => eval(*op, cx, &[A::V(x)]),
            Fun::K(k) => key_get(k, x),
            Fun::M(m) => key_get(x, m),
            Fun::L(l) => l.call(cx, x),
        }
    }

    fn call2(&self, cx: &mut Cx, a: &V, b: &V) -> V {
        match self {
            Fun::B(op) => eval(*op, cx, &[A::V(a), A::V(b)]),
            _ => V::Err,
        }
    }

    /// Calls a builtin with any number of arguments (`apply`, `(reduce f [])`).
    fn call_n(&self, cx: &mut Cx, args: &[V]) -> V {
        let Fun::B(op) = self else { return V::Err };
        if !cx.charge(args.len()) {
            return V::Err;
        }
        match op {
            Op::Add | Op::Mul | Op::Sub => {
                let Some(first) = args.first() else {
                    return V::Err;
                };
                if !is_num(first) {
                    return V::Err;
                }
                if args.len() == 1 {
                    return if *op == Op::Sub {
                        neg(first)
                    } else {
                        first.clone()
                    };
                }
                let mut acc = first.clone();
                for a in &args[1..] {
                    acc = arith(*op, &acc, a);
                    if acc.is_err() {
                        return V::Err;
                    }
                }
                acc
            }
            Op::Max | Op::Min => {
                let Some(first) = args.first() else {
                    return V::Err;
                };
                let want = if *op == Op::Max {
                    Ordering::Greater
                } else {
                    Ordering::Less
                };
                extreme(first, &args[1..], want)
            }
            Op::Concat => {
                let mut out = Vec::new();
                for a in args {
                    let Some(it) = items(a) else { return V::Err };
                    out.extend(it.iter().cloned());
                }
                if !cx.charge(out.len()) {
                    return V::Err;
                }
                V::seq(out)
            }
            Op::Str1 | Op::Str2 => {
                let mut s = String::new();
                for a in args {
                    to_str(a, &mut s);
                }
                text(cx, s)
            }
            Op::Merge => {
                let mut acc: Option<Vec<(V, V)>> = None;
                for a in args {
                    match a {
                        V::Nil => {}
                        V::Map(m) => match &mut acc {
                            None => acc = Some(m.to_vec()),
                            Some(base) => base.extend(m.iter().cloned()),
                        },
                        _ => return V::Err,
                    }
                }
                acc.map_or(V::Nil, V::map_from)
            }
            Op::Vector1 | Op::Vector2 => V::seq(args.to_vec()),
            _ => match args {
                [a] => eval(*op, cx, &[A::V(a)]),
                [a, b] => eval(*op, cx, &[A::V(a), A::V(b)]),
                _ => V::Err,
            },
        }
    }
}

/// An argument of an evaluation.
pub(crate) enum A<'a> {
    V(&'a V),
    F(&'a Fun<'a>),
}

fn is_num(v: &V) -> bool {
    matches!(v, V::Int(_) | V::Float(_))
}

fn f64_of(v: &V) -> f64 {
    match v {
        V::Int(i) => *i as f64,
        V::Float(f) => *f,
        _ => f64::NAN,
    }
}

fn arith(op: Op, a: &V, b: &V) -> V {
    match (a, b) {
        (V::Int(x), V::Int(y)) => {
            let r = match op {
                Op::Add => x.checked_add(*y),
                Op::Sub => x.checked_sub(*y),
                Op::Mul => x.checked_mul(*y),
                _ => None,
            };
            r.map_or(V::Err, V::Int)
        }
        _ if is_num(a) && is_num(b) => {
            let (x, y) = (f64_of(a), f64_of(b));
            V::Float(match op {
                Op::Add => x + y,
                Op::Sub => x - y,
                Op::Mul => x * y,
                _ => return V::Err,
            })
        }
        _ => V::Err,
    }
}

fn neg(a: &V) -> V {
    match a {
        V::Int(i) => i.checked_neg().map_or(V::Err, V::Int),
        V::Float(f) => V::Float(-f),
        _ => V::Err,
    }
}

fn extreme(first: &V, rest: &[V], want: Ordering) -> V {
    if !is_num(first) {
        return V::Err;
    }
    let mut best = first;
    for a in rest {
        if !is_num(a) {
            return V::Err;
        }
        let c = num_cmp(a, best);
        let nan = c.is_none() && matches!(a, V::Float(f) if f.is_nan());
        if c == Some(want) || c == Some(Ordering::Equal) || nan {
            best = a;
        }
    }
    best.clone()
}

fn is_zero(v: &V) -> bool {
    match v {
        V::Int(i) => *i == 0,
        V::Float(f) => *f == 0.0,
        _ => false,
    }
}

fn whole_to_int(f: f64) -> V {
    if f.is_finite()
        && f.fract() == 0.0
        && (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&f)
    {
        V::Int(f as i64)
    } else {
        V::Float(f)
    }
}

/// `(float (/ (reduce + 0 xs) (count xs)))`: an error when `xs` is empty or holds a
/// non-number (as in RTFS), else a float.
fn mean(v: &V) -> V {
    let V::Seq(xs) = v else {
        return V::Err;
    };
    if xs.is_empty() || !xs.iter().all(is_num) {
        return V::Err;
    }
    let mut total = V::Int(0);
    for x in xs.iter() {
        total = arith(Op::Add, &total, x);
        if matches!(total, V::Err) {
            return V::Err;
        }
    }
    match div(&total, &V::Int(xs.len() as i64)) {
        V::Int(i) => V::Float(i as f64),
        other => other,
    }
}

fn div(a: &V, b: &V) -> V {
    if !is_num(a) || !is_num(b) || is_zero(b) {
        return V::Err;
    }
    match (a, b) {
        (V::Int(x), V::Int(y)) => match x.checked_rem(*y) {
            Some(0) => x.checked_div(*y).map_or(V::Err, V::Int),
            None => V::Err,
            Some(_) => whole_to_int(*x as f64 / *y as f64),
        },
        _ => whole_to_int(f64_of(a) / f64_of(b)),
    }
}

/// The items of a seqable (§5.0): a map's entries as `[k v]`, a string's characters.
pub(crate) fn items(v: &V) -> Option<Cow<'_, [V]>> {
    Some(match v {
        V::Seq(xs) => Cow::Borrowed(&xs[..]),
        V::Nil => Cow::Borrowed(&[]),
        V::Map(m) => Cow::Owned(
            m.iter()
                .map(|(k, x)| V::seq(vec![k.clone(), x.clone()]))
                .collect(),
        ),
        V::Str(s) => Cow::Owned(
            s.chars()
                .map(|c| V::str(c.encode_utf8(&mut [0; 4])))
                .collect(),
        ),
        _ => return None,
    })
}

/// The number of items (`count`): collections, strings, nil.
fn count_of(v: &V) -> Option<usize> {
    Some(match v {
        V::Seq(xs) => xs.len(),
        V::Map(m) => m.len(),
        V::Str(s) => s.chars().count(),
        V::Nil => 0,
        _ => return None,
    })
}

/// `(:k x)`: a map's value at the key, nil for anything else.
pub(crate) fn key_get(k: &V, x: &V) -> V {
    match x {
        V::Map(m) => V::map_get(m, k).map_or(V::Nil, |i| m[i].1.clone()),
        V::Err => V::Err,
        _ => V::Nil,
    }
}

fn map_arg(v: &V) -> Option<&[(V, V)]> {
    match v {
        V::Map(m) => Some(m),
        V::Nil => Some(&[]),
        _ => None,
    }
}

fn text(cx: &mut Cx, s: String) -> V {
    if !cx.charge(s.len() / 8) || s.len() > 4096 {
        return V::Err;
    }
    V::Str(Rc::from(s))
}

/// A vector result, charged and bounded.
fn out_seq(cx: &mut Cx, out: Vec<V>) -> V {
    if !cx.charge(out.len()) || out.len() > 2048 {
        return V::Err;
    }
    V::seq(out)
}

fn char_len(s: &str) -> usize {
    s.chars().count()
}

fn subs(s: &str, start: i64, end: Option<i64>) -> V {
    let n = char_len(s);
    let end = end.unwrap_or(n as i64);
    if start < 0 || start as usize > n || end < start || end as usize > n {
        return V::Err;
    }
    V::str(
        &s.chars()
            .skip(start as usize)
            .take((end - start) as usize)
            .collect::<String>(),
    )
}

fn assoc1(m: &V, k: &V, x: &V) -> V {
    match m {
        V::Map(entries) => {
            let mut e = entries.to_vec();
            match V::map_get(&e, k) {
                Some(i) => e[i].1 = x.clone(),
                None => {
                    let at = e.partition_point(|(ek, _)| ek < k);
                    e.insert(at, (k.clone(), x.clone()));
                }
            }
            V::Map(Rc::from(e))
        }
        V::Nil => V::Map(Rc::from(vec![(k.clone(), x.clone())])),
        V::Seq(xs) => {
            let V::Int(i) = k else { return V::Err };
            let n = xs.len();
            if *i < 0 || *i as usize > n {
                return V::Err;
            }
            let mut v = xs.to_vec();
            if *i as usize == n {
                v.push(x.clone());
            } else {
                v[*i as usize] = x.clone();
            }
            V::seq(v)
        }
        _ => V::Err,
    }
}

fn conj1(coll: &V, x: &V) -> V {
    match coll {
        V::Seq(xs) => {
            let mut v = xs.to_vec();
            v.push(x.clone());
            V::seq(v)
        }
        V::Nil => V::seq(vec![x.clone()]),
        V::Map(m) => match x {
            V::Map(other) => {
                let mut e = m.to_vec();
                e.extend(other.iter().cloned());
                V::map_from(e)
            }
            V::Seq(pair) if pair.len() == 2 => assoc1(coll, &pair[0], &pair[1]),
            V::Nil => coll.clone(),
            _ => V::Err,
        },
        _ => V::Err,
    }
}

/// A stable sort of items by keys in the canonical order.
fn sort_by_keys(items: &[V], keys: Vec<V>) -> Vec<V> {
    let mut idx: Vec<usize> = (0..items.len()).collect();
    idx.sort_by(|&a, &b| keys[a].cmp(&keys[b]));
    idx.into_iter().map(|i| items[i].clone()).collect()
}

/// A stable sort from the largest number down (`(sort > …)`); None when a key is not a number.
fn sort_desc(items: &[V], keys: &[V]) -> Option<Vec<V>> {
    if keys
        .iter()
        .any(|k| !is_num(k) || matches!(k, V::Float(f) if f.is_nan()))
    {
        return None;
    }
    let mut idx: Vec<usize> = (0..items.len()).collect();
    idx.sort_by(|&a, &b| num_cmp(&keys[b], &keys[a]).unwrap_or(Ordering::Equal));
    Some(idx.into_iter().map(|i| items[i].clone()).collect())
}

fn flatten_into(xs: &[V], out: &mut Vec<V>) {
    for x in xs {
        match x {
            V::Seq(inner) => flatten_into(inner, out),
            other => out.push(other.clone()),
        }
    }
}

fn bool_v(b: bool) -> V {
    V::Bool(b)
}

/// Evaluates one operation on its arguments; `V::Err` where RTFS raises an error.
pub(crate) fn eval(op: Op, cx: &mut Cx, args: &[A<'_>]) -> V {
    if !cx.charge(1) {
        return V::Err;
    }
    let err = V::Err;
    let v = |i: usize| -> &V {
        match &args[i] {
            A::V(v) => v,
            A::F(_) => &err,
        }
    };
    for a in args {
        if let A::V(V::Err) = a {
            return V::Err;
        }
    }
    let f = |i: usize| -> Option<&Fun<'_>> {
        match &args[i] {
            A::F(f) => Some(*f),
            A::V(_) => None,
        }
    };
    match op {
        Op::Count => count_of(v(0)).map_or(V::Err, |n| V::Int(n as i64)),
        Op::Mean => mean(v(0)),
        Op::Empty => count_of(v(0)).map_or(V::Err, |n| bool_v(n == 0)),
        Op::First => match v(0) {
            V::Seq(xs) => xs.first().cloned().unwrap_or(V::Nil),
            V::Str(s) => s
                .chars()
                .next()
                .map_or(V::Nil, |c| V::str(c.encode_utf8(&mut [0; 4]))),
            V::Map(m) => m
                .first()
                .map_or(V::Nil, |(k, x)| V::seq(vec![k.clone(), x.clone()])),
            V::Nil => V::Nil,
            _ => V::Err,
        },
        Op::Second | Op::Last => match items(v(0)) {
            Some(it) => {
                let x = if op == Op::Second {
                    it.get(1)
                } else {
                    it.last()
                };
                x.cloned().unwrap_or(V::Nil)
            }
            None => V::Err,
        },
        Op::Rest | Op::Butlast | Op::Reverse => match items(v(0)) {
            Some(it) => {
                let out: Vec<V> = match op {
                    Op::Rest => it.iter().skip(1).cloned().collect(),
                    Op::Butlast => it[..it.len().saturating_sub(1)].to_vec(),
                    _ => it.iter().rev().cloned().collect(),
                };
                out_seq(cx, out)
            }
            None => V::Err,
        },
        Op::Sort => match items(v(0)) {
            Some(it) => {
                let mut out = it.into_owned();
                out.sort();
                out_seq(cx, out)
            }
            None => V::Err,
        },
        Op::SortDesc => match items(v(0)) {
            Some(it) => sort_desc(&it, &it).map_or(V::Err, |o| out_seq(cx, o)),
            None => V::Err,
        },
        Op::Distinct => match items(v(0)) {
            Some(it) => {
                let mut seen: FxMap<&V, ()> = FxMap::default();
                let mut out = Vec::new();
                for x in it.iter() {
                    if seen.insert(x, ()).is_none() {
                        out.push(x.clone());
                    }
                }
                out_seq(cx, out)
            }
            None => V::Err,
        },
        Op::Frequencies => match items(v(0)) {
            Some(it) => {
                let mut counts: FxMap<&V, i64> = FxMap::default();
                for x in it.iter() {
                    *counts.entry(x).or_insert(0) += 1;
                }
                if !cx.charge(it.len()) {
                    return V::Err;
                }
                V::map_from(
                    counts
                        .into_iter()
                        .map(|(k, n)| (k.clone(), V::Int(n)))
                        .collect(),
                )
            }
            None => V::Err,
        },
        Op::Flatten => match v(0) {
            V::Seq(xs) => {
                let mut out = Vec::new();
                flatten_into(xs, &mut out);
                out_seq(cx, out)
            }
            _ => V::seq(vec![]),
        },
        Op::Keys | Op::Vals => match map_arg(v(0)) {
            Some(m) => {
                let out = m
                    .iter()
                    .map(|(k, x)| if op == Op::Keys { k.clone() } else { x.clone() })
                    .collect();
                out_seq(cx, out)
            }
            None => V::Err,
        },
        Op::Concat => match (items(v(0)), items(v(1))) {
            (Some(a), Some(b)) => {
                let mut out = a.into_owned();
                out.extend(b.iter().cloned());
                out_seq(cx, out)
            }
            _ => V::Err,
        },
        Op::Take | Op::Drop => {
            let V::Int(n) = v(0) else { return V::Err };
            let Some(it) = items(v(1)) else { return V::Err };
            if *n > it.len() as i64 {
                cx.clamped = true;
            }
            let n = (*n).max(0) as usize;
            let n = n.min(it.len());
            let out = if op == Op::Take {
                it[..n].to_vec()
            } else {
                it[n..].to_vec()
            };
            out_seq(cx, out)
        }
        Op::Nth => {
            let V::Int(i) = v(1) else { return V::Err };
            match v(0) {
                V::Seq(xs) => usize::try_from(*i)
                    .ok()
                    .and_then(|i| xs.get(i).cloned())
                    .unwrap_or(V::Err),
                V::Str(s) => usize::try_from(*i)
                    .ok()
                    .and_then(|i| s.chars().nth(i))
                    .map_or(V::Err, |c| V::str(c.encode_utf8(&mut [0; 4]))),
                V::Nil => V::Nil,
                _ => V::Err,
            }
        }
        Op::Get | Op::Get3 => {
            let default = if op == Op::Get3 { v(2).clone() } else { V::Nil };
            match v(0) {
                V::Map(m) => V::map_get(m, v(1)).map_or(default, |i| m[i].1.clone()),
                V::Seq(xs) => match v(1) {
                    V::Int(i) => usize::try_from(*i)
                        .ok()
                        .and_then(|i| xs.get(i).cloned())
                        .unwrap_or(default),
                    _ => V::Err,
                },
                V::Nil => default,
                _ => V::Err,
            }
        }
        Op::Contains => match v(0) {
            V::Map(m) => bool_v(V::map_get(m, v(1)).is_some()),
            V::Seq(xs) => bool_v(matches!(v(1), V::Int(i) if *i >= 0 && (*i as usize) < xs.len())),
            V::Str(s) => {
                bool_v(matches!(v(1), V::Int(i) if *i >= 0 && (*i as usize) < char_len(s)))
            }
            V::Nil => bool_v(false),
            _ => V::Err,
        },
        Op::Cons => match items(v(1)) {
            Some(it) => {
                let mut out = Vec::with_capacity(it.len() + 1);
                out.push(v(0).clone());
                out.extend(it.iter().cloned());
                out_seq(cx, out)
            }
            None => V::Err,
        },
        Op::Conj => conj1(v(0), v(1)),
        Op::Into => {
            let Some(from) = items(v(1)) else {
                return V::Err;
            };
            if !cx.charge(from.len()) {
                return V::Err;
            }
            let mut acc = match v(0) {
                V::Nil => V::seq(vec![]),
                other @ (V::Seq(_) | V::Map(_)) => other.clone(),
                _ => return V::Err,
            };
            for x in from.iter() {
                acc = conj1(&acc, x);
                if acc.is_err() {
                    return V::Err;
                }
            }
            acc
        }
        Op::Repeat => {
            let V::Int(n) = v(0) else { return V::Err };
            let n = (*n).max(0) as usize;
            if n > 2048 || !cx.charge(n) {
                return V::Err;
            }
            V::seq(vec![v(1).clone(); n])
        }
        Op::Range1 | Op::Range2 => {
            let (start, end) = match op {
                Op::Range1 => match v(0) {
                    V::Int(e) => (0, *e),
                    _ => return V::Err,
                },
                _ => match (v(0), v(1)) {
                    (V::Int(s), V::Int(e)) => (*s, *e),
                    _ => return V::Err,
                },
            };
            if end <= start {
                if end < start {
                    cx.clamped = true;
                }
                return V::seq(vec![]);
            }
            let n = (end as i128 - start as i128) as u128;
            if n > 2048 || !cx.charge(n as usize) {
                return V::Err;
            }
            V::seq((start..end).map(V::Int).collect())
        }
        Op::Zipmap => match (items(v(0)), items(v(1))) {
            (Some(ks), Some(vs)) => {
                if ks.len() != vs.len() {
                    cx.clamped = true;
                }
                V::map_from(
                    ks.iter()
                        .zip(vs.iter())
                        .map(|(k, x)| (k.clone(), x.clone()))
                        .collect(),
                )
            }
            _ => V::Err,
        },
        Op::Merge => match (v(0), v(1)) {
            (V::Nil, V::Nil) => V::Nil,
            (a, b) => match (map_arg(a), map_arg(b)) {
                (Some(x), Some(y)) => {
                    let mut e = x.to_vec();
                    e.extend(y.iter().cloned());
                    V::map_from(e)
                }
                _ => V::Err,
            },
        },
        Op::Dissoc => match v(0) {
            V::Nil => V::Nil,
            V::Map(m) => match V::map_get(m, v(1)) {
                Some(i) => {
                    let mut e = m.to_vec();
                    e.remove(i);
                    V::Map(Rc::from(e))
                }
                None => v(0).clone(),
            },
            _ => V::Err,
        },
        Op::Assoc => assoc1(v(0), v(1), v(2)),
        Op::KeyGet => key_get(v(0), v(1)),
        Op::Vector1 => V::seq(vec![v(0).clone()]),
        Op::Vector2 => V::seq(vec![v(0).clone(), v(1).clone()]),
        Op::Add | Op::Sub | Op::Mul => arith(op, v(0), v(1)),
        Op::Div => div(v(0), v(1)),
        Op::Quot | Op::Mod => {
            let (a, b) = (v(0), v(1));
            if !is_num(a) || !is_num(b) || is_zero(b) {
                return V::Err;
            }
            match (a, b, op) {
                (V::Int(x), V::Int(y), Op::Quot) => x.checked_div(*y).map_or(V::Err, V::Int),
                (V::Int(x), V::Int(y), _) => {
                    let r = x.checked_rem(*y).unwrap_or(0);
                    V::Int(if r != 0 && ((r < 0) != (*y < 0)) {
                        r + y
                    } else {
                        r
                    })
                }
                (_, _, Op::Quot) => V::Float((f64_of(a) / f64_of(b)).trunc()),
                _ => {
                    let (x, y) = (f64_of(a), f64_of(b));
                    let r = x % y;
                    V::Float(if r != 0.0 && ((r < 0.0) != (y < 0.0)) {
                        r + y
                    } else {
                        r
                    })
                }
            }
        }
        Op::Max => extreme(v(0), std::slice::from_ref(v(1)), Ordering::Greater),
        Op::Min => extreme(v(0), std::slice::from_ref(v(1)), Ordering::Less),
        Op::Inc | Op::Dec => {
            let one = V::Int(1);
            arith(if op == Op::Inc { Op::Add } else { Op::Sub }, v(0), &one)
        }
        Op::Abs => match v(0) {
            V::Int(i) => i.checked_abs().map_or(V::Err, V::Int),
            V::Float(x) => V::Float(x.abs()),
            _ => V::Err,
        },
        Op::Neg => neg(v(0)),
        Op::Float => match v(0) {
            V::Int(i) => V::Float(*i as f64),
            V::Float(x) => V::Float(*x),
            _ => V::Err,
        },
        Op::Even | Op::Odd => match v(0) {
            V::Int(i) => bool_v((i % 2 == 0) == (op == Op::Even)),
            _ => V::Err,
        },
        Op::Pos | Op::NegP | Op::Zero => {
            let x = v(0);
            if !is_num(x) {
                return V::Err;
            }
            let x = f64_of(x);
            bool_v(match op {
                Op::Pos => x > 0.0,
                Op::NegP => x < 0.0,
                _ => x == 0.0,
            })
        }
        Op::Eq => bool_v(v(0) == v(1)),
        Op::NotEq => bool_v(v(0) != v(1)),
        Op::Lt | Op::Le => {
            let (a, b) = (v(0), v(1));
            if !is_num(a) || !is_num(b) {
                return V::Err;
            }
            bool_v(match (num_cmp(a, b), op) {
                (None, _) => false,
                (Some(o), Op::Lt) => o == Ordering::Less,
                (Some(o), _) => o != Ordering::Greater,
            })
        }
        Op::Not => bool_v(!v(0).truthy()),
        Op::IsNil => bool_v(matches!(v(0), V::Nil)),
        Op::IsSome => bool_v(!matches!(v(0), V::Nil)),
        Op::Identity => v(0).clone(),
        Op::Str1 => {
            let mut s = String::new();
            to_str(v(0), &mut s);
            text(cx, s)
        }
        Op::Str2 => {
            let mut s = String::new();
            to_str(v(0), &mut s);
            to_str(v(1), &mut s);
            text(cx, s)
        }
        Op::Upper | Op::Lower | Op::Capitalize | Op::Trim | Op::StrReverse => {
            let V::Str(s) = v(0) else { return V::Err };
            let out = match op {
                Op::Upper => s.to_uppercase(),
                Op::Lower => s.to_lowercase(),
                Op::Capitalize => {
                    let mut c = s.chars();
                    match c.next() {
                        Some(f) => {
                            f.to_uppercase().collect::<String>() + &c.as_str().to_lowercase()
                        }
                        None => String::new(),
                    }
                }
                Op::Trim => s.trim().to_string(),
                _ => s.chars().rev().collect(),
            };
            text(cx, out)
        }
        Op::Split => match (v(0), v(1)) {
            (V::Str(s), V::Str(sep)) if !sep.is_empty() => {
                out_seq(cx, s.split(&**sep).map(V::str).collect())
            }
            _ => V::Err,
        },
        Op::Join1 | Op::Join2 => {
            let (sep, coll) = if op == Op::Join1 {
                ("", v(0))
            } else {
                match v(0) {
                    V::Str(s) => (&**s, v(1)),
                    _ => return V::Err,
                }
            };
            let Some(it) = items(coll) else { return V::Err };
            let mut s = String::new();
            for (i, x) in it.iter().enumerate() {
                if i > 0 {
                    s.push_str(sep);
                }
                to_str(x, &mut s);
            }
            text(cx, s)
        }
        Op::Includes | Op::StartsWith | Op::EndsWith => match (v(0), v(1)) {
            (V::Str(a), V::Str(b)) => bool_v(match op {
                Op::Includes => a.contains(&**b),
                Op::StartsWith => a.starts_with(&**b),
                _ => a.ends_with(&**b),
            }),
            _ => V::Err,
        },
        Op::Subs2 => match (v(0), v(1)) {
            (V::Str(s), V::Int(i)) => subs(s, *i, None),
            _ => V::Err,
        },
        Op::Subs3 => match (v(0), v(1), v(2)) {
            (V::Str(s), V::Int(i), V::Int(j)) => subs(s, *i, Some(*j)),
            _ => V::Err,
        },
        Op::Name => match v(0) {
            V::Str(s) => V::Str(s.clone()),
            V::Kw(k) | V::Sym(k) => V::str(k.rsplit_once('/').map_or(&**k, |(_, n)| n)),
            _ => V::Err,
        },
        Op::Keyword => match v(0) {
            V::Str(s) if s.is_empty() => V::Err,
            V::Str(s) => V::Kw(s.clone()),
            V::Kw(k) | V::Sym(k) => V::Kw(k.clone()),
            V::Nil => V::Nil,
            _ => V::Err,
        },
        Op::ParseInt => match v(0) {
            V::Str(s) => {
                let t = s.trim();
                let digits = t.strip_prefix(['+', '-']).unwrap_or(t);
                if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return V::Nil;
                }
                t.trim_start_matches('+')
                    .parse::<i64>()
                    .map_or(V::Nil, V::Int)
            }
            V::Int(i) => V::Int(*i),
            _ => V::Err,
        },
        // Higher-order.
        Op::Map
        | Op::Filter
        | Op::Remove
        | Op::Keep
        | Op::Mapcat
        | Op::Some
        | Op::Every
        | Op::NotAny
        | Op::GroupBy
        | Op::SortBy
        | Op::SortByDesc
        | Op::TakeWhile
        | Op::DropWhile => {
            let Some(fun) = f(0) else { return V::Err };
            let Some(it) = items(v(1)) else { return V::Err };
            each(op, cx, fun, &it)
        }
        Op::UpdateVals | Op::UpdateKeys => {
            let Some(m) = map_arg(v(0)) else {
                return V::Err;
            };
            let Some(fun) = f(1) else { return V::Err };
            let mut out = Vec::with_capacity(m.len());
            for (k, x) in m {
                if op == Op::UpdateVals {
                    let r = fun.call1(cx, x);
                    if r.is_err() {
                        return V::Err;
                    }
                    out.push((k.clone(), r));
                } else {
                    let r = fun.call1(cx, k);
                    if r.is_err() {
                        return V::Err;
                    }
                    out.push((r, x.clone()));
                }
            }
            if op == Op::UpdateVals {
                V::Map(Rc::from(out))
            } else {
                V::map_from(out)
            }
        }
        Op::Apply => {
            let Some(fun) = f(0) else { return V::Err };
            match items(v(1)) {
                Some(it) => fun.call_n(cx, &it),
                None => V::Err,
            }
        }
        Op::Reduce2 | Op::Reduce3 => {
            let Some(fun) = f(0) else { return V::Err };
            let coll = if op == Op::Reduce3 { v(2) } else { v(1) };
            let Some(it) = items(coll) else { return V::Err };
            let (mut acc, rest) = if op == Op::Reduce3 {
                (v(1).clone(), &it[..])
            } else {
                match it.len() {
                    0 => return fun.call_n(cx, &[]),
                    _ => (it[0].clone(), &it[1..]),
                }
            };
            for x in rest {
                acc = fun.call2(cx, &acc, x);
                if acc.is_err() {
                    return V::Err;
                }
            }
            acc
        }
        Op::Map2 => {
            let Some(fun) = f(0) else { return V::Err };
            let (Some(a), Some(b)) = (items(v(1)), items(v(2))) else {
                return V::Err;
            };
            if a.len() != b.len() {
                cx.clamped = true;
            }
            let mut out = Vec::with_capacity(a.len().min(b.len()));
            for (x, y) in a.iter().zip(b.iter()) {
                let r = fun.call2(cx, x, y);
                if r.is_err() {
                    return V::Err;
                }
                out.push(r);
            }
            out_seq(cx, out)
        }
        Op::Update => {
            let Some(fun) = f(2) else { return V::Err };
            let Some(m) = map_arg(v(0)) else {
                return V::Err;
            };
            let old = V::map_get(m, v(1)).map_or(V::Nil, |i| m[i].1.clone());
            let r = fun.call1(cx, &old);
            if r.is_err() {
                return V::Err;
            }
            assoc1(v(0), v(1), &r)
        }
    }
}

/// The one-function-per-item operations.
fn each(op: Op, cx: &mut Cx, fun: &Fun<'_>, it: &[V]) -> V {
    if !cx.charge(it.len()) {
        return V::Err;
    }
    match op {
        Op::Map | Op::Keep => {
            let mut out = Vec::with_capacity(it.len());
            for x in it {
                let r = fun.call1(cx, x);
                if r.is_err() {
                    return V::Err;
                }
                if op == Op::Map || !matches!(r, V::Nil) {
                    out.push(r);
                }
            }
            V::seq(out)
        }
        Op::Filter | Op::Remove => {
            let mut out = Vec::new();
            for x in it {
                let r = fun.call1(cx, x);
                if r.is_err() {
                    return V::Err;
                }
                if r.truthy() == (op == Op::Filter) {
                    out.push(x.clone());
                }
            }
            V::seq(out)
        }
        Op::Mapcat => {
            let mut out = Vec::new();
            for x in it {
                let r = fun.call1(cx, x);
                let Some(parts) = items(&r) else {
                    return V::Err;
                };
                out.extend(parts.iter().cloned());
            }
            out_seq(cx, out)
        }
        Op::Some | Op::Every | Op::NotAny => {
            for x in it {
                let r = fun.call1(cx, x);
                if r.is_err() {
                    return V::Err;
                }
                match op {
                    Op::Some if r.truthy() => return r,
                    Op::Every if !r.truthy() => return bool_v(false),
                    Op::NotAny if r.truthy() => return bool_v(false),
                    _ => {}
                }
            }
            match op {
                Op::Some => V::Nil,
                _ => bool_v(true),
            }
        }
        Op::TakeWhile | Op::DropWhile => {
            let mut n = it.len();
            for (i, x) in it.iter().enumerate() {
                let r = fun.call1(cx, x);
                if r.is_err() {
                    return V::Err;
                }
                if !r.truthy() {
                    n = i;
                    break;
                }
            }
            V::seq(if op == Op::TakeWhile {
                it[..n].to_vec()
            } else {
                it[n..].to_vec()
            })
        }
        Op::GroupBy => {
            let mut index: FxMap<V, usize> = FxMap::default();
            let mut groups: Vec<(V, Vec<V>)> = Vec::new();
            for x in it {
                let k = fun.call1(cx, x);
                if k.is_err() {
                    return V::Err;
                }
                match index.get(&k) {
                    Some(&g) => groups[g].1.push(x.clone()),
                    None => {
                        index.insert(k.clone(), groups.len());
                        groups.push((k, vec![x.clone()]));
                    }
                }
            }
            V::map_from(groups.into_iter().map(|(k, g)| (k, V::seq(g))).collect())
        }
        Op::SortBy | Op::SortByDesc => {
            let mut keys = Vec::with_capacity(it.len());
            for x in it {
                let k = fun.call1(cx, x);
                if k.is_err() {
                    return V::Err;
                }
                keys.push(k);
            }
            if op == Op::SortBy {
                V::seq(sort_by_keys(it, keys))
            } else {
                sort_desc(it, &keys).map_or(V::Err, V::seq)
            }
        }
        _ => V::Err,
    }
}
