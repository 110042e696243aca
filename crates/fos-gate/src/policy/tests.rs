//! Unit tests of the policy file: defaults, first use, validation.

use super::*;

#[test]
fn the_default_file_parses_to_the_defaults() {
    let parsed = Policy::parse(DEFAULT_POLICY_TOML, Path::new("policy.toml")).unwrap();
    assert_eq!(parsed, Policy::default());
}

#[test]
fn first_use_writes_the_commented_defaults_and_later_loads_read_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub").join("policy.toml");
    let (policy, created) = Policy::load_or_init(&path).unwrap();
    assert!(created);
    assert_eq!(policy, Policy::default());
    assert_eq!(fs::read_to_string(&path).unwrap(), DEFAULT_POLICY_TOML);
    fs::write(&path, "tolerance_mm = 0.01\n[approvals]\nmin_approvers = 2\n").unwrap();
    let (policy, created) = Policy::load_or_init(&path).unwrap();
    assert!(!created);
    assert_eq!(policy.tolerance_mm, 0.01);
    assert_eq!(policy.approvals.min_approvers, 2);
    assert_eq!(policy.approvals.safety_critical_roles, vec![Role::Engineer], "missing keys take defaults");
}

fn invalid(text: &str) -> String {
    Policy::parse(text, Path::new("p.toml")).unwrap_err().to_string()
}

#[test]
fn bad_values_are_refused_naming_the_key() {
    assert!(invalid("tolerance_mm = -1.0").contains("`tolerance_mm`"));
    assert!(invalid("tolerance_mm = nan").contains("`tolerance_mm`"));
    assert!(invalid("tolerance_mm = inf").contains("`tolerance_mm`"));
    assert!(invalid("[approvals]\nmin_approvers = 0").contains("`approvals.min_approvers`"));
    let e = invalid("[approvals]\nmin_approvers_safety_critical = 1");
    assert!(e.contains("`approvals.min_approvers_safety_critical`") && e.contains("two_person_rule"), "{e}");
    Policy::parse("[approvals]\ntwo_person_rule = false\nmin_approvers_safety_critical = 1", Path::new("p")).unwrap();
    assert!(invalid("[approvals]\nroles = [\"operator\"]").contains("operator can never approve"));
    assert!(invalid("[approvals]\nsafety_critical_roles = []").contains("`approvals.safety_critical_roles`"));
    assert!(invalid("[stop]\nresume_roles = [\"auditor\"]").contains("`stop.resume_roles`"));
    assert!(invalid("permit_seconds = 0").contains("`permit_seconds`"));
    assert!(invalid("[approvals]\nexpiry_hours = 0").contains("`approvals.expiry_hours`"));
    let e = invalid("[approvals]\nroles = [\"boss\"]");
    assert!(e.contains("p.toml") && e.contains("boss"), "{e}");
    let e = invalid("tolerance = 0.1");
    assert!(e.contains("unknown field") && e.contains("tolerance"), "{e}");
}

#[test]
fn safety_critical_matches_subsystems_and_tags_case_insensitively() {
    let p = Policy::default();
    let mut f = crate::decision::tests_support::facts("p", 0.0);
    assert!(p.safety_critical_reason(&f).is_none());
    f.subsystem = Some(" Brake-Caliper-Casting".to_owned());
    assert!(p.safety_critical_reason(&f).unwrap().contains("Brake-Caliper-Casting"));
    f.subsystem = Some("spindle".to_owned());
    f.tags = vec!["SAFETY-CRITICAL".to_owned()];
    assert!(p.safety_critical_reason(&f).is_some());
    f.tags = vec!["flight-control-actuation".to_owned()];
    assert!(p.safety_critical_reason(&f).is_some());
}

#[test]
fn the_two_person_rule_sets_the_safety_critical_count() {
    let mut p = Policy::default();
    assert_eq!(p.approval_rule(true), ApprovalRule { required: 2, roles: vec![Role::Engineer] });
    assert_eq!(p.approval_rule(false), ApprovalRule { required: 1, roles: vec![Role::Approver, Role::Engineer] });
    p.approvals.two_person_rule = false;
    p.approvals.min_approvers_safety_critical = 1;
    assert_eq!(p.approval_rule(true).required, 1);
}
