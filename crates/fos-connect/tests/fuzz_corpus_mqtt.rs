#![cfg(feature = "mqtt")]
//! Replays the `sparkplug_payload` fuzz corpus and every saved crash input through the same
//! function as the fuzz target; checks that protobuf "bombs" (many tiny messages, deep nesting,
//! lying counts) cannot make the decoder allocate much beyond the payload size; and round-trips
//! random payloads through prost encoding and our decoder.
//!
//! The allocation check counts this thread's live heap bytes with a wrapper around the system
//! allocator (the one `unsafe` in the crate's tests: `GlobalAlloc` cannot be implemented without).
#![allow(unsafe_code)]

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use fos_connect::drivers::mqtt::sparkplug::proto::{DataSet, Metric, MetricValue, Payload, Row, Template};
use fos_connect::drivers::mqtt::sparkplug::{decode_payload, fuzz_decode, HostState, SpDataType};
use proptest::prelude::*;
use prost::Message as _;

struct Counting;

thread_local! {
    static LIVE: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
}

fn track(delta: isize) {
    // try_with: the thread-locals may be gone while a thread shuts down.
    let _ = LIVE.try_with(|l| {
        let v = l.get().saturating_add_signed(delta);
        l.set(v);
        let _ = PEAK.try_with(|p| p.set(p.get().max(v)));
    });
}

// SAFETY: every call is forwarded unchanged to the system allocator; the wrapper only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        track(layout.size() as isize);
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        track(-(layout.size() as isize));
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        track(new_size as isize - layout.size() as isize);
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Peak heap bytes (above the start) this thread used while running `f`.
fn peak_of(f: impl FnOnce()) -> usize {
    let base = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(base));
    f();
    PEAK.with(Cell::get) - base
}

#[test]
fn corpus_and_regressions_replay_without_panics() {
    let files = common::fuzz_inputs("sparkplug_payload");
    let mut decoded = 0;
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        fuzz_decode(&bytes);
        if decode_payload(&bytes).is_ok() {
            decoded += 1;
        }
    }
    eprintln!("replayed {} inputs ({decoded} valid payloads)", files.len());
}

fn varint(out: &mut Vec<u8>, mut n: u64) {
    loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

fn field(out: &mut Vec<u8>, tag: u32, body: &[u8]) {
    varint(out, u64::from(tag << 3 | 2));
    varint(out, body.len() as u64);
    out.extend_from_slice(body);
}

fn repeat(unit: &[u8], total: usize) -> Vec<u8> {
    unit.iter().copied().cycle().take(total / unit.len() * unit.len()).collect()
}

/// Hostile payloads of about `size` bytes.
fn bombs(size: usize) -> Vec<(&'static str, Vec<u8>)> {
    let mut v = Vec::new();
    // Payload.metrics: empty Metric messages, 2 bytes each.
    v.push(("empty metrics", repeat(&[0x12, 0x00], size)));
    // Metrics with only an alias (srad style, 4 bytes each).
    v.push(("alias-only metrics", repeat(&[0x12, 0x02, 0x10, 0x01], size)));
    // One DataSet metric whose rows are full of empty elements (2 bytes each).
    let row = repeat(&[0x0a, 0x00], size);
    let mut ds = Vec::new();
    field(&mut ds, 4, &row);
    let mut m = vec![0x20, 16]; // datatype DataSet
    field(&mut m, 17, &ds);
    let mut p = Vec::new();
    field(&mut p, 2, &m);
    v.push(("dataset of empty elements", p));
    // DataSet with a huge packed list of column types (1 byte each).
    let mut ds = Vec::new();
    field(&mut ds, 3, &repeat(&[0x03], size));
    let mut m = vec![0x20, 16];
    field(&mut m, 17, &ds);
    let mut p = Vec::new();
    field(&mut p, 2, &m);
    v.push(("dataset of column types", p));
    // Empty rows (2 bytes each).
    let mut ds = Vec::new();
    ds.extend(repeat(&[0x22, 0x00], size));
    let mut m = vec![0x20, 16];
    field(&mut m, 17, &ds);
    let mut p = Vec::new();
    field(&mut p, 2, &m);
    v.push(("dataset of empty rows", p));
    // A property set of empty values and keys.
    let ps = repeat(&[0x12, 0x00, 0x0a, 0x00], size);
    let mut m = Vec::new();
    field(&mut m, 9, &ps);
    let mut p = Vec::new();
    field(&mut p, 2, &m);
    v.push(("property set of empty values", p));
    // A template holding empty metrics.
    let mut t = Vec::new();
    t.extend(repeat(&[0x12, 0x00], size));
    let mut m = vec![0x20, 19];
    field(&mut m, 18, &t);
    let mut p = Vec::new();
    field(&mut p, 2, &m);
    v.push(("template of empty metrics", p));
    // BooleanArray claiming 4 billion values, with a few bytes.
    let mut m = vec![0x20, 32];
    field(&mut m, 16, &[0xff, 0xff, 0xff, 0xff, 0xaa]);
    let mut p = Vec::new();
    field(&mut p, 2, &m);
    v.push(("lying BooleanArray count", repeat(&p, size)));
    // Ordinary metrics: 20-character names, alias, datatype, timestamp, a double (~45 bytes).
    let real = |i: u64| {
        let name = format!("Line1/Press{i:06}/Temp");
        Metric {
            name: Some(name),
            alias: Some(i),
            timestamp: Some(1_700_000_000_000),
            datatype: Some(10),
            value: Some(MetricValue::DoubleValue(21.5)),
            ..Metric::default()
        }
    };
    let mut p = Payload { timestamp: Some(1), seq: Some(0), ..Payload::default() };
    let (mut i, mut total) = (0, 16);
    while total + 64 < size {
        let m = real(i);
        total += m.encoded_len() + 3;
        p.metrics.push(m);
        i += 1;
    }
    v.push(("ordinary metrics", p.encode_to_vec()));
    // Metrics with 1000-character names (leaf content).
    let mut p = Payload { timestamp: Some(1), seq: Some(0), ..Payload::default() };
    let (mut i, mut total) = (0, 16);
    while total + 1200 < size {
        let m = Metric {
            name: Some(format!("{i:01000}")),
            datatype: Some(12),
            value: Some(MetricValue::StringValue("\u{1}".repeat(100))),
            ..Metric::default()
        };
        total += m.encoded_len() + 3;
        p.metrics.push(m);
        i += 1;
    }
    v.push(("long names and control characters", p.encode_to_vec()));
    // One metric with a huge BooleanArray (8 values per byte), and one with a DoubleArray.
    let mut bits = vec![0xff, 0xff, 0xff, 0xff];
    bits.extend(repeat(&[0x55], size));
    let mut m = vec![0x20, 32];
    field(&mut m, 16, &bits);
    let mut p = Vec::new();
    field(&mut p, 2, &m);
    v.push(("one huge BooleanArray", p));
    let mut m = vec![0x20, 31];
    field(&mut m, 16, &repeat(&1.5f64.to_le_bytes(), size));
    let mut p = Vec::new();
    field(&mut p, 2, &m);
    v.push(("one huge DoubleArray", p));
    // Templates nested 99 deep (just within prost's limit), repeated.
    let mut inner: Vec<u8> = Vec::new();
    for _ in 0..49 {
        let mut t = Vec::new();
        field(&mut t, 2, &inner);
        let mut m = vec![0x20, 19];
        field(&mut m, 18, &t);
        inner = m;
    }
    let mut p = Vec::new();
    field(&mut p, 2, &inner);
    v.push(("deeply nested templates", repeat(&p, size)));
    v
}

/// The decoder's memory budget per payload (`sparkplug::scan::BUDGET`).
const BUDGET: usize = 128 << 20;

#[test]
fn protobuf_bombs_stay_within_the_memory_budget() {
    let shapes = bombs(1024).len();
    for i in 0..shapes {
        let make = |size: usize| bombs(size).swap_remove(i);
        // A 4 MiB bomb is refused by the pre-scan, before anything is allocated.
        let (name, big) = make(4 << 20);
        let mut refused = false;
        let peak = peak_of(|| refused = decode_payload(&big).is_err());
        assert!(!refused || peak < 64 * 1024, "{name}: refusing cost {peak} bytes");
        // The largest accepted size of each shape: its real cost must stay within the budget.
        let (mut lo, mut hi) = (64usize, 4 << 20);
        while hi - lo > 64 {
            let mid = (lo + hi) / 2;
            if decode_payload(&make(mid).1).is_ok() {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        // Arrays pass the pre-scan at any size and are charged when rendered: try sizes around
        // where the budget runs out, too.
        let sizes = if name.starts_with("one huge") { vec![lo, 120_000, 135_000, 500_000] } else { vec![lo] };
        for size in sizes {
            measure(name, &make(size).1);
        }
    }
}

fn measure(name: &str, bytes: &[u8]) {
    {
        let len = bytes.len();
        let decode = peak_of(|| {
            let _ = decode_payload(bytes);
        });
        let mut lines = 0;
        let handle = peak_of(|| {
            let mut h = HostState::new();
            for topic in ["spBv1.0/G/NBIRTH/E", "spBv1.0/G/NDATA/E", "spBv1.0/G/NDEATH/E"] {
                if let Ok(m) = h.handle(topic, bytes) {
                    lines += serde_json::to_string(&m).map_or(0, |s| s.len()) / 1000;
                    lines += m.samples().len() / 1000;
                }
            }
        });
        eprintln!(
            "{name}: {len} bytes -> decode peak {} KiB ({}x), host peak {} KiB ({}x)",
            decode >> 10,
            decode / len.max(1),
            handle >> 10,
            handle / len.max(1)
        );
        assert!(handle <= BUDGET && decode <= BUDGET, "{name}: over the budget");
    }
}

#[test]
fn metric_values_round_trip_through_prost_and_the_host() {
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(256));
    let strat = (
        prop::collection::vec((any::<i32>(), any::<u64>(), any::<f64>(), any::<bool>(), "[a-zA-Z0-9 ]{0,12}"), 1..8),
        0u64..256,
    );
    runner
        .run(&strat, |(values, seq)| {
            let mut metrics = Vec::new();
            for (i, (a, b, c, d, e)) in values.iter().enumerate() {
                let mk = |n: &str, dt: SpDataType, v: MetricValue| Metric {
                    name: Some(format!("{n}{i}")),
                    alias: Some(metrics_alias(n, i)),
                    datatype: Some(dt.code()),
                    value: Some(v),
                    ..Metric::default()
                };
                metrics.push(mk("i", SpDataType::Int32, MetricValue::IntValue(*a as u32)));
                metrics.push(mk("u", SpDataType::UInt64, MetricValue::LongValue(*b)));
                metrics.push(mk("d", SpDataType::Double, MetricValue::DoubleValue(*c)));
                metrics.push(mk("b", SpDataType::Boolean, MetricValue::BooleanValue(*d)));
                metrics.push(mk("s", SpDataType::String, MetricValue::StringValue(e.clone())));
            }
            let birth =
                Payload { timestamp: Some(1), seq: Some(seq), metrics: metrics.clone(), uuid: None, body: None };
            let bytes = birth.encode_to_vec();
            prop_assert_eq!(&decode_payload(&bytes).unwrap(), &birth);
            let mut h = HostState::new();
            h.handle("spBv1.0/G/NBIRTH/E", &bytes).unwrap();
            // The same values again by alias only: the host must give back names and values.
            let data = Payload {
                timestamp: Some(2),
                seq: Some((seq + 1) % 256),
                metrics: metrics.iter().map(|m| Metric { name: None, datatype: None, ..m.clone() }).collect(),
                uuid: None,
                body: None,
            };
            let msg = h.handle("spBv1.0/G/NDATA/E", &data.encode_to_vec()).unwrap();
            prop_assert!(msg.warnings.is_empty(), "{:?}", msg.warnings);
            for (got, sent) in msg.metrics.iter().zip(&metrics) {
                prop_assert_eq!(Some(&got.name), sent.name.as_ref());
                let want = match &sent.value {
                    Some(MetricValue::IntValue(v)) => serde_json::json!(*v as i32),
                    Some(MetricValue::LongValue(v)) => serde_json::json!(*v),
                    Some(MetricValue::DoubleValue(v)) => {
                        serde_json::Number::from_f64(*v).map_or(serde_json::Value::Null, serde_json::Value::Number)
                    }
                    Some(MetricValue::BooleanValue(v)) => serde_json::json!(*v),
                    Some(MetricValue::StringValue(v)) => serde_json::json!(v),
                    other => panic!("{other:?}"),
                };
                prop_assert_eq!(&got.value, &want);
            }
            Ok(())
        })
        .unwrap();
}

fn metrics_alias(kind: &str, i: usize) -> u64 {
    let k = match kind {
        "i" => 0,
        "u" => 1,
        "d" => 2,
        "b" => 3,
        _ => 4,
    };
    (i * 5 + k) as u64 + 1000
}

#[test]
fn templates_and_datasets_render() {
    let ds = DataSet { num_of_columns: Some(1), columns: vec!["c".into()], types: vec![3], rows: vec![Row::default()] };
    let t = Template { template_ref: Some("T".into()), ..Template::default() };
    let p = Payload {
        timestamp: Some(1),
        seq: Some(0),
        metrics: vec![
            Metric {
                name: Some("ds".into()),
                datatype: Some(16),
                value: Some(MetricValue::DatasetValue(Box::new(ds))),
                ..Metric::default()
            },
            Metric {
                name: Some("t".into()),
                datatype: Some(19),
                value: Some(MetricValue::TemplateValue(Box::new(t))),
                ..Metric::default()
            },
        ],
        uuid: None,
        body: None,
    };
    let m = HostState::new().handle("spBv1.0/G/NBIRTH/E", &p.encode_to_vec()).unwrap();
    assert_eq!(m.metrics[0].value, serde_json::json!({"columns": ["c"], "types": ["Int32"], "rows": [[]]}));
    assert_eq!(m.metrics[1].value, serde_json::json!({"template_ref": "T", "metrics": []}));
}
