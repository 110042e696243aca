//! The edge pipeline: sources → transforms → WAL writer (group commit, acks) → sinks tailing the log.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use fos_wal::{FsyncPolicy, Wal, WalOptions};
use tokio::sync::{mpsc, watch};

use crate::config::{Fsync, HistorianConfig, IngestConfig, NatsConfig, SourceConfig, WalConfig};
use crate::record;
use crate::source::{self, Envelope};
use crate::transform::Transform;
use crate::{PipelineError, Result, Stats, Summary};

/// How long a full log waits before the next append attempt.
const FULL_RETRY: Duration = Duration::from_millis(100);

/// State shared by the writer and the sinks.
pub(crate) struct Shared {
    wal: Mutex<Wal>,
    durable: Mutex<u64>,
    cond: Condvar,
    writer_done: AtomicBool,
    abort: AtomicBool,
    stats: Arc<Stats>,
    /// Per sink: every record up to this sequence is taken (0: not known yet).
    cursors: Mutex<Vec<Arc<AtomicU64>>>,
}

impl Shared {
    fn wal(&self) -> MutexGuard<'_, Wal> {
        self.wal.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until a record after `after` is durable, the writer is done, or `timeout` passes;
    /// returns the durable sequence.
    fn wait_durable(&self, after: u64, timeout: Duration) -> u64 {
        let deadline = Instant::now() + timeout;
        let mut d = self.durable.lock().unwrap_or_else(|e| e.into_inner());
        while *d <= after && !self.writer_done.load(Ordering::Acquire) && !self.abort.load(Ordering::Acquire) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            d = self.cond.wait_timeout(d, left).unwrap_or_else(|e| e.into_inner()).0;
        }
        *d
    }

    fn set_durable(&self, seq: u64) {
        *self.durable.lock().unwrap_or_else(|e| e.into_inner()) = seq;
        self.cond.notify_all();
    }

    fn finish_writer(&self) {
        self.writer_done.store(true, Ordering::Release);
        let _guard = self.durable.lock().unwrap_or_else(|e| e.into_inner());
        self.cond.notify_all();
    }

    fn new_cursor(&self) -> Arc<AtomicU64> {
        let c = Arc::new(AtomicU64::new(0));
        self.cursors.lock().unwrap_or_else(|e| e.into_inner()).push(c.clone());
        c
    }

    /// Deletes the log's whole segments every sink has taken.
    fn truncate(&self) -> Result<()> {
        let min = self.cursors.lock().unwrap_or_else(|e| e.into_inner()).iter().map(|c| c.load(Ordering::Acquire)).min();
        if let Some(min) = min.filter(|&m| m > 0) {
            self.wal().truncate_before(min + 1)?;
        }
        Ok(())
    }

    fn backlog(&self) -> u64 {
        let durable = *self.durable.lock().unwrap_or_else(|e| e.into_inner());
        let min = self.cursors.lock().unwrap_or_else(|e| e.into_inner()).iter().map(|c| c.load(Ordering::Acquire)).min();
        min.map_or(0, |m| durable.saturating_sub(m))
    }
}

/// Runs the pipeline `cfg` describes over `data_dir` until `stop` turns true or every source has
/// ended, then shuts down cleanly. `progress` is called about once a second.
pub fn run(
    cfg: &IngestConfig,
    data_dir: &Path,
    stop: watch::Receiver<bool>,
    progress: &mut dyn FnMut(&Summary),
) -> Result<Summary> {
    if let Some(c) = &cfg.central {
        return crate::central::run_central(c, &cfg.historian.at_rest()?, data_dir, stop, progress);
    }
    let pipeline_dir = data_dir.join("pipeline");
    std::fs::create_dir_all(&pipeline_dir)
        .map_err(|e| PipelineError::Io { path: pipeline_dir.clone(), action: "create", source: e })?;
    let opts = WalOptions {
        segment_bytes: cfg.wal.segment_mb << 20,
        max_bytes: Some(cfg.wal.max_mb << 20),
        fsync: match cfg.wal.fsync {
            Fsync::Always => FsyncPolicy::Always,
            Fsync::Never => FsyncPolicy::Never,
        },
        encryption: match &cfg.wal.key {
            Some(k) => Some(k.load().map_err(|e| PipelineError::Config { origin: "[wal] key".into(), reason: e.to_string() })?),
            None => None,
        },
    };
    let (wal, rec) = Wal::open(pipeline_dir.join("wal"), opts)?;
    if rec.truncated_bytes > 0 {
        tracing::warn!(bytes = rec.truncated_bytes, reason = ?rec.truncated_reason, "cut a torn write at the end of the log");
    }
    let positions = last_positions(&wal)?;
    let durable = wal.last_seq();
    let stats = Arc::new(Stats::default());
    let shared = Arc::new(Shared {
        wal: Mutex::new(wal),
        durable: Mutex::new(durable),
        cond: Condvar::new(),
        writer_done: AtomicBool::new(false),
        abort: AtomicBool::new(false),
        stats: stats.clone(),
        cursors: Mutex::new(Vec::new()),
    });

    let mut threads: Vec<(&'static str, JoinHandle<Result<()>>)> = Vec::new();
    if cfg.historian.enabled {
        let (s, dir, hc, cursor) = (shared.clone(), data_dir.to_path_buf(), cfg.historian.clone(), shared.new_cursor());
        threads.push(("historian sink", spawn("fos-historian-sink", move || historian_sink(&s, &dir, &hc, &cursor))));
    }
    if let Some(n) = &cfg.nats {
        let (s, n, cursor) = (shared.clone(), n.clone(), shared.new_cursor());
        let (site, jur, path) = (cfg.site.clone(), cfg.jurisdiction.clone(), pipeline_dir.join("nats.cursor"));
        threads.push(("NATS sink", spawn("fos-nats-sink", move || nats_sink(&s, &n, &site, &jur, &path, &cursor))));
    }

    let (tx, rx) = mpsc::channel::<Envelope>(64);
    let transforms: Vec<Transform> = cfg.transform.iter().map(Transform::new).collect();
    let writer = {
        let (s, w, p) = (shared.clone(), cfg.wal.clone(), positions.clone());
        spawn("fos-wal-writer", move || {
            let r = writer(&s, rx, transforms, p, &w);
            s.finish_writer();
            r
        })
    };

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(PipelineError::Runtime)?;
    let (src_stop_tx, src_stop_rx) = watch::channel(false);
    let mut sources = Vec::new();
    for s in &cfg.source {
        let (tx, stop) = (tx.clone(), src_stop_rx.clone());
        let handle = match s {
            SourceConfig::Generator(g) => {
                let from = positions.get(&g.name).map_or(0, |p| p + 1);
                rt.spawn(source::run_generator(g.clone(), from, tx, stop))
            }
            SourceConfig::Poll(p) => rt.spawn(source::run_poll(p.clone(), tx, stop)),
            SourceConfig::Vibration(v) => rt.spawn(crate::vibration::run_vibration(v.clone(), tx, stop)),
            SourceConfig::Replay(r) => {
                let last = positions.get(&r.name).copied();
                rt.spawn(crate::replay::run_replay(r.clone(), last, pipeline_dir.join("replay"), tx, stop))
            }
            SourceConfig::Waveform(w) => {
                let last = positions.get(&w.name).copied();
                rt.spawn(crate::waveform::run_waveform(w.clone(), last, tx, stop))
            }
        };
        sources.push((s.name().to_owned(), Some(handle)));
    }
    drop(tx);

    let mut first_error: Option<PipelineError> = None;
    let mut last_progress = Instant::now();
    let mut stopping = false;
    loop {
        std::thread::sleep(Duration::from_millis(50));
        if !stopping && *stop.borrow() {
            stopping = true;
            let _ = src_stop_tx.send(true);
        }
        for (name, h) in &mut sources {
            if h.as_ref().is_some_and(|h| h.is_finished()) {
                let res = rt.block_on(h.take().expect("checked"));
                let err = match res {
                    Ok(Ok(())) => None,
                    Ok(Err(e)) => Some(e),
                    Err(e) => Some(PipelineError::State(format!("source {name} panicked: {e}"))),
                };
                if let Some(e) = err {
                    tracing::error!(source = %name, error = %e, "source failed");
                    first_error.get_or_insert(e);
                    stopping = true;
                    let _ = src_stop_tx.send(true);
                }
            }
        }
        for (name, t) in &threads {
            if t.is_finished() && !shared.writer_done.load(Ordering::Acquire) {
                // A sink ended before the writer: it failed. Stop everything.
                tracing::error!(sink = name, "sink stopped early");
                shared.abort.store(true, Ordering::Release);
                stopping = true;
                let _ = src_stop_tx.send(true);
            }
        }
        if writer.is_finished() && threads.iter().all(|(_, t)| t.is_finished()) {
            break;
        }
        if last_progress.elapsed() >= Duration::from_secs(1) {
            last_progress = Instant::now();
            progress(&summary(&shared));
        }
    }
    let _ = src_stop_tx.send(true);
    rt.shutdown_timeout(Duration::from_secs(2));
    if let Err(e) = join("WAL writer", writer) {
        first_error.get_or_insert(e);
    }
    for (name, t) in threads {
        if let Err(e) = join(name, t) {
            first_error.get_or_insert(e);
        }
    }
    let s = summary(&shared);
    progress(&s);
    match first_error {
        Some(e) => Err(e),
        None => Ok(s),
    }
}

fn summary(shared: &Shared) -> Summary {
    let mut s = shared.stats.snapshot();
    s.wal_durable_seq = *shared.durable.lock().unwrap_or_else(|e| e.into_inner());
    s.wal_backlog = shared.backlog();
    s
}

fn spawn(name: &str, f: impl FnOnce() -> Result<()> + Send + 'static) -> JoinHandle<Result<()>> {
    std::thread::Builder::new().name(name.into()).spawn(f).expect("spawning a pipeline thread")
}

fn join(name: &str, t: JoinHandle<Result<()>>) -> Result<()> {
    t.join().unwrap_or_else(|_| Err(PipelineError::State(format!("the {name} panicked"))))
}

/// The source positions recorded in the log's last record (empty for an empty log).
fn last_positions(wal: &Wal) -> Result<BTreeMap<String, u64>> {
    let last = wal.last_seq();
    if last == 0 || last < wal.first_seq() {
        return Ok(BTreeMap::new());
    }
    let mut reader = wal.read_from(last)?;
    match reader.next() {
        Some(item) => {
            let (seq, payload) = item?;
            match record::decode_any(&payload, &mut HashMap::new()).map_err(|error| PipelineError::Decode { seq, error })? {
                record::Decoded::Points(rec) => Ok(rec.positions),
                record::Decoded::Waveform(positions, _) => Ok(positions),
            }
        }
        None => Ok(BTreeMap::new()),
    }
}

/// The WAL writer: takes every envelope waiting (up to `group_points` points), applies the
/// transforms, appends them in one call (one fsync), then acknowledges them.
fn writer(
    shared: &Shared,
    mut rx: mpsc::Receiver<Envelope>,
    mut transforms: Vec<Transform>,
    mut positions: BTreeMap<String, u64>,
    cfg: &WalConfig,
) -> Result<()> {
    let stats = &shared.stats;
    let mut payloads: Vec<Vec<u8>> = Vec::new();
    let mut spare: Vec<Vec<u8>> = Vec::new();
    let mut full_since: Option<Instant> = None;
    while let Some(first) = rx.blocking_recv() {
        let mut envs = vec![first];
        let mut points = envs[0].batch.len();
        while points < cfg.group_points {
            match rx.try_recv() {
                Ok(e) => {
                    points += e.batch.len();
                    envs.push(e);
                }
                Err(_) => break,
            }
        }
        spare.append(&mut payloads);
        let mut ends = Vec::with_capacity(envs.len());
        let mut points = 0u64;
        for env in &mut envs {
            for t in &mut transforms {
                t.apply(&mut env.batch);
            }
            if let Some(p) = env.position {
                positions.insert(env.source.to_string(), p);
            }
            let batch = std::mem::take(&mut env.batch);
            record::check_encodable(&positions, &batch)
                .map_err(|reason| PipelineError::Config { origin: format!("source {}", env.source), reason })?;
            points += batch.len() as u64;
            if !(batch.is_empty() && env.position.is_none()) {
                for part in batch.split(cfg.record_points) {
                    let mut buf = spare.pop().unwrap_or_default();
                    record::encode(&positions, &part, &mut buf);
                    payloads.push(buf);
                }
            }
            for w in std::mem::take(&mut env.waveforms) {
                if w.channel.is_empty() || w.channel.len() > u16::MAX as usize || w.samples.len() * 8 + 64 > fos_wal::MAX_PAYLOAD {
                    return Err(PipelineError::Config {
                        origin: format!("source {}", env.source),
                        reason: format!("waveform block of channel {:?} with {} samples cannot be logged", w.channel, w.samples.len()),
                    });
                }
                let mut buf = spare.pop().unwrap_or_default();
                record::encode_waveform(&positions, &w, &mut buf);
                payloads.push(buf);
            }
            ends.push(payloads.len());
        }
        stats.points_in.fetch_add(points, Ordering::Relaxed);
        if payloads.is_empty() {
            continue;
        }
        let range = loop {
            let r = shared.wal().append_batch(&payloads);
            match r {
                Ok(r) => break r,
                Err(e) if e.is_full() => {
                    stats.full_waits.fetch_add(1, Ordering::Relaxed);
                    if full_since.is_none() {
                        full_since = Some(Instant::now());
                        tracing::warn!(error = %e, "the log is full: sources wait until the sinks free space");
                    }
                    if shared.abort.load(Ordering::Acquire) {
                        return Ok(());
                    }
                    shared.truncate()?;
                    std::thread::sleep(FULL_RETRY);
                }
                Err(e) => return Err(e.into()),
            }
        };
        if let Some(t) = full_since.take() {
            tracing::info!(waited = ?t.elapsed(), "the log has room again");
        }
        stats.records.fetch_add(range.end - range.start, Ordering::Relaxed);
        shared.set_durable(range.end - 1);
        stats.points_acked.fetch_add(points, Ordering::Relaxed);
        for (env, end) in envs.into_iter().zip(ends) {
            if let Some(ack) = env.ack {
                let _ = ack.send(range.start + end as u64 - 1);
            }
        }
        shared.truncate()?;
    }
    shared.truncate()?;
    Ok(())
}

fn retryable(e: &PipelineError) -> bool {
    matches!(e, PipelineError::Historian(fos_historian::Error::Io { .. } | fos_historian::Error::Parquet { .. }))
}

/// The historian sink: retries after storage errors (a full disk) by reopening the historian,
/// which discards the unfinished commit, and replaying from its recorded position.
fn historian_sink(shared: &Shared, data_dir: &Path, cfg: &HistorianConfig, cursor: &AtomicU64) -> Result<()> {
    loop {
        match historian_pass(shared, data_dir, cfg, cursor) {
            Ok(()) => return Ok(()),
            Err(e) if retryable(&e) && !shared.abort.load(Ordering::Acquire) => {
                tracing::warn!(error = %e, "historian sink: retrying in 1 s from the last commit");
                std::thread::sleep(Duration::from_secs(1));
            }
            Err(e) => return Err(e),
        }
    }
}

fn historian_pass(shared: &Shared, data_dir: &Path, cfg: &HistorianConfig, cursor: &AtomicU64) -> Result<()> {
    let at_rest = cfg.at_rest()?;
    let mut h = crate::store::Store::open(data_dir, &at_rest)?;
    let (first, last, dir) = {
        let w = shared.wal();
        (w.first_seq(), w.last_seq(), w.dir().to_path_buf())
    };
    let mut next = match h.historian.position("wal") {
        Some(p) if p > last => {
            return Err(PipelineError::State(format!(
                "the historian in {} holds log records up to {p}, but the log in {} ends at {last}: the log folder \
                 was deleted or replaced. Restore it, or start with a new --data-dir",
                data_dir.display(),
                dir.display()
            )))
        }
        Some(p) if p + 1 < first => {
            tracing::warn!(from = p + 1, to = first - 1, "log records missing for the historian (the sink was disabled while the log was truncated)");
            first
        }
        Some(p) => p + 1,
        None => first,
    };
    cursor.store(next - 1, Ordering::Release);
    let stats = &shared.stats;
    let mut retention_due = Instant::now();
    let mut retention = |uncommitted: usize| {
        let Some(r) = &cfg.retention else { return };
        if uncommitted > 0 || Instant::now() < retention_due {
            return;
        }
        retention_due = Instant::now() + Duration::from_secs(3600);
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as i64);
        match fos_historian::apply_retention(data_dir, &r.policy(), now, &at_rest) {
            Ok(rep) if rep.downsampled.is_empty() && rep.deleted.is_empty() && rep.recovered.is_empty() => {}
            Ok(rep) => tracing::info!(downsampled = ?rep.downsampled, deleted = ?rep.deleted, recovered = ?rep.recovered, "retention applied"),
            Err(e) => tracing::warn!(error = %e, "retention failed; retrying in an hour"),
        }
    };
    retention(0);
    let mut uncommitted = 0usize;
    let mut oldest: Option<Instant> = None;
    let mut positions: BTreeMap<String, u64> = BTreeMap::new();
    let commit_every = Duration::from_millis(cfg.commit_ms);
    let commit = |h: &mut crate::store::Store,
                  next: u64,
                  uncommitted: &mut usize,
                  positions: &BTreeMap<String, u64>|
     -> Result<()> {
        let mut pos: Vec<(String, u64)> = vec![("wal".into(), next - 1)];
        pos.extend(positions.iter().map(|(k, v)| (format!("source:{k}"), *v)));
        let pos: Vec<(&str, u64)> = pos.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        h.commit(&pos)?;
        stats.historian_points.fetch_add(*uncommitted as u64, Ordering::Relaxed);
        stats.historian_commits.fetch_add(1, Ordering::Relaxed);
        cursor.store(next - 1, Ordering::Release);
        *uncommitted = 0;
        Ok(())
    };
    loop {
        let wait = oldest.map_or(Duration::from_millis(200), |t| commit_every.saturating_sub(t.elapsed()));
        let durable = shared.wait_durable(next - 1, wait.max(Duration::from_millis(1)));
        if durable >= next {
            let reader = shared.wal().read_from(next)?;
            for item in reader {
                let (seq, payload) = item?;
                if seq > durable {
                    break;
                }
                let (n, pos) = h.write(&payload)?.map_err(|error| PipelineError::Decode { seq, error })?;
                uncommitted += n;
                positions = pos;
                oldest.get_or_insert_with(Instant::now);
                next = seq + 1;
                if uncommitted >= cfg.commit_points {
                    commit(&mut h, next, &mut uncommitted, &positions)?;
                    oldest = None;
                }
                if shared.abort.load(Ordering::Acquire) {
                    return Ok(());
                }
            }
        }
        if oldest.is_some_and(|t| t.elapsed() >= commit_every) {
            commit(&mut h, next, &mut uncommitted, &positions)?;
            oldest = None;
        }
        retention(uncommitted);
        if shared.abort.load(Ordering::Acquire) {
            return Ok(());
        }
        if shared.writer_done.load(Ordering::Acquire) && shared.wait_durable(next - 1, Duration::ZERO) < next {
            if oldest.is_some() {
                commit(&mut h, next, &mut uncommitted, &positions)?;
            }
            return Ok(());
        }
    }
}

/// The NATS sink: publishes every record, in order, each confirmed by JetStream, and keeps its
/// cursor in `cursor_path`.
fn nats_sink(
    shared: &Shared,
    cfg: &NatsConfig,
    site: &str,
    jurisdiction: &str,
    cursor_path: &Path,
    cursor: &AtomicU64,
) -> Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(PipelineError::Runtime)?;
    let first = shared.wal().first_seq();
    let stored = read_cursor(cursor_path)?;
    let mut acked = stored.unwrap_or(0).max(first - 1);
    cursor.store(acked, Ordering::Release);
    let stats = &shared.stats;
    let mut publisher: Option<fos_bus::EdgePublisher> = None;
    let mut backoff = Duration::from_millis(100);
    let mut drain_deadline: Option<Instant> = None;
    let config = fos_bus::PublisherConfig {
        stream: cfg.stream.clone(),
        tls: cfg.tls.as_ref().map(crate::config::TlsFiles::to_bus),
        ..fos_bus::PublisherConfig::default()
    };
    loop {
        if shared.abort.load(Ordering::Acquire) {
            return Ok(());
        }
        if shared.writer_done.load(Ordering::Acquire) && drain_deadline.is_none() {
            drain_deadline = Some(Instant::now() + Duration::from_secs(cfg.drain_s));
        }
        let durable = shared.wait_durable(acked, Duration::from_millis(200));
        if durable <= acked {
            if shared.writer_done.load(Ordering::Acquire) {
                return Ok(());
            }
            continue;
        }
        if drain_deadline.is_some_and(|d| Instant::now() >= d) {
            tracing::warn!(backlog = durable - acked, "NATS sink: drain time is up; the backlog stays in the log for the next run");
            return Ok(());
        }
        if publisher.is_none() {
            let connect = fos_bus::EdgePublisher::connect_with(&cfg.url, site, jurisdiction, config.clone());
            match rt.block_on(async { tokio::time::timeout(Duration::from_secs(5), connect).await }) {
                Ok(Ok(p)) => {
                    tracing::info!(url = %cfg.url, subject = p.subject(), "NATS sink connected");
                    publisher = Some(p);
                    backoff = Duration::from_millis(100);
                }
                Ok(Err(e @ fos_bus::BusError::InvalidToken { .. })) => return Err(e.into()),
                Ok(Err(e)) => {
                    stats.nats_errors.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(error = %e, retry_in = ?backoff, "NATS sink: cannot connect");
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                    continue;
                }
                Err(_) => {
                    stats.nats_errors.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(url = %cfg.url, "NATS sink: connect timed out");
                    continue;
                }
            }
        }
        let p = publisher.as_ref().expect("connected above");
        let mut out = Vec::new();
        for item in shared.wal().read_from(acked + 1)?.take(256) {
            let (seq, payload) = item?;
            if seq > durable {
                break;
            }
            out.push((seq, Bytes::from(payload)));
        }
        let sent = out.len() as u64;
        let outcome = rt.block_on(p.publish_from(out));
        if let Some(last) = outcome.last_acked {
            stats.nats_records.fetch_add(last - acked, Ordering::Relaxed);
            acked = last;
            // A full disk may refuse the cursor file; the in-memory cursor still lets the log
            // truncate (freeing space), and a stale file only re-publishes what the checks drop.
            if let Err(e) = write_cursor(cursor_path, acked) {
                tracing::warn!(error = %e, "NATS sink: cursor file not updated");
            }
            cursor.store(acked, Ordering::Release);
        }
        if let Some(e) = outcome.error {
            stats.nats_errors.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(error = %e, retry_in = ?backoff, "NATS sink: publish failed");
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(Duration::from_secs(2));
        } else if sent > 0 {
            backoff = Duration::from_millis(100);
        }
    }
}

fn read_cursor(path: &Path) -> Result<Option<u64>> {
    match std::fs::read_to_string(path) {
        Ok(s) => s.trim().parse::<u64>().map(Some).map_err(|_| {
            PipelineError::State(format!("{}: not a sequence number ({:?}); delete it to republish the whole log", path.display(), s.trim()))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(PipelineError::Io { path: path.to_path_buf(), action: "read", source: e }),
    }
}

/// Replaces the cursor file (tmp + rename; no fsync: a lost update only re-publishes records,
/// which the duplicate checks drop).
fn write_cursor(path: &Path, seq: u64) -> Result<()> {
    let tmp: PathBuf = path.with_extension("cursor.tmp");
    std::fs::write(&tmp, format!("{seq}\n")).map_err(|e| PipelineError::Io { path: tmp.clone(), action: "write", source: e })?;
    std::fs::rename(&tmp, path).map_err(|e| PipelineError::Io { path: path.to_path_buf(), action: "replace", source: e })
}

