//! The last-value cache: per tag, the latest (time, value, quality), for "current value" reads that
//! should not scan Parquet.
//!
//! Rules:
//! - a point replaces the held value when its time is at or after the held one (at equal times the
//!   later point wins, within one slice too); older points are ignored;
//! - the cache holds at most `max_tags` tags and never evicts: a point of a new tag that finds the
//!   cache full is not cached, and its tag is reported in [`LvcUpdate::refused`] (tags already held
//!   are always updated), so a cache that is too small is visible, never silently stale;
//! - [`LastValueCache::seed`] fills it at start from the stored data with one SQL query (the latest
//!   row per tag; among rows with one tag and the same latest time, one of them).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use datafusion::arrow::array::AsArray;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type, Int64Type, UInt8Type};

use crate::{Historian, Point, Result};

/// The latest value of one tag.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LastValue {
    /// Nanoseconds since the Unix epoch, UTC.
    pub time_ns: i64,
    /// The value.
    pub value: f64,
    /// Quality code, see [`crate::quality`].
    pub quality: u8,
}

/// What one [`LastValueCache::update`] did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LvcUpdate {
    /// Points that added a tag or changed its held (time, value bits, quality).
    pub changed: usize,
    /// New tags not cached because the cache was full (each once, in name order).
    pub refused: Vec<Arc<str>>,
}

/// The SQL of [`LastValueCache::seed`]: the latest row per tag.
pub const SEED_SQL: &str = "SELECT tag, CAST(time AS BIGINT) AS t, value, quality FROM (SELECT tag, time, value, \
     quality, row_number() OVER (PARTITION BY tag ORDER BY time DESC) AS rn FROM samples) WHERE rn = 1";

/// Per tag, the latest (time, value, quality); bounded by tag count (see the module doc).
#[derive(Debug, Clone)]
pub struct LastValueCache {
    max_tags: usize,
    values: HashMap<Arc<str>, LastValue>,
}

impl LastValueCache {
    /// An empty cache that holds at most `max_tags` tags.
    pub fn new(max_tags: usize) -> Self {
        LastValueCache { max_tags, values: HashMap::new() }
    }

    /// A cache of at most `max_tags` tags seeded from the historian's stored (flushed) data.
    pub fn seeded(historian: &Historian, max_tags: usize) -> Result<(Self, LvcUpdate)> {
        let mut cache = LastValueCache::new(max_tags);
        let update = cache.seed(historian)?;
        Ok((cache, update))
    }

    /// Update from points (any order); see the module doc for the rules.
    pub fn update(&mut self, points: &[Point]) -> LvcUpdate {
        let mut changed = 0;
        let mut refused = BTreeSet::new();
        for p in points {
            let new = LastValue { time_ns: p.time_ns, value: p.value, quality: p.quality };
            if let Some(held) = self.values.get_mut(&p.tag) {
                let key = |v: &LastValue| (v.time_ns, v.value.to_bits(), v.quality);
                if p.time_ns >= held.time_ns && key(held) != key(&new) {
                    *held = new;
                    changed += 1;
                }
            } else if self.values.len() < self.max_tags {
                self.values.insert(p.tag.clone(), new);
                changed += 1;
            } else {
                refused.insert(p.tag.clone());
            }
        }
        LvcUpdate { changed, refused: refused.into_iter().collect() }
    }

    /// Update from the latest stored row of every tag ([`SEED_SQL`]).
    pub fn seed(&mut self, historian: &Historian) -> Result<LvcUpdate> {
        let mut points = Vec::new();
        for b in historian.query(SEED_SQL)? {
            let tags = cast(b.column(0), &DataType::Utf8)?;
            let (tags, t) = (tags.as_string::<i32>(), b.column(1).as_primitive::<Int64Type>());
            let value = cast(b.column(2), &DataType::Float64)?;
            let quality = cast(b.column(3), &DataType::UInt8)?;
            let (value, quality) = (value.as_primitive::<Float64Type>(), quality.as_primitive::<UInt8Type>());
            for i in 0..b.num_rows() {
                let tag = Arc::from(tags.value(i));
                points.push(Point { time_ns: t.value(i), tag, value: value.value(i), quality: quality.value(i) });
            }
        }
        Ok(self.update(&points))
    }

    /// The latest value of `tag`.
    pub fn get(&self, tag: &str) -> Option<LastValue> {
        self.values.get(tag).copied()
    }

    /// Every held tag and its latest value, in tag order.
    pub fn snapshot(&self) -> Vec<(Arc<str>, LastValue)> {
        let mut out: Vec<_> = self.values.iter().map(|(t, v)| (t.clone(), *v)).collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Tags held.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether no tag is held.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The bound on tags.
    pub fn max_tags(&self) -> usize {
        self.max_tags
    }
}

#[cfg(test)]
mod tests;
