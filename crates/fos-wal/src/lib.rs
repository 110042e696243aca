//! The write-ahead log of FOS's edge pipeline.
//!
//! A batch of samples is *acknowledged* once the WAL says it is durable ([`Wal::durable_seq`]); a crash
//! at any point loses nothing acknowledged. The log is a directory of segment files
//! `wal-<first seq, 20 digits>.log`, each a 16-byte header followed by CRC-framed records with
//! contiguous sequence numbers starting at 1 (layout below).
//!
//! - **Recovery** ([`Wal::open`]) validates every record. A torn tail of the last segment — a record cut
//!   short, or a damaged record with no valid record after it — is truncated and reported in
//!   [`Recovery`]; any other damage is [`WalError::Corrupt`] naming the file and byte offset, never
//!   dropped silently.
//! - **Durability**: [`FsyncPolicy::Always`] by default, one fdatasync per `append_batch`, because the
//!   pipeline appends whole batches. Every append reaches the kernel before it returns (no user-space
//!   buffer), so a process crash loses nothing under any policy; the policy governs power loss.
//! - **Space**: the WAL never drops acknowledged data to make room. An append that would pass
//!   [`WalOptions::max_bytes`], or that meets ENOSPC, is refused whole with [`WalError::Full`]; the
//!   pipeline holds its input until the sink acknowledges and [`Wal::truncate_before`] deletes segments.
//! - **Encryption at rest** (optional, [`WalOptions::encryption`]): each payload is sealed with
//!   XChaCha20-Poly1305 under a [`fos_keys::Key`], its sequence number bound as associated data, with a
//!   nonce that never repeats under a key (a random prefix per opened `Wal` and a counter). The CRC
//!   framing is unchanged and covers the ciphertext, so torn tails are handled without the key. A missing,
//!   unexpected or wrong key is refused at open ([`WalError::EncryptionMismatch`], [`WalError::WrongKey`]);
//!   a record modified on disk is refused when read ([`WalError::Unauthentic`]).
//!
//! On-disk layout (all integers little-endian):
//!
//! ```text
//! segment header: b"FOSWAL" | u16 version = 1 | u64 first seq
//! record:         u32 payload length | u32 CRC-32 (IEEE) of (length, seq, payload) | u64 seq | payload
//!
//! encrypted (version 2):
//! segment header: b"FOSWAL" | u16 version = 2 | u64 first seq | u8 cipher = 1 | 7 zero bytes
//!                 | 24-byte nonce | 16-byte tag   (key check: seals nothing, authenticates bytes 0..24)
//! record:         framed as above, payload = 24-byte nonce | ciphertext | 16-byte tag (AD = u64 seq)
//! ```
//!
//! ```
//! # let dir = tempfile::tempdir().unwrap();
//! use fos_wal::{Wal, WalOptions};
//! let (mut wal, recovery) = Wal::open(dir.path(), WalOptions::default())?;
//! assert_eq!(recovery.last_seq, None);
//! let seqs = wal.append_batch(&[b"batch 1".as_slice(), b"batch 2"])?;
//! assert_eq!(seqs, 1..3);
//! assert_eq!(wal.durable_seq(), 2); // FsyncPolicy::Always: acknowledged on return
//! let replay: Vec<_> = wal.read_from(2)?.collect::<Result<_, _>>()?;
//! assert_eq!(replay, vec![(2, b"batch 2".to_vec())]);
//! # Ok::<(), fos_wal::WalError>(())
//! ```

mod crypt;
mod error;
mod format;
mod reader;
mod wal;

pub use error::{Result, WalError};
pub use format::MAX_PAYLOAD;
pub use reader::WalReader;
pub use wal::{FsyncPolicy, Recovery, Wal, WalOptions};

/// A record's sequence number: contiguous, starting at 1.
pub type Seq = u64;
