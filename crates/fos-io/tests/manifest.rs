//! Manifest loading, validation, leakage rules and row loading.

use fos_core::{Label, Role};
use fos_io::manifest::parse_bearings;
use fos_io::{check_split, load_row, Error, Manifest};
use std::path::{Path, PathBuf};

const BEARINGS: &str = "id,elements,element_diameter,pitch_diameter,contact_angle_deg,unit\n\
                        6205,9,0.3126,1.537,0,in\n\
                        big,12,20,120,15,mm\n";
const HEADER: &str =
    "path,signal,fs_hz,shaft_hz,bearing,machine,bearing_id,label,role,start_s,end_s,load";

/// Writes `bearings.csv` and a manifest into `dir`, returns the manifest path.
fn setup(dir: &Path, name: &str, rows: &[&str]) -> PathBuf {
    std::fs::write(dir.join("bearings.csv"), BEARINGS).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, format!("{HEADER}\n{}\n", rows.join("\n"))).unwrap();
    p
}

fn load_err(rows: &[&str]) -> String {
    let d = tempfile::tempdir().unwrap();
    Manifest::load(&setup(d.path(), "m.csv", rows))
        .unwrap_err()
        .to_string()
}

#[test]
fn loads_and_resolves_rows() {
    let d = tempfile::tempdir().unwrap();
    let p = setup(
        d.path(),
        "m.csv",
        &[
            "a.mat,X1_DE,12000,29.95,6205,rig,B1,inner,train,,,0hp",
            "sub/b.csv,accel,48000,30,big,rig,B2,normal,test,1.5,3,",
        ],
    );
    let m = Manifest::load(&p).unwrap();
    assert_eq!(m.path, p);
    assert_eq!(m.dir, d.path());
    assert_eq!(m.rows.len(), 2);
    let r = &m.rows[0];
    assert_eq!(
        (r.line, r.path.as_str(), r.file.clone()),
        (2, "a.mat", d.path().join("a.mat"))
    );
    assert_eq!(
        (r.fs_hz, r.shaft_hz, r.label, r.role),
        (12000.0, 29.95, Label::Inner, Role::Train)
    );
    assert_eq!(
        (r.start_s, r.end_s, r.load.as_deref()),
        (None, None, Some("0hp"))
    );
    let r = &m.rows[1];
    assert_eq!(
        (r.line, r.start_s, r.end_s, r.load.clone()),
        (3, Some(1.5), Some(3.0), None)
    );
    assert_eq!(r.file, d.path().join("sub/b.csv"));
    assert_eq!(r.key(), "sub/b.csv:accel@1.5-3");
    assert_eq!(m.rows[0].key(), "a.mat:X1_DE");
    assert!(r.origin().ends_with("m.csv line 3"));
    assert_eq!(m.bearings["big"].unit, "mm");
    assert_eq!(m.bearing_of(r).unwrap().geometry.elements, 12);
}

#[test]
fn column_order_is_free_and_unknown_columns_ignored() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("bearings.csv"), BEARINGS).unwrap();
    let p = d.path().join("m.csv");
    std::fs::write(
        &p,
        "\u{feff}Role,label,bearing_id,machine,bearing,shaft_hz,fs_hz,signal,path,notes\n\
         test,outer,B9,rig,6205,30,12000,x,f.mat,whatever\n",
    )
    .unwrap();
    let m = Manifest::load(&p).unwrap();
    assert_eq!(m.rows[0].role, Role::Test);
    assert_eq!(m.rows[0].label, Label::Outer);
    assert_eq!(m.rows[0].start_s, None);
    assert_eq!(m.rows[0].load, None);
}

#[test]
fn header_problems_are_named() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("bearings.csv"), BEARINGS).unwrap();
    let p = d.path().join("m.csv");
    std::fs::write(
        &p,
        "path,signal,fs_hz,bearing,machine,bearing_id,label,role\nf.mat,x,1,6205,r,b,normal,test\n",
    )
    .unwrap();
    let e = Manifest::load(&p).unwrap_err().to_string();
    assert!(e.contains("m.csv") && e.contains("`shaft_hz`"), "{e}");
    std::fs::write(&p, format!("{HEADER},path\n")).unwrap();
    assert!(Manifest::load(&p)
        .unwrap_err()
        .to_string()
        .contains("`path` twice"));
    std::fs::write(&p, format!("{HEADER}\n")).unwrap();
    assert!(Manifest::load(&p)
        .unwrap_err()
        .to_string()
        .contains("no rows"));
    std::fs::remove_file(d.path().join("bearings.csv")).unwrap();
    std::fs::write(
        &p,
        format!("{HEADER}\nf.mat,x,1,1,6205,r,b,normal,test,,,\n"),
    )
    .unwrap();
    let e = Manifest::load(&p).unwrap_err().to_string();
    assert!(e.contains("m.csv") && e.contains("bearings.csv"), "{e}");
    let e = Manifest::load(&d.path().join("nope.csv"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("nope.csv"), "{e}");
}

#[test]
fn every_field_is_validated_with_line_and_column() {
    let ok = "f.mat,x,12000,30,6205,rig,B1,inner,train,,,";
    let cases: &[(&str, &str, &str)] = &[
        (",x,12000,30,6205,rig,B1,inner,train,,,", "`path`", "empty"),
        (
            "f.mat,,12000,30,6205,rig,B1,inner,train,,,",
            "`signal`",
            "empty",
        ),
        (
            "f.mat,x,abc,30,6205,rig,B1,inner,train,,,",
            "`fs_hz`",
            "`abc` is not a number",
        ),
        (
            "f.mat,x,0,30,6205,rig,B1,inner,train,,,",
            "`fs_hz`",
            "positive",
        ),
        (
            "f.mat,x,inf,30,6205,rig,B1,inner,train,,,",
            "`fs_hz`",
            "positive",
        ),
        (
            "f.mat,x,NaN,30,6205,rig,B1,inner,train,,,",
            "`fs_hz`",
            "positive",
        ),
        (
            "f.mat,x,12000,-1,6205,rig,B1,inner,train,,,",
            "`shaft_hz`",
            "positive",
        ),
        (
            "f.mat,x,12000,30,6206,rig,B1,inner,train,,,",
            "`bearing`",
            "6206` is not in",
        ),
        (
            "f.mat,x,12000,30,6205,,B1,inner,train,,,",
            "`machine`",
            "empty",
        ),
        (
            "f.mat,x,12000,30,6205,rig,,inner,train,,,",
            "`bearing_id`",
            "empty",
        ),
        (
            "f.mat,x,12000,30,6205,rig,B1,innr,train,,,",
            "`label`",
            "unknown label",
        ),
        (
            "f.mat,x,12000,30,6205,rig,B1,inner,learn,,,",
            "`role`",
            "unknown role",
        ),
        (
            "f.mat,x,12000,30,6205,rig,B1,inner,train,2,1,",
            "`end_s`",
            "after start_s",
        ),
        (
            "f.mat,x,12000,30,6205,rig,B1,inner,train,1,1,",
            "`end_s`",
            "after start_s",
        ),
        (
            "f.mat,x,12000,30,6205,rig,B1,inner,train,-1,,",
            "`start_s`",
            "0 or more",
        ),
        (
            "f.mat,x,12000,30,6205,rig,B1,inner,train,,x,",
            "`end_s`",
            "not a number",
        ),
    ];
    for (row, col, what) in cases {
        let e = load_err(&[ok, row]);
        assert!(
            e.contains("m.csv line 3") && e.contains(col) && e.contains(what),
            "{row}: {e}"
        );
    }
    let e = load_err(&[ok, "f.mat,x,12000"]);
    assert!(
        e.contains("m.csv") && e.contains("line 3") && e.contains("fields"),
        "{e}"
    );
}

#[test]
fn bearings_are_validated() {
    let p = Path::new("/d/bearings.csv");
    let h = "id,elements,element_diameter,pitch_diameter,contact_angle_deg,unit\n";
    let cases = [
        (
            "a,2,0.3,1.5,0,in",
            "`elements, element_diameter",
            "at least 3",
        ),
        ("a,9,0.3,0.2,0,in", "pitch", "pitch diameter"),
        ("a,9,0.3,1.5,95,in", "contact_angle", "contact angle"),
        ("a,nine,0.3,1.5,0,in", "`elements`", "whole number"),
        ("a,9,0.3,1.5,0,cm", "`unit`", "`in` or `mm`"),
        ("a,9,x,1.5,0,in", "`element_diameter`", "not a number"),
    ];
    for (row, col, what) in cases {
        let e = parse_bearings(&format!("{h}{row}\n"), p)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("/d/bearings.csv line 2") && e.contains(col) && e.contains(what),
            "{row}: {e}"
        );
    }
    let e = parse_bearings(&format!("{h}a,9,0.3,1.5,0,in\na,9,0.3,1.5,0,in\n"), p)
        .unwrap_err()
        .to_string();
    assert!(e.contains("line 3") && e.contains("twice"), "{e}");
    let e = parse_bearings("id,elements\n", p).unwrap_err().to_string();
    assert!(
        e.contains("`element_diameter`") && e.contains("`unit`"),
        "{e}"
    );
    // The manifest names bearings.csv beside it when its bearing table is wrong.
    let e = Manifest::parse_str(
        "x",
        &format!("{h}a,2,0.3,1.5,0,in\n"),
        Path::new("/d/m.csv"),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("/d/bearings.csv line 2"), "{e}");
}

fn manifest(rows: &[&str]) -> Manifest {
    Manifest::parse_str(
        &format!("{HEADER}\n{}\n", rows.join("\n")),
        BEARINGS,
        Path::new("/d/m.csv"),
    )
    .unwrap()
}

#[test]
fn leak_rule_a_bearing_on_both_sides() {
    let m = manifest(&[
        "a.mat,x,12000,30,6205,rig,B1,inner,train,,,",
        "b.mat,x,12000,30,6205,rig,B2,inner,train,,,",
        "c.mat,x,12000,30,6205,rig,B1,inner,test,,,",
    ]);
    let e = m.check_self().unwrap_err();
    assert!(
        matches!(&e, Error::Leak { problems } if problems.len() == 1),
        "{e}"
    );
    let e = e.to_string();
    assert!(
        e.contains("`B1`") && e.contains("/d/m.csv line 4") && e.contains("/d/m.csv line 2"),
        "{e}"
    );

    // Normal test rows of a train bearing are no leak (rule (a) is about faults).
    let m = manifest(&[
        "a.mat,x,12000,30,6205,rig,N,normal,train,,,",
        "c.mat,x,12000,30,6205,rig,N,normal,test,,,",
    ]);
    m.check_self().unwrap();

    // Across two manifests: train rows of one, test rows of the other.
    let train = manifest(&[
        "a.mat,x,12000,30,6205,rig,B7,ball,train,,,",
        "z.mat,x,12000,30,6205,rig,B9,ball,test,,,",
    ]);
    let test = Manifest::parse_str(
        &format!("{HEADER}\nq.mat,x,12000,30,6205,rig,B7,ball,test,,,\nr.mat,x,12000,30,6205,rig,B9,ball,train,,,\n"),
        BEARINGS,
        Path::new("/e/t.csv"),
    )
    .unwrap();
    let e = check_split(&train, &test).unwrap_err().to_string();
    assert!(
        e.contains("`B7`") && e.contains("/e/t.csv line 2") && e.contains("/d/m.csv line 2"),
        "{e}"
    );
    assert!(!e.contains("B9"), "{e}");
}

#[test]
fn leak_rule_b_overlapping_ranges() {
    // Disjoint ranges of one file are fine (like CWRU's 97.mat).
    let m = manifest(&[
        "n.mat,x,48000,30,6205,rig,N,normal,baseline,0,2.5,",
        "n.mat,x,48000,30,6205,rig,N,normal,test,2.5,,",
    ]);
    m.check_self().unwrap();
    let cases: &[(&str, &str)] = &[
        (
            "n.mat,x,48000,30,6205,rig,N,normal,baseline,0,2.6,",
            "baseline row /d/m.csv line 2",
        ),
        (
            "n.mat,x,48000,30,6205,rig,N,normal,baseline,,,",
            "the whole file",
        ),
        (
            "./n.mat,y,48000,30,6205,rig,N,normal,train,3,4,",
            "train row /d/m.csv line 2",
        ),
    ];
    for (first, want) in cases {
        let m = manifest(&[first, "n.mat,x,48000,30,6205,rig,N,normal,test,2.5,,"]);
        let e = m.check_self().unwrap_err().to_string();
        assert!(
            e.contains(want) && e.contains("test row /d/m.csv line 3") && e.contains("n.mat"),
            "{first}: {e}"
        );
    }
    // Another file, or test against test, is no leak.
    manifest(&[
        "o.mat,x,48000,30,6205,rig,N,normal,baseline,,,",
        "n.mat,x,48000,30,6205,rig,N,normal,test,,,",
    ])
    .check_self()
    .unwrap();
    manifest(&[
        "n.mat,x,48000,30,6205,rig,N,normal,test,,,",
        "n.mat,x,48000,30,6205,rig,N,normal,test,,,",
    ])
    .check_self()
    .unwrap();
    // Across manifests in different folders naming the same file.
    let train = Manifest::parse_str(
        &format!("{HEADER}\n../d/n.mat,x,48000,30,6205,rig,N,normal,train,0,3,\n"),
        BEARINGS,
        Path::new("/e/train.csv"),
    )
    .unwrap();
    let test = manifest(&["n.mat,x,48000,30,6205,rig,N,normal,test,2.5,,"]);
    let e = check_split(&train, &test).unwrap_err().to_string();
    assert!(
        e.contains("/e/train.csv line 2") && e.contains("/d/m.csv line 2"),
        "{e}"
    );
    // Baseline rows of the *train* manifest do not count.
    let train = Manifest::parse_str(
        &format!("{HEADER}\n../d/n.mat,x,48000,30,6205,rig,N,normal,baseline,0,3,\n"),
        BEARINGS,
        Path::new("/e/train.csv"),
    )
    .unwrap();
    check_split(&train, &test).unwrap();
}

#[test]
fn load_row_cuts_and_checks_the_rate() {
    let d = tempfile::tempdir().unwrap();
    let mut text = String::from("v\n");
    for i in 0..100 {
        text.push_str(&format!("{i}\n"));
    }
    std::fs::write(d.path().join("r.csv"), text).unwrap();
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 100,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(d.path().join("r.wav"), spec).unwrap();
    for i in 0..50 {
        w.write_sample(i as i16).unwrap();
    }
    w.finalize().unwrap();
    let p = setup(
        d.path(),
        "m.csv",
        &[
            "r.csv,v,10,1,6205,rig,A,normal,baseline,,,",
            "r.csv,v,10,1,6205,rig,A,normal,test,2.5,5,",
            "r.csv,v,10,1,6205,rig,A,normal,test,9,,",
            "r.csv,v,10,1,6205,rig,A,normal,test,5,10.5,",
            "r.csv,v,10,1,6205,rig,A,normal,test,10,,",
            "r.wav,0,100,1,6205,rig,A,normal,test,,,",
            "r.wav,0,48000,1,6205,rig,A,normal,test,,,",
            "r.csv,nope,10,1,6205,rig,A,normal,test,,,",
        ],
    );
    let m = Manifest::load(&p).unwrap();
    m.check_files().unwrap();
    let rows = &m.rows;
    assert_eq!(load_row(&rows[0]).unwrap().len(), 100);
    assert_eq!(
        load_row(&rows[1]).unwrap(),
        (25..50).map(f64::from).collect::<Vec<_>>()
    );
    assert_eq!(
        load_row(&rows[2]).unwrap(),
        (90..100).map(f64::from).collect::<Vec<_>>()
    );
    let e = load_row(&rows[3]).unwrap_err().to_string();
    assert!(
        e.contains("m.csv line 5") && e.contains("end_s=10.5") && e.contains("100 samples = 10 s"),
        "{e}"
    );
    let e = load_row(&rows[4]).unwrap_err().to_string();
    assert!(
        e.contains("m.csv line 6") && e.contains("start_s=10"),
        "{e}"
    );
    assert_eq!(load_row(&rows[5]).unwrap().len(), 50);
    let e = load_row(&rows[6]).unwrap_err().to_string();
    assert!(
        e.contains("manifest line 8 says fs_hz=48000 but the file is 100 Hz")
            && e.contains("r.wav"),
        "{e}"
    );
    let e = load_row(&rows[7]).unwrap_err().to_string();
    assert!(
        e.contains("m.csv line 9") && e.contains("`nope`") && e.contains("`v`"),
        "{e}"
    );

    std::fs::remove_file(d.path().join("r.wav")).unwrap();
    let e = m.check_files().unwrap_err().to_string();
    assert!(
        e.contains("m.csv line 7, column `path`") && e.contains("r.wav"),
        "{e}"
    );
}

#[test]
fn cwru_manifest_is_valid_and_leak_free() {
    let Some(dir) = fos_io::testdata::data_dir() else {
        return;
    };
    let m = Manifest::load(&dir.join("cwru/manifest.csv")).unwrap();
    assert_eq!(m.rows.len(), 38);
    m.check_self().unwrap();
    m.check_files().unwrap();
    let base = m.rows.iter().find(|r| r.role == Role::Baseline).unwrap();
    assert_eq!(load_row(base).unwrap().len(), 120_000);
    let test97 = m
        .rows
        .iter()
        .find(|r| r.path == "normal_0_97.mat" && r.role == Role::Test)
        .unwrap();
    assert_eq!(load_row(test97).unwrap().len(), 243_938 - 120_000);
    let r = m.rows.iter().find(|r| r.signal == "X169_DE_time").unwrap();
    assert_eq!(r.label, Label::Inner);
    assert!(load_row(r).unwrap().len() > 120_000);
}
