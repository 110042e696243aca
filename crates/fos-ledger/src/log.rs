//! The ledger directory: [`Ledger`] appends records durably under signed checkpoints, serves them with
//! proofs, and recovers from a crash mid-append.
//!
//! # Directory
//!
//! `records.log` and `checkpoints.log` (layout in the crate docs), nothing else: no index, no cache.
//! Everything the ledger keeps in memory (the Merkle tree, record offsets) is rebuilt from those two files
//! at [`Ledger::open`], so every byte in the directory is either a committed record or a signed
//! checkpoint, and any altered byte is evidence of damage or tampering ([`crate::verify_dir`] finds it).
//!
//! # Appending
//!
//! [`Ledger::append_batch`] writes the batch's records to `records.log` and fsyncs it, then signs a
//! checkpoint of the new tree size and root, appends it to `checkpoints.log` and fsyncs that: two fsyncs
//! per batch whatever its length. It returns only then; a [`Receipt`] is an acknowledgement that the
//! records are durable and committed. Every batch has its checkpoint, so checkpoint sizes strictly
//! increase; timestamps never decrease (a clock stepping back reuses the previous timestamp).
//!
//! A failed write is rolled back (both files truncated to their previous length) and reported; after a
//! failed fsync, or a rollback that fails, the ledger refuses appends until it is opened again, because the
//! state of the files is then unknown ([`LedgerError::Poisoned`]).
//!
//! # Opening and crash recovery
//!
//! [`Ledger::open`] reads both files, checks every checkpoint's form, origin and order, the last one's
//! signature, and every checkpoint's root against the tree rebuilt from the records. A crash mid-append
//! leaves records after the last checkpoint's size, and possibly a cut or zero-filled last checkpoint
//! frame: those were never acknowledged, so they are truncated and reported in [`Recovery`]. Anything else
//! wrong is [`LedgerError::Corrupt`], naming the file, byte offset, record or checkpoint; nothing else is
//! ever repaired. Only the last checkpoint's signature is checked at open (one Ed25519 verification, not one
//! per batch); [`crate::verify_dir`] checks them all.
//!
//! One process must own a ledger directory at a time; the ledger takes no lock.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use ed25519_dalek::{SigningKey, VerifyingKey};

use crate::bundle::InclusionBundle;
use crate::checkpoint::{key_id, validate_origin, Checkpoint, SignedCheckpoint};
use crate::error::{LedgerError, Result};
use crate::format::{
    decode_frame, encode_frame, record_leaf_hash, CHECKPOINTS_FILE, CHECKPOINTS_MAGIC, HEADER_LEN, MAX_RECORD_LEN,
    RECORDS_FILE, RECORDS_MAGIC,
};
use crate::merkle::{hex, Hash, MerkleTree};
use crate::verify::{scan_checkpoints, scan_records, Index, Problem, ProblemKind, Signatures};

/// What [`Ledger::open`] found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Recovery {
    /// The directory or its files were created by this open.
    pub created: bool,
    /// Committed records found.
    pub records: u64,
    /// Checkpoints found.
    pub checkpoints: u64,
    /// Whole records found after the last checkpoint's size and truncated: appended, never acknowledged.
    pub truncated_records: u64,
    /// Bytes cut from the end of `records.log` (those records and any cut frame).
    pub truncated_record_bytes: u64,
    /// Bytes cut from the end of `checkpoints.log` (a cut or zero-filled checkpoint frame).
    pub truncated_checkpoint_bytes: u64,
    /// A file header cut by a crash while the ledger was being created was rewritten.
    pub repaired_header: bool,
}

impl Recovery {
    /// Whether the directory was found exactly as a completed append leaves it (nothing truncated or
    /// repaired).
    pub fn is_clean(&self) -> bool {
        self.truncated_record_bytes == 0 && self.truncated_checkpoint_bytes == 0 && !self.repaired_header
    }
}

impl fmt::Display for Recovery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} records under {} checkpoints", self.records, self.checkpoints)?;
        if self.created {
            write!(f, ", created")?;
        }
        if self.truncated_record_bytes > 0 {
            write!(
                f,
                ", truncated {} unacknowledged record(s) ({} bytes) after the last checkpoint",
                self.truncated_records, self.truncated_record_bytes
            )?;
        }
        if self.truncated_checkpoint_bytes > 0 {
            write!(f, ", truncated a cut checkpoint frame ({} bytes)", self.truncated_checkpoint_bytes)?;
        }
        if self.repaired_header {
            write!(f, ", rewrote a file header cut at creation")?;
        }
        Ok(())
    }
}

/// Proof that a record is durable and committed: its index and the signed checkpoint of its batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// The record's index (0-based).
    pub index: u64,
    /// Its RFC 9162 leaf hash.
    pub leaf_hash: Hash,
    /// The checkpoint written with its batch (shared by the batch's receipts).
    pub checkpoint: Arc<SignedCheckpoint>,
}

/// A clock in Unix milliseconds.
type Clock = Box<dyn Fn() -> u64 + Send + Sync>;

fn system_clock() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// An open ledger directory (see the module docs).
pub struct Ledger {
    dir: PathBuf,
    origin: String,
    key: SigningKey,
    records: File,
    records_path: PathBuf,
    /// End of the last committed record.
    records_len: u64,
    checkpoints: File,
    checkpoints_path: PathBuf,
    /// End of the last checkpoint frame.
    checkpoints_len: u64,
    checkpoint_count: u64,
    index: Index,
    latest: Option<Arc<SignedCheckpoint>>,
    clock: Clock,
    poisoned: Option<String>,
}

impl fmt::Debug for Ledger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ledger")
            .field("dir", &self.dir)
            .field("origin", &self.origin)
            .field("key_id", &hex(&key_id(&self.origin, &self.key.verifying_key())))
            .field("records", &self.len())
            .field("checkpoints", &self.checkpoint_count)
            .field("poisoned", &self.poisoned)
            .finish_non_exhaustive()
    }
}

#[cfg(unix)]
pub(crate) fn read_at(f: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(f, buf, offset)
}

#[cfg(unix)]
fn write_at(f: &File, buf: &[u8], offset: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::write_all_at(f, buf, offset)
}

#[cfg(not(unix))]
pub(crate) fn read_at(mut f: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    // Not atomic with respect to other readers of the same `File`; FOS runs on Unix.
    f.seek(SeekFrom::Start(offset))?;
    f.read_exact(buf)
}

#[cfg(not(unix))]
fn write_at(mut f: &File, buf: &[u8], offset: u64) -> io::Result<()> {
    use std::io::{Seek, SeekFrom, Write};
    f.seek(SeekFrom::Start(offset))?;
    f.write_all(buf)
}

/// Makes a directory entry (a created file or directory) durable.
fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| LedgerError::io(dir, "fsync directory", 0, e))?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

fn file_len(path: &Path) -> Result<Option<u64>> {
    match fs::metadata(path) {
        Ok(m) => Ok(Some(m.len())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(LedgerError::io(path, "stat", 0, e)),
    }
}

/// Writes a fresh file that holds only `magic`, durably (the caller syncs the directory).
fn write_header(path: &Path, magic: &[u8; 8]) -> Result<()> {
    let f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .map_err(|e| LedgerError::io(path, "create", 0, e))?;
    write_at(&f, magic, 0).and_then(|()| f.sync_all()).map_err(|e| LedgerError::io(path, "write header", 0, e))
}

fn open_rw(path: &Path) -> Result<File> {
    OpenOptions::new().read(true).write(true).open(path).map_err(|e| LedgerError::io(path, "open", 0, e))
}

fn truncate(f: &File, path: &Path, len: u64) -> Result<()> {
    f.set_len(len).and_then(|()| f.sync_all()).map_err(|e| LedgerError::io(path, "truncate", len, e))
}

impl Ledger {
    /// Opens (or creates) the ledger in `dir`, signing new checkpoints with `key` under the name `origin`
    /// (e.g. `fos/<site>`), timestamped by the system clock. See the module docs for what is checked and
    /// what is recovered; the [`Recovery`] says what was found and truncated, for the caller to log.
    pub fn open(dir: impl AsRef<Path>, key: SigningKey, origin: &str) -> Result<(Self, Recovery)> {
        Self::open_with_clock(dir, key, origin, system_clock)
    }

    /// [`Self::open`] with an injected clock (Unix milliseconds) for checkpoint timestamps.
    pub fn open_with_clock(
        dir: impl AsRef<Path>,
        key: SigningKey,
        origin: &str,
        clock: impl Fn() -> u64 + Send + Sync + 'static,
    ) -> Result<(Self, Recovery)> {
        validate_origin(origin)?;
        let dir = dir.as_ref().to_path_buf();
        let mut recovery = Recovery::default();
        let records_path = dir.join(RECORDS_FILE);
        let checkpoints_path = dir.join(CHECKPOINTS_FILE);

        if !dir.exists() {
            fs::create_dir_all(&dir).map_err(|e| LedgerError::io(&dir, "create directory", 0, e))?;
            if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                sync_dir(parent)?;
            }
            recovery.created = true;
        }
        Self::prepare_files(&dir, &records_path, &checkpoints_path, &mut recovery)?;

        let verifying = key.verifying_key();
        let cps = scan_checkpoints(&checkpoints_path, &verifying, Some(origin), Signatures::Last)?;
        if let Some(p) = cps.problems.into_iter().next() {
            return Err(p.into());
        }
        let mut index = Index::default();
        let recs = scan_records(&records_path, &cps.entries, &mut index)?;
        if let Some(p) = recs.problems.into_iter().next() {
            return Err(p.into());
        }

        let records = open_rw(&records_path)?;
        let checkpoints = open_rw(&checkpoints_path)?;
        let mut records_len = HEADER_LEN;
        if let Some(tail) = recs.tail {
            truncate(&records, &records_path, tail.offset)?;
            recovery.truncated_records = tail.records;
            recovery.truncated_record_bytes = tail.bytes;
            records_len = tail.offset;
        } else if let Some(len) = file_len(&records_path)? {
            records_len = len;
        }
        let mut checkpoints_len = cps.file_len.max(HEADER_LEN);
        if let Some(torn) = cps.torn {
            truncate(&checkpoints, &checkpoints_path, torn.offset)?;
            recovery.truncated_checkpoint_bytes = torn.bytes;
            checkpoints_len = torn.offset;
        }
        recovery.records = index.tree.len();
        recovery.checkpoints = cps.entries.len() as u64;
        let latest = cps.entries.into_iter().last().map(|e| Arc::new(e.signed));
        let ledger = Self {
            dir,
            origin: origin.to_owned(),
            key,
            records,
            records_path,
            records_len,
            checkpoints,
            checkpoints_path,
            checkpoints_len,
            checkpoint_count: recovery.checkpoints,
            index,
            latest,
            clock: Box::new(clock),
            poisoned: None,
        };
        Ok((ledger, recovery))
    }

    /// Creates missing files, and rewrites headers cut by a crash during creation. Only a ledger that holds
    /// no record and no checkpoint can be in that state; anything else is left to the scan to report.
    fn prepare_files(dir: &Path, records: &Path, checkpoints: &Path, recovery: &mut Recovery) -> Result<()> {
        let rec_len = file_len(records)?;
        let cp_len = file_len(checkpoints)?;
        let empty = |len: Option<u64>| len.is_none_or(|l| l <= HEADER_LEN);
        if !(empty(rec_len) && empty(cp_len)) {
            for (path, len, other) in [(records, rec_len, checkpoints), (checkpoints, cp_len, records)] {
                let (kind, what) = match len {
                    None => (ProblemKind::Unreadable, "the file is missing"),
                    Some(l) if l < HEADER_LEN => (ProblemKind::BadHeader, "the file is cut inside its header"),
                    Some(_) => continue,
                };
                return Err(Problem {
                    file: path.to_path_buf(),
                    offset: Some(0),
                    record: None,
                    checkpoint: None,
                    kind,
                    detail: format!("{what} while {} holds data", other.display()),
                }
                .into());
            }
            return Ok(());
        }
        let mut wrote = false;
        for (path, len, magic) in [(records, rec_len, RECORDS_MAGIC), (checkpoints, cp_len, CHECKPOINTS_MAGIC)] {
            match len {
                Some(HEADER_LEN) => {}
                None => {
                    write_header(path, magic)?;
                    recovery.created = true;
                    wrote = true;
                }
                Some(l) => {
                    // Cut inside the header: rewrite it only if what is there is a prefix of it.
                    let mut head = vec![0u8; l as usize];
                    let f = File::open(path).map_err(|e| LedgerError::io(path, "open", 0, e))?;
                    read_at(&f, &mut head, 0).map_err(|e| LedgerError::io(path, "read header", 0, e))?;
                    if head.as_slice() == &magic[..head.len()] {
                        write_header(path, magic)?;
                        recovery.repaired_header = true;
                        wrote = true;
                    }
                }
            }
        }
        if wrote {
            sync_dir(dir)?;
        }
        Ok(())
    }

    /// Appends one record; see [`Self::append_batch`].
    pub fn append(&mut self, record: &[u8]) -> Result<Receipt> {
        let mut receipts = self.append_batch(&[record])?;
        receipts.pop().ok_or_else(|| LedgerError::Poisoned {
            dir: self.dir.clone(),
            reason: "a batch of one record produced no receipt".into(),
        })
    }

    /// Appends records as one batch under one new signed checkpoint, durably (two fsyncs), and returns a
    /// receipt per record once both files are synced. All or nothing: on error nothing of the batch is
    /// committed. An empty batch writes nothing and returns no receipt. Records are opaque bytes, at most
    /// [`MAX_RECORD_LEN`] each.
    pub fn append_batch<R: AsRef<[u8]>>(&mut self, records: &[R]) -> Result<Vec<Receipt>> {
        if let Some(reason) = &self.poisoned {
            return Err(LedgerError::Poisoned { dir: self.dir.clone(), reason: reason.clone() });
        }
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let total: usize = records.iter().map(|r| r.as_ref().len() + 8).sum();
        let mut buf = Vec::with_capacity(total);
        let mut offsets = Vec::with_capacity(records.len());
        let mut leaves = Vec::with_capacity(records.len());
        for (position, r) in records.iter().enumerate() {
            let r = r.as_ref();
            if r.len() > MAX_RECORD_LEN {
                return Err(LedgerError::RecordTooLarge { position, len: r.len(), max: MAX_RECORD_LEN });
            }
            offsets.push(self.records_len + buf.len() as u64);
            encode_frame(&mut buf, r);
            leaves.push(record_leaf_hash(r));
        }
        let (old_records_len, old_size) = (self.records_len, self.index.tree.len());

        // 1. The records, durable.
        if let Err(e) = write_at(&self.records, &buf, old_records_len) {
            self.roll_back(old_records_len, old_size, None);
            return Err(LedgerError::io(&self.records_path, "write records", old_records_len, e));
        }
        if let Err(e) = self.records.sync_data() {
            self.poison(format!("fsync of {} failed: {e}", self.records_path.display()));
            self.roll_back(old_records_len, old_size, None);
            return Err(LedgerError::io(&self.records_path, "fsync", old_records_len, e));
        }

        // 2. The checkpoint of the new tree.
        for h in &leaves {
            self.index.tree.push(*h);
        }
        let previous_ts = self.latest.as_ref().map_or(0, |c| c.timestamp_ms());
        let cp = Checkpoint {
            origin: self.origin.clone(),
            size: self.index.tree.len(),
            root: self.index.tree.root(),
            timestamp_ms: (self.clock)().max(previous_ts),
        };
        let signed = match cp.sign(&self.key) {
            Ok(s) => s,
            Err(e) => {
                self.roll_back(old_records_len, old_size, None);
                return Err(e.into());
            }
        };
        let mut frame = Vec::with_capacity(signed.text().len() + 8);
        encode_frame(&mut frame, signed.text().as_bytes());

        // 3. The checkpoint, durable.
        let at = self.checkpoints_len;
        if let Err(e) = write_at(&self.checkpoints, &frame, at) {
            self.roll_back(old_records_len, old_size, Some(at));
            return Err(LedgerError::io(&self.checkpoints_path, "write checkpoint", at, e));
        }
        if let Err(e) = self.checkpoints.sync_data() {
            self.poison(format!("fsync of {} failed: {e}", self.checkpoints_path.display()));
            self.roll_back(old_records_len, old_size, Some(at));
            return Err(LedgerError::io(&self.checkpoints_path, "fsync", at, e));
        }

        // 4. Committed.
        self.records_len += buf.len() as u64;
        self.checkpoints_len += frame.len() as u64;
        self.checkpoint_count += 1;
        self.index.offsets.extend_from_slice(&offsets);
        let signed = Arc::new(signed);
        self.latest = Some(Arc::clone(&signed));
        Ok(leaves
            .into_iter()
            .enumerate()
            .map(|(i, leaf_hash)| Receipt {
                index: old_size + i as u64,
                leaf_hash,
                checkpoint: Arc::clone(&signed),
            })
            .collect())
    }

    fn poison(&mut self, reason: String) {
        if self.poisoned.is_none() {
            self.poisoned = Some(reason);
        }
    }

    /// Undoes a failed append: the tree, and both files back to their committed length.
    fn roll_back(&mut self, records_len: u64, size: u64, checkpoints_len: Option<u64>) {
        self.index.tree.truncate(size);
        if let Err(e) = self.records.set_len(records_len) {
            self.poison(format!("rolling back {} to byte {records_len} failed: {e}", self.records_path.display()));
        }
        if let Some(len) = checkpoints_len {
            if let Err(e) = self.checkpoints.set_len(len) {
                self.poison(format!("rolling back {} to byte {len} failed: {e}", self.checkpoints_path.display()));
            }
        }
    }

    /// Reads record `index` back, checking its CRC and that it still hashes to its leaf in the tree.
    pub fn get(&self, index: u64) -> Result<Vec<u8>> {
        let len = self.len();
        let i = usize::try_from(index).ok().filter(|&i| i < self.index.offsets.len());
        let Some(i) = i else { return Err(LedgerError::NoSuchRecord { index, len }) };
        let start = self.index.offsets[i];
        let end = self.index.offsets.get(i + 1).copied().unwrap_or(self.records_len);
        let mut buf = vec![0u8; (end - start) as usize];
        read_at(&self.records, &mut buf, start).map_err(|e| LedgerError::io(&self.records_path, "read", start, e))?;
        let changed = |kind, detail: String| {
            LedgerError::from(Problem {
                file: self.records_path.clone(),
                offset: Some(start),
                record: Some(index),
                checkpoint: None,
                kind,
                detail,
            })
        };
        let Some(payload) = decode_frame(&buf) else {
            return Err(changed(ProblemKind::BadChecksum, "the record's frame changed on disk since the ledger was opened".into()));
        };
        if Some(record_leaf_hash(payload)) != self.index.tree.leaf_hash(index) {
            return Err(changed(ProblemKind::RootMismatch, "the record changed on disk since the ledger was opened".into()));
        }
        Ok(payload.to_vec())
    }

    /// Number of committed records.
    pub fn len(&self) -> u64 {
        self.index.tree.len()
    }

    /// Whether the ledger holds no record.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The checkpoint of the last batch (`None` for an empty ledger).
    pub fn latest_checkpoint(&self) -> Option<&Arc<SignedCheckpoint>> {
        self.latest.as_ref()
    }

    /// Number of checkpoints (= batches appended).
    pub fn checkpoint_count(&self) -> u64 {
        self.checkpoint_count
    }

    /// The root of all committed records.
    pub fn root(&self) -> Hash {
        self.index.tree.root()
    }

    /// The root the ledger had at `size` records.
    pub fn root_at(&self, size: u64) -> Result<Hash> {
        Ok(self.index.tree.root_at(size)?)
    }

    /// The leaf hash of record `index`.
    pub fn leaf_hash(&self, index: u64) -> Result<Hash> {
        self.index.tree.leaf_hash(index).ok_or(LedgerError::NoSuchRecord { index, len: self.len() })
    }

    /// Inclusion proof of record `index` in the tree of `size` records (check it with
    /// [`crate::verify_inclusion`] against a checkpoint of that size).
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>> {
        Ok(self.index.tree.inclusion_proof(index, size)?)
    }

    /// Consistency proof from the tree of `old` records to the tree of `new` records (check it with
    /// [`crate::verify_consistency`] against two checkpoints).
    pub fn consistency_proof(&self, old: u64, new: u64) -> Result<Vec<Hash>> {
        Ok(self.index.tree.consistency_proof(old, new)?)
    }

    /// An offline-verifiable bundle proving record `index` is in the log under the latest checkpoint.
    pub fn inclusion_bundle(&self, index: u64) -> Result<InclusionBundle> {
        let Some(cp) = &self.latest else { return Err(LedgerError::NoSuchRecord { index, len: 0 }) };
        let record = self.get(index)?;
        let proof = self.inclusion_proof(index, cp.size())?;
        Ok(InclusionBundle::new(index, &record, cp, &proof, &self.key.verifying_key()))
    }

    /// The in-memory Merkle tree of the committed records.
    pub fn tree(&self) -> &MerkleTree {
        &self.index.tree
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The origin (log name, key name).
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The public key that verifies this ledger's checkpoints.
    pub fn verifying_key(&self) -> VerifyingKey {
        self.key.verifying_key()
    }
}
