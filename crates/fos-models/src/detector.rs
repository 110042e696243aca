//! The per-machine detector and diagnoser: calibration, scores, thresholds and verdicts.
//!
//! A window's **score** is the largest of six normalised indicators; a decision is "fault" when it
//! exceeds 1:
//! - the rise of the knock-robust vibration level over the machine's baseline, in units of
//!   `max(ln(1 + min_level_change), z·σ_baseline)`, where `z` is the normal quantile of the
//!   per-indicator false-alarm budget (only when the machine has baseline rows);
//! - the rise of the knock-robust impulsiveness (median over sub-blocks of the envelope band's
//!   spectral kurtosis) over the baseline, in units of the rise white noise reaches through the same
//!   chain with the budget (Gumbel fit to simulated windows), or of `z·σ_baseline` if larger (only
//!   with baseline rows: gears, valves and process noise are impulsive too);
//! - for each fault family, the excess of its line statistic over its healthy reference (the
//!   baseline median, or the white-noise median without baseline), in units of the excess that
//!   white noise run through the very same chain reaches with the budget, or of the baseline spread
//!   if that is larger.
//!
//! None reacts to isolated knocks: level and impulsiveness are medians over sub-blocks (a knock
//! touches one or two), and a single impact has a flat envelope spectrum that raises peaks and floor
//! alike.
//!
//! The **diagnosis** is the family with the largest normalised excess: physics evidence (which
//! fault-frequency family, its harmonics and sidebands), so it carries to bearings never seen.

use crate::config::AnalysisConfig;
use crate::features::{default_band_lo_hz, StreamAnalyzer, WindowFeatures, FAMILIES};
use crate::rng::Rng;
use crate::stats::{gumbel_upper_quantile, mad_sigma, median, normal_quantile};
use crate::Error;
use fos_core::{BearingGeometry, Label};
use fos_signal::kinematics::FaultOrders;
use serde::{Deserialize, Serialize};

/// The version written into model files; bumped on any incompatible change.
pub const MODEL_FORMAT_VERSION: u32 = 2;

/// Healthy statistics of a machine, from its baseline windows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    /// Number of baseline windows.
    pub windows: usize,
    /// Median of ln(level).
    pub log_level_median: f64,
    /// Robust spread of ln(level).
    pub log_level_sigma: f64,
    /// Median of the windows' knock-robust impulsiveness.
    pub impulsiveness_median: f64,
    /// Robust spread of the windows' impulsiveness.
    pub impulsiveness_sigma: f64,
    /// Median line statistic per family.
    pub family_median: [f64; 4],
    /// Robust spread of the line statistic per family.
    pub family_sigma: [f64; 4],
}

/// The white-noise reference of the line statistics for one band.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NullModel {
    /// Envelope band it was simulated for, Hz.
    pub band_lo_hz: f64,
    /// Envelope band it was simulated for, Hz.
    pub band_hi_hz: f64,
    /// Median statistic per family under white noise.
    pub median: [f64; 4],
    /// Statistic per family that white noise exceeds with the per-family false-alarm budget.
    pub threshold: [f64; 4],
    /// Median impulsiveness under white noise.
    pub impulsiveness_median: f64,
    /// Impulsiveness that white noise exceeds with the per-indicator false-alarm budget.
    pub impulsiveness_threshold: f64,
}

/// A calibrated model of one machine (one sensor position).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MachineModel {
    /// Model-file format version ([`MODEL_FORMAT_VERSION`]).
    pub format_version: u32,
    /// The machine's name.
    pub machine: String,
    /// The settings the model was built with.
    pub config: AnalysisConfig,
    /// The bearing geometry.
    pub geometry: BearingGeometry,
    /// Common analysis rate of the machine (its lowest recording rate), Hz.
    pub analysis_fs: f64,
    /// Anti-alias cut-off applied to every recording of the machine, Hz.
    pub cutoff_hz: f64,
    /// Lower edge of the envelope band, Hz.
    pub band_lo_hz: f64,
    /// Nominal shaft speed the model was calibrated at, Hz.
    pub nominal_shaft_hz: f64,
    /// Whether shaft speed is estimated from the signal.
    pub estimate_speed: bool,
    /// White-noise reference for the full band.
    pub null: NullModel,
    /// Healthy statistics, when the machine had baseline rows.
    pub baseline: Option<Baseline>,
}

/// The verdict on one window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// Anomaly score; a fault when above 1.
    pub score: f64,
    /// Whether the window is judged faulty.
    pub faulty: bool,
    /// The most likely fault family (even when not faulty: the family with the largest excess).
    pub family: Label,
    /// Whether the family's own line evidence exceeds its threshold (otherwise the fault was found by
    /// its level alone and the family is the best guess among weak evidence).
    pub family_confident: bool,
    /// The predicted label: `normal` when not faulty, else `family`.
    pub predicted: Label,
    /// Normalised level rise (score contribution of the vibration level).
    pub level_score: f64,
    /// Normalised rise of the knock-robust impulsiveness over the baseline (0 without one).
    pub impulsiveness_score: f64,
    /// Normalised excess per family, in [`FAMILIES`] order.
    pub family_scores: [f64; 4],
    /// Which indicator set the score: `level` or a family name.
    pub driver: String,
}

impl MachineModel {
    /// A model for `machine` at analysis rate `analysis_fs`, before baseline calibration.
    /// Simulates the white-noise reference of the line statistics (deterministic, seeded).
    pub fn new(
        machine: &str,
        config: &AnalysisConfig,
        geometry: BearingGeometry,
        analysis_fs: f64,
        nominal_shaft_hz: f64,
        estimate_speed: bool,
    ) -> Result<Self, Error> {
        config.validate().map_err(Error::Config)?;
        geometry.validate().map_err(|e| Error::Config(format!("machine {machine}: {e}")))?;
        if !(analysis_fs.is_finite() && analysis_fs > 0.0) {
            return Err(Error::Config(format!("machine {machine}: analysis rate must be positive, got {analysis_fs}")));
        }
        if !(nominal_shaft_hz.is_finite() && nominal_shaft_hz > 0.0) {
            return Err(Error::Config(format!("machine {machine}: shaft speed must be positive, got {nominal_shaft_hz}")));
        }
        let orders = FaultOrders::from_geometry(&geometry);
        let cutoff_hz = config.cutoff_frac * analysis_fs;
        let band_lo_hz = default_band_lo_hz(&orders, nominal_shaft_hz, config.harmonics);
        if band_lo_hz >= 0.5 * cutoff_hz {
            return Err(Error::Config(format!(
                "machine {machine}: the envelope band would start at {band_lo_hz:.0} Hz, too close to the \
                 anti-alias cut-off {cutoff_hz:.0} Hz; the sample rate {analysis_fs} Hz is too low for this \
                 bearing and speed"
            )));
        }
        let mut m = Self {
            format_version: MODEL_FORMAT_VERSION,
            machine: machine.to_string(),
            config: config.clone(),
            geometry,
            analysis_fs,
            cutoff_hz,
            band_lo_hz,
            nominal_shaft_hz,
            estimate_speed,
            null: NullModel {
                band_lo_hz,
                band_hi_hz: cutoff_hz,
                median: [0.0; 4],
                threshold: [0.0; 4],
                impulsiveness_median: 0.0,
                impulsiveness_threshold: 0.0,
            },
            baseline: None,
        };
        m.null = m.simulate_null()?;
        Ok(m)
    }

    /// The fault orders of the bearing.
    pub fn orders(&self) -> FaultOrders {
        FaultOrders::from_geometry(&self.geometry)
    }

    /// A stream analyzer for one recording of this machine at shaft speed `nominal_shaft_hz`.
    pub fn analyzer(&self, nominal_shaft_hz: f64) -> Result<StreamAnalyzer, Error> {
        StreamAnalyzer::new(
            &self.config,
            self.analysis_fs,
            self.cutoff_hz,
            self.orders(),
            nominal_shaft_hz,
            self.band_lo_hz,
            self.estimate_speed,
        )
    }

    fn family_alpha(&self) -> f64 {
        // Six indicators share the per-decision budget (Bonferroni): level, impulsiveness, four families.
        self.config.per_decision_alpha() / 6.0
    }

    /// Runs `null_windows` white-noise windows through the very chain of this model, in two
    /// seeded halves on two threads (deterministic whatever the machine's core count).
    fn simulate_null(&self) -> Result<NullModel, Error> {
        let half = self.config.null_windows.div_ceil(2);
        let run = |part: u64| -> Result<[Vec<f64>; 5], Error> {
            let mut an = StreamAnalyzer::new(
                &self.config,
                self.analysis_fs,
                self.cutoff_hz,
                self.orders(),
                self.nominal_shaft_hz,
                self.band_lo_hz,
                false,
            )?;
            let n = an.window_len();
            let mut rng = Rng::new(0x05EE_DF05 ^ (n as u64) ^ (part << 32));
            let mut x = vec![0.0; n];
            let mut stats: [Vec<f64>; 5] = Default::default();
            for _ in 0..half {
                for v in x.iter_mut() {
                    *v = rng.gauss();
                }
                let f = an.analyze(&x);
                for (i, s) in f.statistics().iter().enumerate() {
                    stats[i].push(*s);
                }
                stats[4].push(f.impulsiveness);
            }
            Ok(stats)
        };
        let (a, b) = std::thread::scope(|sc| {
            let h = sc.spawn(|| run(1));
            let a = run(0);
            (a, h.join())
        });
        let mut stats = a?;
        let other = b.map_err(|_| Error::Config("the null-model simulation thread panicked".into()))??;
        for (s, o) in stats.iter_mut().zip(other) {
            s.extend(o);
        }
        let alpha = self.family_alpha();
        let mut med = [0.0; 4];
        let mut thr = [0.0; 4];
        for i in 0..4 {
            med[i] = median(&stats[i]);
            thr[i] = gumbel_upper_quantile(&stats[i], alpha);
        }
        Ok(NullModel {
            band_lo_hz: self.band_lo_hz,
            band_hi_hz: self.cutoff_hz,
            median: med,
            threshold: thr,
            impulsiveness_median: median(&stats[4]),
            impulsiveness_threshold: gumbel_upper_quantile(&stats[4], alpha),
        })
    }

    /// Calibrates on the features of the machine's baseline windows.
    pub fn calibrate(&mut self, baseline: &[WindowFeatures]) -> Result<(), Error> {
        if baseline.is_empty() {
            self.baseline = None;
            return Ok(());
        }
        let logs: Vec<f64> = baseline.iter().map(|f| f.level.max(1e-300).ln()).collect();
        let mut fm = [0.0; 4];
        let mut fsig = [0.0; 4];
        for i in 0..4 {
            let v: Vec<f64> = baseline.iter().map(|f| f.statistics()[i]).collect();
            fm[i] = median(&v);
            fsig[i] = mad_sigma(&v);
        }
        let imp: Vec<f64> = baseline.iter().map(|f| f.impulsiveness).collect();
        self.baseline = Some(Baseline {
            windows: baseline.len(),
            log_level_median: median(&logs),
            log_level_sigma: mad_sigma(&logs),
            impulsiveness_median: median(&imp),
            impulsiveness_sigma: mad_sigma(&imp),
            family_median: fm,
            family_sigma: fsig,
        });
        Ok(())
    }

    /// Judges one window.
    pub fn decide(&self, f: &WindowFeatures) -> Verdict {
        let z = normal_quantile(1.0 - self.family_alpha());
        let stats = f.statistics();
        let mut family_scores = [0.0; 4];
        for i in 0..4 {
            let null_excess = (self.null.threshold[i] - self.null.median[i]).max(1e-6);
            let (reference, unit) = match &self.baseline {
                Some(b) => (b.family_median[i], null_excess.max(z * b.family_sigma[i])),
                None => (self.null.median[i], null_excess),
            };
            family_scores[i] = (stats[i] - reference) / unit;
        }
        let level_score = match &self.baseline {
            Some(b) => {
                let unit = (1.0 + self.config.min_level_change).ln().max(z * b.log_level_sigma);
                (f.level.max(1e-300).ln() - b.log_level_median) / unit
            }
            None => 0.0,
        };
        let (mut best, mut fam_score) = (0usize, f64::NEG_INFINITY);
        for (i, s) in family_scores.iter().enumerate() {
            if *s > fam_score {
                fam_score = *s;
                best = i;
            }
        }
        // Lines at the cage frequency are what a damaged rolling element carried through the load zone
        // produces (its impacts are modulated at FTF; Randall & Antoni 2011): a cage fault is named
        // only when the FTF lines stand without any rise of the 2·BSF family.
        if FAMILIES[best] == Label::Cage && family_scores[2] > 0.0 {
            best = 2;
        }
        let family = FAMILIES[best];
        let family_confident = family_scores[best] > 1.0;
        let imp_unit = (self.null.impulsiveness_threshold - self.null.impulsiveness_median).max(1e-6);
        let impulsiveness_score = match &self.baseline {
            Some(b) => (f.impulsiveness - b.impulsiveness_median) / imp_unit.max(z * b.impulsiveness_sigma),
            // Without a baseline a machine's own impulsiveness is unknown (gears, valves and
            // process noise are impulsive too): only the fault families' lines are judged.
            None => 0.0,
        };
        let (mut score, mut driver) = (fam_score, family.as_str().to_string());
        if level_score > score {
            (score, driver) = (level_score, "level".to_string());
        }
        if impulsiveness_score > score {
            (score, driver) = (impulsiveness_score, "impulsiveness".to_string());
        }
        let faulty = score > 1.0;
        Verdict {
            score,
            faulty,
            family,
            family_confident,
            predicted: if faulty { family } else { Label::Normal },
            level_score,
            impulsiveness_score,
            family_scores,
            driver,
        }
    }

    /// Serialises the model to JSON (the versioned model file).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// Reads a model file written by [`MachineModel::to_json`], checking its version.
    pub fn from_json(text: &str) -> Result<Self, Error> {
        let v: serde_json::Value = serde_json::from_str(text).map_err(|e| Error::ModelFile(e.to_string()))?;
        let ver = v.get("format_version").and_then(|x| x.as_u64());
        if ver != Some(MODEL_FORMAT_VERSION as u64) {
            return Err(Error::ModelFile(format!(
                "model format_version {ver:?} is not supported by this FOS (expects {MODEL_FORMAT_VERSION}); \
                 rebuild the model with this version"
            )));
        }
        let m: Self = serde_json::from_value(v).map_err(|e| Error::ModelFile(e.to_string()))?;
        m.config.validate().map_err(Error::ModelFile)?;
        Ok(m)
    }
}
