//! Small shared helpers: fast FFT sizes, 8-lane reductions, window tables, Bessel I0.

use crate::Real;
use num_complex::Complex;

/// Number of independent accumulators used by the reductions (lets LLVM vectorise them).
pub(crate) const LANES: usize = 8;

/// The smallest `2^a·3^b·5^c` that is `>= n` (and `>= 1`).
pub(crate) fn fast_size(n: usize) -> usize {
    let n = n.max(1);
    let mut best = n.next_power_of_two();
    let mut p5 = 1usize;
    while p5 < best {
        let mut p35 = p5;
        while p35 < best {
            let mut v = p35;
            while v < n {
                v *= 2;
            }
            if v < best {
                best = v;
            }
            p35 *= 3;
        }
        p5 *= 5;
    }
    best
}

/// The smallest multiple of 8 of the form `2^a·3^b·5^c` that is `>= n` (even sizes keep realfft on
/// its fast half-length path).
pub(crate) fn fast_size_even(n: usize) -> usize {
    8 * fast_size(n.div_ceil(8))
}

/// `(Σx, Σx²)` in `f64`, with 8 independent accumulators.
#[inline]
pub(crate) fn sum_and_squares<T: Real>(x: &[T]) -> (f64, f64) {
    let mut a = [T::zero(); LANES];
    let mut b = [T::zero(); LANES];
    let chunks = x.chunks_exact(LANES);
    let rem = chunks.remainder();
    for c in chunks {
        for i in 0..LANES {
            a[i] = a[i] + c[i];
            b[i] = b[i] + c[i] * c[i];
        }
    }
    let (mut s1, mut s2) = (0.0, 0.0);
    for &v in rem {
        s1 += v.as_f64();
        s2 += (v * v).as_f64();
    }
    for i in 0..LANES {
        s1 += a[i].as_f64();
        s2 += b[i].as_f64();
    }
    (s1, s2)
}

/// Dot product with 8 independent accumulators.
#[inline]
pub(crate) fn dot<T: Real>(a: &[T], b: &[T]) -> T {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [T::zero(); LANES];
    let ca = a.chunks_exact(LANES);
    let cb = b.chunks_exact(LANES);
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..LANES {
            acc[i] = acc[i] + x[i] * y[i];
        }
    }
    let mut s = T::zero();
    for (x, y) in ra.iter().zip(rb) {
        s = s + *x * *y;
    }
    acc.iter().fold(s, |a, &b| a + b)
}

/// Writes `out[k] = scale·|z[k]|` using `sqrt(re²+im²)` (never `hypot`).
#[inline]
pub(crate) fn magnitudes<T: Real>(z: &[Complex<T>], scale: T, out: &mut [T]) {
    for (o, c) in out.iter_mut().zip(z) {
        *o = (c.re * c.re + c.im * c.im).sqrt() * scale;
    }
}

/// Periodic Hann window of length `n` (the DFT-even form used for spectral analysis).
pub(crate) fn hann<T: Real>(n: usize) -> Vec<T> {
    (0..n)
        .map(|i| T::of(0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / n as f64).cos()))
        .collect()
}

/// Modified Bessel function of the first kind, order 0 (power series; fine for the Kaiser window).
pub(crate) fn bessel_i0(x: f64) -> f64 {
    let y = x * x / 4.0;
    let mut term = 1.0;
    let mut s = 1.0;
    let mut k = 1.0;
    while term > s * 1e-17 {
        term *= y / (k * k);
        s += term;
        k += 1.0;
    }
    s
}

/// `true` for a finite, strictly positive value.
#[inline]
pub(crate) fn pos_finite(v: f64) -> bool {
    v.is_finite() && v > 0.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_sizes() {
        assert_eq!(fast_size(0), 1);
        assert_eq!(fast_size(7), 8);
        assert_eq!(fast_size(11), 12);
        assert_eq!(fast_size(6001), 6075);
        assert_eq!(fast_size(8192), 8192);
        assert_eq!(fast_size(8193), 8640);
        for n in 1..2000 {
            let m = fast_size(n);
            assert!(m >= n);
            let mut r = m;
            for p in [2, 3, 5] {
                while r % p == 0 {
                    r /= p;
                }
            }
            assert_eq!(r, 1, "{m} is not 5-smooth");
            assert!((n..m).all(|v| {
                let mut r = v;
                for p in [2, 3, 5] {
                    while r % p == 0 {
                        r /= p;
                    }
                }
                r != 1
            }));
        }
    }

    #[test]
    fn even_fast_sizes() {
        assert_eq!(fast_size_even(6001), 6144);
        assert_eq!(fast_size_even(16), 16);
        assert_eq!(fast_size_even(17), 24);
        assert_eq!(fast_size_even(4001), 4096);
    }

    #[test]
    fn reductions_match_naive() {
        let x: Vec<f64> = (0..1003).map(|i| (i as f64 * 0.37).sin()).collect();
        let y: Vec<f64> = (0..1003).map(|i| (i as f64 * 0.11).cos()).collect();
        let s: f64 = x.iter().sum();
        let d: f64 = x.iter().zip(&y).map(|(a, b)| a * b).sum();
        let (s1, s2) = sum_and_squares(&x);
        assert!((s1 - s).abs() < 1e-10);
        assert!((s2 - dot(&x, &x)).abs() < 1e-10);
        assert!((dot(&x, &y) - d).abs() < 1e-10);
    }

    #[test]
    fn bessel() {
        assert!((bessel_i0(0.0) - 1.0).abs() < 1e-15);
        assert!((bessel_i0(1.0) - 1.266_065_877_752_008_4).abs() < 1e-13);
        assert!((bessel_i0(5.0) - 27.239_871_823_604_44).abs() < 1e-10);
    }
}
