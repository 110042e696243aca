//! The edge pipeline end to end in one process: generator → log → historian, exactly once,
//! resuming after a restart, with transforms and a clean stop.

use std::collections::HashMap;
use std::path::Path;

use fos_historian::arrow::array::AsArray;
use fos_historian::arrow::compute::cast;
use fos_historian::arrow::datatypes::{DataType, Float64Type, Int64Type};
use fos_historian::Historian;
use fos_pipeline::config::IngestConfig;
use fos_pipeline::source::{generator_value, parse_time};
use tokio::sync::watch;

fn run(cfg: &str, dir: &Path) -> fos_pipeline::Summary {
    let cfg = IngestConfig::parse(cfg, "test.toml").unwrap();
    let (_tx, rx) = watch::channel(false);
    fos_pipeline::run(&cfg, dir, rx, &mut |_| {}).unwrap()
}

fn ints(h: &Historian, sql: &str) -> Vec<i64> {
    let b = h.query(sql).unwrap();
    b.iter()
        .flat_map(|b| {
            let c = cast(b.column(0), &DataType::Int64).unwrap();
            c.as_primitive::<Int64Type>().values().to_vec()
        })
        .collect()
}

fn gen_config(scans: u64, extra: &str) -> String {
    format!(
        "[historian]\ncommit_ms = 20\ncommit_points = 5000\n[wal]\nsegment_mb = 1\nrecord_points = 1000\n\
         [[source]]\nkind = \"generator\"\nname = \"gen\"\ntags = 37\nscans_per_batch = 7\nscans = {scans}\n{extra}"
    )
}

#[test]
fn generator_to_historian_is_exactly_once_and_resumes_after_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let s = run(&gen_config(300, ""), tmp.path());
    assert_eq!(s.points_in, 37 * 300);
    assert_eq!(s.points_acked, 37 * 300);
    assert_eq!(s.historian_points, 37 * 300);
    assert_eq!(s.wal_backlog, 0);
    // More scans: the generator resumes at scan 300 (its position is in the log's last record).
    let s = run(&gen_config(500, ""), tmp.path());
    assert_eq!(s.points_in, 37 * 200, "{s:?}");

    let h = Historian::open(tmp.path()).unwrap();
    assert_eq!(ints(&h, "SELECT count(*) FROM samples"), [37 * 500]);
    assert_eq!(ints(&h, "SELECT count(*) FROM (SELECT tag, time FROM samples GROUP BY tag, time)"), [37 * 500]);
    assert_eq!(h.position("source:gen"), Some(499));
    // Every value bit for bit against the generator's formula.
    let start = parse_time("2026-01-01T00:00:00Z").unwrap();
    let batches = h.query("SELECT tag, CAST(time AS BIGINT), value FROM samples").unwrap();
    let mut seen = 0;
    for b in &batches {
        let tags = cast(b.column(0), &DataType::Utf8).unwrap();
        let tags = tags.as_string::<i32>();
        let times = b.column(1).as_primitive::<Int64Type>();
        let values = b.column(2).as_primitive::<Float64Type>();
        for i in 0..b.num_rows() {
            let tag: u32 = tags.value(i).strip_prefix("gen.t").unwrap().parse().unwrap();
            let scan = ((times.value(i) - start) / 1_000_000_000) as u64;
            assert_eq!(values.value(i).to_bits(), generator_value(scan, tag).to_bits());
            seen += 1;
        }
    }
    assert_eq!(seen, 37 * 500);
}

#[test]
fn transforms_apply_before_the_log() {
    let tmp = tempfile::tempdir().unwrap();
    let extra = "[[transform]]\nkind = \"scale\"\ntags = \"gen.t1\"\nfactor = 2.0\noffset = 1.0\n\
                 [[transform]]\nkind = \"downsample\"\ntags = \"gen.t2*\"\nevery = 10\n";
    run(&gen_config(100, extra), tmp.path());
    let h = Historian::open(tmp.path()).unwrap();
    let counts: HashMap<String, i64> = {
        let b = h.query("SELECT tag, count(*) FROM samples GROUP BY tag").unwrap();
        let mut m = HashMap::new();
        for b in &b {
            let t = cast(b.column(0), &DataType::Utf8).unwrap();
            let t = t.as_string::<i32>();
            let c = b.column(1).as_primitive::<Int64Type>();
            for i in 0..b.num_rows() {
                m.insert(t.value(i).to_owned(), c.value(i));
            }
        }
        m
    };
    assert_eq!(counts["gen.t0"], 100);
    assert_eq!(counts["gen.t2"], 10, "downsampled 10:1");
    assert_eq!(counts["gen.t25"], 10);
    let v = h.query("SELECT value FROM samples WHERE tag = 'gen.t1' ORDER BY time LIMIT 1").unwrap();
    assert_eq!(v[0].column(0).as_primitive::<Float64Type>().value(0), generator_value(0, 1) * 2.0 + 1.0);
}

#[test]
fn stop_signal_shuts_down_cleanly_with_everything_acknowledged_committed() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = IngestConfig::parse(
        "[[source]]\nkind = \"generator\"\nname = \"gen\"\ntags = 10\ninterval_ms = 10\nscans_per_batch = 1\nrealtime = true\n",
        "t",
    )
    .unwrap();
    let (tx, rx) = watch::channel(false);
    std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(700));
        tx.send(true).unwrap();
    });
    let s = fos_pipeline::run(&cfg, tmp.path(), rx, &mut |_| {}).unwrap();
    assert!(s.points_acked >= 10 * 20, "{s:?}");
    assert_eq!(s.historian_points, s.points_acked);
    let h = Historian::open(tmp.path()).unwrap();
    assert_eq!(ints(&h, "SELECT count(*) FROM samples"), [s.points_acked as i64]);
}

#[test]
fn an_encrypted_log_holds_no_plaintext_tag_names() {
    let tmp = tempfile::tempdir().unwrap();
    std::env::set_var("FOS_TEST_WAL_KEY", "11".repeat(32));
    run(&gen_config(50, "").replace("[wal]\n", "[wal]\nkey = { env = \"FOS_TEST_WAL_KEY\" }\n"), tmp.path());
    let mut found = false;
    for e in std::fs::read_dir(tmp.path().join("pipeline/wal")).unwrap() {
        let bytes = std::fs::read(e.unwrap().path()).unwrap();
        found |= bytes.windows(5).any(|w| w == b"gen.t");
    }
    assert!(!found, "tag names in clear text in the encrypted log");
    let h = Historian::open(tmp.path()).unwrap();
    assert_eq!(ints(&h, "SELECT count(*) FROM samples"), [37 * 50]);
}

#[test]
fn retention_downsamples_and_deletes_old_days_when_the_sink_starts() {
    const DAY: i64 = 86_400_000_000_000;
    let tmp = tempfile::tempdir().unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as i64;
    let start_ns = now - now.rem_euclid(DAY) - 10 * DAY;
    let start = humantime::format_rfc3339(std::time::UNIX_EPOCH + std::time::Duration::from_nanos(start_ns as u64));
    let cfg = format!(
        "[historian]\nretention = {{ keep_raw_days = 2, keep_downsampled_days = 5, downsample_s = 21600 }}\n\
         [[source]]\nkind = \"generator\"\nname = \"gen\"\ntags = 3\ninterval_ms = 3600000\nscans = 240\nstart = \"{start}\"\n"
    );
    run(&cfg, tmp.path()); // ten days of hourly points, written after the first retention pass
    let h = Historian::open(tmp.path()).unwrap();
    assert_eq!(ints(&h, "SELECT count(*) FROM samples"), [3 * 240]);
    drop(h);
    let s = run(&cfg, tmp.path()); // nothing new; retention runs at start
    assert_eq!(s.points_in, 0);
    let h = Historian::open(tmp.path()).unwrap();
    // Per tag: 2 raw days × 24 + 3 downsampled days × 4 six-hour means; 5 days deleted.
    assert_eq!(ints(&h, "SELECT count(*) FROM samples"), [3 * (2 * 24 + 3 * 4)]);
    let oldest = ints(&h, "SELECT min(CAST(time AS BIGINT)) FROM samples")[0];
    assert_eq!(oldest, start_ns + 5 * DAY);
}

#[test]
fn a_keyed_pipeline_encrypts_the_log_and_the_historian_at_rest() {
    let tmp = tempfile::tempdir().unwrap();
    let key = tmp.path().join("k.hex");
    std::fs::write(&key, "42".repeat(32)).unwrap();
    let keys = format!("key = {{ file = {:?} }}\n", key.display().to_string());
    // Both [wal] and [historian] keys, spliced into gen_config's tables.
    let cfg = gen_config(200, "")
        .replace("[wal]\n", &format!("[wal]\n{keys}"))
        .replace("[historian]\n", &format!("[historian]\n{keys}"));
    let data = tmp.path().join("data");
    let s = run(&cfg, &data);
    assert_eq!(s.historian_points, 37 * 200);

    // No Parquet file, nor any log segment, holds a tag name in the clear.
    let mut files = Vec::new();
    let mut stack = vec![data.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                files.push(p);
            }
        }
    }
    let parquet: Vec<_> = files.iter().filter(|p| p.extension().is_some_and(|e| e == "parquet")).collect();
    assert!(!parquet.is_empty());
    for f in parquet.iter().copied().chain(files.iter().filter(|p| p.to_string_lossy().contains("/wal/"))) {
        let bytes = std::fs::read(f).unwrap();
        assert!(!bytes.windows(5).any(|w| w == b"gen.t"), "{} holds a tag name in the clear", f.display());
    }

    // Without the key the historian refuses to open; with it, every point is there.
    let e = Historian::open(&data).unwrap_err().to_string();
    assert!(e.contains("no key is configured"), "{e}");
    let at_rest = fos_historian::AtRest::encrypted(&fos_keys::Key::from_file(&key).unwrap());
    let options = fos_historian::HistorianOptions { at_rest, ..Default::default() };
    let h = Historian::open_with(&data, options).unwrap();
    assert_eq!(ints(&h, "SELECT count(*) FROM samples"), [37 * 200]);
}
