//! Fuzz target: manifest text (and, after a NUL byte, bearing table text) through
//! `Manifest::parse_str`, then the leakage check. Must never panic.
#![no_main]

use fos_io::Manifest;
use libfuzzer_sys::fuzz_target;
use std::path::Path;

const BEARINGS: &str = "id,elements,element_diameter,pitch_diameter,contact_angle_deg,unit\n6205,9,0.3126,1.537,0,in\n";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (manifest, bearings) = text.split_once('\0').unwrap_or((text, BEARINGS));
    if let Ok(m) = Manifest::parse_str(manifest, bearings, Path::new("/fuzz/manifest.csv")) {
        let _ = m.check_self();
        for r in &m.rows {
            let _ = r.key();
        }
    }
});
