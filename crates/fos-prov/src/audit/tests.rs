//! Unit tests of the sequence audit: a consistent history passes; each kind of inconsistency is named.

use ed25519_dalek::SigningKey;
use fos_act::offset::{ToolOffsetCorrection, ToolOffsetKind};
use fos_act::Action;
use fos_gate::{Approval, Decision, Role, Status, Verdict};

use super::*;
use crate::record::{Capability, DecisionEntity, Execution, ProposalEntity, Resume, Stop, UserAdded};

struct Log {
    records: Vec<Record>,
}

fn key(name: &str) -> SigningKey {
    SigningKey::from_bytes(&[name.len() as u8 + name.as_bytes()[0]; 32])
}

fn leaf(i: usize) -> [u8; 32] {
    [i as u8 + 1; 32]
}

fn person(name: &str, role: Role) -> Agent {
    Agent::Person { name: name.into(), role }
}

fn action() -> Action {
    Action::ToolOffset(ToolOffsetCorrection {
        machine: "mill-3".into(),
        tool_offset_number: 5,
        kind: ToolOffsetKind::LengthWear,
        current_mm: 0.0,
        delta_mm: 0.004,
        device_tag: None,
    })
}

impl Log {
    fn push(&mut self, r: Record) -> usize {
        self.records.push(r);
        self.records.len() - 1
    }

    fn last_ref(&self, role: &str) -> Ref {
        let i = self.records.len() - 1;
        Ref::record(i as u64, leaf(i), role)
    }

    fn user(&mut self, name: &str, role: Role, by: Option<(&str, Role)>) -> usize {
        let actor = by.map_or(person(name, role), |(b, r)| person(b, r));
        let body = UserAdded {
            name: name.into(),
            role,
            public_key: hex(key(name).verifying_key().as_bytes()),
            added_by: by.map(|(b, _)| b.to_owned()),
        };
        self.push(Record::new(Body::UserAdded(body), 0, actor))
    }

    fn signed(&self, verdict: Verdict, by: &str, role: Role, status: Status, approvals: u32, required: u32) -> Signed {
        Signed {
            proposal_id: "p-1".into(),
            role,
            signature: Approval::sign_with_key(by, &key(by), "p-1", action().payload_hash(), verdict, 100, ""),
            status,
            approvals,
            required,
        }
    }

    fn check(&self) -> Vec<Issue> {
        let entries: Vec<Entry<'_>> =
            self.records.iter().enumerate().map(|(i, r)| Entry { index: i as u64, leaf_hash: leaf(i), record: r }).collect();
        check_sequence(&entries)
    }
}

/// users, a proposal awaiting two approvals, both approvals, the capability and the execution.
fn history() -> Log {
    let mut log = Log { records: vec![] };
    log.user("ann", Role::Admin, None);
    log.user("bo", Role::Engineer, Some(("ann", Role::Admin)));
    log.user("cy", Role::Engineer, Some(("ann", Role::Admin)));
    log.user("op", Role::Operator, Some(("ann", Role::Admin)));
    let a = action();
    let proposal = ProposalEntity {
        proposal_id: "p-1".into(),
        payload_hash: a.payload_hash_hex(),
        deviation_mm: a.deviation_mm(),
        predicted_effect: a.predicted_effect(),
        machine: "mill-3".into(),
        action: a,
        subsystem: None,
        tags: vec![],
        rationale: String::new(),
    };
    log.push(Record::new(Body::Proposal(Box::new(proposal)), 0, person("op", Role::Operator)).used(Ref::record(3, leaf(3), "proposer")));
    let decision = DecisionEntity {
        proposal_id: "p-1".into(),
        status: Status::AwaitingApproval,
        decision: Decision::NeedsApproval { required: 2, roles: vec![Role::Engineer], reasons: vec![], safety_critical: true },
        deviation_mm: 0.004,
        cumulative_before_mm: 0.0,
        tolerance_mm: 0.003,
        halted: false,
    };
    let prev = log.last_ref("proposal");
    log.push(Record::new(Body::Decision(decision), 0, Agent::System { name: "gate".into() }).derived_from(prev));
    let s = log.signed(Verdict::Approve, "bo", Role::Engineer, Status::AwaitingApproval, 1, 2);
    let prev = log.last_ref("previous");
    log.push(Record::new(Body::Approval(s), 0, person("bo", Role::Engineer)).derived_from(prev));
    let s = log.signed(Verdict::Approve, "cy", Role::Engineer, Status::Approved, 2, 2);
    let prev = log.last_ref("previous");
    let approval = log.push(Record::new(Body::Approval(s), 0, person("cy", Role::Engineer)).derived_from(prev));
    let cap = Capability {
        proposal_id: "p-1".into(),
        payload_hash: action().payload_hash_hex(),
        approval_record: approval as u64,
        approved_by: vec!["bo".into(), "cy".into()],
        issued_at: 1,
        not_after: 2,
        target: "out/p-1.nc".into(),
    };
    let prev = log.last_ref("approval");
    log.push(Record::new(Body::Capability(cap), 0, Agent::System { name: "gate".into() }).used(prev));
    let exe = Execution {
        proposal_id: "p-1".into(),
        payload_hash: action().payload_hash_hex(),
        status: Status::Executed,
        detail: "written".into(),
        target: "out/p-1.nc".into(),
        outputs: vec![],
        writes: vec![],
    };
    let prev = log.last_ref("capability");
    log.push(Record::new(Body::Execution(exe), 0, Agent::System { name: "gate".into() }).derived_from(prev));
    log
}

fn has(issues: &[Issue], index: usize, text: &str) -> bool {
    issues.iter().any(|i| i.index == index as u64 && i.problem.contains(text))
}

#[test]
fn a_consistent_history_has_no_issue() {
    let log = history();
    assert_eq!(log.check(), vec![]);
    let entries: Vec<Entry<'_>> =
        log.records.iter().enumerate().map(|(i, r)| Entry { index: i as u64, leaf_hash: leaf(i), record: r }).collect();
    let summary = replay(&entries);
    assert_eq!(summary.statuses.get("p-1"), Some(&Status::Executed));
    assert_eq!(summary.users.len(), 4);
    assert_eq!(summary.users["bo"], (Role::Engineer, hex(key("bo").verifying_key().as_bytes())));
    assert!(!summary.halted);
}

#[test]
fn a_forged_or_misattributed_signature_is_named() {
    let mut log = history();
    let Body::Approval(s) = &mut log.records[7].body else { panic!("approval expected") };
    s.signature.reason = "edited after signing".into();
    assert!(has(&log.check(), 7, "does not verify with their public key in the ledger"));

    let mut log = history();
    let Body::Approval(s) = &mut log.records[7].body else { panic!("approval expected") };
    s.signature = Approval::sign_with_key("cy", &key("zz"), "p-1", action().payload_hash(), Verdict::Approve, 100, "");
    assert!(has(&log.check(), 7, "does not verify"));

    let mut log = history();
    let Body::Approval(s) = &mut log.records[7].body else { panic!("approval expected") };
    s.signature = Approval::sign_with_key("cy", &key("cy"), "p-1", [0; 32], Verdict::Approve, 100, "");
    assert!(has(&log.check(), 7, "signed payload"));
}

#[test]
fn the_same_approver_twice_and_the_proposer_approving_are_named() {
    let mut log = history();
    let s = log.signed(Verdict::Approve, "bo", Role::Engineer, Status::Approved, 2, 2);
    log.records[7].body = Body::Approval(s);
    log.records[7].actor = person("bo", Role::Engineer);
    let issues = log.check();
    assert!(has(&issues, 7, "approved it a second time"), "{issues:?}");

    let mut log = history();
    let s = log.signed(Verdict::Approve, "op", Role::Operator, Status::AwaitingApproval, 1, 2);
    log.records[6].body = Body::Approval(s);
    log.records[6].actor = person("op", Role::Operator);
    assert!(has(&log.check(), 6, "approved their own proposal"));
}

#[test]
fn an_execution_without_approval_or_capability_is_named() {
    // Remove both approvals: the capability and the execution come while the proposal awaits approval.
    let mut log = history();
    log.records.drain(6..8);
    let issues = log.check();
    assert!(issues.iter().any(|i| i.problem.contains("a capability of proposal p-1 while it is awaiting_approval")), "{issues:?}");
    assert!(issues.iter().any(|i| i.problem.contains("an execution of proposal p-1 while it is awaiting_approval")));

    // An execution with no capability before it.
    let mut log = history();
    log.records.remove(8);
    assert!(log.check().iter().any(|i| i.problem.contains("executed without a capability")));

    // A capability while the gate is stopped.
    let mut log = history();
    let stop = Record::new(Body::Stop(Stop { reason: "leak".into(), held: vec![] }), 0, person("op", Role::Operator));
    log.records.insert(8, stop);
    let issues = log.check();
    assert!(issues.iter().any(|i| i.problem.contains("while the gate was stopped")), "{issues:?}");
    let resume = Record::new(Body::Resume(Resume { reason: "ok".into() }), 0, person("bo", Role::Engineer));
    log.records.insert(9, resume);
    assert!(!log.check().iter().any(|i| i.problem.contains("while the gate was stopped")));
}

#[test]
fn references_users_and_payloads_are_checked() {
    let mut log = history();
    log.records[5].was_derived_from[0] = Ref::record(4, [0; 32], "proposal");
    assert!(has(&log.check(), 5, "hashes to"));
    log.records[5].was_derived_from[0] = Ref::record(9, leaf(9), "proposal");
    assert!(has(&log.check(), 5, "not earlier"));

    let mut log = history();
    log.records[4].actor = person("eve", Role::Engineer);
    assert!(has(&log.check(), 4, "eve is not a user added earlier"));

    let mut log = history();
    log.records[4].actor = person("op", Role::Engineer);
    assert!(has(&log.check(), 4, "acts as engineer but was added as operator"));

    let mut log = history();
    let Body::Proposal(p) = &mut log.records[4].body else { panic!("proposal expected") };
    p.deviation_mm = 0.001;
    p.payload_hash = hex(&[1; 32]);
    let issues = log.check();
    assert!(has(&issues, 4, "is not the action's"), "{issues:?}");
    assert!(has(&issues, 4, "deviation 0.001 mm"));

    let mut log = history();
    let Body::UserAdded(u) = &mut log.records[3].body else { panic!("user expected") };
    u.added_by = Some("bo".into());
    log.records[3].actor = person("bo", Role::Engineer);
    assert!(has(&log.check(), 3, "who is not an admin"));

    let mut log = history();
    log.records.swap(0, 1);
    let issues = log.check();
    assert!(!issues.is_empty());
}

#[test]
fn challenges_and_verdicts_need_the_right_people() {
    use crate::record::{Challenge, ChallengeVerdict, Finding, FindingOutcome, ModelId};
    let model = Agent::Model { name: "fos-bearing".into(), version: "1".into() };
    let finding = Finding {
        finding_id: "f-1".into(),
        model: ModelId { name: "fos-bearing".into(), version: "1".into() },
        machine: "motor-1".into(),
        summary: "inner race".into(),
        label: Some("inner".into()),
        score: Some(3.0),
        window: None,
        features: Default::default(),
        nearest_cases: vec![],
        simulations: vec![],
        file: None,
        signal: None,
    };
    let challenge = |by: &str, role: Role| {
        Record::new(
            Body::Challenge(Challenge { finding_id: "f-1".into(), reason: "humidity".into(), alternative: None }),
            0,
            person(by, role),
        )
    };
    let verdict = |by: &str, role: Role| {
        Record::new(
            Body::ChallengeVerdict(ChallengeVerdict {
                finding_id: "f-1".into(),
                outcome: FindingOutcome::Disputed,
                label: "humidity".into(),
                reason: "wet grout".into(),
            }),
            0,
            person(by, role),
        )
    };
    let base = || {
        let mut log = history();
        log.user("aud", Role::Auditor, Some(("ann", Role::Admin)));
        log.push(Record::new(Body::Finding(Box::new(finding.clone())), 0, model.clone()));
        log
    };

    // An operator challenges, an engineer settles: consistent.
    let mut log = base();
    log.push(challenge("op", Role::Operator));
    log.push(verdict("bo", Role::Engineer));
    assert_eq!(log.check(), vec![]);

    // An auditor may not challenge; an operator may not settle.
    let mut log = base();
    let c = log.push(challenge("aud", Role::Auditor));
    let v = log.push(verdict("op", Role::Operator));
    let issues = log.check();
    assert!(has(&issues, c, "may not challenge"), "{issues:?}");
    assert!(has(&issues, v, "only an engineer or approver"), "{issues:?}");

    // An engineer who challenged may not settle their own challenge; after a verdict they may challenge again.
    let mut log = base();
    log.push(challenge("bo", Role::Engineer));
    let v = log.push(verdict("bo", Role::Engineer));
    assert!(has(&log.check(), v, "settled their own challenge"));
}
