//! Finding an existing capability that serves an intent: candidates ranked by text (BM25 over
//! each capability's id, description and schema's field names, against the intent's), kept
//! when their input schema accepts the intent's example arguments, and confirmed by running
//! each on the intent's examples — so a second run of a goal, or another goal needing the
//! same step, finds what an earlier run made instead of making a near-copy.

use bm25::{Document, SearchEngineBuilder, Tokenizer};
use rtfs::Value;

use crate::catalog::{Catalog, Entry};
use crate::error::PlanError;

/// Words for the search: split on anything not a letter or digit, lower case, singular.
#[derive(Default)]
struct Words;

impl Tokenizer for Words {
    fn tokenize(&self, text: &str) -> Vec<String> {
        text.split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(|w| crate::words::singular(&w.to_lowercase()))
            .collect()
    }
}

/// The capability's input for one example's arguments: the one argument itself, or the
/// vector of them (as a plan's `(call id a b)` hands them over).
pub fn input_of(args: &[Value]) -> Value {
    match args {
        [one] => one.clone(),
        many => Value::vector(many.to_vec()),
    }
}

fn text_of(e: &Entry) -> String {
    format!(
        "{} {} {}",
        e.id.replace(['/', '.', '-', '_'], " "),
        e.description,
        rtfs::print::print(&e.input_schema)
    )
}

fn accepts(schema: &Value, v: &Value) -> bool {
    match schema {
        Value::Keyword(k) if k.as_str() == "any" => true,
        s => rtfs::schema::parse(s, true).is_ok_and(|s| rtfs::schema::valid(&s, v)),
    }
}

/// The id of an existing, pure capability that serves `intent` (confirmed on every example),
/// or `None`.
pub fn resolve(intent: &Value, catalog: &mut dyn Catalog) -> Result<Option<String>, PlanError> {
    let examples: Vec<(Value, Value)> = intent
        .get_key("examples")
        .and_then(Value::as_seq)
        .ok_or_else(|| PlanError::Intent("an intent has :examples".into()))?
        .items()
        .iter()
        .map(|ex| {
            let args: Vec<Value> = ex
                .get_key("args")
                .and_then(Value::as_seq)
                .map(|s| s.items().iter().cloned().collect())
                .unwrap_or_default();
            (
                input_of(&args),
                ex.get_key("out").cloned().unwrap_or(Value::Nil),
            )
        })
        .collect();
    if examples.is_empty() {
        return Err(PlanError::Intent(
            "an intent has at least one example".into(),
        ));
    }
    let wanted = intent.get_key("id").and_then(Value::as_str).unwrap_or("");
    let entries: Vec<Entry> = catalog
        .entries()
        .into_iter()
        .filter(|e| e.effects.is_empty() && e.id.starts_with("generated/"))
        .collect();
    if entries.is_empty() {
        return Ok(None);
    }
    let query = format!(
        "{} {} {}",
        wanted.replace(['/', '.', '-', '_'], " "),
        intent
            .get_key("description")
            .and_then(Value::as_str)
            .unwrap_or(""),
        intent
            .get_key("params")
            .map(rtfs::print::print)
            .unwrap_or_default()
    );
    let engine = SearchEngineBuilder::<usize, u32, Words>::with_tokenizer_and_documents(
        Words,
        entries
            .iter()
            .enumerate()
            .map(|(i, e)| Document::new(i, text_of(e))),
    )
    .build();
    // The exact id first, then the best-ranked others.
    let mut order: Vec<usize> = entries
        .iter()
        .position(|e| e.id == wanted)
        .into_iter()
        .collect();
    for r in engine.search(&query, 8) {
        if !order.contains(&r.document.id) {
            order.push(r.document.id);
        }
    }
    for i in order {
        let e = &entries[i];
        if !examples
            .iter()
            .all(|(input, _)| accepts(&e.input_schema, input))
        {
            continue;
        }
        let confirmed = examples.iter().all(|(input, out)| {
            catalog
                .run(&e.id, input)
                .is_ok_and(|got| rtfs::order::equal(&got, out))
        });
        if confirmed {
            return Ok(Some(e.id.clone()));
        }
    }
    Ok(None)
}
