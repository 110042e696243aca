//! The gate's decision on a new proposal: apply automatically, wait for people, or refuse.
//!
//! [`decide`] is pure: the policy, the facts of the proposal, the cumulative absolute deviation already
//! applied on its machine without a person (see [`crate::GateState::cumulative_mm`]), and whether the gate
//! is stopped. It returns [`Decision::AutoApprove`] only when *every* rule allows it:
//!
//! 1. the deviation is a finite number (anything else is [`Decision::Refuse`]d, as are proposals without
//!    an id, a kind or a machine);
//! 2. the proposal is not safety-critical ([`Policy::safety_critical_reason`]);
//! 3. its kind is not one that always needs a person ([`Policy::always_human`]);
//! 4. `|deviation|` is within the tolerance, and so is `cumulative + |deviation|`: deviations are compared
//!    as absolute values, summed without regard to sign (a change and its undo both count), with a margin
//!    of [`EPSILON_MM`] (10⁻⁹ mm, far below anything measurable) that absorbs binary rounding only, so
//!    0.003 mm and 0.001 + 0.002 mm are within a 0.003 mm tolerance and 0.0031 mm is not;
//! 5. the policy has `auto_apply = true`;
//! 6. the gate is not halted, or the proposal was initiated by a person: while the gate is stopped,
//!    AI-initiated proposals are held for a person, never auto-approved.
//!
//! Otherwise it is [`Decision::NeedsApproval`], listing every reason that applied and the rule
//! ([`crate::ApprovalRule`]) for the class (safety-critical or ordinary).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::hex;
use crate::policy::Policy;
use crate::users::Role;

/// Margin (mm) allowed above the tolerance to absorb floating-point rounding, and nothing else.
pub const EPSILON_MM: f64 = 1e-9;

/// Who started a proposal.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Initiator {
    /// A model; `model` names it (and its version).
    Ai {
        /// Model name and version.
        model: String,
    },
    /// A person, by user name.
    Person(String),
}

impl Initiator {
    /// Whether a model started it.
    pub fn is_ai(&self) -> bool {
        matches!(self, Initiator::Ai { .. })
    }

    /// The proposing person's user name, when a person proposed it.
    pub fn person(&self) -> Option<&str> {
        match self {
            Initiator::Person(name) => Some(name),
            Initiator::Ai { .. } => None,
        }
    }

    /// How history attributes it: `ai:MODEL` or `user:NAME`.
    pub fn actor(&self) -> String {
        match self {
            Initiator::Ai { model } => format!("ai:{model}"),
            Initiator::Person(name) => format!("user:{name}"),
        }
    }
}

/// What the gate knows of a proposal when it decides. The payload itself (the register, value, recipe…)
/// lives with the proposer; the gate binds approvals to its SHA-256 (or other 32-byte) hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProposalFacts {
    /// Unique id: 1–128 characters `[A-Za-z0-9._-]`, not starting with `.` or `-` (it names a file).
    pub id: String,
    /// What it does, such as `setpoint-change` or `driver-write`.
    pub kind: String,
    /// The machine it changes; the cumulative tolerance is kept per machine.
    pub machine: String,
    /// The subsystem it touches, if known.
    #[serde(default)]
    pub subsystem: Option<String>,
    /// Free tags; `safety-critical` (by default) makes it safety-critical.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Deviation the change introduces, millimetres (sign ignored).
    pub deviation_mm: f64,
    /// Who started it.
    pub initiated_by: Initiator,
    /// Hash of the exact change; approvals sign it.
    #[serde(with = "hex::array32")]
    pub payload_hash: [u8; 32],
}

/// The gate's decision on a proposal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Decision {
    /// Within tolerance, not safety-critical, allowed by the policy: applies without a person (logged).
    AutoApprove,
    /// Waits until `required` distinct people holding one of `roles` approve it.
    NeedsApproval {
        /// Distinct approvers needed.
        required: u32,
        /// Roles that may approve.
        roles: Vec<Role>,
        /// Every reason a person is needed.
        reasons: Vec<String>,
        /// Whether the proposal is safety-critical.
        safety_critical: bool,
    },
    /// Not admissible at all (malformed).
    Refuse {
        /// Why.
        reason: String,
    },
}

/// Decides a new proposal. See the module documentation.
pub fn decide(policy: &Policy, facts: &ProposalFacts, cumulative_mm: f64, halted: bool) -> Decision {
    let refuse = |reason: String| Decision::Refuse { reason };
    for (field, value) in [("id", &facts.id), ("kind", &facts.kind), ("machine", &facts.machine)] {
        if value.trim().is_empty() {
            return refuse(format!("proposal {:?} has an empty {field}; every proposal names its {field}", facts.id));
        }
    }
    if !facts.deviation_mm.is_finite() {
        return refuse(format!(
            "proposal {}: deviation {} mm is not a finite number; the proposer must state the change in millimetres",
            facts.id, facts.deviation_mm
        ));
    }
    if !cumulative_mm.is_finite() || cumulative_mm < 0.0 {
        return refuse(format!(
            "proposal {}: the cumulative deviation on machine {} is {cumulative_mm} mm, which is not a finite \
             non-negative number; the gate's state is damaged",
            facts.id, facts.machine
        ));
    }
    let deviation = facts.deviation_mm.abs();
    let tolerance = policy.tolerance_mm;
    let mut reasons = Vec::new();
    let safety = policy.safety_critical_reason(facts);
    if let Some(why) = &safety {
        reasons.push(format!("{why}: a person must approve at any size"));
    }
    if policy.always_needs_human(&facts.kind) {
        reasons.push(format!("kind {} always needs a person (policy always_human)", facts.kind));
    }
    if deviation > tolerance + EPSILON_MM {
        reasons.push(format!("deviation {} mm exceeds the tolerance {} mm", mm(deviation), mm(tolerance)));
    } else if cumulative_mm + deviation > tolerance + EPSILON_MM {
        reasons.push(format!(
            "cumulative deviation on machine {} since its last human approval would reach {} mm ({} mm so far + {} \
             mm), beyond the tolerance {} mm",
            facts.machine,
            mm(cumulative_mm + deviation),
            mm(cumulative_mm),
            mm(deviation),
            mm(tolerance)
        ));
    }
    if !policy.auto_apply {
        reasons.push("auto_apply is off in the policy".to_owned());
    }
    if halted && facts.initiated_by.is_ai() {
        reasons.push("the gate is stopped: AI-initiated actions are held until a person approves them".to_owned());
    }
    if reasons.is_empty() {
        return Decision::AutoApprove;
    }
    let rule = policy.approval_rule(safety.is_some());
    Decision::NeedsApproval { required: rule.required, roles: rule.roles, reasons, safety_critical: safety.is_some() }
}

/// Millimetres for messages: at most six decimals, trailing zeros dropped.
pub(crate) fn mm(x: f64) -> String {
    let s = format!("{x:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if (s == "0" || s == "-0") && x != 0.0 {
        format!("{x:e}")
    } else {
        s.to_owned()
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Decision::AutoApprove => f.write_str("auto-approved within tolerance"),
            Decision::NeedsApproval { required, roles, reasons, .. } => {
                let roles: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
                write!(f, "needs {required} approval(s) by {}: {}", roles.join(" or "), reasons.join("; "))
            }
            Decision::Refuse { reason } => write!(f, "refused: {reason}"),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests_support {
    use super::*;

    pub(crate) fn facts(id: &str, deviation_mm: f64) -> ProposalFacts {
        ProposalFacts {
            id: id.to_owned(),
            kind: "setpoint-change".to_owned(),
            machine: "press-1".to_owned(),
            subsystem: None,
            tags: vec![],
            deviation_mm,
            initiated_by: Initiator::Ai { model: "drift-v1".to_owned() },
            payload_hash: [7; 32],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::tests_support::facts;
    use super::*;

    #[test]
    fn tolerance_edges_and_epsilon() {
        let p = Policy::default();
        assert_eq!(decide(&p, &facts("a", 0.003), 0.0, false), Decision::AutoApprove);
        assert_eq!(decide(&p, &facts("a", -0.003), 0.0, false), Decision::AutoApprove);
        assert_eq!(decide(&p, &facts("a", 0.002), 0.001, false), Decision::AutoApprove, "a sum that rounds above 0.003 still fits");
        assert!(matches!(decide(&p, &facts("a", 0.0031), 0.0, false), Decision::NeedsApproval { .. }));
        assert!(matches!(decide(&p, &facts("a", 0.002), 0.0011, false), Decision::NeedsApproval { .. }));
    }

    #[test]
    fn malformed_proposals_are_refused() {
        let p = Policy::default();
        for d in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            assert!(matches!(decide(&p, &facts("a", d), 0.0, false), Decision::Refuse { .. }));
        }
        assert!(matches!(decide(&p, &facts("a", 0.0), f64::NAN, false), Decision::Refuse { .. }));
        let mut f = facts("a", 0.0);
        f.machine = " ".to_owned();
        let Decision::Refuse { reason } = decide(&p, &f, 0.0, false) else { panic!("not refused") };
        assert!(reason.contains("machine"), "{reason}");
    }

    #[test]
    fn every_reason_is_listed() {
        let p = Policy { auto_apply: false, ..Policy::default() };
        let mut f = facts("a", 0.01);
        f.kind = "driver-write".to_owned();
        f.tags = vec!["safety-critical".to_owned()];
        let Decision::NeedsApproval { required, roles, reasons, safety_critical } = decide(&p, &f, 0.0, true) else {
            panic!("not waiting")
        };
        assert_eq!((required, roles, safety_critical), (2, vec![Role::Engineer], true));
        assert_eq!(reasons.len(), 5, "{reasons:?}");
    }

    #[test]
    fn a_person_is_not_held_by_the_stop_but_ai_is() {
        let p = Policy::default();
        let mut f = facts("a", 0.001);
        assert!(matches!(decide(&p, &f, 0.0, true), Decision::NeedsApproval { .. }));
        f.initiated_by = Initiator::Person("ann".to_owned());
        assert_eq!(decide(&p, &f, 0.0, true), Decision::AutoApprove);
    }

    #[test]
    fn millimetres_print_short() {
        assert_eq!(mm(0.0030000000000000005), "0.003");
        assert_eq!(mm(0.004), "0.004");
        assert_eq!(mm(0.0), "0");
        assert_eq!(mm(1e-9), "1e-9");
    }
}
