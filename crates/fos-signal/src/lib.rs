//! Pure DSP for rolling-element bearing diagnostics, generic over `f32` and `f64`.
//!
//! The chain this crate serves (Randall & Antoni 2011): band-limit and resample every recording
//! identically ([`resample`]), measure time-domain health indicators ([`stats`]), estimate the true
//! shaft speed from the spectrum ([`speed`]), pick the band where impacts excite a resonance by
//! spectral kurtosis ([`kurtogram`]), optionally pre-whiten by cepstrum editing ([`cepstrum`]),
//! and compute the squared-envelope spectrum of that band ([`envelope`]), whose lines sit at the
//! bearing's fault frequencies ([`kinematics`]). [`synth`] makes deterministic synthetic bearing
//! vibration for tests and demos.
//!
//! **Architecture invariants.** No I/O, no async, no threads. Plans (`*Plan`, [`resample::Resampler`])
//! own their FFTs and scratch buffers; their `process`-style methods take `&mut self` and
//! caller-provided outputs and do not allocate per window (the one exception is documented on
//! [`envelope::EnvelopePlan::process`]: the first call for a new band size plans its FFTs). Bad
//! parameters return [`SignalError`]; nothing panics on them.
//!
//! ```
//! use fos_core::BearingGeometry;
//! use fos_signal::envelope::{EnvelopeOptions, EnvelopeOutput, EnvelopePlan};
//! use fos_signal::kinematics::{FaultKind, FaultOrders};
//! use fos_signal::synth::{simulate, BearingSimConfig};
//!
//! // SKF 6205 at 30 Hz with an outer-race defect, 1 s at 12 kHz.
//! let geometry = BearingGeometry { elements: 9, element_d: 0.3126, pitch_d: 1.537, contact_angle_deg: 0.0 };
//! let mut cfg = BearingSimConfig::new(12_000.0, 1.0, 30.0, geometry);
//! cfg.fault = Some((FaultKind::Outer, 1.0));
//! cfg.resonance_hz = 3_000.0;
//! let x = simulate(&cfg)?;
//!
//! let mut plan = EnvelopePlan::<f64>::new(x.len())?;
//! let mut out = EnvelopeOutput::new(&plan);
//! let opts = EnvelopeOptions { band_lo_hz: 2_000.0, band_hi_hz: 4_000.0, fs: 12_000.0, whiten: true };
//! plan.process(&x, &opts, &mut out)?;
//!
//! // The strongest envelope line between 50 and 300 Hz is a harmonic of BPFO = 3.585 × 30 ≈ 107.5 Hz.
//! let bpfo = FaultOrders::from_geometry(&geometry).hz(30.0).outer;
//! let (k, _) = out.ses.iter().enumerate().skip(50).take(250)
//!     .fold((0, 0.0), |b, (k, &v)| if v > b.1 { (k, v) } else { b });
//! let f = k as f64 * out.ses_df;
//! let h = (f / bpfo).round();
//! assert!(h >= 1.0 && (f - h * bpfo).abs() <= 1.5, "peak at {f} Hz");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod cepstrum;
pub mod envelope;
mod error;
pub mod kinematics;
pub mod kurtogram;
pub mod resample;
pub mod spectrum;
pub mod speed;
pub mod stats;
pub mod synth;
mod util;

pub use error::SignalError;

/// The sample type every routine is generic over: implemented for `f32` and `f64`.
///
/// It bundles what `realfft`/`rustfft` need ([`realfft::FftNum`]) with [`num_traits::Float`],
/// plus two lossless-enough conversions used for parameters and results.
pub trait Real:
    realfft::FftNum + num_traits::Float + num_traits::FloatConst + Default + std::fmt::Display
{
    /// Converts an `f64` parameter to this type (rounding for `f32`).
    fn of(v: f64) -> Self;
    /// Widens this value to `f64`.
    fn as_f64(self) -> f64;
}

impl Real for f32 {
    #[inline(always)]
    fn of(v: f64) -> Self {
        v as f32
    }
    #[inline(always)]
    fn as_f64(self) -> f64 {
        self as f64
    }
}

impl Real for f64 {
    #[inline(always)]
    fn of(v: f64) -> Self {
        v
    }
    #[inline(always)]
    fn as_f64(self) -> f64 {
        self
    }
}

#[cfg(test)]
mod tests {
    /// Plans can move to worker threads (and be shared read-only).
    #[test]
    fn plans_are_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<crate::envelope::EnvelopePlan<f32>>();
        check::<crate::envelope::EnvelopePlan<f64>>();
        check::<crate::envelope::EnvelopeOutput<f64>>();
        check::<crate::spectrum::SpectrumPlan<f64>>();
        check::<crate::kurtogram::KurtogramPlan<f32>>();
        check::<crate::resample::Resampler<f64>>();
        check::<crate::SignalError>();
    }
}
