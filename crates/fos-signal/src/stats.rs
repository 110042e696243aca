//! Time-domain health indicators.
//!
//! For samples `x[0..n]` with mean `μ` and central moments `m_k = (1/n)·Σ (x − μ)^k`:
//!
//! - `rms = sqrt((1/n)·Σ x²) = sqrt(m₂ + μ²)`, `std = sqrt(m₂)` (population, divisor `n`)
//! - `peak = max |x|`, `crest = peak / rms`
//! - `kurtosis = m₄ / m₂²` (non-excess: 3 for a Gaussian, 1.5 for a sine), `skewness = m₃ / m₂^{3/2}`
//! - `shape_factor = rms / mean|x|`, `impulse_factor = peak / mean|x|`
//!
//! Kurtosis and crest react to impulsiveness (faults, but also isolated knocks); RMS to energy.
//!
//! Two passes over the data, each with 8 independent accumulators so the reductions vectorise
//! (single-chain float reductions are latency-bound and ~4× slower). The second pass scales
//! deviations by `1/peak`, so fourth powers neither overflow nor underflow. Degenerate inputs
//! do not produce NaN from parameters: an empty slice gives all zeros; a constant signal gives
//! `std = skewness = kurtosis = 0`; ratios with a zero denominator are 0.

use crate::util::LANES;
use crate::Real;

/// Time-domain indicators of one window (all `f64`, whatever the sample type).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct TimeStats {
    /// Arithmetic mean.
    pub mean: f64,
    /// Root mean square (including the mean).
    pub rms: f64,
    /// Standard deviation (divisor `n`).
    pub std: f64,
    /// Largest absolute value.
    pub peak: f64,
    /// `peak / rms`.
    pub crest: f64,
    /// `m₄ / m₂²` (Gaussian 3, sine 1.5).
    pub kurtosis: f64,
    /// `m₃ / m₂^{3/2}`.
    pub skewness: f64,
    /// `rms / mean|x|`.
    pub shape_factor: f64,
    /// `peak / mean|x|`.
    pub impulse_factor: f64,
}

#[inline]
fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 {
        a / b
    } else {
        0.0
    }
}

/// Computes [`TimeStats`] of `x` (two vectorised passes, no allocation).
pub fn time_stats<T: Real>(x: &[T]) -> TimeStats {
    let n = x.len();
    if n == 0 {
        return TimeStats::default();
    }
    let zero = T::zero();
    // Pass 1: sum, sum |x|, max |x|.
    let mut s = [zero; LANES];
    let mut a = [zero; LANES];
    let mut p = [zero; LANES];
    let chunks = x.chunks_exact(LANES);
    let rem = chunks.remainder();
    for c in chunks {
        for i in 0..LANES {
            let v = c[i];
            let av = v.abs();
            s[i] = s[i] + v;
            a[i] = a[i] + av;
            p[i] = if av > p[i] { av } else { p[i] };
        }
    }
    let (mut st, mut at, mut pt) = (zero, zero, zero);
    for &v in rem {
        st = st + v;
        at = at + v.abs();
        pt = if v.abs() > pt { v.abs() } else { pt };
    }
    for i in 0..LANES {
        st = st + s[i];
        at = at + a[i];
        pt = if p[i] > pt { p[i] } else { pt };
    }
    let nf = n as f64;
    let mean = st.as_f64() / nf;
    let mean_abs = at.as_f64() / nf;
    let peak = pt.as_f64();

    // Pass 2: central moments of (x - mean) / scale.
    let scale = if peak > 0.0 && peak.is_finite() {
        peak
    } else {
        1.0
    };
    let mu = T::of(mean);
    let inv = T::of(1.0 / scale);
    let [m2, m3, m4] = central_moment_lanes(x, mu, inv);
    let (mut s2, mut s3, mut s4) = (0.0f64, 0.0f64, 0.0f64);
    for &v in rem {
        let d = (v - mu) * inv;
        let d2 = d * d;
        s2 += d2.as_f64();
        s3 += (d2 * d).as_f64();
        s4 += (d2 * d2).as_f64();
    }
    for i in 0..LANES {
        s2 += m2[i].as_f64();
        s3 += m3[i].as_f64();
        s4 += m4[i].as_f64();
    }
    let (c2, c3, c4) = (s2 / nf, s3 / nf, s4 / nf);
    let var = c2 * scale * scale;
    let std = var.sqrt();
    let rms = (var + mean * mean).sqrt();
    TimeStats {
        mean,
        rms,
        std,
        peak,
        crest: ratio(peak, rms),
        kurtosis: ratio(c4, c2 * c2),
        skewness: ratio(c3, c2 * c2.sqrt()),
        shape_factor: ratio(rms, mean_abs),
        impulse_factor: ratio(peak, mean_abs),
    }
}

/// Lane sums `(Σd², Σd³, Σd⁴)` over the whole chunks of `x`, `d = (x − μ)·inv`. Kept out of line
/// and free of the `f64` conversions and the tail, so LLVM's SLP vectoriser packs it (inside
/// `time_stats` it chose scalar code for the cube).
#[inline(never)]
fn central_moment_lanes<T: Real>(x: &[T], mu: T, inv: T) -> [[T; LANES]; 3] {
    let zero = T::zero();
    let mut m2 = [zero; LANES];
    let mut m3 = [zero; LANES];
    let mut m4 = [zero; LANES];
    for c in x.chunks_exact(LANES) {
        for i in 0..LANES {
            let d = (c[i] - mu) * inv;
            let d2 = d * d;
            m2[i] = m2[i] + d2;
            m3[i] = m3[i] + d2 * d;
            m4[i] = m4[i] + d2 * d2;
        }
    }
    [m2, m3, m4]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::Rng;
    use proptest::prelude::*;

    fn naive(x: &[f64]) -> TimeStats {
        let n = x.len() as f64;
        let mean = x.iter().sum::<f64>() / n;
        let m = |k: i32| x.iter().map(|v| (v - mean).powi(k)).sum::<f64>() / n;
        let rms = (x.iter().map(|v| v * v).sum::<f64>() / n).sqrt();
        let peak = x.iter().fold(0.0f64, |a, v| a.max(v.abs()));
        let ma = x.iter().map(|v| v.abs()).sum::<f64>() / n;
        TimeStats {
            mean,
            rms,
            std: m(2).sqrt(),
            peak,
            crest: peak / rms,
            kurtosis: m(4) / m(2).powi(2),
            skewness: m(3) / m(2).powf(1.5),
            shape_factor: rms / ma,
            impulse_factor: peak / ma,
        }
    }

    fn close(a: &TimeStats, b: &TimeStats, tol: f64) {
        let pairs = [
            (a.mean, b.mean),
            (a.rms, b.rms),
            (a.std, b.std),
            (a.peak, b.peak),
            (a.crest, b.crest),
            (a.kurtosis, b.kurtosis),
            (a.skewness, b.skewness),
            (a.shape_factor, b.shape_factor),
            (a.impulse_factor, b.impulse_factor),
        ];
        for (i, (u, v)) in pairs.iter().enumerate() {
            assert!(
                (u - v).abs() <= tol * (1.0 + v.abs()),
                "field {i}: {u} vs {v}\n{a:?}\n{b:?}"
            );
        }
    }

    #[test]
    fn matches_naive_on_skewed_noise() {
        let mut r = Rng::new(7);
        let x: Vec<f64> = (0..10_007)
            .map(|_| 0.3 + r.gaussian() + 0.2 * r.gaussian().powi(2))
            .collect();
        close(&time_stats(&x), &naive(&x), 1e-10);
        let xf: Vec<f32> = x.iter().map(|&v| v as f32).collect();
        close(&time_stats(&xf), &naive(&x), 1e-4);
    }

    #[test]
    fn sine_known_values() {
        let n = 12_000;
        let x: Vec<f64> = (0..n)
            .map(|i| 2.0 * (2.0 * std::f64::consts::PI * 50.0 * i as f64 / 12_000.0).sin())
            .collect();
        let s = time_stats(&x);
        assert!(s.mean.abs() < 1e-12);
        assert!((s.rms - 2.0 / 2f64.sqrt()).abs() < 1e-9);
        assert!((s.kurtosis - 1.5).abs() < 1e-9);
        assert!((s.crest - 2f64.sqrt()).abs() < 1e-9);
        assert!(s.skewness.abs() < 1e-9);
        // shape factor of a sine: (A/√2)/(2A/π) = π/(2√2)
        assert!((s.shape_factor - std::f64::consts::PI / (2.0 * 2f64.sqrt())).abs() < 1e-4);
    }

    #[test]
    fn gaussian_kurtosis_is_three() {
        let mut r = Rng::new(1);
        let x: Vec<f32> = (0..200_000).map(|_| r.gaussian() as f32).collect();
        let s = time_stats(&x);
        assert!((s.kurtosis - 3.0).abs() < 0.06, "{s:?}");
        assert!((s.std - 1.0).abs() < 0.01);
    }

    #[test]
    fn degenerate_inputs() {
        assert_eq!(time_stats::<f64>(&[]), TimeStats::default());
        let s = time_stats(&[2.0f64; 17]);
        assert_eq!(
            (s.mean, s.rms, s.std, s.kurtosis, s.skewness),
            (2.0, 2.0, 0.0, 0.0, 0.0)
        );
        let s = time_stats(&[0.0f32; 9]);
        assert_eq!(s, TimeStats::default());
        // No overflow of fourth powers for huge values.
        let x: Vec<f64> = (0..100).map(|i| 1e200 * ((i % 7) as f64 - 3.0)).collect();
        let s = time_stats(&x);
        assert!(s.kurtosis.is_finite() && s.kurtosis > 1.0);
    }

    proptest! {
        #[test]
        fn finite_for_finite_input(x in proptest::collection::vec(-1e6f64..1e6, 0..300)) {
            let s = time_stats(&x);
            for v in [s.mean, s.rms, s.std, s.peak, s.crest, s.kurtosis, s.skewness, s.shape_factor, s.impulse_factor] {
                prop_assert!(v.is_finite());
            }
            if x.len() > 1 && s.std > 0.0 {
                prop_assert!(s.kurtosis >= 1.0 - 1e-9);
                prop_assert!(s.crest >= 1.0 - 1e-9);
            }
        }
    }
}
