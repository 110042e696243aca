//! A CNC milling machine: a face-milling cycle whose tool wears, whose spindle grows with its
//! temperature, and whose controller holds the tool's length-wear offset.
//!
//! # Cycle
//!
//! [`CncParams::cut_s`] of cutting (spindle at `n = 1000·V/(π·D)` rpm), then
//! [`CncParams::idle_s`] of load/unload with the spindle stopped. When a cut ends, the in-process
//! probe measures the face just cut: `part_error_mm` = the error below plus N(0, 0.5 µm).
//!
//! # Tool wear (flank wear `VB`)
//!
//! Taylor's tool life `V·T^n = C` gives the cutting time `T` at which `VB` reaches the wear
//! criterion [`CncParams::vb_limit_mm`] (ISO 8688-2 uses 0.3 mm for end mills). Defaults: carbide
//! on steel, `n` = 0.25, `C` = 400 m/min, `V` = 200 m/min → `T` = 16 min of cutting. Wear grows with
//! cutting time `τ` as break-in plus a steady part:
//!
//! ```text
//! VB(τ) = VB_b·(1 − e^{−τ/τ_b}) + (VB_limit − VB_b)·τ/T          VB_b = 0.05 mm, τ_b = 60 s
//! ```
//!
//! (monotone in `τ`). A scenario can multiply the rate. The worn flank shortens the tool by
//! `VB·tan α` (clearance angle α = 7°). When `VB` reaches the limit the tool is changed at the end
//! of the cycle and the new tool's offset is preset so the next part is on size.
//!
//! # Spindle
//!
//! Spindle load `L₀·(1 + k_F·VB)` (cutting force rises with flank wear; 45 %, `k_F` = 2/mm) and
//! vibration RMS `v₀·(1 + k_v·VB)` (2 m/s², 4/mm) while cutting. Spindle temperature: first order
//! (τ = 900 s) towards `T_air + 8 K` while cutting and `T_air` while stopped. Thermal growth of
//! the spindle towards the work: `δ = 1.725 µm/K·(T_spindle − 20 °C)` (steel, 11.5 µm/(m·K), over
//! 150 mm; 20 °C is the ISO 1 reference temperature).
//!
//! # The face's error and the offset register
//!
//! The controller places the spindle nose at `Z_prog + L_ctrl` with `L_ctrl = L_geometry + offset`
//! (Fanuc length wear, `G10 L11`); the real tool tip sits `wear_loss − δ` higher than the model
//! the controller has, so the face is cut at
//!
//! ```text
//! error = wear_loss − δ + offset                                  (mm, + = face too high)
//! ```
//!
//! A worn tool needs a negative offset: writing `offset − error` brings the next part on size.
//! The register accepts |offset| ≤ 1 mm (anything larger is not a wear correction).

use fos_signal::synth::Rng;

/// Fixed properties of the mill and its process. [`Default`] documents the values.
#[derive(Debug, Clone, PartialEq)]
pub struct CncParams {
    /// Cutting speed, m/min (200).
    pub cutting_speed_m_min: f64,
    /// Taylor exponent `n` (0.25).
    pub taylor_n: f64,
    /// Taylor constant `C`, m/min (400).
    pub taylor_c: f64,
    /// Break-in wear, mm (0.05).
    pub vb_breakin_mm: f64,
    /// Break-in time constant, s of cutting (60).
    pub breakin_tau_s: f64,
    /// Wear criterion, mm (0.3).
    pub vb_limit_mm: f64,
    /// Clearance angle, degrees (7).
    pub clearance_deg: f64,
    /// Tool diameter, mm (10).
    pub tool_diameter_mm: f64,
    /// Cutting time per part, s (90).
    pub cut_s: f64,
    /// Load/unload time per part, s (30).
    pub idle_s: f64,
    /// Spindle load of a sharp tool, % (45).
    pub base_load_pct: f64,
    /// Relative load increase per mm of VB (2).
    pub load_per_vb: f64,
    /// Vibration RMS of a sharp tool while cutting, m/s² (2).
    pub base_vib_ms2: f64,
    /// Relative vibration increase per mm of VB (4).
    pub vib_per_vb: f64,
    /// Vibration RMS with the spindle stopped, m/s² (0.2).
    pub idle_vib_ms2: f64,
    /// Spindle temperature rise while cutting, K (8).
    pub spindle_rise_k: f64,
    /// Spindle thermal time constant, s (900).
    pub spindle_tau_s: f64,
    /// Thermal growth, µm per K above 20 °C (1.725).
    pub growth_um_per_k: f64,
    /// Probe repeatability σ, mm (0.0005).
    pub probe_sigma_mm: f64,
}

impl Default for CncParams {
    fn default() -> Self {
        CncParams {
            cutting_speed_m_min: 200.0,
            taylor_n: 0.25,
            taylor_c: 400.0,
            vb_breakin_mm: 0.05,
            breakin_tau_s: 60.0,
            vb_limit_mm: 0.3,
            clearance_deg: 7.0,
            tool_diameter_mm: 10.0,
            cut_s: 90.0,
            idle_s: 30.0,
            base_load_pct: 45.0,
            load_per_vb: 2.0,
            base_vib_ms2: 2.0,
            vib_per_vb: 4.0,
            idle_vib_ms2: 0.2,
            spindle_rise_k: 8.0,
            spindle_tau_s: 900.0,
            growth_um_per_k: 1.725,
            probe_sigma_mm: 0.0005,
        }
    }
}

impl CncParams {
    /// Taylor tool life at the cutting speed, s of cutting.
    pub fn tool_life_s(&self) -> f64 {
        60.0 * (self.taylor_c / self.cutting_speed_m_min).powf(1.0 / self.taylor_n)
    }

    /// Flank wear after `tau_s` seconds of (rate-weighted) cutting, mm.
    pub fn flank_wear_mm(&self, tau_s: f64) -> f64 {
        let breakin = self.vb_breakin_mm * (1.0 - (-tau_s / self.breakin_tau_s).exp());
        breakin + (self.vb_limit_mm - self.vb_breakin_mm) * tau_s / self.tool_life_s()
    }

    /// Spindle speed while cutting, rpm.
    pub fn spindle_rpm(&self) -> f64 {
        1000.0 * self.cutting_speed_m_min / (std::f64::consts::PI * self.tool_diameter_mm)
    }
}

/// Largest |offset| the register accepts, mm.
pub const OFFSET_LIMIT_MM: f64 = 1.0;

/// The mill's state.
#[derive(Debug, Clone)]
pub struct Cnc {
    params: CncParams,
    rng: Rng,
    cutting: bool,
    phase_end_s: f64,
    cut_tau_s: f64,
    tool_cut_s: f64,
    wear_rate: f64,
    vb_mm: f64,
    spindle_temp_c: f64,
    offset_mm: f64,
    parts: u64,
    tool_changes: u64,
    part_error_mm: f64,
    spindle_load_pct: f64,
    vib_rms: f64,
    change_due: bool,
}

impl Cnc {
    /// A warm machine with a new tool whose offset was preset so the first part is on size; the
    /// first cut starts at t = 0.
    pub fn new(params: CncParams, air_c: f64, seed: u64) -> Cnc {
        let duty = params.cut_s / (params.cut_s + params.idle_s);
        let mut c = Cnc {
            spindle_temp_c: air_c + params.spindle_rise_k * duty,
            rng: Rng::new(seed),
            cutting: true,
            phase_end_s: params.cut_s,
            cut_tau_s: 0.0,
            tool_cut_s: 0.0,
            wear_rate: 1.0,
            vb_mm: 0.0,
            offset_mm: 0.0,
            parts: 0,
            tool_changes: 0,
            part_error_mm: 0.0,
            spindle_load_pct: 0.0,
            vib_rms: 0.0,
            change_due: false,
            params,
        };
        c.preset_offset();
        c.update_outputs();
        c
    }

    fn preset_offset(&mut self) {
        // The presetter sets the offset to the 0.1 µm step the controller holds.
        self.offset_mm = (-(self.wear_loss_mm() - self.thermal_growth_mm()) * 1e4).round() / 1e4;
    }

    /// The fixed properties.
    pub fn params(&self) -> &CncParams {
        &self.params
    }

    /// Multiplies the wear rate from now on (a harder batch of material, a wrong coolant mix).
    pub fn set_wear_rate(&mut self, factor: f64) {
        self.wear_rate = factor;
    }

    /// Loads a used tool whose flank wear is `vb_mm` (its offset is not changed).
    pub fn set_flank_wear(&mut self, vb_mm: f64) {
        // Invert VB(τ) by bisection (VB is increasing in τ).
        let (mut lo, mut hi) = (0.0, 4.0 * self.params.tool_life_s());
        for _ in 0..100 {
            let mid = 0.5 * (lo + hi);
            if self.params.flank_wear_mm(mid) < vb_mm {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        self.cut_tau_s = 0.5 * (lo + hi);
        self.vb_mm = self.params.flank_wear_mm(self.cut_tau_s);
        self.update_outputs();
    }

    /// Writes the length-wear offset register, mm. The caller validates |offset| ≤ [`OFFSET_LIMIT_MM`].
    pub fn set_offset_mm(&mut self, offset_mm: f64) {
        self.offset_mm = offset_mm;
    }

    /// Advances one tick of `dt_s` ending at `t_s`.
    pub fn step(&mut self, t_s: f64, dt_s: f64, air_c: f64) {
        let start = t_s - dt_s;
        let mut t = start;
        // Walk through the phase boundaries inside the tick, so wear accrues only while cutting.
        while t < t_s {
            let until = self.phase_end_s.min(t_s);
            let span = (until - t).max(0.0);
            if self.cutting {
                self.cut_tau_s += self.wear_rate * span;
                self.tool_cut_s += span;
            }
            let target = if self.cutting { air_c + self.params.spindle_rise_k } else { air_c };
            self.spindle_temp_c += (target - self.spindle_temp_c) * (1.0 - (-span / self.params.spindle_tau_s).exp());
            self.vb_mm = self.params.flank_wear_mm(self.cut_tau_s);
            t = until;
            if until >= self.phase_end_s {
                self.end_phase();
            }
        }
        self.update_outputs();
    }

    fn end_phase(&mut self) {
        if self.cutting {
            self.parts += 1;
            self.part_error_mm = self.error_now_mm() + self.params.probe_sigma_mm * self.rng.gaussian();
            self.cutting = false;
            self.phase_end_s += self.params.idle_s;
            self.change_due = self.vb_mm >= self.params.vb_limit_mm;
        } else {
            if self.change_due {
                self.cut_tau_s = 0.0;
                self.tool_cut_s = 0.0;
                self.vb_mm = 0.0;
                self.tool_changes += 1;
                self.change_due = false;
                self.preset_offset();
            }
            self.cutting = true;
            self.phase_end_s += self.params.cut_s;
        }
    }

    fn update_outputs(&mut self) {
        let p = &self.params;
        if self.cutting {
            self.spindle_load_pct =
                p.base_load_pct * (1.0 + p.load_per_vb * self.vb_mm) * (1.0 + 0.01 * self.rng.gaussian());
            self.vib_rms = p.base_vib_ms2 * (1.0 + p.vib_per_vb * self.vb_mm) * (1.0 + 0.02 * self.rng.gaussian());
        } else {
            self.spindle_load_pct = 0.0;
            self.vib_rms = p.idle_vib_ms2 * (1.0 + 0.02 * self.rng.gaussian());
        }
    }

    /// True while cutting.
    pub fn cutting(&self) -> bool {
        self.cutting
    }

    /// Spindle speed, rpm (0 while stopped).
    pub fn spindle_rpm(&self) -> f64 {
        if self.cutting {
            self.params.spindle_rpm()
        } else {
            0.0
        }
    }

    /// Spindle load, %.
    pub fn spindle_load_pct(&self) -> f64 {
        self.spindle_load_pct
    }

    /// Spindle temperature, °C.
    pub fn spindle_temp_c(&self) -> f64 {
        self.spindle_temp_c
    }

    /// Vibration RMS at the spindle, m/s².
    pub fn vib_rms(&self) -> f64 {
        self.vib_rms
    }

    /// Flank wear now, mm (ground truth; a controller does not know it).
    pub fn flank_wear_mm(&self) -> f64 {
        self.vb_mm
    }

    /// Tool length lost to wear, mm.
    pub fn wear_loss_mm(&self) -> f64 {
        self.vb_mm * self.params.clearance_deg.to_radians().tan()
    }

    /// Thermal growth of the spindle, mm.
    pub fn thermal_growth_mm(&self) -> f64 {
        self.params.growth_um_per_k * (self.spindle_temp_c - 20.0) / 1000.0
    }

    /// The error of a face cut now, mm (ground truth, without probe noise).
    pub fn error_now_mm(&self) -> f64 {
        self.wear_loss_mm() - self.thermal_growth_mm() + self.offset_mm
    }

    /// The length-wear offset register, mm.
    pub fn offset_mm(&self) -> f64 {
        self.offset_mm
    }

    /// Parts made.
    pub fn parts(&self) -> u64 {
        self.parts
    }

    /// The probed error of the last part, mm (0 before the first).
    pub fn part_error_mm(&self) -> f64 {
        self.part_error_mm
    }

    /// Cutting time of the tool in the spindle, s (the controller's tool-life counter).
    pub fn tool_cut_time_s(&self) -> f64 {
        self.tool_cut_s
    }

    /// Tool changes so far.
    pub fn tool_changes(&self) -> u64 {
        self.tool_changes
    }
}

#[cfg(test)]
mod tests;
