//! The layout of a site's data directory, its key files, and the read-only ledger of a directory
//! (what auditors use: the public key only, no lock, nothing written).
//!
//! ```text
//! DIR/ledger/records.log, checkpoints.log   the tamper-evident log (fos-ledger); nothing else lives there
//! DIR/keys/ledger.key                       the site's Ed25519 checkpoint signing key, 64 hex (0600; folder 0700)
//! DIR/keys/ledger.pub                       its public key for auditors: the signed-note verifier key
//!                                           `fos/<site>+<key id>+<base64>`, then the key as 64 hex
//! DIR/keys/gate-permit.key, .pub            the gate's key for driver write permits (0600), its public key
//! DIR/gate/lock                             held (exclusive advisory lock) while an operation changes the site
//! DIR/users.json                            users, roles, password hashes, sealed signing keys (fos-gate)
//! DIR/policy.toml                           the gate's policy, written with documented defaults on first use
//! DIR/gate/                                 the gate's working state (proposals, stop flag), rebuildable
//! DIR/gate/payloads/ID.nc, ID.orig.nc       a toolpath proposal's corrected and original program
//! DIR/out/ID.nc, ID.weld.json               what an executed CNC or weld proposal hands to the machine
//! DIR/cases/library.json                    the case library behind findings (a rebuildable cache)
//! ```

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use ed25519_dalek::{SigningKey, VerifyingKey};
use fos_ledger::LedgerView;
use fos_prov::Record;
use sha2::{Digest, Sha256};

use crate::error::{Result, SiteError};

/// Paths inside a data directory.
#[derive(Debug, Clone)]
pub struct Paths {
    /// The data directory.
    pub data: PathBuf,
}

impl Paths {
    /// The layout of `data`.
    pub fn new(data: &Path) -> Paths {
        Paths { data: data.to_path_buf() }
    }
    /// `DIR/ledger`.
    pub fn ledger(&self) -> PathBuf {
        self.data.join("ledger")
    }
    /// `DIR/keys`.
    pub fn keys(&self) -> PathBuf {
        self.data.join("keys")
    }
    /// `DIR/keys/ledger.key`.
    pub fn ledger_key(&self) -> PathBuf {
        self.keys().join("ledger.key")
    }
    /// `DIR/keys/ledger.pub`.
    pub fn ledger_pub(&self) -> PathBuf {
        self.keys().join("ledger.pub")
    }
    /// `DIR/keys/gate-permit.key`.
    pub fn gate_key(&self) -> PathBuf {
        self.keys().join("gate-permit.key")
    }
    /// `DIR/keys/gate-permit.pub`.
    pub fn gate_pub(&self) -> PathBuf {
        self.keys().join("gate-permit.pub")
    }
    /// `DIR/gate/lock`.
    pub fn lock(&self) -> PathBuf {
        self.data.join(fos_gate::GATE_DIR).join("lock")
    }
    /// `DIR/policy.toml`.
    pub fn policy(&self) -> PathBuf {
        self.data.join("policy.toml")
    }
    /// `DIR/gate/payloads`.
    pub fn payloads(&self) -> PathBuf {
        self.data.join(fos_gate::GATE_DIR).join("payloads")
    }
    /// `DIR/out`.
    pub fn out(&self) -> PathBuf {
        self.data.join("out")
    }
    /// `DIR/cases/library.json`.
    pub fn case_library(&self) -> PathBuf {
        self.data.join(crate::findings::LIBRARY)
    }
}

/// Now, in Unix milliseconds.
pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Writes a new private file (0600) that must not exist yet.
pub(crate) fn write_secret(path: &Path, text: &str) -> Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(path).map_err(|e| SiteError::io(format!("cannot create {}", path.display()), e))?;
    f.write_all(text.as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(|e| SiteError::io(format!("cannot write {}", path.display()), e))
}

/// Reads a private key file (64 hex digits), refusing one that others may read.
pub(crate) fn read_secret(path: &Path) -> Result<SigningKey> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(path)
            .map_err(|e| SiteError::io(format!("cannot read {}", path.display()), e))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(SiteError::internal_msg(format!(
                "{}: the key is readable by others (mode {:o}); run `chmod 600 {}`",
                path.display(),
                mode & 0o777,
                path.display()
            )));
        }
    }
    let text = fs::read_to_string(path).map_err(|e| SiteError::io(format!("cannot read {}", path.display()), e))?;
    let bytes = fos_prov::parse_hash(text.trim())
        .map_err(|_| SiteError::internal_msg(format!("{}: not a key (expected 64 lower-case hex digits)", path.display())))?;
    Ok(SigningKey::from_bytes(&bytes))
}

/// A fresh signing key from the operating system's random generator.
pub(crate) fn make_key() -> Result<SigningKey> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| SiteError::internal_msg(format!("the system's random generator failed: {e}")))?;
    Ok(SigningKey::from_bytes(&seed))
}

/// Parses a public key given as 64 hex digits, a signed-note verifier key (`name+id+base64`), or a file
/// holding either (the first line that parses).
pub fn parse_public_key(spec: &str) -> Result<VerifyingKey> {
    let from_text = |t: &str| -> Option<VerifyingKey> {
        let t = t.trim();
        if let Ok(b) = fos_prov::parse_hash(&t.to_ascii_lowercase()) {
            return VerifyingKey::from_bytes(&b).ok();
        }
        fos_ledger::checkpoint::parse_verifier_key(t).ok().map(|(_, k)| k)
    };
    if let Some(k) = from_text(spec) {
        return Ok(k);
    }
    let path = Path::new(spec);
    if path.exists() {
        let text = fs::read_to_string(path).map_err(|e| SiteError::io(format!("cannot read {}", path.display()), e))?;
        return text.lines().find_map(from_text).ok_or_else(|| {
            SiteError::bad_request(format!(
                "{}: no public key in it (64 hex digits or a verifier key name+id+base64)",
                path.display()
            ))
        });
    }
    Err(SiteError::bad_request(format!(
        "--public-key {spec:?}: not 64 hex digits, a verifier key (name+id+base64) or a file holding one"
    )))
}

/// The site's public key and origin, from `DIR/keys/ledger.pub`.
pub fn site_public_key(paths: &Paths) -> Result<(String, VerifyingKey)> {
    let path = paths.ledger_pub();
    let text = fs::read_to_string(&path).map_err(|e| {
        let what = format!("cannot read {} (is {} a FOS data directory?)", path.display(), paths.data.display());
        if e.kind() == std::io::ErrorKind::NotFound {
            SiteError::not_found(format!("{what}: {e}"))
        } else {
            SiteError::io(what, e)
        }
    })?;
    let line = text.lines().next().unwrap_or_default();
    fos_ledger::checkpoint::parse_verifier_key(line.trim())
        .map_err(|e| SiteError::internal_msg(format!("{}: the first line is not a verifier key: {e}", path.display())))
}

/// The read-only ledger of a data directory, with its public key (or `key` if given).
pub fn open_view(paths: &Paths, key: Option<VerifyingKey>) -> Result<(LedgerView, VerifyingKey)> {
    let key = match key {
        Some(k) => k,
        None => site_public_key(paths)?.1,
    };
    let view = LedgerView::open(paths.ledger(), &key).map_err(|e| {
        SiteError::internal(
            format!("the ledger in {} does not verify; run `fos audit verify`", paths.ledger().display()),
            e,
        )
    })?;
    Ok((view, key))
}

/// Every committed record of a view, parsed, with its leaf hash.
pub fn view_records(view: &LedgerView) -> Result<Vec<([u8; 32], Record)>> {
    (0..view.len())
        .map(|i| {
            let bytes = view.get(i)?;
            let record = Record::from_bytes(&bytes).map_err(|e| {
                SiteError::internal(format!("ledger record {i} is not a provenance record; run `fos audit verify`"), e)
            })?;
            Ok((view.leaf_hash(i)?, record))
        })
        .collect()
}

/// Every committed record of the ledger in `data`, verified against the site's public key, without the
/// site's lock (what the read-only commands use).
pub fn read_records(data: &Path) -> Result<Vec<([u8; 32], Record)>> {
    let (view, _) = open_view(&Paths::new(data), None)?;
    view_records(&view)
}

/// Writes a file atomically (temporary file, fsync, rename), so a reader sees the old or the new file.
pub(crate) fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let result = (|| -> std::io::Result<()> {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    result.map_err(|e| SiteError::io(format!("cannot write {}", path.display()), e))
}

