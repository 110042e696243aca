//! Benchmarks of the simulator: one simulated second of a 200-asset plant (10 ticks, no
//! rendering), and rendering one vibration block (1 s at 12.8 kHz, an outer-race defect).
//! `cargo bench -p fos-sim`; figures belong in BENCHMARKS.md, never in tests.

use criterion::{criterion_group, criterion_main, Criterion};
use fos_sim::{Plant, PlantConfig, Scenario};

fn bench(c: &mut Criterion) {
    let config = PlantConfig { motors: 190, cnc_mills: 5, weld_cells: 5, ..PlantConfig::default() };
    let scenario = Scenario::demo(&Plant::targets(&config));
    let mut plant = Plant::new(config, scenario).expect("a valid plant");
    let mut t = 0.0;
    c.bench_function("step_200_assets_1s", |b| {
        b.iter(|| {
            t += 1.0;
            plant.step(t).expect("forward")
        })
    });
    let motor = plant.layout().asset_index("motor-02").expect("motor-02");
    let spec = plant.block(motor).expect("a block").clone();
    c.bench_function("render_block_12800", |b| b.iter(|| spec.render().expect("render")));
}

criterion_group!(benches, bench);
criterion_main!(benches);
