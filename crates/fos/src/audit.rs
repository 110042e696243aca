//! `fos audit verify|show|prove|check-proof|export`: what an auditor does with a site's ledger, with the
//! public key only and without writing anything to the data directory.
//!
//! - `verify`: the ledger directory's integrity (`fos_ledger::verify_dir`: every frame, every signed root,
//!   nothing added, removed, reordered or cut), that it holds nothing but its two files, that every record
//!   is a canonical provenance record, that the records are consistent (`fos_prov::audit`: signatures
//!   re-verified with the keys the ledger recorded, every execution preceded by its approval and
//!   capability…), and that the working state outside the ledger (`users.json`, `gate/`) agrees with it.
//!   Exit 1 when anything is wrong, each problem named with its file, byte offset and record.
//! - `show ID`: the provenance chain of a proposal, finding or record, every reference checked.
//! - `prove ID`: offline inclusion bundles for a record or all records of a proposal; `check-proof FILE
//!   --public-key K` checks them with nothing else.
//! - `export --from T --to T --out DIR`: an evidence bundle (see its README, written by [`README`]).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Subcommand};
use ed25519_dalek::VerifyingKey;
use fos_gate::{Proposal, Role, UserStore};
use fos_ledger::{read_records, verify_dir, InclusionBundle, CHECKPOINTS_FILE, RECORDS_FILE};
use fos_prov::audit::{replay, Entry};
use fos_prov::chain::walk;
use fos_prov::{hex, parse_time, Body, Record};
use serde::Serialize;

use crate::site::{open_view, parse_public_key, site_public_key, view_records, Paths, DEFAULT_DATA_DIR};

/// Audit the provenance ledger.
#[derive(Debug, Args)]
pub(crate) struct AuditArgs {
    #[command(subcommand)]
    command: AuditCommand,
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Check the ledger: integrity, signatures, record consistency, agreement of the working state.
    Verify(VerifyArgs),
    /// The provenance chain of a proposal, finding (by id) or record (by index, e.g. 12 or #12).
    Show(ShowArgs),
    /// Inclusion bundles a third party checks offline: one record (index) or every record of an id.
    Prove(ProveArgs),
    /// Check inclusion bundles with the site's public key only (no data directory needed).
    CheckProof(CheckProofArgs),
    /// Write an evidence bundle of the records in a time range.
    Export(ExportArgs),
}

#[derive(Debug, Args)]
struct Source {
    /// The data directory.
    #[arg(long, value_name = "DIR", default_value = DEFAULT_DATA_DIR)]
    data_dir: PathBuf,
    /// The site's public key you trust (64 hex digits, a verifier key, or a file); default
    /// DIR/keys/ledger.pub, which trusts the directory itself.
    #[arg(long)]
    public_key: Option<String>,
    /// One JSON object on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct VerifyArgs {
    #[command(flatten)]
    source: Source,
}

#[derive(Debug, Args)]
struct ShowArgs {
    /// A proposal or finding id, user:NAME, or a record index (12 or #12).
    id: String,
    #[command(flatten)]
    source: Source,
}

#[derive(Debug, Args)]
struct ProveArgs {
    /// A record index (12 or #12), or a proposal / finding id (every record about it).
    id: String,
    /// Write the bundle(s) here instead of stdout.
    #[arg(long)]
    out: Option<PathBuf>,
    #[command(flatten)]
    source: Source,
}

#[derive(Debug, Args)]
struct CheckProofArgs {
    /// A bundle (JSON object) or several (JSON array), as `fos audit prove` writes them.
    file: PathBuf,
    /// The site's public key (64 hex digits, a verifier key name+id+base64, or a file holding one).
    #[arg(long)]
    public_key: String,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct ExportArgs {
    /// Start of the range, inclusive: RFC 3339 (2026-05-01T08:00:00Z) or a date (midnight UTC).
    #[arg(long)]
    from: String,
    /// End of the range, exclusive: RFC 3339 or a date (midnight UTC).
    #[arg(long)]
    to: String,
    /// The folder to write (must not exist, or be empty).
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    source: Source,
}

pub(crate) fn run(a: AuditArgs) -> Result<ExitCode> {
    match a.command {
        AuditCommand::Verify(a) => verify(a),
        AuditCommand::Show(a) => show(a),
        AuditCommand::Prove(a) => prove(a),
        AuditCommand::CheckProof(a) => check_proof(a),
        AuditCommand::Export(a) => export(a),
    }
}

fn key_of(source: &Source) -> Result<Option<VerifyingKey>> {
    source.public_key.as_deref().map(parse_public_key).transpose()
}

/// One problem found by `verify`.
#[derive(Debug, Serialize)]
struct Finding {
    /// `ledger` (integrity), `record` (content), `consistency` (the records together) or `working-state`.
    area: &'static str,
    file: String,
    offset: Option<u64>,
    record: Option<u64>,
    checkpoint: Option<u64>,
    kind: String,
    detail: String,
}

impl Finding {
    fn text(&self) -> String {
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

#[derive(Debug, Serialize)]
struct VerifyOut {
    ok: bool,
    ledger: String,
    verifier_key: Option<String>,
    records: u64,
    checkpoints: u64,
    verified_size: u64,
    problems: Vec<Finding>,
}

fn verify(a: VerifyArgs) -> Result<ExitCode> {
    let paths = Paths::new(&a.source.data_dir);
    let dir = paths.ledger();
    let (key, verifier_key) = match key_of(&a.source)? {
        Some(k) => (k, None),
        None => {
            let (origin, k) = site_public_key(&paths)?;
            (k, Some(fos_ledger::checkpoint::verifier_key(&origin, &k)))
        }
    };
    let report = verify_dir(&dir, &key);
    let mut problems: Vec<Finding> = report
        .problems
        .iter()
        .map(|p| Finding {
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
                problems.push(Finding {
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
    let stored = read_records(&dir).unwrap_or_default();
    let mut parsed: Vec<(u64, [u8; 32], Record)> = Vec::new();
    for s in &stored {
        match Record::from_bytes(&s.bytes) {
            Ok(r) => parsed.push((s.index, fos_ledger::leaf_hash(&s.bytes), r)),
            Err(e) => problems.push(Finding {
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
        problems.push(Finding {
            area: "consistency",
            file: records_path.clone(),
            offset: offsets.get(&issue.index).copied(),
            record: Some(issue.index),
            checkpoint: None,
            kind: "inconsistent record".into(),
            detail: issue.problem.clone(),
        });
    }
    problems.extend(working_state(&paths, &summary));
    let out = VerifyOut {
        ok: problems.is_empty(),
        ledger: dir.display().to_string(),
        verifier_key,
        records: report.records,
        checkpoints: report.checkpoints,
        verified_size: report.verified_size,
        problems,
    };
    if a.source.json {
        println!("{}", serde_json::to_string(&out)?);
    } else if out.ok {
        println!(
            "ledger {} intact: {} records under {} checkpoints, all signatures, roots, records and approvals verified",
            out.ledger, out.records, out.checkpoints
        );
    } else {
        println!("ledger {}: {} problem(s)", out.ledger, out.problems.len());
        for p in &out.problems {
            println!("  {}", p.text());
        }
    }
    Ok(if out.ok { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// Compares `users.json` and `gate/` with what the ledger records (read-only).
fn working_state(paths: &Paths, summary: &fos_prov::audit::Summary) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut problem = |file: &Path, kind: &str, detail: String| {
        out.push(Finding {
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
                    format!("user {} is {} with key {} here, but {role} with key {key} in the ledger", u.name, u.role, hex(u.public_key.as_bytes())),
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
            problem(
                &state,
                "stop differs",
                format!("the gate is {} here but {} in the ledger", stopped(halted), stopped(summary.halted)),
            );
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

#[derive(Debug, Serialize)]
struct LinkOut {
    index: u64,
    leaf_hash: String,
    kind: &'static str,
    time: String,
    actor: String,
    about: Vec<String>,
    summary: String,
    depth: u32,
    cited_by: Option<u64>,
    role: Option<String>,
    record: serde_json::Value,
}

fn show(a: ShowArgs) -> Result<ExitCode> {
    let paths = Paths::new(&a.source.data_dir);
    let (view, _) = open_view(&paths, key_of(&a.source)?)?;
    let records = view_records(&view)?;
    let start = match as_index(&a.id) {
        Some(i) if i < records.len() as u64 => i,
        Some(i) => bail!("record {i} is not in the ledger, which holds {} records", records.len()),
        None => records
            .iter()
            .rposition(|(_, r)| r.about.iter().any(|x| x == &a.id))
            .map(|i| i as u64)
            .ok_or_else(|| anyhow!("no record in the ledger is about {:?}", a.id))?,
    };
    let chain = walk(start, |i| records.get(usize::try_from(i).ok()?).cloned());
    let links: Vec<LinkOut> = chain
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
    #[derive(Serialize)]
    struct Input {
        sha256: String,
        entity: String,
        role: String,
        cited_by: u64,
    }
    let inputs: Vec<Input> = chain
        .inputs
        .iter()
        .map(|i| Input { sha256: i.sha256.clone(), entity: i.entity.clone(), role: i.role.clone(), cited_by: i.cited_by })
        .collect();
    let problems: Vec<String> = chain.problems.iter().map(|p| p.to_string()).collect();
    #[derive(Serialize)]
    struct Out<'a> {
        id: &'a str,
        start: u64,
        chain: &'a [LinkOut],
        inputs: &'a [Input],
        problems: &'a [String],
    }
    let out = Out { id: &a.id, start, chain: &links, inputs: &inputs, problems: &problems };
    if a.source.json {
        println!("{}", serde_json::to_string(&out)?);
    } else {
        println!("provenance of {} (from record {start}):", a.id);
        for l in &links {
            let via = match (&l.cited_by, &l.role) {
                (Some(c), Some(r)) => format!("  [{r} of #{c}]"),
                _ => String::new(),
            };
            println!("  #{:<5} {} {:<17} {:<24} {}{via}", l.index, l.time, l.kind, l.actor, l.summary);
        }
        for i in &inputs {
            println!("  input {} {} ({}, cited by #{})", i.entity, i.sha256, i.role, i.cited_by);
        }
        for p in &problems {
            println!("  PROBLEM: {p}");
        }
    }
    Ok(if problems.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

fn prove(a: ProveArgs) -> Result<ExitCode> {
    let paths = Paths::new(&a.source.data_dir);
    let (view, _) = open_view(&paths, key_of(&a.source)?)?;
    let indices: Vec<u64> = match as_index(&a.id) {
        Some(i) => vec![i],
        None => {
            let records = view_records(&view)?;
            let v: Vec<u64> = records
                .iter()
                .enumerate()
                .filter(|(_, (_, r))| r.about.iter().any(|x| x == &a.id))
                .map(|(i, _)| i as u64)
                .collect();
            if v.is_empty() {
                bail!("no record in the ledger is about {:?}", a.id);
            }
            v
        }
    };
    let bundles: Vec<InclusionBundle> = indices.iter().map(|&i| view.inclusion_bundle(i)).collect::<Result<_, _>>()?;
    let text = if let [one] = bundles.as_slice() { one.to_json() } else { serde_json::to_string_pretty(&bundles)? };
    match &a.out {
        Some(path) => {
            fs::write(path, format!("{text}\n")).with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!("{} bundle(s) for {} written to {}", bundles.len(), a.id, path.display());
        }
        None => println!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}

fn read_bundles(text: &str) -> Result<Vec<InclusionBundle>> {
    let value: serde_json::Value = serde_json::from_str(text).context("not JSON")?;
    let items = match value {
        serde_json::Value::Array(items) => items,
        other => vec![other],
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, v)| InclusionBundle::from_json(&v.to_string()).with_context(|| format!("bundle {i}")))
        .collect()
}

fn check_proof(a: CheckProofArgs) -> Result<ExitCode> {
    let key = parse_public_key(&a.public_key)?;
    let text = fs::read_to_string(&a.file).with_context(|| format!("cannot read {}", a.file.display()))?;
    let bundles = read_bundles(&text).with_context(|| format!("{}", a.file.display()))?;
    #[derive(Serialize)]
    struct Checked {
        index: u64,
        origin: String,
        tree_size: u64,
        root: String,
        checkpoint_time: String,
        kind: Option<String>,
        about: Vec<String>,
        time: Option<String>,
        summary: Option<String>,
        error: Option<String>,
    }
    let mut out = Vec::new();
    for b in &bundles {
        match b.verify_with_key(&key) {
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
    let ok = out.iter().all(|c| c.error.is_none());
    if a.json {
        #[derive(Serialize)]
        struct Out<'a> {
            ok: bool,
            bundles: &'a [Checked],
        }
        println!("{}", serde_json::to_string(&Out { ok, bundles: &out })?);
    } else {
        for c in &out {
            match &c.error {
                None => println!(
                    "record {} is in {} (tree of {} records, root {}, signed {}): {} {}",
                    c.index,
                    c.origin,
                    c.tree_size,
                    c.root,
                    c.checkpoint_time,
                    c.kind.as_deref().unwrap_or("(not a provenance record)"),
                    c.summary.as_deref().unwrap_or("")
                ),
                Some(e) => println!("record {}: NOT PROVEN: {e}", c.index),
            }
        }
    }
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// The evidence bundle's README: what each file is, how to check it, and which requirement it serves.
const README: &str = r#"# FOS evidence bundle

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

fn export(a: ExportArgs) -> Result<ExitCode> {
    let from = parse_time(&a.from).with_context(|| "--from")?;
    let to = parse_time(&a.to).with_context(|| "--to")?;
    if to <= from {
        bail!("--to {} is not after --from {}", a.to, a.from);
    }
    let paths = Paths::new(&a.source.data_dir);
    let (view, key) = open_view(&paths, key_of(&a.source)?)?;
    let records = view_records(&view)?;
    let origin = view.latest_checkpoint().map(|c| c.origin().to_owned()).unwrap_or_default();
    if a.out.exists() && fs::read_dir(&a.out).map(|mut d| d.next().is_some()).unwrap_or(true) {
        bail!("{} exists and is not empty; choose a new folder", a.out.display());
    }
    let proofs = a.out.join("proofs");
    fs::create_dir_all(&proofs).with_context(|| format!("cannot create {}", proofs.display()))?;
    let write = |name: &str, text: String| -> Result<()> {
        let p = a.out.join(name);
        fs::write(&p, text).with_context(|| format!("cannot write {}", p.display()))
    };
    let mut lines = String::new();
    let mut in_range = Vec::new();
    for (i, (leaf, r)) in records.iter().enumerate() {
        let t = r.time_ms()?;
        if t < from || t >= to {
            continue;
        }
        let i = i as u64;
        in_range.push(i);
        let line = serde_json::json!({"index": i, "leaf_hash": hex(leaf), "record": r});
        lines.push_str(&format!("{line}\n"));
        let bundle = view.inclusion_bundle(i)?;
        fs::write(proofs.join(format!("{i:08}.json")), bundle.to_json() + "\n")
            .with_context(|| format!("cannot write a proof under {}", proofs.display()))?;
    }
    write("records.jsonl", lines)?;
    let notes: Vec<&str> = view.checkpoints().iter().map(|c| c.text()).collect();
    write("checkpoints.json", serde_json::to_string_pretty(&notes)?)?;
    let mut consistency = Vec::new();
    for w in view.checkpoints().windows(2) {
        let (old, new) = (w[0].size(), w[1].size());
        let proof: Vec<String> = view.consistency_proof(old, new)?.iter().map(|h| hex(h)).collect();
        consistency.push(serde_json::json!({"old_size": old, "new_size": new, "proof_hex": proof}));
    }
    write("consistency.json", serde_json::to_string_pretty(&consistency)?)?;
    write("public-key.txt", format!("{}\n{}\n", fos_ledger::checkpoint::verifier_key(&origin, &key), hex(key.as_bytes())))?;
    let users: Vec<serde_json::Value> = records
        .iter()
        .filter_map(|(_, r)| match &r.body {
            Body::UserAdded(u) => Some(serde_json::json!({"name": u.name, "role": u.role, "public_key": u.public_key, "added_by": u.added_by, "added_at": r.time})),
            _ => None,
        })
        .collect();
    write("users.json", serde_json::to_string_pretty(&users)?)?;
    match fs::read_to_string(paths.policy()) {
        Ok(policy) => write("policy.toml", policy)?,
        Err(_) => write("policy.toml", "# no policy file in the data directory at export\n".to_owned())?,
    }
    let tally = fos_prov::findings::tally(records.iter().map(|(_, r)| r));
    write("findings.json", serde_json::to_string_pretty(&tally)?)?;
    let latest = view.latest_checkpoint();
    let summary = serde_json::json!({
        "origin": origin,
        "from": fos_prov::format_time(from),
        "to": fos_prov::format_time(to),
        "records": in_range.len(),
        "first_index": in_range.first(),
        "last_index": in_range.last(),
        "tree_size": latest.map(|c| c.size()),
        "root": latest.map(|c| hex(c.root())),
        "exported_at": fos_prov::format_time(crate::site::now_ms()),
        "roles": Role::ALL.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
    });
    write("summary.json", serde_json::to_string_pretty(&summary)?)?;
    write(
        "README.md",
        README
            .replace("FROM", &fos_prov::format_time(from))
            .replace("TO (exclusive)", &format!("{} (exclusive)", fos_prov::format_time(to)))
            .replace("ORIGIN", &origin),
    )?;
    #[derive(Serialize)]
    struct Out {
        out: String,
        records: usize,
        from: String,
        to: String,
    }
    let out = Out { out: a.out.display().to_string(), records: in_range.len(), from: fos_prov::format_time(from), to: fos_prov::format_time(to) };
    if a.source.json {
        println!("{}", serde_json::to_string(&out)?);
    } else {
        println!("{} record(s) from {} to {} exported to {} (see its README.md)", out.records, out.from, out.to, out.out);
    }
    Ok(ExitCode::SUCCESS)
}
