//! A Merkle tree over the chain's entries in the shape of RFC 6962 §2.1 (Certificate
//! Transparency): leaf hash `SHA-256(0x00 ‖ entry)`, node hash `SHA-256(0x01 ‖ left ‖ right)`,
//! the left subtree of `n` leaves holding the largest power of two below `n`. A tree head
//! (size, root) saved elsewhere later proves that the chain still extends it (consistency),
//! and any entry can be proven to be in it (inclusion). Verification follows RFC 9162
//! §2.1.3.2 and §2.1.4.2.

use sha2::{Digest, Sha256};

use crate::hash::Hash;

/// The leaf hash of an entry's bytes.
pub fn leaf_hash(entry: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(entry);
    Hash(h.finalize().into())
}

/// The hash of an interior node.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left.0);
    h.update(right.0);
    Hash(h.finalize().into())
}

/// The root of the empty tree: SHA-256 of nothing.
pub fn empty_root() -> Hash {
    Hash(Sha256::digest([]).into())
}

/// The Merkle tree hash of a list of leaf hashes (MTH in RFC 6962).
pub fn root(leaves: &[Hash]) -> Hash {
    if leaves.is_empty() {
        return empty_root();
    }
    // Complete subtrees on a stack, merged when two of equal height meet; the rest merged
    // right to left at the end, which is exactly RFC 6962's left-heavy split.
    let mut stack: Vec<(u32, Hash)> = Vec::with_capacity(64);
    for leaf in leaves {
        let mut cur = (0u32, *leaf);
        while let Some(&(h, left)) = stack.last() {
            if h != cur.0 {
                break;
            }
            stack.pop();
            cur = (h + 1, node_hash(&left, &cur.1));
        }
        stack.push(cur);
    }
    let mut acc = stack.pop().map(|(_, h)| h).unwrap_or_else(empty_root);
    while let Some((_, left)) = stack.pop() {
        acc = node_hash(&left, &acc);
    }
    acc
}

/// The largest power of two strictly below `n` (n ≥ 2).
fn split(n: usize) -> usize {
    debug_assert!(n >= 2);
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// The audit path of leaf `index` in the tree of `leaves` (PATH in RFC 6962).
pub fn inclusion_proof(index: usize, leaves: &[Hash]) -> Option<Vec<Hash>> {
    if index >= leaves.len() {
        return None;
    }
    let mut out = Vec::new();
    path(index, leaves, &mut out);
    Some(out)
}

fn path(m: usize, d: &[Hash], out: &mut Vec<Hash>) {
    if d.len() <= 1 {
        return;
    }
    let k = split(d.len());
    if m < k {
        path(m, &d[..k], out);
        out.push(root(&d[k..]));
    } else {
        path(m - k, &d[k..], out);
        out.push(root(&d[..k]));
    }
}

/// The proof that the tree of the first `first` leaves is a prefix of the tree of `leaves`
/// (PROOF in RFC 6962). `first` must be between 1 and the number of leaves.
pub fn consistency_proof(first: usize, leaves: &[Hash]) -> Option<Vec<Hash>> {
    if first == 0 || first > leaves.len() {
        return None;
    }
    let mut out = Vec::new();
    subproof(first, leaves, true, &mut out);
    Some(out)
}

fn subproof(m: usize, d: &[Hash], complete: bool, out: &mut Vec<Hash>) {
    let n = d.len();
    if m == n {
        if !complete {
            out.push(root(d));
        }
        return;
    }
    let k = split(n);
    if m <= k {
        subproof(m, &d[..k], complete, out);
        out.push(root(&d[k..]));
    } else {
        subproof(m - k, &d[k..], false, out);
        out.push(root(&d[..k]));
    }
}

/// Checks an inclusion proof: leaf `index` with hash `leaf` is in the tree of `size` leaves
/// whose root is `root`.
pub fn verify_inclusion(index: u64, size: u64, leaf: &Hash, proof: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if s == 0 {
            return false;
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    s == 0 && r == *root
}

/// Checks a consistency proof between the tree head (`first`, `first_root`) and the later
/// head (`second`, `second_root`).
pub fn verify_consistency(
    first: u64,
    second: u64,
    first_root: &Hash,
    second_root: &Hash,
    proof: &[Hash],
) -> bool {
    if first == 0 || first > second {
        return false;
    }
    if first == second {
        return proof.is_empty() && first_root == second_root;
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if first.is_power_of_two() {
        path.push(*first_root);
    }
    path.extend_from_slice(proof);
    let Some((head, rest)) = path.split_first() else {
        return false;
    };
    let (mut f, mut s) = (first - 1, second - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let (mut fr, mut sr) = (*head, *head);
    for c in rest {
        if s == 0 {
            return false;
        }
        if f & 1 == 1 || f == s {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    s == 0 && fr == *first_root && sr == *second_root
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(&i.to_le_bytes())).collect()
    }

    /// The recursive definition, as the RFC writes it.
    fn mth(d: &[Hash]) -> Hash {
        match d.len() {
            0 => empty_root(),
            1 => d[0],
            n => {
                let k = split(n);
                node_hash(&mth(&d[..k]), &mth(&d[k..]))
            }
        }
    }

    #[test]
    fn the_iterative_root_is_the_rfc_definition() {
        for n in 0..70 {
            let l = leaves(n);
            assert_eq!(root(&l), mth(&l), "n = {n}");
        }
    }

    #[test]
    fn every_inclusion_and_consistency_proof_checks_and_tampering_fails() {
        for n in 1..40usize {
            let l = leaves(n);
            let r = root(&l);
            for i in 0..n {
                let p = inclusion_proof(i, &l).unwrap();
                assert!(verify_inclusion(i as u64, n as u64, &l[i], &p, &r));
                let other = leaf_hash(b"other");
                assert!(!verify_inclusion(i as u64, n as u64, &other, &p, &r));
                assert!(!verify_inclusion(n as u64, n as u64, &l[i], &p, &r));
                if let Some(first) = p.first() {
                    let mut bad = p.clone();
                    bad[0] = node_hash(first, first);
                    assert!(!verify_inclusion(i as u64, n as u64, &l[i], &bad, &r));
                }
            }
            for m in 1..=n {
                let p = consistency_proof(m, &l).unwrap();
                let rm = root(&l[..m]);
                assert!(
                    verify_consistency(m as u64, n as u64, &rm, &r, &p),
                    "{m}/{n}"
                );
                if m < n {
                    // A rewritten past does not extend the old head.
                    let mut forged = l.clone();
                    forged[m - 1] = leaf_hash(b"rewritten");
                    let fp = consistency_proof(m, &forged).unwrap();
                    assert!(!verify_consistency(
                        m as u64,
                        n as u64,
                        &rm,
                        &root(&forged),
                        &fp
                    ));
                    assert!(!verify_consistency(m as u64, n as u64, &rm, &r, &p[1..]));
                }
            }
        }
    }

    #[test]
    fn known_answer_for_two_leaves() {
        // RFC 6962's construction by hand: root = H(0x01 ‖ H(0x00 ‖ a) ‖ H(0x00 ‖ b)).
        let (a, b) = (leaf_hash(b"a"), leaf_hash(b"b"));
        let mut h = Sha256::new();
        h.update([1u8]);
        h.update(a.0);
        h.update(b.0);
        assert_eq!(root(&[a, b]).0, <[u8; 32]>::from(h.finalize()));
        assert_eq!(
            empty_root().hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
