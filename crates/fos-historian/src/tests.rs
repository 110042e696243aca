//! Unit tests of the writer (encodings, sort order, partitions) and of queries (bit-exact values,
//! a thousand files, read-only SQL).

use super::*;
use datafusion::arrow::array::{Array, AsArray, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{Float64Type, Int64Type, TimestampNanosecondType};
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use datafusion::parquet::file::reader::{FileReader, SerializedFileReader};

fn pt(time_ns: i64, tag: &str, value: f64) -> Point {
    Point { time_ns, tag: Arc::from(tag), value, quality: quality::GOOD }
}

fn parquet_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for d in fs::read_dir(dir).unwrap() {
        let d = d.unwrap().path();
        for f in fs::read_dir(&d).unwrap() {
            let f = f.unwrap().path();
            if f.extension().is_some_and(|e| e == "parquet") {
                out.push(f);
            }
        }
    }
    out.sort();
    out
}

fn one_i64(h: &Historian, sql: &str) -> i64 {
    let batches = h.query(sql).unwrap();
    let col = cast(batches[0].column(0), &DataType::Int64).unwrap();
    col.as_primitive::<Int64Type>().value(0)
}

#[test]
fn civil_dates() {
    assert_eq!(civil_date(0), "1970-01-01");
    assert_eq!(civil_date(-1), "1969-12-31");
    assert_eq!(civil_date(18_330), "2020-03-09");
    assert_eq!(civil_date(11_016), "2000-02-29");
    assert_eq!(civil_date(-719_468), "0000-03-01");
}

#[test]
fn writer_sets_encodings_compression_partition_and_sort_order() {
    let tmp = tempfile::tempdir().unwrap();
    let mut h = Historian::open(tmp.path()).unwrap();
    let t0 = 1_583_748_873_000_000_000; // 2020-03-09T10:14:33Z
    let mut points = Vec::new();
    for i in (0..1000).rev() {
        for tag in ["b.flow", "a.temp", "c.pressure"] {
            points.push(Point { quality: (i % 3) as u8, ..pt(t0 + i * 1_000_000_000, tag, i as f64 * 0.25) });
        }
    }
    h.write_batch(&points).unwrap();
    assert_eq!(h.buffered(), 3000);
    h.flush().unwrap();
    assert_eq!(h.buffered(), 0);

    let files = parquet_files(h.samples_dir());
    assert_eq!(files.len(), 1);
    assert!(files[0].ends_with("date=2020-03-09/part-0.parquet"), "{}", files[0].display());

    let reader = SerializedFileReader::new(fs::File::open(&files[0]).unwrap()).unwrap();
    let meta = reader.metadata();
    assert_eq!(meta.file_metadata().num_rows(), 3000);
    for rg in meta.row_groups() {
        let sorting = rg.sorting_columns().expect("sorting columns declared");
        assert_eq!(sorting.iter().map(|s| s.column_idx).collect::<Vec<_>>(), [1, 0]);
        for col in rg.columns() {
            assert!(matches!(col.compression(), Compression::ZSTD(_)), "{}: {:?}", col.column_path(), col.compression());
            let enc = col.encodings().collect::<Vec<_>>();
            match col.column_path().string().as_str() {
                "time" => {
                    assert!(enc.contains(&Encoding::DELTA_BINARY_PACKED), "time: {enc:?}");
                    assert!(!enc.contains(&Encoding::RLE_DICTIONARY) && !enc.contains(&Encoding::PLAIN_DICTIONARY));
                }
                "value" => {
                    assert!(enc.contains(&Encoding::BYTE_STREAM_SPLIT), "value: {enc:?}");
                    assert!(!enc.contains(&Encoding::RLE_DICTIONARY) && !enc.contains(&Encoding::PLAIN_DICTIONARY));
                }
                "tag" => assert!(enc.contains(&Encoding::RLE_DICTIONARY), "tag: {enc:?}"),
                "quality" => {}
                other => panic!("unexpected column {other}"),
            }
        }
    }

    // Rows really sorted by (tag, time), and the Arrow schema round-trips.
    let file = fs::File::open(&files[0]).unwrap();
    let mut rows = Vec::new();
    for batch in ParquetRecordBatchReaderBuilder::try_new(file).unwrap().build().unwrap() {
        let batch = batch.unwrap();
        assert_eq!(batch.schema(), schema());
        let tags = cast(batch.column(1), &DataType::Utf8).unwrap();
        let tags = tags.as_any().downcast_ref::<StringArray>().unwrap();
        let times = batch.column(0).as_primitive::<TimestampNanosecondType>();
        for i in 0..batch.num_rows() {
            rows.push((tags.value(i).to_string(), times.value(i)));
        }
    }
    let mut sorted = rows.clone();
    sorted.sort();
    assert_eq!(rows, sorted);
    assert_eq!(rows.first().unwrap(), &("a.temp".to_string(), t0));
}

#[test]
fn values_round_trip_bit_for_bit() {
    let tmp = tempfile::tempdir().unwrap();
    let mut h = Historian::open(tmp.path()).unwrap();
    let bits: Vec<u64> = vec![
        0x7ff8_dead_beef_0001, // quiet NaN with a payload
        0xfff8_0000_0000_0042, // negative quiet NaN with a payload
        0x7ff0_0000_0000_0001, // signalling NaN
        (-0.0f64).to_bits(),
        0.0f64.to_bits(),
        1,                     // smallest subnormal
        0x800f_ffff_ffff_ffff, // largest negative subnormal
        f64::INFINITY.to_bits(),
        f64::NEG_INFINITY.to_bits(),
        f64::MAX.to_bits(),
        f64::MIN_POSITIVE.to_bits(),
        std::f64::consts::PI.to_bits(),
    ];
    let points: Vec<Point> = bits.iter().enumerate().map(|(i, b)| pt(i as i64 * 7, "x", f64::from_bits(*b))).collect();
    h.write_batch(&points).unwrap();
    h.flush().unwrap();
    let batches = h.query("SELECT time, value, quality FROM samples ORDER BY time").unwrap();
    let mut got = Vec::new();
    for b in &batches {
        let v = b.column(1).as_primitive::<Float64Type>();
        got.extend(v.values().iter().map(|x| x.to_bits()));
        assert_eq!(b.column(2).as_primitive::<datafusion::arrow::datatypes::UInt8Type>().value(0), quality::GOOD);
    }
    assert_eq!(got, bits, "{got:x?}");
}

#[test]
fn query_over_a_thousand_files() {
    let tmp = tempfile::tempdir().unwrap();
    let options = HistorianOptions { max_rows_per_file: 3, ..HistorianOptions::default() };
    let mut h = Historian::open_with(tmp.path(), options).unwrap();
    // 10 days x 100 files x 3 rows.
    let mut points = Vec::new();
    for day in 0..10i64 {
        for i in 0..300i64 {
            let tag = if i % 2 == 0 { "even" } else { "odd" };
            points.push(pt(day * NANOS_PER_DAY + i * 1_000_000, tag, (day * 1000 + i) as f64));
        }
    }
    h.write_batch(&points).unwrap();
    h.flush().unwrap();
    assert_eq!(parquet_files(h.samples_dir()).len(), 1000);
    assert_eq!(one_i64(&h, "SELECT count(*) FROM samples"), 3000);
    let expected: i64 = points.iter().map(|p| p.value as i64).sum();
    assert_eq!(one_i64(&h, "SELECT CAST(sum(value) AS BIGINT) FROM samples"), expected);
    assert_eq!(one_i64(&h, "SELECT count(*) FROM samples WHERE tag = 'odd'"), 1500);
    assert_eq!(one_i64(&h, "SELECT count(DISTINCT date_trunc('day', time)) FROM samples"), 10);
}

#[test]
fn reopen_continues_part_numbers_and_empty_store_answers() {
    let tmp = tempfile::tempdir().unwrap();
    {
        let h = Historian::open(tmp.path()).unwrap();
        assert_eq!(one_i64(&h, "SELECT count(*) FROM samples"), 0);
    }
    for round in 0..2 {
        let mut h = Historian::open(tmp.path()).unwrap();
        h.write_batch(&[pt(round, "t", 1.0)]).unwrap();
        h.flush().unwrap();
        h.write_batch(&[pt(round, "lost", 1.0)]).unwrap();
        // Dropped without flush: the buffer is discarded.
    }
    let h = Historian::open(tmp.path()).unwrap();
    let files = parquet_files(h.samples_dir());
    assert!(files[0].ends_with("date=1970-01-01/part-0.parquet"));
    assert!(files[1].ends_with("date=1970-01-01/part-1.parquet"));
    assert_eq!(one_i64(&h, "SELECT count(*) FROM samples"), 2);
}

#[test]
fn queries_are_read_only_and_errors_are_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let mut h = Historian::open(tmp.path()).unwrap();
    assert!(matches!(h.write_batch(&[pt(0, "", 1.0)]), Err(Error::EmptyTag)));
    h.write_batch(&[pt(0, "t", 1.0)]).unwrap();
    h.flush().unwrap();
    let out = tmp.path().join("copy.csv");
    for sql in [
        "CREATE TABLE x AS SELECT * FROM samples".to_string(),
        format!("COPY (SELECT * FROM samples) TO '{}'", out.display()),
        "INSERT INTO samples SELECT * FROM samples".to_string(),
        "SELEC 1".to_string(),
        "SELECT nope FROM samples".to_string(),
    ] {
        assert!(matches!(h.query(&sql), Err(Error::Query(_))), "{sql} should fail");
    }
    assert!(!out.exists());
    let (schema, batches) = h.query_with_schema("SELECT tag FROM samples WHERE value > 5").unwrap();
    assert_eq!(schema.fields().len(), 1);
    assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 0);
}
