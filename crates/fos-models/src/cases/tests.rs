//! Unit tests of the case library: signatures, the distance's properties, exclusion of the recording
//! and bearing being judged, and the library file.

use super::*;
use crate::config::AnalysisConfig;
use fos_core::BearingGeometry;
use proptest::prelude::*;

fn sig(e: [f64; 4], imp: f64, level: Option<f64>) -> Signature {
    Signature { family_excess: e, impulsiveness: imp, level_rise: level }
}

fn hash(c: char) -> String {
    std::iter::repeat_n(c, 64).collect()
}

fn case(id: &str, label: Label, bearing_id: &str, file_hash: char, s: Signature) -> Case {
    Case {
        id: id.into(),
        label,
        machine: "rig".into(),
        bearing: "6205".into(),
        bearing_id: bearing_id.into(),
        file: format!("{id}.mat"),
        signal: "x".into(),
        file_sha256: hash(file_hash),
        fault_size: None,
        load: None,
        source: "test/manifest.csv".into(),
        windows: 19,
        signature: s,
    }
}

/// Inner-race cases of bearings A (two recordings) and B, an outer-race case of C, a ball case of D.
fn library() -> CaseLibrary {
    CaseLibrary::new(vec![
        case("a0", Label::Inner, "A", 'a', sig([2.0, 12.0, 0.5, 0.1], 1.0, None)),
        case("a1", Label::Inner, "A", 'b', sig([2.1, 11.0, 0.4, 0.2], 1.1, None)),
        case("b0", Label::Inner, "B", 'c', sig([1.5, 8.0, 0.6, 0.0], 0.8, None)),
        case("c0", Label::Outer, "C", 'd', sig([15.0, 1.0, 0.5, 0.3], 1.5, None)),
        case("d0", Label::Ball, "D", 'e', sig([0.2, 0.1, 3.0, 1.5], 0.3, None)),
    ])
    .unwrap()
}

#[test]
fn nearest_never_returns_the_recording_being_judged_nor_its_bearing() {
    let lib = library();
    let query = lib.cases[0].signature;
    // Unrestricted, the recording itself is nearest (distance 0), then its sibling of the same bearing.
    let all = lib.nearest(&query, &Exclude::default(), 5);
    assert_eq!(all[0].case.id, "a0");
    assert_eq!(all[0].distance, 0.0);
    assert_eq!(all[1].case.id, "a1");
    // Judging file a0: its bearing A is known from the library, so a1 goes too.
    let ex = Exclude::for_recording(&lib, &hash('a'), None);
    assert!(ex.bearing_ids.contains("A"));
    let got = lib.nearest(&query, &ex, 5);
    assert_eq!(got.len(), 3);
    assert!(got.iter().all(|n| n.case.bearing_id != "A"), "{got:?}");
    assert_eq!(got[0].case.id, "b0", "the other inner-race bearing is nearest: {got:?}");
    assert_eq!(got[0].case.label, Label::Inner);
    // A file the library does not know (a copy elsewhere, a new recording): the bearing id given excludes.
    let ex = Exclude::for_recording(&lib, &hash('f'), Some("A"));
    assert!(lib.nearest(&query, &ex, 5).iter().all(|n| n.case.bearing_id != "A"));
    // Excluding by file alone drops that file's cases only.
    let ex = Exclude { file_sha256: [hash('a')].into(), ..Exclude::default() };
    let ids: Vec<&str> = lib.nearest(&query, &ex, 5).iter().map(|n| n.case.id.as_str()).collect();
    assert_eq!(ids[0], "a1");
    assert!(!ids.contains(&"a0"));
}

#[test]
fn nearest_is_sorted_takes_k_and_says_why() {
    let lib = library();
    let query = sig([14.0, 1.2, 0.4, 0.2], 1.4, None);
    let got = lib.nearest(&query, &Exclude::default(), 3);
    assert_eq!(got.len(), 3);
    assert!(got.windows(2).all(|w| w[0].distance <= w[1].distance));
    assert_eq!(got[0].case.id, "c0");
    assert!(got[0].reason.contains("same dominant family outer"), "{}", got[0].reason);
    assert!(got[1].reason.contains("dominant family inner in the case"), "{}", got[1].reason);
    assert!(lib.nearest(&query, &Exclude::default(), 0).is_empty());
    assert_eq!(lib.nearest(&query, &Exclude::default(), 99).len(), 5);
}

#[test]
fn reasons_compare_levels_when_both_sides_have_one() {
    let a = sig([0.0, 5.0, 0.0, 0.0], 1.0, Some(0.5));
    let b = sig([0.0, 4.0, 0.0, 0.0], 1.0, Some(0.0));
    let r = a.reason(&b);
    assert!(r.contains("level +65 % here, +0 % in the case"), "{r}");
    assert!(r.contains("families above threshold: inner"), "{r}");
}

fn arb_sig(level: bool) -> impl Strategy<Value = Signature> {
    (prop::array::uniform4(-5.0f64..80.0), -1.0f64..20.0, -2.0f64..3.0)
        .prop_map(move |(e, i, l)| sig(e, i, level.then_some(l)))
}

proptest! {
    #[test]
    fn distance_is_a_metric_among_signatures_of_one_kind(
        (a, b, c) in any::<bool>().prop_flat_map(|l| (arb_sig(l), arb_sig(l), arb_sig(l))),
    ) {
        let (ab, ba, ac, cb) = (a.distance(&b), b.distance(&a), a.distance(&c), c.distance(&b));
        prop_assert!(ab >= 0.0 && ab.is_finite());
        prop_assert_eq!(ab, ba);
        prop_assert_eq!(a.distance(&a), 0.0);
        prop_assert!(ab <= ac + cb + 1e-12, "triangle: d(a,b) = {} > {} + {}", ab, ac, cb);
    }

    #[test]
    fn a_missing_level_compares_the_components_both_have(a in arb_sig(true), b in arb_sig(true)) {
        let (a0, b0) = (Signature { level_rise: None, ..a }, Signature { level_rise: None, ..b });
        // One side without a level: the level is left out, as when neither has one.
        prop_assert_eq!(a0.distance(&b), a0.distance(&b0));
        prop_assert_eq!(a.distance(&b0), a0.distance(&b0));
        // Equal but for the level: the distance is the level difference over the six components.
        let c = Signature { level_rise: b.level_rise, ..a };
        let want = (a.level_rise.unwrap() - b.level_rise.unwrap()).abs() / 6f64.sqrt();
        prop_assert!((a.distance(&c) - want).abs() < 1e-12);
    }

    #[test]
    fn a_stronger_rise_of_the_same_family_is_further_away(base in 0.0f64..20.0, more in 0.1f64..40.0, other in 0.0f64..5.0) {
        let q = sig([other, base, 0.0, 0.0], 1.0, None);
        let near = sig([other, base + more, 0.0, 0.0], 1.0, None);
        let far = sig([other, base + 2.0 * more, 0.0, 0.0], 1.0, None);
        prop_assert!(q.distance(&near) < q.distance(&far));
    }
}

#[test]
fn the_median_signature_takes_each_component_and_a_level_only_if_every_window_has_one() {
    let w = [
        sig([1.0, 10.0, 0.0, -1.0], 0.5, Some(0.1)),
        sig([3.0, 2.0, 1.0, 0.0], 2.0, Some(0.3)),
        sig([2.0, 6.0, -1.0, 5.0], 1.0, Some(0.2)),
    ];
    let m = Signature::median_of(&w).unwrap();
    assert_eq!(m, sig([2.0, 6.0, 0.0, 0.0], 1.0, Some(0.2)));
    assert_eq!(m.dominant(), Label::Inner);
    let mut w2 = w.to_vec();
    w2[1].level_rise = None;
    assert_eq!(Signature::median_of(&w2).unwrap().level_rise, None);
    assert_eq!(Signature::median_of(&[]), None);
}

#[test]
fn the_library_file_round_trips_and_bad_content_is_refused_naming_the_case() {
    let lib = library();
    let text = lib.to_json();
    assert_eq!(CaseLibrary::from_json(&text).unwrap(), lib);
    assert_eq!(CaseLibrary::from_json(&text).unwrap().to_json(), text, "the same library gives the same bytes");

    let bad = |cases: Vec<Case>| CaseLibrary::new(cases).unwrap_err().to_string();
    let mut c = lib.cases.clone();
    c[2].id = "a0".into();
    assert!(bad(c).contains("case 2 (a0): the id appears twice"));
    let mut c = lib.cases.clone();
    c[1].label = Label::Normal;
    assert!(bad(c).contains("case 1 (a1): label normal is not a fault"));
    let mut c = lib.cases.clone();
    c[3].file_sha256 = "XYZ".into();
    assert!(bad(c).contains("case 3 (c0): file_sha256"));
    let mut c = lib.cases.clone();
    c[4].signature.family_excess[2] = f64::NAN;
    assert!(bad(c).contains("case 4 (d0): signature: family_excess[2] (ball) is NaN"));
    let mut c = lib.cases.clone();
    c[0].bearing_id.clear();
    assert!(bad(c).contains("bearing_id is empty"));

    let e = CaseLibrary::from_json(&text.replace("\"format_version\": 1", "\"format_version\": 7")).unwrap_err().to_string();
    assert!(e.contains("format_version Some(7)") && e.contains("fos cases build"), "{e}");
    let e = CaseLibrary::from_json("{\"format_version\": 1, \"cases\": [], \"extra\": 1}").unwrap_err().to_string();
    assert!(e.contains("unknown field"), "{e}");
    assert!(CaseLibrary::from_json("[").unwrap_err().to_string().contains("not a case library"));
}

#[test]
fn window_signatures_are_excess_over_the_white_noise_null_and_level_over_the_baseline() {
    let g = BearingGeometry { elements: 9, element_d: 0.3126, pitch_d: 1.537, contact_angle_deg: 0.0 };
    let cfg = AnalysisConfig { null_windows: 32, ..AnalysisConfig::default() };
    let mut model = MachineModel::new("rig", &cfg, g, 12_000.0, 30.0, false).unwrap();
    let mut an = model.analyzer(30.0).unwrap();
    let mut s = 7u64;
    let mut noise = |scale: f64| -> Vec<f64> {
        (0..an.window_len())
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                scale * ((s >> 11) as f64 / (1u64 << 53) as f64 - 0.5)
            })
            .collect()
    };
    let (quiet, loud) = (noise(1.0), noise(3.0));
    let fq = an.analyze(&quiet);
    let fl = an.analyze(&loud);
    // Physics only: no level; white noise stays below the null's threshold in every family.
    let sq = Signature::of_window(&model, &fq);
    assert_eq!(sq.level_rise, None);
    assert!(sq.family_excess.iter().all(|e| *e < 1.0), "{sq:?}");
    assert_eq!(sq.family_excess, family_excess(&model, &fq));
    // Calibrated on the quiet window: three times the level is a rise of ln 3; line evidence is
    // scale-free, so a louder copy of the same noise has the same family excess.
    model.calibrate(std::slice::from_ref(&fq)).unwrap();
    let sl = Signature::of_window(&model, &fl);
    let rise = sl.level_rise.unwrap();
    assert!((rise - 3f64.ln()).abs() < 0.05, "{rise}");
    let fl_same = an.analyze(&quiet.iter().map(|v| 3.0 * v).collect::<Vec<_>>());
    let s3 = Signature::of_window(&model, &fl_same);
    for i in 0..4 {
        assert!((s3.family_excess[i] - sq.family_excess[i]).abs() < 1e-6, "family {i}: {s3:?} vs {sq:?}");
    }
    assert!((s3.impulsiveness - sq.impulsiveness).abs() < 1e-6);
}
