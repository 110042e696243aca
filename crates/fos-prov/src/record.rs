//! The provenance record and its canonical bytes.
//!
//! ```text
//! {
//!   "schema": 1,                                   SCHEMA_VERSION
//!   "kind": "approval",                            the activity (Body::kind)
//!   "entity": { ... },                             what it generated, per kind (below)
//!   "time": "2026-05-01T12:00:00.123Z",            RFC 3339, UTC, milliseconds: prov:startedAtTime
//!   "actor": {"type": "person", "name": "bo", "role": "engineer"},   prov:wasAssociatedWith
//!            {"type": "model", "name": "wear-net", "version": "2.1"}
//!            {"type": "system", "name": "gate"}
//!   "about": ["p-0007"],                           the proposals / findings / users it concerns
//!   "used": [ {"type": "record", "index": 12, "leaf_hash": "<64 hex>", "role": "proposal"},
//!             {"type": "content", "sha256": "<64 hex>", "entity": "waveform-block", "role": "evidence"} ],
//!   "wasDerivedFrom": [ ...same form... ]
//! }
//! ```
//!
//! | kind | entity | written when |
//! | --- | --- | --- |
//! | `user_added` | [`UserAdded`]: name, role, Ed25519 public key, who added them | a user is added |
//! | `proposal` | [`ProposalEntity`]: the [`Action`], its predicted [`Effect`], payload hash, deviation, machine, subsystem | a model or a person proposes |
//! | `decision` | [`DecisionEntity`]: the gate's [`Decision`] with the rule, the cumulative deviation and the tolerance | the policy decides |
//! | `approval`, `rejection`, `reversal` | [`Signed`]: the signed [`Approval`] (signature over the exact payload hash), the signer's role, the count | a person approves, vetoes or reverses |
//! | `stop`, `resume` | [`Stop`] (with the proposals it held), [`Resume`] | the stop command |
//! | `expiry` | [`Expiry`] | a proposal waited too long |
//! | `capability` | [`Capability`]: which durable approval record it rests on, validity, target | just before an execution |
//! | `execution` | [`Execution`]: outcome, target, outputs, the device write | after an execution |
//! | `finding` | [`Finding`]: model and version, features, nearest historical cases, simulations (inputs in `used`) | a diagnosis |
//! | `challenge`, `challenge_verdict` | [`Challenge`], [`ChallengeVerdict`] | a finding is disputed; the dispute is settled |
//!
//! A record of a proposal is `wasDerivedFrom` that proposal's previous record, so the chain from its last
//! record reaches all of its history ([`crate::chain::walk`]).

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, UNIX_EPOCH};

use fos_act::proposal::canonical_value;
use fos_act::{Action, Effect};
use fos_gate::{Approval, Decision, Role, Status};
use serde::{Deserialize, Serialize};

/// The schema version this crate writes and reads.
pub const SCHEMA_VERSION: u32 = 1;

/// Why a record cannot be encoded or decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProvError {
    /// Not UTF-8 JSON of a record (the message names the field and position).
    #[error("not a provenance record: {0}")]
    Json(String),
    /// A schema version this build does not know.
    #[error("schema version {found} is not supported (this build reads version {SCHEMA_VERSION}); upgrade FOS")]
    Schema {
        /// The version found.
        found: u32,
    },
    /// Valid JSON of a record, but not its canonical encoding.
    #[error("the bytes are not the record's canonical encoding (an extra member, a reordered key or whitespace, or a number in another form); canonical: {canonical}")]
    NotCanonical {
        /// The canonical encoding, cut to 200 characters.
        canonical: String,
    },
    /// A field that cannot be what it says.
    #[error("field {field}: {problem}")]
    Field {
        /// The field, dotted.
        field: String,
        /// What is wrong.
        problem: String,
    },
}

/// Who did it: `prov:Person` or `prov:SoftwareAgent`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Agent {
    /// A person, by user name, with their role at the time (`prov:Person`).
    Person {
        /// User name.
        name: String,
        /// Role.
        role: Role,
    },
    /// An AI model and its version (`prov:SoftwareAgent`).
    Model {
        /// Model name.
        name: String,
        /// Model version.
        version: String,
    },
    /// A FOS component acting on its own, such as the gate's policy (`prov:SoftwareAgent`).
    System {
        /// Component name.
        name: String,
    },
}

impl Agent {
    /// `user:NAME`, `ai:NAME@VERSION` or `system:NAME`.
    pub fn id(&self) -> String {
        match self {
            Agent::Person { name, .. } => format!("user:{name}"),
            Agent::Model { name, version } => format!("ai:{name}@{version}"),
            Agent::System { name } => format!("system:{name}"),
        }
    }

    /// The PROV type.
    pub fn prov_type(&self) -> &'static str {
        match self {
            Agent::Person { .. } => "prov:Person",
            Agent::Model { .. } | Agent::System { .. } => "prov:SoftwareAgent",
        }
    }

    /// Parses `NAME@VERSION` (both non-empty, no whitespace) into [`Agent::Model`].
    pub fn model(spec: &str) -> Result<Agent, ProvError> {
        let bad = |problem: &str| ProvError::Field { field: "model".into(), problem: format!("{spec:?} {problem}") };
        let (name, version) = spec.rsplit_once('@').ok_or_else(|| bad("is not NAME@VERSION (e.g. wear-net@2.1)"))?;
        if name.is_empty() || version.is_empty() {
            return Err(bad("needs both a name and a version (NAME@VERSION)"));
        }
        if spec.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("contains whitespace"));
        }
        Ok(Agent::Model { name: name.to_owned(), version: version.to_owned() })
    }

    /// The user name, for a person.
    pub fn person(&self) -> Option<&str> {
        match self {
            Agent::Person { name, .. } => Some(name),
            Agent::Model { .. } | Agent::System { .. } => None,
        }
    }
}

impl fmt::Display for Agent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Agent::Person { name, role } => write!(f, "user:{name} ({role})"),
            Agent::Model { .. } | Agent::System { .. } => f.write_str(&self.id()),
        }
    }
}

/// A reference to an earlier record or to an input's content.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Ref {
    /// An earlier ledger record, by index and RFC 9162 leaf hash (hex).
    Record {
        /// Its ledger index (0-based).
        index: u64,
        /// Its leaf hash, 64 lower-case hex digits.
        leaf_hash: String,
        /// Its role here (`proposal`, `previous`, `approver`, `policy`…).
        role: String,
    },
    /// An input by the SHA-256 of its content.
    Content {
        /// 64 lower-case hex digits.
        sha256: String,
        /// What it is (`waveform-block`, `gcode-program`, `weld-cell`, `policy`…).
        entity: String,
        /// Its role here.
        role: String,
    },
}

impl Ref {
    /// A reference to ledger record `index` with leaf hash `leaf_hash`.
    pub fn record(index: u64, leaf_hash: [u8; 32], role: impl Into<String>) -> Ref {
        Ref::Record { index, leaf_hash: hex(&leaf_hash), role: role.into() }
    }

    /// A reference to content with SHA-256 `sha256`.
    pub fn content(sha256: [u8; 32], entity: impl Into<String>, role: impl Into<String>) -> Ref {
        Ref::Content { sha256: hex(&sha256), entity: entity.into(), role: role.into() }
    }

    /// The role.
    pub fn role(&self) -> &str {
        match self {
            Ref::Record { role, .. } | Ref::Content { role, .. } => role,
        }
    }
}

/// A user was added.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserAdded {
    /// User name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Ed25519 public key of their signatures, 64 hex digits.
    pub public_key: String,
    /// The admin who added them; `None` for the first user.
    pub added_by: Option<String>,
}

/// A proposal: the exact change and what it is expected to do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProposalEntity {
    /// The proposal's id.
    pub proposal_id: String,
    /// The change.
    pub action: Action,
    /// What it is expected to do.
    pub predicted_effect: Effect,
    /// SHA-256 of the action's canonical JSON (hex): what approvers sign.
    pub payload_hash: String,
    /// Absolute deviation it introduces, mm.
    pub deviation_mm: f64,
    /// The machine the tolerance is counted on.
    pub machine: String,
    /// The subsystem it touches.
    pub subsystem: Option<String>,
    /// Free tags.
    pub tags: Vec<String>,
    /// Why it was proposed, in words (may be empty).
    pub rationale: String,
}

/// The gate's decision on a new proposal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionEntity {
    /// The proposal.
    pub proposal_id: String,
    /// The status it took: `auto_approved`, `awaiting_approval` or `rejected`.
    pub status: Status,
    /// The decision, with the rule (approvers, roles) and every reason.
    pub decision: Decision,
    /// The proposal's absolute deviation, mm.
    pub deviation_mm: f64,
    /// Cumulative absolute deviation already applied on the machine without a person since its last human
    /// approval, mm (the proposal not included).
    pub cumulative_before_mm: f64,
    /// The policy's tolerance, mm.
    pub tolerance_mm: f64,
    /// Whether the gate was stopped.
    pub halted: bool,
}

/// A person's signed verdict (approval, rejection or reversal).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Signed {
    /// The proposal.
    pub proposal_id: String,
    /// The signer's role.
    pub role: Role,
    /// The verdict with its Ed25519 signature over the exact payload hash.
    pub signature: Approval,
    /// The proposal's status afterwards.
    pub status: Status,
    /// Distinct approvals recorded so far (this one included, for an approval).
    pub approvals: u32,
    /// Distinct approvals required.
    pub required: u32,
}

/// The stop command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stop {
    /// Why.
    pub reason: String,
    /// AI-initiated proposals moved from `auto_approved` back to `awaiting_approval`.
    pub held: Vec<String>,
}

/// The stop lifted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resume {
    /// Why.
    pub reason: String,
}

/// A proposal waited too long for approval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expiry {
    /// The proposal.
    pub proposal_id: String,
    /// Since when it waited, Unix seconds.
    pub awaiting_since: u64,
    /// The policy's expiry, hours.
    pub expiry_hours: u64,
}

/// An execution capability issued on a durable approval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Capability {
    /// The proposal.
    pub proposal_id: String,
    /// Its payload hash (hex).
    pub payload_hash: String,
    /// Ledger index of the approval (or automatic decision) record it rests on.
    pub approval_record: u64,
    /// Who approved (`policy` for an automatic approval).
    pub approved_by: Vec<String>,
    /// Issued, Unix seconds.
    pub issued_at: u64,
    /// Valid until, Unix seconds.
    pub not_after: u64,
    /// What it will act on (a device endpoint and address, or an output file).
    pub target: String,
}

/// A file an execution wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Artifact {
    /// Path relative to the data directory.
    pub path: String,
    /// SHA-256 of its content, hex.
    pub sha256: String,
}

/// A value written to a device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceWrite {
    /// The device endpoint.
    pub device: String,
    /// The address.
    pub address: String,
    /// The value, as JSON.
    pub value: serde_json::Value,
}

/// The outcome of an execution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Execution {
    /// The proposal.
    pub proposal_id: String,
    /// Its payload hash (hex).
    pub payload_hash: String,
    /// `executed` or `failed`.
    pub status: Status,
    /// What happened, in words (the driver's error on failure).
    pub detail: String,
    /// What it acted on.
    pub target: String,
    /// Files written.
    pub outputs: Vec<Artifact>,
    /// Device writes attempted, in order (the last one failed if the execution failed).
    pub writes: Vec<DeviceWrite>,
}

/// A model, by name and version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelId {
    /// Name.
    pub name: String,
    /// Version.
    pub version: String,
}

/// A historical case close to a finding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseMatch {
    /// The case's id in the case library.
    pub case_id: String,
    /// What the case turned out to be.
    pub label: String,
    /// Distance in the model's feature space (smaller is closer).
    pub distance: f64,
    /// Where the case comes from (data set, site), if known.
    pub source: Option<String>,
    /// Why it matches, in words, if stated (left out of the JSON when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A simulation behind a finding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Simulation {
    /// What was simulated.
    pub name: String,
    /// Its result, in words.
    pub summary: String,
    /// Named figures (units in the names).
    pub figures: BTreeMap<String, f64>,
    /// SHA-256 of its full output, hex, if kept.
    pub sha256: Option<String>,
}

/// A diagnosis. Its input blocks (waveform blocks, by content hash) are in the record's `used`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Finding {
    /// The finding's id.
    pub finding_id: String,
    /// The model that made it.
    pub model: ModelId,
    /// The machine.
    pub machine: String,
    /// What it says, in words.
    pub summary: String,
    /// The fault it names (`outer-race`, `imbalance`…), if any.
    pub label: Option<String>,
    /// The model's score, if any.
    pub score: Option<f64>,
    /// Start and end of the evidence, RFC 3339, if known.
    pub window: Option<(String, String)>,
    /// The features that produced it (units in the names).
    pub features: BTreeMap<String, f64>,
    /// The nearest historical cases.
    pub nearest_cases: Vec<CaseMatch>,
    /// The simulations that support it.
    pub simulations: Vec<Simulation>,
    /// The recording judged, as given to the diagnostics, if a file (left out of the JSON when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// The signal inside that file (a .mat variable, .csv column, .wav channel), if a file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<String>,
}

/// A person disputes a finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Challenge {
    /// The finding.
    pub finding_id: String,
    /// Why (e.g. "humidity, not bearing wear").
    pub reason: String,
    /// The cause the challenger proposes, if any.
    pub alternative: Option<String>,
}

/// How a dispute was settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingOutcome {
    /// The finding stands.
    Confirmed,
    /// The finding was wrong.
    Disputed,
}

/// The verdict on a challenge; its label is training data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChallengeVerdict {
    /// The finding.
    pub finding_id: String,
    /// Confirmed or disputed.
    pub outcome: FindingOutcome,
    /// The label to learn from (the true cause).
    pub label: String,
    /// Why, in words.
    pub reason: String,
}

/// The activity and its entity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "entity", rename_all = "snake_case")]
pub enum Body {
    /// See [`UserAdded`].
    UserAdded(UserAdded),
    /// See [`ProposalEntity`].
    Proposal(Box<ProposalEntity>),
    /// See [`DecisionEntity`].
    Decision(DecisionEntity),
    /// A signed approval ([`Signed`]).
    Approval(Signed),
    /// A signed veto ([`Signed`]).
    Rejection(Signed),
    /// A signed reversal of an executed proposal ([`Signed`]).
    Reversal(Signed),
    /// See [`Stop`].
    Stop(Stop),
    /// See [`Resume`].
    Resume(Resume),
    /// See [`Expiry`].
    Expiry(Expiry),
    /// See [`Capability`].
    Capability(Capability),
    /// See [`Execution`].
    Execution(Execution),
    /// See [`Finding`].
    Finding(Box<Finding>),
    /// See [`Challenge`].
    Challenge(Challenge),
    /// See [`ChallengeVerdict`].
    ChallengeVerdict(ChallengeVerdict),
}

impl Body {
    /// The `kind` tag.
    pub fn kind(&self) -> &'static str {
        match self {
            Body::UserAdded(_) => "user_added",
            Body::Proposal(_) => "proposal",
            Body::Decision(_) => "decision",
            Body::Approval(_) => "approval",
            Body::Rejection(_) => "rejection",
            Body::Reversal(_) => "reversal",
            Body::Stop(_) => "stop",
            Body::Resume(_) => "resume",
            Body::Expiry(_) => "expiry",
            Body::Capability(_) => "capability",
            Body::Execution(_) => "execution",
            Body::Finding(_) => "finding",
            Body::Challenge(_) => "challenge",
            Body::ChallengeVerdict(_) => "challenge_verdict",
        }
    }

    /// The proposal it concerns, for the kinds that concern one.
    pub fn proposal_id(&self) -> Option<&str> {
        match self {
            Body::Proposal(p) => Some(&p.proposal_id),
            Body::Decision(d) => Some(&d.proposal_id),
            Body::Approval(s) | Body::Rejection(s) | Body::Reversal(s) => Some(&s.proposal_id),
            Body::Expiry(e) => Some(&e.proposal_id),
            Body::Capability(c) => Some(&c.proposal_id),
            Body::Execution(e) => Some(&e.proposal_id),
            Body::UserAdded(_)
            | Body::Stop(_)
            | Body::Resume(_)
            | Body::Finding(_)
            | Body::Challenge(_)
            | Body::ChallengeVerdict(_) => None,
        }
    }

    /// One line saying what happened.
    pub fn summary(&self) -> String {
        match self {
            Body::UserAdded(u) => format!(
                "user {} added as {}{}",
                u.name,
                u.role,
                u.added_by.as_deref().map(|a| format!(" by {a}")).unwrap_or_else(|| " (first user)".into())
            ),
            Body::Proposal(p) => format!("{} proposed: {}", p.proposal_id, p.predicted_effect.summary),
            Body::Decision(d) => format!("{}: {} ({})", d.proposal_id, d.status, d.decision),
            Body::Approval(s) => format!(
                "{} approved by {} ({} of {}), now {}",
                s.proposal_id, s.signature.by, s.approvals, s.required, s.status
            ),
            Body::Rejection(s) => format!("{} rejected by {}: {}", s.proposal_id, s.signature.by, s.signature.reason),
            Body::Reversal(s) => format!("{} reversed by {}: {}", s.proposal_id, s.signature.by, s.signature.reason),
            Body::Stop(s) => format!("gate stopped: {} (held: {})", s.reason, list(&s.held)),
            Body::Resume(r) => format!("gate resumed: {}", r.reason),
            Body::Expiry(e) => format!("{} expired after {} h awaiting approval", e.proposal_id, e.expiry_hours),
            Body::Capability(c) => format!(
                "{}: capability on approval record {} until {} for {}",
                c.proposal_id, c.approval_record, c.not_after, c.target
            ),
            Body::Execution(e) => format!("{} {} on {}: {}", e.proposal_id, e.status, e.target, e.detail),
            Body::Finding(f) => format!("finding {} on {} by {}@{}: {}", f.finding_id, f.machine, f.model.name, f.model.version, f.summary),
            Body::Challenge(c) => format!("finding {} challenged: {}", c.finding_id, c.reason),
            Body::ChallengeVerdict(v) => {
                format!("finding {} {:?}: label {} ({})", v.finding_id, v.outcome, v.label, v.reason).to_lowercase()
            }
        }
    }
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        items.join(", ")
    }
}

/// One provenance record. See the module documentation for the layout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// [`SCHEMA_VERSION`].
    pub schema: u32,
    /// The kind and its entity.
    #[serde(flatten)]
    pub body: Body,
    /// When, RFC 3339 UTC with milliseconds ([`format_time`]).
    pub time: String,
    /// Who or what did it.
    pub actor: Agent,
    /// Ids of the proposals, findings or users it concerns.
    pub about: Vec<String>,
    /// Records and inputs it used.
    pub used: Vec<Ref>,
    /// Records and inputs it was derived from.
    #[serde(rename = "wasDerivedFrom")]
    pub was_derived_from: Vec<Ref>,
}

impl Record {
    /// A record of `body` at `time_ms` (Unix milliseconds) by `actor`, about its proposal if it has one.
    pub fn new(body: Body, time_ms: u64, actor: Agent) -> Record {
        let about = body.proposal_id().map(|p| vec![p.to_owned()]).unwrap_or_default();
        Record { schema: SCHEMA_VERSION, body, time: format_time(time_ms), actor, about, used: Vec::new(), was_derived_from: Vec::new() }
    }

    /// Sets what it is about.
    #[must_use]
    pub fn about<S: Into<String>>(mut self, ids: impl IntoIterator<Item = S>) -> Record {
        self.about = ids.into_iter().map(Into::into).collect();
        self
    }

    /// Adds a `used` reference.
    #[must_use]
    pub fn used(mut self, r: Ref) -> Record {
        self.used.push(r);
        self
    }

    /// Adds a `wasDerivedFrom` reference.
    #[must_use]
    pub fn derived_from(mut self, r: Ref) -> Record {
        self.was_derived_from.push(r);
        self
    }

    /// The kind.
    pub fn kind(&self) -> &'static str {
        self.body.kind()
    }

    /// The time in Unix milliseconds.
    pub fn time_ms(&self) -> Result<u64, ProvError> {
        parse_time(&self.time)
    }

    /// Every reference, `used` first.
    pub fn references(&self) -> impl Iterator<Item = &Ref> {
        self.used.iter().chain(&self.was_derived_from)
    }

    /// Checks what serde cannot: the schema version, the time's form, hashes as 64 hex digits, and that
    /// every number survives the JSON round trip (no NaN or infinity).
    pub fn validate(&self) -> Result<(), ProvError> {
        if self.schema != SCHEMA_VERSION {
            return Err(ProvError::Schema { found: self.schema });
        }
        let ms = parse_time(&self.time)?;
        if format_time(ms) != self.time {
            return Err(field("time", format!("{:?} is not in the canonical form {:?}", self.time, format_time(ms))));
        }
        for (i, r) in self.references().enumerate() {
            match r {
                Ref::Record { leaf_hash, .. } => check_hash(&format!("reference {i}.leaf_hash"), leaf_hash)?,
                Ref::Content { sha256, .. } => check_hash(&format!("reference {i}.sha256"), sha256)?,
            }
        }
        match &self.body {
            Body::UserAdded(u) => check_hash("entity.public_key", &u.public_key)?,
            Body::Proposal(p) => check_hash("entity.payload_hash", &p.payload_hash)?,
            Body::Capability(c) => check_hash("entity.payload_hash", &c.payload_hash)?,
            Body::Execution(e) => {
                check_hash("entity.payload_hash", &e.payload_hash)?;
                for a in &e.outputs {
                    check_hash("entity.outputs.sha256", &a.sha256)?;
                }
            }
            Body::Decision(_)
            | Body::Approval(_)
            | Body::Rejection(_)
            | Body::Reversal(_)
            | Body::Stop(_)
            | Body::Resume(_)
            | Body::Expiry(_)
            | Body::Finding(_)
            | Body::Challenge(_)
            | Body::ChallengeVerdict(_) => {}
        }
        let value = serde_json::to_value(self).map_err(|e| ProvError::Json(e.to_string()))?;
        let back: Record = serde_json::from_value(value)
            .map_err(|e| field("(a number)", format!("does not survive the JSON round trip (NaN or infinity?): {e}")))?;
        if &back != self {
            return Err(field("(a number)", "does not survive the JSON round trip (NaN or infinity?)".into()));
        }
        Ok(())
    }

    /// The canonical JSON bytes (see the crate docs), after [`Record::validate`].
    pub fn to_bytes(&self) -> Result<Vec<u8>, ProvError> {
        self.validate()?;
        let value = serde_json::to_value(self).map_err(|e| ProvError::Json(e.to_string()))?;
        Ok(canonical_value(&value).into_bytes())
    }

    /// Parses canonical bytes; refuses anything that is not exactly [`Record::to_bytes`] of a valid record.
    pub fn from_bytes(bytes: &[u8]) -> Result<Record, ProvError> {
        let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| ProvError::Json(e.to_string()))?;
        if let Some(found) = value.get("schema").and_then(serde_json::Value::as_u64) {
            if found != u64::from(SCHEMA_VERSION) {
                return Err(ProvError::Schema { found: u32::try_from(found).unwrap_or(u32::MAX) });
            }
        }
        let record: Record = serde_json::from_value(value).map_err(|e| ProvError::Json(e.to_string()))?;
        let canonical = record.to_bytes()?;
        if canonical != bytes {
            let text = String::from_utf8_lossy(&canonical);
            return Err(ProvError::NotCanonical { canonical: text.chars().take(200).collect() });
        }
        Ok(record)
    }
}

fn field(name: &str, problem: String) -> ProvError {
    ProvError::Field { field: name.to_owned(), problem }
}

fn check_hash(name: &str, h: &str) -> Result<(), ProvError> {
    parse_hash(h).map(|_| ()).map_err(|problem| field(name, problem))
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    s
}

/// Parses 64 lower-case hex digits.
pub fn parse_hash(h: &str) -> Result<[u8; 32], String> {
    if h.len() != 64 {
        return Err(format!("{h:?} is not 64 hex digits"));
    }
    let mut out = [0u8; 32];
    for (i, pair) in h.as_bytes().chunks_exact(2).enumerate() {
        let digit = |c: u8| match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        };
        let (Some(hi), Some(lo)) = (digit(pair[0]), digit(pair[1])) else {
            return Err(format!("{h:?} is not 64 lower-case hex digits"));
        };
        out[i] = hi << 4 | lo;
    }
    Ok(out)
}

/// Unix milliseconds as RFC 3339 UTC with milliseconds: `2026-05-01T12:00:00.123Z`.
pub fn format_time(ms: u64) -> String {
    humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}

/// Parses RFC 3339 (`2026-05-01T12:00:00Z`, with or without fractions, UTC) or a date (`2026-05-01`,
/// midnight UTC) into Unix milliseconds.
pub fn parse_time(text: &str) -> Result<u64, ProvError> {
    let t = text.trim();
    let full = if t.len() == 10 && t.as_bytes().get(4) == Some(&b'-') { format!("{t}T00:00:00Z") } else { t.to_owned() };
    let at = humantime::parse_rfc3339(&full).map_err(|e| {
        field("time", format!("{text:?} is not an RFC 3339 UTC time such as 2026-05-01T12:00:00Z or a date 2026-05-01: {e}"))
    })?;
    let ms = at.duration_since(UNIX_EPOCH).map_err(|_| field("time", format!("{text:?} is before 1970")))?.as_millis();
    u64::try_from(ms).map_err(|_| field("time", format!("{text:?} is too far in the future")))
}

#[cfg(test)]
mod tests;
