//! The waveform source end to end against the demo plant's real OPC UA server (`fos-sim`): a motor
//! whose bearing has an outer-race defect from the start and a healthy one, their vibration blocks
//! acquired over OPC UA, judged per decision window, logged and stored; a slow poller reports the
//! blocks it missed; a device down at start is retried and its outage marked.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fos_historian::arrow::array::AsArray;
use fos_historian::arrow::compute::cast;
use fos_historian::arrow::datatypes::{DataType, Float64Type, Int64Type, UInt64Type, UInt8Type};
use fos_historian::{Historian, WaveformBlock, WaveformStore};
use fos_pipeline::config::IngestConfig;
use fos_pipeline::diagnosis::{label_code, FEATURES};
use fos_sim::motor::MotorParams;
use fos_sim::scenario::FaultName;
use fos_sim::serve::{Block, OpcUaOptions, ServeOptions, Simulator};
use fos_sim::{Event, Plant, PlantConfig, Scenario};
use tokio::runtime::Runtime;
use tokio::sync::watch;

/// Two motors on locked drive set-points (so the shaft stays within the speed search of its
/// nominal): motor-01 with an outer-race defect of severity 1 from t = 0, motor-02 healthy.
fn plant(motors: usize) -> (Plant, Vec<MotorParams>) {
    let config = PlantConfig { seed: 11, motors, cnc_mills: 0, weld_cells: 0, ..PlantConfig::default() };
    let probe = Plant::new(config.clone(), Scenario::none()).unwrap();
    let ids: Vec<String> = (1..=motors).map(|i| format!("motor-{i:02}")).collect();
    let params: Vec<MotorParams> = ids.iter().map(|id| probe.motor(id).unwrap().params().clone()).collect();
    let mut events = vec![Event::BearingFault {
        at_s: 0.0,
        asset: "motor-01".into(),
        fault: FaultName::Outer,
        initial: 1.0,
        doubling_s: 40.0,
        max: 1.0,
    }];
    for (id, p) in ids.iter().zip(&params) {
        events.push(Event::Speed { at_s: 0.0, asset: id.clone(), hz: p.rated_sync_hz });
    }
    (Plant::new(config, Scenario { events }).unwrap(), params)
}

/// The blocks the simulator published, by asset index and counter.
type Published = HashMap<(usize, u64), Arc<Block>>;

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

/// The simulator at 10× real time, stepped every 20 ms (0.2 simulated seconds: each 1 s block is
/// published, one every 100 ms of real time), OPC UA only, on `addr`.
fn simulator(rt: &Runtime, plant: Plant, pki: &tempfile::TempDir, addr: std::net::SocketAddr) -> Simulator {
    let o = ServeOptions {
        speed: 10.0,
        tick: Duration::from_millis(20),
        modbus: None,
        opcua: Some(OpcUaOptions { addr, host: None, pki_dir: pki.path().to_path_buf() }),
    };
    rt.block_on(Simulator::start(plant, o)).unwrap()
}

fn any_port() -> std::net::SocketAddr {
    std::net::SocketAddr::from(([127, 0, 0, 1], 0))
}

fn source(name: &str, url: &str, motor: &str, p: &MotorParams, extra: &str) -> String {
    let g = p.geometry;
    format!(
        "[[source]]\nkind = \"waveform\"\nname = \"{name}\"\nurl = \"{url}\"\nblock = \"ns=2;s={motor}.vib.block\"\n\
         seq = \"ns=2;s={motor}.vib.seq\"\nrate = \"ns=2;s={motor}.vib.rate_hz\"\nshaft_hz = {:?}\n\
         bearing = [{}, {:?}, {:?}, {:?}]\n{extra}",
        p.rated_shaft_hz(),
        g.elements,
        g.element_d,
        g.pitch_d,
        g.contact_angle_deg
    )
}

/// Every point of tags starting with `prefix`: tag → [(time, value, quality)] in time order.
fn points(h: &Historian, prefix: &str) -> BTreeMap<String, Vec<(i64, f64, u8)>> {
    let mut out: BTreeMap<String, Vec<(i64, f64, u8)>> = BTreeMap::new();
    let sql = format!(
        "SELECT tag, CAST(time AS BIGINT) AS t, value, quality FROM samples WHERE tag LIKE '{prefix}%' ORDER BY t"
    );
    for b in h.query(&sql).unwrap() {
        let tags = cast(b.column(0), &DataType::Utf8).unwrap();
        let tags = tags.as_string::<i32>();
        let times = b.column(1).as_primitive::<Int64Type>();
        let values = b.column(2).as_primitive::<Float64Type>();
        let q = b.column(3).as_primitive::<UInt8Type>();
        for i in 0..b.num_rows() {
            out.entry(tags.value(i).to_owned()).or_default().push((times.value(i), values.value(i), q.value(i)));
        }
    }
    out
}

/// The counters taken, in order, and the `missed` reported with each: every block once, and
/// `missed` the counter's jump less one (0 for the first).
fn check_counters(pts: &BTreeMap<String, Vec<(i64, f64, u8)>>, name: &str) -> (Vec<u64>, u64) {
    let seqs: Vec<(i64, u64)> = pts[&format!("{name}.seq")].iter().map(|&(t, v, _)| (t, v as u64)).collect();
    let missed = &pts[&format!("{name}.missed")];
    assert_eq!(seqs.len(), missed.len(), "{name}: one `missed` per block");
    let mut total = 0;
    for (k, (&(t, seq), &(tm, m, q))) in seqs.iter().zip(missed).enumerate() {
        assert_eq!((t, q), (tm, 0), "{name}: block {k}");
        let want = if k == 0 { 0 } else { seq - seqs[k - 1].1 - 1 };
        assert_eq!(m, want as f64, "{name}: block {k} (seq {seq})");
        total += want;
    }
    assert!(seqs.windows(2).all(|w| w[1].1 > w[0].1), "{name}: each block once, in order: {seqs:?}");
    (seqs.into_iter().map(|(_, s)| s).collect(), total)
}

#[test]
fn a_faulty_and_a_healthy_motor_over_opc_ua_are_judged_stored_and_gaps_reported() {
    let rt = runtime();
    let pki = tempfile::tempdir().unwrap();
    let (plant, params) = plant(2);
    let sim = simulator(&rt, plant, &pki, any_port());
    let url = sim.opcua_url().unwrap();
    let (a1, a2) = (sim.layout().asset_index("motor-01").unwrap(), sim.layout().asset_index("motor-02").unwrap());
    // Every block the simulator publishes, by asset and counter.
    let published: Arc<Mutex<Published>> = Arc::default();
    let mut frames = sim.subscribe();
    let keep = published.clone();
    rt.spawn(async move {
        loop {
            let f = frames.borrow_and_update().clone();
            for a in [a1, a2] {
                if let Some(b) = &f.blocks[a] {
                    keep.lock().unwrap().insert((a, b.seq), b.clone());
                }
            }
            if frames.changed().await.is_err() {
                break;
            }
        }
    });
    let cfg = format!(
        "[historian]\ncommit_ms = 50\n{}{}{}",
        source("m1", &url, "motor-01", &params[0], "interval_ms = 20\nstore_waveforms = true\n"),
        source("m2", &url, "motor-02", &params[1], "interval_ms = 20\nstore_waveforms = true\n"),
        // Polls every 250 ms while a block comes every 100 ms: it must miss some, and say so.
        source("slow", &url, "motor-02", &params[1], "interval_ms = 250\n"),
    );
    let cfg = IngestConfig::parse(&cfg, "test.toml").unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let (stop, rx) = watch::channel(false);
    let t0 = Instant::now();
    // About 40 blocks per fast source after the models are built; two minutes at most.
    let summary = fos_pipeline::run(&cfg, tmp.path(), rx, &mut |s| {
        if s.points_acked >= 3_000 || t0.elapsed() > Duration::from_secs(120) {
            let _ = stop.send(true);
        }
    })
    .unwrap();
    rt.block_on(sim.shutdown());
    eprintln!("{summary:?} in {:?}", t0.elapsed());
    let h = Historian::open(tmp.path()).unwrap();

    // The verdicts: motor-01's defect is flagged as an outer-race fault, motor-02 is healthy.
    let verdicts = |name: &str| {
        let p = points(&h, &format!("{name}."));
        let f = |feature: &str| -> Vec<f64> { p[&format!("{name}.{feature}")].iter().map(|x| x.1).collect() };
        (f("faulty"), f("predicted"), f("score"), p)
    };
    let (faulty, predicted, score, p1) = verdicts("m1");
    eprintln!("m1: {} windows, scores {score:?}", faulty.len());
    assert!(faulty.len() >= 20, "m1: only {} windows", faulty.len());
    for f in FEATURES {
        assert_eq!(p1[&format!("m1.{f}")].len(), faulty.len(), "m1.{f}: one point per window");
    }
    let flagged = faulty.iter().filter(|&&x| x == 1.0).count();
    let outer = predicted.iter().filter(|&&x| x == label_code(fos_core::Label::Outer)).count();
    assert!(flagged * 10 >= faulty.len() * 9, "m1: {flagged} of {} windows flagged", faulty.len());
    assert!(outer * 10 >= faulty.len() * 9, "m1: {outer} of {} windows named outer race", faulty.len());
    let (faulty, _, score, _) = verdicts("m2");
    eprintln!("m2: {} windows, scores {score:?}", faulty.len());
    assert!(faulty.len() >= 20, "m2: only {} windows", faulty.len());
    assert!(faulty.iter().all(|&x| x == 0.0), "m2 is healthy: {faulty:?}");

    // Each block taken once; the slow source reports the blocks it missed.
    let all = points(&h, "");
    let (seqs1, _) = check_counters(&all, "m1");
    let (seqs2, _) = check_counters(&all, "m2");
    let (_, missed) = check_counters(&all, "slow");
    assert!(missed > 0, "the slow source missed no block?");
    assert_eq!(h.position("source:m1"), seqs1.last().copied());

    // The stored blocks are the published ones: each hash is the content hash of the samples the
    // simulator published with that counter, at the block's start (its end less 1 s).
    let published = published.lock().unwrap();
    let store = WaveformStore::open(tmp.path()).unwrap();
    let mut stored: HashMap<String, usize> = HashMap::new();
    for b in h.query("SELECT CAST(start AS BIGINT), channel, hash, sample_count FROM waveforms").unwrap() {
        let starts = b.column(0).as_primitive::<Int64Type>();
        let channels = cast(b.column(1), &DataType::Utf8).unwrap();
        let hashes = cast(b.column(2), &DataType::Utf8).unwrap();
        let counts = b.column(3).as_primitive::<UInt64Type>();
        for i in 0..b.num_rows() {
            let (start, channel) = (starts.value(i), channels.as_string::<i32>().value(i));
            let hash = hashes.as_string::<i32>().value(i);
            let asset = if channel == "m1" { a1 } else { a2 };
            let end = start + 1_000_000_000;
            let seq = all[&format!("{channel}.seq")].iter().find(|p| p.0 == end).map(|p| p.1 as u64);
            let seq = seq.unwrap_or_else(|| panic!("{channel}: no block ends at {end}"));
            let block = published.get(&(asset, seq)).unwrap_or_else(|| panic!("{channel}: block {seq} not seen"));
            assert_eq!(counts.value(i), 12_800);
            let want = WaveformBlock {
                channel: channel.into(),
                start_ns: start,
                rate_hz: 12_800.0,
                samples: block.samples.clone(),
            };
            assert_eq!(hash, want.content_hash(), "{channel} block {seq}");
            assert_eq!(store.get(hash).unwrap().unwrap().samples, block.samples, "{channel} block {seq}");
            *stored.entry(channel.to_owned()).or_default() += 1;
        }
    }
    assert_eq!((stored["m1"], stored["m2"]), (seqs1.len(), seqs2.len()), "every block taken is stored once");
    assert!(!stored.contains_key("slow"));
}

#[test]
fn a_device_down_at_start_is_retried_and_its_outage_marked() {
    let rt = runtime();
    let pki = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind(any_port()).unwrap().local_addr().unwrap().port();
    let (plant, params) = plant(1);
    let url = format!("opcua://127.0.0.1:{port}/");
    let cfg = format!(
        "[historian]\ncommit_ms = 50\n{}",
        source(
            "m1",
            &url,
            "motor-01",
            &params[0],
            "interval_ms = 20\nreconnect_initial_ms = 100\nreconnect_max_ms = 400\nanalysis = { null_windows = 64 }\n"
        ),
    );
    let cfg = IngestConfig::parse(&cfg, "test.toml").unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let (stop, rx) = watch::channel(false);
    let t0 = Instant::now();
    let data = tmp.path().to_path_buf();
    let pipeline = std::thread::spawn(move || {
        fos_pipeline::run(&cfg, &data, rx, &mut |s| {
            if s.points_acked >= 200 || t0.elapsed() > Duration::from_secs(90) {
                let _ = stop.send(true);
            }
        })
    });
    // The device comes up a second later, on the port the source is trying.
    std::thread::sleep(Duration::from_secs(1));
    let sim = simulator(&rt, plant, &pki, std::net::SocketAddr::from(([127, 0, 0, 1], port)));
    let summary = pipeline.join().unwrap().unwrap();
    rt.block_on(sim.shutdown());
    eprintln!("{summary:?}");
    let h = Historian::open(tmp.path()).unwrap();
    let pts = points(&h, "m1.");
    let seq = &pts["m1.seq"];
    // First the outage, once: NaN with quality bad_not_connected (3); then the blocks, good.
    assert_eq!(seq[0].2, 3, "{:?}", seq[0]);
    assert!(seq[0].1.is_nan());
    assert_eq!(seq.iter().filter(|p| p.2 != 0).count(), 1, "the outage is marked once");
    assert!(seq.len() >= 3, "blocks after the device came up: {seq:?}");
    assert!(pts["m1.score"].len() >= 2, "windows judged after the device came up");
}

#[test]
fn bad_waveform_keys_are_refused_naming_the_source_and_the_key() {
    let base = "[[source]]\nkind = \"waveform\"\nname = \"w\"\nurl = \"opcua://127.0.0.1:4840/\"\n\
                block = \"ns=2;s=m.vib.block\"\nseq = \"ns=2;s=m.vib.seq\"\nshaft_hz = 30\n";
    let g = "bearing = [9, 0.3126, 1.537, 0]\n";
    assert!(IngestConfig::parse(&format!("{base}{g}rate_hz = 12800\n"), "x").is_ok());
    assert!(IngestConfig::parse(&format!("{base}{g}rate = \"ns=2;s=m.vib.rate_hz\"\n"), "x").is_ok());
    for (extra, needle) in [
        (g.to_string(), "rate: required"),
        (format!("{g}rate_hz = 12800\nrate = \"ns=2;s=r\"\n"), "give one of them"),
        (format!("{g}rate_hz = -1\n"), "rate_hz: must be a positive"),
        (format!("{g}rate = \"ns=2;r\"\n"), "rate: invalid opcua address"),
        (format!("{g}rate_hz = 12800\ninterval_ms = 0\n"), "interval_ms"),
        (format!("{g}rate_hz = 12800\nstamp = \"middle\"\n"), "middle"),
        ("rate_hz = 12800\n".to_string(), "bearing: required"),
        (format!("{g}rate_hz = 12800\nmax_array = 5\n"), "max_array"),
    ] {
        let e = IngestConfig::parse(&format!("{base}{extra}"), "x.toml").unwrap_err().to_string();
        assert!(e.contains(needle) && e.contains("x.toml"), "{extra:?}: {e}");
    }
    // A protocol that has no arrays, a bad node id, a bad URL parameter.
    for (from, to, needle) in [
        (
            "opcua://127.0.0.1:4840/",
            "modbus://127.0.0.1:502?unit=1",
            "block: reading arrays is not supported by the modbus driver",
        ),
        ("ns=2;s=m.vib.seq", "ns=2;m.vib.seq", "seq: invalid opcua address"),
        ("opcua://127.0.0.1:4840/", "opcua://127.0.0.1:4840/?max_array=0", "url: invalid device URL"),
    ] {
        let text = format!("{base}{g}rate_hz = 12800\n").replace(from, to);
        let e = IngestConfig::parse(&text, "x.toml").unwrap_err().to_string();
        assert!(e.contains(needle) && e.contains("waveform source \"w\""), "{to}: {e}");
    }
}
