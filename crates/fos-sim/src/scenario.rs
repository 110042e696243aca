//! Scripted scenarios: what happens to the plant, and when.
//!
//! A scenario is a list of events, each at a simulated time `at_s` (seconds from the start). In
//! TOML (every field shown; those with a default may be left out):
//!
//! ```toml
//! [[event]]
//! kind = "bearing_fault"   # a defect appears on a motor's bearing and grows
//! at_s = 30
//! asset = "motor-02"
//! fault = "outer"          # outer | inner | ball | cage
//! initial = 0.05           # severity at onset (default 0.05; 1 = a large spall)
//! doubling_s = 40          # severity doubles every doubling_s (default 40)
//! max = 1.0                # largest severity (default 1)
//!
//! [[event]]
//! kind = "humidity_spike"  # the dew point rises (wet weather, washdown)
//! at_s = 240
//! dew_point_rise_c = 12
//! ramp_s = 120             # default 120
//! hold_s = 1800            # default 1800
//!
//! [[event]]
//! kind = "temperature_step"  # the air warms (a heat wave, a stopped chiller)
//! at_s = 0
//! rise_c = 6
//! ramp_s = 600             # default 600
//! hold_s = 3600            # default 3600
//!
//! [[event]]
//! kind = "torch_degrade"   # a torch's contact tip starts wearing `rate` times faster
//! at_s = 150
//! asset = "weld-01"
//! torch = 2                # 1-based
//! rate = 120
//!
//! [[event]]
//! kind = "tool_wear"       # a used tool: set flank wear (mm) and/or a wear-rate factor
//! at_s = 0
//! asset = "cnc-01"
//! vb_mm = 0.1              # optional
//! rate = 2.0               # optional
//!
//! [[event]]
//! kind = "knock"           # an isolated impact on a motor (a dropped tool)
//! at_s = 75.5
//! asset = "motor-01"
//! amplitude = 6            # m/s², default 6
//!
//! [[event]]
//! kind = "speed"           # a drive set-point change
//! at_s = 400
//! asset = "motor-03"
//! hz = 22.5
//!
//! [[event]]
//! kind = "load"            # a motor load change (fraction of rated)
//! at_s = 500
//! asset = "motor-03"
//! fraction = 0.9
//! ```
//!
//! [`Scenario::demo`] is the built-in default (see its documentation). Events are checked
//! against the plant when it is built: an unknown asset, an asset of the wrong kind, a torch that
//! does not exist or a value out of range is an error naming the event.

use serde::{Deserialize, Serialize};

use fos_signal::kinematics::FaultKind;

use crate::error::SimError;

/// A bearing defect family, as a scenario names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FaultName {
    /// Outer race (BPFO).
    Outer,
    /// Inner race (BPFI).
    Inner,
    /// Rolling element (2·BSF).
    Ball,
    /// Cage (FTF).
    Cage,
}

impl FaultName {
    /// The synthesiser's family.
    pub fn kind(self) -> FaultKind {
        match self {
            FaultName::Outer => FaultKind::Outer,
            FaultName::Inner => FaultKind::Inner,
            FaultName::Ball => FaultKind::Ball,
            FaultName::Cage => FaultKind::Cage,
        }
    }
}

fn d_initial() -> f64 {
    0.05
}
fn d_doubling() -> f64 {
    40.0
}
fn d_one() -> f64 {
    1.0
}
fn d_ramp_spike() -> f64 {
    120.0
}
fn d_hold_spike() -> f64 {
    1800.0
}
fn d_ramp_step() -> f64 {
    600.0
}
fn d_hold_step() -> f64 {
    3600.0
}
fn d_knock() -> f64 {
    6.0
}

/// One scripted event. See the module documentation for the TOML form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Event {
    /// A bearing defect appears and grows.
    BearingFault {
        /// Time, s.
        at_s: f64,
        /// The motor.
        asset: String,
        /// The family.
        fault: FaultName,
        /// Severity at onset.
        #[serde(default = "d_initial")]
        initial: f64,
        /// Doubling time, s.
        #[serde(default = "d_doubling")]
        doubling_s: f64,
        /// Largest severity.
        #[serde(default = "d_one")]
        max: f64,
    },
    /// The dew point rises by `dew_point_rise_c` (trapezoid).
    HumiditySpike {
        /// Start, s.
        at_s: f64,
        /// Height, °C of dew point.
        dew_point_rise_c: f64,
        /// Ramp up and down, s.
        #[serde(default = "d_ramp_spike")]
        ramp_s: f64,
        /// Hold, s.
        #[serde(default = "d_hold_spike")]
        hold_s: f64,
    },
    /// The air temperature rises by `rise_c` (trapezoid; negative cools).
    TemperatureStep {
        /// Start, s.
        at_s: f64,
        /// Height, °C.
        rise_c: f64,
        /// Ramp up and down, s.
        #[serde(default = "d_ramp_step")]
        ramp_s: f64,
        /// Hold, s.
        #[serde(default = "d_hold_step")]
        hold_s: f64,
    },
    /// A torch's tip wears `rate` times faster from now on.
    TorchDegrade {
        /// Time, s.
        at_s: f64,
        /// The welding cell.
        asset: String,
        /// Torch number, 1-based.
        torch: usize,
        /// Wear-rate multiplier (> 0).
        rate: f64,
    },
    /// A used tool and/or a changed wear rate on a mill.
    ToolWear {
        /// Time, s.
        at_s: f64,
        /// The mill.
        asset: String,
        /// Flank wear of the tool now in the spindle, mm.
        #[serde(default)]
        vb_mm: Option<f64>,
        /// Wear-rate multiplier from now on.
        #[serde(default)]
        rate: Option<f64>,
    },
    /// An isolated knock on a motor.
    Knock {
        /// Time, s.
        at_s: f64,
        /// The motor.
        asset: String,
        /// Amplitude, m/s².
        #[serde(default = "d_knock")]
        amplitude: f64,
    },
    /// A drive set-point change.
    Speed {
        /// Time, s.
        at_s: f64,
        /// The motor.
        asset: String,
        /// New set-point, Hz of synchronous speed.
        hz: f64,
    },
    /// A motor load change.
    Load {
        /// Time, s.
        at_s: f64,
        /// The motor.
        asset: String,
        /// New load, fraction of rated (0–1.2).
        fraction: f64,
    },
}

impl Event {
    /// When the event happens, s.
    pub fn at_s(&self) -> f64 {
        match self {
            Event::BearingFault { at_s, .. }
            | Event::HumiditySpike { at_s, .. }
            | Event::TemperatureStep { at_s, .. }
            | Event::TorchDegrade { at_s, .. }
            | Event::ToolWear { at_s, .. }
            | Event::Knock { at_s, .. }
            | Event::Speed { at_s, .. }
            | Event::Load { at_s, .. } => *at_s,
        }
    }

    /// The asset the event concerns (None for the hall's air).
    pub fn asset(&self) -> Option<&str> {
        match self {
            Event::BearingFault { asset, .. }
            | Event::TorchDegrade { asset, .. }
            | Event::ToolWear { asset, .. }
            | Event::Knock { asset, .. }
            | Event::Speed { asset, .. }
            | Event::Load { asset, .. } => Some(asset),
            Event::HumiditySpike { .. } | Event::TemperatureStep { .. } => None,
        }
    }

    /// The `kind` name.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::BearingFault { .. } => "bearing_fault",
            Event::HumiditySpike { .. } => "humidity_spike",
            Event::TemperatureStep { .. } => "temperature_step",
            Event::TorchDegrade { .. } => "torch_degrade",
            Event::ToolWear { .. } => "tool_wear",
            Event::Knock { .. } => "knock",
            Event::Speed { .. } => "speed",
            Event::Load { .. } => "load",
        }
    }

    /// Checks the numbers that do not depend on the plant.
    fn check_values(&self) -> Result<(), String> {
        let finite_nonneg = |name: &str, v: f64| {
            if v.is_finite() && v >= 0.0 {
                Ok(())
            } else {
                Err(format!("{name} must be finite and >= 0, got {v}"))
            }
        };
        let positive = |name: &str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(format!("{name} must be finite and > 0, got {v}"))
            }
        };
        finite_nonneg("at_s", self.at_s())?;
        match *self {
            Event::BearingFault { initial, doubling_s, max, .. } => {
                positive("initial", initial)?;
                positive("doubling_s", doubling_s)?;
                positive("max", max)?;
                if max > 3.0 || initial > max {
                    return Err(format!("need 0 < initial <= max <= 3, got initial {initial}, max {max}"));
                }
            }
            Event::HumiditySpike { dew_point_rise_c: d, ramp_s, hold_s, .. }
            | Event::TemperatureStep { rise_c: d, ramp_s, hold_s, .. } => {
                if !(d.is_finite() && d.abs() <= 40.0) {
                    return Err(format!("the rise must be within ±40 °C, got {d}"));
                }
                finite_nonneg("ramp_s", ramp_s)?;
                finite_nonneg("hold_s", hold_s)?;
            }
            Event::TorchDegrade { rate, torch, .. } => {
                positive("rate", rate)?;
                if torch == 0 {
                    return Err("torch numbers start at 1".into());
                }
            }
            Event::ToolWear { vb_mm, rate, .. } => {
                if let Some(v) = vb_mm {
                    if !(v.is_finite() && (0.0..=1.0).contains(&v)) {
                        return Err(format!("vb_mm must be in [0, 1] mm, got {v}"));
                    }
                }
                if let Some(r) = rate {
                    positive("rate", r)?;
                }
                if vb_mm.is_none() && rate.is_none() {
                    return Err("give vb_mm, rate or both".into());
                }
            }
            Event::Knock { amplitude, .. } => {
                if !(amplitude.is_finite() && amplitude.abs() <= 1000.0) {
                    return Err(format!("amplitude must be within ±1000 m/s², got {amplitude}"));
                }
            }
            Event::Speed { hz, .. } => positive("hz", hz)?,
            Event::Load { fraction, .. } => {
                if !(fraction.is_finite() && (0.0..=1.2).contains(&fraction)) {
                    return Err(format!("fraction must be in [0, 1.2], got {fraction}"));
                }
            }
        }
        Ok(())
    }
}

/// A list of events.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// The events, in any order (they are applied in time order).
    #[serde(default, rename = "event")]
    pub events: Vec<Event>,
}

/// What a plant offers the built-in scenario: its asset ids by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScenarioTargets {
    /// Motor ids, in plant order.
    pub motors: Vec<String>,
    /// Mill ids.
    pub cnc_mills: Vec<String>,
    /// Welding cell ids.
    pub weld_cells: Vec<String>,
    /// Torches per welding cell.
    pub torches_per_cell: usize,
}

impl Scenario {
    /// No events: a healthy plant with only its ordinary speed, load, weather and knocks.
    pub fn none() -> Scenario {
        Scenario::default()
    }

    /// Parses a scenario from TOML text; `origin` (a file name) is used in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<Scenario, SimError> {
        let s: Scenario = toml::from_str(text).map_err(|e| SimError::scenario(origin, e.to_string()))?;
        for (i, e) in s.events.iter().enumerate() {
            e.check_values().map_err(|r| SimError::scenario(format!("{origin}: event {} ({})", i + 1, e.kind()), r))?;
        }
        Ok(s)
    }

    /// Checks every event's numbers (the plant checks assets when it is built).
    pub fn check(&self) -> Result<(), SimError> {
        for (i, e) in self.events.iter().enumerate() {
            e.check_values().map_err(|r| SimError::scenario(format!("event {} ({})", i + 1, e.kind()), r))?;
        }
        Ok(())
    }

    /// The built-in demo, on the assets that exist (events whose asset kind is absent are left out):
    ///
    /// | at | event |
    /// |---|---|
    /// | 30 s | outer-race defect on the 2nd motor (the 1st if alone): severity 0.05, doubling every 40 s, max 1 — its BPFO lines stand out of the envelope spectrum within about two minutes, long before the overall level moves |
    /// | 150 s | torch 2 of the first welding cell (torch 1 if alone) wears 120× faster: ripple and spatter climb over the next minutes |
    /// | 240 s | humidity spike: dew point +12 °C over 120 s, held 30 min — every motor's overall level rises through its mounts, no bearing lines |
    /// | 600 s | inner-race defect on the 4th motor (if there is one): severity 0.05, doubling every 60 s |
    ///
    /// The mill needs no event: its tool wears from new and its face error grows past a few µm
    /// within the first minutes of cutting.
    pub fn demo(targets: &ScenarioTargets) -> Scenario {
        let mut events = Vec::new();
        if let Some(m) = targets.motors.get(1).or(targets.motors.first()) {
            events.push(Event::BearingFault {
                at_s: 30.0,
                asset: m.clone(),
                fault: FaultName::Outer,
                initial: 0.05,
                doubling_s: 40.0,
                max: 1.0,
            });
        }
        if let Some(w) = targets.weld_cells.first() {
            let torch = targets.torches_per_cell.clamp(1, 2);
            events.push(Event::TorchDegrade { at_s: 150.0, asset: w.clone(), torch, rate: 120.0 });
        }
        events.push(Event::HumiditySpike { at_s: 240.0, dew_point_rise_c: 12.0, ramp_s: 120.0, hold_s: 1800.0 });
        if let Some(m) = targets.motors.get(3) {
            events.push(Event::BearingFault {
                at_s: 600.0,
                asset: m.clone(),
                fault: FaultName::Inner,
                initial: 0.05,
                doubling_s: 60.0,
                max: 1.0,
            });
        }
        Scenario { events }
    }
}

#[cfg(test)]
mod tests;
