//! The on-disk format: segment header and record framing, encoders and a parser that never panics.
//!
//! ```text
//! segment file wal-<first seq, 20 digits>.log
//!   header (16 bytes): b"FOSWAL" | u16 LE version (1) | u64 LE first sequence number
//!   records, back to back:
//!     u32 LE payload length | u32 LE CRC-32 | u64 LE sequence number | payload
//! ```
//!
//! The CRC-32 (IEEE, `crc32fast`) covers the length field, the sequence number and the payload, so a
//! damaged length or sequence number is caught as surely as a damaged payload.
//!
//! Version 2 is an encrypted segment: a 64-byte header (the 16 above, then the cipher and a key check)
//! and records framed the same way whose payload is sealed (`crate::crypt` has the layout). Version 1
//! is still what a log without a key writes.

use crate::Seq;

/// Magic at the start of every segment file.
pub(crate) const MAGIC: &[u8; 6] = b"FOSWAL";
/// Format version of a plain segment.
pub(crate) const VERSION: u16 = 1;
/// Format version of an encrypted segment.
pub(crate) const VERSION_SEALED: u16 = 2;
/// Bytes of a plain segment header, and of the part every version shares (magic, version, first seq).
pub(crate) const SEGMENT_HEADER: u64 = 16;
/// Bytes of an encrypted segment header: the shared part, cipher id, 7 reserved bytes, key check.
pub(crate) const SEALED_HEADER: u64 = 64;
/// Cipher id of XChaCha20-Poly1305 in an encrypted segment header.
pub(crate) const CIPHER_XCHACHA20_POLY1305: u8 = 1;
/// Bytes of a record header (length, CRC, sequence number).
pub(crate) const RECORD_HEADER: usize = 16;
/// Largest payload of one record (64 MiB): bounds what recovery believes a length field.
pub const MAX_PAYLOAD: usize = 64 << 20;
/// Largest stored payload: [`MAX_PAYLOAD`] plus what encryption adds.
pub(crate) const MAX_STORED: usize = MAX_PAYLOAD + crate::crypt::OVERHEAD;

/// Bytes of the header of a segment that is (or is not) encrypted.
pub(crate) fn header_len(sealed: bool) -> u64 {
    if sealed {
        SEALED_HEADER
    } else {
        SEGMENT_HEADER
    }
}

/// File name of the segment whose first record is `first`.
pub(crate) fn segment_name(first: Seq) -> String {
    format!("wal-{first:020}.log")
}

/// The first sequence number encoded in a segment's file name, if it is one.
pub(crate) fn parse_segment_name(name: &str) -> Option<Seq> {
    let digits = name.strip_prefix("wal-")?.strip_suffix(".log")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

pub(crate) fn encode_segment_header(first: Seq) -> [u8; SEGMENT_HEADER as usize] {
    let mut h = [0u8; SEGMENT_HEADER as usize];
    h[..6].copy_from_slice(MAGIC);
    h[6..8].copy_from_slice(&VERSION.to_le_bytes());
    h[8..].copy_from_slice(&first.to_le_bytes());
    h
}

/// The header of an encrypted segment: the shared part with version 2, the cipher id, zeros, and the
/// key check `key_check` computes over bytes 0..24.
pub(crate) fn encode_sealed_header<E>(
    first: Seq,
    key_check: impl FnOnce(&[u8]) -> Result<[u8; crate::crypt::KEY_CHECK], E>,
) -> Result<[u8; SEALED_HEADER as usize], E> {
    let mut h = [0u8; SEALED_HEADER as usize];
    h[..6].copy_from_slice(MAGIC);
    h[6..8].copy_from_slice(&VERSION_SEALED.to_le_bytes());
    h[8..16].copy_from_slice(&first.to_le_bytes());
    h[16] = CIPHER_XCHACHA20_POLY1305;
    let check = key_check(&h[..24])?;
    h[24..].copy_from_slice(&check);
    Ok(h)
}

/// What the shared part of a segment header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SegmentHeader {
    /// First sequence number.
    pub(crate) first: Seq,
    /// Version 2: encrypted, with a [`SEALED_HEADER`]-byte header.
    pub(crate) sealed: bool,
}

impl SegmentHeader {
    /// Bytes of this segment's whole header.
    pub(crate) fn len(&self) -> u64 {
        header_len(self.sealed)
    }
}

/// Checks the shared part (the first 16 bytes) of a segment header; returns what it says or what is
/// wrong with it.
pub(crate) fn decode_segment_header(h: &[u8]) -> Result<SegmentHeader, String> {
    let (Some(magic), Some(version), Some(first)) = (h.get(..6), h.get(6..8), h.get(8..16)) else {
        return Err(format!(
            "segment header is {} bytes, expected {SEGMENT_HEADER}",
            h.len()
        ));
    };
    if magic != MAGIC {
        return Err(format!("bad magic {magic:02x?}, expected \"FOSWAL\""));
    }
    let version = u16::from_le_bytes([version[0], version[1]]);
    if version != VERSION && version != VERSION_SEALED {
        return Err(format!(
            "unsupported segment version {version}, this build reads {VERSION} and {VERSION_SEALED}"
        ));
    }
    Ok(SegmentHeader {
        first: le_u64(first),
        sealed: version == VERSION_SEALED,
    })
}

/// Splits a whole encrypted segment header into the authenticated part (bytes 0..24) and the key
/// check, after checking the cipher id and the reserved bytes.
pub(crate) fn sealed_header_parts(h: &[u8]) -> Result<(&[u8], &[u8]), String> {
    let (Some(authenticated), Some(check)) = (h.get(..24), h.get(24..SEALED_HEADER as usize))
    else {
        return Err(format!(
            "encrypted segment header is {} bytes, expected {SEALED_HEADER}",
            h.len()
        ));
    };
    if authenticated[16] != CIPHER_XCHACHA20_POLY1305 {
        return Err(format!(
            "unknown cipher id {} in the segment header, this build knows {CIPHER_XCHACHA20_POLY1305} (XChaCha20-Poly1305)",
            authenticated[16]
        ));
    }
    if authenticated[17..24].iter().any(|&b| b != 0) {
        return Err("reserved header bytes 17..24 are not zero".to_owned());
    }
    Ok((authenticated, check))
}

fn le_u32(b: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(b);
    u32::from_le_bytes(a)
}

fn le_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(b);
    u64::from_le_bytes(a)
}

fn crc(len: u32, seq: Seq, payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&len.to_le_bytes());
    h.update(&seq.to_le_bytes());
    h.update(payload);
    h.finalize()
}

/// Bytes one record of `payload_len` bytes takes in a segment.
pub(crate) fn record_size(payload_len: usize) -> u64 {
    (RECORD_HEADER + payload_len) as u64
}

/// Appends the framed record to `out`. The payload must be at most [`MAX_PAYLOAD`] bytes.
pub(crate) fn encode_record(out: &mut Vec<u8>, seq: Seq, payload: &[u8]) {
    debug_assert!(payload.len() <= MAX_PAYLOAD);
    let len = payload.len() as u32;
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&crc(len, seq, payload).to_le_bytes());
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(payload);
}

/// Appends a framed record whose stored payload `write_payload` appends (encryption), then fills in
/// the length and the CRC over what it wrote. On error `out` is left as it was.
pub(crate) fn encode_record_with<E>(
    out: &mut Vec<u8>,
    seq: Seq,
    write_payload: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
) -> Result<(), E> {
    let start = out.len();
    out.extend_from_slice(&[0u8; 8]);
    out.extend_from_slice(&seq.to_le_bytes());
    if let Err(e) = write_payload(out) {
        out.truncate(start);
        return Err(e);
    }
    let payload = &out[start + RECORD_HEADER..];
    debug_assert!(payload.len() <= MAX_STORED);
    let len = payload.len() as u32;
    let crc = crc(len, seq, payload);
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
    Ok(())
}

/// Record header fields, before the payload is checked.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RecordHeader {
    pub(crate) len: u32,
    pub(crate) crc: u32,
    pub(crate) seq: Seq,
}

impl RecordHeader {
    pub(crate) fn decode(h: &[u8; RECORD_HEADER]) -> Self {
        RecordHeader {
            len: le_u32(&h[0..4]),
            crc: le_u32(&h[4..8]),
            seq: le_u64(&h[8..16]),
        }
    }

    /// Whether `payload` matches this header's CRC.
    pub(crate) fn check(&self, payload: &[u8]) -> bool {
        crc(self.len, self.seq, payload) == self.crc
    }
}

/// One parse step over a segment held in memory.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Parsed {
    /// A whole record whose CRC matches: sequence number, payload range, offset of the next record.
    Record {
        seq: Seq,
        payload: std::ops::Range<usize>,
        next: usize,
    },
    /// The buffer ends inside this record (header or payload): a torn write if it is the log's tail.
    Incomplete,
    /// The record is whole but its CRC does not match, or its length is impossible.
    Bad(String),
}

/// Parses the record at `off` (at or before `buf.len()`; the caller stops at `buf.len()`).
pub(crate) fn parse_record(buf: &[u8], off: usize) -> Parsed {
    let Some(h) = buf
        .get(off..)
        .and_then(|b| b.first_chunk::<RECORD_HEADER>())
    else {
        return Parsed::Incomplete;
    };
    let h = RecordHeader::decode(h);
    let len = h.len as usize;
    if len > MAX_STORED {
        // A torn header cannot produce this (a length is written whole or not at all in practice), but
        // a tail of zeros or garbage can: treat like a bad CRC and let the caller decide.
        return Parsed::Bad(format!(
            "record length {len} exceeds the limit {MAX_STORED}"
        ));
    }
    let start = off + RECORD_HEADER;
    let Some(payload) = buf.get(start..start + len) else {
        return Parsed::Incomplete;
    };
    if !h.check(payload) {
        return Parsed::Bad(format!(
            "CRC mismatch in record claiming sequence {}",
            h.seq
        ));
    }
    Parsed::Record {
        seq: h.seq,
        payload: start..start + len,
        next: start + len,
    }
}

/// After a damaged record at `bad` in the last segment: is there any whole, CRC-valid record with a
/// sequence number above `last_good` further on? If so the damage is in the middle, not a torn tail.
pub(crate) fn valid_record_after(buf: &[u8], bad: usize, last_good: Seq) -> Option<usize> {
    (bad + 1..buf.len()).find(|&off| {
        let Some(h) = buf
            .get(off..)
            .and_then(|b| b.first_chunk::<RECORD_HEADER>())
        else {
            return false;
        };
        let h = RecordHeader::decode(h);
        // Every record takes at least RECORD_HEADER bytes, which bounds a plausible sequence number.
        let plausible =
            h.seq > last_good && h.seq - last_good <= (buf.len() / RECORD_HEADER) as u64 + 1;
        plausible && matches!(parse_record(buf, off), Parsed::Record { .. })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_sort() {
        assert_eq!(segment_name(1), "wal-00000000000000000001.log");
        assert_eq!(parse_segment_name(&segment_name(u64::MAX)), Some(u64::MAX));
        assert_eq!(parse_segment_name("wal-1.log"), None);
        assert_eq!(parse_segment_name("wal-00000000000000000001.log.tmp"), None);
        assert!(segment_name(9) < segment_name(10));
    }

    #[test]
    fn header_round_trip_and_rejects() {
        let h = encode_segment_header(42);
        assert_eq!(
            decode_segment_header(&h),
            Ok(SegmentHeader {
                first: 42,
                sealed: false
            })
        );
        let mut bad = h;
        bad[0] = b'X';
        assert!(decode_segment_header(&bad).unwrap_err().contains("magic"));
        let mut v3 = h;
        v3[6] = 3;
        assert!(decode_segment_header(&v3)
            .unwrap_err()
            .contains("version 3"));
        assert!(decode_segment_header(&h[..10]).is_err());
    }

    #[test]
    fn sealed_header_round_trip_and_rejects() {
        let h = encode_sealed_header(42, |a| Ok::<_, ()>([a[8]; 40])).unwrap();
        assert_eq!(
            decode_segment_header(&h),
            Ok(SegmentHeader {
                first: 42,
                sealed: true
            })
        );
        assert_eq!(decode_segment_header(&h).unwrap().len(), 64);
        let (authenticated, check) = sealed_header_parts(&h).unwrap();
        assert_eq!((authenticated, check), (&h[..24], &[42u8; 40][..]));
        let mut other_cipher = h;
        other_cipher[16] = 9;
        assert!(sealed_header_parts(&other_cipher)
            .unwrap_err()
            .contains("cipher id 9"));
        let mut reserved = h;
        reserved[20] = 1;
        assert!(sealed_header_parts(&reserved).is_err());
        assert!(sealed_header_parts(&h[..63]).is_err());
    }

    #[test]
    fn record_with_writer_frames_like_encode_record() {
        let mut a = Vec::new();
        encode_record(&mut a, 9, b"payload");
        let mut b = vec![1, 2, 3];
        encode_record_with(&mut b, 9, |out| {
            out.extend_from_slice(b"payload");
            Ok::<_, ()>(())
        })
        .unwrap();
        assert_eq!(&b[3..], &a[..]);
        assert_eq!(
            encode_record_with(&mut b, 10, |out| {
                out.push(0);
                Err("refused")
            }),
            Err("refused")
        );
        assert_eq!(&b[3..], &a[..], "a refused record leaves nothing");
    }

    #[test]
    fn record_round_trip_every_prefix_and_every_bit() {
        let mut buf = Vec::new();
        encode_record(&mut buf, 7, b"hello");
        assert_eq!(
            parse_record(&buf, 0),
            Parsed::Record {
                seq: 7,
                payload: 16..21,
                next: 21
            }
        );
        for cut in 0..buf.len() {
            assert_eq!(
                parse_record(&buf[..cut], 0),
                Parsed::Incomplete,
                "prefix {cut}"
            );
        }
        for byte in 0..buf.len() {
            for bit in 0..8 {
                let mut b = buf.clone();
                b[byte] ^= 1 << bit;
                assert!(
                    !matches!(parse_record(&b, 0), Parsed::Record { .. }),
                    "flip of bit {bit} in byte {byte} went unnoticed"
                );
            }
        }
    }

    #[test]
    fn finds_valid_record_after_damage() {
        let mut buf = Vec::new();
        encode_record(&mut buf, 1, b"aaaa");
        let second = buf.len();
        encode_record(&mut buf, 2, b"bbbb");
        let third = buf.len();
        encode_record(&mut buf, 3, b"cccc");
        buf[second + RECORD_HEADER] ^= 0xff;
        assert!(matches!(parse_record(&buf, second), Parsed::Bad(_)));
        assert_eq!(valid_record_after(&buf, second, 1), Some(third));
        // Garbage (zeros) after the damage is not a record.
        let mut zeros = buf[..third].to_vec();
        zeros.extend_from_slice(&[0u8; 64]);
        assert_eq!(valid_record_after(&zeros, second, 1), None);
    }
}
