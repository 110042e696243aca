//! Axis scales: data ranges, "nice" 1-2-5 tick positions and tick labels,
//! linear or base-10 logarithmic.

/// A mapping from data values to a normalised `[0, 1]` position.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Scale {
    /// Lower end, in transformed units (log10 of the value when `log`).
    pub(crate) lo: f64,
    /// Upper end, in transformed units.
    pub(crate) hi: f64,
    /// Base-10 logarithmic.
    pub(crate) log: bool,
}

impl Scale {
    /// Position of `v` in `[0, 1]` (clamped); non-positive values on a log
    /// scale map to 0.
    pub(crate) fn frac(&self, v: f64) -> f64 {
        let t = if self.log {
            if v > 0.0 {
                v.log10()
            } else {
                self.lo
            }
        } else {
            v
        };
        ((t - self.lo) / (self.hi - self.lo)).clamp(0.0, 1.0)
    }

    /// A linear scale over `[lo, hi]` (widened if degenerate).
    pub(crate) fn linear(lo: f64, hi: f64) -> Self {
        let (lo, hi) = widen(lo, hi);
        Scale { lo, hi, log: false }
    }

    /// A y scale fitted to `values`: from 0 (or below the minimum, with 5 %
    /// headroom, when negative values exist) to the maximum plus 5 %.
    pub(crate) fn fit_linear(values: impl Iterator<Item = f64>) -> Self {
        let (mut min, mut max) = (f64::INFINITY, f64::NEG_INFINITY);
        for v in values.filter(|v| v.is_finite()) {
            min = min.min(v);
            max = max.max(v);
        }
        if !min.is_finite() {
            return Scale::linear(0.0, 1.0);
        }
        let lo = min.min(0.0);
        let hi = max.max(0.0);
        let span = hi - lo;
        if span <= 0.0 {
            return Scale::linear(lo, hi);
        }
        let lo = if lo < 0.0 { lo - 0.05 * span } else { lo };
        let hi = if max > 0.0 { hi + 0.05 * span } else { hi };
        Scale::linear(lo, hi)
    }

    /// A log y scale fitted to the positive finite `values`, spanning whole
    /// decades and at most `max_decades` below the top.
    pub(crate) fn fit_log(values: impl Iterator<Item = f64>, max_decades: f64) -> Self {
        let (mut min, mut max) = (f64::INFINITY, f64::NEG_INFINITY);
        for v in values.filter(|v| v.is_finite() && *v > 0.0) {
            min = min.min(v);
            max = max.max(v);
        }
        if !min.is_finite() {
            return Scale {
                lo: 0.0,
                hi: 1.0,
                log: true,
            };
        }
        let hi = max.log10().ceil();
        let mut lo = min.log10().floor();
        if lo >= hi {
            lo = hi - 1.0;
        }
        lo = lo.max(hi - max_decades);
        Scale { lo, hi, log: true }
    }

    /// Tick positions (data values) and their labels, about `target` of them.
    pub(crate) fn ticks(&self, target: usize) -> Vec<(f64, String)> {
        if self.log {
            log_ticks(self.lo, self.hi, target)
        } else {
            linear_ticks(self.lo, self.hi, target)
        }
    }
}

fn widen(lo: f64, hi: f64) -> (f64, f64) {
    if hi > lo {
        (lo, hi)
    } else if lo == 0.0 {
        (0.0, 1.0)
    } else {
        let d = lo.abs() * 0.5;
        (lo - d, lo + d)
    }
}

/// A 1, 2 or 5 × 10^k step giving about `target` intervals over `span`.
pub(crate) fn nice_step(span: f64, target: usize) -> f64 {
    let raw = span / target.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let norm = raw / mag;
    let m = if norm < 1.5 {
        1.0
    } else if norm < 3.0 {
        2.0
    } else if norm < 7.0 {
        5.0
    } else {
        10.0
    };
    m * mag
}

fn linear_ticks(lo: f64, hi: f64, target: usize) -> Vec<(f64, String)> {
    let step = nice_step(hi - lo, target);
    let first = (lo / step - 1e-9).ceil() as i64;
    let last = (hi / step + 1e-9).floor() as i64;
    let amax = lo.abs().max(hi.abs());
    (first..=last)
        .map(|i| {
            let v = i as f64 * step;
            (v, format_tick(v, step, amax))
        })
        .collect()
}

/// Formats a linear tick value: fixed-point with just enough decimals for
/// `step`, or compact scientific notation for very small/large magnitudes.
pub(crate) fn format_tick(v: f64, step: f64, amax: f64) -> String {
    if v.abs() < step * 1e-6 {
        return "0".to_string();
    }
    if step >= 1e-3 && amax < 1e6 {
        let decimals = (-step.log10() - 1e-9).ceil().max(0.0) as usize;
        format!("{v:.decimals$}")
    } else {
        let s = format!("{v:.1e}");
        s.replace(".0e", "e")
    }
}

fn log_ticks(lo: f64, hi: f64, target: usize) -> Vec<(f64, String)> {
    let (lo, hi) = (lo.round() as i32, hi.round() as i32);
    let decades = (hi - lo).max(1) as usize;
    let every = decades.div_ceil(target.max(1)).max(1);
    (lo..=hi)
        .step_by(every)
        .map(|k| (10f64.powi(k), format_decade(k)))
        .collect()
}

fn format_decade(k: i32) -> String {
    if (-3..=0).contains(&k) {
        format!("{:.*}", (-k) as usize, 10f64.powi(k))
    } else if (1..=4).contains(&k) {
        format!("{}", 10i64.pow(k as u32))
    } else {
        format!("1e{k}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_steps() {
        assert_eq!(nice_step(10.0, 5), 2.0);
        assert_eq!(nice_step(600.0, 10), 50.0);
        assert!((nice_step(0.001, 5) - 2e-4).abs() < 1e-12);
        assert_eq!(nice_step(10_000.0, 10), 1000.0);
    }

    #[test]
    fn linear_ticks_cover_range_with_clean_labels() {
        let t = Scale::linear(0.0, 600.0).ticks(6);
        let labels: Vec<&str> = t.iter().map(|(_, s)| s.as_str()).collect();
        assert_eq!(labels, ["0", "100", "200", "300", "400", "500", "600"]);
        let t = Scale::linear(0.0, 1.05).ticks(5);
        assert_eq!(t[1].1, "0.2");
        let t = Scale::linear(0.0, 3.2e-5).ticks(4);
        assert_eq!(t[1].1, "1e-5");
    }

    #[test]
    fn log_scale_fits_decades() {
        let s = Scale::fit_log([0.002, 0.5, 37.0, 0.0, -1.0].into_iter(), 10.0);
        assert_eq!((s.lo, s.hi), (-3.0, 2.0));
        let labels: Vec<String> = s.ticks(6).into_iter().map(|t| t.1).collect();
        assert_eq!(labels, ["0.001", "0.01", "0.1", "1", "10", "100"]);
        assert_eq!(s.frac(0.0), 0.0);
        assert!((s.frac(1.0) - 0.6).abs() < 1e-12);
        let s = Scale::fit_log([1e-20, 1.0].into_iter(), 8.0);
        assert_eq!(s.lo, -8.0);
        assert_eq!(s.ticks(5)[1].1, "1e-6");
    }

    #[test]
    fn linear_fit_starts_at_zero_for_positive_data() {
        let s = Scale::fit_linear([1.0, 2.0, f64::NAN].into_iter());
        assert_eq!(s.lo, 0.0);
        assert!((s.hi - 2.1).abs() < 1e-12);
        let s = Scale::fit_linear([-1.0, 1.0].into_iter());
        assert!(s.lo < -1.0 && s.hi > 1.0);
        let s = Scale::fit_linear(std::iter::empty());
        assert_eq!((s.lo, s.hi), (0.0, 1.0));
    }
}
