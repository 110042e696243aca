//! The `waveform` source: high-rate vibration blocks acquired from a device over its protocol
//! (OPC UA array nodes, through [`fos_connect::Connection::read_array`]), taken once each by their
//! block counter, fed as one continuous stream into the bearing diagnostics of `fos analyze` and
//! the `replay` source, and judged window by window.
//!
//! ```toml
//! [[source]]
//! kind = "waveform"
//! name = "m2"                # tags are named <name>.<feature>; stored blocks are channel <name>
//! url = "opcua://127.0.0.1:4840/"         # the device (a fos-connect URL); OPC UA takes arrays of up to
//! #                          # ?max_array=N elements (default 131072: 2.56 s at 51.2 kHz)
//! block = "ns=2;s=motor-02.vib.block"     # the array node: the device's latest block of samples
//! seq = "ns=2;s=motor-02.vib.seq"         # its block counter: an integer, one up per new block
//! rate = "ns=2;s=motor-02.vib.rate_hz"    # a node holding the blocks' sample rate, Hz...
//! # rate_hz = 12800.0        # ...or the rate itself: give exactly one of `rate` and `rate_hz`
//! interval_ms = 200          # default 200: how often the counter is read; keep it below the block period
//! stamp = "end"              # default "end": the array's source timestamp is the end of its last
//! #                          # sample (a block published when complete); "start": its first sample
//! shaft_hz = 29.5            # nominal shaft speed (rpm / 60); the real speed is estimated from the signal
//! bearing = [9, 0.3126, 1.537, 0.0]   # elements, element diameter, pitch diameter, contact angle
//! #                          # (degrees); required without `model`
//! # model = "models/m2.json" # optional: a model file of `fos eval --save-models` (as in `replay`)
//! # analysis = { null_windows = 256 }  # optional, only without `model`: fos_models AnalysisConfig keys
//! store_waveforms = false    # default false: also store every raw block taken (table `waveforms`)
//! timeout_ms = 3000          # default 3000: per request and per connect
//! reconnect_initial_ms = 250 # default 250: first reconnect delay, doubling...
//! reconnect_max_ms = 30000   # default 30000: ...up to this
//! ```
//!
//! # Taking blocks
//!
//! Every `interval_ms` (on a fixed grid; cycles missed while busy are skipped, never burst) the
//! source reads the counter (and the `rate` node) in one request. When the counter differs from
//! the last block taken it reads the array whole, then the counter again: only when the counter
//! did not move during the array read is the block taken (up to three tries, else the next
//! cycle), so a block is never paired with another block's counter. This assumes the device
//! publishes a block and its counter together (as one snapshot, like the `fos-sim` server); a
//! bad-quality counter or array (the device has no block yet) is retried at the next cycle.
//!
//! Each block is taken once. A counter that rose by more than one means blocks were missed (the
//! source polled too slowly, the pipeline applied backpressure, the device was unreachable, or the
//! pipeline was stopped): the number is **reported**, never silent, as the point `<name>.missed`
//! of the next block taken and a warning in the log. A counter that went down (the device
//! restarted; a 16- or 32-bit counter wrapping is counted as a wrap) gives `missed` = NaN with
//! quality uncertain: how many were missed is unknown. The last block taken is the source's
//! position in the log, so after a pipeline restart the blocks missed meanwhile are counted too.
//!
//! # What it computes
//!
//! The blocks' samples are one stream into [`fos_models::window::RecordingAnalysis`] (through
//! [`crate::diagnosis`], the very code of the `replay` source): resampled to the model's analysis
//! rate (without a model: the device's rate, physics alone), decision windows of `window_s`
//! (1.0 s) every `hop_s` (0.5 s) that may span consecutive blocks, each judged by the model. A gap
//! (missed blocks, a counter that went down, a changed sample rate) ends the stream's segment: the
//! windows the data before it completes are judged, and the next block starts a new segment (the
//! running speed estimate carries over), so no window spans a gap. A changed rate rebuilds the
//! model for it (without a model file) and is logged. The analysis runs on the blocking pool.
//!
//! # Points
//!
//! Each window gives the verdict tags of [`crate::diagnosis`] (`<name>.score`, `<name>.faulty`,
//! `<name>.predicted`, ...; quality good) at the time of its last sample's end: the start of the
//! block holding that sample plus its offset in the block at the block's rate. A block starts at
//! its array's source timestamp (`stamp = "start"`) or that less `samples / rate` (`"end"`); the
//! timestamp is the device's (else the time the reply arrived). Each block taken also gives, at its
//! end, `<name>.seq` (its counter) and `<name>.missed` (blocks missed just before it, 0 normally).
//! With `store_waveforms = true` the block is stored raw, bit for bit, as a
//! [`fos_historian::WaveformBlock`] of channel `<name>` (that start, the block's rate), cited by
//! its content hash.
//!
//! # Outages
//!
//! As the `poll` source: a device that is down never ends the source; it reconnects with backoff
//! (`reconnect_initial_ms` doubling to `reconnect_max_ms`) and marks the outage once with a
//! `<name>.seq` point of quality bad_not_connected (bad_timeout for a timeout), value NaN. Problems
//! of configuration end the source with an error naming the key: an unsupported protocol or a bad
//! node id (`url`, `block`, `seq`, `rate`), a counter or rate node holding something else than a
//! count or a positive rate, a block above the driver's array limit (raise `max_array` in `url`),
//! no model for this bearing, speed and rate.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use fos_connect::poll::Backoff;
use fos_connect::{ArraySample, ConnectError, ConnectOptions, Connection, DataType, PlanId, Quality, Value};
use fos_models::config::AnalysisConfig;
use fos_models::detector::MachineModel;
use fos_models::window::{Judged, RecordingAnalysis};
use serde::Deserialize;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::diagnosis::{feature_tags, push_window, window_values, ModelKeys, FEATURES};
use crate::record::Batch;
use crate::source::{quality_code, Envelope};
use crate::{PipelineError, Result};

/// Tries per cycle to read a block whose counter stays put.
const TORN_TRIES: usize = 3;

/// What the array's source timestamp marks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stamp {
    /// The end of the block's last sample (the default).
    #[default]
    End,
    /// The block's first sample.
    Start,
}

/// Keys of a `waveform` source (see the module documentation).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaveformConfig {
    pub name: String,
    /// The device URL.
    pub url: String,
    /// The array node.
    pub block: String,
    /// The block counter node.
    pub seq: String,
    /// A node holding the sample rate.
    pub rate: Option<String>,
    /// The sample rate, Hz.
    pub rate_hz: Option<f64>,
    /// Counter reads, ms apart.
    #[serde(default = "d_interval")]
    pub interval_ms: u64,
    /// What the array's source timestamp marks.
    #[serde(default)]
    pub stamp: Stamp,
    /// Nominal shaft speed, Hz.
    pub shaft_hz: f64,
    /// Bearing geometry: elements, element diameter, pitch diameter, contact angle (degrees).
    pub bearing: Option<Vec<f64>>,
    /// A model file of `fos eval --save-models`.
    pub model: Option<PathBuf>,
    /// Analysis settings without a model.
    pub analysis: Option<AnalysisConfig>,
    /// Also store the raw blocks.
    #[serde(default)]
    pub store_waveforms: bool,
    /// Per request and per connect, ms.
    #[serde(default = "d_timeout")]
    pub timeout_ms: u64,
    /// First reconnect delay, ms.
    #[serde(default = "d_initial")]
    pub reconnect_initial_ms: u64,
    /// Longest reconnect delay, ms.
    #[serde(default = "d_max")]
    pub reconnect_max_ms: u64,
}

fn d_interval() -> u64 {
    200
}
fn d_timeout() -> u64 {
    3000
}
fn d_initial() -> u64 {
    250
}
fn d_max() -> u64 {
    30_000
}

impl WaveformConfig {
    /// Checks every key that can be checked without I/O (the reason names the key, not the source).
    pub fn check(&self) -> std::result::Result<(), String> {
        let conn = self.connection().map_err(|e| format!("url: {e}"))?;
        conn.check_array(&self.block).map_err(|e| format!("block: {e}"))?;
        let mut probe = self.connection().map_err(|e| format!("url: {e}"))?;
        probe.prepare(std::slice::from_ref(&self.seq)).map_err(|e| format!("seq: {e}"))?;
        match (&self.rate, self.rate_hz) {
            (Some(_), Some(_)) => return Err("rate, rate_hz: give one of them, not both".into()),
            (None, None) => {
                return Err(
                    "rate: required: a node holding the blocks' sample rate (or rate_hz = the rate in Hz)".into()
                )
            }
            (Some(r), None) => {
                probe.prepare(std::slice::from_ref(r)).map_err(|e| format!("rate: {e}"))?;
            }
            (None, Some(fs)) => {
                if !(fs.is_finite() && fs > 0.0) {
                    return Err(format!("rate_hz: must be a positive number of Hz, got {fs}"));
                }
            }
        }
        if self.interval_ms == 0 {
            return Err("interval_ms: must be above 0".into());
        }
        if self.timeout_ms == 0 {
            return Err("timeout_ms: must be above 0".into());
        }
        if self.reconnect_initial_ms == 0 || self.reconnect_max_ms < self.reconnect_initial_ms {
            return Err(format!(
                "reconnect_initial_ms, reconnect_max_ms: need 0 < initial <= max, got {} and {}",
                self.reconnect_initial_ms, self.reconnect_max_ms
            ));
        }
        self.model_keys().check()
    }

    fn model_keys(&self) -> ModelKeys<'_> {
        ModelKeys {
            shaft_hz: self.shaft_hz,
            bearing: self.bearing.as_deref(),
            model: self.model.as_deref(),
            analysis: self.analysis.as_ref(),
        }
    }

    /// A read-only connection to the device (no I/O).
    fn connection(&self) -> std::result::Result<Connection, ConnectError> {
        let options = ConnectOptions { timeout: Duration::from_millis(self.timeout_ms), ..ConnectOptions::default() };
        Connection::new(&self.url, options)
    }
}

/// The tags of a source: the verdict tags, then `<name>.seq` and `<name>.missed`.
pub fn tag_names(name: &str) -> Vec<Arc<str>> {
    let mut tags = feature_tags(name);
    tags.push(Arc::from(format!("{name}.seq")));
    tags.push(Arc::from(format!("{name}.missed")));
    tags
}

/// Index of `<name>.seq` in [`tag_names`].
const SEQ_TAG: u32 = FEATURES.len() as u32;
/// Index of `<name>.missed` in [`tag_names`].
const MISSED_TAG: u32 = SEQ_TAG + 1;

/// How the counter moved from the last block taken to this one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// The first block (nothing taken before).
    First,
    /// This many blocks were missed in between (0: the next block).
    Missed(u64),
    /// The counter went down, not by a wrap: how many were missed is unknown.
    Reset,
}

/// The counter's move from `last` to `seq`; `modulus` is the counter's range (2^16 or 2^32 for a
/// counter of that width, None for a wider one): a fall of more than half of it is a wrap.
pub(crate) fn step(last: Option<u64>, seq: u64, modulus: Option<u64>) -> Step {
    let Some(l) = last else { return Step::First };
    if seq > l {
        return Step::Missed(seq - l - 1);
    }
    match modulus {
        Some(m) if l < m && l - seq > m / 2 => Step::Missed(seq + (m - 1 - l)),
        _ => Step::Reset,
    }
}

/// The range of a counter of type `t`.
fn modulus(t: DataType) -> Option<u64> {
    match t {
        DataType::U8 | DataType::I8 => Some(1 << 8),
        DataType::U16 | DataType::I16 => Some(1 << 16),
        DataType::U32 | DataType::I32 => Some(1 << 32),
        _ => None,
    }
}

/// A counter value as a block number, or why it is not one.
fn counter(v: &Value) -> std::result::Result<u64, String> {
    match *v {
        Value::UInt(u) => Ok(u),
        Value::Int(i) if i >= 0 => Ok(i as u64),
        Value::Float(x) if x.is_finite() && x >= 0.0 && x.fract() == 0.0 && x < 2f64.powi(53) => Ok(x as u64),
        ref other => Err(format!("the node holds {other}, not a block counter (a whole number >= 0)")),
    }
}

/// One stream segment of the analysis: the blocks fed since the last gap, and the windows judged.
#[derive(Debug)]
pub(crate) struct Judge {
    analysis: RecordingAnalysis,
    /// The rate the analysis was built for, Hz.
    fs_in: f64,
    /// Analysis rate; window and hop in samples at it.
    fs_a: f64,
    n: u64,
    hop: u64,
    /// Input samples fed and windows judged in this segment.
    fed: u64,
    windows: u64,
    /// Blocks of this segment still needed to time windows: first input index, length, start.
    blocks: VecDeque<(u64, u64, i64)>,
}

impl Judge {
    /// The analysis of a stream at `fs_in` by `model`.
    pub(crate) fn new(model: MachineModel, fs_in: f64, shaft_hz: f64) -> std::result::Result<Judge, String> {
        let fs_a = model.analysis_fs;
        let analysis = RecordingAnalysis::new(model, fs_in, shaft_hz).map_err(|e| e.to_string())?;
        Ok(Judge {
            n: analysis.window_len() as u64,
            hop: analysis.hop_len() as u64,
            analysis,
            fs_in,
            fs_a,
            fed: 0,
            windows: 0,
            blocks: VecDeque::new(),
        })
    }

    /// The rate the analysis takes.
    pub(crate) fn rate(&self) -> f64 {
        self.fs_in
    }

    /// Feeds a block starting at `start_ns`; appends each window it completes (time, values).
    pub(crate) fn push(&mut self, samples: &[f64], start_ns: i64, out: &mut Vec<(i64, [f64; FEATURES.len()])>) {
        if samples.is_empty() {
            return;
        }
        self.blocks.push_back((self.fed, samples.len() as u64, start_ns));
        self.fed += samples.len() as u64;
        let Judge { analysis, fs_in, fs_a, n, hop, fed, windows, blocks } = self;
        let mut on = |j: Judged<'_>| -> std::result::Result<(), std::convert::Infallible> {
            out.push((window_time(*fs_in, *fs_a, *n + *windows * *hop, *fed, blocks), window_values(&j)));
            *windows += 1;
            Ok(())
        };
        let Ok(()) = analysis.push(samples, &mut on);
    }

    /// Ends the segment (a gap follows): judges the windows its data completes, and starts afresh.
    pub(crate) fn finish(&mut self, out: &mut Vec<(i64, [f64; FEATURES.len()])>) {
        if self.fed == 0 {
            return;
        }
        let Judge { analysis, fs_in, fs_a, n, hop, fed, windows, blocks } = self;
        let mut on = |j: Judged<'_>| -> std::result::Result<(), std::convert::Infallible> {
            out.push((window_time(*fs_in, *fs_a, *n + *windows * *hop, *fed, blocks), window_values(&j)));
            *windows += 1;
            Ok(())
        };
        let Ok(()) = analysis.finish(&mut on);
        self.fed = 0;
        self.windows = 0;
        self.blocks.clear();
    }
}

/// The time of the end of a window ending at analysis sample `end_a` of the segment: the input
/// sample it ends at, found in its block. Drops the blocks no later window can end in.
fn window_time(fs_in: f64, fs_a: f64, end_a: u64, fed: u64, blocks: &mut VecDeque<(u64, u64, i64)>) -> i64 {
    let end = ((end_a as f64 * fs_in / fs_a).round() as u64).clamp(1, fed.max(1));
    while blocks.len() > 1 && blocks.front().is_some_and(|&(first, len, _)| first + len < end) {
        blocks.pop_front();
    }
    let Some(&(first, _, start_ns)) = blocks.front() else { return 0 };
    start_ns.saturating_add(((end.saturating_sub(first)) as f64 * 1e9 / fs_in).round() as i64)
}

/// A block read with its counter and rate.
#[derive(Debug)]
struct Taken {
    seq: u64,
    modulus: Option<u64>,
    rate: f64,
    array: ArraySample,
}

/// What one cycle found.
#[derive(Debug)]
enum Poll {
    /// No new block.
    Nothing,
    /// The counter, rate or array is not readable now (bad quality): why.
    Unreadable(String),
    /// The counter moved during every try.
    Torn,
    /// A new block.
    Block(Taken),
}

/// Why a cycle failed.
#[derive(Debug)]
enum Fail {
    /// The device or the connection.
    Device(ConnectError),
    /// The configuration (the key and why): the source ends.
    Config(&'static str, String),
}

impl From<ConnectError> for Fail {
    fn from(e: ConnectError) -> Fail {
        match e {
            ConnectError::TooLarge { .. } => Fail::Config("block", e.to_string()),
            e => Fail::Device(e),
        }
    }
}

/// The source's connection and what it reads.
#[derive(Debug)]
struct Device {
    conn: Connection,
    plan: PlanId,
    block: String,
    rate_hz: Option<f64>,
}

impl Device {
    /// The counter (with its range) and the rate, from one read of the plan; None: not readable now.
    async fn counter(&mut self) -> std::result::Result<std::result::Result<(u64, Option<u64>, f64), String>, Fail> {
        let s = self.conn.read(self.plan).await?;
        let Some(seq) = s.first() else { return Ok(Err("the device returned no counter".into())) };
        let Some(v) = seq.value.as_ref().filter(|_| matches!(seq.quality, Quality::Good | Quality::Uncertain)) else {
            return Ok(Err(format!("counter: {}", seq.detail.as_deref().unwrap_or(seq.quality.as_str()))));
        };
        let n = counter(v).map_err(|e| Fail::Config("seq", e))?;
        let rate = match (self.rate_hz, s.get(1)) {
            (Some(r), _) => r,
            (None, Some(r)) => {
                let Some(v) = r.value.as_ref().filter(|_| matches!(r.quality, Quality::Good | Quality::Uncertain))
                else {
                    return Ok(Err(format!("rate: {}", r.detail.as_deref().unwrap_or(r.quality.as_str()))));
                };
                match v.as_f64() {
                    Some(x) if x.is_finite() && x > 0.0 => x,
                    _ => return Err(Fail::Config("rate", format!("the node holds {v}, not a sample rate in Hz"))),
                }
            }
            (None, None) => return Ok(Err("the device returned no rate".into())),
        };
        Ok(Ok((n, modulus(seq.dtype), rate)))
    }

    /// One cycle: a new block whose counter held still during its read, if any.
    async fn poll(&mut self, last: Option<u64>) -> std::result::Result<Poll, Fail> {
        for _ in 0..TORN_TRIES {
            let (seq, modulus, rate) = match self.counter().await? {
                Ok(c) => c,
                Err(why) => return Ok(Poll::Unreadable(why)),
            };
            if Some(seq) == last {
                return Ok(Poll::Nothing);
            }
            let array = self.conn.read_array(&self.block).await?;
            if !matches!(array.quality, Quality::Good | Quality::Uncertain) {
                return Ok(Poll::Unreadable(format!(
                    "block: {}",
                    array.detail.as_deref().unwrap_or(array.quality.as_str())
                )));
            }
            match self.counter().await? {
                Ok((again, _, rate_again)) if again == seq && rate_again == rate => {
                    return Ok(Poll::Block(Taken { seq, modulus, rate, array }))
                }
                Ok(_) => {}
                Err(why) => return Ok(Poll::Unreadable(why)),
            }
        }
        Ok(Poll::Torn)
    }
}

fn bad(name: &str, key: &str, reason: impl std::fmt::Display) -> PipelineError {
    PipelineError::Config { origin: format!("waveform source {name:?}"), reason: format!("{key}: {reason}") }
}

fn ns(t: std::time::SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_nanos()).unwrap_or(i64::MAX),
    }
}

/// The source's state between blocks.
struct Source {
    cfg: WaveformConfig,
    name: Arc<str>,
    tags: Vec<Arc<str>>,
    judge: Option<Judge>,
    /// The model without a model file is built per rate; with one, loaded once.
    model_file: Option<MachineModel>,
    last: Option<u64>,
    missed_total: u64,
}

impl Source {
    /// The analysis for a stream at `rate`, built on the blocking pool (a model's null simulation
    /// takes a moment).
    async fn judge_for(&mut self, rate: f64) -> Result<Judge> {
        let cfg = self.cfg.clone();
        let file = self.model_file.clone();
        let name = self.name.clone();
        let panicked = |e: tokio::task::JoinError| {
            PipelineError::State(format!("waveform source {name:?}: the model build panicked: {e}"))
        };
        let (judge, file) = tokio::task::spawn_blocking(move || {
            let keys = cfg.model_keys();
            let model = match file {
                Some(m) => m,
                None => {
                    keys.build(&cfg.name, rate, "bearing, shaft_hz, rate").map_err(|(k, r)| bad(&cfg.name, k, r))?
                }
            };
            let file = cfg.model.is_some().then(|| model.clone());
            let judge = Judge::new(model, rate, cfg.shaft_hz).map_err(|e| bad(&cfg.name, "rate", e))?;
            Ok::<_, PipelineError>((judge, file))
        })
        .await
        .map_err(panicked)??;
        self.model_file = file;
        Ok(judge)
    }

    /// Judges a block taken, and makes its envelope.
    async fn take(&mut self, t: Taken) -> Result<Envelope> {
        let step = step(self.last, t.seq, t.modulus);
        let rate_changed = self.judge.as_ref().is_some_and(|j| j.rate() != t.rate);
        if rate_changed {
            tracing::warn!(source = %self.name, rate_hz = t.rate, "the blocks' sample rate changed: the analysis restarts");
        }
        let gap = matches!(step, Step::Missed(1..) | Step::Reset) || rate_changed;
        match step {
            Step::Missed(m @ 1..) => {
                self.missed_total += m;
                tracing::warn!(source = %self.name, missed = m, total = self.missed_total, seq = t.seq, "blocks missed");
            }
            Step::Reset => {
                tracing::warn!(source = %self.name, seq = t.seq, last = ?self.last, "the block counter went down (device restart?): blocks may be missed");
            }
            _ => {}
        }
        let len = t.array.values.len() as f64;
        let time = ns(t.array.time);
        let span_ns = (len * 1e9 / t.rate).round() as i64;
        let start_ns = match self.cfg.stamp {
            Stamp::End => time.saturating_sub(span_ns),
            Stamp::Start => time,
        };
        let end_ns = start_ns.saturating_add(span_ns);
        // The analysis to feed; a gap ends the segment of the same analysis, a new rate the old one.
        let mut ending: Option<Judge> = None;
        let judge = match self.judge.take() {
            Some(j) if !rate_changed => j,
            other => {
                ending = other;
                self.judge_for(t.rate).await?
            }
        };
        let name = self.name.clone();
        let samples = t.array.values;
        let (judge, samples, windows) = tokio::task::spawn_blocking(move || {
            let mut judge = judge;
            let mut out = Vec::new();
            match ending {
                Some(mut old) => old.finish(&mut out),
                None if gap => judge.finish(&mut out),
                None => {}
            }
            judge.push(&samples, start_ns, &mut out);
            (judge, samples, out)
        })
        .await
        .map_err(|e| PipelineError::State(format!("waveform source {name:?}: analysis panicked: {e}")))?;
        self.judge = Some(judge);
        let mut batch = Batch { tags: self.tags.clone(), ..Batch::default() };
        for (time, values) in &windows {
            push_window(&mut batch, 0, *time, values);
        }
        batch.push(SEQ_TAG, end_ns, t.seq as f64, fos_historian::quality::GOOD);
        match step {
            Step::First => batch.push(MISSED_TAG, end_ns, 0.0, fos_historian::quality::GOOD),
            Step::Missed(m) => batch.push(MISSED_TAG, end_ns, m as f64, fos_historian::quality::GOOD),
            Step::Reset => batch.push(MISSED_TAG, end_ns, f64::NAN, fos_historian::quality::UNCERTAIN),
        }
        self.last = Some(t.seq);
        let waveforms = if self.cfg.store_waveforms && !samples.is_empty() {
            vec![fos_historian::WaveformBlock { channel: self.cfg.name.clone(), start_ns, rate_hz: t.rate, samples }]
        } else {
            Vec::new()
        };
        Ok(Envelope { source: self.name.clone(), position: Some(t.seq), batch, waveforms, ack: None })
    }

    /// The one point that marks an outage.
    fn outage(&self, e: &ConnectError) -> Envelope {
        let q = match e {
            ConnectError::Timeout { .. } => Quality::BadTimeout,
            _ => Quality::BadNotConnected,
        };
        let mut batch = Batch { tags: self.tags.clone(), ..Batch::default() };
        batch.push(SEQ_TAG, ns(std::time::SystemTime::now()), f64::NAN, quality_code(q));
        Envelope { source: self.name.clone(), position: None, batch, waveforms: Vec::new(), ack: None }
    }
}

/// Runs a waveform source: takes new blocks from the device until `stop`; `last` is the last
/// block taken before (the position the log holds), if any.
pub(crate) async fn run_waveform(
    cfg: WaveformConfig,
    last: Option<u64>,
    tx: mpsc::Sender<Envelope>,
    mut stop: watch::Receiver<bool>,
) -> Result<()> {
    cfg.check()
        .map_err(|reason| PipelineError::Config { origin: format!("waveform source {:?}", cfg.name), reason })?;
    let mut conn = cfg.connection().map_err(|e| bad(&cfg.name, "url", e))?;
    let mut scalars = vec![cfg.seq.clone()];
    scalars.extend(cfg.rate.iter().cloned());
    let plan = conn.prepare(&scalars).map_err(|e| bad(&cfg.name, "seq, rate", e))?;
    let mut device = Device { conn, plan, block: cfg.block.clone(), rate_hz: cfg.rate_hz };
    let mut backoff =
        Backoff::new(Duration::from_millis(cfg.reconnect_initial_ms), Duration::from_millis(cfg.reconnect_max_ms));
    let interval = Duration::from_millis(cfg.interval_ms);
    let name: Arc<str> = Arc::from(cfg.name.as_str());
    let mut src = Source {
        tags: tag_names(&cfg.name),
        name: name.clone(),
        cfg,
        judge: None,
        model_file: None,
        last,
        missed_total: 0,
    };
    let endpoint = device.conn.url().endpoint();
    let mut outage_reported = false;
    let mut unreadable: Option<String> = None;
    let mut due = Instant::now();
    loop {
        if *stop.borrow() {
            break;
        }
        if !device.conn.is_connected() {
            match device.conn.connect().await {
                Ok(()) => {
                    backoff.reset();
                    outage_reported = false;
                    tracing::info!(source = %name, device = %endpoint, "connected");
                }
                Err(e) => {
                    let delay = backoff.next_delay();
                    tracing::warn!(source = %name, device = %endpoint, error = %e, retry_in = ?delay, "connect failed");
                    if !outage_reported {
                        outage_reported = true;
                        if tx.send(src.outage(&e)).await.is_err() {
                            break;
                        }
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = stop.changed() => {}
                    }
                    continue;
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep_until(due) => {}
            _ = stop.changed() => continue,
        }
        // The next cycle on the grid; cycles missed while busy are skipped.
        let now = Instant::now();
        due += interval;
        if due < now {
            let behind = (now - due).as_nanos() / interval.as_nanos().max(1);
            due += interval * (behind as u32 + 1);
        }
        match device.poll(src.last).await {
            Ok(Poll::Nothing) => {}
            Ok(Poll::Unreadable(why)) => {
                if unreadable.as_deref() != Some(why.as_str()) {
                    tracing::warn!(source = %name, device = %endpoint, reason = %why, "no block readable now");
                    unreadable = Some(why);
                }
            }
            Ok(Poll::Torn) => {
                tracing::warn!(source = %name, device = %endpoint, "the block counter moved during every read: retrying next cycle");
            }
            Ok(Poll::Block(t)) => {
                unreadable = None;
                let env = src.take(t).await?;
                if tx.send(env).await.is_err() {
                    break;
                }
            }
            Err(Fail::Config(key, reason)) => return Err(bad(&name, key, reason)),
            Err(Fail::Device(e)) if e.is_connection_lost() => {
                tracing::warn!(source = %name, device = %endpoint, error = %e, "connection lost");
                device.conn.disconnect().await;
                if !outage_reported {
                    outage_reported = true;
                    if tx.send(src.outage(&e)).await.is_err() {
                        break;
                    }
                }
            }
            Err(Fail::Device(e)) => {
                tracing::warn!(source = %name, device = %endpoint, error = %e, "read failed");
            }
        }
    }
    device.conn.disconnect().await;
    Ok(())
}

#[cfg(test)]
mod tests;
