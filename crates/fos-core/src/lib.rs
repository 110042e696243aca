//! The shared vocabulary of FOS: health labels, bearing geometry and manifest roles.
//!
//! Architecture invariant: this crate does no I/O and depends on nothing but `serde`.
//!
//! ```
//! use fos_core::{BearingGeometry, Label};
//! let g = BearingGeometry { elements: 9, element_d: 0.3126, pitch_d: 1.537, contact_angle_deg: 0.0 };
//! assert!(g.validate().is_ok());
//! assert_eq!("inner".parse::<Label>().unwrap(), Label::Inner);
//! ```

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The health label of a recording, as a manifest states it or as a model predicts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Label {
    /// No bearing fault.
    Normal,
    /// Inner-race defect (BPFI family).
    Inner,
    /// Outer-race defect (BPFO family).
    Outer,
    /// Rolling-element defect (BSF family).
    Ball,
    /// Cage defect (FTF family).
    Cage,
    /// Not known; such rows are never scored.
    Unknown,
}

impl Label {
    /// The four fault families, in a fixed order used throughout FOS.
    pub const FAULTS: [Label; 4] = [Label::Outer, Label::Inner, Label::Ball, Label::Cage];

    /// The lowercase name used in manifests and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Label::Normal => "normal",
            Label::Inner => "inner",
            Label::Outer => "outer",
            Label::Ball => "ball",
            Label::Cage => "cage",
            Label::Unknown => "unknown",
        }
    }

    /// True for the four fault labels.
    pub fn is_fault(self) -> bool {
        matches!(self, Label::Inner | Label::Outer | Label::Ball | Label::Cage)
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of parsing a [`Label`] or a [`Role`] from text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseNameError {
    /// What was being parsed (`label`, `role`).
    pub what: &'static str,
    /// The text that did not parse.
    pub got: String,
    /// The accepted names.
    pub expected: &'static str,
}

impl fmt::Display for ParseNameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown {} {:?}: expected one of {}", self.what, self.got, self.expected)
    }
}

impl std::error::Error for ParseNameError {}

impl FromStr for Label {
    type Err = ParseNameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "normal" => Label::Normal,
            "inner" => Label::Inner,
            "outer" => Label::Outer,
            "ball" => Label::Ball,
            "cage" => Label::Cage,
            "unknown" => Label::Unknown,
            _ => {
                return Err(ParseNameError {
                    what: "label",
                    got: s.to_string(),
                    expected: "normal, inner, outer, ball, cage, unknown",
                })
            }
        })
    }
}

/// What an evaluation may do with a manifest row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Healthy commissioning data a detector may calibrate on.
    Baseline,
    /// Labelled data a model may learn from.
    Train,
    /// Data to evaluate on, never learned from.
    Test,
}

impl Role {
    /// The lowercase name used in manifests.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Baseline => "baseline",
            Role::Train => "train",
            Role::Test => "test",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = ParseNameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "baseline" => Role::Baseline,
            "train" => Role::Train,
            "test" => Role::Test,
            _ => {
                return Err(ParseNameError {
                    what: "role",
                    got: s.to_string(),
                    expected: "baseline, train, test",
                })
            }
        })
    }
}

/// Rolling-element bearing geometry. Lengths share one unit; only their ratio matters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BearingGeometry {
    /// Number of rolling elements.
    pub elements: u32,
    /// Rolling-element diameter.
    pub element_d: f64,
    /// Pitch diameter.
    pub pitch_d: f64,
    /// Contact angle in degrees.
    pub contact_angle_deg: f64,
}

impl BearingGeometry {
    /// Checks that the geometry describes a bearing that can exist.
    pub fn validate(&self) -> Result<(), String> {
        if self.elements < 3 {
            return Err(format!("elements must be at least 3, got {}", self.elements));
        }
        if !(self.element_d.is_finite() && self.element_d > 0.0) {
            return Err(format!("element diameter must be positive, got {}", self.element_d));
        }
        if !(self.pitch_d.is_finite() && self.pitch_d > self.element_d) {
            return Err(format!(
                "pitch diameter must exceed the element diameter ({}), got {}",
                self.element_d, self.pitch_d
            ));
        }
        if !(self.contact_angle_deg.is_finite() && (0.0..90.0).contains(&self.contact_angle_deg)) {
            return Err(format!("contact angle must be in [0, 90) degrees, got {}", self.contact_angle_deg));
        }
        Ok(())
    }
}
