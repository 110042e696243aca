//! `fos users add|list`: the people of a site, their roles and signing keys (`DIR/users.json`), each
//! addition recorded in the ledger with the new user's public key, so signatures can be re-verified from
//! the ledger alone.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Subcommand};
use fos_gate::{Role, UserStore};
use fos_prov::{hex, Agent, Body, Record, UserAdded};
use serde::Serialize;

use crate::site::{authenticate, now_ms, person, Site, DEFAULT_DATA_DIR, PASSWORD_ENV};

/// The environment variable holding a new user's password when an admin adds them.
const NEW_PASSWORD_ENV: &str = "FOS_NEW_PASSWORD";

/// Manage users.
#[derive(Debug, Args)]
pub(crate) struct UsersArgs {
    #[command(subcommand)]
    command: UsersCommand,
}

#[derive(Debug, Subcommand)]
enum UsersCommand {
    /// Add a user with a fresh signing key. The first user is an admin added without --user (password in
    /// FOS_PASSWORD or FOS_NEW_PASSWORD); afterwards an admin adds users with --user (the admin's password
    /// in FOS_PASSWORD, the new user's in FOS_NEW_PASSWORD).
    Add(AddArgs),
    /// List users, roles and public keys.
    List(ListArgs),
}

#[derive(Debug, Args)]
struct AddArgs {
    /// The new user's name (a-z, 0-9, '.', '_', '-').
    name: String,
    /// operator, approver, engineer, auditor or admin.
    #[arg(long)]
    role: String,
    /// The admin adding the user (not for the first user).
    #[arg(long)]
    user: Option<String>,
    #[arg(long, value_name = "DIR", default_value = DEFAULT_DATA_DIR)]
    data_dir: PathBuf,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct ListArgs {
    #[arg(long, value_name = "DIR", default_value = DEFAULT_DATA_DIR)]
    data_dir: PathBuf,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Serialize)]
struct UserOut {
    name: String,
    role: Role,
    public_key: String,
}

pub(crate) fn run(a: UsersArgs) -> Result<ExitCode> {
    match a.command {
        UsersCommand::Add(a) => add(a),
        UsersCommand::List(a) => list(a),
    }
}

fn add(a: AddArgs) -> Result<ExitCode> {
    let role: Role = a.role.parse()?;
    let mut site = Site::open(&a.data_dir, true)?;
    let (acting, password) = match &a.user {
        None => {
            if !site.users.is_empty() {
                bail!("users exist already: only an admin adds users (--user ADMIN, with {PASSWORD_ENV} and {NEW_PASSWORD_ENV})");
            }
            let pw = std::env::var(NEW_PASSWORD_ENV)
                .or_else(|_| std::env::var(PASSWORD_ENV))
                .map_err(|_| anyhow!("set {PASSWORD_ENV} to the new admin's password"))?;
            (None, pw)
        }
        Some(admin) => {
            let user = authenticate(&site.users, admin)?;
            let pw = std::env::var(NEW_PASSWORD_ENV).map_err(|_| {
                anyhow!("set {NEW_PASSWORD_ENV} to the new user's password ({PASSWORD_ENV} holds {admin}'s own)")
            })?;
            (Some(user), pw)
        }
    };
    // Every check the store makes, before anything is logged: a refused addition leaves no record.
    fos_gate::validate_name(&a.name).map_err(|p| anyhow!("user name {:?} {p}", a.name))?;
    if site.users.public_key(&a.name).is_some() {
        bail!("user {} already exists; choose another name", a.name);
    }
    match &acting {
        None if role != Role::Admin => bail!("the first user ({}) must be an admin, not {role}", a.name),
        Some(u) if u.role() != Role::Admin => bail!("user {} is {}, not admin; only admins add users", u.name(), u.role()),
        _ => {}
    }
    // The key pair is made by the store; the record is appended right after, and the store entry is
    // removed again if the ledger refuses it, so no user exists that the ledger does not know.
    let before = std::fs::read(site.users.path()).ok();
    let info = site.users.add_user(&a.name, role, &password, acting.as_ref())?;
    let actor = match &acting {
        Some(u) => person(u),
        None => Agent::Person { name: a.name.clone(), role },
    };
    let mut record = Record::new(
        Body::UserAdded(UserAdded {
            name: info.name.clone(),
            role,
            public_key: hex(info.public_key.as_bytes()),
            added_by: acting.as_ref().map(|u| u.name().to_owned()),
        }),
        now_ms(),
        actor,
    )
    .about([format!("user:{}", a.name)]);
    if let Some(u) = &acting {
        if let Some(r) = site.user_ref(u.name(), "admin")? {
            record = record.used(r);
        }
    }
    let logged = site.stage(&record).and_then(|_| site.commit());
    if let Err(e) = logged {
        let restore = match before {
            Some(bytes) => std::fs::write(site.users.path(), bytes),
            None => std::fs::remove_file(site.users.path()),
        };
        restore.with_context(|| format!("{e:#}; and {} could not be restored", site.users.path().display()))?;
        return Err(e.context(format!("user {} was not added", a.name)));
    }
    let out = UserOut { name: info.name, role, public_key: hex(info.public_key.as_bytes()) };
    if a.json {
        println!("{}", serde_json::to_string(&out)?);
    } else {
        println!("added {} ({}), public key {}", out.name, out.role, out.public_key);
    }
    Ok(ExitCode::SUCCESS)
}

fn list(a: ListArgs) -> Result<ExitCode> {
    let store = UserStore::open(&a.data_dir).with_context(|| format!("cannot read the users of {}", a.data_dir.display()))?;
    let users: Vec<UserOut> = store
        .users()
        .into_iter()
        .map(|u| UserOut { public_key: hex(u.public_key.as_bytes()), name: u.name, role: u.role })
        .collect();
    if a.json {
        println!("{}", serde_json::to_string(&users)?);
    } else if users.is_empty() {
        println!("no users in {}", a.data_dir.display());
    } else {
        for u in &users {
            println!("{:<20} {:<9} {}", u.name, u.role.as_str(), u.public_key);
        }
    }
    Ok(ExitCode::SUCCESS)
}
