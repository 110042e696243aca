//! The checks of the ledger's fuzz targets (`fuzz/fuzz_targets/ledger_dir.rs`, `ledger_text.rs`),
//! kept here so that the corpus replay test (`tests/fuzz_corpus.rs`) runs exactly the same code on
//! stable Rust. Neither function may panic, whatever the bytes; an `Err` is a broken invariant.

use std::path::Path;

use ed25519_dalek::SigningKey;

use crate::{verify_dir, InclusionBundle, Ledger, SignedCheckpoint, CHECKPOINTS_FILE, RECORDS_FILE};

/// The key of the fuzzed ledgers (a fixed test key; FOS loads the site's own).
pub fn fuzz_key() -> SigningKey {
    SigningKey::from_bytes(&[0x5a; 32])
}

/// The origin of the fuzzed ledgers.
pub const FUZZ_ORIGIN: &str = "fos/fuzz";

/// Splits `data` into the two files of a ledger directory: the first two bytes (little-endian) give
/// the length of `records.log`, the rest is `checkpoints.log`.
pub fn split_files(data: &[u8]) -> (&[u8], &[u8]) {
    let n = match data {
        [a, b, ..] => usize::from(u16::from_le_bytes([*a, *b])),
        _ => 0,
    };
    let rest = data.get(2..).unwrap_or(&[]);
    rest.split_at(n.min(rest.len()))
}

/// Writes `data` as a ledger directory under `scratch` (see [`split_files`]), then:
/// - [`verify_dir`] must return (any report);
/// - [`Ledger::open`] may refuse, but where it opens (recovering a torn tail) the directory must then
///   verify clean, and a further append must leave it verifying clean after a reopen.
pub fn check_dir(data: &[u8], scratch: &Path) -> Result<(), String> {
    let dir = scratch.join("ledger");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("scratch: {e}"))?;
    let (records, checkpoints) = split_files(data);
    std::fs::write(dir.join(RECORDS_FILE), records).map_err(|e| format!("scratch: {e}"))?;
    std::fs::write(dir.join(CHECKPOINTS_FILE), checkpoints).map_err(|e| format!("scratch: {e}"))?;
    let public = fuzz_key().verifying_key();
    let _ = verify_dir(&dir, &public);
    let Ok((mut ledger, _)) = Ledger::open(&dir, fuzz_key(), FUZZ_ORIGIN) else {
        return Ok(());
    };
    let report = verify_dir(&dir, &public);
    if !report.is_ok() {
        return Err(format!("opened, but does not verify: {report}"));
    }
    let n = ledger.len();
    ledger.append(b"{\"fuzz\":true}").map_err(|e| format!("append after open: {e}"))?;
    drop(ledger);
    let (ledger, _) = Ledger::open(&dir, fuzz_key(), FUZZ_ORIGIN).map_err(|e| format!("reopen: {e}"))?;
    if ledger.len() != n + 1 {
        return Err(format!("{} records after appending one to {n}", ledger.len()));
    }
    let report = verify_dir(&dir, &public);
    if !report.is_ok() {
        return Err(format!("after an append: {report}"));
    }
    Ok(())
}

/// Parses `data` as text a third party hands FOS: a signed checkpoint, an inclusion bundle and a
/// verifier key. Parsing may fail; a bundle that verifies must verify again from its own JSON.
pub fn check_text(data: &[u8]) -> Result<(), String> {
    let Ok(text) = std::str::from_utf8(data) else {
        return Ok(());
    };
    let _ = SignedCheckpoint::parse_unverified(text);
    let _ = SignedCheckpoint::verify_text(text, &fuzz_key().verifying_key());
    let _ = crate::checkpoint::parse_verifier_key(text);
    if let Ok(bundle) = InclusionBundle::from_json(text) {
        if let Ok(v) = bundle.verify() {
            let again = InclusionBundle::from_json(&bundle.to_json()).map_err(|e| format!("re-read bundle: {e}"))?;
            let w = again.verify().map_err(|e| format!("a verified bundle fails after a round trip: {e}"))?;
            if w != v {
                return Err("a bundle verifies differently after a round trip".into());
            }
        }
    }
    Ok(())
}
