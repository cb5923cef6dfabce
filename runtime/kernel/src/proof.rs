//! Merkle proofs of the causal chain as files: an inclusion proof of one entry, a
//! consistency proof that the chain extends a saved head (JSON that `kiln chain check-proof`,
//! or any RFC 6962 verifier, checks), and checking one without a home.

use kiln_store::chain::{Filter, Head};
use kiln_store::{Entry, Hash, Home, merkle};
use serde_json::json;

use crate::error::{KernelError, Result};

/// `kiln chain prove SEQ`: an inclusion proof of an entry in the current tree, as JSON that
/// `kiln chain check-proof` (or any RFC 6962 verifier) checks.
pub fn prove_inclusion(home: &Home, seq: u64) -> Result<String> {
    let leaves = home.leaves(None)?;
    if seq == 0 || seq > leaves.len() as u64 {
        return Err(KernelError::Invalid(format!(
            "there is no chain entry {seq} (the chain has {} entries)",
            leaves.len()
        )));
    }
    let path = merkle::inclusion_proof(seq as usize - 1, &leaves)
        .ok_or_else(|| KernelError::invalid("no proof"))?;
    let entry = home
        .entries(&Filter {
            after: Some(seq - 1),
            limit: Some(1),
            ..Filter::default()
        })?
        .pop()
        .ok_or_else(|| KernelError::Invalid(format!("chain entry {seq} vanished")))?;
    let body = entry.encode()?;
    let proof = json!({
        "proof": "inclusion",
        "seq": seq,
        "tree_size": leaves.len(),
        "root": merkle::root(&leaves).hex(),
        "head": Head { size: leaves.len() as u64, root: merkle::root(&leaves) }.to_string(),
        "leaf": merkle::leaf_hash(&body).hex(),
        "entry": hex(&body),
        "path": path.iter().map(Hash::hex).collect::<Vec<_>>(),
    });
    Ok(serde_json::to_string_pretty(&proof).unwrap_or_default())
}

/// `kiln chain prove --since HEAD`: a consistency proof that the current tree extends HEAD.
pub fn prove_consistency(home: &Home, since: &str) -> Result<String> {
    let old = Head::parse(since)?;
    let leaves = home.leaves(None)?;
    if old.size == 0 || old.size > leaves.len() as u64 {
        return Err(KernelError::Invalid(format!(
            "head {old} does not fit a chain of {} entries",
            leaves.len()
        )));
    }
    let path = merkle::consistency_proof(old.size as usize, &leaves)
        .ok_or_else(|| KernelError::invalid("no proof"))?;
    let new = Head {
        size: leaves.len() as u64,
        root: merkle::root(&leaves),
    };
    let proof = json!({
        "proof": "consistency",
        "first": old.to_string(),
        "second": new.to_string(),
        "path": path.iter().map(Hash::hex).collect::<Vec<_>>(),
    });
    Ok(serde_json::to_string_pretty(&proof).unwrap_or_default())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// `kiln chain check-proof FILE [--head HEAD]`: checks a proof on its own (no home needed);
/// with `--head`, also that it is about that trusted head. Returns what it proves.
pub fn check_proof(text: &str, trusted: Option<&str>) -> Result<String> {
    let bad = |why: &str| KernelError::Invalid(format!("not a valid proof: {why}"));
    let v: serde_json::Value =
        serde_json::from_str(text).map_err(|e| bad(&format!("not JSON ({e})")))?;
    let field = |k: &str| v.get(k).ok_or_else(|| bad(&format!("no {k:?} field")));
    let hash = |x: &serde_json::Value, k: &str| {
        x.as_str()
            .and_then(Hash::parse)
            .ok_or_else(|| bad(&format!("{k:?} is not a SHA-256 hex string")))
    };
    let path: Vec<Hash> = field("path")?
        .as_array()
        .ok_or_else(|| bad("\"path\" is not a list"))?
        .iter()
        .map(|x| hash(x, "path"))
        .collect::<Result<_, _>>()?;
    let trusted = trusted.map(Head::parse).transpose()?;
    match field("proof")?.as_str() {
        Some("inclusion") => {
            let seq = field("seq")?.as_u64().ok_or_else(|| bad("\"seq\""))?;
            let size = field("tree_size")?
                .as_u64()
                .ok_or_else(|| bad("\"tree_size\""))?;
            let root = hash(field("root")?, "root")?;
            let body = field("entry")?
                .as_str()
                .and_then(unhex)
                .ok_or_else(|| bad("\"entry\" is not hex"))?;
            let leaf = merkle::leaf_hash(&body);
            if hash(field("leaf")?, "leaf")? != leaf {
                return Err(KernelError::invalid(
                    "the proof's leaf is not the hash of its entry",
                ));
            }
            let entry = Entry::decode(&body).map_err(|e| bad(&format!("entry: {e}")))?;
            if entry.seq != seq {
                return Err(KernelError::Invalid(format!(
                    "the proof's entry says it is entry {}, not {seq}",
                    entry.seq
                )));
            }
            if seq == 0 || !merkle::verify_inclusion(seq - 1, size, &leaf, &path, &root) {
                return Err(KernelError::Invalid(format!(
                    "the inclusion proof of entry {seq} does not lead to root {root}"
                )));
            }
            let head = Head { size, root };
            if let Some(t) = trusted
                && t != head
            {
                return Err(KernelError::Invalid(format!(
                    "the proof is valid for head {head}, not for the trusted head {t}"
                )));
            }
            Ok(format!(
                "entry {seq} ({}) is in the chain with head {head}",
                entry.record.kind
            ))
        }
        Some("consistency") => {
            let first = Head::parse(field("first")?.as_str().unwrap_or_default())?;
            let second = Head::parse(field("second")?.as_str().unwrap_or_default())?;
            if !merkle::verify_consistency(
                first.size,
                second.size,
                &first.root,
                &second.root,
                &path,
            ) {
                return Err(KernelError::Invalid(format!(
                    "head {second} does not extend head {first}: the chain was rewritten or truncated"
                )));
            }
            if let Some(t) = trusted
                && t != first
                && t != second
            {
                return Err(KernelError::Invalid(format!(
                    "the proof is about heads {first} and {second}, not the trusted head {t}"
                )));
            }
            Ok(format!("head {second} extends head {first}"))
        }
        _ => Err(bad("\"proof\" must be \"inclusion\" or \"consistency\"")),
    }
}
