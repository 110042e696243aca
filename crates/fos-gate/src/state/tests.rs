//! Unit tests of the state machine: the message format and the whole status × event table.

use ed25519_dalek::SigningKey;

use super::*;
use crate::decision::tests_support::facts;

const NOW: u64 = 1_000_000;

fn key(n: u8) -> SigningKey {
    SigningKey::from_bytes(&[n; 32])
}

fn directory() -> Vec<UserInfo> {
    vec![
        UserInfo { name: "alex".to_owned(), role: Role::Approver, public_key: key(1).verifying_key() },
        UserInfo { name: "olga".to_owned(), role: Role::Operator, public_key: key(2).verifying_key() },
    ]
}

fn proposal(status: Status) -> Proposal {
    let mut p = Proposal::new(facts("p1", 0.004), NOW, 1);
    p.status = status;
    p.requirement =
        Some(Requirement { required: 1, roles: vec![Role::Approver, Role::Engineer], safety_critical: false, reasons: vec![] });
    p.awaiting_since = Some(NOW);
    if status == Status::Approved {
        p.approvals.push(RecordedApproval { role: Role::Approver, approval: signed(Verdict::Approve, [7; 32]) });
    }
    p
}

fn signed(verdict: Verdict, hash: [u8; 32]) -> Approval {
    Approval::sign_with_key("alex", &key(1), "p1", hash, verdict, NOW, "looks right")
}

fn report() -> ExecutionReport {
    ExecutionReport {
        proposal_id: "p1".to_owned(),
        payload_hash: [7; 32],
        ok: true,
        detail: "written".to_owned(),
        ledger_index: 3,
        issued_at: NOW,
        not_after: NOW + 300,
        approved_by: vec!["alex".to_owned()],
    }
}

fn events() -> Vec<Event> {
    vec![
        Event::Decide,
        Event::Approve(signed(Verdict::Approve, [7; 32])),
        Event::Reject(signed(Verdict::Reject, [7; 32])),
        Event::Expire,
        Event::Execute(report()),
        Event::Reverse(signed(Verdict::Reverse, [7; 32])),
        Event::Halt { by: "user:olga".to_owned() },
        Event::Resume { by: "user:alex".to_owned() },
    ]
}

/// The statuses from which each event applies (with valid inputs, before expiry).
fn allowed(status: Status, event: &Event) -> bool {
    use Status as S;
    match event {
        Event::Decide => status == S::Proposed,
        Event::Approve(_) => status == S::AwaitingApproval,
        Event::Reject(_) => matches!(status, S::AwaitingApproval | S::AutoApproved | S::Approved),
        Event::Expire => false,
        Event::Execute(_) => matches!(status, S::AutoApproved | S::Approved),
        Event::Reverse(_) => status == S::Executed,
        Event::Halt { .. } | Event::Resume { .. } => true,
    }
}

#[test]
fn every_status_and_event_pair_follows_the_table() {
    let policy = Policy::default();
    let dir = directory();
    let ctx = Context { policy: &policy, directory: &dir, now: NOW + 10, halted: false, cumulative_mm: 0.0 };
    for status in Status::ALL {
        for event in events() {
            let result = transition(&proposal(status), &event, &ctx);
            assert_eq!(result.is_ok(), allowed(status, &event), "{status} + {}: {result:?}", event.name());
            if let Err(e) = result {
                let expected = matches!(e, TransitionError::NotAllowed { .. } | TransitionError::NotDue { .. });
                assert!(expected, "{status} + {}: {e}", event.name());
            }
        }
    }
}

#[test]
fn final_statuses_are_final() {
    assert_eq!(Status::ALL.iter().filter(|s| s.is_final()).count(), 4);
    let e = TransitionError::NotAllowed { id: "p".to_owned(), status: Status::Expired, event: "approve" };
    assert!(e.to_string().contains("final"), "{e}");
}

#[test]
fn the_signed_message_is_domain_separated_and_unambiguous() {
    let m = Approval::message("ab", &[1; 32], Verdict::Approve, 5, "");
    assert!(m.starts_with(APPROVAL_DOMAIN));
    assert_eq!(m.len(), APPROVAL_DOMAIN.len() + 4 + 2 + 32 + 4 + 7 + 8 + 4);
    assert_ne!(Approval::message("a", &[1; 32], Verdict::Approve, 5, "b"), Approval::message("ab", &[1; 32], Verdict::Approve, 5, ""));
    let a = signed(Verdict::Approve, [7; 32]);
    assert!(a.verifies_with(&key(1).verifying_key()));
    assert!(!a.verifies_with(&key(2).verifying_key()));
    for tampered in [
        Approval { at: a.at + 1, ..a.clone() },
        Approval { verdict: Verdict::Reject, ..a.clone() },
        Approval { reason: "other".to_owned(), ..a.clone() },
        Approval { payload_hash: [8; 32], ..a.clone() },
        Approval { proposal_id: "p2".to_owned(), ..a.clone() },
    ] {
        assert!(!tampered.verifies_with(&key(1).verifying_key()));
    }
}

#[test]
fn expiry_pre_empts_a_late_approval() {
    let policy = Policy::default();
    let dir = directory();
    let late = NOW + policy.expiry_seconds();
    let ctx = Context { policy: &policy, directory: &dir, now: late, halted: false, cumulative_mm: 0.0 };
    let step = transition(&proposal(Status::AwaitingApproval), &Event::Approve(signed(Verdict::Approve, [7; 32])), &ctx).unwrap();
    assert_eq!((step.to, step.applied), (Status::Expired, false));
    let step = transition(&proposal(Status::AwaitingApproval), &Event::Expire, &ctx).unwrap();
    assert_eq!((step.to, step.applied), (Status::Expired, true));
    let early = Context { now: late - 1, ..ctx };
    let e = transition(&proposal(Status::AwaitingApproval), &Event::Expire, &early).unwrap_err();
    assert!(matches!(e, TransitionError::NotDue { .. }), "{e}");
}

#[test]
fn signatures_out_of_the_proposals_life_are_refused() {
    let policy = Policy::default();
    let dir = directory();
    let ctx = Context { policy: &policy, directory: &dir, now: NOW + 10, halted: false, cumulative_mm: 0.0 };
    for at in [NOW - MAX_CLOCK_SKEW_S - 1, NOW + 10 + MAX_CLOCK_SKEW_S + 1] {
        let a = Approval::sign_with_key("alex", &key(1), "p1", [7; 32], Verdict::Approve, at, "");
        let e = transition(&proposal(Status::AwaitingApproval), &Event::Approve(a), &ctx).unwrap_err();
        assert!(matches!(e, TransitionError::BadTimestamp { .. }), "{e}");
    }
}

#[test]
fn a_verdict_must_match_its_event_and_a_report_its_proposal() {
    let policy = Policy::default();
    let dir = directory();
    let ctx = Context { policy: &policy, directory: &dir, now: NOW, halted: false, cumulative_mm: 0.0 };
    let e = transition(&proposal(Status::AwaitingApproval), &Event::Approve(signed(Verdict::Reject, [7; 32])), &ctx)
        .unwrap_err();
    assert!(matches!(e, TransitionError::WrongVerdict { .. }), "{e}");
    let mut r = report();
    r.proposal_id = "p2".to_owned();
    let e = transition(&proposal(Status::Approved), &Event::Execute(r), &ctx).unwrap_err();
    assert!(matches!(e, TransitionError::ReportMismatch { .. }), "{e}");
    // An approved record without its approvals is damaged, and does not execute.
    let mut p = proposal(Status::Approved);
    p.approvals.clear();
    let e = transition(&p, &Event::Execute(report()), &ctx).unwrap_err();
    assert!(matches!(e, TransitionError::Inconsistent { .. }), "{e}");
}

#[test]
fn the_stop_holds_only_ai_initiated_auto_approvals() {
    let policy = Policy::default();
    let dir = directory();
    let ctx = Context { policy: &policy, directory: &dir, now: NOW, halted: true, cumulative_mm: 0.0 };
    let halt = Event::Halt { by: "user:olga".to_owned() };
    let step = transition(&proposal(Status::AutoApproved), &halt, &ctx).unwrap();
    assert_eq!(step.to, Status::AwaitingApproval);
    assert!(matches!(step.change, Change::Held(Requirement { required: 1, .. })));
    let mut p = proposal(Status::AutoApproved);
    p.facts.initiated_by = crate::Initiator::Person("olga".to_owned());
    assert!(transition(&p, &halt, &ctx).unwrap().is_noop());
}

#[test]
fn while_stopped_approvals_are_refused_and_vetoes_accepted() {
    let policy = Policy::default();
    let dir = directory();
    let ctx = Context { policy: &policy, directory: &dir, now: NOW + 10, halted: true, cumulative_mm: 0.0 };
    let p = proposal(Status::AwaitingApproval);
    let e = transition(&p, &Event::Approve(signed(Verdict::Approve, [7; 32])), &ctx).unwrap_err();
    assert_eq!(e, TransitionError::Halted { id: "p1".to_owned() });
    assert!(e.to_string().contains("stopped"), "{e}");
    let step = transition(&p, &Event::Reject(signed(Verdict::Reject, [7; 32])), &ctx).unwrap();
    assert_eq!(step.to, Status::Rejected);
    let resumed = Context { halted: false, ..ctx };
    assert_eq!(transition(&p, &Event::Approve(signed(Verdict::Approve, [7; 32])), &resumed).unwrap().to, Status::Approved);
}
