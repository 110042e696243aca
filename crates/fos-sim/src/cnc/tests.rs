//! Tests of the mill: Taylor wear, the cycle, thermal growth and the offset register.

use super::*;

fn run(c: &mut Cnc, from_s: f64, to_s: f64, air_c: f64) {
    let n = ((to_s - from_s) / 0.1).round() as usize;
    for i in 1..=n {
        c.step(from_s + i as f64 * 0.1, 0.1, air_c);
    }
}

#[test]
fn taylor_life_and_a_monotone_wear_curve() {
    let p = CncParams::default();
    assert!((p.tool_life_s() - 16.0 * 60.0).abs() < 1e-9, "{}", p.tool_life_s());
    assert!((p.flank_wear_mm(p.tool_life_s()) - 0.3).abs() < 1e-6);
    let mut prev = -1.0;
    for i in 0..=2000 {
        let vb = p.flank_wear_mm(i as f64);
        assert!(vb > prev, "not increasing at {i} s");
        prev = vb;
    }
    // Faster cutting, shorter life (Taylor): doubling V divides T by 2^(1/n) = 16.
    let fast = CncParams { cutting_speed_m_min: 400.0, ..p.clone() };
    assert!((p.tool_life_s() / fast.tool_life_s() - 16.0).abs() < 1e-9);
    assert!((p.spindle_rpm() - 6366.2).abs() < 0.1);
}

#[test]
fn wear_only_grows_while_cutting_and_load_and_vibration_follow_it() {
    let mut c = Cnc::new(CncParams::default(), 21.0, 1);
    assert!(c.cutting() && c.error_now_mm().abs() < 1e-4, "preset: {}", c.error_now_mm());
    let mut prev = 0.0;
    let mut was_cutting = true;
    let (mut load0, mut vib0) = (0.0, 0.0);
    for s in 1..=600 {
        run(&mut c, (s - 1) as f64, s as f64, 21.0);
        let vb = c.flank_wear_mm();
        assert!(vb >= prev);
        if !c.cutting() && !was_cutting {
            assert_eq!(vb, prev, "wear grew while idle at {s} s");
            assert_eq!((c.spindle_rpm(), c.spindle_load_pct()), (0.0, 0.0));
        }
        if s == 30 {
            (load0, vib0) = (c.spindle_load_pct(), c.vib_rms());
        }
        prev = vb;
        was_cutting = c.cutting();
    }
    // 600 s = 5 cycles of 90 s cutting + 30 s idle.
    assert_eq!(c.parts(), 5);
    assert!((c.tool_cut_time_s() - 450.0).abs() < 1e-6);
    let cut_load = |c: &mut Cnc, t: f64| {
        run(c, t, t + 10.0, 21.0);
        (c.spindle_load_pct(), c.vib_rms())
    };
    let (load1, vib1) = cut_load(&mut c, 600.0);
    assert!(load1 > load0 * 1.1 && vib1 > vib0 * 1.2, "load {load0}→{load1}, vib {vib0}→{vib1}");
}

#[test]
fn an_offset_write_takes_the_error_out_of_the_next_part() {
    let mut c = Cnc::new(CncParams::default(), 21.0, 2);
    run(&mut c, 0.0, 600.0, 21.0);
    let e = c.part_error_mm();
    assert!(e > 0.01, "the worn tool leaves the face high: {e} mm");
    assert!((e - c.error_now_mm()).abs() < 0.003);
    let parts = c.parts();
    // The correction a proposal would carry: the new absolute offset, 0.1 µm steps.
    let new_offset = ((c.offset_mm() - e) * 1e4).round() / 1e4;
    c.set_offset_mm(new_offset);
    run(&mut c, 600.0, 720.0, 21.0);
    assert_eq!(c.parts(), parts + 1);
    let after = c.part_error_mm();
    assert!(after.abs() < 0.25 * e, "error {e:.4} mm → {after:.4} mm");
}

#[test]
fn the_spindle_grows_with_its_temperature() {
    // A cold machine (spindle at air temperature, 20 °C) warms up while cutting.
    let mut c = Cnc::new(CncParams { cut_s: 1e6, ..CncParams::default() }, 20.0, 3);
    c.spindle_temp_c = 20.0;
    assert_eq!(c.thermal_growth_mm(), 0.0);
    let e0 = c.error_now_mm();
    run(&mut c, 0.0, 900.0, 20.0);
    // τ = 900 s: 63 % of the 8 K rise; 1.725 µm/K.
    assert!((c.spindle_temp_c() - (20.0 + 8.0 * (1.0 - (-1f64).exp()))).abs() < 0.01);
    assert!((c.thermal_growth_mm() - 0.001725 * (c.spindle_temp_c() - 20.0)).abs() < 1e-12);
    // Growth pushes the tip down (the face low) while wear lifts it.
    assert!((c.error_now_mm() - (e0 + c.wear_loss_mm() - c.thermal_growth_mm())).abs() < 1e-12);
}

#[test]
fn a_worn_out_tool_is_changed_and_preset() {
    let mut c = Cnc::new(CncParams::default(), 21.0, 4);
    c.set_flank_wear(0.299);
    assert!((c.flank_wear_mm() - 0.299).abs() < 1e-6);
    run(&mut c, 0.0, 125.0, 21.0);
    assert_eq!(c.tool_changes(), 1);
    assert!(c.flank_wear_mm() < 0.05 && c.error_now_mm().abs() < 0.002, "{} {}", c.flank_wear_mm(), c.error_now_mm());
}
