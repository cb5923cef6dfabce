//! `json.parse` — JSON text to data values: `{:json "…"}` → the value (objects become maps
//! with string keys; LANGUAGE.md §5.9 `parse-json`).

use kiln_guest::{Error, Value};

/// The capability.
pub fn parse(input: Value) -> Result<Value, Error> {
    let text = input
        .get_key("json")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::new("error/argument", "json.parse expects {:json string}"))?;
    rtfs::stdlib::json_to_value(text, 1000).map_err(|e| Error::new("error/json", e.message()))
}

kiln_guest::export!(parse);
