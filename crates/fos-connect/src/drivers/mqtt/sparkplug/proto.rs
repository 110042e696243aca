//! The Sparkplug B payload messages, declared by hand from Eclipse Tahu's `sparkplug_b.proto`
//! (package `org.eclipse.tahu.protobuf`, proto2; Sparkplug 3.0 ch. 6 "Payloads") with
//! `prost`'s derive, so no `protoc` or build script is needed.
//!
//! Field numbers and wire types are those of the `.proto`; the `extensions` ranges are
//! declared as empty messages (their content, if any, is skipped). Sub-messages that would make a
//! [`Metric`] large in memory are boxed (an empty metric is 2 bytes on the wire). Use
//! [`decode_payload`](super::decode_payload), which refuses "protobuf bombs" before `prost` runs,
//! rather than `Payload::decode` directly.

/// The top-level payload of every Sparkplug B message except STATE.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Payload {
    /// Milliseconds since the Unix epoch (UTC) when the payload was created.
    #[prost(uint64, optional, tag = "1")]
    pub timestamp: Option<u64>,
    #[prost(message, repeated, tag = "2")]
    pub metrics: Vec<Metric>,
    /// Message sequence number, 0-255 (absent in NDEATH and commands).
    #[prost(uint64, optional, tag = "3")]
    pub seq: Option<u64>,
    #[prost(string, optional, tag = "4")]
    pub uuid: Option<String>,
    #[prost(bytes = "vec", optional, tag = "5")]
    pub body: Option<Vec<u8>>,
}

/// One metric: a name (or, outside births, possibly only an alias), a datatype and a value.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Metric {
    #[prost(string, optional, tag = "1")]
    pub name: Option<String>,
    #[prost(uint64, optional, tag = "2")]
    pub alias: Option<u64>,
    /// Milliseconds since the Unix epoch (UTC) when the value was sampled.
    #[prost(uint64, optional, tag = "3")]
    pub timestamp: Option<u64>,
    /// A Tahu `DataType` code (see `SpDataType`).
    #[prost(uint32, optional, tag = "4")]
    pub datatype: Option<u32>,
    #[prost(bool, optional, tag = "5")]
    pub is_historical: Option<bool>,
    #[prost(bool, optional, tag = "6")]
    pub is_transient: Option<bool>,
    #[prost(bool, optional, tag = "7")]
    pub is_null: Option<bool>,
    #[prost(message, optional, boxed, tag = "8")]
    pub metadata: Option<Box<MetaData>>,
    #[prost(message, optional, boxed, tag = "9")]
    pub properties: Option<Box<PropertySet>>,
    #[prost(oneof = "MetricValue", tags = "10, 11, 12, 13, 14, 15, 16, 17, 18, 19")]
    pub value: Option<MetricValue>,
}

/// `Metric.value`.
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum MetricValue {
    /// Int8, Int16, Int32, UInt8, UInt16 (and UInt32 by some encoders).
    #[prost(uint32, tag = "10")]
    IntValue(u32),
    /// Int64, UInt32, UInt64, DateTime.
    #[prost(uint64, tag = "11")]
    LongValue(u64),
    #[prost(float, tag = "12")]
    FloatValue(f32),
    #[prost(double, tag = "13")]
    DoubleValue(f64),
    #[prost(bool, tag = "14")]
    BooleanValue(bool),
    /// String, Text, UUID.
    #[prost(string, tag = "15")]
    StringValue(String),
    /// Bytes, File and the array types.
    #[prost(bytes = "vec", tag = "16")]
    BytesValue(Vec<u8>),
    #[prost(message, boxed, tag = "17")]
    DatasetValue(Box<DataSet>),
    #[prost(message, boxed, tag = "18")]
    TemplateValue(Box<Template>),
    #[prost(message, tag = "19")]
    ExtensionValue(Extension),
}

/// Any `extensions` message: its content is not interpreted.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Extension {}

/// `Payload.MetaData`: describes bytes/file values and multi-part messages.
#[derive(Clone, PartialEq, prost::Message)]
pub struct MetaData {
    #[prost(bool, optional, tag = "1")]
    pub is_multi_part: Option<bool>,
    #[prost(string, optional, tag = "2")]
    pub content_type: Option<String>,
    #[prost(uint64, optional, tag = "3")]
    pub size: Option<u64>,
    #[prost(uint64, optional, tag = "4")]
    pub seq: Option<u64>,
    #[prost(string, optional, tag = "5")]
    pub file_name: Option<String>,
    #[prost(string, optional, tag = "6")]
    pub file_type: Option<String>,
    #[prost(string, optional, tag = "7")]
    pub md5: Option<String>,
    #[prost(string, optional, tag = "8")]
    pub description: Option<String>,
}

/// `Payload.PropertySet`: parallel lists of keys and values (e.g. `engUnit`, `Quality`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct PropertySet {
    #[prost(string, repeated, tag = "1")]
    pub keys: Vec<String>,
    #[prost(message, repeated, tag = "2")]
    pub values: Vec<PropertyValue>,
}

/// `Payload.PropertySetList`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PropertySetList {
    #[prost(message, repeated, tag = "1")]
    pub propertyset: Vec<PropertySet>,
}

/// `Payload.PropertyValue`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PropertyValue {
    #[prost(uint32, optional, tag = "1")]
    pub r#type: Option<u32>,
    #[prost(bool, optional, tag = "2")]
    pub is_null: Option<bool>,
    #[prost(oneof = "PropertyValueKind", tags = "3, 4, 5, 6, 7, 8, 9, 10, 11")]
    pub value: Option<PropertyValueKind>,
}

/// `PropertyValue.value`.
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum PropertyValueKind {
    #[prost(uint32, tag = "3")]
    IntValue(u32),
    #[prost(uint64, tag = "4")]
    LongValue(u64),
    #[prost(float, tag = "5")]
    FloatValue(f32),
    #[prost(double, tag = "6")]
    DoubleValue(f64),
    #[prost(bool, tag = "7")]
    BooleanValue(bool),
    #[prost(string, tag = "8")]
    StringValue(String),
    #[prost(message, boxed, tag = "9")]
    PropertysetValue(Box<PropertySet>),
    #[prost(message, boxed, tag = "10")]
    PropertysetsValue(Box<PropertySetList>),
    #[prost(message, tag = "11")]
    ExtensionValue(Extension),
}

/// `Payload.DataSet`: a table with typed columns.
#[derive(Clone, PartialEq, prost::Message)]
pub struct DataSet {
    #[prost(uint64, optional, tag = "1")]
    pub num_of_columns: Option<u64>,
    #[prost(string, repeated, tag = "2")]
    pub columns: Vec<String>,
    /// Tahu `DataType` codes, one per column.
    #[prost(uint32, repeated, packed = "false", tag = "3")]
    pub types: Vec<u32>,
    #[prost(message, repeated, tag = "4")]
    pub rows: Vec<Row>,
}

/// `DataSet.Row`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Row {
    #[prost(message, repeated, tag = "1")]
    pub elements: Vec<DataSetValue>,
}

/// `DataSet.DataSetValue`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct DataSetValue {
    #[prost(oneof = "ElementValue", tags = "1, 2, 3, 4, 5, 6, 7")]
    pub value: Option<ElementValue>,
}

/// `DataSetValue.value` (and, with other tags, `Template.Parameter.value`).
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum ElementValue {
    #[prost(uint32, tag = "1")]
    IntValue(u32),
    #[prost(uint64, tag = "2")]
    LongValue(u64),
    #[prost(float, tag = "3")]
    FloatValue(f32),
    #[prost(double, tag = "4")]
    DoubleValue(f64),
    #[prost(bool, tag = "5")]
    BooleanValue(bool),
    #[prost(string, tag = "6")]
    StringValue(String),
    #[prost(message, tag = "7")]
    ExtensionValue(Extension),
}

/// `Payload.Template`: a UDT definition (`is_definition`) or instance (`template_ref`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Template {
    #[prost(string, optional, tag = "1")]
    pub version: Option<String>,
    #[prost(message, repeated, tag = "2")]
    pub metrics: Vec<Metric>,
    #[prost(message, repeated, tag = "3")]
    pub parameters: Vec<Parameter>,
    #[prost(string, optional, tag = "4")]
    pub template_ref: Option<String>,
    #[prost(bool, optional, tag = "5")]
    pub is_definition: Option<bool>,
}

/// `Template.Parameter`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Parameter {
    #[prost(string, optional, tag = "1")]
    pub name: Option<String>,
    #[prost(uint32, optional, tag = "2")]
    pub r#type: Option<u32>,
    #[prost(oneof = "ParameterValue", tags = "3, 4, 5, 6, 7, 8, 9")]
    pub value: Option<ParameterValue>,
}

/// `Template.Parameter.value`.
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum ParameterValue {
    #[prost(uint32, tag = "3")]
    IntValue(u32),
    #[prost(uint64, tag = "4")]
    LongValue(u64),
    #[prost(float, tag = "5")]
    FloatValue(f32),
    #[prost(double, tag = "6")]
    DoubleValue(f64),
    #[prost(bool, tag = "7")]
    BooleanValue(bool),
    #[prost(string, tag = "8")]
    StringValue(String),
    #[prost(message, tag = "9")]
    ExtensionValue(Extension),
}
