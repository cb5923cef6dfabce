//! The one integration test binary.

mod reader;
