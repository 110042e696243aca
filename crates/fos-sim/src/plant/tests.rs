//! Tests of the plant: determinism, the value/layout contract, writes, scenario checks, the demo
//! scenario's timing, and a plant of 200 assets.

use super::*;
use crate::layout::Table;
use crate::testutil::{line_ratio, ses};
use std::collections::HashSet;

#[test]
fn a_seed_gives_one_history_however_the_steps_are_cut() {
    let mut a = Plant::demo(9).unwrap();
    let mut b = Plant::demo(9).unwrap();
    assert_eq!(a.step(120.0).unwrap(), 1200);
    for i in 1..=480 {
        b.step(i as f64 * 0.25).unwrap();
    }
    assert_eq!(a.time_s(), b.time_s());
    assert_eq!(a.values(), b.values());
    let m = a.layout().asset_index("motor-02").unwrap();
    assert_eq!(a.block(m), b.block(m));
    assert_eq!(a.block(m).unwrap().render().unwrap(), b.block(m).unwrap().render().unwrap());
    let mut c = Plant::demo(10).unwrap();
    c.step(120.0).unwrap();
    assert_ne!(a.values(), c.values());
}

#[test]
fn values_follow_the_layout() {
    let mut p = Plant::demo(1).unwrap();
    p.step(75.0).unwrap();
    let v = p.values();
    assert_eq!(v.len(), p.layout().points.len());
    let m = p.motor("motor-03").unwrap();
    assert_eq!(p.value("motor-03", "current_a").unwrap(), m.current_a());
    assert_eq!(p.value("motor-03", "speed_rpm").unwrap(), m.shaft_hz() * 60.0);
    assert_eq!(p.value("motor-03", "vib.seq").unwrap(), 75.0);
    assert_eq!(p.value("motor-03", "vib.rate_hz").unwrap(), 12_800.0);
    assert_eq!(p.value("motor-03", "bearing_temp_c").unwrap(), m.bearing_temp_c());
    let c = p.cnc("cnc-01").unwrap();
    assert_eq!(p.value("cnc-01", "tool_offset_mm").unwrap(), c.offset_mm());
    assert_eq!(p.value("cnc-01", "parts").unwrap(), 0.0);
    assert_eq!(p.value("cnc-01", "cutting").unwrap(), 1.0);
    let w = p.weld_cell("weld-01").unwrap();
    assert_eq!(p.value("weld-01", "torch3.welds").unwrap(), w.torches()[2].welds as f64);
    assert_eq!(p.value("weld-01", "weld9.torch").unwrap(), 3.0);
    assert_eq!(p.value("ambient", "humidity_pct").unwrap(), p.ambient().humidity_pct());
    assert_eq!(p.value("ambient", "sim_time_s").unwrap(), 75.0);
    // Every asset's values fill exactly its points (the last asset's last point is the last value).
    assert_eq!(*v.last().unwrap(), 3.0);
}

#[test]
fn the_modbus_map_is_dense_and_disjoint() {
    let p = Plant::demo(1).unwrap();
    let l = p.layout();
    let mut used = HashSet::new();
    for (k, pt) in l.points.iter().enumerate() {
        let Some(m) = pt.modbus else {
            assert_eq!(pt.spec.ty, PointType::Waveform);
            continue;
        };
        assert_eq!(m.table == Table::Holding, pt.spec.writable, "{}", l.node_name(k));
        let base = l.assets[pt.asset].modbus_base as usize;
        for w in 0..pt.spec.ty.words() {
            let r = m.address as usize + w;
            assert!(r >= base && r < base + 100);
            assert!(used.insert((m.table, r)), "register {r} used twice");
        }
    }
    assert_eq!(l.modbus_address(l.point("motor-01", "current_a").unwrap()).as_deref(), Some("ir:104:f32"));
    assert_eq!(l.modbus_address(l.point("cnc-01", "tool_offset_mm").unwrap()).as_deref(), Some("hr:500:f32"));
    assert_eq!(l.modbus_address(l.point("weld-01", "weld1.torch").unwrap()).as_deref(), Some("hr:600:u16"));
    assert_eq!(l.modbus_address(l.point("motor-01", "vib.block").unwrap()), None);
    let doc = l.describe();
    assert!(
        doc.contains("| motor-02 | line-1 | vib.block | m/s² | f64[] | r | — | `ns=2;s=motor-02.vib.block` |"),
        "{doc}"
    );
    assert_eq!(doc.lines().count(), 2 + l.points.len());
    let lines: Vec<String> = l.lines().into_iter().map(|(n, _)| n).collect();
    assert_eq!(lines, ["facilities", "line-1", "machining", "welding"]);
}

#[test]
fn writes_are_checked_like_a_controller_would() {
    let mut p = Plant::demo(1).unwrap();
    let e = p.write("motor-01", "current_a", 3.0).unwrap_err().to_string();
    assert!(e.contains("read-only") && e.contains("speed_setpoint_rpm"), "{e}");
    let e = p.write("cnc-01", "tool_offset_mm", 1.5).unwrap_err().to_string();
    assert!(e.contains("cnc-01.tool_offset_mm") && e.contains("±1 mm"), "{e}");
    assert!(p.write("cnc-01", "tool_offset_mm", f64::NAN).is_err());
    assert!(matches!(p.write("cnc-09", "tool_offset_mm", 0.0), Err(SimError::UnknownAsset { .. })));
    assert!(matches!(p.write("cnc-01", "offset", 0.0), Err(SimError::UnknownPoint { .. })));
    let e = p.write("weld-01", "weld2.torch", 4.0).unwrap_err().to_string();
    assert!(e.contains("1–3"), "{e}");
    assert!(p.write("weld-01", "weld2.torch", 1.5).is_err());
    p.write("weld-01", "weld2.torch", 3.0).unwrap();
    assert_eq!(p.weld_cell("weld-01").unwrap().programmed()[1], 2);
    let rated = p.motor("motor-01").unwrap().params().rated_sync_hz;
    assert!(p.write("motor-01", "speed_setpoint_rpm", rated * 60.0 * 2.0).is_err());
    p.write("motor-01", "speed_setpoint_rpm", rated * 60.0 * 0.8).unwrap();
    p.step(30.0).unwrap();
    let m = p.motor("motor-01").unwrap();
    assert!((m.shaft_hz() / (0.8 * rated) - 1.0).abs() < 0.05, "{}", m.shaft_hz());
    p.write("cnc-01", "tool_offset_mm", -0.0123).unwrap();
    assert_eq!(p.value("cnc-01", "tool_offset_mm").unwrap(), -0.0123);
    assert!(matches!(p.step(10.0), Err(SimError::TimeBackwards { .. })));
}

#[test]
fn scenarios_are_checked_against_the_plant() {
    let config = PlantConfig::default();
    let try_one = |toml: &str| {
        let s = Scenario::from_toml(toml, "s.toml").unwrap();
        Plant::new(config.clone(), s).map(|_| ()).unwrap_err().to_string()
    };
    let e = try_one("[[event]]\nkind = \"knock\"\nat_s = 1\nasset = \"motor-07\"\n");
    assert!(e.contains("event 1 (knock at 1 s)") && e.contains("motor-07") && e.contains("motor-04"), "{e}");
    let e = try_one("[[event]]\nkind = \"knock\"\nat_s = 1\nasset = \"cnc-01\"\n");
    assert!(e.contains("cnc-01 is a cnc, the event needs a motor"), "{e}");
    let e = try_one("[[event]]\nkind = \"torch_degrade\"\nat_s = 1\nasset = \"weld-01\"\ntorch = 4\nrate = 2\n");
    assert!(e.contains("torches 1–3"), "{e}");
    let e = try_one("[[event]]\nkind = \"speed\"\nat_s = 1\nasset = \"motor-01\"\nhz = 500\n");
    assert!(e.contains("drive accepts"), "{e}");
    let e = Plant::new(PlantConfig { tick_s: 0.0, ..config.clone() }, Scenario::none()).unwrap_err().to_string();
    assert!(e.contains("tick_s"), "{e}");
    let e = Plant::new(PlantConfig { motors: 700, ..config.clone() }, Scenario::none()).unwrap_err().to_string();
    assert!(e.contains("655"), "{e}");
    let e = Plant::new(PlantConfig { site: "a b".into(), ..config }, Scenario::none()).unwrap_err().to_string();
    assert!(e.contains("site"), "{e}");
}

#[test]
fn scripted_events_reach_their_machines() {
    let toml = r#"
        [[event]]
        kind = "tool_wear"
        at_s = 10
        asset = "cnc-01"
        vb_mm = 0.2
        [[event]]
        kind = "load"
        at_s = 5
        asset = "motor-01"
        fraction = 1.1
        [[event]]
        kind = "temperature_step"
        at_s = 0
        rise_c = 5
        ramp_s = 10
    "#;
    let mut p = Plant::new(PlantConfig::default(), Scenario::from_toml(toml, "t").unwrap()).unwrap();
    let air0 = p.ambient().temp_c();
    p.step(9.9).unwrap();
    assert!(p.cnc("cnc-01").unwrap().flank_wear_mm() < 0.1);
    p.step(10.0).unwrap();
    assert!((p.cnc("cnc-01").unwrap().flank_wear_mm() - 0.2).abs() < 1e-3);
    p.step(200.0).unwrap();
    assert!((p.motor("motor-01").unwrap().load() - 1.1).abs() < 0.01);
    assert!(p.ambient().temp_c() > air0 + 4.9);
}

#[test]
fn the_demo_fault_is_in_the_envelope_within_three_minutes_and_the_level_barely_moves() {
    let mut p = Plant::demo(1).unwrap();
    p.step(29.0).unwrap();
    let healthy_level = p.motor("motor-02").unwrap().vib_rms();
    p.step(180.0).unwrap();
    let m = p.motor("motor-02").unwrap();
    let b = m.block().unwrap();
    let s = ses(&b.render().unwrap(), b.fs_hz, b.resonance_hz);
    let ratio = line_ratio(&s, m.orders().outer * b.shaft_hz);
    assert!(ratio > 8.0, "BPFO line/floor {ratio:.1} at severity {:.2}", m.severity());
    // The overall level has moved by well under ISO 10816's 25 %: a level-only model is blind.
    assert!(m.vib_rms() < 1.25 * healthy_level, "{} vs {healthy_level}", m.vib_rms());
    // The other motors stay healthy.
    assert_eq!(p.motor("motor-01").unwrap().severity(), 0.0);
}

#[test]
fn two_hundred_assets_step() {
    let config = PlantConfig { motors: 190, cnc_mills: 5, weld_cells: 5, ..PlantConfig::default() };
    let scenario = Scenario::demo(&Plant::targets(&config));
    let mut p = Plant::new(config, scenario).unwrap();
    assert_eq!(p.layout().assets.len(), 201);
    p.step(60.0).unwrap();
    assert_eq!(p.ticks(), 600);
    let v = p.values();
    assert!(v.iter().all(|x| x.is_finite()));
    assert_eq!(p.layout().assets[200].id, "weld-05");
    assert_eq!(p.layout().assets[190].line, "line-19");
    assert_eq!(p.layout().assets[200].modbus_base, 20_000);
}

#[test]
fn a_config_file_takes_defaults_and_is_checked() {
    let c = PlantConfig::from_toml("motors = 12\nseed = 5\n[vibration]\nfs_hz = 25600\n", "plant.toml").unwrap();
    assert_eq!((c.motors, c.seed, c.vibration.fs_hz, c.vibration.block_s, c.cnc_mills), (12, 5, 25_600.0, 1.0, 1));
    let e = PlantConfig::from_toml("motorz = 3\n", "plant.toml").unwrap_err().to_string();
    assert!(e.contains("plant.toml") && e.contains("motorz"), "{e}");
    let e = PlantConfig::from_toml("[vibration]\nfs_hz = 10\n", "plant.toml").unwrap_err().to_string();
    assert!(e.contains("vibration.fs_hz"), "{e}");
}
