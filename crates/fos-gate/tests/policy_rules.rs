//! The gate's rules, as the issue states them: automatic within tolerance, people beyond it and for
//! safety-critical changes, the two-person rule, the stop, expiry, and signatures bound to the payload.

mod common;

use common::{ai, hash_of, Fixture};
use fos_gate::{
    Change, Decision, Event, GateError, GateState, Initiator, LedgerDurability, Policy, Role, Status, TransitionError,
    UserStore, Verdict,
};

const DURABLE: LedgerDurability = LedgerDurability { record_index: 4, committed_size: 5 };

#[test]
fn a_0_002_mm_non_safety_change_applies_automatically_and_is_logged() {
    let mut f = Fixture::new();
    let step = f.propose(ai("p1", 0.002));
    assert_eq!(step.to, Status::AutoApproved);
    assert_eq!(step.change, Change::Decided(Decision::AutoApprove));
    let p = f.gate.proposal("p1").unwrap();
    let logged: Vec<(&str, &str)> = p.history.iter().map(|h| (h.event.as_str(), h.actor.as_str())).collect();
    assert_eq!(logged, [("propose", "ai:drift-v1"), ("decide", "gate")]);
    assert!(p.history[1].note.contains("within tolerance"), "{}", p.history[1].note);
}

#[test]
fn a_0_004_mm_change_waits_for_an_approver() {
    let mut f = Fixture::new();
    let step = f.propose(ai("p1", -0.004));
    assert_eq!(step.to, Status::AwaitingApproval);
    let Change::Decided(Decision::NeedsApproval { required, roles, reasons, safety_critical }) = step.change else {
        panic!("{step:?}")
    };
    assert_eq!((required, roles, safety_critical), (1, vec![Role::Approver, Role::Engineer], false));
    assert!(reasons[0].contains("exceeds the tolerance"), "{reasons:?}");
    f.approve("p1", "alex").unwrap();
    assert_eq!(f.status("p1"), Status::Approved);
}

#[test]
fn an_operator_cannot_approve_nor_an_auditor_nor_an_admin() {
    let mut f = Fixture::new();
    f.propose(ai("p1", 0.004));
    for name in ["olga", "aud", "ann"] {
        let e = f.approve("p1", name).unwrap_err();
        let text = e.to_string();
        assert!(matches!(e, GateError::Transition(TransitionError::RoleNotAllowed { .. })), "{e}");
        assert!(text.contains(name) && text.contains("only approver or engineer"), "{text}");
    }
    assert_eq!(f.status("p1"), Status::AwaitingApproval);
    assert!(f.gate.proposal("p1").unwrap().approvals.is_empty());
}

#[test]
fn a_safety_critical_change_needs_two_distinct_engineers_at_any_size() {
    let mut f = Fixture::new();
    let mut facts = ai("p1", 0.0001);
    facts.subsystem = Some("brake-caliper-casting".to_owned());
    let step = f.propose(facts);
    assert_eq!(step.to, Status::AwaitingApproval);
    let Change::Decided(Decision::NeedsApproval { required: 2, roles, safety_critical: true, .. }) = step.change else {
        panic!("{step:?}")
    };
    assert_eq!(roles, vec![Role::Engineer]);
    // An approver is not enough for a safety-critical change.
    let e = f.approve("p1", "alex").unwrap_err().to_string();
    assert!(e.contains("safety-critical"), "{e}");
    // One engineer leaves it waiting; the same engineer twice does not count; a second one approves.
    let step = f.approve("p1", "erin").unwrap();
    assert_eq!((step.from, step.to), (Status::AwaitingApproval, Status::AwaitingApproval));
    let e = f.approve("p1", "erin").unwrap_err();
    assert!(matches!(e, GateError::Transition(TransitionError::DuplicateApprover { have: 1, required: 2, .. })), "{e}");
    assert_eq!(f.status("p1"), Status::AwaitingApproval);
    assert_eq!(f.approve("p1", "eve").unwrap().to, Status::Approved);
    let token = f.gate.approved_token("p1", &f.people.store).unwrap();
    assert_eq!(token.approved_by(), ["erin", "eve"]);
}

#[test]
fn anything_tagged_safety_critical_counts_and_the_tag_cannot_be_dodged_by_case() {
    let mut f = Fixture::new();
    let mut facts = ai("p1", 0.0);
    facts.tags = vec!["Safety-Critical".to_owned()];
    assert_eq!(f.propose(facts).to, Status::AwaitingApproval);
    let mut facts = ai("p2", 0.0);
    facts.subsystem = Some("FLIGHT-CONTROL-ACTUATION".to_owned());
    assert_eq!(f.propose(facts).to, Status::AwaitingApproval);
}

#[test]
fn without_the_two_person_rule_one_engineer_suffices() {
    let mut policy = Policy::default();
    policy.approvals.two_person_rule = false;
    policy.approvals.min_approvers_safety_critical = 1;
    let mut f = Fixture::with_policy(policy);
    let mut facts = ai("p1", 0.0001);
    facts.subsystem = Some("flight-control-actuation".to_owned());
    f.propose(facts);
    assert_eq!(f.approve("p1", "erin").unwrap().to, Status::Approved);
}

#[test]
fn the_proposer_cannot_approve_their_own_proposal() {
    let mut f = Fixture::new();
    let mut facts = ai("p1", 0.004);
    facts.initiated_by = Initiator::Person("erin".to_owned());
    f.propose(facts);
    let e = f.approve("p1", "erin").unwrap_err();
    assert!(matches!(e, GateError::Transition(TransitionError::SelfApproval { .. })), "{e}");
    assert_eq!(f.approve("p1", "eve").unwrap().to, Status::Approved);
}

#[test]
fn a_signature_over_another_payload_or_by_another_key_is_refused() {
    let mut f = Fixture::new();
    f.propose(ai("p1", 0.004));
    let now = f.tick(1);
    let other = f.people.sign("alex", "p1", hash_of("something else"), Verdict::Approve, now);
    let e = f.gate.apply("p1", Event::Approve(other.clone()), &f.people.store, now).unwrap_err();
    assert!(matches!(e, GateError::Transition(TransitionError::PayloadMismatch { .. })), "{e}");
    // Relabelling the hash does not help: the signature covers the hash actually signed.
    let relabelled = fos_gate::Approval { payload_hash: hash_of("p1"), ..other };
    let e = f.gate.apply("p1", Event::Approve(relabelled), &f.people.store, now).unwrap_err();
    assert!(matches!(e, GateError::Transition(TransitionError::BadSignature { .. })), "{e}");
    // Nor does signing as someone else: alex's signature claimed as erin's.
    let mut as_erin = f.people.sign("alex", "p1", hash_of("p1"), Verdict::Approve, now);
    as_erin.by = "erin".to_owned();
    let e = f.gate.apply("p1", Event::Approve(as_erin), &f.people.store, now).unwrap_err();
    assert!(matches!(e, GateError::Transition(TransitionError::BadSignature { .. })), "{e}");
    // Nor an approval of another proposal.
    f.propose(ai("p2", 0.004));
    let for_p2 = f.people.sign("alex", "p2", hash_of("p2"), Verdict::Approve, now);
    let e = f.gate.apply("p1", Event::Approve(for_p2), &f.people.store, now).unwrap_err();
    assert!(matches!(e, GateError::Transition(TransitionError::WrongProposal { .. })), "{e}");
    assert_eq!(f.status("p1"), Status::AwaitingApproval);
}

#[test]
fn small_changes_cannot_creep_past_the_tolerance() {
    let mut f = Fixture::new();
    for i in 0..3 {
        assert_eq!(f.propose(ai(&format!("s{i}"), 0.001)).to, Status::AutoApproved, "change {i}");
    }
    assert!((f.gate.cumulative_mm("press-1") - 0.003).abs() < 1e-12);
    // The fourth 0.001 mm would make 0.004 mm since the last human approval.
    let step = f.propose(ai("s3", 0.001));
    assert_eq!(step.to, Status::AwaitingApproval);
    assert!(step.note.contains("cumulative"), "{}", step.note);
    // Another machine has its own budget; the name is compared case-insensitively.
    let mut other = ai("m2", 0.001);
    other.machine = "press-2".to_owned();
    assert_eq!(f.propose(other).to, Status::AutoApproved);
    let mut same = ai("m1", 0.001);
    same.machine = " PRESS-1".to_owned();
    assert_eq!(f.propose(same).to, Status::AwaitingApproval);
    // The three pending ones execute; then a person approves the fourth: the budget starts again.
    for i in 0..3 {
        execute(&mut f, &format!("s{i}"), true);
    }
    f.approve("s3", "alex").unwrap();
    assert_eq!(f.gate.cumulative_mm("press-1"), 0.0);
    assert!(f.gate.cumulative_mm("press-1").is_sign_positive(), "+0, which prints as 0, not -0");
    assert_eq!(f.propose(ai("s4", 0.003)).to, Status::AutoApproved);
}

#[test]
fn changes_pending_at_a_human_approval_keep_counting() {
    let mut f = Fixture::new();
    assert_eq!(f.propose(ai("a", 0.002)).to, Status::AutoApproved);
    f.propose(ai("big", 0.01));
    f.approve("big", "alex").unwrap();
    // "a" was approved automatically but had not executed when alex approved: it still counts.
    assert!((f.gate.cumulative_mm("press-1") - 0.002).abs() < 1e-12);
    assert_eq!(f.propose(ai("b", 0.002)).to, Status::AwaitingApproval);
    // A veto of "a" before it executes frees its share.
    let now = f.tick(1);
    let veto = f.people.sign("alex", "a", hash_of("a"), Verdict::Reject, now);
    f.gate.apply("a", Event::Reject(veto), &f.people.store, now).unwrap();
    assert_eq!(f.gate.cumulative_mm("press-1"), 0.0);
}

#[test]
fn a_driver_write_always_needs_a_person() {
    let mut f = Fixture::new();
    let mut facts = ai("w1", 0.0);
    facts.kind = "driver-write".to_owned();
    assert_eq!(f.propose(facts).to, Status::AwaitingApproval);
}

#[test]
fn the_stop_halts_everything_and_holds_ai_actions() {
    let mut f = Fixture::new();
    assert_eq!(f.propose(ai("auto", 0.001)).to, Status::AutoApproved);
    f.propose(ai("human", 0.01));
    f.approve("human", "alex").unwrap();
    let mut by_person = ai("mine", 0.0005);
    by_person.initiated_by = Initiator::Person("olga".to_owned());
    assert_eq!(f.propose(by_person).to, Status::AutoApproved);
    let token = f.gate.approved_token("human", &f.people.store).unwrap();
    let issued_before = f.gate.execution_capability(token, DURABLE, f.now).unwrap();

    // An auditor only reads; an operator may stop.
    let e = f.gate.halt(f.people.user("aud"), "test", f.now).unwrap_err();
    assert!(matches!(e, GateError::NotPermitted { .. }), "{e}");
    let held = f.gate.halt(f.people.user("olga"), "smoke at press 1", f.now).unwrap();
    assert_eq!(held, ["auto"]);
    assert_eq!(f.status("auto"), Status::AwaitingApproval);
    assert_eq!(f.status("mine"), Status::AutoApproved, "a person's change is not demoted, but cannot execute");

    // While stopped: a new AI change is held, nothing gets a capability, an issued one is not confirmed.
    assert_eq!(f.propose(ai("new", 0.0001)).to, Status::AwaitingApproval);
    assert!(matches!(f.gate.confirm(&issued_before, f.now), Err(GateError::Halted { .. })));
    for id in ["human", "mine"] {
        let token = f.gate.approved_token(id, &f.people.store).unwrap();
        let e = f.gate.execution_capability(token, DURABLE, f.now).unwrap_err();
        assert!(matches!(e, GateError::Halted { .. }) && e.to_string().contains("olga"), "{e}");
    }
    // The stop survives a restart.
    let reopened = GateState::open(f.dir.path(), Policy::default()).unwrap();
    assert!(reopened.is_halted());

    // An operator cannot resume; an engineer can. Held actions stay held.
    assert!(f.gate.resume(f.people.user("olga"), "ok", f.now).is_err());
    f.gate.resume(f.people.user("erin"), "checked", f.now).unwrap();
    assert_eq!(f.status("auto"), Status::AwaitingApproval);
    assert_eq!(f.status("new"), Status::AwaitingApproval);
    execute(&mut f, "human", true);
    assert_eq!(f.status("human"), Status::Executed);
    // The held AI action runs only once a person approves it.
    f.approve("auto", "alex").unwrap();
    execute(&mut f, "auto", true);
    assert_eq!(f.status("auto"), Status::Executed);
}

#[test]
fn an_interlock_can_stop_the_gate_without_a_person() {
    let mut f = Fixture::new();
    f.propose(ai("auto", 0.001));
    assert_eq!(f.gate.halt_by_system("light-curtain", "tripped", f.now).unwrap(), ["auto"]);
    assert_eq!(f.gate.halt_info().unwrap().by, "system:light-curtain");
}

#[test]
fn waiting_proposals_expire() {
    let mut f = Fixture::new();
    f.propose(ai("p1", 0.004));
    f.propose(ai("p2", 0.004));
    let day = f.gate.policy().expiry_seconds();
    f.tick(day - 10);
    assert!(f.gate.expire_due(f.now).unwrap().is_empty());
    f.tick(20);
    // An approval after the deadline expires the proposal instead of approving it.
    let e = f.approve("p1", "alex").unwrap_err();
    assert!(matches!(e, GateError::Transition(TransitionError::Expired { .. })), "{e}");
    assert_eq!(f.status("p1"), Status::Expired);
    assert_eq!(f.gate.expire_due(f.now).unwrap(), ["p2"]);
    assert_eq!(f.status("p2"), Status::Expired);
    let e = f.approve("p2", "alex").unwrap_err().to_string();
    assert!(e.contains("final"), "{e}");
}

#[test]
fn execution_needs_a_durable_ledger_record_and_is_reversible_by_a_person() {
    let mut f = Fixture::new();
    f.propose(ai("p1", 0.004));
    assert!(matches!(f.gate.approved_token("p1", &f.people.store), Err(GateError::NotApproved { .. })));
    f.approve("p1", "alex").unwrap();
    let token = f.gate.approved_token("p1", &f.people.store).unwrap();
    let e = f
        .gate
        .execution_capability(token, LedgerDurability { record_index: 5, committed_size: 5 }, f.now)
        .unwrap_err();
    assert!(matches!(e, GateError::NotDurable { .. }), "{e}");
    let token = f.gate.approved_token("p1", &f.people.store).unwrap();
    let cap = f.gate.execution_capability(token, DURABLE, f.now).unwrap();
    assert_eq!((cap.proposal_id(), cap.approved_by(), cap.ledger_index()), ("p1", &["alex".to_owned()][..], 4));
    assert_eq!(cap.not_after(), f.now + 300);
    f.gate.confirm(&cap, f.now + 300).unwrap();
    assert!(matches!(f.gate.confirm(&cap, f.now + 301), Err(GateError::CapabilityExpired { .. })));
    let now = f.tick(2);
    f.gate.apply("p1", Event::Execute(cap.report(true, "hr:3 = 512")), &f.people.store, now).unwrap();
    let p = f.gate.proposal("p1").unwrap();
    assert_eq!(p.status, Status::Executed);
    assert_eq!(p.execution.as_ref().unwrap().approved_by, ["alex"]);
    assert_eq!(p.capabilities.len(), 1);
    // An operator cannot reverse it; an approver can, with a signed reversal.
    let now = f.tick(1);
    let r = f.people.sign("olga", "p1", hash_of("p1"), Verdict::Reverse, now);
    assert!(f.gate.apply("p1", Event::Reverse(r), &f.people.store, now).is_err());
    let r = f.people.sign("amy", "p1", hash_of("p1"), Verdict::Reverse, now);
    let step = f.gate.apply("p1", Event::Reverse(r), &f.people.store, now).unwrap();
    assert_eq!((step.to, step.actor.as_str()), (Status::Reversed, "user:amy"));
}

#[test]
fn a_failed_execution_is_recorded_as_failed() {
    let mut f = Fixture::new();
    f.propose(ai("p1", 0.001));
    execute(&mut f, "p1", false);
    assert_eq!(f.status("p1"), Status::Failed);
}

#[test]
fn a_token_goes_stale_when_the_proposal_changes() {
    let mut f = Fixture::new();
    f.propose(ai("p1", 0.001));
    let token = f.gate.approved_token("p1", &f.people.store).unwrap();
    let now = f.tick(1);
    let veto = f.people.sign("erin", "p1", hash_of("p1"), Verdict::Reject, now);
    f.gate.apply("p1", Event::Reject(veto), &f.people.store, now).unwrap();
    let e = f.gate.execution_capability(token, DURABLE, now).unwrap_err();
    assert!(matches!(e, GateError::StaleToken { .. }), "{e}");
}

#[test]
fn approvals_are_re_verified_against_the_current_users() {
    let mut f = Fixture::new();
    f.propose(ai("p1", 0.004));
    f.approve("p1", "alex").unwrap();
    // A directory where alex's key was replaced: the recorded approval no longer verifies.
    let dir2 = tempfile::tempdir().unwrap();
    let mut others = UserStore::open_with(dir2.path(), fos_gate::KdfParams::fast_insecure()).unwrap();
    others.add_user("ann", Role::Admin, "password-ann", None).unwrap();
    let ann = others.authenticate("ann", "password-ann").unwrap();
    others.add_user("alex", Role::Approver, "password-alex", Some(&ann)).unwrap();
    let e = f.gate.approved_token("p1", &others).unwrap_err().to_string();
    assert!(e.contains("verify"), "{e}");
}

#[test]
fn a_stricter_policy_applies_to_waiting_proposals() {
    let mut f = Fixture::new();
    f.propose(ai("p1", 0.004));
    let mut stricter = Policy::default();
    stricter.approvals.min_approvers = 2;
    stricter.approvals.roles = vec![Role::Engineer];
    let mut gate = GateState::open(f.dir.path(), stricter).unwrap();
    let now = f.tick(1);
    let a = f.people.sign("alex", "p1", hash_of("p1"), Verdict::Approve, now);
    assert!(gate.apply("p1", Event::Approve(a), &f.people.store, now).is_err(), "approvers no longer may");
    let a = f.people.sign("erin", "p1", hash_of("p1"), Verdict::Approve, now);
    assert_eq!(gate.apply("p1", Event::Approve(a), &f.people.store, now).unwrap().to, Status::AwaitingApproval);
}

#[test]
fn bad_proposals_are_not_recorded() {
    let mut f = Fixture::new();
    for (id, dev) in [("../x", 0.0), (".hidden", 0.0), ("", 0.0), ("ok", f64::NAN)] {
        let e = f.gate.propose(ai(id, dev), f.now).unwrap_err();
        assert!(matches!(e, GateError::InvalidProposal { .. }), "{id}: {e}");
    }
    f.propose(ai("p1", 0.0));
    assert!(matches!(f.gate.propose(ai("p1", 0.0), f.now), Err(GateError::DuplicateProposal { .. })));
    let mut facts = ai("p2", 0.0);
    facts.machine = String::new();
    assert_eq!(f.propose(facts).to, Status::Rejected);
    assert!(matches!(f.gate.apply("p1", Event::Halt { by: "x".to_owned() }, &f.people.store, f.now), Err(GateError::UseStopCommands)));
    assert!(matches!(f.gate.apply("nope", Event::Expire, &f.people.store, f.now), Err(GateError::UnknownProposal { .. })));
}

#[test]
fn the_state_reloads_from_disk_as_it_was() {
    let mut f = Fixture::new();
    f.propose(ai("a", 0.001));
    f.propose(ai("b", 0.004));
    f.approve("b", "alex").unwrap();
    execute(&mut f, "b", true);
    let mut sc = ai("c", 0.0);
    sc.subsystem = Some("brake-caliper-casting".to_owned());
    f.propose(sc);
    f.approve("c", "erin").unwrap();
    f.gate.halt(f.people.user("olga"), "check", f.now).unwrap();
    let reopened = GateState::open(f.dir.path(), Policy::default()).unwrap();
    assert_eq!(reopened.proposals().collect::<Vec<_>>(), f.gate.proposals().collect::<Vec<_>>());
    assert_eq!(reopened.halt_info(), f.gate.halt_info());
    assert_eq!(reopened.cumulative_mm("press-1"), f.gate.cumulative_mm("press-1"));
    let file = std::fs::read_to_string(f.dir.path().join("gate/proposals/b.json")).unwrap();
    assert!(file.contains("\"status\": \"executed\"") && file.contains("\"verdict\": \"approve\""), "{file}");
    let state = std::fs::read_to_string(f.dir.path().join("gate/state.json")).unwrap();
    assert!(state.contains("\"halted\": true"), "{state}");
}

#[test]
fn damaged_state_files_are_refused_naming_the_file() {
    let f = Fixture::new();
    std::fs::write(f.dir.path().join("gate/proposals/x.json"), "{").unwrap();
    let e = GateState::open(f.dir.path(), Policy::default()).unwrap_err().to_string();
    assert!(e.contains("x.json") && e.contains("ledger"), "{e}");
    std::fs::remove_file(f.dir.path().join("gate/proposals/x.json")).unwrap();
    std::fs::write(f.dir.path().join("gate/state.json"), "{\"version\": 1, \"halted\": true, \"halt\": null}").unwrap();
    let e = GateState::open(f.dir.path(), Policy::default()).unwrap_err().to_string();
    assert!(e.contains("state.json"), "{e}");
}

/// Takes an approved or auto-approved proposal through the capability to its outcome.
fn execute(f: &mut Fixture, id: &str, ok: bool) {
    let token = f.gate.approved_token(id, &f.people.store).unwrap();
    let now = f.tick(1);
    let cap = f.gate.execution_capability(token, DURABLE, now).unwrap();
    f.gate.confirm(&cap, now).unwrap();
    f.gate.apply(id, Event::Execute(cap.report(ok, "done")), &f.people.store, now).unwrap();
}
