//! S7comm frames over ISO-on-TCP: encoders for the requests FOS sends and bounds-checked parsers
//! for the replies it receives. Every parser reads through [`FrameReader`] and never panics.
//!
//! Layers (outermost first):
//! - TPKT (RFC 1006 §6): version 3, reserved 0, 16-bit length of the whole packet.
//! - COTP (ISO 8073 / X.224 class 0, RFC 1006 §5): CR (0xE0) with TPDU size (0xC0) and TSAPs
//!   (0xC1 calling, 0xC2 called), CC (0xD0), DT (0xF0, EOT bit 0x80), DR (0x80), ER (0x70).
//! - S7comm PDU: protocol id 0x32, ROSCTR (1 job, 2 ack, 3 ack-data), PDU reference, parameter
//!   and data lengths, and on acks the error class and code; then the parameter block (function
//!   code first) and the data block.

use crate::error::FrameError;
use crate::frame::FrameReader;

pub(crate) const TPKT_HEADER_LEN: usize = 4;
const TPKT_VERSION: u8 = 3;

const COTP_CR: u8 = 0xE0;
const COTP_CC: u8 = 0xD0;
const COTP_DR: u8 = 0x80;
const COTP_DT: u8 = 0xF0;
const COTP_ER: u8 = 0x70;
const COTP_EOT: u8 = 0x80;
const COTP_PARAM_TPDU_SIZE: u8 = 0xC0;
const COTP_PARAM_CALLING_TSAP: u8 = 0xC1;
const COTP_PARAM_CALLED_TSAP: u8 = 0xC2;
/// Bytes of a COTP DT header (length indicator, type, TPDU-NR/EOT).
pub(crate) const COTP_DT_HEADER_LEN: usize = 3;

const S7_PROTOCOL_ID: u8 = 0x32;
pub(crate) const ROSCTR_JOB: u8 = 0x01;
pub(crate) const ROSCTR_ACK: u8 = 0x02;
pub(crate) const ROSCTR_ACK_DATA: u8 = 0x03;

pub(crate) const FN_SETUP_COMMUNICATION: u8 = 0xF0;
pub(crate) const FN_READ_VAR: u8 = 0x04;
pub(crate) const FN_WRITE_VAR: u8 = 0x05;

/// Transport size of an S7-ANY item in a request (the "word length").
pub(crate) const ITEM_TRANSPORT_BIT: u8 = 0x01;
pub(crate) const ITEM_TRANSPORT_BYTE: u8 = 0x02;
/// Transport size of a data item (Write Var data, Read Var reply).
pub(crate) const DATA_TRANSPORT_BIT: u8 = 0x03;
pub(crate) const DATA_TRANSPORT_BYTE: u8 = 0x04;

/// Return code of a data item that succeeded.
pub const RETURN_CODE_OK: u8 = 0xFF;
/// Return code: address out of range (invalid address).
pub const RETURN_CODE_OUT_OF_RANGE: u8 = 0x05;

/// Sizes the planner uses: a job header (10) + function and item count (2); an S7-ANY item (12);
/// an ack-data header (12) + function and item count (2); a data item's header (4).
pub(crate) const READ_REQUEST_OVERHEAD: usize = 12;
pub(crate) const READ_REQUEST_ITEM: usize = 12;
pub(crate) const READ_REPLY_OVERHEAD: usize = 14;
pub(crate) const READ_REPLY_ITEM_HEADER: usize = 4;

// ---------------------------------------------------------------------------------------------
// Encoders (requests)
// ---------------------------------------------------------------------------------------------

/// One S7-ANY item (syntax id 0x10): what to read or write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AnyItem {
    /// [`ITEM_TRANSPORT_BIT`] or [`ITEM_TRANSPORT_BYTE`].
    pub(crate) transport: u8,
    /// Number of elements of `transport` (bits: 1; bytes: the byte count).
    pub(crate) count: u16,
    pub(crate) db: u16,
    pub(crate) area: u8,
    /// 24-bit bit address (byte × 8 + bit).
    pub(crate) bit_address: u32,
}

impl AnyItem {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[0x12, 0x0A, 0x10, self.transport]);
        out.extend_from_slice(&self.count.to_be_bytes());
        out.extend_from_slice(&self.db.to_be_bytes());
        out.push(self.area);
        let a = self.bit_address.to_be_bytes();
        out.extend_from_slice(&a[1..]);
    }
}

fn tpkt(payload_len: usize, out: &mut Vec<u8>) {
    // Callers keep frames under 64 KiB (the TPDU size is at most 8 KiB).
    let len = u16::try_from(TPKT_HEADER_LEN + payload_len).unwrap_or(u16::MAX);
    out.extend_from_slice(&[TPKT_VERSION, 0]);
    out.extend_from_slice(&len.to_be_bytes());
}

/// A TPKT frame holding a COTP Connection Request (class 0) with the TPDU size code
/// (2^code bytes) and the calling and called TSAPs.
pub(crate) fn encode_connection_request(local_tsap: u16, remote_tsap: u16, tpdu_size_code: u8) -> Vec<u8> {
    let mut cotp = vec![0, COTP_CR, 0x00, 0x00, 0x00, 0x01, 0x00];
    cotp.extend_from_slice(&[COTP_PARAM_TPDU_SIZE, 1, tpdu_size_code]);
    cotp.extend_from_slice(&[COTP_PARAM_CALLING_TSAP, 2]);
    cotp.extend_from_slice(&local_tsap.to_be_bytes());
    cotp.extend_from_slice(&[COTP_PARAM_CALLED_TSAP, 2]);
    cotp.extend_from_slice(&remote_tsap.to_be_bytes());
    // The length indicator counts the bytes after itself.
    cotp[0] = (cotp.len() - 1) as u8;
    let mut out = Vec::with_capacity(TPKT_HEADER_LEN + cotp.len());
    tpkt(cotp.len(), &mut out);
    out.extend_from_slice(&cotp);
    out
}

/// Wrap an S7 PDU in COTP DT TPDUs of at most `max_tpdu` bytes each (EOT on the last), each in
/// its TPKT, concatenated.
pub(crate) fn encode_data_frames(pdu: &[u8], max_tpdu: usize) -> Vec<u8> {
    let per = max_tpdu.saturating_sub(COTP_DT_HEADER_LEN).max(1);
    let mut out = Vec::with_capacity(pdu.len() + 16);
    let mut chunks = pdu.chunks(per).peekable();
    if chunks.peek().is_none() {
        tpkt(COTP_DT_HEADER_LEN, &mut out);
        out.extend_from_slice(&[2, COTP_DT, COTP_EOT]);
        return out;
    }
    while let Some(c) = chunks.next() {
        let eot = if chunks.peek().is_none() { COTP_EOT } else { 0 };
        tpkt(COTP_DT_HEADER_LEN + c.len(), &mut out);
        out.extend_from_slice(&[2, COTP_DT, eot]);
        out.extend_from_slice(c);
    }
    out
}

fn job_header(pdu_ref: u16, param_len: usize, data_len: usize, out: &mut Vec<u8>) {
    out.extend_from_slice(&[S7_PROTOCOL_ID, ROSCTR_JOB, 0, 0]);
    out.extend_from_slice(&pdu_ref.to_be_bytes());
    out.extend_from_slice(&(param_len as u16).to_be_bytes());
    out.extend_from_slice(&(data_len as u16).to_be_bytes());
}

/// S7 job: Setup Communication, one job in flight each way, proposing `pdu_size`.
pub(crate) fn encode_setup_communication(pdu_ref: u16, pdu_size: u16) -> Vec<u8> {
    let mut out = Vec::with_capacity(18);
    job_header(pdu_ref, 8, 0, &mut out);
    out.extend_from_slice(&[FN_SETUP_COMMUNICATION, 0, 0, 1, 0, 1]);
    out.extend_from_slice(&pdu_size.to_be_bytes());
    out
}

/// S7 job: Read Var with these items (the caller keeps to 255 items and the PDU size).
pub(crate) fn encode_read_var(pdu_ref: u16, items: &[AnyItem]) -> Vec<u8> {
    let param_len = 2 + READ_REQUEST_ITEM * items.len();
    let mut out = Vec::with_capacity(10 + param_len);
    job_header(pdu_ref, param_len, 0, &mut out);
    out.extend_from_slice(&[FN_READ_VAR, items.len() as u8]);
    for it in items {
        it.encode(&mut out);
    }
    out
}

/// S7 job: Write Var of one item. For a bit item the data transport is BIT and its length is in
/// bits (1); for bytes it is BYTE and the length is in bits too (bytes × 8).
pub(crate) fn encode_write_var(pdu_ref: u16, item: &AnyItem, data: &[u8]) -> Vec<u8> {
    let (transport, bits) = if item.transport == ITEM_TRANSPORT_BIT {
        (DATA_TRANSPORT_BIT, data.len())
    } else {
        (DATA_TRANSPORT_BYTE, data.len() * 8)
    };
    let data_len = 4 + data.len();
    let mut out = Vec::with_capacity(10 + 14 + data_len);
    job_header(pdu_ref, 14, data_len, &mut out);
    out.extend_from_slice(&[FN_WRITE_VAR, 1]);
    item.encode(&mut out);
    out.extend_from_slice(&[0x00, transport]);
    out.extend_from_slice(&(bits as u16).to_be_bytes());
    out.extend_from_slice(data);
    out
}

// ---------------------------------------------------------------------------------------------
// Parsers (replies)
// ---------------------------------------------------------------------------------------------

/// Check a TPKT header (the first 4 bytes of `bytes`) and return the length of the whole packet,
/// header included.
pub fn parse_tpkt_header(bytes: &[u8]) -> Result<usize, FrameError> {
    let mut r = FrameReader::new(bytes);
    r.expect_u8(TPKT_VERSION, "TPKT version")?;
    r.skip(1, "TPKT reserved")?;
    let len = usize::from(r.u16_be("TPKT length")?);
    if len < TPKT_HEADER_LEN + COTP_DT_HEADER_LEN - 1 {
        return Err(FrameError::new(2, format!("TPKT length {len} is too short for a COTP TPDU")));
    }
    Ok(len)
}

/// A COTP TPDU received from the peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cotp<'a> {
    /// Connection Confirm: the ISO connection is open.
    ConnectConfirm(ConnectConfirm),
    /// Data: a fragment of an S7 PDU; `eot` marks the last one.
    Data { eot: bool, payload: &'a [u8] },
    /// Disconnect Request: the peer refuses or closes the connection.
    Disconnect { reason: u8 },
    /// TPDU Error: the peer rejected a TPDU we sent.
    Error { cause: u8 },
}

/// The parameters of a COTP Connection Confirm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectConfirm {
    pub dst_ref: u16,
    pub src_ref: u16,
    pub class: u8,
    /// TPDU size the peer accepts, in bytes (from parameter 0xC0), when given.
    pub tpdu_size: Option<usize>,
    pub calling_tsap: Option<u16>,
    pub called_tsap: Option<u16>,
}

/// Parse a COTP TPDU (the TPKT payload).
pub fn parse_cotp(bytes: &[u8]) -> Result<Cotp<'_>, FrameError> {
    let mut r = FrameReader::new(bytes);
    let li = usize::from(r.u8("COTP length indicator")?);
    let header = r.take(li, "COTP header")?;
    let mut h = FrameReader::new(header);
    let kind = h.u8("COTP TPDU type")?;
    match kind & 0xF0 {
        COTP_DT => {
            let nr = h.u8("COTP DT TPDU-NR/EOT")?;
            Ok(Cotp::Data { eot: nr & COTP_EOT != 0, payload: r.rest() })
        }
        COTP_CC => {
            let dst_ref = h.u16_be("COTP CC destination reference")?;
            let src_ref = h.u16_be("COTP CC source reference")?;
            let class = h.u8("COTP CC class")?;
            let mut cc =
                ConnectConfirm { dst_ref, src_ref, class, tpdu_size: None, calling_tsap: None, called_tsap: None };
            while !h.is_empty() {
                let code = h.u8("COTP CC parameter code")?;
                let len = usize::from(h.u8("COTP CC parameter length")?);
                let value = h.take(len, "COTP CC parameter value")?;
                let tsap = || match value {
                    [a, b] => Some(u16::from_be_bytes([*a, *b])),
                    _ => None,
                };
                match code {
                    COTP_PARAM_TPDU_SIZE => {
                        if let [exp] = value {
                            // Sizes 2^7..=2^13 are defined (ISO 8073 §13.3.4 b).
                            if (7..=13).contains(exp) {
                                cc.tpdu_size = Some(1usize << exp);
                            }
                        }
                    }
                    COTP_PARAM_CALLING_TSAP => cc.calling_tsap = tsap(),
                    COTP_PARAM_CALLED_TSAP => cc.called_tsap = tsap(),
                    _ => {}
                }
            }
            Ok(Cotp::ConnectConfirm(cc))
        }
        COTP_DR => {
            h.skip(4, "COTP DR references")?;
            Ok(Cotp::Disconnect { reason: h.u8("COTP DR reason")? })
        }
        COTP_ER => {
            h.skip(2, "COTP ER destination reference")?;
            Ok(Cotp::Error { cause: h.u8("COTP ER reject cause")? })
        }
        _ => Err(FrameError::new(1, format!("unexpected COTP TPDU type 0x{kind:02x}"))),
    }
}

/// Parse one whole TPKT packet (header and COTP TPDU). Bytes after the packet's length are
/// ignored.
pub fn parse_tpkt_frame(bytes: &[u8]) -> Result<Cotp<'_>, FrameError> {
    let len = parse_tpkt_header(bytes)?;
    let mut r = FrameReader::new(bytes);
    r.skip(TPKT_HEADER_LEN, "TPKT header")?;
    let body = r.take(len - TPKT_HEADER_LEN, "TPKT payload")?;
    parse_cotp(body).map_err(|e| FrameError::new(e.offset + TPKT_HEADER_LEN, e.reason))
}

/// The fixed header of an S7 ack or ack-data PDU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct S7Header {
    pub rosctr: u8,
    pub pdu_ref: u16,
    /// Error class and error code; (0, 0) is success.
    pub error_class: u8,
    pub error_code: u8,
}

impl S7Header {
    pub fn is_error(&self) -> bool {
        self.error_class != 0 || self.error_code != 0
    }
}

/// A decoded S7 reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S7Reply<'a> {
    pub header: S7Header,
    pub body: ReplyBody<'a>,
}

/// What an S7 reply carries, by the function code of its parameter block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyBody<'a> {
    /// No parameter block (typical of a reply with a header error).
    Empty,
    SetupCommunication(SetupCommunication),
    /// One entry per requested item, in request order.
    ReadVar(Vec<ReadItem<'a>>),
    /// One return code per written item.
    WriteVar(Vec<u8>),
    /// Another function (not used by FOS).
    Other {
        function: u8,
    },
}

/// The parameters the peer agreed to in Setup Communication.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SetupCommunication {
    pub max_amq_calling: u16,
    pub max_amq_called: u16,
    /// Negotiated PDU size: the largest S7 PDU either side may send.
    pub pdu_size: u16,
}

/// One data item of a Read Var reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadItem<'a> {
    /// 0xFF success, else the reason (see [`return_code_name`]).
    pub return_code: u8,
    pub transport_size: u8,
    pub data: &'a [u8],
}

/// Parse an S7 ack/ack-data PDU (the reassembled COTP DT payload) and, by its function code,
/// the Setup Communication, Read Var or Write Var parameters and data.
pub fn parse_s7_reply(pdu: &[u8]) -> Result<S7Reply<'_>, FrameError> {
    let mut r = FrameReader::new(pdu);
    r.expect_u8(S7_PROTOCOL_ID, "S7 protocol id")?;
    let at = r.position();
    let rosctr = r.u8("S7 ROSCTR")?;
    if rosctr != ROSCTR_ACK && rosctr != ROSCTR_ACK_DATA {
        return Err(FrameError::new(at, format!("S7 ROSCTR 0x{rosctr:02x} is not a reply (expected 0x02 or 0x03)")));
    }
    r.skip(2, "S7 redundancy identification")?;
    let pdu_ref = r.u16_be("S7 PDU reference")?;
    let param_len = usize::from(r.u16_be("S7 parameter length")?);
    let data_len = usize::from(r.u16_be("S7 data length")?);
    let error_class = r.u8("S7 error class")?;
    let error_code = r.u8("S7 error code")?;
    let header = S7Header { rosctr, pdu_ref, error_class, error_code };
    let params_at = r.position();
    let params = r.take(param_len, "S7 parameter block")?;
    let data_at = r.position();
    let data = r.take(data_len, "S7 data block")?;
    let shift = |e: FrameError, base: usize| FrameError::new(e.offset + base, e.reason);

    let mut p = FrameReader::new(params);
    if p.is_empty() {
        return Ok(S7Reply { header, body: ReplyBody::Empty });
    }
    let function = p.u8("S7 function code")?;
    let body = match function {
        FN_SETUP_COMMUNICATION => {
            let setup = parse_setup_params(&mut p).map_err(|e| shift(e, params_at))?;
            ReplyBody::SetupCommunication(setup)
        }
        FN_READ_VAR => {
            let count = p.u8("Read Var item count").map_err(|e| shift(e, params_at))?;
            let items = parse_read_items(data, count).map_err(|e| shift(e, data_at))?;
            ReplyBody::ReadVar(items)
        }
        FN_WRITE_VAR => {
            let count = p.u8("Write Var item count").map_err(|e| shift(e, params_at))?;
            let mut d = FrameReader::new(data);
            let codes = d.take(usize::from(count), "Write Var return codes").map_err(|e| shift(e, data_at))?;
            ReplyBody::WriteVar(codes.to_vec())
        }
        other => ReplyBody::Other { function: other },
    };
    Ok(S7Reply { header, body })
}

fn parse_setup_params(p: &mut FrameReader<'_>) -> Result<SetupCommunication, FrameError> {
    p.skip(1, "Setup Communication reserved")?;
    let max_amq_calling = p.u16_be("Setup Communication max AmQ calling")?;
    let max_amq_called = p.u16_be("Setup Communication max AmQ called")?;
    let pdu_size = p.u16_be("Setup Communication PDU size")?;
    Ok(SetupCommunication { max_amq_calling, max_amq_called, pdu_size })
}

/// Read Var data items: return code, transport size, length (in bits for transport sizes BIT,
/// BYTE/WORD/DWORD and INTEGER; in bytes otherwise), data, and a fill byte after an odd-length
/// item that is not the last. A failed item is its 4-byte header only, whatever its length field
/// says (the Snap7 server puts 4 there; the Snap7 client and Wireshark skip 4 bytes too).
fn parse_read_items(data: &[u8], count: u8) -> Result<Vec<ReadItem<'_>>, FrameError> {
    let mut d = FrameReader::new(data);
    let mut items = Vec::with_capacity(usize::from(count));
    for i in 0..count {
        let return_code = d.u8("Read Var item return code")?;
        let transport_size = d.u8("Read Var item transport size")?;
        let len = usize::from(d.u16_be("Read Var item length")?);
        let bytes = match transport_size {
            _ if return_code != RETURN_CODE_OK => 0,
            0x03..=0x05 => len.div_ceil(8),
            _ => len,
        };
        let item_data = d.take(bytes, "Read Var item data")?;
        if bytes % 2 == 1 && i + 1 < count {
            d.skip(1, "Read Var fill byte")?;
        }
        items.push(ReadItem { return_code, transport_size, data: item_data });
    }
    Ok(items)
}

// ---------------------------------------------------------------------------------------------
// Names of codes, for messages
// ---------------------------------------------------------------------------------------------

/// What a data item's return code means.
pub fn return_code_name(code: u8) -> &'static str {
    match code {
        0x00 => "reserved",
        0x01 => "hardware fault",
        0x03 => "accessing the object not allowed",
        0x05 => "address out of range",
        0x06 => "data type not supported",
        0x07 => "data type inconsistent",
        0x0A => "object does not exist",
        0xFF => "success",
        _ => "unknown return code",
    }
}

/// What an S7 header error (class and code) means.
pub fn header_error_name(class: u8, code: u8) -> &'static str {
    match (u16::from(class) << 8) | u16::from(code) {
        0x0000 => "no error",
        0x0110 => "invalid block number",
        0x0111 => "invalid request length",
        0x0112 => "invalid parameter",
        0x0113 => "invalid block type",
        0x0114 => "block not found",
        0x8000 => "function already occupied",
        0x8001 => "not allowed in the current operating status",
        0x8101 => "hardware fault",
        0x8103 => "object access not allowed",
        0x8104 => "context not supported (function not implemented)",
        0x8105 => "invalid address",
        0x8106 => "data type not supported",
        0x8107 => "data type inconsistent",
        0x810A => "object does not exist",
        0x8301 => "insufficient memory on the CPU",
        0x8404 => "fatal error (invalid or unsupported request)",
        0x8500 => "incorrect PDU size",
        0x8702 => "address invalid",
        0xD209 => "block not found",
        _ => match class {
            0x81 => "application relationship error",
            0x82 => "object definition error",
            0x83 => "no resources available",
            0x84 => "error on service processing",
            0x85 => "error on supplies",
            0x87 => "access error",
            _ => "unknown error",
        },
    }
}

/// What a COTP disconnect reason means (ISO 8073 §13.5.3 e).
pub fn disconnect_reason_name(reason: u8) -> &'static str {
    match reason {
        0 => "reason not specified",
        1 => "congestion at the TSAP",
        2 => "session entity not attached to the TSAP",
        3 => "address unknown (wrong rack/slot or TSAP?)",
        128 => "normal disconnect",
        129 => "remote transport entity congestion",
        130 => "connection negotiation failed",
        131 => "duplicate source reference",
        132 => "mismatched references",
        133 => "protocol error",
        135 => "reference overflow",
        136 => "connection request refused",
        138 => "header or parameter length invalid",
        _ => "unknown reason",
    }
}

/// Run every reply parser over `bytes` as the fuzz target does: as a TPKT packet (and its DT
/// payload as an S7 reply), as a bare COTP TPDU and as a bare S7 reply. Never panics in release
/// builds; with debug assertions (fuzzing, tests) it checks that what a parser returns lies inside
/// its input.
#[doc(hidden)]
pub fn fuzz_parsers(bytes: &[u8]) {
    if let Ok(Cotp::Data { payload, .. }) = parse_tpkt_frame(bytes) {
        check_reply(payload);
    }
    let _ = parse_cotp(bytes);
    check_reply(bytes);
}

fn check_reply(pdu: &[u8]) {
    if let Ok(reply) = parse_s7_reply(pdu) {
        if let ReplyBody::ReadVar(items) = &reply.body {
            let total: usize = items.iter().map(|i| i.data.len() + 4).sum();
            debug_assert!(total <= pdu.len(), "read items claim more bytes than the PDU holds");
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Test-side encoder of an ack-data reply, as a PLC builds it.
    pub(crate) fn ack_data(pdu_ref: u16, error: (u8, u8), params: &[u8], data: &[u8]) -> Vec<u8> {
        let mut out = vec![S7_PROTOCOL_ID, ROSCTR_ACK_DATA, 0, 0];
        out.extend_from_slice(&pdu_ref.to_be_bytes());
        out.extend_from_slice(&(params.len() as u16).to_be_bytes());
        out.extend_from_slice(&(data.len() as u16).to_be_bytes());
        out.extend_from_slice(&[error.0, error.1]);
        out.extend_from_slice(params);
        out.extend_from_slice(data);
        out
    }

    /// Test-side encoder of a Read Var reply: (return code, data) per item, with fill bytes.
    pub(crate) fn read_var_reply(pdu_ref: u16, items: &[(u8, Vec<u8>)]) -> Vec<u8> {
        let mut data = Vec::new();
        for (i, (rc, d)) in items.iter().enumerate() {
            if *rc == RETURN_CODE_OK {
                data.extend_from_slice(&[*rc, DATA_TRANSPORT_BYTE]);
                data.extend_from_slice(&((d.len() * 8) as u16).to_be_bytes());
                data.extend_from_slice(d);
                if d.len() % 2 == 1 && i + 1 < items.len() {
                    data.push(0);
                }
            } else {
                data.extend_from_slice(&[*rc, 0, 0, 0]);
            }
        }
        ack_data(pdu_ref, (0, 0), &[FN_READ_VAR, items.len() as u8], &data)
    }

    #[test]
    fn connection_request_matches_the_reference_bytes() {
        // The CR Snap7 sends for rack 0, slot 1, OP connection (TSAP 0x0201), TPDU 1024.
        let cr = encode_connection_request(0x0100, 0x0201, 0x0A);
        assert_eq!(
            cr,
            [
                0x03, 0x00, 0x00, 0x16, 0x11, 0xE0, 0x00, 0x00, 0x00, 0x01, 0x00, 0xC0, 0x01, 0x0A, 0xC1, 0x02, 0x01,
                0x00, 0xC2, 0x02, 0x02, 0x01
            ]
        );
    }

    #[test]
    fn setup_and_read_var_requests() {
        assert_eq!(
            encode_setup_communication(1, 960),
            [0x32, 0x01, 0, 0, 0, 1, 0, 8, 0, 0, 0xF0, 0, 0, 1, 0, 1, 0x03, 0xC0]
        );
        let item = AnyItem { transport: ITEM_TRANSPORT_BYTE, count: 2, db: 1, area: 0x84, bit_address: 16 };
        let r = encode_read_var(7, &[item]);
        assert_eq!(r, [0x32, 1, 0, 0, 0, 7, 0, 14, 0, 0, 0x04, 1, 0x12, 0x0A, 0x10, 0x02, 0, 2, 0, 1, 0x84, 0, 0, 16]);
        assert_eq!(r.len(), READ_REQUEST_OVERHEAD + READ_REQUEST_ITEM);
    }

    #[test]
    fn write_var_bit_and_bytes() {
        let bit = AnyItem { transport: ITEM_TRANSPORT_BIT, count: 1, db: 0, area: 0x83, bit_address: 1 };
        let w = encode_write_var(3, &bit, &[1]);
        assert_eq!(&w[10..], [0x05, 1, 0x12, 0x0A, 0x10, 0x01, 0, 1, 0, 0, 0x83, 0, 0, 1, 0x00, 0x03, 0, 1, 1]);
        assert_eq!(&w[6..10], [0, 14, 0, 5]);
        let word = AnyItem { transport: ITEM_TRANSPORT_BYTE, count: 2, db: 1, area: 0x84, bit_address: 0 };
        let w = encode_write_var(3, &word, &[0x04, 0xD2]);
        assert_eq!(&w[24..], [0x00, 0x04, 0, 16, 0x04, 0xD2]);
    }

    #[test]
    fn data_frames_are_split_at_the_tpdu_size() {
        let pdu: Vec<u8> = (0..300u16).map(|i| i as u8).collect();
        let frames = encode_data_frames(&pdu, 128);
        let mut rest = frames.as_slice();
        let mut joined = Vec::new();
        let mut eots = Vec::new();
        while !rest.is_empty() {
            let len = parse_tpkt_header(rest).unwrap();
            assert!(len - TPKT_HEADER_LEN <= 128);
            match parse_tpkt_frame(rest).unwrap() {
                Cotp::Data { eot, payload } => {
                    joined.extend_from_slice(payload);
                    eots.push(eot);
                }
                other => panic!("{other:?}"),
            }
            rest = &rest[len..];
        }
        assert_eq!(joined, pdu);
        assert_eq!(eots, [false, false, true]);
    }

    #[test]
    fn connect_confirm_and_disconnect() {
        let cc = [
            0x03, 0, 0, 0x16, 0x11, 0xD0, 0x00, 0x01, 0x00, 0x02, 0x00, 0xC0, 0x01, 0x0A, 0xC1, 0x02, 0x01, 0x00, 0xC2,
            0x02, 0x02, 0x01,
        ];
        match parse_tpkt_frame(&cc).unwrap() {
            Cotp::ConnectConfirm(c) => {
                assert_eq!(c.tpdu_size, Some(1024));
                assert_eq!((c.calling_tsap, c.called_tsap), (Some(0x0100), Some(0x0201)));
                assert_eq!((c.dst_ref, c.src_ref), (1, 2));
            }
            other => panic!("{other:?}"),
        }
        let dr = [0x03, 0, 0, 0x0B, 0x06, 0x80, 0, 1, 0, 2, 3];
        assert_eq!(parse_tpkt_frame(&dr).unwrap(), Cotp::Disconnect { reason: 3 });
        let er = [0x03, 0, 0, 0x09, 0x04, 0x70, 0, 1, 1];
        assert_eq!(parse_tpkt_frame(&er).unwrap(), Cotp::Error { cause: 1 });
        let e = parse_tpkt_frame(&[0x03, 0, 0, 0x09, 0x04, 0x10, 0, 1, 1]).unwrap_err();
        assert!(e.reason.contains("unexpected COTP TPDU type 0x10"), "{e}");
        let e = parse_tpkt_frame(&[0x04, 0, 0, 0x09]).unwrap_err();
        assert!(e.reason.contains("TPKT version"), "{e}");
        let e = parse_tpkt_frame(&[0x03, 0, 0, 0x30, 2, 0xF0, 0x80]).unwrap_err();
        assert!(e.reason.contains("truncated"), "{e}");
    }

    #[test]
    fn setup_reply() {
        let pdu = ack_data(1, (0, 0), &[0xF0, 0, 0, 1, 0, 1, 0x01, 0xE0], &[]);
        let r = parse_s7_reply(&pdu).unwrap();
        assert_eq!(r.header.pdu_ref, 1);
        assert_eq!(
            r.body,
            ReplyBody::SetupCommunication(SetupCommunication { max_amq_calling: 1, max_amq_called: 1, pdu_size: 480 })
        );
    }

    #[test]
    fn read_reply_with_fill_bytes_and_an_error_item() {
        let pdu = read_var_reply(9, &[(0xFF, vec![1, 2, 3]), (0x0A, vec![]), (0xFF, vec![7]), (0xFF, vec![8, 9])]);
        let r = parse_s7_reply(&pdu).unwrap();
        let ReplyBody::ReadVar(items) = r.body else { panic!("{:?}", r.body) };
        assert_eq!(items.len(), 4);
        assert_eq!(items[0].data, [1, 2, 3]);
        assert_eq!(items[1].return_code, 0x0A);
        assert!(items[1].data.is_empty());
        assert_eq!(items[2].data, [7]);
        assert_eq!(items[3].data, [8, 9]);
        // The Snap7 server's failed items say length 4 but carry no data.
        let data = [0x0A, 0, 0, 4, 0x05, 0, 0, 4, 0xFF, 4, 0, 8, 0x2A];
        let pdu = ack_data(3, (0, 0), &[FN_READ_VAR, 3], &data);
        let ReplyBody::ReadVar(items) = parse_s7_reply(&pdu).unwrap().body else { panic!() };
        assert_eq!((items[0].return_code, items[1].return_code, items[2].data), (0x0A, 0x05, &[0x2A][..]));
        // The last odd item has no fill byte.
        let pdu = read_var_reply(9, &[(0xFF, vec![1])]);
        let ReplyBody::ReadVar(items) = parse_s7_reply(&pdu).unwrap().body else { panic!() };
        assert_eq!(items[0].data, [1]);
    }

    #[test]
    fn transport_sizes_in_bytes_and_bits() {
        // REAL (0x07) and octet string (0x09) count bytes; BIT (0x03) counts bits.
        let data = [0xFF, 0x07, 0, 4, 0x40, 0x60, 0, 0, 0xFF, 0x03, 0, 1, 0x01, 0x00, 0xFF, 0x09, 0, 2, 5, 6];
        let pdu = ack_data(2, (0, 0), &[FN_READ_VAR, 3], &data);
        let ReplyBody::ReadVar(items) = parse_s7_reply(&pdu).unwrap().body else { panic!() };
        assert_eq!(items[0].data, [0x40, 0x60, 0, 0]);
        assert_eq!(items[1].data, [1]);
        assert_eq!(items[2].data, [5, 6]);
    }

    #[test]
    fn header_errors_and_write_replies() {
        let pdu = ack_data(4, (0x85, 0x00), &[], &[]);
        let r = parse_s7_reply(&pdu).unwrap();
        assert!(r.header.is_error());
        assert_eq!(r.body, ReplyBody::Empty);
        assert_eq!(header_error_name(0x85, 0x00), "incorrect PDU size");
        assert_eq!(header_error_name(0x87, 0x42), "access error");
        let pdu = ack_data(5, (0, 0), &[FN_WRITE_VAR, 1], &[0x05]);
        assert_eq!(parse_s7_reply(&pdu).unwrap().body, ReplyBody::WriteVar(vec![0x05]));
        // A header-only ACK (ROSCTR 2) is a reply too.
        let mut ack = ack_data(6, (0x81, 0x04), &[], &[]);
        ack[1] = ROSCTR_ACK;
        assert_eq!(parse_s7_reply(&ack).unwrap().header.error_code, 0x04);
    }

    #[test]
    fn malformed_replies_are_errors_naming_the_field() {
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (vec![], "S7 protocol id"),
            (vec![0x31, 3], "S7 protocol id: expected 0x32"),
            (vec![0x32, 1, 0, 0, 0, 1, 0, 0, 0, 0], "is not a reply"),
            (vec![0x32, 3, 0, 0, 0, 1, 0, 8, 0, 0, 0, 0, 0xF0], "S7 parameter block"),
            (ack_data(1, (0, 0), &[0xF0, 0, 0, 1], &[]), "max AmQ called"),
            (ack_data(1, (0, 0), &[FN_READ_VAR, 2], &[0xFF, 4, 0, 8, 1, 0]), "Read Var item return code"),
            (ack_data(1, (0, 0), &[FN_READ_VAR, 2], &[0xFF, 4, 0, 8, 1]), "fill byte"),
            (ack_data(1, (0, 0), &[FN_READ_VAR, 1], &[0xFF, 4, 0, 16, 1]), "Read Var item data"),
            (ack_data(1, (0, 0), &[FN_WRITE_VAR, 2], &[0xFF]), "Write Var return codes"),
        ];
        for (bytes, want) in cases {
            let e = parse_s7_reply(&bytes).unwrap_err();
            assert!(e.reason.contains(want), "{bytes:02x?}: {e}");
        }
    }

    proptest! {
        #[test]
        fn read_reply_round_trips(items in proptest::collection::vec(
            (prop_oneof![Just(0xFFu8), Just(0x05u8), Just(0x0Au8)], proptest::collection::vec(any::<u8>(), 0..40)), 0..20),
            pdu_ref in any::<u16>())
        {
            let items: Vec<(u8, Vec<u8>)> =
                items.into_iter().map(|(rc, d)| if rc == 0xFF { (rc, d) } else { (rc, vec![]) }).collect();
            let pdu = read_var_reply(pdu_ref, &items);
            let framed = encode_data_frames(&pdu, 1024);
            let Cotp::Data { eot, payload } = parse_tpkt_frame(&framed).unwrap() else { panic!() };
            prop_assert!(eot);
            let r = parse_s7_reply(payload).unwrap();
            prop_assert_eq!(r.header.pdu_ref, pdu_ref);
            let ReplyBody::ReadVar(got) = r.body else { panic!() };
            prop_assert_eq!(got.len(), items.len());
            for (g, (rc, d)) in got.iter().zip(&items) {
                prop_assert_eq!(g.return_code, *rc);
                prop_assert_eq!(g.data, d.as_slice());
            }
        }

        #[test]
        fn setup_reply_round_trips(pdu_size in any::<u16>(), a in any::<u16>(), b in any::<u16>()) {
            let mut params = vec![FN_SETUP_COMMUNICATION, 0];
            params.extend_from_slice(&a.to_be_bytes());
            params.extend_from_slice(&b.to_be_bytes());
            params.extend_from_slice(&pdu_size.to_be_bytes());
            let pdu = ack_data(1, (0, 0), &params, &[]);
            let r = parse_s7_reply(&pdu).unwrap();
            prop_assert_eq!(r.body, ReplyBody::SetupCommunication(SetupCommunication {
                max_amq_calling: a, max_amq_called: b, pdu_size }));
        }

        #[test]
        fn data_frames_round_trip(pdu in proptest::collection::vec(any::<u8>(), 0..3000), tpdu_exp in 7u32..=13) {
            let frames = encode_data_frames(&pdu, 1 << tpdu_exp);
            let mut rest = frames.as_slice();
            let mut joined = Vec::new();
            loop {
                let len = parse_tpkt_header(rest).unwrap();
                let Cotp::Data { eot, payload } = parse_tpkt_frame(rest).unwrap() else { panic!() };
                joined.extend_from_slice(payload);
                rest = &rest[len..];
                if eot { break; }
            }
            prop_assert!(rest.is_empty());
            prop_assert_eq!(joined, pdu);
        }

        #[test]
        fn parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            fuzz_parsers(&bytes);
        }
    }
}
