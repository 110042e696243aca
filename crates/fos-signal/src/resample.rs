//! Anti-aliased rational resampling (polyphase windowed-sinc FIR, Kaiser window).
//!
//! The rates reduce to `fs_out/fs_in = L/M` (integers, both ≤ [`MAX_RATIO_TERM`]). Conceptually the
//! input is upsampled by `L` (zero stuffing), low-pass filtered by a prototype `h` at rate `L·fs_in`,
//! and every `M`-th sample kept; the polyphase form computes only the kept samples: output `j`
//! at up-rate time `t = jM = n₀L + p` is `y[j] = Σ_i h[p + iL]·x[n₀ − i]` (`T = ⌈K/L⌉` taps per phase).
//!
//! **Filter.** Passband edge `cutoff_hz`, stopband edge `f_s = min(fs_in, fs_out)/2`, stopband
//! attenuation [`STOPBAND_DB`] (ripple ≈ 3·10⁻⁵ in the passband, i.e. < 0.001 dB). Kaiser design:
//! `β = 0.1102·(A − 8.7)`, length `K ≈ (A − 7.95)/(2.285·Δω) + 1` with `Δω = 2π(f_s − cutoff)/(L·fs_in)`,
//! ideal cut-off at the middle of the transition band, gain `L`, DC gain normalised to exactly 1.
//! Everything above `f_s` is removed, so nothing aliases, and the response in Hz depends only on
//! `cutoff_hz` and `min(fs_in, fs_out)`: **when `fs_in == fs_out` the same low-pass is applied**, so a
//! 12 kHz file passed through at 12 kHz and a 48 kHz file resampled to 12 kHz are band-limited alike.
//!
//! **Delay.** `h` is linear-phase with centre `D` (up-rate samples), chosen as a multiple of `M`, so the
//! streaming [`Resampler`] delays its output by exactly [`Resampler::delay_out_samples`] output
//! samples. The one-shot [`resample`] drops them, so its output sample `k` is the signal at time `k/fs_out`.

use crate::util::{bessel_i0, dot, pos_finite};
use crate::{Real, SignalError};

/// Largest `L` or `M` accepted in the reduced ratio `fs_out/fs_in = L/M`.
pub const MAX_RATIO_TERM: usize = 1024;
/// Design stopband attenuation, dB (the tests check ≥ 80 dB).
pub const STOPBAND_DB: f64 = 90.0;
/// Longest prototype filter accepted (up-rate taps).
const MAX_TAPS: usize = 1 << 24;

/// A streaming polyphase resampler with internal history.
#[derive(Clone)]
pub struct Resampler<T: Real> {
    up: usize,
    down: usize,
    taps: usize,
    /// `up` phases of `taps` coefficients each, each phase reversed for a forward dot product.
    phases: Vec<T>,
    delay_out: usize,
    buf: Vec<T>,
    /// Index in `buf` of the newest input sample the next output needs (`n₀`).
    pos: usize,
    phase: usize,
    n_in: u64,
    n_out: u64,
    fs_in: f64,
    fs_out: f64,
    cutoff_hz: f64,
}

impl<T: Real> std::fmt::Debug for Resampler<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resampler")
            .field("fs_in", &self.fs_in)
            .field("fs_out", &self.fs_out)
            .field("cutoff_hz", &self.cutoff_hz)
            .field("up", &self.up)
            .field("down", &self.down)
            .field("taps_per_phase", &self.taps)
            .field("delay_out", &self.delay_out)
            .finish_non_exhaustive()
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Reduces `fs_out/fs_in` to `(L, M)` with both terms ≤ `MAX_RATIO_TERM`.
pub(crate) fn reduce_ratio(fs_in: f64, fs_out: f64) -> Option<(usize, usize)> {
    const EXACT: f64 = 9.0e15;
    if fs_in.fract() == 0.0 && fs_out.fract() == 0.0 && fs_in < EXACT && fs_out < EXACT {
        let (a, b) = (fs_out as u64, fs_in as u64);
        let g = gcd(a, b);
        let (l, m) = ((a / g) as usize, (b / g) as usize);
        return (l <= MAX_RATIO_TERM && m <= MAX_RATIO_TERM).then_some((l, m));
    }
    // Non-integer rates: the first continued-fraction convergent within 1e-10 (relative).
    let r = fs_out / fs_in;
    let (mut h0, mut h1, mut k0, mut k1) = (0u64, 1u64, 1u64, 0u64);
    let mut v = r;
    for _ in 0..64 {
        let a = v.floor();
        if a > 1e12 {
            return None;
        }
        let a = a as u64;
        (h0, h1) = (h1, a * h1 + h0);
        (k0, k1) = (k1, a * k1 + k0);
        if h1 as usize > MAX_RATIO_TERM || k1 as usize > MAX_RATIO_TERM {
            return None;
        }
        if ((h1 as f64 / k1 as f64) - r).abs() <= 1e-10 * r {
            return Some((h1 as usize, k1 as usize));
        }
        let f = v - a as f64;
        if f <= 0.0 {
            return None;
        }
        v = 1.0 / f;
    }
    None
}

impl<T: Real> Resampler<T> {
    /// Builds a resampler from `fs_in` to `fs_out` passing `0 … cutoff_hz`.
    ///
    /// Errors: non-finite or non-positive rates, `cutoff_hz` not in `(0, 0.5·min(fs_in, fs_out))`,
    /// a ratio that does not reduce to terms ≤ [`MAX_RATIO_TERM`], or a filter longer than 2²⁴ taps.
    pub fn new(fs_in: f64, fs_out: f64, cutoff_hz: f64) -> Result<Self, SignalError> {
        if !pos_finite(fs_in) {
            return Err(SignalError::param(
                "fs_in",
                format!("must be finite and > 0, got {fs_in}"),
            ));
        }
        if !pos_finite(fs_out) {
            return Err(SignalError::param(
                "fs_out",
                format!("must be finite and > 0, got {fs_out}"),
            ));
        }
        let f_stop = 0.5 * fs_in.min(fs_out);
        if !(pos_finite(cutoff_hz) && cutoff_hz < f_stop) {
            return Err(SignalError::param(
                "cutoff_hz",
                format!("must be in (0, {f_stop}) = (0, 0.5·min(fs_in, fs_out)), got {cutoff_hz}"),
            ));
        }
        let (up, down) = reduce_ratio(fs_in, fs_out).ok_or(SignalError::UnsupportedRatio {
            fs_in,
            fs_out,
            max: MAX_RATIO_TERM,
        })?;
        let fs_up = fs_in * up as f64;
        let a = STOPBAND_DB;
        let d_omega = 2.0 * std::f64::consts::PI * (f_stop - cutoff_hz) / fs_up;
        let k_req = ((a - 7.95) / (2.285 * d_omega)).ceil() + 1.0;
        if !(k_req.is_finite() && k_req < MAX_TAPS as f64) {
            return Err(SignalError::param(
                "cutoff_hz",
                format!("transition band {cutoff_hz}..{f_stop} Hz is too narrow (filter > {MAX_TAPS} taps)"),
            ));
        }
        let d_min = ((k_req - 1.0) / 2.0).ceil() as usize;
        let centre = d_min.div_ceil(down).max(1) * down;
        let k_len = 2 * centre + 1;
        let taps = k_len.div_ceil(up).max(down.div_ceil(up) + 1);
        if taps * up > MAX_TAPS {
            return Err(SignalError::param(
                "cutoff_hz",
                "filter too long for this ratio and transition band",
            ));
        }
        // Prototype: Kaiser-windowed sinc at the middle of the transition band, gain `up`.
        let beta = 0.1102 * (a - 8.7);
        let fc = 0.5 * (cutoff_hz + f_stop) / fs_up; // cycles per up-rate sample
        let i0b = bessel_i0(beta);
        let mut h = vec![0.0f64; taps * up];
        for (k, hk) in h.iter_mut().enumerate().take(k_len) {
            let t = k as f64 - centre as f64;
            let sinc = if t == 0.0 {
                2.0 * fc
            } else {
                (2.0 * std::f64::consts::PI * fc * t).sin() / (std::f64::consts::PI * t)
            };
            let r = t / centre as f64;
            let w = bessel_i0(beta * (1.0 - r * r).max(0.0).sqrt()) / i0b;
            *hk = sinc * w;
        }
        let s: f64 = h.iter().sum();
        let g = up as f64 / s;
        let mut phases = vec![T::zero(); taps * up];
        for p in 0..up {
            for i in 0..taps {
                phases[p * taps + (taps - 1 - i)] = T::of(h[p + i * up] * g);
            }
        }
        let mut r = Resampler {
            up,
            down,
            taps,
            phases,
            delay_out: centre / down,
            buf: Vec::new(),
            pos: 0,
            phase: 0,
            n_in: 0,
            n_out: 0,
            fs_in,
            fs_out,
            cutoff_hz,
        };
        r.reset();
        Ok(r)
    }

    /// Forgets all history: the next input sample is time 0 again.
    pub fn reset(&mut self) {
        self.buf.clear();
        self.buf.resize(self.taps - 1, T::zero());
        self.pos = self.taps - 1;
        self.phase = 0;
        self.n_in = 0;
        self.n_out = 0;
    }

    /// The reduced ratio `(L, M)` with `fs_out/fs_in = L/M`.
    pub fn ratio(&self) -> (usize, usize) {
        (self.up, self.down)
    }

    /// Taps per polyphase branch (the cost per output sample).
    pub fn taps_per_phase(&self) -> usize {
        self.taps
    }

    /// Group delay of the streaming output, in output samples (an integer by construction):
    /// streaming output `j` is the signal at time `(j − delay)/fs_out`.
    pub fn delay_out_samples(&self) -> usize {
        self.delay_out
    }

    /// Feeds `input` and appends every output sample it completes to `out`.
    ///
    /// The internal history holds `taps_per_phase − 1` samples plus the current chunk (amortised:
    /// it grows to the largest chunk once); `out` grows as a `Vec` does.
    pub fn process(&mut self, input: &[T], out: &mut Vec<T>) {
        self.buf.extend_from_slice(input);
        self.n_in += input.len() as u64;
        self.run(out);
    }

    fn run(&mut self, out: &mut Vec<T>) {
        let (taps, up) = (self.taps, self.up);
        let (step, frac) = (self.down / up, self.down % up);
        let len = self.buf.len();
        if self.pos < len {
            out.reserve((len - self.pos) * up / self.down + 1);
        }
        while self.pos < len {
            let x = &self.buf[self.pos + 1 - taps..=self.pos];
            let h = &self.phases[self.phase * taps..(self.phase + 1) * taps];
            out.push(dot(h, x));
            self.n_out += 1;
            self.phase += frac;
            self.pos += step;
            if self.phase >= up {
                self.phase -= up;
                self.pos += 1;
            }
        }
        // Keep only the history the next output needs (`taps ≥ step + 1` keeps `start ≤ len`).
        let start = (self.pos + 1 - taps).min(len);
        self.buf.copy_within(start.., 0);
        self.buf.truncate(len - start);
        self.pos -= start;
    }

    /// Pushes zeros through the filter until every output up to the end of the input (plus the
    /// delay) is out, then [`reset`](Self::reset)s. After `process`+`flush` of `N` samples the stream
    /// holds `delay_out_samples() + ⌈N·L/M⌉` outputs in total.
    pub fn flush(&mut self, out: &mut Vec<T>) {
        let target =
            self.delay_out as u64 + (self.n_in * self.up as u64).div_ceil(self.down as u64);
        let zeros = [T::zero(); 256];
        let before = out.len();
        while self.n_out < target {
            self.buf.extend_from_slice(&zeros);
            self.run(out);
        }
        let over = (self.n_out - target) as usize;
        let added = out.len() - before;
        out.truncate(before + added.saturating_sub(over));
        self.reset();
    }
}

/// One-shot resampling of `x` with the group delay removed: output `k` is the signal at `k/fs_out`,
/// and the output has `⌈len·L/M⌉` samples (the same duration). The edges see zero padding.
pub fn resample<T: Real>(
    x: &[T],
    fs_in: f64,
    fs_out: f64,
    cutoff_hz: f64,
) -> Result<Vec<T>, SignalError> {
    let mut r = Resampler::<T>::new(fs_in, fs_out, cutoff_hz)?;
    let n_out = (x.len() as u64 * r.up as u64).div_ceil(r.down as u64) as usize;
    let delay = r.delay_out;
    let mut out = Vec::with_capacity(n_out + delay + 1);
    r.process(x, &mut out);
    r.flush(&mut out);
    out.drain(..delay.min(out.len()));
    out.truncate(n_out);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const TAU: f64 = 2.0 * std::f64::consts::PI;

    fn tone(n: usize, fs: f64, f: f64, a: f64, ph: f64) -> Vec<f64> {
        (0..n)
            .map(|i| a * (TAU * f * i as f64 / fs + ph).sin())
            .collect()
    }

    /// Least-squares amplitude and phase of a tone of frequency `f` over `y[from..to]`.
    fn fit(y: &[f64], fs: f64, f: f64, from: usize, to: usize) -> (f64, f64) {
        let (mut ss, mut sc, mut s2, mut c2, mut scx) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for (i, &v) in y.iter().enumerate().take(to).skip(from) {
            let (s, c) = (TAU * f * i as f64 / fs).sin_cos();
            ss += v * s;
            sc += v * c;
            s2 += s * s;
            c2 += c * c;
            scx += s * c;
        }
        // Solve [[s2, scx],[scx, c2]]·[a, b] = [ss, sc] for y ≈ a·sin + b·cos.
        let det = s2 * c2 - scx * scx;
        let a = (ss * c2 - sc * scx) / det;
        let b = (sc * s2 - ss * scx) / det;
        ((a * a + b * b).sqrt(), b.atan2(a))
    }

    fn rms(y: &[f64]) -> f64 {
        (y.iter().map(|v| v * v).sum::<f64>() / y.len() as f64).sqrt()
    }

    fn db(r: f64) -> f64 {
        20.0 * r.log10()
    }

    #[test]
    fn ratios() {
        assert_eq!(reduce_ratio(48_000.0, 12_000.0), Some((1, 4)));
        assert_eq!(reduce_ratio(51_200.0, 25_600.0), Some((1, 2)));
        assert_eq!(reduce_ratio(44_100.0, 48_000.0), Some((160, 147)));
        assert_eq!(reduce_ratio(12_000.0, 12_000.0), Some((1, 1)));
        assert_eq!(reduce_ratio(12_000.5, 24_001.0), Some((2, 1)));
        assert_eq!(reduce_ratio(48_000.0, 12_001.0), None);
        assert_eq!(reduce_ratio(1.0, 1e6), None);
    }

    #[test]
    fn passband_tone_and_delay_compensation() {
        // (fs_in, fs_out, cutoff, tone)
        for &(fi, fo, fc, f) in &[
            (48_000.0, 12_000.0, 5_000.0, 1_234.5),
            (48_000.0, 12_000.0, 5_000.0, 4_900.0),
            (51_200.0, 25_600.0, 10_000.0, 3_333.0),
            (44_100.0, 48_000.0, 20_000.0, 997.0),
            (12_000.0, 12_000.0, 5_000.0, 2_500.0),
        ] {
            let x = tone((fi * 0.5) as usize, fi, f, 1.0, 0.3);
            let y = resample(&x, fi, fo, fc).unwrap();
            assert_eq!(y.len(), (x.len() as f64 * fo / fi).ceil() as usize);
            let m = y.len();
            let (a, ph) = fit(&y, fo, f, m / 5, 4 * m / 5);
            assert!(db(a).abs() < 0.1, "{fi}->{fo}: {f} Hz gain {} dB", db(a));
            // Delay compensated: same phase as the input tone at t = 0.
            let dph = (ph - 0.3 + std::f64::consts::PI).rem_euclid(TAU) - std::f64::consts::PI;
            assert!(dph.abs() < 1e-3, "{fi}->{fo}: phase error {dph}");
        }
    }

    #[test]
    fn stopband_tone_is_removed() {
        // 48 kHz → 12 kHz: an 8 kHz tone would alias to 4 kHz.
        for &(fi, fo, fc, f) in &[
            (48_000.0, 12_000.0, 5_000.0, 8_000.0),
            (48_000.0, 12_000.0, 5_000.0, 6_000.0),
            (51_200.0, 25_600.0, 10_000.0, 14_000.0),
            (48_000.0, 16_000.0, 6_000.0, 9_000.0),
            (44_100.0, 22_050.0, 8_000.0, 15_000.0),
        ] {
            let x = tone((fi * 0.5) as usize, fi, f, 1.0, 0.0);
            let y = resample(&x, fi, fo, fc).unwrap();
            let m = y.len();
            let att = db(rms(&y[m / 5..4 * m / 5]) / rms(&x));
            assert!(att < -80.0, "{fi}->{fo}: {f} Hz only {att} dB");
        }
    }

    #[test]
    fn upsampling_leaves_no_images() {
        // 12 kHz → 48 kHz: a 3 kHz tone would image at 9, 15, 21 kHz.
        let x = tone(6_000, 12_000.0, 3_000.0, 1.0, 0.0);
        let y = resample(&x, 12_000.0, 48_000.0, 5_000.0).unwrap();
        let m = y.len();
        let (a, ph) = fit(&y, 48_000.0, 3_000.0, m / 5, 4 * m / 5);
        let resid: Vec<f64> = (m / 5..4 * m / 5)
            .map(|i| y[i] - a * (TAU * 3_000.0 * i as f64 / 48_000.0 + ph).sin())
            .collect();
        assert!(
            db(rms(&resid) / rms(&x)) < -80.0,
            "{}",
            db(rms(&resid) / rms(&x))
        );
    }

    #[test]
    fn identity_rate_still_filters_like_downsampling() {
        // A 12 kHz file passed at 12 kHz and a 48 kHz file brought to 12 kHz look alike.
        let sig = |fs: f64| -> Vec<f64> {
            (0..(fs * 0.5) as usize)
                .map(|i| {
                    let t = i as f64 / fs;
                    (TAU * 700.0 * t).sin() + 0.5 * (TAU * 5_600.0 * t).sin()
                })
                .collect()
        };
        let a = resample(&sig(12_000.0), 12_000.0, 12_000.0, 4_500.0).unwrap();
        let b = resample(&sig(48_000.0), 48_000.0, 12_000.0, 4_500.0).unwrap();
        assert_eq!(a.len(), b.len());
        let m = a.len();
        let diff: Vec<f64> = a.iter().zip(&b).map(|(u, v)| u - v).collect();
        assert!(db(rms(&diff[m / 5..4 * m / 5]) / rms(&a)) < -60.0);
        // The 5.6 kHz component is in the transition band: partly attenuated in both.
        let (amp, _) = fit(&a, 12_000.0, 5_600.0, m / 5, 4 * m / 5);
        assert!(amp < 0.45, "{amp}");
    }

    #[test]
    fn streaming_equals_one_shot() {
        let fi = 44_100.0;
        let x: Vec<f64> = (0..20_000)
            .map(|i| ((i * 7919) % 1000) as f64 / 500.0 - 1.0)
            .collect();
        let one = resample(&x, fi, 48_000.0, 15_000.0).unwrap();
        let mut r = Resampler::<f64>::new(fi, 48_000.0, 15_000.0).unwrap();
        let mut s = Vec::new();
        for chunk in x.chunks(777) {
            r.process(chunk, &mut s);
        }
        r.flush(&mut s);
        let d = r.delay_out_samples();
        assert_eq!(s.len(), d + one.len());
        for (a, b) in s[d..].iter().zip(&one) {
            assert!((a - b).abs() < 1e-12);
        }
        // After flush the resampler is reset and reusable.
        let mut s2 = Vec::new();
        r.process(&x, &mut s2);
        r.flush(&mut s2);
        assert_eq!(s2, s);
    }

    #[test]
    fn f32_works() {
        let x: Vec<f32> = tone(48_000, 48_000.0, 1_000.0, 1.0, 0.0)
            .into_iter()
            .map(|v| v as f32)
            .collect();
        let y = resample(&x, 48_000.0, 12_000.0, 5_000.0).unwrap();
        let yd: Vec<f64> = y.iter().map(|&v| v as f64).collect();
        let (a, _) = fit(&yd, 12_000.0, 1_000.0, 2_000, 10_000);
        assert!(db(a).abs() < 0.1);
    }

    #[test]
    fn bad_parameters() {
        assert!(Resampler::<f64>::new(f64::NAN, 12_000.0, 1_000.0).is_err());
        assert!(Resampler::<f64>::new(48_000.0, 0.0, 1_000.0).is_err());
        assert!(Resampler::<f64>::new(48_000.0, 12_000.0, 6_000.0).is_err());
        assert!(Resampler::<f64>::new(48_000.0, 12_000.0, -1.0).is_err());
        assert!(Resampler::<f64>::new(48_000.0, 12_000.0, f64::INFINITY).is_err());
        assert!(matches!(
            Resampler::<f64>::new(48_000.0, 12_001.0, 1_000.0),
            Err(SignalError::UnsupportedRatio { .. })
        ));
        assert!(Resampler::<f64>::new(48_000.0, 12_000.0, 5_999.999_999).is_err());
        assert!(resample::<f64>(&[], 48_000.0, 12_000.0, 5_000.0)
            .unwrap()
            .is_empty());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]
        #[test]
        fn never_nan(x in proptest::collection::vec(-1e3f64..1e3, 0..400),
                     which in 0usize..4) {
            let (fi, fo, fc) = [(48_000.0, 12_000.0, 5_000.0), (44_100.0, 48_000.0, 20_000.0),
                                (8_000.0, 8_000.0, 3_000.0), (12_000.0, 51_200.0, 5_000.0)][which];
            let y = resample(&x, fi, fo, fc).unwrap();
            prop_assert!(y.iter().all(|v| v.is_finite()));
            prop_assert_eq!(y.len(), (x.len() as f64 * fo / fi).ceil() as usize);
        }
    }
}
