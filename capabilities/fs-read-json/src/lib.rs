//! `fs.read_json` — reads a JSON file from a granted directory (WASI, effect `:fs/read`):
//! `{:path "dir/file.json"}` → the parsed value. Paths are resolved by WASI against the
//! granted directories only; `..`, absolute paths outside them and symlinks leading out fail.

use kiln_guest::{Error, Value};

/// The capability.
pub fn read_json(input: Value) -> Result<Value, Error> {
    let path = input
        .get_key("path")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::new("error/argument", "fs.read_json expects {:path string}"))?;
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::new("fs/denied", format!("cannot read {path}: {}", why(&e)))
            .with_data(Value::map(vec![(Value::keyword("path"), Value::str(path))]))
    })?;
    rtfs::stdlib::json_to_value(&text, 1000).map_err(|e| Error::new("error/json", e.message()))
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

kiln_guest::export!(read_json);
