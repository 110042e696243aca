//! Tests of the plant task without servers: time runs at `speed`, blocks are rendered once,
//! writes are published before they return, shutdown ends the task.

use super::*;
use crate::plant::PlantConfig;
use crate::scenario::Scenario;

fn no_servers(speed: f64) -> ServeOptions {
    ServeOptions { speed, tick: Duration::from_millis(20), modbus: None, opcua: None }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_runs_at_speed_and_frames_carry_blocks() {
    let plant = Plant::new(PlantConfig { motors: 2, ..PlantConfig::default() }, Scenario::none()).unwrap();
    let sim = Simulator::start(plant, no_servers(50.0)).await.unwrap();
    let mut rx = sim.subscribe();
    let t0 = std::time::Instant::now();
    tokio::time::sleep(Duration::from_millis(600)).await;
    rx.changed().await.unwrap();
    let f = rx.borrow_and_update().clone();
    let real = t0.elapsed().as_secs_f64();
    // 50× real time, give or take one tick and the start-up; a loaded machine may fall behind,
    // and says so in `behind_s`.
    let ran = f.t_s + f.behind_s;
    assert!(ran > 50.0 * (real - 0.3) && f.t_s <= 50.0 * real + 1.0, "t = {} s (+{} behind) after {real} s", f.t_s, f.behind_s);
    let m = sim.layout().asset_index("motor-01").unwrap();
    let b = f.blocks[m].as_ref().expect("a rendered block");
    assert_eq!(b.samples.len(), 12_800);
    assert_eq!(b.seq as f64, f.value(sim.layout(), "motor-01", "vib.seq").unwrap());
    // The published block is the plant's latest, rendered.
    let spec = sim.with_plant(|p| p.block(m).cloned()).unwrap();
    if spec.seq == b.seq {
        assert_eq!(spec.render().unwrap(), b.samples);
    }
    assert!(f.blocks[0].is_none(), "the ambient station has no vibration");
    sim.shutdown().await;
}

#[tokio::test]
async fn a_write_is_published_before_it_returns() {
    let plant = Plant::demo(1).unwrap();
    let sim = Simulator::start(plant, no_servers(1.0)).await.unwrap();
    sim.write("cnc-01", "tool_offset_mm", -0.02).unwrap();
    assert_eq!(sim.frame().value(sim.layout(), "cnc-01", "tool_offset_mm"), Some(-0.02));
    assert_eq!(sim.with_plant(|p| p.cnc("cnc-01").unwrap().offset_mm()), -0.02);
    assert!(matches!(sim.write("cnc-01", "tool_offset_mm", 5.0), Err(SimError::BadValue { .. })));
    assert!(matches!(sim.write("nope", "x", 5.0), Err(SimError::UnknownAsset { .. })));
    sim.shutdown().await;
}

#[tokio::test]
async fn options_are_checked() {
    let e = Simulator::start(Plant::demo(1).unwrap(), no_servers(0.0)).await.unwrap_err().to_string();
    assert!(e.contains("speed"), "{e}");
    let o = ServeOptions { tick: Duration::ZERO, ..no_servers(1.0) };
    let e = Simulator::start(Plant::demo(1).unwrap(), o).await.unwrap_err().to_string();
    assert!(e.contains("tick"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plant_too_big_for_the_speed_falls_behind_and_says_so() {
    // 300 motors at 10 000× real time with 1 ms ticks: at most 100 s of plant time (300 000
    // motor ticks and 300 blocks to render) per step, which takes far longer than the 10 ms in
    // which real time asks for 100 s.
    let config = PlantConfig { motors: 300, ..PlantConfig::default() };
    let plant = Plant::new(config, Scenario::none()).unwrap();
    let o = ServeOptions { tick: Duration::from_millis(1), ..no_servers(10_000.0) };
    let sim = Simulator::start(plant, o).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let f = sim.frame();
    assert!(f.behind_s > 0.0, "t = {} s, behind {} s", f.t_s, f.behind_s);
    assert!(f.t_s > 0.0);
    sim.shutdown().await;
}
