//! Looking at an execution's output: its shape and size, and whether it satisfies an
//! expected schema (naming the first place it does not).

use rtfs::Value;

/// `{:valid bool :issues [S …] :summary S :type T :size N}` for `result`.
pub fn inspect(result: &Value, expected: Option<&Value>) -> Value {
    let mut issues: Vec<String> = Vec::new();
    let size = match result {
        Value::Vector(s) | Value::List(s) => Some(s.len()),
        Value::Map(m) => Some(m.len()),
        Value::Str(s) => Some(s.chars().count()),
        _ => None,
    };
    if matches!(result, Value::Nil) {
        issues.push("the result is nil".into());
    }
    if size == Some(0) {
        issues.push(format!("the result is an empty {}", result.type_name()));
    }
    let mut valid = true;
    if let Some(s) = expected {
        match rtfs::schema::parse(s, true) {
            Err(e) => {
                valid = false;
                issues.push(format!("the expected schema is ill-formed: {e}"));
            }
            Ok(schema) => {
                let mut path = Vec::new();
                if let Some(at) = rtfs::schema::first_failure(&schema, result, &mut path) {
                    valid = false;
                    issues.push(format!(
                        "the result does not satisfy {} at {}",
                        rtfs::print::print(s),
                        rtfs::print::print(&Value::vector(at))
                    ));
                }
            }
        }
    }
    let summary = match (result, size) {
        (Value::Map(m), Some(n)) => {
            let first: Vec<String> = m
                .entries()
                .iter()
                .take(3)
                .map(|(k, v)| format!("{} {}", rtfs::print::print(k), rtfs::print::print(v)))
                .collect();
            format!(
                "a map of {n} entries ({}{})",
                first.join(", "),
                if n > 3 { ", …" } else { "" }
            )
        }
        (_, Some(n)) => format!("a {} of {n}", result.type_name()),
        _ => format!(
            "a {}: {}",
            result.type_name(),
            crate::clip(&rtfs::print::print(result), 80)
        ),
    };
    Value::map(vec![
        (Value::keyword("valid"), Value::Bool(valid)),
        (
            Value::keyword("issues"),
            Value::vector(issues.iter().map(|i| Value::str(i)).collect()),
        ),
        (Value::keyword("summary"), Value::str(&summary)),
        (Value::keyword("type"), Value::keyword(result.type_name())),
        (
            Value::keyword("size"),
            size.map_or(Value::Nil, |n| Value::Int(n as i64)),
        ),
    ])
}
