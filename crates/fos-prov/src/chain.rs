//! The provenance chain of a record: every earlier record it reaches through its `used` and
//! `wasDerivedFrom` references, each reference checked against the record it names.
//!
//! [`walk`] is given a lookup from ledger index to (leaf hash, record) and follows record references
//! breadth-first from the start. A reference must point to an earlier index (the log only grows, so a
//! reference forward or to itself is damage) and carry that record's leaf hash; a reference that does not
//! is reported as a [`ChainProblem`] and not followed. Content references are listed as inputs, not
//! followed (their content lives outside the ledger).

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::record::{hex, Record, Ref};

/// One record in a chain.
#[derive(Debug, Clone, PartialEq)]
pub struct Link {
    /// Its ledger index.
    pub index: u64,
    /// Its leaf hash.
    pub leaf_hash: [u8; 32],
    /// The record.
    pub record: Record,
    /// References followed to reach it from the start (0 for the start).
    pub depth: u32,
    /// The record that first cited it and the role it gave it (`None` for the start).
    pub cited_by: Option<(u64, String)>,
}

/// An input cited by content hash somewhere in the chain.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Input {
    /// SHA-256, hex.
    pub sha256: String,
    /// What it is.
    pub entity: String,
    /// Its role.
    pub role: String,
    /// The record citing it.
    pub cited_by: u64,
}

/// A reference that cannot be followed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChainProblem {
    /// The start itself is not in the lookup.
    #[error("record {index} is not in the ledger")]
    NoStart {
        /// The start.
        index: u64,
    },
    /// A reference to a record at the same or a later index.
    #[error("record {from} cites record {to} (role {role}), which is not earlier: a log only grows, so this is damage")]
    NotEarlier {
        /// The citing record.
        from: u64,
        /// The index cited.
        to: u64,
        /// The role.
        role: String,
    },
    /// A reference to a record the lookup does not have.
    #[error("record {from} cites record {to} (role {role}), which is missing")]
    Missing {
        /// The citing record.
        from: u64,
        /// The index cited.
        to: u64,
        /// The role.
        role: String,
    },
    /// A reference whose leaf hash is not the record's.
    #[error("record {from} cites record {to} (role {role}) with leaf hash {cited}, but record {to} hashes to {actual}: one of them was altered")]
    HashMismatch {
        /// The citing record.
        from: u64,
        /// The index cited.
        to: u64,
        /// The role.
        role: String,
        /// Leaf hash in the reference.
        cited: String,
        /// Leaf hash of the record.
        actual: String,
    },
}

/// A chain: its records in index order, the inputs they cite, and what could not be followed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Chain {
    /// Records reached, by ascending index.
    pub links: Vec<Link>,
    /// Inputs cited by content hash, sorted.
    pub inputs: Vec<Input>,
    /// References that could not be followed.
    pub problems: Vec<ChainProblem>,
}

/// Walks the chain from `start`. `lookup(i)` returns record `i` and its leaf hash, or `None`.
pub fn walk<F>(start: u64, lookup: F) -> Chain
where
    F: Fn(u64) -> Option<([u8; 32], Record)>,
{
    let mut chain = Chain::default();
    let Some((leaf, record)) = lookup(start) else {
        chain.problems.push(ChainProblem::NoStart { index: start });
        return chain;
    };
    let mut found: BTreeMap<u64, Link> = BTreeMap::new();
    let mut inputs = BTreeSet::new();
    let mut queue = VecDeque::from([start]);
    found.insert(start, Link { index: start, leaf_hash: leaf, record, depth: 0, cited_by: None });
    while let Some(at) = queue.pop_front() {
        let (refs, depth) = match found.get(&at) {
            Some(l) => (l.record.references().cloned().collect::<Vec<_>>(), l.depth),
            None => continue,
        };
        for r in refs {
            match r {
                Ref::Content { sha256, entity, role } => {
                    inputs.insert(Input { sha256, entity, role, cited_by: at });
                }
                Ref::Record { index, leaf_hash, role } => {
                    if index >= at {
                        chain.problems.push(ChainProblem::NotEarlier { from: at, to: index, role });
                        continue;
                    }
                    if found.contains_key(&index) {
                        continue;
                    }
                    let Some((actual, record)) = lookup(index) else {
                        chain.problems.push(ChainProblem::Missing { from: at, to: index, role });
                        continue;
                    };
                    if hex(&actual) != leaf_hash {
                        chain.problems.push(ChainProblem::HashMismatch {
                            from: at,
                            to: index,
                            role,
                            cited: leaf_hash,
                            actual: hex(&actual),
                        });
                        continue;
                    }
                    found.insert(index, Link { index, leaf_hash: actual, record, depth: depth + 1, cited_by: Some((at, role)) });
                    queue.push_back(index);
                }
            }
        }
    }
    chain.links = found.into_values().collect();
    chain.inputs = inputs.into_iter().collect();
    chain
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Agent, Body, Resume, Stop};

    fn rec(reason: &str, refs: Vec<Ref>) -> Record {
        let mut r = Record::new(Body::Resume(Resume { reason: reason.into() }), 0, Agent::System { name: "t".into() });
        r.used = refs;
        r
    }

    fn leaf(i: u64) -> [u8; 32] {
        [u8::try_from(i).unwrap_or(255); 32]
    }

    #[test]
    fn follows_references_backwards_and_reports_bad_ones() {
        let records = [
            rec("0", vec![]),
            rec("1", vec![Ref::record(0, leaf(0), "previous"), Ref::content([9; 32], "waveform-block", "evidence")]),
            rec("2", vec![]),
            rec("3", vec![Ref::record(1, leaf(1), "previous"), Ref::record(2, [0; 32], "approver"), Ref::record(3, leaf(3), "self")]),
            rec("4", vec![Ref::record(3, leaf(3), "previous"), Ref::record(9, leaf(9), "ghost")]),
        ];
        let lookup = |i: u64| records.get(usize::try_from(i).ok()?).map(|r| (leaf(i), r.clone()));
        let chain = walk(4, lookup);
        let got: Vec<(u64, u32)> = chain.links.iter().map(|l| (l.index, l.depth)).collect();
        assert_eq!(got, [(0, 3), (1, 2), (3, 1), (4, 0)]);
        assert_eq!(chain.links[1].cited_by, Some((3, "previous".into())));
        assert_eq!(chain.inputs.len(), 1);
        assert_eq!(chain.inputs[0].entity, "waveform-block");
        assert_eq!(chain.problems.len(), 3, "{:?}", chain.problems);
        assert!(chain.problems.iter().any(|p| matches!(p, ChainProblem::HashMismatch { to: 2, .. })));
        assert!(chain.problems.iter().any(|p| matches!(p, ChainProblem::NotEarlier { to: 3, from: 3, .. })));
        assert!(chain.problems.iter().any(|p| matches!(p, ChainProblem::NotEarlier { to: 9, from: 4, .. })));
        let none = walk(7, lookup);
        assert_eq!(none.problems, [ChainProblem::NoStart { index: 7 }]);
        let stop = Record::new(Body::Stop(Stop { reason: "x".into(), held: vec![] }), 0, Agent::System { name: "t".into() });
        assert_eq!(walk(0, |_| Some(([1; 32], stop.clone()))).links.len(), 1);
    }
}
