//! The writer: open with recovery, append, durability, rolling, quota, truncation.

use std::fs::{self, File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fos_keys::Key;

use crate::crypt::{Cipher, Sealer, OVERHEAD};
use crate::error::{is_no_space, Result, WalError};
use crate::format::{
    decode_segment_header, encode_record, encode_record_with, encode_sealed_header,
    encode_segment_header, header_len, parse_record, parse_segment_name, record_size,
    sealed_header_parts, segment_name, valid_record_after, Parsed, SegmentHeader, MAX_PAYLOAD,
    SEGMENT_HEADER,
};
use crate::reader::WalReader;
use crate::Seq;

/// When appended records are forced to stable storage (fdatasync).
///
/// Whatever the policy, every append is handed to the kernel before it returns, so a *process* crash
/// loses nothing appended; the policy decides what a *power loss* or kernel crash may lose, and so what
/// [`Wal::durable_seq`] reports as acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// fsync before every `append`/`append_batch` returns: each call is durable when it returns.
    Always,
    /// fsync once at least `n` records are unsynced.
    EveryN(u64),
    /// fsync on an append when the last fsync is at least this old. No background thread: call
    /// [`Wal::sync`] when the input goes idle, or the last records stay unacknowledged.
    Interval(Duration),
    /// Only [`Wal::sync`] (and segment rolls) fsync.
    Never,
}

/// `Always`: the pipeline appends one batch of samples per call, so one fsync per batch (thousands of
/// points) is cheap, and "acknowledged" then simply means "the append returned".
impl Default for FsyncPolicy {
    fn default() -> Self {
        FsyncPolicy::Always
    }
}

/// How a [`Wal`] is opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalOptions {
    /// A segment is closed (fsynced) and a new one started once the next record would take it past this
    /// many bytes. A record larger than this gets a segment of its own. Default 64 MiB.
    pub segment_bytes: u64,
    /// Disk quota over all segment files, headers included; `None` (the default) leaves only the file
    /// system's own limit. An append that would exceed it is refused with [`WalError::Full`].
    pub max_bytes: Option<u64>,
    /// Durability policy; default [`FsyncPolicy::Always`].
    pub fsync: FsyncPolicy,
    /// Encrypts every record's payload with XChaCha20-Poly1305 under this key (`crate::crypt` has the
    /// design). `None`, the default, writes plain segments. A log is encrypted from its first segment
    /// on or not at all: opening it with the other setting, or with another key, is an error.
    pub encryption: Option<Key>,
}

impl Default for WalOptions {
    fn default() -> Self {
        WalOptions {
            segment_bytes: 64 << 20,
            max_bytes: None,
            fsync: FsyncPolicy::default(),
            encryption: None,
        }
    }
}

/// What [`Wal::open`] found and did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Recovery {
    /// Valid records in the log.
    pub records: u64,
    /// Sequence number of the first record held (the next one to be written when the log is empty).
    pub first_seq: Seq,
    /// Sequence number of the last valid record, `None` for an empty log.
    pub last_seq: Option<Seq>,
    /// Segment files in the log after recovery.
    pub segments: usize,
    /// Bytes cut from the tail of the last segment (a torn write); 0 when it ended cleanly.
    pub truncated_bytes: u64,
    /// The segment that was cut and the offset it was cut at, when `truncated_bytes > 0`.
    pub truncated_at: Option<(PathBuf, u64)>,
    /// Why the tail was cut (the parser's finding), when it was.
    pub truncated_reason: Option<String>,
}

#[derive(Debug)]
struct Segment {
    first: Seq,
    path: PathBuf,
    len: u64,
}

/// The write-ahead log. Single writer: one `Wal` per directory (not enforced by a lock file).
#[derive(Debug)]
pub struct Wal {
    dir: PathBuf,
    opts: WalOptions,
    /// The cipher and nonce generator when the log is encrypted.
    sealer: Option<Sealer>,
    /// Bytes of each segment's header (plain or encrypted).
    header: u64,
    /// Never empty; the last one is the active segment.
    segments: Vec<Segment>,
    active: File,
    next_seq: Seq,
    durable_seq: Seq,
    unsynced: u64,
    last_sync: Instant,
    used: u64,
    buf: Vec<u8>,
    poisoned: Option<(u64, String)>,
}

impl Wal {
    /// Opens (or creates) the WAL in `dir`, validating every record of every segment.
    ///
    /// A torn tail of the last segment (a record cut short, or damaged with no valid record after it) is
    /// truncated and reported in [`Recovery`]. Damage anywhere else — a non-last segment, a valid record
    /// following the damage, a sequence gap — is [`WalError::Corrupt`]. Everything recovered is fsynced,
    /// so `durable_seq() == last_seq` after open.
    ///
    /// With [`WalOptions::encryption`], every segment must be encrypted under that key (its header's
    /// key check is verified: [`WalError::WrongKey`]); without it, none may be encrypted
    /// ([`WalError::EncryptionMismatch`]). Record tags are verified when records are read.
    pub fn open(dir: impl AsRef<Path>, opts: WalOptions) -> Result<(Wal, Recovery)> {
        let dir = dir.as_ref().to_path_buf();
        fs::create_dir_all(&dir).map_err(|e| WalError::io(&dir, "create directory", 0, e))?;
        let mut sealer = match &opts.encryption {
            Some(key) => Some(
                Sealer::new(key)
                    .map_err(|e| WalError::io(&dir, "draw a random nonce prefix", 0, e))?,
            ),
            None => None,
        };
        let header = header_len(sealer.is_some());
        let mut found = Vec::new();
        for entry in fs::read_dir(&dir).map_err(|e| WalError::io(&dir, "list directory", 0, e))? {
            let entry = entry.map_err(|e| WalError::io(&dir, "list directory", 0, e))?;
            if let Some(first) = entry.file_name().to_str().and_then(parse_segment_name) {
                found.push((first, entry.path()));
            }
        }
        found.sort();

        let mut rec = Recovery::default();
        let mut segments = Vec::with_capacity(found.len().max(1));
        let mut next: Option<Seq> = None;
        let count = found.len();
        for (i, (first, path)) in found.into_iter().enumerate() {
            let is_last = i + 1 == count;
            if let Some(expected) = next {
                if first != expected {
                    return Err(WalError::Corrupt {
                        path,
                        offset: 0,
                        reason: format!("segment starts at sequence {first}, the previous one ends before {expected}"),
                    });
                }
            }
            let scan = scan_segment(&path, first, is_last, sealer.as_mut())?;
            rec.records += scan.records;
            if let Some(cut) = scan.cut {
                rec.truncated_bytes = cut.bytes;
                rec.truncated_at = Some((path.clone(), scan.len));
                rec.truncated_reason = Some(cut.reason);
            }
            next = Some(first + scan.records);
            segments.push(Segment {
                first,
                path,
                len: scan.len,
            });
        }

        let (active, next_seq) = match segments.last() {
            Some(seg) => {
                let mut f = OpenOptions::new()
                    .write(true)
                    .open(&seg.path)
                    .map_err(|e| WalError::io(&seg.path, "open", 0, e))?;
                f.seek(SeekFrom::Start(seg.len))
                    .map_err(|e| WalError::io(&seg.path, "seek", seg.len, e))?;
                // Whatever a crashed writer left in the page cache becomes durable now.
                f.sync_all()
                    .map_err(|e| WalError::io(&seg.path, "fsync", seg.len, e))?;
                (f, next.unwrap_or(seg.first))
            }
            None => {
                let (f, seg) = create_segment(&dir, 1, sealer.as_mut())?;
                segments.push(seg);
                (f, 1)
            }
        };
        rec.first_seq = segments[0].first;
        rec.last_seq = (next_seq > rec.first_seq).then(|| next_seq - 1);
        rec.segments = segments.len();
        let used = segments.iter().map(|s| s.len).sum();
        let wal = Wal {
            dir,
            opts,
            sealer,
            header,
            segments,
            active,
            next_seq,
            durable_seq: next_seq - 1,
            unsynced: 0,
            last_sync: Instant::now(),
            used,
            buf: Vec::new(),
            poisoned: None,
        };
        Ok((wal, rec))
    }

    /// Appends one record; returns its sequence number. Durable on return under `FsyncPolicy::Always`.
    pub fn append(&mut self, payload: &[u8]) -> Result<Seq> {
        Ok(self.append_batch(&[payload])?.start)
    }

    /// Appends the payloads as consecutive records, all or nothing: on any error (quota, ENOSPC, I/O)
    /// none of them is in the log. Returns their sequence numbers. Under `FsyncPolicy::Always` the
    /// batch is durable (one fsync) when this returns.
    pub fn append_batch<P: AsRef<[u8]>>(&mut self, payloads: &[P]) -> Result<Range<Seq>> {
        self.check_poisoned()?;
        let start = self.next_seq;
        if payloads.is_empty() {
            return Ok(start..start);
        }
        let (active_len, active_path) = self.active_state();
        // Plan: sizes, rolls and quota, before a byte is written.
        let mut len = active_len;
        let mut added = 0u64;
        for p in payloads {
            let p = p.as_ref();
            if p.len() > MAX_PAYLOAD {
                return Err(WalError::TooLarge {
                    path: active_path,
                    offset: active_len,
                    len: p.len(),
                    max: MAX_PAYLOAD,
                });
            }
            let r = self.record_size(p.len());
            if self.needs_roll(len, r) {
                added += self.header;
                len = self.header;
            }
            added += r;
            len += r;
        }
        if let Some(quota) = self.opts.max_bytes {
            if self.used + added > quota {
                return Err(WalError::Full {
                    path: active_path,
                    offset: active_len,
                    used: self.used,
                    quota: Some(quota),
                });
            }
        }

        let segments_before = self.segments.len();
        match self.write_batch(payloads) {
            Ok(()) => {}
            Err(e) => {
                self.rollback(segments_before, active_len, start);
                return Err(match e {
                    WalError::Io {
                        path,
                        offset,
                        source,
                        ..
                    } if is_no_space(&source) => WalError::Full {
                        path,
                        offset,
                        used: self.used,
                        quota: None,
                    },
                    other => other,
                });
            }
        }
        self.unsynced += payloads.len() as u64;
        let due = match self.opts.fsync {
            FsyncPolicy::Always => true,
            FsyncPolicy::EveryN(n) => self.unsynced >= n.max(1),
            FsyncPolicy::Interval(d) => self.last_sync.elapsed() >= d,
            FsyncPolicy::Never => false,
        };
        if due {
            self.sync()?;
        }
        Ok(start..self.next_seq)
    }

    /// Forces every appended record to stable storage; afterwards `durable_seq() == last_seq()`.
    /// A failed fsync poisons the WAL (the kernel may have dropped the dirty pages): reopen it.
    pub fn sync(&mut self) -> Result<()> {
        self.check_poisoned()?;
        if self.durable_seq + 1 == self.next_seq {
            return Ok(());
        }
        if let Err(e) = self.active.sync_data() {
            let (len, path) = self.active_state();
            self.poisoned = Some((len, format!("fsync failed: {e}")));
            return Err(WalError::io(path, "fsync", len, e));
        }
        self.durable_seq = self.next_seq - 1;
        self.unsynced = 0;
        self.last_sync = Instant::now();
        Ok(())
    }

    /// The highest sequence number known to be on stable storage (0 when none): only records up to it
    /// count as acknowledged.
    pub fn durable_seq(&self) -> Seq {
        self.durable_seq
    }

    /// The last sequence number appended (0 when the log has never held a record).
    pub fn last_seq(&self) -> Seq {
        self.next_seq - 1
    }

    /// The first sequence number still held (records below it were removed by `truncate_before`).
    pub fn first_seq(&self) -> Seq {
        self.segments[0].first
    }

    /// Bytes used by all segment files.
    pub fn used_bytes(&self) -> u64 {
        self.used
    }

    /// The WAL directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Replays records from `seq` up to the last one appended when this is called. `seq` must lie in
    /// `first_seq()..=last_seq() + 1` (the latter gives an empty replay).
    pub fn read_from(&self, seq: Seq) -> Result<WalReader> {
        if seq < self.first_seq() || seq > self.next_seq {
            return Err(WalError::SeqOutOfRange {
                dir: self.dir.clone(),
                requested: seq,
                first: self.first_seq(),
                next: self.next_seq,
            });
        }
        // The segment holding `seq`: the last one starting at or before it.
        let idx = self
            .segments
            .partition_point(|s| s.first <= seq)
            .saturating_sub(1);
        let segs = self.segments[idx..]
            .iter()
            .map(|s| (s.path.clone(), s.first))
            .collect();
        let cipher = self.sealer.as_ref().map(|s| s.cipher().clone());
        Ok(WalReader::new(segs, seq, self.next_seq, cipher))
    }

    /// Deletes every whole segment whose records are all below `seq` (the downstream sink acknowledged
    /// them). The active segment is never deleted, so the log may keep records below `seq`. Returns the
    /// bytes freed.
    pub fn truncate_before(&mut self, seq: Seq) -> Result<u64> {
        let mut freed = 0;
        while self.segments.len() > 1 && self.segments[1].first <= seq {
            let seg = self.segments.remove(0);
            fs::remove_file(&seg.path).map_err(|e| WalError::io(&seg.path, "remove", 0, e))?;
            // Persist each removal before the next, so a crash leaves a prefix removed, never a gap.
            sync_dir(&self.dir)?;
            self.used -= seg.len;
            freed += seg.len;
        }
        Ok(freed)
    }

    fn active_state(&self) -> (u64, PathBuf) {
        let seg = self
            .segments
            .last()
            .expect("a WAL always has an active segment");
        (seg.len, seg.path.clone())
    }

    fn needs_roll(&self, len: u64, record: u64) -> bool {
        len > self.header && len + record > self.opts.segment_bytes
    }

    /// Bytes a record with a payload of `payload_len` bytes takes, encryption included.
    fn record_size(&self, payload_len: usize) -> u64 {
        let overhead = if self.sealer.is_some() { OVERHEAD } else { 0 };
        record_size(payload_len + overhead)
    }

    fn check_poisoned(&self) -> Result<()> {
        match &self.poisoned {
            None => Ok(()),
            Some((offset, reason)) => Err(WalError::Poisoned {
                path: self.active_state().1,
                offset: *offset,
                reason: reason.clone(),
            }),
        }
    }

    fn write_batch<P: AsRef<[u8]>>(&mut self, payloads: &[P]) -> Result<()> {
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        let mut pending_len = self.active_state().0;
        let mut result = Ok(());
        for p in payloads {
            let p = p.as_ref();
            let r = self.record_size(p.len());
            if self.needs_roll(pending_len, r) {
                if let Err(e) = self.write_active(&buf).and_then(|()| self.roll()) {
                    result = Err(e);
                    break;
                }
                buf.clear();
                pending_len = self.header;
            }
            let seq = self.next_seq;
            match self.sealer.as_mut() {
                None => encode_record(&mut buf, seq, p),
                Some(sealer) => {
                    if let Err(e) =
                        encode_record_with(&mut buf, seq, |out| sealer.seal_into(out, seq, p))
                    {
                        let (_, path) = self.active_state();
                        result = Err(WalError::io(path, "encrypt", pending_len, e));
                        break;
                    }
                }
            }
            self.next_seq += 1;
            pending_len += r;
        }
        if result.is_ok() {
            result = self.write_active(&buf);
        }
        self.buf = buf;
        result
    }

    fn write_active(&mut self, bytes: &[u8]) -> Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        let seg = self
            .segments
            .last_mut()
            .expect("a WAL always has an active segment");
        self.active
            .write_all(bytes)
            .map_err(|e| WalError::io(&seg.path, "write", seg.len, e))?;
        seg.len += bytes.len() as u64;
        self.used += bytes.len() as u64;
        Ok(())
    }

    /// Closes the active segment (fsynced, whatever the policy, so only the last segment can ever hold
    /// a torn tail) and starts a new one at `next_seq`.
    fn roll(&mut self) -> Result<()> {
        let (len, path) = self.active_state();
        if let Err(e) = self.active.sync_data() {
            // After a failed fsync the kernel may have dropped dirty pages: never trust this file again.
            self.poisoned = Some((len, format!("fsync before a segment roll failed: {e}")));
            return Err(WalError::io(&path, "fsync", len, e));
        }
        let (file, seg) = create_segment(&self.dir, self.next_seq, self.sealer.as_mut())?;
        self.used += seg.len;
        self.segments.push(seg);
        self.active = file;
        Ok(())
    }

    /// Undoes a failed append: removes segments it created, cuts the active segment back to
    /// `active_len`. If that fails too, the WAL is poisoned; the next open truncates the torn tail.
    fn rollback(&mut self, segments_before: usize, active_len: u64, next_seq: Seq) {
        self.next_seq = next_seq;
        let result = (|| -> Result<()> {
            let mut removed = false;
            while self.segments.len() > segments_before {
                let seg = self.segments.pop().expect("checked above");
                self.used -= seg.len;
                match fs::remove_file(&seg.path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(WalError::io(&seg.path, "remove", 0, e)),
                }
                removed = true;
            }
            let seg = self
                .segments
                .last_mut()
                .expect("a WAL always has an active segment");
            if removed {
                self.active = OpenOptions::new()
                    .write(true)
                    .open(&seg.path)
                    .map_err(|e| WalError::io(&seg.path, "open", 0, e))?;
            }
            self.active
                .set_len(active_len)
                .map_err(|e| WalError::io(&seg.path, "truncate", active_len, e))?;
            self.active
                .seek(SeekFrom::Start(active_len))
                .map_err(|e| WalError::io(&seg.path, "seek", active_len, e))?;
            self.used = self.used - seg.len + active_len;
            seg.len = active_len;
            Ok(())
        })();
        if let Err(e) = result {
            self.poisoned = Some((
                active_len,
                format!("rollback of a failed append failed: {e}"),
            ));
        }
    }
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| WalError::io(dir, "fsync directory", 0, e))
}

/// The header of a new segment: plain, or encrypted with a fresh key check.
fn segment_header(first: Seq, sealer: Option<&mut Sealer>) -> std::io::Result<Vec<u8>> {
    Ok(match sealer {
        None => encode_segment_header(first).to_vec(),
        Some(sealer) => encode_sealed_header(first, |h| sealer.key_check(h))?.to_vec(),
    })
}

/// Checks the part of a segment header every version shares (the first 16 bytes) against the file
/// name and the options (`sealed`: a key is configured).
pub(crate) fn check_segment_header(
    path: &Path,
    h: &[u8],
    first: Seq,
    sealed: bool,
) -> Result<SegmentHeader> {
    let corrupt = |reason: String| WalError::Corrupt {
        path: path.to_path_buf(),
        offset: 0,
        reason,
    };
    let header = decode_segment_header(h).map_err(corrupt)?;
    if header.first != first {
        return Err(corrupt(format!(
            "header says first sequence {}, the file name says {first}",
            header.first
        )));
    }
    if header.sealed != sealed {
        return Err(WalError::EncryptionMismatch {
            path: path.to_path_buf(),
            offset: 0,
            encrypted: header.sealed,
        });
    }
    Ok(header)
}

/// Checks the cipher id and the key check of a whole encrypted segment header.
pub(crate) fn check_key(path: &Path, h: &[u8], cipher: &Cipher) -> Result<()> {
    let (authenticated, check) = sealed_header_parts(h).map_err(|reason| WalError::Corrupt {
        path: path.to_path_buf(),
        offset: 0,
        reason,
    })?;
    if cipher.verify_key_check(authenticated, check) {
        Ok(())
    } else {
        Err(WalError::WrongKey {
            path: path.to_path_buf(),
            offset: authenticated.len() as u64,
        })
    }
}

/// Creates `wal-<first>.log` with its header, fsynced together with the directory entry.
fn create_segment(dir: &Path, first: Seq, sealer: Option<&mut Sealer>) -> Result<(File, Segment)> {
    let path = dir.join(segment_name(first));
    let header =
        segment_header(first, sealer).map_err(|e| WalError::io(&path, "encrypt header", 0, e))?;
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| WalError::io(&path, "create", 0, e))?;
    let written = f
        .write_all(&header)
        .and_then(|()| f.sync_all())
        .map_err(|e| WalError::io(&path, "write header", 0, e))
        .and_then(|()| sync_dir(dir));
    if let Err(e) = written {
        let _ = fs::remove_file(&path);
        return Err(e);
    }
    Ok((
        f,
        Segment {
            first,
            path,
            len: header.len() as u64,
        },
    ))
}

struct Cut {
    bytes: u64,
    reason: String,
}

struct Scan {
    records: u64,
    /// Valid length after recovery.
    len: u64,
    cut: Option<Cut>,
}

/// Validates one segment. In the last segment a torn tail is cut off (the file is truncated);
/// anywhere else damage is an error.
fn scan_segment(
    path: &Path,
    first: Seq,
    is_last: bool,
    sealer: Option<&mut Sealer>,
) -> Result<Scan> {
    let buf = fs::read(path).map_err(|e| WalError::io(path, "read", 0, e))?;
    let corrupt = |offset: usize, reason: String| WalError::Corrupt {
        path: path.to_path_buf(),
        offset: offset as u64,
        reason,
    };
    let sealed = sealer.is_some();
    // The header's length follows from its version once the shared part is whole; before that, from
    // the options (a torn header holds no record either way).
    let shared = SEGMENT_HEADER as usize;
    let header_len = match buf.get(..shared) {
        Some(h) => check_segment_header(path, h, first, sealed)?.len(),
        None => header_len(sealed),
    } as usize;
    if buf.len() < header_len {
        if !is_last {
            return Err(corrupt(
                0,
                format!("segment is {} bytes, shorter than its header", buf.len()),
            ));
        }
        // Crash while the segment was being created: rewrite the header, it holds no record.
        let header = segment_header(first, sealer)
            .map_err(|e| WalError::io(path, "encrypt header", 0, e))?;
        let mut f = OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(|e| WalError::io(path, "open", 0, e))?;
        f.set_len(0)
            .and_then(|()| f.write_all(&header))
            .and_then(|()| f.sync_all())
            .map_err(|e| WalError::io(path, "rewrite header", 0, e))?;
        let cut = (!buf.is_empty()).then(|| Cut {
            bytes: buf.len() as u64,
            reason: "torn segment header rewritten".to_owned(),
        });
        return Ok(Scan {
            records: 0,
            len: header.len() as u64,
            cut,
        });
    }
    if let Some(sealer) = &sealer {
        check_key(path, &buf[..header_len], sealer.cipher())?;
    }
    let mut off = header_len;
    let mut expected = first;
    while off < buf.len() {
        let reason = match parse_record(&buf, off) {
            Parsed::Record { payload, .. } if sealed && payload.len() < OVERHEAD => {
                return Err(corrupt(
                    off,
                    format!(
                        "encrypted record of {} bytes is shorter than its nonce and tag ({OVERHEAD})",
                        payload.len()
                    ),
                ));
            }
            Parsed::Record { seq, next, .. } if seq == expected => {
                expected += 1;
                off = next;
                continue;
            }
            Parsed::Record { seq, .. } => {
                return Err(corrupt(
                    off,
                    format!("record has sequence {seq}, expected {expected}"),
                ));
            }
            Parsed::Incomplete => format!("record cut short at byte {off} (torn write)"),
            Parsed::Bad(reason) => reason,
        };
        if !is_last {
            return Err(corrupt(
                off,
                format!("{reason}, in a segment that is not the last"),
            ));
        }
        if let Some(later) = valid_record_after(&buf, off, expected - 1) {
            return Err(corrupt(
                off,
                format!("{reason}, followed by a valid record at byte {later}"),
            ));
        }
        let f = OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(|e| WalError::io(path, "open", 0, e))?;
        f.set_len(off as u64)
            .and_then(|()| f.sync_all())
            .map_err(|e| WalError::io(path, "truncate torn tail", off as u64, e))?;
        return Ok(Scan {
            records: expected - first,
            len: off as u64,
            cut: Some(Cut {
                bytes: (buf.len() - off) as u64,
                reason,
            }),
        });
    }
    Ok(Scan {
        records: expected - first,
        len: off as u64,
        cut: None,
    })
}
