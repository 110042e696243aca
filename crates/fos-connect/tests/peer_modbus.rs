#![cfg(feature = "modbus")]
//! The Modbus driver against a real third-party server: pymodbus 3.16 (peers/scripts/modbus_server.py:
//! unit 1, HR i = i and IR i = 10·i for i in 0..100, 100 coils and discrete inputs, all false), cross-checked
//! with libmodbus's `mbpoll`.
//!
//! The shared peer (MODBUS_PORT, default 15020) is only read, and its HR 10..=30 not relied on (other tests
//! write there); every test that writes or restarts a server starts its own on a free port.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use fos_connect::{ConnectError, ConnectOptions, Connection, Quality, Sample, Value, WriteAccess, WritePermit};

const GATE_KEY: [u8; 32] = [42; 32];

fn own_peer() -> Option<common::PeerProcess> {
    let port = common::free_port();
    let script = common::scripts_dir().join("modbus_server.py");
    common::PeerProcess::start(
        vec![common::venv_python().display().to_string(), script.display().to_string(), port.to_string()],
        port,
    )
}

fn url(port: u16, query: &str) -> String {
    format!("modbus://127.0.0.1:{port}{query}")
}

fn reader(port: u16, query: &str) -> Connection {
    Connection::new(&url(port, query), ConnectOptions::default()).unwrap()
}

fn writer(port: u16, query: &str) -> Connection {
    let key = SigningKey::from_bytes(&GATE_KEY).verifying_key();
    let options = ConnectOptions { write_access: WriteAccess::Gate(key), ..ConnectOptions::default() };
    Connection::new(&url(port, query), options).unwrap()
}

fn permit(conn: &Connection, id: &str, address: &str, value: Value) -> WritePermit {
    let key = SigningKey::from_bytes(&GATE_KEY);
    WritePermit::issue(&key, id, conn.url().endpoint(), address, value, Duration::from_secs(60), vec!["test".into()])
}

fn addrs(list: impl IntoIterator<Item = impl Into<String>>) -> Vec<String> {
    list.into_iter().map(Into::into).collect()
}

async fn read(conn: &mut Connection, list: &[&str]) -> Vec<Sample> {
    let list = addrs(list.iter().copied());
    let s = conn.read_once(&list).await.unwrap_or_else(|e| panic!("read {list:?}: {e}"));
    assert_eq!(s.len(), list.len());
    for (s, a) in s.iter().zip(&list) {
        assert_eq!(&s.address, a, "samples come in the order asked");
    }
    s
}

fn good(s: &Sample) -> &Value {
    assert_eq!(s.quality, Quality::Good, "{s:?}");
    s.value.as_ref().unwrap()
}

fn mbpoll_missing() -> bool {
    if Command::new("mbpoll").arg("-V").output().is_ok() {
        return false;
    }
    assert!(!common::ci(), "mbpoll is not installed (apt-get install mbpoll)");
    eprintln!("SKIPPED: mbpoll is not installed (apt-get install mbpoll)");
    true
}

/// `mbpoll` with 0-based references (`-0`, the protocol address, like FOS's), once, unit 1.
/// Returns the printed values (`[ref]: value` lines).
fn mbpoll(port: u16, args: &[&str], values: &[&str]) -> Vec<String> {
    let port = port.to_string();
    let mut cmd = Command::new("mbpoll");
    cmd.args(["-m", "tcp", "-a", "1", "-p", &port, "-0", "-1", "-o", "3"]).args(args).arg("127.0.0.1");
    if !values.is_empty() {
        cmd.arg("--").args(values);
    }
    let out = cmd.output().expect("run mbpoll");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "mbpoll {args:?} {values:?} failed: {text}{}", String::from_utf8_lossy(&out.stderr));
    if !values.is_empty() {
        assert!(text.contains(&format!("Written {} references", values.len())), "{text}");
    }
    text.lines()
        .filter(|l| l.starts_with('['))
        .filter_map(|l| l.split_once(':').map(|(_, v)| v.trim().to_string()))
        .collect()
}

#[tokio::test]
async fn reads_what_the_shared_peer_serves() {
    let Some(port) = common::shared_peer("MODBUS_PORT", 15020, "pymodbus") else {
        return;
    };
    let mut conn = reader(port, "?unit=1");
    let hr: Vec<String> = (0..100).map(|i| format!("hr:{i}")).collect();
    let plan = conn.prepare(&hr).unwrap();
    assert_eq!(conn.plan_requests(plan), 1, "100 registers are one request");
    conn.connect().await.unwrap();
    let samples = conn.read(plan).await.unwrap();
    for (i, s) in samples.iter().enumerate() {
        assert_eq!(s.address, format!("hr:{i}"));
        assert_eq!(s.dtype, fos_connect::DataType::U16);
        // HR 10..=30 belong to other tests' writes.
        if !(10..=30).contains(&i) {
            assert_eq!(good(s), &Value::UInt(i as u64), "{s:?}");
        } else {
            good(s);
        }
    }
    let ir: Vec<String> = (0..100).map(|i| format!("ir:{i}")).collect();
    for (i, s) in conn.read_once(&ir).await.unwrap().iter().enumerate() {
        assert_eq!(good(s), &Value::UInt(10 * i as u64), "{s:?}");
    }
    // Signed view of the same register, and an IR pair as u32 (10·1, 10·2 → 10·65536 + 20).
    let s = read(&mut conn, &["ir:3:i16", "ir:1:u32", "ir:1:u32:low"]).await;
    assert_eq!(good(&s[0]), &Value::Int(30));
    assert_eq!(good(&s[1]), &Value::UInt(10 * 65_536 + 20));
    assert_eq!(good(&s[2]), &Value::UInt(20 * 65_536 + 10));
    // Discrete inputs are all off and nobody can write them; coils are bools (others may write them).
    let di: Vec<String> = (0..100).map(|i| format!("di:{i}")).collect();
    assert!(conn.read_once(&di).await.unwrap().iter().all(|s| good(s) == &Value::Bool(false)));
    let co: Vec<String> = (0..100).map(|i| format!("co:{i}")).collect();
    assert!(conn.read_once(&co).await.unwrap().iter().all(|s| matches!(good(s), Value::Bool(_))));
    // Bits of a register: HR 5 = 0b101.
    let s = read(&mut conn, &["hr:5.0", "hr:5.1", "hr:5.2"]).await;
    assert_eq!(s.iter().map(|s| good(s).clone()).collect::<Vec<_>>(), [true, false, true].map(Value::Bool));
}

#[tokio::test]
async fn an_exception_is_a_bad_sample_for_its_request_only() {
    let Some(port) = common::shared_peer("MODBUS_PORT", 15020, "pymodbus") else {
        return;
    };
    let mut conn = reader(port, "");
    let list = ["hr:0", "hr:500", "hr:99:f32", "ir:1", "di:200", "co:0", "hr:98:u32"];
    let plan = conn.prepare(&addrs(list)).unwrap();
    assert_eq!(conn.plan_requests(plan), 6, "hr 0, hr 98..=100, hr 500, ir 1, di 200, co 0");
    let s = read(&mut conn, &list).await;
    assert_eq!(good(&s[0]), &Value::UInt(0));
    for bad in [&s[1], &s[2], &s[4]] {
        assert_eq!(bad.quality, Quality::BadAddress, "{bad:?}");
        assert!(bad.value.is_none());
        let d = bad.detail.as_deref().unwrap();
        assert!(d.contains("Modbus exception 0x02 IllegalDataAddress"), "{d}");
    }
    assert!(s[1].detail.as_deref().unwrap().contains("holding registers 500..=500"), "{:?}", s[1]);
    assert!(s[4].detail.as_deref().unwrap().contains("discrete inputs 200..=200"), "{:?}", s[4]);
    // hr:98:u32 shares hr:99:f32's request (98..=100), which runs past the 100 registers.
    assert_eq!(s[6].quality, Quality::BadAddress);
    assert_eq!(good(&s[3]), &Value::UInt(10));
    good(&s[5]);
    // The connection stays up after exceptions.
    assert!(conn.is_connected());
    assert_eq!(good(&read(&mut conn, &["ir:99"]).await[0]), &Value::UInt(990));
}

#[tokio::test]
async fn values_written_by_mbpoll_are_read_in_both_word_orders() {
    if mbpoll_missing() {
        return;
    }
    let Some(peer) = own_peer() else { return };
    let port = peer.port;
    let mut conn = reader(port, "");
    // A fresh server: every HR is its index.
    let hr: Vec<String> = (0..100).map(|i| format!("hr:{i}")).collect();
    for (i, s) in conn.read_once(&hr).await.unwrap().iter().enumerate() {
        assert_eq!(good(s), &Value::UInt(i as u64));
    }
    // mbpoll's default 32-bit layout is low word first (CDAB); -B is high word first (ABCD).
    mbpoll(port, &["-t", "4:float", "-r", "20"], &["3.5"]);
    mbpoll(port, &["-B", "-t", "4:float", "-r", "22"], &["-1234.5"]);
    mbpoll(port, &["-t", "4:int", "-r", "24"], &["-123456789"]);
    mbpoll(port, &["-B", "-t", "4:int", "-r", "26"], &["2000000001"]);
    // 0x0123_4567_89AB_CDEF as four raw registers, most significant first.
    mbpoll(port, &["-t", "4", "-r", "30"], &["291", "17767", "35243", "52719"]);
    let s = read(
        &mut conn,
        &["hr:20:f32:low", "hr:22:f32", "hr:24:i32:cdab", "hr:26:i32:abcd", "hr:30:u64", "hr:30:u64:low", "hr:20:f32"],
    )
    .await;
    assert_eq!(good(&s[0]), &Value::Float(3.5));
    assert_eq!(good(&s[1]), &Value::Float(-1234.5));
    assert_eq!(good(&s[2]), &Value::Int(-123_456_789));
    assert_eq!(good(&s[3]), &Value::Int(2_000_000_001));
    assert_eq!(good(&s[4]), &Value::UInt(0x0123_4567_89AB_CDEF));
    assert_eq!(good(&s[5]), &Value::UInt(0xCDEF_89AB_4567_0123));
    assert_ne!(good(&s[6]), &Value::Float(3.5), "the default word order is high (ABCD)");
    // The URL's word order applies to tags without their own.
    let mut low = reader(port, "?word_order=low");
    let s = read(&mut low, &["hr:20:f32", "hr:24:i32", "hr:22:f32:high"]).await;
    assert_eq!(good(&s[0]), &Value::Float(3.5));
    assert_eq!(good(&s[1]), &Value::Int(-123_456_789));
    assert_eq!(good(&s[2]), &Value::Float(-1234.5));
}

#[tokio::test]
async fn permit_writes_are_read_back_by_mbpoll_and_by_fos() {
    if mbpoll_missing() {
        return;
    }
    let Some(peer) = own_peer() else { return };
    let port = peer.port;
    let mut conn = writer(port, "");
    let write = |conn: &Connection, n: u32, a: &str, v: Value| permit(conn, &format!("p{n}"), a, v);

    let p = write(&conn, 1, "hr:40:u64", Value::UInt(0x0123_4567_89AB_CDEF));
    conn.write(&p).await.unwrap();
    assert_eq!(mbpoll(port, &["-t", "4:hex", "-r", "40", "-c", "4"], &[]), ["0x0123", "0x4567", "0x89AB", "0xCDEF"]);

    let p = write(&conn, 2, "hr:50:f32:low", Value::Float(-2.25));
    conn.write(&p).await.unwrap();
    assert_eq!(mbpoll(port, &["-t", "4:float", "-r", "50"], &[]), ["-2.25"]);

    let p = write(&conn, 3, "hr:52:i32", Value::Int(-123_456_789));
    conn.write(&p).await.unwrap();
    assert_eq!(mbpoll(port, &["-B", "-t", "4:int", "-r", "52"], &[]), ["-123456789"]);

    let p = write(&conn, 4, "hr:60", Value::UInt(65_000));
    conn.write(&p).await.unwrap();
    let p = write(&conn, 5, "hr:61:i16", Value::Int(-5));
    conn.write(&p).await.unwrap();
    assert_eq!(mbpoll(port, &["-t", "4:hex", "-r", "60", "-c", "2"], &[]), ["0xFDE8", "0xFFFB"]);

    let p = write(&conn, 6, "hr:62:f64", Value::Float(-1.0e300));
    conn.write(&p).await.unwrap();

    let p = write(&conn, 7, "co:5", Value::Bool(true));
    conn.write(&p).await.unwrap();
    assert_eq!(mbpoll(port, &["-t", "0", "-r", "4", "-c", "3"], &[]), ["0", "1", "0"]);

    // One bit of a register (Mask Write Register): HR 70 = 70 = 0b100_0110.
    let p = write(&conn, 8, "hr:70.3", Value::Bool(true));
    conn.write(&p).await.unwrap();
    let p = write(&conn, 9, "hr:70.1", Value::Bool(false));
    conn.write(&p).await.unwrap();
    assert_eq!(mbpoll(port, &["-t", "4", "-r", "70"], &[]), [((70 | 8) & !2).to_string()]);

    // FOS reads back what it wrote.
    let s = read(
        &mut conn,
        &["hr:40:u64", "hr:50:f32:low", "hr:52:i32", "hr:60", "hr:61:i16", "hr:62:f64", "co:5", "hr:70.3", "hr:70"],
    )
    .await;
    assert_eq!(good(&s[0]), &Value::UInt(0x0123_4567_89AB_CDEF));
    assert_eq!(good(&s[1]), &Value::Float(-2.25));
    assert_eq!(good(&s[2]), &Value::Int(-123_456_789));
    assert_eq!(good(&s[3]), &Value::UInt(65_000));
    assert_eq!(good(&s[4]), &Value::Int(-5));
    assert_eq!(good(&s[5]), &Value::Float(-1.0e300));
    assert_eq!(good(&s[6]), &Value::Bool(true));
    assert_eq!(good(&s[7]), &Value::Bool(true));
    assert_eq!(good(&s[8]), &Value::UInt(76));

    // Values that do not fit the type are refused before sending.
    let p = write(&conn, 10, "hr:60", Value::Int(70_000));
    let e = conn.write(&p).await.unwrap_err().to_string();
    assert!(e.contains("\"hr:60\"") && e.contains("out of range for u16"), "{e}");
    let p = write(&conn, 11, "hr:50:f32", Value::Float(1.0e300));
    let e = conn.write(&p).await.unwrap_err().to_string();
    assert!(e.contains("out of range for f32"), "{e}");
    let p = write(&conn, 12, "co:5", Value::Int(2));
    assert!(conn.write(&p).await.unwrap_err().to_string().contains("a bool"));
    assert_eq!(mbpoll(port, &["-t", "4:hex", "-r", "60"], &[]), ["0xFDE8"], "still 65000");

    // The device's refusal names the exception.
    let p = write(&conn, 13, "hr:500", Value::UInt(1));
    let e = conn.write(&p).await.unwrap_err();
    assert!(matches!(e, ConnectError::Refused { .. }), "{e:?}");
    assert!(e.to_string().contains("IllegalDataAddress") && e.to_string().contains("hr:500"), "{e}");
    assert!(conn.is_connected(), "an exception does not drop the connection");
}

#[tokio::test]
async fn writes_are_refused_on_read_only_connections_and_read_only_tables() {
    if mbpoll_missing() {
        return;
    }
    let Some(peer) = own_peer() else { return };
    let port = peer.port;
    let mut ro = reader(port, "");
    let p = permit(&ro, "ro1", "hr:10", Value::UInt(4242));
    let e = ro.write(&p).await.unwrap_err();
    assert!(matches!(e, ConnectError::ReadOnly { .. }), "{e:?}");
    assert!(e.to_string().contains("read-only"), "{e}");
    assert!(!ro.is_connected(), "nothing was sent: the read-only connection never connected");
    assert_eq!(mbpoll(port, &["-t", "4", "-r", "10"], &[]), ["10"]);

    let mut rw = writer(port, "");
    for (a, table) in [("ir:5", "input registers"), ("di:3", "discrete inputs"), ("ir:5.1", "input registers")] {
        let p = permit(&rw, &format!("w-{a}"), a, Value::UInt(1));
        let e = rw.write(&p).await.unwrap_err();
        assert!(matches!(e, ConnectError::Address { .. }), "{e:?}");
        let m = e.to_string();
        assert!(m.contains(&format!("{a:?}")) && m.contains(&format!("{table} are read-only")), "{m}");
    }
    assert_eq!(mbpoll(port, &["-t", "3", "-r", "5"], &[]), ["50"]);
}

#[tokio::test]
async fn reconnects_after_the_peer_restarts() {
    let Some(mut peer) = own_peer() else { return };
    let mut conn = reader(peer.port, "");
    let plan = conn.prepare(&addrs(["hr:7", "ir:7"])).unwrap();
    conn.connect().await.unwrap();
    let s = conn.read(plan).await.unwrap();
    assert_eq!((good(&s[0]), good(&s[1])), (&Value::UInt(7), &Value::UInt(70)));

    peer.restart();
    let t0 = Instant::now();
    let mut lost = None;
    let s = loop {
        assert!(t0.elapsed() < Duration::from_secs(20), "no good read after the restart (lost: {lost:?})");
        if !conn.is_connected() && conn.connect().await.is_err() {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        }
        match conn.read(plan).await {
            Ok(s) => break s,
            Err(e) => {
                assert!(e.is_connection_lost(), "{e}");
                assert!(!conn.is_connected(), "a lost connection is dropped");
                lost = Some(e.to_string());
            }
        }
    };
    assert!(lost.is_some(), "the old connection died with the old server");
    assert_eq!((good(&s[0]), good(&s[1])), (&Value::UInt(7), &Value::UInt(70)));
}

#[tokio::test]
async fn a_peer_that_is_down_gives_a_clear_error() {
    let port = common::free_port();
    let mut conn = reader(port, "");
    let e = conn.read_once(&addrs(["hr:0"])).await.unwrap_err();
    assert!(e.is_connection_lost());
    let m = e.to_string();
    assert!(m.contains(&format!("cannot connect to modbus://127.0.0.1:{port}")), "{m}");
    assert!(m.contains("refused"), "{m}");
    // Reading a prepared plan while down says so, too.
    let plan = conn.prepare(&addrs(["hr:0"])).unwrap();
    let e = conn.read(plan).await.unwrap_err();
    assert!(matches!(e, ConnectError::NotConnected { .. }), "{e:?}");
}

#[tokio::test]
async fn bad_addresses_are_refused_at_prepare_naming_them() {
    let mut conn = reader(1, "");
    let e = conn.prepare(&addrs(["hr:0", "hr:0:f33", "hr:1"])).unwrap_err().to_string();
    assert!(e.contains("\"hr:0:f33\"") && e.contains("unknown type"), "{e}");
    let e = conn.prepare(&addrs(["40001"])).unwrap_err().to_string();
    assert!(e.contains("unknown table") && e.contains("hr:0 is 40001"), "{e}");
    let e = Connection::new("modbus://127.0.0.1:1?max_regs=200", ConnectOptions::default()).unwrap_err();
    assert!(e.to_string().contains("max_regs=200 must be 1..=125"), "{e}");
}

/// Rough throughput of one connection, single-threaded, 3 s each, printed (run with `--ignored --nocapture`).
/// The shared peer has only 100 registers, so two shapes of 1,000 tags are measured:
/// `hr:0..999` (8 requests of up to 125 registers; only 0..99 exist, so all 8 answer exception 0x02, each a full
/// round trip), and `hr:(i % 100)` with `max_regs=13` (8 requests that all return data, each register decoded
/// for 10 tags).
#[tokio::test]
#[ignore = "a measurement, not a test"]
async fn throughput_of_1000_tags() {
    let Some(port) = common::shared_peer("MODBUS_PORT", 15020, "pymodbus") else {
        return;
    };
    for (query, list) in [
        ("", (0..1000).map(|i| format!("hr:{i}")).collect::<Vec<_>>()),
        ("?max_regs=13", (0..1000).map(|i| format!("hr:{}", i % 100)).collect()),
    ] {
        let mut conn = reader(port, query);
        let plan = conn.prepare(&list).unwrap();
        conn.connect().await.unwrap();
        let (t0, mut reads, mut good_n) = (Instant::now(), 0u64, 0usize);
        while t0.elapsed() < Duration::from_secs(3) {
            let s = conn.read(plan).await.unwrap();
            good_n = s.iter().filter(|s| s.quality.is_good()).count();
            reads += 1;
        }
        let secs = t0.elapsed().as_secs_f64();
        let requests = conn.plan_requests(plan);
        println!(
            "modbus throughput {query:?}: {requests} requests per read, {reads} reads of 1000 tags in {secs:.2} s = \
             {:.0} tags/s, {:.0} requests/s ({good_n} good samples per read)",
            reads as f64 * 1000.0 / secs,
            reads as f64 * requests as f64 / secs
        );
    }
}
