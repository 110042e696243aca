//! Unit tests of the waveform store: hash canonical form, bit-exact round trip, tamper detection
//! and the `waveforms` SQL table.

use super::*;
use crate::Historian;
use datafusion::arrow::datatypes::UInt64Type;
use datafusion::parquet::file::reader::{FileReader, SerializedFileReader};

fn block(channel: &str, start_ns: i64, n: usize) -> WaveformBlock {
    let samples = (0..n).map(|i| (i as f64 * 0.37).sin() * 1e-3 + i as f64).collect();
    WaveformBlock { channel: channel.into(), start_ns, rate_hz: 12_000.0, samples }
}

#[test]
fn hash_is_sha256_of_the_documented_encoding_and_sees_every_bit() {
    let b = WaveformBlock { channel: "m1.de".into(), start_ns: -5, rate_hz: 48_000.0, samples: vec![1.5, -0.0] };
    let mut bytes = b"fos-waveform-v1\0".to_vec();
    bytes.extend(5u64.to_le_bytes());
    bytes.extend(b"m1.de");
    bytes.extend((-5i64).to_le_bytes());
    bytes.extend(48_000f64.to_bits().to_le_bytes());
    bytes.extend(2u64.to_le_bytes());
    bytes.extend(1.5f64.to_bits().to_le_bytes());
    bytes.extend((-0.0f64).to_bits().to_le_bytes());
    let expected: String = Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(b.content_hash(), expected);
    assert_eq!(expected.len(), 64);
    let mut zero = b.clone();
    zero.samples[1] = 0.0;
    assert_ne!(zero.content_hash(), b.content_hash(), "-0.0 and 0.0 differ");
    let mut later = b.clone();
    later.start_ns += 1;
    assert_ne!(later.content_hash(), b.content_hash());
    // The channel's length is encoded: moving a byte between channel and samples changes the hash.
    let a = WaveformBlock { channel: "ab".into(), ..b.clone() };
    let c = WaveformBlock { channel: "a".into(), ..b.clone() };
    assert_ne!(a.content_hash(), c.content_hash());
}

#[test]
fn blocks_round_trip_bit_for_bit_and_hash_is_stable() {
    let tmp = tempfile::tempdir().unwrap();
    let mut store = WaveformStore::open(tmp.path()).unwrap();
    let day = 86_400 * 1_000_000_000i64;
    let mut special = block("m2.fan", 3 * day + 17, 5);
    special.samples =
        vec![f64::NAN, f64::from_bits(0x7ff8_dead_beef_0001), -0.0, f64::INFINITY, f64::MIN_POSITIVE / 2.0];
    let blocks =
        vec![block("m1.de", 3 * day, 12_000), block("m1.fe", 3 * day, 12_000), special, block("m1.de", 4 * day, 7)];
    let hashes = store.append(&blocks).unwrap();
    assert_eq!(hashes, blocks.iter().map(WaveformBlock::content_hash).collect::<Vec<_>>());
    assert_eq!(store.get(&hashes[0]).unwrap(), None, "not visible before flush");
    store.flush().unwrap();
    assert_eq!(store.buffered(), 0);
    for (b, h) in blocks.iter().zip(&hashes) {
        let got = store.get(h).unwrap().expect("stored block");
        assert_eq!(got.channel, b.channel);
        assert_eq!(got.start_ns, b.start_ns);
        assert_eq!(got.rate_hz.to_bits(), b.rate_hz.to_bits());
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&got.samples), bits(&b.samples));
        assert_eq!(&got.content_hash(), h);
    }
    // A second store over the same folder sees them; a new flush goes to the next part.
    let mut again = WaveformStore::open(tmp.path()).unwrap();
    assert!(again.get(&hashes[2]).unwrap().is_some());
    again.append(&[block("m1.de", 3 * day + 1, 3)]).unwrap();
    again.flush().unwrap();
    let day3 = store.dir().join("date=1970-01-04");
    assert!(day3.join("part-0.parquet").is_file() && day3.join("part-1.parquet").is_file());
    assert!(store.dir().join("date=1970-01-05/part-0.parquet").is_file());
    assert_eq!(store.get(&"0".repeat(64)).unwrap(), None);

    // The samples leaf column is BYTE_STREAM_SPLIT.
    let reader = SerializedFileReader::new(fs::File::open(day3.join("part-0.parquet")).unwrap()).unwrap();
    let rg = reader.metadata().row_group(0);
    let leaf = (0..rg.num_columns()).find(|&i| rg.column(i).column_path().string() == "samples.list.item").unwrap();
    let encodings: Vec<Encoding> = rg.column(leaf).encodings().collect();
    assert!(encodings.contains(&Encoding::BYTE_STREAM_SPLIT), "{encodings:?}");
}

#[test]
fn bad_blocks_are_refused_and_nothing_is_buffered() {
    let tmp = tempfile::tempdir().unwrap();
    let mut store = WaveformStore::open(tmp.path()).unwrap();
    for bad in [
        WaveformBlock { channel: String::new(), ..block("x", 0, 3) },
        WaveformBlock { rate_hz: 0.0, ..block("x", 0, 3) },
        WaveformBlock { rate_hz: f64::NAN, ..block("x", 0, 3) },
    ] {
        let err = store.append(&[block("ok", 0, 3), bad]).unwrap_err();
        assert!(matches!(err, Error::Invalid(_)), "{err}");
    }
    assert_eq!(store.buffered(), 0);
}

#[test]
fn an_altered_stored_block_is_detected() {
    let tmp = tempfile::tempdir().unwrap();
    let mut store = WaveformStore::open(tmp.path()).unwrap();
    let b = block("m1.de", 0, 1000);
    let hash = store.append(std::slice::from_ref(&b)).unwrap().remove(0);
    store.flush().unwrap();
    let file = store.dir().join("date=1970-01-01/part-0.parquet");

    // Rewrite the file with one sample changed and the old hash kept (a forged edit).
    let mut forged = b.clone();
    forged.samples[500] += 1e-12;
    let tmp_dir = store.dir().join("date=1970-01-01");
    fs::remove_file(&file).unwrap();
    write_blocks(&tmp_dir, &[(forged, hash.clone())], &writer_properties(&AtRest::plain()).unwrap()).unwrap();
    let err = store.get(&hash).unwrap_err();
    assert!(matches!(err, Error::Corrupt { .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("part-0.parquet") && msg.contains(&hash) && msg.contains("altered"), "{msg}");

    // Damaged bytes in the middle of the file: an error, never the wrong block.
    let mut bytes = fs::read(&file).unwrap();
    let mid = bytes.len() / 2;
    for x in &mut bytes[mid..mid + 64] {
        *x ^= 0x5a;
    }
    fs::write(&file, bytes).unwrap();
    assert!(store.get(&hash).is_err());
}

#[test]
fn waveforms_table_answers_sql() {
    let tmp = tempfile::tempdir().unwrap();
    let h = Historian::open(tmp.path()).unwrap();
    let err = h.query("SELECT count(*) FROM waveforms").unwrap_err();
    assert!(err.to_string().contains("waveforms"), "no table before the folder exists: {err}");
    let mut store = WaveformStore::open(tmp.path()).unwrap();
    let blocks = [block("m1.de", 1_000, 300), block("m1.fe", 2_000, 200), block("m1.de", 90_000_000_000_000, 100)];
    let hashes = store.append(&blocks).unwrap();
    store.flush().unwrap();
    let batches = h
        .query(
            "SELECT CAST(channel AS VARCHAR) AS c, count(*) AS n, CAST(sum(sample_count) AS BIGINT) AS s, \
             max(rate_hz) AS r FROM waveforms GROUP BY channel ORDER BY c",
        )
        .unwrap();
    let b = &batches[0];
    let c = cast(b.column(0), &DataType::Utf8).unwrap();
    let c = c.as_string::<i32>();
    assert_eq!((c.value(0), c.value(1)), ("m1.de", "m1.fe"));
    let s = b.column(2).as_primitive::<datafusion::arrow::datatypes::Int64Type>();
    assert_eq!((s.value(0), s.value(1)), (400, 200));
    let batches =
        h.query(&format!("SELECT sample_count, samples FROM waveforms WHERE hash = '{}'", hashes[1])).unwrap();
    assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 1);
    assert_eq!(batches[0].column(0).as_primitive::<UInt64Type>().value(0), 200);
    let list = batches[0].column(1).as_list::<i32>().value(0);
    assert_eq!(list.as_primitive::<Float64Type>().values().to_vec(), blocks[1].samples);
}
