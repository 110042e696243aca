//! Encryption at rest of the historian's Parquet files.
//!
//! With a key configured, every Parquet file the historian writes (`samples`, `waveforms`,
//! `samples_rollup`, retention's downsampled days) uses Parquet modular encryption: the footer and
//! every column are encrypted with AES-GCM (`AES_GCM_V1`, an AEAD: a changed byte fails
//! authentication), and every reader (SQL through DataFusion, waveform lookup, retention) decrypts
//! with the same key. The Parquet implementation supports 128-bit keys only, so the 32-byte FOS key
//! ([`fos_keys::Key`]) is turned into one with a domain-separated SHA-256:
//! `SHA-256("fos/historian/parquet-aes-gcm/v1\0" ‖ key)[..16]`; the WAL's XChaCha20-Poly1305 key is
//! the raw key, so the two never share key material.
//!
//! Encryption is a property of a data folder, chosen when it is created. The marker
//! `historian/encryption.json` records it with a key check value
//! (`SHA-256("fos/historian/key-check/v1\0" ‖ derived key)`, which reveals nothing of the key), and
//! opening refuses a missing key, a wrong key, or a key for a folder that already holds plaintext
//! data, naming the folder. Folder names (dates), file names and the commit log stay plaintext.

use std::fmt;
use std::fs;
use std::path::Path;
use std::sync::Arc;

use datafusion::common::config::{ConfigFileDecryptionProperties, TableParquetOptions};
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::parquet::arrow::arrow_reader::ArrowReaderOptions;
use datafusion::parquet::encryption::decrypt::FileDecryptionProperties;
use datafusion::parquet::encryption::encrypt::FileEncryptionProperties;
use datafusion::parquet::file::properties::WriterPropertiesBuilder;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{Error, Result};

const MARKER: &str = "encryption.json";
const SCHEME: &str = "parquet-modular-aes-gcm-v1";

/// How the historian's files are stored: in the clear (the default) or encrypted with a key.
/// Cheap to clone; `Debug` never shows the key.
#[derive(Clone, Default)]
pub struct AtRest {
    key: Option<Arc<ParquetKey>>,
}

/// The 128-bit Parquet key, zeroed on drop.
struct ParquetKey([u8; 16]);

impl Drop for ParquetKey {
    fn drop(&mut self) {
        self.0 = [0; 16];
        std::hint::black_box(&self.0);
    }
}

impl fmt::Debug for AtRest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.key {
            Some(_) => f.write_str("AtRest::Encrypted(<redacted>)"),
            None => f.write_str("AtRest::Plain"),
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Marker {
    scheme: String,
    key_check: String,
}

impl AtRest {
    /// Files in the clear.
    pub fn plain() -> AtRest {
        AtRest::default()
    }

    /// Files encrypted with a key derived from `key` (see the module doc).
    pub fn encrypted(key: &fos_keys::Key) -> AtRest {
        let mut h = Sha256::new();
        h.update(b"fos/historian/parquet-aes-gcm/v1\0");
        h.update(key.expose_secret());
        let digest = h.finalize();
        let mut k = [0u8; 16];
        k.copy_from_slice(&digest[..16]);
        AtRest { key: Some(Arc::new(ParquetKey(k))) }
    }

    /// `encrypted(key)` when a key is given, else `plain()`.
    pub fn from_key(key: Option<&fos_keys::Key>) -> AtRest {
        key.map(AtRest::encrypted).unwrap_or_default()
    }

    /// Whether files are encrypted.
    pub fn is_encrypted(&self) -> bool {
        self.key.is_some()
    }

    fn key_check(&self) -> Option<String> {
        let key = self.key.as_ref()?;
        let mut h = Sha256::new();
        h.update(b"fos/historian/key-check/v1\0");
        h.update(key.0);
        Some(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
    }

    /// Checks `historian` (the `DATA_DIR/historian` folder) against this setting, and records the
    /// setting in a new folder. See the module doc for what is refused.
    pub(crate) fn check_folder(&self, historian: &Path) -> Result<()> {
        let marker = historian.join(MARKER);
        let refuse = |reason: String| Err(Error::Encryption { path: historian.to_path_buf(), reason });
        match fs::read(&marker) {
            Ok(bytes) => {
                let m: Marker = serde_json::from_slice(&bytes).map_err(|e| Error::Corrupt {
                    path: marker.clone(),
                    reason: format!("not an encryption marker: {e}"),
                })?;
                if m.scheme != SCHEME {
                    return refuse(format!("encrypted with scheme {:?}, which this build does not know", m.scheme));
                }
                match self.key_check() {
                    None => refuse(
                        "holds encrypted data and no key is configured: set the historian key \
                         (`[historian] key` in the ingest config, `--key-file`/`--key-env` on the command line)"
                            .into(),
                    ),
                    Some(check) if check != m.key_check => {
                        refuse("the configured key is not the key this folder was encrypted with".into())
                    }
                    Some(_) => Ok(()),
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let Some(check) = self.key_check() else { return Ok(()) };
                if holds_parquet(historian)? {
                    return refuse(
                        "holds unencrypted data and a key is configured: encryption is chosen when a data \
                         folder is created; use a new --data-dir, or drop the key"
                            .into(),
                    );
                }
                fs::create_dir_all(historian).map_err(|source| Error::Io { path: historian.to_path_buf(), source })?;
                let body = serde_json::to_vec_pretty(&Marker { scheme: SCHEME.into(), key_check: check })
                    .map_err(|e| Error::Invalid(e.to_string()))?;
                let tmp = historian.join("encryption.json.tmp");
                fs::write(&tmp, body)
                    .and_then(|()| fs::File::open(&tmp)?.sync_all())
                    .and_then(|()| fs::rename(&tmp, &marker))
                    .map_err(|source| Error::Io { path: marker.clone(), source })?;
                crate::commit::sync_dir(historian)
            }
            Err(source) => Err(Error::Io { path: marker, source }),
        }
    }

    /// Adds encryption to a writer's properties when a key is set.
    pub(crate) fn writer(&self, builder: WriterPropertiesBuilder) -> Result<WriterPropertiesBuilder> {
        let Some(key) = &self.key else { return Ok(builder) };
        let props = FileEncryptionProperties::builder(key.0.to_vec())
            .build()
            .map_err(|source| Error::Parquet { path: Default::default(), source })?;
        Ok(builder.with_file_encryption_properties(props))
    }

    /// Reader options of the Parquet reader (decryption when a key is set).
    pub(crate) fn reader(&self) -> Result<ArrowReaderOptions> {
        let options = ArrowReaderOptions::new();
        let Some(key) = &self.key else { return Ok(options) };
        let props = FileDecryptionProperties::builder(key.0.to_vec())
            .build()
            .map_err(|source| Error::Parquet { path: Default::default(), source })?;
        Ok(options.with_file_decryption_properties(props))
    }

    /// DataFusion's Parquet format for listing tables (decryption when a key is set).
    pub(crate) fn format(&self) -> ParquetFormat {
        let Some(key) = &self.key else { return ParquetFormat::default() };
        let mut options = TableParquetOptions::default();
        options.crypto.file_decryption = Some(ConfigFileDecryptionProperties {
            footer_key_as_hex: key.0.iter().map(|b| format!("{b:02x}")).collect(),
            ..ConfigFileDecryptionProperties::default()
        });
        ParquetFormat::default().with_options(options)
    }
}

/// Whether any `*.parquet` file lies below `dir` (any depth).
fn holds_parquet(dir: &Path) -> Result<bool> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(source) => return Err(Error::Io { path: dir.to_path_buf(), source }),
    };
    for e in entries {
        let path = e.map_err(|source| Error::Io { path: dir.to_path_buf(), source })?.path();
        if path.is_dir() {
            if holds_parquet(&path)? {
                return Ok(true);
            }
        } else if path.to_string_lossy().contains(".parquet") {
            return Ok(true);
        }
    }
    Ok(false)
}
