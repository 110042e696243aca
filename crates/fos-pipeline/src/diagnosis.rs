//! What the sources that judge vibration share (`replay`, `waveform`): the keys that choose the
//! bearing diagnostics (`shaft_hz`, `bearing`, `model`, `analysis`), checked and turned into a
//! [`MachineModel`], and a judged decision window turned into its verdict tags.
//!
//! Both sources run [`fos_models::window::RecordingAnalysis`] (the path of `fos analyze FILE`) over
//! their stream, so a window's tags are the same numbers whichever source saw the samples. The tag
//! of feature `f` of source `name` is `<name>.<f>`, in [`FEATURES`] order:
//!
//! | feature | what |
//! |---|---|
//! | `score` | the anomaly score; a fault above 1 |
//! | `faulty` | 1 when the window is judged faulty, else 0 |
//! | `predicted` | the predicted label: 0 normal, 1 outer race, 2 inner race, 3 rolling element (ball), 4 cage ([`label_code`]) |
//! | `family` | the most likely fault family, even when healthy (codes as `predicted`, 1 to 4) |
//! | `family_confident` | 1 when that family's own lines exceed their threshold |
//! | `level_score`, `impulsiveness_score` | normalised rise of level and impulsiveness over the baseline (0 without a calibrated model) |
//! | `outer_score`, `inner_score`, `ball_score`, `cage_score` | normalised excess of each family's envelope lines |
//! | `shaft_hz` | shaft speed used (estimated from the signal when it could be) |
//! | `level`, `impulsiveness` | knock-robust vibration level (median sub-block RMS) and impulsiveness (band spectral kurtosis) |
//! | `rms`, `kurtosis`, `crest` | plain time-domain statistics of the window (kurtosis 3 for noise) |

use std::path::Path;
use std::sync::Arc;

use fos_core::{BearingGeometry, Label};
use fos_models::config::AnalysisConfig;
use fos_models::detector::MachineModel;
use fos_models::window::Judged;

use crate::record::Batch;

/// The features of a window, in tag order (see the module documentation).
pub const FEATURES: [&str; 17] = [
    "score",
    "faulty",
    "predicted",
    "family",
    "family_confident",
    "level_score",
    "impulsiveness_score",
    "outer_score",
    "inner_score",
    "ball_score",
    "cage_score",
    "shaft_hz",
    "level",
    "impulsiveness",
    "rms",
    "kurtosis",
    "crest",
];

/// The numeric code of a label in the `predicted` and `family` tags: 0 normal, 1 outer race,
/// 2 inner race, 3 rolling element, 4 cage (-1 unknown, which a verdict never holds).
pub fn label_code(l: Label) -> f64 {
    match l {
        Label::Normal => 0.0,
        Label::Outer => 1.0,
        Label::Inner => 2.0,
        Label::Ball => 3.0,
        Label::Cage => 4.0,
        Label::Unknown => -1.0,
    }
}

/// The verdict tags of source `name`, in [`FEATURES`] order.
pub fn feature_tags(name: &str) -> Vec<Arc<str>> {
    FEATURES.iter().map(|f| Arc::from(format!("{name}.{f}"))).collect()
}

/// A judged window's values, in [`FEATURES`] order.
pub(crate) fn window_values(j: &Judged<'_>) -> [f64; FEATURES.len()] {
    let (f, v) = (&j.features, &j.verdict);
    let b = |x: bool| if x { 1.0 } else { 0.0 };
    [
        v.score,
        b(v.faulty),
        label_code(v.predicted),
        label_code(v.family),
        b(v.family_confident),
        v.level_score,
        v.impulsiveness_score,
        v.family_scores[0],
        v.family_scores[1],
        v.family_scores[2],
        v.family_scores[3],
        f.shaft_hz,
        f.level,
        f.impulsiveness,
        f.rms,
        f.kurtosis,
        f.crest,
    ]
}

/// Appends a window's values at `time` to `batch`, whose tags `first .. first + FEATURES.len()`
/// are the source's [`feature_tags`]; quality good.
pub(crate) fn push_window(batch: &mut Batch, first: u32, time: i64, values: &[f64; FEATURES.len()]) {
    for (i, v) in values.iter().enumerate() {
        batch.push(first + i as u32, time, *v, fos_historian::quality::GOOD);
    }
}

/// The keys of a source that choose its diagnostics, borrowed from its configuration.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ModelKeys<'a> {
    /// Nominal shaft speed, Hz.
    pub(crate) shaft_hz: f64,
    /// Bearing geometry: elements, element diameter, pitch diameter, contact angle (degrees).
    pub(crate) bearing: Option<&'a [f64]>,
    /// A model file of `fos eval --save-models`.
    pub(crate) model: Option<&'a Path>,
    /// Analysis settings without a model.
    pub(crate) analysis: Option<&'a AnalysisConfig>,
}

impl ModelKeys<'_> {
    /// Checks the keys without reading a file (the reason names the key).
    pub(crate) fn check(&self) -> Result<(), String> {
        if !(self.shaft_hz.is_finite() && self.shaft_hz > 0.0) {
            return Err(format!("shaft_hz: must be a positive number of Hz, got {}", self.shaft_hz));
        }
        match (self.model, self.bearing) {
            (None, None) => {
                return Err("bearing: required without `model` (elements, element diameter, pitch diameter, \
                            contact angle in degrees, e.g. [9, 0.3126, 1.537, 0])"
                    .into())
            }
            (_, Some(_)) => {
                self.geometry()?;
            }
            _ => {}
        }
        if let Some(a) = self.analysis {
            if self.model.is_some() {
                return Err(
                    "analysis: the model file holds its own analysis settings; drop `analysis` or `model`".into()
                );
            }
            a.validate().map_err(|e| format!("analysis: {e}"))?;
        }
        Ok(())
    }

    /// The `bearing` key as a geometry, checked as `fos analyze --bearing` checks it.
    pub(crate) fn geometry(&self) -> Result<Option<BearingGeometry>, String> {
        let Some(b) = self.bearing else { return Ok(None) };
        let [n, d, pd, angle] = b[..] else {
            return Err(format!(
                "bearing: wants 4 numbers [elements, element diameter, pitch diameter, contact angle], got {}",
                b.len()
            ));
        };
        if !(n.fract() == 0.0 && (1.0..=f64::from(u16::MAX)).contains(&n)) {
            return Err(format!("bearing: the number of elements must be a whole number, got {n}"));
        }
        let g = BearingGeometry { elements: n as u32, element_d: d, pitch_d: pd, contact_angle_deg: angle };
        g.validate().map_err(|e| format!("bearing: {e}"))?;
        Ok(Some(g))
    }

    /// The model of machine `name` for samples at `fs_in`: the model file (its geometry must equal
    /// `bearing` when both are given), else physics alone at `fs_in` (as `fos analyze FILE` without
    /// `--model`: the white-noise null of the very chain, simulated here, which takes a moment).
    /// An error is the key to blame and why; `unbuildable` names the keys to blame when no model
    /// can be built for this geometry, speed and rate.
    pub(crate) fn build(
        &self,
        name: &str,
        fs_in: f64,
        unbuildable: &'static str,
    ) -> Result<MachineModel, (&'static str, String)> {
        let geometry = self.geometry().map_err(|e| ("bearing", e))?;
        match self.model {
            Some(p) => {
                let text =
                    std::fs::read_to_string(p).map_err(|e| ("model", format!("cannot read {}: {e}", p.display())))?;
                let m = MachineModel::from_json(&text).map_err(|e| ("model", format!("{}: {e}", p.display())))?;
                if let Some(g) = geometry {
                    if g != m.geometry {
                        return Err((
                            "bearing",
                            format!(
                                "{g:?} differs from the geometry of the model {} ({:?}); drop `bearing`",
                                p.display(),
                                m.geometry
                            ),
                        ));
                    }
                }
                Ok(m)
            }
            None => {
                let a = self.analysis.cloned().unwrap_or_default();
                let g = geometry.ok_or(("bearing", "required without `model`".to_string()))?;
                MachineModel::new(name, &a, g, fs_in, self.shaft_hz, true)
                    .map_err(|e| (unbuildable, format!("no model can be built: {e}")))
            }
        }
    }
}
