//! Fuzz target: any bytes through the MELSEC MC reply parsers (3E/4E reply header, end code,
//! error information, word data, bit data, CPU model). Must never panic, whatever the result.
//! The same function replays the corpus in `crates/fos-connect/tests/fuzz_corpus_melsec.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    fos_connect::drivers::melsec::fuzz_reply(data);
});
