//! Criterion benchmarks of the per-window DSP against its FFT floor.
//!
//! Run: `cargo bench -p fos-signal --bench dsp` (add `-- --quick` for a fast pass).
//! `fft_floor` is three real FFTs of the window (r2c + c2r + r2c with realfft, plans and buffers
//! reused, the input copied per call as the destroy-input API requires); `envelope` is
//! `EnvelopePlan::process` with whitening on, band 2–5 kHz.

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion};
use fos_core::BearingGeometry;
use fos_signal::envelope::{EnvelopeOptions, EnvelopeOutput, EnvelopePlan};
use fos_signal::kinematics::FaultKind;
use fos_signal::kurtogram::{KurtogramOptions, KurtogramPlan};
use fos_signal::resample::Resampler;
use fos_signal::stats::time_stats;
use fos_signal::synth::{simulate, BearingSimConfig};
use fos_signal::Real;
use realfft::RealFftPlanner;
use std::time::Duration;

fn signal<T: Real>(n: usize, fs: f64) -> Vec<T> {
    let g = BearingGeometry {
        elements: 9,
        element_d: 0.3126,
        pitch_d: 1.537,
        contact_angle_deg: 0.0,
    };
    let mut c = BearingSimConfig::new(fs, n as f64 / fs, 29.5, g);
    c.fault = Some((FaultKind::Outer, 1.0));
    c.resonance_hz = 3_000.0;
    c.noise_rms = 0.3;
    c.shaft_harmonics = vec![0.5];
    simulate(&c).unwrap().into_iter().map(T::of).collect()
}

fn window_benches<T: Real>(c: &mut Criterion, prec: &str, n: usize, fs: f64) {
    let x: Vec<T> = signal(n, fs);
    let mut g = c.benchmark_group(format!("{prec}/n{n}/fs{}", fs as u64));
    g.sample_size(30)
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500));

    let mut planner = RealFftPlanner::<T>::new();
    let r2c = planner.plan_fft_forward(n);
    let c2r = planner.plan_fft_inverse(n);
    let mut work = r2c.make_input_vec();
    let mut spec = r2c.make_output_vec();
    let mut spec2 = r2c.make_output_vec();
    let mut back = c2r.make_output_vec();
    let mut scratch = vec![spec[0]; r2c.get_scratch_len().max(c2r.get_scratch_len())];
    g.bench_function("fft_floor", |b| {
        b.iter(|| {
            work.copy_from_slice(black_box(&x));
            r2c.process_with_scratch(&mut work, &mut spec, &mut scratch)
                .unwrap();
            spec2.copy_from_slice(&spec);
            spec2[0].im = T::zero();
            spec2[n / 2].im = T::zero();
            c2r.process_with_scratch(&mut spec2, &mut back, &mut scratch)
                .unwrap();
            work.copy_from_slice(&back);
            r2c.process_with_scratch(&mut work, &mut spec, &mut scratch)
                .unwrap();
            black_box(&spec);
        })
    });

    let mut plan = EnvelopePlan::<T>::new(n).unwrap();
    let mut out = EnvelopeOutput::new(&plan);
    let opts = EnvelopeOptions {
        band_lo_hz: 2_000.0,
        band_hi_hz: 5_000.0,
        fs,
        whiten: true,
    };
    let m = plan.prepare(&opts).unwrap();
    g.bench_function(BenchmarkId::new("envelope_whiten", format!("M{m}")), |b| {
        b.iter(|| {
            plan.process(black_box(&x), &opts, &mut out).unwrap();
            black_box(&out.ses);
        })
    });

    g.bench_function("time_stats", |b| {
        b.iter(|| black_box(time_stats(black_box(&x))))
    });

    let mut k7 = KurtogramPlan::<T>::new(n, fs, 7).unwrap();
    g.bench_function("kurtogram_16to1024", |b| {
        b.iter(|| black_box(k7.best_band(black_box(&x), 0.0, fs / 2.0).unwrap()))
    });
    let mut o = KurtogramOptions::new(4);
    o.min_window = 128;
    let mut k4 = KurtogramPlan::<T>::with_options(n, fs, o).unwrap();
    g.bench_function("kurtogram_128to1024", |b| {
        b.iter(|| black_box(k4.best_band(black_box(&x), 0.0, fs / 2.0).unwrap()))
    });
    g.finish();
}

fn resampler_bench<T: Real>(c: &mut Criterion, prec: &str) {
    let x: Vec<T> = signal(48_000, 48_000.0);
    let mut g = c.benchmark_group(format!("{prec}/resample"));
    g.sample_size(30)
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500));
    let mut r = Resampler::<T>::new(48_000.0, 12_000.0, 5_000.0).unwrap();
    let mut out = Vec::with_capacity(20_000);
    g.bench_function("48k_to_12k_1s", |b| {
        b.iter(|| {
            out.clear();
            r.process(black_box(&x), &mut out);
            r.flush(&mut out);
            black_box(&out);
        })
    });
    g.finish();
}

fn benches(c: &mut Criterion) {
    for &(n, fs) in &[
        (16_384usize, 12_000.0),
        (16_384, 51_200.0),
        (12_000, 12_000.0),
        (12_000, 51_200.0),
    ] {
        window_benches::<f32>(c, "f32", n, fs);
        window_benches::<f64>(c, "f64", n, fs);
    }
    resampler_bench::<f32>(c, "f32");
    resampler_bench::<f64>(c, "f64");
}

criterion_group!(dsp, benches);
criterion_main!(dsp);
