//! Where the server's data beyond the site comes from, as traits the caller implements or picks:
//!
//! - [`TrendSource`]: a tag's history between two times, downsampled to at most N points;
//!   [`HistorianTrends`] runs it as SQL over a historian folder's Parquet files (read-only, without
//!   the historian's writer lock, so a pipeline may be writing the same folder).
//! - [`WaveformSource`]: the latest stored waveform block of a channel, for the spectrum;
//!   [`LatestBlocks`] keeps the latest block per channel in memory for a pipeline to update.
//!
//! Both are called from blocking threads, never on the async runtime.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use fos_historian::arrow::array::{Array, AsArray};
use fos_historian::arrow::datatypes::{Float64Type, Int64Type};
use fos_historian::WaveformBlock;
use serde::Serialize;

use crate::events::EventBus;

/// Why a provider could not answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProviderError {
    /// The request cannot be answered as asked (a range backwards, too many points).
    #[error("{0}")]
    Invalid(String),
    /// The source failed (a query, a file).
    #[error("{0}")]
    Failed(String),
}

/// One bucket of a trend.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrendPoint {
    /// Start of the bucket, Unix ms.
    pub t_ms: i64,
    /// Mean of the good and uncertain samples in it.
    pub mean: f64,
    /// Their minimum.
    pub min: f64,
    /// Their maximum.
    pub max: f64,
    /// How many.
    pub count: u64,
}

/// A tag's history, downsampled.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Trend {
    /// The tag.
    pub tag: String,
    /// Start, Unix ms (inclusive).
    pub from_ms: i64,
    /// End, Unix ms (exclusive).
    pub to_ms: i64,
    /// Width of each bucket, ms.
    pub bucket_ms: i64,
    /// Buckets with samples, in time order (at most `max_points`).
    pub points: Vec<TrendPoint>,
}

/// A tag's history.
pub trait TrendSource: Send + Sync {
    /// Samples of `tag` in `[from_ms, to_ms)`, averaged into at most `max_points` equal buckets
    /// (min, max and count kept, so spikes stay visible). Bad-quality samples are left out.
    fn trend(&self, tag: &str, from_ms: i64, to_ms: i64, max_points: usize) -> Result<Trend, ProviderError>;
}

/// The latest waveform block of a channel.
pub trait WaveformSource: Send + Sync {
    /// The most recent block of `channel`, if any.
    fn latest(&self, channel: &str) -> Result<Option<WaveformBlock>, ProviderError>;
}

/// What the server reads besides the site, and the event channel it shares with the caller.
#[derive(Clone)]
pub struct Providers {
    /// Trends (none: the trend route answers 404).
    pub trends: Option<Arc<dyn TrendSource>>,
    /// Waveforms (none: the spectrum route answers 404).
    pub waveforms: Option<Arc<dyn WaveformSource>>,
    /// The event channel: the server's handlers and the caller publish to it, `/api/events` streams it.
    pub events: EventBus,
}

impl std::fmt::Debug for Providers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Providers")
            .field("trends", &self.trends.is_some())
            .field("waveforms", &self.waveforms.is_some())
            .finish_non_exhaustive()
    }
}

impl Providers {
    /// No trends, no waveforms, a new event channel.
    pub fn new() -> Providers {
        Providers { trends: None, waveforms: None, events: EventBus::new(1024) }
    }

    /// With a trend source.
    pub fn with_trends(mut self, t: Arc<dyn TrendSource>) -> Providers {
        self.trends = Some(t);
        self
    }

    /// With a waveform source.
    pub fn with_waveforms(mut self, w: Arc<dyn WaveformSource>) -> Providers {
        self.waveforms = Some(w);
        self
    }
}

impl Default for Providers {
    fn default() -> Self {
        Providers::new()
    }
}

/// Trends by SQL over the historian of a data folder (`DIR/historian/samples`), read-only.
#[derive(Debug, Clone)]
pub struct HistorianTrends {
    data_dir: PathBuf,
}

impl HistorianTrends {
    /// Trends of the historian under `data_dir` (made absolute).
    pub fn new(data_dir: impl Into<PathBuf>) -> HistorianTrends {
        let d: PathBuf = data_dir.into();
        let data_dir = std::path::absolute(&d).unwrap_or(d);
        HistorianTrends { data_dir }
    }

    /// The SQL of one trend (the tag quoted as an SQL string literal).
    pub fn sql(tag: &str, from_ms: i64, to_ms: i64, bucket_ms: i64) -> String {
        let tag = tag.replace('\'', "''");
        let from_ns = from_ms.saturating_mul(1_000_000);
        let bucket_ns = bucket_ms.saturating_mul(1_000_000).max(1);
        format!(
            "SELECT (CAST(time AS BIGINT) - {from_ns}) / {bucket_ns} AS b, avg(value) AS mean, min(value) AS lo, \
             max(value) AS hi, count(*) AS n FROM samples \
             WHERE tag = '{tag}' AND time >= '{}' AND time < '{}' AND quality < {} \
             GROUP BY b ORDER BY b",
            rfc3339(from_ms),
            rfc3339(to_ms),
            fos_historian::quality::BAD
        )
    }
}

fn rfc3339(ms: i64) -> String {
    fos_prov::format_time(u64::try_from(ms).unwrap_or(0))
}

/// Checks a trend request and returns the bucket width.
pub fn bucket_ms(from_ms: i64, to_ms: i64, max_points: usize) -> Result<i64, ProviderError> {
    if to_ms <= from_ms {
        return Err(ProviderError::Invalid(format!("to ({to_ms} ms) must be after from ({from_ms} ms)")));
    }
    if from_ms < 0 {
        return Err(ProviderError::Invalid(format!("from ({from_ms} ms) is before 1970")));
    }
    let n = i64::try_from(max_points.max(1)).unwrap_or(i64::MAX);
    let span = to_ms - from_ms;
    Ok((span + n - 1) / n)
}

impl TrendSource for HistorianTrends {
    fn trend(&self, tag: &str, from_ms: i64, to_ms: i64, max_points: usize) -> Result<Trend, ProviderError> {
        let bucket = bucket_ms(from_ms, to_ms, max_points)?;
        let sql = HistorianTrends::sql(tag, from_ms, to_ms, bucket);
        let samples = self.data_dir.join("historian").join("samples");
        if !samples.is_dir() {
            return Ok(Trend { tag: tag.to_owned(), from_ms, to_ms, bucket_ms: bucket, points: Vec::new() });
        }
        let url = self.data_dir.display().to_string();
        let (_, batches) = fos_historian::mirror::query_store(&url, &sql, &fos_historian::AtRest::plain())
            .map_err(|e| ProviderError::Failed(format!("trend of {tag}: {e}")))?;
        let mut points = Vec::new();
        for batch in &batches {
            let col = |i: usize| batch.column(i);
            let (b, mean, lo, hi, n) = (
                col(0).as_primitive_opt::<Int64Type>(),
                col(1).as_primitive_opt::<Float64Type>(),
                col(2).as_primitive_opt::<Float64Type>(),
                col(3).as_primitive_opt::<Float64Type>(),
                col(4).as_primitive_opt::<Int64Type>(),
            );
            let (Some(b), Some(mean), Some(lo), Some(hi), Some(n)) = (b, mean, lo, hi, n) else {
                return Err(ProviderError::Failed(format!("trend of {tag}: unexpected column types {:?}", batch.schema())));
            };
            for i in 0..batch.num_rows() {
                if b.is_null(i) || mean.is_null(i) {
                    continue;
                }
                points.push(TrendPoint {
                    t_ms: from_ms + b.value(i) * bucket,
                    mean: mean.value(i),
                    min: lo.value(i),
                    max: hi.value(i),
                    count: u64::try_from(n.value(i)).unwrap_or(0),
                });
            }
        }
        points.sort_by_key(|p| p.t_ms);
        Ok(Trend { tag: tag.to_owned(), from_ms, to_ms, bucket_ms: bucket, points })
    }
}

/// The latest block per channel, in memory: a pipeline calls [`LatestBlocks::put`] for each block it
/// stores.
#[derive(Debug, Default)]
pub struct LatestBlocks {
    blocks: Mutex<HashMap<String, WaveformBlock>>,
}

impl LatestBlocks {
    /// Empty.
    pub fn new() -> LatestBlocks {
        LatestBlocks::default()
    }

    /// Keeps `block` as its channel's latest, unless a later one is held.
    pub fn put(&self, block: WaveformBlock) {
        let mut m = self.blocks.lock().unwrap_or_else(PoisonError::into_inner);
        match m.get(&block.channel) {
            Some(held) if held.start_ns > block.start_ns => {}
            _ => {
                m.insert(block.channel.clone(), block);
            }
        }
    }
}

impl WaveformSource for LatestBlocks {
    fn latest(&self, channel: &str) -> Result<Option<WaveformBlock>, ProviderError> {
        Ok(self.blocks.lock().unwrap_or_else(PoisonError::into_inner).get(channel).cloned())
    }
}
