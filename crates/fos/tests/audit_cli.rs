//! Real-binary tests of `fos audit`: `verify` names a flipped byte, a truncated file, a removed and a
//! reordered record, an extra file and a working state that disagrees with the ledger (on copies of a
//! real site); `prove` output checks offline with the public key alone and fails with another key or an
//! altered record; `show` walks the provenance chain; `export` writes a bundle whose every proof checks.

mod gate_support;

use std::path::Path;

use gate_support::*;

/// A site with an executed auto-approved change, a safety-critical change approved by two engineers and
/// executed, a stop and a resume: every kind of gate record.
fn busy_site() -> (Site, String, String) {
    let site = Site::new();
    let auto = site.ai_offset("mill-1", "0.002", &["--evidence", &"ab".repeat(32)]);
    let auto = auto["id"].as_str().unwrap().to_owned();
    site.run(&["gate", "execute", &auto]).ok();
    let sc = site.ai_offset("caster-1", "0.001", &["--subsystem", "brake-caliper-casting"]);
    let sc = sc["id"].as_str().unwrap().to_owned();
    site.as_user("erin", &["gate", "approve", &sc]).ok();
    site.as_user("ezra", &["gate", "approve", &sc]).ok();
    site.as_user("olga", &["gate", "stop", "--reason", "inspection"]).ok();
    site.as_user("erin", &["gate", "resume", "--reason", "inspected"]).ok();
    site.as_user("erin", &["gate", "execute", &sc]).ok();
    (site, auto, sc)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

/// `(offset, length)` of every frame of a ledger file after its 8-byte header.
fn frames(bytes: &[u8]) -> Vec<(usize, usize)> {
    let (mut out, mut at) = (Vec::new(), 8);
    while at + 8 <= bytes.len() {
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        out.push((at, 8 + len));
        at += 8 + len;
    }
    out
}

/// Verifies a tampered copy of `site`: exit 1 and the problems' kinds.
fn verify_tampered(site: &Site, name: &str, tamper: impl FnOnce(&Path)) -> Vec<serde_json::Value> {
    let copy = site.tmp.path().join(name);
    copy_dir(&site.dir, &copy);
    tamper(&copy.join("ledger"));
    let run = fos_env(&["audit", "verify", "--data-dir", copy.to_str().unwrap(), "--json"], &[]);
    assert_eq!(run.code, Some(1), "{name}: {}\n{}", run.stdout, run.stderr);
    let v = run.json();
    assert_eq!(v["ok"], false);
    // The human form names the same problems.
    let text = fos_env(&["audit", "verify", "--data-dir", copy.to_str().unwrap()], &[]);
    assert_eq!(text.code, Some(1));
    assert!(text.stdout.contains("problem(s)"), "{}", text.stdout);
    v["problems"].as_array().unwrap().clone()
}

fn kinds(problems: &[serde_json::Value]) -> Vec<String> {
    problems.iter().map(|p| p["kind"].as_str().unwrap().to_owned()).collect()
}

#[test]
fn verify_detects_every_kind_of_tampering() {
    let (site, _, sc) = busy_site();
    let ok = site.run(&["audit", "verify"]).ok().json();
    assert_eq!(ok["ok"], true, "{ok}");
    let n = ok["records"].as_u64().unwrap();
    assert_eq!(n, 19, "7 users, 4 records of the automatic change, 6 of the safety-critical one, stop and resume: {ok}");
    let records = site.path("ledger/records.log");
    let bytes = std::fs::read(&records).unwrap();
    let f = frames(&bytes);
    assert_eq!(f.len() as u64, n);

    // A flipped byte inside a record (the safety-critical decision): named with file, offset and record.
    let target = 12;
    let (off, _) = f[target];
    let problems = verify_tampered(&site, "flip", |l| {
        let mut b = std::fs::read(l.join("records.log")).unwrap();
        b[off + 40] ^= 0x01;
        std::fs::write(l.join("records.log"), b).unwrap();
    });
    let crc = problems.iter().find(|p| p["kind"] == "bad checksum").unwrap_or_else(|| panic!("{problems:?}"));
    assert_eq!((crc["record"].as_u64(), crc["offset"].as_u64()), (Some(target as u64), Some(off as u64)));
    assert!(crc["file"].as_str().unwrap().ends_with("records.log"));
    assert!(kinds(&problems).contains(&"root mismatch".to_owned()));

    // A truncated file.
    let problems = verify_tampered(&site, "truncate", |l| {
        let b = std::fs::read(l.join("records.log")).unwrap();
        std::fs::write(l.join("records.log"), &b[..b.len() - 10]).unwrap();
    });
    assert!(kinds(&problems).contains(&"missing records".to_owned()), "{problems:?}");

    // A removed record (its frame cut out cleanly, so every other frame still reads).
    let (roff, rlen) = f[target];
    let problems = verify_tampered(&site, "remove", |l| {
        let mut b = std::fs::read(l.join("records.log")).unwrap();
        b.drain(roff..roff + rlen);
        std::fs::write(l.join("records.log"), b).unwrap();
    });
    let k = kinds(&problems);
    assert!(k.contains(&"root mismatch".to_owned()) && k.contains(&"missing records".to_owned()), "{problems:?}");
    assert!(k.contains(&"inconsistent record".to_owned()), "the records' own references break too: {problems:?}");

    // Two records swapped.
    let ((a, alen), (b_off, blen)) = (f[target], f[target + 1]);
    let problems = verify_tampered(&site, "reorder", |l| {
        let b = std::fs::read(l.join("records.log")).unwrap();
        let mut out = b[..a].to_vec();
        out.extend_from_slice(&b[b_off..b_off + blen]);
        out.extend_from_slice(&b[a..a + alen]);
        out.extend_from_slice(&b[b_off + blen..]);
        std::fs::write(l.join("records.log"), out).unwrap();
    });
    let root = problems.iter().find(|p| p["kind"] == "root mismatch").unwrap_or_else(|| panic!("{problems:?}"));
    assert!(root["detail"].as_str().unwrap().contains("swapped"), "{root}");

    // A checkpoint edited; a file added to the ledger folder.
    let problems = verify_tampered(&site, "checkpoint", |l| {
        let mut c = std::fs::read(l.join("checkpoints.log")).unwrap();
        let at = frames(&c)[2].0 + 20;
        c[at] ^= 0x04;
        std::fs::write(l.join("checkpoints.log"), c).unwrap();
    });
    assert!(!problems.is_empty());
    let problems = verify_tampered(&site, "extra", |l| std::fs::write(l.join("index.cache"), b"x").unwrap());
    assert_eq!(kinds(&problems), ["unexpected file"]);

    // The working state disagreeing with the ledger (a proposal file edited by hand to "approved").
    let copy = site.tmp.path().join("state");
    copy_dir(&site.dir, &copy);
    let waiting = site.ai_offset("mill-2", "0.01", &[]);
    let wid = waiting["id"].as_str().unwrap();
    copy_dir(&site.dir, &copy);
    let pf = copy.join(format!("gate/proposals/{wid}.json"));
    let text = std::fs::read_to_string(&pf).unwrap().replace("\"status\": \"awaiting_approval\"", "\"status\": \"approved\"");
    std::fs::write(&pf, text).unwrap();
    let run = fos_env(&["audit", "verify", "--data-dir", copy.to_str().unwrap(), "--json"], &[]);
    assert_eq!(run.code, Some(1));
    let p = &run.json()["problems"][0];
    assert_eq!((p["area"].as_str(), p["kind"].as_str()), (Some("working-state"), Some("status differs")), "{p}");
    // The untouched site still verifies, with a key given as the auditor's own copy.
    let key = std::fs::read_to_string(site.path("keys/ledger.pub")).unwrap();
    let hex_key = key.lines().nth(1).unwrap();
    assert_eq!(site.run(&["audit", "verify", "--public-key", hex_key]).ok().json()["ok"], true);
    // Another key: every checkpoint signature fails.
    let other = "3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29";
    let run = site.run(&["audit", "verify", "--public-key", other]);
    assert_eq!(run.code, Some(1));
    assert!(kinds(run.json()["problems"].as_array().unwrap()).contains(&"bad signature".to_owned()));
    let _ = sc;
}

#[test]
fn proofs_check_offline_with_the_public_key_alone() {
    let (site, _, sc) = busy_site();
    let auditor = tempfile::tempdir().unwrap();
    let key = auditor.path().join("site.pub");
    std::fs::copy(site.path("keys/ledger.pub"), &key).unwrap();
    let key = key.to_str().unwrap();
    // Every record of a proposal.
    let all = auditor.path().join("sc.json");
    site.run(&["audit", "prove", &sc, "--out", all.to_str().unwrap()]).ok();
    // One record, to stdout.
    let one = auditor.path().join("one.json");
    let out = site.run(&["audit", "prove", "#3"]).ok();
    std::fs::write(&one, &out.stdout).unwrap();
    // The data directory is gone: the auditor has the bundles and the key only.
    let moved = site.tmp.path().join("gone");
    std::fs::rename(&site.dir, &moved).unwrap();
    let checked = fos_env(&["audit", "check-proof", all.to_str().unwrap(), "--public-key", key, "--json"], &[]).ok().json();
    let kinds: Vec<&str> = checked["bundles"].as_array().unwrap().iter().map(|b| b["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["proposal", "decision", "approval", "approval", "capability", "execution"]);
    assert!(checked["bundles"].as_array().unwrap().iter().all(|b| b["about"][0] == sc.as_str() && b["error"].is_null()));
    let one_checked = fos_env(&["audit", "check-proof", one.to_str().unwrap(), "--public-key", key], &[]).ok();
    assert!(one_checked.stdout.contains("record 3 is in fos/site"), "{}", one_checked.stdout);
    // Another key, or an altered record, and the proof fails.
    let other = "3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29";
    let run = fos_env(&["audit", "check-proof", one.to_str().unwrap(), "--public-key", other], &[]);
    assert_eq!(run.code, Some(1));
    assert!(run.stdout.contains("NOT PROVEN"), "{}", run.stdout);
    let mut bundle: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&one).unwrap()).unwrap();
    let record = bundle["record"].as_str().unwrap().to_owned();
    bundle["record"] = serde_json::Value::String(format!("{}A{}", &record[..10], &record[11..]));
    let forged = auditor.path().join("forged.json");
    std::fs::write(&forged, bundle.to_string()).unwrap();
    let run = fos_env(&["audit", "check-proof", forged.to_str().unwrap(), "--public-key", key, "--json"], &[]);
    assert_eq!(run.code, Some(1), "{}", run.stdout);
    assert!(run.json()["bundles"][0]["error"].as_str().unwrap().contains("not proven"), "{}", run.stdout);
    std::fs::rename(&moved, &site.dir).unwrap();
    site.run(&["audit", "prove", "no-such-id"]).refused("no record in the ledger is about");
}

#[test]
fn show_walks_the_provenance_chain_back_to_people_policy_and_inputs() {
    let (site, auto, sc) = busy_site();
    let shown = site.run(&["audit", "show", &sc]).ok().json();
    assert_eq!(shown["problems"], serde_json::json!([]));
    let chain = shown["chain"].as_array().unwrap();
    let kinds: Vec<&str> = chain.iter().map(|l| l["kind"].as_str().unwrap()).collect();
    for k in ["user_added", "proposal", "decision", "approval", "capability", "execution"] {
        assert!(kinds.contains(&k), "{k} missing from {kinds:?}");
    }
    // The approvers' user records are in the chain (their keys verify the signatures), and the policy.
    let users: Vec<&str> = chain
        .iter()
        .filter(|l| l["kind"] == "user_added")
        .map(|l| l["record"]["entity"]["name"].as_str().unwrap())
        .collect();
    assert!(users.contains(&"erin") && users.contains(&"ezra"), "{users:?}");
    assert!(shown["inputs"].as_array().unwrap().iter().any(|i| i["entity"] == "policy"));
    // Indices only go back; every link says who cited it.
    assert!(chain.iter().skip(1).all(|l| l["cited_by"].as_u64().is_some() || l["index"] == shown["start"]));
    // The evidence cited by content hash shows as an input of the automatic change.
    let shown = site.run(&["audit", "show", &auto]).ok().json();
    let evidence = shown["inputs"].as_array().unwrap().iter().find(|i| i["entity"] == "waveform-block").unwrap();
    assert_eq!(evidence["sha256"], "ab".repeat(32));
    // A record index works too, and the text form lists the chain.
    let text = site.anon(&["audit", "show", "#0"], &[]).ok();
    assert!(text.stdout.contains("user ann added as admin (first user)"), "{}", text.stdout);
    site.run(&["audit", "show", "999"]).refused("not in the ledger");
}

#[test]
fn export_writes_an_evidence_bundle_whose_every_proof_checks() {
    let (site, _, _) = busy_site();
    let out = site.tmp.path().join("evidence");
    let done = site.run(&["audit", "export", "--from", "2000-01-01", "--to", "2100-01-01", "--out", out.to_str().unwrap()]).ok().json();
    let n = done["records"].as_u64().unwrap();
    assert_eq!(n, 19, "{done}");
    for f in ["README.md", "records.jsonl", "checkpoints.json", "consistency.json", "public-key.txt", "users.json", "policy.toml", "findings.json", "summary.json"] {
        assert!(out.join(f).exists(), "{f} missing");
    }
    let readme = std::fs::read_to_string(out.join("README.md")).unwrap();
    for need in ["EU AI Act Art. 12", "ISO/IEC 42001 A.6.2.8", "AS9100D 8.5.6", "fos audit check-proof"] {
        assert!(readme.contains(need), "README lacks {need}");
    }
    let lines: Vec<serde_json::Value> =
        std::fs::read_to_string(out.join("records.jsonl")).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len() as u64, n);
    let users = std::fs::read_to_string(out.join("users.json")).unwrap();
    assert!(users.contains("\"erin\"") && !users.contains("password") && !users.contains("secret"), "{users}");
    let mut proofs: Vec<_> = std::fs::read_dir(out.join("proofs")).unwrap().map(|e| e.unwrap().path()).collect();
    proofs.sort();
    assert_eq!(proofs.len() as u64, n);
    let key = out.join("public-key.txt");
    for (p, line) in proofs.iter().zip(&lines) {
        let checked = fos_env(&["audit", "check-proof", p.to_str().unwrap(), "--public-key", key.to_str().unwrap(), "--json"], &[]).ok().json();
        let b = &checked["bundles"][0];
        assert_eq!(b["index"], line["index"]);
        assert_eq!(b["kind"], line["record"]["kind"]);
    }
    let consistency: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("consistency.json")).unwrap()).unwrap();
    let checkpoints: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("checkpoints.json")).unwrap()).unwrap();
    assert_eq!(consistency.as_array().unwrap().len() + 1, checkpoints.as_array().unwrap().len());
    // An empty range exports nothing; an existing folder is refused; so is a backwards range.
    let empty = site.tmp.path().join("empty");
    assert_eq!(site.run(&["audit", "export", "--from", "2001-01-01", "--to", "2001-02-01", "--out", empty.to_str().unwrap()]).ok().json()["records"], 0);
    site.run(&["audit", "export", "--from", "2000-01-01", "--to", "2100-01-01", "--out", out.to_str().unwrap()]).refused("not empty");
    site.run(&["audit", "export", "--from", "2100-01-01", "--to", "2000-01-01", "--out", "x"]).refused("is not after");
    site.run(&["audit", "export", "--from", "soon", "--to", "2000-01-01", "--out", "x"]).refused("RFC 3339");
}
