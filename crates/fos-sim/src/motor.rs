//! An induction motor on a variable-frequency drive, with a rolling bearing that can develop a
//! defect, mounted on a grouted baseplate whose stiffness depends on the hall's climate.
//!
//! # Operating point
//!
//! The drive's set-point `f_set` (Hz of synchronous speed) changes now and then (mean interval
//! [`MotorParams::process_change_mean_s`]: 30 % of the changes pick a new set-point among
//! 80/90/100 % of rated, the rest a new load `U(0.4, 0.95)`), unless a client wrote the set-point
//! (the drive then stays on it). The shaft runs at `fr = f_set·(1 − s_rated·τ)`, with `τ` the torque
//! fraction (load + bearing friction) and `s_rated` the rated slip, approached with a 2 s time
//! constant; the load follows its target with 20 s.
//!
//! # Process values
//!
//! - Motor current `I = I_rated·(c₀ + (1 − c₀)·τ)` with `c₀` = 0.35 (magnetising current of an
//!   induction motor; on a drive the current follows torque, not speed), plus 0.3 % noise.
//! - Bearing temperature, first order (time constant [`MotorParams::thermal_tau_s`]) towards
//!   `T_air + ΔT_rated·(fr/fr₀)·(0.6 + 0.4·load) + ΔT_defect·severity`.
//! - Overall vibration RMS (m/s²): the exact expected RMS of the waveform model below (shaft
//!   lines, noise and impacts; isolated knocks excluded), what an RMS transmitter reports.
//!
//! # Vibration waveform (blocks through [`fos_signal::synth::simulate`])
//!
//! - **Bearing defect**: impacts at the family's rate (BPFO, BPFI with shaft-rate load-zone
//!   modulation, 2·BSF with cage modulation, FTF) with 1 % random slip, each ringing the structural
//!   resonance (`resonance_hz`, ζ = 0.05, plus a second mode at 1.6× where below 0.45·fs). Impact
//!   amplitude `A = A₁·severity·(fr/fr₀)·(0.5 + 0.5·load)`: proportional to the rolling speed and
//!   stronger under load. Severity grows as `s₀·2^((t − t₀)/t_double)`, capped (a spall growing).
//! - **Shaft lines** 1× (unbalance) and 2× (misalignment), amplitudes `∝ (fr/fr₀)²` times the
//!   dynamic amplification `H(r) = 1/√((1 − r²)² + (2ζ_m·r)²)` of the machine on its mounts, with
//!   `r = n·fr/f_n` and the mount's rigid-body frequency `f_n = f_n0·√k`, normalised to 1 at the
//!   rated point.
//! - **Climate and the mounts** (the trap for a level-only model): epoxy grout and its bond soften
//!   when warm and when they take up moisture, so the mount stiffness factor
//!   `k = 1 − 0.008·max(0, T − 20 °C) − 0.006·max(0, RH − 50 %)` (clamped to ≥ 0.5) follows the air
//!   with a time constant of 180 s (the surface layer; fast, for a demo). A softer mount lowers
//!   `f_n` towards 2× running speed and raises the shaft lines, so the overall level rises — with no
//!   impacts and no line at any bearing frequency in the envelope spectrum.
//! - **Noise** `σ·(0.8 + 0.4·load)` (flow, electrical, sensor) and **knocks**: isolated impacts
//!   (Poisson, [`MotorParams::knocks_per_hour`], amplitude U(3, 8) m/s²) through the same structure.
//!
//! Within one block the operating point is constant (the value at the block's end); a block covers
//! the `block_s` seconds before it is taken.

use fos_core::BearingGeometry;
use fos_signal::kinematics::{FaultKind, FaultOrders};
use fos_signal::synth::{simulate, BearingSimConfig, Rng};
use fos_signal::SignalError;

use crate::ambient::{exponential, Ambient};

/// How vibration blocks are taken. Defaults: 1 s blocks at 12.8 kHz, one every second.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VibrationConfig {
    /// Sample rate, Hz.
    pub fs_hz: f64,
    /// Length of one block, s.
    pub block_s: f64,
    /// Time between the ends of two blocks, s (≥ the plant's tick).
    pub period_s: f64,
}

impl Default for VibrationConfig {
    fn default() -> Self {
        VibrationConfig { fs_hz: 12_800.0, block_s: 1.0, period_s: 1.0 }
    }
}

impl VibrationConfig {
    /// Samples per block.
    pub fn block_len(&self) -> usize {
        (self.fs_hz * self.block_s).round() as usize
    }
}

/// SKF 6205-2RS JEM, the drive-end bearing of the CWRU rig: 9 balls of 0.3126 in on a 1.537 in
/// pitch circle, 0° contact angle.
pub const SKF_6205: BearingGeometry =
    BearingGeometry { elements: 9, element_d: 0.3126, pitch_d: 1.537, contact_angle_deg: 0.0 };

/// SKF 6203-2RS JEM, the fan-end bearing of the CWRU rig: 8 balls of 0.2656 in on 1.122 in.
pub const SKF_6203: BearingGeometry =
    BearingGeometry { elements: 8, element_d: 0.2656, pitch_d: 1.122, contact_angle_deg: 0.0 };

/// One motor's fixed properties. [`MotorParams::sample`] draws a plausible one.
#[derive(Debug, Clone, PartialEq)]
pub struct MotorParams {
    /// The monitored bearing's designation.
    pub bearing: &'static str,
    /// Its geometry.
    pub geometry: BearingGeometry,
    /// Rated synchronous speed of the drive's set-point, Hz (`fr₀` ≈ this × (1 − slip)).
    pub rated_sync_hz: f64,
    /// Slip at rated torque.
    pub rated_slip: f64,
    /// Rated current, A.
    pub rated_current_a: f64,
    /// First structural resonance excited by impacts, Hz.
    pub resonance_hz: f64,
    /// 1× line at the rated point and nominal mounts, m/s² (peak).
    pub unbalance_ms2: f64,
    /// 2× line at the rated point and nominal mounts, m/s² (peak).
    pub misalignment_ms2: f64,
    /// Broadband noise RMS at 50 % load, m/s².
    pub noise_rms_ms2: f64,
    /// Impact amplitude at severity 1, rated speed and 100 % load, m/s².
    pub impact_ms2: f64,
    /// Rigid-body mount frequency at nominal stiffness / rated shaft frequency.
    pub mount_ratio: f64,
    /// Damping ratio of the mount mode.
    pub mount_damping: f64,
    /// Bearing temperature rise over air at the rated point, K.
    pub temp_rise_k: f64,
    /// Extra rise at severity 1 (friction of a damaged bearing), K.
    pub defect_temp_rise_k: f64,
    /// Bearing thermal time constant, s.
    pub thermal_tau_s: f64,
    /// Mean rate of isolated knocks, per hour.
    pub knocks_per_hour: f64,
    /// Mean time between operating-point changes, s.
    pub process_change_mean_s: f64,
}

impl MotorParams {
    /// A motor drawn from `rng`: a 6205 (70 %) or 6203 bearing; a 4-pole 50 Hz, 4-pole 60 Hz or
    /// 2-pole 50 Hz drive; resonance U(2.5, 4.5) kHz; 11–30 A; the rest at the documented defaults
    /// (1× 0.4 m/s², 2× 0.15 m/s², noise 0.1 m/s², impacts 1.5 m/s², mount ratio 2.6, ζ_m 0.1,
    /// rise 25 K + 15 K for a defect, τ 600 s, 12 knocks/h, changes every 300 s).
    pub fn sample(rng: &mut Rng) -> MotorParams {
        let (bearing, geometry) =
            if rng.uniform() < 0.7 { ("SKF 6205-2RS", SKF_6205) } else { ("SKF 6203-2RS", SKF_6203) };
        let rated_sync_hz = [25.0, 30.0, 50.0][(rng.uniform() * 3.0) as usize % 3];
        MotorParams {
            bearing,
            geometry,
            rated_sync_hz,
            rated_slip: 0.02 + 0.015 * rng.uniform(),
            rated_current_a: 11.0 + 19.0 * rng.uniform(),
            resonance_hz: 2_500.0 + 2_000.0 * rng.uniform(),
            unbalance_ms2: 0.4,
            misalignment_ms2: 0.15,
            noise_rms_ms2: 0.1,
            impact_ms2: 1.5,
            mount_ratio: 2.6,
            mount_damping: 0.1,
            temp_rise_k: 25.0,
            defect_temp_rise_k: 15.0,
            thermal_tau_s: 600.0,
            knocks_per_hour: 12.0,
            process_change_mean_s: 300.0,
        }
    }

    /// Shaft frequency at the rated point (rated set-point, 75 % load), Hz.
    pub fn rated_shaft_hz(&self) -> f64 {
        self.rated_sync_hz * (1.0 - self.rated_slip * 0.75)
    }
}

/// A bearing defect that appears at `onset_s` and grows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Defect {
    /// The family.
    pub kind: FaultKind,
    /// When it appears, s.
    pub onset_s: f64,
    /// Severity at onset (impact amplitude relative to [`MotorParams::impact_ms2`]).
    pub initial: f64,
    /// Time for the severity to double, s.
    pub doubling_s: f64,
    /// Largest severity.
    pub max: f64,
}

impl Defect {
    /// Severity at `t_s` (0 before onset).
    pub fn severity_at(&self, t_s: f64) -> f64 {
        if t_s < self.onset_s {
            return 0.0;
        }
        (self.initial * 2f64.powf((t_s - self.onset_s) / self.doubling_s)).min(self.max)
    }
}

/// Everything needed to render one vibration block, recorded when the block is taken (cheap);
/// the samples are generated on demand by [`BlockSpec::render`], a pure function of this record.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockSpec {
    /// Sequence number, 1 for the first block of the asset.
    pub seq: u64,
    /// Simulated time at the block's end, s.
    pub t_end_s: f64,
    /// Sample rate, Hz.
    pub fs_hz: f64,
    /// Number of samples.
    pub len: usize,
    /// True shaft frequency during the block, Hz.
    pub shaft_hz: f64,
    /// The bearing.
    pub geometry: BearingGeometry,
    /// Defect family and impact amplitude (m/s²), if any.
    pub fault: Option<(FaultKind, f64)>,
    /// First resonance, Hz.
    pub resonance_hz: f64,
    /// Further modes (Hz, relative amplitude).
    pub extra_modes: Vec<(f64, f64)>,
    /// 1× and 2× amplitudes, m/s².
    pub shaft_harmonics: [f64; 2],
    /// Noise RMS, m/s².
    pub noise_rms: f64,
    /// Knocks within the block (s from its start, m/s²).
    pub knocks: Vec<(f64, f64)>,
    /// The block's random seed.
    pub seed: u64,
}

/// Damping ratio of the structural modes.
pub const STRUCTURAL_DAMPING: f64 = 0.05;

impl BlockSpec {
    /// The synthesiser's configuration for this block.
    pub fn sim_config(&self) -> BearingSimConfig {
        let mut c = BearingSimConfig::new(self.fs_hz, self.len as f64 / self.fs_hz, self.shaft_hz, self.geometry);
        c.fault = self.fault;
        c.resonance_hz = self.resonance_hz;
        c.damping_ratio = STRUCTURAL_DAMPING;
        c.extra_modes = self.extra_modes.clone();
        c.noise_rms = self.noise_rms;
        c.shaft_harmonics = self.shaft_harmonics.to_vec();
        c.knocks = self.knocks.clone();
        c.seed = self.seed;
        c
    }

    /// The samples, m/s² (deterministic: the same spec gives the same samples).
    pub fn render(&self) -> Result<Vec<f64>, SignalError> {
        simulate(&self.sim_config())
    }
}

/// Mount stiffness factor for the air: epoxy grout softening with heat and moisture.
pub fn mount_stiffness(temp_c: f64, humidity_pct: f64) -> f64 {
    (1.0 - 0.008 * (temp_c - 20.0).max(0.0) - 0.006 * (humidity_pct - 50.0).max(0.0)).max(0.5)
}

/// Dynamic amplification of a single-degree-of-freedom mode at frequency ratio `r`.
pub fn amplification(r: f64, zeta: f64) -> f64 {
    1.0 / ((1.0 - r * r).powi(2) + (2.0 * zeta * r).powi(2)).sqrt()
}

/// Energy `∫h²` of the unit impulse response of one mode `e^{−σt}·sin(ω_d t)`.
fn mode_energy(f_hz: f64, zeta: f64) -> f64 {
    let wn = 2.0 * std::f64::consts::PI * f_hz;
    let sigma = zeta * wn;
    let wd2 = wn * wn * (1.0 - zeta * zeta);
    wd2 / (4.0 * sigma * wn * wn)
}

/// Mean of the squared amplitude modulation of a family's impacts (1 for a constant amplitude).
fn modulation_power(kind: FaultKind) -> f64 {
    match kind {
        FaultKind::Outer => 1.0,
        FaultKind::Inner | FaultKind::Ball => 3.0 / 8.0,
        FaultKind::Cage => 7.0 / 12.0,
    }
}

/// The motor's state.
#[derive(Debug, Clone)]
pub struct Motor {
    params: MotorParams,
    vib: VibrationConfig,
    orders: FaultOrders,
    extra_modes: Vec<(f64, f64)>,
    rng: Rng,
    seed: u64,
    setpoint_hz: f64,
    setpoint_locked: bool,
    load_target: f64,
    load: f64,
    shaft_hz: f64,
    stiffness: f64,
    bearing_temp_c: f64,
    current_a: f64,
    defect: Option<Defect>,
    severity: f64,
    next_change_s: f64,
    knocks: Vec<(f64, f64)>,
    next_block_s: f64,
    seq: u64,
    block: Option<BlockSpec>,
}

impl Motor {
    /// A motor at time 0 in steady state at its rated set-point and 70 % load.
    pub fn new(params: MotorParams, vib: VibrationConfig, ambient: &Ambient, seed: u64) -> Motor {
        let mut rng = Rng::new(seed);
        let next_change_s = exponential(&mut rng, params.process_change_mean_s);
        let orders = FaultOrders::from_geometry(&params.geometry);
        let second = 1.6 * params.resonance_hz;
        let extra_modes = if second < 0.45 * vib.fs_hz { vec![(second, 0.5)] } else { Vec::new() };
        let load = 0.7;
        let setpoint_hz = params.rated_sync_hz;
        let mut m = Motor {
            shaft_hz: setpoint_hz * (1.0 - params.rated_slip * load),
            stiffness: mount_stiffness(ambient.temp_c(), ambient.humidity_pct()),
            bearing_temp_c: 0.0,
            current_a: 0.0,
            params,
            vib,
            orders,
            extra_modes,
            rng,
            seed,
            setpoint_hz,
            setpoint_locked: false,
            load_target: load,
            load,
            defect: None,
            severity: 0.0,
            next_change_s,
            knocks: Vec::new(),
            next_block_s: vib.block_s,
            seq: 0,
            block: None,
        };
        m.bearing_temp_c = m.bearing_temp_target(ambient.temp_c());
        m.current_a = m.current_clean();
        m
    }

    /// The fixed properties.
    pub fn params(&self) -> &MotorParams {
        &self.params
    }

    /// Fault orders of the bearing.
    pub fn orders(&self) -> &FaultOrders {
        &self.orders
    }

    /// Starts (or replaces) a bearing defect.
    pub fn start_defect(&mut self, d: Defect) {
        self.defect = Some(d);
    }

    /// An isolated knock at `t_s` of amplitude `amp` m/s².
    pub fn knock(&mut self, t_s: f64, amp: f64) {
        self.knocks.push((t_s, amp));
    }

    /// Sets the drive's set-point (Hz of synchronous speed) and keeps it: automatic set-point
    /// changes stop. The caller validates the range ([`Motor::setpoint_range_hz`]).
    pub fn set_setpoint_hz(&mut self, hz: f64) {
        self.setpoint_hz = hz;
        self.setpoint_locked = true;
    }

    /// Set-points the drive accepts: 30–120 % of rated, Hz.
    pub fn setpoint_range_hz(&self) -> (f64, f64) {
        (0.3 * self.params.rated_sync_hz, 1.2 * self.params.rated_sync_hz)
    }

    /// Sets the load target (0–1.2).
    pub fn set_load(&mut self, load: f64) {
        self.load_target = load.clamp(0.0, 1.2);
    }

    fn torque_frac(&self) -> f64 {
        self.load + 0.03 * self.severity
    }

    fn bearing_temp_target(&self, air_c: f64) -> f64 {
        let p = &self.params;
        air_c
            + p.temp_rise_k * (self.shaft_hz / p.rated_shaft_hz()) * (0.6 + 0.4 * self.load)
            + p.defect_temp_rise_k * self.severity
    }

    fn current_clean(&self) -> f64 {
        self.params.rated_current_a * (0.35 + 0.65 * self.torque_frac())
    }

    /// Advances one tick of `dt_s` ending at `t_s`.
    pub fn step(&mut self, t_s: f64, dt_s: f64, ambient: &Ambient) {
        // Operating-point changes.
        while t_s >= self.next_change_s {
            if self.rng.uniform() < 0.3 {
                let f = [0.8, 0.9, 1.0][(self.rng.uniform() * 3.0) as usize % 3];
                if !self.setpoint_locked {
                    self.setpoint_hz = f * self.params.rated_sync_hz;
                }
            } else {
                self.load_target = 0.4 + 0.55 * self.rng.uniform();
            }
            self.next_change_s += exponential(&mut self.rng, self.params.process_change_mean_s);
        }
        let lag = |tau: f64| 1.0 - (-dt_s / tau).exp();
        self.load += (self.load_target - self.load) * lag(20.0);
        self.severity = self.defect.map_or(0.0, |d| d.severity_at(t_s));
        let target_hz = self.setpoint_hz * (1.0 - self.params.rated_slip * self.torque_frac());
        self.shaft_hz += (target_hz - self.shaft_hz) * lag(2.0);
        let k = mount_stiffness(ambient.temp_c(), ambient.humidity_pct());
        self.stiffness += (k - self.stiffness) * lag(180.0);
        let t_target = self.bearing_temp_target(ambient.temp_c());
        self.bearing_temp_c += (t_target - self.bearing_temp_c) * lag(self.params.thermal_tau_s);
        self.current_a = self.current_clean() * (1.0 + 0.003 * self.rng.gaussian());
        // Knocks: Poisson arrivals within the tick.
        if self.rng.uniform() < self.params.knocks_per_hour / 3600.0 * dt_s {
            let at = t_s - dt_s * self.rng.uniform();
            let amp = 3.0 + 5.0 * self.rng.uniform();
            self.knocks.push((at, amp));
        }
        let keep_after = t_s - 2.0 * self.vib.block_s;
        self.knocks.retain(|&(at, _)| at >= keep_after);
        // Vibration blocks.
        if t_s + 1e-9 >= self.next_block_s {
            self.take_block(t_s);
            self.next_block_s += self.vib.period_s;
            if self.next_block_s <= t_s {
                self.next_block_s = t_s + self.vib.period_s;
            }
        }
    }

    fn take_block(&mut self, t_s: f64) {
        self.seq += 1;
        let start = t_s - self.vib.block_s;
        let knocks =
            self.knocks.iter().filter(|&&(at, _)| at >= start && at < t_s).map(|&(at, a)| (at - start, a)).collect();
        self.block = Some(BlockSpec {
            seq: self.seq,
            t_end_s: t_s,
            fs_hz: self.vib.fs_hz,
            len: self.vib.block_len(),
            shaft_hz: self.shaft_hz,
            geometry: self.params.geometry,
            fault: self.defect.filter(|_| self.severity > 0.0).map(|d| (d.kind, self.impact_amplitude())),
            resonance_hz: self.params.resonance_hz,
            extra_modes: self.extra_modes.clone(),
            shaft_harmonics: self.shaft_lines(),
            noise_rms: self.noise_rms(),
            knocks,
            seed: self.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ self.seq,
        });
    }

    fn impact_amplitude(&self) -> f64 {
        let p = &self.params;
        p.impact_ms2 * self.severity * (self.shaft_hz / p.rated_shaft_hz()) * (0.5 + 0.5 * self.load)
    }

    fn noise_rms(&self) -> f64 {
        self.params.noise_rms_ms2 * (0.8 + 0.4 * self.load)
    }

    /// The 1× and 2× amplitudes now, m/s².
    pub fn shaft_lines(&self) -> [f64; 2] {
        let p = &self.params;
        let fr0 = p.rated_shaft_hz();
        let fn0 = p.mount_ratio * fr0;
        let fnow = fn0 * self.stiffness.sqrt();
        let speed2 = (self.shaft_hz / fr0).powi(2);
        let line = |n: f64, a: f64| {
            a * speed2 * amplification(n * self.shaft_hz / fnow, p.mount_damping)
                / amplification(n * fr0 / fn0, p.mount_damping)
        };
        [line(1.0, p.unbalance_ms2), line(2.0, p.misalignment_ms2)]
    }

    /// Expected RMS of the waveform model (knocks excluded), m/s².
    pub fn vib_rms(&self) -> f64 {
        let [a1, a2] = self.shaft_lines();
        let noise = self.noise_rms();
        let mut power = a1 * a1 / 2.0 + a2 * a2 / 2.0 + noise * noise;
        if let (Some(d), true) = (self.defect, self.severity > 0.0) {
            let a = self.impact_amplitude();
            let rate = self.orders.impact_order(d.kind) * self.shaft_hz;
            let energy = mode_energy(self.params.resonance_hz, STRUCTURAL_DAMPING)
                + self.extra_modes.iter().map(|&(f, r)| r * r * mode_energy(f, STRUCTURAL_DAMPING)).sum::<f64>();
            power += rate * a * a * modulation_power(d.kind) * energy;
        }
        power.sqrt()
    }

    /// True shaft frequency, Hz.
    pub fn shaft_hz(&self) -> f64 {
        self.shaft_hz
    }

    /// The drive's set-point, Hz of synchronous speed.
    pub fn setpoint_hz(&self) -> f64 {
        self.setpoint_hz
    }

    /// Load fraction.
    pub fn load(&self) -> f64 {
        self.load
    }

    /// Motor current, A.
    pub fn current_a(&self) -> f64 {
        self.current_a
    }

    /// Bearing temperature, °C.
    pub fn bearing_temp_c(&self) -> f64 {
        self.bearing_temp_c
    }

    /// Mount stiffness factor (1 = nominal).
    pub fn mount_stiffness(&self) -> f64 {
        self.stiffness
    }

    /// The defect, if one was started.
    pub fn defect(&self) -> Option<&Defect> {
        self.defect.as_ref()
    }

    /// Defect severity now (0 = healthy).
    pub fn severity(&self) -> f64 {
        self.severity
    }

    /// The latest vibration block, if one was taken.
    pub fn block(&self) -> Option<&BlockSpec> {
        self.block.as_ref()
    }

    /// The vibration configuration.
    pub fn vibration(&self) -> &VibrationConfig {
        &self.vib
    }
}

#[cfg(test)]
mod tests;
