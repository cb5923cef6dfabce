//! Returns its input (Extism's side of benchmark B2).

use extism_pdk::*;

/// The plugin function.
#[plugin_fn]
pub fn echo(input: Vec<u8>) -> FnResult<Vec<u8>> {
    Ok(input)
}
