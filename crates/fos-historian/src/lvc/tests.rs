//! Unit tests of the last-value cache: ordering rules, the tag bound, and seeding from SQL.

use super::*;
use crate::quality;

fn pt(time_ns: i64, tag: &str, value: f64, quality: u8) -> Point {
    Point { time_ns, tag: Arc::from(tag), value, quality }
}

#[test]
fn newest_point_wins_and_older_ones_are_ignored() {
    let mut c = LastValueCache::new(10);
    let u = c.update(&[pt(20, "a", 2.0, 0), pt(10, "a", 1.0, 0), pt(5, "b", 7.0, 2)]);
    assert_eq!(u, LvcUpdate { changed: 2, refused: vec![] });
    assert_eq!(c.get("a"), Some(LastValue { time_ns: 20, value: 2.0, quality: 0 }));
    assert_eq!(c.update(&[pt(19, "a", 9.0, 0)]).changed, 0, "older: ignored");
    assert_eq!(c.get("a").unwrap().value, 2.0);
    // Equal time: the later point wins.
    c.update(&[pt(20, "a", 3.0, quality::UNCERTAIN), pt(20, "a", 4.0, quality::BAD)]);
    assert_eq!(c.get("a"), Some(LastValue { time_ns: 20, value: 4.0, quality: quality::BAD }));
    assert_eq!(c.get("missing"), None);
    let snap: Vec<(String, i64)> = c.snapshot().into_iter().map(|(t, v)| (t.to_string(), v.time_ns)).collect();
    assert_eq!(snap, vec![("a".into(), 20), ("b".into(), 5)]);
}

#[test]
fn a_full_cache_refuses_new_tags_and_still_updates_held_ones() {
    let mut c = LastValueCache::new(2);
    c.update(&[pt(1, "a", 1.0, 0), pt(1, "b", 1.0, 0)]);
    let u = c.update(&[pt(2, "c", 1.0, 0), pt(2, "a", 5.0, 0), pt(3, "c", 2.0, 0), pt(2, "d", 1.0, 0)]);
    assert_eq!(u.changed, 1);
    assert_eq!(u.refused.iter().map(|t| t.to_string()).collect::<Vec<_>>(), ["c", "d"]);
    assert_eq!((c.len(), c.max_tags()), (2, 2));
    assert_eq!(c.get("a").unwrap().value, 5.0);
    assert_eq!(c.get("c"), None);
}

#[test]
fn seeding_reads_the_latest_stored_row_per_tag() {
    let tmp = tempfile::tempdir().unwrap();
    let mut h = Historian::open(tmp.path()).unwrap();
    let day = 86_400_000_000_000i64;
    let mut points = Vec::new();
    for i in 0..100 {
        points.push(pt(i * 1_000_000_000, "x", i as f64, 0));
        points.push(pt(day + i * 7, "y", -(i as f64), (i % 3) as u8));
    }
    points.push(pt(2 * day, "z", f64::NAN, quality::BAD));
    points.reverse();
    h.write_batch(&points).unwrap();
    h.flush().unwrap();
    let (c, u) = LastValueCache::seeded(&h, 100).unwrap();
    assert_eq!((u.changed, u.refused.len()), (3, 0));
    assert_eq!(c.get("x"), Some(LastValue { time_ns: 99_000_000_000, value: 99.0, quality: 0 }));
    assert_eq!(c.get("y"), Some(LastValue { time_ns: day + 99 * 7, value: -99.0, quality: 0 }));
    let z = c.get("z").unwrap();
    assert!(z.value.is_nan() && z.time_ns == 2 * day && z.quality == quality::BAD);
    // A live point older than the stored one does not go back in time.
    let mut c = c;
    c.update(&[pt(5, "x", -1.0, 0)]);
    assert_eq!(c.get("x").unwrap().value, 99.0);
    let (small, u) = LastValueCache::seeded(&h, 1).unwrap();
    assert_eq!((small.len(), u.refused.len()), (1, 2));
}
