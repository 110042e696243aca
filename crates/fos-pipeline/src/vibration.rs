//! The `vibration` source: synthetic bearing vibration on many channels, analysed block by block
//! into diagnostic features; with `store_waveforms = true` the raw blocks are stored too (table `waveforms`).
//!
//! ```toml
//! [[source]]
//! kind = "vibration"
//! name = "pump1"             # tags are named <name>.ch<k>.<feature>
//! channels = 16              # default 16
//! rate_hz = 25600.0          # default 25600: samples per second per channel
//! block_ms = 1000            # default 1000: one analysis block (and one point per feature) per channel
//! realtime = true            # default true: one block per block_ms of wall time; false: as fast as taken
//! seed = 1                   # default 1: the synthesiser's seed (channel and block are mixed in)
//! blocks = 0                 # default 0 = endless: stop after this many blocks
//! # start = "2026-01-01T00:00:00Z"   # time of block 0 (default: the wall clock when the source starts)
//! shaft_hz = 30.0            # default 30: shaft speed of the simulated machine
//! faulty_channels = [0]      # default []: channels whose bearing has an outer-race defect
//! fault_amplitude = 1.0      # default 1: impact amplitude of that defect
//! noise_rms = 0.1            # default 0.1: white noise on every channel
//! shaft_harmonics = [0.3, 0.1]   # default [0.3, 0.1]: amplitudes of shaft harmonics 1, 2, ...
//! resonance_hz = 3000.0      # default 3000: structural resonance the impacts excite
//! band_lo_hz = 2000.0        # default 2000: envelope band, lower edge
//! band_hi_hz = 4000.0        # default 4000: envelope band, upper edge (clamped to Nyquist)
//! # fault_hz = 107.4         # the envelope line to watch (default: BPFO of the simulated bearing)
//! store_waveforms = false    # default false: also log and store each raw block, cited by its content hash
//! ```
//!
//! The signal of each channel and block comes from [`fos_signal::synth::simulate`] (an SKF 6205
//! at `shaft_hz`: impacts through the resonance, shaft harmonics, noise), one block at a time
//! with its own seed; impacts do not carry over a block boundary. Each block of each channel
//! gives these points, all at the block's start time:
//!
//! | feature | what | from |
//! |---|---|---|
//! | `rms`, `peak`, `crest`, `kurtosis` | time-domain indicators (kurtosis non-excess: 3 for noise) | [`fos_signal::stats::time_stats`] |
//! | `band_kurtosis` | spectral kurtosis of the envelope band (0 for noise, > 0 for impacts) | [`fos_signal::envelope`] |
//! | `env_fault` | largest squared-envelope-spectrum amplitude within ±(2 bins + 1 %) of `fault_hz` | [`fos_signal::envelope`] |
//!
//! The analysis runs on the runtime's blocking pool, so it never stalls the pollers of other
//! sources. Not resumable: after a restart the source starts again at block 0.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fos_core::BearingGeometry;
use fos_signal::envelope::{EnvelopeOptions, EnvelopeOutput, EnvelopePlan};
use fos_signal::kinematics::{FaultKind, FaultOrders};
use fos_signal::synth::{simulate, BearingSimConfig};
use serde::Deserialize;
use tokio::sync::{mpsc, watch};

use crate::record::Batch;
use crate::source::{parse_time, Envelope};
use crate::{PipelineError, Result};

/// The features of one channel, in tag order.
pub const FEATURES: [&str; 6] = ["rms", "peak", "crest", "kurtosis", "band_kurtosis", "env_fault"];

/// The simulated bearing: SKF 6205 (as in the CWRU rig; BPFO = 3.585 × shaft).
pub const GEOMETRY: BearingGeometry =
    BearingGeometry { elements: 9, element_d: 0.3126, pitch_d: 1.537, contact_angle_deg: 0.0 };

/// Keys of a `vibration` source (see the module documentation).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VibrationConfig {
    pub name: String,
    #[serde(default = "d_channels")]
    pub channels: u32,
    #[serde(default = "d_rate")]
    pub rate_hz: f64,
    #[serde(default = "d_block_ms")]
    pub block_ms: u64,
    #[serde(default = "d_true")]
    pub realtime: bool,
    #[serde(default = "d_seed")]
    pub seed: u64,
    /// Also store every block's raw samples as a waveform block (historian table `waveforms`,
    /// cited by content hash); default false.
    #[serde(default)]
    pub store_waveforms: bool,
    #[serde(default)]
    pub blocks: u64,
    pub start: Option<String>,
    #[serde(default = "d_shaft")]
    pub shaft_hz: f64,
    #[serde(default)]
    pub faulty_channels: Vec<u32>,
    #[serde(default = "d_one")]
    pub fault_amplitude: f64,
    #[serde(default = "d_noise")]
    pub noise_rms: f64,
    #[serde(default = "d_harmonics")]
    pub shaft_harmonics: Vec<f64>,
    #[serde(default = "d_resonance")]
    pub resonance_hz: f64,
    #[serde(default = "d_band_lo")]
    pub band_lo_hz: f64,
    #[serde(default = "d_band_hi")]
    pub band_hi_hz: f64,
    pub fault_hz: Option<f64>,
}

fn d_channels() -> u32 {
    16
}
fn d_rate() -> f64 {
    25_600.0
}
fn d_block_ms() -> u64 {
    1000
}
fn d_true() -> bool {
    true
}
fn d_seed() -> u64 {
    1
}
fn d_shaft() -> f64 {
    30.0
}
fn d_one() -> f64 {
    1.0
}
fn d_noise() -> f64 {
    0.1
}
fn d_harmonics() -> Vec<f64> {
    vec![0.3, 0.1]
}
fn d_resonance() -> f64 {
    3000.0
}
fn d_band_lo() -> f64 {
    2000.0
}
fn d_band_hi() -> f64 {
    4000.0
}

impl VibrationConfig {
    /// Samples per block.
    pub fn block_len(&self) -> usize {
        (self.rate_hz * self.block_ms as f64 / 1000.0).round().max(0.0) as usize
    }

    /// The envelope line watched: `fault_hz`, or BPFO of [`GEOMETRY`] at `shaft_hz`.
    pub fn fault_hz(&self) -> f64 {
        self.fault_hz.unwrap_or_else(|| FaultOrders::from_geometry(&GEOMETRY).hz(self.shaft_hz).outer)
    }

    /// The synthesiser's configuration of channel `ch`, block `block`.
    fn sim(&self, ch: u32, block: u64) -> BearingSimConfig {
        let n = self.block_len();
        let mut c = BearingSimConfig::new(self.rate_hz, n as f64 / self.rate_hz, self.shaft_hz, GEOMETRY);
        c.resonance_hz = self.resonance_hz;
        c.noise_rms = self.noise_rms;
        c.shaft_harmonics = self.shaft_harmonics.clone();
        if self.faulty_channels.contains(&ch) {
            c.fault = Some((FaultKind::Outer, self.fault_amplitude));
        }
        c.seed = self
            .seed
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .wrapping_add(u64::from(ch).wrapping_mul(0xD1B5_4A32_D192_ED03))
            .wrapping_add(block.wrapping_mul(0x8CB9_2BA7_2F3D_8DD7));
        c
    }

    fn envelope_options(&self) -> EnvelopeOptions {
        EnvelopeOptions {
            band_lo_hz: self.band_lo_hz,
            band_hi_hz: self.band_hi_hz.min(self.rate_hz / 2.0),
            fs: self.rate_hz,
            whiten: true,
        }
    }

    /// Checks every key (the reason, without the source's name).
    pub fn check(&self) -> std::result::Result<(), String> {
        if self.channels == 0 || self.block_ms == 0 {
            return Err("channels and block_ms must be above 0".into());
        }
        if !(self.rate_hz.is_finite() && self.rate_hz > 0.0) || self.block_len() < 64 {
            return Err(format!(
                "rate_hz × block_ms must give at least 64 samples per block, got {}",
                self.block_len()
            ));
        }
        if let Some(&c) = self.faulty_channels.iter().find(|&&c| c >= self.channels) {
            return Err(format!("faulty channel {c} is not below channels = {}", self.channels));
        }
        if let Some(s) = &self.start {
            parse_time(s).map_err(|e| format!("start: {e}"))?;
        }
        let f = self.fault_hz();
        if !(f.is_finite() && f > 0.0 && f < self.rate_hz / 2.0) {
            return Err(format!("fault_hz {f} must be above 0 and below rate_hz / 2"));
        }
        self.sim(0, 0).validate().map_err(|e| e.to_string())?;
        EnvelopePlan::<f64>::new(self.block_len())
            .and_then(|mut p| p.prepare(&self.envelope_options()))
            .map_err(|e| e.to_string())?;
        Ok(())
    }
}

/// The per-block analysis: plans and outputs reused from block to block.
#[derive(Debug)]
pub struct Analyser {
    cfg: VibrationConfig,
    plan: EnvelopePlan<f64>,
    out: EnvelopeOutput<f64>,
    opts: EnvelopeOptions,
    /// SES bins searched for the fault line.
    fault_bins: (usize, usize),
    /// Raw blocks of the last [`Analyser::block`] when `store_waveforms` is set.
    pub waveforms: Vec<fos_historian::WaveformBlock>,
}

impl Analyser {
    /// Plans the analysis of `cfg`'s blocks.
    pub fn new(cfg: &VibrationConfig) -> std::result::Result<Analyser, String> {
        cfg.check()?;
        let mut plan = EnvelopePlan::<f64>::new(cfg.block_len()).map_err(|e| e.to_string())?;
        let opts = cfg.envelope_options();
        plan.prepare(&opts).map_err(|e| e.to_string())?;
        let out = EnvelopeOutput::new(&plan);
        let df = cfg.rate_hz / cfg.block_len() as f64;
        let f = cfg.fault_hz();
        let half = 2.0 * df + 0.01 * f;
        let fault_bins = (((f - half) / df).floor().max(1.0) as usize, ((f + half) / df).ceil() as usize);
        Ok(Analyser { cfg: cfg.clone(), plan, out, opts, fault_bins, waveforms: Vec::new() })
    }

    /// The feature values of channel `ch` in block `block`, in [`FEATURES`] order.
    pub fn channel(&mut self, ch: u32, block: u64) -> std::result::Result<[f64; 6], String> {
        self.channel_signal(ch, block).map(|(f, _)| f)
    }

    /// [`Analyser::channel`] and the synthesised block itself.
    fn channel_signal(&mut self, ch: u32, block: u64) -> std::result::Result<([f64; 6], Vec<f64>), String> {
        let x = simulate(&self.cfg.sim(ch, block)).map_err(|e| e.to_string())?;
        let s = fos_signal::stats::time_stats(&x);
        self.plan.process(&x, &self.opts, &mut self.out).map_err(|e| e.to_string())?;
        let (lo, hi) = self.fault_bins;
        let ses = &self.out.ses;
        let env =
            ses.get(lo..=hi.min(ses.len().saturating_sub(1))).unwrap_or(&[]).iter().fold(0.0f64, |a, &v| a.max(v));
        Ok(([s.rms, s.peak, s.crest, s.kurtosis, self.out.envelope_kurtosis, env], x))
    }

    /// Every feature of every channel of block `block`, as points at `time_ns`, appended to `batch`
    /// (whose tag dictionary must be [`tag_names`]).
    pub fn block(&mut self, block: u64, time_ns: i64, batch: &mut Batch) -> std::result::Result<(), String> {
        self.waveforms.clear();
        for ch in 0..self.cfg.channels {
            let (f, x) = self.channel_signal(ch, block)?;
            if self.cfg.store_waveforms {
                self.waveforms.push(fos_historian::WaveformBlock {
                    channel: format!("{}.ch{ch}", self.cfg.name),
                    start_ns: time_ns,
                    rate_hz: self.cfg.rate_hz,
                    samples: x,
                });
            }
            for (i, v) in f.into_iter().enumerate() {
                batch.push(ch * FEATURES.len() as u32 + i as u32, time_ns, v, fos_historian::quality::GOOD);
            }
        }
        Ok(())
    }
}

/// The tag names of a source, in the order [`Analyser::block`] indexes them.
pub fn tag_names(cfg: &VibrationConfig) -> Vec<Arc<str>> {
    (0..cfg.channels)
        .flat_map(|ch| FEATURES.iter().map(move |f| Arc::from(format!("{}.ch{ch}.{f}", cfg.name))))
        .collect()
}

/// Runs a vibration source until `stop` or `cfg.blocks` blocks.
pub(crate) async fn run_vibration(
    cfg: VibrationConfig,
    tx: mpsc::Sender<Envelope>,
    mut stop: watch::Receiver<bool>,
) -> Result<()> {
    let bad = |reason: String| PipelineError::Config { origin: format!("vibration source {}", cfg.name), reason };
    let mut analyser = Some(Analyser::new(&cfg).map_err(bad)?);
    let name: Arc<str> = Arc::from(cfg.name.as_str());
    let tags = tag_names(&cfg);
    let start_ns = match &cfg.start {
        Some(s) => parse_time(s).map_err(bad)?,
        None => SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as i64),
    };
    let block_ns = i64::try_from(cfg.block_ms).unwrap_or(i64::MAX / 2).saturating_mul(1_000_000);
    let t0 = tokio::time::Instant::now();
    let mut block = 0u64;
    loop {
        if *stop.borrow() || (cfg.blocks > 0 && block >= cfg.blocks) {
            break;
        }
        if cfg.realtime {
            // Block k is complete at the end of its span.
            let due = t0 + Duration::from_millis(cfg.block_ms.saturating_mul(block + 1));
            tokio::select! {
                _ = tokio::time::sleep_until(due) => {}
                _ = stop.changed() => continue,
            }
        }
        let time = start_ns.saturating_add(block_ns.saturating_mul(block as i64));
        let mut batch = Batch { tags: tags.clone(), ..Batch::default() };
        let mut a = analyser.take().expect("put back after every block");
        let (a, batch, r) = tokio::task::spawn_blocking(move || {
            let r = a.block(block, time, &mut batch);
            (a, batch, r)
        })
        .await
        .map_err(|e| PipelineError::State(format!("vibration source {}: analysis panicked: {e}", cfg.name)))?;
        r.map_err(bad)?;
        let mut a = a;
        let waveforms = std::mem::take(&mut a.waveforms);
        analyser = Some(a);
        if tx.send(Envelope { source: name.clone(), position: None, batch, waveforms, ack: None }).await.is_err() {
            break;
        }
        block += 1;
    }
    Ok(())
}
