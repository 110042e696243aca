//! MAT-file reader: round trips through the test writer, error messages, malformed inputs,
//! streaming, and the CWRU files.

mod common;

use common::*;
use fos_io::mat::MatFile;
use fos_io::{open_stream, read_signal, Error};
use std::path::{Path, PathBuf};

fn parse(bytes: &[u8]) -> MatFile {
    MatFile::parse(bytes, Path::new("/t/test.mat")).unwrap()
}

fn file(name: &str) -> Vec<u8> {
    sample_files()
        .into_iter()
        .find(|(n, _)| *n == name)
        .unwrap()
        .1
}

fn sig() -> Vec<f64> {
    (0..40).map(|i| (i as f64 * 0.3).sin()).collect()
}

/// Writes bytes to a temp file with the given name; keeps the dir alive.
fn temp(name: &str, bytes: &[u8]) -> (tempfile::TempDir, PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join(name);
    std::fs::write(&p, bytes).unwrap();
    (d, p)
}

fn stream_all(path: &Path, signal: &str, chunk: usize) -> Vec<f64> {
    let mut s = open_stream(path, signal).unwrap();
    let mut out = Vec::new();
    let mut buf = vec![0.0; chunk];
    loop {
        let n = s.read(&mut buf).unwrap();
        if n == 0 {
            return out;
        }
        out.extend_from_slice(&buf[..n]);
    }
}

#[test]
fn doubles_round_trip() {
    let m = parse(&file("doubles"));
    assert_eq!(m.names(), vec!["x", "rpm"]);
    assert_eq!(m.get("x").unwrap(), sig());
    assert_eq!(m.get("rpm").unwrap(), vec![1797.0]);
}

#[test]
fn matrix_is_flattened_column_major() {
    let a = Arr::Num {
        class: C_DOUBLE,
        dims: vec![2, 3],
        data: Data::F64(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]),
        imag: None,
        logical: false,
    };
    let m = parse(&le(&[("m", a, false)]));
    assert_eq!(m.get("m").unwrap(), vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
}

#[test]
fn singles_and_every_storage_type_convert() {
    assert_eq!(
        parse(&file("singles")).get("x").unwrap(),
        vec![0.5, -1.25, 3.0]
    );
    assert_eq!(
        parse(&file("int16_stored")).get("x").unwrap(),
        vec![-32768.0, -1.0, 0.0, 1.0, 32767.0]
    );
    assert_eq!(
        parse(&file("small_elem")).get("x").unwrap(),
        vec![1.0, 2.0, 3.0]
    );
    let cases = vec![
        (C_DOUBLE, Data::I8(vec![-128, 5, 127])),
        (C_DOUBLE, Data::U8(vec![0, 200, 255, 7, 9])),
        (C_DOUBLE, Data::U16(vec![65535, 1])),
        (C_DOUBLE, Data::I32(vec![-2_000_000_000, 3])),
        (C_DOUBLE, Data::U32(vec![4_000_000_000, 3])),
        (C_DOUBLE, Data::I64(vec![-(1 << 40), 3])),
        (C_DOUBLE, Data::U64(vec![1 << 50, 3])),
        (C_INT8, Data::I8(vec![-3, 4])),
        (C_UINT16, Data::U16(vec![3, 4, 5])),
        (C_INT64, Data::I64(vec![-9, 9])),
        (C_UINT64, Data::U64(vec![9, 10])),
        (C_SINGLE, Data::F32(vec![1.5, f32::MAX])),
        (C_INT16, Data::I16(vec![-7])),
        (C_UINT32, Data::U32(vec![7, 8, 9, 10, 11])),
        (C_INT32, Data::I32(vec![1, 2, 3])),
        (C_UINT8, Data::U8(vec![1])),
    ];
    for big in [false, true] {
        for (class, data) in &cases {
            let want = data.as_f64();
            let bytes = Writer { big }.file(&[("v", stored(*class, data.clone()), false)]);
            assert_eq!(
                parse(&bytes).get("v").unwrap(),
                want,
                "class {class} {data:?} big={big}"
            );
            let (_d, p) = temp("v.mat", &bytes);
            assert_eq!(stream_all(&p, "v", 3), want);
        }
    }
}

#[test]
fn structs_nested_and_dotted_paths() {
    let m = parse(&file("struct"));
    assert_eq!(m.names(), vec!["rec"]);
    assert_eq!(m.get("rec.accel").unwrap(), sig()[..10].to_vec());
    assert_eq!(m.get("rec.fs").unwrap(), vec![12000.0]);
    assert_eq!(m.get("rec.meta.gain").unwrap(), vec![-3.0, 7.0]);

    let e = m.get("rec.nope").unwrap_err().to_string();
    assert!(
        e.contains("no field `nope`") && e.contains("accel, fs, meta") && e.contains("test.mat"),
        "{e}"
    );
    let e = m.get("rec").unwrap_err().to_string();
    assert!(e.contains("struct") && e.contains("dotted"), "{e}");
    let e = m.get("rec.accel.x").unwrap_err().to_string();
    assert!(e.contains("not a struct"), "{e}");
    let e = m.get("rec.meta.name").unwrap_err().to_string();
    assert!(e.contains("char array"), "{e}");

    let m = parse(&file("struct_array"));
    let e = m.get("arr.v").unwrap_err().to_string();
    assert!(e.contains("1x2 struct array") && e.contains("`arr`"), "{e}");
}

#[test]
fn deep_nesting_is_refused_not_overflowed() {
    let mut a = doubles(&[1.0]);
    for _ in 0..40 {
        a = st(vec![("f", a)]);
    }
    let err =
        MatFile::parse(&le(&[("deep", a.clone(), false)]), Path::new("/t/deep.mat")).unwrap_err();
    assert!(err.to_string().contains("nested more than"), "{err}");
    let mut ok = doubles(&[1.0]);
    for _ in 0..10 {
        ok = st(vec![("f", ok)]);
    }
    let m = parse(&le(&[("d", ok, true)]));
    assert_eq!(m.get(&format!("d{}", ".f".repeat(10))).unwrap(), vec![1.0]);
}

#[test]
fn compressed_and_big_endian() {
    let m = parse(&file("compressed"));
    assert_eq!(m.names(), vec!["x", "rec", "y"]);
    assert_eq!(m.get("x").unwrap(), sig());
    assert_eq!(m.get("rec.meta.gain").unwrap(), vec![-3.0, 7.0]);
    assert_eq!(m.get("y").unwrap(), vec![1.0, 2.0]);

    let m = parse(&file("big_endian"));
    assert_eq!(m.get("x").unwrap(), sig());
    assert_eq!(m.get("rec.accel").unwrap(), sig()[..10].to_vec());
    assert_eq!(m.get("i").unwrap(), vec![-5.0, 6.0]);
}

#[test]
fn other_classes_are_skipped_and_explained() {
    let m = parse(&file("mixed"));
    assert_eq!(m.names(), vec!["s", "c", "sp", "z", "b", "x"]);
    assert_eq!(m.get("x").unwrap(), vec![4.0, 5.0]);
    assert_eq!(m.get("b").unwrap(), vec![1.0, 0.0, 1.0]);
    for (name, want) in [
        ("s", "char array"),
        ("c", "cell array"),
        ("sp", "sparse"),
        ("z", "complex"),
    ] {
        let e = m.get(name).unwrap_err().to_string();
        assert!(
            e.contains(want) && e.contains(&format!("`{name}`")) && e.contains("test.mat"),
            "{e}"
        );
    }
}

#[test]
fn not_found_lists_the_variables() {
    let m = parse(&file("doubles"));
    let e = m.get("X999_DE_time").unwrap_err();
    assert!(matches!(e, Error::MatNotFound { .. }));
    assert_eq!(
        e.to_string(),
        "variable `X999_DE_time` not found in /t/test.mat; it holds: x, rpm"
    );
}

#[test]
fn three_d_arrays_are_refused() {
    let a = Arr::Num {
        class: C_DOUBLE,
        dims: vec![2, 2, 2],
        data: Data::F64(vec![0.0; 8]),
        imag: None,
        logical: false,
    };
    let e = parse(&le(&[("cube", a, false)]))
        .get("cube")
        .unwrap_err()
        .to_string();
    assert!(e.contains("2x2x2"), "{e}");
}

#[test]
fn header_errors_are_explained() {
    let p = Path::new("/t/h.mat");
    let e = MatFile::parse(b"short", p).unwrap_err().to_string();
    assert!(
        e.contains("/t/h.mat") && e.contains("shorter than the 128-byte"),
        "{e}"
    );
    let mut v73 = file("doubles");
    v73[..19].copy_from_slice(b"MATLAB 7.3 MAT-file");
    let e = MatFile::parse(&v73, p).unwrap_err().to_string();
    assert!(e.contains("v7.3") && e.contains("-v7"), "{e}");
    let mut bad = file("doubles");
    bad[0] = b'X';
    assert!(MatFile::parse(&bad, p)
        .unwrap_err()
        .to_string()
        .contains("not a MATLAB level-5"));
    let mut bad = file("doubles");
    bad[126] = b'X';
    assert!(MatFile::parse(&bad, p)
        .unwrap_err()
        .to_string()
        .contains("endian indicator"));
    let mut bad = file("doubles");
    bad[124] = 2;
    assert!(MatFile::parse(&bad, p)
        .unwrap_err()
        .to_string()
        .contains("version"));
    // A header alone is a valid, empty file.
    let m = MatFile::parse(&file("doubles")[..128], p).unwrap();
    assert!(m.names().is_empty());
    assert!(m.get("x").unwrap_err().to_string().contains("no variables"));
}

#[test]
fn lying_sizes_do_not_allocate() {
    // A data element claiming 4 GB in a small file.
    let mut b = le(&[("x", doubles(&[1.0, 2.0]), false)]);
    let n = b.len();
    b[128 + 4..128 + 8].copy_from_slice(&u32::MAX.to_le_bytes());
    let e = MatFile::parse(&b, Path::new("/t/l.mat"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("claims") && e.contains("truncated"), "{e}");
    // The same inside a compressed element: the zlib data is short, the claim is not believed.
    let w = Writer { big: false };
    let mut m = w.matrix("x", &doubles(&[1.0, 2.0]));
    m[4..8].copy_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
    let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut enc, &m).unwrap();
    let z = enc.finish().unwrap();
    let mut f = w.file_header();
    f.extend_from_slice(&MI_COMPRESSED.to_le_bytes());
    f.extend_from_slice(&(z.len() as u32).to_le_bytes());
    f.extend(z);
    let r = MatFile::parse(&f, Path::new("/t/l.mat")).and_then(|m| m.get("x"));
    assert!(r.is_err(), "{r:?} {n}");
}

/// Every truncation of every sample file inside an element is an error (naming the file), without
/// panicking; a cut exactly between elements yields the variables before it, intact.
#[test]
fn truncation_at_every_offset_is_an_error() {
    for (name, full) in sample_files() {
        let whole = parse(&full);
        let names = whole.names();
        let mut ok_cuts = 0;
        for cut in 0..full.len() {
            match MatFile::parse(&full[..cut], Path::new("/t/cut.mat")) {
                Err(e) => assert!(e.to_string().contains("/t/cut.mat"), "{e}"),
                Ok(m) => {
                    ok_cuts += 1;
                    let got = m.names();
                    assert!(
                        got.len() < names.len() && names[..got.len()] == got[..],
                        "{name} cut {cut}: {got:?}"
                    );
                    for n in got {
                        assert_eq!(m.get(&n).ok(), whole.get(&n).ok());
                    }
                }
            }
        }
        // Only the cuts between elements parse (plus, after a compressed element, fewer than 8
        // zero bytes, read as padding).
        assert!(
            ok_cuts >= names.len() && ok_cuts <= names.len() * 8,
            "{name}: {ok_cuts}"
        );
    }
    // A compressed element cut in its zlib trailer (checksum) is noticed.
    let full = le(&[("x", doubles(&sig()), true)]);
    for k in 1..=4 {
        let r = MatFile::parse(&full[..full.len() - k], Path::new("/t/z.mat"));
        assert!(r.is_err(), "cut {k} from the end: {r:?}");
    }
    // Streaming from truncated files (fewer offsets: each is a file on disk).
    let d = tempfile::tempdir().unwrap();
    for (name, var) in [
        ("doubles", "x"),
        ("compressed", "x"),
        ("big_endian", "x"),
        ("compressed", "rec.accel"),
    ] {
        let full = file(name);
        for cut in (0..full.len()).step_by(7) {
            let p = d.path().join("cut.mat");
            std::fs::write(&p, &full[..cut]).unwrap();
            let r = open_stream(&p, var).and_then(|mut s| {
                let mut buf = vec![0.0; 16];
                let mut n = 0;
                loop {
                    let k = s.read(&mut buf)?;
                    if k == 0 {
                        return Ok(n);
                    }
                    n += k;
                }
            });
            let want = MatFile::parse(&full, Path::new("x"))
                .unwrap()
                .get(var)
                .unwrap()
                .len();
            // Never silently short: either an error or all of the variable (cut after it).
            assert!(
                r.is_err() || r.as_ref().ok() == Some(&want),
                "{name}/{var} cut {cut}: {r:?}"
            );
            if let Err(e) = r {
                assert!(e.to_string().contains("cut.mat"), "{e}");
            }
        }
    }
}

/// Flipping any byte never panics (the result may be Ok or Err).
#[test]
fn flipped_bytes_never_panic() {
    for (name, full) in sample_files() {
        for i in 0..full.len() {
            for x in [0xFFu8, 0x01, 0x80] {
                let mut b = full.clone();
                b[i] ^= x;
                if let Ok(m) = MatFile::parse(&b, Path::new("/t/flip.mat")) {
                    for n in m.names() {
                        let _ = m.get(&n);
                    }
                    let _ = m.get("rec.accel");
                    let _ = m.get("rec.meta.gain");
                }
            }
        }
        let _ = name;
    }
}

mod prop {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]
        /// Random bodies after a valid header never panic.
        #[test]
        fn random_bodies_never_panic(body in proptest::collection::vec(any::<u8>(), 0..600), big in any::<bool>()) {
            let mut b = Writer { big }.file_header();
            b.extend(body);
            if let Ok(m) = MatFile::parse(&b, Path::new("/t/r.mat")) {
                for n in m.names() { let _ = m.get(&n); }
            }
        }

        /// Random splices of valid files never panic.
        #[test]
        fn spliced_files_never_panic(which in 0usize..9, at in 0usize..4000, junk in proptest::collection::vec(any::<u8>(), 1..16)) {
            let mut b = sample_files()[which].1.clone();
            let at = at % b.len();
            let end = (at + junk.len()).min(b.len());
            b[at..end].copy_from_slice(&junk[..end - at]);
            if let Ok(m) = MatFile::parse(&b, Path::new("/t/r.mat")) {
                for n in m.names() { let _ = m.get(&n); let _ = m.get(&format!("{n}.accel")); }
            }
        }
    }
}

#[test]
fn streaming_matches_get() {
    let cases = [
        ("doubles", vec!["x", "rpm"]),
        ("compressed", vec!["x", "rec.accel", "rec.meta.gain", "y"]),
        ("big_endian", vec!["x", "rec.accel", "i"]),
        ("struct", vec!["rec.accel", "rec.fs"]),
        ("small_elem", vec!["x"]),
        ("mixed", vec!["x", "b"]),
    ];
    for (name, vars) in cases {
        let bytes = file(name);
        let m = parse(&bytes);
        let (_d, p) = temp("s.MAT", &bytes);
        for v in vars {
            let want = m.get(v).unwrap();
            for chunk in [1, 3, 1000] {
                assert_eq!(stream_all(&p, v, chunk), want, "{name} {v} chunk {chunk}");
            }
            assert_eq!(read_signal(&p, v).unwrap().samples, want);
            assert_eq!(read_signal(&p, v).unwrap().file_rate_hz, None);
        }
        let e = open_stream(&p, "nope").err().unwrap().to_string();
        assert!(e.contains("not found") && e.contains("s.MAT"), "{e}");
    }
    let (_d, p) = temp("m.mat", &file("mixed"));
    let e = open_stream(&p, "z").err().unwrap().to_string();
    assert!(e.contains("complex") && e.contains("`z`"), "{e}");
    let e = open_stream(&p, "sp").err().unwrap().to_string();
    assert!(e.contains("sparse"), "{e}");
}

#[test]
fn nan_in_mat_is_reported_with_index() {
    let (_d, p) = temp(
        "n.mat",
        &le(&[("x", doubles(&[1.0, 2.0, f64::NAN, 4.0]), true)]),
    );
    let e = read_signal(&p, "x").unwrap_err();
    assert!(matches!(e, Error::NonFinite { index: 2, .. }), "{e}");
    assert!(e.to_string().contains("sample 2") && e.to_string().contains("n.mat"));
    let (_d, p) = temp("e.mat", &le(&[("x", doubles(&[]), false)]));
    let e = read_signal(&p, "x").unwrap_err();
    assert!(matches!(e, Error::EmptySignal { .. }), "{e}");
}

// ---- real data ----

fn cwru() -> Option<PathBuf> {
    fos_io::testdata::data_dir().map(|d| d.join("cwru"))
}

#[test]
fn every_cwru_file_parses() {
    let Some(dir) = cwru() else { return };
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "mat") {
            let m = MatFile::open(&p).unwrap();
            let names = m.names();
            let de = names
                .iter()
                .find(|n| n.ends_with("_DE_time"))
                .unwrap_or_else(|| panic!("{p:?}: {names:?}"));
            let v = m.get(de).unwrap();
            assert!(v.len() > 100_000, "{p:?}");
            assert!(v.iter().all(|x| x.is_finite()));
            n += 1;
        }
    }
    assert!(n >= 37, "only {n} .mat files in {dir:?}");
}

#[test]
fn cwru_known_variables() {
    let Some(dir) = cwru() else { return };
    let p = dir.join("normal_0_97.mat");
    let m = MatFile::open(&p).unwrap();
    let names = m.names();
    assert!(
        names.contains(&"X097_DE_time".to_string()) && names.contains(&"X097RPM".to_string()),
        "{names:?}"
    );
    let de = m.get("X097_DE_time").unwrap();
    assert_eq!(de.len(), 243_938);
    assert_eq!(m.get("X097RPM").unwrap().len(), 1);
    let e = m.get("X999_DE_time").unwrap_err().to_string();
    assert!(
        e.contains("X097_DE_time, X097_FE_time")
            && e.contains("X097RPM")
            && e.contains("normal_0_97.mat"),
        "{e}"
    );
    assert_eq!(stream_all(&p, "X097_DE_time", 4096), de);
    assert_eq!(read_signal(&p, "X097_DE_time").unwrap().samples, de);

    let p = dir.join("12k_Drive_End_IR014_0_169.mat");
    let m = MatFile::open(&p).unwrap();
    let v = m.get("X169_DE_time").unwrap();
    assert!((120_000..123_000).contains(&v.len()), "{}", v.len());
    assert_eq!(read_signal(&p, "X169_DE_time").unwrap().samples, v);
}
