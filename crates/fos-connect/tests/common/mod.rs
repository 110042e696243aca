//! Shared helpers for the tests that talk to real third-party peers (see `peers/`).
//!
//! The shared peers (`bash peers/scripts/peers.sh start`) listen on fixed ports (env overrides:
//! MODBUS_PORT, OPCUA_PORT, OPCUA_NODE_PORT, S7_NATIVE_PORT, S7_PY_PORT, ENIP_PORT, MC_PORT,
//! MQTT_PORT). A test that needs one and finds it down skips loudly, except under `CI=true`,
//! where it fails. Tests that stop and restart a peer start their own on a free port.
#![allow(dead_code, unreachable_pub)]

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn ci() -> bool {
    std::env::var("CI").map(|v| v == "true" || v == "1").unwrap_or(false)
}

/// Where `peers.sh install` put the venvs and node modules.
pub fn peers_dir() -> PathBuf {
    std::env::var_os("PEERS_DIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/tmp/peers"))
}

/// The repository's `peers/scripts`.
pub fn scripts_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../peers/scripts")
}

pub fn venv_python() -> PathBuf {
    peers_dir().join("venv/bin/python")
}

pub fn venv_bin(name: &str) -> PathBuf {
    peers_dir().join("venv/bin").join(name)
}

pub fn port_open(port: u16) -> bool {
    TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(300)).is_ok()
}

/// The port of a shared peer, or None (skip) when it is not running. Fails under CI=true.
pub fn shared_peer(env: &str, default: u16, what: &str) -> Option<u16> {
    let port = std::env::var(env).ok().and_then(|v| v.parse().ok()).unwrap_or(default);
    if port_open(port) {
        return Some(port);
    }
    let msg = format!(
        "{what} is not listening on 127.0.0.1:{port} (${env}); start the peers with \
         `bash peers/scripts/peers.sh install && bash peers/scripts/peers.sh start`"
    );
    if ci() {
        panic!("{msg}");
    }
    eprintln!("SKIPPED: {msg}");
    None
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A peer process this test owns; killed on drop.
pub struct PeerProcess {
    pub port: u16,
    cmd: Vec<String>,
    child: Option<Child>,
}

impl PeerProcess {
    /// Start `cmd` (the port is part of it) and wait until `port` accepts connections.
    /// None (skip, or fail under CI) when the program is not installed.
    pub fn start(cmd: Vec<String>, port: u16) -> Option<PeerProcess> {
        if !PathBuf::from(&cmd[0]).exists() && !cmd[0].contains('/') {
            // a program on PATH: fine
        } else if !PathBuf::from(&cmd[0]).exists() {
            let msg = format!("{} not found; run `bash peers/scripts/peers.sh install`", cmd[0]);
            if ci() {
                panic!("{msg}");
            }
            eprintln!("SKIPPED: {msg}");
            return None;
        }
        let mut p = PeerProcess { port, cmd, child: None };
        p.spawn();
        Some(p)
    }

    fn spawn(&mut self) {
        let child = Command::new(&self.cmd[0])
            .args(&self.cmd[1..])
            .env("NODE_PATH", peers_dir().join("npm/node_modules"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {:?}: {e}", self.cmd));
        self.child = Some(child);
        let t0 = Instant::now();
        while !port_open(self.port) {
            assert!(t0.elapsed() < Duration::from_secs(30), "peer {:?} did not open port {}", self.cmd, self.port);
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let t0 = Instant::now();
        while port_open(self.port) && t0.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }
}

impl Drop for PeerProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Every input of a fuzz target's corpus (`fuzz/corpus/TARGET`) and saved crashes
/// (`fuzz/regressions/TARGET`), for replay on stable Rust. The corpus must not be empty.
pub fn fuzz_inputs(target: &str) -> Vec<PathBuf> {
    fn walk(dir: &std::path::Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else {
                out.push(p);
            }
        }
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let mut files = Vec::new();
    walk(&root.join("corpus").join(target), &mut files);
    assert!(!files.is_empty(), "no corpus under {}", root.join("corpus").join(target).display());
    walk(&root.join("regressions").join(target), &mut files);
    files.sort();
    files
}
