//! Decision windows of a stream of samples, and a recording judged window by window.
//!
//! [`Windower`] turns samples at a file's rate into the decision windows of a machine: it
//! resamples them to the machine's analysis rate (with the machine's anti-alias low-pass, applied
//! even at rate 1), drops the filter's delay, and hands out every window of `n` samples every
//! `hop`, keeping at most a window and a chunk in memory, whatever the stream's length. Its windows
//! are the very samples that [`fos_signal::resample::resample`] of the whole signal followed by
//! [`window_starts`] gives.
//!
//! [`RecordingAnalysis`] is the whole per-recording path of `fos analyze FILE` and of the edge
//! pipeline's `replay` source: a [`Windower`], the model's [`StreamAnalyzer`] and
//! [`MachineModel::decide`], window `k` ending `window_s + k·hop_s` seconds after the first sample.
//! Both callers use it, so they give the same verdicts bit for bit.
//!
//! Pure: samples in, verdicts out; reading the file is the caller's business.

use crate::config::AnalysisConfig;
use crate::detector::{MachineModel, Verdict};
use crate::features::{StreamAnalyzer, WindowFeatures};
use crate::Error;

/// Turns a stream of samples at `fs_in` into decision windows at the analysis rate (see the module
/// documentation).
#[derive(Debug)]
pub struct Windower {
    rs: fos_signal::resample::Resampler<f64>,
    skip: usize,
    pending: Vec<f64>,
    n: usize,
    hop: usize,
}

impl Windower {
    /// Windows of `n` samples every `hop` at `fs`, from samples at `fs_in`, low-passed at `cutoff_hz`.
    pub fn new(fs_in: f64, fs: f64, cutoff_hz: f64, n: usize, hop: usize) -> Result<Self, Error> {
        let rs = fos_signal::resample::Resampler::<f64>::new(fs_in, fs, cutoff_hz).map_err(|e| Error::Resample {
            from_hz: fs_in,
            to_hz: fs,
            reason: e.to_string(),
        })?;
        Ok(Self { skip: rs.delay_out_samples(), rs, pending: Vec::with_capacity(4 * n), n, hop: hop.max(1) })
    }

    /// Feeds samples; calls `f` on each window that became complete, in order.
    pub fn push<E>(&mut self, part: &[f64], f: &mut impl FnMut(&[f64]) -> Result<(), E>) -> Result<(), E> {
        self.rs.process(part, &mut self.pending);
        self.drain(f)
    }

    /// Ends the stream: flushes the filter and hands out the last windows. The windower is then
    /// ready for a new stream.
    pub fn finish<E>(&mut self, f: &mut impl FnMut(&[f64]) -> Result<(), E>) -> Result<(), E> {
        self.rs.flush(&mut self.pending);
        let r = self.drain(f);
        self.pending.clear();
        self.skip = self.rs.delay_out_samples();
        r
    }

    fn drain<E>(&mut self, f: &mut impl FnMut(&[f64]) -> Result<(), E>) -> Result<(), E> {
        if self.skip > 0 {
            let d = self.skip.min(self.pending.len());
            self.pending.drain(..d);
            self.skip -= d;
        }
        let mut start = 0;
        while self.pending.len() - start >= self.n {
            f(&self.pending[start..start + self.n])?;
            start += self.hop;
        }
        self.pending.drain(..start.min(self.pending.len()));
        Ok(())
    }
}

/// Start indices of the decision windows of a signal of `len` samples.
pub fn window_starts(len: usize, n: usize, hop: usize) -> impl Iterator<Item = usize> {
    let count = if len >= n && hop > 0 { (len - n) / hop + 1 } else { 0 };
    (0..count).map(move |i| i * hop)
}

/// Hop between decisions in samples at rate `fs`.
pub fn hop_len(cfg: &AnalysisConfig, fs: f64) -> usize {
    (cfg.hop_s * fs).round().max(1.0) as usize
}

/// One judged decision window of a [`RecordingAnalysis`].
#[derive(Debug)]
pub struct Judged<'a> {
    /// The window's index in the recording, from 0.
    pub index: u64,
    /// Seconds from the recording's first sample to the window's end: `window_s + index·hop_s`.
    pub t_end_s: f64,
    /// The window's evidence.
    pub features: WindowFeatures,
    /// The model's verdict on it.
    pub verdict: Verdict,
    /// The analyzer, holding the window's spectra ([`StreamAnalyzer::last_output`]).
    pub analyzer: &'a StreamAnalyzer,
}

/// One recording (one channel) judged window by window by a model (see the module documentation).
#[derive(Debug)]
pub struct RecordingAnalysis {
    model: MachineModel,
    analyzer: StreamAnalyzer,
    windower: Windower,
    index: u64,
}

impl RecordingAnalysis {
    /// Judges a recording sampled at `fs_in` of a machine turning at about `shaft_hz` with `model`
    /// (resampled to the model's analysis rate with its cut-off).
    pub fn new(model: MachineModel, fs_in: f64, shaft_hz: f64) -> Result<Self, Error> {
        let analyzer = model.analyzer(shaft_hz)?;
        let n = analyzer.window_len();
        let hop = hop_len(&model.config, model.analysis_fs);
        let windower = Windower::new(fs_in, model.analysis_fs, model.cutoff_hz, n, hop)?;
        Ok(Self { model, analyzer, windower, index: 0 })
    }

    /// The model.
    pub fn model(&self) -> &MachineModel {
        &self.model
    }

    /// Decision window length, in samples at the analysis rate.
    pub fn window_len(&self) -> usize {
        self.analyzer.window_len()
    }

    /// Hop between decision windows, in samples at the analysis rate.
    pub fn hop_len(&self) -> usize {
        hop_len(&self.model.config, self.model.analysis_fs)
    }

    /// Windows judged so far.
    pub fn windows(&self) -> u64 {
        self.index
    }

    /// Feeds the next samples of the recording; calls `f` on each window that became complete.
    pub fn push<E>(&mut self, part: &[f64], f: &mut impl FnMut(Judged<'_>) -> Result<(), E>) -> Result<(), E> {
        let Self { model, analyzer, windower, index } = self;
        windower.push(part, &mut |w: &[f64]| judge(model, analyzer, index, w, f))
    }

    /// Ends the recording: judges the last windows.
    pub fn finish<E>(&mut self, f: &mut impl FnMut(Judged<'_>) -> Result<(), E>) -> Result<(), E> {
        let Self { model, analyzer, windower, index } = self;
        windower.finish(&mut |w: &[f64]| judge(model, analyzer, index, w, f))
    }
}

fn judge<E>(
    model: &MachineModel,
    analyzer: &mut StreamAnalyzer,
    index: &mut u64,
    w: &[f64],
    f: &mut impl FnMut(Judged<'_>) -> Result<(), E>,
) -> Result<(), E> {
    let features = analyzer.analyze(w);
    let verdict = model.decide(&features);
    let t_end_s = model.config.window_s + *index as f64 * model.config.hop_s;
    let i = *index;
    *index += 1;
    f(Judged { index: i, t_end_s, features, verdict, analyzer })
}

#[cfg(test)]
mod tests {
    use super::*;
    use fos_core::BearingGeometry;

    #[test]
    fn window_count_matches_protocol() {
        // A row of D seconds gives floor((D - 1) / 0.5) + 1 decisions.
        let fs = 12_000;
        for (d, want) in [(1.0, 1), (1.49, 1), (1.5, 2), (2.582, 4), (10.0, 19)] {
            let len = (d * fs as f64) as usize;
            assert_eq!(window_starts(len, fs, fs / 2).count(), want, "D = {d}");
        }
        assert_eq!(window_starts(100, 12_000, 6_000).count(), 0);
    }

    /// A deterministic test signal: a few tones and a pseudo-random part.
    fn signal(len: usize) -> Vec<f64> {
        let mut s = 0x2545_F491_4F6C_DD1Du64;
        (0..len)
            .map(|i| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                let t = i as f64 / 48_000.0;
                (2.0 * std::f64::consts::PI * 157.0 * t).sin() + (s >> 11) as f64 / (1u64 << 53) as f64 - 0.5
            })
            .collect()
    }

    #[test]
    fn streamed_windows_equal_the_whole_signal_resampled_bit_for_bit() {
        let x = signal(48_000 * 3 + 1234);
        let (fs_in, fs, cut, n, hop) = (48_000.0, 12_000.0, 5_400.0, 12_000, 6_000);
        let whole = fos_signal::resample::resample(&x, fs_in, fs, cut).unwrap();
        let want: Vec<Vec<f64>> = window_starts(whole.len(), n, hop).map(|s| whole[s..s + n].to_vec()).collect();
        assert_eq!(want.len(), 5);
        for chunk in [1, 777, 65_536] {
            let mut w = Windower::new(fs_in, fs, cut, n, hop).unwrap();
            let mut got: Vec<Vec<f64>> = Vec::new();
            let mut keep = |s: &[f64]| -> Result<(), ()> {
                got.push(s.to_vec());
                Ok(())
            };
            for part in x.chunks(chunk) {
                w.push(part, &mut keep).unwrap();
            }
            w.finish(&mut keep).unwrap();
            assert_eq!(got.len(), want.len(), "chunk {chunk}");
            for (g, e) in got.iter().zip(&want) {
                assert!(g.iter().zip(e).all(|(a, b)| a.to_bits() == b.to_bits()), "chunk {chunk}");
            }
        }
    }

    #[test]
    fn a_recording_is_judged_as_the_model_judges_its_windows() {
        let g = BearingGeometry { elements: 9, element_d: 0.3126, pitch_d: 1.537, contact_angle_deg: 0.0 };
        let cfg = AnalysisConfig { null_windows: 32, ..AnalysisConfig::default() };
        let model = MachineModel::new("m", &cfg, g, 12_000.0, 30.0, true).unwrap();
        let x = signal(12_000 * 3);
        // By hand: the whole signal band-limited at rate 1, windows, analyzer, decide.
        let whole = fos_signal::resample::resample(&x, 12_000.0, 12_000.0, model.cutoff_hz).unwrap();
        let mut an = model.analyzer(30.0).unwrap();
        let want: Vec<Verdict> = window_starts(whole.len(), 12_000, 6_000)
            .map(|s| model.decide(&an.analyze(&whole[s..s + 12_000])))
            .collect();
        let mut ra = RecordingAnalysis::new(model.clone(), 12_000.0, 30.0).unwrap();
        let mut got = Vec::new();
        let mut keep = |j: Judged<'_>| -> Result<(), ()> {
            got.push((j.index, j.t_end_s, j.verdict));
            Ok(())
        };
        for part in x.chunks(5000) {
            ra.push(part, &mut keep).unwrap();
        }
        ra.finish(&mut keep).unwrap();
        assert_eq!(ra.windows(), 5);
        assert_eq!(got.len(), want.len());
        for (k, ((i, t, v), w)) in got.iter().zip(&want).enumerate() {
            assert_eq!(*i, k as u64);
            assert_eq!(*t, 1.0 + 0.5 * k as f64);
            assert_eq!(v.score.to_bits(), w.score.to_bits());
            assert_eq!(v, w);
        }
        // An error from the callback stops the stream and comes back.
        let mut ra = RecordingAnalysis::new(model, 12_000.0, 30.0).unwrap();
        assert_eq!(ra.push(&x, &mut |_: Judged<'_>| Err("stop")), Err("stop"));
    }

    #[test]
    fn an_impossible_rate_is_an_error_naming_both_rates() {
        let e = Windower::new(48_000.0, 0.0, 1000.0, 100, 50).unwrap_err().to_string();
        assert!(e.contains("48000") && e.contains("0 Hz"), "{e}");
    }
}
