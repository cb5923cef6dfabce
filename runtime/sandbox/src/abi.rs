//! Guest ABI v1 (docs/abi.md): the exports a capability module provides and the envelope its
//! results travel in. Values cross in the one encoding of `rtfs::encoding`.

use rtfs::Value;

use crate::error::{Result, SandboxError};

/// The guest's linear memory.
pub const EXPORT_MEMORY: &str = "memory";
/// `kiln_alloc(len: i32) -> i32`: a buffer of `len` bytes the host may write.
pub const EXPORT_ALLOC: &str = "kiln_alloc";
/// `kiln_invoke(ptr: i32, len: i32) -> i64`: runs the capability on the encoded input at
/// `ptr..ptr+len`; returns the encoded result envelope as `(ptr << 32) | len`.
pub const EXPORT_INVOKE: &str = "kiln_invoke";
/// `kiln_abi_v1()`: a marker saying the module speaks this ABI (never called).
pub const EXPORT_MARKER: &str = "kiln_abi_v1";

/// Packs a pointer and a length into the i64 `kiln_invoke` and `kiln.call` return.
pub fn pack(ptr: u32, len: u32) -> i64 {
    (((ptr as u64) << 32) | len as u64) as i64
}

/// Unpacks `(ptr, len)`.
pub fn unpack(v: i64) -> (u32, u32) {
    let v = v as u64;
    ((v >> 32) as u32, v as u32)
}

/// The result envelope: `{:ok value}` or `{:error {:kind k :message m :data d}}`.
pub fn ok_envelope(v: Value) -> Value {
    Value::map(vec![(Value::keyword("ok"), v)])
}

/// An error envelope.
pub fn error_envelope(kind: &str, message: &str, data: Value) -> Value {
    Value::map(vec![(
        Value::keyword("error"),
        Value::map(vec![
            (Value::keyword("kind"), Value::keyword(kind)),
            (Value::keyword("message"), Value::str(message)),
            (Value::keyword("data"), data),
        ]),
    )])
}

fn violation(what: impl Into<String>) -> SandboxError {
    SandboxError::AbiViolation { what: what.into() }
}

/// Opens an envelope: the value, or the guest's error.
pub fn open_envelope(v: Value) -> Result<Value> {
    let Value::Map(m) = &v else {
        return Err(violation("the result is not an envelope map"));
    };
    if m.len() != 1 {
        return Err(violation("the result envelope must have exactly one key"));
    }
    if let Some(ok) = m.get(&Value::keyword("ok")) {
        return Ok(ok.clone());
    }
    if let Some(err) = m.get(&Value::keyword("error")) {
        let field = |k: &str| err.get_key(k).cloned().unwrap_or(Value::Nil);
        let kind = match field("kind") {
            Value::Keyword(k) => k.as_str().to_string(),
            _ => "error/capability".to_string(),
        };
        let message = match field("message") {
            Value::Str(s) => bounded(&s, 4096),
            _ => String::new(),
        };
        return Err(SandboxError::Guest {
            kind,
            message,
            data: bounded(&rtfs::print::print(&field("data")), 4096),
        });
    }
    Err(violation("the result envelope has neither :ok nor :error"))
}

/// At most `max` bytes of `s`, on a character boundary.
pub fn bounded(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}
