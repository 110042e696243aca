#![cfg(feature = "modbus")]
//! The generic poller (`run_poller`) over the Modbus driver, against pymodbus processes this test starts
//! (peers/scripts/modbus_server.py: HR i = i, IR i = 10·i). Rates and gaps are asserted loosely (factor 2 or
//! more), so slow CI machines pass.

mod common;

use std::time::{Duration, Instant, SystemTime};

use fos_connect::poll::{run_poller, Backoff, PollEvent, PollGroup};
use fos_connect::{ConnectError, ConnectOptions, Connection, Quality, Sample, Value};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

fn peer_cmd(port: u16) -> Vec<String> {
    let script = common::scripts_dir().join("modbus_server.py");
    vec![common::venv_python().display().to_string(), script.display().to_string(), port.to_string()]
}

fn own_peer() -> Option<common::PeerProcess> {
    let port = common::free_port();
    common::PeerProcess::start(peer_cmd(port), port)
}

fn group(name: &str, interval_ms: u64, addresses: &[&str]) -> PollGroup {
    PollGroup {
        name: name.into(),
        interval: Duration::from_millis(interval_ms),
        addresses: addresses.iter().map(|a| a.to_string()).collect(),
    }
}

struct Poller {
    handle: JoinHandle<Result<(), ConnectError>>,
    samples: mpsc::Receiver<Sample>,
    events: mpsc::UnboundedReceiver<PollEvent>,
    stop: watch::Sender<bool>,
}

fn start(url: &str, options: ConnectOptions, groups: Vec<PollGroup>, capacity: usize, backoff: Backoff) -> Poller {
    let conn = Connection::new(url, options).unwrap();
    let (tx, samples) = mpsc::channel(capacity);
    let (etx, events) = mpsc::unbounded_channel();
    let (stop, stop_rx) = watch::channel(false);
    let handle = tokio::spawn(run_poller(conn, groups, tx, Some(etx), backoff, stop_rx));
    Poller { handle, samples, events, stop }
}

fn quick_backoff() -> Backoff {
    Backoff::new(Duration::from_millis(100), Duration::from_millis(400))
}

impl Poller {
    /// Receive until `until` is true of a sample, failing after `within`. Returns all received.
    async fn recv_until(&mut self, within: Duration, until: impl Fn(&Sample) -> bool) -> Vec<Sample> {
        let deadline = Instant::now() + within;
        let mut got = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.samples.recv()).await {
                Ok(Some(s)) => {
                    let done = until(&s);
                    got.push(s);
                    if done {
                        return got;
                    }
                }
                Ok(None) => panic!("the poller ended; got {got:?}"),
                Err(_) => {
                    panic!("nothing matching within {within:?}; got {} samples, last {:?}", got.len(), got.last())
                }
            }
        }
    }

    /// Everything received during `d`.
    async fn recv_for(&mut self, d: Duration) -> Vec<(Instant, Sample)> {
        let deadline = tokio::time::Instant::now() + d;
        let mut got = Vec::new();
        while let Ok(Some(s)) = tokio::time::timeout_at(deadline, self.samples.recv()).await {
            got.push((Instant::now(), s));
        }
        got
    }

    fn drain_events(&mut self) -> Vec<PollEvent> {
        let mut v = Vec::new();
        while let Ok(e) = self.events.try_recv() {
            v.push(e);
        }
        v
    }

    async fn stop(self) {
        self.stop.send(true).unwrap();
        let Poller { handle, samples, .. } = self;
        // Keep the receiver alive until the poller is gone, so it ends by the stop signal.
        let r = tokio::time::timeout(Duration::from_secs(3), handle).await;
        drop(samples);
        r.expect("the poller ends promptly on stop").unwrap().unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_groups_deliver_at_their_own_rates() {
    let Some(peer) = own_peer() else { return };
    let url = format!("modbus://127.0.0.1:{}", peer.port);
    let groups = vec![group("fast", 100, &["hr:1", "ir:2"]), group("slow", 300, &["hr:3:i16"])];
    let mut p = start(&url, ConnectOptions::default(), groups, 64, quick_backoff());
    p.recv_until(Duration::from_secs(10), |s| s.quality.is_good()).await;
    let got = p.recv_for(Duration::from_secs(3)).await;
    let count = |a: &str| got.iter().filter(|(_, s)| s.address == a).count();
    for (_, s) in &got {
        let want = match s.address.as_str() {
            "hr:1" => Value::UInt(1),
            "ir:2" => Value::UInt(20),
            "hr:3:i16" => Value::Int(3),
            other => panic!("unexpected {other}"),
        };
        assert_eq!(s.value.as_ref(), Some(&want), "{s:?}");
    }
    let (fast, slow) = (count("hr:1"), count("hr:3:i16"));
    // A group's tags come together (the 3 s window may cut one batch).
    assert!(count("ir:2").abs_diff(fast) <= 1, "hr:1 {fast} vs ir:2 {}", count("ir:2"));
    eprintln!("in 3 s: fast group {fast} cycles, slow group {slow} cycles");
    // 3 s at 100 ms ≈ 30, at 300 ms ≈ 10.
    assert!((15..=60).contains(&fast), "fast group: {fast} cycles in 3 s");
    assert!((5..=20).contains(&slow), "slow group: {slow} cycles in 3 s");
    assert!(fast > slow, "fast {fast} vs slow {slow}");
    assert_eq!(p.drain_events(), [PollEvent::Connected]);
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn min_request_gap_paces_the_requests_of_a_split_read() {
    let Some(peer) = own_peer() else { return };
    // gap=0: these four registers are four requests.
    let url = format!("modbus://127.0.0.1:{}?gap=0", peer.port);
    let list = ["hr:0", "hr:20", "hr:40", "hr:60"];
    let mut probe = Connection::new(&url, ConnectOptions::default()).unwrap();
    let plan = probe.prepare(&list.map(String::from)).unwrap();
    assert_eq!(probe.plan_requests(plan), 4);

    let gap = Duration::from_millis(200);
    let options = ConnectOptions { min_request_gap: gap, ..ConnectOptions::default() };
    let mut p = start(&url, options, vec![group("split", 20, &list)], 64, quick_backoff());
    p.recv_until(Duration::from_secs(10), |s| s.quality.is_good()).await;
    let got = p.recv_for(Duration::from_secs(3)).await;
    assert!(got.iter().all(|(_, s)| s.quality.is_good()), "{got:?}");
    // Each sample's time is its request's reply time: consecutive requests are at least the gap apart
    // (start to start; replies of a local server follow within milliseconds).
    let times: Vec<SystemTime> = got.iter().map(|(_, s)| s.time).collect();
    let gaps: Vec<Duration> = times.windows(2).map(|w| w[1].duration_since(w[0]).unwrap_or_default()).collect();
    eprintln!("reply-to-reply gaps: min {:?} max {:?}", gaps.iter().min(), gaps.iter().max());
    for &d in &gaps {
        assert!(d >= gap * 3 / 4, "requests {d:?} apart, gap is {gap:?}");
    }
    // The 20 ms interval cannot be kept: a cycle of 4 paced requests takes ≥ 800 ms, so ≤ 4-5 cycles in 3 s.
    let cycles = got.iter().filter(|(_, s)| s.address == "hr:0").count();
    assert!((1..=5).contains(&cycles), "{cycles} cycles in 3 s");
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_down_at_start_is_retried_until_it_comes_up() {
    let port = common::free_port();
    let url = format!("modbus://127.0.0.1:{port}");
    let list = ["hr:5", "ir:5", "co:5"];
    let mut p = start(&url, ConnectOptions::default(), vec![group("g", 100, &list)], 64, quick_backoff());
    let down = p.recv_for(Duration::from_millis(1500)).await;
    // One batch of bad samples for the outage, not one per attempt.
    assert_eq!(down.len(), list.len(), "{down:?}");
    for ((_, s), a) in down.iter().zip(list) {
        assert_eq!((s.address.as_str(), s.quality), (a, Quality::BadNotConnected), "{s:?}");
        assert!(s.detail.as_deref().unwrap().contains(&format!("cannot connect to modbus://127.0.0.1:{port}")));
    }
    let events = p.drain_events();
    assert!(events.len() >= 3, "retried with a 100..400 ms backoff: {events:?}");
    for e in &events {
        let PollEvent::ConnectFailed { error, .. } = e else { panic!("{e:?}") };
        assert!(error.contains("cannot connect"), "{error}");
    }

    let Some(_peer) = common::PeerProcess::start(peer_cmd(port), port) else {
        return;
    };
    let got = p.recv_until(Duration::from_secs(15), |s| s.address == "co:5" && s.quality.is_good()).await;
    let good: Vec<_> = got.iter().filter(|s| s.quality.is_good()).collect();
    assert_eq!(
        good.iter().map(|s| s.value.clone().unwrap()).collect::<Vec<_>>(),
        [Value::UInt(5), Value::UInt(50), Value::Bool(false)]
    );
    assert!(p.drain_events().contains(&PollEvent::Connected));
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_killed_mid_run_gives_bad_samples_then_good_after_restart() {
    let Some(mut peer) = own_peer() else { return };
    let url = format!("modbus://127.0.0.1:{}", peer.port);
    let mut p = start(&url, ConnectOptions::default(), vec![group("g", 100, &["hr:9", "ir:9"])], 64, quick_backoff());
    p.recv_until(Duration::from_secs(10), |s| s.address == "ir:9" && s.quality.is_good()).await;

    peer.stop();
    let got = p.recv_until(Duration::from_secs(10), |s| !s.quality.is_good()).await;
    let bad = got.last().unwrap();
    assert_eq!(bad.quality, Quality::BadNotConnected, "{bad:?}");
    // Both tags get their bad sample.
    let next = p.recv_until(Duration::from_secs(5), |_| true).await;
    assert_eq!(next[0].quality, Quality::BadNotConnected, "{next:?}");
    let events = p.drain_events();
    assert!(events.iter().any(|e| matches!(e, PollEvent::ConnectionLost { .. })), "{events:?}");

    peer.restart();
    let got = p.recv_until(Duration::from_secs(15), |s| s.quality.is_good()).await;
    assert!(got.iter().rev().skip(1).all(|s| !s.quality.is_good()), "bad until back: {got:?}");
    let v = got.last().unwrap();
    assert!(v.value == Some(Value::UInt(9)) || v.value == Some(Value::UInt(90)), "{v:?}");
    let events = p.drain_events();
    assert!(events.contains(&PollEvent::Connected), "{events:?}");
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_ends_the_poller_promptly_when_polling_and_when_waiting_to_reconnect() {
    let Some(peer) = own_peer() else { return };
    let url = format!("modbus://127.0.0.1:{}", peer.port);
    let mut p = start(&url, ConnectOptions::default(), vec![group("g", 10_000, &["hr:1"])], 64, quick_backoff());
    p.recv_until(Duration::from_secs(10), |s| s.quality.is_good()).await;
    // The next cycle is 10 s away: stop must not wait for it.
    let t0 = Instant::now();
    p.stop().await;
    assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());

    // Down, in a 30 s backoff sleep.
    let url = format!("modbus://127.0.0.1:{}", common::free_port());
    let slow = Backoff::new(Duration::from_secs(30), Duration::from_secs(30));
    let mut p = start(&url, ConnectOptions::default(), vec![group("g", 100, &["hr:1"])], 64, slow);
    p.recv_until(Duration::from_secs(10), |s| s.quality == Quality::BadNotConnected).await;
    let t0 = Instant::now();
    p.stop().await;
    assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_sample_channel_blocks_the_poller_without_dropping() {
    let Some(peer) = own_peer() else { return };
    let url = format!("modbus://127.0.0.1:{}", peer.port);
    let list: Vec<String> = (0..20).map(|i| format!("hr:{i}")).collect();
    let refs: Vec<&str> = list.iter().map(String::as_str).collect();
    let capacity = 8;
    let mut p = start(&url, ConnectOptions::default(), vec![group("g", 20, &refs)], capacity, quick_backoff());
    // Do not read for 1.5 s: at 20 ms that would be ~75 cycles, 1,500 samples.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(!p.handle.is_finished(), "the poller waits, it does not give up");
    let resume = SystemTime::now();
    let mut batches = Vec::new();
    for _ in 0..4 {
        let mut batch = Vec::new();
        for _ in 0..list.len() {
            let s = tokio::time::timeout(Duration::from_secs(10), p.samples.recv()).await.unwrap().unwrap();
            batch.push(s);
        }
        batches.push(batch);
    }
    // No sample was dropped: every batch is hr:0..19 in order, values intact.
    for b in &batches {
        for (i, s) in b.iter().enumerate() {
            assert_eq!(s.address, format!("hr:{i}"), "{b:?}");
            assert_eq!(s.value, Some(Value::UInt(i as u64)), "{s:?}");
        }
    }
    // The first batch was read before the pause (and waited in the channel and in the blocked send); the
    // poller read nothing while blocked: the second batch was read after we resumed.
    let first = batches[0][0].time;
    assert!(resume.duration_since(first).unwrap_or_default() >= Duration::from_secs(1), "first batch is old");
    let second = batches[1][0].time;
    assert!(second + Duration::from_millis(20) >= resume, "second batch read only after the consumer resumed");
    p.stop().await;
}
