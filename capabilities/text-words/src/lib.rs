// `text.words` — tokenizes text and counts words: `{:text "…"}` →
// `{:words n :distinct m :counts {"word" k …}}` (lower-cased, split on non-alphanumerics).
// This file is also the guest SDK's documented example (guest-sdk/src/lib.rs includes it).

use std::collections::BTreeMap;

use kiln_guest::{Error, Value};

/// The capability.
pub fn words(input: Value) -> Result<Value, Error> {
    let text = input
        .get_key("text")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::new("error/argument", "text.words expects {:text string}"))?;
    let mut counts: BTreeMap<String, i64> = BTreeMap::new();
    let mut total = 0;
    for w in text
        .split(|c: char| !c.is_alphanumeric() && c != '\'')
        .filter(|w| !w.is_empty())
    {
        *counts.entry(w.to_lowercase()).or_default() += 1;
        total += 1;
    }
    Ok(Value::map(vec![
        (Value::keyword("words"), Value::Int(total)),
        (Value::keyword("distinct"), Value::Int(counts.len() as i64)),
        (
            Value::keyword("counts"),
            Value::map(
                counts
                    .into_iter()
                    .map(|(w, n)| (Value::str(&w), Value::Int(n)))
                    .collect(),
            ),
        ),
    ]))
}

kiln_guest::export!(words);
