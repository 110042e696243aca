//! The simulator's Modbus TCP server, read and written by FOS's own driver (`fos_connect`) and
//! by an independent client (pymodbus): values read equal the plant's, a write of the CNC offset
//! lands in the simulated controller, refusals come back as Modbus exceptions.
#![cfg(all(feature = "modbus", feature = "opcua"))]

mod common;

use fos_connect::{ConnectOptions, Connection, DataType, Quality, Value};
use fos_sim::layout::PointType;

fn f32_of(v: f64) -> f64 {
    f64::from(v as f32)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fos_reads_every_register_point_as_the_plant_has_it() {
    let pki = tempfile::tempdir().unwrap();
    let sim = common::frozen(95.0, &pki).await;
    let layout = sim.layout().clone();
    let url = sim.modbus_url().unwrap();
    let mut conn = Connection::new(&url, ConnectOptions::default()).unwrap();
    let points: Vec<usize> = (0..layout.points.len()).filter(|&k| layout.points[k].modbus.is_some()).collect();
    let addresses: Vec<String> = points.iter().map(|&k| layout.modbus_address(k).unwrap()).collect();
    let samples = conn.read_once(&addresses).await.unwrap();
    let frame = sim.frame();
    let plant_values = sim.with_plant(|p| p.values());
    assert_eq!(frame.values, plant_values, "the plant stood still");
    for ((&k, s), a) in points.iter().zip(&samples).zip(&addresses) {
        assert_eq!(s.quality, Quality::Good, "{a}: {s:?}");
        let want = frame.values[k];
        let got = s.value.as_ref().unwrap();
        match layout.points[k].spec.ty {
            PointType::F32 => assert_eq!(got, &Value::Float(f32_of(want)), "{} at {a}", layout.node_name(k)),
            PointType::U32 | PointType::U16 => {
                assert_eq!(got, &Value::UInt(want as u64), "{} at {a}", layout.node_name(k))
            }
            PointType::Waveform => unreachable!(),
        }
    }
    // A spot check by name: motor-02's sequence number is the 95th block.
    let k = layout.point("motor-02", "vib.seq").unwrap();
    let i = points.iter().position(|&p| p == k).unwrap();
    assert_eq!((samples[i].dtype, samples[i].value.clone()), (DataType::U32, Some(Value::UInt(95))));
    // Beyond the last asset: exception 0x02 for that request, the connection stays up.
    let beyond = format!("ir:{}", layout.assets.len() * 100);
    let s = conn.read_once(std::slice::from_ref(&beyond)).await.unwrap();
    assert_eq!(s[0].quality, Quality::BadAddress, "{:?}", s[0]);
    assert!(conn.is_connected());
    conn.disconnect().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gated_fos_write_of_the_offset_lands_in_the_controller() {
    let pki = tempfile::tempdir().unwrap();
    let sim = common::frozen(10.0, &pki).await;
    let layout = sim.layout().clone();
    let offset = layout.modbus_address(layout.point("cnc-01", "tool_offset_mm").unwrap()).unwrap();
    assert_eq!(offset, "hr:500:f32");
    let url = sim.modbus_url().unwrap();
    let mut conn = common::gated(&url);
    let before = sim.with_plant(|p| p.cnc("cnc-01").unwrap().offset_mm());
    let new = before - 0.0123;
    conn.write(&common::permit(&conn, "p-1", &offset, Value::Float(new))).await.unwrap();
    let now = sim.with_plant(|p| p.cnc("cnc-01").unwrap().offset_mm());
    assert_eq!(now, f32_of(new));
    let s = conn.read_once(std::slice::from_ref(&offset)).await.unwrap();
    assert_eq!(s[0].value, Some(Value::Float(f32_of(new))));
    // The controller refuses a 2 mm wear offset: exception 0x03, nothing changes.
    let e = conn.write(&common::permit(&conn, "p-2", &offset, Value::Float(2.0))).await.unwrap_err().to_string();
    assert!(e.to_lowercase().contains("illegal data value") || e.contains("0x03"), "{e}");
    assert_eq!(sim.with_plant(|p| p.cnc("cnc-01").unwrap().offset_mm()), f32_of(new));
    // Holding registers of the mill's window past its one setting hold nothing: exception 0x02.
    let empty = format!("hr:{}:f32", layout.asset("cnc-01").unwrap().modbus_base + 10);
    let e = conn.write(&common::permit(&conn, "p-3", &empty, Value::Float(1.0))).await.unwrap_err().to_string();
    assert!(e.to_lowercase().contains("illegal data address") || e.contains("0x02"), "{e}");
    // Half of an f32 (one register) is refused too.
    let half = format!("hr:{}:u16", layout.asset("cnc-01").unwrap().modbus_base + 1);
    assert!(conn.write(&common::permit(&conn, "p-5", &half, Value::UInt(1))).await.is_err());
    assert_eq!(sim.with_plant(|p| p.cnc("cnc-01").unwrap().offset_mm()), f32_of(new));
    // A weld assignment (u16).
    let weld = layout.modbus_address(layout.point("weld-01", "weld2.torch").unwrap()).unwrap();
    conn.write(&common::permit(&conn, "p-4", &weld, Value::UInt(3))).await.unwrap();
    assert_eq!(sim.with_plant(|p| p.weld_cell("weld-01").unwrap().programmed()[1]), 2);
    conn.disconnect().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pymodbus_reads_and_writes_the_same_registers() {
    let Some(py) = common::python() else { return };
    let pki = tempfile::tempdir().unwrap();
    let sim = common::frozen(42.0, &pki).await;
    let layout = sim.layout().clone();
    let port = sim.modbus_addr().unwrap().port();
    let motor = layout.asset("motor-01").unwrap();
    // motor-01's input registers: 7 f32/u32 pairs (speed, torque, current, temperature, level, seq, rate).
    let args = vec![port.to_string(), motor.modbus_base.to_string(), "14".into(), "500".into(), "-0.0257".into()];
    let out = common::run_python(py, "modbus_check.py", args).await;
    let frame = sim.frame();
    let f32s: Vec<f64> = out["f32"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    for (i, name) in ["speed_rpm", "torque_pct", "current_a", "bearing_temp_c", "vib.rms"].iter().enumerate() {
        let want = frame.value(&layout, "motor-01", name).unwrap();
        assert_eq!(f32s[i], f32_of(want), "{name}");
    }
    let words: Vec<u64> = out["ir"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
    assert_eq!((words[10] << 16) | words[11], 42, "vib.seq as u32");
    assert_eq!(f32s[6], 12_800.0);
    assert_eq!(out["after"].as_f64().unwrap(), f32_of(-0.0257));
    assert_eq!(sim.with_plant(|p| p.cnc("cnc-01").unwrap().offset_mm()), f32_of(-0.0257));
    assert_eq!(out["refused"], serde_json::Value::Bool(true), "{out}");
    sim.shutdown().await;
}
