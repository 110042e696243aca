//! Shaft-speed (or any harmonic family's fundamental) estimation from a magnitude spectrum.
//!
//! Nominal speeds (set-points, file names) are often a few per cent off. Given a magnitude spectrum
//! `mag` with bin width `df`, the search runs over `f ∈ nominal·[1 − tol, 1 + tol]` on a grid of step
//! `df/(4H)` (finer than `df/H`, so the `H`-th harmonic moves by less than a quarter bin per step):
//!
//! 1. **Floors.** For each harmonic `h`, the local median of `mag` over `±W` bins around `h·nominal`
//!    (`W` covers the search range plus 8 bins, at most 128): robust to the lines themselves.
//! 2. **Grid score** `S(f) = Σ_h max(0, ln(a_h(f)/floor_h))`, with `a_h(f)` the linearly interpolated
//!    magnitude at `h·f/df`: a log-SNR sum, so one strong line cannot outvote a consistent family.
//! 3. **Refinement.** For the best `f`, each harmonic's local maximum (within ±1 bin of `h·f`) is
//!    located to a fraction of a bin from its two neighbours, with the ratio estimator matched to
//!    the window ([`PeakWindow`]: rectangular `δ = γ/(β+γ)`, Hann `δ = (2γ−β)/(β+γ)`, exact for a
//!    pure tone), and `f = Σ w_h·h·f_h / Σ w_h·h²` (least squares through the origin, weights `ln SNR_h`)
//!    over harmonics with SNR ≥ `min_snr`.
//!
//! The result carries a confidence (harmonic-sum SNR `Σ a_h / Σ floor_h`) and the number of harmonics
//! above `min_snr`; `None` if none is, or if a parameter is invalid. Harmonics with `h·tol ≥ 0.5`
//! are ignored (their search ranges would overlap the neighbouring harmonic).

use crate::Real;

/// The window the magnitude spectrum was computed with (sets the peak interpolation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PeakWindow {
    /// No window (e.g. [`crate::envelope::EnvelopeOutput::spectrum`] and `ses`).
    #[default]
    Rectangular,
    /// Hann window (e.g. [`crate::spectrum::SpectrumPlan`]).
    Hann,
}

/// Parameters of [`estimate_fundamental_hz`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpeedSearch {
    /// Relative search half-width around the nominal frequency (e.g. 0.05).
    pub rel_tol: f64,
    /// Number of harmonics `H` to use (≥ 1).
    pub harmonics: usize,
    /// Window of the spectrum.
    pub window: PeakWindow,
    /// A harmonic counts as found when its peak is this many times its local median floor. Default 3.
    pub min_snr: f64,
}

impl SpeedSearch {
    /// A rectangular-window search with `min_snr = 3`.
    pub fn new(rel_tol: f64, harmonics: usize) -> Self {
        SpeedSearch {
            rel_tol,
            harmonics,
            window: PeakWindow::Rectangular,
            min_snr: 3.0,
        }
    }
}

/// An estimated fundamental frequency.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpeedEstimate {
    /// The estimate, Hz.
    pub hz: f64,
    /// Harmonic-sum SNR `Σ peak_h / Σ floor_h` (≈ 1 for no family; larger is surer).
    pub confidence: f64,
    /// Harmonics whose peak is at least `min_snr` times the floor.
    pub harmonics_found: usize,
}

/// Estimates the shaft frequency from a rectangular-window magnitude spectrum (`mag[k]` at `k·df` Hz)
/// with `harmonics` harmonics, searching `nominal_hz·[1 − rel_tol, 1 + rel_tol]`.
pub fn estimate_shaft_hz<T: Real>(
    mag: &[T],
    df: f64,
    nominal_hz: f64,
    rel_tol: f64,
    harmonics: usize,
) -> Option<SpeedEstimate> {
    estimate_fundamental_hz(mag, df, nominal_hz, &SpeedSearch::new(rel_tol, harmonics))
}

const MAX_HALF: usize = 128;

fn median_floor<T: Real>(mag: &[T], centre: f64, half: usize) -> f64 {
    let mut buf = [0.0f64; 2 * MAX_HALF + 1];
    let c = centre.round() as isize;
    let lo = (c - half as isize).max(1) as usize;
    let hi = ((c + half as isize) as usize).min(mag.len() - 1);
    let mut m = 0;
    let mut max = 0.0f64;
    for &v in &mag[lo..=hi] {
        let v = v.as_f64();
        if v.is_finite() {
            buf[m] = v;
            max = max.max(v);
            m += 1;
        }
    }
    if m == 0 {
        return f64::MIN_POSITIVE;
    }
    let s = &mut buf[..m];
    let (_, med, _) = s.select_nth_unstable_by(m / 2, f64::total_cmp);
    med.max(max * 1e-12).max(f64::MIN_POSITIVE)
}

#[inline]
fn interp<T: Real>(mag: &[T], q: f64) -> Option<f64> {
    let k = q.floor();
    if k < 0.0 || k as usize + 1 >= mag.len() {
        return None;
    }
    let k = k as usize;
    let d = q - k as f64;
    Some(mag[k].as_f64() * (1.0 - d) + mag[k + 1].as_f64() * d)
}

/// The general search: any harmonic family (shaft, or a fault family in an envelope spectrum).
pub fn estimate_fundamental_hz<T: Real>(
    mag: &[T],
    df: f64,
    nominal_hz: f64,
    s: &SpeedSearch,
) -> Option<SpeedEstimate> {
    let ok = |v: f64| v.is_finite() && v > 0.0;
    if !(ok(df) && ok(nominal_hz) && s.rel_tol.is_finite() && s.rel_tol >= 0.0 && s.rel_tol < 0.5)
        || s.harmonics == 0
        || mag.len() < 4
        || !s.min_snr.is_finite()
    {
        return None;
    }
    let f_lo = nominal_hz * (1.0 - s.rel_tol);
    let f_hi = nominal_hz * (1.0 + s.rel_tol);
    // Harmonics inside the spectrum (with a neighbour) and with non-overlapping search ranges.
    let h_max = (1..=s.harmonics.min(64))
        .take_while(|&h| {
            (h as f64 * f_hi / df) + 1.0 < (mag.len() - 1) as f64 && (h as f64) * s.rel_tol < 0.5
        })
        .last()?;
    let mut floors = [0.0f64; 64];
    for (h, fl) in floors
        .iter_mut()
        .enumerate()
        .take(h_max)
        .map(|(i, f)| (i + 1, f))
    {
        let half = ((h as f64 * nominal_hz * s.rel_tol / df).ceil() as usize + 8).min(MAX_HALF);
        *fl = median_floor(mag, h as f64 * nominal_hz / df, half);
    }
    let floors = &floors[..h_max];

    // Grid search (bounded to 100 000 points).
    let mut step = df / (4.0 * h_max as f64);
    if (f_hi - f_lo) / step > 100_000.0 {
        step = (f_hi - f_lo) / 100_000.0;
    }
    let steps = ((f_hi - f_lo) / step).ceil() as usize;
    let mut best = (f64::NEG_INFINITY, nominal_hz);
    for i in 0..=steps {
        let f = (f_lo + i as f64 * step).min(f_hi);
        let mut score = 0.0;
        for (h, fl) in floors.iter().enumerate() {
            if let Some(a) = interp(mag, (h + 1) as f64 * f / df) {
                score += (a / fl).ln().max(0.0);
            }
        }
        if score > best.0 {
            best = (score, f);
        }
    }
    let f0 = best.1;

    // Refinement from each harmonic's interpolated peak.
    let (mut num, mut den) = (0.0, 0.0);
    let (mut found, mut sum_a, mut sum_fl) = (0usize, 0.0, 0.0);
    for (i, &fl) in floors.iter().enumerate() {
        let h = (i + 1) as f64;
        let q = h * f0 / df;
        let k0 = q.round() as usize;
        let lo = k0.saturating_sub(1).max(1);
        let hi = (k0 + 1).min(mag.len() - 2);
        if lo > hi {
            continue;
        }
        let kp = (lo..=hi).fold(lo, |b, k| if mag[k] > mag[b] { k } else { b });
        let (a, b, c) = (mag[kp - 1].as_f64(), mag[kp].as_f64(), mag[kp + 1].as_f64());
        sum_a += b;
        sum_fl += fl;
        let snr = b / fl;
        if !(snr >= s.min_snr && b >= a && b >= c) {
            continue;
        }
        found += 1;
        let delta = match s.window {
            PeakWindow::Rectangular if c >= a => c / (b + c),
            PeakWindow::Rectangular => -a / (b + a),
            PeakWindow::Hann if c >= a => (2.0 * c - b) / (b + c),
            PeakWindow::Hann => -(2.0 * a - b) / (b + a),
        };
        let fh = (kp as f64 + delta.clamp(-0.5, 0.5)) * df;
        if (fh / h - f0).abs() > 1.5 * df / h {
            continue;
        }
        let w = snr.ln();
        num += w * h * fh;
        den += w * h * h;
    }
    if found == 0 {
        return None;
    }
    let mut hz = if den > 0.0 { num / den } else { f0 };
    if !(f_lo..=f_hi).contains(&hz) {
        hz = f0;
    }
    Some(SpeedEstimate {
        hz,
        confidence: if sum_fl > 0.0 { sum_a / sum_fl } else { 0.0 },
        harmonics_found: found,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::{EnvelopeOptions, EnvelopeOutput, EnvelopePlan};
    use crate::kinematics::{FaultKind, FaultOrders};
    use crate::spectrum::SpectrumPlan;
    use crate::synth::{simulate, BearingSimConfig, Rng};
    use fos_core::BearingGeometry;

    fn geom() -> BearingGeometry {
        BearingGeometry {
            elements: 9,
            element_d: 0.3126,
            pitch_d: 1.537,
            contact_angle_deg: 0.0,
        }
    }

    fn machine(speed_error: f64, noise: f64, seed: u64) -> (Vec<f64>, BearingSimConfig) {
        let mut c = BearingSimConfig::new(12_000.0, 1.0, 30.0, geom());
        c.speed_error = speed_error;
        c.noise_rms = noise;
        c.shaft_harmonics = vec![0.3, 0.2, 0.1, 0.1, 0.05, 0.05, 0.03, 0.03];
        c.fault = Some((FaultKind::Outer, 0.5));
        c.slip = 0.005;
        c.seed = seed;
        (simulate(&c).unwrap(), c)
    }

    #[test]
    fn shaft_speed_from_rectangular_spectrum() {
        for (seed, err) in [(1, -0.027), (2, 0.031), (3, -0.01), (4, 0.0)] {
            let (x, c) = machine(err, 0.3, seed);
            let truth = c.true_shaft_hz();
            let mut p = EnvelopePlan::<f64>::new(x.len()).unwrap();
            let mut out = EnvelopeOutput::new(&p);
            let o = EnvelopeOptions {
                band_lo_hz: 2_000.0,
                band_hi_hz: 4_000.0,
                fs: 12_000.0,
                whiten: false,
            };
            p.process(&x, &o, &mut out).unwrap();
            let e = estimate_shaft_hz(&out.spectrum, out.spectrum_df, 30.0, 0.05, 8).unwrap();
            assert!((e.hz - truth).abs() < 0.1, "truth {truth}, got {e:?}");
            assert!(e.confidence > 3.0 && e.harmonics_found >= 3, "{e:?}");
            // f32 spectrum too.
            let xf: Vec<f32> = x.iter().map(|&v| v as f32).collect();
            let mut pf = EnvelopePlan::<f32>::new(x.len()).unwrap();
            let mut of = EnvelopeOutput::new(&pf);
            pf.process(&xf, &o, &mut of).unwrap();
            let e = estimate_shaft_hz(&of.spectrum, of.spectrum_df, 30.0, 0.05, 8).unwrap();
            assert!((e.hz - truth).abs() < 0.1, "f32: truth {truth}, got {e:?}");
        }
    }

    #[test]
    fn shaft_speed_from_hann_spectrum() {
        let (x, c) = machine(-0.027, 0.3, 7);
        let mut p = SpectrumPlan::<f64>::new(x.len()).unwrap();
        let mut m = vec![0.0; p.bins()];
        p.magnitude(&x, &mut m).unwrap();
        let mut s = SpeedSearch::new(0.05, 8);
        s.window = PeakWindow::Hann;
        let e = estimate_fundamental_hz(&m, 1.0, 30.0, &s).unwrap();
        assert!((e.hz - c.true_shaft_hz()).abs() < 0.1, "{e:?}");
    }

    #[test]
    fn fault_family_from_envelope_spectrum() {
        let (x, c) = machine(-0.027, 0.3, 9);
        let orders = FaultOrders::from_geometry(&geom());
        let mut p = EnvelopePlan::<f64>::new(x.len()).unwrap();
        let mut out = EnvelopeOutput::new(&p);
        let o = EnvelopeOptions {
            band_lo_hz: 2_000.0,
            band_hi_hz: 4_000.0,
            fs: 12_000.0,
            whiten: true,
        };
        p.process(&x, &o, &mut out).unwrap();
        let e = estimate_shaft_hz(&out.ses, out.ses_df, orders.outer * 30.0, 0.05, 4).unwrap();
        let bpfo = orders.outer * c.true_shaft_hz();
        assert!((e.hz - bpfo).abs() < 0.3, "bpfo {bpfo}, got {e:?}");
        assert!((e.hz / orders.outer - c.true_shaft_hz()).abs() < 0.1);
    }

    #[test]
    fn noise_gives_none_or_low_confidence() {
        let mut r = Rng::new(2);
        let m: Vec<f64> = (0..6000).map(|_| r.gaussian().abs()).collect();
        match estimate_shaft_hz(&m, 1.0, 30.0, 0.05, 8) {
            None => {}
            Some(e) => assert!(e.confidence < 2.5 && e.harmonics_found <= 2, "{e:?}"),
        }
        assert!(estimate_shaft_hz(&[0.0f64; 100], 1.0, 30.0, 0.05, 3).is_none());
    }

    #[test]
    fn bad_parameters() {
        let m = vec![1.0f64; 1000];
        assert!(estimate_shaft_hz(&m, 0.0, 30.0, 0.05, 5).is_none());
        assert!(estimate_shaft_hz(&m, 1.0, f64::NAN, 0.05, 5).is_none());
        assert!(estimate_shaft_hz(&m, 1.0, 30.0, 0.7, 5).is_none());
        assert!(estimate_shaft_hz(&m, 1.0, 30.0, 0.05, 0).is_none());
        assert!(estimate_shaft_hz(&m, 1.0, 5_000.0, 0.05, 5).is_none());
        assert!(estimate_shaft_hz(&m[..3], 1.0, 1.0, 0.05, 5).is_none());
    }
}
