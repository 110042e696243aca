//! S7 absolute addresses (the STEP 7 "absolute operand" syntax, English and German mnemonics).
//!
//! ```text
//! DB<n>.DBX<byte>.<bit>    bool          M<byte>.<bit>   I<byte>.<bit> / E..   Q<byte>.<bit> / A..
//! DB<n>.DBB<byte>          u8  (BYTE)    MB<byte>        IB / EB               QB / AB
//! DB<n>.DBW<byte>          i16 (INT)     MW<byte>        IW / EW               QW / AW
//! DB<n>.DBD<byte>          i32 (DINT)    MD<byte>        ID / ED               QD / AD
//! DB<n>.DBL<byte>          i64 (LINT)    ML<byte>        IL / EL               QL / AL
//! ```
//!
//! An optional `:TYPE` suffix picks another type of the same width, in S7 names (`BOOL BYTE USINT
//! SINT CHAR WORD UINT INT DWORD UDINT DINT REAL LREAL LINT ULINT LWORD`) or FOS names (`u8 i16 f32
//! f64 ...`). Everything is case-insensitive.

use std::fmt;

use crate::error::ConnectError;
use crate::value::DataType;

/// Highest byte offset an S7-ANY pointer can reach: its address is a 24-bit *bit* address.
pub(crate) const MAX_BYTE_OFFSET: u32 = 0x00FF_FFFF / 8;

const SYNTAX: &str = "expected e.g. DB1.DBX4.0, DB1.DBB0, DB1.DBW0, DB1.DBD2:REAL, DB1.DBL0:LREAL, M0.1, MW10, \
                      I0.0/E0.0, IB0, Q0.0/A0.0, QD4, with an optional :TYPE suffix";

/// A memory area of the CPU, as coded in an S7-ANY item (the area byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Area {
    /// Process image of the inputs (I / E), area code 0x81.
    Inputs,
    /// Process image of the outputs (Q / A), area code 0x82.
    Outputs,
    /// Bit memory (M, "merker"), area code 0x83.
    Merkers,
    /// A data block, area code 0x84, with its number.
    Db(u16),
}

impl Area {
    /// The area byte of an S7-ANY address.
    pub fn code(self) -> u8 {
        match self {
            Area::Inputs => 0x81,
            Area::Outputs => 0x82,
            Area::Merkers => 0x83,
            Area::Db(_) => 0x84,
        }
    }

    /// The DB number field of an S7-ANY address (0 outside data blocks).
    pub fn db_number(self) -> u16 {
        match self {
            Area::Db(n) => n,
            _ => 0,
        }
    }
}

impl fmt::Display for Area {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Area::Inputs => f.write_str("I"),
            Area::Outputs => f.write_str("Q"),
            Area::Merkers => f.write_str("M"),
            Area::Db(n) => write!(f, "DB{n}"),
        }
    }
}

/// How much the address spans: one bit, or 1, 2, 4 or 8 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Width {
    Bit(u8),
    Byte,
    Word,
    DWord,
    LWord,
}

impl Width {
    /// Bytes read for this width (a bit is read as its byte).
    pub fn bytes(self) -> u32 {
        match self {
            Width::Bit(_) | Width::Byte => 1,
            Width::Word => 2,
            Width::DWord => 4,
            Width::LWord => 8,
        }
    }

    fn default_type(self) -> DataType {
        match self {
            Width::Bit(_) => DataType::Bool,
            Width::Byte => DataType::U8,
            Width::Word => DataType::I16,
            Width::DWord => DataType::I32,
            Width::LWord => DataType::I64,
        }
    }

    fn letter(self) -> &'static str {
        match self {
            Width::Bit(_) => "X",
            Width::Byte => "B",
            Width::Word => "W",
            Width::DWord => "D",
            Width::LWord => "L",
        }
    }
}

/// A parsed S7 address: area, byte offset, width and the type its bytes are decoded as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct S7Address {
    pub area: Area,
    /// Byte offset in the area.
    pub byte: u32,
    pub width: Width,
    pub dtype: DataType,
}

impl S7Address {
    /// Bytes this address occupies (a bit: its byte).
    pub fn byte_len(&self) -> u32 {
        self.width.bytes()
    }

    /// The 24-bit bit address of an S7-ANY item: byte × 8 + bit.
    pub fn bit_address(&self) -> u32 {
        let bit = match self.width {
            Width::Bit(b) => u32::from(b),
            _ => 0,
        };
        self.byte * 8 + bit
    }
}

impl fmt::Display for S7Address {
    /// The canonical spelling (`DB1.DBW0`, `M0.1`, `QD4:f32`); parses back to the same address.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.area, self.width) {
            (Area::Db(n), Width::Bit(b)) => write!(f, "DB{n}.DBX{}.{b}", self.byte)?,
            (Area::Db(n), w) => write!(f, "DB{n}.DB{}{}", w.letter(), self.byte)?,
            (a, Width::Bit(b)) => write!(f, "{a}{}.{b}", self.byte)?,
            (a, w) => write!(f, "{a}{}{}", w.letter(), self.byte)?,
        }
        if self.dtype != self.width.default_type() {
            write!(f, ":{}", self.dtype)?;
        }
        Ok(())
    }
}

/// Parse an S7 address (see the module documentation for the syntax).
pub fn parse_address(text: &str) -> Result<S7Address, ConnectError> {
    let err = |reason: String| ConnectError::Address { protocol: "s7", address: text.to_string(), reason };
    let upper = text.trim().to_ascii_uppercase();
    let (operand, type_name) = match upper.split_once(':') {
        Some((o, t)) => (o.trim(), Some(t.trim())),
        None => (upper.as_str(), None),
    };
    let (area, width, byte) = parse_operand(operand).map_err(|r| err(format!("{r} ({SYNTAX})")))?;
    let dtype = match type_name {
        None => width.default_type(),
        Some(t) => parse_type(t).map_err(err)?,
    };
    match width {
        Width::Bit(_) if dtype != DataType::Bool => {
            return Err(err(format!("a bit address holds a BOOL, not {dtype} (drop the :TYPE or use a B/W/D/L width)")))
        }
        Width::Bit(_) => {}
        _ if dtype == DataType::Bool => {
            return Err(err("a BOOL needs a bit address such as DB1.DBX0.0 or M0.1".into()))
        }
        _ if dtype.size() as u32 != width.bytes() => {
            return Err(err(format!(
                "type {dtype} is {} byte(s) wide but the address spans {} byte(s) (use {})",
                dtype.size(),
                width.bytes(),
                match dtype.size() {
                    1 => "a byte address: DBB, MB, IB, QB",
                    2 => "a word address: DBW, MW, IW, QW",
                    4 => "a double-word address: DBD, MD, ID, QD",
                    _ => "an 8-byte address: DBL, ML, IL, QL",
                }
            )))
        }
        _ => {}
    }
    if byte.saturating_add(width.bytes() - 1) > MAX_BYTE_OFFSET {
        return Err(err(format!("byte offset {byte} is beyond what S7comm can address ({MAX_BYTE_OFFSET})")));
    }
    Ok(S7Address { area, byte, width, dtype })
}

/// `DB1.DBW0`, `MW0`, `I0.0` (already upper-case, no type suffix) → area, width, byte offset.
fn parse_operand(s: &str) -> Result<(Area, Width, u32), String> {
    if let Some(rest) = s.strip_prefix("DB") {
        let (db, rest) = split_number(rest, "DB number")?;
        let db = u16::try_from(db)
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| format!("DB number {db} is out of range (1..=65535)"))?;
        let rest = rest.strip_prefix('.').ok_or("expected '.' after the DB number")?;
        let rest = rest.strip_prefix("DB").ok_or("expected DBX, DBB, DBW, DBD or DBL after 'DBn.'")?;
        let (width, byte) = parse_width_offset(rest)?;
        return Ok((Area::Db(db), width, byte));
    }
    let mut chars = s.chars();
    let area = match chars.next() {
        Some('I' | 'E') => Area::Inputs,
        Some('Q' | 'A') => Area::Outputs,
        Some('M') => Area::Merkers,
        Some(c) => return Err(format!("unknown area {c:?} (known: DB, M, I/E, Q/A)")),
        None => return Err("empty address".into()),
    };
    let (width, byte) = parse_width_offset(chars.as_str())?;
    Ok((area, width, byte))
}

/// `W0`, `X4.0`, `4.0` (a bare bit address) → width and byte offset.
fn parse_width_offset(s: &str) -> Result<(Width, u32), String> {
    let (letter, rest) = match s.chars().next() {
        Some(c @ ('X' | 'B' | 'W' | 'D' | 'L')) => (Some(c), &s[1..]),
        Some(c) if c.is_ascii_digit() => (None, s),
        Some(c) => return Err(format!("unknown width {c:?} (expected X, B, W, D or L)")),
        None => return Err("missing the byte offset".into()),
    };
    let (byte, rest) = split_number(rest, "byte offset")?;
    let width = match letter {
        None | Some('X') => {
            let bit_text = rest.strip_prefix('.').ok_or("a bit address needs '.bit' (e.g. M0.1, DB1.DBX4.0)")?;
            let (bit, tail) = split_number(bit_text, "bit number")?;
            if !tail.is_empty() {
                return Err(format!("unexpected {tail:?} after the bit number"));
            }
            let bit = u8::try_from(bit)
                .ok()
                .filter(|&b| b <= 7)
                .ok_or_else(|| format!("bit {bit} is out of range (0..=7)"))?;
            return Ok((Width::Bit(bit), byte));
        }
        Some('B') => Width::Byte,
        Some('W') => Width::Word,
        Some('D') => Width::DWord,
        _ => Width::LWord,
    };
    if !rest.is_empty() {
        return Err(format!("unexpected {rest:?} after the byte offset (only X addresses take a bit number)"));
    }
    Ok((width, byte))
}

/// A leading decimal number and the rest of the string.
fn split_number<'a>(s: &'a str, what: &str) -> Result<(u32, &'a str), String> {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, rest) = s.split_at(end);
    if digits.is_empty() {
        return Err(format!("missing the {what}"));
    }
    let n = digits.parse::<u32>().map_err(|_| format!("{what} {digits} is too large"))?;
    Ok((n, rest))
}

/// An S7 elementary type name or a FOS type name (upper-case input).
fn parse_type(t: &str) -> Result<DataType, String> {
    Ok(match t {
        "BOOL" => DataType::Bool,
        "BYTE" | "USINT" | "CHAR" => DataType::U8,
        "SINT" => DataType::I8,
        "WORD" | "UINT" => DataType::U16,
        "INT" => DataType::I16,
        "DWORD" | "UDINT" => DataType::U32,
        "DINT" => DataType::I32,
        "REAL" => DataType::F32,
        "LREAL" => DataType::F64,
        "LINT" => DataType::I64,
        "ULINT" | "LWORD" => DataType::U64,
        other => match other.parse::<DataType>() {
            Ok(DataType::String) => return Err("strings are not supported by the S7 driver yet".into()),
            Ok(dt) => dt,
            Err(_) => {
                return Err(format!(
                    "unknown type {other:?} (expected an S7 type: BOOL BYTE USINT SINT CHAR WORD UINT INT DWORD \
                     UDINT DINT REAL LREAL LINT ULINT LWORD, or a FOS type: bool i8 u8 i16 u16 i32 u32 i64 u64 f32 f64)"
                ))
            }
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p(s: &str) -> S7Address {
        parse_address(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn err(s: &str) -> String {
        parse_address(s).expect_err(s).to_string()
    }

    #[test]
    fn data_block_addresses_and_defaults() {
        assert_eq!(
            p("DB1.DBX4.0"),
            S7Address { area: Area::Db(1), byte: 4, width: Width::Bit(0), dtype: DataType::Bool }
        );
        assert_eq!(p("DB1.DBB0").dtype, DataType::U8);
        assert_eq!(p("DB1.DBW0").dtype, DataType::I16);
        assert_eq!(p("DB1.DBD2").dtype, DataType::I32);
        assert_eq!(p("DB1.DBL8").dtype, DataType::I64);
        assert_eq!(p("db12.dbw6"), S7Address { area: Area::Db(12), byte: 6, width: Width::Word, dtype: DataType::I16 });
        assert_eq!(p(" DB65535.DBB1 ").area, Area::Db(65535));
    }

    #[test]
    fn type_suffixes_in_s7_and_fos_names() {
        let cases = [
            ("DB1.DBD2:REAL", DataType::F32),
            ("DB1.DBD2:real", DataType::F32),
            ("DB1.DBD2:f32", DataType::F32),
            ("DB1.DBW0:WORD", DataType::U16),
            ("DB1.DBW0:UINT", DataType::U16),
            ("DB1.DBW0:INT", DataType::I16),
            ("DB1.DBD0:DWORD", DataType::U32),
            ("DB1.DBD0:UDINT", DataType::U32),
            ("DB1.DBD0:DINT", DataType::I32),
            ("DB1.DBB0:BYTE", DataType::U8),
            ("DB1.DBB0:USINT", DataType::U8),
            ("DB1.DBB0:CHAR", DataType::U8),
            ("DB1.DBB0:SINT", DataType::I8),
            ("DB1.DBB0:i8", DataType::I8),
            ("DB1.DBL0:LREAL", DataType::F64),
            ("DB1.DBL0:f64", DataType::F64),
            ("DB1.DBL8:LINT", DataType::I64),
            ("DB1.DBL8:i64", DataType::I64),
            ("DB1.DBL8:ULINT", DataType::U64),
            ("DB1.DBL8:LWORD", DataType::U64),
            ("DB1.DBX0.7:BOOL", DataType::Bool),
            ("MD4:REAL", DataType::F32),
            ("ML0:LREAL", DataType::F64),
        ];
        for (s, t) in cases {
            assert_eq!(p(s).dtype, t, "{s}");
        }
    }

    #[test]
    fn merkers_inputs_outputs_in_english_and_german() {
        assert_eq!(p("M0.1"), S7Address { area: Area::Merkers, byte: 0, width: Width::Bit(1), dtype: DataType::Bool });
        assert_eq!(p("MB0").width, Width::Byte);
        assert_eq!(p("MW0").width, Width::Word);
        assert_eq!(p("MD0").width, Width::DWord);
        assert_eq!(p("ML0").width, Width::LWord);
        assert_eq!(p("I0.0").area, Area::Inputs);
        assert_eq!(p("E0.0"), p("I0.0"));
        assert_eq!(p("IB0"), p("EB0"));
        assert_eq!(p("IW2"), p("EW2"));
        assert_eq!(p("ID4"), p("ED4"));
        assert_eq!(p("Q0.0").area, Area::Outputs);
        assert_eq!(p("A0.0"), p("Q0.0"));
        assert_eq!(p("QB1"), p("AB1"));
        assert_eq!(p("QW2"), p("AW2"));
        assert_eq!(p("QD4"), p("AD4"));
        assert_eq!(p("MX3.5"), p("M3.5"));
        assert_eq!(p("ix1.2"), p("I1.2"));
    }

    #[test]
    fn wire_fields() {
        let a = p("DB3.DBX10.5");
        assert_eq!((a.area.code(), a.area.db_number(), a.bit_address(), a.byte_len()), (0x84, 3, 85, 1));
        let a = p("MW10");
        assert_eq!((a.area.code(), a.area.db_number(), a.bit_address(), a.byte_len()), (0x83, 0, 80, 2));
        assert_eq!(p("IB0").area.code(), 0x81);
        assert_eq!(p("QB0").area.code(), 0x82);
        assert_eq!(p("DB1.DBL0").byte_len(), 8);
    }

    #[test]
    fn bad_addresses_say_what_is_wrong() {
        for (s, want) in [
            ("", "empty address"),
            ("DB0.DBW0", "DB number 0 is out of range"),
            ("DB70000.DBW0", "out of range"),
            ("DB1.DBW", "missing the byte offset"),
            ("DB1DBW0", "expected '.' after the DB number"),
            ("DB1.W0", "expected DBX, DBB"),
            ("DB1.DBX4", "needs '.bit'"),
            ("DB1.DBX4.8", "bit 8 is out of range"),
            ("DB1.DBW0.1", "only X addresses take a bit number"),
            ("DB1.DBZ0", "unknown width 'Z'"),
            ("Z0", "unknown area 'Z'"),
            ("DB1.DBW0:REAL", "type f32 is 4 byte(s) wide"),
            ("DB1.DBW0:f32", "type f32 is 4 byte(s) wide but the address spans 2"),
            ("DB1.DBD0:BOOL", "a BOOL needs a bit address"),
            ("DB1.DBB0:BOOL", "a bit address"),
            ("DB1.DBX0.0:INT", "a bit address holds a BOOL"),
            ("DB1.DBW0:FOO", "unknown type \"FOO\""),
            ("DB1.DBB0:string", "strings are not supported"),
            ("MW99999999999", "too large"),
            ("MD2097150", "beyond what S7comm can address"),
            ("M0.1x", "unexpected \"X\" after the bit number"),
        ] {
            let e = err(s);
            assert!(e.contains(want), "{s}: {e}");
            assert!(e.contains("s7 address"), "{s}: {e}");
        }
        assert!(err("DB1.DBQ0").contains("expected e.g. DB1.DBX4.0"));
        // The error message for the REAL-on-word mismatch says which width to use.
        assert!(err("DB1.DBW0:REAL").contains("double-word address"), "{}", err("DB1.DBW0:REAL"));
        assert!(parse_address("MB2097151").is_ok());
        assert!(parse_address("MW2097151").is_err());
    }

    fn arb_address() -> impl Strategy<Value = S7Address> {
        let area = prop_oneof![
            Just(Area::Inputs),
            Just(Area::Outputs),
            Just(Area::Merkers),
            (1u16..=u16::MAX).prop_map(Area::Db)
        ];
        let width = prop_oneof![
            (0u8..8).prop_map(Width::Bit),
            Just(Width::Byte),
            Just(Width::Word),
            Just(Width::DWord),
            Just(Width::LWord)
        ];
        (area, width, 0u32..=MAX_BYTE_OFFSET - 8, any::<u8>()).prop_map(|(area, width, byte, pick)| {
            let types: &[DataType] = match width {
                Width::Bit(_) => &[DataType::Bool],
                Width::Byte => &[DataType::U8, DataType::I8],
                Width::Word => &[DataType::U16, DataType::I16],
                Width::DWord => &[DataType::U32, DataType::I32, DataType::F32],
                Width::LWord => &[DataType::U64, DataType::I64, DataType::F64],
            };
            let dtype = types[usize::from(pick) % types.len()];
            S7Address { area, byte, width, dtype }
        })
    }

    proptest! {
        #[test]
        fn display_parses_back(a in arb_address()) {
            prop_assert_eq!(parse_address(&a.to_string()).unwrap(), a);
            prop_assert_eq!(parse_address(&a.to_string().to_ascii_lowercase()).unwrap(), a);
        }

        #[test]
        fn any_text_gives_an_address_or_an_error(s in "\\PC{0,24}") {
            let _ = parse_address(&s);
        }
    }
}
