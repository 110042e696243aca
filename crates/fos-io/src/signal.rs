//! Reading one signal from a recording file, whole ([`read_signal`]) or in chunks
//! ([`open_stream`]), whatever its format: `.mat`, `.csv` or `.wav`, chosen by extension
//! (case-insensitive).
//!
//! The signal selector means, by format: for `.mat` a variable name or a dotted path into a
//! struct (`rec.accel`); for `.csv` a column name; for `.wav` a channel index from 0.
//!
//! Every sample is checked: a NaN or an infinity is an error naming the file, the signal and the
//! sample's index from the start of the signal; an empty signal is an error too.

use crate::error::{Error, Result};
use crate::mat::{self, Budget, Order, Tag};
use flate2::read::ZlibDecoder;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// Samples read per call at most, whatever the size of the caller's buffer (bounds the
/// internal buffers).
pub(crate) const CHUNK: usize = 1 << 16;

/// A signal read whole.
#[derive(Debug, Clone, PartialEq)]
pub struct Signal {
    /// The samples, in order.
    pub samples: Vec<f64>,
    /// The sample rate the file itself states (WAV does; MAT and CSV files do not).
    pub file_rate_hz: Option<f64>,
}

/// A source of samples read in chunks, in constant memory where the format allows.
pub trait SampleStream: Send {
    /// Fills the start of `out` with the next samples and returns how many were written
    /// (possibly fewer than `out.len()`); returns 0 only at the end of the signal (or when `out`
    /// is empty). Each sample is checked to be finite.
    fn read(&mut self, out: &mut [f64]) -> Result<usize>;

    /// The sample rate the file states, if it states one.
    fn file_rate_hz(&self) -> Option<f64>;

    /// How many samples the whole signal has, when the file says so up front (a hint: a
    /// damaged file may hold fewer).
    fn len_hint(&self) -> Option<u64> {
        None
    }
}

/// The formats FOS reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Mat,
    Csv,
    Wav,
}

fn format_of(path: &Path) -> Result<Format> {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "mat" => Ok(Format::Mat),
        "csv" => Ok(Format::Csv),
        "wav" => Ok(Format::Wav),
        _ => Err(Error::UnsupportedFormat {
            path: path.to_path_buf(),
            ext: if ext.is_empty() {
                "(none)".to_string()
            } else {
                format!(".{ext}")
            },
        }),
    }
}

/// Parses a WAV signal selector (a channel index from 0).
pub(crate) fn wav_channel(path: &Path, signal: &str) -> Result<usize> {
    signal.trim().parse::<usize>().map_err(|_| Error::Signal {
        path: path.to_path_buf(),
        signal: signal.to_string(),
        detail: "for a .wav file the signal must be a channel index from 0 (`0`, `1`, ...)"
            .to_string(),
    })
}

/// Opens `signal` of the recording at `path` for reading in chunks.
///
/// WAV and CSV files are read in constant memory whatever their length. For MAT-files, a plain
/// numeric variable is read straight from the file (or through the zlib decoder for a compressed
/// element, skipping the other variables without decompressing them); a dotted path into a struct
/// loads that one top-level variable.
pub fn open_stream(path: &Path, signal: &str) -> Result<Box<dyn SampleStream>> {
    match format_of(path)? {
        Format::Mat => open_mat_stream(path, signal),
        Format::Csv => Ok(Box::new(crate::csv::CsvStream::open(path, signal)?)),
        Format::Wav => Ok(Box::new(crate::wav::WavStream::open(
            path,
            wav_channel(path, signal)?,
        )?)),
    }
}

/// Reads `signal` of the recording at `path` whole, checking that it is not empty and that every
/// sample is finite.
pub fn read_signal(path: &Path, signal: &str) -> Result<Signal> {
    let mut s = open_stream(path, signal)?;
    let samples = collect(s.as_mut())?;
    if samples.is_empty() {
        return Err(Error::EmptySignal {
            path: path.to_path_buf(),
            signal: signal.to_string(),
        });
    }
    Ok(Signal {
        samples,
        file_rate_hz: s.file_rate_hz(),
    })
}

/// Reads a stream to its end.
pub(crate) fn collect(s: &mut dyn SampleStream) -> Result<Vec<f64>> {
    let hint = s.len_hint().unwrap_or(0).min(1 << 20) as usize;
    let mut out = Vec::with_capacity(hint);
    let mut buf = vec![0.0; CHUNK];
    loop {
        let n = s.read(&mut buf)?;
        if n == 0 {
            return Ok(out);
        }
        out.extend_from_slice(buf.get(..n).unwrap_or_default());
    }
}

/// Checks that every sample of `chunk`, which starts at absolute index `start`, is finite.
pub(crate) fn check_finite(chunk: &[f64], start: u64, path: &Path, signal: &str) -> Result<()> {
    match chunk.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(i) => Err(Error::NonFinite {
            path: path.to_path_buf(),
            signal: signal.to_string(),
            index: start + i as u64,
            value: chunk.get(i).copied().unwrap_or(f64::NAN),
        }),
    }
}

/// Samples already in memory.
#[derive(Debug)]
pub(crate) struct VecStream {
    data: Vec<f64>,
    pos: usize,
    rate: Option<f64>,
    path: PathBuf,
    signal: String,
}

impl SampleStream for VecStream {
    fn read(&mut self, out: &mut [f64]) -> Result<usize> {
        let rest = self.data.get(self.pos..).unwrap_or_default();
        let n = rest.len().min(out.len());
        let (src, dst) = (
            rest.get(..n).unwrap_or_default(),
            out.get_mut(..n).unwrap_or_default(),
        );
        dst.copy_from_slice(src);
        check_finite(dst, self.pos as u64, &self.path, &self.signal)?;
        self.pos += n;
        Ok(n)
    }
    fn file_rate_hz(&self) -> Option<f64> {
        self.rate
    }
    fn len_hint(&self) -> Option<u64> {
        Some(self.data.len() as u64)
    }
}

/// A numeric MAT variable's data, read from the file or a zlib stream.
struct MatStream {
    r: Box<dyn Read + Send>,
    ty: u32,
    size: usize,
    order: Order,
    remaining: u64,
    total: u64,
    index: u64,
    buf: Vec<u8>,
    tmp: Vec<f64>,
    path: PathBuf,
    signal: String,
}

impl SampleStream for MatStream {
    fn read(&mut self, out: &mut [f64]) -> Result<usize> {
        let want = (out.len().min(CHUNK) as u64).min(self.remaining) as usize;
        if want == 0 {
            return Ok(0);
        }
        self.buf.resize(want * self.size, 0);
        let bad = |detail: String| Error::Mat {
            path: self.path.clone(),
            detail,
        };
        mat::read_exact(
            &mut self.r,
            &mut self.buf,
            &format!("the data of `{}`", self.signal),
        )
        .map_err(bad)?;
        if self.remaining == want as u64 {
            // Last samples: read what is left of the element, so that a compressed one has its
            // checksum verified (and is noticed if truncated).
            std::io::copy(&mut self.r, &mut std::io::sink()).map_err(|e| {
                bad(mat::io_detail(
                    e,
                    &format!("the element holding `{}`", self.signal),
                ))
            })?;
        }
        self.tmp.clear();
        mat::decode_into(self.ty, self.order, &self.buf, &mut self.tmp);
        let dst = out.get_mut(..want).unwrap_or_default();
        dst.copy_from_slice(self.tmp.get(..want).unwrap_or_default());
        check_finite(dst, self.index, &self.path, &self.signal)?;
        self.index += want as u64;
        self.remaining -= want as u64;
        Ok(want)
    }
    fn file_rate_hz(&self) -> Option<f64> {
        None
    }
    fn len_hint(&self) -> Option<u64> {
        Some(self.total)
    }
}

fn open_mat_stream(path: &Path, signal: &str) -> Result<Box<dyn SampleStream>> {
    let io_err = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let bad = |detail: String| Error::Mat {
        path: path.to_path_buf(),
        detail,
    };
    let file = File::open(path).map_err(io_err)?;
    let size = file.metadata().map_err(io_err)?.len();
    let mut r = BufReader::new(file);
    let mut header = Vec::with_capacity(128);
    (&mut r)
        .take(128)
        .read_to_end(&mut header)
        .map_err(io_err)?;
    let order = mat::parse_header(&header).map_err(bad)?;

    let (first, rest) = match signal.split_once('.') {
        Some((a, b)) => (a, Some(b)),
        None => (signal, None),
    };
    let mut names: Vec<String> = Vec::new();
    let mut pos: u64 = 128;
    while size.saturating_sub(pos) >= 8 {
        let mut tb = [0u8; 8];
        r.read_exact(&mut tb).map_err(io_err)?;
        let t = mat::parse_tag(tb, order);
        let at = format!("the element at byte {pos}");
        if t.small.is_some() {
            pos += 8;
            continue;
        }
        let n = u64::from(t.nbytes);
        let avail = size - pos - 8;
        if n > avail {
            return Err(bad(format!(
                "{at} claims {n} bytes but only {avail} remain (file truncated)"
            )));
        }
        let ctx = |name: &str, e: String| {
            if name.is_empty() {
                bad(format!("{at}: {e}"))
            } else {
                bad(format!("variable `{name}` ({at}): {e}"))
            }
        };
        let next = match t.ty {
            mat::MI_MATRIX if n > 0 => {
                let mut b = Budget { left: n };
                let h = mat::read_header(&mut r, &mut b, order).map_err(|e| ctx("", e))?;
                if h.name == first {
                    let name = h.name.clone();
                    return finish(Box::new(r.take(b.left)), b, order, h, rest, path, signal)
                        .map_err(|e| match e {
                            FinishErr::Mat(d) => ctx(&name, d),
                            FinishErr::Fos(e) => e,
                        });
                }
                names.push(h.name);
                pos + 8 + mat::pad8(n).min(avail)
            }
            mat::MI_COMPRESSED => {
                let mut dec = ZlibDecoder::new(r.take(n));
                let mut tb = [0u8; 8];
                mat::read_exact(&mut dec, &mut tb, "the first tag of a compressed element")
                    .map_err(|e| ctx("", e))?;
                let it: Tag = mat::parse_tag(tb, order);
                if it.ty == mat::MI_MATRIX && it.small.is_none() && it.nbytes > 0 {
                    let mut b = Budget {
                        left: u64::from(it.nbytes),
                    };
                    let h = mat::read_header(&mut dec, &mut b, order).map_err(|e| ctx("", e))?;
                    if h.name == first {
                        let name = h.name.clone();
                        return finish(Box::new(dec), b, order, h, rest, path, signal).map_err(
                            |e| match e {
                                FinishErr::Mat(d) => ctx(&name, d),
                                FinishErr::Fos(e) => e,
                            },
                        );
                    }
                    names.push(h.name);
                }
                r = dec.into_inner().into_inner();
                pos + 8 + n
            }
            _ => pos + 8 + mat::pad8(n).min(avail),
        };
        pos = next;
        r.seek(SeekFrom::Start(pos)).map_err(io_err)?;
    }
    Err(Error::MatNotFound {
        path: path.to_path_buf(),
        name: first.to_string(),
        available: mat::list_names(names.iter().map(String::as_str)),
    })
}

enum FinishErr {
    Mat(String),
    Fos(Error),
}

impl From<String> for FinishErr {
    fn from(s: String) -> Self {
        FinishErr::Mat(s)
    }
}

/// Continues reading the array whose header `h` was just read from `r`.
fn finish(
    mut r: Box<dyn Read + Send>,
    mut b: Budget,
    order: Order,
    h: mat::Header,
    rest: Option<&str>,
    path: &Path,
    signal: &str,
) -> std::result::Result<Box<dyn SampleStream>, FinishErr> {
    let var_err = |detail: String| {
        FinishErr::Fos(Error::MatVariable {
            path: path.to_path_buf(),
            name: signal.to_string(),
            detail,
        })
    };
    match rest {
        None => {
            mat::check_signal_header(&h).map_err(var_err)?;
            let t = b.tag(&mut r, order, "real part")?;
            let size = mat::check_numeric_data(&h, t)?;
            let total = u64::from(t.nbytes) / size as u64;
            let data: Box<dyn Read + Send> = match t.small {
                Some(s) => Box::new(std::io::Cursor::new(
                    s.get(..t.nbytes as usize).unwrap_or_default().to_vec(),
                )),
                // The rest of the element (data, padding, anything after): see `MatStream::read`.
                None => r,
            };
            Ok(Box::new(MatStream {
                r: data,
                ty: t.ty,
                size,
                order,
                remaining: total,
                total,
                index: 0,
                buf: Vec::new(),
                tmp: Vec::new(),
                path: path.to_path_buf(),
                signal: signal.to_string(),
            }))
        }
        Some(rest) => {
            let first = h.name.clone();
            let value = mat::read_body(&mut r, &mut b, order, h, 0)?;
            let fields: Vec<&str> = rest.split('.').collect();
            let leaf = mat::walk(&value, &first, &fields, path, signal).map_err(FinishErr::Fos)?;
            let data = mat::numeric_of(leaf, path, signal).map_err(FinishErr::Fos)?;
            Ok(Box::new(VecStream {
                data,
                pos: 0,
                rate: None,
                path: path.to_path_buf(),
                signal: signal.to_string(),
            }))
        }
    }
}
