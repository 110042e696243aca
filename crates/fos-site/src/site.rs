//! [`Site`]: an open data directory, shared safely between threads and processes.
//!
//! **Concurrency.** The mutable parts (the ledger writer, the parsed records, the users, the gate's
//! working state) live behind one mutex, so operations of one process never interleave. Every operation
//! also holds the exclusive advisory lock on `DIR/gate/lock` while it runs, so operations of *other*
//! processes (`fos gate …` beside a running server) never interleave with it either. Under the lock an
//! operation first checks whether another process changed the site since this handle last looked (the
//! sizes and modification times of the ledger's files, `users.json`, `policy.toml` and the gate's
//! folder) and reloads everything if so; a handle never appends to a ledger it has not read to the end.
//!
//! **Order of effects.** An operation checks everything it can first (a refused operation appends
//! nothing), then appends its provenance records to the ledger ([`Inner::commit`]: one batch, durable and
//! under a signed checkpoint when it returns), then updates the gate's working state and returns its
//! report. The log's origin is `fos/<site>`, where `<site>` is the environment variable `FOS_SITE` when
//! the ledger is created (default `site`); it is read back from `ledger.pub` afterwards.

use std::fs;
use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use ed25519_dalek::{SigningKey, VerifyingKey};
use fos_gate::{AuthenticatedUser, GateState, Policy, UserStore};
use fos_ledger::Ledger;
use fos_prov::{hex, Agent, Record, Ref};

use crate::error::{Result, SiteError};
use crate::paths::{make_key, read_secret, sha256, site_public_key, write_secret, Paths};

/// An open site. See the module documentation. `Site` is `Send + Sync`; share it with an `Arc`.
pub struct Site {
    paths: Paths,
    lock_file: fs::File,
    inner: Mutex<Option<Inner>>,
    warnings: Mutex<Vec<String>>,
}

impl std::fmt::Debug for Site {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Site").field("data", &self.paths.data).finish_non_exhaustive()
    }
}

/// The loaded state of a site (under the handle's mutex and the file lock).
pub(crate) struct Inner {
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
    stamp: Stamp,
}

/// What a file looked like: length and modification time (`None`: absent).
type FileStamp = Option<(u64, Option<SystemTime>)>;

/// The files whose change by another process means the loaded state is stale.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp(Vec<FileStamp>);

impl Stamp {
    fn of(paths: &Paths) -> Stamp {
        let gate = paths.data.join(fos_gate::GATE_DIR);
        let files = [
            paths.ledger().join(fos_ledger::RECORDS_FILE),
            paths.ledger().join(fos_ledger::CHECKPOINTS_FILE),
            paths.data.join(fos_gate::USERS_FILE),
            paths.policy(),
            gate.join(fos_gate::STATE_FILE),
            gate.join(fos_gate::PROPOSALS_DIR),
        ];
        Stamp(files.iter().map(|p| fs::metadata(p).ok().map(|m| (m.len(), m.modified().ok()))).collect())
    }
}

/// The exclusive lock on `DIR/gate/lock`, released when dropped.
struct FileLock<'a>(&'a fs::File);

impl<'a> FileLock<'a> {
    fn acquire(file: &'a fs::File, paths: &Paths) -> Result<FileLock<'a>> {
        file.lock().map_err(|e| SiteError::io(format!("cannot lock {}", paths.lock().display()), e))?;
        Ok(FileLock(file))
    }
}

impl Drop for FileLock<'_> {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

impl Site {
    /// Opens the site in `data`; `create`: make its keys and ledger on first use (only the first admin
    /// creates a site). A directory that is not a site is [`SiteError::NotFound`] and is left untouched.
    pub fn open(data: &Path, create: bool) -> Result<Site> {
        let paths = Paths::new(data);
        if !create && !paths.ledger_key().exists() {
            return Err(SiteError::not_found(format!(
                "{} is not a FOS site (no {}); add its first admin with `fos users add NAME --role admin --data-dir {}`",
                data.display(),
                paths.ledger_key().display(),
                data.display()
            )));
        }
        let gate_dir = data.join(fos_gate::GATE_DIR);
        fs::create_dir_all(&gate_dir).map_err(|e| SiteError::io(format!("cannot create {}", gate_dir.display()), e))?;
        let lock_file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(paths.lock())
            .map_err(|e| SiteError::io(format!("cannot open {}", paths.lock().display()), e))?;
        let site = Site { paths: paths.clone(), lock_file, inner: Mutex::new(None), warnings: Mutex::new(Vec::new()) };
        {
            let _lock = FileLock::acquire(&site.lock_file, &paths)?;
            let (inner, warning) = Inner::load(&paths)?;
            if let Some(w) = warning {
                site.warn(w);
            }
            *site.slot() = Some(inner);
        }
        Ok(site)
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.paths.data
    }

    /// The layout of the data directory.
    pub fn paths(&self) -> &Paths {
        &self.paths
    }

    /// Warnings gathered since the last call (a ledger whose torn tail was recovered on open or reload).
    pub fn take_warnings(&self) -> Vec<String> {
        std::mem::take(&mut *self.warnings.lock().unwrap_or_else(PoisonError::into_inner))
    }

    fn warn(&self, w: String) {
        tracing::warn!(data = %self.paths.data.display(), "{w}");
        self.warnings.lock().unwrap_or_else(PoisonError::into_inner).push(w);
    }

    fn slot(&self) -> MutexGuard<'_, Option<Inner>> {
        // A panic inside an operation leaves the state unknown: drop it, the next operation reloads.
        match self.inner.lock() {
            Ok(g) => g,
            Err(poisoned) => {
                let mut g = poisoned.into_inner();
                *g = None;
                self.inner.clear_poison();
                g
            }
        }
    }

    /// Runs `f` on the loaded site, under the mutex and the file lock, after reloading whatever another
    /// process changed. Records staged by `f` but not committed are dropped.
    pub(crate) fn with<T>(&self, f: impl FnOnce(&mut Inner) -> Result<T>) -> Result<T> {
        let mut slot = self.slot();
        let _lock = FileLock::acquire(&self.lock_file, &self.paths)?;
        let stale = match slot.as_ref() {
            Some(inner) => inner.stamp != Stamp::of(&self.paths),
            None => true,
        };
        if stale {
            *slot = None;
            let (inner, warning) = Inner::load(&self.paths)?;
            if let Some(w) = warning {
                self.warn(w);
            }
            *slot = Some(inner);
        }
        let inner = slot.as_mut().ok_or_else(|| SiteError::internal_msg("the site is not loaded"))?;
        let out = f(inner);
        inner.staged.clear();
        inner.stamp = Stamp::of(&self.paths);
        out
    }

    /// Authenticates `name` with `password`: the user, able to sign as themselves, or
    /// [`SiteError::Unauthenticated`] (the same for an unknown name and a wrong password).
    pub fn authenticate(&self, name: &str, password: &str) -> Result<AuthenticatedUser> {
        self.with(|s| {
            s.users.authenticate(name, password).map_err(|e| match SiteError::from(e) {
                SiteError::Unauthenticated { reason } => {
                    SiteError::Unauthenticated { reason: format!("cannot authenticate user {name}: {reason}") }
                }
                other => other.context(format!("cannot authenticate user {name}")),
            })
        })
    }

    /// The gate's public key for driver write permits.
    pub fn gate_public_key(&self) -> Result<VerifyingKey> {
        self.with(|s| Ok(s.gate_key.verifying_key()))
    }

    /// The ledger's public key and origin.
    pub fn ledger_public_key(&self) -> Result<(String, VerifyingKey)> {
        site_public_key(&self.paths)
    }
}

impl Inner {
    /// Loads the site (keys made on first use); the second value is a warning about a recovered ledger.
    fn load(paths: &Paths) -> Result<(Inner, Option<String>)> {
        let (ledger_key, origin) = keys(paths)?;
        let gate_key = read_secret(&paths.gate_key())?;
        let (ledger, recovery) = Ledger::open(paths.ledger(), ledger_key, &origin)
            .map_err(|e| SiteError::internal(format!("cannot open the ledger in {}", paths.ledger().display()), e))?;
        let warning = (!recovery.is_clean()).then(|| format!("ledger {}: {recovery}", paths.ledger().display()));
        let mut records = Vec::new();
        for i in 0..ledger.len() {
            let bytes = ledger.get(i)?;
            let record = Record::from_bytes(&bytes).map_err(|e| {
                SiteError::internal(format!("ledger record {i} is not a provenance record; run `fos audit verify`"), e)
            })?;
            records.push((ledger.leaf_hash(i)?, record));
        }
        let (policy, _) = Policy::load_or_init(paths.policy())
            .map_err(|e| SiteError::internal(format!("cannot load {}", paths.policy().display()), e))?;
        let policy_text =
            fs::read(paths.policy()).map_err(|e| SiteError::io(format!("cannot read {}", paths.policy().display()), e))?;
        let users = UserStore::open(&paths.data)?;
        let gate = GateState::open(&paths.data, policy.clone())?;
        let inner = Inner {
            policy_sha256: sha256(&policy_text),
            paths: paths.clone(),
            ledger,
            records,
            policy,
            users,
            gate,
            gate_key,
            staged: Vec::new(),
            stamp: Stamp::of(paths),
        };
        Ok((inner, warning))
    }

    /// The gate's permit verifying key.
    pub(crate) fn gate_public_key(&self) -> VerifyingKey {
        self.gate_key.verifying_key()
    }

    /// The gate's permit signing key.
    pub(crate) fn gate_key(&self) -> &SigningKey {
        &self.gate_key
    }

    /// Stages a record for the next [`Inner::commit`]; returns the index and leaf hash it will have.
    pub(crate) fn stage(&mut self, record: &Record) -> Result<(u64, [u8; 32])> {
        let bytes = record.to_bytes().map_err(|e| SiteError::internal(format!("cannot encode the {} record", record.kind()), e))?;
        let index = self.ledger.len() + self.staged.len() as u64;
        let leaf = fos_ledger::leaf_hash(&bytes);
        self.staged.push(bytes);
        Ok((index, leaf))
    }

    /// Appends the staged records as one durable batch under a new signed checkpoint.
    pub(crate) fn commit(&mut self) -> Result<Vec<fos_ledger::Receipt>> {
        let staged = std::mem::take(&mut self.staged);
        let receipts = self
            .ledger
            .append_batch(&staged)
            .map_err(|e| SiteError::internal("cannot append to the ledger; nothing was changed", e))?;
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

    /// Checks that an authenticated user is still a user of this site with the same key (a session may
    /// outlive a change of `users.json`).
    pub(crate) fn check_actor(&self, user: &AuthenticatedUser) -> Result<()> {
        if self.users.public_key(user.name()) != Some(user.public_key()) {
            return Err(SiteError::forbidden(format!(
                "{} is not a user of this site (or their key changed); log in again",
                user.name()
            )));
        }
        Ok(())
    }
}

/// Loads the ledger key (making all keys on first use) and the origin.
fn keys(paths: &Paths) -> Result<(SigningKey, String)> {
    let keys = paths.keys();
    if !paths.ledger_key().exists() {
        if paths.ledger().join(fos_ledger::RECORDS_FILE).exists() {
            return Err(SiteError::internal_msg(format!(
                "{} exists but its signing key {} is missing; restore the key from a backup (a new key cannot sign this ledger)",
                paths.ledger().display(),
                paths.ledger_key().display()
            )));
        }
        let site = std::env::var("FOS_SITE").unwrap_or_else(|_| "site".to_owned());
        let origin = format!("fos/{site}");
        fos_ledger::checkpoint::validate_origin(&origin).map_err(|e| SiteError::bad_request(format!("FOS_SITE={site:?}: {e}")))?;
        fs::create_dir_all(&keys).map_err(|e| SiteError::io(format!("cannot create {}", keys.display()), e))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&keys, fs::Permissions::from_mode(0o700))
                .map_err(|e| SiteError::io(format!("cannot restrict {}", keys.display()), e))?;
        }
        let key = make_key()?;
        if !paths.gate_key().exists() {
            let gate = make_key()?;
            write_secret(&paths.gate_key(), &format!("{}\n", hex(&gate.to_bytes())))?;
            fs::write(paths.gate_pub(), format!("{}\n", hex(gate.verifying_key().as_bytes())))
                .map_err(|e| SiteError::io(format!("cannot write {}", paths.gate_pub().display()), e))?;
        }
        let public = key.verifying_key();
        let pub_text = format!("{}\n{}\n", fos_ledger::checkpoint::verifier_key(&origin, &public), hex(public.as_bytes()));
        fs::write(paths.ledger_pub(), pub_text)
            .map_err(|e| SiteError::io(format!("cannot write {}", paths.ledger_pub().display()), e))?;
        write_secret(&paths.ledger_key(), &format!("{}\n", hex(&key.to_bytes())))?;
    }
    let key = read_secret(&paths.ledger_key())?;
    let (origin, public) = site_public_key(paths)?;
    if public != key.verifying_key() {
        return Err(SiteError::internal_msg(format!(
            "{} does not hold the public key of {}",
            paths.ledger_pub().display(),
            paths.ledger_key().display()
        )));
    }
    Ok((key, origin))
}

/// The prov agent of an authenticated user.
pub(crate) fn person(user: &AuthenticatedUser) -> Agent {
    Agent::Person { name: user.name().to_owned(), role: user.role() }
}

/// The gate as an agent.
pub(crate) fn gate_agent() -> Agent {
    Agent::System { name: "gate".to_owned() }
}
