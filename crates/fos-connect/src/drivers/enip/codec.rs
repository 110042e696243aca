//! EtherNet/IP encapsulation, Common Packet Format and CIP Message Router frames: encoders for
//! the requests FOS sends and bounds-checked parsers (over [`FrameReader`]) for the replies.
//! Everything on the wire is little-endian (CIP Vol 2 §2-3).

use crate::error::FrameError;
use crate::frame::FrameReader;
use crate::sample::Quality;
use crate::value::{DataType, Value};

/// Length of the encapsulation header (CIP Vol 2 §2-3.1).
pub const ENCAP_HEADER_LEN: usize = 24;
/// Encapsulation commands (CIP Vol 2 §2-3.2, §2-4).
pub(crate) const CMD_REGISTER_SESSION: u16 = 0x65;
pub(crate) const CMD_UNREGISTER_SESSION: u16 = 0x66;
pub(crate) const CMD_SEND_RR_DATA: u16 = 0x6F;
/// Common Packet Format item types (CIP Vol 2 §2-6.2, §2-6.3).
pub(crate) const CPF_NULL_ADDRESS: u16 = 0x0000;
pub(crate) const CPF_UNCONNECTED_DATA: u16 = 0x00B2;

/// CIP services (CIP Vol 1 Appendix A; Logix services from Rockwell 1756-PM020).
pub(crate) const SERVICE_MULTIPLE: u8 = 0x0A;
pub(crate) const SERVICE_READ_TAG: u8 = 0x4C;
pub(crate) const SERVICE_WRITE_TAG: u8 = 0x4D;
pub(crate) const SERVICE_READ_TAG_FRAGMENTED: u8 = 0x52;
pub(crate) const SERVICE_UNCONNECTED_SEND: u8 = 0x52;
pub(crate) const SERVICE_GET_INSTANCE_ATTRIBUTE_LIST: u8 = 0x55;
/// Set in a reply's service code (CIP Vol 1 §2-4.2).
pub(crate) const REPLY_BIT: u8 = 0x80;

/// General status codes FOS acts on (CIP Vol 1 Appendix B).
pub(crate) const STATUS_OK: u8 = 0x00;
pub(crate) const STATUS_PARTIAL: u8 = 0x06;
pub(crate) const STATUS_SERVICE_NOT_SUPPORTED: u8 = 0x08;
pub(crate) const STATUS_EMBEDDED_SERVICE_ERROR: u8 = 0x1E;

/// Message Router object, instance 1: the target of a Multiple Service Packet.
const MESSAGE_ROUTER_PATH: [u8; 4] = [0x20, 0x02, 0x24, 0x01];
/// Connection Manager object, instance 1: the target of an Unconnected Send.
const CONNECTION_MANAGER_PATH: [u8; 4] = [0x20, 0x06, 0x24, 0x01];
/// Struct type marker in a Read Tag reply, followed by a 16-bit structure handle (1756-PM020).
pub(crate) const TYPE_STRUCT: u16 = 0x02A0;

fn len_u16(n: usize) -> u16 {
    // Every frame FOS builds is far below 64 KiB (addresses are capped at MAX_PATH_BYTES and
    // requests are planned to ~500 bytes).
    u16::try_from(n).unwrap_or(u16::MAX)
}

// ---------------------------------------------------------------------------------------------
// Encapsulation (CIP Vol 2 §2-3)

/// The 24-byte encapsulation header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncapHeader {
    pub command: u16,
    /// Bytes of data after the header.
    pub length: u16,
    pub session: u32,
    pub status: u32,
    /// Echoed by the target: FOS numbers its requests here to match replies.
    pub context: [u8; 8],
    pub options: u32,
}

impl EncapHeader {
    pub fn encode(&self) -> [u8; ENCAP_HEADER_LEN] {
        let mut out = [0u8; ENCAP_HEADER_LEN];
        let fields: [&[u8]; 6] = [
            &self.command.to_le_bytes(),
            &self.length.to_le_bytes(),
            &self.session.to_le_bytes(),
            &self.status.to_le_bytes(),
            &self.context,
            &self.options.to_le_bytes(),
        ];
        for (dst, src) in out.iter_mut().zip(fields.into_iter().flatten()) {
            *dst = *src;
        }
        out
    }
}

/// Parse the encapsulation header at the start of `bytes` (any data after it is not looked at).
pub fn parse_encap_header(bytes: &[u8]) -> Result<EncapHeader, FrameError> {
    let mut r = FrameReader::new(bytes);
    let command = r.u16_le("encapsulation command")?;
    let length = r.u16_le("encapsulation length")?;
    let session = r.u32_le("session handle")?;
    let status = r.u32_le("encapsulation status")?;
    let mut context = [0u8; 8];
    context.copy_from_slice(r.take(8, "sender context")?);
    let options = r.u32_le("options")?;
    Ok(EncapHeader { command, length, session, status, context, options })
}

/// Parse one whole encapsulation frame: the header and exactly `length` bytes of data.
pub fn parse_encap_frame(bytes: &[u8]) -> Result<(EncapHeader, &[u8]), FrameError> {
    let header = parse_encap_header(bytes)?;
    let mut r = FrameReader::new(bytes);
    r.skip(ENCAP_HEADER_LEN, "encapsulation header")?;
    let data = r.take(usize::from(header.length), "encapsulation data")?;
    if !r.is_empty() {
        return Err(r.error(format!("{} bytes after the encapsulation data", r.remaining())));
    }
    Ok((header, data))
}

/// An encapsulation frame: header then data.
pub(crate) fn encode_encap(command: u16, session: u32, context: [u8; 8], data: &[u8]) -> Vec<u8> {
    let h = EncapHeader { command, length: len_u16(data.len()), session, status: 0, context, options: 0 };
    let mut out = h.encode().to_vec();
    out.extend_from_slice(data);
    out
}

/// RegisterSession request: protocol version 1, no options (CIP Vol 2 §2-4.4).
pub fn encode_register_session(context: [u8; 8]) -> Vec<u8> {
    encode_encap(CMD_REGISTER_SESSION, 0, context, &[1, 0, 0, 0])
}

/// UnRegisterSession (CIP Vol 2 §2-4.5): no data, no reply.
pub(crate) fn encode_unregister_session(session: u32, context: [u8; 8]) -> Vec<u8> {
    encode_encap(CMD_UNREGISTER_SESSION, session, context, &[])
}

/// SendRRData carrying an unconnected CIP request (CIP Vol 2 §2-4.7): interface handle 0,
/// timeout 0 (the CIP layer times out), a CPF of a null address item and an unconnected data item.
pub fn encode_send_rr_data(session: u32, context: [u8; 8], cip: &[u8]) -> Vec<u8> {
    let mut data = Vec::with_capacity(16 + cip.len());
    data.extend_from_slice(&0u32.to_le_bytes()); // interface handle: CIP
    data.extend_from_slice(&0u16.to_le_bytes()); // timeout
    data.extend_from_slice(&2u16.to_le_bytes()); // item count
    data.extend_from_slice(&CPF_NULL_ADDRESS.to_le_bytes());
    data.extend_from_slice(&0u16.to_le_bytes());
    data.extend_from_slice(&CPF_UNCONNECTED_DATA.to_le_bytes());
    data.extend_from_slice(&len_u16(cip.len()).to_le_bytes());
    data.extend_from_slice(cip);
    encode_encap(CMD_SEND_RR_DATA, session, context, &data)
}

/// The encapsulation status codes (CIP Vol 2 §2-3.3) by name.
pub fn encap_status_name(status: u32) -> &'static str {
    match status {
        0x0000 => "success",
        0x0001 => "invalid or unsupported encapsulation command",
        0x0002 => "insufficient memory in the target",
        0x0003 => "poorly formed or incorrect data",
        0x0064 => "invalid session handle",
        0x0065 => "invalid length",
        0x0069 => "unsupported encapsulation protocol revision",
        // Not an encapsulation code: some targets (cpppo) put the CIP general status here.
        s if s <= 0xFF => cip_status_name(s as u8),
        _ => "unknown encapsulation status",
    }
}

// ---------------------------------------------------------------------------------------------
// Common Packet Format (CIP Vol 2 §2-6)

/// One CPF item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpfItem<'a> {
    pub type_id: u16,
    pub data: &'a [u8],
}

/// Parse a CPF: item count, then typed, length-prefixed items; nothing may follow.
pub fn parse_cpf(bytes: &[u8]) -> Result<Vec<CpfItem<'_>>, FrameError> {
    let mut r = FrameReader::new(bytes);
    let count = r.u16_le("CPF item count")?;
    let mut items = Vec::new();
    for i in 0..count {
        let type_id = r.u16_le(&format!("CPF item {i} type"))?;
        let len = r.u16_le(&format!("CPF item {i} length"))?;
        let data = r.take(usize::from(len), &format!("CPF item {i} data"))?;
        items.push(CpfItem { type_id, data });
    }
    if !r.is_empty() {
        return Err(r.error(format!("{} bytes after the last CPF item", r.remaining())));
    }
    Ok(items)
}

/// The CIP reply inside a SendRRData reply's data: interface handle, timeout, then a CPF with a
/// null address item and one unconnected data item.
pub fn parse_send_rr_data(data: &[u8]) -> Result<&[u8], FrameError> {
    let mut r = FrameReader::new(data);
    let interface = r.u32_le("interface handle")?;
    if interface != 0 {
        return Err(FrameError::new(0, format!("interface handle: expected 0 (CIP), got {interface}")));
    }
    r.skip(2, "timeout")?;
    let at = r.position();
    let items = parse_cpf(r.rest()).map_err(|e| FrameError::new(e.offset + at, e.reason))?;
    let mut payload = None;
    for item in &items {
        match item.type_id {
            CPF_NULL_ADDRESS if item.data.is_empty() => {}
            CPF_UNCONNECTED_DATA if payload.is_none() => payload = Some(item.data),
            t => {
                return Err(FrameError::new(
                    at,
                    format!("unexpected CPF item type 0x{t:04x} ({} bytes) in an unconnected reply", item.data.len()),
                ))
            }
        }
    }
    payload.ok_or_else(|| FrameError::new(at, "no unconnected data item (0x00B2) in the reply"))
}

// ---------------------------------------------------------------------------------------------
// CIP Message Router requests and replies (CIP Vol 1 §2-4)

/// A Message Router request: service, path size in words, path, request data.
pub(crate) fn encode_request(service: u8, path: &[u8], data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(2 + path.len() + data.len());
    out.push(service);
    out.push(u8::try_from(path.len() / 2).unwrap_or(u8::MAX));
    out.extend_from_slice(path);
    out.extend_from_slice(data);
    out
}

/// Read Tag (0x4C) of `count` elements starting at the path.
pub fn encode_read_tag(path: &[u8], count: u16) -> Vec<u8> {
    encode_request(SERVICE_READ_TAG, path, &count.to_le_bytes())
}

/// Read Tag Fragmented (0x52): `count` elements, the reply starting `offset` bytes in.
pub fn encode_read_tag_fragmented(path: &[u8], count: u16, offset: u32) -> Vec<u8> {
    let mut data = count.to_le_bytes().to_vec();
    data.extend_from_slice(&offset.to_le_bytes());
    encode_request(SERVICE_READ_TAG_FRAGMENTED, path, &data)
}

/// Write Tag (0x4D) of one element of an atomic type.
pub fn encode_write_tag(path: &[u8], ty: AtomicType, le_bytes: &[u8]) -> Vec<u8> {
    let mut data = u16::from(ty.code()).to_le_bytes().to_vec();
    data.extend_from_slice(&1u16.to_le_bytes());
    data.extend_from_slice(le_bytes);
    encode_request(SERVICE_WRITE_TAG, path, &data)
}

/// Multiple Service Packet (0x0A) to the Message Router: count, offsets from the count field,
/// then the requests (CIP Vol 1 § ).
pub fn encode_multiple_service(requests: &[Vec<u8>]) -> Vec<u8> {
    let n = requests.len();
    let mut data = Vec::new();
    data.extend_from_slice(&len_u16(n).to_le_bytes());
    let mut offset = 2 + 2 * n;
    for r in requests {
        data.extend_from_slice(&len_u16(offset).to_le_bytes());
        offset += r.len();
    }
    for r in requests {
        data.extend_from_slice(r);
    }
    encode_request(SERVICE_MULTIPLE, &MESSAGE_ROUTER_PATH, &data)
}

/// Size of a Multiple Service Packet request holding requests of these sizes.
pub(crate) fn multiple_service_request_len(item_lens: impl IntoIterator<Item = usize>) -> usize {
    2 + MESSAGE_ROUTER_PATH.len() + 2 + item_lens.into_iter().map(|l| 2 + l).sum::<usize>()
}

/// Bytes the Unconnected Send wrapping adds to a request of `len` bytes with a 2-byte route.
pub(crate) fn unconnected_send_overhead(len: usize) -> usize {
    2 + CONNECTION_MANAGER_PATH.len() + 2 + 2 + (len % 2) + 2 + 2
}

/// Unconnected Send (0x52) to the Connection Manager (CIP Vol 1 §3-5.5.2): priority/tick time
/// and timeout ticks, the embedded request (padded to even length), and the route path, here
/// one port segment: port 1 (the backplane), link `slot`.
pub fn encode_unconnected_send(request: &[u8], slot: u8, timeout_ticks: u8) -> Vec<u8> {
    // Tick time 2^7 = 128 ms; the target gives up after timeout_ticks * 128 ms.
    let mut data = vec![0x07, timeout_ticks];
    data.extend_from_slice(&len_u16(request.len()).to_le_bytes());
    data.extend_from_slice(request);
    if request.len() % 2 == 1 {
        data.push(0);
    }
    data.extend_from_slice(&[1, 0, 0x01, slot]); // route path: 1 word, reserved, port 1, link
    encode_request(SERVICE_UNCONNECTED_SEND, &CONNECTION_MANAGER_PATH, &data)
}

/// A Message Router reply (CIP Vol 1 §2-4.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CipReply<'a> {
    /// Reply service code (request service | 0x80).
    pub service: u8,
    pub status: u8,
    pub ext_status: Vec<u16>,
    pub data: &'a [u8],
}

impl CipReply<'_> {
    /// The request's service code.
    pub fn request_service(&self) -> u8 {
        self.service & !REPLY_BIT
    }

    pub fn status(&self) -> CipStatus {
        CipStatus { general: self.status, extended: self.ext_status.first().copied() }
    }
}

/// Parse a Message Router reply: service | 0x80, reserved, general status, extended status size
/// in words, extended status, reply data.
pub fn parse_cip_reply(bytes: &[u8]) -> Result<CipReply<'_>, FrameError> {
    let mut r = FrameReader::new(bytes);
    let at = r.position();
    let service = r.u8("reply service")?;
    if service & REPLY_BIT == 0 {
        return Err(FrameError::new(at, format!("reply service 0x{service:02x} lacks the reply bit 0x80")));
    }
    r.skip(1, "reserved")?;
    let status = r.u8("general status")?;
    let words = r.u8("extended status size")?;
    let mut ext_status = Vec::with_capacity(usize::from(words));
    for _ in 0..words {
        ext_status.push(r.u16_le("extended status")?);
    }
    Ok(CipReply { service, status, ext_status, data: r.rest() })
}

/// Parse the data of a Multiple Service Packet reply (0x8A): count, offsets from the count
/// field, then one reply per offset, each running to the next offset (the last to the end).
pub fn parse_multiple_service_reply(data: &[u8]) -> Result<Vec<CipReply<'_>>, FrameError> {
    let mut r = FrameReader::new(data);
    let count = usize::from(r.u16_le("service count")?);
    let mut offsets = Vec::with_capacity(count.min(data.len()));
    for i in 0..count {
        offsets.push(usize::from(r.u16_le(&format!("offset of reply {i}"))?));
    }
    let first = r.position();
    let mut replies = Vec::with_capacity(offsets.len());
    for (i, &start) in offsets.iter().enumerate() {
        let end = offsets.get(i + 1).copied().unwrap_or(data.len());
        if start < first || end < start || end > data.len() {
            return Err(FrameError::new(
                first,
                format!(
                    "reply {i} spans bytes {start}..{end}, outside {first}..{} (offsets must rise within the packet)",
                    data.len()
                ),
            ));
        }
        let item = data.get(start..end).ok_or_else(|| FrameError::new(start, format!("reply {i} out of bounds")))?;
        let reply =
            parse_cip_reply(item).map_err(|e| FrameError::new(start + e.offset, format!("reply {i}: {}", e.reason)))?;
        replies.push(reply);
    }
    Ok(replies)
}

// ---------------------------------------------------------------------------------------------
// Data types (CIP Vol 1 Appendix C-6.1; Logix 1756-PM020)

/// The elementary CIP types FOS reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AtomicType {
    Bool,
    Sint,
    Int,
    Dint,
    Lint,
    Usint,
    Uint,
    Udint,
    Ulint,
    Real,
    Lreal,
    Byte,
    Word,
    Dword,
    Lword,
}

impl AtomicType {
    pub const ALL: [AtomicType; 15] = [
        AtomicType::Bool,
        AtomicType::Sint,
        AtomicType::Int,
        AtomicType::Dint,
        AtomicType::Lint,
        AtomicType::Usint,
        AtomicType::Uint,
        AtomicType::Udint,
        AtomicType::Ulint,
        AtomicType::Real,
        AtomicType::Lreal,
        AtomicType::Byte,
        AtomicType::Word,
        AtomicType::Dword,
        AtomicType::Lword,
    ];

    pub fn code(self) -> u8 {
        match self {
            AtomicType::Bool => 0xC1,
            AtomicType::Sint => 0xC2,
            AtomicType::Int => 0xC3,
            AtomicType::Dint => 0xC4,
            AtomicType::Lint => 0xC5,
            AtomicType::Usint => 0xC6,
            AtomicType::Uint => 0xC7,
            AtomicType::Udint => 0xC8,
            AtomicType::Ulint => 0xC9,
            AtomicType::Real => 0xCA,
            AtomicType::Lreal => 0xCB,
            AtomicType::Byte => 0xD1,
            AtomicType::Word => 0xD2,
            AtomicType::Dword => 0xD3,
            AtomicType::Lword => 0xD4,
        }
    }

    pub fn from_code(code: u16) -> Option<AtomicType> {
        AtomicType::ALL.into_iter().find(|t| u16::from(t.code()) == code)
    }

    pub fn name(self) -> &'static str {
        match self {
            AtomicType::Bool => "BOOL",
            AtomicType::Sint => "SINT",
            AtomicType::Int => "INT",
            AtomicType::Dint => "DINT",
            AtomicType::Lint => "LINT",
            AtomicType::Usint => "USINT",
            AtomicType::Uint => "UINT",
            AtomicType::Udint => "UDINT",
            AtomicType::Ulint => "ULINT",
            AtomicType::Real => "REAL",
            AtomicType::Lreal => "LREAL",
            AtomicType::Byte => "BYTE",
            AtomicType::Word => "WORD",
            AtomicType::Dword => "DWORD",
            AtomicType::Lword => "LWORD",
        }
    }

    /// The FOS type it is reported as (bit strings as unsigned integers).
    pub fn data_type(self) -> DataType {
        match self {
            AtomicType::Bool => DataType::Bool,
            AtomicType::Sint => DataType::I8,
            AtomicType::Int => DataType::I16,
            AtomicType::Dint => DataType::I32,
            AtomicType::Lint => DataType::I64,
            AtomicType::Usint | AtomicType::Byte => DataType::U8,
            AtomicType::Uint | AtomicType::Word => DataType::U16,
            AtomicType::Udint | AtomicType::Dword => DataType::U32,
            AtomicType::Ulint | AtomicType::Lword => DataType::U64,
            AtomicType::Real => DataType::F32,
            AtomicType::Lreal => DataType::F64,
        }
    }

    pub fn size(self) -> usize {
        self.data_type().size()
    }

    /// Decode one little-endian element (exactly `size()` bytes; BOOL: any non-zero is true).
    pub fn decode(self, bytes: &[u8]) -> Result<Value, String> {
        if bytes.len() != self.size() {
            return Err(format!("{} needs {} bytes, got {}", self.name(), self.size(), bytes.len()));
        }
        let be: Vec<u8> = bytes.iter().rev().copied().collect();
        Value::from_be_bytes(&be, self.data_type())
    }

    /// Encode one element little-endian, refusing values that do not fit.
    pub fn encode(self, value: &Value) -> Result<Vec<u8>, String> {
        if self == AtomicType::Real {
            if let Some(x) = value.as_f64() {
                if x.is_finite() && x.abs() > f64::from(f32::MAX) {
                    return Err(format!("{x} is out of range for REAL (f32)"));
                }
            }
        }
        let ty = self.data_type();
        let be = value.to_be_bytes(ty).map_err(|e| format!("{e} (tag type {})", self.name()))?;
        Ok(be.into_iter().rev().collect())
    }
}

/// The type announced in a Read Tag reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagType {
    Atomic(AtomicType),
    /// A structure (UDT, or STRING as Logix stores it), with its structure handle.
    Struct(u16),
    /// Any other type code (e.g. CIP STRING 0xD0, SHORT_STRING 0xDA).
    Other(u16),
}

impl TagType {
    pub fn describe(self) -> String {
        match self {
            TagType::Atomic(t) => format!("{} (0x{:02x})", t.name(), t.code()),
            TagType::Struct(h) => {
                format!("a structure (handle 0x{h:04x}; STRING and UDT tags are structures)")
            }
            TagType::Other(0xD0) => "STRING (0xd0)".to_string(),
            TagType::Other(0xDA) => "SHORT_STRING (0xda)".to_string(),
            TagType::Other(0xD5) => "STRING2 (0xd5)".to_string(),
            TagType::Other(c) => format!("type 0x{c:04x}"),
        }
    }
}

/// Split Read Tag / Read Tag Fragmented reply data into the type and the element bytes.
pub fn parse_tag_data(data: &[u8]) -> Result<(TagType, &[u8]), FrameError> {
    let mut r = FrameReader::new(data);
    let code = r.u16_le("data type")?;
    let ty = if code == TYPE_STRUCT {
        TagType::Struct(r.u16_le("structure handle")?)
    } else if let Some(t) = AtomicType::from_code(code) {
        TagType::Atomic(t)
    } else {
        TagType::Other(code)
    };
    Ok((ty, r.rest()))
}

// ---------------------------------------------------------------------------------------------
// Status (CIP Vol 1 Appendix B; Logix extended codes from 1756-PM020)

/// A CIP general status with its first extended status word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CipStatus {
    pub general: u8,
    pub extended: Option<u16>,
}

impl CipStatus {
    /// The quality of an item that failed with this status: the address is wrong for path
    /// errors (0x04, 0x05) and for Logix "beyond the end of the tag" (0xFF with 0x2104 or
    /// 0x2105); a Logix type mismatch (0xFF/0x2107) is a type mismatch; anything else is the
    /// device's own error.
    pub fn quality(self) -> Quality {
        match (self.general, self.extended) {
            (0x04 | 0x05, _) => Quality::BadAddress,
            (0xFF, Some(0x2104 | 0x2105)) => Quality::BadAddress,
            (0xFF, Some(0x2107)) => Quality::BadTypeMismatch,
            _ => Quality::BadDevice,
        }
    }

    /// E.g. "CIP general status 0x05 (path destination unknown: no such tag)".
    pub fn describe(self) -> String {
        let mut s = format!("CIP general status 0x{:02x} ({})", self.general, cip_status_name(self.general));
        if let Some(x) = self.extended {
            s.push_str(&format!(", extended status 0x{x:04x}"));
            if let Some(name) = logix_extended_name(self.general, x) {
                s.push_str(&format!(" ({name})"));
            }
        }
        s
    }
}

/// The name of a CIP general status code.
pub fn cip_status_name(status: u8) -> &'static str {
    match status {
        0x00 => "success",
        0x01 => "connection failure",
        0x02 => "resource unavailable",
        0x03 => "invalid parameter value",
        0x04 => "path segment error: the tag name or path is not understood",
        0x05 => "path destination unknown: no such tag",
        0x06 => "partial transfer",
        0x07 => "connection lost",
        0x08 => "service not supported",
        0x09 => "invalid attribute value",
        0x0A => "attribute list error",
        0x0B => "already in requested mode/state",
        0x0C => "object state conflict",
        0x0D => "object already exists",
        0x0E => "attribute not settable",
        0x0F => "privilege violation",
        0x10 => "device state conflict",
        0x11 => "reply data too large",
        0x12 => "fragmentation of a primitive value",
        0x13 => "not enough data",
        0x14 => "attribute not supported",
        0x15 => "too much data",
        0x16 => "object does not exist",
        0x17 => "service fragmentation sequence not in progress",
        0x18 => "no stored attribute data",
        0x19 => "store operation failure",
        0x1A => "routing failure: request packet too large",
        0x1B => "routing failure: response packet too large",
        0x1C => "missing attribute list entry data",
        0x1D => "invalid attribute value list",
        0x1E => "embedded service error",
        0x1F => "vendor specific error",
        0x20 => "invalid parameter",
        0x21 => "write-once value or medium already written",
        0x22 => "invalid reply received",
        0x25 => "key failure in path",
        0x26 => "path size invalid",
        0x27 => "unexpected attribute in list",
        0x28 => "invalid member ID",
        0x29 => "member not settable",
        0xFF => "general error",
        _ => "reserved or object-specific status",
    }
}

/// Logix extended status words (1756-PM020, "Error Codes").
fn logix_extended_name(general: u8, ext: u16) -> Option<&'static str> {
    Some(match (general, ext) {
        (0x01, 0x0204) => "unconnected send timed out: no module answered at the route path (check slot=)",
        (0x01, 0x0311) => "invalid port in the route path",
        (0x01, 0x0312) => "invalid link address in the route path (check slot=)",
        (0x01, 0x0315) => "invalid segment in the route path",
        (0xFF, 0x2101) => "keyswitch position prevents this",
        (0xFF, 0x2104) => "offset beyond the end of the tag",
        (0xFF, 0x2105) => "access beyond the end of the tag: index out of range",
        (0xFF, 0x2107) => "data type does not match the tag's type",
        _ => return None,
    })
}

// ---------------------------------------------------------------------------------------------

/// Run every reply parser over `data` (the fuzz target and the corpus replay test call this):
/// the frame as an encapsulation frame and the chain below it, and the bytes directly as a CPF,
/// a CIP reply, a Multiple Service Packet reply, tag data and a symbol list. Must never panic.
pub fn fuzz_parsers(data: &[u8]) {
    let _ = parse_encap_header(data);
    let _ = parse_cpf(data);
    let _ = parse_send_rr_data(data);
    let _ = parse_multiple_service_reply(data);
    let _ = parse_tag_data(data);
    let _ = super::symbols::parse_symbol_list(data);
    if let Ok(reply) = parse_cip_reply(data) {
        check_reply(&reply);
    }
    if let Ok((_, body)) = parse_encap_frame(data) {
        if let Ok(cip) = parse_send_rr_data(body) {
            if let Ok(reply) = parse_cip_reply(cip) {
                check_reply(&reply);
            }
        }
    }
}

fn check_reply(reply: &CipReply<'_>) {
    let _ = reply.status().describe();
    let _ = reply.status().quality();
    match reply.request_service() {
        SERVICE_MULTIPLE => {
            for item in parse_multiple_service_reply(reply.data).unwrap_or_default() {
                check_reply(&item);
            }
        }
        SERVICE_GET_INSTANCE_ATTRIBUTE_LIST => {
            for s in super::symbols::parse_symbol_list(reply.data).unwrap_or_default() {
                let _ = s.entry("");
            }
        }
        _ => {
            if let Ok((TagType::Atomic(t), bytes)) = parse_tag_data(reply.data) {
                for chunk in bytes.chunks(t.size().max(1)) {
                    let _ = t.decode(chunk);
                }
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::collection::vec;
    use proptest::prelude::*;

    /// A reply as a target builds it (test helper).
    pub(crate) fn encode_cip_reply(service: u8, status: u8, ext: &[u16], data: &[u8]) -> Vec<u8> {
        let mut out = vec![service | REPLY_BIT, 0, status, ext.len() as u8];
        for e in ext {
            out.extend_from_slice(&e.to_le_bytes());
        }
        out.extend_from_slice(data);
        out
    }

    pub(crate) fn encode_multiple_reply(status: u8, replies: &[Vec<u8>]) -> Vec<u8> {
        let mut body = (replies.len() as u16).to_le_bytes().to_vec();
        let mut off = 2 + 2 * replies.len();
        for r in replies {
            body.extend_from_slice(&(off as u16).to_le_bytes());
            off += r.len();
        }
        for r in replies {
            body.extend_from_slice(r);
        }
        encode_cip_reply(SERVICE_MULTIPLE, status, &[], &body)
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    #[test]
    fn register_session_matches_the_spec_layout() {
        let f = encode_register_session(*b"ctx12345");
        assert_eq!(f.len(), 28);
        assert_eq!(&f[..4], &[0x65, 0, 4, 0]);
        assert_eq!(&f[12..20], b"ctx12345");
        assert_eq!(&f[24..], &[1, 0, 0, 0]);
    }

    #[test]
    fn send_rr_data_wraps_the_cip_request_in_a_two_item_cpf() {
        let f = encode_send_rr_data(0x1234_5678, [7; 8], &[0x4C, 0x02, 0x91, 0x01, b'A', 0, 1, 0]);
        let (h, data) = parse_encap_frame(&f).unwrap();
        assert_eq!((h.command, h.session, h.length as usize), (CMD_SEND_RR_DATA, 0x1234_5678, data.len()));
        let items = parse_cpf(&data[6..]).unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!((items[0].type_id, items[0].data.len()), (0, 0));
        assert_eq!(items[1].type_id, 0xB2);
        assert_eq!(parse_send_rr_data(data).unwrap(), &[0x4C, 0x02, 0x91, 0x01, b'A', 0, 1, 0]);
    }

    #[test]
    fn cpppo_multiple_service_reply_frame_parses() {
        // Captured from cpppo: Counter (DINT 0), Temp (REAL 0.0), Nope (status 0x05), Flag (BOOL 0).
        let frame = hex(concat!(
            "6f003f0005725d5a00000000637478313233343500000000",
            "000000000500020000000000b2002f00",
            "8a00000004000a0014001e002400cc000000c40000000000cc000000ca0000000000cc0005010000cc000000c10000"
        ));
        let (h, body) = parse_encap_frame(&frame).unwrap();
        assert_eq!((h.command, h.status), (CMD_SEND_RR_DATA, 0));
        let reply = parse_cip_reply(parse_send_rr_data(body).unwrap()).unwrap();
        assert_eq!((reply.request_service(), reply.status), (SERVICE_MULTIPLE, 0));
        let items = parse_multiple_service_reply(reply.data).unwrap();
        assert_eq!(items.len(), 4);
        assert_eq!(parse_tag_data(items[0].data).unwrap(), (TagType::Atomic(AtomicType::Dint), &[0u8, 0, 0, 0][..]));
        assert_eq!(parse_tag_data(items[1].data).unwrap().0, TagType::Atomic(AtomicType::Real));
        assert_eq!(items[2].status(), CipStatus { general: 0x05, extended: Some(0) });
        assert_eq!(items[2].status().quality(), Quality::BadAddress);
        assert!(items[2].status().describe().contains("0x05 (path destination unknown"));
        assert_eq!(parse_tag_data(items[3].data).unwrap().0, TagType::Atomic(AtomicType::Bool));
    }

    #[test]
    fn out_of_range_index_is_a_bad_address_naming_the_logix_code() {
        let st = parse_cip_reply(&hex("cc00ff010521")).unwrap().status();
        assert_eq!(st, CipStatus { general: 0xFF, extended: Some(0x2105) });
        assert_eq!(st.quality(), Quality::BadAddress);
        assert!(st.describe().contains("0x2105 (access beyond the end"), "{}", st.describe());
        assert_eq!(CipStatus { general: 0x08, extended: None }.quality(), Quality::BadDevice);
    }

    #[test]
    fn multiple_service_offsets_must_stay_inside_the_packet() {
        for bad in
            [&[2u8, 0, 6, 0][..], &[1, 0, 9, 0, 0xcc, 0, 0, 0], &[2, 0, 8, 0, 6, 0, 0xcc, 0, 0, 0], &[1, 0, 1, 0]]
        {
            assert!(parse_multiple_service_reply(bad).is_err(), "{bad:?}");
        }
        assert!(parse_multiple_service_reply(&[0, 0]).unwrap().is_empty());
    }

    #[test]
    fn struct_and_string_types_are_recognised() {
        assert_eq!(parse_tag_data(&[0xa0, 0x02, 0xce, 0x0f, 1, 2]).unwrap(), (TagType::Struct(0x0fce), &[1u8, 2][..]));
        let (t, _) = parse_tag_data(&[0xd0, 0x00, 0, 0]).unwrap();
        assert_eq!(t, TagType::Other(0xD0));
        assert!(t.describe().starts_with("STRING"));
    }

    #[test]
    fn unconnected_send_layout() {
        let req = encode_read_tag(&[0x91, 0x01, b'A', 0], 1);
        let f = encode_unconnected_send(&req, 2, 10);
        assert_eq!(&f[..6], &[0x52, 0x02, 0x20, 0x06, 0x24, 0x01]);
        assert_eq!(&f[6..10], &[0x07, 10, req.len() as u8, 0]);
        assert_eq!(&f[10..10 + req.len()], &req[..]);
        assert_eq!(&f[10 + req.len()..], &[1, 0, 1, 2]);
        assert_eq!(f.len(), req.len() + unconnected_send_overhead(req.len()));
        let odd = encode_request(0x4C, &[], &[1]);
        assert_eq!(encode_unconnected_send(&odd, 0, 1).len(), odd.len() + unconnected_send_overhead(odd.len()));
    }

    #[test]
    fn every_atomic_type_round_trips_little_endian() {
        let cases = [
            (AtomicType::Bool, Value::Bool(true)),
            (AtomicType::Sint, Value::Int(-5)),
            (AtomicType::Int, Value::Int(-300)),
            (AtomicType::Dint, Value::Int(-70_000)),
            (AtomicType::Lint, Value::Int(-5_000_000_000)),
            (AtomicType::Usint, Value::UInt(200)),
            (AtomicType::Uint, Value::UInt(60_000)),
            (AtomicType::Udint, Value::UInt(4_000_000_000)),
            (AtomicType::Ulint, Value::UInt(u64::MAX)),
            (AtomicType::Real, Value::Float(77.25)),
            (AtomicType::Lreal, Value::Float(-1.0e300)),
        ];
        for (t, v) in cases {
            let b = t.encode(&v).unwrap();
            assert_eq!(b.len(), t.size());
            assert_eq!(t.decode(&b).unwrap(), v, "{}", t.name());
        }
        assert_eq!(AtomicType::Dint.encode(&Value::Int(0x0102_0304)).unwrap(), [4, 3, 2, 1]);
        assert_eq!(AtomicType::Bool.decode(&[0xff]).unwrap(), Value::Bool(true));
    }

    #[test]
    fn out_of_range_writes_are_refused() {
        assert!(AtomicType::Int.encode(&Value::Int(40_000)).unwrap_err().contains("out of range"));
        assert!(AtomicType::Usint.encode(&Value::Int(-1)).unwrap_err().contains("USINT"));
        assert!(AtomicType::Real.encode(&Value::Float(1e300)).unwrap_err().contains("REAL"));
        assert!(AtomicType::Dint.encode(&Value::String("x".into())).is_err());
    }

    proptest! {
        #[test]
        fn encap_header_round_trips(command: u16, length: u16, session: u32, status: u32, context: [u8; 8], opt: u32) {
            let h = EncapHeader { command, length, session, status, context, options: opt };
            prop_assert_eq!(parse_encap_header(&h.encode()).unwrap(), h);
        }

        #[test]
        fn multiple_service_reply_round_trips(items in vec(
            (any::<u8>(), any::<u8>(), vec(any::<u16>(), 0..3), vec(any::<u8>(), 0..20)),
            0..30,
        )) {
            let replies: Vec<Vec<u8>> = items.iter().map(|(s, st, ext, d)| encode_cip_reply(*s, *st, ext, d)).collect();
            let frame = encode_multiple_reply(0, &replies);
            let reply = parse_cip_reply(&frame).unwrap();
            let parsed = parse_multiple_service_reply(reply.data).unwrap();
            prop_assert_eq!(parsed.len(), items.len());
            for (p, (s, st, ext, d)) in parsed.iter().zip(&items) {
                prop_assert_eq!(p.service, s | REPLY_BIT);
                prop_assert_eq!(p.status, *st);
                prop_assert_eq!(&p.ext_status, ext);
                prop_assert_eq!(p.data, &d[..]);
            }
        }

        #[test]
        fn multiple_service_request_offsets_point_at_each_request(reqs in proptest::collection::vec(
            proptest::collection::vec(any::<u8>(), 1..30), 1..20,
        )) {
            let f = encode_multiple_service(&reqs);
            prop_assert_eq!(f.len(), multiple_service_request_len(reqs.iter().map(Vec::len)));
            let data = &f[6..];
            for (i, r) in reqs.iter().enumerate() {
                let off = u16::from_le_bytes([data[2 + 2 * i], data[3 + 2 * i]]) as usize;
                prop_assert_eq!(&data[off..off + r.len()], &r[..]);
            }
        }

        #[test]
        fn values_round_trip(ty in proptest::sample::select(AtomicType::ALL.to_vec()), raw: u64) {
            let bytes = &raw.to_le_bytes()[..ty.size()];
            let v = ty.decode(bytes).unwrap();
            if ty == AtomicType::Bool {
                prop_assert_eq!(ty.encode(&v).unwrap(), vec![u8::from(bytes[0] != 0)]);
            } else if matches!(ty, AtomicType::Real | AtomicType::Lreal) {
                let x = v.as_f64().unwrap();
                if x.is_finite() {
                    prop_assert_eq!(ty.decode(&ty.encode(&v).unwrap()).unwrap(), v);
                }
            } else {
                prop_assert_eq!(ty.encode(&v).unwrap(), bytes.to_vec());
            }
        }
    }
}
