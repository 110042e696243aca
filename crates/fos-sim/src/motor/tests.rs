//! Tests of the motor: fault lines where the kinematics put them, a level the climate moves
//! without lines, the analytic RMS against rendered blocks, and the process values.

use super::*;
use crate::ambient::{AmbientParams, Excursion, ExcursionTarget};
use crate::testutil::{line_ratio, mean, peak_bin, ses};
use fos_signal::stats::time_stats;

/// A climate without weather fronts (so only what a test adds moves it).
fn calm_air() -> Ambient {
    Ambient::new(AmbientParams { front_mean_interval_s: 1e12, daily_amplitude_c: 0.0, ..AmbientParams::default() }, 1)
}

fn params(geometry: BearingGeometry, bearing: &'static str, sync_hz: f64) -> MotorParams {
    let mut p = MotorParams::sample(&mut Rng::new(3));
    p.geometry = geometry;
    p.bearing = bearing;
    p.rated_sync_hz = sync_hz;
    p.resonance_hz = 3_200.0;
    p.knocks_per_hour = 0.0;
    p.process_change_mean_s = 1e12;
    p
}

/// Steps `m` in 0.1 s ticks from `from_s` to `to_s` (exclusive of `from_s`).
fn run(m: &mut Motor, air: &mut Ambient, from_s: f64, to_s: f64) {
    let n = ((to_s - from_s) / 0.1).round() as usize;
    for i in 1..=n {
        let t = from_s + i as f64 * 0.1;
        air.step(t);
        m.step(t, 0.1, air);
    }
}

fn envelope_of_latest(m: &Motor) -> Vec<f64> {
    let b = m.block().expect("a block");
    ses(&b.render().unwrap(), b.fs_hz, b.resonance_hz)
}

#[test]
fn faulty_bearings_show_their_fault_frequency_at_the_shaft_speed() {
    let cases = [
        (SKF_6205, "6205", 30.0, FaultKind::Outer),
        (SKF_6205, "6205", 25.0, FaultKind::Inner),
        (SKF_6203, "6203", 50.0, FaultKind::Outer),
        (SKF_6203, "6203", 30.0, FaultKind::Inner),
    ];
    for (g, name, sync, kind) in cases {
        let mut air = calm_air();
        let mut m = Motor::new(params(g, name, sync), VibrationConfig::default(), &air, 11);
        m.start_defect(Defect { kind, onset_s: 0.0, initial: 0.5, doubling_s: 1e9, max: 1.0 });
        run(&mut m, &mut air, 0.0, 5.0);
        let b = m.block().unwrap();
        assert_eq!((b.seq, b.len, b.fs_hz), (5, 12_800, 12_800.0));
        let fr = b.shaft_hz;
        assert!((fr - sync * (1.0 - m.params().rated_slip * 0.7)).abs() < 0.05, "{name}: shaft {fr} Hz");
        let expected = FaultOrders::from_geometry(&g).order(kind) * fr;
        let s = envelope_of_latest(&m);
        let k = peak_bin(&s, 1.5 * fr, expected + 0.5 * fr);
        assert!(
            (k as f64 - expected).abs() <= 1.0,
            "{name} {kind:?} at {fr:.2} Hz: envelope peak at {k} Hz, expected {expected:.2} Hz"
        );
        let ratio = line_ratio(&s, expected);
        assert!(ratio > 10.0, "{name} {kind:?}: line/floor {ratio:.1}");
        // The second harmonic is there too (outer race: a clean impact train).
        if kind == FaultKind::Outer {
            assert!(line_ratio(&s, 2.0 * expected) > 5.0, "{name}: no 2×BPFO");
        }
    }
}

#[test]
fn a_humid_hall_raises_the_level_but_draws_no_fault_lines() {
    let p = params(SKF_6205, "6205", 25.0);
    let mut dry_air = calm_air();
    let mut wet_air = calm_air();
    wet_air.add_excursion(Excursion {
        target: ExcursionTarget::DewPoint,
        start_s: 10.0,
        ramp_s: 60.0,
        hold_s: 1e6,
        delta_c: 12.0,
    });
    let mut dry = Motor::new(p.clone(), VibrationConfig::default(), &dry_air, 5);
    let mut wet = Motor::new(p, VibrationConfig::default(), &wet_air, 5);
    run(&mut dry, &mut dry_air, 0.0, 900.0);
    run(&mut wet, &mut wet_air, 0.0, 900.0);
    assert!(wet_air.humidity_pct() > 85.0, "RH {}", wet_air.humidity_pct());
    assert!(
        wet.mount_stiffness() < 0.85 * dry.mount_stiffness(),
        "{} vs {}",
        wet.mount_stiffness(),
        dry.mount_stiffness()
    );
    let (level_dry, level_wet) = (dry.vib_rms(), wet.vib_rms());
    assert!(level_wet > 1.12 * level_dry, "level {level_wet:.3} vs {level_dry:.3} m/s²");
    // The rendered blocks agree with the process value.
    let rms = |m: &Motor| time_stats(&m.block().unwrap().render().unwrap()).rms;
    assert!(rms(&wet) > 1.1 * rms(&dry), "{} vs {}", rms(&wet), rms(&dry));
    // No line at any bearing frequency: average the envelope spectra of five blocks.
    let mut spectra = Vec::new();
    for _ in 0..5 {
        let t = wet.block().unwrap().t_end_s;
        run(&mut wet, &mut wet_air, t, t + 1.0);
        spectra.push(envelope_of_latest(&wet));
    }
    let s = mean(&spectra);
    let fr = wet.shaft_hz();
    for (family, order) in
        [("BPFO", wet.orders().outer), ("BPFI", wet.orders().inner), ("2·BSF", 2.0 * wet.orders().ball)]
    {
        let r = line_ratio(&s, order * fr);
        assert!(r < 3.0, "{family} at {:.1} Hz: ratio {r:.2} in a healthy, humid motor", order * fr);
    }
}

#[test]
fn analytic_level_matches_rendered_blocks() {
    for fault in [None, Some(FaultKind::Outer), Some(FaultKind::Inner), Some(FaultKind::Cage)] {
        let mut air = calm_air();
        let mut m = Motor::new(params(SKF_6205, "6205", 30.0), VibrationConfig::default(), &air, 21);
        if let Some(kind) = fault {
            m.start_defect(Defect { kind, onset_s: 0.0, initial: 1.0, doubling_s: 1e9, max: 1.0 });
        }
        run(&mut m, &mut air, 0.0, 3.0);
        let rendered = time_stats(&m.block().unwrap().render().unwrap()).rms;
        let analytic = m.vib_rms();
        assert!((rendered / analytic - 1.0).abs() < 0.08, "{fault:?}: rendered {rendered:.4}, analytic {analytic:.4}");
    }
}

#[test]
fn a_defect_grows_by_its_doubling_time_and_heats_the_bearing() {
    let d = Defect { kind: FaultKind::Outer, onset_s: 30.0, initial: 0.05, doubling_s: 40.0, max: 1.0 };
    assert_eq!(d.severity_at(29.9), 0.0);
    assert!((d.severity_at(30.0) - 0.05).abs() < 1e-12);
    assert!((d.severity_at(110.0) - 0.2).abs() < 1e-12);
    assert_eq!(d.severity_at(1e4), 1.0);
    let mut air = calm_air();
    let mut healthy = Motor::new(params(SKF_6205, "6205", 25.0), VibrationConfig::default(), &air, 2);
    let mut air2 = calm_air();
    let mut faulty = Motor::new(params(SKF_6205, "6205", 25.0), VibrationConfig::default(), &air2, 2);
    faulty.start_defect(Defect { onset_s: 0.0, ..d });
    run(&mut healthy, &mut air, 0.0, 1800.0);
    run(&mut faulty, &mut air2, 0.0, 1800.0);
    assert_eq!(faulty.severity(), 1.0);
    // 15 K at severity 1 with τ = 600 s: after 30 min most of it.
    let extra = faulty.bearing_temp_c() - healthy.bearing_temp_c();
    assert!(extra > 12.0 && extra < 15.5, "extra {extra:.2} K");
    // Friction adds torque: more current, a little more slip.
    assert!(faulty.current_a() > healthy.current_a() * 1.005);
    assert!(faulty.shaft_hz() < healthy.shaft_hz());
}

#[test]
fn current_and_slip_follow_the_load() {
    let mut air = calm_air();
    let mut m = Motor::new(params(SKF_6205, "6205", 25.0), VibrationConfig::default(), &air, 4);
    m.set_load(0.3);
    run(&mut m, &mut air, 0.0, 200.0);
    let (i_low, f_low) = (m.current_a(), m.shaft_hz());
    m.set_load(1.0);
    run(&mut m, &mut air, 200.0, 400.0);
    let (i_high, f_high) = (m.current_a(), m.shaft_hz());
    let rated = m.params().rated_current_a;
    assert!((i_low / rated - (0.35 + 0.65 * 0.3)).abs() < 0.02, "{i_low} of {rated}");
    assert!((i_high / rated - 1.0).abs() < 0.02, "{i_high} of {rated}");
    assert!(f_high < f_low && (f_low - f_high - 25.0 * m.params().rated_slip * 0.7).abs() < 0.02);
}

#[test]
fn knocks_land_in_the_block_that_covers_them() {
    let mut air = calm_air();
    let mut m = Motor::new(params(SKF_6205, "6205", 25.0), VibrationConfig::default(), &air, 8);
    m.knock(2.35, 6.0);
    run(&mut m, &mut air, 0.0, 3.0);
    let b = m.block().unwrap();
    assert_eq!(b.seq, 3);
    assert_eq!(b.knocks.len(), 1);
    assert!((b.knocks[0].0 - 0.35).abs() < 1e-9 && b.knocks[0].1 == 6.0);
    let x = b.render().unwrap();
    let s = time_stats(&x);
    assert!(s.peak > 4.0 && s.kurtosis > 5.0, "{s:?}");
    // One knock is not periodic: no bearing line.
    let e = ses(&x, b.fs_hz, b.resonance_hz);
    assert!(line_ratio(&e, m.orders().outer * b.shaft_hz) < 4.0);
}

#[test]
fn random_process_changes_and_knocks_happen_and_are_seeded() {
    let mut p = params(SKF_6205, "6205", 25.0);
    p.knocks_per_hour = 120.0;
    p.process_change_mean_s = 60.0;
    let trace = |seed: u64| {
        let mut air = calm_air();
        let mut m = Motor::new(p.clone(), VibrationConfig::default(), &air, seed);
        let mut out = Vec::new();
        let mut knocks = 0;
        for s in 1..=600 {
            run(&mut m, &mut air, (s - 1) as f64, s as f64);
            knocks += m.block().unwrap().knocks.len();
            out.push((m.shaft_hz(), m.load()));
        }
        (out, knocks)
    };
    let (a, ka) = trace(1);
    assert_eq!(trace(1), (a.clone(), ka));
    let (b, _) = trace(2);
    assert_ne!(a, b);
    let loads: Vec<f64> = a.iter().map(|x| x.1).collect();
    let spread = loads.iter().cloned().fold(f64::MIN, f64::max) - loads.iter().cloned().fold(f64::MAX, f64::min);
    assert!(spread > 0.1, "load moved by only {spread}");
    // 120 knocks/h over 10 min: about 20.
    assert!((8..=35).contains(&ka), "{ka} knocks");
}
