//! Helpers shared by the gate and audit tests: a site in a temporary folder with one user per role,
//! the real `fos` binary run as those users, and JSON output parsed.

#![allow(dead_code, unreachable_pub)]

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::Duration;

/// The users every test site has: (name, role, password).
pub const USERS: [(&str, &str, &str); 7] = [
    ("ann", "admin", "admin-pass-1"),
    ("olga", "operator", "operator-pass-1"),
    ("alex", "approver", "approver-pass-1"),
    ("erin", "engineer", "engineer-pass-1"),
    ("ezra", "engineer", "engineer-pass-2"),
    ("aud", "auditor", "auditor-pass-1"),
    ("pat", "engineer", "engineer-pass-3"),
];

pub fn password(user: &str) -> &'static str {
    USERS.iter().find(|u| u.0 == user).map(|u| u.2).unwrap_or("no-such-user")
}

/// A completed run of `fos`.
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(self.stdout.trim())
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}\nstderr: {}", self.stdout, self.stderr))
    }

    pub fn ok(self) -> Run {
        assert_eq!(self.code, Some(0), "stdout: {}\nstderr: {}", self.stdout, self.stderr);
        self
    }

    /// Asserts a refusal (exit 2) whose message contains `text`.
    pub fn refused(self, text: &str) -> Run {
        assert_eq!(self.code, Some(2), "expected a refusal; stdout: {}\nstderr: {}", self.stdout, self.stderr);
        assert!(self.stderr.contains(text), "expected {text:?} in: {}", self.stderr);
        self
    }
}

fn from(out: Output) -> Run {
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs `fos` with `envs`.
pub fn fos_env(args: &[&str], envs: &[(&str, &str)]) -> Run {
    let mut c = Command::new(env!("CARGO_BIN_EXE_fos"));
    c.args(args).env_remove("FOS_PASSWORD").env_remove("FOS_NEW_PASSWORD").env_remove("FOS_SITE");
    for (k, v) in envs {
        c.env(k, v);
    }
    from(c.output().expect("run fos"))
}

/// A data directory with the users of [`USERS`].
pub struct Site {
    pub tmp: tempfile::TempDir,
    pub dir: PathBuf,
}

impl Site {
    pub fn new() -> Site {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        let site = Site { dir, tmp };
        let (admin, _, pw) = USERS[0];
        site.anon(&["users", "add", admin, "--role", "admin"], &[("FOS_PASSWORD", pw)]).ok();
        for (name, role, new) in &USERS[1..] {
            site.anon(
                &["users", "add", name, "--role", role, "--user", admin],
                &[("FOS_PASSWORD", pw), ("FOS_NEW_PASSWORD", new)],
            )
            .ok();
        }
        site
    }

    pub fn data(&self) -> &str {
        self.dir.to_str().unwrap()
    }

    /// `fos ARGS --data-dir DIR` with `envs`, no password.
    pub fn anon(&self, args: &[&str], envs: &[(&str, &str)]) -> Run {
        let mut all = args.to_vec();
        all.extend(["--data-dir", self.data()]);
        fos_env(&all, envs)
    }

    /// `fos ARGS --data-dir DIR --json` as nobody in particular.
    pub fn run(&self, args: &[&str]) -> Run {
        let mut all = args.to_vec();
        all.push("--json");
        self.anon(&all, &[])
    }

    /// `fos ARGS --user USER --data-dir DIR --json`, with USER's password.
    pub fn as_user(&self, user: &str, args: &[&str]) -> Run {
        let mut all = args.to_vec();
        all.extend(["--user", user, "--json"]);
        self.anon(&all, &[("FOS_PASSWORD", password(user))])
    }

    /// Proposes a tool-offset change by an AI model; returns the JSON.
    pub fn ai_offset(&self, machine: &str, delta: &str, extra: &[&str]) -> serde_json::Value {
        let mut args = vec!["gate", "propose", "--kind", "tool-offset", "--machine", machine, "--delta-mm", delta, "--model", "wear-net@2.1"];
        args.extend(extra);
        self.run(&args).ok().json()
    }

    /// The status of proposal `id`, from `fos gate list`.
    pub fn status(&self, id: &str) -> String {
        let list = self.run(&["gate", "list"]).ok().json();
        list["proposals"].as_array().unwrap().iter().find(|p| p["id"] == id).map(|p| p["status"].as_str().unwrap().to_owned()).unwrap_or_default()
    }

    /// The ledger's records about `id`, from `fos audit show ID`: (index, kind) in order.
    pub fn records_about(&self, id: &str) -> Vec<(u64, String)> {
        let shown = self.run(&["audit", "show", id]).ok().json();
        shown["chain"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|l| l["about"].as_array().unwrap().iter().any(|a| a == id))
            .map(|l| (l["index"].as_u64().unwrap(), l["kind"].as_str().unwrap().to_owned()))
            .collect()
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }
}

pub fn ci() -> bool {
    std::env::var("CI").map(|v| v == "true" || v == "1").unwrap_or(false)
}

pub fn port_open(port: u16) -> bool {
    TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(300)).is_ok()
}

pub fn peers_dir() -> PathBuf {
    std::env::var_os("PEERS_DIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/tmp/peers"))
}

/// A child process killed when dropped.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The workspace's root.
pub fn workspace() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}
