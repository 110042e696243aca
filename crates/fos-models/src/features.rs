//! Per-window physical features: shaft speed, knock-robust vibration level and impulsiveness, and the
//! evidence of each fault family in the squared-envelope spectrum.
//!
//! The line statistic of a family is the mean over harmonics `h = 1..H` of
//! `ln(peak / floor)`, where `peak` is the largest squared-envelope-spectrum bin within
//! `h·f·(1 ± line_tol)` and `floor` the median of the bins within `h·f ± max(f/2, 10 bins)`.
//! Ratios to a local floor carry across sensors, gains and machines; absolute amplitudes do not.

use crate::config::{AnalysisConfig, BandMode};
use crate::stats::median_in_place;
use fos_core::Label;
use fos_signal::envelope::{EnvelopeOptions, EnvelopeOutput, EnvelopePlan};
use fos_signal::kinematics::FaultOrders;
use fos_signal::kurtogram::KurtogramPlan;
use serde::{Deserialize, Serialize};

/// Index of each fault family in the arrays of this crate, in [`Label::FAULTS`] order.
pub const FAMILIES: [Label; 4] = Label::FAULTS;

/// One spectral line that was looked for.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Line {
    /// Harmonic order (1 = fundamental); for sidebands the order of the carrier.
    pub order: u32,
    /// Where the line was expected, Hz.
    pub expected_hz: f64,
    /// Where the largest bin within tolerance was found, Hz.
    pub found_hz: f64,
    /// The bin's ratio to the local noise floor.
    pub ratio: f64,
}

/// The evidence of one fault family in one window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FamilyEvidence {
    /// The fault this family indicates.
    pub label: Label,
    /// The family's fundamental in the envelope spectrum, Hz (2·BSF for the ball family).
    pub fundamental_hz: f64,
    /// Mean log ratio of the harmonics to the local floor.
    pub statistic: f64,
    /// The harmonic lines.
    pub harmonics: Vec<Line>,
    /// Modulation sidebands (±shaft for inner race, ±cage for rolling elements).
    pub sidebands: Vec<Line>,
}

/// Features of one decision window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowFeatures {
    /// Shaft speed used for the fault frequencies, Hz.
    pub shaft_hz: f64,
    /// Whether `shaft_hz` was estimated from the signal (false: the nominal speed).
    pub shaft_estimated: bool,
    /// Envelope band, Hz.
    pub band_lo_hz: f64,
    /// Envelope band, Hz.
    pub band_hi_hz: f64,
    /// Spectral kurtosis of the selected band, when the kurtogram chose it.
    pub band_kurtosis: Option<f64>,
    /// Knock-robust vibration level: median of the sub-block RMS values.
    pub level: f64,
    /// Knock-robust impulsiveness: median over sub-blocks of the envelope band's spectral kurtosis
    /// (Gaussian noise = 0).
    pub impulsiveness: f64,
    /// Plain RMS of the window.
    pub rms: f64,
    /// Kurtosis of the window (Gaussian = 3).
    pub kurtosis: f64,
    /// Crest factor of the window.
    pub crest: f64,
    /// Evidence per fault family, in [`FAMILIES`] order.
    pub families: Vec<FamilyEvidence>,
}

impl WindowFeatures {
    /// The line statistics in [`FAMILIES`] order.
    pub fn statistics(&self) -> [f64; 4] {
        let mut s = [0.0; 4];
        for (i, f) in self.families.iter().enumerate().take(4) {
            s[i] = f.statistic;
        }
        s
    }
}

/// The lowest envelope band edge: above the region where the fault lines themselves and the shaft
/// harmonics live in the direct spectrum, `(H + 1)` times the highest fault frequency.
pub fn default_band_lo_hz(orders: &FaultOrders, shaft_hz: f64, harmonics: usize) -> f64 {
    let top = orders.inner.max(orders.outer).max(2.0 * orders.ball) * shaft_hz;
    (harmonics as f64 + 1.0) * top
}

/// Family fundamentals in the envelope spectrum, Hz, in [`FAMILIES`] order.
pub fn family_fundamentals(orders: &FaultOrders, shaft_hz: f64) -> [f64; 4] {
    [orders.outer * shaft_hz, orders.inner * shaft_hz, 2.0 * orders.ball * shaft_hz, orders.cage * shaft_hz]
}

/// Analyses successive windows of one stream (one channel of one recording).
///
/// Owns its FFT plans and scratch buffers: after construction, `analyze` allocates only the small
/// evidence vectors it returns.
pub struct StreamAnalyzer {
    cfg: AnalysisConfig,
    fs: f64,
    n: usize,
    orders: FaultOrders,
    nominal_shaft_hz: f64,
    cutoff_hz: f64,
    band_lo_hz: f64,
    plan: EnvelopePlan<f64>,
    out: EnvelopeOutput<f64>,
    kurt: Option<KurtogramPlan<f64>>,
    band: (f64, f64, Option<f64>),
    band_spectrum: Vec<f64>,
    speed_history: Vec<f64>,
    scratch: Vec<f64>,
    estimate_speed: bool,
}

impl std::fmt::Debug for StreamAnalyzer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamAnalyzer").field("fs", &self.fs).field("n", &self.n).finish_non_exhaustive()
    }
}

/// Number of one-third-octave-like bands used to notice that the spectrum moved.
const PROFILE_BANDS: usize = 16;

impl StreamAnalyzer {
    /// A new analyzer for windows of `cfg.window_s` seconds at `fs`.
    pub fn new(
        cfg: &AnalysisConfig,
        fs: f64,
        cutoff_hz: f64,
        orders: FaultOrders,
        nominal_shaft_hz: f64,
        band_lo_hz: f64,
        estimate_speed: bool,
    ) -> Result<Self, crate::Error> {
        let n = (cfg.window_s * fs).round().max(16.0) as usize;
        let plan = EnvelopePlan::new(n).map_err(|e| crate::Error::Config(format!("window of {n} samples: {e}")))?;
        let mut out = EnvelopeOutput::new(&plan);
        out.block_kurtosis.resize(cfg.subblocks, 0.0);
        let kurt = match cfg.band_mode {
            BandMode::Kurtogram => Some(
                KurtogramPlan::new(n, fs, 6).map_err(|e| crate::Error::Config(format!("kurtogram: {e}")))?,
            ),
            BandMode::Full => None,
        };
        Ok(Self {
            cfg: cfg.clone(),
            fs,
            n,
            orders,
            nominal_shaft_hz,
            cutoff_hz,
            band_lo_hz,
            plan,
            out,
            kurt,
            band: (band_lo_hz, cutoff_hz, None),
            band_spectrum: Vec::new(),
            speed_history: Vec::with_capacity(16),
            scratch: Vec::with_capacity(n),
            estimate_speed,
        })
    }

    /// Window length in samples.
    pub fn window_len(&self) -> usize {
        self.n
    }

    /// The envelope output of the last window (spectrum and squared-envelope spectrum), for plots.
    pub fn last_output(&self) -> &EnvelopeOutput<f64> {
        &self.out
    }

    /// Analyses one window of exactly `window_len()` samples.
    pub fn analyze(&mut self, x: &[f64]) -> WindowFeatures {
        debug_assert_eq!(x.len(), self.n);
        let ts = fos_signal::stats::time_stats(x);
        let level = self.robust_level(x, ts.mean);

        if self.kurt.is_some() && self.spectrum_moved(x) {
            self.reselect_band(x);
        }
        let opts = EnvelopeOptions {
            band_lo_hz: self.band.0,
            band_hi_hz: self.band.1,
            fs: self.fs,
            whiten: self.cfg.whiten,
        };
        if self.plan.process(x, &opts, &mut self.out).is_err() {
            // Only invalid parameters fail, and those were checked when the model was built; a
            // window that still fails yields no envelope evidence rather than a panic.
            self.out.ses.iter_mut().for_each(|v| *v = 0.0);
        }

        let impulsiveness = self.band_impulsiveness();
        let shaft = self.update_speed();
        let families = self.family_evidence(shaft.0);
        WindowFeatures {
            shaft_hz: shaft.0,
            shaft_estimated: shaft.1,
            band_lo_hz: self.band.0,
            band_hi_hz: self.band.1,
            band_kurtosis: self.band.2,
            level,
            impulsiveness,
            rms: ts.rms,
            kurtosis: ts.kurtosis,
            crest: ts.crest,
            families,
        }
    }

    /// Median of the sub-block RMS values about the window mean, in one pass (per block: sum and
    /// sum of squares in four lanes; `Σ(x − m)² = Σx² − 2mΣx + n·m²`).
    fn robust_level(&mut self, x: &[f64], mean: f64) -> f64 {
        let k = self.cfg.subblocks.min(x.len()).max(1);
        let len = x.len() / k;
        if len == 0 {
            return 0.0;
        }
        self.scratch.clear();
        for b in 0..k {
            let blk = &x[b * len..(b + 1) * len];
            let (mut s, mut q) = ([0.0f64; 4], [0.0f64; 4]);
            let mut chunks = blk.chunks_exact(4);
            for c in &mut chunks {
                for i in 0..4 {
                    s[i] += c[i];
                    q[i] += c[i] * c[i];
                }
            }
            let (mut sum, mut sq) = (s.iter().sum::<f64>(), q.iter().sum::<f64>());
            for v in chunks.remainder() {
                sum += v;
                sq += v * v;
            }
            let n = len as f64;
            let ms = (sq - 2.0 * mean * sum + n * mean * mean) / n;
            self.scratch.push(ms.max(0.0).sqrt());
        }
        median_in_place(&mut self.scratch)
    }

    /// Knock-robust impulsiveness of the envelope band: the median over sub-blocks of the spectral
    /// kurtosis `⟨|z|⁴⟩/⟨|z|²⟩² − 2` of the (pre-whitened) band's analytic signal. The band excludes
    /// the shaft harmonics and whitening removes discrete lines, so a deterministic waveform's shape
    /// cannot move it; a knock touches one or two sub-blocks; a fault's impacts recur in every one.
    fn band_impulsiveness(&mut self) -> f64 {
        self.scratch.clear();
        self.scratch.extend_from_slice(&self.out.block_kurtosis);
        median_in_place(&mut self.scratch)
    }

    /// A coarse log-spectral profile; true when it differs from the one at the last band
    /// selection by more than 3 dB on average (or when no band was selected yet).
    fn spectrum_moved(&mut self, x: &[f64]) -> bool {
        // Band energies from a decimated time-domain proxy are not needed: the previous window's
        // spectrum is a good predictor of this one, so the profile is taken from `out.spectrum`.
        let prof = profile(&self.out.spectrum);
        if self.band_spectrum.is_empty() || self.band.2.is_none() {
            let _ = x;
            self.band_spectrum = prof.to_vec();
            return true;
        }
        let d: f64 = prof
            .iter()
            .zip(&self.band_spectrum)
            .map(|(a, b)| (10.0 * (a.max(1e-30) / b.max(1e-30)).log10()).abs())
            .sum::<f64>()
            / PROFILE_BANDS as f64;
        if d > 3.0 {
            self.band_spectrum = prof.to_vec();
            true
        } else {
            false
        }
    }

    fn reselect_band(&mut self, x: &[f64]) {
        let Some(k) = self.kurt.as_mut() else { return };
        let top = family_fundamentals(&self.orders, self.nominal_shaft_hz).iter().copied().fold(0.0, f64::max);
        let min_bw = 2.0 * (self.cfg.harmonics as f64 + 1.0) * top;
        let Ok(kg) = k.compute_in(x, self.band_lo_hz, self.cutoff_hz) else {
            self.band = (self.band_lo_hz, self.cutoff_hz, None);
            return;
        };
        let mut lo = kg.best.lo_hz.max(self.band_lo_hz);
        let mut hi = kg.best.hi_hz.min(self.cutoff_hz);
        if hi - lo < min_bw {
            let c = 0.5 * (lo + hi);
            lo = (c - 0.5 * min_bw).max(self.band_lo_hz);
            hi = (lo + min_bw).min(self.cutoff_hz);
            lo = (hi - min_bw).max(self.band_lo_hz);
        }
        self.band = (lo, hi, Some(kg.best.kurtosis));
    }

    fn update_speed(&mut self) -> (f64, bool) {
        if !self.estimate_speed {
            return (self.nominal_shaft_hz, false);
        }
        let df = self.fs / self.n as f64;
        let est = fos_signal::speed::estimate_shaft_hz(
            &self.out.spectrum,
            df,
            self.nominal_shaft_hz,
            self.cfg.speed_search,
            10,
        );
        if let Some(e) = est {
            if self.speed_history.len() == 9 {
                self.speed_history.remove(0);
            }
            self.speed_history.push(e.hz);
        }
        if self.speed_history.is_empty() {
            (self.nominal_shaft_hz, false)
        } else {
            self.scratch.clear();
            self.scratch.extend_from_slice(&self.speed_history);
            (median_in_place(&mut self.scratch), true)
        }
    }

    fn family_evidence(&mut self, shaft_hz: f64) -> Vec<FamilyEvidence> {
        let f = family_fundamentals(&self.orders, shaft_hz);
        let sb = [0.0, shaft_hz, self.orders.cage * shaft_hz, 0.0];
        let ses = &self.out.ses;
        let df = self.out.ses_df;
        let mut fams = Vec::with_capacity(4);
        for i in 0..4 {
            let mut harmonics = Vec::with_capacity(self.cfg.harmonics);
            let mut sidebands = Vec::new();
            let mut sum = 0.0;
            let mut cnt = 0usize;
            for h in 1..=self.cfg.harmonics {
                let c = h as f64 * f[i];
                if let Some(l) = line(ses, df, c, f[i], self.cfg.line_tol, h as u32, &mut self.scratch) {
                    sum += l.ratio.max(1e-12).ln();
                    cnt += 1;
                    harmonics.push(l);
                }
                if sb[i] > 0.0 {
                    for s in [c - sb[i], c + sb[i]] {
                        if let Some(l) = line(ses, df, s, f[i], self.cfg.line_tol, h as u32, &mut self.scratch) {
                            sidebands.push(l);
                        }
                    }
                }
            }
            fams.push(FamilyEvidence {
                label: FAMILIES[i],
                fundamental_hz: f[i],
                statistic: if cnt > 0 { sum / cnt as f64 } else { 0.0 },
                harmonics,
                sidebands,
            });
        }
        fams
    }
}

fn profile(spec: &[f64]) -> [f64; PROFILE_BANDS] {
    let mut p = [0.0; PROFILE_BANDS];
    if spec.len() < 2 * PROFILE_BANDS {
        return p;
    }
    let n = spec.len();
    for (b, v) in p.iter_mut().enumerate() {
        let lo = 1 + b * (n - 1) / PROFILE_BANDS;
        let hi = 1 + (b + 1) * (n - 1) / PROFILE_BANDS;
        *v = spec[lo..hi].iter().map(|x| x * x).sum::<f64>() + 1e-300;
    }
    p
}

/// The largest bin within `center·(1 ± tol)` and its ratio to the median of the bins within
/// `center ± max(fundamental/2, 10 bins)`; `None` when the search falls outside the spectrum.
fn line(
    ses: &[f64],
    df: f64,
    center: f64,
    fundamental: f64,
    tol: f64,
    order: u32,
    scratch: &mut Vec<f64>,
) -> Option<Line> {
    if center.is_nan() || center <= 0.0 || df <= 0.0 {
        return None;
    }
    let lo = ((center * (1.0 - tol)) / df).floor().max(1.0) as usize;
    let hi = ((center * (1.0 + tol)) / df).ceil() as usize;
    let half = (0.5 * fundamental).max(10.0 * df);
    let flo = ((center - half) / df).floor().max(1.0) as usize;
    let fhi = ((center + half) / df).ceil() as usize;
    if fhi >= ses.len() || hi >= ses.len() || lo > hi {
        return None;
    }
    let (mut best, mut at) = (f64::NEG_INFINITY, lo);
    for (k, v) in ses.iter().enumerate().take(hi + 1).skip(lo) {
        if *v > best {
            best = *v;
            at = k;
        }
    }
    scratch.clear();
    scratch.extend_from_slice(&ses[flo..=fhi]);
    let floor = median_in_place(scratch);
    let ratio = if floor > 0.0 { best / floor } else { 1.0 };
    Some(Line { order, expected_hz: center, found_hz: at as f64 * df, ratio })
}
