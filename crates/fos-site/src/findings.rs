//! Findings of the bearing diagnostics with their provenance, and people's verdicts on them.
//!
//! **A finding** ([`analyze`] then [`Site::record_findings`]) is one run of windows that the diagnostics
//! of `fos analyze` judge faulty: consecutive faulty windows, bridging gaps of at most
//! [`RecordRequest::max_gap`] healthy windows (default 1: decision windows overlap by half, so one healthy
//! window between faulty ones is a score hovering at the threshold, not a fault that went away), with at
//! least [`RecordRequest::min_windows`] faulty windows (default 2: a bearing fault persists, and one
//! flagged 1 s window is what the false-alarm budget allows). With [`RecordRequest::whole`] the recording
//! is one finding when its overall verdict is a fault (at least half its windows flagged). The evidence of
//! a finding is taken over its faulty windows; its time span and input blocks cover the whole run. Each
//! finding is appended to the ledger as a `finding` record by the model as agent
//! (`ai:fos-bearing@<crate version>+<model|physics-only>.<hash>`) holding:
//!
//! - the model: the SHA-256 of the model file, or of the physics-only model's JSON (the settings,
//!   geometry and white-noise null it was built with), in `used` and in the version;
//! - the inputs: the SHA-256 of the recording file, and the content hash
//!   (`fos_historian::WaveformBlock::content_hash`) of every waveform block holding the run's windows,
//!   cut exactly as the pipeline's `replay` source with `store_waveforms = true` cuts them (block `k`:
//!   the raw samples at the file's rate from window `k − 1`'s end to window `k`'s end, channel
//!   [`RecordRequest::channel`], first sample at [`RecordRequest::start_ms`]);
//! - the features: medians over the run (score, speed, level, impulsiveness, each family's model score and
//!   white-noise excess) and the harmonics of the named family in its strongest window;
//! - the nearest historical cases of the case library (`DIR/cases/library.json`), never from the very
//!   file nor from its physical bearing;
//! - the simulation check (`fos_models::simulation`): the named fault and the three others simulated on
//!   the bearing at the run's speed and analysis rate, through the same feature extraction, compared with
//!   the recording.
//!
//! **People**: any user but an auditor may challenge a finding with a reason ([`Site::challenge`]). A
//! verdict ([`Site::finding_verdict`]) is given by an engineer or an approver, never by the person whose
//! challenge is open; `confirmed` keeps the finding's label, `disputed` needs the true cause as the label
//! (or the challenge's alternative). A verdict needs no challenge (an inspection may confirm a finding); a
//! later verdict replaces an earlier one. The label of the last verdict is the training label
//! ([`labels`]), and [`stats`] counts confirmed, disputed and open findings per machine and per label.
//!
//! The read functions ([`list`], [`detail`], [`stats`], [`labels`]) are pure functions of the ledger's
//! records, so the read-only commands use them on [`crate::read_records`] without the site's lock.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use fos_core::BearingGeometry;
use fos_gate::{AuthenticatedUser, Role};
use fos_models::cases::{CaseLibrary, Exclude, Signature};
use fos_models::config::AnalysisConfig;
use fos_models::detector::{MachineModel, Verdict};
use fos_models::features::{FamilyEvidence, FAMILIES};
use fos_models::simulation::{self, Observed, SimulationParams};
use fos_models::window::{Judged, RecordingAnalysis};
use fos_prov::{
    format_time, hex, Agent, Body, CaseMatch, Challenge, ChallengeVerdict, Finding, FindingOutcome, ModelId, Record, Ref,
    Simulation,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Result, SiteError};
use crate::paths::now_ms;
use crate::site::{person, Site};

/// The case library's file under the data directory.
pub const LIBRARY: &str = "cases/library.json";

/// The model's agent name in finding records.
pub const AGENT: &str = "fos-bearing";

/// Samples read per step: the replay source's chunk, so the last blocks are cut alike.
const CHUNK: usize = 1 << 16;

fn sha256_file(path: &Path) -> Result<String> {
    let mut f = fs::File::open(path).map_err(|e| SiteError::io(format!("cannot read {}", path.display()), e))?;
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h).map_err(|e| SiteError::io(format!("cannot read {}", path.display()), e))?;
    Ok(hex(&h.finalize()))
}

fn hash_array(hash: &str, what: &str) -> Result<[u8; 32]> {
    fos_prov::parse_hash(hash).map_err(|p| SiteError::internal_msg(format!("{what}: {p}")))
}

/// The case library of a data directory and its SHA-256 (`None`: none was built).
pub fn load_library(data: &Path) -> Result<Option<(CaseLibrary, String)>> {
    let path = data.join(LIBRARY);
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(SiteError::io(format!("cannot read {}", path.display()), e)),
    };
    let lib = CaseLibrary::from_json(&text).map_err(|e| SiteError::internal(format!("in {}", path.display()), e))?;
    Ok(Some((lib, hex(&Sha256::digest(text.as_bytes())))))
}

// ---------------------------------------------------------------------------------------------------
// Recording findings.

/// What to diagnose and how to record it.
#[derive(Debug, Clone)]
pub struct RecordRequest {
    /// The recording (.mat, .csv or .wav).
    pub file: PathBuf,
    /// Which signal: a .mat variable or dotted struct path, a .csv column, a .wav channel index.
    pub signal: String,
    /// Sample rate, Hz (a file that states its rate must agree).
    pub fs: f64,
    /// Nominal shaft speed, Hz; the real speed is estimated from the signal.
    pub shaft_hz: f64,
    /// Bearing geometry (required without `model_file`).
    pub bearing: Option<BearingGeometry>,
    /// A model file from `fos eval --save-models` (the machine's calibration).
    pub model_file: Option<PathBuf>,
    /// Analysis settings of a physics-only model (without `model_file`).
    pub config: AnalysisConfig,
    /// The machine (default: the model's machine, else the file's stem).
    pub machine: Option<String>,
    /// The physical bearing recorded: its cases are never cited.
    pub bearing_id: Option<String>,
    /// Channel of the waveform blocks cited (default: the machine).
    pub channel: Option<String>,
    /// Unix ms of the recording's first sample (default: unknown; blocks are cut from the epoch).
    pub start_ms: Option<u64>,
    /// Nearest historical cases cited per finding.
    pub cases: usize,
    /// Fewest faulty windows in a run recorded as a finding.
    pub min_windows: u64,
    /// Most healthy windows between faulty ones that do not end a run.
    pub max_gap: u64,
    /// One finding for the whole recording, when at least half its windows are faulty.
    pub whole: bool,
    /// Record without the case library.
    pub no_cases: bool,
}

impl RecordRequest {
    /// A request with the documented defaults: 3 cases, runs of at least 2 faulty windows with gaps of
    /// at most 1, the case library required.
    pub fn new(file: PathBuf, signal: String, fs: f64, shaft_hz: f64) -> RecordRequest {
        RecordRequest {
            file,
            signal,
            fs,
            shaft_hz,
            bearing: None,
            model_file: None,
            config: AnalysisConfig::default(),
            machine: None,
            bearing_id: None,
            channel: None,
            start_ms: None,
            cases: 3,
            min_windows: 2,
            max_gap: 1,
            whole: false,
            no_cases: false,
        }
    }
}
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
fn record_model(req: &RecordRequest) -> Result<(MachineModel, String, String)> {
    let crate_version = env!("CARGO_PKG_VERSION");
    match &req.model_file {
        Some(p) => {
            let text = fs::read_to_string(p).map_err(|e| SiteError::io(format!("reading model {}", p.display()), e))?;
            let m = MachineModel::from_json(&text).map_err(|e| SiteError::bad_request(format!("in {}: {e}", p.display())))?;
            if let Some(g) = &req.bearing {
                if *g != m.geometry {
                    return Err(SiteError::bad_request(format!(
                        "--bearing {g:?} differs from the geometry of the model {} ({:?}); drop --bearing",
                        p.display(),
                        m.geometry
                    )));
                }
            }
            let h = hex(&Sha256::digest(text.as_bytes()));
            let version = format!("{crate_version}+model.{}", &h[..12]);
            Ok((m, h, version))
        }
        None => {
            let g = req
                .bearing
                .ok_or_else(|| SiteError::bad_request("--bearing is required without --model (see `fos findings record --help`)"))?;
            let name = req.machine.clone().unwrap_or_else(|| stem(&req.file));
            let m = MachineModel::new(&name, &req.config, g, req.fs, req.shaft_hz, true).map_err(|e| SiteError::bad_request(e.to_string()))?;
            let h = hex(&Sha256::digest(m.to_json().as_bytes()));
            let version = format!("{crate_version}+physics-only.{}", &h[..12]);
            Ok((m, h, version))
        }
    }
}

fn stem(p: &Path) -> String {
    p.file_stem().and_then(|s| s.to_str()).unwrap_or("recording").to_owned()
}

/// What [`Site::record_findings`] reports per finding.
#[derive(Debug, Clone, Serialize)]
pub struct Recorded {
    /// The finding's id.
    pub id: String,
    /// Its ledger record.
    pub index: u64,
    /// The fault family named.
    pub label: String,
    /// Windows in the run.
    pub windows: u64,
    /// Faulty windows among them.
    pub faulty_windows: u64,
    /// Start of the run, s into the recording.
    pub t_start_s: f64,
    /// End of the run, s.
    pub t_end_s: f64,
    /// Median score of the faulty windows.
    pub score: f64,
    /// Waveform blocks cited.
    pub blocks: usize,
    /// Nearest historical cases.
    pub nearest: Vec<CaseMatch>,
    /// Whether the simulation check matches.
    pub simulation_matches: bool,
    /// The simulation check in words.
    pub simulation: String,
}

/// What a diagnosis found and recorded.
#[derive(Debug, Clone, Serialize)]
pub struct RecordOut {
    /// The recording.
    pub file: String,
    /// The signal.
    pub signal: String,
    /// `fos-bearing@VERSION`.
    pub model: String,
    /// Windows judged.
    pub windows: u64,
    /// Windows judged faulty.
    pub flagged: u64,
    /// SHA-256 of the case library used.
    pub case_library: Option<String>,
    /// The findings recorded.
    pub findings: Vec<Recorded>,
}

/// One finding's record, built from a run (everything but the ledger).
struct Built {
    record: Record,
    recorded: Recorded,
}

struct Context<'a> {
    req: &'a RecordRequest,
    model: &'a MachineModel,
    model_sha: &'a str,
    model_id: &'a ModelId,
    file_sha: &'a str,
    library: Option<&'a (CaseLibrary, String)>,
    exclude: &'a Exclude,
    start_ms: Option<u64>,
    machine: &'a str,
}

/// A recording diagnosed window by window ([`analyze`]): its runs of faulty windows, ready to be
/// recorded as findings ([`Site::record_findings`]).
pub struct Analysis {
    req: RecordRequest,
    model: MachineModel,
    model_sha: String,
    version: String,
    file_sha: String,
    library: Option<(CaseLibrary, String)>,
    exclude: Exclude,
    machine: String,
    windows: Vec<Window>,
    runs: Vec<Run>,
}

impl std::fmt::Debug for Analysis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Analysis")
            .field("file", &self.req.file)
            .field("windows", &self.windows.len())
            .field("runs", &self.runs.len())
            .finish_non_exhaustive()
    }
}

impl Analysis {
    /// How many findings recording it would append.
    pub fn findings(&self) -> usize {
        self.runs.len()
    }

    /// The report without findings (what is printed when there is none).
    pub fn report(&self) -> RecordOut {
        RecordOut {
            file: self.req.file.display().to_string(),
            signal: self.req.signal.clone(),
            model: format!("{AGENT}@{}", self.version),
            windows: self.windows.len() as u64,
            flagged: self.windows.iter().filter(|w| w.verdict.faulty).count() as u64,
            case_library: self.library.as_ref().map(|(_, h)| h.clone()),
            findings: Vec::new(),
        }
    }
}

/// Diagnoses a recording as `fos analyze` does and finds its runs of faulty windows; reads the case
/// library of `data` unless `req.no_cases`. Nothing is written.
pub fn analyze(req: &RecordRequest, data: &Path) -> Result<Analysis> {
    if !(req.fs.is_finite() && req.fs > 0.0 && req.shaft_hz.is_finite() && req.shaft_hz > 0.0) {
        return Err(SiteError::bad_request(format!(
            "--fs and --shaft-hz must be positive numbers, got {} and {}",
            req.fs, req.shaft_hz
        )));
    }
    let library = if req.no_cases {
        None
    } else {
        Some(load_library(data)?.ok_or_else(|| {
            SiteError::not_found(format!(
                "no case library in {}; build one with `fos cases build --manifest M --data-dir {}` or give --no-cases",
                data.join(LIBRARY).display(),
                data.display()
            ))
        })?)
    };
    let (model, model_sha, version) = record_model(req)?;
    let machine =
        req.machine.clone().unwrap_or_else(|| if req.model_file.is_some() { model.machine.clone() } else { stem(&req.file) });
    let channel = req.channel.clone().unwrap_or_else(|| machine.clone());
    if channel.is_empty() {
        return Err(SiteError::bad_request("--channel must not be empty"));
    }
    let file_sha = sha256_file(&req.file)?;
    let mut stream = fos_io::open_stream(&req.file, &req.signal).map_err(|e| SiteError::bad_request(e.to_string()))?;
    if let Some(rate) = stream.file_rate_hz() {
        if (rate - req.fs).abs() > 1e-9 * rate {
            return Err(SiteError::bad_request(format!(
                "{}: the file is sampled at {rate} Hz but --fs says {}; give --fs {rate}",
                req.file.display(),
                req.fs
            )));
        }
    }
    let mut analysis = RecordingAnalysis::new(model.clone(), req.fs, req.shaft_hz)
        .map_err(|e| SiteError::bad_request(format!("{}: {e}", req.file.display())))?;
    let start_ns = req.start_ms.map_or(0, |ms| i64::try_from(ms).unwrap_or(i64::MAX).saturating_mul(1_000_000));
    let mut col = Collector {
        model: &model,
        channel,
        start_ns,
        fs_in: req.fs,
        n: analysis.window_len() as u64,
        hop: analysis.hop_len() as u64,
        raw: Vec::new(),
        raw_base: 0,
        raw_read: 0,
        prev_end: 0,
        windows: Vec::new(),
    };
    let mut chunk = vec![0.0; CHUNK];
    let read_err = |e: fos_io::Error| SiteError::bad_request(format!("{}: {e}", req.file.display()));
    loop {
        let got = stream.read(&mut chunk).map_err(read_err)?;
        if got == 0 {
            analysis.finish(&mut |j: Judged<'_>| col.window(j))?;
            break;
        }
        col.feed(&chunk[..got]);
        analysis.push(&chunk[..got], &mut |j: Judged<'_>| col.window(j))?;
    }
    let windows = col.windows;
    if windows.is_empty() {
        return Err(SiteError::bad_request(format!(
            "{} ({}): the recording is shorter than one {} s window",
            req.file.display(),
            req.signal,
            model.config.window_s
        )));
    }
    let exclude = match &library {
        Some((lib, _)) => Exclude::for_recording(lib, &file_sha, req.bearing_id.as_deref()),
        None => Exclude::default(),
    };
    let faulty: Vec<bool> = windows.iter().map(|w| w.verdict.faulty).collect();
    let runs = if req.whole { whole(&faulty).into_iter().collect() } else { runs(&faulty, req.min_windows, req.max_gap) };
    Ok(Analysis { req: req.clone(), model, model_sha, version, file_sha, library, exclude, machine, windows, runs })
}

impl Site {
    /// Appends one finding record per run of an [`Analysis`] (ids `f-NNNN`, the next free numbers), as
    /// one durable batch.
    pub fn record_findings(&self, a: &Analysis) -> Result<RecordOut> {
        let model_id = ModelId { name: AGENT.to_owned(), version: a.version.clone() };
        let cx = Context {
            req: &a.req,
            model: &a.model,
            model_sha: &a.model_sha,
            model_id: &model_id,
            file_sha: &a.file_sha,
            library: a.library.as_ref(),
            exclude: &a.exclude,
            start_ms: a.req.start_ms,
            machine: &a.machine,
        };
        let mut out = a.report();
        if a.runs.is_empty() {
            return Ok(out);
        }
        out.findings = self.with(|site| {
            let existing = site.records.iter().filter(|(_, r)| matches!(r.body, Body::Finding(_))).count();
            let mut built = Vec::new();
            for (k, r) in a.runs.iter().enumerate() {
                built.push(build_finding(&cx, &a.windows, *r, format!("f-{:04}", existing + k + 1))?);
            }
            for b in &mut built {
                let (index, _) = site.stage(&b.record)?;
                b.recorded.index = index;
            }
            site.commit()?;
            Ok(built.into_iter().map(|b| b.recorded).collect())
        })?;
        Ok(out)
    }
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

fn build_finding(cx: &Context<'_>, windows: &[Window], run: Run, id: String) -> Result<Built> {
    let span = &windows[run.first..=run.last];
    // The evidence: the run's faulty windows.
    let ws: Vec<&Window> = span.iter().filter(|w| w.verdict.faulty).collect();
    if ws.is_empty() {
        return Err(SiteError::internal_msg(format!("finding {id}: a run without a faulty window")));
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
    let signature = Signature::median_of(&sigs).ok_or_else(|| SiteError::internal_msg("a run has at least one window"))?;
    let strongest = ws
        .iter()
        .max_by(|x, y| x.signature.family_excess[fi].total_cmp(&y.signature.family_excess[fi]))
        .ok_or_else(|| SiteError::internal_msg("a run has at least one window"))?;
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
        for n in lib.nearest(&signature, cx.exclude, cx.req.cases) {
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
    .map_err(|e| SiteError::internal(format!("finding {id}: the simulation check"), e))?;
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
    let n_raw = (cfg.window_s * cx.req.fs).round() as u64;
    let lo = span[0].block.1.saturating_sub(n_raw);
    let hi = span[span.len() - 1].block.1;
    let blocks: Vec<&str> =
        windows.iter().filter(|w| w.block.1 > lo && w.block.0 < hi && w.block.1 > w.block.0).map(|w| w.block.2.as_str()).collect();

    let file = cx.req.file.display().to_string();
    let summary = format!(
        "{family} fault: {} of {} windows flagged (t {t_start_s:.1}-{t_end_s:.1} s) in {file} [{}], median score {score:.2}; \
         {family} lines at {:.1} Hz and harmonics, excess {:.1} over the white-noise threshold; {}; simulation {}",
        ws.len(),
        span.len(),
        cx.req.signal,
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
        signal: Some(cx.req.signal.clone()),
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

// ---------------------------------------------------------------------------------------------------
// Reading findings back.

/// A person's challenge or verdict on a finding.
#[derive(Debug, Clone, Serialize)]
pub struct FindingEvent {
    /// Its ledger record.
    pub index: u64,
    /// RFC 3339.
    pub time: String,
    /// The person (or agent id).
    pub by: String,
    /// The challenge or verdict (`kind`, `entity`).
    #[serde(flatten)]
    pub body: Body,
}

/// A finding and what people said about it, from the ledger.
#[derive(Debug, Clone, Serialize)]
pub struct FindingState {
    /// The finding's id.
    pub id: String,
    /// Its ledger record.
    pub index: u64,
    /// RFC 3339.
    pub time: String,
    /// The finding.
    pub finding: Finding,
    /// The whole record (actor, inputs).
    #[serde(skip)]
    pub record: Record,
    /// `open` (no challenge, no verdict), `challenged`, `confirmed` or `disputed`.
    pub status: &'static str,
    /// Challenges, in order.
    pub challenges: Vec<FindingEvent>,
    /// Verdicts, in order (the last one counts).
    pub verdicts: Vec<FindingEvent>,
}

impl FindingState {
    /// The last verdict and its event.
    pub fn last_verdict(&self) -> Option<(&ChallengeVerdict, &FindingEvent)> {
        self.verdicts.last().and_then(|e| match &e.body {
            Body::ChallengeVerdict(v) => Some((v, e)),
            _ => None,
        })
    }
}

/// Every finding's state, in ledger order.
pub fn states(records: &[([u8; 32], Record)]) -> Vec<FindingState> {
    let mut out: Vec<FindingState> = Vec::new();
    let mut at: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, (_, r)) in records.iter().enumerate() {
        let by = r.actor.person().map_or_else(|| r.actor.id(), str::to_owned);
        let event = || FindingEvent { index: i as u64, time: r.time.clone(), by: by.clone(), body: r.body.clone() };
        match &r.body {
            Body::Finding(f) => {
                at.insert(&f.finding_id, out.len());
                out.push(FindingState {
                    id: f.finding_id.clone(),
                    index: i as u64,
                    time: r.time.clone(),
                    finding: f.as_ref().clone(),
                    record: r.clone(),
                    status: "open",
                    challenges: Vec::new(),
                    verdicts: Vec::new(),
                });
            }
            Body::Challenge(c) => {
                if let Some(s) = at.get(c.finding_id.as_str()).and_then(|k| out.get_mut(*k)) {
                    s.challenges.push(event());
                    if s.verdicts.is_empty() {
                        s.status = "challenged";
                    }
                }
            }
            Body::ChallengeVerdict(v) => {
                if let Some(s) = at.get(v.finding_id.as_str()).and_then(|k| out.get_mut(*k)) {
                    s.verdicts.push(event());
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

/// One finding in a list.
#[derive(Debug, Clone, Serialize)]
pub struct FindingSummary {
    /// Id.
    pub id: String,
    /// Ledger record.
    pub index: u64,
    /// RFC 3339.
    pub time: String,
    /// Machine.
    pub machine: String,
    /// The fault named.
    pub label: Option<String>,
    /// The model's score.
    pub score: Option<f64>,
    /// `open`, `challenged`, `confirmed` or `disputed`.
    pub status: &'static str,
    /// The last verdict's label.
    pub verdict_label: Option<String>,
    /// The recording.
    pub file: Option<String>,
    /// In words.
    pub summary: String,
}

/// Every finding with the state of its challenges.
pub fn list(records: &[([u8; 32], Record)]) -> Vec<FindingSummary> {
    states(records)
        .iter()
        .map(|s| FindingSummary {
            id: s.id.clone(),
            index: s.index,
            time: s.time.clone(),
            machine: s.finding.machine.clone(),
            label: s.finding.label.clone(),
            score: s.finding.score,
            status: s.status,
            verdict_label: s.last_verdict().map(|(v, _)| v.label.clone()),
            file: s.finding.file.clone(),
            summary: s.finding.summary.clone(),
        })
        .collect()
}

/// One finding in full: its state, the model that made it and every input it cites.
#[derive(Debug, Clone, Serialize)]
pub struct FindingDetail {
    /// The finding and what people said.
    #[serde(flatten)]
    pub state: FindingState,
    /// The agent id of the model.
    pub actor: String,
    /// Every input (model, recording, case library, waveform blocks).
    pub used: Vec<Ref>,
}

/// Finding `id` in full.
pub fn detail(records: &[([u8; 32], Record)], id: &str) -> Result<FindingDetail> {
    let state = states(records).into_iter().find(|s| s.id == id).ok_or_else(|| no_finding(id))?;
    Ok(FindingDetail { actor: state.record.actor.id(), used: state.record.used.clone(), state })
}

fn no_finding(id: &str) -> SiteError {
    SiteError::not_found(format!("no finding {id}; `fos findings list` shows them"))
}

/// Confirmed, disputed and open findings, overall, per machine and per label.
#[derive(Debug, Clone, Serialize)]
pub struct StatsOut {
    /// All findings.
    pub overall: fos_prov::findings::Tally,
    /// Per machine.
    pub machines: BTreeMap<String, fos_prov::findings::Tally>,
    /// Per label named by the finding.
    pub labels: BTreeMap<String, fos_prov::findings::Tally>,
}

/// The figures of [`StatsOut`].
pub fn stats(records: &[([u8; 32], Record)]) -> StatsOut {
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
    StatsOut {
        overall: fos_prov::findings::tally(all.iter().copied()),
        machines: group(&|(m, _)| m.to_owned()),
        labels: group(&|(_, l)| l.to_owned()),
    }
}

/// One training label: a finding's inputs and the verdict's label.
#[derive(Debug, Clone, Serialize)]
pub struct LabelRow {
    /// The finding.
    pub finding_id: String,
    /// Machine.
    pub machine: String,
    /// Recording.
    pub file: String,
    /// Signal.
    pub signal: String,
    /// SHA-256 of the recording.
    pub file_sha256: String,
    /// Start of the run, s.
    pub t_start_s: Option<f64>,
    /// End of the run, s.
    pub t_end_s: Option<f64>,
    /// Start, RFC 3339 (empty when the recording's start is unknown).
    pub window_start: String,
    /// End, RFC 3339.
    pub window_end: String,
    /// The finding's label.
    pub predicted: String,
    /// confirmed or disputed.
    pub outcome: String,
    /// The training label.
    pub label: String,
    /// Why.
    pub reason: String,
    /// Who gave the verdict.
    pub verdict_by: String,
    /// The verdict's ledger record.
    pub verdict_record: u64,
    /// `NAME@VERSION` of the model.
    pub model: String,
    /// Content hashes of the waveform blocks.
    pub blocks: Vec<String>,
}

/// One [`LabelRow`] per finding with a verdict.
pub fn labels(records: &[([u8; 32], Record)]) -> Vec<LabelRow> {
    let mut rows = Vec::new();
    for s in &states(records) {
        let Some((v, e)) = s.last_verdict() else { continue };
        let f = &s.finding;
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
    rows
}

// ---------------------------------------------------------------------------------------------------
// People.

fn validate_text(what: &str, v: &str) -> Result<()> {
    if v.trim().is_empty() {
        return Err(SiteError::bad_request(format!("{what} must not be empty")));
    }
    if v.chars().any(|c| c.is_control() && c != '\n') {
        return Err(SiteError::bad_request(format!("{what} must not contain control characters")));
    }
    Ok(())
}

/// What a challenge or verdict appended.
#[derive(Debug, Clone, Serialize)]
pub struct Appended {
    /// The finding.
    pub finding: String,
    /// The ledger record.
    pub index: u64,
    /// `challenge`, `confirmed` or `disputed`.
    pub kind: &'static str,
    /// Who.
    pub by: String,
    /// The proposed cause (challenge) or the training label (verdict).
    pub label: Option<String>,
}

/// How a verdict settles a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The finding stands.
    Confirmed,
    /// It was wrong.
    Disputed,
}

impl Site {
    /// Every finding with the state of its challenges.
    pub fn findings(&self) -> Result<Vec<FindingSummary>> {
        self.with(|site| Ok(list(&site.records)))
    }

    /// Finding `id` in full.
    pub fn finding(&self, id: &str) -> Result<FindingDetail> {
        self.with(|site| detail(&site.records, id))
    }

    /// Every finding's state.
    pub fn finding_states(&self) -> Result<Vec<FindingState>> {
        self.with(|site| Ok(states(&site.records)))
    }

    /// Confirmed, disputed and open findings.
    pub fn finding_stats(&self) -> Result<StatsOut> {
        self.with(|site| Ok(stats(&site.records)))
    }

    /// The training labels of every settled finding.
    pub fn finding_labels(&self) -> Result<Vec<LabelRow>> {
        self.with(|site| Ok(labels(&site.records)))
    }

    /// Disputes finding `id` with a reason and optionally the cause the challenger proposes (any user but
    /// an auditor).
    pub fn challenge(&self, user: &AuthenticatedUser, id: &str, reason: &str, alternative: Option<&str>) -> Result<Appended> {
        validate_text("--reason", reason)?;
        if let Some(alt) = alternative {
            validate_text("--alternative", alt)?;
        }
        self.with(|site| {
            site.check_actor(user)?;
            if user.role() == Role::Auditor {
                return Err(SiteError::forbidden(format!(
                    "user {} is an auditor; auditors read the ledger and do not challenge findings",
                    user.name()
                )));
            }
            let (index, _) = find_finding(&site.records, id)?;
            let finding_ref = site.reference(index, "finding")?;
            let previous = site.last_about(id).filter(|i| *i != index).map(|i| site.reference(i, "previous")).transpose()?;
            let mut record = Record::new(
                Body::Challenge(Challenge {
                    finding_id: id.to_owned(),
                    reason: reason.to_owned(),
                    alternative: alternative.map(str::to_owned),
                }),
                now_ms(),
                person(user),
            )
            .about([id.to_owned()])
            .used(finding_ref);
            if let Some(p) = previous {
                record = record.derived_from(p);
            }
            let (at, _) = site.stage(&record)?;
            site.commit()?;
            Ok(Appended {
                finding: id.to_owned(),
                index: at,
                kind: "challenge",
                by: user.name().to_owned(),
                label: alternative.map(str::to_owned),
            })
        })
    }

    /// Settles finding `id` (an engineer or approver who did not raise its open challenge): `confirmed`
    /// keeps the finding's label; `disputed` needs the true cause as `label` (default: the open
    /// challenge's alternative). The label becomes the training label.
    pub fn finding_verdict(
        &self,
        user: &AuthenticatedUser,
        id: &str,
        outcome: Outcome,
        label: Option<&str>,
        reason: &str,
    ) -> Result<Appended> {
        if !reason.is_empty() {
            validate_text("--reason", reason)?;
        }
        if let Some(l) = label {
            validate_text("--label", l)?;
        }
        self.with(|site| {
            site.check_actor(user)?;
            if !matches!(user.role(), Role::Engineer | Role::Approver) {
                return Err(SiteError::forbidden(format!(
                    "user {} is {}; a verdict on a finding is given by an engineer or an approver (an operator or anyone may challenge it)",
                    user.name(),
                    user.role()
                )));
            }
            let (index, finding) = find_finding(&site.records, id)?;
            let finding_label = finding.label.clone();
            // The challenges still open: those after the last verdict (the last one is the open challenge
            // whose alternative a disputed verdict defaults to). Nobody settles a dispute they raised, as
            // `fos_prov::audit` checks.
            let mut open: Option<(u64, Challenge, String)> = None;
            let mut challengers: BTreeSet<String> = BTreeSet::new();
            for (i, (_, r)) in site.records.iter().enumerate().skip(index as usize + 1) {
                match &r.body {
                    Body::Challenge(c) if c.finding_id == id => {
                        let by = r.actor.person().unwrap_or_default().to_owned();
                        challengers.insert(by.clone());
                        open = Some((i as u64, c.clone(), by));
                    }
                    Body::ChallengeVerdict(v) if v.finding_id == id => {
                        open = None;
                        challengers.clear();
                    }
                    _ => {}
                }
            }
            if challengers.contains(user.name()) {
                return Err(SiteError::forbidden(format!(
                    "user {} raised the open challenge on {id}; another engineer or approver gives the verdict",
                    user.name()
                )));
            }
            let label = match outcome {
                Outcome::Confirmed => {
                    let own = finding_label.clone().unwrap_or_else(|| "fault".to_owned());
                    match label {
                        Some(l) if l != own => {
                            return Err(SiteError::bad_request(format!(
                                "a confirmed finding keeps its label {own}; if the cause is {l}, the finding was wrong: give --outcome disputed --label {l}"
                            )))
                        }
                        _ => own,
                    }
                }
                Outcome::Disputed => {
                    let l = label
                        .map(str::to_owned)
                        .or_else(|| open.as_ref().and_then(|(_, c, _)| c.alternative.clone()))
                        .ok_or_else(|| {
                            SiteError::bad_request(
                                "a disputed finding needs the true cause as --label (e.g. humidity or normal): it becomes the training label",
                            )
                        })?;
                    if Some(&l) == finding_label.as_ref() {
                        return Err(SiteError::bad_request(format!(
                            "--label {l} is the finding's own label; a disputed finding names another cause (or give --outcome confirmed)"
                        )));
                    }
                    l
                }
            };
            let (prov_outcome, kind) = match outcome {
                Outcome::Confirmed => (FindingOutcome::Confirmed, "confirmed"),
                Outcome::Disputed => (FindingOutcome::Disputed, "disputed"),
            };
            let finding_ref = site.reference(index, "finding")?;
            let challenge_ref = open.as_ref().map(|(i, _, _)| site.reference(*i, "challenge")).transpose()?;
            let previous = site.last_about(id).map(|i| site.reference(i, "previous")).transpose()?;
            let mut record = Record::new(
                Body::ChallengeVerdict(ChallengeVerdict {
                    finding_id: id.to_owned(),
                    outcome: prov_outcome,
                    label: label.clone(),
                    reason: reason.to_owned(),
                }),
                now_ms(),
                person(user),
            )
            .about([id.to_owned()])
            .used(finding_ref);
            if let Some(c) = challenge_ref {
                record = record.used(c);
            }
            if let Some(p) = previous {
                record = record.derived_from(p);
            }
            let (at, _) = site.stage(&record)?;
            site.commit()?;
            Ok(Appended { finding: id.to_owned(), index: at, kind, by: user.name().to_owned(), label: Some(label) })
        })
    }
}

fn find_finding<'a>(records: &'a [([u8; 32], Record)], id: &str) -> Result<(u64, &'a Finding)> {
    records
        .iter()
        .enumerate()
        .find_map(|(i, (_, r))| match &r.body {
            Body::Finding(f) if f.finding_id == id => Some((i as u64, f.as_ref())),
            _ => None,
        })
        .ok_or_else(|| no_finding(id))
}

#[cfg(test)]
mod tests;
