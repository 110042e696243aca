//! `fos gate propose|list|show|approve|reject|reverse|stop|resume|execute`: the safety gate on the command
//! line. The flags become typed requests to `fos_site` (`Site::propose`, `decide`, `stop`, `resume`,
//! `execute`, …), which records every step in the provenance ledger before it is applied or reported;
//! see `fos_site::gate` for who proposes and the order of effects.
//!
//! A person acts with `--user NAME` (password in `FOS_PASSWORD`); an AI model proposes with
//! `--model NAME@VERSION` and no password. Exit codes: 0 done; 1 a proposal the policy rejected as
//! malformed, or an execution whose action failed (both recorded); 2 refused (nothing recorded).

use std::fs;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{anyhow, bail, Context as _, Result};
use clap::{Args, Subcommand};
use fos_act::gcode::WorkOffset;
use fos_act::offset::{DeviceTag, ToolOffsetKind};
use fos_site::{ActionSpec, ProposeRequest, Proposer, Status, Verdict};
use serde::Serialize;

use crate::site::{authenticate, DEFAULT_DATA_DIR};

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

/// The typed change from the flags (files read here; the site checks the rest).
fn build_spec(a: &ProposeArgs) -> Result<ActionSpec> {
    let kind = a.kind.as_str();
    let machine = || a.machine.clone().ok_or_else(|| anyhow!("--kind {kind} needs --machine"));
    Ok(match kind {
        "tool-offset" => {
            let offset_kind = match a.offset_kind.as_str() {
                "length-wear" => ToolOffsetKind::LengthWear,
                "radius-wear" => ToolOffsetKind::RadiusWear,
                "length-geometry" => ToolOffsetKind::LengthGeometry,
                "radius-geometry" => ToolOffsetKind::RadiusGeometry,
                other => bail!("--offset-kind {other:?}: use length-wear, radius-wear, length-geometry or radius-geometry"),
            };
            let device_tag = match (&a.device, &a.address) {
                (Some(device), Some(address)) => Some(DeviceTag { device: device.clone(), address: address.clone() }),
                (None, None) => None,
                _ => bail!("--kind tool-offset: give both --device and --address for the controller tag, or neither"),
            };
            ActionSpec::ToolOffset {
                machine: machine()?,
                tool: a.tool,
                offset_kind,
                current_mm: a.current_mm.as_deref().map(|t| single(t, "--current-mm")).transpose()?.unwrap_or(0.0),
                delta_mm: single(required(&a.delta_mm, "--delta-mm", kind)?, "--delta-mm")?,
                device_tag,
            }
        }
        "work-offset" => {
            let work_offset = WorkOffset::ALL
                .into_iter()
                .find(|w| format!("G{}", w.g_code()).eq_ignore_ascii_case(a.work_offset.trim()))
                .ok_or_else(|| anyhow!("--work-offset {:?}: use G54 … G59", a.work_offset))?;
            if a.device.is_some() {
                bail!("--kind work-offset: a device tag holds one value, a work offset three; write it through --kind write");
            }
            ActionSpec::WorkOffset {
                machine: machine()?,
                work_offset,
                current_mm: a.current_mm.as_deref().map(|t| parse_xyz(t, &a.axis, "--current-mm")).transpose()?.unwrap_or([0.0; 3]),
                delta_mm: parse_xyz(required(&a.delta_mm, "--delta-mm", kind)?, &a.axis, "--delta-mm")?,
            }
        }
        "toolpath" => {
            let path = a.program.as_ref().ok_or_else(|| anyhow!("--kind toolpath needs --program FILE"))?;
            let program = fs::read_to_string(path).with_context(|| format!("cannot read the program {}", path.display()))?;
            let delta_mm = parse_xyz(required(&a.delta_mm, "--delta-mm", kind)?, &a.axis, "--delta-mm")?;
            let program_name =
                path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| path.display().to_string());
            ActionSpec::Toolpath { machine: machine()?, program_name, program, delta_mm }
        }
        "weld-reroute" => {
            let path = a.cell.as_ref().ok_or_else(|| anyhow!("--kind weld-reroute needs --cell FILE"))?;
            let cell = fs::read_to_string(path).with_context(|| format!("cannot read the cell {}", path.display()))?;
            ActionSpec::WeldReroute { machine: machine()?, cell }
        }
        "write" | "driver-write" => ActionSpec::DriverWrite {
            device: required(&a.device, "--device URL", kind)?.to_owned(),
            address: required(&a.address, "--address", kind)?.to_owned(),
            value: parse_value(required(&a.value, "--value", kind)?),
            machine: a.machine.clone(),
        },
        other => bail!("--kind {other:?}: use tool-offset, work-offset, toolpath, weld-reroute or write"),
    })
}

fn propose(a: ProposeArgs) -> Result<ExitCode> {
    let site = crate::site::open(&a.common.data_dir, false)?;
    let user = match (&a.user, &a.model) {
        (Some(name), None) => Some(authenticate(&site, name)?),
        (None, Some(_)) => None,
        _ => bail!("say who proposes: --user NAME (a person) or --model NAME@VERSION (an AI model)"),
    };
    let by = match (&user, &a.model) {
        (Some(u), _) => Proposer::Person(u),
        (None, Some(m)) => Proposer::Model(m),
        (None, None) => bail!("say who proposes: --user NAME (a person) or --model NAME@VERSION (an AI model)"),
    };
    let spec = build_spec(&a)?;
    let source = a.program.as_ref().or(a.cell.as_ref()).map(|p| p.display().to_string());
    let req = ProposeRequest {
        action: spec,
        subsystem: a.subsystem.clone(),
        tags: a.tags.clone(),
        id: a.id.clone(),
        reason: a.reason.clone(),
        evidence: a.evidence.clone(),
    };
    let out = site.propose(by, &req).map_err(|e| match (&source, e.kind()) {
        // Name the file a program or cell came from, as the site only knows its content.
        (Some(path), fos_site::ErrorKind::BadRequest) if matches!(a.kind.as_str(), "toolpath" | "weld-reroute") => {
            anyhow::Error::new(e).context(path.clone())
        }
        _ => anyhow::Error::new(e),
    })?;
    print(a.common.json, &out, || {
        format!("{}: {} — {}\n  {}\n  payload {}", out.id, out.status, out.decision, out.predicted_effect.summary, out.payload_hash)
    })?;
    Ok(if out.status == Status::Rejected { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

fn list(a: ListArgs) -> Result<ExitCode> {
    let site = crate::site::open(&a.common.data_dir, false)?;
    let out = site.proposals()?;
    print(a.common.json, &out, || {
        let mut s = match &out.halt {
            Some(h) => format!("gate STOPPED by {} at {}: {}\n", h.by, h.at, h.reason),
            None => String::new(),
        };
        for p in &out.proposals {
            s.push_str(&format!(
                "{:<12} {:<18} {:<13} {:<16} {:>9} mm  {}\n",
                p.id,
                p.status.as_str(),
                p.kind,
                p.machine,
                p.deviation_mm,
                p.initiated_by
            ));
        }
        if out.proposals.is_empty() {
            s.push_str("no proposals\n");
        }
        s.trim_end().to_owned()
    })?;
    Ok(ExitCode::SUCCESS)
}

fn show(a: ShowArgs) -> Result<ExitCode> {
    let site = crate::site::open(&a.common.data_dir, false)?;
    let out = site.proposal(&a.id)?;
    print(a.common.json, &out, || {
        let p = &out.proposal;
        let mut s = format!(
            "{} {} ({}), {} on {}, deviation {} mm, by {}\n",
            a.id,
            p.status,
            fos_prov::hex(&p.facts.payload_hash),
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
        for r in &out.records {
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
    let site = crate::site::open(&a.common.data_dir, false)?;
    let user = authenticate(&site, &a.user)?;
    let out = site.decide(&user, &a.id, verdict, &a.reason)?;
    print(a.common.json, &out, || format!("{}: {} ({}); ledger record {}", out.id, out.status, out.note, out.record))?;
    Ok(ExitCode::SUCCESS)
}

fn stop(a: StopArgs) -> Result<ExitCode> {
    let site = crate::site::open(&a.common.data_dir, false)?;
    let user = authenticate(&site, &a.user)?;
    let out = site.stop(&user, &a.reason)?;
    if let Some(w) = &out.warning {
        eprintln!("warning: {w}");
    }
    print(a.common.json, &out, || match (&out.already, out.record) {
        (Some(h), _) => format!("the gate is already stopped (by {} at {}: {})", h.by, h.at, h.reason),
        (None, index) => format!("gate stopped; held: {:?}; ledger record {}", out.held, index.unwrap_or_default()),
    })?;
    Ok(ExitCode::SUCCESS)
}

fn resume(a: StopArgs) -> Result<ExitCode> {
    let site = crate::site::open(&a.common.data_dir, false)?;
    let user = authenticate(&site, &a.user)?;
    let out = site.resume(&user, &a.reason)?;
    print(a.common.json, &out, || match out.record {
        None => "the gate is not stopped".to_owned(),
        Some(index) => format!("gate resumed; ledger record {index}"),
    })?;
    Ok(ExitCode::SUCCESS)
}

fn execute(a: ExecuteArgs) -> Result<ExitCode> {
    let site = crate::site::open(&a.common.data_dir, false)?;
    let user = a.user.as_deref().map(|name| authenticate(&site, name)).transpose()?;
    let out = site.execute(user.as_ref(), &a.id, Duration::from_millis(a.timeout_ms))?;
    print(a.common.json, &out, || format!("{}: {}: {}", out.id, out.status, out.detail))?;
    Ok(if out.ok() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
