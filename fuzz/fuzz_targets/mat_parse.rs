//! Fuzz target: any bytes through `MatFile::parse`, then `get` of every variable and of a few
//! dotted paths. Must never panic, whatever the result.
#![no_main]

use fos_io::MatFile;
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = MatFile::parse(data, Path::new("fuzz.mat")) {
        for name in m.names() {
            let _ = m.get(&name);
            let _ = m.get(&format!("{name}.accel"));
        }
        let _ = m.get("rec.meta.gain");
    }
});
