//! EtherNet/IP + CIP client for Rockwell Logix tags (ControlLogix, CompactLogix), written on
//! tokio: explicit, unconnected messaging over one TCP connection.
//!
//! URL: `enip://host:port?slot=0` (port 44818 by default). `slot` is the backplane slot of the
//! controller: requests are sent through the Connection Manager's Unconnected Send with the
//! route path port 1 (backplane), link `slot`. `slot=none` sends them straight to the target's
//! Message Router instead (controllers with a built-in Ethernet port that do not route, e.g.
//! Micro800).
//!
//! What of the specifications is implemented (ODVA CIP Vol 1 "Common Industrial Protocol" and
//! Vol 2 "EtherNet/IP Adaptation of CIP"; Logix services from Rockwell 1756-PM020):
//! - **Encapsulation** (Vol 2 §2-3, §2-4): the 24-byte little-endian header; RegisterSession
//!   (0x65) on connect, UnRegisterSession (0x66) on disconnect, SendRRData (0x6F) for every
//!   request. The sender context numbers requests so a reply is matched to its request; a
//!   non-zero encapsulation status fails the request and drops the session.
//! - **Common Packet Format** (Vol 2 §2-6): a null address item and an unconnected data item.
//! - **CIP Message Router** requests and replies (Vol 1 §2-4), with general and extended status
//!   (Appendix B); **EPATH** (Appendix C): ANSI extended symbolic segments (0x91) and element
//!   segments (0x28/0x29/0x2A), see [`parse_address`]; **Unconnected Send** (0x52, Vol 1
//!   §3-5.5.2) with a port segment route path.
//! - **Services**: Multiple Service Packet (0x0A, Vol 1 §) for every read and write, so one
//!   request carries many items and each item gets its own status; Read Tag (0x4C) for single
//!   elements; Read Tag Fragmented (0x52) for runs of consecutive array elements, continued at
//!   the returned byte offset while the reply says "partial transfer" (0x06); Write Tag (0x4D) of
//!   one element, typed with the type a read of the same address returned (read first when it
//!   is not known yet); Get Instance Attribute List (0x55) on the Symbol object (0x6B) for
//!   [`browse`](crate::Connection::browse) (see the `symbols` module).
//! - **Data types**: BOOL, SINT, INT, DINT, LINT, USINT, UINT, UDINT, ULINT, REAL, LREAL and
//!   the bit strings BYTE, WORD, DWORD, LWORD (as unsigned integers). Structures (UDTs, Logix
//!   STRING) and CIP strings give `bad_type_mismatch` samples: read their atomic members.
//! - **Status → quality**: 0x04 and 0x05 (no such tag) and Logix 0xFF/0x2104, 0xFF/0x2105 (index
//!   beyond the end of the tag) are `bad_address`; 0xFF/0x2107 is `bad_type_mismatch`; other
//!   codes `bad_device`. The status and its name are in the sample's `detail`.
//! - Not implemented: connected messaging (Forward Open, SendUnitData), ListIdentity, bit access
//!   to integers (`Tag.5`), whole structures and strings, reading several elements into one
//!   sample.
//!
//! - Known gap: a real Logix controller stores BOOL arrays as DWORDs and indexes them by 32-bit
//!   word, so `Bits[35]` of a BOOL[] reads the 36th DWORD (reported as u32), not bit 35. cpppo,
//!   the simulator tested against, serves BOOL arrays element by element, so this is untested.
//!
//! Size limits: every request, Unconnected Send included, stays within 500 bytes and every
//! reply is planned to fit 490 bytes (Logix's unconnected message limit is 504); see the `plan`
//! module. When a range of elements fails as a whole (one element past the end of the array,
//! elements that are not atomic), its elements are read again one by one in the same cycle and
//! the plan keeps them apart from then on, so one bad element does not spoil its neighbours.
//! `plan_requests` counts the planned packets; continuations of a partial transfer and such
//! re-reads add requests when they happen.

mod address;
mod codec;
mod plan;
mod symbols;

use std::collections::HashMap;
use std::io;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub use address::{parse_address, TagAddress, TagSegment, MAX_PATH_BYTES};
pub use codec::{
    cip_status_name, encap_status_name, encode_multiple_service, encode_read_tag, encode_read_tag_fragmented,
    encode_register_session, encode_send_rr_data, encode_unconnected_send, encode_write_tag, fuzz_parsers,
    parse_cip_reply, parse_cpf, parse_encap_frame, parse_encap_header, parse_multiple_service_reply,
    parse_send_rr_data, parse_tag_data, AtomicType, CipReply, CipStatus, CpfItem, EncapHeader, TagType,
    ENCAP_HEADER_LEN,
};
pub use symbols::{encode_symbol_list_request, parse_symbol_list, Symbol};

use crate::driver::{timed, BrowseEntry, ConnectOptions, Driver, Pacer, PlanId};
use crate::error::{ConnectError, FrameError};
use crate::sample::{Quality, Sample};
use crate::url::{DeviceUrl, Protocol};
use crate::value::{DataType, Value};
use codec::{
    CMD_REGISTER_SESSION, CMD_SEND_RR_DATA, REPLY_BIT, SERVICE_GET_INSTANCE_ATTRIBUTE_LIST, SERVICE_MULTIPLE,
    SERVICE_READ_TAG, SERVICE_READ_TAG_FRAGMENTED, SERVICE_UNCONNECTED_SEND, SERVICE_WRITE_TAG,
    STATUS_EMBEDDED_SERVICE_ERROR, STATUS_OK, STATUS_PARTIAL, STATUS_SERVICE_NOT_SUPPORTED,
};
use plan::{Budget, Item};

const PROTOCOL: &str = "enip";
/// Largest CIP request FOS sends, Unconnected Send wrapping included.
pub const MAX_REQUEST: usize = 500;
/// Largest reply a planned Multiple Service Packet may produce.
pub const MAX_REPLY: usize = 490;
/// Most Get Instance Attribute List requests one scope's listing may take.
const MAX_LIST_REQUESTS: usize = 10_000;
/// Most continuation requests of one fragmented read.
const MAX_FRAGMENTS: usize = 1_000;

/// A reply to one SendRRData request.
enum Exchange {
    /// The CIP reply (the unconnected data item).
    Cip(Vec<u8>),
    /// The target answered with a non-zero encapsulation status (no CIP reply).
    EncapStatus(u32),
}

/// How each item of one Multiple Service Packet fared.
enum Outcome {
    Items(Vec<ItemReply>),
    /// The packet as a whole failed: every item gets this quality and detail.
    Failed(Quality, String),
}

/// Why reading a frame failed.
enum Fail {
    Io(io::Error),
    Frame(FrameError),
}

impl From<io::Error> for Fail {
    fn from(e: io::Error) -> Self {
        Fail::Io(e)
    }
}

/// One item reply, owned.
#[derive(Debug)]
struct ItemReply {
    service: u8,
    status: CipStatus,
    data: Vec<u8>,
}

#[derive(Debug)]
struct Session {
    stream: TcpStream,
    handle: u32,
}

#[derive(Debug, Default)]
struct Plan {
    addresses: Vec<String>,
    /// Multiple Service Packets, each a list of items.
    packets: Vec<Vec<Item>>,
}

/// The EtherNet/IP driver. See the module documentation.
#[derive(Debug)]
pub struct EnipDriver {
    endpoint: String,
    socket_addr: String,
    /// Backplane slot to route to with Unconnected Send; None: no routing.
    slot: Option<u8>,
    timeout: Duration,
    pacer: Pacer,
    session: Option<Session>,
    /// Set while a request is in flight: a request cancelled half-way (timeout) leaves the
    /// stream in an unknown state, so the connection then counts as lost.
    in_flight: bool,
    context: u64,
    plans: Vec<Plan>,
    /// Element types learnt from replies, by request path (writes need them).
    types: HashMap<Vec<u8>, AtomicType>,
}

impl EnipDriver {
    pub(crate) fn new(url: &DeviceUrl, options: &ConnectOptions) -> Result<Self, ConnectError> {
        url.check_params(&["slot"])?;
        let slot = match url.params.get("slot").map(|s| s.trim().to_ascii_lowercase()) {
            None => Some(0),
            Some(s) if s == "none" => None,
            Some(s) => Some(s.parse::<u8>().map_err(|e| ConnectError::Url {
                url: url.raw.clone(),
                reason: format!("parameter slot={s:?}: {e} (expected a backplane slot 0-255, or none)"),
            })?),
        };
        Ok(EnipDriver {
            endpoint: url.endpoint(),
            socket_addr: url.socket_addr(),
            slot,
            timeout: options.timeout,
            pacer: Pacer::new(options.min_request_gap),
            session: None,
            in_flight: false,
            context: 0,
            plans: Vec::new(),
            types: HashMap::new(),
        })
    }

    fn budget(&self) -> Budget {
        // The Unconnected Send wrapping of a ~500-byte request adds 14 or 15 bytes.
        let wrap = if self.slot.is_some() { codec::unconnected_send_overhead(1) } else { 0 };
        Budget { request: MAX_REQUEST - wrap, reply: MAX_REPLY }
    }

    fn io_error(&self, source: io::Error) -> ConnectError {
        ConnectError::Io { endpoint: self.endpoint.clone(), source }
    }

    fn frame_error(&self, source: FrameError) -> ConnectError {
        ConnectError::Frame { endpoint: self.endpoint.clone(), protocol: PROTOCOL, source }
    }

    /// Wrap a Message Router request in an Unconnected Send when routing.
    fn route(&self, request: &[u8]) -> Vec<u8> {
        match self.slot {
            None => request.to_vec(),
            Some(slot) => {
                // The target gives up after ticks * 128 ms: our own timeout, within 1..=255 ticks.
                let ticks = (self.timeout.as_millis() / 128).clamp(1, 255);
                encode_unconnected_send(request, slot, u8::try_from(ticks).unwrap_or(u8::MAX))
            }
        }
    }

    fn next_context(&mut self) -> [u8; 8] {
        self.context = self.context.wrapping_add(1);
        self.context.to_le_bytes()
    }

    /// Send one encapsulation frame and read the reply frame, checking command and context.
    /// Any failure drops the session.
    async fn exchange_frame(
        &mut self,
        frame: &[u8],
        command: u16,
        context: [u8; 8],
    ) -> Result<(EncapHeader, Vec<u8>), ConnectError> {
        let Some(session) = self.session.as_mut() else {
            return Err(ConnectError::NotConnected { endpoint: self.endpoint.clone() });
        };
        self.in_flight = true;
        let r = async {
            session.stream.write_all(frame).await?;
            let mut head = [0u8; ENCAP_HEADER_LEN];
            session.stream.read_exact(&mut head).await?;
            let header = parse_encap_header(&head).map_err(Fail::Frame)?;
            let mut data = vec![0u8; usize::from(header.length)];
            session.stream.read_exact(&mut data).await?;
            Ok::<_, Fail>((header, data))
        }
        .await;
        self.in_flight = false;
        let r = match r {
            Ok((header, _)) if header.command != command => Err(self.frame_error(FrameError::new(
                0,
                format!("reply command 0x{:04x} to a request with command 0x{command:04x}", header.command),
            ))),
            Ok((header, _)) if header.context != context => {
                Err(self.frame_error(FrameError::new(12, "the reply's sender context matches no request in flight")))
            }
            Ok(x) => Ok(x),
            Err(Fail::Io(e)) if e.kind() == io::ErrorKind::UnexpectedEof => {
                Err(self.io_error(io::Error::new(e.kind(), "the device closed the connection")))
            }
            Err(Fail::Io(e)) => Err(self.io_error(e)),
            Err(Fail::Frame(e)) => Err(self.frame_error(e)),
        };
        if r.is_err() {
            self.session = None;
        }
        r
    }

    /// One SendRRData request/reply with a CIP request (already routed).
    async fn exchange(&mut self, cip: &[u8]) -> Result<Exchange, ConnectError> {
        let handle = self.session.as_ref().map(|s| s.handle).unwrap_or_default();
        let context = self.next_context();
        let frame = encode_send_rr_data(handle, context, cip);
        let endpoint = self.endpoint.clone();
        self.pacer.wait().await;
        let (header, data) =
            timed(&endpoint, self.timeout, self.exchange_frame(&frame, CMD_SEND_RR_DATA, context)).await?;
        if header.status != 0 {
            // cpppo closes the connection after one; real targets keep it. Start afresh.
            self.session = None;
            return Ok(Exchange::EncapStatus(header.status));
        }
        let payload = if header.session != handle {
            Err(FrameError::new(4, format!("reply for session 0x{:08x}, ours is 0x{handle:08x}", header.session)))
        } else {
            parse_send_rr_data(&data).map_err(|e| FrameError::new(e.offset + ENCAP_HEADER_LEN, e.reason))
        };
        match payload {
            Ok(p) => Ok(Exchange::Cip(p.to_vec())),
            Err(e) => {
                self.session = None;
                Err(self.frame_error(e))
            }
        }
    }

    /// Send item requests as one Multiple Service Packet and split the reply into item replies.
    async fn multiple(&mut self, requests: &[Vec<u8>]) -> Result<Outcome, ConnectError> {
        let cip = self.route(&encode_multiple_service(requests));
        let bytes = match self.exchange(&cip).await? {
            Exchange::Cip(b) => b,
            Exchange::EncapStatus(s) => {
                return Ok(Outcome::Failed(
                    Quality::BadDevice,
                    format!("encapsulation status 0x{s:04x} ({})", encap_status_name(s)),
                ))
            }
        };
        let reply = parse_cip_reply(&bytes).map_err(|e| self.frame_error(e))?;
        match reply.request_service() {
            SERVICE_MULTIPLE if matches!(reply.status, STATUS_OK | STATUS_EMBEDDED_SERVICE_ERROR) => {
                let items = parse_multiple_service_reply(reply.data).map_err(|e| self.frame_error(e))?;
                if items.len() != requests.len() {
                    return Err(self.frame_error(FrameError::new(
                        4,
                        format!("{} replies to a Multiple Service Packet of {} requests", items.len(), requests.len()),
                    )));
                }
                Ok(Outcome::Items(
                    items
                        .into_iter()
                        .map(|r| ItemReply { service: r.service, status: r.status(), data: r.data.to_vec() })
                        .collect(),
                ))
            }
            SERVICE_MULTIPLE => Ok(Outcome::Failed(reply.status().quality(), reply.status().describe())),
            SERVICE_UNCONNECTED_SEND if self.slot.is_some() && reply.status != STATUS_OK => Ok(Outcome::Failed(
                Quality::BadDevice,
                format!(
                    "unconnected send to backplane slot {}: {}",
                    self.slot.unwrap_or_default(),
                    reply.status().describe()
                ),
            )),
            _ => Err(self.frame_error(FrameError::new(
                0,
                format!(
                    "reply service 0x{:02x} to a Multiple Service Packet (0x{:02x})",
                    reply.service,
                    SERVICE_MULTIPLE | REPLY_BIT
                ),
            ))),
        }
    }

    /// Read the items of one packet into `out`; returns the indexes of range items that failed
    /// as a whole (to be read again element by element).
    async fn read_packet(
        &mut self,
        items: &[Item],
        addresses: &[String],
        out: &mut [Option<Sample>],
    ) -> Result<Vec<usize>, ConnectError> {
        let requests: Vec<Vec<u8>> = items.iter().map(Item::request).collect();
        let outcome = self.multiple(&requests).await?;
        let time = SystemTime::now();
        let replies = match outcome {
            Outcome::Items(r) => r,
            Outcome::Failed(q, detail) => {
                for item in items {
                    self.fill_bad(item, addresses, out, q, &detail);
                }
                return Ok(Vec::new());
            }
        };
        let mut failed = Vec::new();
        for (i, (item, reply)) in items.iter().zip(replies).enumerate() {
            match item {
                Item::Single { path, outputs } => {
                    let s = self.single_sample(path, &reply, time);
                    put(out, addresses, outputs, &s);
                }
                Item::Range { base, start, outputs } => {
                    match self.range_values(base, *start, outputs.len(), reply).await? {
                        Some((ty, values)) => {
                            let time = SystemTime::now();
                            for ((outs, value), index) in outputs.iter().zip(values).zip(*start..) {
                                self.types.insert(plan::element_path(base, index), ty);
                                put(out, addresses, outs, &Ok((value, ty.data_type(), time)));
                            }
                        }
                        None => failed.push(i),
                    }
                }
            }
        }
        Ok(failed)
    }

    fn fill_bad(&self, item: &Item, addresses: &[String], out: &mut [Option<Sample>], q: Quality, detail: &str) {
        match item {
            Item::Single { path, outputs } => {
                put(out, addresses, outputs, &Err((q, self.dtype_of(path), detail.to_string())))
            }
            Item::Range { base, start, outputs } => {
                for (outs, index) in outputs.iter().zip(*start..) {
                    let dtype = self.dtype_of(&plan::element_path(base, index));
                    put(out, addresses, outs, &Err((q, dtype, detail.to_string())));
                }
            }
        }
    }

    fn dtype_of(&self, path: &[u8]) -> DataType {
        self.types.get(path).map(|t| t.data_type()).unwrap_or(DataType::F64)
    }

    /// The sample of a Read Tag item reply.
    fn single_sample(&mut self, path: &[u8], reply: &ItemReply, time: SystemTime) -> ItemResult {
        let dtype = self.dtype_of(path);
        if reply.service != SERVICE_READ_TAG | REPLY_BIT {
            return Err((
                Quality::BadProtocol,
                dtype,
                format!("reply service 0x{:02x} to a Read Tag (0xcc)", reply.service),
            ));
        }
        if reply.status.general != STATUS_OK {
            return Err((reply.status.quality(), dtype, reply.status.describe()));
        }
        let (ty, bytes) = match parse_tag_data(&reply.data) {
            Ok(x) => x,
            Err(e) => return Err((Quality::BadProtocol, dtype, format!("malformed Read Tag reply: {e}"))),
        };
        let TagType::Atomic(t) = ty else {
            return Err((
                Quality::BadTypeMismatch,
                dtype,
                format!("the tag is {}, which FOS does not read (atomic types only)", ty.describe()),
            ));
        };
        match t.decode(bytes) {
            Ok(v) => {
                self.types.insert(path.to_vec(), t);
                Ok((v, t.data_type(), time))
            }
            Err(e) => Err((Quality::BadProtocol, t.data_type(), format!("malformed Read Tag reply: {e}"))),
        }
    }

    /// The values of a Read Tag Fragmented range, continuing while the target answers "partial
    /// transfer". None when the range must be read element by element instead.
    async fn range_values(
        &mut self,
        base: &[u8],
        start: u32,
        count: usize,
        first: ItemReply,
    ) -> Result<Option<(AtomicType, Vec<Value>)>, ConnectError> {
        let Some((mut status, ty, mut data)) = fragment(&first) else {
            return Ok(None);
        };
        let Some(expected) = count.checked_mul(ty.size()) else {
            return Ok(None);
        };
        let path = plan::element_path(base, start);
        let count16 = u16::try_from(count).unwrap_or(u16::MAX);
        let mut fragments = 0;
        while status == STATUS_PARTIAL && data.len() < expected && fragments < MAX_FRAGMENTS {
            fragments += 1;
            let offset = u32::try_from(data.len()).unwrap_or(u32::MAX);
            let req = encode_read_tag_fragmented(&path, count16, offset);
            let reply = match self.multiple(&[req]).await? {
                Outcome::Items(mut r) if r.len() == 1 => r.pop(),
                _ => None,
            };
            let Some((s, t, more)) = reply.as_ref().and_then(fragment) else {
                return Ok(None);
            };
            if t != ty || more.is_empty() {
                return Ok(None);
            }
            status = s;
            data.extend_from_slice(&more);
        }
        if data.len() != expected {
            return Ok(None);
        }
        let values: Result<Vec<Value>, String> = data.chunks(ty.size()).map(|c| ty.decode(c)).collect();
        Ok(values.ok().map(|v| (ty, v)))
    }

    /// Read one address's type (for a write whose type is not known yet).
    async fn learn_type(&mut self, address: &str, path: &[u8]) -> Result<AtomicType, ConnectError> {
        let endpoint = self.endpoint.clone();
        let refuse = |reason: String| ConnectError::Refused {
            endpoint: endpoint.clone(),
            what: format!("a read of {address} to learn its type before writing it"),
            reason,
        };
        let reply = match self.multiple(&[encode_read_tag(path, 1)]).await? {
            Outcome::Items(mut r) if r.len() == 1 => r.pop(),
            Outcome::Failed(_, detail) => return Err(refuse(detail)),
            Outcome::Items(_) => None,
        };
        let Some(reply) = reply else {
            return Err(refuse("no reply item".into()));
        };
        match self.single_sample(path, &reply, SystemTime::now()) {
            Ok(_) => self.types.get(path).copied().ok_or_else(|| refuse("no type in the reply".into())),
            Err((_, _, detail)) => Err(refuse(detail)),
        }
    }

    /// List the symbols of the controller scope or of one program.
    async fn list_symbols(&mut self, program: Option<&str>) -> Result<Vec<Symbol>, ConnectError> {
        let what = "tag listing (CIP service 0x55, Get Instance Attribute List on the Symbol object 0x6B)";
        let unsupported = |endpoint: &str, carried: &str| ConnectError::Refused {
            endpoint: endpoint.to_string(),
            what: what.to_string(),
            reason: format!(
                "the device does not support tag listing (CIP service 0x55): general status 0x08 \
                 (service not supported){carried}; read tags by their names instead"
            ),
        };
        let mut symbols: Vec<Symbol> = Vec::new();
        let mut start = 0u32;
        for _ in 0..MAX_LIST_REQUESTS {
            let cip = self.route(&encode_symbol_list_request(program, start));
            let bytes = match self.exchange(&cip).await? {
                Exchange::Cip(b) => b,
                Exchange::EncapStatus(s) if s == u32::from(STATUS_SERVICE_NOT_SUPPORTED) => {
                    return Err(unsupported(&self.endpoint, ", sent as the encapsulation status"))
                }
                Exchange::EncapStatus(s) => {
                    return Err(ConnectError::Refused {
                        endpoint: self.endpoint.clone(),
                        what: what.into(),
                        reason: format!("encapsulation status 0x{s:04x} ({})", encap_status_name(s)),
                    })
                }
            };
            let reply = parse_cip_reply(&bytes).map_err(|e| self.frame_error(e))?;
            let expected = SERVICE_GET_INSTANCE_ATTRIBUTE_LIST | REPLY_BIT;
            if reply.service != expected
                && !(reply.service == SERVICE_UNCONNECTED_SEND | REPLY_BIT && reply.status != STATUS_OK)
            {
                return Err(self.frame_error(FrameError::new(
                    0,
                    format!("reply service 0x{:02x} to a 0x55 request", reply.service),
                )));
            }
            match reply.status {
                STATUS_OK | STATUS_PARTIAL => {}
                STATUS_SERVICE_NOT_SUPPORTED => return Err(unsupported(&self.endpoint, "")),
                _ => {
                    return Err(ConnectError::Refused {
                        endpoint: self.endpoint.clone(),
                        what: what.into(),
                        reason: reply.status().describe(),
                    })
                }
            }
            let page = parse_symbol_list(reply.data).map_err(|e| self.frame_error(e))?;
            let last = page.last().map(|s| s.instance);
            symbols.extend(page);
            if reply.status == STATUS_OK {
                return Ok(symbols);
            }
            match last {
                Some(l) if l >= start && l < u32::MAX => start = l + 1,
                _ => {
                    return Err(self.frame_error(FrameError::new(
                        0,
                        "partial symbol list that does not advance (no entries, or instance ids going back)",
                    )))
                }
            }
        }
        Err(ConnectError::Refused {
            endpoint: self.endpoint.clone(),
            what: what.into(),
            reason: format!("the listing did not end after {MAX_LIST_REQUESTS} requests"),
        })
    }
}

/// A sample's value, type and time, or its quality, type and detail.
type ItemResult = Result<(Value, DataType, SystemTime), (Quality, DataType, String)>;

fn put(out: &mut [Option<Sample>], addresses: &[String], outputs: &[usize], r: &ItemResult) {
    for &o in outputs {
        let Some(address) = addresses.get(o) else {
            continue;
        };
        let s = match r {
            Ok((v, t, time)) => Sample::good(address.clone(), v.clone(), *t, *time),
            Err((q, t, detail)) => Sample::bad(address.clone(), *t, *q, detail.clone()),
        };
        if let Some(slot) = out.get_mut(o) {
            *slot = Some(s);
        }
    }
}

/// Status, element type and data of a Read Tag Fragmented item reply that can be used, or None.
fn fragment(reply: &ItemReply) -> Option<(u8, AtomicType, Vec<u8>)> {
    if reply.service != SERVICE_READ_TAG_FRAGMENTED | REPLY_BIT {
        return None;
    }
    if reply.status.general != STATUS_OK && reply.status.general != STATUS_PARTIAL {
        return None;
    }
    match parse_tag_data(&reply.data) {
        Ok((TagType::Atomic(t), bytes)) if bytes.len() % t.size() == 0 => {
            Some((reply.status.general, t, bytes.to_vec()))
        }
        _ => None,
    }
}

#[async_trait]
impl Driver for EnipDriver {
    async fn connect(&mut self) -> Result<(), ConnectError> {
        self.session = None;
        self.in_flight = false;
        let stream = TcpStream::connect(&self.socket_addr)
            .await
            .map_err(|source| ConnectError::Connect { endpoint: self.endpoint.clone(), source })?;
        let _ = stream.set_nodelay(true);
        self.session = Some(Session { stream, handle: 0 });
        let context = self.next_context();
        let (header, _) = self.exchange_frame(&encode_register_session(context), CMD_REGISTER_SESSION, context).await?;
        if header.status != 0 || header.session == 0 {
            self.session = None;
            return Err(ConnectError::Refused {
                endpoint: self.endpoint.clone(),
                what: "RegisterSession".into(),
                reason: format!(
                    "encapsulation status 0x{:04x} ({}), session handle 0x{:08x}",
                    header.status,
                    encap_status_name(header.status),
                    header.session
                ),
            });
        }
        if let Some(s) = self.session.as_mut() {
            s.handle = header.session;
        }
        tracing::debug!(device = %self.endpoint, session = header.session, "EtherNet/IP session registered");
        Ok(())
    }

    async fn disconnect(&mut self) {
        if let Some(mut s) = self.session.take() {
            if !self.in_flight {
                let context = self.next_context();
                let frame = codec::encode_unregister_session(s.handle, context);
                let _ = tokio::time::timeout(Duration::from_millis(500), s.stream.write_all(&frame)).await;
            }
            let _ = tokio::time::timeout(Duration::from_millis(500), s.stream.shutdown()).await;
        }
        self.in_flight = false;
    }

    fn is_connected(&self) -> bool {
        self.session.is_some() && !self.in_flight
    }

    fn prepare(&mut self, addresses: &[String]) -> Result<PlanId, ConnectError> {
        let parsed = addresses.iter().map(|a| parse_address(a)).collect::<Result<Vec<_>, _>>()?;
        let packets = plan::pack(plan::items(&parsed), self.budget());
        self.plans.push(Plan { addresses: addresses.to_vec(), packets });
        Ok(PlanId(self.plans.len() - 1))
    }

    fn plan_requests(&self, plan: PlanId) -> usize {
        self.plans.get(plan.0).map(|p| p.packets.len()).unwrap_or(0)
    }

    async fn read(&mut self, plan_id: PlanId) -> Result<Vec<Sample>, ConnectError> {
        let Some(slot) = self.plans.get_mut(plan_id.0) else {
            return Err(ConnectError::Other(format!("{}: unknown read plan {}", self.endpoint, plan_id.0)));
        };
        let mut plan = std::mem::take(slot);
        let r = self.read_plan(&mut plan).await;
        if let Some(slot) = self.plans.get_mut(plan_id.0) {
            *slot = plan;
        }
        r
    }

    async fn browse(&mut self) -> Result<Vec<BrowseEntry>, ConnectError> {
        let mut entries = Vec::new();
        let mut programs = Vec::new();
        for s in self.list_symbols(None).await? {
            if s.is_system() {
                continue;
            }
            if s.is_program() && s.name.len() <= address::MAX_NAME_BYTES {
                programs.push(s.name.clone());
            }
            entries.push(s.entry(""));
        }
        for p in programs {
            let scope = format!("{p}.");
            for s in self.list_symbols(Some(&p)).await? {
                if !s.is_system() && !s.is_program() {
                    entries.push(s.entry(&scope));
                }
            }
        }
        Ok(entries)
    }

    async fn write(&mut self, address: &str, value: &Value) -> Result<(), ConnectError> {
        let tag = parse_address(address)?;
        let path = tag.path();
        if self.session.is_none() {
            return Err(ConnectError::NotConnected { endpoint: self.endpoint.clone() });
        }
        let ty = match self.types.get(&path) {
            Some(t) => *t,
            None => self.learn_type(address, &path).await?,
        };
        let data = ty.encode(value).map_err(|e| {
            ConnectError::Other(format!("{}: cannot write {value} to enip address {address:?}: {e}", self.endpoint))
        })?;
        let what = format!("the write of {value} to {address} ({})", ty.name());
        let refuse = |endpoint: &str, reason: String| ConnectError::Refused {
            endpoint: endpoint.to_string(),
            what: what.clone(),
            reason,
        };
        let r =
            match self.multiple(&[encode_write_tag(&path, ty, &data)]).await? {
                Outcome::Failed(_, detail) => Err(refuse(&self.endpoint, detail)),
                Outcome::Items(r) => match r.as_slice() {
                    [reply] if reply.service == SERVICE_WRITE_TAG | REPLY_BIT && reply.status.general == STATUS_OK => {
                        Ok(())
                    }
                    [reply] if reply.service == SERVICE_WRITE_TAG | REPLY_BIT => {
                        Err(refuse(&self.endpoint, reply.status.describe()))
                    }
                    _ => Err(self
                        .frame_error(FrameError::new(0, "the reply to a Write Tag is not one Write Tag reply (0xcd)"))),
                },
            };
        if r.is_err() {
            // The tag may have changed type since it was read (a program download): ask again next time.
            self.types.remove(&path);
        }
        r
    }

    fn protocol(&self) -> Protocol {
        Protocol::Enip
    }
}

impl EnipDriver {
    async fn read_plan(&mut self, plan: &mut Plan) -> Result<Vec<Sample>, ConnectError> {
        let addresses = std::mem::take(&mut plan.addresses);
        let mut out: Vec<Option<Sample>> = vec![None; addresses.len()];
        let r = self.read_packets(plan, &addresses, &mut out).await;
        plan.addresses = addresses;
        r?;
        Ok(out
            .into_iter()
            .zip(&plan.addresses)
            .map(|(s, a)| {
                s.unwrap_or_else(|| {
                    Sample::bad(a.clone(), DataType::F64, Quality::BadProtocol, "no reply for this address")
                })
            })
            .collect())
    }

    async fn read_packets(
        &mut self,
        plan: &mut Plan,
        addresses: &[String],
        out: &mut [Option<Sample>],
    ) -> Result<(), ConnectError> {
        let mut retry: Vec<Item> = Vec::new();
        let mut split: Vec<(usize, Vec<usize>)> = Vec::new();
        for (p, packet) in plan.packets.iter().enumerate() {
            if self.session.is_none() {
                // The target closed the session after an encapsulation error.
                for item in packet {
                    self.fill_bad(item, addresses, out, Quality::BadNotConnected, "the device closed the session");
                }
                continue;
            }
            let failed = self.read_packet(packet, addresses, out).await?;
            if !failed.is_empty() {
                retry.extend(failed.iter().filter_map(|&i| packet.get(i).cloned()).flat_map(Item::into_singles));
                split.push((p, failed));
            }
        }
        if retry.is_empty() {
            return Ok(());
        }
        for packet in plan::pack(retry, self.budget()) {
            if self.session.is_some() {
                self.read_packet(&packet, addresses, out).await?;
            }
        }
        // From now on read those ranges element by element.
        let mut items: Vec<Item> = Vec::new();
        for (p, packet) in std::mem::take(&mut plan.packets).into_iter().enumerate() {
            let failed = split.iter().find(|(q, _)| *q == p).map(|(_, f)| f.as_slice()).unwrap_or_default();
            for (i, item) in packet.into_iter().enumerate() {
                if failed.contains(&i) {
                    items.extend(item.into_singles());
                } else {
                    items.push(item);
                }
            }
        }
        plan.packets = plan::pack(items, self.budget());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn driver(url: &str) -> Result<EnipDriver, ConnectError> {
        EnipDriver::new(&DeviceUrl::parse(url)?, &ConnectOptions::default())
    }

    #[test]
    fn url_parameters_are_checked() {
        assert_eq!(driver("enip://h").unwrap().slot, Some(0));
        assert_eq!(driver("enip://h?slot=3").unwrap().slot, Some(3));
        assert_eq!(driver("enip://h?slot=none").unwrap().slot, None);
        let e = driver("enip://h?slot=x").unwrap_err().to_string();
        assert!(e.contains("slot=\"x\"") && e.contains("backplane slot"), "{e}");
        let e = driver("enip://h?slto=1").unwrap_err().to_string();
        assert!(e.contains("unknown parameter \"slto\""), "{e}");
    }

    #[test]
    fn prepare_names_the_bad_address_and_plans_few_requests() {
        let mut d = driver("enip://h").unwrap();
        let e = d.prepare(&["Counter".into(), "Scada[x]".into()]).unwrap_err().to_string();
        assert!(e.contains("\"Scada[x]\""), "{e}");
        let mut addrs: Vec<String> = (0..100).map(|i| format!("Scada[{i}]")).collect();
        addrs.extend(["Counter", "Temp", "Flag"].map(String::from));
        let p = d.prepare(&addrs).unwrap();
        assert_eq!(d.plan_requests(p), 2);
        for packet in &d.plans[p.0].packets {
            let reqs: Vec<Vec<u8>> = packet.iter().map(Item::request).collect();
            assert!(d.route(&encode_multiple_service(&reqs)).len() <= MAX_REQUEST);
        }
    }

    #[tokio::test]
    async fn write_and_read_without_a_connection_say_so() {
        let mut d = driver("enip://127.0.0.1:1").unwrap();
        let e = d.write("Counter", &Value::Int(1)).await.unwrap_err();
        assert!(matches!(e, ConnectError::NotConnected { .. }), "{e}");
        let e = d.write("Bad-Tag", &Value::Int(1)).await.unwrap_err().to_string();
        assert!(e.contains("\"Bad-Tag\""), "{e}");
    }
}
