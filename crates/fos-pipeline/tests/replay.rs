//! The replay source end to end: a recording → the bearing diagnostics of `fos analyze` → log →
//! historian, once per window, resuming after a stop, with its raw samples as waveform blocks.

use std::collections::BTreeMap;
use std::path::Path;

use fos_core::BearingGeometry;
use fos_historian::arrow::array::AsArray;
use fos_historian::arrow::compute::cast;
use fos_historian::arrow::datatypes::{DataType, Float64Type, Int64Type, UInt64Type};
use fos_historian::{Historian, WaveformBlock};
use fos_models::config::AnalysisConfig;
use fos_models::detector::{MachineModel, Verdict};
use fos_models::features::WindowFeatures;
use fos_models::window::window_starts;
use fos_pipeline::config::IngestConfig;
use fos_pipeline::replay::{label_code, FEATURES};
use fos_pipeline::source::parse_time;
use fos_signal::kinematics::FaultKind;
use fos_signal::synth::{simulate, BearingSimConfig};
use tokio::sync::watch;

const START: &str = "2026-03-01T00:00:00Z";
/// The CWRU drive-end bearing, SKF 6205 (inches).
const SKF6205: BearingGeometry =
    BearingGeometry { elements: 9, element_d: 0.3126, pitch_d: 1.537, contact_angle_deg: 0.0 };
const FS: f64 = 12_000.0;
const SHAFT: f64 = 30.0;

fn run(cfg: &str, dir: &Path) -> fos_pipeline::Summary {
    let cfg = IngestConfig::parse(cfg, "test.toml").unwrap();
    let (_tx, rx) = watch::channel(false);
    fos_pipeline::run(&cfg, dir, rx, &mut |_| {}).unwrap()
}

/// A simulated SKF 6205 at 30 Hz, 12 kHz: outer-race impacts through a 3 kHz resonance (or none),
/// shaft harmonics and noise.
fn recording(secs: f64, fault: bool, seed: u64) -> Vec<f64> {
    let mut c = BearingSimConfig::new(FS, secs, SHAFT, SKF6205);
    c.shaft_harmonics = vec![0.3, 0.1];
    c.fault = fault.then_some((FaultKind::Outer, 1.0));
    c.seed = seed;
    simulate(&c).unwrap()
}

fn write_csv(path: &Path, x: &[f64]) {
    let mut text = String::from("time,accel\n");
    for (i, v) in x.iter().enumerate() {
        // `{}` of an f64 is the shortest text that parses back to the same bits.
        text.push_str(&format!("{},{v}\n", i as f64 / FS));
    }
    std::fs::write(path, text).unwrap();
}

fn write_wav(path: &Path, x: &[f64]) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: FS as u32,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for v in x {
        w.write_sample(*v as f32).unwrap();
    }
    w.finalize().unwrap();
}

/// (tag, time) → value of every stored point of tags starting with `prefix`.
fn points(h: &Historian, prefix: &str) -> BTreeMap<(String, i64), f64> {
    let mut out = BTreeMap::new();
    for b in
        h.query(&format!("SELECT tag, CAST(time AS BIGINT), value FROM samples WHERE tag LIKE '{prefix}%'")).unwrap()
    {
        let tags = cast(b.column(0), &DataType::Utf8).unwrap();
        let tags = tags.as_string::<i32>();
        let times = b.column(1).as_primitive::<Int64Type>();
        let values = b.column(2).as_primitive::<Float64Type>();
        for i in 0..b.num_rows() {
            assert!(out.insert((tags.value(i).to_owned(), times.value(i)), values.value(i)).is_none(), "a point twice");
        }
    }
    out
}

fn count(h: &Historian, sql: &str) -> i64 {
    let b = h.query(sql).unwrap();
    cast(b[0].column(0), &DataType::Int64).unwrap().as_primitive::<Int64Type>().value(0)
}

/// The values of window `k` of source `name` in `FEATURES` order.
fn window(pts: &BTreeMap<(String, i64), f64>, name: &str, time: i64) -> Vec<f64> {
    FEATURES
        .iter()
        .map(|f| *pts.get(&(format!("{name}.{f}"), time)).unwrap_or_else(|| panic!("no {name}.{f} at {time}")))
        .collect()
}

/// What the tags of a window must hold, from its features and verdict.
fn expected(f: &WindowFeatures, v: &Verdict) -> Vec<f64> {
    let b = |x: bool| if x { 1.0 } else { 0.0 };
    vec![
        v.score,
        b(v.faulty),
        label_code(v.predicted),
        label_code(v.family),
        b(v.family_confident),
        v.level_score,
        v.impulsiveness_score,
        v.family_scores[0],
        v.family_scores[1],
        v.family_scores[2],
        v.family_scores[3],
        f.shaft_hz,
        f.level,
        f.impulsiveness,
        f.rms,
        f.kurtosis,
        f.crest,
    ]
}

/// The verdicts of `fos analyze` by an independent route: the whole signal read at once,
/// resampled to the model's rate in one go, cut with `window_starts` (the path `fos eval` takes
/// for loaded rows), analysed and judged.
fn reference(model: &MachineModel, file: &Path, signal: &str, fs: f64, shaft: f64) -> Vec<Vec<f64>> {
    let x = fos_io::read_signal(file, signal).unwrap().samples;
    let y = fos_signal::resample::resample(&x, fs, model.analysis_fs, model.cutoff_hz).unwrap();
    let mut an = model.analyzer(shaft).unwrap();
    let n = an.window_len();
    let hop = fos_models::window::hop_len(&model.config, model.analysis_fs);
    window_starts(y.len(), n, hop)
        .map(|s| {
            let f = an.analyze(&y[s..s + n]);
            let v = model.decide(&f);
            expected(&f, &v)
        })
        .collect()
}

fn assert_bits(got: &[f64], want: &[f64], what: &str) {
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(g.to_bits(), w.to_bits(), "{what}: {} is {g}, expected {w}", FEATURES[i]);
    }
}

fn window_time(start: i64, k: usize) -> i64 {
    start + 1_000_000_000 + k as i64 * 500_000_000
}

/// `fos analyze` without a model: physics alone at the file's rate, default settings.
fn physics_model(fs: f64, shaft: f64) -> MachineModel {
    MachineModel::new("cli", &AnalysisConfig::default(), SKF6205, fs, shaft, true).unwrap()
}

fn replay_source(name: &str, file: &Path, signal: &str, extra: &str) -> String {
    format!(
        "[[source]]\nkind = \"replay\"\nname = \"{name}\"\nfile = {:?}\nsignal = \"{signal}\"\nshaft_hz = {SHAFT:?}\n\
         bearing = [9, 0.3126, 1.537, 0]\nspeed = 0\nstart = \"{START}\"\n{extra}",
        file.display().to_string()
    )
}

#[test]
fn a_synthetic_outer_race_fault_is_flagged_and_a_healthy_bearing_is_not() {
    let tmp = tempfile::tempdir().unwrap();
    let (faulty, healthy) = (recording(4.3, true, 3), recording(3.7, false, 4));
    let (csv, wav) = (tmp.path().join("faulty.csv"), tmp.path().join("healthy.wav"));
    write_csv(&csv, &faulty);
    write_wav(&wav, &healthy);
    // The CSV states no rate (fs_hz given); the WAV does (fs_hz left out).
    let cfg = format!(
        "[historian]\ncommit_ms = 20\n{}{}",
        replay_source("bad", &csv, "accel", "fs_hz = 12000\nstore_waveforms = true\n"),
        replay_source("good", &wav, "0", "")
    );
    let data = tmp.path().join("data");
    let s = run(&cfg, &data);
    // Same rate, so N samples give floor((N − 12000) / 6000) + 1 windows.
    let windows = |n: usize| (n - 12_000) / 6_000 + 1;
    let (wb, wg) = (windows(faulty.len()), windows(healthy.len()));
    assert_eq!((wb, wg), (7, 6));
    let per_window = FEATURES.len() as u64;
    assert_eq!(s.points_in, (wb + wg) as u64 * per_window, "{s:?}");
    assert_eq!(s.historian_points, s.points_in);

    let h = Historian::open(&data).unwrap();
    let start = parse_time(START).unwrap();
    let model = physics_model(FS, SHAFT);
    for (name, file, signal, w, fault) in [("bad", &csv, "accel", wb, true), ("good", &wav, "0", wg, false)] {
        let pts = points(&h, &format!("{name}."));
        assert_eq!(pts.len(), w * FEATURES.len(), "{name}: one point per feature and window");
        let want = reference(&model, file, signal, FS, SHAFT);
        assert_eq!(want.len(), w);
        for (k, want) in want.iter().enumerate() {
            let got = window(&pts, name, window_time(start, k));
            assert_bits(&got, want, &format!("{name} window {k}"));
            // faulty = 1 and outer race (code 1) for the defect; 0 and normal (0) for the healthy bearing.
            assert_eq!(got[1], if fault { 1.0 } else { 0.0 }, "{name} window {k}: score {}", got[0]);
            assert_eq!(got[2], if fault { 1.0 } else { 0.0 }, "{name} window {k}: predicted");
        }
    }

    // The raw blocks tile the recording up to the last window's end, each hash recomputed from
    // the file's samples: window 0 holds its first second, every later window its half second.
    let file_samples = fos_io::read_signal(&csv, "accel").unwrap().samples;
    assert_eq!(file_samples, faulty);
    let b =
        h.query("SELECT CAST(start AS BIGINT) AS s, sample_count, hash, channel FROM waveforms ORDER BY s").unwrap();
    let mut rows = Vec::new();
    for b in &b {
        let starts = b.column(0).as_primitive::<Int64Type>();
        let counts = b.column(1).as_primitive::<UInt64Type>();
        let hashes = cast(b.column(2), &DataType::Utf8).unwrap();
        let channels = cast(b.column(3), &DataType::Utf8).unwrap();
        for i in 0..b.num_rows() {
            let ch = channels.as_string::<i32>().value(i).to_owned();
            rows.push((starts.value(i), counts.value(i), hashes.as_string::<i32>().value(i).to_owned(), ch));
        }
    }
    assert_eq!(rows.len(), wb, "one block per window of the source that stores them");
    let mut begin = 0usize;
    for (k, (t, n, hash, ch)) in rows.iter().enumerate() {
        let end = 12_000 + k * 6_000;
        let block = WaveformBlock {
            channel: "bad".into(),
            start_ns: start + (begin as f64 * 1e9 / FS).round() as i64,
            rate_hz: FS,
            samples: file_samples[begin..end].to_vec(),
        };
        assert_eq!((ch.as_str(), *t, *n as usize), ("bad", block.start_ns, end - begin), "block {k}");
        assert_eq!(*hash, block.content_hash(), "block {k}");
        begin = end;
    }
}

#[test]
fn a_stopped_replay_resumes_after_its_last_stored_window_and_stores_each_once() {
    let tmp = tempfile::tempdir().unwrap();
    let x = recording(10.0, true, 9);
    let csv = tmp.path().join("rec.csv");
    write_csv(&csv, &x);
    let windows = 19;
    let data = tmp.path().join("data");
    let cfg = |speed: &str| {
        format!(
            "[historian]\ncommit_ms = 20\n{}",
            replay_source("r", &csv, "accel", "fs_hz = 12000\nstore_waveforms = true\n")
                .replace("speed = 0\n", &format!("speed = {speed}\n"))
        )
    };
    // Run 1 at 4× real time (a window every 125 ms), stopped once some windows are acknowledged.
    let c = IngestConfig::parse(&cfg("4"), "t").unwrap();
    let (tx, rx) = watch::channel(false);
    let s1 = fos_pipeline::run(&c, &data, rx, &mut |s| {
        if s.points_acked > 0 {
            let _ = tx.send(true);
        }
    })
    .unwrap();
    let first = s1.points_acked / FEATURES.len() as u64;
    assert_eq!(s1.points_acked % FEATURES.len() as u64, 0, "whole windows only: {s1:?}");
    assert!(first > 0 && first < windows, "stopped mid-file: {first} of {windows} windows");
    {
        let h = Historian::open(&data).unwrap();
        assert_eq!(h.position("source:r"), Some(first - 1));
    }
    // Run 2, as fast as possible: the rest, nothing twice.
    let s2 = run(&cfg("0"), &data);
    assert_eq!(s2.points_in, (windows - first) * FEATURES.len() as u64, "{s2:?}");
    // Run 3: the recording is done; nothing new.
    assert_eq!(run(&cfg("0"), &data).points_in, 0);

    let h = Historian::open(&data).unwrap();
    assert_eq!(h.position("source:r"), Some(windows - 1));
    let pts = points(&h, "r.");
    assert_eq!(pts.len() as u64, windows * FEATURES.len() as u64, "every window exactly once");
    // Identical, bit for bit, to an uninterrupted analysis (the resumed run re-analysed the
    // skipped windows, so the running speed estimate is the same).
    let start = parse_time(START).unwrap();
    let want = reference(&physics_model(FS, SHAFT), &csv, "accel", FS, SHAFT);
    assert_eq!(want.len() as u64, windows);
    for (k, want) in want.iter().enumerate() {
        assert_bits(&window(&pts, "r", window_time(start, k)), want, &format!("window {k}"));
    }
    assert_eq!(count(&h, "SELECT count(*) FROM waveforms"), windows as i64);
    assert_eq!(count(&h, "SELECT count(DISTINCT hash) FROM waveforms"), windows as i64);
    assert_eq!(count(&h, "SELECT sum(sample_count) FROM waveforms"), 12_000 + 18 * 6_000);

    // The same name now configured for another file refuses to resume.
    let other = tmp.path().join("other.csv");
    write_csv(&other, &x[..30_000]);
    let c = IngestConfig::parse(&cfg("0").replace("rec.csv", "other.csv"), "t").unwrap();
    let (_tx, rx) = watch::channel(false);
    let e = fos_pipeline::run(&c, &data, rx, &mut |_| {}).unwrap_err().to_string();
    assert!(e.contains("\"r\"") && e.contains("rec.csv") && e.contains("other.csv"), "{e}");
}

#[test]
fn a_looped_replay_repeats_its_verdicts_with_time_running_on_and_resumes_across_passes() {
    let tmp = tempfile::tempdir().unwrap();
    let x = recording(2.25, true, 5); // 27,000 samples: 3 windows per pass, 2.25 s per pass
    let csv = tmp.path().join("short.csv");
    write_csv(&csv, &x);
    let data = tmp.path().join("data");
    let cfg = format!(
        "[historian]\ncommit_ms = 20\n{}",
        replay_source("l", &csv, "accel", "fs_hz = 12000\nloop = true\nstore_waveforms = true\n")
    );
    let c = IngestConfig::parse(&cfg, "t").unwrap();
    // Endless: stop each run once it has acknowledged something.
    let mut total = 0;
    for _ in 0..2 {
        let (tx, rx) = watch::channel(false);
        let s = fos_pipeline::run(&c, &data, rx, &mut |s| {
            if s.points_acked > 0 {
                let _ = tx.send(true);
            }
        })
        .unwrap();
        total += s.points_acked / FEATURES.len() as u64;
    }
    assert!(total > 6, "more than two passes: {total} windows");
    let h = Historian::open(&data).unwrap();
    assert_eq!(h.position("source:l"), Some(total - 1));
    let pts = points(&h, "l.");
    assert_eq!(pts.len() as u64, total * FEATURES.len() as u64, "every window once");
    let start = parse_time(START).unwrap();
    let want = reference(&physics_model(FS, SHAFT), &csv, "accel", FS, SHAFT);
    assert_eq!(want.len(), 3);
    let pass_ns = 2_250_000_000;
    for g in 0..total as usize {
        let (p, k) = (g / 3, g % 3);
        let t = window_time(start + p as i64 * pass_ns, k);
        assert_bits(&window(&pts, "l", t), &want[k], &format!("pass {p} window {k}"));
    }
    // Blocks tile each pass: 12,000 + 6,000 + 6,000 samples, pass p shifted by p · 2.25 s.
    assert_eq!(count(&h, "SELECT count(*) FROM waveforms"), total as i64);
    let first_of_pass = count(&h, "SELECT count(*) FROM waveforms WHERE sample_count = 12000");
    assert_eq!(first_of_pass as u64, total.div_ceil(3));
    let last = count(&h, "SELECT max(CAST(start AS BIGINT)) FROM waveforms");
    let g = total as usize - 1;
    let begin = match g % 3 {
        0 => 0,
        r => 6_000 + 6_000 * r,
    };
    assert_eq!(last, start + (g / 3) as i64 * pass_ns + (begin as f64 * 1e9 / FS) as i64);
}

#[test]
fn bad_replay_keys_are_refused_naming_the_source_and_the_key() {
    let base = "[[source]]\nkind = \"replay\"\nname = \"r\"\nfile = \"x.mat\"\nsignal = \"X\"\nshaft_hz = 30\n";
    let g = "bearing = [9, 0.3126, 1.537, 0]\n";
    assert!(IngestConfig::parse(&format!("{base}{g}"), "x").is_ok());
    assert!(IngestConfig::parse(&format!("{base}model = \"m.json\"\n"), "x").is_ok());
    for (extra, needle) in [
        ("", "bearing: required"),
        ("bearing = [9, 0.3126, 1.537]\n", "4 numbers"),
        ("bearing = [9.5, 0.3126, 1.537, 0]\n", "whole number"),
        ("bearing = [9, 2.0, 1.537, 0]\n", "pitch diameter"),
        (&format!("{g}speed = -1\n"), "speed"),
        (&format!("{g}fs_hz = 0\n"), "fs_hz"),
        (&format!("{g}start = \"soon\"\n"), "start"),
        (&format!("{g}loops = true\n"), "loops"),
        (&format!("{g}analysis = {{ hop_s = 0 }}\n"), "analysis: hop_s"),
        ("model = \"m.json\"\nanalysis = { null_windows = 64 }\n", "drop `analysis` or `model`"),
    ] {
        let e = IngestConfig::parse(&format!("{base}{extra}"), "x.toml").unwrap_err().to_string();
        assert!(e.contains(needle) && e.contains("x.toml"), "{extra:?}: {e}");
        if !extra.contains("loops") {
            assert!(e.contains("replay source \"r\""), "{extra:?}: {e}");
        }
    }
}

#[test]
fn problems_found_when_the_source_starts_name_the_source_the_key_and_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let csv = tmp.path().join("rec.csv");
    write_csv(&csv, &recording(0.9, false, 1));
    let missing = tmp.path().join("missing.mat");
    let cases = [
        (replay_source("r", &missing, "X", "fs_hz = 12000\n"), vec!["replay source \"r\"", "file:", "missing.mat"]),
        (replay_source("r", &csv, "accel", ""), vec!["replay source \"r\"", "fs_hz: required", "rec.csv"]),
        (replay_source("r", &csv, "speed", "fs_hz = 12000\n"), vec!["file:", "speed"]),
        (replay_source("r", &csv, "accel", "fs_hz = 12000\n"), vec!["shorter than one 1 s decision window"]),
        (
            replay_source("r", &csv, "accel", &format!("fs_hz = 12000\nmodel = {:?}\n", csv.display().to_string()))
                .replace("bearing = [9, 0.3126, 1.537, 0]\n", ""),
            vec!["replay source \"r\"", "model:", "rec.csv"],
        ),
    ];
    for (cfg, needles) in cases {
        let c = IngestConfig::parse(&cfg, "t").unwrap();
        let (_tx, rx) = watch::channel(false);
        let e = fos_pipeline::run(&c, &tmp.path().join("data"), rx, &mut |_| {}).unwrap_err().to_string();
        for n in needles {
            assert!(e.contains(n), "{n:?} not in: {e}");
        }
    }
}

/// The CWRU drive-end recordings of the manifest: replayed, the verdicts are those of the
/// `fos analyze` path bit for bit, the inner-race defect is flagged and the healthy bearing is not.
#[test]
fn cwru_inner_race_and_normal_baseline_replay_as_fos_analyze_judges_them() {
    let Some(root) = fos_io::testdata::data_dir() else { return };
    let dir = root.join("cwru");
    let manifest = fos_io::Manifest::load(&dir.join("manifest.csv")).unwrap();
    let row = |path: &str| {
        manifest.rows.iter().find(|r| r.path == path).unwrap_or_else(|| panic!("{path} not in the manifest"))
    };
    let ir = row("12k_Drive_End_IR014_0_169.mat");
    let normal =
        manifest.rows.iter().find(|r| r.label == fos_core::Label::Normal && r.fs_hz == 48_000.0).expect("a normal row");
    assert_eq!((ir.signal.as_str(), ir.fs_hz), ("X169_DE_time", 12_000.0));
    let tmp = tempfile::tempdir().unwrap();
    let source = |name: &str, file: &Path, signal: &str, fs: f64, shaft: f64| {
        format!(
            "[[source]]\nkind = \"replay\"\nname = \"{name}\"\nfile = {:?}\nsignal = \"{signal}\"\nfs_hz = {fs:?}\n\
             shaft_hz = {shaft:?}\nbearing = [9, 0.3126, 1.537, 0]\nspeed = 0\nstart = \"{START}\"\n",
            file.display().to_string()
        )
    };
    let cfg = format!(
        "[historian]\ncommit_ms = 20\n{}{}",
        source("ir", &ir.file, &ir.signal, 12_000.0, 29.93),
        source("normal", &normal.file, &normal.signal, normal.fs_hz, normal.shaft_hz)
    );
    run(&cfg, tmp.path());
    let h = Historian::open(tmp.path()).unwrap();
    let start = parse_time(START).unwrap();
    for (name, r, shaft, fault) in [("ir", ir, 29.93, true), ("normal", normal, normal.shaft_hz, false)] {
        let want = reference(&physics_model(r.fs_hz, shaft), &r.file, &r.signal, r.fs_hz, shaft);
        let pts = points(&h, &format!("{name}."));
        // 10 s at 12 kHz and 5 s at 48 kHz.
        assert_eq!(want.len(), if fault { 19 } else { 9 }, "{name}");
        assert_eq!(pts.len(), want.len() * FEATURES.len(), "{name}");
        let mut flagged = 0;
        let mut inner = 0;
        for (k, want) in want.iter().enumerate() {
            let got = window(&pts, name, window_time(start, k));
            assert_bits(&got, want, &format!("{name} window {k}"));
            flagged += (got[1] == 1.0) as usize;
            inner += (got[2] == label_code(fos_core::Label::Inner)) as usize;
        }
        // The overall verdict of `fos analyze`: a fault when at least half the windows are flagged.
        eprintln!("{name}: {flagged} of {} windows flagged, {inner} as inner race", want.len());
        if fault {
            assert!(2 * flagged >= want.len(), "{name}: {flagged} of {} flagged", want.len());
            assert!(2 * inner >= want.len(), "{name}: {inner} of {} named inner race", want.len());
        } else {
            assert!(2 * flagged < want.len(), "{name}: {flagged} of {} flagged", want.len());
        }
    }
}

/// With `model`: a model file calibrated on the manifest's healthy baseline rows (as
/// `fos eval --save-models` writes it, at the machine's analysis rate of 12 kHz) judges the 12 kHz
/// inner-race recording and the 48 kHz normal recording (resampled to 12 kHz on the way) as
/// `fos analyze --model` does.
#[test]
fn cwru_replay_with_a_calibrated_model_file_judges_as_fos_analyze_with_the_model() {
    let Some(root) = fos_io::testdata::data_dir() else { return };
    let manifest = fos_io::Manifest::load(&root.join("cwru/manifest.csv")).unwrap();
    let cfg = AnalysisConfig::default();
    let fs = 12_000.0;
    let mut model = MachineModel::new("cwru-de", &cfg, SKF6205, fs, 29.9333, true).unwrap();
    let mut baseline = Vec::new();
    for r in manifest.rows.iter().filter(|r| r.role == fos_core::Role::Baseline && r.machine == "cwru-de") {
        let x = fos_io::load_row(r).unwrap();
        let y = fos_signal::resample::resample(&x, r.fs_hz, fs, model.cutoff_hz).unwrap();
        let mut an = model.analyzer(r.shaft_hz).unwrap();
        let n = an.window_len();
        baseline.extend(window_starts(y.len(), n, n / 2).map(|s| an.analyze(&y[s..s + n])));
    }
    assert!(baseline.len() >= 3, "baseline windows: {}", baseline.len());
    model.calibrate(&baseline).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let model_path = tmp.path().join("cwru-de.json");
    std::fs::write(&model_path, model.to_json()).unwrap();
    let model = MachineModel::from_json(&model.to_json()).unwrap();

    let ir = manifest.rows.iter().find(|r| r.path == "12k_Drive_End_IR014_0_169.mat").unwrap();
    let normal = manifest.rows.iter().find(|r| r.label == fos_core::Label::Normal).unwrap();
    let source = |name: &str, r: &fos_io::Row| {
        format!(
            "[[source]]\nkind = \"replay\"\nname = \"{name}\"\nfile = {:?}\nsignal = \"{}\"\nfs_hz = {:?}\n\
             shaft_hz = {:?}\nmodel = {:?}\nspeed = 0\nstart = \"{START}\"\n",
            r.file.display().to_string(),
            r.signal,
            r.fs_hz,
            r.shaft_hz,
            model_path.display().to_string()
        )
    };
    let data = tmp.path().join("data");
    run(&format!("[historian]\ncommit_ms = 20\n{}{}", source("ir", ir), source("normal", normal)), &data);
    let h = Historian::open(&data).unwrap();
    let start = parse_time(START).unwrap();
    for (name, r, fault) in [("ir", ir, true), ("normal", normal, false)] {
        let want = reference(&model, &r.file, &r.signal, r.fs_hz, r.shaft_hz);
        let pts = points(&h, &format!("{name}."));
        assert_eq!(pts.len(), want.len() * FEATURES.len(), "{name}");
        let mut flagged = 0;
        for (k, want) in want.iter().enumerate() {
            let got = window(&pts, name, window_time(start, k));
            assert_bits(&got, want, &format!("{name} window {k}"));
            flagged += (got[1] == 1.0) as usize;
        }
        eprintln!("{name} (calibrated): {flagged} of {} windows flagged", want.len());
        assert_eq!(2 * flagged >= want.len(), fault, "{name}: {flagged} of {} flagged", want.len());
    }
}
