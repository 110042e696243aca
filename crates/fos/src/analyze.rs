//! `fos analyze`: diagnose one recording (or every non-baseline row of a manifest), with a verdict
//! per window and overall, the physical evidence behind it, and optionally a plot of the spectrum
//! and the envelope spectrum with the fault frequencies marked.

use crate::eval::load_config;
use crate::job::{self, Prepared};
use anyhow::{bail, Context, Result};
use clap::Args;
use fos_core::{BearingGeometry, Label, Role};
use fos_io::manifest::{Manifest, Row};
use fos_models::detector::{MachineModel, Verdict};
use fos_models::features::{family_fundamentals, FamilyEvidence, WindowFeatures, FAMILIES};
use fos_plot::{Figure, Marker, MarkerKind, Panel, Series};
use serde::Serialize;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Flags of `fos analyze`.
#[derive(Debug, Args)]
pub(crate) struct AnalyzeArgs {
    /// The recording (.mat, .csv or .wav). Not needed with --manifest.
    file: Option<PathBuf>,
    /// Which signal: a .mat variable or dotted struct path, a .csv column, a .wav channel index.
    #[arg(long)]
    signal: Option<String>,
    /// Sample rate, Hz (a .wav file's own rate must agree).
    #[arg(long)]
    fs: Option<f64>,
    /// Nominal shaft speed, Hz (rpm / 60); the real speed is estimated from the signal.
    #[arg(long = "shaft-hz")]
    shaft_hz: Option<f64>,
    /// Bearing geometry: elements,element_diameter,pitch_diameter,contact_angle_deg.
    #[arg(long)]
    bearing: Option<String>,
    /// Analyse every non-baseline row of this manifest, calibrated on its baseline rows.
    #[arg(long, conflicts_with = "file")]
    manifest: Option<PathBuf>,
    /// A model file written by `fos eval --save-models` (calibration of the machine).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Analysis settings (TOML).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Draw the spectrum and envelope spectrum of the most anomalous window (.png or .svg).
    #[arg(long)]
    plot: Option<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// One window's verdict, as printed (JSON Lines: `"kind": "window"`).
#[derive(Debug, Serialize)]
struct WindowReport<'a> {
    kind: &'static str,
    path: &'a str,
    t_end_s: f64,
    #[serde(flatten)]
    verdict: &'a Verdict,
    shaft_hz: f64,
    shaft_estimated: bool,
    level: f64,
    impulsiveness: f64,
    kurtosis: f64,
    crest: f64,
    band_lo_hz: f64,
    band_hi_hz: f64,
}

#[derive(Debug, Serialize)]
struct Overall {
    faulty: bool,
    predicted: Label,
    family: Label,
    family_confident: bool,
    flagged_windows: u64,
    windows: u64,
    median_score: f64,
    evidence: Vec<String>,
    strongest: Option<FamilyEvidence>,
}

/// The summary of one recording (JSON Lines: `"kind": "recording"`, after its windows).
#[derive(Debug, Serialize)]
struct RecordingReport {
    kind: &'static str,
    path: String,
    signal: String,
    machine: String,
    label: Option<Label>,
    analysis_fs: f64,
    calibrated: bool,
    overall: Overall,
}

/// A median over a stream of values in bounded memory: a histogram of 0.01-wide bins over
/// [-50, 50) plus exact counts below and above.
#[derive(Debug, Clone)]
struct StreamMedian {
    bins: Vec<u32>,
    below: u64,
    above: u64,
    n: u64,
}

impl StreamMedian {
    const LO: f64 = -50.0;
    const W: f64 = 0.01;
    fn new() -> Self {
        Self { bins: vec![0; 10_000], below: 0, above: 0, n: 0 }
    }
    fn push(&mut self, v: f64) {
        self.n += 1;
        let k = ((v - Self::LO) / Self::W).floor();
        if k.is_nan() || k < 0.0 {
            self.below += 1;
        } else if k as usize >= self.bins.len() {
            self.above += 1;
        } else {
            self.bins[k as usize] += 1;
        }
    }
    fn median(&self) -> f64 {
        if self.n == 0 {
            return f64::NAN;
        }
        let half = self.n.div_ceil(2);
        let mut acc = self.below;
        if acc >= half {
            return Self::LO;
        }
        for (k, c) in self.bins.iter().enumerate() {
            acc += u64::from(*c);
            if acc >= half {
                return Self::LO + (k as f64 + 0.5) * Self::W;
            }
        }
        -Self::LO
    }
}

/// Accumulates the verdicts of one recording in bounded memory and forms the overall verdict:
/// a fault when at least half the windows are flagged (faults persist; isolated events do not), the
/// family most often named by the flagged windows.
struct Judge {
    calibrated: bool,
    windows: u64,
    flagged: u64,
    votes_flagged: [u64; 4],
    votes_all: [u64; 4],
    score: StreamMedian,
    level: StreamMedian,
    family: [StreamMedian; 4],
    strongest: [Option<(f64, f64, FamilyEvidence, WindowSummary)>; 4],
}

#[derive(Debug, Clone)]
struct WindowSummary {
    shaft_hz: f64,
    shaft_estimated: bool,
    band: (f64, f64),
    kurtosis: f64,
}

impl Judge {
    fn new(calibrated: bool) -> Self {
        Self {
            calibrated,
            windows: 0,
            flagged: 0,
            votes_flagged: [0; 4],
            votes_all: [0; 4],
            score: StreamMedian::new(),
            level: StreamMedian::new(),
            family: std::array::from_fn(|_| StreamMedian::new()),
            strongest: Default::default(),
        }
    }

    fn push(&mut self, t_end_s: f64, f: &WindowFeatures, v: &Verdict) {
        self.windows += 1;
        let fi = FAMILIES.iter().position(|l| *l == v.family).unwrap_or(0);
        self.votes_all[fi] += 1;
        if v.faulty {
            self.flagged += 1;
            self.votes_flagged[fi] += 1;
        }
        self.score.push(v.score);
        self.level.push(v.level_score);
        for i in 0..4 {
            self.family[i].push(v.family_scores[i]);
            let s = v.family_scores[i];
            if self.strongest[i].as_ref().is_none_or(|b| s > b.0) {
                if let Some(fe) = f.families.get(i) {
                    let ws = WindowSummary {
                        shaft_hz: f.shaft_hz,
                        shaft_estimated: f.shaft_estimated,
                        band: (f.band_lo_hz, f.band_hi_hz),
                        kurtosis: f.kurtosis,
                    };
                    self.strongest[i] = Some((s, t_end_s, fe.clone(), ws));
                }
            }
        }
    }

    fn overall(&self) -> Overall {
        let faulty = self.windows > 0 && 2 * self.flagged >= self.windows;
        let votes = if self.flagged > 0 { self.votes_flagged } else { self.votes_all };
        let fi = (0..4).max_by_key(|i| votes[*i]).unwrap_or(0);
        let family = FAMILIES[fi];
        let fam_median = self.family[fi].median();
        let mut evidence = vec![if self.calibrated {
            format!(
                "vibration level: median rise score {:.2} over the baseline (1.0 = the smallest significant change)",
                self.level.median()
            )
        } else {
            "vibration level: not judged (no baseline calibration; give --model from `fos eval --save-models`)".to_string()
        }];
        let mut strongest = None;
        let mut family_confident = false;
        if let Some((best, t, fe, ws)) = &self.strongest[fi] {
            family_confident = fam_median > 1.0;
            evidence.push(format!(
                "{family} family (envelope lines at {:.1} Hz and harmonics): median excess score {fam_median:.2}, best {best:.2} \
                 (1.0 = the white-noise line level at the false-alarm budget)",
                fe.fundamental_hz
            ));
            let lines: Vec<String> =
                fe.harmonics.iter().map(|l| format!("{}x: {:.1} Hz at {:.1}x floor", l.order, l.found_hz, l.ratio)).collect();
            evidence.push(format!("strongest window (t = {t:.1} s): {}", lines.join("; ")));
            if !fe.sidebands.is_empty() {
                let sbs = fe.sidebands.iter().filter(|l| l.ratio > 4.0).count();
                evidence.push(format!("{sbs} of {} modulation sidebands stand above 4x floor", fe.sidebands.len()));
            }
            evidence.push(format!(
                "shaft speed {:.3} Hz ({}), envelope band {:.0}-{:.0} Hz, kurtosis {:.1}",
                ws.shaft_hz,
                if ws.shaft_estimated { "estimated from the signal" } else { "nominal" },
                ws.band.0,
                ws.band.1,
                ws.kurtosis
            ));
            strongest = Some(fe.clone());
        }
        if faulty && !family_confident {
            evidence.push(
                "the family's own lines stay below their threshold: the fault is found by its level; the type is the best guess"
                    .to_string(),
            );
        }
        Overall {
            faulty,
            predicted: if faulty { family } else { Label::Normal },
            family,
            family_confident,
            flagged_windows: self.flagged,
            windows: self.windows,
            median_score: self.score.median(),
            evidence,
            strongest,
        }
    }
}

/// Where reports go: text or JSON Lines on stdout, written as windows are judged.
struct Sink<'a> {
    out: std::io::StdoutLock<'a>,
    json: bool,
}

impl Sink<'_> {
    fn header(&mut self, path: &str, signal: &str, model: &MachineModel) -> Result<()> {
        if !self.json {
            writeln!(
                self.out,
                "{path} [{signal}] machine {} at {} Hz{}",
                model.machine,
                model.analysis_fs,
                if model.baseline.is_some() { ", calibrated on baseline" } else { ", physics only (no baseline)" }
            )?;
            writeln!(
                self.out,
                "  {:>7}  {:>7}  {:<7}  {:>6} {:>6} {:>6} {:>6} {:>6}",
                "t_end_s", "score", "verdict", "level", "outer", "inner", "ball", "cage"
            )?;
        }
        Ok(())
    }

    fn window(&mut self, path: &str, t_end_s: f64, f: &WindowFeatures, v: &Verdict) -> Result<()> {
        if self.json {
            let w = WindowReport {
                kind: "window",
                path,
                t_end_s,
                verdict: v,
                shaft_hz: f.shaft_hz,
                shaft_estimated: f.shaft_estimated,
                level: f.level,
                impulsiveness: f.impulsiveness,
                kurtosis: f.kurtosis,
                crest: f.crest,
                band_lo_hz: f.band_lo_hz,
                band_hi_hz: f.band_hi_hz,
            };
            writeln!(self.out, "{}", serde_json::to_string(&w)?)?;
        } else {
            writeln!(
                self.out,
                "  {:>7.1}  {:>7.2}  {:<7}  {:>6.2} {:>6.2} {:>6.2} {:>6.2} {:>6.2}",
                t_end_s,
                v.score,
                v.predicted.as_str(),
                v.level_score,
                v.family_scores[0],
                v.family_scores[1],
                v.family_scores[2],
                v.family_scores[3]
            )?;
        }
        Ok(())
    }

    fn recording(&mut self, r: &RecordingReport) -> Result<()> {
        if self.json {
            writeln!(self.out, "{}", serde_json::to_string(r)?)?;
            return Ok(());
        }
        let o = &r.overall;
        writeln!(
            self.out,
            "  overall: {} ({} of {} windows flagged; most likely family {})",
            if o.faulty { format!("FAULT, {}", o.predicted) } else { "healthy".to_string() },
            o.flagged_windows,
            o.windows,
            o.family
        )?;
        for e in &o.evidence {
            writeln!(self.out, "    - {e}")?;
        }
        if let Some(l) = r.label {
            writeln!(self.out, "  manifest label: {l}")?;
        }
        writeln!(self.out)?;
        Ok(())
    }
}

/// The spectrum and envelope spectrum of the most anomalous window, kept for the plot.
struct PlotKeep {
    score: f64,
    spectrum: Vec<f64>,
    ses: Vec<f64>,
    ses_df: f64,
    shaft_hz: f64,
}

pub(crate) fn run(a: AnalyzeArgs) -> Result<ExitCode> {
    let cfg = load_config(a.config.as_ref())?;
    let mut sink = Sink { out: std::io::stdout().lock(), json: a.json };
    if let Some(mp) = &a.manifest {
        analyze_manifest(mp, &cfg, a.plot.as_deref(), &mut sink)?;
    } else {
        analyze_file(&a, &cfg, &mut sink)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn parse_bearing(s: &str) -> Result<BearingGeometry> {
    let parts: Vec<&str> = s.split(',').map(str::trim).collect();
    if parts.len() != 4 {
        bail!("--bearing wants elements,element_diameter,pitch_diameter,contact_angle_deg (4 numbers), got {s:?}");
    }
    let num = |i: usize, name: &str| -> Result<f64> {
        parts[i].parse::<f64>().with_context(|| format!("--bearing: {name} {:?} is not a number", parts[i]))
    };
    let elements = num(0, "elements")?;
    if elements.fract() != 0.0 || elements < 1.0 {
        bail!("--bearing: elements must be a whole number, got {}", parts[0]);
    }
    let g = BearingGeometry {
        elements: elements as u32,
        element_d: num(1, "element_diameter")?,
        pitch_d: num(2, "pitch_diameter")?,
        contact_angle_deg: num(3, "contact_angle_deg")?,
    };
    g.validate().map_err(|e| anyhow::anyhow!("--bearing: {e}"))?;
    Ok(g)
}

fn analyze_file(a: &AnalyzeArgs, cfg: &fos_models::config::AnalysisConfig, sink: &mut Sink<'_>) -> Result<()> {
    let Some(file) = &a.file else { bail!("give a recording FILE or --manifest M") };
    let need = |o: &Option<String>, flag: &str| -> Result<String> {
        o.clone().with_context(|| format!("{flag} is required with a FILE (see `fos analyze --help`)"))
    };
    let signal = need(&a.signal, "--signal")?;
    let (fs, shaft) = match (a.fs, a.shaft_hz) {
        (Some(f), Some(s)) => (f, s),
        _ => bail!("--fs and --shaft-hz are required with a FILE (see `fos analyze --help`)"),
    };
    if !(fs.is_finite() && fs > 0.0 && shaft.is_finite() && shaft > 0.0) {
        bail!("--fs and --shaft-hz must be positive numbers, got {fs} and {shaft}");
    }
    let model = match &a.model {
        Some(p) => {
            let text = std::fs::read_to_string(p).with_context(|| format!("reading model {}", p.display()))?;
            MachineModel::from_json(&text).with_context(|| format!("in {}", p.display()))?
        }
        None => {
            let g = parse_bearing(&need(&a.bearing, "--bearing")?)?;
            MachineModel::new("cli", cfg, g, fs, shaft, true)?
        }
    };
    let path = file.display().to_string();
    let mut stream = fos_io::open_stream(file, &signal)?;
    if let Some(rate) = stream.file_rate_hz() {
        if (rate - fs).abs() > 1e-9 * rate {
            bail!("{}: the file is sampled at {rate} Hz but --fs says {fs}; give --fs {rate}", file.display());
        }
    }
    // The recording's path through the model, shared with the edge pipeline's replay source.
    let mut analysis = fos_models::window::RecordingAnalysis::new(model.clone(), fs, shaft)
        .with_context(|| format!("{}", file.display()))?;
    let mut judge = Judge::new(model.baseline.is_some());
    let mut keep: Option<PlotKeep> = None;
    sink.header(&path, &signal, &model)?;
    let pb = job::progress(stream.len_hint().unwrap_or(0), "analysing");
    // Samples stream through in chunks: memory stays bounded whatever the recording's length.
    let mut chunk = vec![0.0; 1 << 16];
    let mut on_window = |w: fos_models::window::Judged<'_>| -> Result<()> {
        let (t, f, v) = (w.t_end_s, &w.features, &w.verdict);
        if a.plot.is_some() && keep.as_ref().is_none_or(|k| v.score > k.score) {
            keep = Some(keep_of(w.analyzer, v, f));
        }
        sink.window(&path, t, f, v)?;
        judge.push(t, f, v);
        Ok(())
    };
    loop {
        let got = stream.read(&mut chunk)?;
        pb.inc(got as u64);
        if got == 0 {
            analysis.finish(&mut on_window)?;
            break;
        }
        analysis.push(&chunk[..got], &mut on_window)?;
    }
    pb.finish_and_clear();
    finish(sink, &model, &path, &signal, None, judge, keep, a.plot.as_deref())
}

fn keep_of(an: &fos_models::features::StreamAnalyzer, v: &Verdict, f: &WindowFeatures) -> PlotKeep {
    let o = an.last_output();
    PlotKeep { score: v.score, spectrum: o.spectrum.clone(), ses: o.ses.clone(), ses_df: o.ses_df, shaft_hz: f.shaft_hz }
}

#[allow(clippy::too_many_arguments)]
fn finish(
    sink: &mut Sink<'_>,
    model: &MachineModel,
    path: &str,
    signal: &str,
    label: Option<Label>,
    judge: Judge,
    keep: Option<PlotKeep>,
    plot: Option<&Path>,
) -> Result<()> {
    if judge.windows == 0 {
        bail!("{path} ({signal}): the recording is shorter than one {} s window", model.config.window_s);
    }
    if let (Some(p), Some(k)) = (plot, keep) {
        draw(model, p, path, &k.spectrum, &k.ses, k.ses_df, k.shaft_hz)?;
    }
    sink.recording(&RecordingReport {
        kind: "recording",
        path: path.to_string(),
        signal: signal.to_string(),
        machine: model.machine.clone(),
        label,
        analysis_fs: model.analysis_fs,
        calibrated: model.baseline.is_some(),
        overall: judge.overall(),
    })
}

fn analyze_manifest(
    path: &Path,
    cfg: &fos_models::config::AnalysisConfig,
    plot: Option<&Path>,
    sink: &mut Sink<'_>,
) -> Result<()> {
    let m = Manifest::load(path)?;
    m.check_self()?;
    let rows: Vec<(&Manifest, &Row)> = m.rows.iter().map(|r| (&m, r)).collect();
    let mut machines = job::group_machines(&rows)?;
    let pb = job::progress(rows.len() as u64, "reading");
    job::load_all(&mut machines, cfg, &pb, |r| r.role == Role::Baseline)?;
    pb.finish_and_clear();
    let mut count = 0;
    for mr in &machines {
        let model = job::calibrated_model(mr, cfg, true)?;
        for p in mr.rows.iter().filter(|p| p.row.role != Role::Baseline) {
            let plot_path = plot.map(|pp| numbered(pp, count));
            count += 1;
            analyze_prepared(&model, p, plot_path.as_deref(), sink)?;
        }
    }
    Ok(())
}

fn numbered(p: &Path, i: usize) -> PathBuf {
    if i == 0 {
        return p.to_path_buf();
    }
    let stem = p.file_stem().and_then(|s| s.to_str()).unwrap_or("plot");
    let ext = p.extension().and_then(|s| s.to_str()).unwrap_or("png");
    p.with_file_name(format!("{stem}-{i}.{ext}"))
}

fn analyze_prepared(model: &MachineModel, p: &Prepared<'_>, plot: Option<&Path>, sink: &mut Sink<'_>) -> Result<()> {
    let t0 = p.row.start_s.unwrap_or(0.0);
    let mut judge = Judge::new(model.baseline.is_some());
    let mut keep: Option<PlotKeep> = None;
    sink.header(&p.row.path, &p.row.signal, model)?;
    let mut i = 0usize;
    job::each_window(model, p, |an, f| {
        let v = model.decide(&f);
        let t = t0 + model.config.window_s + i as f64 * model.config.hop_s;
        i += 1;
        if plot.is_some() && keep.as_ref().is_none_or(|k| v.score > k.score) {
            keep = Some(keep_of(an, &v, &f));
        }
        sink.window(&p.row.path, t, &f, &v)?;
        judge.push(t, &f, &v);
        Ok(())
    })?;
    let label = if p.row.label == Label::Unknown { None } else { Some(p.row.label) };
    finish(sink, model, &p.row.path, &p.row.signal, label, judge, keep, plot)
}

fn draw(model: &MachineModel, path: &Path, title: &str, spec: &[f64], ses: &[f64], ses_df: f64, shaft: f64) -> Result<()> {
    let df = model.analysis_fs / (spec.len().saturating_sub(1).max(1) * 2) as f64;
    let fams = family_fundamentals(&model.orders(), shaft);
    let kinds = [MarkerKind::Outer, MarkerKind::Inner, MarkerKind::Ball, MarkerKind::Cage];
    let names = ["BPFO", "BPFI", "2×BSF", "FTF"];
    let h = model.config.harmonics;
    let mut env_markers: Vec<Marker> = (0..4)
        .map(|i| Marker { label: names[i].into(), hz: fams[i], harmonics: h, kind: kinds[i] })
        .collect();
    env_markers.push(Marker { label: "shaft".into(), hz: shaft, harmonics: 1, kind: MarkerKind::Shaft });
    let env_max = (h as f64 + 1.0) * fams[1];
    let fig = Figure {
        title: format!("{title}: most anomalous window"),
        width: 1200,
        height: 800,
        panels: vec![
            Panel {
                title: "Amplitude spectrum (band-limited, analysis rate)".into(),
                x_label: "frequency [Hz]".into(),
                y_label: "amplitude".into(),
                series: Series {
                    label: "|X(f)|".into(),
                    freqs_hz: (0..spec.len()).map(|k| k as f64 * df).collect(),
                    values: spec.to_vec(),
                },
                markers: vec![Marker { label: "shaft".into(), hz: shaft, harmonics: 10, kind: MarkerKind::Shaft }],
                x_max_hz: Some(model.cutoff_hz),
                log_y: true,
            },
            Panel {
                title: "Squared-envelope spectrum (pre-whitened) with fault frequencies".into(),
                x_label: "frequency [Hz]".into(),
                y_label: "amplitude".into(),
                series: Series {
                    label: "SES".into(),
                    freqs_hz: (0..ses.len()).map(|k| k as f64 * ses_df).collect(),
                    values: ses.to_vec(),
                },
                markers: env_markers,
                x_max_hz: Some(env_max),
                log_y: false,
            },
        ],
    };
    fos_plot::render(&fig, path).with_context(|| format!("drawing {}", path.display()))?;
    Ok(())
}
