//! A robotic arc-welding cell: torches whose contact tips wear, a weld sequence, and the
//! cell controller's weld-to-torch assignment registers.
//!
//! # Sequence
//!
//! The cell has `k` torches and `m` welds (nominal arc times U(12, 24) s). Weld `w` is assigned to
//! a torch by the register `weld<w>.torch` (1-based; default: round robin). A cycle: every torch
//! does its welds in increasing weld number, each preceded by a 3 s reposition; the torches work
//! in parallel; when all are done, 10 s of load/unload, then the next cycle. An assignment written
//! during a cycle takes effect at the next cycle's start (a robot cell loads its program at cycle
//! start); the register reads back what was written.
//!
//! # Contact-tip wear and arc stability
//!
//! The wire wears the tip's bore while the arc burns; a worn bore lets the contact point wander, so
//! the electrical stick-out and the arc length fluctuate. Tip wear `w ∈ [0, 1]` grows with arc time
//! at `rate / tip_life` (tip life 8 h of arc; a scenario multiplies the rate for a degrading
//! torch). With the arc on:
//!
//! ```text
//! current      I = I_set·(1 − 0.05·w)          (contact resistance)
//! voltage      U = U_set + 1.5·w
//! ripple       current 3 + 25·w² %,  voltage 2 + 15·w² %   (RMS fluctuation / mean)
//! spatter      0.05 + 0.9·w²   (index 0–1, mean over a weld)
//! health       1 − 0.5·w       (a weld takes nominal / health: slower travel keeps the bead)
//! ```
//!
//! `health` is the figure `fos_act::weld::Torch::health` means. With the arc off, current,
//! voltage and ripples read 0.

use fos_signal::synth::Rng;

/// Fixed properties of a cell. [`WeldParams::sample`] draws the weld times.
#[derive(Debug, Clone, PartialEq)]
pub struct WeldParams {
    /// Number of torches (1–8).
    pub torches: usize,
    /// Nominal arc time of each weld, s.
    pub weld_s: Vec<f64>,
    /// Current set-point, A (220).
    pub current_set_a: f64,
    /// Voltage set-point, V (24).
    pub voltage_set_v: f64,
    /// Tip life, s of arc time (28 800).
    pub tip_life_s: f64,
    /// Reposition before each weld, s (3).
    pub reposition_s: f64,
    /// Load/unload between cycles, s (10).
    pub load_unload_s: f64,
}

impl WeldParams {
    /// `torches` torches with `welds_per_torch` welds each, arc times U(12, 24) s from `rng`.
    pub fn sample(torches: usize, welds_per_torch: usize, rng: &mut Rng) -> WeldParams {
        WeldParams {
            torches,
            weld_s: (0..torches * welds_per_torch).map(|_| 12.0 + 12.0 * rng.uniform()).collect(),
            current_set_a: 220.0,
            voltage_set_v: 24.0,
            tip_life_s: 8.0 * 3600.0,
            reposition_s: 3.0,
            load_unload_s: 10.0,
        }
    }
}

/// One torch's state.
#[derive(Debug, Clone, PartialEq)]
pub struct Torch {
    /// Tip wear, 0–1 (ground truth).
    pub wear: f64,
    /// Wear-rate multiplier (1 = normal).
    pub wear_rate: f64,
    /// Arc burning now.
    pub arc_on: bool,
    /// Current, A.
    pub current_a: f64,
    /// Voltage, V.
    pub voltage_v: f64,
    /// Current ripple, %.
    pub current_ripple_pct: f64,
    /// Voltage ripple, %.
    pub voltage_ripple_pct: f64,
    /// Mean spatter index of the last finished weld.
    pub spatter_index: f64,
    /// Welds finished.
    pub welds: u64,
    spatter_sum: f64,
    spatter_n: u64,
}

impl Torch {
    /// Health as `fos_act::weld` means it.
    pub fn health(&self) -> f64 {
        1.0 - 0.5 * self.wear
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    Reposition { until: f64 },
    Weld { until: f64 },
    Done,
}

#[derive(Debug, Clone, PartialEq)]
struct Run {
    welds: Vec<usize>,
    pos: usize,
    phase: Phase,
}

/// The cell's state.
#[derive(Debug, Clone)]
pub struct WeldCell {
    params: WeldParams,
    rng: Rng,
    torches: Vec<Torch>,
    assignment: Vec<usize>,
    programmed: Vec<usize>,
    runs: Vec<Run>,
    cycle_start_s: f64,
    unload_until: Option<f64>,
    cycles: u64,
    last_cycle_s: f64,
    last_finish_s: f64,
}

impl WeldCell {
    /// A cell with new tips and the round-robin assignment; the first cycle starts at t = 0.
    pub fn new(params: WeldParams, seed: u64) -> WeldCell {
        let assignment: Vec<usize> = (0..params.weld_s.len()).map(|w| w % params.torches).collect();
        let torches = (0..params.torches)
            .map(|_| Torch {
                wear: 0.0,
                wear_rate: 1.0,
                arc_on: false,
                current_a: 0.0,
                voltage_v: 0.0,
                current_ripple_pct: 0.0,
                voltage_ripple_pct: 0.0,
                spatter_index: 0.0,
                welds: 0,
                spatter_sum: 0.0,
                spatter_n: 0,
            })
            .collect();
        let mut c = WeldCell {
            rng: Rng::new(seed),
            torches,
            programmed: assignment.clone(),
            assignment,
            runs: Vec::new(),
            cycle_start_s: 0.0,
            unload_until: None,
            cycles: 0,
            last_cycle_s: 0.0,
            last_finish_s: 0.0,
            params,
        };
        c.start_cycle(0.0);
        c
    }

    /// The fixed properties.
    pub fn params(&self) -> &WeldParams {
        &self.params
    }

    /// The torches.
    pub fn torches(&self) -> &[Torch] {
        &self.torches
    }

    /// Sets torch `i`'s (0-based) wear-rate multiplier.
    pub fn set_wear_rate(&mut self, i: usize, factor: f64) {
        if let Some(t) = self.torches.get_mut(i) {
            t.wear_rate = factor;
        }
    }

    /// Programs weld `w` (0-based) onto torch `t` (0-based), from the next cycle on. The caller
    /// validates both indices.
    pub fn program(&mut self, w: usize, t: usize) {
        if let Some(slot) = self.programmed.get_mut(w) {
            *slot = t;
        }
    }

    /// The programmed assignment (0-based torch per weld), as the registers read.
    pub fn programmed(&self) -> &[usize] {
        &self.programmed
    }

    /// The assignment the running cycle uses.
    pub fn active_assignment(&self) -> &[usize] {
        &self.assignment
    }

    /// Cycles finished.
    pub fn cycles(&self) -> u64 {
        self.cycles
    }

    /// Duration of the last finished cycle (load/unload included), s; 0 before the first.
    pub fn last_cycle_s(&self) -> f64 {
        self.last_cycle_s
    }

    /// Number of the weld (1-based) a torch is on now, or 0.
    pub fn current_weld(&self, torch: usize) -> usize {
        self.runs.get(torch).map_or(0, |r| match r.phase {
            Phase::Weld { .. } => r.welds.get(r.pos).map_or(0, |w| w + 1),
            _ => 0,
        })
    }

    fn start_cycle(&mut self, t: f64) {
        self.assignment = self.programmed.clone();
        self.cycle_start_s = t;
        self.unload_until = None;
        self.runs = (0..self.params.torches)
            .map(|k| {
                let welds: Vec<usize> = (0..self.assignment.len()).filter(|&w| self.assignment[w] == k).collect();
                let phase = if welds.is_empty() {
                    Phase::Done
                } else {
                    Phase::Reposition { until: t + self.params.reposition_s }
                };
                Run { welds, pos: 0, phase }
            })
            .collect();
    }

    /// Advances one tick of `dt_s` ending at `t_s`.
    pub fn step(&mut self, t_s: f64, dt_s: f64) {
        let t0 = t_s - dt_s;
        for k in 0..self.torches.len() {
            let mut t = t0;
            let mut arc_s = 0.0;
            loop {
                let run = &mut self.runs[k];
                match run.phase {
                    Phase::Done => break,
                    Phase::Reposition { until } => {
                        if until > t_s {
                            break;
                        }
                        t = t.max(until);
                        let w = run.welds[run.pos];
                        let dur = self.params.weld_s[w] / self.torches[k].health();
                        run.phase = Phase::Weld { until: until + dur };
                    }
                    Phase::Weld { until } => {
                        let end = until.min(t_s);
                        arc_s += (end - t).max(0.0);
                        t = end;
                        if until > t_s {
                            break;
                        }
                        self.finish_weld(k);
                        self.last_finish_s = self.last_finish_s.max(until);
                        let run = &mut self.runs[k];
                        run.pos += 1;
                        run.phase = if run.pos < run.welds.len() {
                            Phase::Reposition { until: until + self.params.reposition_s }
                        } else {
                            Phase::Done
                        };
                    }
                }
            }
            let torch = &mut self.torches[k];
            torch.wear = (torch.wear + torch.wear_rate * arc_s / self.params.tip_life_s).min(1.0);
            let arc_on = matches!(self.runs[k].phase, Phase::Weld { .. });
            self.arc_readings(k, arc_on);
        }
        self.cycle_bookkeeping(t_s);
    }

    fn finish_weld(&mut self, k: usize) {
        let t = &mut self.torches[k];
        t.welds += 1;
        if t.spatter_n > 0 {
            t.spatter_index = t.spatter_sum / t.spatter_n as f64;
        }
        t.spatter_sum = 0.0;
        t.spatter_n = 0;
    }

    fn arc_readings(&mut self, k: usize, arc_on: bool) {
        let (g1, g2, g3, g4) = (self.rng.gaussian(), self.rng.gaussian(), self.rng.gaussian(), self.rng.gaussian());
        let p = &self.params;
        let t = &mut self.torches[k];
        t.arc_on = arc_on;
        if !arc_on {
            t.current_a = 0.0;
            t.voltage_v = 0.0;
            t.current_ripple_pct = 0.0;
            t.voltage_ripple_pct = 0.0;
            return;
        }
        let w = t.wear;
        let cur_ripple = 3.0 + 25.0 * w * w;
        let volt_ripple = 2.0 + 15.0 * w * w;
        // A tick's mean wanders by the ripple over ~20 independent arc periods.
        t.current_a = p.current_set_a * (1.0 - 0.05 * w) * (1.0 + cur_ripple / 100.0 / 20f64.sqrt() * g1);
        t.voltage_v = (p.voltage_set_v + 1.5 * w) * (1.0 + volt_ripple / 100.0 / 20f64.sqrt() * g2);
        t.current_ripple_pct = cur_ripple * (1.0 + 0.05 * g3);
        t.voltage_ripple_pct = volt_ripple * (1.0 + 0.05 * g4);
        t.spatter_sum += (0.05 + 0.9 * w * w).clamp(0.0, 1.0);
        t.spatter_n += 1;
    }

    fn cycle_bookkeeping(&mut self, t_s: f64) {
        if let Some(until) = self.unload_until {
            if t_s >= until {
                self.cycles += 1;
                self.last_cycle_s = until - self.cycle_start_s;
                // The next cycle starts at `until`; its first reposition is checked from the next tick
                // on (a reposition is longer than a tick).
                self.start_cycle(until);
            }
            return;
        }
        if self.runs.iter().all(|r| r.phase == Phase::Done) {
            self.unload_until = Some(self.last_finish_s.max(self.cycle_start_s) + self.params.load_unload_s);
        }
    }
}

#[cfg(test)]
mod tests;
