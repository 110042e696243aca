//! People: users with roles, argon2id password hashes and per-user Ed25519 signing keys (`users.json`).
//!
//! Every action on a proposal is attributed to a user, and every approval, rejection and reversal is
//! signed with that user's own key. A user's private key is stored only encrypted under a key derived
//! from their password, so only someone who knows the password can sign as them, and a copy of
//! `users.json` alone lets nobody sign.
//!
//! ```text
//! DIR/users.json (written atomically, mode 0600 on Unix):
//! { "version": 1,
//!   "users": [ { "name": "ann",                      1–64 characters [a-z0-9._-], unique
//!                "role": "admin",                    operator | approver | engineer | auditor | admin
//!                "password_hash": "$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>",   PHC string
//!                "public_key": "<64 hex>",           Ed25519 verifying key
//!                "secret_key": { "kdf": "argon2id", "m_cost_kib": 19456, "t_cost": 2, "p_cost": 1,
//!                                "salt": "<32 hex>", "nonce": "<48 hex>",
//!                                "ciphertext": "<96 hex>" },   XChaCha20-Poly1305(32-byte seed) ‖ tag
//!                "created_at": 1767225600,           Unix seconds
//!                "created_by": null } ] }            the admin who added the user; null for the first
//! ```
//!
//! - The password hash and the key-encryption key are both argon2id of the password, each with its own
//!   random 16-byte salt, with the parameters recorded beside them, so files written with cheap test
//!   parameters and files written with [`KdfParams::default`] both verify.
//! - The ciphertext's associated data is `"fos-gate user key v1\n" ‖ name ‖ "\n" ‖ public key`, so a
//!   sealed key moved to another user, or paired with another public key, does not open.
//! - [`UserStore::authenticate`] answers "invalid user name or password" for an unknown user and for a
//!   wrong password alike, and spends about the same time on both.
//! - The first user must be an admin and is added with no acting user; after that only an authenticated
//!   admin of this store adds users. Several processes adding users at the same moment are not
//!   coordinated: the last to write wins (the store re-reads the file just before each change).
//! - Secrets never appear in `Debug` output or errors: [`AuthenticatedUser`] prints `<redacted>` for its
//!   key, passwords are never stored, and derived keys and decrypted seeds are wiped after use.

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::hex;
use crate::store::write_atomic;

/// The file a [`UserStore`] keeps in its folder.
pub const USERS_FILE: &str = "users.json";

const FORMAT_VERSION: u32 = 1;
const KEY_AD: &[u8] = b"fos-gate user key v1\n";
const SALT_LEN: usize = 16;
const MIN_PASSWORD: usize = 8;
const MAX_PASSWORD: usize = 1024;
const INVALID_CREDENTIALS: &str = "invalid user name or password";

/// What a user may do. See [`crate::Policy`] for who approves what.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Runs the line: proposes changes and may stop the gate; never approves.
    Operator,
    /// Approves ordinary changes beyond the tolerance.
    Approver,
    /// Approves ordinary and safety-critical changes.
    Engineer,
    /// Reads everything, changes nothing.
    Auditor,
    /// Manages users; approves nothing by default.
    Admin,
}

impl Role {
    /// Every role, in order of the file format's documentation.
    pub const ALL: [Role; 5] = [Role::Operator, Role::Approver, Role::Engineer, Role::Auditor, Role::Admin];

    /// The name used in files and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Operator => "operator",
            Role::Approver => "approver",
            Role::Engineer => "engineer",
            Role::Auditor => "auditor",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A role name that is not one of [`Role::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role {given:?}; the roles are operator, approver, engineer, auditor, admin")]
pub struct UnknownRole {
    /// What was given.
    pub given: String,
}

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(s: &str) -> Result<Role, UnknownRole> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownRole { given: s.to_owned() })
    }
}

/// Argon2id cost parameters, for new password hashes and key encryptions (existing entries keep theirs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KdfParams {
    /// Memory, KiB (at least 8 × `p_cost`).
    pub m_cost_kib: u32,
    /// Passes.
    pub t_cost: u32,
    /// Lanes.
    pub p_cost: u32,
}

impl Default for KdfParams {
    /// OWASP's argon2id recommendation (19 MiB, 2 passes, 1 lane): tens of milliseconds per login.
    fn default() -> KdfParams {
        KdfParams { m_cost_kib: 19_456, t_cost: 2, p_cost: 1 }
    }
}

impl KdfParams {
    /// The cheapest parameters argon2 accepts (8 KiB, 1 pass): for tests only, never for real users.
    pub fn fast_insecure() -> KdfParams {
        KdfParams { m_cost_kib: 8, t_cost: 1, p_cost: 1 }
    }

    fn argon2(self) -> Result<Argon2<'static>, String> {
        let params = Params::new(self.m_cost_kib, self.t_cost, self.p_cost, Some(32)).map_err(|e| e.to_string())?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
    }
}

/// What the rest of the gate needs to know of a user: their role and public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInfo {
    /// User name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Ed25519 verifying key of their signatures.
    pub public_key: VerifyingKey,
}

/// Where the state machine looks users up (a [`UserStore`], or a list in tests).
pub trait Directory {
    /// The user called `name`, if any.
    fn lookup(&self, name: &str) -> Option<UserInfo>;
}

impl Directory for Vec<UserInfo> {
    fn lookup(&self, name: &str) -> Option<UserInfo> {
        self.iter().find(|u| u.name == name).cloned()
    }
}

/// A user who proved their password: can sign as themselves. Only [`UserStore::authenticate`] makes one.
pub struct AuthenticatedUser {
    name: String,
    role: Role,
    key: SigningKey,
}

impl AuthenticatedUser {
    /// User name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Role at the time of authentication.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Their public key.
    pub fn public_key(&self) -> VerifyingKey {
        self.key.verifying_key()
    }

    /// Signs `msg` with their key.
    pub fn sign(&self, msg: &[u8]) -> Signature {
        self.key.sign(msg)
    }
}

impl fmt::Debug for AuthenticatedUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthenticatedUser")
            .field("name", &self.name)
            .field("role", &self.role)
            .field("key", &"<redacted>")
            .finish()
    }
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SealedKey {
    kdf: String,
    m_cost_kib: u32,
    t_cost: u32,
    p_cost: u32,
    #[serde(with = "hex::vec")]
    salt: Vec<u8>,
    #[serde(with = "hex::array24")]
    nonce: [u8; 24],
    #[serde(with = "hex::vec")]
    ciphertext: Vec<u8>,
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct UserRecord {
    name: String,
    role: Role,
    password_hash: String,
    #[serde(with = "hex::array32")]
    public_key: [u8; 32],
    secret_key: SealedKey,
    created_at: u64,
    created_by: Option<String>,
}

impl fmt::Debug for UserRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserRecord")
            .field("name", &self.name)
            .field("role", &self.role)
            .field("public_key", &hex::encode(&self.public_key))
            .field("password_hash", &"<redacted>")
            .field("secret_key", &"<redacted>")
            .finish()
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct UsersFile {
    version: u32,
    users: Vec<UserRecord>,
}

/// The users of one site, in `DIR/users.json`. See the module documentation.
#[derive(Debug)]
pub struct UserStore {
    path: PathBuf,
    params: KdfParams,
    users: BTreeMap<String, UserRecord>,
}

impl UserStore {
    /// Opens the store in `dir` (an absent file is an empty store) with [`KdfParams::default`].
    pub fn open(dir: impl AsRef<Path>) -> Result<UserStore, UserError> {
        UserStore::open_with(dir, KdfParams::default())
    }

    /// Opens the store with the given parameters for new hashes.
    pub fn open_with(dir: impl AsRef<Path>, params: KdfParams) -> Result<UserStore, UserError> {
        params.argon2().map_err(|problem| UserError::Params { problem })?;
        let mut store = UserStore { path: dir.as_ref().join(USERS_FILE), params, users: BTreeMap::new() };
        store.reload()?;
        Ok(store)
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Re-reads the file.
    pub fn reload(&mut self) -> Result<(), UserError> {
        let text = match fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                self.users.clear();
                return Ok(());
            }
            Err(source) => return Err(UserError::Io { path: self.path.clone(), source }),
        };
        let corrupt = |problem: String| UserError::Corrupt { path: self.path.clone(), problem };
        let file: UsersFile = serde_json::from_str(&text).map_err(|e| corrupt(e.to_string()))?;
        if file.version != FORMAT_VERSION {
            return Err(corrupt(format!("version {} is not {FORMAT_VERSION}; upgrade FOS", file.version)));
        }
        let mut users = BTreeMap::new();
        for u in file.users {
            validate_name(&u.name).map_err(|problem| corrupt(format!("user name {:?} {problem}", u.name)))?;
            VerifyingKey::from_bytes(&u.public_key)
                .map_err(|_| corrupt(format!("user {}: public_key is not a valid Ed25519 key", u.name)))?;
            let name = u.name.clone();
            if users.insert(name.clone(), u).is_some() {
                return Err(corrupt(format!("user {name} appears twice")));
            }
        }
        self.users = users;
        Ok(())
    }

    /// Whether the store has no users yet (the next one must be an admin added with `acting = None`).
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// Every user, by name.
    pub fn users(&self) -> Vec<UserInfo> {
        self.users.values().filter_map(info).collect()
    }

    /// The public key of `name`.
    pub fn public_key(&self, name: &str) -> Option<VerifyingKey> {
        self.users.get(name).and_then(|u| VerifyingKey::from_bytes(&u.public_key).ok())
    }

    /// Adds a user with a fresh signing key. The first user must be an admin, added with `acting = None`;
    /// every later one is added by an authenticated admin of this store.
    pub fn add_user(
        &mut self,
        name: &str,
        role: Role,
        password: &str,
        acting: Option<&AuthenticatedUser>,
    ) -> Result<UserInfo, UserError> {
        validate_name(name).map_err(|problem| UserError::InvalidName { name: name.to_owned(), problem })?;
        let chars = password.chars().count();
        if chars < MIN_PASSWORD || password.len() > MAX_PASSWORD {
            return Err(UserError::WeakPassword {
                name: name.to_owned(),
                problem: format!(
                    "must have at least {MIN_PASSWORD} characters and at most {MAX_PASSWORD} bytes; it has {chars} \
                     characters in {} bytes",
                    password.len()
                ),
            });
        }
        self.reload()?;
        let created_by = match acting {
            None if self.users.is_empty() => {
                if role != Role::Admin {
                    return Err(UserError::FirstUserMustBeAdmin { name: name.to_owned(), role });
                }
                None
            }
            None => return Err(UserError::AdminRequired { name: name.to_owned() }),
            Some(admin) => {
                let current = self.users.get(&admin.name).filter(|u| u.public_key == admin.public_key().to_bytes());
                match current {
                    Some(u) if u.role == Role::Admin => Some(admin.name.clone()),
                    Some(u) => return Err(UserError::NotAdmin { acting: admin.name.clone(), role: u.role }),
                    None => return Err(UserError::UnknownActing { acting: admin.name.clone() }),
                }
            }
        };
        if self.users.contains_key(name) {
            return Err(UserError::Duplicate { name: name.to_owned() });
        }
        let mut seed = Zeroizing::new([0u8; 32]);
        random(&mut seed[..])?;
        let key = SigningKey::from_bytes(&seed);
        let public_key = key.verifying_key().to_bytes();
        let argon2 = self.params.argon2().map_err(|problem| UserError::Params { problem })?;
        let mut salt = [0u8; SALT_LEN];
        random(&mut salt)?;
        let salt = SaltString::encode_b64(&salt).map_err(|e| UserError::Crypto { problem: e.to_string() })?;
        let password_hash = argon2
            .hash_password(password.as_bytes(), &salt)
            .map_err(|e| UserError::Crypto { problem: e.to_string() })?
            .to_string();
        let secret_key = seal(self.params, name, &public_key, password, &seed)?;
        let record = UserRecord {
            name: name.to_owned(),
            role,
            password_hash,
            public_key,
            secret_key,
            created_at: SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0),
            created_by,
        };
        let user = info(&record).ok_or_else(|| UserError::Crypto { problem: "fresh key is invalid".to_owned() })?;
        self.users.insert(name.to_owned(), record);
        if let Err(e) = self.save() {
            self.users.remove(name);
            return Err(e);
        }
        Ok(user)
    }

    /// Checks `password` and unlocks the user's signing key. Unknown user and wrong password give the
    /// same error ([`UserError::InvalidCredentials`]).
    pub fn authenticate(&self, name: &str, password: &str) -> Result<AuthenticatedUser, UserError> {
        let Some(record) = self.users.get(name) else {
            // Spend the time a password check would, so that timing does not tell which names exist.
            if let Ok(argon2) = self.params.argon2() {
                let mut sink = Zeroizing::new([0u8; 32]);
                let _ = argon2.hash_password_into(password.as_bytes(), b"fos-gate no such user", &mut sink[..]);
            }
            return Err(UserError::InvalidCredentials);
        };
        let hash = PasswordHash::new(&record.password_hash).map_err(|e| UserError::Corrupt {
            path: self.path.clone(),
            problem: format!("user {name}: password_hash is not a PHC string: {e}"),
        })?;
        if Argon2::default().verify_password(password.as_bytes(), &hash).is_err() {
            return Err(UserError::InvalidCredentials);
        }
        let seed = unseal(&record.secret_key, name, &record.public_key, password)
            .map_err(|problem| UserError::Corrupt { path: self.path.clone(), problem: format!("user {name}: {problem}") })?;
        let key = SigningKey::from_bytes(&seed);
        if key.verifying_key().to_bytes() != record.public_key {
            return Err(UserError::Corrupt {
                path: self.path.clone(),
                problem: format!("user {name}: the private key does not match public_key"),
            });
        }
        Ok(AuthenticatedUser { name: name.to_owned(), role: record.role, key })
    }

    fn save(&self) -> Result<(), UserError> {
        let file = UsersFile { version: FORMAT_VERSION, users: self.users.values().cloned().collect() };
        let mut text = serde_json::to_vec_pretty(&file)
            .map_err(|e| UserError::Corrupt { path: self.path.clone(), problem: e.to_string() })?;
        text.push(b'\n');
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir).map_err(|source| UserError::Io { path: dir.to_path_buf(), source })?;
        }
        write_atomic(&self.path, &text, true).map_err(|source| UserError::Io { path: self.path.clone(), source })
    }
}

impl Directory for UserStore {
    fn lookup(&self, name: &str) -> Option<UserInfo> {
        self.users.get(name).and_then(info)
    }
}

fn info(u: &UserRecord) -> Option<UserInfo> {
    let public_key = VerifyingKey::from_bytes(&u.public_key).ok()?;
    Some(UserInfo { name: u.name.clone(), role: u.role, public_key })
}

/// Checks a user name: 1–64 characters `[a-z0-9._-]`.
pub fn validate_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 64 {
        return Err(format!("must be 1 to 64 characters long, not {}", name.chars().count()));
    }
    if let Some(c) = name.chars().find(|c| !matches!(c, 'a'..='z' | '0'..='9' | '.' | '_' | '-')) {
        return Err(format!("contains {c:?}; use only a-z, 0-9, '.', '_' and '-'"));
    }
    Ok(())
}

fn random(buf: &mut [u8]) -> Result<(), UserError> {
    getrandom::fill(buf).map_err(|e| UserError::Crypto { problem: format!("the system's random generator: {e}") })
}

fn key_ad(name: &str, public_key: &[u8; 32]) -> Vec<u8> {
    let mut ad = KEY_AD.to_vec();
    ad.extend_from_slice(name.as_bytes());
    ad.push(b'\n');
    ad.extend_from_slice(public_key);
    ad
}

fn derive(params: KdfParams, password: &str, salt: &[u8]) -> Result<Zeroizing<[u8; 32]>, String> {
    let mut kek = Zeroizing::new([0u8; 32]);
    params.argon2()?.hash_password_into(password.as_bytes(), salt, &mut kek[..]).map_err(|e| e.to_string())?;
    Ok(kek)
}

fn seal(
    params: KdfParams,
    name: &str,
    public_key: &[u8; 32],
    password: &str,
    seed: &[u8; 32],
) -> Result<SealedKey, UserError> {
    let mut salt = vec![0u8; SALT_LEN];
    random(&mut salt)?;
    let mut nonce = [0u8; 24];
    random(&mut nonce)?;
    let kek = derive(params, password, &salt).map_err(|problem| UserError::Crypto { problem })?;
    let cipher = XChaCha20Poly1305::new(kek.as_ref().into());
    let ciphertext = cipher
        .encrypt(XNonce::from_slice(&nonce), Payload { msg: seed, aad: &key_ad(name, public_key) })
        .map_err(|_| UserError::Crypto { problem: "encrypting the signing key failed".to_owned() })?;
    Ok(SealedKey {
        kdf: "argon2id".to_owned(),
        m_cost_kib: params.m_cost_kib,
        t_cost: params.t_cost,
        p_cost: params.p_cost,
        salt,
        nonce,
        ciphertext,
    })
}

fn unseal(sealed: &SealedKey, name: &str, public_key: &[u8; 32], password: &str) -> Result<Zeroizing<[u8; 32]>, String> {
    if sealed.kdf != "argon2id" {
        return Err(format!("secret_key.kdf {:?} is not argon2id", sealed.kdf));
    }
    let params = KdfParams { m_cost_kib: sealed.m_cost_kib, t_cost: sealed.t_cost, p_cost: sealed.p_cost };
    let kek = derive(params, password, &sealed.salt).map_err(|e| format!("secret_key parameters: {e}"))?;
    let cipher = XChaCha20Poly1305::new(kek.as_ref().into());
    let plain = Zeroizing::new(
        cipher
            .decrypt(XNonce::from_slice(&sealed.nonce), Payload { msg: &sealed.ciphertext, aad: &key_ad(name, public_key) })
            .map_err(|_| "the sealed private key does not open with this password (altered or moved)".to_owned())?,
    );
    let mut seed = Zeroizing::new([0u8; 32]);
    if plain.len() != seed.len() {
        return Err(format!("the sealed private key holds {} bytes, not 32", plain.len()));
    }
    seed.copy_from_slice(&plain);
    Ok(seed)
}

/// What the user store can refuse or fail at.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UserError {
    /// Reading or writing the file failed.
    #[error("{path}: {source}; check that the folder exists and is writable by this user")]
    Io {
        /// File or folder.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// The file is damaged or of another version.
    #[error("{path}: damaged user store: {problem}; restore it from a backup")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// A user name that breaks the naming rule.
    #[error("user name {name:?} {problem}")]
    InvalidName {
        /// The name.
        name: String,
        /// What is wrong.
        problem: String,
    },
    /// A password too short or too long.
    #[error("password for user {name} {problem}")]
    WeakPassword {
        /// The user.
        name: String,
        /// What is wrong.
        problem: String,
    },
    /// A name already taken.
    #[error("user {name} already exists; choose another name")]
    Duplicate {
        /// The name.
        name: String,
    },
    /// The first user was not an admin.
    #[error("the first user ({name}) must be an admin, not {role}; add an admin first, then other users as that admin")]
    FirstUserMustBeAdmin {
        /// The name.
        name: String,
        /// The role asked for.
        role: Role,
    },
    /// A later user was added without an acting admin.
    #[error("adding user {name} needs an authenticated admin; log in as an admin first")]
    AdminRequired {
        /// The name.
        name: String,
    },
    /// The acting user is not an admin.
    #[error("user {acting} is {role}, not admin; only admins add users")]
    NotAdmin {
        /// The acting user.
        acting: String,
        /// Their role.
        role: Role,
    },
    /// The acting user is not (or no longer) in this store with that key.
    #[error("acting user {acting} is not a user of this store (or their key changed); log in again")]
    UnknownActing {
        /// The acting user.
        acting: String,
    },
    /// Unknown user or wrong password (deliberately the same error).
    #[error("{}", INVALID_CREDENTIALS)]
    InvalidCredentials,
    /// Argon2 parameters that argon2 refuses.
    #[error("invalid argon2 parameters: {problem}")]
    Params {
        /// What argon2 said.
        problem: String,
    },
    /// The random generator or a cipher failed.
    #[error("cryptography failed: {problem}")]
    Crypto {
        /// What failed.
        problem: String,
    },
}

#[cfg(test)]
mod tests;
