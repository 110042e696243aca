//! One day partition's write buffer, kept column by column, and its conversion to a sorted Arrow
//! batch.
//!
//! Points arrive as columns (a batch's tag dictionary plus per-point tag index, time, value and
//! quality, [`crate::Historian::write_columns`]) or as [`crate::Point`]s. The buffer keeps its
//! own tag dictionary, so a point costs one `u32` for its tag rather than an `Arc<str>` clone, and
//! a file is written by ranking the partition's few tag names once, then ordering the rows by
//! (rank, time): a stable counting sort by rank when each tag's times arrive in order (the usual
//! case: scans of many tags, one after another), a comparison sort otherwise. The `tag` column is
//! built as dictionary keys straight from the ranks, with no hashing per row.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, DictionaryArray, Float64Array, Int32Array, RecordBatch, StringArray, TimestampNanosecondArray, UInt8Array,
};
use datafusion::arrow::datatypes::Int32Type;

use crate::{schema, Error, Result};

/// The write buffer of one UTC day.
#[derive(Debug)]
pub(crate) struct Partition {
    pub(crate) dir: PathBuf,
    pub(crate) next_part: u64,
    names: Vec<Arc<str>>,
    ids: HashMap<Arc<str>, u32>,
    tag: Vec<u32>,
    time: Vec<i64>,
    value: Vec<f64>,
    quality: Vec<u8>,
}

impl Partition {
    pub(crate) fn new(dir: PathBuf, next_part: u64) -> Partition {
        Partition {
            dir,
            next_part,
            names: Vec::new(),
            ids: HashMap::new(),
            tag: Vec::new(),
            time: Vec::new(),
            value: Vec::new(),
            quality: Vec::new(),
        }
    }

    /// Points buffered.
    pub(crate) fn len(&self) -> usize {
        self.tag.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.tag.is_empty()
    }

    /// The buffer's id of tag `name` (added when new).
    pub(crate) fn tag_id(&mut self, name: &Arc<str>) -> u32 {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = self.names.len() as u32;
        self.names.push(name.clone());
        self.ids.insert(name.clone(), id);
        id
    }

    /// Appends one point of buffer tag id `tag` (from [`Partition::tag_id`]).
    pub(crate) fn push(&mut self, tag: u32, time: i64, value: f64, quality: u8) {
        self.tag.push(tag);
        self.time.push(time);
        self.value.push(value);
        self.quality.push(quality);
    }

    /// Takes the buffered points out as one batch sorted by (tag, time), leaving the buffer empty
    /// (its tag dictionary too).
    pub(crate) fn take_sorted(&mut self) -> Result<RecordBatch> {
        let names = std::mem::take(&mut self.names);
        self.ids.clear();
        let tag = std::mem::take(&mut self.tag);
        let time = std::mem::take(&mut self.time);
        let value = std::mem::take(&mut self.value);
        let quality = std::mem::take(&mut self.quality);

        // Rank the names (unique within a buffer), so ranks order rows by tag name.
        let mut order: Vec<u32> = (0..names.len() as u32).collect();
        order.sort_unstable_by(|&a, &b| names[a as usize].cmp(&names[b as usize]));
        let mut rank = vec![0u32; names.len()];
        for (r, &id) in order.iter().enumerate() {
            rank[id as usize] = r as u32;
        }
        let perm = sort_permutation(&tag, &time, &rank);

        let time = TimestampNanosecondArray::from_iter_values(perm.iter().map(|&i| time[i as usize])).with_timezone("UTC");
        let keys = Int32Array::from_iter_values(perm.iter().map(|&i| rank[tag[i as usize] as usize] as i32));
        let dict_values = StringArray::from_iter_values(order.iter().map(|&id| &*names[id as usize]));
        let tags = DictionaryArray::<Int32Type>::try_new(keys, Arc::new(dict_values))?;
        let value = Float64Array::from_iter_values(perm.iter().map(|&i| value[i as usize]));
        let quality = UInt8Array::from_iter_values(perm.iter().map(|&i| quality[i as usize]));
        let columns: Vec<ArrayRef> = vec![Arc::new(time), Arc::new(tags), Arc::new(value), Arc::new(quality)];
        Ok(RecordBatch::try_new(schema(), columns)?)
    }
}

/// The row order by (rank of tag, time); among equal keys, arrival order.
fn sort_permutation(tag: &[u32], time: &[i64], rank: &[u32]) -> Vec<u32> {
    let n = tag.len();
    // Counting sort by rank, which is stable: enough when each tag's times never go back.
    let mut counts = vec![0usize; rank.len() + 1];
    let mut last = vec![i64::MIN; rank.len()];
    let mut in_order = true;
    for (&t, &ts) in tag.iter().zip(time) {
        counts[rank[t as usize] as usize + 1] += 1;
        let l = &mut last[t as usize];
        in_order &= ts >= *l;
        *l = ts;
    }
    if !in_order {
        let mut perm: Vec<u32> = (0..n as u32).collect();
        perm.sort_by_key(|&i| (rank[tag[i as usize] as usize], time[i as usize]));
        return perm;
    }
    for r in 1..counts.len() {
        counts[r] += counts[r - 1];
    }
    let mut perm = vec![0u32; n];
    for (i, &t) in tag.iter().enumerate() {
        let slot = &mut counts[rank[t as usize] as usize];
        perm[*slot] = i as u32;
        *slot += 1;
    }
    perm
}

/// Checks a columnar batch's shape before any of it is buffered.
pub(crate) fn check_columns(tags: &[Arc<str>], tag: &[u32], time: &[i64], value: &[f64], quality: &[u8]) -> Result<()> {
    let n = tag.len();
    if time.len() != n || value.len() != n || quality.len() != n {
        return Err(Error::Invalid(format!(
            "columns of unequal length: tag {n}, time {}, value {}, quality {}",
            time.len(),
            value.len(),
            quality.len()
        )));
    }
    if let Some((i, &t)) = tag.iter().enumerate().find(|(_, &t)| t as usize >= tags.len()) {
        return Err(Error::Invalid(format!("point {i} has tag index {t}, but the batch names {} tags", tags.len())));
    }
    if tags.iter().any(|t| t.is_empty()) {
        return Err(Error::EmptyTag);
    }
    Ok(())
}

#[cfg(test)]
mod tests;
