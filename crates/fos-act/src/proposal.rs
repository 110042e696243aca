//! The typed payload of a control proposal: what the gate approves or refuses, and the hash the approver's
//! signature binds.
//!
//! An [`Action`] serialises (serde) as a JSON object tagged by `kind`: `tool-offset`, `work-offset`,
//! `toolpath`, `weld-reroute` or `driver-write`.
//!
//! # Canonical encoding and hash
//!
//! [`Action::payload_hash`] is SHA-256 over the bytes of [`Action::canonical_json`], which is the action's serde
//! JSON value written as:
//!
//! - no whitespace; object members sorted by key, comparing the keys' UTF-8 bytes; arrays in order;
//! - strings in double quotes, escaping `"` as `\"`, `\` as `\\`, U+0008/0009/000A/000C/000D as `\b \t \n \f \r`
//!   and the other characters below U+0020 as `\u00xx` (lower-case hex); everything else as UTF-8, unescaped;
//! - integers (the unsigned and signed integer fields) in decimal; floating-point values as Rust's `Display`
//!   writes an `f64` — the shortest decimal that reads back to the same value, never in exponent form — with
//!   `.0` appended when that has no decimal point, so a float never reads as an integer (`5.0`, `0.05`,
//!   `-0.0`);
//! - `true`, `false`, `null`.
//!
//! The keys are sorted by this crate, not by `serde_json`'s map type, so the hash does not depend on whether
//! some crate in the build enables `serde_json/preserve_order`. Two actions that compare equal have the same
//! hash, and a JSON payload read back (from any key order) hashes as the action it came from. Non-finite
//! numbers cannot be hashed faithfully (serde writes them as `null`); [`Action::check`] refuses them.
//!
//! # Deviation and policy
//!
//! [`Action::deviation_mm`] is the geometric deviation an action introduces: |delta| for offsets and the norm
//! of a toolpath shift (every point moves by the same vector), 0 for a weld reroute or a driver write. A zero
//! deviation does not mean "safe": a reroute changes heat input and timing, a driver write can do anything,
//! and the gate's policy may require approval for them regardless.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::gcode::{format_fixed, parse, ParseError};
use crate::offset::{OffsetError, ToolOffsetCorrection, WorkOffsetCorrection};
use crate::toolpath::{correct, Corrected, LineChange, TransformError, TransformReport};
use crate::weld::{Baseline, Plan, PlanMetrics, Replan};

/// How many changed lines a toolpath action carries for display (the corrected text's hash binds all of it).
pub const MAX_SHOWN_CHANGES: usize = 20;

/// One executable action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub enum Action {
    /// Write one tool offset entry (absolute `G10`).
    #[serde(rename = "tool-offset")]
    ToolOffset(ToolOffsetCorrection),
    /// Write one work offset (absolute `G10 L2`).
    #[serde(rename = "work-offset")]
    WorkOffset(WorkOffsetCorrection),
    /// Run a corrected program in place of the original.
    #[serde(rename = "toolpath")]
    ToolpathCorrection {
        /// The machine.
        machine: String,
        /// The program's name (e.g. `O1234` or a file name).
        program_name: String,
        /// The shift, mm (X, Y, Z).
        delta_mm: [f64; 3],
        /// SHA-256 (hex) of the original program text as read.
        program_hash: String,
        /// SHA-256 (hex) of the corrected program text: the text to run.
        corrected_hash: String,
        /// The verification's figures.
        report: TransformReport,
        /// The first changed lines (at most [`MAX_SHOWN_CHANGES`]), for display.
        first_changes: Vec<LineChange>,
    },
    /// Replace a welding cell's sequence.
    #[serde(rename = "weld-reroute")]
    WeldReroute {
        /// The cell.
        cell: String,
        /// The new plan.
        plan: Plan,
        /// What the current plan is worth.
        before: Baseline,
        /// The new plan's metrics.
        after: PlanMetrics,
    },
    /// Write one value to a device address (through `fos_connect` and a gate permit).
    #[serde(rename = "driver-write")]
    DriverWrite {
        /// The device endpoint.
        device: String,
        /// The address on it.
        address: String,
        /// The typed value, as JSON.
        value: serde_json::Value,
    },
}

/// What an action is expected to do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Effect {
    /// One sentence.
    pub summary: String,
    /// Named figures (units in the names).
    pub figures: BTreeMap<String, f64>,
}

/// Why an action cannot be built or is not well-formed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ProposalError {
    /// The original program does not parse.
    #[error("program {program}: {source}")]
    Parse {
        /// The program's name.
        program: String,
        /// The parse error.
        source: ParseError,
    },
    /// The toolpath transform refused or failed.
    #[error("program {program}: {source}")]
    Transform {
        /// The program's name.
        program: String,
        /// The transform's error.
        source: TransformError,
    },
    /// An offset correction is not valid.
    #[error(transparent)]
    Offset(#[from] OffsetError),
    /// A field is not well-formed.
    #[error("{field}: {reason}")]
    Field {
        /// The field.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
}

/// Lower-case hex of SHA-256 over `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn norm(v: &[f64; 3]) -> f64 {
    v.iter().map(|x| x * x).sum::<f64>().sqrt()
}

impl Action {
    /// Correct `original_text` by `delta_mm` ([`crate::toolpath::correct`]) and build the action; the
    /// [`Corrected`] holds the text to run.
    pub fn toolpath(
        machine: impl Into<String>,
        program_name: impl Into<String>,
        original_text: &str,
        delta_mm: [f64; 3],
    ) -> Result<(Action, Corrected), ProposalError> {
        let program_name = program_name.into();
        let program = parse(original_text)
            .map_err(|source| ProposalError::Parse { program: program_name.clone(), source })?;
        let corrected = correct(&program, delta_mm)
            .map_err(|source| ProposalError::Transform { program: program_name.clone(), source })?;
        let action = Action::ToolpathCorrection {
            machine: machine.into(),
            program_name,
            delta_mm,
            program_hash: sha256_hex(original_text.as_bytes()),
            corrected_hash: sha256_hex(corrected.text.as_bytes()),
            report: corrected.report,
            first_changes: corrected.changes.iter().take(MAX_SHOWN_CHANGES).cloned().collect(),
        };
        Ok((action, corrected))
    }

    /// The action for a re-plan of cell `cell`.
    pub fn weld_reroute(cell: impl Into<String>, replan: &Replan) -> Action {
        Action::WeldReroute {
            cell: cell.into(),
            plan: replan.plan.clone(),
            before: replan.before.clone(),
            after: replan.after,
        }
    }

    /// Check that the action is well-formed: offsets pass their own checks (not the limits, which are policy),
    /// every number is finite, hashes are SHA-256 hex.
    pub fn check(&self) -> Result<(), ProposalError> {
        let finite = |field: &'static str, v: f64| {
            if v.is_finite() {
                Ok(())
            } else {
                Err(ProposalError::Field { field, reason: format!("{v} is not finite") })
            }
        };
        match self {
            Action::ToolOffset(c) => c.gcode().map(|_| ())?,
            Action::WorkOffset(c) => c.gcode().map(|_| ())?,
            Action::ToolpathCorrection { delta_mm, program_hash, corrected_hash, report, .. } => {
                for d in delta_mm {
                    finite("delta_mm", *d)?;
                }
                finite("report.max_error_mm", report.max_error_mm)?;
                for (field, h) in [("program_hash", program_hash), ("corrected_hash", corrected_hash)] {
                    if !is_sha256_hex(h) {
                        return Err(ProposalError::Field { field, reason: "not 64 lower-case hex digits".into() });
                    }
                }
            }
            Action::WeldReroute { before, after, .. } => {
                for m in before.metrics().into_iter().chain([after]) {
                    finite("makespan_s", m.makespan_s)?;
                    finite("travel_mm", m.travel_mm)?;
                    finite("distortion_index", m.distortion_index)?;
                }
            }
            Action::DriverWrite { device, address, .. } => {
                if device.is_empty() || address.is_empty() {
                    return Err(ProposalError::Field { field: "device", reason: "device and address are required".into() });
                }
            }
        }
        Ok(())
    }

    /// The machine, cell or device the action is for.
    pub fn machine(&self) -> &str {
        match self {
            Action::ToolOffset(c) => &c.machine,
            Action::WorkOffset(c) => &c.machine,
            Action::ToolpathCorrection { machine, .. } => machine,
            Action::WeldReroute { cell, .. } => cell,
            Action::DriverWrite { device, .. } => device,
        }
    }

    /// The `kind` tag.
    pub fn kind(&self) -> &'static str {
        match self {
            Action::ToolOffset(_) => "tool-offset",
            Action::WorkOffset(_) => "work-offset",
            Action::ToolpathCorrection { .. } => "toolpath",
            Action::WeldReroute { .. } => "weld-reroute",
            Action::DriverWrite { .. } => "driver-write",
        }
    }

    /// The absolute geometric deviation the action introduces, mm (see the module documentation): |delta| of
    /// a tool offset, the norm of a work offset's or a toolpath's delta vector, 0 for a weld reroute or a
    /// driver write.
    pub fn deviation_mm(&self) -> f64 {
        match self {
            Action::ToolOffset(c) => c.delta_mm.abs(),
            Action::WorkOffset(c) => c.delta_norm_mm(),
            Action::ToolpathCorrection { delta_mm, .. } => norm(delta_mm),
            Action::WeldReroute { .. } | Action::DriverWrite { .. } => 0.0,
        }
    }

    /// What the action is expected to do, if the estimate behind it is right.
    pub fn predicted_effect(&self) -> Effect {
        let mut figures = BTreeMap::new();
        let summary = match self {
            Action::ToolOffset(c) => {
                let written = c.written_value_mm();
                let factor = if c.kind.is_radius() { 2.0 } else { 1.0 };
                let dim = if c.kind.is_radius() { "diameter" } else { "depth (Z)" };
                let before = factor * c.delta_mm.abs();
                let after = factor * (written - c.new_value_mm()).abs();
                figures.insert("current_mm".into(), c.current_mm);
                figures.insert("delta_mm".into(), c.delta_mm);
                figures.insert("new_value_mm".into(), written);
                figures.insert("expected_error_before_mm".into(), before);
                figures.insert("expected_error_after_mm".into(), after);
                format!(
                    "{} offset {} of {}: {} → {} mm; if the estimate is right, the {dim} error goes from {} mm to {} mm",
                    c.kind.name(),
                    c.tool_offset_number,
                    c.machine,
                    format_fixed(c.current_mm, 4),
                    format_fixed(written, 4),
                    format_fixed(before, 4),
                    format_fixed(after, 4)
                )
            }
            Action::WorkOffset(c) => {
                let new = c.new_values_mm();
                let residual: f64 = (0..3)
                    .filter(|&a| c.delta_mm[a] != 0.0)
                    .map(|a| ((new[a] / 1e-4).round() * 1e-4 - new[a]).powi(2))
                    .sum::<f64>()
                    .sqrt();
                for (a, name) in ["x", "y", "z"].iter().enumerate() {
                    figures.insert(format!("delta_{name}_mm"), c.delta_mm[a]);
                }
                figures.insert("expected_error_before_mm".into(), c.delta_norm_mm());
                figures.insert("expected_error_after_mm".into(), residual);
                format!(
                    "G{} of {} moves by {} mm; if the estimate is right, the position error goes from {} mm to {} mm",
                    c.work_offset.g_code(),
                    c.machine,
                    format_fixed(c.delta_norm_mm(), 4),
                    format_fixed(c.delta_norm_mm(), 4),
                    format_fixed(residual, 4)
                )
            }
            Action::ToolpathCorrection { machine, program_name, delta_mm, report, .. } => {
                for (a, name) in ["x", "y", "z"].iter().enumerate() {
                    figures.insert(format!("delta_{name}_mm"), delta_mm[a]);
                }
                figures.insert("shift_mm".into(), norm(delta_mm));
                figures.insert("lines_changed".into(), report.lines_changed as f64);
                figures.insert("moves_checked".into(), report.moves_checked as f64);
                figures.insert("max_rounding_error_mm".into(), report.max_error_mm);
                format!(
                    "{program_name} on {machine}: every work position moves by {} mm ({} lines changed, {} points verified)",
                    format_fixed(norm(delta_mm), 4),
                    report.lines_changed,
                    report.moves_checked
                )
            }
            Action::WeldReroute { cell, before, after, .. } => {
                figures.insert("makespan_after_s".into(), after.makespan_s);
                figures.insert("travel_after_mm".into(), after.travel_mm);
                figures.insert("distortion_after".into(), after.distortion_index);
                if let Some(b) = before.metrics() {
                    figures.insert("makespan_before_s".into(), b.makespan_s);
                    figures.insert("travel_before_mm".into(), b.travel_mm);
                    figures.insert("distortion_before".into(), b.distortion_index);
                    figures.insert("gain_s".into(), b.makespan_s - after.makespan_s);
                }
                match before {
                    Baseline::Feasible { metrics } => format!(
                        "cell {cell}: makespan {:.1} s → {:.1} s, distortion index {:.3} → {:.3}",
                        metrics.makespan_s, after.makespan_s, metrics.distortion_index, after.distortion_index
                    ),
                    Baseline::Infeasible { .. } => format!("cell {cell}: {before}; new makespan {:.1} s", after.makespan_s),
                }
            }
            Action::DriverWrite { device, address, value } => {
                format!("writes {} to {address} on {device}; its effect is not modelled", canonical_value(value))
            }
        };
        Effect { summary, figures }
    }

    /// The exact executable text: the G-code block, the corrected program's diff summary, the weld order,
    /// or the write.
    pub fn render(&self) -> String {
        match self {
            Action::ToolOffset(c) => c.gcode().unwrap_or_else(|e| format!("(invalid: {e})\n")),
            Action::WorkOffset(c) => c.gcode().unwrap_or_else(|e| format!("(invalid: {e})\n")),
            Action::ToolpathCorrection {
                machine,
                program_name,
                delta_mm,
                program_hash,
                corrected_hash,
                report,
                first_changes,
            } => {
                let mut out = format!(
                    "program {program_name} on {machine}: shift X{} Y{} Z{} mm\noriginal  sha256 {program_hash}\n\
                     corrected sha256 {corrected_hash}\n{} lines changed, {} points verified, max rounding {} mm\n",
                    format_fixed(delta_mm[0], 4),
                    format_fixed(delta_mm[1], 4),
                    format_fixed(delta_mm[2], 4),
                    report.lines_changed,
                    report.moves_checked,
                    format_fixed(report.max_error_mm, 6)
                );
                for c in first_changes {
                    out.push_str(&format!("- {:>5}: {}\n+ {:>5}: {}\n", c.line, c.before, c.line, c.after));
                }
                if report.lines_changed > first_changes.len() {
                    out.push_str(&format!("… {} more changed lines\n", report.lines_changed - first_changes.len()));
                }
                out
            }
            Action::WeldReroute { cell, plan, before, after } => {
                format!("cell {cell}\n{plan}{before}\nnew plan: makespan {:.1} s, travel {:.0} mm, distortion index {:.3}\n", after.makespan_s, after.travel_mm, after.distortion_index)
            }
            Action::DriverWrite { device, address, value } => format!("{device} {address} := {}\n", canonical_value(value)),
        }
    }

    /// The canonical JSON encoding (see the module documentation).
    pub fn canonical_json(&self) -> String {
        // Serialising these types to a `Value` cannot fail: every map is keyed by strings.
        let value = serde_json::to_value(self).unwrap_or_else(|e| serde_json::Value::String(format!("unserialisable: {e}")));
        canonical_value(&value)
    }

    /// SHA-256 of [`Action::canonical_json`]: what the approver's signature binds.
    pub fn payload_hash(&self) -> [u8; 32] {
        Sha256::digest(self.canonical_json().as_bytes()).into()
    }

    /// [`Action::payload_hash`] as lower-case hex.
    pub fn payload_hash_hex(&self) -> String {
        hex(&self.payload_hash())
    }
}

/// The canonical encoding of any JSON value (see the module documentation).
pub fn canonical_value(value: &serde_json::Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &serde_json::Value, out: &mut String) {
    use serde_json::Value;
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            if let Some(i) = n.as_u64() {
                out.push_str(&i.to_string());
            } else if let Some(i) = n.as_i64() {
                out.push_str(&i.to_string());
            } else {
                let f = n.as_f64().unwrap_or(f64::NAN);
                let s = format!("{f}");
                out.push_str(&s);
                if !s.contains('.') {
                    out.push_str(".0");
                }
            }
        }
        Value::String(s) => write_string(s, out),
        Value::Array(a) => {
            out.push('[');
            for (i, v) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(v, out);
            }
            out.push(']');
        }
        Value::Object(m) => {
            let mut members: Vec<(&String, &Value)> = m.iter().collect();
            members.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push('{');
            for (i, (k, v)) in members.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(k, out);
                out.push(':');
                write_canonical(v, out);
            }
            out.push('}');
        }
    }
}

fn write_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests;
