//! `fos read`, `fos browse`, `fos subscribe`, `fos poll`, `fos write` and `fos bench-read`:
//! the connectivity commands, over `fos-connect`.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Args;
use fos_connect::config::ConnectConfig;
use fos_connect::poll::{run_poller, PollEvent};
use fos_connect::{ConnectOptions, Connection, Sample, WriteAccess, WritePermit};
use serde::Serialize;
use tokio::sync::{mpsc, watch};

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread().enable_all().build().context("cannot start the async runtime")
}

fn options(timeout_ms: u64, gap_ms: u64) -> ConnectOptions {
    ConnectOptions {
        timeout: Duration::from_millis(timeout_ms),
        min_request_gap: Duration::from_millis(gap_ms),
        write_access: WriteAccess::ReadOnly,
    }
}

/// Expand `prefix{A..B}suffix` and `prefix{A..B:STEP}suffix` (B inclusive) into many addresses,
/// so a benchmark or a wide read can name ranges: `hr:{0..999}`, `DB1.DBW{0..254:2}`.
pub(crate) fn expand(addresses: &[String]) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for a in addresses {
        let (Some(open), Some(close)) = (a.find('{'), a.find('}')) else {
            out.push(a.clone());
            continue;
        };
        if close < open {
            bail!("address {a:?}: '}}' before '{{'");
        }
        let inner = &a[open + 1..close];
        let (range, step) = inner.split_once(':').unwrap_or((inner, "1"));
        let parse = |s: &str| -> Result<u64> {
            s.trim().parse().with_context(|| format!("address {a:?}: {s:?} in {{{inner}}} is not a number"))
        };
        let (lo, hi) = range
            .split_once("..")
            .with_context(|| format!("address {a:?}: expected {{FIRST..LAST}} or {{FIRST..LAST:STEP}}"))?;
        let (lo, hi, step) = (parse(lo)?, parse(hi)?, parse(step)?);
        if step == 0 || hi < lo {
            bail!("address {a:?}: empty range {{{inner}}}");
        }
        if (hi - lo) / step >= 1_000_000 {
            bail!("address {a:?}: range {{{inner}}} has over a million addresses");
        }
        let mut i = lo;
        while i <= hi {
            out.push(format!("{}{}{}", &a[..open], i, &a[close + 1..]));
            i += step;
        }
    }
    Ok(out)
}

fn print_samples(samples: &[Sample], json: bool) -> Result<()> {
    let mut out = std::io::stdout().lock();
    for s in samples {
        if json {
            writeln!(out, "{}", s.to_json())?;
        } else {
            let value = s.value.as_ref().map(|v| v.to_string()).unwrap_or_else(|| "-".into());
            let detail = s.detail.as_deref().map(|d| format!("  ({d})")).unwrap_or_default();
            writeln!(
                out,
                "{:<24} {:>16} {:<7} {:<18} {}{}",
                s.address,
                value,
                s.dtype.name(),
                s.quality.as_str(),
                humantime::format_rfc3339_millis(s.time),
                detail
            )?;
        }
    }
    Ok(())
}

/// Read tags from a device once.
#[derive(Debug, Args)]
pub(crate) struct ReadArgs {
    /// Device URL: modbus://host:port?unit=1, opcua://host:port/path, s7://host:port?rack=0&slot=1,
    /// enip://host:port, melsec://host:port?frame=3e.
    url: String,
    /// Tag addresses in the protocol's syntax (see README); `{A..B}` or `{A..B:STEP}` expands ranges.
    #[arg(required = true)]
    addresses: Vec<String>,
    /// JSON Lines: one compact object per value (address, value, type, quality, time).
    #[arg(long)]
    json: bool,
    /// Timeout per connect and per request, in milliseconds.
    #[arg(long, default_value_t = 3000)]
    timeout_ms: u64,
    /// Least time between two requests, in milliseconds (pacing for slow PLCs).
    #[arg(long, default_value_t = 0)]
    min_request_gap_ms: u64,
}

pub(crate) fn read(a: ReadArgs) -> Result<ExitCode> {
    let addresses = expand(&a.addresses)?;
    let mut conn = Connection::new(&a.url, options(a.timeout_ms, a.min_request_gap_ms))?;
    let samples = runtime()?.block_on(conn.read_once(&addresses))?;
    print_samples(&samples, a.json)?;
    // Exit 1 when any value is not good, so scripts notice.
    Ok(if samples.iter().all(|s| s.quality.is_good()) { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// List a device's tags or nodes (OPC UA address space; Logix tag list where the device supports it).
#[derive(Debug, Args)]
pub(crate) struct BrowseArgs {
    url: String,
    #[arg(long)]
    json: bool,
    #[arg(long, default_value_t = 3000)]
    timeout_ms: u64,
}

pub(crate) fn browse(a: BrowseArgs) -> Result<ExitCode> {
    let mut conn = Connection::new(&a.url, options(a.timeout_ms, 0))?;
    let entries = runtime()?.block_on(conn.browse())?;
    let mut out = std::io::stdout().lock();
    for e in &entries {
        if a.json {
            writeln!(out, "{}", serde_json::to_string(e)?)?;
        } else {
            let ty = e.dtype.map(|t| t.name()).unwrap_or("");
            writeln!(out, "{:<40} {:<24} {:<10} {}", e.address, e.name, e.kind, ty)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Subscribe: MQTT topics (optionally decoded as Sparkplug B) or OPC UA nodes (a server-side
/// subscription); prints one line per message or value change until --count or Ctrl-C.
#[derive(Debug, Args)]
pub(crate) struct SubscribeArgs {
    /// mqtt://host:port or opcua://host:port/path.
    url: String,
    /// MQTT topic filters (`spBv1.0/#`) or OPC UA node ids.
    #[arg(required = true)]
    topics: Vec<String>,
    /// Decode payloads as Sparkplug B (metric names, datatypes, sequence numbers; aliases resolved
    /// through the births).
    #[arg(long)]
    sparkplug: bool,
    /// Stop after this many messages (or value changes).
    #[arg(long)]
    count: Option<u64>,
    #[arg(long)]
    json: bool,
    /// OPC UA publishing/sampling interval in milliseconds.
    #[arg(long, default_value_t = 500)]
    interval_ms: u64,
    /// MQTT QoS of the subscription (0, 1 or 2).
    #[arg(long, default_value_t = 1)]
    qos: u8,
    #[arg(long, default_value_t = 5000)]
    timeout_ms: u64,
}

pub(crate) fn subscribe(a: SubscribeArgs) -> Result<ExitCode> {
    let rt = runtime()?;
    rt.block_on(async move {
        if a.url.starts_with("mqtt://") {
            subscribe_mqtt(a).await
        } else {
            if a.sparkplug {
                bail!("--sparkplug applies to mqtt:// URLs only");
            }
            subscribe_driver(a).await
        }
    })
}

#[cfg(feature = "mqtt")]
async fn subscribe_mqtt(a: SubscribeArgs) -> Result<ExitCode> {
    use fos_connect::drivers::mqtt::{subscribe, MqttEvent, SubscribeOptions};
    let (tx, mut rx) = mpsc::channel::<MqttEvent>(1024);
    let opts = SubscribeOptions {
        sparkplug: a.sparkplug,
        qos: a.qos,
        timeout: Duration::from_millis(a.timeout_ms),
        ..SubscribeOptions::default()
    };
    let url = a.url.clone();
    let topics = a.topics.clone();
    let task = tokio::spawn(async move { subscribe(&url, &topics, opts, tx).await });
    let mut n = 0u64;
    let mut out = std::io::stdout();
    loop {
        tokio::select! {
            ev = rx.recv() => {
                let Some(ev) = ev else { break };
                if matches!(ev, MqttEvent::Warning(_)) {
                    eprintln!("warning: {}", serde_json::to_string(&ev)?);
                    continue;
                }
                if a.json {
                    writeln!(out, "{}", serde_json::to_string(&ev)?)?;
                } else {
                    write_human(&mut out, &ev)?;
                }
                out.flush()?;
                n += 1;
                if a.count.is_some_and(|c| n >= c) {
                    break;
                }
            }
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    drop(rx);
    task.abort();
    match task.await {
        Ok(Err(e)) => Err(e.into()),
        _ => Ok(ExitCode::SUCCESS),
    }
}

/// The human form of an MQTT event: the topic and payload, or a Sparkplug message's header and
/// one line per metric.
#[cfg(feature = "mqtt")]
fn write_human(out: &mut impl std::io::Write, ev: &fos_connect::drivers::mqtt::MqttEvent) -> Result<()> {
    use fos_connect::drivers::mqtt::MqttEvent;
    let v = serde_json::to_value(ev)?;
    let text = |k: &str| v.get(k).map(|x| x.as_str().map(str::to_string).unwrap_or_else(|| x.to_string()));
    match ev {
        MqttEvent::Message(m) => {
            writeln!(out, "{}  {}  (qos {}{})", m.topic, m.payload, m.qos, if m.retain { ", retained" } else { "" })?
        }
        MqttEvent::Sparkplug(_) => {
            let seq = text("seq").map(|s| format!(" seq={s}")).unwrap_or_default();
            writeln!(out, "{} {}{}", text("topic").unwrap_or_default(), text("message_type").unwrap_or_default(), seq)?;
            for m in v.get("metrics").and_then(|m| m.as_array()).into_iter().flatten() {
                let f = |k: &str| {
                    m.get(k)
                        .map(|x| x.as_str().map(str::to_string).unwrap_or_else(|| x.to_string()))
                        .unwrap_or_default()
                };
                writeln!(out, "  {:<28} {:>14}  {:<9} {}", f("name"), f("value"), f("datatype"), f("quality"))?;
            }
        }
        MqttEvent::Warning(w) => writeln!(out, "warning: {w}")?,
    }
    Ok(())
}

#[cfg(not(feature = "mqtt"))]
async fn subscribe_mqtt(_a: SubscribeArgs) -> Result<ExitCode> {
    bail!("the mqtt driver is not built into this binary (rebuild with `--features mqtt`)")
}

async fn subscribe_driver(a: SubscribeArgs) -> Result<ExitCode> {
    let addresses = expand(&a.topics)?;
    let mut conn = Connection::new(&a.url, options(a.timeout_ms, 0))?;
    let (tx, mut rx) = mpsc::channel::<Sample>(1024);
    let interval = Duration::from_millis(a.interval_ms.max(1));
    let task = tokio::spawn(async move { conn.subscribe(&addresses, interval, tx).await });
    let mut n = 0u64;
    loop {
        tokio::select! {
            s = rx.recv() => {
                let Some(s) = s else { break };
                print_samples(std::slice::from_ref(&s), a.json)?;
                n += 1;
                if a.count.is_some_and(|c| n >= c) {
                    break;
                }
            }
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    drop(rx);
    if a.count.is_some_and(|c| n >= c) {
        task.abort();
        return Ok(ExitCode::SUCCESS);
    }
    match task.await {
        Ok(Err(e)) => Err(e.into()),
        _ => Ok(ExitCode::SUCCESS),
    }
}

/// Poll the devices and groups of a connectivity config (TOML) and print every sample.
#[derive(Debug, Args)]
pub(crate) struct PollArgs {
    /// The config file (format in the README and `fos_connect::config`).
    config: PathBuf,
    /// Stop after this many samples.
    #[arg(long)]
    count: Option<u64>,
    /// Stop after this many seconds.
    #[arg(long)]
    seconds: Option<f64>,
    #[arg(long)]
    json: bool,
}

pub(crate) fn poll(a: PollArgs) -> Result<ExitCode> {
    let text = std::fs::read_to_string(&a.config).with_context(|| format!("cannot read {}", a.config.display()))?;
    let config = ConnectConfig::parse(&text, &a.config.display().to_string())?;
    if config.device.is_empty() {
        bail!("{}: no [[device]] configured", a.config.display());
    }
    runtime()?.block_on(async move {
        let (tx, mut rx) = mpsc::channel::<Sample>(4096);
        let (stop_tx, stop_rx) = watch::channel(false);
        let (ev_tx, mut ev_rx) = mpsc::unbounded_channel::<PollEvent>();
        let mut tasks = Vec::new();
        for d in &config.device {
            let conn = Connection::new(&d.url, d.options()?)?;
            let name = d.name.clone().unwrap_or_else(|| d.url.clone());
            let (tx, stop_rx, ev_tx) = (tx.clone(), stop_rx.clone(), ev_tx.clone());
            let (groups, backoff) = (d.groups(), d.backoff());
            tasks.push(tokio::spawn(async move {
                run_poller(conn, groups, tx, Some(ev_tx), backoff, stop_rx).await.map_err(|e| anyhow::anyhow!("{name}: {e}"))
            }));
        }
        drop(tx);
        drop(ev_tx);
        let deadline = a.seconds.map(|s| tokio::time::Instant::now() + Duration::from_secs_f64(s.max(0.0)));
        let mut n = 0u64;
        loop {
            let sleep = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                s = rx.recv() => {
                    let Some(s) = s else { break };
                    print_samples(std::slice::from_ref(&s), a.json)?;
                    n += 1;
                    if a.count.is_some_and(|c| n >= c) { break; }
                }
                Some(ev) = ev_rx.recv() => {
                    match ev {
                        PollEvent::Connected => {}
                        PollEvent::ConnectFailed { error, retry_in } => eprintln!("warning: {error}; retrying in {retry_in:?}"),
                        PollEvent::ConnectionLost { error } => eprintln!("warning: {error}; reconnecting"),
                    }
                }
                _ = sleep => break,
                _ = tokio::signal::ctrl_c() => break,
            }
        }
        let _ = stop_tx.send(true);
        drop(rx);
        for t in tasks {
            if let Ok(Err(e)) = t.await {
                return Err(e);
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// Carry out one write approved by the safety gate: the permit (JSON, signed by the gate) names
/// the device, address and value; the gate's public key must be given. Without both, nothing is sent.
#[derive(Debug, Args)]
pub(crate) struct WriteArgs {
    /// The permit file the gate issued.
    #[arg(long)]
    permit: PathBuf,
    /// The gate's Ed25519 public key, 64 hex characters (or set FOS_GATE_KEY).
    #[arg(long, env = "FOS_GATE_KEY")]
    gate_key: String,
    /// The device URL (its endpoint must match the permit's).
    url: String,
    #[arg(long, default_value_t = 3000)]
    timeout_ms: u64,
}

pub(crate) fn write(a: WriteArgs) -> Result<ExitCode> {
    let text = std::fs::read_to_string(&a.permit).with_context(|| format!("cannot read {}", a.permit.display()))?;
    let permit: WritePermit =
        serde_json::from_str(&text).with_context(|| format!("{}: not a write permit", a.permit.display()))?;
    let key = fos_connect::permit::parse_verifying_key(&a.gate_key)?;
    let mut opts = options(a.timeout_ms, 0);
    opts.write_access = WriteAccess::Gate(key);
    let mut conn = Connection::new(&a.url, opts)?;
    runtime()?.block_on(conn.write(&permit))?;
    eprintln!("wrote {} = {} on {} (permit {})", permit.address, permit.value, permit.device, permit.id);
    Ok(ExitCode::SUCCESS)
}

/// Measure read throughput: tags per second on one core, and CPU per 10,000 tags/s.
#[derive(Debug, Args)]
pub(crate) struct BenchReadArgs {
    url: String,
    /// Tag addresses; `{A..B}` or `{A..B:STEP}` expands ranges (e.g. `hr:{0..999}`).
    #[arg(required = true)]
    addresses: Vec<String>,
    /// How long to read for.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    #[arg(long)]
    json: bool,
    #[arg(long, default_value_t = 3000)]
    timeout_ms: u64,
}

#[derive(Debug, Serialize)]
struct BenchReport {
    url: String,
    tags: usize,
    requests_per_read: usize,
    reads: u64,
    seconds: f64,
    tags_per_second: f64,
    bad_samples: u64,
    cpu_seconds: f64,
    cpu_percent_of_one_core: f64,
    cpu_percent_per_10k_tags_per_second: f64,
}

/// CPU time (user + system) of this process so far, from /proc (Linux); None elsewhere.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0) // USER_HZ is 100 on Linux
}

pub(crate) fn bench_read(a: BenchReadArgs) -> Result<ExitCode> {
    let addresses = expand(&a.addresses)?;
    let mut conn = Connection::new(&a.url, options(a.timeout_ms, 0))?;
    let rt = runtime()?;
    let report = rt.block_on(async {
        let plan = conn.prepare(&addresses)?;
        conn.connect().await?;
        // Warm up once (and fail early on a bad address).
        let first = conn.read(plan).await?;
        if let Some(bad) = first.iter().find(|s| !s.quality.is_good()) {
            bail!("{} reads as {}: {}", bad.address, bad.quality.as_str(), bad.detail.as_deref().unwrap_or(""));
        }
        let (cpu0, t0) = (cpu_seconds(), Instant::now());
        let (mut reads, mut bad) = (0u64, 0u64);
        while t0.elapsed().as_secs_f64() < a.seconds {
            let s = conn.read(plan).await?;
            bad += s.iter().filter(|s| !s.quality.is_good()).count() as u64;
            reads += 1;
        }
        let secs = t0.elapsed().as_secs_f64();
        let cpu = match (cpu0, cpu_seconds()) {
            (Some(a), Some(b)) => b - a,
            _ => f64::NAN,
        };
        let tps = (reads as f64 * addresses.len() as f64) / secs;
        Ok(BenchReport {
            url: a.url.clone(),
            tags: addresses.len(),
            requests_per_read: conn.plan_requests(plan),
            reads,
            seconds: secs,
            tags_per_second: tps,
            bad_samples: bad,
            cpu_seconds: cpu,
            cpu_percent_of_one_core: 100.0 * cpu / secs,
            cpu_percent_per_10k_tags_per_second: 100.0 * cpu / secs / (tps / 10_000.0),
        })
    })?;
    if a.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!(
            "{}: {} tags in {} request(s) per read, {} reads in {:.1} s: {:.0} tags/s; CPU {:.1} % of one core ({:.2} % per 10,000 tags/s); {} bad samples",
            report.url,
            report.tags,
            report.requests_per_read,
            report.reads,
            report.seconds,
            report.tags_per_second,
            report.cpu_percent_of_one_core,
            report.cpu_percent_per_10k_tags_per_second,
            report.bad_samples
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_expand_inclusively_with_steps() {
        let v = expand(&["hr:{0..3}".into(), "DB1.DBW{0..6:2}:INT".into(), "x".into()]).unwrap();
        assert_eq!(
            v,
            ["hr:0", "hr:1", "hr:2", "hr:3", "DB1.DBW0:INT", "DB1.DBW2:INT", "DB1.DBW4:INT", "DB1.DBW6:INT", "x"]
        );
        assert!(expand(&["hr:{3..1}".into()]).unwrap_err().to_string().contains("empty range"));
        assert!(expand(&["hr:{a..1}".into()]).unwrap_err().to_string().contains("not a number"));
    }
}
