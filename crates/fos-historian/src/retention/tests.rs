//! Unit tests of retention: synthetic points over several days, downsampled values against a
//! reference computed here, the rollup table, idempotence, and a crash at every step.

use super::*;
use crate::{quality, Historian};
use datafusion::arrow::datatypes::{Int64Type, UInt64Type};

const DAY: i64 = NANOS_PER_DAY;
const SEC: i64 = 1_000_000_000;

fn policy() -> RetentionPolicy {
    RetentionPolicy { keep_raw_days: 1, keep_downsampled_days: 3, downsample_interval: Duration::from_secs(3600) }
}

/// Days 10..=15 (1970-01-11 ..= 1970-01-16), tags `a` and `b`, a point every 10 min plus jitter;
/// every 7th point uncertain, every 50th bad.
fn points() -> Vec<Point> {
    let mut out = Vec::new();
    for day in 10..=15 {
        for i in 0..144 {
            for (k, tag) in ["a", "b"].iter().enumerate() {
                let n = i + 1000 * day + 7 * k as i64;
                let q = if n % 50 == 0 {
                    quality::BAD
                } else if n % 7 == 0 {
                    quality::UNCERTAIN
                } else {
                    quality::GOOD
                };
                let value = (n as f64 * 0.1).sin() * 10.0 + k as f64;
                out.push(Point {
                    time_ns: day * DAY + i * 600 * SEC + (n % 13) * SEC,
                    tag: Arc::from(*tag),
                    value,
                    quality: q,
                });
            }
        }
    }
    out
}

fn setup() -> (tempfile::TempDir, Historian) {
    let tmp = tempfile::tempdir().unwrap();
    let mut h = Historian::open(tmp.path()).unwrap();
    // Two batches, so raw days have two files each.
    let p = points();
    let (x, y) = p.split_at(p.len() / 2);
    h.write_batch(x).unwrap();
    h.flush().unwrap();
    h.write_batch(y).unwrap();
    h.flush().unwrap();
    (tmp, h)
}

fn rows(h: &Historian, sql: &str) -> Vec<Vec<i64>> {
    let mut out = Vec::new();
    for b in h.query(sql).unwrap() {
        let cols: Vec<_> = b.columns().iter().map(|c| cast(c, &DataType::Int64).unwrap()).collect();
        for i in 0..b.num_rows() {
            out.push(cols.iter().map(|c| c.as_primitive::<Int64Type>().value(i)).collect());
        }
    }
    out
}

/// Rows per day in `samples`, and the number of (tag, time) pairs stored more than once.
fn per_day(h: &Historian) -> (Vec<Vec<i64>>, i64) {
    let days =
        rows(h, "SELECT CAST(time AS BIGINT) / 86400000000000 AS d, count(*) FROM samples GROUP BY 1 ORDER BY 1");
    let dup = rows(h, "SELECT count(*) FROM (SELECT tag, time FROM samples GROUP BY tag, time HAVING count(*) > 1)");
    (days, dup[0][0])
}

const RAW: [[i64; 2]; 6] = [[10, 288], [11, 288], [12, 288], [13, 288], [14, 288], [15, 288]];
const NEW: [[i64; 2]; 4] = [[12, 48], [13, 48], [14, 288], [15, 288]];

#[test]
fn old_days_are_downsampled_older_ones_deleted_and_a_rerun_does_nothing() {
    let (tmp, h) = setup();
    let now = 15 * DAY + 12 * 3600 * SEC;
    let report = apply_retention(tmp.path(), &policy(), now, &AtRest::plain()).unwrap();
    assert_eq!(report.deleted, ["1970-01-11", "1970-01-12"]);
    assert_eq!(report.downsampled, ["1970-01-13", "1970-01-14"]);
    assert_eq!(per_day(&h), (NEW.iter().map(|r| r.to_vec()).collect(), 0));

    // Reference: per tag and hour of the downsampled days.
    // Per (tag, hour): sum, count, min, max, worst quality.
    type Bucket = (f64, u64, f64, f64, u8);
    let mut reference: BTreeMap<(String, i64), Bucket> = BTreeMap::new();
    for p in points().into_iter().filter(|p| (12 * DAY..14 * DAY).contains(&p.time_ns)) {
        let e = reference.entry((p.tag.to_string(), p.time_ns / (3600 * SEC) * 3600 * SEC)).or_insert((
            0.0,
            0,
            f64::MAX,
            f64::MIN,
            0,
        ));
        e.0 += p.value;
        e.1 += 1;
        e.2 = e.2.min(p.value);
        e.3 = e.3.max(p.value);
        e.4 = e.4.max(p.quality);
    }
    assert_eq!(reference.len(), 2 * 48);
    let got = h
        .query(
            "SELECT CAST(s.tag AS VARCHAR), CAST(s.time AS BIGINT), s.value, s.quality, r.min, r.max, r.mean, r.count, r.interval_s \
             FROM samples s JOIN samples_rollup r ON s.tag = r.tag AND s.time = r.time ORDER BY 1, 2",
        )
        .unwrap();
    let mut n = 0;
    for b in &got {
        let tag = cast(b.column(0), &DataType::Utf8).unwrap();
        let tag = tag.as_string::<i32>();
        let f = |c: usize| cast(b.column(c), &DataType::Float64).unwrap();
        let (t, v, q) = (b.column(1).as_primitive::<Int64Type>(), f(2), cast(b.column(3), &DataType::UInt8).unwrap());
        let (mn, mx, mean, cnt) = (f(4), f(5), f(6), b.column(7).as_primitive::<UInt64Type>());
        for i in 0..b.num_rows() {
            let e = reference[&(tag.value(i).to_string(), t.value(i))];
            let val = |a: &ArrayRef| a.as_primitive::<Float64Type>().value(i);
            assert!((val(&v) - e.0 / e.1 as f64).abs() < 1e-12);
            assert_eq!(val(&v).to_bits(), val(&mean).to_bits());
            assert_eq!((val(&mn), val(&mx), cnt.value(i)), (e.2, e.3, e.1));
            assert_eq!(q.as_primitive::<UInt8Type>().value(i), e.4);
            n += 1;
        }
    }
    assert_eq!(n, reference.len());
    assert!(reference.values().any(|e| e.4 == quality::BAD), "the data exercises the worst quality");
    let day12 = tmp.path().join("historian/samples/date=1970-01-13");
    assert_eq!(entries(&day12).unwrap(), [day12.join("downsampled-3600s.parquet")]);

    // Idempotent; the work folder is empty.
    assert_eq!(apply_retention(tmp.path(), &policy(), now, &AtRest::plain()).unwrap(), RetentionReport::default());
    assert!(entries(&tmp.path().join("historian/retention")).unwrap().is_empty());
    assert_eq!(per_day(&h).0, NEW.iter().map(|r| r.to_vec()).collect::<Vec<_>>());
    // A day later, 1970-01-13 is deleted (with its rollup) and 1970-01-15 downsampled.
    let r = apply_retention(tmp.path(), &policy(), now + DAY, &AtRest::plain()).unwrap();
    assert_eq!((r.deleted, r.downsampled), (vec!["1970-01-13".to_string()], vec!["1970-01-15".to_string()]));
    assert_eq!(rows(&h, "SELECT count(DISTINCT time) FROM samples_rollup")[0][0], 2 * 24);
}

#[test]
fn bad_policies_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    for p in [
        RetentionPolicy { downsample_interval: Duration::from_secs(7), ..policy() },
        RetentionPolicy { downsample_interval: Duration::from_millis(1500), ..policy() },
        RetentionPolicy { downsample_interval: Duration::ZERO, ..policy() },
        RetentionPolicy { keep_raw_days: 4, ..policy() },
    ] {
        assert!(matches!(apply_retention(tmp.path(), &p, 0, &AtRest::plain()), Err(Error::Invalid(_))), "{p:?}");
    }
}

#[test]
fn a_crash_at_any_step_recovers_to_the_old_or_the_new_state_without_duplicates() {
    const DATE: &str = "1970-01-13";
    let raw: Vec<Vec<i64>> = RAW.iter().map(|r| r.to_vec()).collect();
    let mut downsampled = raw.clone();
    downsampled[2] = vec![12, 48];
    // Each case: the steps done before the crash, and the state recovery must give.
    type Steps = fn(&Dirs);
    let cases: [(&str, Steps, bool); 7] = [
        (
            "exchanged, raw day still in the work folder",
            |d| {
                stage(d, DATE, 3600, &AtRest::plain()).unwrap();
                commit(d, DATE).unwrap();
                let samples = d.samples.join(format!("date={DATE}"));
                assert!(exchange(&d.work.join(format!("new-samples-{DATE}")), &samples).unwrap(), "tmpfs/ext4 exchange");
            },
            true,
        ),
        (
            "exchanged, raw day set aside",
            |d| {
                stage(d, DATE, 3600, &AtRest::plain()).unwrap();
                commit(d, DATE).unwrap();
                let samples = d.samples.join(format!("date={DATE}"));
                let new = d.work.join(format!("new-samples-{DATE}"));
                assert!(exchange(&new, &samples).unwrap());
                rename(&new, &d.work.join(format!("old-samples-{DATE}"))).unwrap();
            },
            true,
        ),
        ("staged, not committed", |d| stage(d, DATE, 3600, &AtRest::plain()).unwrap(), false),
        (
            "committed",
            |d| {
                stage(d, DATE, 3600, &AtRest::plain()).unwrap();
                commit(d, DATE).unwrap();
            },
            true,
        ),
        (
            "old partition moved out",
            |d| {
                stage(d, DATE, 3600, &AtRest::plain()).unwrap();
                commit(d, DATE).unwrap();
                rename(&d.samples.join(format!("date={DATE}")), &d.work.join(format!("old-samples-{DATE}"))).unwrap();
            },
            true,
        ),
        (
            "new partition in, rollup not",
            |d| {
                stage(d, DATE, 3600, &AtRest::plain()).unwrap();
                commit(d, DATE).unwrap();
                rename(&d.samples.join(format!("date={DATE}")), &d.work.join(format!("old-samples-{DATE}"))).unwrap();
                rename(&d.work.join(format!("new-samples-{DATE}")), &d.samples.join(format!("date={DATE}"))).unwrap();
            },
            true,
        ),
        (
            "everything but the clean-up",
            |d| {
                stage(d, DATE, 3600, &AtRest::plain()).unwrap();
                commit(d, DATE).unwrap();
                rename(&d.samples.join(format!("date={DATE}")), &d.work.join(format!("old-samples-{DATE}"))).unwrap();
                rename(&d.work.join(format!("new-samples-{DATE}")), &d.samples.join(format!("date={DATE}"))).unwrap();
                rename(&d.work.join(format!("new-rollup-{DATE}")), &d.rollups.join(format!("date={DATE}"))).unwrap();
            },
            true,
        ),
    ];
    for (name, steps, forward) in cases {
        let (tmp, h) = setup();
        let dirs = Dirs::new(tmp.path()).unwrap();
        steps(&dirs);
        let (days, dup) = per_day(&h);
        assert_eq!(dup, 0, "{name}: duplicates before recovery");
        assert!(days == raw || days == downsampled || days.len() == 5, "{name}: {days:?}");
        if name.starts_with("exchanged") {
            // After the atomic exchange the day is never missing, even before recovery.
            assert_eq!(days, downsampled, "{name}");
        }
        let recovered = recover_retention(tmp.path()).unwrap();
        assert_eq!(recovered.len(), usize::from(forward), "{name}");
        assert_eq!(per_day(&h), (if forward { downsampled.clone() } else { raw.clone() }, 0), "{name}");
        let rollup_rows = rows(&h, "SELECT count(*) FROM samples_rollup")[0][0];
        assert_eq!(rollup_rows, if forward { 48 } else { 0 }, "{name}");
        assert!(entries(&dirs.work).unwrap().is_empty(), "{name}");
        // The next run carries on from there.
        apply_retention(tmp.path(), &policy(), 15 * DAY, &AtRest::plain()).unwrap();
        assert_eq!(per_day(&h).0, NEW.iter().map(|r| r.to_vec()).collect::<Vec<_>>(), "{name}");
    }

    // A deletion interrupted after its rename: the day is gone, recovery removes the leftovers.
    let (tmp, h) = setup();
    let dirs = Dirs::new(tmp.path()).unwrap();
    rename(&dirs.samples.join("date=1970-01-11"), &dirs.work.join("delete-samples-1970-01-11")).unwrap();
    assert_eq!(per_day(&h).0.len(), 5);
    assert!(recover_retention(tmp.path()).unwrap().is_empty());
    assert!(entries(&dirs.work).unwrap().is_empty());
}
