//! The spectrum view of an asset: the amplitude spectrum and the squared-envelope spectrum of its latest
//! vibration block (`fos_signal::envelope::EnvelopePlan`, the very chain the diagnostics use), with the
//! bearing's fault frequencies marked (`fos_signal::kinematics::FaultOrders` at the shaft speed refined
//! from the block's own spectrum).
//!
//! - The block's last `2^k` samples (at most [`MAX_SAMPLES`]) are analysed, so a long block costs a
//!   bounded FFT.
//! - The envelope band is the asset's configured band, or else the band of highest spectral kurtosis
//!   (`fos_signal::kurtogram`) between 2 × the highest fault line's third harmonic and 0.9 × Nyquist,
//!   at least 3 × that line wide (the envelope of a band shows modulation up to about its width).
//! - Both spectra are reduced to at most `max_points` points by keeping each group's maximum, so peaks
//!   survive; the envelope spectrum is cut at 5 × the highest fault frequency (where its lines are).

use fos_core::BearingGeometry;
use fos_historian::WaveformBlock;
use fos_signal::envelope::{EnvelopeOptions, EnvelopeOutput, EnvelopePlan};
use fos_signal::kinematics::FaultOrders;
use fos_signal::kurtogram::KurtogramPlan;
use serde::Serialize;

use crate::plant::VibrationInfo;

/// Most samples analysed (the block's last ones).
pub const MAX_SAMPLES: usize = 1 << 17;

/// A reduced spectrum: `amplitude[i]` is the largest amplitude in `[f0 + i·df, f0 + (i+1)·df)`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Series {
    /// Frequency of the first point, Hz.
    pub f0: f64,
    /// Spacing, Hz.
    pub df: f64,
    /// Amplitudes.
    pub amplitude: Vec<f64>,
}

/// A fault frequency and its harmonics.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Marker {
    /// `shaft`, `outer`, `inner`, `ball` (2·BSF, the impact rate) or `cage`.
    pub family: &'static str,
    /// The fundamental, Hz.
    pub hz: f64,
    /// Harmonics 1, 2, 3, Hz.
    pub harmonics: Vec<f64>,
}

/// The spectrum view of one block.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SpectrumView {
    /// The waveform channel.
    pub channel: String,
    /// The block's content hash (what findings cite).
    pub block_hash: String,
    /// The block's first sample, RFC 3339.
    pub block_start: String,
    /// Sample rate, Hz.
    pub rate_hz: f64,
    /// Samples analysed (the block's last ones).
    pub samples: usize,
    /// Shaft speed used, Hz.
    pub shaft_hz: f64,
    /// Whether it was refined from the spectrum (else the nominal speed).
    pub shaft_estimated: bool,
    /// The envelope band, Hz.
    pub band_hz: (f64, f64),
    /// Whether the band came from the kurtogram (else the asset's configuration).
    pub band_from_kurtogram: bool,
    /// Spectral kurtosis of the band (0 for Gaussian noise).
    pub envelope_kurtosis: f64,
    /// The amplitude spectrum up to Nyquist.
    pub spectrum: Series,
    /// The squared-envelope spectrum of the band.
    pub envelope_spectrum: Series,
    /// Fault frequencies to mark on both.
    pub markers: Vec<Marker>,
}

/// Why a spectrum cannot be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SpectrumError(pub String);

fn err(e: impl std::fmt::Display) -> SpectrumError {
    SpectrumError(e.to_string())
}

/// Reduces `x` (bin width `df` from 0 Hz) to at most `max_points` points up to `f_max` Hz.
fn reduce(x: &[f64], df: f64, f_max: f64, max_points: usize) -> Series {
    let n = ((f_max / df).floor() as usize + 1).min(x.len());
    let step = n.div_ceil(max_points.max(1)).max(1);
    let amplitude = x[..n].chunks(step).map(|c| c.iter().copied().fold(0.0, f64::max)).collect();
    Series { f0: 0.0, df: df * step as f64, amplitude }
}

/// The fault frequencies of `geometry` at `shaft_hz`.
pub fn markers(geometry: &BearingGeometry, shaft_hz: f64) -> Result<Vec<Marker>, SpectrumError> {
    let f = FaultOrders::try_from_geometry(geometry).map_err(err)?.hz(shaft_hz);
    let mk = |family, hz: f64| Marker { family, hz, harmonics: (1..=3).map(|k| k as f64 * hz).collect() };
    Ok(vec![mk("shaft", shaft_hz), mk("outer", f.outer), mk("inner", f.inner), mk("ball", 2.0 * f.ball), mk("cage", f.cage)])
}

/// The spectrum view of `block` for an asset with vibration `vib`, each spectrum in at most
/// `max_points` points.
pub fn view(block: &WaveformBlock, vib: &VibrationInfo, max_points: usize) -> Result<SpectrumView, SpectrumError> {
    let fs = block.rate_hz;
    if !(fs.is_finite() && fs > 0.0) {
        return Err(SpectrumError(format!("block of {} has no usable sample rate ({fs} Hz)", block.channel)));
    }
    if !(vib.shaft_hz.is_finite() && vib.shaft_hz > 0.0) {
        return Err(SpectrumError(format!("the asset's shaft speed {} Hz is not a positive number", vib.shaft_hz)));
    }
    vib.bearing.validate().map_err(|e| SpectrumError(format!("the asset's bearing: {e}")))?;
    let len = block.samples.len();
    if len < 64 {
        return Err(SpectrumError(format!("block of {} has {len} samples; at least 64 are needed", block.channel)));
    }
    let m = len.min(MAX_SAMPLES);
    let n = 1usize << (usize::BITS - 1 - m.leading_zeros());
    let x = &block.samples[len - n..];
    if x.iter().any(|v| !v.is_finite()) {
        return Err(SpectrumError(format!("block {} holds a non-finite sample", block.content_hash())));
    }
    let nyquist = fs / 2.0;
    let mut plan = EnvelopePlan::<f64>::new(n).map_err(err)?;
    let mut out = EnvelopeOutput::new(&plan);

    // The raw spectrum first (any band will do for it), to refine the shaft speed.
    let probe = EnvelopeOptions { band_lo_hz: 0.0, band_hi_hz: nyquist, fs, whiten: false };
    plan.process(x, &probe, &mut out).map_err(err)?;
    let spectrum_df = out.spectrum_df;
    let (shaft_hz, shaft_estimated) = match fos_signal::speed::estimate_shaft_hz(&out.spectrum, spectrum_df, vib.shaft_hz, 0.05, 5) {
        Some(s) if s.harmonics_found >= 2 && s.hz.is_finite() && s.hz > 0.0 => (s.hz, true),
        _ => (vib.shaft_hz, false),
    };
    let spectrum = reduce(&out.spectrum, spectrum_df, nyquist, max_points);
    let markers = markers(&vib.bearing, shaft_hz)?;
    let top = markers.iter().filter(|m| m.family != "shaft").map(|m| m.hz).fold(shaft_hz, f64::max);

    let (band, from_kurtogram) = match vib.band_hz {
        Some((lo, hi)) if lo.is_finite() && hi.is_finite() && 0.0 <= lo && lo < hi => ((lo, hi.min(nyquist)), false),
        Some((lo, hi)) => return Err(SpectrumError(format!("the asset's band [{lo}, {hi}] Hz is not an interval"))),
        None => {
            let lo = (2.0 * 3.0 * top).min(0.5 * nyquist);
            let hi = 0.9 * nyquist;
            let levels = ((n as f64).log2() as usize).saturating_sub(5).clamp(1, 8);
            let mut k = KurtogramPlan::<f64>::new(n, fs, levels).map_err(err)?;
            // The envelope of a band shows modulation up to about its width: wide enough for three
            // harmonics of the highest fault line.
            k.set_min_bandwidth_hz((3.0 * top).min(0.45 * (hi - lo))).map_err(err)?;
            match k.best_band(x, lo, hi) {
                Ok(b) => ((b.lo_hz, b.hi_hz), true),
                Err(_) => ((lo, hi), true),
            }
        }
    };
    let opts = EnvelopeOptions { band_lo_hz: band.0, band_hi_hz: band.1, fs, whiten: false };
    plan.process(x, &opts, &mut out).map_err(err)?;
    let envelope_spectrum = reduce(&out.ses, out.ses_df, 5.0 * top, max_points);
    Ok(SpectrumView {
        channel: block.channel.clone(),
        block_hash: block.content_hash(),
        block_start: fos_prov::format_time(u64::try_from(block.start_ns / 1_000_000).unwrap_or(0)),
        rate_hz: fs,
        samples: n,
        shaft_hz,
        shaft_estimated,
        band_hz: (out.band_lo_hz, out.band_hi_hz),
        band_from_kurtogram: from_kurtogram,
        envelope_kurtosis: out.envelope_kurtosis,
        spectrum,
        envelope_spectrum,
        markers,
    })
}

#[cfg(test)]
mod tests;
