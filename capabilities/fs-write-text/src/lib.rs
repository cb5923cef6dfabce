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
    std::fs::write(path, text).map_err(|e| {
        Error::new("fs/denied", format!("cannot write {path}: {}", why(&e)))
            .with_data(Value::map(vec![(Value::keyword("path"), Value::str(path))]))
    })?;
    Ok(Value::map(vec![(
        Value::keyword("written"),
        Value::Int(text.len() as i64),
    )]))
}

/// Says why an access failed in terms of the grant.
fn why(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem => format!(
            "{e} — the path is outside the directories granted to this capability, or the grant is read-only"
        ),
        std::io::ErrorKind::NotFound => format!("{e} — no such file in the granted directories"),
        _ => e.to_string(),
    }
}

kiln_guest::export!(write_text);
