//! Retention and downsampling of the `samples` day partitions.
//!
//! [`apply_retention`] with a [`RetentionPolicy`] and a clock reading `now_ns` (day `today` =
//! the UTC day of `now_ns`):
//! - a partition of day `d` with `d >= today - keep_raw_days` is left as it is (raw);
//! - a raw partition with `today - keep_downsampled_days <= d < today - keep_raw_days` is replaced by
//!   its downsampled form. `samples/date=D/` then holds one file, `downsampled-<I>s.parquet`, with
//!   the `samples` schema and one row per tag and bucket of `I` seconds (buckets aligned to the Unix
//!   epoch; `I` divides a day): `time` = the bucket's start, `value` = the arithmetic mean of every
//!   value in the bucket whatever its quality (a NaN or infinity in the bucket makes it NaN or
//!   infinite), `quality` = the worst (highest) code in the bucket. The same buckets go to
//!   `rollups/date=D/rollup-<I>s.parquet`, the table `samples_rollup(time, tag, interval_s, min,
//!   max, mean, count)` (min and max ignore NaN; `count` counts every point);
//! - a partition (raw or downsampled) with `d < today - keep_downsampled_days` is deleted, with its
//!   rollup.
//!
//! A partition that holds a `downsampled-*` file is already downsampled and is not revisited (raw
//! `part-*` files written into such a day later stay raw beside it until the day is deleted).
//! Retention must not run while points of the days it rewrites are being written.
//!
//! # Crash safety
//!
//! Work happens in `historian/retention/` (outside the tables' folders). For day `D`:
//! 1. the new files are written and fsynced in `retention/new-samples-D/` and `retention/new-rollup-D/`;
//! 2. the empty file `retention/commit-D` is created and fsynced: the commit point;
//! 3. `retention/new-samples-D` and `samples/date=D` are exchanged in one atomic step (Linux
//!    `renameat2(RENAME_EXCHANGE)`), the raw day now in `retention/new-samples-D` is renamed to
//!    `retention/old-samples-D`, and `retention/new-rollup-D` is renamed to `rollups/date=D`;
//! 4. `retention/old-samples-D` and then `retention/commit-D` are removed.
//!
//! Deleting a day renames its folders into `retention/` (one atomic step per table) before removing
//! them. Recovery ([`recover_retention`], run first by every [`apply_retention`]): where
//! `commit-D` exists, the renames of step 3 not yet done are done and step 4 is finished (roll
//! forward); every other entry of `retention/` (staging without a commit, folders being deleted)
//! is removed (roll back, or finish a deletion). Recovery tells whether the exchange happened by
//! what the folders hold (a downsampled day has a `downsampled-*` file, a raw one has none). The
//! exchange is atomic, so a query sees day `D` either raw or downsampled, never both and never
//! neither. Where the file system cannot exchange (not Linux, or `EINVAL` from the file system),
//! step 3 falls back to two renames, between which day `D` is briefly absent.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use datafusion::arrow::array::{
    ArrayRef, AsArray, Float64Array, RecordBatch, StringDictionaryBuilder, TimestampNanosecondArray, UInt32Array,
    UInt64Array,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{
    DataType, Field, Float64Type, Int32Type, Schema, SchemaRef, TimeUnit, TimestampNanosecondType, UInt8Type,
};
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::file::properties::WriterProperties;

use crate::commit::sync_dir;
use crate::{civil_date, AtRest, Error, HistorianOptions, Point, Result, NANOS_PER_DAY};

/// How long data is kept raw and downsampled.
#[derive(Debug, Clone, PartialEq)]
pub struct RetentionPolicy {
    /// Days before today kept raw (0: only today).
    pub keep_raw_days: u32,
    /// Days before today kept at all (at least `keep_raw_days`); older days are deleted.
    pub keep_downsampled_days: u32,
    /// Bucket length of downsampled data: whole seconds, dividing a day (60 s, 15 min, 1 h).
    pub downsample_interval: Duration,
}

/// What one [`apply_retention`] did, days as `YYYY-MM-DD`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RetentionReport {
    /// Days whose interrupted swap was finished by recovery.
    pub recovered: Vec<String>,
    /// Days replaced by their downsampled form.
    pub downsampled: Vec<String>,
    /// Days deleted.
    pub deleted: Vec<String>,
}

/// The schema of the rollup files and of the `samples_rollup` table.
pub fn rollup_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("time", DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())), false),
        Field::new("tag", DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)), false),
        Field::new("interval_s", DataType::UInt32, false),
        Field::new("min", DataType::Float64, false),
        Field::new("max", DataType::Float64, false),
        Field::new("mean", DataType::Float64, false),
        Field::new("count", DataType::UInt64, false),
    ]))
}

/// The folders retention works on.
struct Dirs {
    samples: PathBuf,
    rollups: PathBuf,
    work: PathBuf,
}

impl Dirs {
    fn new(data_dir: &Path) -> Result<Self> {
        let h = data_dir.join("historian");
        let d = Dirs { samples: h.join("samples"), rollups: h.join("rollups"), work: h.join("retention") };
        for dir in [&d.samples, &d.rollups, &d.work] {
            fs::create_dir_all(dir).map_err(|source| Error::Io { path: dir.clone(), source })?;
        }
        Ok(d)
    }
}

/// Apply `policy` to the `samples` partitions of `data_dir` at the time `now_ns` (nanoseconds since
/// the Unix epoch); recovers an interrupted earlier run first. See the module doc.
/// `at_rest` must match the folder's files (the historian's [`crate::Historian::at_rest`]).
pub fn apply_retention(
    data_dir: &Path,
    policy: &RetentionPolicy,
    now_ns: i64,
    at_rest: &AtRest,
) -> Result<RetentionReport> {
    let interval_s = check(policy)?;
    let dirs = Dirs::new(data_dir)?;
    let mut report = RetentionReport { recovered: recover(&dirs)?, ..RetentionReport::default() };
    let today = now_ns.div_euclid(NANOS_PER_DAY);
    let raw_from = today - i64::from(policy.keep_raw_days);
    let keep_from = today - i64::from(policy.keep_downsampled_days);
    let mut days: BTreeMap<i64, String> = BTreeMap::new();
    for dir in [&dirs.samples, &dirs.rollups] {
        for (day, name) in day_folders(dir)? {
            days.insert(day, name);
        }
    }
    for (day, date) in days {
        if day < keep_from {
            delete_day(&dirs, &date)?;
            report.deleted.push(date);
        } else if day < raw_from && is_raw(&dirs.samples.join(format!("date={date}")))? {
            downsample_day(&dirs, &date, interval_s, at_rest)?;
            report.downsampled.push(date);
        }
    }
    Ok(report)
}

/// Finish or undo whatever an interrupted [`apply_retention`] left in `data_dir`; returns the days
/// whose swap was finished. See the module doc.
pub fn recover_retention(data_dir: &Path) -> Result<Vec<String>> {
    recover(&Dirs::new(data_dir)?)
}

/// The interval in seconds, after checking the policy.
fn check(p: &RetentionPolicy) -> Result<u32> {
    let secs = p.downsample_interval.as_secs();
    if p.downsample_interval.subsec_nanos() != 0 || secs == 0 || 86_400 % secs != 0 {
        return Err(Error::Invalid(format!(
            "retention: downsample_interval {:?} must be a whole number of seconds dividing a day (86400 s)",
            p.downsample_interval
        )));
    }
    if p.keep_downsampled_days < p.keep_raw_days {
        return Err(Error::Invalid(format!(
            "retention: keep_downsampled_days ({}) is below keep_raw_days ({})",
            p.keep_downsampled_days, p.keep_raw_days
        )));
    }
    Ok(secs as u32)
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io { path: path.to_path_buf(), source }
}

/// The entries of `dir`, in name order.
fn entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).map_err(io(dir))? {
        out.push(e.map_err(io(dir))?.path());
    }
    out.sort();
    Ok(out)
}

/// `(day number, "YYYY-MM-DD")` of every `date=YYYY-MM-DD` folder in `dir`.
fn day_folders(dir: &Path) -> Result<Vec<(i64, String)>> {
    let mut out = Vec::new();
    for p in entries(dir)? {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if let Some(day) = name.strip_prefix("date=").and_then(day_number) {
            if p.is_dir() {
                out.push((day, name["date=".len()..].to_string()));
            }
        }
    }
    Ok(out)
}

/// Day number since 1970-01-01 of `YYYY-MM-DD` (`None` when it is not one that `civil_date` writes).
fn day_number(date: &str) -> Option<i64> {
    let mut it = date.splitn(3, '-').map(str::parse::<i64>);
    let (y, m, d) = (it.next()?.ok()?, it.next()?.ok()?, it.next()?.ok()?);
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    (civil_date(days) == date).then_some(days)
}

fn parquet_files(dir: &Path) -> Result<Vec<PathBuf>> {
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    Ok(entries(dir)?.into_iter().filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "parquet")).collect())
}

/// Whether the partition `dir` holds raw files only (at least one, and no `downsampled-*` file).
fn is_raw(dir: &Path) -> Result<bool> {
    let files = parquet_files(dir)?;
    let downsampled =
        |f: &PathBuf| f.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("downsampled-"));
    Ok(!files.is_empty() && !files.iter().any(downsampled))
}

fn remove_all(path: &Path) -> Result<()> {
    match fs::remove_dir_all(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::Io { path: path.to_path_buf(), source: e }),
        _ => Ok(()),
    }
}

fn rename(from: &Path, to: &Path) -> Result<()> {
    fs::rename(from, to).map_err(|source| Error::Io { path: from.to_path_buf(), source })
}

/// Swaps the folders `a` and `b` in one atomic step (Linux `renameat2(RENAME_EXCHANGE)`), so a
/// query sees one or the other at `b`, never neither. `Ok(false)` where the platform or file system
/// cannot (the caller then renames twice, with a moment in between where `b` is absent).
fn exchange(a: &Path, b: &Path) -> Result<bool> {
    #[cfg(target_os = "linux")]
    {
        use rustix::fs::{renameat_with, RenameFlags, CWD};
        use rustix::io::Errno;
        match renameat_with(CWD, a, CWD, b, RenameFlags::EXCHANGE) {
            Ok(()) => Ok(true),
            Err(e) if e == Errno::INVAL || e == Errno::NOSYS || e == Errno::OPNOTSUPP => Ok(false),
            Err(e) => Err(Error::Io { path: a.to_path_buf(), source: e.into() }),
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (a, b);
        Ok(false)
    }
}

/// Delete day `date` from `samples` and `rollups`: each folder is renamed into the work folder (it
/// disappears from its table at once), then removed.
fn delete_day(dirs: &Dirs, date: &str) -> Result<()> {
    for (table, dir) in [("samples", &dirs.samples), ("rollup", &dirs.rollups)] {
        let from = dir.join(format!("date={date}"));
        if from.is_dir() {
            let to = dirs.work.join(format!("delete-{table}-{date}"));
            remove_all(&to)?;
            rename(&from, &to)?;
            sync_dir(dir)?;
            remove_all(&to)?;
        }
    }
    Ok(())
}

/// Bucket statistics.
#[derive(Debug, Clone, Copy)]
struct Acc {
    sum: f64,
    count: u64,
    min: f64,
    max: f64,
    worst: u8,
}

/// Replace the raw partition of `date` by its downsampled form (steps 1–4 of the module doc).
fn downsample_day(dirs: &Dirs, date: &str, interval_s: u32, at_rest: &AtRest) -> Result<()> {
    stage(dirs, date, interval_s, at_rest)?;
    commit(dirs, date)?;
    finish(dirs, date)
}

/// Step 1: write the new files of `date` in the work folder.
fn stage(dirs: &Dirs, date: &str, interval_s: u32, at_rest: &AtRest) -> Result<()> {
    let old = dirs.samples.join(format!("date={date}"));
    let interval_ns = i64::from(interval_s) * 1_000_000_000;
    let mut buckets: BTreeMap<(Arc<str>, i64), Acc> = BTreeMap::new();
    for file in parquet_files(&old)? {
        read_into(&file, interval_ns, &mut buckets, at_rest)?;
    }
    let new_samples = dirs.work.join(format!("new-samples-{date}"));
    let new_rollup = dirs.work.join(format!("new-rollup-{date}"));
    for d in [&new_samples, &new_rollup] {
        remove_all(d)?;
        fs::create_dir_all(d).map_err(io(d))?;
    }
    let points: Vec<Point> = buckets
        .iter()
        .map(|((tag, t), a)| Point { time_ns: *t, tag: tag.clone(), value: a.sum / a.count as f64, quality: a.worst })
        .collect();
    let props = crate::writer_properties(&HistorianOptions { at_rest: at_rest.clone(), ..HistorianOptions::default() })?;
    write_parquet(&new_samples.join(format!("downsampled-{interval_s}s.parquet")), &crate::to_batch(&points)?, &props)?;
    let rollup = rollup_batch(&buckets, interval_s)?;
    write_parquet(&new_rollup.join(format!("rollup-{interval_s}s.parquet")), &rollup, &at_rest.writer(WriterProperties::builder())?.build())?;
    sync_dir(&dirs.work)
}

/// Step 2: the commit point of `date`.
fn commit(dirs: &Dirs, date: &str) -> Result<()> {
    let commit = dirs.work.join(format!("commit-{date}"));
    fs::File::create(&commit).and_then(|f| f.sync_all()).map_err(io(&commit))?;
    sync_dir(&dirs.work)
}

/// Steps 3 and 4 for a committed day, from wherever they stopped.
fn finish(dirs: &Dirs, date: &str) -> Result<()> {
    let samples = dirs.samples.join(format!("date={date}"));
    let (new_samples, old_samples) =
        (dirs.work.join(format!("new-samples-{date}")), dirs.work.join(format!("old-samples-{date}")));
    if new_samples.is_dir() {
        if samples.exists() && !is_raw(&samples)? && is_raw(&new_samples)? {
            // The exchange below was done and the raw day waits in `new-samples-D`: set it aside.
            rename(&new_samples, &old_samples)?;
        } else if samples.exists() {
            if old_samples.exists() {
                return Err(Error::Corrupt {
                    path: samples,
                    reason: format!(
                        "retention of {date}: both this folder and {} exist (was the day written during retention?): \
                         move the newer files aside by hand",
                        old_samples.display()
                    ),
                });
            }
            if exchange(&new_samples, &samples)? {
                rename(&new_samples, &old_samples)?;
            } else {
                rename(&samples, &old_samples)?;
                rename(&new_samples, &samples)?;
            }
        } else {
            rename(&new_samples, &samples)?;
        }
        sync_dir(&dirs.samples)?;
        sync_dir(&dirs.work)?;
    }
    let new_rollup = dirs.work.join(format!("new-rollup-{date}"));
    if new_rollup.is_dir() {
        let rollup = dirs.rollups.join(format!("date={date}"));
        remove_all(&rollup)?;
        rename(&new_rollup, &rollup)?;
        sync_dir(&dirs.rollups)?;
    }
    sync_dir(&dirs.work)?;
    remove_all(&old_samples)?;
    let commit = dirs.work.join(format!("commit-{date}"));
    fs::remove_file(&commit).map_err(io(&commit))?;
    sync_dir(&dirs.work)
}

/// Roll committed swaps forward, remove everything else in the work folder.
fn recover(dirs: &Dirs) -> Result<Vec<String>> {
    let mut done = Vec::new();
    for p in entries(&dirs.work)? {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
        if let Some(date) = name.strip_prefix("commit-") {
            finish(dirs, date)?;
            done.push(date.to_string());
        }
    }
    for p in entries(&dirs.work)? {
        if p.is_dir() {
            remove_all(&p)?;
        } else {
            fs::remove_file(&p).map_err(io(&p))?;
        }
    }
    sync_dir(&dirs.work)?;
    Ok(done)
}

/// Add every row of a `samples` file to its (tag, bucket).
fn read_into(
    file: &Path,
    interval_ns: i64,
    buckets: &mut BTreeMap<(Arc<str>, i64), Acc>,
    at_rest: &AtRest,
) -> Result<()> {
    let parquet_err = |source| Error::Parquet { path: file.to_path_buf(), source };
    let f = fs::File::open(file).map_err(io(file))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new_with_options(f, at_rest.reader()?)
        .map_err(parquet_err)?
        .build()
        .map_err(parquet_err)?;
    let mut tags: BTreeMap<String, Arc<str>> = BTreeMap::new();
    for batch in reader {
        let batch = batch?;
        let column = |name: &str| {
            batch.column_by_name(name).cloned().ok_or_else(|| Error::Corrupt {
                path: file.to_path_buf(),
                reason: format!("no column {name:?}: not a samples file"),
            })
        };
        let time = cast(&column("time")?, &DataType::Timestamp(TimeUnit::Nanosecond, None))?;
        let tag = cast(&column("tag")?, &DataType::Utf8)?;
        let value = cast(&column("value")?, &DataType::Float64)?;
        let quality = cast(&column("quality")?, &DataType::UInt8)?;
        let (time, tag) = (time.as_primitive::<TimestampNanosecondType>(), tag.as_string::<i32>());
        let (value, quality) = (value.as_primitive::<Float64Type>(), quality.as_primitive::<UInt8Type>());
        for i in 0..batch.num_rows() {
            let name = tag.value(i);
            let tag = match tags.get(name) {
                Some(t) => t.clone(),
                None => tags.entry(name.to_string()).or_insert_with(|| Arc::from(name)).clone(),
            };
            let bucket = time.value(i).div_euclid(interval_ns) * interval_ns;
            let (v, q) = (value.value(i), quality.value(i));
            let a = buckets.entry((tag, bucket)).or_insert(Acc {
                sum: 0.0,
                count: 0,
                min: f64::NAN,
                max: f64::NAN,
                worst: 0,
            });
            a.sum += v;
            a.count += 1;
            a.min = a.min.min(v);
            a.max = a.max.max(v);
            a.worst = a.worst.max(q);
        }
    }
    Ok(())
}

fn rollup_batch(buckets: &BTreeMap<(Arc<str>, i64), Acc>, interval_s: u32) -> Result<RecordBatch> {
    let time = TimestampNanosecondArray::from_iter_values(buckets.keys().map(|(_, t)| *t)).with_timezone("UTC");
    let mut tags = StringDictionaryBuilder::<Int32Type>::new();
    for (tag, _) in buckets.keys() {
        tags.append_value(tag);
    }
    let acc = || buckets.values();
    let columns: Vec<ArrayRef> = vec![
        Arc::new(time),
        Arc::new(tags.finish()),
        Arc::new(UInt32Array::from_iter_values(acc().map(|_| interval_s))),
        Arc::new(Float64Array::from_iter_values(acc().map(|a| a.min))),
        Arc::new(Float64Array::from_iter_values(acc().map(|a| a.max))),
        Arc::new(Float64Array::from_iter_values(acc().map(|a| a.sum / a.count as f64))),
        Arc::new(UInt64Array::from_iter_values(acc().map(|a| a.count))),
    ];
    Ok(RecordBatch::try_new(rollup_schema(), columns)?)
}

/// Write one Parquet file and fsync it (its folder is fsynced by the caller).
fn write_parquet(path: &Path, batch: &RecordBatch, props: &WriterProperties) -> Result<()> {
    let parquet_err = |source| Error::Parquet { path: path.to_path_buf(), source };
    let file = fs::File::create(path).map_err(io(path))?;
    let mut writer = ArrowWriter::try_new(file, batch.schema(), Some(props.clone())).map_err(parquet_err)?;
    writer.write(batch).map_err(parquet_err)?;
    writer.into_inner().map_err(parquet_err)?.sync_all().map_err(io(path))?;
    match path.parent() {
        Some(dir) => sync_dir(dir),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests;
