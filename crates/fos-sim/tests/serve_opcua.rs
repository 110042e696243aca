//! The simulator's OPC UA server, read, browsed, subscribed and written by FOS's own driver
//! (`fos_connect`), its vibration arrays read by async-opcua's client (FOS's driver has no array
//! values, and its client's default limits refuse a 12 800-element array), and all of it
//! cross-checked by an independent client (asyncua, Python).
#![cfg(all(feature = "modbus", feature = "opcua"))]

mod common;

use std::sync::Arc;
use std::time::Duration;

use fos_connect::{ConnectOptions, Connection, DataType, Quality, TimeSource, Value};
use fos_sim::layout::PointType;
use opcua::client::{ClientBuilder, IdentityToken, Session};
use opcua::crypto::SecurityPolicy;
use opcua::types::{DataValue, MessageSecurityMode, NodeId, ReadValueId, TimestampsToReturn, UserTokenPolicy, Variant};

fn options() -> ConnectOptions {
    ConnectOptions { timeout: Duration::from_secs(5), ..ConnectOptions::default() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fos_reads_and_browses_the_plant_nodes() {
    let pki = tempfile::tempdir().unwrap();
    let sim = common::frozen(61.0, &pki).await;
    let layout = sim.layout().clone();
    let url = sim.opcua_url().unwrap();
    let mut conn = Connection::new(&url, options()).unwrap();
    let points: Vec<usize> =
        (0..layout.points.len()).filter(|&k| layout.points[k].spec.ty != PointType::Waveform).collect();
    let addresses: Vec<String> = points.iter().map(|&k| format!("ns=2;s={}", layout.node_name(k))).collect();
    let samples = conn.read_once(&addresses).await.unwrap_or_else(|e| panic!("{url}: {e}"));
    let frame = sim.frame();
    assert_eq!(frame.values, sim.with_plant(|p| p.values()), "the plant stood still");
    for ((&k, s), a) in points.iter().zip(&samples).zip(&addresses) {
        assert_eq!((s.quality, s.time_source), (Quality::Good, TimeSource::Device), "{a}: {s:?}");
        let want = frame.values[k];
        let (ty, value) = match layout.points[k].spec.ty {
            PointType::F32 => (DataType::F64, Value::Float(want)),
            PointType::U32 => (DataType::U32, Value::UInt(want as u64)),
            PointType::U16 => (DataType::U16, Value::UInt(want as u64)),
            PointType::Waveform => unreachable!(),
        };
        assert_eq!((s.dtype, s.value.as_ref()), (ty, Some(&value)), "{a}");
    }
    let entries = conn.browse().await.unwrap();
    for want in ["ns=2;s=motor-02.vib.block", "ns=2;s=cnc-01.tool_offset_mm", "ns=2;s=weld-01.torch3.spatter_index"] {
        assert!(entries.iter().any(|e| e.address == want), "{want} not browsed");
    }
    assert!(entries.iter().any(|e| e.kind == "object" && e.name == "line-1"), "no line folder");
    conn.disconnect().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gated_fos_write_of_the_offset_lands_in_the_controller() {
    let pki = tempfile::tempdir().unwrap();
    let sim = common::frozen(5.0, &pki).await;
    let mut conn = common::gated(&sim.opcua_url().unwrap());
    let node = "ns=2;s=cnc-01.tool_offset_mm";
    conn.write(&common::permit(&conn, "o-1", node, Value::Float(-0.0042))).await.unwrap();
    assert_eq!(sim.with_plant(|p| p.cnc("cnc-01").unwrap().offset_mm()), -0.0042);
    let s = conn.read_once(&[node.to_string()]).await.unwrap();
    assert_eq!(s[0].value, Some(Value::Float(-0.0042)));
    // Refused by the controller: BadOutOfRange, named in the error; the value stays.
    let e = conn.write(&common::permit(&conn, "o-2", node, Value::Float(3.0))).await.unwrap_err().to_string();
    assert!(e.contains("BadOutOfRange"), "{e}");
    assert_eq!(sim.with_plant(|p| p.cnc("cnc-01").unwrap().offset_mm()), -0.0042);
    // A measurement is read-only.
    let e = conn.write(&common::permit(&conn, "o-3", "ns=2;s=cnc-01.spindle_rpm", Value::Float(1.0))).await;
    assert!(e.is_err());
    // A weld assignment is a UInt16.
    conn.write(&common::permit(&conn, "o-4", "ns=2;s=weld-01.weld4.torch", Value::UInt(2))).await.unwrap();
    assert_eq!(sim.with_plant(|p| p.weld_cell("weld-01").unwrap().programmed()[3]), 1);
    conn.disconnect().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fos_subscription_follows_the_running_plant() {
    let pki = tempfile::tempdir().unwrap();
    let mut plant = fos_sim::Plant::demo(1).unwrap();
    plant.step(2.0).unwrap();
    let sim = common::start(plant, 20.0, &pki).await;
    let mut conn = Connection::new(&sim.opcua_url().unwrap(), options()).unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
    let a = vec!["ns=2;s=motor-01.vib.seq".to_string(), "ns=2;s=ambient.sim_time_s".to_string()];
    let task = tokio::spawn(async move { conn.subscribe(&a, Duration::from_millis(200), tx).await });
    let mut seqs = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while seqs.len() < 4 {
        let s = tokio::time::timeout_at(deadline, rx.recv()).await.expect("too few notifications").expect("ended");
        if s.address.ends_with("vib.seq") {
            let Some(Value::UInt(v)) = s.value else { panic!("{s:?}") };
            seqs.push(v);
        }
    }
    assert!(seqs.windows(2).all(|w| w[1] > w[0]), "{seqs:?}");
    drop(rx);
    let r = tokio::time::timeout(Duration::from_secs(10), task).await.expect("subscribe did not end").unwrap();
    assert!(r.is_ok(), "{r:?}");
    sim.shutdown().await;
}

/// An async-opcua client session allowing arrays as long as a block.
async fn session(endpoint: &str, pki: &tempfile::TempDir) -> (Arc<Session>, tokio::task::JoinHandle<()>) {
    let mut client = ClientBuilder::new()
        .application_name("fos-sim test")
        .application_uri("urn:fos:sim:test")
        .pki_dir(pki.path().join("client"))
        .create_sample_keypair(false)
        .trust_server_certs(true)
        .session_retry_limit(0)
        .max_array_length(1 << 21)
        .max_message_size(32 << 20)
        .max_chunk_count(1024)
        .client()
        .unwrap();
    let wanted = (endpoint, SecurityPolicy::None.to_str(), MessageSecurityMode::None, UserTokenPolicy::anonymous());
    let (session, event_loop) = client.connect_to_matching_endpoint(wanted, IdentityToken::Anonymous).await.unwrap();
    let task = tokio::spawn(async move {
        event_loop.run().await;
    });
    tokio::time::timeout(Duration::from_secs(10), session.wait_for_connection()).await.unwrap();
    (session, task)
}

async fn read(session: &Session, names: &[String]) -> Vec<DataValue> {
    let ids: Vec<ReadValueId> = names.iter().map(|n| ReadValueId::new_value(NodeId::new(2, n.clone()))).collect();
    session.read(&ids, TimestampsToReturn::Both, 0.0).await.unwrap()
}

fn doubles(v: &DataValue) -> Vec<f64> {
    match v.value.as_ref() {
        Some(Variant::Array(a)) => a
            .values
            .iter()
            .map(|x| match x {
                Variant::Double(d) => *d,
                other => panic!("not a Double: {other:?}"),
            })
            .collect(),
        other => panic!("not an array: {other:?} ({:?})", v.status),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_vibration_block_reads_back_whole_and_moves_on() {
    let pki = tempfile::tempdir().unwrap();
    let mut plant = fos_sim::Plant::demo(1).unwrap();
    plant.step(2.0).unwrap();
    // 20× real time: a new block every 50 ms of real time.
    let sim = common::start(plant, 20.0, &pki).await;
    let endpoint = sim.opcua_endpoint().unwrap();
    let (session, task) = session(&endpoint, &pki).await;
    let names: Vec<String> =
        ["motor-02.vib.block", "motor-02.vib.seq", "motor-02.vib.rate_hz"].map(String::from).to_vec();
    let m = sim.layout().asset_index("motor-02").unwrap();
    // Read until the frame did not change during the read (a tick may land in between).
    let (v, frame) = loop {
        let before = sim.frame();
        let v = read(&session, &names).await;
        let after = sim.frame();
        if Arc::ptr_eq(&before, &after) || before.blocks[m] == after.blocks[m] {
            break (v, after);
        }
    };
    let block = frame.blocks[m].as_ref().unwrap();
    let samples = doubles(&v[0]);
    assert_eq!(samples.len(), 12_800);
    assert_eq!(samples, block.samples, "the array is the published block");
    assert_eq!(v[1].value, Some(Variant::UInt32(block.seq as u32)));
    assert_eq!(v[2].value, Some(Variant::Double(12_800.0)));
    assert!(v[0].source_timestamp.is_some());
    // Time runs: a later read has a later block.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let later = read(&session, &names).await;
    let Some(Variant::UInt32(seq2)) = later[1].value else { panic!("{:?}", later[1]) };
    assert!(u64::from(seq2) > block.seq, "seq {seq2} after {}", block.seq);
    assert_ne!(doubles(&later[0]), samples);
    let _ = session.disconnect().await;
    task.abort();
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asyncua_reads_the_block_and_writes_the_offset() {
    let Some(py) = common::python() else { return };
    let pki = tempfile::tempdir().unwrap();
    let sim = common::frozen(7.0, &pki).await;
    let url = sim.opcua_endpoint().unwrap();
    let out =
        common::run_python(py, "opcua_check.py", vec![url, "motor-03".into(), "cnc-01".into(), "-0.0311".into()]).await;
    let frame = sim.frame();
    let layout = sim.layout();
    let block = frame.blocks[layout.asset_index("motor-03").unwrap()].as_ref().unwrap();
    assert_eq!(out["ns"], 2);
    assert_eq!(out["len"], 12_800);
    let head: Vec<f64> = out["head"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    assert_eq!(head, block.samples[..8].to_vec());
    assert_eq!((out["seq"].as_u64(), out["seq_type"].as_str()), (Some(7), Some("UInt32")));
    assert_eq!(out["rate"].as_f64(), Some(12_800.0));
    assert_eq!(out["current"].as_f64(), frame.value(layout, "motor-03", "current_a"));
    assert_eq!(out["after"].as_f64(), Some(-0.0311));
    assert_eq!(sim.with_plant(|p| p.cnc("cnc-01").unwrap().offset_mm()), -0.0311);
    assert_eq!(out["refused"].as_str(), Some("BadOutOfRange"), "{out}");
    let children: Vec<&str> = out["children"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert!(children.contains(&"vib.block") && children.contains(&"speed_setpoint_rpm"), "{children:?}");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_both_servers() {
    let pki = tempfile::tempdir().unwrap();
    let sim = common::frozen(1.0, &pki).await;
    let (mb, ua) = (sim.modbus_addr().unwrap(), sim.opcua_addr().unwrap());
    let mut conn = Connection::new(&sim.modbus_url().unwrap(), options()).unwrap();
    conn.read_once(&["ir:0:f32".to_string()]).await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), sim.shutdown()).await.expect("shutdown hangs");
    for a in [mb, ua] {
        assert!(tokio::net::TcpStream::connect(a).await.is_err(), "{a} still accepts connections");
    }
    // The open Modbus connection was closed too.
    assert!(conn.read_once(&["ir:0:f32".to_string()]).await.is_err());
}
