#![cfg(feature = "enip")]
//! Replays the `enip_frame` fuzz corpus and every saved crash input through the same function as
//! the fuzz target, so a parser regression fails `cargo test` without a nightly toolchain; and
//! checks that the reply frames captured from cpppo (and the spec-built ones) decode as expected.

mod common;

use std::path::PathBuf;

use fos_connect::drivers::enip::{
    parse_cip_reply, parse_encap_frame, parse_multiple_service_reply, parse_send_rr_data, parse_symbol_list,
    parse_tag_data, AtomicType, TagType,
};

fn fuzz_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

#[test]
fn corpus_and_regressions_replay_without_panics() {
    let files = common::fuzz_inputs("enip_frame");
    let mut frames = 0;
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        fos_connect::drivers::enip::fuzz_parsers(&bytes);
        if parse_encap_frame(&bytes).is_ok() {
            frames += 1;
        }
    }
    eprintln!("replayed {} inputs ({frames} whole encapsulation frames)", files.len());
}

/// The CIP reply inside a captured SendRRData reply frame.
fn cip(name: &str) -> Option<Vec<u8>> {
    let bytes = std::fs::read(fuzz_dir().join("corpus/enip_frame").join(name)).ok()?;
    let (header, data) = parse_encap_frame(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!((header.command, header.status), (0x6F, 0), "{name}");
    Some(parse_send_rr_data(data).unwrap_or_else(|e| panic!("{name}: {e}")).to_vec())
}

#[test]
fn captured_cpppo_replies_decode() {
    let Some(bytes) = cip("cpppo_msp_scalars_and_missing_tag") else {
        return;
    };
    let reply = parse_cip_reply(&bytes).unwrap();
    assert_eq!((reply.service, reply.status), (0x8A, 0));
    let items = parse_multiple_service_reply(reply.data).unwrap();
    let types: Vec<Option<TagType>> =
        items.iter().map(|i| if i.status == 0 { Some(parse_tag_data(i.data).unwrap().0) } else { None }).collect();
    let a = |t| Some(TagType::Atomic(t));
    assert_eq!(
        types,
        [
            a(AtomicType::Dint),
            a(AtomicType::Real),
            None,
            a(AtomicType::Bool),
            a(AtomicType::Lreal),
            a(AtomicType::Lint),
            a(AtomicType::Ulint),
            a(AtomicType::Sint)
        ]
    );
    assert_eq!(items[2].status, 0x05);

    if let Some(bytes) = cip("cpppo_msp_fragmented_partial") {
        let reply = parse_cip_reply(&bytes).unwrap();
        let items = parse_multiple_service_reply(reply.data).unwrap();
        assert_eq!((items[0].service, items[0].status), (0xD2, 0x06), "partial transfer");
        let (t, data) = parse_tag_data(items[0].data).unwrap();
        assert_eq!(t, TagType::Atomic(AtomicType::Dint));
        assert_eq!(data.len() % 4, 0);
    }
    if let Some(bytes) = cip("cpppo_msp_fragmented_past_end") {
        let reply = parse_cip_reply(&bytes).unwrap();
        let items = parse_multiple_service_reply(reply.data).unwrap();
        assert_eq!((items[0].status, items[0].ext_status.as_slice()), (0xFF, &[0x2105u16][..]));
        assert_eq!(items[1].status, 0x05);
    }
}

#[test]
fn spec_built_symbol_list_decodes() {
    let Some(bytes) = cip("spec_symbol_list_partial") else {
        return;
    };
    let reply = parse_cip_reply(&bytes).unwrap();
    assert_eq!((reply.service, reply.status), (0xD5, 0x06));
    let symbols = parse_symbol_list(reply.data).unwrap();
    let names: Vec<&str> = symbols.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["Counter", "Scada", "Program:MainProgram", "Recipe", "__Hidden"]);
    assert_eq!(symbols[1].entry("").address, "Scada[0]");
}
