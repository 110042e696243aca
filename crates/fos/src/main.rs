//! `fos`: the one binary of FOS. This crate is glue, not a library: it parses flags, reads files
//! through `fos-io`, runs the pure models of `fos-models`, and prints reports.

mod analyze;
mod audit;
mod connect;
mod eval;
mod findings;
mod gate;
mod ingest;
mod job;
mod site;
mod store;
mod synth;
mod users;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// FOS, a factory operating system for physics-aware industrial AI.
#[derive(Debug, Parser)]
#[command(name = "fos", version, about = "FOS, a factory operating system for physics-aware industrial AI", long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Diagnose a vibration recording: a verdict per window and overall, with physical evidence.
    Analyze(analyze::AnalyzeArgs),
    /// Evaluate the detector on a manifest: calibrate on baseline rows, learn from train rows,
    /// decide on test rows; prints one JSON object.
    Eval(eval::EvalArgs),
    /// Write a synthetic bearing test rig (WAV and CSV recordings with a manifest) to a folder.
    Synth(synth::SynthArgs),
    /// Read tags from a controller once (Modbus TCP, OPC UA, S7, EtherNet/IP, MELSEC).
    Read(connect::ReadArgs),
    /// List a device's tags or nodes (OPC UA; Logix where the controller supports it).
    Browse(connect::BrowseArgs),
    /// Subscribe to MQTT topics (optionally Sparkplug B) or OPC UA nodes.
    Subscribe(connect::SubscribeArgs),
    /// Poll the devices and groups of a connectivity config file.
    Poll(connect::PollArgs),
    /// Carry out a write approved by the safety gate (needs the gate's signed permit and key).
    Write(connect::WriteArgs),
    /// Measure read throughput against a device: tags/s and CPU per 10,000 tags/s.
    BenchRead(connect::BenchReadArgs),
    /// Load CSV data sets into the historian: each numeric column becomes the tag
    /// `<file stem>.<column>`.
    Import(store::ImportArgs),
    /// Run an edge pipeline (sources → write-ahead log → historian and NATS) or the central
    /// consumer, from a TOML configuration.
    Ingest(ingest::IngestArgs),
    /// Run SQL over the historian's table `samples(time, tag, value, quality)`; prints a table,
    /// JSON Lines or CSV.
    Query(store::QueryArgs),
    /// Manage the people of a site: roles, password hashes, signing keys.
    Users(users::UsersArgs),
    /// The safety gate: propose, approve, reject, stop, resume and execute control changes.
    Gate(gate::GateArgs),
    /// Audit the tamper-evident provenance ledger: verify, show chains, prove, export evidence.
    Audit(audit::AuditArgs),
    /// The case library of historical failures behind findings: build it from manifests.
    Cases(findings::CasesArgs),
    /// Findings of the bearing diagnostics with their provenance; challenges, verdicts, figures, labels.
    Findings(findings::FindingsArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Analyze(a) => analyze::run(a),
        Command::Eval(a) => eval::run(a),
        Command::Synth(a) => synth::run(a),
        Command::Read(a) => connect::read(a),
        Command::Browse(a) => connect::browse(a),
        Command::Subscribe(a) => connect::subscribe(a),
        Command::Poll(a) => connect::poll(a),
        Command::Write(a) => connect::write(a),
        Command::BenchRead(a) => connect::bench_read(a),
        Command::Import(a) => store::import(a),
        Command::Query(a) => store::query(a),
        Command::Ingest(a) => ingest::ingest(a),
        Command::Users(a) => users::run(a),
        Command::Gate(a) => gate::run(a),
        Command::Audit(a) => audit::run(a),
        Command::Cases(a) => findings::run_cases(a),
        Command::Findings(a) => findings::run(a),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            // A reader that went away (`fos query ... | head`) is not an error, wherever in the chain
            // the broken pipe was wrapped (the Arrow writers wrap it in their own error type).
            let broken_pipe = err.chain().any(|c| {
                c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
                    || c.to_string().contains("Broken pipe")
            });
            if broken_pipe {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {}", report(&err));
            ExitCode::from(2)
        }
    }
}

/// The error and its causes on one line, leaving out a cause whose text the message already holds
/// (library errors often print their source themselves).
fn report(err: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}
