//! Errors of the connectivity layer. Each names the device (endpoint) or the address it concerns
//! and, where the user can do something, what.

use std::io;
use std::time::Duration;

/// Anything that can go wrong talking to a device.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("invalid device URL {url:?}: {reason}")]
    Url { url: String, reason: String },
    #[error("invalid {protocol} address {address:?}: {reason}")]
    Address { protocol: &'static str, address: String, reason: String },
    #[error(
        "cannot connect to {endpoint}: {source} (is the device up and the port right? FOS keeps retrying when polling)"
    )]
    Connect { endpoint: String, source: io::Error },
    #[error("{endpoint}: connection lost: {source}")]
    Io { endpoint: String, source: io::Error },
    #[error("{endpoint}: no reply within {timeout:?}")]
    Timeout { endpoint: String, timeout: Duration },
    #[error("{endpoint}: malformed {protocol} reply: {source}")]
    Frame { endpoint: String, protocol: &'static str, source: FrameError },
    #[error("{endpoint}: the device refused {what}: {reason}")]
    Refused { endpoint: String, what: String, reason: String },
    #[error("{what} is not supported by the {protocol} driver")]
    Unsupported { protocol: &'static str, what: String },
    #[error("the {protocol} driver is not built into this binary (rebuild with `--features {feature}`)")]
    NotBuilt { protocol: &'static str, feature: &'static str },
    #[error("{endpoint}: writes are disabled: the connection is read-only (writes need a permit from the safety gate and a configured gate key)")]
    ReadOnly { endpoint: String },
    #[error("write permit rejected: {0}")]
    Permit(String),
    #[error("{endpoint}: not connected")]
    NotConnected { endpoint: String },
    /// A value (an array) or a reply larger than the limits the connection was opened with; the
    /// connection stays up.
    #[error("{endpoint}: {what} is too large: {reason}")]
    TooLarge { endpoint: String, what: String, reason: String },
    #[error("{0}")]
    Other(String),
}

impl ConnectError {
    /// True when the connection is unusable and should be dropped and re-established
    /// (as opposed to an error about one request or address).
    pub fn is_connection_lost(&self) -> bool {
        matches!(
            self,
            ConnectError::Connect { .. }
                | ConnectError::Io { .. }
                | ConnectError::Timeout { .. }
                | ConnectError::Frame { .. }
                | ConnectError::NotConnected { .. }
        )
    }
}

/// A frame that could not be decoded: what was expected, and the byte offset where it went wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at byte {offset}: {reason}")]
pub struct FrameError {
    pub offset: usize,
    pub reason: String,
}

impl FrameError {
    pub fn new(offset: usize, reason: impl Into<String>) -> FrameError {
        FrameError { offset, reason: reason.into() }
    }
}
