//! Real cepstrum and cepstral pre-whitening.
//!
//! The real cepstrum is `c[q] = ifft(ln|fft(x)|)[q]` (quefrency `q/fs` seconds). Families of
//! harmonics or sidebands with spacing `Δf` become peaks at quefrency `1/Δf` ("rahmonics").
//!
//! Pre-whitening (Sawalhi & Randall 2011) zeroes the cepstrum everywhere except quefrency 0 and
//! transforms back, keeping the phase: `X_w[k] = G·X[k]/|X[k]|` with `G = exp(c[0])`, the geometric
//! mean of `|X|`. Every discrete line (shaft and gear-mesh harmonics) and every resonance is
//! flattened, so what remains impulsive in the time domain is what was impulsive *and* broadband:
//! bearing impacts. The DC bin is set to 0 (the output is demeaned), bins with `|X| ≤ ε·max|X|` are
//! set to 0 and left out of `G`.
//!
//! These are one-shot conveniences that plan an FFT per call (they allocate); the hot path uses the
//! in-place band version inside [`crate::envelope::EnvelopePlan`].

use crate::{Real, SignalError};
use num_complex::Complex;
use realfft::RealFftPlanner;

fn spectrum_of<T: Real>(x: &[T]) -> Result<(Vec<Complex<T>>, RealFftPlanner<T>), SignalError> {
    if x.len() < 2 {
        return Err(SignalError::param(
            "x",
            format!("need at least 2 samples, got {}", x.len()),
        ));
    }
    let mut planner = RealFftPlanner::<T>::new();
    let r2c = planner.plan_fft_forward(x.len());
    let mut work = x.to_vec();
    let mut spec = r2c.make_output_vec();
    r2c.process(&mut work, &mut spec)?;
    Ok((spec, planner))
}

fn inverse<T: Real>(
    planner: &mut RealFftPlanner<T>,
    spec: &mut [Complex<T>],
    out: &mut [T],
) -> Result<(), SignalError> {
    let n = out.len();
    spec[0].im = T::zero();
    if n % 2 == 0 {
        if let Some(last) = spec.last_mut() {
            last.im = T::zero();
        }
    }
    planner.plan_fft_inverse(n).process(spec, out)?;
    let inv = T::of(1.0 / n as f64);
    for v in out.iter_mut() {
        *v = *v * inv;
    }
    Ok(())
}

/// Real cepstrum of `x` (length ≥ 2), same length as `x`. Near-zero magnitudes are floored at
/// `ε·max|X|` before the logarithm.
pub fn real_cepstrum<T: Real>(x: &[T]) -> Result<Vec<T>, SignalError> {
    let (mut spec, mut planner) = spectrum_of(x)?;
    let max = spec
        .iter()
        .fold(T::zero(), |m, z| m.max(z.re * z.re + z.im * z.im))
        .sqrt();
    let floor = (max * T::epsilon()).max(T::min_positive_value());
    for z in spec.iter_mut() {
        let m = (z.re * z.re + z.im * z.im).sqrt().max(floor);
        *z = Complex::new(m.ln(), T::zero());
    }
    let mut out = vec![T::zero(); x.len()];
    inverse(&mut planner, &mut spec, &mut out)?;
    Ok(out)
}

/// Cepstral pre-whitening of `x` into `out` (same length, ≥ 2).
pub fn prewhiten<T: Real>(x: &[T], out: &mut [T]) -> Result<(), SignalError> {
    SignalError::check_len("out", x.len(), out.len())?;
    let n = x.len();
    let (mut spec, mut planner) = spectrum_of(x)?;
    let max2 = spec
        .iter()
        .fold(T::zero(), |m, z| m.max(z.re * z.re + z.im * z.im));
    let floor2 = max2 * T::epsilon() * T::epsilon();
    // Geometric mean of |X| over the two-sided spectrum (interior bins count twice).
    let (mut lsum, mut w) = (0.0f64, 0.0f64);
    let last = spec.len() - 1;
    for (k, z) in spec.iter().enumerate().skip(1) {
        let p = z.re * z.re + z.im * z.im;
        if p > floor2 && p > T::zero() {
            let wk = if k == last && n % 2 == 0 { 1.0 } else { 2.0 };
            lsum += wk * 0.5 * p.as_f64().ln();
            w += wk;
        }
    }
    let g = if w > 0.0 {
        T::of((lsum / w).exp())
    } else {
        T::zero()
    };
    spec[0] = Complex::new(T::zero(), T::zero());
    for z in spec.iter_mut().skip(1) {
        let p = z.re * z.re + z.im * z.im;
        *z = if p > floor2 && p > T::zero() {
            *z * (g / p.sqrt())
        } else {
            Complex::new(T::zero(), T::zero())
        };
    }
    inverse(&mut planner, &mut spec, out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spectrum::SpectrumPlan;
    use crate::stats::time_stats;
    use crate::synth::Rng;

    #[test]
    fn cepstrum_of_a_harmonic_family_peaks_at_its_period() {
        // Harmonics every 50 Hz at fs = 10 kHz → rahmonic at quefrency 1/50 s = 200 samples.
        let (n, fs) = (10_000, 10_000.0);
        let mut r = Rng::new(4);
        let x: Vec<f64> = (0..n)
            .map(|i| {
                let t = i as f64 / fs;
                (1..40)
                    .map(|h| (2.0 * std::f64::consts::PI * 50.0 * h as f64 * t).sin())
                    .sum::<f64>()
                    + 0.1 * r.gaussian()
            })
            .collect();
        let c = real_cepstrum(&x).unwrap();
        assert_eq!(c.len(), n);
        let (q, max) = c[20..1000]
            .iter()
            .enumerate()
            .fold(
                (0, f64::MIN),
                |b, (i, &v)| if v > b.1 { (i + 20, v) } else { b },
            );
        // Rahmonics at every multiple of 200 samples, of about equal height.
        assert_eq!(q % 200, 0, "peak at {q}");
        assert!(c[200] > 0.8 * max);
        let off: f64 = c[250..350].iter().map(|v| v.abs()).fold(0.0, f64::max);
        assert!(c[200] > 3.0 * off, "{} vs {off}", c[200]);
        // Symmetric (real, even) cepstrum.
        assert!((c[123] - c[n - 123]).abs() < 1e-9);
    }

    #[test]
    fn prewhitening_flattens_the_spectrum_and_keeps_impulses() {
        let (n, fs) = (8_192, 8_192.0);
        let mut r = Rng::new(8);
        let mut x: Vec<f32> = (0..n).map(|_| 0.01 * r.gaussian() as f32).collect();
        for (i, v) in x.iter_mut().enumerate() {
            *v += 10.0 * (2.0 * std::f32::consts::PI * 300.0 * i as f32 / fs as f32).sin();
        }
        for k in 0..8 {
            x[500 + k * 1000] += 3.0;
        }
        let mut w = vec![0.0f32; n];
        prewhiten(&x, &mut w).unwrap();
        let mut p = SpectrumPlan::<f32>::new(n).unwrap();
        let mut m = vec![0.0f32; p.bins()];
        p.magnitude(&w, &mut m).unwrap();
        // The 300 Hz line no longer dominates its neighbourhood.
        let mut around = m[200..400].to_vec();
        around.sort_by(f32::total_cmp);
        let median = around[100];
        assert!(m[300] < 4.0 * median, "{} vs median {}", m[300], median);
        assert!(time_stats(&x).kurtosis < 2.0);
        assert!(time_stats(&w).kurtosis > 20.0, "{:?}", time_stats(&w));
    }

    #[test]
    fn bad_parameters() {
        assert!(real_cepstrum::<f64>(&[1.0]).is_err());
        let mut o = [0.0; 3];
        assert!(prewhiten(&[1.0, 2.0], &mut o).is_err());
        let mut o = [1.0; 4];
        prewhiten(&[0.0; 4], &mut o).unwrap();
        assert_eq!(o, [0.0; 4]);
        let c = real_cepstrum(&[0.0f64; 8]).unwrap();
        assert!(c.iter().all(|v| v.is_finite()));
    }
}
