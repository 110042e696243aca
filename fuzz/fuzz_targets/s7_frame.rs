#![no_main]
//! Fuzz the S7comm reply parsers: TPKT + COTP framing, the S7 ack-data header, Setup
//! Communication, Read Var and Write Var replies (see `fos_connect::drivers::s7::fuzz_parsers`).
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    fos_connect::drivers::s7::fuzz_parsers(data);
});
