//! Tests of the G-code parser, writer and modal state.

use super::*;
use proptest::prelude::*;

fn words(line: &Line) -> Vec<(char, f64)> {
    line.words().map(|w| (w.letter.as_char(), w.value)).collect()
}

#[test]
fn parses_a_typical_program() {
    let text = "%\nO1234 (FACE MILL)\nN10 G21 G17 G90 G40 G49 G80\nN20 T1 M6\nN30 G54 G0 X.5 Y-0.25 S1200 M3\n\
                n40 g43 h1 z25.\nN50 G1 Z-1. F300. ; plunge\n\nN60 X100. Y+3\nN70 G91 G28 Z0.\nM30\n%\n";
    let p = parse(text).unwrap();
    assert_eq!(p.lines.len(), 12);
    assert_eq!(p.lines[0].items, vec![Item::Percent]);
    assert_eq!(words(&p.lines[1]), vec![('O', 1234.0)]);
    assert_eq!(
        p.lines[1].items[1],
        Item::Comment(Comment { text: "FACE MILL".into(), style: CommentStyle::Paren })
    );
    assert_eq!(words(&p.lines[4]), vec![('N', 30.0), ('G', 54.0), ('G', 0.0), ('X', 0.5), ('Y', -0.25), ('S', 1200.0), ('M', 3.0)]);
    assert_eq!(words(&p.lines[5]), vec![('N', 40.0), ('G', 43.0), ('H', 1.0), ('Z', 25.0)]);
    assert_eq!(
        p.lines[6].items.last(),
        Some(&Item::Comment(Comment { text: " plunge".into(), style: CommentStyle::Semicolon }))
    );
    assert!(p.lines[7].items.is_empty());
    assert_eq!(words(&p.lines[8]), vec![('N', 60.0), ('X', 100.0), ('Y', 3.0)]);
    assert!(p.lines[4].words().all(|w| w.decimal_point || !w.letter.is_dimension() || w.letter == Letter::Y));
    assert!(!p.lines[8].words().find(|w| w.letter == Letter::Y).unwrap().decimal_point);
}

#[test]
fn numbers_in_every_form() {
    for (text, want, point) in [
        ("X.5", 0.5, true),
        ("X1.", 1.0, true),
        ("X-0.25", -0.25, true),
        ("X-.5", -0.5, true),
        ("X+2.5", 2.5, true),
        ("X 7", 7.0, false),
        ("x0010.0100", 10.01, true),
    ] {
        let p = parse(text).unwrap();
        let w = p.lines[0].words().next().unwrap();
        assert_eq!((w.value, w.decimal_point), (want, point), "{text}");
    }
}

#[test]
fn errors_name_line_column_and_expectation() {
    let e = parse("G0 X1.\nG1 E5.\n").unwrap_err();
    assert_eq!((e.line, e.column), (2, 4));
    assert!(e.expected.contains("word letter"), "{e}");
    assert_eq!(e.found, "'E'");

    let e = parse("G1 X\n").unwrap_err();
    assert_eq!((e.line, e.column, e.found.as_str()), (1, 5, "end of line"));
    assert!(e.expected.contains("number after 'X'"), "{e}");

    let e = parse("G1 (unclosed\n").unwrap_err();
    assert_eq!((e.line, e.column), (1, 13));
    assert!(e.expected.contains("opened at column 4"), "{e}");

    let e = parse("G1 X1.2.3").unwrap_err();
    assert_eq!((e.line, e.column, e.found.as_str()), (1, 8, "'.'"));

    let e = parse("G0 %").unwrap_err();
    assert_eq!(e.column, 4);
    assert_eq!(e.to_string(), "line 1, column 4: expected '%' only at the start of a line, found '%'");

    // Columns count characters, not bytes.
    let e = parse("(é) Ü").unwrap_err();
    assert_eq!(e.column, 5);
}

#[test]
fn macro_text_is_kept_verbatim() {
    let p = parse("#100=2.5\nG0 X#24 Y2.\nIF [#1 GT 10] GOTO 100\nWHILE [#2 LT 3] DO1\nEND1\nG1 X[#1+2.]\n").unwrap();
    assert_eq!(p.lines[0].items, vec![Item::Macro("#100=2.5".into())]);
    assert_eq!(p.lines[1].items[1], Item::Macro("X#24 Y2.".into()));
    assert_eq!(p.lines[2].items, vec![Item::Macro("IF [#1 GT 10] GOTO 100".into())]);
    assert_eq!(p.lines[3].items, vec![Item::Macro("WHILE [#2 LT 3] DO1".into())]);
    assert_eq!(p.lines[4].items, vec![Item::Macro("END1".into())]);
    assert!(p.lines.iter().all(Line::has_macro));
    assert_eq!(write(&p), "#100=2.5\nG0 X#24 Y2.\nIF [#1 GT 10] GOTO 100\nWHILE [#2 LT 3] DO1\nEND1\nG1 X[#1+2.]\n");
}

#[test]
fn writer_uses_fixed_decimals_by_units() {
    let p = parse("G0 X1 Y.5 F100 S1200\nG20\nG1 X1.23456 Z-0.00001 F12.5\nG21 G54.1 P2 X-0.00004\n").unwrap();
    assert_eq!(
        write(&p),
        "G0 X1.0000 Y0.5000 F100.0000 S1200\nG20\nG1 X1.23456 Z-0.00001 F12.50000\nG21 G54.1 P2 X0.0000\n"
    );
    assert_eq!(format_fixed(1e20, 4), "100000000000000000000.0000");
    assert_eq!(format_fixed(-0.00004, 4), "0.0000");
    assert_eq!(format_value(Letter::G, 1e20, Units::Mm), "100000000000000000000");
    assert_eq!(format_value(Letter::P, 1.5, Units::Mm), "1.5");
}

#[test]
fn comments_block_delete_and_blank_lines_round_trip() {
    let text = "/G0 X1.0000 (skip me)\n\n; only a comment\nG1 (a) X2.0000 (b) ;c\r\n%\n";
    let p = parse(text).unwrap();
    assert!(p.lines[0].block_delete);
    assert_eq!(write(&p), text.replace('\r', ""));
    assert_eq!(parse(&write(&p)).unwrap(), p);
}

#[test]
fn modal_state_follows_the_groups() {
    let p = parse("G20 G91 G18\nG55 G43 H7 G41 D7 G99 T3\nG0 X1.\nG81 Z-1. R1.\nG80 G49 G40 G21 G90 G17\n").unwrap();
    let s = p.modal_states();
    assert_eq!(s[0].units, Some(Units::Inch));
    assert_eq!(s[0].distance, Some(Distance::Incremental));
    assert_eq!(s[0].plane, Plane::Zx);
    assert_eq!(s[1].work_offset, WorkOffset::G55);
    assert_eq!((s[1].length_comp, s[1].h), (LengthComp::Positive, Some(7)));
    assert_eq!((s[1].cutter_comp, s[1].d), (CutterComp::Left, Some(7)));
    assert_eq!(s[1].return_level, ReturnLevel::R);
    assert_eq!(s[1].tool, Some(3));
    assert_eq!(s[2].motion, Some(Motion::Rapid));
    assert_eq!(s[3].motion, Some(Motion::Cycle(81)));
    let last = s[4];
    assert_eq!(last.motion, None);
    assert_eq!((last.length_comp, last.cutter_comp), (LengthComp::Off, CutterComp::Off));
    assert_eq!((last.units, last.distance, last.plane), (Some(Units::Mm), Some(Distance::Absolute), Plane::Xy));
    assert_eq!(ModalState::default().distance, None);
}

#[test]
fn work_offset_numbers() {
    let p: Vec<u32> = WorkOffset::ALL.iter().map(|o| o.p_number()).collect();
    assert_eq!(p, [1, 2, 3, 4, 5, 6]);
    assert_eq!(WorkOffset::from_g(&Word::new(Letter::G, 59.0)), Some(WorkOffset::G59));
    assert_eq!(WorkOffset::from_g(&Word::new(Letter::G, 54.1)), None);
}

#[test]
fn hostile_inputs_do_not_panic() {
    let long = "X".to_owned() + &"9".repeat(400);
    for text in ["", "\n\n\n", "(", ")", "%%", "/", "//G1", "G", "-", "X-", "X.", "X+-1", "\u{0}", "G1\rX1", &long] {
        let _ = parse(text);
        fuzz_check(text.as_bytes()).unwrap();
    }
    assert!(parse(&long).is_err());
    fuzz_check(&[0xff, 0xfe, b'G']).unwrap();
}

fn arb_word() -> impl Strategy<Value = String> {
    (prop::sample::select(Letter::ALL.to_vec()), -100_000i64..100_000, 0u32..6, any::<bool>()).prop_map(|(l, n, dec, point)| {
        let v = n as f64 / 10f64.powi(dec as i32);
        if point {
            format!("{}{}", l.as_char(), format_fixed(v, dec as usize))
        } else {
            format!("{}{}", l.as_char(), n)
        }
    })
}

fn arb_line() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::collection::vec(arb_word(), 0..6).prop_map(|w| w.join(" ")),
        (prop::collection::vec(arb_word(), 1..4), "[a-zA-Z0-9 ,.]{0,12}")
            .prop_map(|(w, c)| format!("{} ({c}) ;{c}", w.join(""))),
        Just("%".to_owned()),
        Just("G20".to_owned()),
        Just("G21".to_owned()),
        Just("#1=2.".to_owned()),
    ]
}

proptest! {
    #[test]
    fn write_parse_round_trips(lines in prop::collection::vec(arb_line(), 0..30)) {
        let text = lines.join("\n");
        let p = parse(&text).unwrap();
        let expected = lines.len() - usize::from(lines.last().is_some_and(String::is_empty));
        prop_assert_eq!(p.lines.len(), expected);
        prop_assert!(fuzz_check(text.as_bytes()).is_ok(), "{:?}", fuzz_check(text.as_bytes()));
        // Written once, the text is a fixed point of parse + write.
        let w = write(&p);
        prop_assert_eq!(write(&parse(&w).unwrap()), w);
    }

    #[test]
    fn parser_never_panics(text in "\\PC{0,80}") {
        let _ = parse(&text);
        prop_assert!(fuzz_check(text.as_bytes()).is_ok());
    }
}
