//! `fos cases build` and `fos findings record|list|show|challenge|verdict|stats|labels`: findings of the
//! bearing diagnostics with their provenance, the case library behind them, and people's verdicts on them.
//!
//! **The case library** (`fos cases build --manifest M`) summarises every row of a manifest whose label is
//! a fault (inner, outer, ball, cage) as one historical case: the median over its decision windows of
//! its scale-free evidence (`fos_models::cases::Signature`: each fault family's line excess over the
//! white-noise null, the band's impulsiveness, and the level rise over the machine's baseline where the
//! manifest has baseline rows), with machine, bearing type, physical bearing, file, signal, load, fault
//! size (the manifest's optional `fault_size` column; else the CWRU naming convention, `IR014` = 0.014 in,
//! for bearings measured in inches), and the SHA-256 of the file's bytes. It is written to
//! `DIR/cases/library.json`, a cache outside `DIR/ledger/` that the same manifests rebuild byte for byte;
//! every finding cites its SHA-256.
//!
//! **A finding** (`fos findings record FILE …`) is one run of windows that the diagnostics of
//! `fos analyze` judge faulty: consecutive faulty windows, bridging gaps of at most `--max-gap` healthy
//! windows (default 1: decision windows overlap by half, so one healthy window between faulty ones is a
//! score hovering at the threshold, not a fault that went away), with at least `--min-windows` faulty
//! windows (default 2: a bearing fault persists, and one flagged 1 s window is what the false-alarm
//! budget allows). With `--whole` the recording is one finding when its overall verdict is a fault (at
//! least half its windows flagged, as `fos analyze` judges it). The evidence of a finding is taken over
//! its faulty windows; its time span and input blocks cover the whole run. Each finding is appended to
//! the ledger as a `finding` record by the model as agent
//! (`ai:fos-bearing@<crate version>+<model|physics-only>.<hash>`) holding:
//!
//! - the model: the SHA-256 of the model file (`--model`), or of the physics-only model's JSON (the
//!   settings, geometry and white-noise null it was built with), in `used` and in the version;
//! - the inputs: the SHA-256 of the recording file, and the content hash
//!   (`fos_historian::WaveformBlock::content_hash`) of every waveform block holding the run's windows,
//!   cut exactly as the pipeline's `replay` source with `store_waveforms = true` cuts them (block `k`:
//!   the raw samples at the file's rate from window `k − 1`'s end to window `k`'s end, channel
//!   `--channel`, first sample at `--start`): replaying the file under that name and start stores blocks
//!   with these very hashes (the few milliseconds the anti-alias filter reaches beyond a window are not
//!   counted);
//! - the features: medians over the run (score, speed, level, impulsiveness, each family's model score and
//!   white-noise excess) and the harmonics of the named family in its strongest window;
//! - the nearest historical cases (`--cases`, default 3), never from the very file nor from its physical
//!   bearing (`--bearing-id`, and the bearing the library records for that file), each with its distance
//!   and why it matches;
//! - the simulation check (`fos_models::simulation`): the named fault and the three others simulated on
//!   the bearing at the run's speed and analysis rate, through the same feature extraction, compared with
//!   the recording; its parameters (seed, amplitude, resonance, noise, damping, slip) are figures of the
//!   record and its output is cited by SHA-256.
//!
//! **People** (`--user NAME`, password in `FOS_PASSWORD`): any user but an auditor may challenge a finding
//! with a reason (`challenge`). A verdict (`verdict --outcome confirmed|disputed`) is given by an engineer
//! or an approver, never by the person whose challenge is open; `confirmed` keeps the finding's label,
//! `disputed` needs the true cause as `--label` (or the challenge's `--alternative`). A verdict needs no
//! challenge (an inspection may confirm a finding); a later verdict replaces an earlier one. The label of
//! the last verdict is the training label (`labels`), and `stats` counts confirmed, disputed and open
//! findings per machine and per label (`fos_prov::findings::tally`).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context as _, Result};
use clap::{Args, Subcommand, ValueEnum};
use fos_core::{BearingGeometry, Role as DataRole};
use fos_gate::Role;
use fos_io::manifest::{Manifest, Row};
use fos_models::cases::{Case, CaseLibrary, Exclude, Signature};
use fos_models::config::AnalysisConfig;
use fos_models::detector::{MachineModel, Verdict};
use fos_models::features::{FamilyEvidence, FAMILIES};
use fos_models::simulation::{self, Observed, SimulationParams};
use fos_models::window::{Judged, RecordingAnalysis};
use fos_prov::{
    format_time, hex, parse_time, Agent, Body, CaseMatch, Challenge, ChallengeVerdict, Finding, FindingOutcome, ModelId,
    Record, Ref, Simulation,
};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::job::{self, Prepared};
use crate::site::{authenticate, now_ms, open_view, person, view_records, Paths, Site, DEFAULT_DATA_DIR};

/// The case library's file under the data directory.
const LIBRARY: &str = "cases/library.json";

/// The model's agent name in finding records.
const AGENT: &str = "fos-bearing";

/// Samples read per step: the replay source's chunk, so the last blocks are cut alike.
const CHUNK: usize = 1 << 16;

// ---------------------------------------------------------------------------------------------------
// Flags.

/// The case library.
#[derive(Debug, Args)]
pub(crate) struct CasesArgs {
    #[command(subcommand)]
    command: CasesCommand,
}

#[derive(Debug, Subcommand)]
enum CasesCommand {
    /// Build the case library from the faulty rows of one or more manifests into DIR/cases/library.json
    /// (a rebuildable cache outside DIR/ledger); prints its SHA-256.
    Build(BuildArgs),
}

#[derive(Debug, Args)]
struct BuildArgs {
    /// A manifest (repeat for several); every row labelled inner, outer, ball or cage becomes a case.
    #[arg(long, required = true, value_name = "M")]
    manifest: Vec<PathBuf>,
    /// Analysis settings (TOML), as `fos analyze --config`.
    #[arg(long)]
    config: Option<PathBuf>,
    #[arg(long, value_name = "DIR", default_value = DEFAULT_DATA_DIR)]
    data_dir: PathBuf,
    #[arg(long)]
    json: bool,
}

/// Findings of the diagnostics, their provenance, challenges and verdicts.
#[derive(Debug, Args)]
pub(crate) struct FindingsArgs {
    #[command(subcommand)]
    command: FindingsCommand,
}

#[derive(Debug, Subcommand)]
enum FindingsCommand {
    /// Diagnose a recording as `fos analyze` does and append one finding record per run of faulty
    /// windows, with model, input blocks, features, nearest cases and the simulation check.
    Record(Box<RecordArgs>),
    /// List the findings with the state of their challenges.
    List(ReadArgs),
    /// One finding: its evidence, cases, simulation, inputs, challenges and verdicts.
    Show(ShowArgs),
    /// Dispute a finding with a reason (any user but an auditor).
    Challenge(ChallengeArgs),
    /// Settle a finding: confirmed or disputed, with the true label (engineer or approver).
    Verdict(VerdictArgs),
    /// Confirmed, disputed and open findings, overall, per machine and per label.
    Stats(ReadArgs),
    /// Write the verdicts as training labels (CSV, or JSON for a .json file).
    Labels(LabelsArgs),
}

#[derive(Debug, Args)]
struct RecordArgs {
    /// The recording (.mat, .csv or .wav).
    file: PathBuf,
    /// Which signal: a .mat variable or dotted struct path, a .csv column, a .wav channel index.
    #[arg(long)]
    signal: String,
    /// Sample rate, Hz (a file that states its rate must agree).
    #[arg(long)]
    fs: f64,
    /// Nominal shaft speed, Hz (rpm / 60); the real speed is estimated from the signal.
    #[arg(long = "shaft-hz")]
    shaft_hz: f64,
    /// Bearing geometry: elements,element_diameter,pitch_diameter,contact_angle_deg (required without
    /// --model).
    #[arg(long)]
    bearing: Option<String>,
    /// A model file from `fos eval --save-models` (the machine's calibration).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Analysis settings (TOML) of a physics-only model (without --model).
    #[arg(long)]
    config: Option<PathBuf>,
    /// The machine (default: the model's machine, else the file's stem).
    #[arg(long)]
    machine: Option<String>,
    /// The physical bearing recorded: its cases are never cited.
    #[arg(long = "bearing-id")]
    bearing_id: Option<String>,
    /// Channel of the waveform blocks cited (as the replay source's name; default: the machine).
    #[arg(long)]
    channel: Option<String>,
    /// Time of the recording's first sample, RFC 3339 (default: unknown; blocks are then cut from the
    /// Unix epoch and the finding has no absolute window).
    #[arg(long)]
    start: Option<String>,
    /// Nearest historical cases cited per finding.
    #[arg(long, default_value_t = 3)]
    cases: usize,
    /// Fewest faulty windows in a run recorded as a finding.
    #[arg(long = "min-windows", default_value_t = 2)]
    min_windows: u64,
    /// Most healthy windows between faulty ones that do not end a run.
    #[arg(long = "max-gap", default_value_t = 1)]
    max_gap: u64,
    /// One finding for the whole recording, when at least half its windows are faulty.
    #[arg(long, conflicts_with_all = ["min_windows", "max_gap"])]
    whole: bool,
    /// Record without the case library (when none was built).
    #[arg(long = "no-cases")]
    no_cases: bool,
    #[arg(long, value_name = "DIR", default_value = DEFAULT_DATA_DIR)]
    data_dir: PathBuf,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct ReadArgs {
    #[arg(long, value_name = "DIR", default_value = DEFAULT_DATA_DIR)]
    data_dir: PathBuf,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct ShowArgs {
    /// The finding's id (f-0001).
    id: String,
    #[arg(long, value_name = "DIR", default_value = DEFAULT_DATA_DIR)]
    data_dir: PathBuf,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct ChallengeArgs {
    /// The finding's id.
    id: String,
    /// Why the finding is doubted (e.g. "humidity, not bearing wear").
    #[arg(long)]
    reason: String,
    /// The cause the challenger proposes (a label such as humidity or normal).
    #[arg(long)]
    alternative: Option<String>,
    /// The user challenging (password in FOS_PASSWORD).
    #[arg(long)]
    user: String,
    #[arg(long, value_name = "DIR", default_value = DEFAULT_DATA_DIR)]
    data_dir: PathBuf,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Outcome {
    Confirmed,
    Disputed,
}

#[derive(Debug, Args)]
struct VerdictArgs {
    /// The finding's id.
    id: String,
    /// confirmed: the finding stands; disputed: it was wrong.
    #[arg(long, value_enum)]
    outcome: Outcome,
    /// The true cause, the training label (default: the finding's label when confirmed, the challenge's
    /// alternative when disputed).
    #[arg(long)]
    label: Option<String>,
    /// Why, in words.
    #[arg(long, default_value = "")]
    reason: String,
    /// The engineer or approver deciding (password in FOS_PASSWORD).
    #[arg(long)]
    user: String,
    #[arg(long, value_name = "DIR", default_value = DEFAULT_DATA_DIR)]
    data_dir: PathBuf,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct LabelsArgs {
    /// Where to write: .json for JSON, anything else CSV.
    #[arg(long)]
    out: PathBuf,
    #[arg(long, value_name = "DIR", default_value = DEFAULT_DATA_DIR)]
    data_dir: PathBuf,
}

pub(crate) fn run_cases(a: CasesArgs) -> Result<ExitCode> {
    match a.command {
        CasesCommand::Build(b) => build(b),
    }
}

pub(crate) fn run(a: FindingsArgs) -> Result<ExitCode> {
    match a.command {
        FindingsCommand::Record(r) => record(*r),
        FindingsCommand::List(r) => list(r),
        FindingsCommand::Show(s) => show(s),
        FindingsCommand::Challenge(c) => challenge(c),
        FindingsCommand::Verdict(v) => verdict(v),
        FindingsCommand::Stats(r) => stats(r),
        FindingsCommand::Labels(l) => labels(l),
    }
}

// ---------------------------------------------------------------------------------------------------
// Helpers.

fn sha256_file(path: &Path) -> Result<String> {
    let mut f = fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(hex(&h.finalize()))
}

fn hash_array(hash: &str, what: &str) -> Result<[u8; 32]> {
    fos_prov::parse_hash(hash).map_err(|p| anyhow!("{what}: {p}"))
}

/// Writes `text` to `path` through a temporary file and a rename, so a reader sees the old or the new
/// file, never a part.
fn write_atomic(path: &Path, text: &str) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let tmp = path.with_extension("json.tmp");
    let mut f = fs::File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    f.write_all(text.as_bytes()).and_then(|()| f.sync_all()).with_context(|| format!("cannot write {}", tmp.display()))?;
    fs::rename(&tmp, path).with_context(|| format!("cannot rename {} to {}", tmp.display(), path.display()))
}

fn print_json(v: &impl Serialize) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

fn parse_bearing(s: &str) -> Result<BearingGeometry> {
    let parts: Vec<&str> = s.split(',').map(str::trim).collect();
    if parts.len() != 4 {
        bail!("--bearing wants elements,element_diameter,pitch_diameter,contact_angle_deg (4 numbers), got {s:?}");
    }
    let num = |i: usize, name: &str| -> Result<f64> {
        parts[i].parse::<f64>().with_context(|| format!("--bearing: {name} {:?} is not a number", parts[i]))
    };
    let elements = num(0, "elements")?;
    if elements.fract() != 0.0 || !(1.0..=1000.0).contains(&elements) {
        bail!("--bearing: elements must be a whole number, got {}", parts[0]);
    }
    let g = BearingGeometry {
        elements: elements as u32,
        element_d: num(1, "element_diameter")?,
        pitch_d: num(2, "pitch_diameter")?,
        contact_angle_deg: num(3, "contact_angle_deg")?,
    };
    g.validate().map_err(|e| anyhow!("--bearing: {e}"))?;
    Ok(g)
}

// ---------------------------------------------------------------------------------------------------
// fos cases build.

/// The defect size from a name under the CWRU convention (`IR014`, `OR007`, `B021`: thousandths of an
/// inch), for bearings measured in inches.
fn size_from_name(name: &str) -> Option<String> {
    let b = name.as_bytes();
    for (i, _) in name.char_indices() {
        for code in ["IR", "OR", "B"] {
            let rest = &b[i..];
            if !rest.starts_with(code.as_bytes()) {
                continue;
            }
            // The code must start a token: not preceded by a letter (so "BALL" or "rOR" do not count).
            if i > 0 && b[i - 1].is_ascii_alphabetic() {
                continue;
            }
            let digits = &rest[code.len()..];
            if digits.len() >= 3 && digits[..3].iter().all(u8::is_ascii_digit) && digits.get(3).is_none_or(|c| !c.is_ascii_digit()) {
                let mils = std::str::from_utf8(&digits[..3]).ok()?;
                return Some(format!("0.{mils} in"));
            }
        }
    }
    None
}

/// The optional `fault_size` column of a manifest, by line.
fn fault_sizes(path: &Path) -> Result<BTreeMap<usize, String>> {
    let text = fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let mut rdr = csv::ReaderBuilder::new().has_headers(true).trim(csv::Trim::All).from_reader(text.as_bytes());
    let headers = rdr.headers().with_context(|| format!("{}: cannot read the header", path.display()))?.clone();
    let Some(col) = headers.iter().position(|h| h == "fault_size") else { return Ok(BTreeMap::new()) };
    let mut out = BTreeMap::new();
    for rec in rdr.records() {
        let rec = rec.with_context(|| format!("{}: bad CSV", path.display()))?;
        let line = rec.position().map_or(0, |p| p.line() as usize);
        if let Some(v) = rec.get(col).filter(|v| !v.is_empty()) {
            out.insert(line, v.to_owned());
        }
    }
    Ok(out)
}

fn case_id(dataset: &str, row: &Row) -> String {
    let span = match (row.start_s, row.end_s) {
        (None, None) => String::new(),
        (s, e) => format!("@{}-{}", s.unwrap_or(0.0), e.map_or_else(|| "end".to_owned(), |e| e.to_string())),
    };
    format!("{dataset}/{}#{}{span}", row.path, row.signal)
}

#[derive(Debug, Serialize)]
struct BuildOut {
    path: String,
    sha256: String,
    cases: usize,
    by_label: BTreeMap<String, usize>,
    manifests: Vec<String>,
}

fn build(a: BuildArgs) -> Result<ExitCode> {
    let cfg = crate::eval::load_config(a.config.as_ref())?;
    let mut cases: Vec<Case> = Vec::new();
    let mut file_hashes: BTreeMap<PathBuf, String> = BTreeMap::new();
    for mp in &a.manifest {
        let m = Manifest::load(mp)?;
        m.check_self()?;
        let sizes = fault_sizes(mp)?;
        let dataset = m.dir.file_name().and_then(|s| s.to_str()).unwrap_or("data").to_owned();
        let rows: Vec<(&Manifest, &Row)> = m.rows.iter().map(|r| (&m, r)).collect();
        let mut machines = job::group_machines(&rows)?;
        let pb = job::progress(0, "baseline");
        job::load_all(&mut machines, &cfg, &pb, |r| r.role == DataRole::Baseline)?;
        pb.finish_and_clear();
        for mr in &machines {
            let faulty: Vec<&Prepared<'_>> = mr.rows.iter().filter(|p| p.row.label.is_fault()).collect();
            if faulty.is_empty() {
                continue;
            }
            let model = job::calibrated_model(mr, &cfg, true)?;
            let feats = job::features_of(&model, &faulty)?;
            for (p, f) in faulty.iter().zip(feats) {
                let sigs: Vec<Signature> = f.iter().map(|w| Signature::of_window(&model, w)).collect();
                let Some(signature) = Signature::median_of(&sigs) else {
                    bail!(
                        "{} line {}: {} ({}) is shorter than one {} s window; drop the row or give a longer span",
                        mp.display(),
                        p.row.line,
                        p.row.path,
                        p.row.signal,
                        cfg.window_s
                    );
                };
                let file_sha256 = match file_hashes.get(&p.row.file) {
                    Some(h) => h.clone(),
                    None => {
                        let h = sha256_file(&p.row.file)?;
                        file_hashes.insert(p.row.file.clone(), h.clone());
                        h
                    }
                };
                let inches = m.bearing_of(p.row).is_some_and(|b| b.unit == "in");
                let fault_size = sizes.get(&p.row.line).cloned().or_else(|| {
                    inches.then(|| size_from_name(&p.row.bearing_id).or_else(|| size_from_name(&p.row.path))).flatten()
                });
                cases.push(Case {
                    id: case_id(&dataset, p.row),
                    label: p.row.label,
                    machine: p.row.machine.clone(),
                    bearing: p.row.bearing.clone(),
                    bearing_id: p.row.bearing_id.clone(),
                    file: p.row.path.clone(),
                    signal: p.row.signal.clone(),
                    file_sha256,
                    fault_size,
                    load: p.row.load.clone(),
                    source: mp.display().to_string(),
                    windows: f.len() as u64,
                    signature,
                });
            }
        }
    }
    if cases.is_empty() {
        bail!("no row of {} is labelled inner, outer, ball or cage: the case library would be empty", list_paths(&a.manifest));
    }
    let library = CaseLibrary::new(cases)?;
    let text = library.to_json();
    let path = a.data_dir.join(LIBRARY);
    write_atomic(&path, &text)?;
    let mut by_label: BTreeMap<String, usize> = BTreeMap::new();
    for c in &library.cases {
        *by_label.entry(c.label.as_str().to_owned()).or_default() += 1;
    }
    let out = BuildOut {
        path: path.display().to_string(),
        sha256: hex(&Sha256::digest(text.as_bytes())),
        cases: library.cases.len(),
        by_label,
        manifests: a.manifest.iter().map(|p| p.display().to_string()).collect(),
    };
    if a.json {
        print_json(&out)?;
    } else {
        let labels: Vec<String> = out.by_label.iter().map(|(l, n)| format!("{n} {l}")).collect();
        println!("{} cases ({}) in {}", out.cases, labels.join(", "), out.path);
        println!("sha256 {}", out.sha256);
    }
    Ok(ExitCode::SUCCESS)
}

fn list_paths(p: &[PathBuf]) -> String {
    p.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
}

/// The case library of a data directory and its SHA-256.
fn load_library(data: &Path) -> Result<Option<(CaseLibrary, String)>> {
    let path = data.join(LIBRARY);
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let lib = CaseLibrary::from_json(&text).with_context(|| format!("in {}", path.display()))?;
    Ok(Some((lib, hex(&Sha256::digest(text.as_bytes())))))
}

// ---------------------------------------------------------------------------------------------------
// fos findings record.

/// One judged window, as far as findings need it.
#[derive(Debug)]
struct Window {
    index: u64,
    t_end_s: f64,
    verdict: Verdict,
    signature: Signature,
    shaft_hz: f64,
    band: (f64, f64),
    level: f64,
    impulsiveness: f64,
    kurtosis: f64,
    crest: f64,
    /// The family evidence, kept for faulty windows only.
    evidence: Vec<FamilyEvidence>,
    /// This window's waveform block: raw sample range `[begin, end)` at the file's rate and its hash.
    block: (u64, u64, String),
}

/// Judged windows and the waveform blocks that tile the recording, cut as the replay source cuts them.
struct Collector<'a> {
    model: &'a MachineModel,
    channel: String,
    start_ns: i64,
    fs_in: f64,
    n: u64,
    hop: u64,
    raw: Vec<f64>,
    raw_base: u64,
    raw_read: u64,
    prev_end: u64,
    windows: Vec<Window>,
}

impl Collector<'_> {
    fn feed(&mut self, part: &[f64]) {
        self.raw_read += part.len() as u64;
        self.raw.extend_from_slice(part);
    }

    fn window(&mut self, j: Judged<'_>) -> Result<()> {
        // The raw samples from the previous window's end to this one's (fos_pipeline::replay).
        let end_a = self.n + j.index * self.hop;
        let end = ((end_a as f64 * self.fs_in / self.model.analysis_fs).round() as u64).min(self.raw_read).max(self.prev_end);
        let begin = self.prev_end;
        self.prev_end = end;
        let (lo, hi) = ((begin - self.raw_base) as usize, (end - self.raw_base) as usize);
        let block = fos_historian::WaveformBlock {
            channel: self.channel.clone(),
            start_ns: self.start_ns.saturating_add((begin as f64 * 1e9 / self.fs_in).round() as i64),
            rate_hz: self.fs_in,
            samples: self.raw[lo..hi].to_vec(),
        };
        self.raw.drain(..hi);
        self.raw_base = end;
        let f = &j.features;
        let v = j.verdict;
        self.windows.push(Window {
            index: j.index,
            t_end_s: j.t_end_s,
            signature: Signature::of_window(self.model, f),
            shaft_hz: f.shaft_hz,
            band: (f.band_lo_hz, f.band_hi_hz),
            level: f.level,
            impulsiveness: f.impulsiveness,
            kurtosis: f.kurtosis,
            crest: f.crest,
            evidence: if v.faulty { f.families.clone() } else { Vec::new() },
            block: (begin, end, block.content_hash()),
            verdict: v,
        });
        Ok(())
    }
}

/// The model of a recording and how it is cited: (model, the SHA-256 of its file or JSON, its version).
fn record_model(a: &RecordArgs) -> Result<(MachineModel, String, String)> {
    let crate_version = env!("CARGO_PKG_VERSION");
    match &a.model {
        Some(p) => {
            let text = fs::read_to_string(p).with_context(|| format!("reading model {}", p.display()))?;
            let m = MachineModel::from_json(&text).with_context(|| format!("in {}", p.display()))?;
            if let Some(b) = &a.bearing {
                let g = parse_bearing(b)?;
                if g != m.geometry {
                    bail!("--bearing {b} differs from the geometry of the model {} ({:?}); drop --bearing", p.display(), m.geometry);
                }
            }
            let h = hex(&Sha256::digest(text.as_bytes()));
            let version = format!("{crate_version}+model.{}", &h[..12]);
            Ok((m, h, version))
        }
        None => {
            let b = a.bearing.as_deref().context("--bearing is required without --model (see `fos findings record --help`)")?;
            let cfg: AnalysisConfig = crate::eval::load_config(a.config.as_ref())?;
            let name = a.machine.clone().unwrap_or_else(|| stem(&a.file));
            let m = MachineModel::new(&name, &cfg, parse_bearing(b)?, a.fs, a.shaft_hz, true)?;
            let h = hex(&Sha256::digest(m.to_json().as_bytes()));
            let version = format!("{crate_version}+physics-only.{}", &h[..12]);
            Ok((m, h, version))
        }
    }
}

fn stem(p: &Path) -> String {
    p.file_stem().and_then(|s| s.to_str()).unwrap_or("recording").to_owned()
}

/// A run of faulty windows (indices into the window list, first and last inclusive), and how many of
/// its windows are faulty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Run {
    first: usize,
    last: usize,
    faulty: u64,
}

/// Runs of faulty windows, bridging at most `max_gap` healthy windows, with at least `min` faulty ones.
fn runs(faulty: &[bool], min: u64, max_gap: u64) -> Vec<Run> {
    let mut out: Vec<Run> = Vec::new();
    let mut cur: Option<Run> = None;
    for (i, f) in faulty.iter().enumerate() {
        if !f {
            continue;
        }
        cur = match cur {
            Some(mut r) if (i - r.last - 1) as u64 <= max_gap => {
                r.last = i;
                r.faulty += 1;
                Some(r)
            }
            other => {
                out.extend(other);
                Some(Run { first: i, last: i, faulty: 1 })
            }
        };
    }
    out.extend(cur);
    out.retain(|r| r.faulty >= min.max(1));
    out
}

/// The whole recording as one run, when at least half its windows are faulty (`fos analyze`'s overall
/// verdict).
fn whole(faulty: &[bool]) -> Option<Run> {
    let n = faulty.iter().filter(|f| **f).count() as u64;
    (!faulty.is_empty() && n > 0 && 2 * n >= faulty.len() as u64).then(|| Run { first: 0, last: faulty.len() - 1, faulty: n })
}

fn median_of(v: impl Iterator<Item = f64>) -> f64 {
    fos_models::stats::median(&v.collect::<Vec<f64>>())
}

/// What `record` prints per finding.
#[derive(Debug, Serialize)]
struct Recorded {
    id: String,
    index: u64,
    label: String,
    windows: u64,
    faulty_windows: u64,
    t_start_s: f64,
    t_end_s: f64,
    score: f64,
    blocks: usize,
    nearest: Vec<CaseMatch>,
    simulation_matches: bool,
    simulation: String,
}

#[derive(Debug, Serialize)]
struct RecordOut {
    file: String,
    signal: String,
    model: String,
    windows: u64,
    flagged: u64,
    case_library: Option<String>,
    findings: Vec<Recorded>,
}

/// One finding's record, built from a run (everything but the ledger).
struct Built {
    record: Record,
    recorded: Recorded,
}

struct Context<'a> {
    a: &'a RecordArgs,
    model: &'a MachineModel,
    model_sha: &'a str,
    model_id: &'a ModelId,
    file_sha: &'a str,
    library: Option<&'a (CaseLibrary, String)>,
    exclude: &'a Exclude,
    start_ms: Option<u64>,
    machine: &'a str,
}

fn build_finding(cx: &Context<'_>, windows: &[Window], run: Run, id: String) -> Result<Built> {
    let span = &windows[run.first..=run.last];
    // The evidence: the run's faulty windows.
    let ws: Vec<&Window> = span.iter().filter(|w| w.verdict.faulty).collect();
    if ws.is_empty() {
        bail!("finding {id}: a run without a faulty window");
    }
    let cfg = &cx.model.config;
    // The family named most often in the run (ties: the one with the higher median model score).
    let mut votes = [0u64; 4];
    for w in &ws {
        if let Some(i) = FAMILIES.iter().position(|l| *l == w.verdict.family) {
            votes[i] += 1;
        }
    }
    let fam_median: [f64; 4] = std::array::from_fn(|i| median_of(ws.iter().map(|w| w.verdict.family_scores[i])));
    let fi = (0..4).max_by(|&x, &y| votes[x].cmp(&votes[y]).then(fam_median[x].total_cmp(&fam_median[y]))).unwrap_or(0);
    let family = FAMILIES[fi];
    let sigs: Vec<Signature> = ws.iter().map(|w| w.signature).collect();
    let signature = Signature::median_of(&sigs).context("a run has at least one window")?;
    let strongest = ws
        .iter()
        .max_by(|x, y| x.signature.family_excess[fi].total_cmp(&y.signature.family_excess[fi]))
        .context("a run has at least one window")?;
    let shaft = median_of(ws.iter().map(|w| w.shaft_hz));
    let score = median_of(ws.iter().map(|w| w.verdict.score));
    let t_start_s = span[0].t_end_s - cfg.window_s;
    let t_end_s = span[span.len() - 1].t_end_s;

    let mut features: BTreeMap<String, f64> = BTreeMap::new();
    let mut put = |k: &str, v: f64| {
        if v.is_finite() {
            features.insert(k.to_owned(), v);
        }
    };
    put("windows", span.len() as f64);
    put("faulty_windows", ws.len() as f64);
    put("first_window", span[0].index as f64);
    put("last_window", span[span.len() - 1].index as f64);
    put("t_start_s", t_start_s);
    put("t_end_s", t_end_s);
    put("score_median", score);
    put("score_max", ws.iter().map(|w| w.verdict.score).fold(f64::NEG_INFINITY, f64::max));
    put("level_score_median", median_of(ws.iter().map(|w| w.verdict.level_score)));
    put("impulsiveness_score_median", median_of(ws.iter().map(|w| w.verdict.impulsiveness_score)));
    put("shaft_hz", shaft);
    put("level", median_of(ws.iter().map(|w| w.level)));
    put("impulsiveness", median_of(ws.iter().map(|w| w.impulsiveness)));
    put("kurtosis", median_of(ws.iter().map(|w| w.kurtosis)));
    put("crest", median_of(ws.iter().map(|w| w.crest)));
    if let Some(l) = signature.level_rise {
        put("level_rise_ln", l);
    }
    for (i, l) in FAMILIES.iter().enumerate() {
        put(&format!("{l}_score_median"), fam_median[i]);
        put(&format!("{l}_excess_over_null"), signature.family_excess[i]);
    }
    put("analysis_fs_hz", cx.model.analysis_fs);
    put("band_lo_hz", strongest.band.0);
    put("band_hi_hz", strongest.band.1);
    let fe = strongest.evidence.iter().find(|e| e.label == family);
    if let Some(fe) = fe {
        put(&format!("{family}_fundamental_hz"), fe.fundamental_hz);
        for l in &fe.harmonics {
            put(&format!("{family}_h{}_hz", l.order), l.found_hz);
            put(&format!("{family}_h{}_ratio", l.order), l.ratio);
        }
    }

    // Nearest historical cases.
    let mut nearest = Vec::new();
    if let Some((lib, _)) = cx.library {
        for n in lib.nearest(&signature, cx.exclude, cx.a.cases) {
            let c = n.case;
            nearest.push(CaseMatch {
                case_id: c.id.clone(),
                label: c.label.as_str().to_owned(),
                distance: n.distance,
                source: Some(format!(
                    "{}: machine {}, bearing {} ({}), {} [{}]{}{}",
                    c.source,
                    c.machine,
                    c.bearing_id,
                    c.bearing,
                    c.file,
                    c.signal,
                    c.fault_size.as_ref().map(|s| format!(", fault size {s}")).unwrap_or_default(),
                    c.load.as_ref().map(|l| format!(", load {l}")).unwrap_or_default()
                )),
                reason: Some(n.reason),
            });
        }
    }

    // The simulation check.
    let params = SimulationParams::for_finding(cx.model, family, shaft, strongest.band);
    let check = simulation::check(
        cx.model,
        &Observed { family_excess: signature.family_excess, evidence: &strongest.evidence },
        &params,
    )
    .with_context(|| format!("finding {id}: the simulation check"))?;
    let mut figures: BTreeMap<String, f64> = BTreeMap::from([
        ("seed".to_owned(), params.seed as f64),
        ("fs_hz".to_owned(), params.fs_hz),
        ("shaft_hz".to_owned(), params.shaft_hz),
        ("duration_s".to_owned(), params.duration_s),
        ("amplitude".to_owned(), params.amplitude),
        ("noise_rms".to_owned(), params.noise_rms),
        ("resonance_hz".to_owned(), params.resonance_hz),
        ("damping_ratio".to_owned(), params.damping_ratio),
        ("slip".to_owned(), params.slip),
        ("matches".to_owned(), if check.matches { 1.0 } else { 0.0 }),
    ]);
    for s in &check.simulated {
        figures.insert(format!("similarity_{}", s.family), s.similarity);
        for (i, l) in FAMILIES.iter().enumerate() {
            figures.insert(format!("sim_{}_lights_{l}_excess", s.family), s.family_excess[i]);
        }
    }
    if let Some(b) = check.best {
        figures.insert(format!("best_is_{b}"), 1.0);
    }
    for l in &check.lines {
        figures.insert(format!("h{}_expected_hz", l.order), l.expected_hz);
        figures.insert(format!("h{}_simulated_hz", l.order), l.simulated_hz);
        figures.insert(format!("h{}_observed_hz", l.order), l.observed_hz);
        figures.insert(format!("h{}_agree", l.order), if l.agree { 1.0 } else { 0.0 });
    }
    figures.retain(|_, v| v.is_finite());
    let mut sim_hash = Sha256::new();
    for v in &check.samples {
        sim_hash.update(v.to_bits().to_le_bytes());
    }
    let sim_summary = check.summary();
    let simulation = Simulation {
        name: format!("fos-signal synth: {family} fault, and the three others for comparison"),
        summary: sim_summary.clone(),
        figures,
        sha256: Some(hex(&sim_hash.finalize())),
    };

    // Input blocks: every block holding a sample of the run's windows.
    let n_raw = (cfg.window_s * cx.a.fs).round() as u64;
    let lo = span[0].block.1.saturating_sub(n_raw);
    let hi = span[span.len() - 1].block.1;
    let blocks: Vec<&str> =
        windows.iter().filter(|w| w.block.1 > lo && w.block.0 < hi && w.block.1 > w.block.0).map(|w| w.block.2.as_str()).collect();

    let file = cx.a.file.display().to_string();
    let summary = format!(
        "{family} fault: {} of {} windows flagged (t {t_start_s:.1}-{t_end_s:.1} s) in {file} [{}], median score {score:.2}; \
         {family} lines at {:.1} Hz and harmonics, excess {:.1} over the white-noise threshold; {}; simulation {}",
        ws.len(),
        span.len(),
        cx.a.signal,
        fe.map_or(f64::NAN, |f| f.fundamental_hz),
        signature.family_excess[fi],
        match nearest.first() {
            Some(c) => format!("nearest case {} ({}, distance {:.2})", c.case_id, c.label, c.distance),
            None => "no case cited".to_owned(),
        },
        if check.matches { "matches" } else { "does not match" }
    );
    let window = cx
        .start_ms
        .map(|s| (format_time(s + (t_start_s * 1000.0).round() as u64), format_time(s + (t_end_s * 1000.0).round() as u64)));
    let finding = Finding {
        finding_id: id.clone(),
        model: cx.model_id.clone(),
        machine: cx.machine.to_owned(),
        summary,
        label: Some(family.as_str().to_owned()),
        score: Some(score),
        window,
        features,
        nearest_cases: nearest.clone(),
        simulations: vec![simulation],
        file: Some(file),
        signal: Some(cx.a.signal.clone()),
    };
    let agent = Agent::Model { name: AGENT.to_owned(), version: cx.model_id.version.clone() };
    let mut record = Record::new(Body::Finding(Box::new(finding)), now_ms(), agent)
        .about([id.clone()])
        .used(Ref::content(hash_array(cx.file_sha, "recording hash")?, "recording", "input"))
        .used(Ref::content(hash_array(cx.model_sha, "model hash")?, "model", "model"));
    if let Some((_, h)) = cx.library {
        record = record.used(Ref::content(hash_array(h, "case library hash")?, "case-library", "nearest-cases"));
    }
    for b in &blocks {
        record = record.used(Ref::content(hash_array(b, "block hash")?, "waveform-block", "evidence"));
    }
    Ok(Built {
        record,
        recorded: Recorded {
            id,
            index: 0,
            label: family.as_str().to_owned(),
            windows: span.len() as u64,
            faulty_windows: ws.len() as u64,
            t_start_s,
            t_end_s,
            score,
            blocks: blocks.len(),
            nearest,
            simulation_matches: check.matches,
            simulation: sim_summary,
        },
    })
}

fn record(a: RecordArgs) -> Result<ExitCode> {
    if !(a.fs.is_finite() && a.fs > 0.0 && a.shaft_hz.is_finite() && a.shaft_hz > 0.0) {
        bail!("--fs and --shaft-hz must be positive numbers, got {} and {}", a.fs, a.shaft_hz);
    }
    let start_ms = a.start.as_deref().map(parse_time).transpose().context("--start")?;
    // Everything that can fail before the site is touched.
    let library = if a.no_cases {
        None
    } else {
        Some(load_library(&a.data_dir)?.with_context(|| {
            format!(
                "no case library in {}; build one with `fos cases build --manifest M --data-dir {}` or give --no-cases",
                a.data_dir.join(LIBRARY).display(),
                a.data_dir.display()
            )
        })?)
    };
    let (model, model_sha, version) = record_model(&a)?;
    let machine = a.machine.clone().unwrap_or_else(|| if a.model.is_some() { model.machine.clone() } else { stem(&a.file) });
    let channel = a.channel.clone().unwrap_or_else(|| machine.clone());
    if channel.is_empty() {
        bail!("--channel must not be empty");
    }
    let file_sha = sha256_file(&a.file)?;
    let mut stream = fos_io::open_stream(&a.file, &a.signal)?;
    if let Some(rate) = stream.file_rate_hz() {
        if (rate - a.fs).abs() > 1e-9 * rate {
            bail!("{}: the file is sampled at {rate} Hz but --fs says {}; give --fs {rate}", a.file.display(), a.fs);
        }
    }
    let mut analysis =
        RecordingAnalysis::new(model.clone(), a.fs, a.shaft_hz).with_context(|| format!("{}", a.file.display()))?;
    let start_ns = start_ms.map_or(0, |ms| i64::try_from(ms).unwrap_or(i64::MAX).saturating_mul(1_000_000));
    let mut col = Collector {
        model: &model,
        channel,
        start_ns,
        fs_in: a.fs,
        n: analysis.window_len() as u64,
        hop: analysis.hop_len() as u64,
        raw: Vec::new(),
        raw_base: 0,
        raw_read: 0,
        prev_end: 0,
        windows: Vec::new(),
    };
    let mut chunk = vec![0.0; CHUNK];
    loop {
        let got = stream.read(&mut chunk)?;
        if got == 0 {
            analysis.finish(&mut |j: Judged<'_>| col.window(j))?;
            break;
        }
        col.feed(&chunk[..got]);
        analysis.push(&chunk[..got], &mut |j: Judged<'_>| col.window(j))?;
    }
    let windows = col.windows;
    if windows.is_empty() {
        bail!("{} ({}): the recording is shorter than one {} s window", a.file.display(), a.signal, model.config.window_s);
    }
    let exclude = match &library {
        Some((lib, _)) => Exclude::for_recording(lib, &file_sha, a.bearing_id.as_deref()),
        None => Exclude::default(),
    };
    let model_id = ModelId { name: AGENT.to_owned(), version: version.clone() };
    let cx = Context {
        a: &a,
        model: &model,
        model_sha: &model_sha,
        model_id: &model_id,
        file_sha: &file_sha,
        library: library.as_ref(),
        exclude: &exclude,
        start_ms,
        machine: &machine,
    };
    let faulty: Vec<bool> = windows.iter().map(|w| w.verdict.faulty).collect();
    let found = if a.whole { whole(&faulty).into_iter().collect() } else { runs(&faulty, a.min_windows, a.max_gap) };
    let mut out = RecordOut {
        file: a.file.display().to_string(),
        signal: a.signal.clone(),
        model: format!("{AGENT}@{version}"),
        windows: windows.len() as u64,
        flagged: windows.iter().filter(|w| w.verdict.faulty).count() as u64,
        case_library: library.as_ref().map(|(_, h)| h.clone()),
        findings: Vec::new(),
    };
    if !found.is_empty() {
        let mut site = Site::open(&a.data_dir, false)?;
        let existing = site.records.iter().filter(|(_, r)| matches!(r.body, Body::Finding(_))).count();
        let mut built = Vec::new();
        for (k, r) in found.iter().enumerate() {
            built.push(build_finding(&cx, &windows, *r, format!("f-{:04}", existing + k + 1))?);
        }
        for b in &mut built {
            let (index, _) = site.stage(&b.record)?;
            b.recorded.index = index;
        }
        site.commit()?;
        out.findings = built.into_iter().map(|b| b.recorded).collect();
    }
    if a.json {
        print_json(&out)?;
    } else {
        println!(
            "{} [{}]: {} windows, {} flagged, model {}",
            out.file, out.signal, out.windows, out.flagged, out.model
        );
        if out.findings.is_empty() {
            if a.whole {
                println!("no finding: fewer than half the windows are faulty; nothing recorded");
            } else {
                println!("no finding: no run with {} or more faulty windows; nothing recorded", a.min_windows.max(1));
            }
        }
        for f in &out.findings {
            println!(
                "{} (ledger #{}) {} fault, t {:.1}-{:.1} s ({} of {} windows faulty), median score {:.2}, {} waveform blocks cited",
                f.id, f.index, f.label, f.t_start_s, f.t_end_s, f.faulty_windows, f.windows, f.score, f.blocks
            );
            for c in &f.nearest {
                println!("    case {} ({}, distance {:.2}): {}", c.case_id, c.label, c.distance, c.reason.as_deref().unwrap_or(""));
            }
            println!("    simulation: {}", f.simulation);
        }
    }
    Ok(ExitCode::SUCCESS)
}

// ---------------------------------------------------------------------------------------------------
// Reading findings back.

/// A finding and what people said about it, from the ledger.
#[derive(Debug, Clone, Serialize)]
struct State<'a> {
    id: &'a str,
    index: u64,
    time: &'a str,
    finding: &'a Finding,
    #[serde(skip)]
    record: &'a Record,
    /// `open` (no challenge, no verdict), `challenged`, `confirmed` or `disputed`.
    status: &'static str,
    challenges: Vec<Event<'a>>,
    verdicts: Vec<Event<'a>>,
}

#[derive(Debug, Clone, Serialize)]
struct Event<'a> {
    index: u64,
    time: &'a str,
    by: String,
    #[serde(flatten)]
    body: &'a Body,
}

fn states(records: &[([u8; 32], Record)]) -> Vec<State<'_>> {
    let mut out: Vec<State<'_>> = Vec::new();
    let mut at: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, (_, r)) in records.iter().enumerate() {
        let by = r.actor.person().map_or_else(|| r.actor.id(), str::to_owned);
        let event = |body| Event { index: i as u64, time: &r.time, by: by.clone(), body };
        match &r.body {
            Body::Finding(f) => {
                at.insert(&f.finding_id, out.len());
                out.push(State {
                    id: &f.finding_id,
                    index: i as u64,
                    time: &r.time,
                    finding: f,
                    record: r,
                    status: "open",
                    challenges: Vec::new(),
                    verdicts: Vec::new(),
                });
            }
            Body::Challenge(c) => {
                if let Some(s) = at.get(c.finding_id.as_str()).and_then(|k| out.get_mut(*k)) {
                    s.challenges.push(event(&r.body));
                    if s.verdicts.is_empty() {
                        s.status = "challenged";
                    }
                }
            }
            Body::ChallengeVerdict(v) => {
                if let Some(s) = at.get(v.finding_id.as_str()).and_then(|k| out.get_mut(*k)) {
                    s.verdicts.push(event(&r.body));
                    s.status = match v.outcome {
                        FindingOutcome::Confirmed => "confirmed",
                        FindingOutcome::Disputed => "disputed",
                    };
                }
            }
            _ => {}
        }
    }
    out
}

fn last_verdict<'a, 'b>(s: &'b State<'a>) -> Option<(&'a ChallengeVerdict, &'b Event<'a>)> {
    s.verdicts.last().and_then(|e| match e.body {
        Body::ChallengeVerdict(v) => Some((v, e)),
        _ => None,
    })
}

fn read_records(data: &Path) -> Result<Vec<([u8; 32], Record)>> {
    let (view, _) = open_view(&Paths::new(data), None)?;
    view_records(&view)
}

#[derive(Debug, Serialize)]
struct Listed<'a> {
    id: &'a str,
    index: u64,
    time: &'a str,
    machine: &'a str,
    label: Option<&'a str>,
    score: Option<f64>,
    status: &'static str,
    verdict_label: Option<&'a str>,
    file: Option<&'a str>,
    summary: &'a str,
}

fn list(a: ReadArgs) -> Result<ExitCode> {
    let records = read_records(&a.data_dir)?;
    let st = states(&records);
    let rows: Vec<Listed<'_>> = st
        .iter()
        .map(|s| Listed {
            id: s.id,
            index: s.index,
            time: s.time,
            machine: &s.finding.machine,
            label: s.finding.label.as_deref(),
            score: s.finding.score,
            status: s.status,
            verdict_label: last_verdict(s).map(|(v, _)| v.label.as_str()),
            file: s.finding.file.as_deref(),
            summary: &s.finding.summary,
        })
        .collect();
    if a.json {
        print_json(&rows)?;
    } else {
        for r in &rows {
            println!(
                "{:<7} #{:<5} {} {:<14} {:<7} score {:>6.2} {:<10}{} {}",
                r.id,
                r.index,
                r.time,
                r.machine,
                r.label.unwrap_or("-"),
                r.score.unwrap_or(f64::NAN),
                r.status,
                r.verdict_label.map(|l| format!(" -> {l}")).unwrap_or_default(),
                r.file.unwrap_or("")
            );
        }
        if rows.is_empty() {
            println!("no findings");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn show(a: ShowArgs) -> Result<ExitCode> {
    let records = read_records(&a.data_dir)?;
    let st = states(&records);
    let s = st.iter().find(|s| s.id == a.id).ok_or_else(|| anyhow!("no finding {}; `fos findings list` shows them", a.id))?;
    if a.json {
        #[derive(Serialize)]
        struct Out<'a> {
            #[serde(flatten)]
            state: &'a State<'a>,
            actor: String,
            used: &'a [Ref],
        }
        return print_json(&Out { state: s, actor: s.record.actor.id(), used: &s.record.used }).map(|()| ExitCode::SUCCESS);
    }
    let f = s.finding;
    println!("{} (ledger #{}, {}) by {}: {}", s.id, s.index, s.time, s.record.actor.id(), s.status);
    println!("  {}", f.summary);
    if let Some((from, to)) = &f.window {
        println!("  window {from} .. {to}");
    }
    println!("  features:");
    for (k, v) in &f.features {
        println!("    {k:<28} {v}");
    }
    println!("  nearest cases:");
    for c in &f.nearest_cases {
        println!("    {} ({}, distance {:.3})", c.case_id, c.label, c.distance);
        if let Some(src) = &c.source {
            println!("      from {src}");
        }
        if let Some(r) = &c.reason {
            println!("      because {r}");
        }
    }
    for sim in &f.simulations {
        println!("  simulation: {}", sim.name);
        println!("    {}", sim.summary);
        println!("    output sha256 {}", sim.sha256.as_deref().unwrap_or("-"));
    }
    println!("  inputs:");
    let blocks = s.record.used.iter().filter(|r| matches!(r, Ref::Content { entity, .. } if entity == "waveform-block")).count();
    for r in &s.record.used {
        if let Ref::Content { sha256, entity, role } = r {
            if entity != "waveform-block" {
                println!("    {entity} ({role}) sha256 {sha256}");
            }
        }
    }
    println!("    {blocks} waveform blocks (content hashes; `fos findings show {} --json`)", s.id);
    for e in s.challenges.iter().chain(&s.verdicts) {
        println!("  #{} {} {}: {}", e.index, e.time, e.by, e.body.summary());
    }
    Ok(ExitCode::SUCCESS)
}

// ---------------------------------------------------------------------------------------------------
// People.

fn find_finding<'a>(site: &'a Site, id: &str) -> Result<(u64, &'a Finding)> {
    site.records
        .iter()
        .enumerate()
        .find_map(|(i, (_, r))| match &r.body {
            Body::Finding(f) if f.finding_id == id => Some((i as u64, f.as_ref())),
            _ => None,
        })
        .ok_or_else(|| anyhow!("no finding {id}; `fos findings list` shows them"))
}

fn validate_text(what: &str, v: &str) -> Result<()> {
    if v.trim().is_empty() {
        bail!("{what} must not be empty");
    }
    if v.chars().any(|c| c.is_control() && c != '\n') {
        bail!("{what} must not contain control characters");
    }
    Ok(())
}

#[derive(Debug, Serialize)]
struct Appended {
    finding: String,
    index: u64,
    kind: &'static str,
    by: String,
    label: Option<String>,
}

fn challenge(a: ChallengeArgs) -> Result<ExitCode> {
    validate_text("--reason", &a.reason)?;
    if let Some(alt) = &a.alternative {
        validate_text("--alternative", alt)?;
    }
    let mut site = Site::open(&a.data_dir, false)?;
    let user = authenticate(&site.users, &a.user)?;
    if user.role() == Role::Auditor {
        bail!("user {} is an auditor; auditors read the ledger and do not challenge findings", user.name());
    }
    let (index, _) = find_finding(&site, &a.id)?;
    let finding_ref = site.reference(index, "finding")?;
    let previous = site.last_about(&a.id).filter(|i| *i != index).map(|i| site.reference(i, "previous")).transpose()?;
    let mut record = Record::new(
        Body::Challenge(Challenge { finding_id: a.id.clone(), reason: a.reason.clone(), alternative: a.alternative.clone() }),
        now_ms(),
        person(&user),
    )
    .about([a.id.clone()])
    .used(finding_ref);
    if let Some(p) = previous {
        record = record.derived_from(p);
    }
    let (at, _) = site.stage(&record)?;
    site.commit()?;
    let out = Appended { finding: a.id.clone(), index: at, kind: "challenge", by: user.name().to_owned(), label: a.alternative };
    if a.json {
        print_json(&out)?;
    } else {
        println!("{} challenged by {} (ledger #{}): {}", out.finding, out.by, out.index, a.reason);
    }
    Ok(ExitCode::SUCCESS)
}

fn verdict(a: VerdictArgs) -> Result<ExitCode> {
    if !a.reason.is_empty() {
        validate_text("--reason", &a.reason)?;
    }
    if let Some(l) = &a.label {
        validate_text("--label", l)?;
    }
    let mut site = Site::open(&a.data_dir, false)?;
    let user = authenticate(&site.users, &a.user)?;
    if !matches!(user.role(), Role::Engineer | Role::Approver) {
        bail!(
            "user {} is {}; a verdict on a finding is given by an engineer or an approver (an operator or anyone may challenge it)",
            user.name(),
            user.role()
        );
    }
    let (index, finding) = find_finding(&site, &a.id)?;
    let finding_label = finding.label.clone();
    // The challenge still open: the last one after the last verdict.
    let mut open: Option<(u64, &Challenge, String)> = None;
    for (i, (_, r)) in site.records.iter().enumerate().skip(index as usize + 1) {
        match &r.body {
            Body::Challenge(c) if c.finding_id == a.id => {
                open = Some((i as u64, c, r.actor.person().unwrap_or_default().to_owned()));
            }
            Body::ChallengeVerdict(v) if v.finding_id == a.id => open = None,
            _ => {}
        }
    }
    if let Some((_, _, by)) = &open {
        if by == user.name() {
            bail!("user {} raised the open challenge on {}; another engineer or approver gives the verdict", user.name(), a.id);
        }
    }
    let label = match a.outcome {
        Outcome::Confirmed => {
            let own = finding_label.clone().unwrap_or_else(|| "fault".to_owned());
            match &a.label {
                Some(l) if *l != own => bail!(
                    "a confirmed finding keeps its label {own}; if the cause is {l}, the finding was wrong: give --outcome disputed --label {l}"
                ),
                _ => own,
            }
        }
        Outcome::Disputed => {
            let l = a.label.clone().or_else(|| open.as_ref().and_then(|(_, c, _)| c.alternative.clone())).ok_or_else(|| {
                anyhow!("a disputed finding needs the true cause as --label (e.g. humidity or normal): it becomes the training label")
            })?;
            if Some(&l) == finding_label.as_ref() {
                bail!("--label {l} is the finding's own label; a disputed finding names another cause (or give --outcome confirmed)");
            }
            l
        }
    };
    let outcome = match a.outcome {
        Outcome::Confirmed => FindingOutcome::Confirmed,
        Outcome::Disputed => FindingOutcome::Disputed,
    };
    let finding_ref = site.reference(index, "finding")?;
    let challenge_ref = open.as_ref().map(|(i, _, _)| site.reference(*i, "challenge")).transpose()?;
    let previous = site.last_about(&a.id).map(|i| site.reference(i, "previous")).transpose()?;
    let mut record = Record::new(
        Body::ChallengeVerdict(ChallengeVerdict { finding_id: a.id.clone(), outcome, label: label.clone(), reason: a.reason.clone() }),
        now_ms(),
        person(&user),
    )
    .about([a.id.clone()])
    .used(finding_ref);
    if let Some(c) = challenge_ref {
        record = record.used(c);
    }
    if let Some(p) = previous {
        record = record.derived_from(p);
    }
    let (at, _) = site.stage(&record)?;
    site.commit()?;
    let kind = match a.outcome {
        Outcome::Confirmed => "confirmed",
        Outcome::Disputed => "disputed",
    };
    let out = Appended { finding: a.id.clone(), index: at, kind, by: user.name().to_owned(), label: Some(label) };
    if a.json {
        print_json(&out)?;
    } else {
        println!(
            "{} {} by {} (ledger #{}); training label {}",
            out.finding,
            kind,
            out.by,
            out.index,
            out.label.as_deref().unwrap_or("")
        );
    }
    Ok(ExitCode::SUCCESS)
}

// ---------------------------------------------------------------------------------------------------
// Figures and labels.

#[derive(Debug, Serialize)]
struct StatsOut {
    overall: fos_prov::findings::Tally,
    machines: BTreeMap<String, fos_prov::findings::Tally>,
    labels: BTreeMap<String, fos_prov::findings::Tally>,
}

fn stats(a: ReadArgs) -> Result<ExitCode> {
    let records = read_records(&a.data_dir)?;
    let all: Vec<&Record> = records.iter().map(|(_, r)| r).collect();
    // Each finding's machine and label, to group its challenges and verdicts with it.
    let mut of: BTreeMap<&str, (&str, &str)> = BTreeMap::new();
    for r in &all {
        if let Body::Finding(f) = &r.body {
            of.insert(&f.finding_id, (&f.machine, f.label.as_deref().unwrap_or("-")));
        }
    }
    fn finding_of(r: &Record) -> Option<&str> {
        match &r.body {
            Body::Finding(f) => Some(f.finding_id.as_str()),
            Body::Challenge(c) => Some(c.finding_id.as_str()),
            Body::ChallengeVerdict(v) => Some(v.finding_id.as_str()),
            _ => None,
        }
    }
    let group = |key: &dyn Fn((&str, &str)) -> String| -> BTreeMap<String, fos_prov::findings::Tally> {
        let keys: BTreeSet<String> = of.values().map(|v| key(*v)).collect();
        keys.into_iter()
            .map(|k| {
                let rs = all.iter().copied().filter(|r| finding_of(r).and_then(|id| of.get(id)).is_some_and(|v| key(*v) == k));
                let t = fos_prov::findings::tally(rs);
                (k, t)
            })
            .collect()
    };
    let out = StatsOut {
        overall: fos_prov::findings::tally(all.iter().copied()),
        machines: group(&|(m, _)| m.to_owned()),
        labels: group(&|(_, l)| l.to_owned()),
    };
    if a.json {
        print_json(&out)?;
    } else {
        let line = |name: &str, t: &fos_prov::findings::Tally| {
            println!(
                "{name:<24} {:>8} {:>10} {:>9} {:>8} {:>6}",
                t.findings, t.challenged, t.confirmed, t.disputed, t.open
            );
        };
        println!("{:<24} {:>8} {:>10} {:>9} {:>8} {:>6}", "", "findings", "challenged", "confirmed", "disputed", "open");
        line("all", &out.overall);
        for (m, t) in &out.machines {
            line(&format!("machine {m}"), t);
        }
        for (l, t) in &out.labels {
            line(&format!("label {l}"), t);
        }
        if !out.overall.labels.is_empty() {
            let ls: Vec<String> = out.overall.labels.iter().map(|(l, n)| format!("{l} {n}")).collect();
            println!("training labels from verdicts: {}", ls.join(", "));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// One training label: a finding's inputs and the verdict's label.
#[derive(Debug, Serialize)]
struct LabelRow {
    finding_id: String,
    machine: String,
    file: String,
    signal: String,
    file_sha256: String,
    t_start_s: Option<f64>,
    t_end_s: Option<f64>,
    window_start: String,
    window_end: String,
    predicted: String,
    outcome: String,
    label: String,
    reason: String,
    verdict_by: String,
    verdict_record: u64,
    model: String,
    blocks: Vec<String>,
}

fn labels(a: LabelsArgs) -> Result<ExitCode> {
    let records = read_records(&a.data_dir)?;
    let st = states(&records);
    let mut rows = Vec::new();
    for s in &st {
        let Some((v, e)) = last_verdict(s) else { continue };
        let f = s.finding;
        let content = |entity: &str| -> Vec<String> {
            s.record
                .used
                .iter()
                .filter_map(|r| match r {
                    Ref::Content { sha256, entity: en, .. } if en == entity => Some(sha256.clone()),
                    _ => None,
                })
                .collect()
        };
        rows.push(LabelRow {
            finding_id: f.finding_id.clone(),
            machine: f.machine.clone(),
            file: f.file.clone().unwrap_or_default(),
            signal: f.signal.clone().unwrap_or_default(),
            file_sha256: content("recording").into_iter().next().unwrap_or_default(),
            t_start_s: f.features.get("t_start_s").copied(),
            t_end_s: f.features.get("t_end_s").copied(),
            window_start: f.window.as_ref().map(|w| w.0.clone()).unwrap_or_default(),
            window_end: f.window.as_ref().map(|w| w.1.clone()).unwrap_or_default(),
            predicted: f.label.clone().unwrap_or_default(),
            outcome: match v.outcome {
                FindingOutcome::Confirmed => "confirmed".into(),
                FindingOutcome::Disputed => "disputed".into(),
            },
            label: v.label.clone(),
            reason: v.reason.clone(),
            verdict_by: e.by.clone(),
            verdict_record: e.index,
            model: format!("{}@{}", f.model.name, f.model.version),
            blocks: content("waveform-block"),
        });
    }
    let json = a.out.extension().is_some_and(|x| x.eq_ignore_ascii_case("json"));
    let text = if json {
        let mut t = serde_json::to_string_pretty(&rows)?;
        t.push('\n');
        t
    } else {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record([
            "finding_id",
            "machine",
            "file",
            "signal",
            "file_sha256",
            "t_start_s",
            "t_end_s",
            "window_start",
            "window_end",
            "predicted",
            "outcome",
            "label",
            "reason",
            "verdict_by",
            "verdict_record",
            "model",
            "blocks",
        ])?;
        let num = |v: Option<f64>| v.map(|x| x.to_string()).unwrap_or_default();
        for r in &rows {
            w.write_record([
                r.finding_id.as_str(),
                &r.machine,
                &r.file,
                &r.signal,
                &r.file_sha256,
                &num(r.t_start_s),
                &num(r.t_end_s),
                &r.window_start,
                &r.window_end,
                &r.predicted,
                &r.outcome,
                &r.label,
                &r.reason,
                &r.verdict_by,
                &r.verdict_record.to_string(),
                &r.model,
                &r.blocks.join(" "),
            ])?;
        }
        String::from_utf8(w.into_inner().map_err(|e| anyhow!("writing CSV: {e}"))?)?
    };
    if let Some(dir) = a.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    fs::write(&a.out, text).with_context(|| format!("cannot write {}", a.out.display()))?;
    println!("{} training labels written to {}", rows.len(), a.out.display());
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::{runs, size_from_name, whole, Run};

    #[test]
    fn runs_bridge_short_gaps_and_keep_only_persistent_faults() {
        let f = |s: &str| s.chars().map(|c| c == 'x').collect::<Vec<bool>>();
        let r = |first, last, faulty| Run { first, last, faulty };
        // x x . x x x . . x . x x
        let w = f("xx.xxx..x.xx");
        assert_eq!(runs(&w, 1, 0), vec![r(0, 1, 2), r(3, 5, 3), r(8, 8, 1), r(10, 11, 2)]);
        assert_eq!(runs(&w, 1, 1), vec![r(0, 5, 5), r(8, 11, 3)]);
        assert_eq!(runs(&w, 2, 0), vec![r(0, 1, 2), r(3, 5, 3), r(10, 11, 2)]);
        assert_eq!(runs(&w, 4, 2), vec![r(0, 11, 8)]);
        assert_eq!(runs(&f("...."), 1, 1), vec![]);
        assert_eq!(runs(&f("x"), 2, 1), vec![]);
        assert_eq!(whole(&f("x.x.")), Some(r(0, 3, 2)));
        assert_eq!(whole(&f("x...")), None);
        assert_eq!(whole(&[]), None);
    }

    #[test]
    fn fault_sizes_follow_the_cwru_naming_convention() {
        assert_eq!(size_from_name("DE-IR014").as_deref(), Some("0.014 in"));
        assert_eq!(size_from_name("12k_Drive_End_OR007@6_0_130.mat").as_deref(), Some("0.007 in"));
        assert_eq!(size_from_name("DE-B021").as_deref(), Some("0.021 in"));
        assert_eq!(size_from_name("DE-normal"), None);
        assert_eq!(size_from_name("BALL0070"), None);
        assert_eq!(size_from_name("xIR0141"), None);
    }
}
