//! One module per protocol, each behind its cargo feature.

#[cfg(feature = "enip")]
pub mod enip;
#[cfg(feature = "melsec")]
pub mod melsec;
#[cfg(feature = "modbus")]
pub mod modbus;
#[cfg(feature = "mqtt")]
pub mod mqtt;
#[cfg(feature = "opcua")]
pub mod opcua;
#[cfg(feature = "s7")]
pub mod s7;
