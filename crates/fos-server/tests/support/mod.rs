//! Shared by the API tests: a real site in a temporary folder with one user per role, a synthetic
//! bearing recording diagnosed into a real finding, a historian with a known ramp, the server on
//! 127.0.0.1:0, and an HTTP client.

#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use fos_core::BearingGeometry;
use fos_historian::{Historian, Point, WaveformBlock};
use fos_server::{
    serve, AssetInfo, ConsoleAssets, HistorianTrends, LatestBlocks, Providers, Running, ServerConfig, StaticPlant, TagInfo,
    VibrationInfo,
};
use fos_signal::kinematics::FaultKind;
use fos_signal::synth::{simulate, BearingSimConfig};
use fos_site::findings::RecordRequest;
use fos_site::{Role, Site};
use serde_json::Value;

/// The users of every test site: (name, role, password).
pub const USERS: [(&str, Role, &str); 7] = [
    ("ann", Role::Admin, "admin-pass-1"),
    ("olga", Role::Operator, "operator-pass-1"),
    ("alex", Role::Approver, "approver-pass-1"),
    ("erin", Role::Engineer, "engineer-pass-1"),
    ("ezra", Role::Engineer, "engineer-pass-2"),
    ("aud", Role::Auditor, "auditor-pass-1"),
    ("pat", Role::Operator, "operator-pass-2"),
];

pub fn password(user: &str) -> &'static str {
    USERS.iter().find(|u| u.0 == user).map(|u| u.2).unwrap_or("no-such-password")
}

pub const SKF6205: BearingGeometry = BearingGeometry { elements: 9, element_d: 0.3126, pitch_d: 1.537, contact_angle_deg: 0.0 };

/// The ramp tag's first sample, Unix ms (2026-01-01T00:00:00Z).
pub const RAMP_T0_MS: i64 = 1_767_225_600_000;

/// A site with the users of [`USERS`], one real finding on machine `motor-1`, and a historian tag
/// `motor-1.temp` holding 1000 samples one second apart with value = the sample's index.
pub struct Fixture {
    pub tmp: tempfile::TempDir,
    pub dir: PathBuf,
    pub site: Arc<Site>,
    pub finding: String,
    pub blocks: Arc<LatestBlocks>,
}

impl Fixture {
    pub fn new() -> Fixture {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        let site = Site::open(&dir, true).unwrap();
        let (admin, _, pw) = USERS[0];
        site.add_user(None, admin, Role::Admin, pw).unwrap();
        let ann = site.authenticate(admin, pw).unwrap();
        for (name, role, pw) in &USERS[1..] {
            site.add_user(Some(&ann), name, *role, pw).unwrap();
        }
        let finding = record_finding(&site, &dir, tmp.path());
        write_ramp(&dir);
        let blocks = Arc::new(LatestBlocks::new());
        blocks.put(block(Some(FaultKind::Outer)));
        Fixture { tmp, dir, site: Arc::new(site), finding, blocks }
    }

    pub fn plant(&self) -> StaticPlant {
        StaticPlant(vec![
            AssetInfo {
                id: "motor-1".into(),
                name: "Motor 1".into(),
                kind: "motor".into(),
                area: "plant/hall-1".into(),
                machines: vec!["motor-1".into()],
                tags: vec![TagInfo { tag: "motor-1.temp".into(), name: "bearing temperature".into(), unit: "°C".into() }],
                vibration: Some(VibrationInfo { channel: "de".into(), bearing: SKF6205, shaft_hz: 29.95, band_hz: None }),
            },
            AssetInfo {
                id: "mill-3".into(),
                name: "Mill 3".into(),
                kind: "cnc-mill".into(),
                area: "plant/hall-2".into(),
                machines: vec![],
                tags: vec![],
                vibration: None,
            },
        ])
    }

    pub fn providers(&self) -> Providers {
        Providers::new().with_trends(Arc::new(HistorianTrends::new(&self.dir))).with_waveforms(self.blocks.clone())
    }

    /// Starts the server; the sender stops it.
    pub async fn start(&self) -> (Running, String, tokio::sync::oneshot::Sender<()>) {
        let config = ServerConfig {
            bind: "127.0.0.1:0".parse().unwrap(),
            watch_interval: Duration::from_millis(300),
            ..ServerConfig::default()
        };
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let running = serve(config, self.site.clone(), Arc::new(self.plant()), self.providers(), ConsoleAssets::placeholder(), async {
            let _ = rx.await;
        })
        .await
        .unwrap();
        let base = format!("http://{}", running.addr());
        (running, base, tx)
    }
}

/// A 12 kHz block of a bearing with an outer-race fault (or healthy), channel `de`.
pub fn block(fault: Option<FaultKind>) -> WaveformBlock {
    let mut c = BearingSimConfig::new(12_000.0, 2.0, 29.95, SKF6205);
    c.fault = fault.map(|k| (k, 1.0));
    c.shaft_harmonics = vec![0.3, 0.1];
    WaveformBlock { channel: "de".into(), start_ns: RAMP_T0_MS * 1_000_000, rate_hz: 12_000.0, samples: simulate(&c).unwrap() }
}

/// Diagnoses a synthetic outer-race recording (CSV) on machine `motor-1` as `fos findings record` does
/// and appends its finding; returns the first finding's id.
fn record_finding(site: &Site, data: &Path, tmp: &Path) -> String {
    let mut c = BearingSimConfig::new(12_000.0, 4.0, 29.95, SKF6205);
    c.fault = Some((FaultKind::Outer, 1.0));
    c.seed = 11;
    let x = simulate(&c).unwrap();
    let csv = tmp.join("motor-1.csv");
    let mut text = String::from("de\n");
    for v in &x {
        text.push_str(&format!("{v}\n"));
    }
    std::fs::write(&csv, text).unwrap();
    let mut req = RecordRequest::new(csv, "de".into(), 12_000.0, 29.95);
    req.bearing = Some(SKF6205);
    req.machine = Some("motor-1".into());
    req.no_cases = true;
    req.whole = true;
    let analysis = fos_site::findings::analyze(&req, data).unwrap();
    assert_eq!(analysis.findings(), 1, "{:?}", analysis.report());
    let out = site.record_findings(&analysis).unwrap();
    assert_eq!(out.findings[0].label, "outer", "{out:?}");
    out.findings[0].id.clone()
}

/// The historian tag `motor-1.temp`: 1000 samples, 1 s apart from [`RAMP_T0_MS`], value = index;
/// sample 500 is of bad quality.
fn write_ramp(data: &Path) {
    let mut h = Historian::open(data).unwrap();
    let tag: Arc<str> = Arc::from("motor-1.temp");
    let points: Vec<Point> = (0..1000i64)
        .map(|i| Point {
            time_ns: (RAMP_T0_MS + i * 1000) * 1_000_000,
            tag: tag.clone(),
            value: i as f64,
            quality: if i == 500 { fos_historian::quality::BAD } else { fos_historian::quality::GOOD },
        })
        .collect();
    h.write_batch(&points).unwrap();
    h.commit(&[]).unwrap();
}

/// An HTTP client that never follows redirects.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).timeout(Duration::from_secs(60)).build().unwrap()
}

/// Logs `user` in; returns the token.
pub async fn login(c: &reqwest::Client, base: &str, user: &str) -> String {
    let r = c
        .post(format!("{base}/api/login"))
        .json(&serde_json::json!({"user": user, "password": password(user)}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "login {user}");
    let v: Value = r.json().await.unwrap();
    v["token"].as_str().unwrap().to_owned()
}

/// Status and JSON body (or Null) of a request.
pub async fn call(c: &reqwest::Client, method: &str, url: &str, token: Option<&str>, body: Option<Value>) -> (u16, Value) {
    let mut rb = match method {
        "GET" => c.get(url),
        "POST" => c.post(url),
        other => panic!("method {other}"),
    };
    if let Some(t) = token {
        rb = rb.bearer_auth(t);
    }
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    let r = rb.send().await.unwrap();
    let status = r.status().as_u16();
    let is_sse = r.headers().get("content-type").is_some_and(|v| v.to_str().unwrap_or("").starts_with("text/event-stream"));
    if is_sse {
        return (status, Value::Null);
    }
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

pub fn ci() -> bool {
    std::env::var("CI").map(|v| v == "true" || v == "1").unwrap_or(false)
}

pub fn peers_dir() -> PathBuf {
    std::env::var_os("PEERS_DIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/tmp/peers"))
}

pub fn workspace() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}
