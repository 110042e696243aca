//! Test helper for the crash test (`tests/crash.rs`): opens the ledger in `argv[1]`, prints
//! `start <records> <truncated records>`, then appends batches of 1 to 4 numbered records as fast as it can
//! and prints `acked <size>` after each batch is acknowledged (durable and checkpointed), until it is
//! killed.

use std::io::Write;

use ed25519_dalek::SigningKey;
use fos_ledger::Ledger;

/// Record `i`, known to the test: varied lengths so frames straddle pages.
fn record(i: u64) -> Vec<u8> {
    let len = (i.wrapping_mul(2_654_435_761) % 700) as usize + 1;
    let tag = i.to_le_bytes();
    (0..len).map(|k| tag[k % 8] ^ (k as u8)).collect()
}

fn main() {
    let dir = std::env::args().nth(1).expect("usage: fos-ledger-crash-writer DIR");
    let (mut ledger, rec) =
        Ledger::open(&dir, SigningKey::from_bytes(&[0x5a; 32]), "fos/crash").unwrap_or_else(|e| panic!("open: {e}"));
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    writeln!(out, "start {} {}", ledger.len(), rec.truncated_records).expect("stdout");
    out.flush().expect("stdout");
    let mut n = 0u64;
    loop {
        let first = ledger.len();
        let batch: Vec<Vec<u8>> = (first..first + 1 + n % 4).map(record).collect();
        let receipts = ledger.append_batch(&batch).unwrap_or_else(|e| panic!("append: {e}"));
        let size = receipts.last().map_or(0, |r| r.checkpoint.size());
        writeln!(out, "acked {size}").expect("stdout");
        out.flush().expect("stdout");
        n += 1;
    }
}
