//! `fos gate propose|list|show|approve|reject|reverse|stop|resume|execute`: the safety gate on the command
//! line, every step recorded in the provenance ledger before it is reported.
//!
//! **Who proposes.** A proposal is initiated either by a person (`--user NAME`, authenticated with
//! `FOS_PASSWORD`; auditors only read and cannot propose) or by an AI model (`--model NAME@VERSION`, no
//! password: a model has no account, and what vouches for it is the operating-system account that runs
//! `fos` with write access to the data directory). The policy treats them alike within the tolerance,
//! with two differences: a proposer never approves their own proposal (so a person's proposal beyond the
//! tolerance needs *another* person), and while the gate is stopped an AI-initiated proposal is never
//! auto-approved and AI-initiated auto-approvals are held for a person, whereas a person's proposal is
//! decided as usual but, like everything else, cannot execute until the gate is resumed.
//!
//! **Order of effects.** Each command checks everything it can first (a refused command records
//! nothing), then appends its provenance records to the ledger (durable, under a signed checkpoint), then
//! updates the gate's working state under `DIR/gate/` and reports. `execute` obtains an execution
//! capability only against the ledger index of the record that approved the proposal
//! (`fos_gate::LedgerDurability`), records the capability before it acts, and records the outcome after.
//! Proposals past their expiry are expired (and recorded) at the start of every command that changes the
//! gate.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{anyhow, bail, Context as _, Result};
use clap::{Args, Subcommand};
use fos_act::gcode::WorkOffset;
use fos_act::offset::{DeviceTag, OffsetLimits, ToolOffsetCorrection, ToolOffsetKind, WorkOffsetCorrection};
use fos_act::weld::{Cell, Objective, Plan};
use fos_act::Action;
use fos_connect::{ConnectOptions, Connection, DeviceUrl, WriteAccess, WritePermit};
use fos_gate::{
    decide, transition, Approval, Change, Context, Decision, Event, ExecutionCapability, Initiator, LedgerDurability,
    Proposal, ProposalFacts, Role, Status, Verdict,
};
use fos_prov::{
    hex, Agent, Artifact, Body, Capability, DecisionEntity, DeviceWrite, Execution, Expiry, ProposalEntity, Record, Ref,
    Resume, Signed, Stop,
};
use serde::Serialize;

use crate::site::{authenticate, gate_agent, now_ms, person, sha256, Site, DEFAULT_DATA_DIR};

/// The safety gate.
#[derive(Debug, Args)]
pub(crate) struct GateArgs {
    #[command(subcommand)]
    command: GateCommand,
}

#[derive(Debug, Subcommand)]
enum GateCommand {
    /// Propose a change (tool-offset, work-offset, toolpath, weld-reroute or write); the policy decides
    /// whether it applies automatically or waits for approval.
    Propose(Box<ProposeArgs>),
    /// List proposals and whether the gate is stopped.
    List(ListArgs),
    /// One proposal: its action, status, approvals and ledger records.
    Show(ShowArgs),
    /// Approve a proposal, signing its exact payload hash with your key.
    Approve(VerdictArgs),
    /// Veto a proposal (--reason required).
    Reject(VerdictArgs),
    /// Record that an executed proposal was reversed (--reason required).
    Reverse(VerdictArgs),
    /// Stop the gate: AI-initiated actions are held, nothing executes, no approval is accepted.
    Stop(StopArgs),
    /// Resume a stopped gate (held actions stay held until approved).
    Resume(StopArgs),
    /// Carry out an approved proposal: a driver write through a gate permit, or the G-code / weld plan
    /// under DIR/out/.
    Execute(ExecuteArgs),
}

#[derive(Debug, Args)]
struct Common {
    /// The data directory.
    #[arg(long, value_name = "DIR", default_value = DEFAULT_DATA_DIR)]
    data_dir: PathBuf,
    /// One JSON object on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct ProposeArgs {
    /// tool-offset, work-offset, toolpath, weld-reroute or write (driver-write).
    #[arg(long)]
    kind: String,
    /// The machine (or welding cell); the tolerance is counted per machine. Default for write: the device.
    #[arg(long)]
    machine: Option<String>,
    /// The correction in mm: one value (along --axis for work-offset and toolpath), or X,Y,Z.
    #[arg(long, allow_hyphen_values = true)]
    delta_mm: Option<String>,
    /// The axis of a single --delta-mm / --current-mm for work-offset and toolpath.
    #[arg(long, default_value = "z")]
    axis: String,
    /// What the controller holds now, mm (tool-offset: one value; work-offset: one value along --axis, or X,Y,Z).
    #[arg(long, allow_hyphen_values = true)]
    current_mm: Option<String>,
    /// Tool offset number (P).
    #[arg(long, default_value_t = 1)]
    tool: u32,
    /// length-wear, radius-wear, length-geometry or radius-geometry.
    #[arg(long, default_value = "length-wear")]
    offset_kind: String,
    /// G54 … G59.
    #[arg(long, default_value = "G54")]
    work_offset: String,
    /// The G-code program to correct (toolpath).
    #[arg(long)]
    program: Option<PathBuf>,
    /// The welding cell: JSON {"cell": {torches, welds, precedence, …}, "current_plan": {"sequences": …},
    /// "objective": {…} (optional)} (weld-reroute).
    #[arg(long)]
    cell: Option<PathBuf>,
    /// Device URL (write; or, for tool-offset, the controller tag that holds the offset).
    #[arg(long)]
    device: Option<String>,
    /// Address on the device (write; tool-offset with --device).
    #[arg(long)]
    address: Option<String>,
    /// The value to write (write): an integer, a number, true/false or text.
    #[arg(long, allow_hyphen_values = true)]
    value: Option<String>,
    /// The subsystem touched (e.g. brake-caliper-casting).
    #[arg(long)]
    subsystem: Option<String>,
    /// Free tags (repeatable); `safety-critical` makes it safety-critical.
    #[arg(long = "tag")]
    tags: Vec<String>,
    /// A person proposing (password in FOS_PASSWORD).
    #[arg(long, conflicts_with = "model")]
    user: Option<String>,
    /// An AI model proposing, NAME@VERSION.
    #[arg(long)]
    model: Option<String>,
    /// The proposal id (default p-NNNN, the next free number).
    #[arg(long)]
    id: Option<String>,
    /// Why, in words (recorded).
    #[arg(long, default_value = "")]
    reason: String,
    /// SHA-256 (hex) of an input the proposal rests on, such as a waveform block's content hash (repeatable).
    #[arg(long = "evidence")]
    evidence: Vec<String>,
    #[command(flatten)]
    common: Common,
}

#[derive(Debug, Args)]
struct ListArgs {
    #[command(flatten)]
    common: Common,
}

#[derive(Debug, Args)]
struct ShowArgs {
    /// The proposal id.
    id: String,
    #[command(flatten)]
    common: Common,
}

#[derive(Debug, Args)]
struct VerdictArgs {
    /// The proposal id.
    id: String,
    /// The person deciding (password in FOS_PASSWORD).
    #[arg(long)]
    user: String,
    /// Why (signed with the verdict; required to reject or reverse).
    #[arg(long, default_value = "")]
    reason: String,
    #[command(flatten)]
    common: Common,
}

#[derive(Debug, Args)]
struct StopArgs {
    /// The person stopping or resuming (password in FOS_PASSWORD).
    #[arg(long)]
    user: String,
    /// Why.
    #[arg(long)]
    reason: String,
    #[command(flatten)]
    common: Common,
}

#[derive(Debug, Args)]
struct ExecuteArgs {
    /// The proposal id.
    id: String,
    /// The person carrying it out (optional; otherwise the gate acts on its own).
    #[arg(long)]
    user: Option<String>,
    /// Timeout per device connect and request, ms.
    #[arg(long, default_value_t = 3000)]
    timeout_ms: u64,
    #[command(flatten)]
    common: Common,
}

pub(crate) fn run(a: GateArgs) -> Result<ExitCode> {
    match a.command {
        GateCommand::Propose(a) => propose(*a),
        GateCommand::List(a) => list(a),
        GateCommand::Show(a) => show(a),
        GateCommand::Approve(a) => verdict(a, Verdict::Approve),
        GateCommand::Reject(a) => verdict(a, Verdict::Reject),
        GateCommand::Reverse(a) => verdict(a, Verdict::Reverse),
        GateCommand::Stop(a) => stop(a),
        GateCommand::Resume(a) => resume(a),
        GateCommand::Execute(a) => execute(a),
    }
}

fn print<T: Serialize>(json: bool, value: &T, text: impl FnOnce() -> String) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string(value)?);
    } else {
        println!("{}", text());
    }
    Ok(())
}

/// Expires (and records) every proposal past its expiry.
fn sweep_expired(site: &mut Site, now_s: u64, now: u64) -> Result<Vec<String>> {
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

fn parse_xyz(text: &str, axis: &str, what: &str) -> Result<[f64; 3]> {
    let parts: Vec<&str> = text.split(',').map(str::trim).collect();
    let num = |s: &str| -> Result<f64> {
        let v: f64 = s.parse().map_err(|_| anyhow!("{what} {text:?}: {s:?} is not a number of millimetres"))?;
        if !v.is_finite() {
            bail!("{what} {text:?}: not a finite number");
        }
        Ok(v)
    };
    match parts.as_slice() {
        [one] => {
            let a = match axis.to_ascii_lowercase().as_str() {
                "x" => 0,
                "y" => 1,
                "z" => 2,
                other => bail!("--axis {other:?}: use x, y or z"),
            };
            let mut v = [0.0; 3];
            v[a] = num(one)?;
            Ok(v)
        }
        [x, y, z] => Ok([num(x)?, num(y)?, num(z)?]),
        _ => bail!("{what} {text:?}: give one value or three (X,Y,Z)"),
    }
}

fn single(text: &str, what: &str) -> Result<f64> {
    let v: f64 = text.trim().parse().map_err(|_| anyhow!("{what} {text:?} is not a number of millimetres"))?;
    if !v.is_finite() {
        bail!("{what} {text:?} is not a finite number");
    }
    Ok(v)
}

/// A value given on the command line as JSON: an integer, a number, true/false, or text.
fn parse_value(text: &str) -> serde_json::Value {
    if let Ok(i) = text.parse::<i64>() {
        return serde_json::Value::from(i);
    }
    if let Ok(u) = text.parse::<u64>() {
        return serde_json::Value::from(u);
    }
    if let Some(n) = text.parse::<f64>().ok().filter(|f| f.is_finite()).and_then(serde_json::Number::from_f64) {
        return serde_json::Value::Number(n);
    }
    match text {
        "true" => serde_json::Value::Bool(true),
        "false" => serde_json::Value::Bool(false),
        _ => serde_json::Value::String(text.to_owned()),
    }
}

fn required<'a>(v: &'a Option<String>, flag: &str, kind: &str) -> Result<&'a str> {
    v.as_deref().ok_or_else(|| anyhow!("--kind {kind} needs {flag}"))
}

/// What a proposal carries besides its action: files to keep and inputs to cite.
#[derive(Default)]
struct Extras {
    /// Files to write under DIR/gate/payloads before the proposal is logged: (name, content).
    payloads: Vec<(String, String)>,
    /// Inputs cited by content hash: (sha256, entity, role).
    inputs: Vec<([u8; 32], String, String)>,
}

/// Builds the action of a proposal from the flags.
fn build_action(a: &ProposeArgs, id: &str) -> Result<(Action, Extras)> {
    let mut extras = Extras::default();
    let kind = a.kind.as_str();
    let machine = || a.machine.clone().ok_or_else(|| anyhow!("--kind {kind} needs --machine"));
    let action = match kind {
        "tool-offset" => {
            let offset_kind = match a.offset_kind.as_str() {
                "length-wear" => ToolOffsetKind::LengthWear,
                "radius-wear" => ToolOffsetKind::RadiusWear,
                "length-geometry" => ToolOffsetKind::LengthGeometry,
                "radius-geometry" => ToolOffsetKind::RadiusGeometry,
                other => bail!("--offset-kind {other:?}: use length-wear, radius-wear, length-geometry or radius-geometry"),
            };
            let device_tag = match (&a.device, &a.address) {
                (Some(device), Some(address)) => {
                    DeviceUrl::parse(device)?;
                    Some(DeviceTag { device: device.clone(), address: address.clone() })
                }
                (None, None) => None,
                _ => bail!("--kind tool-offset: give both --device and --address for the controller tag, or neither"),
            };
            let c = ToolOffsetCorrection {
                machine: machine()?,
                tool_offset_number: a.tool,
                kind: offset_kind,
                current_mm: a.current_mm.as_deref().map(|t| single(t, "--current-mm")).transpose()?.unwrap_or(0.0),
                delta_mm: single(required(&a.delta_mm, "--delta-mm", kind)?, "--delta-mm")?,
                device_tag,
            };
            c.emit(&OffsetLimits::default()).context("the tool offset correction is refused")?;
            Action::ToolOffset(c)
        }
        "work-offset" => {
            let work_offset = WorkOffset::ALL
                .into_iter()
                .find(|w| format!("G{}", w.g_code()).eq_ignore_ascii_case(a.work_offset.trim()))
                .ok_or_else(|| anyhow!("--work-offset {:?}: use G54 … G59", a.work_offset))?;
            if a.device.is_some() {
                bail!("--kind work-offset: a device tag holds one value, a work offset three; write it through --kind write");
            }
            let c = WorkOffsetCorrection {
                machine: machine()?,
                work_offset,
                current_mm: a.current_mm.as_deref().map(|t| parse_xyz(t, &a.axis, "--current-mm")).transpose()?.unwrap_or([0.0; 3]),
                delta_mm: parse_xyz(required(&a.delta_mm, "--delta-mm", kind)?, &a.axis, "--delta-mm")?,
            };
            c.emit(&OffsetLimits::default()).context("the work offset correction is refused")?;
            Action::WorkOffset(c)
        }
        "toolpath" => {
            let path = a.program.as_ref().ok_or_else(|| anyhow!("--kind toolpath needs --program FILE"))?;
            let text = fs::read_to_string(path).with_context(|| format!("cannot read the program {}", path.display()))?;
            let delta = parse_xyz(required(&a.delta_mm, "--delta-mm", kind)?, &a.axis, "--delta-mm")?;
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| path.display().to_string());
            let (action, corrected) =
                Action::toolpath(machine()?, name, &text, delta).with_context(|| format!("{}", path.display()))?;
            extras.inputs.push((sha256(text.as_bytes()), "gcode-program".into(), "input".into()));
            extras.payloads.push((format!("{id}.orig.nc"), text));
            extras.payloads.push((format!("{id}.nc"), corrected.text));
            action
        }
        "weld-reroute" => {
            let path = a.cell.as_ref().ok_or_else(|| anyhow!("--kind weld-reroute needs --cell FILE"))?;
            let bytes = fs::read(path).with_context(|| format!("cannot read the cell {}", path.display()))?;
            #[derive(serde::Deserialize)]
            #[serde(deny_unknown_fields)]
            struct CellFile {
                cell: Cell,
                current_plan: Plan,
                #[serde(default)]
                objective: Option<Objective>,
            }
            let file: CellFile = serde_json::from_slice(&bytes)
                .with_context(|| format!("{}: not a cell file ({{\"cell\": …, \"current_plan\": …}})", path.display()))?;
            let replan = fos_act::replan(&file.cell, &file.current_plan, &file.objective.unwrap_or_default())
                .with_context(|| format!("{}: cannot re-plan the cell", path.display()))?;
            extras.inputs.push((sha256(&bytes), "weld-cell".into(), "input".into()));
            Action::weld_reroute(machine()?, &replan)
        }
        "write" | "driver-write" => {
            let device = required(&a.device, "--device URL", kind)?;
            DeviceUrl::parse(device)?;
            let address = required(&a.address, "--address", kind)?;
            let value = parse_value(required(&a.value, "--value", kind)?);
            Action::DriverWrite { device: device.to_owned(), address: address.to_owned(), value }
        }
        other => bail!("--kind {other:?}: use tool-offset, work-offset, toolpath, weld-reroute or write"),
    };
    action.check()?;
    for e in &a.evidence {
        let h = fos_prov::parse_hash(&e.to_ascii_lowercase()).map_err(|p| anyhow!("--evidence: {p}"))?;
        extras.inputs.push((h, "waveform-block".into(), "evidence".into()));
    }
    Ok((action, extras))
}

/// The next free `p-NNNN`: unknown to the gate and to the ledger.
fn next_id(site: &Site) -> String {
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

#[derive(Serialize)]
struct Proposed<'a> {
    id: &'a str,
    status: Status,
    kind: &'a str,
    machine: &'a str,
    initiated_by: String,
    deviation_mm: f64,
    cumulative_before_mm: f64,
    tolerance_mm: f64,
    payload_hash: String,
    decision: &'a Decision,
    predicted_effect: &'a fos_act::Effect,
    records: Vec<u64>,
}

fn propose(a: ProposeArgs) -> Result<ExitCode> {
    let mut site = Site::open(&a.common.data_dir, false)?;
    let now = now_ms();
    let now_s = now / 1000;
    sweep_expired(&mut site, now_s, now)?;
    let (initiator, agent, proposer_ref) = match (&a.user, &a.model) {
        (Some(name), None) => {
            let user = authenticate(&site.users, name)?;
            if user.role() == Role::Auditor {
                bail!("{name} is an auditor: auditors read, they do not propose");
            }
            (Initiator::Person(name.clone()), person(&user), site.user_ref(name, "proposer")?)
        }
        (None, Some(spec)) => {
            let agent = Agent::model(spec)?;
            (Initiator::Ai { model: agent.id().trim_start_matches("ai:").to_owned() }, agent, None)
        }
        _ => bail!("say who proposes: --user NAME (a person) or --model NAME@VERSION (an AI model)"),
    };
    let id = a.id.clone().unwrap_or_else(|| next_id(&site));
    fos_gate::validate_proposal_id(&id).map_err(|p| anyhow!("proposal id {id:?} {p}"))?;
    if let Some(p) = site.gate.proposal(&id) {
        bail!("proposal {id} already exists ({}); use another --id", p.status);
    }
    if let Some(i) = site.last_about(&id) {
        bail!("the ledger already holds records about {id} (record {i}); use another --id");
    }
    let (action, extras) = build_action(&a, &id)?;
    let machine = match (&a.machine, &action) {
        (Some(m), _) => m.clone(),
        (None, Action::DriverWrite { device, .. }) => DeviceUrl::parse(device)?.endpoint(),
        (None, _) => action.machine().to_owned(),
    };
    let facts = ProposalFacts {
        id: id.clone(),
        kind: action.kind().to_owned(),
        machine: machine.clone(),
        subsystem: a.subsystem.clone(),
        tags: a.tags.clone(),
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
        fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
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
        subsystem: a.subsystem.clone(),
        tags: a.tags.clone(),
        rationale: a.reason.clone(),
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

    let step = site.gate.propose(facts, now_s).with_context(|| {
        format!("proposal {id} is in the ledger (records {pi}, {di}) but the gate's working state could not record it")
    })?;
    if step.to != status {
        bail!("proposal {id}: the gate decided {} but the ledger records {status}; the gate folder disagrees with the ledger", step.to);
    }
    let effect = action.predicted_effect();
    let out = Proposed {
        id: &id,
        status,
        kind: action.kind(),
        machine: &machine,
        initiated_by: agent.id(),
        deviation_mm: action.deviation_mm(),
        cumulative_before_mm: cumulative,
        tolerance_mm: site.policy.tolerance_mm,
        payload_hash: action.payload_hash_hex(),
        decision: &decision,
        predicted_effect: &effect,
        records: vec![pi, di],
    };
    print(a.common.json, &out, || format!("{id}: {status} — {decision}\n  {}\n  payload {}", effect.summary, out.payload_hash))?;
    Ok(if status == Status::Rejected { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

/// Writes a file atomically (temporary file, fsync, rename).
fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let result = (|| -> std::io::Result<()> {
        let mut f = fs::File::create(&tmp)?;
        std::io::Write::write_all(&mut f, bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    result.with_context(|| format!("cannot write {}", path.display()))
}

#[derive(Serialize)]
struct Listed<'a> {
    id: &'a str,
    status: Status,
    kind: &'a str,
    machine: &'a str,
    subsystem: Option<&'a str>,
    deviation_mm: f64,
    initiated_by: String,
    created_at: u64,
    approvals: usize,
    required: Option<u32>,
}

fn listed<'a>(p: &'a Proposal, site: &Site) -> Listed<'a> {
    Listed {
        id: &p.facts.id,
        status: p.status,
        kind: &p.facts.kind,
        machine: &p.facts.machine,
        subsystem: p.facts.subsystem.as_deref(),
        deviation_mm: p.facts.deviation_mm.abs(),
        initiated_by: p.facts.initiated_by.actor(),
        created_at: p.created_at,
        approvals: p.approvals.len(),
        required: p.requirement.as_ref().map(|_| p.effective_rule(&site.policy).required),
    }
}

fn list(a: ListArgs) -> Result<ExitCode> {
    let site = Site::open(&a.common.data_dir, false)?;
    let proposals: Vec<Listed<'_>> = site.gate.proposals().map(|p| listed(p, &site)).collect();
    #[derive(Serialize)]
    struct Out<'a> {
        halted: bool,
        halt: Option<&'a fos_gate::HaltInfo>,
        proposals: &'a [Listed<'a>],
    }
    let out = Out { halted: site.gate.is_halted(), halt: site.gate.halt_info(), proposals: &proposals };
    print(a.common.json, &out, || {
        let mut s = match site.gate.halt_info() {
            Some(h) => format!("gate STOPPED by {} at {}: {}\n", h.by, h.at, h.reason),
            None => String::new(),
        };
        for p in &proposals {
            s.push_str(&format!(
                "{:<12} {:<18} {:<13} {:<16} {:>9} mm  {}\n",
                p.id, p.status.as_str(), p.kind, p.machine, p.deviation_mm, p.initiated_by
            ));
        }
        if proposals.is_empty() {
            s.push_str("no proposals\n");
        }
        s.trim_end().to_owned()
    })?;
    Ok(ExitCode::SUCCESS)
}

#[derive(Serialize)]
struct RecordLine {
    index: u64,
    kind: &'static str,
    time: String,
    actor: String,
    summary: String,
}

fn show(a: ShowArgs) -> Result<ExitCode> {
    let site = Site::open(&a.common.data_dir, false)?;
    let p = site.gate.proposal(&a.id).ok_or_else(|| anyhow!("no proposal {}; `fos gate list` shows them", a.id))?;
    let records: Vec<RecordLine> = site
        .records
        .iter()
        .enumerate()
        .filter(|(_, (_, r))| r.about.iter().any(|x| x == &a.id))
        .map(|(i, (_, r))| RecordLine { index: i as u64, kind: r.kind(), time: r.time.clone(), actor: r.actor.id(), summary: r.body.summary() })
        .collect();
    let action = site.records.iter().find_map(|(_, r)| match &r.body {
        Body::Proposal(e) if e.proposal_id == a.id => Some(e.action.clone()),
        _ => None,
    });
    #[derive(Serialize)]
    struct Out<'a> {
        id: &'a str,
        status: Status,
        proposal: &'a Proposal,
        action: Option<&'a Action>,
        executable: Option<String>,
        records: &'a [RecordLine],
    }
    let out = Out {
        id: &a.id,
        status: p.status,
        proposal: p,
        action: action.as_ref(),
        executable: action.as_ref().map(Action::render),
        records: &records,
    };
    print(a.common.json, &out, || {
        let mut s = format!(
            "{} {} ({}), {} on {}, deviation {} mm, by {}\n",
            a.id,
            p.status,
            hex(&p.facts.payload_hash),
            p.facts.kind,
            p.facts.machine,
            p.facts.deviation_mm.abs(),
            p.facts.initiated_by.actor()
        );
        if let Some(x) = &out.executable {
            s.push_str(x);
        }
        for h in &p.history {
            s.push_str(&format!("  #{:<4} {:<12} {:<18} {}: {}\n", h.seq, h.event, h.to.as_str(), h.actor, h.note));
        }
        for r in &records {
            s.push_str(&format!("  ledger {:<5} {:<11} {} {}\n", r.index, r.kind, r.time, r.summary));
        }
        s.trim_end().to_owned()
    })?;
    Ok(ExitCode::SUCCESS)
}

fn verdict(a: VerdictArgs, verdict: Verdict) -> Result<ExitCode> {
    if verdict != Verdict::Approve && a.reason.trim().is_empty() {
        bail!("--reason is required to {verdict}");
    }
    let mut site = Site::open(&a.common.data_dir, false)?;
    let now = now_ms();
    let now_s = now / 1000;
    sweep_expired(&mut site, now_s, now)?;
    let user = authenticate(&site.users, &a.user)?;
    let p = site.gate.proposal(&a.id).ok_or_else(|| anyhow!("no proposal {}; `fos gate list` shows them", a.id))?.clone();
    let signed = Approval::sign(&user, &a.id, p.facts.payload_hash, verdict, now_s, &a.reason);
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
    let step = transition(&p, &event, &ctx).map_err(|e| anyhow!("refused: {e}"))?;
    if !step.applied {
        // Expired before the verdict could apply: record the expiry instead.
        sweep_expired(&mut site, now_s, now)?;
        bail!("refused: proposal {} expired (waited longer than {} h); propose it again", a.id, site.policy.approvals.expiry_hours);
    }
    let approvals = p.approvals.len() as u32 + u32::from(matches!(step.change, Change::Approval(_)));
    let required = p.effective_rule(&site.policy).required;
    let entity = Signed { proposal_id: a.id.clone(), role: user.role(), signature: signed, status: step.to, approvals, required };
    let body = match verdict {
        Verdict::Approve => Body::Approval(entity),
        Verdict::Reject => Body::Rejection(entity),
        Verdict::Reverse => Body::Reversal(entity),
    };
    let mut record = Record::new(body, now, person(&user));
    if let Some(r) = site.user_ref(user.name(), "signer")? {
        record = record.used(r);
    }
    if let Some(r) = site.previous(&a.id, "previous")? {
        record = record.derived_from(r);
    }
    let (index, _) = site.stage(&record)?;
    site.commit()?;
    let applied = site
        .gate
        .apply(&a.id, event, &site.users, now_s)
        .with_context(|| format!("the {verdict} is in the ledger (record {index}) but the gate's working state could not record it"))?;
    #[derive(Serialize)]
    struct Out<'a> {
        id: &'a str,
        status: Status,
        verdict: Verdict,
        by: &'a str,
        approvals: u32,
        required: u32,
        record: u64,
    }
    let out = Out { id: &a.id, status: applied.to, verdict, by: user.name(), approvals, required, record: index };
    print(a.common.json, &out, || format!("{}: {} ({}); ledger record {index}", a.id, applied.to, applied.note))?;
    Ok(ExitCode::SUCCESS)
}

fn stop(a: StopArgs) -> Result<ExitCode> {
    let mut site = Site::open(&a.common.data_dir, false)?;
    let now = now_ms();
    let now_s = now / 1000;
    sweep_expired(&mut site, now_s, now)?;
    let user = authenticate(&site.users, &a.user)?;
    if !site.policy.stop.halt_roles.contains(&user.role()) {
        bail!("refused: {} is {} and may not stop the gate (policy stop.halt_roles)", user.name(), user.role());
    }
    #[derive(Serialize)]
    struct Out {
        halted: bool,
        held: Vec<String>,
        record: Option<u64>,
    }
    if let Some(h) = site.gate.halt_info() {
        let out = Out { halted: true, held: vec![], record: None };
        let text = format!("the gate is already stopped (by {} at {}: {})", h.by, h.at, h.reason);
        print(a.common.json, &out, || text)?;
        return Ok(ExitCode::SUCCESS);
    }
    let held: Vec<String> = site
        .gate
        .proposals()
        .filter(|p| p.status == Status::AutoApproved && p.facts.initiated_by.is_ai())
        .map(|p| p.facts.id.clone())
        .collect();
    let mut record = Record::new(Body::Stop(Stop { reason: a.reason.clone(), held: held.clone() }), now, person(&user))
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
    let mut done = site.gate.halt(&user, &a.reason, now_s)?;
    done.sort();
    let mut expected = held.clone();
    expected.sort();
    if done != expected {
        eprintln!("warning: the gate held {done:?} where the ledger records {expected:?}");
    }
    let out = Out { halted: true, held, record: Some(index) };
    print(a.common.json, &out, || format!("gate stopped; held: {:?}; ledger record {index}", out.held))?;
    Ok(ExitCode::SUCCESS)
}

fn resume(a: StopArgs) -> Result<ExitCode> {
    let mut site = Site::open(&a.common.data_dir, false)?;
    let now = now_ms();
    let now_s = now / 1000;
    sweep_expired(&mut site, now_s, now)?;
    let user = authenticate(&site.users, &a.user)?;
    if !site.policy.stop.resume_roles.contains(&user.role()) {
        bail!("refused: {} is {} and may not resume the gate (policy stop.resume_roles)", user.name(), user.role());
    }
    #[derive(Serialize)]
    struct Out {
        halted: bool,
        record: Option<u64>,
    }
    if !site.gate.is_halted() {
        print(a.common.json, &Out { halted: false, record: None }, || "the gate is not stopped".to_owned())?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut record = Record::new(Body::Resume(Resume { reason: a.reason.clone() }), now, person(&user));
    if let Some(r) = site.user_ref(user.name(), "resumed-by")? {
        record = record.used(r);
    }
    if let Some(i) = site.records.iter().rposition(|(_, r)| matches!(r.body, Body::Stop(_))) {
        record = record.derived_from(site.reference(i as u64, "stop")?);
    }
    let (index, _) = site.stage(&record)?;
    site.commit()?;
    site.gate.resume(&user, &a.reason, now_s)?;
    print(a.common.json, &Out { halted: false, record: Some(index) }, || format!("gate resumed; ledger record {index}"))?;
    Ok(ExitCode::SUCCESS)
}

/// The ledger index of the record that approved proposal `id`: a person's final approval or the policy's
/// automatic decision, whichever came last.
fn approval_record(site: &Site, id: &str) -> Option<u64> {
    site.records.iter().enumerate().rev().find_map(|(i, (_, r))| match &r.body {
        Body::Approval(s) if s.proposal_id == id && s.status == Status::Approved => Some(i as u64),
        Body::Decision(d) if d.proposal_id == id && d.status == Status::AutoApproved => Some(i as u64),
        _ => None,
    })
}

/// What an execution did.
struct Outcome {
    ok: bool,
    detail: String,
    outputs: Vec<Artifact>,
    writes: Vec<DeviceWrite>,
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread().enable_all().build().context("cannot start the async runtime")
}

/// Writes `value` to `address` on `device` through a permit signed by the gate for exactly that write.
fn permit_write(
    site: &Site,
    cap: &ExecutionCapability,
    device: &str,
    address: &str,
    value: &serde_json::Value,
    timeout_ms: u64,
    check: Option<(f64, f64)>,
) -> Result<()> {
    let endpoint = DeviceUrl::parse(device)?.endpoint();
    let typed: fos_connect::Value =
        serde_json::from_value(value.clone()).map_err(|e| anyhow!("value {value} cannot be written: {e}"))?;
    let valid_for = Duration::from_secs(cap.not_after().saturating_sub(now_ms() / 1000).max(1));
    let permit = WritePermit::issue(
        site.gate_key(),
        cap.proposal_id(),
        endpoint,
        address,
        typed,
        valid_for,
        cap.approved_by().to_vec(),
    );
    let options = ConnectOptions {
        timeout: Duration::from_millis(timeout_ms),
        min_request_gap: Duration::ZERO,
        write_access: WriteAccess::Gate(site.gate_public_key()),
    };
    let mut conn = Connection::new(device, options)?;
    runtime()?.block_on(async {
        if let Some((expected, tolerance)) = check {
            // Compare-and-set: the absolute value is right only while the controller holds what the
            // proposal assumed.
            let s = conn.read_once(&[address.to_owned()]).await?;
            let held = s.first().and_then(|s| s.value.as_ref()).and_then(fos_connect::Value::as_f64);
            match held {
                Some(v) if (v - expected).abs() <= tolerance => {}
                Some(v) => bail!("{address} on {device} holds {v} mm, not the {expected} mm the proposal assumed; nothing written, propose again"),
                None => bail!("cannot read {address} on {device} before writing; nothing written"),
            }
        }
        conn.write(&permit).await?;
        Ok(())
    })
}

fn perform(site: &Site, cap: &ExecutionCapability, action: &Action, timeout_ms: u64) -> Outcome {
    let id = cap.proposal_id().to_owned();
    let mut out = Outcome { ok: true, detail: String::new(), outputs: Vec::new(), writes: Vec::new() };
    let result: Result<String> = (|| {
        let write_out = |name: String, bytes: &[u8], out: &mut Outcome| -> Result<()> {
            let dir = site.paths.out();
            fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
            write_file(&dir.join(&name), bytes)?;
            out.outputs.push(Artifact { path: format!("out/{name}"), sha256: hex(&sha256(bytes)) });
            Ok(())
        };
        match action {
            Action::DriverWrite { device, address, value } => {
                out.writes.push(DeviceWrite { device: device.clone(), address: address.clone(), value: value.clone() });
                permit_write(site, cap, device, address, value, timeout_ms, None)?;
                Ok(format!("wrote {value} to {address} on {device}"))
            }
            Action::ToolOffset(c) => {
                let text = c.emit(&OffsetLimits::default())?;
                write_out(format!("{id}.nc"), text.as_bytes(), &mut out)?;
                let mut detail = format!("G-code written to out/{id}.nc");
                if let Some(tag) = &c.device_tag {
                    let value = serde_json::Value::from(c.written_value_mm());
                    out.writes.push(DeviceWrite { device: tag.device.clone(), address: tag.address.clone(), value: value.clone() });
                    permit_write(site, cap, &tag.device, &tag.address, &value, timeout_ms, Some((c.current_mm, 5e-5)))?;
                    detail.push_str(&format!("; {} mm written to {} on {}", c.written_value_mm(), tag.address, tag.device));
                }
                Ok(detail)
            }
            Action::WorkOffset(c) => {
                let text = c.emit(&OffsetLimits::default())?;
                write_out(format!("{id}.nc"), text.as_bytes(), &mut out)?;
                Ok(format!("G-code written to out/{id}.nc"))
            }
            Action::ToolpathCorrection { corrected_hash, program_hash, delta_mm, .. } => {
                let dir = site.paths.payloads();
                let read = |name: String| {
                    fs::read_to_string(dir.join(&name)).with_context(|| format!("cannot read the kept program {}", dir.join(name).display()))
                };
                let (orig, text) = (read(format!("{id}.orig.nc"))?, read(format!("{id}.nc"))?);
                if &hex(&sha256(text.as_bytes())) != corrected_hash || &hex(&sha256(orig.as_bytes())) != program_hash {
                    bail!("the kept program files of {id} no longer hash to what was approved (altered); nothing written");
                }
                let report = fos_act::verify(&fos_act::parse(&orig)?, &text, *delta_mm)?;
                write_out(format!("{id}.nc"), text.as_bytes(), &mut out)?;
                Ok(format!("corrected program verified again ({} points) and written to out/{id}.nc", report.moves_checked))
            }
            Action::WeldReroute { cell, plan, .. } => {
                let text = serde_json::to_vec_pretty(plan)?;
                write_out(format!("{id}.weld.json"), &text, &mut out)?;
                Ok(format!("weld sequence for cell {cell} written to out/{id}.weld.json"))
            }
        }
    })();
    match result {
        Ok(d) => out.detail = d,
        Err(e) => {
            out.ok = false;
            out.detail = format!("{e:#}");
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

fn execute(a: ExecuteArgs) -> Result<ExitCode> {
    let mut site = Site::open(&a.common.data_dir, false)?;
    let now = now_ms();
    let now_s = now / 1000;
    sweep_expired(&mut site, now_s, now)?;
    let actor = match &a.user {
        Some(name) => {
            let user = authenticate(&site.users, name)?;
            if user.role() == Role::Auditor {
                bail!("{name} is an auditor: auditors read, they do not execute");
            }
            person(&user)
        }
        None => Agent::System { name: "executor".to_owned() },
    };
    let id = a.id.clone();
    let p = site.gate.proposal(&id).ok_or_else(|| anyhow!("no proposal {id}; `fos gate list` shows them"))?.clone();
    if let Some(h) = site.gate.halt_info() {
        bail!("refused: the gate is stopped (by {} at {}: {}); nothing executes until it is resumed", h.by, h.at, h.reason);
    }
    let token = site.gate.approved_token(&id, &site.users).map_err(|e| anyhow!("refused: {e}"))?;
    let action = site
        .records
        .iter()
        .find_map(|(_, r)| match &r.body {
            Body::Proposal(e) if e.proposal_id == id => Some(e.action.clone()),
            _ => None,
        })
        .ok_or_else(|| anyhow!("refused: the ledger holds no proposal record for {id}"))?;
    if action.payload_hash() != p.facts.payload_hash {
        bail!("refused: the ledger's action for {id} does not hash to the approved payload; run `fos audit verify`");
    }
    let approval = approval_record(&site, &id)
        .ok_or_else(|| anyhow!("refused: the ledger holds no approval of {id}; nothing executes without one"))?;
    let durability = LedgerDurability { record_index: approval, committed_size: site.ledger.len() };
    let cap = site.gate.execution_capability(token, durability, now_s).map_err(|e| anyhow!("refused: {e}"))?;
    let target = target_of(&action, &id);
    let capability = Record::new(
        Body::Capability(Capability {
            proposal_id: id.clone(),
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
    let capability = match site.previous(&id, "previous")? {
        Some(r) if !matches!(&r, Ref::Record { index, .. } if *index == approval) => capability.derived_from(r),
        _ => capability,
    };
    let (ci, cl) = site.stage(&capability)?;
    site.commit()?;
    site.gate.confirm(&cap, now_ms() / 1000).map_err(|e| anyhow!("refused: {e}"))?;

    let outcome = perform(&site, &cap, &action, a.timeout_ms);
    let status = if outcome.ok { Status::Executed } else { Status::Failed };
    let record = Record::new(
        Body::Execution(Execution {
            proposal_id: id.clone(),
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
    site.gate
        .apply(&id, Event::Execute(report), &site.users, now_ms() / 1000)
        .with_context(|| format!("the outcome is in the ledger (record {ei}) but the gate's working state could not record it"))?;
    #[derive(Serialize)]
    struct Out<'a> {
        id: &'a str,
        status: Status,
        detail: &'a str,
        target: &'a str,
        outputs: &'a [Artifact],
        approval_record: u64,
        capability_record: u64,
        execution_record: u64,
    }
    let out = Out {
        id: &id,
        status,
        detail: &outcome.detail,
        target: &target,
        outputs: &outcome.outputs,
        approval_record: approval,
        capability_record: ci,
        execution_record: ei,
    };
    print(a.common.json, &out, || format!("{id}: {status}: {}", outcome.detail))?;
    Ok(if outcome.ok { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
