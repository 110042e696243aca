//! FOS connectivity: read telemetry from controllers in their native protocols.
//!
//! - [`Connection`]: the one source interface, over a driver chosen by the URL's scheme
//!   (`modbus://`, `opcua://`, `s7://`, `enip://`, `melsec://`); each driver is a module under
//!   [`drivers`] and a cargo feature.
//! - [`Connection::read_array`]: a numeric array (an OPC UA waveform block) read whole, as an
//!   [`ArraySample`] (OPC UA only; other drivers say it is not supported).
//! - [`poll`]: polling groups with per-group intervals, pacing, reconnect with backoff.
//! - [`drivers::mqtt`]: MQTT subscriptions and the Sparkplug B codec.
//! - Writes exist in every driver but are reachable only through [`Connection::write`] with a
//!   [`WritePermit`] signed by the safety gate; a read-only connection (the default) has no path
//!   to a write.
//! - Hand-written frame parsers (S7comm, CIP, MC) read untrusted bytes only through
//!   [`frame::FrameReader`]; they are fuzzed (`fuzz/`) and their corpus is replayed in tests.

pub mod config;
pub mod driver;
pub mod drivers;
pub mod error;
pub mod frame;
pub mod permit;
pub mod poll;
pub mod sample;
pub mod url;
pub mod value;

pub use driver::{BrowseEntry, ConnectOptions, Connection, PlanId, WriteAccess};
pub use error::{ConnectError, FrameError};
pub use permit::WritePermit;
pub use sample::{ArraySample, Quality, Sample, TimeSource};
pub use url::{DeviceUrl, Protocol};
pub use value::{DataType, Value, WordOrder};
