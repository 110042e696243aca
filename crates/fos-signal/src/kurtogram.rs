//! Band selection by spectral kurtosis: an STFT-based kurtogram.
//!
//! **Method (STFT kurtogram, not Antoni's filter-bank "fast kurtogram").** For each level `l`
//! (`l = 0 … levels−1`) the window is `N_w = min_window·2^l` (default 16, 32, …, `2^(3+levels)`).
//! The demeaned signal is cut into Hann-windowed frames of `N_w` samples with hop `N_w·(1 − overlap)`
//! (default 50 %), and for every bin `k`
//!
//! `SK(k) = ⟨|X(t,k)|⁴⟩_t / ⟨|X(t,k)|²⟩_t² − 2`,
//!
//! which is 0 for stationary Gaussian noise and grows with impulsiveness (Antoni 2006). DC and
//! Nyquist bins (real-valued, SK = 1 for noise) are excluded. Levels with fewer than
//! `min_frames` frames are skipped (the estimate's spread is ≈ 2/√frames).
//!
//! **Bands.** A Hann bin `k` at level `l` sees `[(k−1)·fs/N_w, (k+1)·fs/N_w]` (its −6 dB points):
//! bandwidth `2·fs/N_w`. If that is narrower than `min_bandwidth_hz` (set it to ~3× the highest
//! fault frequency so the envelope keeps its harmonics), the level's candidates are widened to
//! `2h+1` adjacent bins and scored by the power-weighted mean SK `Σ P_j·SK_j / Σ P_j` over them.
//! Candidates must lie inside the caller's range `[min_hz, max_hz]` ([`KurtogramPlan::compute_in`]).
//!
//! **Selection.** Under stationary Gaussian noise the SK estimate from `F` frames has standard
//! deviation `σ₀ ≈ 2/√F` (delta method; 50 %-overlapped Hann frames are nearly independent); for a
//! band averaged over `2h+1` correlated Hann bins we take `σ₀ = 2/√(F·(h+1))`. Long
//! windows give few frames and many bins, so their SK maxima are dominated by estimation noise
//! (with 22 frames a noise-only bin reaches SK ≈ 2). The best band therefore maximises
//! `SK − (penalty_sigmas + √(2·ln N))·σ₀`, where `N` is the level's number of candidates
//! (`√(2 ln N)·σ₀` is the expected maximum of `N` null estimates); `penalty_sigmas` defaults to 1
//! and must be ≥ 0. The raw per-bin values stay available in [`KurtogramLevel::sk`].
//! Each [`Band`] reports its SK and `significance = SK/σ₀`.
//!
//! **Precision.** The STFT runs in `f32` for both input types (an `f64` input is narrowed after
//! demeaning): the estimate's statistical spread (≥ 2/√F, about 10⁻²) is five orders of magnitude
//! above `f32` rounding, and `f32` FFTs are about twice as fast.
//!
//! **Speed.** Frames are processed two at a time as one complex FFT (`frame_a + i·frame_b`, split by
//! conjugate symmetry), and all frame pairs of a level go to rustfft in one batched call.
//! Demeaning and scaling to unit variance (so fourth powers stay in range for `f32`) are folded
//! into the window as the frames are packed; nothing but the plan's buffers is touched.

use crate::util::{hann, pos_finite, sum_and_squares};
use crate::{Real, SignalError};
use num_complex::Complex;
use rustfft::{Fft, FftPlanner};
use std::marker::PhantomData;
use std::sync::Arc;

/// Options of a [`KurtogramPlan`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KurtogramOptions {
    /// Number of levels (window lengths).
    pub levels: usize,
    /// Window of level 0 (a power of two ≥ 4 is typical; any even length ≥ 4 works). Default 16.
    pub min_window: usize,
    /// Frame overlap in `[0, 0.9]`. Default 0.5.
    pub overlap: f64,
    /// Narrowest band a candidate may have, Hz. Default 0 (each level's native `2·fs/N_w`).
    pub min_bandwidth_hz: f64,
    /// Levels with fewer frames are skipped. Default 8.
    pub min_frames: usize,
    /// Selection penalty in null standard deviations, on top of the `√(2 ln N)` max-of-N term. Default 1.
    pub penalty_sigmas: f64,
}

impl KurtogramOptions {
    /// Defaults for `levels` levels.
    pub fn new(levels: usize) -> Self {
        KurtogramOptions {
            levels,
            min_window: 16,
            overlap: 0.5,
            min_bandwidth_hz: 0.0,
            min_frames: 8,
            penalty_sigmas: 1.0,
        }
    }
}

/// A frequency band with its spectral kurtosis.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Band {
    /// Lower edge, Hz.
    pub lo_hz: f64,
    /// Upper edge, Hz.
    pub hi_hz: f64,
    /// Centre, Hz.
    pub center_hz: f64,
    /// (Power-weighted mean) spectral kurtosis of the band; 0 for Gaussian noise.
    pub kurtosis: f64,
    /// Index into [`Kurtogram::levels`] (0 = shortest window = widest native band).
    pub level: usize,
    /// `kurtosis / σ₀`: how many null standard deviations the SK is above Gaussian noise.
    pub significance: f64,
}

/// One level of a kurtogram.
#[derive(Debug, Clone, PartialEq)]
pub struct KurtogramLevel {
    /// Window length `N_w`.
    pub window: usize,
    /// Frames averaged.
    pub frames: usize,
    /// Bin spacing `fs/N_w`, Hz.
    pub bin_hz: f64,
    /// Width of this level's candidate bands, Hz (native `2·fs/N_w`, or widened to `min_bandwidth_hz`).
    pub bandwidth_hz: f64,
    /// Raw SK per bin `0 … N_w/2` (DC and Nyquist set to 0).
    pub sk: Vec<f64>,
    /// Best candidate of this level inside the requested range, if any fits.
    pub best: Option<Band>,
}

/// The result of [`KurtogramPlan::compute`].
#[derive(Debug, Clone, PartialEq)]
pub struct Kurtogram {
    /// The band with the highest score over all levels.
    pub best: Band,
    /// Every level computed, shortest window first.
    pub levels: Vec<KurtogramLevel>,
}

/// One level's plan and buffers, in `f32` whatever the input type (see the module docs).
struct Level {
    nw: usize,
    hop: usize,
    frames: usize,
    fft: Arc<dyn Fft<f32>>,
    window: Vec<f32>,
    wscaled: Vec<f32>,
    buf: Vec<Complex<f32>>,
    s2: Vec<f32>,
    s4: Vec<f32>,
    sk: Vec<f64>,
    pw: Vec<f64>,
    pref_p: Vec<f64>,
    pref_ps: Vec<f64>,
}

/// A reusable kurtogram plan for windows of `n` samples at rate `fs`.
pub struct KurtogramPlan<T: Real> {
    n: usize,
    fs: f64,
    opts: KurtogramOptions,
    levels: Vec<Level>,
    scratch: Vec<Complex<f32>>,
    _sample: PhantomData<fn(&[T])>,
}

impl<T: Real> std::fmt::Debug for KurtogramPlan<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KurtogramPlan")
            .field("n", &self.n)
            .field("fs", &self.fs)
            .field("opts", &self.opts)
            .field(
                "windows",
                &self.levels.iter().map(|l| l.nw).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl<T: Real> KurtogramPlan<T> {
    /// Plans `levels` levels with default options ([`KurtogramOptions::new`]).
    pub fn new(n: usize, fs: f64, levels: usize) -> Result<Self, SignalError> {
        Self::with_options(n, fs, KurtogramOptions::new(levels))
    }

    /// Plans with explicit options. Levels whose window leaves fewer than `min_frames` frames are
    /// dropped; it is an error if none is left.
    pub fn with_options(n: usize, fs: f64, opts: KurtogramOptions) -> Result<Self, SignalError> {
        if !pos_finite(fs) {
            return Err(SignalError::param(
                "fs",
                format!("must be finite and > 0, got {fs}"),
            ));
        }
        if opts.levels == 0 || opts.levels > 24 {
            return Err(SignalError::param(
                "levels",
                format!("must be in 1..=24, got {}", opts.levels),
            ));
        }
        if opts.min_window < 4 || opts.min_window % 2 != 0 {
            return Err(SignalError::param(
                "min_window",
                format!("must be even and >= 4, got {}", opts.min_window),
            ));
        }
        if !(0.0..=0.9).contains(&opts.overlap) {
            return Err(SignalError::param(
                "overlap",
                format!("must be in [0, 0.9], got {}", opts.overlap),
            ));
        }
        if !(opts.penalty_sigmas.is_finite() && opts.penalty_sigmas >= 0.0) {
            return Err(SignalError::param(
                "penalty_sigmas",
                format!("must be finite and >= 0, got {}", opts.penalty_sigmas),
            ));
        }
        if !(opts.min_bandwidth_hz.is_finite() && opts.min_bandwidth_hz >= 0.0) {
            return Err(SignalError::param(
                "min_bandwidth_hz",
                format!("must be finite and >= 0, got {}", opts.min_bandwidth_hz),
            ));
        }
        let mut planner = FftPlanner::<f32>::new();
        let mut levels = Vec::new();
        let mut scratch_len = 0;
        let cz = Complex::new(0.0f32, 0.0);
        for l in 0..opts.levels {
            let nw = match opts.min_window.checked_mul(1usize << l) {
                Some(nw) if nw <= n => nw,
                _ => break,
            };
            let hop = (((nw as f64) * (1.0 - opts.overlap)).round() as usize).max(1);
            let frames = (n - nw) / hop + 1;
            if frames < opts.min_frames.max(2) {
                break;
            }
            let pairs = frames.div_ceil(2);
            let fft = planner.plan_fft_forward(nw);
            scratch_len = scratch_len.max(fft.get_inplace_scratch_len());
            let bins = nw / 2 + 1;
            levels.push(Level {
                nw,
                hop,
                frames,
                fft,
                window: hann::<f32>(nw),
                wscaled: vec![0.0; nw],
                buf: vec![cz; pairs * nw],
                s2: vec![0.0; bins],
                s4: vec![0.0; bins],
                sk: vec![0.0; bins],
                pw: vec![0.0; bins],
                pref_p: vec![0.0; bins + 1],
                pref_ps: vec![0.0; bins + 1],
            });
        }
        if levels.is_empty() {
            return Err(SignalError::param(
                "n",
                format!(
                    "window of {n} samples leaves no level with {} frames of {}",
                    opts.min_frames, opts.min_window
                ),
            ));
        }
        Ok(KurtogramPlan {
            n,
            fs,
            opts,
            levels,
            scratch: vec![cz; scratch_len],
            _sample: PhantomData,
        })
    }

    /// The options in force.
    pub fn options(&self) -> &KurtogramOptions {
        &self.opts
    }

    /// Sets the narrowest allowed band (e.g. 3× the highest fault frequency of interest).
    pub fn set_min_bandwidth_hz(&mut self, hz: f64) -> Result<(), SignalError> {
        if !(hz.is_finite() && hz >= 0.0) {
            return Err(SignalError::param(
                "min_bandwidth_hz",
                format!("must be finite and >= 0, got {hz}"),
            ));
        }
        self.opts.min_bandwidth_hz = hz;
        Ok(())
    }

    /// Window lengths of the levels actually computed.
    pub fn windows(&self) -> impl Iterator<Item = usize> + '_ {
        self.levels.iter().map(|l| l.nw)
    }

    /// Full kurtogram over `0 … fs/2`.
    pub fn compute(&mut self, x: &[T]) -> Result<Kurtogram, SignalError> {
        self.compute_in(x, 0.0, self.fs / 2.0)
    }

    /// Full kurtogram with candidate bands restricted to `[min_hz, max_hz]`.
    pub fn compute_in(
        &mut self,
        x: &[T],
        min_hz: f64,
        max_hz: f64,
    ) -> Result<Kurtogram, SignalError> {
        let best = self.best_band(x, min_hz, max_hz)?;
        let fs = self.fs;
        let levels = self
            .levels
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let (bw, best) = Self::level_best(l, fs, &self.opts, min_hz, max_hz, i);
                let best = best.map(|(b, _)| b);
                KurtogramLevel {
                    window: l.nw,
                    frames: l.frames,
                    bin_hz: fs / l.nw as f64,
                    bandwidth_hz: bw,
                    sk: l.sk.clone(),
                    best,
                }
            })
            .collect();
        Ok(Kurtogram { best, levels })
    }

    /// Only the best band in `[min_hz, max_hz]`; allocation-free.
    pub fn best_band(&mut self, x: &[T], min_hz: f64, max_hz: f64) -> Result<Band, SignalError> {
        SignalError::check_len("x", self.n, x.len())?;
        if !(min_hz.is_finite() && max_hz.is_finite() && min_hz >= 0.0 && max_hz > min_hz) {
            return Err(SignalError::param(
                "range",
                format!("need finite 0 <= min < max, got [{min_hz}, {max_hz}] Hz"),
            ));
        }
        self.sk_all(x);
        let mut best: Option<(Band, f64)> = None;
        for (i, l) in self.levels.iter().enumerate() {
            if let (_, Some((b, sel))) = Self::level_best(l, self.fs, &self.opts, min_hz, max_hz, i)
            {
                if best.is_none_or(|(_, s)| sel > s) {
                    best = Some((b, sel));
                }
            }
        }
        best.map(|(b, _)| b).ok_or_else(|| {
            SignalError::param(
                "range",
                format!(
                    "[{min_hz}, {max_hz}] Hz is narrower than every candidate band (min bandwidth {} Hz)",
                    self.opts.min_bandwidth_hz
                ),
            )
        })
    }

    /// Demeans and normalises `x`, then fills `sk`, `pw` and prefix sums of every level.
    fn sk_all(&mut self, x: &[T]) {
        let n = self.n as f64;
        let (s1, s2) = sum_and_squares(x);
        let mean = s1 / n;
        let var = s2 / n - mean * mean;
        let scale = if var > 0.0 && var.is_finite() {
            1.0 / var.sqrt()
        } else {
            1.0
        };
        let mu = T::of(mean);
        for l in self.levels.iter_mut() {
            let nw = l.nw;
            // Demeaning and unit-variance scaling are folded into the frames: (x − μ)·w·scale.
            let sc = scale as f32;
            for (ws, &w) in l.wscaled.iter_mut().zip(&l.window) {
                *ws = w * sc;
            }
            // Pack frame pairs: re = frame 2p, im = frame 2p+1.
            for (p, chunk) in l.buf.chunks_exact_mut(nw).enumerate() {
                let a = 2 * p * l.hop;
                let fa = &x[a..a + nw];
                if 2 * p + 1 < l.frames {
                    let b = a + l.hop;
                    let fb = &x[b..b + nw];
                    for (((c, &u), &v), &w) in chunk.iter_mut().zip(fa).zip(fb).zip(&l.wscaled) {
                        *c = Complex::new(f32_of(u - mu) * w, f32_of(v - mu) * w);
                    }
                } else {
                    for ((c, &u), &w) in chunk.iter_mut().zip(fa).zip(&l.wscaled) {
                        *c = Complex::new(f32_of(u - mu) * w, 0.0);
                    }
                }
            }
            l.fft.process_with_scratch(&mut l.buf, &mut self.scratch);
            for v in l.s2.iter_mut().chain(l.s4.iter_mut()) {
                *v = 0.0;
            }
            let half = nw / 2;
            // Frame a's and b's powers at bin k are |Z_k ± conj(Z_{N−k})|² = P ± 2Q with
            // P = |Z_k|² + |Z_{N−k}|² and Q = Re(Z_k·Z_{N−k}); so their sum is 2P and the sum of their
            // squares 2(P² + 4Q²). Accumulate half of each (the factor cancels in SK below).
            for b in l.buf.chunks_exact(nw) {
                let (s2, s4) = (&mut l.s2[1..half], &mut l.s4[1..half]);
                let fwd = &b[1..half];
                let rev = &b[half + 1..];
                let four = 4.0f32;
                for (((a2, a4), z), r) in s2
                    .iter_mut()
                    .zip(s4.iter_mut())
                    .zip(fwd)
                    .zip(rev.iter().rev())
                {
                    let p = z.re * z.re + z.im * z.im + r.re * r.re + r.im * r.im;
                    let q = z.re * r.re - z.im * r.im;
                    *a2 += p;
                    *a4 += p * p + four * q * q;
                }
            }
            // With F frames: ⟨p⟩ = 2·s2/F and ⟨p²⟩ = 2·s4/F.
            let f = l.frames as f64;
            l.sk[0] = 0.0;
            l.sk[half] = 0.0;
            l.pw[0] = 0.0;
            l.pw[half] = 0.0;
            for k in 1..half {
                let m2 = 2.0 * l.s2[k] as f64 / f;
                let m4 = 2.0 * l.s4[k] as f64 / f;
                l.pw[k] = m2;
                l.sk[k] = if m2 > 0.0 { m4 / (m2 * m2) - 2.0 } else { 0.0 };
            }
            l.pref_p[0] = 0.0;
            l.pref_ps[0] = 0.0;
            for k in 0..=half {
                l.pref_p[k + 1] = l.pref_p[k] + l.pw[k];
                l.pref_ps[k + 1] = l.pref_ps[k] + l.pw[k] * l.sk[k];
            }
        }
    }

    /// Candidate bandwidth, and best band of one level inside `[min_hz, max_hz]` with its selection
    /// score `SK − (penalty + √(2 ln N))·σ₀`.
    fn level_best(
        l: &Level,
        fs: f64,
        opts: &KurtogramOptions,
        min_hz: f64,
        max_hz: f64,
        index: usize,
    ) -> (f64, Option<(Band, f64)>) {
        let min_bw = opts.min_bandwidth_hz;
        let df = fs / l.nw as f64;
        let half = l.nw / 2;
        // Half-count h: the band of bins k−h … k+h spans [(k−h−1)·df, (k+h+1)·df].
        let h = ((min_bw / (2.0 * df) - 1.0).ceil().max(0.0)) as usize;
        let bw = (2 * h + 2) as f64 * df;
        let sigma0 = 2.0 / ((l.frames * (h + 1)) as f64).sqrt();
        let lo_hz = min_hz.max(0.0);
        let hi_hz = max_hz.min(fs / 2.0);
        let mut best: Option<Band> = None;
        let mut candidates = 0usize;
        for k in (h + 1)..half.saturating_sub(h) {
            let lo = (k - h - 1) as f64 * df;
            let hi = (k + h + 1) as f64 * df;
            if lo < lo_hz - 1e-9 * fs || hi > hi_hz + 1e-9 * fs {
                continue;
            }
            candidates += 1;
            let p = l.pref_p[k + h + 1] - l.pref_p[k - h];
            let ps = l.pref_ps[k + h + 1] - l.pref_ps[k - h];
            let score = if p > 0.0 { ps / p } else { 0.0 };
            if best.is_none_or(|b| score > b.kurtosis) {
                best = Some(Band {
                    lo_hz: lo,
                    hi_hz: hi,
                    center_hz: k as f64 * df,
                    kurtosis: score,
                    level: index,
                    significance: score / sigma0,
                });
            }
        }
        let z = opts.penalty_sigmas + (2.0 * (candidates.max(1) as f64).ln()).sqrt();
        (bw, best.map(|b| (b, b.kurtosis - z * sigma0)))
    }
}

/// Narrows a sample to `f32` (identity for `f32`: the round trip through `f64` folds away).
#[inline(always)]
fn f32_of<T: Real>(v: T) -> f32 {
    v.as_f64() as f32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinematics::FaultKind;
    use crate::synth::{simulate, BearingSimConfig, Rng};
    use fos_core::BearingGeometry;

    fn faulty(fs: f64, res: f64, noise: f64) -> Vec<f64> {
        let g = BearingGeometry {
            elements: 9,
            element_d: 0.3126,
            pitch_d: 1.537,
            contact_angle_deg: 0.0,
        };
        let mut c = BearingSimConfig::new(fs, 1.0, 30.0, g);
        c.fault = Some((FaultKind::Outer, 1.0));
        c.resonance_hz = res;
        c.noise_rms = noise;
        c.shaft_harmonics = vec![1.0, 0.5];
        c.seed = 5;
        simulate(&c).unwrap()
    }

    #[test]
    fn finds_the_resonance() {
        for fs in [12_000.0, 51_200.0] {
            let x = faulty(fs, 3_500.0, 0.2);
            let mut p = KurtogramPlan::<f64>::new(x.len(), fs, 7).unwrap();
            let k = p.compute(&x).unwrap();
            assert!(
                k.best.lo_hz <= 3_500.0 && 3_500.0 <= k.best.hi_hz,
                "fs {fs}: {:?}",
                k.best
            );
            assert!(k.best.kurtosis > 2.0, "{:?}", k.best);
            assert_eq!(k.levels.len(), 7);
            assert_eq!(k.levels[0].window, 16);
            assert_eq!(k.levels[6].window, 1024);
            // f32 agrees.
            let xf: Vec<f32> = x.iter().map(|&v| v as f32).collect();
            let mut pf = KurtogramPlan::<f32>::new(x.len(), fs, 7).unwrap();
            let bf = pf.best_band(&xf, 0.0, fs / 2.0).unwrap();
            assert!(bf.lo_hz <= 3_500.0 && 3_500.0 <= bf.hi_hz, "{bf:?}");
            assert!((bf.kurtosis - k.best.kurtosis).abs() < 1e-2 * k.best.kurtosis);
        }
    }

    #[test]
    fn min_bandwidth_and_range() {
        let fs = 12_000.0;
        let x = faulty(fs, 3_500.0, 0.2);
        let mut p = KurtogramPlan::<f64>::new(x.len(), fs, 7).unwrap();
        p.set_min_bandwidth_hz(3.0 * 162.0).unwrap();
        let k = p.compute(&x).unwrap();
        assert!(k.best.hi_hz - k.best.lo_hz >= 486.0 - 1e-9, "{:?}", k.best);
        assert!(
            k.best.lo_hz <= 3_500.0 && 3_500.0 <= k.best.hi_hz,
            "{:?}",
            k.best
        );
        for l in &k.levels {
            assert!(l.bandwidth_hz >= 486.0);
        }
        // Restricted to a range without the resonance, the band stays inside the range.
        let b = p.best_band(&x, 500.0, 2_500.0).unwrap();
        assert!(b.lo_hz >= 500.0 && b.hi_hz <= 2_500.0, "{b:?}");
        assert!(b.kurtosis < k.best.kurtosis);
        assert!(p.best_band(&x, 1000.0, 1100.0).is_err());
    }

    #[test]
    fn gaussian_noise_has_sk_near_zero() {
        let fs = 48_000.0;
        let mut picked = vec![];
        for seed in 1..=9 {
            let mut r = Rng::new(seed);
            let x: Vec<f64> = (0..48_000).map(|_| r.gaussian()).collect();
            let mut p = KurtogramPlan::<f64>::new(x.len(), fs, 6).unwrap();
            let k = p.compute(&x).unwrap();
            assert!(k.best.kurtosis < 0.6, "seed {seed}: {:?}", k.best);
            picked.push(k.best.kurtosis);
            for l in &k.levels {
                let inner = &l.sk[1..l.window / 2];
                let mean = inner.iter().sum::<f64>() / inner.len() as f64;
                assert!(mean.abs() < 0.06, "window {} mean SK {mean}", l.window);
                let sd = (inner.iter().map(|v| (v - mean).powi(2)).sum::<f64>()
                    / inner.len() as f64)
                    .sqrt();
                let sigma0 = 2.0 / (l.frames as f64).sqrt();
                if l.window >= 64 {
                    assert!(
                        sd < 1.4 * sigma0,
                        "window {}: sd {sd} vs 2/sqrt(F) {sigma0}",
                        l.window
                    );
                }
            }
        }
        picked.sort_by(f64::total_cmp);
        assert!(picked[4] < 0.2, "median picked SK {picked:?}");
    }

    #[test]
    fn bad_parameters() {
        assert!(KurtogramPlan::<f64>::new(0, 12_000.0, 4).is_err());
        assert!(KurtogramPlan::<f64>::new(50, 12_000.0, 4).is_err());
        assert!(KurtogramPlan::<f64>::new(12_000, f64::NAN, 4).is_err());
        assert!(KurtogramPlan::<f64>::new(12_000, 12_000.0, 0).is_err());
        let mut o = KurtogramOptions::new(3);
        o.overlap = 0.95;
        assert!(KurtogramPlan::<f64>::with_options(12_000, 12_000.0, o).is_err());
        let mut p = KurtogramPlan::<f64>::new(1_000, 1_000.0, 10).unwrap();
        assert!(p.windows().count() < 10);
        assert!(p.compute(&[0.0; 999]).is_err());
        let k = p.compute(&[0.0; 1000]).unwrap();
        assert_eq!(k.best.kurtosis, 0.0);
        assert!(p.set_min_bandwidth_hz(-1.0).is_err());
    }
}
