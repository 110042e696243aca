#![cfg(feature = "s7")]
//! Replays the `s7_frame` fuzz corpus and every saved crash input through the same function as
//! the fuzz target, so a parser regression fails `cargo test` without a nightly toolchain.

mod common;

use std::path::PathBuf;

#[test]
fn corpus_and_regressions_replay_without_panics() {
    let files = common::fuzz_inputs("s7_frame");
    let mut parsed = 0;
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        fos_connect::drivers::s7::fuzz_parsers(&bytes);
        if fos_connect::drivers::s7::parse_tpkt_frame(&bytes).is_ok() {
            parsed += 1;
        }
    }
    eprintln!("replayed {} inputs ({parsed} valid TPKT frames)", files.len());
}

#[test]
fn captured_peer_replies_parse() {
    use fos_connect::drivers::s7::{parse_s7_reply, parse_tpkt_frame, Cotp, ReplyBody};
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/s7_frame");
    // Frames captured from the Snap7 (10102) and python-snap7 (10103) servers.
    for name in ["10102_read_multi.bin", "10103_read_multi.bin"] {
        let Ok(bytes) = std::fs::read(dir.join(name)) else {
            continue;
        };
        let Ok(Cotp::Data { eot: true, payload }) = parse_tpkt_frame(&bytes) else { panic!("{name}: not a DT frame") };
        let reply = parse_s7_reply(payload).unwrap_or_else(|e| panic!("{name}: {e}"));
        let ReplyBody::ReadVar(items) = reply.body else { panic!("{name}: {:?}", reply.body) };
        let codes: Vec<u8> = items.iter().map(|i| i.return_code).collect();
        assert_eq!(codes, [0xFF, 0xFF, 0xFF, 0x0A, 0x05, 0xFF, 0x05], "{name}");
        assert_eq!(items[0].data, [0x04, 0xD2], "{name}: DB1.DBW0 = 1234");
        assert_eq!(items[1].data, 3.5f32.to_be_bytes(), "{name}: DB1.DBD2 = 3.5");
        assert_eq!(items[2].data.len(), 3, "{name}: odd item");
        assert_eq!(items[5].data.len(), 1, "{name}: MB0");
    }
}
