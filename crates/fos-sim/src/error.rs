//! The one error type of the simulator. Each message names the field, asset, point or event it
//! concerns and what was expected.

use std::io;

/// Anything that can go wrong building, stepping, writing or serving the simulated plant.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// A configuration field is out of range.
    #[error("plant config: {field}: {reason}")]
    Config {
        /// The field, e.g. `vibration.fs_hz`.
        field: String,
        /// What is wrong and what is accepted.
        reason: String,
    },
    /// A scenario file or event is invalid.
    #[error("scenario: {place}: {reason}")]
    Scenario {
        /// Where: the file, the event number and kind, or the field.
        place: String,
        /// What is wrong.
        reason: String,
    },
    /// `Plant::step` was asked to go back in time (or to a non-finite time).
    #[error("cannot step the plant to t = {to_s} s: it is already at t = {now_s} s (time only moves forward)")]
    TimeBackwards {
        /// The plant's time.
        now_s: f64,
        /// The requested time.
        to_s: f64,
    },
    /// No asset of that name.
    #[error("no asset {asset:?} in the plant")]
    UnknownAsset {
        /// The name asked for.
        asset: String,
    },
    /// No point of that name on the asset.
    #[error("asset {asset:?} has no point {point:?}")]
    UnknownPoint {
        /// The asset.
        asset: String,
        /// The point asked for.
        point: String,
    },
    /// A write to a point that is a measurement, not a setting.
    #[error("{asset}.{point} is read-only (a measurement); writable points: {writable}")]
    ReadOnly {
        /// The asset.
        asset: String,
        /// The point.
        point: String,
        /// The asset's writable points, comma-separated (or `none`).
        writable: String,
    },
    /// A write whose value the simulated controller refuses.
    #[error("{asset}.{point}: value {value} refused: {reason}")]
    BadValue {
        /// The asset.
        asset: String,
        /// The point.
        point: String,
        /// The value written.
        value: f64,
        /// The accepted range or rule.
        reason: String,
    },
    /// The vibration synthesiser refused its parameters (a bug in the plant's parameters).
    #[error("vibration synthesis for {asset}: {source}")]
    Signal {
        /// The asset.
        asset: String,
        /// The synthesiser's error.
        source: fos_signal::SignalError,
    },
    /// A server could not start.
    #[error("cannot start the {server} server on {addr}: {source}")]
    Bind {
        /// `modbus` or `opcua`.
        server: &'static str,
        /// The address asked for.
        addr: String,
        /// The operating system's reason.
        source: io::Error,
    },
    /// The OPC UA server's configuration was refused by async-opcua.
    #[error("OPC UA server: {0}")]
    OpcUa(String),
}

impl SimError {
    pub(crate) fn config(field: impl Into<String>, reason: impl Into<String>) -> SimError {
        SimError::Config { field: field.into(), reason: reason.into() }
    }

    pub(crate) fn scenario(place: impl Into<String>, reason: impl Into<String>) -> SimError {
        SimError::Scenario { place: place.into(), reason: reason.into() }
    }
}
