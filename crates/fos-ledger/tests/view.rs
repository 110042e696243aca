//! The read-only view: same records, proofs and bundles as the writer, with the public key only; a crash
//! tail ignored but not truncated; damage refused; and `read_records` listing every frame.

mod common;

use common::*;
use fos_ledger::{read_records, verify_inclusion, LedgerError, LedgerView, ProblemKind};

#[test]
fn the_view_serves_what_the_writer_wrote_with_the_public_key_only() {
    let dir = tempfile::tempdir().unwrap();
    let records = build(dir.path(), &[1, 3, 2]);
    let (ledger, _) = open(dir.path()).unwrap();
    let view = LedgerView::open(dir.path(), &key().verifying_key()).unwrap();
    assert_eq!(view.len(), 6);
    assert_eq!(view.checkpoints().len(), 3);
    assert_eq!(view.latest_checkpoint().map(|c| c.size()), Some(6));
    for (i, r) in records.iter().enumerate() {
        let i = i as u64;
        assert_eq!(&view.get(i).unwrap(), r);
        assert_eq!(view.leaf_hash(i).unwrap(), ledger.leaf_hash(i).unwrap());
        let proof = view.inclusion_proof(i, 6).unwrap();
        verify_inclusion(i, 6, &view.leaf_hash(i).unwrap(), &proof, &ledger.root()).unwrap();
        let bundle = view.inclusion_bundle(i).unwrap();
        assert_eq!(bundle, ledger.inclusion_bundle(i).unwrap());
        assert_eq!(bundle.verify_with_key(&key().verifying_key()).unwrap().record, *r);
    }
    assert_eq!(view.consistency_proof(1, 6).unwrap(), ledger.consistency_proof(1, 6).unwrap());
    assert!(matches!(view.get(6), Err(LedgerError::NoSuchRecord { index: 6, len: 6 })));
    // Another key: every checkpoint's signature fails.
    let err = LedgerView::open(dir.path(), &other_key().verifying_key()).unwrap_err();
    assert!(matches!(&err, LedgerError::Corrupt(p) if p.kind == ProblemKind::BadSignature), "{err}");
}

#[test]
fn a_crash_tail_is_ignored_not_truncated_and_damage_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let records = build(dir.path(), &[2, 2]);
    let rp = records_path(dir.path());
    let mut bytes = read(&rp);
    let committed_len = bytes.len();
    bytes.extend(frame(b"never acknowledged"));
    write(&rp, &bytes);
    let view = LedgerView::open(dir.path(), &key().verifying_key()).unwrap();
    assert_eq!(view.len(), 4);
    assert_eq!(read(&rp).len(), bytes.len(), "the view writes nothing");
    let all = read_records(dir.path()).unwrap();
    assert_eq!(all.len(), 5, "read_records lists the tail too");
    assert_eq!(all[4].bytes, b"never acknowledged");
    assert_eq!(all[1].bytes, records[1]);
    assert!(all.iter().all(|r| r.crc_ok));
    assert_eq!(all[0].offset, 8);

    // A flipped byte inside record 1: refused at open, and read_records flags the CRC.
    bytes.truncate(committed_len);
    let f = frames(&bytes);
    bytes[f[1].0 + 9] ^= 0x20;
    write(&rp, &bytes);
    let err = LedgerView::open(dir.path(), &key().verifying_key()).unwrap_err();
    assert!(matches!(&err, LedgerError::Corrupt(p) if p.record == Some(1)), "{err}");
    let all = read_records(dir.path()).unwrap();
    assert_eq!(all.iter().map(|r| r.crc_ok).collect::<Vec<_>>(), [true, false, true, true]);
    assert!(read_records(dir.path().join("missing")).is_err());
}
