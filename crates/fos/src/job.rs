//! Shared machinery of `analyze` and `eval`: loading manifest rows at a machine's common analysis
//! rate, cutting them into decision windows, and running a model over them (in parallel over rows).

use anyhow::{bail, Context, Result};
use fos_core::{BearingGeometry, Role};
use fos_io::manifest::{Manifest, Row};
use fos_models::config::AnalysisConfig;
use fos_models::detector::{MachineModel, Verdict};
use fos_models::features::WindowFeatures;
use fos_models::window::{hop_len, window_starts, Windower};
use indicatif::{ProgressBar, ProgressStyle};
use std::collections::BTreeMap;
use std::time::Duration;

/// One row that takes part in a job, with its samples at the machine's analysis rate.
#[derive(Debug)]
pub(crate) struct Prepared<'a> {
    pub(crate) row: &'a Row,
    pub(crate) samples: Vec<f64>,
}

/// The rows of one machine.
#[derive(Debug)]
pub(crate) struct MachineRows<'a> {
    pub(crate) name: String,
    pub(crate) geometry: BearingGeometry,
    pub(crate) analysis_fs: f64,
    pub(crate) nominal_shaft_hz: f64,
    pub(crate) rows: Vec<Prepared<'a>>,
}

/// Groups rows by machine and checks that each machine has one bearing.
pub(crate) fn group_machines<'a>(rows: &[(&'a Manifest, &'a Row)]) -> Result<Vec<MachineRows<'a>>> {
    let mut by: BTreeMap<&str, Vec<(&'a Manifest, &'a Row)>> = BTreeMap::new();
    for (m, r) in rows {
        by.entry(r.machine.as_str()).or_default().push((m, r));
    }
    let mut out = Vec::new();
    for (name, rs) in by {
        let (m0, r0) = rs[0];
        let info = m0.bearings.get(&r0.bearing).with_context(|| {
            format!("{} line {}: bearing {:?} is not in bearings.csv", m0.path.display(), r0.line, r0.bearing)
        })?;
        for (m, r) in &rs {
            let g = m.bearings.get(&r.bearing).map(|b| b.geometry);
            if g != Some(info.geometry) {
                bail!(
                    "machine {name:?} has rows with different bearing geometry ({} line {} uses {:?}, {} line {} uses {:?}); \
                     a machine is one sensor position on one bearing: give the rows different machine names",
                    m0.path.display(), r0.line, r0.bearing, m.path.display(), r.line, r.bearing
                );
            }
        }
        let analysis_fs = rs.iter().map(|(_, r)| r.fs_hz).fold(f64::INFINITY, f64::min);
        let baseline: Vec<f64> = rs.iter().filter(|(_, r)| r.role == Role::Baseline).map(|(_, r)| r.shaft_hz).collect();
        let all: Vec<f64> = rs.iter().map(|(_, r)| r.shaft_hz).collect();
        let nominal = fos_models::stats::median(if baseline.is_empty() { &all } else { &baseline });
        out.push(MachineRows {
            name: name.to_string(),
            geometry: info.geometry,
            analysis_fs,
            nominal_shaft_hz: nominal,
            rows: rs.iter().map(|(_, r)| Prepared { row: r, samples: Vec::new() }).collect(),
        });
    }
    Ok(out)
}

/// A progress bar on stderr (hidden when stderr is not a terminal).
pub(crate) fn progress(len: u64, what: &str) -> ProgressBar {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template("{spinner} {msg:<12} [{bar:30}] {pos}/{len} {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    pb.set_message(what.to_string());
    pb.enable_steady_tick(Duration::from_millis(120));
    pb
}

/// Loads the rows of every machine that `keep` selects at the machine's analysis rate, band-limited
/// at the machine's cut-off, in parallel. The others stay unloaded and are streamed when analysed.
pub(crate) fn load_all(
    machines: &mut [MachineRows<'_>],
    cfg: &AnalysisConfig,
    pb: &ProgressBar,
    keep: impl Fn(&Row) -> bool,
) -> Result<()> {
    let mut jobs: Vec<(&mut Prepared<'_>, f64)> = Vec::new();
    for m in machines.iter_mut() {
        let fa = m.analysis_fs;
        for p in m.rows.iter_mut() {
            if keep(p.row) {
                jobs.push((p, fa));
            }
        }
    }
    pb.set_length(jobs.len() as u64);
    let results = par_map(jobs, |(p, fa)| -> Result<()> {
        p.samples = load_row_at(p.row, fa, cfg.cutoff_frac * fa)?;
        pb.inc(1);
        Ok(())
    });
    results.into_iter().collect::<Result<Vec<()>>>()?;
    Ok(())
}

/// Reads one manifest row and resamples it to `fs` with an anti-alias low-pass at `cutoff_hz`
/// (applied even when the rate is already `fs`, so every row of a machine is band-limited alike).
pub(crate) fn load_row_at(row: &Row, fs: f64, cutoff_hz: f64) -> Result<Vec<f64>> {
    let x = fos_io::manifest::load_row(row)?;
    fos_signal::resample::resample(&x, row.fs_hz, fs, cutoff_hz)
        .with_context(|| format!("resampling {} ({}) from {} Hz to {fs} Hz", row.file.display(), row.signal, row.fs_hz))
}

/// Streams one manifest row through a [`Windower`]: the same windows as [`load_row_at`] followed by
/// [`window_starts`], in bounded memory whatever the row's length.
pub(crate) fn for_each_window(
    row: &Row,
    fs: f64,
    cutoff_hz: f64,
    n: usize,
    hop: usize,
    mut f: impl FnMut(&[f64]) -> Result<()>,
) -> Result<()> {
    let mut w = Windower::new(row.fs_hz, fs, cutoff_hz, n, hop)
        .with_context(|| format!("{} ({})", row.file.display(), row.signal))?;
    fos_io::stream_row(row, |part| -> Result<()> { w.push(part, &mut f) })?;
    w.finish(&mut f)
}

/// The features of every decision window of a row.
pub(crate) fn row_features(model: &MachineModel, p: &Prepared<'_>) -> Result<Vec<WindowFeatures>> {
    let mut out = Vec::new();
    each_window(model, p, |_, f| {
        out.push(f);
        Ok(())
    })?;
    Ok(out)
}

/// Runs a model's analyzer over every decision window of a row: from its loaded samples, or
/// streamed from its file when they were not loaded (`Prepared::samples` empty).
pub(crate) fn each_window(
    model: &MachineModel,
    p: &Prepared<'_>,
    mut f: impl FnMut(&fos_models::features::StreamAnalyzer, WindowFeatures) -> Result<()>,
) -> Result<()> {
    let mut an = model.analyzer(p.row.shaft_hz)?;
    let n = an.window_len();
    let hop = hop_len(&model.config, model.analysis_fs);
    if p.samples.is_empty() {
        for_each_window(p.row, model.analysis_fs, model.cutoff_hz, n, hop, |w| {
            let feats = an.analyze(w);
            f(&an, feats)
        })
    } else {
        for s in window_starts(p.samples.len(), n, hop) {
            let feats = an.analyze(&p.samples[s..s + n]);
            f(&an, feats)?;
        }
        Ok(())
    }
}

/// A model of machine `m` with settings `cfg`, calibrated on the machine's baseline rows (physics
/// only when it has none).
pub(crate) fn calibrated_model(m: &MachineRows<'_>, cfg: &AnalysisConfig, estimate_speed: bool) -> Result<MachineModel> {
    let mut model = MachineModel::new(&m.name, cfg, m.geometry, m.analysis_fs, m.nominal_shaft_hz, estimate_speed)?;
    let base: Vec<&Prepared<'_>> = m.rows.iter().filter(|p| p.row.role == Role::Baseline).collect();
    let feats: Vec<_> = features_of(&model, &base)?.into_iter().flatten().collect();
    model.calibrate(&feats)?;
    Ok(model)
}

/// Features of many rows, in parallel over rows, in the order given.
pub(crate) fn features_of(model: &MachineModel, rows: &[&Prepared<'_>]) -> Result<Vec<Vec<WindowFeatures>>> {
    par_map(rows.to_vec(), |p| row_features(model, p)).into_iter().collect()
}

/// Verdicts for a row's features.
pub(crate) fn verdicts(model: &MachineModel, feats: &[WindowFeatures]) -> Vec<Verdict> {
    feats.iter().map(|f| model.decide(f)).collect()
}

/// Maps `f` over `items` on all available cores, keeping the order.
pub(crate) fn par_map<T: Send, R: Send>(items: Vec<T>, f: impl Fn(T) -> R + Sync) -> Vec<R> {
    let workers = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).min(items.len().max(1));
    if workers <= 1 {
        return items.into_iter().map(f).collect();
    }
    let n = items.len();
    let mut slots: Vec<Option<R>> = (0..n).map(|_| None).collect();
    let queue = std::sync::Mutex::new(items.into_iter().enumerate());
    let out = std::sync::Mutex::new(&mut slots);
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let next = queue.lock().map(|mut q| q.next()).unwrap_or(None);
                let Some((i, item)) = next else { break };
                let r = f(item);
                if let Ok(mut o) = out.lock() {
                    o[i] = Some(r);
                }
            });
        }
    });
    slots.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn par_map_keeps_order() {
        let v: Vec<usize> = (0..100).collect();
        assert_eq!(par_map(v.clone(), |x| x * 2), v.iter().map(|x| x * 2).collect::<Vec<_>>());
    }
}
