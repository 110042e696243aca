//! Reading a ledger directory back and checking all of it: [`verify_dir`], the offline audit, and the scan
//! that [`crate::Ledger::open`] shares with it.
//!
//! The audit needs the public key only and writes nothing. It re-reads every byte of both files, recomputes
//! the Merkle tree (in `O(log n)` memory, so a log larger than RAM can be audited), and reports every
//! [`Problem`] it can tell apart, each naming the file, the byte offset, the record index or checkpoint
//! number where there is one, and what is wrong:
//!
//! - a damaged header or frame, or a frame whose CRC does not match (bit rot, or an edit that did not
//!   bother to fix the CRC);
//! - a checkpoint that does not parse, is not signed by the key, names another origin, does not grow the
//!   log, or goes back in time;
//! - a checkpoint whose root differs from the root recomputed from the records at its size (an edited,
//!   swapped, inserted or removed record, even with its CRC fixed), reported for the first such checkpoint
//!   with the range of records it covers;
//! - fewer records than the last checkpoint commits (a truncated or shortened `records.log`);
//! - bytes after the last checkpoint's records, or a cut checkpoint frame: what a crash mid-append leaves
//!   and [`crate::Ledger::open`] truncates, reported here because an audit must see a clean directory.
//!
//! What one directory cannot show: the removal of whole trailing batches together with their checkpoints
//! (a rollback to an earlier, consistent state). Checkpoints kept outside the directory (receipts, proof
//! bundles, a witness) catch that: their size and root must still be provable against the directory.

use std::fmt;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use ed25519_dalek::VerifyingKey;

use crate::checkpoint::SignedCheckpoint;
use crate::format::{
    record_leaf_hash, FrameReader, Next, CHECKPOINTS_FILE, CHECKPOINTS_MAGIC, FRAME_HEADER_LEN, HEADER_LEN,
    MAX_CHECKPOINT_LEN, MAX_RECORD_LEN, RECORDS_FILE, RECORDS_MAGIC,
};
use crate::merkle::{hex, Frontier, Hash, MerkleTree};

/// What kind of problem a [`Problem`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProblemKind {
    /// A file is missing or cannot be read.
    Unreadable,
    /// A file does not start with its format header.
    BadHeader,
    /// A frame's length is impossible: the rest of the file cannot be framed.
    BadFrame,
    /// A frame's CRC does not match its bytes.
    BadChecksum,
    /// A checkpoint note does not parse as a FOS checkpoint.
    MalformedCheckpoint,
    /// A checkpoint's signature does not verify with the key.
    BadSignature,
    /// A checkpoint names another origin than the others (or than the one the ledger was opened with).
    WrongOrigin,
    /// A checkpoint's size is not larger than the previous one's.
    SizeNotIncreasing,
    /// A checkpoint's timestamp is earlier than the previous one's.
    TimeGoesBack,
    /// The root recomputed from the records differs from the signed one.
    RootMismatch,
    /// `records.log` holds fewer records than the last checkpoint commits.
    MissingRecords,
    /// Bytes after the last committed record (an unacknowledged append, or added records).
    UncommittedTail,
    /// The last checkpoint frame is cut short or zero-filled (a crash mid-append).
    TornCheckpoint,
}

impl fmt::Display for ProblemKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Unreadable => "unreadable",
            Self::BadHeader => "bad header",
            Self::BadFrame => "bad frame",
            Self::BadChecksum => "bad checksum",
            Self::MalformedCheckpoint => "malformed checkpoint",
            Self::BadSignature => "bad signature",
            Self::WrongOrigin => "wrong origin",
            Self::SizeNotIncreasing => "size not increasing",
            Self::TimeGoesBack => "time goes back",
            Self::RootMismatch => "root mismatch",
            Self::MissingRecords => "missing records",
            Self::UncommittedTail => "uncommitted tail",
            Self::TornCheckpoint => "torn checkpoint",
        })
    }
}

/// One thing wrong in a ledger directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file it is in.
    pub file: PathBuf,
    /// Byte offset in `file`, where there is one.
    pub offset: Option<u64>,
    /// The record index (0-based) concerned, where there is one.
    pub record: Option<u64>,
    /// The checkpoint number (0-based position in `checkpoints.log`) concerned, where there is one.
    pub checkpoint: Option<u64>,
    /// What kind of problem.
    pub kind: ProblemKind,
    /// What exactly is wrong.
    pub detail: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(o) = self.offset {
            write!(f, " at byte {o}")?;
        }
        if let Some(r) = self.record {
            write!(f, ", record {r}")?;
        }
        if let Some(c) = self.checkpoint {
            write!(f, ", checkpoint #{c}")?;
        }
        write!(f, ": {}: {}", self.kind, self.detail)
    }
}

/// The result of [`verify_dir`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VerifyReport {
    /// Records read and hashed (committed ones and any tail).
    pub records: u64,
    /// Checkpoint frames read.
    pub checkpoints: u64,
    /// Size of the last checkpoint whose root matched the records (0 if none); its signature is reported
    /// among the problems if it does not verify.
    pub verified_size: u64,
    /// Everything wrong, in file order (checkpoints first). Empty for an intact ledger.
    pub problems: Vec<Problem>,
}

impl VerifyReport {
    /// Whether nothing is wrong.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }

    /// Whether some problem is of `kind`.
    pub fn has(&self, kind: ProblemKind) -> bool {
        self.problems.iter().any(|p| p.kind == kind)
    }
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_ok() {
            return write!(
                f,
                "ledger intact: {} records, {} checkpoints, all signatures and roots verified",
                self.records, self.checkpoints
            );
        }
        write!(f, "{} problem(s):", self.problems.len())?;
        for p in &self.problems {
            write!(f, "\n  {p}")?;
        }
        Ok(())
    }
}

/// Audits the ledger in `dir` with the public key only, writing nothing (see the module docs). All
/// checkpoints must be signed by `key` under one origin.
pub fn verify_dir(dir: impl AsRef<Path>, key: &VerifyingKey) -> VerifyReport {
    let dir = dir.as_ref();
    let cp_path = dir.join(CHECKPOINTS_FILE);
    let rec_path = dir.join(RECORDS_FILE);
    let mut report = VerifyReport::default();

    let cps = match scan_checkpoints(&cp_path, key, None, Signatures::All) {
        Ok(s) => s,
        Err(p) => {
            report.problems.push(p);
            CheckpointScan::default()
        }
    };
    report.checkpoints = cps.frames;
    report.problems.extend(cps.problems.iter().cloned());
    if let Some(t) = &cps.torn {
        report.problems.push(t.problem.clone());
    }
    let mut frontier = Frontier::new();
    match scan_records(&rec_path, &cps.entries, &mut frontier) {
        Ok(r) => {
            report.records = r.records + r.tail.as_ref().map_or(0, |t| t.records);
            report.verified_size = r.verified_size;
            report.problems.extend(r.problems);
            if let Some(t) = r.tail {
                report.problems.push(t.problem);
            }
        }
        Err(p) => report.problems.push(p),
    }
    report
}

/// Which checkpoint signatures a scan checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Signatures {
    /// Every one (the audit).
    All,
    /// The last one only (opening: the roots of all are still checked against the records).
    Last,
}

/// A parsed checkpoint frame.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    /// Position in the file (0-based).
    pub(crate) number: u64,
    /// Byte offset of its frame.
    pub(crate) offset: u64,
    /// The checkpoint (signature checked only as [`Signatures`] says).
    pub(crate) signed: SignedCheckpoint,
}

/// A cut frame at the end of a file.
#[derive(Debug, Clone)]
pub(crate) struct Torn {
    /// Where the cut frame starts: the length to truncate the file to.
    pub(crate) offset: u64,
    /// Bytes from `offset` to the end of the file.
    pub(crate) bytes: u64,
    /// How the audit reports it.
    pub(crate) problem: Problem,
}

/// What [`scan_checkpoints`] found.
#[derive(Debug, Default)]
pub(crate) struct CheckpointScan {
    /// Frames read (parsed or not).
    pub(crate) frames: u64,
    /// Parsed checkpoints, in file order.
    pub(crate) entries: Vec<Entry>,
    /// A cut last frame, if any.
    pub(crate) torn: Option<Torn>,
    /// File length.
    pub(crate) file_len: u64,
    /// Everything else wrong.
    pub(crate) problems: Vec<Problem>,
}

fn problem(file: &Path, offset: Option<u64>, kind: ProblemKind, detail: String) -> Problem {
    Problem { file: file.to_path_buf(), offset, record: None, checkpoint: None, kind, detail }
}

fn unreadable(file: &Path, offset: u64, e: &io::Error) -> Problem {
    problem(file, Some(offset), ProblemKind::Unreadable, e.to_string())
}

/// Opens a file and checks its header. `Ok(None)`: the file holds only a (possibly partial) prefix of its
/// header, as a crash while creating the ledger leaves.
fn open_checked(path: &Path, magic: &[u8; 8]) -> Result<Option<(File, u64)>, Problem> {
    let mut f = File::open(path).map_err(|e| unreadable(path, 0, &e))?;
    let len = f.metadata().map_err(|e| unreadable(path, 0, &e))?.len();
    let mut head = vec![0u8; len.min(HEADER_LEN) as usize];
    f.read_exact(&mut head).map_err(|e| unreadable(path, 0, &e))?;
    if head.as_slice() != &magic[..head.len()] {
        return Err(problem(
            path,
            Some(0),
            ProblemKind::BadHeader,
            format!("the file starts with {:?}, not the header {:?}", String::from_utf8_lossy(&head), std::str::from_utf8(magic).unwrap_or("?")),
        ));
    }
    if len < HEADER_LEN {
        return Ok(None);
    }
    Ok(Some((f, len)))
}

/// Whether the bytes of `path` from `offset` to the end are all zero (a crash can leave a zero-filled tail).
fn zero_tail(path: &Path, offset: u64) -> bool {
    let Ok(f) = File::open(path) else { return false };
    let mut r = BufReader::new(f);
    if io::copy(&mut r.by_ref().take(offset), &mut io::sink()).ok() != Some(offset) {
        return false;
    }
    let mut buf = [0u8; 8192];
    loop {
        match r.read(&mut buf) {
            Ok(0) => return true,
            Ok(n) if buf[..n].iter().all(|&b| b == 0) => {}
            _ => return false,
        }
    }
}

/// Whether the bytes of `path` from the frame at `offset` to the end can be what a crash leaves of one
/// appended checkpoint frame: a cut header, or a header and the start of a note. A note has no control
/// character but newlines, while every frame header has zero bytes (lengths are far below 2^24), so a
/// frame whose damaged length runs over later frames to the end of the file is not taken for a cut one.
fn cut_note(path: &Path, offset: u64) -> bool {
    let Ok(f) = File::open(path) else { return false };
    let mut r = BufReader::new(f);
    let skip = offset + FRAME_HEADER_LEN;
    if io::copy(&mut r.by_ref().take(skip), &mut io::sink()).ok() != Some(skip) {
        return true; // only (part of) the header is there
    }
    let mut rest = Vec::new();
    if r.take(MAX_CHECKPOINT_LEN as u64 + 1).read_to_end(&mut rest).is_err() {
        return false;
    }
    rest.iter().all(|&b| b == b'\n' || (b >= 0x20 && b != 0x7f))
}

/// Reads and checks every frame of `checkpoints.log`. `origin`: the origin every checkpoint must name
/// (`None`: the first one's). `Err`: the file cannot be read or has a bad header.
pub(crate) fn scan_checkpoints(
    path: &Path,
    key: &VerifyingKey,
    origin: Option<&str>,
    signatures: Signatures,
) -> Result<CheckpointScan, Problem> {
    let mut scan = CheckpointScan::default();
    let Some((f, len)) = open_checked(path, CHECKPOINTS_MAGIC)? else {
        return Ok(scan);
    };
    scan.file_len = len;
    let mut frames = FrameReader::new(BufReader::new(f), HEADER_LEN, len, MAX_CHECKPOINT_LEN);
    let mut origin: Option<String> = origin.map(str::to_owned);
    let mut prev: Option<(u64, u64)> = None; // size, timestamp of the previous parsed checkpoint
    loop {
        let at = frames.offset();
        let number = scan.frames;
        let report = |problems: &mut Vec<Problem>, kind, detail: String| {
            problems.push(Problem { checkpoint: Some(number), ..problem(path, Some(at), kind, detail) })
        };
        let next = frames.next_frame().map_err(|e| unreadable(path, at, &e))?;
        let payload = match next {
            Next::End => break,
            Next::Torn { offset, have, need } => {
                if !cut_note(path, offset) {
                    report(
                        &mut scan.problems,
                        ProblemKind::BadFrame,
                        format!(
                            "the frame declares {need} bytes but only {have} remain, and they are not the start of one note (they hold frame headers): a damaged length, not a crash; nothing after it can be read"
                        ),
                    );
                    break;
                }
                let detail = format!(
                    "the last checkpoint frame is cut: {have} of its {need} bytes are present (a crash while appending; open() truncates it)"
                );
                let mut problem = problem(path, Some(offset), ProblemKind::TornCheckpoint, detail);
                problem.checkpoint = Some(number);
                scan.torn = Some(Torn { offset, bytes: have, problem });
                break;
            }
            Next::TooLong { offset, len: l } => {
                if zero_tail(path, offset) {
                    scan.torn = Some(zero_torn(path, offset, len, number));
                } else {
                    report(
                        &mut scan.problems,
                        ProblemKind::BadFrame,
                        format!("the frame declares {l} bytes, more than a checkpoint may have ({MAX_CHECKPOINT_LEN}); nothing after it can be read"),
                    );
                }
                break;
            }
            Next::Frame { offset, payload, crc_ok } => {
                if !crc_ok {
                    if zero_tail(path, offset) {
                        scan.torn = Some(zero_torn(path, offset, len, number));
                        break;
                    }
                    report(&mut scan.problems, ProblemKind::BadChecksum, "the frame's CRC does not match its bytes".into());
                }
                payload
            }
        };
        scan.frames += 1;
        let text = match String::from_utf8(payload) {
            Ok(t) => t,
            Err(e) => {
                report(&mut scan.problems, ProblemKind::MalformedCheckpoint, format!("the note is not UTF-8: {e}"));
                continue;
            }
        };
        let signed = match SignedCheckpoint::parse_unverified(&text) {
            Ok(s) => s,
            Err(e) => {
                report(&mut scan.problems, ProblemKind::MalformedCheckpoint, e.to_string());
                continue;
            }
        };
        match &origin {
            None => origin = Some(signed.origin().to_owned()),
            Some(o) if o != signed.origin() => {
                report(&mut scan.problems, ProblemKind::WrongOrigin, format!("origin {:?}, expected {o:?}", signed.origin()));
            }
            Some(_) => {}
        }
        if signatures == Signatures::All {
            if let Err(e) = signed.verify(key) {
                report(&mut scan.problems, ProblemKind::BadSignature, e.to_string());
            }
        }
        let (size, ts) = (signed.size(), signed.timestamp_ms());
        if let Some((psize, pts)) = prev {
            if size <= psize {
                report(&mut scan.problems, ProblemKind::SizeNotIncreasing, format!("size {size} after size {psize}"));
            }
            if ts < pts {
                report(&mut scan.problems, ProblemKind::TimeGoesBack, format!("timestamp {ts} ms after {pts} ms"));
            }
        } else if size == 0 {
            report(&mut scan.problems, ProblemKind::SizeNotIncreasing, "a checkpoint of size 0 commits nothing".into());
        }
        prev = Some((size, ts));
        scan.entries.push(Entry { number, offset: at, signed });
    }
    if signatures == Signatures::Last {
        if let Some(last) = scan.entries.last() {
            if let Err(e) = last.signed.verify(key) {
                scan.problems.push(Problem {
                    checkpoint: Some(last.number),
                    ..problem(
                        path,
                        Some(last.offset),
                        ProblemKind::BadSignature,
                        format!("{e} (or the ledger is opened with another key than it was written with)"),
                    )
                });
            }
        }
    }
    Ok(scan)
}

fn zero_torn(path: &Path, offset: u64, file_len: u64, number: u64) -> Torn {
    let bytes = file_len - offset;
    let mut p = problem(
        path,
        Some(offset),
        ProblemKind::TornCheckpoint,
        format!("the last {bytes} bytes are zeros where a checkpoint frame should be (a crash while appending; open() truncates them)"),
    );
    p.checkpoint = Some(number);
    Torn { offset, bytes, problem: p }
}

/// Where records go as they are read.
pub(crate) trait Accumulator {
    /// Takes record `index`'s leaf hash; `offset` is its frame's byte offset.
    fn push(&mut self, offset: u64, leaf: Hash);
    /// The root of the records taken so far.
    fn root(&self) -> Hash;
}

impl Accumulator for Frontier {
    fn push(&mut self, _offset: u64, leaf: Hash) {
        Frontier::push(self, leaf);
    }
    fn root(&self) -> Hash {
        Frontier::root(self)
    }
}

/// The tree and the frame offsets a [`crate::Ledger`] keeps.
#[derive(Debug, Default)]
pub(crate) struct Index {
    pub(crate) tree: MerkleTree,
    pub(crate) offsets: Vec<u64>,
}

impl Accumulator for Index {
    fn push(&mut self, offset: u64, leaf: Hash) {
        self.tree.push(leaf);
        self.offsets.push(offset);
    }
    fn root(&self) -> Hash {
        self.tree.root()
    }
}

/// Bytes after the last committed record.
#[derive(Debug)]
pub(crate) struct Tail {
    /// Offset of the first uncommitted byte: the length to truncate `records.log` to.
    pub(crate) offset: u64,
    /// Bytes in the tail.
    pub(crate) bytes: u64,
    /// Whole frames in it.
    pub(crate) records: u64,
    /// How the audit reports it.
    pub(crate) problem: Problem,
}

/// What [`scan_records`] found.
#[derive(Debug)]
pub(crate) struct RecordScan {
    /// Committed records read.
    pub(crate) records: u64,
    /// Size of the last checkpoint whose root matched the records.
    pub(crate) verified_size: u64,
    /// Bytes after the committed records.
    pub(crate) tail: Option<Tail>,
    /// Everything else wrong.
    pub(crate) problems: Vec<Problem>,
}

/// Reads `records.log` up to the size of the last checkpoint, feeding leaf hashes to `acc` and comparing
/// each checkpoint's root at its size; then measures what follows. `Err`: unreadable or bad header.
pub(crate) fn scan_records(
    path: &Path,
    entries: &[Entry],
    acc: &mut dyn Accumulator,
) -> Result<RecordScan, Problem> {
    let mut scan = RecordScan { records: 0, verified_size: 0, tail: None, problems: Vec::new() };
    let committed = entries.iter().map(|e| e.signed.size()).max().unwrap_or(0);
    let Some((f, len)) = open_checked(path, RECORDS_MAGIC)? else {
        if committed > 0 {
            scan.problems.push(missing(path, entries, 0, HEADER_LEN, committed));
        }
        return Ok(scan);
    };
    let mut frames = FrameReader::new(BufReader::new(f), HEADER_LEN, len, MAX_RECORD_LEN);
    let mut next_cp = 0; // entries[..next_cp] have been compared (or skipped)
    let mut prev_size = 0u64;
    let mut diverged: Option<u64> = None; // number of the first checkpoint whose root did not match
    let mut skipped = 0u64;
    loop {
        // Compare every checkpoint due at this size.
        while let Some(e) = entries.get(next_cp) {
            let size = e.signed.size();
            if size > scan.records {
                break;
            }
            next_cp += 1;
            if size < scan.records || (size <= prev_size && next_cp > 1) {
                continue; // out of order: reported by the checkpoint scan
            }
            if diverged.is_some() {
                skipped += 1;
                continue;
            }
            let root = acc.root();
            if &root == e.signed.root() {
                scan.verified_size = size;
            } else {
                diverged = Some(e.number);
                scan.problems.push(Problem {
                    file: path.to_path_buf(),
                    offset: None,
                    record: Some(prev_size),
                    checkpoint: Some(e.number),
                    kind: ProblemKind::RootMismatch,
                    detail: format!(
                        "records [{prev_size}, {size}) do not hash to the signed root of checkpoint #{}: signed {}, recomputed {} (a record in that range, or before it, was changed, swapped, inserted or removed)",
                        e.number,
                        hex(e.signed.root()),
                        hex(&root)
                    ),
                });
            }
            prev_size = size;
        }
        if scan.records == committed {
            break;
        }
        let at = frames.offset();
        let index = scan.records;
        match frames.next_frame().map_err(|e| unreadable(path, at, &e))? {
            Next::Frame { offset, payload, crc_ok } => {
                if !crc_ok {
                    scan.problems.push(Problem {
                        record: Some(index),
                        ..problem(path, Some(offset), ProblemKind::BadChecksum, format!("record {index}'s CRC does not match its {} bytes", payload.len()))
                    });
                }
                acc.push(offset, record_leaf_hash(&payload));
                scan.records += 1;
            }
            Next::End | Next::Torn { .. } => {
                scan.problems.push(missing(path, entries, index, at, committed));
                break;
            }
            Next::TooLong { offset, len: l } => {
                scan.problems.push(Problem {
                    record: Some(index),
                    ..problem(path, Some(offset), ProblemKind::BadFrame, format!("record {index} declares {l} bytes, more than a record may have ({MAX_RECORD_LEN}); nothing after it can be read"))
                });
                return Ok(scan);
            }
        }
    }
    if skipped > 0 {
        scan.problems.push(Problem {
            checkpoint: diverged,
            ..problem(
                path,
                None,
                ProblemKind::RootMismatch,
                format!("{skipped} later checkpoint(s) cover the same damaged records and were not compared"),
            )
        });
    }
    if scan.records == committed {
        let offset = frames.offset();
        if offset < len {
            let mut records = 0;
            while let Ok(Next::Frame { .. }) = frames.next_frame() {
                records += 1;
            }
            let bytes = len - offset;
            let detail = format!(
                "{bytes} bytes ({records} whole record(s)) follow the {committed} records the last checkpoint commits: appended without a checkpoint, or left by a crash mid-append (open() truncates them)"
            );
            let problem = Problem { record: Some(committed), ..problem(path, Some(offset), ProblemKind::UncommittedTail, detail) };
            scan.tail = Some(Tail { offset, bytes, records, problem });
        }
    }
    Ok(scan)
}

fn missing(path: &Path, entries: &[Entry], have: u64, at: u64, committed: u64) -> Problem {
    let number = entries.iter().find(|e| e.signed.size() == committed).map(|e| e.number);
    Problem {
        file: path.to_path_buf(),
        offset: Some(at),
        record: Some(have),
        checkpoint: number,
        kind: ProblemKind::MissingRecords,
        detail: format!(
            "the file ends after {have} whole records (byte {at}) but the last checkpoint commits {committed}: records were removed or the file was cut"
        ),
    }
}
