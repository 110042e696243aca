//! Shared helpers of the adapter tests: a simulator whose plant stands still (so values read can
//! be compared with the plant's), the gate key for permit-gated writes, and the independent Python
//! clients of the peers' venv (skipped loudly when missing, failing under `CI=true`).
#![allow(dead_code, unreachable_pub)]

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use ed25519_dalek::SigningKey;
use fos_connect::{ConnectOptions, Connection, Value, WriteAccess, WritePermit};
use fos_sim::serve::{OpcUaOptions, ServeOptions, Simulator};
use fos_sim::Plant;

pub fn ci() -> bool {
    std::env::var("CI").map(|v| v == "true" || v == "1").unwrap_or(false)
}

/// A running simulator of the demo plant stepped to `t_s` and then (almost) frozen: 10⁻⁴ × real
/// time, so no tick runs during a test and every read can be compared with the plant. Waits for
/// the first published vibration blocks.
pub async fn frozen(t_s: f64, pki: &tempfile::TempDir) -> Simulator {
    let mut plant = Plant::demo(1).unwrap();
    plant.step(t_s).unwrap();
    start(plant, 1e-4, pki).await
}

/// A simulator of `plant` at `speed`, both servers on free ports, waiting for the first blocks.
pub async fn start(plant: Plant, speed: f64, pki: &tempfile::TempDir) -> Simulator {
    let mut o = ServeOptions::any_port();
    o.speed = speed;
    o.opcua = Some(OpcUaOptions { pki_dir: pki.path().to_path_buf(), ..o.opcua.unwrap() });
    let sim = Simulator::start(plant, o).await.unwrap();
    let m = sim.layout().asset_index("motor-01").unwrap();
    let mut rx = sim.subscribe();
    tokio::time::timeout(Duration::from_secs(10), rx.wait_for(|f| f.blocks[m].is_some()))
        .await
        .expect("no block published within 10 s")
        .unwrap();
    sim
}

pub fn gate_key() -> SigningKey {
    SigningKey::from_bytes(&[42u8; 32])
}

/// A connection that may write with permits of [`gate_key`].
pub fn gated(url: &str) -> Connection {
    let options = ConnectOptions {
        timeout: Duration::from_secs(5),
        write_access: WriteAccess::Gate(gate_key().verifying_key()),
        ..ConnectOptions::default()
    };
    Connection::new(url, options).unwrap()
}

pub fn permit(conn: &Connection, id: &str, address: &str, value: Value) -> WritePermit {
    WritePermit::issue(
        &gate_key(),
        id,
        conn.url().endpoint(),
        address,
        value,
        Duration::from_secs(60),
        vec!["test".into()],
    )
}

/// The peers' Python (pymodbus, asyncua), or None (skip) when it is not installed; fails under CI.
pub fn python() -> Option<PathBuf> {
    let dir = std::env::var_os("PEERS_DIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/tmp/peers"));
    let py = dir.join("venv/bin/python");
    let ok = py.exists()
        && Command::new(&py)
            .args(["-c", "import pymodbus, asyncua"])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
    if ok {
        return Some(py);
    }
    let msg = format!(
        "{} with pymodbus and asyncua not found; run `PEERS_DIR={} bash peers/scripts/peers.sh install`",
        py.display(),
        dir.display()
    );
    assert!(!ci(), "{msg}");
    eprintln!("SKIPPING: {msg}");
    None
}

/// Runs `tests/py/<script>` with `args` (in a blocking thread) and parses its JSON output.
pub async fn run_python(py: PathBuf, script: &str, args: Vec<String>) -> serde_json::Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/py").join(script);
    let out = tokio::task::spawn_blocking(move || Command::new(py).arg(path).args(args).output())
        .await
        .unwrap()
        .expect("run python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{script} failed: {stdout}{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{script} printed {stdout:?}: {e}"))
}
