//! The central mirror on S3-compatible storage: a real S3 server (moto's, installed by
//! `peers/scripts/peers.sh install` into `$PEERS_DIR/venv`), a bucket made with boto3, committed
//! Parquet files copied by `Mirror::sync` through `object_store`'s S3 client, and `fos query --store
//! s3://…` answering over them, plaintext and encrypted.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use fos_historian::{quality, AtRest, Historian, HistorianOptions, Point};

fn peers_dir() -> PathBuf {
    std::env::var_os("PEERS_DIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/tmp/peers"))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// moto's S3 server on a free port, or `None` (with a loud message; a failure under `CI=true`).
fn moto() -> Option<(Killed, String)> {
    let bin = peers_dir().join("venv/bin/moto_server");
    if !bin.exists() {
        let msg = format!("moto_server not found at {} (run peers/scripts/peers.sh install)", bin.display());
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{msg}");
        eprintln!("SKIP: {msg}");
        return None;
    }
    let port = free_port();
    let child = Command::new(&bin)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let guard = Killed(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "moto_server did not listen on {port}");
        std::thread::sleep(Duration::from_millis(100));
    }
    Some((guard, format!("http://127.0.0.1:{port}")))
}

const ENV: [(&str, &str); 4] = [
    ("AWS_ACCESS_KEY_ID", "fos-test"),
    ("AWS_SECRET_ACCESS_KEY", "fos-test-secret"),
    ("AWS_REGION", "us-east-1"),
    ("AWS_ALLOW_HTTP", "true"),
];

fn make_bucket(endpoint: &str, bucket: &str) {
    let py = peers_dir().join("venv/bin/python");
    let script = format!(
        "import boto3; boto3.client('s3', endpoint_url='{endpoint}', region_name='us-east-1', \
         aws_access_key_id='fos-test', aws_secret_access_key='fos-test-secret').create_bucket(Bucket='{bucket}')"
    );
    let out = Command::new(py).args(["-c", &script]).output().unwrap();
    assert!(out.status.success(), "create bucket: {}", String::from_utf8_lossy(&out.stderr));
}

fn fos_query(endpoint: &str, url: &str, sql: &str, extra: &[&str]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_fos"));
    c.args(["query", sql, "--json", "--store", url]).args(extra).env("AWS_ENDPOINT", endpoint);
    for (k, v) in ENV {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn points(n: i64) -> Vec<Point> {
    (0..n)
        .map(|i| Point {
            time_ns: i * 60_000_000_000, // one per minute: 1,440 a day, three days
            tag: format!("line.t{}", i % 5).into(),
            value: (i as f64).sqrt() - 7.25,
            quality: quality::GOOD,
        })
        .collect()
}

#[test]
fn the_mirror_uploads_committed_files_to_s3_and_sql_reads_them_back() {
    let Some((_moto, endpoint)) = moto() else { return };
    // This test is its own process under nextest; the S3 client reads its settings from the environment.
    std::env::set_var("AWS_ENDPOINT", &endpoint);
    for (k, v) in ENV {
        std::env::set_var(k, v);
    }
    make_bucket(&endpoint, "fos-central");
    let tmp = tempfile::tempdir().unwrap();

    for (name, at_rest, key_args) in [
        ("plain", AtRest::plain(), Vec::<&str>::new()),
        ("sealed", AtRest::encrypted(&fos_keys::Key::from_bytes([5; 32])), vec!["--key-env", "FOS_TEST_S3_KEY"]),
    ] {
        let data = tmp.path().join(name);
        let mut h =
            Historian::open_with(&data, HistorianOptions { at_rest: at_rest.clone(), ..Default::default() }).unwrap();
        let pts = points(3 * 1440);
        h.write_batch(&pts).unwrap();
        h.commit(&[("wal", 1)]).unwrap();
        // A second commit later: only its files are copied by the next sync.
        h.write_batch(&[Point { time_ns: 5 * 86_400_000_000_000, tag: "line.t0".into(), value: 1.0, quality: 0 }])
            .unwrap();

        let url = format!("s3://fos-central/site-a/{name}");
        let mut m = fos_historian::mirror::Mirror::open(&url).unwrap();
        let first = m.sync(&data).unwrap();
        assert_eq!(first.files, 3, "one file per day");
        assert!(first.bytes > 0);
        h.commit(&[("wal", 2)]).unwrap();
        assert_eq!(m.sync(&data).unwrap().files, 1, "only the new commit's file");
        assert_eq!(fos_historian::mirror::Mirror::open(&url).unwrap().sync(&data).unwrap().files, 0, "listed from S3");

        // The same answer from S3 as from the local historian, through the CLI.
        let sql = "SELECT count(*) AS n, sum(value) AS s, min(time) AS t0, max(time) AS t1 FROM samples";
        let local = h.query(sql).unwrap();
        let expected_sum: f64 = pts.iter().map(|p| p.value).sum::<f64>() + 1.0;
        std::env::set_var("FOS_TEST_S3_KEY", "05".repeat(32));
        let out = fos_query(&endpoint, &url, sql, &key_args);
        assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stderr));
        let row: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(row["n"], 3 * 1440 + 1, "{name}: {row}");
        let s = row["s"].as_f64().unwrap();
        assert!((s - expected_sum).abs() < 1e-6, "{name}: {s} vs {expected_sum}");
        assert_eq!(local[0].num_rows(), 1);
        if at_rest.is_encrypted() {
            let out = fos_query(&endpoint, &url, sql, &[]);
            assert!(!out.status.success(), "an encrypted mirror must not read without the key");
        }
    }
}
