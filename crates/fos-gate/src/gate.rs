//! The gate's working state on disk, the stop command, and execution capabilities.
//!
//! ```text
//! DATA/gate/state.json              {"version": 1, "halted": bool, "halt": null | {"by", "at", "reason"},
//!                                    "resumed": null | {"by", "at", "reason"}}   (the last resume)
//! DATA/gate/proposals/ID.json       one [`Proposal`] each, pretty JSON
//! ```
//!
//! Every file is replaced atomically (temporary file, fsync, rename, fsync of the folder) before the call
//! that changed it returns. **The ledger is the authoritative record**: the CLI appends every proposal,
//! decision, approval, stop and execution to it; this folder is a working state that can be rebuilt from
//! the ledger. Proposal files must not be deleted by hand while the gate is in use: the cumulative
//! deviation is derived from them.
//!
//! **Cumulative deviation.** [`GateState::cumulative_mm`] is derived from the proposals, never stored, so
//! it cannot drift from them: for a machine (compared case-insensitively, after trimming), the sum of
//! `|deviation|` of its proposals that were auto-approved, were not themselves approved by people, did not
//! end without executing (vetoed or expired), and had not executed before the machine's last human
//! approval. So a human approval of a machine resets it (what executed before was under the person's
//! eyes), an auto-approved change counts from the moment it is approved (not only once executed, so two
//! pending changes cannot each fit the budget alone), and changes auto-approved but still pending at a
//! human approval keep counting. Events are ordered by a gate-wide sequence number in each history entry.
//!
//! **Stop.** [`GateState::halt`] records the stop in `state.json` first, then moves every AI-initiated
//! `auto_approved` proposal back to `awaiting_approval` (re-done on [`GateState::open`] if a crash came in
//! between). While stopped, AI-initiated proposals are never auto-approved and no execution capability is
//! issued for any proposal. [`GateState::resume`] lifts the stop; held proposals stay held.
//!
//! **Execution.** A driver write needs an [`ExecutionCapability`], obtained in two typed steps:
//! [`GateState::approved_token`] re-verifies the approvals (signatures against the approvers' current
//! keys and roles, distinct people, enough of them) and returns an [`ApprovedToken`], which nothing else
//! can construct; [`GateState::execution_capability`] exchanges it for a capability only when the gate is
//! not stopped, the proposal has not changed since, and the caller proves that the ledger record of the
//! approval is durable ([`LedgerDurability`]: its index is below the ledger's committed size). The
//! capability carries what a `WritePermit` needs; [`GateState::confirm`] re-checks the stop just before
//! the write, and [`ExecutionCapability::report`] turns it into the [`Event::Execute`] that records the
//! outcome.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::decision::ProposalFacts;
use crate::policy::Policy;
use crate::state::{transition, Change, Context, Event, ExecutionReport, IssuedCapability, Proposal, Status, Step, TransitionError};
use crate::store::write_atomic;
use crate::users::{AuthenticatedUser, Directory, Role, UserInfo};

/// The folder inside the data directory.
pub const GATE_DIR: &str = "gate";
/// The gate-wide state file inside [`GATE_DIR`].
pub const STATE_FILE: &str = "state.json";
/// The folder of proposal files inside [`GATE_DIR`].
pub const PROPOSALS_DIR: &str = "proposals";

const FORMAT_VERSION: u32 = 1;

/// Who stopped (or resumed) the gate, when and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HaltInfo {
    /// `user:NAME` or `system:SOURCE`.
    pub by: String,
    /// Unix seconds.
    pub at: u64,
    /// Why.
    pub reason: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StateFile {
    version: u32,
    halted: bool,
    halt: Option<HaltInfo>,
    #[serde(default)]
    resumed: Option<HaltInfo>,
}

/// Proof, from the ledger, that the approval record is durable: the record's index and the ledger's
/// committed size (a checkpoint's tree size, or the size after an fsync). Durable iff
/// `record_index < committed_size`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LedgerDurability {
    /// Index (0-based) of the ledger record of the approval (or of the automatic decision).
    pub record_index: u64,
    /// Number of records durably committed.
    pub committed_size: u64,
}

impl LedgerDurability {
    /// Whether the record is durable.
    pub fn is_durable(&self) -> bool {
        self.record_index < self.committed_size
    }
}

/// Proof that a proposal is approved (by people or by the policy), as re-verified by
/// [`GateState::approved_token`]; the only way to an [`ExecutionCapability`].
#[derive(Debug)]
#[must_use = "an approved token is only useful exchanged for an execution capability"]
pub struct ApprovedToken {
    proposal_id: String,
    status: Status,
    approved_by: Vec<String>,
    last_seq: u64,
}

impl ApprovedToken {
    /// The proposal.
    pub fn proposal_id(&self) -> &str {
        &self.proposal_id
    }

    /// `approved` or `auto_approved`.
    pub fn status(&self) -> Status {
        self.status
    }

    /// Who approved (`policy` for an automatic approval).
    pub fn approved_by(&self) -> &[String] {
        &self.approved_by
    }
}

/// Permission to carry out one approved proposal until `not_after`. Not `Clone`: it is used once, and
/// [`ExecutionCapability::report`] consumes it.
#[derive(Debug)]
#[must_use = "report the outcome with ExecutionCapability::report and GateState::apply"]
pub struct ExecutionCapability {
    proposal_id: String,
    kind: String,
    machine: String,
    payload_hash: [u8; 32],
    status: Status,
    approved_by: Vec<String>,
    ledger_index: u64,
    issued_at: u64,
    not_after: u64,
}

impl ExecutionCapability {
    /// The proposal (use it as the write permit's id).
    pub fn proposal_id(&self) -> &str {
        &self.proposal_id
    }

    /// The proposal's kind.
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// The machine.
    pub fn machine(&self) -> &str {
        &self.machine
    }

    /// The payload hash approved; the caller must check the payload it executes hashes to it.
    pub fn payload_hash(&self) -> &[u8; 32] {
        &self.payload_hash
    }

    /// Who approved (`policy` for an automatic approval).
    pub fn approved_by(&self) -> &[String] {
        &self.approved_by
    }

    /// Ledger index of the durable approval record.
    pub fn ledger_index(&self) -> u64 {
        self.ledger_index
    }

    /// When it was issued, Unix seconds.
    pub fn issued_at(&self) -> u64 {
        self.issued_at
    }

    /// End of validity, Unix seconds.
    pub fn not_after(&self) -> u64 {
        self.not_after
    }

    /// The outcome of carrying it out, to apply as [`Event::Execute`].
    pub fn report(self, ok: bool, detail: impl Into<String>) -> ExecutionReport {
        ExecutionReport {
            proposal_id: self.proposal_id,
            payload_hash: self.payload_hash,
            ok,
            detail: detail.into(),
            ledger_index: self.ledger_index,
            issued_at: self.issued_at,
            not_after: self.not_after,
            approved_by: self.approved_by,
        }
    }
}

/// All proposals, the stop flag and the policy; persisted under `DATA/gate/`. See the module docs.
#[derive(Debug)]
pub struct GateState {
    dir: PathBuf,
    policy: Policy,
    halt: Option<HaltInfo>,
    resumed: Option<HaltInfo>,
    proposals: BTreeMap<String, Proposal>,
    next_seq: u64,
}

/// A directory with nobody in it, for events that need no users.
struct NoUsers;

impl Directory for NoUsers {
    fn lookup(&self, _name: &str) -> Option<UserInfo> {
        None
    }
}

impl GateState {
    /// Opens (creating if needed) `data_dir/gate/` and loads it.
    pub fn open(data_dir: impl AsRef<Path>, policy: Policy) -> Result<GateState, GateError> {
        let dir = data_dir.as_ref().join(GATE_DIR);
        let proposals_dir = dir.join(PROPOSALS_DIR);
        fs::create_dir_all(&proposals_dir).map_err(|source| GateError::Io { path: proposals_dir.clone(), source })?;
        let state_path = dir.join(STATE_FILE);
        let (halt, resumed) = match fs::read_to_string(&state_path) {
            Ok(text) => {
                let corrupt = |problem: String| GateError::Corrupt { path: state_path.clone(), problem };
                let s: StateFile = serde_json::from_str(&text).map_err(|e| corrupt(e.to_string()))?;
                if s.version != FORMAT_VERSION {
                    return Err(corrupt(format!("version {} is not {FORMAT_VERSION}", s.version)));
                }
                if s.halted != s.halt.is_some() {
                    return Err(corrupt("`halted` and `halt` disagree".to_owned()));
                }
                (s.halt, s.resumed)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => (None, None),
            Err(source) => return Err(GateError::Io { path: state_path, source }),
        };
        let mut proposals = BTreeMap::new();
        let entries = fs::read_dir(&proposals_dir).map_err(|source| GateError::Io { path: proposals_dir.clone(), source })?;
        for entry in entries {
            let entry = entry.map_err(|source| GateError::Io { path: proposals_dir.clone(), source })?;
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') {
                continue;
            }
            let corrupt = |problem: String| GateError::Corrupt { path: path.clone(), problem };
            let Some(stem) = name.strip_suffix(".json") else {
                return Err(corrupt("not a proposal file (NAME.json); move it out of the folder".to_owned()));
            };
            let text = fs::read_to_string(&path).map_err(|source| GateError::Io { path: path.clone(), source })?;
            let p: Proposal = serde_json::from_str(&text).map_err(|e| corrupt(e.to_string()))?;
            if p.facts.id != stem {
                return Err(corrupt(format!("holds proposal {:?}, not {stem:?}", p.facts.id)));
            }
            if p.history.is_empty() {
                return Err(corrupt("has no history".to_owned()));
            }
            proposals.insert(p.facts.id.clone(), p);
        }
        let next_seq = proposals.values().flat_map(|p| p.history.iter().map(|h| h.seq)).max().map_or(1, |s| s + 1);
        let mut gate = GateState { dir, policy, halt, resumed, proposals, next_seq };
        if let Some(h) = gate.halt.clone() {
            gate.hold_all(&h.by, h.at)?;
        }
        Ok(gate)
    }

    /// The folder (`DATA/gate`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The policy in force.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Whether the gate is stopped.
    pub fn is_halted(&self) -> bool {
        self.halt.is_some()
    }

    /// Who stopped it, when and why.
    pub fn halt_info(&self) -> Option<&HaltInfo> {
        self.halt.as_ref()
    }

    /// The last resume.
    pub fn last_resume(&self) -> Option<&HaltInfo> {
        self.resumed.as_ref()
    }

    /// One proposal.
    pub fn proposal(&self, id: &str) -> Option<&Proposal> {
        self.proposals.get(id)
    }

    /// Every proposal, by id.
    pub fn proposals(&self) -> impl Iterator<Item = &Proposal> {
        self.proposals.values()
    }

    /// Cumulative absolute deviation (mm) on `machine` that applied (or may apply) without a person since
    /// its last human approval. See the module documentation.
    pub fn cumulative_mm(&self, machine: &str) -> f64 {
        self.cumulative_excluding(machine, None)
    }

    fn cumulative_excluding(&self, machine: &str, exclude: Option<&str>) -> f64 {
        let key = machine_key(machine);
        let on_machine: Vec<&Proposal> =
            self.proposals.values().filter(|p| machine_key(&p.facts.machine) == key).collect();
        let last_human = on_machine
            .iter()
            .flat_map(|p| p.history.iter())
            .filter(|h| h.to == Status::Approved && h.from != Some(Status::Approved))
            .map(|h| h.seq)
            .max();
        on_machine
            .iter()
            .filter(|p| Some(p.facts.id.as_str()) != exclude && counts_against_budget(p, last_human))
            .map(|p| p.facts.deviation_mm.abs())
            // `f64::sum` of nothing is -0.0, which prints as "-0"; adding 0.0 makes it +0.0.
            .sum::<f64>()
            + 0.0
    }

    /// Records a new proposal and lets the policy decide it. Returns the decision step.
    pub fn propose(&mut self, facts: ProposalFacts, now: u64) -> Result<Step, GateError> {
        validate_proposal_id(&facts.id).map_err(|problem| GateError::InvalidProposal { id: facts.id.clone(), problem })?;
        if !facts.deviation_mm.is_finite() {
            return Err(GateError::InvalidProposal {
                id: facts.id.clone(),
                problem: format!("deviation {} mm is not a finite number", facts.deviation_mm),
            });
        }
        if let Some(p) = self.proposals.get(&facts.id) {
            return Err(GateError::DuplicateProposal { id: facts.id.clone(), status: p.status });
        }
        let id = facts.id.clone();
        let p = Proposal::new(facts, now, self.next_seq);
        self.write_proposal(&p)?;
        self.next_seq += 1;
        self.proposals.insert(id.clone(), p);
        self.apply_internal(&id, Event::Decide, &NoUsers, now)
    }

    /// Applies an event to a proposal and persists the result. An awaiting proposal past its expiry
    /// expires instead (persisted) and the call returns [`TransitionError::Expired`]. The stop command
    /// goes through [`GateState::halt`] and [`GateState::resume`], not through here.
    pub fn apply(&mut self, id: &str, event: Event, directory: &dyn Directory, now: u64) -> Result<Step, GateError> {
        match event {
            Event::Halt { .. } | Event::Resume { .. } => Err(GateError::UseStopCommands),
            Event::Decide
            | Event::Approve(_)
            | Event::Reject(_)
            | Event::Expire
            | Event::Execute(_)
            | Event::Reverse(_) => self.apply_internal(id, event, directory, now),
        }
    }

    fn apply_internal(&mut self, id: &str, event: Event, directory: &dyn Directory, now: u64) -> Result<Step, GateError> {
        let step = {
            let p = self.proposals.get(id).ok_or_else(|| GateError::UnknownProposal { id: id.to_owned() })?;
            let ctx = Context {
                policy: &self.policy,
                directory,
                now,
                halted: self.is_halted(),
                cumulative_mm: self.cumulative_excluding(&p.facts.machine, Some(id)),
            };
            transition(p, &event, &ctx)?
        };
        self.commit(id, &step, now)?;
        if !step.applied {
            return Err(TransitionError::Expired { id: id.to_owned(), at: now }.into());
        }
        Ok(step)
    }

    fn commit(&mut self, id: &str, step: &Step, now: u64) -> Result<(), GateError> {
        if step.is_noop() {
            return Ok(());
        }
        let Some(current) = self.proposals.get(id) else {
            return Err(GateError::UnknownProposal { id: id.to_owned() });
        };
        let mut p = current.clone();
        p.apply(step, self.next_seq, now);
        self.write_proposal(&p)?;
        self.next_seq += 1;
        self.proposals.insert(id.to_owned(), p);
        Ok(())
    }

    /// Expires every proposal that waited past its expiry; returns their ids.
    pub fn expire_due(&mut self, now: u64) -> Result<Vec<String>, GateError> {
        let due: Vec<String> = self
            .proposals
            .values()
            .filter(|p| p.expires_at(&self.policy).is_some_and(|at| at <= now))
            .map(|p| p.facts.id.clone())
            .collect();
        for id in &due {
            self.apply_internal(id, Event::Expire, &NoUsers, now)?;
        }
        Ok(due)
    }

    /// The stop command, by a person whose role may stop the gate: holds every AI-initiated action.
    /// Returns the ids moved back to `awaiting_approval`. Stopping a stopped gate changes nothing.
    pub fn halt(&mut self, by: &AuthenticatedUser, reason: &str, now: u64) -> Result<Vec<String>, GateError> {
        if !self.policy.stop.halt_roles.contains(&by.role()) {
            return Err(GateError::NotPermitted {
                user: by.name().to_owned(),
                role: by.role(),
                action: "stop the gate",
                allowed: self.policy.stop.halt_roles.clone(),
            });
        }
        self.halt_as(format!("user:{}", by.name()), reason, now)
    }

    /// The stop command from an automatic source (an interlock, a watchdog): `source` names it.
    pub fn halt_by_system(&mut self, source: &str, reason: &str, now: u64) -> Result<Vec<String>, GateError> {
        self.halt_as(format!("system:{source}"), reason, now)
    }

    fn halt_as(&mut self, by: String, reason: &str, now: u64) -> Result<Vec<String>, GateError> {
        if self.halt.is_none() {
            let halt = HaltInfo { by: by.clone(), at: now, reason: reason.to_owned() };
            self.write_state(Some(&halt), self.resumed.as_ref())?;
            self.halt = Some(halt);
        }
        self.hold_all(&by, now)
    }

    fn hold_all(&mut self, by: &str, now: u64) -> Result<Vec<String>, GateError> {
        let candidates: Vec<String> = self
            .proposals
            .values()
            .filter(|p| p.status == Status::AutoApproved && p.facts.initiated_by.is_ai())
            .map(|p| p.facts.id.clone())
            .collect();
        let mut held = Vec::new();
        for id in candidates {
            let step = self.apply_internal(&id, Event::Halt { by: by.to_owned() }, &NoUsers, now)?;
            if !step.is_noop() {
                held.push(id);
            }
        }
        Ok(held)
    }

    /// Lifts the stop, by a person whose role may resume. Held proposals stay held.
    pub fn resume(&mut self, by: &AuthenticatedUser, reason: &str, now: u64) -> Result<(), GateError> {
        if !self.policy.stop.resume_roles.contains(&by.role()) {
            return Err(GateError::NotPermitted {
                user: by.name().to_owned(),
                role: by.role(),
                action: "resume the gate",
                allowed: self.policy.stop.resume_roles.clone(),
            });
        }
        if self.halt.is_none() {
            return Ok(());
        }
        let resumed = HaltInfo { by: format!("user:{}", by.name()), at: now, reason: reason.to_owned() };
        self.write_state(None, Some(&resumed))?;
        self.halt = None;
        self.resumed = Some(resumed);
        Ok(())
    }

    /// Re-verifies that a proposal may execute and returns the token for
    /// [`GateState::execution_capability`].
    pub fn approved_token(&self, id: &str, directory: &dyn Directory) -> Result<ApprovedToken, GateError> {
        let p = self.proposals.get(id).ok_or_else(|| GateError::UnknownProposal { id: id.to_owned() })?;
        let approved_by = p
            .verify_approved(&self.policy, directory)
            .map_err(|problem| GateError::NotApproved { id: id.to_owned(), status: p.status, problem })?;
        Ok(ApprovedToken {
            proposal_id: id.to_owned(),
            status: p.status,
            approved_by,
            last_seq: p.history.last().map_or(0, |h| h.seq),
        })
    }

    /// Exchanges an approved token for an execution capability, valid for the policy's
    /// `permit_seconds`, once the ledger record of the approval is durable and only while the gate is not
    /// stopped. The issue is recorded in the proposal's history.
    pub fn execution_capability(
        &mut self,
        token: ApprovedToken,
        durability: LedgerDurability,
        now: u64,
    ) -> Result<ExecutionCapability, GateError> {
        let id = token.proposal_id.clone();
        if let Some(h) = &self.halt {
            return Err(GateError::Halted { id, halt: h.clone() });
        }
        let p = self.proposals.get(&id).ok_or_else(|| GateError::UnknownProposal { id: id.clone() })?;
        if p.status != token.status || p.history.last().map_or(0, |h| h.seq) != token.last_seq {
            return Err(GateError::StaleToken { id, status: p.status });
        }
        if !durability.is_durable() {
            return Err(GateError::NotDurable {
                id,
                record_index: durability.record_index,
                committed_size: durability.committed_size,
            });
        }
        let not_after = now.saturating_add(self.policy.permit_seconds);
        let issued = IssuedCapability { at: now, not_after, ledger_index: durability.record_index };
        let capability = ExecutionCapability {
            proposal_id: id.clone(),
            kind: p.facts.kind.clone(),
            machine: p.facts.machine.clone(),
            payload_hash: p.facts.payload_hash,
            status: p.status,
            approved_by: token.approved_by,
            ledger_index: durability.record_index,
            issued_at: now,
            not_after,
        };
        let step = Step {
            from: p.status,
            to: p.status,
            change: Change::Capability(issued),
            applied: true,
            event: "capability",
            actor: "gate".to_owned(),
            note: format!(
                "execution capability issued until {not_after}; approval durable at ledger index {} (committed size {})",
                durability.record_index, durability.committed_size
            ),
        };
        self.commit(&id, &step, now)?;
        Ok(capability)
    }

    /// Checks, just before the write, that the capability may still be used: the gate is not stopped,
    /// the capability has not expired, and the proposal is still as it was approved.
    pub fn confirm(&self, capability: &ExecutionCapability, now: u64) -> Result<(), GateError> {
        let id = capability.proposal_id.clone();
        if let Some(h) = &self.halt {
            return Err(GateError::Halted { id, halt: h.clone() });
        }
        if now > capability.not_after {
            return Err(GateError::CapabilityExpired { id, not_after: capability.not_after, now });
        }
        let p = self.proposals.get(&id).ok_or_else(|| GateError::UnknownProposal { id: id.clone() })?;
        if p.status != capability.status {
            return Err(GateError::StaleToken { id, status: p.status });
        }
        Ok(())
    }

    fn write_proposal(&self, p: &Proposal) -> Result<(), GateError> {
        let path = self.dir.join(PROPOSALS_DIR).join(format!("{}.json", p.facts.id));
        let mut bytes =
            serde_json::to_vec_pretty(p).map_err(|e| GateError::Corrupt { path: path.clone(), problem: e.to_string() })?;
        bytes.push(b'\n');
        write_atomic(&path, &bytes, false).map_err(|source| GateError::Io { path, source })
    }

    fn write_state(&self, halt: Option<&HaltInfo>, resumed: Option<&HaltInfo>) -> Result<(), GateError> {
        let path = self.dir.join(STATE_FILE);
        let state =
            StateFile { version: FORMAT_VERSION, halted: halt.is_some(), halt: halt.cloned(), resumed: resumed.cloned() };
        let mut bytes = serde_json::to_vec_pretty(&state)
            .map_err(|e| GateError::Corrupt { path: path.clone(), problem: e.to_string() })?;
        bytes.push(b'\n');
        write_atomic(&path, &bytes, false).map_err(|source| GateError::Io { path, source })
    }
}

fn machine_key(machine: &str) -> String {
    machine.trim().to_ascii_lowercase()
}

/// Whether a proposal's deviation still counts against its machine's budget. See the module docs.
fn counts_against_budget(p: &Proposal, last_human: Option<u64>) -> bool {
    let auto = p.history.iter().any(|h| h.to == Status::AutoApproved && h.from == Some(Status::Proposed));
    let human = p.history.iter().any(|h| h.to == Status::Approved);
    let ended_unexecuted = matches!(p.status, Status::Rejected | Status::Expired) && p.execution.is_none();
    let executed_at = p.history.iter().find(|h| h.event == "execute").map(|h| h.seq);
    let covered = matches!((executed_at, last_human), (Some(e), Some(t)) if e < t);
    auto && !human && !ended_unexecuted && !covered
}

/// Checks a proposal id: 1–128 characters `[A-Za-z0-9._-]`, starting with a letter, digit or `_`.
pub fn validate_proposal_id(id: &str) -> Result<(), String> {
    if id.is_empty() || id.len() > 128 {
        return Err(format!("must be 1 to 128 characters long, not {}", id.chars().count()));
    }
    if let Some(c) = id.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))) {
        return Err(format!("contains {c:?}; use only A-Z, a-z, 0-9, '.', '_' and '-'"));
    }
    if id.starts_with(['.', '-']) {
        return Err("must not start with '.' or '-'".to_owned());
    }
    Ok(())
}

/// What the gate's working state can refuse or fail at.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GateError {
    /// The state machine refused the event.
    #[error(transparent)]
    Transition(#[from] TransitionError),
    /// Reading or writing a file failed.
    #[error("{path}: {source}; check that the data folder exists and is writable")]
    Io {
        /// File or folder.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// A file is damaged.
    #[error("{path}: damaged gate state: {problem}; rebuild the gate folder from the ledger")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// No such proposal.
    #[error("no proposal {id}; list the proposals to find its id")]
    UnknownProposal {
        /// The id.
        id: String,
    },
    /// The id is taken.
    #[error("proposal {id} already exists ({status}); use a new id")]
    DuplicateProposal {
        /// The id.
        id: String,
        /// Its status.
        status: Status,
    },
    /// The proposal cannot be recorded.
    #[error("proposal {id:?}: {problem}")]
    InvalidProposal {
        /// The id.
        id: String,
        /// What is wrong.
        problem: String,
    },
    /// The user's role may not do this.
    #[error("{user} is {role} and may not {action}; only {} may", roles(allowed))]
    NotPermitted {
        /// The user.
        user: String,
        /// Their role.
        role: Role,
        /// What they tried.
        action: &'static str,
        /// Roles that may.
        allowed: Vec<Role>,
    },
    /// The gate is stopped.
    #[error("proposal {id}: the gate is stopped (by {} at {}: {}); nothing executes until it is resumed", halt.by, halt.at, halt.reason)]
    Halted {
        /// The proposal.
        id: String,
        /// The stop.
        halt: HaltInfo,
    },
    /// The proposal is not approved, or its approvals no longer verify.
    #[error("proposal {id} ({status}) may not execute: {problem}")]
    NotApproved {
        /// The proposal.
        id: String,
        /// Its status.
        status: Status,
        /// Why.
        problem: String,
    },
    /// The approval's ledger record is not yet durable.
    #[error("proposal {id}: the approval's ledger record {record_index} is not durable (committed size {committed_size}); commit the ledger first")]
    NotDurable {
        /// The proposal.
        id: String,
        /// The record's index.
        record_index: u64,
        /// The committed size.
        committed_size: u64,
    },
    /// The proposal changed since the token or capability was issued.
    #[error("proposal {id} changed since its approval was checked (now {status}); check it again")]
    StaleToken {
        /// The proposal.
        id: String,
        /// Its status now.
        status: Status,
    },
    /// The capability's validity ended.
    #[error("proposal {id}: the execution capability expired at {not_after} (now {now}); ask for a new one")]
    CapabilityExpired {
        /// The proposal.
        id: String,
        /// End of validity.
        not_after: u64,
        /// Now.
        now: u64,
    },
    /// Stop and resume are gate-wide.
    #[error("the stop command applies to the whole gate: use GateState::halt or GateState::resume")]
    UseStopCommands,
}

fn roles(roles: &[Role]) -> String {
    roles.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(" or ")
}
