//! `fos eval`: the evaluation protocol of the recording manifests.
//!
//! Rows act by their `role`, whichever flag names the manifest: `--train` contributes only its
//! `train` rows, `--test` only its `baseline` and `test` rows. Per machine the detector calibrates on
//! `baseline` rows, chooses among a few physically different analysis variants by the diagnosis
//! figures on `train` rows (when there are any), and decides on `test` rows: one decision per hop
//! (0.5 s) over the latest window (1.0 s). A split that leaks is refused before anything is read.

use crate::job::{self, MachineRows, Prepared};
use anyhow::{Context, Result};
use clap::Args;
use fos_core::{Label, Role};
use fos_io::manifest::{check_split, Manifest, Row};
use fos_models::config::{AnalysisConfig, BandMode};
use fos_models::detector::MachineModel;
use fos_models::metrics::{summarize, DecisionRow, Summary};
use serde::Serialize;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

/// Flags of `fos eval`.
#[derive(Debug, Args)]
pub(crate) struct EvalArgs {
    /// Manifest whose `baseline` and `test` rows are used.
    #[arg(long)]
    test: PathBuf,
    /// Manifest whose `train` rows may be learned from (may be the same file as --test).
    #[arg(long)]
    train: Option<PathBuf>,
    /// Print one compact JSON line (the default is indented JSON).
    #[arg(long)]
    json: bool,
    /// Analysis settings (TOML, see README); defaults are documented in `AnalysisConfig`.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Write the calibrated model of each machine to this folder (`<machine>.model.json`).
    #[arg(long)]
    save_models: Option<PathBuf>,
    /// Leave out the per-decision rows from the output.
    #[arg(long)]
    no_rows: bool,
}

/// One analysis variant the train rows may choose.
#[derive(Debug, Clone, Serialize)]
struct Variant {
    name: &'static str,
    band_mode: BandMode,
    whiten: bool,
    estimate_speed: bool,
}

/// The configured analysis first, then the named variants that differ from it.
fn variants(cfg: &AnalysisConfig) -> Vec<Variant> {
    let all = vec![
        Variant { name: "configured", band_mode: cfg.band_mode, whiten: cfg.whiten, estimate_speed: true },
        Variant { name: "whitened-full-band", band_mode: BandMode::Full, whiten: true, estimate_speed: true },
        Variant { name: "whitened-full-band-nominal-speed", band_mode: BandMode::Full, whiten: true, estimate_speed: false },
        Variant { name: "whitened-kurtogram-band", band_mode: BandMode::Kurtogram, whiten: true, estimate_speed: true },
        Variant { name: "raw-kurtogram-band", band_mode: BandMode::Kurtogram, whiten: false, estimate_speed: true },
    ];
    let mut out: Vec<Variant> = Vec::new();
    for v in all {
        if !out.iter().any(|o| o.band_mode == v.band_mode && o.whiten == v.whiten && o.estimate_speed == v.estimate_speed) {
            out.push(v);
        }
    }
    out
}

#[derive(Debug, Serialize)]
struct VariantScore {
    variant: String,
    train_decisions: usize,
    train_recall: Option<f64>,
    train_diagnosis_accuracy: Option<f64>,
    train_macro_f1: Option<f64>,
}

#[derive(Debug, Serialize)]
struct MachineReport {
    machine: String,
    analysis_fs: f64,
    cutoff_hz: f64,
    band_lo_hz: f64,
    baseline_windows: usize,
    train_rows: usize,
    test_rows: usize,
    chosen_variant: String,
    chosen_by: String,
    selection: Vec<VariantScore>,
    null_threshold: [f64; 4],
}

#[derive(Debug, Serialize)]
struct Report {
    #[serde(flatten)]
    summary: Summary,
    rows: Vec<DecisionRow>,
    machines: Vec<MachineReport>,
    seconds: f64,
}

pub(crate) fn load_config(path: Option<&PathBuf>) -> Result<AnalysisConfig> {
    let Some(p) = path else { return Ok(AnalysisConfig::default()) };
    let text = std::fs::read_to_string(p).with_context(|| format!("reading config {}", p.display()))?;
    let cfg: AnalysisConfig = toml_from_str(&text).with_context(|| format!("in config {}", p.display()))?;
    cfg.validate().map_err(|e| anyhow::anyhow!("in config {}: {e}", p.display()))?;
    Ok(cfg)
}

fn toml_from_str(text: &str) -> Result<AnalysisConfig> {
    Ok(toml::from_str(text)?)
}

pub(crate) fn run(a: EvalArgs) -> Result<ExitCode> {
    let t0 = Instant::now();
    let cfg = load_config(a.config.as_ref())?;
    let test = Manifest::load(&a.test)?;
    let train = match &a.train {
        Some(p) => Some(Manifest::load(p)?),
        None => None,
    };
    check_split(train.as_ref().unwrap_or(&test), &test)?;

    let mut rows: Vec<(&Manifest, &Row)> = Vec::new();
    for r in &test.rows {
        if matches!(r.role, Role::Baseline | Role::Test) {
            rows.push((&test, r));
        }
    }
    if let Some(tr) = &train {
        for r in &tr.rows {
            if r.role == Role::Train {
                rows.push((tr, r));
            }
        }
    }
    if !rows.iter().any(|(_, r)| r.role == Role::Test && r.label != Label::Unknown) {
        anyhow::bail!("{}: no `test` rows with a known label to evaluate", a.test.display());
    }
    let mut machines = job::group_machines(&rows)?;
    let pb = job::progress(rows.len() as u64, "reading");
    // Baseline and train rows are read more than once (calibration, variant selection); test rows are
    // streamed once, so a long test recording never sits in memory.
    job::load_all(&mut machines, &cfg, &pb, |r| r.role != Role::Test)?;
    pb.finish_and_clear();

    let vs = variants(&cfg);
    let pb = job::progress(machines.len() as u64 * 2, "analysing");
    // Variant selection on train rows, per machine; machines without train rows take the variant
    // that did best on the pooled train rows of the others (the method transfers, not the data).
    let mut selections = Vec::new();
    for m in &machines {
        selections.push(select_variant(m, &cfg, &vs)?);
        pb.inc(1);
    }
    let pooled = pooled_choice(&selections, vs.len());
    let mut decisions = Vec::new();
    let mut reports = Vec::new();
    for (m, sel) in machines.iter().zip(selections) {
        let (chosen, how) = match (&sel, pooled) {
            (Some(s), _) => (best_of(s), "train rows of this machine"),
            (None, Some(p)) => (p, "pooled train rows of the other machines"),
            (None, None) => (0, "configuration (no train rows)"),
        };
        let (model, report, rows) = eval_machine(m, &cfg, &vs, chosen, how, sel.unwrap_or_default())?;
        if let Some(dir) = &a.save_models {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            let p = dir.join(format!("{}.model.json", sanitize(&m.name)));
            std::fs::write(&p, model.to_json()).with_context(|| format!("writing {}", p.display()))?;
        }
        decisions.extend(rows);
        reports.push(report);
        pb.inc(1);
    }
    pb.finish_and_clear();
    let summary = summarize(&decisions, cfg.hop_s);
    let report = Report {
        summary,
        rows: if a.no_rows { Vec::new() } else { decisions },
        machines: reports,
        seconds: t0.elapsed().as_secs_f64(),
    };
    let text = if a.json { serde_json::to_string(&report)? } else { serde_json::to_string_pretty(&report)? };
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}")?;
    Ok(ExitCode::SUCCESS)
}

fn sanitize(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect()
}

fn build_model(m: &MachineRows<'_>, cfg: &AnalysisConfig, v: &Variant) -> Result<MachineModel> {
    let c = AnalysisConfig { band_mode: v.band_mode, whiten: v.whiten, ..cfg.clone() };
    job::calibrated_model(m, &c, v.estimate_speed)
}

fn decision_rows(model: &MachineModel, rows: &[&Prepared<'_>]) -> Result<Vec<DecisionRow>> {
    let feats = job::features_of(model, rows)?;
    let mut out = Vec::new();
    for (p, fs) in rows.iter().zip(feats) {
        let t0 = p.row.start_s.unwrap_or(0.0);
        for (i, v) in job::verdicts(model, &fs).into_iter().enumerate() {
            out.push(DecisionRow {
                path: p.row.path.clone(),
                signal: p.row.signal.clone(),
                t_end_s: t0 + model.config.window_s + i as f64 * model.config.hop_s,
                score: v.score,
                faulty: p.row.label.is_fault(),
                predicted: v.predicted,
                label: p.row.label,
                family: v.family,
                family_confident: v.family_confident,
            });
        }
    }
    Ok(out)
}

/// One scored variant: its selection key, its figures on the train rows, and its calibrated model.
type Scored = (f64, VariantScore, MachineModel);

/// Scores every variant on the machine's train rows; `None` without faulty train rows.
fn select_variant(
    m: &MachineRows<'_>,
    cfg: &AnalysisConfig,
    vs: &[Variant],
) -> Result<Option<Vec<Scored>>> {
    let train: Vec<&Prepared<'_>> =
        m.rows.iter().filter(|p| p.row.role == Role::Train && p.row.label != Label::Unknown).collect();
    if !train.iter().any(|p| p.row.label.is_fault()) {
        return Ok(None);
    }
    let mut out = Vec::new();
    for v in vs {
        let model = build_model(m, cfg, v)?;
        let rows = decision_rows(&model, &train)?;
        let s = summarize(&rows, cfg.hop_s);
        let key = s.diagnosis.macro_f1.unwrap_or(0.0) + s.recall.unwrap_or(0.0);
        out.push((
            key,
            VariantScore {
                variant: v.name.to_string(),
                train_decisions: rows.len(),
                train_recall: s.recall,
                train_diagnosis_accuracy: s.diagnosis.accuracy,
                train_macro_f1: s.diagnosis.macro_f1,
            },
            model,
        ));
    }
    Ok(Some(out))
}

/// The first variant with the highest key (ties keep the earlier, i.e. the configured one).
fn best_of(s: &[Scored]) -> usize {
    let mut best = 0;
    for (i, (k, _, _)) in s.iter().enumerate() {
        if *k > s[best].0 + 1e-9 {
            best = i;
        }
    }
    best
}

/// The best variant by the train-decision-weighted key over all machines that had train rows.
fn pooled_choice(sel: &[Option<Vec<Scored>>], n: usize) -> Option<usize> {
    let mut sum = vec![0.0; n];
    let mut any = false;
    for s in sel.iter().flatten() {
        any = true;
        for (i, (k, v, _)) in s.iter().enumerate() {
            sum[i] += k * v.train_decisions as f64;
        }
    }
    if !any {
        return None;
    }
    let mut best = 0;
    for i in 0..n {
        if sum[i] > sum[best] + 1e-9 {
            best = i;
        }
    }
    Some(best)
}

fn eval_machine(
    m: &MachineRows<'_>,
    cfg: &AnalysisConfig,
    vs: &[Variant],
    chosen: usize,
    how: &str,
    selection: Vec<Scored>,
) -> Result<(MachineModel, MachineReport, Vec<DecisionRow>)> {
    let scored = |p: &&Prepared<'_>| p.row.label != Label::Unknown;
    let train = m.rows.iter().filter(|p| p.row.role == Role::Train).filter(scored).count();
    let test: Vec<&Prepared<'_>> = m.rows.iter().filter(|p| p.row.role == Role::Test).filter(scored).collect();
    // The chosen variant's model was already built and calibrated during selection.
    let model = match selection.get(chosen) {
        Some((_, _, model)) => model.clone(),
        None => build_model(m, cfg, &vs[chosen])?,
    };
    let rows = decision_rows(&model, &test)?;
    let report = MachineReport {
        machine: m.name.clone(),
        analysis_fs: model.analysis_fs,
        cutoff_hz: model.cutoff_hz,
        band_lo_hz: model.band_lo_hz,
        baseline_windows: model.baseline.as_ref().map_or(0, |b| b.windows),
        train_rows: train,
        test_rows: test.len(),
        chosen_variant: vs[chosen].name.to_string(),
        chosen_by: how.to_string(),
        selection: selection.into_iter().map(|(_, v, _)| v).collect(),
        null_threshold: model.null.threshold,
    };
    Ok((model, report, rows))
}
