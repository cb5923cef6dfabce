//! The literals a program may use, taken from the spec: small integers, the keys of record
//! schemas and of the examples' maps, enum values, and the strings of the outputs (with the
//! separators found inside example strings, such as `", "`).

use rtfs::Value;

use crate::spec::Spec;
use crate::value::V;

const MAX_KEYWORDS: usize = 12;
const MAX_STRINGS: usize = 8;
const MAX_SEPARATORS: usize = 4;

/// The constants of a spec, in a fixed order: integers, keywords, strings.
pub(crate) fn constants(spec: &Spec) -> Vec<V> {
    let mut ints: Vec<V> = vec![V::Int(0), V::Int(1), V::Int(2)];
    let mut kws: Vec<V> = Vec::new();
    let mut strs: Vec<V> = Vec::new();
    let mut seps: Vec<V> = Vec::new();
    let push = |list: &mut Vec<V>, v: V, cap: usize| {
        if list.len() < cap && !list.contains(&v) {
            list.push(v);
        }
    };
    let mut schema_atoms = Vec::new();
    for (_, s) in &spec.params {
        schema_literals(s, &mut schema_atoms);
    }
    if let Some(s) = &spec.output_schema {
        schema_literals(s, &mut schema_atoms);
    }
    for a in schema_atoms {
        match a {
            V::Int(_) => push(&mut ints, a, 8),
            V::Kw(_) => push(&mut kws, a, MAX_KEYWORDS),
            V::Str(_) => push(&mut strs, a, MAX_STRINGS),
            _ => {}
        }
    }
    let mut input_atoms = Vec::new();
    let mut output_atoms = Vec::new();
    let mut keys = Vec::new();
    let mut texts = Vec::new();
    for e in &spec.examples {
        for a in &e.args {
            walk(a, &mut input_atoms, &mut keys, &mut texts);
        }
    }
    let mut out_ints: Vec<(V, usize)> = Vec::new();
    for e in &spec.examples {
        let mut mine = Vec::new();
        walk(&e.out, &mut mine, &mut keys, &mut texts);
        for a in &mine {
            if matches!(a, V::Int(_)) && !input_atoms.contains(a) {
                match out_ints.iter_mut().find(|(v, _)| v == a) {
                    Some((_, n)) => *n += 1,
                    None => out_ints.push((a.clone(), 1)),
                }
            }
        }
        output_atoms.extend(mine);
    }
    for k in keys {
        if matches!(k, V::Kw(_)) {
            push(&mut kws, k, MAX_KEYWORDS);
        }
    }
    for a in &output_atoms {
        match a {
            V::Kw(_) => push(&mut kws, a.clone(), MAX_KEYWORDS),
            V::Str(s) if s.chars().count() <= 24 => push(&mut strs, a.clone(), MAX_STRINGS),
            _ => {}
        }
    }
    // An integer that several outputs show but no input holds is likely a literal of the
    // program (a fixed count, a default).
    for (v, n) in out_ints {
        if n >= 2 {
            push(&mut ints, v, 8);
        }
    }
    for t in texts {
        for sep in separators(&t) {
            push(&mut seps, V::str(&sep), MAX_SEPARATORS);
        }
    }
    for s in seps {
        push(&mut strs, s, MAX_STRINGS + MAX_SEPARATORS);
    }
    ints.into_iter().chain(kws).chain(strs).collect()
}

/// Keys of `[:map …]` entries and `[:enum …]` values in a schema given as data.
fn schema_literals(s: &Value, out: &mut Vec<V>) {
    let (Value::Vector(items) | Value::List(items)) = s else {
        return;
    };
    let items: Vec<&Value> = items.items().iter().collect();
    let head = items.first().and_then(|h| match h {
        Value::Keyword(k) => Some(k.as_str().to_string()),
        _ => None,
    });
    match head.as_deref() {
        Some("map") => {
            for entry in &items[1..] {
                let (Value::Vector(e) | Value::List(e)) = entry else {
                    continue;
                };
                let e: Vec<&Value> = e.items().iter().collect();
                if let Some(k) = e.first().and_then(|k| V::from_rtfs(k)) {
                    out.push(k);
                }
                for rest in e.iter().skip(1) {
                    schema_literals(rest, out);
                }
            }
        }
        Some("enum") => {
            for v in &items[1..] {
                if let Some(v) = V::from_rtfs(v) {
                    out.push(v);
                }
            }
        }
        _ => {
            for v in &items[1..] {
                schema_literals(v, out);
            }
        }
    }
}

/// Collects atoms, map keys and strings of a value.
fn walk(v: &Value, atoms: &mut Vec<V>, keys: &mut Vec<V>, texts: &mut Vec<String>) {
    match v {
        Value::Vector(s) | Value::List(s) => {
            for x in s.items().iter() {
                walk(x, atoms, keys, texts);
            }
        }
        Value::Map(m) => {
            for (k, x) in m.entries().iter() {
                if let Some(k) = V::from_rtfs(k) {
                    keys.push(k);
                }
                walk(x, atoms, keys, texts);
            }
        }
        Value::Str(s) => {
            texts.push(s.to_string());
            if let Some(a) = V::from_rtfs(v) {
                atoms.push(a);
            }
        }
        other => {
            if let Some(a) = V::from_rtfs(other) {
                atoms.push(a);
            }
        }
    }
}

/// The runs of non-alphanumeric characters strictly inside a string (`"ann, bo"` → `", "`).
fn separators(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut seen_alnum = false;
    for c in s.chars() {
        if c.is_alphanumeric() {
            if seen_alnum && !cur.is_empty() && !out.contains(&cur) {
                out.push(cur.clone());
            }
            cur.clear();
            seen_alnum = true;
        } else if seen_alnum {
            cur.push(c);
        }
    }
    out
}
