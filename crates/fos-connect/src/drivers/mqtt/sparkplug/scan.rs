//! A pre-scan of a Sparkplug B payload's protobuf wire format (no allocation) that estimates
//! the memory decoding, rendering and serializing it will take, so "protobuf bombs" are refused
//! before `prost` builds anything.
//!
//! Protobuf decoding is linear in the input, but the constant is large: an empty `Metric` is 2
//! bytes on the wire and over a kilobyte once decoded, named, rendered as JSON and kept in the
//! host state, so a 4 MiB payload of empty metrics would need gigabytes. The scan walks the
//! message tree (the message-typed fields of `sparkplug_b.proto`, nesting limited to 100 like
//! `prost`), adds a cost per message and per repeated scalar, plus a multiple of the payload size
//! for the leaf content (strings, bytes), and refuses the payload when the total exceeds
//! [`BUDGET`]. The costs are upper bounds measured with a counting allocator
//! (`tests/fuzz_corpus_mqtt.rs`); a real payload costs a few times its size and passes.

use crate::error::FrameError;
use crate::frame::FrameReader;

/// Most memory (estimated, bytes) one payload may need to be decoded and rendered.
pub(crate) const BUDGET: usize = 128 << 20;

/// Nesting limit, as `prost`'s.
const MAX_DEPTH: usize = 100;

/// Leaf content (strings, bytes) is copied a few times: prost's field, the JSON value, its
/// serialized (possibly escaped) text.
const PER_BYTE: usize = 8;

/// The message types of `sparkplug_b.proto`. A metric nested in a template is counted apart: its
/// rendering (a JSON object) costs more than a top-level metric's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Payload,
    Metric,
    NestedMetric,
    MetaData,
    PropertySet,
    PropertySetList,
    PropertyValue,
    DataSet,
    Row,
    DataSetValue,
    Template,
    Parameter,
    Extension,
}

impl Kind {
    /// Estimated bytes per message of this kind (decoded struct, its share of vector growth,
    /// rendering, host state, JSON text).
    fn cost(self) -> usize {
        match self {
            Kind::Payload => 512,
            Kind::Metric => 1024,
            Kind::NestedMetric => 2048,
            Kind::MetaData => 384,
            Kind::PropertySet => 384,
            Kind::PropertySetList => 192,
            Kind::PropertyValue => 256,
            Kind::DataSet => 384,
            Kind::Row => 192,
            Kind::DataSetValue => 112,
            Kind::Template => 512,
            Kind::Parameter => 512,
            Kind::Extension => 48,
        }
    }

    /// The kind of field `tag` of this message where it is message-typed.
    fn child(self, tag: u64) -> Option<Kind> {
        Some(match (self, tag) {
            (Kind::Payload, 2) => Kind::Metric,
            (Kind::Metric | Kind::NestedMetric, 8) => Kind::MetaData,
            (Kind::Metric | Kind::NestedMetric, 9) => Kind::PropertySet,
            (Kind::Metric | Kind::NestedMetric, 17) => Kind::DataSet,
            (Kind::Metric | Kind::NestedMetric, 18) => Kind::Template,
            (Kind::Metric | Kind::NestedMetric, 19) => Kind::Extension,
            (Kind::PropertySet, 2) => Kind::PropertyValue,
            (Kind::PropertySetList, 1) => Kind::PropertySet,
            (Kind::PropertyValue, 9) => Kind::PropertySet,
            (Kind::PropertyValue, 10) => Kind::PropertySetList,
            (Kind::PropertyValue, 11) => Kind::Extension,
            (Kind::DataSet, 4) => Kind::Row,
            (Kind::Row, 1) => Kind::DataSetValue,
            (Kind::DataSetValue, 7) => Kind::Extension,
            (Kind::Template, 2) => Kind::NestedMetric,
            (Kind::Template, 3) => Kind::Parameter,
            (Kind::Parameter, 9) => Kind::Extension,
            _ => return None,
        })
    }

    /// Cost of one element of a repeated scalar field (string lists, DataSet column types), per
    /// occurrence or, packed, per byte.
    fn repeated_scalar(self, tag: u64) -> Option<usize> {
        match (self, tag) {
            (Kind::PropertySet, 1) | (Kind::DataSet, 2 | 3) => Some(112),
            _ => None,
        }
    }
}

/// The estimated cost of decoding `bytes` as a Sparkplug `Payload`, or an error when the wire
/// format is broken or the estimate exceeds [`BUDGET`].
pub(crate) fn cost(bytes: &[u8]) -> Result<usize, FrameError> {
    let mut total = bytes.len().saturating_mul(PER_BYTE);
    walk(bytes, 0, Kind::Payload, 0, &mut total)?;
    Ok(total)
}

fn add(total: &mut usize, n: usize, at: usize) -> Result<(), FrameError> {
    *total = total.saturating_add(n);
    if *total > BUDGET {
        return Err(FrameError::new(
            at,
            format!(
                "refused: decoding would need more than {} MiB (a payload of very many tiny or deeply nested \
                 messages, a \"protobuf bomb\")",
                BUDGET >> 20
            ),
        ));
    }
    Ok(())
}

fn varint(r: &mut FrameReader<'_>, field: &str) -> Result<u64, FrameError> {
    let mut v: u64 = 0;
    for shift in (0..64).step_by(7) {
        let b = r.u8(field)?;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(r.error(format!("{field}: varint longer than 10 bytes")))
}

fn walk(bytes: &[u8], base: usize, kind: Kind, depth: usize, total: &mut usize) -> Result<(), FrameError> {
    if depth > MAX_DEPTH {
        return Err(FrameError::new(base, format!("messages nested deeper than {MAX_DEPTH}")));
    }
    add(total, kind.cost(), base)?;
    let mut r = FrameReader::new(bytes);
    while !r.is_empty() {
        let at = base + r.position();
        let key = varint(&mut r, "field key")?;
        let tag = key >> 3;
        if tag == 0 {
            return Err(FrameError::new(at, "field number 0"));
        }
        match key & 7 {
            0 => {
                varint(&mut r, "varint field")?;
                if let Some(c) = kind.repeated_scalar(tag) {
                    add(total, c, at)?;
                }
            }
            1 => r.skip(8, "fixed64 field")?,
            5 => r.skip(4, "fixed32 field")?,
            2 => {
                let len = varint(&mut r, "length")?;
                let len = usize::try_from(len).map_err(|_| FrameError::new(at, "length too large"))?;
                let start = base + r.position();
                let body = r.take(len, "length-delimited field")?;
                if let Some(child) = kind.child(tag) {
                    walk(body, start, child, depth + 1, total)?;
                } else if let Some(c) = kind.repeated_scalar(tag) {
                    // A string element, or a packed list of varints (at most one per byte).
                    let n = if (kind, tag) == (Kind::DataSet, 3) { len } else { 1 };
                    add(total, c.saturating_mul(n), at)?;
                }
            }
            w => return Err(FrameError::new(at, format!("wire type {w} (groups) is not used by Sparkplug"))),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_real_payloads_pass_and_bombs_are_refused_early() {
        // NBIRTH-like: one metric with a name, alias, datatype, value.
        let ok = [0x08, 0x01, 0x12, 0x0a, 0x0a, 0x04, b'T', b'e', b'm', b'p', 0x20, 0x0a, 0x68, 0x01];
        assert!(cost(&ok).unwrap() < 4096);
        let bomb: Vec<u8> = [0x12u8, 0x00].iter().copied().cycle().take(4 << 20).collect();
        let e = cost(&bomb).unwrap_err();
        assert!(e.reason.contains("protobuf bomb"), "{e}");
        assert!(e.offset < 200_000, "stops at the budget, not the end: {e}");
        assert!(cost(&[0x12, 0x05, 0x00]).unwrap_err().reason.contains("truncated"));
        assert!(cost(&[0x13]).unwrap_err().reason.contains("groups"));
        assert!(cost(&[0xff; 11]).is_err());
    }
}
