//! Siemens S7comm ("S7 classic", PUT/GET) client over ISO-on-TCP, written on tokio.
//!
//! URL: `s7://host:port?rack=0&slot=1&type=op|pg|basic&pdu=960` (port 102 by default).
//!
//! What of the protocol is implemented:
//! - **ISO-on-TCP** (RFC 1006): TPKT framing (§6), COTP class 0 (ISO 8073 / X.224) as RFC 1006
//!   §5 maps it: Connection Request with TPDU size 1024 and TSAPs, Connection Confirm, Data TPDUs
//!   with EOT reassembly (and segmentation of our own PDUs at the peer's TPDU size), Disconnect
//!   Request (reported as a refusal or a lost connection). Local TSAP 0x0100; remote TSAP
//!   `type << 8 | rack << 5 | slot`, type PG = 1, OP = 2 (the default: PLCs have few PG
//!   connections), S7 basic = 3.
//! - **S7comm** (no public specification; field layouts as documented by the Wireshark `s7comm`
//!   dissector and Snap7): Setup Communication (function 0xF0) proposing the `pdu` parameter
//!   and using the smaller of it and the PLC's answer; Read Var (0x04) with up to 20 S7-ANY items
//!   (syntax id 0x10, transport size BYTE) per job; Write Var (0x05) of one item, transport BIT
//!   for bit addresses and BYTE otherwise. Header error class/code become
//!   [`ConnectError::Refused`] naming them; per-item return codes become bad samples (0x03, 0x05,
//!   0x0A: `bad_address`; others `bad_device`), with the code named in `detail`.
//! - Not implemented: S7CommPlus (S7-1200/1500 "optimized" blocks and symbolic access: use
//!   non-optimized DBs with PUT/GET allowed), userdata functions (SZL, block list, clock), timers
//!   and counters, strings.
//!
//! Addresses: see [`parse_address`]. Planning (see the `plan` module): tags of one area/DB
//! within 8 bytes of each other are read as one byte range; ranges are packed into as few Read
//! Var jobs as the negotiated PDU allows (both the job and the reply must fit; 20 items at most),
//! and a range larger than one reply is split, its parts covering it exactly. When an item that
//! holds several tags fails with "address out of range", its tags are read again one by one in
//! the same cycle, so one tag past the end of a DB does not spoil its neighbours.

mod address;
mod codec;
mod plan;

use std::fmt;
use std::io;
use std::str::FromStr;
use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub use address::{parse_address, Area, S7Address, Width};
pub use codec::{
    disconnect_reason_name, fuzz_parsers, header_error_name, parse_cotp, parse_s7_reply, parse_tpkt_frame,
    parse_tpkt_header, return_code_name, ConnectConfirm, Cotp, ReadItem, ReplyBody, S7Header, S7Reply,
    SetupCommunication, RETURN_CODE_OK, RETURN_CODE_OUT_OF_RANGE,
};

use crate::driver::{timed, ConnectOptions, Driver, Pacer, PlanId};
use crate::error::{ConnectError, FrameError};
use crate::sample::{Quality, Sample};
use crate::url::{DeviceUrl, Protocol};
use crate::value::{DataType, Value};
use codec::{AnyItem, ITEM_TRANSPORT_BIT, ITEM_TRANSPORT_BYTE, TPKT_HEADER_LEN};
use plan::{Chunk, Range};

const PROTOCOL: &str = "s7";
/// PDU size proposed when the URL does not say (S7-400/1500 accept 960; others answer less).
pub const DEFAULT_PDU: u16 = 960;
/// Smallest PDU FOS works with (a job then still carries 4 items, a reply 46 bytes of data).
pub const MIN_PDU: u16 = 64;
const LOCAL_TSAP: u16 = 0x0100;
/// TPDU size proposed in the COTP CR: 2^10 = 1024 bytes.
const TPDU_SIZE_CODE: u8 = 10;
const TPDU_SIZE: usize = 1 << TPDU_SIZE_CODE;
/// Longest reassembled S7 PDU accepted (the PDU size field is 16 bits).
const MAX_PDU_BYTES: usize = u16::MAX as usize;

/// The kind of connection asked for, in the high byte of the remote TSAP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionType {
    /// Programming device (1): few per CPU, often taken by engineering tools.
    Pg,
    /// Operator panel (2): the default.
    Op,
    /// S7 basic communication (3).
    Basic,
}

impl ConnectionType {
    pub fn code(self) -> u8 {
        match self {
            ConnectionType::Pg => 1,
            ConnectionType::Op => 2,
            ConnectionType::Basic => 3,
        }
    }
}

impl fmt::Display for ConnectionType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConnectionType::Pg => "PG",
            ConnectionType::Op => "OP",
            ConnectionType::Basic => "S7 basic",
        })
    }
}

impl FromStr for ConnectionType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "pg" => Ok(ConnectionType::Pg),
            "op" => Ok(ConnectionType::Op),
            "basic" | "s7basic" | "s7" => Ok(ConnectionType::Basic),
            _ => Err(format!("unknown connection type {s:?} (expected op, pg or basic)")),
        }
    }
}

/// An open ISO connection after Setup Communication.
#[derive(Debug)]
struct Session {
    stream: TcpStream,
    /// Negotiated PDU size.
    pdu: u16,
    /// Largest TPDU the peer accepts.
    tpdu: usize,
    last_ref: u16,
}

impl Session {
    fn next_ref(&mut self) -> u16 {
        self.last_ref = self.last_ref.checked_add(1).unwrap_or(1);
        self.last_ref
    }
}

/// A prepared read: the tags and their ranges (independent of the PDU size).
#[derive(Debug)]
struct Plan {
    addresses: Vec<String>,
    tags: Vec<S7Address>,
    ranges: Vec<Range>,
    range_of: Vec<usize>,
}

/// Read Var jobs, each a list of items (parts of ranges).
type Requests = Arc<Vec<Vec<Chunk>>>;

#[derive(Debug)]
struct PlanSlot {
    plan: Arc<Plan>,
    /// Requests for the PDU size they were packed for.
    packed: Option<(usize, Requests)>,
}

/// Why part of a range could not be read.
#[derive(Debug, Clone)]
struct PartFailure {
    offset: u32,
    len: u32,
    quality: Quality,
    detail: String,
    return_code: Option<u8>,
}

/// What a set of requests brought back, per range.
#[derive(Debug)]
struct RangeData {
    bytes: Vec<Vec<u8>>,
    failures: Vec<Vec<PartFailure>>,
    times: Vec<SystemTime>,
}

/// The S7comm driver (see the module documentation).
#[derive(Debug)]
pub struct S7Driver {
    endpoint: String,
    socket_addr: String,
    options: ConnectOptions,
    rack: u8,
    slot: u8,
    conn_type: ConnectionType,
    requested_pdu: u16,
    session: Option<Session>,
    /// PDU size of the last session, for `plan_requests` while disconnected.
    last_pdu: Option<u16>,
    plans: Vec<PlanSlot>,
    pacer: Pacer,
}

impl S7Driver {
    /// Check the URL's parameters (`rack`, `slot`, `type`, `pdu`). No I/O.
    pub(crate) fn new(url: &DeviceUrl, options: &ConnectOptions) -> Result<Self, ConnectError> {
        url.check_params(&["rack", "slot", "type", "pdu"])?;
        let bad = |reason: String| ConnectError::Url { url: url.raw.clone(), reason };
        let rack: u8 = url.param("rack", 0)?;
        if rack > 7 {
            return Err(bad(format!("rack={rack} is out of range (0..=7)")));
        }
        let slot: u8 = url.param("slot", 1)?;
        if slot > 31 {
            return Err(bad(format!("slot={slot} is out of range (0..=31)")));
        }
        let conn_type: ConnectionType = url.param("type", ConnectionType::Op)?;
        let requested_pdu: u16 = url.param("pdu", DEFAULT_PDU)?;
        if requested_pdu < MIN_PDU {
            return Err(bad(format!("pdu={requested_pdu} is below the smallest usable PDU size ({MIN_PDU})")));
        }
        Ok(S7Driver {
            endpoint: url.endpoint(),
            socket_addr: url.socket_addr(),
            options: options.clone(),
            rack,
            slot,
            conn_type,
            requested_pdu,
            session: None,
            last_pdu: None,
            plans: Vec::new(),
            pacer: Pacer::new(options.min_request_gap),
        })
    }

    /// The remote TSAP: connection type in the high byte, rack × 32 + slot in the low byte.
    pub fn remote_tsap(&self) -> u16 {
        (u16::from(self.conn_type.code()) << 8) | (u16::from(self.rack) << 5) | u16::from(self.slot)
    }

    /// The PDU size negotiated with the PLC (None while disconnected).
    pub fn negotiated_pdu(&self) -> Option<u16> {
        self.session.as_ref().map(|s| s.pdu)
    }

    fn frame_error(&self, source: FrameError) -> ConnectError {
        ConnectError::Frame { endpoint: self.endpoint.clone(), protocol: PROTOCOL, source }
    }

    fn pdu_for_planning(&self) -> usize {
        usize::from(self.negotiated_pdu().or(self.last_pdu).unwrap_or(self.requested_pdu))
    }

    /// Send one S7 job and return the reassembled reply, paced and under the timeout. A
    /// connection-level failure drops the session.
    async fn transact(&mut self, request: &[u8]) -> Result<Vec<u8>, ConnectError> {
        let Some(session) = self.session.as_mut() else {
            return Err(ConnectError::NotConnected { endpoint: self.endpoint.clone() });
        };
        self.pacer.wait().await;
        let r = timed(&self.endpoint, self.options.timeout, exchange(session, &self.endpoint, request)).await;
        if matches!(&r, Err(e) if e.is_connection_lost()) {
            self.session = None;
        }
        r
    }

    fn next_ref(&mut self) -> Result<u16, ConnectError> {
        match self.session.as_mut() {
            Some(s) => Ok(s.next_ref()),
            None => Err(ConnectError::NotConnected { endpoint: self.endpoint.clone() }),
        }
    }

    /// Parse a reply, check it answers `pdu_ref`, and turn a header error into a refusal of `what`.
    fn check_reply<'a>(&mut self, bytes: &'a [u8], pdu_ref: u16, what: &str) -> Result<S7Reply<'a>, ConnectError> {
        let reply = match parse_s7_reply(bytes) {
            Ok(r) => r,
            Err(e) => {
                self.session = None;
                return Err(self.frame_error(e));
            }
        };
        if reply.header.pdu_ref != pdu_ref {
            self.session = None;
            return Err(self.frame_error(FrameError::new(
                4,
                format!("reply to PDU reference {}, expected {pdu_ref}", reply.header.pdu_ref),
            )));
        }
        let h = reply.header;
        if h.is_error() {
            return Err(ConnectError::Refused {
                endpoint: self.endpoint.clone(),
                what: what.to_string(),
                reason: format!(
                    "S7 error class 0x{:02x}, code 0x{:02x} ({})",
                    h.error_class,
                    h.error_code,
                    header_error_name(h.error_class, h.error_code)
                ),
            });
        }
        Ok(reply)
    }

    /// Run Read Var jobs for `requests` over `ranges`.
    async fn execute(&mut self, ranges: &[Range], requests: &[Vec<Chunk>]) -> Result<RangeData, ConnectError> {
        let mut data = RangeData {
            bytes: ranges.iter().map(|r| vec![0u8; r.len as usize]).collect(),
            failures: vec![Vec::new(); ranges.len()],
            times: vec![SystemTime::now(); ranges.len()],
        };
        for chunks in requests {
            let mut items = Vec::with_capacity(chunks.len());
            for c in chunks {
                let r = ranges
                    .get(c.range)
                    .ok_or_else(|| ConnectError::Other("S7 plan refers to a missing range".into()))?;
                items.push(AnyItem {
                    transport: ITEM_TRANSPORT_BYTE,
                    count: u16::try_from(c.len).unwrap_or(u16::MAX),
                    db: r.area.db_number(),
                    area: r.area.code(),
                    bit_address: (r.start + c.offset) * 8,
                });
            }
            let pdu_ref = self.next_ref()?;
            let reply_bytes = self.transact(&codec::encode_read_var(pdu_ref, &items)).await?;
            let now = SystemTime::now();
            let describe = |c: &Chunk| {
                ranges.get(c.range).map_or_else(String::new, |r| {
                    format!("{} bytes {}..{}", r.area, r.start + c.offset, r.start + c.offset + c.len)
                })
            };
            let what = format!(
                "a Read Var of {} item(s) ({}{})",
                chunks.len(),
                chunks.first().map(describe).unwrap_or_default(),
                if chunks.len() > 1 { ", ..." } else { "" }
            );
            let reply = self.check_reply(&reply_bytes, pdu_ref, &what)?;
            let got = match reply.body {
                ReplyBody::ReadVar(items) if items.len() == chunks.len() => items,
                ReplyBody::ReadVar(items) => {
                    let e = FrameError::new(
                        0,
                        format!("Read Var reply has {} items, {} were asked for", items.len(), chunks.len()),
                    );
                    self.session = None;
                    return Err(self.frame_error(e));
                }
                other => {
                    let e = FrameError::new(0, format!("expected a Read Var reply, got {other:?}"));
                    self.session = None;
                    return Err(self.frame_error(e));
                }
            };
            for (c, item) in chunks.iter().zip(got) {
                let ri = c.range;
                let fail = |quality: Quality, detail: String, return_code: Option<u8>| PartFailure {
                    offset: c.offset,
                    len: c.len,
                    quality,
                    detail,
                    return_code,
                };
                let failure = if item.return_code != RETURN_CODE_OK {
                    let quality = match item.return_code {
                        0x03 | 0x05 | 0x0A => Quality::BadAddress,
                        _ => Quality::BadDevice,
                    };
                    Some(fail(
                        quality,
                        format!(
                            "{}: item return code 0x{:02x} ({})",
                            describe(c),
                            item.return_code,
                            return_code_name(item.return_code)
                        ),
                        Some(item.return_code),
                    ))
                } else {
                    let start = c.offset as usize;
                    match data.bytes.get_mut(ri).and_then(|b| b.get_mut(start..start + item.data.len())) {
                        Some(dst) if item.data.len() == c.len as usize => {
                            dst.copy_from_slice(item.data);
                            None
                        }
                        _ => Some(fail(
                            Quality::BadProtocol,
                            format!("{}: the PLC returned {} bytes for {} asked", describe(c), item.data.len(), c.len),
                            None,
                        )),
                    }
                };
                if let Some(f) = failure {
                    if let Some(list) = data.failures.get_mut(ri) {
                        list.push(f);
                    }
                }
                if let Some(t) = data.times.get_mut(ri) {
                    *t = now;
                }
            }
        }
        Ok(data)
    }

    /// The requests of a plan at the current PDU size (packed once per PDU size).
    fn requests_for(&mut self, id: PlanId) -> Option<(Arc<Plan>, Requests)> {
        let pdu = self.pdu_for_planning();
        let slot = self.plans.get_mut(id.0)?;
        let packed = match &slot.packed {
            Some((p, reqs)) if *p == pdu => reqs.clone(),
            _ => {
                let reqs = Arc::new(plan::pack(&slot.plan.ranges, pdu));
                slot.packed = Some((pdu, reqs.clone()));
                reqs
            }
        };
        Some((slot.plan.clone(), packed))
    }
}

/// One tag's sample from the data of its range, or None when the read of its bytes failed with
/// "address out of range" for a part larger than the tag (worth retrying on its own).
fn tag_sample(
    address: &str,
    tag: &S7Address,
    range: &Range,
    ri: usize,
    data: &RangeData,
    allow_retry: bool,
) -> Option<Sample> {
    let rel = tag.byte.saturating_sub(range.start);
    let end = rel + tag.byte_len();
    let failures = data.failures.get(ri).map(Vec::as_slice).unwrap_or_default();
    if let Some(f) = failures.iter().find(|f| f.offset < end && rel < f.offset + f.len) {
        let wider = (f.offset, f.len) != (rel, tag.byte_len());
        if allow_retry && wider && f.return_code == Some(RETURN_CODE_OUT_OF_RANGE) {
            return None;
        }
        return Some(Sample::bad(address, tag.dtype, f.quality, f.detail.clone()));
    }
    let time = data.times.get(ri).copied().unwrap_or_else(SystemTime::now);
    let bytes = data.bytes.get(ri).and_then(|b| b.get(rel as usize..end as usize));
    let value = match (tag.width, bytes) {
        (Width::Bit(bit), Some([byte])) => Ok(Value::Bool((byte >> bit) & 1 == 1)),
        (_, Some(b)) => Value::from_be_bytes(b, tag.dtype),
        (_, None) => Err("the reply did not cover the address".to_string()),
    };
    Some(match value {
        Ok(v) => Sample::good(address, v, tag.dtype, time),
        Err(e) => Sample::bad(address, tag.dtype, Quality::BadProtocol, e),
    })
}

/// Read one TPKT packet (header and body).
async fn read_tpkt(stream: &mut TcpStream, endpoint: &str) -> Result<Vec<u8>, ConnectError> {
    let io_err = |source: io::Error| ConnectError::Io { endpoint: endpoint.to_string(), source };
    let mut header = [0u8; TPKT_HEADER_LEN];
    stream.read_exact(&mut header).await.map_err(io_err)?;
    let len = parse_tpkt_header(&header).map_err(|source| ConnectError::Frame {
        endpoint: endpoint.to_string(),
        protocol: PROTOCOL,
        source,
    })?;
    let mut frame = vec![0u8; len];
    frame[..TPKT_HEADER_LEN].copy_from_slice(&header);
    stream.read_exact(&mut frame[TPKT_HEADER_LEN..]).await.map_err(io_err)?;
    Ok(frame)
}

/// Send an S7 PDU and receive the reply PDU, reassembled from its DT TPDUs.
async fn exchange(session: &mut Session, endpoint: &str, request: &[u8]) -> Result<Vec<u8>, ConnectError> {
    let frame_err =
        |source: FrameError| ConnectError::Frame { endpoint: endpoint.to_string(), protocol: PROTOCOL, source };
    session
        .stream
        .write_all(&codec::encode_data_frames(request, session.tpdu))
        .await
        .map_err(|source| ConnectError::Io { endpoint: endpoint.to_string(), source })?;
    let mut pdu = Vec::new();
    loop {
        let frame = read_tpkt(&mut session.stream, endpoint).await?;
        match parse_tpkt_frame(&frame).map_err(frame_err)? {
            Cotp::Data { eot, payload } => {
                if pdu.len() + payload.len() > MAX_PDU_BYTES {
                    return Err(frame_err(FrameError::new(
                        0,
                        format!("reassembled S7 PDU exceeds {MAX_PDU_BYTES} bytes"),
                    )));
                }
                pdu.extend_from_slice(payload);
                if eot {
                    return Ok(pdu);
                }
            }
            Cotp::Disconnect { reason } => {
                return Err(ConnectError::Io {
                    endpoint: endpoint.to_string(),
                    source: io::Error::new(
                        io::ErrorKind::ConnectionAborted,
                        format!(
                            "the PLC closed the ISO connection (COTP DR, reason {reason}: {})",
                            disconnect_reason_name(reason)
                        ),
                    ),
                })
            }
            other => return Err(frame_err(FrameError::new(5, format!("expected a COTP DT TPDU, got {other:?}")))),
        }
    }
}

#[async_trait]
impl Driver for S7Driver {
    async fn connect(&mut self) -> Result<(), ConnectError> {
        self.session = None;
        let endpoint = self.endpoint.clone();
        let mut stream = TcpStream::connect(&self.socket_addr)
            .await
            .map_err(|source| ConnectError::Connect { endpoint: endpoint.clone(), source })?;
        let _ = stream.set_nodelay(true);
        let tsap = self.remote_tsap();
        let target = format!(
            "the ISO connection to remote TSAP 0x{tsap:04x} ({} connection, rack {}, slot {})",
            self.conn_type, self.rack, self.slot
        );
        // A PLC that refuses the CR usually just closes the socket: say so.
        let handshake = |e: ConnectError| match e {
            ConnectError::Io { source, .. } => ConnectError::Connect {
                endpoint: endpoint.clone(),
                source: io::Error::new(
                    source.kind(),
                    format!(
                        "{source} during the COTP connection request for {target} (wrong rack/slot, or no free \
                         connection of this type: try type=pg or type=basic)"
                    ),
                ),
            },
            other => other,
        };
        let cr = codec::encode_connection_request(LOCAL_TSAP, tsap, TPDU_SIZE_CODE);
        stream
            .write_all(&cr)
            .await
            .map_err(|source| handshake(ConnectError::Io { endpoint: endpoint.clone(), source }))?;
        let frame = read_tpkt(&mut stream, &endpoint).await.map_err(handshake)?;
        let tpdu = match parse_tpkt_frame(&frame).map_err(|e| self.frame_error(e))? {
            Cotp::ConnectConfirm(cc) => cc.tpdu_size.unwrap_or(TPDU_SIZE).min(TPDU_SIZE),
            Cotp::Disconnect { reason } => {
                return Err(ConnectError::Refused {
                    endpoint,
                    what: target,
                    reason: format!("COTP disconnect request, reason {reason} ({})", disconnect_reason_name(reason)),
                })
            }
            other => {
                return Err(
                    self.frame_error(FrameError::new(5, format!("expected a COTP Connection Confirm, got {other:?}")))
                )
            }
        };
        let mut session = Session { stream, pdu: self.requested_pdu, tpdu, last_ref: 0 };
        let pdu_ref = session.next_ref();
        let reply =
            exchange(&mut session, &endpoint, &codec::encode_setup_communication(pdu_ref, self.requested_pdu)).await?;
        self.session = Some(session);
        let r = self.check_reply(&reply, pdu_ref, "S7 Setup Communication");
        let negotiated = match r.map(|r| r.body) {
            Ok(ReplyBody::SetupCommunication(s)) => s.pdu_size,
            Ok(other) => {
                self.session = None;
                return Err(self
                    .frame_error(FrameError::new(12, format!("expected a Setup Communication reply, got {other:?}"))));
            }
            Err(e) => {
                self.session = None;
                return Err(e);
            }
        };
        let pdu = negotiated.min(self.requested_pdu);
        if pdu < MIN_PDU {
            self.session = None;
            return Err(ConnectError::Refused {
                endpoint,
                what: "S7 Setup Communication".into(),
                reason: format!("the PLC offers a PDU of {negotiated} bytes; FOS needs at least {MIN_PDU}"),
            });
        }
        if let Some(s) = self.session.as_mut() {
            s.pdu = pdu;
        }
        self.last_pdu = Some(pdu);
        tracing::debug!(device = %endpoint, pdu, tpdu, tsap = format_args!("0x{tsap:04x}"), "S7 connected");
        Ok(())
    }

    async fn disconnect(&mut self) {
        if let Some(mut s) = self.session.take() {
            let _ = s.stream.shutdown().await;
        }
    }

    fn is_connected(&self) -> bool {
        self.session.is_some()
    }

    fn prepare(&mut self, addresses: &[String]) -> Result<PlanId, ConnectError> {
        let tags = addresses.iter().map(|a| parse_address(a)).collect::<Result<Vec<_>, _>>()?;
        let (ranges, range_of) = plan::coalesce(&tags, plan::MAX_GAP);
        let plan = Plan { addresses: addresses.to_vec(), tags, ranges, range_of };
        self.plans.push(PlanSlot { plan: Arc::new(plan), packed: None });
        Ok(PlanId(self.plans.len() - 1))
    }

    fn plan_requests(&self, plan: PlanId) -> usize {
        let pdu = self.pdu_for_planning();
        match self.plans.get(plan.0) {
            Some(PlanSlot { packed: Some((p, reqs)), .. }) if *p == pdu => reqs.len(),
            Some(slot) => plan::pack(&slot.plan.ranges, pdu).len(),
            None => 0,
        }
    }

    async fn read(&mut self, plan_id: PlanId) -> Result<Vec<Sample>, ConnectError> {
        if self.session.is_none() {
            return Err(ConnectError::NotConnected { endpoint: self.endpoint.clone() });
        }
        let (plan, requests) = self
            .requests_for(plan_id)
            .ok_or_else(|| ConnectError::Other(format!("{}: unknown plan {plan_id:?}", self.endpoint)))?;
        let data = self.execute(&plan.ranges, &requests).await?;
        let mut samples: Vec<Option<Sample>> = Vec::with_capacity(plan.tags.len());
        let mut retry = Vec::new();
        for (i, (tag, address)) in plan.tags.iter().zip(&plan.addresses).enumerate() {
            let ri = plan.range_of.get(i).copied().unwrap_or_default();
            let s = plan.ranges.get(ri).and_then(|r| tag_sample(address, tag, r, ri, &data, true));
            if s.is_none() {
                retry.push(i);
            }
            samples.push(s);
        }
        if !retry.is_empty() {
            // Read the tags of failed multi-tag items one by one.
            let ranges: Vec<Range> = retry
                .iter()
                .filter_map(|&i| plan.tags.get(i))
                .map(|t| Range { area: t.area, start: t.byte, len: t.byte_len() })
                .collect();
            let requests = plan::pack(&ranges, self.pdu_for_planning());
            tracing::debug!(device = %self.endpoint, tags = retry.len(), requests = requests.len(), "re-reading tags of failed S7 items one by one");
            let data = self.execute(&ranges, &requests).await?;
            for (ri, &i) in retry.iter().enumerate() {
                if let (Some(tag), Some(address), Some(range), Some(slot)) =
                    (plan.tags.get(i), plan.addresses.get(i), ranges.get(ri), samples.get_mut(i))
                {
                    *slot = tag_sample(address, tag, range, ri, &data, false);
                }
            }
        }
        Ok(samples
            .into_iter()
            .zip(plan.addresses.iter().zip(&plan.tags))
            .map(|(s, (a, t))| s.unwrap_or_else(|| Sample::bad(a.clone(), t.dtype, Quality::BadProtocol, "not read")))
            .collect())
    }

    async fn write(&mut self, address: &str, value: &Value) -> Result<(), ConnectError> {
        let tag = parse_address(address)?;
        let refuse = |e: String| {
            ConnectError::Other(format!("{}: cannot write {value} to s7 address {address:?}: {e}", self.endpoint))
        };
        if tag.dtype == DataType::F32 {
            if let Some(x) = value.as_f64() {
                if x.is_finite() && x.abs() > f64::from(f32::MAX) {
                    return Err(refuse(format!("{x} is out of range for f32 (REAL)")));
                }
            }
        }
        let data = value.to_be_bytes(tag.dtype).map_err(refuse)?;
        let item = match tag.width {
            Width::Bit(_) => AnyItem {
                transport: ITEM_TRANSPORT_BIT,
                count: 1,
                db: tag.area.db_number(),
                area: tag.area.code(),
                bit_address: tag.bit_address(),
            },
            _ => AnyItem {
                transport: ITEM_TRANSPORT_BYTE,
                count: data.len() as u16,
                db: tag.area.db_number(),
                area: tag.area.code(),
                bit_address: tag.bit_address(),
            },
        };
        let pdu_ref = self.next_ref()?;
        let reply_bytes = self.transact(&codec::encode_write_var(pdu_ref, &item, &data)).await?;
        let what = format!("the write of {value} to {address}");
        let reply = self.check_reply(&reply_bytes, pdu_ref, &what)?;
        match reply.body {
            ReplyBody::WriteVar(codes) => match codes.as_slice() {
                [RETURN_CODE_OK] => Ok(()),
                [rc] => Err(ConnectError::Refused {
                    endpoint: self.endpoint.clone(),
                    what,
                    reason: format!("item return code 0x{rc:02x} ({})", return_code_name(*rc)),
                }),
                other => {
                    self.session = None;
                    Err(self.frame_error(FrameError::new(
                        0,
                        format!("Write Var reply has {} items, 1 was written", other.len()),
                    )))
                }
            },
            other => {
                self.session = None;
                Err(self.frame_error(FrameError::new(0, format!("expected a Write Var reply, got {other:?}"))))
            }
        }
    }

    fn protocol(&self) -> Protocol {
        Protocol::S7
    }
}

#[cfg(test)]
mod tests {
    use super::codec::tests::{ack_data, read_var_reply};
    use super::*;
    use tokio::net::TcpListener;

    fn driver(url: &str) -> Result<S7Driver, ConnectError> {
        S7Driver::new(&DeviceUrl::parse(url)?, &ConnectOptions::default())
    }

    #[test]
    fn url_parameters_and_tsap() {
        let d = driver("s7://10.0.0.5").unwrap();
        assert_eq!((d.rack, d.slot, d.conn_type, d.requested_pdu), (0, 1, ConnectionType::Op, 960));
        assert_eq!(d.remote_tsap(), 0x0201);
        assert_eq!(driver("s7://h?rack=0&slot=2&type=pg").unwrap().remote_tsap(), 0x0102);
        assert_eq!(driver("s7://h?rack=1&slot=3&type=basic").unwrap().remote_tsap(), 0x0323);
        assert_eq!(driver("s7://h?type=OP&pdu=240").unwrap().requested_pdu, 240);
        for (url, want) in [
            ("s7://h?rack=8", "rack=8 is out of range"),
            ("s7://h?slot=32", "slot=32 is out of range"),
            ("s7://h?type=hmi", "unknown connection type \"hmi\""),
            ("s7://h?pdu=10", "pdu=10 is below"),
            ("s7://h?pdu=70000", "pdu=\"70000\""),
            ("s7://h?rak=0", "unknown parameter \"rak\""),
        ] {
            let e = driver(url).unwrap_err().to_string();
            assert!(e.contains(want), "{url}: {e}");
        }
    }

    #[test]
    fn prepare_names_the_bad_address_and_counts_requests() {
        let mut d = driver("s7://h?pdu=240").unwrap();
        let e = d.prepare(&["DB1.DBW0".into(), "DB1.DBQ0".into()]).unwrap_err().to_string();
        assert!(e.contains("\"DB1.DBQ0\""), "{e}");
        let ints: Vec<String> = (0..1000).map(|i| format!("DB1.DBW{}", i * 2)).collect();
        let p = d.prepare(&ints).unwrap();
        assert_eq!(d.plan_requests(p), 10);
        let mut d = driver("s7://h").unwrap();
        let p = d.prepare(&ints).unwrap();
        assert_eq!(d.plan_requests(p), 3);
    }

    /// A scripted PLC: answers the CR, Setup Communication (with `pdu`), then each job with what
    /// `answer` builds from the request's bytes.
    async fn mock_plc(pdu: u16, tpdu: usize, answer: fn(&[u8]) -> Vec<u8>) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let cr = read_tpkt(&mut s, "test").await.unwrap();
            assert_eq!(cr[5], 0xE0, "a COTP CR first");
            let cc = [0x03, 0, 0, 0x0B, 0x06, 0xD0, 0, 1, 0, 1, 0];
            s.write_all(&cc).await.unwrap();
            loop {
                let mut job = Vec::new();
                loop {
                    let Ok(f) = read_tpkt(&mut s, "test").await else {
                        return;
                    };
                    job.extend_from_slice(&f[7..]);
                    if f[6] & 0x80 != 0 {
                        break;
                    }
                }
                let pdu_ref = u16::from_be_bytes([job[4], job[5]]);
                let reply = if job[10] == 0xF0 {
                    let mut p = vec![0xF0, 0, 0, 1, 0, 1];
                    p.extend_from_slice(&pdu.to_be_bytes());
                    ack_data(pdu_ref, (0, 0), &p, &[])
                } else {
                    let mut r = answer(&job);
                    r[4..6].copy_from_slice(&pdu_ref.to_be_bytes());
                    r
                };
                s.write_all(&codec::encode_data_frames(&reply, tpdu)).await.unwrap();
            }
        });
        port
    }

    /// Answer each Read Var item with bytes equal to the low byte of their offset; items of DB9
    /// fail with 0x05 when they reach byte 100.
    fn echo_offsets(job: &[u8]) -> Vec<u8> {
        let count = job[11] as usize;
        let mut items = Vec::new();
        for i in 0..count {
            let it = &job[12 + 12 * i..24 + 12 * i];
            let n = u16::from_be_bytes([it[4], it[5]]) as usize;
            let db = u16::from_be_bytes([it[6], it[7]]);
            let start = (u32::from_be_bytes([0, it[9], it[10], it[11]]) / 8) as usize;
            if db == 9 && start + n > 100 {
                items.push((0x05, vec![]));
            } else {
                items.push((0xFF, (start..start + n).map(|b| b as u8).collect()));
            }
        }
        read_var_reply(0, &items)
    }

    #[tokio::test]
    async fn segmented_replies_odd_items_and_out_of_range_neighbours() {
        // The mock sends 128-byte TPDUs: every reply of more than 125 bytes comes in pieces.
        let port = mock_plc(480, 128, echo_offsets).await;
        let mut d = driver(&format!("s7://127.0.0.1:{port}?pdu=960")).unwrap();
        d.connect().await.unwrap();
        assert_eq!(d.negotiated_pdu(), Some(480));
        let addrs: Vec<String> =
            ["DB1.DBB3", "DB1.DBX5.2", "DB2.DBW300", "DB9.DBW96", "DB9.DBW98", "DB9.DBW100", "DB1.DBD400:DWORD"]
                .iter()
                .map(|s| s.to_string())
                .collect();
        let p = d.prepare(&addrs).unwrap();
        let s = d.read(p).await.unwrap();
        assert_eq!(s.len(), 7);
        assert_eq!(s[0].value, Some(Value::UInt(3)));
        assert_eq!(s[1].value, Some(Value::Bool(true)), "byte 5 = 0b101: bit 2 is set");
        assert_eq!(s[2].value, Some(Value::Int(i64::from(i16::from_be_bytes([44, 45])))));
        // DB9.DBW96..DBW100 are one range that fails; DBW96 and DBW98 are read again alone.
        assert_eq!(s[3].value, Some(Value::Int(i64::from(i16::from_be_bytes([96, 97])))));
        assert_eq!(s[4].value, Some(Value::Int(i64::from(i16::from_be_bytes([98, 99])))));
        assert_eq!(s[5].quality, Quality::BadAddress);
        assert!(s[5].detail.as_deref().unwrap().contains("0x05 (address out of range)"), "{:?}", s[5].detail);
        assert_eq!(s[6].value, Some(Value::UInt(u64::from(u32::from_be_bytes([144, 145, 146, 147])))));
        // A 3000-byte range at PDU 480 through 128-byte TPDUs.
        let big: Vec<String> = (0..1500).map(|i| format!("DB3.DBW{}", i * 2)).collect();
        let p = d.prepare(&big).unwrap();
        assert_eq!(d.plan_requests(p), 7);
        let s = d.read(p).await.unwrap();
        for (i, smp) in s.iter().enumerate() {
            let b = (i * 2) as u8;
            assert_eq!(
                smp.value,
                Some(Value::Int(i64::from(i16::from_be_bytes([b, b.wrapping_add(1)])))),
                "{}",
                smp.address
            );
        }
    }

    #[tokio::test]
    async fn header_errors_are_refusals_naming_class_and_code() {
        let port = mock_plc(240, 1024, |_| ack_data(0, (0x85, 0x00), &[], &[])).await;
        let mut d = driver(&format!("s7://127.0.0.1:{port}")).unwrap();
        d.connect().await.unwrap();
        assert_eq!(d.negotiated_pdu(), Some(240));
        let p = d.prepare(&["DB1.DBW0".into()]).unwrap();
        let e = d.read(p).await.unwrap_err();
        assert!(!e.is_connection_lost());
        let m = e.to_string();
        assert!(m.contains("error class 0x85, code 0x00 (incorrect PDU size)") && m.contains("DB1 bytes 0..2"), "{m}");
        let e = d.write("DB1.DBW0", &Value::Int(1)).await.unwrap_err().to_string();
        assert!(e.contains("the write of 1 to DB1.DBW0") && e.contains("0x85"), "{e}");
        assert!(d.is_connected());
    }

    #[tokio::test]
    async fn garbage_replies_drop_the_connection() {
        let port = mock_plc(240, 1024, |_| vec![0x32, 0x03, 0, 0, 0, 0, 0, 9, 0, 0, 0, 0, 0x04]).await;
        let mut d = driver(&format!("s7://127.0.0.1:{port}")).unwrap();
        d.connect().await.unwrap();
        let p = d.prepare(&["MW0".into()]).unwrap();
        let e = d.read(p).await.unwrap_err();
        assert!(e.is_connection_lost(), "{e}");
        assert!(e.to_string().contains("malformed s7 reply"), "{e}");
        assert!(!d.is_connected());
    }

    #[tokio::test]
    async fn write_refuses_values_out_of_range_before_sending() {
        let mut d = driver("s7://127.0.0.1:1").unwrap();
        for (addr, v, want) in [
            ("DB1.DBW0", Value::Int(40000), "40000 is out of range for i16"),
            ("DB1.DBB0", Value::Int(-1), "out of range for u8"),
            ("DB1.DBD0:REAL", Value::Float(1e300), "out of range for f32"),
            ("DB1.DBX0.0", Value::Int(2), "out of range for bool"),
        ] {
            let e = d.write(addr, &v).await.unwrap_err().to_string();
            assert!(e.contains(want) && e.contains(addr), "{addr}: {e}");
        }
        let e = d.write("DB1.DBW0", &Value::Int(1)).await.unwrap_err();
        assert!(matches!(e, ConnectError::NotConnected { .. }), "{e}");
    }
}
