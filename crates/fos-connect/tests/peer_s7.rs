#![cfg(feature = "s7")]
//! The S7comm driver against two independent third-party servers: the native Snap7 C++ server
//! (python-snap7 2.1.0's libsnap7) and the pure-Python server of python-snap7 3.3. Both serve
//! DB1 (256 bytes: DBW0 = INT 1234, DBD2 = REAL 3.5) and 64 bytes of merkers.
//!
//! Byte use in the shared servers (only these tests use them; tests that touch DB1/MK of one
//! server hold `shared_lock`): DB1 bytes 0..6 are the seeded values (read only; DBX4.0 is set and
//! cleared again), 200..224 LREAL/LINT/ULINT, 220..224 and 254..256 the split-read markers,
//! MB0/MB1 the bit tests.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use fos_connect::poll::{run_poller, Backoff, PollGroup};
use fos_connect::{ConnectError, ConnectOptions, Connection, Quality, Sample, Value, WriteAccess, WritePermit};
use tokio::sync::{mpsc, watch, Mutex, MutexGuard};

fn key() -> SigningKey {
    SigningKey::from_bytes(&[42u8; 32])
}

async fn shared_lock() -> MutexGuard<'static, ()> {
    static LOCK: OnceLock<Mutex<()>> = OnceLock::new();
    LOCK.get_or_init(|| Mutex::new(())).lock().await
}

/// The shared servers that are up: (name, port).
fn servers() -> Vec<(&'static str, u16)> {
    let mut v = Vec::new();
    if let Some(p) = common::shared_peer("S7_NATIVE_PORT", 10102, "native Snap7 server") {
        v.push(("native Snap7", p));
    }
    if let Some(p) = common::shared_peer("S7_PY_PORT", 10103, "python-snap7 3.3 server") {
        v.push(("python-snap7", p));
    }
    v
}

fn native_cmd(port: u16) -> Vec<String> {
    let py = common::peers_dir().join("venv-snap7c/bin/python");
    vec![py.display().to_string(), common::scripts_dir().join("s7_server.py").display().to_string(), port.to_string()]
}

fn python_cmd(port: u16) -> Vec<String> {
    vec![
        common::venv_python().display().to_string(),
        common::scripts_dir().join("s7_server.py").display().to_string(),
        port.to_string(),
    ]
}

fn gate(url: &str) -> Connection {
    let options =
        ConnectOptions { write_access: WriteAccess::Gate(key().verifying_key()), ..ConnectOptions::default() };
    Connection::new(url, options).unwrap()
}

async fn write(conn: &mut Connection, address: &str, value: Value) -> Result<(), ConnectError> {
    static N: AtomicUsize = AtomicUsize::new(0);
    let id = format!("s7-test-{}", N.fetch_add(1, Ordering::Relaxed));
    let permit = WritePermit::issue(
        &key(),
        id,
        conn.url().endpoint(),
        address,
        value,
        Duration::from_secs(60),
        vec!["test".into()],
    );
    conn.write(&permit).await
}

async fn read(conn: &mut Connection, addresses: &[&str]) -> Vec<Sample> {
    let list: Vec<String> = addresses.iter().map(|s| s.to_string()).collect();
    let s = conn.read_once(&list).await.unwrap_or_else(|e| panic!("read {addresses:?}: {e}"));
    assert_eq!(s.len(), addresses.len());
    for (x, a) in s.iter().zip(addresses) {
        assert_eq!(&x.address, a);
    }
    s
}

fn values(samples: &[Sample]) -> Vec<Value> {
    samples
        .iter()
        .map(|s| {
            assert_eq!(s.quality, Quality::Good, "{}: {:?}", s.address, s.detail);
            s.value.clone().unwrap()
        })
        .collect()
}

#[tokio::test]
async fn reads_what_both_servers_serve() {
    let _guard = shared_lock().await;
    for (name, port) in servers() {
        let mut conn = gate(&format!("s7://127.0.0.1:{port}"));
        let s = read(
            &mut conn,
            &[
                "DB1.DBW0",
                "DB1.DBD2:REAL",
                "DB1.DBW0:WORD",
                "DB1.DBB0",
                "DB1.dbb1:sint",
                "DB1.DBD0:DWORD",
                "db1.dbw0:i16",
            ],
        )
        .await;
        assert_eq!(
            values(&s),
            [
                Value::Int(1234),
                Value::Float(3.5),
                Value::UInt(1234),
                Value::UInt(0x04),
                Value::Int(-46),
                Value::UInt(0x04D2_4060),
                Value::Int(1234)
            ],
            "{name}"
        );
        assert_eq!(s[1].dtype, fos_connect::DataType::F32);
        // 1,000 INTs in one DB: 3 requests at PDU 960 (Snap7 accepts 960), 5 at 480 (python-snap7).
        let ints: Vec<String> = (0..1000).map(|i| format!("DB1.DBW{}", i * 2)).collect();
        let plan = conn.prepare(&ints).unwrap();
        let n = conn.plan_requests(plan);
        eprintln!("{name}: 1000 INTs in one DB take {n} Read Var requests at the negotiated PDU");
        assert_eq!(n, if name == "native Snap7" { 3 } else { 5 }, "{name}");
    }
}

#[tokio::test]
async fn lreal_lint_and_bits_written_and_read_back() {
    let _guard = shared_lock().await;
    for (name, port) in servers() {
        let mut conn = gate(&format!("s7://127.0.0.1:{port}"));
        write(&mut conn, "DB1.DBL200:LREAL", Value::Float(-12345.6789e3)).await.unwrap();
        write(&mut conn, "DB1.DBL208:LINT", Value::Int(-1_234_567_890_123_456)).await.unwrap();
        write(&mut conn, "DB1.DBL216:ULINT", Value::UInt(u64::MAX - 5)).await.unwrap();
        let s = read(&mut conn, &["DB1.DBL200:LREAL", "DB1.DBL208:LINT", "DB1.DBL216:ULINT", "DB1.DBL208"]).await;
        assert_eq!(
            values(&s),
            [
                Value::Float(-12345.6789e3),
                Value::Int(-1_234_567_890_123_456),
                Value::UInt(u64::MAX - 5),
                Value::Int(-1_234_567_890_123_456)
            ],
            "{name}"
        );

        // DB1.DBX4.0 is the low bit of the third byte of the REAL at DBD2: set it, see the REAL
        // change by exactly that bit, clear it again.
        let s = read(&mut conn, &["DB1.DBX4.0"]).await;
        assert_eq!(values(&s), [Value::Bool(false)], "{name}");
        write(&mut conn, "DB1.DBX4.0", Value::Bool(true)).await.unwrap();
        let s = read(&mut conn, &["DB1.DBX4.0", "DB1.DBD2:REAL", "DB1.DBX4.1"]).await;
        let changed = f64::from(f32::from_be_bytes([0x40, 0x60, 0x01, 0x00]));
        assert_eq!(values(&s), [Value::Bool(true), Value::Float(changed), Value::Bool(false)], "{name}");
        write(&mut conn, "DB1.DBX4.0", Value::Bool(false)).await.unwrap();
        let s = read(&mut conn, &["DB1.DBX4.0", "DB1.DBD2:REAL"]).await;
        assert_eq!(values(&s), [Value::Bool(false), Value::Float(3.5)], "{name}");

        // Merker bits: M0.1 read from a byte written as 0b10.
        write(&mut conn, "MB0", Value::UInt(0b10)).await.unwrap();
        let s = read(&mut conn, &["M0.1", "M0.0", "MB0", "MX0.1"]).await;
        assert_eq!(values(&s), [Value::Bool(true), Value::Bool(false), Value::UInt(2), Value::Bool(true)], "{name}");
        // A bit write (transport size BIT) of M1.3 must leave the other bits of MB1 alone.
        write(&mut conn, "MB1", Value::UInt(0x81)).await.unwrap();
        write(&mut conn, "M1.3", Value::Bool(true)).await.unwrap();
        let mb1 = read(&mut conn, &["MB1"]).await[0].value.clone();
        if name == "native Snap7" {
            assert_eq!(mb1, Some(Value::UInt(0x89)), "{name}");
            write(&mut conn, "M1.3", Value::Bool(false)).await.unwrap();
            assert_eq!(read(&mut conn, &["MB1"]).await[0].value, Some(Value::UInt(0x81)), "{name}");
        } else {
            // python-snap7 3.3's server stores a BIT item's data byte over the whole byte
            // (server/__init__.py `_parse_data_section`: transport 0x03 taken as a byte length).
            eprintln!("NOTE {name}: after writing M1.3 = true over MB1 = 0x81 the server holds {mb1:?} (peer bug: 0x89 expected)");
        }
        write(&mut conn, "MB0", Value::UInt(0)).await.unwrap();
        write(&mut conn, "MB1", Value::UInt(0)).await.unwrap();
    }
}

#[tokio::test]
async fn split_read_of_all_256_bytes_and_bad_items() {
    let _guard = shared_lock().await;
    for (name, port) in servers() {
        // PDU 240: 256 bytes of DB1 need two items (222 + 34 bytes), in two requests.
        let mut small = gate(&format!("s7://127.0.0.1:{port}?pdu=240"));
        write(&mut small, "DB1.DBD220:DINT", Value::Int(0x1122_3344)).await.unwrap();
        write(&mut small, "DB1.DBW254", Value::Int(-4242)).await.unwrap();
        let tags: Vec<String> = (0..128).map(|i| format!("DB1.DBW{}", i * 2)).collect();
        let plan = small.prepare(&tags).unwrap();
        assert_eq!(small.plan_requests(plan), 2, "{name}: PDU 240 must split 256 bytes in two");
        let split = small.read(plan).await.unwrap();
        let split = values(&split);
        assert_eq!(split[0], Value::Int(1234), "{name}");
        assert_eq!(split[110], Value::Int(0x1122), "{name}: DBW220, before the split at byte 222");
        assert_eq!(split[111], Value::Int(0x3344), "{name}: DBW222, after the split");
        assert_eq!(split[127], Value::Int(-4242), "{name}: DBW254, the last part of the split");
        let s = read(&mut small, &["DB1.DBD220:DINT"]).await;
        assert_eq!(values(&s), [Value::Int(0x1122_3344)], "{name}: a DINT across the split");
        // The same tags at the default PDU: one request, the same values.
        let mut big = gate(&format!("s7://127.0.0.1:{port}"));
        let plan = big.prepare(&tags).unwrap();
        big.connect().await.unwrap();
        assert_eq!(big.plan_requests(plan), 1, "{name}");
        assert_eq!(values(&big.read(plan).await.unwrap()), split, "{name}");

        // Past the end of DB1 and a DB that does not exist: bad samples, neighbours good.
        // The servers register only DB1 and MK: inputs and outputs do not exist either.
        let s =
            read(&mut big, &["DB1.DBW254", "DB1.DBW256", "DB1.DBW300", "DB2.DBW0", "DB1.DBW0", "MB70", "IB0", "Q0.0"])
                .await;
        assert_eq!(s[0].value, Some(Value::Int(-4242)), "{name}: {:?}", s[0]);
        for (i, code) in [
            (1, "0x05 (address out of range)"),
            (2, "0x05 (address out of range)"),
            (3, "0x0a (object does not exist)"),
            (5, "0x05"),
            (6, "I bytes 0..1: item return code 0x0a"),
            (7, "Q bytes 0..1: item return code 0x0a"),
        ] {
            assert_eq!(s[i].quality, Quality::BadAddress, "{name}: {:?}", s[i]);
            assert_eq!(s[i].value, None);
            let d = s[i].detail.as_deref().unwrap_or_default();
            assert!(d.contains(code), "{name}: {}: {d}", s[i].address);
        }
        assert_eq!(s[4].value, Some(Value::Int(1234)), "{name}");
        assert!(s[1].to_json().contains("\"bad_address\""));

        // A refused write names the address and the reason (Snap7: item code; python-snap7: header error).
        let e = write(&mut big, "DB1.DBW300", Value::Int(1)).await.unwrap_err();
        assert!(matches!(e, ConnectError::Refused { .. }), "{name}: {e}");
        let m = e.to_string();
        assert!(
            m.contains("DB1.DBW300") && (m.contains("0x05 (address out of range)") || m.contains("error class 0x84")),
            "{name}: {m}"
        );
        eprintln!("{name}: {m}");
        // The connection survives item errors.
        assert_eq!(values(&read(&mut big, &["DB1.DBW0"]).await), [Value::Int(1234)]);
    }
}

#[tokio::test]
async fn read_only_connection_refuses_writes_without_sending() {
    for (name, port) in servers() {
        let url = format!("s7://127.0.0.1:{port}");
        let mut conn = Connection::new(&url, ConnectOptions::default()).unwrap();
        let permit = WritePermit::issue(
            &key(),
            "ro-1",
            conn.url().endpoint(),
            "DB1.DBW10",
            Value::Int(5),
            Duration::from_secs(60),
            vec![],
        );
        let e = conn.write(&permit).await.unwrap_err();
        assert!(matches!(e, ConnectError::ReadOnly { .. }), "{name}: {e}");
        assert!(!conn.is_connected(), "{name}: a read-only write must not even connect");
        // A permit signed by another key is refused too, before anything is sent.
        let mut conn = gate(&url);
        let other = SigningKey::from_bytes(&[7u8; 32]);
        let forged = WritePermit::issue(
            &other,
            "x",
            conn.url().endpoint(),
            "DB1.DBW10",
            Value::Int(5),
            Duration::from_secs(60),
            vec![],
        );
        assert!(matches!(conn.write(&forged).await, Err(ConnectError::Permit(_))), "{name}");
        assert!(!conn.is_connected());
    }
}

#[tokio::test]
async fn connection_types_and_bad_addresses() {
    for (name, port) in servers() {
        for ty in ["pg", "op", "basic"] {
            let mut conn =
                Connection::new(&format!("s7://127.0.0.1:{port}?rack=0&slot=1&type={ty}"), ConnectOptions::default())
                    .unwrap();
            assert_eq!(values(&read(&mut conn, &["DB1.DBW0"]).await), [Value::Int(1234)], "{name} type={ty}");
        }
        let mut conn = Connection::new(&format!("s7://127.0.0.1:{port}"), ConnectOptions::default()).unwrap();
        for bad in ["DB1.DBW0:REAL", "DB1.DBX4", "DB0.DBB0", "Z9", "DB1.DBB0:STRING"] {
            let e = conn.prepare(&["DB1.DBW0".to_string(), bad.to_string()]).unwrap_err();
            assert!(matches!(e, ConnectError::Address { .. }), "{bad}: {e}");
            assert!(e.to_string().contains(&format!("{bad:?}")), "{bad}: {e}");
        }
    }
    let e = Connection::new("s7://127.0.0.1:10102?slot=40", ConnectOptions::default()).unwrap_err().to_string();
    assert!(e.contains("slot=40 is out of range"), "{e}");
}

/// Read through one connection, restart the server, see the read fail as a lost connection,
/// reconnect and read again.
async fn survive_restart(mut peer: common::PeerProcess, name: &str) {
    let mut conn = gate(&format!("s7://127.0.0.1:{}", peer.port));
    let plan = conn.prepare(&["DB1.DBW0".to_string(), "DB1.DBD2:REAL".to_string(), "DB1.DBW10".to_string()]).unwrap();
    conn.connect().await.unwrap();
    write(&mut conn, "DB1.DBW10", Value::Int(77)).await.unwrap();
    assert_eq!(
        values(&conn.read(plan).await.unwrap()),
        [Value::Int(1234), Value::Float(3.5), Value::Int(77)],
        "{name}"
    );
    peer.restart();
    let e = conn.read(plan).await.expect_err("a read over the old socket must fail");
    assert!(e.is_connection_lost(), "{name}: {e}");
    assert!(!conn.is_connected());
    conn.connect().await.unwrap();
    // A fresh server: DBW10 is 0 again.
    assert_eq!(values(&conn.read(plan).await.unwrap()), [Value::Int(1234), Value::Float(3.5), Value::Int(0)], "{name}");
}

#[tokio::test]
async fn reconnects_after_a_native_server_restart() {
    let port = common::free_port();
    let Some(peer) = common::PeerProcess::start(native_cmd(port), port) else {
        return;
    };
    survive_restart(peer, "native Snap7").await;
}

#[tokio::test]
async fn reconnects_after_a_python_server_restart() {
    let port = common::free_port();
    let Some(peer) = common::PeerProcess::start(python_cmd(port), port) else {
        return;
    };
    survive_restart(peer, "python-snap7").await;
}

#[tokio::test]
async fn down_server_is_a_clear_error_and_the_poller_waits_for_it() {
    let port = common::free_port();
    let url = format!("s7://127.0.0.1:{port}");
    let mut conn = Connection::new(&url, ConnectOptions::default()).unwrap();
    let e = conn.connect().await.unwrap_err();
    assert!(e.is_connection_lost());
    let m = e.to_string();
    assert!(m.contains(&format!("cannot connect to s7://127.0.0.1:{port}")) && m.contains("refused"), "{m}");

    let group = PollGroup {
        name: "g".into(),
        interval: Duration::from_millis(200),
        addresses: vec!["DB1.DBW0".into(), "DB1.DBD2:REAL".into()],
    };
    let (tx, mut rx) = mpsc::channel(64);
    let (stop_tx, stop_rx) = watch::channel(false);
    let backoff = Backoff::new(Duration::from_millis(100), Duration::from_millis(500));
    let poller = tokio::spawn(run_poller(conn, vec![group], tx, None, backoff, stop_rx));
    // The outage is reported once as bad samples.
    let first = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await.unwrap().unwrap();
    assert_eq!(first.quality, Quality::BadNotConnected, "{first:?}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let Some(_peer) = common::PeerProcess::start(native_cmd(port), port) else {
        return;
    };
    let t0 = Instant::now();
    let good = loop {
        let s = tokio::time::timeout(Duration::from_secs(30), rx.recv()).await.expect("no sample within 30 s").unwrap();
        if s.quality == Quality::Good {
            break s;
        }
        assert!(t0.elapsed() < Duration::from_secs(30), "no good sample after the server came up");
    };
    assert_eq!(good.address, "DB1.DBW0");
    assert_eq!(good.value, Some(Value::Int(1234)));
    let next = rx.recv().await.unwrap();
    assert_eq!(next.value, Some(Value::Float(3.5)));
    stop_tx.send(true).unwrap();
    drop(rx);
    poller.await.unwrap().unwrap();
}
