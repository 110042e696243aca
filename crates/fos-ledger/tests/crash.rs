//! Crash safety. An append writes and syncs its records, then writes and syncs its checkpoint; a crash can
//! stop it after any byte. At every such point `verify_dir` reports the uncommitted tail, `open` truncates
//! the directory back to exactly what the last checkpoint committed (byte for byte) and says so, and the
//! audit passes again. A real writer process is also SIGKILLed at random moments: no acknowledged record
//! is ever lost. (SIGKILL leaves the page cache intact; power loss is not simulated.)

mod common;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use ed25519_dalek::SigningKey;
use fos_ledger::{verify_dir, Ledger, LedgerError, ProblemKind};

#[test]
fn every_crash_point_of_an_append_recovers_to_the_last_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let vk = key().verifying_key();
    build(dir, &[2, 3]);
    let (r0, c0) = (read(&records_path(dir)), read(&checkpoints_path(dir)));
    let root0 = open(dir).unwrap().0.root();
    open(dir).unwrap().0.append_batch(&[record(5), record(6), record(7)]).unwrap();
    let (r1, c1) = (read(&records_path(dir)), read(&checkpoints_path(dir)));
    assert!(r1.starts_with(&r0) && c1.starts_with(&c0));
    let (dr, dc) = (r1.len() - r0.len(), c1.len() - c0.len());

    let mut crash_points = 0;
    // (records written up to byte k, no checkpoint) then (all records, checkpoint cut at byte j).
    let states = (0..=dr).map(|k| (r0.len() + k, c0.len())).chain((1..dc).map(|j| (r1.len(), c0.len() + j)));
    for (rlen, clen) in states {
        write(&records_path(dir), &r1[..rlen]);
        write(&checkpoints_path(dir), &c1[..clen]);
        let at = format!("records cut at {rlen}, checkpoints cut at {clen}");
        let report = verify_dir(dir, &vk);
        if rlen == r0.len() && clen == c0.len() {
            assert!(report.is_ok(), "{at}: {report}");
        } else {
            assert!(report.has(ProblemKind::UncommittedTail), "{at}: {report}");
            assert_eq!(report.has(ProblemKind::TornCheckpoint), clen > c0.len(), "{at}: {report}");
            assert!(
                report.problems.iter().all(|p| matches!(p.kind, ProblemKind::UncommittedTail | ProblemKind::TornCheckpoint)),
                "{at}: {report}"
            );
        }

        let (l, rec) = open(dir).unwrap_or_else(|e| panic!("{at}: {e}"));
        assert_eq!((l.len(), l.root()), (5, root0), "{at}");
        assert_eq!(rec.truncated_record_bytes, (rlen - r0.len()) as u64, "{at}");
        // Whole frames of the new records that made it to disk before the cut.
        let whole = frames_within(&r1[r0.len()..rlen]);
        assert_eq!(rec.truncated_records, whole, "{at}: {rec}");
        assert_eq!(whole == 3, rlen == r1.len(), "{at}");
        assert_eq!(rec.truncated_checkpoint_bytes, (clen - c0.len()) as u64, "{at}");
        drop(l);
        assert_eq!(read(&records_path(dir)), r0, "{at}");
        assert_eq!(read(&checkpoints_path(dir)), c0, "{at}");
        assert!(verify_dir(dir, &vk).is_ok(), "{at}");
        crash_points += 1;
    }
    assert_eq!(crash_points, dr + dc);

    // The completed append, and appending after a recovery.
    write(&records_path(dir), &r1);
    write(&checkpoints_path(dir), &c1);
    let (mut l, rec) = open(dir).unwrap();
    assert!(rec.is_clean() && l.len() == 8);
    l.append(&record(8)).unwrap();
    assert!(verify_dir(dir, &vk).is_ok());
}

/// How many whole frames `bytes` (frames from a frame boundary on, the last possibly cut) holds.
fn frames_within(bytes: &[u8]) -> u64 {
    let (mut at, mut n) = (0usize, 0u64);
    while at + 8 <= bytes.len() {
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        if at + 8 + len > bytes.len() {
            break;
        }
        at += 8 + len;
        n += 1;
    }
    n
}

#[test]
fn zero_filled_tails_are_crashes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let vk = key().verifying_key();
    build(dir, &[2, 2]);
    let (r0, c0) = (read(&records_path(dir)), read(&checkpoints_path(dir)));
    for (rz, cz) in [(0, 37), (100, 0), (100, 8), (3, 500)] {
        let mut r = r0.clone();
        r.resize(r0.len() + rz, 0);
        let mut c = c0.clone();
        c.resize(c0.len() + cz, 0);
        write(&records_path(dir), &r);
        write(&checkpoints_path(dir), &c);
        let report = verify_dir(dir, &vk);
        assert_eq!(report.has(ProblemKind::TornCheckpoint), cz > 0, "{rz}/{cz}: {report}");
        assert_eq!(report.has(ProblemKind::UncommittedTail), rz > 0, "{rz}/{cz}: {report}");
        let (l, rec) = open(dir).unwrap();
        assert_eq!((rec.truncated_record_bytes, rec.truncated_checkpoint_bytes), (rz as u64, cz as u64));
        assert_eq!(l.len(), 4);
        assert!(verify_dir(dir, &vk).is_ok());
    }
}

#[test]
fn a_crash_while_creating_the_ledger_is_repaired_only_when_it_holds_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let vk = key().verifying_key();

    // records.log cut inside its header, checkpoints.log never created.
    let a = tmp.path().join("a");
    std::fs::create_dir(&a).unwrap();
    write(&records_path(&a), b"FOSL");
    let (mut l, rec) = open(&a).unwrap();
    assert!(rec.repaired_header && rec.created, "{rec}");
    l.append(&record(0)).unwrap();
    assert!(verify_dir(&a, &vk).is_ok());

    // checkpoints.log cut inside its header.
    let b = tmp.path().join("b");
    std::fs::create_dir(&b).unwrap();
    write(&records_path(&b), b"FOSLDGR1");
    write(&checkpoints_path(&b), b"FOSLD");
    assert!(open(&b).unwrap().1.repaired_header);
    assert!(verify_dir(&b, &vk).is_ok());

    // Something else where the header should be: not ours, not touched.
    let c = tmp.path().join("c");
    std::fs::create_dir(&c).unwrap();
    write(&records_path(&c), b"XX");
    assert!(matches!(open(&c), Err(LedgerError::Corrupt(p)) if p.kind == ProblemKind::BadHeader));
    assert_eq!(read(&records_path(&c)), b"XX");

    // A cut header next to a file with data is damage, not a crash at creation.
    let d = tmp.path().join("d");
    build(&d, &[3]);
    write(&checkpoints_path(&d), b"FOSLDGC");
    assert!(matches!(open(&d), Err(LedgerError::Corrupt(p)) if p.kind == ProblemKind::BadHeader));
    let report = verify_dir(&d, &vk);
    assert!(report.has(ProblemKind::UncommittedTail), "{report}");

    // A missing file next to one with data likewise.
    let e = tmp.path().join("e");
    build(&e, &[3]);
    std::fs::remove_file(checkpoints_path(&e)).unwrap();
    assert!(matches!(open(&e), Err(LedgerError::Corrupt(p)) if p.kind == ProblemKind::Unreadable));
    assert!(verify_dir(&e, &vk).has(ProblemKind::Unreadable));
}

/// Same as in `src/bin/fos-ledger-crash-writer.rs`.
fn crash_record(i: u64) -> Vec<u8> {
    let len = (i.wrapping_mul(2_654_435_761) % 700) as usize + 1;
    let tag = i.to_le_bytes();
    (0..len).map(|k| tag[k % 8] ^ (k as u8)).collect()
}

/// splitmix64: a deterministic seed, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

#[test]
fn sigkill_at_random_times_loses_nothing_acknowledged() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ledger");
    let key = SigningKey::from_bytes(&[0x5a; 32]);
    let vk = key.verifying_key();
    let mut rng = Rng(0x1ed6_e5c0);
    let (mut len, mut acked_total, mut recovered) = (0u64, 0u64, 0u64);
    for iteration in 0..20 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_fos-ledger-crash-writer"))
            .arg(&dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn the crash writer");
        std::thread::sleep(Duration::from_millis(5 + rng.next() % 60));
        child.kill().expect("SIGKILL");
        let status = child.wait().unwrap();
        assert!(status.code().is_none(), "iteration {iteration}: the writer exited by itself: {status}");
        let mut out = String::new();
        child.stdout.take().unwrap().read_to_string(&mut out).unwrap();

        // Only whole lines count: the last one may be cut by the kill.
        let whole = if out.ends_with('\n') { &out[..] } else { &out[..out.rfind('\n').map_or(0, |i| i + 1)] };
        let mut lines = whole.lines();
        let mut acked = len;
        if let Some(start) = lines.next() {
            assert_eq!(start, format!("start {len} 0"), "iteration {iteration}: the writer resumed elsewhere");
            for l in lines {
                let size: u64 = l.strip_prefix("acked ").and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("{l:?}"));
                assert!(size > acked, "iteration {iteration}: {l}");
                acked = size;
            }
        }

        let (l, rec) = Ledger::open(&dir, key.clone(), "fos/crash").unwrap_or_else(|e| panic!("iteration {iteration}: {e}"));
        assert!(l.len() >= acked, "iteration {iteration}: {} records after recovery, {acked} acknowledged", l.len());
        for i in len..l.len() {
            assert_eq!(l.get(i).unwrap(), crash_record(i), "iteration {iteration}: record {i}");
        }
        if !rec.is_clean() {
            recovered += 1;
        }
        acked_total += acked - len;
        len = l.len();
        drop(l);
        let report = verify_dir(&dir, &vk);
        assert!(report.is_ok(), "iteration {iteration}: {report}");
    }
    assert!(acked_total > 0, "the writer never got an append acknowledged");
    eprintln!("{acked_total} records acknowledged over 20 kills, {recovered} recoveries truncated a tail, {len} records in the end");
}
