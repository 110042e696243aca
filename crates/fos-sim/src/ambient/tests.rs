//! Tests of the climate: the Magnus relation, the daily cycle, excursions and seeding.

use super::*;

#[test]
fn magnus_humidity() {
    assert!((relative_humidity_pct(20.0, 20.0) - 100.0).abs() < 1e-9);
    // Reference values (Alduchov & Eskridge over water): 20 °C with a 10 °C dew point is 52.6 %.
    assert!((relative_humidity_pct(20.0, 10.0) - 52.6).abs() < 0.3, "{}", relative_humidity_pct(20.0, 10.0));
    assert!((saturation_vapour_pressure_hpa(0.0) - 6.1094).abs() < 1e-9);
    // 30 °C: 42.46 hPa (steam tables).
    assert!((saturation_vapour_pressure_hpa(30.0) - 42.46).abs() < 0.3);
    // Dew point above the temperature: saturated, not above 100 %.
    assert_eq!(relative_humidity_pct(15.0, 18.0), 100.0);
}

fn calm() -> AmbientParams {
    AmbientParams { front_mean_interval_s: 1e12, ..AmbientParams::default() }
}

#[test]
fn daily_cycle_peaks_in_the_afternoon_and_humidity_moves_against_it() {
    let mut a = Ambient::new(calm(), 1);
    let (mut t_max, mut at_max, mut rh_at_max, mut rh_at_min, mut t_min) = (f64::MIN, 0.0, 0.0, 0.0, f64::MAX);
    for s in (0..=86_400).step_by(60) {
        a.step(s as f64);
        if a.temp_c() > t_max {
            (t_max, at_max, rh_at_max) = (a.temp_c(), s as f64, a.humidity_pct());
        }
        if a.temp_c() < t_min {
            (t_min, rh_at_min) = (a.temp_c(), a.humidity_pct());
        }
    }
    // Start at 08:00, peak at 15:00: 7 h in.
    assert!((at_max - 7.0 * 3600.0).abs() <= 60.0, "peak at {at_max} s");
    assert!((t_max - 23.5).abs() < 1e-6 && (t_min - 18.5).abs() < 1e-6);
    assert!(rh_at_min > rh_at_max + 10.0, "{rh_at_min} vs {rh_at_max}");
}

#[test]
fn a_humidity_spike_is_a_trapezoid_of_dew_point() {
    let mut a = Ambient::new(AmbientParams { daily_amplitude_c: 0.0, ..calm() }, 1);
    a.add_excursion(Excursion {
        target: ExcursionTarget::DewPoint,
        start_s: 100.0,
        ramp_s: 100.0,
        hold_s: 300.0,
        delta_c: 12.0,
    });
    let mut at = |t: f64| {
        a.step(t);
        (a.dew_point_c(), a.humidity_pct(), a.temp_c())
    };
    let (d0, rh0, t0) = at(50.0);
    assert_eq!((d0, t0), (9.0, 21.0));
    assert!((at(150.0).0 - 15.0).abs() < 1e-9);
    let (d1, rh1, _) = at(300.0);
    assert!((d1 - 21.0).abs() < 1e-9 && rh1 > 99.9 && rh0 < 50.0, "{d1} {rh1} {rh0}");
    assert!((at(550.0).0 - 15.0).abs() < 1e-9);
    assert_eq!(at(700.0).0, 9.0);
}

#[test]
fn fronts_are_seeded() {
    let series = |seed| {
        let mut a = Ambient::new(AmbientParams { front_mean_interval_s: 3600.0, ..AmbientParams::default() }, seed);
        (1..=48)
            .map(|h| {
                a.step(h as f64 * 3600.0);
                (a.temp_c(), a.dew_point_c())
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(series(3), series(3));
    assert_ne!(series(3), series(4));
    // Fronts move the dew point (the base is 9 °C).
    assert!(series(3).iter().any(|&(_, d)| (d - 9.0).abs() > 0.5));
}
