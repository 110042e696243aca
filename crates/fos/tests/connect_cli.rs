//! Real-binary tests of the connectivity commands against real third-party peers (`peers/`):
//! `fos read` (JSON Lines keys, exit codes, errors), `fos browse`, `fos poll`, `fos subscribe`
//! (MQTT and Sparkplug B) and `fos write` with a gate permit. A missing peer skips loudly, and
//! fails under `CI=true`.

use std::io::Write as _;
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use fos_connect::{Value, WritePermit};

fn fos(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fos")).args(args).output().expect("run fos")
}

fn ci() -> bool {
    std::env::var("CI").map(|v| v == "true" || v == "1").unwrap_or(false)
}

fn port_open(port: u16) -> bool {
    TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(300)).is_ok()
}

/// The port of a shared peer started by `peers/scripts/peers.sh start`, or None (skip; fail under CI).
fn peer(env: &str, default: u16, what: &str) -> Option<u16> {
    let port = std::env::var(env).ok().and_then(|v| v.parse().ok()).unwrap_or(default);
    if port_open(port) {
        return Some(port);
    }
    let msg = format!("{what} is not listening on 127.0.0.1:{port}; run `bash peers/scripts/peers.sh install && bash peers/scripts/peers.sh start`");
    assert!(!ci(), "{msg}");
    eprintln!("SKIPPED: {msg}");
    None
}

fn peers_dir() -> PathBuf {
    std::env::var_os("PEERS_DIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/tmp/peers"))
}

fn lines(out: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn read_prints_json_lines_with_the_documented_keys() {
    let Some(port) = peer("MODBUS_PORT", 15020, "the pymodbus peer") else { return };
    let url = format!("modbus://127.0.0.1:{port}?unit=1");
    let out = fos(&["read", &url, "ir:{1..3}", "hr:2", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v = lines(&out);
    assert_eq!(v.len(), 4);
    for (i, x) in v.iter().take(3).enumerate() {
        assert_eq!(x["address"], format!("ir:{}", i + 1));
        assert_eq!(x["value"], 10 * (i as u64 + 1), "IR i = 10 i on the peer");
        assert_eq!(x["type"], "u16");
        assert_eq!(x["quality"], "good");
        assert!(x["time"].as_str().unwrap().ends_with('Z'));
    }
    // A tag the device refuses: exit code 1, a bad sample naming the exception.
    let out = fos(&["read", &url, "hr:0", "hr:500", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let v = lines(&out);
    assert_eq!(v[0]["quality"], "good");
    assert_eq!(v[1]["quality"], "bad_address");
    assert!(v[1]["detail"].as_str().unwrap().contains("IllegalDataAddress"), "{}", v[1]);
    // Bad address syntax and a device that is down: exit code 2 with a clear message.
    let out = fos(&["read", &url, "40001"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid modbus address \"40001\""));
    let out = fos(&["read", "modbus://127.0.0.1:1?unit=1", "hr:0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot connect to modbus://127.0.0.1:1"));
}

#[test]
fn read_speaks_s7_enip_melsec_and_opcua() {
    if let Some(p) = peer("S7_NATIVE_PORT", 10102, "the native Snap7 peer") {
        let v = lines(&fos(&["read", &format!("s7://127.0.0.1:{p}?rack=0&slot=1"), "DB1.DBW0", "DB1.DBD2:REAL", "--json"]));
        assert_eq!((v[0]["value"].as_i64(), v[1]["value"].as_f64()), (Some(1234), Some(3.5)));
    }
    if let Some(p) = peer("ENIP_PORT", 44819, "the cpppo peer") {
        let v = lines(&fos(&["read", &format!("enip://127.0.0.1:{p}"), "Counter", "Scada[3]", "--json"]));
        assert_eq!((v[0]["type"].as_str(), v[1]["type"].as_str()), (Some("i32"), Some("i16")));
        assert_eq!(v[1]["quality"], "good");
    }
    if let Some(p) = peer("MC_PORT", 15000, "the virtual-plc peer") {
        let v = lines(&fos(&["read", &format!("melsec://127.0.0.1:{p}?frame=4e"), "D4000:f32", "X1F", "--json"]));
        assert_eq!((v[0]["type"].as_str(), v[1]["type"].as_str()), (Some("f32"), Some("bool")));
    }
    if let Some(p) = peer("OPCUA_PORT", 14840, "the asyncua peer") {
        let url = format!("opcua://127.0.0.1:{p}/");
        let v = lines(&fos(&["read", &url, "ns=2;s=Plant.Temp", "--json"]));
        assert_eq!(v[0]["type"], "f64");
        assert_eq!(v[0]["time_source"], "device");
        let out = fos(&["browse", &url, "--json"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(lines(&out).iter().any(|e| e["address"] == "ns=2;s=Plant.Temp" && e["type"] == "f64"));
    }
}

#[test]
fn poll_reads_groups_from_a_config_file() {
    let Some(port) = peer("MODBUS_PORT", 15020, "the pymodbus peer") else { return };
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("connect.toml");
    std::fs::write(
        &cfg,
        format!(
            "[[device]]\nurl = \"modbus://127.0.0.1:{port}?unit=1\"\n\n[[device.group]]\nname = \"fast\"\ninterval_ms = 50\ntags = [\"ir:1\", \"ir:2\"]\n"
        ),
    )
    .unwrap();
    let out = fos(&["poll", cfg.to_str().unwrap(), "--count", "6", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v = lines(&out);
    assert_eq!(v.len(), 6);
    assert!(v.iter().all(|x| x["quality"] == "good"));
    assert_eq!(v[4]["address"], "ir:1");
    assert_eq!(v[5]["value"], 20);
    // A typo in the config is refused, naming the file and key.
    std::fs::write(&cfg, "[[device]]\nurl = \"modbus://h\"\ntimout_ms = 5\n").unwrap();
    let out = fos(&["poll", cfg.to_str().unwrap(), "--count", "1"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("connect.toml") && err.contains("timout_ms"), "{err}");
}

#[test]
fn write_needs_the_gates_permit_and_key() {
    let py = peers_dir().join("venv/bin/python");
    if !py.exists() {
        assert!(!ci(), "{} missing: run `bash peers/scripts/peers.sh install`", py.display());
        eprintln!("SKIPPED: {} missing", py.display());
        return;
    }
    // Our own pymodbus, so the shared peer's registers stay as they are.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../peers/scripts/modbus_server.py");
    let _server = Killed(
        Command::new(&py).arg(&script).arg(port.to_string()).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap(),
    );
    let t0 = Instant::now();
    while !port_open(port) {
        assert!(t0.elapsed() < Duration::from_secs(30), "pymodbus did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let url = format!("modbus://127.0.0.1:{port}?unit=1");
    let gate = SigningKey::from_bytes(&[42u8; 32]);
    let key_hex: String = gate.verifying_key().as_bytes().iter().map(|b| format!("{b:02x}")).collect();
    let permit = WritePermit::issue(
        &gate,
        "proposal-7",
        format!("modbus://127.0.0.1:{port}"),
        "hr:40:f32",
        Value::Float(12.5),
        Duration::from_secs(60),
        vec!["operator-a".into()],
    );
    let dir = tempfile::tempdir().unwrap();
    let pf = dir.path().join("permit.json");
    std::fs::File::create(&pf).unwrap().write_all(serde_json::to_string(&permit).unwrap().as_bytes()).unwrap();
    let pf = pf.to_str().unwrap();

    let before = lines(&fos(&["read", &url, "hr:40:f32", "--json"]))[0]["value"].as_f64();
    assert_ne!(before, Some(12.5));
    // Signed by another key: refused, nothing written.
    let other: String =
        SigningKey::from_bytes(&[1u8; 32]).verifying_key().as_bytes().iter().map(|b| format!("{b:02x}")).collect();
    let out = fos(&["write", "--permit", pf, "--gate-key", &other, &url]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not verify"));
    let v = lines(&fos(&["read", &url, "hr:40:f32", "--json"]));
    assert_eq!(v[0]["value"].as_f64(), before);

    // The gate's key: written, and read back.
    let out = fos(&["write", "--permit", pf, "--gate-key", &key_hex, &url]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v = lines(&fos(&["read", &url, "hr:40:f32", "--json"]));
    assert_eq!(v[0]["value"].as_f64(), Some(12.5));
}

#[test]
fn subscribe_prints_mqtt_and_sparkplug_messages() {
    let Some(port) = peer("MQTT_PORT", 11883, "mosquitto") else { return };
    let topic = format!("fos-cli-test/{}", std::process::id());
    let child = Command::new(env!("CARGO_BIN_EXE_fos"))
        .args(["subscribe", &format!("mqtt://127.0.0.1:{port}"), &topic, "--count", "1", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Publish (retained, so it arrives whenever the subscription starts).
    let status = Command::new("mosquitto_pub")
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-t", &topic, "-m", "21.5", "-r", "-q", "1"])
        .status();
    let Ok(status) = status else {
        let mut child = child;
        let _ = child.kill();
        let _ = child.wait();
        assert!(!ci(), "mosquitto_pub not installed");
        return;
    };
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v = lines(&out);
    assert_eq!(v[0]["kind"], "message");
    assert_eq!(v[0]["topic"], topic.as_str());
    assert_eq!(v[0]["payload"], "21.5");
    // Clear the retained message.
    let _ = Command::new("mosquitto_pub")
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-t", &topic, "-n", "-r"])
        .status();

    // Sparkplug B from a real edge node (pysparkplug): the birth's metrics by name and type.
    let py = peers_dir().join("venv/bin/python");
    if !py.exists() {
        assert!(!ci(), "{} missing", py.display());
        return;
    }
    let group_topic = "spBv1.0/#";
    let child = Command::new(env!("CARGO_BIN_EXE_fos"))
        .args(["subscribe", &format!("mqtt://127.0.0.1:{port}"), group_topic, "--sparkplug", "--count", "3", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let edge = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../peers/scripts/spb_edge.py");
    let st = Command::new(&py).arg(&edge).arg("1").arg(port.to_string()).stdout(Stdio::null()).status().unwrap();
    assert!(st.success());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v = lines(&out);
    let birth = v.iter().find(|m| m["message_type"] == "NBIRTH").unwrap_or_else(|| panic!("no NBIRTH in {v:?}"));
    let metrics = birth["metrics"].as_array().unwrap();
    let temp = metrics.iter().find(|m| m["name"] == "Temp").unwrap();
    assert_eq!((temp["datatype"].as_str(), temp["value"].as_f64()), (Some("Double"), Some(21.5)));
}
