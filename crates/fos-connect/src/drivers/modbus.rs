//! Modbus TCP driver, on the `tokio-modbus` crate (which does the MBAP framing and PDU codec).
//!
//! What of the specifications is implemented (MODBUS Application Protocol Specification V1.1b3,
//! "the spec"; MODBUS Messaging on TCP/IP Implementation Guide V1.0b, "the TCP guide"):
//!
//! - Transport: Modbus TCP, one MBAP transaction in flight at a time (TCP guide §3.1.3, done by
//!   `tokio-modbus`), unit identifier from the URL (`unit`, default 1).
//! - Reads: Read Coils 0x01 (spec §6.1), Read Discrete Inputs 0x02 (§6.2), Read Holding
//!   Registers 0x03 (§6.3), Read Input Registers 0x04 (§6.4), within the spec's quantity limits
//!   (1..=2000 bits, 1..=125 registers).
//! - Writes: Write Single Coil 0x05 (§6.5), Write Single Register 0x06 (§6.6) for one-register
//!   types, Write Multiple Registers 0x10 (§6.12) for wider types, Mask Write Register 0x16
//!   (§6.16) for one bit of a holding register (atomic on the device, no read-modify-write).
//!   Input registers and discrete inputs are read-only in the data model (§4.3): writing them is
//!   refused before anything is sent.
//! - Exception responses (§7) are per request: the tags of that request get a bad sample
//!   (`bad_address` for 0x01 Illegal Function and 0x02 Illegal Data Address, `bad_device` for the
//!   others) naming the exception; the connection stays up. I/O errors, timeouts and replies that
//!   do not match the request are connection failures (`Err`, the transport is dropped).
//! - Not implemented: RTU/ASCII serial lines, function codes 0x07, 0x08, 0x0B, 0x0C, 0x11, 0x14,
//!   0x15, 0x17, 0x18, 0x2B (device identification), and browsing (Modbus has no tag list).
//!
//! # Device URL
//!
//! `modbus://host:port?unit=1&word_order=high&max_regs=125&max_bits=2000&gap=8` (all parameters
//! optional, these are the defaults):
//!
//! - `unit`: unit identifier (0..=255).
//! - `word_order`: order of the 16-bit words of 32/64-bit values, `high` (= `abcd`, most
//!   significant word first, the Modbus convention) or `low` (= `cdab`).
//! - `max_regs`: most registers per read request (1..=125; lower it for devices that refuse
//!   long reads with exception 0x03).
//! - `max_bits`: most coils or discrete inputs per read request (1..=2000).
//! - `gap`: largest hole of registers nobody asked for that is still read, to merge two
//!   requests into one (coils and discrete inputs: 16 × `gap` bits, the same bytes on the wire).
//!   Set `gap=0` for devices whose register map has holes that answer 0x02 Illegal Data Address.
//!
//! # Addresses
//!
//! `TABLE:NUMBER[:TYPE[:ORDER]]` or `TABLE:NUMBER.BIT`:
//!
//! - `TABLE`: `hr` holding register, `ir` input register, `co` coil, `di` discrete input.
//! - `NUMBER`: the 0-based protocol address, 0..=65535, as it goes on the wire (spec §4.4): `hr:0`
//!   is the first holding register, "40001" in the old 1-based notation; `co:3` is coil "00004".
//! - `TYPE` (registers only): `u16` (default), `i16`, `u32`, `i32`, `f32` (2 registers),
//!   `u64`, `i64`, `f64` (4 registers). Coils and discrete inputs are `bool` (`:bool` may be given).
//! - `ORDER` (registers only): word order of this tag, overriding the URL's: `high`/`abcd` or
//!   `low`/`cdab`.
//! - `hr:0.3`, `ir:7.15`: bit 3 (0 = least significant) of a register, as a bool. Writing it
//!   uses Mask Write Register.
//!
//! Examples: `hr:0`, `ir:5:i32`, `hr:10:f32:low`, `hr:20:u64:cdab`, `co:3`, `di:0`, `hr:4.0`.
//!
//! # Request planning
//!
//! [`Connection::prepare`](crate::Connection::prepare) plans once: tags are grouped by table,
//! sorted by address, and merged into one request while the hole between them is at most `gap`
//! and the whole span stays within `max_regs` (`max_bits`). A tag is never split across two
//! requests (an `f64` at a boundary starts a new request). 1,000 consecutive `u16` tags take
//! 8 requests.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use tokio::net::TcpStream;
use tokio_modbus::client::{Client, Context};
use tokio_modbus::{ExceptionCode, Request, Response, Slave};

use crate::driver::{timed, ConnectOptions, Driver, Pacer, PlanId};
use crate::error::{ConnectError, FrameError};
use crate::sample::{Quality, Sample};
use crate::url::{DeviceUrl, Protocol};
use crate::value::{decode_words, encode_words, DataType, Value, WordOrder};

/// Most registers one read may ask for (spec §6.3, §6.4: 0x7D).
pub const MAX_READ_REGISTERS: u16 = 125;
/// Most coils or discrete inputs one read may ask for (spec §6.1, §6.2: 0x7D0).
pub const MAX_READ_BITS: u16 = 2000;
/// Default largest hole of unrequested registers merged into one request.
pub const DEFAULT_GAP: u16 = 8;

const ADDRESS_SYNTAX: &str = "expected TABLE:NUMBER[:TYPE[:ORDER]] or TABLE:NUMBER.BIT, TABLE one of hr ir co di, \
     NUMBER the 0-based protocol address (hr:0 is 40001), TYPE one of u16 i16 u32 i32 f32 u64 i64 f64, \
     ORDER high|abcd or low|cdab; e.g. hr:0, ir:5:i32, hr:10:f32:low, co:3, hr:0.3";

/// The four tables of the Modbus data model (spec §4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    /// Read-write single bits (`co`).
    Coil,
    /// Read-only single bits (`di`).
    DiscreteInput,
    /// Read-only 16-bit registers (`ir`).
    InputRegister,
    /// Read-write 16-bit registers (`hr`).
    HoldingRegister,
}

impl Table {
    /// The address prefix: `co`, `di`, `ir`, `hr`.
    pub fn prefix(self) -> &'static str {
        match self {
            Table::Coil => "co",
            Table::DiscreteInput => "di",
            Table::InputRegister => "ir",
            Table::HoldingRegister => "hr",
        }
    }

    /// Human name, plural.
    pub fn name(self) -> &'static str {
        match self {
            Table::Coil => "coils",
            Table::DiscreteInput => "discrete inputs",
            Table::InputRegister => "input registers",
            Table::HoldingRegister => "holding registers",
        }
    }

    /// True for coils and discrete inputs (1-bit items).
    pub fn is_bit(self) -> bool {
        matches!(self, Table::Coil | Table::DiscreteInput)
    }

    /// True for the tables a Modbus client can write (coils, holding registers).
    pub fn is_writable(self) -> bool {
        matches!(self, Table::Coil | Table::HoldingRegister)
    }

    fn from_prefix(s: &str) -> Option<Table> {
        Some(match s.to_ascii_lowercase().as_str() {
            "co" => Table::Coil,
            "di" => Table::DiscreteInput,
            "ir" => Table::InputRegister,
            "hr" => Table::HoldingRegister,
            _ => return None,
        })
    }

    fn read_request(self, start: u16, count: u16) -> Request<'static> {
        match self {
            Table::Coil => Request::ReadCoils(start, count),
            Table::DiscreteInput => Request::ReadDiscreteInputs(start, count),
            Table::InputRegister => Request::ReadInputRegisters(start, count),
            Table::HoldingRegister => Request::ReadHoldingRegisters(start, count),
        }
    }

    fn read_function(self) -> u8 {
        match self {
            Table::Coil => 0x01,
            Table::DiscreteInput => 0x02,
            Table::HoldingRegister => 0x03,
            Table::InputRegister => 0x04,
        }
    }
}

/// What one address reads inside its table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Item {
    /// A coil or discrete input (bool).
    Bit,
    /// One to four registers decoded as `dtype`; `order` overrides the URL's word order.
    Register { dtype: DataType, order: Option<WordOrder> },
    /// Bit 0..=15 of one register (bool; 0 is the least significant).
    RegisterBit(u8),
}

/// A parsed Modbus address (see the module documentation for the syntax).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModbusAddress {
    pub table: Table,
    /// 0-based protocol address of the first register or bit.
    pub address: u16,
    pub item: Item,
}

impl ModbusAddress {
    /// Parse `hr:0`, `ir:5:f32`, `hr:10:u32:low`, `co:3`, `hr:0.3`, ... (no I/O).
    pub fn parse(text: &str) -> Result<ModbusAddress, ConnectError> {
        let err = |reason: String| ConnectError::Address {
            protocol: "modbus",
            address: text.to_string(),
            reason: format!("{reason} ({ADDRESS_SYNTAX})"),
        };
        let mut parts = text.trim().split(':');
        let prefix = parts.next().unwrap_or_default();
        let table = Table::from_prefix(prefix).ok_or_else(|| err(format!("unknown table {prefix:?}")))?;
        let number = parts.next().ok_or_else(|| err("no register or coil number after the table".into()))?;
        let (number, bit) = match number.split_once('.') {
            Some((n, b)) => (n, Some(b)),
            None => (number, None),
        };
        let address: u16 =
            number.parse().map_err(|_| err(format!("{number:?} is not a protocol address 0..=65535")))?;
        let type_part = parts.next();
        let order_part = parts.next();
        if let Some(extra) = parts.next() {
            return Err(err(format!("unexpected {extra:?} after the word order")));
        }
        let item = if let Some(bit) = bit {
            if table.is_bit() {
                return Err(err(format!("{} are single bits: they have no .BIT", table.name())));
            }
            let bit: u8 =
                bit.parse().ok().filter(|b| *b < 16).ok_or_else(|| err(format!("bit {bit:?} is not 0..=15")))?;
            if let Some(t) = type_part.filter(|t| !t.eq_ignore_ascii_case("bool")) {
                return Err(err(format!("a register bit is a bool, not {t:?}")));
            }
            if order_part.is_some() {
                return Err(err("a register bit has no word order".into()));
            }
            Item::RegisterBit(bit)
        } else if table.is_bit() {
            if let Some(t) = type_part.filter(|t| !t.eq_ignore_ascii_case("bool")) {
                return Err(err(format!("{} are bool, not {t:?}", table.name())));
            }
            if order_part.is_some() {
                return Err(err(format!("{} have no word order", table.name())));
            }
            Item::Bit
        } else {
            let dtype = match type_part {
                None => DataType::U16,
                Some(t) => {
                    let dtype: DataType = t.parse().map_err(|e: String| err(e))?;
                    match dtype {
                        DataType::U16
                        | DataType::I16
                        | DataType::U32
                        | DataType::I32
                        | DataType::F32
                        | DataType::U64
                        | DataType::I64
                        | DataType::F64 => dtype,
                        _ => return Err(err(format!("type {dtype} is not supported on registers"))),
                    }
                }
            };
            let order = match order_part {
                None => None,
                Some(o) => Some(o.parse::<WordOrder>().map_err(|e: String| err(e))?),
            };
            Item::Register { dtype, order }
        };
        let a = ModbusAddress { table, address, item };
        if u32::from(address) + u32::from(a.width()) - 1 > u32::from(u16::MAX) {
            return Err(err(format!("{} registers from {address} run past 65535", a.width())));
        }
        Ok(a)
    }

    /// The type of the value this address reads and writes.
    pub fn dtype(&self) -> DataType {
        match self.item {
            Item::Bit | Item::RegisterBit(_) => DataType::Bool,
            Item::Register { dtype, .. } => dtype,
        }
    }

    /// Number of registers (or bits, for coils and discrete inputs) the address spans.
    pub fn width(&self) -> u16 {
        match self.item {
            Item::Bit | Item::RegisterBit(_) => 1,
            Item::Register { dtype, .. } => u16::try_from(dtype.words()).unwrap_or(u16::MAX),
        }
    }
}

impl fmt::Display for ModbusAddress {
    /// The canonical form, which [`ModbusAddress::parse`] reads back (`hr:10:f32:low`, `co:3`, `hr:0.3`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.table.prefix(), self.address)?;
        match self.item {
            Item::Bit => Ok(()),
            Item::RegisterBit(bit) => write!(f, ".{bit}"),
            Item::Register { dtype, order } => {
                write!(f, ":{dtype}")?;
                match order {
                    None => Ok(()),
                    Some(WordOrder::High) => f.write_str(":high"),
                    Some(WordOrder::Low) => f.write_str(":low"),
                }
            }
        }
    }
}

/// Request size limits from the URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    pub(crate) max_regs: u16,
    pub(crate) max_bits: u16,
    pub(crate) gap: u16,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_regs: MAX_READ_REGISTERS, max_bits: MAX_READ_BITS, gap: DEFAULT_GAP }
    }
}

/// One planned read request and the tags (indices into the plan's addresses) it serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ReadRequest {
    pub(crate) table: Table,
    pub(crate) start: u16,
    pub(crate) count: u16,
    pub(crate) tags: Vec<usize>,
}

impl ReadRequest {
    fn describe(&self) -> String {
        let last = u32::from(self.start) + u32::from(self.count).saturating_sub(1);
        format!(
            "{} {}..={} (function 0x{:02X}, {} {})",
            self.table.name(),
            self.start,
            last,
            self.table.read_function(),
            self.count,
            if self.table.is_bit() { "bits" } else { "registers" }
        )
    }
}

/// Plan the read requests for `tags`: per table, sorted by address, merged while the hole is at
/// most `gap` (bits: 16 × `gap`) and the span at most `max_regs` (bits: `max_bits`). A tag is
/// never split; a tag wider than the limit (refused by `prepare`) gets a request of its own.
pub(crate) fn plan_reads(tags: &[ModbusAddress], limits: &Limits) -> Vec<ReadRequest> {
    let mut order: Vec<usize> = (0..tags.len()).collect();
    order.sort_by_key(|&i| tags.get(i).map(|t| (t.table, t.address, t.width())));
    let mut out: Vec<ReadRequest> = Vec::new();
    for i in order {
        let Some(t) = tags.get(i) else { continue };
        let (max, gap) = if t.table.is_bit() {
            (u32::from(limits.max_bits), u32::from(limits.gap) * 16)
        } else {
            (u32::from(limits.max_regs), u32::from(limits.gap))
        };
        let start = u32::from(t.address);
        let end = start + u32::from(t.width());
        if let Some(cur) = out.last_mut() {
            let cur_start = u32::from(cur.start);
            let cur_end = cur_start + u32::from(cur.count);
            let new_end = cur_end.max(end);
            if cur.table == t.table && start <= cur_end + gap && new_end - cur_start <= max {
                cur.count = u16::try_from(new_end - cur_start).unwrap_or(u16::MAX);
                cur.tags.push(i);
                continue;
            }
        }
        out.push(ReadRequest { table: t.table, start: t.address, count: t.width(), tags: vec![i] });
    }
    out
}

/// The data of one read reply.
enum ReplyData {
    Words(Vec<u16>),
    Bits(Vec<bool>),
}

/// Check that `resp` answers `req` with at least the asked quantity (coil replies are padded to
/// whole bytes, spec §6.1).
fn reply_data(req: &ReadRequest, resp: Response) -> Result<ReplyData, String> {
    let want = usize::from(req.count);
    let (data, got) = match (req.table, resp) {
        (Table::Coil, Response::ReadCoils(b)) | (Table::DiscreteInput, Response::ReadDiscreteInputs(b)) => {
            let n = b.len();
            (ReplyData::Bits(b), n)
        }
        (Table::HoldingRegister, Response::ReadHoldingRegisters(w))
        | (Table::InputRegister, Response::ReadInputRegisters(w)) => {
            let n = w.len();
            if n != want {
                return Err(format!("reply to a read of {} carried {n} registers", req.describe()));
            }
            (ReplyData::Words(w), n)
        }
        (_, other) => return Err(format!("reply to a read of {} is {other:?}", req.describe())),
    };
    if got < want {
        return Err(format!("reply to a read of {} carried only {got} bits", req.describe()));
    }
    Ok(data)
}

/// Decode one tag from a reply that starts at `start`.
fn decode_tag(tag: &ModbusAddress, start: u16, data: &ReplyData, default_order: WordOrder) -> Result<Value, String> {
    let off = usize::from(tag.address.checked_sub(start).ok_or("tag lies before its request")?);
    let width = usize::from(tag.width());
    let short = || format!("reply has no data for offset {off}");
    match (data, tag.item) {
        (ReplyData::Bits(bits), Item::Bit) => bits.get(off).map(|b| Value::Bool(*b)).ok_or_else(short),
        (ReplyData::Words(words), Item::RegisterBit(bit)) => {
            words.get(off).map(|w| Value::Bool((w >> bit) & 1 == 1)).ok_or_else(short)
        }
        (ReplyData::Words(words), Item::Register { dtype, order }) => {
            let w = words.get(off..off + width).ok_or_else(short)?;
            decode_words(w, dtype, order.unwrap_or(default_order))
        }
        _ => Err("reply is of another table than the tag".into()),
    }
}

/// Quality of the tags of a request answered with `code` (spec §7).
fn exception_quality(code: ExceptionCode) -> Quality {
    match code {
        ExceptionCode::IllegalFunction | ExceptionCode::IllegalDataAddress => Quality::BadAddress,
        _ => Quality::BadDevice,
    }
}

fn exception_text(code: ExceptionCode) -> String {
    let n: u8 = code.into();
    let name = match code {
        ExceptionCode::IllegalFunction => "IllegalFunction",
        ExceptionCode::IllegalDataAddress => "IllegalDataAddress",
        ExceptionCode::IllegalDataValue => "IllegalDataValue",
        ExceptionCode::ServerDeviceFailure => "ServerDeviceFailure",
        ExceptionCode::Acknowledge => "Acknowledge",
        ExceptionCode::ServerDeviceBusy => "ServerDeviceBusy",
        ExceptionCode::MemoryParityError => "MemoryParityError",
        ExceptionCode::GatewayPathUnavailable => "GatewayPathUnavailable",
        ExceptionCode::GatewayTargetDevice => "GatewayTargetDevice",
        ExceptionCode::Custom(_) => "non-standard exception",
    };
    format!("Modbus exception 0x{n:02X} {name} ({code})")
}

/// A prepared read.
#[derive(Debug)]
struct Plan {
    addresses: Vec<String>,
    tags: Vec<ModbusAddress>,
    requests: Vec<ReadRequest>,
}

/// Modbus TCP client driver (see the module documentation).
pub struct ModbusDriver {
    endpoint: String,
    socket_addr: String,
    unit: u8,
    order: WordOrder,
    limits: Limits,
    options: ConnectOptions,
    pacer: Pacer,
    ctx: Option<Context>,
    plans: Vec<Arc<Plan>>,
}

impl fmt::Debug for ModbusDriver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ModbusDriver")
            .field("endpoint", &self.endpoint)
            .field("unit", &self.unit)
            .field("order", &self.order)
            .field("limits", &self.limits)
            .field("connected", &self.ctx.is_some())
            .field("plans", &self.plans.len())
            .finish()
    }
}

impl ModbusDriver {
    /// Check the URL's parameters (see the module documentation); no I/O.
    pub(crate) fn new(url: &DeviceUrl, options: &ConnectOptions) -> Result<Self, ConnectError> {
        url.check_params(&["unit", "word_order", "max_regs", "max_bits", "gap"])?;
        let bad = |reason: String| ConnectError::Url { url: url.raw.clone(), reason };
        let unit: u8 = url.param("unit", 1)?;
        let order: WordOrder = url.param("word_order", WordOrder::High)?;
        let max_regs: u16 = url.param("max_regs", MAX_READ_REGISTERS)?;
        if !(1..=MAX_READ_REGISTERS).contains(&max_regs) {
            return Err(bad(format!("max_regs={max_regs} must be 1..={MAX_READ_REGISTERS} (the Modbus limit)")));
        }
        let max_bits: u16 = url.param("max_bits", MAX_READ_BITS)?;
        if !(1..=MAX_READ_BITS).contains(&max_bits) {
            return Err(bad(format!("max_bits={max_bits} must be 1..={MAX_READ_BITS} (the Modbus limit)")));
        }
        let gap: u16 = url.param("gap", DEFAULT_GAP)?;
        Ok(ModbusDriver {
            endpoint: url.endpoint(),
            socket_addr: url.socket_addr(),
            unit,
            order,
            limits: Limits { max_regs, max_bits, gap },
            options: options.clone(),
            pacer: Pacer::new(options.min_request_gap),
            ctx: None,
            plans: Vec::new(),
        })
    }

    /// Send one request, paced and timed. `Ok(Err(code))` is a Modbus exception reply; `Err` a
    /// connection failure, after which the transport is dropped.
    async fn call(&mut self, request: Request<'static>) -> Result<Result<Response, ExceptionCode>, ConnectError> {
        let endpoint = &self.endpoint;
        let Some(ctx) = self.ctx.as_mut() else {
            return Err(ConnectError::NotConnected { endpoint: endpoint.clone() });
        };
        self.pacer.wait().await;
        let r = timed(endpoint, self.options.timeout, async {
            ctx.call(request).await.map_err(|e| match e {
                tokio_modbus::Error::Transport(source) => ConnectError::Io { endpoint: endpoint.clone(), source },
                tokio_modbus::Error::Protocol(p) => ConnectError::Frame {
                    endpoint: endpoint.clone(),
                    protocol: "modbus",
                    source: FrameError::new(0, p.to_string()),
                },
            })
        })
        .await;
        if matches!(&r, Err(e) if e.is_connection_lost()) {
            // A late reply would otherwise be taken for the next request's.
            self.ctx = None;
        }
        r
    }

    fn address_error(address: &str, reason: String) -> ConnectError {
        ConnectError::Address { protocol: "modbus", address: address.to_string(), reason }
    }
}

#[async_trait]
impl Driver for ModbusDriver {
    async fn connect(&mut self) -> Result<(), ConnectError> {
        self.ctx = None;
        let stream = TcpStream::connect(&self.socket_addr)
            .await
            .map_err(|source| ConnectError::Connect { endpoint: self.endpoint.clone(), source })?;
        // Requests are small and strictly request/reply: do not wait for Nagle.
        let _ = stream.set_nodelay(true);
        self.ctx = Some(tokio_modbus::client::tcp::attach_slave(stream, Slave(self.unit)));
        Ok(())
    }

    async fn disconnect(&mut self) {
        if let Some(mut ctx) = self.ctx.take() {
            let _ = tokio::time::timeout(self.options.timeout, ctx.disconnect()).await;
        }
    }

    fn is_connected(&self) -> bool {
        self.ctx.is_some()
    }

    fn prepare(&mut self, addresses: &[String]) -> Result<PlanId, ConnectError> {
        // The same list again (e.g. `read_once` in a loop) reuses its plan instead of growing the list.
        if let Some(i) = self.plans.iter().position(|p| p.addresses == addresses) {
            return Ok(PlanId(i));
        }
        let mut tags = Vec::with_capacity(addresses.len());
        for text in addresses {
            let tag = ModbusAddress::parse(text)?;
            let (limit, name) = if tag.table.is_bit() {
                (self.limits.max_bits, "max_bits")
            } else {
                (self.limits.max_regs, "max_regs")
            };
            if tag.width() > limit {
                return Err(Self::address_error(
                    text,
                    format!(
                        "{} spans {} registers, more than {name}={limit} of this device URL",
                        tag.dtype(),
                        tag.width()
                    ),
                ));
            }
            tags.push(tag);
        }
        let requests = plan_reads(&tags, &self.limits);
        self.plans.push(Arc::new(Plan { addresses: addresses.to_vec(), tags, requests }));
        Ok(PlanId(self.plans.len() - 1))
    }

    fn plan_requests(&self, plan: PlanId) -> usize {
        self.plans.get(plan.0).map_or(0, |p| p.requests.len())
    }

    async fn read(&mut self, plan: PlanId) -> Result<Vec<Sample>, ConnectError> {
        let plan = self
            .plans
            .get(plan.0)
            .cloned()
            .ok_or_else(|| ConnectError::Other(format!("{}: unknown read plan {}", self.endpoint, plan.0)))?;
        let mut out: Vec<Option<Sample>> = vec![None; plan.tags.len()];
        for req in &plan.requests {
            let reply = self.call(req.table.read_request(req.start, req.count)).await?;
            let now = SystemTime::now();
            let data = match reply {
                Ok(resp) => reply_data(req, resp).map_err(|reason| (Quality::BadProtocol, reason)),
                Err(code) => {
                    Err((exception_quality(code), format!("{} reading {}", exception_text(code), req.describe())))
                }
            };
            for &i in &req.tags {
                let (Some(tag), Some(text), Some(slot)) = (plan.tags.get(i), plan.addresses.get(i), out.get_mut(i))
                else {
                    continue;
                };
                let dtype = tag.dtype();
                *slot = Some(match &data {
                    Ok(d) => match decode_tag(tag, req.start, d, self.order) {
                        Ok(v) => Sample::good(text.clone(), v, dtype, now),
                        Err(reason) => Sample::bad(text.clone(), dtype, Quality::BadProtocol, reason),
                    },
                    Err((q, reason)) => Sample::bad(text.clone(), dtype, *q, reason.clone()),
                });
            }
        }
        Ok(out
            .into_iter()
            .zip(plan.addresses.iter().zip(&plan.tags))
            .map(|(s, (text, tag))| {
                s.unwrap_or_else(|| Sample::bad(text.clone(), tag.dtype(), Quality::BadProtocol, "not in any request"))
            })
            .collect())
    }

    async fn write(&mut self, address: &str, value: &Value) -> Result<(), ConnectError> {
        let tag = ModbusAddress::parse(address)?;
        if !tag.table.is_writable() {
            return Err(Self::address_error(
                address,
                format!(
                    "{} are read-only: Modbus has no function to write them (write hr: holding registers or co: coils)",
                    tag.table.name()
                ),
            ));
        }
        let bad_value =
            |e: String| ConnectError::Other(format!("{}: cannot write {value} to {address:?}: {e}", self.endpoint));
        let as_bool = || match value.to_be_bytes(DataType::Bool) {
            Ok(b) => Ok(b.first() == Some(&1)),
            Err(e) => Err(bad_value(format!("{e} (a bool: true/false or 1/0)"))),
        };
        let (request, what) = match tag.item {
            Item::Bit => (Request::WriteSingleCoil(tag.address, as_bool()?), "write single coil 0x05"),
            Item::RegisterBit(bit) => {
                let on = as_bool()?;
                let mask = 1u16 << bit;
                (Request::MaskWriteRegister(tag.address, !mask, if on { mask } else { 0 }), "mask write register 0x16")
            }
            Item::Register { dtype, order } => {
                if dtype == DataType::F32 {
                    if let Some(x) = value.as_f64().filter(|x| x.is_finite() && x.abs() > f64::from(f32::MAX)) {
                        return Err(bad_value(format!("{x} is out of range for f32")));
                    }
                }
                let words = encode_words(value, dtype, order.unwrap_or(self.order)).map_err(bad_value)?;
                match words.as_slice() {
                    [w] => (Request::WriteSingleRegister(tag.address, *w), "write single register 0x06"),
                    _ => (
                        Request::WriteMultipleRegisters(tag.address, Cow::Owned(words)),
                        "write multiple registers 0x10",
                    ),
                }
            }
        };
        match self.call(request).await? {
            Ok(_) => Ok(()),
            Err(code) => Err(ConnectError::Refused {
                endpoint: self.endpoint.clone(),
                what: format!("the write of {value} to {address} ({what})"),
                reason: exception_text(code),
            }),
        }
    }

    fn protocol(&self) -> Protocol {
        Protocol::Modbus
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn parse(s: &str) -> ModbusAddress {
        ModbusAddress::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn parse_err(s: &str) -> String {
        ModbusAddress::parse(s).expect_err(s).to_string()
    }

    fn tags(list: &[&str]) -> Vec<ModbusAddress> {
        list.iter().map(|s| parse(s)).collect()
    }

    /// The (table, start, count) of each request.
    fn spans(reqs: &[ReadRequest]) -> Vec<(Table, u16, u16)> {
        reqs.iter().map(|r| (r.table, r.start, r.count)).collect()
    }

    /// Every tag is in exactly one request, wholly inside it, within the limits.
    fn check_plan(tags: &[ModbusAddress], reqs: &[ReadRequest], limits: &Limits) {
        let mut seen = vec![0; tags.len()];
        for r in reqs {
            let max = if r.table.is_bit() { limits.max_bits } else { limits.max_regs };
            assert!(r.count >= 1 && r.count <= max, "{r:?}");
            for &i in &r.tags {
                seen[i] += 1;
                let t = &tags[i];
                assert_eq!(t.table, r.table);
                assert!(t.address >= r.start, "{t:?} before {r:?}");
                assert!(
                    u32::from(t.address) + u32::from(t.width()) <= u32::from(r.start) + u32::from(r.count),
                    "{t:?} split by {r:?}"
                );
            }
        }
        assert!(seen.iter().all(|&n| n == 1), "{seen:?}");
    }

    #[test]
    fn parses_every_documented_form() {
        let a = parse("hr:0");
        assert_eq!(
            a,
            ModbusAddress {
                table: Table::HoldingRegister,
                address: 0,
                item: Item::Register { dtype: DataType::U16, order: None }
            }
        );
        assert_eq!(parse("ir:5:i32").item, Item::Register { dtype: DataType::I32, order: None });
        assert_eq!(parse("HR:10:f32:low").item, Item::Register { dtype: DataType::F32, order: Some(WordOrder::Low) });
        assert_eq!(parse("hr:10:u64:cdab").item, Item::Register { dtype: DataType::U64, order: Some(WordOrder::Low) });
        assert_eq!(parse("hr:10:f64:abcd").item, Item::Register { dtype: DataType::F64, order: Some(WordOrder::High) });
        assert_eq!(parse("co:3"), ModbusAddress { table: Table::Coil, address: 3, item: Item::Bit });
        assert_eq!(parse("di:3:bool").item, Item::Bit);
        assert_eq!(parse("hr:0.3").item, Item::RegisterBit(3));
        assert_eq!(parse("ir:7.15").item, Item::RegisterBit(15));
        assert_eq!(parse("hr:65535").address, 65535);
        assert_eq!(parse("hr:65532:f64").width(), 4);
        assert_eq!(parse("hr:1:f64").dtype(), DataType::F64);
        assert_eq!(parse("co:1").dtype(), DataType::Bool);
        assert_eq!(parse("hr:1.0").dtype(), DataType::Bool);
    }

    #[test]
    fn bad_addresses_say_what_is_wrong_and_the_syntax() {
        for (addr, why) in [
            ("xx:1", "unknown table \"xx\""),
            ("hr", "no register or coil number"),
            ("hr:", "is not a protocol address"),
            ("hr:65536", "is not a protocol address"),
            ("hr:-1", "is not a protocol address"),
            ("hr:40001x", "is not a protocol address"),
            ("hr:0:q32", "unknown type"),
            ("hr:0:string", "not supported on registers"),
            ("hr:0:u8", "not supported on registers"),
            ("hr:0:f32:middle", "unknown word order"),
            ("hr:0:f32:low:x", "unexpected"),
            ("co:1:u16", "coils are bool"),
            ("di:1:bool:low", "no word order"),
            ("co:1.2", "no .BIT"),
            ("hr:1.16", "not 0..=15"),
            ("hr:1.x", "not 0..=15"),
            ("hr:1.2:u16", "a register bit is a bool"),
            ("hr:65535:f32", "run past 65535"),
        ] {
            let e = parse_err(addr);
            assert!(e.contains(why), "{addr}: {e}");
            assert!(e.contains(&format!("{addr:?}")), "names the address: {e}");
            assert!(e.contains("expected TABLE:NUMBER"), "gives the syntax: {e}");
        }
    }

    #[test]
    fn thousand_consecutive_u16_take_eight_requests() {
        let list: Vec<String> = (0..1000).map(|i| format!("hr:{i}")).collect();
        let t: Vec<_> = list.iter().map(|s| parse(s)).collect();
        let limits = Limits::default();
        let reqs = plan_reads(&t, &limits);
        assert_eq!(reqs.len(), 8);
        assert_eq!(spans(&reqs)[7], (Table::HoldingRegister, 875, 125));
        check_plan(&t, &reqs, &limits);
        // The same for 2,000 coils per request.
        let list: Vec<String> = (0..5000).map(|i| format!("co:{i}")).collect();
        let t: Vec<_> = list.iter().map(|s| parse(s)).collect();
        let reqs = plan_reads(&t, &limits);
        assert_eq!(spans(&reqs), [(Table::Coil, 0, 2000), (Table::Coil, 2000, 2000), (Table::Coil, 4000, 1000)]);
    }

    #[test]
    fn scattered_tags_merge_across_small_holes_only() {
        let t = tags(&["hr:100", "hr:0", "ir:3", "hr:5:f32", "hr:16", "hr:40", "co:0", "co:100", "co:200", "ir:0"]);
        let limits = Limits { gap: 8, ..Limits::default() };
        let reqs = plan_reads(&t, &limits);
        check_plan(&t, &reqs, &limits);
        assert_eq!(
            spans(&reqs),
            [
                // hole 0..5 is 4 <= 8 registers; 7..16 is 9 > 8
                (Table::Coil, 0, 201),
                (Table::InputRegister, 0, 4),
                (Table::HoldingRegister, 0, 7),
                (Table::HoldingRegister, 16, 1),
                (Table::HoldingRegister, 40, 1),
                (Table::HoldingRegister, 100, 1),
            ]
        );
        // gap=0: only touching or overlapping tags share a request.
        let limits = Limits { gap: 0, ..Limits::default() };
        let t = tags(&["hr:0", "hr:1", "hr:3", "hr:1:f32", "hr:2.5"]);
        let reqs = plan_reads(&t, &limits);
        check_plan(&t, &reqs, &limits);
        assert_eq!(spans(&reqs), [(Table::HoldingRegister, 0, 4)]);
        let t = tags(&["hr:0", "hr:2"]);
        assert_eq!(plan_reads(&t, &limits).len(), 2);
        // The same register twice is read once and answered twice.
        let t = tags(&["hr:7", "hr:7"]);
        let reqs = plan_reads(&t, &limits);
        assert_eq!(reqs.len(), 1);
        assert_eq!(reqs[0].tags, [0, 1]);
    }

    #[test]
    fn a_wide_value_at_a_split_boundary_is_never_split() {
        // 122 u16 then an f64 at 122..126: the f64 starts the second request.
        let mut list: Vec<String> = (0..122).map(|i| format!("hr:{i}")).collect();
        list.push("hr:122:f64".into());
        list.push("hr:126:u32".into());
        let t: Vec<_> = list.iter().map(|s| parse(s)).collect();
        let limits = Limits::default();
        let reqs = plan_reads(&t, &limits);
        check_plan(&t, &reqs, &limits);
        assert_eq!(spans(&reqs), [(Table::HoldingRegister, 0, 122), (Table::HoldingRegister, 122, 6)]);
        // A small max_regs: every f64 in a request of its own, none split.
        let limits = Limits { max_regs: 5, gap: 0, ..Limits::default() };
        let t = tags(&["hr:0:f64", "hr:4:f64", "hr:8:f64", "hr:12"]);
        let reqs = plan_reads(&t, &limits);
        check_plan(&t, &reqs, &limits);
        assert_eq!(
            spans(&reqs),
            [(Table::HoldingRegister, 0, 4), (Table::HoldingRegister, 4, 4), (Table::HoldingRegister, 8, 5)]
        );
    }

    fn arb_address() -> impl Strategy<Value = ModbusAddress> {
        let table = prop_oneof![
            Just(Table::Coil),
            Just(Table::DiscreteInput),
            Just(Table::InputRegister),
            Just(Table::HoldingRegister)
        ];
        let dtype = prop_oneof![
            Just(DataType::U16),
            Just(DataType::I16),
            Just(DataType::U32),
            Just(DataType::I32),
            Just(DataType::F32),
            Just(DataType::U64),
            Just(DataType::I64),
            Just(DataType::F64)
        ];
        let order = prop_oneof![Just(None), Just(Some(WordOrder::High)), Just(Some(WordOrder::Low))];
        (table, 0u16..3000, dtype, order, proptest::option::of(0u8..16)).prop_map(
            |(table, address, dtype, order, bit)| {
                let item = match (table.is_bit(), bit) {
                    (true, _) => Item::Bit,
                    (false, Some(b)) => Item::RegisterBit(b),
                    (false, None) => Item::Register { dtype, order },
                };
                ModbusAddress { table, address, item }
            },
        )
    }

    proptest! {
        #[test]
        fn address_display_parses_back(a in arb_address()) {
            prop_assert_eq!(ModbusAddress::parse(&a.to_string()).map_err(|e| e.to_string()), Ok(a));
        }

        #[test]
        fn parse_never_panics(s in "[a-zA-Z0-9:.]{0,24}") {
            let _ = ModbusAddress::parse(&s);
        }

        #[test]
        fn the_plan_covers_every_tag_once_whole_and_within_limits(
            t in proptest::collection::vec(arb_address(), 1..300),
            max_regs in 4u16..=125,
            max_bits in 1u16..=2000,
            gap in 0u16..40,
        ) {
            let limits = Limits { max_regs, max_bits, gap };
            let reqs = plan_reads(&t, &limits);
            check_plan(&t, &reqs, &limits);
        }
    }

    #[test]
    fn replies_decode_per_tag_and_short_replies_are_refused() {
        let req = ReadRequest { table: Table::HoldingRegister, start: 10, count: 4, tags: vec![] };
        let data = reply_data(&req, Response::ReadHoldingRegisters(vec![0x4060, 0, 0xFFFF, 0x0008])).unwrap();
        assert_eq!(decode_tag(&parse("hr:10:f32"), 10, &data, WordOrder::High).unwrap(), Value::Float(3.5));
        assert_eq!(
            decode_tag(&parse("hr:11:f32:high"), 10, &data, WordOrder::Low).unwrap(),
            Value::Float(f64::from(f32::from_bits(0x0000_FFFF)))
        );
        let swapped = reply_data(&req, Response::ReadHoldingRegisters(vec![0, 0x4060, 0, 0])).unwrap();
        assert_eq!(decode_tag(&parse("hr:10:f32:low"), 10, &swapped, WordOrder::High).unwrap(), Value::Float(3.5));
        assert_eq!(decode_tag(&parse("hr:10:f32"), 10, &swapped, WordOrder::Low).unwrap(), Value::Float(3.5));
        assert_eq!(decode_tag(&parse("hr:12:i16"), 10, &data, WordOrder::High).unwrap(), Value::Int(-1));
        assert_eq!(decode_tag(&parse("hr:13.3"), 10, &data, WordOrder::High).unwrap(), Value::Bool(true));
        assert_eq!(decode_tag(&parse("hr:13.2"), 10, &data, WordOrder::High).unwrap(), Value::Bool(false));
        assert!(decode_tag(&parse("hr:13:f32"), 10, &data, WordOrder::High).is_err());
        assert!(decode_tag(&parse("hr:9"), 10, &data, WordOrder::High).is_err());
        assert!(decode_tag(&parse("co:10"), 10, &data, WordOrder::High).is_err());
        let e = reply_data(&req, Response::ReadHoldingRegisters(vec![1, 2])).err().unwrap();
        assert!(e.contains("carried 2 registers"), "{e}");
        assert!(reply_data(&req, Response::ReadInputRegisters(vec![1, 2, 3, 4])).is_err());
        let bits = ReadRequest { table: Table::Coil, start: 0, count: 10, tags: vec![] };
        let e = reply_data(&bits, Response::ReadCoils(vec![true; 8])).err().unwrap();
        assert!(e.contains("only 8 bits"), "{e}");
        let data = reply_data(
            &bits,
            Response::ReadCoils(vec![
                false, true, false, false, false, false, false, false, true, false, false, false, false, false, false,
                false,
            ]),
        )
        .unwrap();
        assert_eq!(decode_tag(&parse("co:8"), 0, &data, WordOrder::High).unwrap(), Value::Bool(true));
    }

    #[test]
    fn exceptions_map_to_qualities_and_name_the_exception() {
        assert_eq!(exception_quality(ExceptionCode::IllegalDataAddress), Quality::BadAddress);
        assert_eq!(exception_quality(ExceptionCode::IllegalFunction), Quality::BadAddress);
        assert_eq!(exception_quality(ExceptionCode::ServerDeviceBusy), Quality::BadDevice);
        assert_eq!(exception_quality(ExceptionCode::Custom(0x42)), Quality::BadDevice);
        let t = exception_text(ExceptionCode::IllegalDataAddress);
        assert!(t.contains("0x02") && t.contains("IllegalDataAddress"), "{t}");
    }

    #[test]
    fn url_parameters_are_checked() {
        let opts = ConnectOptions::default();
        let mk = |u: &str| ModbusDriver::new(&DeviceUrl::parse(u).unwrap(), &opts);
        let d = mk("modbus://h:1502?unit=3&word_order=cdab&max_regs=60&max_bits=100&gap=0").unwrap();
        assert_eq!((d.unit, d.order), (3, WordOrder::Low));
        assert_eq!(d.limits, Limits { max_regs: 60, max_bits: 100, gap: 0 });
        let d = mk("modbus://h").unwrap();
        assert_eq!((d.unit, d.order, d.limits), (1, WordOrder::High, Limits::default()));
        for (u, why) in [
            ("modbus://h?max_regs=126", "max_regs=126 must be 1..=125"),
            ("modbus://h?max_regs=0", "must be 1..=125"),
            ("modbus://h?max_bits=2001", "must be 1..=2000"),
            ("modbus://h?unit=256", "unit="),
            ("modbus://h?word_order=middle", "unknown word order"),
            ("modbus://h?slave=1", "unknown parameter \"slave\""),
        ] {
            let e = mk(u).unwrap_err().to_string();
            assert!(e.contains(why), "{u}: {e}");
        }
    }

    #[test]
    fn prepare_refuses_tags_wider_than_max_regs() {
        let url = DeviceUrl::parse("modbus://h?max_regs=2").unwrap();
        let mut d = ModbusDriver::new(&url, &ConnectOptions::default()).unwrap();
        let e = d.prepare(&["hr:0:f64".to_string()]).unwrap_err().to_string();
        assert!(e.contains("\"hr:0:f64\"") && e.contains("max_regs=2"), "{e}");
        let list = ["hr:0:f32".to_string(), "hr:9".to_string()];
        let p = d.prepare(&list).unwrap();
        assert_eq!(d.plan_requests(p), 2);
        assert_eq!(d.prepare(&list).unwrap(), p, "the same list reuses its plan");
        assert_ne!(d.prepare(&list[..1]).unwrap(), p);
    }
}
