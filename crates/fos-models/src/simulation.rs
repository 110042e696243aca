//! The simulation check behind a finding: does a physical simulation of the named fault, on this
//! bearing at this speed, light up the lines the recording shows?
//!
//! For a finding of family `F` at shaft speed `fr` on a bearing geometry, [`check`] simulates each of the
//! four faults (outer race, inner race, rolling element, cage) with [`fos_signal::synth::simulate`] at
//! the model's analysis rate (the rate the recording was judged at), runs the very feature extraction of
//! the model (its [`StreamAnalyzer`] with its settings, band and null, speed fixed at `fr`) on 1 s
//! windows every 0.5 s, and compares:
//!
//! - **the pattern**: the cosine similarity of the observed and each simulated family-excess vector
//!   (excess over the white-noise null, [`crate::cases::family_excess`], negatives set to 0 and each
//!   component compressed with `asinh`). Inner-race and outer-race lines partly coincide (on a 6205 the
//!   third BPFO harmonic lies 0.7 % from the second BPFI one), so the whole pattern is compared, not one
//!   family; the fault whose simulation is most similar is [`SimulationCheck::best`];
//! - **the frequencies**: each harmonic of `F` where the simulation finds it and where the recording
//!   does; they agree when within half the line tolerance (`line_tol / 2` of the expected frequency).
//!
//! The simulated signature **matches** when `F`'s simulation is the most similar of the four and most
//! of `F`'s harmonics agree. A finding found by its level alone, with no family line above the white
//! noise, cannot be matched: `best` is `None`.
//!
//! The parameters ([`SimulationParams`]) are stated in full so anyone can rerun the simulation
//! bit for bit; [`SimulationParams::for_finding`] gives the documented defaults. Pure and deterministic.

use fos_core::Label;
use fos_signal::kinematics::FaultKind;
use fos_signal::synth::{simulate, BearingSimConfig};
use serde::{Deserialize, Serialize};

use crate::cases::family_excess;
use crate::detector::MachineModel;
use crate::features::{FamilyEvidence, StreamAnalyzer, FAMILIES};
use crate::stats::median;
use crate::Error;

/// Everything a simulation needs, stated in the record so it can be rerun.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimulationParams {
    /// The fault simulated for the finding (the other three use the same parameters).
    pub family: Label,
    /// Sample rate: the model's analysis rate, Hz.
    pub fs_hz: f64,
    /// Shaft speed (the finding's estimated speed), Hz.
    pub shaft_hz: f64,
    /// Length, s.
    pub duration_s: f64,
    /// Impact amplitude (the first mode's peak for a unit impact).
    pub amplitude: f64,
    /// RMS of the additive white noise.
    pub noise_rms: f64,
    /// The structural resonance every impact excites, Hz.
    pub resonance_hz: f64,
    /// Its damping ratio.
    pub damping_ratio: f64,
    /// Random jitter of each inter-impact interval, as a fraction of the period.
    pub slip: f64,
    /// Random seed (the same for the four faults, so they differ only in the fault).
    pub seed: u64,
}

impl SimulationParams {
    /// The defaults for a finding of `family` judged by `model` at `shaft_hz`, whose representative
    /// window's envelope band was `band_hz` (lower, upper edge):
    ///
    /// - the resonance at the middle of that band (where the recording's impacts were found), kept inside
    ///   the model's band and below its anti-alias cut-off;
    /// - amplitude 1 and noise RMS 0.1, the simulator's defaults (impacts clearly above the noise: the
    ///   check asks *where* a fault puts its lines, not whether it can be detected);
    /// - damping ratio 0.05, slip 1 % (the usual 1–2 % of rolling-element bearings);
    /// - 3 s (five decision windows), seed `0x5EED`.
    pub fn for_finding(model: &MachineModel, family: Label, shaft_hz: f64, band_hz: (f64, f64)) -> SimulationParams {
        let lo = model.band_lo_hz;
        let hi = 0.98 * model.cutoff_hz;
        let mid = 0.5 * (band_hz.0 + band_hz.1);
        let resonance_hz = if mid.is_finite() && hi > lo { mid.clamp(lo, hi) } else { 0.5 * (lo + hi) };
        SimulationParams {
            family,
            fs_hz: model.analysis_fs,
            shaft_hz,
            duration_s: 3.0,
            amplitude: 1.0,
            noise_rms: 0.1,
            resonance_hz,
            damping_ratio: 0.05,
            slip: 0.01,
            seed: 0x5EED,
        }
    }
}

/// What the recording showed for the finding.
#[derive(Debug, Clone, Copy)]
pub struct Observed<'a> {
    /// The finding's family excess over the white-noise null (the median over its windows), in
    /// [`FAMILIES`] order.
    pub family_excess: [f64; 4],
    /// The family evidence (harmonic lines found) of a representative window, e.g. the one where the
    /// finding's family was strongest.
    pub evidence: &'a [FamilyEvidence],
}

/// One simulated fault and how it compares with the recording.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimulatedFamily {
    /// The fault simulated.
    pub family: Label,
    /// The family excess its simulation shows (median over its windows), in [`FAMILIES`] order.
    pub family_excess: [f64; 4],
    /// The families its simulation lights up (excess above 1).
    pub lit: Vec<Label>,
    /// Cosine similarity of its pattern with the observed one (0 to 1).
    pub similarity: f64,
}

/// One harmonic of the finding's family: where the simulation and the recording put it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LineCheck {
    /// Harmonic order.
    pub order: u32,
    /// The kinematic frequency, Hz.
    pub expected_hz: f64,
    /// Where the simulation's largest line within tolerance is, Hz.
    pub simulated_hz: f64,
    /// Where the recording's is, Hz.
    pub observed_hz: f64,
    /// The recording's line over its local floor.
    pub observed_ratio: f64,
    /// Whether the two are within `line_tol / 2` of the expected frequency.
    pub agree: bool,
}

/// The outcome of [`check`].
#[derive(Debug, Clone, PartialEq)]
pub struct SimulationCheck {
    /// The parameters of the finding's simulation.
    pub params: SimulationParams,
    /// The four faults simulated, in [`FAMILIES`] order.
    pub simulated: Vec<SimulatedFamily>,
    /// The fault whose simulation is most similar to the recording; `None` when no family line of the
    /// recording stands above the white noise.
    pub best: Option<Label>,
    /// The finding's family's harmonics, simulated and observed.
    pub lines: Vec<LineCheck>,
    /// Whether the simulation of the finding's fault matches the recording (see the module docs).
    pub matches: bool,
    /// The samples of the finding's fault simulation (for a content hash).
    pub samples: Vec<f64>,
}

impl SimulationCheck {
    /// The result in words.
    pub fn summary(&self) -> String {
        let f = self.params.family;
        let own = self.simulated.iter().find(|s| s.family == f);
        let raised = own.map_or_else(String::new, |s| {
            let mut top = 0;
            for i in 1..4 {
                if s.family_excess[i] > s.family_excess[top] {
                    top = i;
                }
            }
            let all: Vec<String> =
                FAMILIES.iter().zip(s.family_excess).map(|(l, e)| format!("{l} {e:.2}")).collect();
            format!("raises the {} lines most (excess {})", FAMILIES[top], all.join(", "))
        });
        let agree = self.lines.iter().filter(|l| l.agree).count();
        let lines: Vec<String> = self
            .lines
            .iter()
            .map(|l| format!("{}x {:.1} Hz: sim {:.1}, obs {:.1}", l.order, l.expected_hz, l.simulated_hz, l.observed_hz))
            .collect();
        let verdict = match (self.matches, self.best) {
            (true, _) => "matches".to_owned(),
            (false, Some(b)) if b != f => format!("does not match: the recording is closer to a simulated {b} fault"),
            (false, Some(_)) => "does not match: the harmonics are not where the simulation puts them".to_owned(),
            (false, None) => "cannot be matched: no family line of the recording stands above the white noise".to_owned(),
        };
        format!(
            "simulated {f} fault at {:.2} Hz shaft, resonance {:.0} Hz, {} Hz: {raised}, similarity to the recording {:.2}; \
             {agree} of {} harmonics agree ({}); {verdict}",
            self.params.shaft_hz,
            self.params.resonance_hz,
            self.params.fs_hz,
            own.map_or(0.0, |s| s.similarity),
            self.lines.len(),
            lines.join("; ")
        )
    }
}

fn fault_kind(l: Label) -> Option<FaultKind> {
    match l {
        Label::Outer => Some(FaultKind::Outer),
        Label::Inner => Some(FaultKind::Inner),
        Label::Ball => Some(FaultKind::Ball),
        Label::Cage => Some(FaultKind::Cage),
        Label::Normal | Label::Unknown => None,
    }
}

/// The compressed, non-negative pattern of a family-excess vector.
fn pattern(e: &[f64; 4]) -> [f64; 4] {
    std::array::from_fn(|i| e[i].max(0.0).asinh())
}

fn cosine(a: &[f64; 4], b: &[f64; 4]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na = a.iter().map(|x| x * x).sum::<f64>().sqrt();
    let nb = b.iter().map(|x| x * x).sum::<f64>().sqrt();
    if na > 0.0 && nb > 0.0 {
        dot / (na * nb)
    } else {
        0.0
    }
}

/// One simulated fault through the model's chain.
struct Run {
    /// The simulated samples.
    samples: Vec<f64>,
    /// The median family excess over its windows.
    excess: [f64; 4],
    /// The family evidence of the window where the simulated family is strongest.
    evidence: Vec<FamilyEvidence>,
}

fn run(model: &MachineModel, p: &SimulationParams, family: Label) -> Result<Run, Error> {
    let kind = fault_kind(family).ok_or_else(|| Error::Simulation(format!("{family} is not a fault family")))?;
    let mut c = BearingSimConfig::new(p.fs_hz, p.duration_s, p.shaft_hz, model.geometry);
    c.fault = Some((kind, p.amplitude));
    c.resonance_hz = p.resonance_hz;
    c.damping_ratio = p.damping_ratio;
    c.slip = p.slip;
    c.noise_rms = p.noise_rms;
    c.seed = p.seed;
    let x = simulate(&c).map_err(|e| Error::Simulation(format!("simulating a {family} fault: {e}")))?;
    let mut an = StreamAnalyzer::new(
        &model.config,
        model.analysis_fs,
        model.cutoff_hz,
        model.orders(),
        p.shaft_hz,
        model.band_lo_hz,
        false,
    )?;
    let n = an.window_len();
    let hop = crate::window::hop_len(&model.config, model.analysis_fs);
    let fi = FAMILIES.iter().position(|l| *l == family).unwrap_or(0);
    let mut excess: Vec<[f64; 4]> = Vec::new();
    let mut strongest: Option<(f64, Vec<FamilyEvidence>)> = None;
    for s in crate::window::window_starts(x.len(), n, hop) {
        let f = an.analyze(&x[s..s + n]);
        let e = family_excess(model, &f);
        if strongest.as_ref().is_none_or(|(best, _)| e[fi] > *best) {
            strongest = Some((e[fi], f.families.clone()));
        }
        excess.push(e);
    }
    let Some((_, evidence)) = strongest else {
        return Err(Error::Simulation(format!(
            "{} s at {} Hz is shorter than one {} s window",
            p.duration_s, p.fs_hz, model.config.window_s
        )));
    };
    let med = std::array::from_fn(|i| median(&excess.iter().map(|e| e[i]).collect::<Vec<f64>>()));
    Ok(Run { samples: x, excess: med, evidence })
}

/// Simulates the four faults with `params` and compares them with what was observed (see the module
/// documentation). `params.fs_hz` must be the model's analysis rate.
pub fn check(model: &MachineModel, observed: &Observed<'_>, params: &SimulationParams) -> Result<SimulationCheck, Error> {
    let f = params.family;
    if fault_kind(f).is_none() {
        return Err(Error::Simulation(format!("a finding of {f} names no fault to simulate")));
    }
    if (params.fs_hz - model.analysis_fs).abs() > 1e-9 * model.analysis_fs {
        return Err(Error::Simulation(format!(
            "the simulation runs at {} Hz but the model analyses at {} Hz; simulate at the analysis rate",
            params.fs_hz, model.analysis_fs
        )));
    }
    if !observed.family_excess.iter().all(|v| v.is_finite()) {
        return Err(Error::Simulation(format!("the observed family excess {:?} is not finite", observed.family_excess)));
    }
    let obs = pattern(&observed.family_excess);
    let mut simulated = Vec::with_capacity(4);
    let mut own: Option<(Vec<f64>, Vec<FamilyEvidence>)> = None;
    for fam in FAMILIES {
        let Run { samples: x, excess, evidence } = run(model, params, fam)?;
        simulated.push(SimulatedFamily {
            family: fam,
            family_excess: excess,
            lit: FAMILIES.iter().zip(excess).filter(|(_, e)| *e > 1.0).map(|(l, _)| *l).collect(),
            similarity: cosine(&obs, &pattern(&excess)),
        });
        if fam == f {
            own = Some((x, evidence));
        }
    }
    let (samples, sim_evidence) = own.unwrap_or_default();
    let best = simulated
        .iter()
        .filter(|s| s.similarity > 0.0)
        .max_by(|a, b| a.similarity.total_cmp(&b.similarity))
        .map(|s| s.family);
    let tol = model.config.line_tol;
    let sim_lines = sim_evidence.iter().find(|e| e.label == f).map(|e| e.harmonics.as_slice()).unwrap_or_default();
    let obs_lines = observed.evidence.iter().find(|e| e.label == f).map(|e| e.harmonics.as_slice()).unwrap_or_default();
    let lines: Vec<LineCheck> = sim_lines
        .iter()
        .filter_map(|s| {
            let o = obs_lines.iter().find(|o| o.order == s.order)?;
            Some(LineCheck {
                order: s.order,
                expected_hz: s.expected_hz,
                simulated_hz: s.found_hz,
                observed_hz: o.found_hz,
                observed_ratio: o.ratio,
                agree: (s.found_hz - o.found_hz).abs() <= 0.5 * tol * s.expected_hz,
            })
        })
        .collect();
    let agree = lines.iter().filter(|l| l.agree).count();
    let matches = best == Some(f) && !lines.is_empty() && 2 * agree > lines.len();
    Ok(SimulationCheck { params: *params, simulated, best, lines, matches, samples })
}

#[cfg(test)]
mod tests;
