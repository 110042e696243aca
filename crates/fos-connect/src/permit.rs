//! Write permits: the capability the safety gate issues for one write.
//!
//! A permit names the device, the address, the exact value and an expiry, and is signed with the
//! gate's Ed25519 key. A [`crate::Connection`] writes only when it was opened with the gate's
//! verifying key ([`crate::WriteAccess::Gate`]) *and* is handed a permit that verifies for that
//! device, address and value, is unexpired, and has not been used before on this connection.
//! A connection opened read-only (the default) refuses every write before any byte is sent.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::error::ConnectError;
use crate::value::Value;

const DOMAIN: &[u8] = b"fos-write-permit-v1\n";

/// One approved write. See the module documentation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WritePermit {
    /// Unique id (the gate's proposal id); a connection accepts each id once.
    pub id: String,
    /// The device endpoint, `scheme://host:port`.
    pub device: String,
    pub address: String,
    pub value: Value,
    /// Unix seconds after which the permit is void.
    pub not_after: u64,
    /// Who approved it (for the record; the signature is what counts).
    #[serde(default)]
    pub approved_by: Vec<String>,
    /// Ed25519 signature over the other fields, hex.
    pub signature: String,
}

#[derive(Serialize)]
struct Signed<'a> {
    id: &'a str,
    device: &'a str,
    address: &'a str,
    value: &'a Value,
    not_after: u64,
    approved_by: &'a [String],
}

impl WritePermit {
    fn signed_bytes(&self) -> Vec<u8> {
        let body = Signed {
            id: &self.id,
            device: &self.device,
            address: &self.address,
            value: &self.value,
            not_after: self.not_after,
            approved_by: &self.approved_by,
        };
        let mut out = DOMAIN.to_vec();
        out.extend(serde_json::to_vec(&body).unwrap_or_default());
        out
    }

    /// Issue a permit (the gate's side).
    pub fn issue(
        key: &SigningKey,
        id: impl Into<String>,
        device: impl Into<String>,
        address: impl Into<String>,
        value: Value,
        valid_for: Duration,
        approved_by: Vec<String>,
    ) -> WritePermit {
        let not_after = (SystemTime::now() + valid_for).duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        let mut p = WritePermit {
            id: id.into(),
            device: device.into(),
            address: address.into(),
            value,
            not_after,
            approved_by,
            signature: String::new(),
        };
        p.signature = hex(&key.sign(&p.signed_bytes()).to_bytes());
        p
    }

    /// Check the permit for a write of `address` on `device` now (the driver's side).
    pub fn verify(&self, key: &VerifyingKey, device: &str, now: SystemTime) -> Result<(), ConnectError> {
        let bad = |m: String| Err(ConnectError::Permit(format!("permit {:?}: {m}", self.id)));
        if self.device != device {
            return bad(format!("issued for {}, not {device}", self.device));
        }
        let now_s = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        if now_s > self.not_after {
            return bad(format!("expired {} s ago", now_s - self.not_after));
        }
        let sig = unhex(&self.signature)
            .and_then(|b| <[u8; 64]>::try_from(b.as_slice()).ok())
            .map(|b| Signature::from_bytes(&b));
        let Some(sig) = sig else { return bad("signature is not 64 hex-encoded bytes".into()) };
        if key.verify(&self.signed_bytes(), &sig).is_err() {
            return bad("signature does not verify with the gate's key (altered, or signed by another key)".into());
        }
        Ok(())
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok())).collect()
}

/// Parse a hex-encoded 32-byte Ed25519 public key (the gate's), as found in config files.
pub fn parse_verifying_key(hex_key: &str) -> Result<VerifyingKey, ConnectError> {
    let b = unhex(hex_key.trim())
        .and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok())
        .ok_or_else(|| ConnectError::Permit("gate key must be 32 bytes in hex (64 characters)".into()))?;
    VerifyingKey::from_bytes(&b).map_err(|e| ConnectError::Permit(format!("gate key is not a valid Ed25519 key: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[7u8; 32])
    }

    #[test]
    fn a_permit_verifies_only_for_its_device_value_and_time() {
        let k = key();
        let p = WritePermit::issue(&k, "p1", "modbus://h:1", "hr:3", Value::Int(5), Duration::from_secs(60), vec![]);
        let vk = k.verifying_key();
        p.verify(&vk, "modbus://h:1", SystemTime::now()).unwrap();
        assert!(p.verify(&vk, "modbus://h:2", SystemTime::now()).is_err());
        let late = SystemTime::now() + Duration::from_secs(120);
        assert!(p.verify(&vk, "modbus://h:1", late).unwrap_err().to_string().contains("expired"));
        let mut forged = p.clone();
        forged.value = Value::Int(500);
        assert!(forged
            .verify(&vk, "modbus://h:1", SystemTime::now())
            .unwrap_err()
            .to_string()
            .contains("does not verify"));
        let other = SigningKey::from_bytes(&[8u8; 32]).verifying_key();
        assert!(p.verify(&other, "modbus://h:1", SystemTime::now()).is_err());
        let hexkey = hex(vk.as_bytes());
        assert_eq!(parse_verifying_key(&hexkey).unwrap(), vk);
        assert!(parse_verifying_key("abc").is_err());
    }
}
