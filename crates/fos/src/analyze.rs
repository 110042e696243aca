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

#[derive(Debug, Serialize)]
struct WindowReport {
    t_end_s: f64,
    #[serde(flatten)]
    verdict: Verdict,
    features: WindowFeatures,
}

#[derive(Debug, Serialize)]
struct Overall {
    faulty: bool,
    predicted: Label,
    family: Label,
    flagged_windows: usize,
    windows: usize,
    median_score: f64,
    evidence: Vec<String>,
}

#[derive(Debug, Serialize)]
struct RecordingReport {
    path: String,
    signal: String,
    machine: String,
    label: Option<Label>,
    analysis_fs: f64,
    calibrated: bool,
    overall: Overall,
    windows: Vec<WindowReport>,
}

pub(crate) fn run(a: AnalyzeArgs) -> Result<ExitCode> {
    let cfg = load_config(a.config.as_ref())?;
    let reports = if let Some(mp) = &a.manifest {
        analyze_manifest(mp, &cfg, a.plot.as_deref())?
    } else {
        vec![analyze_file(&a, &cfg)?]
    };
    let mut out = std::io::stdout().lock();
    if a.json {
        for r in &reports {
            writeln!(out, "{}", serde_json::to_string(r)?)?;
        }
    } else {
        for r in &reports {
            print_text(&mut out, r)?;
        }
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

fn analyze_file(a: &AnalyzeArgs, cfg: &fos_models::config::AnalysisConfig) -> Result<RecordingReport> {
    let Some(file) = &a.file else { bail!("give a recording FILE or --manifest M") };
    let need = |o: &Option<String>, flag: &str| -> Result<String> {
        o.clone().with_context(|| format!("{flag} is required with a FILE (see `fos analyze --help`)"))
    };
    let signal = need(&a.signal, "--signal")?;
    let (fs, shaft) = match (a.fs, a.shaft_hz) {
        (Some(f), Some(s)) => (f, s),
        _ => bail!("--fs and --shaft-hz are required with a FILE (see `fos analyze --help`)"),
    };
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
    let row = adhoc_row(file, &signal, fs, shaft);
    let samples = job::load_row_at(&row, model.analysis_fs, model.cutoff_hz)?;
    let p = Prepared { row: &row, samples };
    analyze_prepared(&model, &p, a.plot.as_deref())
}

/// A manifest row for a recording named on the command line.
fn adhoc_row(file: &Path, signal: &str, fs: f64, shaft_hz: f64) -> Row {
    Row {
        manifest: PathBuf::from("(command line)"),
        line: 0,
        path: file.display().to_string(),
        file: file.to_path_buf(),
        signal: signal.to_string(),
        fs_hz: fs,
        shaft_hz,
        bearing: "cli".to_string(),
        machine: "cli".to_string(),
        bearing_id: "cli".to_string(),
        label: Label::Unknown,
        role: Role::Test,
        start_s: None,
        end_s: None,
        load: None,
    }
}

fn analyze_manifest(path: &Path, cfg: &fos_models::config::AnalysisConfig, plot: Option<&Path>) -> Result<Vec<RecordingReport>> {
    let m = Manifest::load(path)?;
    m.check_self()?;
    let rows: Vec<(&Manifest, &Row)> = m.rows.iter().map(|r| (&m, r)).collect();
    let mut machines = job::group_machines(&rows)?;
    let pb = job::progress(rows.len() as u64, "reading");
    job::load_all(&mut machines, cfg, &pb)?;
    pb.finish_and_clear();
    let mut out = Vec::new();
    for mr in &machines {
        let mut model = MachineModel::new(&mr.name, cfg, mr.geometry, mr.analysis_fs, mr.nominal_shaft_hz, true)?;
        let base: Vec<&Prepared<'_>> = mr.rows.iter().filter(|p| p.row.role == Role::Baseline).collect();
        let feats: Vec<_> = job::features_of(&model, &base)?.into_iter().flatten().collect();
        model.calibrate(&feats)?;
        for p in mr.rows.iter().filter(|p| p.row.role != Role::Baseline) {
            let plot_path = plot.map(|pp| numbered(pp, out.len()));
            out.push(analyze_prepared(&model, p, plot_path.as_deref())?);
        }
    }
    Ok(out)
}

fn numbered(p: &Path, i: usize) -> PathBuf {
    if i == 0 {
        return p.to_path_buf();
    }
    let stem = p.file_stem().and_then(|s| s.to_str()).unwrap_or("plot");
    let ext = p.extension().and_then(|s| s.to_str()).unwrap_or("png");
    p.with_file_name(format!("{stem}-{i}.{ext}"))
}

fn analyze_prepared(model: &MachineModel, p: &Prepared<'_>, plot: Option<&Path>) -> Result<RecordingReport> {
    let mut an = model.analyzer(p.row.shaft_hz)?;
    let n = an.window_len();
    let hop = job::hop_len(&model.config, model.analysis_fs);
    let t0 = p.row.start_s.unwrap_or(0.0);
    let mut windows = Vec::new();
    let mut best: Option<(f64, Vec<f64>, Vec<f64>, f64, f64)> = None;
    for (i, s) in job::window_starts(p.samples.len(), n, hop).enumerate() {
        let f = an.analyze(&p.samples[s..s + n]);
        let v = model.decide(&f);
        if plot.is_some() && best.as_ref().is_none_or(|b| v.score > b.0) {
            let o = an.last_output();
            best = Some((v.score, o.spectrum.clone(), o.ses.clone(), o.ses_df, f.shaft_hz));
        }
        windows.push(WindowReport {
            t_end_s: t0 + model.config.window_s + i as f64 * model.config.hop_s,
            verdict: v,
            features: f,
        });
    }
    if windows.is_empty() {
        bail!(
            "{} ({}): the recording is {:.3} s long, shorter than one {} s window",
            p.row.file.display(),
            p.row.signal,
            p.samples.len() as f64 / model.analysis_fs,
            model.config.window_s
        );
    }
    let overall = overall(&windows);
    if let (Some(path), Some((_, spec, ses, ses_df, shaft))) = (plot, best) {
        draw(model, path, &p.row.path, &spec, &ses, ses_df, shaft)?;
    }
    Ok(RecordingReport {
        path: p.row.path.clone(),
        signal: p.row.signal.clone(),
        machine: model.machine.clone(),
        label: if p.row.label == Label::Unknown { None } else { Some(p.row.label) },
        analysis_fs: model.analysis_fs,
        calibrated: model.baseline.is_some(),
        overall,
        windows,
    })
}

/// The overall verdict: a fault when at least half the windows are flagged (faults persist;
/// isolated events do not), the family most often named by the flagged windows.
fn overall(ws: &[WindowReport]) -> Overall {
    let flagged: Vec<&WindowReport> = ws.iter().filter(|w| w.verdict.faulty).collect();
    let faulty = 2 * flagged.len() >= ws.len();
    let pool: Vec<&WindowReport> = if flagged.is_empty() { ws.iter().collect() } else { flagged.clone() };
    let mut votes = [0usize; 4];
    for w in &pool {
        if let Some(i) = FAMILIES.iter().position(|l| *l == w.verdict.family) {
            votes[i] += 1;
        }
    }
    let fi = (0..4).max_by_key(|i| votes[*i]).unwrap_or(0);
    let family = FAMILIES[fi];
    let scores: Vec<f64> = ws.iter().map(|w| w.verdict.score).collect();
    let median_score = fos_models::stats::median(&scores);
    let mut evidence = Vec::new();
    let lvl: Vec<f64> = ws.iter().map(|w| w.verdict.level_score).collect();
    evidence.push(format!(
        "vibration level: median rise score {:.2} (1.0 = the smallest significant change)",
        fos_models::stats::median(&lvl)
    ));
    let fam_scores: Vec<f64> = pool.iter().map(|w| w.verdict.family_scores[fi]).collect();
    evidence.push(format!(
        "{} family (envelope lines at {:.1} Hz and harmonics): median excess score {:.2}",
        family,
        pool.first().map_or(0.0, |w| w.features.families[fi].fundamental_hz),
        fos_models::stats::median(&fam_scores)
    ));
    if let Some(w) = pool.iter().max_by(|a, b| a.verdict.family_scores[fi].total_cmp(&b.verdict.family_scores[fi])) {
        let fe: &FamilyEvidence = &w.features.families[fi];
        let lines: Vec<String> =
            fe.harmonics.iter().map(|l| format!("{}×: {:.1} Hz at {:.1}× floor", l.order, l.found_hz, l.ratio)).collect();
        evidence.push(format!("strongest window (t = {:.1} s): {}", w.t_end_s, lines.join("; ")));
        let sbs = fe.sidebands.iter().filter(|l| l.ratio > 4.0).count();
        if !fe.sidebands.is_empty() {
            evidence.push(format!("{} of {} modulation sidebands stand above 4× floor", sbs, fe.sidebands.len()));
        }
        evidence.push(format!(
            "shaft speed {:.3} Hz ({}), envelope band {:.0}-{:.0} Hz, kurtosis {:.1}",
            w.features.shaft_hz,
            if w.features.shaft_estimated { "estimated from the signal" } else { "nominal" },
            w.features.band_lo_hz,
            w.features.band_hi_hz,
            w.features.kurtosis
        ));
    }
    Overall {
        faulty,
        predicted: if faulty { family } else { Label::Normal },
        family,
        flagged_windows: flagged.len(),
        windows: ws.len(),
        median_score,
        evidence,
    }
}

fn print_text(out: &mut impl Write, r: &RecordingReport) -> Result<()> {
    writeln!(out, "{} [{}] machine {} at {} Hz{}", r.path, r.signal, r.machine, r.analysis_fs,
        if r.calibrated { ", calibrated on baseline" } else { ", physics only (no baseline)" })?;
    writeln!(out, "  {:>7}  {:>7}  {:<7}  {:>6} {:>6} {:>6} {:>6} {:>6}", "t_end_s", "score", "verdict", "level", "outer", "inner", "ball", "cage")?;
    for w in &r.windows {
        let v = &w.verdict;
        writeln!(
            out,
            "  {:>7.1}  {:>7.2}  {:<7}  {:>6.2} {:>6.2} {:>6.2} {:>6.2} {:>6.2}",
            w.t_end_s, v.score, v.predicted.as_str(), v.level_score,
            v.family_scores[0], v.family_scores[1], v.family_scores[2], v.family_scores[3]
        )?;
    }
    let o = &r.overall;
    writeln!(
        out,
        "  overall: {} ({} of {} windows flagged; most likely family {})",
        if o.faulty { format!("FAULT, {}", o.predicted) } else { "healthy".to_string() },
        o.flagged_windows, o.windows, o.family
    )?;
    for e in &o.evidence {
        writeln!(out, "    - {e}")?;
    }
    if let Some(l) = r.label {
        writeln!(out, "  manifest label: {l}")?;
    }
    writeln!(out)?;
    Ok(())
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
