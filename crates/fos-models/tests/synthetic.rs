//! Known-answer tests of the detector and diagnoser on synthetic bearing signals generated in code:
//! impulse trains at the fault frequencies through a resonance, with noise, slip, speed error,
//! shaft harmonics and isolated knocks.

use fos_core::{BearingGeometry, Label};
use fos_models::config::AnalysisConfig;
use fos_models::detector::MachineModel;
use fos_models::features::WindowFeatures;
use fos_signal::kinematics::FaultKind;
use fos_signal::synth::{simulate, BearingSimConfig};

const FS: f64 = 25_600.0;
const SHAFT: f64 = 25.0;
const G: BearingGeometry = BearingGeometry { elements: 8, element_d: 7.94, pitch_d: 34.5, contact_angle_deg: 0.0 };

fn sim(fault: Option<(FaultKind, f64)>, speed_error: f64, seed: u64, secs: f64, knocks: Vec<(f64, f64)>) -> Vec<f64> {
    let mut c = BearingSimConfig::new(FS, secs, SHAFT, G);
    c.fault = fault;
    c.resonance_hz = 4_700.0;
    c.extra_modes = vec![(8_300.0, 0.5)];
    c.speed_error = speed_error;
    c.noise_rms = 0.1;
    c.shaft_harmonics = vec![0.3, 0.1, 0.05];
    c.knocks = knocks;
    c.seed = seed;
    simulate(&c).expect("valid simulation")
}

fn windows(model: &MachineModel, x: &[f64]) -> Vec<WindowFeatures> {
    let mut an = model.analyzer(SHAFT).expect("analyzer");
    let n = an.window_len();
    let hop = n / 2;
    let mut out = Vec::new();
    let mut s = 0;
    while s + n <= x.len() {
        out.push(an.analyze(&x[s..s + n]));
        s += hop;
    }
    out
}

fn calibrated() -> MachineModel {
    let cfg = AnalysisConfig { null_windows: 128, ..AnalysisConfig::default() };
    let mut m = MachineModel::new("synthetic", &cfg, G, FS, SHAFT, true).expect("model");
    let base = sim(None, 0.0, 11, 5.0, vec![]);
    let feats = windows(&m, &base);
    m.calibrate(&feats).expect("calibrate");
    m
}

fn verdicts(m: &MachineModel, x: &[f64]) -> Vec<fos_models::detector::Verdict> {
    windows(m, x).iter().map(|f| m.decide(f)).collect()
}

#[test]
fn each_fault_family_is_detected_and_named_despite_speed_error() {
    let m = calibrated();
    for (kind, label, amp) in [
        (FaultKind::Outer, Label::Outer, 0.6),
        (FaultKind::Inner, Label::Inner, 0.8),
        (FaultKind::Ball, Label::Ball, 0.8),
    ] {
        // The true speed is 3 % above the nominal one, as on real machines.
        let x = sim(Some((kind, amp)), 0.03, 5, 6.0, vec![]);
        let v = verdicts(&m, &x);
        let flagged = v.iter().filter(|v| v.faulty).count();
        let named = v.iter().filter(|v| v.family == label).count();
        assert!(flagged * 10 >= v.len() * 9, "{label}: only {flagged} of {} windows flagged", v.len());
        assert!(named * 10 >= v.len() * 9, "{label}: named in only {named} of {} windows: {v:?}", v.len());
    }
}

#[test]
fn speed_is_estimated_from_the_signal() {
    let m = calibrated();
    let x = sim(Some((FaultKind::Outer, 0.6)), -0.04, 9, 4.0, vec![]);
    let f = windows(&m, &x);
    let last = f.last().expect("windows");
    assert!(last.shaft_estimated);
    assert!((last.shaft_hz - SHAFT * 0.96).abs() < 0.1, "estimated {} Hz, true {}", last.shaft_hz, SHAFT * 0.96);
}

#[test]
fn isolated_knocks_on_a_healthy_machine_raise_no_alarm() {
    let m = calibrated();
    // One knock every 1.7 s, each 30 times the noise RMS: kurtosis and crest jump, the verdict must not.
    let knocks: Vec<(f64, f64)> = (0..17).map(|i| (0.35 + 1.7 * i as f64, 3.0)).collect();
    let x = sim(None, 0.01, 21, 30.0, knocks);
    let f = windows(&m, &x);
    let kurt_max = f.iter().map(|w| w.kurtosis).fold(0.0, f64::max);
    assert!(kurt_max > 6.0, "the knocks should be visible in the kurtosis ({kurt_max})");
    let alarms: Vec<_> = f.iter().map(|w| m.decide(w)).filter(|v| v.faulty).collect();
    assert!(alarms.is_empty(), "false alarms on knocks: {alarms:?}");
}

#[test]
fn a_healthy_machine_at_another_load_stays_healthy() {
    let m = calibrated();
    let x = sim(None, -0.02, 33, 20.0, vec![]);
    let alarms = verdicts(&m, &x).into_iter().filter(|v| v.faulty).count();
    assert_eq!(alarms, 0);
}

#[test]
fn model_file_round_trips_and_rejects_other_versions() {
    let m = calibrated();
    let text = m.to_json();
    let back = MachineModel::from_json(&text).expect("reads back");
    assert_eq!(back, m);
    let bumped = text.replacen("\"format_version\": 2", "\"format_version\": 999", 1);
    let err = MachineModel::from_json(&bumped).expect_err("other version refused");
    assert!(err.to_string().contains("format_version"), "{err}");
    assert!(MachineModel::from_json("{").is_err());
}

#[test]
fn physics_only_without_baseline_still_detects_a_clear_fault() {
    let cfg = AnalysisConfig { null_windows: 128, ..AnalysisConfig::default() };
    let m = MachineModel::new("uncalibrated", &cfg, G, FS, SHAFT, true).expect("model");
    let healthy = verdicts(&m, &sim(None, 0.0, 3, 10.0, vec![]));
    assert!(healthy.iter().all(|v| !v.faulty), "{healthy:?}");
    let faulty = verdicts(&m, &sim(Some((FaultKind::Inner, 1.0)), 0.0, 4, 4.0, vec![]));
    assert!(faulty.iter().filter(|v| v.faulty && v.family == Label::Inner).count() * 10 >= faulty.len() * 8);
}

#[test]
fn bad_settings_name_the_field() {
    let cfg = AnalysisConfig { hop_s: -1.0, ..AnalysisConfig::default() };
    let err = MachineModel::new("m", &cfg, G, FS, SHAFT, true).expect_err("refused");
    assert!(err.to_string().contains("hop_s"), "{err}");
    let err = MachineModel::new("m", &AnalysisConfig::default(), G, 2_000.0, SHAFT, true).expect_err("refused");
    assert!(err.to_string().contains("too low"), "{err}");
}
