//! The central consumer: every site's batches from JetStream into one historian, exactly once.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fos_bus::{CentralConsumer, ConsumerConfig, Delivery};
use tokio::sync::watch;

use crate::config::CentralConfig;
use crate::{PipelineError, Result, Stats, Summary};

/// Most deliveries held unacknowledged before a commit (below JetStream's default of 1,000
/// pending acks per consumer).
const MAX_HELD: usize = 512;

/// Reads batches until `stop`, writes them into the historian of `data_dir`, commits with the
/// per-site positions (`site:<name>`), and only then acknowledges them. On start the positions
/// tell the consumer which batches are already stored, so redeliveries are skipped. A batch that
/// cannot be decoded is written to `DATA_DIR/central/rejected/<site>-<seq>.bin`, acknowledged and
/// counted as a gap.
pub fn run_central(
    cfg: &CentralConfig,
    at_rest: &fos_historian::AtRest,
    data_dir: &Path,
    stop: watch::Receiver<bool>,
    progress: &mut dyn FnMut(&Summary),
) -> Result<Summary> {
    let stats = Arc::new(Stats::default());
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(PipelineError::Runtime)?;
    let mut h = crate::store::Store::open(data_dir, at_rest)?;
    let mut mirror = match &cfg.mirror {
        Some(url) => Some(fos_historian::mirror::Mirror::open(url)?),
        None => None,
    };
    let sync = |mirror: &mut Option<fos_historian::mirror::Mirror>| {
        if let Some(m) = mirror {
            match m.sync(data_dir) {
                Ok(r) => {
                    stats.mirrored_files.fetch_add(r.files as u64, Ordering::Relaxed);
                }
                // Local commits are durable; the mirror catches up at the next commit.
                Err(e) => tracing::warn!(error = %e, "mirror: copy failed, retrying after the next commit"),
            }
        }
    };
    sync(&mut mirror);
    let config = ConsumerConfig {
        stream: cfg.stream.clone(),
        tls: cfg.tls.as_ref().map(crate::config::TlsFiles::to_bus),
        ..ConsumerConfig::default()
    };
    let mut backoff = Duration::from_millis(100);
    let mut consumer: Option<CentralConsumer> = None;
    let mut held: Vec<Delivery> = Vec::new();
    let mut uncommitted = 0usize;
    let mut oldest: Option<Instant> = None;
    let mut sites: BTreeMap<String, u64> = BTreeMap::new();
    let mut last_progress = Instant::now();
    let commit_every = Duration::from_millis(cfg.commit_ms);
    let mut force = false;
    loop {
        let stopping = *stop.borrow();
        let due = force
            || held.len() >= MAX_HELD
            || uncommitted >= cfg.commit_points
            || oldest.is_some_and(|t| t.elapsed() >= commit_every)
            || (stopping && !held.is_empty());
        if due {
            let pos: Vec<(String, u64)> = sites.iter().map(|(s, q)| (format!("site:{s}"), *q)).collect();
            let pos: Vec<(&str, u64)> = pos.iter().map(|(k, v)| (k.as_str(), *v)).collect();
            h.commit(&pos)?;
            stats.historian_points.fetch_add(uncommitted as u64, Ordering::Relaxed);
            stats.historian_commits.fetch_add(1, Ordering::Relaxed);
            uncommitted = 0;
            oldest = None;
            force = false;
            sync(&mut mirror);
            for d in held.drain(..) {
                let (site, seq) = (d.site.clone(), d.seq);
                if let Err(e) = rt.block_on(d.ack()) {
                    // Stored already; a redelivery is skipped by the sequence check.
                    tracing::warn!(error = %e, site = %site, seq, "ack failed");
                }
            }
        }
        if last_progress.elapsed() >= Duration::from_secs(1) {
            last_progress = Instant::now();
            progress(&summary(&stats, &consumer));
        }
        if stopping {
            break;
        }
        let Some(c) = consumer.as_mut() else {
            let connect = CentralConsumer::connect_with(&cfg.url, &cfg.durable, config.clone());
            match rt.block_on(async { tokio::time::timeout(Duration::from_secs(5), connect).await }) {
                Ok(Ok(mut c)) => {
                    for (k, v) in h.historian.positions() {
                        if let Some(site) = k.strip_prefix("site:") {
                            c.set_last_seen(site, *v);
                        }
                    }
                    tracing::info!(url = %cfg.url, durable = %cfg.durable, "central consumer connected");
                    consumer = Some(c);
                    backoff = Duration::from_millis(100);
                }
                Ok(Err(e @ fos_bus::BusError::InvalidToken { .. })) => return Err(e.into()),
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, retry_in = ?backoff, "central consumer: cannot connect");
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                }
                Err(_) => tracing::warn!(url = %cfg.url, "central consumer: connect timed out"),
            }
            continue;
        };
        let before = c.duplicates_skipped();
        let next = rt.block_on(async { tokio::time::timeout(Duration::from_millis(100), c.next()).await });
        stats.duplicates.fetch_add(c.duplicates_skipped() - before, Ordering::Relaxed);
        let d = match next {
            Err(_) => continue,
            Ok(Ok(d)) => d,
            Ok(Err(e @ fos_bus::BusError::Malformed { .. })) => {
                tracing::error!(error = %e, "central consumer: malformed message terminated");
                continue;
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "central consumer: reconnecting");
                // Commit and ack what is held before a new consumer starts from the ack floor.
                if !held.is_empty() {
                    force = true;
                    continue;
                }
                consumer = None;
                continue;
            }
        };
        if let Some(g) = d.gap {
            stats.gaps.fetch_add(1, Ordering::Relaxed);
            tracing::error!(site = %d.site, %g, "batches missing from this site");
        }
        match h.write(&d.payload)? {
            Ok((n, _)) => uncommitted += n,
            Err(error) => {
                let dir = data_dir.join("central").join("rejected");
                std::fs::create_dir_all(&dir).map_err(|e| PipelineError::Io { path: dir.clone(), action: "create", source: e })?;
                let path = dir.join(format!("{}-{}.bin", d.site, d.seq));
                std::fs::write(&path, &d.payload).map_err(|e| PipelineError::Io { path: path.clone(), action: "write", source: e })?;
                stats.gaps.fetch_add(1, Ordering::Relaxed);
                tracing::error!(site = %d.site, seq = d.seq, %error, file = %path.display(), "undecodable batch set aside");
            }
        }
        oldest.get_or_insert_with(Instant::now);
        sites.insert(d.site.clone(), d.seq);
        held.push(d);
    }
    sync(&mut mirror);
    let s = summary(&stats, &consumer);
    progress(&s);
    Ok(s)
}

fn summary(stats: &Stats, _c: &Option<CentralConsumer>) -> Summary {
    stats.snapshot()
}
