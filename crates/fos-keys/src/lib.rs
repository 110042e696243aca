//! Secret keys for encryption at rest (the WAL today; segment files and backups later).
//!
//! A [`Key`] is 32 bytes (256 bits). It is loaded from a file ([`Key::from_file`]: 64 hex characters,
//! optionally followed by a newline, or exactly 32 raw bytes), from an environment variable
//! ([`Key::from_env`]: 64 hex characters), or from a hex string ([`Key::from_hex`]). Configuration
//! names where the key lives, never the key itself: [`KeySource`] (`{ file = "/etc/fos/wal.key" }` or
//! `{ env = "FOS_WAL_KEY" }` in TOML) and [`KeySource::load`].
//!
//! Handling rules, enforced by the types:
//!
//! - `Debug` prints `Key(<redacted>)`; there is no `Display`, no `Serialize` and no hex encoder, so a
//!   key cannot end up in a log line or a config dump by accident. [`Key::expose_secret`] is the one way
//!   to the bytes, for the cipher that needs them.
//! - Errors ([`KeyError`]) name the file or variable and what is wrong with it (missing, unreadable,
//!   wrong length, not hex, at which character), never a byte or character of its content.
//! - The bytes are zeroed when a `Key` is dropped, and so are the buffers a key file or variable was
//!   read into. This is best effort: the compiler may leave copies of moved values on the stack, and
//!   the process environment keeps its own copy of a variable.
//!
//! ```
//! use fos_keys::{Key, KeySource};
//! let key = Key::from_hex(&"2f".repeat(32))?;
//! assert_eq!(format!("{key:?}"), "Key(<redacted>)");
//! let source: KeySource = "env:FOS_WAL_KEY".parse()?;
//! assert_eq!(source, KeySource::Env("FOS_WAL_KEY".to_owned()));
//! # Ok::<(), fos_keys::KeyError>(())
//! ```

use std::fmt;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use zeroize::{Zeroize, Zeroizing};

/// Bytes of a key.
pub const KEY_LEN: usize = 32;

/// Largest key file read (bytes); anything longer is refused unread.
const MAX_FILE: usize = 4096;

/// A 256-bit secret key. Redacted in `Debug`, zeroed on drop, compared in constant time.
#[derive(Clone)]
pub struct Key([u8; KEY_LEN]);

impl Key {
    /// Wraps raw key bytes.
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Key {
        Key(bytes)
    }

    /// A fresh random key from the operating system's generator.
    pub fn generate() -> Result<Key, KeyError> {
        let mut key = Key([0; KEY_LEN]);
        getrandom::fill(&mut key.0).map_err(|e| KeyError::Random(e.to_string()))?;
        Ok(key)
    }

    /// Parses exactly 64 hex characters (either case, no whitespace, no `0x`).
    pub fn from_hex(hex: &str) -> Result<Key, KeyError> {
        parse_hex(hex.as_bytes()).map_err(|problem| KeyError::Malformed {
            origin: KeyOrigin::Hex,
            problem,
        })
    }

    /// Reads a key file: 64 hex characters (trailing whitespace such as a newline is ignored), or
    /// exactly 32 raw bytes. A 32-byte file of hex digits only is refused as a 128-bit hex key.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Key, KeyError> {
        let path = path.as_ref();
        let read_err = |source: io::Error| KeyError::Read {
            path: path.to_path_buf(),
            source,
        };
        let malformed = |problem: Problem| KeyError::Malformed {
            origin: KeyOrigin::File(path.to_path_buf()),
            problem,
        };
        let mut file = std::fs::File::open(path).map_err(read_err)?;
        let mut buf = Zeroizing::new([0u8; MAX_FILE + 1]);
        let mut len = 0;
        while len < buf.len() {
            match file.read(&mut buf[len..]) {
                Ok(0) => break,
                Ok(n) => len += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(read_err(e)),
            }
        }
        if len > MAX_FILE {
            return Err(malformed(Problem::FileTooLarge { max: MAX_FILE }));
        }
        let content = &buf[..len];
        if len == KEY_LEN {
            if content.iter().all(u8::is_ascii_hexdigit) {
                return Err(malformed(Problem::ShortHex));
            }
            let mut raw = [0u8; KEY_LEN];
            raw.copy_from_slice(content);
            return Ok(Key(raw));
        }
        let text = content.trim_ascii_end();
        if text.len() != 2 * KEY_LEN {
            return Err(malformed(Problem::FileLength {
                len,
                trimmed: text.len(),
            }));
        }
        parse_hex(text).map_err(malformed)
    }

    /// Reads 64 hex characters from the environment variable `var` (surrounding whitespace ignored).
    pub fn from_env(var: &str) -> Result<Key, KeyError> {
        let malformed = |problem: Problem| KeyError::Malformed {
            origin: KeyOrigin::Env(var.to_owned()),
            problem,
        };
        let value = std::env::var_os(var).ok_or_else(|| KeyError::EnvMissing {
            var: var.to_owned(),
        })?;
        let value = Zeroizing::new(value.into_string().map_err(|os| {
            // Wipe what we can of the rejected value before it is dropped.
            let mut bytes = os.into_encoded_bytes();
            bytes.zeroize();
            malformed(Problem::NotText)
        })?);
        parse_hex(value.trim_ascii().as_bytes()).map_err(malformed)
    }

    /// The key bytes, for the cipher that needs them. Never log or persist them.
    pub fn expose_secret(&self) -> &[u8; KEY_LEN] {
        &self.0
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key(<redacted>)")
    }
}

impl Drop for Key {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl zeroize::ZeroizeOnDrop for Key {}

/// Constant-time comparison: the time taken does not depend on where two keys differ.
impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        let diff = self
            .0
            .iter()
            .zip(other.0.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        std::hint::black_box(diff) == 0
    }
}

impl Eq for Key {}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// 64 hex characters to a key; the problem names a position, never a character.
fn parse_hex(text: &[u8]) -> Result<Key, Problem> {
    if text.len() != 2 * KEY_LEN {
        return Err(Problem::WrongLength { len: text.len() });
    }
    let mut key = Key([0; KEY_LEN]);
    for (i, pair) in text.chunks_exact(2).enumerate() {
        let hi = hex_val(pair[0]).ok_or(Problem::NotHex {
            position: 2 * i + 1,
        })?;
        let lo = hex_val(pair[1]).ok_or(Problem::NotHex {
            position: 2 * i + 2,
        })?;
        key.0[i] = hi << 4 | lo;
    }
    Ok(key)
}

/// Where a key is loaded from: what a configuration file holds instead of the key.
///
/// Serialized as `{ file = "/etc/fos/wal.key" }` or `{ env = "FOS_WAL_KEY" }` (TOML); parsed from
/// `file:PATH` or `env:VAR` (command lines).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeySource {
    /// A key file, read by [`Key::from_file`].
    File(PathBuf),
    /// An environment variable, read by [`Key::from_env`].
    Env(String),
}

impl KeySource {
    /// Loads the key.
    pub fn load(&self) -> Result<Key, KeyError> {
        match self {
            KeySource::File(path) => Key::from_file(path),
            KeySource::Env(var) => Key::from_env(var),
        }
    }
}

/// `file:PATH` or `env:VAR`, the form [`KeySource`]'s `FromStr` reads.
impl fmt::Display for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeySource::File(path) => write!(f, "file:{}", path.display()),
            KeySource::Env(var) => write!(f, "env:{var}"),
        }
    }
}

impl std::str::FromStr for KeySource {
    type Err = KeyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(path) = s.strip_prefix("file:").filter(|p| !p.is_empty()) {
            Ok(KeySource::File(PathBuf::from(path)))
        } else if let Some(var) = s.strip_prefix("env:").filter(|v| !v.is_empty()) {
            Ok(KeySource::Env(var.to_owned()))
        } else {
            Err(KeyError::BadSource {
                given: s.to_owned(),
            })
        }
    }
}

/// Where a malformed key came from (shown in [`KeyError::Malformed`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyOrigin {
    /// A key file.
    File(PathBuf),
    /// An environment variable.
    Env(String),
    /// A string given to [`Key::from_hex`].
    Hex,
}

impl fmt::Display for KeyOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyOrigin::File(path) => write!(f, "key file {}", path.display()),
            KeyOrigin::Env(var) => write!(f, "environment variable {var}"),
            KeyOrigin::Hex => f.write_str("hex key"),
        }
    }
}

/// What is wrong with a key's text or file. Names lengths and positions, never content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Problem {
    /// Hex text of the wrong length.
    #[error("holds {len} characters; a key is 64 hex characters (32 bytes)")]
    WrongLength {
        /// Characters found.
        len: usize,
    },
    /// A key file that is neither 32 raw bytes nor 64 hex characters.
    #[error(
        "holds {len} bytes ({trimmed} without trailing whitespace); expected 64 hex characters, \
         optionally followed by a newline, or exactly 32 raw bytes"
    )]
    FileLength {
        /// Bytes in the file.
        len: usize,
        /// Bytes without trailing whitespace.
        trimmed: usize,
    },
    /// A key file longer than any key.
    #[error("is larger than {max} bytes, not a key file")]
    FileTooLarge {
        /// The limit.
        max: usize,
    },
    /// A character that is not a hex digit.
    #[error("character {position} is not a hex digit (0-9, a-f, A-F)")]
    NotHex {
        /// 1-based position of the character.
        position: usize,
    },
    /// A 32-byte file of hex digits: a 128-bit key in hex rather than 32 raw bytes.
    #[error("holds 32 hex characters, a 128-bit key; a key is 64 hex characters (256 bits)")]
    ShortHex,
    /// An environment variable that is not valid Unicode.
    #[error("is not valid text; a key is 64 hex characters")]
    NotText,
}

/// Everything that can go wrong loading a key. Never contains key material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The key file could not be opened or read.
    #[error("key file {}: cannot read it: {source}", path.display())]
    Read {
        /// The key file.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// The environment variable is not set.
    #[error("environment variable {var} is not set; set it to the key as 64 hex characters")]
    EnvMissing {
        /// The variable.
        var: String,
    },
    /// The key's text or file is malformed.
    #[error("{origin}: {problem}")]
    Malformed {
        /// Where it came from.
        origin: KeyOrigin,
        /// What is wrong.
        problem: Problem,
    },
    /// A key source string is neither `file:PATH` nor `env:VAR`.
    #[error("key source {given:?} is neither file:PATH nor env:VAR")]
    BadSource {
        /// The string given (a path or a variable name, not a key).
        given: String,
    },
    /// The operating system's random generator failed.
    #[error("cannot draw a random key from the operating system: {0}")]
    Random(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191A1B1C1D1E1F";

    fn expected() -> [u8; KEY_LEN] {
        std::array::from_fn(|i| i as u8)
    }

    /// Every way of printing a key or an error about one, checked for the key's hex (either case).
    fn assert_no_material(text: &str) {
        let lower = text.to_ascii_lowercase();
        assert!(!lower.contains(&HEX.to_ascii_lowercase()), "{text}");
        // No fragment of it either (8 hex characters is far more than any message holds by chance).
        for w in HEX.to_ascii_lowercase().as_bytes().windows(8) {
            assert!(!lower.contains(std::str::from_utf8(w).unwrap()), "{text}");
        }
    }

    #[test]
    fn from_hex_parses_either_case() {
        let key = Key::from_hex(HEX).unwrap();
        assert_eq!(key.expose_secret(), &expected());
        assert_eq!(key, Key::from_hex(&HEX.to_ascii_lowercase()).unwrap());
        assert_ne!(key, Key::from_bytes([0; KEY_LEN]));
    }

    #[test]
    fn from_hex_refuses_wrong_length_and_non_hex_without_echoing() {
        let e = Key::from_hex(&HEX[..62]).unwrap_err();
        assert!(
            matches!(
                &e,
                KeyError::Malformed {
                    origin: KeyOrigin::Hex,
                    problem: Problem::WrongLength { len: 62 }
                }
            ),
            "{e:?}"
        );
        assert!(e.to_string().contains("62 characters"), "{e}");
        let mut bad = HEX.to_owned();
        bad.replace_range(9..10, "g");
        let e = Key::from_hex(&bad).unwrap_err();
        assert_eq!(
            e.to_string(),
            "hex key: character 10 is not a hex digit (0-9, a-f, A-F)"
        );
        let e = Key::from_hex(&format!("{HEX}\n")).unwrap_err();
        assert!(e.to_string().contains("65 characters"), "{e}");
        for e in [
            Key::from_hex(&HEX[..62]).unwrap_err(),
            Key::from_hex(&bad).unwrap_err(),
        ] {
            assert_no_material(&e.to_string());
            assert_no_material(&format!("{e:?}"));
        }
    }

    #[test]
    fn debug_is_redacted() {
        let key = Key::from_hex(HEX).unwrap();
        assert_eq!(format!("{key:?}"), "Key(<redacted>)");
        assert_eq!(format!("{key:#?}"), "Key(<redacted>)");
        assert_eq!(format!("{:?}", Some(key.clone())), "Some(Key(<redacted>))");
        assert_no_material(&format!("{key:?}"));
        // Not even as decimal bytes.
        assert!(!format!("{key:?}").contains("26, 27"));
    }

    #[test]
    fn from_file_hex_with_or_without_newline_and_raw() {
        let dir = tempfile::tempdir().unwrap();
        for (name, content) in [
            ("plain", HEX.as_bytes().to_vec()),
            ("lf", format!("{HEX}\n").into_bytes()),
            ("crlf", format!("{HEX}\r\n").into_bytes()),
            ("raw", expected().to_vec()),
        ] {
            let path = dir.path().join(name);
            std::fs::write(&path, content).unwrap();
            let key = Key::from_file(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(key.expose_secret(), &expected(), "{name}");
            assert_eq!(KeySource::File(path.clone()).load().unwrap(), key, "{name}");
        }
    }

    #[test]
    fn from_file_errors_name_the_file_and_the_problem() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.key");
        let e = Key::from_file(&missing).unwrap_err();
        assert!(matches!(&e, KeyError::Read { path, .. } if path == &missing));
        assert!(
            e.to_string().contains(missing.to_str().unwrap()) && e.to_string().contains("read"),
            "{e}"
        );

        let cases: [(&str, Vec<u8>, &str); 5] = [
            ("short.key", HEX.as_bytes()[..40].to_vec(), "holds 40 bytes"),
            (
                "long.key",
                format!("{HEX}00\n").into_bytes(),
                "holds 67 bytes",
            ),
            (
                "nonhex.key",
                format!("{}z{}", &HEX[..63], "\n").into_bytes(),
                "character 64",
            ),
            ("k128.key", HEX.as_bytes()[..32].to_vec(), "128-bit"),
            ("huge.key", vec![b'0'; 10_000], "larger than 4096"),
        ];
        for (name, content, want) in cases {
            let path = dir.path().join(name);
            std::fs::write(&path, &content).unwrap();
            let e = Key::from_file(&path).unwrap_err();
            let msg = e.to_string();
            assert!(
                matches!(&e, KeyError::Malformed { origin: KeyOrigin::File(p), .. } if p == &path),
                "{e:?}"
            );
            assert!(
                msg.starts_with(&format!("key file {}: ", path.display())) && msg.contains(want),
                "{name}: {msg}"
            );
            assert_no_material(&msg);
            assert_no_material(&format!("{e:?}"));
        }
    }

    // Environment variables are process-wide: each test uses its own names.
    #[test]
    fn from_env_reads_hex_and_names_the_variable() {
        let ok = "FOS_KEYS_TEST_ENV_OK";
        let bad = "FOS_KEYS_TEST_ENV_BAD";
        let unset = "FOS_KEYS_TEST_ENV_UNSET";
        std::env::set_var(ok, format!("{HEX}\n"));
        std::env::set_var(bad, &HEX[..20]);
        std::env::remove_var(unset);

        let key = Key::from_env(ok).unwrap();
        assert_eq!(key.expose_secret(), &expected());
        assert_eq!(KeySource::Env(ok.to_owned()).load().unwrap(), key);

        let e = Key::from_env(bad).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "environment variable {bad}: holds 20 characters; a key is 64 hex characters (32 bytes)"
            )
        );
        assert_no_material(&format!("{e:?}"));

        let e = Key::from_env(unset).unwrap_err();
        assert!(matches!(&e, KeyError::EnvMissing { var } if var == unset));
        assert!(e.to_string().contains(unset) && e.to_string().contains("not set"));
    }

    #[test]
    fn key_source_parses_displays_and_deserializes() {
        let file: KeySource = "file:/etc/fos/wal.key".parse().unwrap();
        assert_eq!(file, KeySource::File("/etc/fos/wal.key".into()));
        assert_eq!(file.to_string(), "file:/etc/fos/wal.key");
        let env: KeySource = "env:FOS_WAL_KEY".parse().unwrap();
        assert_eq!(env.to_string(), "env:FOS_WAL_KEY");
        for bad in ["", "file:", "env:", "/etc/fos/wal.key", "hex:00"] {
            let e = bad.parse::<KeySource>().unwrap_err();
            assert!(matches!(e, KeyError::BadSource { .. }), "{bad}: {e}");
        }
        let json: KeySource = serde_json::from_str(r#"{"env":"FOS_WAL_KEY"}"#).unwrap();
        assert_eq!(json, env);
        assert_eq!(
            serde_json::to_string(&file).unwrap(),
            r#"{"file":"/etc/fos/wal.key"}"#
        );
    }

    #[test]
    fn generated_keys_differ() {
        let a = Key::generate().unwrap();
        let b = Key::generate().unwrap();
        assert_ne!(a, b);
        assert_ne!(a.expose_secret(), &[0; KEY_LEN]);
    }
}
