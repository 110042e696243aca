//! The waveform source's pure parts: the counter's steps (gaps, wraps, restarts) and the stream
//! analysis over blocks (the windows of the concatenated stream, timed by their blocks; no window
//! across a gap).

use super::*;
use fos_core::BearingGeometry;
use fos_signal::kinematics::FaultKind;
use fos_signal::synth::{simulate, BearingSimConfig};

const SKF6205: BearingGeometry =
    BearingGeometry { elements: 9, element_d: 0.3126, pitch_d: 1.537, contact_angle_deg: 0.0 };
/// 78 125 ns per sample: block and window times are exact in ns.
const FS: f64 = 12_800.0;

#[test]
fn the_counter_steps_count_missed_blocks_wraps_and_restarts() {
    assert_eq!(step(None, 17, None), Step::First);
    assert_eq!(step(Some(16), 17, None), Step::Missed(0));
    assert_eq!(step(Some(10), 14, Some(1 << 32)), Step::Missed(3));
    // A 32-bit counter wrapping: ..., 2^32 − 2, (2^32 − 1 and 0 missed), 1.
    let m = 1u64 << 32;
    assert_eq!(step(Some(m - 1), 0, Some(m)), Step::Missed(0));
    assert_eq!(step(Some(m - 2), 1, Some(m)), Step::Missed(2));
    // Going down otherwise (a restarted device), or a wide counter going down: unknown.
    assert_eq!(step(Some(100), 5, Some(m)), Step::Reset);
    assert_eq!(step(Some(100), 100, Some(m)), Step::Reset);
    assert_eq!(step(Some(u64::MAX), 0, None), Step::Reset);
    assert_eq!(modulus(DataType::U32), Some(m));
    assert_eq!(modulus(DataType::U16), Some(1 << 16));
    assert_eq!(modulus(DataType::F64), None);
}

#[test]
fn counters_are_whole_numbers() {
    assert_eq!(counter(&Value::UInt(7)), Ok(7));
    assert_eq!(counter(&Value::Int(7)), Ok(7));
    assert_eq!(counter(&Value::Float(7.0)), Ok(7));
    for v in [Value::Int(-1), Value::Float(1.5), Value::Float(f64::NAN), Value::String("7".into()), Value::Bool(true)] {
        let e = counter(&v).unwrap_err();
        assert!(e.contains("not a block counter"), "{v:?}: {e}");
    }
}

fn model() -> MachineModel {
    let cfg = AnalysisConfig { null_windows: 32, ..AnalysisConfig::default() };
    MachineModel::new("m", &cfg, SKF6205, FS, 30.0, true).unwrap()
}

fn signal(secs: f64, seed: u64) -> Vec<f64> {
    let mut c = BearingSimConfig::new(FS, secs, 30.0, SKF6205);
    c.shaft_harmonics = vec![0.3, 0.1];
    c.fault = Some((FaultKind::Outer, 1.0));
    c.seed = seed;
    simulate(&c).unwrap()
}

fn bits(w: &[(i64, [f64; FEATURES.len()])]) -> Vec<(i64, Vec<u64>)> {
    w.iter().map(|(t, v)| (*t, v.iter().map(|x| x.to_bits()).collect())).collect()
}

/// The windows of one recording judged whole, at `t0 + window_s + k·hop_s`.
fn reference(x: &[f64], t0: i64) -> Vec<(i64, [f64; FEATURES.len()])> {
    let mut ra = RecordingAnalysis::new(model(), FS, 30.0).unwrap();
    let mut out = Vec::new();
    let mut on = |j: Judged<'_>| -> std::result::Result<(), ()> {
        out.push((t0 + (j.t_end_s * 1e9).round() as i64, window_values(&j)));
        Ok(())
    };
    ra.push(x, &mut on).unwrap();
    ra.finish(&mut on).unwrap();
    out
}

#[test]
fn contiguous_blocks_are_judged_as_one_recording_and_timed_by_their_blocks() {
    let x = signal(3.5, 1);
    let t0 = 1_700_000_000_000_000_000i64;
    let mut j = Judge::new(model(), FS, 30.0).unwrap();
    let mut got = Vec::new();
    // Blocks of 0.7 s: windows span block boundaries.
    for (k, b) in x.chunks(8_960).enumerate() {
        j.push(b, t0 + k as i64 * 700_000_000, &mut got);
    }
    j.finish(&mut got);
    let want = reference(&x, t0);
    assert_eq!(want.len(), 6);
    assert_eq!(bits(&got), bits(&want));
}

#[test]
fn a_gap_ends_the_segment_and_no_window_spans_it() {
    let (a, b) = (signal(2.0, 2), signal(1.6, 3));
    let (ta, tb) = (5_000_000_000i64, 60_000_000_000i64);
    let mut j = Judge::new(model(), FS, 30.0).unwrap();
    let mut got = Vec::new();
    j.push(&a[..12_800], ta, &mut got);
    j.push(&a[12_800..], ta + 1_000_000_000, &mut got);
    j.finish(&mut got);
    let first = got.len();
    // Segment a: windows ending at 1.0, 1.5 and 2.0 s after ta.
    assert_eq!(got.iter().map(|w| w.0 - ta).collect::<Vec<_>>(), [1_000_000_000, 1_500_000_000, 2_000_000_000]);
    j.push(&b, tb, &mut got);
    j.finish(&mut got);
    // Segment b alone: one window of 1.6 s, timed from its own block.
    let after: Vec<i64> = got[first..].iter().map(|w| w.0 - tb).collect();
    assert_eq!(after, [1_000_000_000, 1_500_000_000]);
    // The window values of segment a are those of a recording of a alone (the analyzer's speed
    // estimate carries over into b, so b is checked by its times only).
    assert_eq!(bits(&got[..first]), bits(&reference(&a, ta)));
}
