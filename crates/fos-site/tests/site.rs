//! The site's operations as a library: shared between threads and between handles (as between the
//! command line and a server), errors typed by what the caller should do, refusals that record
//! nothing, the ledger before the working state, findings with challenges and verdicts, and the audit.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use fos_act::ToolOffsetKind;
use fos_core::BearingGeometry;
use fos_signal::kinematics::FaultKind;
use fos_signal::synth::{simulate, BearingSimConfig};
use fos_site::findings::{Outcome, RecordRequest};
use fos_site::{ActionSpec, ErrorKind, Paths, ProposeRequest, Proposer, Role, Site, SiteError, Status, Verdict};

const USERS: [(&str, Role, &str); 6] = [
    ("ann", Role::Admin, "admin-pass-1"),
    ("olga", Role::Operator, "operator-pass-1"),
    ("alex", Role::Approver, "approver-pass-1"),
    ("erin", Role::Engineer, "engineer-pass-1"),
    ("ezra", Role::Engineer, "engineer-pass-2"),
    ("aud", Role::Auditor, "auditor-pass-1"),
];

fn pw(name: &str) -> &'static str {
    USERS.iter().find(|u| u.0 == name).unwrap().2
}

fn new_site(dir: &Path) -> Site {
    let site = Site::open(dir, true).unwrap();
    site.add_user(None, "ann", Role::Admin, pw("ann")).unwrap();
    let ann = site.authenticate("ann", pw("ann")).unwrap();
    for (name, role, p) in &USERS[1..] {
        site.add_user(Some(&ann), name, *role, p).unwrap();
    }
    site
}

fn offset(machine: &str, delta_mm: f64) -> ProposeRequest {
    ProposeRequest {
        action: ActionSpec::ToolOffset {
            machine: machine.into(),
            tool: 5,
            offset_kind: ToolOffsetKind::LengthWear,
            current_mm: -0.02,
            delta_mm,
            device_tag: None,
        },
        subsystem: None,
        tags: vec![],
        id: None,
        reason: "wear model".into(),
        evidence: vec![],
    }
}

fn ledger_len(site: &Site) -> u64 {
    site.audit_verify().unwrap().records
}

#[test]
fn a_site_is_shared_by_threads_and_by_handles_without_losing_or_interleaving_anything() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    let site = Arc::new(new_site(&dir));
    let users = ledger_len(&site);
    // Four threads propose at once, each on its own machines.
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let site = site.clone();
            std::thread::spawn(move || {
                (0..8).map(|i| site.propose(Proposer::Model("wear-net@2.1"), &offset(&format!("m-{t}-{i}"), 0.001)).unwrap().id).collect::<Vec<_>>()
            })
        })
        .collect();
    let ids: Vec<String> = threads.into_iter().flat_map(|h| h.join().unwrap()).collect();
    assert_eq!(ids.iter().collect::<BTreeSet<_>>().len(), 32, "every id unique: {ids:?}");
    assert_eq!(ledger_len(&site), users + 64, "a proposal and a decision each");
    // A second handle on the same folder (another process: the command line beside a server) sees the
    // first's changes, and the first sees the second's.
    let other = Site::open(&dir, false).unwrap();
    assert_eq!(other.proposals().unwrap().proposals.len(), 32);
    let p = other.propose(Proposer::Model("wear-net@2.1"), &offset("mill-x", 0.004)).unwrap();
    assert_eq!(p.status, Status::AwaitingApproval);
    let alex = site.authenticate("alex", pw("alex")).unwrap();
    let approved = site.decide(&alex, &p.id, Verdict::Approve, "").unwrap();
    assert_eq!(approved.status, Status::Approved);
    let done = other.execute(None, &p.id, Duration::from_secs(1)).unwrap();
    assert_eq!(done.status, Status::Executed);
    assert_eq!(done.approval_record, approved.record);
    assert_eq!(std::fs::read_to_string(dir.join(format!("out/{}.nc", p.id))).unwrap(), "G21\nG90 G10 L11 P5 R-0.0160\n");
    // Both handles and threads at once, then everything verifies from the ledger alone.
    let site2 = Arc::new(other);
    let handles: Vec<_> = [site.clone(), site2.clone(), site.clone(), site2.clone()]
        .into_iter()
        .enumerate()
        .map(|(t, s)| std::thread::spawn(move || (0..5).for_each(|i| {
            s.propose(Proposer::Model("wear-net@2.1"), &offset(&format!("z-{t}-{i}"), 0.001)).unwrap();
        })))
        .collect();
    handles.into_iter().for_each(|h| h.join().unwrap());
    let v = site.audit_verify().unwrap();
    assert!(v.ok, "{:?}", v.problems);
    assert_eq!(v.records, users + 64 + 2 + 1 + 2 + 40);
    assert_eq!(site2.proposals().unwrap().proposals.len(), 53);
}

/// `f` is refused with `kind` and a message holding `text`, and appends nothing to the ledger.
fn refused<T: std::fmt::Debug>(site: &Site, kind: ErrorKind, text: &str, f: impl FnOnce() -> Result<T, SiteError>) {
    let before = ledger_len(site);
    let e = f().expect_err(text);
    assert_eq!(e.kind(), kind, "{e}");
    assert!(e.to_string().contains(text), "expected {text:?} in {e}");
    assert_eq!(ledger_len(site), before, "a refusal records nothing: {e}");
}

#[test]
fn errors_say_what_the_caller_should_do_and_refusals_record_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("none");
    let e = Site::open(&missing, false).unwrap_err();
    assert_eq!((e.kind(), e.kind().http_status()), (ErrorKind::NotFound, 404));
    assert!(!missing.exists(), "nothing created");
    let site = new_site(&tmp.path().join("d"));
    let [olga, alex, erin, aud, ann] = ["olga", "alex", "erin", "aud", "ann"].map(|n| site.authenticate(n, pw(n)).unwrap());
    let e = site.authenticate("alex", "wrong-password").unwrap_err();
    assert_eq!((e.kind(), e.kind().http_status()), (ErrorKind::Unauthenticated, 401));
    assert_eq!(e.to_string(), "cannot authenticate user alex: invalid user name or password");
    assert_eq!(site.authenticate("nobody", "wrong-password").unwrap_err().to_string(), "cannot authenticate user nobody: invalid user name or password");

    let waiting = site.propose(Proposer::Model("wear-net@2.1"), &offset("mill-1", 0.004)).unwrap().id;
    refused(&site, ErrorKind::Forbidden, "olga is operator, and only approver or engineer may decide this proposal", || {
        site.decide(&olga, &waiting, Verdict::Approve, "")
    });
    refused(&site, ErrorKind::Forbidden, "ann is admin", || site.decide(&ann, &waiting, Verdict::Approve, ""));
    refused(&site, ErrorKind::Forbidden, "auditors read, they do not propose", || site.propose(Proposer::Person(&aud), &offset("m", 0.001)));
    refused(&site, ErrorKind::Forbidden, "auditors read, they do not execute", || site.execute(Some(&aud), &waiting, Duration::from_secs(1)));
    refused(&site, ErrorKind::Forbidden, "may not resume the gate", || site.resume(&olga, "x"));
    refused(&site, ErrorKind::Forbidden, "may not stop the gate", || site.stop(&aud, "x"));
    refused(&site, ErrorKind::Forbidden, "only admins add users", || site.add_user(Some(&olga), "newbie", Role::Operator, "newbie-pass-1"));
    refused(&site, ErrorKind::Forbidden, "only an admin adds users", || site.add_user(None, "newbie", Role::Admin, "newbie-pass-1"));
    refused(&site, ErrorKind::NotFound, "no proposal p-9999", || site.decide(&alex, "p-9999", Verdict::Approve, ""));
    refused(&site, ErrorKind::NotFound, "no proposal p-9999", || site.proposal("p-9999"));
    refused(&site, ErrorKind::NotFound, "no finding f-0042", || site.challenge(&olga, "f-0042", "why", None));
    refused(&site, ErrorKind::NotFound, "record 999 is not in the ledger", || site.record_proof(999));
    refused(&site, ErrorKind::BadRequest, "exceeds the limit", || site.propose(Proposer::Model("x@1"), &offset("m", 0.9)));
    refused(&site, ErrorKind::BadRequest, "NAME@VERSION", || site.propose(Proposer::Model("noversion"), &offset("m", 0.001)));
    refused(&site, ErrorKind::BadRequest, "--reason is required to reject", || site.decide(&alex, &waiting, Verdict::Reject, " "));
    refused(&site, ErrorKind::BadRequest, "user name", || site.add_user(Some(&ann), "Bad Name", Role::Operator, "newbie-pass-1"));
    refused(&site, ErrorKind::BadRequest, "at least 8 characters", || site.add_user(Some(&ann), "newbie", Role::Operator, "short"));
    let mut bad_id = offset("m", 0.001);
    bad_id.id = Some("../x".into());
    refused(&site, ErrorKind::BadRequest, "proposal id", || site.propose(Proposer::Model("x@1"), &bad_id));
    let mut bad_evidence = offset("m", 0.001);
    bad_evidence.evidence = vec!["zz".into()];
    refused(&site, ErrorKind::BadRequest, "evidence", || site.propose(Proposer::Model("x@1"), &bad_evidence));
    let mut bad_write = offset("m", 0.001);
    bad_write.action = ActionSpec::DriverWrite { device: "teleport://x".into(), address: "hr:1".into(), value: 1.into(), machine: None };
    refused(&site, ErrorKind::BadRequest, "teleport", || site.propose(Proposer::Model("x@1"), &bad_write));
    refused(&site, ErrorKind::Conflict, "awaiting_approval", || site.execute(None, &waiting, Duration::from_secs(1)));
    refused(&site, ErrorKind::Conflict, "already exists", || site.add_user(Some(&ann), "olga", Role::Operator, "newbie-pass-1"));
    let mut dup = offset("m", 0.001);
    dup.id = Some(waiting.clone());
    refused(&site, ErrorKind::Conflict, "already exists", || site.propose(Proposer::Model("x@1"), &dup));
    // Two engineers for safety-critical work: the same engineer twice is a conflict, not a second person.
    let mut sc = offset("caster-1", 0.0001);
    sc.subsystem = Some("brake-caliper-casting".into());
    let sc = site.propose(Proposer::Model("x@1"), &sc).unwrap();
    refused(&site, ErrorKind::Forbidden, "only engineer may decide this safety-critical proposal", || site.decide(&alex, &sc.id, Verdict::Approve, ""));
    site.decide(&erin, &sc.id, Verdict::Approve, "").unwrap();
    refused(&site, ErrorKind::Conflict, "erin has already approved it", || site.decide(&erin, &sc.id, Verdict::Approve, ""));
    // While stopped: no approval (conflict: not now), a veto still works.
    site.stop(&olga, "coolant leak").unwrap();
    refused(&site, ErrorKind::Conflict, "the gate is stopped", || site.decide(&alex, &waiting, Verdict::Approve, ""));
    assert_eq!(site.decide(&alex, &waiting, Verdict::Reject, "not now").unwrap().status, Status::Rejected);
    assert!(site.audit_verify().unwrap().ok);
}

#[test]
fn an_authenticated_user_who_is_no_longer_a_user_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    let site = new_site(&dir);
    let erin = site.authenticate("erin", pw("erin")).unwrap();
    let p = site.propose(Proposer::Model("x@1"), &offset("m", 0.004)).unwrap();
    // Another process replaces users.json without erin (a restore from a backup).
    let path = dir.join("users.json");
    let mut users: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    users["users"].as_array_mut().unwrap().retain(|u| u["name"] != "erin");
    std::fs::write(&path, serde_json::to_string_pretty(&users).unwrap()).unwrap();
    let e = site.decide(&erin, &p.id, Verdict::Approve, "").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Forbidden);
    assert!(e.to_string().contains("erin is not a user of this site"), "{e}");
    assert_eq!(site.proposal(&p.id).unwrap().status, Status::AwaitingApproval);
}

#[test]
fn executing_records_the_capability_before_the_outcome_and_a_failure_is_a_result() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    let site = new_site(&dir);
    let olga = site.authenticate("olga", pw("olga")).unwrap();
    let p = site.propose(Proposer::Model("wear-net@2.1"), &offset("mill-3", 0.002)).unwrap();
    assert_eq!((p.status, p.records.len()), (Status::AutoApproved, 2));
    let done = site.execute(Some(&olga), &p.id, Duration::from_secs(1)).unwrap();
    assert!(done.ok());
    assert_eq!(done.approval_record, p.records[1], "the policy's decision approved it");
    assert!(done.approval_record < done.capability_record && done.capability_record < done.execution_record);
    let chain = site.chain(&p.id).unwrap();
    let kinds: Vec<&str> = chain.chain.iter().filter(|l| l.about.contains(&p.id)).map(|l| l.kind).collect();
    assert_eq!(kinds, ["proposal", "decision", "capability", "execution"]);
    // A write to a device that is not there fails: recorded, reported, not an error.
    let mut w = offset("x", 0.0);
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    w.action = ActionSpec::DriverWrite { device: format!("modbus://127.0.0.1:{port}?unit=1"), address: "hr:1".into(), value: 7.into(), machine: None };
    let wp = site.propose(Proposer::Person(&olga), &w).unwrap();
    assert_eq!(wp.status, Status::AwaitingApproval);
    let alex = site.authenticate("alex", pw("alex")).unwrap();
    site.decide(&alex, &wp.id, Verdict::Approve, "").unwrap();
    let failed = site.execute(Some(&olga), &wp.id, Duration::from_millis(500)).unwrap();
    assert_eq!(failed.status, Status::Failed, "{failed:?}");
    assert_eq!(site.proposal(&wp.id).unwrap().status, Status::Failed);
    assert!(site.audit_verify().unwrap().ok);
}

const SKF6205: BearingGeometry = BearingGeometry { elements: 9, element_d: 0.3126, pitch_d: 1.537, contact_angle_deg: 0.0 };

/// A synthetic outer-race recording diagnosed and recorded as findings on machine `motor-1`.
fn record_finding(site: &Site, dir: &Path, tmp: &Path) -> String {
    let mut c = BearingSimConfig::new(12_000.0, 4.0, 29.95, SKF6205);
    c.fault = Some((FaultKind::Outer, 1.0));
    // Shaft harmonics, as a real machine has: the diagnostics estimate the speed from them.
    c.shaft_harmonics = vec![0.3, 0.1];
    c.seed = 3;
    let csv = tmp.join("motor-1.csv");
    let text: String = std::iter::once("de".to_owned()).chain(simulate(&c).unwrap().iter().map(|v| v.to_string())).collect::<Vec<_>>().join("\n");
    std::fs::write(&csv, text + "\n").unwrap();
    let mut req = RecordRequest::new(csv.clone(), "de".into(), 12_000.0, 29.95);
    req.bearing = Some(SKF6205);
    req.machine = Some("motor-1".into());
    req.start_ms = Some(1_767_225_600_000);
    // Without a case library the request is refused unless it says so.
    let e = fos_site::findings::analyze(&req, dir).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert!(e.to_string().contains("no case library"), "{e}");
    req.no_cases = true;
    let a = fos_site::findings::analyze(&req, dir).unwrap();
    assert!(a.findings() >= 1, "{:?}", a.report());
    let out = site.record_findings(&a).unwrap();
    assert_eq!(out.flagged as usize, a.report().flagged as usize);
    let f = &out.findings[0];
    assert_eq!(f.label, "outer", "{f:?}");
    assert!(f.simulation_matches, "{f:?}");
    assert!(f.blocks > 0);
    f.id.clone()
}

#[test]
fn findings_are_challenged_and_settled_by_the_right_people_and_counted() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    let site = new_site(&dir);
    let id = record_finding(&site, &dir, tmp.path());
    let [olga, alex, erin, ezra, aud] = ["olga", "alex", "erin", "ezra", "aud"].map(|n| site.authenticate(n, pw(n)).unwrap());
    refused(&site, ErrorKind::Forbidden, "auditors read the ledger and do not challenge", || site.challenge(&aud, &id, "looks off", None));
    refused(&site, ErrorKind::BadRequest, "--reason must not be empty", || site.challenge(&olga, &id, " ", None));
    site.challenge(&erin, &id, "coupling noise", Some("misalignment")).unwrap();
    site.challenge(&olga, &id, "humidity, not bearing wear", Some("humidity")).unwrap();
    // erin raised a challenge still open, though not the last one: erin may not settle it.
    refused(&site, ErrorKind::Forbidden, "erin raised the open challenge", || site.finding_verdict(&erin, &id, Outcome::Disputed, None, ""));
    refused(&site, ErrorKind::Forbidden, "engineer or an approver", || site.finding_verdict(&olga, &id, Outcome::Confirmed, None, ""));
    refused(&site, ErrorKind::BadRequest, "keeps its label outer", || site.finding_verdict(&ezra, &id, Outcome::Confirmed, Some("inner"), ""));
    // Disputed without a label: the open challenge's alternative.
    let v = site.finding_verdict(&ezra, &id, Outcome::Disputed, None, "dried the sensor, lines gone").unwrap();
    assert_eq!((v.kind, v.label.as_deref()), ("disputed", Some("humidity")));
    // After the verdict, erin's challenge is settled: erin may give the next verdict.
    let again = site.finding_verdict(&erin, &id, Outcome::Confirmed, None, "spall on the outer race").unwrap();
    assert_eq!(again.label.as_deref(), Some("outer"));
    let list = site.findings().unwrap();
    let me = list.iter().find(|f| f.id == id).unwrap();
    assert_eq!((me.status, me.verdict_label.as_deref(), me.machine.as_str()), ("confirmed", Some("outer"), "motor-1"));
    let d = site.finding(&id).unwrap();
    assert_eq!((d.state.challenges.len(), d.state.verdicts.len()), (2, 2));
    assert!(d.used.iter().any(|r| matches!(r, fos_prov::Ref::Content { entity, .. } if entity == "waveform-block")));
    let stats = site.finding_stats().unwrap();
    assert_eq!((stats.overall.challenged, stats.overall.confirmed, stats.overall.disputed), (1, 1, 0));
    assert_eq!(stats.machines["motor-1"].findings, stats.overall.findings);
    let labels = site.finding_labels().unwrap();
    let row = labels.iter().find(|l| l.finding_id == id).unwrap();
    assert_eq!((row.outcome.as_str(), row.label.as_str(), row.verdict_by.as_str()), ("confirmed", "outer", "erin"));
    assert!(row.window_start.starts_with("2026-01-01T00:00:"), "{row:?}");
    // The read functions on the ledger alone agree with the site's.
    let records = fos_site::read_records(&dir).unwrap();
    assert_eq!(fos_site::findings::list(&records).len(), list.len());
    let v = site.audit_verify().unwrap();
    assert!(v.ok, "{:?}", v.problems);
    let _ = alex;
}

#[test]
fn the_audit_proves_records_offline_and_exports_evidence() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    let site = new_site(&dir);
    let p = site.propose(Proposer::Model("wear-net@2.1"), &offset("mill-1", 0.002)).unwrap();
    site.execute(None, &p.id, Duration::from_secs(1)).unwrap();
    let cp = site.checkpoint().unwrap().unwrap();
    assert_eq!(cp.size, ledger_len(&site));
    assert_eq!(cp.origin, "fos/site");
    let key = fos_site::parse_public_key(&cp.public_key).unwrap();
    assert_eq!(fos_site::parse_public_key(&cp.verifier_key).unwrap(), key);
    // One record with its bundle; every record of the proposal; checked with the key alone.
    let r = site.record_proof(p.records[0]).unwrap();
    assert_eq!(r.record.kind(), "proposal");
    assert_eq!(r.bundle.verify_with_key(&key).unwrap().index, p.records[0]);
    let bundles = site.prove(&p.id).unwrap();
    assert_eq!(bundles.len(), 4);
    let checked = fos_site::audit::check_proofs(&bundles, &key);
    assert!(checked.ok);
    let other = ed25519_dalek::SigningKey::from_bytes(&[7; 32]).verifying_key();
    assert!(!fos_site::audit::check_proofs(&bundles, &other).ok);
    // An evidence bundle of everything, and the same verification without the site's lock.
    let out = tmp.path().join("evidence");
    let paths = Paths::new(&dir);
    let e = fos_site::audit::export(&paths, None, 0, 4_102_444_800_000, &out).unwrap();
    assert_eq!(e.records as u64, cp.size);
    assert!(out.join("README.md").exists() && out.join(format!("proofs/{:08}.json", p.records[0])).exists());
    let e = fos_site::audit::export(&paths, None, 0, 4_102_444_800_000, &out).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::BadRequest);
    let v = fos_site::audit::verify(&paths, Some(key)).unwrap();
    assert!(v.ok && v.verifier_key.is_none());
    assert!(!fos_site::audit::verify(&paths, Some(other)).unwrap().ok);
}
