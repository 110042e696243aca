//! Real-binary tests of `fos import` and `fos query`: real SKAB, CNC and Tennessee Eastman files
//! imported into a temporary data folder, answers checked against a reference computed here directly
//! on the files; merge refusals, bad-CSV errors and the TEP orientation rule.

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

fn fos(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fos")).args(args).output().expect("run fos")
}

fn ok(out: Output) -> String {
    assert!(out.status.success(), "fos failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8 stdout")
}

fn failure(out: Output) -> String {
    assert_eq!(out.status.code(), Some(2), "expected exit 2; stdout: {}", String::from_utf8_lossy(&out.stdout));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Per-tag reference: count, sum, min and max time (ns).
#[derive(Debug, Default)]
struct Stats {
    n: u64,
    sum: f64,
    t0: i64,
    t1: i64,
}

/// Days since 1970-01-01 of a Gregorian date (independent of the importer's parser).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `YYYY-MM-DD HH:MM:SS` as nanoseconds since the epoch (UTC).
fn skab_time(s: &str) -> i64 {
    let n = |a: usize, b: usize| s[a..b].parse::<i64>().unwrap_or_else(|_| panic!("bad time {s:?}"));
    let days = days_from_civil(n(0, 4), n(5, 7), n(8, 10));
    ((days * 24 + n(11, 13)) * 60 + n(14, 16)) * 60 * 1_000_000_000 + n(17, 19) * 1_000_000_000
}

/// The reference answer for one CSV: tags `<stem>.<column>` of the columns whose every non-empty
/// cell is a number; time from `time_col` or the row index in seconds.
fn reference(path: &Path, delimiter: u8, time_col: Option<&str>) -> BTreeMap<String, Stats> {
    let mut r = csv::ReaderBuilder::new().delimiter(delimiter).from_path(path).unwrap();
    let headers: Vec<String> = r.headers().unwrap().iter().map(|h| h.trim().to_string()).collect();
    let rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
    let stem = path.file_stem().unwrap().to_str().unwrap();
    let tc = time_col.map(|t| headers.iter().position(|h| h == t).unwrap());
    let mut out = BTreeMap::new();
    for (c, h) in headers.iter().enumerate() {
        if Some(c) == tc {
            continue;
        }
        let cells: Vec<(i64, &str)> = rows
            .iter()
            .enumerate()
            .map(|(i, row)| {
                let t = match tc {
                    Some(tc) => skab_time(&row[tc]),
                    None => i as i64 * 1_000_000_000,
                };
                (t, row[c].trim())
            })
            .filter(|(_, v)| !v.is_empty())
            .collect();
        if cells.is_empty() || cells.iter().any(|(_, v)| v.parse::<f64>().is_err()) {
            continue;
        }
        let mut s = Stats { t0: i64::MAX, t1: i64::MIN, ..Stats::default() };
        for (t, v) in cells {
            s.n += 1;
            s.sum += v.parse::<f64>().unwrap();
            s.t0 = s.t0.min(t);
            s.t1 = s.t1.max(t);
        }
        out.insert(format!("{stem}.{h}"), s);
    }
    out
}

fn close(a: f64, b: f64) -> bool {
    a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1e-300)
}

#[test]
fn import_real_skab_and_cnc_files_and_query_matches_the_csv() {
    let Some(data) = fos_io::testdata::data_dir() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_str().unwrap();
    let skab = data.join("skab/valve1/0.csv");
    let cnc = data.join("cnc-mill-umich/experiment_01.csv");
    let out = fos(&["import", skab.to_str().unwrap(), cnc.to_str().unwrap(), "--data-dir", dir]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let stdout = ok(out);
    assert!(stdout.starts_with("imported "), "{stdout}");
    assert!(stderr.contains("\"Machining_Process\" is not numeric"), "{stderr}");

    let mut expected = reference(&skab, b';', Some("datetime"));
    expected.extend(reference(&cnc, b',', None));
    assert_eq!(expected.len(), 10 + 47, "{:?}", expected.keys().collect::<Vec<_>>());

    let sql = "SELECT tag, count(*) AS n, sum(value) AS s, avg(value) AS mean, \
               CAST(min(time) AS BIGINT) AS t0, CAST(max(time) AS BIGINT) AS t1 \
               FROM samples GROUP BY tag ORDER BY tag";
    let answer = ok(fos(&["query", "--json", "--data-dir", dir, sql]));
    let rows: Vec<Value> = answer.lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect();
    let got: Vec<&str> = rows.iter().map(|r| r["tag"].as_str().unwrap()).collect();
    assert_eq!(got, expected.keys().map(String::as_str).collect::<Vec<_>>());
    for r in &rows {
        let tag = r["tag"].as_str().unwrap();
        let e = &expected[tag];
        assert_eq!(r["n"].as_u64(), Some(e.n), "{tag}");
        assert_eq!(r["t0"].as_i64(), Some(e.t0), "{tag}");
        assert_eq!(r["t1"].as_i64(), Some(e.t1), "{tag}");
        let (s, mean) = (r["s"].as_f64().unwrap(), r["mean"].as_f64().unwrap());
        assert!(close(s, e.sum), "{tag}: sum {s} vs {}", e.sum);
        assert!(close(mean, e.sum / e.n as f64), "{tag}: avg {mean} vs {}", e.sum / e.n as f64);
    }

    // CSV and table outputs.
    let total: u64 = expected.values().map(|s| s.n).sum();
    let csv = ok(fos(&["query", "--csv", "--data-dir", dir, "SELECT count(*) AS n FROM samples"]));
    assert_eq!(csv, format!("n\n{total}\n"));
    let table = ok(fos(&["query", "--data-dir", dir, "SELECT tag FROM samples WHERE tag = '0.Current' LIMIT 1"]));
    assert!(table.contains("| tag") && table.contains("| 0.Current |"), "{table}");

    // Importing the same file again would merge two sources into its tags.
    let err = failure(fos(&["import", skab.to_str().unwrap(), "--data-dir", dir]));
    assert!(err.contains("already in the historian") && err.contains("0.csv"), "{err}");
    let again = ok(fos(&["query", "--csv", "--data-dir", dir, "SELECT count(*) AS n FROM samples"]));
    assert_eq!(again, csv, "a refused import must write nothing");
}

#[test]
fn two_files_with_one_stem_are_refused_naming_both() {
    let Some(data) = fos_io::testdata::data_dir() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let a = data.join("skab/valve1/1.csv");
    let b = data.join("skab/other/1.csv");
    let err =
        failure(fos(&["import", a.to_str().unwrap(), b.to_str().unwrap(), "--data-dir", tmp.path().to_str().unwrap()]));
    assert!(err.contains(a.to_str().unwrap()) && err.contains(b.to_str().unwrap()), "{err}");
    assert!(err.contains("--tag-prefix"), "{err}");
}

#[test]
fn bad_csv_errors_name_file_line_and_column() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let dir = dir.to_str().unwrap();
    let bad = tmp.path().join("bad.csv");
    std::fs::write(&bad, "datetime,a,b\n2020-01-01 00:00:00,1,2\n2020-01-01 00:00:01,x,3\n").unwrap();
    let err = failure(fos(&["import", bad.to_str().unwrap(), "--data-dir", dir]));
    assert!(err.contains("bad.csv") && err.contains("line 3") && err.contains("column \"a\""), "{err}");

    std::fs::write(&bad, "datetime,a,b\n2020-01-01 00:00:00,1,2\n2020-01-01 00:00:01,3\n").unwrap();
    let err = failure(fos(&["import", bad.to_str().unwrap(), "--data-dir", dir]));
    assert!(err.contains("bad.csv") && err.contains("line 3") && err.contains("column \"b\" missing"), "{err}");

    std::fs::write(&bad, "datetime,a\n2020-01-01 00:00:00,1\nyesterday,2\n").unwrap();
    let err = failure(fos(&["import", bad.to_str().unwrap(), "--data-dir", dir]));
    assert!(err.contains("line 3") && err.contains("column \"datetime\""), "{err}");

    // With a prefix, the tag names carry it; a time rule from numbers of seconds.
    std::fs::write(&bad, "time;v;label\n1.5;2.5;x\n2.5;-0;y\n").unwrap();
    ok(fos(&["import", bad.to_str().unwrap(), "--tag-prefix", "lab.", "--data-dir", dir]));
    let csv = ok(fos(&[
        "query",
        "--csv",
        "--data-dir",
        dir,
        "SELECT tag, CAST(time AS BIGINT) AS t, value FROM samples ORDER BY time",
    ]));
    assert_eq!(csv, "tag,t,value\nlab.bad.v,1500000000,2.5\nlab.bad.v,2500000000,-0.0\n");
}

/// The TEP name of variable `j` (from 0), as the data set's README lists them.
fn tep_var(j: usize) -> String {
    if j < 41 {
        format!("XMEAS({})", j + 1)
    } else {
        format!("XMV({})", j - 40)
    }
}

/// Count and sum per variable of a TEP file read by its documented layout (`FORMAT.md`: `d00.dat`
/// is stored transposed, one variable per line; the others one observation per line).
fn tep_reference(path: &Path, transposed: bool) -> Vec<(u64, f64)> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut out = vec![(0u64, 0.0f64); 52];
    for (i, line) in text.lines().filter(|l| !l.trim().is_empty()).enumerate() {
        for (j, cell) in line.split_whitespace().enumerate() {
            let var = if transposed { i } else { j };
            out[var].0 += 1;
            out[var].1 += cell.parse::<f64>().unwrap();
        }
    }
    out
}

#[test]
fn import_two_tep_files_in_both_orientations_and_query_matches_the_files() {
    let Some(data) = fos_io::testdata::data_dir() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_str().unwrap();
    let (d00, d01) = (data.join("tep/d00.dat"), data.join("tep/d01.dat"));
    let out =
        ok(fos(&["import", d00.to_str().unwrap(), d01.to_str().unwrap(), "--tag-prefix", "tep.", "--data-dir", dir]));
    assert!(out.starts_with(&format!("imported {} points of 104 tags from 2 file(s)", 52 * (500 + 480))), "{out}");

    let mut expected = BTreeMap::new();
    for (stem, path, transposed) in [("d00", &d00, true), ("d01", &d01, false)] {
        for (j, stats) in tep_reference(path, transposed).into_iter().enumerate() {
            expected.insert(format!("tep.{stem}.{}", tep_var(j)), stats);
        }
    }
    let sql = "SELECT tag, count(*) AS n, sum(value) AS s, CAST(min(time) AS BIGINT) AS t0, \
               CAST(max(time) AS BIGINT) AS t1 FROM samples GROUP BY tag ORDER BY tag";
    let answer = ok(fos(&["query", "--json", "--data-dir", dir, sql]));
    let rows: Vec<Value> = answer.lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect();
    let got: Vec<&str> = rows.iter().map(|r| r["tag"].as_str().unwrap()).collect();
    assert_eq!(got, expected.keys().map(String::as_str).collect::<Vec<_>>());
    for r in &rows {
        let tag = r["tag"].as_str().unwrap();
        let (n, sum) = expected[tag];
        assert_eq!(r["n"].as_u64(), Some(if tag.starts_with("tep.d00.") { 500 } else { 480 }), "{tag}");
        assert_eq!(r["n"].as_u64(), Some(n), "{tag}");
        let s = r["s"].as_f64().unwrap();
        assert!(close(s, sum), "{tag}: sum {s} vs {sum}");
        assert_eq!(r["t0"].as_i64(), Some(0), "{tag}");
        assert_eq!(r["t1"].as_i64(), Some((n as i64 - 1) * 180_000_000_000), "{tag}");
    }

    // The first observation of d00 (first column of the transposed file) and of d01 (first line).
    let first = |path: &Path, transposed: bool| -> f64 {
        let text = std::fs::read_to_string(path).unwrap();
        let line = if transposed { text.lines().nth(1) } else { text.lines().next() };
        let cell =
            if transposed { line.unwrap().split_whitespace().next() } else { line.unwrap().split_whitespace().nth(1) };
        cell.unwrap().parse().unwrap()
    };
    let csv = ok(fos(&["query", "--csv", "--data-dir", dir,
        "SELECT tag, value FROM samples WHERE CAST(time AS BIGINT) = 0 AND tag IN ('tep.d00.XMEAS(2)', 'tep.d01.XMEAS(2)') ORDER BY tag"]));
    assert_eq!(
        csv,
        format!("tag,value\ntep.d00.XMEAS(2),{:?}\ntep.d01.XMEAS(2),{:?}\n", first(&d00, true), first(&d01, false))
    );

    // Importing d01 again would merge two sources into its tags.
    let err = failure(fos(&["import", d01.to_str().unwrap(), "--tag-prefix", "tep.", "--data-dir", dir]));
    assert!(err.contains("already in the historian") && err.contains("d01.dat"), "{err}");
}

#[test]
fn tep_orientation_is_decided_by_shape_and_bad_shapes_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let dir = dir.to_str().unwrap();
    let write = |name: &str, lines: Vec<Vec<f64>>| {
        let path = tmp.path().join(name);
        let text: Vec<String> =
            lines.iter().map(|l| l.iter().map(|v| format!("{v:e}")).collect::<Vec<_>>().join("   ")).collect();
        std::fs::write(&path, text.join("\n") + "\n").unwrap();
        path
    };
    // 3 observations per line; variable j of observation i holds 1000 i + j.
    let rows = write("rows.dat", (0..3).map(|i| (0..52).map(|j| (1000 * i + j) as f64).collect()).collect());
    // 52 lines of 2: variable j of observation i holds -(1000 i + j).
    let cols = write("cols.dat", (0..52).map(|j| (0..2).map(|i| -((1000 * i + j) as f64)).collect()).collect());
    // 52 × 52 is read as 52 observations (the usual layout).
    let square = write("square.dat", (0..52).map(|i| (0..52).map(|j| (1000 * i + j) as f64).collect()).collect());
    ok(fos(&["import", rows.to_str().unwrap(), cols.to_str().unwrap(), square.to_str().unwrap(), "--data-dir", dir]));
    let sql = "SELECT tag, CAST(time AS BIGINT) / 1000000000 AS s, value FROM samples \
               WHERE tag IN ('rows.XMV(11)', 'cols.XMEAS(2)', 'square.XMEAS(1)') AND CAST(time AS BIGINT) < 400000000000 ORDER BY tag, time";
    let csv = ok(fos(&["query", "--csv", "--data-dir", dir, sql]));
    assert_eq!(
        csv,
        "tag,s,value\ncols.XMEAS(2),0,-1.0\ncols.XMEAS(2),180,-1001.0\nrows.XMV(11),0,51.0\nrows.XMV(11),180,1051.0\n\
         rows.XMV(11),360,2051.0\nsquare.XMEAS(1),0,0.0\nsquare.XMEAS(1),180,1000.0\nsquare.XMEAS(1),360,2000.0\n"
    );
    let n = ok(fos(&["query", "--csv", "--data-dir", dir, "SELECT count(*) AS n FROM samples"]));
    assert_eq!(n, format!("n\n{}\n", 52 * (3 + 2 + 52)));

    let ragged = write("ragged.dat", vec![vec![1.0; 52], vec![1.0; 51]]);
    let err = failure(fos(&["import", ragged.to_str().unwrap(), "--data-dir", dir]));
    assert!(err.contains("ragged.dat") && err.contains("line 2 has 51 numbers"), "{err}");
    std::fs::write(&ragged, format!("{}\n1.0 x\n", "1.0 ".repeat(52))).unwrap();
    let err = failure(fos(&["import", ragged.to_str().unwrap(), "--data-dir", dir]));
    assert!(err.contains("ragged.dat: line 2, field 2: \"x\" is not a number"), "{err}");
}

#[test]
fn an_encrypted_historian_needs_its_key_for_import_and_query() {
    let tmp = tempfile::tempdir().unwrap();
    let csv = tmp.path().join("line.csv");
    std::fs::write(&csv, "time,flow_secret,temp\n0,1.5,20\n1,2.5,21\n2,-4.0,22\n").unwrap();
    let key = tmp.path().join("historian.key");
    std::fs::write(&key, "ab".repeat(32)).unwrap();
    let data = tmp.path().join("data");
    let (d, k) = (data.to_str().unwrap(), key.to_str().unwrap());
    ok(fos(&["import", csv.to_str().unwrap(), "--data-dir", d, "--key-file", k]));
    let out = ok(fos(&[
        "query",
        "SELECT sum(value) AS s FROM samples WHERE tag = 'line.flow_secret'",
        "--json",
        "--data-dir",
        d,
        "--key-file",
        k,
    ]));
    let row: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(row["s"].as_f64(), Some(0.0));
    let e = failure(fos(&["query", "SELECT count(*) FROM samples", "--data-dir", d]));
    assert!(e.contains("encrypted") && e.contains("--key-file"), "{e}");
    let other = tmp.path().join("other.key");
    std::fs::write(&other, "cd".repeat(32)).unwrap();
    let e = failure(fos(&[
        "query",
        "SELECT count(*) FROM samples",
        "--data-dir",
        d,
        "--key-file",
        other.to_str().unwrap(),
    ]));
    assert!(e.contains("not the key"), "{e}");
    // The key file's content never appears in an error.
    let e = failure(fos(&["query", "SELECT 1", "--data-dir", d, "--key-env", "FOS_TEST_NO_SUCH_KEY_VAR"]));
    assert!(e.contains("FOS_TEST_NO_SUCH_KEY_VAR") && !e.contains(&"ab".repeat(32)), "{e}");
}
