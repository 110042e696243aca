//! Deterministic synthetic bearing vibration for tests and demos.
//!
//! The model (after McFadden & Smith 1984, Randall & Antoni 2011):
//!
//! - **Fault impacts** at the family's impact rate `f_i = order·fr` with `fr = shaft_hz·(1 + speed_error)`:
//!   outer race BPFO (constant amplitude); inner race BPFI, amplitude `A·(1 + cos 2π fr t)/2` (the
//!   defect rotates through the load zone, giving `±fr` sidebands); ball 2·BSF (a ball defect strikes
//!   both races), amplitude `A·(1 + cos 2π FTF t)/2` (the ball travels with the cage); cage impacts at
//!   FTF with irregular amplitude `A·U(0.5, 1)`. Each interval is jittered by `slip·N(0,1)` of the
//!   period (clipped at ±3σ): the 1–2 % random slip that smears high envelope harmonics.
//! - **Structure**: every impact excites `h(τ) = Σ_m a_m·e^{−ζω_m τ}·sin(ω_m√(1−ζ²)·τ)` (mode 1 at
//!   `resonance_hz` with `a = 1`, plus `extra_modes`), evaluated exactly at the impact's fractional
//!   time and truncated when `e^{−ζω τ} < 10⁻⁴`, so the cost is per impact, not a convolution.
//! - **Shaft harmonics** `Σ_h a_h·sin(2π h fr t + φ_h)`, **Gaussian noise** of `noise_rms`, and
//!   **knocks**: isolated impacts `(t, amplitude)` through the same structure (impulsive, not periodic).
//!
//! Randomness comes from an in-crate SplitMix64 generator ([`Rng`]), so a seed gives the same signal
//! on every platform.

pub use crate::kinematics::FaultKind;
use crate::kinematics::FaultOrders;
use crate::util::pos_finite;
use crate::SignalError;
use fos_core::BearingGeometry;
use std::f64::consts::PI;

/// SplitMix64: a tiny, fast, well-mixed deterministic generator (not cryptographic).
#[derive(Debug, Clone)]
pub struct Rng {
    state: u64,
    spare: Option<f64>,
}

impl Rng {
    /// A generator from a seed (any value, including 0).
    pub fn new(seed: u64) -> Self {
        Rng {
            state: seed ^ 0x853C_49E6_748F_EA9B,
            spare: None,
        }
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Standard normal (Box–Muller).
    pub fn gaussian(&mut self) -> f64 {
        if let Some(v) = self.spare.take() {
            return v;
        }
        let u1 = 1.0 - self.uniform(); // (0, 1]
        let u2 = self.uniform();
        let r = (-2.0 * u1.ln()).sqrt();
        let (s, c) = (2.0 * PI * u2).sin_cos();
        self.spare = Some(r * s);
        r * c
    }
}

/// Parameters of [`simulate`]. Build with [`BearingSimConfig::new`] and adjust fields.
#[derive(Debug, Clone, PartialEq)]
pub struct BearingSimConfig {
    /// Sample rate, Hz.
    pub fs: f64,
    /// Duration, s.
    pub duration_s: f64,
    /// Nominal shaft frequency, Hz.
    pub shaft_hz: f64,
    /// Bearing geometry (sets the fault frequencies).
    pub geometry: BearingGeometry,
    /// The defect and its impact amplitude, or `None` for a healthy bearing.
    pub fault: Option<(FaultKind, f64)>,
    /// First structural resonance, Hz (< fs/2).
    pub resonance_hz: f64,
    /// Damping ratio ζ of every mode, in `(0, 1)`. Default 0.05.
    pub damping_ratio: f64,
    /// Further modes `(Hz, amplitude relative to mode 1)`. Default none.
    pub extra_modes: Vec<(f64, f64)>,
    /// Random jitter of each inter-impact interval, as a fraction of the period (σ). Default 0.01.
    pub slip: f64,
    /// True speed = nominal·(1 + speed_error). Default 0.
    pub speed_error: f64,
    /// RMS of additive white Gaussian noise. Default 0.1.
    pub noise_rms: f64,
    /// Amplitudes of shaft harmonics 1, 2, … Default none.
    pub shaft_harmonics: Vec<f64>,
    /// Isolated impacts `(time s, amplitude)`. Default none.
    pub knocks: Vec<(f64, f64)>,
    /// Random seed.
    pub seed: u64,
}

impl BearingSimConfig {
    /// A healthy bearing with defaults: resonance at min(3 kHz, 0.35·fs), ζ = 0.05, 1 % slip,
    /// no speed error, noise 0.1, no shaft harmonics, no knocks, seed 1.
    pub fn new(fs: f64, duration_s: f64, shaft_hz: f64, geometry: BearingGeometry) -> Self {
        BearingSimConfig {
            fs,
            duration_s,
            shaft_hz,
            geometry,
            fault: None,
            resonance_hz: 3_000f64.min(0.35 * fs),
            damping_ratio: 0.05,
            extra_modes: Vec::new(),
            slip: 0.01,
            speed_error: 0.0,
            noise_rms: 0.1,
            shaft_harmonics: Vec::new(),
            knocks: Vec::new(),
            seed: 1,
        }
    }

    /// The true shaft frequency, `shaft_hz·(1 + speed_error)`.
    pub fn true_shaft_hz(&self) -> f64 {
        self.shaft_hz * (1.0 + self.speed_error)
    }

    /// Number of samples [`simulate`] returns.
    pub fn len(&self) -> usize {
        (self.fs * self.duration_s).round().max(0.0) as usize
    }

    /// True when the configuration gives no samples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Checks every parameter.
    pub fn validate(&self) -> Result<(), SignalError> {
        fn p(name: &'static str, reason: impl Into<String>) -> SignalError {
            SignalError::param(name, reason)
        }
        if !pos_finite(self.fs) {
            return Err(p("fs", format!("must be finite and > 0, got {}", self.fs)));
        }
        if !(pos_finite(self.duration_s) && self.fs * self.duration_s < 1e9) {
            return Err(p(
                "duration_s",
                format!(
                    "must be > 0 and give < 1e9 samples, got {}",
                    self.duration_s
                ),
            ));
        }
        if !pos_finite(self.shaft_hz) {
            return Err(p(
                "shaft_hz",
                format!("must be finite and > 0, got {}", self.shaft_hz),
            ));
        }
        self.geometry.validate().map_err(|e| p("geometry", e))?;
        let nyq = self.fs / 2.0;
        let mode_ok = |f: f64| pos_finite(f) && f < nyq;
        if !mode_ok(self.resonance_hz) {
            return Err(p(
                "resonance_hz",
                format!("must be in (0, fs/2 = {nyq}), got {}", self.resonance_hz),
            ));
        }
        if !(self.damping_ratio > 0.0 && self.damping_ratio < 1.0) {
            return Err(p(
                "damping_ratio",
                format!("must be in (0, 1), got {}", self.damping_ratio),
            ));
        }
        if self
            .extra_modes
            .iter()
            .any(|&(f, a)| !mode_ok(f) || !a.is_finite())
        {
            return Err(p(
                "extra_modes",
                "each mode needs 0 < Hz < fs/2 and a finite amplitude",
            ));
        }
        if !(self.slip.is_finite() && (0.0..=0.5).contains(&self.slip)) {
            return Err(p("slip", format!("must be in [0, 0.5], got {}", self.slip)));
        }
        if !(self.speed_error.is_finite() && self.speed_error > -0.9) {
            return Err(p(
                "speed_error",
                format!("must be finite and > -0.9, got {}", self.speed_error),
            ));
        }
        if !(self.noise_rms.is_finite() && self.noise_rms >= 0.0) {
            return Err(p(
                "noise_rms",
                format!("must be finite and >= 0, got {}", self.noise_rms),
            ));
        }
        if self.shaft_harmonics.iter().any(|a| !a.is_finite()) {
            return Err(p("shaft_harmonics", "amplitudes must be finite"));
        }
        if self
            .knocks
            .iter()
            .any(|&(t, a)| !t.is_finite() || !a.is_finite())
        {
            return Err(p("knocks", "times and amplitudes must be finite"));
        }
        if let Some((_, a)) = self.fault {
            if !a.is_finite() {
                return Err(p("fault", format!("amplitude must be finite, got {a}")));
            }
        }
        Ok(())
    }
}

/// One structural mode: `amp·e^{−σ τ}·sin(ω_d τ)`.
struct Mode {
    amp: f64,
    sigma: f64,
    omega_d: f64,
}

struct Structure {
    modes: Vec<Mode>,
    len_s: f64,
}

impl Structure {
    fn new(c: &BearingSimConfig) -> Self {
        let z = c.damping_ratio;
        let mut modes = vec![];
        for (f, a) in std::iter::once((c.resonance_hz, 1.0)).chain(c.extra_modes.iter().copied()) {
            let w = 2.0 * PI * f;
            modes.push(Mode {
                amp: a,
                sigma: z * w,
                omega_d: w * (1.0 - z * z).sqrt(),
            });
        }
        let slowest = modes.iter().map(|m| m.sigma).fold(f64::INFINITY, f64::min);
        Structure {
            modes,
            len_s: (1e4f64).ln() / slowest,
        }
    }

    /// Adds `amp·h(t − t0)` to `x` (sampled at `fs`), for the support of `h`.
    fn add(&self, x: &mut [f64], fs: f64, t0: f64, amp: f64) {
        let first = (t0 * fs).ceil().max(0.0) as usize;
        let last = (((t0 + self.len_s) * fs).floor().max(-1.0) as isize).min(x.len() as isize - 1);
        if last < first as isize {
            return;
        }
        let seg = &mut x[first..=last as usize];
        let dt = 1.0 / fs;
        let tau0 = first as f64 * dt - t0;
        for m in &self.modes {
            // z_k = a·e^{(−σ + iω_d)(τ0 + k·dt)}; h = Im z. Rotate with a complex recurrence.
            let mag0 = amp * m.amp * (-m.sigma * tau0).exp();
            let (s0, c0) = (m.omega_d * tau0).sin_cos();
            let (mut zr, mut zi) = (mag0 * c0, mag0 * s0);
            let decay = (-m.sigma * dt).exp();
            let (sd, cd) = (m.omega_d * dt).sin_cos();
            let (rr, ri) = (decay * cd, decay * sd);
            for v in seg.iter_mut() {
                *v += zi;
                (zr, zi) = (zr * rr - zi * ri, zr * ri + zi * rr);
            }
        }
    }
}

/// Generates the configured signal (`round(fs·duration_s)` samples).
pub fn simulate(c: &BearingSimConfig) -> Result<Vec<f64>, SignalError> {
    c.validate()?;
    let n = c.len();
    let fs = c.fs;
    let dur = n as f64 / fs;
    let fr = c.true_shaft_hz();
    let orders = FaultOrders::from_geometry(&c.geometry);
    let mut rng = Rng::new(c.seed);
    let mut x = vec![0.0; n];
    let structure = Structure::new(c);

    if let Some((kind, a)) = c.fault {
        let f_imp = orders.impact_order(kind) * fr;
        let period = 1.0 / f_imp;
        let mod_phase = 2.0 * PI * rng.uniform();
        let ftf = orders.cage * fr;
        let mut t = period * rng.uniform();
        while t < dur + structure.len_s {
            let amp = match kind {
                FaultKind::Outer => a,
                FaultKind::Inner => a * 0.5 * (1.0 + (2.0 * PI * fr * t + mod_phase).cos()),
                FaultKind::Ball => a * 0.5 * (1.0 + (2.0 * PI * ftf * t + mod_phase).cos()),
                FaultKind::Cage => a * (0.5 + 0.5 * rng.uniform()),
            };
            structure.add(&mut x, fs, t, amp);
            let jitter = (c.slip * rng.gaussian()).clamp(-3.0 * c.slip, 3.0 * c.slip);
            t += period * (1.0 + jitter);
        }
    }
    for &(t, a) in &c.knocks {
        structure.add(&mut x, fs, t, a);
    }
    for (h, &a) in c.shaft_harmonics.iter().enumerate() {
        let w = 2.0 * PI * fr * (h + 1) as f64 / fs;
        let ph = 2.0 * PI * rng.uniform();
        if a != 0.0 {
            for (i, v) in x.iter_mut().enumerate() {
                *v += a * (w * i as f64 + ph).sin();
            }
        }
    }
    if c.noise_rms > 0.0 {
        for v in x.iter_mut() {
            *v += c.noise_rms * rng.gaussian();
        }
    }
    Ok(x)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spectrum::SpectrumPlan;
    use crate::stats::time_stats;

    fn geom() -> BearingGeometry {
        BearingGeometry {
            elements: 9,
            element_d: 0.3126,
            pitch_d: 1.537,
            contact_angle_deg: 0.0,
        }
    }

    #[test]
    fn rng_is_deterministic_and_sane() {
        let mut a = Rng::new(42);
        let mut b = Rng::new(42);
        let va: Vec<u64> = (0..5).map(|_| a.next_u64()).collect();
        let vb: Vec<u64> = (0..5).map(|_| b.next_u64()).collect();
        assert_eq!(va, vb);
        let mut r = Rng::new(0);
        let g: Vec<f64> = (0..100_000).map(|_| r.gaussian()).collect();
        let m = g.iter().sum::<f64>() / g.len() as f64;
        let v = g.iter().map(|x| (x - m).powi(2)).sum::<f64>() / g.len() as f64;
        assert!(m.abs() < 0.01 && (v - 1.0).abs() < 0.02);
        let u: Vec<f64> = (0..10_000).map(|_| r.uniform()).collect();
        assert!(u.iter().all(|&x| (0.0..1.0).contains(&x)));
    }

    #[test]
    fn healthy_signal_is_gaussian_and_seeded() {
        let mut c = BearingSimConfig::new(12_000.0, 1.0, 30.0, geom());
        c.noise_rms = 0.5;
        let x = simulate(&c).unwrap();
        assert_eq!(x.len(), 12_000);
        let s = time_stats(&x);
        assert!(
            (s.rms - 0.5).abs() < 0.02 && (s.kurtosis - 3.0).abs() < 0.2,
            "{s:?}"
        );
        assert_eq!(simulate(&c).unwrap(), x);
        c.seed = 2;
        assert_ne!(simulate(&c).unwrap(), x);
    }

    #[test]
    fn faults_are_impulsive_and_knocks_are_single() {
        for kind in FaultKind::ALL {
            let mut c = BearingSimConfig::new(12_000.0, 1.0, 30.0, geom());
            c.fault = Some((kind, 1.0));
            let s = time_stats(&simulate(&c).unwrap());
            assert!(s.kurtosis > 4.0, "{kind:?}: {s:?}");
        }
        let mut c = BearingSimConfig::new(12_000.0, 1.0, 30.0, geom());
        c.noise_rms = 0.0;
        c.knocks = vec![(0.5, 2.0)];
        let x = simulate(&c).unwrap();
        assert!(x[..5_999].iter().all(|&v| v == 0.0));
        let peak = x.iter().fold(0.0f64, |a, v| a.max(v.abs()));
        assert!(peak > 1.5 && peak <= 2.0);
        assert!(x[6_300..].iter().all(|v| v.abs() < 1e-3), "decays");
    }

    #[test]
    fn impulse_response_rings_at_the_resonance() {
        let mut c = BearingSimConfig::new(12_000.0, 1.0, 30.0, geom());
        c.noise_rms = 0.0;
        c.resonance_hz = 2_500.0;
        c.knocks = (0..40).map(|i| (0.0123 + i as f64 * 0.0247, 1.0)).collect();
        let x = simulate(&c).unwrap();
        let mut p = SpectrumPlan::<f64>::new(x.len()).unwrap();
        let mut m = vec![0.0; p.bins()];
        p.magnitude(&x, &mut m).unwrap();
        let k = m
            .iter()
            .enumerate()
            .fold((0, 0.0), |b, (k, &v)| if v > b.1 { (k, v) } else { b })
            .0;
        assert!((k as f64 - 2_500.0).abs() < 60.0, "peak at {k} Hz");
    }

    #[test]
    fn shaft_harmonics_at_true_speed() {
        let mut c = BearingSimConfig::new(12_000.0, 1.0, 30.0, geom());
        c.speed_error = -0.1;
        c.noise_rms = 0.0;
        c.shaft_harmonics = vec![1.0];
        let x = simulate(&c).unwrap();
        let mut p = SpectrumPlan::<f64>::new(x.len()).unwrap();
        let mut m = vec![0.0; p.bins()];
        p.magnitude(&x, &mut m).unwrap();
        assert!((m[27] - 1.0).abs() < 1e-6, "{}", m[27]);
    }

    #[test]
    fn bad_parameters() {
        let good = BearingSimConfig::new(12_000.0, 1.0, 30.0, geom());
        let mut c = good.clone();
        c.fs = f64::NAN;
        assert!(simulate(&c).is_err());
        let mut c = good.clone();
        c.resonance_hz = 7_000.0;
        assert!(simulate(&c).is_err());
        let mut c = good.clone();
        c.damping_ratio = 0.0;
        assert!(simulate(&c).is_err());
        let mut c = good.clone();
        c.geometry.elements = 0;
        assert!(simulate(&c).is_err());
        let mut c = good;
        c.duration_s = 1e12;
        assert!(simulate(&c).is_err());
    }
}
