//! Fuzz target: any bytes as the two files of a ledger directory, through `verify_dir` and
//! `Ledger::open` (see `fos_ledger::fuzz::check_dir`). Must never panic; a ledger that opens must
//! verify clean, before and after one more append.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // /dev/shm keeps the many small files of a fuzzing run off the disk.
    let scratch = tempfile::Builder::new().prefix("fos-ledger-fuzz").tempdir_in("/dev/shm").unwrap();
    if let Err(e) = fos_ledger::fuzz::check_dir(data, scratch.path()) {
        panic!("{e}");
    }
});
