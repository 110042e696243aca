//! Real-binary tests of `fos users` and `fos gate`: the issue's policy rules through the command line
//! (0.002 mm applies automatically and is logged, 0.004 mm waits, operators never approve,
//! safety-critical changes need two engineers at any size, the stop halts everything, small changes
//! cannot creep past the tolerance), every kind of proposal carried out, and a write that reaches a real
//! Modbus peer (pymodbus) only after a logged approval. A missing peer skips loudly, and fails under
//! `CI=true`.

mod gate_support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use gate_support::*;

#[test]
fn users_first_an_admin_then_only_admins_add_users() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    let d = data.to_str().unwrap();
    let add = |args: &[&str], envs: &[(&str, &str)]| {
        let mut all = vec!["users", "add"];
        all.extend(args);
        all.extend(["--data-dir", d]);
        fos_env(&all, envs)
    };
    add(&["olga", "--role", "operator"], &[("FOS_PASSWORD", "operator-pass-1")]).refused("must be an admin");
    add(&["ann", "--role", "admin"], &[]).refused("FOS_PASSWORD");
    add(&["ann", "--role", "admin"], &[("FOS_PASSWORD", "short")]).refused("at least 8 characters");
    let ann = add(&["ann", "--role", "admin", "--json"], &[("FOS_PASSWORD", "admin-pass-1")]).ok().json();
    assert_eq!((ann["name"].as_str(), ann["role"].as_str()), (Some("ann"), Some("admin")));
    assert_eq!(ann["public_key"].as_str().map(str::len), Some(64));
    // Afterwards: never without an admin, never by a non-admin, never with a wrong password.
    add(&["eve", "--role", "admin"], &[("FOS_PASSWORD", "admin-pass-1")]).refused("only an admin adds users");
    let run = |name: &str, role: &str, acting: &str, pw: &str| {
        add(&[name, "--role", role, "--user", acting], &[("FOS_PASSWORD", pw), ("FOS_NEW_PASSWORD", "new-pass-123")])
    };
    run("olga", "operator", "ann", "wrong-password").refused("invalid user name or password");
    run("olga", "operator", "ann", "admin-pass-1").ok();
    run("max", "engineer", "olga", "new-pass-123").refused("only admins add users");
    run("olga", "engineer", "ann", "admin-pass-1").refused("already exists");
    run("Bad Name", "engineer", "ann", "admin-pass-1").refused("user name");
    add(&["x", "--role", "boss", "--user", "ann"], &[("FOS_PASSWORD", "admin-pass-1")]).refused("unknown role");
    let list = fos_env(&["users", "list", "--data-dir", d, "--json"], &[]).ok().json();
    let names: Vec<(&str, &str)> =
        list.as_array().unwrap().iter().map(|u| (u["name"].as_str().unwrap(), u["role"].as_str().unwrap())).collect();
    assert_eq!(names, [("ann", "admin"), ("olga", "operator")]);
    // users.json holds no password and is private; the ledger recorded both additions, nothing else.
    let users = std::fs::read_to_string(data.join("users.json")).unwrap();
    assert!(!users.contains("admin-pass-1") && !users.contains("new-pass-123"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for f in ["users.json", "keys/ledger.key", "keys/gate-permit.key"] {
            assert_eq!(std::fs::metadata(data.join(f)).unwrap().permissions().mode() & 0o077, 0, "{f}");
        }
    }
    let verify = fos_env(&["audit", "verify", "--data-dir", d, "--json"], &[]).ok().json();
    assert_eq!((verify["ok"].as_bool(), verify["records"].as_u64()), (Some(true), Some(2)));
    let ledger: Vec<String> =
        std::fs::read_dir(data.join("ledger")).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    let mut ledger = ledger;
    ledger.sort();
    assert_eq!(ledger, ["checkpoints.log", "records.log"], "the ledger folder holds the log only");
}

#[test]
fn within_tolerance_applies_automatically_and_is_logged() {
    let site = Site::new();
    let p = site.ai_offset("mill-3", "0.002", &["--tool", "5", "--current-mm", "-0.02"]);
    assert_eq!(p["status"], "auto_approved", "{p}");
    let id = p["id"].as_str().unwrap();
    // Logged before it was reported: the proposal (by the model) and the gate's decision.
    let about = site.records_about(id);
    assert_eq!(about.iter().map(|(_, k)| k.as_str()).collect::<Vec<_>>(), ["proposal", "decision"]);
    let shown = site.run(&["audit", "show", id]).ok().json();
    let decision = shown["chain"].as_array().unwrap().iter().find(|l| l["kind"] == "decision").unwrap();
    assert_eq!(decision["record"]["entity"]["decision"]["outcome"], "auto_approve");
    assert_eq!(decision["record"]["entity"]["cumulative_before_mm"], 0.0);
    assert_eq!(decision["record"]["entity"]["tolerance_mm"], 0.003);
    assert_eq!(decision["record"]["actor"]["name"], "gate");
    let proposal = shown["chain"].as_array().unwrap().iter().find(|l| l["kind"] == "proposal").unwrap();
    assert_eq!(proposal["record"]["actor"], serde_json::json!({"type": "model", "name": "wear-net", "version": "2.1"}));
    assert_eq!(proposal["record"]["entity"]["payload_hash"], p["payload_hash"]);
    // Executed without a person; the absolute G10 block is written.
    let done = site.run(&["gate", "execute", id]).ok().json();
    assert_eq!(done["status"], "executed");
    let gcode = std::fs::read_to_string(site.path(&format!("out/{id}.nc"))).unwrap();
    assert_eq!(gcode, "G21\nG90 G10 L11 P5 R-0.0180\n");
    assert!(done["approval_record"].as_u64() < done["capability_record"].as_u64());
    assert!(done["capability_record"].as_u64() < done["execution_record"].as_u64());
    assert_eq!(site.status(id), "executed");
    site.run(&["gate", "execute", id]).refused("not approved or auto_approved");
    assert_eq!(site.run(&["audit", "verify"]).ok().json()["ok"], true);
}

#[test]
fn beyond_tolerance_waits_and_an_operator_cannot_approve() {
    let site = Site::new();
    let p = site.ai_offset("mill-3", "0.004", &[]);
    assert_eq!(p["status"], "awaiting_approval", "{p}");
    assert!(p["decision"]["reasons"][0].as_str().unwrap().contains("exceeds the tolerance 0.003 mm"), "{p}");
    let id = p["id"].as_str().unwrap();
    site.run(&["gate", "execute", id]).refused("awaiting_approval");
    site.as_user("olga", &["gate", "approve", id]).refused("olga is operator");
    site.as_user("aud", &["gate", "approve", id]).refused("aud is auditor");
    // A wrong password signs nothing.
    site.anon(&["gate", "approve", id, "--user", "alex"], &[("FOS_PASSWORD", "guess-guess")]).refused("invalid user name or password");
    site.anon(&["gate", "approve", id, "--user", "alex"], &[]).refused("FOS_PASSWORD");
    assert_eq!(site.records_about(id).len(), 2, "refusals record nothing");
    let ok = site.as_user("alex", &["gate", "approve", id]).ok().json();
    assert_eq!((ok["status"].as_str(), ok["approvals"].as_u64(), ok["required"].as_u64()), (Some("approved"), Some(1), Some(1)));
    // The approval is signed over the exact payload hash and recorded with the signer's role.
    let shown = site.run(&["audit", "show", id]).ok().json();
    let approval = shown["chain"].as_array().unwrap().iter().find(|l| l["kind"] == "approval").unwrap();
    let entity = &approval["record"]["entity"];
    assert_eq!(entity["signature"]["payload_hash"], p["payload_hash"]);
    assert_eq!(entity["signature"]["by"], "alex");
    assert_eq!(entity["role"], "approver");
    assert_eq!(entity["signature"]["signature"].as_str().map(str::len), Some(128));
    assert_eq!(site.run(&["gate", "execute", id]).ok().json()["status"], "executed");
    // A rejection needs a reason, and what is executed cannot be rejected; it can be reversed.
    site.as_user("alex", &["gate", "reject", id]).refused("--reason is required");
    site.as_user("alex", &["gate", "reject", id, "--reason", "late"]).refused("executed");
    let rev = site.as_user("alex", &["gate", "reverse", id, "--reason", "surface finish worse"]).ok().json();
    assert_eq!(rev["status"], "reversed");
    assert_eq!(site.run(&["audit", "verify"]).ok().json()["ok"], true);
}

#[test]
fn safety_critical_needs_two_engineers_at_any_size() {
    let site = Site::new();
    let p = site.ai_offset("caster-2", "0.0001", &["--subsystem", "brake-caliper-casting"]);
    assert_eq!(p["status"], "awaiting_approval", "{p}");
    assert_eq!(p["decision"]["required"], 2);
    assert_eq!(p["decision"]["safety_critical"], true);
    let id = p["id"].as_str().unwrap();
    site.as_user("alex", &["gate", "approve", id]).refused("only engineer may decide this safety-critical proposal");
    let first = site.as_user("erin", &["gate", "approve", id]).ok().json();
    assert_eq!((first["status"].as_str(), first["approvals"].as_u64()), (Some("awaiting_approval"), Some(1)));
    site.run(&["gate", "execute", id]).refused("awaiting_approval");
    site.as_user("erin", &["gate", "approve", id]).refused("erin has already approved it");
    let second = site.as_user("ezra", &["gate", "approve", id]).ok().json();
    assert_eq!((second["status"].as_str(), second["approvals"].as_u64()), (Some("approved"), Some(2)));

    // A tag makes it safety-critical too; a person proposing never counts as an approver of their own.
    let mine = site
        .as_user("pat", &["gate", "propose", "--kind", "tool-offset", "--machine", "fca-1", "--delta-mm", "0.001", "--tag", "flight-control-actuation"])
        .ok()
        .json();
    assert_eq!(mine["status"], "awaiting_approval");
    assert_eq!(mine["initiated_by"], "user:pat");
    let mine = mine["id"].as_str().unwrap();
    site.as_user("pat", &["gate", "approve", mine]).refused("pat proposed it and cannot approve it");
    site.as_user("erin", &["gate", "approve", mine]).ok();
    assert_eq!(site.as_user("ezra", &["gate", "approve", mine]).ok().json()["status"], "approved");
    // Auditors read; they do not propose.
    site.as_user("aud", &["gate", "propose", "--kind", "tool-offset", "--machine", "m", "--delta-mm", "0.001"]).refused("auditor");
}

#[test]
fn the_stop_halts_everything() {
    let site = Site::new();
    let auto = site.ai_offset("mill-1", "0.001", &[]);
    assert_eq!(auto["status"], "auto_approved");
    let auto = auto["id"].as_str().unwrap();
    let waiting = site.ai_offset("mill-2", "0.01", &[]);
    let waiting = waiting["id"].as_str().unwrap();
    site.as_user("aud", &["gate", "stop", "--reason", "look"]).refused("may not stop the gate");
    let stop = site.as_user("olga", &["gate", "stop", "--reason", "coolant leak at mill 1"]).ok().json();
    assert_eq!(stop["held"], serde_json::json!([auto]), "the AI's automatic approval is held");
    assert_eq!(site.status(auto), "awaiting_approval");
    let list = site.run(&["gate", "list"]).ok().json();
    assert_eq!(list["halted"], true);
    assert_eq!(list["halt"]["by"], "user:olga");
    // While stopped: nothing executes, new AI changes are not auto-approved, nothing is approved.
    site.run(&["gate", "execute", auto]).refused("the gate is stopped");
    let new = site.ai_offset("mill-3", "0.0005", &[]);
    assert_eq!(new["status"], "awaiting_approval", "{new}");
    assert!(new["decision"]["reasons"].to_string().contains("the gate is stopped"), "{new}");
    site.as_user("alex", &["gate", "approve", waiting]).refused("the gate is stopped");
    // A veto still works while stopped.
    assert_eq!(site.as_user("alex", &["gate", "reject", waiting, "--reason", "not now"]).ok().json()["status"], "rejected");
    // An operator may stop but not resume; an engineer resumes; held actions stay held until approved.
    site.as_user("olga", &["gate", "resume", "--reason", "fixed"]).refused("may not resume");
    site.as_user("erin", &["gate", "resume", "--reason", "leak fixed"]).ok();
    assert_eq!(site.run(&["gate", "list"]).ok().json()["halted"], false);
    site.run(&["gate", "execute", auto]).refused("awaiting_approval");
    site.as_user("alex", &["gate", "approve", auto]).ok();
    assert_eq!(site.run(&["gate", "execute", auto]).ok().json()["status"], "executed");
    // The stop, the hold and the resume are in the ledger, in that order, and all of it verifies.
    let kinds: Vec<String> = site.records_about(auto).into_iter().map(|(_, k)| k).collect();
    assert_eq!(kinds, ["proposal", "decision", "stop", "approval", "capability", "execution"]);
    let verify = site.run(&["audit", "verify"]).ok().json();
    assert_eq!(verify["ok"], true, "{verify}");
}

#[test]
fn a_waiting_proposal_expires_and_the_expiry_is_logged() {
    let site = Site::new();
    let p = site.ai_offset("mill-3", "0.004", &[]);
    let id = p["id"].as_str().unwrap();
    // Let a day and an hour pass for this proposal (the default expiry is 24 h).
    let file = site.path(&format!("gate/proposals/{id}.json"));
    let mut v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let since = v["awaiting_since"].as_u64().unwrap() - 25 * 3600;
    v["awaiting_since"] = since.into();
    std::fs::write(&file, serde_json::to_string_pretty(&v).unwrap()).unwrap();
    site.as_user("alex", &["gate", "approve", id]).refused("expired");
    assert_eq!(site.status(id), "expired");
    let kinds: Vec<String> = site.records_about(id).into_iter().map(|(_, k)| k).collect();
    assert_eq!(kinds, ["proposal", "decision", "expiry"]);
    assert_eq!(site.run(&["audit", "verify"]).ok().json()["ok"], true);
}

#[test]
fn gate_commands_need_an_existing_site_and_show_describes_a_proposal() {
    let tmp = tempfile::tempdir().unwrap();
    let none = tmp.path().join("none");
    let run = fos_env(&["gate", "list", "--data-dir", none.to_str().unwrap()], &[]);
    assert_eq!(run.code, Some(2));
    assert!(run.stderr.contains("is not a FOS site"), "{}", run.stderr);
    assert!(!none.exists(), "nothing was created");
    let site = Site::new();
    let p = site.ai_offset("mill-3", "0.004", &["--tool", "9", "--reason", "wear model says 4 µm short"]);
    let id = p["id"].as_str().unwrap();
    let shown = site.run(&["gate", "show", id]).ok().json();
    assert_eq!(shown["status"], "awaiting_approval");
    assert_eq!(shown["executable"], "G21\nG90 G10 L11 P9 R0.0040\n");
    assert_eq!(shown["action"]["kind"], "tool-offset");
    assert_eq!(shown["proposal"]["facts"]["payload_hash"], p["payload_hash"]);
    assert_eq!(shown["records"].as_array().unwrap().len(), 2);
    let text = site.anon(&["gate", "show", id], &[]).ok();
    assert!(text.stdout.contains("G90 G10 L11 P9 R0.0040"), "{}", text.stdout);
    // An explicit id is unique, in the gate and in the ledger.
    site.run(&["gate", "propose", "--kind", "tool-offset", "--machine", "m", "--delta-mm", "0.001", "--model", "x@1", "--id", id])
        .refused("already exists");
    site.run(&["gate", "propose", "--kind", "tool-offset", "--machine", "m", "--delta-mm", "0.001", "--model", "x@1", "--id", "../x"])
        .refused("proposal id");
    site.run(&["gate", "show", "p-9999"]).refused("no proposal p-9999");
    assert!(site.path("keys/gate-permit.pub").exists());
}

#[test]
fn small_changes_cannot_creep_past_the_tolerance() {
    let site = Site::new();
    assert_eq!(site.ai_offset("mill-7", "0.002", &[])["status"], "auto_approved");
    let second = site.ai_offset("mill-7", "-0.002", &[]);
    assert_eq!(second["status"], "awaiting_approval", "{second}");
    assert_eq!(second["cumulative_before_mm"], 0.002);
    assert!(second["decision"]["reasons"][0].as_str().unwrap().contains("cumulative deviation on machine mill-7"), "{second}");
    // Another machine has its own budget; a person's approval on mill-7 starts it again.
    assert_eq!(site.ai_offset("mill-8", "0.002", &[])["status"], "auto_approved");
    site.as_user("erin", &["gate", "approve", second["id"].as_str().unwrap()]).ok();
    assert_eq!(site.ai_offset("mill-7", "0.001", &[])["cumulative_before_mm"], 0.002, "the first change had not executed yet");
}

#[test]
fn every_kind_of_proposal_executes_to_what_was_approved() {
    let site = Site::new();
    // A toolpath correction of a real program, verified again before it is handed out.
    let program = workspace().join("fuzz/corpus/gcode/mill_pocket.nc");
    let program = program.to_str().unwrap();
    let tp = site
        .run(&["gate", "propose", "--kind", "toolpath", "--machine", "mill-4", "--program", program, "--delta-mm", "0.002", "--model", "thermal@1.0"])
        .ok()
        .json();
    assert_eq!(tp["status"], "auto_approved", "{tp}");
    let tp_id = tp["id"].as_str().unwrap();
    let done = site.run(&["gate", "execute", tp_id]).ok().json();
    assert!(done["detail"].as_str().unwrap().contains("verified again"), "{done}");
    let out = std::fs::read_to_string(site.path(&format!("out/{tp_id}.nc"))).unwrap();
    let original = std::fs::read_to_string(program).unwrap();
    assert_ne!(out, original);
    assert!(out.contains("G1 Z-1.998"), "{out}");
    // Work offset: absolute G10 L2.
    let wo = site
        .run(&["gate", "propose", "--kind", "work-offset", "--machine", "mill-5", "--work-offset", "G55", "--current-mm", "-120,-80,-30.5", "--delta-mm", "0.001,0,0", "--model", "probe@3"])
        .ok()
        .json();
    assert_eq!(wo["status"], "auto_approved", "{wo}");
    site.run(&["gate", "execute", wo["id"].as_str().unwrap()]).ok();
    let g = std::fs::read_to_string(site.path(&format!("out/{}.nc", wo["id"].as_str().unwrap()))).unwrap();
    assert_eq!(g, "G21\nG90 G10 L2 P2 X-119.9990\n");
    // A weld reroute around a degraded torch: a person must approve it (no tolerance measures heat).
    let cell = site.tmp.path().join("cell.json");
    std::fs::write(
        &cell,
        r#"{"cell": {"torches": [{"id": "T1", "home": [0, 0, 0], "travel_speed_mm_s": 100, "health": 1.0},
                                 {"id": "T2", "home": [1000, 0, 0], "travel_speed_mm_s": 100, "health": 0.3}],
                     "welds": [{"id": "w1", "pos": [0, 100, 0], "length_mm": 10, "nominal_seconds": 20, "reachable_by": ["T1"]},
                               {"id": "w2", "pos": [500, 100, 0], "length_mm": 10, "nominal_seconds": 20, "reachable_by": ["T1", "T2"]},
                               {"id": "w3", "pos": [1000, 100, 0], "length_mm": 10, "nominal_seconds": 20, "reachable_by": ["T1", "T2"]}]},
            "current_plan": {"sequences": {"T1": ["w1"], "T2": ["w2", "w3"]}}}"#,
    )
    .unwrap();
    let weld = site
        .run(&["gate", "propose", "--kind", "weld-reroute", "--machine", "cell-9", "--cell", cell.to_str().unwrap(), "--model", "weld-planner@0.4"])
        .ok()
        .json();
    assert_eq!(weld["status"], "awaiting_approval", "{weld}");
    assert!(weld["decision"]["reasons"][0].as_str().unwrap().contains("weld-reroute always needs a person"), "{weld}");
    let wid = weld["id"].as_str().unwrap();
    site.as_user("alex", &["gate", "approve", wid]).ok();
    site.run(&["gate", "execute", wid]).ok();
    let plan: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(site.path(&format!("out/{wid}.weld.json"))).unwrap()).unwrap();
    assert!(plan["sequences"].is_object(), "{plan}");
    // Bad input is refused before anything is logged, naming the problem.
    site.run(&["gate", "propose", "--kind", "tool-offset", "--machine", "m", "--delta-mm", "0.9", "--model", "x@1"]).refused("exceeds the limit");
    site.run(&["gate", "propose", "--kind", "tool-offset", "--machine", "m", "--delta-mm", "abc", "--model", "x@1"]).refused("not a number");
    site.run(&["gate", "propose", "--kind", "teleport", "--machine", "m", "--model", "x@1"]).refused("--kind \"teleport\"");
    site.run(&["gate", "propose", "--kind", "tool-offset", "--machine", "m", "--delta-mm", "0.001", "--model", "noversion"]).refused("NAME@VERSION");
    site.run(&["gate", "propose", "--kind", "tool-offset", "--machine", "m", "--delta-mm", "0.001"]).refused("--model NAME@VERSION");
    site.run(&["gate", "propose", "--kind", "write", "--device", "modbus://h:502", "--address", "hr:1", "--model", "x@1"]).refused("--value");
    assert_eq!(site.run(&["audit", "verify"]).ok().json()["ok"], true);
}

#[test]
fn an_altered_payload_file_fails_the_execution_and_is_recorded() {
    let site = Site::new();
    let program = workspace().join("fuzz/corpus/gcode/mill_pocket.nc");
    let tp = site
        .run(&["gate", "propose", "--kind", "toolpath", "--machine", "mill-4", "--program", program.to_str().unwrap(), "--delta-mm", "0.001", "--model", "thermal@1.0"])
        .ok()
        .json();
    let id = tp["id"].as_str().unwrap();
    let kept = site.path(&format!("gate/payloads/{id}.nc"));
    let text = std::fs::read_to_string(&kept).unwrap().replace("Z-1.999", "Z-9.999");
    std::fs::write(&kept, text).unwrap();
    let run = site.run(&["gate", "execute", id]);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(run.json()["detail"].as_str().unwrap().contains("no longer hash to what was approved"));
    assert!(!site.path(&format!("out/{id}.nc")).exists(), "nothing handed out");
    assert_eq!(site.status(id), "failed");
    let kinds: Vec<String> = site.records_about(id).into_iter().map(|(_, k)| k).collect();
    assert_eq!(kinds, ["proposal", "decision", "capability", "execution"]);
}

/// Starts our own pymodbus peer (so the shared one's registers stay as they are); None: skipped.
fn modbus_peer() -> Option<(Killed, String)> {
    let py = peers_dir().join("venv/bin/python");
    if !py.exists() {
        let msg = format!("{} missing: run `PEERS_DIR={} bash peers/scripts/peers.sh install`", py.display(), peers_dir().display());
        assert!(!ci(), "{msg}");
        eprintln!("SKIPPING: {msg}");
        return None;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let script = workspace().join("peers/scripts/modbus_server.py");
    let child = Command::new(&py).arg(&script).arg(port.to_string()).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let server = Killed(child);
    let t0 = Instant::now();
    while !port_open(port) {
        assert!(t0.elapsed() < Duration::from_secs(30), "pymodbus did not start on port {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
    Some((server, format!("modbus://127.0.0.1:{port}?unit=1")))
}

fn read_f32(url: &str, address: &str) -> f64 {
    let out = fos_env(&["read", url, address, "--json"], &[]).ok();
    let v: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(v["quality"], "good", "{v}");
    v["value"].as_f64().unwrap()
}

#[test]
fn a_write_reaches_a_real_controller_only_after_a_logged_approval() {
    let Some((_server, url)) = modbus_peer() else { return };
    let site = Site::new();
    let before = read_f32(&url, "hr:40:f32");
    assert_ne!(before, 12.5);
    let p = site
        .run(&["gate", "propose", "--kind", "write", "--device", &url, "--address", "hr:40:f32", "--value", "12.5", "--model", "setpoint-ai@1.2"])
        .ok()
        .json();
    assert_eq!(p["status"], "awaiting_approval", "{p}");
    assert!(p["decision"]["reasons"][0].as_str().unwrap().contains("driver-write always needs a person"));
    let id = p["id"].as_str().unwrap();
    assert_eq!(read_f32(&url, "hr:40:f32"), before, "unchanged after the proposal");
    site.run(&["gate", "execute", id]).refused("awaiting_approval");
    assert_eq!(read_f32(&url, "hr:40:f32"), before, "unchanged after a refused execution");
    site.as_user("olga", &["gate", "approve", id]).refused("olga is operator");
    assert_eq!(read_f32(&url, "hr:40:f32"), before);

    let approved = site.as_user("alex", &["gate", "approve", id]).ok().json();
    let done = site.as_user("erin", &["gate", "execute", id]).ok().json();
    assert_eq!(done["status"], "executed", "{done}");
    assert_eq!(read_f32(&url, "hr:40:f32"), 12.5, "exactly the approved value");
    // The ledger holds the approval before the capability, and that before the execution record.
    let kinds = site.records_about(id);
    let at = |k: &str| kinds.iter().find(|(_, kind)| kind == k).map(|(i, _)| *i).unwrap();
    assert_eq!(at("approval"), approved["record"].as_u64().unwrap());
    assert!(at("approval") < at("capability") && at("capability") < at("execution"), "{kinds:?}");
    let shown = site.run(&["audit", "show", id]).ok().json();
    let exe = shown["chain"].as_array().unwrap().iter().find(|l| l["kind"] == "execution").unwrap();
    assert_eq!(exe["record"]["entity"]["writes"][0]["value"], 12.5);
    assert_eq!(exe["record"]["actor"]["name"], "erin");
    // Executed once: never again.
    site.run(&["gate", "execute", id]).refused("executed");

    // A tool offset held in a controller tag: compare-and-set, then the new absolute value.
    let offset = |current: &str| {
        site.run(&["gate", "propose", "--kind", "tool-offset", "--machine", "mill-6", "--tool", "3", "--current-mm", current, "--delta-mm", "0.004", "--device", &url, "--address", "hr:50:f32", "--model", "wear-net@2.1"])
            .ok()
            .json()
    };
    let held = read_f32(&url, "hr:50:f32");
    let stale = offset("1.0");
    site.as_user("alex", &["gate", "approve", stale["id"].as_str().unwrap()]).ok();
    let failed = site.run(&["gate", "execute", stale["id"].as_str().unwrap()]);
    assert_eq!(failed.code, Some(1), "{}", failed.stderr);
    assert!(failed.json()["detail"].as_str().unwrap().contains("not the 1 mm the proposal assumed"), "{}", failed.stdout);
    assert_eq!(read_f32(&url, "hr:50:f32"), held, "a stale proposal writes nothing");
    let fresh = offset(&held.to_string());
    site.as_user("alex", &["gate", "approve", fresh["id"].as_str().unwrap()]).ok();
    site.run(&["gate", "execute", fresh["id"].as_str().unwrap()]).ok();
    assert!((read_f32(&url, "hr:50:f32") - (held + 0.004)).abs() < 1e-6);
    assert_eq!(site.run(&["audit", "verify"]).ok().json()["ok"], true);
}
