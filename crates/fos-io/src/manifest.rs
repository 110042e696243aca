//! The recording manifest (`manifest.csv` and the `bearings.csv` beside it; the format is
//! described in `shared/data/FORMAT.md`), its validation, its leakage rules and loading the
//! samples of one row.
//!
//! Every field is checked when the manifest is loaded; each error names the manifest (or
//! `bearings.csv`), the 1-based line and the column. The leakage rules of the format are
//! [`check_split`] (a train manifest against a test manifest) and [`Manifest::check_self`] (one
//! manifest holding both sides):
//! - no `bearing_id` that appears in a `test` row with a fault label appears in a `train` row;
//! - no time range of a `test` row overlaps a `baseline` or `train` row of the same file (any
//!   signal of it: the channels of one file are recorded at the same time; an empty
//!   `start_s`/`end_s` means from the start/to the end of the file).

use crate::error::{Error, Result};
use crate::signal::{open_stream, CHUNK};
use fos_core::{BearingGeometry, Label, Role};
use std::collections::{BTreeMap, HashMap};
use std::path::{Component, Path, PathBuf};

/// One bearing type of `bearings.csv`.
#[derive(Debug, Clone, PartialEq)]
pub struct BearingInfo {
    /// Its `id`, as the manifest's `bearing` column names it.
    pub id: String,
    /// Its geometry (lengths in `unit`).
    pub geometry: BearingGeometry,
    /// `in` or `mm`.
    pub unit: String,
}

/// One manifest row: a recording (or a time range of one) and what is known about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The manifest this row is from.
    pub manifest: PathBuf,
    /// 1-based line of the row in the manifest (the header is line 1).
    pub line: usize,
    /// The `path` column as written.
    pub path: String,
    /// `path` resolved against the manifest's folder.
    pub file: PathBuf,
    /// Which signal in the file (variable or dotted struct path, column name, or channel index).
    pub signal: String,
    /// Sample rate in Hz.
    pub fs_hz: f64,
    /// Nominal shaft speed in Hz.
    pub shaft_hz: f64,
    /// The bearing type: an `id` of `bearings.csv`.
    pub bearing: String,
    /// The sensor position on one machine.
    pub machine: String,
    /// The physical bearing (specimen).
    pub bearing_id: String,
    /// Health label.
    pub label: Label,
    /// What an evaluation may do with the row.
    pub role: Role,
    /// Start of the covered range in seconds; `None` means the start of the file.
    pub start_s: Option<f64>,
    /// End of the covered range in seconds; `None` means the end of the file.
    pub end_s: Option<f64>,
    /// Operating load, free text.
    pub load: Option<String>,
}

impl Row {
    /// A short text that identifies the recording range of this row: `path:signal`, followed by
    /// `@start-end` (seconds, either side may be empty) when the row covers part of the file.
    pub fn key(&self) -> String {
        let mut k = format!("{}:{}", self.path, self.signal);
        if self.start_s.is_some() || self.end_s.is_some() {
            let f = |v: Option<f64>| v.map(|x| x.to_string()).unwrap_or_default();
            k.push_str(&format!("@{}-{}", f(self.start_s), f(self.end_s)));
        }
        k
    }

    /// Where the row is: `<manifest> line <n>`.
    pub fn origin(&self) -> String {
        format!("{} line {}", self.manifest.display(), self.line)
    }

    /// The covered time range as `(start, end)` in seconds; end is infinite for "to the end".
    pub fn span_s(&self) -> (f64, f64) {
        (
            self.start_s.unwrap_or(0.0),
            self.end_s.unwrap_or(f64::INFINITY),
        )
    }

    /// Whether the time ranges of two rows overlap (ignores which file they are of).
    pub fn overlaps(&self, other: &Row) -> bool {
        let (a0, a1) = self.span_s();
        let (b0, b1) = other.span_s();
        a0 < b1 && b0 < a1
    }

    fn range_text(&self) -> String {
        match (self.start_s, self.end_s) {
            (None, None) => "the whole file".to_string(),
            (s, None) => format!("{} s to the end", s.unwrap_or(0.0)),
            (s, Some(e)) => format!("{} s to {e} s", s.unwrap_or(0.0)),
        }
    }
}

/// A loaded, validated manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    /// The manifest file.
    pub path: PathBuf,
    /// Its folder, against which the rows' paths are resolved.
    pub dir: PathBuf,
    /// The rows, in file order.
    pub rows: Vec<Row>,
    /// The bearing types of `bearings.csv`, by id.
    pub bearings: BTreeMap<String, BearingInfo>,
}

const REQUIRED: [&str; 9] = [
    "path",
    "signal",
    "fs_hz",
    "shaft_hz",
    "bearing",
    "machine",
    "bearing_id",
    "label",
    "role",
];
const BEARING_COLUMNS: [&str; 6] = [
    "id",
    "elements",
    "element_diameter",
    "pitch_diameter",
    "contact_angle_deg",
    "unit",
];

/// The lowercase header names of a CSV text, mapped to their index; duplicates are an error.
fn header_map(rdr: &mut ::csv::Reader<&[u8]>, path: &Path) -> Result<HashMap<String, usize>> {
    let headers = rdr
        .headers()
        .map_err(|e| crate::csv::csv_error(path, e))?
        .clone();
    let mut map = HashMap::new();
    for (i, h) in headers.iter().enumerate() {
        let h = h.trim().to_ascii_lowercase();
        if h.is_empty() {
            continue;
        }
        if map.insert(h.clone(), i).is_some() {
            return Err(Error::ManifestFile {
                path: path.to_path_buf(),
                detail: format!("the header (line 1) names column `{h}` twice"),
            });
        }
    }
    Ok(map)
}

fn require(map: &HashMap<String, usize>, cols: &[&str], path: &Path) -> Result<()> {
    let missing: Vec<&str> = cols
        .iter()
        .copied()
        .filter(|c| !map.contains_key(*c))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let mut have: Vec<(&String, &usize)> = map.iter().collect();
    have.sort_by_key(|(_, i)| **i);
    Err(Error::ManifestFile {
        path: path.to_path_buf(),
        detail: format!(
            "the header (line 1) lacks required column{} {}; it has: {}",
            if missing.len() == 1 { "" } else { "s" },
            missing
                .iter()
                .map(|c| format!("`{c}`"))
                .collect::<Vec<_>>()
                .join(", "),
            if have.is_empty() {
                "nothing (empty file?)".to_string()
            } else {
                have.iter()
                    .map(|(c, _)| c.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        ),
    })
}

fn strip_bom(text: &str) -> &str {
    text.strip_prefix('\u{feff}').unwrap_or(text)
}

/// One CSV record with its file and line, for field errors.
struct Rec<'a> {
    rec: &'a ::csv::StringRecord,
    map: &'a HashMap<String, usize>,
    path: &'a Path,
    line: usize,
}

impl Rec<'_> {
    fn err(&self, column: &str, detail: String) -> Error {
        Error::Manifest {
            path: self.path.to_path_buf(),
            line: self.line,
            column: column.to_string(),
            detail,
        }
    }

    /// The trimmed cell, empty when the column is absent.
    fn cell(&self, column: &str) -> &str {
        self.map
            .get(column)
            .and_then(|&i| self.rec.get(i))
            .map(str::trim)
            .unwrap_or("")
    }

    fn text(&self, column: &str) -> Result<String> {
        let c = self.cell(column);
        if c.is_empty() {
            return Err(self.err(column, "is empty; it is required".to_string()));
        }
        Ok(c.to_string())
    }

    fn opt_text(&self, column: &str) -> Option<String> {
        Some(self.cell(column))
            .filter(|c| !c.is_empty())
            .map(str::to_string)
    }

    fn number(&self, column: &str) -> Result<f64> {
        let c = self.text(column)?;
        c.parse::<f64>()
            .map_err(|_| self.err(column, format!("`{c}` is not a number")))
    }

    fn positive(&self, column: &str, unit: &str) -> Result<f64> {
        let v = self.number(column)?;
        if !(v.is_finite() && v > 0.0) {
            return Err(self.err(
                column,
                format!("must be a positive number of {unit}, got {v}"),
            ));
        }
        Ok(v)
    }

    fn opt_seconds(&self, column: &str) -> Result<Option<f64>> {
        if self.cell(column).is_empty() {
            return Ok(None);
        }
        let v = self.number(column)?;
        if !(v.is_finite() && v >= 0.0) {
            return Err(self.err(
                column,
                format!("must be a time in seconds, 0 or more, got {v}"),
            ));
        }
        Ok(Some(v))
    }
}

/// Parses `bearings.csv` text; `path` names the file in errors.
pub fn parse_bearings(text: &str, path: &Path) -> Result<BTreeMap<String, BearingInfo>> {
    let text = strip_bom(text);
    let mut rdr = ::csv::ReaderBuilder::new()
        .has_headers(true)
        .trim(::csv::Trim::All)
        .from_reader(text.as_bytes());
    let map = header_map(&mut rdr, path)?;
    require(&map, &BEARING_COLUMNS, path)?;
    let mut out = BTreeMap::new();
    let mut rec = ::csv::StringRecord::new();
    while rdr
        .read_record(&mut rec)
        .map_err(|e| crate::csv::csv_error(path, e))?
    {
        let line = rec.position().map(|p| p.line() as usize).unwrap_or(0);
        let r = Rec {
            rec: &rec,
            map: &map,
            path,
            line,
        };
        let id = r.text("id")?;
        let elements_text = r.text("elements")?;
        let elements: u32 = elements_text.parse().map_err(|_| {
            r.err(
                "elements",
                format!("`{elements_text}` is not a whole number of rolling elements"),
            )
        })?;
        let geometry = BearingGeometry {
            elements,
            element_d: r.number("element_diameter")?,
            pitch_d: r.number("pitch_diameter")?,
            contact_angle_deg: r.number("contact_angle_deg")?,
        };
        geometry.validate().map_err(|e| {
            r.err(
                "elements, element_diameter, pitch_diameter, contact_angle_deg",
                format!("invalid geometry: {e}"),
            )
        })?;
        let unit = r.text("unit")?.to_ascii_lowercase();
        if unit != "in" && unit != "mm" {
            return Err(r.err(
                "unit",
                format!("`{unit}` is not a unit FOS knows: use `in` or `mm`"),
            ));
        }
        if out.contains_key(&id) {
            return Err(r.err("id", format!("bearing `{id}` is defined twice")));
        }
        out.insert(id.clone(), BearingInfo { id, geometry, unit });
    }
    Ok(out)
}

impl Manifest {
    /// Reads and validates the manifest at `path` and the `bearings.csv` beside it.
    pub fn load(path: &Path) -> Result<Manifest> {
        let read = |p: &Path| -> Result<String> {
            let bytes = std::fs::read(p).map_err(|source| Error::Io {
                path: p.to_path_buf(),
                source,
            })?;
            String::from_utf8(bytes).map_err(|e| Error::ManifestFile {
                path: p.to_path_buf(),
                detail: format!(
                    "is not UTF-8 text (invalid byte at offset {})",
                    e.utf8_error().valid_up_to()
                ),
            })
        };
        let text = read(path)?;
        let bpath = dir_of(path).join("bearings.csv");
        let btext = read(&bpath).map_err(|e| match e {
            Error::Io { path: p, source } => Error::ManifestFile {
                path: path.to_path_buf(),
                detail: format!(
                    "needs the bearing table bearings.csv beside it, but {} cannot be read: {source}",
                    p.display()
                ),
            },
            other => other,
        })?;
        Manifest::parse_str(&text, &btext, path)
    }

    /// Parses and validates manifest text and its bearing table text. `path` is where the
    /// manifest is (or would be): rows' paths are resolved against its folder, errors name it,
    /// and errors in `bearings` name `bearings.csv` beside it. Nothing is read from disk.
    pub fn parse_str(manifest: &str, bearings: &str, path: &Path) -> Result<Manifest> {
        let dir = dir_of(path);
        let bearings = parse_bearings(bearings, &dir.join("bearings.csv"))?;
        let text = strip_bom(manifest);
        let mut rdr = ::csv::ReaderBuilder::new()
            .has_headers(true)
            .trim(::csv::Trim::All)
            .from_reader(text.as_bytes());
        let map = header_map(&mut rdr, path)?;
        require(&map, &REQUIRED, path)?;
        let mut rows = Vec::new();
        let mut rec = ::csv::StringRecord::new();
        while rdr
            .read_record(&mut rec)
            .map_err(|e| crate::csv::csv_error(path, e))?
        {
            let line = rec.position().map(|p| p.line() as usize).unwrap_or(0);
            let r = Rec {
                rec: &rec,
                map: &map,
                path,
                line,
            };
            let rel = r.text("path")?;
            let bearing = r.text("bearing")?;
            if !bearings.contains_key(&bearing) {
                let ids: Vec<&str> = bearings.keys().map(String::as_str).collect();
                return Err(r.err(
                    "bearing",
                    format!(
                        "bearing `{bearing}` is not in {}; it defines: {}",
                        dir.join("bearings.csv").display(),
                        if ids.is_empty() {
                            "nothing".to_string()
                        } else {
                            ids.join(", ")
                        }
                    ),
                ));
            }
            let label_text = r.text("label")?;
            let label: Label = label_text
                .parse()
                .map_err(|e: fos_core::ParseNameError| r.err("label", e.to_string()))?;
            let role_text = r.text("role")?;
            let role: Role = role_text
                .parse()
                .map_err(|e: fos_core::ParseNameError| r.err("role", e.to_string()))?;
            let start_s = r.opt_seconds("start_s")?;
            let end_s = r.opt_seconds("end_s")?;
            if let Some(e) = end_s {
                let s = start_s.unwrap_or(0.0);
                if e <= s {
                    return Err(r.err("end_s", format!("end_s = {e} must be after start_s = {s}")));
                }
            }
            rows.push(Row {
                manifest: path.to_path_buf(),
                line,
                file: dir.join(&rel),
                path: rel,
                signal: r.text("signal")?,
                fs_hz: r.positive("fs_hz", "Hz")?,
                shaft_hz: r.positive("shaft_hz", "Hz")?,
                bearing,
                machine: r.text("machine")?,
                bearing_id: r.text("bearing_id")?,
                label,
                role,
                start_s,
                end_s,
                load: r.opt_text("load"),
            });
        }
        if rows.is_empty() {
            return Err(Error::ManifestFile {
                path: path.to_path_buf(),
                detail: "has a header but no rows".to_string(),
            });
        }
        Ok(Manifest {
            path: path.to_path_buf(),
            dir,
            rows,
            bearings,
        })
    }

    /// The bearing type of a row (every row of a loaded manifest has one).
    pub fn bearing_of(&self, row: &Row) -> Option<&BearingInfo> {
        self.bearings.get(&row.bearing)
    }

    /// Applies the leakage rules within this one manifest: same as `check_split(self, self)`.
    pub fn check_self(&self) -> Result<()> {
        check_split(self, self)
    }

    /// Checks that every row's file exists, naming the first row whose file does not.
    pub fn check_files(&self) -> Result<()> {
        for row in &self.rows {
            if !row.file.is_file() {
                return Err(Error::Manifest {
                    path: self.path.clone(),
                    line: row.line,
                    column: "path".to_string(),
                    detail: format!(
                        "file {} does not exist (paths are relative to the manifest's folder)",
                        row.file.display()
                    ),
                });
            }
        }
        Ok(())
    }
}

fn dir_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// A path made comparable: canonical when the file exists, else with `.` and `..` resolved.
fn file_identity(p: &Path) -> PathBuf {
    if let Ok(c) = std::fs::canonicalize(p) {
        return c;
    }
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// At most this many leakage problems are listed in one error.
const MAX_PROBLEMS: usize = 50;

/// Applies the leakage rules of the manifest format to a split: the `train` rows of `train`
/// against the `test` and `baseline` rows of `test` (the two may be the same manifest).
///
/// (a) no `bearing_id` of a `test` row with a fault label appears in a `train` row;
/// (b) no `test` row's time range overlaps a `train` or `baseline` row of the same file.
/// The error lists every violation (up to 50), each naming both rows by manifest and line.
pub fn check_split(train: &Manifest, test: &Manifest) -> Result<()> {
    let trains: Vec<&Row> = train
        .rows
        .iter()
        .filter(|r| r.role == Role::Train)
        .collect();
    let tests: Vec<&Row> = test.rows.iter().filter(|r| r.role == Role::Test).collect();
    let baselines = test.rows.iter().filter(|r| r.role == Role::Baseline);
    let mut problems = Vec::new();
    let mut more = 0usize;
    let mut push = |p: String| {
        if problems.len() < MAX_PROBLEMS {
            problems.push(p);
        } else {
            more += 1;
        }
    };

    for t in tests.iter().filter(|t| t.label.is_fault()) {
        for r in trains.iter().filter(|r| r.bearing_id == t.bearing_id) {
            push(format!(
                "bearing_id `{}` is in test row {} (label {}) and in train row {}: windows of one \
                 physical bearing on both sides leak; put all rows of `{}` on one side",
                t.bearing_id,
                t.origin(),
                t.label,
                r.origin(),
                t.bearing_id
            ));
        }
    }

    let ids: HashMap<PathBuf, PathBuf> = trains
        .iter()
        .copied()
        .chain(baselines.clone())
        .chain(tests.iter().copied())
        .map(|r| (r.file.clone(), file_identity(&r.file)))
        .collect();
    let id = |r: &Row| ids.get(&r.file).cloned().unwrap_or_else(|| r.file.clone());
    for t in &tests {
        let tid = id(t);
        for r in trains.iter().copied().chain(baselines.clone()) {
            if std::ptr::eq(*t, r) || !t.overlaps(r) || id(r) != tid {
                continue;
            }
            push(format!(
                "test row {} ({}, {}) overlaps {} row {} ({}, {}) of the same file {}: test data must \
                 not be learned from or calibrated on; make the time ranges disjoint",
                t.origin(),
                t.signal,
                t.range_text(),
                r.role,
                r.origin(),
                r.signal,
                r.range_text(),
                t.file.display()
            ));
        }
    }
    if more > 0 {
        problems.push(format!("... and {more} more"));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::Leak { problems })
    }
}

/// Streams the samples of a manifest row to `sink` in chunks, in bounded memory: its signal, checked
/// against the row (a WAV file's own rate must match `fs_hz`), cut to `start_s..end_s`. Errors name
/// the manifest line; the sink's own errors pass through. Returns the number of samples delivered.
pub fn stream_row<E: From<Error>>(row: &Row, mut sink: impl FnMut(&[f64]) -> std::result::Result<(), E>) -> std::result::Result<u64, E> {
    let wrap = |e: Error| Error::Row {
        manifest: row.manifest.clone(),
        line: row.line,
        inner: Box::new(e),
    };
    let sig_err = |detail: String| {
        wrap(Error::Signal {
            path: row.file.clone(),
            signal: row.signal.clone(),
            detail,
        })
    };
    let mut s = open_stream(&row.file, &row.signal).map_err(wrap)?;
    if let Some(rate) = s.file_rate_hz() {
        if (rate - row.fs_hz).abs() > 1e-9 * rate.max(row.fs_hz) {
            return Err(E::from(sig_err(format!(
                "manifest line {} says fs_hz={} but the file is {rate} Hz; fix the fs_hz column",
                row.line, row.fs_hz
            ))));
        }
    }
    let fs = row.fs_hz;
    let start = (row.start_s.unwrap_or(0.0) * fs).round() as u64;
    let end = row.end_s.map(|e| (e * fs).round() as u64);
    let mut delivered: u64 = 0;
    let mut buf = vec![0.0; CHUNK];
    let mut pos: u64 = 0;
    loop {
        let n = s.read(&mut buf).map_err(wrap)?;
        if n == 0 {
            break;
        }
        let chunk = buf.get(..n).unwrap_or_default();
        let lo = start.saturating_sub(pos).min(n as u64) as usize;
        let hi = end.map_or(n as u64, |e| e.saturating_sub(pos).min(n as u64)) as usize;
        if lo < hi {
            let part = chunk.get(lo..hi).unwrap_or_default();
            delivered += part.len() as u64;
            sink(part)?;
        }
        pos += n as u64;
        if end.is_some_and(|e| pos >= e) {
            break;
        }
    }
    let len_text = |len: u64| format!("{len} samples = {} s at fs_hz={fs}", len as f64 / fs);
    if pos == 0 {
        return Err(E::from(wrap(Error::EmptySignal {
            path: row.file.clone(),
            signal: row.signal.clone(),
        })));
    }
    if start >= pos {
        return Err(E::from(sig_err(format!(
            "start_s={} s is at or beyond the end of the recording ({})",
            row.start_s.unwrap_or(0.0),
            len_text(pos)
        ))));
    }
    if let Some(e) = end {
        if e > pos {
            return Err(E::from(sig_err(format!(
                "end_s={} s is beyond the end of the recording ({})",
                row.end_s.unwrap_or(0.0),
                len_text(pos)
            ))));
        }
    }
    if delivered == 0 {
        return Err(E::from(sig_err(format!(
            "the range {} holds no sample at fs_hz={fs}",
            row.range_text()
        ))));
    }
    Ok(delivered)
}

/// Reads the samples of a manifest row: its signal, checked against the row (a WAV file's own
/// rate must match `fs_hz`), cut to `start_s..end_s`. Errors name the manifest line.
pub fn load_row(row: &Row) -> Result<Vec<f64>> {
    let mut out = Vec::new();
    stream_row::<Error>(row, |part| {
        out.extend_from_slice(part);
        Ok(())
    })?;
    Ok(out)
}
