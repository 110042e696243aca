//! Fuzz target: text through the G-code parser, writer and toolpath transform (see
//! `fos_act::gcode::fuzz_check`). Must never panic; a broken writer round trip is a finding.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = fos_act::gcode::fuzz_check(data) {
        panic!("{e}");
    }
});
