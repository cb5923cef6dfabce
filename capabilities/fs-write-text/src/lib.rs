//! `fs.write_text` — writes text to a file in a granted directory (WASI): `{:path "…" :text
//! "…"}` → `{:written n}`. It succeeds only in a directory granted for writing.

use kiln_guest::{Error, Value};

/// The capability.
pub fn write_text(input: Value) -> Result<Value, Error> {
    let field = |k: &str| {
        input.get_key(k).and_then(Value::as_str).ok_or_else(|| {
            Error::new(
                "error/argument",
                "fs.write_text expects {:path string :text string}",
            )
        })
    };
    let (path, text) = (field("path")?, field("text")?);
    std::fs::write(path, text).map_err(|e| kiln_guest::fs_error("write", path, &e))?;
    Ok(Value::map(vec![(
        Value::keyword("written"),
        Value::Int(text.len() as i64),
    )]))
}

kiln_guest::export!(write_text);
