//! Properties of the Merkle tree and its proofs, against straight-from-the-RFC recursive definitions:
//!
//! - the incremental tree's root, at every size, is RFC 9162's recursive MTH;
//! - generated inclusion and consistency proofs are exactly RFC 9162's PATH and PROOF, and verify;
//! - a proof with any single bit flipped, a wrong index, a wrong size (with the root of that size), an extra
//!   or a missing hash is rejected;
//! - subtree proofs of random subtrees verify and reject flips the same way.
//!
//! Leaves are distinct (leaf `i` hashes `i`), as in any log whose records carry their own identity; with
//! repeated leaves a proof can legitimately prove two indices.

use std::sync::OnceLock;

use fos_ledger::merkle::{
    empty_root, is_valid_subtree, leaf_hash, node_hash, root, verify_consistency, verify_inclusion,
    verify_subtree_consistency, verify_subtree_inclusion, Frontier, Hash, MerkleTree,
};
use proptest::prelude::*;

const N: u64 = 3000;

fn leaves() -> &'static [Hash] {
    static L: OnceLock<Vec<Hash>> = OnceLock::new();
    L.get_or_init(|| (0..N).map(|i| leaf_hash(&i.to_le_bytes())).collect())
}

fn tree() -> &'static MerkleTree {
    static T: OnceLock<MerkleTree> = OnceLock::new();
    T.get_or_init(|| MerkleTree::from_leaf_hashes(leaves().iter().copied()))
}

/// Largest power of two strictly below `n` (`n >= 2`).
fn split(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// RFC 9162 §2.1.1 MTH.
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

/// RFC 9162 §2.1.3.1 PATH(m, D[n]).
fn path(m: usize, d: &[Hash]) -> Vec<Hash> {
    if d.len() <= 1 {
        return Vec::new();
    }
    let k = split(d.len());
    if m < k {
        let mut p = path(m, &d[..k]);
        p.push(mth(&d[k..]));
        p
    } else {
        let mut p = path(m - k, &d[k..]);
        p.push(mth(&d[..k]));
        p
    }
}

/// RFC 9162 §2.1.4.1 SUBPROOF(m, D[n], b).
fn subproof(m: usize, d: &[Hash], b: bool) -> Vec<Hash> {
    let n = d.len();
    if m == n {
        return if b { Vec::new() } else { vec![mth(d)] };
    }
    let k = split(n);
    if m <= k {
        let mut p = subproof(m, &d[..k], b);
        p.push(mth(&d[k..]));
        p
    } else {
        let mut p = subproof(m - k, &d[k..], false);
        p.push(mth(&d[..k]));
        p
    }
}

fn flip(proof: &[Hash], element: usize, bit: usize) -> Vec<Hash> {
    let mut p = proof.to_vec();
    p[element][bit / 8] ^= 1 << (bit % 8);
    p
}

/// A size and an index below it.
fn size_and_index() -> impl Strategy<Value = (u64, u64)> {
    (1..=N).prop_flat_map(|size| (Just(size), 0..size))
}

/// `0 < old < new <= N`.
fn two_sizes() -> impl Strategy<Value = (u64, u64)> {
    (2..=N).prop_flat_map(|new| (1..new, Just(new)))
}

/// A valid subtree `[start, end)` of a tree of `size` leaves.
fn subtree() -> impl Strategy<Value = (u64, u64, u64)> {
    (1..=N).prop_flat_map(|size| (Just(size), 1..=size)).prop_flat_map(|(size, end)| {
        let starts: Vec<u64> = (0..end).filter(|&s| is_valid_subtree(s, end)).collect();
        (Just(size), Just(end), proptest::sample::select(starts))
    }).prop_map(|(size, end, start)| (start, end, size))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn incremental_roots_are_the_recursive_mth(data in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..200)) {
        // Arbitrary (possibly repeated) entries.
        let hashes: Vec<Hash> = data.iter().map(|d| leaf_hash(d)).collect();
        let t = MerkleTree::from_leaf_hashes(hashes.iter().copied());
        let mut f = Frontier::new();
        for (i, h) in hashes.iter().enumerate() {
            f.push(*h);
            prop_assert_eq!(f.root(), mth(&hashes[..=i]));
        }
        prop_assert_eq!(t.root(), mth(&hashes));
        prop_assert_eq!(root(&hashes), mth(&hashes));
        for size in 0..=hashes.len() {
            prop_assert_eq!(t.root_at(size as u64).unwrap(), mth(&hashes[..size]));
        }
    }

    #[test]
    fn roots_at_random_sizes_of_a_large_tree(size in 0..=N) {
        prop_assert_eq!(tree().root_at(size).unwrap(), mth(&leaves()[..size as usize]));
    }

    #[test]
    fn inclusion_proofs_are_rfc_paths_and_verify((size, index) in size_and_index(), element in any::<prop::sample::Index>(), bit in 0..256usize, other in any::<prop::sample::Index>()) {
        let t = tree();
        let d = &leaves()[..size as usize];
        let r = t.root_at(size).unwrap();
        let leaf = d[index as usize];
        let proof = t.inclusion_proof(index, size).unwrap();
        prop_assert_eq!(&proof, &path(index as usize, d));
        prop_assert_eq!(verify_inclusion(index, size, &leaf, &proof, &r), Ok(()));

        if !proof.is_empty() {
            let e = element.index(proof.len());
            prop_assert!(verify_inclusion(index, size, &leaf, &flip(&proof, e, bit), &r).is_err(), "flip of bit {} of hash {}", bit, e);
            prop_assert!(verify_inclusion(index, size, &leaf, &proof[..proof.len() - 1], &r).is_err());
        }
        let mut longer = proof.clone();
        longer.push(leaf);
        prop_assert!(verify_inclusion(index, size, &leaf, &longer, &r).is_err());
        let mut bad_leaf = leaf;
        bad_leaf[bit / 8] ^= 1 << (bit % 8);
        prop_assert!(verify_inclusion(index, size, &bad_leaf, &proof, &r).is_err());
        let mut bad_root = r;
        bad_root[bit / 8] ^= 1 << (bit % 8);
        prop_assert!(verify_inclusion(index, size, &leaf, &proof, &bad_root).is_err());

        // Another index (the leaf there is different, and so is its position).
        let wrong_index = other.index(size as usize) as u64;
        if wrong_index != index {
            prop_assert!(verify_inclusion(wrong_index, size, &leaf, &proof, &r).is_err());
        }
        // Another size, checked against that size's root (a checkpoint binds size and root together).
        let wrong_size = 1 + other.index(N as usize) as u64;
        if wrong_size != size {
            let wr = t.root_at(wrong_size).unwrap();
            prop_assert!(verify_inclusion(index, wrong_size, &leaf, &proof, &wr).is_err());
        }
    }

    #[test]
    fn consistency_proofs_are_rfc_proofs_and_verify((old, new) in two_sizes(), element in any::<prop::sample::Index>(), bit in 0..256usize, other in any::<prop::sample::Index>()) {
        let t = tree();
        let d = leaves();
        let (r1, r2) = (t.root_at(old).unwrap(), t.root_at(new).unwrap());
        let proof = t.consistency_proof(old, new).unwrap();
        prop_assert_eq!(&proof, &subproof(old as usize, &d[..new as usize], true));
        prop_assert_eq!(verify_consistency(old, new, &r1, &r2, &proof), Ok(()));

        let e = element.index(proof.len());
        prop_assert!(verify_consistency(old, new, &r1, &r2, &flip(&proof, e, bit)).is_err(), "flip of bit {} of hash {}", bit, e);
        prop_assert!(verify_consistency(old, new, &r1, &r2, &proof[..proof.len() - 1]).is_err());
        let mut longer = proof.clone();
        longer.push(r1);
        prop_assert!(verify_consistency(old, new, &r1, &r2, &longer).is_err());
        prop_assert!(verify_consistency(old, new, &r2, &r1, &proof).is_err());

        // Other sizes, each with the root of that size.
        let wrong = 1 + other.index(N as usize) as u64;
        if wrong != old && wrong <= new {
            prop_assert!(verify_consistency(wrong, new, &t.root_at(wrong).unwrap(), &r2, &proof).is_err(), "old {} claimed as {}", old, wrong);
        }
        if wrong != new && wrong >= old {
            prop_assert!(verify_consistency(old, wrong, &r1, &t.root_at(wrong).unwrap(), &proof).is_err(), "new {} claimed as {}", new, wrong);
        }
    }

    #[test]
    fn subtree_proofs_verify_and_reject_flips((start, end, size) in subtree(), element in any::<prop::sample::Index>(), bit in 0..256usize, which in any::<prop::sample::Index>()) {
        let t = tree();
        let d = leaves();
        let sh = t.subtree_hash(start, end).unwrap();
        prop_assert_eq!(sh, mth(&d[start as usize..end as usize]));
        let r = t.root_at(size).unwrap();
        let proof = t.subtree_consistency_proof(start, end, size).unwrap();
        prop_assert_eq!(verify_subtree_consistency(start, end, size, &sh, &r, &proof), Ok(()));
        if start == 0 && end < size {
            prop_assert_eq!(&proof, &t.consistency_proof(end, size).unwrap());
        }
        if !proof.is_empty() {
            let e = element.index(proof.len());
            prop_assert!(verify_subtree_consistency(start, end, size, &sh, &r, &flip(&proof, e, bit)).is_err());
        }
        let mut bad = sh;
        bad[bit / 8] ^= 1 << (bit % 8);
        prop_assert!(verify_subtree_consistency(start, end, size, &bad, &r, &proof).is_err());

        let index = start + which.index((end - start) as usize) as u64;
        let ip = t.subtree_inclusion_proof(index, start, end).unwrap();
        prop_assert_eq!(&ip, &path((index - start) as usize, &d[start as usize..end as usize]));
        prop_assert_eq!(verify_subtree_inclusion(index, start, end, &d[index as usize], &ip, &sh), Ok(()));
        if !ip.is_empty() {
            let e = element.index(ip.len());
            prop_assert!(verify_subtree_inclusion(index, start, end, &d[index as usize], &flip(&ip, e, bit), &sh).is_err());
        }
    }
}

/// Every bit of every proof hash, for every index and every pair of sizes up to 17 leaves.
#[test]
fn every_single_bit_flip_is_rejected_in_small_trees() {
    let t = tree();
    let mut checked = 0u64;
    for size in 1..=17u64 {
        let r = t.root_at(size).unwrap();
        for index in 0..size {
            let leaf = leaves()[index as usize];
            let proof = t.inclusion_proof(index, size).unwrap();
            for e in 0..proof.len() {
                for bit in 0..256 {
                    assert!(verify_inclusion(index, size, &leaf, &flip(&proof, e, bit), &r).is_err());
                    checked += 1;
                }
            }
        }
        for old in 1..size {
            let r1 = t.root_at(old).unwrap();
            let proof = t.consistency_proof(old, size).unwrap();
            for e in 0..proof.len() {
                for bit in 0..256 {
                    assert!(verify_consistency(old, size, &r1, &r, &flip(&proof, e, bit)).is_err());
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 100_000, "{checked}");
}

/// Proofs at the scale of a busy site: generation is a handful of hash reads, not a rehash.
#[test]
fn proofs_in_a_million_leaf_tree() {
    let n = 1_000_000u64;
    let t = MerkleTree::from_leaf_hashes((0..n).map(|i| leaf_hash(&i.to_le_bytes())));
    let r = t.root();
    let started = std::time::Instant::now();
    for k in 0..1000u64 {
        let index = k.wrapping_mul(0x9e37_79b9_7f4a_7c15) % n;
        let p = t.inclusion_proof(index, n).unwrap();
        assert!((19..=20).contains(&p.len()), "{}", p.len()); // ceil(log2(10^6)) = 20
        verify_inclusion(index, n, &t.leaf_hash(index).unwrap(), &p, &r).unwrap();
        let old = index.max(1);
        let c = t.consistency_proof(old, n).unwrap();
        verify_consistency(old, n, &t.root_at(old).unwrap(), &r, &c).unwrap();
    }
    // 1000 of each, with verification, in a debug build: far below a single rehash of the tree per proof.
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "{:?}", started.elapsed());
}
