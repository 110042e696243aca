//! The ledger directory end to end: appends, reads, proofs, reopening, bundles, and tamper evidence — a
//! changed byte anywhere, a cut file, swapped, removed or added records are each found by `verify_dir`
//! (naming file, offset, record or checkpoint) and refused by `open`.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use common::*;
use fos_ledger::checkpoint::verifier_key;
use fos_ledger::merkle::{leaf_hash, verify_consistency, verify_inclusion};
use fos_ledger::{
    verify_dir, BundleError, CheckpointError, InclusionBundle, Ledger, LedgerError, ProblemKind, ProofError,
    SignedCheckpoint,
};

#[test]
fn append_read_prove_and_reopen() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ledger");
    let (mut l, rec) = open(&dir).unwrap();
    assert!(rec.created && rec.is_clean());
    assert!(l.is_empty() && l.latest_checkpoint().is_none());

    let mut receipts = vec![l.append(&record(0)).unwrap()];
    let batch: Vec<Vec<u8>> = (1..6).map(record).collect();
    receipts.extend(l.append_batch(&batch).unwrap());
    receipts.extend(l.append_batch(&[record(6), record(7), record(8)]).unwrap());
    assert_eq!(receipts.iter().map(|r| r.index).collect::<Vec<_>>(), (0..9).collect::<Vec<_>>());
    assert_eq!(receipts.iter().map(|r| r.checkpoint.size()).collect::<Vec<_>>(), [1, 6, 6, 6, 6, 6, 9, 9, 9]);
    assert!(Arc::ptr_eq(&receipts[1].checkpoint, &receipts[5].checkpoint), "a batch shares one checkpoint");
    assert_eq!(l.len(), 9);
    assert_eq!(l.checkpoint_count(), 3);
    let vk = l.verifying_key();

    for r in &receipts {
        assert_eq!(l.get(r.index).unwrap(), record(r.index));
        assert_eq!(r.leaf_hash, leaf_hash(&record(r.index)));
        assert_eq!(l.leaf_hash(r.index).unwrap(), r.leaf_hash);
        // The receipt's checkpoint is signed and its proof verifies: what a client keeps.
        let cp = SignedCheckpoint::verify_text(r.checkpoint.text(), &vk).unwrap();
        let proof = l.inclusion_proof(r.index, cp.size()).unwrap();
        verify_inclusion(r.index, cp.size(), &r.leaf_hash, &proof, cp.root()).unwrap();
    }
    let (c1, c3) = (&receipts[0].checkpoint, &receipts[8].checkpoint);
    let proof = l.consistency_proof(c1.size(), c3.size()).unwrap();
    verify_consistency(c1.size(), c3.size(), c1.root(), c3.root(), &proof).unwrap();
    let root = l.root();
    drop(l);

    let (l, rec) = open(&dir).unwrap();
    assert!(rec.is_clean() && !rec.created, "{rec}");
    assert_eq!((rec.records, rec.checkpoints), (9, 3));
    assert_eq!((l.len(), l.root()), (9, root));
    assert_eq!(l.latest_checkpoint().unwrap().as_ref(), c3.as_ref());
    assert_eq!(l.get(4).unwrap(), record(4));
    let report = verify_dir(&dir, &vk);
    assert!(report.is_ok(), "{report}");
    assert_eq!((report.records, report.checkpoints, report.verified_size), (9, 3, 9));
    // Only the two files are in the directory.
    let mut names: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
    names.sort();
    assert_eq!(names, ["checkpoints.log", "records.log"]);
}

#[test]
fn timestamps_come_from_the_clock_and_never_go_back() {
    let tmp = tempfile::tempdir().unwrap();
    let times = Arc::new(AtomicU64::new(0));
    let clock = {
        let times = Arc::clone(&times);
        move || [100, 50, 200][times.fetch_add(1, Ordering::SeqCst) as usize % 3]
    };
    let (mut l, _) = Ledger::open_with_clock(tmp.path(), key(), ORIGIN, clock).unwrap();
    let ts: Vec<u64> = (0..3).map(|i| l.append(&record(i)).unwrap().checkpoint.timestamp_ms()).collect();
    assert_eq!(ts, [100, 100, 200]);
    assert!(verify_dir(tmp.path(), &key().verifying_key()).is_ok());
}

#[test]
fn empty_batches_and_oversized_records_write_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    build(tmp.path(), &[2]);
    let (mut l, _) = open(tmp.path()).unwrap();
    let before = (read(&records_path(tmp.path())), read(&checkpoints_path(tmp.path())));
    assert!(l.append_batch::<&[u8]>(&[]).unwrap().is_empty());
    let huge = vec![0u8; fos_ledger::MAX_RECORD_LEN + 1];
    match l.append_batch(&[record(2), huge]) {
        Err(LedgerError::RecordTooLarge { position: 1, .. }) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(l.len(), 2);
    assert_eq!(before, (read(&records_path(tmp.path())), read(&checkpoints_path(tmp.path()))));
    // Still appendable, and an empty record is a record.
    assert_eq!(l.append(b"").unwrap().index, 2);
    assert_eq!(l.get(2).unwrap(), b"");
}

#[test]
fn lookups_out_of_range_are_errors() {
    let tmp = tempfile::tempdir().unwrap();
    build(tmp.path(), &[3]);
    let (l, _) = open(tmp.path()).unwrap();
    assert!(matches!(l.get(3), Err(LedgerError::NoSuchRecord { index: 3, len: 3 })));
    assert!(matches!(l.leaf_hash(7), Err(LedgerError::NoSuchRecord { index: 7, len: 3 })));
    assert!(matches!(
        l.inclusion_proof(3, 3),
        Err(LedgerError::Proof(ProofError::IndexOutOfRange { index: 3, size: 3 }))
    ));
    assert!(matches!(l.inclusion_proof(0, 4), Err(LedgerError::Proof(ProofError::SizeBeyondTree { size: 4, len: 3 }))));
    assert!(matches!(l.consistency_proof(0, 3), Err(LedgerError::Proof(ProofError::EmptyOldTree))));
    assert!(matches!(l.root_at(4), Err(LedgerError::Proof(_))));
}

#[test]
fn another_key_or_origin_is_refused_at_open() {
    let tmp = tempfile::tempdir().unwrap();
    build(tmp.path(), &[2, 2]);
    match Ledger::open(tmp.path(), other_key(), ORIGIN) {
        Err(LedgerError::Corrupt(p)) => {
            assert_eq!(p.kind, ProblemKind::BadSignature);
            assert_eq!(p.checkpoint, Some(1));
            assert!(p.to_string().contains("checkpoints.log"), "{p}");
        }
        other => panic!("{other:?}"),
    }
    match Ledger::open(tmp.path(), key(), "fos/other-site") {
        Err(LedgerError::Corrupt(p)) => assert_eq!((p.kind, p.checkpoint), (ProblemKind::WrongOrigin, Some(0))),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        Ledger::open(tmp.path(), key(), "fos/bad origin"),
        Err(LedgerError::Checkpoint(CheckpointError::InvalidOrigin { .. }))
    ));
    let report = verify_dir(tmp.path(), &other_key().verifying_key());
    assert_eq!(report.problems.iter().filter(|p| p.kind == ProblemKind::BadSignature).count(), 2, "{report}");
}

#[test]
fn inclusion_bundles_verify_offline_and_reject_tampering() {
    let tmp = tempfile::tempdir().unwrap();
    build(tmp.path(), &[3, 4]);
    let (l, _) = open(tmp.path()).unwrap();
    let vk = l.verifying_key();
    let json = l.inclusion_bundle(4).unwrap().to_json();

    // A third party: JSON only.
    let bundle = InclusionBundle::from_json(&json).unwrap();
    let v = bundle.verify().unwrap();
    assert_eq!((v.index, v.tree_size, v.record.as_slice(), v.origin.as_str()), (4, 7, record(4).as_slice(), ORIGIN));
    assert_eq!(v.verifier_key, verifier_key(ORIGIN, &vk));
    bundle.verify_with_key(&vk).unwrap();
    assert!(matches!(bundle.verify_with_key(&other_key().verifying_key()), Err(BundleError::UntrustedKey { .. })));

    let tampered = |f: &dyn Fn(&mut InclusionBundle)| {
        let mut b = bundle.clone();
        f(&mut b);
        b.verify()
    };
    let e = tampered(&|b| b.record = base64_of(&record(5)));
    assert!(matches!(e, Err(BundleError::Proof { index: 4, size: 7, .. })), "{e:?}");
    assert!(matches!(tampered(&|b| b.index = 5), Err(BundleError::Proof { .. })));
    assert!(matches!(tampered(&|b| b.proof.swap(0, 1)), Err(BundleError::Proof { .. })));
    assert!(matches!(tampered(&|b| { b.proof.pop(); }), Err(BundleError::Proof { .. })));
    assert!(matches!(
        tampered(&|b| b.checkpoint = b.checkpoint.replacen("\n7\n", "\n8\n", 1)),
        Err(BundleError::Checkpoint(CheckpointError::BadSignature { .. }))
    ));
    // A forger's own key: verifies against itself, so `verify_with_key` is what a party must call.
    let forged = {
        let mut b = bundle.clone();
        let cp = SignedCheckpoint::verify_text(&b.checkpoint, &vk).unwrap();
        b.checkpoint = cp.checkpoint().sign(&other_key()).unwrap().text().to_owned();
        b.verifier_key = verifier_key(ORIGIN, &other_key().verifying_key());
        b
    };
    assert!(forged.verify().is_ok());
    assert!(matches!(forged.verify_with_key(&vk), Err(BundleError::UntrustedKey { .. })));
    assert!(matches!(tampered(&|b| b.format = "v0".into()), Err(BundleError::Format(_))));
    assert!(matches!(tampered(&|b| b.proof[0] = "not base64!".into()), Err(BundleError::Base64 { .. })));
    let extra = json.replacen('{', "{\"extra\": 1,", 1);
    assert!(matches!(InclusionBundle::from_json(&extra), Err(BundleError::Json(_))));
}

fn base64_of(b: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// A ledger of 4 batches / 10 records, its files, and the verifying key.
fn sample(dir: &std::path::Path) -> (Vec<u8>, Vec<u8>) {
    build(dir, &[1, 4, 2, 3]);
    (read(&records_path(dir)), read(&checkpoints_path(dir)))
}

#[test]
fn every_changed_byte_of_records_log_is_detected() {
    let tmp = tempfile::tempdir().unwrap();
    let (recs, cps) = sample(tmp.path());
    let vk = key().verifying_key();
    let path = records_path(tmp.path());
    for i in 0..recs.len() {
        let mut bad = recs.clone();
        bad[i] ^= 0x20;
        write(&path, &bad);
        let report = verify_dir(tmp.path(), &vk);
        assert!(!report.is_ok(), "byte {i}: nothing reported");
        assert!(report.problems.iter().all(|p| p.file == path), "byte {i}: {report}");
        assert!(open(tmp.path()).is_err(), "byte {i}: open accepted a changed records.log");
        write(&path, &recs);
        write(&checkpoints_path(tmp.path()), &cps);
    }
    assert!(verify_dir(tmp.path(), &vk).is_ok());
}

#[test]
fn every_changed_byte_of_checkpoints_log_is_detected() {
    let tmp = tempfile::tempdir().unwrap();
    let (recs, cps) = sample(tmp.path());
    let vk = key().verifying_key();
    let path = checkpoints_path(tmp.path());
    let mut recovered_by_open = Vec::new();
    for i in 0..cps.len() {
        let mut bad = cps.clone();
        bad[i] ^= 0x20;
        write(&path, &bad);
        let report = verify_dir(tmp.path(), &vk);
        assert!(!report.is_ok(), "byte {i}: nothing reported");
        match open(tmp.path()) {
            Err(_) => {}
            // A length field grown past the end of the file reads as a cut last frame: open treats it as
            // a crash and drops the last batch, and says so.
            Ok((_, rec)) => {
                assert!(rec.truncated_checkpoint_bytes > 0 && rec.truncated_records > 0, "byte {i}: {rec}");
                recovered_by_open.push(i);
            }
        }
        write(&records_path(tmp.path()), &recs);
        write(&path, &cps);
    }
    let last = frames(&cps).last().copied().unwrap();
    assert!(recovered_by_open.iter().all(|&i| i >= last.0 && i < last.0 + 4), "{recovered_by_open:?}, last frame at {last:?}");
}

#[test]
fn edits_that_fix_the_crc_are_caught_by_the_signed_roots() {
    let tmp = tempfile::tempdir().unwrap();
    let (recs, cps) = sample(tmp.path());
    let vk = key().verifying_key();
    let rp = records_path(tmp.path());
    let cpp = checkpoints_path(tmp.path());

    // Record 3 (batch 2 = records 1..5, checkpoint #1) rewritten with a valid frame of the same length.
    let f = frames(&recs);
    let (at, len) = f[3];
    let mut payload = recs[at + 8..at + len].to_vec();
    payload[0] = b'[';
    let mut bad = recs.clone();
    bad.splice(at..at + len, frame(&payload));
    write(&rp, &bad);
    let report = verify_dir(tmp.path(), &vk);
    let p = &report.problems[0];
    assert_eq!((p.kind, p.checkpoint, p.record), (ProblemKind::RootMismatch, Some(1), Some(1)), "{report}");
    assert!(p.detail.contains("records [1, 5)"), "{p}");
    assert!(report.has(ProblemKind::RootMismatch) && !report.has(ProblemKind::BadChecksum), "{report}");
    match open(tmp.path()) {
        Err(LedgerError::Corrupt(p)) => assert_eq!(p.kind, ProblemKind::RootMismatch),
        other => panic!("{other:?}"),
    }
    write(&rp, &recs);

    // A checkpoint's size and root rewritten (to a consistent-looking earlier state), CRC fixed.
    let cf = frames(&cps);
    let text = std::str::from_utf8(&cps[cf[2].0 + 8..cf[2].0 + cf[2].1]).unwrap();
    let forged = text.replacen("\n7\n", "\n6\n", 1);
    let mut bad = cps.clone();
    bad.splice(cf[2].0..cf[2].0 + cf[2].1, frame(forged.as_bytes()));
    write(&cpp, &bad);
    let report = verify_dir(tmp.path(), &vk);
    assert!(report.problems.iter().any(|p| p.kind == ProblemKind::BadSignature && p.checkpoint == Some(2)), "{report}");
    assert!(open(tmp.path()).is_err());
    write(&cpp, &cps);

    // The signature of a middle checkpoint replaced by another key's, CRC fixed: the audit checks all.
    let cp1 = SignedCheckpoint::parse_unverified(std::str::from_utf8(&cps[cf[1].0 + 8..cf[1].0 + cf[1].1]).unwrap()).unwrap();
    let resigned = cp1.checkpoint().sign(&other_key()).unwrap();
    let mut bad = cps.clone();
    bad.splice(cf[1].0..cf[1].0 + cf[1].1, frame(resigned.text().as_bytes()));
    write(&cpp, &bad);
    let report = verify_dir(tmp.path(), &vk);
    assert_eq!(report.problems.len(), 1, "{report}");
    assert_eq!((report.problems[0].kind, report.problems[0].checkpoint), (ProblemKind::BadSignature, Some(1)));
    write(&cpp, &cps);
    assert!(verify_dir(tmp.path(), &vk).is_ok());
}

#[test]
fn cut_files_are_detected() {
    let tmp = tempfile::tempdir().unwrap();
    let (recs, cps) = sample(tmp.path());
    let vk = key().verifying_key();
    for cut in 0..recs.len() {
        write(&records_path(tmp.path()), &recs[..cut]);
        let report = verify_dir(tmp.path(), &vk);
        assert!(report.has(ProblemKind::MissingRecords) || report.has(ProblemKind::BadHeader), "cut at {cut}: {report}");
        assert!(open(tmp.path()).is_err(), "records.log cut at {cut}");
        write(&records_path(tmp.path()), &recs);
    }
    for cut in 0..cps.len() {
        write(&checkpoints_path(tmp.path()), &cps[..cut]);
        let report = verify_dir(tmp.path(), &vk);
        assert!(!report.is_ok(), "checkpoints.log cut at {cut}");
        assert!(
            report.has(ProblemKind::UncommittedTail) || report.has(ProblemKind::TornCheckpoint),
            "cut at {cut}: {report}"
        );
        write(&checkpoints_path(tmp.path()), &cps);
        write(&records_path(tmp.path()), &recs);
    }
}

#[test]
fn swapped_removed_and_added_records_are_detected() {
    let tmp = tempfile::tempdir().unwrap();
    let (recs, _) = sample(tmp.path());
    let vk = key().verifying_key();
    let rp = records_path(tmp.path());
    let f = frames(&recs);

    // Records 6 and 7 (one batch, different lengths) swapped.
    let (a, b) = (f[6], f[7]);
    let mut swapped = recs[..a.0].to_vec();
    swapped.extend_from_slice(&recs[b.0..b.0 + b.1]);
    swapped.extend_from_slice(&recs[a.0..a.0 + a.1]);
    swapped.extend_from_slice(&recs[b.0 + b.1..]);
    assert_eq!(swapped.len(), recs.len());
    write(&rp, &swapped);
    let report = verify_dir(tmp.path(), &vk);
    assert_eq!(report.problems.len(), 2, "{report}"); // checkpoint #2's root, and the one after it skipped
    assert_eq!((report.problems[0].kind, report.problems[0].checkpoint), (ProblemKind::RootMismatch, Some(2)));
    assert!(open(tmp.path()).is_err());

    // Record 2 removed.
    let mut removed = recs[..f[2].0].to_vec();
    removed.extend_from_slice(&recs[f[2].0 + f[2].1..]);
    write(&rp, &removed);
    let report = verify_dir(tmp.path(), &vk);
    assert!(report.has(ProblemKind::RootMismatch) && report.has(ProblemKind::MissingRecords), "{report}");
    let missing = report.problems.iter().find(|p| p.kind == ProblemKind::MissingRecords).unwrap();
    assert_eq!((missing.record, missing.offset), (Some(9), Some(removed.len() as u64)));
    assert!(open(tmp.path()).is_err());

    // A well-formed record appended without a checkpoint.
    let mut added = recs.clone();
    added.extend_from_slice(&frame(b"{\"i\":\"forged\"}"));
    write(&rp, &added);
    let report = verify_dir(tmp.path(), &vk);
    assert_eq!(report.problems.len(), 1, "{report}");
    let p = &report.problems[0];
    assert_eq!((p.kind, p.record, p.offset), (ProblemKind::UncommittedTail, Some(10), Some(recs.len() as u64)));
    assert!(p.detail.contains("1 whole record"), "{p}");
    assert!(p.to_string().starts_with(&format!("{} at byte {}, record 10: uncommitted tail", rp.display(), recs.len())), "{p}");
    // Open treats it as an unacknowledged append: truncated and reported, never served.
    let (l, rec) = open(tmp.path()).unwrap();
    assert_eq!((rec.truncated_records, l.len()), (1, 10));
    assert!(verify_dir(tmp.path(), &vk).is_ok());
}

#[test]
fn a_rollback_of_whole_batches_needs_a_checkpoint_kept_outside() {
    let tmp = tempfile::tempdir().unwrap();
    let (recs, cps) = sample(tmp.path());
    let vk = key().verifying_key();
    let kept = SignedCheckpoint::parse_unverified(
        std::str::from_utf8(&cps[frames(&cps)[3].0 + 8..]).unwrap(),
    )
    .unwrap();
    // Drop the last batch and its checkpoint together: the directory alone is consistent again.
    write(&records_path(tmp.path()), &recs[..frames(&recs)[7].0]);
    write(&checkpoints_path(tmp.path()), &cps[..frames(&cps)[3].0]);
    assert!(verify_dir(tmp.path(), &vk).is_ok());
    // A receipt or bundle kept elsewhere shows it: the ledger can no longer reach the kept size.
    let (l, _) = open(tmp.path()).unwrap();
    assert_eq!(kept.size(), 10);
    assert!(l.len() < kept.size());
    assert!(l.consistency_proof(l.len(), kept.size()).is_err());
}

#[test]
fn reads_check_the_record_against_the_tree() {
    let tmp = tempfile::tempdir().unwrap();
    let (recs, _) = sample(tmp.path());
    let (l, _) = open(tmp.path()).unwrap();
    // Changed on disk while open, CRC fixed: the leaf hash still catches it.
    let f = frames(&recs);
    let (at, len) = f[5];
    let mut payload = recs[at + 8..at + len].to_vec();
    payload[1] ^= 1;
    let mut bad = recs.clone();
    bad.splice(at..at + len, frame(&payload));
    write(&records_path(tmp.path()), &bad);
    match l.get(5) {
        Err(LedgerError::Corrupt(p)) => assert_eq!((p.record, p.offset), (Some(5), Some(at as u64))),
        other => panic!("{other:?}"),
    }
    assert_eq!(l.get(4).unwrap(), record(4));
}
