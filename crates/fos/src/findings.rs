//! `fos cases build` and `fos findings record|list|show|challenge|verdict|stats|labels`: findings of the
//! bearing diagnostics with their provenance, the case library behind them, and people's verdicts on them.
//! `fos_site::findings` holds what a finding records and the rules for challenges and verdicts; this
//! module parses flags, prints, and builds the case library.
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
//! **A finding** (`fos findings record FILE …`): see `fos_site::findings`. The site is opened (and
//! locked) only when the recording has a finding to append.
//!
//! **People** (`--user NAME`, password in `FOS_PASSWORD`): any user but an auditor may challenge a finding
//! with a reason (`challenge`); a verdict (`verdict --outcome confirmed|disputed`) is given by an engineer
//! or an approver, never by the person whose challenge is open.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context as _, Result};
use clap::{Args, Subcommand, ValueEnum};
use fos_core::{BearingGeometry, Role as DataRole};
use fos_io::manifest::{Manifest, Row};
use fos_models::cases::{Case, CaseLibrary, Signature};
use fos_prov::{hex, parse_time, Ref};
use fos_site::findings::{self as site_findings, RecordRequest, LIBRARY};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::job::{self, Prepared};
use crate::site::{authenticate, DEFAULT_DATA_DIR};

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

// ---------------------------------------------------------------------------------------------------
// fos findings record.

fn record(a: RecordArgs) -> Result<ExitCode> {
    if !(a.fs.is_finite() && a.fs > 0.0 && a.shaft_hz.is_finite() && a.shaft_hz > 0.0) {
        bail!("--fs and --shaft-hz must be positive numbers, got {} and {}", a.fs, a.shaft_hz);
    }
    let start_ms = a.start.as_deref().map(parse_time).transpose().context("--start")?;
    let mut req = RecordRequest::new(a.file.clone(), a.signal.clone(), a.fs, a.shaft_hz);
    req.bearing = a.bearing.as_deref().map(parse_bearing).transpose()?;
    req.model_file = a.model.clone();
    if a.model.is_none() {
        req.config = crate::eval::load_config(a.config.as_ref())?;
    }
    req.machine = a.machine.clone();
    req.bearing_id = a.bearing_id.clone();
    req.channel = a.channel.clone();
    req.start_ms = start_ms;
    req.cases = a.cases;
    req.min_windows = a.min_windows;
    req.max_gap = a.max_gap;
    req.whole = a.whole;
    req.no_cases = a.no_cases;
    // Everything that can fail before the site is touched; the site is opened only to append.
    let analysis = site_findings::analyze(&req, &a.data_dir)?;
    let out = if analysis.findings() > 0 {
        crate::site::open(&a.data_dir, false)?.record_findings(&analysis)?
    } else {
        analysis.report()
    };
    if a.json {
        print_json(&out)?;
    } else {
        println!("{} [{}]: {} windows, {} flagged, model {}", out.file, out.signal, out.windows, out.flagged, out.model);
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

fn list(a: ReadArgs) -> Result<ExitCode> {
    let rows = site_findings::list(&fos_site::read_records(&a.data_dir)?);
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
                r.label.as_deref().unwrap_or("-"),
                r.score.unwrap_or(f64::NAN),
                r.status,
                r.verdict_label.as_ref().map(|l| format!(" -> {l}")).unwrap_or_default(),
                r.file.as_deref().unwrap_or("")
            );
        }
        if rows.is_empty() {
            println!("no findings");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn show(a: ShowArgs) -> Result<ExitCode> {
    let d = site_findings::detail(&fos_site::read_records(&a.data_dir)?, &a.id)?;
    if a.json {
        return print_json(&d).map(|()| ExitCode::SUCCESS);
    }
    let s = &d.state;
    let f = &s.finding;
    println!("{} (ledger #{}, {}) by {}: {}", s.id, s.index, s.time, d.actor, s.status);
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
    let blocks = d.used.iter().filter(|r| matches!(r, Ref::Content { entity, .. } if entity == "waveform-block")).count();
    for r in &d.used {
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

fn challenge(a: ChallengeArgs) -> Result<ExitCode> {
    let site = crate::site::open(&a.data_dir, false)?;
    let user = authenticate(&site, &a.user)?;
    let out = site.challenge(&user, &a.id, &a.reason, a.alternative.as_deref())?;
    if a.json {
        print_json(&out)?;
    } else {
        println!("{} challenged by {} (ledger #{}): {}", out.finding, out.by, out.index, a.reason);
    }
    Ok(ExitCode::SUCCESS)
}

fn verdict(a: VerdictArgs) -> Result<ExitCode> {
    let site = crate::site::open(&a.data_dir, false)?;
    let user = authenticate(&site, &a.user)?;
    let outcome = match a.outcome {
        Outcome::Confirmed => site_findings::Outcome::Confirmed,
        Outcome::Disputed => site_findings::Outcome::Disputed,
    };
    let out = site.finding_verdict(&user, &a.id, outcome, a.label.as_deref(), &a.reason)?;
    if a.json {
        print_json(&out)?;
    } else {
        println!(
            "{} {} by {} (ledger #{}); training label {}",
            out.finding,
            out.kind,
            out.by,
            out.index,
            out.label.as_deref().unwrap_or("")
        );
    }
    Ok(ExitCode::SUCCESS)
}

// ---------------------------------------------------------------------------------------------------
// Figures and labels.

fn stats(a: ReadArgs) -> Result<ExitCode> {
    let out = site_findings::stats(&fos_site::read_records(&a.data_dir)?);
    if a.json {
        print_json(&out)?;
    } else {
        let line = |name: &str, t: &fos_prov::findings::Tally| {
            println!("{name:<24} {:>8} {:>10} {:>9} {:>8} {:>6}", t.findings, t.challenged, t.confirmed, t.disputed, t.open);
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

fn labels(a: LabelsArgs) -> Result<ExitCode> {
    let rows = site_findings::labels(&fos_site::read_records(&a.data_dir)?);
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
    use super::size_from_name;

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
