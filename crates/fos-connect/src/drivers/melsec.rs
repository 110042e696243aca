//! Mitsubishi MELSEC MC protocol (SLMP) client: binary 3E and 4E frames over TCP, written here
//! on tokio (no MC crate).
//!
//! # What of the protocol is implemented
//!
//! References: *MELSEC Communication Protocol Reference Manual* (SH-080008, QnA-compatible 3E/4E
//! frames) and the *SLMP Reference Manual* (SH-080956), which describe the same binary frames.
//!
//! - **Frames** ("Message formats", 3E and 4E, binary code): request subheader `50 00` (3E) or
//!   `54 00` + serial number + `00 00` (4E); network number, PC number, request destination
//!   module I/O number (`03FF`, little-endian) and station number (`00`); request data length
//!   and CPU monitoring timer (250 ms units), command and subcommand, all little-endian. Replies
//!   start `D0 00` / `D4 00` (4E echoes the serial number, which is checked), then the end code;
//!   a non-zero end code is followed by the error information (route, command, subcommand),
//!   which some devices and simulators omit. ASCII code frames are not implemented.
//! - **Commands**: 0401 batch read (subcommand 0000 word units, 0001 bit units: two points per
//!   byte, high nibble first), 1401 batch write (same subcommands), 0403 random read in word and
//!   double-word units (subcommand 0000), 0101 read CPU model name (the connect check, and
//!   [`MelsecDriver`]'s `browse`). Device descriptors use the Q/L format: a 3-byte device number
//!   and a 1-byte device code (iQ-R's 4-byte/2-byte format, subcommands 0002/0003, is not
//!   implemented; iQ-R CPUs accept the Q/L format for the Q-compatible devices).
//! - **Limits** per request: 960 words (0401/1401 word units), 3584 points (0401 bit units),
//!   192 word + double-word points (0403). The `plan` submodule documents how reads are grouped
//!   into requests and split at these limits.
//! - **End codes** ("Error codes"): any non-zero end code makes the samples of that request bad
//!   (`bad_address` for device/address errors such as C056, `bad_device` otherwise), with the
//!   code, its meaning and the error information in the sample's detail; a refused write is
//!   [`ConnectError::Refused`] with the same text. When a request that combines several
//!   addresses is refused for an address-type reason (C051–C054, C056, C05A–C05C, C060, 4030,
//!   4031, or C059 for a random read), the plan falls back to one request per address, so one
//!   bad address does not take its neighbours down.
//!
//! # URL
//!
//! `melsec://host:port?frame=3e|4e&network=0&station=255&timer=8` (also `mc://`, `slmp://`):
//! `frame` 3E (default) or 4E, `network` the network number (default 0), `station` the PC number
//! (default 255 = 0xFF, the CPU the Ethernet port belongs to), `timer` the CPU monitoring timer in
//! 250 ms units (default 8 = 2 s, below the default 3 s request timeout so the PLC gives up first and says so; 0 waits forever). The port has no default in the protocol (it
//! is set in the PLC's Ethernet parameters); FOS uses 5007 when none is given.
//!
//! # Addresses
//!
//! See [`parse_address`]: `D100` (i16), `D100:f32` (2 words, low word first),
//! `D100:i32|u32|f64|i64|u64|i16|u16`, `D100.3` (bit 3 of D100, read only), `M0`, `X1F`, ...
//! X, Y, B, W, SB, SW, DX and DY are numbered in hexadecimal.

mod address;
mod codec;
mod plan;

use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub use address::{device_by_code, parse_address, Access, Address, Device, DeviceKind, DEVICES, MAX_DEVICE_NUMBER};
pub use codec::{
    describe_end_code, device_descriptor, encode_reply, encode_request, end_code_is_address_error, end_code_text,
    fuzz_reply, pack_bits, pack_words, parse_bits, parse_cpu_model, parse_error_info, parse_reply, parse_reply_header,
    parse_words, CpuModel, ErrorInfo, FrameKind, Reply, ReplyHeader, Route, CMD_BATCH_READ, CMD_BATCH_WRITE,
    CMD_RANDOM_READ, CMD_READ_CPU_MODEL, MAX_BATCH_BITS, MAX_BATCH_WORDS, MAX_RANDOM_POINTS, MAX_REPLY_DATA, SUB_BIT,
    SUB_WORD,
};

use self::plan::{Expect, Extract, Plan};
use crate::driver::{timed, BrowseEntry, ConnectOptions, Driver, Pacer, PlanId};
use crate::error::{ConnectError, FrameError};
use crate::sample::{Quality, Sample};
use crate::url::{DeviceUrl, Protocol};
use crate::value::{decode_words, encode_words, DataType, Value, WordOrder};

/// Name of the protocol in frame errors.
const PROTOCOL: &str = "MELSEC MC";

/// MELSEC MC protocol driver (see the module documentation).
#[derive(Debug)]
pub struct MelsecDriver {
    link: Link,
    plans: Vec<Plan>,
    cpu: Option<CpuModel>,
}

/// The transport and the per-connection request state.
#[derive(Debug)]
struct Link {
    endpoint: String,
    socket_addr: String,
    frame: FrameKind,
    route: Route,
    timer: u16,
    timeout: Duration,
    pacer: Pacer,
    stream: Option<TcpStream>,
    serial: u16,
}

/// A reply that arrived intact: its end code, and its data (or error text).
#[derive(Debug)]
struct Answer {
    end_code: u16,
    data: Vec<u8>,
    /// `end code 0x.... (meaning); error information ...` when the end code is not 0.
    error: String,
}

/// Reply data decoded according to the request's [`Expect`].
#[derive(Debug)]
enum Data {
    Words(Vec<u16>),
    Bits(Vec<bool>),
}

impl MelsecDriver {
    pub(crate) fn new(url: &DeviceUrl, options: &ConnectOptions) -> Result<Self, ConnectError> {
        url.check_params(&["frame", "network", "station", "timer"])?;
        let bad = |reason: String| ConnectError::Url { url: url.raw.clone(), reason };
        if !url.path.is_empty() {
            return Err(bad(format!("melsec URLs have no path (got /{})", url.path)));
        }
        let frame = match url.params.get("frame").map(|f| f.to_ascii_lowercase()).as_deref() {
            None | Some("3e") => FrameKind::E3,
            Some("4e") => FrameKind::E4,
            Some(other) => return Err(bad(format!("parameter frame={other:?}: expected 3e or 4e"))),
        };
        let route =
            Route { network: url.param("network", 0u8)?, pc: url.param("station", 0xFFu8)?, ..Route::default() };
        let timer = url.param("timer", 8u16)?;
        Ok(MelsecDriver {
            link: Link {
                endpoint: url.endpoint(),
                socket_addr: url.socket_addr(),
                frame,
                route,
                timer,
                timeout: options.timeout,
                pacer: Pacer::new(options.min_request_gap),
                stream: None,
                serial: 0,
            },
            plans: Vec::new(),
            cpu: None,
        })
    }

    /// The CPU model read by the last successful connect (None when the device did not say).
    pub fn cpu_model(&self) -> Option<&CpuModel> {
        self.cpu.as_ref()
    }
}

impl Link {
    fn frame_error(&self, source: FrameError) -> ConnectError {
        ConnectError::Frame { endpoint: self.endpoint.clone(), protocol: PROTOCOL, source }
    }

    fn io_error(&self, source: std::io::Error) -> ConnectError {
        let source = if source.kind() == std::io::ErrorKind::UnexpectedEof {
            std::io::Error::new(source.kind(), "the device closed the connection")
        } else {
            source
        };
        ConnectError::Io { endpoint: self.endpoint.clone(), source }
    }

    /// Send one request and wait for its reply, paced and within the timeout.
    async fn exchange(&mut self, command: u16, subcommand: u16, body: &[u8]) -> Result<Answer, ConnectError> {
        self.pacer.wait().await;
        let endpoint = self.endpoint.clone();
        let timeout = self.timeout;
        timed(&endpoint, timeout, self.exchange_now(command, subcommand, body)).await
    }

    async fn exchange_now(&mut self, command: u16, subcommand: u16, body: &[u8]) -> Result<Answer, ConnectError> {
        self.serial = self.serial.wrapping_add(1);
        let request = encode_request(self.frame, self.serial, &self.route, self.timer, command, subcommand, body);
        let Some(stream) = self.stream.as_mut() else {
            return Err(ConnectError::NotConnected { endpoint: self.endpoint.clone() });
        };
        let header_len = self.frame.reply_header_len();
        let mut buf = vec![0u8; header_len];
        let io = async {
            stream.write_all(&request).await?;
            stream.read_exact(&mut buf).await.map(|_| ())
        };
        io.await.map_err(|e| self.io_error(e))?;
        let header = parse_reply_header(&buf).map_err(|e| self.frame_error(e))?;
        if header.frame != self.frame {
            return Err(self.frame_error(FrameError::new(
                0,
                format!("sent a {} request, got a {} reply", self.frame.name(), header.frame.name()),
            )));
        }
        if header.frame == FrameKind::E4 && header.serial != self.serial {
            return Err(self.frame_error(FrameError::new(
                2,
                format!(
                    "4E serial number {} does not match the request's {} (a stale reply)",
                    header.serial, self.serial
                ),
            )));
        }
        buf.resize(header_len + usize::from(header.data_length), 0);
        let Some(stream) = self.stream.as_mut() else {
            return Err(ConnectError::NotConnected { endpoint: self.endpoint.clone() });
        };
        let read = stream.read_exact(buf.get_mut(header_len..).unwrap_or_default()).await;
        read.map_err(|e| self.io_error(e))?;
        let reply = parse_reply(&buf).map_err(|e| self.frame_error(e))?;
        let error = if reply.end_code == 0 { String::new() } else { end_code_text(&reply) };
        Ok(Answer { end_code: reply.end_code, data: reply.data.to_vec(), error })
    }
}

/// Whether a refused combined request should be retried one address at a time.
fn split_worthy(end_code: u16, command: u16) -> bool {
    end_code_is_address_error(end_code)
        || matches!(end_code, 0xC051..=0xC054)
        || (end_code == 0xC059 && command == CMD_RANDOM_READ)
}

fn decode(expect: Expect, data: &[u8]) -> Result<Data, FrameError> {
    Ok(match expect {
        Expect::Words(n) => Data::Words(parse_words(data, n)?),
        Expect::Bits(n) => Data::Bits(parse_bits(data, n)?),
    })
}

/// The sample of one address from its request's decoded reply.
fn sample_of(address: &str, a: &Address, x: Extract, data: &Data, time: SystemTime) -> Sample {
    let ty = a.dtype();
    let value = match (x, data) {
        (Extract::Words { offset, count }, Data::Words(w)) => match w.get(offset..offset + count) {
            Some(words) => decode_words(words, ty, WordOrder::Low).map_err(|e| format!("cannot decode {ty}: {e}")),
            None => Err(format!("words {offset}..{} missing from the reply", offset + count)),
        },
        (Extract::WordBit { offset, bit }, Data::Words(w)) => match w.get(offset) {
            Some(word) => Ok(Value::Bool(word >> bit & 1 == 1)),
            None => Err(format!("word {offset} missing from the reply")),
        },
        (Extract::Bit { offset }, Data::Bits(b)) => match b.get(offset) {
            Some(&v) => Ok(Value::Bool(v)),
            None => Err(format!("point {offset} missing from the reply")),
        },
        _ => Err("reply units do not match the request".to_string()),
    };
    match value {
        Ok(v) => Sample::good(address, v, ty, time),
        Err(e) => Sample::bad(address, ty, Quality::BadProtocol, e),
    }
}

#[async_trait]
impl Driver for MelsecDriver {
    async fn connect(&mut self) -> Result<(), ConnectError> {
        self.link.stream = None;
        let endpoint = self.link.endpoint.clone();
        let stream = TcpStream::connect(&self.link.socket_addr)
            .await
            .map_err(|source| ConnectError::Connect { endpoint: endpoint.clone(), source })?;
        let _ = stream.set_nodelay(true);
        self.link.stream = Some(stream);
        // Connect check: any well-formed MC reply proves the peer speaks the protocol; a device
        // that does not support 0101 answers with an end code and is still usable.
        match self.link.exchange(CMD_READ_CPU_MODEL, 0, &[]).await {
            Ok(a) if a.end_code == 0 => {
                self.cpu = parse_cpu_model(&a.data).ok();
                tracing::debug!(device = %endpoint, cpu = ?self.cpu, "connected");
                Ok(())
            }
            Ok(a) => {
                self.cpu = None;
                tracing::debug!(device = %endpoint, error = %a.error, "connected; CPU model not available");
                Ok(())
            }
            Err(e) => {
                self.link.stream = None;
                Err(e)
            }
        }
    }

    async fn disconnect(&mut self) {
        if let Some(mut s) = self.link.stream.take() {
            let _ = s.shutdown().await;
        }
    }

    fn is_connected(&self) -> bool {
        self.link.stream.is_some()
    }

    fn prepare(&mut self, addresses: &[String]) -> Result<PlanId, ConnectError> {
        let parsed =
            addresses.iter().map(|s| parse_address(s).map(|a| (s.clone(), a))).collect::<Result<Vec<_>, _>>()?;
        self.plans.push(plan::plan(parsed));
        Ok(PlanId(self.plans.len() - 1))
    }

    fn plan_requests(&self, plan: PlanId) -> usize {
        self.plans.get(plan.0).map_or(0, |p| p.requests.len())
    }

    async fn read(&mut self, plan: PlanId) -> Result<Vec<Sample>, ConnectError> {
        let MelsecDriver { link, plans, .. } = self;
        let plan = plans.get_mut(plan.0).ok_or_else(|| ConnectError::Other(format!("unknown read plan {plan:?}")))?;
        let mut out: Vec<Option<Sample>> = vec![None; plan.addresses.len()];
        let mut i = 0;
        while let Some(req) = plan.requests.get(i) {
            let answer = link.exchange(req.command, req.subcommand, &req.body).await?;
            let time = SystemTime::now();
            if answer.end_code != 0 {
                if req.items.len() > 1 && split_worthy(answer.end_code, req.command) {
                    tracing::warn!(device = %link.endpoint, request = %req.what, error = %answer.error,
                        "request refused; reading its addresses one by one from now on");
                    let singles: Vec<_> =
                        req.items.iter().filter_map(|&(idx, _)| plan::single(&plan.addresses, idx)).collect();
                    plan.requests.splice(i..=i, singles);
                    continue;
                }
                let quality =
                    if end_code_is_address_error(answer.end_code) { Quality::BadAddress } else { Quality::BadDevice };
                for &(idx, _) in &req.items {
                    if let (Some(slot), Some((address, a))) = (out.get_mut(idx), plan.addresses.get(idx)) {
                        let detail = format!("{}: {} refused: {}", link.endpoint, req.what, answer.error);
                        *slot = Some(Sample::bad(address.clone(), a.dtype(), quality, detail));
                    }
                }
            } else {
                let data = decode(req.expect, &answer.data).map_err(|e| link.frame_error(e))?;
                for &(idx, x) in &req.items {
                    if let (Some(slot), Some((address, a))) = (out.get_mut(idx), plan.addresses.get(idx)) {
                        *slot = Some(sample_of(address, a, x, &data, time));
                    }
                }
            }
            i += 1;
        }
        Ok(out
            .into_iter()
            .zip(&plan.addresses)
            .map(|(s, (address, a))| {
                s.unwrap_or_else(|| {
                    Sample::bad(address.clone(), a.dtype(), Quality::BadProtocol, "not read (plan error)")
                })
            })
            .collect())
    }

    async fn browse(&mut self) -> Result<Vec<BrowseEntry>, ConnectError> {
        let a = self.link.exchange(CMD_READ_CPU_MODEL, 0, &[]).await?;
        if a.end_code != 0 {
            return Err(ConnectError::Refused {
                endpoint: self.link.endpoint.clone(),
                what: "0101 read CPU model".into(),
                reason: a.error,
            });
        }
        let cpu = parse_cpu_model(&a.data).map_err(|e| self.link.frame_error(e))?;
        let mut entries = vec![BrowseEntry {
            address: String::new(),
            name: cpu.name.clone(),
            dtype: None,
            kind: "cpu".into(),
            detail: Some(format!(
                "CPU model code 0x{:04X}; the MC protocol has no tag list: read devices by address, e.g. D100, M0, X1F",
                cpu.code
            )),
        }];
        self.cpu = Some(cpu);
        entries.extend(DEVICES.iter().map(|d| BrowseEntry {
            address: format!("{}0", d.name),
            name: format!("{} ({})", d.name, d.description),
            dtype: Some(match d.kind {
                DeviceKind::Bit => DataType::Bool,
                DeviceKind::Word => DataType::I16,
            }),
            kind: "device".into(),
            detail: Some(format!(
                "{} device, code 0x{:02X}, {} numbers",
                match d.kind {
                    DeviceKind::Bit => "bit",
                    DeviceKind::Word => "word",
                },
                d.code,
                if d.hex { "hexadecimal" } else { "decimal" }
            )),
        }));
        Ok(entries)
    }

    async fn write(&mut self, address: &str, value: &Value) -> Result<(), ConnectError> {
        let a = parse_address(address)?;
        let invalid =
            |e: String| ConnectError::Other(format!("cannot write {value} to {address} ({}): {e}", a.dtype()));
        let mut body = device_descriptor(a.number, a.device.code).to_vec();
        let subcommand = match a.access {
            Access::Word(ty) => {
                let words = encode_words(value, ty, WordOrder::Low).map_err(invalid)?;
                body.extend_from_slice(&(words.len() as u16).to_le_bytes());
                body.extend_from_slice(&pack_words(&words));
                SUB_WORD
            }
            Access::Bit => {
                let b = value.to_be_bytes(DataType::Bool).map_err(invalid)?;
                body.extend_from_slice(&1u16.to_le_bytes());
                body.extend_from_slice(&pack_bits(&[b.first().is_some_and(|&x| x != 0)]));
                SUB_BIT
            }
            Access::WordBit(_) => {
                return Err(ConnectError::Unsupported {
                    protocol: "melsec",
                    what: format!(
                        "writing {address} (one bit of a word register: the MC protocol has no atomic bit write into \
                         a word device, and a read-modify-write could overwrite the PLC's own changes; write the \
                         whole word instead)"
                    ),
                })
            }
        };
        let answer = self.link.exchange(CMD_BATCH_WRITE, subcommand, &body).await?;
        if answer.end_code != 0 {
            return Err(ConnectError::Refused {
                endpoint: self.link.endpoint.clone(),
                what: format!("the write of {value} to {address}"),
                reason: answer.error,
            });
        }
        Ok(())
    }

    fn protocol(&self) -> Protocol {
        Protocol::Melsec
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn driver(url: &str) -> Result<MelsecDriver, ConnectError> {
        MelsecDriver::new(&DeviceUrl::parse(url)?, &ConnectOptions::default())
    }

    #[test]
    fn url_parameters_are_checked() {
        let d = driver("melsec://127.0.0.1:5000?frame=4E&network=1&station=3&timer=8").unwrap();
        assert_eq!(d.link.frame, FrameKind::E4);
        assert_eq!((d.link.route.network, d.link.route.pc, d.link.route.module_io, d.link.timer), (1, 3, 0x03FF, 8));
        let d = driver("melsec://h").unwrap();
        assert_eq!((d.link.frame, d.link.route.pc, d.link.timer), (FrameKind::E3, 0xFF, 8));
        for (url, want) in [
            ("melsec://h?frame=1e", "expected 3e or 4e"),
            ("melsec://h?station=256", "station"),
            ("melsec://h?tmer=1", "unknown parameter"),
            ("melsec://h/x", "no path"),
        ] {
            let e = driver(url).unwrap_err().to_string();
            assert!(e.contains(want), "{url}: {e}");
        }
    }

    #[test]
    fn prepare_refuses_bad_addresses_by_name() {
        let mut d = driver("melsec://h").unwrap();
        let e = d.prepare(&["D0".into(), "Q7".into()]).unwrap_err().to_string();
        assert!(e.contains("\"Q7\"") && e.contains("unknown device"), "{e}");
        let p = d.prepare(&["D0".into(), "D1:f32".into()]).unwrap();
        assert_eq!(d.plan_requests(p), 1);
    }

    #[test]
    fn samples_decode_low_word_first() {
        let a = parse_address("D0:f32").unwrap();
        // 3.5f32 = 0x40600000: low word 0x0000 first, then 0x4060.
        let s = sample_of(
            "D0:f32",
            &a,
            Extract::Words { offset: 1, count: 2 },
            &Data::Words(vec![9, 0, 0x4060]),
            SystemTime::now(),
        );
        assert_eq!(s.value, Some(Value::Float(3.5)));
        let s = sample_of(
            "D0:f32",
            &a,
            Extract::Words { offset: 2, count: 2 },
            &Data::Words(vec![0; 3]),
            SystemTime::now(),
        );
        assert_eq!(s.quality, Quality::BadProtocol);
        let b = parse_address("D0.1").unwrap();
        let s = sample_of("D0.1", &b, Extract::WordBit { offset: 0, bit: 1 }, &Data::Words(vec![2]), SystemTime::now());
        assert_eq!(s.value, Some(Value::Bool(true)));
    }

    /// A one-shot fake device: answers each request with `reply(request)`.
    async fn fake_device(reply: fn(&[u8]) -> Vec<u8>) -> u16 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 4096];
            while let Ok(n) = s.read(&mut buf).await {
                if n == 0 || s.write_all(&reply(&buf[..n])).await.is_err() {
                    break;
                }
            }
        });
        port
    }

    #[tokio::test]
    async fn a_4e_reply_with_another_serial_number_is_a_frame_error() {
        // Echo the serial number plus one: a reply to some other request.
        let port = fake_device(|req| {
            let serial = u16::from_le_bytes([req[2], req[3]]).wrapping_add(1);
            encode_reply(FrameKind::E4, serial, &Route::default(), 0, &[0; 18])
        })
        .await;
        let mut d = driver(&format!("melsec://127.0.0.1:{port}?frame=4e")).unwrap();
        let e = d.connect().await.unwrap_err();
        assert!(matches!(e, ConnectError::Frame { .. }) && e.to_string().contains("stale reply"), "{e}");
        assert!(!d.is_connected());
    }

    #[tokio::test]
    async fn a_device_without_0101_still_connects_and_error_information_reaches_the_sample() {
        let port = fake_device(|req| {
            let command = u16::from_le_bytes([req[11], req[12]]);
            let info = [0, 0xFF, 0xFF, 0x03, 0, req[11], req[12], req[13], req[14]];
            let end = if command == CMD_READ_CPU_MODEL { 0xC059 } else { 0xC05B };
            encode_reply(FrameKind::E3, 0, &Route::default(), end, &info)
        })
        .await;
        let mut d = driver(&format!("melsec://127.0.0.1:{port}")).unwrap();
        d.connect().await.unwrap();
        assert!(d.cpu_model().is_none());
        let plan = d.prepare(&["SD100".into()]).unwrap();
        let s = d.read(plan).await.unwrap();
        assert_eq!(s[0].quality, Quality::BadAddress);
        let detail = s[0].detail.clone().unwrap_or_default();
        assert!(detail.contains("SD100") && detail.contains("0xC05B") && detail.contains("0401/0000"), "{detail}");
        let e = d.write("M3", &Value::Bool(true)).await.unwrap_err();
        assert!(matches!(e, ConnectError::Refused { .. }) && e.to_string().contains("M3"), "{e}");
    }

    #[test]
    fn only_address_errors_split_a_request() {
        assert!(split_worthy(0xC056, CMD_BATCH_READ));
        assert!(split_worthy(0xC059, CMD_RANDOM_READ));
        assert!(!split_worthy(0xC059, CMD_BATCH_READ));
        assert!(!split_worthy(0xC05E, CMD_BATCH_READ));
    }
}
