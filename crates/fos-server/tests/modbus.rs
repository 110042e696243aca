//! A write proposed and approved through the API reaches a real Modbus peer (pymodbus, started on a
//! free port) only after the approval, and the ledger records approval, capability and execution in
//! that order. A missing peer skips loudly, and fails under `CI=true`.

mod support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use support::*;

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn port_open(port: u16) -> bool {
    std::net::TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(300)).is_ok()
}

/// Our own pymodbus peer; `None`: skipped.
fn modbus_peer() -> Option<(Killed, u16)> {
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
    Some((server, port))
}

/// Holding register `reg` read by pymodbus's own client (independent of FOS's driver).
fn read_register(port: u16, reg: u16) -> u16 {
    let py = peers_dir().join("venv/bin/python");
    let code = format!(
        "from pymodbus.client import ModbusTcpClient\nc = ModbusTcpClient('127.0.0.1', port={port}); assert c.connect()\n\
         print(c.read_holding_registers({reg}, count=1, device_id=1).registers[0]); c.close()"
    );
    let out = Command::new(&py).arg("-c").arg(code).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

#[test]
fn a_write_approved_through_the_api_reaches_the_controller_only_after_the_approval() {
    let Some((_peer, port)) = modbus_peer() else { return };
    let fx = Fixture::new();
    let before = read_register(port, 30);
    assert_ne!(before, 4242);
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap().block_on(async {
        let (running, base, stop) = fx.start().await;
        let c = client();
        let (erin, alex, olga) = (login(&c, &base, "erin").await, login(&c, &base, "alex").await, login(&c, &base, "olga").await);
        let device = format!("modbus://127.0.0.1:{port}?unit=1");
        let (s, p) = call(
            &c,
            "POST",
            &format!("{base}/api/proposals"),
            Some(&erin),
            Some(json!({"action": {"kind": "driver-write", "device": device, "address": "hr:30", "value": 4242}, "reason": "new setpoint"})),
        )
        .await;
        assert_eq!(s, 200, "{p}");
        assert_eq!(p["status"], "awaiting_approval", "a driver write always needs a person: {p}");
        let id = p["id"].as_str().unwrap().to_owned();
        let url = |what: &str| format!("{base}/api/proposals/{id}/{what}");

        // Not before an approval; not by the proposer; not by an operator.
        let (s, v) = call(&c, "POST", &url("execute"), Some(&olga), None).await;
        assert_eq!(s, 409, "{v}");
        assert!(v["error"].as_str().unwrap().contains("awaiting_approval"), "{v}");
        let (s, v) = call(&c, "POST", &url("approve"), Some(&erin), None).await;
        assert_eq!(s, 403, "{v}");
        assert!(v["error"].as_str().unwrap().contains("erin proposed it and cannot approve it"), "{v}");
        let (s, _) = call(&c, "POST", &url("approve"), Some(&olga), None).await;
        assert_eq!(s, 403);
        assert_eq!(read_register(port, 30), before, "unchanged until approved");

        let (s, approved) = call(&c, "POST", &url("approve"), Some(&alex), Some(json!({"reason": "checked the setpoint sheet"}))).await;
        assert_eq!(s, 200, "{approved}");
        assert_eq!(approved["status"], "approved");
        assert_eq!(read_register(port, 30), before, "an approval alone writes nothing");
        let (s, done) = call(&c, "POST", &url("execute"), Some(&olga), None).await;
        assert_eq!(s, 200, "{done}");
        assert_eq!(done["status"], "executed", "{done}");
        assert_eq!(read_register(port, 30), 4242, "exactly the approved value");
        assert_eq!(done["approval_record"], approved["record"]);
        assert!(done["approval_record"].as_u64() < done["capability_record"].as_u64());
        assert!(done["capability_record"].as_u64() < done["execution_record"].as_u64());
        let (s, v) = call(&c, "POST", &url("execute"), Some(&olga), None).await;
        assert_eq!(s, 409, "executed once, never again: {v}");

        // The ledger says who did what, and verifies.
        let (_, chain) = call(&c, "GET", &format!("{base}/api/ledger/chain/{id}"), Some(&olga), None).await;
        let kinds: Vec<&str> = chain["chain"].as_array().unwrap().iter().filter(|l| l["about"][0] == id.as_str()).map(|l| l["kind"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["proposal", "decision", "approval", "capability", "execution"], "{chain}");
        let exe = chain["chain"].as_array().unwrap().iter().find(|l| l["kind"] == "execution").unwrap();
        assert_eq!(exe["record"]["actor"]["name"], "olga");
        assert_eq!(exe["record"]["entity"]["writes"][0]["value"], 4242);
        let (_, v) = call(&c, "GET", &format!("{base}/api/audit/verify"), Some(&olga), None).await;
        assert_eq!(v["ok"], true, "{v}");
        // An inclusion bundle of the execution verifies with the site's public key alone.
        let (_, rec) = call(&c, "GET", &format!("{base}/api/ledger/records/{}", done["execution_record"]), Some(&olga), None).await;
        let (_, cp) = call(&c, "GET", &format!("{base}/api/ledger/checkpoint"), Some(&olga), None).await;
        let bundle: fos_ledger::InclusionBundle = serde_json::from_value(rec["bundle"].clone()).unwrap();
        let key = fos_site::parse_public_key(cp["public_key"].as_str().unwrap()).unwrap();
        let proven = bundle.verify_with_key(&key).unwrap();
        assert_eq!(proven.index, done["execution_record"].as_u64().unwrap());
        assert_eq!(proven.tree_size, cp["size"].as_u64().unwrap());
        stop.send(()).unwrap();
        running.wait().await.unwrap();
    });
    // The same site through the library: its own audit agrees.
    assert!(fx.site.audit_verify().unwrap().ok);
}
