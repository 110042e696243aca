//! The safety gate's operations: propose, approve / reject / reverse, stop / resume, execute, list and
//! show; every step recorded in the provenance ledger before it is applied or reported.
//!
//! **Who proposes** ([`Proposer`]). A person (an [`AuthenticatedUser`]; auditors only read and cannot
//! propose) or an AI model (`NAME@VERSION`, no password: a model has no account, and what vouches for it
//! is the operating-system account that runs FOS with write access to the data directory). The policy
//! treats them alike within the tolerance, with two differences: a proposer never approves their own
//! proposal (so a person's proposal beyond the tolerance needs *another* person), and while the gate is
//! stopped an AI-initiated proposal is never auto-approved and AI-initiated auto-approvals are held for a
//! person, whereas a person's proposal is decided as usual but, like everything else, cannot execute until
//! the gate is resumed.
//!
//! **Order of effects.** Each operation checks everything it can first (a refused operation records
//! nothing), then appends its provenance records to the ledger (durable, under a signed checkpoint), then
//! updates the gate's working state under `DIR/gate/` and reports. [`Site::execute`] obtains an execution
//! capability only against the ledger index of the record that approved the proposal
//! ([`fos_gate::LedgerDurability`]), records the capability before it acts, and records the outcome after.
//! Proposals past their expiry are expired (and recorded) at the start of every operation that changes
//! the gate.

use std::fs;
use std::time::Duration;

use fos_act::gcode::WorkOffset;
use fos_act::offset::{DeviceTag, OffsetLimits, ToolOffsetCorrection, ToolOffsetKind, WorkOffsetCorrection};
use fos_act::weld::{Cell, Objective, Plan};
use fos_act::{Action, Effect};
use fos_connect::{ConnectOptions, Connection, DeviceUrl, WriteAccess, WritePermit};
use fos_gate::{
    decide, transition, Approval, AuthenticatedUser, Change, Context, Decision, Event, ExecutionCapability, HaltInfo,
    Initiator, LedgerDurability, Proposal, ProposalFacts, Role, Status, Verdict,
};
use fos_prov::{
    hex, Agent, Artifact, Body, Capability, DecisionEntity, DeviceWrite, Execution, Expiry, ProposalEntity, Record, Ref,
    Resume, Signed, Stop,
};
use serde::{Deserialize, Serialize};

use crate::error::{from_gate, transition_kind, ErrorKind, Result, SiteError};
use crate::paths::{now_ms, sha256, write_file};
use crate::site::{gate_agent, person, Inner, Site};

/// Who proposes a change.
#[derive(Debug, Clone, Copy)]
pub enum Proposer<'a> {
    /// A person (not an auditor).
    Person(&'a AuthenticatedUser),
    /// An AI model, `NAME@VERSION`.
    Model(&'a str),
}

fn one() -> u32 {
    1
}

fn length_wear() -> ToolOffsetKind {
    ToolOffsetKind::LengthWear
}

/// The change proposed, as typed input (JSON: `{"kind": "tool-offset", …}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ActionSpec {
    /// A tool offset correction, written as a new absolute value (`G10 L1x`), optionally also to the
    /// controller tag that holds the offset (compare-and-set against `current_mm`).
    ToolOffset {
        /// The machine; the tolerance is counted per machine.
        machine: String,
        /// Tool offset number (P).
        #[serde(default = "one")]
        tool: u32,
        /// Which entry of the offset table.
        #[serde(default = "length_wear")]
        offset_kind: ToolOffsetKind,
        /// What the controller holds now, mm.
        #[serde(default)]
        current_mm: f64,
        /// The correction, mm.
        delta_mm: f64,
        /// The controller tag holding the offset (device URL and address), if it is written there too.
        #[serde(default)]
        device_tag: Option<DeviceTag>,
    },
    /// A work offset correction (`G10 L2`).
    WorkOffset {
        /// The machine.
        machine: String,
        /// G54 … G59.
        #[serde(default)]
        work_offset: WorkOffset,
        /// What the controller holds now, mm (X, Y, Z).
        #[serde(default)]
        current_mm: [f64; 3],
        /// The correction, mm (X, Y, Z).
        delta_mm: [f64; 3],
    },
    /// A G-code program shifted by a delta, verified by re-parsing and simulating both programs.
    Toolpath {
        /// The machine.
        machine: String,
        /// The program's name (recorded).
        program_name: String,
        /// The program's text.
        program: String,
        /// The shift, mm (X, Y, Z).
        delta_mm: [f64; 3],
    },
    /// A welding cell's sequence re-planned around a degraded station or torch.
    WeldReroute {
        /// The welding cell.
        machine: String,
        /// The cell file's text: JSON `{"cell": {torches, welds, precedence, …}, "current_plan":
        /// {"sequences": …}, "objective": {…} (optional)}`; its SHA-256 is cited as an input.
        cell: String,
    },
    /// A value written to a tag of a device.
    #[serde(alias = "write")]
    DriverWrite {
        /// Device URL.
        device: String,
        /// Address on the device.
        address: String,
        /// The value: an integer, a number, a boolean or text.
        value: serde_json::Value,
        /// The machine the tolerance is counted on (default: the device's endpoint).
        #[serde(default)]
        machine: Option<String>,
    },
}

/// A proposal: the change and what it touches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProposeRequest {
    /// The change.
    pub action: ActionSpec,
    /// The subsystem touched (e.g. `brake-caliper-casting`).
    #[serde(default)]
    pub subsystem: Option<String>,
    /// Free tags; `safety-critical` makes it safety-critical.
    #[serde(default)]
    pub tags: Vec<String>,
    /// The proposal id (default `p-NNNN`, the next free number).
    #[serde(default)]
    pub id: Option<String>,
    /// Why, in words (recorded).
    #[serde(default)]
    pub reason: String,
    /// SHA-256 (hex) of inputs the proposal rests on, such as waveform blocks' content hashes.
    #[serde(default)]
    pub evidence: Vec<String>,
}

/// What [`Site::propose`] did.
#[derive(Debug, Clone, Serialize)]
pub struct Proposed {
    /// The proposal id.
    pub id: String,
    /// `auto_approved`, `awaiting_approval` or `rejected` (malformed).
    pub status: Status,
    /// The action's kind.
    pub kind: String,
    /// The machine the tolerance is counted on.
    pub machine: String,
    /// `user:NAME` or `ai:NAME@VERSION`.
    pub initiated_by: String,
    /// The change's deviation, mm.
    pub deviation_mm: f64,
    /// The machine's cumulative deviation before it, mm.
    pub cumulative_before_mm: f64,
    /// The policy's tolerance, mm.
    pub tolerance_mm: f64,
    /// SHA-256 of the action's canonical JSON (what approvals sign), hex.
    pub payload_hash: String,
    /// The gate's decision.
    pub decision: Decision,
    /// The predicted effect.
    pub predicted_effect: Effect,
    /// The ledger records written: the proposal and the decision.
    pub records: Vec<u64>,
}

/// One proposal in a list.
#[derive(Debug, Clone, Serialize)]
pub struct ProposalSummary {
    /// Id.
    pub id: String,
    /// Status.
    pub status: Status,
    /// Kind.
    pub kind: String,
    /// Machine.
    pub machine: String,
    /// Subsystem, if any.
    pub subsystem: Option<String>,
    /// Absolute deviation, mm.
    pub deviation_mm: f64,
    /// `user:NAME` or `ai:NAME@VERSION`.
    pub initiated_by: String,
    /// Unix seconds.
    pub created_at: u64,
    /// Approvals so far.
    pub approvals: usize,
    /// Approvals needed, when people must approve.
    pub required: Option<u32>,
}

/// Every proposal and whether the gate is stopped.
#[derive(Debug, Clone, Serialize)]
pub struct ProposalList {
    /// Whether the gate is stopped.
    pub halted: bool,
    /// Who stopped it, when and why.
    pub halt: Option<HaltInfo>,
    /// The proposals, by id.
    pub proposals: Vec<ProposalSummary>,
}

/// The gate's state.
#[derive(Debug, Clone, Serialize)]
pub struct GateStatus {
    /// Whether the gate is stopped.
    pub halted: bool,
    /// Who stopped it, when and why.
    pub halt: Option<HaltInfo>,
    /// The last resume.
    pub last_resume: Option<HaltInfo>,
}

/// A ledger record in a short form.
#[derive(Debug, Clone, Serialize)]
pub struct RecordLine {
    /// Ledger index.
    pub index: u64,
    /// Record kind.
    pub kind: String,
    /// RFC 3339 time.
    pub time: String,
    /// `user:NAME`, `ai:…`, `system:…`.
    pub actor: String,
    /// One line.
    pub summary: String,
}

/// One proposal in full.
#[derive(Debug, Clone, Serialize)]
pub struct ProposalDetail {
    /// Id.
    pub id: String,
    /// Status.
    pub status: Status,
    /// The gate's record of it (facts, decision, approvals, history).
    pub proposal: Proposal,
    /// The exact change, from the ledger.
    pub action: Option<Action>,
    /// What a machine would run (G-code, a weld plan, a write), from the action.
    pub executable: Option<String>,
    /// The predicted effect of the action (as proposed and recorded).
    pub predicted_effect: Option<Effect>,
    /// Every ledger record about it.
    pub records: Vec<RecordLine>,
}

/// What a verdict did.
#[derive(Debug, Clone, Serialize)]
pub struct VerdictOut {
    /// The proposal.
    pub id: String,
    /// Its status now.
    pub status: Status,
    /// approve, reject or reverse.
    pub verdict: Verdict,
    /// Who.
    pub by: String,
    /// Approvals so far.
    pub approvals: u32,
    /// Approvals needed.
    pub required: u32,
    /// The ledger record.
    pub record: u64,
    /// What the state machine said.
    #[serde(skip)]
    pub note: String,
}

/// What a stop did.
#[derive(Debug, Clone, Serialize)]
pub struct StopOut {
    /// Always true.
    pub halted: bool,
    /// AI-initiated automatic approvals now held for a person.
    pub held: Vec<String>,
    /// The ledger record (none when the gate was stopped already).
    pub record: Option<u64>,
    /// The earlier stop, when the gate was stopped already.
    #[serde(skip)]
    pub already: Option<HaltInfo>,
    /// A disagreement between what the gate held and what the ledger records.
    #[serde(skip)]
    pub warning: Option<String>,
}

/// What a resume did.
#[derive(Debug, Clone, Serialize)]
pub struct ResumeOut {
    /// Always false.
    pub halted: bool,
    /// The ledger record (none when the gate was not stopped).
    pub record: Option<u64>,
}

/// What an execution did.
#[derive(Debug, Clone, Serialize)]
pub struct ExecuteOut {
    /// The proposal.
    pub id: String,
    /// `executed` or `failed`.
    pub status: Status,
    /// What happened, in words.
    pub detail: String,
    /// Where it went (a device and address, a file under `DIR/out`).
    pub target: String,
    /// Files handed out, with their SHA-256.
    pub outputs: Vec<Artifact>,
    /// The record that approved it.
    pub approval_record: u64,
    /// The capability record (before the action).
    pub capability_record: u64,
    /// The execution record (after the action).
    pub execution_record: u64,
}

impl ExecuteOut {
    /// Whether the action succeeded.
    pub fn ok(&self) -> bool {
        self.status == Status::Executed
    }
}

/// What a proposal carries besides its action: files to keep and inputs to cite.
#[derive(Default)]
struct Extras {
    /// Files to write under DIR/gate/payloads before the proposal is logged: (name, content).
    payloads: Vec<(String, String)>,
    /// Inputs cited by content hash: (sha256, entity, role).
    inputs: Vec<([u8; 32], String, String)>,
}

fn bad(e: impl std::fmt::Display) -> SiteError {
    SiteError::bad_request(e.to_string())
}

/// The cell file of a weld reroute.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct CellFile {
    cell: Cell,
    current_plan: Plan,
    #[serde(default)]
    objective: Option<Objective>,
}

/// Builds the action of a proposal.
fn build_action(spec: &ActionSpec, evidence: &[String], id: &str) -> Result<(Action, Extras)> {
    let mut extras = Extras::default();
    let action = match spec {
        ActionSpec::ToolOffset { machine, tool, offset_kind, current_mm, delta_mm, device_tag } => {
            if let Some(t) = device_tag {
                DeviceUrl::parse(&t.device).map_err(bad)?;
            }
            let c = ToolOffsetCorrection {
                machine: machine.clone(),
                tool_offset_number: *tool,
                kind: *offset_kind,
                current_mm: *current_mm,
                delta_mm: *delta_mm,
                device_tag: device_tag.clone(),
            };
            c.emit(&OffsetLimits::default())
                .map_err(|e| SiteError::bad_request(format!("the tool offset correction is refused: {e}")))?;
            Action::ToolOffset(c)
        }
        ActionSpec::WorkOffset { machine, work_offset, current_mm, delta_mm } => {
            let c = WorkOffsetCorrection {
                machine: machine.clone(),
                work_offset: *work_offset,
                current_mm: *current_mm,
                delta_mm: *delta_mm,
            };
            c.emit(&OffsetLimits::default())
                .map_err(|e| SiteError::bad_request(format!("the work offset correction is refused: {e}")))?;
            Action::WorkOffset(c)
        }
        ActionSpec::Toolpath { machine, program_name, program, delta_mm } => {
            let (action, corrected) = Action::toolpath(machine.clone(), program_name.clone(), program, *delta_mm)
                .map_err(|e| SiteError::bad_request(format!("{program_name}: {e}")))?;
            extras.inputs.push((sha256(program.as_bytes()), "gcode-program".into(), "input".into()));
            extras.payloads.push((format!("{id}.orig.nc"), program.clone()));
            extras.payloads.push((format!("{id}.nc"), corrected.text));
            action
        }
        ActionSpec::WeldReroute { machine, cell } => {
            let file: CellFile = serde_json::from_str(cell).map_err(|e| {
                SiteError::bad_request(format!("not a cell file ({{\"cell\": …, \"current_plan\": …}}): {e}"))
            })?;
            let replan = fos_act::replan(&file.cell, &file.current_plan, &file.objective.unwrap_or_default())
                .map_err(|e| SiteError::bad_request(format!("cannot re-plan the cell: {e}")))?;
            extras.inputs.push((sha256(cell.as_bytes()), "weld-cell".into(), "input".into()));
            Action::weld_reroute(machine.clone(), &replan)
        }
        ActionSpec::DriverWrite { device, address, value, .. } => {
            DeviceUrl::parse(device).map_err(bad)?;
            Action::DriverWrite { device: device.clone(), address: address.clone(), value: value.clone() }
        }
    };
    action.check().map_err(bad)?;
    for e in evidence {
        let h = fos_prov::parse_hash(&e.to_ascii_lowercase()).map_err(|p| SiteError::bad_request(format!("--evidence: {p}")))?;
        extras.inputs.push((h, "waveform-block".into(), "evidence".into()));
    }
    Ok((action, extras))
}

/// The next free `p-NNNN`: unknown to the gate and to the ledger.
fn next_id(site: &Inner) -> String {
    let mut n = site.gate.proposals().count() + 1;
    loop {
        let id = format!("p-{n:04}");
        if site.gate.proposal(&id).is_none() && site.last_about(&id).is_none() {
            return id;
        }
        n += 1;
    }
}

fn status_of(decision: &Decision) -> Status {
    match decision {
        Decision::AutoApprove => Status::AutoApproved,
        Decision::NeedsApproval { .. } => Status::AwaitingApproval,
        Decision::Refuse { .. } => Status::Rejected,
    }
}

/// Expires (and records) every proposal past its expiry.
fn sweep_expired(site: &mut Inner, now_s: u64, now: u64) -> Result<Vec<String>> {
    let due: Vec<(String, u64)> = site
        .gate
        .proposals()
        .filter(|p| p.expires_at(&site.policy).is_some_and(|at| at <= now_s))
        .map(|p| (p.facts.id.clone(), p.awaiting_since.unwrap_or(p.created_at)))
        .collect();
    if due.is_empty() {
        return Ok(Vec::new());
    }
    for (id, since) in &due {
        let mut r = Record::new(
            Body::Expiry(Expiry { proposal_id: id.clone(), awaiting_since: *since, expiry_hours: site.policy.approvals.expiry_hours }),
            now,
            gate_agent(),
        );
        if let Some(prev) = site.previous(id, "previous")? {
            r = r.derived_from(prev);
        }
        site.stage(&r)?;
    }
    site.commit()?;
    Ok(site.gate.expire_due(now_s)?)
}

fn summary(p: &Proposal, site: &Inner) -> ProposalSummary {
    ProposalSummary {
        id: p.facts.id.clone(),
        status: p.status,
        kind: p.facts.kind.clone(),
        machine: p.facts.machine.clone(),
        subsystem: p.facts.subsystem.clone(),
        deviation_mm: p.facts.deviation_mm.abs(),
        initiated_by: p.facts.initiated_by.actor(),
        created_at: p.created_at,
        approvals: p.approvals.len(),
        required: p.requirement.as_ref().map(|_| p.effective_rule(&site.policy).required),
    }
}

fn no_proposal(id: &str) -> SiteError {
    SiteError::not_found(format!("no proposal {id}; `fos gate list` shows them"))
}

/// The ledger index of the record that approved proposal `id`: a person's final approval or the policy's
/// automatic decision, whichever came last.
fn approval_record(site: &Inner, id: &str) -> Option<u64> {
    site.records.iter().enumerate().rev().find_map(|(i, (_, r))| match &r.body {
        Body::Approval(s) if s.proposal_id == id && s.status == Status::Approved => Some(i as u64),
        Body::Decision(d) if d.proposal_id == id && d.status == Status::AutoApproved => Some(i as u64),
        _ => None,
    })
}

/// The action of proposal `id`, from its ledger record.
fn ledger_action(site: &Inner, id: &str) -> Option<Action> {
    site.records.iter().find_map(|(_, r)| match &r.body {
        Body::Proposal(e) if e.proposal_id == id => Some(e.action.clone()),
        _ => None,
    })
}

impl Site {
    /// Proposes a change; the policy decides whether it applies automatically or waits for approval.
    /// A malformed proposal is recorded as `rejected` (see [`Proposed::status`]).
    pub fn propose(&self, by: Proposer<'_>, req: &ProposeRequest) -> Result<Proposed> {
        self.with(|site| {
            let now = now_ms();
            let now_s = now / 1000;
            sweep_expired(site, now_s, now)?;
            let (initiator, agent, proposer_ref) = match by {
                Proposer::Person(user) => {
                    site.check_actor(user)?;
                    if user.role() == Role::Auditor {
                        return Err(SiteError::forbidden(format!(
                            "{} is an auditor: auditors read, they do not propose",
                            user.name()
                        )));
                    }
                    (Initiator::Person(user.name().to_owned()), person(user), site.user_ref(user.name(), "proposer")?)
                }
                Proposer::Model(spec) => {
                    let agent = Agent::model(spec).map_err(bad)?;
                    (Initiator::Ai { model: agent.id().trim_start_matches("ai:").to_owned() }, agent, None)
                }
            };
            let id = req.id.clone().unwrap_or_else(|| next_id(site));
            fos_gate::validate_proposal_id(&id).map_err(|p| SiteError::bad_request(format!("proposal id {id:?} {p}")))?;
            if let Some(p) = site.gate.proposal(&id) {
                return Err(SiteError::conflict(format!("proposal {id} already exists ({}); use another --id", p.status)));
            }
            if let Some(i) = site.last_about(&id) {
                return Err(SiteError::conflict(format!(
                    "the ledger already holds records about {id} (record {i}); use another --id"
                )));
            }
            let (action, extras) = build_action(&req.action, &req.evidence, &id)?;
            let machine = match (&req.action, &action) {
                (ActionSpec::DriverWrite { machine: Some(m), .. }, _) => m.clone(),
                (_, Action::DriverWrite { device, .. }) => DeviceUrl::parse(device).map_err(bad)?.endpoint(),
                (_, _) => action.machine().to_owned(),
            };
            let facts = ProposalFacts {
                id: id.clone(),
                kind: action.kind().to_owned(),
                machine: machine.clone(),
                subsystem: req.subsystem.clone(),
                tags: req.tags.clone(),
                deviation_mm: action.deviation_mm(),
                initiated_by: initiator,
                payload_hash: action.payload_hash(),
            };
            let cumulative = site.gate.cumulative_mm(&machine);
            let halted = site.gate.is_halted();
            let decision = decide(&site.policy, &facts, cumulative, halted);
            let status = status_of(&decision);

            // Payload files first: the ledger never cites content that is not kept.
            if !extras.payloads.is_empty() {
                let dir = site.paths.payloads();
                fs::create_dir_all(&dir).map_err(|e| SiteError::io(format!("cannot create {}", dir.display()), e))?;
                for (name, text) in &extras.payloads {
                    write_file(&dir.join(name), text.as_bytes())?;
                }
            }
            let entity = ProposalEntity {
                proposal_id: id.clone(),
                predicted_effect: action.predicted_effect(),
                payload_hash: action.payload_hash_hex(),
                deviation_mm: action.deviation_mm(),
                machine: machine.clone(),
                subsystem: req.subsystem.clone(),
                tags: req.tags.clone(),
                rationale: req.reason.clone(),
                action: action.clone(),
            };
            let mut proposal = Record::new(Body::Proposal(Box::new(entity)), now, agent.clone());
            if let Some(r) = proposer_ref {
                proposal = proposal.used(r);
            }
            for (h, entity, role) in &extras.inputs {
                proposal = proposal.used(Ref::content(*h, entity.clone(), role.clone()));
            }
            let (pi, pl) = site.stage(&proposal)?;
            let decided = Record::new(
                Body::Decision(DecisionEntity {
                    proposal_id: id.clone(),
                    status,
                    decision: decision.clone(),
                    deviation_mm: facts.deviation_mm.abs(),
                    cumulative_before_mm: cumulative,
                    tolerance_mm: site.policy.tolerance_mm,
                    halted,
                }),
                now,
                gate_agent(),
            )
            .used(site.policy_ref())
            .derived_from(Ref::record(pi, pl, "proposal"));
            let (di, _) = site.stage(&decided)?;
            site.commit()?;

            let step = site.gate.propose(facts, now_s).map_err(|e| {
                SiteError::internal(
                    format!("proposal {id} is in the ledger (records {pi}, {di}) but the gate's working state could not record it"),
                    e,
                )
            })?;
            if step.to != status {
                return Err(SiteError::internal_msg(format!(
                    "proposal {id}: the gate decided {} but the ledger records {status}; the gate folder disagrees with the ledger",
                    step.to
                )));
            }
            Ok(Proposed {
                id: id.clone(),
                status,
                kind: action.kind().to_owned(),
                machine,
                initiated_by: agent.id(),
                deviation_mm: action.deviation_mm(),
                cumulative_before_mm: cumulative,
                tolerance_mm: site.policy.tolerance_mm,
                payload_hash: action.payload_hash_hex(),
                decision,
                predicted_effect: action.predicted_effect(),
                records: vec![pi, di],
            })
        })
    }

    /// Every proposal, and whether the gate is stopped.
    pub fn proposals(&self) -> Result<ProposalList> {
        self.with(|site| {
            Ok(ProposalList {
                halted: site.gate.is_halted(),
                halt: site.gate.halt_info().cloned(),
                proposals: site.gate.proposals().map(|p| summary(p, site)).collect(),
            })
        })
    }

    /// Whether the gate is stopped, by whom, and the last resume.
    pub fn gate_status(&self) -> Result<GateStatus> {
        self.with(|site| {
            Ok(GateStatus {
                halted: site.gate.is_halted(),
                halt: site.gate.halt_info().cloned(),
                last_resume: site.gate.last_resume().cloned(),
            })
        })
    }

    /// One proposal: its action, status, approvals and ledger records.
    pub fn proposal(&self, id: &str) -> Result<ProposalDetail> {
        self.with(|site| {
            let p = site.gate.proposal(id).ok_or_else(|| no_proposal(id))?;
            let records: Vec<RecordLine> = site
                .records
                .iter()
                .enumerate()
                .filter(|(_, (_, r))| r.about.iter().any(|x| x == id))
                .map(|(i, (_, r))| RecordLine {
                    index: i as u64,
                    kind: r.kind().to_owned(),
                    time: r.time.clone(),
                    actor: r.actor.id(),
                    summary: r.body.summary(),
                })
                .collect();
            let action = ledger_action(site, id);
            Ok(ProposalDetail {
                id: id.to_owned(),
                status: p.status,
                proposal: p.clone(),
                executable: action.as_ref().map(Action::render),
                predicted_effect: action.as_ref().map(Action::predicted_effect),
                action,
                records,
            })
        })
    }

    /// Approves, rejects or reverses proposal `id`, signing its exact payload hash with `user`'s key.
    /// A rejection or reversal needs a reason.
    pub fn decide(&self, user: &AuthenticatedUser, id: &str, verdict: Verdict, reason: &str) -> Result<VerdictOut> {
        if verdict != Verdict::Approve && reason.trim().is_empty() {
            return Err(SiteError::bad_request(format!("--reason is required to {verdict}")));
        }
        self.with(|site| {
            let now = now_ms();
            let now_s = now / 1000;
            sweep_expired(site, now_s, now)?;
            site.check_actor(user)?;
            let p = site.gate.proposal(id).ok_or_else(|| no_proposal(id))?.clone();
            let signed = Approval::sign(user, id, p.facts.payload_hash, verdict, now_s, reason);
            let event = match verdict {
                Verdict::Approve => Event::Approve(signed.clone()),
                Verdict::Reject => Event::Reject(signed.clone()),
                Verdict::Reverse => Event::Reverse(signed.clone()),
            };
            let ctx = Context {
                policy: &site.policy,
                directory: &site.users,
                now: now_s,
                halted: site.gate.is_halted(),
                cumulative_mm: site.gate.cumulative_mm(&p.facts.machine),
            };
            let step = transition(&p, &event, &ctx).map_err(|e| {
                let msg = format!("refused: {e}");
                match transition_kind(&e) {
                    ErrorKind::Forbidden => SiteError::forbidden(msg),
                    ErrorKind::Conflict => SiteError::conflict(msg),
                    ErrorKind::BadRequest => SiteError::bad_request(msg),
                    _ => SiteError::internal(msg, e),
                }
            })?;
            if !step.applied {
                // Expired before the verdict could apply: record the expiry instead.
                sweep_expired(site, now_s, now)?;
                return Err(SiteError::conflict(format!(
                    "refused: proposal {id} expired (waited longer than {} h); propose it again",
                    site.policy.approvals.expiry_hours
                )));
            }
            let approvals = p.approvals.len() as u32 + u32::from(matches!(step.change, Change::Approval(_)));
            let required = p.effective_rule(&site.policy).required;
            let entity = Signed { proposal_id: id.to_owned(), role: user.role(), signature: signed, status: step.to, approvals, required };
            let body = match verdict {
                Verdict::Approve => Body::Approval(entity),
                Verdict::Reject => Body::Rejection(entity),
                Verdict::Reverse => Body::Reversal(entity),
            };
            let mut record = Record::new(body, now, person(user));
            if let Some(r) = site.user_ref(user.name(), "signer")? {
                record = record.used(r);
            }
            if let Some(r) = site.previous(id, "previous")? {
                record = record.derived_from(r);
            }
            let (index, _) = site.stage(&record)?;
            site.commit()?;
            let users = &site.users;
            let applied = site.gate.apply(id, event, users, now_s).map_err(|e| {
                SiteError::internal(
                    format!("the {verdict} is in the ledger (record {index}) but the gate's working state could not record it"),
                    e,
                )
            })?;
            Ok(VerdictOut {
                id: id.to_owned(),
                status: applied.to,
                verdict,
                by: user.name().to_owned(),
                approvals,
                required,
                record: index,
                note: applied.note,
            })
        })
    }

    /// Stops the gate: AI-initiated automatic approvals are held for a person, nothing executes, no
    /// approval is accepted. Stopping a stopped gate records nothing.
    pub fn stop(&self, user: &AuthenticatedUser, reason: &str) -> Result<StopOut> {
        self.with(|site| {
            let now = now_ms();
            let now_s = now / 1000;
            sweep_expired(site, now_s, now)?;
            site.check_actor(user)?;
            if !site.policy.stop.halt_roles.contains(&user.role()) {
                return Err(SiteError::forbidden(format!(
                    "refused: {} is {} and may not stop the gate (policy stop.halt_roles)",
                    user.name(),
                    user.role()
                )));
            }
            if let Some(h) = site.gate.halt_info() {
                return Ok(StopOut { halted: true, held: vec![], record: None, already: Some(h.clone()), warning: None });
            }
            let held: Vec<String> = site
                .gate
                .proposals()
                .filter(|p| p.status == Status::AutoApproved && p.facts.initiated_by.is_ai())
                .map(|p| p.facts.id.clone())
                .collect();
            let mut record = Record::new(Body::Stop(Stop { reason: reason.to_owned(), held: held.clone() }), now, person(user))
                .about(held.iter().cloned());
            if let Some(r) = site.user_ref(user.name(), "stopped-by")? {
                record = record.used(r);
            }
            for id in &held {
                if let Some(r) = site.previous(id, "held-proposal")? {
                    record = record.derived_from(r);
                }
            }
            let (index, _) = site.stage(&record)?;
            site.commit()?;
            let mut done = site.gate.halt(user, reason, now_s)?;
            done.sort();
            let mut expected = held.clone();
            expected.sort();
            let warning = (done != expected).then(|| format!("the gate held {done:?} where the ledger records {expected:?}"));
            Ok(StopOut { halted: true, held, record: Some(index), already: None, warning })
        })
    }

    /// Resumes a stopped gate (held actions stay held until approved). Resuming a running gate records
    /// nothing.
    pub fn resume(&self, user: &AuthenticatedUser, reason: &str) -> Result<ResumeOut> {
        self.with(|site| {
            let now = now_ms();
            let now_s = now / 1000;
            sweep_expired(site, now_s, now)?;
            site.check_actor(user)?;
            if !site.policy.stop.resume_roles.contains(&user.role()) {
                return Err(SiteError::forbidden(format!(
                    "refused: {} is {} and may not resume the gate (policy stop.resume_roles)",
                    user.name(),
                    user.role()
                )));
            }
            if !site.gate.is_halted() {
                return Ok(ResumeOut { halted: false, record: None });
            }
            let mut record = Record::new(Body::Resume(Resume { reason: reason.to_owned() }), now, person(user));
            if let Some(r) = site.user_ref(user.name(), "resumed-by")? {
                record = record.used(r);
            }
            if let Some(i) = site.records.iter().rposition(|(_, r)| matches!(r.body, Body::Stop(_))) {
                record = record.derived_from(site.reference(i as u64, "stop")?);
            }
            let (index, _) = site.stage(&record)?;
            site.commit()?;
            site.gate.resume(user, reason, now_s)?;
            Ok(ResumeOut { halted: false, record: Some(index) })
        })
    }

    /// Carries out an approved proposal: a driver write through a gate permit, or the G-code / weld plan
    /// under `DIR/out/`. `user`: the person carrying it out (not an auditor); `None`: the gate's executor
    /// acts on its own. The capability is issued only against the durable ledger record of the approval,
    /// and recorded before the action; the outcome is recorded after it. A failed action is a result
    /// (`status: failed`), not an error. Blocks for at most `timeout` per device connect and request.
    pub fn execute(&self, user: Option<&AuthenticatedUser>, id: &str, timeout: Duration) -> Result<ExecuteOut> {
        self.with(|site| {
            let now = now_ms();
            let now_s = now / 1000;
            sweep_expired(site, now_s, now)?;
            let actor = match user {
                Some(user) => {
                    site.check_actor(user)?;
                    if user.role() == Role::Auditor {
                        return Err(SiteError::forbidden(format!(
                            "{} is an auditor: auditors read, they do not execute",
                            user.name()
                        )));
                    }
                    person(user)
                }
                None => Agent::System { name: "executor".to_owned() },
            };
            let p = site.gate.proposal(id).ok_or_else(|| no_proposal(id))?.clone();
            if let Some(h) = site.gate.halt_info() {
                return Err(SiteError::conflict(format!(
                    "refused: the gate is stopped (by {} at {}: {}); nothing executes until it is resumed",
                    h.by, h.at, h.reason
                )));
            }
            let token = site.gate.approved_token(id, &site.users).map_err(|e| from_gate(e, "refused"))?;
            let action = ledger_action(site, id)
                .ok_or_else(|| SiteError::internal_msg(format!("refused: the ledger holds no proposal record for {id}")))?;
            if action.payload_hash() != p.facts.payload_hash {
                return Err(SiteError::internal_msg(format!(
                    "refused: the ledger's action for {id} does not hash to the approved payload; run `fos audit verify`"
                )));
            }
            let approval = approval_record(site, id).ok_or_else(|| {
                SiteError::conflict(format!("refused: the ledger holds no approval of {id}; nothing executes without one"))
            })?;
            let durability = LedgerDurability { record_index: approval, committed_size: site.ledger.len() };
            let cap = site.gate.execution_capability(token, durability, now_s).map_err(|e| from_gate(e, "refused"))?;
            let target = target_of(&action, id);
            let capability = Record::new(
                Body::Capability(Capability {
                    proposal_id: id.to_owned(),
                    payload_hash: hex(cap.payload_hash()),
                    approval_record: approval,
                    approved_by: cap.approved_by().to_vec(),
                    issued_at: cap.issued_at(),
                    not_after: cap.not_after(),
                    target: target.clone(),
                }),
                now,
                actor.clone(),
            )
            .used(site.reference(approval, "approval")?);
            let capability = match site.previous(id, "previous")? {
                Some(r) if !matches!(&r, Ref::Record { index, .. } if *index == approval) => capability.derived_from(r),
                _ => capability,
            };
            let (ci, cl) = site.stage(&capability)?;
            site.commit()?;
            site.gate.confirm(&cap, now_ms() / 1000).map_err(|e| from_gate(e, "refused"))?;

            let outcome = perform(site, &cap, &action, timeout);
            let status = if outcome.ok { Status::Executed } else { Status::Failed };
            let record = Record::new(
                Body::Execution(Execution {
                    proposal_id: id.to_owned(),
                    payload_hash: hex(cap.payload_hash()),
                    status,
                    detail: outcome.detail.clone(),
                    target: target.clone(),
                    outputs: outcome.outputs.clone(),
                    writes: outcome.writes.clone(),
                }),
                now_ms(),
                actor,
            )
            .derived_from(Ref::record(ci, cl, "capability"));
            let (ei, _) = site.stage(&record)?;
            site.commit()?;
            let report = cap.report(outcome.ok, outcome.detail.clone());
            let users = &site.users;
            site.gate.apply(id, Event::Execute(report), users, now_ms() / 1000).map_err(|e| {
                SiteError::internal(
                    format!("the outcome is in the ledger (record {ei}) but the gate's working state could not record it"),
                    e,
                )
            })?;
            Ok(ExecuteOut {
                id: id.to_owned(),
                status,
                detail: outcome.detail,
                target,
                outputs: outcome.outputs,
                approval_record: approval,
                capability_record: ci,
                execution_record: ei,
            })
        })
    }
}

/// What an execution did.
struct Outcome {
    ok: bool,
    detail: String,
    outputs: Vec<Artifact>,
    writes: Vec<DeviceWrite>,
}

/// Writes `value` to `address` on `device` through a permit signed by the gate for exactly that write.
/// The write runs on its own thread with its own runtime, so this is safe to call from any context
/// (including a thread that is inside another async runtime).
fn permit_write(
    site: &Inner,
    cap: &ExecutionCapability,
    device: &str,
    address: &str,
    value: &serde_json::Value,
    timeout: Duration,
    check: Option<(f64, f64)>,
) -> std::result::Result<(), String> {
    let endpoint = DeviceUrl::parse(device).map_err(|e| e.to_string())?.endpoint();
    let typed: fos_connect::Value =
        serde_json::from_value(value.clone()).map_err(|e| format!("value {value} cannot be written: {e}"))?;
    let valid_for = Duration::from_secs(cap.not_after().saturating_sub(now_ms() / 1000).max(1));
    let permit = WritePermit::issue(site.gate_key(), cap.proposal_id(), endpoint, address, typed, valid_for, cap.approved_by().to_vec());
    let options =
        ConnectOptions { timeout, min_request_gap: Duration::ZERO, write_access: WriteAccess::Gate(site.gate_public_key()) };
    let mut conn = Connection::new(device, options).map_err(|e| e.to_string())?;
    let work = move || -> std::result::Result<(), String> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the async runtime: {e}"))?;
        rt.block_on(async {
            if let Some((expected, tolerance)) = check {
                // Compare-and-set: the absolute value is right only while the controller holds what the
                // proposal assumed.
                let s = conn.read_once(&[address.to_owned()]).await.map_err(|e| e.to_string())?;
                let held = s.first().and_then(|s| s.value.as_ref()).and_then(fos_connect::Value::as_f64);
                match held {
                    Some(v) if (v - expected).abs() <= tolerance => {}
                    Some(v) => {
                        return Err(format!(
                            "{address} on {device} holds {v} mm, not the {expected} mm the proposal assumed; nothing written, propose again"
                        ))
                    }
                    None => return Err(format!("cannot read {address} on {device} before writing; nothing written")),
                }
            }
            conn.write(&permit).await.map_err(|e| e.to_string())
        })
    };
    std::thread::scope(|s| s.spawn(work).join().unwrap_or_else(|_| Err("the device write panicked".to_owned())))
}

fn perform(site: &Inner, cap: &ExecutionCapability, action: &Action, timeout: Duration) -> Outcome {
    let id = cap.proposal_id().to_owned();
    let mut out = Outcome { ok: true, detail: String::new(), outputs: Vec::new(), writes: Vec::new() };
    let result: std::result::Result<String, String> = (|| {
        let write_out = |name: String, bytes: &[u8], out: &mut Outcome| -> std::result::Result<(), String> {
            let dir = site.paths.out();
            fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
            write_file(&dir.join(&name), bytes).map_err(|e| e.to_string())?;
            out.outputs.push(Artifact { path: format!("out/{name}"), sha256: hex(&sha256(bytes)) });
            Ok(())
        };
        match action {
            Action::DriverWrite { device, address, value } => {
                out.writes.push(DeviceWrite { device: device.clone(), address: address.clone(), value: value.clone() });
                permit_write(site, cap, device, address, value, timeout, None)?;
                Ok(format!("wrote {value} to {address} on {device}"))
            }
            Action::ToolOffset(c) => {
                let text = c.emit(&OffsetLimits::default()).map_err(|e| e.to_string())?;
                write_out(format!("{id}.nc"), text.as_bytes(), &mut out)?;
                let mut detail = format!("G-code written to out/{id}.nc");
                if let Some(tag) = &c.device_tag {
                    let value = serde_json::Value::from(c.written_value_mm());
                    out.writes.push(DeviceWrite { device: tag.device.clone(), address: tag.address.clone(), value: value.clone() });
                    permit_write(site, cap, &tag.device, &tag.address, &value, timeout, Some((c.current_mm, 5e-5)))?;
                    detail.push_str(&format!("; {} mm written to {} on {}", c.written_value_mm(), tag.address, tag.device));
                }
                Ok(detail)
            }
            Action::WorkOffset(c) => {
                let text = c.emit(&OffsetLimits::default()).map_err(|e| e.to_string())?;
                write_out(format!("{id}.nc"), text.as_bytes(), &mut out)?;
                Ok(format!("G-code written to out/{id}.nc"))
            }
            Action::ToolpathCorrection { corrected_hash, program_hash, delta_mm, .. } => {
                let dir = site.paths.payloads();
                let read = |name: String| {
                    fs::read_to_string(dir.join(&name))
                        .map_err(|e| format!("cannot read the kept program {}: {e}", dir.join(name).display()))
                };
                let (orig, text) = (read(format!("{id}.orig.nc"))?, read(format!("{id}.nc"))?);
                if &hex(&sha256(text.as_bytes())) != corrected_hash || &hex(&sha256(orig.as_bytes())) != program_hash {
                    return Err(format!(
                        "the kept program files of {id} no longer hash to what was approved (altered); nothing written"
                    ));
                }
                let parsed = fos_act::parse(&orig).map_err(|e| e.to_string())?;
                let report = fos_act::verify(&parsed, &text, *delta_mm).map_err(|e| e.to_string())?;
                write_out(format!("{id}.nc"), text.as_bytes(), &mut out)?;
                Ok(format!("corrected program verified again ({} points) and written to out/{id}.nc", report.moves_checked))
            }
            Action::WeldReroute { cell, plan, .. } => {
                let text = serde_json::to_vec_pretty(plan).map_err(|e| e.to_string())?;
                write_out(format!("{id}.weld.json"), &text, &mut out)?;
                Ok(format!("weld sequence for cell {cell} written to out/{id}.weld.json"))
            }
        }
    })();
    match result {
        Ok(d) => out.detail = d,
        Err(e) => {
            out.ok = false;
            out.detail = e;
        }
    }
    out
}

fn target_of(action: &Action, id: &str) -> String {
    match action {
        Action::DriverWrite { device, address, .. } => format!("{device} {address}"),
        Action::ToolOffset(ToolOffsetCorrection { device_tag: Some(t), .. }) => format!("out/{id}.nc; {} {}", t.device, t.address),
        Action::ToolOffset(_) | Action::WorkOffset(_) | Action::ToolpathCorrection { .. } => format!("out/{id}.nc"),
        Action::WeldReroute { .. } => format!("out/{id}.weld.json"),
    }
}
