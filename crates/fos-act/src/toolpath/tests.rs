//! Tests of the toolpath correction: hand-checked programs, refusals, tampering, and random programs.

use super::*;
use proptest::prelude::*;

const MILL: &str = "%
O1000 (POCKET)
G21 G17 G90 G40 G49 G80
G54
T1 M6
G0 X0. Y0. S1000 M3
G43 H1 Z25.
G1 Z-2. F200.
X50. Y10.
G2 X60. Y20. I10. J0.
G91 G1 X-10.
G90 G0 Z25.
G91 G28 Z0.
M30
%
";

fn p(text: &str) -> Program {
    parse(text).unwrap()
}

fn unsupported(text: &str) -> Vec<Unsupported> {
    match correct(&p(text), [0.1, 0.0, 0.0]) {
        Err(TransformError::Unsupported(u)) => u,
        other => panic!("expected Unsupported, got {other:?}"),
    }
}

#[test]
fn shifts_absolute_moves_and_leaves_the_rest() {
    let c = correct(&p(MILL), [0.5, -0.25, 0.1]).unwrap();
    let want = "%
O1000 (POCKET)
G21 G17 G90 G40 G49 G80
G54
T1 M6
G0 X0.5000 Y-0.2500 S1000 M3
G43 H1 Z25.1000
G1 Z-1.9000 F200.0000
X50.5000 Y9.7500
G2 X60.5000 Y19.7500 I10.0000 J0.0000
G91 G1 X-10.0000
G90 G0 Z25.1000
G91 G28 Z0.0000
M30
%
";
    assert_eq!(c.text, want);
    // Changed: the six absolute motion lines. Points: G0, G43 Z, G1 Z, X Y, arc centre + end, G91 X, G0 Z,
    // G28 intermediate + reference = 10.
    assert_eq!(c.report.lines_changed, 6);
    assert_eq!(c.report.moves_checked, 10);
    assert!(c.report.max_error_mm < 1e-12, "{}", c.report.max_error_mm);
    assert_eq!(c.changes.len(), 6);
    assert_eq!(c.changes[0].line, 6);
    assert_eq!(c.changes[0].before, "G0 X0.0000 Y0.0000 S1000 M3");
    assert_eq!(c.changes[0].after, "G0 X0.5000 Y-0.2500 S1000 M3");
    assert_eq!(verify(&p(MILL), &c.text, [0.5, -0.25, 0.1]).unwrap(), c.report);
}

#[test]
fn the_incremental_move_carries_the_shift() {
    let c = correct(&p(MILL), [0.5, -0.25, 0.1]).unwrap();
    let a = simulate(&p(MILL)).unwrap();
    let b = simulate(&c.program).unwrap();
    // Line 11 (G91 X-10.) ends at X50 in the original and X50.5 in the corrected program: the increment is
    // unchanged and starts from the shifted arc end.
    let end = |s: &Simulation| s.endpoints.iter().find(|e| e.line == 11).unwrap().pos[0];
    assert_eq!(end(&a), AxisPos::Work(500_000));
    assert_eq!(end(&b), AxisPos::Work(505_000));
    // G28 Z ends at the reference point in both.
    assert_eq!(a.endpoints.last().unwrap().pos[2], AxisPos::Reference(1));
    assert_eq!(b.endpoints.last().unwrap().pos[2], AxisPos::Reference(1));
}

#[test]
fn inch_programs_get_the_delta_in_inches() {
    let text = "G20 G90\nG0 X1. Y2. Z.1\nG1 X1.5\n";
    let c = correct(&p(text), [0.254, 0.0, -2.54]).unwrap();
    assert_eq!(c.text, "G20 G90\nG0 X1.01000 Y2.00000 Z0.00000\nG1 X1.51000\n");
    assert!(c.report.max_error_mm < 1e-9);
}

#[test]
fn delta_rounding_is_reported() {
    let c = correct(&p("G21 G90\nG0 X1.\n"), [0.12346, 0.0, 0.0]).unwrap();
    assert_eq!(c.text, "G21 G90\nG0 X1.1235\n");
    assert!((c.report.max_error_mm - 0.00004).abs() < 1e-9, "{}", c.report.max_error_mm);
}

#[test]
fn absolute_canned_cycles_shift_r_and_z() {
    let text = "G21 G90 G17\nG0 X0. Y0. Z50.\nG99 G81 X10. Y10. Z-5. R2. F100.\nX20.\nG98 G83 X30. Z-8. R3. Q2.\nG80\n";
    let c = correct(&p(text), [1.0, 2.0, 3.0]).unwrap();
    assert_eq!(
        c.text,
        "G21 G90 G17\nG0 X1.0000 Y2.0000 Z53.0000\nG99 G81 X11.0000 Y12.0000 Z-2.0000 R5.0000 F100.0000\n\
         X21.0000\nG98 G83 X31.0000 Z-5.0000 R6.0000 Q2.0000\nG80\n"
    );
    // 1 rapid + 3 holes × (hole, R, bottom, return).
    assert_eq!(c.report.moves_checked, 13);
    let s = simulate(&p(text)).unwrap();
    // The G98 hole returns to the initial level Z50; the G99 holes to R2.
    let returns: Vec<AxisPos> =
        s.endpoints.iter().filter(|e| e.kind == EndpointKind::CycleReturn).map(|e| e.pos[2]).collect();
    assert_eq!(returns, [AxisPos::Work(20_000), AxisPos::Work(20_000), AxisPos::Work(500_000)]);
}

#[test]
fn incremental_canned_cycle_with_repeats_is_left_alone_but_moves_with_the_part() {
    let text = "G21 G90\nG0 X0. Y0. Z10.\nG91 G99 G81 X10. Z-5. R-8. K3 F100.\nG80 G90\n";
    let c = correct(&p(text), [0.0, 0.0, 1.0]).unwrap();
    assert_eq!(c.text, "G21 G90\nG0 X0.0000 Y0.0000 Z11.0000\nG91 G99 G81 X10.0000 Z-5.0000 R-8.0000 K3 F100.0000\nG80 G90\n");
    assert_eq!(c.report.lines_changed, 1);
    assert_eq!(c.report.moves_checked, 1 + 3 * 4);
    let s = simulate(&c.program).unwrap();
    // Holes at X10, X20, X30; R level 11 − 8 = 3; bottom 3 − 5 = −2.
    let holes: Vec<[AxisPos; 3]> = s.endpoints.iter().filter(|e| e.kind == EndpointKind::Bottom).map(|e| e.pos).collect();
    assert_eq!(holes.len(), 3);
    assert_eq!(holes[2], [AxisPos::Work(300_000), AxisPos::Work(0), AxisPos::Work(-20_000)]);
}

#[test]
fn machine_positions_stay_and_absolute_moves_after_them_shift() {
    let text = "G21 G90\nG0 X0. Y0. Z5.\nG53 Z-10.\nG0 Z5.\nG28 X0. Y0.\nG0 X1. Y1.\nG91 G0 X1.\nG4 X2.\n";
    let c = correct(&p(text), [0.1, 0.2, 0.3]).unwrap();
    assert_eq!(
        c.text,
        "G21 G90\nG0 X0.1000 Y0.2000 Z5.3000\nG53 Z-10.0000\nG0 Z5.3000\nG28 X0.1000 Y0.2000\nG0 X1.1000 Y1.2000\n\
         G91 G0 X1.0000\nG4 X2.0000\n"
    );
    let s = simulate(&p(text)).unwrap();
    assert!(s.endpoints.iter().any(|e| e.kind == EndpointKind::Machine && e.pos[2] == AxisPos::Machine(-100_000)));
}

#[test]
fn zero_delta_changes_nothing() {
    let c = correct(&p(MILL), [0.0; 3]).unwrap();
    assert_eq!(c.report.lines_changed, 0);
    assert!(c.changes.is_empty());
    assert_eq!(c.program, p(&write(&p(MILL))));
}

#[test]
fn refuses_what_it_cannot_follow_naming_every_line() {
    let u = unsupported("G21 G90\nG0 X1.\nG92 X0.\nM98 P100\n#1=2.\nG68 X0. Y0. R45.\nG1 A10.\n/G0 X2.\nG10 L2 P1 X0.\nM99\n");
    let lines: Vec<usize> = u.iter().map(|u| u.line).collect();
    assert_eq!(lines, [3, 4, 5, 6, 7, 8, 9, 10], "{u:?}");
    assert!(u[0].reason.contains("G92"), "{}", u[0].reason);
    assert!(u[1].reason.contains("subprogram"), "{}", u[1].reason);
    assert!(u[2].reason.contains("macro"), "{}", u[2].reason);
    assert!(u[3].reason.contains("rotates"), "{}", u[3].reason);
    assert!(u[4].reason.contains("rotary"), "{}", u[4].reason);
    assert!(u[5].reason.contains("block delete"), "{}", u[5].reason);
    let e = TransformError::Unsupported(u).to_string();
    assert!(e.starts_with("program not transformable: line 3: G92"), "{e}");
}

#[test]
fn refuses_ambiguous_numbers_units_and_fixtures() {
    let u = unsupported("G21 G90\nG0 X10 Y0\n");
    assert_eq!(u.len(), 1);
    assert!(u[0].reason.contains("decimal point") && u[0].line == 2, "{u:?}");
    let u = unsupported("G21 G90\nG0 X1.23456\n");
    assert!(u[0].reason.contains("more than 4 decimals"), "{u:?}");
    let u = unsupported("G21 G90\nG0 X1.\nG20\n");
    assert!(u[0].reason.contains("units change") && u[0].line == 3, "{u:?}");
    let u = unsupported("G21 G90 G54\nG0 X1.\nG55\nG0 X1.\n");
    assert!(u[0].reason.contains("several fixtures") && u[0].line == 3, "{u:?}");
    let u = unsupported("G21 G90\nG0 X1. X2.\n");
    assert!(u[0].reason.contains("twice"), "{u:?}");
    let u = unsupported("G90\nG0 X1.\n");
    assert!(u[0].reason.contains("G20 or G21") && u[0].line == 2, "{u:?}");
    let u = unsupported("G21\nG0 X1.\n");
    assert!(u[0].reason.contains("G90 or G91"), "{u:?}");
    let u = unsupported("G21 G90\nX1.\n");
    assert!(u[0].reason.contains("no motion mode"), "{u:?}");
}

#[test]
fn refuses_incremental_moves_from_unknown_positions() {
    // From the program start.
    let u = unsupported("G21 G91\nG1 X5. F100.\n");
    assert!(u[0].reason.contains("incremental X move from the position at program start"), "{u:?}");
    // After a reference return.
    let u = unsupported("G21 G90\nG0 X0. Y0. Z5.\nG91 G28 Z0.\nG0 Z-50.\n");
    assert_eq!(u[0].line, 4);
    assert!(u[0].reason.contains("G28 reference point"), "{u:?}");
    // An arc from a G53 position.
    let u = unsupported("G21 G90\nG0 X0. Y0.\nG53 X-100.\nG2 X5. Y5. I5. J0.\n");
    assert!(u[0].reason.contains("arc starting from a G53 machine position"), "{u:?}");
    // G53 in G91, a cycle outside G17, a G90/G91 switch inside a cycle.
    assert!(unsupported("G21 G91\nG53 Z0.\n")[0].reason.contains("G53 in G91"));
    assert!(unsupported("G21 G90 G18\nG0 X0. Y0. Z9.\nG81 X1. Z-1. R1.\n")[0].reason.contains("G17"));
    let u = unsupported("G21 G90\nG0 X0. Y0. Z9.\nG81 X1. Z-1. R1.\nG91 X1.\n");
    assert!(u[0].reason.contains("while a canned cycle is active") && u[0].line == 4, "{u:?}");
    // Zero increments from the start are fine.
    assert!(correct(&p("G21 G91 G28 Z0.\nG90 G0 Z5.\n"), [0.0, 0.0, 1.0]).is_ok());
}

#[test]
fn verify_catches_a_tampered_program() {
    let orig = p(MILL);
    let c = correct(&orig, [0.5, 0.0, 0.0]).unwrap();
    let tampered = c.text.replace("X50.5000", "X50.6000");
    match verify(&orig, &tampered, [0.5, 0.0, 0.0]) {
        Err(TransformError::Verification { line: 9, reason }) => assert!(reason.contains("X50.5"), "{reason}"),
        other => panic!("{other:?}"),
    }
    let tampered = c.text.replace("S1000", "S2000");
    assert!(matches!(verify(&orig, &tampered, [0.5, 0.0, 0.0]), Err(TransformError::Verification { line: 6, .. })));
    let tampered = c.text.replace("G91 G1 X-10.0000", "G91 G1 X-9.5000");
    assert!(matches!(verify(&orig, &tampered, [0.5, 0.0, 0.0]), Err(TransformError::Verification { line: 11, .. })));
    assert!(matches!(verify(&orig, &c.text, [0.4, 0.0, 0.0]), Err(TransformError::Verification { .. })));
    let dropped = c.text.replacen("M30\n", "", 1);
    assert!(verify(&orig, &dropped, [0.5, 0.0, 0.0]).is_err());
}

#[test]
fn refuses_non_finite_deltas() {
    assert!(matches!(correct(&p(MILL), [f64::NAN, 0.0, 0.0]), Err(TransformError::InvalidDelta { axis: 'X', .. })));
    assert!(matches!(correct(&p(MILL), [0.0, 0.0, f64::INFINITY]), Err(TransformError::InvalidDelta { axis: 'Z', .. })));
}

// ---------------------------------------------------------------------------------------------------------
// Random programs
// ---------------------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Op {
    Move { rapid: bool, axes: [Option<i64>; 3] },
    Incremental { axes: [Option<i64>; 3] },
    Arc { cw: bool, end: [i64; 2], centre: [i64; 2], incremental: bool },
    Continue { axes: [Option<i64>; 3] },
    Comment(String),
    Misc(u8),
    Cycle { g99: bool, incremental: bool, first: [i64; 2], z: i64, r: i64, k: u8, more: Vec<[i64; 2]> },
    Home(i64),
    Machine(i64),
}

fn coord() -> impl Strategy<Value = i64> {
    -500_000i64..500_000
}

fn axes() -> impl Strategy<Value = [Option<i64>; 3]> {
    [prop::option::of(coord()), prop::option::of(coord()), prop::option::of(coord())]
        .prop_filter("at least one axis", |a| a.iter().any(Option::is_some))
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (any::<bool>(), axes()).prop_map(|(rapid, axes)| Op::Move { rapid, axes }),
        axes().prop_map(|axes| Op::Incremental { axes }),
        (any::<bool>(), [coord(), coord()], [coord(), coord()], any::<bool>())
            .prop_map(|(cw, end, centre, incremental)| Op::Arc { cw, end, centre, incremental }),
        axes().prop_map(|axes| Op::Continue { axes }),
        "[A-Z ]{0,10}".prop_map(Op::Comment),
        (0u8..4).prop_map(Op::Misc),
        (any::<bool>(), any::<bool>(), [coord(), coord()], coord(), coord(), 1u8..4, prop::collection::vec([coord(), coord()], 0..3))
            .prop_map(|(g99, incremental, first, z, r, k, more)| Op::Cycle { g99, incremental, first, z, r, k, more }),
        coord().prop_map(Op::Home),
        coord().prop_map(Op::Machine),
    ]
}

/// Render random operations as a program that the transform must accept.
fn render(ops: &[Op], inch: bool) -> String {
    let dec = if inch { 5 } else { 4 };
    let scale = 10f64.powi(dec as i32);
    let v = |c: i64| format_fixed(c as f64 / scale, dec);
    let ax = |a: &[Option<i64>; 3]| {
        a.iter().zip(["X", "Y", "Z"]).filter_map(|(c, l)| c.map(|c| format!("{l}{}", v(c)))).collect::<Vec<_>>().join(" ")
    };
    let mut out = vec![
        "%".to_owned(),
        "O4242 (RANDOM)".to_owned(),
        format!("{} G17 G90 G40 G49 G80", if inch { "G20" } else { "G21" }),
        "G54 G0 X0. Y0. Z10.".to_owned(),
    ];
    let mut incremental = false;
    let mut motion = true;
    let mode = |inc: &mut bool, want: bool| -> &'static str {
        let s = match (*inc, want) {
            (false, true) => "G91 ",
            (true, false) => "G90 ",
            _ => "",
        };
        *inc = want;
        s
    };
    for op in ops {
        match op {
            Op::Move { rapid, axes } => {
                let m = mode(&mut incremental, false);
                out.push(format!("{m}{} {}", if *rapid { "G0" } else { "G1 F500." }, ax(axes)));
                motion = true;
            }
            Op::Incremental { axes } => {
                let m = mode(&mut incremental, true);
                out.push(format!("{m}G1 {}", ax(axes)));
                motion = true;
            }
            Op::Arc { cw, end, centre, incremental: inc } => {
                let m = mode(&mut incremental, *inc);
                out.push(format!(
                    "{m}{} X{} Y{} I{} J{}",
                    if *cw { "G2" } else { "G3" },
                    v(end[0]),
                    v(end[1]),
                    v(centre[0]),
                    v(centre[1])
                ));
                motion = true;
            }
            Op::Continue { axes } => {
                out.push(if motion { ax(axes) } else { format!("G1 {}", ax(axes)) });
                motion = true;
            }
            Op::Comment(c) => out.push(format!("({c})")),
            Op::Misc(k) => out.push(["M8", "S1200 M3", "T2 M6", ""][*k as usize].to_owned()),
            Op::Cycle { g99, incremental: inc, first, z, r, k, more } => {
                let m = mode(&mut incremental, *inc);
                out.push(format!(
                    "{m}{} G81 X{} Y{} Z{} R{} K{k} F100.",
                    if *g99 { "G99" } else { "G98" },
                    v(first[0]),
                    v(first[1]),
                    v(*z),
                    v(*r)
                ));
                for h in more {
                    out.push(format!("X{} Y{}", v(h[0]), v(h[1])));
                }
                out.push("G80".to_owned());
                motion = false;
            }
            Op::Home(z) => {
                out.push("G91 G28 Z0.".to_owned());
                out.push(format!("G90 G0 Z{}", v(*z)));
                incremental = false;
                motion = true;
            }
            Op::Machine(z) => {
                let m = mode(&mut incremental, false);
                out.push(format!("{m}G53 Z-{}", v(z.abs())));
                out.push(format!("G0 Z{}", v(*z)));
                motion = true;
            }
        }
    }
    out.push("M30".to_owned());
    out.push("%".to_owned());
    out.join("\n") + "\n"
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn random_programs_shift_exactly(
        ops in prop::collection::vec(op(), 0..25),
        inch in any::<bool>(),
        d in [-5000i64..5000, -5000i64..5000, -5000i64..5000],
    ) {
        let text = render(&ops, inch);
        let program = parse(&text).unwrap();
        let units = if inch { Units::Inch } else { Units::Mm };
        let scale = 10f64.powi(units.decimals() as i32);
        let delta_mm = d.map(|c| c as f64 / scale * units.mm());
        let c = correct(&program, delta_mm).unwrap();
        // Independently of `correct`'s own verification: simulate both and compare every point.
        let a = simulate(&program).unwrap();
        let b = simulate(&parse(&c.text).unwrap()).unwrap();
        prop_assert_eq!(a.endpoints.len(), b.endpoints.len());
        prop_assert_eq!(c.report.moves_checked, a.endpoints.len());
        for (x, y) in a.endpoints.iter().zip(&b.endpoints) {
            prop_assert_eq!((x.line, x.kind), (y.line, y.kind));
            for (axis, shift) in d.iter().enumerate() {
                match (x.pos[axis], y.pos[axis]) {
                    (AxisPos::Work(p), AxisPos::Work(q)) => prop_assert_eq!(q - p, *shift, "line {} {:?}", x.line, x.kind),
                    (p, q) => prop_assert_eq!(p, q),
                }
            }
        }
        prop_assert_eq!(program.lines.len(), c.program.lines.len());
        prop_assert!(c.report.max_error_mm < 1e-9);
        prop_assert_eq!(write(&parse(&c.text).unwrap()), c.text.clone());
        // Corrections compose: shifting back restores the original.
        let back = correct(&c.program, delta_mm.map(|x| -x)).unwrap();
        prop_assert_eq!(back.text, write(&program));
    }
}
