//! RFC 9162 §2.1 Merkle trees: hashing, an in-memory store of every complete subtree, proof generation and
//! offline proof verification. Pure: no I/O, no clock, no allocation proportional to anything but the output.
//!
//! # Hashing (RFC 9162 §2.1.1)
//!
//! ```text
//! empty tree   MTH({})    = SHA-256("")
//! leaf         MTH({d})   = SHA-256(0x00 || d)
//! node         MTH(D[n])  = SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n]))   k = largest power of two < n
//! ```
//!
//! # Layout of [`MerkleTree`]
//!
//! The tree of `n` leaves is stored level by level: level `l` holds the hashes of the `n >> l` complete,
//! aligned subtrees of `2^l` leaves (`levels[0]` are the leaf hashes). That is at most `2n` hashes, 64 bytes
//! per leaf. Every node of the RFC 9162 tree of *any* size `m <= n` is either one of those stored hashes or a
//! node on the right border of the size-`m` tree, which is the fold of at most `log2(m)` stored hashes. So
//! a root at any past size, an inclusion proof, a consistency proof or a subtree proof reads `O(log n)`
//! stored hashes and computes at most `O(log n)` node hashes: microseconds at `n = 10^6`, no rehashing.
//!
//! # Proofs
//!
//! - Inclusion (RFC 9162 §2.1.3): [`MerkleTree::inclusion_proof`], checked with [`verify_inclusion`] (the
//!   §2.1.3.2 algorithm).
//! - Consistency (§2.1.4): [`MerkleTree::consistency_proof`], checked with [`verify_consistency`] (the
//!   §2.1.4.2 algorithm). A proof from size 0 is refused ([`ProofError::EmptyOldTree`]): every tree extends
//!   the empty tree, so such a proof proves nothing and RFC 9162 defines none.
//! - Subtree inclusion and subtree consistency (the "subtree" proofs of the IETF Merkle Tree Certificates
//!   draft, `draft-ietf-plants-merkle-tree-certs`, also in the transparency-dev test vectors): a *subtree* is
//!   a range `[start, end)` of leaves with `start` a multiple of the smallest power of two `>= end - start`
//!   ([`is_valid_subtree`]). Its hash is `MTH(D[start:end])`. A subtree inclusion proof shows a leaf is in the
//!   subtree; a subtree consistency proof shows the subtree is part of the tree of size `size`. For
//!   `start = 0` a subtree consistency proof *is* the RFC 9162 consistency proof from `end` to `size`.
//!
//! Verification functions take only sizes, hashes and the proof, as byte slices (what a third party decodes
//! from JSON), so they need nothing from this crate's storage. Every hash given to them must be 32 bytes,
//! except where nothing is hashed: when the two sizes are equal, a consistency proof must be empty and the
//! two roots must be the same byte string.

use sha2::{Digest, Sha256};

/// Length in bytes of every hash in this crate (SHA-256).
pub const HASH_LEN: usize = 32;

/// A SHA-256 hash: a leaf hash, a node hash or a root.
pub type Hash = [u8; HASH_LEN];

/// Why a proof could not be made or was rejected. Each variant says which number or hash is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProofError {
    /// A leaf index is not below the tree size.
    #[error("leaf index {index} is not in a tree of size {size}")]
    IndexOutOfRange {
        /// The leaf index.
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// A proof was asked for a tree size larger than the tree holds.
    #[error("tree size {size} is beyond the {len} leaves the tree holds")]
    SizeBeyondTree {
        /// The requested size.
        size: u64,
        /// Leaves in the tree.
        len: u64,
    },
    /// A consistency proof from a larger tree to a smaller one.
    #[error("old tree size {old} is larger than new tree size {new}")]
    OldSizeGreater {
        /// The first (old) size.
        old: u64,
        /// The second (new) size.
        new: u64,
    },
    /// A consistency proof from the empty tree: every tree extends it, so there is nothing to prove.
    #[error("a consistency proof from the empty tree (size 0) proves nothing and is not accepted")]
    EmptyOldTree,
    /// `[start, end)` is not a subtree: `start` must be a multiple of the smallest power of two `>= end -
    /// start`, and `start < end` where a leaf must be in it.
    #[error("[{start}, {end}) is not a valid subtree")]
    InvalidSubtree {
        /// First leaf of the range.
        start: u64,
        /// One past the last leaf.
        end: u64,
    },
    /// A subtree reaching past the tree it is claimed to be part of.
    #[error("subtree end {end} is beyond tree size {size}")]
    SubtreeBeyondTree {
        /// One past the subtree's last leaf.
        end: u64,
        /// The tree size.
        size: u64,
    },
    /// A leaf index outside the subtree.
    #[error("leaf index {index} is outside subtree [{start}, {end})")]
    IndexOutsideSubtree {
        /// The leaf index.
        index: u64,
        /// First leaf of the subtree.
        start: u64,
        /// One past its last leaf.
        end: u64,
    },
    /// The proof has the wrong number of hashes for the sizes and index given.
    #[error("proof has {got} hashes, the sizes and index given need exactly {want}")]
    WrongProofLength {
        /// Hashes in the proof.
        got: usize,
        /// Hashes needed.
        want: usize,
    },
    /// A proof element is not 32 bytes long.
    #[error("proof hash #{position} is {len} bytes long, not {HASH_LEN}")]
    MalformedProofHash {
        /// Its position in the proof (0 = first).
        position: usize,
        /// Its length.
        len: usize,
    },
    /// A leaf hash, subtree hash or root given to a verifier is not 32 bytes long.
    #[error("{what} is {len} bytes long, not {HASH_LEN}")]
    MalformedHash {
        /// Which input ("leaf hash", "old root", ...).
        what: &'static str,
        /// Its length.
        len: usize,
    },
    /// The proof recomputes a different hash than the one given: the leaf is not at that index in that tree,
    /// or the trees are not consistent, or the proof or a hash was altered.
    #[error("{what} does not match: the proof recomputes {}", hex(computed))]
    Mismatch {
        /// Which hash failed ("root", "old root", "new root", "subtree hash").
        what: &'static str,
        /// What the proof leads to.
        computed: Vec<u8>,
    },
}

/// Lower-case hexadecimal, for messages.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// The root of the empty tree, `SHA-256("")`.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// The leaf hash of an entry, `SHA-256(0x00 || data)`.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0x00]);
    h.update(data);
    h.finalize().into()
}

/// The hash of an interior node, `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([0x01]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The Merkle tree hash of a list of leaf hashes, computed in one pass with `O(log n)` memory.
pub fn root(leaf_hashes: &[Hash]) -> Hash {
    let mut f = Frontier::new();
    for h in leaf_hashes {
        f.push(*h);
    }
    f.root()
}

/// Whether `[start, end)` is a subtree: non-empty, and `start` a multiple of the smallest power of two that
/// is `>= end - start` (so the range is one node, or the left-balanced prefix of one, of every tree that
/// holds it).
pub fn is_valid_subtree(start: u64, end: u64) -> bool {
    start < end && (end - start).checked_next_power_of_two().is_some_and(|p| start % p == 0)
}

/// Number of bits needed to write `x` (0 for 0).
fn bit_len(x: u64) -> u32 {
    u64::BITS - x.leading_zeros()
}

/// Number of nodes at level `level` of the tree of `size >= 1` leaves (the last one may be incomplete).
fn level_width(size: u64, level: u32) -> u64 {
    ((size - 1) >> level) + 1
}

/// The right frontier of a growing tree: the hashes of its maximal complete subtrees, largest first. Enough
/// to compute the root as leaves are pushed, in `O(log n)` memory, e.g. to audit a log far larger than RAM.
#[derive(Debug, Clone, Default)]
pub struct Frontier {
    size: u64,
    stack: Vec<Hash>,
}

impl Frontier {
    /// The frontier of the empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Leaves pushed so far.
    pub fn len(&self) -> u64 {
        self.size
    }

    /// Whether no leaf was pushed.
    pub fn is_empty(&self) -> bool {
        self.size == 0
    }

    /// Appends one leaf hash.
    pub fn push(&mut self, leaf_hash: Hash) {
        let mut h = leaf_hash;
        let mut s = self.size;
        while s & 1 == 1 {
            // A complete subtree of the same height is on the stack: merge.
            let Some(left) = self.stack.pop() else { break };
            h = node_hash(&left, &h);
            s >>= 1;
        }
        self.stack.push(h);
        self.size += 1;
    }

    /// The root of the tree of the leaves pushed so far.
    pub fn root(&self) -> Hash {
        let mut it = self.stack.iter().rev();
        match it.next() {
            None => empty_root(),
            Some(last) => it.fold(*last, |acc, left| node_hash(left, &acc)),
        }
    }
}

/// An append-only Merkle tree holding the hash of every complete subtree (layout in the module docs), so
/// proofs for any index and any past size take `O(log n)` work.
#[derive(Debug, Clone, Default)]
pub struct MerkleTree {
    /// `levels[l][i]` is the hash of leaves `[i << l, (i + 1) << l)`; `levels[0]` are the leaf hashes.
    levels: Vec<Vec<Hash>>,
}

impl MerkleTree {
    /// The empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// A tree of the given leaf hashes, in order.
    pub fn from_leaf_hashes(leaf_hashes: impl IntoIterator<Item = Hash>) -> Self {
        let mut t = Self::new();
        for h in leaf_hashes {
            t.push(h);
        }
        t
    }

    /// Number of leaves.
    pub fn len(&self) -> u64 {
        self.levels.first().map_or(0, |l| l.len() as u64)
    }

    /// Whether the tree has no leaf.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends a leaf hash (for an entry `d`, pass [`leaf_hash`]`(d)`), completing the subtrees it closes.
    pub fn push(&mut self, leaf_hash: Hash) {
        let mut h = leaf_hash;
        let mut level = 0;
        loop {
            if self.levels.len() == level {
                self.levels.push(Vec::new());
            }
            let row = &mut self.levels[level];
            row.push(h);
            let n = row.len();
            if n % 2 == 1 {
                return;
            }
            h = node_hash(&row[n - 2], &row[n - 1]);
            level += 1;
        }
    }

    /// Drops the leaves from `size` on (and every subtree hash that covers them). No-op if `size >= len`.
    pub fn truncate(&mut self, size: u64) {
        for (level, row) in self.levels.iter_mut().enumerate() {
            row.truncate((size >> level) as usize);
        }
        while self.levels.last().is_some_and(Vec::is_empty) {
            self.levels.pop();
        }
    }

    /// The leaf hash at `index`, if the tree holds it.
    pub fn leaf_hash(&self, index: u64) -> Option<Hash> {
        let i = usize::try_from(index).ok()?;
        self.levels.first()?.get(i).copied()
    }

    /// The root of the whole tree.
    pub fn root(&self) -> Hash {
        self.range_hash(0, self.len())
    }

    /// The root the tree had when it held `size` leaves.
    pub fn root_at(&self, size: u64) -> Result<Hash, ProofError> {
        self.check_size(size)?;
        Ok(self.range_hash(0, size))
    }

    /// The RFC 9162 inclusion proof (audit path) of leaf `index` in the tree of `size` leaves, leaf to root.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, ProofError> {
        self.check_size(size)?;
        if index >= size {
            return Err(ProofError::IndexOutOfRange { index, size });
        }
        let mut out = Vec::with_capacity(64);
        self.path(0, size, 0, index, &mut out);
        Ok(out)
    }

    /// The RFC 9162 consistency proof that the tree of `old` leaves is a prefix of the tree of `new` leaves.
    /// Empty when `old == new`; refused when `old == 0` ([`ProofError::EmptyOldTree`]).
    pub fn consistency_proof(&self, old: u64, new: u64) -> Result<Vec<Hash>, ProofError> {
        self.check_size(new)?;
        if old > new {
            return Err(ProofError::OldSizeGreater { old, new });
        }
        if old == 0 {
            return Err(ProofError::EmptyOldTree);
        }
        self.subtree_consistency_proof(0, old, new)
    }

    /// `MTH(D[start:end])` of a subtree ([`is_valid_subtree`]).
    pub fn subtree_hash(&self, start: u64, end: u64) -> Result<Hash, ProofError> {
        if !is_valid_subtree(start, end) {
            return Err(ProofError::InvalidSubtree { start, end });
        }
        self.check_size(end)?;
        Ok(self.range_hash(start, end))
    }

    /// The inclusion proof of leaf `index` in subtree `[start, end)`, checked against [`Self::subtree_hash`]
    /// with [`verify_subtree_inclusion`].
    pub fn subtree_inclusion_proof(&self, index: u64, start: u64, end: u64) -> Result<Vec<Hash>, ProofError> {
        if !is_valid_subtree(start, end) {
            return Err(ProofError::InvalidSubtree { start, end });
        }
        self.check_size(end)?;
        if index < start || index >= end {
            return Err(ProofError::IndexOutsideSubtree { index, start, end });
        }
        let mut out = Vec::with_capacity(64);
        self.path(start, end, 0, index - start, &mut out);
        Ok(out)
    }

    /// The proof that subtree `[start, end)` is part of the tree of `size` leaves, checked with
    /// [`verify_subtree_consistency`]. An empty range needs (and gets) an empty proof.
    pub fn subtree_consistency_proof(&self, start: u64, end: u64, size: u64) -> Result<Vec<Hash>, ProofError> {
        self.check_size(size)?;
        if start == end {
            return if end > size { Err(ProofError::SubtreeBeyondTree { end, size }) } else { Ok(Vec::new()) };
        }
        if !is_valid_subtree(start, end) {
            return Err(ProofError::InvalidSubtree { start, end });
        }
        if end > size {
            return Err(ProofError::SubtreeBeyondTree { end, size });
        }
        let mut out = Vec::with_capacity(64);
        let last = end - 1;
        // The smallest aligned node holding the subtree is at level `top`; in the tree of `end` leaves that
        // node *is* the subtree, in the tree of `size` leaves it is the subtree grown to the right.
        let top = bit_len(start ^ last);
        if end < size {
            // Hashes that rebuild both the subtree and its grown node, from the level of the subtree's
            // rightmost complete part up to `top`.
            let low = (end - start).trailing_zeros();
            if !(end - start).is_power_of_two() {
                out.push(self.levels[low as usize][(last >> low) as usize]);
            }
            let fork = bit_len(last ^ (size - 1));
            for level in low..top {
                let i = last >> level;
                if i & 1 == 1 {
                    // Left sibling: a complete subtree inside [start, end).
                    out.push(self.levels[level as usize][(i - 1) as usize]);
                } else if level < fork {
                    // Right sibling: beyond `end`, complete or the right border of the size-`size` tree.
                    let a = (i + 1) << level;
                    out.push(self.range_hash(a, size.min(a + (1 << level))));
                }
            }
        }
        // Then the path from the grown node up to the root.
        self.path(0, size, top, start >> top, &mut out);
        Ok(out)
    }

    fn check_size(&self, size: u64) -> Result<(), ProofError> {
        let len = self.len();
        if size > len {
            return Err(ProofError::SizeBeyondTree { size, len });
        }
        Ok(())
    }

    /// `MTH(D[a:b])` where `a` is a multiple of the largest power of two `<= b - a` (every node of every
    /// tree size is such a range): folds the stored complete subtrees of the range, right to left.
    fn range_hash(&self, a: u64, b: u64) -> Hash {
        let mut acc: Option<Hash> = None;
        let mut end = b;
        let mut rest = b - a;
        while rest != 0 {
            let level = rest.trailing_zeros();
            let width = 1u64 << level;
            let h = self.levels[level as usize][((end - width) >> level) as usize];
            acc = Some(match acc {
                None => h,
                Some(right) => node_hash(&h, &right),
            });
            end -= width;
            rest -= width;
        }
        acc.unwrap_or_else(empty_root)
    }

    /// Appends to `out` the siblings on the path from node (`level`, `index`) to the root of the tree over
    /// leaves `[base, base + n)`, where `base` is aligned to a power of two `>= n` (the whole tree, or a
    /// subtree). Indices are relative to `base`. Levels where the node has no sibling are skipped, as in
    /// RFC 9162's PATH.
    fn path(&self, base: u64, end: u64, level: u32, index: u64, out: &mut Vec<Hash>) {
        let n = end - base;
        let (mut level, mut index) = (level, index);
        while level_width(n, level) > 1 {
            let sibling = index ^ 1;
            if sibling < level_width(n, level) {
                let a = base + (sibling << level);
                out.push(self.range_hash(a, end.min(a + (1 << level))));
            }
            index >>= 1;
            level += 1;
        }
    }
}

/// Checks that a hash is 32 bytes.
fn to_hash(what: &'static str, bytes: &[u8]) -> Result<Hash, ProofError> {
    bytes.try_into().map_err(|_| ProofError::MalformedHash { what, len: bytes.len() })
}

/// Checks that every proof element is 32 bytes.
fn to_hashes<P: AsRef<[u8]>>(proof: &[P]) -> Result<Vec<Hash>, ProofError> {
    proof
        .iter()
        .enumerate()
        .map(|(position, p)| {
            let p = p.as_ref();
            p.try_into().map_err(|_| ProofError::MalformedProofHash { position, len: p.len() })
        })
        .collect()
}

fn check_match(what: &'static str, computed: &Hash, expected: &[u8]) -> Result<(), ProofError> {
    if computed.as_slice() == expected {
        Ok(())
    } else {
        Err(ProofError::Mismatch { what, computed: computed.to_vec() })
    }
}

/// Length of an inclusion proof for leaf `index < size`: one hash per level below the point where the paths
/// of `index` and `size - 1` meet, then one per left sibling above it.
fn inclusion_len(index: u64, size: u64) -> usize {
    let inner = bit_len(index ^ (size - 1));
    (inner + (index >> inner).count_ones()) as usize
}

/// Checks an RFC 9162 inclusion proof (§2.1.3.2): that the leaf with hash `leaf_hash` is at `index` in the
/// tree of `size` leaves whose root is `root`.
pub fn verify_inclusion<P: AsRef<[u8]>>(
    index: u64,
    size: u64,
    leaf_hash: &[u8],
    proof: &[P],
    root: &[u8],
) -> Result<(), ProofError> {
    let computed = root_from_inclusion_proof(index, size, leaf_hash, proof)?;
    check_match("root", &computed, root)
}

/// The root an inclusion proof leads to (RFC 9162 §2.1.3.2 without the final comparison).
pub fn root_from_inclusion_proof<P: AsRef<[u8]>>(
    index: u64,
    size: u64,
    leaf_hash: &[u8],
    proof: &[P],
) -> Result<Hash, ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let leaf = to_hash("leaf hash", leaf_hash)?;
    let proof = to_hashes(proof)?;
    chain_inclusion(index, size, leaf, &proof)
}

/// RFC 9162 §2.1.3.2 steps 2-5 over a length-checked proof.
fn chain_inclusion(index: u64, size: u64, seed: Hash, proof: &[Hash]) -> Result<Hash, ProofError> {
    let want = inclusion_len(index, size);
    if proof.len() != want {
        return Err(ProofError::WrongProofLength { got: proof.len(), want });
    }
    let (mut f_n, mut s_n) = (index, size - 1);
    let mut r = seed;
    for p in proof {
        // `want` is exactly the number of hashes this loop consumes before `s_n` reaches 0.
        debug_assert!(s_n != 0);
        if f_n & 1 == 1 || f_n == s_n {
            r = node_hash(p, &r);
            if f_n & 1 == 0 {
                while f_n & 1 == 0 && f_n != 0 {
                    f_n >>= 1;
                    s_n >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    debug_assert_eq!(s_n, 0);
    Ok(r)
}

/// Checks an RFC 9162 consistency proof (§2.1.4.2): that the tree of `old_size` leaves with root `old_root` is
/// a prefix of the tree of `new_size` leaves with root `new_root`.
///
/// Equal sizes need an empty proof and identical roots (compared as bytes; nothing is hashed). A proof from
/// size 0 is refused ([`ProofError::EmptyOldTree`]).
pub fn verify_consistency<P: AsRef<[u8]>>(
    old_size: u64,
    new_size: u64,
    old_root: &[u8],
    new_root: &[u8],
    proof: &[P],
) -> Result<(), ProofError> {
    if old_size > new_size {
        return Err(ProofError::OldSizeGreater { old: old_size, new: new_size });
    }
    if old_size == 0 {
        return Err(ProofError::EmptyOldTree);
    }
    if old_size == new_size {
        if !proof.is_empty() {
            return Err(ProofError::WrongProofLength { got: proof.len(), want: 0 });
        }
        if old_root != new_root {
            return Err(ProofError::Mismatch { what: "new root", computed: old_root.to_vec() });
        }
        return Ok(());
    }
    let old = to_hash("old root", old_root)?;
    let proof = to_hashes(proof)?;
    let want = consistency_len(old_size, new_size);
    if proof.len() != want {
        return Err(ProofError::WrongProofLength { got: proof.len(), want });
    }
    // Step 2: a power-of-two old tree is a node of the new one; its root is the proof's implicit first hash.
    let mut path = Vec::with_capacity(proof.len() + 1);
    if old_size.is_power_of_two() {
        path.push(old);
    }
    path.extend_from_slice(&proof);
    // Steps 3-4.
    let (mut f_n, mut s_n) = (old_size - 1, new_size - 1);
    while f_n & 1 == 1 {
        f_n >>= 1;
        s_n >>= 1;
    }
    // Step 5.
    let (mut f_r, mut s_r) = (path[0], path[0]);
    // Step 6.
    for c in &path[1..] {
        debug_assert!(s_n != 0);
        if f_n & 1 == 1 || f_n == s_n {
            f_r = node_hash(c, &f_r);
            s_r = node_hash(c, &s_r);
            if f_n & 1 == 0 {
                while f_n & 1 == 0 && f_n != 0 {
                    f_n >>= 1;
                    s_n >>= 1;
                }
            }
        } else {
            s_r = node_hash(&s_r, c);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    debug_assert_eq!(s_n, 0);
    // Step 7.
    check_match("old root", &f_r, old_root)?;
    check_match("new root", &s_r, new_root)
}

/// Length of the RFC 9162 consistency proof from `old` to `new` (`0 < old < new`): the number of hashes the
/// §2.1.4.2 loop consumes before the second tree's index reaches 0, less the implicit old root when `old` is
/// a power of two.
fn consistency_len(old: u64, new: u64) -> usize {
    let (mut f_n, mut s_n) = (old - 1, new - 1);
    while f_n & 1 == 1 {
        f_n >>= 1;
        s_n >>= 1;
    }
    let mut n = 1; // path[0]
    while s_n != 0 {
        n += 1;
        if f_n & 1 == 0 && f_n == s_n {
            while f_n & 1 == 0 && f_n != 0 {
                f_n >>= 1;
                s_n >>= 1;
            }
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    if old.is_power_of_two() {
        n - 1
    } else {
        n
    }
}

/// Checks a subtree inclusion proof: that the leaf with hash `leaf_hash` is at `index` in subtree
/// `[start, end)` ([`is_valid_subtree`]) whose hash is `subtree_hash`.
pub fn verify_subtree_inclusion<P: AsRef<[u8]>>(
    index: u64,
    start: u64,
    end: u64,
    leaf_hash: &[u8],
    proof: &[P],
    subtree_hash: &[u8],
) -> Result<(), ProofError> {
    if !is_valid_subtree(start, end) {
        return Err(ProofError::InvalidSubtree { start, end });
    }
    if index < start || index >= end {
        return Err(ProofError::IndexOutsideSubtree { index, start, end });
    }
    // A subtree is laid out like a whole tree of `end - start` leaves.
    let computed = root_from_inclusion_proof(index - start, end - start, leaf_hash, proof)?;
    check_match("subtree hash", &computed, subtree_hash)
}

/// Checks a subtree consistency proof: that subtree `[start, end)` with hash `subtree_hash` is part of the
/// tree of `size` leaves with root `root`.
///
/// The empty range `[s, s)` (any `s <= size`) is part of every tree; its hash must be [`empty_root`] and its
/// proof empty, and `root` is not consulted. For `[0, size)` the proof is empty and the two hashes must be
/// the same bytes.
pub fn verify_subtree_consistency<P: AsRef<[u8]>>(
    start: u64,
    end: u64,
    size: u64,
    subtree_hash: &[u8],
    root: &[u8],
    proof: &[P],
) -> Result<(), ProofError> {
    if start == end {
        if end > size {
            return Err(ProofError::SubtreeBeyondTree { end, size });
        }
        if !proof.is_empty() {
            return Err(ProofError::WrongProofLength { got: proof.len(), want: 0 });
        }
        return check_match("subtree hash", &empty_root(), subtree_hash);
    }
    if !is_valid_subtree(start, end) {
        return Err(ProofError::InvalidSubtree { start, end });
    }
    if end > size {
        return Err(ProofError::SubtreeBeyondTree { end, size });
    }
    if start == 0 && end == size {
        if !proof.is_empty() {
            return Err(ProofError::WrongProofLength { got: proof.len(), want: 0 });
        }
        if subtree_hash != root {
            return Err(ProofError::Mismatch { what: "root", computed: subtree_hash.to_vec() });
        }
        return Ok(());
    }
    let sub = to_hash("subtree hash", subtree_hash)?;
    let proof = to_hashes(proof)?;
    let last = end - 1;
    let top = bit_len(start ^ last);
    if end == size {
        // The subtree is the node (top, start >> top) on the right border of the tree: only left siblings
        // remain on its path to the root.
        let want = (start >> top).count_ones() as usize;
        if proof.len() != want {
            return Err(ProofError::WrongProofLength { got: proof.len(), want });
        }
        let computed = proof.iter().fold(sub, |acc, left| node_hash(left, &acc));
        return check_match("root", &computed, root);
    }
    // Rebuild, from the rightmost complete part of the subtree up to level `top`, both the subtree's hash
    // (left siblings only) and the hash of its node grown to the right in the size-`size` tree (left and
    // right siblings); then follow the grown node's inclusion path to the root.
    let low = (end - start).trailing_zeros();
    let fork = bit_len(last ^ (size - 1));
    let seeded = !(end - start).is_power_of_two();
    let middle = (low..top).filter(|&l| (last >> l) & 1 == 1 || l < fork).count();
    let upper = inclusion_len(start >> top, level_width(size, top));
    let want = usize::from(seeded) + middle + upper;
    if proof.len() != want {
        return Err(ProofError::WrongProofLength { got: proof.len(), want });
    }
    let (seed, mut rest) = if seeded { (proof[0], &proof[1..]) } else { (sub, &proof[..]) };
    let (mut old, mut grown) = (seed, seed);
    for level in low..top {
        if (last >> level) & 1 == 1 {
            old = node_hash(&rest[0], &old);
            grown = node_hash(&rest[0], &grown);
            rest = &rest[1..];
        } else if level < fork {
            grown = node_hash(&grown, &rest[0]);
            rest = &rest[1..];
        }
    }
    check_match("subtree hash", &old, subtree_hash)?;
    let computed = chain_inclusion(start >> top, level_width(size, top), grown, rest)?;
    check_match("root", &computed, root)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(n: u64) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(&i.to_le_bytes())).collect()
    }

    /// RFC 9162 MTH, straight from the definition.
    fn mth(d: &[Hash]) -> Hash {
        match d.len() {
            0 => empty_root(),
            1 => d[0],
            n => {
                let mut k = 1;
                while k * 2 < n {
                    k *= 2;
                }
                node_hash(&mth(&d[..k]), &mth(&d[k..]))
            }
        }
    }

    #[test]
    fn known_answers() {
        // SHA-256("") and the RFC 6962 test vector leaf hash of the empty entry.
        assert_eq!(hex(&empty_root()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assert_eq!(hex(&leaf_hash(b"")), "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d");
    }

    #[test]
    fn the_c2sp_seven_leaf_example() {
        // c2sp.org/merkle-tree: a..g are leaves, h = H(a,b), i = H(c,d), j = H(e,f), k = H(h,i), l = H(j,g).
        let d = leaves(7);
        let t = MerkleTree::from_leaf_hashes(d.iter().copied());
        let (a, b, c, dd, e, f, g) = (d[0], d[1], d[2], d[3], d[4], d[5], d[6]);
        let (h, i, j) = (node_hash(&a, &b), node_hash(&c, &dd), node_hash(&e, &f));
        let (k, l) = (node_hash(&h, &i), node_hash(&j, &g));
        assert_eq!(t.root(), node_hash(&k, &l));
        assert_eq!(t.inclusion_proof(0, 7).unwrap(), vec![b, i, l]);
        assert_eq!(t.inclusion_proof(3, 7).unwrap(), vec![c, h, l]);
        assert_eq!(t.inclusion_proof(4, 7).unwrap(), vec![f, g, k]);
        assert_eq!(t.inclusion_proof(6, 7).unwrap(), vec![j, k]);
        assert_eq!(t.consistency_proof(3, 7).unwrap(), vec![c, dd, h, l]);
        assert_eq!(t.consistency_proof(4, 7).unwrap(), vec![l]);
        assert_eq!(t.consistency_proof(6, 7).unwrap(), vec![j, g, k]);
    }

    #[test]
    fn roots_at_every_size_match_the_definition() {
        let d = leaves(70);
        let t = MerkleTree::from_leaf_hashes(d.iter().copied());
        for n in 0..=70 {
            assert_eq!(t.root_at(n).unwrap(), mth(&d[..n as usize]), "size {n}");
            assert_eq!(root(&d[..n as usize]), mth(&d[..n as usize]), "size {n}");
        }
        assert_eq!(t.root_at(71), Err(ProofError::SizeBeyondTree { size: 71, len: 70 }));
    }

    #[test]
    fn truncate_restores_an_earlier_tree() {
        let d = leaves(37);
        let mut t = MerkleTree::from_leaf_hashes(d.iter().copied());
        for n in (0..37).rev() {
            t.truncate(n);
            assert_eq!(t.len(), n);
            let fresh = MerkleTree::from_leaf_hashes(d[..n as usize].iter().copied());
            assert_eq!(t.levels, fresh.levels, "size {n}");
        }
    }

    #[test]
    fn subtree_proofs_round_trip_for_every_subtree() {
        let d = leaves(23);
        let t = MerkleTree::from_leaf_hashes(d.iter().copied());
        let mut checked = 0;
        for size in 1..=23u64 {
            let r = t.root_at(size).unwrap();
            for start in 0..size {
                for end in start + 1..=size {
                    if !is_valid_subtree(start, end) {
                        assert!(t.subtree_consistency_proof(start, end, size).is_err());
                        continue;
                    }
                    let sh = t.subtree_hash(start, end).unwrap();
                    assert_eq!(sh, mth(&d[start as usize..end as usize]));
                    let p = t.subtree_consistency_proof(start, end, size).unwrap();
                    verify_subtree_consistency(start, end, size, &sh, &r, &p)
                        .unwrap_or_else(|e| panic!("[{start},{end}) in {size}: {e}"));
                    if start == 0 && end < size {
                        assert_eq!(p, t.consistency_proof(end, size).unwrap());
                        verify_consistency(end, size, &sh, &r, &p).unwrap();
                    }
                    for index in start..end {
                        let p = t.subtree_inclusion_proof(index, start, end).unwrap();
                        verify_subtree_inclusion(index, start, end, &d[index as usize], &p, &sh).unwrap();
                    }
                    checked += 1;
                }
            }
        }
        assert!(checked > 300, "{checked}");
    }

    #[test]
    fn verifiers_name_what_is_wrong() {
        let t = MerkleTree::from_leaf_hashes(leaves(10));
        let p = t.inclusion_proof(3, 10).unwrap();
        let root = t.root();
        let leaf = t.leaf_hash(3).unwrap();
        assert_eq!(verify_inclusion(3, 10, &leaf, &p, &root), Ok(()));
        assert_eq!(
            verify_inclusion(3, 10, &leaf, &p[..2], &root),
            Err(ProofError::WrongProofLength { got: 2, want: 4 })
        );
        assert_eq!(verify_inclusion(10, 10, &leaf, &p, &root), Err(ProofError::IndexOutOfRange { index: 10, size: 10 }));
        let short: Vec<Vec<u8>> = vec![vec![0; 32], vec![0; 31]];
        assert_eq!(
            verify_inclusion(3, 10, &leaf, &short, &root),
            Err(ProofError::MalformedProofHash { position: 1, len: 31 })
        );
        assert_eq!(
            verify_inclusion(3, 10, &leaf[..5], &p, &root),
            Err(ProofError::MalformedHash { what: "leaf hash", len: 5 })
        );
        assert!(matches!(verify_inclusion(4, 10, &leaf, &p, &root), Err(ProofError::Mismatch { what: "root", .. })));
        let c = t.consistency_proof(3, 10).unwrap();
        let old = t.root_at(3).unwrap();
        assert_eq!(verify_consistency(3, 10, &old, &root, &c), Ok(()));
        assert!(matches!(verify_consistency(3, 10, &root, &root, &c), Err(ProofError::Mismatch { what: "old root", .. })));
        assert!(matches!(verify_consistency(3, 10, &old, &old, &c), Err(ProofError::Mismatch { what: "new root", .. })));
        assert_eq!(verify_consistency(0, 10, &old, &root, &c), Err(ProofError::EmptyOldTree));
        assert_eq!(verify_consistency(11, 10, &old, &root, &c), Err(ProofError::OldSizeGreater { old: 11, new: 10 }));
        assert_eq!(t.consistency_proof(0, 3), Err(ProofError::EmptyOldTree));
        assert_eq!(t.inclusion_proof(0, 11), Err(ProofError::SizeBeyondTree { size: 11, len: 10 }));
    }

    #[test]
    fn frontier_matches_the_tree() {
        let mut f = Frontier::new();
        let mut t = MerkleTree::new();
        assert_eq!(f.root(), empty_root());
        for (i, h) in leaves(100).into_iter().enumerate() {
            f.push(h);
            t.push(h);
            assert_eq!(f.root(), t.root(), "size {}", i + 1);
            assert_eq!(f.len(), t.len());
        }
    }
}
