//! Property tests: random sequences of proposals, approvals, vetoes, executions, reversals, expiry,
//! stops, resumes and restarts, with the gate's safety invariants checked after every step.

mod common;

use std::collections::{BTreeSet, HashSet};
use std::sync::OnceLock;

use common::{hash_of, People, T0, USERS};
use fos_gate::{
    Event, GateState, Initiator, LedgerDurability, Policy, Proposal, ProposalFacts, Role, Status, Verdict, EPSILON_MM,
};
use proptest::prelude::*;

struct Shared {
    _dir: tempfile::TempDir,
    people: People,
}

/// One user store for all cases (creating users costs argon2 runs).
fn shared() -> &'static Shared {
    static SHARED: OnceLock<Shared> = OnceLock::new();
    SHARED.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let people = People::create(dir.path());
        Shared { _dir: dir, people }
    })
}

const MACHINES: [&str; 2] = ["press-1", "lathe-2"];

#[derive(Debug, Clone)]
enum Op {
    Propose { machine: usize, tenth_um: u16, negative: bool, safety: bool, driver: bool, person: Option<usize> },
    Approve { target: usize, user: usize, wrong_hash: bool },
    Reject { target: usize, user: usize },
    Execute { target: usize, ok: bool, durable: bool },
    Reverse { target: usize, user: usize },
    Tick { hours: u8 },
    Halt,
    Resume { user: usize },
    Reload,
}

fn op() -> impl Strategy<Value = Op> {
    let user = 0..USERS.len();
    prop_oneof![
        3 => (0..2usize, 0..45u16, any::<bool>(), prop::bool::weighted(0.15), prop::bool::weighted(0.1), prop::option::weighted(0.2, 0..USERS.len()))
            .prop_map(|(machine, tenth_um, negative, safety, driver, person)| Op::Propose { machine, tenth_um, negative, safety, driver, person }),
        4 => (any::<usize>(), user.clone(), prop::bool::weighted(0.1)).prop_map(|(target, user, wrong_hash)| Op::Approve { target, user, wrong_hash }),
        1 => (any::<usize>(), user.clone()).prop_map(|(target, user)| Op::Reject { target, user }),
        5 => (any::<usize>(), prop::bool::weighted(0.85), prop::bool::weighted(0.9)).prop_map(|(target, ok, durable)| Op::Execute { target, ok, durable }),
        1 => (any::<usize>(), user.clone()).prop_map(|(target, user)| Op::Reverse { target, user }),
        1 => prop_oneof![9 => 0..4u8, 1 => 20..30u8].prop_map(|hours| Op::Tick { hours }),
        1 => Just(Op::Halt),
        2 => prop_oneof![3 => 2..7usize, 1 => 0..USERS.len()].prop_map(|user| Op::Resume { user }),
        1 => Just(Op::Reload),
    ]
}

struct Run {
    dir: tempfile::TempDir,
    gate: GateState,
    now: u64,
    next_id: usize,
    /// First sequence number recorded while the gate is stopped (None while running).
    halted_since_seq: Option<u64>,
}

fn max_seq(gate: &GateState) -> u64 {
    gate.proposals().flat_map(|p| p.history.iter().map(|h| h.seq)).max().unwrap_or(0)
}

/// One of the three newest proposals, so that events concentrate on proposals still in play.
fn target(gate: &GateState, i: usize) -> Option<&Proposal> {
    let mut all: Vec<&Proposal> = gate.proposals().collect();
    all.sort_by_key(|p| p.history[0].seq);
    let n = all.len().min(3);
    (n > 0).then(|| all[all.len() - 1 - i % n])
}

impl Run {
    fn new() -> Run {
        let dir = tempfile::tempdir().unwrap();
        let gate = GateState::open(dir.path(), Policy::default()).unwrap();
        Run { dir, gate, now: T0, next_id: 0, halted_since_seq: None }
    }

    fn step(&mut self, op: &Op) {
        let people = &shared().people;
        self.now += 60;
        let now = self.now;
        match op {
            Op::Propose { machine, tenth_um, negative, safety, driver, person } => {
                let id = format!("p{}", self.next_id);
                self.next_id += 1;
                let deviation = f64::from(*tenth_um) * 0.0001 * if *negative { -1.0 } else { 1.0 };
                let facts = ProposalFacts {
                    id: id.clone(),
                    kind: if *driver { "driver-write" } else { "setpoint-change" }.to_owned(),
                    machine: MACHINES[*machine].to_owned(),
                    subsystem: safety.then(|| "brake-caliper-casting".to_owned()),
                    tags: vec![],
                    deviation_mm: deviation,
                    initiated_by: match person {
                        Some(u) => Initiator::Person(USERS[*u].0.to_owned()),
                        None => Initiator::Ai { model: "m".to_owned() },
                    },
                    payload_hash: hash_of(&id),
                };
                self.gate.propose(facts, now).unwrap();
            }
            Op::Approve { target: t, user, wrong_hash } => {
                let Some(p) = target(&self.gate, *t) else { return };
                let (id, name) = (p.facts.id.clone(), USERS[*user].0);
                let hash = if *wrong_hash { hash_of("forged") } else { p.facts.payload_hash };
                let a = people.sign(name, &id, hash, Verdict::Approve, now);
                let proposer = p.facts.initiated_by.person() == Some(name);
                let again = p.approvals.iter().any(|r| r.approval.by == name);
                let result = self.gate.apply(&id, Event::Approve(a), &people.store, now);
                if *wrong_hash || proposer || again || !matches!(USERS[*user].1, Role::Approver | Role::Engineer) {
                    assert!(result.is_err(), "{name} ({:?}) approved {id}, wrong hash {wrong_hash}", USERS[*user].1);
                }
            }
            Op::Reject { target: t, user } => {
                let Some(p) = target(&self.gate, *t) else { return };
                let id = p.facts.id.clone();
                let a = people.sign(USERS[*user].0, &id, p.facts.payload_hash, Verdict::Reject, now);
                let _ = self.gate.apply(&id, Event::Reject(a), &people.store, now);
            }
            Op::Execute { target: t, ok, durable } => {
                let Some(p) = target(&self.gate, *t) else { return };
                let id = p.facts.id.clone();
                let Ok(token) = self.gate.approved_token(&id, &people.store) else { return };
                let proof = LedgerDurability { record_index: 9, committed_size: if *durable { 10 } else { 9 } };
                let result = self.gate.execution_capability(token, proof, now);
                if self.gate.is_halted() || !durable {
                    assert!(result.is_err(), "capability for {id} while halted or not durable");
                }
                let Ok(cap) = result else { return };
                self.gate.confirm(&cap, now).unwrap();
                self.gate.apply(&id, Event::Execute(cap.report(*ok, "driver said so")), &people.store, now).unwrap();
            }
            Op::Reverse { target: t, user } => {
                let Some(p) = target(&self.gate, *t) else { return };
                let id = p.facts.id.clone();
                let a = people.sign(USERS[*user].0, &id, p.facts.payload_hash, Verdict::Reverse, now);
                let _ = self.gate.apply(&id, Event::Reverse(a), &people.store, now);
            }
            Op::Tick { hours } => {
                self.now += u64::from(*hours) * 3600;
                self.gate.expire_due(self.now).unwrap();
            }
            Op::Halt => {
                if self.halted_since_seq.is_none() {
                    self.halted_since_seq = Some(max_seq(&self.gate) + 1);
                }
                self.gate.halt(people.user("olga"), "stop", now).unwrap();
            }
            Op::Resume { user } => {
                let (name, role) = USERS[*user];
                let result = self.gate.resume(people.user(name), "go", now);
                if matches!(role, Role::Approver | Role::Engineer) {
                    result.unwrap();
                    self.halted_since_seq = None;
                } else {
                    assert!(result.is_err(), "{name} ({role}) resumed the gate");
                }
            }
            Op::Reload => self.reload(),
        }
    }

    fn reload(&mut self) {
        let again = GateState::open(self.dir.path(), Policy::default()).unwrap();
        assert_eq!(again.proposals().collect::<Vec<_>>(), self.gate.proposals().collect::<Vec<_>>());
        assert_eq!(again.halt_info(), self.gate.halt_info());
        for m in MACHINES {
            assert_eq!(again.cumulative_mm(m), self.gate.cumulative_mm(m));
        }
        self.gate = again;
    }

    fn check(&self) {
        let people = &shared().people;
        let policy = self.gate.policy();
        let legal: HashSet<(Option<Status>, Status)> = {
            use Status as S;
            [
                (None, S::Proposed),
                (Some(S::Proposed), S::AutoApproved),
                (Some(S::Proposed), S::AwaitingApproval),
                (Some(S::Proposed), S::Rejected),
                (Some(S::AutoApproved), S::AutoApproved),
                (Some(S::AutoApproved), S::AwaitingApproval),
                (Some(S::AutoApproved), S::Rejected),
                (Some(S::AutoApproved), S::Executed),
                (Some(S::AutoApproved), S::Failed),
                (Some(S::AwaitingApproval), S::AwaitingApproval),
                (Some(S::AwaitingApproval), S::Approved),
                (Some(S::AwaitingApproval), S::Rejected),
                (Some(S::AwaitingApproval), S::Expired),
                (Some(S::Approved), S::Approved),
                (Some(S::Approved), S::Rejected),
                (Some(S::Approved), S::Executed),
                (Some(S::Approved), S::Failed),
                (Some(S::Executed), S::Reversed),
            ]
            .into_iter()
            .collect()
        };
        for p in self.gate.proposals() {
            let id = &p.facts.id;
            assert_eq!(p.history.last().map(|h| h.to), Some(p.status), "{id}: history ends elsewhere");
            assert!(p.history.windows(2).all(|w| w[0].seq < w[1].seq), "{id}: history out of order");
            for h in &p.history {
                assert!(legal.contains(&(h.from, h.to)), "{id}: illegal transition {:?} -> {}", h.from, h.to);
            }
            // Every recorded approval is by a distinct eligible person other than the proposer.
            let approvers: BTreeSet<&str> = p.approvals.iter().map(|r| r.approval.by.as_str()).collect();
            assert_eq!(approvers.len(), p.approvals.len(), "{id}: an approver recorded twice");
            for r in &p.approvals {
                assert_ne!(p.facts.initiated_by.person(), Some(r.approval.by.as_str()), "{id}: self-approval recorded");
                assert!(matches!(r.role, Role::Approver | Role::Engineer), "{id}: {} approved", r.role);
                assert!(!p.requirement.as_ref().unwrap().safety_critical || r.role == Role::Engineer);
            }
            // Nothing executes without an approval: automatic, or by enough distinct eligible people.
            for (i, h) in p.history.iter().enumerate().filter(|(_, h)| h.event == "execute") {
                let from = h.from.unwrap();
                assert!(matches!(from, Status::Approved | Status::AutoApproved), "{id}: executed from {from}");
                assert!(p.history[..i].iter().any(|e| e.event == "capability"), "{id}: executed without a capability");
                if from == Status::AutoApproved {
                    assert!(policy.safety_critical_reason(&p.facts).is_none() && !policy.always_needs_human(&p.facts.kind));
                    assert!(p.facts.deviation_mm.abs() <= policy.tolerance_mm + EPSILON_MM);
                } else {
                    let req = p.requirement.as_ref().unwrap();
                    let mut names = BTreeSet::new();
                    for r in &p.approvals {
                        let a = &r.approval;
                        let user = people.store.public_key(&a.by).unwrap();
                        assert!(a.verifies_with(&user) && a.payload_hash == p.facts.payload_hash);
                        assert!(req.roles.contains(&r.role) && matches!(r.role, Role::Approver | Role::Engineer));
                        assert_ne!(p.facts.initiated_by.person(), Some(a.by.as_str()), "{id}: self-approved");
                        names.insert(a.by.clone());
                    }
                    assert_eq!(names.len(), p.approvals.len(), "{id}: an approver counted twice");
                    assert!(names.len() as u32 >= req.required, "{id}: {} of {} approvals", names.len(), req.required);
                    if req.safety_critical {
                        assert!(names.len() >= 2, "{id}: two-person rule broken");
                    }
                }
            }
        }
        // Small automatic changes never add up beyond the tolerance without a person in between.
        for m in MACHINES {
            let on: Vec<&Proposal> = self.gate.proposals().filter(|p| p.facts.machine == m).collect();
            let last_human = on
                .iter()
                .flat_map(|p| &p.history)
                .filter(|h| h.to == Status::Approved && h.from != Some(Status::Approved))
                .map(|h| h.seq)
                .max()
                .unwrap_or(0);
            let automatic: f64 = on
                .iter()
                .filter(|p| {
                    p.history.iter().any(|h| h.event == "execute" && h.from == Some(Status::AutoApproved) && h.seq > last_human)
                })
                .map(|p| p.facts.deviation_mm.abs())
                .sum();
            assert!(automatic <= policy.tolerance_mm + EPSILON_MM, "{m}: {automatic} mm applied automatically");
            assert!(self.gate.cumulative_mm(m) <= policy.tolerance_mm + EPSILON_MM, "{m}: budget overrun");
        }
        // A stopped gate neither auto-approves AI actions nor issues capabilities.
        if let Some(since) = self.halted_since_seq {
            assert!(self.gate.is_halted());
            for p in self.gate.proposals() {
                if p.facts.initiated_by.is_ai() {
                    assert_ne!(p.status, Status::AutoApproved, "{}: AI action not held", p.facts.id);
                }
                for h in p.history.iter().filter(|h| h.seq >= since) {
                    assert_ne!(h.event, "capability", "{}: capability while stopped", p.facts.id);
                    let auto_ai = h.to == Status::AutoApproved && h.from == Some(Status::Proposed) && p.facts.initiated_by.is_ai();
                    assert!(!auto_ai, "{}: AI action auto-approved while stopped", p.facts.id);
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_event_sequences_keep_the_gate_safe(ops in prop::collection::vec(op(), 1..40)) {
        let mut run = Run::new();
        for op in &ops {
            run.step(op);
            run.check();
        }
        run.reload();
        run.check();
    }

    #[test]
    fn automatic_changes_on_one_machine_never_exceed_the_tolerance(tenths in prop::collection::vec(0..40u16, 1..30)) {
        let mut run = Run::new();
        for t in tenths {
            run.step(&Op::Propose { machine: 0, tenth_um: t, negative: t % 2 == 0, safety: false, driver: false, person: None });
            let last = max_seq(&run.gate);
            let id = run.gate.proposals().find(|p| p.history.iter().any(|h| h.seq == last)).unwrap().facts.id.clone();
            let index = run.gate.proposals().position(|p| p.facts.id == id).unwrap();
            run.step(&Op::Execute { target: index, ok: true, durable: true });
            run.check();
        }
        let automatic: f64 = run
            .gate
            .proposals()
            .filter(|p| p.status == Status::Executed && p.approvals.is_empty())
            .map(|p| p.facts.deviation_mm.abs())
            .sum();
        prop_assert!(automatic <= 0.003 + EPSILON_MM);
    }
}
