//! Real-binary tests of `fos`: the evaluation protocol on the real CWRU recordings, the leakage
//! refusal, the synthetic rig, `analyze` with its plot, and error messages for bad input.

use serde_json::Value;
use std::path::PathBuf;
use std::process::{Command, Output};

fn fos(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fos")).args(args).output().expect("run fos")
}

fn json_of(out: &Output) -> Value {
    assert!(out.status.success(), "fos failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("stdout is one JSON object")
}

fn data() -> Option<PathBuf> {
    fos_io::testdata::data_dir()
}

fn f(v: &Value, k: &str) -> f64 {
    v[k].as_f64().unwrap_or_else(|| panic!("{k} missing in {v}"))
}

#[test]
fn eval_on_cwru_meets_the_detection_bar() {
    let Some(d) = data() else { return };
    let m = d.join("cwru/manifest.csv");
    let m = m.to_str().expect("utf-8 path");
    let v = json_of(&fos(&["eval", "--test", m, "--train", m, "--json"]));
    let dec = &v["decisions"];
    let (tp, fp, tn, fn_) = (
        dec["tp"].as_u64().unwrap(),
        dec["fp"].as_u64().unwrap(),
        dec["tn"].as_u64().unwrap(),
        dec["fn"].as_u64().unwrap(),
    );
    // 12 faulty test files of ~10.15 s (19 decisions each) and 2.58 s of healthy test signal (4).
    assert_eq!(tp + fn_, 228, "{dec}");
    assert_eq!(tn + fp, 4, "{dec}");
    assert_eq!(v["rows"].as_array().unwrap().len() as u64, tp + fp + tn + fn_);
    assert_eq!(fp, 0, "false alarms on healthy CWRU decisions");
    assert!(f(&v, "precision") >= 0.999);
    assert!(f(&v, "recall") >= 0.99, "recall {}", f(&v, "recall"));
    assert!(f(&v, "auroc") >= 0.995, "auroc {}", f(&v, "auroc"));
    let inner = &v["diagnosis"]["per_label"]["inner"];
    assert!(f(inner, "accuracy") >= 0.95, "inner-race diagnosis {inner}");
    // Every row names its file and signal and sits on the protocol's grid.
    for r in v["rows"].as_array().unwrap() {
        let t = f(r, "t_end_s");
        assert!(((t - 1.0) / 0.5).fract().abs() < 1e-9 || r["path"].as_str().unwrap().contains("97"), "{r}");
        assert!(r["signal"].as_str().unwrap().ends_with("_DE_time"));
    }
}

#[test]
fn eval_refuses_a_leaking_split() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("bearings.csv"),
        "id,elements,element_diameter,pitch_diameter,contact_angle_deg,unit\nb,9,0.3126,1.537,0,in\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("manifest.csv"),
        "path,signal,fs_hz,shaft_hz,bearing,machine,bearing_id,label,role\n\
         a.wav,0,12000,30,b,m,SPEC-1,inner,train\n\
         c.wav,0,12000,30,b,m,SPEC-1,inner,test\n",
    )
    .unwrap();
    let m = dir.path().join("manifest.csv");
    let out = fos(&["eval", "--test", m.to_str().unwrap(), "--train", m.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("SPEC-1"), "the error names the leaking bearing: {err}");
    assert!(out.stdout.is_empty(), "nothing printed to stdout on refusal");
}

#[test]
fn synthetic_rig_with_other_bearing_rates_and_formats() {
    let dir = tempfile::tempdir().expect("tempdir");
    let st = fos(&["synth", dir.path().to_str().unwrap(), "--healthy-seconds", "120"]);
    assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
    let m = dir.path().join("manifest.csv");
    let m = m.to_str().unwrap();
    let v = json_of(&fos(&["eval", "--test", m, "--train", m, "--json", "--no-rows"]));
    assert_eq!(v["decisions"]["fp"].as_u64(), Some(0), "false alarms on the healthy run with knocks: {v}");
    assert!(f(&v, "healthy_seconds") > 100.0);
    assert!(f(&v, "auroc") >= 0.99, "{v}");
    assert!(f(&v["diagnosis"], "accuracy") >= 0.9, "{}", v["diagnosis"]);
    // The machine mixes 51.2 kHz and 25.6 kHz recordings: all are analysed at the lower rate.
    assert_eq!(f(&v["machines"][0], "analysis_fs"), 25_600.0);
}

#[test]
fn analyze_names_the_inner_race_fault_and_draws_it() {
    let Some(d) = data() else { return };
    let file = d.join("cwru/12k_Drive_End_IR014_0_169.mat");
    let dir = tempfile::tempdir().expect("tempdir");
    let png = dir.path().join("ir.png");
    let out = fos(&[
        "analyze",
        file.to_str().unwrap(),
        "--signal",
        "X169_DE_time",
        "--fs",
        "12000",
        "--shaft-hz",
        "29.93",
        "--bearing",
        "9,0.3126,1.537,0",
        "--json",
        "--plot",
        png.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("every line is one JSON object"))
        .collect();
    let windows: Vec<&Value> = lines.iter().filter(|v| v["kind"] == "window").collect();
    assert_eq!(windows.len(), 19);
    let last = lines.last().expect("a summary line");
    assert_eq!(last["kind"], "recording");
    assert_eq!(last["overall"]["predicted"], "inner", "{}", last["overall"]);
    let inner_windows = windows.iter().filter(|w| w["family"] == "inner").count();
    assert!(inner_windows >= 17, "{inner_windows} of 19 windows name the inner race");
    let bytes = std::fs::read(&png).expect("plot written");
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
}

#[test]
fn bad_input_gets_a_clear_error() {
    let Some(d) = data() else { return };
    let file = d.join("cwru/normal_0_97.mat");
    let out = fos(&[
        "analyze", file.to_str().unwrap(), "--signal", "X999_DE_time", "--fs", "48000", "--shaft-hz", "29.9",
        "--bearing", "9,0.3126,1.537,0",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("X999_DE_time") && err.contains("normal_0_97.mat"), "{err}");
    assert!(err.contains("X097_DE_time"), "the error lists what the file holds: {err}");
}

#[test]
fn bad_bearing_and_missing_file_are_reported() {
    let out = fos(&["analyze", "nope.wav", "--signal", "0", "--fs", "1000", "--shaft-hz", "10", "--bearing", "9,1,0.5,0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("pitch"));
    let out = fos(&["analyze", "nope.wav", "--signal", "0", "--fs", "25600", "--shaft-hz", "10", "--bearing", "9,1,5,0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope.wav"));
}

#[test]
fn a_saved_model_calibrates_analyze() {
    let Some(d) = data() else { return };
    let m = d.join("cwru/manifest.csv");
    let dir = tempfile::tempdir().expect("tempdir");
    let models = dir.path().join("models");
    let out = fos(&["eval", "--test", m.to_str().unwrap(), "--save-models", models.to_str().unwrap(), "--no-rows"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let model = models.join("cwru-de.model.json");
    let text = std::fs::read_to_string(&model).expect("model written");
    assert!(text.contains("\"format_version\""));
    let summary = |file: &str, signal: &str, fs: &str| -> Value {
        let out = fos(&[
            "analyze",
            d.join("cwru").join(file).to_str().unwrap(),
            "--signal",
            signal,
            "--fs",
            fs,
            "--shaft-hz",
            "29.93",
            "--model",
            model.to_str().unwrap(),
            "--json",
        ]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        serde_json::from_str(text.lines().last().expect("summary line")).expect("JSON")
    };
    // The healthy recording (48 kHz, resampled to the model's 12 kHz) stays healthy under calibration.
    let healthy = summary("normal_0_97.mat", "X097_DE_time", "48000");
    assert_eq!(healthy["calibrated"], true);
    assert_eq!(healthy["overall"]["faulty"], false, "{}", healthy["overall"]);
    let faulty = summary("12k_Drive_End_IR007_0_105.mat", "X105_DE_time", "12000");
    assert_eq!(faulty["overall"]["predicted"], "inner", "{}", faulty["overall"]);
}

#[test]
fn analyze_a_manifest_reports_every_non_baseline_row() {
    let dir = tempfile::tempdir().expect("tempdir");
    let st = fos(&["synth", dir.path().to_str().unwrap(), "--healthy-seconds", "20"]);
    assert!(st.status.success());
    let m = dir.path().join("manifest.csv");
    let out = fos(&["analyze", "--manifest", m.to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let recs: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("JSON line"))
        .filter(|v| v["kind"] == "recording")
        .collect();
    // 10 rows, one of them baseline.
    assert_eq!(recs.len(), 9);
    for r in &recs {
        assert_eq!(r["calibrated"], true);
        if r["label"] == "normal" {
            assert_eq!(r["overall"]["faulty"], false, "{r}");
        }
    }
}
