//! The vibration source end to end: synthetic channels → features → log → historian.

use std::collections::HashMap;

use fos_historian::arrow::array::AsArray;
use fos_historian::arrow::compute::cast;
use fos_historian::arrow::datatypes::{DataType, Float64Type, Int64Type};
use fos_historian::Historian;
use fos_pipeline::config::IngestConfig;
use fos_pipeline::source::parse_time;
use tokio::sync::watch;

/// (tag, time) → value of every stored point.
fn all_points(h: &Historian) -> HashMap<(String, i64), f64> {
    let mut out = HashMap::new();
    for b in h.query("SELECT tag, CAST(time AS BIGINT), value FROM samples").unwrap() {
        let tags = cast(b.column(0), &DataType::Utf8).unwrap();
        let tags = tags.as_string::<i32>();
        let times = cast(b.column(1), &DataType::Int64).unwrap();
        let times = times.as_primitive::<Int64Type>();
        let values = b.column(2).as_primitive::<Float64Type>();
        for i in 0..b.num_rows() {
            out.insert((tags.value(i).to_owned(), times.value(i)), values.value(i));
        }
    }
    out
}

#[test]
fn vibration_features_reach_the_historian_with_sane_values() {
    // "sine": one channel, a pure 2.0-amplitude sine at 30 Hz (30 whole cycles per 1 s block).
    // "brg": channel 1 has an outer-race defect, channel 0 is healthy.
    let cfg = "[historian]\ncommit_ms = 20\n\
        [[source]]\nkind = \"vibration\"\nname = \"sine\"\nchannels = 1\nrealtime = false\nblocks = 3\n\
        start = \"2026-01-01T00:00:00Z\"\nnoise_rms = 0.0\nshaft_harmonics = [2.0]\n\
        [[source]]\nkind = \"vibration\"\nname = \"brg\"\nchannels = 2\nrealtime = false\nblocks = 3\n\
        start = \"2026-01-01T00:00:00Z\"\nfaulty_channels = [1]\nseed = 7\n";
    let cfg = IngestConfig::parse(cfg, "test.toml").unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let (_tx, rx) = watch::channel(false);
    let s = fos_pipeline::run(&cfg, tmp.path(), rx, &mut |_| {}).unwrap();
    let features = fos_pipeline::vibration::FEATURES.len() as u64;
    assert_eq!(s.points_in, 3 * 3 * features, "{s:?}");
    assert_eq!(s.historian_points, s.points_in, "{s:?}");

    let h = Historian::open(tmp.path()).unwrap();
    let pts = all_points(&h);
    assert_eq!(pts.len() as u64, 3 * 3 * features);
    let t0 = parse_time("2026-01-01T00:00:00Z").unwrap();
    let get = |tag: &str, block: i64| -> f64 {
        *pts.get(&(tag.to_owned(), t0 + block * 1_000_000_000))
            .unwrap_or_else(|| panic!("no point {tag} @ block {block}"))
    };
    for block in 0..3 {
        for src in [("sine", 1), ("brg", 2)] {
            for ch in 0..src.1 {
                for f in fos_pipeline::vibration::FEATURES {
                    assert!(get(&format!("{}.ch{ch}.{f}", src.0), block).is_finite());
                }
            }
        }
        // The sine: RMS = A/√2 within 1 %, peak A, crest √2, kurtosis 1.5.
        let rms = get("sine.ch0.rms", block);
        assert!((rms / (2.0 / 2f64.sqrt()) - 1.0).abs() < 0.01, "rms {rms}");
        assert!((get("sine.ch0.peak", block) / 2.0 - 1.0).abs() < 0.01);
        assert!((get("sine.ch0.crest", block) / 2f64.sqrt() - 1.0).abs() < 0.01);
        assert!((get("sine.ch0.kurtosis", block) - 1.5).abs() < 0.02);
        // The defect: impulsive (kurtosis, band kurtosis) with a BPFO line in the envelope spectrum.
        let (k0, k1) = (get("brg.ch0.kurtosis", block), get("brg.ch1.kurtosis", block));
        assert!(k1 > k0 + 1.0 && k0 < 3.5, "kurtosis healthy {k0}, faulty {k1}");
        let (sk0, sk1) = (get("brg.ch0.band_kurtosis", block), get("brg.ch1.band_kurtosis", block));
        assert!(sk1 > sk0 + 0.5, "band kurtosis healthy {sk0}, faulty {sk1}");
        let (e0, e1) = (get("brg.ch0.env_fault", block), get("brg.ch1.env_fault", block));
        assert!(e1 > 5.0 * e0, "envelope line at BPFO: healthy {e0}, faulty {e1}");
    }
}

#[test]
fn bad_vibration_keys_are_refused() {
    let base = "[[source]]\nkind = \"vibration\"\nname = \"v\"\n";
    assert!(IngestConfig::parse(base, "x").is_ok());
    for (extra, needle) in [
        ("channels = 0\n", "channels"),
        ("faulty_channels = [16]\n", "faulty channel 16"),
        ("rate_hz = 10.0\n", "64 samples"),
        ("start = \"yesterday\"\n", "start"),
        ("chanels = 3\n", "chanels"),
    ] {
        let e = IngestConfig::parse(&format!("{base}{extra}"), "x").unwrap_err().to_string();
        assert!(e.contains(needle), "{extra}: {e}");
    }
}

fn run_cfg(cfg: &str, dir: &std::path::Path) {
    let cfg = IngestConfig::parse(cfg, "test.toml").unwrap();
    let (_tx, rx) = watch::channel(false);
    fos_pipeline::run(&cfg, dir, rx, &mut |_| {}).unwrap();
}

fn count(h: &Historian, sql: &str) -> i64 {
    let b = h.query(sql).unwrap();
    cast(b[0].column(0), &DataType::Int64).unwrap().as_primitive::<Int64Type>().value(0)
}

#[test]
fn raw_blocks_are_stored_once_with_their_hash_and_an_unfinished_commit_is_discarded() {
    let tmp = tempfile::tempdir().unwrap();
    run_cfg(
        "[[source]]\nkind = \"vibration\"\nname = \"v\"\nchannels = 2\nrate_hz = 12800\nrealtime = false\nblocks = 3\n\
         start = \"2026-01-01T00:00:00Z\"\nstore_waveforms = true\n",
        tmp.path(),
    );
    let h = Historian::open(tmp.path()).unwrap();
    assert_eq!(count(&h, "SELECT count(*) FROM waveforms"), 6);
    assert_eq!(count(&h, "SELECT min(sample_count) FROM waveforms"), 12800);
    assert_eq!(count(&h, "SELECT count(*) FROM samples"), 6 * 6, "features are stored beside the blocks");
    // Every stored block is found again by its hash, re-verified.
    let hashes = h.query("SELECT hash FROM waveforms").unwrap();
    let hashes = cast(hashes[0].column(0), &DataType::Utf8).unwrap();
    let store = fos_historian::WaveformStore::open(tmp.path()).unwrap();
    let block = store.get(hashes.as_string::<i32>().value(0)).unwrap().expect("found by hash");
    assert_eq!(block.samples.len(), 12800);
    drop(h);

    // A crash after the blocks' file was written but before its commit: a file of commit 999.
    let day = tmp.path().join("historian/waveforms/date=2026-01-01");
    let some = std::fs::read_dir(&day).unwrap().next().unwrap().unwrap().path();
    std::fs::copy(&some, day.join("c999.parquet")).unwrap();
    // The next start of the sink removes it (a generator keeps the pipeline busy for one run).
    run_cfg("[[source]]\nkind = \"generator\"\nname = \"g\"\ntags = 1\nscans = 1\n", tmp.path());
    assert!(!day.join("c999.parquet").exists());
    let h = Historian::open(tmp.path()).unwrap();
    assert_eq!(count(&h, "SELECT count(*) FROM waveforms"), 6);
}
