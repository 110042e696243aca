//! Read-only access to a ledger directory with the public key only: what auditors and the commands that
//! only read (`fos audit show|prove|export`, `fos gate list`) use, so they never need the signing key and
//! never write.
//!
//! - [`LedgerView::open`] checks what [`crate::Ledger::open`] checks — every checkpoint's form, origin
//!   and order, every checkpoint's root against the records, and here *every* signature — but repairs
//!   nothing: an unacknowledged tail after the last checkpoint (what a crash mid-append leaves) is ignored,
//!   not truncated, and anything else wrong is [`LedgerError::Corrupt`] naming the file, offset and record.
//!   It then serves the committed records with inclusion and consistency proofs and offline
//!   [`InclusionBundle`]s, like a [`crate::Ledger`].
//! - [`read_records`] reads every whole frame of `records.log`, committed or not, damaged or not, with its
//!   byte offset and whether its CRC matches, so an audit can also check what the records *say*
//!   (`fos audit verify`), whatever [`crate::verify_dir`] found.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use ed25519_dalek::VerifyingKey;

use crate::bundle::InclusionBundle;
use crate::checkpoint::SignedCheckpoint;
use crate::error::{LedgerError, Result};
use crate::format::{decode_frame, record_leaf_hash, FrameReader, Next, CHECKPOINTS_FILE, HEADER_LEN, MAX_RECORD_LEN, RECORDS_FILE, RECORDS_MAGIC};
use crate::log::read_at;
use crate::merkle::{Hash, MerkleTree};
use crate::verify::{scan_checkpoints, scan_records, Index, Problem, ProblemKind, Signatures};

/// A ledger directory opened read-only (see the module docs).
#[derive(Debug)]
pub struct LedgerView {
    dir: PathBuf,
    records_path: PathBuf,
    records: Option<File>,
    records_end: u64,
    index: Index,
    checkpoints: Vec<SignedCheckpoint>,
    key: VerifyingKey,
}

impl LedgerView {
    /// Opens `dir` read-only, checking every signature with `key` and every root against the records.
    pub fn open(dir: impl AsRef<Path>, key: &VerifyingKey) -> Result<LedgerView> {
        let dir = dir.as_ref().to_path_buf();
        let records_path = dir.join(RECORDS_FILE);
        let cps = scan_checkpoints(&dir.join(CHECKPOINTS_FILE), key, None, Signatures::All)?;
        if let Some(p) = cps.problems.into_iter().next() {
            return Err(p.into());
        }
        let mut index = Index::default();
        let recs = scan_records(&records_path, &cps.entries, &mut index)?;
        if let Some(p) = recs.problems.into_iter().next() {
            return Err(p.into());
        }
        let records_end = match recs.tail {
            Some(t) => t.offset,
            None => std::fs::metadata(&records_path).map(|m| m.len()).unwrap_or(HEADER_LEN),
        };
        let records = if index.tree.is_empty() {
            None
        } else {
            Some(File::open(&records_path).map_err(|e| LedgerError::io(&records_path, "open", 0, e))?)
        };
        let checkpoints = cps.entries.into_iter().map(|e| e.signed).collect();
        Ok(LedgerView { dir, records_path, records, records_end, index, checkpoints, key: *key })
    }

    /// Number of committed records.
    pub fn len(&self) -> u64 {
        self.index.tree.len()
    }

    /// Whether it holds no committed record.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Reads committed record `index`, checking its CRC and its leaf hash.
    pub fn get(&self, index: u64) -> Result<Vec<u8>> {
        let len = self.len();
        let i = usize::try_from(index).ok().filter(|&i| i < self.index.offsets.len());
        let (Some(i), Some(file)) = (i, self.records.as_ref()) else { return Err(LedgerError::NoSuchRecord { index, len }) };
        let start = self.index.offsets[i];
        let end = self.index.offsets.get(i + 1).copied().unwrap_or(self.records_end);
        let mut buf = vec![0u8; usize::try_from(end - start).unwrap_or(0)];
        read_at(file, &mut buf, start).map_err(|e| LedgerError::io(&self.records_path, "read", start, e))?;
        let changed = |kind, detail: &str| {
            LedgerError::from(Problem {
                file: self.records_path.clone(),
                offset: Some(start),
                record: Some(index),
                checkpoint: None,
                kind,
                detail: detail.to_owned(),
            })
        };
        let Some(payload) = decode_frame(&buf) else {
            return Err(changed(ProblemKind::BadChecksum, "the record's frame changed on disk since the ledger was opened"));
        };
        if Some(record_leaf_hash(payload)) != self.index.tree.leaf_hash(index) {
            return Err(changed(ProblemKind::RootMismatch, "the record changed on disk since the ledger was opened"));
        }
        Ok(payload.to_vec())
    }

    /// The leaf hash of committed record `index`.
    pub fn leaf_hash(&self, index: u64) -> Result<Hash> {
        self.index.tree.leaf_hash(index).ok_or(LedgerError::NoSuchRecord { index, len: self.len() })
    }

    /// Every checkpoint, in order (all signatures verified).
    pub fn checkpoints(&self) -> &[SignedCheckpoint] {
        &self.checkpoints
    }

    /// The last checkpoint (`None` for an empty ledger).
    pub fn latest_checkpoint(&self) -> Option<&SignedCheckpoint> {
        self.checkpoints.last()
    }

    /// Inclusion proof of record `index` in the tree of `size` records.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>> {
        Ok(self.index.tree.inclusion_proof(index, size)?)
    }

    /// Consistency proof from the tree of `old` records to the tree of `new` records.
    pub fn consistency_proof(&self, old: u64, new: u64) -> Result<Vec<Hash>> {
        Ok(self.index.tree.consistency_proof(old, new)?)
    }

    /// An offline-verifiable bundle proving record `index` under the latest checkpoint.
    pub fn inclusion_bundle(&self, index: u64) -> Result<InclusionBundle> {
        let Some(cp) = self.checkpoints.last() else { return Err(LedgerError::NoSuchRecord { index, len: 0 }) };
        let record = self.get(index)?;
        let proof = self.inclusion_proof(index, cp.size())?;
        Ok(InclusionBundle::new(index, &record, cp, &proof, &self.key))
    }

    /// The Merkle tree of the committed records.
    pub fn tree(&self) -> &MerkleTree {
        &self.index.tree
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The key the checkpoints verify with.
    pub fn verifying_key(&self) -> VerifyingKey {
        self.key
    }
}

/// A frame of `records.log` as [`read_records`] finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    /// Its position (0-based) among the frames.
    pub index: u64,
    /// Byte offset of its frame.
    pub offset: u64,
    /// The payload.
    pub bytes: Vec<u8>,
    /// Whether the frame's CRC matches.
    pub crc_ok: bool,
}

/// Reads every whole frame of `dir/records.log` in order, stopping at the first that cannot be framed
/// (see the module docs). `Err`: the file cannot be read or its header is wrong.
pub fn read_records(dir: impl AsRef<Path>) -> std::result::Result<Vec<StoredRecord>, Problem> {
    let path = dir.as_ref().join(RECORDS_FILE);
    let unreadable = |offset: u64, e: std::io::Error| Problem {
        file: path.clone(),
        offset: Some(offset),
        record: None,
        checkpoint: None,
        kind: ProblemKind::Unreadable,
        detail: e.to_string(),
    };
    let f = File::open(&path).map_err(|e| unreadable(0, e))?;
    let len = f.metadata().map_err(|e| unreadable(0, e))?.len();
    let mut r = BufReader::new(f);
    let mut head = [0u8; 8];
    if len < HEADER_LEN || std::io::Read::read_exact(&mut r, &mut head).is_err() || &head != RECORDS_MAGIC {
        return Err(Problem {
            file: path.clone(),
            offset: Some(0),
            record: None,
            checkpoint: None,
            kind: ProblemKind::BadHeader,
            detail: "the file does not start with the records header".into(),
        });
    }
    let mut frames = FrameReader::new(r, HEADER_LEN, len, MAX_RECORD_LEN);
    let mut out = Vec::new();
    loop {
        let at = frames.offset();
        match frames.next_frame().map_err(|e| unreadable(at, e))? {
            Next::Frame { offset, payload, crc_ok } => {
                out.push(StoredRecord { index: out.len() as u64, offset, bytes: payload, crc_ok });
            }
            Next::End | Next::Torn { .. } | Next::TooLong { .. } => return Ok(out),
        }
    }
}
