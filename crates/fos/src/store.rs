//! `fos import` and `fos query`: loading CSV data sets and Tennessee Eastman (TEP) matrices into
//! the historian (`fos-historian`) and answering SQL over it.
//!
//! Import rules (CSV, any extension other than `.dat`):
//! - every numeric column of a CSV becomes the tag `<prefix><file stem>.<column>`; a column is
//!   numeric when its first non-empty cell parses as a number (`1.5`, `-2E+03`, `NaN`, `inf`);
//!   other columns are skipped with a note; empty cells give no point;
//! - the delimiter is whichever of `,` `;` TAB occurs most in the header line;
//! - the time column is the first header named `datetime`, `timestamp`, `time` or `date_time`
//!   (any case). Its cells are RFC 3339-like UTC times (`2020-03-09 10:14:33`,
//!   `2020-03-09T10:14:33.250Z`) or plain numbers of seconds since the Unix epoch;
//! - a file with no time column gets `time = row index` seconds since the Unix epoch: the first
//!   data row is at 1970-01-01T00:00:00Z, the next one second later (the rows' real spacing is
//!   unknown to the importer; scale in SQL where it is known);
//! - an import that would put two sources into one tag refuses before writing anything: two
//!   files (or two columns of one file) giving the same tag, or a tag already in the historian.
//!
//! Import rules (TEP, files named `*.dat`, the Braatz `dNN.dat` / `dNN_te.dat` layout):
//! - whitespace-separated numbers, 52 variables per observation, in the order
//!   `XMEAS(1)`..`XMEAS(41)`, `XMV(1)`..`XMV(11)`; variable `j` becomes the tag
//!   `<prefix><file stem>.XMEAS(j)` / `<prefix><file stem>.XMV(j)` (the data set's own names);
//! - orientation is decided by shape (blank lines ignored): if every line holds 52 numbers, each
//!   line is one observation (the usual layout, and the reading of a 52 × 52 file); otherwise, if
//!   there are exactly 52 lines of equal length, each line is one variable and each column one
//!   observation (`d00.dat` is stored so, 52 × 500); anything else is refused naming the shape;
//! - observation `i` (from 0) is at `i × 180 s` after the Unix epoch (TEP samples every 3 minutes;
//!   the simulation's own clock offset is not in the files): the first at 1970-01-01T00:00:00Z;
//! - the whole file is parsed, and every number checked, before anything is written (TEP files
//!   are under 1 MB); a cell that is not a number is refused naming line and field.

use std::collections::{BTreeMap, HashSet};
use std::io::{IsTerminal, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use clap::Args;
use fos_historian::arrow::array::{Array, AsArray, RecordBatch};
use fos_historian::arrow::compute::cast;
use fos_historian::arrow::datatypes::DataType;
use fos_historian::{quality, Historian, Point};
use indicatif::{ProgressBar, ProgressStyle};

/// Flags of `fos import`.
#[derive(Debug, Args)]
pub(crate) struct ImportArgs {
    /// CSV files, TEP `*.dat` files, or folders searched recursively for `*.csv` and `*.dat`.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Text put before every tag name: `<P><file stem>.<column>`.
    #[arg(long, value_name = "P", default_value = "")]
    tag_prefix: String,
    /// The data folder; the historian lives in DIR/historian.
    #[arg(long, value_name = "DIR", default_value = "fos-data")]
    data_dir: PathBuf,
    #[command(flatten)]
    key: KeyArgs,
}

/// The key of a historian encrypted at rest (both flags absent: files in the clear).
#[derive(Debug, Args)]
pub(crate) struct KeyArgs {
    /// Read the historian's key from this file (64 hex characters or 32 raw bytes).
    #[arg(long, value_name = "PATH", conflicts_with = "key_env")]
    key_file: Option<PathBuf>,
    /// Read the historian's key (64 hex characters) from this environment variable.
    #[arg(long, value_name = "VAR")]
    key_env: Option<String>,
}

impl KeyArgs {
    fn at_rest(&self) -> Result<fos_historian::AtRest> {
        let source = match (&self.key_file, &self.key_env) {
            (Some(f), _) => fos_keys::KeySource::File(f.clone()),
            (None, Some(v)) => fos_keys::KeySource::Env(v.clone()),
            (None, None) => return Ok(fos_historian::AtRest::plain()),
        };
        Ok(fos_historian::AtRest::encrypted(&source.load()?))
    }
}

fn open_historian(data_dir: &Path, key: &KeyArgs) -> Result<Historian> {
    let options = fos_historian::HistorianOptions { at_rest: key.at_rest()?, ..Default::default() };
    Historian::open_with(data_dir, options)
        .with_context(|| format!("cannot open the historian in {}", data_dir.display()))
}

/// Flags of `fos query`.
#[derive(Debug, Args)]
pub(crate) struct QueryArgs {
    /// One SQL statement over the table `samples(time, tag, value, quality)`; quality codes:
    /// 0 good, 1 uncertain, 2 and above bad.
    sql: String,
    /// Print JSON Lines (one object per row) instead of a table.
    #[arg(long, conflicts_with = "csv")]
    json: bool,
    /// Print CSV with a header row instead of a table.
    #[arg(long)]
    csv: bool,
    /// The data folder; the historian lives in DIR/historian.
    #[arg(long, value_name = "DIR", default_value = "fos-data")]
    data_dir: PathBuf,
    /// Query a central historian's object-store mirror instead of DIR (file:///ABS/DIR, or
    /// s3://BUCKET/PREFIX in builds with the `s3` feature).
    #[arg(long, value_name = "URL", conflicts_with = "data_dir")]
    store: Option<String>,
    #[command(flatten)]
    key: KeyArgs,
}

/// Header names taken as the time column (compared without case).
const TIME_COLUMNS: [&str; 4] = ["datetime", "timestamp", "time", "date_time"];
/// Points handed to the historian at once.
const BATCH: usize = 64 * 1024;
/// Variables per TEP observation: `XMEAS(1..=41)` then `XMV(1..=11)`.
const TEP_VARS: usize = 52;
/// TEP sampling interval: 3 minutes, in nanoseconds.
const TEP_STEP_NS: i64 = 180 * 1_000_000_000;

/// One file to import: its path, header (variable names) and tags, and how to read it.
#[derive(Debug)]
struct Source {
    path: PathBuf,
    headers: Vec<String>,
    /// Tag name per column (`None` for the time column).
    tags: Vec<Option<Arc<str>>>,
    format: Format,
}

/// How a source's values are read.
#[derive(Debug)]
enum Format {
    /// CSV, streamed at load time.
    Csv { delimiter: u8, time_col: Option<usize> },
    /// A TEP matrix, parsed at planning time: `values[observation * TEP_VARS + variable]`.
    Tep { values: Vec<f64>, bytes: u64 },
}

/// `fos import`: load CSV files into the historian.
pub(crate) fn import(a: ImportArgs) -> Result<ExitCode> {
    let files = expand(&a.paths)?;
    if files.is_empty() {
        bail!("no CSV or TEP (.dat) files found in {}", show_paths(&a.paths));
    }
    let sources = files.iter().map(|f| plan(f, &a.tag_prefix)).collect::<Result<Vec<_>>>()?;
    refuse_merges(&sources)?;

    let mut historian = open_historian(&a.data_dir, &a.key)?;
    refuse_existing(&historian, &sources, &a.data_dir)?;

    let total: u64 = files.iter().map(|f| std::fs::metadata(f).map(|m| m.len()).unwrap_or(0)).sum();
    let pb = progress(total);
    let start = Instant::now();
    let (mut points, mut tags) = (0u64, 0usize);
    for s in &sources {
        let (n, t) = load(s, &mut historian, &pb)?;
        points += n;
        tags += t;
    }
    historian.flush().context("cannot write the historian's files")?;
    pb.finish_and_clear();
    let secs = start.elapsed().as_secs_f64();
    println!(
        "imported {points} points of {tags} tags from {} file(s) into {} in {secs:.2} s ({:.0} points/s)",
        sources.len(),
        historian.samples_dir().display(),
        points as f64 / secs.max(1e-9)
    );
    Ok(ExitCode::SUCCESS)
}

/// `fos query`: run SQL and print the answer.
pub(crate) fn query(a: QueryArgs) -> Result<ExitCode> {
    let (schema, batches) = match &a.store {
        Some(url) => fos_historian::mirror::query_store(url, &a.sql, &a.key.at_rest()?)?,
        None => {
            let samples = a.data_dir.join("historian").join("samples");
            if !samples.is_dir() {
                bail!("no historian in {} (no {}): run `fos import` first", a.data_dir.display(), samples.display());
            }
            open_historian(&a.data_dir, &a.key)?.query_with_schema(&a.sql)?
        }
    };
    let mut out = std::io::stdout().lock();
    if a.json {
        let batches = batches.iter().map(plain_strings).collect::<Result<Vec<_>>>()?;
        let mut w = fos_historian::arrow::json::LineDelimitedWriter::new(&mut out);
        w.write_batches(&batches.iter().collect::<Vec<_>>())?;
        w.finish()?;
    } else if a.csv {
        let mut w = fos_historian::arrow::csv::WriterBuilder::new().with_header(true).build(&mut out);
        if batches.is_empty() {
            let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
            writeln!(w.into_inner(), "{}", names.join(","))?;
        } else {
            for b in &batches {
                w.write(&plain_strings(b)?)?;
            }
        }
    } else {
        writeln!(out, "{}", fos_historian::arrow::util::pretty::pretty_format_batches_with_schema(schema, &batches)?)?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// The batch with dictionary-encoded columns (`tag`) cast to plain strings for the writers.
fn plain_strings(b: &RecordBatch) -> Result<RecordBatch> {
    if !b.schema().fields().iter().any(|f| matches!(f.data_type(), DataType::Dictionary(..))) {
        return Ok(b.clone());
    }
    let mut fields = Vec::new();
    let mut columns = Vec::new();
    for (f, c) in b.schema().fields().iter().zip(b.columns()) {
        if let DataType::Dictionary(_, v) = f.data_type() {
            columns.push(cast(c, v)?);
            fields.push(f.as_ref().clone().with_data_type(v.as_ref().clone()));
        } else {
            columns.push(c.clone());
            fields.push(f.as_ref().clone());
        }
    }
    Ok(RecordBatch::try_new(Arc::new(fos_historian::arrow::datatypes::Schema::new(fields)), columns)?)
}

fn show_paths(paths: &[PathBuf]) -> String {
    paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
}

/// The files named, and the `*.csv` and `*.dat` files below the folders named, in name order, each once.
fn expand(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .with_context(|| format!("cannot read the folder {}", dir.display()))?
            .map(|e| e.map(|e| e.path()))
            .collect::<std::io::Result<_>>()
            .with_context(|| format!("cannot read the folder {}", dir.display()))?;
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(&p, out)?;
            } else if p.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv") || e.eq_ignore_ascii_case("dat")) {
                out.push(p);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            walk(p, &mut out)?;
        } else if p.is_file() {
            out.push(p.clone());
        } else {
            bail!("{}: no such file or folder", p.display());
        }
    }
    let mut seen = HashSet::new();
    out.retain(|p| seen.insert(std::fs::canonicalize(p).unwrap_or_else(|_| p.clone())));
    Ok(out)
}

/// Read a file's header: delimiter, time column and tag names (for a `.dat` file: the whole TEP
/// matrix).
fn plan(path: &Path, prefix: &str) -> Result<Source> {
    if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("dat")) {
        return plan_tep(path, prefix);
    }
    let mut first = Vec::new();
    std::fs::File::open(path)
        .with_context(|| format!("cannot open {}", path.display()))?
        .take(64 * 1024)
        .read_to_end(&mut first)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let line = first.split(|&b| b == b'\n').next().unwrap_or_default();
    let delimiter = [b',', b';', b'\t']
        .into_iter()
        .max_by_key(|d| (line.iter().filter(|b| *b == d).count(), *d == b','))
        .unwrap_or(b',');
    let mut reader = csv::ReaderBuilder::new().delimiter(delimiter).from_path(path)?;
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| csv_error(path, &[], e))?
        .iter()
        .enumerate()
        .map(|(i, h)| if h.trim().is_empty() { format!("column{}", i + 1) } else { h.trim().to_string() })
        .collect();
    if headers.is_empty() {
        bail!("{}: empty file (no header row)", path.display());
    }
    let time_col = headers.iter().position(|h| TIME_COLUMNS.iter().any(|t| h.eq_ignore_ascii_case(t)));
    let stem = path.file_stem().map(|s| s.to_string_lossy()).unwrap_or_default();
    let tags = headers
        .iter()
        .enumerate()
        .map(|(i, h)| (Some(i) != time_col).then(|| Arc::from(format!("{prefix}{stem}.{h}"))))
        .collect();
    Ok(Source { path: path.to_path_buf(), headers, tags, format: Format::Csv { delimiter, time_col } })
}

/// The TEP name of variable `j` (from 0): `XMEAS(1)`..`XMEAS(41)`, then `XMV(1)`..`XMV(11)`.
fn tep_name(j: usize) -> String {
    if j < 41 {
        format!("XMEAS({})", j + 1)
    } else {
        format!("XMV({})", j - 40)
    }
}

/// Parse a whole TEP file, deciding its orientation by shape (see the module doc).
fn plan_tep(path: &Path, prefix: &str) -> Result<Source> {
    let name = path.display();
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {name}"))?;
    let mut lines: Vec<(usize, Vec<f64>)> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let cells = line
            .split_whitespace()
            .enumerate()
            .map(|(f, cell)| {
                cell.parse::<f64>()
                    .with_context(|| format!("{name}: line {}, field {}: {cell:?} is not a number", i + 1, f + 1))
            })
            .collect::<Result<Vec<f64>>>()?;
        if !cells.is_empty() {
            lines.push((i + 1, cells));
        }
    }
    let width = lines.first().map_or(0, |(_, c)| c.len());
    let values = if !lines.is_empty() && lines.iter().all(|(_, c)| c.len() == TEP_VARS) {
        lines.into_iter().flat_map(|(_, c)| c).collect()
    } else if lines.len() == TEP_VARS && lines.iter().all(|(_, c)| c.len() == width) {
        (0..width).flat_map(|obs| lines.iter().map(move |(_, c)| c[obs])).collect()
    } else {
        let odd = lines.iter().find(|(_, c)| c.len() != TEP_VARS);
        bail!(
            "{name}: not a TEP matrix: {} non-blank lines{}; expected {TEP_VARS} numbers on every line (one \
             observation per line) or {TEP_VARS} lines of equal length (one variable per line)",
            lines.len(),
            odd.map(|(l, c)| format!(", line {l} has {} numbers", c.len())).unwrap_or_default()
        );
    };
    let stem = path.file_stem().map(|s| s.to_string_lossy()).unwrap_or_default();
    let headers: Vec<String> = (0..TEP_VARS).map(tep_name).collect();
    let tags = headers.iter().map(|h| Some(Arc::from(format!("{prefix}{stem}.{h}")))).collect();
    let format = Format::Tep { values, bytes: text.len() as u64 };
    Ok(Source { path: path.to_path_buf(), headers, tags, format })
}

/// Refuse when two files, or two columns of one file, would write the same tag.
fn refuse_merges(sources: &[Source]) -> Result<()> {
    let mut owner: BTreeMap<&str, (&Path, &str)> = BTreeMap::new();
    for s in sources {
        for (tag, col) in s.tags.iter().zip(&s.headers) {
            let Some(tag) = tag else { continue };
            if let Some((path, other_col)) = owner.insert(tag, (s.path.as_path(), col.as_str())) {
                if path == s.path.as_path() {
                    bail!("{}: columns {other_col:?} and {col:?} both give the tag {tag:?}", path.display());
                }
                bail!(
                    "{} and {} would both write the tag {tag:?} (same file stem): import them with a different \
                     --tag-prefix each",
                    path.display(),
                    s.path.display()
                );
            }
        }
    }
    Ok(())
}

/// Refuse when a tag to import is already in the historian.
fn refuse_existing(h: &Historian, sources: &[Source], data_dir: &Path) -> Result<()> {
    let batches = h.query("SELECT DISTINCT tag FROM samples").context("cannot list the historian's tags")?;
    let mut existing = HashSet::new();
    for b in &batches {
        let tags = cast(b.column(0), &DataType::Utf8)?;
        let tags = tags.as_string::<i32>();
        existing.extend((0..tags.len()).map(|i| tags.value(i).to_string()));
    }
    for s in sources {
        if let Some(tag) = s.tags.iter().flatten().find(|t| existing.contains(&***t)) {
            bail!(
                "{}: the tag {tag:?} is already in the historian of {} (imported before?): refusing to merge; \
                 use another --tag-prefix or data folder",
                s.path.display(),
                data_dir.display()
            );
        }
    }
    Ok(())
}

/// How a column's cells are read, decided at its first non-empty cell.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Unknown,
    Numeric,
    Skipped,
}

/// Write one TEP matrix into the historian; returns the points written and the tags they fill.
fn load_tep(s: &Source, values: &[f64], bytes: u64, h: &mut Historian, pb: &ProgressBar) -> Result<(u64, usize)> {
    let mut batch: Vec<Point> = Vec::with_capacity(BATCH.min(values.len()));
    for (obs, row) in values.chunks_exact(TEP_VARS).enumerate() {
        let time_ns = i64::try_from(obs).ok().and_then(|o| o.checked_mul(TEP_STEP_NS)).context("too many rows")?;
        for (tag, &value) in s.tags.iter().zip(row) {
            let tag = tag.clone().context("TEP variable without a tag")?;
            batch.push(Point { time_ns, tag, value, quality: quality::GOOD });
        }
        if batch.len() >= BATCH {
            h.write_batch(&batch)?;
            batch.clear();
        }
    }
    h.write_batch(&batch)?;
    pb.inc(bytes);
    Ok((values.len() as u64, TEP_VARS))
}

/// Stream one file into the historian; returns the points written and the tags they fill.
fn load(s: &Source, h: &mut Historian, pb: &ProgressBar) -> Result<(u64, usize)> {
    let (delimiter, time_col) = match &s.format {
        Format::Csv { delimiter, time_col } => (*delimiter, *time_col),
        Format::Tep { values, bytes } => return load_tep(s, values, *bytes, h, pb),
    };
    let name = s.path.display();
    let mut reader = csv::ReaderBuilder::new().delimiter(delimiter).from_path(&s.path)?;
    let mut kinds = vec![Kind::Unknown; s.headers.len()];
    if let Some(t) = time_col {
        kinds[t] = Kind::Skipped;
    }
    let mut batch: Vec<Point> = Vec::with_capacity(BATCH);
    let mut record = csv::StringRecord::new();
    let (mut row, mut points, mut last_pos) = (0i64, 0u64, 0u64);
    while reader.read_record(&mut record).map_err(|e| csv_error(&s.path, &s.headers, e))? {
        let line = record.position().map_or(0, |p| p.line());
        let time_ns = match time_col {
            Some(c) => parse_time(record.get(c).unwrap_or_default().trim())
                .with_context(|| format!("{name}: line {line}, column {:?}", s.headers[c]))?,
            None => row.checked_mul(1_000_000_000).context("too many rows for row-index times")?,
        };
        for (c, cell) in record.iter().enumerate() {
            let cell = cell.trim();
            if cell.is_empty() || kinds[c] == Kind::Skipped {
                continue;
            }
            match cell.parse::<f64>() {
                Ok(value) => {
                    kinds[c] = Kind::Numeric;
                    let tag = s.tags[c].clone().context("time column read as a tag")?;
                    batch.push(Point { time_ns, tag, value, quality: quality::GOOD });
                }
                Err(_) if kinds[c] == Kind::Unknown => {
                    kinds[c] = Kind::Skipped;
                    pb.suspend(|| {
                        eprintln!(
                            "note: {name}: column {:?} is not numeric (line {line}: {cell:?}): skipped",
                            s.headers[c]
                        )
                    });
                }
                Err(_) => bail!("{name}: line {line}, column {:?}: {cell:?} is not a number", s.headers[c]),
            }
        }
        if batch.len() >= BATCH {
            points += batch.len() as u64;
            h.write_batch(&batch)?;
            batch.clear();
        }
        let pos = reader.position().byte();
        pb.inc(pos - last_pos);
        last_pos = pos;
        row += 1;
    }
    points += batch.len() as u64;
    h.write_batch(&batch)?;
    for (c, k) in kinds.iter().enumerate() {
        if *k == Kind::Unknown {
            pb.suspend(|| eprintln!("note: {name}: column {:?} has no values: skipped", s.headers[c]));
        }
    }
    Ok((points, kinds.iter().filter(|k| **k == Kind::Numeric).count()))
}

/// Nanoseconds since the Unix epoch of an RFC 3339-like UTC time or of a number of seconds.
fn parse_time(cell: &str) -> Result<i64> {
    if let Ok(secs) = cell.parse::<f64>() {
        let ns = (secs * 1e9).round();
        if !ns.is_finite() || ns.abs() >= 9.2e18 {
            bail!("time {cell:?} is out of range");
        }
        return Ok(ns as i64);
    }
    let t = humantime::parse_rfc3339_weak(cell).with_context(|| format!("{cell:?} is not a time"))?;
    let ns = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_nanos()).ok(),
        Err(e) => i64::try_from(e.duration().as_nanos()).ok().map(|n| -n),
    };
    ns.with_context(|| format!("time {cell:?} is out of range"))
}

/// A CSV error with the file, line and (where known) column.
fn csv_error(path: &Path, headers: &[String], e: csv::Error) -> anyhow::Error {
    let name = path.display();
    let line = e.position().map_or(0, |p| p.line());
    let message = match e.kind() {
        csv::ErrorKind::UnequalLengths { expected_len, len, .. } => Some(format!(
            "{name}: line {line}: {len} fields where the header has {expected_len}{}",
            usize::try_from(*len)
                .ok()
                .and_then(|l| headers.get(l))
                .map(|h| format!(" (column {h:?} missing)"))
                .unwrap_or_default()
        )),
        csv::ErrorKind::Utf8 { err, .. } => {
            let col = headers.get(err.field()).cloned().unwrap_or_else(|| format!("#{}", err.field() + 1));
            Some(format!("{name}: line {line}, column {col:?}: not UTF-8"))
        }
        _ => None,
    };
    match message {
        Some(m) => anyhow::anyhow!(m),
        None => anyhow::Error::new(e).context(format!("{name}: line {line}")),
    }
}

/// A byte progress bar on stderr (hidden when stderr is not a terminal).
fn progress(total: u64) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(total);
    pb.set_style(
        ProgressStyle::with_template("{spinner} import [{bar:30}] {binary_bytes}/{binary_total_bytes} {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    pb.enable_steady_tick(Duration::from_millis(120));
    pb
}
