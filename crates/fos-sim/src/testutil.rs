//! Helpers of the unit tests: the envelope analysis FOS runs, applied to simulated blocks.

use fos_signal::envelope::{EnvelopeOptions, EnvelopeOutput, EnvelopePlan};

/// Squared-envelope spectrum (1 Hz bins for a 1 s block) of `x` in the band `res_hz ± 1500 Hz`.
pub(crate) fn ses(x: &[f64], fs: f64, res_hz: f64) -> Vec<f64> {
    let mut plan = EnvelopePlan::<f64>::new(x.len()).unwrap();
    let mut out = EnvelopeOutput::new(&plan);
    let opts = EnvelopeOptions {
        band_lo_hz: (res_hz - 1500.0).max(500.0),
        band_hi_hz: (res_hz + 1500.0).min(0.45 * fs),
        fs,
        whiten: false,
    };
    plan.process(x, &opts, &mut out).unwrap();
    assert!((out.ses_df - fs / x.len() as f64).abs() < 1e-9);
    out.ses.clone()
}

/// Mean of several spectra of equal length.
pub(crate) fn mean(spectra: &[Vec<f64>]) -> Vec<f64> {
    let n = spectra.iter().map(Vec::len).min().unwrap();
    (0..n).map(|k| spectra.iter().map(|s| s[k]).sum::<f64>() / spectra.len() as f64).collect()
}

/// Bin of the largest value in `[lo_hz, hi_hz]` (1 Hz bins).
pub(crate) fn peak_bin(s: &[f64], lo_hz: f64, hi_hz: f64) -> usize {
    let (lo, hi) = (lo_hz.ceil() as usize, (hi_hz.floor() as usize).min(s.len() - 1));
    (lo..=hi).max_by(|&a, &b| s[a].total_cmp(&s[b])).unwrap()
}

/// The line at `f_hz` (largest of the 3 nearest bins) over the median of the bins 3–25 Hz away.
pub(crate) fn line_ratio(s: &[f64], f_hz: f64) -> f64 {
    let k = f_hz.round() as usize;
    let line = s[k - 1].max(s[k]).max(s[k + 1]);
    let mut floor: Vec<f64> = (3..=25).flat_map(|d| [s[k - d], s[k + d]]).collect();
    floor.sort_by(f64::total_cmp);
    line / floor[floor.len() / 2]
}
