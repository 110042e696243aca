//! Helpers shared by the ledger's integration tests: keys, a fixed clock, a small ledger, and raw access to
//! the frames of its files for tampering and crash simulation.

#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};

use ed25519_dalek::SigningKey;
use fos_ledger::{Ledger, Recovery, CHECKPOINTS_FILE, RECORDS_FILE};

pub const ORIGIN: &str = "fos/test-site";

pub fn key() -> SigningKey {
    SigningKey::from_bytes(&[0x42; 32])
}

pub fn other_key() -> SigningKey {
    SigningKey::from_bytes(&[0x43; 32])
}

pub fn open(dir: &Path) -> fos_ledger::Result<(Ledger, Recovery)> {
    Ledger::open_with_clock(dir, key(), ORIGIN, || 1_767_225_600_000)
}

/// Record `i`: JSON-like, 5 to 40 bytes, all different.
pub fn record(i: u64) -> Vec<u8> {
    let mut r = format!("{{\"i\":{i}}}").into_bytes();
    r.resize(5 + (i as usize * 7) % 36, b' ');
    r
}

/// A ledger of `batches` (their lengths), records numbered from 0. Returns the records.
pub fn build(dir: &Path, batches: &[usize]) -> Vec<Vec<u8>> {
    let (mut l, _) = open(dir).unwrap();
    let mut all = Vec::new();
    for &n in batches {
        let batch: Vec<Vec<u8>> = (all.len() as u64..(all.len() + n) as u64).map(record).collect();
        l.append_batch(&batch).unwrap();
        all.extend(batch);
    }
    all
}

pub fn records_path(dir: &Path) -> PathBuf {
    dir.join(RECORDS_FILE)
}

pub fn checkpoints_path(dir: &Path) -> PathBuf {
    dir.join(CHECKPOINTS_FILE)
}

pub fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap()
}

pub fn write(p: &Path, b: &[u8]) {
    std::fs::write(p, b).unwrap();
}

/// `(offset, total length)` of every frame after the 8-byte header.
pub fn frames(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut at = 8;
    while at + 8 <= bytes.len() {
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        out.push((at, 8 + len));
        at += 8 + len;
    }
    assert_eq!(at, bytes.len(), "not a whole number of frames");
    out
}

/// A frame with a correct CRC, as a tamperer who knows the format would write it.
pub fn frame(payload: &[u8]) -> Vec<u8> {
    let len = (payload.len() as u32).to_le_bytes();
    let mut h = crc32fast::Hasher::new();
    h.update(&len);
    h.update(payload);
    let mut f = len.to_vec();
    f.extend_from_slice(&h.finalize().to_le_bytes());
    f.extend_from_slice(payload);
    f
}
