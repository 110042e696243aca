//! Device URLs: `modbus://host:port?unit=1`, `opcua://host:port/path`, `s7://host:port?rack=0&slot=1`,
//! `enip://host:port`, `melsec://host:port?frame=3e`, `mqtt://host:port`.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use crate::error::ConnectError;

/// The protocols FOS speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    Modbus,
    OpcUa,
    S7,
    Enip,
    Melsec,
    Mqtt,
}

impl Protocol {
    pub fn scheme(self) -> &'static str {
        match self {
            Protocol::Modbus => "modbus",
            Protocol::OpcUa => "opcua",
            Protocol::S7 => "s7",
            Protocol::Enip => "enip",
            Protocol::Melsec => "melsec",
            Protocol::Mqtt => "mqtt",
        }
    }

    /// The port the protocol's devices listen on by default.
    pub fn default_port(self) -> u16 {
        match self {
            Protocol::Modbus => 502,
            Protocol::OpcUa => 4840,
            Protocol::S7 => 102,
            Protocol::Enip => 44818,
            Protocol::Melsec => 5007,
            Protocol::Mqtt => 1883,
        }
    }

    /// The cargo feature that builds the driver.
    pub fn feature(self) -> &'static str {
        match self {
            Protocol::OpcUa => "opcua",
            p => p.scheme(),
        }
    }

    fn from_scheme(s: &str) -> Option<Protocol> {
        Some(match s {
            "modbus" | "modbus+tcp" => Protocol::Modbus,
            "opcua" | "opc.tcp" => Protocol::OpcUa,
            "s7" => Protocol::S7,
            "enip" | "logix" => Protocol::Enip,
            "melsec" | "mc" | "slmp" => Protocol::Melsec,
            "mqtt" => Protocol::Mqtt,
            _ => return None,
        })
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.scheme())
    }
}

/// A parsed device URL. Query parameters are checked by the driver against the ones it knows,
/// so a typo (`?unti=1`) is an error rather than silently ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceUrl {
    pub raw: String,
    pub protocol: Protocol,
    pub host: String,
    pub port: u16,
    /// Path without the leading slash ("" when none).
    pub path: String,
    pub params: BTreeMap<String, String>,
}

impl DeviceUrl {
    pub fn parse(raw: &str) -> Result<DeviceUrl, ConnectError> {
        let err = |reason: String| ConnectError::Url { url: raw.to_string(), reason };
        let u = url::Url::parse(raw).map_err(|e| err(format!("{e} (expected e.g. modbus://127.0.0.1:502?unit=1)")))?;
        let protocol = Protocol::from_scheme(u.scheme()).ok_or_else(|| {
            err(format!("unknown scheme {:?} (expected modbus, opcua, s7, enip, melsec or mqtt)", u.scheme()))
        })?;
        let host = u.host_str().filter(|h| !h.is_empty()).ok_or_else(|| err("no host".into()))?;
        let host = host.trim_start_matches('[').trim_end_matches(']').to_string();
        let port = u.port().unwrap_or(protocol.default_port());
        let mut params = BTreeMap::new();
        for (k, v) in u.query_pairs() {
            if params.insert(k.to_string(), v.to_string()).is_some() {
                return Err(err(format!("parameter {k:?} given twice")));
            }
        }
        Ok(DeviceUrl {
            raw: raw.to_string(),
            protocol,
            host,
            port,
            path: u.path().trim_start_matches('/').to_string(),
            params,
        })
    }

    /// `scheme://host:port`, for messages.
    pub fn endpoint(&self) -> String {
        if self.host.contains(':') {
            format!("{}://[{}]:{}", self.protocol, self.host, self.port)
        } else {
            format!("{}://{}:{}", self.protocol, self.host, self.port)
        }
    }

    /// `host:port` for a socket connect.
    pub fn socket_addr(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// Refuse parameters the driver does not know.
    pub fn check_params(&self, known: &[&str]) -> Result<(), ConnectError> {
        for k in self.params.keys() {
            if !known.contains(&k.as_str()) {
                return Err(ConnectError::Url {
                    url: self.raw.clone(),
                    reason: format!("unknown parameter {k:?} for {} (known: {})", self.protocol, known.join(", ")),
                });
            }
        }
        Ok(())
    }

    /// A typed query parameter, or `default` when absent.
    pub fn param<T: FromStr>(&self, key: &str, default: T) -> Result<T, ConnectError>
    where
        T::Err: fmt::Display,
    {
        match self.params.get(key) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|e| ConnectError::Url {
                url: self.raw.clone(),
                reason: format!("parameter {key}={v:?}: {e}"),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_documented_form() {
        let u = DeviceUrl::parse("modbus://127.0.0.1:15020?unit=1").unwrap();
        assert_eq!((u.protocol, u.host.as_str(), u.port), (Protocol::Modbus, "127.0.0.1", 15020));
        assert_eq!(u.param::<u8>("unit", 0).unwrap(), 1);
        let u = DeviceUrl::parse("opcua://plc.local:4840/UA/Test").unwrap();
        assert_eq!(u.path, "UA/Test");
        let u = DeviceUrl::parse("s7://10.0.0.5?rack=0&slot=1").unwrap();
        assert_eq!(u.port, 102);
        assert_eq!(DeviceUrl::parse("enip://h").unwrap().port, 44818);
        assert_eq!(DeviceUrl::parse("melsec://h:5000?frame=3e").unwrap().params["frame"], "3e");
        assert_eq!(DeviceUrl::parse("mqtt://[::1]:1883").unwrap().socket_addr(), "[::1]:1883");
    }

    #[test]
    fn errors_name_the_problem() {
        let e = DeviceUrl::parse("ftp://h").unwrap_err().to_string();
        assert!(e.contains("unknown scheme"), "{e}");
        let u = DeviceUrl::parse("modbus://h?unti=1").unwrap();
        let e = u.check_params(&["unit"]).unwrap_err().to_string();
        assert!(e.contains("unknown parameter \"unti\""), "{e}");
        let u = DeviceUrl::parse("modbus://h?unit=x").unwrap();
        assert!(u.param::<u8>("unit", 1).unwrap_err().to_string().contains("unit=\"x\""));
        assert!(DeviceUrl::parse("modbus://h?unit=1&unit=2").is_err());
    }
}
