//! Analysis settings with documented defaults.
//!
//! Every default below is either the decision grid the evaluation protocol fixes (1.0 s windows every
//! 0.5 s), a physical argument (bearing slip, speed uncertainty), or a stated engineering rule (ISO
//! 10816-1's 25 % change criterion, the false-alarm budget that 99.87 % precision implies). None is
//! fitted to a data set.

use serde::{Deserialize, Serialize};

/// How the envelope band is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BandMode {
    /// Cepstrum pre-whitened signal over the whole analysis band (from `band_lo` to the cut-off).
    /// Robust when the resonance is unknown (Randall & Antoni 2011; Smith & Randall 2015).
    Full,
    /// The band of highest spectral kurtosis (kurtogram), re-selected when the spectrum moves.
    Kurtogram,
}

/// Settings of the vibration analysis. Serialised into model files so a model is reproducible.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AnalysisConfig {
    /// Decision window length in seconds. Default 1.0 (the evaluation protocol's window).
    pub window_s: f64,
    /// Hop between decisions in seconds. Default 0.5.
    pub hop_s: f64,
    /// Anti-alias cut-off as a fraction of the machine's lowest sample rate. Default 0.45
    /// (90 % of the lowest Nyquist frequency: every recording of a machine is band-limited identically,
    /// so neither its rate nor content above the lowest Nyquist frequency can act as a feature).
    pub cutoff_frac: f64,
    /// Envelope band selection. Default `full`.
    pub band_mode: BandMode,
    /// Whether to apply cepstral pre-whitening before the envelope. Default true.
    pub whiten: bool,
    /// Number of harmonics of each fault frequency searched. Default 3.
    pub harmonics: usize,
    /// Relative tolerance of the fault-line search (bearing slip is 1-2 %). Default 0.02.
    pub line_tol: f64,
    /// Relative range around the nominal shaft speed searched by the speed estimator. Default 0.05.
    pub speed_search: f64,
    /// False alarms per healthy hour the thresholds are set for. Default 0.05: at 1 % prevalence
    /// 99.87 % precision needs about 0.1 per hour (DIAGNOSTICS.md), so this leaves a factor of two.
    pub target_false_alarms_per_hour: f64,
    /// Smallest relative rise of the robust vibration level that counts as a change. Default 0.25,
    /// the change ISO 10816-1 calls significant.
    pub min_level_change: f64,
    /// Number of sub-blocks per window for the knock-robust level (median of sub-block RMS). Default 8.
    pub subblocks: usize,
    /// Number of white-noise windows simulated to learn the null distribution of the line statistics.
    /// Default 256.
    pub null_windows: usize,
}

impl Default for AnalysisConfig {
    fn default() -> Self {
        Self {
            window_s: 1.0,
            hop_s: 0.5,
            cutoff_frac: 0.45,
            band_mode: BandMode::Full,
            whiten: true,
            harmonics: 3,
            line_tol: 0.02,
            speed_search: 0.05,
            target_false_alarms_per_hour: 0.05,
            min_level_change: 0.25,
            subblocks: 8,
            null_windows: 256,
        }
    }
}

impl AnalysisConfig {
    /// Checks that the settings make sense; the message names the field.
    pub fn validate(&self) -> Result<(), String> {
        let pos = |v: f64, name: &str| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(format!("{name} must be a positive number, got {v}"))
            }
        };
        pos(self.window_s, "window_s")?;
        pos(self.hop_s, "hop_s")?;
        pos(self.line_tol, "line_tol")?;
        pos(self.speed_search, "speed_search")?;
        pos(self.target_false_alarms_per_hour, "target_false_alarms_per_hour")?;
        pos(self.min_level_change, "min_level_change")?;
        if !(self.cutoff_frac > 0.05 && self.cutoff_frac < 0.5) {
            return Err(format!("cutoff_frac must be in (0.05, 0.5), got {}", self.cutoff_frac));
        }
        if self.harmonics == 0 || self.harmonics > 20 {
            return Err(format!("harmonics must be in 1..=20, got {}", self.harmonics));
        }
        if self.subblocks == 0 || self.subblocks > 64 {
            return Err(format!("subblocks must be in 1..=64, got {}", self.subblocks));
        }
        if self.null_windows < 32 {
            return Err(format!("null_windows must be at least 32, got {}", self.null_windows));
        }
        Ok(())
    }

    /// The per-decision false-alarm probability that the hourly target implies.
    pub fn per_decision_alpha(&self) -> f64 {
        let decisions_per_hour = 3600.0 / self.hop_s;
        (self.target_false_alarms_per_hour / decisions_per_hour).clamp(1e-12, 0.5)
    }
}
