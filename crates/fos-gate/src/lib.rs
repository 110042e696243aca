//! The FOS safety gate: no AI-initiated change reaches the plant unless the policy or people allow it.
//!
//! - [`Policy`] (`DIR/policy.toml`, written with documented defaults on first use): the tolerance
//!   (0.003 mm, applied to the cumulative deviation per machine since its last human approval),
//!   automatic application, safety-critical subsystems, who approves what, the two-person rule, expiry.
//! - [`decide`]: the policy's verdict on a new proposal ([`Decision`]).
//! - [`transition`]: the proposal state machine (`proposed → auto_approved | awaiting_approval → approved |
//!   rejected | expired → executed | failed → reversed`), one exhaustive match over status and event, with
//!   approvals signed by each approver's own Ed25519 key over the exact payload hash ([`Approval`]).
//! - [`GateState`]: the proposals and the stop flag under `DATA/gate/`, reloaded from disk; the stop
//!   command; and the typed path to an [`ExecutionCapability`] ([`ApprovedToken`], then proof that the
//!   approval's ledger record is durable).
//! - [`UserStore`]: users with roles, argon2id password hashes and password-sealed signing keys.
//!
//! **Architecture invariants.** No network I/O, no async runtime, no panics on bad input. The ledger
//! (another crate, wired by the CLI) is the authoritative record; `DATA/gate/` is a rebuildable working
//! state. A capability is issued only for a proposal that is approved (re-verified) or auto-approved,
//! while the gate is not stopped, after the ledger record of the approval is durable.
//!
//! ```
//! use fos_gate::{decide, Decision, Initiator, Policy, ProposalFacts};
//!
//! let policy = Policy::default();
//! let mut facts = ProposalFacts {
//!     id: "p-1".into(),
//!     kind: "setpoint-change".into(),
//!     machine: "press-1".into(),
//!     subsystem: None,
//!     tags: vec![],
//!     deviation_mm: 0.002,
//!     initiated_by: Initiator::Ai { model: "drift-v1".into() },
//!     payload_hash: [0; 32],
//! };
//! assert_eq!(decide(&policy, &facts, 0.0, false), Decision::AutoApprove);
//! // 0.002 mm on top of 0.002 mm already applied without a person exceeds 0.003 mm.
//! assert!(matches!(decide(&policy, &facts, 0.002, false), Decision::NeedsApproval { required: 1, .. }));
//! facts.subsystem = Some("brake-caliper-casting".into());
//! facts.deviation_mm = 0.0001;
//! assert!(matches!(decide(&policy, &facts, 0.0, false), Decision::NeedsApproval { required: 2, .. }));
//! ```

mod decision;
mod gate;
mod hex;
mod policy;
mod state;
mod store;
mod users;

pub use decision::{decide, Decision, Initiator, ProposalFacts, EPSILON_MM};
pub use gate::{
    validate_proposal_id, ApprovedToken, ExecutionCapability, GateError, GateState, HaltInfo, LedgerDurability,
    GATE_DIR, PROPOSALS_DIR, STATE_FILE,
};
pub use policy::{ApprovalPolicy, ApprovalRule, Policy, PolicyError, StopPolicy, DEFAULT_POLICY_TOML, DEFAULT_TOLERANCE_MM};
pub use state::{
    transition, Approval, Change, Context, Event, ExecutionRecord, ExecutionReport, HistoryEntry, IssuedCapability,
    Proposal, RecordedApproval, Requirement, Status, Step, TransitionError, Verdict, APPROVAL_DOMAIN,
    MAX_CLOCK_SKEW_S,
};
pub use users::{
    validate_name, AuthenticatedUser, Directory, KdfParams, Role, UnknownRole, UserError, UserInfo, UserStore,
    USERS_FILE,
};
