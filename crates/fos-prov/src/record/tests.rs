//! Unit tests of the record: canonical bytes, strict parsing, times, agents.

use std::collections::BTreeMap;

use fos_act::offset::{ToolOffsetCorrection, ToolOffsetKind};
use fos_act::Action;
use fos_gate::{Approval, Decision, Role, Status, Verdict};
use proptest::prelude::*;

use super::*;

fn tool_offset(delta: f64) -> Action {
    Action::ToolOffset(ToolOffsetCorrection {
        machine: "mill-3".into(),
        tool_offset_number: 5,
        kind: ToolOffsetKind::LengthWear,
        current_mm: -0.02,
        delta_mm: delta,
        device_tag: None,
    })
}

fn proposal(id: &str, action: Action) -> Body {
    Body::Proposal(Box::new(ProposalEntity {
        proposal_id: id.into(),
        payload_hash: action.payload_hash_hex(),
        deviation_mm: action.deviation_mm(),
        predicted_effect: action.predicted_effect(),
        machine: action.machine().into(),
        action,
        subsystem: Some("spindle".into()),
        tags: vec!["wear".into()],
        rationale: "tool wear estimate".into(),
    }))
}

fn model() -> Agent {
    Agent::Model { name: "wear-net".into(), version: "2.1".into() }
}

/// One record of every kind.
fn every_kind() -> Vec<Record> {
    let signed = Signed {
        proposal_id: "p-1".into(),
        role: Role::Engineer,
        signature: Approval {
            proposal_id: "p-1".into(),
            by: "bo".into(),
            verdict: Verdict::Approve,
            at: 1_767_225_600,
            payload_hash: [3; 32],
            reason: "checked \"quoted\"\n".into(),
            signature: [9; 64],
        },
        status: Status::Approved,
        approvals: 1,
        required: 1,
    };
    let person = Agent::Person { name: "bo".into(), role: Role::Engineer };
    let bodies = vec![
        Body::UserAdded(UserAdded { name: "ann".into(), role: Role::Admin, public_key: hex(&[1; 32]), added_by: None }),
        proposal("p-1", tool_offset(-0.004)),
        Body::Decision(DecisionEntity {
            proposal_id: "p-1".into(),
            status: Status::AwaitingApproval,
            decision: Decision::NeedsApproval { required: 1, roles: vec![Role::Approver], reasons: vec!["r".into()], safety_critical: false },
            deviation_mm: 0.004,
            cumulative_before_mm: 0.0,
            tolerance_mm: 0.003,
            halted: false,
        }),
        Body::Approval(signed.clone()),
        Body::Rejection(signed.clone()),
        Body::Reversal(signed),
        Body::Stop(Stop { reason: "leak".into(), held: vec!["p-1".into()] }),
        Body::Resume(Resume { reason: "fixed".into() }),
        Body::Expiry(Expiry { proposal_id: "p-1".into(), awaiting_since: 5, expiry_hours: 24 }),
        Body::Capability(Capability {
            proposal_id: "p-1".into(),
            payload_hash: hex(&[3; 32]),
            approval_record: 3,
            approved_by: vec!["bo".into()],
            issued_at: 10,
            not_after: 310,
            target: "out/p-1.nc".into(),
        }),
        Body::Execution(Execution {
            proposal_id: "p-1".into(),
            payload_hash: hex(&[3; 32]),
            status: Status::Executed,
            detail: "written".into(),
            target: "modbus://127.0.0.1:502 hr:40:f32".into(),
            outputs: vec![Artifact { path: "out/p-1.nc".into(), sha256: hex(&[4; 32]) }],
            writes: vec![DeviceWrite { device: "modbus://127.0.0.1:502".into(), address: "hr:40:f32".into(), value: serde_json::json!(12.5) }],
        }),
        Body::Finding(Box::new(Finding {
            finding_id: "f-1".into(),
            model: ModelId { name: "bearing".into(), version: "1.0".into() },
            machine: "pump-1".into(),
            summary: "outer race".into(),
            label: Some("outer-race".into()),
            score: Some(0.93),
            window: Some(("2026-01-01T00:00:00.000Z".into(), "2026-01-01T00:00:01.000Z".into())),
            features: BTreeMap::from([("bpfo_ratio".into(), 4.5), ("rms_mm_s".into(), 1e-7)]),
            nearest_cases: vec![CaseMatch { case_id: "cwru-130".into(), label: "outer-race".into(), distance: 0.2, source: None, reason: None }],
            simulations: vec![Simulation { name: "synth".into(), summary: "matches".into(), figures: BTreeMap::new(), sha256: None }],
            file: None,
            signal: None,
        })),
        Body::Challenge(Challenge { finding_id: "f-1".into(), reason: "humidity, not bearing wear".into(), alternative: Some("humidity".into()) }),
        Body::ChallengeVerdict(ChallengeVerdict { finding_id: "f-1".into(), outcome: FindingOutcome::Disputed, label: "humidity".into(), reason: "dried".into() }),
    ];
    bodies
        .into_iter()
        .enumerate()
        .map(|(i, b)| {
            Record::new(b, 1_767_225_600_123 + i as u64, if i % 2 == 0 { model() } else { person.clone() })
                .used(Ref::content([5; 32], "waveform-block", "evidence"))
                .derived_from(Ref::record(i as u64, [6; 32], "previous"))
        })
        .collect()
}

#[test]
fn every_kind_round_trips_through_its_canonical_bytes() {
    let records = every_kind();
    let kinds: std::collections::BTreeSet<&str> = records.iter().map(Record::kind).collect();
    assert_eq!(kinds.len(), 14, "one record per kind");
    for r in &records {
        let bytes = r.to_bytes().unwrap_or_else(|e| panic!("{}: {e}", r.kind()));
        let text = std::str::from_utf8(&bytes).unwrap();
        assert!(text.starts_with("{\"about\":[") && !text.contains('\n') && !text.contains("\": "), "compact: {text}");
        assert!(text.contains(&format!("\"kind\":\"{}\"", r.kind())), "{text}");
        assert!(text.contains("\"wasDerivedFrom\":["), "{text}");
        assert_eq!(&Record::from_bytes(&bytes).unwrap(), r, "{text}");
        assert_eq!(r.to_bytes().unwrap(), bytes, "deterministic");
        assert!(!r.body.summary().is_empty());
    }
}

#[test]
fn anything_but_the_canonical_bytes_is_refused() {
    let r = &every_kind()[1];
    let bytes = r.to_bytes().unwrap();
    let text = String::from_utf8(bytes.clone()).unwrap();
    // Whitespace, another key order, an extra member: valid JSON of the same record, not canonical.
    let pretty = serde_json::to_vec_pretty(&serde_json::from_slice::<serde_json::Value>(&bytes).unwrap()).unwrap();
    assert!(matches!(Record::from_bytes(&pretty), Err(ProvError::NotCanonical { .. })));
    let extra = text.replacen("{\"about\"", "{\"note\":1,\"about\"", 1);
    assert!(Record::from_bytes(extra.as_bytes()).is_err());
    let reordered = text.replacen("\"schema\":1,", "", 1).replacen("{", "{\"schema\":1,", 1);
    assert!(matches!(Record::from_bytes(reordered.as_bytes()), Err(ProvError::NotCanonical { .. })));
    // Another schema version, a changed kind, a truncated record, a flipped hash digit.
    let v2 = text.replacen("\"schema\":1", "\"schema\":2", 1);
    assert_eq!(Record::from_bytes(v2.as_bytes()), Err(ProvError::Schema { found: 2 }));
    assert!(Record::from_bytes(text.replacen("\"kind\":\"proposal\"", "\"kind\":\"approval\"", 1).as_bytes()).is_err());
    assert!(matches!(Record::from_bytes(&bytes[..bytes.len() - 1]), Err(ProvError::Json(_))));
    let upper = text.replacen(&r.used[0].role().to_owned(), "evidence", 1).replacen("0505", "05AF", 1);
    assert!(Record::from_bytes(upper.as_bytes()).is_err(), "upper-case hex is not canonical");
}

#[test]
fn numbers_that_json_cannot_hold_are_refused() {
    let mut records = every_kind();
    let Body::Finding(f) = &mut records[11].body else { panic!("finding expected") };
    f.features.insert("bad".into(), f64::NAN);
    let e = records[11].to_bytes().unwrap_err();
    assert!(e.to_string().contains("NaN or infinity"), "{e}");
    let mut p = every_kind()[1].clone();
    let Body::Proposal(pe) = &mut p.body else { panic!("proposal expected") };
    pe.deviation_mm = f64::INFINITY;
    assert!(p.to_bytes().is_err());
}

#[test]
fn times_are_rfc3339_utc_milliseconds() {
    assert_eq!(format_time(0), "1970-01-01T00:00:00.000Z");
    assert_eq!(format_time(1_767_225_600_123), "2026-01-01T00:00:00.123Z");
    assert_eq!(parse_time("2026-01-01T00:00:00.123Z").unwrap(), 1_767_225_600_123);
    assert_eq!(parse_time("2026-01-01T00:00:00Z").unwrap(), 1_767_225_600_000);
    assert_eq!(parse_time("2026-01-01").unwrap(), 1_767_225_600_000);
    assert!(parse_time("yesterday").unwrap_err().to_string().contains("RFC 3339"));
    let mut r = every_kind()[0].clone();
    r.time = "2026-01-01T00:00:00Z".into();
    assert!(r.to_bytes().unwrap_err().to_string().contains("canonical form"));
}

#[test]
fn agents_have_prov_types_and_ids() {
    let m = Agent::model("wear-net@2.1").unwrap();
    assert_eq!((m.id(), m.prov_type()), ("ai:wear-net@2.1".to_owned(), "prov:SoftwareAgent"));
    assert_eq!(Agent::model("a@b@3").unwrap().id(), "ai:a@b@3");
    for bad in ["wear-net", "@1", "x@", "a b@1"] {
        assert!(Agent::model(bad).is_err(), "{bad}");
    }
    let p = Agent::Person { name: "ann".into(), role: Role::Operator };
    assert_eq!((p.id(), p.prov_type(), p.person()), ("user:ann".to_owned(), "prov:Person", Some("ann")));
    assert_eq!(Agent::System { name: "gate".into() }.id(), "system:gate");
}

#[test]
fn hashes_are_64_lower_case_hex_digits() {
    assert_eq!(parse_hash(&hex(&[0xab; 32])).unwrap(), [0xab; 32]);
    assert!(parse_hash(&"AB".repeat(32)).is_err());
    assert!(parse_hash("00").is_err());
    let mut r = every_kind()[0].clone();
    r.used.push(Ref::Content { sha256: "xyz".into(), entity: "e".into(), role: "r".into() });
    assert!(r.to_bytes().unwrap_err().to_string().contains("reference 1.sha256"));
}

proptest! {
    #[test]
    fn any_text_and_finite_numbers_round_trip(
        reason in "\\PC*",
        control in "[\\x00-\\x1f\"\\\\]{0,8}",
        delta in -0.5f64..0.5,
        score in proptest::num::f64::NORMAL | proptest::num::f64::SUBNORMAL | proptest::num::f64::ZERO,
        ms in 0u64..4_000_000_000_000,
    ) {
        prop_assume!(delta != 0.0);
        let mut records = every_kind();
        records[1] = Record::new(proposal("p-9", tool_offset(delta)), ms, model());
        let Body::Challenge(c) = &mut records[12].body else { panic!("challenge expected") };
        c.reason = format!("{reason}{control}");
        let Body::Finding(f) = &mut records[11].body else { panic!("finding expected") };
        f.score = Some(score);
        for r in &records {
            let bytes = r.to_bytes().unwrap();
            prop_assert_eq!(&Record::from_bytes(&bytes).unwrap(), r);
        }
    }
}
