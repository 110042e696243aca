//! Round trips, rolling, replay, truncation, torn tails at every byte, mid-log corruption, quota.

use std::fs;
use std::path::{Path, PathBuf};

use fos_wal::{FsyncPolicy, Recovery, Seq, Wal, WalError, WalOptions};

fn payload(seq: Seq) -> Vec<u8> {
    let len = (seq * 37 % 200) as usize;
    (0..len).map(|i| (seq as usize * 7 + i) as u8).collect()
}

fn small(segment_bytes: u64) -> WalOptions {
    WalOptions {
        segment_bytes,
        ..WalOptions::default()
    }
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    v.sort();
    v
}

fn read_all(wal: &Wal) -> Vec<(Seq, Vec<u8>)> {
    wal.read_from(wal.first_seq())
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn open(dir: &Path, opts: WalOptions) -> (Wal, Recovery) {
    Wal::open(dir, opts).unwrap_or_else(|e| panic!("open: {e}"))
}

#[test]
fn round_trip_across_reopen_and_rolls() {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, rec) = open(dir.path(), small(1024));
    assert_eq!((rec.records, rec.last_seq, rec.first_seq), (0, None, 1));
    for seq in 1..=50 {
        assert_eq!(wal.append(&payload(seq)).unwrap(), seq);
    }
    let batch: Vec<Vec<u8>> = (51..=80).map(payload).collect();
    assert_eq!(wal.append_batch(&batch).unwrap(), 51..81);
    assert_eq!(wal.append_batch::<Vec<u8>>(&[]).unwrap(), 81..81);
    assert_eq!(wal.durable_seq(), 80);
    let segs = segments(dir.path());
    assert!(segs.len() > 5, "rolled into {} segments", segs.len());
    for s in &segs {
        // A segment exceeds segment_bytes only by holding a single record.
        assert!(fs::metadata(s).unwrap().len() <= 1024, "{}", s.display());
    }
    assert!(segs[1]
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("wal-0000000000000000"));
    let expected: Vec<_> = (1..=80).map(|s| (s, payload(s))).collect();
    assert_eq!(read_all(&wal), expected);
    drop(wal);

    let (mut wal, rec) = open(dir.path(), small(1024));
    assert_eq!(
        (rec.records, rec.last_seq, rec.truncated_bytes, rec.segments),
        (80, Some(80), 0, segs.len())
    );
    assert_eq!(read_all(&wal), expected);
    assert_eq!(wal.append(b"after reopen").unwrap(), 81);
}

#[test]
fn replay_from_any_seq() {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _) = open(dir.path(), small(700));
    for seq in 1..=40 {
        wal.append(&payload(seq)).unwrap();
    }
    for from in 1..=41 {
        let got: Vec<_> = wal
            .read_from(from)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let want: Vec<_> = (from..=40).map(|s| (s, payload(s))).collect();
        assert_eq!(got, want, "from {from}");
    }
    assert!(matches!(
        wal.read_from(0),
        Err(WalError::SeqOutOfRange { .. })
    ));
    assert!(matches!(
        wal.read_from(42),
        Err(WalError::SeqOutOfRange { .. })
    ));
}

#[test]
fn truncate_before_removes_whole_segments_only() {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _) = open(dir.path(), small(600));
    for seq in 1..=60 {
        wal.append(&payload(seq)).unwrap();
    }
    let before = segments(dir.path()).len();
    let used = wal.used_bytes();
    let freed = wal.truncate_before(30).unwrap();
    assert!(freed > 0 && wal.used_bytes() == used - freed);
    let first = wal.first_seq();
    assert!(first <= 30 && first > 1, "first {first}");
    assert!(segments(dir.path()).len() < before);
    assert_eq!(
        read_all(&wal),
        (first..=60).map(|s| (s, payload(s))).collect::<Vec<_>>()
    );
    // Everything: the active segment stays.
    wal.truncate_before(u64::MAX).unwrap();
    assert_eq!(segments(dir.path()).len(), 1);
    let first = wal.first_seq();
    drop(wal);
    let (mut wal, rec) = open(dir.path(), small(600));
    assert_eq!((rec.first_seq, rec.last_seq), (first, Some(60)));
    assert_eq!(wal.append(b"x").unwrap(), 61);
    assert!(
        matches!(wal.read_from(1), Err(WalError::SeqOutOfRange { first: f, .. }) if f == first)
    );
}

/// Cut the last segment to every length inside its last record (and inside its header when it is the
/// only record of a fresh segment): earlier records are all there, nothing is invented, appends resume.
#[test]
fn torn_tail_at_every_byte_of_the_last_record() {
    let src = tempfile::tempdir().unwrap();
    let (mut wal, _) = open(src.path(), small(900));
    for seq in 1..=12 {
        wal.append(&payload(seq)).unwrap();
    }
    let last_rec_start = {
        // Length of the last segment before the last record.
        let segs = segments(src.path());
        let last = segs.last().unwrap();
        let full = fs::metadata(last).unwrap().len();
        full - 16 - payload(12).len() as u64
    };
    drop(wal);
    let segs = segments(src.path());
    let last = segs.last().unwrap().clone();
    let full = fs::read(&last).unwrap();
    assert!(segs.len() > 1);
    for cut in last_rec_start..full.len() as u64 {
        let dir = tempfile::tempdir().unwrap();
        for s in &segs {
            fs::copy(s, dir.path().join(s.file_name().unwrap())).unwrap();
        }
        let victim = dir.path().join(last.file_name().unwrap());
        fs::write(&victim, &full[..cut as usize]).unwrap();
        let (mut wal, rec) = open(dir.path(), small(900));
        assert_eq!(rec.last_seq, Some(11), "cut at {cut}");
        assert_eq!(rec.records, 11);
        assert_eq!(rec.truncated_bytes, cut - last_rec_start, "cut at {cut}");
        assert_eq!(
            read_all(&wal),
            (1..=11).map(|s| (s, payload(s))).collect::<Vec<_>>(),
            "cut at {cut}"
        );
        assert_eq!(fs::metadata(&victim).unwrap().len(), last_rec_start);
        assert_eq!(wal.append(b"resumed").unwrap(), 12);
        drop(wal);
        let (_, rec) = open(dir.path(), small(900));
        assert_eq!((rec.last_seq, rec.truncated_bytes), (Some(12), 0));
    }
}

#[test]
fn torn_segment_header_is_rewritten() {
    let src = tempfile::tempdir().unwrap();
    let (mut wal, _) = open(src.path(), small(100));
    for seq in 1..=3 {
        wal.append(&[seq as u8; 60]).unwrap();
    }
    drop(wal);
    let segs = segments(src.path());
    let last = segs.last().unwrap();
    let full = fs::read(last).unwrap();
    for cut in 0..16 {
        let dir = tempfile::tempdir().unwrap();
        for s in &segs {
            fs::copy(s, dir.path().join(s.file_name().unwrap())).unwrap();
        }
        fs::write(dir.path().join(last.file_name().unwrap()), &full[..cut]).unwrap();
        let (mut wal, rec) = open(dir.path(), small(100));
        assert_eq!(
            (rec.last_seq, rec.records, rec.truncated_bytes),
            (Some(2), 2, cut as u64),
            "cut {cut}"
        );
        assert_eq!(wal.append(&[9; 60]).unwrap(), 3);
        assert_eq!(read_all(&wal).last().unwrap(), &(3, vec![9; 60]));
    }
}

#[test]
fn damaged_last_record_without_successor_is_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _) = open(dir.path(), WalOptions::default());
    for seq in 1..=5 {
        wal.append(&payload(seq)).unwrap();
    }
    drop(wal);
    let seg = segments(dir.path()).pop().unwrap();
    let mut bytes = fs::read(&seg).unwrap();
    let n = bytes.len();
    bytes[n - 1] ^= 0x55;
    fs::write(&seg, &bytes).unwrap();
    let (_, rec) = open(dir.path(), WalOptions::default());
    assert_eq!(rec.last_seq, Some(4));
    assert!(rec.truncated_reason.unwrap().contains("CRC"));
}

#[test]
fn damage_in_the_middle_is_an_error_naming_file_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _) = open(dir.path(), small(800));
    for seq in 1..=30 {
        wal.append(&payload(seq)).unwrap();
    }
    drop(wal);
    let segs = segments(dir.path());
    // (a) a payload byte of the 2nd record of the first (non-last) segment;
    // (b) a payload byte of the 2nd record of the last segment, which valid records follow.
    for victim in [&segs[0], segs.last().unwrap()] {
        let pristine = fs::read(victim).unwrap();
        let first: Seq = victim.file_name().unwrap().to_str().unwrap()[4..24]
            .parse()
            .unwrap();
        let second_off = 16 + 16 + payload(first).len();
        assert!(
            pristine.len() > second_off + 16 + payload(first + 1).len() + 16,
            "needs a 3rd record"
        );
        let mut bytes = pristine.clone();
        bytes[second_off + 16] ^= 0x01;
        fs::write(victim, &bytes).unwrap();
        let before: Vec<_> = segs.iter().map(|s| fs::read(s).unwrap()).collect();
        match Wal::open(dir.path(), small(800)) {
            Err(e @ WalError::Corrupt { .. }) => {
                let WalError::Corrupt { path, offset, .. } = &e else {
                    unreachable!()
                };
                assert_eq!(path, victim);
                assert_eq!(*offset, second_off as u64);
                let msg = e.to_string();
                assert!(
                    msg.contains(victim.to_str().unwrap())
                        && msg.contains(&format!("byte {second_off}")),
                    "{msg}"
                );
            }
            other => panic!("expected Corrupt, got {other:?}"),
        }
        // Nothing was truncated or rewritten.
        let after: Vec<_> = segs.iter().map(|s| fs::read(s).unwrap()).collect();
        assert_eq!(before, after);
        fs::write(victim, &pristine).unwrap();
    }
    let (_, rec) = open(dir.path(), small(800));
    assert_eq!(rec.last_seq, Some(30));
}

#[test]
fn a_missing_segment_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _) = open(dir.path(), small(300));
    for seq in 1..=20 {
        wal.append(&payload(seq)).unwrap();
    }
    drop(wal);
    let segs = segments(dir.path());
    fs::remove_file(&segs[1]).unwrap();
    let err = Wal::open(dir.path(), small(300)).unwrap_err();
    assert!(
        matches!(&err, WalError::Corrupt { path, .. } if path == &segs[2]),
        "{err}"
    );
}

#[test]
fn quota_refuses_whole_batches_and_truncation_frees_room() {
    let dir = tempfile::tempdir().unwrap();
    let opts = WalOptions {
        segment_bytes: 1000,
        max_bytes: Some(5000),
        fsync: FsyncPolicy::Always,
        encryption: None,
    };
    let (mut wal, _) = open(dir.path(), opts.clone());
    let rec = vec![7u8; 184]; // 200 bytes framed
    let mut last = 0;
    let err = loop {
        match wal.append_batch(&[&rec, &rec]) {
            Ok(r) => last = r.end - 1,
            Err(e) => break e,
        }
    };
    match &err {
        WalError::Full {
            used,
            quota: Some(5000),
            ..
        } => assert!(*used <= 5000 && *used + 400 > 5000 - 32),
        other => panic!("expected Full, got {other:?}"),
    }
    assert!(err.to_string().contains("truncate_before"), "{err}");
    assert!(err.is_full());
    assert_eq!(wal.last_seq(), last);
    assert_eq!(wal.durable_seq(), last);
    assert!(wal.used_bytes() <= 5000);
    // The sink acknowledged everything: whole segments go, appends resume.
    assert!(wal.truncate_before(last + 1).unwrap() > 0);
    assert_eq!(wal.append_batch(&[&rec, &rec]).unwrap(), last + 1..last + 3);
    drop(wal);
    let (wal, rec2) = open(dir.path(), opts);
    assert_eq!(rec2.last_seq, Some(last + 2));
    assert_eq!(rec2.truncated_bytes, 0);
    assert!(read_all(&wal).iter().all(|(_, p)| p == &rec));
}

#[test]
fn every_n_and_never_report_durability_honestly() {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _) = open(
        dir.path(),
        WalOptions {
            fsync: FsyncPolicy::EveryN(3),
            ..WalOptions::default()
        },
    );
    wal.append(b"a").unwrap();
    wal.append(b"b").unwrap();
    assert_eq!(wal.durable_seq(), 0);
    wal.append(b"c").unwrap();
    assert_eq!(wal.durable_seq(), 3);
    drop(wal);
    let (mut wal, rec) = open(
        dir.path(),
        WalOptions {
            fsync: FsyncPolicy::Never,
            ..WalOptions::default()
        },
    );
    assert_eq!(rec.last_seq, Some(3));
    assert_eq!(
        wal.durable_seq(),
        3,
        "recovered records are fsynced at open"
    );
    wal.append(b"d").unwrap();
    assert_eq!((wal.last_seq(), wal.durable_seq()), (4, 3));
    wal.sync().unwrap();
    assert_eq!(wal.durable_seq(), 4);
}

#[test]
fn oversized_payload_is_refused_without_side_effects() {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _) = open(dir.path(), WalOptions::default());
    let big = vec![0u8; fos_wal::MAX_PAYLOAD + 1];
    assert!(matches!(
        wal.append_batch(&[b"ok".as_slice(), &big]),
        Err(WalError::TooLarge { .. })
    ));
    assert_eq!(wal.append(b"ok").unwrap(), 1);
}
