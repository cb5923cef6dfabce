//! Numbers, comparison, predicates and conversion (§5.1–5.3).

use std::cmp::Ordering;

use super::{MANY, plain};
use crate::error::{Error, Kind, Result};
use crate::order::{compare_in, equal_in, num_cmp};
use crate::value::Value;
use crate::vm::{Builtin, Ctx, Function};

#[derive(Clone, Copy)]
enum Num {
    I(i64),
    F(f64),
}

impl Num {
    fn f(self) -> f64 {
        match self {
            Num::I(i) => i as f64,
            Num::F(f) => f,
        }
    }
    fn value(self) -> Value {
        match self {
            Num::I(i) => Value::Int(i),
            Num::F(f) => Value::Float(f),
        }
    }
}

fn num(fname: &str, v: &Value) -> Result<Num> {
    match v {
        Value::Int(i) => Ok(Num::I(*i)),
        Value::Float(f) => Ok(Num::F(*f)),
        other => Err(Error::type_error(fname, "a number", other)),
    }
}

fn overflow(fname: &str) -> Error {
    Error::with_fn(
        Kind::Arithmetic,
        fname,
        format!("{fname}: integer overflow"),
    )
}

fn div_zero(fname: &str) -> Error {
    Error::with_fn(Kind::DivisionByZero, fname, "Division by zero")
}

fn arith(
    fname: &str,
    a: Num,
    b: Num,
    int: fn(i64, i64) -> Option<i64>,
    float: fn(f64, f64) -> f64,
) -> Result<Num> {
    match (a, b) {
        (Num::I(x), Num::I(y)) => int(x, y).map(Num::I).ok_or_else(|| overflow(fname)),
        _ => Ok(Num::F(float(a.f(), b.f()))),
    }
}

fn fold(
    ctx: &mut Ctx<'_>,
    fname: &str,
    args: &[Value],
    int: fn(i64, i64) -> Option<i64>,
    float: fn(f64, f64) -> f64,
) -> Result<Value> {
    ctx.charge(args.len() as u64)?;
    let mut acc = num(fname, &args[0])?;
    for a in &args[1..] {
        acc = arith(fname, acc, num(fname, a)?, int, float)?;
    }
    Ok(acc.value())
}

fn add(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    fold(ctx, "+", args, i64::checked_add, |a, b| a + b)
}

fn mul(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    fold(ctx, "*", args, i64::checked_mul, |a, b| a * b)
}

fn sub(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    if args.len() == 1 {
        return match num("-", &args[0])? {
            Num::I(i) => i.checked_neg().map(Value::Int).ok_or_else(|| overflow("-")),
            Num::F(f) => Ok(Value::Float(-f)),
        };
    }
    fold(ctx, "-", args, i64::checked_sub, |a, b| a - b)
}

fn is_zero(n: Num) -> bool {
    match n {
        Num::I(i) => i == 0,
        Num::F(f) => f == 0.0,
    }
}

fn whole_to_int(f: f64) -> Value {
    if f.is_finite()
        && f.fract() == 0.0
        && (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&f)
    {
        Value::Int(f as i64)
    } else {
        Value::Float(f)
    }
}

fn div(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    ctx.charge(args.len() as u64)?;
    let (mut acc, rest) = if args.len() == 1 {
        (Num::I(1), args)
    } else {
        (num("/", &args[0])?, &args[1..])
    };
    for a in rest {
        let d = num("/", a)?;
        if is_zero(d) {
            return Err(div_zero("/"));
        }
        acc = match (acc, d) {
            (Num::I(x), Num::I(y)) => match x.checked_rem(y) {
                Some(0) => Num::I(x.checked_div(y).ok_or_else(|| overflow("/"))?),
                // i64::MIN / -1: exact, but outside i64.
                None => return Err(overflow("/")),
                Some(_) => Num::F(x as f64 / y as f64),
            },
            _ => Num::F(acc.f() / d.f()),
        };
    }
    Ok(match acc {
        Num::I(i) => Value::Int(i),
        Num::F(f) => whole_to_int(f),
    })
}

fn inc(_: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    Ok(arith(
        "inc",
        num("inc", &args[0])?,
        Num::I(1),
        i64::checked_add,
        |a, b| a + b,
    )?
    .value())
}

fn dec(_: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    Ok(arith(
        "dec",
        num("dec", &args[0])?,
        Num::I(1),
        i64::checked_sub,
        |a, b| a - b,
    )?
    .value())
}

fn extreme(fname: &str, args: &[Value], want: Ordering) -> Result<Value> {
    let mut best = &args[0];
    num(fname, best)?;
    for a in &args[1..] {
        num(fname, a)?;
        let c = num_cmp(a, best);
        let nan = c.is_none() && matches!(a, Value::Float(f) if f.is_nan());
        if c == Some(want) || c == Some(Ordering::Equal) || nan {
            best = a;
        }
    }
    Ok(best.clone())
}

fn max(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    ctx.charge(args.len() as u64)?;
    extreme("max", args, Ordering::Greater)
}

fn min(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    ctx.charge(args.len() as u64)?;
    extreme("min", args, Ordering::Less)
}

fn abs(_: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    match num("abs", &args[0])? {
        Num::I(i) => i
            .checked_abs()
            .map(Value::Int)
            .ok_or_else(|| overflow("abs")),
        Num::F(f) => Ok(Value::Float(f.abs())),
    }
}

fn int_div(fname: &str, args: &[Value]) -> Result<(Num, Num)> {
    let a = num(fname, &args[0])?;
    let b = num(fname, &args[1])?;
    if is_zero(b) {
        return Err(div_zero(fname));
    }
    Ok((a, b))
}

fn quot(_: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    match int_div("quot", args)? {
        (Num::I(a), Num::I(b)) => a
            .checked_div(b)
            .map(Value::Int)
            .ok_or_else(|| overflow("quot")),
        (a, b) => Ok(Value::Float((a.f() / b.f()).trunc())),
    }
}

fn rem(_: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    match int_div("rem", args)? {
        (Num::I(a), Num::I(b)) => Ok(Value::Int(a.checked_rem(b).unwrap_or(0))),
        (a, b) => Ok(Value::Float(a.f() % b.f())),
    }
}

fn modulo(_: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    match int_div("mod", args)? {
        (Num::I(a), Num::I(b)) => {
            let r = a.checked_rem(b).unwrap_or(0);
            Ok(Value::Int(if r != 0 && ((r < 0) != (b < 0)) {
                r + b
            } else {
                r
            }))
        }
        (a, b) => {
            let (a, b) = (a.f(), b.f());
            let r = a % b;
            Ok(Value::Float(if r != 0.0 && ((r < 0.0) != (b < 0.0)) {
                r + b
            } else {
                r
            }))
        }
    }
}

fn sqrt(_: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    let x = num("sqrt", &args[0])?.f();
    if x < 0.0 {
        return Err(Error::with_fn(
            Kind::Arithmetic,
            "sqrt",
            "sqrt of a negative number",
        ));
    }
    Ok(Value::Float(x.sqrt()))
}

fn pow(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    let b = num("pow", &args[0])?;
    let e = num("pow", &args[1])?;
    match (b, e) {
        (Num::I(b), Num::I(e)) if e >= 0 => {
            ctx.charge(64)?;
            let e = u32::try_from(e).map_err(|_| overflow("pow"))?;
            b.checked_pow(e)
                .map(Value::Int)
                .ok_or_else(|| overflow("pow"))
        }
        (b, e) => Ok(Value::Float(b.f().powf(e.f()))),
    }
}

fn factorial(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    let n = super::int_arg("factorial", &args[0])?;
    if !(0..=20).contains(&n) {
        return Err(Error::with_fn(
            Kind::Arithmetic,
            "factorial",
            format!("factorial of {n} is out of range (0..=20)"),
        ));
    }
    ctx.charge(n as u64)?;
    Ok(Value::Int((1..=n).product()))
}

fn to_int_checked(fname: &str, f: f64) -> Result<Value> {
    if f.is_finite() && (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&f) {
        Ok(Value::Int(f as i64))
    } else {
        Err(Error::with_fn(
            Kind::Arithmetic,
            fname,
            format!("{fname}: {f} does not fit an integer"),
        ))
    }
}

fn rounding(fname: &str, v: &Value, op: fn(f64) -> f64) -> Result<Value> {
    match num(fname, v)? {
        Num::I(i) => Ok(Value::Int(i)),
        Num::F(f) => to_int_checked(fname, op(f)),
    }
}

fn round(_: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    rounding("round", &args[0], f64::round)
}
fn floor(_: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    rounding("floor", &args[0], f64::floor)
}
fn ceil(_: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    rounding("ceil", &args[0], f64::ceil)
}

fn even(_: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    Ok(Value::Bool(super::int_arg("even?", &args[0])? % 2 == 0))
}
fn odd(_: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    Ok(Value::Bool(super::int_arg("odd?", &args[0])? % 2 != 0))
}

fn sign_test(fname: &str, v: &Value, want: Ordering) -> Result<Value> {
    Ok(Value::Bool(match num(fname, v)? {
        Num::I(i) => i.cmp(&0) == want,
        Num::F(f) => f.partial_cmp(&0.0) == Some(want),
    }))
}
fn zero(_: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    sign_test("zero?", &args[0], Ordering::Equal)
}
fn pos(_: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    sign_test("pos?", &args[0], Ordering::Greater)
}
fn neg(_: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    sign_test("neg?", &args[0], Ordering::Less)
}

/// Whether all arguments are equal, paying per item and byte compared.
fn all_equal(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<bool> {
    ctx.charge(args.len() as u64)?;
    for w in args.windows(2) {
        if !equal_in(&w[0], &w[1], ctx)? {
            return Ok(false);
        }
    }
    Ok(true)
}

fn eq(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    Ok(Value::Bool(all_equal(ctx, args)?))
}

fn not_eq(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    Ok(Value::Bool(!all_equal(ctx, args)?))
}

fn chain(
    ctx: &mut Ctx<'_>,
    fname: &str,
    args: &[Value],
    ok: fn(Ordering) -> bool,
) -> Result<Value> {
    ctx.charge(args.len() as u64)?;
    for a in args {
        num(fname, a)?;
    }
    Ok(Value::Bool(
        args.windows(2)
            .all(|w| num_cmp(&w[0], &w[1]).is_some_and(ok)),
    ))
}

fn num_eq(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    chain(ctx, "==", args, |o| o == Ordering::Equal)
}
fn lt(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    chain(ctx, "<", args, |o| o == Ordering::Less)
}
fn gt(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    chain(ctx, ">", args, |o| o == Ordering::Greater)
}
fn le(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    chain(ctx, "<=", args, |o| o != Ordering::Greater)
}
fn ge(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    chain(ctx, ">=", args, |o| o != Ordering::Less)
}

fn compare_fn(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    super::orderable("compare", &args[0])?;
    super::orderable("compare", &args[1])?;
    ctx.charge(1)?;
    Ok(Value::Int(match compare_in(&args[0], &args[1], ctx)? {
        Ordering::Less => -1,
        Ordering::Equal => 0,
        Ordering::Greater => 1,
    }))
}

fn not(_: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    Ok(Value::Bool(!args[0].truthy()))
}
fn boolean(_: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    Ok(Value::Bool(args[0].truthy()))
}

macro_rules! predicate {
    ($name:ident, $pat:pat) => {
        fn $name(_: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
            Ok(Value::Bool(matches!(&args[0], $pat)))
        }
    };
}

predicate!(is_nil, Value::Nil);
predicate!(
    is_some,
    Value::Bool(_)
        | Value::Int(_)
        | Value::Float(_)
        | Value::Str(_)
        | Value::Keyword(_)
        | Value::Symbol(_)
        | Value::List(_)
        | Value::Vector(_)
        | Value::Map(_)
        | Value::Fn(_)
        | Value::Error(_)
        | Value::Regex(_)
);
predicate!(is_true, Value::Bool(true));
predicate!(is_false, Value::Bool(false));
predicate!(is_boolean, Value::Bool(_));
predicate!(is_int, Value::Int(_));
predicate!(is_float, Value::Float(_));
predicate!(is_number, Value::Int(_) | Value::Float(_));
predicate!(is_string, Value::Str(_));
predicate!(is_keyword, Value::Keyword(_));
predicate!(is_symbol, Value::Symbol(_));
predicate!(is_fn, Value::Fn(_));
predicate!(is_vector, Value::Vector(_));
predicate!(is_list, Value::List(_));
predicate!(is_map, Value::Map(_));
predicate!(is_coll, Value::List(_) | Value::Vector(_) | Value::Map(_));
predicate!(is_sequential, Value::List(_) | Value::Vector(_));
predicate!(is_error, Value::Error(_));
predicate!(is_regex, Value::Regex(_));

fn type_name(_: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    Ok(Value::str(args[0].type_name()))
}

/// `parse-int` of a string: trimmed `[+-]?[0-9]+` within i64.
pub(crate) fn parse_int_str(s: &str) -> Option<i64> {
    let t = s.trim();
    let digits = t.strip_prefix(['+', '-']).unwrap_or(t);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    t.strip_prefix('+').unwrap_or(t).parse().ok()
}

/// `parse-float` of a string: trimmed `[+-]?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
pub(crate) fn parse_float_str(s: &str) -> Option<f64> {
    let t = s.trim();
    let b = t.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        i += 1;
    }
    let start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    if i == start {
        return None;
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let f = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == f {
            return None;
        }
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        let e = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == e {
            return None;
        }
    }
    if i != b.len() {
        return None;
    }
    t.parse().ok()
}

fn int(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    match &args[0] {
        Value::Int(i) => Ok(Value::Int(*i)),
        Value::Float(f) => to_int_checked("int", f.trunc()),
        Value::Str(s) => {
            ctx.charge(s.len() as u64)?;
            Ok(Value::Int(parse_int_str(s).unwrap_or(0)))
        }
        Value::Bool(b) => Ok(Value::Int(*b as i64)),
        Value::Nil => Ok(Value::Int(0)),
        other => Err(Error::type_error(
            "int",
            "a number, string, boolean or nil",
            other,
        )),
    }
}

fn float(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    match &args[0] {
        Value::Int(i) => Ok(Value::Float(*i as f64)),
        Value::Float(f) => Ok(Value::Float(*f)),
        Value::Str(s) => {
            ctx.charge(s.len() as u64)?;
            Ok(Value::Float(parse_float_str(s).unwrap_or(0.0)))
        }
        Value::Bool(b) => Ok(Value::Float(if *b { 1.0 } else { 0.0 })),
        Value::Nil => Ok(Value::Float(0.0)),
        other => Err(Error::type_error(
            "float",
            "a number, string, boolean or nil",
            other,
        )),
    }
}

fn parse_int(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    match &args[0] {
        Value::Str(s) => {
            ctx.charge(s.len() as u64)?;
            Ok(parse_int_str(s).map_or(Value::Nil, Value::Int))
        }
        Value::Int(i) => Ok(Value::Int(*i)),
        Value::Float(f) => Ok(to_int_checked("parse-int", f.trunc()).unwrap_or(Value::Nil)),
        other => Err(Error::type_error("parse-int", "a string or number", other)),
    }
}

fn parse_float(ctx: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    match &args[0] {
        Value::Str(s) => {
            ctx.charge(s.len() as u64)?;
            Ok(parse_float_str(s).map_or(Value::Nil, Value::Float))
        }
        Value::Int(i) => Ok(Value::Float(*i as f64)),
        Value::Float(f) => Ok(Value::Float(*f)),
        other => Err(Error::type_error(
            "parse-float",
            "a string or number",
            other,
        )),
    }
}

fn identity(_: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    Ok(args[0].clone())
}

fn constantly(_: &mut Ctx<'_>, args: &[Value]) -> Result<Value> {
    Ok(super::fn_value(Function::Constantly(args[0].clone())))
}

pub(super) const BUILTINS: &[Builtin] = &[
    plain("+", 1, MANY, add),
    plain("-", 1, MANY, sub),
    plain("*", 1, MANY, mul),
    plain("/", 1, MANY, div),
    plain("inc", 1, 1, inc),
    plain("dec", 1, 1, dec),
    plain("max", 1, MANY, max),
    plain("min", 1, MANY, min),
    plain("abs", 1, 1, abs),
    plain("quot", 2, 2, quot),
    plain("rem", 2, 2, rem),
    plain("mod", 2, 2, modulo),
    plain("sqrt", 1, 1, sqrt),
    plain("pow", 2, 2, pow),
    plain("factorial", 1, 1, factorial),
    plain("round", 1, 1, round),
    plain("floor", 1, 1, floor),
    plain("ceil", 1, 1, ceil),
    plain("even?", 1, 1, even),
    plain("odd?", 1, 1, odd),
    plain("zero?", 1, 1, zero),
    plain("pos?", 1, 1, pos),
    plain("neg?", 1, 1, neg),
    plain("=", 1, MANY, eq),
    plain("not=", 1, MANY, not_eq),
    plain("==", 1, MANY, num_eq),
    plain("<", 1, MANY, lt),
    plain(">", 1, MANY, gt),
    plain("<=", 1, MANY, le),
    plain(">=", 1, MANY, ge),
    plain("compare", 2, 2, compare_fn),
    plain("not", 1, 1, not),
    plain("boolean", 1, 1, boolean),
    plain("nil?", 1, 1, is_nil),
    plain("some?", 1, 1, is_some),
    plain("true?", 1, 1, is_true),
    plain("false?", 1, 1, is_false),
    plain("boolean?", 1, 1, is_boolean),
    plain("int?", 1, 1, is_int),
    plain("float?", 1, 1, is_float),
    plain("number?", 1, 1, is_number),
    plain("string?", 1, 1, is_string),
    plain("keyword?", 1, 1, is_keyword),
    plain("symbol?", 1, 1, is_symbol),
    plain("fn?", 1, 1, is_fn),
    plain("vector?", 1, 1, is_vector),
    plain("list?", 1, 1, is_list),
    plain("map?", 1, 1, is_map),
    plain("coll?", 1, 1, is_coll),
    plain("sequential?", 1, 1, is_sequential),
    plain("error?", 1, 1, is_error),
    plain("regex?", 1, 1, is_regex),
    plain("type-name", 1, 1, type_name),
    plain("int", 1, 1, int),
    plain("float", 1, 1, float),
    plain("parse-int", 1, 1, parse_int),
    plain("parse-float", 1, 1, parse_float),
    plain("identity", 1, 1, identity),
    plain("constantly", 1, 1, constantly),
];
