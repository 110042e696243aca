//! The people of a site: adding users (each addition recorded in the ledger with the new user's public
//! key, so signatures can be re-verified from the ledger alone) and listing them (name, role, public key:
//! never a password hash or a sealed key).

use std::path::Path;

use fos_gate::{AuthenticatedUser, Role, UserStore};
use fos_prov::{hex, Agent, Body, Record, UserAdded};
use serde::Serialize;

use crate::error::{Result, SiteError};
use crate::paths::now_ms;
use crate::site::{person, Site};

/// A user as the site shows them: no password hash, no key material but the public key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserOut {
    /// User name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Ed25519 public key, 64 hex.
    pub public_key: String,
}

/// The users of the data directory `data` (read without the site's lock; an absent store is empty).
pub fn list_users(data: &Path) -> Result<Vec<UserOut>> {
    let store = UserStore::open(data).map_err(|e| SiteError::from(e).context(format!("cannot read the users of {}", data.display())))?;
    Ok(outs(&store))
}

fn outs(store: &UserStore) -> Vec<UserOut> {
    store.users().into_iter().map(|u| UserOut { public_key: hex(u.public_key.as_bytes()), name: u.name, role: u.role }).collect()
}

impl Site {
    /// Whether the site has users yet (the first one is an admin added with `acting = None`).
    pub fn has_users(&self) -> Result<bool> {
        self.with(|s| Ok(!s.users.is_empty()))
    }

    /// The users, by name.
    pub fn users(&self) -> Result<Vec<UserOut>> {
        self.with(|s| Ok(outs(&s.users)))
    }

    /// Adds user `name` with `role` and a fresh signing key sealed under `password`. The first user is
    /// an admin added with `acting = None`; after that only an authenticated admin adds users. Every
    /// check comes before anything is logged; the addition is recorded in the ledger right after the
    /// store made the key pair, and undone in the store if the ledger refuses it, so no user exists that
    /// the ledger does not know.
    pub fn add_user(&self, acting: Option<&AuthenticatedUser>, name: &str, role: Role, password: &str) -> Result<UserOut> {
        self.with(|site| {
            if let Some(u) = acting {
                site.check_actor(u)?;
            }
            fos_gate::validate_name(name).map_err(|p| SiteError::bad_request(format!("user name {name:?} {p}")))?;
            if site.users.public_key(name).is_some() {
                return Err(SiteError::conflict(format!("user {name} already exists; choose another name")));
            }
            match acting {
                None if !site.users.is_empty() => {
                    return Err(SiteError::forbidden("users exist already: only an admin adds users"));
                }
                None if role != Role::Admin => {
                    return Err(SiteError::bad_request(format!("the first user ({name}) must be an admin, not {role}")));
                }
                Some(u) if u.role() != Role::Admin => {
                    return Err(SiteError::forbidden(format!(
                        "user {} is {}, not admin; only admins add users",
                        u.name(),
                        u.role()
                    )));
                }
                _ => {}
            }
            let before = std::fs::read(site.users.path()).ok();
            let info = site.users.add_user(name, role, password, acting)?;
            let actor = match acting {
                Some(u) => person(u),
                None => Agent::Person { name: name.to_owned(), role },
            };
            let mut record = Record::new(
                Body::UserAdded(UserAdded {
                    name: info.name.clone(),
                    role,
                    public_key: hex(info.public_key.as_bytes()),
                    added_by: acting.map(|u| u.name().to_owned()),
                }),
                now_ms(),
                actor,
            )
            .about([format!("user:{name}")]);
            if let Some(u) = acting {
                if let Some(r) = site.user_ref(u.name(), "admin")? {
                    record = record.used(r);
                }
            }
            let logged = site.stage(&record).and_then(|_| site.commit());
            if let Err(e) = logged {
                let path = site.users.path().to_path_buf();
                let restore = match before {
                    Some(bytes) => std::fs::write(&path, bytes),
                    None => std::fs::remove_file(&path),
                };
                let _ = site.users.reload();
                if let Err(r) = restore {
                    return Err(SiteError::internal_msg(format!("{e}; and {} could not be restored: {r}", path.display())));
                }
                return Err(e.context(format!("user {name} was not added")));
            }
            Ok(UserOut { name: info.name, role, public_key: hex(info.public_key.as_bytes()) })
        })
    }
}
