//! FOS provenance records: what happened, who or what did it, and what it was derived from, for every
//! event the ledger (`fos-ledger`) keeps — in W3C PROV terms.
//!
//! One ledger record is one [`Record`]: a PROV *activity* (its [`Body::kind`]: a proposal, a decision, an
//! approval, an execution, a finding…) that generated an *entity* (the record's `entity`, such as the
//! proposal with its [`fos_act::Action`] and predicted effect, or a signed approval), was associated with an
//! *agent* ([`Agent`]: a person with a role, an AI model and its version, or a FOS component), `used` earlier
//! entities and `wasDerivedFrom` others ([`Ref`]: earlier records by ledger index and RFC 9162 leaf hash,
//! inputs by the SHA-256 of their content, such as `fos_historian::WaveformBlock::content_hash`).
//!
//! | module | what |
//! | --- | --- |
//! | [`record`] | [`Record`], [`Agent`], [`Ref`], [`Body`] and one entity type per kind; canonical JSON bytes |
//! | [`chain`] | [`chain::walk`]: the provenance chain of a record, following its references backwards |
//! | [`audit`] | [`audit::check_sequence`]: the consistency of a whole sequence of records (signatures re-verified, every execution preceded by its approval, …) |
//! | [`findings`] | [`findings::tally`]: confirmed, disputed and open findings, from finding and challenge records |
//!
//! **Canonical bytes.** [`Record::to_bytes`] writes the record's JSON with members sorted by key, no
//! whitespace and numbers in one form (`fos_act::proposal::canonical_value`); [`Record::from_bytes`]
//! accepts only bytes that are exactly that encoding of a valid record, so a record read back from the
//! ledger is byte for byte what was hashed into the log, and anything else (an extra member, a reordered
//! key, a non-finite number, an unknown schema version) is refused with the reason.
//!
//! **Architecture invariant**: no I/O, no clock, no randomness. Callers pass times, hashes and lookups in.
//!
//! ```
//! use fos_prov::{Agent, Body, Record, Ref, Stop};
//! use fos_gate::Role;
//!
//! let stop = Record::new(
//!     Body::Stop(Stop { reason: "coolant leak".into(), held: vec!["p-0003".into()] }),
//!     1_767_225_600_000,
//!     Agent::Person { name: "ann".into(), role: Role::Operator },
//! )
//! .about(["p-0003"])
//! .used(Ref::record(4, [7; 32], "held-proposal"));
//! let bytes = stop.to_bytes()?;
//! assert!(bytes.starts_with(br#"{"about":["p-0003"],"actor":{"name":"ann","role":"operator","type":"person"}"#));
//! assert_eq!(Record::from_bytes(&bytes)?, stop);
//! assert_eq!(stop.time, "2026-01-01T00:00:00.000Z");
//! # Ok::<(), fos_prov::ProvError>(())
//! ```

pub mod audit;
pub mod chain;
pub mod findings;
pub mod record;

pub use record::{
    format_time, hex, parse_hash, parse_time, Agent, Artifact, Body, CaseMatch, Challenge, ChallengeVerdict,
    DecisionEntity, DeviceWrite, Execution, Expiry, Finding, FindingOutcome, ModelId, ProposalEntity, ProvError,
    Record, Ref, Resume, Signed, Simulation, Stop, UserAdded, Capability, SCHEMA_VERSION,
};
