//! The `fos ingest` configuration file (TOML). Every key has a default; unknown keys are refused.
//!
//! ```toml
//! site = "edge-1"            # default "edge": this site's name on the bus ([A-Za-z0-9_-]+)
//! jurisdiction = "local"     # default "local": the jurisdiction token of the bus subject
//!
//! [wal]
//! fsync = "always"           # default "always": fsync before a batch is acknowledged; "never"
//!                            # leaves it to the kernel (a power cut may then lose acknowledged data)
//! max_mb = 1024              # default 1024: disk quota of the log; when full, sources wait
//! segment_mb = 16            # default 16
//! group_points = 262144      # default 262144: most points appended (and fsynced) at once
//! record_points = 32768      # default 32768: most points per record (≤ 1 MB, NATS's default payload limit)
//! # key = { file = "/etc/fos/wal.key" }   # optional: encrypt the log at rest (XChaCha20-Poly1305);
//! # key = { env = "FOS_WAL_KEY" }        # 64 hex chars (or 32 raw bytes in a file); never logged
//!
//! [historian]                # the local historian sink (DATA_DIR/historian)
//! enabled = true             # default true
//! commit_points = 1000000    # default 1000000: commit when this many points are buffered...
//! commit_ms = 1000           # default 1000: ...or when the oldest uncommitted point is this old
//! # key = { file = "/etc/fos/historian.key" }   # optional: encrypt the Parquet files at rest
//! #                          # (Parquet modular encryption, AES-GCM; same key forms as [wal] key); also
//! #                          # the central historian's key in [central] mode. Chosen when DATA_DIR is new.
//! # retention = { keep_raw_days = 30, keep_downsampled_days = 365, downsample_s = 60 }
//! #                          # optional (default: keep everything raw): at start and hourly, days older
//! #                          # than keep_raw_days become per-bucket means (+ samples_rollup), older than
//! #                          # keep_downsampled_days are deleted
//!
//! [nats]                     # optional: publish every batch to NATS JetStream
//! url = "nats://127.0.0.1:4222"
//! stream = "FOS_BATCHES"     # default
//! drain_s = 10               # default 10: on shutdown, how long to keep publishing the backlog
//! # tls = { ca_file = "ca.pem", cert_file = "edge.pem", key_file = "edge.key" }
//! #                          # optional: TLS (required once set), mutual when cert and key are given
//!
//! [[source]]                 # any number of sources, each with a unique name
//! kind = "generator"         # synthetic tags (see below), "poll" (fos-connect devices), "vibration",
//!                            # "replay" or "waveform"
//! name = "gen"
//!
//! [[transform]]              # applied in order to every batch, before the log
//! kind = "scale"             # value * factor + offset, for tags matching `tags`
//! tags = "gen.t1*"           # an exact name, or a prefix ending in '*'
//! factor = 1.8
//! offset = 32.0
//!
//! [central]                  # present: run as the central consumer instead of an edge pipeline:
//! url = "nats://127.0.0.1:4222"   # read every site's batches from JetStream into DATA_DIR's historian
//! durable = "central"        # default "central": the durable consumer's name
//! # tls = { ... }            # as in [nats]
//! # mirror = "file:///srv/fos-central"   # copy committed Parquet files to an object store
//! #                          # (a directory; s3://bucket/prefix with the `s3` feature); `fos query --store URL`
//! ```
//!
//! Generator source keys: `tags` (default 100), `interval_ms` (default 1000: data time between
//! scans), `scans_per_batch` (default 10), `scans` (default 0 = endless), `start` (default
//! `2026-01-01T00:00:00Z`), `realtime` (default false: as fast as the pipeline takes them; true:
//! one scan per `interval_ms` of wall time), `ack_log` (optional file: the last scan number of each
//! acknowledged batch is appended to it, one per line). Tag `i` is named `<name>.t<i>`; the value of
//! tag `i` at scan `s` is [`crate::source::generator_value`]`(s, i)`.
//!
//! Vibration source keys (`kind = "vibration"`: synthetic bearing vibration analysed into
//! features per block and channel): see [`crate::vibration`].
//!
//! Replay source keys (`kind = "replay"`: a recording played back and judged per decision window
//! by the bearing diagnostics of `fos analyze`): see [`crate::replay`].
//!
//! Waveform source keys (`kind = "waveform"`: vibration blocks read from a device's array node,
//! each taken once by its counter, judged per decision window as `replay` does): see
//! [`crate::waveform`].
//!
//! Poll source keys: `config` (a `fos poll` device file) and/or inline `[[source.device]]` tables
//! in the same format. Tags are named `<device name>.<address>`.

use std::path::PathBuf;

use serde::Deserialize;

use crate::{PipelineError, Result};

/// The whole file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestConfig {
    #[serde(default = "default_site")]
    pub site: String,
    #[serde(default = "default_jurisdiction")]
    pub jurisdiction: String,
    #[serde(default)]
    pub wal: WalConfig,
    #[serde(default)]
    pub historian: HistorianConfig,
    pub nats: Option<NatsConfig>,
    #[serde(default)]
    pub source: Vec<SourceConfig>,
    #[serde(default)]
    pub transform: Vec<TransformConfig>,
    pub central: Option<CentralConfig>,
}

fn default_site() -> String {
    "edge".into()
}
fn default_jurisdiction() -> String {
    "local".into()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fsync {
    Always,
    Never,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WalConfig {
    pub fsync: Fsync,
    pub max_mb: u64,
    pub segment_mb: u64,
    pub group_points: usize,
    pub record_points: usize,
    pub key: Option<fos_keys::KeySource>,
}

impl Default for WalConfig {
    fn default() -> Self {
        WalConfig { fsync: Fsync::Always, max_mb: 1024, segment_mb: 16, group_points: 262_144, record_points: 32_768, key: None }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HistorianConfig {
    pub enabled: bool,
    pub commit_points: usize,
    pub commit_ms: u64,
    pub retention: Option<RetentionConfig>,
    /// Encrypt the historian's files at rest with this key.
    pub key: Option<fos_keys::KeySource>,
}

/// `[historian.retention]`: applied when the sink starts and then hourly, between commits.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionConfig {
    /// Days before today kept raw.
    pub keep_raw_days: u32,
    /// Days before today kept at all (older ones are deleted); at least `keep_raw_days`.
    pub keep_downsampled_days: u32,
    /// Bucket of downsampled days, in seconds (dividing a day); default 60.
    #[serde(default = "default_downsample_s")]
    pub downsample_s: u64,
}

fn default_downsample_s() -> u64 {
    60
}

impl HistorianConfig {
    /// How the historian's files are stored: encrypted with `key` when set (loaded here).
    pub fn at_rest(&self) -> Result<fos_historian::AtRest> {
        match &self.key {
            None => Ok(fos_historian::AtRest::plain()),
            Some(k) => {
                let key = k
                    .load()
                    .map_err(|e| PipelineError::Config { origin: "[historian] key".into(), reason: e.to_string() })?;
                Ok(fos_historian::AtRest::encrypted(&key))
            }
        }
    }
}

impl RetentionConfig {
    pub fn policy(&self) -> fos_historian::RetentionPolicy {
        fos_historian::RetentionPolicy {
            keep_raw_days: self.keep_raw_days,
            keep_downsampled_days: self.keep_downsampled_days,
            downsample_interval: std::time::Duration::from_secs(self.downsample_s),
        }
    }
}

impl Default for HistorianConfig {
    fn default() -> Self {
        HistorianConfig { enabled: true, commit_points: 1_000_000, commit_ms: 1000, retention: None, key: None }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NatsConfig {
    pub url: String,
    #[serde(default = "default_stream")]
    pub stream: String,
    #[serde(default = "default_drain")]
    pub drain_s: u64,
    pub tls: Option<TlsFiles>,
}

/// TLS files of a NATS connection: the CA to trust, and this side's certificate and key for
/// mutual TLS.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    pub ca_file: PathBuf,
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
}

impl TlsFiles {
    pub(crate) fn to_bus(&self) -> fos_bus::TlsConfig {
        fos_bus::TlsConfig { ca_file: self.ca_file.clone(), cert_file: self.cert_file.clone(), key_file: self.key_file.clone() }
    }
}

fn default_stream() -> String {
    fos_bus::DEFAULT_STREAM.into()
}
fn default_drain() -> u64 {
    10
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CentralConfig {
    pub url: String,
    #[serde(default = "default_durable")]
    pub durable: String,
    #[serde(default = "default_stream")]
    pub stream: String,
    #[serde(default = "default_commit_points")]
    pub commit_points: usize,
    #[serde(default = "default_commit_ms")]
    pub commit_ms: u64,
    pub tls: Option<TlsFiles>,
    /// Object store the central historian's committed files are copied to after each commit.
    pub mirror: Option<String>,
}

fn default_durable() -> String {
    "central".into()
}
fn default_commit_points() -> usize {
    1_000_000
}
fn default_commit_ms() -> u64 {
    1000
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, tag = "kind", rename_all = "snake_case")]
pub enum SourceConfig {
    Generator(GeneratorConfig),
    Poll(PollSourceConfig),
    Vibration(crate::vibration::VibrationConfig),
    Replay(crate::replay::ReplayConfig),
    Waveform(crate::waveform::WaveformConfig),
}

impl SourceConfig {
    pub fn name(&self) -> &str {
        match self {
            SourceConfig::Generator(g) => &g.name,
            SourceConfig::Poll(p) => &p.name,
            SourceConfig::Vibration(v) => &v.name,
            SourceConfig::Replay(r) => &r.name,
            SourceConfig::Waveform(w) => &w.name,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeneratorConfig {
    pub name: String,
    #[serde(default = "default_tags")]
    pub tags: u32,
    #[serde(default = "default_interval")]
    pub interval_ms: u64,
    #[serde(default = "default_spb")]
    pub scans_per_batch: u64,
    #[serde(default)]
    pub scans: u64,
    #[serde(default = "default_start")]
    pub start: String,
    #[serde(default)]
    pub realtime: bool,
    pub ack_log: Option<PathBuf>,
}

fn default_tags() -> u32 {
    100
}
fn default_interval() -> u64 {
    1000
}
fn default_spb() -> u64 {
    10
}
fn default_start() -> String {
    "2026-01-01T00:00:00Z".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PollSourceConfig {
    pub name: String,
    pub config: Option<PathBuf>,
    #[serde(default)]
    pub device: Vec<fos_connect::config::DeviceConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, tag = "kind", rename_all = "snake_case")]
pub enum TransformConfig {
    Scale { tags: String, factor: f64, #[serde(default)] offset: f64 },
    Downsample { tags: String, every: u32 },
}

impl IngestConfig {
    /// Parses and checks the file's text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<IngestConfig> {
        let bad = |reason: String| PipelineError::Config { origin: origin.to_owned(), reason };
        let c: IngestConfig = toml::from_str(text).map_err(|e| bad(e.to_string()))?;
        fos_bus::validate_token("site", &c.site).map_err(|e| bad(e.to_string()))?;
        fos_bus::validate_token("jurisdiction", &c.jurisdiction).map_err(|e| bad(e.to_string()))?;
        let mut names = std::collections::HashSet::new();
        for s in &c.source {
            if s.name().is_empty() || s.name().contains(['.', '/']) {
                return Err(bad(format!("source name {:?}: must be non-empty, without '.' or '/'", s.name())));
            }
            if !names.insert(s.name().to_owned()) {
                return Err(bad(format!("two sources are named {:?}", s.name())));
            }
            if let SourceConfig::Generator(g) = s {
                if g.tags == 0 || g.scans_per_batch == 0 || g.interval_ms == 0 {
                    return Err(bad(format!("generator {:?}: tags, scans_per_batch and interval_ms must be above 0", g.name)));
                }
                crate::source::parse_time(&g.start).map_err(|e| bad(format!("generator {:?}: start: {e}", g.name)))?;
            }
            if let SourceConfig::Vibration(v) = s {
                v.check().map_err(|e| bad(format!("vibration source {:?}: {e}", v.name)))?;
            }
            if let SourceConfig::Replay(r) = s {
                r.check().map_err(|e| bad(format!("replay source {:?}: {e}", r.name)))?;
            }
            if let SourceConfig::Waveform(w) = s {
                w.check().map_err(|e| bad(format!("waveform source {:?}: {e}", w.name)))?;
            }
            if let SourceConfig::Poll(p) = s {
                if p.config.is_none() && p.device.is_empty() {
                    return Err(bad(format!("poll source {:?}: give `config = FILE` or [[source.device]] tables", p.name)));
                }
            }
        }
        for t in &c.transform {
            if let TransformConfig::Downsample { every: 0, tags } = t {
                return Err(bad(format!("downsample of {tags:?}: every must be above 0")));
            }
        }
        if c.central.is_some() && !c.source.is_empty() {
            return Err(bad("[central] reads from NATS: it takes no [[source]]".into()));
        }
        if c.central.is_none() && c.source.is_empty() {
            return Err(bad("no [[source]] configured (and no [central])".into()));
        }
        if c.central.is_none() && !c.historian.enabled && c.nats.is_none() {
            return Err(bad("no sink: enable [historian] or configure [nats]".into()));
        }
        if c.wal.record_points == 0 || c.wal.group_points == 0 || c.wal.max_mb == 0 || c.wal.segment_mb == 0 {
            return Err(bad("[wal]: every size must be above 0".into()));
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_errors() {
        let c = IngestConfig::parse("[[source]]\nkind = \"generator\"\nname = \"gen\"\n", "x.toml").unwrap();
        assert_eq!(c.site, "edge");
        assert_eq!(c.wal.fsync, Fsync::Always);
        assert!(c.historian.enabled);
        let e = IngestConfig::parse("[[source]]\nkind = \"generator\"\nname = \"gen\"\ntagz = 3\n", "x.toml").unwrap_err();
        assert!(e.to_string().contains("x.toml") && e.to_string().contains("tagz"), "{e}");
        let e = IngestConfig::parse("", "x.toml").unwrap_err();
        assert!(e.to_string().contains("no [[source]]"), "{e}");
        let e = IngestConfig::parse("site = \"a.b\"\n[[source]]\nkind = \"generator\"\nname = \"g\"\n", "x.toml").unwrap_err();
        assert!(e.to_string().contains("site"), "{e}");
        let two = "[[source]]\nkind = \"generator\"\nname = \"g\"\n[[source]]\nkind = \"generator\"\nname = \"g\"\n";
        assert!(IngestConfig::parse(two, "x").unwrap_err().to_string().contains("two sources"));
    }
}
