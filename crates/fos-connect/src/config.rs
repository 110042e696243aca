//! The connectivity configuration file (TOML), as `fos poll` reads it.
//!
//! ```toml
//! [[device]]
//! name = "press-1"                          # optional, defaults to the URL
//! url = "modbus://127.0.0.1:502?unit=1"
//! timeout_ms = 3000                         # default 3000: per request and per connect
//! min_request_gap_ms = 0                    # default 0: least time between two requests
//! reconnect_initial_ms = 250                # default 250: first retry delay, doubling
//! reconnect_max_ms = 30000                  # default 30000: longest retry delay
//! # gate_key = "<64 hex chars>"             # absent = read-only (the default)
//!
//! [[device.group]]
//! name = "fast"
//! interval_ms = 100
//! tags = ["hr:0", "ir:5:f32"]
//! ```

use std::time::Duration;

use serde::Deserialize;

use crate::driver::{ConnectOptions, WriteAccess};
use crate::error::ConnectError;
use crate::permit::parse_verifying_key;
use crate::poll::{Backoff, PollGroup};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectConfig {
    #[serde(default)]
    pub device: Vec<DeviceConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceConfig {
    pub name: Option<String>,
    pub url: String,
    #[serde(default = "default_timeout")]
    pub timeout_ms: u64,
    #[serde(default)]
    pub min_request_gap_ms: u64,
    #[serde(default = "default_initial")]
    pub reconnect_initial_ms: u64,
    #[serde(default = "default_max")]
    pub reconnect_max_ms: u64,
    pub gate_key: Option<String>,
    #[serde(default)]
    pub group: Vec<GroupConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupConfig {
    pub name: String,
    pub interval_ms: u64,
    pub tags: Vec<String>,
}

fn default_timeout() -> u64 {
    3000
}
fn default_initial() -> u64 {
    250
}
fn default_max() -> u64 {
    30_000
}

impl ConnectConfig {
    /// Parse the file's text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<ConnectConfig, ConnectError> {
        let c: ConnectConfig = toml::from_str(text).map_err(|e| ConnectError::Other(format!("{origin}: {e}")))?;
        for (i, d) in c.device.iter().enumerate() {
            let at = format!("{origin}: device {} ({})", i + 1, d.name.as_deref().unwrap_or(&d.url));
            if d.timeout_ms == 0 {
                return Err(ConnectError::Other(format!("{at}: timeout_ms must be above 0")));
            }
            for g in &d.group {
                if g.interval_ms == 0 {
                    return Err(ConnectError::Other(format!("{at}: group {:?}: interval_ms must be above 0", g.name)));
                }
                if g.tags.is_empty() {
                    return Err(ConnectError::Other(format!("{at}: group {:?} has no tags", g.name)));
                }
            }
        }
        Ok(c)
    }
}

impl DeviceConfig {
    pub fn options(&self) -> Result<ConnectOptions, ConnectError> {
        Ok(ConnectOptions {
            timeout: Duration::from_millis(self.timeout_ms),
            min_request_gap: Duration::from_millis(self.min_request_gap_ms),
            write_access: match &self.gate_key {
                None => WriteAccess::ReadOnly,
                Some(k) => WriteAccess::Gate(parse_verifying_key(k)?),
            },
        })
    }

    pub fn backoff(&self) -> Backoff {
        Backoff::new(Duration::from_millis(self.reconnect_initial_ms), Duration::from_millis(self.reconnect_max_ms))
    }

    pub fn groups(&self) -> Vec<PollGroup> {
        self.group
            .iter()
            .map(|g| PollGroup {
                name: g.name.clone(),
                interval: Duration::from_millis(g.interval_ms),
                addresses: g.tags.clone(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_example_parses_with_defaults() {
        let text = "[[device]]\nurl = \"modbus://127.0.0.1:502?unit=1\"\n[[device.group]]\nname = \"fast\"\ninterval_ms = 100\ntags = [\"hr:0\"]\n";
        let c = ConnectConfig::parse(text, "c.toml").unwrap();
        let d = &c.device[0];
        assert_eq!((d.timeout_ms, d.min_request_gap_ms, d.reconnect_initial_ms), (3000, 0, 250));
        assert!(matches!(d.options().unwrap().write_access, WriteAccess::ReadOnly));
        assert_eq!(d.groups()[0].interval, Duration::from_millis(100));
    }

    #[test]
    fn typos_and_zero_intervals_are_errors_naming_the_place() {
        let e = ConnectConfig::parse("[[device]]\nurl=\"x\"\ntimeout=1\n", "c.toml").unwrap_err().to_string();
        assert!(e.contains("c.toml") && e.contains("timeout"), "{e}");
        let e = ConnectConfig::parse(
            "[[device]]\nurl=\"x\"\n[[device.group]]\nname=\"g\"\ninterval_ms=0\ntags=[\"a\"]\n",
            "c.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("group \"g\"") && e.contains("interval_ms"), "{e}");
    }
}
