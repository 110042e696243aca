//! Crash tests of `fos ingest` as a whole process: SIGKILL at random points under load, a NATS
//! outage, a full disk. After each, every sample the pipeline acknowledged (the generator's ack log)
//! is in the historian exactly once, and nothing is duplicated.
//!
//! The random kill points come from a seed printed at the start; set `FOS_CRASH_SEED` to replay one.

use std::io::Read as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fos_historian::arrow::array::AsArray;
use fos_historian::arrow::compute::cast;
use fos_historian::arrow::datatypes::{DataType, Int64Type};
use fos_historian::Historian;
use fos_pipeline::source::{generator_value, parse_time};

const START: &str = "2026-01-01T00:00:00Z";

struct Rng(u64);

impl Rng {
    fn new(test: &str) -> Rng {
        let seed = std::env::var("FOS_CRASH_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
        });
        eprintln!("{test}: FOS_CRASH_SEED={seed}");
        Rng(seed | 1)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A child process killed when dropped, so a failing test leaves no `fos ingest` or nats-server behind.
struct Proc(Option<Child>);

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(c) = &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// `fos ingest` with stderr to a log file (appended across restarts) and stdout piped.
fn ingest(config: &Path, data: &Path, log: &Path) -> Proc {
    let err = std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap();
    Command::new(env!("CARGO_BIN_EXE_fos"))
        .args(["ingest", "--json", "--config"])
        .arg(config)
        .arg("--data-dir")
        .arg(data)
        .stdout(Stdio::piped())
        .stderr(err)
        .spawn()
        .map(|c| Proc(Some(c)))
        .unwrap()
}

fn kill9(p: &mut Proc) {
    if let Some(mut c) = p.0.take() {
        let _ = c.kill();
        let _ = c.wait();
    }
}

/// SIGTERM, then the clean exit's JSON summary.
fn terminate(mut p: Proc, log: &Path) -> serde_json::Value {
    let mut c = p.0.take().expect("a running process");
    let pid = c.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = c.try_wait().unwrap() {
            let mut out = String::new();
            c.stdout.take().unwrap().read_to_string(&mut out).unwrap();
            assert!(status.success(), "fos ingest exited with {status}; log:\n{}", tail(log));
            return serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("summary {out:?}: {e}"));
        }
        assert!(Instant::now() < deadline, "fos ingest did not stop within 60 s; log:\n{}", tail(log));
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// The highest scan acknowledged, from the ack log (a torn last line is ignored).
fn last_acked(ack_log: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(ack_log).unwrap_or_default();
    let complete = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
    complete.lines().map(|l| l.parse::<u64>().unwrap()).max()
}

fn ints(h: &Historian, sql: &str) -> Vec<i64> {
    h.query(sql)
        .unwrap()
        .iter()
        .flat_map(|b| cast(b.column(0), &DataType::Int64).unwrap().as_primitive::<Int64Type>().values().to_vec())
        .collect()
}

/// Checks the historian of `data` against the generator `tags` × scans with `interval_ms`:
/// no (tag, time) twice, every acknowledged scan complete, every stored scan contiguous from 0,
/// and a sample of values bit for bit.
fn check_exactly_once(data: &Path, tags: u32, interval_ms: i64, acked: u64) {
    let h = Historian::open(data).unwrap();
    let dups = ints(&h, "SELECT count(*) FROM (SELECT tag, time FROM samples GROUP BY tag, time HAVING count(*) > 1)");
    assert_eq!(dups, [0], "duplicated (tag, time) pairs");
    let start = parse_time(START).unwrap();
    let step = interval_ms * 1_000_000;
    let acked_end = start + acked as i64 * step;
    let n = ints(&h, &format!("SELECT count(*) FROM samples WHERE CAST(time AS BIGINT) <= {acked_end}"));
    assert_eq!(n, [i64::from(tags) * (acked as i64 + 1)], "acknowledged scans 0..={acked} are not all stored");
    let total = ints(&h, "SELECT count(*) FROM samples")[0];
    let max_t = ints(&h, "SELECT max(CAST(time AS BIGINT)) FROM samples")[0];
    let scans = (max_t - start) / step + 1;
    assert_eq!(total, i64::from(tags) * scans, "stored scans are not contiguous");
    let probe = acked / 2;
    let v = h
        .query(&format!(
            "SELECT value FROM samples WHERE tag = 'gen.t3' AND CAST(time AS BIGINT) = {}",
            start + probe as i64 * step
        ))
        .unwrap();
    let v = v[0].column(0).as_primitive::<fos_historian::arrow::datatypes::Float64Type>().value(0);
    assert_eq!(v.to_bits(), generator_value(probe, 3).to_bits());
    eprintln!("checked: {total} points, acknowledged through scan {acked} of {scans}");
}

#[test]
fn sigkill_at_random_points_under_load_loses_no_acknowledged_sample() {
    let mut rng = Rng::new("sigkill");
    let tmp = tempfile::tempdir().unwrap();
    let (data, acks, log) = (tmp.path().join("data"), tmp.path().join("acks"), tmp.path().join("log"));
    let config = tmp.path().join("edge.toml");
    std::fs::write(
        &config,
        format!(
            "[historian]\ncommit_ms = 100\n[wal]\nsegment_mb = 2\n[[source]]\nkind = \"generator\"\nname = \"gen\"\n\
             tags = 20\nscans_per_batch = 50\nscans = 1000000000\nack_log = {:?}\n",
            acks.display().to_string()
        ),
    )
    .unwrap();
    for round in 0..6 {
        let mut c = ingest(&config, &data, &log);
        let after = 100 + rng.below(1400);
        std::thread::sleep(Duration::from_millis(after));
        kill9(&mut c);
        eprintln!("round {round}: SIGKILL after {after} ms, acknowledged through scan {:?}", last_acked(&acks));
    }
    let c = ingest(&config, &data, &log);
    std::thread::sleep(Duration::from_millis(500));
    let summary = terminate(c, &log);
    assert_eq!(summary["wal_backlog"], 0, "{summary}");
    let acked = last_acked(&acks).expect("something was acknowledged");
    assert!(acked > 1000, "too little load to mean anything: {acked} scans");
    check_exactly_once(&data, 20, 1000, acked);
}

/// A nats-server with JetStream on `port`, storing in `store`.
fn nats_server(port: u16, store: &Path) -> Proc {
    let c = Command::new("nats-server")
        .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
        .arg(store)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nats-server on PATH (.ci/run installs it)");
    let c = Proc(Some(c));
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nats-server did not listen on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
    c
}

fn write_configs(dir: &Path, port: u16, acks: &Path, wal_extra: &str, realtime: bool) -> (PathBuf, PathBuf) {
    let edge = dir.join("edge.toml");
    let gen = if realtime {
        "tags = 10\ninterval_ms = 2\nscans_per_batch = 5\nrealtime = true\n"
    } else {
        "tags = 10\ninterval_ms = 2\nscans_per_batch = 100\n"
    };
    std::fs::write(
        &edge,
        format!(
            "site = \"edge-a\"\njurisdiction = \"eu\"\n[historian]\nenabled = false\n[wal]\nsegment_mb = 1\n{wal_extra}\
             [nats]\nurl = \"nats://127.0.0.1:{port}\"\ndrain_s = 60\n\
             [[source]]\nkind = \"generator\"\nname = \"gen\"\nscans = 1000000000\n{gen}ack_log = {:?}\n",
            acks.display().to_string()
        ),
    )
    .unwrap();
    let central = dir.join("central.toml");
    let mirror = url_of(&dir.join("mirror"));
    std::fs::write(
        &central,
        format!("[central]\nurl = \"nats://127.0.0.1:{port}\"\ncommit_ms = 100\nmirror = {mirror:?}\n"),
    )
    .unwrap();
    (edge, central)
}

fn url_of(dir: &Path) -> String {
    format!("file://{}", dir.display())
}

/// The object-store mirror holds exactly the central historian's rows.
fn check_mirror(central_data: &Path, mirror: &Path) {
    let sql = "SELECT count(*) FROM samples";
    let (_, b) = fos_historian::mirror::query_store(&url_of(mirror), sql, &fos_historian::AtRest::plain()).unwrap();
    let mirrored = cast(b[0].column(0), &DataType::Int64).unwrap().as_primitive::<Int64Type>().value(0);
    let local = ints(&Historian::open(central_data).unwrap(), sql)[0];
    assert_eq!(mirrored, local, "the object-store mirror differs from the central historian");
}

/// Waits until the central historian holds the edge's log through `seq`.
fn wait_central(central_data: &Path, seq: u64, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let h = Historian::open(central_data).unwrap();
        if h.position("site:edge-a").unwrap_or(0) >= seq {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "central holds edge-a through {:?}, wanted {seq}; central log:\n{}",
            h.position("site:edge-a"),
            tail(log)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_nats_outage_and_sigkills_on_both_sides_lose_and_duplicate_nothing() {
    let mut rng = Rng::new("nats-outage");
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let (store, acks) = (tmp.path().join("js"), tmp.path().join("acks"));
    let (edge_data, central_data) = (tmp.path().join("edge"), tmp.path().join("central"));
    let (edge_log, central_log) = (tmp.path().join("edge.log"), tmp.path().join("central.log"));
    let (edge_cfg, central_cfg) = write_configs(tmp.path(), port, &acks, "", true);
    let mut nats = nats_server(port, &store);
    let mut central = ingest(&central_cfg, &central_data, &central_log);
    let mut edge = ingest(&edge_cfg, &edge_data, &edge_log);
    let jitter = |rng: &mut Rng| Duration::from_millis(500 + rng.below(1000));

    std::thread::sleep(jitter(&mut rng));
    kill9(&mut nats); // outage: the edge keeps acknowledging into its log
    let before = last_acked(&acks);
    std::thread::sleep(jitter(&mut rng));
    assert!(last_acked(&acks) > before, "the edge must keep acknowledging while NATS is down");
    kill9(&mut edge); // and crashes during the outage
    edge = ingest(&edge_cfg, &edge_data, &edge_log);
    std::thread::sleep(jitter(&mut rng));
    nats = nats_server(port, &store); // back, with its stored stream
    std::thread::sleep(jitter(&mut rng));
    kill9(&mut central); // the central consumer crashes mid-stream
    central = ingest(&central_cfg, &central_data, &central_log);
    std::thread::sleep(jitter(&mut rng));

    let summary = terminate(edge, &edge_log);
    assert_eq!(summary["wal_backlog"], 0, "edge did not drain: {summary}");
    let seq = summary["wal_durable_seq"].as_u64().unwrap();
    wait_central(&central_data, seq, &central_log);
    let central_summary = terminate(central, &central_log);
    kill9(&mut nats);
    eprintln!("central: {central_summary}");
    assert_eq!(central_summary["gaps"], 0);
    check_exactly_once(&central_data, 10, 2, last_acked(&acks).unwrap());
    check_mirror(&central_data, &tmp.path().join("mirror"));
}

struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Result<Tmpfs, String> {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(format!("mount failed: {}", String::from_utf8_lossy(&out.stderr).trim()));
        }
        Ok(Tmpfs(dir.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_stops_acknowledgements_loses_nothing_and_drains_when_space_returns() {
    let mut rng = Rng::new("full-disk");
    let tmp = tempfile::tempdir().unwrap();
    let edge_data = tmp.path().join("disk");
    let _disk = match Tmpfs::mount(&edge_data, "6m") {
        Ok(m) => m,
        Err(why) => {
            assert!(std::env::var("CI").as_deref() != Ok("true"), "CI=true and no tmpfs: {why}");
            eprintln!("SKIPPED a_full_disk_...: needs root to mount a tmpfs: {why}");
            return;
        }
    };
    let port = free_port();
    let (store, acks) = (tmp.path().join("js"), tmp.path().join("acks"));
    let central_data = tmp.path().join("central");
    let (edge_log, central_log) = (tmp.path().join("edge.log"), tmp.path().join("central.log"));
    // The log's quota is above the disk's size: the disk, not the quota, runs out.
    let (edge_cfg, central_cfg) = write_configs(tmp.path(), port, &acks, "max_mb = 64\n", false);

    // NATS is down: the log fills the 6 MB disk.
    let mut edge = ingest(&edge_cfg, &edge_data, &edge_log);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !std::fs::read_to_string(&edge_log).unwrap_or_default().contains("log is full") {
        assert!(Instant::now() < deadline, "the disk never filled; log:\n{}", tail(&edge_log));
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(300));
    let stuck = last_acked(&acks);
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(last_acked(&acks), stuck, "nothing may be acknowledged while the disk is full");
    std::thread::sleep(Duration::from_millis(rng.below(500)));
    kill9(&mut edge); // crash while full
    let mut edge = ingest(&edge_cfg, &edge_data, &edge_log); // recovery on a full disk
    std::thread::sleep(Duration::from_millis(500 + rng.below(500)));

    // Space returns as the backlog drains to the central site.
    let mut nats = nats_server(port, &store);
    let central = ingest(&central_cfg, &central_data, &central_log);
    let deadline = Instant::now() + Duration::from_secs(60);
    while last_acked(&acks) <= stuck {
        assert!(Instant::now() < deadline, "acknowledgements did not resume; log:\n{}", tail(&edge_log));
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(rng.below(800)));
    kill9(&mut edge);
    let edge = ingest(&edge_cfg, &edge_data, &edge_log);
    std::thread::sleep(Duration::from_millis(1000));
    let summary = terminate(edge, &edge_log);
    assert_eq!(summary["wal_backlog"], 0, "edge did not drain: {summary}");
    wait_central(&central_data, summary["wal_durable_seq"].as_u64().unwrap(), &central_log);
    terminate(central, &central_log);
    kill9(&mut nats);
    check_exactly_once(&central_data, 10, 2, last_acked(&acks).unwrap());
}
