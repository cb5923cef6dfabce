//! The one integration test binary.

mod cli;
mod conformance;
mod eval;
mod reader;
