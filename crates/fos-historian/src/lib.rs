//! `fos-historian`: the FOS process historian. Tag samples (`time`, `tag`, `value`, `quality`)
//! are stored as time-partitioned Parquet files and queried with SQL through DataFusion.
//!
//! # Layout on disk
//!
//! ```text
//! DATA_DIR/historian/samples/date=YYYY-MM-DD/part-<n>.parquet
//! ```
//!
//! One partition per UTC day. Each partition has one writer: points are buffered per partition,
//! and a buffer becomes one file (`part-<n>`, `n` counting up from the highest number already in
//! the folder) when it reaches [`HistorianOptions::max_rows_per_file`] rows or on
//! [`Historian::commit`] / [`Historian::flush`]. Files become visible to queries only through a
//! commit, all files of one commit together (see the [`commit`] module for the protocol and its
//! crash recovery): a query never sees half a file nor part of a commit. A commit also records
//! input positions (`"wal"` → the last write-ahead-log sequence it holds), which a pipeline reads
//! back with [`Historian::position`] to resume exactly after what is stored, so a replay after a
//! crash neither loses nor duplicates points. Files are never rewritten; points not yet committed
//! are lost if the process dies (the pipeline's WAL still holds them).
//!
//! # Schema
//!
//! | column | Arrow type | Parquet encoding |
//! | --- | --- | --- |
//! | `time` | `Timestamp(Nanosecond, "UTC")` | `DELTA_BINARY_PACKED` |
//! | `tag` | `Dictionary(Int32, Utf8)` | dictionary (RLE_DICTIONARY) |
//! | `value` | `Float64` | `BYTE_STREAM_SPLIT` (bits kept exactly: NaN payloads, `-0.0`) |
//! | `quality` | `UInt8`, see [`quality`] | dictionary / RLE |
//!
//! Compression zstd; rows within a file sorted by (`tag`, `time`), which the file's metadata
//! declares as its sorting columns. Duplicate (`tag`, `time`) points are all kept.
//!
//! # Queries
//!
//! [`Historian::query`] registers the table `samples(time, tag, value, quality)`, a DataFusion
//! `ListingTable` over the whole `samples` folder (every `*.parquet` file below it, no limit on
//! their number), and runs one read-only SQL statement (no DDL, DML or `SET`).

/// The Arrow crate the historian's batches come from (re-exported so callers use the same version).
pub use datafusion::arrow;

pub mod commit;
pub mod crypt;
mod partition;

use partition::Partition;

pub use crypt::AtRest;

pub use commit::CommitRecovery;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::execution::context::{SQLOptions, SessionContext};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::{Compression, Encoding, ZstdLevel};
use datafusion::parquet::file::properties::WriterProperties;
use datafusion::parquet::file::metadata::SortingColumn;
use datafusion::parquet::schema::types::ColumnPath;

/// Quality codes of the `quality` column (one byte, OPC UA–like severity):
/// `0` good, `1` uncertain, `2` and above bad (`2` plain bad; `3..=255` free for bad sub-reasons
/// such as "comm failure" or "sensor failure", to be defined where needed).
pub mod quality {
    /// The value is good.
    pub const GOOD: u8 = 0;
    /// The value is uncertain (stale, substituted, out of calibrated range).
    pub const UNCERTAIN: u8 = 1;
    /// The value is bad; every code at or above this one is bad.
    pub const BAD: u8 = 2;
}

/// Errors of the historian.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file or folder could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Writing a Parquet file failed.
    #[error("writing {path}: {source}")]
    Parquet {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: datafusion::parquet::errors::ParquetError,
    },
    /// A point had an empty tag name.
    #[error("a point has an empty tag name")]
    EmptyTag,
    /// Planning or running a query failed (including SQL syntax errors).
    #[error("query failed: {0}")]
    Query(#[from] datafusion::error::DataFusionError),
    /// Building an Arrow batch failed (should not happen).
    #[error("arrow: {0}")]
    Arrow(#[from] datafusion::arrow::error::ArrowError),
    /// This historian is open read-only: another process holds the writer lock.
    #[error("{path} is locked by another writer (a running `fos ingest` or `fos import`); this one can only query")]
    ReadOnly {
        /// The lock file.
        path: PathBuf,
    },
    /// The folder's encryption does not match the configured key (see [`crypt`]).
    #[error("{path}: {reason}")]
    Encryption {
        /// The `historian` folder.
        path: PathBuf,
        /// What is wrong and what to do.
        reason: String,
    },
    /// The commit log is damaged beyond a torn last line.
    #[error("{path}: {reason}")]
    Corrupt {
        /// The log file.
        path: PathBuf,
        /// What is wrong, with the line number.
        reason: String,
    },
    /// The async runtime for queries could not start.
    #[error("cannot start the query runtime: {0}")]
    Runtime(std::io::Error),
    /// An argument was refused (a waveform block without channel or rate, a retention policy).
    #[error("{0}")]
    Invalid(String),
}

/// The historian's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One sample of one tag.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// Nanoseconds since the Unix epoch, UTC.
    pub time_ns: i64,
    /// The tag name (non-empty).
    pub tag: Arc<str>,
    /// The value; any `f64`, stored bit for bit.
    pub value: f64,
    /// Quality code, see [`quality`].
    pub quality: u8,
}

/// Tuning of the writer.
#[derive(Debug, Clone)]
pub struct HistorianOptions {
    /// A partition's buffer is written out as one file when it holds this many rows.
    pub max_rows_per_file: usize,
    /// Rows per Parquet row group inside a file.
    pub max_row_group_size: usize,
    /// zstd level (1..=22).
    pub zstd_level: i32,
    /// Plaintext or encrypted files ([`crypt`]); the folder must match (checked at open).
    pub at_rest: AtRest,
}

impl Default for HistorianOptions {
    fn default() -> Self {
        HistorianOptions { max_rows_per_file: 1 << 20, max_row_group_size: 1 << 20, zstd_level: 3, at_rest: AtRest::plain() }
    }
}

/// The schema of every file and of the `samples` table.
pub fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("time", DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())), false),
        Field::new("tag", DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)), false),
        Field::new("value", DataType::Float64, false),
        Field::new("quality", DataType::UInt8, false),
    ]))
}

/// A historian over one data folder. Points buffered and not flushed when it is dropped are
/// discarded (so a failed import leaves no partial buffer behind); call [`Historian::flush`].
/// Not for use from inside an async runtime (queries block on their own runtime).
#[derive(Debug)]
pub struct Historian {
    samples: PathBuf,
    options: HistorianOptions,
    props: WriterProperties,
    partitions: BTreeMap<i64, Partition>,
    /// Files written as `.pending` since the last commit (final names).
    pending: Vec<PathBuf>,
    log: commit::CommitLog,
    recovery: CommitRecovery,
    /// The writer lock (`historian/lock`, an exclusive advisory lock held while open); `None`
    /// when another process holds it and this one is read-only.
    lock: Option<fs::File>,
    lock_path: PathBuf,
    runtime: tokio::runtime::Runtime,
}

const NANOS_PER_DAY: i64 = 86_400 * 1_000_000_000;

impl Historian {
    /// Open (creating folders as needed) the historian of `data_dir`, with default options.
    pub fn open(data_dir: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(data_dir, HistorianOptions::default())
    }

    /// Open the historian of `data_dir` with the given options.
    pub fn open_with(data_dir: impl AsRef<Path>, options: HistorianOptions) -> Result<Self> {
        let samples = data_dir.as_ref().join("historian").join("samples");
        fs::create_dir_all(&samples).map_err(|source| Error::Io { path: samples.clone(), source })?;
        let samples = fs::canonicalize(&samples).map_err(|source| Error::Io { path: samples.clone(), source })?;
        let props = writer_properties(&options)?;
        let root = samples.parent().unwrap_or(&samples).to_path_buf();
        options.at_rest.check_folder(&root)?;
        let lock_path = root.join("lock");
        let lock_file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|source| Error::Io { path: lock_path.clone(), source })?;
        let lock = match lock_file.try_lock() {
            Ok(()) => Some(lock_file),
            Err(fs::TryLockError::WouldBlock) => None,
            Err(fs::TryLockError::Error(source)) => return Err(Error::Io { path: lock_path, source }),
        };
        let (log, recovery) = commit::CommitLog::open(&root.join("commits.log"), &samples, lock.is_some())?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(Error::Runtime)?;
        Ok(Historian {
            samples,
            options,
            props,
            partitions: BTreeMap::new(),
            pending: Vec::new(),
            log,
            recovery,
            lock,
            lock_path,
            runtime,
        })
    }

    /// Whether this historian can write (it holds the writer lock). One process writes a data
    /// folder at a time; others open it read-only and can query.
    pub fn is_writer(&self) -> bool {
        self.lock.is_some()
    }

    fn check_writer(&self) -> Result<()> {
        match self.lock {
            Some(_) => Ok(()),
            None => Err(Error::ReadOnly { path: self.lock_path.clone() }),
        }
    }

    /// What opening found and repaired (a torn commit record, unfinished commits' files).
    pub fn recovery(&self) -> &CommitRecovery {
        &self.recovery
    }

    /// The position recorded for `source` by the last commit that named it: everything up to it
    /// is stored (`None`: never committed).
    pub fn position(&self, source: &str) -> Option<u64> {
        self.log.last().positions.get(source).copied()
    }

    /// The id of the last commit (0 when none).
    pub fn last_commit_id(&self) -> u64 {
        self.log.last().id
    }

    /// Every recorded position.
    pub fn positions(&self) -> &BTreeMap<String, u64> {
        &self.log.last().positions
    }

    /// Writes every buffered point out and makes all files written since the last commit visible
    /// at once, recording `positions` (`(source, seq)`: all of `source` up to `seq` is stored).
    /// Returns the commit's id. On error nothing of this commit is visible and the buffers are in
    /// an unknown state: drop this `Historian`, reopen it (which discards the unfinished files) and
    /// replay from [`Historian::position`].
    pub fn commit(&mut self, positions: &[(&str, u64)]) -> Result<u64> {
        self.check_writer()?;
        for part in self.partitions.values_mut() {
            if !part.is_empty() {
                let file = write_file(part, &self.props)?;
                self.pending.push(file);
            }
        }
        if self.pending.is_empty() && positions.iter().all(|(s, q)| self.position(s) >= Some(*q)) {
            return Ok(self.log.last().id);
        }
        let files = self.pending.clone();
        let id = self.log.commit(&self.samples, files, positions)?;
        self.pending.clear();
        Ok(id)
    }

    /// How this historian's files are stored (plaintext or encrypted).
    pub fn at_rest(&self) -> &AtRest {
        &self.options.at_rest
    }

    /// The folder that holds the partitions (`DATA_DIR/historian/samples`).
    pub fn samples_dir(&self) -> &Path {
        &self.samples
    }

    /// Buffer points; a partition whose buffer is full is written out as a file.
    pub fn write_batch(&mut self, points: &[Point]) -> Result<()> {
        self.write_owned(points.to_vec())
    }

    /// [`Historian::write_batch`] taking the points by value.
    pub fn write_owned(&mut self, points: Vec<Point>) -> Result<()> {
        self.check_writer()?;
        if points.iter().any(|p| p.tag.is_empty()) {
            return Err(Error::EmptyTag);
        }
        let mut current: Option<i64> = None;
        for p in points {
            let day = p.time_ns.div_euclid(NANOS_PER_DAY);
            if current != Some(day) {
                self.partition(day)?;
                current = Some(day);
            }
            let part = self.partitions.get_mut(&day).expect("made by partition()");
            let id = part.tag_id(&p.tag);
            part.push(id, p.time_ns, p.value, p.quality);
            self.spill(day)?;
        }
        Ok(())
    }

    /// Buffers points given as columns: `tag[i]` indexes `tags` (the batch's tag dictionary), and
    /// point `i` is (`time[i]`, `tags[tag[i]]`, `value[i]`, `quality[i]`). The fast path of the
    /// pipeline: no per-point tag name is cloned or hashed. Refuses columns of unequal length, a
    /// tag index outside `tags` or an empty tag name, before buffering anything.
    pub fn write_columns(
        &mut self,
        tags: &[Arc<str>],
        tag: &[u32],
        time: &[i64],
        value: &[f64],
        quality: &[u8],
    ) -> Result<()> {
        self.check_writer()?;
        partition::check_columns(tags, tag, time, value, quality)?;
        // Batch tag index -> buffer tag id, per day seen in this batch (usually one).
        let mut remaps: Vec<(i64, Vec<u32>)> = Vec::new();
        let mut current: Option<(i64, usize)> = None;
        for i in 0..tag.len() {
            let day = time[i].div_euclid(NANOS_PER_DAY);
            let slot = match current {
                Some((d, slot)) if d == day => slot,
                _ => {
                    self.partition(day)?;
                    let slot = match remaps.iter().position(|(d, _)| *d == day) {
                        Some(s) => s,
                        None => {
                            remaps.push((day, vec![u32::MAX; tags.len()]));
                            remaps.len() - 1
                        }
                    };
                    current = Some((day, slot));
                    slot
                }
            };
            let part = self.partitions.get_mut(&day).expect("made by partition()");
            let t = tag[i] as usize;
            let id = match remaps[slot].1[t] {
                u32::MAX => {
                    let id = part.tag_id(&tags[t]);
                    remaps[slot].1[t] = id;
                    id
                }
                id => id,
            };
            part.push(id, time[i], value[i], quality[i]);
            if part.len() >= self.options.max_rows_per_file {
                // A new file starts a new buffer dictionary: forget this day's mapping.
                self.spill(day)?;
                remaps[slot].1.fill(u32::MAX);
            }
        }
        Ok(())
    }

    /// Makes sure the buffer of `day` exists.
    fn partition(&mut self, day: i64) -> Result<()> {
        if let std::collections::btree_map::Entry::Vacant(e) = self.partitions.entry(day) {
            let dir = self.samples.join(format!("date={}", civil_date(day)));
            let next_part = next_part_number(&dir)?;
            e.insert(Partition::new(dir, next_part));
        }
        Ok(())
    }

    /// Writes the buffer of `day` out as a file when it is full.
    fn spill(&mut self, day: i64) -> Result<()> {
        let part = self.partitions.get_mut(&day).expect("made by partition()");
        if part.len() >= self.options.max_rows_per_file {
            let file = write_file(part, &self.props)?;
            self.pending.push(file);
        }
        Ok(())
    }

    /// Write every buffered point out and commit; the points are then visible to queries.
    /// The same as [`Historian::commit`] with no positions.
    pub fn flush(&mut self) -> Result<()> {
        self.commit(&[]).map(drop)
    }

    /// Points buffered and not yet written.
    pub fn buffered(&self) -> usize {
        self.partitions.values().map(Partition::len).sum()
    }

    /// Run one read-only SQL statement over the table `samples(time, tag, value, quality)`.
    /// Sees flushed points only.
    pub fn query(&self, sql: &str) -> Result<Vec<RecordBatch>> {
        self.runtime.block_on(self.query_async(sql))
    }

    /// The result schema and batches of `sql`: like [`Historian::query`], but also gives the
    /// schema when there are no rows.
    pub fn query_with_schema(&self, sql: &str) -> Result<(SchemaRef, Vec<RecordBatch>)> {
        self.runtime.block_on(async {
            let df = self.dataframe(sql).await?;
            let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
            Ok((schema, df.collect().await?))
        })
    }

    async fn query_async(&self, sql: &str) -> Result<Vec<RecordBatch>> {
        Ok(self.dataframe(sql).await?.collect().await?)
    }

    async fn dataframe(&self, sql: &str) -> Result<datafusion::dataframe::DataFrame> {
        // A new context per query, so the listing sees files written since the last one.
        let ctx = SessionContext::new();
        let at_rest = &self.options.at_rest;
        tables::register(&ctx, "samples", &self.samples, schema(), at_rest)?;
        tables::register_extra(&ctx, &self.samples, at_rest)?; // `waveforms`, `samples_rollup` where present
        let read_only = SQLOptions::new().with_allow_ddl(false).with_allow_dml(false).with_allow_statements(false);
        Ok(ctx.sql_with_options(sql, read_only).await?)
    }
}

fn writer_properties(o: &HistorianOptions) -> Result<WriterProperties> {
    let level = ZstdLevel::try_new(o.zstd_level).map_err(|source| Error::Parquet { path: PathBuf::new(), source })?;
    let (time, tag, value) = (ColumnPath::from("time"), ColumnPath::from("tag"), ColumnPath::from("value"));
    let builder = o.at_rest.writer(WriterProperties::builder())?;
    Ok(builder
        .set_compression(Compression::ZSTD(level))
        .set_max_row_group_size(o.max_row_group_size.max(1))
        .set_column_dictionary_enabled(time.clone(), false)
        .set_column_encoding(time, Encoding::DELTA_BINARY_PACKED)
        .set_column_dictionary_enabled(value.clone(), false)
        .set_column_encoding(value, Encoding::BYTE_STREAM_SPLIT)
        .set_column_dictionary_enabled(tag, true)
        .set_sorting_columns(Some(vec![
            SortingColumn { column_idx: 1, descending: false, nulls_first: false },
            SortingColumn { column_idx: 0, descending: false, nulls_first: false },
        ]))
        .build())
}

/// Sort a partition's buffer by (tag, time), write it as `part-<n>.parquet.pending` (fsynced) and
/// empty it. Returns the file's final name; [`commit::CommitLog::commit`] renames it.
fn write_file(part: &mut Partition, props: &WriterProperties) -> Result<PathBuf> {
    fs::create_dir_all(&part.dir).map_err(|source| Error::Io { path: part.dir.clone(), source })?;
    let batch = part.take_sorted()?;
    let path = part.dir.join(format!("part-{}.parquet", part.next_part));
    let tmp = part.dir.join(format!("part-{}.parquet.tmp", part.next_part));
    let file = fs::File::create(&tmp).map_err(|source| Error::Io { path: tmp.clone(), source })?;
    let parquet_err = |source| Error::Parquet { path: path.clone(), source };
    let mut writer = ArrowWriter::try_new(file, batch.schema(), Some(props.clone())).map_err(parquet_err)?;
    writer.write(&batch).map_err(parquet_err)?;
    let file = writer.into_inner().map_err(parquet_err)?;
    file.sync_all().map_err(|source| Error::Io { path: tmp.clone(), source })?;
    let pending = commit::pending_name(&path);
    fs::rename(&tmp, &pending).map_err(|source| Error::Io { path: pending.clone(), source })?;
    part.next_part += 1;
    Ok(path)
}

/// `points` as one batch of the `samples` schema, sorted by (tag, time).
fn to_batch(points: &[Point]) -> Result<RecordBatch> {
    let mut part = Partition::new(PathBuf::new(), 0);
    for p in points {
        let id = part.tag_id(&p.tag);
        part.push(id, p.time_ns, p.value, p.quality);
    }
    part.take_sorted()
}

/// One more than the highest `part-<n>.parquet` number in `dir` (0 when none or no folder).
fn next_part_number(dir: &Path) -> Result<u64> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(source) => return Err(Error::Io { path: dir.to_path_buf(), source }),
    };
    let mut next = 0;
    for entry in entries {
        let entry = entry.map_err(|source| Error::Io { path: dir.to_path_buf(), source })?;
        let name = entry.file_name();
        let n = name.to_str().and_then(|s| s.strip_prefix("part-")).and_then(|s| s.split('.').next());
        if let Some(n) = n.and_then(|n| n.parse::<u64>().ok()) {
            next = next.max(n + 1);
        }
    }
    Ok(next)
}

/// `YYYY-MM-DD` of a day number since 1970-01-01 (proleptic Gregorian, H. Hinnant's algorithm).
fn civil_date(days: i64) -> String {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests;

mod lvc;
pub mod mirror;
mod retention;
mod tables;
mod waveform;
pub use lvc::{LastValue, LastValueCache, LvcUpdate, SEED_SQL};
pub use retention::{apply_retention, recover_retention, rollup_schema, RetentionPolicy, RetentionReport};
pub use waveform::{waveform_schema, WaveformBlock, WaveformStore};
