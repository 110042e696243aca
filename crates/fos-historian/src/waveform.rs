//! Waveform blocks: high-rate recordings (vibration) stored as blocks of samples of one channel,
//! each with a SHA-256 content hash that provenance records cite.
//!
//! # Content hash
//!
//! [`WaveformBlock::content_hash`] is the lowercase hex SHA-256 of this canonical byte encoding
//! (all integers little-endian):
//!
//! ```text
//! b"fos-waveform-v1\0"                   16 bytes, domain separation and version
//! u64  channel length in bytes, then the channel's UTF-8 bytes
//! i64  start_ns (nanoseconds since the Unix epoch, UTC)
//! u64  rate_hz.to_bits()                 the f64's IEEE 754 bits
//! u64  number of samples, then each sample's f64 bits (u64)
//! ```
//!
//! The hash covers exact bits: `-0.0` and `0.0`, or two NaN payloads, give different hashes.
//!
//! # Samples are `f64`
//!
//! The readers of `fos-io` deliver `f64` (MATLAB files hold doubles), and `f32` would lose bits
//! of such recordings, so a block's hash would not match the source's values. Storage is
//! `BYTE_STREAM_SPLIT` + zstd, which recovers most of the cost of the wider type.
//!
//! # Layout on disk
//!
//! ```text
//! DATA_DIR/historian/waveforms/date=YYYY-MM-DD/part-<n>.parquet    (day of the block's start, UTC)
//! ```
//!
//! | column | Arrow type | |
//! | --- | --- | --- |
//! | `start` | `Timestamp(Nanosecond, "UTC")` | the first sample's time |
//! | `channel` | `Dictionary(Int32, Utf8)` | |
//! | `rate_hz` | `Float64` | |
//! | `sample_count` | `UInt64` | |
//! | `hash` | `Utf8` | [`WaveformBlock::content_hash`], 64 hex digits |
//! | `samples` | `List(Float64)` | leaf column `BYTE_STREAM_SPLIT` |
//!
//! Blocks are buffered per day by [`WaveformStore::append`] and written by
//! [`WaveformStore::flush`], one file per day, under a `.tmp` name that is fsynced, renamed, and
//! whose folder is fsynced: a crash leaves whole files or none. Files are never rewritten.
//! Queries see the same columns as the SQL table `waveforms` (registered by
//! [`crate::Historian::query`] when the folder exists; select `sample_count` rather than `samples`
//! where the values are not needed: Parquet then reads only the small columns). Identical blocks
//! appended twice are stored twice (one hash, two rows); [`WaveformStore::get`] returns the first.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Float64Builder, ListBuilder, RecordBatch, StringArray, StringDictionaryBuilder,
    TimestampNanosecondArray, UInt64Array,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Float64Type, Int32Type, Schema, SchemaRef, TimeUnit};
use datafusion::parquet::arrow::arrow_reader::{ParquetRecordBatchReaderBuilder, RowSelection, RowSelector};
use datafusion::parquet::arrow::{ArrowWriter, ProjectionMask};
use datafusion::parquet::basic::{Compression, Encoding, ZstdLevel};
use datafusion::parquet::file::properties::WriterProperties;
use datafusion::parquet::schema::types::ColumnPath;
use sha2::{Digest, Sha256};

use crate::commit::sync_dir;
use crate::{civil_date, next_part_number, AtRest, Error, Result, NANOS_PER_DAY};

/// Domain-separation prefix of the canonical encoding (version 1).
const HASH_DOMAIN: &[u8; 16] = b"fos-waveform-v1\0";
/// Index of the `hash` column in [`schema`].
const HASH_COLUMN: usize = 4;

/// A block of evenly spaced samples of one channel.
#[derive(Debug, Clone, PartialEq)]
pub struct WaveformBlock {
    /// The channel's tag (non-empty).
    pub channel: String,
    /// Time of the first sample: nanoseconds since the Unix epoch, UTC.
    pub start_ns: i64,
    /// Sample rate in Hz (finite, above 0).
    pub rate_hz: f64,
    /// The samples, stored bit for bit.
    pub samples: Vec<f64>,
}

impl WaveformBlock {
    /// Lowercase hex SHA-256 of the block's canonical encoding (see the module doc).
    pub fn content_hash(&self) -> String {
        let mut h = Sha256::new();
        h.update(HASH_DOMAIN);
        h.update((self.channel.len() as u64).to_le_bytes());
        h.update(self.channel.as_bytes());
        h.update(self.start_ns.to_le_bytes());
        h.update(self.rate_hz.to_bits().to_le_bytes());
        h.update((self.samples.len() as u64).to_le_bytes());
        let mut buf = Vec::with_capacity(8 * 1024);
        for chunk in self.samples.chunks(1024) {
            buf.clear();
            buf.extend(chunk.iter().flat_map(|v| v.to_bits().to_le_bytes()));
            h.update(&buf);
        }
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }

    fn check(&self) -> Result<()> {
        if self.channel.is_empty() {
            return Err(Error::Invalid("a waveform block has an empty channel name".into()));
        }
        if !(self.rate_hz.is_finite() && self.rate_hz > 0.0) {
            return Err(Error::Invalid(format!(
                "waveform block of {:?}: sample rate {} Hz is not a finite number above 0",
                self.channel, self.rate_hz
            )));
        }
        Ok(())
    }
}

/// The schema of every waveform file and of the `waveforms` table.
pub fn waveform_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("start", DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())), false),
        Field::new("channel", DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)), false),
        Field::new("rate_hz", DataType::Float64, false),
        Field::new("sample_count", DataType::UInt64, false),
        Field::new("hash", DataType::Utf8, false),
        Field::new("samples", DataType::List(Arc::new(Field::new("item", DataType::Float64, false))), false),
    ]))
}

/// The waveform store of one data folder (`DATA_DIR/historian/waveforms`). Blocks appended and not
/// flushed when it is dropped are discarded. Independent of [`crate::Historian`]; one writer per
/// folder.
#[derive(Debug)]
pub struct WaveformStore {
    dir: PathBuf,
    props: WriterProperties,
    at_rest: AtRest,
    /// Buffered blocks and their hashes, per day of their start.
    pending: BTreeMap<i64, Vec<(WaveformBlock, String)>>,
}

impl WaveformStore {
    /// Open (creating folders as needed) the waveform store of `data_dir`.
    pub fn open(data_dir: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(data_dir, &AtRest::plain())
    }

    /// Open the waveform store of `data_dir` with files stored as `at_rest` says (the folder must
    /// match, as for [`crate::Historian::open_with`]).
    pub fn open_with(data_dir: impl AsRef<Path>, at_rest: &AtRest) -> Result<Self> {
        let historian = data_dir.as_ref().join("historian");
        let dir = historian.join("waveforms");
        fs::create_dir_all(&dir).map_err(|source| Error::Io { path: dir.clone(), source })?;
        at_rest.check_folder(&historian)?;
        Ok(WaveformStore { dir, props: writer_properties(at_rest)?, at_rest: at_rest.clone(), pending: BTreeMap::new() })
    }

    /// The folder that holds the day partitions.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Buffer blocks; returns their content hashes, in order. Refuses (buffering none of them) a
    /// block with an empty channel or a rate that is not finite and above 0.
    pub fn append(&mut self, blocks: &[WaveformBlock]) -> Result<Vec<String>> {
        blocks.iter().try_for_each(WaveformBlock::check)?;
        let mut hashes = Vec::with_capacity(blocks.len());
        for b in blocks {
            let hash = b.content_hash();
            self.pending.entry(b.start_ns.div_euclid(NANOS_PER_DAY)).or_default().push((b.clone(), hash.clone()));
            hashes.push(hash);
        }
        Ok(hashes)
    }

    /// Blocks buffered and not yet written.
    pub fn buffered(&self) -> usize {
        self.pending.values().map(Vec::len).sum()
    }

    /// Write every buffered block out (one file per day); they are then durable and visible to
    /// [`WaveformStore::get`] and to queries.
    pub fn flush(&mut self) -> Result<()> {
        while let Some((day, rows)) = self.pending.pop_first() {
            let part = self.dir.join(format!("date={}", civil_date(day)));
            if let Err(e) = write_blocks(&part, &rows, &self.props) {
                self.pending.insert(day, rows);
                return Err(e);
            }
        }
        Ok(())
    }

    /// Like [`WaveformStore::flush`], but names every file `c<commit>.parquet`: the blocks belong to
    /// the historian commit `commit` ([`crate::Historian::last_commit_id`] + 1), written before it.
    /// After a crash, [`WaveformStore::discard_after`] removes the files of a commit that did not
    /// happen, so a replay from the commit's recorded position stores each block once.
    pub fn flush_for_commit(&mut self, commit: u64) -> Result<()> {
        while let Some((day, rows)) = self.pending.pop_first() {
            let part = self.dir.join(format!("date={}", civil_date(day)));
            if let Err(e) = write_blocks_named(&part, &format!("c{commit}"), &rows, &self.props) {
                self.pending.insert(day, rows);
                return Err(e);
            }
        }
        Ok(())
    }

    /// Removes the files written by [`WaveformStore::flush_for_commit`] for commits after `last`
    /// (the historian's last commit id), and empties the buffer. Returns how many were removed.
    pub fn discard_after(&mut self, last: u64) -> Result<usize> {
        self.pending.clear();
        let mut removed = 0;
        for path in waveform_files(&self.dir)? {
            let id = path
                .file_stem()
                .and_then(|s| s.to_str())
                .and_then(|s| s.strip_prefix('c'))
                .and_then(|s| s.parse::<u64>().ok());
            if id.is_some_and(|id| id > last) {
                fs::remove_file(&path).map_err(|source| Error::Io { path: path.clone(), source })?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// The stored block with this content hash, re-verified: an error names the file when the block
    /// read back no longer hashes to `hash` (the file was altered or damaged). `None` when no
    /// flushed block has this hash.
    pub fn get(&self, hash: &str) -> Result<Option<WaveformBlock>> {
        for path in waveform_files(&self.dir)? {
            if let Some(block) = find_in_file(&path, hash, &self.at_rest)? {
                let actual = block.content_hash();
                if actual != hash {
                    return Err(Error::Corrupt {
                        path,
                        reason: format!("waveform block {hash} now hashes to {actual}: the stored block was altered"),
                    });
                }
                return Ok(Some(block));
            }
        }
        Ok(None)
    }
}

fn writer_properties(at_rest: &AtRest) -> Result<WriterProperties> {
    let level = ZstdLevel::try_new(3).map_err(|source| Error::Parquet { path: PathBuf::new(), source })?;
    let start = ColumnPath::from("start");
    let samples = ColumnPath::new(vec!["samples".into(), "list".into(), "item".into()]);
    Ok(at_rest
        .writer(WriterProperties::builder())?
        .set_compression(Compression::ZSTD(level))
        .set_column_dictionary_enabled(start.clone(), false)
        .set_column_encoding(start, Encoding::DELTA_BINARY_PACKED)
        .set_column_dictionary_enabled(samples.clone(), false)
        .set_column_encoding(samples, Encoding::BYTE_STREAM_SPLIT)
        .set_column_dictionary_enabled(ColumnPath::from("hash"), false)
        .build())
}

/// Write `rows` as the next `part-<n>.parquet` of `dir`: `.tmp` name, fsync, rename, fsync folder.
fn write_blocks(dir: &Path, rows: &[(WaveformBlock, String)], props: &WriterProperties) -> Result<()> {
    fs::create_dir_all(dir).map_err(|source| Error::Io { path: dir.to_path_buf(), source })?;
    let n = next_part_number(dir)?;
    write_blocks_named(dir, &format!("part-{n}"), rows, props)
}

/// Write `rows` as `<stem>.parquet` of `dir` (replacing a file of that name atomically).
fn write_blocks_named(dir: &Path, stem: &str, rows: &[(WaveformBlock, String)], props: &WriterProperties) -> Result<()> {
    fs::create_dir_all(dir).map_err(|source| Error::Io { path: dir.to_path_buf(), source })?;
    let path = dir.join(format!("{stem}.parquet"));
    let tmp = dir.join(format!("{stem}.parquet.tmp"));
    let batch = to_batch(rows)?;
    let file = fs::File::create(&tmp).map_err(|source| Error::Io { path: tmp.clone(), source })?;
    let parquet_err = |source| Error::Parquet { path: path.clone(), source };
    let mut writer = ArrowWriter::try_new(file, batch.schema(), Some(props.clone())).map_err(parquet_err)?;
    writer.write(&batch).map_err(parquet_err)?;
    let file = writer.into_inner().map_err(parquet_err)?;
    file.sync_all().map_err(|source| Error::Io { path: tmp.clone(), source })?;
    fs::rename(&tmp, &path).map_err(|source| Error::Io { path: path.clone(), source })?;
    sync_dir(dir)
}


fn to_batch(rows: &[(WaveformBlock, String)]) -> Result<RecordBatch> {
    let start = TimestampNanosecondArray::from_iter_values(rows.iter().map(|(b, _)| b.start_ns)).with_timezone("UTC");
    let mut channel = StringDictionaryBuilder::<Int32Type>::new();
    let item = Arc::new(Field::new("item", DataType::Float64, false));
    let total = rows.iter().map(|(b, _)| b.samples.len()).sum();
    let mut samples = ListBuilder::new(Float64Builder::with_capacity(total)).with_field(item);
    for (b, _) in rows {
        channel.append_value(&b.channel);
        samples.values().append_slice(&b.samples);
        samples.append(true);
    }
    let rate = datafusion::arrow::array::Float64Array::from_iter_values(rows.iter().map(|(b, _)| b.rate_hz));
    let count = UInt64Array::from_iter_values(rows.iter().map(|(b, _)| b.samples.len() as u64));
    let hash = StringArray::from_iter_values(rows.iter().map(|(_, h)| h.as_str()));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(start),
        Arc::new(channel.finish()),
        Arc::new(rate),
        Arc::new(count),
        Arc::new(hash),
        Arc::new(samples.finish()),
    ];
    Ok(RecordBatch::try_new(waveform_schema(), columns)?)
}

/// Every `*.parquet` file in the day folders of `dir`, in name order.
fn waveform_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let read = |d: &Path| -> Result<Vec<PathBuf>> {
        let mut out = Vec::new();
        for e in fs::read_dir(d).map_err(|source| Error::Io { path: d.to_path_buf(), source })? {
            out.push(e.map_err(|source| Error::Io { path: d.to_path_buf(), source })?.path());
        }
        out.sort();
        Ok(out)
    };
    let mut files = Vec::new();
    for day in read(dir)?.into_iter().filter(|p| p.is_dir()) {
        files.extend(read(&day)?.into_iter().filter(|p| p.extension().is_some_and(|e| e == "parquet")));
    }
    Ok(files)
}

/// The first block of `path` stored under `hash` (its `hash` column is read first, then that row).
fn find_in_file(path: &Path, hash: &str, at_rest: &AtRest) -> Result<Option<WaveformBlock>> {
    let parquet_err = |source| Error::Parquet { path: path.to_path_buf(), source };
    let open = || fs::File::open(path).map_err(|source| Error::Io { path: path.to_path_buf(), source });
    let options = at_rest.reader()?;
    let builder = ParquetRecordBatchReaderBuilder::try_new_with_options(open()?, options.clone()).map_err(parquet_err)?;
    let mask = ProjectionMask::roots(builder.parquet_schema(), [HASH_COLUMN]);
    let mut row = None;
    let mut offset = 0;
    for batch in builder.with_projection(mask).build().map_err(parquet_err)? {
        let batch = batch?;
        let hashes = cast(batch.column(0), &DataType::Utf8)?;
        let hashes = hashes.as_string::<i32>();
        if let Some(i) = (0..hashes.len()).find(|&i| hashes.value(i) == hash) {
            row = Some(offset + i);
            break;
        }
        offset += batch.num_rows();
    }
    let Some(row) = row else { return Ok(None) };
    let selection = RowSelection::from(vec![RowSelector::skip(row), RowSelector::select(1)]);
    let reader = ParquetRecordBatchReaderBuilder::try_new_with_options(open()?, options)
        .map_err(parquet_err)?
        .with_row_selection(selection)
        .build()
        .map_err(parquet_err)?;
    for batch in reader {
        let batch = batch?;
        if batch.num_rows() > 0 {
            return decode_row(&batch, 0, path).map(Some);
        }
    }
    Ok(None)
}

/// Row `i` of a batch of [`waveform_schema`] as a block.
fn decode_row(batch: &RecordBatch, i: usize, path: &Path) -> Result<WaveformBlock> {
    let column = |name: &str| {
        batch.column_by_name(name).cloned().ok_or_else(|| Error::Corrupt {
            path: path.to_path_buf(),
            reason: format!("no column {name:?}: not a waveform file"),
        })
    };
    let start = cast(&column("start")?, &DataType::Timestamp(TimeUnit::Nanosecond, None))?;
    let start = start.as_primitive::<datafusion::arrow::datatypes::TimestampNanosecondType>().value(i);
    let channel = cast(&column("channel")?, &DataType::Utf8)?;
    let rate = cast(&column("rate_hz")?, &DataType::Float64)?;
    let samples = column("samples")?;
    let samples = samples.as_list_opt::<i32>().ok_or_else(|| Error::Corrupt {
        path: path.to_path_buf(),
        reason: "column \"samples\" is not a list: not a waveform file".into(),
    })?;
    let values = samples.value(i);
    let values = cast(&values, &DataType::Float64)?;
    Ok(WaveformBlock {
        channel: channel.as_string::<i32>().value(i).to_string(),
        start_ns: start,
        rate_hz: rate.as_primitive::<Float64Type>().value(i),
        samples: values.as_primitive::<Float64Type>().values().to_vec(),
    })
}

#[cfg(test)]
mod tests;
