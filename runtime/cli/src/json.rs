//! `--json`: every command's result as one JSON document, `{"ok": true, "value": …}` or
//! `{"ok": false, "error": {"kind": …, "message": …}}` (`chain show` and `chain export` print
//! JSON Lines, one entry per line). RTFS values map as `serialize-json` (`json.emit`) maps
//! them: nil → null, booleans and numbers as themselves, strings → strings, keywords and
//! symbols → their text without `:`, lists and vectors → arrays, maps → objects (keys as
//! text). A value with no JSON form (a set, a function, a non-finite float, two keys with the
//! same text) maps to `{"rtfs": "<printed form>"}`.

use kiln_kernel::KernelError;
use kiln_store::StoreError;
use serde_json::{Value as Json, json};

/// An RTFS value as JSON.
pub fn value(v: &rtfs::Value) -> Json {
    rtfs::stdlib::value_to_json(v, false)
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_else(|| json!({ "rtfs": rtfs::print::print(v) }))
}

/// A success.
pub fn ok(value: Json) -> Json {
    json!({ "ok": true, "value": value })
}

/// A failure of kind `kind`.
pub fn error(kind: &str, message: &str) -> Json {
    json!({ "ok": false, "error": { "kind": kind, "message": message } })
}

/// The kind a kernel error shows under.
pub fn kind_of(e: &KernelError) -> &'static str {
    match e {
        KernelError::Blocked(kiln_kernel::Blocked::Denied(_)) => "denied",
        KernelError::Blocked(kiln_kernel::Blocked::NeedsApproval { .. }) => "pending-approval",
        KernelError::Store(StoreError::Busy { .. }) => "busy",
        KernelError::Store(StoreError::NotFound(_)) => "not-found",
        KernelError::Store(_) => "store",
        KernelError::Sandbox(_) => "sandbox",
        KernelError::Manifest(_) => "manifest",
        KernelError::Config { .. } => "config",
        KernelError::Quota(_) => "quota",
        KernelError::Source(_) => "source",
        KernelError::Invalid(_) => "invalid",
    }
}
