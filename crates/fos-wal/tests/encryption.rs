//! Encryption at rest: round trips, wrong/missing/unexpected keys, tampering, swapped records, torn
//! tails, and nonces that do not repeat when a directory is recreated.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

use fos_keys::Key;
use fos_wal::{Recovery, Seq, Wal, WalError, WalOptions};

const HEADER: usize = 64;
const NONCE: usize = 24;
const TAG: usize = 16;

fn key(b: u8) -> Key {
    Key::from_bytes(std::array::from_fn(|i| b ^ i as u8))
}

fn payload(seq: Seq) -> Vec<u8> {
    let len = (seq * 37 % 200) as usize;
    (0..len).map(|i| (seq as usize * 7 + i) as u8).collect()
}

fn enc(segment_bytes: u64, k: u8) -> WalOptions {
    WalOptions {
        segment_bytes,
        encryption: Some(key(k)),
        ..WalOptions::default()
    }
}

fn open(dir: &Path, opts: WalOptions) -> (Wal, Recovery) {
    Wal::open(dir, opts).unwrap_or_else(|e| panic!("open: {e}"))
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

fn read_all(wal: &Wal) -> Result<Vec<(Seq, Vec<u8>)>, WalError> {
    wal.read_from(wal.first_seq())?.collect()
}

/// (offset, seq, stored payload range) of every record of an encrypted segment file.
fn records(bytes: &[u8]) -> Vec<(usize, Seq, std::ops::Range<usize>)> {
    let mut out = Vec::new();
    let mut off = HEADER;
    while off + 16 <= bytes.len() {
        let len = u32::from_le_bytes(bytes[off..off + 4].try_into().unwrap()) as usize;
        let seq = u64::from_le_bytes(bytes[off + 8..off + 16].try_into().unwrap());
        out.push((off, seq, off + 16..off + 16 + len));
        off += 16 + len;
    }
    out
}

/// Rewrites the CRC of the record at `off` so that it matches whatever the record now holds: the
/// damage below passes the CRC and must be caught by authentication.
fn fix_crc(bytes: &mut [u8], off: usize) {
    let len = u32::from_le_bytes(bytes[off..off + 4].try_into().unwrap()) as usize;
    let mut h = crc32fast::Hasher::new();
    h.update(&bytes[off..off + 4]);
    h.update(&bytes[off + 8..off + 16]);
    h.update(&bytes[off + 16..off + 16 + len]);
    let crc = h.finalize();
    bytes[off + 4..off + 8].copy_from_slice(&crc.to_le_bytes());
}

#[test]
fn round_trip_across_reopen_and_rolls_without_plaintext_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _) = open(dir.path(), enc(1024, 1));
    for seq in 1..=40 {
        assert_eq!(wal.append(&payload(seq)).unwrap(), seq);
    }
    let batch: Vec<Vec<u8>> = (41..=60).map(payload).collect();
    assert_eq!(wal.append_batch(&batch).unwrap(), 41..61);
    let expected: Vec<_> = (1..=60).map(|s| (s, payload(s))).collect();
    assert_eq!(read_all(&wal).unwrap(), expected);
    let segs = segments(dir.path());
    assert!(segs.len() > 5, "rolled into {} segments", segs.len());
    let used: u64 = segs.iter().map(|s| fs::metadata(s).unwrap().len()).sum();
    assert_eq!(wal.used_bytes(), used);
    for s in &segs {
        let bytes = fs::read(s).unwrap();
        assert!(bytes.len() <= 1024, "{}", s.display());
        assert_eq!(&bytes[..8], b"FOSWAL\x02\x00", "version 2 header");
        for (_, seq, range) in records(&bytes) {
            let plain = payload(seq);
            assert_eq!(range.len(), plain.len() + NONCE + TAG);
            if plain.len() >= 16 {
                assert!(
                    !bytes.windows(16).any(|w| w == &plain[..16]),
                    "plaintext of {seq} on disk"
                );
            }
        }
    }
    drop(wal);

    let (mut wal, rec) = open(dir.path(), enc(1024, 1));
    assert_eq!(
        (rec.records, rec.last_seq, rec.truncated_bytes),
        (60, Some(60), 0)
    );
    assert_eq!(read_all(&wal).unwrap(), expected);
    assert_eq!(wal.append(b"after reopen").unwrap(), 61);
    let got: Vec<_> = wal
        .read_from(59)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        got,
        vec![
            (59, payload(59)),
            (60, payload(60)),
            (61, b"after reopen".to_vec())
        ]
    );
    // Truncation works on encrypted segments like on plain ones.
    assert!(wal.truncate_before(30).unwrap() > 0);
    let first = wal.first_seq();
    assert!(first > 1 && first <= 30);
    assert_eq!(read_all(&wal).unwrap().len() as u64, 61 - first + 1);
}

#[test]
fn wrong_key_is_refused_at_open_naming_the_segment() {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _) = open(dir.path(), enc(1 << 20, 1));
    wal.append(b"secret batch").unwrap();
    drop(wal);
    let seg = segments(dir.path()).remove(0);
    let before = fs::read(&seg).unwrap();
    let err = Wal::open(dir.path(), enc(1 << 20, 2)).unwrap_err();
    match &err {
        WalError::WrongKey { path, offset } => {
            assert_eq!(path, &seg);
            assert_eq!(*offset, 24);
        }
        other => panic!("expected WrongKey, got {other:?}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains(seg.to_str().unwrap())
            && msg.contains("byte 24")
            && msg.contains("different key"),
        "{msg}"
    );
    assert_eq!(fs::read(&seg).unwrap(), before, "nothing rewritten");
    // The right key still opens it.
    let (wal, _) = open(dir.path(), enc(1 << 20, 1));
    assert_eq!(read_all(&wal).unwrap(), vec![(1, b"secret batch".to_vec())]);
}

#[test]
fn missing_and_unexpected_keys_are_refused() {
    let encrypted = tempfile::tempdir().unwrap();
    let (mut wal, _) = open(encrypted.path(), enc(1 << 20, 1));
    wal.append(b"x").unwrap();
    drop(wal);
    let seg = segments(encrypted.path()).remove(0);
    let err = Wal::open(encrypted.path(), WalOptions::default()).unwrap_err();
    assert!(
        matches!(&err, WalError::EncryptionMismatch { path, offset: 0, encrypted: true } if path == &seg),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains(seg.to_str().unwrap()) && msg.contains("encrypted") && msg.contains("no key"),
        "{msg}"
    );

    let plain = tempfile::tempdir().unwrap();
    let (mut wal, _) = open(plain.path(), WalOptions::default());
    wal.append(b"x").unwrap();
    drop(wal);
    let seg = segments(plain.path()).remove(0);
    let err = Wal::open(plain.path(), enc(1 << 20, 1)).unwrap_err();
    assert!(
        matches!(&err, WalError::EncryptionMismatch { path, offset: 0, encrypted: false } if path == &seg),
        "{err:?}"
    );
    assert!(err.to_string().contains("not encrypted"), "{err}");
    // Plain logs (version 1) still open without a key, unchanged.
    let (wal, _) = open(plain.path(), WalOptions::default());
    assert_eq!(read_all(&wal).unwrap(), vec![(1, b"x".to_vec())]);
}

#[test]
fn tampered_ciphertext_is_refused_when_read_with_file_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _) = open(dir.path(), enc(1 << 20, 1));
    for seq in 1..=5 {
        wal.append(&payload(seq)).unwrap();
    }
    drop(wal);
    let seg = segments(dir.path()).remove(0);
    let pristine = fs::read(&seg).unwrap();
    let recs = records(&pristine);
    let (off, seq, range) = recs[2].clone();
    assert_eq!(seq, 3);
    // A ciphertext byte, the tag, and the nonce: each flipped with the CRC made to match again.
    for victim in [range.start + NONCE + 1, range.end - 1, range.start] {
        let mut bytes = pristine.clone();
        bytes[victim] ^= 0x01;
        fix_crc(&mut bytes, off);
        fs::write(&seg, &bytes).unwrap();
        // Recovery checks framing and CRCs only: the log opens with all five records...
        let (wal, rec) = open(dir.path(), enc(1 << 20, 1));
        assert_eq!((rec.last_seq, rec.truncated_bytes), (Some(5), 0));
        // ...records before the damage replay, and the damaged one is refused, never returned.
        let mut reader = wal.read_from(1).unwrap();
        assert_eq!(reader.next().unwrap().unwrap(), (1, payload(1)));
        assert_eq!(reader.next().unwrap().unwrap(), (2, payload(2)));
        let err = reader.next().unwrap().unwrap_err();
        match &err {
            WalError::Unauthentic {
                path,
                offset,
                seq: 3,
            } => {
                assert_eq!(path, &seg);
                assert_eq!(*offset, off as u64);
            }
            other => panic!("byte {victim}: expected Unauthentic, got {other:?}"),
        }
        let msg = err.to_string();
        assert!(
            msg.contains(seg.to_str().unwrap())
                && msg.contains(&format!("byte {off}"))
                && msg.contains("fails authentication"),
            "{msg}"
        );
        assert!(reader.next().is_none(), "nothing after the first error");
        // Replay starting after it is unaffected.
        let rest: Vec<_> = wal.read_from(4).unwrap().collect::<Result<_, _>>().unwrap();
        assert_eq!(rest, vec![(4, payload(4)), (5, payload(5))]);
    }
    // Without the CRC fixed, a flipped byte mid-log is plain corruption found at open, as before.
    let mut bytes = pristine.clone();
    bytes[range.start + NONCE + 1] ^= 0x01;
    fs::write(&seg, &bytes).unwrap();
    assert!(matches!(
        Wal::open(dir.path(), enc(1 << 20, 1)),
        Err(WalError::Corrupt { offset, .. }) if offset == off as u64
    ));
}

#[test]
fn swapped_records_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _) = open(dir.path(), enc(1 << 20, 1));
    for seq in 1..=4u8 {
        wal.append(&[seq; 50]).unwrap();
    }
    drop(wal);
    let seg = segments(dir.path()).remove(0);
    let mut bytes = fs::read(&seg).unwrap();
    let recs = records(&bytes);
    let (off2, _, r2) = recs[1].clone();
    let (off3, _, r3) = recs[2].clone();
    // Swap the stored payloads of records 2 and 3 and make both CRCs match: framing and sequence
    // numbers are all in order, only the associated data (the seq) betrays the swap.
    let p2 = bytes[r2.clone()].to_vec();
    let p3 = bytes[r3.clone()].to_vec();
    bytes[r2].copy_from_slice(&p3);
    bytes[r3].copy_from_slice(&p2);
    fix_crc(&mut bytes, off2);
    fix_crc(&mut bytes, off3);
    fs::write(&seg, &bytes).unwrap();
    let (wal, _) = open(dir.path(), enc(1 << 20, 1));
    let err = read_all(&wal).unwrap_err();
    assert!(
        matches!(&err, WalError::Unauthentic { seq: 2, offset, .. } if *offset == off2 as u64),
        "{err:?}"
    );
}

/// As in the plain log: cut the last segment inside its last record at every byte; recovery truncates
/// it without needing to decrypt, earlier records decrypt, appends resume.
#[test]
fn torn_tail_at_every_byte_of_the_last_encrypted_record() {
    let src = tempfile::tempdir().unwrap();
    let (mut wal, _) = open(src.path(), enc(900, 1));
    for seq in 1..=12 {
        wal.append(&payload(seq)).unwrap();
    }
    drop(wal);
    let segs = segments(src.path());
    assert!(segs.len() > 1);
    let last = segs.last().unwrap().clone();
    let full = fs::read(&last).unwrap();
    let last_rec_start = records(&full).last().unwrap().0;
    for cut in last_rec_start..full.len() {
        let dir = tempfile::tempdir().unwrap();
        for s in &segs {
            fs::copy(s, dir.path().join(s.file_name().unwrap())).unwrap();
        }
        let victim = dir.path().join(last.file_name().unwrap());
        fs::write(&victim, &full[..cut]).unwrap();
        let (mut wal, rec) = open(dir.path(), enc(900, 1));
        assert_eq!(rec.last_seq, Some(11), "cut at {cut}");
        assert_eq!(
            rec.truncated_bytes,
            (cut - last_rec_start) as u64,
            "cut at {cut}"
        );
        assert_eq!(
            read_all(&wal).unwrap(),
            (1..=11).map(|s| (s, payload(s))).collect::<Vec<_>>(),
            "cut at {cut}"
        );
        assert_eq!(wal.append(b"resumed").unwrap(), 12);
        drop(wal);
        let (wal, rec) = open(dir.path(), enc(900, 1));
        assert_eq!((rec.last_seq, rec.truncated_bytes), (Some(12), 0));
        assert_eq!(
            read_all(&wal).unwrap().last().unwrap(),
            &(12, b"resumed".to_vec())
        );
    }
}

#[test]
fn torn_encrypted_header_is_rewritten() {
    let src = tempfile::tempdir().unwrap();
    let (mut wal, _) = open(src.path(), enc(200, 1));
    for seq in 1..=3u8 {
        wal.append(&[seq; 60]).unwrap();
    }
    drop(wal);
    let segs = segments(src.path());
    let last = segs.last().unwrap();
    let full = fs::read(last).unwrap();
    for cut in 0..HEADER {
        let dir = tempfile::tempdir().unwrap();
        for s in &segs {
            fs::copy(s, dir.path().join(s.file_name().unwrap())).unwrap();
        }
        fs::write(dir.path().join(last.file_name().unwrap()), &full[..cut]).unwrap();
        let (mut wal, rec) = open(dir.path(), enc(200, 1));
        assert_eq!(
            (rec.last_seq, rec.truncated_bytes),
            (Some(2), cut as u64),
            "cut {cut}"
        );
        assert_eq!(wal.append(&[9; 60]).unwrap(), 3);
        assert_eq!(read_all(&wal).unwrap().last().unwrap(), &(3, vec![9; 60]));
    }
}

/// The directory is deleted and recreated with the same key: sequence numbers restart at 1 and the
/// same payloads are written, yet no nonce repeats (and so no ciphertext repeats either). The same
/// holds for a sequence number written again after a torn tail was cut.
#[test]
fn nonces_do_not_repeat_when_a_log_is_recreated_or_a_tail_rewritten() {
    let base = tempfile::tempdir().unwrap();
    let dir = base.path().join("wal");
    let mut nonces = HashSet::new();
    let mut ciphertexts = HashSet::new();
    let mut collect = |dir: &Path| {
        let mut n = 0;
        for s in segments(dir) {
            let bytes = fs::read(&s).unwrap();
            assert!(
                nonces.insert(bytes[24..48].to_vec()),
                "header nonce repeated"
            );
            for (_, seq, range) in records(&bytes) {
                let stored = &bytes[range];
                assert!(
                    nonces.insert(stored[..NONCE].to_vec()),
                    "nonce of {seq} repeated"
                );
                assert!(
                    ciphertexts.insert(stored[NONCE..].to_vec()),
                    "ciphertext of {seq} repeated"
                );
                n += 1;
            }
        }
        n
    };
    for _ in 0..3 {
        let (mut wal, _) = open(&dir, enc(1 << 20, 1));
        for seq in 1..=20 {
            wal.append(&payload(seq + 1000)).unwrap();
        }
        drop(wal);
        assert_eq!(collect(&dir), 20);
        fs::remove_dir_all(&dir).unwrap();
    }
    // A torn tail: record 5 is cut and written again (same seq, same payload) by the next open.
    let (mut wal, _) = open(&dir, enc(1 << 20, 1));
    for seq in 1..=5 {
        wal.append(&payload(seq + 1000)).unwrap();
    }
    drop(wal);
    let seg = segments(&dir).remove(0);
    let bytes = fs::read(&seg).unwrap();
    let (off5, _, r5) = records(&bytes)[4].clone();
    let first_nonce = bytes[r5.start..r5.start + NONCE].to_vec();
    fs::write(&seg, &bytes[..off5 + 20]).unwrap();
    let (mut wal, rec) = open(&dir, enc(1 << 20, 1));
    assert_eq!(rec.last_seq, Some(4));
    assert_eq!(wal.append(&payload(5 + 1000)).unwrap(), 5);
    drop(wal);
    let bytes = fs::read(&seg).unwrap();
    let (_, _, r5) = records(&bytes)[4].clone();
    assert_ne!(bytes[r5.start..r5.start + NONCE], first_nonce[..]);
}
