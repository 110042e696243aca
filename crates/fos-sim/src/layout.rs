//! The plant's address book: the asset hierarchy (site / line / asset), every asset's points
//! (process values and settings), and where each point lives in Modbus and OPC UA.
//!
//! # Modbus TCP map
//!
//! One server for the whole plant; any unit id is answered the same. Asset number `i` (its place in
//! [`PlantLayout::assets`], 0-based: the ambient station first, then motors, mills, welding cells)
//! owns the 100 registers `100·i … 100·i + 99` of **both** tables:
//!
//! - measurements are **input registers** (function 0x04), settings are **holding registers**
//!   (0x03 to read, 0x06 / 0x10 to write), each table filled from `100·i` in the order of the
//!   point lists below;
//! - `f32` = IEEE 754 single in 2 registers, `u32` = 2 registers, most significant word first
//!   (FOS's default `word_order=high`); `u16` = 1 register; a 0/1 flag is a `u16`.
//! - Registers inside an asset's window that hold no point read 0; an address beyond the last
//!   asset's window is exception 0x02. A write must cover whole writable points (a point's first
//!   register and all its words): anything else is exception 0x02; a value the simulated controller
//!   refuses is exception 0x03.
//!
//! [`PlantLayout::describe`] prints the exact table for a plant, with FOS addresses such as
//! `ir:104:f32`.
//!
//! # OPC UA nodes
//!
//! Namespace `urn:fos:sim` (index 2 on the simulator's server). Folders `Objects/<site>/<line>/<asset>`
//! with node ids `ns=2;s=<site>`, `ns=2;s=<site>/<line>`, `ns=2;s=<asset>`; every point is a
//! variable `ns=2;s=<asset>.<point>` (e.g. `ns=2;s=motor-02.vib.block`): `f32` points are Double,
//! `u32` UInt32, `u16` UInt16, a waveform a one-dimensional Double array. Settings are writable.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::ops::Range;

/// Registers per asset in each Modbus table.
pub const MODBUS_STRIDE: usize = 100;
/// Most assets a plant can have (the Modbus address space: 655 windows of 100 registers).
pub const MAX_ASSETS: usize = 655;
/// The OPC UA namespace URI of the simulator's nodes.
pub const OPCUA_NAMESPACE: &str = "urn:fos:sim";

/// What kind of machine an asset is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AssetKind {
    /// The hall's climate station.
    Ambient,
    /// A motor with a monitored bearing.
    Motor,
    /// A CNC milling machine.
    Cnc,
    /// A robotic welding cell.
    WeldCell,
}

impl AssetKind {
    /// The name used in documents and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            AssetKind::Ambient => "ambient",
            AssetKind::Motor => "motor",
            AssetKind::Cnc => "cnc",
            AssetKind::WeldCell => "weld_cell",
        }
    }
}

/// How a point's value is typed on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PointType {
    /// Modbus `f32` (2 registers), OPC UA Double.
    F32,
    /// Modbus `u32` (2 registers), OPC UA UInt32.
    U32,
    /// Modbus `u16` (1 register), OPC UA UInt16.
    U16,
    /// OPC UA only: the latest vibration block, a Double array.
    Waveform,
}

impl PointType {
    /// Registers taken in a Modbus table (0: not in Modbus).
    pub fn words(self) -> usize {
        match self {
            PointType::F32 | PointType::U32 => 2,
            PointType::U16 => 1,
            PointType::Waveform => 0,
        }
    }

    /// The FOS type name (`f32`, `u32`, `u16`; `f64[]` for a waveform).
    pub fn name(self) -> &'static str {
        match self {
            PointType::F32 => "f32",
            PointType::U32 => "u32",
            PointType::U16 => "u16",
            PointType::Waveform => "f64[]",
        }
    }
}

/// A Modbus table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Table {
    /// Input registers (read-only, function 0x04): measurements.
    Input,
    /// Holding registers (read/write): settings.
    Holding,
}

/// Where a point lives in Modbus.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub struct ModbusRef {
    /// The table.
    pub table: Table,
    /// The 0-based protocol address of its first register.
    pub address: u16,
}

/// A point's static description.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PointSpec {
    /// Name within the asset, e.g. `vib.rms` or `torch2.current_a`.
    pub name: String,
    /// Unit (`""` for counts and flags).
    pub unit: &'static str,
    /// Wire type.
    pub ty: PointType,
    /// A setting a client may write.
    pub writable: bool,
    /// One line for people.
    pub description: String,
}

fn spec(name: impl Into<String>, unit: &'static str, ty: PointType, description: impl Into<String>) -> PointSpec {
    PointSpec { name: name.into(), unit, ty, writable: false, description: description.into() }
}

fn setting(name: impl Into<String>, unit: &'static str, ty: PointType, description: impl Into<String>) -> PointSpec {
    PointSpec { writable: true, ..spec(name, unit, ty, description) }
}

/// The ambient station's points, in register order.
pub fn ambient_points() -> Vec<PointSpec> {
    use PointType::*;
    vec![
        spec("temp_c", "°C", F32, "air temperature"),
        spec("humidity_pct", "%", F32, "relative humidity"),
        spec("dew_point_c", "°C", F32, "dew point"),
        spec("sim_time_s", "s", U32, "simulated time since the plant started (whole seconds)"),
    ]
}

/// A motor's points, in register order.
pub fn motor_points() -> Vec<PointSpec> {
    use PointType::*;
    vec![
        spec("speed_rpm", "rpm", F32, "shaft speed (the drive's estimate)"),
        spec("torque_pct", "%", F32, "torque, % of rated (load + bearing friction)"),
        spec("current_a", "A", F32, "motor current"),
        spec("bearing_temp_c", "°C", F32, "bearing housing temperature"),
        spec("vib.rms", "m/s²", F32, "overall vibration acceleration RMS"),
        spec("vib.seq", "", U32, "sequence number of the latest vibration block (0: none yet)"),
        spec("vib.rate_hz", "Hz", F32, "sample rate of the vibration blocks"),
        spec("vib.block", "m/s²", Waveform, "latest vibration block (OPC UA only)"),
        setting(
            "speed_setpoint_rpm",
            "rpm",
            F32,
            "drive set-point, synchronous rpm (30–120 % of rated; a write holds it)",
        ),
    ]
}

/// A mill's points, in register order.
pub fn cnc_points() -> Vec<PointSpec> {
    use PointType::*;
    vec![
        spec("spindle_rpm", "rpm", F32, "spindle speed"),
        spec("spindle_load_pct", "%", F32, "spindle load"),
        spec("spindle_temp_c", "°C", F32, "spindle temperature"),
        spec("vib.rms", "m/s²", F32, "spindle vibration RMS"),
        spec("cutting", "", U16, "1 while cutting, 0 during load/unload"),
        spec("parts", "", U32, "parts made"),
        spec("part_error_mm", "mm", F32, "probed face error of the last part (+ = too high)"),
        spec("tool_cut_time_s", "s", F32, "cutting time of the tool in the spindle"),
        spec("tool_changes", "", U32, "tool changes"),
        setting("tool_offset_mm", "mm", F32, "length-wear offset of the active tool (Fanuc G10 L11; |value| <= 1 mm)"),
    ]
}

/// A welding cell's points, in register order.
pub fn weld_points(torches: usize, welds: usize) -> Vec<PointSpec> {
    use PointType::*;
    let mut v =
        vec![spec("cycles", "", U32, "cycles finished"), spec("cycle_time_s", "s", F32, "duration of the last cycle")];
    for t in 1..=torches {
        v.extend([
            spec(format!("torch{t}.arc_on"), "", U16, format!("1 while torch {t}'s arc burns")),
            spec(format!("torch{t}.weld"), "", U16, format!("weld number torch {t} is on (0: none)")),
            spec(format!("torch{t}.current_a"), "A", F32, format!("torch {t} welding current")),
            spec(format!("torch{t}.voltage_v"), "V", F32, format!("torch {t} arc voltage")),
            spec(format!("torch{t}.current_ripple_pct"), "%", F32, format!("torch {t} current ripple")),
            spec(format!("torch{t}.voltage_ripple_pct"), "%", F32, format!("torch {t} voltage ripple")),
            spec(format!("torch{t}.spatter_index"), "", F32, format!("torch {t} spatter index of its last weld (0–1)")),
            spec(format!("torch{t}.welds"), "", U32, format!("welds torch {t} finished")),
        ]);
    }
    for w in 1..=welds {
        v.push(setting(
            format!("weld{w}.torch"),
            "",
            U16,
            format!("torch that does weld {w} (1–{torches}; from the next cycle)"),
        ));
    }
    v
}

/// One asset.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AssetInfo {
    /// Unique id, e.g. `motor-02`.
    pub id: String,
    /// Kind.
    pub kind: AssetKind,
    /// The line (area) it belongs to.
    pub line: String,
    /// What it is, for people.
    pub description: String,
    /// First register of its Modbus window (both tables).
    pub modbus_base: u16,
    /// Its points: indices into [`PlantLayout::points`].
    pub points: Range<usize>,
}

/// One point of one asset.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PointInfo {
    /// Index of its asset in [`PlantLayout::assets`].
    pub asset: usize,
    /// The static description.
    #[serde(flatten)]
    pub spec: PointSpec,
    /// Where it is in Modbus (None for waveforms).
    pub modbus: Option<ModbusRef>,
}

/// The whole plant's address book.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PlantLayout {
    /// The site's name.
    pub site: String,
    /// Assets in plant order.
    pub assets: Vec<AssetInfo>,
    /// Points of all assets, asset by asset.
    pub points: Vec<PointInfo>,
    #[serde(skip)]
    index: HashMap<String, usize>,
    #[serde(skip)]
    asset_index: HashMap<String, usize>,
}

impl PlantLayout {
    /// Builds the layout from `(id, kind, line, description, points)` per asset, allocating Modbus
    /// registers. Fails when an asset's points overflow its window or there are too many assets.
    pub(crate) fn build(
        site: String,
        assets: Vec<(String, AssetKind, String, String, Vec<PointSpec>)>,
    ) -> Result<PlantLayout, String> {
        if assets.len() > MAX_ASSETS {
            return Err(format!("{} assets exceed the Modbus address space ({MAX_ASSETS} at most)", assets.len()));
        }
        let mut infos = Vec::with_capacity(assets.len());
        let mut points = Vec::new();
        for (i, (id, kind, line, description, specs)) in assets.into_iter().enumerate() {
            let base = i * MODBUS_STRIDE;
            let (mut ir, mut hr) = (base, base);
            let first = points.len();
            for s in specs {
                let modbus = if s.ty.words() == 0 {
                    None
                } else {
                    let (table, next) = if s.writable { (Table::Holding, &mut hr) } else { (Table::Input, &mut ir) };
                    let address = *next as u16;
                    *next += s.ty.words();
                    if *next > base + MODBUS_STRIDE {
                        return Err(format!("asset {id}: its points need more than {MODBUS_STRIDE} registers"));
                    }
                    Some(ModbusRef { table, address })
                };
                points.push(PointInfo { asset: i, spec: s, modbus });
            }
            infos.push(AssetInfo {
                id,
                kind,
                line,
                description,
                modbus_base: base as u16,
                points: first..points.len(),
            });
        }
        let mut index = HashMap::with_capacity(points.len());
        for (k, p) in points.iter().enumerate() {
            index.insert(format!("{}.{}", infos[p.asset].id, p.spec.name), k);
        }
        let asset_index = infos.iter().enumerate().map(|(i, a)| (a.id.clone(), i)).collect();
        Ok(PlantLayout { site, assets: infos, points, index, asset_index })
    }

    /// The asset of that id.
    pub fn asset(&self, id: &str) -> Option<&AssetInfo> {
        self.asset_index.get(id).map(|&i| &self.assets[i])
    }

    /// Index of the asset of that id.
    pub fn asset_index(&self, id: &str) -> Option<usize> {
        self.asset_index.get(id).copied()
    }

    /// Index of point `name` of asset `asset`.
    pub fn point(&self, asset: &str, name: &str) -> Option<usize> {
        self.index.get(&format!("{asset}.{name}")).copied()
    }

    /// The OPC UA string identifier of a point: `<asset>.<name>`.
    pub fn node_name(&self, point: usize) -> String {
        let p = &self.points[point];
        format!("{}.{}", self.assets[p.asset].id, p.spec.name)
    }

    /// The FOS Modbus address of a point, e.g. `ir:104:f32` (None for a waveform).
    pub fn modbus_address(&self, point: usize) -> Option<String> {
        let p = &self.points[point];
        p.modbus.map(|m| {
            let t = match m.table {
                Table::Input => "ir",
                Table::Holding => "hr",
            };
            format!("{t}:{}:{}", m.address, p.spec.ty.name())
        })
    }

    /// The lines of the site, in plant order, each with its assets' indices.
    pub fn lines(&self) -> Vec<(String, Vec<usize>)> {
        let mut out: Vec<(String, Vec<usize>)> = Vec::new();
        for (i, a) in self.assets.iter().enumerate() {
            match out.iter_mut().find(|(l, _)| *l == a.line) {
                Some((_, v)) => v.push(i),
                None => out.push((a.line.clone(), vec![i])),
            }
        }
        out
    }

    /// A Markdown table of every point: asset, point, unit, type, access, Modbus (FOS address) and
    /// OPC UA node id.
    pub fn describe(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "| asset | line | point | unit | type | access | Modbus | OPC UA node | meaning |");
        let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|");
        for (k, p) in self.points.iter().enumerate() {
            let a = &self.assets[p.asset];
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} | `ns=2;s={}` | {} |",
                a.id,
                a.line,
                p.spec.name,
                p.spec.unit,
                p.spec.ty.name(),
                if p.spec.writable { "rw" } else { "r" },
                self.modbus_address(k).map_or("—".to_string(), |m| format!("`{m}`")),
                self.node_name(k),
                p.spec.description
            );
        }
        s
    }
}
