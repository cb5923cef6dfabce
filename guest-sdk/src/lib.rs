//! kiln-guest — write kiln capabilities in Rust.
//!
//! A capability is a function from a data value to a data value (or an error). This crate
//! turns it into a WebAssembly module speaking kiln's guest ABI v1 (`docs/abi.md`): the
//! exports, the one encoding of values, the result envelope, and the `kiln.call` / `kiln.log`
//! imports. Build for `wasm32-unknown-unknown` (imports nothing unless you call [`call`] or
//! [`log`]); use `wasm32-wasip1` only for capabilities granted WASI (files, environment).
//!
//! # A complete capability
//!
//! This is `capabilities/text-words`, which kiln ships and its tests build and call:
//!
#![doc = concat!("```\n", include_str!("../../capabilities/text-words/src/lib.rs"), "\n# fn main() {\n#     let v = words(kiln_guest::read(r#\"{:text \"a b a\"}\"#).unwrap()).unwrap();\n#     assert_eq!(kiln_guest::print(&v), r#\"{:counts {\"a\" 2 \"b\" 1} :distinct 2 :words 3}\"#);\n# }\n```")]
#![doc = "\nIts `Cargo.toml` says `crate-type = [\"cdylib\"]`; `cargo xtask build-guests` builds every capability under `capabilities/` this way, and `kiln cap install` installs the `.wasm`."]

pub use rtfs::Value;
pub use rtfs::value::{Map, Name, Seq};

/// A capability's failure: a keyword kind (e.g. `my.cap/not-found`), a message, data.
#[derive(Clone, Debug, PartialEq)]
pub struct Error {
    /// The kind, keyword text without `:`.
    pub kind: String,
    /// Prose.
    pub message: String,
    /// A map or nil.
    pub data: Value,
}

impl Error {
    /// An error of a kind with a message.
    pub fn new(kind: &str, message: impl Into<String>) -> Error {
        Error {
            kind: kind.into(),
            message: message.into(),
            data: Value::Nil,
        }
    }

    /// The same error with a data map.
    pub fn with_data(mut self, data: Value) -> Error {
        self.data = data;
        self
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, ":{} {}", self.kind, self.message)
    }
}

impl std::error::Error for Error {}

/// An error for a file operation a granted capability could not do, saying why in terms of
/// its grant (kind `fs/denied`, data `{:path p}`).
pub fn fs_error(verb: &str, path: &str, e: &std::io::Error) -> Error {
    let why = match e.kind() {
        std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem => format!(
            "{e} — the path is outside the directories granted to this capability, or the grant is read-only"
        ),
        std::io::ErrorKind::NotFound => format!("{e} — no such file in the granted directories"),
        _ => e.to_string(),
    };
    Error::new("fs/denied", format!("cannot {verb} {path}: {why}"))
        .with_data(Value::map(vec![(Value::keyword("path"), Value::str(path))]))
}

/// Log levels for [`log`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// Errors.
    Error = 0,
    /// Warnings.
    Warn = 1,
    /// Information.
    Info = 2,
    /// Debugging.
    Debug = 3,
    /// Tracing.
    Trace = 4,
}

/// Reads an RTFS data literal (handy in tests and for constants).
pub fn read(src: &str) -> Result<Value, Error> {
    rtfs::reader::read_expr(src, &Default::default())
        .map(|f| f.to_value())
        .map_err(|e| Error::new("error/parse", e.to_string()))
}

/// The printed form of a value.
pub fn print(v: &Value) -> String {
    rtfs::print::print(v)
}

fn encode(v: &Value) -> Result<Vec<u8>, Error> {
    rtfs::encoding::encode(v).map_err(|e| Error::new("error/type", e.to_string()))
}

fn decode(bytes: &[u8]) -> Result<Value, Error> {
    let limits = rtfs::encoding::DecodeLimits {
        max_depth: 1000,
        max_bytes: 64 << 20,
    };
    rtfs::encoding::decode(bytes, limits).map_err(|e| Error::new("error/argument", e.to_string()))
}

fn envelope(r: Result<Value, Error>) -> Value {
    match r {
        Ok(v) => Value::map(vec![(Value::keyword("ok"), v)]),
        Err(e) => Value::map(vec![(
            Value::keyword("error"),
            Value::map(vec![
                (Value::keyword("kind"), Value::keyword(&e.kind)),
                (Value::keyword("message"), Value::str(&e.message)),
                (Value::keyword("data"), e.data),
            ]),
        )]),
    }
}

#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
fn open(v: Value) -> Result<Value, Error> {
    if let Some(ok) = v.get_key("ok") {
        return Ok(ok.clone());
    }
    let err = v.get_key("error").cloned().unwrap_or(Value::Nil);
    let kind = match err.get_key("kind") {
        Some(Value::Keyword(k)) => k.as_str().to_string(),
        _ => "error/capability".to_string(),
    };
    let message = err
        .get_key("message")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let data = err.get_key("data").cloned().unwrap_or(Value::Nil);
    Err(Error {
        kind,
        message,
        data,
    })
}

#[cfg(target_arch = "wasm32")]
mod host {
    #[link(wasm_import_module = "kiln")]
    unsafe extern "C" {
        pub fn call(id_ptr: *const u8, id_len: usize, arg_ptr: *const u8, arg_len: usize) -> u64;
        pub fn log(level: i32, ptr: *const u8, len: usize);
    }
}

/// Calls another capability through kiln (needs the `:call` effect). The callee runs under
/// the caller's remaining fuel and deadline; refusals come back as errors.
pub fn call(id: &str, arg: &Value) -> Result<Value, Error> {
    let bytes = encode(arg)?;
    #[cfg(target_arch = "wasm32")]
    {
        // SAFETY: the host reads `id` and `bytes` within their lengths, writes the result
        // into memory it obtained from our `kiln_alloc`, and returns that range.
        let packed = unsafe { host::call(id.as_ptr(), id.len(), bytes.as_ptr(), bytes.len()) };
        let (ptr, len) = ((packed >> 32) as usize, (packed & 0xffff_ffff) as usize);
        // SAFETY: the range was allocated by `kiln_alloc` (a leaked Vec) and filled by the host.
        let out = unsafe { std::slice::from_raw_parts(ptr as *const u8, len) };
        open(decode(out)?)
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = bytes;
        Err(Error::new(
            "error/capability",
            format!("call {id}: only available inside a kiln sandbox"),
        ))
    }
}

/// Writes a log line (needs the `:log` effect).
pub fn log(level: Level, msg: &str) {
    #[cfg(target_arch = "wasm32")]
    // SAFETY: the host reads `msg` within its length.
    unsafe {
        host::log(level as i32, msg.as_ptr(), msg.len())
    };
    #[cfg(not(target_arch = "wasm32"))]
    let _ = (level, msg);
}

#[doc(hidden)]
pub mod __rt {
    use super::*;

    /// `kiln_alloc`: a buffer the host fills. Instances live for one call, so it is simply
    /// leaked.
    pub fn alloc(len: i32) -> *mut u8 {
        let mut v = Vec::<u8>::with_capacity(len.max(0) as usize);
        let p = v.as_mut_ptr();
        std::mem::forget(v);
        p
    }

    /// `kiln_invoke`: decode, run, envelope, encode, hand back.
    ///
    /// # Safety
    /// `ptr..ptr+len` must be readable: the host wrote the input into a buffer it obtained
    /// from [`alloc`].
    pub unsafe fn invoke(ptr: *const u8, len: i32, f: fn(Value) -> Result<Value, Error>) -> i64 {
        // SAFETY: guaranteed by the caller (the host, per the ABI).
        let input = unsafe { std::slice::from_raw_parts(ptr, len.max(0) as usize) };
        let result = decode(input).and_then(f);
        let bytes = encode(&envelope(result))
            .unwrap_or_else(|e| encode(&envelope(Err(e))).unwrap_or_default());
        let out = bytes.leak();
        (((out.as_ptr() as usize as u64) << 32) | out.len() as u64) as i64
    }
}

/// Exports a `fn(Value) -> Result<Value, Error>` as the capability of this module.
#[macro_export]
macro_rules! export {
    ($f:path) => {
        #[unsafe(no_mangle)]
        pub extern "C" fn kiln_abi_v1() {}

        #[unsafe(no_mangle)]
        pub extern "C" fn kiln_alloc(len: i32) -> *mut u8 {
            $crate::__rt::alloc(len)
        }

        /// # Safety
        /// Called by the kiln host with a buffer it filled (guest ABI v1).
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn kiln_invoke(ptr: *const u8, len: i32) -> i64 {
            // SAFETY: the host passes the buffer it obtained from `kiln_alloc` and filled.
            unsafe { $crate::__rt::invoke(ptr, len, $f) }
        }
    };
}
