//! The crash test: a writer process (`fos-wal-crash-writer`, `FsyncPolicy::Always`) is SIGKILLed at
//! random moments; after each kill the WAL must hold every acknowledged record exactly once with its exact
//! payload, contiguously, and the next writer must resume right after the last record.
//!
//! SIGKILL tests process crashes (the page cache survives); power loss is not simulated here.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fos_wal::{Seq, Wal, WalOptions};

/// Same as in `src/bin/fos-wal-crash-writer.rs`.
fn payload(seq: u64) -> Vec<u8> {
    let len = (seq.wrapping_mul(2_654_435_761) % 700) as usize + 1;
    let tag = seq.to_le_bytes();
    (0..len).map(|i| tag[i % 8] ^ (i as u8)).collect()
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
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(0x005e_edf0_53a1);
    let mut last_seen: Seq = 0; // last record in the log after the previous kill
    let mut total_acked = 0usize;
    let mut truncations = 0;
    for iteration in 0..25 {
        let delay = Duration::from_millis(1 + rng.next() % 50);
        let mut child = Command::new(env!("CARGO_BIN_EXE_fos-wal-crash-writer"))
            .arg(dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn the crash writer");
        std::thread::sleep(delay);
        child.kill().expect("SIGKILL");
        let status = child.wait().unwrap();
        assert!(
            status.code().is_none(),
            "iteration {iteration}: the writer exited by itself: {status}"
        );
        let mut out = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();

        let mut lines = out.lines();
        let acked: Vec<Seq> = match lines.next() {
            None => Vec::new(), // killed before it opened the log
            Some(start) => {
                let start: Seq = start
                    .strip_prefix("start ")
                    .and_then(|s| s.parse().ok())
                    .unwrap_or_else(|| panic!("{start:?}"));
                assert_eq!(start, last_seen, "iteration {iteration}: the writer resumed after {start}, the log ended at {last_seen}");
                // The last line may be cut by the kill: only whole lines count as acknowledged.
                let whole = if out.ends_with('\n') {
                    lines.count()
                } else {
                    lines.count().saturating_sub(1)
                };
                out.lines()
                    .skip(1)
                    .take(whole)
                    .map(|l| l.parse().unwrap())
                    .collect()
            }
        };
        for (i, s) in acked.iter().enumerate() {
            assert_eq!(
                *s,
                last_seen + 1 + i as u64,
                "iteration {iteration}: acknowledgements not contiguous"
            );
        }
        total_acked += acked.len();

        let (wal, rec) = Wal::open(dir.path(), WalOptions::default())
            .unwrap_or_else(|e| panic!("iteration {iteration}: {e}"));
        truncations += usize::from(rec.truncated_bytes > 0);
        let last = rec.last_seq.unwrap_or(0);
        if let Some(&max_acked) = acked.last() {
            assert!(
                last >= max_acked,
                "iteration {iteration}: acknowledged {max_acked} but the log ends at {last}"
            );
        }
        assert!(
            last >= last_seen,
            "iteration {iteration}: the log shrank from {last_seen} to {last}"
        );
        let mut expected = 1;
        for r in wal.read_from(1).unwrap() {
            let (seq, p) = r.unwrap_or_else(|e| panic!("iteration {iteration}: {e}"));
            assert_eq!(seq, expected, "iteration {iteration}: gap or duplicate");
            assert!(
                p == payload(seq),
                "iteration {iteration}: payload of {seq} differs"
            );
            expected += 1;
        }
        assert_eq!(
            expected - 1,
            last,
            "iteration {iteration}: replay and recovery disagree"
        );
        last_seen = last;
    }
    eprintln!(
        "crash test: 25 kills, {total_acked} acknowledged records, {last_seen} in the log, {truncations} torn tails cut, {:.1?}",
        started.elapsed()
    );
    assert!(
        last_seen > 0 && total_acked > 0,
        "the writer never got to append"
    );
}
