//! `fos-pipeline`: the FOS edge pipeline, and the central consumer of the scale-out link.
//!
//! ```text
//!  sources ──(bounded channel)──▶ transforms ──▶ WAL writer ──▶ write-ahead log (fos-wal)
//!  generator, poll,                scale,          group commit:      │   (acknowledged = durable here)
//!  vibration, replay,              downsample      one fsync per      ├──▶ historian sink ──▶ DATA_DIR/historian
//!  waveform (async tasks)                          group, then acks   └──▶ NATS sink ──▶ JetStream ──▶ central
//! ```
//!
//! - **Acknowledgement** ([`source::Envelope::ack`]) is sent once the batch's records are fsynced
//!   in the log ([`config::Fsync::Always`], the default). A crash at any point after that loses
//!   nothing: every sink reads the log from its own durable cursor.
//! - **Sinks** tail the log. The historian sink commits a group of files together with the log
//!   position they hold (`fos_historian::Historian::commit`), and resumes after it: exactly once.
//!   The NATS sink publishes each record under `Nats-Msg-Id: <site>/<seq>` and keeps its cursor in
//!   `DATA_DIR/pipeline/nats.cursor`; a re-publish after a crash is dropped by JetStream's duplicate
//!   window and by the central consumer's per-site sequence check.
//! - **Log truncation**: whole segments below the slowest sink's cursor are deleted.
//! - **Full disk**: when the log reaches its quota or the disk is full, the writer holds the
//!   batch and retries every 100 ms; the channel fills and sources wait (a poller skips cycles,
//!   the generator pauses). Nothing is acknowledged that is not in the log, and nothing in the log
//!   is dropped.
//! - **Resumable sources** (the generator: its scan; a replay: its window) record their position
//!   in every record; on restart they continue after the position of the log's last record. A
//!   waveform source records the counter of its last block, so blocks missed while the pipeline
//!   was down are counted.
//! - **Shutdown**: sources stop, the writer drains the channel, sinks catch up (the NATS sink
//!   for at most `drain_s`), the historian commits, and [`run`] returns a [`Summary`].
//!
//! [`central::run_central`] is the other end: a durable JetStream consumer that writes every
//! site's batches into a historian and acknowledges each batch only after the commit that holds
//! it, recording `site:<name>` positions so a restart neither loses nor duplicates a batch.

pub mod central;
pub mod config;
pub mod diagnosis;
mod edge;
pub mod record;
pub mod replay;
pub mod source;
mod store;
pub mod transform;
pub mod vibration;
pub mod waveform;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

pub use edge::run;

/// Every error of the pipeline; each names the file, source or server concerned.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The configuration is invalid.
    #[error("{origin}: {reason}")]
    Config {
        /// File or section.
        origin: String,
        /// What is wrong and what to do.
        reason: String,
    },
    /// A file operation failed.
    #[error("cannot {action} {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What was being done.
        action: &'static str,
        /// The cause.
        source: std::io::Error,
    },
    /// The write-ahead log failed.
    #[error(transparent)]
    Wal(#[from] fos_wal::WalError),
    /// The historian failed.
    #[error("historian: {0}")]
    Historian(#[from] fos_historian::Error),
    /// The bus failed in a way retrying does not fix.
    #[error(transparent)]
    Bus(#[from] fos_bus::BusError),
    /// A record in the log or on the bus could not be decoded.
    #[error("record {seq}: {error}")]
    Decode {
        /// Its sequence number.
        seq: u64,
        /// What is wrong.
        error: record::DecodeError,
    },
    /// The stored state does not fit together.
    #[error("{0}")]
    State(String),
    /// The async runtime could not start.
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
}

/// The pipeline's result type.
pub type Result<T, E = PipelineError> = std::result::Result<T, E>;

/// Counters of a running pipeline (all monotonic).
#[derive(Debug, Default)]
pub struct Stats {
    /// Points received from sources (after transforms).
    pub points_in: AtomicU64,
    /// Points durable in the log and acknowledged.
    pub points_acked: AtomicU64,
    /// Records appended to the log.
    pub records: AtomicU64,
    /// Times an append waited because the log or disk was full.
    pub full_waits: AtomicU64,
    /// Points committed to the historian.
    pub historian_points: AtomicU64,
    /// Historian commits.
    pub historian_commits: AtomicU64,
    /// Records acknowledged by JetStream.
    pub nats_records: AtomicU64,
    /// Failed publish attempts (each retried).
    pub nats_errors: AtomicU64,
    /// Duplicates skipped by the central consumer.
    pub duplicates: AtomicU64,
    /// Gaps seen by the central consumer.
    pub gaps: AtomicU64,
    /// Files copied to the central object-store mirror.
    pub mirrored_files: AtomicU64,
}

/// A snapshot of [`Stats`] plus the log's state, as `fos ingest --json` prints it.
#[derive(Debug, Clone, Default, serde::Serialize, PartialEq, Eq)]
pub struct Summary {
    pub points_in: u64,
    pub points_acked: u64,
    pub records: u64,
    pub full_waits: u64,
    pub historian_points: u64,
    pub historian_commits: u64,
    pub nats_records: u64,
    pub nats_errors: u64,
    pub duplicates: u64,
    pub gaps: u64,
    pub mirrored_files: u64,
    /// Last durable log sequence (edge) or 0 (central).
    pub wal_durable_seq: u64,
    /// Log records not yet taken by every sink when the pipeline stopped.
    pub wal_backlog: u64,
}

impl Stats {
    /// The counters now.
    pub fn snapshot(&self) -> Summary {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Summary {
            points_in: g(&self.points_in),
            points_acked: g(&self.points_acked),
            records: g(&self.records),
            full_waits: g(&self.full_waits),
            historian_points: g(&self.historian_points),
            historian_commits: g(&self.historian_commits),
            nats_records: g(&self.nats_records),
            nats_errors: g(&self.nats_errors),
            duplicates: g(&self.duplicates),
            gaps: g(&self.gaps),
            mirrored_files: g(&self.mirrored_files),
            wal_durable_seq: 0,
            wal_backlog: 0,
        }
    }
}
