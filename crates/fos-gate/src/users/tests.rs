//! Unit tests of the user store.

use super::*;

fn store(dir: &Path) -> UserStore {
    UserStore::open_with(dir, KdfParams::fast_insecure()).unwrap()
}

#[test]
fn first_admin_then_admin_adds_users_who_sign_with_their_own_keys() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = store(dir.path());
    assert!(s.is_empty());
    let e = s.add_user("olga", Role::Operator, "correct horse", None).unwrap_err();
    assert!(matches!(e, UserError::FirstUserMustBeAdmin { .. }), "{e}");
    s.add_user("ann", Role::Admin, "correct horse", None).unwrap();
    let e = s.add_user("bob", Role::Engineer, "battery staple", None).unwrap_err();
    assert!(matches!(e, UserError::AdminRequired { .. }), "{e}");
    let ann = s.authenticate("ann", "correct horse").unwrap();
    let bob = s.add_user("bob", Role::Engineer, "battery staple", Some(&ann)).unwrap();
    assert!(matches!(s.add_user("bob", Role::Approver, "whatever1", Some(&ann)), Err(UserError::Duplicate { .. })));
    let bob_auth = s.authenticate("bob", "battery staple").unwrap();
    let e = s.add_user("cy", Role::Auditor, "whatever1", Some(&bob_auth)).unwrap_err();
    assert!(matches!(e, UserError::NotAdmin { .. }), "{e}");

    let sig = bob_auth.sign(b"hello");
    assert!(bob.public_key.verify_strict(b"hello", &sig).is_ok());
    assert!(ann.public_key().verify_strict(b"hello", &sig).is_err());
    assert_eq!(s.public_key("bob"), Some(bob.public_key));
    assert_eq!(s.lookup("bob").unwrap().role, Role::Engineer);

    // Reopened from disk, the same users, keys and passwords.
    let again = store(dir.path());
    assert_eq!(again.users(), s.users());
    assert_eq!(again.authenticate("bob", "battery staple").unwrap().public_key(), bob.public_key);
}

#[test]
fn wrong_password_and_unknown_user_give_the_same_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = store(dir.path());
    s.add_user("ann", Role::Admin, "correct horse", None).unwrap();
    let wrong = s.authenticate("ann", "correct horsE").unwrap_err().to_string();
    let unknown = s.authenticate("zed", "correct horse").unwrap_err().to_string();
    assert_eq!(wrong, "invalid user name or password");
    assert_eq!(wrong, unknown);
}

#[test]
fn names_and_passwords_are_validated() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = store(dir.path());
    for bad in ["", "Ann", "a b", "ä", &"x".repeat(65)] {
        let e = s.add_user(bad, Role::Admin, "correct horse", None).unwrap_err();
        assert!(matches!(e, UserError::InvalidName { .. }), "{bad:?}: {e}");
    }
    let e = s.add_user("ann", Role::Admin, "short", None).unwrap_err();
    assert!(matches!(e, UserError::WeakPassword { .. }) && !e.to_string().contains("short"), "{e}");
    s.add_user("a.n-n_1", Role::Admin, "correct horse", None).unwrap();
}

#[test]
fn secrets_never_show_in_debug_or_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = store(dir.path());
    s.add_user("ann", Role::Admin, "correct horse", None).unwrap();
    let ann = s.authenticate("ann", "correct horse").unwrap();
    let debug = format!("{ann:?} {s:?}");
    assert!(debug.contains("<redacted>") && !debug.contains("argon2id"), "{debug}");
    let file = fs::read_to_string(s.path()).unwrap();
    assert!(!file.contains("correct horse"));
    assert!(file.contains("$argon2id$"));
}

#[test]
fn a_sealed_key_moved_to_another_user_does_not_open() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = store(dir.path());
    s.add_user("ann", Role::Admin, "same password", None).unwrap();
    let ann = s.authenticate("ann", "same password").unwrap();
    s.add_user("bob", Role::Engineer, "same password", Some(&ann)).unwrap();
    let mut file: serde_json::Value = serde_json::from_str(&fs::read_to_string(s.path()).unwrap()).unwrap();
    let ann_sealed = file["users"][0]["secret_key"].clone();
    file["users"][1]["secret_key"] = ann_sealed;
    fs::write(s.path(), serde_json::to_string(&file).unwrap()).unwrap();
    let s = store(dir.path());
    let e = s.authenticate("bob", "same password").unwrap_err();
    assert!(matches!(e, UserError::Corrupt { .. }), "{e}");
}

#[test]
fn damaged_files_are_refused_with_their_path() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join(USERS_FILE), "{").unwrap();
    let e = UserStore::open_with(dir.path(), KdfParams::fast_insecure()).unwrap_err().to_string();
    assert!(e.contains("users.json"), "{e}");
    assert!(UserStore::open_with(dir.path(), KdfParams { m_cost_kib: 1, t_cost: 0, p_cost: 0 }).is_err());
}

#[test]
fn roles_parse_with_a_helpful_error() {
    assert_eq!("Engineer".parse::<Role>().unwrap(), Role::Engineer);
    let e = "boss".parse::<Role>().unwrap_err().to_string();
    assert!(e.contains("boss") && e.contains("operator, approver, engineer, auditor, admin"), "{e}");
    for r in Role::ALL {
        assert_eq!(r.as_str().parse::<Role>().unwrap(), r);
        assert_eq!(serde_json::to_string(&r).unwrap(), format!("\"{r}\""));
    }
}
