#![cfg(feature = "opcua")]
//! The OPC UA driver against two independent third-party servers: asyncua (Python) and
//! node-opcua (JavaScript). Write, subscription, restart and down-at-start tests run on server
//! processes of their own (the shared peers' `Plant.Count` is written by other tests); the
//! shared peers are only read.

mod common;

use std::time::{Duration, SystemTime};

use ed25519_dalek::SigningKey;
use fos_connect::poll::{run_poller, Backoff, PollGroup};
use fos_connect::{
    ConnectError, ConnectOptions, Connection, DataType, Quality, Sample, TimeSource, Value, WriteAccess, WritePermit,
};
use tokio::sync::{mpsc, watch};

use common::PeerProcess;

/// One OPC UA server under test: its URL and the namespace index of its `Plant.*` nodes.
struct Server {
    url: String,
    ns: u16,
}

impl Server {
    fn node(&self, name: &str) -> String {
        format!("ns={};s=Plant.{name}", self.ns)
    }
}

fn asyncua_cmd(port: u16) -> Vec<String> {
    vec![
        common::venv_python().to_string_lossy().into_owned(),
        common::scripts_dir().join("opcua_server.py").to_string_lossy().into_owned(),
        port.to_string(),
    ]
}

fn node_opcua_cmd(port: u16) -> Vec<String> {
    vec!["node".into(), common::scripts_dir().join("opcua_server.js").to_string_lossy().into_owned(), port.to_string()]
}

/// Our own asyncua server on a free port (None: skipped, not installed).
fn own_asyncua() -> Option<(PeerProcess, Server)> {
    let port = common::free_port();
    let p = PeerProcess::start(asyncua_cmd(port), port)?;
    Some((p, Server { url: format!("opcua://127.0.0.1:{port}/"), ns: 2 }))
}

/// Our own node-opcua server on a free port (None: skipped, not installed).
fn own_node_opcua() -> Option<(PeerProcess, Server)> {
    if !common::peers_dir().join("npm/node_modules/node-opcua-server").exists() {
        let msg = "node-opcua-server is not installed; run `bash peers/scripts/peers.sh install`";
        assert!(!common::ci(), "{msg}");
        eprintln!("SKIPPED: {msg}");
        return None;
    }
    let port = common::free_port();
    let p = PeerProcess::start(node_opcua_cmd(port), port)?;
    Some((p, Server { url: format!("opcua://127.0.0.1:{port}/UA/Test"), ns: 1 }))
}

fn options() -> ConnectOptions {
    ConnectOptions { timeout: Duration::from_secs(5), ..ConnectOptions::default() }
}

fn gate_key() -> SigningKey {
    SigningKey::from_bytes(&[42u8; 32])
}

fn gated(url: &str) -> Connection {
    let options = ConnectOptions { write_access: WriteAccess::Gate(gate_key().verifying_key()), ..options() };
    Connection::new(url, options).unwrap()
}

fn permit(conn: &Connection, id: &str, address: &str, value: Value) -> WritePermit {
    let device = conn.url().endpoint();
    WritePermit::issue(&gate_key(), id, device, address, value, Duration::from_secs(60), vec!["test".into()])
}

fn addrs(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

/// What every server must answer: the plant nodes with their types, the standard CurrentTime
/// node, and a nonexistent node as bad_address with the status named.
async fn check_reads(server: &Server, temp: Option<f64>) {
    let mut conn = Connection::new(&server.url, options()).unwrap();
    let nope = format!("ns={};s=Plant.DoesNotExist", server.ns);
    let a = addrs(&[&server.node("Temp"), &server.node("Count"), "i=2258", &nope]);
    let s = conn.read_once(&a).await.unwrap_or_else(|e| panic!("{}: {e}", server.url));
    assert_eq!(s.len(), 4);
    for x in &s {
        eprintln!("{}: {}", server.url, x.to_json());
    }
    assert_eq!(s[0].address, server.node("Temp"));
    assert_eq!((s[0].quality, s[0].dtype), (Quality::Good, DataType::F64), "{:?}", s[0]);
    if let Some(t) = temp {
        assert_eq!(s[0].value, Some(Value::Float(t)), "{:?}", s[0]);
    }
    assert_eq!(s[0].time_source, TimeSource::Device, "{:?}", s[0]);
    assert_eq!((s[1].quality, s[1].dtype), (Quality::Good, DataType::I32), "{:?}", s[1]);
    assert!(matches!(s[1].value, Some(Value::Int(_))), "{:?}", s[1]);
    // CurrentTime: a DateTime, reported as an RFC 3339 string close to now.
    assert_eq!((s[2].quality, s[2].dtype), (Quality::Good, DataType::String), "{:?}", s[2]);
    let Some(Value::String(now)) = &s[2].value else { panic!("{:?}", s[2]) };
    let t = humantime::parse_rfc3339(now).unwrap_or_else(|e| panic!("{now:?}: {e}"));
    let skew = t.duration_since(SystemTime::now()).unwrap_or_else(|e| e.duration());
    assert!(skew < Duration::from_secs(60), "CurrentTime {now} is {skew:?} off");
    assert_eq!(s[3].quality, Quality::BadAddress, "{:?}", s[3]);
    assert_eq!(s[3].value, None);
    assert!(s[3].detail.as_deref().unwrap_or("").contains("BadNodeIdUnknown"), "{:?}", s[3]);
    conn.disconnect().await;
    assert!(!conn.is_connected());
}

async fn check_browse(server: &Server) {
    let mut conn = Connection::new(&server.url, options()).unwrap();
    let entries = conn.browse().await.unwrap_or_else(|e| panic!("{}: {e}", server.url));
    eprintln!("{}: browse found {} entries", server.url, entries.len());
    let temp = entries.iter().find(|e| e.address == server.node("Temp")).unwrap_or_else(|| {
        panic!("{}: Plant.Temp not among {} entries", server.url, entries.len());
    });
    assert_eq!((temp.name.as_str(), temp.kind.as_str(), temp.dtype), ("Temp", "variable", Some(DataType::F64)));
    let count = entries.iter().find(|e| e.address == server.node("Count")).unwrap();
    assert_eq!(count.dtype, Some(DataType::I32));
    assert!(entries.iter().any(|e| e.kind == "object" && e.name == "Plant"), "no Plant object");
    assert!(entries.iter().any(|e| e.address == "i=2258"), "no CurrentTime (i=2258)");
    conn.disconnect().await;
}

async fn check_writes(server: &Server) {
    let count = server.node("Count");
    // Read-only (the default): refused before anything is sent.
    let mut ro = Connection::new(&server.url, options()).unwrap();
    let p = permit(&ro, "ro-1", &count, Value::Int(5));
    let e = ro.write(&p).await.unwrap_err();
    assert!(matches!(e, ConnectError::ReadOnly { .. }), "{e}");
    assert!(!ro.is_connected(), "a refused write must not even connect");

    let mut conn = gated(&server.url);
    for (i, v) in [-7i64, 31_337].into_iter().enumerate() {
        conn.write(&permit(&conn, &format!("w-{i}"), &count, Value::Int(v))).await.unwrap();
        let s = conn.read_once(std::slice::from_ref(&count)).await.unwrap();
        assert_eq!(s[0].value, Some(Value::Int(v)), "{:?}", s[0]);
    }
    let temp = server.node("Temp");
    conn.write(&permit(&conn, "w-t", &temp, Value::Float(99.25))).await.unwrap();
    let s = conn.read_once(std::slice::from_ref(&temp)).await.unwrap();
    assert_eq!(s[0].value, Some(Value::Float(99.25)));
    // Out of range for the node's Int32: refused locally, naming the address.
    let e = conn.write(&permit(&conn, "w-big", &count, Value::Int(1 << 40))).await.unwrap_err().to_string();
    assert!(e.contains("out of range") && e.contains(&count), "{e}");
    // A node that does not exist: the server's status is named.
    let nope = format!("ns={};s=Plant.DoesNotExist", server.ns);
    let e = conn.write(&permit(&conn, "w-nope", &nope, Value::Int(1))).await.unwrap_err().to_string();
    assert!(e.contains("BadNodeIdUnknown") && e.contains(&nope), "{e}");
    // A permit is good once.
    let p = permit(&conn, "w-once", &count, Value::Int(1));
    conn.write(&p).await.unwrap();
    assert!(conn.write(&p).await.unwrap_err().to_string().contains("already used"));
    conn.disconnect().await;
}

/// Wait for a sample of `address` satisfying `want`, for at most `limit`.
async fn wait_sample(
    rx: &mut mpsc::Receiver<Sample>,
    address: &str,
    limit: Duration,
    want: impl Fn(&Sample) -> bool,
) -> Sample {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let s = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .unwrap_or_else(|_| panic!("no matching sample of {address} within {limit:?}"))
            .expect("subscription ended");
        if s.address == address && want(&s) {
            return s;
        }
    }
}

async fn check_subscription(server: &Server) {
    let temp = server.node("Temp");
    let mut sub = Connection::new(&server.url, options()).unwrap();
    let (tx, mut rx) = mpsc::channel(64);
    let a = addrs(&[&temp]);
    let task = tokio::spawn(async move { sub.subscribe(&a, Duration::from_millis(200), tx).await });
    // The initial value arrives first.
    let s = wait_sample(&mut rx, &temp, Duration::from_secs(10), |s| s.quality == Quality::Good).await;
    assert_eq!(s.dtype, DataType::F64);
    // A permit-gated write through another connection is pushed within a few seconds.
    let mut w = gated(&server.url);
    w.write(&permit(&w, "sub-1", &temp, Value::Float(42.25))).await.unwrap();
    let s = wait_sample(&mut rx, &temp, Duration::from_secs(10), |s| s.value == Some(Value::Float(42.25))).await;
    assert_eq!(s.time_source, TimeSource::Device);
    // Closing the receiver ends the subscription cleanly.
    drop(rx);
    let r = tokio::time::timeout(Duration::from_secs(10), task).await.expect("subscribe did not return").unwrap();
    assert!(r.is_ok(), "{r:?}");
    w.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_peers_serve_the_documented_nodes() {
    let mut servers = Vec::new();
    if let Some(port) = common::shared_peer("OPCUA_PORT", 14840, "asyncua OPC UA server") {
        servers.push(Server { url: format!("opcua://127.0.0.1:{port}/"), ns: 2 });
    }
    if let Some(port) = common::shared_peer("OPCUA_NODE_PORT", 14841, "node-opcua OPC UA server") {
        servers.push(Server { url: format!("opcua://127.0.0.1:{port}/UA/Test"), ns: 1 });
    }
    for server in &servers {
        // Other tests may have written Temp: check the type only.
        check_reads(server, None).await;
        check_browse(server).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asyncua_reads_browses_writes_and_subscribes() {
    let Some((_peer, server)) = own_asyncua() else {
        return;
    };
    check_reads(&server, Some(21.5)).await;
    check_browse(&server).await;
    check_writes(&server).await;
    check_subscription(&server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_opcua_reads_browses_writes_and_subscribes() {
    let Some((_peer, server)) = own_node_opcua() else {
        return;
    };
    check_reads(&server, Some(21.5)).await;
    check_browse(&server).await;
    check_writes(&server).await;
    check_subscription(&server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_split_into_chunks_of_max_nodes() {
    let Some((_peer, server)) = own_asyncua() else {
        return;
    };
    let mut conn = Connection::new(&format!("{}?max_nodes=2", server.url), options()).unwrap();
    let a = addrs(&[&server.node("Temp"), &server.node("Count"), "i=2258", "i=2259", &server.node("Temp")]);
    let plan = conn.prepare(&a).unwrap();
    assert_eq!(conn.plan_requests(plan), 3);
    conn.connect().await.unwrap();
    let s = conn.read(plan).await.unwrap();
    let got: Vec<_> = s.iter().map(|s| (s.address.as_str(), s.quality)).collect();
    let want: Vec<_> = a.iter().map(|a| (a.as_str(), Quality::Good)).collect();
    assert_eq!(got, want);
    assert_eq!(s[4].value, Some(Value::Float(21.5)));
    conn.disconnect().await;
}

#[tokio::test]
async fn bad_addresses_and_urls_are_refused_with_the_reason() {
    let mut conn = Connection::new("opcua://127.0.0.1:1/", options()).unwrap();
    let e = conn.prepare(&addrs(&["i=2258", "ns=2;Plant.Temp"])).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, ConnectError::Address { .. }), "{msg}");
    assert!(msg.contains("\"ns=2;Plant.Temp\"") && msg.contains("ns=<index>;s=<name>"), "{msg}");
    let e = Connection::new("opcua://127.0.0.1:4840/?security=sign_encrypt", options()).unwrap_err().to_string();
    assert!(e.contains("only security=none"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnects_after_the_server_restarts() {
    let Some((mut peer, server)) = own_asyncua() else {
        return;
    };
    let mut conn = Connection::new(&server.url, options()).unwrap();
    let plan = conn.prepare(&addrs(&[&server.node("Temp")])).unwrap();
    conn.connect().await.unwrap();
    assert_eq!(conn.read(plan).await.unwrap()[0].value, Some(Value::Float(21.5)));
    tokio::task::block_in_place(|| peer.restart());
    // The first read after the restart fails (connection lost) or, if the driver already saw
    // the close, finds the connection down; then a reconnect reads again.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut saw_loss = false;
    loop {
        assert!(tokio::time::Instant::now() < deadline, "no good read within 20 s after the restart");
        if !conn.is_connected() {
            saw_loss = true;
            if conn.connect().await.is_err() {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        }
        match conn.read(plan).await {
            Ok(s) if s[0].quality == Quality::Good => {
                assert_eq!(s[0].value, Some(Value::Float(21.5)));
                break;
            }
            Ok(s) => panic!("unexpected {:?}", s[0]),
            Err(e) => {
                assert!(e.is_connection_lost(), "{e}");
                saw_loss = true;
            }
        }
    }
    assert!(saw_loss, "the restart went unnoticed");
    conn.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_down_at_start_is_retried_until_it_comes_up() {
    let port = common::free_port();
    let url = format!("opcua://127.0.0.1:{port}/");
    let mut conn = Connection::new(&url, options()).unwrap();
    let e = conn.connect().await.unwrap_err();
    let msg = e.to_string();
    assert!(e.is_connection_lost(), "{msg}");
    assert!(msg.contains(&format!("cannot connect to opcua://127.0.0.1:{port}")), "{msg}");

    let conn = Connection::new(&url, options()).unwrap();
    let groups = vec![PollGroup {
        name: "g".into(),
        interval: Duration::from_millis(200),
        addresses: addrs(&["ns=2;s=Plant.Temp"]),
    }];
    let (tx, mut rx) = mpsc::channel(64);
    let (stop_tx, stop_rx) = watch::channel(false);
    let backoff = Backoff::new(Duration::from_millis(100), Duration::from_millis(500));
    let poller = tokio::spawn(run_poller(conn, groups, tx, None, backoff, stop_rx));
    // The outage is reported once, as bad samples.
    let s = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await.unwrap().unwrap();
    assert_eq!(s.quality, Quality::BadNotConnected, "{s:?}");
    let Some(_peer) = PeerProcess::start(asyncua_cmd(port), port) else {
        return;
    };
    let s = wait_sample(&mut rx, "ns=2;s=Plant.Temp", Duration::from_secs(30), |s| s.quality == Quality::Good).await;
    assert_eq!(s.value, Some(Value::Float(21.5)));
    stop_tx.send(true).unwrap();
    drop(rx);
    let r = tokio::time::timeout(Duration::from_secs(10), poller).await.unwrap().unwrap();
    assert!(r.is_ok(), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_ends_with_an_error_when_the_server_goes_away() {
    let Some((mut peer, server)) = own_asyncua() else {
        return;
    };
    let temp = server.node("Temp");
    let mut sub = Connection::new(&server.url, options()).unwrap();
    let (tx, mut rx) = mpsc::channel(64);
    let a = addrs(&[&temp, "ns=2;s=Plant.DoesNotExist"]);
    let task = tokio::spawn(async move { sub.subscribe(&a, Duration::from_millis(200), tx).await });
    // The unknown node is reported bad at once; the known one delivers its value.
    let bad = wait_sample(&mut rx, "ns=2;s=Plant.DoesNotExist", Duration::from_secs(10), |_| true).await;
    assert_eq!(bad.quality, Quality::BadAddress, "{bad:?}");
    let s = wait_sample(&mut rx, &temp, Duration::from_secs(10), |s| s.quality == Quality::Good).await;
    assert_eq!(s.value, Some(Value::Float(21.5)));
    tokio::task::block_in_place(|| peer.stop());
    let r = tokio::time::timeout(Duration::from_secs(20), task).await.expect("subscribe did not return").unwrap();
    let e = r.unwrap_err();
    assert!(e.is_connection_lost(), "{e}");
}

/// Element `i` of the asyncua peer's `Plant.Wave` and `Plant.BigWave` (exact in binary).
fn wave(i: usize) -> f64 {
    (((i * 7919) % 4001) as f64 - 2000.0) / 16.0
}

/// asyncua ignores IndexRange on reads, so an array above `max_array` comes back whole: within
/// the client's message limits it is decoded and refused by its length; beyond them the client
/// drops the reply by its chunk count. Either way the error names the limit and the session stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asyncua_arrays_read_whole_and_too_large_ones_are_refused_on_a_live_session() {
    let Some((_peer, server)) = own_asyncua() else {
        return;
    };
    let mut conn = Connection::new(&server.url, options()).unwrap();
    let a = conn.read_array(&server.node("Wave")).await.unwrap();
    assert_eq!((a.quality, a.dtype), (Quality::Good, DataType::F64), "{:?}", a.detail);
    assert_eq!(a.values.len(), 12_800);
    assert!(a.values.iter().enumerate().all(|(i, v)| v.to_bits() == wave(i).to_bits()), "Wave differs");
    let temp = conn.prepare(&addrs(&[&server.node("Temp")])).unwrap();
    let big = server.node("BigWave");
    // Default max_array (131 072): the 400 000 elements decode (3.2 MB) and are refused by count.
    let e = conn.read_array(&big).await.unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, ConnectError::TooLarge { .. }) && !e.is_connection_lost(), "{msg}");
    assert!(msg.contains("400000 elements") && msg.contains("max_array=131072") && msg.contains(&big), "{msg}");
    assert!(conn.is_connected());
    assert_eq!(conn.read(temp).await.unwrap()[0].quality, Quality::Good);
    // max_array=1000: Wave is refused by its length; BigWave's 49 chunks of 64 KiB exceed the
    // 42 the client then accepts, and the reply is dropped.
    let mut small = Connection::new(&format!("{}?max_array=1000", server.url), options()).unwrap();
    let e = small.read_array(&server.node("Wave")).await.unwrap_err().to_string();
    assert!(e.contains("12800 elements") && e.contains("max_array=1000"), "{e}");
    let e = small.read_array(&big).await.unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, ConnectError::TooLarge { .. }) && msg.contains("max_array=1000"), "{msg}");
    assert!(small.is_connected(), "the session was lost: {msg}");
    let temp = small.prepare(&addrs(&[&server.node("Temp")])).unwrap();
    assert_eq!(small.read(temp).await.unwrap()[0].value, Some(Value::Float(21.5)));
    // A scalar is a bad sample, not an error.
    let a = small.read_array(&server.node("Temp")).await.unwrap();
    assert_eq!(a.quality, Quality::BadTypeMismatch, "{a:?}");
    small.disconnect().await;
    conn.disconnect().await;
}
