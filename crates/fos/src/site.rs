//! The site behind `fos users`, `fos gate` and `fos audit`: one data directory with its keys, users,
//! policy, gate state and the provenance ledger.
//!
//! ```text
//! DIR/ledger/records.log, checkpoints.log   the tamper-evident log (fos-ledger); nothing else lives there
//! DIR/keys/ledger.key                       the site's Ed25519 checkpoint signing key, 64 hex (0600; folder 0700)
//! DIR/keys/ledger.pub                       its public key for auditors: the signed-note verifier key
//!                                           `fos/<site>+<key id>+<base64>`, then the key as 64 hex
//! DIR/keys/gate-permit.key, .pub            the gate's key for driver write permits (0600), its public key
//! DIR/gate/lock                             held (exclusive advisory lock) by the command changing the site
//! DIR/users.json                            users, roles, password hashes, sealed signing keys (fos-gate)
//! DIR/policy.toml                           the gate's policy, written with documented defaults on first use
//! DIR/gate/                                 the gate's working state (proposals, stop flag), rebuildable
//! DIR/gate/payloads/ID.nc, ID.orig.nc       a toolpath proposal's corrected and original program
//! DIR/out/ID.nc, ID.weld.json               what an executed CNC or weld proposal hands to the machine
//! ```
//!
//! Commands that change the site hold `DIR/gate/lock` while they run, so two of them never interleave
//! (the second waits); the audit commands read without it. Every command that changes something appends
//! its provenance records to the ledger *first* (one batch,
//! durable and under a signed checkpoint when [`Site::commit`] returns), then updates the gate's working
//! state; a refused command appends nothing. The log's origin is `fos/<site>`, where `<site>` is the
//! environment variable `FOS_SITE` when the ledger is created (default `site`); it is read back from
//! `ledger.pub` afterwards.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context, Result};
use ed25519_dalek::{SigningKey, VerifyingKey};
use fos_gate::{AuthenticatedUser, GateState, Policy, UserStore};
use fos_ledger::{Ledger, LedgerView};
use fos_prov::{hex, Agent, Record, Ref};
use sha2::{Digest, Sha256};

/// The default data directory of every command.
pub(crate) const DEFAULT_DATA_DIR: &str = "fos-data";

/// The environment variable holding the acting user's password.
pub(crate) const PASSWORD_ENV: &str = "FOS_PASSWORD";

/// Paths inside a data directory.
#[derive(Debug, Clone)]
pub(crate) struct Paths {
    pub(crate) data: PathBuf,
}

impl Paths {
    pub(crate) fn new(data: &Path) -> Paths {
        Paths { data: data.to_path_buf() }
    }
    pub(crate) fn ledger(&self) -> PathBuf {
        self.data.join("ledger")
    }
    pub(crate) fn keys(&self) -> PathBuf {
        self.data.join("keys")
    }
    pub(crate) fn ledger_key(&self) -> PathBuf {
        self.keys().join("ledger.key")
    }
    pub(crate) fn ledger_pub(&self) -> PathBuf {
        self.keys().join("ledger.pub")
    }
    pub(crate) fn gate_key(&self) -> PathBuf {
        self.keys().join("gate-permit.key")
    }
    pub(crate) fn gate_pub(&self) -> PathBuf {
        self.keys().join("gate-permit.pub")
    }
    pub(crate) fn lock(&self) -> PathBuf {
        self.data.join("gate").join("lock")
    }
    pub(crate) fn policy(&self) -> PathBuf {
        self.data.join("policy.toml")
    }
    pub(crate) fn payloads(&self) -> PathBuf {
        self.data.join("gate").join("payloads")
    }
    pub(crate) fn out(&self) -> PathBuf {
        self.data.join("out")
    }
}

/// Now, in Unix milliseconds.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// SHA-256 of `bytes`.
pub(crate) fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Writes a new private file (0600) that must not exist yet.
fn write_secret(path: &Path, text: &str) -> Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(path).with_context(|| format!("cannot create {}", path.display()))?;
    f.write_all(text.as_bytes()).and_then(|()| f.sync_all()).with_context(|| format!("cannot write {}", path.display()))
}

/// Reads a private key file (64 hex digits), refusing one that others may read.
fn read_secret(path: &Path) -> Result<SigningKey> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?.permissions().mode();
        if mode & 0o077 != 0 {
            bail!(
                "{}: the key is readable by others (mode {:o}); run `chmod 600 {}`",
                path.display(),
                mode & 0o777,
                path.display()
            );
        }
    }
    let text = fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let bytes = fos_prov::parse_hash(text.trim())
        .map_err(|_| anyhow!("{}: not a key (expected 64 lower-case hex digits)", path.display()))?;
    Ok(SigningKey::from_bytes(&bytes))
}

fn make_key() -> Result<SigningKey> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| anyhow!("the system's random generator failed: {e}"))?;
    Ok(SigningKey::from_bytes(&seed))
}

/// Parses a public key given as 64 hex digits, a signed-note verifier key (`name+id+base64`), or a file
/// holding either (the first line that parses).
pub(crate) fn parse_public_key(spec: &str) -> Result<VerifyingKey> {
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
        let text = fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        return text
            .lines()
            .find_map(from_text)
            .ok_or_else(|| anyhow!("{}: no public key in it (64 hex digits or a verifier key name+id+base64)", path.display()));
    }
    bail!("--public-key {spec:?}: not 64 hex digits, a verifier key (name+id+base64) or a file holding one")
}

/// The site's public key and origin, from `DIR/keys/ledger.pub`.
pub(crate) fn site_public_key(paths: &Paths) -> Result<(String, VerifyingKey)> {
    let path = paths.ledger_pub();
    let text = fs::read_to_string(&path)
        .with_context(|| format!("cannot read {} (is {} a FOS data directory?)", path.display(), paths.data.display()))?;
    let line = text.lines().next().unwrap_or_default();
    fos_ledger::checkpoint::parse_verifier_key(line.trim())
        .map_err(|e| anyhow!("{}: the first line is not a verifier key: {e}", path.display()))
}

/// The read-only ledger of a data directory, with its public key (or `key` if given).
pub(crate) fn open_view(paths: &Paths, key: Option<VerifyingKey>) -> Result<(LedgerView, VerifyingKey)> {
    let key = match key {
        Some(k) => k,
        None => site_public_key(paths)?.1,
    };
    let view = LedgerView::open(paths.ledger(), &key)
        .with_context(|| format!("the ledger in {} does not verify; run `fos audit verify`", paths.ledger().display()))?;
    Ok((view, key))
}

/// Every committed record of a view, parsed, with its leaf hash.
pub(crate) fn view_records(view: &LedgerView) -> Result<Vec<([u8; 32], Record)>> {
    (0..view.len())
        .map(|i| {
            let bytes = view.get(i)?;
            let record = Record::from_bytes(&bytes)
                .with_context(|| format!("ledger record {i} is not a provenance record; run `fos audit verify`"))?;
            Ok((view.leaf_hash(i)?, record))
        })
        .collect()
}

/// An open site, for commands that change it.
pub(crate) struct Site {
    pub(crate) paths: Paths,
    pub(crate) ledger: Ledger,
    /// Every committed record, parsed, with its leaf hash, by index.
    pub(crate) records: Vec<([u8; 32], Record)>,
    pub(crate) policy: Policy,
    pub(crate) policy_sha256: [u8; 32],
    pub(crate) users: UserStore,
    pub(crate) gate: GateState,
    gate_key: SigningKey,
    staged: Vec<Vec<u8>>,
    /// The exclusive lock on `DIR/gate/lock`, released when the site is dropped.
    _lock: fs::File,
}

impl std::fmt::Debug for Site {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Site").field("data", &self.paths.data).field("records", &self.records.len()).finish_non_exhaustive()
    }
}

impl Site {
    /// Opens the site in `data`; `create`: make its keys and ledger on first use (only `fos users add`
    /// creates a site, with its first admin).
    pub(crate) fn open(data: &Path, create: bool) -> Result<Site> {
        let paths = Paths::new(data);
        if !create && !paths.ledger_key().exists() {
            bail!(
                "{} is not a FOS site (no {}); add its first admin with `fos users add NAME --role admin --data-dir {}`",
                data.display(),
                paths.ledger_key().display(),
                data.display()
            );
        }
        let gate_dir = data.join(fos_gate::GATE_DIR);
        fs::create_dir_all(&gate_dir).with_context(|| format!("cannot create {}", gate_dir.display()))?;
        let lock = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(paths.lock())
            .with_context(|| format!("cannot open {}", paths.lock().display()))?;
        lock.lock().with_context(|| format!("cannot lock {}", paths.lock().display()))?;
        let (ledger_key, origin) = Self::keys(&paths)?;
        let gate_key = read_secret(&paths.gate_key())?;
        let (ledger, recovery) = Ledger::open(paths.ledger(), ledger_key, &origin)
            .with_context(|| format!("cannot open the ledger in {}", paths.ledger().display()))?;
        if !recovery.is_clean() {
            eprintln!("warning: ledger {}: {recovery}", paths.ledger().display());
        }
        let mut records = Vec::new();
        for i in 0..ledger.len() {
            let bytes = ledger.get(i)?;
            let record = Record::from_bytes(&bytes)
                .with_context(|| format!("ledger record {i} is not a provenance record; run `fos audit verify`"))?;
            records.push((ledger.leaf_hash(i)?, record));
        }
        let (policy, _) = Policy::load_or_init(paths.policy())?;
        let policy_text = fs::read(paths.policy()).with_context(|| format!("cannot read {}", paths.policy().display()))?;
        let users = UserStore::open(data)?;
        let gate = GateState::open(data, policy.clone())?;
        Ok(Site {
            policy_sha256: sha256(&policy_text),
            paths,
            ledger,
            records,
            policy,
            users,
            gate,
            gate_key,
            staged: Vec::new(),
            _lock: lock,
        })
    }

    /// Loads the ledger key (making all keys on first use) and the origin.
    fn keys(paths: &Paths) -> Result<(SigningKey, String)> {
        let keys = paths.keys();
        if !paths.ledger_key().exists() {
            if paths.ledger().join(fos_ledger::RECORDS_FILE).exists() {
                bail!(
                    "{} exists but its signing key {} is missing; restore the key from a backup (a new key cannot sign this ledger)",
                    paths.ledger().display(),
                    paths.ledger_key().display()
                );
            }
            let site = std::env::var("FOS_SITE").unwrap_or_else(|_| "site".to_owned());
            let origin = format!("fos/{site}");
            fos_ledger::checkpoint::validate_origin(&origin).with_context(|| format!("FOS_SITE={site:?}"))?;
            fs::create_dir_all(&keys).with_context(|| format!("cannot create {}", keys.display()))?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                fs::set_permissions(&keys, fs::Permissions::from_mode(0o700))
                    .with_context(|| format!("cannot restrict {}", keys.display()))?;
            }
            let key = make_key()?;
            if !paths.gate_key().exists() {
                let gate = make_key()?;
                write_secret(&paths.gate_key(), &format!("{}\n", hex(&gate.to_bytes())))?;
                fs::write(paths.gate_pub(), format!("{}\n", hex(gate.verifying_key().as_bytes())))
                    .with_context(|| format!("cannot write {}", paths.gate_pub().display()))?;
            }
            let public = key.verifying_key();
            let pub_text = format!(
                "{}\n{}\n",
                fos_ledger::checkpoint::verifier_key(&origin, &public),
                hex(public.as_bytes())
            );
            fs::write(paths.ledger_pub(), pub_text).with_context(|| format!("cannot write {}", paths.ledger_pub().display()))?;
            write_secret(&paths.ledger_key(), &format!("{}\n", hex(&key.to_bytes())))?;
        }
        let key = read_secret(&paths.ledger_key())?;
        let (origin, public) = site_public_key(paths)?;
        if public != key.verifying_key() {
            bail!("{} does not hold the public key of {}", paths.ledger_pub().display(), paths.ledger_key().display());
        }
        Ok((key, origin))
    }

    /// The gate's permit verifying key.
    pub(crate) fn gate_public_key(&self) -> VerifyingKey {
        self.gate_key.verifying_key()
    }

    /// The gate's permit signing key.
    pub(crate) fn gate_key(&self) -> &SigningKey {
        &self.gate_key
    }

    /// Stages a record for the next [`Site::commit`]; returns the index and leaf hash it will have.
    pub(crate) fn stage(&mut self, record: &Record) -> Result<(u64, [u8; 32])> {
        let bytes = record.to_bytes().with_context(|| format!("cannot encode the {} record", record.kind()))?;
        let index = self.ledger.len() + self.staged.len() as u64;
        let leaf = fos_ledger::leaf_hash(&bytes);
        self.staged.push(bytes);
        Ok((index, leaf))
    }

    /// Appends the staged records as one durable batch under a new signed checkpoint.
    pub(crate) fn commit(&mut self) -> Result<Vec<fos_ledger::Receipt>> {
        let staged = std::mem::take(&mut self.staged);
        let receipts = self.ledger.append_batch(&staged).context("cannot append to the ledger; nothing was changed")?;
        for (bytes, r) in staged.iter().zip(&receipts) {
            let record = Record::from_bytes(bytes)?;
            self.records.push((r.leaf_hash, record));
        }
        Ok(receipts)
    }

    /// A reference to record `index`.
    pub(crate) fn reference(&self, index: u64, role: &str) -> Result<Ref> {
        Ok(Ref::record(index, self.ledger.leaf_hash(index)?, role))
    }

    /// The last committed record about `id` (a proposal, finding or `user:NAME`).
    pub(crate) fn last_about(&self, id: &str) -> Option<u64> {
        self.records.iter().rposition(|(_, r)| r.about.iter().any(|a| a == id)).map(|i| i as u64)
    }

    /// The reference to the last record about `id`, with `role`.
    pub(crate) fn previous(&self, id: &str, role: &str) -> Result<Option<Ref>> {
        self.last_about(id).map(|i| self.reference(i, role)).transpose()
    }

    /// The reference to the record that added user `name`.
    pub(crate) fn user_ref(&self, name: &str, role: &str) -> Result<Option<Ref>> {
        let i = self
            .records
            .iter()
            .position(|(_, r)| matches!(&r.body, fos_prov::Body::UserAdded(u) if u.name == name));
        i.map(|i| self.reference(i as u64, role)).transpose()
    }

    /// The policy as a content reference.
    pub(crate) fn policy_ref(&self) -> Ref {
        Ref::content(self.policy_sha256, "policy", "policy")
    }
}

/// The acting user: `name`, authenticated with the password in `FOS_PASSWORD`.
pub(crate) fn authenticate(users: &UserStore, name: &str) -> Result<AuthenticatedUser> {
    let password = std::env::var(PASSWORD_ENV)
        .map_err(|_| anyhow!("set {PASSWORD_ENV} to the password of user {name} (--user {name})"))?;
    users.authenticate(name, &password).with_context(|| format!("cannot authenticate user {name}"))
}

/// The prov agent of an authenticated user.
pub(crate) fn person(user: &AuthenticatedUser) -> Agent {
    Agent::Person { name: user.name().to_owned(), role: user.role() }
}

/// The gate as an agent.
pub(crate) fn gate_agent() -> Agent {
    Agent::System { name: "gate".to_owned() }
}
