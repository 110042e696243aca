//! MQTT and Sparkplug B against real third-party peers: the mosquitto broker, a pysparkplug edge
//! node, and payloads encoded by Eclipse Tahu's JavaScript codec (`sparkplug-payload`).
#![cfg(feature = "mqtt")]

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use fos_connect::drivers::mqtt::sparkplug::{proto, MessageType, SpDataType, SparkplugMessage};
use fos_connect::drivers::mqtt::{subscribe, MqttEvent, PayloadEncoding, RawMessage, SubscribeOptions};
use fos_connect::{ConnectError, Quality, TimeSource, Value};
use prost::Message as _;
use serde_json::{json, Value as Json};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use common::PeerProcess;

const WAIT: Duration = Duration::from_secs(20);

/// A mosquitto of our own on a free port (for tests that restart it or need a quiet broker).
fn own_broker() -> Option<(PeerProcess, tempfile::TempDir)> {
    let dir = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let conf = dir.path().join("mosquitto.conf");
    std::fs::write(&conf, format!("listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")).unwrap();
    let p = PeerProcess::start(vec!["/usr/sbin/mosquitto".into(), "-c".into(), conf.display().to_string()], port)?;
    Some((p, dir))
}

fn unique(prefix: &str) -> String {
    let n = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
    format!("{prefix}-{}-{n:x}", std::process::id())
}

fn mosquitto_pub(port: u16, args: &[&str]) {
    let port = port.to_string();
    let out = Command::new("mosquitto_pub")
        .args(["-h", "127.0.0.1", "-p", port.as_str()])
        .args(args)
        .output()
        .expect("mosquitto_pub (apt-get install mosquitto-clients)");
    assert!(out.status.success(), "mosquitto_pub {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

type Sub = (JoinHandle<Result<(), ConnectError>>, mpsc::Receiver<MqttEvent>);

fn start(port: u16, topics: &[&str], opts: SubscribeOptions) -> Sub {
    let (tx, rx) = mpsc::channel(256);
    let url = format!("mqtt://127.0.0.1:{port}");
    let topics: Vec<String> = topics.iter().map(|s| s.to_string()).collect();
    (tokio::spawn(async move { subscribe(&url, &topics, opts, tx).await }), rx)
}

/// Events until `done` says stop (the last one included), or panic after `WAIT`.
async fn collect_until(rx: &mut mpsc::Receiver<MqttEvent>, mut done: impl FnMut(&MqttEvent) -> bool) -> Vec<MqttEvent> {
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut got = Vec::new();
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(ev)) => {
                let stop = done(&ev);
                got.push(ev);
                if stop {
                    return got;
                }
            }
            Ok(None) => panic!("subscription ended; got {got:#?}"),
            Err(_) => panic!("timed out; got {got:#?}"),
        }
    }
}

fn raw(ev: &MqttEvent) -> Option<&RawMessage> {
    match ev {
        MqttEvent::Message(m) => Some(m),
        _ => None,
    }
}

fn spb(ev: &MqttEvent) -> Option<&SparkplugMessage> {
    match ev {
        MqttEvent::Sparkplug(m) => Some(m),
        _ => None,
    }
}

/// Publish to `topic` until the subscription shows it (so it is known to be active).
async fn sync(port: u16, rx: &mut mpsc::Receiver<MqttEvent>, topic: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        mosquitto_pub(port, &["-t", topic, "-m", "sync"]);
        let wait = tokio::time::sleep(Duration::from_millis(500));
        tokio::pin!(wait);
        loop {
            tokio::select! {
                ev = rx.recv() => {
                    let ev = ev.expect("subscription ended");
                    if raw(&ev).is_some_and(|m| m.topic == topic) {
                        return;
                    }
                }
                () = &mut wait => break,
            }
        }
        assert!(Instant::now() < deadline, "subscription never became active");
    }
}

fn metric<'a>(m: &'a SparkplugMessage, name: &str) -> &'a fos_connect::drivers::mqtt::sparkplug::SparkplugMetric {
    m.metrics.iter().find(|x| x.name == name).unwrap_or_else(|| panic!("no metric {name} in {m:#?}"))
}

#[tokio::test]
async fn plain_messages_arrive_with_topic_payload_qos_and_retain() {
    let Some(port) = common::shared_peer("MQTT_PORT", 11883, "mosquitto") else {
        return;
    };
    let prefix = unique("fos-test/plain");
    let retained = format!("{prefix}/retained");
    mosquitto_pub(port, &["-t", &retained, "-m", "hello retained", "-q", "1", "-r"]);
    let t0 = Instant::now();
    let (task, mut rx) = start(port, &[&format!("{prefix}/#")], SubscribeOptions { qos: 1, ..Default::default() });

    // The retained message comes first, flagged, at QoS 1.
    let ev = collect_until(&mut rx, |e| raw(e).is_some()).await;
    let m = raw(ev.last().unwrap()).unwrap();
    assert_eq!((m.topic.as_str(), m.payload.as_str()), (retained.as_str(), "hello retained"));
    assert_eq!((m.qos, m.retain, m.encoding), (1, true, PayloadEncoding::Utf8));
    mosquitto_pub(port, &["-t", &retained, "-r", "-n"]); // clear it

    // Binary payload at QoS 0: base64, not retained.
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::write(&bin, [0xffu8, 0x00, 0x10, 0x80]).unwrap();
    let bin_topic = format!("{prefix}/bin");
    mosquitto_pub(port, &["-t", &bin_topic, "-f", bin.to_str().unwrap(), "-q", "0"]);
    let ev = collect_until(&mut rx, |e| raw(e).is_some_and(|m| m.topic == bin_topic)).await;
    let m = raw(ev.last().unwrap()).unwrap();
    assert_eq!((m.payload.as_str(), m.encoding, m.qos, m.retain), ("/wAQgA==", PayloadEncoding::Base64, 0, false));

    // Published at QoS 2 to a QoS 1 subscription: delivered at QoS 1.
    let q2 = format!("{prefix}/q2");
    mosquitto_pub(port, &["-t", &q2, "-m", "21.5", "-q", "2"]);
    let ev = collect_until(&mut rx, |e| raw(e).is_some_and(|m| m.topic == q2)).await;
    let last = ev.last().unwrap();
    assert_eq!(raw(last).unwrap().qos, 1);
    let line: Json = serde_json::from_str(&last.to_json()).unwrap();
    assert_eq!(line["kind"], "message");
    assert_eq!(line["payload"], "21.5");
    assert_eq!(line["topic"], q2.as_str());

    // Closing the receiver ends the subscription cleanly.
    drop(rx);
    let r = tokio::time::timeout(WAIT, task).await.expect("subscription did not end").unwrap();
    assert!(r.is_ok(), "{r:?}");
    eprintln!("plain messages: {:?}", t0.elapsed());
}

#[tokio::test]
async fn broker_down_at_start_is_a_clear_error() {
    let port = common::free_port();
    let (tx, _rx) = mpsc::channel(4);
    let t0 = Instant::now();
    let e = subscribe(&format!("mqtt://127.0.0.1:{port}"), &["a/#".to_string()], SubscribeOptions::default(), tx)
        .await
        .unwrap_err();
    let text = e.to_string();
    assert!(matches!(e, ConnectError::Connect { .. }), "{e:?}");
    assert!(text.contains(&format!("cannot connect to mqtt://127.0.0.1:{port}")), "{text}");
    assert!(text.to_lowercase().contains("refused"), "{text}");
    assert!(t0.elapsed() < Duration::from_secs(10));
    // Bad input is refused before any I/O, naming it.
    let (tx, _rx) = mpsc::channel(4);
    let e = subscribe(&format!("mqtt://127.0.0.1:{port}"), &["plant/#/x".to_string()], SubscribeOptions::default(), tx)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("\"plant/#/x\"") && e.contains("'#'"), "{e}");
}

#[tokio::test]
async fn subscription_resumes_after_broker_restart() {
    let Some((mut broker, _dir)) = own_broker() else {
        return;
    };
    let port = broker.port;
    let (_task, mut rx) =
        start(port, &["fos-restart/#"], SubscribeOptions { keep_alive: Duration::from_secs(2), ..Default::default() });
    sync(port, &mut rx, "fos-restart/sync").await;

    let t0 = Instant::now();
    broker.restart();
    // Publish after the restart until it arrives through the same subscription.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = Vec::new();
    'outer: loop {
        assert!(Instant::now() < deadline, "no message after restart; events: {seen:#?}");
        mosquitto_pub(port, &["-t", "fos-restart/after", "-m", "after restart", "-q", "1"]);
        let wait = tokio::time::sleep(Duration::from_millis(500));
        tokio::pin!(wait);
        loop {
            tokio::select! {
                ev = rx.recv() => {
                    let ev = ev.expect("subscription ended");
                    let hit = raw(&ev).is_some_and(|m| m.topic == "fos-restart/after" && m.payload == "after restart");
                    seen.push(ev);
                    if hit {
                        break 'outer;
                    }
                }
                () = &mut wait => break,
            }
        }
    }
    eprintln!("resumed {:?} after the restart", t0.elapsed());
    let warnings: Vec<&str> =
        seen.iter().filter_map(|e| if let MqttEvent::Warning(w) = e { Some(w.as_str()) } else { None }).collect();
    assert!(warnings.iter().any(|w| w.contains("connection to the broker lost")), "{warnings:?}");
    assert!(
        warnings.iter().any(|w| w.contains("reconnected") && w.contains(&format!("127.0.0.1:{port}"))),
        "{warnings:?}"
    );
}

#[tokio::test]
async fn pysparkplug_edge_birth_data_and_death() {
    let py = common::venv_python();
    if !py.exists() {
        assert!(!common::ci(), "{} missing", py.display());
        eprintln!("SKIPPED: {} missing", py.display());
        return;
    }
    let Some((broker, _dir)) = own_broker() else {
        return;
    };
    let port = broker.port;
    let opts = SubscribeOptions { sparkplug: true, ..Default::default() };
    let (_task, mut rx) = start(port, &["spBv1.0/#", "fos-sync/#"], opts);
    sync(port, &mut rx, "fos-sync/spb").await;

    let t0 = Instant::now();
    let mut edge = Command::new(&py)
        .arg(common::scripts_dir().join("spb_edge.py"))
        .args(["1", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let events = collect_until(&mut rx, |e| spb(e).is_some_and(|m| m.message_type == MessageType::NDeath)).await;
    let _ = edge.wait();
    eprintln!("pysparkplug session decoded in {:?}", t0.elapsed());
    let msgs: Vec<&SparkplugMessage> = events.iter().filter_map(spb).collect();
    let kinds: Vec<MessageType> = msgs.iter().map(|m| m.message_type).collect();
    assert_eq!(kinds, [MessageType::NBirth, MessageType::NData, MessageType::NDeath], "{msgs:#?}");

    // NBIRTH: what spb_edge.py sends.
    let b = msgs[0];
    assert_eq!((b.group.as_str(), b.edge_node.as_str(), b.seq, b.bd_seq), ("G1", "E1", Some(0), Some(0)));
    assert!(b.warnings.is_empty(), "{:?}", b.warnings);
    for (name, dt, v) in [
        ("Temp", SpDataType::Double, json!(21.5)),
        ("Count", SpDataType::Int32, json!(7)),
        ("Run", SpDataType::Boolean, json!(true)),
        ("bdSeq", SpDataType::Int64, json!(0)),
    ] {
        let m = metric(b, name);
        assert_eq!((m.datatype, &m.value, m.quality), (dt, &v, Quality::Good), "{name}");
        assert!(m.timestamp.is_some(), "{name}");
    }
    // NDATA: Count 8, datatype known from the birth, seq continues.
    let d = msgs[1];
    assert_eq!(d.seq, Some(1));
    assert!(d.warnings.is_empty(), "{:?}", d.warnings);
    let c = metric(d, "Count");
    assert_eq!((c.datatype, &c.value), (SpDataType::Int32, &json!(8)));
    let s = d.samples();
    assert_eq!(
        (s[0].address.as_str(), &s[0].value, s[0].time_source),
        ("G1/E1/Count", &Some(Value::Int(8)), TimeSource::Device)
    );
    // NDEATH: the node's last values, stale. pysparkplug's NDEATH bdSeq (1) differs from its
    // NBIRTH's (0): reported.
    let x = msgs[2];
    assert_eq!(x.bd_seq, Some(1));
    assert!(x.warnings.iter().any(|w| w.contains("does not match the NBIRTH bdSeq 0")), "{:?}", x.warnings);
    let stale: Vec<(&str, &Json, Quality)> = x.metrics.iter().map(|m| (m.name.as_str(), &m.value, m.quality)).collect();
    assert_eq!(
        stale,
        [
            ("Temp", &json!(21.5), Quality::Uncertain),
            ("Count", &json!(8), Quality::Uncertain),
            ("Run", &json!(true), Quality::Uncertain)
        ]
    );
    assert!(x.samples().iter().all(|s| s.quality == Quality::Uncertain));
    let line: Json = serde_json::from_str(&events.last().unwrap().to_json()).unwrap();
    assert_eq!(line["kind"], "sparkplug");
    assert_eq!(line["message_type"], "NDEATH");
    assert_eq!(line["metrics"][1]["quality"], "uncertain");
    drop(broker);
}

/// Reference payloads from Eclipse Tahu's JS codec: an NBIRTH with every datatype it supports
/// and aliases; NDATA by alias only (no names, no datatypes, like srad) through Tahu's generated
/// protobuf classes; a seq gap; a device's birth/data/death; the node's death.
const TAHU_SCRIPT: &str = r#"
const fs = require("fs"); const path = require("path"); const Long = require("long");
const sp = require("sparkplug-payload").get("spBv1.0");
const P = require("sparkplug-payload/lib/sparkplugPayloadProto").org.eclipse.tahu.protobuf.Payload;
const dir = process.argv[1]; const ts = 1700000000000;
const w = (n, buf) => fs.writeFileSync(path.join(dir, n), buf);
w("0-NBIRTH", sp.encodePayload({ timestamp: ts, seq: 0, metrics: [
  { name: "bdSeq", type: "Int64", value: 3 },
  { name: "I8", alias: 1, type: "Int8", value: -8 },
  { name: "I16", alias: 2, type: "Int16", value: -1600 },
  { name: "I32", alias: 3, type: "Int32", value: -320000 },
  { name: "I64", alias: 4, type: "Int64", value: Long.fromString("-6400000000") },
  { name: "U8", alias: 5, type: "UInt8", value: 200 },
  { name: "U16", alias: 6, type: "UInt16", value: 60000 },
  { name: "U32", alias: 7, type: "UInt32", value: 4000000000 },
  { name: "U64", alias: 8, type: "UInt64", value: Long.fromString("18000000000000000000", true) },
  { name: "F", alias: 9, type: "Float", value: 1.5 },
  { name: "D", alias: 10, type: "Double", value: 2.25 },
  { name: "B", alias: 11, type: "Boolean", value: true },
  { name: "S", alias: 12, type: "String", value: "hello" },
  { name: "DT", alias: 13, type: "DateTime", value: ts },
  { name: "T", alias: 14, type: "Text", value: "text" },
  { name: "U", alias: 15, type: "UUID", value: "123e4567-e89b-12d3-a456-426614174000" },
  { name: "DS", alias: 16, type: "DataSet", value: { numOfColumns: 2, columns: ["a", "b"], types: ["Int32", "String"], rows: [[1, "x"], [-2, "y"]] } },
  { name: "BY", alias: 17, type: "Bytes", value: Buffer.from([1, 2, 3]) },
  { name: "TM", alias: 18, type: "Template", value: { templateRef: "Motor", isDefinition: false,
      metrics: [{ name: "rpm", type: "Int32", value: 1500 }], parameters: [{ name: "p", type: "String", value: "v" }] } },
  { name: "N", alias: 19, type: "Int32", value: null },
  { name: "P", alias: 20, type: "Double", value: 3.5, properties: { engUnit: { type: "String", value: "degC" } } },
]}));
const enc = (o) => P.encode(P.create(o)).finish();
w("1-NDATA", enc({ timestamp: ts + 1000, seq: 1, metrics: [
  P.Metric.create({ alias: 3, intValue: -5 >>> 0 }),
  P.Metric.create({ alias: 1, intValue: -9 >>> 0 }),
  P.Metric.create({ alias: 7, longValue: 4000000001 }),
  P.Metric.create({ alias: 8, longValue: Long.fromString("17000000000000000000", true) }),
  P.Metric.create({ alias: 9, floatValue: 2.5 }),
  P.Metric.create({ alias: 11, booleanValue: false }),
  P.Metric.create({ alias: 12, stringValue: "world" }),
  P.Metric.create({ alias: 13, longValue: ts + 500, timestamp: ts + 500 }),
  P.Metric.create({ alias: 19, isNull: false, intValue: 42 }),
  P.Metric.create({ alias: 10, isNull: true }),
]}));
w("2-NDATA", enc({ timestamp: ts + 2000, seq: 5, metrics: [P.Metric.create({ alias: 3, intValue: 6 })] }));
w("3-DBIRTH", sp.encodePayload({ timestamp: ts + 3000, seq: 6, metrics: [{ name: "Speed", alias: 100, type: "Float", value: 0.1 }] }));
w("4-DDATA", enc({ timestamp: ts + 4000, seq: 7, metrics: [P.Metric.create({ alias: 100, floatValue: 0.2 })] }));
w("5-DDEATH", enc({ timestamp: ts + 5000, seq: 8 }));
w("6-NDEATH", enc({ timestamp: ts + 6000, metrics: [P.Metric.create({ name: "bdSeq", longValue: 3 })] }));
"#;

fn node(script: &str, args: &[&str]) -> Option<String> {
    let modules = common::peers_dir().join("npm/node_modules");
    if !modules.join("sparkplug-payload").exists() {
        assert!(!common::ci(), "sparkplug-payload missing under {}", modules.display());
        eprintln!("SKIPPED: sparkplug-payload missing under {}", modules.display());
        return None;
    }
    let out = Command::new("node").arg("-e").arg(script).args(args).env("NODE_PATH", &modules).output().expect("node");
    assert!(out.status.success(), "node: {}", String::from_utf8_lossy(&out.stderr));
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[tokio::test]
async fn tahu_encoded_payloads_decode_with_aliases_resolved_through_the_birth() {
    let dir = tempfile::tempdir().unwrap();
    if node(TAHU_SCRIPT, &[dir.path().to_str().unwrap()]).is_none() {
        return;
    }
    let Some((broker, _bdir)) = own_broker() else {
        return;
    };
    let port = broker.port;
    let opts = SubscribeOptions { sparkplug: true, ..Default::default() };
    let (_task, mut rx) = start(port, &["spBv1.0/#", "fos-sync/#"], opts);
    sync(port, &mut rx, "fos-sync/tahu").await;

    let mut files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    assert_eq!(files.len(), 7);
    for f in &files {
        let name = f.file_name().unwrap().to_str().unwrap();
        let kind = name.split('-').nth(1).unwrap();
        let topic =
            if kind.starts_with('D') { format!("spBv1.0/TG/{kind}/TE/D1") } else { format!("spBv1.0/TG/{kind}/TE") };
        mosquitto_pub(port, &["-t", &topic, "-f", f.to_str().unwrap()]);
    }
    let events = collect_until(&mut rx, |e| spb(e).is_some_and(|m| m.message_type == MessageType::NDeath)).await;
    let msgs: Vec<&SparkplugMessage> = events.iter().filter_map(spb).collect();
    assert_eq!(msgs.len(), 7, "{events:#?}");

    let b = msgs[0];
    assert!(b.warnings.is_empty(), "{:?}", b.warnings);
    assert_eq!((b.seq, b.bd_seq), (Some(0), Some(3)));
    let expect = [
        ("I8", "Int8", json!(-8)),
        ("I16", "Int16", json!(-1600)),
        ("I32", "Int32", json!(-320000)),
        ("I64", "Int64", json!(-6_400_000_000i64)),
        ("U8", "UInt8", json!(200)),
        ("U16", "UInt16", json!(60000)),
        ("U32", "UInt32", json!(4_000_000_000u32)),
        ("U64", "UInt64", json!(18_000_000_000_000_000_000u64)),
        ("F", "Float", json!(1.5)),
        ("D", "Double", json!(2.25)),
        ("B", "Boolean", json!(true)),
        ("S", "String", json!("hello")),
        ("DT", "DateTime", json!("2023-11-14T22:13:20.000Z")),
        ("T", "Text", json!("text")),
        ("U", "UUID", json!("123e4567-e89b-12d3-a456-426614174000")),
        ("DS", "DataSet", json!({"columns": ["a", "b"], "types": ["Int32", "String"], "rows": [[1, "x"], [-2, "y"]]})),
        ("BY", "Bytes", json!("AQID")),
        (
            "TM",
            "Template",
            json!({"template_ref": "Motor", "parameters": [{"name": "p", "type": "String", "value": "v"}],
                   "metrics": [{"name": "rpm", "datatype": "Int32", "value": 1500}]}),
        ),
        ("N", "Int32", Json::Null),
        ("P", "Double", json!(3.5)),
    ];
    for (name, dt, v) in &expect {
        let m = metric(b, name);
        assert_eq!((m.datatype.name(), &m.value), (*dt, v), "{name}");
    }
    assert!(metric(b, "N").is_null);
    assert_eq!(metric(b, "P").properties, Some(json!({"engUnit": "degC"})));

    // Alias only, no names, no datatypes: resolved through the NBIRTH.
    let d = msgs[1];
    assert!(d.warnings.is_empty(), "{:?}", d.warnings);
    let got: Vec<(&str, &str, &Json)> =
        d.metrics.iter().map(|m| (m.name.as_str(), m.datatype.name(), &m.value)).collect();
    assert_eq!(
        got,
        [
            ("I32", "Int32", &json!(-5)),
            ("I8", "Int8", &json!(-9)),
            ("U32", "UInt32", &json!(4_000_000_001u32)),
            ("U64", "UInt64", &json!(17_000_000_000_000_000_000u64)),
            ("F", "Float", &json!(2.5)),
            ("B", "Boolean", &json!(false)),
            ("S", "String", &json!("world")),
            ("DT", "DateTime", &json!("2023-11-14T22:13:20.500Z")),
            ("N", "Int32", &json!(42)),
            ("D", "Double", &Json::Null),
        ]
    );
    let samples = d.samples();
    assert_eq!(samples[0].address, "TG/TE/I32");
    assert_eq!(samples[3].value, Some(Value::UInt(17_000_000_000_000_000_000)));
    assert_eq!(samples[9].value, None);

    // seq 1 -> 5: a gap, reported; FOS does not ask for a rebirth.
    let g = msgs[2];
    assert!(g.warnings.iter().any(|w| w.contains("seq gap: expected 2, got 5")), "{:?}", g.warnings);
    assert_eq!(metric(g, "I32").value, json!(6));

    // Device: birth, alias-only data, death marking its metric stale.
    let (db, dd, ddeath) = (msgs[3], msgs[4], msgs[5]);
    assert_eq!((db.device.as_deref(), &metric(db, "Speed").value), (Some("D1"), &json!(0.1)));
    assert!(dd.warnings.is_empty(), "{:?}", dd.warnings);
    assert_eq!((metric(dd, "Speed").datatype, &metric(dd, "Speed").value), (SpDataType::Float, &json!(0.2)));
    assert_eq!(dd.samples()[0].address, "TG/TE/D1/Speed");
    let s = metric(ddeath, "Speed");
    assert_eq!((&s.value, s.quality), (&json!(0.2), Quality::Uncertain));

    // NDEATH with the birth's bdSeq: the node's metrics go stale with their last values; the
    // device's are listed too.
    let x = msgs[6];
    assert!(x.warnings.is_empty(), "{:?}", x.warnings);
    assert_eq!(x.bd_seq, Some(3));
    assert_eq!(x.metrics.len(), expect.len() + 1);
    assert!(x.metrics.iter().all(|m| m.quality == Quality::Uncertain));
    assert_eq!(metric(x, "I32").value, json!(6));
    assert_eq!(metric(x, "Speed").device.as_deref(), Some("D1"));
    assert!(x.samples().iter().any(|s| s.address == "TG/TE/D1/Speed" && s.quality == Quality::Uncertain));
}

/// The other direction: a payload encoded with our prost declarations decodes in Tahu's JS
/// codec with the same names, types and values (so the field numbers agree).
#[test]
fn our_declarations_encode_what_tahu_decodes() {
    use proto::{Metric, MetricValue, Payload};
    let m = |name: &str, dt: SpDataType, v: MetricValue| Metric {
        name: Some(name.into()),
        alias: Some(7),
        timestamp: Some(1_700_000_000_000),
        datatype: Some(dt.code()),
        value: Some(v),
        ..Metric::default()
    };
    let p = Payload {
        timestamp: Some(1_700_000_000_000),
        seq: Some(4),
        metrics: vec![
            m("i", SpDataType::Int32, MetricValue::IntValue(-3i32 as u32)),
            m("l", SpDataType::UInt64, MetricValue::LongValue(123_456_789_012)),
            m("f", SpDataType::Float, MetricValue::FloatValue(1.5)),
            m("d", SpDataType::Double, MetricValue::DoubleValue(-2.5)),
            m("b", SpDataType::Boolean, MetricValue::BooleanValue(true)),
            m("s", SpDataType::String, MetricValue::StringValue("x".into())),
        ],
        uuid: None,
        body: None,
    };
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("p.bin");
    std::fs::write(&f, p.encode_to_vec()).unwrap();
    let script = r#"const sp = require("sparkplug-payload").get("spBv1.0");
        const p = sp.decodePayload(require("fs").readFileSync(process.argv[1]));
        console.log(JSON.stringify({ seq: Number(p.seq), metrics: p.metrics.map(m => [m.name, m.type, Number(m.alias), String(m.value)]) }));"#;
    let Some(out) = node(script, &[f.to_str().unwrap()]) else {
        return;
    };
    let got: Json = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        got,
        json!({"seq": 4, "metrics": [
            ["i", "Int32", 7, "-3"], ["l", "UInt64", 7, "123456789012"], ["f", "Float", 7, "1.5"],
            ["d", "Double", 7, "-2.5"], ["b", "Boolean", 7, "true"], ["s", "String", 7, "x"]]})
    );
}
