#![cfg(feature = "enip")]
//! The EtherNet/IP driver against a real third-party target: cpppo's `enip_server` (a Logix tag
//! simulator), cross-checked with pylogix (an independent Logix client).
//!
//! Tests that write start their own `enip_server` on a free port, so the shared peer's values
//! are left alone; the shared peer (ENIP_PORT, 44819) is only read.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use fos_connect::poll::{run_poller, Backoff, PollEvent, PollGroup};
use fos_connect::{
    ConnectError, ConnectOptions, Connection, DataType, Quality, Sample, Value, WriteAccess, WritePermit,
};
use tokio::sync::{mpsc, watch};

const TAGS: &[&str] = &[
    "Counter=DINT",
    "Temp=REAL",
    "Scada=INT[100]",
    "Flag=BOOL",
    "Big=LREAL",
    "Huge=LINT",
    "U=ULINT",
    "S=SINT",
    "Name=STRING",
];

fn key() -> SigningKey {
    SigningKey::from_bytes(&[23u8; 32])
}

fn server_cmd(port: u16) -> Vec<String> {
    let mut cmd = vec![
        common::venv_bin("enip_server").display().to_string(),
        "--no-config".into(),
        "--address".into(),
        format!("127.0.0.1:{port}"),
        "--no-udp".into(),
    ];
    cmd.extend(TAGS.iter().map(|t| t.to_string()));
    cmd
}

/// Our own cpppo server on a free port (None: skipped, cpppo not installed).
fn own_server() -> Option<common::PeerProcess> {
    let port = common::free_port();
    common::PeerProcess::start(server_cmd(port), port)
}

fn url(port: u16) -> String {
    format!("enip://127.0.0.1:{port}?slot=0")
}

fn gated(url: &str) -> Connection {
    let options =
        ConnectOptions { write_access: WriteAccess::Gate(key().verifying_key()), ..ConnectOptions::default() };
    Connection::new(url, options).unwrap()
}

fn permit(conn: &Connection, id: &str, address: &str, value: Value) -> WritePermit {
    WritePermit::issue(&key(), id, conn.url().endpoint(), address, value, Duration::from_secs(60), vec!["test".into()])
}

/// Run pylogix operations: `["w", tag, value]` writes, `["r", tag]` or `["r", tag, count]` reads.
/// Returns `[tag, value, status]` per operation.
fn pylogix(port: u16, ops: serde_json::Value) -> Vec<serde_json::Value> {
    let script = r#"
import sys, json
from pylogix import PLC
out = []
with PLC() as comm:
    comm.IPAddress = "127.0.0.1"; comm.Port = int(sys.argv[1]); comm.ProcessorSlot = 0
    for op in json.loads(sys.argv[2]):
        r = comm.Write(op[1], op[2]) if op[0] == "w" else comm.Read(op[1], *op[2:])
        out.append([op[1], r.Value, r.Status])
print(json.dumps(out))
"#;
    let o = Command::new(common::venv_python())
        .args(["-c", script, &port.to_string(), &ops.to_string()])
        .output()
        .expect("run pylogix");
    assert!(o.status.success(), "pylogix failed: {}", String::from_utf8_lossy(&o.stderr));
    let out: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).expect("pylogix output");
    for r in &out {
        assert_eq!(r[2], "Success", "pylogix: {r}");
    }
    out
}

fn by_address<'a>(samples: &'a [Sample], address: &str) -> &'a Sample {
    samples.iter().find(|s| s.address == address).unwrap_or_else(|| panic!("no sample for {address}"))
}

#[tokio::test]
async fn reads_what_pylogix_wrote_batched_in_few_requests() {
    let Some(peer) = own_server() else { return };
    let scada: Vec<i64> = (0..100).map(|i| i * 37 - 1800).collect();
    pylogix(
        peer.port,
        serde_json::json!([
            ["w", "Scada[0]", scada],
            ["w", "Counter", 123456],
            ["w", "Temp", 77.25],
            ["w", "Flag", true],
            ["w", "Big", -1.5e100],
            ["w", "Huge", -5000000000i64],
            ["w", "U", 18000000000000000000u64],
            ["w", "S", -7],
        ]),
    );
    let mut addrs: Vec<String> = (0..100).map(|i| format!("Scada[{i}]")).collect();
    addrs.extend(["Counter", "Temp", "Flag", "Big", "Huge", "U", "S"].map(String::from));
    for u in [url(peer.port), format!("enip://127.0.0.1:{}?slot=none", peer.port)] {
        let mut conn = Connection::new(&u, ConnectOptions::default()).unwrap();
        let plan = conn.prepare(&addrs).unwrap();
        assert_eq!(conn.plan_requests(plan), 2, "107 tags should take 2 requests");
        conn.connect().await.unwrap();
        let t0 = Instant::now();
        let samples = conn.read(plan).await.unwrap();
        eprintln!("{u}: read {} tags in {:?}", samples.len(), t0.elapsed());
        assert_eq!(samples.len(), addrs.len());
        for (i, want) in scada.iter().enumerate() {
            let s = &samples[i];
            assert_eq!((s.address.as_str(), s.quality), (addrs[i].as_str(), Quality::Good), "{s:?}");
            assert_eq!((s.value.clone(), s.dtype), (Some(Value::Int(*want)), DataType::I16), "{s:?}");
        }
        let expect = [
            ("Counter", Value::Int(123456), DataType::I32),
            ("Temp", Value::Float(77.25), DataType::F32),
            ("Flag", Value::Bool(true), DataType::Bool),
            ("Big", Value::Float(-1.5e100), DataType::F64),
            ("Huge", Value::Int(-5_000_000_000), DataType::I64),
            ("U", Value::UInt(18_000_000_000_000_000_000), DataType::U64),
            ("S", Value::Int(-7), DataType::I8),
        ];
        for (a, v, t) in expect {
            let s = by_address(&samples, a);
            assert_eq!((s.quality, s.value.clone(), s.dtype), (Quality::Good, Some(v), t), "{s:?}");
        }
        // A second read through the same plan gives the same values.
        assert_eq!(conn.read(plan).await.unwrap().iter().filter(|s| s.quality == Quality::Good).count(), addrs.len());
        conn.disconnect().await;
    }
}

#[tokio::test]
async fn gated_write_reads_back_here_and_in_pylogix_and_read_only_refuses() {
    let Some(peer) = own_server() else { return };
    let mut conn = gated(&url(peer.port));
    let writes = [
        ("Counter", Value::Int(-42)),
        ("Temp", Value::Float(12.5)),
        ("Scada[7]", Value::Int(-5)),
        ("Scada[99]", Value::Int(32767)),
        ("Flag", Value::Bool(true)),
        ("Huge", Value::Int(-9_000_000_000_000)),
        ("Big", Value::Float(2.0e-300)),
    ];
    for (i, (a, v)) in writes.iter().enumerate() {
        conn.write(&permit(&conn, &format!("w{i}"), a, v.clone())).await.unwrap_or_else(|e| panic!("write {a}: {e}"));
    }
    let addrs: Vec<String> = writes.iter().map(|(a, _)| a.to_string()).collect();
    let samples = conn.read_once(&addrs).await.unwrap();
    for ((a, v), s) in writes.iter().zip(&samples) {
        assert_eq!((s.address.as_str(), s.value.as_ref()), (*a, Some(v)), "{s:?}");
    }
    let theirs = pylogix(
        peer.port,
        serde_json::json!([
            ["r", "Counter"],
            ["r", "Temp"],
            ["r", "Scada[7]"],
            ["r", "Scada[99]"],
            ["r", "Flag"],
            ["r", "Huge"]
        ]),
    );
    let vals: Vec<&serde_json::Value> = theirs.iter().map(|r| &r[1]).collect();
    assert_eq!(
        vals,
        [
            &serde_json::json!(-42),
            &serde_json::json!(12.5),
            &serde_json::json!(-5),
            &serde_json::json!(32767),
            &serde_json::json!(true),
            &serde_json::json!(-9_000_000_000_000i64)
        ]
    );

    // Out of range for the tag's type (INT): refused before sending, naming value and address.
    let e = conn.write(&permit(&conn, "big", "Scada[7]", Value::Int(70_000))).await.unwrap_err().to_string();
    assert!(e.contains("out of range") && e.contains("Scada[7]"), "{e}");
    // A tag that does not exist: refused with the device's status.
    let e = conn.write(&permit(&conn, "nope", "Nope", Value::Int(1))).await.unwrap_err().to_string();
    assert!(e.contains("Nope") && e.contains("0x05"), "{e}");
    eprintln!("write errors: {e}");

    // Read-only: refused, nothing sent.
    let mut ro = Connection::new(&url(peer.port), ConnectOptions::default()).unwrap();
    let p = WritePermit::issue(
        &key(),
        "ro",
        ro.url().endpoint(),
        "Counter",
        Value::Int(1),
        Duration::from_secs(60),
        vec![],
    );
    let e = ro.write(&p).await.unwrap_err();
    assert!(matches!(e, ConnectError::ReadOnly { .. }), "{e}");
    assert!(!ro.is_connected(), "a read-only write must not even connect");
    assert_eq!(pylogix(peer.port, serde_json::json!([["r", "Counter"]]))[0][1], -42);
}

#[tokio::test]
async fn missing_tags_and_indices_past_the_end_are_bad_address_neighbours_stay_good() {
    let Some(peer) = own_server() else { return };
    pylogix(peer.port, serde_json::json!([["w", "Scada[96]", [96, 97, 98, 99]], ["w", "Counter", 5]]));
    let addrs: Vec<String> =
        ["Counter", "Nope", "Scada[96]", "Scada[97]", "Scada[98]", "Scada[99]", "Scada[100]", "Scada[101]", "Name"]
            .map(String::from)
            .to_vec();
    let mut conn = Connection::new(&url(peer.port), ConnectOptions::default()).unwrap();
    let plan = conn.prepare(&addrs).unwrap();
    conn.connect().await.unwrap();
    for round in 0..2 {
        let samples = conn.read(plan).await.unwrap();
        assert_eq!(samples[0].value, Some(Value::Int(5)), "round {round}: {:?}", samples[0]);
        let nope = &samples[1];
        assert_eq!(nope.quality, Quality::BadAddress, "{nope:?}");
        let d = nope.detail.clone().unwrap();
        if round == 0 {
            eprintln!("{}", samples.iter().map(|s| s.to_json()).collect::<Vec<_>>().join("\n"));
        }
        assert!(d.contains("general status 0x05") && d.contains("no such tag"), "{d}");
        for (i, v) in (2..6).zip(96..) {
            assert_eq!(
                (samples[i].quality, samples[i].value.clone()),
                (Quality::Good, Some(Value::Int(v))),
                "{:?}",
                samples[i]
            );
        }
        for s in &samples[6..8] {
            assert_eq!(s.quality, Quality::BadAddress, "{s:?}");
            assert!(s.detail.as_ref().unwrap().contains("0x2105"), "{s:?}");
        }
        let name = &samples[8];
        assert_eq!(name.quality, Quality::BadTypeMismatch, "{name:?}");
        assert!(name.detail.as_ref().unwrap().contains("STRING"), "{name:?}");
    }
    assert!(conn.is_connected());
}

#[tokio::test]
async fn shared_peer_serves_the_documented_tags_and_has_no_tag_listing() {
    let Some(port) = common::shared_peer("ENIP_PORT", 44819, "cpppo enip_server") else {
        return;
    };
    let addrs: Vec<String> =
        ["Counter", "Temp", "Flag", "Scada[0]", "Scada[1]", "Scada[2]", "Scada[99]"].map(String::from).to_vec();
    let mut conn = Connection::new(&url(port), ConnectOptions::default()).unwrap();
    let samples = conn.read_once(&addrs).await.unwrap();
    let types: Vec<DataType> = samples.iter().map(|s| s.dtype).collect();
    let int = DataType::I16;
    assert_eq!(types, [DataType::I32, DataType::F32, DataType::Bool, int, int, int, int], "{samples:?}");
    assert!(samples.iter().all(|s| s.quality == Quality::Good), "{samples:?}");

    let e = conn.browse().await.unwrap_err().to_string();
    eprintln!("browse: {e}");
    assert!(e.contains("does not support tag listing (CIP service 0x55)") && e.contains("0x08"), "{e}");
    assert!(e.contains(&format!("enip://127.0.0.1:{port}")), "{e}");
    // The driver recovers: reconnect and read again.
    let samples = conn.read_once(&addrs).await.unwrap();
    assert!(samples.iter().all(|s| s.quality == Quality::Good), "{samples:?}");
}

#[tokio::test]
async fn bad_addresses_are_refused_naming_them() {
    let mut conn = Connection::new("enip://127.0.0.1:1", ConnectOptions::default()).unwrap();
    for a in ["Scada[x]", "Tag.3", "Bad-Name", ""] {
        let e = conn.prepare(&["Counter".to_string(), a.to_string()]).unwrap_err();
        assert!(matches!(e, ConnectError::Address { .. }), "{e}");
        assert!(e.to_string().contains(&format!("{a:?}")), "{e}");
    }
    let e = Connection::new("enip://127.0.0.1:1?slot=99999", ConnectOptions::default()).unwrap_err().to_string();
    assert!(e.contains("slot"), "{e}");
}

#[tokio::test]
async fn reconnects_after_the_peer_restarts() {
    let Some(mut peer) = own_server() else { return };
    pylogix(peer.port, serde_json::json!([["w", "Counter", 77]]));
    let addrs = vec!["Counter".to_string(), "Scada[3]".to_string()];
    let mut conn = Connection::new(&url(peer.port), ConnectOptions::default()).unwrap();
    let plan = conn.prepare(&addrs).unwrap();
    conn.connect().await.unwrap();
    assert_eq!(conn.read(plan).await.unwrap()[0].value, Some(Value::Int(77)));
    peer.restart();
    pylogix(peer.port, serde_json::json!([["w", "Counter", 78]]));
    // The old session is gone: the first read fails as a lost connection, then we reconnect.
    let t0 = Instant::now();
    let samples = loop {
        if !conn.is_connected() {
            if let Err(e) = conn.connect().await {
                assert!(t0.elapsed() < Duration::from_secs(20), "no reconnect: {e}");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        }
        match conn.read(plan).await {
            Ok(s) => break s,
            Err(e) => {
                assert!(e.is_connection_lost(), "{e}");
                assert!(t0.elapsed() < Duration::from_secs(20), "no good read after restart: {e}");
            }
        }
    };
    assert_eq!(samples[0].value, Some(Value::Int(78)), "{samples:?}");
    assert_eq!(samples[1].quality, Quality::Good);
}

#[tokio::test]
async fn down_at_start_is_a_clear_error_and_the_poller_retries_until_it_is_up() {
    let port = common::free_port();
    let mut conn = Connection::new(&url(port), ConnectOptions::default()).unwrap();
    let e = conn.connect().await.unwrap_err();
    let msg = e.to_string();
    assert!(e.is_connection_lost(), "{e}");
    assert!(msg.contains(&format!("cannot connect to enip://127.0.0.1:{port}")) && msg.contains("retrying"), "{msg}");

    let group = PollGroup {
        name: "g".into(),
        interval: Duration::from_millis(200),
        addresses: vec!["Temp".into(), "Scada[0]".into()],
    };
    let (tx, mut rx) = mpsc::channel(64);
    let (etx, mut erx) = mpsc::unbounded_channel();
    let (stop_tx, stop_rx) = watch::channel(false);
    let backoff = Backoff::new(Duration::from_millis(100), Duration::from_millis(500));
    let poller = tokio::spawn(run_poller(conn, vec![group], tx, Some(etx), backoff, stop_rx));
    let first = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await.unwrap().unwrap();
    assert_eq!(first.quality, Quality::BadNotConnected, "{first:?}");
    tokio::time::sleep(Duration::from_millis(800)).await;
    let Some(_peer) = common::PeerProcess::start(server_cmd(port), port) else {
        return;
    };
    let good = loop {
        let s = tokio::time::timeout(Duration::from_secs(30), rx.recv()).await.expect("no sample within 30 s").unwrap();
        if s.quality == Quality::Good {
            break s;
        }
    };
    assert_eq!((good.address.as_str(), good.value), ("Temp", Some(Value::Float(0.0))));
    let mut failed = 0;
    while let Ok(ev) = erx.try_recv() {
        if matches!(ev, PollEvent::ConnectFailed { .. }) {
            failed += 1;
        }
    }
    assert!(failed >= 2, "the poller should have retried while the peer was down ({failed} attempts)");
    stop_tx.send(true).unwrap();
    drop(rx);
    poller.await.unwrap().unwrap();
}
