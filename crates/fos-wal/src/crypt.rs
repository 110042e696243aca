//! Optional encryption at rest of record payloads: XChaCha20-Poly1305 (RustCrypto `chacha20poly1305`),
//! on when [`crate::WalOptions::encryption`] holds a key.
//!
//! ```text
//! encrypted segment (version 2), header (64 bytes):
//!   b"FOSWAL" | u16 LE version (2) | u64 LE first seq | u8 cipher (1 = XChaCha20-Poly1305) | 7 zero bytes
//!   | key check: 24-byte nonce | 16-byte tag of the empty message, associated data
//!     b"FOSWAL key check" ‖ header bytes 0..24
//! record, framed exactly as in a plain segment (length, CRC, seq), its stored payload being
//!   24-byte nonce | ciphertext (as long as the plaintext) | 16-byte tag, associated data = u64 LE seq
//! ```
//!
//! - **Nonces never repeat under a key.** Each [`Wal`](crate::Wal) draws a random 16-byte prefix from
//!   the operating system when it is opened and appends a 64-bit counter of the nonces it has used; the
//!   nonce is stored in the record. Within one `Wal` the counter never goes back, not even when a refused
//!   batch is rolled back or a torn tail is cut and its sequence numbers are written again. Across
//!   `Wal`s — a reopen, a directory deleted and recreated with the same key and sequence numbers starting
//!   at 1 again, two sites sharing a key — prefixes collide with probability about n²/2¹²⁹ after n opens.
//!   Nonces derived from the sequence number (even with a per-segment salt) would repeat exactly in the
//!   rollback and torn-tail cases, where the same sequence number is written twice into one segment.
//! - **Records cannot be moved.** The sequence number is the associated data, so a record copied to
//!   another position (its framing and CRC rewritten to match) fails authentication.
//! - **The CRC stays outside.** It covers the stored (encrypted) bytes, so a torn tail is found and cut
//!   by recovery exactly as in a plain log, without the key being involved. A record whose CRC matches but
//!   whose tag does not was modified deliberately or written under another key: [`WalError::Unauthentic`],
//!   never truncated, never returned.
//! - **Wrong key, missing key, unexpected key** are found at [`Wal::open`](crate::Wal::open) from the
//!   headers alone: the key check ([`WalError::WrongKey`]) and the version ([`WalError::EncryptionMismatch`]).
//!   Record tags are verified when records are read, not during recovery.
//!
//! Plain segments keep version 1 byte for byte, and a log is encrypted from its first segment to its last
//! or not at all.
//!
//! [`WalError::Unauthentic`]: crate::WalError::Unauthentic
//! [`WalError::WrongKey`]: crate::WalError::WrongKey
//! [`WalError::EncryptionMismatch`]: crate::WalError::EncryptionMismatch

use std::fmt;

use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::{Tag, XChaCha20Poly1305, XNonce};
use fos_keys::Key;

use crate::Seq;

/// Bytes of a nonce.
pub(crate) const NONCE: usize = 24;
/// Bytes of a Poly1305 tag.
pub(crate) const TAG: usize = 16;
/// What encryption adds to a record's stored payload.
pub(crate) const OVERHEAD: usize = NONCE + TAG;
/// Bytes of the key check in an encrypted segment header.
pub(crate) const KEY_CHECK: usize = NONCE + TAG;

const KEY_CHECK_AD: &[u8; 16] = b"FOSWAL key check";

/// The cipher under the configured key; its copy of the key is zeroed on drop (`chacha20poly1305`).
#[derive(Clone)]
pub(crate) struct Cipher(XChaCha20Poly1305);

impl fmt::Debug for Cipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Cipher(XChaCha20-Poly1305, <key redacted>)")
    }
}

impl Cipher {
    pub(crate) fn new(key: &Key) -> Cipher {
        Cipher(XChaCha20Poly1305::new(key.expose_secret().into()))
    }

    /// Whether `check` (nonce ‖ tag) authenticates `header` (bytes 0..24 of the segment) under this key.
    pub(crate) fn verify_key_check(&self, header: &[u8], check: &[u8]) -> bool {
        let (Some(nonce), Some(tag)) = (check.get(..NONCE), check.get(NONCE..KEY_CHECK)) else {
            return false;
        };
        let mut ad = KEY_CHECK_AD.to_vec();
        ad.extend_from_slice(header);
        self.0
            .decrypt_in_place_detached(
                XNonce::from_slice(nonce),
                &ad,
                &mut [],
                Tag::from_slice(tag),
            )
            .is_ok()
    }

    /// Decrypts a record's stored payload (nonce ‖ ciphertext ‖ tag) in place, leaving the plaintext;
    /// `false` (and `stored` unspecified) when it does not authenticate under this key and `seq`.
    pub(crate) fn open_record(&self, seq: Seq, stored: &mut Vec<u8>) -> bool {
        let Some(body_len) = stored.len().checked_sub(OVERHEAD) else {
            return false;
        };
        let (nonce, rest) = stored.split_at_mut(NONCE);
        let (body, tag) = rest.split_at_mut(body_len);
        let ok = self
            .0
            .decrypt_in_place_detached(
                XNonce::from_slice(nonce),
                &seq.to_le_bytes(),
                body,
                Tag::from_slice(tag),
            )
            .is_ok();
        if ok {
            stored.copy_within(NONCE..NONCE + body_len, 0);
            stored.truncate(body_len);
        }
        ok
    }
}

/// The writer's cipher and nonce generator (random prefix ‖ counter, see the module docs).
#[derive(Debug)]
pub(crate) struct Sealer {
    cipher: Cipher,
    prefix: [u8; 16],
    counter: u64,
}

impl Sealer {
    /// A sealer with a fresh random nonce prefix.
    pub(crate) fn new(key: &Key) -> std::io::Result<Sealer> {
        Ok(Sealer {
            cipher: Cipher::new(key),
            prefix: random_prefix()?,
            counter: 0,
        })
    }

    pub(crate) fn cipher(&self) -> &Cipher {
        &self.cipher
    }

    fn next_nonce(&mut self) -> std::io::Result<[u8; NONCE]> {
        if self.counter == u64::MAX {
            // 2^64 records from one open never happens; if it did, a new prefix keeps nonces unique.
            self.prefix = random_prefix()?;
            self.counter = 0;
        }
        let mut nonce = [0u8; NONCE];
        nonce[..16].copy_from_slice(&self.prefix);
        nonce[16..].copy_from_slice(&self.counter.to_le_bytes());
        self.counter += 1;
        Ok(nonce)
    }

    /// The key check (nonce ‖ tag) of a segment header whose bytes 0..24 are `header`.
    pub(crate) fn key_check(&mut self, header: &[u8]) -> std::io::Result<[u8; KEY_CHECK]> {
        let nonce = self.next_nonce()?;
        let mut ad = KEY_CHECK_AD.to_vec();
        ad.extend_from_slice(header);
        let tag = self
            .cipher
            .0
            .encrypt_in_place_detached(XNonce::from_slice(&nonce), &ad, &mut [])
            .map_err(|_| std::io::Error::other("XChaCha20-Poly1305 refused the key check"))?;
        let mut check = [0u8; KEY_CHECK];
        check[..NONCE].copy_from_slice(&nonce);
        check[NONCE..].copy_from_slice(&tag);
        Ok(check)
    }

    /// Appends the stored payload of record `seq` (nonce ‖ ciphertext ‖ tag) to `out`.
    pub(crate) fn seal_into(
        &mut self,
        out: &mut Vec<u8>,
        seq: Seq,
        payload: &[u8],
    ) -> std::io::Result<()> {
        let nonce = self.next_nonce()?;
        out.extend_from_slice(&nonce);
        let body = out.len();
        out.extend_from_slice(payload);
        let tag = self
            .cipher
            .0
            .encrypt_in_place_detached(
                XNonce::from_slice(&nonce),
                &seq.to_le_bytes(),
                &mut out[body..],
            )
            .map_err(|_| std::io::Error::other("XChaCha20-Poly1305 refused the payload"))?;
        out.extend_from_slice(&tag);
        Ok(())
    }
}

fn random_prefix() -> std::io::Result<[u8; 16]> {
    let mut prefix = [0u8; 16];
    getrandom::fill(&mut prefix).map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok(prefix)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(b: u8) -> Key {
        Key::from_bytes([b; 32])
    }

    #[test]
    fn seal_open_round_trip_binds_seq_and_key() {
        let mut s = Sealer::new(&key(1)).unwrap();
        let mut stored = Vec::new();
        s.seal_into(&mut stored, 7, b"hello").unwrap();
        assert_eq!(stored.len(), 5 + OVERHEAD);
        assert!(!stored.windows(5).any(|w| w == b"hello"));
        let mut p = stored.clone();
        assert!(s.cipher().open_record(7, &mut p));
        assert_eq!(p, b"hello");
        let mut p = stored.clone();
        assert!(!s.cipher().open_record(8, &mut p), "seq is bound");
        let mut p = stored.clone();
        assert!(!Cipher::new(&key(2)).open_record(7, &mut p), "key is bound");
        for i in 0..stored.len() {
            let mut p = stored.clone();
            p[i] ^= 0x80;
            assert!(!s.cipher().open_record(7, &mut p), "flip in byte {i}");
        }
        assert!(!s
            .cipher()
            .open_record(7, &mut stored[..OVERHEAD - 1].to_vec()));
    }

    #[test]
    fn nonces_are_unique_within_and_across_sealers() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..4 {
            let mut s = Sealer::new(&key(1)).unwrap();
            for _ in 0..1000 {
                assert!(seen.insert(s.next_nonce().unwrap()));
            }
        }
        let mut s = Sealer::new(&key(1)).unwrap();
        s.counter = u64::MAX;
        let prefix = s.prefix;
        let n = s.next_nonce().unwrap();
        assert_ne!(&n[..16], &prefix, "counter exhaustion draws a new prefix");
    }

    #[test]
    fn key_check_verifies_only_under_the_same_key_and_header() {
        let mut s = Sealer::new(&key(1)).unwrap();
        let header = [3u8; 24];
        let check = s.key_check(&header).unwrap();
        assert!(s.cipher().verify_key_check(&header, &check));
        assert!(!Cipher::new(&key(2)).verify_key_check(&header, &check));
        assert!(!s.cipher().verify_key_check(&[4u8; 24], &check));
        assert!(!s.cipher().verify_key_check(&header, &check[..20]));
    }

    #[test]
    fn debug_hides_the_key() {
        let s = Sealer::new(&Key::from_bytes([0xab; 32])).unwrap();
        let text = format!("{s:?}");
        assert!(
            text.contains("redacted") && !text.contains("171, 171, 171"),
            "{text}"
        );
    }
}
