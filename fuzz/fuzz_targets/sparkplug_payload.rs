//! Fuzz target: any bytes as a Sparkplug B payload, through `decode_payload` and then through a
//! `HostState` as every message type in turn (births built from the input resolve the data
//! messages made of the same input), rendering JSON and samples. Must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    fos_connect::drivers::mqtt::sparkplug::fuzz_decode(data);
});
