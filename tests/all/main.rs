//! The one integration test binary.

mod conformance;
mod eval;
mod reader;
