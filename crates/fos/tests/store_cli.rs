//! Real-binary tests of `fos import` and `fos query`: real SKAB and CNC files imported into a
//! temporary data folder, answers checked against a reference computed here directly on the CSV;
//! merge refusals and bad-CSV errors.

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
    let err = failure(fos(&["import", a.to_str().unwrap(), b.to_str().unwrap(), "--data-dir", tmp.path().to_str().unwrap()]));
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
    let csv = ok(fos(&["query", "--csv", "--data-dir", dir, "SELECT tag, CAST(time AS BIGINT) AS t, value FROM samples ORDER BY time"]));
    assert_eq!(csv, "tag,t,value\nlab.bad.v,1500000000,2.5\nlab.bad.v,2500000000,-0.0\n");
}
