//! Shared fixture of the integration tests: a user store with one user per role (cheap argon2
//! parameters), a gate in a temporary data folder, and helpers to sign and propose.

#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::path::Path;

use fos_gate::{
    Approval, AuthenticatedUser, Event, GateError, GateState, Initiator, KdfParams, Policy, ProposalFacts, Role, Step,
    UserStore, Verdict,
};

/// Start of the tests' clock, Unix seconds.
pub const T0: u64 = 1_767_225_600;

/// Users: name, role.
pub const USERS: [(&str, Role); 8] = [
    ("ann", Role::Admin),
    ("olga", Role::Operator),
    ("alex", Role::Approver),
    ("amy", Role::Approver),
    ("erin", Role::Engineer),
    ("eve", Role::Engineer),
    ("frank", Role::Engineer),
    ("aud", Role::Auditor),
];

pub struct People {
    pub store: UserStore,
    pub logged_in: BTreeMap<&'static str, AuthenticatedUser>,
}

impl People {
    pub fn create(dir: &Path) -> People {
        let mut store = UserStore::open_with(dir, KdfParams::fast_insecure()).unwrap();
        store.add_user("ann", Role::Admin, "password-ann", None).unwrap();
        let ann = store.authenticate("ann", "password-ann").unwrap();
        for (name, role) in &USERS[1..] {
            store.add_user(name, *role, &format!("password-{name}"), Some(&ann)).unwrap();
        }
        let logged_in =
            USERS.iter().map(|(name, _)| (*name, store.authenticate(name, &format!("password-{name}")).unwrap())).collect();
        People { store, logged_in }
    }

    pub fn user(&self, name: &str) -> &AuthenticatedUser {
        &self.logged_in[name]
    }

    /// `name`'s signed verdict on `id` with the proposal's payload hash as they saw it.
    pub fn sign(&self, name: &str, id: &str, hash: [u8; 32], verdict: Verdict, at: u64) -> Approval {
        Approval::sign(self.user(name), id, hash, verdict, at, "checked")
    }
}

pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub people: People,
    pub gate: GateState,
    pub now: u64,
}

impl Fixture {
    pub fn new() -> Fixture {
        Fixture::with_policy(Policy::default())
    }

    pub fn with_policy(policy: Policy) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let people = People::create(&dir.path().join("users"));
        let gate = GateState::open(dir.path(), policy).unwrap();
        Fixture { dir, people, gate, now: T0 }
    }

    pub fn tick(&mut self, seconds: u64) -> u64 {
        self.now += seconds;
        self.now
    }

    pub fn propose(&mut self, facts: ProposalFacts) -> Step {
        let now = self.tick(1);
        self.gate.propose(facts, now).unwrap()
    }

    pub fn approve(&mut self, id: &str, name: &str) -> Result<Step, GateError> {
        let now = self.tick(1);
        let hash = self.gate.proposal(id).unwrap().facts.payload_hash;
        let a = self.people.sign(name, id, hash, Verdict::Approve, now);
        self.gate.apply(id, Event::Approve(a), &self.people.store, now)
    }

    pub fn status(&self, id: &str) -> fos_gate::Status {
        self.gate.proposal(id).unwrap().status
    }
}

/// An AI-initiated change on machine `press-1`.
pub fn ai(id: &str, deviation_mm: f64) -> ProposalFacts {
    ProposalFacts {
        id: id.to_owned(),
        kind: "setpoint-change".to_owned(),
        machine: "press-1".to_owned(),
        subsystem: None,
        tags: vec![],
        deviation_mm,
        initiated_by: Initiator::Ai { model: "drift-v1".to_owned() },
        payload_hash: hash_of(id),
    }
}

/// A distinct payload hash per id.
pub fn hash_of(id: &str) -> [u8; 32] {
    let mut h = [0u8; 32];
    for (i, b) in id.bytes().enumerate() {
        h[i % 32] ^= b.wrapping_mul(31).wrapping_add(i as u8);
    }
    h[31] ^= 0xa5;
    h
}
