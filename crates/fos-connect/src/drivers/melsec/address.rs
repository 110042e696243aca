//! MELSEC device addresses: `D100`, `D100:f32`, `D100.3`, `M0`, `X1F`, ...
//!
//! Device names and codes are those of the MC protocol's QnA-compatible (Q/L) binary device
//! table (MC protocol reference, "Devices" table of the 3E/4E batch read and write commands):
//! one byte of device code and a three-byte device number. X, Y, B, W, SB, SW, DX and DY are
//! numbered in **hexadecimal** (as GX Works shows them: `X1F` is input 31); every other device is
//! decimal, including ZR (some client libraries parse `ZR` as hexadecimal; FOS follows the
//! engineering tool's decimal numbering).

use std::fmt;

use crate::error::ConnectError;
use crate::value::DataType;

/// Whether a device holds single bits or 16-bit words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeviceKind {
    Bit,
    Word,
}

/// One MELSEC device family (D, M, X, ...).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Device {
    /// Name as written in addresses (upper case).
    pub name: &'static str,
    /// Binary device code of the 3E/4E (Q/L) frame.
    pub code: u8,
    pub kind: DeviceKind,
    /// True when device numbers are written in hexadecimal (X, Y, B, W, SB, SW, DX, DY).
    pub hex: bool,
    /// Human-readable description, for `browse` and messages.
    pub description: &'static str,
    /// Bit devices that may also be read as 16-point words (batch read in word units).
    /// Timer/counter contacts and coils are read in bit units only.
    pub word_view: bool,
}

const fn bit(name: &'static str, code: u8, hex: bool, description: &'static str, word_view: bool) -> Device {
    Device { name, code, kind: DeviceKind::Bit, hex, description, word_view }
}

const fn word(name: &'static str, code: u8, hex: bool, description: &'static str) -> Device {
    Device { name, code, kind: DeviceKind::Word, hex, description, word_view: false }
}

/// The devices FOS knows, two-letter names first (so `ZR0` is not read as `Z` + `R0`).
pub static DEVICES: &[Device] = &[
    bit("SM", 0x91, false, "special relay", true),
    bit("SB", 0xA1, true, "link special relay", true),
    bit("DX", 0xA2, true, "direct input", true),
    bit("DY", 0xA3, true, "direct output", true),
    bit("TS", 0xC1, false, "timer contact", false),
    bit("TC", 0xC0, false, "timer coil", false),
    bit("SS", 0xC7, false, "retentive timer contact", false),
    bit("SC", 0xC6, false, "retentive timer coil", false),
    bit("CS", 0xC4, false, "counter contact", false),
    bit("CC", 0xC3, false, "counter coil", false),
    word("SD", 0xA9, false, "special register"),
    word("SW", 0xB5, true, "link special register"),
    word("TN", 0xC2, false, "timer current value"),
    word("SN", 0xC8, false, "retentive timer current value"),
    word("CN", 0xC5, false, "counter current value"),
    word("ZR", 0xB0, false, "file register (serial numbers)"),
    bit("X", 0x9C, true, "input", true),
    bit("Y", 0x9D, true, "output", true),
    bit("M", 0x90, false, "internal relay", true),
    bit("L", 0x92, false, "latch relay", true),
    bit("F", 0x93, false, "annunciator", true),
    bit("V", 0x94, false, "edge relay", true),
    bit("B", 0xA0, true, "link relay", true),
    bit("S", 0x98, false, "step relay", true),
    word("D", 0xA8, false, "data register"),
    word("W", 0xB4, true, "link register"),
    word("R", 0xAF, false, "file register (block switching)"),
    word("Z", 0xCC, false, "index register"),
];

/// Highest device number a three-byte (Q/L binary) device number field can carry.
pub const MAX_DEVICE_NUMBER: u32 = 0x00FF_FFFF;

/// How an address reads its device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Access {
    /// One point of a bit device, as bool.
    Bit,
    /// One or more words of a word device, decoded as this type (low word first).
    Word(DataType),
    /// One bit (0..=15) of a word device's word, as bool (`D100.3`).
    WordBit(u8),
}

/// A parsed MELSEC address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Address {
    pub device: &'static Device,
    /// Device number (already converted from hexadecimal for X, Y, B, W, ...).
    pub number: u32,
    pub access: Access,
}

impl Address {
    /// The type samples of this address carry.
    pub fn dtype(&self) -> DataType {
        match self.access {
            Access::Bit | Access::WordBit(_) => DataType::Bool,
            Access::Word(ty) => ty,
        }
    }

    /// Number of device points the address spans: words for word devices, bits for bit devices.
    pub fn points(&self) -> u32 {
        match self.access {
            Access::Bit | Access::WordBit(_) => 1,
            Access::Word(ty) => ty.words() as u32,
        }
    }
}

impl fmt::Display for Address {
    /// The canonical form (upper case, no default suffix): parses back to the same address.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.device.name)?;
        if self.device.hex {
            write!(f, "{:X}", self.number)?;
        } else {
            write!(f, "{}", self.number)?;
        }
        match self.access {
            Access::Bit | Access::Word(DataType::I16) => Ok(()),
            Access::Word(ty) => write!(f, ":{ty}"),
            Access::WordBit(b) => write!(f, ".{b}"),
        }
    }
}

/// Word types an address suffix may ask for.
const WORD_TYPES: [DataType; 8] = [
    DataType::I16,
    DataType::U16,
    DataType::I32,
    DataType::U32,
    DataType::F32,
    DataType::I64,
    DataType::U64,
    DataType::F64,
];

const SYNTAX: &str = "expected DEVICE NUMBER[.BIT][:TYPE], e.g. D100, D100:f32, D100.3, M0, X1F \
    (X Y B W SB SW DX DY are numbered in hexadecimal)";

/// Parse a MELSEC address (case-insensitive). See the module documentation.
pub fn parse_address(text: &str) -> Result<Address, ConnectError> {
    let err = |reason: String| ConnectError::Address { protocol: "melsec", address: text.to_string(), reason };
    let s = text.trim();
    let (body, ty) = match s.split_once(':') {
        Some((b, t)) => (b, Some(t)),
        None => (s, None),
    };
    let (body, bit_no) = match body.split_once('.') {
        Some((b, n)) => (b, Some(n)),
        None => (body, None),
    };
    let upper = body.to_ascii_uppercase();
    let device = DEVICES
        .iter()
        .filter(|d| upper.starts_with(d.name))
        // Prefer the longest name whose remainder is a valid number (`DX10` is DX 0x10, `D10` is D 10).
        .find(|d| number_of(d, &upper[d.name.len()..]).is_some())
        .ok_or_else(|| match DEVICES.iter().find(|d| upper.starts_with(d.name)) {
            Some(d) if upper.len() == d.name.len() => err(format!("no device number after {:?}; {SYNTAX}", d.name)),
            Some(d) => err(format!(
                "{:?} is not a valid {} device number for {} ({}); {SYNTAX}",
                &body[d.name.len()..],
                if d.hex { "hexadecimal" } else { "decimal" },
                d.name,
                d.description
            )),
            None => err(format!(
                "unknown device {:?} (known: {}); {SYNTAX}",
                body.trim_end_matches(|c: char| c.is_ascii_hexdigit()),
                DEVICES.iter().map(|d| d.name).collect::<Vec<_>>().join(" ")
            )),
        })?;
    let number = number_of(device, &upper[device.name.len()..]).unwrap_or_default();
    if number > MAX_DEVICE_NUMBER {
        return Err(err(format!("device number {number} is above the 3-byte limit {MAX_DEVICE_NUMBER}")));
    }
    let ty = match ty {
        None => None,
        Some(t) => Some(t.parse::<DataType>().map_err(|e| err(format!("{e}; {SYNTAX}")))?),
    };
    let name = device.name;
    let access = match (device.kind, bit_no, ty) {
        (DeviceKind::Bit, Some(_), _) => {
            Err(format!("{name} is a bit device: `.BIT` selects a bit of a word device only"))
        }
        (DeviceKind::Bit, None, None | Some(DataType::Bool)) => Ok(Access::Bit),
        (DeviceKind::Bit, None, Some(t)) => {
            Err(format!("{name} is a bit device ({}): it reads as bool, not {t}", device.description))
        }
        (DeviceKind::Word, Some(n), None | Some(DataType::Bool)) => match n.parse::<u8>() {
            Ok(b) if b < 16 => Ok(Access::WordBit(b)),
            _ => Err(format!("bit {n:?} of a word must be 0..15")),
        },
        (DeviceKind::Word, Some(_), Some(t)) => {
            Err(format!("a bit of a word (`.BIT`) is a bool, it cannot also be {t}"))
        }
        (DeviceKind::Word, None, None) => Ok(Access::Word(DataType::I16)),
        (DeviceKind::Word, None, Some(t)) if WORD_TYPES.contains(&t) => Ok(Access::Word(t)),
        (DeviceKind::Word, None, Some(t)) => Err(format!(
            "type {t} is not available on word device {name} (use {}, or .BIT for one bit)",
            WORD_TYPES.map(|t| t.name()).join(" ")
        )),
    }
    .map_err(err)?;
    let addr = Address { device, number, access };
    if number + addr.points() - 1 > MAX_DEVICE_NUMBER {
        return Err(err(format!("{} words from {number} run past the 3-byte device number limit", addr.points())));
    }
    Ok(addr)
}

/// The device number in `digits` for `device` (hex or decimal), or None when not a number.
fn number_of(device: &Device, digits: &str) -> Option<u32> {
    if digits.is_empty() || digits.len() > 8 || !digits.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(digits, if device.hex { 16 } else { 10 }).ok()
}

/// The device with this code, if FOS knows it.
pub fn device_by_code(code: u8) -> Option<&'static Device> {
    DEVICES.iter().find(|d| d.code == code)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Address {
        parse_address(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn word_devices_default_to_i16_and_take_suffixes() {
        let a = p("D100");
        assert_eq!((a.device.name, a.device.code, a.number, a.access), ("D", 0xA8, 100, Access::Word(DataType::I16)));
        assert_eq!(p("d100:F32").access, Access::Word(DataType::F32));
        assert_eq!(p("D100:f64").points(), 4);
        assert_eq!(p("ZR0").device.code, 0xB0);
        assert_eq!(p("ZR10").number, 10, "ZR is decimal");
        assert_eq!(p("SD0").device.code, 0xA9);
        assert_eq!(p("TN0").device.code, 0xC2);
        assert_eq!(p("CN5").device.code, 0xC5);
        assert_eq!(p("R0").device.code, 0xAF);
        assert_eq!(p("D100.3").access, Access::WordBit(3));
        assert_eq!(p("D100.15:bool").dtype(), DataType::Bool);
    }

    #[test]
    fn x_y_b_w_are_hexadecimal() {
        assert_eq!(p("X10").number, 16);
        assert_eq!(p("x1f").number, 31);
        assert_eq!(p("Y10").number, 16);
        assert_eq!(p("B1F").number, 31);
        assert_eq!(p("W1F").number, 31);
        assert_eq!(p("W1F").device.kind, DeviceKind::Word);
        assert_eq!(p("XFFF").number, 0xFFF);
        assert_eq!(p("DX10").device.name, "DX");
        assert_eq!(p("DX10").number, 16);
        assert_eq!(p("M10").number, 10);
        assert_eq!(p("SM0").device.code, 0x91);
        assert_eq!(p("TS0").device.code, 0xC1);
        assert_eq!(p("CS0").device.code, 0xC4);
        for (a, code) in [("L0", 0x92), ("F0", 0x93), ("V0", 0x94), ("M0", 0x90), ("X0", 0x9C), ("Y0", 0x9D)] {
            assert_eq!(p(a).device.code, code, "{a}");
            assert_eq!(p(a).access, Access::Bit);
        }
    }

    #[test]
    fn bad_addresses_name_the_address_and_the_syntax() {
        for (bad, want) in [
            ("Q100", "unknown device"),
            ("D", "no device number"),
            ("D1F", "not a valid decimal device number"),
            ("X1G", "not a valid hexadecimal"),
            ("M5.3", "bit device"),
            ("M5:i16", "reads as bool"),
            ("D100.16", "0..15"),
            ("D100:f16", "unknown type"),
            ("D100:string", "not available"),
            ("D100.2:i32", "cannot also be"),
            ("D16777216", "3-byte limit"),
            ("D16777215:f32", "past the 3-byte"),
            ("", "unknown device"),
        ] {
            let e = parse_address(bad).unwrap_err();
            assert!(matches!(e, ConnectError::Address { .. }), "{bad}: {e}");
            let msg = e.to_string();
            assert!(msg.contains(&format!("{bad:?}")), "{msg}");
            assert!(msg.contains(want), "{bad}: {msg}");
        }
    }

    #[test]
    fn display_is_canonical() {
        for s in ["D100", "D100:f32", "X1F", "D7.3", "ZR12", "W1A:u32", "SM400"] {
            assert_eq!(p(s).to_string(), s);
            assert_eq!(p(&s.to_lowercase()).to_string(), s);
        }
    }

    proptest::proptest! {
        #[test]
        fn display_parses_back(i in 0usize..DEVICES.len(), n in 0u32..=0xFF_FFF0, t in 0usize..WORD_TYPES.len(),
                               b in 0u8..16, k in 0u8..3) {
            let device = &DEVICES[i];
            let access = match (device.kind, k) {
                (DeviceKind::Bit, _) => Access::Bit,
                (DeviceKind::Word, 0) => Access::WordBit(b),
                (DeviceKind::Word, _) => Access::Word(WORD_TYPES[t]),
            };
            let a = Address { device, number: n, access };
            proptest::prop_assert_eq!(parse_address(&a.to_string()).unwrap(), a);
        }
    }
}
