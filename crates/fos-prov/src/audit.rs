//! The consistency of a whole sequence of records, from the records alone: what `fos audit verify` checks
//! beyond the Merkle log's integrity.
//!
//! [`check_sequence`] replays the records in ledger order and reports every [`Issue`]:
//!
//! - **references**: every record reference points to an earlier record that exists and has the cited
//!   leaf hash;
//! - **people**: a person acting is a user added earlier (by a `user_added` record) with that role; the
//!   first user is an admin who added themselves, every later one was added by an admin;
//! - **proposals**: the payload hash is the SHA-256 of the action's canonical JSON, and the deviation and
//!   predicted effect are what the action gives;
//! - **signatures**: every approval, rejection and reversal verifies with the signer's public key *as
//!   recorded in the ledger*, for this proposal's exact payload hash, with the verdict of its kind; an
//!   approver is never the proposer and counts once;
//! - **the state machine**: each record moves its proposal the way the gate may (a decision only once, an
//!   approval only while awaiting one, a stop holds only auto-approved proposals, …);
//! - **approval before action**: a capability rests on the record that approved the proposal (a person's
//!   final approval or the policy's automatic decision) and is never issued while the gate is stopped; an
//!   execution follows a capability for the same proposal and payload;
//! - **findings**: a challenge or verdict names a finding recorded earlier; a challenge comes from a person
//!   who is not an auditor, a verdict from an engineer or approver who is not among the open challengers.

use std::collections::{BTreeMap, BTreeSet};

use ed25519_dalek::VerifyingKey;
use fos_gate::{Decision, Role, Status, Verdict};

use crate::record::{hex, parse_hash, Agent, Body, Record, Ref, Signed};

/// One record of the sequence.
#[derive(Debug, Clone, Copy)]
pub struct Entry<'a> {
    /// Its ledger index.
    pub index: u64,
    /// Its leaf hash.
    pub leaf_hash: [u8; 32],
    /// The record.
    pub record: &'a Record,
}

/// Something inconsistent, at a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    /// The record's ledger index.
    pub index: u64,
    /// What is wrong.
    pub problem: String,
}

struct User {
    role: Role,
    public_key: String,
    key: Option<VerifyingKey>,
}

struct Track {
    payload_hash: String,
    status: Status,
    proposer: Option<String>,
    approvers: BTreeSet<String>,
    /// The record that approved it (person's final approval or automatic decision), while approved.
    approval_record: Option<u64>,
    capability: bool,
}

#[derive(Default)]
struct Replay {
    leaves: BTreeMap<u64, [u8; 32]>,
    users: BTreeMap<String, User>,
    proposals: BTreeMap<String, Track>,
    findings: BTreeSet<String>,
    /// Per finding, the people whose challenge is open (until a verdict settles it).
    challengers: BTreeMap<String, BTreeSet<String>>,
    halted: bool,
    issues: Vec<Issue>,
}

/// What the ledger says, replayed: its issues, and the state it implies, to compare with the working
/// state kept outside the ledger (`users.json`, the gate folder).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    /// Everything inconsistent.
    pub issues: Vec<Issue>,
    /// Each proposal's status after the last record about it.
    pub statuses: BTreeMap<String, Status>,
    /// Each user's role and public key (hex) as added.
    pub users: BTreeMap<String, (Role, String)>,
    /// Whether the gate is stopped after the last record.
    pub halted: bool,
}

/// Checks a sequence of records in ledger order (see the module docs). Indices missing from `entries`
/// (records that did not parse) are reported where something refers to them.
pub fn check_sequence(entries: &[Entry<'_>]) -> Vec<Issue> {
    replay(entries).issues
}

/// [`check_sequence`], and the state the records imply.
pub fn replay(entries: &[Entry<'_>]) -> Summary {
    let mut r = Replay { leaves: entries.iter().map(|e| (e.index, e.leaf_hash)).collect(), ..Replay::default() };
    for e in entries {
        r.entry(e);
    }
    Summary {
        statuses: r.proposals.iter().map(|(id, t)| (id.clone(), t.status)).collect(),
        users: r.users.iter().map(|(n, u)| (n.clone(), (u.role, u.public_key.clone()))).collect(),
        halted: r.halted,
        issues: r.issues,
    }
}

impl Replay {
    fn issue(&mut self, index: u64, problem: String) {
        self.issues.push(Issue { index, problem });
    }

    fn entry(&mut self, e: &Entry<'_>) {
        let rec = e.record;
        for reference in rec.references() {
            if let Ref::Record { index, leaf_hash, role } = reference {
                let problem = if *index >= e.index {
                    Some(format!("cites record {index} ({role}), which is not earlier"))
                } else {
                    match self.leaves.get(index) {
                        None => Some(format!("cites record {index} ({role}), which is missing or unreadable")),
                        Some(actual) if hex(actual) != *leaf_hash => Some(format!(
                            "cites record {index} ({role}) with leaf hash {leaf_hash}, but it hashes to {}",
                            hex(actual)
                        )),
                        Some(_) => None,
                    }
                };
                if let Some(p) = problem {
                    self.issue(e.index, p);
                }
            }
        }
        if let Agent::Person { name, role } = &rec.actor {
            let first_user = matches!(&rec.body, Body::UserAdded(u) if u.added_by.is_none() && &u.name == name);
            match self.users.get(name) {
                Some(u) if u.role != *role => {
                    let known = u.role;
                    self.issue(e.index, format!("actor {name} acts as {role} but was added as {known}"));
                }
                Some(_) => {}
                None if first_user => {}
                None => self.issue(e.index, format!("actor {name} is not a user added earlier in the ledger")),
            }
        }
        if let Some(id) = rec.body.proposal_id() {
            if !rec.about.iter().any(|a| a == id) {
                self.issue(e.index, format!("is about {:?} but concerns proposal {id}", rec.about));
            }
        }
        match &rec.body {
            Body::UserAdded(u) => self.user_added(e.index, &rec.actor, u),
            Body::Proposal(p) => {
                if self.proposals.contains_key(&p.proposal_id) {
                    self.issue(e.index, format!("proposal {} is proposed a second time", p.proposal_id));
                    return;
                }
                let hash = p.action.payload_hash_hex();
                if p.payload_hash != hash {
                    self.issue(e.index, format!("proposal {}: payload hash {} is not the action's {hash}", p.proposal_id, p.payload_hash));
                }
                if p.deviation_mm != p.action.deviation_mm() {
                    let want = p.action.deviation_mm();
                    self.issue(e.index, format!("proposal {}: deviation {} mm is not the action's {want} mm", p.proposal_id, p.deviation_mm));
                }
                if p.predicted_effect != p.action.predicted_effect() {
                    self.issue(e.index, format!("proposal {}: the predicted effect is not the action's", p.proposal_id));
                }
                let proposer = rec.actor.person().map(str::to_owned);
                self.proposals.insert(
                    p.proposal_id.clone(),
                    Track {
                        payload_hash: p.payload_hash.clone(),
                        status: Status::Proposed,
                        proposer,
                        approvers: BTreeSet::new(),
                        approval_record: None,
                        capability: false,
                    },
                );
            }
            Body::Decision(d) => {
                let Some(t) = self.track(e.index, &d.proposal_id, &[Status::Proposed], "a decision") else { return };
                let expected = match d.decision {
                    Decision::AutoApprove => Status::AutoApproved,
                    Decision::NeedsApproval { .. } => Status::AwaitingApproval,
                    Decision::Refuse { .. } => Status::Rejected,
                };
                t.status = d.status;
                t.approval_record = (d.status == Status::AutoApproved).then_some(e.index);
                if d.status != expected {
                    let id = d.proposal_id.clone();
                    self.issue(e.index, format!("proposal {id}: decision {} but status {}", d.decision, d.status));
                }
            }
            Body::Approval(s) => self.signed(e.index, s, Verdict::Approve),
            Body::Rejection(s) => self.signed(e.index, s, Verdict::Reject),
            Body::Reversal(s) => self.signed(e.index, s, Verdict::Reverse),
            Body::Expiry(x) => {
                if let Some(t) = self.track(e.index, &x.proposal_id, &[Status::AwaitingApproval], "an expiry") {
                    t.status = Status::Expired;
                }
            }
            Body::Stop(s) => {
                self.halted = true;
                for id in &s.held {
                    if !rec.about.contains(id) {
                        self.issue(e.index, format!("holds proposal {id} but is not about it"));
                    }
                    if let Some(t) = self.track(e.index, id, &[Status::AutoApproved], "a hold by the stop") {
                        t.status = Status::AwaitingApproval;
                        t.approval_record = None;
                    }
                }
            }
            Body::Resume(_) => self.halted = false,
            Body::Capability(c) => {
                if self.halted {
                    self.issue(e.index, format!("proposal {}: a capability was issued while the gate was stopped", c.proposal_id));
                }
                let ok = [Status::Approved, Status::AutoApproved];
                let Some(t) = self.track(e.index, &c.proposal_id, &ok, "a capability") else { return };
                t.capability = true;
                let (hash, approval) = (t.payload_hash.clone(), t.approval_record);
                if c.payload_hash != hash {
                    self.issue(e.index, format!("proposal {}: capability for payload {} but the proposal's is {hash}", c.proposal_id, c.payload_hash));
                }
                if approval != Some(c.approval_record) {
                    self.issue(
                        e.index,
                        format!(
                            "proposal {}: capability rests on record {}, but the record that approved it is {}",
                            c.proposal_id,
                            c.approval_record,
                            approval.map_or("none".into(), |a| a.to_string())
                        ),
                    );
                }
            }
            Body::Execution(x) => {
                let ok = [Status::Approved, Status::AutoApproved];
                let Some(t) = self.track(e.index, &x.proposal_id, &ok, "an execution") else { return };
                let (hash, capability) = (t.payload_hash.clone(), t.capability);
                t.status = x.status;
                if !capability {
                    self.issue(e.index, format!("proposal {}: executed without a capability recorded before", x.proposal_id));
                }
                if x.payload_hash != hash {
                    self.issue(e.index, format!("proposal {}: executed payload {} but the proposal's is {hash}", x.proposal_id, x.payload_hash));
                }
                if !matches!(x.status, Status::Executed | Status::Failed) {
                    self.issue(e.index, format!("proposal {}: an execution with status {}", x.proposal_id, x.status));
                }
            }
            Body::Finding(f) => {
                self.findings.insert(f.finding_id.clone());
            }
            Body::Challenge(c) => {
                self.finding_known(e.index, &c.finding_id);
                match &rec.actor {
                    Agent::Person { name, role } if *role != Role::Auditor => {
                        self.challengers.entry(c.finding_id.clone()).or_default().insert(name.clone());
                    }
                    other => self.issue(e.index, format!("finding {}: challenged by {}, who may not challenge (a person other than an auditor may)", c.finding_id, other.id())),
                }
            }
            Body::ChallengeVerdict(v) => {
                self.finding_known(e.index, &v.finding_id);
                let open = self.challengers.remove(&v.finding_id).unwrap_or_default();
                match &rec.actor {
                    Agent::Person { name, role: Role::Engineer | Role::Approver } => {
                        if open.contains(name) {
                            self.issue(e.index, format!("finding {}: {name} settled their own challenge", v.finding_id));
                        }
                    }
                    other => self.issue(e.index, format!("finding {}: a verdict by {}, but only an engineer or approver settles a finding", v.finding_id, other.id())),
                }
            }
        }
    }

    fn finding_known(&mut self, index: u64, id: &str) {
        if !self.findings.contains(id) {
            self.issue(index, format!("concerns finding {id}, which is not recorded earlier"));
        }
    }

    fn user_added(&mut self, index: u64, actor: &Agent, u: &crate::record::UserAdded) {
        if self.users.contains_key(&u.name) {
            self.issue(index, format!("user {} is added a second time", u.name));
            return;
        }
        let key = parse_hash(&u.public_key).ok().and_then(|b| VerifyingKey::from_bytes(&b).ok());
        if key.is_none() {
            self.issue(index, format!("user {}: public key is not a valid Ed25519 key", u.name));
        }
        match &u.added_by {
            None => {
                if !self.users.is_empty() {
                    self.issue(index, format!("user {} is added without an admin, but users exist", u.name));
                }
                if u.role != Role::Admin {
                    self.issue(index, format!("the first user {} is {}, not admin", u.name, u.role));
                }
            }
            Some(admin) => {
                if self.users.get(admin).map(|a| a.role) != Some(Role::Admin) {
                    self.issue(index, format!("user {} is added by {admin}, who is not an admin in the ledger", u.name));
                }
                if actor.person() != Some(admin.as_str()) {
                    self.issue(index, format!("user {} is added by {admin} but the actor is {}", u.name, actor.id()));
                }
            }
        }
        self.users.insert(u.name.clone(), User { role: u.role, public_key: u.public_key.clone(), key });
    }

    fn track(&mut self, index: u64, id: &str, from: &[Status], what: &str) -> Option<&mut Track> {
        let problem = match self.proposals.get(id) {
            None => Some(format!("{what} of proposal {id}, which is not proposed earlier")),
            Some(t) if !from.contains(&t.status) => Some(format!(
                "{what} of proposal {id} while it is {} per the ledger (allowed from {})",
                t.status,
                from.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" or ")
            )),
            Some(_) => None,
        };
        if let Some(p) = problem {
            self.issue(index, p);
            return None;
        }
        self.proposals.get_mut(id)
    }

    fn signed(&mut self, index: u64, s: &Signed, verdict: Verdict) {
        let id = s.proposal_id.clone();
        let a = &s.signature;
        let mut problems = Vec::new();
        if a.proposal_id != id {
            problems.push(format!("the signature is for proposal {}, not {id}", a.proposal_id));
        }
        if a.verdict != verdict {
            problems.push(format!("the signed verdict is {}, not {verdict}", a.verdict));
        }
        match self.users.get(&a.by) {
            None => problems.push(format!("signer {} is not a user added earlier in the ledger", a.by)),
            Some(u) => {
                if u.role != s.role {
                    problems.push(format!("signer {} is recorded as {} but was added as {}", a.by, s.role, u.role));
                }
                if !u.key.is_some_and(|k| a.verifies_with(&k)) {
                    problems.push(format!("the signature of {} does not verify with their public key in the ledger", a.by));
                }
            }
        }
        let from: &[Status] = match verdict {
            Verdict::Approve => &[Status::AwaitingApproval],
            Verdict::Reject => &[Status::AwaitingApproval, Status::AutoApproved, Status::Approved],
            Verdict::Reverse => &[Status::Executed],
        };
        let what = format!("a signed {verdict}");
        if let Some(t) = self.track(index, &id, from, &what) {
            if hex(&a.payload_hash) != t.payload_hash {
                problems.push(format!("{} signed payload {}, but the proposal's is {}", a.by, hex(&a.payload_hash), t.payload_hash));
            }
            match verdict {
                Verdict::Approve => {
                    if t.proposer.as_deref() == Some(a.by.as_str()) {
                        problems.push(format!("{} approved their own proposal", a.by));
                    }
                    if !t.approvers.insert(a.by.clone()) {
                        problems.push(format!("{} approved it a second time", a.by));
                    }
                    let have = t.approvers.len() as u32;
                    if s.approvals != have {
                        problems.push(format!("records {} approvals, the ledger holds {have}", s.approvals));
                    }
                    match s.status {
                        Status::Approved if have >= s.required => t.approval_record = Some(index),
                        Status::AwaitingApproval if have < s.required => {}
                        other => problems.push(format!("status {other} after {have} of {} approvals", s.required)),
                    }
                    t.status = s.status;
                }
                Verdict::Reject | Verdict::Reverse => {
                    let want = if verdict == Verdict::Reject { Status::Rejected } else { Status::Reversed };
                    if s.status != want {
                        problems.push(format!("status {} after a {verdict}", s.status));
                    }
                    t.status = want;
                    t.approval_record = None;
                }
            }
        }
        for p in problems {
            self.issue(index, format!("proposal {id}: {p}"));
        }
    }
}

#[cfg(test)]
mod tests;
