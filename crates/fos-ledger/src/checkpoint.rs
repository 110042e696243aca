//! Signed checkpoints: a C2SP `tlog-checkpoint` body inside a C2SP `signed-note` envelope, signed with
//! Ed25519. Pure: no I/O, no clock (the caller supplies the timestamp).
//!
//! # Text format
//!
//! ```text
//! fos/plant-7                                   origin: also the signing key's name
//! 1042                                          tree size, decimal, no leading zeros
//! 3q2+7w0Lm8fW8l1oO5Yq0Zqz8WgS0q1n4mJ5kqjv3Yo=  root hash, standard base64 with padding
//! timestamp-ms 1767225600000                    extension line: signing time, Unix milliseconds
//!                                               blank line: the body ends above it
//! — fos/plant-7 <base64(key id ‖ signature)>   U+2014, space, key name, space, 4 + 64 bytes in base64
//! ```
//!
//! - The signature is Ed25519 over the body: the four lines above the blank line, each with its `\n`.
//! - The key id is `SHA-256(key name ‖ 0x0A ‖ 0x01 ‖ 32-byte public key)[0..4]`, as in signed-note, so a
//!   verifier can pick the right key; the key name of a FOS checkpoint is its origin.
//! - The body is canonical: exactly those four lines, nothing else, so one checkpoint has one text. A note
//!   may carry more signature lines (cosignatures, witnesses): they are kept in the text and ignored here.
//! - The envelope is byte-compatible with Go's `golang.org/x/mod/sumdb/note` (tested against its published
//!   example), so standard tlog tooling can check FOS checkpoints with [`verifier_key`]'s string.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier as _, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::merkle::{hex, Hash, HASH_LEN};

/// Signed-note signature type byte of Ed25519 keys.
const ED25519_TYPE: u8 = 0x01;

/// The prefix of a signature line: an em dash (U+2014) and a space.
const SIG_PREFIX: &str = "\u{2014} ";

/// The extension line that carries the timestamp.
const TIMESTAMP_PREFIX: &str = "timestamp-ms ";

/// Longest origin (key name) accepted, in bytes.
pub const MAX_ORIGIN_LEN: usize = 255;

/// Why a checkpoint, note or verifier key was refused. Line numbers count from 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// An origin (= key name) that a signed note cannot carry.
    #[error("invalid origin {origin:?}: {reason}")]
    InvalidOrigin {
        /// The origin given.
        origin: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The checkpoint body is not the canonical four lines.
    #[error("checkpoint body line {line}: {reason}")]
    MalformedBody {
        /// The line (1 = origin, 2 = size, 3 = root, 4 = timestamp).
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// The note is not a signed note (no blank line before the signatures, control characters, ...).
    #[error("malformed signed note: {reason}")]
    MalformedNote {
        /// What is wrong.
        reason: String,
    },
    /// A signature line cannot be parsed.
    #[error("signature line {line} of the note: {reason}")]
    MalformedSignatureLine {
        /// The line number in the whole note.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// No signature line names the key (by name and key id).
    #[error("no signature by key {key_name:?} (key id {key_id}) in the note")]
    NoSignature {
        /// The key name looked for.
        key_name: String,
        /// Its key id, hexadecimal.
        key_id: String,
    },
    /// A signature line names the key but its signature does not verify: the text was changed after it was
    /// signed, or another key with the same name and key id made it.
    #[error("the signature by key {key_name:?} (key id {key_id}) does not verify: the note was altered or signed by another key")]
    BadSignature {
        /// The key name.
        key_name: String,
        /// Its key id, hexadecimal.
        key_id: String,
    },
    /// A verifier key string (`name+keyid+base64`) cannot be parsed.
    #[error("malformed verifier key: {reason}")]
    MalformedVerifierKey {
        /// What is wrong.
        reason: String,
    },
}

type Result<T, E = CheckpointError> = std::result::Result<T, E>;

/// Checks that `name` can be a signed-note key name and a checkpoint origin: 1 to [`MAX_ORIGIN_LEN`] bytes,
/// no whitespace, no control character, no `+`.
pub fn validate_origin(name: &str) -> Result<()> {
    let invalid = |reason| Err(CheckpointError::InvalidOrigin { origin: name.to_owned(), reason });
    if name.is_empty() {
        return invalid("it is empty");
    }
    if name.len() > MAX_ORIGIN_LEN {
        return invalid("it is longer than 255 bytes");
    }
    if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return invalid("it contains whitespace or a control character");
    }
    if name.contains('+') {
        return invalid("it contains '+'");
    }
    Ok(())
}

/// The signed-note key id of an Ed25519 key: `SHA-256(name ‖ "\n" ‖ 0x01 ‖ public key)[0..4]`.
pub fn key_id(name: &str, key: &VerifyingKey) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n");
    h.update([ED25519_TYPE]);
    h.update(key.as_bytes());
    let d = h.finalize();
    [d[0], d[1], d[2], d[3]]
}

/// The signed-note verifier key string `name+<key id, 8 hex digits>+<base64(0x01 ‖ public key)>`, the form
/// Go's `note.NewVerifier` and other tlog tools take.
pub fn verifier_key(name: &str, key: &VerifyingKey) -> String {
    let mut material = Vec::with_capacity(33);
    material.push(ED25519_TYPE);
    material.extend_from_slice(key.as_bytes());
    format!("{name}+{}+{}", hex(&key_id(name, key)), B64.encode(material))
}

/// Parses a [`verifier_key`] string into the key name and the Ed25519 key, checking its key id.
pub fn parse_verifier_key(vkey: &str) -> Result<(String, VerifyingKey)> {
    let bad = |reason: &str| CheckpointError::MalformedVerifierKey { reason: reason.to_owned() };
    // The base64 part may itself contain '+': split at the first two only.
    let mut parts = vkey.splitn(3, '+');
    let (Some(name), Some(id), Some(material)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad("expected name+keyid+key"));
    };
    validate_origin(name).map_err(|e| bad(&e.to_string()))?;
    if id.len() != 8 || !id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return Err(bad("the key id is not 8 lower-case hexadecimal digits"));
    }
    let material = B64.decode(material).map_err(|e| bad(&format!("the key is not base64: {e}")))?;
    let Some((&ED25519_TYPE, raw)) = material.split_first() else {
        return Err(bad("the key is not of type 0x01 (Ed25519)"));
    };
    let raw: &[u8; 32] = raw.try_into().map_err(|_| bad("an Ed25519 key is 32 bytes"))?;
    let key = VerifyingKey::from_bytes(raw).map_err(|_| bad("not a valid Ed25519 public key"))?;
    if hex(&key_id(name, &key)) != id {
        return Err(bad("the key id does not match the name and key"));
    }
    Ok((name.to_owned(), key))
}

/// One signature line of a note.
#[derive(Debug)]
struct SigLine<'a> {
    name: &'a str,
    id: [u8; 4],
    sig: Vec<u8>,
}

/// Splits a signed note into its text (with the final newline) and its signature lines.
fn split_note(note: &str) -> Result<(&str, Vec<SigLine<'_>>)> {
    let malformed = |reason: &str| CheckpointError::MalformedNote { reason: reason.to_owned() };
    if let Some(c) = note.chars().find(|&c| c != '\n' && c.is_control()) {
        return Err(malformed(&format!("it contains the control character {c:?}")));
    }
    if !note.ends_with('\n') {
        return Err(malformed("it does not end with a newline"));
    }
    // As in Go's note.Open: the signatures follow the last blank line.
    let Some(split) = note.rfind("\n\n") else {
        return Err(malformed("no blank line separates the text from the signatures"));
    };
    let (text, sigs) = (&note[..split + 1], &note[split + 2..]);
    let first_sig_line = text.lines().count() + 2;
    let mut out = Vec::new();
    for (i, line) in sigs.lines().enumerate() {
        let line_no = first_sig_line + i;
        let bad = |reason: &str| CheckpointError::MalformedSignatureLine { line: line_no, reason: reason.to_owned() };
        let rest = line.strip_prefix(SIG_PREFIX).ok_or_else(|| bad("it does not start with \"\u{2014} \""))?;
        let (name, b64) = rest.split_once(' ').ok_or_else(|| bad("expected a key name and a base64 signature"))?;
        validate_origin(name).map_err(|e| bad(&e.to_string()))?;
        let blob = B64.decode(b64).map_err(|e| bad(&format!("the signature is not base64: {e}")))?;
        if blob.len() < 5 {
            return Err(bad("the signature is shorter than a key id and one byte"));
        }
        out.push(SigLine { name, id: [blob[0], blob[1], blob[2], blob[3]], sig: blob[4..].to_vec() });
    }
    if out.is_empty() {
        return Err(malformed("it has no signature line"));
    }
    Ok((text, out))
}

fn check_text(text: &str) -> Result<()> {
    let malformed = |reason: &str| CheckpointError::MalformedNote { reason: reason.to_owned() };
    if text.is_empty() || !text.ends_with('\n') {
        return Err(malformed("the text must be non-empty and end with a newline"));
    }
    if let Some(c) = text.chars().find(|&c| c != '\n' && c.is_control()) {
        return Err(malformed(&format!("the text contains the control character {c:?}")));
    }
    Ok(())
}

/// Signs `text` (non-empty, ending in a newline, no control characters but newlines) as a signed note by
/// the key named `name`: returns `text ‖ "\n" ‖ "— name base64(key id ‖ signature)\n"`.
pub fn sign_note(text: &str, name: &str, key: &SigningKey) -> Result<String> {
    check_text(text)?;
    validate_origin(name)?;
    let sig = key.sign(text.as_bytes());
    let mut blob = Vec::with_capacity(68);
    blob.extend_from_slice(&key_id(name, &key.verifying_key()));
    blob.extend_from_slice(&sig.to_bytes());
    Ok(format!("{text}\n{SIG_PREFIX}{name} {}\n", B64.encode(blob)))
}

/// Checks that `note` carries a valid signature by `key` under the name `name`, and returns its text. Other
/// signature lines are ignored.
pub fn open_note<'a>(note: &'a str, name: &str, key: &VerifyingKey) -> Result<&'a str> {
    let (text, sigs) = split_note(note)?;
    let id = key_id(name, key);
    let mut found = false;
    for s in sigs.iter().filter(|s| s.name == name && s.id == id) {
        found = true;
        if let Ok(sig) = Signature::from_slice(&s.sig) {
            if key.verify(text.as_bytes(), &sig).is_ok() {
                return Ok(text);
            }
        }
    }
    let (key_name, key_id) = (name.to_owned(), hex(&id));
    Err(if found { CheckpointError::BadSignature { key_name, key_id } } else { CheckpointError::NoSignature { key_name, key_id } })
}

/// What a checkpoint commits to: the log `origin` held `size` records whose Merkle root was `root`, at
/// `timestamp_ms` (Unix milliseconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's name, e.g. `fos/<site>`; also the name of the key that signs.
    pub origin: String,
    /// Number of records.
    pub size: u64,
    /// RFC 9162 root of those records.
    pub root: Hash,
    /// When it was signed, Unix milliseconds.
    pub timestamp_ms: u64,
}

impl Checkpoint {
    /// The canonical body text (four lines; see the module docs), the bytes that are signed.
    pub fn body(&self) -> String {
        format!("{}\n{}\n{}\n{TIMESTAMP_PREFIX}{}\n", self.origin, self.size, B64.encode(self.root), self.timestamp_ms)
    }

    /// Parses a canonical body, refusing anything that [`Self::body`] would not write byte for byte.
    pub fn parse_body(text: &str) -> Result<Self> {
        let bad = |line: usize, reason: String| CheckpointError::MalformedBody { line, reason };
        let Some(text) = text.strip_suffix('\n') else {
            return Err(bad(1, "the body does not end with a newline".into()));
        };
        let lines: Vec<&str> = text.split('\n').collect();
        if lines.len() != 4 {
            // Name the first missing line, or the first extra one.
            let line = if lines.len() < 4 { lines.len() + 1 } else { 5 };
            return Err(bad(line, format!("a checkpoint body has 4 lines, this one has {}", lines.len())));
        }
        let origin = lines[0];
        validate_origin(origin).map_err(|e| bad(1, e.to_string()))?;
        let size = parse_decimal(lines[1]).map_err(|reason| bad(2, format!("tree size {:?}: {reason}", lines[1])))?;
        let root = B64.decode(lines[2]).map_err(|e| bad(3, format!("root hash is not base64: {e}")))?;
        let root: Hash = root
            .as_slice()
            .try_into()
            .map_err(|_| bad(3, format!("root hash is {} bytes, not {HASH_LEN}", root.len())))?;
        let Some(ts) = lines[3].strip_prefix(TIMESTAMP_PREFIX) else {
            return Err(bad(4, format!("expected \"{TIMESTAMP_PREFIX}<unix ms>\", found {:?}", lines[3])));
        };
        let timestamp_ms = parse_decimal(ts).map_err(|reason| bad(4, format!("timestamp {ts:?}: {reason}")))?;
        let cp = Self { origin: origin.to_owned(), size, root, timestamp_ms };
        if cp.body() != format!("{text}\n") {
            // Only a non-canonical base64 root can get here.
            return Err(bad(3, "root hash is not in canonical base64".into()));
        }
        Ok(cp)
    }

    /// Signs the checkpoint with `key`, named after the origin.
    pub fn sign(&self, key: &SigningKey) -> Result<SignedCheckpoint> {
        validate_origin(&self.origin)?;
        let text = sign_note(&self.body(), &self.origin, key)?;
        Ok(SignedCheckpoint { checkpoint: self.clone(), text })
    }
}

/// A canonical unsigned decimal: digits only, no leading zero (except "0"), fits in a `u64`.
fn parse_decimal(s: &str) -> std::result::Result<u64, &'static str> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err("not a decimal number");
    }
    if s.len() > 1 && s.starts_with('0') {
        return Err("leading zero");
    }
    s.parse().map_err(|_| "does not fit in 64 bits")
}

/// A checkpoint with its signed-note text. Made by [`Checkpoint::sign`] or parsed with
/// [`Self::verify_text`] (signature checked) or [`Self::parse_unverified`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCheckpoint {
    checkpoint: Checkpoint,
    text: String,
}

impl SignedCheckpoint {
    /// Parses a signed checkpoint and checks its signature by `key` under the checkpoint's origin as key name.
    pub fn verify_text(note: &str, key: &VerifyingKey) -> Result<Self> {
        let parsed = Self::parse_unverified(note)?;
        parsed.verify(key)?;
        Ok(parsed)
    }

    /// Parses a signed checkpoint **without checking any signature**: for reading only; trust nothing in it
    /// before [`Self::verify`].
    pub fn parse_unverified(note: &str) -> Result<Self> {
        let (text, _) = split_note(note)?;
        let checkpoint = Checkpoint::parse_body(text)?;
        Ok(Self { checkpoint, text: note.to_owned() })
    }

    /// Checks the signature by `key` (key name = origin).
    pub fn verify(&self, key: &VerifyingKey) -> Result<()> {
        open_note(&self.text, &self.checkpoint.origin, key).map(|_| ())
    }

    /// What is signed.
    pub fn checkpoint(&self) -> &Checkpoint {
        &self.checkpoint
    }

    /// The whole signed note.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The origin (log name).
    pub fn origin(&self) -> &str {
        &self.checkpoint.origin
    }

    /// The tree size.
    pub fn size(&self) -> u64 {
        self.checkpoint.size
    }

    /// The root hash.
    pub fn root(&self) -> &Hash {
        &self.checkpoint.root
    }

    /// The signing time, Unix milliseconds.
    pub fn timestamp_ms(&self) -> u64 {
        self.checkpoint.timestamp_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// golang.org/x/mod/sumdb/note's documented example key and note.
    const GO_SKEY: &str = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    const GO_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    const GO_TEXT: &str =
        "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
    const GO_NOTE: &str = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n\n\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";

    fn go_signing_key() -> SigningKey {
        let material = B64.decode(GO_SKEY.splitn(5, '+').nth(4).unwrap()).unwrap();
        assert_eq!(material[0], 0x01);
        SigningKey::from_bytes(&material[1..].try_into().unwrap())
    }

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    #[test]
    fn matches_the_go_sumdb_note_example_byte_for_byte() {
        let sk = go_signing_key();
        assert_eq!(verifier_key("PeterNeumann", &sk.verifying_key()), GO_VKEY);
        let (name, vk) = parse_verifier_key(GO_VKEY).unwrap();
        assert_eq!((name.as_str(), vk), ("PeterNeumann", sk.verifying_key()));
        assert_eq!(sign_note(GO_TEXT, "PeterNeumann", &sk).unwrap(), GO_NOTE);
        assert_eq!(open_note(GO_NOTE, "PeterNeumann", &vk).unwrap(), GO_TEXT);
        let altered = GO_NOTE.replace("cryptography", "cryptographY");
        assert!(matches!(open_note(&altered, "PeterNeumann", &vk), Err(CheckpointError::BadSignature { .. })));
        assert!(matches!(open_note(GO_NOTE, "EnochRoot", &vk), Err(CheckpointError::NoSignature { .. })));
    }

    #[test]
    fn checkpoint_round_trips_and_is_canonical() {
        let cp = Checkpoint { origin: "fos/plant-7".into(), size: 1042, root: [7; 32], timestamp_ms: 1_767_225_600_000 };
        assert_eq!(
            cp.body(),
            "fos/plant-7\n1042\nBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\ntimestamp-ms 1767225600000\n"
        );
        let sk = key(1);
        let signed = cp.sign(&sk).unwrap();
        assert!(signed.text().starts_with(&cp.body()));
        let back = SignedCheckpoint::verify_text(signed.text(), &sk.verifying_key()).unwrap();
        assert_eq!(back, signed);
        assert_eq!(back.checkpoint(), &cp);
        assert!(matches!(
            SignedCheckpoint::verify_text(signed.text(), &key(2).verifying_key()),
            Err(CheckpointError::NoSignature { .. })
        ));
        // Same name, same id is impossible for another key; an altered size must fail the signature.
        let forged = signed.text().replacen("\n1042\n", "\n1043\n", 1);
        assert!(matches!(
            SignedCheckpoint::verify_text(&forged, &sk.verifying_key()),
            Err(CheckpointError::BadSignature { .. })
        ));
        // A cosignature line by another key is carried and ignored.
        let cosigned = format!("{}\u{2014} witness AAAAAAE=\n", signed.text());
        assert!(SignedCheckpoint::verify_text(&cosigned, &sk.verifying_key()).is_ok());
    }

    #[test]
    fn non_canonical_bodies_are_refused_with_the_line() {
        let ok = "fos/a\n5\nBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\ntimestamp-ms 9\n";
        assert!(Checkpoint::parse_body(ok).is_ok());
        for (body, line) in [
            ("fos/a\n05\nBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\ntimestamp-ms 9\n", 2),
            ("fos/a\n+5\nBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\ntimestamp-ms 9\n", 2),
            ("fos/a\n18446744073709551616\nBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\ntimestamp-ms 9\n", 2),
            ("fos/a\n5\nBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBw==\ntimestamp-ms 9\n", 3),
            ("fos/a\n5\nBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwd=\ntimestamp-ms 9\n", 3),
            ("fos/a\n5\nBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\ntimestamp 9\n", 4),
            ("fos/a\n5\nBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\ntimestamp-ms 09\n", 4),
            ("fos a\n5\nBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\ntimestamp-ms 9\n", 1),
            ("fos/a\n5\nBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\n", 4),
            ("fos/a\n5\nBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\ntimestamp-ms 9\nextra\n", 5),
        ] {
            match Checkpoint::parse_body(body) {
                Err(CheckpointError::MalformedBody { line: l, .. }) => assert_eq!(l, line, "{body:?}"),
                other => panic!("{body:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn origins_must_be_key_names() {
        for bad in ["", "a b", "a+b", "a\tb", &"x".repeat(256)] {
            assert!(validate_origin(bad).is_err(), "{bad:?}");
        }
        validate_origin("fos/site-1").unwrap();
        let cp = Checkpoint { origin: "has space".into(), size: 1, root: [0; 32], timestamp_ms: 0 };
        assert!(matches!(cp.sign(&key(1)), Err(CheckpointError::InvalidOrigin { .. })));
    }

    #[test]
    fn malformed_notes_are_refused() {
        let sk = key(3);
        let good = Checkpoint { origin: "fos/x".into(), size: 1, root: [1; 32], timestamp_ms: 2 }.sign(&sk).unwrap();
        let vk = sk.verifying_key();
        let no_blank = good.text().replacen("\n\n", "\n", 1);
        assert!(matches!(SignedCheckpoint::verify_text(&no_blank, &vk), Err(CheckpointError::MalformedNote { .. })));
        let no_newline = good.text().trim_end();
        assert!(matches!(SignedCheckpoint::verify_text(no_newline, &vk), Err(CheckpointError::MalformedNote { .. })));
        let bad_dash = good.text().replace('\u{2014}', "-");
        assert!(matches!(
            SignedCheckpoint::verify_text(&bad_dash, &vk),
            Err(CheckpointError::MalformedSignatureLine { line: 6, .. })
        ));
        let nul = good.text().replacen('f', "\0", 1);
        assert!(matches!(SignedCheckpoint::verify_text(&nul, &vk), Err(CheckpointError::MalformedNote { .. })));
    }

    #[test]
    fn verifier_keys_are_checked() {
        let vk = key(9).verifying_key();
        let s = verifier_key("fos/x", &vk);
        assert_eq!(parse_verifier_key(&s).unwrap(), ("fos/x".to_owned(), vk));
        let wrong_id = s.replacen("+", "+0", 1);
        assert!(parse_verifier_key(&wrong_id).is_err());
        let renamed = s.replacen("fos/x", "fos/y", 1);
        assert!(parse_verifier_key(&renamed).is_err());
        assert!(parse_verifier_key("fos/x").is_err());
    }
}
