//! What an auditor does with a site's ledger, with the public key only and without writing anything to
//! the data directory.
//!
//! - [`verify`]: the ledger directory's integrity (`fos_ledger::verify_dir`: every frame, every signed
//!   root, nothing added, removed, reordered or cut), that it holds nothing but its two files, that every
//!   record is a canonical provenance record, that the records are consistent (`fos_prov::audit`:
//!   signatures re-verified with the keys the ledger recorded, every execution preceded by its approval
//!   and capability…), and that the working state outside the ledger (`users.json`, `gate/`) agrees with
//!   it. Each problem is named with its file, byte offset and record.
//! - [`chain`]: the provenance chain of a proposal, finding or record, every reference checked.
//! - [`prove`]: offline inclusion bundles for a record or all records of an id; [`check_proofs`] checks
//!   them with nothing else than the public key.
//! - [`export`]: an evidence bundle (see its README, [`EVIDENCE_README`]).
//! - [`checkpoint`] and [`record_proof`]: the latest signed checkpoint and one record with its inclusion
//!   bundle, for a console that verifies proofs in the browser.
//!
//! The free functions read the directory without the site's lock (as the CLI's audit commands do); the
//! [`Site`] methods of the same names run them under the site's mutex and lock, so a long-running
//! server never reads a batch it is appending itself.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use ed25519_dalek::VerifyingKey;
use fos_gate::{Proposal, Role, UserStore};
use fos_ledger::{read_records as read_stored, verify_dir, InclusionBundle, CHECKPOINTS_FILE, RECORDS_FILE};
use fos_prov::audit::{replay, Entry};
use fos_prov::chain::walk;
use fos_prov::{hex, Body, Record};
use serde::Serialize;

use crate::error::{Result, SiteError};
use crate::paths::{now_ms, open_view, site_public_key, view_records, Paths};
use crate::site::Site;

/// One problem found by [`verify`].
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    /// `ledger` (integrity), `record` (content), `consistency` (the records together) or `working-state`.
    pub area: &'static str,
    /// The file.
    pub file: String,
    /// Byte offset in it.
    pub offset: Option<u64>,
    /// The record.
    pub record: Option<u64>,
    /// The checkpoint.
    pub checkpoint: Option<u64>,
    /// What kind of problem.
    pub kind: String,
    /// In words.
    pub detail: String,
}

impl Problem {
    /// One line naming area, file, offset, record, checkpoint, kind and detail.
    pub fn text(&self) -> String {
        let mut s = format!("[{}] {}", self.area, self.file);
        if let Some(o) = self.offset {
            s.push_str(&format!(" at byte {o}"));
        }
        if let Some(r) = self.record {
            s.push_str(&format!(", record {r}"));
        }
        if let Some(c) = self.checkpoint {
            s.push_str(&format!(", checkpoint #{c}"));
        }
        format!("{s}: {}: {}", self.kind, self.detail)
    }
}

/// The outcome of [`verify`].
#[derive(Debug, Clone, Serialize)]
pub struct VerifyOut {
    /// Nothing wrong.
    pub ok: bool,
    /// The ledger directory.
    pub ledger: String,
    /// The site's verifier key, when the directory's own key was used.
    pub verifier_key: Option<String>,
    /// Records read.
    pub records: u64,
    /// Checkpoints read.
    pub checkpoints: u64,
    /// Size of the tree the last good checkpoint signs.
    pub verified_size: u64,
    /// Everything wrong.
    pub problems: Vec<Problem>,
}

/// Verifies the ledger of `paths` with `key` (default: `DIR/keys/ledger.pub`). See the module docs.
pub fn verify(paths: &Paths, key: Option<VerifyingKey>) -> Result<VerifyOut> {
    let dir = paths.ledger();
    let (key, verifier_key) = match key {
        Some(k) => (k, None),
        None => {
            let (origin, k) = site_public_key(paths)?;
            (k, Some(fos_ledger::checkpoint::verifier_key(&origin, &k)))
        }
    };
    let report = verify_dir(&dir, &key);
    let mut problems: Vec<Problem> = report
        .problems
        .iter()
        .map(|p| Problem {
            area: "ledger",
            file: p.file.display().to_string(),
            offset: p.offset,
            record: p.record,
            checkpoint: p.checkpoint,
            kind: p.kind.to_string(),
            detail: p.detail.clone(),
        })
        .collect();
    // Nothing but the two files: every byte there is a committed record or a signed checkpoint.
    if let Ok(entries) = fs::read_dir(&dir) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name != RECORDS_FILE && name != CHECKPOINTS_FILE {
                problems.push(Problem {
                    area: "ledger",
                    file: e.path().display().to_string(),
                    offset: None,
                    record: None,
                    checkpoint: None,
                    kind: "unexpected file".into(),
                    detail: "the ledger directory holds only records.log and checkpoints.log".into(),
                });
            }
        }
    }
    // What the records say.
    let records_path = dir.join(RECORDS_FILE).display().to_string();
    let stored = read_stored(&dir).unwrap_or_default();
    let mut parsed: Vec<(u64, [u8; 32], Record)> = Vec::new();
    for s in &stored {
        match Record::from_bytes(&s.bytes) {
            Ok(r) => parsed.push((s.index, fos_ledger::leaf_hash(&s.bytes), r)),
            Err(e) => problems.push(Problem {
                area: "record",
                file: records_path.clone(),
                offset: Some(s.offset),
                record: Some(s.index),
                checkpoint: None,
                kind: "invalid record".into(),
                detail: e.to_string(),
            }),
        }
    }
    let entries: Vec<Entry<'_>> = parsed.iter().map(|(i, l, r)| Entry { index: *i, leaf_hash: *l, record: r }).collect();
    let summary = replay(&entries);
    let offsets: BTreeMap<u64, u64> = stored.iter().map(|s| (s.index, s.offset)).collect();
    for issue in &summary.issues {
        problems.push(Problem {
            area: "consistency",
            file: records_path.clone(),
            offset: offsets.get(&issue.index).copied(),
            record: Some(issue.index),
            checkpoint: None,
            kind: "inconsistent record".into(),
            detail: issue.problem.clone(),
        });
    }
    problems.extend(working_state(paths, &summary));
    Ok(VerifyOut {
        ok: problems.is_empty(),
        ledger: dir.display().to_string(),
        verifier_key,
        records: report.records,
        checkpoints: report.checkpoints,
        verified_size: report.verified_size,
        problems,
    })
}

/// Compares `users.json` and `gate/` with what the ledger records (read-only).
fn working_state(paths: &Paths, summary: &fos_prov::audit::Summary) -> Vec<Problem> {
    let mut out = Vec::new();
    let mut problem = |file: &Path, kind: &str, detail: String| {
        out.push(Problem {
            area: "working-state",
            file: file.display().to_string(),
            offset: None,
            record: None,
            checkpoint: None,
            kind: kind.into(),
            detail,
        });
    };
    if let Ok(store) = UserStore::open(&paths.data) {
        for u in store.users() {
            match summary.users.get(&u.name) {
                None => problem(store.path(), "unrecorded user", format!("user {} is not recorded in the ledger", u.name)),
                Some((role, key)) if *role != u.role || *key != hex(u.public_key.as_bytes()) => problem(
                    store.path(),
                    "user differs",
                    format!(
                        "user {} is {} with key {} here, but {role} with key {key} in the ledger",
                        u.name,
                        u.role,
                        hex(u.public_key.as_bytes())
                    ),
                ),
                Some(_) => {}
            }
        }
    }
    let proposals = paths.data.join(fos_gate::GATE_DIR).join(fos_gate::PROPOSALS_DIR);
    if let Ok(entries) = fs::read_dir(&proposals) {
        for e in entries.flatten() {
            let path = e.path();
            if path.extension().is_none_or(|x| x != "json") {
                continue;
            }
            let Some(p) = fs::read_to_string(&path).ok().and_then(|t| serde_json::from_str::<Proposal>(&t).ok()) else {
                problem(&path, "unreadable proposal", "not a proposal file".into());
                continue;
            };
            match summary.statuses.get(&p.facts.id) {
                None => problem(&path, "unrecorded proposal", format!("proposal {} is not in the ledger", p.facts.id)),
                Some(s) if *s != p.status => problem(
                    &path,
                    "status differs",
                    format!("proposal {} is {} here but {s} in the ledger", p.facts.id, p.status),
                ),
                Some(_) => {}
            }
        }
    }
    let state = paths.data.join(fos_gate::GATE_DIR).join(fos_gate::STATE_FILE);
    if let Some(halted) = fs::read_to_string(&state)
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v.get("halted").and_then(serde_json::Value::as_bool))
    {
        if halted != summary.halted {
            problem(&state, "stop differs", format!("the gate is {} here but {} in the ledger", stopped(halted), stopped(summary.halted)));
        }
    }
    out
}

fn stopped(h: bool) -> &'static str {
    if h {
        "stopped"
    } else {
        "running"
    }
}

/// A record index from `12` or `#12`.
fn as_index(id: &str) -> Option<u64> {
    id.strip_prefix('#').unwrap_or(id).parse().ok()
}

/// One record of a provenance chain.
#[derive(Debug, Clone, Serialize)]
pub struct LinkOut {
    /// Ledger index.
    pub index: u64,
    /// RFC 9162 leaf hash, hex.
    pub leaf_hash: String,
    /// Record kind.
    pub kind: &'static str,
    /// RFC 3339.
    pub time: String,
    /// Agent id.
    pub actor: String,
    /// Ids it is about.
    pub about: Vec<String>,
    /// One line.
    pub summary: String,
    /// References followed from the start.
    pub depth: u32,
    /// The record that cited it.
    pub cited_by: Option<u64>,
    /// The role it was cited in.
    pub role: Option<String>,
    /// The record itself.
    pub record: serde_json::Value,
}

/// An input cited by content hash.
#[derive(Debug, Clone, Serialize)]
pub struct InputOut {
    /// SHA-256, hex.
    pub sha256: String,
    /// What it is.
    pub entity: String,
    /// Its role.
    pub role: String,
    /// The record citing it.
    pub cited_by: u64,
}

/// The provenance chain of an id or record.
#[derive(Debug, Clone, Serialize)]
pub struct ChainOut {
    /// What was asked for.
    pub id: String,
    /// The record the walk started at.
    pub start: u64,
    /// Records reached, by index.
    pub chain: Vec<LinkOut>,
    /// Inputs cited by content hash.
    pub inputs: Vec<InputOut>,
    /// References that could not be followed (none in an intact ledger).
    pub problems: Vec<String>,
}

/// The provenance chain of a proposal or finding id, `user:NAME`, or a record index (`12`, `#12`), from
/// its last record back.
pub fn chain_of(records: &[([u8; 32], Record)], id: &str) -> Result<ChainOut> {
    let start = match as_index(id) {
        Some(i) if i < records.len() as u64 => i,
        Some(i) => {
            return Err(SiteError::not_found(format!("record {i} is not in the ledger, which holds {} records", records.len())))
        }
        None => records
            .iter()
            .rposition(|(_, r)| r.about.iter().any(|x| x == id))
            .map(|i| i as u64)
            .ok_or_else(|| SiteError::not_found(format!("no record in the ledger is about {id:?}")))?,
    };
    let chain = walk(start, |i| records.get(usize::try_from(i).ok()?).cloned());
    let links = chain
        .links
        .iter()
        .map(|l| LinkOut {
            index: l.index,
            leaf_hash: hex(&l.leaf_hash),
            kind: l.record.kind(),
            time: l.record.time.clone(),
            actor: l.record.actor.id(),
            about: l.record.about.clone(),
            summary: l.record.body.summary(),
            depth: l.depth,
            cited_by: l.cited_by.as_ref().map(|c| c.0),
            role: l.cited_by.as_ref().map(|c| c.1.clone()),
            record: serde_json::to_value(&l.record).unwrap_or_default(),
        })
        .collect();
    let inputs = chain
        .inputs
        .iter()
        .map(|i| InputOut { sha256: i.sha256.clone(), entity: i.entity.clone(), role: i.role.clone(), cited_by: i.cited_by })
        .collect();
    Ok(ChainOut {
        id: id.to_owned(),
        start,
        chain: links,
        inputs,
        problems: chain.problems.iter().map(|p| p.to_string()).collect(),
    })
}

/// [`chain_of`] on the ledger of `paths`, verified with `key` (default: the directory's own).
pub fn chain(paths: &Paths, key: Option<VerifyingKey>, id: &str) -> Result<ChainOut> {
    let (view, _) = open_view(paths, key)?;
    chain_of(&view_records(&view)?, id)
}

/// Inclusion bundles a third party checks offline: one record (`12`, `#12`) or every record about an id.
pub fn prove(paths: &Paths, key: Option<VerifyingKey>, id: &str) -> Result<Vec<InclusionBundle>> {
    let (view, _) = open_view(paths, key)?;
    let indices: Vec<u64> = match as_index(id) {
        Some(i) => vec![i],
        None => {
            let records = view_records(&view)?;
            let v: Vec<u64> = records
                .iter()
                .enumerate()
                .filter(|(_, (_, r))| r.about.iter().any(|x| x == id))
                .map(|(i, _)| i as u64)
                .collect();
            if v.is_empty() {
                return Err(SiteError::not_found(format!("no record in the ledger is about {id:?}")));
            }
            v
        }
    };
    indices
        .iter()
        .map(|&i| {
            view.inclusion_bundle(i).map_err(|e| match e {
                fos_ledger::LedgerError::NoSuchRecord { .. } => SiteError::not_found(e.to_string()),
                other => SiteError::from(other),
            })
        })
        .collect()
}

/// Reads one bundle (a JSON object) or several (an array), as [`prove`] writes them.
pub fn read_bundles(text: &str) -> Result<Vec<InclusionBundle>> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| SiteError::bad_request(format!("not JSON: {e}")))?;
    let items = match value {
        serde_json::Value::Array(items) => items,
        other => vec![other],
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, v)| InclusionBundle::from_json(&v.to_string()).map_err(|e| SiteError::bad_request(format!("bundle {i}: {e}"))))
        .collect()
}

/// One checked bundle.
#[derive(Debug, Clone, Serialize)]
pub struct Checked {
    /// The record's index.
    pub index: u64,
    /// The log's origin.
    pub origin: String,
    /// The checkpoint's tree size.
    pub tree_size: u64,
    /// Its root, hex.
    pub root: String,
    /// When it was signed.
    pub checkpoint_time: String,
    /// The record's kind, when it is a provenance record.
    pub kind: Option<String>,
    /// Ids it is about.
    pub about: Vec<String>,
    /// Its time.
    pub time: Option<String>,
    /// One line.
    pub summary: Option<String>,
    /// Why it is not proven.
    pub error: Option<String>,
}

/// The outcome of [`check_proofs`].
#[derive(Debug, Clone, Serialize)]
pub struct CheckOut {
    /// Every bundle proven.
    pub ok: bool,
    /// Each bundle.
    pub bundles: Vec<Checked>,
}

/// Checks bundles with the site's public key only.
pub fn check_proofs(bundles: &[InclusionBundle], key: &VerifyingKey) -> CheckOut {
    let mut out = Vec::new();
    for b in bundles {
        match b.verify_with_key(key) {
            Ok(v) => {
                let record = Record::from_bytes(&v.record).ok();
                out.push(Checked {
                    index: v.index,
                    origin: v.origin,
                    tree_size: v.tree_size,
                    root: hex(&v.root),
                    checkpoint_time: fos_prov::format_time(v.timestamp_ms),
                    kind: record.as_ref().map(|r| r.kind().to_owned()),
                    about: record.as_ref().map(|r| r.about.clone()).unwrap_or_default(),
                    time: record.as_ref().map(|r| r.time.clone()),
                    summary: record.as_ref().map(|r| r.body.summary()),
                    error: None,
                });
            }
            Err(e) => out.push(Checked {
                index: b.index,
                origin: String::new(),
                tree_size: 0,
                root: String::new(),
                checkpoint_time: String::new(),
                kind: None,
                about: vec![],
                time: None,
                summary: None,
                error: Some(e.to_string()),
            }),
        }
    }
    CheckOut { ok: out.iter().all(|c| c.error.is_none()), bundles: out }
}

/// What [`export`] wrote.
#[derive(Debug, Clone, Serialize)]
pub struct ExportOut {
    /// The folder.
    pub out: String,
    /// Records in the range.
    pub records: usize,
    /// Start of the range, RFC 3339.
    pub from: String,
    /// End of the range (exclusive), RFC 3339.
    pub to: String,
}

/// Writes an evidence bundle of the records with `from_ms <= time < to_ms` to `out` (a new or empty
/// folder). See [`EVIDENCE_README`].
pub fn export(paths: &Paths, key: Option<VerifyingKey>, from_ms: u64, to_ms: u64, out: &Path) -> Result<ExportOut> {
    let (from, to) = (fos_prov::format_time(from_ms), fos_prov::format_time(to_ms));
    if to_ms <= from_ms {
        return Err(SiteError::bad_request(format!("--to {to} is not after --from {from}")));
    }
    let (view, key) = open_view(paths, key)?;
    let records = view_records(&view)?;
    let origin = view.latest_checkpoint().map(|c| c.origin().to_owned()).unwrap_or_default();
    if out.exists() && fs::read_dir(out).map(|mut d| d.next().is_some()).unwrap_or(true) {
        return Err(SiteError::bad_request(format!("{} exists and is not empty; choose a new folder", out.display())));
    }
    let proofs = out.join("proofs");
    fs::create_dir_all(&proofs).map_err(|e| SiteError::io(format!("cannot create {}", proofs.display()), e))?;
    let write = |name: &str, text: String| -> Result<()> {
        let p = out.join(name);
        fs::write(&p, text).map_err(|e| SiteError::io(format!("cannot write {}", p.display()), e))
    };
    let mut lines = String::new();
    let mut in_range = Vec::new();
    for (i, (leaf, r)) in records.iter().enumerate() {
        let t = r.time_ms()?;
        if t < from_ms || t >= to_ms {
            continue;
        }
        let i = i as u64;
        in_range.push(i);
        let line = serde_json::json!({"index": i, "leaf_hash": hex(leaf), "record": r});
        lines.push_str(&format!("{line}\n"));
        let bundle = view.inclusion_bundle(i)?;
        fs::write(proofs.join(format!("{i:08}.json")), bundle.to_json() + "\n")
            .map_err(|e| SiteError::io(format!("cannot write a proof under {}", proofs.display()), e))?;
    }
    write("records.jsonl", lines)?;
    let notes: Vec<&str> = view.checkpoints().iter().map(|c| c.text()).collect();
    write("checkpoints.json", json(&notes)?)?;
    let mut consistency = Vec::new();
    for w in view.checkpoints().windows(2) {
        let (old, new) = (w[0].size(), w[1].size());
        let proof: Vec<String> = view.consistency_proof(old, new)?.iter().map(|h| hex(h)).collect();
        consistency.push(serde_json::json!({"old_size": old, "new_size": new, "proof_hex": proof}));
    }
    write("consistency.json", json(&consistency)?)?;
    write("public-key.txt", format!("{}\n{}\n", fos_ledger::checkpoint::verifier_key(&origin, &key), hex(key.as_bytes())))?;
    let users: Vec<serde_json::Value> = records
        .iter()
        .filter_map(|(_, r)| match &r.body {
            Body::UserAdded(u) => Some(serde_json::json!({"name": u.name, "role": u.role, "public_key": u.public_key, "added_by": u.added_by, "added_at": r.time})),
            _ => None,
        })
        .collect();
    write("users.json", json(&users)?)?;
    match fs::read_to_string(paths.policy()) {
        Ok(policy) => write("policy.toml", policy)?,
        Err(_) => write("policy.toml", "# no policy file in the data directory at export\n".to_owned())?,
    }
    let tally = fos_prov::findings::tally(records.iter().map(|(_, r)| r));
    write("findings.json", json(&tally)?)?;
    let latest = view.latest_checkpoint();
    let summary = serde_json::json!({
        "origin": origin,
        "from": from,
        "to": to,
        "records": in_range.len(),
        "first_index": in_range.first(),
        "last_index": in_range.last(),
        "tree_size": latest.map(|c| c.size()),
        "root": latest.map(|c| hex(c.root())),
        "exported_at": fos_prov::format_time(now_ms()),
        "roles": Role::ALL.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
    });
    write("summary.json", json(&summary)?)?;
    write(
        "README.md",
        EVIDENCE_README
            .replace("FROM", &from)
            .replace("TO (exclusive)", &format!("{to} (exclusive)"))
            .replace("ORIGIN", &origin),
    )?;
    Ok(ExportOut { out: out.display().to_string(), records: in_range.len(), from, to })
}

/// Pretty JSON of a value, with the error as a site error.
fn json<T: Serialize + ?Sized>(v: &T) -> Result<String> {
    serde_json::to_string_pretty(v).map_err(|e| SiteError::internal("cannot write JSON", e))
}

/// The latest signed checkpoint and the key that signs it.
#[derive(Debug, Clone, Serialize)]
pub struct CheckpointOut {
    /// The log's origin, `fos/<site>`.
    pub origin: String,
    /// Records the checkpoint commits.
    pub size: u64,
    /// Merkle root, hex.
    pub root: String,
    /// When it was signed, Unix ms.
    pub timestamp_ms: u64,
    /// When it was signed, RFC 3339.
    pub time: String,
    /// The signed note (C2SP tlog-checkpoint).
    pub note: String,
    /// Signed-note verifier key `name+id+base64`.
    pub verifier_key: String,
    /// Ed25519 public key, hex.
    pub public_key: String,
}

/// One ledger record with its inclusion bundle.
#[derive(Debug, Clone, Serialize)]
pub struct RecordProof {
    /// Ledger index.
    pub index: u64,
    /// RFC 9162 leaf hash, hex.
    pub leaf_hash: String,
    /// The record, parsed.
    pub record: Record,
    /// What a browser (or `fos audit check-proof`) needs to verify it against the public key.
    pub bundle: InclusionBundle,
}

impl Site {
    /// [`verify`] with the site's own key, under the site's lock.
    pub fn audit_verify(&self) -> Result<VerifyOut> {
        self.with(|site| verify(&site.paths, None))
    }

    /// The provenance chain of an id or record ([`chain_of`]).
    pub fn chain(&self, id: &str) -> Result<ChainOut> {
        self.with(|site| chain_of(&site.records, id))
    }

    /// Inclusion bundles of a record or of every record about an id ([`prove`]).
    pub fn prove(&self, id: &str) -> Result<Vec<InclusionBundle>> {
        self.with(|site| prove(&site.paths, None, id))
    }

    /// The latest signed checkpoint (`None` in an empty ledger) and the site's key.
    pub fn checkpoint(&self) -> Result<Option<CheckpointOut>> {
        self.with(|site| {
            let key = site.ledger.verifying_key();
            Ok(site.ledger.latest_checkpoint().map(|c| CheckpointOut {
                origin: c.origin().to_owned(),
                size: c.size(),
                root: hex(c.root()),
                timestamp_ms: c.timestamp_ms(),
                time: fos_prov::format_time(c.timestamp_ms()),
                note: c.text().to_owned(),
                verifier_key: fos_ledger::checkpoint::verifier_key(c.origin(), &key),
                public_key: hex(key.as_bytes()),
            }))
        })
    }

    /// Record `index` with its inclusion bundle under the latest checkpoint.
    pub fn record_proof(&self, index: u64) -> Result<RecordProof> {
        self.with(|site| {
            let Some((leaf, record)) = usize::try_from(index).ok().and_then(|i| site.records.get(i)) else {
                return Err(SiteError::not_found(format!(
                    "record {index} is not in the ledger, which holds {} records",
                    site.records.len()
                )));
            };
            Ok(RecordProof { index, leaf_hash: hex(leaf), record: record.clone(), bundle: site.ledger.inclusion_bundle(index)? })
        })
    }
}

/// The evidence bundle's README: what each file is, how to check it, and which requirement it serves.
pub const EVIDENCE_README: &str = r#"# FOS evidence bundle

Records of the FOS provenance ledger between FROM (inclusive) and TO (exclusive), exported by
`fos audit export` from ORIGIN. Everything here is checkable with the public key alone.

| file | what | how to check |
| --- | --- | --- |
| `public-key.txt` | the site's Ed25519 public key: signed-note verifier key, then 64 hex | compare with the key the site gave you out of band |
| `records.jsonl` | one record per line: `{"index", "leaf_hash", "record"}`; the record is a W3C-PROV-style activity (`kind`, `entity`, `time`, `actor`, `about`, `used`, `wasDerivedFrom`) | `leaf_hash` = SHA-256(0x00 ‖ the record's canonical bytes), as in each proof |
| `proofs/NNNNNNNN.json` | an RFC 9162 inclusion bundle per record: the exact record bytes, its index, the latest signed checkpoint, the audit path | `fos audit check-proof proofs/00000012.json --public-key public-key.txt` (or any RFC 9162 / C2SP tlog-checkpoint verifier) |
| `checkpoints.json` | every signed checkpoint of the log (C2SP tlog-checkpoint notes), in order | each signature with the public key; sizes strictly increase |
| `consistency.json` | RFC 9162 consistency proofs between consecutive checkpoints | the log only grew: nothing committed was changed or removed |
| `users.json` | every user the ledger records: name, role, public key (never passwords or private keys) | approvals' Ed25519 signatures verify against these keys (the `signature` of approval, rejection and reversal records signs the exact payload hash) |
| `policy.toml` | the gate policy in force at export (decision records cite the policy they used by SHA-256) | SHA-256 of this file vs the `policy` content reference of decision records |
| `findings.json` | findings, challenges and their verdicts: confirmed, disputed, open, labels | recount from `records.jsonl` |
| `summary.json` | range, record count, tree size and root of the latest checkpoint, export time | |

## Which requirement each part serves

| requirement | what it asks | evidence here |
| --- | --- | --- |
| EU AI Act Art. 12(1) | automatic recording of events over the system's lifetime | `records.jsonl`: every proposal, decision, approval, stop, execution, finding, with time and actor |
| EU AI Act Art. 12(2) | logs that allow identifying risk situations, post-market monitoring and monitoring of operation | `decision` records (rule, reasons, cumulative deviation vs tolerance), `execution` outcomes, `stop` records, `findings.json` |
| EU AI Act Art. 12(3) (written for remote biometric identification; FOS records the same kinds of facts) | period of use, reference data, input data, the persons who verified results | record times; `used` references to inputs by content hash (waveform blocks, programs, cells) and to the model name and version; `approval` records name and sign as the verifying person |
| EU AI Act Art. 14(4) | people can understand, override, reverse and stop the system | `approval`, `rejection`, `reversal`, `stop` and `resume` records; `capability` records show nothing executed without a durable approval |
| ISO/IEC 42001 A.6.2.8 | AI system recording of event logs | the whole ledger, tamper-evident: `checkpoints.json`, `consistency.json`, `proofs/` |
| ISO/IEC 42001 7.5 | documented information, controlled | `policy.toml`, `users.json`, the signed log |
| AS9100D 8.5.6 | changes to production reviewed, authorized by named persons, recorded | `proposal` (the exact change, its predicted effect), `approval` (who, role, signature), `execution` (what was done, outputs by SHA-256) |
| AS9100D 7.5.3 | documented information protected from loss of integrity | Merkle log with signed checkpoints and proofs |
| AS9100D 8.5.2 | traceability | `wasDerivedFrom` / `used` chains (`fos audit show ID`), content hashes of inputs and outputs |

Checking everything at once: `for f in proofs/*.json; do fos audit check-proof "$f" --public-key public-key.txt; done`.
"#;
