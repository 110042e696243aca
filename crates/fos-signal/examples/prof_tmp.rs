use fos_signal::kurtogram::KurtogramPlan;
use fos_signal::stats::time_stats;
use fos_signal::Real;
use std::hint::black_box;

fn run<T: Real>() {
    let n = 16384;
    let mut r = fos_signal::synth::Rng::new(1);
    let x: Vec<T> = (0..n).map(|_| T::of(r.gaussian())).collect();
    let mut p = KurtogramPlan::<T>::new(n, 12000.0, 7).unwrap();
    for _ in 0..50 {
        black_box(p.best_band(black_box(&x), 0.0, 6000.0).unwrap());
        black_box(time_stats(black_box(&x)));
    }
}

fn main() {
    if std::env::args().nth(1).as_deref() == Some("f32") { run::<f32>() } else { run::<f64>() }
}
