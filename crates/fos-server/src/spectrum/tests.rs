//! The spectrum view on synthetic bearing signals with a known fault: the envelope spectrum's strongest
//! line sits on the fault's marker, and bad blocks are refused with the reason.

use fos_core::BearingGeometry;
use fos_historian::WaveformBlock;
use fos_signal::kinematics::FaultKind;
use fos_signal::synth::{simulate, BearingSimConfig};

use super::{view, SpectrumView};
use crate::plant::VibrationInfo;

const SKF6205: BearingGeometry = BearingGeometry { elements: 9, element_d: 0.3126, pitch_d: 1.537, contact_angle_deg: 0.0 };

fn block(fault: Option<FaultKind>, seed: u64) -> WaveformBlock {
    let mut c = BearingSimConfig::new(12_000.0, 2.0, 29.95, SKF6205);
    c.fault = fault.map(|k| (k, 1.0));
    c.shaft_harmonics = vec![0.3, 0.1];
    c.seed = seed;
    WaveformBlock { channel: "de".into(), start_ns: 1_767_225_600_000_000_000, rate_hz: 12_000.0, samples: simulate(&c).unwrap() }
}

fn vib() -> VibrationInfo {
    VibrationInfo { channel: "de".into(), bearing: SKF6205, shaft_hz: 29.95, band_hz: None }
}

/// The frequency of the strongest envelope line above 1.5 × shaft speed.
fn strongest_line(v: &SpectrumView) -> f64 {
    let s = &v.envelope_spectrum;
    let (i, _) = s
        .amplitude
        .iter()
        .enumerate()
        .filter(|(i, _)| (*i as f64 + 0.5) * s.df > 1.5 * v.shaft_hz)
        .max_by(|a, b| a.1.total_cmp(b.1))
        .unwrap();
    (i as f64 + 0.5) * s.df
}

fn marker(v: &SpectrumView, family: &str) -> f64 {
    v.markers.iter().find(|m| m.family == family).unwrap().hz
}

#[test]
fn the_strongest_envelope_line_is_the_simulated_fault() {
    for (kind, family) in [(FaultKind::Outer, "outer"), (FaultKind::Inner, "inner")] {
        let v = view(&block(Some(kind), 7), &vib(), 2000).unwrap();
        let line = strongest_line(&v);
        let expected = marker(&v, family);
        assert!(
            (line - expected).abs() <= 2.0 * v.envelope_spectrum.df + 0.01 * expected,
            "{family}: strongest line {line:.1} Hz, marker {expected:.1} Hz"
        );
        assert!(v.band_from_kurtogram && v.band_hz.0 > 500.0, "{family}: band {:?}", v.band_hz);
        assert!(v.envelope_kurtosis > 0.5, "{family}: impacts make the band impulsive: {}", v.envelope_kurtosis);
        assert!((v.shaft_hz - 29.95).abs() < 0.3, "{family}: shaft {}", v.shaft_hz);
        assert_eq!(v.samples, 16_384);
        assert!(v.spectrum.amplitude.len() <= 2000 && v.envelope_spectrum.amplitude.len() <= 2000);
        assert!((v.spectrum.df * v.spectrum.amplitude.len() as f64 - 6000.0).abs() <= v.spectrum.df + 1.0);
    }
    // A healthy bearing has no line at BPFO: the faulty one's is many times the healthy level there.
    let healthy = view(&block(None, 7), &vib(), 2000).unwrap();
    let faulty = view(&block(Some(FaultKind::Outer), 7), &vib(), 2000).unwrap();
    let at = |v: &SpectrumView, hz: f64| {
        let s = &v.envelope_spectrum;
        let k = (hz / s.df) as usize;
        s.amplitude.iter().skip(k.saturating_sub(2)).take(5).copied().fold(0.0, f64::max)
    };
    let bpfo = marker(&faulty, "outer");
    let (h, f) = (at(&healthy, bpfo), at(&faulty, bpfo));
    assert!(f > 5.0 * h, "SES at BPFO: faulty {f}, healthy {h}");
}

#[test]
fn markers_follow_the_bearing_kinematics() {
    let m = super::markers(&SKF6205, 30.0).unwrap();
    let get = |f: &str| m.iter().find(|x| x.family == f).unwrap();
    // SKF 6205 at 30 Hz: BPFO 3.585·fr, BPFI 5.415·fr, 2·BSF 4.714·fr, FTF 0.398·fr.
    assert!((get("outer").hz - 107.5).abs() < 0.5, "{:?}", get("outer"));
    assert!((get("inner").hz - 162.4).abs() < 0.5, "{:?}", get("inner"));
    assert!((get("ball").hz - 141.4).abs() < 0.6, "{:?}", get("ball"));
    assert!((get("cage").hz - 11.9).abs() < 0.2, "{:?}", get("cage"));
    assert_eq!(get("outer").harmonics.len(), 3);
    assert!((get("outer").harmonics[2] - 3.0 * get("outer").hz).abs() < 1e-9);
}

#[test]
fn bad_blocks_and_bad_assets_are_refused_with_the_reason() {
    let mut b = block(None, 1);
    b.samples.truncate(10);
    assert!(view(&b, &vib(), 100).unwrap_err().0.contains("at least 64"));
    let mut b = block(None, 1);
    let last = b.samples.len() - 5;
    b.samples[last] = f64::NAN;
    assert!(view(&b, &vib(), 100).unwrap_err().0.contains("non-finite"));
    let mut v = vib();
    v.shaft_hz = 0.0;
    assert!(view(&block(None, 1), &v, 100).unwrap_err().0.contains("shaft speed"));
    let mut v = vib();
    v.band_hz = Some((3000.0, 1000.0));
    assert!(view(&block(None, 1), &v, 100).unwrap_err().0.contains("not an interval"));
}
