//! A dataset as the planner sees it: a named vector of records (maps with keyword keys), and
//! what its fields hold — the type of each, whether some records lack it, the distinct
//! values of text and list fields (the words a goal may use as values), the range of numbers.

use std::collections::BTreeMap;

use rtfs::Value;

use crate::error::PlanError;

/// What a field holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FieldKind {
    /// Integers.
    Int,
    /// Floats (or integers and floats).
    Number,
    /// Text.
    Text,
    /// Booleans.
    Bool,
    /// A vector of text (labels, tags).
    TextList,
    /// Anything else (nested maps, mixed kinds).
    Other,
}

/// One field of a dataset's records.
#[derive(Clone, Debug)]
pub struct Field {
    /// Its key (a keyword's text).
    pub name: String,
    /// What it holds.
    pub kind: FieldKind,
    /// Some records lack it (or hold nil).
    pub optional: bool,
    /// Distinct text values (of a text field, or the elements of a text-list field), in order
    /// of first appearance.
    pub values: Vec<String>,
    /// The smallest and largest number (numeric fields).
    pub range: Option<(f64, f64)>,
}

/// A named dataset.
#[derive(Clone, Debug)]
pub struct Dataset {
    /// Its name (the file's stem: `orders` for `orders.json`).
    pub name: String,
    /// The records.
    pub rows: Vec<Value>,
    /// Its fields, in order of first appearance.
    pub fields: Vec<Field>,
}

fn kind_of(v: &Value) -> Option<FieldKind> {
    Some(match v {
        Value::Nil => return None,
        Value::Int(_) => FieldKind::Int,
        Value::Float(_) => FieldKind::Number,
        Value::Str(_) => FieldKind::Text,
        Value::Bool(_) => FieldKind::Bool,
        Value::Vector(items) | Value::List(items)
            if items.items().iter().all(|x| matches!(x, Value::Str(_))) =>
        {
            FieldKind::TextList
        }
        _ => FieldKind::Other,
    })
}

fn merge(a: FieldKind, b: FieldKind) -> FieldKind {
    match (a, b) {
        (a, b) if a == b => a,
        (FieldKind::Int, FieldKind::Number) | (FieldKind::Number, FieldKind::Int) => {
            FieldKind::Number
        }
        _ => FieldKind::Other,
    }
}

/// A JSON text as RTFS data, with the keys of its objects as keywords (so that a record's
/// fields read as `(:title r)`), at most `max_depth` deep.
pub fn from_json(text: &str, max_depth: usize) -> Result<Value, PlanError> {
    let v = rtfs::stdlib::json_to_value(text, max_depth)
        .map_err(|e| PlanError::Dataset(format!("is not JSON: {}", e.message())))?;
    Ok(keywordize(&v))
}

fn keywordize(v: &Value) -> Value {
    match v {
        Value::Map(m) => Value::map(
            m.entries()
                .iter()
                .map(|(k, x)| {
                    // Keys a keyword can spell become keywords; others stay strings.
                    let k = match k {
                        Value::Str(s) if keyword_text(s) => Value::keyword(s),
                        other => other.clone(),
                    };
                    (k, keywordize(x))
                })
                .collect(),
        ),
        Value::Vector(items) => Value::vector(items.items().iter().map(keywordize).collect()),
        other => other.clone(),
    }
}

/// Whether `s` reads back as a keyword's name.
fn keyword_text(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with(|c: char| c.is_ascii_digit())
        && s.chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '?' | '!' | '*' | '.' | '+'))
}

impl Dataset {
    /// Reads a dataset: `value` must be a vector of maps with keyword keys.
    pub fn new(name: &str, value: &Value) -> Result<Dataset, PlanError> {
        let rows = match value {
            Value::Vector(items) | Value::List(items) => {
                items.items().iter().cloned().collect::<Vec<_>>()
            }
            other => {
                return Err(PlanError::Dataset(format!(
                    "{name} is not a vector of records but a {}",
                    other.type_name()
                )));
            }
        };
        if rows.is_empty() {
            return Err(PlanError::Dataset(format!(
                "{name} is empty: there is nothing to learn its fields from"
            )));
        }
        let mut order: Vec<String> = Vec::new();
        let mut kinds: BTreeMap<String, Option<FieldKind>> = BTreeMap::new();
        let mut present: BTreeMap<String, usize> = BTreeMap::new();
        let mut values: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut ranges: BTreeMap<String, (f64, f64)> = BTreeMap::new();
        for (i, r) in rows.iter().enumerate() {
            let Some(m) = r.as_map() else {
                return Err(PlanError::Dataset(format!(
                    "{name}: record {i} is a {}, not a map",
                    r.type_name()
                )));
            };
            for (k, v) in m.entries().iter() {
                let Value::Keyword(k) = k else {
                    return Err(PlanError::Dataset(format!(
                        "{name}: record {i} has a key {} that is not a name",
                        rtfs::print::print(k)
                    )));
                };
                let k = k.as_str().to_string();
                if !kinds.contains_key(&k) {
                    order.push(k.clone());
                }
                let slot = kinds.entry(k.clone()).or_insert(None);
                if let Some(kind) = kind_of(v) {
                    *slot = Some(match slot.take() {
                        None => kind,
                        Some(prev) => merge(prev, kind),
                    });
                    *present.entry(k.clone()).or_default() += 1;
                }
                let seen = values.entry(k.clone()).or_default();
                let mut note = |s: &str| {
                    if seen.len() < 10_000 && !seen.iter().any(|x| x == s) {
                        seen.push(s.to_string());
                    }
                };
                match v {
                    Value::Str(s) => note(s),
                    Value::Vector(items) | Value::List(items) => {
                        for x in items.items().iter() {
                            if let Value::Str(s) = x {
                                note(s);
                            }
                        }
                    }
                    Value::Int(n) => {
                        let n = *n as f64;
                        let r = ranges.entry(k.clone()).or_insert((n, n));
                        *r = (r.0.min(n), r.1.max(n));
                    }
                    Value::Float(n) => {
                        let r = ranges.entry(k.clone()).or_insert((*n, *n));
                        *r = (r.0.min(*n), r.1.max(*n));
                    }
                    _ => {}
                }
            }
        }
        let fields = order
            .into_iter()
            .map(|name| Field {
                kind: kinds
                    .get(&name)
                    .cloned()
                    .flatten()
                    .unwrap_or(FieldKind::Other),
                optional: present.get(&name).copied().unwrap_or(0) < rows.len(),
                values: values.remove(&name).unwrap_or_default(),
                range: ranges.get(&name).copied(),
                name,
            })
            .collect();
        Ok(Dataset {
            name: name.to_string(),
            rows,
            fields,
        })
    }

    /// The field named `name`.
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// The schema of one record: `[:map [:k T] [:k2 T ?] …]` (open).
    pub fn record_schema(&self) -> Value {
        let mut entries = vec![Value::keyword("map")];
        for f in &self.fields {
            let t = match f.kind {
                FieldKind::Int => Value::keyword("int"),
                FieldKind::Number => Value::keyword("number"),
                FieldKind::Text => Value::keyword("string"),
                FieldKind::Bool => Value::keyword("bool"),
                FieldKind::TextList => {
                    Value::vector(vec![Value::keyword("vector"), Value::keyword("string")])
                }
                FieldKind::Other => Value::keyword("any"),
            };
            let mut e = vec![Value::keyword(&f.name), t];
            if f.optional {
                e.push(Value::symbol("?"));
            }
            entries.push(Value::vector(e));
        }
        Value::vector(entries)
    }

    /// The schema of the whole dataset: a vector of its records.
    pub fn schema(&self) -> Value {
        Value::vector(vec![Value::keyword("vector"), self.record_schema()])
    }
}
