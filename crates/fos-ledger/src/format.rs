//! The byte layout of the ledger directory's two files, and a reader of their frames.
//!
//! ```text
//! records.log      b"FOSLDGR1" | frame(record 0) | frame(record 1) | ...
//! checkpoints.log  b"FOSLDGC1" | frame(signed checkpoint note, UTF-8) | ...
//! frame            u32 LE payload length | u32 LE CRC-32 (IEEE) of (length bytes ‖ payload) | payload
//! ```
//!
//! The CRC only tells a torn write or bit rot from a well-formed frame and names the damaged record
//! exactly; anyone can recompute it. Tamper evidence comes from the Merkle root in each signed checkpoint.

use std::io::{self, Read};

use crate::merkle::{leaf_hash, Hash};

/// Name of the records file inside the ledger directory.
pub const RECORDS_FILE: &str = "records.log";
/// Name of the checkpoints file inside the ledger directory.
pub const CHECKPOINTS_FILE: &str = "checkpoints.log";
/// First bytes of `records.log` (format version 1).
pub(crate) const RECORDS_MAGIC: &[u8; 8] = b"FOSLDGR1";
/// First bytes of `checkpoints.log` (format version 1).
pub(crate) const CHECKPOINTS_MAGIC: &[u8; 8] = b"FOSLDGC1";
/// Length of each file's header.
pub(crate) const HEADER_LEN: u64 = 8;
/// Length of a frame header (length and CRC).
pub(crate) const FRAME_HEADER_LEN: u64 = 8;
/// Largest record accepted, in bytes.
pub const MAX_RECORD_LEN: usize = 16 << 20;
/// Largest checkpoint note accepted, in bytes.
pub(crate) const MAX_CHECKPOINT_LEN: usize = 64 << 10;

fn crc(len: [u8; 4], payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&len);
    h.update(payload);
    h.finalize()
}

/// Appends the frame of `payload` to `out`. `payload` must be shorter than 4 GiB (callers cap it far lower).
pub(crate) fn encode_frame(out: &mut Vec<u8>, payload: &[u8]) {
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX).to_le_bytes();
    out.extend_from_slice(&len);
    out.extend_from_slice(&crc(len, payload).to_le_bytes());
    out.extend_from_slice(payload);
}

/// What the next bytes of a file hold.
#[derive(Debug)]
pub(crate) enum Next {
    /// A whole frame starting at `offset`.
    Frame {
        /// Byte offset of the frame header.
        offset: u64,
        /// The payload.
        payload: Vec<u8>,
        /// Whether the CRC matches.
        crc_ok: bool,
    },
    /// The end of the file, exactly after the last frame.
    End,
    /// Fewer bytes remain after `offset` than the frame there needs (`need`, header included; 8 when even
    /// the header is cut).
    Torn {
        /// Byte offset of the cut frame.
        offset: u64,
        /// Bytes left in the file from `offset`.
        have: u64,
        /// Bytes the frame needs.
        need: u64,
    },
    /// The frame at `offset` declares a payload longer than the format allows: the framing is lost.
    TooLong {
        /// Byte offset of the frame header.
        offset: u64,
        /// The declared length.
        len: u64,
    },
}

/// Reads the frames of a file of known length, sequentially, from just after its header.
#[derive(Debug)]
pub(crate) struct FrameReader<R> {
    r: R,
    offset: u64,
    file_len: u64,
    max: usize,
}

impl<R: Read> FrameReader<R> {
    /// A reader positioned at byte `offset` of a file of `file_len` bytes; frames longer than `max` are
    /// [`Next::TooLong`].
    pub(crate) fn new(r: R, offset: u64, file_len: u64, max: usize) -> Self {
        Self { r, offset, file_len, max }
    }

    /// Byte offset of the next frame.
    pub(crate) fn offset(&self) -> u64 {
        self.offset
    }

    /// Reads the next frame. After anything but [`Next::Frame`] the reader must not be used again.
    pub(crate) fn next_frame(&mut self) -> io::Result<Next> {
        let offset = self.offset;
        let have = self.file_len.saturating_sub(offset);
        if have == 0 {
            return Ok(Next::End);
        }
        if have < FRAME_HEADER_LEN {
            return Ok(Next::Torn { offset, have, need: FRAME_HEADER_LEN });
        }
        let mut header = [0u8; 8];
        self.r.read_exact(&mut header)?;
        let len_bytes = [header[0], header[1], header[2], header[3]];
        let len = u32::from_le_bytes(len_bytes);
        let stored_crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        if len as usize > self.max {
            return Ok(Next::TooLong { offset, len: u64::from(len) });
        }
        let need = FRAME_HEADER_LEN + u64::from(len);
        if have < need {
            return Ok(Next::Torn { offset, have, need });
        }
        let mut payload = vec![0u8; len as usize];
        self.r.read_exact(&mut payload)?;
        self.offset += need;
        let crc_ok = crc(len_bytes, &payload) == stored_crc;
        Ok(Next::Frame { offset, payload, crc_ok })
    }
}

/// Decodes a frame already in memory (`bytes` = header and payload), checking its length and CRC.
pub(crate) fn decode_frame(bytes: &[u8]) -> Option<&[u8]> {
    let (header, payload) = bytes.split_at_checked(FRAME_HEADER_LEN as usize)?;
    let len_bytes = [header[0], header[1], header[2], header[3]];
    let stored = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    (u32::from_le_bytes(len_bytes) as usize == payload.len() && crc(len_bytes, payload) == stored).then_some(payload)
}

/// The leaf hash of a record: RFC 9162 over the record bytes alone (not the frame).
pub(crate) fn record_leaf_hash(payload: &[u8]) -> Hash {
    leaf_hash(payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_detect_damage() {
        let mut buf = Vec::new();
        encode_frame(&mut buf, b"hello");
        encode_frame(&mut buf, b"");
        assert_eq!(buf.len(), 8 + 5 + 8);
        assert_eq!(decode_frame(&buf[..13]), Some(&b"hello"[..]));
        let mut r = FrameReader::new(&buf[..], 0, buf.len() as u64, 100);
        assert!(matches!(r.next_frame().unwrap(), Next::Frame { offset: 0, crc_ok: true, ref payload } if payload == b"hello"));
        assert!(matches!(r.next_frame().unwrap(), Next::Frame { offset: 13, crc_ok: true, ref payload } if payload.is_empty()));
        assert!(matches!(r.next_frame().unwrap(), Next::End));

        let mut bad = buf.clone();
        bad[9] ^= 1;
        assert_eq!(decode_frame(&bad[..13]), None);
        let mut r = FrameReader::new(&bad[..], 0, bad.len() as u64, 100);
        assert!(matches!(r.next_frame().unwrap(), Next::Frame { crc_ok: false, .. }));

        let mut r = FrameReader::new(&buf[..10], 0, 10, 100);
        assert!(matches!(r.next_frame().unwrap(), Next::Torn { offset: 0, have: 10, need: 13 }));
        let mut r = FrameReader::new(&buf[..3], 0, 3, 100);
        assert!(matches!(r.next_frame().unwrap(), Next::Torn { offset: 0, have: 3, need: 8 }));
        let mut r = FrameReader::new(&buf[..], 0, buf.len() as u64, 4);
        assert!(matches!(r.next_frame().unwrap(), Next::TooLong { offset: 0, len: 5 }));
    }
}
