//! Replay: a streaming iterator over `(seq, payload)` that re-checks every CRC and, in an encrypted
//! log, authenticates and decrypts every record.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::PathBuf;

use crate::crypt::{Cipher, OVERHEAD};
use crate::error::{Result, WalError};
use crate::format::{RecordHeader, MAX_STORED, RECORD_HEADER, SEALED_HEADER, SEGMENT_HEADER};
use crate::wal::{check_key, check_segment_header};
use crate::Seq;

/// Iterator returned by [`crate::Wal::read_from`]. It owns a snapshot of the segment list and stops
/// before the sequence number that was next when it was created; it reads files, so records appended
/// later are not seen and a segment removed by `truncate_before` before it is reached is an error.
/// After the first error it yields nothing more.
///
/// In an encrypted log it yields plaintext: a record that does not authenticate is
/// [`WalError::Unauthentic`], never its ciphertext.
#[derive(Debug)]
pub struct WalReader {
    segments: std::vec::IntoIter<(PathBuf, Seq)>,
    cipher: Option<Cipher>,
    current: Option<Current>,
    from: Seq,
    end: Seq,
    expected: Seq,
    done: bool,
}

#[derive(Debug)]
struct Current {
    path: PathBuf,
    file: BufReader<File>,
    offset: u64,
}

impl WalReader {
    pub(crate) fn new(
        segments: Vec<(PathBuf, Seq)>,
        from: Seq,
        end: Seq,
        cipher: Option<Cipher>,
    ) -> Self {
        WalReader {
            segments: segments.into_iter(),
            cipher,
            current: None,
            from,
            end,
            expected: 0,
            done: from >= end,
        }
    }

    fn open_next(&mut self) -> Result<bool> {
        let Some((path, first)) = self.segments.next() else {
            return Ok(false);
        };
        let mut file = BufReader::with_capacity(
            1 << 20,
            File::open(&path).map_err(|e| WalError::io(&path, "open for replay", 0, e))?,
        );
        let mut h = [0u8; SEALED_HEADER as usize];
        let shared = SEGMENT_HEADER as usize;
        file.read_exact(&mut h[..shared])
            .map_err(|e| WalError::io(&path, "read header", 0, e))?;
        let header = check_segment_header(&path, &h[..shared], first, self.cipher.is_some())?;
        let header_len = header.len();
        if let Some(cipher) = &self.cipher {
            file.read_exact(&mut h[shared..])
                .map_err(|e| WalError::io(&path, "read header", SEGMENT_HEADER, e))?;
            check_key(&path, &h, cipher)?;
        }
        if self.current.is_some() && first != self.expected {
            return Err(WalError::Corrupt {
                path,
                offset: 0,
                reason: format!(
                    "segment starts at sequence {first}, expected {}",
                    self.expected
                ),
            });
        }
        self.expected = first;
        self.current = Some(Current {
            path,
            file,
            offset: header_len,
        });
        Ok(true)
    }

    fn next_record(&mut self) -> Result<Option<(Seq, Vec<u8>)>> {
        loop {
            if self.expected >= self.end && self.current.is_some() {
                return Ok(None);
            }
            let Some(cur) = self.current.as_mut() else {
                if !self.open_next()? {
                    return Ok(None);
                }
                continue;
            };
            let mut h = [0u8; RECORD_HEADER];
            match read_full(&mut cur.file, &mut h) {
                Ok(0) => {
                    // End of this segment: the next one must continue the sequence.
                    if !self.open_next()? {
                        return Err(WalError::Corrupt {
                            path: cur_path(&self.current),
                            offset: self.current.as_ref().map_or(0, |c| c.offset),
                            reason: format!("log ends before sequence {}", self.end),
                        });
                    }
                    continue;
                }
                Ok(n) if n < RECORD_HEADER => {
                    return Err(WalError::Corrupt {
                        path: cur.path.clone(),
                        offset: cur.offset,
                        reason: "record header cut short".into(),
                    })
                }
                Ok(_) => {}
                Err(e) => return Err(WalError::io(&cur.path, "read", cur.offset, e)),
            }
            let h = RecordHeader::decode(&h);
            let corrupt = |reason: String| WalError::Corrupt {
                path: cur.path.clone(),
                offset: cur.offset,
                reason,
            };
            if h.len as usize > MAX_STORED {
                return Err(corrupt(format!(
                    "record length {} exceeds the limit {MAX_STORED}",
                    h.len
                )));
            }
            let mut payload = vec![0u8; h.len as usize];
            cur.file
                .read_exact(&mut payload)
                .map_err(|e| WalError::io(&cur.path, "read", cur.offset, e))?;
            if !h.check(&payload) {
                return Err(corrupt(format!(
                    "CRC mismatch in record claiming sequence {}",
                    h.seq
                )));
            }
            if h.seq != self.expected {
                return Err(corrupt(format!(
                    "record has sequence {}, expected {}",
                    h.seq, self.expected
                )));
            }
            let record_offset = cur.offset;
            cur.offset += (RECORD_HEADER + payload.len()) as u64;
            self.expected += 1;
            if h.seq < self.from {
                continue;
            }
            if let Some(cipher) = &self.cipher {
                if payload.len() < OVERHEAD {
                    return Err(WalError::Corrupt {
                        path: cur.path.clone(),
                        offset: record_offset,
                        reason: format!(
                            "encrypted record of {} bytes is shorter than its nonce and tag ({OVERHEAD})",
                            payload.len()
                        ),
                    });
                }
                if !cipher.open_record(h.seq, &mut payload) {
                    return Err(WalError::Unauthentic {
                        path: cur.path.clone(),
                        offset: record_offset,
                        seq: h.seq,
                    });
                }
            }
            return Ok(Some((h.seq, payload)));
        }
    }
}

fn cur_path(cur: &Option<Current>) -> PathBuf {
    cur.as_ref().map(|c| c.path.clone()).unwrap_or_default()
}

/// Reads until `buf` is full or EOF; returns the bytes read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

impl Iterator for WalReader {
    type Item = Result<(Seq, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.next_record() {
            Ok(Some(r)) => Some(Ok(r)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}
