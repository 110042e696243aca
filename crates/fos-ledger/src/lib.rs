//! FOS's tamper-evident ledger: an append-only Merkle log with signed checkpoints.
//!
//! Records (opaque bytes; FOS puts JSON there) are leaves of an RFC 9162 (Certificate Transparency 2.0)
//! Merkle tree. Each appended batch is made durable, then committed by a checkpoint — origin, tree size,
//! root hash, timestamp — signed with Ed25519 in the C2SP `tlog-checkpoint` / `signed-note` text format.
//! Anyone with the public key can then check, offline:
//!
//! - that a record is in the log ([`verify_inclusion`], or a self-contained [`InclusionBundle`]),
//! - that a later checkpoint extends an earlier one ([`verify_consistency`]),
//! - that a whole ledger directory is intact ([`verify_dir`]): any altered, removed, reordered or added
//!   byte is reported with the file, byte offset and record or checkpoint it hits.
//!
//! | module | what | I/O |
//! | --- | --- | --- |
//! | [`merkle`] | RFC 9162 hashing, an in-memory tree of all complete subtrees, proofs and their verification | none |
//! | [`checkpoint`] | checkpoint text, signed notes, key ids and verifier keys | none |
//! | [`bundle`] | JSON inclusion bundles for third parties | none |
//! | `log` | [`Ledger`]: the directory, durable appends, crash recovery | files |
//! | `verify` | [`verify_dir`]: the read-only audit | files |
//! | `view` | [`LedgerView`]: read-only access with the public key only (records, proofs, bundles); [`read_records`] | files, read-only |
//!
//! **Architecture invariant**: the ledger directory holds only `records.log` and `checkpoints.log`, both
//! append-only, and nothing that could be rebuilt from them; all derived state lives in memory.
//!
//! # On-disk format (version 1; integers little-endian)
//!
//! ```text
//! records.log      b"FOSLDGR1" | frame(record 0) | frame(record 1) | ...
//! checkpoints.log  b"FOSLDGC1" | frame(checkpoint of batch 1) | frame(checkpoint of batch 2) | ...
//! frame            u32 payload length | u32 CRC-32 (IEEE) of (length bytes ‖ payload) | payload
//! leaf hash        SHA-256(0x00 ‖ record bytes)              (the frame is not hashed)
//! checkpoint       "<origin>\n<size>\n<base64 root>\ntimestamp-ms <unix ms>\n\n— <origin> <base64(key id ‖ sig)>\n"
//! ```
//!
//! The CRC tells a torn write or bit rot from a well-formed frame and pins the damaged record; tamper
//! evidence rests on the signed roots, which no CRC fix can satisfy. Checkpoint sizes strictly increase
//! (one per batch) and the last one's size is the number of committed records; anything after those
//! records is an unacknowledged tail that [`Ledger::open`] truncates and reports.
//!
//! ```
//! # let dir = tempfile::tempdir().unwrap();
//! use ed25519_dalek::SigningKey;
//! use fos_ledger::{verify_dir, verify_inclusion, Ledger};
//!
//! let key = SigningKey::from_bytes(&[7; 32]); // FOS loads the site key; never a constant
//! let public = key.verifying_key();
//! let (mut ledger, recovery) = Ledger::open(dir.path().join("ledger"), key, "fos/demo")?;
//! assert!(recovery.created);
//! let receipts = ledger.append_batch(&[br#"{"op":"approve"}"#.as_slice(), br#"{"op":"write"}"#])?;
//! assert_eq!(receipts[1].index, 1);
//!
//! // A third party with the public key, the record and the proof:
//! let cp = receipts[1].checkpoint.checkpoint();
//! let proof = ledger.inclusion_proof(1, cp.size)?;
//! verify_inclusion(1, cp.size, &fos_ledger::leaf_hash(br#"{"op":"write"}"#), &proof, &cp.root)?;
//!
//! assert!(verify_dir(dir.path().join("ledger"), &public).is_ok());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod bundle;
pub mod checkpoint;
mod error;
mod format;
pub mod fuzz;
mod log;
pub mod merkle;
mod verify;
mod view;

pub use bundle::{BundleError, InclusionBundle, VerifiedInclusion, INCLUSION_BUNDLE_FORMAT};
pub use checkpoint::{Checkpoint, CheckpointError, SignedCheckpoint};
pub use error::{LedgerError, Result};
pub use format::{CHECKPOINTS_FILE, MAX_RECORD_LEN, RECORDS_FILE};
pub use log::{Ledger, Receipt, Recovery};
pub use merkle::{
    leaf_hash, verify_consistency, verify_inclusion, verify_subtree_consistency, verify_subtree_inclusion, Hash,
    MerkleTree, ProofError,
};
pub use verify::{verify_dir, Problem, ProblemKind, VerifyReport};
pub use view::{read_records, LedgerView, StoredRecord};
