//! A sample: one value of one tag at one time, with its quality; an [`ArraySample`]: a numeric
//! array (a waveform block) read whole.

use std::time::SystemTime;

use serde::{Serialize, Serializer};

use crate::value::{DataType, Value};

/// How far a sample can be trusted. Codes follow OPC UA's Good/Uncertain/Bad split, with the
/// reason spelled out for Bad, so that a historian can keep them and an operator can read them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Quality {
    /// The device answered with this value.
    Good,
    /// The device answered, but says the value may be stale or approximate
    /// (e.g. OPC UA Uncertain, a Sparkplug metric marked stale after a death certificate).
    Uncertain,
    /// No connection to the device: the value is missing.
    BadNotConnected,
    /// The device did not answer within the timeout.
    BadTimeout,
    /// The device refused this address (it does not exist, is out of range or not readable).
    BadAddress,
    /// The device answered with a type other than the one asked for.
    BadTypeMismatch,
    /// The device reported an error of its own for this item.
    BadDevice,
    /// The reply could not be decoded.
    BadProtocol,
}

impl Quality {
    pub fn as_str(self) -> &'static str {
        match self {
            Quality::Good => "good",
            Quality::Uncertain => "uncertain",
            Quality::BadNotConnected => "bad_not_connected",
            Quality::BadTimeout => "bad_timeout",
            Quality::BadAddress => "bad_address",
            Quality::BadTypeMismatch => "bad_type_mismatch",
            Quality::BadDevice => "bad_device",
            Quality::BadProtocol => "bad_protocol",
        }
    }

    pub fn is_good(self) -> bool {
        self == Quality::Good
    }
}

/// One value of one tag. `time` is the source timestamp: the device's own where the protocol
/// carries one (OPC UA SourceTimestamp, Sparkplug metric timestamp), otherwise the time the reply
/// arrived (`time_source` says which).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sample {
    pub address: String,
    /// None when quality is bad.
    pub value: Option<Value>,
    #[serde(rename = "type")]
    pub dtype: DataType,
    pub quality: Quality,
    #[serde(serialize_with = "rfc3339")]
    pub time: SystemTime,
    pub time_source: TimeSource,
    /// What went wrong, for bad samples; a device status text for uncertain ones.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// Where a sample's timestamp comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeSource {
    /// The device stamped the value.
    Device,
    /// FOS stamped it when the reply arrived.
    Received,
}

impl Sample {
    pub fn good(address: impl Into<String>, value: Value, dtype: DataType, time: SystemTime) -> Sample {
        Sample {
            address: address.into(),
            value: Some(value),
            dtype,
            quality: Quality::Good,
            time,
            time_source: TimeSource::Received,
            detail: None,
        }
    }

    pub fn bad(address: impl Into<String>, dtype: DataType, quality: Quality, detail: impl Into<String>) -> Sample {
        Sample {
            address: address.into(),
            value: None,
            dtype,
            quality,
            time: SystemTime::now(),
            time_source: TimeSource::Received,
            detail: Some(detail.into()),
        }
    }

    /// One compact JSON object (the JSON Lines form of `fos read`).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }
}

/// A numeric array read whole from one address (an OPC UA one-dimensional array node, such as a
/// vibration block), its elements as f64, with the quality and source time of the whole array.
/// [`crate::Connection::read_array`] returns it. Integers wider than 53 bits are rounded to the
/// nearest f64; Boolean elements are 0 or 1.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ArraySample {
    pub address: String,
    /// The elements (empty when quality is bad).
    pub values: Vec<f64>,
    /// The elements' type on the wire (f64 for a bad sample whose type is unknown).
    #[serde(rename = "type")]
    pub dtype: DataType,
    pub quality: Quality,
    /// The source timestamp, as for [`Sample::time`].
    #[serde(serialize_with = "rfc3339")]
    pub time: SystemTime,
    pub time_source: TimeSource,
    /// What went wrong, for bad samples; a device status text for uncertain ones.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl ArraySample {
    /// A sample without values.
    pub fn bad(address: impl Into<String>, quality: Quality, detail: impl Into<String>, time: SystemTime) -> Self {
        ArraySample {
            address: address.into(),
            values: Vec::new(),
            dtype: DataType::F64,
            quality,
            time,
            time_source: TimeSource::Received,
            detail: Some(detail.into()),
        }
    }
}

fn rfc3339<S: Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&humantime::format_rfc3339_micros(*t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_line_has_the_documented_keys() {
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(1_700_000_000_123);
        let s = Sample::good("hr:0", Value::UInt(7), DataType::U16, t);
        let v: serde_json::Value = serde_json::from_str(&s.to_json()).unwrap();
        assert_eq!(v["address"], "hr:0");
        assert_eq!(v["value"], 7);
        assert_eq!(v["type"], "u16");
        assert_eq!(v["quality"], "good");
        assert_eq!(v["time"], "2023-11-14T22:13:20.123000Z");
        let b = Sample::bad("hr:9", DataType::U16, Quality::BadAddress, "illegal data address");
        let v: serde_json::Value = serde_json::from_str(&b.to_json()).unwrap();
        assert_eq!(v["value"], serde_json::Value::Null);
        assert_eq!(v["quality"], "bad_address");
        assert_eq!(v["detail"], "illegal data address");
    }
}
