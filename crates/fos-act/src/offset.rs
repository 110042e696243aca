//! CNC offset corrections, always written as absolute values.
//!
//! A wear estimate says "tool 5 is 0.03 mm short"; the controller holds an offset table. An incremental
//! write (`G91 G10 L11 P5 R-0.03`, or an "add" in the operator panel) is what an operator would do once — but
//! a correction that is retried, replayed from a log or issued again by a loop adds again and the offset
//! creeps every cycle. FOS therefore always writes the *new absolute value*, `current + delta`, under an
//! explicit `G90`: executing the block once or ten times leaves the same table ([`OffsetTable`] models the
//! controller to show it, and the tests prove it for random corrections).
//!
//! The absolute write is only right while `current_mm` is what the controller holds: the driver that executes
//! the block should read the offset again just before and refuse when it changed (compare-and-set).
//!
//! Emitted text (Fanuc Memory C, as on 0i/30i and the controllers that copy their G10 syntax):
//!
//! ```text
//! G21
//! G90 G10 L11 P5 R-0.0300        (tool offset: L10 length geometry, L11 length wear,
//!                                 L12 radius geometry, L13 radius wear; P offset number; R value)
//! G21
//! G90 G10 L2 P1 X-120.0100 Z-30.5000   (work offset G54..G59 = P1..P6; only the axes that change)
//! ```
//!
//! `G21` comes first in its own block because a G10 value is read in the current units: on a controller left
//! in G20 the same digits would be inches. Values are written with 4 decimals (0.0001 mm).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::gcode::{format_fixed, parse, Distance, Letter, ModalState, ParseError, Program, Units, WorkOffset};

/// Largest absolute offset value (mm) accepted, far beyond any real tool or fixture.
const MAX_OFFSET_MM: f64 = 10_000.0;
/// The written increment (mm).
const STEP_MM: f64 = 1e-4;

/// Which entry of the tool offset table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ToolOffsetKind {
    /// Length wear (H code), `G10 L11`.
    LengthWear,
    /// Radius wear (D code), `G10 L13`.
    RadiusWear,
    /// Length geometry (H code), `G10 L10`.
    LengthGeometry,
    /// Radius geometry (D code), `G10 L12`.
    RadiusGeometry,
}

impl ToolOffsetKind {
    /// The `L` of `G10` that writes it.
    pub fn l_code(self) -> u32 {
        match self {
            ToolOffsetKind::LengthGeometry => 10,
            ToolOffsetKind::LengthWear => 11,
            ToolOffsetKind::RadiusGeometry => 12,
            ToolOffsetKind::RadiusWear => 13,
        }
    }

    /// The kind `G10 L<l>` writes.
    pub fn from_l_code(l: u32) -> Option<ToolOffsetKind> {
        [
            ToolOffsetKind::LengthGeometry,
            ToolOffsetKind::LengthWear,
            ToolOffsetKind::RadiusGeometry,
            ToolOffsetKind::RadiusWear,
        ]
        .into_iter()
        .find(|k| k.l_code() == l)
    }

    /// True for the radius (D) entries.
    pub fn is_radius(self) -> bool {
        matches!(self, ToolOffsetKind::RadiusWear | ToolOffsetKind::RadiusGeometry)
    }

    /// A short English name ("length wear").
    pub fn name(self) -> &'static str {
        match self {
            ToolOffsetKind::LengthWear => "length wear",
            ToolOffsetKind::RadiusWear => "radius wear",
            ToolOffsetKind::LengthGeometry => "length geometry",
            ToolOffsetKind::RadiusGeometry => "radius geometry",
        }
    }
}

/// Bounds a correction must stay within (the gate's policy may be stricter).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OffsetLimits {
    /// Largest accepted |delta| of one correction, mm (for a work offset: of the X/Y/Z delta vector).
    pub max_abs_delta_mm: f64,
    /// Largest offset number (P) the controller has.
    pub max_offset_number: u32,
}

impl Default for OffsetLimits {
    /// 0.5 mm — a wear or thermal correction, not a setup change — and 400 offsets (a Fanuc 0i-MF option).
    fn default() -> Self {
        OffsetLimits { max_abs_delta_mm: 0.5, max_offset_number: 400 }
    }
}

/// Why a correction is refused or its emitted block does not verify.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum OffsetError {
    /// A value is NaN or infinite.
    #[error("{field} = {value} is not a finite number")]
    NonFinite {
        /// The field.
        field: &'static str,
        /// Its value.
        value: f64,
    },
    /// A value is beyond any plausible offset.
    #[error("{field} = {value} mm is beyond ±{MAX_OFFSET_MM} mm")]
    OutOfRange {
        /// The field.
        field: &'static str,
        /// Its value.
        value: f64,
    },
    /// The delta is larger than the limit allows.
    #[error("{field}: |delta| = {delta_mm} mm exceeds the limit of {max_abs_delta_mm} mm")]
    DeltaTooLarge {
        /// The field.
        field: &'static str,
        /// The |delta|.
        delta_mm: f64,
        /// The limit.
        max_abs_delta_mm: f64,
    },
    /// The limits themselves are not usable.
    #[error("max_abs_delta_mm = {0} must be a finite number ≥ 0")]
    InvalidLimits(f64),
    /// The offset number is 0 or beyond the table.
    #[error("tool_offset_number = {number}: offset numbers run from 1 to {max}")]
    OffsetNumber {
        /// The number.
        number: u32,
        /// The largest allowed.
        max: u32,
    },
    /// A negative radius geometry would swap the side of cutter compensation.
    #[error("radius geometry would become {value_mm} mm: a negative radius swaps the side of G41/G42")]
    NegativeRadius {
        /// The new value.
        value_mm: f64,
    },
    /// Every delta is zero.
    #[error("every delta is zero: nothing to write")]
    NoChange,
    /// The block does not parse.
    #[error("emitted block does not parse: {0}")]
    Parse(#[from] ParseError),
    /// The controller model refuses a line.
    #[error("line {line}: {reason}")]
    Execute {
        /// Line number, 1-based.
        line: usize,
        /// Why.
        reason: String,
    },
    /// The emitted block does not set what the correction intends.
    #[error("emitted block does not verify: {0}")]
    Emitted(String),
}

fn finite(field: &'static str, value: f64) -> Result<(), OffsetError> {
    if !value.is_finite() {
        return Err(OffsetError::NonFinite { field, value });
    }
    if value.abs() > MAX_OFFSET_MM {
        return Err(OffsetError::OutOfRange { field, value });
    }
    Ok(())
}

fn check_limits(limits: &OffsetLimits) -> Result<(), OffsetError> {
    if !limits.max_abs_delta_mm.is_finite() || limits.max_abs_delta_mm < 0.0 {
        return Err(OffsetError::InvalidLimits(limits.max_abs_delta_mm));
    }
    Ok(())
}

/// Round to the written 0.0001 mm.
fn round_step(v: f64) -> f64 {
    (v / STEP_MM).round() * STEP_MM
}

/// A correction of one tool offset entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolOffsetCorrection {
    /// The machine (controller) it is for.
    pub machine: String,
    /// The offset number, `P` (the H or D number).
    pub tool_offset_number: u32,
    /// Which entry. Serialised as `offset_kind`, because a proposal's JSON uses `kind` for the action's tag.
    #[serde(rename = "offset_kind")]
    pub kind: ToolOffsetKind,
    /// The value the controller holds now, mm.
    pub current_mm: f64,
    /// The correction, mm.
    pub delta_mm: f64,
    /// Where the controller exposes this entry as a tag: the executor reads it back (it must still hold
    /// `current_mm`) and writes the new absolute value there through a gate permit. Absent from the JSON
    /// (and so from the payload hash) when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_tag: Option<DeviceTag>,
}

/// A tag on a device: an endpoint URL (`modbus://host:port?unit=1`) and an address in its protocol's
/// syntax (`hr:40:f32`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceTag {
    /// The device URL.
    pub device: String,
    /// The address.
    pub address: String,
}

impl ToolOffsetCorrection {
    /// `current + delta`, unrounded.
    pub fn new_value_mm(&self) -> f64 {
        self.current_mm + self.delta_mm
    }

    /// The value the block writes: `current + delta` rounded to 0.0001 mm.
    pub fn written_value_mm(&self) -> f64 {
        round_step(self.new_value_mm())
    }

    fn check_self(&self) -> Result<(), OffsetError> {
        finite("current_mm", self.current_mm)?;
        finite("delta_mm", self.delta_mm)?;
        finite("new value", self.new_value_mm())?;
        if self.tool_offset_number == 0 {
            return Err(OffsetError::OffsetNumber { number: 0, max: u32::MAX });
        }
        if self.kind == ToolOffsetKind::RadiusGeometry && self.written_value_mm() < 0.0 {
            return Err(OffsetError::NegativeRadius { value_mm: self.written_value_mm() });
        }
        if self.delta_mm == 0.0 {
            return Err(OffsetError::NoChange);
        }
        Ok(())
    }

    /// Everything [`ToolOffsetCorrection::gcode`] checks, and the limits.
    pub fn check(&self, limits: &OffsetLimits) -> Result<(), OffsetError> {
        check_limits(limits)?;
        self.check_self()?;
        if self.tool_offset_number > limits.max_offset_number {
            return Err(OffsetError::OffsetNumber {
                number: self.tool_offset_number,
                max: limits.max_offset_number,
            });
        }
        if self.delta_mm.abs() > limits.max_abs_delta_mm {
            return Err(OffsetError::DeltaTooLarge {
                field: "delta_mm",
                delta_mm: self.delta_mm.abs(),
                max_abs_delta_mm: limits.max_abs_delta_mm,
            });
        }
        Ok(())
    }

    /// The G-code (see the module documentation). Refuses non-finite or absurd values, offset number 0, a
    /// negative radius geometry and a zero delta; does not apply [`OffsetLimits`] (see [`Self::emit`]).
    pub fn gcode(&self) -> Result<String, OffsetError> {
        self.check_self()?;
        Ok(format!(
            "G21\nG90 G10 L{} P{} R{}\n",
            self.kind.l_code(),
            self.tool_offset_number,
            format_fixed(self.written_value_mm(), 4)
        ))
    }

    /// Check the limits, write the G-code and verify it ([`Self::verify_emitted`]): the text a proposal carries.
    pub fn emit(&self, limits: &OffsetLimits) -> Result<String, OffsetError> {
        self.check(limits)?;
        let text = self.gcode()?;
        self.verify_emitted(&text)?;
        Ok(text)
    }

    /// Check that `text` sets exactly this entry to the intended absolute value: it is parsed and run, twice,
    /// on a model controller that holds `current_mm` and starts in the least favourable modes (G91, G20); the
    /// entry must hold the written value (within the 0.00005 mm rounding of the intended `current + delta`)
    /// after the first run and be unchanged by the second, and no other entry may appear.
    pub fn verify_emitted(&self, text: &str) -> Result<(), OffsetError> {
        let program = parse(text)?;
        let mut table = OffsetTable::new(Some(Distance::Incremental), Some(Units::Inch));
        let key = (self.kind, self.tool_offset_number);
        table.tool.insert(key, self.current_mm);
        table.execute(&program)?;
        let once = table.clone();
        table.execute(&program)?;
        if table.tool != once.tool || table.work != once.work {
            return Err(OffsetError::Emitted("running the block twice changes the table: it is not absolute".into()));
        }
        if table.tool.len() != 1 || !table.work.is_empty() {
            return Err(OffsetError::Emitted(format!("the block writes other entries: {:?} {:?}", table.tool, table.work)));
        }
        let got = table.tool.get(&key).copied().unwrap_or(f64::NAN);
        if (got - self.new_value_mm()).abs() > STEP_MM / 2.0 + 1e-9 {
            return Err(OffsetError::Emitted(format!(
                "{} {} holds {got} mm, intended {} mm",
                self.kind.name(),
                self.tool_offset_number,
                self.new_value_mm()
            )));
        }
        Ok(())
    }
}

/// A correction of one work offset (G54–G59).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkOffsetCorrection {
    /// The machine (controller) it is for.
    pub machine: String,
    /// Which work offset.
    pub work_offset: WorkOffset,
    /// The X, Y, Z values the controller holds now, mm.
    pub current_mm: [f64; 3],
    /// The correction per axis, mm; an axis with delta 0 is not written.
    pub delta_mm: [f64; 3],
}

impl WorkOffsetCorrection {
    /// `current + delta` per axis, unrounded.
    pub fn new_values_mm(&self) -> [f64; 3] {
        [0, 1, 2].map(|a| self.current_mm[a] + self.delta_mm[a])
    }

    /// The Euclidean norm of the delta, mm.
    pub fn delta_norm_mm(&self) -> f64 {
        self.delta_mm.iter().map(|d| d * d).sum::<f64>().sqrt()
    }

    fn check_self(&self) -> Result<(), OffsetError> {
        const CUR: [&str; 3] = ["current_mm.x", "current_mm.y", "current_mm.z"];
        const DEL: [&str; 3] = ["delta_mm.x", "delta_mm.y", "delta_mm.z"];
        for a in 0..3 {
            finite(CUR[a], self.current_mm[a])?;
            finite(DEL[a], self.delta_mm[a])?;
            finite("new value", self.new_values_mm()[a])?;
        }
        if self.delta_mm.iter().all(|&d| d == 0.0) {
            return Err(OffsetError::NoChange);
        }
        Ok(())
    }

    /// Everything [`WorkOffsetCorrection::gcode`] checks, and the limit on the delta's norm.
    pub fn check(&self, limits: &OffsetLimits) -> Result<(), OffsetError> {
        check_limits(limits)?;
        self.check_self()?;
        let n = self.delta_norm_mm();
        if n > limits.max_abs_delta_mm {
            return Err(OffsetError::DeltaTooLarge {
                field: "delta_mm",
                delta_mm: n,
                max_abs_delta_mm: limits.max_abs_delta_mm,
            });
        }
        Ok(())
    }

    /// The G-code (see the module documentation); does not apply [`OffsetLimits`] (see [`Self::emit`]).
    pub fn gcode(&self) -> Result<String, OffsetError> {
        self.check_self()?;
        let mut block = format!("G21\nG90 G10 L2 P{}", self.work_offset.p_number());
        let new = self.new_values_mm();
        for a in 0..3 {
            if self.delta_mm[a] != 0.0 {
                block.push_str(&format!(" {}{}", ['X', 'Y', 'Z'][a], format_fixed(round_step(new[a]), 4)));
            }
        }
        block.push('\n');
        Ok(block)
    }

    /// Check the limits, write the G-code and verify it: the text a proposal carries.
    pub fn emit(&self, limits: &OffsetLimits) -> Result<String, OffsetError> {
        self.check(limits)?;
        let text = self.gcode()?;
        self.verify_emitted(&text)?;
        Ok(text)
    }

    /// As [`ToolOffsetCorrection::verify_emitted`]: the axes with a delta hold the intended values, the others
    /// keep `current_mm`, and a second run changes nothing.
    pub fn verify_emitted(&self, text: &str) -> Result<(), OffsetError> {
        let program = parse(text)?;
        let mut table = OffsetTable::new(Some(Distance::Incremental), Some(Units::Inch));
        let p = self.work_offset.p_number();
        for a in 0..3 {
            table.work.insert((p, a), self.current_mm[a]);
        }
        table.execute(&program)?;
        let once = table.clone();
        table.execute(&program)?;
        if table.tool != once.tool || table.work != once.work {
            return Err(OffsetError::Emitted("running the block twice changes the table: it is not absolute".into()));
        }
        if table.work.len() != 3 || !table.tool.is_empty() {
            return Err(OffsetError::Emitted(format!("the block writes other entries: {:?} {:?}", table.tool, table.work)));
        }
        let new = self.new_values_mm();
        for a in 0..3 {
            let got = table.work.get(&(p, a)).copied().unwrap_or(f64::NAN);
            let want = if self.delta_mm[a] != 0.0 { new[a] } else { self.current_mm[a] };
            let tol = if self.delta_mm[a] != 0.0 { STEP_MM / 2.0 + 1e-9 } else { 0.0 };
            if (got - want).abs() > tol || got.is_nan() {
                return Err(OffsetError::Emitted(format!(
                    "{} {} holds {got} mm, intended {want} mm",
                    self.work_offset.g_code(),
                    ['X', 'Y', 'Z'][a]
                )));
            }
        }
        Ok(())
    }
}

/// A model of a controller's offset tables that executes `G10` blocks, to check emitted corrections.
///
/// It runs `G20`/`G21`, `G90`/`G91`, `G10 L2 P0..6 X Y Z` (work offsets; P0 is the external offset) and
/// `G10 L10..13 P R` (tool offsets), with `N` numbers and comments; anything else is refused. In G90 a G10
/// sets the value, in G91 it adds to it (as on Fanuc); values are read in the current units and held in mm.
/// An entry never written reads as 0.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OffsetTable {
    /// Tool offsets by (kind, offset number), mm.
    pub tool: BTreeMap<(ToolOffsetKind, u32), f64>,
    /// Work offsets by (P number, axis index X 0 / Y 1 / Z 2), mm.
    pub work: BTreeMap<(u32, usize), f64>,
    /// The modes the next block is read in (`None`: unknown, and a G10 that depends on it is refused).
    pub modal: ModalState,
}

impl OffsetTable {
    /// An empty table in the given modes.
    pub fn new(distance: Option<Distance>, units: Option<Units>) -> OffsetTable {
        OffsetTable { modal: ModalState { distance, units, ..ModalState::default() }, ..OffsetTable::default() }
    }

    /// Execute a program, line by line (see the type's documentation).
    pub fn execute(&mut self, program: &Program) -> Result<(), OffsetError> {
        for (i, line) in program.lines.iter().enumerate() {
            let err = |reason: String| OffsetError::Execute { line: i + 1, reason };
            if line.has_macro() {
                return Err(err("macro text is not executed by the offset model".into()));
            }
            for w in line.words() {
                let ok = match w.letter {
                    Letter::G => [10, 20, 21, 90, 91].iter().any(|&c| w.is(Letter::G, c)),
                    Letter::N | Letter::L | Letter::P | Letter::R | Letter::X | Letter::Y | Letter::Z => true,
                    _ => false,
                };
                if !ok {
                    return Err(err(format!("{}{} is not executed by the offset model", w.letter, w.value)));
                }
            }
            self.modal.apply(line);
            if !line.has(Letter::G, 10) {
                if line.words().any(|w| matches!(w.letter, Letter::L | Letter::P | Letter::R | Letter::X | Letter::Y | Letter::Z)) {
                    return Err(err("axis or offset words without G10".into()));
                }
                continue;
            }
            let distance = self.modal.distance.ok_or_else(|| err("G10 before G90 or G91".into()))?;
            let units = self.modal.units.ok_or_else(|| err("G10 before G20 or G21".into()))?;
            let get_u32 = |l: Letter| line.words().filter(|w| w.letter == l).last().and_then(|w| w.as_u32());
            let l = get_u32(Letter::L).ok_or_else(|| err("G10 without a whole L".into()))?;
            let p = get_u32(Letter::P).ok_or_else(|| err("G10 without a whole P".into()))?;
            let set = |slot: &mut f64, v: f64| match distance {
                Distance::Absolute => *slot = v * units.mm(),
                Distance::Incremental => *slot += v * units.mm(),
            };
            if l == 2 {
                if p > 6 {
                    return Err(err(format!("G10 L2 P{p}: work offsets are P0..P6")));
                }
                for a in 0..3 {
                    let letter = [Letter::X, Letter::Y, Letter::Z][a];
                    if let Some(v) = line.value(letter) {
                        set(self.work.entry((p, a)).or_insert(0.0), v);
                    }
                }
                if line.value(Letter::R).is_some() {
                    return Err(err("G10 L2 with R".into()));
                }
            } else if let Some(kind) = ToolOffsetKind::from_l_code(l) {
                if p == 0 {
                    return Err(err(format!("G10 L{l} P0: tool offsets start at 1")));
                }
                let r = line.value(Letter::R).ok_or_else(|| err(format!("G10 L{l} without R")))?;
                if [Letter::X, Letter::Y, Letter::Z].iter().any(|&a| line.value(a).is_some()) {
                    return Err(err(format!("G10 L{l} with axis words")));
                }
                set(self.tool.entry((kind, p)).or_insert(0.0), r);
            } else {
                return Err(err(format!("G10 L{l} is not modelled")));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
