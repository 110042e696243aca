//! The plant: a site of assets on lines, advanced in fixed ticks of simulated time.
//!
//! [`Plant::new`] builds the assets from a [`PlantConfig`] (every random property and every
//! random event comes from generators seeded by `seed` and the asset's number, so a seed gives
//! one plant and one history) and checks the [`Scenario`] against them. [`Plant::step`] advances to
//! a time: it runs whole ticks of [`PlantConfig::tick_s`] (the state after tick `n` does not depend
//! on how the steps were cut), applying each scenario event at the first tick at or after its time.
//! No clock, no I/O: time is an argument.
//!
//! Hierarchy: site [`PlantConfig::site`]; lines `facilities` (the ambient station `ambient`),
//! `line-1`, `line-2`, … (motors `motor-01`, … in groups of [`PlantConfig::assets_per_line`]),
//! `machining` (mills `cnc-01`, …), `welding` (cells `weld-01`, …).

use fos_signal::synth::Rng;

use crate::ambient::{Ambient, AmbientParams, Excursion, ExcursionTarget};
use crate::cnc::{Cnc, CncParams, OFFSET_LIMIT_MM};
use crate::error::SimError;
use crate::layout::{self, AssetKind, PlantLayout, PointType, MAX_ASSETS};
use crate::motor::{Defect, Motor, MotorParams, VibrationConfig};
use crate::scenario::{Event, Scenario, ScenarioTargets};
use crate::weld::{WeldCell, WeldParams};

/// How the plant is made. Every field has a default (`#[serde(default)]`), listed here.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PlantConfig {
    /// Seed of every random property and event (1).
    pub seed: u64,
    /// Site name ("demo-site").
    pub site: String,
    /// Number of motors (4).
    pub motors: usize,
    /// Number of CNC mills (1).
    pub cnc_mills: usize,
    /// Number of welding cells (1).
    pub weld_cells: usize,
    /// Torches per welding cell, 1–6 (3).
    pub torches_per_cell: usize,
    /// Welds per torch, 1–8 (3).
    pub welds_per_torch: usize,
    /// Motors per line (10).
    pub assets_per_line: usize,
    /// Simulated seconds per tick, 0.001–10 (0.1).
    pub tick_s: f64,
    /// Hour of day at time 0, 0–24 (8).
    pub start_hour: f64,
    /// Vibration blocks (1 s at 12.8 kHz every 1 s).
    pub vibration: VibrationConfig,
}

impl Default for PlantConfig {
    fn default() -> Self {
        PlantConfig {
            seed: 1,
            site: "demo-site".into(),
            motors: 4,
            cnc_mills: 1,
            weld_cells: 1,
            torches_per_cell: 3,
            welds_per_torch: 3,
            assets_per_line: 10,
            tick_s: 0.1,
            start_hour: 8.0,
            vibration: VibrationConfig::default(),
        }
    }
}

impl PlantConfig {
    /// Parses a configuration from TOML (absent fields take their defaults) and checks it;
    /// `origin` (a file name) is used in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<PlantConfig, SimError> {
        let c: PlantConfig = toml::from_str(text).map_err(|e| SimError::config(origin, e.to_string()))?;
        c.validate()?;
        Ok(c)
    }

    /// Checks every field.
    pub fn validate(&self) -> Result<(), SimError> {
        let bad = |f: &str, r: String| Err(SimError::config(f, r));
        let total = 1 + self.motors + self.cnc_mills + self.weld_cells;
        if total > MAX_ASSETS {
            return bad(
                "motors + cnc_mills + weld_cells",
                format!("{} assets (with the ambient station) exceed {MAX_ASSETS}", total),
            );
        }
        let site_ok = !self.site.is_empty()
            && self.site.len() <= 64
            && self.site.chars().all(|c| c.is_ascii_alphanumeric() || "-_".contains(c));
        if !site_ok {
            return bad("site", format!("{:?}: 1–64 characters of letters, digits, '-' and '_'", self.site));
        }
        if !(1..=6).contains(&self.torches_per_cell) {
            return bad("torches_per_cell", format!("must be 1–6, got {}", self.torches_per_cell));
        }
        if !(1..=8).contains(&self.welds_per_torch) {
            return bad("welds_per_torch", format!("must be 1–8, got {}", self.welds_per_torch));
        }
        if self.assets_per_line == 0 {
            return bad("assets_per_line", "must be at least 1".into());
        }
        if !(self.tick_s.is_finite() && (0.001..=10.0).contains(&self.tick_s)) {
            return bad("tick_s", format!("must be in [0.001, 10] s, got {}", self.tick_s));
        }
        if !(self.start_hour.is_finite() && (0.0..=24.0).contains(&self.start_hour)) {
            return bad("start_hour", format!("must be in [0, 24], got {}", self.start_hour));
        }
        let v = &self.vibration;
        if !(v.fs_hz.is_finite() && (1_000.0..=100_000.0).contains(&v.fs_hz)) {
            return bad("vibration.fs_hz", format!("must be in [1000, 100000] Hz, got {}", v.fs_hz));
        }
        if !(v.block_s.is_finite() && v.block_s >= 0.05 && v.block_len() <= 1 << 20) {
            return bad(
                "vibration.block_s",
                format!("must be >= 0.05 s and give at most 2^20 samples, got {} s", v.block_s),
            );
        }
        if !(v.period_s.is_finite() && v.period_s >= self.tick_s && v.period_s <= 86_400.0) {
            return bad(
                "vibration.period_s",
                format!("must be in [tick_s = {}, 86400] s, got {}", self.tick_s, v.period_s),
            );
        }
        Ok(())
    }
}

/// The simulated machines behind one asset.
#[derive(Debug, Clone)]
enum Machine {
    Ambient,
    Motor(Box<Motor>),
    Cnc(Box<Cnc>),
    Weld(Box<WeldCell>),
}

/// The plant. See the module documentation.
#[derive(Debug, Clone)]
pub struct Plant {
    config: PlantConfig,
    layout: PlantLayout,
    ambient: Ambient,
    machines: Vec<Machine>,
    events: Vec<Event>,
    next_event: usize,
    ticks: u64,
}

/// Mixes a seed and a stream number into an independent seed (SplitMix64 finaliser).
fn sub_seed(seed: u64, stream: u64) -> u64 {
    let mut z = seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(0xD1B5_4A32_D192_ED03);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Plant {
    /// The default plant (4 motors, a mill, a 3-torch welding cell) with the built-in demo scenario.
    pub fn demo(seed: u64) -> Result<Plant, SimError> {
        let config = PlantConfig { seed, ..PlantConfig::default() };
        let scenario = Scenario::demo(&Plant::targets(&config));
        Plant::new(config, scenario)
    }

    /// The asset ids a configuration will have, by kind (for [`Scenario::demo`]).
    pub fn targets(config: &PlantConfig) -> ScenarioTargets {
        ScenarioTargets {
            motors: (1..=config.motors).map(|i| format!("motor-{i:02}")).collect(),
            cnc_mills: (1..=config.cnc_mills).map(|i| format!("cnc-{i:02}")).collect(),
            weld_cells: (1..=config.weld_cells).map(|i| format!("weld-{i:02}")).collect(),
            torches_per_cell: config.torches_per_cell,
        }
    }

    /// Builds the plant at time 0 and checks the scenario against it.
    pub fn new(config: PlantConfig, scenario: Scenario) -> Result<Plant, SimError> {
        config.validate()?;
        scenario.check()?;
        let seed = config.seed;
        let ambient = Ambient::new(
            AmbientParams { start_hour: config.start_hour, ..AmbientParams::default() },
            sub_seed(seed, 0),
        );
        let targets = Plant::targets(&config);
        let mut assets = vec![(
            "ambient".to_string(),
            AssetKind::Ambient,
            "facilities".to_string(),
            "hall climate station".to_string(),
            layout::ambient_points(),
        )];
        let mut machines = vec![Machine::Ambient];
        for (i, id) in targets.motors.iter().enumerate() {
            let stream = 1 + i as u64;
            let mut rng = Rng::new(sub_seed(seed, stream << 8));
            let params = MotorParams::sample(&mut rng);
            let description = format!(
                "motor, {:.0} rpm drive, {} bearing, {:.0} A",
                params.rated_sync_hz * 60.0,
                params.bearing,
                params.rated_current_a
            );
            let m = Motor::new(params, config.vibration, &ambient, sub_seed(seed, (stream << 8) | 1));
            assets.push((
                id.clone(),
                AssetKind::Motor,
                format!("line-{}", i / config.assets_per_line + 1),
                description,
                layout::motor_points(),
            ));
            machines.push(Machine::Motor(Box::new(m)));
        }
        for (i, id) in targets.cnc_mills.iter().enumerate() {
            let stream = 1 + (config.motors + i) as u64;
            let c = Cnc::new(CncParams::default(), ambient.temp_c(), sub_seed(seed, stream << 8));
            assets.push((
                id.clone(),
                AssetKind::Cnc,
                "machining".into(),
                "CNC mill, face milling, 10 mm carbide end mill".into(),
                layout::cnc_points(),
            ));
            machines.push(Machine::Cnc(Box::new(c)));
        }
        for (i, id) in targets.weld_cells.iter().enumerate() {
            let stream = 1 + (config.motors + config.cnc_mills + i) as u64;
            let mut rng = Rng::new(sub_seed(seed, stream << 8));
            let params = WeldParams::sample(config.torches_per_cell, config.welds_per_torch, &mut rng);
            let welds = params.weld_s.len();
            let w = WeldCell::new(params, sub_seed(seed, (stream << 8) | 1));
            assets.push((
                id.clone(),
                AssetKind::WeldCell,
                "welding".into(),
                format!("robotic MIG welding cell, {} torches, {welds} welds", config.torches_per_cell),
                layout::weld_points(config.torches_per_cell, welds),
            ));
            machines.push(Machine::Weld(Box::new(w)));
        }
        let layout = PlantLayout::build(config.site.clone(), assets)
            .map_err(|r| SimError::config("motors + cnc_mills + weld_cells", r))?;
        let mut events = scenario.events;
        events.sort_by(|a, b| a.at_s().total_cmp(&b.at_s()));
        let mut plant = Plant { config, layout, ambient, machines, events, next_event: 0, ticks: 0 };
        for (i, e) in plant.events.iter().enumerate() {
            plant
                .check_event(e)
                .map_err(|r| SimError::scenario(format!("event {} ({} at {} s)", i + 1, e.kind(), e.at_s()), r))?;
        }
        // Air excursions are functions of time: register them now.
        for e in &plant.events {
            match *e {
                Event::HumiditySpike { at_s, dew_point_rise_c, ramp_s, hold_s } => {
                    plant.ambient.add_excursion(Excursion {
                        target: ExcursionTarget::DewPoint,
                        start_s: at_s,
                        ramp_s,
                        hold_s,
                        delta_c: dew_point_rise_c,
                    })
                }
                Event::TemperatureStep { at_s, rise_c, ramp_s, hold_s } => plant.ambient.add_excursion(Excursion {
                    target: ExcursionTarget::Temperature,
                    start_s: at_s,
                    ramp_s,
                    hold_s,
                    delta_c: rise_c,
                }),
                _ => {}
            }
        }
        Ok(plant)
    }

    fn check_event(&self, e: &Event) -> Result<(), String> {
        let Some(id) = e.asset() else { return Ok(()) };
        let Some(i) = self.layout.asset_index(id) else {
            let known: Vec<&str> = self.layout.assets.iter().map(|a| a.id.as_str()).collect();
            return Err(format!("no asset {id:?} (assets: {})", known.join(", ")));
        };
        let want = match e {
            Event::BearingFault { .. } | Event::Knock { .. } | Event::Speed { .. } | Event::Load { .. } => {
                AssetKind::Motor
            }
            Event::ToolWear { .. } => AssetKind::Cnc,
            Event::TorchDegrade { .. } => AssetKind::WeldCell,
            Event::HumiditySpike { .. } | Event::TemperatureStep { .. } => return Ok(()),
        };
        let kind = self.layout.assets[i].kind;
        if kind != want {
            return Err(format!("{id} is a {}, the event needs a {}", kind.as_str(), want.as_str()));
        }
        match (e, &self.machines[i]) {
            (Event::TorchDegrade { torch, .. }, Machine::Weld(w)) if *torch > w.torches().len() => {
                Err(format!("{id} has torches 1–{}, not {torch}", w.torches().len()))
            }
            (Event::Speed { hz, .. }, Machine::Motor(m)) => {
                let (lo, hi) = m.setpoint_range_hz();
                if (lo..=hi).contains(hz) {
                    Ok(())
                } else {
                    Err(format!("{id}'s drive accepts {lo:.1}–{hi:.1} Hz, not {hz}"))
                }
            }
            _ => Ok(()),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &PlantConfig {
        &self.config
    }

    /// The asset hierarchy and every point's address.
    pub fn layout(&self) -> &PlantLayout {
        &self.layout
    }

    /// The scenario's events, in time order.
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// Simulated time, s (a whole number of ticks).
    pub fn time_s(&self) -> f64 {
        self.ticks as f64 * self.config.tick_s
    }

    /// Ticks run.
    pub fn ticks(&self) -> u64 {
        self.ticks
    }

    /// Advances to the last tick at or before `t_s` (a little tolerance for rounding) and returns
    /// the number of ticks run. Going back in time is an error.
    pub fn step(&mut self, t_s: f64) -> Result<u64, SimError> {
        let now = self.time_s();
        if !t_s.is_finite() || t_s < now - 1e-9 {
            return Err(SimError::TimeBackwards { now_s: now, to_s: t_s });
        }
        let target = ((t_s / self.config.tick_s) + 1e-6).floor() as u64;
        let n = target.saturating_sub(self.ticks);
        for _ in 0..n {
            self.tick();
        }
        Ok(n)
    }

    fn tick(&mut self) {
        self.ticks += 1;
        let dt = self.config.tick_s;
        let t = self.time_s();
        self.ambient.step(t);
        while let Some(e) = self.events.get(self.next_event) {
            if e.at_s() > t + 1e-9 {
                break;
            }
            let e = e.clone();
            self.next_event += 1;
            self.apply(&e);
        }
        let air = self.ambient.temp_c();
        for m in &mut self.machines {
            match m {
                Machine::Ambient => {}
                Machine::Motor(m) => m.step(t, dt, &self.ambient),
                Machine::Cnc(c) => c.step(t, dt, air),
                Machine::Weld(w) => w.step(t, dt),
            }
        }
    }

    fn apply(&mut self, e: &Event) {
        let Some(i) = e.asset().and_then(|id| self.layout.asset_index(id)) else {
            return;
        };
        match (e, &mut self.machines[i]) {
            (&Event::BearingFault { at_s, fault, initial, doubling_s, max, .. }, Machine::Motor(m)) => {
                m.start_defect(Defect { kind: fault.kind(), onset_s: at_s, initial, doubling_s, max })
            }
            (&Event::Knock { at_s, amplitude, .. }, Machine::Motor(m)) => m.knock(at_s, amplitude),
            (&Event::Speed { hz, .. }, Machine::Motor(m)) => m.set_setpoint_hz(hz),
            (&Event::Load { fraction, .. }, Machine::Motor(m)) => m.set_load(fraction),
            (&Event::ToolWear { vb_mm, rate, .. }, Machine::Cnc(c)) => {
                if let Some(v) = vb_mm {
                    c.set_flank_wear(v);
                }
                if let Some(r) = rate {
                    c.set_wear_rate(r);
                }
            }
            (&Event::TorchDegrade { torch, rate, .. }, Machine::Weld(w)) => w.set_wear_rate(torch - 1, rate),
            _ => {}
        }
    }

    /// The current value of every point, in [`PlantLayout::points`] order (a waveform point holds
    /// its block's sequence number).
    pub fn values(&self) -> Vec<f64> {
        let mut out = Vec::with_capacity(self.layout.points.len());
        self.values_into(&mut out);
        out
    }

    /// Like [`Plant::values`], into a reused vector (cleared first).
    pub fn values_into(&self, out: &mut Vec<f64>) {
        out.clear();
        for m in &self.machines {
            match m {
                Machine::Ambient => out.extend([
                    self.ambient.temp_c(),
                    self.ambient.humidity_pct(),
                    self.ambient.dew_point_c(),
                    self.time_s().floor(),
                ]),
                Machine::Motor(m) => {
                    let seq = m.block().map_or(0, |b| b.seq) as f64;
                    out.extend([
                        m.shaft_hz() * 60.0,
                        100.0 * (m.load() + 0.03 * m.severity()),
                        m.current_a(),
                        m.bearing_temp_c(),
                        m.vib_rms(),
                        seq,
                        m.vibration().fs_hz,
                        seq,
                        m.setpoint_hz() * 60.0,
                    ])
                }
                Machine::Cnc(c) => out.extend([
                    c.spindle_rpm(),
                    c.spindle_load_pct(),
                    c.spindle_temp_c(),
                    c.vib_rms(),
                    f64::from(u8::from(c.cutting())),
                    c.parts() as f64,
                    c.part_error_mm(),
                    c.tool_cut_time_s(),
                    c.tool_changes() as f64,
                    c.offset_mm(),
                ]),
                Machine::Weld(w) => {
                    out.extend([w.cycles() as f64, w.last_cycle_s()]);
                    for (k, t) in w.torches().iter().enumerate() {
                        out.extend([
                            f64::from(u8::from(t.arc_on)),
                            w.current_weld(k) as f64,
                            t.current_a,
                            t.voltage_v,
                            t.current_ripple_pct,
                            t.voltage_ripple_pct,
                            t.spatter_index,
                            t.welds as f64,
                        ]);
                    }
                    out.extend(w.programmed().iter().map(|&t| (t + 1) as f64));
                }
            }
        }
    }

    /// The current value of one point by name.
    pub fn value(&self, asset: &str, point: &str) -> Result<f64, SimError> {
        let k = self.point_index(asset, point)?;
        Ok(self.values()[k])
    }

    fn point_index(&self, asset: &str, point: &str) -> Result<usize, SimError> {
        if self.layout.asset_index(asset).is_none() {
            return Err(SimError::UnknownAsset { asset: asset.into() });
        }
        self.layout
            .point(asset, point)
            .ok_or_else(|| SimError::UnknownPoint { asset: asset.into(), point: point.into() })
    }

    /// Writes a setting by name (what a protocol write does). Read-only points and values the
    /// simulated controller refuses are errors.
    pub fn write(&mut self, asset: &str, point: &str, value: f64) -> Result<(), SimError> {
        let k = self.point_index(asset, point)?;
        self.write_point(k, value)
    }

    /// Writes a setting by point index (see [`Plant::write`]).
    pub fn write_point(&mut self, point: usize, value: f64) -> Result<(), SimError> {
        let Some(p) = self.layout.points.get(point) else {
            return Err(SimError::UnknownPoint { asset: "?".into(), point: format!("#{point}") });
        };
        let asset = &self.layout.assets[p.asset];
        let name = p.spec.name.as_str();
        if !p.spec.writable {
            let writable: Vec<&str> = self.layout.points[asset.points.clone()]
                .iter()
                .filter(|q| q.spec.writable)
                .map(|q| q.spec.name.as_str())
                .collect();
            return Err(SimError::ReadOnly {
                asset: asset.id.clone(),
                point: name.into(),
                writable: if writable.is_empty() { "none".into() } else { writable.join(", ") },
            });
        }
        let refuse = |reason: String| SimError::BadValue { asset: asset.id.clone(), point: name.into(), value, reason };
        if !value.is_finite() {
            return Err(refuse("not a finite number".into()));
        }
        if p.spec.ty == PointType::U16 && value.fract() != 0.0 {
            return Err(refuse("must be a whole number".into()));
        }
        match &mut self.machines[p.asset] {
            Machine::Motor(m) if name == "speed_setpoint_rpm" => {
                let (lo, hi) = m.setpoint_range_hz();
                let hz = value / 60.0;
                if !(lo..=hi).contains(&hz) {
                    return Err(refuse(format!("the drive accepts {:.0}–{:.0} rpm", lo * 60.0, hi * 60.0)));
                }
                m.set_setpoint_hz(hz);
            }
            Machine::Cnc(c) if name == "tool_offset_mm" => {
                if value.abs() > OFFSET_LIMIT_MM {
                    return Err(refuse(format!("a wear offset must be within ±{OFFSET_LIMIT_MM} mm")));
                }
                c.set_offset_mm(value);
            }
            Machine::Weld(w) => {
                let weld = name
                    .strip_prefix("weld")
                    .and_then(|r| r.strip_suffix(".torch"))
                    .and_then(|n| n.parse::<usize>().ok())
                    .ok_or_else(|| refuse("not a weld assignment".into()))?;
                let torches = w.torches().len();
                if !(1.0..=torches as f64).contains(&value) {
                    return Err(refuse(format!("torches are numbered 1–{torches}")));
                }
                w.program(weld - 1, value as usize - 1);
            }
            _ => return Err(refuse("no such setting on this asset".into())),
        }
        Ok(())
    }

    /// The hall's climate.
    pub fn ambient(&self) -> &Ambient {
        &self.ambient
    }

    /// A motor by id.
    pub fn motor(&self, id: &str) -> Option<&Motor> {
        match self.machines.get(self.layout.asset_index(id)?)? {
            Machine::Motor(m) => Some(m),
            _ => None,
        }
    }

    /// A mill by id.
    pub fn cnc(&self, id: &str) -> Option<&Cnc> {
        match self.machines.get(self.layout.asset_index(id)?)? {
            Machine::Cnc(c) => Some(c),
            _ => None,
        }
    }

    /// A welding cell by id.
    pub fn weld_cell(&self, id: &str) -> Option<&WeldCell> {
        match self.machines.get(self.layout.asset_index(id)?)? {
            Machine::Weld(w) => Some(w),
            _ => None,
        }
    }

    /// The latest vibration block of asset number `asset` (motors only).
    pub fn block(&self, asset: usize) -> Option<&crate::motor::BlockSpec> {
        match self.machines.get(asset)? {
            Machine::Motor(m) => m.block(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests;
