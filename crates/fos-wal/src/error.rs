//! The crate's one error type.

use std::io;
use std::path::PathBuf;

use crate::Seq;

/// Everything the WAL can refuse or fail at. Each variant names the file (or the directory) and, where
/// there is one, the byte offset.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WalError {
    /// An I/O operation failed.
    #[error("{path}: {op} at byte {offset}: {source}")]
    Io {
        /// File or directory the operation was on.
        path: PathBuf,
        /// What was being done ("write", "fsync", "read", ...).
        op: &'static str,
        /// Byte offset in `path` (0 where the operation has none).
        offset: u64,
        /// The operating system's error.
        source: io::Error,
    },

    /// The WAL cannot take the append: either the configured quota (`quota: Some`) would be exceeded, or
    /// the file system itself ran out of space (ENOSPC/EDQUOT, `quota: None`). Nothing of the refused
    /// append is in the log; everything appended before is intact. The WAL never drops data to make room:
    /// apply backpressure until the sink has drained and [`crate::Wal::truncate_before`] frees segments.
    #[error(
        "{path}: WAL full at byte {offset}: {used} bytes used, {}; hold the input until the sink \
         acknowledges and truncate_before frees segments",
        match quota { Some(q) => format!("quota {q} bytes"), None => "the file system is out of space".to_owned() }
    )]
    Full {
        /// The segment the append would have gone to.
        path: PathBuf,
        /// Its length when the append was refused.
        offset: u64,
        /// Bytes used by all segments.
        used: u64,
        /// The configured quota, or `None` when the operating system reported the disk full.
        quota: Option<u64>,
    },

    /// A record, header or segment in the middle of the log is damaged: not a torn tail, so it is never
    /// dropped silently. Restore the file from a replica or move it aside by hand.
    #[error("{path}: corrupt WAL at byte {offset}: {reason}; the log is not truncated automatically because records follow it")]
    Corrupt {
        /// The segment file.
        path: PathBuf,
        /// Byte offset of the damaged record or header.
        offset: u64,
        /// What is wrong.
        reason: String,
    },

    /// One payload is larger than a record can hold.
    #[error("{path}: payload of {len} bytes at byte {offset} exceeds the record limit of {max} bytes; split the batch")]
    TooLarge {
        /// The active segment.
        path: PathBuf,
        /// Its length.
        offset: u64,
        /// The payload's length.
        len: usize,
        /// [`crate::MAX_PAYLOAD`].
        max: usize,
    },

    /// `read_from` asked for a sequence number the log does not hold.
    #[error("{dir}: sequence {requested} is not in the WAL (it holds {first}..{next}); records below {first} were truncated")]
    SeqOutOfRange {
        /// The WAL directory.
        dir: PathBuf,
        /// The requested sequence number.
        requested: Seq,
        /// The first sequence number held.
        first: Seq,
        /// The next sequence number to be assigned.
        next: Seq,
    },

    /// The log's encryption does not match [`crate::WalOptions::encryption`]: an encrypted segment and
    /// no key configured, or a plain segment and a key configured. A log is encrypted from its first
    /// segment on or not at all.
    #[error(
        "{path}: segment header at byte {offset}: {}",
        if *encrypted {
            "the segment is encrypted (XChaCha20-Poly1305) but no key is configured; \
             set WalOptions::encryption to the key it was written with"
        } else {
            "the segment is not encrypted but a key is configured; open this log without a key \
             (an encrypted log starts in an empty directory)"
        }
    )]
    EncryptionMismatch {
        /// The segment file.
        path: PathBuf,
        /// Byte offset of its header (0).
        offset: u64,
        /// Whether the segment is encrypted (and the options have no key).
        encrypted: bool,
    },

    /// The key check of an encrypted segment's header fails: the configured key is not the one the
    /// segment was written with (or the header was modified).
    #[error(
        "{path}: key check at byte {offset} fails: the segment was encrypted under a different key \
         (or its header was modified); configure the key it was written with"
    )]
    WrongKey {
        /// The segment file.
        path: PathBuf,
        /// Byte offset of the key check in the header.
        offset: u64,
    },

    /// An encrypted record's CRC matches but its authentication tag does not: the record was modified
    /// on disk (a torn write fails the CRC instead) or written under another key. It is never returned
    /// and never truncated.
    #[error(
        "{path}: record {seq} at byte {offset} fails authentication although its CRC matches: it was \
         modified on disk or encrypted under another key; restore the file from a replica"
    )]
    Unauthentic {
        /// The segment file.
        path: PathBuf,
        /// Byte offset of the record.
        offset: u64,
        /// Its sequence number.
        seq: Seq,
    },

    /// An earlier fsync or rollback failed, so the state of the file on disk is unknown; reopen the WAL
    /// (recovery re-validates every record).
    #[error(
        "{path}: WAL unusable since an earlier failure at byte {offset} ({reason}); reopen it"
    )]
    Poisoned {
        /// The active segment.
        path: PathBuf,
        /// Where the failure happened.
        offset: u64,
        /// The earlier failure.
        reason: String,
    },
}

impl WalError {
    pub(crate) fn io(
        path: impl Into<PathBuf>,
        op: &'static str,
        offset: u64,
        source: io::Error,
    ) -> Self {
        WalError::Io {
            path: path.into(),
            op,
            offset,
            source,
        }
    }

    /// True for [`WalError::Full`], the one error the pipeline answers with backpressure.
    pub fn is_full(&self) -> bool {
        matches!(self, WalError::Full { .. })
    }
}

/// True when the OS error means "no space": ENOSPC or a file-system quota (EDQUOT).
pub(crate) fn is_no_space(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded
    )
}

/// The crate's result type.
pub type Result<T, E = WalError> = std::result::Result<T, E>;
