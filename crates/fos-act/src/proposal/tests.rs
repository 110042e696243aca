//! Tests of the proposal payload: serde tags, the canonical encoding and hash, effects and rendering.

use super::*;
use crate::gcode::WorkOffset;
use crate::offset::ToolOffsetKind;
use crate::weld::{Cell, DistortionModel, Objective, Torch, Weld};
use proptest::prelude::*;
use serde_json::json;

fn wear() -> Action {
    Action::ToolOffset(ToolOffsetCorrection {
        machine: "mill-3".into(),
        tool_offset_number: 5,
        kind: ToolOffsetKind::LengthWear,
        current_mm: -0.02,
        delta_mm: -0.03,
        device_tag: None,
    })
}

fn write_action() -> Action {
    Action::DriverWrite {
        device: "s7://10.0.0.5:102".into(),
        address: "DB1.DBD4".into(),
        value: json!({"b": 1, "a": [true, null, 2.5, "x\"\n\u{1}é"], "c": {"z": -0.0, "y": 5.0}}),
    }
}

#[test]
fn serde_uses_the_kind_tags() {
    let v = serde_json::to_value(wear()).unwrap();
    assert_eq!(v["kind"], "tool-offset");
    assert_eq!(v["tool_offset_number"], 5);
    assert_eq!(v["offset_kind"], "length-wear");
    let kinds: Vec<String> = [wear(), write_action()].iter().map(|a| serde_json::to_value(a).unwrap()["kind"].as_str().unwrap().to_owned()).collect();
    assert_eq!(kinds, ["tool-offset", "driver-write"]);
    for a in [wear(), write_action()] {
        let back: Action = serde_json::from_str(&serde_json::to_string(&a).unwrap()).unwrap();
        assert_eq!(back, a);
        assert_eq!(a.kind(), serde_json::to_value(&a).unwrap()["kind"]);
    }
}

#[test]
fn tool_offset_json_is_exactly_this() {
    assert_eq!(
        wear().canonical_json(),
        r#"{"current_mm":-0.02,"delta_mm":-0.03,"kind":"tool-offset","machine":"mill-3","offset_kind":"length-wear","tool_offset_number":5}"#
    );
    // Unknown fields are refused.
    let extra = r#"{"kind":"tool-offset","machine":"m","tool_offset_number":1,"offset_kind":"length-wear","current_mm":0.0,"delta_mm":0.1,"x":1}"#;
    assert!(serde_json::from_str::<Action>(extra).is_err());
}

#[test]
fn canonical_json_sorts_escapes_and_marks_floats() {
    assert_eq!(
        write_action().canonical_json(),
        "{\"address\":\"DB1.DBD4\",\"device\":\"s7://10.0.0.5:102\",\"kind\":\"driver-write\",\
         \"value\":{\"a\":[true,null,2.5,\"x\\\"\\n\\u0001é\"],\"b\":1,\"c\":{\"y\":5.0,\"z\":-0.0}}}"
    );
    assert_eq!(canonical_value(&json!(1e21)), "1000000000000000000000.0");
    assert_eq!(canonical_value(&json!(0.1)), "0.1");
    assert_eq!(canonical_value(&json!(-7)), "-7");
    assert_eq!(canonical_value(&json!(u64::MAX)), "18446744073709551615");
    assert_eq!(canonical_value(&json!("\u{8}\u{c}\t\r\\")), "\"\\b\\f\\t\\r\\\\\"");
}

#[test]
fn the_hash_is_stable() {
    // Golden values: a change here breaks every signature already issued.
    assert_eq!(wear().payload_hash_hex(), sha256_hex(wear().canonical_json().as_bytes()));
    assert_eq!(wear().payload_hash_hex(), GOLDEN_WEAR);
    assert_eq!(write_action().payload_hash_hex(), GOLDEN_WRITE);
    // Key order in the input does not matter.
    let shuffled =
        r#"{"tool_offset_number":5,"offset_kind":"length-wear","delta_mm":-0.03,"machine":"mill-3","current_mm":-0.02,"kind":"tool-offset"}"#;
    let a: Action = serde_json::from_str(shuffled).unwrap();
    assert_eq!(a.payload_hash(), wear().payload_hash());
    // Any change of value does.
    let Action::ToolOffset(mut c) = wear() else { unreachable!() };
    c.delta_mm = -0.030000000000000002;
    assert_ne!(Action::ToolOffset(c).payload_hash(), wear().payload_hash());
}

// Cross-checked with Python: sha256(json.dumps(v, sort_keys=True, separators=(',', ':'), ensure_ascii=False)),
// which writes the same canonical text for these values.
const GOLDEN_WEAR: &str = "43f783ef7b398f7ee0f2f4bed811d8d4923c610328df0501e021a78345964da1";
const GOLDEN_WRITE: &str = "223c0a3f6937524c74bba12ac1306d656b0ffdbcf86e7d5a2c3eca743385bf5c";

#[test]
fn deviation_effect_and_render_of_offsets() {
    let a = wear();
    assert_eq!(a.machine(), "mill-3");
    assert!((a.deviation_mm() - 0.03).abs() < 1e-15);
    assert_eq!(a.render(), "G21\nG90 G10 L11 P5 R-0.0500\n");
    let e = a.predicted_effect();
    assert_eq!(e.figures["new_value_mm"], -0.05);
    assert!((e.figures["expected_error_before_mm"] - 0.03).abs() < 1e-15);
    assert!(e.figures["expected_error_after_mm"] < 1e-12);
    assert!(e.summary.contains("length wear offset 5 of mill-3: -0.0200 → -0.0500 mm"), "{}", e.summary);
    a.check().unwrap();

    let radius = Action::ToolOffset(ToolOffsetCorrection {
        machine: "m".into(),
        tool_offset_number: 12,
        kind: ToolOffsetKind::RadiusWear,
        current_mm: 0.0,
        delta_mm: 0.01,
        device_tag: None,
    });
    assert!((radius.predicted_effect().figures["expected_error_before_mm"] - 0.02).abs() < 1e-15);
    assert!(radius.predicted_effect().summary.contains("diameter"));

    let w = Action::WorkOffset(WorkOffsetCorrection {
        machine: "m".into(),
        work_offset: WorkOffset::G55,
        current_mm: [10.0, 20.0, 30.0],
        delta_mm: [0.03, 0.04, 0.0],
    });
    assert!((w.deviation_mm() - 0.05).abs() < 1e-15);
    assert_eq!(w.render(), "G21\nG90 G10 L2 P2 X10.0300 Y20.0400\n");
    assert!(w.predicted_effect().summary.starts_with("G55 of m moves by 0.0500 mm"));

    let bad = Action::ToolOffset(ToolOffsetCorrection {
        machine: "m".into(),
        tool_offset_number: 1,
        kind: ToolOffsetKind::LengthWear,
        current_mm: f64::NAN,
        delta_mm: 0.1,
        device_tag: None,
    });
    assert!(bad.check().is_err());
    assert!(bad.render().starts_with("(invalid: "));
}

#[test]
fn toolpath_action_binds_both_texts() {
    let text = "G21 G90\nG0 X1. Y1. Z5.\nG1 Z-1. F100.\n";
    let (a, corrected) = Action::toolpath("mill-3", "O1001", text, [0.0, 0.0, 0.02]).unwrap();
    let Action::ToolpathCorrection { program_hash, corrected_hash, report, first_changes, .. } = &a else { panic!() };
    assert_eq!(program_hash, &sha256_hex(text.as_bytes()));
    assert_eq!(corrected_hash, &sha256_hex(corrected.text.as_bytes()));
    assert_eq!(report.lines_changed, 2);
    assert_eq!(first_changes.len(), 2);
    a.check().unwrap();
    assert!((a.deviation_mm() - 0.02).abs() < 1e-15);
    let r = a.render();
    assert!(r.contains("shift X0.0000 Y0.0000 Z0.0200 mm"), "{r}");
    assert!(r.contains("-     3: G1 Z-1.0000 F100.0000\n+     3: G1 Z-0.9800 F100.0000\n"), "{r}");
    assert_eq!(a.predicted_effect().figures["lines_changed"], 2.0);
    assert!(matches!(Action::toolpath("m", "O1", "G21 G90\nG92 X0.\n", [0.1, 0.0, 0.0]), Err(ProposalError::Transform { .. })));
    assert!(matches!(Action::toolpath("m", "O1", "G1 E1.\n", [0.1, 0.0, 0.0]), Err(ProposalError::Parse { .. })));
}

#[test]
fn weld_reroute_and_driver_write() {
    let both = vec!["T1".to_owned(), "T2".to_owned()];
    let cell = Cell {
        torches: vec![
            Torch { id: "T1".into(), home: [0.0; 3], travel_speed_mm_s: 100.0, health: 1.0 },
            Torch { id: "T2".into(), home: [400.0, 0.0, 0.0], travel_speed_mm_s: 100.0, health: 0.5 },
        ],
        welds: [("w1", 0.0, 100.0), ("w2", 0.0, 200.0), ("w3", 400.0, 100.0), ("w4", 400.0, 200.0)]
            .iter()
            .map(|(id, x, y)| Weld { id: id.to_string(), pos: [*x, *y, 0.0], length_mm: 10.0, nominal_seconds: 10.0, reachable_by: both.clone() })
            .collect(),
        precedence: vec![],
        min_usable_health: 0.2,
        distortion: DistortionModel::default(),
    };
    let current = Plan {
        sequences: [("T1", ["w1", "w2"]), ("T2", ["w3", "w4"])]
            .iter()
            .map(|(t, ws)| (t.to_string(), ws.iter().map(|w| w.to_string()).collect()))
            .collect(),
    };
    let r = crate::weld::replan(&cell, &current, &Objective::default()).unwrap();
    let a = Action::weld_reroute("cell-7", &r);
    assert_eq!(a.deviation_mm(), 0.0);
    assert_eq!(a.machine(), "cell-7");
    let e = a.predicted_effect();
    assert!((e.figures["makespan_before_s"] - 42.0).abs() < 1e-9 && (e.figures["makespan_after_s"] - 36.0).abs() < 1e-9, "{e:?}");
    assert!((e.figures["gain_s"] - 6.0).abs() < 1e-9);
    assert!(a.render().contains("T1: w1 → w2 → w4\nT2: w3\n"), "{}", a.render());
    a.check().unwrap();
    let back: Action = serde_json::from_str(&serde_json::to_string(&a).unwrap()).unwrap();
    assert_eq!(back.payload_hash(), a.payload_hash());

    let w = write_action();
    assert_eq!(w.deviation_mm(), 0.0);
    assert!(w.render().starts_with("s7://10.0.0.5:102 DB1.DBD4 := {\"a\":"));
    assert!(w.predicted_effect().figures.is_empty());
    let empty = Action::DriverWrite { device: String::new(), address: "x".into(), value: json!(1) };
    assert!(empty.check().is_err());
}

proptest! {
    /// Serialising, reading back from JSON and hashing again gives the same hash, for any offsets.
    #[test]
    fn hash_survives_a_json_round_trip(current in -100.0f64..100.0, delta in -1.0f64..1.0, p in 1u32..999, s in "\\PC{0,20}") {
        let a = Action::ToolOffset(ToolOffsetCorrection {
            machine: s,
            tool_offset_number: p,
            kind: ToolOffsetKind::RadiusWear,
            current_mm: current,
            delta_mm: delta,
            device_tag: None,
        });
        let text = serde_json::to_string(&a).unwrap();
        let back: Action = serde_json::from_str(&text).unwrap();
        prop_assert_eq!(back.payload_hash(), a.payload_hash());
        // The canonical text is itself JSON that reads back to the same action.
        let again: Action = serde_json::from_str(&a.canonical_json()).unwrap();
        prop_assert_eq!(again, a);
    }
}

#[test]
fn a_device_tag_is_bound_by_the_hash_only_when_present() {
    let plain = wear();
    assert!(!plain.canonical_json().contains("device_tag"), "absent from the JSON when None");
    let Action::ToolOffset(mut c) = wear() else { unreachable!("a tool offset") };
    c.device_tag = Some(crate::offset::DeviceTag { device: "modbus://10.0.0.7:502?unit=1".into(), address: "hr:40:f32".into() });
    let tagged = Action::ToolOffset(c.clone());
    assert!(tagged.canonical_json().contains(r#""device_tag":{"address":"hr:40:f32","device":"modbus://10.0.0.7:502?unit=1"}"#));
    assert_ne!(tagged.payload_hash(), plain.payload_hash());
    let back: Action = serde_json::from_str(&tagged.canonical_json()).unwrap();
    assert_eq!(back, tagged);
    c.device_tag = Some(crate::offset::DeviceTag { device: "modbus://10.0.0.7:502?unit=1".into(), address: "hr:42:f32".into() });
    assert_ne!(Action::ToolOffset(c).payload_hash(), tagged.payload_hash(), "another address is another payload");
    assert_eq!(tagged.render(), plain.render(), "the G-code is the same");
}
