//! Values and data types as FOS reports them, whatever the protocol, and the word layouts
//! that 16-bit-register protocols (Modbus, MELSEC) use for wider types.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The type of a tag's value, named the same for every protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DataType {
    Bool,
    I8,
    U8,
    I16,
    U16,
    I32,
    U32,
    I64,
    U64,
    F32,
    F64,
    String,
}

impl DataType {
    /// Size in bytes on the wire (strings: 0, they carry their own length).
    pub fn size(self) -> usize {
        match self {
            DataType::Bool | DataType::I8 | DataType::U8 => 1,
            DataType::I16 | DataType::U16 => 2,
            DataType::I32 | DataType::U32 | DataType::F32 => 4,
            DataType::I64 | DataType::U64 | DataType::F64 => 8,
            DataType::String => 0,
        }
    }

    /// Number of 16-bit words this type spans in a register protocol (bool: 1).
    pub fn words(self) -> usize {
        self.size().div_ceil(2).max(1)
    }

    pub fn name(self) -> &'static str {
        match self {
            DataType::Bool => "bool",
            DataType::I8 => "i8",
            DataType::U8 => "u8",
            DataType::I16 => "i16",
            DataType::U16 => "u16",
            DataType::I32 => "i32",
            DataType::U32 => "u32",
            DataType::I64 => "i64",
            DataType::U64 => "u64",
            DataType::F32 => "f32",
            DataType::F64 => "f64",
            DataType::String => "string",
        }
    }

    const ALL: [DataType; 12] = [
        DataType::Bool,
        DataType::I8,
        DataType::U8,
        DataType::I16,
        DataType::U16,
        DataType::I32,
        DataType::U32,
        DataType::I64,
        DataType::U64,
        DataType::F32,
        DataType::F64,
        DataType::String,
    ];
}

impl fmt::Display for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for DataType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let lower = s.to_ascii_lowercase();
        DataType::ALL.into_iter().find(|t| t.name() == lower).ok_or_else(|| {
            format!("unknown type {s:?} (expected one of bool i8 u8 i16 u16 i32 u32 i64 u64 f32 f64 string)")
        })
    }
}

/// A value read from or written to a device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Value {
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    String(String),
}

impl Value {
    /// The value as f64 where it is numeric (bool: 0/1).
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::Bool(b) => Some(if b { 1.0 } else { 0.0 }),
            Value::Int(i) => Some(i as f64),
            Value::UInt(u) => Some(u as f64),
            Value::Float(x) => Some(x),
            Value::String(_) => None,
        }
    }

    /// Parse a value given on a command line or in a permit as `ty`.
    pub fn parse_as(text: &str, ty: DataType) -> Result<Value, String> {
        let bad = |e: &dyn fmt::Display| format!("{text:?} is not a valid {ty}: {e}");
        Ok(match ty {
            DataType::Bool => match text.to_ascii_lowercase().as_str() {
                "1" | "true" | "on" => Value::Bool(true),
                "0" | "false" | "off" => Value::Bool(false),
                _ => return Err(format!("{text:?} is not a bool (use true/false or 1/0)")),
            },
            DataType::I8 => Value::Int(text.parse::<i8>().map_err(|e| bad(&e))? as i64),
            DataType::I16 => Value::Int(text.parse::<i16>().map_err(|e| bad(&e))? as i64),
            DataType::I32 => Value::Int(text.parse::<i32>().map_err(|e| bad(&e))? as i64),
            DataType::I64 => Value::Int(text.parse::<i64>().map_err(|e| bad(&e))?),
            DataType::U8 => Value::UInt(text.parse::<u8>().map_err(|e| bad(&e))? as u64),
            DataType::U16 => Value::UInt(text.parse::<u16>().map_err(|e| bad(&e))? as u64),
            DataType::U32 => Value::UInt(text.parse::<u32>().map_err(|e| bad(&e))? as u64),
            DataType::U64 => Value::UInt(text.parse::<u64>().map_err(|e| bad(&e))?),
            DataType::F32 | DataType::F64 => Value::Float(text.parse::<f64>().map_err(|e| bad(&e))?),
            DataType::String => Value::String(text.to_string()),
        })
    }

    /// Encode as big-endian bytes of `ty` (the layout S7 and Modbus registers use).
    /// Fails when the value does not fit the type.
    pub fn to_be_bytes(&self, ty: DataType) -> Result<Vec<u8>, String> {
        let int = |lo: i128, hi: i128| -> Result<i128, String> {
            let v: i128 = match *self {
                Value::Bool(b) => b as i128,
                Value::Int(i) => i as i128,
                Value::UInt(u) => u as i128,
                Value::Float(x) if x.fract() == 0.0 && x.is_finite() => x as i128,
                _ => return Err(format!("{self:?} is not an integer for type {ty}")),
            };
            if v < lo || v > hi {
                return Err(format!("{v} is out of range for {ty}"));
            }
            Ok(v)
        };
        Ok(match ty {
            DataType::Bool => vec![int(0, 1)? as u8],
            DataType::I8 => (int(i8::MIN as i128, i8::MAX as i128)? as i8).to_be_bytes().to_vec(),
            DataType::U8 => vec![int(0, u8::MAX as i128)? as u8],
            DataType::I16 => (int(i16::MIN as i128, i16::MAX as i128)? as i16).to_be_bytes().to_vec(),
            DataType::U16 => (int(0, u16::MAX as i128)? as u16).to_be_bytes().to_vec(),
            DataType::I32 => (int(i32::MIN as i128, i32::MAX as i128)? as i32).to_be_bytes().to_vec(),
            DataType::U32 => (int(0, u32::MAX as i128)? as u32).to_be_bytes().to_vec(),
            DataType::I64 => (int(i64::MIN as i128, i64::MAX as i128)? as i64).to_be_bytes().to_vec(),
            DataType::U64 => (int(0, u64::MAX as i128)? as u64).to_be_bytes().to_vec(),
            DataType::F32 => (self.as_f64().ok_or("not a number")? as f32).to_be_bytes().to_vec(),
            DataType::F64 => self.as_f64().ok_or("not a number")?.to_be_bytes().to_vec(),
            DataType::String => match self {
                Value::String(s) => s.as_bytes().to_vec(),
                _ => return Err(format!("{self:?} is not a string")),
            },
        })
    }

    /// Decode big-endian bytes of `ty`. `bytes` must be exactly `ty.size()` long (strings: any).
    pub fn from_be_bytes(bytes: &[u8], ty: DataType) -> Result<Value, String> {
        if ty != DataType::String && bytes.len() != ty.size() {
            return Err(format!("{ty} needs {} bytes, got {}", ty.size(), bytes.len()));
        }
        let a = |n: usize| -> [u8; 8] {
            let mut out = [0u8; 8];
            out[8 - n..].copy_from_slice(&bytes[..n]);
            out
        };
        Ok(match ty {
            DataType::Bool => Value::Bool(bytes[0] != 0),
            DataType::I8 => Value::Int(bytes[0] as i8 as i64),
            DataType::U8 => Value::UInt(bytes[0] as u64),
            DataType::I16 => Value::Int(i16::from_be_bytes([bytes[0], bytes[1]]) as i64),
            DataType::U16 => Value::UInt(u16::from_be_bytes([bytes[0], bytes[1]]) as u64),
            DataType::I32 => Value::Int(i32::from_be_bytes(bytes.try_into().unwrap_or_default()) as i64),
            DataType::U32 => Value::UInt(u64::from_be_bytes(a(4))),
            DataType::I64 => Value::Int(i64::from_be_bytes(a(8))),
            DataType::U64 => Value::UInt(u64::from_be_bytes(a(8))),
            DataType::F32 => Value::Float(f32::from_be_bytes(bytes.try_into().unwrap_or_default()) as f64),
            DataType::F64 => Value::Float(f64::from_be_bytes(a(8))),
            DataType::String => Value::String(String::from_utf8_lossy(bytes).into_owned()),
        })
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::UInt(u) => write!(f, "{u}"),
            Value::Float(x) => write!(f, "{x}"),
            Value::String(s) => write!(f, "{s}"),
        }
    }
}

/// Order of the 16-bit words of a 32- or 64-bit value spread over registers.
/// Each word itself is big-endian on Modbus and little-endian on MELSEC; this only orders words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WordOrder {
    /// Most significant word first ("ABCD"): the Modbus convention and FOS's default for Modbus.
    #[default]
    High,
    /// Least significant word first ("CDAB"): MELSEC, and many Modbus devices.
    Low,
}

impl FromStr for WordOrder {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "high" | "big" | "abcd" | "be" => Ok(WordOrder::High),
            "low" | "little" | "cdab" | "le" | "swap" => Ok(WordOrder::Low),
            _ => Err(format!("unknown word order {s:?} (expected high|abcd or low|cdab)")),
        }
    }
}

/// Decode `ty` from register words (each word's value already host-order).
/// `words.len()` must equal `ty.words()`; bool takes word != 0.
pub fn decode_words(words: &[u16], ty: DataType, order: WordOrder) -> Result<Value, String> {
    if ty == DataType::String {
        // Two characters per word, first character in the high byte (the Modbus convention).
        let mut bytes: Vec<u8> = words.iter().flat_map(|w| w.to_be_bytes()).collect();
        while bytes.last() == Some(&0) {
            bytes.pop();
        }
        return Ok(Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    }
    if words.len() != ty.words() {
        return Err(format!("{ty} spans {} registers, got {}", ty.words(), words.len()));
    }
    match ty {
        DataType::Bool => return Ok(Value::Bool(words[0] != 0)),
        DataType::I8 => return Ok(Value::Int(words[0] as i16 as i8 as i64)),
        DataType::U8 => return Ok(Value::UInt((words[0] & 0xff) as u64)),
        _ => {}
    }
    let mut be = Vec::with_capacity(8);
    let mut push = |w: u16| be.extend_from_slice(&w.to_be_bytes());
    match order {
        WordOrder::High => words.iter().for_each(|&w| push(w)),
        WordOrder::Low => words.iter().rev().for_each(|&w| push(w)),
    }
    Value::from_be_bytes(&be, ty)
}

/// Encode a value of `ty` into register words (inverse of [`decode_words`]).
pub fn encode_words(value: &Value, ty: DataType, order: WordOrder) -> Result<Vec<u16>, String> {
    match ty {
        DataType::Bool | DataType::I8 | DataType::U8 => {
            let b = value.to_be_bytes(ty)?;
            return Ok(vec![if ty == DataType::I8 { b[0] as i8 as i16 as u16 } else { b[0] as u16 }]);
        }
        DataType::String => {
            let mut b = value.to_be_bytes(ty)?;
            if b.len() % 2 == 1 {
                b.push(0);
            }
            return Ok(b.chunks(2).map(|c| u16::from_be_bytes([c[0], c[1]])).collect());
        }
        _ => {}
    }
    let be = value.to_be_bytes(ty)?;
    let mut words: Vec<u16> = be.chunks(2).map(|c| u16::from_be_bytes([c[0], c[1]])).collect();
    if order == WordOrder::Low {
        words.reverse();
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_round_trip_every_numeric_type_in_both_orders() {
        let cases = [
            (Value::Int(-2), DataType::I16),
            (Value::UInt(65_000), DataType::U16),
            (Value::Int(-123_456_789), DataType::I32),
            (Value::UInt(4_000_000_000), DataType::U32),
            (Value::Int(-9_000_000_000_000), DataType::I64),
            (Value::UInt(18_000_000_000_000_000_000), DataType::U64),
            (Value::Float(3.5), DataType::F32),
            (Value::Float(-1.0e300), DataType::F64),
            (Value::Bool(true), DataType::Bool),
        ];
        for order in [WordOrder::High, WordOrder::Low] {
            for (v, ty) in &cases {
                let w = encode_words(v, *ty, order).unwrap();
                assert_eq!(w.len(), ty.words(), "{ty}");
                assert_eq!(&decode_words(&w, *ty, order).unwrap(), v, "{ty} {order:?}");
            }
        }
    }

    #[test]
    fn word_order_is_what_the_name_says() {
        // 3.5f32 = 0x40600000
        assert_eq!(encode_words(&Value::Float(3.5), DataType::F32, WordOrder::High).unwrap(), [0x4060, 0]);
        assert_eq!(encode_words(&Value::Float(3.5), DataType::F32, WordOrder::Low).unwrap(), [0, 0x4060]);
    }

    #[test]
    fn out_of_range_values_are_refused_with_the_reason() {
        let e = Value::Int(70_000).to_be_bytes(DataType::I16).unwrap_err();
        assert!(e.contains("out of range"), "{e}");
        assert!(Value::parse_as("x", DataType::F32).unwrap_err().contains("not a valid f32"));
        assert!("q32".parse::<DataType>().unwrap_err().contains("unknown type"));
    }
}
