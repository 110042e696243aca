#![no_main]
//! Fuzz the EtherNet/IP + CIP reply parsers: the encapsulation header and frame, the Common
//! Packet Format and SendRRData reply, Message Router replies, Multiple Service Packet replies,
//! Read Tag data and Get Instance Attribute List (0x55) symbol lists
//! (see `fos_connect::drivers::enip::fuzz_parsers`).
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    fos_connect::drivers::enip::fuzz_parsers(data);
});
