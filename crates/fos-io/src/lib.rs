//! Readers for FOS: vibration recordings and the recording manifest.
//!
//! - [`mat`]: a hand-written MATLAB level-5 MAT-file reader (numeric arrays, structs,
//!   compressed elements, both byte orders);
//! - [`wav`] and [`csv`][mod@csv]: one channel of a WAV file, one column of a CSV file;
//! - [`read_signal`] and [`open_stream`]: one signal of any of these, whole or in chunks, with
//!   every sample checked to be finite;
//! - [`manifest`]: the recording manifest, its validation and its leakage rules, and
//!   [`load_row`] to read the samples one row describes;
//! - [`testdata`]: where tests find the shared data.
//!
//! Nothing here panics on bad input: every problem is an [`Error`] that names the file and the
//! variable, column, channel or manifest line.
//!
//! ```
//! use std::io::Write;
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("rec.csv");
//! std::fs::File::create(&path)?.write_all(b"time,accel\n0,0.5\n0.1,-0.25\n")?;
//!
//! let sig = fos_io::read_signal(&path, "accel")?;
//! assert_eq!(sig.samples, vec![0.5, -0.25]);
//! assert_eq!(sig.file_rate_hz, None);
//!
//! // Errors say what is wrong and where.
//! let err = fos_io::read_signal(&path, "speed").unwrap_err().to_string();
//! assert!(err.contains("rec.csv") && err.contains("`accel`"));
//! # Ok(()) }
//! ```

pub mod csv;
mod error;
pub mod manifest;
pub mod mat;
mod signal;
pub mod testdata;
pub mod wav;

pub use crate::csv::read_csv_column;
pub use error::{Error, Result};
pub use manifest::{check_split, load_row, stream_row, BearingInfo, Manifest, Row};
pub use mat::MatFile;
pub use signal::{open_stream, read_signal, SampleStream, Signal};
pub use wav::read_wav_channel;
