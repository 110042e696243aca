//! Hann-windowed single-sided amplitude spectrum.
//!
//! With the periodic Hann window `w[i] = ½ − ½·cos(2πi/n)` and `X = rfft(w·x)`, the output is
//! `A[k] = c_k · |X[k]| / Σw` with `c_k = 2` for `0 < k < n/2` and `c_k = 1` at DC and (even `n`)
//! Nyquist. A sine of amplitude `A` centred on bin `k` therefore reads `A` at `k` (a sine between
//! bins reads up to 1.42 dB less: the Hann scalloping loss). Bin `k` is at `k · fs / n` Hz
//! ([`bin_hz`]). Magnitudes use `sqrt(re² + im²)`, never `hypot`.

use crate::util::{hann, magnitudes};
use crate::{Real, SignalError};
use num_complex::Complex;
use realfft::{RealFftPlanner, RealToComplex};
use std::sync::Arc;

/// Width of one FFT bin, Hz: `fs / n` (0 for `n = 0`).
pub fn bin_hz(n: usize, fs: f64) -> f64 {
    if n == 0 {
        0.0
    } else {
        fs / n as f64
    }
}

/// A reusable Hann-windowed amplitude-spectrum plan for windows of `n` samples.
pub struct SpectrumPlan<T: Real> {
    n: usize,
    fft: Arc<dyn RealToComplex<T>>,
    window: Vec<T>,
    work: Vec<T>,
    spec: Vec<Complex<T>>,
    scratch: Vec<Complex<T>>,
}

impl<T: Real> std::fmt::Debug for SpectrumPlan<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpectrumPlan")
            .field("n", &self.n)
            .finish_non_exhaustive()
    }
}

impl<T: Real> SpectrumPlan<T> {
    /// Plans for windows of `n ≥ 2` samples.
    pub fn new(n: usize) -> Result<Self, SignalError> {
        if n < 2 {
            return Err(SignalError::param(
                "n",
                format!("window length must be at least 2, got {n}"),
            ));
        }
        let fft = RealFftPlanner::<T>::new().plan_fft_forward(n);
        Ok(SpectrumPlan {
            n,
            window: hann(n),
            work: vec![T::zero(); n],
            spec: fft.make_output_vec(),
            scratch: fft.make_scratch_vec(),
            fft,
        })
    }

    /// Window length.
    pub fn len(&self) -> usize {
        self.n
    }

    /// Always false (a plan has at least 2 samples).
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Number of output bins, `n/2 + 1`.
    pub fn bins(&self) -> usize {
        self.n / 2 + 1
    }

    /// Writes the amplitude spectrum of `x` (length `n`) into `out` (length `n/2 + 1`).
    pub fn magnitude(&mut self, x: &[T], out: &mut [T]) -> Result<(), SignalError> {
        SignalError::check_len("x", self.n, x.len())?;
        SignalError::check_len("out", self.bins(), out.len())?;
        for ((w, &v), &h) in self.work.iter_mut().zip(x).zip(&self.window) {
            *w = v * h;
        }
        self.fft
            .process_with_scratch(&mut self.work, &mut self.spec, &mut self.scratch)?;
        // Σw = n/2 for the periodic Hann window.
        let two_over_sum = T::of(4.0 / self.n as f64);
        magnitudes(&self.spec, two_over_sum, out);
        halve_edges(out, self.n);
        Ok(())
    }
}

/// Halves DC and (for even `n`) Nyquist, which have no mirror image in a single-sided spectrum.
pub(crate) fn halve_edges<T: Real>(out: &mut [T], n: usize) {
    let half = T::of(0.5);
    if let Some(v) = out.first_mut() {
        *v = *v * half;
    }
    if n % 2 == 0 && out.len() == n / 2 + 1 {
        if let Some(v) = out.last_mut() {
            *v = *v * half;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone<T: Real>(n: usize, fs: f64, f: f64, a: f64, dc: f64) -> Vec<T> {
        (0..n)
            .map(|i| T::of(dc + a * (2.0 * std::f64::consts::PI * f * i as f64 / fs).cos()))
            .collect()
    }

    #[test]
    fn unit_sine_reads_its_amplitude() {
        let (n, fs) = (12_000, 12_000.0);
        let mut p = SpectrumPlan::<f64>::new(n).unwrap();
        let mut out = vec![0.0; p.bins()];
        p.magnitude(&tone(n, fs, 100.0, 2.5, 0.7), &mut out)
            .unwrap();
        assert!((out[100] - 2.5).abs() < 1e-9, "{}", out[100]);
        assert!((out[0] - 0.7).abs() < 1e-9, "dc {}", out[0]);
        assert!(out[99] > 1.2 && out[99] < 1.3); // Hann: neighbours at half amplitude
        assert!(out[110] < 1e-9);
        assert_eq!(bin_hz(n, fs), 1.0);
    }

    #[test]
    fn f32_and_odd_lengths() {
        let (n, fs) = (1001, 1001.0);
        let mut p = SpectrumPlan::<f32>::new(n).unwrap();
        let mut out = vec![0.0f32; p.bins()];
        p.magnitude(&tone(n, fs, 37.0, 1.0, 0.0), &mut out).unwrap();
        // Periodic Hann sums to n/2 exactly only for even n; odd n is within 1/n.
        assert!((out[37] - 1.0).abs() < 2e-3, "{}", out[37]);
    }

    #[test]
    fn bad_parameters() {
        assert!(SpectrumPlan::<f64>::new(0).is_err());
        assert!(SpectrumPlan::<f64>::new(1).is_err());
        let mut p = SpectrumPlan::<f64>::new(16).unwrap();
        let mut out = vec![0.0; 9];
        assert!(p.magnitude(&[0.0; 15], &mut out).is_err());
        assert!(p.magnitude(&[0.0; 16], &mut out[..8]).is_err());
        assert_eq!(bin_hz(0, 1.0), 0.0);
    }
}
