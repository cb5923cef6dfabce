//! `json.emit` — data values to JSON text: `{:value v :pretty bool?}` → `"…"` (LANGUAGE.md
//! §5.9 `serialize-json`).

use kiln_guest::{Error, Value};

/// The capability.
pub fn emit(input: Value) -> Result<Value, Error> {
    let v = input
        .get_key("value")
        .ok_or_else(|| Error::new("error/argument", "json.emit expects {:value v}"))?;
    let pretty = input.get_key("pretty").is_some_and(Value::truthy);
    rtfs::stdlib::value_to_json(v, pretty)
        .map(Value::from)
        .map_err(|e| Error::new("error/json", e.message()))
}

kiln_guest::export!(emit);
