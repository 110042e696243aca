//! Bearing-diagnostics figures for FOS, drawn to PNG or SVG.
//!
//! A [`Figure`] is a stack of [`Panel`]s, each showing one spectrum
//! ([`Series`]) with optional fault-frequency [`Marker`]s (BPFO, BPFI, BSF,
//! FTF, shaft speed) drawn as dashed vertical lines at the fundamental and its
//! harmonics, one colour per [`MarkerKind`], with a legend beside each panel.
//!
//! The output format follows the file extension given to [`render`]: `.png`
//! (anti-aliased raster, RGBA) or `.svg` (vector, text kept as `<text>`).
//! [`render_png`] and [`render_svg`] return the encoded bytes / document
//! without touching the file system.
//!
//! Architecture: the figure is first laid out into a backend-neutral list of
//! primitives (`scene`), which is then either serialised as SVG (`svg`) or
//! rasterised with `tiny-skia` (`raster`). Text is measured and, for PNG,
//! drawn from the DejaVu Sans font embedded in the binary through the `dejavu`
//! crate: nothing reads system fonts, and no C library (fontconfig, freetype)
//! is needed.
//!
//! ```
//! use fos_plot::{render, Figure, Marker, MarkerKind, Panel, Series};
//!
//! let fs = 2000.0;
//! let freqs: Vec<f64> = (0..=500).map(|i| i as f64 * fs / 1000.0).collect();
//! let values: Vec<f64> = freqs
//!     .iter()
//!     .map(|f| 1e-3 + if (f % 100.0).abs() < 1e-9 { 1.0 } else { 0.0 })
//!     .collect();
//! let fig = Figure {
//!     title: "Bearing B1 — envelope analysis".into(),
//!     width: 900,
//!     height: 400,
//!     panels: vec![Panel {
//!         title: "Squared-envelope spectrum".into(),
//!         x_label: "Frequency [Hz]".into(),
//!         y_label: "Amplitude".into(),
//!         series: Series { label: "SES".into(), freqs_hz: freqs, values },
//!         markers: vec![Marker {
//!             label: "BPFO".into(),
//!             hz: 100.0,
//!             harmonics: 3,
//!             kind: MarkerKind::Outer,
//!         }],
//!         x_max_hz: Some(600.0),
//!         log_y: false,
//!     }],
//! };
//! let path = std::env::temp_dir().join("fos-plot-doc-example.svg");
//! render(&fig, &path).unwrap();
//! assert!(std::fs::read_to_string(&path).unwrap().contains("BPFO"));
//! # std::fs::remove_file(&path).ok();
//! ```

mod axis;
mod font;
mod layout;
mod raster;
mod scene;
mod svg;

use std::path::{Path, PathBuf};

/// One curve: amplitude (or power) values sampled at the given frequencies.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend text for the curve (may be empty: then no legend entry).
    pub label: String,
    /// Frequencies in Hz, ascending; same length as `values`.
    pub freqs_hz: Vec<f64>,
    /// Values at `freqs_hz`; non-finite values are skipped.
    pub values: Vec<f64>,
}

/// The family of a characteristic frequency; each has its own colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MarkerKind {
    /// Ball-pass frequency, outer race (BPFO). Red.
    Outer,
    /// Ball-pass frequency, inner race (BPFI). Blue.
    Inner,
    /// Ball (rolling element) spin frequency, e.g. 2·BSF. Green.
    Ball,
    /// Fundamental train (cage) frequency (FTF). Purple.
    Cage,
    /// Shaft rotation frequency. Orange.
    Shaft,
}

impl MarkerKind {
    /// The colour used for this kind, as `#rrggbb`.
    pub fn color_hex(self) -> &'static str {
        match self {
            MarkerKind::Outer => "#d62728",
            MarkerKind::Inner => "#1f77b4",
            MarkerKind::Ball => "#2ca02c",
            MarkerKind::Cage => "#9467bd",
            MarkerKind::Shaft => "#ff7f0e",
        }
    }
}

/// A characteristic frequency drawn as dashed vertical lines at
/// `1·hz, 2·hz, …, harmonics·hz`.
#[derive(Debug, Clone, PartialEq)]
pub struct Marker {
    /// Short name, e.g. `"BPFO"`; harmonic `k > 1` lines are labelled `"k×BPFO"`.
    pub label: String,
    /// Fundamental frequency in Hz (must be finite and > 0).
    pub hz: f64,
    /// Number of lines to draw (`0` is treated as `1`).
    pub harmonics: usize,
    /// Family, which picks the colour.
    pub kind: MarkerKind,
}

/// One plot: a spectrum with its markers, axes and legend.
#[derive(Debug, Clone, PartialEq)]
pub struct Panel {
    /// Title drawn above the plot area.
    pub title: String,
    /// X-axis label, e.g. `"Frequency [Hz]"`.
    pub x_label: String,
    /// Y-axis label (drawn rotated).
    pub y_label: String,
    /// The curve.
    pub series: Series,
    /// Characteristic-frequency markers.
    pub markers: Vec<Marker>,
    /// Upper end of the x axis; `None` = the largest frequency of the series.
    pub x_max_hz: Option<f64>,
    /// Logarithmic y axis (non-positive values are clipped to the bottom).
    pub log_y: bool,
}

/// A whole figure: a title and panels stacked vertically.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    /// Title at the top of the figure (may be empty).
    pub title: String,
    /// Panels, top to bottom; at least one.
    pub panels: Vec<Panel>,
    /// Width in pixels (SVG user units), 200..=16384.
    pub width: u32,
    /// Height in pixels (SVG user units), 100..=16384.
    pub height: u32,
}

/// Why a figure could not be rendered or written.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// The output path's extension is not one of the supported formats.
    #[error("cannot render figure to {path}: unsupported file extension (supported: .png, .svg)")]
    UnsupportedFormat {
        /// The offending path.
        path: PathBuf,
    },
    /// The figure description is inconsistent (sizes, lengths, frequencies).
    #[error("invalid figure: {0}")]
    InvalidFigure(String),
    /// PNG encoding failed.
    #[error("PNG encoding failed: {0}")]
    Encode(String),
    /// Writing the output file failed.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file being written.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

/// Output format chosen from a file extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Png,
    Svg,
}

fn format_of(path: &Path) -> Result<Format, PlotError> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("png") => Ok(Format::Png),
        Some("svg") => Ok(Format::Svg),
        _ => Err(PlotError::UnsupportedFormat {
            path: path.to_path_buf(),
        }),
    }
}

/// Renders `fig` to `path`; the format follows the extension (`.png` or
/// `.svg`, case-insensitive). The file is created or overwritten.
pub fn render(fig: &Figure, path: &Path) -> Result<(), PlotError> {
    let bytes = match format_of(path)? {
        Format::Png => render_png(fig)?,
        Format::Svg => render_svg(fig)?.into_bytes(),
    };
    std::fs::write(path, bytes).map_err(|source| PlotError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Renders `fig` as an SVG document.
pub fn render_svg(fig: &Figure) -> Result<String, PlotError> {
    let scene = layout::layout(fig)?;
    Ok(svg::to_svg(&scene))
}

/// Renders `fig` as PNG-encoded bytes (RGBA, `fig.width × fig.height`).
pub fn render_png(fig: &Figure) -> Result<Vec<u8>, PlotError> {
    let scene = layout::layout(fig)?;
    raster::to_png(&scene)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_from_extension() {
        assert_eq!(format_of(Path::new("a/b.png")).unwrap(), Format::Png);
        assert_eq!(format_of(Path::new("b.SVG")).unwrap(), Format::Svg);
        assert!(format_of(Path::new("b.jpg")).is_err());
        assert!(format_of(Path::new("noext")).is_err());
    }

    #[test]
    fn unsupported_format_message_names_path_and_formats() {
        let msg = format_of(Path::new("/x/fig.pdf")).unwrap_err().to_string();
        assert!(msg.contains("/x/fig.pdf"), "{msg}");
        assert!(msg.contains(".png") && msg.contains(".svg"), "{msg}");
    }
}
