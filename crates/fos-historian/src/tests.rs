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
            assert!(
                matches!(col.compression(), Compression::ZSTD(_)),
                "{}: {:?}",
                col.column_path(),
                col.compression()
            );
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

#[test]
fn commits_record_positions_and_survive_reopen() {
    let tmp = tempfile::tempdir().unwrap();
    let t0 = 1_583_748_873_000_000_000;
    {
        let mut h = Historian::open(tmp.path()).unwrap();
        assert_eq!(h.position("wal"), None);
        h.write_batch(&[pt(t0, "a", 1.0), pt(t0 + NANOS_PER_DAY, "a", 2.0)]).unwrap();
        let id = h.commit(&[("wal", 7)]).unwrap();
        assert_eq!(id, 1);
        assert_eq!(h.position("wal"), Some(7));
        // Positions only grow, and a commit naming nothing new is not written.
        assert_eq!(h.commit(&[("wal", 5)]).unwrap(), 1);
        h.write_batch(&[pt(t0 + 1, "a", 3.0)]).unwrap();
        assert_eq!(h.commit(&[("wal", 5), ("site:x", 2)]).unwrap(), 2);
        assert_eq!(h.position("wal"), Some(7));
    }
    let h = Historian::open(tmp.path()).unwrap();
    assert_eq!(h.position("wal"), Some(7));
    assert_eq!(h.position("site:x"), Some(2));
    assert_eq!(one_i64(&h, "SELECT count(*) FROM samples"), 3);
    assert_eq!(h.recovery(), &CommitRecovery::default());
}

#[test]
fn uncommitted_files_are_invisible_and_discarded_on_open() {
    let tmp = tempfile::tempdir().unwrap();
    let t0 = 1_583_748_873_000_000_000;
    let opts = HistorianOptions { max_rows_per_file: 2, ..HistorianOptions::default() };
    {
        let mut h = Historian::open_with(tmp.path(), opts.clone()).unwrap();
        h.write_batch(&[pt(t0, "a", 1.0)]).unwrap();
        h.commit(&[("wal", 1)]).unwrap();
        // Four points: two full buffers spill to `.pending` files without a commit.
        h.write_batch(&[pt(t0 + 1, "a", 2.0), pt(t0 + 2, "a", 3.0), pt(t0 + 3, "a", 4.0), pt(t0 + 4, "a", 5.0)])
            .unwrap();
        assert_eq!(one_i64(&h, "SELECT count(*) FROM samples"), 1, "pending files are not visible");
        // The process dies here: no commit.
    }
    let h = Historian::open_with(tmp.path(), opts).unwrap();
    assert_eq!(h.recovery().discarded.len(), 2, "{:?}", h.recovery());
    assert_eq!(h.position("wal"), Some(1));
    assert_eq!(one_i64(&h, "SELECT count(*) FROM samples"), 1);
}

#[test]
fn a_torn_commit_record_is_cut_and_its_files_discarded() {
    let tmp = tempfile::tempdir().unwrap();
    let t0 = 1_583_748_873_000_000_000;
    {
        let mut h = Historian::open(tmp.path()).unwrap();
        h.write_batch(&[pt(t0, "a", 1.0)]).unwrap();
        h.commit(&[("wal", 1)]).unwrap();
        h.write_batch(&[pt(t0 + 1, "a", 2.0)]).unwrap();
        h.commit(&[("wal", 2)]).unwrap();
    }
    // Simulate a crash inside the second commit: its record torn mid-line, its file still pending.
    let log = tmp.path().join("historian/commits.log");
    let text = fs::read_to_string(&log).unwrap();
    let first_len = text.find('\n').unwrap() + 1;
    fs::write(&log, &text[..first_len + 10]).unwrap();
    let second = parquet_files(&tmp.path().join("historian/samples")).pop().unwrap();
    fs::rename(&second, commit::pending_name(&second)).unwrap();

    let h = Historian::open(tmp.path()).unwrap();
    assert_eq!(h.recovery().torn_bytes, 10);
    assert_eq!(h.recovery().discarded.len(), 1);
    assert_eq!(h.position("wal"), Some(1));
    assert_eq!(one_i64(&h, "SELECT count(*) FROM samples"), 1);
}

#[test]
fn the_last_commits_renames_are_redone() {
    let tmp = tempfile::tempdir().unwrap();
    {
        let mut h = Historian::open(tmp.path()).unwrap();
        h.write_batch(&[pt(0, "a", 1.0), pt(NANOS_PER_DAY, "a", 2.0)]).unwrap();
        h.commit(&[("wal", 3)]).unwrap();
    }
    // A crash after the record was written but before the renames.
    for f in parquet_files(&tmp.path().join("historian/samples")) {
        fs::rename(&f, commit::pending_name(&f)).unwrap();
    }
    let h = Historian::open(tmp.path()).unwrap();
    assert_eq!(h.recovery().redone, 2);
    assert_eq!(one_i64(&h, "SELECT count(*) FROM samples"), 2);
}

#[test]
fn a_damaged_record_before_others_is_an_error_naming_the_line() {
    let tmp = tempfile::tempdir().unwrap();
    {
        let mut h = Historian::open(tmp.path()).unwrap();
        for i in 0..3 {
            h.write_batch(&[pt(i, "a", 1.0)]).unwrap();
            h.commit(&[("wal", i as u64 + 1)]).unwrap();
        }
    }
    let log = tmp.path().join("historian/commits.log");
    let text = fs::read_to_string(&log).unwrap().replacen("\"id\":2", "\"id\":x", 1);
    fs::write(&log, text).unwrap();
    let e = Historian::open(tmp.path()).unwrap_err().to_string();
    assert!(e.contains("commits.log") && e.contains("line 2"), "{e}");
}

#[test]
fn a_second_opener_is_read_only_and_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let opts = HistorianOptions { max_rows_per_file: 1, ..HistorianOptions::default() };
    let mut writer = Historian::open_with(tmp.path(), opts).unwrap();
    assert!(writer.is_writer());
    writer.write_batch(&[pt(0, "a", 1.0)]).unwrap();
    writer.commit(&[("wal", 1)]).unwrap();
    // A spilled, uncommitted file of the running writer.
    writer.write_batch(&[pt(1, "a", 2.0)]).unwrap();
    let reader = Historian::open(tmp.path()).unwrap();
    assert!(!reader.is_writer());
    assert_eq!(reader.position("wal"), Some(1));
    assert!(reader.recovery().discarded.is_empty(), "a reader must not touch the writer's pending files");
    assert_eq!(one_i64(&reader, "SELECT count(*) FROM samples"), 1);
    let mut reader = reader;
    let e = reader.write_batch(&[pt(2, "a", 3.0)]).unwrap_err();
    assert!(matches!(e, Error::ReadOnly { .. }), "{e}");
    // The writer's commit still succeeds: its pending file was left alone.
    writer.commit(&[("wal", 2)]).unwrap();
    assert_eq!(one_i64(&reader, "SELECT count(*) FROM samples"), 2);
}

#[test]
fn the_mirror_copies_committed_files_once_and_answers_sql() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, store) = (tmp.path().join("data"), tmp.path().join("store"));
    let url = format!("file://{}", store.display());
    let mut h = Historian::open(&data).unwrap();
    h.write_batch(&[pt(0, "a", 1.5), pt(NANOS_PER_DAY, "b", -2.0)]).unwrap();
    h.commit(&[("wal", 1)]).unwrap();
    // A spilled but uncommitted file must not be copied.
    let mut small = Historian::open_with(
        tmp.path().join("other"),
        HistorianOptions { max_rows_per_file: 1, ..HistorianOptions::default() },
    )
    .unwrap();
    small.write_batch(&[pt(0, "x", 1.0)]).unwrap();
    let mut m = mirror::Mirror::open(&url).unwrap();
    assert_eq!(m.sync(&data).unwrap().files, 2);
    assert_eq!(m.sync(&data).unwrap().files, 0, "already copied");
    assert_eq!(
        mirror::Mirror::open(&url).unwrap().sync(&data).unwrap().files,
        0,
        "a reopened mirror lists what it holds"
    );
    assert_eq!(
        mirror::Mirror::open(&url).unwrap().sync(&tmp.path().join("other")).unwrap().files,
        0,
        "pending files stay local"
    );
    let (_, b) = mirror::query_store(&url, "SELECT sum(value) FROM samples", &AtRest::plain()).unwrap();
    assert_eq!(b[0].column(0).as_primitive::<Float64Type>().value(0), -0.5);
    let e = mirror::Mirror::open("ftp://x/y").unwrap_err().to_string();
    assert!(e.contains("ftp") && e.contains("not supported"), "{e}");
}

#[test]
fn columns_store_what_points_store_across_days_and_file_spills() {
    // Two days, interleaved tags, out-of-order times within a tag, and files spilled every 7 rows.
    let names: Vec<Arc<str>> = vec!["z.t".into(), "a.t".into(), "m.t".into()];
    let mut cols = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut points = Vec::new();
    for i in 0..60i64 {
        let tag = (i * 7 % 3) as u32;
        let time = (i % 2) * NANOS_PER_DAY + (60 - i) * 1_000;
        let value = (i as f64).powf(1.37) * if i % 3 == 0 { -1.0 } else { 1.0 };
        cols.0.push(tag);
        cols.1.push(time);
        cols.2.push(value);
        cols.3.push((i % 3) as u8);
        points.push(Point { time_ns: time, tag: names[tag as usize].clone(), value, quality: (i % 3) as u8 });
    }
    let options = HistorianOptions { max_rows_per_file: 7, ..HistorianOptions::default() };
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut by_columns = Historian::open_with(a.path(), options.clone()).unwrap();
    by_columns.write_columns(&names, &cols.0, &cols.1, &cols.2, &cols.3).unwrap();
    by_columns.flush().unwrap();
    let mut by_points = Historian::open_with(b.path(), options).unwrap();
    by_points.write_owned(points).unwrap();
    by_points.flush().unwrap();
    let sql = "SELECT tag, time, value, quality FROM samples ORDER BY tag, time, value";
    let (x, y) = (by_columns.query(sql).unwrap(), by_points.query(sql).unwrap());
    let x = datafusion::arrow::compute::concat_batches(&x[0].schema(), &x).unwrap();
    let y = datafusion::arrow::compute::concat_batches(&y[0].schema(), &y).unwrap();
    assert_eq!(x.num_rows(), 60);
    assert_eq!(x, y);
    assert!(parquet_files(by_columns.samples_dir()).len() >= 60 / 7, "files spilled at 7 rows");

    // Bad columns are refused whole, naming the problem.
    let e = by_columns.write_columns(&names, &[0, 3], &[1, 2], &[0.0, 0.0], &[0, 0]).unwrap_err().to_string();
    assert!(e.contains("point 1") && e.contains("tag index 3"), "{e}");
    let e = by_columns.write_columns(&names, &[0], &[1, 2], &[0.0], &[0]).unwrap_err().to_string();
    assert!(e.contains("unequal length"), "{e}");
    assert!(matches!(by_columns.write_columns(&["".into()], &[0], &[1], &[0.0], &[0]), Err(Error::EmptyTag)));
    assert_eq!(by_columns.buffered(), 0);
}

#[test]
fn rows_are_sorted_by_tag_then_time_whatever_their_arcs() {
    // Equal names in different Arcs rank together; order inside a tag is by time.
    let rows = vec![pt(5, "b", 1.0), pt(3, "a", 2.0), pt(1, "b", 3.0), pt(2, "a", 4.0), pt(4, "a", 5.0)];
    let batch = to_batch(&rows).unwrap();
    let tags = batch.column(1).as_dictionary::<datafusion::arrow::datatypes::Int32Type>();
    let names = tags.values().as_string::<i32>();
    let times = batch.column(0).as_primitive::<datafusion::arrow::datatypes::TimestampNanosecondType>();
    let got: Vec<(&str, i64)> =
        (0..batch.num_rows()).map(|i| (names.value(tags.keys().value(i) as usize), times.value(i))).collect();
    assert_eq!(got, [("a", 2), ("a", 3), ("a", 4), ("b", 1), ("b", 5)]);
}

mod encrypted {
    use super::*;
    use crate::waveform::{WaveformBlock, WaveformStore};

    fn key(byte: u8) -> fos_keys::Key {
        fos_keys::Key::from_bytes([byte; 32])
    }

    fn opts(at_rest: AtRest) -> HistorianOptions {
        HistorianOptions { at_rest, ..HistorianOptions::default() }
    }

    fn all_bytes(dir: &Path) -> Vec<u8> {
        let mut out = Vec::new();
        for f in parquet_files(dir) {
            out.extend(fs::read(f).unwrap());
        }
        out
    }

    #[test]
    fn files_are_encrypted_and_sql_reads_them_with_the_key() {
        let tmp = tempfile::tempdir().unwrap();
        let at_rest = AtRest::encrypted(&key(7));
        let mut h = Historian::open_with(tmp.path(), opts(at_rest.clone())).unwrap();
        let tag = "plant.secret_pressure_tag";
        let points: Vec<Point> = (0..2000).map(|i| pt(i * 1_000_000_000, tag, i as f64 * 0.5)).collect();
        h.write_batch(&points).unwrap();
        h.flush().unwrap();
        assert_eq!(one_i64(&h, "SELECT count(*) FROM samples"), 2000);
        let sum = h.query("SELECT sum(value) FROM samples").unwrap();
        assert_eq!(
            sum[0].column(0).as_primitive::<Float64Type>().value(0),
            (0..2000).map(|i| i as f64 * 0.5).sum::<f64>()
        );

        // The bytes on disk hold neither the tag name nor the Parquet plaintext footer magic.
        let bytes = all_bytes(h.samples_dir());
        assert!(!bytes.is_empty());
        assert!(!bytes.windows(tag.len()).any(|w| w == tag.as_bytes()), "tag name in the clear");
        assert_eq!(&bytes[bytes.len() - 4..], b"PARE", "encrypted-footer magic");
        drop(h);

        // The plain Parquet reader cannot read it.
        let file = parquet_files(&tmp.path().join("historian/samples"))[0].clone();
        assert!(ParquetRecordBatchReaderBuilder::try_new(fs::File::open(&file).unwrap()).is_err());

        // No key, or the wrong key: refused at open, naming the folder.
        let e = Historian::open(tmp.path()).unwrap_err().to_string();
        assert!(e.contains("encrypted data and no key"), "{e}");
        let e = Historian::open_with(tmp.path(), opts(AtRest::encrypted(&key(8)))).unwrap_err().to_string();
        assert!(e.contains("not the key") && e.contains("historian"), "{e}");
        // The right key reopens it.
        let h = Historian::open_with(tmp.path(), opts(at_rest)).unwrap();
        assert_eq!(one_i64(&h, "SELECT count(*) FROM samples WHERE value >= 500"), 1000);
    }

    #[test]
    fn a_key_for_a_folder_with_plaintext_data_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let mut h = Historian::open(tmp.path()).unwrap();
        h.write_batch(&[pt(0, "a", 1.0)]).unwrap();
        h.flush().unwrap();
        drop(h);
        let e = Historian::open_with(tmp.path(), opts(AtRest::encrypted(&key(1)))).unwrap_err().to_string();
        assert!(e.contains("unencrypted data"), "{e}");
        // Debug never shows the key.
        assert_eq!(format!("{:?}", AtRest::encrypted(&key(1))), "AtRest::Encrypted(<redacted>)");
    }

    #[test]
    fn a_changed_byte_fails_authentication() {
        let tmp = tempfile::tempdir().unwrap();
        let at_rest = AtRest::encrypted(&key(3));
        let mut h = Historian::open_with(tmp.path(), opts(at_rest.clone())).unwrap();
        h.write_batch(&(0..500).map(|i| pt(i, "t", i as f64)).collect::<Vec<_>>()).unwrap();
        h.flush().unwrap();
        let file = parquet_files(h.samples_dir())[0].clone();
        let mut bytes = fs::read(&file).unwrap();
        bytes[40] ^= 0x01; // inside the first column chunk (`time`), after the "PARE" header
        fs::write(&file, bytes).unwrap();
        let all = "SELECT sum(value), min(time), count(DISTINCT tag), max(quality) FROM samples";
        assert!(h.query(all).is_err(), "a tampered encrypted page must not decode");
    }

    #[test]
    fn waveforms_retention_and_the_mirror_work_encrypted() {
        let tmp = tempfile::tempdir().unwrap();
        let at_rest = AtRest::encrypted(&key(9));
        let mut waves = WaveformStore::open_with(tmp.path(), &at_rest).unwrap();
        let block =
            WaveformBlock { channel: "m1.de".into(), start_ns: 0, rate_hz: 25_600.0, samples: vec![0.5, -1.25, 3.0] };
        let hash = waves.append(std::slice::from_ref(&block)).unwrap().remove(0);
        waves.flush().unwrap();
        assert_eq!(waves.get(&hash).unwrap(), Some(block));
        assert!(WaveformStore::open(tmp.path()).is_err(), "the waveform store checks the key too");

        let mut h = Historian::open_with(tmp.path(), opts(at_rest.clone())).unwrap();
        let day = NANOS_PER_DAY;
        h.write_batch(&(0..120).map(|i| pt(i * 1_000_000_000, "t", i as f64)).collect::<Vec<_>>()).unwrap();
        h.write_batch(&[pt(30 * day, "t", 1.0)]).unwrap();
        h.commit(&[("wal", 1)]).unwrap();
        let policy = RetentionPolicy {
            keep_raw_days: 7,
            keep_downsampled_days: 365,
            downsample_interval: std::time::Duration::from_secs(60),
        };
        let report = apply_retention(tmp.path(), &policy, 30 * day, &at_rest).unwrap();
        assert_eq!(report.downsampled, ["1970-01-01"]);
        assert_eq!(one_i64(&h, "SELECT count(*) FROM samples"), 3, "two 60 s buckets and the recent point");
        assert_eq!(one_i64(&h, "SELECT count(*) FROM samples_rollup"), 2);
        assert_eq!(one_i64(&h, "SELECT count(*) FROM waveforms"), 1);

        let store = tmp.path().join("mirror");
        let url = format!("file://{}", store.display());
        mirror::Mirror::open(&url).unwrap().sync(tmp.path()).unwrap();
        let (_, b) = mirror::query_store(&url, "SELECT count(*) FROM samples", &at_rest).unwrap();
        assert_eq!(cast(b[0].column(0), &DataType::Int64).unwrap().as_primitive::<Int64Type>().value(0), 3);
        assert!(mirror::query_store(&url, "SELECT count(*) FROM samples", &AtRest::plain()).is_err());
    }
}
