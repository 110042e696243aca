//! WAV recordings (via `hound`): one channel at a time, integer samples scaled to [-1, 1),
//! float samples as they are.

use crate::error::{Error, Result};
use crate::signal::{check_finite, collect, SampleStream, CHUNK};
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

/// Reads channel `channel` (from 0) of the WAV file at `path`; returns the samples and the
/// file's sample rate in Hz. Every sample is checked to be finite.
pub fn read_wav_channel(path: &Path, channel: usize) -> Result<(Vec<f64>, f64)> {
    let mut s = WavStream::open(path, channel)?;
    let rate = s.rate;
    Ok((collect(&mut s)?, rate))
}

/// Reads one channel of a WAV file in chunks, in constant memory.
pub(crate) struct WavStream {
    reader: hound::WavReader<BufReader<File>>,
    channel: usize,
    channels: usize,
    /// Multiplier for integer samples; `None` for float files.
    scale: Option<f64>,
    rate: f64,
    index: u64,
    frames: u64,
    done: bool,
    path: PathBuf,
    signal: String,
}

impl WavStream {
    pub(crate) fn open(path: &Path, channel: usize) -> Result<WavStream> {
        let bad = |detail: String| Error::Wav {
            path: path.to_path_buf(),
            detail,
        };
        let reader = hound::WavReader::open(path).map_err(|e| match e {
            hound::Error::IoError(source) => Error::Io {
                path: path.to_path_buf(),
                source,
            },
            other => bad(format!("not a readable WAV file: {other}")),
        })?;
        let spec = reader.spec();
        let channels = usize::from(spec.channels);
        if channels == 0 {
            return Err(bad("the header says the file has 0 channels".to_string()));
        }
        if channel >= channels {
            return Err(Error::Signal {
                path: path.to_path_buf(),
                signal: channel.to_string(),
                detail: format!(
                    "channel {channel} asked for but the file has {channels} channel{} (indices 0 to {})",
                    if channels == 1 { "" } else { "s" },
                    channels - 1
                ),
            });
        }
        let scale = match spec.sample_format {
            hound::SampleFormat::Float => None,
            hound::SampleFormat::Int => {
                if !(1..=32).contains(&spec.bits_per_sample) {
                    return Err(bad(format!(
                        "{} bits per sample is not supported",
                        spec.bits_per_sample
                    )));
                }
                Some(1.0 / f64::powi(2.0, i32::from(spec.bits_per_sample) - 1))
            }
        };
        if spec.sample_rate == 0 {
            return Err(bad("the header says the sample rate is 0 Hz".to_string()));
        }
        let frames = u64::from(reader.len()) / channels as u64;
        Ok(WavStream {
            reader,
            channel,
            channels,
            scale,
            rate: f64::from(spec.sample_rate),
            index: 0,
            frames,
            done: false,
            path: path.to_path_buf(),
            signal: channel.to_string(),
        })
    }

    fn fill<S: hound::Sample>(
        &mut self,
        out: &mut [f64],
        conv: impl Fn(S) -> f64,
    ) -> Result<usize> {
        let mut it = self.reader.samples::<S>();
        let mut n = 0;
        for slot in out.iter_mut() {
            for ch in 0..self.channels {
                match it.next() {
                    None if ch == 0 => {
                        self.done = true;
                        return Ok(n);
                    }
                    None => {
                        return Err(Error::Wav {
                            path: self.path.clone(),
                            detail: format!(
                                "the data ends inside frame {} (after channel {} of {}): file truncated?",
                                self.index + n as u64,
                                ch,
                                self.channels
                            ),
                        })
                    }
                    Some(Err(e)) => {
                        return Err(Error::Wav {
                            path: self.path.clone(),
                            detail: format!("cannot read frame {}: {e}", self.index + n as u64),
                        })
                    }
                    Some(Ok(v)) => {
                        if ch == self.channel {
                            *slot = conv(v);
                        }
                    }
                }
            }
            n += 1;
        }
        Ok(n)
    }
}

impl SampleStream for WavStream {
    fn read(&mut self, out: &mut [f64]) -> Result<usize> {
        if self.done {
            return Ok(0);
        }
        let len = out.len().min(CHUNK);
        let out = out.get_mut(..len).unwrap_or_default();
        let n = match self.scale {
            None => self.fill::<f32>(out, f64::from)?,
            Some(k) => self.fill::<i32>(out, |v| f64::from(v) * k)?,
        };
        let got = out.get(..n).unwrap_or_default();
        check_finite(got, self.index, &self.path, &self.signal)?;
        self.index += n as u64;
        Ok(n)
    }
    fn file_rate_hz(&self) -> Option<f64> {
        Some(self.rate)
    }
    fn len_hint(&self) -> Option<u64> {
        Some(self.frames)
    }
}
