//! CSV and WAV readers, format dispatch and streaming.

use fos_io::{open_stream, read_csv_column, read_signal, read_wav_channel, Error};
use std::path::{Path, PathBuf};

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn wav(dir: &Path, name: &str, spec: hound::WavSpec, frames: &[Vec<f64>]) -> PathBuf {
    let p = dir.join(name);
    let mut w = hound::WavWriter::create(&p, spec).unwrap();
    for f in frames {
        for &v in f {
            match spec.sample_format {
                hound::SampleFormat::Float => w.write_sample(v as f32).unwrap(),
                hound::SampleFormat::Int => w.write_sample(v as i32).unwrap(),
            }
        }
    }
    w.finalize().unwrap();
    p
}

fn stream_all(path: &Path, signal: &str, chunk: usize) -> fos_io::Result<Vec<f64>> {
    let mut s = open_stream(path, signal)?;
    let mut out = Vec::new();
    let mut buf = vec![0.0; chunk];
    loop {
        let n = s.read(&mut buf)?;
        if n == 0 {
            return Ok(out);
        }
        out.extend_from_slice(&buf[..n]);
    }
}

#[test]
fn csv_column_reads_and_errors_name_line_and_column() {
    let d = tempfile::tempdir().unwrap();
    let p = write(
        d.path(),
        "a.csv",
        "t, accel ,x\n0, 1.5,a\n1,-2e-3,b\n2, 3 ,c\n",
    );
    assert_eq!(
        read_csv_column(&p, "accel").unwrap(),
        vec![1.5, -0.002, 3.0]
    );
    assert_eq!(read_csv_column(&p, "t").unwrap(), vec![0.0, 1.0, 2.0]);

    let e = read_csv_column(&p, "speed").unwrap_err().to_string();
    assert!(
        e.contains("a.csv") && e.contains("`speed`") && e.contains("`t`, `accel`, `x`"),
        "{e}"
    );
    let e = read_csv_column(&p, "x").unwrap_err().to_string();
    assert!(
        e.contains("line 2, column `x`") && e.contains("`a` is not a number"),
        "{e}"
    );

    let p = write(d.path(), "b.csv", "v\n1\n\n2\n\"\"\n");
    let e = read_csv_column(&p, "v").unwrap_err().to_string();
    assert!(
        e.contains("b.csv") && e.contains("line 5") && e.contains("empty"),
        "{e}"
    );

    let p = write(d.path(), "c.csv", "v,w\n1,2\n3\n");
    let e = read_csv_column(&p, "v").unwrap_err().to_string();
    assert!(
        e.contains("c.csv") && e.contains("line 3") && e.contains("fields"),
        "{e}"
    );

    let p = write(d.path(), "n.csv", "v\n1\n2\nNaN\n");
    let e = read_csv_column(&p, "v").unwrap_err();
    assert!(matches!(e, Error::NonFinite { index: 2, .. }), "{e}");
    assert!(e.to_string().contains("n.csv") && e.to_string().contains("`v`"));
}

#[test]
fn wav_channels_scaling_and_errors() {
    let d = tempfile::tempdir().unwrap();
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: 12000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let frames: Vec<Vec<f64>> = (0..1000)
        .map(|i| vec![(i % 100) as f64 * 300.0 - 32768.0, -(i as f64)])
        .collect();
    let p = wav(d.path(), "s.wav", spec, &frames);
    let (left, rate) = read_wav_channel(&p, 0).unwrap();
    assert_eq!(rate, 12000.0);
    assert_eq!(left.len(), 1000);
    assert_eq!(left[0], -1.0);
    assert_eq!(left[1], (300.0 - 32768.0) / 32768.0);
    let (right, _) = read_wav_channel(&p, 1).unwrap();
    assert_eq!(right[5], -5.0 / 32768.0);
    assert!(left.iter().chain(&right).all(|v| (-1.0..1.0).contains(v)));

    let e = read_wav_channel(&p, 2).unwrap_err().to_string();
    assert!(
        e.contains("s.wav") && e.contains("channel 2") && e.contains("2 channels"),
        "{e}"
    );
    let e = read_signal(&p, "left").unwrap_err().to_string();
    assert!(e.contains("channel index"), "{e}");

    let sig = read_signal(&p, "1").unwrap();
    assert_eq!(sig.samples, right);
    assert_eq!(sig.file_rate_hz, Some(12000.0));
    for chunk in [1, 7, 4096] {
        assert_eq!(stream_all(&p, "1", chunk).unwrap(), right);
    }

    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 48000,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let p = wav(
        d.path(),
        "f.WAV",
        spec,
        &[vec![0.25], vec![-3.5], vec![f64::INFINITY]],
    );
    let e = read_signal(&p, "0").unwrap_err();
    assert!(matches!(e, Error::NonFinite { index: 2, .. }), "{e}");
    let p = wav(d.path(), "g.wav", spec, &[vec![0.25], vec![-3.5]]);
    assert_eq!(
        read_wav_channel(&p, 0).unwrap(),
        (vec![0.25, -3.5], 48000.0)
    );

    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8000,
        bits_per_sample: 8,
        sample_format: hound::SampleFormat::Int,
    };
    let p = wav(d.path(), "b.wav", spec, &[vec![-128.0], vec![64.0]]);
    assert_eq!(read_wav_channel(&p, 0).unwrap().0, vec![-1.0, 0.5]);

    let p = write(d.path(), "bad.wav", "not a wav file at all");
    let e = read_signal(&p, "0").unwrap_err().to_string();
    assert!(e.contains("bad.wav") && e.contains("WAV"), "{e}");
    // Truncated WAV data: an error or fewer samples, never a panic.
    let full = std::fs::read(d.path().join("s.wav")).unwrap();
    for cut in (0..full.len()).step_by(97) {
        let q = d.path().join("cut.wav");
        std::fs::write(&q, &full[..cut]).unwrap();
        let _ = read_signal(&q, "1");
    }
}

#[test]
fn dispatch_by_extension_and_validation() {
    let d = tempfile::tempdir().unwrap();
    let p = write(d.path(), "x.CSV", "v\n1\n2\n");
    assert_eq!(read_signal(&p, "v").unwrap().samples, vec![1.0, 2.0]);
    let p = write(d.path(), "x.txt", "v\n1\n");
    let e = read_signal(&p, "v").unwrap_err();
    assert!(matches!(e, Error::UnsupportedFormat { .. }));
    let e = e.to_string();
    assert!(
        e.contains("x.txt") && e.contains(".txt") && e.contains(".mat") && e.contains(".wav"),
        "{e}"
    );
    let p = write(d.path(), "noext", "v\n1\n");
    assert!(read_signal(&p, "v")
        .unwrap_err()
        .to_string()
        .contains("(none)"));
    let p = write(d.path(), "empty.csv", "v\n");
    let e = read_signal(&p, "v").unwrap_err();
    assert!(matches!(e, Error::EmptySignal { .. }), "{e}");
    assert!(e.to_string().contains("empty.csv") && e.to_string().contains("`v`"));
    let e = read_signal(&d.path().join("missing.csv"), "v").unwrap_err();
    assert!(
        matches!(e, Error::Io { .. }) && e.to_string().contains("missing.csv"),
        "{e}"
    );
}

#[test]
fn csv_streaming_is_chunked_and_matches() {
    let d = tempfile::tempdir().unwrap();
    let mut text = String::from("a,b\n");
    for i in 0..200_000 {
        text.push_str(&format!("{i},{}\n", (i as f64 * 0.01).sin()));
    }
    let p = write(d.path(), "big.csv", &text);
    let whole = read_signal(&p, "b").unwrap().samples;
    assert_eq!(whole.len(), 200_000);
    let mut s = open_stream(&p, "b").unwrap();
    let mut huge = vec![0.0; 1_000_000];
    let n = s.read(&mut huge).unwrap();
    assert!(n > 0 && n <= 65_536, "one read is bounded: {n}");
    for chunk in [13, 100_000] {
        assert_eq!(stream_all(&p, "b", chunk).unwrap(), whole);
    }
}
