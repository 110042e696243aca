//! Unit tests of the simulation check: a simulated fault matches a recording of that fault and not
//! one of another, on recordings simulated with other parameters than the check's.

use super::*;
use crate::cases::Signature;
use crate::config::AnalysisConfig;
use fos_core::BearingGeometry;

/// The CWRU drive-end bearing, SKF 6205 (inches), at 12 kHz and 29.95 Hz.
const G: BearingGeometry = BearingGeometry { elements: 9, element_d: 0.3126, pitch_d: 1.537, contact_angle_deg: 0.0 };
const FS: f64 = 12_000.0;
const SHAFT: f64 = 29.95;

fn model() -> MachineModel {
    let cfg = AnalysisConfig { null_windows: 64, ..AnalysisConfig::default() };
    MachineModel::new("rig", &cfg, G, FS, SHAFT, true).unwrap()
}

/// A "recording": another resonance, a second mode, 0.6 % speed error, shaft harmonics, more noise
/// and another seed than the check's simulation uses.
fn recording(kind: FaultKind, amp: f64) -> Vec<f64> {
    let mut c = BearingSimConfig::new(FS, 4.0, SHAFT, G);
    c.fault = Some((kind, amp));
    c.resonance_hz = 2_600.0;
    c.extra_modes = vec![(4_100.0, 0.4)];
    c.speed_error = 0.006;
    c.slip = 0.015;
    c.noise_rms = 0.25;
    c.shaft_harmonics = vec![0.3, 0.1];
    c.seed = 77;
    simulate(&c).unwrap()
}

/// What a finding over the whole recording would hold: the median family excess, the evidence of the
/// window where `family` is strongest, its band and the median estimated speed.
fn observe(m: &MachineModel, x: &[f64], family: Label) -> ([f64; 4], Vec<FamilyEvidence>, (f64, f64), f64) {
    let mut an = m.analyzer(SHAFT).unwrap();
    let n = an.window_len();
    let fi = FAMILIES.iter().position(|l| *l == family).unwrap();
    let (mut sigs, mut speeds, mut best) = (Vec::new(), Vec::new(), None::<(f64, Vec<FamilyEvidence>, (f64, f64))>);
    for s in crate::window::window_starts(x.len(), n, n / 2) {
        let f = an.analyze(&x[s..s + n]);
        let sig = Signature::of_window(m, &f);
        if best.as_ref().is_none_or(|b| sig.family_excess[fi] > b.0) {
            best = Some((sig.family_excess[fi], f.families.clone(), (f.band_lo_hz, f.band_hi_hz)));
        }
        speeds.push(f.shaft_hz);
        sigs.push(sig);
    }
    let (_, evidence, band) = best.unwrap();
    (Signature::median_of(&sigs).unwrap().family_excess, evidence, band, median(&speeds))
}

fn check_as(m: &MachineModel, x: &[f64], family: Label) -> SimulationCheck {
    let (excess, evidence, band, shaft) = observe(m, x, family);
    let p = SimulationParams::for_finding(m, family, shaft, band);
    check(m, &Observed { family_excess: excess, evidence: &evidence }, &p).unwrap()
}

#[test]
fn an_outer_race_simulation_matches_an_outer_race_recording_and_an_inner_race_one_does_not() {
    let m = model();
    let x = recording(FaultKind::Outer, 0.6);
    let outer = check_as(&m, &x, Label::Outer);
    assert!(outer.matches, "{}", outer.summary());
    assert_eq!(outer.best, Some(Label::Outer));
    assert!(outer.lines.len() == 3 && outer.lines.iter().all(|l| l.agree), "{:?}", outer.lines);
    let own = &outer.simulated[0];
    assert_eq!(own.family, Label::Outer);
    assert!(own.lit.contains(&Label::Outer), "{own:?}");
    assert!(outer.summary().contains("raises the outer lines most"), "{}", outer.summary());
    assert!(outer.summary().ends_with("matches"), "{}", outer.summary());

    let inner = check_as(&m, &x, Label::Inner);
    assert!(!inner.matches, "{}", inner.summary());
    assert_eq!(inner.best, Some(Label::Outer));
    assert!(inner.summary().contains("closer to a simulated outer fault"), "{}", inner.summary());
    // The similarity of each simulated fault does not depend on which one the finding named.
    for (a, b) in outer.simulated.iter().zip(&inner.simulated) {
        assert_eq!(a.similarity, b.similarity);
    }
}

#[test]
fn an_inner_race_simulation_matches_an_inner_race_recording_and_an_outer_race_one_does_not() {
    let m = model();
    let x = recording(FaultKind::Inner, 0.8);
    let inner = check_as(&m, &x, Label::Inner);
    assert!(inner.matches, "{}", inner.summary());
    assert_eq!(inner.best, Some(Label::Inner));
    let outer = check_as(&m, &x, Label::Outer);
    assert!(!outer.matches, "{}", outer.summary());
    assert_eq!(outer.best, Some(Label::Inner));
}

#[test]
fn a_finding_without_family_lines_cannot_be_matched() {
    let m = model();
    let p = SimulationParams::for_finding(&m, Label::Outer, SHAFT, (m.band_lo_hz, m.cutoff_hz));
    let c = check(&m, &Observed { family_excess: [-0.5, -0.2, -1.0, 0.0], evidence: &[] }, &p).unwrap();
    assert_eq!(c.best, None);
    assert!(!c.matches);
    assert!(c.lines.is_empty());
    assert!(c.summary().contains("cannot be matched"), "{}", c.summary());
}

#[test]
fn the_parameters_are_stated_and_the_simulation_is_reproducible() {
    let m = model();
    let p = SimulationParams::for_finding(&m, Label::Inner, 29.7, (1_000.0, 4_000.0));
    assert_eq!((p.fs_hz, p.shaft_hz, p.resonance_hz, p.seed, p.amplitude), (FS, 29.7, 2_500.0, 0x5EED, 1.0));
    // A band outside the model's keeps the resonance inside it.
    let q = SimulationParams::for_finding(&m, Label::Inner, 29.7, (9_000.0, 20_000.0));
    assert!(q.resonance_hz < m.cutoff_hz && q.resonance_hz >= m.band_lo_hz, "{q:?}");
    let obs = Observed { family_excess: [0.0, 5.0, 0.0, 0.0], evidence: &[] };
    let (a, b) = (check(&m, &obs, &p).unwrap(), check(&m, &obs, &p).unwrap());
    assert_eq!(a, b);
    assert_eq!(a.samples.len(), (p.duration_s * FS) as usize);
    assert_eq!(a.params, p);

    let e = check(&m, &obs, &SimulationParams { fs_hz: 48_000.0, ..p }).unwrap_err().to_string();
    assert!(e.contains("48000 Hz") && e.contains("12000 Hz"), "{e}");
    let e = check(&m, &obs, &SimulationParams { family: Label::Normal, ..p }).unwrap_err().to_string();
    assert!(e.contains("normal names no fault"), "{e}");
    let e = check(&m, &Observed { family_excess: [f64::NAN, 0.0, 0.0, 0.0], evidence: &[] }, &p).unwrap_err().to_string();
    assert!(e.contains("not finite"), "{e}");
}
