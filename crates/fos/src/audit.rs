//! `fos audit verify|show|prove|check-proof|export`: what an auditor does with a site's ledger, with the
//! public key only and without writing anything to the data directory (`fos_site::audit` does the work;
//! see it for what each check covers).
//!
//! - `verify`: exit 1 when anything is wrong, each problem named with its file, byte offset and record.
//! - `show ID`: the provenance chain of a proposal, finding or record; exit 1 when a reference breaks.
//! - `prove ID`: offline inclusion bundles for a record or all records of a proposal; `check-proof FILE
//!   --public-key K` checks them with nothing else.
//! - `export --from T --to T --out DIR`: an evidence bundle (see its README,
//!   `fos_site::audit::EVIDENCE_README`).

use std::fs;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use ed25519_dalek::VerifyingKey;
use fos_prov::parse_time;
use fos_site::audit;
use fos_site::{parse_public_key, Paths};

use crate::site::DEFAULT_DATA_DIR;

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
    Ok(source.public_key.as_deref().map(parse_public_key).transpose()?)
}

fn verify(a: VerifyArgs) -> Result<ExitCode> {
    let out = audit::verify(&Paths::new(&a.source.data_dir), key_of(&a.source)?)?;
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

fn show(a: ShowArgs) -> Result<ExitCode> {
    let out = audit::chain(&Paths::new(&a.source.data_dir), key_of(&a.source)?, &a.id)?;
    if a.source.json {
        println!("{}", serde_json::to_string(&out)?);
    } else {
        println!("provenance of {} (from record {}):", a.id, out.start);
        for l in &out.chain {
            let via = match (&l.cited_by, &l.role) {
                (Some(c), Some(r)) => format!("  [{r} of #{c}]"),
                _ => String::new(),
            };
            println!("  #{:<5} {} {:<17} {:<24} {}{via}", l.index, l.time, l.kind, l.actor, l.summary);
        }
        for i in &out.inputs {
            println!("  input {} {} ({}, cited by #{})", i.entity, i.sha256, i.role, i.cited_by);
        }
        for p in &out.problems {
            println!("  PROBLEM: {p}");
        }
    }
    Ok(if out.problems.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

fn prove(a: ProveArgs) -> Result<ExitCode> {
    let bundles = audit::prove(&Paths::new(&a.source.data_dir), key_of(&a.source)?, &a.id)?;
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

fn check_proof(a: CheckProofArgs) -> Result<ExitCode> {
    let key = parse_public_key(&a.public_key)?;
    let text = fs::read_to_string(&a.file).with_context(|| format!("cannot read {}", a.file.display()))?;
    let bundles = audit::read_bundles(&text).with_context(|| format!("{}", a.file.display()))?;
    let out = audit::check_proofs(&bundles, &key);
    if a.json {
        println!("{}", serde_json::to_string(&out)?);
    } else {
        for c in &out.bundles {
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
    Ok(if out.ok { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

fn export(a: ExportArgs) -> Result<ExitCode> {
    let from = parse_time(&a.from).with_context(|| "--from")?;
    let to = parse_time(&a.to).with_context(|| "--to")?;
    if to <= from {
        bail!("--to {} is not after --from {}", a.to, a.from);
    }
    let out = audit::export(&Paths::new(&a.source.data_dir), key_of(&a.source)?, from, to, &a.out)?;
    if a.source.json {
        println!("{}", serde_json::to_string(&out)?);
    } else {
        println!("{} record(s) from {} to {} exported to {} (see its README.md)", out.records, out.from, out.to, out.out);
    }
    Ok(ExitCode::SUCCESS)
}
