//! End-to-end tests: a synthetic two-panel bearing figure rendered to PNG and
//! SVG files, plus format errors. Set `FOS_PLOT_SAMPLE=/path/x.png` to also
//! write the sample figure there for visual inspection.

use std::path::PathBuf;

use fos_plot::{render, render_png, Figure, Marker, MarkerKind, Panel, PlotError, Series};

const FS: f64 = 20_000.0;
const SHAFT: f64 = 29.95;
const BPFO: f64 = 107.36;
const BPFI: f64 = 162.19;
const BSF: f64 = 70.58;
const FTF: f64 = 11.93;

/// Deterministic pseudo-noise in [0, 1).
fn noise(i: usize) -> f64 {
    let mut x = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
    x ^= x >> 31;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 29;
    (x >> 11) as f64 / (1u64 << 53) as f64
}

fn peak(f: f64, f0: f64, width: f64) -> f64 {
    (-((f - f0) / width).powi(2)).exp()
}

/// A figure shaped like a real outer-race-fault diagnosis.
fn sample_figure() -> Figure {
    let n = 8192;
    let df = FS / 2.0 / n as f64;
    let freqs: Vec<f64> = (0..=n).map(|i| i as f64 * df).collect();
    let spectrum: Vec<f64> = freqs
        .iter()
        .enumerate()
        .map(|(i, &f)| {
            let shaft: f64 = (1..=8)
                .map(|k| peak(f, k as f64 * SHAFT, 2.0) / k as f64)
                .sum();
            let resonance = 0.05 * peak(f, 3500.0, 400.0);
            1e-4 * (1.0 + 3.0 * noise(i)) + 0.2 * shaft + resonance * (0.5 + noise(i + 7))
        })
        .collect();
    let m = 6000;
    let edf = 0.2;
    let efreqs: Vec<f64> = (0..m).map(|i| i as f64 * edf).collect();
    let ses: Vec<f64> = efreqs
        .iter()
        .enumerate()
        .map(|(i, &f)| {
            let fault: f64 = (1..=5)
                .map(|k| peak(f, k as f64 * BPFO, 0.6) * 0.8 / k as f64)
                .sum();
            let dc = if i == 0 { 50.0 } else { 0.0 };
            0.01 + 0.02 * noise(i + 99) + fault + 0.15 * peak(f, SHAFT, 0.6) + dc
        })
        .collect();
    Figure {
        title: "Bearing B1 (6205) — outer-race fault candidate, 1797 rpm".into(),
        width: 1200,
        height: 800,
        panels: vec![
            Panel {
                title: "Amplitude spectrum".into(),
                x_label: "Frequency [Hz]".into(),
                y_label: "Amplitude [g]".into(),
                series: Series {
                    label: "|X(f)|".into(),
                    freqs_hz: freqs,
                    values: spectrum,
                },
                markers: vec![Marker {
                    label: "1X".into(),
                    hz: SHAFT,
                    harmonics: 8,
                    kind: MarkerKind::Shaft,
                }],
                x_max_hz: None,
                log_y: true,
            },
            Panel {
                title: "Squared-envelope spectrum (band 2.5–4.5 kHz)".into(),
                x_label: "Frequency [Hz]".into(),
                y_label: "SES [g²]".into(),
                series: Series {
                    label: "SES".into(),
                    freqs_hz: efreqs,
                    values: ses,
                },
                markers: vec![
                    Marker {
                        label: "BPFO".into(),
                        hz: BPFO,
                        harmonics: 5,
                        kind: MarkerKind::Outer,
                    },
                    Marker {
                        label: "BPFI".into(),
                        hz: BPFI,
                        harmonics: 3,
                        kind: MarkerKind::Inner,
                    },
                    Marker {
                        label: "2·BSF".into(),
                        hz: 2.0 * BSF,
                        harmonics: 4,
                        kind: MarkerKind::Ball,
                    },
                    Marker {
                        label: "FTF".into(),
                        hz: FTF,
                        harmonics: 3,
                        kind: MarkerKind::Cage,
                    },
                ],
                x_max_hz: Some(600.0),
                log_y: false,
            },
        ],
    }
}

fn temp_path(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("fos-plot-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

#[test]
fn png_file_has_signature_and_dimensions() {
    let path = temp_path("fig.png");
    let fig = sample_figure();
    render(&fig, &path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    // IHDR: width and height, big-endian, at bytes 16..24.
    assert_eq!(&bytes[12..16], b"IHDR");
    let w = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    let h = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
    assert_eq!((w, h), (1200, 800));
    // And it decodes, with both white background and dark ink.
    let pm = tiny_skia::Pixmap::decode_png(&bytes).unwrap();
    assert_eq!((pm.width(), pm.height()), (1200, 800));
    let px = pm.pixels();
    assert!(
        px.iter()
            .filter(|p| p.red() == 255 && p.green() == 255)
            .count()
            > px.len() / 2
    );
    assert!(px.iter().filter(|p| p.red() < 60 && p.green() < 60).count() > 1000);
    // Outer-race red appears (marker lines and labels).
    assert!(px
        .iter()
        .any(|p| p.red() > 200 && p.green() < 60 && p.blue() < 60));
    if let Some(sample) = std::env::var_os("FOS_PLOT_SAMPLE") {
        render(&fig, std::path::Path::new(&sample)).unwrap();
    }
    std::fs::remove_file(&path).ok();
}

#[test]
fn svg_file_contains_labels() {
    let path = temp_path("fig.svg");
    render(&sample_figure(), &path).unwrap();
    let svg = std::fs::read_to_string(&path).unwrap();
    assert!(svg.starts_with("<?xml"));
    assert!(svg.contains(r#"width="1200" height="800""#));
    for label in [
        "BPFO",
        "2×BPFO",
        "BPFI",
        "2·BSF",
        "FTF",
        "1X",
        "Frequency [Hz]",
        "SES [g²]",
    ] {
        assert!(svg.contains(label), "SVG lacks {label:?}");
    }
    assert!(svg.contains("stroke-dasharray"));
    assert!(svg.contains("#d62728") && svg.contains("#1f77b4"));
    assert!(svg.trim_end().ends_with("</svg>"));
    std::fs::remove_file(&path).ok();
}

#[test]
fn uppercase_extension_accepted() {
    let path = temp_path("fig.SVG");
    render(&sample_figure(), &path).unwrap();
    assert!(path.exists());
    std::fs::remove_file(&path).ok();
}

#[test]
fn bad_extension_is_a_clear_error() {
    let path = temp_path("fig.jpg");
    let err = render(&sample_figure(), &path).unwrap_err();
    assert!(matches!(err, PlotError::UnsupportedFormat { .. }));
    let msg = err.to_string();
    assert!(
        msg.contains("fig.jpg") && msg.contains(".png") && msg.contains(".svg"),
        "{msg}"
    );
    assert!(!path.exists());
}

#[test]
fn unwritable_path_is_an_io_error() {
    let path = temp_path("no-such-dir").join("x").join("fig.png");
    let err = render(&sample_figure(), &path).unwrap_err();
    assert!(matches!(err, PlotError::Io { .. }), "{err}");
    assert!(err.to_string().contains("fig.png"));
}

#[test]
fn in_memory_png_matches_size() {
    let mut fig = sample_figure();
    fig.width = 640;
    fig.height = 480;
    fig.panels.truncate(1);
    let png = render_png(&fig).unwrap();
    let pm = tiny_skia::Pixmap::decode_png(&png).unwrap();
    assert_eq!((pm.width(), pm.height()), (640, 480));
}
