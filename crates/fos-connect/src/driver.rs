//! The one source interface: [`Connection`] over a protocol driver.
//!
//! Drivers implement the crate-private [`Driver`] trait, so nothing outside this crate can call a
//! driver's write directly: the only path to a write is [`Connection::write`], which demands a
//! [`WritePermit`] signed by the safety gate and a connection opened with [`WriteAccess::Gate`].

use std::collections::HashSet;
use std::fmt;
use std::future::Future;
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use ed25519_dalek::VerifyingKey;
use serde::Serialize;
use tokio::sync::mpsc;

use crate::error::ConnectError;
use crate::permit::WritePermit;
use crate::sample::{ArraySample, Sample};
use crate::url::{DeviceUrl, Protocol};
use crate::value::{DataType, Value};

/// Whether a connection may write, and whose permits it accepts.
#[derive(Debug, Clone, Default)]
pub enum WriteAccess {
    /// No writes at all (the default).
    #[default]
    ReadOnly,
    /// Writes with a permit signed by the gate holding this key.
    Gate(VerifyingKey),
}

/// How a connection behaves. Defaults: 3 s timeout per request, no extra gap between requests
/// (one request in flight at a time is always kept), read-only.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// Longest wait for a connect or for one request's reply.
    pub timeout: Duration,
    /// Least time between the start of two requests on this connection, so a slow PLC is never
    /// flooded (a split read of many requests is paced too).
    pub min_request_gap: Duration,
    pub write_access: WriteAccess,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            timeout: Duration::from_secs(3),
            min_request_gap: Duration::ZERO,
            write_access: WriteAccess::ReadOnly,
        }
    }
}

/// A prepared read: a set of addresses parsed and split into requests once, read many times.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PlanId(pub(crate) usize);

/// One entry of a device's tag or node list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BrowseEntry {
    /// The address to give `fos read` for this entry.
    pub address: String,
    /// Display name.
    pub name: String,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub dtype: Option<DataType>,
    /// Protocol-specific kind: "variable", "object", "tag", "program", ...
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// What every protocol driver does. Crate-private on purpose (see the module docs).
#[async_trait]
pub(crate) trait Driver: Send + fmt::Debug {
    /// Open the transport and do the protocol's handshake.
    async fn connect(&mut self) -> Result<(), ConnectError>;
    /// Drop the transport (idempotent).
    async fn disconnect(&mut self);
    fn is_connected(&self) -> bool;
    /// Parse the addresses and plan the requests that read them (no I/O). An address the driver
    /// cannot parse is an error here, naming the address.
    fn prepare(&mut self, addresses: &[String]) -> Result<PlanId, ConnectError>;
    /// Number of requests one read of `plan` takes (after batching and splitting).
    fn plan_requests(&self, plan: PlanId) -> usize;
    /// Read a plan: one sample per address, in order. Per-item failures become bad-quality
    /// samples; an `Err` means the connection itself failed (see [`ConnectError::is_connection_lost`]).
    async fn read(&mut self, plan: PlanId) -> Result<Vec<Sample>, ConnectError>;
    /// List the device's tags or nodes.
    async fn browse(&mut self) -> Result<Vec<BrowseEntry>, ConnectError> {
        Err(ConnectError::Unsupported { protocol: self.protocol().scheme(), what: "browsing".into() })
    }
    /// Server-side subscription (OPC UA): push samples on change until the sender closes.
    async fn subscribe(
        &mut self,
        _addresses: &[String],
        _interval: Duration,
        _tx: mpsc::Sender<Sample>,
    ) -> Result<(), ConnectError> {
        Err(ConnectError::Unsupported { protocol: self.protocol().scheme(), what: "subscriptions".into() })
    }
    /// Check that `address` can be read as an array (no I/O): unsupported by default.
    fn check_array(&self, _address: &str) -> Result<(), ConnectError> {
        Err(ConnectError::Unsupported { protocol: self.protocol().scheme(), what: "reading arrays".into() })
    }
    /// Read one numeric array whole. A device-side failure of the item is a bad-quality sample;
    /// an array above the driver's limit is [`ConnectError::TooLarge`]; an `Err` that
    /// [`ConnectError::is_connection_lost`] means the connection failed.
    async fn read_array(&mut self, _address: &str) -> Result<ArraySample, ConnectError> {
        Err(ConnectError::Unsupported { protocol: self.protocol().scheme(), what: "reading arrays".into() })
    }
    /// Write one value. Only [`Connection::write`] calls this, after checking the permit.
    async fn write(&mut self, address: &str, value: &Value) -> Result<(), ConnectError>;
    fn protocol(&self) -> Protocol;
}

/// Keeps requests on one connection at least `gap` apart.
#[derive(Debug, Clone)]
pub(crate) struct Pacer {
    gap: Duration,
    last: Option<Instant>,
}

impl Pacer {
    pub(crate) fn new(gap: Duration) -> Pacer {
        Pacer { gap, last: None }
    }

    /// Wait until the next request may start, and record that it starts now.
    pub(crate) async fn wait(&mut self) {
        if let Some(last) = self.last {
            let next = last + self.gap;
            let now = Instant::now();
            if next > now {
                tokio::time::sleep(next - now).await;
            }
        }
        self.last = Some(Instant::now());
    }
}

/// Run one request with the connection's timeout, mapping elapsed time to [`ConnectError::Timeout`].
pub(crate) async fn timed<T>(
    endpoint: &str,
    timeout: Duration,
    fut: impl Future<Output = Result<T, ConnectError>>,
) -> Result<T, ConnectError> {
    match tokio::time::timeout(timeout, fut).await {
        Ok(r) => r,
        Err(_) => Err(ConnectError::Timeout { endpoint: endpoint.to_string(), timeout }),
    }
}

/// A connection to one device: the source interface the CLI, the poller and the pipeline use.
#[derive(Debug)]
pub struct Connection {
    url: DeviceUrl,
    options: ConnectOptions,
    driver: Box<dyn Driver>,
    used_permits: HashSet<String>,
}

impl Connection {
    /// Choose the driver for the URL's scheme and check its parameters. No I/O.
    pub fn new(url: &str, options: ConnectOptions) -> Result<Connection, ConnectError> {
        let url = DeviceUrl::parse(url)?;
        let driver = build_driver(&url, &options)?;
        Ok(Connection { url, options, driver, used_permits: HashSet::new() })
    }

    pub fn url(&self) -> &DeviceUrl {
        &self.url
    }

    pub fn options(&self) -> &ConnectOptions {
        &self.options
    }

    pub fn is_read_only(&self) -> bool {
        matches!(self.options.write_access, WriteAccess::ReadOnly)
    }

    pub async fn connect(&mut self) -> Result<(), ConnectError> {
        let endpoint = self.url.endpoint();
        let r = timed(&endpoint, self.options.timeout, self.driver.connect()).await;
        if r.is_err() {
            self.driver.disconnect().await;
        }
        r
    }

    pub fn is_connected(&self) -> bool {
        self.driver.is_connected()
    }

    pub async fn disconnect(&mut self) {
        self.driver.disconnect().await
    }

    pub fn prepare(&mut self, addresses: &[String]) -> Result<PlanId, ConnectError> {
        self.driver.prepare(addresses)
    }

    pub fn plan_requests(&self, plan: PlanId) -> usize {
        self.driver.plan_requests(plan)
    }

    /// Read a prepared plan. On a connection-level failure the transport is dropped, so the next
    /// call (or the poller) reconnects.
    pub async fn read(&mut self, plan: PlanId) -> Result<Vec<Sample>, ConnectError> {
        if !self.driver.is_connected() {
            return Err(ConnectError::NotConnected { endpoint: self.url.endpoint() });
        }
        let r = self.driver.read(plan).await;
        if let Err(e) = &r {
            if e.is_connection_lost() {
                self.driver.disconnect().await;
            }
        }
        r
    }

    /// Connect if needed, then read these addresses once.
    pub async fn read_once(&mut self, addresses: &[String]) -> Result<Vec<Sample>, ConnectError> {
        let plan = self.prepare(addresses)?;
        if !self.is_connected() {
            self.connect().await?;
        }
        self.read(plan).await
    }

    /// Whether [`Connection::read_array`] can read `address` on this device: the driver reads
    /// arrays and the address parses. No I/O.
    pub fn check_array(&self, address: &str) -> Result<(), ConnectError> {
        self.driver.check_array(address)
    }

    /// Read one numeric array (an OPC UA array node, such as a vibration block) whole, connecting
    /// first if needed. Drivers other than OPC UA answer [`ConnectError::Unsupported`] without any
    /// I/O. An array longer than the driver's limit (OPC UA: the `max_array` URL parameter) is
    /// refused with [`ConnectError::TooLarge`] naming the limit, and the connection stays up; a
    /// node that is missing, not an array or not numeric gives a bad-quality sample. On a
    /// connection-level failure the transport is dropped, as in [`Connection::read`].
    pub async fn read_array(&mut self, address: &str) -> Result<ArraySample, ConnectError> {
        self.driver.check_array(address)?;
        if !self.is_connected() {
            self.connect().await?;
        }
        let r = self.driver.read_array(address).await;
        if let Err(e) = &r {
            if e.is_connection_lost() {
                self.driver.disconnect().await;
            }
        }
        r
    }

    pub async fn browse(&mut self) -> Result<Vec<BrowseEntry>, ConnectError> {
        if !self.is_connected() {
            self.connect().await?;
        }
        self.driver.browse().await
    }

    pub async fn subscribe(
        &mut self,
        addresses: &[String],
        interval: Duration,
        tx: mpsc::Sender<Sample>,
    ) -> Result<(), ConnectError> {
        if !self.is_connected() {
            self.connect().await?;
        }
        self.driver.subscribe(addresses, interval, tx).await
    }

    /// Write the permit's value to the permit's address. Refused, with nothing sent, when the
    /// connection is read-only, or the permit is for another device, expired, altered, signed by
    /// another key, or already used on this connection.
    pub async fn write(&mut self, permit: &WritePermit) -> Result<(), ConnectError> {
        let WriteAccess::Gate(key) = &self.options.write_access else {
            return Err(ConnectError::ReadOnly { endpoint: self.url.endpoint() });
        };
        permit.verify(key, &self.url.endpoint(), SystemTime::now())?;
        if self.used_permits.contains(&permit.id) {
            return Err(ConnectError::Permit(format!("permit {:?} was already used", permit.id)));
        }
        if !self.is_connected() {
            self.connect().await?;
        }
        self.used_permits.insert(permit.id.clone());
        self.driver.write(&permit.address, &permit.value).await
    }
}

fn build_driver(url: &DeviceUrl, options: &ConnectOptions) -> Result<Box<dyn Driver>, ConnectError> {
    #[allow(unused_variables)]
    let not_built = |p: Protocol| ConnectError::NotBuilt { protocol: p.scheme(), feature: p.feature() };
    match url.protocol {
        #[cfg(feature = "modbus")]
        Protocol::Modbus => Ok(Box::new(crate::drivers::modbus::ModbusDriver::new(url, options)?)),
        #[cfg(feature = "opcua")]
        Protocol::OpcUa => Ok(Box::new(crate::drivers::opcua::OpcUaDriver::new(url, options)?)),
        #[cfg(feature = "s7")]
        Protocol::S7 => Ok(Box::new(crate::drivers::s7::S7Driver::new(url, options)?)),
        #[cfg(feature = "enip")]
        Protocol::Enip => Ok(Box::new(crate::drivers::enip::EnipDriver::new(url, options)?)),
        #[cfg(feature = "melsec")]
        Protocol::Melsec => Ok(Box::new(crate::drivers::melsec::MelsecDriver::new(url, options)?)),
        Protocol::Mqtt => Err(ConnectError::Unsupported {
            protocol: "mqtt",
            what: "polled reads (MQTT is publish/subscribe: use `fos subscribe`)".into(),
        }),
        #[allow(unreachable_patterns)]
        p => Err(not_built(p)),
    }
}
