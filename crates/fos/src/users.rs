//! `fos users add|list`: the people of a site, their roles and signing keys (`DIR/users.json`), each
//! addition recorded in the ledger with the new user's public key (`fos_site::Site::add_user`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{anyhow, bail, Result};
use clap::{Args, Subcommand};
use fos_site::Role;

use crate::site::{authenticate, DEFAULT_DATA_DIR, PASSWORD_ENV};

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

pub(crate) fn run(a: UsersArgs) -> Result<ExitCode> {
    match a.command {
        UsersCommand::Add(a) => add(a),
        UsersCommand::List(a) => list(a),
    }
}

fn add(a: AddArgs) -> Result<ExitCode> {
    let role: Role = a.role.parse()?;
    let site = crate::site::open(&a.data_dir, true)?;
    let (acting, password) = match &a.user {
        None => {
            if site.has_users()? {
                bail!("users exist already: only an admin adds users (--user ADMIN, with {PASSWORD_ENV} and {NEW_PASSWORD_ENV})");
            }
            let pw = std::env::var(NEW_PASSWORD_ENV)
                .or_else(|_| std::env::var(PASSWORD_ENV))
                .map_err(|_| anyhow!("set {PASSWORD_ENV} to the new admin's password"))?;
            (None, pw)
        }
        Some(admin) => {
            let user = authenticate(&site, admin)?;
            let pw = std::env::var(NEW_PASSWORD_ENV).map_err(|_| {
                anyhow!("set {NEW_PASSWORD_ENV} to the new user's password ({PASSWORD_ENV} holds {admin}'s own)")
            })?;
            (Some(user), pw)
        }
    };
    let out = site.add_user(acting.as_ref(), &a.name, role, &password)?;
    if a.json {
        println!("{}", serde_json::to_string(&out)?);
    } else {
        println!("added {} ({}), public key {}", out.name, out.role, out.public_key);
    }
    Ok(ExitCode::SUCCESS)
}

fn list(a: ListArgs) -> Result<ExitCode> {
    let users = fos_site::list_users(&a.data_dir)?;
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
