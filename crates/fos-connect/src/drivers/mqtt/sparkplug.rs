//! Sparkplug B, decoded as a read-only host application would (Eclipse Sparkplug 3.0).
//!
//! What is implemented, by chapter of the Sparkplug 3.0 specification:
//! - **Topics** (ch. 4 "Topics and Messages"): `spBv1.0/GROUP/TYPE/EDGE_NODE[/DEVICE]` for NBIRTH,
//!   NDATA, NDEATH, NCMD, DBIRTH, DDATA, DDEATH, DCMD; `spBv1.0/STATE/HOST_ID` (3.0, JSON payload)
//!   and the Sparkplug 2.2 form `STATE/HOST_ID` (`ONLINE`/`OFFLINE` text). [`parse_topic`].
//! - **Payloads** (ch. 6 "Payloads"): the Tahu protobuf [`proto::Payload`], every Tahu datatype
//!   (ch. 6 "Datatypes"): integers are read from `int_value`/`long_value` whichever is present and
//!   cut to the declared width (so sign-extended and zero-extended encodings of Int8/Int16/Int32
//!   both decode); Float/Double; Boolean; String/Text/UUID; DateTime as RFC 3339; Bytes/File as
//!   base64; the array types (little-endian packed `bytes_value`, BooleanArray as a 4-byte count
//!   plus MSB-first bits, StringArray NUL-terminated); DataSet, Template, PropertySet and
//!   PropertySetList rendered as JSON. `is_null` gives a JSON `null`.
//! - **Host session state** (ch. 5 "Operational Behavior"): per edge node and per device, the
//!   alias → (name, datatype) map of the last NBIRTH/DBIRTH. NDATA/DDATA/DDEATH/NCMD/DCMD
//!   metrics that carry only an alias (srad does this, and leaves out datatypes) are named and
//!   typed through it. The message `seq` is checked for continuity (0-255, wrapping) and a gap
//!   is reported as a warning on the message. The NBIRTH `bdSeq` is kept; an NDEATH with the same
//!   `bdSeq` marks the node, its devices and all their metrics offline/stale (metrics are
//!   re-emitted with quality `uncertain`); DDEATH does that for one device. An NDEATH whose
//!   `bdSeq` is the one *before* the birth's is the late will of an earlier session and is
//!   ignored (with a warning), as the specification's `bdSeq` correlation intends; any other
//!   mismatch (pysparkplug 0.6 sends the *next* `bdSeq` in its NDEATH) is reported as a warning
//!   and still treated as the death of the current session.
//! - The metric property `Quality` (0 bad, 192 good, 500 stale: the convention of Tahu and
//!   Ignition) sets the metric's quality.
//! - Hostile payloads: before `prost` runs, a scan of the wire format (no allocation) estimates
//!   what decoding, rendering and serializing will need and refuses more than 128 MiB (a 4 MiB
//!   payload of ordinary metrics needs about 80 MiB; 2-byte empty metrics would need over a
//!   kilobyte each); arrays are charged against what is left when rendered, and shown as base64
//!   beyond. Warnings are capped per message, and the host state keeps no composite values
//!   (DataSet, Template, arrays), so it grows with the number of metrics, not with the data.
//!
//! Not implemented, on purpose: FOS never publishes. A Sparkplug host would answer a `seq` gap,
//! an unknown alias or data from an unborn node by publishing a Rebirth request (NCMD
//! `Node Control/Rebirth`); FOS is read-only and only reports these as warnings, so the values
//! stay unresolved until the edge node rebirths by itself. FOS does not publish a STATE birth
//! either (it is not a Primary Host Application). Message reordering windows, multi-part
//! File metrics and historical back-fill ordering are not handled.

pub mod proto;
mod scan;

use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prost::Message as _;
use serde::{Serialize, Serializer};
use serde_json::{Map, Value as Json};

use crate::error::FrameError;
use crate::frame::FrameReader;
use crate::sample::{Quality, Sample, TimeSource};
use crate::value::{DataType, Value};

use super::{base64, opt_rfc3339, rfc3339, rfc3339_string};

/// The Sparkplug B topic namespace element.
pub const NAMESPACE: &str = "spBv1.0";

/// Payloads larger than this are not decoded (the subscription reports a warning instead).
pub const MAX_PAYLOAD: usize = 4 << 20;

/// At most this many warnings are listed per message; the rest are counted.
const MAX_WARNINGS: usize = 32;
/// Edge nodes (and devices per node) whose state is kept; more are decoded statelessly.
const MAX_NODES: usize = 10_000;

/// The Sparkplug message types (Sparkplug 3.0 ch. 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum MessageType {
    NBirth,
    NData,
    NDeath,
    NCmd,
    DBirth,
    DData,
    DDeath,
    DCmd,
    State,
}

impl MessageType {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageType::NBirth => "NBIRTH",
            MessageType::NData => "NDATA",
            MessageType::NDeath => "NDEATH",
            MessageType::NCmd => "NCMD",
            MessageType::DBirth => "DBIRTH",
            MessageType::DData => "DDATA",
            MessageType::DDeath => "DDEATH",
            MessageType::DCmd => "DCMD",
            MessageType::State => "STATE",
        }
    }

    fn from_topic_element(s: &str) -> Option<MessageType> {
        Some(match s {
            "NBIRTH" => MessageType::NBirth,
            "NDATA" => MessageType::NData,
            "NDEATH" => MessageType::NDeath,
            "NCMD" => MessageType::NCmd,
            "DBIRTH" => MessageType::DBirth,
            "DDATA" => MessageType::DData,
            "DDEATH" => MessageType::DDeath,
            "DCMD" => MessageType::DCmd,
            _ => return None,
        })
    }

    /// Device-level messages (their topic names a device).
    pub fn is_device(self) -> bool {
        matches!(self, MessageType::DBirth | MessageType::DData | MessageType::DDeath | MessageType::DCmd)
    }
}

impl fmt::Display for MessageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The Sparkplug/Tahu metric datatypes (Sparkplug 3.0 ch. 6 "Datatypes"), serialized by their
/// Tahu names ("Int32", "Double", "DateTime", ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SpDataType {
    Unknown,
    Int8,
    Int16,
    Int32,
    Int64,
    UInt8,
    UInt16,
    UInt32,
    UInt64,
    Float,
    Double,
    Boolean,
    String,
    DateTime,
    Text,
    Uuid,
    DataSet,
    Bytes,
    File,
    Template,
    PropertySet,
    PropertySetList,
    Int8Array,
    Int16Array,
    Int32Array,
    Int64Array,
    UInt8Array,
    UInt16Array,
    UInt32Array,
    UInt64Array,
    FloatArray,
    DoubleArray,
    BooleanArray,
    StringArray,
    DateTimeArray,
}

impl SpDataType {
    const ALL: [SpDataType; 35] = [
        SpDataType::Unknown,
        SpDataType::Int8,
        SpDataType::Int16,
        SpDataType::Int32,
        SpDataType::Int64,
        SpDataType::UInt8,
        SpDataType::UInt16,
        SpDataType::UInt32,
        SpDataType::UInt64,
        SpDataType::Float,
        SpDataType::Double,
        SpDataType::Boolean,
        SpDataType::String,
        SpDataType::DateTime,
        SpDataType::Text,
        SpDataType::Uuid,
        SpDataType::DataSet,
        SpDataType::Bytes,
        SpDataType::File,
        SpDataType::Template,
        SpDataType::PropertySet,
        SpDataType::PropertySetList,
        SpDataType::Int8Array,
        SpDataType::Int16Array,
        SpDataType::Int32Array,
        SpDataType::Int64Array,
        SpDataType::UInt8Array,
        SpDataType::UInt16Array,
        SpDataType::UInt32Array,
        SpDataType::UInt64Array,
        SpDataType::FloatArray,
        SpDataType::DoubleArray,
        SpDataType::BooleanArray,
        SpDataType::StringArray,
        SpDataType::DateTimeArray,
    ];

    /// The type for a Tahu `DataType` code; None for codes the specification does not define.
    pub fn from_code(code: u32) -> Option<SpDataType> {
        usize::try_from(code).ok().and_then(|i| SpDataType::ALL.get(i)).copied()
    }

    /// The Tahu code.
    pub fn code(self) -> u32 {
        self as u32
    }

    /// The Tahu name.
    pub fn name(self) -> &'static str {
        match self {
            SpDataType::Unknown => "Unknown",
            SpDataType::Int8 => "Int8",
            SpDataType::Int16 => "Int16",
            SpDataType::Int32 => "Int32",
            SpDataType::Int64 => "Int64",
            SpDataType::UInt8 => "UInt8",
            SpDataType::UInt16 => "UInt16",
            SpDataType::UInt32 => "UInt32",
            SpDataType::UInt64 => "UInt64",
            SpDataType::Float => "Float",
            SpDataType::Double => "Double",
            SpDataType::Boolean => "Boolean",
            SpDataType::String => "String",
            SpDataType::DateTime => "DateTime",
            SpDataType::Text => "Text",
            SpDataType::Uuid => "UUID",
            SpDataType::DataSet => "DataSet",
            SpDataType::Bytes => "Bytes",
            SpDataType::File => "File",
            SpDataType::Template => "Template",
            SpDataType::PropertySet => "PropertySet",
            SpDataType::PropertySetList => "PropertySetList",
            SpDataType::Int8Array => "Int8Array",
            SpDataType::Int16Array => "Int16Array",
            SpDataType::Int32Array => "Int32Array",
            SpDataType::Int64Array => "Int64Array",
            SpDataType::UInt8Array => "UInt8Array",
            SpDataType::UInt16Array => "UInt16Array",
            SpDataType::UInt32Array => "UInt32Array",
            SpDataType::UInt64Array => "UInt64Array",
            SpDataType::FloatArray => "FloatArray",
            SpDataType::DoubleArray => "DoubleArray",
            SpDataType::BooleanArray => "BooleanArray",
            SpDataType::StringArray => "StringArray",
            SpDataType::DateTimeArray => "DateTimeArray",
        }
    }

    /// The FOS sample type a value of this type maps to (composite types: their JSON text).
    pub fn fos_type(self) -> DataType {
        match self {
            SpDataType::Int8 => DataType::I8,
            SpDataType::Int16 => DataType::I16,
            SpDataType::Int32 => DataType::I32,
            SpDataType::Int64 => DataType::I64,
            SpDataType::UInt8 => DataType::U8,
            SpDataType::UInt16 => DataType::U16,
            SpDataType::UInt32 => DataType::U32,
            SpDataType::UInt64 => DataType::U64,
            SpDataType::Float => DataType::F32,
            SpDataType::Double => DataType::F64,
            SpDataType::Boolean => DataType::Bool,
            _ => DataType::String,
        }
    }

    fn is_integer(self) -> bool {
        matches!(
            self,
            SpDataType::Int8
                | SpDataType::Int16
                | SpDataType::Int32
                | SpDataType::Int64
                | SpDataType::UInt8
                | SpDataType::UInt16
                | SpDataType::UInt32
                | SpDataType::UInt64
                | SpDataType::DateTime
        )
    }
}

impl fmt::Display for SpDataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for SpDataType {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// A Sparkplug message that could not be decoded at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SparkplugError {
    #[error("topic {topic:?} is not a Sparkplug B topic: {reason} (expected spBv1.0/GROUP/TYPE/EDGE_NODE[/DEVICE] or spBv1.0/STATE/HOST_ID)")]
    Topic { topic: String, reason: String },
    #[error("{topic}: malformed Sparkplug B payload ({len} bytes): {source}")]
    Payload { topic: String, len: usize, source: FrameError },
    #[error("{topic}: malformed STATE payload: {reason}")]
    State { topic: String, reason: String },
}

/// The parts of a Sparkplug topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SparkplugTopic {
    pub message_type: MessageType,
    /// Empty for STATE.
    pub group: String,
    /// Empty for STATE.
    pub edge_node: String,
    pub device: Option<String>,
    /// The host application id of a STATE topic.
    pub host: Option<String>,
}

/// Split a Sparkplug topic (Sparkplug 3.0 ch. 4 "Topic Namespace Elements").
pub fn parse_topic(topic: &str) -> Result<SparkplugTopic, SparkplugError> {
    let err = |reason: &str| SparkplugError::Topic { topic: topic.to_string(), reason: reason.to_string() };
    let parts: Vec<&str> = topic.split('/').collect();
    let state = |host: &str| {
        if host.is_empty() {
            return Err(err("empty host application id"));
        }
        Ok(SparkplugTopic {
            message_type: MessageType::State,
            group: String::new(),
            edge_node: String::new(),
            device: None,
            host: Some(host.to_string()),
        })
    };
    match parts.as_slice() {
        ["STATE", host] => state(host),
        [ns, "STATE", host] if *ns == NAMESPACE => state(host),
        [ns, rest @ ..] if *ns == NAMESPACE => {
            let (group, kind, edge, device) = match rest {
                [g, k, e] => (*g, *k, *e, None),
                [g, k, e, d] => (*g, *k, *e, Some(*d)),
                _ => return Err(err("wrong number of levels")),
            };
            let message_type =
                MessageType::from_topic_element(kind).ok_or_else(|| err(&format!("unknown message type {kind:?}")))?;
            if group.is_empty() || edge.is_empty() || device.is_some_and(str::is_empty) {
                return Err(err("empty group, edge node or device id"));
            }
            if message_type.is_device() != device.is_some() {
                return Err(err(if device.is_some() {
                    "a node message type with a device id"
                } else {
                    "a device message type without a device id"
                }));
            }
            Ok(SparkplugTopic {
                message_type,
                group: group.to_string(),
                edge_node: edge.to_string(),
                device: device.map(str::to_string),
                host: None,
            })
        }
        _ => Err(err(&format!("it does not start with {NAMESPACE}/"))),
    }
}

/// Decode a Sparkplug B protobuf payload. Never panics. Refused before anything is allocated:
/// payloads over [`MAX_PAYLOAD`], nesting deeper than 100 messages, and payloads whose structure
/// would need more than 128 MiB to decode and render (very many tiny messages: a "protobuf
/// bomb"), as estimated by a scan of the wire format.
pub fn decode_payload(bytes: &[u8]) -> Result<proto::Payload, FrameError> {
    decode_with_cost(bytes).map(|(p, _)| p)
}

/// The payload and its estimated decoding cost (bytes).
fn decode_with_cost(bytes: &[u8]) -> Result<(proto::Payload, usize), FrameError> {
    if bytes.len() > MAX_PAYLOAD {
        return Err(FrameError::new(
            0,
            format!("payload of {} bytes is over the {} byte limit for Sparkplug decoding", bytes.len(), MAX_PAYLOAD),
        ));
    }
    let cost = scan::cost(bytes)?;
    // prost reports the field path but not the offset.
    let p = proto::Payload::decode(bytes).map_err(|e| FrameError::new(0, format!("protobuf: {e}")))?;
    Ok((p, cost))
}

/// What the `sparkplug_payload` fuzz target (and its corpus replay test) runs: `data` as a raw
/// payload, then as every message type in turn through one [`HostState`] (so a birth built from
/// the input resolves the data messages made of the same input), rendering JSON and samples.
/// Must never panic.
pub fn fuzz_decode(data: &[u8]) {
    let _ = decode_payload(data);
    let mut host = HostState::new();
    let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    for topic in [
        "spBv1.0/G/NBIRTH/E",
        "spBv1.0/G/DBIRTH/E/D",
        "spBv1.0/G/NDATA/E",
        "spBv1.0/G/DDATA/E/D",
        "spBv1.0/G/NCMD/E",
        "spBv1.0/G/DCMD/E/D",
        "spBv1.0/G/DDEATH/E/D",
        "spBv1.0/G/NDEATH/E",
        "spBv1.0/G/NDATA/E",
        "spBv1.0/STATE/H",
    ] {
        if let Ok(m) = host.handle_at(topic, data, now) {
            let _ = serde_json::to_string(&m);
            let _ = m.samples();
        }
    }
}

/// One decoded metric.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SparkplugMetric {
    /// The metric name; resolved through the birth's alias map when the message carries only an
    /// alias (`alias:N` when even that fails, with a warning).
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alias: Option<u64>,
    /// Tahu datatype; resolved through the birth when the message leaves it out.
    pub datatype: SpDataType,
    /// The value as JSON; `null` when the metric is null (or had no value).
    pub value: Json,
    /// The metric's own timestamp (the device's sampling time).
    #[serde(serialize_with = "opt_rfc3339", skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<SystemTime>,
    /// `good`, or `uncertain` for a stale metric (its node or device died).
    pub quality: Quality,
    /// The device a metric belongs to, where the message is a node's (stale lists of NDEATH).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub is_null: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub is_historical: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub is_transient: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub properties: Option<Json>,
    /// Why the quality is not good.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// One decoded Sparkplug message, with the host state applied (names resolved, seq checked,
/// stale metrics listed).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SparkplugMessage {
    pub topic: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub group: String,
    pub message_type: MessageType,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub edge_node: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// STATE: the host application id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// NBIRTH/NDEATH: the birth/death sequence number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bd_seq: Option<u64>,
    /// The payload's timestamp (the edge node's clock).
    #[serde(serialize_with = "opt_rfc3339", skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<SystemTime>,
    /// When FOS received it.
    #[serde(serialize_with = "rfc3339")]
    pub received: SystemTime,
    /// Births/data/commands: the metrics sent. NDEATH/DDEATH: the node's (device's) last known
    /// metrics, marked stale.
    pub metrics: Vec<SparkplugMetric>,
    /// STATE: the payload (JSON in Sparkplug 3.0, `"ONLINE"`/`"OFFLINE"` in 2.2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<Json>,
    /// Protocol problems found in this message (seq gaps, unknown aliases, type mismatches...).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl SparkplugMessage {
    /// The message's metrics as FOS samples, addressed `group/edge_node[/device]/metric_name`.
    /// Commands and STATE carry no telemetry and give none. Timestamps are the metric's, else
    /// the payload's ([`TimeSource::Device`]), else the reception time.
    pub fn samples(&self) -> Vec<Sample> {
        if matches!(self.message_type, MessageType::NCmd | MessageType::DCmd | MessageType::State) {
            return Vec::new();
        }
        self.metrics
            .iter()
            .map(|m| {
                let address = match m.device.as_deref().or(self.device.as_deref()) {
                    Some(d) => format!("{}/{}/{}/{}", self.group, self.edge_node, d, m.name),
                    None => format!("{}/{}/{}", self.group, self.edge_node, m.name),
                };
                let (time, time_source) = match m.timestamp.or(self.timestamp) {
                    Some(t) => (t, TimeSource::Device),
                    None => (self.received, TimeSource::Received),
                };
                let value = json_to_value(&m.value, m.datatype);
                let (quality, detail) = match (&value, m.quality) {
                    (None, Quality::Good) => {
                        (Quality::Uncertain, Some("the edge node reports no value (null)".to_string()))
                    }
                    (_, q) => (q, m.detail.clone()),
                };
                Sample { address, value, dtype: m.datatype.fos_type(), quality, time, time_source, detail }
            })
            .collect()
    }
}

/// A JSON value as a FOS [`Value`] (arrays and objects as their JSON text).
fn json_to_value(v: &Json, dt: SpDataType) -> Option<Value> {
    Some(match v {
        Json::Null => return None,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => {
            let unsigned =
                matches!(dt, SpDataType::UInt8 | SpDataType::UInt16 | SpDataType::UInt32 | SpDataType::UInt64);
            match (n.as_u64(), n.as_i64(), n.as_f64()) {
                (Some(u), _, _) if unsigned => Value::UInt(u),
                (_, Some(i), _) => Value::Int(i),
                (Some(u), _, _) => Value::UInt(u),
                (_, _, Some(f)) => Value::Float(f),
                _ => return None,
            }
        }
        Json::String(s) => Value::String(s.clone()),
        other => Value::String(other.to_string()),
    })
}

/// The decoding context of one message: its warnings, capped at [`MAX_WARNINGS`] so a hostile
/// payload cannot multiply them, and what is left of its memory budget (see [`scan`]) for
/// expanding arrays, whose size the pre-scan cannot know.
#[derive(Debug)]
struct Ctx {
    list: Vec<String>,
    dropped: usize,
    budget: usize,
}

impl Default for Ctx {
    fn default() -> Ctx {
        Ctx { list: Vec::new(), dropped: 0, budget: scan::BUDGET }
    }
}

impl Ctx {
    fn with_budget(budget: usize) -> Ctx {
        Ctx { budget, ..Ctx::default() }
    }

    /// Take `n` bytes from the budget; false (nothing taken) when there are not that many left.
    fn charge(&mut self, n: usize) -> bool {
        match self.budget.checked_sub(n) {
            Some(left) => {
                self.budget = left;
                true
            }
            None => false,
        }
    }

    fn push(&mut self, w: impl Into<String>) {
        if self.list.len() < MAX_WARNINGS {
            self.list.push(w.into());
        } else {
            self.dropped += 1;
        }
    }

    fn finish(mut self) -> Vec<String> {
        if self.dropped > 0 {
            self.list.push(format!("... and {} more warnings", self.dropped));
        }
        self.list
    }
}

/// What a birth told about one metric, and its last value. Composite values (DataSet,
/// Template, arrays) are not kept, so the host state stays proportional to the number of
/// metrics, not to the data: a stale DataSet is re-emitted as null, with a detail saying why.
#[derive(Debug, Clone)]
struct Known {
    name: String,
    alias: Option<u64>,
    datatype: SpDataType,
    /// The last value; null when it was composite (`composite`) or null.
    value: Json,
    composite: bool,
    is_null: bool,
}

impl Known {
    fn set(&mut self, m: &SparkplugMetric) {
        self.composite = matches!(m.value, Json::Array(_) | Json::Object(_));
        self.value = if self.composite { Json::Null } else { m.value.clone() };
        self.is_null = m.is_null;
    }
}

/// The metrics of one birth certificate, by name and by alias.
#[derive(Debug, Default)]
struct MetricTable {
    entries: Vec<Known>,
    by_name: HashMap<String, usize>,
    by_alias: HashMap<u64, usize>,
}

impl MetricTable {
    fn by_name(&self, name: &str) -> Option<&Known> {
        self.by_name.get(name).and_then(|&i| self.entries.get(i))
    }

    fn by_alias(&self, alias: u64) -> Option<&Known> {
        self.by_alias.get(&alias).and_then(|&i| self.entries.get(i))
    }

    /// Build from a birth's decoded metrics (Sparkplug 3.0: births carry every metric with its
    /// name, alias if any, datatype and current value).
    fn from_birth(metrics: &[SparkplugMetric], w: &mut Ctx) -> MetricTable {
        let mut t = MetricTable::default();
        for m in metrics {
            if let Some(&i) = t.by_name.get(&m.name) {
                w.push(format!("metric {:?} appears twice in the birth certificate; the last one is kept", m.name));
                if let Some(e) = t.entries.get_mut(i) {
                    *e = known(m);
                }
                continue;
            }
            if let Some(a) = m.alias {
                if let Some(other) = t.by_alias(a) {
                    w.push(format!(
                        "alias {a} is given to both {:?} and {:?} in the birth certificate; it resolves to the first",
                        other.name, m.name
                    ));
                } else {
                    t.by_alias.insert(a, t.entries.len());
                }
            }
            t.by_name.insert(m.name.clone(), t.entries.len());
            t.entries.push(known(m));
        }
        t
    }

    /// Record current (non-historical) values of a data message.
    fn update(&mut self, metrics: &[SparkplugMetric], w: &mut Ctx) {
        for m in metrics.iter().filter(|m| !m.is_historical) {
            match self.by_name.get(&m.name).and_then(|&i| self.entries.get_mut(i)) {
                Some(e) => e.set(m),
                None => w.push(format!("metric {:?} was not in the birth certificate", m.name)),
            }
        }
    }

    /// The last known values, marked stale.
    fn stale(&self, device: Option<&str>, time: SystemTime, why: &str) -> impl Iterator<Item = SparkplugMetric> + '_ {
        let device = device.map(str::to_string);
        let why = why.to_string();
        self.entries.iter().filter(|e| e.name != "bdSeq").map(move |e| SparkplugMetric {
            name: e.name.clone(),
            alias: e.alias,
            datatype: e.datatype,
            value: e.value.clone(),
            timestamp: Some(time),
            quality: Quality::Uncertain,
            device: device.clone(),
            is_null: e.is_null,
            is_historical: false,
            is_transient: false,
            properties: None,
            detail: Some(if e.composite {
                format!("{why}; the last value of a {} is not kept", e.datatype)
            } else {
                why.clone()
            }),
        })
    }
}

fn known(m: &SparkplugMetric) -> Known {
    let mut k = Known {
        name: m.name.clone(),
        alias: m.alias,
        datatype: m.datatype,
        value: Json::Null,
        composite: false,
        is_null: false,
    };
    k.set(m);
    k
}

#[derive(Debug, Default)]
struct DeviceState {
    born: bool,
    online: bool,
    warned_unborn: bool,
    metrics: MetricTable,
}

#[derive(Debug, Default)]
struct NodeState {
    born: bool,
    online: bool,
    warned_unborn: bool,
    bd_seq: Option<u64>,
    last_seq: Option<u64>,
    metrics: MetricTable,
    devices: HashMap<String, DeviceState>,
}

impl NodeState {
    /// Check `seq` continues the node's sequence (Sparkplug 3.0: every message of an edge node
    /// after NBIRTH, including its devices', increments seq by one, 255 wrapping to 0).
    fn check_seq(&mut self, kind: MessageType, seq: Option<u64>, w: &mut Ctx) {
        let Some(seq) = seq else {
            w.push(format!("{kind} has no seq"));
            return;
        };
        if seq > 255 {
            w.push(format!("seq {seq} is out of the range 0-255"));
        }
        if let Some(last) = self.last_seq {
            let expected = (last % 256 + 1) % 256;
            if seq != expected {
                w.push(format!(
                    "seq gap: expected {expected}, got {seq} (messages were lost or reordered; a Sparkplug host would \
                     request a Rebirth, FOS is read-only and does not)"
                ));
            }
        }
        self.last_seq = Some(seq);
    }
}

/// The state a Sparkplug host application keeps (Sparkplug 3.0 ch. 5): per edge node and
/// device, the birth's metrics (names, aliases, datatypes, last values), the `bdSeq` and the last
/// `seq`. Pure: feed it messages, get decoded messages back.
#[derive(Debug, Default)]
pub struct HostState {
    nodes: HashMap<(String, String), NodeState>,
}

impl HostState {
    pub fn new() -> HostState {
        HostState::default()
    }

    /// Number of edge nodes with state.
    pub fn nodes(&self) -> usize {
        self.nodes.len()
    }

    /// Decode one message received now.
    pub fn handle(&mut self, topic: &str, payload: &[u8]) -> Result<SparkplugMessage, SparkplugError> {
        self.handle_at(topic, payload, SystemTime::now())
    }

    /// Decode one message received at `now` and update the state.
    pub fn handle_at(
        &mut self,
        topic: &str,
        payload: &[u8],
        now: SystemTime,
    ) -> Result<SparkplugMessage, SparkplugError> {
        let t = parse_topic(topic)?;
        let mut msg = SparkplugMessage {
            topic: topic.to_string(),
            group: t.group.clone(),
            message_type: t.message_type,
            edge_node: t.edge_node.clone(),
            device: t.device.clone(),
            host: t.host.clone(),
            seq: None,
            bd_seq: None,
            timestamp: None,
            received: now,
            metrics: Vec::new(),
            state: None,
            warnings: Vec::new(),
        };
        if t.message_type == MessageType::State {
            let mut w = Ctx::default();
            decode_state(&mut msg, payload, &mut w)?;
            msg.warnings = w.finish();
            return Ok(msg);
        }
        let (p, cost) = decode_with_cost(payload).map_err(|source| SparkplugError::Payload {
            topic: topic.to_string(),
            len: payload.len(),
            source,
        })?;
        let mut w = Ctx::with_budget(scan::BUDGET.saturating_sub(cost));
        msg.seq = p.seq;
        msg.timestamp = match p.timestamp {
            None => {
                w.push("the payload has no timestamp");
                None
            }
            Some(ms) => time_or_warn(ms, "payload timestamp", &mut w),
        };
        let death_time = msg.timestamp.unwrap_or(now);

        let key = (t.group.clone(), t.edge_node.clone());
        if !self.nodes.contains_key(&key) && self.nodes.len() >= MAX_NODES {
            w.push(format!("more than {MAX_NODES} edge nodes: this one is decoded without birth state"));
            msg.metrics = decode_metrics(&p.metrics, &MetricTable::default(), &mut w);
            msg.warnings = w.finish();
            return Ok(msg);
        }
        let node = self.nodes.entry(key).or_default();
        let node_name = format!("edge node {}/{}", t.group, t.edge_node);

        match t.message_type {
            MessageType::NBirth => {
                msg.metrics = decode_metrics(&p.metrics, &MetricTable::default(), &mut w);
                check_birth_names(&p.metrics, &mut w);
                msg.bd_seq = bd_seq_of(&p.metrics);
                if msg.bd_seq.is_none() {
                    w.push("NBIRTH has no bdSeq metric");
                }
                if p.seq.is_none() {
                    w.push("NBIRTH has no seq");
                }
                *node = NodeState {
                    born: true,
                    online: true,
                    bd_seq: msg.bd_seq,
                    last_seq: p.seq,
                    metrics: MetricTable::from_birth(&msg.metrics, &mut w),
                    ..NodeState::default()
                };
            }
            MessageType::NData => {
                node_checks(node, &node_name, t.message_type, &mut w);
                node.check_seq(t.message_type, p.seq, &mut w);
                msg.metrics = decode_metrics(&p.metrics, &node.metrics, &mut w);
                if node.born {
                    node.metrics.update(&msg.metrics, &mut w);
                }
            }
            MessageType::NCmd => {
                msg.metrics = decode_metrics(&p.metrics, &node.metrics, &mut w);
            }
            MessageType::NDeath => {
                msg.bd_seq = bd_seq_of(&p.metrics);
                let dead = match (node.born, node.bd_seq, msg.bd_seq) {
                    (false, _, _) => {
                        w.push(format!(
                            "NDEATH for {node_name}, whose NBIRTH FOS has not seen since it subscribed: no metrics to mark stale"
                        ));
                        node.online = false;
                        false
                    }
                    (true, Some(b), Some(d)) if b == d => true,
                    (true, Some(b), Some(d)) if d.wrapping_add(1) % 256 == b % 256 => {
                        w.push(format!(
                            "NDEATH bdSeq {d} is that of the session before the current NBIRTH (bdSeq {b}): a late will, \
                             ignored; the edge node stays online"
                        ));
                        false
                    }
                    (true, Some(b), Some(d)) => {
                        w.push(format!(
                            "NDEATH bdSeq {d} does not match the NBIRTH bdSeq {b} (Sparkplug 3.0 requires them equal; \
                             pysparkplug 0.6 sends the next one): treated as the death of the current session"
                        ));
                        true
                    }
                    (true, None, _) | (true, _, None) => {
                        w.push("NDEATH or its NBIRTH has no bdSeq: cannot correlate them, treated as the death of the current session");
                        true
                    }
                };
                if dead {
                    node.online = false;
                    let why = format!("stale: {node_name} went offline (NDEATH)");
                    let mut stale: Vec<SparkplugMetric> = node.metrics.stale(None, death_time, &why).collect();
                    let mut devices: Vec<(&String, &mut DeviceState)> = node.devices.iter_mut().collect();
                    devices.sort_by(|a, b| a.0.cmp(b.0));
                    for (id, dev) in devices {
                        dev.online = false;
                        stale.extend(dev.metrics.stale(Some(id), death_time, &why));
                    }
                    // The NDEATH's own metrics (bdSeq) are not telemetry: list the stale ones.
                    msg.metrics = stale;
                } else {
                    msg.metrics = decode_metrics(&p.metrics, &node.metrics, &mut w);
                }
            }
            MessageType::DBirth | MessageType::DData | MessageType::DDeath | MessageType::DCmd => {
                let dev_id = t.device.clone().unwrap_or_default();
                let dev_name = format!("device {}/{}/{}", t.group, t.edge_node, dev_id);
                if t.message_type != MessageType::DCmd {
                    node_checks(node, &node_name, t.message_type, &mut w);
                    node.check_seq(t.message_type, p.seq, &mut w);
                }
                if !node.devices.contains_key(&dev_id) && node.devices.len() >= MAX_NODES {
                    w.push(format!(
                        "more than {MAX_NODES} devices on {node_name}: {dev_name} is decoded without birth state"
                    ));
                    msg.metrics = decode_metrics(&p.metrics, &MetricTable::default(), &mut w);
                    msg.warnings = w.finish();
                    return Ok(msg);
                }
                let dev = node.devices.entry(dev_id.clone()).or_default();
                match t.message_type {
                    MessageType::DBirth => {
                        msg.metrics = decode_metrics(&p.metrics, &MetricTable::default(), &mut w);
                        check_birth_names(&p.metrics, &mut w);
                        *dev = DeviceState {
                            born: true,
                            online: true,
                            warned_unborn: false,
                            metrics: MetricTable::from_birth(&msg.metrics, &mut w),
                        };
                    }
                    MessageType::DData => {
                        if !dev.born && !dev.warned_unborn {
                            dev.warned_unborn = true;
                            w.push(format!(
                                "no DBIRTH seen for {dev_name} since FOS subscribed: metrics sent by alias cannot be named \
                                 until it rebirths (FOS is read-only and does not request a Rebirth)"
                            ));
                        } else if dev.born && !dev.online {
                            w.push(format!(
                                "DDATA from {dev_name}, which is offline (DDEATH or NDEATH since its DBIRTH)"
                            ));
                        }
                        msg.metrics = decode_metrics(&p.metrics, &dev.metrics, &mut w);
                        if dev.born {
                            dev.metrics.update(&msg.metrics, &mut w);
                        }
                    }
                    MessageType::DDeath => {
                        if dev.born {
                            dev.online = false;
                            let why = format!("stale: {dev_name} went offline (DDEATH)");
                            msg.metrics = dev.metrics.stale(None, death_time, &why).collect();
                        } else {
                            w.push(format!(
                                "DDEATH for {dev_name}, whose DBIRTH FOS has not seen: no metrics to mark stale"
                            ));
                            msg.metrics = decode_metrics(&p.metrics, &dev.metrics, &mut w);
                        }
                    }
                    _ => msg.metrics = decode_metrics(&p.metrics, &dev.metrics, &mut w),
                }
            }
            MessageType::State => {}
        }
        msg.warnings = w.finish();
        Ok(msg)
    }
}

/// Ctx for data from a node that is not (or no longer) born.
fn node_checks(node: &mut NodeState, node_name: &str, kind: MessageType, w: &mut Ctx) {
    if !node.born {
        if !node.warned_unborn {
            node.warned_unborn = true;
            w.push(format!(
                "no NBIRTH seen for {node_name} since FOS subscribed: metrics sent by alias cannot be named and seq \
                 cannot be checked until it rebirths (FOS is read-only and does not request a Rebirth)"
            ));
        }
    } else if !node.online {
        w.push(format!("{kind} from {node_name}, which is offline (NDEATH since its NBIRTH)"));
    }
}

/// Births must name every metric and give its datatype (Sparkplug 3.0 ch. 6, NBIRTH/DBIRTH).
fn check_birth_names(metrics: &[proto::Metric], w: &mut Ctx) {
    for (i, m) in metrics.iter().enumerate() {
        if m.name.is_none() {
            w.push(format!("birth metric #{i} has no name"));
        }
        if m.datatype.unwrap_or(0) == 0 {
            w.push(format!("birth metric #{i} ({}) has no datatype", m.name.as_deref().unwrap_or("?")));
        }
    }
}

/// The `bdSeq` metric's value, whatever integer field carries it.
fn bd_seq_of(metrics: &[proto::Metric]) -> Option<u64> {
    metrics.iter().find(|m| m.name.as_deref() == Some("bdSeq")).and_then(|m| match m.value {
        Some(proto::MetricValue::LongValue(v)) => Some(v),
        Some(proto::MetricValue::IntValue(v)) => Some(u64::from(v)),
        _ => None,
    })
}

/// STATE payloads: JSON `{"online":bool,"timestamp":ms}` (3.0) or `ONLINE`/`OFFLINE` (2.2).
fn decode_state(msg: &mut SparkplugMessage, payload: &[u8], w: &mut Ctx) -> Result<(), SparkplugError> {
    // A STATE payload is a few dozen bytes; a long one is not parsed (JSON values take 16 times
    // the text).
    const MAX_STATE: usize = 4096;
    if payload.len() > MAX_STATE {
        return Err(SparkplugError::State {
            topic: msg.topic.clone(),
            reason: format!("{} bytes, more than the {MAX_STATE} a STATE message can need", payload.len()),
        });
    }
    let text = std::str::from_utf8(payload)
        .map_err(|e| SparkplugError::State { topic: msg.topic.clone(), reason: format!("not UTF-8 text: {e}") })?;
    let json = match serde_json::from_str::<Json>(text) {
        Ok(j) => j,
        Err(_) => Json::String(text.to_string()),
    };
    if let Some(ms) = json.get("timestamp").and_then(Json::as_u64) {
        msg.timestamp = time_or_warn(ms, "STATE timestamp", w);
    }
    if !matches!(json.get("online"), Some(Json::Bool(_))) && !matches!(text, "ONLINE" | "OFFLINE") {
        w.push("STATE payload has neither an \"online\" flag (Sparkplug 3.0) nor ONLINE/OFFLINE (2.2)");
    }
    msg.state = Some(json);
    Ok(())
}

/// Milliseconds since the epoch as a time, None (with a warning) past year 9999.
fn time_or_warn(ms: u64, what: &str, w: &mut Ctx) -> Option<SystemTime> {
    let t = time_from_ms(ms);
    if t.is_none() {
        w.push(format!("{what} {ms} ms is out of range"));
    }
    t
}

/// Milliseconds since the Unix epoch, up to the end of year 9999 (what RFC 3339 can show).
pub fn time_from_ms(ms: u64) -> Option<SystemTime> {
    const MAX_MS: u64 = 253_402_300_799_999;
    if ms > MAX_MS {
        return None;
    }
    UNIX_EPOCH.checked_add(Duration::from_millis(ms))
}

/// Decode metrics, naming and typing alias-only ones through `table` (the birth's).
fn decode_metrics(metrics: &[proto::Metric], table: &MetricTable, w: &mut Ctx) -> Vec<SparkplugMetric> {
    metrics.iter().enumerate().map(|(i, m)| decode_metric(i, m, table, w)).collect()
}

fn decode_metric(i: usize, m: &proto::Metric, table: &MetricTable, w: &mut Ctx) -> SparkplugMetric {
    let by_alias = m.alias.and_then(|a| table.by_alias(a));
    let name = match (&m.name, m.alias) {
        (Some(n), _) => {
            if let Some(k) = by_alias.filter(|k| &k.name != n) {
                w.push(format!("metric {n:?} uses alias {:?} of {:?} in the birth certificate", m.alias, k.name));
            }
            n.clone()
        }
        (None, Some(a)) => match by_alias {
            Some(k) => k.name.clone(),
            None => {
                if !table.entries.is_empty() {
                    w.push(format!("alias {a} is not in the birth certificate"));
                }
                format!("alias:{a}")
            }
        },
        (None, None) => {
            w.push(format!("metric #{i} has neither a name nor an alias"));
            format!("#{i}")
        }
    };
    let known = m.name.as_deref().and_then(|n| table.by_name(n)).or(by_alias);
    let datatype = match m.datatype.unwrap_or(0) {
        0 => match known {
            Some(k) => k.datatype,
            None => {
                if !table.entries.is_empty() || m.name.is_none() {
                    w.push(format!("metric {name:?} has no datatype and none is known from a birth: shown as sent"));
                }
                SpDataType::Unknown
            }
        },
        code => SpDataType::from_code(code).unwrap_or_else(|| {
            w.push(format!("metric {name:?} has datatype code {code}, which Sparkplug does not define"));
            SpDataType::Unknown
        }),
    };
    let is_null = m.is_null == Some(true);
    let value = if is_null {
        Json::Null
    } else {
        match &m.value {
            Some(v) => metric_value(datatype, v, &name, w),
            None => {
                w.push(format!("metric {name:?} has no value and is not marked is_null"));
                Json::Null
            }
        }
    };
    let timestamp = m.timestamp.and_then(|ms| time_or_warn(ms, &format!("metric {name:?} timestamp"), w));
    let properties = m.properties.as_deref().map(|p| property_set(p, w));
    let (quality, detail) = match properties.as_ref().and_then(|p| p.get("Quality")).and_then(Json::as_u64) {
        Some(0) => (Quality::BadDevice, Some("the edge node reports quality 0 (bad)".to_string())),
        Some(500) => (Quality::Uncertain, Some("the edge node reports quality 500 (stale)".to_string())),
        _ => (Quality::Good, None),
    };
    SparkplugMetric {
        name,
        alias: m.alias,
        datatype,
        value,
        timestamp,
        quality,
        device: None,
        is_null,
        is_historical: m.is_historical == Some(true),
        is_transient: m.is_transient == Some(true),
        properties,
        detail,
    }
}

/// A float as JSON with its shortest decimal form (0.1f32 shows as 0.1, not 0.100000001...);
/// NaN and infinities (which JSON cannot hold) as null.
fn f32_json(f: f32) -> Json {
    f.to_string().parse::<f64>().ok().and_then(serde_json::Number::from_f64).map_or(Json::Null, Json::Number)
}

fn f64_json(f: f64) -> Json {
    serde_json::Number::from_f64(f).map_or(Json::Null, Json::Number)
}

fn ms_json(ms: i64) -> Json {
    u64::try_from(ms).ok().and_then(time_from_ms).and_then(rfc3339_string).map_or(Json::from(ms), Json::String)
}

/// An integer of type `dt` from the raw `int_value`/`long_value`, cut to the type's width.
fn int_json(dt: SpDataType, raw: u64) -> Json {
    match dt {
        SpDataType::Int8 => Json::from(raw as i8),
        SpDataType::Int16 => Json::from(raw as i16),
        SpDataType::Int32 => Json::from(raw as i32),
        SpDataType::Int64 => Json::from(raw as i64),
        SpDataType::UInt8 => Json::from(raw as u8),
        SpDataType::UInt16 => Json::from(raw as u16),
        SpDataType::UInt32 => Json::from(raw as u32),
        SpDataType::DateTime => ms_json(raw as i64),
        _ => Json::from(raw),
    }
}

/// The wire type's name, for messages.
fn wire_name(v: &proto::MetricValue) -> &'static str {
    use proto::MetricValue as V;
    match v {
        V::IntValue(_) => "int_value",
        V::LongValue(_) => "long_value",
        V::FloatValue(_) => "float_value",
        V::DoubleValue(_) => "double_value",
        V::BooleanValue(_) => "boolean_value",
        V::StringValue(_) => "string_value",
        V::BytesValue(_) => "bytes_value",
        V::DatasetValue(_) => "dataset_value",
        V::TemplateValue(_) => "template_value",
        V::ExtensionValue(_) => "extension_value",
    }
}

/// A metric value as its datatype says (Sparkplug 3.0 ch. 6 "Datatypes").
fn metric_value(dt: SpDataType, v: &proto::MetricValue, name: &str, w: &mut Ctx) -> Json {
    use proto::MetricValue as V;
    use SpDataType as T;
    match (dt, v) {
        (t, V::IntValue(i)) if t.is_integer() => int_json(t, u64::from(*i)),
        (t, V::LongValue(l)) if t.is_integer() => int_json(t, *l),
        (T::Float | T::Double, V::FloatValue(f)) => f32_json(*f),
        (T::Float | T::Double, V::DoubleValue(d)) => f64_json(*d),
        (T::Boolean, V::BooleanValue(b)) => Json::Bool(*b),
        (T::String | T::Text | T::Uuid, V::StringValue(s)) => Json::String(s.clone()),
        (T::Bytes | T::File, V::BytesValue(b)) => Json::String(base64(b)),
        (T::DataSet, V::DatasetValue(d)) => dataset(d, w),
        (T::Template, V::TemplateValue(t)) => template(t, w),
        (t, V::BytesValue(b)) if array_element(t).is_some() => array(t, b, name, w),
        (T::Unknown, v) => wire_value(v, w),
        (t, v) => {
            w.push(format!("metric {name:?}: datatype {t} but the value is sent as {}; shown as sent", wire_name(v)));
            wire_value(v, w)
        }
    }
}

/// A value by its wire type alone (no datatype known).
fn wire_value(v: &proto::MetricValue, w: &mut Ctx) -> Json {
    use proto::MetricValue as V;
    match v {
        V::IntValue(i) => Json::from(*i),
        V::LongValue(l) => Json::from(*l),
        V::FloatValue(f) => f32_json(*f),
        V::DoubleValue(d) => f64_json(*d),
        V::BooleanValue(b) => Json::Bool(*b),
        V::StringValue(s) => Json::String(s.clone()),
        V::BytesValue(b) => Json::String(base64(b)),
        V::DatasetValue(d) => dataset(d, w),
        V::TemplateValue(t) => template(t, w),
        V::ExtensionValue(_) => Json::Null,
    }
}

/// The element type of an array type.
fn array_element(dt: SpDataType) -> Option<SpDataType> {
    use SpDataType as T;
    Some(match dt {
        T::Int8Array => T::Int8,
        T::Int16Array => T::Int16,
        T::Int32Array => T::Int32,
        T::Int64Array => T::Int64,
        T::UInt8Array => T::UInt8,
        T::UInt16Array => T::UInt16,
        T::UInt32Array => T::UInt32,
        T::UInt64Array => T::UInt64,
        T::FloatArray => T::Float,
        T::DoubleArray => T::Double,
        T::BooleanArray => T::Boolean,
        T::StringArray => T::String,
        T::DateTimeArray => T::DateTime,
        _ => return None,
    })
}

/// Little-endian fixed-size elements; a partial trailing element is reported and dropped.
fn le_chunks<'a, const N: usize>(bytes: &'a [u8], name: &str, w: &mut Ctx) -> impl Iterator<Item = [u8; N]> + 'a {
    let chunks = bytes.chunks_exact(N);
    if !chunks.remainder().is_empty() {
        w.push(format!(
            "metric {name:?}: array of {} bytes is not a whole number of {N}-byte elements; the rest is dropped",
            bytes.len()
        ));
    }
    chunks.filter_map(|c| <[u8; N]>::try_from(c).ok())
}

/// Estimated bytes per rendered array element (JSON value, DateTime text, serialized text).
const ARRAY_ELEMENT_COST: usize = 64;

/// An array type's `bytes_value` (Sparkplug 3.0 ch. 6 "Datatypes", array types). An array too
/// large for what is left of the message's memory budget is shown as base64, with a warning.
fn array(dt: SpDataType, bytes: &[u8], name: &str, w: &mut Ctx) -> Json {
    use SpDataType as T;
    let mut r = FrameReader::new(bytes);
    let (count, body) = match dt {
        T::BooleanArray => {
            let count = match r.u32_le("BooleanArray count") {
                Ok(n) => usize::try_from(n).unwrap_or(usize::MAX),
                Err(e) => {
                    w.push(format!("metric {name:?}: {e}"));
                    return Json::Null;
                }
            };
            let bits = r.rest();
            let available = bits.len().saturating_mul(8);
            if count > available {
                w.push(format!("metric {name:?}: BooleanArray says {count} values but carries only {available} bits"));
            }
            (count.min(available), bits)
        }
        T::StringArray => {
            let body = bytes.strip_suffix(&[0]).unwrap_or(bytes);
            let count = if body.is_empty() { 0 } else { body.iter().filter(|&&b| b == 0).count() + 1 };
            (count, body)
        }
        T::Int8Array | T::UInt8Array => (bytes.len(), bytes),
        T::Int16Array | T::UInt16Array => (bytes.len() / 2, bytes),
        T::Int32Array | T::UInt32Array | T::FloatArray => (bytes.len() / 4, bytes),
        T::Int64Array | T::UInt64Array | T::DoubleArray | T::DateTimeArray => (bytes.len() / 8, bytes),
        _ => return Json::String(base64(bytes)),
    };
    if !w.charge(count.saturating_mul(ARRAY_ELEMENT_COST)) {
        w.push(format!(
            "metric {name:?}: {dt} of {count} elements is too large to render within the message's memory budget; \
             shown as base64"
        ));
        return Json::String(base64(bytes));
    }
    let mut items: Vec<Json> = Vec::with_capacity(count);
    match dt {
        T::Int8Array => items.extend(body.iter().map(|&b| Json::from(b as i8))),
        T::UInt8Array => items.extend(body.iter().map(|&b| Json::from(b))),
        T::Int16Array => items.extend(le_chunks::<2>(body, name, w).map(|c| Json::from(i16::from_le_bytes(c)))),
        T::UInt16Array => items.extend(le_chunks::<2>(body, name, w).map(|c| Json::from(u16::from_le_bytes(c)))),
        T::Int32Array => items.extend(le_chunks::<4>(body, name, w).map(|c| Json::from(i32::from_le_bytes(c)))),
        T::UInt32Array => items.extend(le_chunks::<4>(body, name, w).map(|c| Json::from(u32::from_le_bytes(c)))),
        T::Int64Array => items.extend(le_chunks::<8>(body, name, w).map(|c| Json::from(i64::from_le_bytes(c)))),
        T::UInt64Array => items.extend(le_chunks::<8>(body, name, w).map(|c| Json::from(u64::from_le_bytes(c)))),
        T::FloatArray => items.extend(le_chunks::<4>(body, name, w).map(|c| f32_json(f32::from_le_bytes(c)))),
        T::DoubleArray => items.extend(le_chunks::<8>(body, name, w).map(|c| f64_json(f64::from_le_bytes(c)))),
        T::DateTimeArray => items.extend(le_chunks::<8>(body, name, w).map(|c| ms_json(i64::from_le_bytes(c)))),
        T::BooleanArray => {
            items.extend((0..count).map(|i| Json::Bool(body.get(i / 8).is_some_and(|b| (b >> (7 - i % 8)) & 1 == 1))))
        }
        _ => {
            if count > 0 {
                items.extend(body.split(|&b| b == 0).map(|s| Json::String(String::from_utf8_lossy(s).into_owned())));
            }
        }
    }
    Json::Array(items)
}

/// A DataSet as `{"columns":[..],"types":[..],"rows":[[..],..]}`.
fn dataset(d: &proto::DataSet, w: &mut Ctx) -> Json {
    let types: Vec<SpDataType> =
        d.types.iter().map(|&c| SpDataType::from_code(c).unwrap_or(SpDataType::Unknown)).collect();
    let declared = d.num_of_columns.and_then(|n| usize::try_from(n).ok());
    if declared.is_some_and(|n| n != d.columns.len() || n != types.len()) {
        w.push(format!(
            "DataSet declares {:?} columns but has {} names and {} types",
            d.num_of_columns,
            d.columns.len(),
            types.len()
        ));
    }
    let rows = d
        .rows
        .iter()
        .map(|row| {
            Json::Array(
                row.elements
                    .iter()
                    .enumerate()
                    .map(|(i, e)| element(types.get(i).copied().unwrap_or(SpDataType::Unknown), e.value.as_ref()))
                    .collect(),
            )
        })
        .collect();
    let mut o = Map::new();
    o.insert("columns".into(), Json::from(d.columns.clone()));
    o.insert("types".into(), Json::Array(types.iter().map(|t| Json::from(t.name())).collect()));
    o.insert("rows".into(), Json::Array(rows));
    Json::Object(o)
}

fn element(dt: SpDataType, v: Option<&proto::ElementValue>) -> Json {
    use proto::ElementValue as E;
    match v {
        None | Some(E::ExtensionValue(_)) => Json::Null,
        Some(E::IntValue(i)) if dt.is_integer() => int_json(dt, u64::from(*i)),
        Some(E::LongValue(l)) if dt.is_integer() => int_json(dt, *l),
        Some(E::IntValue(i)) => Json::from(*i),
        Some(E::LongValue(l)) => Json::from(*l),
        Some(E::FloatValue(f)) => f32_json(*f),
        Some(E::DoubleValue(d)) => f64_json(*d),
        Some(E::BooleanValue(b)) => Json::Bool(*b),
        Some(E::StringValue(s)) => Json::String(s.clone()),
    }
}

/// A Template (definition or instance) as JSON, its metrics rendered like top-level ones.
fn template(t: &proto::Template, w: &mut Ctx) -> Json {
    let mut o = Map::new();
    if let Some(r) = &t.template_ref {
        o.insert("template_ref".into(), Json::from(r.clone()));
    }
    if let Some(v) = &t.version {
        o.insert("version".into(), Json::from(v.clone()));
    }
    if t.is_definition == Some(true) {
        o.insert("is_definition".into(), Json::Bool(true));
    }
    if !t.parameters.is_empty() {
        let params = t
            .parameters
            .iter()
            .map(|p| {
                let dt = SpDataType::from_code(p.r#type.unwrap_or(0)).unwrap_or(SpDataType::Unknown);
                let mut po = Map::new();
                po.insert("name".into(), p.name.clone().map_or(Json::Null, Json::String));
                po.insert("type".into(), Json::from(dt.name()));
                po.insert("value".into(), parameter(dt, p.value.as_ref()));
                Json::Object(po)
            })
            .collect();
        o.insert("parameters".into(), Json::Array(params));
    }
    let metrics = t
        .metrics
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let d = decode_metric(i, m, &MetricTable::default(), w);
            let mut mo = Map::new();
            mo.insert("name".into(), Json::String(d.name));
            mo.insert("datatype".into(), Json::from(d.datatype.name()));
            mo.insert("value".into(), d.value);
            Json::Object(mo)
        })
        .collect();
    o.insert("metrics".into(), Json::Array(metrics));
    Json::Object(o)
}

fn parameter(dt: SpDataType, v: Option<&proto::ParameterValue>) -> Json {
    use proto::ParameterValue as P;
    match v {
        None | Some(P::ExtensionValue(_)) => Json::Null,
        Some(P::IntValue(i)) if dt.is_integer() => int_json(dt, u64::from(*i)),
        Some(P::LongValue(l)) if dt.is_integer() => int_json(dt, *l),
        Some(P::IntValue(i)) => Json::from(*i),
        Some(P::LongValue(l)) => Json::from(*l),
        Some(P::FloatValue(f)) => f32_json(*f),
        Some(P::DoubleValue(d)) => f64_json(*d),
        Some(P::BooleanValue(b)) => Json::Bool(*b),
        Some(P::StringValue(s)) => Json::String(s.clone()),
    }
}

/// A PropertySet as a JSON object `{key: value}`.
fn property_set(p: &proto::PropertySet, w: &mut Ctx) -> Json {
    if p.keys.len() != p.values.len() {
        w.push(format!("PropertySet has {} keys but {} values", p.keys.len(), p.values.len()));
    }
    let mut o = Map::new();
    for (k, v) in p.keys.iter().zip(&p.values) {
        o.insert(k.clone(), property_value(v, w));
    }
    Json::Object(o)
}

fn property_value(v: &proto::PropertyValue, w: &mut Ctx) -> Json {
    use proto::PropertyValueKind as P;
    if v.is_null == Some(true) {
        return Json::Null;
    }
    let dt = SpDataType::from_code(v.r#type.unwrap_or(0)).unwrap_or(SpDataType::Unknown);
    match &v.value {
        None | Some(P::ExtensionValue(_)) => Json::Null,
        Some(P::IntValue(i)) if dt.is_integer() => int_json(dt, u64::from(*i)),
        Some(P::LongValue(l)) if dt.is_integer() => int_json(dt, *l),
        Some(P::IntValue(i)) => Json::from(*i),
        Some(P::LongValue(l)) => Json::from(*l),
        Some(P::FloatValue(f)) => f32_json(*f),
        Some(P::DoubleValue(d)) => f64_json(*d),
        Some(P::BooleanValue(b)) => Json::Bool(*b),
        Some(P::StringValue(s)) => Json::String(s.clone()),
        Some(P::PropertysetValue(s)) => property_set(s, w),
        Some(P::PropertysetsValue(l)) => Json::Array(l.propertyset.iter().map(|s| property_set(s, w)).collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::proto::{Metric, MetricValue, Payload};
    use super::*;

    fn t0() -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(1_700_000_000_000)
    }

    fn metric(name: Option<&str>, alias: Option<u64>, dt: Option<SpDataType>, v: Option<MetricValue>) -> Metric {
        Metric {
            name: name.map(str::to_string),
            alias,
            datatype: dt.map(SpDataType::code),
            value: v,
            ..Metric::default()
        }
    }

    fn payload(seq: Option<u64>, metrics: Vec<Metric>) -> Vec<u8> {
        Payload { timestamp: Some(1_700_000_000_000), metrics, seq, uuid: None, body: None }.encode_to_vec()
    }

    fn birth(bd: u64) -> Vec<u8> {
        payload(
            Some(0),
            vec![
                metric(Some("Temp"), Some(1), Some(SpDataType::Double), Some(MetricValue::DoubleValue(21.5))),
                metric(Some("Count"), Some(2), Some(SpDataType::Int32), Some(MetricValue::IntValue(7))),
                metric(Some("bdSeq"), None, Some(SpDataType::Int64), Some(MetricValue::LongValue(bd))),
            ],
        )
    }

    #[test]
    fn topics_split_and_bad_ones_name_the_problem() {
        let t = parse_topic("spBv1.0/G1/DDATA/E1/D1").unwrap();
        assert_eq!((t.message_type, t.group.as_str(), t.edge_node.as_str()), (MessageType::DData, "G1", "E1"));
        assert_eq!(t.device.as_deref(), Some("D1"));
        assert_eq!(parse_topic("spBv1.0/STATE/scada").unwrap().host.as_deref(), Some("scada"));
        assert_eq!(parse_topic("STATE/scada").unwrap().message_type, MessageType::State);
        for (bad, why) in [
            ("spBv1.0/G1/NDATA/E1/D1", "node message type with a device"),
            ("spBv1.0/G1/DDATA/E1", "without a device"),
            ("spBv1.0/G1/XDATA/E1", "unknown message type"),
            ("spBv1.0/G1/NDATA", "levels"),
            ("spBv1.0//NDATA/E1", "empty"),
            ("plant/temp", "does not start"),
        ] {
            let e = parse_topic(bad).unwrap_err().to_string();
            assert!(e.contains(why) && e.contains(bad), "{bad}: {e}");
        }
    }

    #[test]
    fn alias_only_data_is_named_and_typed_through_the_birth() {
        let mut h = HostState::new();
        let b = h.handle_at("spBv1.0/G/NBIRTH/E", &birth(3), t0()).unwrap();
        assert_eq!(b.bd_seq, Some(3));
        assert!(b.warnings.is_empty(), "{:?}", b.warnings);
        // srad style: alias only, no name, no datatype; Int32 -5 sign-extended into int_value.
        let d = payload(Some(1), vec![metric(None, Some(2), None, Some(MetricValue::IntValue((-5i32) as u32)))]);
        let m = h.handle_at("spBv1.0/G/NDATA/E", &d, t0()).unwrap();
        assert!(m.warnings.is_empty(), "{:?}", m.warnings);
        assert_eq!(m.metrics[0].name, "Count");
        assert_eq!(m.metrics[0].datatype, SpDataType::Int32);
        assert_eq!(m.metrics[0].value, Json::from(-5));
        let s = m.samples();
        assert_eq!(s[0].address, "G/E/Count");
        assert_eq!(s[0].value, Some(Value::Int(-5)));
        assert_eq!(s[0].dtype, DataType::I32);
        assert_eq!(s[0].time_source, TimeSource::Device);
        // Unknown alias: named alias:N, with a warning.
        let d = payload(Some(2), vec![metric(None, Some(99), None, Some(MetricValue::IntValue(1)))]);
        let m = h.handle_at("spBv1.0/G/NDATA/E", &d, t0()).unwrap();
        assert_eq!(m.metrics[0].name, "alias:99");
        assert!(m.warnings.iter().any(|w| w.contains("alias 99 is not in the birth")), "{:?}", m.warnings);
    }

    #[test]
    fn seq_gaps_wrap_and_are_reported() {
        let mut h = HostState::new();
        let mut b = Payload::decode(birth(0).as_slice()).unwrap();
        b.seq = Some(254);
        h.handle_at("spBv1.0/G/NBIRTH/E", &b.encode_to_vec(), t0()).unwrap();
        for seq in [255, 0] {
            let m = h.handle_at("spBv1.0/G/NDATA/E", &payload(Some(seq), vec![]), t0()).unwrap();
            assert!(m.warnings.is_empty(), "seq {seq}: {:?}", m.warnings);
        }
        let m = h.handle_at("spBv1.0/G/NDATA/E", &payload(Some(3), vec![]), t0()).unwrap();
        assert!(
            m.warnings.iter().any(|w| w.contains("expected 1, got 3") && w.contains("read-only")),
            "{:?}",
            m.warnings
        );
    }

    #[test]
    fn death_marks_node_and_device_metrics_stale_when_bdseq_matches() {
        let mut h = HostState::new();
        h.handle_at("spBv1.0/G/NBIRTH/E", &birth(5), t0()).unwrap();
        let db = payload(
            Some(1),
            vec![metric(Some("Speed"), Some(7), Some(SpDataType::Float), Some(MetricValue::FloatValue(0.1)))],
        );
        let m = h.handle_at("spBv1.0/G/DBIRTH/E/D", &db, t0()).unwrap();
        assert_eq!(m.metrics[0].value, Json::from(0.1));
        let nd = payload(Some(2), vec![metric(None, Some(2), None, Some(MetricValue::IntValue(8)))]);
        h.handle_at("spBv1.0/G/NDATA/E", &nd, t0()).unwrap();
        // A late will of the previous session (bdSeq 4) is ignored.
        let death = |bd: u64| {
            payload(None, vec![metric(Some("bdSeq"), None, Some(SpDataType::Int64), Some(MetricValue::LongValue(bd)))])
        };
        let m = h.handle_at("spBv1.0/G/NDEATH/E", &death(4), t0()).unwrap();
        assert!(m.metrics.iter().all(|x| x.quality == Quality::Good), "{m:?}");
        assert!(m.warnings.iter().any(|w| w.contains("late will")), "{:?}", m.warnings);
        let m = h.handle_at("spBv1.0/G/NDEATH/E", &death(5), t0()).unwrap();
        assert!(m.warnings.is_empty(), "{:?}", m.warnings);
        let names: Vec<(&str, Option<&str>, &Json)> =
            m.metrics.iter().map(|x| (x.name.as_str(), x.device.as_deref(), &x.value)).collect();
        assert_eq!(
            names,
            [
                ("Temp", None, &Json::from(21.5)),
                ("Count", None, &Json::from(8)),
                ("Speed", Some("D"), &Json::from(0.1))
            ]
        );
        assert!(m.metrics.iter().all(|x| x.quality == Quality::Uncertain));
        let s = m.samples();
        assert_eq!(s[2].address, "G/E/D/Speed");
        assert_eq!(s[2].quality, Quality::Uncertain);
        // Data after death is flagged.
        let m = h.handle_at("spBv1.0/G/NDATA/E", &payload(Some(3), vec![]), t0()).unwrap();
        assert!(m.warnings.iter().any(|w| w.contains("offline")), "{:?}", m.warnings);
    }

    #[test]
    fn every_scalar_and_array_type_decodes() {
        use MetricValue as V;
        use SpDataType as T;
        let cases: Vec<(T, V, Json)> = vec![
            (T::Int8, V::IntValue(0xffff_ff80), Json::from(-128)),
            (T::Int8, V::IntValue(0x80), Json::from(-128)),
            (T::Int16, V::IntValue(0xffff_8000), Json::from(-32768)),
            (T::UInt16, V::IntValue(65535), Json::from(65535)),
            (T::UInt32, V::LongValue(4_000_000_000), Json::from(4_000_000_000u32)),
            (T::UInt32, V::IntValue(4_000_000_000), Json::from(4_000_000_000u32)),
            (T::Int64, V::LongValue(u64::MAX), Json::from(-1)),
            (T::UInt64, V::LongValue(u64::MAX), Json::from(u64::MAX)),
            (T::Float, V::FloatValue(f32::NAN), Json::Null),
            (T::Boolean, V::BooleanValue(true), Json::Bool(true)),
            (T::Uuid, V::StringValue("x".into()), Json::from("x")),
            (T::DateTime, V::LongValue(1_700_000_000_123), Json::from("2023-11-14T22:13:20.123Z")),
            (T::Bytes, V::BytesValue(vec![0, 1, 2, 0xff]), Json::from("AAEC/w==")),
            (T::Int16Array, V::BytesValue(vec![0xff, 0xff, 2, 0]), serde_json::json!([-1, 2])),
            (T::FloatArray, V::BytesValue(1.5f32.to_le_bytes().to_vec()), serde_json::json!([1.5])),
            (
                T::BooleanArray,
                V::BytesValue(vec![12, 0, 0, 0, 0x34, 0xd0]),
                serde_json::json!([false, false, true, true, false, true, false, false, true, true, false, true]),
            ),
            (T::StringArray, V::BytesValue(b"ab\0\0c\0".to_vec()), serde_json::json!(["ab", "", "c"])),
        ];
        for (dt, v, want) in cases {
            let mut w = Ctx::default();
            assert_eq!(metric_value(dt, &v, "m", &mut w), want, "{dt}");
            assert!(w.list.is_empty(), "{dt}: {:?}", w.list);
        }
        // A lying BooleanArray count is cut to the bits present.
        let mut w = Ctx::default();
        let j = metric_value(T::BooleanArray, &V::BytesValue(vec![0xff, 0xff, 0xff, 0xff, 0x80]), "m", &mut w);
        assert_eq!(j.as_array().map(Vec::len), Some(8));
        assert!(w.list[0].contains("only 8 bits"), "{:?}", w.list);
        // A type mismatch is shown as sent, with a warning.
        let mut w = Ctx::default();
        assert_eq!(metric_value(T::Boolean, &V::StringValue("on".into()), "m", &mut w), Json::from("on"));
        assert!(w.list[0].contains("datatype Boolean but the value is sent as string_value"), "{:?}", w.list);
    }

    #[test]
    fn garbage_and_deep_nesting_are_errors_not_panics() {
        assert!(decode_payload(&[0x12, 0xff]).is_err());
        // 200 nested templates: Metric.template_value(18) -> Template.metrics(2) -> ...
        let mut inner: Vec<u8> = Vec::new();
        for _ in 0..200 {
            let mut t = vec![0x12];
            push_len(&mut t, inner.len());
            t.extend_from_slice(&inner);
            let mut m = vec![0x92, 0x01];
            push_len(&mut m, t.len());
            m.extend_from_slice(&t);
            inner = m;
        }
        let mut p = vec![0x12];
        push_len(&mut p, inner.len());
        p.extend_from_slice(&inner);
        let e = decode_payload(&p).unwrap_err();
        assert!(e.reason.contains("nested deeper than 100"), "{e}");
        let mut h = HostState::new();
        let e = h.handle_at("spBv1.0/G/NDATA/E", &p, t0()).unwrap_err().to_string();
        assert!(e.contains("spBv1.0/G/NDATA/E") && e.contains("malformed"), "{e}");
    }

    fn push_len(out: &mut Vec<u8>, mut n: usize) {
        loop {
            let b = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(b);
                return;
            }
            out.push(b | 0x80);
        }
    }

    #[test]
    fn state_messages_decode_both_versions() {
        let mut h = HostState::new();
        let m = h.handle_at("spBv1.0/STATE/scada", br#"{"online":true,"timestamp":1700000000000}"#, t0()).unwrap();
        assert_eq!(m.state, Some(serde_json::json!({"online": true, "timestamp": 1_700_000_000_000u64})));
        assert_eq!(m.timestamp, Some(t0()));
        assert!(m.samples().is_empty());
        let m = h.handle_at("STATE/scada", b"OFFLINE", t0()).unwrap();
        assert_eq!(m.state, Some(Json::from("OFFLINE")));
        assert!(m.warnings.is_empty());
        assert!(h.handle_at("spBv1.0/STATE/scada", &[0xff], t0()).is_err());
        let e = h.handle_at("spBv1.0/STATE/scada", &vec![b' '; 5000], t0()).unwrap_err().to_string();
        assert!(e.contains("5000 bytes"), "{e}");
    }

    #[test]
    fn metric_stays_small_so_many_empty_metrics_cannot_explode_memory() {
        // Each empty Metric costs 2 payload bytes; its in-memory size bounds the amplification.
        assert!(std::mem::size_of::<Metric>() <= 160, "{}", std::mem::size_of::<Metric>());
    }
}
