//! Test helper for the crash test (`tests/crash.rs`): opens the WAL in `argv[1]` with
//! `FsyncPolicy::Always` and small segments, prints `start <last recovered seq>`, then appends numbered
//! records as fast as it can and prints every acknowledged (durable) sequence number, one per line,
//! until it is killed.

use std::io::Write;

use fos_wal::{FsyncPolicy, Wal, WalOptions};

/// The payload of record `seq`, known to the test: varied lengths so records straddle pages.
fn payload(seq: u64) -> Vec<u8> {
    let len = (seq.wrapping_mul(2_654_435_761) % 700) as usize + 1;
    let tag = seq.to_le_bytes();
    (0..len).map(|i| tag[i % 8] ^ (i as u8)).collect()
}

fn main() {
    let dir = std::env::args()
        .nth(1)
        .expect("usage: fos-wal-crash-writer DIR");
    let opts = WalOptions {
        segment_bytes: 32 << 10,
        fsync: FsyncPolicy::Always,
        ..WalOptions::default()
    };
    let (mut wal, rec) = Wal::open(&dir, opts).unwrap_or_else(|e| panic!("open: {e}"));
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    writeln!(out, "start {}", rec.last_seq.unwrap_or(0)).expect("stdout");
    let mut n = 0u64;
    loop {
        // Batches of 1..=4 records: exercises all-or-nothing batches across segment rolls.
        let first = wal.last_seq() + 1;
        let batch: Vec<Vec<u8>> = (first..first + 1 + n % 4).map(payload).collect();
        let seqs = wal
            .append_batch(&batch)
            .unwrap_or_else(|e| panic!("append: {e}"));
        assert!(wal.durable_seq() >= seqs.end - 1);
        for s in seqs {
            writeln!(out, "{s}").expect("stdout");
        }
        out.flush().expect("stdout");
        n += 1;
    }
}
