//! Transforms: applied in order to every batch between the sources and the log.

use std::collections::HashMap;
use std::sync::Arc;

use crate::config::TransformConfig;
use crate::record::Batch;

/// Whether `tag` matches `pattern` (an exact name, or a prefix ending in `*`).
pub fn matches(pattern: &str, tag: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => tag.starts_with(prefix),
        None => pattern == tag,
    }
}

/// One configured transform with its state.
#[derive(Debug)]
pub enum Transform {
    /// `value * factor + offset` (unit conversion).
    Scale { pattern: String, factor: f64, offset: f64 },
    /// Per tag, one point out per `every` points in: the mean value at the time of the last one,
    /// with the worst quality of the group. The partial group at shutdown is dropped.
    Downsample { pattern: String, every: u32, acc: HashMap<Arc<str>, (u32, f64, u8)> },
}

impl Transform {
    /// The transform a configuration entry describes.
    pub fn new(c: &TransformConfig) -> Transform {
        match c {
            TransformConfig::Scale { tags, factor, offset } => {
                Transform::Scale { pattern: tags.clone(), factor: *factor, offset: *offset }
            }
            TransformConfig::Downsample { tags, every } => {
                Transform::Downsample { pattern: tags.clone(), every: *every, acc: HashMap::new() }
            }
        }
    }

    /// Applies the transform to `b` in place.
    pub fn apply(&mut self, b: &mut Batch) {
        match self {
            Transform::Scale { pattern, factor, offset } => {
                let hit: Vec<bool> = b.tags.iter().map(|t| matches(pattern, t)).collect();
                for i in 0..b.len() {
                    if hit[b.tag[i] as usize] {
                        b.value[i] = b.value[i] * *factor + *offset;
                    }
                }
            }
            Transform::Downsample { pattern, every, acc } => {
                let hit: Vec<bool> = b.tags.iter().map(|t| matches(pattern, t)).collect();
                let mut out = Batch { tags: b.tags.clone(), ..Batch::default() };
                for i in 0..b.len() {
                    let t = b.tag[i];
                    if !hit[t as usize] {
                        out.push(t, b.time[i], b.value[i], b.quality[i]);
                        continue;
                    }
                    let e = acc.entry(b.tags[t as usize].clone()).or_insert((0, 0.0, 0));
                    e.0 += 1;
                    e.1 += b.value[i];
                    e.2 = e.2.max(b.quality[i]);
                    if e.0 == *every {
                        out.push(t, b.time[i], e.1 / f64::from(*every), e.2);
                        *e = (0, 0.0, 0);
                    }
                }
                *b = out;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch() -> Batch {
        let mut b = Batch { tags: vec![Arc::from("a.temp"), Arc::from("b.flow")], ..Batch::default() };
        for i in 0..4 {
            b.push(0, i, i as f64, 0);
            b.push(1, i, 10.0 * i as f64, if i == 1 { 2 } else { 0 });
        }
        b
    }

    #[test]
    fn scale_converts_matching_tags_only() {
        let mut b = batch();
        Transform::new(&TransformConfig::Scale { tags: "a.*".into(), factor: 1.8, offset: 32.0 }).apply(&mut b);
        assert_eq!(b.value, [32.0, 0.0, 33.8, 10.0, 35.6, 20.0, 37.4, 30.0]);
    }

    #[test]
    fn downsample_means_per_tag_across_batches() {
        let mut t = Transform::new(&TransformConfig::Downsample { tags: "b.flow".into(), every: 3 });
        let mut b1 = batch();
        t.apply(&mut b1);
        // a.temp untouched (4 points), b.flow: one mean of 0, 10, 20 at time 2, worst quality 2.
        assert_eq!(b1.len(), 5);
        let flow: Vec<(i64, f64, u8)> =
            (0..b1.len()).filter(|&i| b1.tag[i] == 1).map(|i| (b1.time[i], b1.value[i], b1.quality[i])).collect();
        assert_eq!(flow, [(2, 10.0, 2)]);
        // The fourth flow point waits for two more from the next batch.
        let mut b2 = batch();
        t.apply(&mut b2);
        let flow: Vec<(i64, f64)> = (0..b2.len()).filter(|&i| b2.tag[i] == 1).map(|i| (b2.time[i], b2.value[i])).collect();
        assert_eq!(flow, [(1, (30.0 + 0.0 + 10.0) / 3.0)]);
    }
}
