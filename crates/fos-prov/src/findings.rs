//! The figures of confirmed and disputed findings: how often the diagnostics were right when a person
//! looked, from the ledger's `finding`, `challenge` and `challenge_verdict` records.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::record::{Body, FindingOutcome, Record};

/// Findings by how their challenges ended.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    /// Findings recorded.
    pub findings: u64,
    /// Findings challenged at least once.
    pub challenged: u64,
    /// Challenged findings whose last verdict confirmed them.
    pub confirmed: u64,
    /// Challenged findings whose last verdict disputed them (the finding was wrong).
    pub disputed: u64,
    /// Challenged findings without a verdict yet.
    pub open: u64,
    /// Labels from verdicts, with how many findings carry each (training labels).
    pub labels: BTreeMap<String, u64>,
}

/// Counts findings and the outcome of their challenges, in record order; a later verdict on the same
/// finding replaces an earlier one.
pub fn tally<'a>(records: impl IntoIterator<Item = &'a Record>) -> Tally {
    #[derive(Default)]
    struct State {
        challenged: bool,
        verdict: Option<(FindingOutcome, String)>,
    }
    let mut findings: BTreeMap<String, State> = BTreeMap::new();
    for r in records {
        match &r.body {
            Body::Finding(f) => {
                findings.entry(f.finding_id.clone()).or_default();
            }
            Body::Challenge(c) => findings.entry(c.finding_id.clone()).or_default().challenged = true,
            Body::ChallengeVerdict(v) => {
                let s = findings.entry(v.finding_id.clone()).or_default();
                s.challenged = true;
                s.verdict = Some((v.outcome, v.label.clone()));
            }
            Body::UserAdded(_)
            | Body::Proposal(_)
            | Body::Decision(_)
            | Body::Approval(_)
            | Body::Rejection(_)
            | Body::Reversal(_)
            | Body::Stop(_)
            | Body::Resume(_)
            | Body::Expiry(_)
            | Body::Capability(_)
            | Body::Execution(_) => {}
        }
    }
    let mut t = Tally { findings: findings.len() as u64, ..Tally::default() };
    for s in findings.values() {
        if !s.challenged {
            continue;
        }
        t.challenged += 1;
        match &s.verdict {
            None => t.open += 1,
            Some((outcome, label)) => {
                match outcome {
                    FindingOutcome::Confirmed => t.confirmed += 1,
                    FindingOutcome::Disputed => t.disputed += 1,
                }
                *t.labels.entry(label.clone()).or_default() += 1;
            }
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Agent, Challenge, ChallengeVerdict, Finding, ModelId};
    use fos_gate::Role;

    fn finding(id: &str) -> Record {
        Record::new(
            Body::Finding(Box::new(Finding {
                finding_id: id.into(),
                model: ModelId { name: "bearing".into(), version: "1".into() },
                machine: "pump-1".into(),
                summary: "outer-race defect".into(),
                label: Some("outer-race".into()),
                score: Some(0.9),
                window: None,
                features: BTreeMap::new(),
                nearest_cases: vec![],
                simulations: vec![],
                file: None,
                signal: None,
            })),
            0,
            Agent::Model { name: "bearing".into(), version: "1".into() },
        )
    }

    fn person() -> Agent {
        Agent::Person { name: "op".into(), role: Role::Operator }
    }

    #[test]
    fn counts_confirmed_disputed_and_open() {
        let challenge = |id: &str| {
            Record::new(Body::Challenge(Challenge { finding_id: id.into(), reason: "humidity".into(), alternative: None }), 0, person())
        };
        let verdict = |id: &str, outcome, label: &str| {
            Record::new(
                Body::ChallengeVerdict(ChallengeVerdict { finding_id: id.into(), outcome, label: label.into(), reason: "checked".into() }),
                0,
                person(),
            )
        };
        let records = [
            finding("f1"),
            finding("f2"),
            finding("f3"),
            finding("f4"),
            challenge("f1"),
            verdict("f1", FindingOutcome::Confirmed, "outer-race"),
            challenge("f2"),
            verdict("f2", FindingOutcome::Confirmed, "outer-race"),
            verdict("f2", FindingOutcome::Disputed, "humidity"),
            challenge("f3"),
        ];
        let t = tally(&records);
        assert_eq!((t.findings, t.challenged, t.confirmed, t.disputed, t.open), (4, 3, 1, 1, 1));
        assert_eq!(t.labels.get("humidity"), Some(&1));
        assert_eq!(t.labels.get("outer-race"), Some(&1));
    }
}
