//! The proposal state machine: statuses, events, signed approvals, and the one transition function.
//!
//! ```text
//!                    ┌─> auto_approved ──────────────────────────┐
//! proposed ─(decide)─┤        │ (stop, AI-initiated: held)        ├─(execute)─> executed ─(reverse)─> reversed
//!                    │        v                                   │         └─> failed
//!                    ├─> awaiting_approval ─(enough approvals)─> approved
//!                    │        ├─(reject)─> rejected    (a veto also stops auto_approved and approved)
//!                    │        └─(expiry)─> expired
//!                    └─> rejected (refused by the policy: malformed)
//! ```
//!
//! [`transition`] is pure and total: given a [`Proposal`], an [`Event`] and a [`Context`] (policy, user
//! directory, clock, whether the gate is stopped, the machine's cumulative deviation) it returns the
//! [`Step`] to take or the reason the event is refused ([`TransitionError`]); it never changes anything.
//! It is one `match (status, event)` that names every status and every event, without a catch-all arm, so
//! a new status or event does not compile until its transitions are written. [`crate::GateState`] applies
//! steps and persists them.
//!
//! Rules the match enforces:
//!
//! - **Decide** only from `proposed`, through [`crate::decide`] (the event carries no decision, so a caller
//!   cannot choose one).
//! - **Approve** only in `awaiting_approval`, with an [`Approval`] that verifies: for this proposal and
//!   its exact payload hash, verdict `approve`, signed with the approver's Ed25519 key (see
//!   [`Approval::message`]), timestamped between the proposal's creation and now (±5 minutes of clock
//!   skew), by a user whose role the policy allows for this class (ordinary or safety-critical), who is
//!   not the proposer and has not already approved it. Each approval is recorded; the status moves to
//!   `approved` when the count of distinct eligible approvers reaches the requirement (the two-person
//!   rule). The requirement is the stricter of the one recorded when the proposal was decided and the
//!   current policy's: more approvers, and only roles allowed by both. While the gate is stopped, approvals
//!   are refused ([`TransitionError::Halted`]): the stop halts everything until a person resumes it.
//! - **Reject** (a veto, verdict `reject`) from `awaiting_approval`, `auto_approved` or `approved`, by an
//!   eligible approver or by the person who proposed it.
//! - **Expire**: a proposal awaiting approval for `expiry_hours` becomes `expired`; an approval or
//!   rejection arriving after that expires it instead of being recorded ([`Step::applied`] is false).
//! - **Execute** only from `approved` or `auto_approved`, and only with the [`ExecutionReport`] of an
//!   execution capability ([`crate::ExecutionCapability`]), which the gate issues only while it is not
//!   stopped and once the approval is durable in the ledger. Success gives `executed`, failure `failed`.
//!   The outcome is recorded as it happened even if the gate was stopped after the capability was issued.
//! - **Reverse** only from `executed`, signed (verdict `reverse`) by an eligible approver or the proposer.
//! - **Halt** (the stop command) moves AI-initiated `auto_approved` proposals back to
//!   `awaiting_approval`, where a person must approve them once the gate is resumed; it changes nothing else
//!   (while stopped, the gate accepts no approval and issues no execution capability at all; vetoes are
//!   still accepted). **Resume** changes no proposal: held ones stay held.

use std::fmt;

use ed25519_dalek::{Signature, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::decision::{decide, mm, Decision, ProposalFacts};
use crate::hex;
use crate::policy::{ApprovalRule, Policy};
use crate::users::{AuthenticatedUser, Directory, Role, UserInfo};

/// Seconds an approval's timestamp may lie in the future (or before the proposal) because of clock skew.
pub const MAX_CLOCK_SKEW_S: u64 = 300;

/// Domain separation of approval signatures (see [`Approval::message`]).
pub const APPROVAL_DOMAIN: &[u8] = b"fos-gate-approval-v1\n";

/// Where a proposal stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Recorded, not yet decided.
    Proposed,
    /// Within tolerance and allowed by the policy: may execute without a person.
    AutoApproved,
    /// Waits for people to approve it.
    AwaitingApproval,
    /// Approved by enough distinct eligible people.
    Approved,
    /// Refused by the policy or vetoed by a person. Final.
    Rejected,
    /// Waited too long for approval. Final.
    Expired,
    /// Carried out.
    Executed,
    /// Carrying it out failed. Final.
    Failed,
    /// Undone after execution. Final.
    Reversed,
}

impl Status {
    /// Every status.
    pub const ALL: [Status; 9] = [
        Status::Proposed,
        Status::AutoApproved,
        Status::AwaitingApproval,
        Status::Approved,
        Status::Rejected,
        Status::Expired,
        Status::Executed,
        Status::Failed,
        Status::Reversed,
    ];

    /// The name used in files.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Proposed => "proposed",
            Status::AutoApproved => "auto_approved",
            Status::AwaitingApproval => "awaiting_approval",
            Status::Approved => "approved",
            Status::Rejected => "rejected",
            Status::Expired => "expired",
            Status::Executed => "executed",
            Status::Failed => "failed",
            Status::Reversed => "reversed",
        }
    }

    /// Whether no event can move it any more.
    pub fn is_final(self) -> bool {
        match self {
            Status::Rejected | Status::Expired | Status::Failed | Status::Reversed => true,
            Status::Proposed | Status::AutoApproved | Status::AwaitingApproval | Status::Approved | Status::Executed => {
                false
            }
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a person's signature says about a proposal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Approve it.
    Approve,
    /// Veto it.
    Reject,
    /// Undo it after execution.
    Reverse,
}

impl Verdict {
    /// The word signed.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Approve => "approve",
            Verdict::Reject => "reject",
            Verdict::Reverse => "reverse",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A person's signed verdict on one proposal's exact payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Approval {
    /// The proposal.
    pub proposal_id: String,
    /// The signer's user name.
    pub by: String,
    /// What they decided.
    pub verdict: Verdict,
    /// When, Unix seconds.
    pub at: u64,
    /// The payload hash they saw and signed.
    #[serde(with = "hex::array32")]
    pub payload_hash: [u8; 32],
    /// Their stated reason (may be empty; signed too).
    #[serde(default)]
    pub reason: String,
    /// Ed25519 signature of [`Approval::message`].
    #[serde(with = "hex::array64")]
    pub signature: [u8; 64],
}

impl Approval {
    /// The signed bytes, domain-separated and length-prefixed so no two inputs share an encoding:
    ///
    /// ```text
    /// "fos-gate-approval-v1\n"
    /// u32 BE length ‖ proposal id (UTF-8)
    /// payload hash (32 bytes)
    /// u32 BE length ‖ verdict ("approve" | "reject" | "reverse")
    /// u64 BE timestamp (Unix seconds)
    /// u32 BE length ‖ reason (UTF-8)
    /// ```
    pub fn message(proposal_id: &str, payload_hash: &[u8; 32], verdict: Verdict, at: u64, reason: &str) -> Vec<u8> {
        let mut m = APPROVAL_DOMAIN.to_vec();
        let field = |m: &mut Vec<u8>, bytes: &[u8]| {
            m.extend_from_slice(&u32::try_from(bytes.len()).unwrap_or(u32::MAX).to_be_bytes());
            m.extend_from_slice(bytes);
        };
        field(&mut m, proposal_id.as_bytes());
        m.extend_from_slice(payload_hash);
        field(&mut m, verdict.as_str().as_bytes());
        m.extend_from_slice(&at.to_be_bytes());
        field(&mut m, reason.as_bytes());
        m
    }

    /// Signs a verdict as an authenticated user.
    pub fn sign(
        user: &AuthenticatedUser,
        proposal_id: &str,
        payload_hash: [u8; 32],
        verdict: Verdict,
        at: u64,
        reason: &str,
    ) -> Approval {
        let signature = user.sign(&Approval::message(proposal_id, &payload_hash, verdict, at, reason));
        Approval::assemble(user.name(), proposal_id, payload_hash, verdict, at, reason, signature)
    }

    /// Signs a verdict with a raw key (tools and tests that hold keys outside a [`crate::UserStore`]).
    pub fn sign_with_key(
        by: &str,
        key: &SigningKey,
        proposal_id: &str,
        payload_hash: [u8; 32],
        verdict: Verdict,
        at: u64,
        reason: &str,
    ) -> Approval {
        use ed25519_dalek::Signer;
        let signature = key.sign(&Approval::message(proposal_id, &payload_hash, verdict, at, reason));
        Approval::assemble(by, proposal_id, payload_hash, verdict, at, reason, signature)
    }

    fn assemble(
        by: &str,
        proposal_id: &str,
        payload_hash: [u8; 32],
        verdict: Verdict,
        at: u64,
        reason: &str,
        signature: Signature,
    ) -> Approval {
        Approval {
            proposal_id: proposal_id.to_owned(),
            by: by.to_owned(),
            verdict,
            at,
            payload_hash,
            reason: reason.to_owned(),
            signature: signature.to_bytes(),
        }
    }

    /// Whether the signature verifies with `key` (strict Ed25519: no malleable signatures, no weak keys).
    pub fn verifies_with(&self, key: &VerifyingKey) -> bool {
        let msg = Approval::message(&self.proposal_id, &self.payload_hash, self.verdict, self.at, &self.reason);
        let sig = Signature::from_bytes(&self.signature);
        key.verify_strict(&msg, &sig).is_ok()
    }
}

/// An approval as recorded in a proposal, with the signer's role at the time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordedApproval {
    /// The signer's role when it was recorded.
    pub role: Role,
    /// The signed verdict.
    pub approval: Approval,
}

/// Who must approve a waiting proposal, and why it waits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Requirement {
    /// Distinct approvers needed.
    pub required: u32,
    /// Roles that may approve.
    pub roles: Vec<Role>,
    /// Whether the proposal is safety-critical.
    pub safety_critical: bool,
    /// Why a person is needed.
    pub reasons: Vec<String>,
}

/// The recorded outcome of an execution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecutionRecord {
    /// When the outcome was recorded, Unix seconds.
    pub at: u64,
    /// Whether it succeeded.
    pub ok: bool,
    /// What the driver reported.
    pub detail: String,
    /// Ledger index of the approval record the capability was issued against.
    pub ledger_index: u64,
    /// When the capability was issued, and until when it was valid (Unix seconds).
    pub issued_at: u64,
    /// End of the capability's validity.
    pub not_after: u64,
    /// Who approved (`policy` for an automatic approval).
    pub approved_by: Vec<String>,
    /// Whether the gate had been stopped by the time the outcome came back (capability issued before).
    pub while_halted: bool,
}

/// A capability the gate issued for a proposal, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuedCapability {
    /// Issued at, Unix seconds.
    pub at: u64,
    /// Valid until, Unix seconds.
    pub not_after: u64,
    /// Ledger index of the durable approval record.
    pub ledger_index: u64,
}

/// One line of a proposal's history: every change, attributed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryEntry {
    /// Gate-wide sequence number: orders events of all proposals (seconds are too coarse).
    pub seq: u64,
    /// Unix seconds.
    pub at: u64,
    /// Status before (`None` for the creation).
    pub from: Option<Status>,
    /// Status after (the same as `from` when only something was recorded, such as a first approval).
    pub to: Status,
    /// `propose`, `decide`, `approve`, `reject`, `expire`, `execute`, `reverse`, `halt`, `capability`.
    pub event: String,
    /// `user:NAME`, `ai:MODEL`, `gate` (the policy) or `system:SOURCE`.
    pub actor: String,
    /// What happened, in words.
    pub note: String,
}

/// A proposal and everything that happened to it (`gate/proposals/ID.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Proposal {
    /// What it is.
    pub facts: ProposalFacts,
    /// When it was proposed, Unix seconds.
    pub created_at: u64,
    /// Where it stands.
    pub status: Status,
    /// The gate's decision, once decided.
    pub decision: Option<Decision>,
    /// Who must approve it, while it waits (kept afterwards for the record).
    pub requirement: Option<Requirement>,
    /// Since when it has been waiting, Unix seconds (expiry counts from here).
    pub awaiting_since: Option<u64>,
    /// Approvals recorded, one per distinct approver.
    pub approvals: Vec<RecordedApproval>,
    /// The veto, if rejected by a person.
    pub rejection: Option<RecordedApproval>,
    /// Capabilities issued.
    pub capabilities: Vec<IssuedCapability>,
    /// The execution outcome.
    pub execution: Option<ExecutionRecord>,
    /// The reversal.
    pub reversal: Option<RecordedApproval>,
    /// Every change, in order.
    pub history: Vec<HistoryEntry>,
}

impl Proposal {
    /// A new proposal in status `proposed`, its creation attributed to its initiator.
    pub fn new(facts: ProposalFacts, now: u64, seq: u64) -> Proposal {
        let actor = facts.initiated_by.actor();
        let note = format!(
            "{} on machine {}{}, deviation {} mm",
            facts.kind,
            facts.machine,
            facts.subsystem.as_deref().map(|s| format!(" ({s})")).unwrap_or_default(),
            mm(facts.deviation_mm)
        );
        Proposal {
            facts,
            created_at: now,
            status: Status::Proposed,
            decision: None,
            requirement: None,
            awaiting_since: None,
            approvals: Vec::new(),
            rejection: None,
            capabilities: Vec::new(),
            execution: None,
            reversal: None,
            history: vec![HistoryEntry {
                seq,
                at: now,
                from: None,
                to: Status::Proposed,
                event: "propose".to_owned(),
                actor,
                note,
            }],
        }
    }

    /// The id.
    pub fn id(&self) -> &str {
        &self.facts.id
    }

    /// When a waiting proposal expires, Unix seconds (`None` unless awaiting approval).
    pub fn expires_at(&self, policy: &Policy) -> Option<u64> {
        match self.status {
            Status::AwaitingApproval => {
                Some(self.awaiting_since.unwrap_or(self.created_at).saturating_add(policy.expiry_seconds()))
            }
            Status::Proposed
            | Status::AutoApproved
            | Status::Approved
            | Status::Rejected
            | Status::Expired
            | Status::Executed
            | Status::Failed
            | Status::Reversed => None,
        }
    }

    /// The requirement in force: the stricter of the recorded one and the current policy's.
    pub fn effective_rule(&self, policy: &Policy) -> ApprovalRule {
        let recorded_sc = self.requirement.as_ref().is_some_and(|r| r.safety_critical);
        let current = policy.approval_rule(recorded_sc || policy.safety_critical_reason(&self.facts).is_some());
        match &self.requirement {
            None => current,
            Some(r) => ApprovalRule {
                required: r.required.max(current.required),
                roles: current.roles.iter().copied().filter(|role| r.roles.contains(role)).collect(),
            },
        }
    }

    /// Applies a step computed by [`transition`] for this proposal (the caller persists the result).
    pub(crate) fn apply(&mut self, step: &Step, seq: u64, now: u64) {
        match &step.change {
            Change::Nothing | Change::Expired => {}
            Change::Decided(decision) => {
                if let Decision::NeedsApproval { required, roles, reasons, safety_critical } = decision {
                    self.requirement = Some(Requirement {
                        required: *required,
                        roles: roles.clone(),
                        safety_critical: *safety_critical,
                        reasons: reasons.clone(),
                    });
                    self.awaiting_since = Some(now);
                }
                self.decision = Some(decision.clone());
            }
            Change::Held(requirement) => {
                self.requirement = Some(requirement.clone());
                self.awaiting_since = Some(now);
            }
            Change::Approval(a) => self.approvals.push(a.clone()),
            Change::Rejection(a) => self.rejection = Some(a.clone()),
            Change::Execution(record) => self.execution = Some(record.clone()),
            Change::Reversal(a) => self.reversal = Some(a.clone()),
            Change::Capability(c) => self.capabilities.push(c.clone()),
        }
        self.status = step.to;
        self.history.push(HistoryEntry {
            seq,
            at: now,
            from: Some(step.from),
            to: step.to,
            event: step.event.to_owned(),
            actor: step.actor.clone(),
            note: step.note.clone(),
        });
    }

    /// Re-verifies that this proposal may execute: `auto_approved` under a policy that still allows it,
    /// or `approved` with enough distinct eligible approvals whose signatures verify with the approvers'
    /// current keys. Returns who approved (`policy` for an automatic approval).
    pub fn verify_approved(&self, policy: &Policy, directory: &dyn Directory) -> Result<Vec<String>, String> {
        match self.status {
            Status::AutoApproved => {
                if !matches!(self.decision, Some(Decision::AutoApprove)) {
                    return Err("auto_approved without an automatic decision on record".to_owned());
                }
                if let Some(why) = policy.safety_critical_reason(&self.facts) {
                    return Err(format!("{why} under the current policy; it needs human approval now"));
                }
                if policy.always_needs_human(&self.facts.kind) {
                    return Err(format!("kind {} needs a person under the current policy", self.facts.kind));
                }
                Ok(vec!["policy".to_owned()])
            }
            Status::Approved => {
                let rule = self.effective_rule(policy);
                let mut names: Vec<String> = Vec::new();
                for r in &self.approvals {
                    let a = &r.approval;
                    let valid = a.verdict == Verdict::Approve
                        && a.proposal_id == self.facts.id
                        && a.payload_hash == self.facts.payload_hash
                        && self.facts.initiated_by.person() != Some(a.by.as_str())
                        && !names.contains(&a.by)
                        && directory
                            .lookup(&a.by)
                            .is_some_and(|u| rule.roles.contains(&u.role) && a.verifies_with(&u.public_key));
                    if valid {
                        names.push(a.by.clone());
                    }
                }
                if names.len() < rule.required as usize {
                    return Err(format!(
                        "only {} of the {} distinct eligible approvals needed verify now (users removed, roles \
                         changed or keys replaced since); it must be approved again",
                        names.len(),
                        rule.required
                    ));
                }
                Ok(names)
            }
            Status::Proposed
            | Status::AwaitingApproval
            | Status::Rejected
            | Status::Expired
            | Status::Executed
            | Status::Failed
            | Status::Reversed => Err(format!("it is {}, not approved or auto_approved", self.status)),
        }
    }
}

/// The outcome of carrying out an execution capability; only [`crate::ExecutionCapability::report`]
/// makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutionReport {
    pub(crate) proposal_id: String,
    pub(crate) payload_hash: [u8; 32],
    pub(crate) ok: bool,
    pub(crate) detail: String,
    pub(crate) ledger_index: u64,
    pub(crate) issued_at: u64,
    pub(crate) not_after: u64,
    pub(crate) approved_by: Vec<String>,
}

impl ExecutionReport {
    /// The proposal it reports on.
    pub fn proposal_id(&self) -> &str {
        &self.proposal_id
    }

    /// Whether it succeeded.
    pub fn ok(&self) -> bool {
        self.ok
    }
}

/// Something that happens to a proposal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Let the policy decide (from `proposed`).
    Decide,
    /// A person's signed approval.
    Approve(Approval),
    /// A person's signed veto.
    Reject(Approval),
    /// A clock tick: expires the proposal if it waited too long.
    Expire,
    /// The outcome of an execution.
    Execute(ExecutionReport),
    /// A person's signed reversal of an executed proposal.
    Reverse(Approval),
    /// The gate was stopped; `by` is the actor (`user:NAME` or `system:SOURCE`).
    Halt {
        /// Who stopped it.
        by: String,
    },
    /// The gate was resumed.
    Resume {
        /// Who resumed it.
        by: String,
    },
}

impl Event {
    /// The event's name in history.
    pub fn name(&self) -> &'static str {
        match self {
            Event::Decide => "decide",
            Event::Approve(_) => "approve",
            Event::Reject(_) => "reject",
            Event::Expire => "expire",
            Event::Execute(_) => "execute",
            Event::Reverse(_) => "reverse",
            Event::Halt { .. } => "halt",
            Event::Resume { .. } => "resume",
        }
    }
}

/// What [`transition`] needs besides the proposal and the event.
#[derive(Clone, Copy)]
pub struct Context<'a> {
    /// The policy in force.
    pub policy: &'a Policy,
    /// Users: roles and public keys.
    pub directory: &'a dyn Directory,
    /// Now, Unix seconds.
    pub now: u64,
    /// Whether the gate is stopped.
    pub halted: bool,
    /// Cumulative absolute deviation (mm) applied on the proposal's machine without a person since its
    /// last human approval, this proposal excluded.
    pub cumulative_mm: f64,
}

impl fmt::Debug for Context<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("now", &self.now)
            .field("halted", &self.halted)
            .field("cumulative_mm", &self.cumulative_mm)
            .finish_non_exhaustive()
    }
}

/// What a step records besides the new status.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// Nothing (the event does not concern this proposal).
    Nothing,
    /// The policy's decision.
    Decided(Decision),
    /// An approval counted.
    Approval(RecordedApproval),
    /// A veto.
    Rejection(RecordedApproval),
    /// Expiry.
    Expired,
    /// Held by the stop: now waits for people under this requirement.
    Held(Requirement),
    /// An execution outcome.
    Execution(ExecutionRecord),
    /// A reversal.
    Reversal(RecordedApproval),
    /// A capability issued.
    Capability(IssuedCapability),
}

/// The outcome of [`transition`]: the step to apply.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// Status before.
    pub from: Status,
    /// Status after.
    pub to: Status,
    /// What to record.
    pub change: Change,
    /// Whether the event itself took effect; `false` when the proposal expired before it could.
    pub applied: bool,
    /// The event's name.
    pub event: &'static str,
    /// Who caused it.
    pub actor: String,
    /// What happened, in words.
    pub note: String,
}

impl Step {
    /// Whether applying it would change nothing.
    pub fn is_noop(&self) -> bool {
        self.from == self.to && matches!(self.change, Change::Nothing)
    }
}

/// Computes the step `event` causes on `p`. Pure; see the module documentation for the rules.
pub fn transition(p: &Proposal, event: &Event, ctx: &Context<'_>) -> Result<Step, TransitionError> {
    use Event as E;
    use Status as S;
    let from = p.status;
    let step = |to: Status, change: Change, actor: String, note: String| Step {
        from,
        to,
        change,
        applied: true,
        event: event.name(),
        actor,
        note,
    };
    let noop = || step(from, Change::Nothing, "gate".to_owned(), String::new());
    let refuse = || TransitionError::NotAllowed { id: p.facts.id.clone(), status: from, event: event.name() };
    match (from, event) {
        // proposed
        (S::Proposed, E::Decide) => {
            let decision = decide(ctx.policy, &p.facts, ctx.cumulative_mm, ctx.halted);
            let (to, note) = match &decision {
                Decision::AutoApprove => (
                    S::AutoApproved,
                    format!(
                        "within tolerance: {} mm, cumulative {} of {} mm on machine {} since its last human approval",
                        mm(p.facts.deviation_mm.abs()),
                        mm(ctx.cumulative_mm + p.facts.deviation_mm.abs()),
                        mm(ctx.policy.tolerance_mm),
                        p.facts.machine
                    ),
                ),
                Decision::NeedsApproval { .. } => (S::AwaitingApproval, decision.to_string()),
                Decision::Refuse { .. } => (S::Rejected, decision.to_string()),
            };
            Ok(step(to, Change::Decided(decision), "gate".to_owned(), note))
        }
        (S::Proposed, E::Halt { .. } | E::Resume { .. }) => Ok(noop()),
        (S::Proposed, E::Approve(_) | E::Reject(_) | E::Expire | E::Execute(_) | E::Reverse(_)) => Err(refuse()),

        // auto_approved
        (S::AutoApproved, E::Execute(report)) => execute(p, report, ctx, step),
        (S::AutoApproved, E::Reject(a)) => veto(p, a, ctx, step),
        (S::AutoApproved, E::Halt { by }) => {
            if !p.facts.initiated_by.is_ai() {
                return Ok(noop());
            }
            let rule = p.effective_rule(ctx.policy);
            let reason = "held by the stop command: an AI-initiated action runs only after a person approves it";
            let requirement = Requirement {
                required: rule.required,
                roles: rule.roles,
                safety_critical: ctx.policy.safety_critical_reason(&p.facts).is_some(),
                reasons: vec![reason.to_owned()],
            };
            Ok(step(S::AwaitingApproval, Change::Held(requirement), by.clone(), reason.to_owned()))
        }
        (S::AutoApproved, E::Resume { .. }) => Ok(noop()),
        (S::AutoApproved, E::Decide | E::Approve(_) | E::Expire | E::Reverse(_)) => Err(refuse()),

        // awaiting_approval
        (S::AwaitingApproval, E::Approve(a)) => match expired(p, ctx, step) {
            Some(expiry) => Ok(expiry),
            None if ctx.halted => Err(TransitionError::Halted { id: p.facts.id.clone() }),
            None => approve(p, a, ctx, step),
        },
        (S::AwaitingApproval, E::Reject(a)) => match expired(p, ctx, step) {
            Some(expiry) => Ok(expiry),
            None => veto(p, a, ctx, step),
        },
        (S::AwaitingApproval, E::Expire) => match expired(p, ctx, step) {
            Some(mut expiry) => {
                expiry.applied = true;
                Ok(expiry)
            }
            None => Err(TransitionError::NotDue {
                id: p.facts.id.clone(),
                due_at: p.expires_at(ctx.policy).unwrap_or(u64::MAX),
                now: ctx.now,
            }),
        },
        (S::AwaitingApproval, E::Halt { .. } | E::Resume { .. }) => Ok(noop()),
        (S::AwaitingApproval, E::Decide | E::Execute(_) | E::Reverse(_)) => Err(refuse()),

        // approved
        (S::Approved, E::Execute(report)) => execute(p, report, ctx, step),
        (S::Approved, E::Reject(a)) => veto(p, a, ctx, step),
        (S::Approved, E::Halt { .. } | E::Resume { .. }) => Ok(noop()),
        (S::Approved, E::Decide | E::Approve(_) | E::Expire | E::Reverse(_)) => Err(refuse()),

        // executed
        (S::Executed, E::Reverse(a)) => {
            let (user, recorded) = verify_signed(p, a, Verdict::Reverse, ctx)?;
            may_veto_or_reverse(p, &user, ctx)?;
            let note = format!("reversed by {}: {}", user.name, a.reason);
            Ok(step(S::Reversed, Change::Reversal(recorded), format!("user:{}", user.name), note))
        }
        (S::Executed, E::Halt { .. } | E::Resume { .. }) => Ok(noop()),
        (S::Executed, E::Decide | E::Approve(_) | E::Reject(_) | E::Expire | E::Execute(_)) => Err(refuse()),

        // final statuses
        (S::Rejected | S::Expired | S::Failed | S::Reversed, E::Halt { .. } | E::Resume { .. }) => Ok(noop()),
        (
            S::Rejected | S::Expired | S::Failed | S::Reversed,
            E::Decide | E::Approve(_) | E::Reject(_) | E::Expire | E::Execute(_) | E::Reverse(_),
        ) => Err(refuse()),
    }
}

/// The expiry step, if `p` (awaiting approval) is due; not `applied`, since it pre-empts another event.
fn expired(p: &Proposal, ctx: &Context<'_>, step: impl Fn(Status, Change, String, String) -> Step) -> Option<Step> {
    let due = p.expires_at(ctx.policy)?;
    if ctx.now < due {
        return None;
    }
    let note = format!("expired: waited for approval since {} (expiry_hours = {})", p.awaiting_since.unwrap_or(p.created_at), ctx.policy.approvals.expiry_hours);
    let mut s = step(Status::Expired, Change::Expired, "gate".to_owned(), note);
    s.applied = false;
    Some(s)
}

/// Checks a signed verdict for this proposal and returns its signer and the record to keep.
fn verify_signed(
    p: &Proposal,
    a: &Approval,
    verdict: Verdict,
    ctx: &Context<'_>,
) -> Result<(UserInfo, RecordedApproval), TransitionError> {
    let id = p.facts.id.clone();
    if a.proposal_id != p.facts.id {
        return Err(TransitionError::WrongProposal { id, signed_for: a.proposal_id.clone() });
    }
    if a.verdict != verdict {
        return Err(TransitionError::WrongVerdict { id, by: a.by.clone(), expected: verdict, found: a.verdict });
    }
    if a.payload_hash != p.facts.payload_hash {
        return Err(TransitionError::PayloadMismatch {
            id,
            by: a.by.clone(),
            signed: hex::encode(&a.payload_hash),
            proposal: hex::encode(&p.facts.payload_hash),
        });
    }
    let user = ctx.directory.lookup(&a.by).ok_or_else(|| TransitionError::UnknownUser { id: id.clone(), user: a.by.clone() })?;
    if !a.verifies_with(&user.public_key) {
        return Err(TransitionError::BadSignature { id, user: a.by.clone() });
    }
    let earliest = p.created_at.saturating_sub(MAX_CLOCK_SKEW_S);
    let latest = ctx.now.saturating_add(MAX_CLOCK_SKEW_S);
    if a.at < earliest || a.at > latest {
        return Err(TransitionError::BadTimestamp { id, user: a.by.clone(), at: a.at, created_at: p.created_at, now: ctx.now });
    }
    let recorded = RecordedApproval { role: user.role, approval: a.clone() };
    Ok((user, recorded))
}

fn approve(p: &Proposal, a: &Approval, ctx: &Context<'_>, step: impl Fn(Status, Change, String, String) -> Step) -> Result<Step, TransitionError> {
    let id = p.facts.id.clone();
    let (user, recorded) = verify_signed(p, a, Verdict::Approve, ctx)?;
    if p.facts.initiated_by.person() == Some(user.name.as_str()) {
        return Err(TransitionError::SelfApproval { id, user: user.name });
    }
    let rule = p.effective_rule(ctx.policy);
    if rule.roles.is_empty() {
        return Err(TransitionError::NoEligibleRole { id });
    }
    if !rule.roles.contains(&user.role) {
        return Err(TransitionError::RoleNotAllowed {
            id,
            user: user.name,
            role: user.role,
            allowed: rule.roles,
            safety_critical: p.requirement.as_ref().is_some_and(|r| r.safety_critical),
        });
    }
    let have: Vec<&str> = p.approvals.iter().map(|r| r.approval.by.as_str()).collect();
    if have.contains(&user.name.as_str()) {
        return Err(TransitionError::DuplicateApprover { id, user: user.name, have: have.len() as u32, required: rule.required });
    }
    let count = have.len() as u32 + 1;
    let to = if count >= rule.required { Status::Approved } else { Status::AwaitingApproval };
    let note = if to == Status::Approved {
        format!("approved by {} ({count} of {} distinct approvers)", user.name, rule.required)
    } else {
        format!("approval {count} of {} by {}; waiting for {} more distinct approver(s)", rule.required, user.name, rule.required - count)
    };
    Ok(step(to, Change::Approval(recorded), format!("user:{}", user.name), note))
}

/// Who may veto or reverse: an eligible approver for the class, or the person who proposed it.
fn may_veto_or_reverse(p: &Proposal, user: &UserInfo, ctx: &Context<'_>) -> Result<(), TransitionError> {
    let rule = p.effective_rule(ctx.policy);
    if rule.roles.contains(&user.role) || p.facts.initiated_by.person() == Some(user.name.as_str()) {
        return Ok(());
    }
    Err(TransitionError::RoleNotAllowed {
        id: p.facts.id.clone(),
        user: user.name.clone(),
        role: user.role,
        allowed: rule.roles,
        safety_critical: p.requirement.as_ref().is_some_and(|r| r.safety_critical),
    })
}

fn veto(p: &Proposal, a: &Approval, ctx: &Context<'_>, step: impl Fn(Status, Change, String, String) -> Step) -> Result<Step, TransitionError> {
    let (user, recorded) = verify_signed(p, a, Verdict::Reject, ctx)?;
    may_veto_or_reverse(p, &user, ctx)?;
    let note = format!("rejected by {}: {}", user.name, a.reason);
    Ok(step(Status::Rejected, Change::Rejection(recorded), format!("user:{}", user.name), note))
}

fn execute(p: &Proposal, r: &ExecutionReport, ctx: &Context<'_>, step: impl Fn(Status, Change, String, String) -> Step) -> Result<Step, TransitionError> {
    let id = p.facts.id.clone();
    if r.proposal_id != p.facts.id || r.payload_hash != p.facts.payload_hash {
        return Err(TransitionError::ReportMismatch { id, report_for: r.proposal_id.clone() });
    }
    if p.status == Status::Approved {
        let rule = p.effective_rule(ctx.policy);
        let mut names: Vec<&str> = p.approvals.iter().map(|a| a.approval.by.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        if (names.len() as u32) < rule.required {
            return Err(TransitionError::Inconsistent {
                id,
                problem: format!("approved with {} distinct approvals where {} are required", names.len(), rule.required),
            });
        }
    }
    let record = ExecutionRecord {
        at: ctx.now,
        ok: r.ok,
        detail: r.detail.clone(),
        ledger_index: r.ledger_index,
        issued_at: r.issued_at,
        not_after: r.not_after,
        approved_by: r.approved_by.clone(),
        while_halted: ctx.halted,
    };
    let (to, verb) = if r.ok { (Status::Executed, "executed") } else { (Status::Failed, "failed") };
    let note = format!("{verb}: {}", r.detail);
    Ok(step(to, Change::Execution(record), "gate".to_owned(), note))
}

/// Why an event cannot apply to a proposal. Nothing was changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransitionError {
    /// The event makes no sense in this status.
    #[error("proposal {id} is {status}: {event} is not possible in that status{}", hint(*status))]
    NotAllowed {
        /// The proposal.
        id: String,
        /// Its status.
        status: Status,
        /// The event.
        event: &'static str,
    },
    /// A signature made for another proposal.
    #[error("proposal {id}: the signature is for proposal {signed_for}, not this one")]
    WrongProposal {
        /// The proposal.
        id: String,
        /// What was signed.
        signed_for: String,
    },
    /// The signed verdict does not match the event (an approval used as a rejection, …).
    #[error("proposal {id}: {by} signed {found:?}, but this event needs a signed {expected:?}")]
    WrongVerdict {
        /// The proposal.
        id: String,
        /// The signer.
        by: String,
        /// The verdict this event needs.
        expected: Verdict,
        /// The verdict signed.
        found: Verdict,
    },
    /// The signer saw another payload than the one proposed.
    #[error("proposal {id}: {by} signed payload {signed}, but the proposal's payload is {proposal}; review the current payload and sign again")]
    PayloadMismatch {
        /// The proposal.
        id: String,
        /// The signer.
        by: String,
        /// Hash signed, hex.
        signed: String,
        /// Hash proposed, hex.
        proposal: String,
    },
    /// The signer is not a user.
    #[error("proposal {id}: {user} is not a known user; add them with an admin account first")]
    UnknownUser {
        /// The proposal.
        id: String,
        /// The name.
        user: String,
    },
    /// The signature does not verify with the user's key.
    #[error("proposal {id}: the signature of {user} does not verify with their public key (altered, or signed by someone else)")]
    BadSignature {
        /// The proposal.
        id: String,
        /// The user.
        user: String,
    },
    /// The signature's timestamp is before the proposal or in the future.
    #[error("proposal {id}: {user}'s signature is dated {at}, outside the proposal's life ({created_at} to now, {now}, give or take {MAX_CLOCK_SKEW_S} s); check the signer's clock and sign again")]
    BadTimestamp {
        /// The proposal.
        id: String,
        /// The signer.
        user: String,
        /// The signed time.
        at: u64,
        /// The proposal's creation.
        created_at: u64,
        /// Now.
        now: u64,
    },
    /// The proposer tried to approve their own proposal.
    #[error("proposal {id}: {user} proposed it and cannot approve it; another person must")]
    SelfApproval {
        /// The proposal.
        id: String,
        /// The user.
        user: String,
    },
    /// The user's role may not decide this class of proposal.
    #[error("proposal {id}: {user} is {role}, and only {} may decide {} proposal", roles(allowed), if *safety_critical { "this safety-critical" } else { "this" })]
    RoleNotAllowed {
        /// The proposal.
        id: String,
        /// The user.
        user: String,
        /// Their role.
        role: Role,
        /// Roles that may.
        allowed: Vec<Role>,
        /// Whether the proposal is safety-critical.
        safety_critical: bool,
    },
    /// The same person approved twice; it counts once.
    #[error("proposal {id}: {user} has already approved it; {have} of {required} distinct approvers so far, another person must approve")]
    DuplicateApprover {
        /// The proposal.
        id: String,
        /// The user.
        user: String,
        /// Distinct approvals so far.
        have: u32,
        /// Needed.
        required: u32,
    },
    /// The recorded requirement and the current policy share no role.
    #[error("proposal {id}: no role may approve it under both the policy it was decided under and the current one; propose it again")]
    NoEligibleRole {
        /// The proposal.
        id: String,
    },
    /// An approval while the gate is stopped.
    #[error("proposal {id}: the gate is stopped, so approvals are refused until a person resumes it (a veto is still accepted)")]
    Halted {
        /// The proposal.
        id: String,
    },
    /// An expiry tick before the deadline.
    #[error("proposal {id} does not expire before {due_at} (now {now})")]
    NotDue {
        /// The proposal.
        id: String,
        /// Deadline, Unix seconds.
        due_at: u64,
        /// Now.
        now: u64,
    },
    /// The proposal expired before the event could apply.
    #[error("proposal {id} expired at {at} before this could apply; propose it again")]
    Expired {
        /// The proposal.
        id: String,
        /// When it expired.
        at: u64,
    },
    /// An execution report for another proposal or payload.
    #[error("proposal {id}: the execution report is for proposal {report_for} or another payload")]
    ReportMismatch {
        /// The proposal.
        id: String,
        /// The report's proposal.
        report_for: String,
    },
    /// The record contradicts itself (edited by hand or damaged).
    #[error("proposal {id}: inconsistent record: {problem}; rebuild the gate folder from the ledger")]
    Inconsistent {
        /// The proposal.
        id: String,
        /// What is wrong.
        problem: String,
    },
}

fn roles(roles: &[Role]) -> String {
    if roles.is_empty() {
        return "nobody".to_owned();
    }
    roles.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(" or ")
}

fn hint(status: Status) -> &'static str {
    match status {
        Status::Proposed => "; it must be decided first",
        Status::AutoApproved => "; it may execute, or be vetoed",
        Status::AwaitingApproval => "; it waits for approvals, a veto or expiry",
        Status::Approved => "; it may execute, or be vetoed",
        Status::Executed => "; it can only be reversed",
        Status::Rejected | Status::Expired | Status::Failed | Status::Reversed => "; that status is final, propose again",
    }
}

#[cfg(test)]
mod tests;
