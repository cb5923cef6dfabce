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
    let text = std::fs::read_to_string(path).map_err(|e| kiln_guest::fs_error("read", path, &e))?;
    rtfs::stdlib::json_to_value(&text, 1000).map_err(|e| Error::new("error/json", e.message()))
}

kiln_guest::export!(read_json);
