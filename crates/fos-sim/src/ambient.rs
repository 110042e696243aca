//! The hall's air: temperature and relative humidity with a daily cycle, weather fronts and
//! scripted excursions (a humidity spike, a heat wave).
//!
//! The model works with temperature `T` and **dew point** `T_d` (the absolute moisture of the
//! air), and derives relative humidity from them with the Magnus formula (Alduchov & Eskridge
//! 1996 coefficients over water):
//!
//! ```text
//! e_s(T) = 6.1094 · exp(17.625·T / (T + 243.04))      hPa, T in °C
//! RH     = 100 · e_s(min(T_d, T)) / e_s(T)            %
//! ```
//!
//! so the daily temperature cycle moves RH the opposite way at constant moisture, as in a real
//! hall. Components:
//!
//! - **daily cycle**: `T = T_mean + A·cos(2π(h − h_peak)/24)` with the hour of day `h` (the plant
//!   starts at [`AmbientParams::start_hour`]); the dew point does not cycle.
//! - **weather fronts**: at exponentially distributed intervals (mean
//!   [`AmbientParams::front_mean_interval_s`]) the temperature and dew-point offsets move to new
//!   values `N(0, σ)`, ramping linearly over [`AmbientParams::front_ramp_s`].
//! - **excursions** (from the scenario): a trapezoid `(start, ramp, hold)` added to `T` or `T_d`.
//!   A humidity spike raises the dew point (wet weather, a washdown, a door open to rain).
//!
//! Randomness is drawn per tick from the plant's seeded generator, so a seed gives one weather.

use fos_signal::synth::Rng;

/// Parameters of the hall's climate. Defaults: an indoor hall at 21 °C ± 2.5 °C a day (peak at
/// 15:00), dew point 9 °C (RH ≈ 46 % at 21 °C), fronts every 8 h on average with σ 1.5 °C on both
/// offsets, ramping over 30 min; the plant starts at 08:00.
#[derive(Debug, Clone, PartialEq)]
pub struct AmbientParams {
    /// Daily mean temperature, °C.
    pub mean_temp_c: f64,
    /// Amplitude of the daily cycle, °C.
    pub daily_amplitude_c: f64,
    /// Hour of the daily maximum, 0–24.
    pub peak_hour: f64,
    /// Base dew point, °C.
    pub dew_point_c: f64,
    /// Mean time between weather fronts, s.
    pub front_mean_interval_s: f64,
    /// σ of a front's temperature and dew-point offsets, °C.
    pub front_sigma_c: f64,
    /// Time a front takes to arrive, s.
    pub front_ramp_s: f64,
    /// Hour of day at simulated time 0.
    pub start_hour: f64,
}

impl Default for AmbientParams {
    fn default() -> Self {
        AmbientParams {
            mean_temp_c: 21.0,
            daily_amplitude_c: 2.5,
            peak_hour: 15.0,
            dew_point_c: 9.0,
            front_mean_interval_s: 8.0 * 3600.0,
            front_sigma_c: 1.5,
            front_ramp_s: 1800.0,
            start_hour: 8.0,
        }
    }
}

/// What a scripted excursion changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExcursionTarget {
    /// The air temperature.
    Temperature,
    /// The dew point (moisture): a humidity spike.
    DewPoint,
}

/// A scripted trapezoid: `0` before `start_s`, rising linearly to `delta_c` over `ramp_s`,
/// held for `hold_s`, falling back over `ramp_s`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Excursion {
    /// What it changes.
    pub target: ExcursionTarget,
    /// Start, s of simulated time.
    pub start_s: f64,
    /// Ramp time up and down, s (≥ 0).
    pub ramp_s: f64,
    /// Time at full height, s (≥ 0).
    pub hold_s: f64,
    /// Height, °C.
    pub delta_c: f64,
}

impl Excursion {
    /// The offset at time `t_s`.
    pub fn offset_at(&self, t_s: f64) -> f64 {
        let x = t_s - self.start_s;
        if x <= 0.0 {
            return 0.0;
        }
        let r = self.ramp_s;
        let frac = if x < r {
            x / r
        } else if x <= r + self.hold_s {
            1.0
        } else if x < 2.0 * r + self.hold_s {
            1.0 - (x - r - self.hold_s) / r
        } else {
            0.0
        };
        self.delta_c * frac
    }
}

/// A slowly moving offset: ramps linearly from `from` to `to` between `t0` and `t1`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Ramp {
    from: f64,
    to: f64,
    t0: f64,
    t1: f64,
}

impl Ramp {
    fn at(&self, t: f64) -> f64 {
        if t >= self.t1 || self.t1 <= self.t0 {
            self.to
        } else if t <= self.t0 {
            self.from
        } else {
            self.from + (self.to - self.from) * (t - self.t0) / (self.t1 - self.t0)
        }
    }
}

/// Saturation vapour pressure over water, hPa (Magnus, Alduchov & Eskridge 1996).
pub fn saturation_vapour_pressure_hpa(temp_c: f64) -> f64 {
    6.1094 * (17.625 * temp_c / (temp_c + 243.04)).exp()
}

/// Relative humidity (%) of air at `temp_c` with dew point `dew_point_c` (capped at 100 %).
pub fn relative_humidity_pct(temp_c: f64, dew_point_c: f64) -> f64 {
    100.0 * saturation_vapour_pressure_hpa(dew_point_c.min(temp_c)) / saturation_vapour_pressure_hpa(temp_c)
}

/// The hall's climate, advanced tick by tick.
#[derive(Debug, Clone)]
pub struct Ambient {
    params: AmbientParams,
    rng: Rng,
    next_front_s: f64,
    temp_front: Ramp,
    dew_front: Ramp,
    excursions: Vec<Excursion>,
    temp_c: f64,
    dew_point_c: f64,
}

impl Ambient {
    /// A climate at time 0 from `params` and a seed.
    pub fn new(params: AmbientParams, seed: u64) -> Ambient {
        let mut rng = Rng::new(seed);
        let first = exponential(&mut rng, params.front_mean_interval_s);
        let flat = Ramp { from: 0.0, to: 0.0, t0: 0.0, t1: 0.0 };
        let mut a = Ambient {
            params,
            rng,
            next_front_s: first,
            temp_front: flat,
            dew_front: flat,
            excursions: Vec::new(),
            temp_c: 0.0,
            dew_point_c: 0.0,
        };
        a.evaluate(0.0);
        a
    }

    /// The parameters.
    pub fn params(&self) -> &AmbientParams {
        &self.params
    }

    /// Adds a scripted excursion.
    pub fn add_excursion(&mut self, e: Excursion) {
        self.excursions.push(e);
    }

    /// Advances to time `t_s` (one tick): draws a new front when one is due, then evaluates.
    pub fn step(&mut self, t_s: f64) {
        while t_s >= self.next_front_s {
            let t0 = self.next_front_s;
            let sigma = self.params.front_sigma_c;
            let dt = self.rng.gaussian() * sigma;
            let dd = self.rng.gaussian() * sigma;
            let ramp = self.params.front_ramp_s;
            self.temp_front = Ramp { from: self.temp_front.at(t0), to: dt, t0, t1: t0 + ramp };
            self.dew_front = Ramp { from: self.dew_front.at(t0), to: dd, t0, t1: t0 + ramp };
            self.next_front_s = t0 + exponential(&mut self.rng, self.params.front_mean_interval_s);
        }
        self.evaluate(t_s);
    }

    fn evaluate(&mut self, t_s: f64) {
        let p = &self.params;
        let hour = p.start_hour + t_s / 3600.0;
        let daily = p.daily_amplitude_c * (2.0 * std::f64::consts::PI * (hour - p.peak_hour) / 24.0).cos();
        let excursion = |target: ExcursionTarget| -> f64 {
            self.excursions.iter().filter(|e| e.target == target).map(|e| e.offset_at(t_s)).sum()
        };
        self.temp_c = p.mean_temp_c + daily + self.temp_front.at(t_s) + excursion(ExcursionTarget::Temperature);
        self.dew_point_c = p.dew_point_c + self.dew_front.at(t_s) + excursion(ExcursionTarget::DewPoint);
    }

    /// Air temperature, °C.
    pub fn temp_c(&self) -> f64 {
        self.temp_c
    }

    /// Dew point, °C (may exceed the temperature during a spike: the air is then saturated).
    pub fn dew_point_c(&self) -> f64 {
        self.dew_point_c
    }

    /// Relative humidity, % (≤ 100).
    pub fn humidity_pct(&self) -> f64 {
        relative_humidity_pct(self.temp_c, self.dew_point_c)
    }
}

/// An exponentially distributed interval of mean `mean` (never 0).
pub(crate) fn exponential(rng: &mut Rng, mean: f64) -> f64 {
    -mean * (1.0 - rng.uniform()).max(1e-12).ln()
}

#[cfg(test)]
mod tests;
