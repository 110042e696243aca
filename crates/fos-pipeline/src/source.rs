//! Sources: what puts batches into the pipeline. Each runs as an async task, sends [`Envelope`]s
//! into a bounded channel (so a slow log makes sources wait: backpressure) and stops when the stop
//! signal turns true.

use std::collections::{HashMap, VecDeque};
use std::io::Write as _;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use tokio::sync::{mpsc, oneshot, watch};

use crate::config::{GeneratorConfig, PollSourceConfig};
use crate::record::Batch;
use crate::{PipelineError, Result};

/// One batch on its way to the log.
#[derive(Debug)]
pub struct Envelope {
    /// The source's name.
    pub source: Arc<str>,
    /// The source's position after this batch (resumable sources), recorded with it in the log.
    pub position: Option<u64>,
    /// The points.
    pub batch: Batch,
    /// Raw waveform blocks to store (each with its content hash) besides the points.
    pub waveforms: Vec<fos_historian::WaveformBlock>,
    /// Told the log sequence number of the batch's last record once it is durable.
    pub ack: Option<oneshot::Sender<u64>>,
}

/// Parses an RFC 3339 UTC time into ns since the Unix epoch.
pub fn parse_time(s: &str) -> std::result::Result<i64, String> {
    let t = humantime::parse_rfc3339(s).map_err(|e| format!("{s:?} is not an RFC 3339 time: {e}"))?;
    let d = t.duration_since(UNIX_EPOCH).map_err(|_| format!("{s:?} is before 1970"))?;
    i64::try_from(d.as_nanos()).map_err(|_| format!("{s:?} is too far in the future"))
}

/// The generator's value of tag `i` at scan `s`: a deterministic function that exercises the
/// value encoding (fractions, signs, a wide range), so tests can recompute every point.
pub fn generator_value(scan: u64, tag: u32) -> f64 {
    let x = scan.wrapping_mul(2_654_435_761).wrapping_add(u64::from(tag).wrapping_mul(40_503)) % 1_000_003;
    (x as f64 - 500_000.0) / 64.0 + f64::from(tag)
}

/// Runs a generator: scans `from..` (stopping after `cfg.scans` in all, when set).
pub(crate) async fn run_generator(
    cfg: GeneratorConfig,
    from: u64,
    tx: mpsc::Sender<Envelope>,
    mut stop: watch::Receiver<bool>,
) -> Result<()> {
    let name: Arc<str> = Arc::from(cfg.name.as_str());
    let tags: Vec<Arc<str>> = (0..cfg.tags).map(|i| Arc::from(format!("{}.t{i}", cfg.name))).collect();
    let start = parse_time(&cfg.start).map_err(|reason| PipelineError::Config { origin: cfg.name.clone(), reason })?;
    let interval_ns = i64::try_from(cfg.interval_ms).unwrap_or(i64::MAX / 2).saturating_mul(1_000_000);
    let mut ack_log = match &cfg.ack_log {
        Some(p) => Some(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .map_err(|e| PipelineError::Io { path: p.clone(), action: "open the ack log", source: e })?,
        ),
        None => None,
    };
    let mut pending: VecDeque<(u64, oneshot::Receiver<u64>)> = VecDeque::new();
    let mut scan = from;
    let t0 = tokio::time::Instant::now();
    loop {
        if *stop.borrow() || (cfg.scans > 0 && scan >= cfg.scans) {
            break;
        }
        let last = match cfg.scans {
            0 => scan + cfg.scans_per_batch - 1,
            n => (scan + cfg.scans_per_batch - 1).min(n - 1),
        };
        if cfg.realtime {
            let due = t0 + Duration::from_millis(cfg.interval_ms.saturating_mul(last + 1 - from));
            tokio::select! {
                _ = tokio::time::sleep_until(due) => {}
                _ = stop.changed() => continue,
            }
        }
        let mut batch = Batch { tags: tags.clone(), ..Batch::default() };
        let n = (last + 1 - scan) as usize * tags.len();
        batch.tag.reserve(n);
        batch.time.reserve(n);
        batch.value.reserve(n);
        batch.quality.reserve(n);
        for s in scan..=last {
            let t = start.saturating_add(interval_ns.saturating_mul(s as i64));
            for i in 0..cfg.tags {
                batch.push(i, t, generator_value(s, i), 0);
            }
        }
        let (ack, rx) = if ack_log.is_some() {
            let (a, r) = oneshot::channel();
            (Some(a), Some(r))
        } else {
            (None, None)
        };
        let env = Envelope { source: name.clone(), position: Some(last), batch, waveforms: Vec::new(), ack };
        if tx.send(env).await.is_err() {
            break;
        }
        if let Some(rx) = rx {
            pending.push_back((last, rx));
        }
        // Log acknowledgements as they come, without waiting for each before the next batch.
        while let Some((_, rx)) = pending.front_mut() {
            match rx.try_recv() {
                Ok(_) => {
                    let (s, _) = pending.pop_front().expect("front exists");
                    write_ack(&mut ack_log, s)?;
                }
                Err(oneshot::error::TryRecvError::Empty) if pending.len() < 64 => break,
                Err(oneshot::error::TryRecvError::Empty) => {
                    let (s, rx) = pending.pop_front().expect("front exists");
                    if rx.await.is_ok() {
                        write_ack(&mut ack_log, s)?;
                    }
                }
                Err(oneshot::error::TryRecvError::Closed) => {
                    pending.pop_front();
                }
            }
        }
        scan = last + 1;
    }
    drop(tx);
    for (s, rx) in pending {
        if rx.await.is_ok() {
            write_ack(&mut ack_log, s)?;
        }
    }
    Ok(())
}

fn write_ack(log: &mut Option<std::fs::File>, scan: u64) -> Result<()> {
    if let Some(f) = log {
        // One write(2) per line: a crash after it returns leaves the line in the page cache.
        f.write_all(format!("{scan}\n").as_bytes())
            .map_err(|e| PipelineError::Io { path: "ack log".into(), action: "append", source: e })?;
    }
    Ok(())
}

/// Quality code of the historian for a driver's quality.
pub fn quality_code(q: fos_connect::Quality) -> u8 {
    use fos_connect::Quality as Q;
    match q {
        Q::Good => fos_historian::quality::GOOD,
        Q::Uncertain => fos_historian::quality::UNCERTAIN,
        Q::BadNotConnected => 3,
        Q::BadTimeout => 4,
        Q::BadAddress => 5,
        Q::BadTypeMismatch => 6,
        Q::BadDevice => 7,
        Q::BadProtocol => 8,
    }
}

/// Runs the pollers of a poll source and turns their samples into batches of up to 4,096 points,
/// sent when full or 50 ms after their first point. A poll source is not resumable: after a
/// restart it reads what the devices hold then.
pub(crate) async fn run_poll(
    cfg: PollSourceConfig,
    tx: mpsc::Sender<Envelope>,
    stop: watch::Receiver<bool>,
) -> Result<()> {
    let mut devices = cfg.device.clone();
    if let Some(path) = &cfg.config {
        let text = std::fs::read_to_string(path)
            .map_err(|e| PipelineError::Io { path: path.clone(), action: "read", source: e })?;
        let c = fos_connect::config::ConnectConfig::parse(&text, &path.display().to_string())
            .map_err(|e| PipelineError::Config { origin: path.display().to_string(), reason: e.to_string() })?;
        devices.extend(c.device);
    }
    let name: Arc<str> = Arc::from(cfg.name.as_str());
    let (stx, mut srx) = mpsc::channel::<(Arc<str>, fos_connect::Sample)>(16_384);
    let mut tasks = Vec::new();
    for d in devices {
        let err = |e: fos_connect::ConnectError| PipelineError::Config { origin: d.url.clone(), reason: e.to_string() };
        let conn = fos_connect::Connection::new(&d.url, d.options().map_err(err)?).map_err(err)?;
        let device: Arc<str> = Arc::from(d.name.clone().unwrap_or_else(|| d.url.clone()));
        let (groups, backoff) = (d.groups(), d.backoff());
        let (inner_tx, mut inner_rx) = mpsc::channel::<fos_connect::Sample>(4096);
        let stop = stop.clone();
        let url = d.url.clone();
        tasks.push(tokio::spawn(async move {
            fos_connect::poll::run_poller(conn, groups, inner_tx, None, backoff, stop)
                .await
                .map_err(|e| PipelineError::Config { origin: url, reason: e.to_string() })
        }));
        let stx = stx.clone();
        tokio::spawn(async move {
            while let Some(s) = inner_rx.recv().await {
                if stx.send((device.clone(), s)).await.is_err() {
                    break;
                }
            }
        });
    }
    drop(stx);
    let mut tag_index: HashMap<(Arc<str>, String), u32> = HashMap::new();
    let mut batch = Batch::default();
    let mut first_at: Option<tokio::time::Instant> = None;
    loop {
        let deadline = first_at.map(|t| t + Duration::from_millis(50));
        let next = async {
            match deadline {
                Some(d) => tokio::time::timeout_at(d, srx.recv()).await.ok(),
                None => Some(srx.recv().await),
            }
        };
        match next.await {
            Some(Some((device, s))) => {
                let key = (device.clone(), s.address.clone());
                let idx = match tag_index.get(&key) {
                    Some(&i) => i,
                    None => {
                        let i = batch.tags.len() as u32;
                        batch.tags.push(Arc::from(format!("{device}.{}", s.address)));
                        tag_index.insert(key, i);
                        i
                    }
                };
                let time = s.time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as i64);
                let value = s.value.as_ref().and_then(|v| v.as_f64()).unwrap_or(f64::NAN);
                batch.push(idx, time, value, quality_code(s.quality));
                first_at.get_or_insert_with(tokio::time::Instant::now);
                if batch.len() >= 4096 {
                    send_poll_batch(&name, &mut batch, &tx).await?;
                    first_at = None;
                }
            }
            Some(None) => break,
            None => {
                send_poll_batch(&name, &mut batch, &tx).await?;
                first_at = None;
            }
        }
    }
    send_poll_batch(&name, &mut batch, &tx).await?;
    for t in tasks {
        if let Ok(Err(e)) = t.await {
            return Err(e);
        }
    }
    Ok(())
}

/// Sends the points of `batch` (keeping its whole tag dictionary, which only grows).
async fn send_poll_batch(name: &Arc<str>, batch: &mut Batch, tx: &mpsc::Sender<Envelope>) -> Result<()> {
    if batch.is_empty() {
        return Ok(());
    }
    let out = Batch {
        tags: batch.tags.clone(),
        tag: std::mem::take(&mut batch.tag),
        time: std::mem::take(&mut batch.time),
        value: std::mem::take(&mut batch.value),
        quality: std::mem::take(&mut batch.quality),
    };
    let _ = tx.send(Envelope { source: name.clone(), position: None, batch: out, waveforms: Vec::new(), ack: None }).await;
    Ok(())
}

