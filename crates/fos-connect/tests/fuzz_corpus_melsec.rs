#![cfg(feature = "melsec")]
//! Replays the `melsec_frame` fuzz corpus and every saved crash input through the same function
//! as the fuzz target (`fuzz/fuzz_targets/melsec_frame.rs`): none may panic. The corpus is
//! seeded with real replies captured from virtual-plc (3E and 4E: CPU model, word, bit and
//! random reads, a write, error replies) plus replies with error information as real PLCs send.

mod common;

use std::path::PathBuf;

use fos_connect::drivers::melsec::{fuzz_reply, parse_cpu_model, parse_reply, parse_words, FrameKind};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

#[test]
fn corpus_and_regressions_never_panic() {
    let list = common::fuzz_inputs("melsec_frame");
    let seeds = list.len();
    assert!(seeds >= 20, "the seed corpus is missing ({seeds} files)");
    for p in &list {
        let data = std::fs::read(p).unwrap();
        fuzz_reply(&data);
        // Every cut of a seed too.
        for cut in 0..data.len().min(64) {
            fuzz_reply(&data[..cut]);
        }
    }
}

#[test]
fn the_captured_seeds_parse_as_the_peer_meant_them() {
    let dir = root().join("corpus/melsec_frame");
    let read = |name: &str| std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    for frame in ["3e", "4e"] {
        let bytes = read(&format!("{frame}_read_words.bin"));
        let r = parse_reply(&bytes).unwrap();
        assert_eq!(r.header.frame, if frame == "3e" { FrameKind::E3 } else { FrameKind::E4 });
        assert_eq!(r.end_code, 0);
        assert_eq!(parse_words(r.data, 6).unwrap()[..2], [1234, 65531]);
        let bytes = read(&format!("{frame}_cpu_model.bin"));
        let cpu = parse_cpu_model(parse_reply(&bytes).unwrap().data).unwrap();
        assert_eq!(cpu.name, "VirtualPLC-Q");
        let bytes = read(&format!("{frame}_error_out_of_range.bin"));
        assert_eq!(parse_reply(&bytes).unwrap().end_code, 0xC056);
    }
    let bytes = read("4e_error_with_info.bin");
    let r = parse_reply(&bytes).unwrap();
    assert_eq!((r.header.serial, r.error_info().unwrap().command), (0x1234, 0x0403));
}
