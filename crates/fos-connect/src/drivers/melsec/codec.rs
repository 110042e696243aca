//! MC protocol binary 3E/4E frames: request encoding and reply parsing.
//!
//! Every parser here reads untrusted bytes through [`FrameReader`] and returns a [`FrameError`]
//! naming the field and offset; none panics, whatever the input (they are fuzzed by
//! `fuzz/fuzz_targets/melsec_frame.rs`).

use crate::error::FrameError;
use crate::frame::FrameReader;

/// Subheader of a 3E request (`50 00`).
pub(crate) const SUBHEADER_3E_REQUEST: [u8; 2] = [0x50, 0x00];
/// Subheader of a 3E reply (`D0 00`).
pub(crate) const SUBHEADER_3E_REPLY: [u8; 2] = [0xD0, 0x00];
/// Subheader of a 4E request (`54 00`, then serial number and `00 00`).
pub(crate) const SUBHEADER_4E_REQUEST: [u8; 2] = [0x54, 0x00];
/// Subheader of a 4E reply (`D4 00`, then the request's serial number and `00 00`).
pub(crate) const SUBHEADER_4E_REPLY: [u8; 2] = [0xD4, 0x00];

/// Command 0401: batch read (subcommand 0000 word units, 0001 bit units).
pub const CMD_BATCH_READ: u16 = 0x0401;
/// Command 1401: batch write (same subcommands as 0401).
pub const CMD_BATCH_WRITE: u16 = 0x1401;
/// Command 0403: random read in word and double-word units (subcommand 0000).
pub const CMD_RANDOM_READ: u16 = 0x0403;
/// Command 0101: read CPU model name and code.
pub const CMD_READ_CPU_MODEL: u16 = 0x0101;
/// Subcommand of 0401/1401/0403 for word units (Q/L device format).
pub const SUB_WORD: u16 = 0x0000;
/// Subcommand of 0401/1401 for bit units (Q/L device format).
pub const SUB_BIT: u16 = 0x0001;

/// Most words one 0401 batch read or 1401 batch write may carry on a 3E/4E frame.
pub const MAX_BATCH_WORDS: u32 = 960;
/// Most bit points one 0401 batch read in bit units may carry on a binary 3E/4E frame.
pub const MAX_BATCH_BITS: u32 = 3584;
/// Most word plus double-word points of one 0403 random read (Q/L).
pub const MAX_RANDOM_POINTS: usize = 192;
/// Largest reply data length FOS accepts (the largest legal reply, 960 words, is 1,922 bytes).
pub const MAX_REPLY_DATA: usize = 8192;

/// 3E or 4E frame. 4E adds a serial number that the reply echoes, so a late reply to an
/// earlier request cannot be taken for the current one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FrameKind {
    E3,
    E4,
}

impl FrameKind {
    /// Length of a reply's fixed header up to and including the data length field.
    pub fn reply_header_len(self) -> usize {
        match self {
            FrameKind::E3 => 9,
            FrameKind::E4 => 13,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            FrameKind::E3 => "3E",
            FrameKind::E4 => "4E",
        }
    }
}

/// Access route of a request: network number, PC number, request destination module I/O number
/// and module station number. The default (0, 0xFF, 0x03FF, 0) is the CPU the Ethernet port
/// belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Route {
    pub network: u8,
    pub pc: u8,
    pub module_io: u16,
    pub module_station: u8,
}

impl Default for Route {
    fn default() -> Self {
        Route { network: 0, pc: 0xFF, module_io: 0x03FF, module_station: 0 }
    }
}

/// The fixed part of a reply, up to the data length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplyHeader {
    pub frame: FrameKind,
    /// Serial number (4E); 0 for 3E.
    pub serial: u16,
    pub route: Route,
    /// Bytes after the header: end code plus response data or error information.
    pub data_length: u16,
}

/// A parsed reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply<'a> {
    pub header: ReplyHeader,
    /// 0 on success; otherwise the device's error code (see [`describe_end_code`]).
    pub end_code: u16,
    /// Response data on success; error information on failure.
    pub data: &'a [u8],
}

impl Reply<'_> {
    /// The error information a failed reply carries (none from some devices and simulators).
    pub fn error_info(&self) -> Option<ErrorInfo> {
        if self.end_code == 0 {
            return None;
        }
        parse_error_info(self.data).ok()
    }
}

/// Error information of a failed reply: the route and the command that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorInfo {
    pub route: Route,
    pub command: u16,
    pub subcommand: u16,
}

/// CPU model name and code (reply of command 0101).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpuModel {
    /// Model name with its padding (spaces or NULs) removed.
    pub name: String,
    pub code: u16,
}

/// Encode one binary request frame.
///
/// `body` is the request data after the subcommand. `timer` is the CPU monitoring timer in
/// 250 ms units (0 waits forever).
pub fn encode_request(
    frame: FrameKind,
    serial: u16,
    route: &Route,
    timer: u16,
    command: u16,
    subcommand: u16,
    body: &[u8],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(21 + body.len());
    match frame {
        FrameKind::E3 => out.extend_from_slice(&SUBHEADER_3E_REQUEST),
        FrameKind::E4 => {
            out.extend_from_slice(&SUBHEADER_4E_REQUEST);
            out.extend_from_slice(&serial.to_le_bytes());
            out.extend_from_slice(&[0, 0]);
        }
    }
    push_route(&mut out, route);
    // Request data length: monitoring timer + command + subcommand + body. Bodies are built by
    // this module and stay far below 64 KiB (the largest is a 960-word write).
    let len = u16::try_from(6 + body.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&timer.to_le_bytes());
    out.extend_from_slice(&command.to_le_bytes());
    out.extend_from_slice(&subcommand.to_le_bytes());
    out.extend_from_slice(body);
    out
}

/// Encode a reply frame, as a device would send it (for tests and simulators).
pub fn encode_reply(frame: FrameKind, serial: u16, route: &Route, end_code: u16, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(15 + data.len());
    match frame {
        FrameKind::E3 => out.extend_from_slice(&SUBHEADER_3E_REPLY),
        FrameKind::E4 => {
            out.extend_from_slice(&SUBHEADER_4E_REPLY);
            out.extend_from_slice(&serial.to_le_bytes());
            out.extend_from_slice(&[0, 0]);
        }
    }
    push_route(&mut out, route);
    let len = u16::try_from(2 + data.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&end_code.to_le_bytes());
    out.extend_from_slice(data);
    out
}

fn push_route(out: &mut Vec<u8>, route: &Route) {
    out.push(route.network);
    out.push(route.pc);
    out.extend_from_slice(&route.module_io.to_le_bytes());
    out.push(route.module_station);
}

/// Device descriptor of the Q/L binary format: device number (3 bytes, little-endian) and
/// device code (1 byte).
pub fn device_descriptor(number: u32, code: u8) -> [u8; 4] {
    let n = number.to_le_bytes();
    [n[0], n[1], n[2], code]
}

/// Parse the fixed header of a 3E (`D0 00`) or 4E (`D4 00`) binary reply. Extra bytes after the
/// header are ignored.
pub fn parse_reply_header(bytes: &[u8]) -> Result<ReplyHeader, FrameError> {
    let mut r = FrameReader::new(bytes);
    let sub = r.take(2, "subheader")?;
    let (frame, serial) = if sub == SUBHEADER_3E_REPLY {
        (FrameKind::E3, 0)
    } else if sub == SUBHEADER_4E_REPLY {
        let serial = r.u16_le("4E serial number")?;
        let at = r.position();
        let fixed = r.u16_le("4E fixed field")?;
        if fixed != 0 {
            return Err(FrameError::new(at, format!("4E fixed field: expected 0000, got {fixed:04x}")));
        }
        (FrameKind::E4, serial)
    } else {
        return Err(FrameError::new(
            0,
            format!("subheader: expected d000 (3E reply) or d400 (4E reply), got {:02x}{:02x}", sub[0], sub[1]),
        ));
    };
    let route = parse_route(&mut r)?;
    let at = r.position();
    let data_length = r.u16_le("response data length")?;
    if data_length < 2 {
        return Err(FrameError::new(at, format!("response data length {data_length} is below 2 (no end code)")));
    }
    if usize::from(data_length) > MAX_REPLY_DATA + 2 {
        return Err(FrameError::new(at, format!("response data length {data_length} is above {}", MAX_REPLY_DATA + 2)));
    }
    Ok(ReplyHeader { frame, serial, route, data_length })
}

fn parse_route(r: &mut FrameReader<'_>) -> Result<Route, FrameError> {
    Ok(Route {
        network: r.u8("network number")?,
        pc: r.u8("PC number")?,
        module_io: r.u16_le("request destination module I/O number")?,
        module_station: r.u8("request destination module station number")?,
    })
}

/// Parse a complete 3E or 4E binary reply: header, end code, and the data or error
/// information. The data length must match the bytes present exactly.
pub fn parse_reply(bytes: &[u8]) -> Result<Reply<'_>, FrameError> {
    let header = parse_reply_header(bytes)?;
    let mut r = FrameReader::new(bytes);
    r.skip(header.frame.reply_header_len(), "header")?;
    let want = usize::from(header.data_length);
    if r.remaining() != want {
        return Err(r.error(format!(
            "response data length says {want} bytes, {} present{}",
            r.remaining(),
            if r.remaining() < want { " (truncated frame)" } else { "" }
        )));
    }
    let end_code = r.u16_le("end code")?;
    Ok(Reply { header, end_code, data: r.rest() })
}

/// Parse the 9 bytes of error information that follow a non-zero end code.
pub fn parse_error_info(data: &[u8]) -> Result<ErrorInfo, FrameError> {
    let mut r = FrameReader::new(data);
    let route = parse_route(&mut r)?;
    let command = r.u16_le("error information: command")?;
    let subcommand = r.u16_le("error information: subcommand")?;
    Ok(ErrorInfo { route, command, subcommand })
}

/// Parse `count` little-endian words (batch read in word units, random read).
pub fn parse_words(data: &[u8], count: usize) -> Result<Vec<u16>, FrameError> {
    let want = count.checked_mul(2).ok_or_else(|| FrameError::new(0, format!("{count} words is too many")))?;
    if data.len() != want {
        return Err(FrameError::new(0, format!("word data: {count} words need {want} bytes, got {}", data.len())));
    }
    let mut r = FrameReader::new(data);
    (0..count).map(|i| r.u16_le(&format!("word {i}"))).collect()
}

/// Parse `count` points of bit-unit data: two points per byte, the first in the high nibble,
/// each nibble 0 or 1 (an odd count pads the last low nibble).
pub fn parse_bits(data: &[u8], count: usize) -> Result<Vec<bool>, FrameError> {
    let want = count.div_ceil(2);
    if data.len() != want {
        return Err(FrameError::new(0, format!("bit data: {count} points need {want} bytes, got {}", data.len())));
    }
    let mut r = FrameReader::new(data);
    let mut out = Vec::with_capacity(count);
    for i in 0..want {
        let at = r.position();
        let byte = r.u8("bit data")?;
        for (k, nibble) in [byte >> 4, byte & 0x0F].into_iter().enumerate() {
            let point = 2 * i + k;
            if point >= count {
                break;
            }
            match nibble {
                0 => out.push(false),
                1 => out.push(true),
                n => return Err(FrameError::new(at, format!("bit data: point {point} is {n:#x}, expected 0 or 1"))),
            }
        }
    }
    Ok(out)
}

/// Pack bits for a bit-unit write: two points per byte, high nibble first.
pub fn pack_bits(bits: &[bool]) -> Vec<u8> {
    bits.chunks(2)
        .map(|c| {
            let hi = u8::from(c.first().copied().unwrap_or(false));
            let lo = u8::from(c.get(1).copied().unwrap_or(false));
            hi << 4 | lo
        })
        .collect()
}

/// Pack words little-endian for a word-unit write.
pub fn pack_words(words: &[u16]) -> Vec<u8> {
    words.iter().flat_map(|w| w.to_le_bytes()).collect()
}

/// Parse the reply data of 0101 (read CPU model): 16 bytes of name, 2 bytes of model code.
pub fn parse_cpu_model(data: &[u8]) -> Result<CpuModel, FrameError> {
    let mut r = FrameReader::new(data);
    let name = r.take(16, "CPU model name")?;
    let code = r.u16_le("CPU model code")?;
    if !r.is_empty() {
        return Err(r.error(format!("CPU model: {} unexpected bytes after the model code", r.remaining())));
    }
    let name = String::from_utf8_lossy(name).trim_end_matches([' ', '\0']).to_string();
    Ok(CpuModel { name, code })
}

/// What an end code means, per the MC protocol reference's error code list. Codes 4000–4FFF
/// come from the CPU module itself; C0xx from the Ethernet interface.
pub fn describe_end_code(code: u16) -> &'static str {
    match code {
        0x0000 => "normal completion",
        0xC050 => "ASCII data that cannot be converted to binary was received",
        0xC051..=0xC054 => "the number of read/write points is outside the allowed range",
        0xC055 => "the number of file data read/write points is outside the allowed range",
        0xC056 => "the read/write request exceeds the largest device number (device out of range)",
        0xC057 => "the request data length does not match the number of data",
        0xC058 => "the request data length after ASCII-to-binary conversion does not match the number of data",
        0xC059 => "the command or subcommand is wrong, or not supported by this CPU",
        0xC05A | 0xC05B => "the CPU cannot read or write the specified device",
        0xC05C => "error in the request content (e.g. bit access to a word device, or an unknown device code)",
        0xC05D => "monitor registration has not been performed",
        0xC05E => "the CPU did not answer the Ethernet module within the monitoring timer",
        0xC05F => "the request cannot be executed on the target CPU",
        0xC060 => "error in the request content (bit device data)",
        0xC061 => "the request data length does not match the number of data",
        0xC070 => "device memory extension cannot be specified for the target station",
        0xC0B5 => "the CPU cannot handle the specified data",
        0xC200..=0xC201 => "the device is locked by a remote password",
        0x4000..=0x4FFF => "error detected by the CPU module (see the CPU's error code list)",
        0xC000..=0xCFFF => "error detected by the Ethernet interface (see the module's error code list)",
        _ => "unknown end code",
    }
}

/// The sample quality an end code deserves: address-type errors mark the address bad, the rest
/// the device.
pub fn end_code_is_address_error(code: u16) -> bool {
    matches!(code, 0xC056 | 0xC05A | 0xC05B | 0xC05C | 0xC060 | 0x4030 | 0x4031)
}

/// One line for an error reply: `end code 0xC056 (meaning); failed command 0401/0000 at ...`.
pub fn end_code_text(reply: &Reply<'_>) -> String {
    let mut s = format!("end code 0x{:04X} ({})", reply.end_code, describe_end_code(reply.end_code));
    if let Some(info) = reply.error_info() {
        s.push_str(&format!(
            "; error information: command {:04X}/{:04X}, network {}, PC {:#04x}, module I/O {:04X}, station {}",
            info.command,
            info.subcommand,
            info.route.network,
            info.route.pc,
            info.route.module_io,
            info.route.module_station
        ));
    }
    s
}

/// Exercise every reply parser on `data` (the body of the `melsec_frame` fuzz target, also
/// replayed by `tests/fuzz_corpus_melsec.rs`). Never panics.
#[doc(hidden)]
pub fn fuzz_reply(data: &[u8]) {
    let _ = parse_reply_header(data);
    if let Ok(reply) = parse_reply(data) {
        let _ = end_code_text(&reply);
        let n = reply.data.len();
        let _ = parse_words(reply.data, n / 2);
        let _ = parse_bits(reply.data, n.saturating_mul(2));
        let _ = parse_bits(reply.data, n.saturating_mul(2).saturating_sub(1));
        let _ = parse_cpu_model(reply.data);
        let _ = parse_error_info(reply.data);
    }
    // The data parsers on raw bytes, with counts taken from the input itself.
    if let Some((&k, rest)) = data.split_first() {
        let count = usize::from(k) * 8;
        let _ = parse_words(rest, count);
        let _ = parse_bits(rest, count);
        let _ = parse_bits(rest, usize::MAX);
        let _ = parse_words(rest, usize::MAX);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn request_matches_the_hand_built_3e_frame() {
        // Same bytes as peers/scripts/mc_raw3e.py builds for "read D500, 2 words".
        let body = [device_descriptor(500, 0xA8).as_slice(), &2u16.to_le_bytes()].concat();
        let f = encode_request(FrameKind::E3, 0, &Route::default(), 0x0010, CMD_BATCH_READ, SUB_WORD, &body);
        assert_eq!(f, [0x50, 0, 0, 0xFF, 0xFF, 0x03, 0, 0x0C, 0, 0x10, 0, 0x01, 0x04, 0, 0, 0xF4, 0x01, 0, 0xA8, 2, 0]);
        let f4 = encode_request(FrameKind::E4, 0x1234, &Route::default(), 0x0010, CMD_BATCH_READ, SUB_WORD, &body);
        assert_eq!(&f4[..6], &[0x54, 0, 0x34, 0x12, 0, 0]);
        assert_eq!(&f4[6..], &f[2..]);
    }

    #[test]
    fn parses_replies_and_error_information() {
        let ok = [0xD0, 0, 0, 0xFF, 0xFF, 0x03, 0, 0x06, 0, 0, 0, 0x34, 0x12, 0xEF, 0xBE];
        let r = parse_reply(&ok).unwrap();
        assert_eq!((r.header.frame, r.end_code), (FrameKind::E3, 0));
        assert_eq!(parse_words(r.data, 2).unwrap(), [0x1234, 0xBEEF]);
        let err = encode_reply(
            FrameKind::E4,
            7,
            &Route::default(),
            0xC056,
            &[0, 0xFF, 0xFF, 0x03, 0, 0x01, 0x04, 0x00, 0x00],
        );
        let r = parse_reply(&err).unwrap();
        assert_eq!((r.header.frame, r.header.serial, r.end_code), (FrameKind::E4, 7, 0xC056));
        let info = r.error_info().unwrap();
        assert_eq!((info.command, info.subcommand, info.route.module_io), (0x0401, 0, 0x03FF));
        let t = end_code_text(&r);
        assert!(t.contains("0xC056") && t.contains("out of range") && t.contains("0401/0000"), "{t}");
        // A simulator's error reply without error information.
        let bare = encode_reply(FrameKind::E3, 0, &Route::default(), 0xC05C, &[]);
        assert_eq!(parse_reply(&bare).unwrap().error_info(), None);
    }

    #[test]
    fn malformed_replies_name_the_field() {
        let e = parse_reply(&[0x50, 0]).unwrap_err();
        assert!(e.reason.contains("subheader"), "{e}");
        let e = parse_reply(&[0xD0, 0, 0, 0xFF, 0xFF, 0x03, 0, 0x06, 0, 0, 0]).unwrap_err();
        assert!(e.reason.contains("truncated"), "{e}");
        let e = parse_reply(&[0xD0, 0, 0, 0xFF, 0xFF, 0x03, 0, 0x01, 0, 0]).unwrap_err();
        assert!(e.reason.contains("below 2"), "{e}");
        let e = parse_reply(&[0xD4, 0, 1, 0, 1, 0]).unwrap_err();
        assert!(e.reason.contains("4E fixed field"), "{e}");
        let e = parse_bits(&[0x12], 2).unwrap_err();
        assert!(e.reason.contains("point 1 is 0x2"), "{e}");
        assert!(parse_words(&[1, 2, 3], 2).is_err());
        assert!(parse_words(&[], usize::MAX).is_err());
        assert!(parse_cpu_model(&[0x41; 17]).is_err());
    }

    #[test]
    fn bits_are_high_nibble_first() {
        assert_eq!(pack_bits(&[true, false, true]), [0x10, 0x10]);
        assert_eq!(parse_bits(&[0x10, 0x10], 3).unwrap(), [true, false, true]);
        assert_eq!(parse_bits(&[0x01], 2).unwrap(), [false, true]);
    }

    #[test]
    fn cpu_model_trims_padding() {
        let mut d = b"Q03UDVCPU       ".to_vec();
        d.extend_from_slice(&0x0366u16.to_le_bytes());
        assert_eq!(parse_cpu_model(&d).unwrap(), CpuModel { name: "Q03UDVCPU".into(), code: 0x0366 });
    }

    #[test]
    fn end_codes_have_meanings() {
        assert!(describe_end_code(0xC059).contains("command"));
        assert!(describe_end_code(0xC052).contains("points"));
        assert!(describe_end_code(0x4031).contains("CPU"));
        assert!(end_code_is_address_error(0xC056));
        assert!(!end_code_is_address_error(0xC059));
    }

    proptest! {
        #[test]
        fn reply_round_trips(e4 in any::<bool>(), serial in any::<u16>(), net in any::<u8>(), pc in any::<u8>(),
                             io in any::<u16>(), st in any::<u8>(), end in any::<u16>(),
                             data in proptest::collection::vec(any::<u8>(), 0..2000)) {
            let frame = if e4 { FrameKind::E4 } else { FrameKind::E3 };
            let route = Route { network: net, pc, module_io: io, module_station: st };
            let bytes = encode_reply(frame, serial, &route, end, &data);
            let r = parse_reply(&bytes).unwrap();
            prop_assert_eq!(r.header.frame, frame);
            prop_assert_eq!(r.header.serial, if e4 { serial } else { 0 });
            prop_assert_eq!(r.header.route, route);
            prop_assert_eq!(r.end_code, end);
            prop_assert_eq!(r.data, data.as_slice());
            // Any cut is an error, never a panic.
            let cut = bytes.len() / 2;
            prop_assert!(parse_reply(&bytes[..cut]).is_err());
        }

        #[test]
        fn words_and_bits_round_trip(words in proptest::collection::vec(any::<u16>(), 0..960),
                                     bits in proptest::collection::vec(any::<bool>(), 0..3584)) {
            prop_assert_eq!(parse_words(&pack_words(&words), words.len()).unwrap(), words);
            prop_assert_eq!(parse_bits(&pack_bits(&bits), bits.len()).unwrap(), bits);
        }

        #[test]
        fn error_info_round_trips(net in any::<u8>(), pc in any::<u8>(), io in any::<u16>(), st in any::<u8>(),
                                  cmd in any::<u16>(), sub in any::<u16>()) {
            let route = Route { network: net, pc, module_io: io, module_station: st };
            let mut info = Vec::new();
            push_route(&mut info, &route);
            info.extend_from_slice(&cmd.to_le_bytes());
            info.extend_from_slice(&sub.to_le_bytes());
            prop_assert_eq!(parse_error_info(&info).unwrap(), ErrorInfo { route, command: cmd, subcommand: sub });
        }

        #[test]
        fn parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            fuzz_reply(&bytes);
        }
    }
}
