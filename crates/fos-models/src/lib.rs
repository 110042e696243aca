//! Bearing-fault detection and diagnosis for FOS: pure models over windows of samples.
//!
//! - [`features`]: per-window physical features (speed, robust level, fault-family line evidence).
//! - [`detector`]: per-machine calibration, thresholds set by a false-alarm budget, verdicts, model files.
//! - [`metrics`]: the evaluation's figures (decision counts, AUROC, diagnosis confusion).
//! - [`config`]: the settings and their documented defaults.
//! - [`window`]: decision windows of a stream (resampled to the analysis rate), and a recording
//!   judged window by window ([`window::RecordingAnalysis`], the path of `fos analyze FILE` and of
//!   the edge pipeline's replay source).
//! - [`cases`]: the case library: historical failure cases summarised by scale-free evidence, and the
//!   nearest cases to a finding (never from the recording or bearing being judged).
//! - [`simulation`]: the simulation check of a finding: the named fault simulated on the bearing at the
//!   finding's speed, through the same feature extraction, compared with the recording.
//!
//! Architecture invariant: no I/O, no async runtime, no knowledge of files or protocols. Callers hand
//! in samples already resampled to the machine's analysis rate.
//!
//! ```
//! use fos_core::BearingGeometry;
//! use fos_models::{config::AnalysisConfig, detector::MachineModel};
//! let g = BearingGeometry { elements: 9, element_d: 0.3126, pitch_d: 1.537, contact_angle_deg: 0.0 };
//! let cfg = AnalysisConfig { null_windows: 32, ..AnalysisConfig::default() };
//! let model = MachineModel::new("rig", &cfg, g, 12_000.0, 30.0, true).unwrap();
//! let mut an = model.analyzer(30.0).unwrap();
//! let x = vec![0.0; an.window_len()];
//! let v = model.decide(&an.analyze(&x));
//! assert!(!v.faulty);
//! ```

pub mod cases;
pub mod config;
pub mod detector;
pub mod features;
pub mod metrics;
mod rng;
pub mod simulation;
pub mod stats;
pub mod window;

/// Errors of model construction and model files.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A setting is invalid; the message names it.
    #[error("invalid analysis setting: {0}")]
    Config(String),
    /// A model file cannot be read.
    #[error("cannot read model file: {0}")]
    ModelFile(String),
    /// A stream cannot be resampled to the analysis rate.
    #[error("cannot resample from {from_hz} Hz to {to_hz} Hz: {reason}")]
    Resample {
        /// The stream's rate, Hz.
        from_hz: f64,
        /// The analysis rate, Hz.
        to_hz: f64,
        /// What is wrong.
        reason: String,
    },
    /// A case library cannot be built or read; the message names the case or field.
    #[error("case library: {0}")]
    Cases(String),
    /// A simulation check cannot run; the message says why.
    #[error("simulation check: {0}")]
    Simulation(String),
}
