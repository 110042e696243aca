//! Offline inclusion proofs: an [`InclusionBundle`] carries a record, its index, a signed checkpoint, the
//! inclusion proof and the log's public key, as JSON, so a third party can check with nothing else that the
//! record is in the log the key signs for (`fos audit prove ID` emits one).
//!
//! ```json
//! {
//!   "format": "fos-ledger-inclusion/v1",
//!   "index": 41,
//!   "record": "<standard base64 of the record bytes>",
//!   "checkpoint": "fos/plant-7\n1042\n<root>\ntimestamp-ms 1767225600000\n\n— fos/plant-7 <sig>\n",
//!   "proof": ["<base64 hash>", "..."],
//!   "verifier_key": "fos/plant-7+1a2b3c4d+AQ<base64 of 0x01 ‖ Ed25519 public key>"
//! }
//! ```
//!
//! [`InclusionBundle::verify`] checks the bundle against the key it carries, which proves only that
//! *someone* holding that key logged the record: compare the returned [`VerifiedInclusion::verifier_key`]
//! with the key you trust for the site, or call [`InclusionBundle::verify_with_key`] with it.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Serialize};

use crate::checkpoint::{parse_verifier_key, verifier_key, CheckpointError, SignedCheckpoint};
use crate::merkle::{leaf_hash, verify_inclusion, Hash, ProofError};

/// The `format` of the bundles this version writes and reads.
pub const INCLUSION_BUNDLE_FORMAT: &str = "fos-ledger-inclusion/v1";

/// Why a bundle does not verify.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BundleError {
    /// Not JSON of the bundle's shape.
    #[error("not an inclusion bundle: {0}")]
    Json(#[from] serde_json::Error),
    /// Another `format` than [`INCLUSION_BUNDLE_FORMAT`].
    #[error("unsupported bundle format {0:?}, expected {INCLUSION_BUNDLE_FORMAT:?}")]
    Format(String),
    /// A base64 field does not decode.
    #[error("field {field} is not standard base64: {reason}")]
    Base64 {
        /// The field (`record`, `proof[3]`).
        field: String,
        /// The decoder's complaint.
        reason: String,
    },
    /// The verifier key, the checkpoint text or its signature.
    #[error("checkpoint: {0}")]
    Checkpoint(#[from] CheckpointError),
    /// The key in the bundle is not the trusted one.
    #[error("the bundle's verifier key {found:?} is not the trusted key {trusted:?}")]
    UntrustedKey {
        /// The bundle's key.
        found: String,
        /// The key given to [`InclusionBundle::verify_with_key`].
        trusted: String,
    },
    /// The key's name is not the checkpoint's origin.
    #[error("the verifier key is named {key_name:?} but the checkpoint's origin is {origin:?}")]
    OriginMismatch {
        /// Name in the verifier key.
        key_name: String,
        /// Origin in the checkpoint.
        origin: String,
    },
    /// The proof does not lead from the record to the checkpoint's root.
    #[error("record {index} is not proven in the tree of size {size}: {source}")]
    Proof {
        /// The claimed index.
        index: u64,
        /// The checkpoint's size.
        size: u64,
        /// Why.
        source: ProofError,
    },
}

/// A self-contained, JSON-serializable proof that a record is in a FOS ledger (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InclusionBundle {
    /// Always [`INCLUSION_BUNDLE_FORMAT`].
    pub format: String,
    /// The record's index in the log.
    pub index: u64,
    /// The record's bytes, standard base64.
    pub record: String,
    /// The signed checkpoint note (C2SP tlog-checkpoint in a signed note).
    pub checkpoint: String,
    /// The RFC 9162 inclusion proof, leaf to root, each hash standard base64.
    pub proof: Vec<String>,
    /// The signed-note verifier key of the log, `name+keyid+base64(0x01 ‖ Ed25519 key)`.
    pub verifier_key: String,
}

/// What a verified bundle proves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedInclusion {
    /// The log's origin.
    pub origin: String,
    /// The record's index.
    pub index: u64,
    /// The record.
    pub record: Vec<u8>,
    /// Size of the tree the checkpoint commits.
    pub tree_size: u64,
    /// Its root.
    pub root: Hash,
    /// When the checkpoint was signed, Unix milliseconds.
    pub timestamp_ms: u64,
    /// The key that signed it, as a verifier key string: compare it with the key you trust.
    pub verifier_key: String,
}

fn b64(field: impl Into<String>, s: &str) -> Result<Vec<u8>, BundleError> {
    B64.decode(s).map_err(|e| BundleError::Base64 { field: field.into(), reason: e.to_string() })
}

impl InclusionBundle {
    /// Assembles a bundle (use [`crate::Ledger::inclusion_bundle`]).
    pub fn new(index: u64, record: &[u8], checkpoint: &SignedCheckpoint, proof: &[Hash], key: &VerifyingKey) -> Self {
        Self {
            format: INCLUSION_BUNDLE_FORMAT.to_owned(),
            index,
            record: B64.encode(record),
            checkpoint: checkpoint.text().to_owned(),
            proof: proof.iter().map(|h| B64.encode(h)).collect(),
            verifier_key: verifier_key(checkpoint.origin(), key),
        }
    }

    /// The bundle as pretty-printed JSON.
    pub fn to_json(&self) -> String {
        // A struct of strings and integers always serializes.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Parses a bundle from JSON (unknown fields are refused). Nothing is verified yet.
    pub fn from_json(json: &str) -> Result<Self, BundleError> {
        Ok(serde_json::from_str(json)?)
    }

    /// Verifies the bundle against the key it carries: signature, origin, and inclusion of the record at
    /// its index under the checkpoint's root. Trust the result only as far as you trust
    /// [`VerifiedInclusion::verifier_key`].
    pub fn verify(&self) -> Result<VerifiedInclusion, BundleError> {
        if self.format != INCLUSION_BUNDLE_FORMAT {
            return Err(BundleError::Format(self.format.clone()));
        }
        let (key_name, key) = parse_verifier_key(&self.verifier_key)?;
        let cp = SignedCheckpoint::verify_text(&self.checkpoint, &key)?;
        if key_name != cp.origin() {
            return Err(BundleError::OriginMismatch { key_name, origin: cp.origin().to_owned() });
        }
        let record = b64("record", &self.record)?;
        let proof =
            self.proof.iter().enumerate().map(|(i, p)| b64(format!("proof[{i}]"), p)).collect::<Result<Vec<_>, _>>()?;
        verify_inclusion(self.index, cp.size(), &leaf_hash(&record), &proof, cp.root())
            .map_err(|source| BundleError::Proof { index: self.index, size: cp.size(), source })?;
        Ok(VerifiedInclusion {
            origin: cp.origin().to_owned(),
            index: self.index,
            record,
            tree_size: cp.size(),
            root: *cp.root(),
            timestamp_ms: cp.timestamp_ms(),
            verifier_key: self.verifier_key.clone(),
        })
    }

    /// [`Self::verify`], and checks that the bundle's key is `trusted`.
    pub fn verify_with_key(&self, trusted: &VerifyingKey) -> Result<VerifiedInclusion, BundleError> {
        let (name, key) = parse_verifier_key(&self.verifier_key)?;
        if &key != trusted {
            return Err(BundleError::UntrustedKey {
                found: self.verifier_key.clone(),
                trusted: verifier_key(&name, trusted),
            });
        }
        self.verify()
    }
}
