//! Tests of the offset corrections and of the controller model.

use super::*;
use proptest::prelude::*;

fn tool(kind: ToolOffsetKind, current_mm: f64, delta_mm: f64) -> ToolOffsetCorrection {
    ToolOffsetCorrection { machine: "mill-3".into(), tool_offset_number: 5, kind, current_mm, delta_mm, device_tag: None }
}

fn run(text: &str, table: &mut OffsetTable) -> Result<(), OffsetError> {
    table.execute(&parse(text).unwrap())
}

#[test]
fn tool_offsets_use_the_fanuc_l_codes() {
    let limits = OffsetLimits::default();
    for (kind, l) in [
        (ToolOffsetKind::LengthGeometry, 10),
        (ToolOffsetKind::LengthWear, 11),
        (ToolOffsetKind::RadiusGeometry, 12),
        (ToolOffsetKind::RadiusWear, 13),
    ] {
        let c = tool(kind, 4.0, -0.03);
        assert_eq!(c.emit(&limits).unwrap(), format!("G21\nG90 G10 L{l} P5 R3.9700\n"));
        assert_eq!(ToolOffsetKind::from_l_code(l), Some(kind));
    }
    assert_eq!(ToolOffsetKind::from_l_code(2), None);
}

#[test]
fn the_absolute_value_is_rounded_to_the_written_increment() {
    let c = tool(ToolOffsetKind::LengthWear, 0.12345678, 0.0001);
    assert!((c.new_value_mm() - 0.12355678).abs() < 1e-15);
    assert_eq!(c.gcode().unwrap(), "G21\nG90 G10 L11 P5 R0.1236\n");
    c.verify_emitted(&c.gcode().unwrap()).unwrap();
}

#[test]
fn refuses_out_of_bounds_corrections() {
    let limits = OffsetLimits::default();
    let e = tool(ToolOffsetKind::LengthWear, 0.0, 0.6).emit(&limits).unwrap_err();
    assert_eq!(e, OffsetError::DeltaTooLarge { field: "delta_mm", delta_mm: 0.6, max_abs_delta_mm: 0.5 });
    assert!(e.to_string().contains("exceeds the limit of 0.5 mm"), "{e}");
    assert!(matches!(tool(ToolOffsetKind::LengthWear, f64::NAN, 0.1).gcode(), Err(OffsetError::NonFinite { field: "current_mm", .. })));
    assert!(matches!(tool(ToolOffsetKind::LengthWear, 0.0, f64::INFINITY).gcode(), Err(OffsetError::NonFinite { field: "delta_mm", .. })));
    assert!(matches!(tool(ToolOffsetKind::LengthWear, 1e9, 0.1).gcode(), Err(OffsetError::OutOfRange { .. })));
    assert!(matches!(tool(ToolOffsetKind::LengthWear, 1.0, 0.0).gcode(), Err(OffsetError::NoChange)));
    assert!(matches!(tool(ToolOffsetKind::RadiusGeometry, 0.01, -0.02).gcode(), Err(OffsetError::NegativeRadius { .. })));
    // Negative wear is ordinary.
    assert!(tool(ToolOffsetKind::RadiusWear, 0.01, -0.02).emit(&limits).is_ok());
    let mut c = tool(ToolOffsetKind::LengthWear, 0.0, 0.1);
    c.tool_offset_number = 0;
    assert!(matches!(c.gcode(), Err(OffsetError::OffsetNumber { number: 0, .. })));
    c.tool_offset_number = 401;
    assert_eq!(c.check(&limits), Err(OffsetError::OffsetNumber { number: 401, max: 400 }));
    let bad = OffsetLimits { max_abs_delta_mm: f64::NAN, ..limits };
    assert!(matches!(tool(ToolOffsetKind::LengthWear, 0.0, 0.1).check(&bad), Err(OffsetError::InvalidLimits(_))));
}

#[test]
fn work_offsets_write_only_the_axes_that_change() {
    let c = WorkOffsetCorrection {
        machine: "mill-3".into(),
        work_offset: WorkOffset::G54,
        current_mm: [-120.0, 45.5, -30.25],
        delta_mm: [-0.01, 0.0, -0.25],
    };
    assert_eq!(c.emit(&OffsetLimits::default()).unwrap(), "G21\nG90 G10 L2 P1 X-120.0100 Z-30.5000\n");
    let c59 = WorkOffsetCorrection { work_offset: WorkOffset::G59, ..c.clone() };
    assert!(c59.gcode().unwrap().contains("L2 P6 "));
    // The limit applies to the vector: |(0.4, 0, 0.4)| = 0.566 > 0.5 although each axis is within it.
    let big = WorkOffsetCorrection { delta_mm: [0.4, 0.0, 0.4], ..c.clone() };
    assert!(matches!(big.check(&OffsetLimits::default()), Err(OffsetError::DeltaTooLarge { .. })));
    let none = WorkOffsetCorrection { delta_mm: [0.0; 3], ..c };
    assert_eq!(none.gcode(), Err(OffsetError::NoChange));
}

#[test]
fn verify_emitted_rejects_blocks_that_are_not_the_intended_absolute_write() {
    let c = tool(ToolOffsetKind::LengthWear, -0.02, -0.03);
    c.verify_emitted("G21\nG90 G10 L11 P5 R-0.0500\n").unwrap();
    // Incremental: runs twice to a different value.
    let e = c.verify_emitted("G21\nG91 G10 L11 P5 R-0.03\n").unwrap_err();
    assert!(e.to_string().contains("not absolute"), "{e}");
    // No units: the model starts in G20, so the value would be inches.
    let e = c.verify_emitted("G90 G10 L11 P5 R-0.05\n").unwrap_err();
    assert!(e.to_string().contains("intended"), "{e}");
    // Wrong entry.
    let e = c.verify_emitted("G21\nG90 G10 L11 P6 R-0.05\n").unwrap_err();
    assert!(e.to_string().contains("other entries"), "{e}");
    let e = c.verify_emitted("G21\nG90 G10 L10 P5 R-0.05\n").unwrap_err();
    assert!(e.to_string().contains("other entries"), "{e}");
    // Anything but offset writes.
    let e = c.verify_emitted("G21\nG90 G10 L11 P5 R-0.05\nG0 X1.\n").unwrap_err();
    assert!(matches!(e, OffsetError::Execute { line: 3, .. }), "{e}");
    let w = WorkOffsetCorrection {
        machine: "m".into(),
        work_offset: WorkOffset::G55,
        current_mm: [1.0, 2.0, 3.0],
        delta_mm: [0.0, 0.1, 0.0],
    };
    w.verify_emitted(&w.gcode().unwrap()).unwrap();
    assert!(w.verify_emitted("G21\nG90 G10 L2 P2 X1. Y2.1 Z3.\n").is_ok());
    assert!(w.verify_emitted("G21\nG90 G10 L2 P2 Y2.2\n").is_err());
    assert!(w.verify_emitted("G21\nG90 G10 L2 P1 Y2.1\n").is_err());
}

#[test]
fn the_controller_model_follows_g90_g91_and_units() {
    let mut t = OffsetTable::new(None, None);
    let e = run("G10 L11 P1 R0.1\n", &mut t).unwrap_err();
    assert!(e.to_string().contains("before G90 or G91"), "{e}");
    let mut t = OffsetTable::new(Some(Distance::Absolute), Some(Units::Mm));
    run("G10 L11 P1 R0.1\nG91 G10 L11 P1 R0.1\nG20 G10 L11 P1 R0.1\n", &mut t).unwrap();
    let v = t.tool[&(ToolOffsetKind::LengthWear, 1)];
    assert!((v - (0.2 + 2.54)).abs() < 1e-12, "{v}");
    run("G90 G21 G10 L2 P0 X1. Y2.\nG10 L2 P1 Z-3.\n", &mut t).unwrap();
    assert_eq!(t.work[&(0, 0)], 1.0);
    assert_eq!(t.work[&(1, 2)], -3.0);
    assert!(run("G10 L2 P7 X1.\n", &mut t).is_err());
    assert!(run("G10 L12 P0 R1.\n", &mut t).is_err());
    assert!(run("G10 L11 P1\n", &mut t).is_err());
    assert!(run("G10 L50 P1 R1.\n", &mut t).is_err());
    assert!(run("X1.\n", &mut t).is_err());
    assert!(run("#1=2\n", &mut t).is_err());
}

proptest! {
    /// The emitted block is absolute: N runs leave the table as one run does, and it holds the intended value.
    /// The same correction written incrementally creeps by `delta` per run.
    #[test]
    fn emitted_tool_blocks_are_idempotent_and_incremental_ones_creep(
        current in -50.0f64..50.0,
        delta in -0.5f64..0.5,
        kind in prop::sample::select(vec![ToolOffsetKind::LengthWear, ToolOffsetKind::LengthGeometry, ToolOffsetKind::RadiusWear]),
        number in 1u32..400,
        n in 2usize..8,
    ) {
        prop_assume!(delta != 0.0);
        let c = ToolOffsetCorrection { machine: "m".into(), tool_offset_number: number, kind, current_mm: current, delta_mm: delta, device_tag: None };
        let text = c.emit(&OffsetLimits::default()).unwrap();
        let program = parse(&text).unwrap();
        let fresh = || {
            let mut t = OffsetTable::new(Some(Distance::Incremental), Some(Units::Inch));
            t.tool.insert((kind, number), current);
            t
        };
        let mut once = fresh();
        once.execute(&program).unwrap();
        let mut many = fresh();
        for _ in 0..n {
            many.execute(&program).unwrap();
        }
        prop_assert_eq!(&once.tool, &many.tool);
        let v = once.tool[&(kind, number)];
        prop_assert!((v - (current + delta)).abs() <= 0.5e-4 + 1e-9);

        let incremental = format!("G21\nG91 G10 L{} P{number} R{}\n", kind.l_code(), format_fixed(delta, 6));
        let step = parse(&incremental).unwrap();
        let mut creep = fresh();
        for _ in 0..n {
            creep.execute(&step).unwrap();
        }
        let written: f64 = format_fixed(delta, 6).parse().unwrap();
        let got = creep.tool[&(kind, number)];
        prop_assert!((got - (current + n as f64 * written)).abs() < 1e-9);
        if written.abs() >= 1e-4 {
            prop_assert!((got - v).abs() > 0.4e-4, "an incremental write must creep away from the absolute value");
        }
    }

    #[test]
    fn emitted_work_blocks_are_idempotent(
        current in [-500.0f64..500.0, -500.0f64..500.0, -500.0f64..500.0],
        delta in [-0.25f64..0.25, -0.25f64..0.25, -0.25f64..0.25],
        which in 0usize..6,
        n in 2usize..6,
    ) {
        let c = WorkOffsetCorrection { machine: "m".into(), work_offset: WorkOffset::ALL[which], current_mm: current, delta_mm: delta };
        let text = c.emit(&OffsetLimits::default()).unwrap();
        let program = parse(&text).unwrap();
        let p = WorkOffset::ALL[which].p_number();
        let mut t = OffsetTable::new(Some(Distance::Incremental), None);
        for (a, value) in current.iter().enumerate() {
            t.work.insert((p, a), *value);
        }
        t.execute(&program).unwrap();
        let once = t.work.clone();
        for _ in 1..n {
            t.execute(&program).unwrap();
        }
        prop_assert_eq!(&once, &t.work);
        for a in 0..3 {
            prop_assert!((once[&(p, a)] - (current[a] + delta[a])).abs() <= 0.5e-4 + 1e-9);
        }
    }
}
