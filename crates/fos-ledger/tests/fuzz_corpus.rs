//! Replays the `ledger_dir` and `ledger_text` fuzz corpora (`fuzz/corpus/ledger_*`) and any saved crash
//! inputs (`fuzz/artifacts/ledger_*`) through `fos_ledger::fuzz`, the same checks as the fuzz targets, so
//! a regression fails `cargo test` without a nightly toolchain. Also writes seeds from real ledgers: a
//! clean one, one with a torn tail, one with a flipped byte.

mod common;

use std::path::{Path, PathBuf};

use fos_ledger::fuzz::{check_dir, check_text};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.flatten().map(|e| e.path()).filter(|p| p.is_file()).collect())
        .unwrap_or_default();
    out.sort();
    out
}

/// The fuzz input of a ledger directory: u16 length of records.log, records.log, checkpoints.log.
fn input_of(dir: &Path) -> Vec<u8> {
    let r = std::fs::read(dir.join(fos_ledger::RECORDS_FILE)).unwrap();
    let c = std::fs::read(dir.join(fos_ledger::CHECKPOINTS_FILE)).unwrap();
    let mut out = u16::try_from(r.len()).unwrap().to_le_bytes().to_vec();
    out.extend(&r);
    out.extend(&c);
    out
}

#[test]
fn real_ledgers_clean_torn_and_damaged_keep_the_invariants() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("l");
    let (mut l, _) = fos_ledger::Ledger::open(&dir, fos_ledger::fuzz::fuzz_key(), fos_ledger::fuzz::FUZZ_ORIGIN).unwrap();
    l.append_batch(&[b"{\"a\":1}".as_slice(), b"{\"b\":2}"]).unwrap();
    l.append(b"{\"c\":3}").unwrap();
    drop(l);
    let clean = input_of(&dir);
    let scratch = tempfile::tempdir().unwrap();
    check_dir(&clean, scratch.path()).unwrap();
    // The clean ledger opens: the check really reached the append-and-reopen part.
    let (_, r) = fos_ledger::fuzz::split_files(&clean);
    assert!(!r.is_empty());
    let records_len = u16::from_le_bytes([clean[0], clean[1]]) as usize;
    for cut in [records_len / 2, records_len - 1] {
        // A torn records.log (a crash mid-append) and a damaged byte in each file.
        let mut torn = clean[..2 + cut].to_vec();
        torn[..2].copy_from_slice(&u16::try_from(cut).unwrap().to_le_bytes());
        torn.extend(&clean[2 + records_len..]);
        check_dir(&torn, scratch.path()).unwrap();
    }
    for at in [12, 2 + records_len + 20, clean.len() - 5] {
        let mut flipped = clean.clone();
        flipped[at] ^= 0x40;
        check_dir(&flipped, scratch.path()).unwrap();
    }
    // A bundle and a checkpoint, both real, through the text checks.
    let (l, _) = fos_ledger::Ledger::open(&dir, fos_ledger::fuzz::fuzz_key(), fos_ledger::fuzz::FUZZ_ORIGIN).unwrap();
    let bundle = l.inclusion_bundle(1).unwrap().to_json();
    let note = l.latest_checkpoint().unwrap().text().to_string();
    for t in [&bundle, &note] {
        check_text(t.as_bytes()).unwrap();
    }
    // `FOS_LEDGER_SEEDS=DIR` writes these inputs as fuzzing seeds (how fuzz/corpus/ledger_* began).
    if let Some(out) = std::env::var_os("FOS_LEDGER_SEEDS") {
        let out = PathBuf::from(out);
        std::fs::create_dir_all(out.join("ledger_dir")).unwrap();
        std::fs::create_dir_all(out.join("ledger_text")).unwrap();
        std::fs::write(out.join("ledger_dir/clean"), &clean).unwrap();
        std::fs::write(out.join("ledger_text/bundle.json"), &bundle).unwrap();
        std::fs::write(out.join("ledger_text/checkpoint.txt"), &note).unwrap();
    }
}

#[test]
fn the_fuzz_corpora_replay_without_a_finding() {
    let scratch = tempfile::tempdir().unwrap();
    let mut n = 0;
    for sub in ["corpus/ledger_dir", "artifacts/ledger_dir"] {
        for f in files(&fuzz_dir().join(sub)) {
            check_dir(&std::fs::read(&f).unwrap(), scratch.path()).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            n += 1;
        }
    }
    for sub in ["corpus/ledger_text", "artifacts/ledger_text"] {
        for f in files(&fuzz_dir().join(sub)) {
            check_text(&std::fs::read(&f).unwrap()).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            n += 1;
        }
    }
    assert!(n > 0, "no corpus under {}", fuzz_dir().display());
}
