#![cfg(feature = "melsec")]
//! The MELSEC MC driver against a real third-party peer: virtual-plc 0.3.0 (`--profile Q`), with
//! pymcprotocol 0.3.0 as the independent client that writes values for us to read and reads
//! the values we write. Every test runs over both 3E and 4E frames.
//!
//! The shared peer (MC_PORT, default 15000) is used for the pymcprotocol read-back test, at
//! D4000.., D6000.., M4000.., M6000.. (nobody else uses them); every other test starts its own
//! virtual-plc on a free port.

mod common;

use std::io::Write;
use std::process::Command;
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use fos_connect::poll::{run_poller, Backoff, PollGroup};
use fos_connect::{ConnectError, ConnectOptions, Connection, Quality, Value, WriteAccess, WritePermit};
use tokio::sync::{mpsc, watch};

use common::PeerProcess;

const FRAMES: [&str; 2] = ["3e", "4e"];

/// Start our own virtual-plc (Q profile) with extra arguments.
fn own_peer(extra: &[&str]) -> Option<PeerProcess> {
    let port = common::free_port();
    let mut cmd: Vec<String> = vec![
        common::venv_bin("virtual-plc").display().to_string(),
        "--host".into(),
        "127.0.0.1".into(),
        "--port".into(),
        port.to_string(),
        "--profile".into(),
        "Q".into(),
    ];
    cmd.extend(extra.iter().map(|s| s.to_string()));
    PeerProcess::start(cmd, port)
}

/// A JSON file for `--init` or `--fault-plan`.
fn json_file(json: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(json.as_bytes()).unwrap();
    f
}

/// Run a pymcprotocol script (3E or 4E client on `port` as `c`) and return its stdout.
fn pymc(port: u16, frame: &str, body: &str) -> String {
    let script = format!(
        "import struct, sys\nfrom pymcprotocol import Type3E, Type4E\n\
         c = ({cls})(plctype='Q'); c.setaccessopt(commtype='binary'); c.connect('127.0.0.1', {port})\n\
         {body}\nc.close()\n",
        cls = if frame == "4e" { "Type4E" } else { "Type3E" }
    );
    let out = Command::new(common::venv_python()).arg("-c").arg(&script).output().expect("run pymcprotocol");
    assert!(out.status.success(), "pymcprotocol failed: {}\n{script}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn url(port: u16, frame: &str) -> String {
    format!("melsec://127.0.0.1:{port}?frame={frame}")
}

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn gate() -> (SigningKey, ConnectOptions) {
    let key = SigningKey::from_bytes(&[42u8; 32]);
    let options = ConnectOptions { write_access: WriteAccess::Gate(key.verifying_key()), ..ConnectOptions::default() };
    (key, options)
}

fn permit(key: &SigningKey, conn: &Connection, id: &str, address: &str, value: Value) -> WritePermit {
    WritePermit::issue(key, id, conn.url().endpoint(), address, value, Duration::from_secs(60), vec!["test".into()])
}

fn values(samples: &[fos_connect::Sample]) -> Vec<Option<Value>> {
    samples.iter().map(|s| s.value.clone()).collect()
}

#[tokio::test]
async fn values_written_by_pymcprotocol_read_back_equal() {
    let Some(port) = common::shared_peer("MC_PORT", 15000, "virtual-plc (MELSEC MC)") else {
        return;
    };
    for (frame, base) in [("3e", 4000), ("4e", 6000)] {
        let marker: i64 = if frame == "3e" { 3 } else { 4 };
        pymc(
            port,
            frame,
            &format!(
                "f = struct.unpack('<2h', struct.pack('<f', 21.5 + {marker}))\n\
                 c.batchwrite_wordunits('D{base}', [1234 + {marker}, -5, f[0], f[1]])\n\
                 c.randomwrite(word_devices=['D{w1}', 'D{w2}'], word_values=[-1, 777], \
                               dword_devices=['D{d1}', 'D{d2}'], dword_values=[-123456789, 99999 + {marker}])\n\
                 c.batchwrite_bitunits('M{base}', [1, 0, 1])",
                w1 = base + 10,
                w2 = base + 500,
                d1 = base + 20,
                d2 = base + 900,
            ),
        );
        let addresses = [
            format!("D{base}"),
            format!("D{}", base + 1),
            format!("D{}:f32", base + 2),
            format!("D{}:u16", base + 10),
            format!("D{}:i32", base + 20),
            format!("D{}", base + 500),
            format!("D{}:u32", base + 900),
            format!("M{base}"),
            format!("M{}", base + 1),
            format!("M{}", base + 2),
            format!("D{base}.1"),
            format!("D{base}.0"),
        ];
        let mut conn = Connection::new(&url(port, frame), ConnectOptions::default()).unwrap();
        let plan = conn.prepare(&addresses).unwrap();
        // D4000..D4020 in one batch read, D4500 and D4900:u32 in one random read, M in one bit read.
        assert_eq!(conn.plan_requests(plan), 3, "{frame}");
        conn.connect().await.unwrap();
        let samples = conn.read(plan).await.unwrap();
        assert!(samples.iter().all(|s| s.quality == Quality::Good), "{frame}: {samples:#?}");
        let first = 1234 + marker; // 1237 = 0b10011010101, 1238 = 0b10011010110
        assert_eq!(
            values(&samples),
            [
                Some(Value::Int(first)),
                Some(Value::Int(-5)),
                Some(Value::Float(21.5 + marker as f64)),
                Some(Value::UInt(65535)),
                Some(Value::Int(-123_456_789)),
                Some(Value::Int(777)),
                Some(Value::UInt(99_999 + marker as u64)),
                Some(Value::Bool(true)),
                Some(Value::Bool(false)),
                Some(Value::Bool(true)),
                Some(Value::Bool(first & 2 != 0)),
                Some(Value::Bool(first & 1 != 0)),
            ],
            "{frame}"
        );
        assert_eq!(samples[0].address, addresses[0]);
        assert_eq!(samples[2].dtype, fos_connect::DataType::F32);
    }
}

#[tokio::test]
async fn gated_writes_read_back_in_pymcprotocol_and_read_only_refuses() {
    let Some(peer) = own_peer(&[]) else { return };
    let (key, options) = gate();
    for (n, frame) in FRAMES.iter().enumerate() {
        let f32v = 12.25 + n as f64;
        let i32v = -7_654_321 - n as i64;
        let mut conn = Connection::new(&url(peer.port, frame), options.clone()).unwrap();
        conn.write(&permit(&key, &conn, &format!("{frame}-1"), "D200:f32", Value::Float(f32v))).await.unwrap();
        conn.write(&permit(&key, &conn, &format!("{frame}-2"), "M10", Value::Bool(true))).await.unwrap();
        conn.write(&permit(&key, &conn, &format!("{frame}-3"), "D300:i32", Value::Int(i32v))).await.unwrap();
        let out = pymc(
            peer.port,
            frame,
            "w = c.batchread_wordunits('D200', 2)\n\
             f = struct.unpack('<f', struct.pack('<2H', *[x & 0xFFFF for x in w]))[0]\n\
             m = c.batchread_bitunits('M10', 1)[0]\n\
             _, d = c.randomread(word_devices=[], dword_devices=['D300'])\n\
             print(f, m, d[0])",
        );
        assert_eq!(out, format!("{f32v} 1 {i32v}"), "{frame}");
        // Our own read agrees.
        let samples = conn.read_once(&strings(&["D200:f32", "M10", "D300:i32"])).await.unwrap();
        assert_eq!(values(&samples), [Some(Value::Float(f32v)), Some(Value::Bool(true)), Some(Value::Int(i32v))]);
        // Writing M10 false reads back false.
        conn.write(&permit(&key, &conn, &format!("{frame}-4"), "M10", Value::Bool(false))).await.unwrap();
        assert_eq!(pymc(peer.port, frame, "print(c.batchread_bitunits('M10', 1)[0])"), "0");

        // Values that do not fit, and bits of words, are refused before anything is sent.
        let e = conn.write(&permit(&key, &conn, &format!("{frame}-5"), "D400", Value::Int(70_000))).await.unwrap_err();
        assert!(e.to_string().contains("D400") && e.to_string().contains("out of range"), "{e}");
        let e = conn.write(&permit(&key, &conn, &format!("{frame}-6"), "D400.3", Value::Bool(true))).await.unwrap_err();
        assert!(matches!(e, ConnectError::Unsupported { .. }) && e.to_string().contains("D400.3"), "{e}");
        let e = conn.write(&permit(&key, &conn, &format!("{frame}-7"), "Q400", Value::Int(1))).await.unwrap_err();
        assert!(matches!(e, ConnectError::Address { .. }) && e.to_string().contains("Q400"), "{e}");

        // The same write on a read-only connection is refused with nothing sent.
        let mut ro = Connection::new(&url(peer.port, frame), ConnectOptions::default()).unwrap();
        let p = permit(&key, &ro, &format!("{frame}-8"), "D200:f32", Value::Float(-1.0));
        let e = ro.write(&p).await.unwrap_err();
        assert!(matches!(e, ConnectError::ReadOnly { .. }), "{e}");
        assert!(!ro.is_connected(), "a read-only write must not even connect");
        let w = pymc(peer.port, frame, "print(c.batchread_wordunits('D200', 2))");
        assert_ne!(w, "[0, -16512]", "-1.0f32 must not have been written");
    }
}

#[tokio::test]
async fn a_2000_word_read_takes_three_requests_and_the_last_part_is_intact() {
    let seed: Vec<String> = (0..2000u32).map(|i| ((i * 7 + 3) % 65536).to_string()).collect();
    let init = json_file(&format!("{{\"D\": {{\"1000\": [{}]}}}}", seed.join(",")));
    let Some(peer) = own_peer(&["--init", init.path().to_str().unwrap()]) else {
        return;
    };
    let addresses: Vec<String> = (1000..3000).map(|n| format!("D{n}:u16")).collect();
    for frame in FRAMES {
        let mut conn = Connection::new(&url(peer.port, frame), ConnectOptions::default()).unwrap();
        let plan = conn.prepare(&addresses).unwrap();
        assert_eq!(conn.plan_requests(plan), 3);
        conn.connect().await.unwrap();
        let samples = conn.read(plan).await.unwrap();
        assert_eq!(samples.len(), 2000);
        for (i, s) in samples.iter().enumerate() {
            assert_eq!(s.value, Some(Value::UInt(((i as u64) * 7 + 3) % 65536)), "{frame} {}", s.address);
        }
        assert_eq!(samples[1999].address, "D2999:u16");
        assert_eq!(samples[1999].value, Some(Value::UInt(1999 * 7 + 3)));
    }
}

#[tokio::test]
async fn x_and_y_are_numbered_in_hexadecimal() {
    // virtual-plc's --init takes decimal device numbers: X31 = X1F, Y16 = Y10, B255 = BFF.
    let init = json_file(r#"{"X": {"31": [1]}, "Y": {"16": [1]}, "B": {"255": [1]}, "W": {"26": [4242]}}"#);
    let Some(peer) = own_peer(&["--init", init.path().to_str().unwrap()]) else {
        return;
    };
    for frame in FRAMES {
        let mut conn = Connection::new(&url(peer.port, frame), ConnectOptions::default()).unwrap();
        let samples =
            conn.read_once(&strings(&["X1F", "X31", "x1e", "Y10", "Y16", "BFF", "W1A", "W26"])).await.unwrap();
        assert_eq!(
            values(&samples),
            [
                Some(Value::Bool(true)),
                Some(Value::Bool(false)),
                Some(Value::Bool(false)),
                Some(Value::Bool(true)),
                Some(Value::Bool(false)),
                Some(Value::Bool(true)),
                Some(Value::Int(4242)),
                Some(Value::Int(0)),
            ],
            "{frame}"
        );
        // pymcprotocol (hex for X/Y too) agrees.
        assert_eq!(
            pymc(peer.port, frame, "print(c.batchread_bitunits('X1F', 1)[0], c.batchread_bitunits('Y10', 1)[0])"),
            "1 1"
        );
    }
}

#[tokio::test]
async fn device_errors_are_bad_samples_naming_the_address_and_end_code() {
    let Some(peer) = own_peer(&["--limit", "D:0-9999"]) else {
        return;
    };
    for frame in FRAMES {
        let mut conn = Connection::new(&url(peer.port, frame), ConnectOptions::default()).unwrap();
        // Unknown device: refused when planning, naming the address.
        let e = conn.prepare(&strings(&["D0", "Q12"])).unwrap_err();
        assert!(matches!(e, ConnectError::Address { .. }) && e.to_string().contains("\"Q12\""), "{e}");
        // D20000 is past the device's range: C056. The random read that holds it falls back to
        // one request per address, so D100 and M0 stay good.
        let addresses = strings(&["D100", "D20000", "D9999:i32", "M0", "D5"]);
        let plan = conn.prepare(&addresses).unwrap();
        assert_eq!(conn.plan_requests(plan), 2);
        conn.connect().await.unwrap();
        for round in 0..2 {
            let s = conn.read(plan).await.unwrap();
            assert_eq!(s[0].quality, Quality::Good, "{frame} round {round}: {s:#?}");
            assert_eq!(s[3].quality, Quality::Good);
            assert_eq!(s[4].quality, Quality::Good);
            for bad in [1, 2] {
                assert_eq!(s[bad].quality, Quality::BadAddress, "{frame}: {:?}", s[bad]);
                let d = s[bad].detail.clone().unwrap_or_default();
                let name = if bad == 1 { "D20000" } else { "D9999" };
                assert!(d.contains(name) && d.contains("0xC056") && d.contains("out of range"), "{d}");
            }
        }
        assert_eq!(conn.plan_requests(plan), 5, "the refused random read became one request per address");
    }

    // A device error injected by the peer (C059 on the first batch read) is a bad sample with
    // the code and its meaning; the next read is good again. (One peer per frame kind: the
    // peer's fault matching counts connections, and the readiness probe is one.)
    let faults = json_file(
        r#"{"steps": [{"match": {"command": "0x0401"}, "action": {"type": "bad_end_code", "code": 49241}}]}"#,
    );
    for frame in FRAMES {
        let Some(peer) = own_peer(&["--fault-plan", faults.path().to_str().unwrap()]) else {
            return;
        };
        let mut conn = Connection::new(&url(peer.port, frame), ConnectOptions::default()).unwrap();
        let s = conn.read_once(&strings(&["D5:f32"])).await.unwrap();
        assert_eq!(s[0].quality, Quality::BadDevice, "{s:?}");
        let d = s[0].detail.clone().unwrap_or_default();
        assert!(d.contains("D5..D6") && d.contains("0xC059") && d.contains("command"), "{d}");
        let s = conn.read_once(&strings(&["D5:f32"])).await.unwrap();
        assert_eq!(s[0].value, Some(Value::Float(0.0)), "{frame}");
    }
}

#[tokio::test]
async fn a_corrupt_reply_drops_the_connection_and_the_next_read_reconnects() {
    let faults = json_file(
        r#"{"steps": [{"match": {"command": "0x0401"}, "action": {"type": "corrupt_header", "offset": 0, "xor": 255}}]}"#,
    );
    for frame in FRAMES {
        let Some(peer) = own_peer(&["--fault-plan", faults.path().to_str().unwrap()]) else {
            return;
        };
        let mut conn = Connection::new(&url(peer.port, frame), ConnectOptions::default()).unwrap();
        let e = conn.read_once(&strings(&["D1"])).await.unwrap_err();
        assert!(matches!(e, ConnectError::Frame { .. }) && e.is_connection_lost(), "{e}");
        assert!(e.to_string().contains("subheader"), "{e}");
        assert!(!conn.is_connected());
        let s = conn.read_once(&strings(&["D1"])).await.unwrap();
        assert_eq!(s[0].value, Some(Value::Int(0)));
    }
}

#[tokio::test]
async fn reads_again_after_the_peer_restarts() {
    let init = json_file(r#"{"D": {"10": [42]}}"#);
    let Some(mut peer) = own_peer(&["--init", init.path().to_str().unwrap()]) else {
        return;
    };
    for frame in FRAMES {
        let mut conn = Connection::new(&url(peer.port, frame), ConnectOptions::default()).unwrap();
        let plan = conn.prepare(&strings(&["D10"])).unwrap();
        conn.connect().await.unwrap();
        assert_eq!(conn.read(plan).await.unwrap()[0].value, Some(Value::Int(42)));
        peer.restart();
        let t0 = Instant::now();
        let mut lost = false;
        let value = loop {
            assert!(t0.elapsed() < Duration::from_secs(20), "{frame}: no good read after restart");
            if !conn.is_connected() && conn.connect().await.is_err() {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            match conn.read(plan).await {
                Ok(s) => break s[0].value.clone(),
                Err(e) => {
                    assert!(e.is_connection_lost(), "{e}");
                    lost = true;
                }
            }
        };
        assert!(lost, "{frame}: the old connection must have been noticed as lost");
        assert_eq!(value, Some(Value::Int(42)));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_down_at_start_is_retried_until_it_comes_up() {
    let init = json_file(r#"{"D": {"10": [7]}}"#);
    for frame in FRAMES {
        let port = common::free_port();
        let mut conn = Connection::new(&url(port, frame), ConnectOptions::default()).unwrap();
        let e = conn.connect().await.unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains(&format!("cannot connect to melsec://127.0.0.1:{port}")), "{msg}");
        assert!(e.is_connection_lost());

        let (tx, mut rx) = mpsc::channel(64);
        let (stop_tx, stop_rx) = watch::channel(false);
        let group = PollGroup { name: "g".into(), interval: Duration::from_millis(200), addresses: strings(&["D10"]) };
        let poller = tokio::spawn(run_poller(
            conn,
            vec![group],
            tx,
            None,
            Backoff::new(Duration::from_millis(100), Duration::from_millis(400)),
            stop_rx,
        ));
        // The outage is reported as a bad sample first.
        let first = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await.unwrap().unwrap();
        assert_eq!(first.quality, Quality::BadNotConnected);
        assert!(first.detail.unwrap_or_default().contains("cannot connect"));
        tokio::time::sleep(Duration::from_millis(500)).await;
        let mut cmd = vec![common::venv_bin("virtual-plc").display().to_string()];
        cmd.extend(strings(&["--host", "127.0.0.1", "--port", &port.to_string(), "--profile", "Q"]));
        cmd.extend(strings(&["--init", init.path().to_str().unwrap()]));
        let Some(_peer) = tokio::task::spawn_blocking(move || PeerProcess::start(cmd, port)).await.unwrap() else {
            return;
        };
        let good = tokio::time::timeout(Duration::from_secs(30), async {
            loop {
                let s = rx.recv().await.expect("poller ended");
                if s.quality == Quality::Good {
                    return s;
                }
            }
        })
        .await
        .expect("no good sample within 30 s of the peer coming up");
        assert_eq!((good.address.as_str(), good.value), ("D10", Some(Value::Int(7))));
        stop_tx.send(true).unwrap();
        drop(rx);
        let _ = tokio::time::timeout(Duration::from_secs(10), poller).await;
    }
}

#[tokio::test]
async fn browse_names_the_cpu() {
    let Some(peer) = own_peer(&["--text-pad", "0x20"]) else {
        return;
    };
    for frame in FRAMES {
        let mut conn = Connection::new(&url(peer.port, frame), ConnectOptions::default()).unwrap();
        let entries = conn.browse().await.unwrap();
        assert_eq!(entries[0].kind, "cpu");
        assert_eq!(entries[0].name, "VirtualPLC-Q", "{frame}");
        assert!(entries[0].detail.as_deref().unwrap_or_default().contains("0xFFFF"));
        assert!(entries.iter().any(|e| e.address == "D0" && e.kind == "device"));
    }
}
