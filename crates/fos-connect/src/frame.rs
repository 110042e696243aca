//! A bounds-checked reader over a received frame, shared by the hand-written protocol parsers
//! (S7comm, EtherNet/IP CIP, MELSEC MC, Sparkplug). Every read either returns the bytes or a
//! [`FrameError`] naming the offset and the field: parsers never index a slice directly.

use crate::error::FrameError;

/// Cursor over untrusted bytes.
#[derive(Debug, Clone)]
pub struct FrameReader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> FrameReader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        FrameReader { buf, pos: 0 }
    }

    pub fn position(&self) -> usize {
        self.pos
    }

    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// The next `n` bytes of `field`.
    pub fn take(&mut self, n: usize, field: &str) -> Result<&'a [u8], FrameError> {
        if n > self.remaining() {
            return Err(FrameError::new(
                self.pos,
                format!("{field}: needs {n} bytes, {} left (truncated frame)", self.remaining()),
            ));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    pub fn skip(&mut self, n: usize, field: &str) -> Result<(), FrameError> {
        self.take(n, field).map(|_| ())
    }

    pub fn rest(&mut self) -> &'a [u8] {
        let s = &self.buf[self.pos..];
        self.pos = self.buf.len();
        s
    }

    pub fn u8(&mut self, field: &str) -> Result<u8, FrameError> {
        Ok(self.take(1, field)?[0])
    }

    pub fn u16_be(&mut self, field: &str) -> Result<u16, FrameError> {
        let b = self.take(2, field)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    pub fn u16_le(&mut self, field: &str) -> Result<u16, FrameError> {
        let b = self.take(2, field)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    pub fn u32_be(&mut self, field: &str) -> Result<u32, FrameError> {
        let b = self.take(4, field)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub fn u32_le(&mut self, field: &str) -> Result<u32, FrameError> {
        let b = self.take(4, field)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// An error at the current offset.
    pub fn error(&self, reason: impl Into<String>) -> FrameError {
        FrameError::new(self.pos, reason)
    }

    /// Check a field has the expected value.
    pub fn expect_u8(&mut self, want: u8, field: &str) -> Result<(), FrameError> {
        let at = self.pos;
        let got = self.u8(field)?;
        if got != want {
            return Err(FrameError::new(at, format!("{field}: expected 0x{want:02x}, got 0x{got:02x}")));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_names_field_and_offset() {
        let mut r = FrameReader::new(&[1, 2, 3]);
        assert_eq!(r.u16_be("length").unwrap(), 0x0102);
        let e = r.u32_le("count").unwrap_err();
        assert_eq!(e.offset, 2);
        assert!(e.reason.contains("count") && e.reason.contains("truncated"), "{e}");
    }
}
