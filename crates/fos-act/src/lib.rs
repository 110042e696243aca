//! Executable control proposals: what FOS proposes to change on a machine, in a form the safety gate
//! (`fos-gate`) can approve or refuse, and that is exact enough to run once approved.
//!
//! - [`gcode`]: a parser and writer for the ISO 6983 / Fanuc-style G-code subset of a CNC mill program, with
//!   the modal state that gives words their meaning.
//! - [`offset`]: tool and work offset corrections, always written as new *absolute* values under `G90` (an
//!   incremental write creeps when it is repeated), with a controller model that proves it.
//! - [`toolpath`]: shift a program's work positions by a delta (a work-coordinate shift or a Z/length
//!   correction), refusing what it cannot follow, and verify the result by simulating both programs.
//! - [`weld`]: evaluate, validate and re-plan the weld sequence of a robotic cell when a torch degrades.
//! - [`proposal`]: the typed [`Action`] payload, its predicted effect, its executable text and the SHA-256
//!   of its canonical JSON that the approver's signature binds.
//!
//! Architecture invariant: this crate does no I/O — no files, no network, no async, no clock. Every function
//! is a pure function of its arguments, and no input makes one panic.
//!
//! ```
//! use fos_act::offset::{OffsetLimits, ToolOffsetCorrection, ToolOffsetKind};
//! use fos_act::Action;
//!
//! let wear = ToolOffsetCorrection {
//!     machine: "mill-3".into(),
//!     tool_offset_number: 5,
//!     kind: ToolOffsetKind::LengthWear,
//!     current_mm: -0.02,
//!     delta_mm: -0.03,
//!     device_tag: None,
//! };
//! // The absolute value, under G90 and G21: running it twice is the same as once.
//! assert_eq!(wear.emit(&OffsetLimits::default())?, "G21\nG90 G10 L11 P5 R-0.0500\n");
//! let action = Action::ToolOffset(wear);
//! assert_eq!(action.deviation_mm(), 0.03);
//! assert_eq!(action.payload_hash_hex().len(), 64);
//! # Ok::<(), fos_act::offset::OffsetError>(())
//! ```

pub mod gcode;
pub mod offset;
pub mod proposal;
pub mod toolpath;
pub mod weld;

pub use gcode::{parse, write, ParseError, Program};
pub use offset::{DeviceTag, OffsetError, OffsetLimits, ToolOffsetCorrection, ToolOffsetKind, WorkOffsetCorrection};
pub use proposal::{Action, Effect, ProposalError};
pub use toolpath::{correct, verify, Corrected, TransformError, TransformReport};
pub use weld::{evaluate, replan, validate, Cell, Plan, PlanMetrics, Replan, WeldError};

/// Any error of this crate, for callers that handle them together.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// See [`ParseError`].
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// See [`OffsetError`].
    #[error(transparent)]
    Offset(#[from] OffsetError),
    /// See [`TransformError`].
    #[error(transparent)]
    Transform(#[from] TransformError),
    /// See [`WeldError`].
    #[error(transparent)]
    Weld(#[from] WeldError),
    /// See [`ProposalError`].
    #[error(transparent)]
    Proposal(#[from] ProposalError),
}
