//! The whole per-window path of the detector (time statistics, robust level, envelope with
//! pre-whitening, speed estimate, four fault families' line statistics, verdict) on a synthetic
//! 1.0 s window, at 25.6 kHz and 12 kHz. Real-time capacity per core = hop (0.5 s) / time per window.

use criterion::{criterion_group, criterion_main, Criterion};
use fos_core::BearingGeometry;
use fos_models::config::AnalysisConfig;
use fos_models::detector::MachineModel;
use fos_signal::kinematics::FaultKind;
use fos_signal::synth::{simulate, BearingSimConfig};
use std::hint::black_box;
use std::time::Duration;

fn bench(c: &mut Criterion) {
    let g = BearingGeometry { elements: 9, element_d: 0.3126, pitch_d: 1.537, contact_angle_deg: 0.0 };
    let mut group = c.benchmark_group("detector_window");
    group.sample_size(30).measurement_time(Duration::from_secs(3));
    for fs in [25_600.0, 12_000.0] {
        let mut sc = BearingSimConfig::new(fs, 2.0, 29.9, g);
        sc.fault = Some((FaultKind::Inner, 0.8));
        sc.resonance_hz = 0.3 * fs;
        let x = simulate(&sc).expect("simulate");
        let cfg = AnalysisConfig { null_windows: 32, ..AnalysisConfig::default() };
        let model = MachineModel::new("bench", &cfg, g, fs, 29.9, true).expect("model");
        let mut an = model.analyzer(29.9).expect("analyzer");
        let n = an.window_len();
        group.bench_function(format!("analyze_and_decide_fs{}", fs as u32), |b| {
            b.iter(|| {
                let f = an.analyze(black_box(&x[..n]));
                black_box(model.decide(&f))
            })
        });
        let cfg_k = AnalysisConfig { null_windows: 32, band_mode: fos_models::config::BandMode::Kurtogram, ..AnalysisConfig::default() };
        let model_k = MachineModel::new("bench", &cfg_k, g, fs, 29.9, true).expect("model");
        let mut an_k = model_k.analyzer(29.9).expect("analyzer");
        // Steady state: the band was selected once and the spectrum does not move.
        let _ = an_k.analyze(&x[..n]);
        group.bench_function(format!("analyze_and_decide_kurtogram_steady_fs{}", fs as u32), |b| {
            b.iter(|| {
                let f = an_k.analyze(black_box(&x[..n]));
                black_box(model_k.decide(&f))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
