//! `hash.sha256` — SHA-256 of `{:text "…"}`, or of `{:bytes n}` deterministic bytes (a CPU
//! benchmark workload): returns the hex digest.

use kiln_guest::{Error, Value};
use sha2::{Digest, Sha256};

/// The capability.
pub fn sha256(input: Value) -> Result<Value, Error> {
    let mut h = Sha256::new();
    if let Some(t) = input.get_key("text").and_then(Value::as_str) {
        h.update(t.as_bytes());
    } else if let Some(Value::Int(n)) = input.get_key("bytes") {
        let n =
            usize::try_from(*n).map_err(|_| Error::new("error/argument", ":bytes must be ≥ 0"))?;
        let block: Vec<u8> = (0..4096u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        let mut left = n;
        while left > 0 {
            let take = left.min(block.len());
            h.update(&block[..take]);
            left -= take;
        }
    } else {
        return Err(Error::new(
            "error/argument",
            "hash.sha256 expects {:text string} or {:bytes n}",
        ));
    }
    let hex: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    Ok(Value::from(hex))
}

kiln_guest::export!(sha256);
