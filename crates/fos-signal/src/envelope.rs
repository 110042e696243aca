//! Squared-envelope spectrum (SES) of one frequency band: the hot path of bearing diagnostics.
//!
//! For a window `x[0..n]` at rate `fs` and a band `[lo, hi]` Hz, [`EnvelopePlan::process`] does:
//!
//! 1. `X = rfft(x)` (size `n`, rectangular window); `X[0] = 0` (this *is* demeaning).
//!    `spectrum[k] = c_k·|X[k]|/n` with `c_k = 2` except DC/Nyquist (`c_k = 1`): a sine of amplitude
//!    `A` on a bin reads `A`, as in [`crate::spectrum`].
//! 2. Band bins `k_lo = ⌈lo/Δf⌉ … k_hi = ⌊hi/Δf⌋` with `Δf = fs/n`, clamped to `1 … ⌊(n−1)/2⌋`.
//!    `band_rms = sqrt(Σ_band spectrum[k]² / 2)` (Parseval) is the RMS of the band-passed signal.
//! 3. Optional cepstral pre-whitening: setting the real cepstrum to zero except quefrency 0 makes
//!    the magnitude spectrum flat, i.e. `X[k] ← g·X[k]/|X[k]|`. Only band bins survive the mask, so
//!    only they are whitened, with `g = sqrt(mean_band |X|²)` so the whitened band keeps the same
//!    RMS (and the SES the same units). Bins with `|X|² ≤ ε²·mean` are set to 0.
//! 4. Analytic signal of the band, decimated: `Z[j] = 2·X[k_lo + j]/n` for `j < B = k_hi − k_lo + 1`,
//!    zero-padded to `M ≥ 2B` (the smallest multiple of 8 of the form `2^a·3^b·5^c`), `z = ifft_M(Z)` (complex). Shifting the
//!    band to baseband multiplies `z` by a unit phasor, so `|z|` is the band's envelope, sampled at
//!    `fs_env = fs·M/n`. `M ≥ 2B` because the *squared* envelope has twice the band's bandwidth:
//!    with `M ≥ B` only, envelope lines above `B/2` would alias.
//! 5. Squared envelope `e = |z|²` (`re² + im²`), demeaned; `envelope_kurtosis = ⟨e²⟩/⟨e⟩² − 2`,
//!    which is the spectral kurtosis of the band (0 for Gaussian noise, > 0 for impacts).
//! 6. `ses[k] = c_k·|rfft_M(e)[k]|/M`, `k = 0 … M/2`: bin width `ses_df = fs/n` (unchanged, so a 1 s
//!    window gives 1 Hz bins), covering `0 … fs·M/(2n) ≥ B·Δf` Hz. A squared envelope modulated
//!    as `E₀(1 + m·cos 2πf t)` reads `E₀·m` at `f`.
//!
//! Three FFTs (`r2c(n)`, `c2c⁻¹(M)`, `r2c(M)`), no allocation once the band size has been seen.

use crate::spectrum::halve_edges;
use crate::util::{fast_size_even, magnitudes, pos_finite, LANES};
use crate::{Real, SignalError};
use num_complex::Complex;
use realfft::{RealFftPlanner, RealToComplex};
use rustfft::{Fft, FftPlanner};
use std::sync::Arc;

/// Parameters of one envelope analysis.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EnvelopeOptions {
    /// Lower band edge, Hz (≥ 0).
    pub band_lo_hz: f64,
    /// Upper band edge, Hz (clamped to Nyquist).
    pub band_hi_hz: f64,
    /// Sample rate of the window, Hz.
    pub fs: f64,
    /// Cepstral pre-whitening of the band before demodulation.
    pub whiten: bool,
}

/// Preallocated outputs of [`EnvelopePlan::process`].
#[derive(Debug, Clone, PartialEq)]
pub struct EnvelopeOutput<T> {
    /// `n/2 + 1` amplitudes `|X(f)|` of the raw (demeaned, rectangular-window) window, bin `spectrum_df`.
    pub spectrum: Vec<T>,
    /// Bin width of `spectrum`, Hz (`fs/n`).
    pub spectrum_df: f64,
    /// Squared-envelope spectrum amplitudes, `M/2 + 1` bins of width `ses_df`.
    pub ses: Vec<T>,
    /// Bin width of `ses`, Hz (`fs/n`).
    pub ses_df: f64,
    /// Sample rate of the decimated envelope, Hz (`fs·M/n`).
    pub envelope_fs: f64,
    /// RMS of the band-passed (unwhitened) signal.
    pub band_rms: f64,
    /// Spectral kurtosis of the band: `⟨|z|⁴⟩/⟨|z|²⟩² − 2` (0 for Gaussian noise).
    pub envelope_kurtosis: f64,
    /// Spectral kurtosis of the band over equal consecutive sub-blocks of the window, one value per
    /// element: the caller sets the number of blocks by the vector's length (default 8), and
    /// `process` fills it without allocating. A knock raises one or two of them; recurring impacts
    /// raise all.
    pub block_kurtosis: Vec<f64>,
    /// The band actually used, Hz (bin-aligned `[k_lo·Δf, k_hi·Δf]`).
    pub band_lo_hz: f64,
    /// See `band_lo_hz`.
    pub band_hi_hz: f64,
}

impl<T: Real> EnvelopeOutput<T> {
    /// Allocates outputs for `plan`, with room for the largest possible band (so `ses` never reallocates).
    pub fn new(plan: &EnvelopePlan<T>) -> Self {
        EnvelopeOutput {
            spectrum: vec![T::zero(); plan.n / 2 + 1],
            spectrum_df: 0.0,
            ses: Vec::with_capacity(plan.max_m / 2 + 1),
            ses_df: 0.0,
            envelope_fs: 0.0,
            band_rms: 0.0,
            envelope_kurtosis: 0.0,
            block_kurtosis: vec![0.0; 8],
            band_lo_hz: 0.0,
            band_hi_hz: 0.0,
        }
    }
}

struct BandFfts<T> {
    m: usize,
    inv: Arc<dyn Fft<T>>,
    r2c: Arc<dyn RealToComplex<T>>,
}

/// A reusable envelope-spectrum plan for windows of `n` samples (any length realfft supports).
pub struct EnvelopePlan<T: Real> {
    n: usize,
    max_m: usize,
    r2c: Arc<dyn RealToComplex<T>>,
    real_planner: RealFftPlanner<T>,
    cplx_planner: FftPlanner<T>,
    bands: Vec<BandFfts<T>>,
    work: Vec<T>,
    spec: Vec<Complex<T>>,
    zb: Vec<Complex<T>>,
    env: Vec<T>,
    espec: Vec<Complex<T>>,
    scratch: Vec<Complex<T>>,
}

impl<T: Real> std::fmt::Debug for EnvelopePlan<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnvelopePlan")
            .field("n", &self.n)
            .field(
                "band_sizes",
                &self.bands.iter().map(|b| b.m).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// Band bins `(k_lo, k_hi)` for a window of `n` samples.
fn band_bins(n: usize, opts: &EnvelopeOptions) -> Result<(usize, usize), SignalError> {
    if !pos_finite(opts.fs) {
        return Err(SignalError::param(
            "fs",
            format!("sample rate must be finite and > 0, got {}", opts.fs),
        ));
    }
    let (lo, hi) = (opts.band_lo_hz, opts.band_hi_hz);
    if !(lo.is_finite() && hi.is_finite() && lo >= 0.0 && hi > lo) {
        return Err(SignalError::param(
            "band",
            format!("need finite 0 <= lo < hi, got [{lo}, {hi}] Hz"),
        ));
    }
    let df = opts.fs / n as f64;
    let klo = ((lo / df).ceil() as usize).max(1);
    let khi = ((hi / df).floor().min(((n - 1) / 2) as f64)) as usize;
    if khi < klo {
        return Err(SignalError::param(
            "band",
            format!("[{lo}, {hi}] Hz holds no bin between DC and Nyquist (bin width {df} Hz)"),
        ));
    }
    Ok((klo, khi))
}

/// Decimated envelope length for a band of `bins` bins.
fn band_m(bins: usize) -> usize {
    fast_size_even((2 * bins).max(16))
}

impl<T: Real> EnvelopePlan<T> {
    /// Plans for windows of `n ≥ 8` samples.
    pub fn new(n: usize) -> Result<Self, SignalError> {
        if n < 8 {
            return Err(SignalError::param(
                "n",
                format!("window length must be at least 8, got {n}"),
            ));
        }
        let mut real_planner = RealFftPlanner::<T>::new();
        let r2c = real_planner.plan_fft_forward(n);
        let max_m = band_m((n - 1) / 2);
        let z = Complex::new(T::zero(), T::zero());
        Ok(EnvelopePlan {
            n,
            max_m,
            work: vec![T::zero(); n],
            spec: r2c.make_output_vec(),
            scratch: r2c.make_scratch_vec(),
            zb: vec![z; max_m],
            env: vec![T::zero(); max_m],
            espec: vec![z; max_m / 2 + 1],
            r2c,
            real_planner,
            cplx_planner: FftPlanner::new(),
            bands: Vec::new(),
        })
    }

    /// Window length.
    pub fn len(&self) -> usize {
        self.n
    }

    /// Always false (a plan has at least 8 samples).
    pub fn is_empty(&self) -> bool {
        false
    }


    /// Plans the band FFTs for `opts` ahead of time, so the first [`process`](Self::process) with this
    /// band size does not allocate. Returns the decimated length `M`.
    pub fn prepare(&mut self, opts: &EnvelopeOptions) -> Result<usize, SignalError> {
        let (klo, khi) = band_bins(self.n, opts)?;
        let idx = self.band_index(khi - klo + 1);
        Ok(self.bands[idx].m)
    }

    fn band_index(&mut self, bins: usize) -> usize {
        let m = band_m(bins);
        if let Some(i) = self.bands.iter().position(|b| b.m == m) {
            return i;
        }
        let inv = self.cplx_planner.plan_fft_inverse(m);
        let r2c = self.real_planner.plan_fft_forward(m);
        let need = inv.get_inplace_scratch_len().max(r2c.get_scratch_len());
        if need > self.scratch.len() {
            self.scratch
                .resize(need, Complex::new(T::zero(), T::zero()));
        }
        self.bands.push(BandFfts { m, inv, r2c });
        self.bands.len() - 1
    }

    /// Computes the spectrum, band RMS and squared-envelope spectrum of `x` (length `n`) into `out`.
    ///
    /// Allocation: none, except the first time a band needing a new decimated length `M` is seen
    /// (it plans two FFTs and may grow the scratch buffer); call [`prepare`](Self::prepare) to do
    /// that up front. `out` must come from [`EnvelopeOutput::new`] for this plan (or have the same
    /// sizes); `out.ses` is resized within its capacity.
    pub fn process(
        &mut self,
        x: &[T],
        opts: &EnvelopeOptions,
        out: &mut EnvelopeOutput<T>,
    ) -> Result<(), SignalError> {
        let n = self.n;
        SignalError::check_len("x", n, x.len())?;
        SignalError::check_len("out.spectrum", n / 2 + 1, out.spectrum.len())?;
        let (klo, khi) = band_bins(n, opts)?;
        let bins = khi - klo + 1;
        let bi = self.band_index(bins);
        let m = self.bands[bi].m;
        let zero = T::zero();
        let cz = Complex::new(zero, zero);

        // 1. Spectrum of the window; zeroing DC demeans it.
        self.work.copy_from_slice(x);
        self.r2c
            .process_with_scratch(&mut self.work, &mut self.spec, &mut self.scratch)?;
        self.spec[0] = cz;
        let two_over_n = T::of(2.0 / n as f64);
        magnitudes(&self.spec, two_over_n, &mut out.spectrum);
        halve_edges(&mut out.spectrum, n);

        // 2. Band energy (Parseval on amplitudes: rms² = Σ A²/2).
        let band_amp = &out.spectrum[klo..=khi];
        let mut e = [zero; LANES];
        let ch = band_amp.chunks_exact(LANES);
        let mut e_tot = zero;
        for &a in ch.remainder() {
            e_tot = e_tot + a * a;
        }
        for c in ch {
            for i in 0..LANES {
                e[i] = e[i] + c[i] * c[i];
            }
        }
        let sum_a2 = e.iter().fold(e_tot, |s, &v| s + v).as_f64();
        out.band_rms = (sum_a2 / 2.0).sqrt();

        // 3–4. Band (optionally whitened), shifted to baseband, zero-padded to M.
        let zb = &mut self.zb[..m];
        let band = &self.spec[klo..=khi];
        if opts.whiten {
            // Mean |X|² over the band, in raw FFT units: |X| = A·n/2.
            let mean_pow = sum_a2 / bins as f64 * (n as f64 / 2.0).powi(2);
            let floor = T::of(mean_pow * T::epsilon().as_f64().powi(2));
            let g = T::of(mean_pow.sqrt()) * two_over_n;
            for (zo, xb) in zb.iter_mut().zip(band) {
                let p = xb.re * xb.re + xb.im * xb.im;
                *zo = if p > floor { *xb * (g / p.sqrt()) } else { cz };
            }
        } else {
            for (zo, xb) in zb.iter_mut().zip(band) {
                *zo = *xb * two_over_n;
            }
        }
        for v in zb[bins..].iter_mut() {
            *v = cz;
        }
        let bf = &self.bands[bi];
        bf.inv.process_with_scratch(zb, &mut self.scratch);

        // 5. Squared envelope, its mean and fourth moment (8 lanes).
        let env = &mut self.env[..m];
        let mut s1 = [zero; LANES];
        let mut s2 = [zero; LANES];
        let ze = zb.chunks_exact(LANES);
        let (mut t1, mut t2) = (zero, zero);
        let tail = m - ze.remainder().len();
        for (&z, ev) in ze.remainder().iter().zip(env[tail..].iter_mut()) {
            let p = z.re * z.re + z.im * z.im;
            *ev = p;
            t1 = t1 + p;
            t2 = t2 + p * p;
        }
        for (zc, ec) in ze.zip(env.chunks_exact_mut(LANES)) {
            for i in 0..LANES {
                let p = zc[i].re * zc[i].re + zc[i].im * zc[i].im;
                ec[i] = p;
                s1[i] = s1[i] + p;
                s2[i] = s2[i] + p * p;
            }
        }
        let sum1 = s1.iter().fold(t1, |a, &b| a + b).as_f64();
        let sum2 = s2.iter().fold(t2, |a, &b| a + b).as_f64();
        let mean = sum1 / m as f64;
        out.envelope_kurtosis = if mean > 0.0 {
            (sum2 / m as f64) / (mean * mean) - 2.0
        } else {
            0.0
        };
        let nb = out.block_kurtosis.len().min(m);
        if let Some(len) = m.checked_div(nb) {
            for (b, v) in out.block_kurtosis.iter_mut().enumerate().take(nb) {
                let (mut a1, mut a2) = (0.0f64, 0.0f64);
                for p in &env[b * len..(b + 1) * len] {
                    let p = p.as_f64();
                    a1 += p;
                    a2 += p * p;
                }
                let m1 = a1 / len as f64;
                *v = if m1 > 0.0 { (a2 / len as f64) / (m1 * m1) - 2.0 } else { 0.0 };
            }
        }
        let mu = T::of(mean);
        for v in env.iter_mut() {
            *v = *v - mu;
        }

        // 6. Spectrum of the squared envelope.
        let espec = &mut self.espec[..m / 2 + 1];
        bf.r2c.process_with_scratch(env, espec, &mut self.scratch)?;
        out.ses.resize(m / 2 + 1, zero);
        magnitudes(espec, T::of(2.0 / m as f64), &mut out.ses);
        halve_edges(&mut out.ses, m);
        out.ses[0] = zero;

        let df = opts.fs / n as f64;
        out.spectrum_df = df;
        out.ses_df = df;
        out.envelope_fs = opts.fs * m as f64 / n as f64;
        out.band_lo_hz = klo as f64 * df;
        out.band_hi_hz = khi as f64 * df;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinematics::{FaultKind, FaultOrders};
    use crate::synth::{simulate, BearingSimConfig};
    use fos_core::BearingGeometry;

    fn geom() -> BearingGeometry {
        BearingGeometry {
            elements: 9,
            element_d: 0.3126,
            pitch_d: 1.537,
            contact_angle_deg: 0.0,
        }
    }

    /// Bins of the `k` largest local maxima of `v` in `[from, to)`.
    fn top_peaks<T: Real>(v: &[T], from: usize, to: usize, k: usize) -> Vec<usize> {
        let mut p: Vec<(usize, f64)> = (from.max(1)..to.min(v.len() - 1))
            .filter(|&i| v[i] >= v[i - 1] && v[i] >= v[i + 1])
            .map(|i| (i, v[i].as_f64()))
            .collect();
        p.sort_by(|a, b| b.1.total_cmp(&a.1));
        p.into_iter().take(k).map(|x| x.0).collect()
    }

    fn outer_fault(fs: f64, shaft_harm: Vec<f64>) -> (Vec<f64>, f64) {
        let mut c = BearingSimConfig::new(fs, 1.0, 30.0, geom());
        c.fault = Some((FaultKind::Outer, 1.0));
        c.resonance_hz = 3_000.0;
        c.noise_rms = 0.3;
        c.shaft_harmonics = shaft_harm;
        c.seed = 11;
        let bpfo = FaultOrders::from_geometry(&geom()).outer * 30.0;
        (simulate(&c).unwrap(), bpfo)
    }

    fn check_bpfo<T: Real>(x: &[T], fs: f64, bpfo: f64, whiten: bool) -> EnvelopeOutput<T> {
        let mut p = EnvelopePlan::<T>::new(x.len()).unwrap();
        let mut out = EnvelopeOutput::new(&p);
        let opts = EnvelopeOptions {
            band_lo_hz: 2_000.0,
            band_hi_hz: 4_000.0,
            fs,
            whiten,
        };
        p.process(x, &opts, &mut out).unwrap();
        assert_eq!(out.ses_df, fs / x.len() as f64);
        assert!(out.ses.len() * 2 >= 2 * 2000 * x.len() / fs as usize);
        let peaks = top_peaks(&out.ses, 5, (700.0 / out.ses_df) as usize, 3);
        for &pk in &peaks {
            let f = pk as f64 * out.ses_df;
            let h = (f / bpfo).round();
            assert!(
                (1.0..=6.0).contains(&h) && (f - h * bpfo).abs() <= 1.5 + 0.01 * h * bpfo,
                "whiten={whiten}: peak at {f} Hz is not a BPFO harmonic ({bpfo}); peaks {peaks:?}"
            );
        }
        out
    }

    #[test]
    fn outer_race_lines_at_bpfo_f64_and_f32() {
        for fs in [12_000.0, 48_000.0] {
            let (x, bpfo) = outer_fault(fs, vec![0.5]);
            let o = check_bpfo(&x, fs, bpfo, false);
            assert!(o.envelope_kurtosis > 0.5, "{}", o.envelope_kurtosis);
            check_bpfo(&x, fs, bpfo, true);
            let xf: Vec<f32> = x.iter().map(|&v| v as f32).collect();
            check_bpfo(&xf, fs, bpfo, false);
            check_bpfo(&xf, fs, bpfo, true);
        }
    }

    #[test]
    fn non_power_of_two_window() {
        let (x, bpfo) = outer_fault(12_000.0, vec![0.5]);
        check_bpfo(&x[..11_025], 12_000.0, bpfo, true);
    }

    #[test]
    fn whitening_suppresses_a_strong_tone() {
        // A strong 50× shaft-order tone (1500 Hz → inside a 1–4 kHz band) amplitude-modulated at 41 Hz
        // dominates the raw SES; whitening flattens it and BPFO wins.
        let fs = 12_000.0;
        let (mut x, bpfo) = outer_fault(fs, vec![0.5]);
        for (i, v) in x.iter_mut().enumerate() {
            let t = i as f64 / fs;
            let tau = 2.0 * std::f64::consts::PI;
            *v += 20.0 * (1.0 + 0.5 * (tau * 41.0 * t).cos()) * (tau * 1500.0 * t).sin();
        }
        let mut p = EnvelopePlan::<f64>::new(x.len()).unwrap();
        let mut out = EnvelopeOutput::new(&p);
        let mut opts = EnvelopeOptions {
            band_lo_hz: 1_000.0,
            band_hi_hz: 4_000.0,
            fs,
            whiten: false,
        };
        p.process(&x, &opts, &mut out).unwrap();
        let raw = top_peaks(&out.ses, 5, 700, 1)[0] as f64 * out.ses_df;
        assert!((raw - 41.0).abs() < 1.5, "raw SES top peak {raw}");
        opts.whiten = true;
        p.process(&x, &opts, &mut out).unwrap();
        let w = top_peaks(&out.ses, 5, 700, 1)[0] as f64 * out.ses_df;
        assert!(
            (w - bpfo).abs() < 1.5 || (w - 2.0 * bpfo).abs() < 2.5,
            "whitened SES top peak {w}, bpfo {bpfo}"
        );
    }

    #[test]
    fn scaling_of_spectrum_ses_and_band_rms() {
        // x = (1 + 0.5 cos 2π 20 t) · cos 2π 1000 t: band 900–1100 Hz, |z|² = (1 + 0.5 cos)²
        // = 1.125 + cos(20) + 0.125 cos(40): SES reads 1.0 at 20 Hz and 0.125 at 40 Hz.
        let (n, fs) = (4000, 4000.0);
        let tau = 2.0 * std::f64::consts::PI;
        let x: Vec<f64> = (0..n)
            .map(|i| {
                let t = i as f64 / fs;
                (1.0 + 0.5 * (tau * 20.0 * t).cos()) * (tau * 1000.0 * t).cos()
                    + 0.3 * (tau * 50.0 * t).sin()
            })
            .collect();
        let mut p = EnvelopePlan::<f64>::new(n).unwrap();
        let mut out = EnvelopeOutput::new(&p);
        let opts = EnvelopeOptions {
            band_lo_hz: 900.0,
            band_hi_hz: 1100.0,
            fs,
            whiten: false,
        };
        p.process(&x, &opts, &mut out).unwrap();
        assert!((out.spectrum[50] - 0.3).abs() < 1e-9);
        assert!((out.spectrum[1000] - 1.0).abs() < 1e-9);
        assert!((out.spectrum[980] - 0.25).abs() < 1e-9);
        assert!((out.ses[20] - 1.0).abs() < 1e-9, "{}", out.ses[20]);
        assert!((out.ses[40] - 0.125).abs() < 1e-9, "{}", out.ses[40]);
        assert!(out.ses[30] < 1e-9);
        // band rms² = (1² + 0.25² + 0.25²)/2
        assert!((out.band_rms - (1.125f64 / 2.0).sqrt()).abs() < 1e-9);
        assert_eq!((out.band_lo_hz, out.band_hi_hz), (900.0, 1100.0));
        assert!(out.envelope_fs >= 2.0 * 201.0);
    }

    #[test]
    fn block_kurtosis_ignores_one_knock_but_not_recurring_impacts() {
        use crate::kinematics::FaultKind;
        use crate::synth::{simulate, BearingSimConfig};
        let g = fos_core::BearingGeometry { elements: 9, element_d: 0.3126, pitch_d: 1.537, contact_angle_deg: 0.0 };
        let fs = 12_000.0;
        let run = |fault: Option<(FaultKind, f64)>, knocks: Vec<(f64, f64)>| {
            let mut c = BearingSimConfig::new(fs, 1.0, 30.0, g);
            c.fault = fault;
            c.knocks = knocks;
            c.resonance_hz = 3_500.0;
            let x = simulate(&c).unwrap();
            let mut p = EnvelopePlan::<f64>::new(x.len()).unwrap();
            let mut out = EnvelopeOutput::new(&p);
            let opts = EnvelopeOptions { band_lo_hz: 600.0, band_hi_hz: 5_400.0, fs, whiten: true };
            p.process(&x, &opts, &mut out).unwrap();
            let mut b = out.block_kurtosis.clone();
            b.sort_by(f64::total_cmp);
            (b[b.len() / 2], b[b.len() - 1])
        };
        let (quiet_median, _) = run(None, vec![]);
        let (knock_median, knock_max) = run(None, vec![(0.31, 5.0)]);
        let (fault_median, _) = run(Some((FaultKind::Outer, 0.6)), vec![]);
        assert!(knock_max > 5.0, "the knock's block stands out: {knock_max}");
        assert!((knock_median - quiet_median).abs() < 0.2, "median moved by a knock: {quiet_median} -> {knock_median}");
        assert!(fault_median > quiet_median + 0.4, "recurring impacts raise every block: {quiet_median} -> {fault_median}");
    }

    #[test]
    fn gaussian_noise_envelope_kurtosis_near_zero() {
        let mut r = crate::synth::Rng::new(3);
        let x: Vec<f64> = (0..48_000).map(|_| r.gaussian()).collect();
        let mut p = EnvelopePlan::<f64>::new(x.len()).unwrap();
        let mut out = EnvelopeOutput::new(&p);
        let opts = EnvelopeOptions {
            band_lo_hz: 5_000.0,
            band_hi_hz: 8_000.0,
            fs: 48_000.0,
            whiten: false,
        };
        p.process(&x, &opts, &mut out).unwrap();
        assert!(
            out.envelope_kurtosis.abs() < 0.1,
            "{}",
            out.envelope_kurtosis
        );
        // White noise of unit variance: band power = 2·3000/48000.
        assert!(
            (out.band_rms - (6_000.0f64 / 48_000.0).sqrt()).abs() < 0.02,
            "{}",
            out.band_rms
        );
    }

    #[test]
    fn no_reallocation_after_prepare() {
        let (x, _) = outer_fault(12_000.0, vec![]);
        let mut p = EnvelopePlan::<f64>::new(x.len()).unwrap();
        let mut out = EnvelopeOutput::new(&p);
        let cap = out.ses.capacity();
        // The widest band possible still fits the preallocated capacity.
        let opts = EnvelopeOptions {
            band_lo_hz: 0.0,
            band_hi_hz: 1e9,
            fs: 12_000.0,
            whiten: true,
        };
        p.prepare(&opts).unwrap();
        p.process(&x, &opts, &mut out).unwrap();
        assert_eq!(out.ses.capacity(), cap);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]
        #[test]
        fn outputs_stay_finite(
            x in proptest::collection::vec(-1e4f64..1e4, 8..700),
            lo in 0.0f64..0.45,
            width in 0.01f64..0.5,
            whiten: bool,
        ) {
            let n = x.len();
            let mut p = EnvelopePlan::<f32>::new(n).unwrap();
            let mut out = EnvelopeOutput::new(&p);
            let xf: Vec<f32> = x.iter().map(|&v| v as f32).collect();
            let opts = EnvelopeOptions { band_lo_hz: lo * 1000.0, band_hi_hz: (lo + width) * 1000.0, fs: 1000.0, whiten };
            if p.process(&xf, &opts, &mut out).is_ok() {
                proptest::prop_assert!(out.ses.iter().chain(&out.spectrum).all(|v| v.is_finite()));
                proptest::prop_assert!(out.band_rms.is_finite() && out.envelope_kurtosis.is_finite());
                proptest::prop_assert!(out.ses.len() <= out.ses.capacity());
            }
        }
    }

    #[test]
    fn bad_parameters() {
        assert!(EnvelopePlan::<f64>::new(0).is_err());
        assert!(EnvelopePlan::<f32>::new(7).is_err());
        let mut p = EnvelopePlan::<f64>::new(1000).unwrap();
        let mut out = EnvelopeOutput::new(&p);
        let x = vec![0.0; 1000];
        let mut o = EnvelopeOptions {
            band_lo_hz: 100.0,
            band_hi_hz: 200.0,
            fs: 1000.0,
            whiten: true,
        };
        assert!(p.process(&x, &o, &mut out).is_ok());
        assert!(
            out.ses.iter().all(|v| v.is_finite()),
            "silence gives zeros, not NaN"
        );
        assert!(p.process(&x[..999], &o, &mut out).is_err());
        o.fs = f64::NAN;
        assert!(p.process(&x, &o, &mut out).is_err());
        o.fs = 1000.0;
        o.band_lo_hz = 300.0;
        assert!(p.process(&x, &o, &mut out).is_err());
        o.band_lo_hz = 600.0;
        o.band_hi_hz = 700.0;
        assert!(p.process(&x, &o, &mut out).is_err(), "band above Nyquist");
        o.band_lo_hz = 100.3;
        o.band_hi_hz = 100.6;
        assert!(p.process(&x, &o, &mut out).is_err(), "no bin in band");
    }
}
