//! The write-ahead-log record of a batch of points, and its codec.
//!
//! One record holds one batch of (time, tag, value, quality) points plus the position every source
//! had reached when the batch was written, so that a restart resumes each source right after what
//! the log holds. The same bytes travel over NATS to the central site.
//!
//! ```text
//! u8  version (1)
//! u16 number of positions, then per position: u16 name length, name (UTF-8), u64 position
//! u32 number of tags,      then per tag:      u16 name length, name (UTF-8)
//! u32 number of points n
//! n × u32 tag index, n × i64 time (ns since the Unix epoch), n × u64 value bits, n × u8 quality
//! ```
//!
//! All integers little-endian. Columns rather than rows, so encoding and decoding are copies. The
//! record's integrity is the WAL's CRC (and JetStream's); decoding still checks every length and
//! index and reports the first problem with its byte offset, never panics.

use std::collections::BTreeMap;
use std::sync::Arc;

use fos_historian::{Point, WaveformBlock};

const VERSION: u8 = 1;
/// Bytes per point in a record.
pub const BYTES_PER_POINT: usize = 4 + 8 + 8 + 1;

/// A batch of points in columns, with a tag dictionary.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Batch {
    /// Tag names; `tag[i]` indexes this.
    pub tags: Vec<Arc<str>>,
    /// Tag index per point.
    pub tag: Vec<u32>,
    /// Time per point, ns since the Unix epoch (UTC).
    pub time: Vec<i64>,
    /// Value per point (any f64, kept bit for bit).
    pub value: Vec<f64>,
    /// Quality per point (`fos_historian::quality`).
    pub quality: Vec<u8>,
}

impl Batch {
    /// Number of points.
    pub fn len(&self) -> usize {
        self.tag.len()
    }

    /// Whether the batch holds no point.
    pub fn is_empty(&self) -> bool {
        self.tag.is_empty()
    }

    /// Appends one point of tag index `tag`.
    pub fn push(&mut self, tag: u32, time: i64, value: f64, quality: u8) {
        self.tag.push(tag);
        self.time.push(time);
        self.value.push(value);
        self.quality.push(quality);
    }

    /// The points as historian points.
    pub fn to_points(&self, out: &mut Vec<Point>) {
        out.reserve(self.len());
        for i in 0..self.len() {
            out.push(Point {
                time_ns: self.time[i],
                tag: self.tags[self.tag[i] as usize].clone(),
                value: self.value[i],
                quality: self.quality[i],
            });
        }
    }

    /// Splits into batches of at most `max` points (the tag dictionary is shared by all parts).
    pub fn split(self, max: usize) -> Vec<Batch> {
        let max = max.max(1);
        if self.len() <= max {
            return vec![self];
        }
        let mut out = Vec::new();
        let mut start = 0;
        while start < self.len() {
            let end = (start + max).min(self.len());
            out.push(Batch {
                tags: self.tags.clone(),
                tag: self.tag[start..end].to_vec(),
                time: self.time[start..end].to_vec(),
                value: self.value[start..end].to_vec(),
                quality: self.quality[start..end].to_vec(),
            });
            start = end;
        }
        out
    }
}

/// A decoded record.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Record {
    /// Position of every source when the batch was written.
    pub positions: BTreeMap<String, u64>,
    /// The points.
    pub batch: Batch,
}

/// Why a record could not be decoded, with the byte offset.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("batch record, byte {offset}: {reason}")]
pub struct DecodeError {
    /// Offset of the problem in the record.
    pub offset: usize,
    /// What is wrong.
    pub reason: String,
}

/// Encodes `batch` and `positions` into `out` (cleared first). Tag names longer than 65,535
/// bytes and batches of 2³² points or more are refused by the caller's limits (see
/// [`check_encodable`]).
pub fn encode(positions: &BTreeMap<String, u64>, batch: &Batch, out: &mut Vec<u8>) {
    out.clear();
    let names: usize = positions.keys().map(|k| 2 + k.len() + 8).sum::<usize>()
        + batch.tags.iter().map(|t| 2 + t.len()).sum::<usize>();
    out.reserve(1 + 2 + 4 + 4 + names + batch.len() * BYTES_PER_POINT);
    out.push(VERSION);
    out.extend_from_slice(&(positions.len() as u16).to_le_bytes());
    for (k, v) in positions {
        out.extend_from_slice(&(k.len() as u16).to_le_bytes());
        out.extend_from_slice(k.as_bytes());
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(&(batch.tags.len() as u32).to_le_bytes());
    for t in &batch.tags {
        out.extend_from_slice(&(t.len() as u16).to_le_bytes());
        out.extend_from_slice(t.as_bytes());
    }
    out.extend_from_slice(&(batch.len() as u32).to_le_bytes());
    for &t in &batch.tag {
        out.extend_from_slice(&t.to_le_bytes());
    }
    for &t in &batch.time {
        out.extend_from_slice(&t.to_le_bytes());
    }
    for &v in &batch.value {
        out.extend_from_slice(&v.to_bits().to_le_bytes());
    }
    out.extend_from_slice(&batch.quality);
}

/// Checks what [`encode`] cannot represent: more than 65,535 positions, names over 65,535 bytes,
/// 2³² points or tags, columns of unequal length, a tag index outside the dictionary.
pub fn check_encodable(positions: &BTreeMap<String, u64>, batch: &Batch) -> Result<(), String> {
    if positions.len() > u16::MAX as usize {
        return Err(format!("{} source positions (at most 65535)", positions.len()));
    }
    if let Some(k) = positions.keys().find(|k| k.len() > u16::MAX as usize) {
        return Err(format!("source name of {} bytes (at most 65535)", k.len()));
    }
    if let Some(t) = batch.tags.iter().find(|t| t.len() > u16::MAX as usize || t.is_empty()) {
        return Err(format!("tag name of {} bytes (1 to 65535)", t.len()));
    }
    let n = batch.tag.len();
    if batch.time.len() != n || batch.value.len() != n || batch.quality.len() != n {
        return Err("columns of unequal length".into());
    }
    if n > u32::MAX as usize || batch.tags.len() > u32::MAX as usize {
        return Err(format!("{n} points (at most 2^32 - 1)"));
    }
    if let Some(&t) = batch.tag.iter().find(|&&t| t as usize >= batch.tags.len()) {
        return Err(format!("tag index {t} outside a dictionary of {}", batch.tags.len()));
    }
    Ok(())
}

struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn err(&self, reason: impl Into<String>) -> DecodeError {
        DecodeError { offset: self.pos, reason: reason.into() }
    }
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], DecodeError> {
        if self.buf.len() - self.pos < n {
            return Err(self.err(format!("{what}: needs {n} bytes, {} left", self.buf.len() - self.pos)));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    fn u16(&mut self, what: &str) -> Result<u16, DecodeError> {
        Ok(u16::from_le_bytes(self.take(2, what)?.try_into().expect("2 bytes")))
    }
    fn u32(&mut self, what: &str) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.take(4, what)?.try_into().expect("4 bytes")))
    }
    fn u64(&mut self, what: &str) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.take(8, what)?.try_into().expect("8 bytes")))
    }
    fn name(&mut self, what: &str) -> Result<&'a str, DecodeError> {
        let len = self.u16(what)? as usize;
        let at = self.pos;
        let bytes = self.take(len, what)?;
        std::str::from_utf8(bytes).map_err(|e| DecodeError { offset: at, reason: format!("{what}: not UTF-8 ({e})") })
    }
}

/// Version byte of a waveform record: positions as in a batch record, then `u16` channel length,
/// channel (UTF-8), `i64` start (ns), `f64` rate (Hz, as bits), `u32` n, n × `f64` samples (bits).
const WAVEFORM_VERSION: u8 = 2;

/// Encodes one waveform block (raw high-rate samples, stored as a block with its content hash).
pub fn encode_waveform(positions: &BTreeMap<String, u64>, block: &WaveformBlock, out: &mut Vec<u8>) {
    out.clear();
    out.push(WAVEFORM_VERSION);
    out.extend_from_slice(&(positions.len() as u16).to_le_bytes());
    for (k, v) in positions {
        out.extend_from_slice(&(k.len() as u16).to_le_bytes());
        out.extend_from_slice(k.as_bytes());
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(&(block.channel.len() as u16).to_le_bytes());
    out.extend_from_slice(block.channel.as_bytes());
    out.extend_from_slice(&block.start_ns.to_le_bytes());
    out.extend_from_slice(&block.rate_hz.to_bits().to_le_bytes());
    out.extend_from_slice(&(block.samples.len() as u32).to_le_bytes());
    for v in &block.samples {
        out.extend_from_slice(&v.to_bits().to_le_bytes());
    }
}

/// A decoded record of either kind.
#[derive(Debug, Clone, PartialEq)]
pub enum Decoded {
    /// A batch of points.
    Points(Record),
    /// One waveform block, with the positions.
    Waveform(BTreeMap<String, u64>, WaveformBlock),
}

/// Decodes a record of either kind.
pub fn decode_any(
    buf: &[u8],
    tag_cache: &mut std::collections::HashMap<String, Arc<str>>,
) -> Result<Decoded, DecodeError> {
    if buf.first() != Some(&WAVEFORM_VERSION) {
        return decode(buf, tag_cache).map(Decoded::Points);
    }
    let mut c = Cursor { buf, pos: 1 };
    let mut positions = BTreeMap::new();
    for _ in 0..c.u16("position count")? {
        let name = c.name("source name")?.to_owned();
        let pos = c.u64("source position")?;
        positions.insert(name, pos);
    }
    let channel = c.name("channel")?.to_owned();
    let start_ns = c.u64("start")? as i64;
    let rate_hz = f64::from_bits(c.u64("rate")?);
    let n = c.u32("sample count")? as usize;
    if buf.len() - c.pos != n.saturating_mul(8) {
        return Err(c.err(format!("{n} samples need {} bytes, the record has {}", n.saturating_mul(8), buf.len() - c.pos)));
    }
    let samples =
        c.take(8 * n, "samples")?.chunks_exact(8).map(|b| f64::from_bits(u64::from_le_bytes(b.try_into().expect("8")))).collect();
    Ok(Decoded::Waveform(positions, WaveformBlock { channel, start_ns, rate_hz, samples }))
}

/// Decodes a record; `tag_cache` interns tag names across records (pass the same map each time to
/// share one `Arc<str>` per tag).
pub fn decode(buf: &[u8], tag_cache: &mut std::collections::HashMap<String, Arc<str>>) -> Result<Record, DecodeError> {
    let mut c = Cursor { buf, pos: 0 };
    let version = c.take(1, "version")?[0];
    if version != VERSION {
        return Err(DecodeError { offset: 0, reason: format!("unknown version {version} (this build reads {VERSION})") });
    }
    let mut positions = BTreeMap::new();
    for _ in 0..c.u16("position count")? {
        let name = c.name("source name")?.to_owned();
        let pos = c.u64("source position")?;
        positions.insert(name, pos);
    }
    let ntags = c.u32("tag count")? as usize;
    // Each tag takes at least two bytes: refuse counts the record cannot hold before allocating.
    if ntags > (buf.len() - c.pos) / 2 {
        return Err(c.err(format!("tag count {ntags} exceeds what the record can hold")));
    }
    let mut tags = Vec::with_capacity(ntags);
    for _ in 0..ntags {
        let at = c.pos;
        let name = c.name("tag name")?;
        if name.is_empty() {
            return Err(DecodeError { offset: at, reason: "empty tag name".into() });
        }
        let tag = match tag_cache.get(name) {
            Some(t) => t.clone(),
            None => {
                let t: Arc<str> = Arc::from(name);
                tag_cache.insert(name.to_owned(), t.clone());
                t
            }
        };
        tags.push(tag);
    }
    let n = c.u32("point count")? as usize;
    let need = n.checked_mul(BYTES_PER_POINT).ok_or_else(|| c.err("point count overflows"))?;
    if buf.len() - c.pos != need {
        return Err(c.err(format!(
            "{n} points need {need} bytes, the record has {} after the header",
            buf.len() - c.pos
        )));
    }
    let tag_bytes = c.take(4 * n, "tag column")?;
    let mut tag = Vec::with_capacity(n);
    for (i, b) in tag_bytes.chunks_exact(4).enumerate() {
        let t = u32::from_le_bytes(b.try_into().expect("4 bytes"));
        if t as usize >= ntags {
            return Err(DecodeError {
                offset: c.pos - 4 * n + 4 * i,
                reason: format!("point {i}: tag index {t} outside a dictionary of {ntags}"),
            });
        }
        tag.push(t);
    }
    let time = c.take(8 * n, "time column")?.chunks_exact(8).map(|b| i64::from_le_bytes(b.try_into().expect("8"))).collect();
    let value = c
        .take(8 * n, "value column")?
        .chunks_exact(8)
        .map(|b| f64::from_bits(u64::from_le_bytes(b.try_into().expect("8"))))
        .collect();
    let quality = c.take(n, "quality column")?.to_vec();
    Ok(Record { positions, batch: Batch { tags, tag, time, value, quality } })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    fn sample() -> (BTreeMap<String, u64>, Batch) {
        let mut b = Batch { tags: vec![Arc::from("a.x"), Arc::from("b.y")], ..Batch::default() };
        b.push(0, 1, 1.5, 0);
        b.push(1, -2, f64::from_bits(0x7ff8_0000_dead_beef), 2);
        b.push(0, i64::MAX, -0.0, 1);
        (BTreeMap::from([("gen".to_owned(), 41)]), b)
    }

    #[test]
    fn round_trip_is_bit_exact() {
        let (p, b) = sample();
        let mut buf = Vec::new();
        check_encodable(&p, &b).unwrap();
        encode(&p, &b, &mut buf);
        let r = decode(&buf, &mut HashMap::new()).unwrap();
        assert_eq!(r.positions, p);
        assert_eq!(r.batch.tags, b.tags);
        assert_eq!(r.batch.time, b.time);
        assert_eq!(r.batch.value.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), b.value.iter().map(|v| v.to_bits()).collect::<Vec<_>>());
        assert_eq!(r.batch.quality, b.quality);
    }

    #[test]
    fn damage_is_reported_with_its_offset() {
        let (p, b) = sample();
        let mut buf = Vec::new();
        encode(&p, &b, &mut buf);
        let mut bad = buf.clone();
        bad[0] = 9;
        assert!(decode(&bad, &mut HashMap::new()).unwrap_err().reason.contains("unknown version 9"));
        let e = decode(&buf[..buf.len() - 1], &mut HashMap::new()).unwrap_err();
        assert!(e.reason.contains("3 points need 63 bytes"), "{e}");
        // Tag index 7 in the first point.
        let col = buf.len() - 3 * BYTES_PER_POINT;
        let mut bad = buf.clone();
        bad[col] = 7;
        let e = decode(&bad, &mut HashMap::new()).unwrap_err();
        assert_eq!(e.offset, col);
        assert!(e.reason.contains("tag index 7"), "{e}");
    }

    #[test]
    fn split_keeps_every_point_in_order() {
        let (_, mut b) = sample();
        for i in 0..10 {
            b.push(1, i, i as f64, 0);
        }
        let parts = b.clone().split(4);
        assert_eq!(parts.iter().map(Batch::len).collect::<Vec<_>>(), [4, 4, 4, 1]);
        let times: Vec<i64> = parts.iter().flat_map(|p| p.time.clone()).collect();
        assert_eq!(times, b.time);
    }

    #[test]
    fn waveform_records_round_trip_and_points_decode_refuses_them() {
        let block = WaveformBlock { channel: "vib.ch0".into(), start_ns: 42, rate_hz: 25_600.0, samples: vec![1.0, -0.0, f64::NAN] };
        let pos = BTreeMap::from([("vib".to_owned(), 3)]);
        let mut buf = Vec::new();
        encode_waveform(&pos, &block, &mut buf);
        match decode_any(&buf, &mut HashMap::new()).unwrap() {
            Decoded::Waveform(p, b) => {
                assert_eq!(p, pos);
                assert_eq!(b.content_hash(), block.content_hash());
            }
            other => panic!("{other:?}"),
        }
        assert!(decode(&buf, &mut HashMap::new()).unwrap_err().reason.contains("unknown version 2"));
        assert!(decode_any(&buf[..buf.len() - 1], &mut HashMap::new()).is_err());
    }

    proptest! {
        #[test]
        fn decoding_any_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode_any(&bytes, &mut HashMap::new());
        }

        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode(&bytes, &mut HashMap::new());
        }

        #[test]
        fn truncations_of_a_valid_record_are_errors(cut in 0usize..80) {
            let (p, b) = sample();
            let mut buf = Vec::new();
            encode(&p, &b, &mut buf);
            prop_assume!(cut < buf.len());
            prop_assert!(decode(&buf[..cut], &mut HashMap::new()).is_err());
        }
    }
}
