//! `fos`: the one binary of FOS. This crate is glue, not a library: it parses flags, reads files
//! through `fos-io`, runs the pure models of `fos-models`, and prints reports.

mod analyze;
mod eval;
mod job;
mod synth;

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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Analyze(a) => analyze::run(a),
        Command::Eval(a) => eval::run(a),
        Command::Synth(a) => synth::run(a),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            if let Some(io) = err.downcast_ref::<std::io::Error>() {
                if io.kind() == std::io::ErrorKind::BrokenPipe {
                    return ExitCode::SUCCESS;
                }
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
