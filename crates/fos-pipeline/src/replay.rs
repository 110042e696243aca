//! The `replay` source: a real recording (`.mat`, `.csv`, `.wav`, as `fos-io` reads them) played
//! through the pipeline and judged window by window by the bearing diagnostics of `fos analyze`.
//!
//! ```toml
//! [[source]]
//! kind = "replay"
//! name = "de"                # tags are named <name>.<feature>
//! file = "../shared/data/cwru/12k_Drive_End_IR014_0_169.mat"   # relative to the working directory
//! signal = "X169_DE_time"    # a .mat variable or dotted struct path, a .csv column, a .wav channel (0, 1, ...)
//! fs_hz = 12000.0            # the file's sample rate; optional for a .wav file (which states it), else required
//! shaft_hz = 29.93           # nominal shaft speed (rpm / 60); the real speed is estimated from the signal
//! bearing = [9, 0.3126, 1.537, 0.0]   # elements, element diameter, pitch diameter, contact angle (degrees);
//! #                          # required without `model` (the same four numbers as `fos analyze --bearing`)
//! # model = "models/cwru-de.json"     # optional: a model file from `fos eval --save-models` (the machine's
//! #                          # calibration: baseline level, analysis rate and settings); without it the
//! #                          # verdicts rest on physics alone (the white-noise null), as `fos analyze` without --model
//! # analysis = { null_windows = 256 }  # optional, only without `model`: analysis settings, the keys of
//! #                          # `fos analyze --config` (fos_models::config::AnalysisConfig; default: its defaults)
//! speed = 1.0                # default 1.0: real time; 2.0 twice as fast; 0 = as fast as the pipeline takes it
//! # start = "2026-01-01T00:00:00Z"   # time of the recording's first sample (default: the wall clock
//! #                          # when the source first runs on this data folder, kept across restarts)
//! store_waveforms = false    # default false: also store the raw samples behind each window (table `waveforms`)
//! loop = false               # default false: true replays the recording again and again, time running on
//! ```
//!
//! # What it computes
//!
//! The very path of `fos analyze FILE --signal --fs --shaft-hz (--bearing | --model)`:
//! [`fos_models::window::RecordingAnalysis`] resamples the stream to the model's analysis rate
//! (without a model: the file's rate) with the machine's anti-alias low-pass, cuts decision windows
//! of `window_s` (1.0 s) every `hop_s` (0.5 s), runs the model's `StreamAnalyzer` and
//! `MachineModel::decide` on each, so each window's score is bit for bit what `fos analyze` prints
//! for it. The file is streamed in chunks of 65,536 samples: memory stays bounded whatever its
//! length. The analysis runs on the runtime's blocking pool.
//!
//! # Points
//!
//! Window `k` (from 0) gives one point per tag `<name>.<feature>`, all at the window's **end**:
//! `start + window_s + k·hop_s` (the `t_end_s` of `fos analyze`), quality good; the features
//! (`score`, `faulty`, `predicted`, ...) are those of [`crate::diagnosis`], shared with the
//! `waveform` source.
//!
//! With `store_waveforms = true` each window also stores the raw samples (at the file's rate, bit
//! for bit) from the previous window's end to its own end: window 0 the first `window_s`,
//! every later one `hop_s`. The blocks of channel `<name>` tile the recording from its first
//! sample to the last window's end (the tail shorter than a hop is not analysed and not stored);
//! a block starts at `start + i / fs_hz` for its first sample `i`, cited by its content hash.
//!
//! # Restarts and loops
//!
//! Every record carries the source's position, the global index of the last window sent. After a
//! restart the source replays the file from its start (the analysis is stateful: the speed
//! estimate is a running median, so the skipped windows are analysed again, not sent) and sends
//! from the next window on: every window is stored once. The start time and the file are kept in
//! `DATA_DIR/pipeline/replay/<name>.json`; a restart that finds another file or signal configured
//! under the same name refuses to resume (rename the source or use a new data folder).
//!
//! With `loop = true` pass `p` (from 0) of a recording of `W` windows and `N` samples sends windows
//! `p·W .. p·W + W − 1`, at times shifted by `p·N / fs_hz` (the recording's duration); each pass is
//! analysed afresh, so every pass gives the same verdicts. A loop resumed in pass `p ≥ 1` analyses
//! pass 0 (which tells `W` and `N`) and then goes straight to pass `p`.
//!
//! With `speed > 0` each window is sent when its end is due: `(t − t₀) / speed` after the source
//! starts, `t` being the window's time and `t₀` the recording's start (after a restart: the time
//! of the last window sent before). The source reads one chunk ahead of what it has sent.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fos_io::SampleStream;
use fos_models::config::AnalysisConfig;
use fos_models::detector::MachineModel;
use fos_models::window::{Judged, RecordingAnalysis};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};

use crate::diagnosis::{feature_tags, push_window, window_values, ModelKeys};
use crate::record::Batch;
use crate::source::{parse_time, Envelope};
use crate::{PipelineError, Result};

pub use crate::diagnosis::{label_code, FEATURES};

/// Samples read from the file per analysis step.
const CHUNK: usize = 1 << 16;

/// Keys of a `replay` source (see the module documentation).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplayConfig {
    pub name: String,
    /// The recording.
    pub file: PathBuf,
    /// The signal in it.
    pub signal: String,
    /// The file's sample rate, Hz (optional when the file states it).
    pub fs_hz: Option<f64>,
    /// Nominal shaft speed, Hz.
    pub shaft_hz: f64,
    /// Bearing geometry: elements, element diameter, pitch diameter, contact angle (degrees).
    pub bearing: Option<Vec<f64>>,
    /// A model file of `fos eval --save-models`.
    pub model: Option<PathBuf>,
    /// Analysis settings without a model.
    pub analysis: Option<AnalysisConfig>,
    /// Replay speed: 1 real time, 0 as fast as possible.
    #[serde(default = "d_speed")]
    pub speed: f64,
    /// Time of the first sample (RFC 3339).
    pub start: Option<String>,
    /// Also store the raw samples behind each window.
    #[serde(default)]
    pub store_waveforms: bool,
    /// Replay again and again.
    #[serde(default, rename = "loop")]
    pub repeat: bool,
}

fn d_speed() -> f64 {
    1.0
}

impl ReplayConfig {
    /// Checks every key that can be checked without reading a file (the reason names the key,
    /// not the source).
    pub fn check(&self) -> std::result::Result<(), String> {
        if self.signal.trim().is_empty() {
            return Err("signal: must name a .mat variable, a .csv column or a .wav channel".into());
        }
        if self.file.as_os_str().is_empty() {
            return Err("file: must name a recording (.mat, .csv or .wav)".into());
        }
        if let Some(fs) = self.fs_hz {
            if !(fs.is_finite() && fs > 0.0) {
                return Err(format!("fs_hz: must be a positive number of Hz, got {fs}"));
            }
        }
        if !(self.speed.is_finite() && self.speed >= 0.0) {
            return Err(format!("speed: must be 0 (as fast as possible) or above (1 = real time), got {}", self.speed));
        }
        if let Some(s) = &self.start {
            parse_time(s).map_err(|e| format!("start: {e}"))?;
        }
        self.model_keys().check()
    }

    /// The keys that choose the diagnostics.
    fn model_keys(&self) -> ModelKeys<'_> {
        ModelKeys {
            shaft_hz: self.shaft_hz,
            bearing: self.bearing.as_deref(),
            model: self.model.as_deref(),
            analysis: self.analysis.as_ref(),
        }
    }
}

/// The tag names of a source, in [`FEATURES`] order.
pub fn tag_names(cfg: &ReplayConfig) -> Vec<Arc<str>> {
    feature_tags(&cfg.name)
}

/// What `DATA_DIR/pipeline/replay/<name>.json` keeps across restarts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct ReplayState {
    file: String,
    signal: String,
    start_ns: i64,
}

/// One window to send, and when it is due (ns of data time after `start`).
#[derive(Debug)]
struct Out {
    index: u64,
    offset_ns: i64,
    batch: Batch,
    waveform: Option<fos_historian::WaveformBlock>,
}

/// Everything a window needs besides the analysis itself.
#[derive(Debug)]
struct Emitter {
    name: String,
    tags: Vec<Arc<str>>,
    start_ns: i64,
    store_waveforms: bool,
    fs_in: f64,
    /// Analysis rate, window and hop (samples at the analysis rate, and ns).
    fs_a: f64,
    n: u64,
    hop: u64,
    window_ns: i64,
    hop_ns: i64,
    /// The first global index to send.
    next: u64,
    /// Current pass, its first global index and its time shift.
    pass_first: u64,
    pass_offset_ns: i64,
    /// Raw samples of this pass from index `raw_base` on (kept only with `store_waveforms`).
    raw: Vec<f64>,
    raw_base: u64,
    /// Raw samples of this pass read so far.
    raw_read: u64,
    /// Where the last window's raw block ended.
    prev_end: u64,
}

impl Emitter {
    /// Resets the per-pass state for pass `pass` of `windows` windows and `pass_ns` ns each.
    fn start_pass(&mut self, pass: u64, windows: u64, pass_ns: i64) {
        self.pass_first = pass.saturating_mul(windows);
        self.pass_offset_ns = pass_ns.saturating_mul(i64::try_from(pass).unwrap_or(i64::MAX));
        self.raw.clear();
        self.raw_base = 0;
        self.raw_read = 0;
        self.prev_end = 0;
    }

    fn feed_raw(&mut self, part: &[f64]) {
        self.raw_read += part.len() as u64;
        if self.store_waveforms {
            self.raw.extend_from_slice(part);
        }
    }

    fn window(&mut self, j: Judged<'_>, out: &mut Vec<Out>) {
        let index = self.pass_first + j.index;
        // The raw samples from the previous window's end to this one's (at the file's rate).
        let end_a = self.n + j.index * self.hop;
        let end = ((end_a as f64 * self.fs_in / self.fs_a).round() as u64).min(self.raw_read).max(self.prev_end);
        let begin = self.prev_end;
        self.prev_end = end;
        let block = if self.store_waveforms {
            let lo = (begin - self.raw_base) as usize;
            let hi = (end - self.raw_base) as usize;
            let samples = self.raw[lo..hi].to_vec();
            self.raw.drain(..hi);
            self.raw_base = end;
            Some((begin, samples))
        } else {
            None
        };
        if index < self.next {
            return;
        }
        self.next = index + 1;
        let offset_ns = self
            .pass_offset_ns
            .saturating_add(self.window_ns)
            .saturating_add(self.hop_ns.saturating_mul(i64::try_from(j.index).unwrap_or(i64::MAX)));
        let time = self.start_ns.saturating_add(offset_ns);
        let mut batch = Batch { tags: self.tags.clone(), ..Batch::default() };
        push_window(&mut batch, 0, time, &window_values(&j));
        let waveform = block.map(|(begin, samples)| fos_historian::WaveformBlock {
            channel: self.name.clone(),
            start_ns: self
                .start_ns
                .saturating_add(self.pass_offset_ns)
                .saturating_add((begin as f64 * 1e9 / self.fs_in).round() as i64),
            rate_hz: self.fs_in,
            samples,
        });
        out.push(Out { index, offset_ns, batch, waveform });
    }
}

/// The replay between analysis steps.
struct Player {
    cfg: ReplayConfig,
    model: MachineModel,
    stream: Box<dyn SampleStream>,
    analysis: RecordingAnalysis,
    emit: Emitter,
    chunk: Vec<f64>,
    pass: u64,
    /// Windows and samples per pass, once a pass has ended.
    shape: Option<(u64, u64)>,
    done: bool,
}

impl std::fmt::Debug for Player {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Player").field("name", &self.cfg.name).field("pass", &self.pass).finish_non_exhaustive()
    }
}

impl Player {
    fn bad(&self, key: &str, reason: impl std::fmt::Display) -> PipelineError {
        bad(&self.cfg.name, key, reason)
    }

    /// Opens the file and builds the model (the null-model simulation runs here).
    fn open(cfg: ReplayConfig, next: u64, start_ns: i64) -> Result<Player> {
        let name = cfg.name.clone();
        let stream = fos_io::open_stream(&cfg.file, &cfg.signal).map_err(|e| bad(&name, "file", e))?;
        let fs_in = match (cfg.fs_hz, stream.file_rate_hz()) {
            (Some(f), Some(r)) if (r - f).abs() > 1e-9 * r => {
                return Err(bad(&name, "fs_hz", format!("the file is sampled at {r} Hz, not {f}; give fs_hz = {r}")))
            }
            (Some(f), _) => f,
            (None, Some(r)) => r,
            (None, None) => {
                return Err(bad(
                    &name,
                    "fs_hz",
                    format!("required: {} does not state its sample rate", cfg.file.display()),
                ))
            }
        };
        let model = cfg
            .model_keys()
            .build(&name, fs_in, "bearing, shaft_hz, fs_hz")
            .map_err(|(key, reason)| bad(&name, key, reason))?;
        let analysis =
            RecordingAnalysis::new(model.clone(), fs_in, cfg.shaft_hz).map_err(|e| bad(&name, "fs_hz", e))?;
        let ns = |s: f64| (s * 1e9).round() as i64;
        let emit = Emitter {
            name: name.clone(),
            tags: tag_names(&cfg),
            start_ns,
            store_waveforms: cfg.store_waveforms,
            fs_in,
            fs_a: model.analysis_fs,
            n: analysis.window_len() as u64,
            hop: analysis.hop_len() as u64,
            window_ns: ns(model.config.window_s),
            hop_ns: ns(model.config.hop_s),
            next,
            pass_first: 0,
            pass_offset_ns: 0,
            raw: Vec::new(),
            raw_base: 0,
            raw_read: 0,
            prev_end: 0,
        };
        Ok(Player { cfg, model, stream, analysis, emit, chunk: vec![0.0; CHUNK], pass: 0, shape: None, done: false })
    }

    /// Reads and analyses one chunk; returns the windows to send (possibly none).
    fn step(&mut self) -> Result<Vec<Out>> {
        let mut out = Vec::new();
        let got = self.stream.read(&mut self.chunk).map_err(|e| self.bad("file", e))?;
        let Player { analysis, emit, chunk, .. } = self;
        if got > 0 {
            emit.feed_raw(&chunk[..got]);
        }
        let mut on = |j: Judged<'_>| -> std::result::Result<(), std::convert::Infallible> {
            emit.window(j, &mut out);
            Ok(())
        };
        if got > 0 {
            let Ok(()) = analysis.push(&chunk[..got], &mut on);
            return Ok(out);
        }
        let Ok(()) = analysis.finish(&mut on);
        let windows = analysis.windows();
        let samples = emit.raw_read;
        if windows == 0 {
            return Err(self.bad(
                "file",
                format!(
                    "{} ({}) is shorter than one {} s decision window",
                    self.cfg.file.display(),
                    self.cfg.signal,
                    self.model.config.window_s
                ),
            ));
        }
        self.shape = Some((windows, samples));
        if !self.cfg.repeat {
            self.done = true;
            return Ok(out);
        }
        // The next pass, or the one holding the next window to send (whole passes are skipped).
        self.pass = (self.pass + 1).max(self.emit.next / windows);
        let pass_ns = (samples as f64 * 1e9 / self.emit.fs_in).round() as i64;
        self.emit.start_pass(self.pass, windows, pass_ns);
        self.stream = fos_io::open_stream(&self.cfg.file, &self.cfg.signal).map_err(|e| self.bad("file", e))?;
        self.analysis = RecordingAnalysis::new(self.model.clone(), self.emit.fs_in, self.cfg.shaft_hz)
            .map_err(|e| self.bad("fs_hz", e))?;
        Ok(out)
    }
}

fn bad(name: &str, key: &str, reason: impl std::fmt::Display) -> PipelineError {
    PipelineError::Config { origin: format!("replay source {name:?}"), reason: format!("{key}: {reason}") }
}

fn now_ns() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// The start time of the replay, from the config, else the state kept for a resumed replay, else
/// now; checks that a resumed replay plays the same file, and keeps the state for the next start.
fn start_time(cfg: &ReplayConfig, resumed: bool, state_dir: &Path) -> Result<i64> {
    let path = state_dir.join(format!("{}.json", cfg.name));
    let stored: Option<ReplayState> = match std::fs::read_to_string(&path) {
        Ok(text) => Some(serde_json::from_str(&text).map_err(|e| {
            PipelineError::State(format!("{}: {e}; delete it to replay {:?} from its start", path.display(), cfg.name))
        })?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(PipelineError::Io { path, action: "read", source: e }),
    };
    let file = cfg.file.display().to_string();
    let configured = match &cfg.start {
        Some(s) => Some(parse_time(s).map_err(|e| bad(&cfg.name, "start", e))?),
        None => None,
    };
    let start_ns = match (&stored, resumed) {
        (Some(s), true) => {
            if s.file != file || s.signal != cfg.signal {
                return Err(PipelineError::State(format!(
                    "replay source {:?}: the log holds its position in {} ({}), but it is now configured to replay {} ({}); \
                     give the source another name or use a new --data-dir",
                    cfg.name, s.file, s.signal, file, cfg.signal
                )));
            }
            configured.unwrap_or(s.start_ns)
        }
        (None, true) => {
            tracing::warn!(source = %cfg.name, path = %path.display(), "replay state missing: times restart from the configured start or now");
            configured.unwrap_or_else(now_ns)
        }
        (_, false) => configured.unwrap_or_else(now_ns),
    };
    let state = ReplayState { file, signal: cfg.signal.clone(), start_ns };
    if stored.as_ref() != Some(&state) {
        write_state(state_dir, &path, &state)?;
    }
    Ok(start_ns)
}

/// Replaces the state file durably (tmp, fsync, rename, fsync of the folder).
fn write_state(dir: &Path, path: &Path, state: &ReplayState) -> Result<()> {
    use std::io::Write as _;
    let io = |path: &Path, action: &'static str| {
        let path = path.to_path_buf();
        move |e| PipelineError::Io { path, action, source: e }
    };
    std::fs::create_dir_all(dir).map_err(io(dir, "create"))?;
    let tmp = path.with_extension("json.tmp");
    let text = serde_json::to_string(state).map_err(|e| PipelineError::State(e.to_string()))?;
    let mut f = std::fs::File::create(&tmp).map_err(io(&tmp, "create"))?;
    f.write_all(text.as_bytes()).map_err(io(&tmp, "write"))?;
    f.sync_all().map_err(io(&tmp, "fsync"))?;
    std::fs::rename(&tmp, path).map_err(io(path, "replace"))?;
    if let Ok(d) = std::fs::File::open(dir) {
        d.sync_all().map_err(io(dir, "fsync"))?;
    }
    Ok(())
}

/// Runs a replay source: sends windows after `last` (the position the log holds, if any) until the
/// recording ends (unless it loops) or `stop`.
pub(crate) async fn run_replay(
    cfg: ReplayConfig,
    last: Option<u64>,
    state_dir: PathBuf,
    tx: mpsc::Sender<Envelope>,
    mut stop: watch::Receiver<bool>,
) -> Result<()> {
    cfg.check().map_err(|reason| PipelineError::Config { origin: format!("replay source {:?}", cfg.name), reason })?;
    let name: Arc<str> = Arc::from(cfg.name.as_str());
    let panicked =
        |e: tokio::task::JoinError| PipelineError::State(format!("replay source {name:?}: analysis panicked: {e}"));
    let start_ns = start_time(&cfg, last.is_some(), &state_dir)?;
    let next = last.map_or(0, |l| l + 1);
    let speed = cfg.speed;
    let mut player =
        Some(tokio::task::spawn_blocking(move || Player::open(cfg, next, start_ns)).await.map_err(panicked)??);
    let t0 = tokio::time::Instant::now();
    // Data time of the last window sent before this run (None: not known yet).
    let mut base_ns: Option<i64> = if last.is_none() { Some(0) } else { None };
    loop {
        if *stop.borrow() {
            break;
        }
        let mut p = player.take().expect("put back after every step");
        if p.done {
            break;
        }
        let (p, r) = tokio::task::spawn_blocking(move || {
            let r = p.step();
            (p, r)
        })
        .await
        .map_err(panicked)?;
        let hop_ns = p.emit.hop_ns;
        player = Some(p);
        for w in r? {
            if speed > 0.0 {
                let base = *base_ns.get_or_insert(w.offset_ns - hop_ns);
                let wait = Duration::from_secs_f64(((w.offset_ns - base).max(0) as f64 / 1e9) / speed);
                tokio::select! {
                    _ = tokio::time::sleep_until(t0 + wait) => {}
                    _ = stop.changed() => return Ok(()),
                }
            }
            let env = Envelope {
                source: name.clone(),
                position: Some(w.index),
                batch: w.batch,
                waveforms: w.waveform.into_iter().collect(),
                ack: None,
            };
            if tx.send(env).await.is_err() {
                return Ok(());
            }
        }
    }
    Ok(())
}
