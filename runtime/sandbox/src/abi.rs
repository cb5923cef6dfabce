//! Guest ABI v1 (docs/abi.md): the exports a capability module provides, the envelope its
//! results travel in, and every read and write of guest memory. Values cross in the one
//! encoding of `rtfs::encoding`.
//!
//! **The audit point.** The host touches guest memory only in this file. `read_guest` and
//! `write_guest` check `ptr .. ptr+len` against the memory's current size, with an
//! overflow-checked addition, before they copy; every pointer and length a guest hands the
//! host — the buffer `kiln_alloc` returns, the range `kiln_invoke` returns, the arguments of
//! `kiln.call` and `kiln.log` — reaches memory only through them, after its length has been
//! checked against the limit that applies to it. A range outside memory is an
//! [`SandboxError::AbiViolation`] that traps the guest, never a host panic. No `unsafe`:
//! wasmtime's `Memory::data` is a safe slice of the memory's current size.

use rtfs::Value;
use wasmtime::{
    AsContext, AsContextMut, Caller, Instance, Memory, Module, ModuleExport, Store, TypedFunc,
};

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
/// Longest capability id `kiln.call` accepts, in bytes.
pub const MAX_CALL_ID_BYTES: usize = 256;

/// A range of guest memory as the ABI passes it in one i64: `(ptr << 32) | len`, unsigned
/// halves (`kiln_invoke`'s and `kiln.call`'s results). Not yet checked against any memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GuestRange {
    /// Offset of the first byte.
    pub ptr: u32,
    /// Length in bytes.
    pub len: u32,
}

impl GuestRange {
    /// Unpacks `(ptr << 32) | len`.
    ///
    /// ```
    /// use kiln_sandbox::abi::GuestRange;
    /// let r = GuestRange { ptr: 1024, len: 7 };
    /// assert_eq!(GuestRange::unpack(r.pack()), r);
    /// ```
    pub fn unpack(v: i64) -> GuestRange {
        let v = v as u64;
        GuestRange {
            ptr: (v >> 32) as u32,
            len: v as u32,
        }
    }

    /// Packs into the i64 the ABI returns.
    pub fn pack(self) -> i64 {
        (((self.ptr as u64) << 32) | self.len as u64) as i64
    }
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

/// The ABI exports of one module, looked up by name once, when it is prepared; each call
/// resolves them in its fresh instance by index.
pub(crate) struct AbiExports {
    memory: ModuleExport,
    alloc: ModuleExport,
    invoke: ModuleExport,
}

impl AbiExports {
    /// Looks the exports up (the install check has already seen them, with their types).
    pub(crate) fn of(module: &Module) -> Result<AbiExports> {
        let export = |name: &str| {
            module
                .get_export_index(name)
                .ok_or_else(|| SandboxError::InvalidModule {
                    why: format!("missing export `{name}`"),
                })
        };
        Ok(AbiExports {
            memory: export(EXPORT_MEMORY)?,
            alloc: export(EXPORT_ALLOC)?,
            invoke: export(EXPORT_INVOKE)?,
        })
    }

    /// One call's exchange with a fresh instance (docs/abi.md, "A call"): `kiln_alloc` a
    /// buffer and copy the encoded input into it, `kiln_invoke`, then check the returned
    /// range's length against `max_result_bytes` and its bounds against memory, and copy the
    /// result envelope's bytes out.
    pub(crate) fn exchange<T: 'static>(
        &self,
        store: &mut Store<T>,
        instance: &Instance,
        input: &[u8],
        max_result_bytes: u64,
    ) -> wasmtime::Result<Vec<u8>> {
        let mut export = |e: &ModuleExport, what: &str| {
            instance
                .get_module_export(&mut *store, e)
                .ok_or_else(|| wasmtime::Error::new(violation(format!("missing export {what}"))))
        };
        let memory = export(&self.memory, EXPORT_MEMORY)?
            .into_memory()
            .ok_or_else(|| wasmtime::Error::new(violation("`memory` is not a memory")))?;
        let alloc = export(&self.alloc, EXPORT_ALLOC)?.into_func();
        let invoke = export(&self.invoke, EXPORT_INVOKE)?.into_func();
        let (Some(alloc), Some(invoke)) = (alloc, invoke) else {
            return Err(wasmtime::Error::new(violation(
                "ABI exports are not functions",
            )));
        };
        let alloc: TypedFunc<i32, i32> = alloc.typed(&*store)?;
        let invoke: TypedFunc<(i32, i32), i64> = invoke.typed(&*store)?;
        let input_at = copy_in(&memory, &mut *store, &alloc, input, "input")?;
        let packed = invoke.call(&mut *store, (input_at.ptr as i32, input_at.len as i32))?;
        let result = GuestRange::unpack(packed);
        if result.len as u64 > max_result_bytes {
            return Err(wasmtime::Error::new(SandboxError::TooLarge {
                what: "result".into(),
                size: result.len as u64,
                limit: max_result_bytes,
            }));
        }
        read_guest(&memory, &*store, result.ptr, result.len)
    }
}

/// What a guest's `kiln.call` asks for, read out of its memory.
pub(crate) struct CallRequest {
    /// The callee's id (UTF-8, at most [`MAX_CALL_ID_BYTES`]).
    pub(crate) id: String,
    /// The encoded argument (not yet decoded), at most the value size limit.
    pub(crate) arg: Vec<u8>,
}

/// The calling guest's exported memory, for a host function.
pub(crate) fn guest_memory<T: 'static>(caller: &mut Caller<'_, T>) -> wasmtime::Result<Memory> {
    caller
        .get_export(EXPORT_MEMORY)
        .and_then(|e| e.into_memory())
        .ok_or_else(|| wasmtime::Error::new(violation("no exported memory")))
}

/// Reads the arguments of `kiln.call(id_ptr, id_len, arg_ptr, arg_len)`: both lengths are
/// checked (non-negative; the id at most [`MAX_CALL_ID_BYTES`], the argument at most
/// `max_arg_bytes`) before either range is read.
pub(crate) fn read_call_request<T: 'static>(
    memory: &Memory,
    caller: &Caller<'_, T>,
    id_ptr: i32,
    id_len: i32,
    arg_ptr: i32,
    arg_len: i32,
    max_arg_bytes: u64,
) -> wasmtime::Result<CallRequest> {
    if id_len < 0 || id_len as usize > MAX_CALL_ID_BYTES {
        return Err(wasmtime::Error::new(violation(format!(
            "kiln.call id length {id_len} (at most {MAX_CALL_ID_BYTES})"
        ))));
    }
    if arg_len < 0 || arg_len as u64 > max_arg_bytes {
        return Err(wasmtime::Error::new(SandboxError::TooLarge {
            what: "kiln.call argument".into(),
            size: arg_len.max(0) as u64,
            limit: max_arg_bytes,
        }));
    }
    let id = read_guest(memory, caller, id_ptr as u32, id_len as u32)?;
    let id = String::from_utf8(id)
        .map_err(|_| wasmtime::Error::new(violation("kiln.call id is not UTF-8")))?;
    let arg = read_guest(memory, caller, arg_ptr as u32, arg_len as u32)?;
    Ok(CallRequest { id, arg })
}

/// Reads the text of `kiln.log(level, ptr, len)`: at most `max` bytes of it (a negative
/// length reads nothing).
pub(crate) fn read_log_text<T: 'static>(
    memory: &Memory,
    caller: &Caller<'_, T>,
    ptr: i32,
    len: i32,
    max: usize,
) -> wasmtime::Result<Vec<u8>> {
    let take = (len.max(0) as usize).min(max) as u32;
    read_guest(memory, caller, ptr as u32, take)
}

/// Hands `kiln.call`'s encoded result envelope to the guest: copies it into a buffer from the
/// guest's own `kiln_alloc` and returns the packed range.
pub(crate) fn write_call_result<T: 'static>(
    memory: &Memory,
    caller: &mut Caller<'_, T>,
    envelope: &[u8],
) -> wasmtime::Result<i64> {
    let alloc = caller
        .get_export(EXPORT_ALLOC)
        .and_then(|e| e.into_func())
        .ok_or_else(|| wasmtime::Error::new(violation("no kiln_alloc export")))?
        .typed::<i32, i32>(&*caller)?;
    let at = copy_in(memory, &mut *caller, &alloc, envelope, "kiln.call result")?;
    Ok(at.pack())
}

/// The ABI violation `what`.
pub(crate) fn violation(what: impl Into<String>) -> SandboxError {
    SandboxError::AbiViolation { what: what.into() }
}

/// Asks the guest's `kiln_alloc` for `bytes.len()` bytes and copies `bytes` there, after
/// checking that the buffer it returned lies inside memory.
fn copy_in(
    memory: &Memory,
    mut store: impl AsContextMut,
    alloc: &TypedFunc<i32, i32>,
    bytes: &[u8],
    what: &str,
) -> wasmtime::Result<GuestRange> {
    let len = i32::try_from(bytes.len())
        .map_err(|_| wasmtime::Error::new(violation(format!("{what} larger than 2 GiB"))))?;
    let ptr = alloc.call(&mut store, len)? as u32;
    write_guest(memory, &mut store, ptr, bytes)?;
    Ok(GuestRange {
        ptr,
        len: len as u32,
    })
}

/// Copies `ptr .. ptr+len` out of guest memory, or fails if any of it lies outside.
fn read_guest(
    memory: &Memory,
    store: impl AsContext,
    ptr: u32,
    len: u32,
) -> wasmtime::Result<Vec<u8>> {
    let data = memory.data(&store);
    let end = (ptr as usize).checked_add(len as usize);
    match end {
        Some(end) if end <= data.len() => Ok(data[ptr as usize..end].to_vec()),
        _ => Err(wasmtime::Error::new(violation(format!(
            "range {ptr}+{len} is outside guest memory ({} bytes)",
            data.len()
        )))),
    }
}

/// Copies `bytes` into guest memory at `ptr`, or fails if any of it would lie outside.
fn write_guest(
    memory: &Memory,
    mut store: impl AsContextMut,
    ptr: u32,
    bytes: &[u8],
) -> wasmtime::Result<()> {
    let data = memory.data_mut(&mut store);
    let end = (ptr as usize).checked_add(bytes.len());
    match end {
        Some(end) if end <= data.len() => {
            data[ptr as usize..end].copy_from_slice(bytes);
            Ok(())
        }
        _ => Err(wasmtime::Error::new(violation(format!(
            "kiln_alloc returned {ptr}, which with {} bytes is outside guest memory ({} bytes)",
            bytes.len(),
            data.len()
        )))),
    }
}
