//! The gate's policy: `DIR/policy.toml`, written with documented defaults on first use.
//!
//! The policy says which changes may apply automatically and who must approve the others:
//!
//! - **Tolerance** ([`Policy::tolerance_mm`], 0.003 mm). An AI-initiated change may apply automatically
//!   only while the *cumulative* absolute deviation on its machine since that machine's last human
//!   approval, this change included, stays within the tolerance, so repeated small changes cannot creep
//!   past it (see [`crate::decide`]).
//! - **Safety-critical subsystems** ([`Policy::safety_critical`]) and tags
//!   ([`Policy::safety_critical_tags`]): a change touching one needs human approval at any size, by the
//!   roles in [`ApprovalPolicy::safety_critical_roles`], and by two distinct people under the two-person
//!   rule. Names are compared case-insensitively, after trimming, so `Brake-Caliper-Casting` cannot slip
//!   past `brake-caliper-casting`.
//! - **Kinds that always need a human** ([`Policy::always_human`], `driver-write` and `weld-reroute`): a
//!   write to a controller changes the plant's physical state through a register whose effect in
//!   millimetres the gate cannot know, and a rerouted weld sequence changes heat input and timing, so the
//!   tolerance says nothing about either; they apply only after a person approved them.
//! - **Who may approve, stop and resume** ([`ApprovalPolicy`], [`StopPolicy`]). Operators and auditors
//!   can never approve (refused when the file is loaded); admins manage accounts and, by default, approve
//!   nothing, so account management and approval stay separate duties. The proposer never approves their
//!   own proposal, whatever the file says.
//! - **Expiry** ([`ApprovalPolicy::expiry_hours`], 24 h) of proposals awaiting approval, and the
//!   validity of an execution capability ([`Policy::permit_seconds`], 300 s).
//!
//! Every key is optional in the file (a missing key takes its default) and unknown keys are refused, so a
//! typo cannot silently fall back to a default. [`Policy::load_or_init`] validates the values and names the
//! offending key in its error. [`DEFAULT_POLICY_TOML`] is the commented file written on first use; a test
//! proves it parses to [`Policy::default`].

use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::decision::ProposalFacts;
use crate::store::write_atomic;
use crate::users::Role;

/// The commented policy file written by [`Policy::load_or_init`] when none exists. It holds exactly
/// [`Policy::default`].
pub const DEFAULT_POLICY_TOML: &str = r#"# FOS safety gate policy.
#
# Every AI-initiated change is a proposal. The gate decides, from this file, whether it may apply
# automatically (always logged) or must wait for people to approve it with their signing keys.
# A missing key takes the default shown here; an unknown key is an error. Changes take effect the next
# time the gate loads this file; proposals already awaiting approval keep the stricter of the old and the
# new requirement.

# Largest deviation, in millimetres, that may apply without a person. It applies to the CUMULATIVE
# absolute deviation on a machine since that machine's last human approval, the proposed change included,
# so repeated small changes cannot creep past it. 0.003 exactly is within; 0.0031 is not.
tolerance_mm = 0.003

# Whether changes within the tolerance (and not safety-critical, and not of a kind below) apply
# automatically. false: every change waits for a person.
auto_apply = true

# Subsystems whose changes always need human approval, at any size, by safety_critical_roles and (with
# two_person_rule) by two distinct people. The AI never acts inside a safety function on its own.
# Compared case-insensitively.
safety_critical = ["brake-caliper-casting", "flight-control-actuation"]

# A proposal carrying any of these tags (or a tag naming a subsystem above) is safety-critical too.
safety_critical_tags = ["safety-critical"]

# Kinds of proposal that always need a person, whatever their size. A write to a controller changes the
# plant through a register whose effect in millimetres the gate cannot know, and a rerouted welding
# sequence changes heat input and timing, which no millimetre tolerance measures: neither is automatic.
always_human = ["driver-write", "weld-reroute"]

# Seconds an execution capability (the permit handed to a driver) stays valid after it is issued.
permit_seconds = 300

[approvals]
# Roles that may approve (or reject) an ordinary change beyond the tolerance.
# Roles: operator, approver, engineer, auditor, admin. Operators and auditors can never approve.
roles = ["approver", "engineer"]

# Roles that may approve (or reject) a safety-critical change: the engineers who answer for the safety case.
safety_critical_roles = ["engineer"]

# Distinct people needed to approve an ordinary change. The proposer never counts.
min_approvers = 1

# Two-person rule: a safety-critical change needs at least two distinct approvers, neither of them the
# proposer. With the rule on, min_approvers_safety_critical must be 2 or more.
two_person_rule = true
min_approvers_safety_critical = 2

# Hours a proposal may await approval before it expires (it must then be proposed again).
expiry_hours = 24

[stop]
# Roles that may stop the gate: all AI-initiated actions are held until someone resumes it.
halt_roles = ["operator", "approver", "engineer", "admin"]

# Roles that may resume it. Held actions stay held (awaiting a person) after a resume.
resume_roles = ["approver", "engineer"]
"#;

/// Tolerance in millimetres applied by default (see [`Policy::tolerance_mm`]).
pub const DEFAULT_TOLERANCE_MM: f64 = 0.003;

/// The gate's policy. See the module documentation; the defaults are those of [`DEFAULT_POLICY_TOML`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Policy {
    /// Largest cumulative absolute deviation (mm) per machine since its last human approval that may
    /// apply without a person. Default 0.003.
    pub tolerance_mm: f64,
    /// Whether changes within the tolerance apply automatically. Default `true`.
    pub auto_apply: bool,
    /// Safety-critical subsystems. Default `brake-caliper-casting`, `flight-control-actuation`.
    pub safety_critical: Vec<String>,
    /// Tags that make a proposal safety-critical. Default `safety-critical`.
    pub safety_critical_tags: Vec<String>,
    /// Proposal kinds that always need a person. Default `driver-write`, `weld-reroute`.
    pub always_human: Vec<String>,
    /// Validity of an execution capability, seconds. Default 300.
    pub permit_seconds: u64,
    /// Who approves what, how many, and for how long a proposal waits.
    pub approvals: ApprovalPolicy,
    /// Who may stop and resume the gate.
    pub stop: StopPolicy,
}

/// The `[approvals]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApprovalPolicy {
    /// Roles that may approve an ordinary change. Default `approver`, `engineer`.
    pub roles: Vec<Role>,
    /// Roles that may approve a safety-critical change. Default `engineer`.
    pub safety_critical_roles: Vec<Role>,
    /// Distinct approvers of an ordinary change. Default 1.
    pub min_approvers: u32,
    /// The two-person rule for safety-critical changes. Default `true`.
    pub two_person_rule: bool,
    /// Distinct approvers of a safety-critical change. Default 2.
    pub min_approvers_safety_critical: u32,
    /// Hours a proposal may await approval. Default 24.
    pub expiry_hours: u64,
}

/// The `[stop]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StopPolicy {
    /// Roles that may stop the gate. Default all but `auditor`.
    pub halt_roles: Vec<Role>,
    /// Roles that may resume it. Default `approver`, `engineer`.
    pub resume_roles: Vec<Role>,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            tolerance_mm: DEFAULT_TOLERANCE_MM,
            auto_apply: true,
            safety_critical: vec!["brake-caliper-casting".to_owned(), "flight-control-actuation".to_owned()],
            safety_critical_tags: vec!["safety-critical".to_owned()],
            always_human: vec!["driver-write".to_owned(), "weld-reroute".to_owned()],
            permit_seconds: 300,
            approvals: ApprovalPolicy::default(),
            stop: StopPolicy::default(),
        }
    }
}

impl Default for ApprovalPolicy {
    fn default() -> ApprovalPolicy {
        ApprovalPolicy {
            roles: vec![Role::Approver, Role::Engineer],
            safety_critical_roles: vec![Role::Engineer],
            min_approvers: 1,
            two_person_rule: true,
            min_approvers_safety_critical: 2,
            expiry_hours: 24,
        }
    }
}

impl Default for StopPolicy {
    fn default() -> StopPolicy {
        StopPolicy {
            halt_roles: vec![Role::Operator, Role::Approver, Role::Engineer, Role::Admin],
            resume_roles: vec![Role::Approver, Role::Engineer],
        }
    }
}

/// Who must approve a proposal: how many distinct people, holding which roles.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalRule {
    /// Distinct approvers needed (never counting the proposer).
    pub required: u32,
    /// Roles whose holders may approve.
    pub roles: Vec<Role>,
}

impl Policy {
    /// Reads `path`, or writes [`DEFAULT_POLICY_TOML`] there (creating its folder) when it does not exist.
    /// Returns the validated policy and whether the file was created.
    pub fn load_or_init(path: impl AsRef<Path>) -> Result<(Policy, bool), PolicyError> {
        let path = path.as_ref();
        match fs::read_to_string(path) {
            Ok(text) => Ok((Policy::parse(&text, path)?, false)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    fs::create_dir_all(dir)
                        .map_err(|source| PolicyError::Write { path: dir.to_path_buf(), source })?;
                }
                write_atomic(path, DEFAULT_POLICY_TOML.as_bytes(), false)
                    .map_err(|source| PolicyError::Write { path: path.to_path_buf(), source })?;
                Ok((Policy::parse(DEFAULT_POLICY_TOML, path)?, true))
            }
            Err(source) => Err(PolicyError::Read { path: path.to_path_buf(), source }),
        }
    }

    /// Parses and validates policy text; `origin` names the file in errors.
    pub fn parse(text: &str, origin: &Path) -> Result<Policy, PolicyError> {
        let policy: Policy = toml::from_str(text)
            .map_err(|e| PolicyError::Parse { path: origin.to_path_buf(), message: e.to_string() })?;
        policy.validate().map_err(|(key, problem)| PolicyError::Invalid { path: origin.to_path_buf(), key, problem })?;
        Ok(policy)
    }

    /// Checks the values; on failure returns the offending key and what is wrong with it.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if !self.tolerance_mm.is_finite() || self.tolerance_mm < 0.0 {
            return Err(("tolerance_mm", format!("must be a finite number of millimetres >= 0, not {}", self.tolerance_mm)));
        }
        for (key, names) in [("safety_critical", &self.safety_critical), ("safety_critical_tags", &self.safety_critical_tags)]
        {
            if names.iter().any(|n| n.trim().is_empty()) {
                return Err((key, "must not contain an empty name".to_owned()));
            }
        }
        if self.always_human.iter().any(|n| n.trim().is_empty()) {
            return Err(("always_human", "must not contain an empty kind".to_owned()));
        }
        if !(1..=86_400).contains(&self.permit_seconds) {
            return Err(("permit_seconds", format!("must be between 1 and 86400 seconds, not {}", self.permit_seconds)));
        }
        let a = &self.approvals;
        for (key, roles) in [("approvals.roles", &a.roles), ("approvals.safety_critical_roles", &a.safety_critical_roles)] {
            if roles.is_empty() {
                return Err((key, "must name at least one role, or nothing beyond the tolerance could ever be approved".to_owned()));
            }
            if let Some(r) = roles.iter().find(|r| matches!(r, Role::Operator | Role::Auditor)) {
                return Err((key, format!("role {r} can never approve; use approver, engineer or admin")));
            }
        }
        if a.min_approvers < 1 {
            return Err(("approvals.min_approvers", "must be at least 1".to_owned()));
        }
        if a.min_approvers_safety_critical < 1 {
            return Err(("approvals.min_approvers_safety_critical", "must be at least 1".to_owned()));
        }
        if a.two_person_rule && a.min_approvers_safety_critical < 2 {
            return Err((
                "approvals.min_approvers_safety_critical",
                format!(
                    "is {} but two_person_rule = true needs at least 2; raise it or set two_person_rule = false",
                    a.min_approvers_safety_critical
                ),
            ));
        }
        if !(1..=24 * 365).contains(&a.expiry_hours) {
            return Err(("approvals.expiry_hours", format!("must be between 1 and 8760 hours, not {}", a.expiry_hours)));
        }
        if self.stop.halt_roles.is_empty() {
            return Err(("stop.halt_roles", "must name at least one role, or nobody could stop the gate".to_owned()));
        }
        if self.stop.resume_roles.is_empty() {
            return Err(("stop.resume_roles", "must name at least one role, or a stopped gate could never resume".to_owned()));
        }
        for (key, roles) in [("stop.halt_roles", &self.stop.halt_roles), ("stop.resume_roles", &self.stop.resume_roles)] {
            if roles.contains(&Role::Auditor) {
                return Err((key, "auditors only read; remove auditor".to_owned()));
            }
        }
        Ok(())
    }

    /// Why `facts` is safety-critical under this policy (its subsystem or a tag), or `None`.
    pub fn safety_critical_reason(&self, facts: &ProposalFacts) -> Option<String> {
        let listed = |name: &str, list: &[String]| list.iter().any(|s| s.trim().eq_ignore_ascii_case(name.trim()));
        if let Some(sub) = facts.subsystem.as_deref().filter(|s| listed(s, &self.safety_critical)) {
            return Some(format!("subsystem {sub} is safety-critical"));
        }
        facts
            .tags
            .iter()
            .find(|t| listed(t, &self.safety_critical_tags) || listed(t, &self.safety_critical))
            .map(|t| format!("tagged {t}, which is safety-critical"))
    }

    /// Whether proposals of `kind` always need a person.
    pub fn always_needs_human(&self, kind: &str) -> bool {
        self.always_human.iter().any(|k| k.trim().eq_ignore_ascii_case(kind.trim()))
    }

    /// Who must approve a change of the given class.
    pub fn approval_rule(&self, safety_critical: bool) -> ApprovalRule {
        let a = &self.approvals;
        if safety_critical {
            let required =
                if a.two_person_rule { a.min_approvers_safety_critical.max(2) } else { a.min_approvers_safety_critical };
            ApprovalRule { required: required.max(1), roles: a.safety_critical_roles.clone() }
        } else {
            ApprovalRule { required: a.min_approvers.max(1), roles: a.roles.clone() }
        }
    }

    /// Seconds a proposal may await approval.
    pub fn expiry_seconds(&self) -> u64 {
        self.approvals.expiry_hours.saturating_mul(3600)
    }
}

/// Why the policy file could not be loaded or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// The file exists but could not be read.
    #[error("{path}: cannot read the gate policy: {source}; check its permissions")]
    Read {
        /// The policy file.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// The default file (or its folder) could not be written.
    #[error("{path}: cannot write the default gate policy: {source}; check that the data folder is writable")]
    Write {
        /// The file or folder.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// Not valid TOML, an unknown key, or a value of the wrong type (the message names the key and line).
    #[error("{path}: invalid gate policy: {message}")]
    Parse {
        /// The policy file.
        path: PathBuf,
        /// The parser's message, with the key and position.
        message: String,
    },
    /// A value out of range.
    #[error("{path}: gate policy key `{key}` {problem}")]
    Invalid {
        /// The policy file.
        path: PathBuf,
        /// The key, dotted (`approvals.min_approvers`).
        key: &'static str,
        /// What is wrong and what to do.
        problem: String,
    },
}

impl fmt::Display for ApprovalRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let roles: Vec<&str> = self.roles.iter().map(|r| r.as_str()).collect();
        write!(f, "{} distinct approver(s) with role {}", self.required, roles.join(" or "))
    }
}

#[cfg(test)]
mod tests;
