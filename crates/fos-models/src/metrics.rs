//! The figures of an evaluation: decision counts, precision, recall, AUROC, false alarms per healthy
//! hour and the diagnosis confusion, computed from per-decision records anyone can re-check.

use crate::stats::auroc;
use fos_core::Label;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One decision, as printed in the evaluation's `rows`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionRow {
    /// The recording, as the manifest writes it.
    pub path: String,
    /// The signal inside it.
    pub signal: String,
    /// End of the decision's window, seconds from the start of the file.
    pub t_end_s: f64,
    /// Anomaly score (fault when above 1).
    pub score: f64,
    /// The truth: the row's label is a fault.
    pub faulty: bool,
    /// The predicted label (`normal` when not flagged).
    pub predicted: Label,
    /// The true label (not part of the baseline script's keys; kept for re-checking).
    pub label: Label,
    /// The most likely family, even when not flagged.
    pub family: Label,
    /// Whether the family's line evidence stood above its threshold.
    pub family_confident: bool,
}

/// Decision counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Faulty and flagged.
    pub tp: usize,
    /// Healthy and flagged.
    pub fp: usize,
    /// Healthy and not flagged.
    pub tn: usize,
    /// Faulty and not flagged.
    #[serde(rename = "fn")]
    pub fn_: usize,
}

/// Per-label diagnosis accuracy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelAccuracy {
    /// Decisions with this true label.
    pub n: usize,
    /// Of them, diagnosed as this label.
    pub correct: usize,
    /// `correct / n`.
    pub accuracy: Option<f64>,
}

/// Diagnosis figures over the faulty decisions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Diagnosis {
    /// Fraction of faulty decisions whose family was right.
    pub accuracy: Option<f64>,
    /// Macro-averaged F1 over the true labels present.
    pub macro_f1: Option<f64>,
    /// `confusion[true][predicted]` counts.
    pub confusion: BTreeMap<String, BTreeMap<String, usize>>,
    /// Accuracy per true label.
    pub per_label: BTreeMap<String, LabelAccuracy>,
    /// Accuracy over inner- and outer-race decisions together.
    pub race_accuracy: Option<f64>,
    /// Faulty decisions whose family had line evidence above its threshold.
    pub confident_decisions: usize,
    /// Accuracy among those: how often FOS is right when it names a family with physical evidence.
    pub confident_accuracy: Option<f64>,
}

/// Everything an evaluation reports, besides its rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Decision counts.
    pub decisions: Counts,
    /// tp / (tp + fp).
    pub precision: Option<f64>,
    /// tp / (tp + fn).
    pub recall: Option<f64>,
    /// Harmonic mean of precision and recall.
    pub f1: Option<f64>,
    /// Area under the ROC curve of the scores.
    pub auroc: Option<f64>,
    /// Healthy signal judged, seconds (one hop per healthy decision).
    pub healthy_seconds: f64,
    /// fp per healthy hour.
    pub false_alarms_per_hour: Option<f64>,
    /// Diagnosis over faulty decisions.
    pub diagnosis: Diagnosis,
}

/// Computes the summary of `rows` (decisions spaced `hop_s` apart).
pub fn summarize(rows: &[DecisionRow], hop_s: f64) -> Summary {
    let mut c = Counts::default();
    for r in rows {
        match (r.faulty, r.predicted != Label::Normal) {
            (true, true) => c.tp += 1,
            (false, true) => c.fp += 1,
            (false, false) => c.tn += 1,
            (true, false) => c.fn_ += 1,
        }
    }
    let div = |a: usize, b: usize| if b > 0 { Some(a as f64 / b as f64) } else { None };
    let precision = div(c.tp, c.tp + c.fp);
    let recall = div(c.tp, c.tp + c.fn_);
    let f1 = match (precision, recall) {
        (Some(p), Some(r)) if p + r > 0.0 => Some(2.0 * p * r / (p + r)),
        _ => None,
    };
    let scores: Vec<f64> = rows.iter().map(|r| r.score).collect();
    let truth: Vec<bool> = rows.iter().map(|r| r.faulty).collect();
    let healthy_seconds = (c.tn + c.fp) as f64 * hop_s;
    let false_alarms_per_hour = if healthy_seconds > 0.0 { Some(c.fp as f64 / (healthy_seconds / 3600.0)) } else { None };

    let faulty: Vec<&DecisionRow> = rows.iter().filter(|r| r.faulty).collect();
    let mut confusion: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    for r in &faulty {
        *confusion.entry(r.label.to_string()).or_default().entry(r.family.to_string()).or_default() += 1;
    }
    let mut per_label = BTreeMap::new();
    let mut f1s = Vec::new();
    for lab in confusion.keys() {
        let n = faulty.iter().filter(|r| r.label.as_str() == lab).count();
        let correct = faulty.iter().filter(|r| r.label.as_str() == lab && r.family.as_str() == lab).count();
        let predicted = faulty.iter().filter(|r| r.family.as_str() == lab).count();
        let p = if predicted > 0 { correct as f64 / predicted as f64 } else { 0.0 };
        let rc = if n > 0 { correct as f64 / n as f64 } else { 0.0 };
        f1s.push(if p + rc > 0.0 { 2.0 * p * rc / (p + rc) } else { 0.0 });
        per_label.insert(lab.clone(), LabelAccuracy { n, correct, accuracy: div(correct, n) });
    }
    let correct = faulty.iter().filter(|r| r.label == r.family).count();
    let race: Vec<&&DecisionRow> =
        faulty.iter().filter(|r| matches!(r.label, Label::Inner | Label::Outer)).collect();
    let race_correct = race.iter().filter(|r| r.label == r.family).count();
    Summary {
        decisions: c,
        precision,
        recall,
        f1,
        auroc: auroc(&scores, &truth),
        healthy_seconds,
        false_alarms_per_hour,
        diagnosis: Diagnosis {
            accuracy: div(correct, faulty.len()),
            macro_f1: if f1s.is_empty() { None } else { Some(f1s.iter().sum::<f64>() / f1s.len() as f64) },
            confusion,
            per_label,
            race_accuracy: div(race_correct, race.len()),
            confident_decisions: faulty.iter().filter(|r| r.family_confident).count(),
            confident_accuracy: div(
                faulty.iter().filter(|r| r.family_confident && r.label == r.family).count(),
                faulty.iter().filter(|r| r.family_confident).count(),
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(faulty: bool, label: Label, family: Label, flagged: bool, score: f64) -> DecisionRow {
        DecisionRow {
            path: "a.mat".into(),
            signal: "x".into(),
            t_end_s: 1.0,
            score,
            faulty,
            predicted: if flagged { family } else { Label::Normal },
            label,
            family,
            family_confident: flagged,
        }
    }

    #[test]
    fn counts_and_rates() {
        let rows = vec![
            row(true, Label::Inner, Label::Inner, true, 3.0),
            row(true, Label::Outer, Label::Inner, true, 2.0),
            row(true, Label::Outer, Label::Outer, false, 0.5),
            row(false, Label::Normal, Label::Outer, true, 1.5),
            row(false, Label::Normal, Label::Outer, false, 0.1),
        ];
        let s = summarize(&rows, 0.5);
        assert_eq!(s.decisions, Counts { tp: 2, fp: 1, tn: 1, fn_: 1 });
        assert_eq!(s.precision, Some(2.0 / 3.0));
        assert_eq!(s.recall, Some(2.0 / 3.0));
        assert_eq!(s.healthy_seconds, 1.0);
        assert_eq!(s.false_alarms_per_hour, Some(3600.0));
        assert_eq!(s.diagnosis.confusion["outer"]["inner"], 1);
        assert_eq!(s.diagnosis.per_label["outer"].correct, 1);
        assert_eq!(s.diagnosis.race_accuracy, Some(2.0 / 3.0));
        // Scores: positives 3, 2, 0.5; negatives 1.5, 0.1 → 5 of 6 pairs ordered.
        assert!((s.auroc.unwrap() - 5.0 / 6.0).abs() < 1e-12);
    }
}
