//! The error type of [`crate::Ledger`].

use std::io;
use std::path::PathBuf;

use crate::checkpoint::CheckpointError;
use crate::merkle::ProofError;
use crate::verify::Problem;

/// Everything [`crate::Ledger`] can refuse or fail at. Damage names the file, byte offset, record index or
/// checkpoint number.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LedgerError {
    /// An I/O operation failed.
    #[error("{}: {op} at byte {offset}: {source}", .path.display())]
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

    /// The directory holds something other than committed records, their checkpoints and at most a torn
    /// tail: damage or tampering. It is never repaired automatically; [`crate::verify_dir`] lists all of it.
    #[error("{0}; the ledger is not repaired automatically (run verify_dir for every problem)")]
    Corrupt(Box<Problem>),

    /// A record is larger than [`crate::MAX_RECORD_LEN`]; nothing of its batch was written.
    #[error("record #{position} of the batch is {len} bytes, more than the {max} a record may have; nothing was appended")]
    RecordTooLarge {
        /// Its position in the batch.
        position: usize,
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },

    /// A record index the ledger does not hold.
    #[error("record {index} is not in the ledger, which holds {len} records")]
    NoSuchRecord {
        /// The index asked for.
        index: u64,
        /// Records held.
        len: u64,
    },

    /// A proof cannot be made for these sizes or indices.
    #[error(transparent)]
    Proof(#[from] ProofError),

    /// The origin is not a valid checkpoint origin, or a checkpoint could not be signed.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),

    /// An earlier fsync failed, or a failed append could not be rolled back: what is on disk is uncertain,
    /// so appends are refused until the ledger is opened again (which recovers from the files).
    #[error("{}: appends refused after an earlier failure ({reason}); open the ledger again to recover", .dir.display())]
    Poisoned {
        /// The ledger directory.
        dir: PathBuf,
        /// The failure.
        reason: String,
    },
}

impl LedgerError {
    pub(crate) fn io(path: impl Into<PathBuf>, op: &'static str, offset: u64, source: io::Error) -> Self {
        Self::Io { path: path.into(), op, offset, source }
    }
}

impl From<Problem> for LedgerError {
    fn from(p: Problem) -> Self {
        Self::Corrupt(Box::new(p))
    }
}

/// `Result` with [`LedgerError`].
pub type Result<T, E = LedgerError> = std::result::Result<T, E>;
