//! RTFS — the language of kiln's plans and capabilities (LANGUAGE.md).
//!
//! This crate is pure: no I/O, no threads, no clock; it builds for `wasm32-unknown-unknown`.
//! It holds the reader ([`reader`]), values ([`value`]), equality and canonical order
//! ([`order`]), the printer ([`print`]), the one binary encoding ([`encoding`]), schemas
//! ([`schema`]), the compiled-code definitions ([`code`]) the evaluator runs, and the host
//! boundary ([`host`]) through which an evaluation reaches its embedder.
//!
//! ```
//! let form = rtfs::reader::read_expr("{:b 1 :a [1 2.5 \"x\"]}", &Default::default()).unwrap();
//! let v = form.to_value();
//! assert_eq!(rtfs::print::print(&v), "{:a [1 2.5 \"x\"] :b 1}");
//! let bytes = rtfs::encoding::encode(&v).unwrap();
//! assert_eq!(rtfs::encoding::decode(&bytes, Default::default()).unwrap(), v);
//! ```

#![forbid(unsafe_code)]

pub mod analysis;
pub mod code;
pub mod compile;
pub mod encoding;
pub mod error;
pub mod fuzzing;
pub mod host;
pub mod meter;
pub mod order;
pub mod print;
pub mod reader;
pub mod schema;
pub mod stdlib;
pub mod value;
pub mod vm;

pub use error::{Error, Kind, LimitKind, Result};
pub use host::{Host, NoHost};
pub use value::Value;
pub use vm::{Interpreter, Limits, Program, eval};
