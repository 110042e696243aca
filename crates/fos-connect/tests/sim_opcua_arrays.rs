#![cfg(feature = "opcua")]
//! Array reads against the demo plant's OPC UA server (`fos-sim`, async-opcua's server side): a
//! motor's vibration block read whole through [`Connection::read_array`] equals, bit for bit, the
//! block the simulator published with that sequence number (seen through `Simulator::subscribe`);
//! a block above the URL's `max_array` is refused with the limit named and the connection kept; a
//! waveform not yet taken is a bad sample naming the server's status.

use std::sync::Arc;
use std::time::Duration;

use fos_connect::{ConnectError, ConnectOptions, Connection, DataType, Quality, TimeSource, Value};
use fos_sim::serve::{Frame, OpcUaOptions, ServeOptions, Simulator};
use fos_sim::Plant;

fn options() -> ConnectOptions {
    ConnectOptions { timeout: Duration::from_secs(5), ..ConnectOptions::default() }
}

/// The demo plant stepped to `t_s`, served over OPC UA only at `speed` × real time.
async fn simulator(t_s: f64, speed: f64, pki: &tempfile::TempDir) -> Simulator {
    let mut plant = Plant::demo(1).unwrap();
    plant.step(t_s).unwrap();
    let o = ServeOptions {
        speed,
        modbus: None,
        opcua: Some(OpcUaOptions { pki_dir: pki.path().to_path_buf(), ..ServeOptions::any_port().opcua.unwrap() }),
        ..ServeOptions::any_port()
    };
    Simulator::start(plant, o).await.unwrap()
}

fn node(asset: &str, point: &str) -> String {
    format!("ns=2;s={asset}.{point}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vibration_block_reads_whole_and_equals_the_published_frame() {
    let pki = tempfile::tempdir().unwrap();
    // 20× real time: a new block every 50 ms of real time.
    let sim = simulator(2.0, 20.0, &pki).await;
    let m = sim.layout().asset_index("motor-02").unwrap();
    let mut frames = sim.subscribe();
    tokio::time::timeout(Duration::from_secs(10), frames.wait_for(|f| f.blocks[m].is_some()))
        .await
        .expect("no block within 10 s")
        .unwrap();
    let mut conn = Connection::new(&sim.opcua_url().unwrap(), options()).unwrap();
    let scalars = vec![node("motor-02", "vib.seq"), node("motor-02", "vib.rate_hz")];
    let plan = conn.prepare(&scalars).unwrap();
    conn.connect().await.unwrap();
    let seq_of = |s: &[fos_connect::Sample]| match s[0].value {
        Some(Value::UInt(v)) => v,
        ref other => panic!("vib.seq is {other:?}"),
    };
    // The counter before and after the array read; equal means the array is that block. The
    // published frame holding that block is the one to compare with.
    let mut tries = 0;
    let (array, seq, rate, frame): (_, u64, _, Arc<Frame>) = loop {
        tries += 1;
        assert!(tries < 50, "the block kept changing during the read");
        let before = conn.read(plan).await.unwrap();
        let array = conn.read_array(&node("motor-02", "vib.block")).await.unwrap();
        let after = conn.read(plan).await.unwrap();
        let frame = frames.borrow_and_update().clone();
        let seq = seq_of(&before);
        if seq == seq_of(&after) && frame.blocks[m].as_ref().is_some_and(|b| b.seq == seq) {
            break (array, seq, before[1].value.clone(), frame);
        }
    };
    let block = frame.blocks[m].as_ref().unwrap();
    assert_eq!((array.quality, array.dtype, array.time_source), (Quality::Good, DataType::F64, TimeSource::Device));
    assert_eq!(array.values.len(), 12_800);
    assert_eq!(array.values.len(), block.samples.len());
    assert!(
        array.values.iter().zip(&block.samples).all(|(a, b)| a.to_bits() == b.to_bits()),
        "the array read is the published block {seq}, bit for bit"
    );
    assert_eq!(rate, Some(Value::Float(12_800.0)));
    assert_eq!(array.address, node("motor-02", "vib.block"));
    // A later read has a later block.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let later = conn.read(plan).await.unwrap();
    assert!(seq_of(&later) > seq, "seq {} after {seq}", seq_of(&later));
    assert_ne!(conn.read_array(&node("motor-02", "vib.block")).await.unwrap().values, array.values);
    conn.disconnect().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_above_max_array_is_refused_naming_the_limit_and_the_connection_stays() {
    let pki = tempfile::tempdir().unwrap();
    let sim = simulator(3.0, 1e-4, &pki).await;
    let m = sim.layout().asset_index("motor-01").unwrap();
    let mut frames = sim.subscribe();
    tokio::time::timeout(Duration::from_secs(10), frames.wait_for(|f| f.blocks[m].is_some())).await.unwrap().unwrap();
    let url = format!("{}?max_array=1000", sim.opcua_url().unwrap());
    let mut conn = Connection::new(&url, options()).unwrap();
    let e = conn.read_array(&node("motor-01", "vib.block")).await.unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, ConnectError::TooLarge { .. }), "{msg}");
    assert!(!e.is_connection_lost(), "{msg}");
    // The server honours the IndexRange: 1001 elements came back, so "more than 1000".
    assert!(msg.contains("more than 1000 elements") && msg.contains("max_array=1000"), "{msg}");
    assert!(msg.contains("motor-01.vib.block"), "{msg}");
    // Still the same session: a plain read (which never reconnects) answers.
    assert!(conn.is_connected());
    let plan = conn.prepare(&[node("motor-01", "vib.seq")]).unwrap();
    let s = conn.read(plan).await.unwrap();
    let seq = sim.frame().blocks[m].as_ref().unwrap().seq;
    assert_eq!((s[0].quality, s[0].value.clone()), (Quality::Good, Some(Value::UInt(seq))));
    // A limit that fits reads it whole.
    let ok = format!("{}?max_array=12800", sim.opcua_url().unwrap());
    let a = Connection::new(&ok, options()).unwrap().read_array(&node("motor-01", "vib.block")).await.unwrap();
    assert_eq!(a.values, sim.frame().blocks[m].as_ref().unwrap().samples);
    conn.disconnect().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waveform_not_yet_taken_and_a_scalar_are_bad_samples_with_the_reason() {
    let pki = tempfile::tempdir().unwrap();
    // Time 0, (almost) frozen: no block will be taken during the test.
    let sim = simulator(0.0, 1e-4, &pki).await;
    let mut conn = Connection::new(&sim.opcua_url().unwrap(), options()).unwrap();
    let a = conn.read_array(&node("motor-01", "vib.block")).await.unwrap();
    assert_eq!(a.quality, Quality::BadDevice, "{a:?}");
    assert!(a.values.is_empty());
    assert!(a.detail.as_deref().unwrap_or("").contains("BadWaitingForInitialData"), "{a:?}");
    let a = conn.read_array(&node("motor-01", "speed_rpm")).await.unwrap();
    assert_eq!(a.quality, Quality::BadTypeMismatch, "{a:?}");
    assert!(a.detail.as_deref().unwrap_or("").contains("scalar OPC UA Double, not an array"), "{a:?}");
    let a = conn.read_array(&node("motor-01", "nope")).await.unwrap();
    assert_eq!(a.quality, Quality::BadAddress, "{a:?}");
    assert!(conn.is_connected());
    conn.disconnect().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn other_drivers_say_arrays_are_not_supported_without_connecting() {
    let mut conn = Connection::new("modbus://127.0.0.1:1?unit=1", options()).unwrap();
    let e = conn.read_array("hr:0").await.unwrap_err();
    assert!(matches!(e, ConnectError::Unsupported { .. }), "{e}");
    assert_eq!(e.to_string(), "reading arrays is not supported by the modbus driver");
    assert!(!conn.is_connected());
    // A malformed node id is refused before connecting too.
    let mut conn = Connection::new("opcua://127.0.0.1:1/", options()).unwrap();
    let e = conn.read_array("ns=2;vib").await.unwrap_err();
    assert!(matches!(e, ConnectError::Address { .. }), "{e}");
}
