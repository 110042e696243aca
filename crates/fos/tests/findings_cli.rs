//! Real-binary tests of `fos cases build` and `fos findings`: on the real CWRU recordings, a finding on
//! an inner-race recording cites inner-race cases of *other* bearings, an inner-race simulation that
//! matches, and the very waveform blocks the replay source stores in the historian; a challenge and a
//! verdict land in the ledger, in the figures and in the training labels; roles are enforced; the
//! ledger still verifies.

mod gate_support;

use std::path::{Path, PathBuf};

use gate_support::*;
use serde_json::Value;

const IR014: &str = "cwru/12k_Drive_End_IR014_0_169.mat";
const START: &str = "2026-03-01T00:00:00Z";

fn data() -> Option<PathBuf> {
    fos_io::testdata::data_dir()
}

/// A site with the users of `gate_support` and the case library of the CWRU manifest.
fn site_with_cases(d: &Path) -> (Site, Value) {
    let site = Site::new();
    let m = d.join("cwru/manifest.csv");
    let built = site.run(&["cases", "build", "--manifest", m.to_str().unwrap()]).ok().json();
    (site, built)
}

/// `fos findings record` of the CWRU IR014 recording at 0 hp, physics only, as the replay source
/// named `de` starting at [`START`] would cut it.
fn record_ir014(site: &Site, d: &Path, extra: &[&str]) -> Value {
    let file = d.join(IR014);
    let mut args = vec![
        "findings",
        "record",
        file.to_str().unwrap(),
        "--signal",
        "X169_DE_time",
        "--fs",
        "12000",
        "--shaft-hz",
        "29.9333",
        "--bearing",
        "9,0.3126,1.537,0",
        "--machine",
        "cwru-de",
        "--channel",
        "de",
        "--start",
        START,
    ];
    args.extend(extra);
    site.run(&args).ok().json()
}

fn finding_ids(recorded: &Value) -> Vec<String> {
    recorded["findings"].as_array().unwrap().iter().map(|f| f["id"].as_str().unwrap().to_owned()).collect()
}

#[test]
fn an_inner_race_finding_cites_other_bearings_an_inner_race_simulation_and_is_challenged_and_settled() {
    let Some(d) = data() else { return };
    let (site, built) = site_with_cases(&d);
    assert_eq!(built["cases"], 36, "{built}");
    assert_eq!(built["by_label"]["inner"], 12, "{built}");
    let library = std::fs::read(site.path("cases/library.json")).unwrap();
    let lib_hash = built["sha256"].as_str().unwrap().to_owned();
    assert_eq!(lib_hash.len(), 64);
    // The library is a cache beside the ledger, never in it.
    assert!(!site.path("ledger/cases").exists());

    // No --bearing-id: the library knows this file was bearing DE-IR014, so none of its four recordings
    // may be cited.
    let rec = record_ir014(&site, &d, &[]);
    assert_eq!(rec["case_library"], lib_hash.as_str());
    assert!(rec["model"].as_str().unwrap().starts_with("fos-bearing@"), "{rec}");
    assert!(rec["model"].as_str().unwrap().contains("physics-only"), "{rec}");
    let findings = rec["findings"].as_array().unwrap();
    assert!(!findings.is_empty(), "{rec}");
    for f in findings {
        assert_eq!(f["label"], "inner", "{f}");
        let nearest = f["nearest"].as_array().unwrap();
        assert_eq!(nearest.len(), 3, "{f}");
        for c in nearest {
            assert_eq!(c["label"], "inner", "nearest cases of an inner-race finding are inner-race cases: {c}");
            let id = c["case_id"].as_str().unwrap();
            assert!(!id.contains("IR014"), "a case of the judged bearing was cited: {c}");
            assert!(c["source"].as_str().unwrap().contains("fault size 0.0"), "{c}");
            assert!(c["reason"].as_str().unwrap().contains("same dominant family inner"), "{c}");
        }
        assert_eq!(f["simulation_matches"], true, "{f}");
    }

    // The record in the ledger: model, recording, library and waveform blocks cited by content hash.
    let id = finding_ids(&rec)[0].clone();
    let shown = site.run(&["findings", "show", &id]).ok().json();
    let finding = &shown["finding"];
    assert_eq!(finding["label"], "inner");
    assert_eq!(finding["machine"], "cwru-de");
    assert_eq!(finding["signal"], "X169_DE_time");
    assert!(finding["file"].as_str().unwrap().ends_with("12k_Drive_End_IR014_0_169.mat"));
    assert!(finding["features"]["inner_excess_over_null"].as_f64().unwrap() > 1.0, "{finding}");
    assert!(finding["window"][0].as_str().unwrap().starts_with("2026-03-01T00:00:"), "{finding}");
    let sim = &finding["simulations"][0];
    assert_eq!(sim["figures"]["matches"], 1.0, "{sim}");
    assert_eq!(sim["figures"]["best_is_inner"], 1.0, "{sim}");
    assert_eq!(sim["figures"]["seed"], 24301.0);
    assert!(sim["figures"]["resonance_hz"].as_f64().unwrap() > 0.0);
    assert_eq!(sim["sha256"].as_str().unwrap().len(), 64);
    let used = shown["used"].as_array().unwrap();
    let content = |entity: &str| -> Vec<String> {
        used.iter().filter(|r| r["entity"] == entity).map(|r| r["sha256"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(content("case-library"), vec![lib_hash.clone()]);
    assert_eq!(content("recording").len(), 1);
    assert_eq!(content("model").len(), 1);
    let blocks = content("waveform-block");
    assert!(!blocks.is_empty());
    assert_eq!(std::fs::read(site.path("cases/library.json")).unwrap(), library, "recording leaves the library alone");

    // The blocks are the very ones the replay source stores for this file under the same name and start.
    let cfg = site.tmp.path().join("replay.toml");
    std::fs::write(
        &cfg,
        format!(
            "[historian]\ncommit_ms = 20\n[[source]]\nkind = \"replay\"\nname = \"de\"\nfile = {:?}\nsignal = \"X169_DE_time\"\n\
             fs_hz = 12000.0\nshaft_hz = 29.9333\nbearing = [9, 0.3126, 1.537, 0]\nspeed = 0\nstart = \"{START}\"\n\
             store_waveforms = true\n",
            d.join(IR014).display().to_string()
        ),
    )
    .unwrap();
    let hist = site.tmp.path().join("hist");
    let (cfg, hist) = (cfg.to_str().unwrap(), hist.to_str().unwrap());
    fos_env(&["ingest", "--config", cfg, "--data-dir", hist], &[]).ok();
    let q = fos_env(&["query", "SELECT hash FROM waveforms WHERE channel = 'de'", "--data-dir", hist, "--csv"], &[]).ok();
    let stored: Vec<&str> = q.stdout.lines().skip(1).collect();
    assert_eq!(stored.len(), 19, "one block per window: {}", q.stdout);
    for b in &blocks {
        assert!(stored.contains(&b.as_str()), "block {b} is not in the historian: {stored:?}");
    }

    // The ledger verifies with the finding in it.
    let v = site.run(&["audit", "verify"]).ok().json();
    assert_eq!(v["ok"], true, "{v}");

    // Challenges: an auditor cannot, an operator can.
    site.as_user("aud", &["findings", "challenge", &id, "--reason", "looks off"]).refused("auditor");
    let ch = site
        .as_user("olga", &["findings", "challenge", &id, "--reason", "humidity, not bearing wear", "--alternative", "humidity"])
        .ok()
        .json();
    assert_eq!(ch["kind"], "challenge");
    // Verdicts: not an operator, not the challenger, not an auditor; an engineer can.
    site.as_user("olga", &["findings", "verdict", &id, "--outcome", "disputed"]).refused("engineer or an approver");
    site.as_user("aud", &["findings", "verdict", &id, "--outcome", "confirmed"]).refused("engineer or an approver");
    site.as_user("erin", &["findings", "verdict", &id, "--outcome", "confirmed", "--label", "outer"])
        .refused("keeps its label inner");
    let v = site
        .as_user("erin", &["findings", "verdict", &id, "--outcome", "disputed", "--reason", "dried the sensor, lines gone"])
        .ok()
        .json();
    assert_eq!((v["kind"].as_str(), v["label"].as_str()), (Some("disputed"), Some("humidity")), "{v}");

    // A second finding confirmed by an approver after an inspection, without a challenge; a third left open.
    let again = record_ir014(&site, &d, &["--whole", "--bearing-id", "DE-IR014"]);
    let ids = finding_ids(&again);
    assert_eq!(ids.len(), 1, "the recording's overall verdict is a fault: {again}");
    let second = ids[0].clone();
    site.as_user("alex", &["findings", "verdict", &second, "--outcome", "confirmed", "--reason", "spall on the inner race"])
        .ok();

    // The figures.
    let stats = site.run(&["findings", "stats"]).ok().json();
    let all = &stats["overall"];
    let total = all["findings"].as_u64().unwrap();
    assert_eq!(total, findings.len() as u64 + 1, "{stats}");
    assert_eq!((all["challenged"].as_u64(), all["confirmed"].as_u64(), all["disputed"].as_u64()), (Some(2), Some(1), Some(1)));
    assert_eq!(all["open"], 0);
    assert_eq!(all["labels"]["humidity"], 1);
    assert_eq!(all["labels"]["inner"], 1);
    assert_eq!(stats["machines"]["cwru-de"], *all, "{stats}");
    assert_eq!(stats["labels"]["inner"]["disputed"], 1, "{stats}");

    // The list shows each finding's state.
    let list = site.run(&["findings", "list"]).ok().json();
    let status = |fid: &str| list.as_array().unwrap().iter().find(|f| f["id"] == fid).unwrap()["status"].clone();
    assert_eq!(status(&id), "disputed");
    assert_eq!(status(&second), "confirmed");

    // The training labels: one row per settled finding.
    let csv_path = site.tmp.path().join("labels.csv");
    site.anon(&["findings", "labels", "--out", csv_path.to_str().unwrap()], &[]).ok();
    let csv = std::fs::read_to_string(&csv_path).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 3, "{csv}");
    assert!(lines[0].starts_with("finding_id,machine,file,signal,file_sha256,t_start_s,t_end_s,window_start"), "{csv}");
    let row = lines.iter().find(|l| l.starts_with(&format!("{id},"))).unwrap();
    assert!(row.contains(",cwru-de,") && row.contains("12k_Drive_End_IR014_0_169.mat,X169_DE_time,"), "{row}");
    assert!(row.contains(",inner,disputed,humidity,") && row.contains(",erin,"), "{row}");
    let json_path = site.tmp.path().join("labels.json");
    site.anon(&["findings", "labels", "--out", json_path.to_str().unwrap()], &[]).ok();
    let labels: Value = serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
    let l = labels.as_array().unwrap().iter().find(|l| l["finding_id"] == second.as_str()).unwrap();
    assert_eq!((l["outcome"].as_str(), l["label"].as_str(), l["verdict_by"].as_str()), (Some("confirmed"), Some("inner"), Some("alex")));
    assert_eq!(l["t_start_s"], 0.0);
    assert!(l["window_end"].as_str().unwrap().starts_with("2026-03-01T00:00:10"), "{l}");
    assert_eq!(l["blocks"].as_array().unwrap().len(), 19, "the whole recording's blocks: {l}");

    // The provenance chain of the disputed finding, and the ledger still verifies.
    let chain = site.run(&["audit", "show", &id]).ok().json();
    let kinds: Vec<&str> = chain["chain"].as_array().unwrap().iter().map(|r| r["kind"].as_str().unwrap()).collect();
    assert!(kinds.contains(&"finding") && kinds.contains(&"challenge") && kinds.contains(&"challenge_verdict"), "{kinds:?}");
    let v = site.run(&["audit", "verify"]).ok().json();
    assert_eq!(v["ok"], true, "{v}");
}

#[test]
fn bad_requests_are_refused_with_the_reason_and_record_nothing() {
    let Some(d) = data() else { return };
    let site = Site::new();
    // No case library yet.
    let file = d.join(IR014);
    let args = [
        "findings",
        "record",
        file.to_str().unwrap(),
        "--signal",
        "X169_DE_time",
        "--fs",
        "12000",
        "--shaft-hz",
        "29.9333",
        "--bearing",
        "9,0.3126,1.537,0",
    ];
    site.run(&args).refused("no case library");
    // An impossible rate, a bad geometry, a signal the file lacks.
    let mut wrong = args.to_vec();
    wrong.extend(["--no-cases"]);
    wrong[6] = "0";
    site.run(&wrong).refused("must be positive numbers");
    let mut wrong = args.to_vec();
    wrong.extend(["--no-cases"]);
    wrong[10] = "9,0.3126";
    site.run(&wrong).refused("--bearing wants");
    let mut wrong = args.to_vec();
    wrong.extend(["--no-cases"]);
    wrong[4] = "X999_DE_time";
    site.run(&wrong).refused("X999_DE_time");
    // Unknown findings.
    site.as_user("olga", &["findings", "challenge", "f-0042", "--reason", "x"]).refused("no finding f-0042");
    site.run(&["findings", "show", "f-0042"]).refused("no finding f-0042");
    // A verdict of disputed without a cause, and with the finding's own label.
    let mut ok = args.to_vec();
    ok.extend(["--no-cases", "--whole"]);
    let rec = site.run(&ok).ok().json();
    assert_eq!(rec["case_library"], Value::Null);
    let id = finding_ids(&rec)[0].clone();
    assert_eq!(rec["findings"][0]["nearest"].as_array().unwrap().len(), 0);
    site.as_user("erin", &["findings", "verdict", &id, "--outcome", "disputed"]).refused("needs the true cause");
    site.as_user("erin", &["findings", "verdict", &id, "--outcome", "disputed", "--label", "inner"]).refused("the finding's own label");
    // The challenger may not settle their own challenge, even as an engineer.
    site.as_user("erin", &["findings", "challenge", &id, "--reason", "noise from the coupling", "--alternative", "misalignment"]).ok();
    site.as_user("erin", &["findings", "verdict", &id, "--outcome", "disputed"]).refused("raised the open challenge");
    // Nothing refused was recorded: the finding and the one challenge.
    let stats = site.run(&["findings", "stats"]).ok().json();
    assert_eq!((stats["overall"]["findings"].as_u64(), stats["overall"]["open"].as_u64()), (Some(1), Some(1)), "{stats}");
    let v = site.run(&["audit", "verify"]).ok().json();
    assert_eq!(v["ok"], true, "{v}");
}
