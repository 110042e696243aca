//! `fos ingest --config FILE`: runs an edge pipeline (sources → log → historian / NATS) or the
//! central consumer, as the file says (see `fos_pipeline::config` for every key and its default).

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use fos_pipeline::config::IngestConfig;
use fos_pipeline::Summary;
use indicatif::{ProgressBar, ProgressStyle};
use tokio::sync::watch;

/// Flags of `fos ingest`.
#[derive(Debug, Args)]
pub(crate) struct IngestArgs {
    /// The pipeline configuration (TOML).
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
    /// The data folder: the log in DIR/pipeline, the historian in DIR/historian.
    #[arg(long, value_name = "DIR", default_value = "fos-data")]
    data_dir: PathBuf,
    /// Stop cleanly after this many seconds (default: run until Ctrl-C, SIGTERM, or every source ends).
    #[arg(long, value_name = "S")]
    seconds: Option<f64>,
    /// Print the final counters as one JSON object on stdout.
    #[arg(long)]
    json: bool,
}

pub(crate) fn ingest(a: IngestArgs) -> Result<ExitCode> {
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(tracing::Level::INFO)
        .with_target(false)
        .try_init();
    let text = std::fs::read_to_string(&a.config).with_context(|| format!("cannot read {}", a.config.display()))?;
    let cfg = IngestConfig::parse(&text, &a.config.display().to_string())?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let signals = stop_tx.clone();
    std::thread::Builder::new().name("fos-signals".into()).spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
        rt.block_on(async {
            wait_signal().await;
            eprintln!("stopping: finishing what is in flight (again to quit at once)");
            let _ = signals.send(true);
            wait_signal().await;
            eprintln!("quitting without a clean shutdown; what was acknowledged is in the log");
            std::process::exit(130);
        });
    })?;
    if let Some(s) = a.seconds {
        let t = stop_tx.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs_f64(s.max(0.0)));
            let _ = t.send(true);
        });
    }
    let bar = std::io::stderr().is_terminal().then(|| {
        let b = ProgressBar::new_spinner();
        b.set_style(ProgressStyle::with_template("{spinner} {elapsed} {msg}").expect("valid template"));
        b
    });
    let mut last_line = std::time::Instant::now();
    let mut progress = |s: &Summary| {
        let msg = format!(
            "{} points acknowledged, {} in the historian, {} records to NATS, backlog {} records{}",
            s.points_acked,
            s.historian_points,
            s.nats_records,
            s.wal_backlog,
            if s.full_waits > 0 { format!(", log full {} times", s.full_waits) } else { String::new() }
        );
        match &bar {
            Some(b) => {
                b.set_message(msg);
                b.tick();
            }
            None if last_line.elapsed() >= Duration::from_secs(10) => {
                last_line = std::time::Instant::now();
                eprintln!("{msg}");
            }
            None => {}
        }
    };
    let summary = fos_pipeline::run(&cfg, &a.data_dir, stop_rx, &mut progress)
        .with_context(|| format!("pipeline of {}", a.config.display()))?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    if a.json {
        println!("{}", serde_json::to_string(&summary)?);
    } else {
        eprintln!(
            "done: {} points in, {} acknowledged, {} committed to the historian in {} commits, {} records to NATS \
             ({} publish errors), {} duplicates skipped, {} gaps; log backlog {} records",
            summary.points_in,
            summary.points_acked,
            summary.historian_points,
            summary.historian_commits,
            summary.nats_records,
            summary.nats_errors,
            summary.duplicates,
            summary.gaps,
            summary.wal_backlog
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn wait_signal() {
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(t) => t,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
