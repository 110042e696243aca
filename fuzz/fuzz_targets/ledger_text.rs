//! Fuzz target: any bytes as a signed checkpoint, an inclusion bundle and a verifier key (see
//! `fos_ledger::fuzz::check_text`). Must never panic; a verified bundle verifies again after a
//! JSON round trip.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = fos_ledger::fuzz::check_text(data) {
        panic!("{e}");
    }
});
