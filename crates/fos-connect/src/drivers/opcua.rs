//! OPC UA client driver (`opcua://host:port/path`), on the `async-opcua` crate (client side).
//!
//! What of OPC UA (IEC 62541) this driver uses; the encoding, secure channel and session
//! handshake are the crate's:
//!
//! - Transport: UA TCP binary (Part 6 §7.1), endpoint `opc.tcp://host:port/path`, discovered
//!   with GetEndpoints (Part 4 §5.4.4). **Only SecurityPolicy None with MessageSecurityMode None
//!   and the anonymous user identity token is supported and tested**; any other `security=` value
//!   is refused when the URL is checked.
//! - Session: CreateSession/ActivateSession (Part 4 §5.6). The crate's own reconnect is off
//!   (`session_retry_limit(0)` and reconnects disabled): when the transport drops, the session's
//!   event loop ends and the driver reports the connection lost, so that [`crate::Connection`]
//!   and the poller own reconnects and backoff. `disconnect` closes the session (CloseSession,
//!   CloseSecureChannel) and stops the event loop task.
//! - Read (Part 4 §5.10.2): one Read request per chunk of at most `max_nodes` nodes (URL
//!   parameter, default 500) and at most the server's
//!   `ServerCapabilities/OperationLimits/MaxNodesPerRead` (i=11705, read after connecting),
//!   `TimestampsToReturn::Both`, `maxAge` 0 (a fresh value from the data source).
//! - Array reads ([`crate::Connection::read_array`], Part 4 §5.10.2 with an IndexRange,
//!   §7.27): one Read of the node's Value with `IndexRange` `0:<max_array>`, so a server that
//!   honours ranges sends at most `max_array + 1` elements; a server that answers
//!   Bad_IndexRangeNoData (an empty array), Bad_IndexRangeInvalid or Bad_IndexRangeDataMismatch (a
//!   scalar, or no ranges here) is asked once more for the whole value. The elements of a
//!   one-dimensional array of a numeric built-in type (Boolean to Double) become an
//!   [`ArraySample`]; a scalar, a matrix or a non-numeric array is a `bad_type_mismatch` sample. An
//!   array of more than `max_array` elements is refused with [`ConnectError::TooLarge`] naming the
//!   limit.
//! - Decoding limits (what the client accepts, announced to the server in Hello, Part 6 §7.1.2.3):
//!   `max_array` (URL parameter, default 131 072 = 2.56 s at 51.2 kHz, at most 16 777 216) sets
//!   the largest message to `8·(max_array + 1) + 64 KiB` bytes (at least async-opcua's default of
//!   327 675), the chunk count to that size over the smallest chunk a server may use (8 192 bytes),
//!   and the largest array the decoder takes to that many elements (so any array that fits a
//!   message decodes, and `max_array` is then checked on it). A reply with more chunks than that
//!   (a server that ignores the IndexRange and our limits) is dropped by the client
//!   (`BadEncodingLimitsExceeded`) with the connection kept; a server that keeps our limits answers
//!   `BadResponseTooLarge`. Both are [`ConnectError::TooLarge`], not a lost connection.
//! - Write (Part 4 §5.10.4): the node's Value and DataType attributes are read first, and the
//!   value is sent as a Variant of the node's current built-in type (Part 6 §5.1.2).
//! - Browse (Part 4 §5.8.2, §5.8.3 BrowseNext): from the Objects folder (i=85), forward
//!   HierarchicalReferences (i=33) with subtypes, Object and Variable nodes only, breadth first to
//!   `depth` levels (URL parameter, default 6); the variables' DataType attributes are then read.
//! - Subscriptions (Part 4 §5.13, §5.12): one subscription with publishing interval = the
//!   requested interval, one monitored item per address (sampling interval = the same), a data
//!   change notification becomes one [`Sample`].
//!
//! Addresses are node ids in the string form of Part 6 §5.3.1.10: `ns=2;s=Plant.Temp`,
//! `i=2258` (namespace 0), `ns=1;i=5`, `ns=3;g=<guid>`, `ns=3;b=<base64>`. They carry no type:
//! OPC UA values carry their own (built-in types map to FOS types; DateTime,
//! Guid, LocalizedText, QualifiedName, NodeId, ExpandedNodeId, StatusCode, XmlElement and
//! ByteString (base64) become strings; arrays (read them with `read_array`), structures and
//! other types are a `bad_type_mismatch` sample).
//!
//! Status codes (Part 4 §7.34) become qualities: Good → good, Uncertain → uncertain (detail =
//! status name), BadNodeIdUnknown/BadNodeIdInvalid/BadAttributeIdInvalid/BadNotReadable/
//! BadUserAccessDenied/BadIndexRangeInvalid → bad_address, BadTypeMismatch and the data
//! encoding errors → bad_type_mismatch, any other Bad → bad_device; the detail names the status.
//! A sample's time is its SourceTimestamp, else its ServerTimestamp (both `TimeSource::Device`:
//! the server is the device here), else the time the reply arrived (`TimeSource::Received`).
//!
//! Limitations: no message signing/encryption and no user name or certificate identities yet.
//! The client's application instance certificate is a self-signed sample keypair created on
//! first use under the PKI directory (`pki=` URL parameter, default
//! `$TMPDIR/fos-opcua-pki-$USER`), and every server certificate is trusted without
//! verification (irrelevant with SecurityPolicy None, where no certificate is checked, but it
//! must change before secure policies are offered). Namespace URIs (`nsu=`) are not accepted in
//! addresses. `async-opcua` logs through `tracing` (targets `opcua_client`, `opcua_core`, ...):
//! a lost connection logs a few WARN lines there.

use std::collections::HashSet;
use std::fmt;
use std::io;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use opcua::client::{Client, ClientBuilder, DataChangeCallback, IdentityToken, MonitoredItem, Session};
use opcua::types::{
    AttributeId, BrowseDescription, BrowseDirection, BrowseResultMask, ByteString, DataValue, DateTime,
    EndpointDescription, Error as UaError, ExtensionObject, Guid, MessageSecurityMode, MonitoredItemCreateRequest,
    MonitoringMode, MonitoringParameters, NodeClass, NodeId, NumericRange, ObjectId, QualifiedName, ReadValueId,
    ReferenceTypeId, StatusCode, SubStatusCode, TimestampsToReturn, UAString, UserTokenPolicy, VariableId, Variant,
    WriteValue,
};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::driver::{timed, BrowseEntry, ConnectOptions, Driver, Pacer, PlanId};
use crate::error::{ConnectError, FrameError};
use crate::sample::{ArraySample, Quality, Sample, TimeSource};
use crate::url::{DeviceUrl, Protocol};
use crate::value::{DataType, Value};

const PROTOCOL: &str = "opcua";
/// The URL parameters this driver knows.
const PARAMS: &[&str] = &["security", "pki", "max_nodes", "depth", "max_array"];
const SYNTAX: &str = "expected an OPC UA node id: ns=<index>;s=<name>, ns=<index>;i=<number>, i=<number> \
                      (namespace 0), ns=<index>;g=<guid> or ns=<index>;b=<base64>";
/// Default and largest number of nodes per Read request.
const DEFAULT_MAX_NODES: usize = 500;
/// Default largest array `read_array` takes, elements (2.56 s at 51.2 kHz).
pub const DEFAULT_MAX_ARRAY: usize = 131_072;
/// The largest `max_array` a URL may ask for (128 MiB of Doubles).
pub const MAX_MAX_ARRAY: usize = 1 << 24;
/// Bytes of a message beyond its array's elements (headers, status, timestamps, diagnostics).
const MESSAGE_HEADROOM: usize = 64 * 1024;
/// The smallest chunk a server may send (Part 6 §7.1.2.3: 8 192 bytes) less its headers.
const MIN_CHUNK_BODY: usize = 8_192 - 64;
/// Default browse depth below the Objects folder.
const DEFAULT_DEPTH: usize = 6;
/// Nodes per Browse request, and references per node per Browse reply.
const BROWSE_CHUNK: usize = 100;
const MAX_REFERENCES_PER_NODE: u32 = 1000;
/// A browse stops collecting entries beyond this many (a guard against huge address spaces).
const MAX_BROWSE_ENTRIES: usize = 100_000;
/// Samples a subscription may buffer between the crate's callback and the consumer; beyond
/// that, data changes are dropped and counted (the consumer is too slow).
const SUBSCRIPTION_QUEUE: usize = 4096;
/// 100 ns ticks between the OPC UA epoch (1601-01-01) and the Unix epoch.
const TICKS_1601_TO_1970: i64 = 116_444_736_000_000_000;

/// OPC UA client driver. See the module documentation.
pub struct OpcUaDriver {
    endpoint: String,
    server_url: String,
    pki_dir: PathBuf,
    max_nodes: usize,
    depth: usize,
    max_array: usize,
    timeout: Duration,
    pacer: Pacer,
    /// Built once (it may create the sample keypair on disk, so it runs on a blocking thread).
    client: Option<Arc<Client>>,
    client_init: Option<JoinHandle<Result<Client, String>>>,
    link: Option<Link>,
    /// The server's MaxNodesPerRead (0 or unknown: no limit of its own).
    server_max_nodes_per_read: Option<usize>,
    plans: Vec<Plan>,
}

/// A live session and the task that drives its event loop.
struct Link {
    session: Arc<Session>,
    /// Becomes `Some(status)` when the event loop has ended (connection lost or closed).
    ended: watch::Receiver<Option<StatusCode>>,
    task: JoinHandle<()>,
}

impl Link {
    fn is_up(&self) -> bool {
        self.ended.borrow().is_none() && !self.task.is_finished()
    }
}

#[derive(Debug)]
struct Plan {
    addresses: Arc<[String]>,
    /// One Value read per address, shared so that a read does not copy the plan.
    reads: Arc<[ReadValueId]>,
    /// The type each address last had, for the type of its bad samples.
    types: Vec<Option<DataType>>,
}

impl fmt::Debug for OpcUaDriver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpcUaDriver")
            .field("endpoint", &self.endpoint)
            .field("server_url", &self.server_url)
            .field("pki_dir", &self.pki_dir)
            .field("max_nodes", &self.max_nodes)
            .field("depth", &self.depth)
            .field("max_array", &self.max_array)
            .field("connected", &self.is_connected())
            .field("server_max_nodes_per_read", &self.server_max_nodes_per_read)
            .field("plans", &self.plans.len())
            .finish()
    }
}

impl OpcUaDriver {
    /// Check the URL's parameters. No I/O.
    pub(crate) fn new(url: &DeviceUrl, options: &ConnectOptions) -> Result<Self, ConnectError> {
        url.check_params(PARAMS)?;
        let url_err = |reason: String| ConnectError::Url { url: url.raw.clone(), reason };
        let security: String = url.param("security", "none".to_string())?;
        if !security.eq_ignore_ascii_case("none") {
            return Err(url_err(format!(
                "security={security:?} is not supported: only security=none (SecurityPolicy None, \
                 anonymous identity) is implemented"
            )));
        }
        let max_nodes: usize = url.param("max_nodes", DEFAULT_MAX_NODES)?;
        if max_nodes == 0 {
            return Err(url_err("max_nodes must be at least 1".into()));
        }
        let depth: usize = url.param("depth", DEFAULT_DEPTH)?;
        if !(1..=64).contains(&depth) {
            return Err(url_err(format!("depth={depth} is out of range (1 to 64)")));
        }
        let max_array: usize = url.param("max_array", DEFAULT_MAX_ARRAY)?;
        if !(1..=MAX_MAX_ARRAY).contains(&max_array) {
            return Err(url_err(format!("max_array={max_array} is out of range (1 to {MAX_MAX_ARRAY})")));
        }
        let pki_dir = match url.params.get("pki") {
            Some(p) if !p.is_empty() => PathBuf::from(p),
            Some(_) => return Err(url_err("pki must name a directory".into())),
            None => default_pki_dir(),
        };
        Ok(OpcUaDriver {
            endpoint: url.endpoint(),
            server_url: format!("opc.tcp://{}/{}", url.socket_addr(), url.path),
            pki_dir,
            max_nodes,
            depth,
            max_array,
            timeout: options.timeout,
            pacer: Pacer::new(options.min_request_gap),
            client: None,
            client_init: None,
            link: None,
            server_max_nodes_per_read: None,
            plans: Vec::new(),
        })
    }

    /// The `opc.tcp://` URL the driver connects to.
    pub fn server_url(&self) -> &str {
        &self.server_url
    }

    /// Nodes per Read request: `max_nodes`, lowered to the server's MaxNodesPerRead.
    fn chunk_size(&self) -> usize {
        match self.server_max_nodes_per_read {
            Some(n) if n > 0 => self.max_nodes.min(n),
            _ => self.max_nodes,
        }
        .max(1)
    }

    fn session(&self) -> Result<Arc<Session>, ConnectError> {
        match &self.link {
            Some(link) if link.is_up() => Ok(link.session.clone()),
            _ => Err(ConnectError::NotConnected { endpoint: self.endpoint.clone() }),
        }
    }

    fn link_down(&self) -> bool {
        !self.link.as_ref().is_some_and(Link::is_up)
    }

    /// The client, built on a blocking thread on first use (creating the keypair may write files).
    /// Cancel-safe: a timed-out build is picked up again by the next call.
    async fn client(&mut self) -> Result<Arc<Client>, ConnectError> {
        if let Some(c) = &self.client {
            return Ok(c.clone());
        }
        let handle = self.client_init.get_or_insert_with(|| {
            let pki = self.pki_dir.clone();
            let timeout = self.timeout;
            let limits = Limits::for_max_array(self.max_array);
            tokio::task::spawn_blocking(move || build_client(pki, timeout, limits))
        });
        let built = handle.await;
        self.client_init = None;
        let client = match built {
            Ok(Ok(c)) => Arc::new(c),
            Ok(Err(e)) => {
                return Err(ConnectError::Other(format!("{}: OPC UA client setup failed: {e}", self.endpoint)))
            }
            Err(e) => return Err(ConnectError::Other(format!("{}: OPC UA client setup failed: {e}", self.endpoint))),
        };
        self.client = Some(client.clone());
        Ok(client)
    }

    /// Map a service-level failure: connection-class status codes, or any failure once the
    /// session's event loop has ended, mean the connection is lost.
    fn service_error(&self, what: &str, e: UaError) -> ConnectError {
        map_service_error(&self.endpoint, self.timeout, self.link_down(), what, e)
    }

    /// Read `ids` in one Read request, paced and timed. Checks the reply has one result per node.
    async fn read_chunk(&mut self, ids: &[ReadValueId], what: &str) -> Result<Vec<DataValue>, ConnectError> {
        let session = self.session()?;
        self.pacer.wait().await;
        let n = ids.len();
        let r = timed(&self.endpoint, self.timeout, async {
            session.read(ids, TimestampsToReturn::Both, 0.0).await.map_err(|e| self.service_error(what, e))
        })
        .await?;
        if r.len() != n {
            return Err(self.frame_error(format!("Read of {n} nodes ({what}) returned {} results", r.len())));
        }
        Ok(r)
    }

    fn frame_error(&self, reason: String) -> ConnectError {
        ConnectError::Frame { endpoint: self.endpoint.clone(), protocol: PROTOCOL, source: FrameError::new(0, reason) }
    }

    /// Ask the server for its MaxNodesPerRead (Part 5 §6.3.11); absent or unreadable: no limit.
    async fn read_operation_limits(&mut self) {
        let id = ReadValueId::new_value(VariableId::Server_ServerCapabilities_OperationLimits_MaxNodesPerRead.into());
        self.server_max_nodes_per_read = match self.read_chunk(&[id], "OperationLimits").await {
            Ok(v) => v.first().and_then(|dv| match &dv.value {
                Some(Variant::UInt32(n)) if dv.status.is_none_or(|s| s.is_good()) => usize::try_from(*n).ok(),
                _ => None,
            }),
            Err(e) => {
                tracing::debug!(device = %self.endpoint, error = %e, "MaxNodesPerRead not readable");
                None
            }
        };
    }

    /// Browse one level: the hierarchical children of `parents`, following continuation points.
    async fn browse_level(
        &mut self,
        parents: &[(NodeId, String)],
    ) -> Result<Vec<(usize, opcua::types::ReferenceDescription)>, ConnectError> {
        let session = self.session()?;
        let descs: Vec<BrowseDescription> = parents
            .iter()
            .map(|(id, _)| BrowseDescription {
                node_id: id.clone(),
                browse_direction: BrowseDirection::Forward,
                reference_type_id: ReferenceTypeId::HierarchicalReferences.into(),
                include_subtypes: true,
                node_class_mask: NodeClass::Object as u32 | NodeClass::Variable as u32,
                result_mask: BrowseResultMask::All as u32,
            })
            .collect();
        self.pacer.wait().await;
        let results = timed(&self.endpoint, self.timeout, async {
            session.browse(&descs, MAX_REFERENCES_PER_NODE, None).await.map_err(|e| self.service_error("Browse", e))
        })
        .await?;
        if results.len() != descs.len() {
            return Err(self.frame_error(format!(
                "Browse of {} nodes returned {} results",
                descs.len(),
                results.len()
            )));
        }
        let mut out = Vec::new();
        for (i, result) in results.into_iter().enumerate() {
            if result.status_code.is_bad() {
                tracing::debug!(device = %self.endpoint, node = ?parents.get(i).map(|p| &p.1), status = %result.status_code, "browse refused");
                continue;
            }
            out.extend(result.references.into_iter().flatten().map(|r| (i, r)));
            let mut cp = result.continuation_point;
            // A server that keeps returning continuation points is cut off after many rounds.
            let mut rounds = 0;
            while !cp.is_null_or_empty() && rounds < 1000 {
                rounds += 1;
                self.pacer.wait().await;
                let next = timed(&self.endpoint, self.timeout, async {
                    session.browse_next(false, &[cp.clone()]).await.map_err(|e| self.service_error("BrowseNext", e))
                })
                .await?;
                let Some(next) = next.into_iter().next() else {
                    break;
                };
                if next.status_code.is_bad() {
                    break;
                }
                out.extend(next.references.into_iter().flatten().map(|r| (i, r)));
                cp = next.continuation_point;
            }
            if !cp.is_null_or_empty() {
                // Release what the server still holds for us.
                let _ = timed(&self.endpoint, self.timeout, async {
                    session.browse_next(true, &[cp]).await.map_err(|e| self.service_error("BrowseNext", e))
                })
                .await;
            }
        }
        Ok(out)
    }

    async fn delete_subscription(&self, session: &Session, id: u32) {
        let r = tokio::time::timeout(self.timeout, session.delete_subscription(id)).await;
        if !matches!(r, Ok(Ok(_))) {
            tracing::debug!(device = %self.endpoint, subscription = id, "could not delete the subscription");
        }
    }
}

impl Drop for OpcUaDriver {
    fn drop(&mut self) {
        if let Some(link) = &self.link {
            link.task.abort();
        }
    }
}

/// The client's decoding limits for arrays of up to `max_array` elements (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Limits {
    /// Largest message (and chunk) the client accepts, bytes.
    message_bytes: usize,
    /// Most chunks of one message.
    chunks: usize,
    /// Most elements of one array the decoder takes.
    array_len: usize,
}

impl Limits {
    fn for_max_array(max_array: usize) -> Limits {
        let message_bytes = (8 * (max_array + 1) + MESSAGE_HEADROOM).max(opcua::types::constants::MAX_MESSAGE_SIZE);
        Limits { message_bytes, chunks: message_bytes.div_ceil(MIN_CHUNK_BODY) + 1, array_len: message_bytes }
    }
}

fn build_client(pki: PathBuf, timeout: Duration, limits: Limits) -> Result<Client, String> {
    ClientBuilder::new()
        .application_name("FOS")
        .application_uri("urn:fos:connect")
        .product_uri("urn:fos:connect")
        .pki_dir(pki)
        .create_sample_keypair(true)
        .trust_server_certs(true)
        .session_retry_limit(0)
        .request_timeout(timeout.max(Duration::from_millis(100)))
        .max_array_length(limits.array_len)
        .max_message_size(limits.message_bytes)
        .max_chunk_count(limits.chunks)
        .client()
        .map_err(|errors| errors.join("; "))
}

/// `$TMPDIR/fos-opcua-pki-$USER`: one directory per user, so users do not share (or fight over)
/// a private key. Without a usable user name, the process's user id names it.
fn default_pki_dir() -> PathBuf {
    let name = ["USER", "USERNAME", "LOGNAME"]
        .iter()
        .filter_map(|k| std::env::var(k).ok())
        .find(|u| !u.is_empty() && u.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)))
        .or_else(current_uid)
        .unwrap_or_else(|| "default".into());
    std::env::temp_dir().join(format!("fos-opcua-pki-{name}"))
}

#[cfg(target_os = "linux")]
fn current_uid() -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").ok().map(|m| format!("uid{}", m.uid()))
}

#[cfg(not(target_os = "linux"))]
fn current_uid() -> Option<String> {
    None
}

/// Wait until the session's event loop has ended; its final status.
async fn session_end(mut ended: watch::Receiver<Option<StatusCode>>) -> StatusCode {
    loop {
        if let Some(code) = *ended.borrow_and_update() {
            return code;
        }
        if ended.changed().await.is_err() {
            return StatusCode::BadConnectionClosed;
        }
    }
}

/// Status codes that mean the transport or the session is gone (Part 4 §7.34, Part 6 §7.1.5).
fn is_connection_status(code: StatusCode) -> bool {
    use SubStatusCode as S;
    matches!(
        code.sub_code(),
        S::BadCommunicationError
            | S::BadConnectionClosed
            | S::BadConnectionRejected
            | S::BadDisconnect
            | S::BadEndOfStream
            | S::BadNotConnected
            | S::BadNoCommunication
            | S::BadServerNotConnected
            | S::BadServerHalted
            | S::BadShutdown
            | S::BadSecureChannelClosed
            | S::BadSecureChannelIdInvalid
            | S::BadSessionClosed
            | S::BadSessionIdInvalid
            | S::BadSessionNotActivated
            | S::BadTcpSecureChannelUnknown
            | S::BadTcpInternalError
            | S::BadTcpNotEnoughResources
            | S::BadTcpServerTooBusy
            | S::BadInvalidState
    )
}

fn map_service_error(endpoint: &str, timeout: Duration, link_down: bool, what: &str, e: UaError) -> ConnectError {
    let code = e.status();
    match code.sub_code() {
        SubStatusCode::BadTimeout | SubStatusCode::BadRequestTimeout => {
            return ConnectError::Timeout { endpoint: endpoint.to_string(), timeout };
        }
        // The client dropped a reply of too many chunks, or the server refused to send one above
        // our limits: the channel is intact.
        SubStatusCode::BadEncodingLimitsExceeded | SubStatusCode::BadResponseTooLarge if !link_down => {
            return ConnectError::TooLarge {
                endpoint: endpoint.to_string(),
                what: format!("the reply to {what}"),
                reason: format!("{e}; raise max_array in the device URL if the reply holds an array"),
            };
        }
        SubStatusCode::BadDecodingError
        | SubStatusCode::BadEncodingLimitsExceeded
        | SubStatusCode::BadUnknownResponse => {
            return ConnectError::Frame {
                endpoint: endpoint.to_string(),
                protocol: PROTOCOL,
                source: FrameError::new(0, format!("{what}: {e}")),
            };
        }
        _ => {}
    }
    if link_down || is_connection_status(code) {
        ConnectError::Io {
            endpoint: endpoint.to_string(),
            source: io::Error::new(io::ErrorKind::ConnectionAborted, format!("{what}: {e}")),
        }
    } else {
        ConnectError::Refused {
            endpoint: endpoint.to_string(),
            what: format!("the {what} request"),
            reason: e.to_string(),
        }
    }
}

/// `BadNodeIdUnknown: The node id refers to a node that does not exist ...`.
fn status_text(code: StatusCode) -> String {
    let sub = code.sub_code();
    if sub == SubStatusCode::Invalid {
        format!("status 0x{:08X}", code.bits())
    } else {
        format!("{}: {}", sub.name(), sub.description().trim())
    }
}

/// Parse an address: an OPC UA node id in the string form of Part 6 §5.3.1.10, with the crate's
/// parser; a failure is explained (which part is wrong) and names the syntax.
pub(crate) fn parse_node_id(address: &str) -> Result<NodeId, ConnectError> {
    let text = address.trim();
    NodeId::from_str(text).map_err(|_| ConnectError::Address {
        protocol: PROTOCOL,
        address: address.to_string(),
        reason: explain_bad_node_id(text),
    })
}

fn explain_bad_node_id(text: &str) -> String {
    if text.is_empty() {
        return format!("empty address ({SYNTAX})");
    }
    if text.starts_with("nsu=") {
        return format!("namespace URIs (nsu=) are not supported; give the namespace index ({SYNTAX})");
    }
    let ident = match text.strip_prefix("ns=") {
        Some(rest) => {
            let Some((ns, ident)) = rest.split_once(';') else {
                return format!("\"ns=<index>\" must be followed by ';' and an identifier ({SYNTAX})");
            };
            if ns.parse::<u16>().is_err() {
                return format!("namespace index {ns:?} is not a number from 0 to 65535 ({SYNTAX})");
            }
            ident
        }
        None => text,
    };
    let Some((kind, value)) = ident.split_once('=') else {
        return format!("no identifier type in {ident:?} ({SYNTAX})");
    };
    match kind {
        "i" if value.parse::<u32>().is_err() => {
            format!("numeric identifier {value:?} is not a number from 0 to 4294967295")
        }
        "s" if value.is_empty() => "the string identifier is empty".into(),
        "g" if Guid::from_str(value).is_err() => {
            format!("{value:?} is not a GUID (expected xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)")
        }
        "b" if ByteString::from_base64(value).is_none() => format!("{value:?} is not valid base64"),
        "i" | "s" | "g" | "b" => format!("not a node id ({SYNTAX})"),
        other => format!("unknown identifier type \"{other}=\" ({SYNTAX})"),
    }
}

/// The FOS type of an OPC UA built-in data type node id (ns=0, Part 6 §5.1.2), where FOS has
/// one: numbers and Boolean map one to one, String and the types shown as text map to string.
pub(crate) fn builtin_data_type(id: &NodeId) -> Option<DataType> {
    if id.namespace != 0 {
        return None;
    }
    let opcua::types::Identifier::Numeric(n) = id.identifier else {
        return None;
    };
    Some(match n {
        1 => DataType::Bool,
        2 => DataType::I8,
        3 => DataType::U8,
        4 => DataType::I16,
        5 => DataType::U16,
        6 => DataType::I32,
        7 => DataType::U32,
        8 => DataType::I64,
        9 => DataType::U64,
        10 => DataType::F32,
        11 => DataType::F64,
        // String, DateTime, Guid, ByteString, XmlElement, NodeId, ExpandedNodeId, StatusCode,
        // QualifiedName, LocalizedText: shown as text.
        12..=21 => DataType::String,
        _ => return None,
    })
}

/// The FOS type to write to a node whose DataType attribute is `id`: the built-ins Boolean to
/// String (i=1..=12) only.
fn writable_data_type(id: &NodeId) -> Option<DataType> {
    builtin_data_type(id).filter(|_| matches!(id.identifier, opcua::types::Identifier::Numeric(1..=12)))
}

/// The name of a Variant's type, for messages.
fn variant_type_name(v: &Variant) -> &'static str {
    match v {
        Variant::Empty => "null",
        Variant::Boolean(_) => "Boolean",
        Variant::SByte(_) => "SByte",
        Variant::Byte(_) => "Byte",
        Variant::Int16(_) => "Int16",
        Variant::UInt16(_) => "UInt16",
        Variant::Int32(_) => "Int32",
        Variant::UInt32(_) => "UInt32",
        Variant::Int64(_) => "Int64",
        Variant::UInt64(_) => "UInt64",
        Variant::Float(_) => "Float",
        Variant::Double(_) => "Double",
        Variant::String(_) => "String",
        Variant::DateTime(_) => "DateTime",
        Variant::Guid(_) => "Guid",
        Variant::StatusCode(_) => "StatusCode",
        Variant::ByteString(_) => "ByteString",
        Variant::XmlElement(_) => "XmlElement",
        Variant::QualifiedName(_) => "QualifiedName",
        Variant::LocalizedText(_) => "LocalizedText",
        Variant::NodeId(_) => "NodeId",
        Variant::ExpandedNodeId(_) => "ExpandedNodeId",
        Variant::ExtensionObject(_) => "ExtensionObject (structure)",
        Variant::Variant(_) => "Variant",
        Variant::DataValue(_) => "DataValue",
        Variant::DiagnosticInfo(_) => "DiagnosticInfo",
        Variant::Array(_) => "array",
    }
}

fn ua_string(s: &UAString) -> String {
    s.value().clone().unwrap_or_default()
}

/// A Variant as a FOS value and type. Scalars of the numeric built-in types and Boolean keep
/// their type; String, DateTime (RFC 3339, UTC, milliseconds), Guid, LocalizedText (its text),
/// QualifiedName (`ns:name`), NodeId, ExpandedNodeId, StatusCode (its name), XmlElement and
/// ByteString (base64) become strings. Anything else (arrays, structures, null) is an error
/// naming the type.
pub(crate) fn variant_to_value(v: &Variant) -> Result<(Value, DataType), String> {
    Ok(match v {
        Variant::Boolean(b) => (Value::Bool(*b), DataType::Bool),
        Variant::SByte(x) => (Value::Int(i64::from(*x)), DataType::I8),
        Variant::Byte(x) => (Value::UInt(u64::from(*x)), DataType::U8),
        Variant::Int16(x) => (Value::Int(i64::from(*x)), DataType::I16),
        Variant::UInt16(x) => (Value::UInt(u64::from(*x)), DataType::U16),
        Variant::Int32(x) => (Value::Int(i64::from(*x)), DataType::I32),
        Variant::UInt32(x) => (Value::UInt(u64::from(*x)), DataType::U32),
        Variant::Int64(x) => (Value::Int(*x), DataType::I64),
        Variant::UInt64(x) => (Value::UInt(*x), DataType::U64),
        Variant::Float(x) => (Value::Float(f64::from(*x)), DataType::F32),
        Variant::Double(x) => (Value::Float(*x), DataType::F64),
        Variant::String(s) => (Value::String(ua_string(s)), DataType::String),
        Variant::DateTime(d) => (Value::String(d.to_rfc3339()), DataType::String),
        Variant::Guid(g) => (Value::String(g.to_string()), DataType::String),
        Variant::LocalizedText(t) => (Value::String(t.to_string()), DataType::String),
        Variant::QualifiedName(q) => (Value::String(q.to_string()), DataType::String),
        Variant::NodeId(n) => (Value::String(n.to_string()), DataType::String),
        Variant::ExpandedNodeId(n) => (Value::String(n.node_id.to_string()), DataType::String),
        Variant::StatusCode(c) => (Value::String(c.sub_code().name().to_string()), DataType::String),
        Variant::XmlElement(x) => (Value::String(x.to_string()), DataType::String),
        Variant::ByteString(b) => (Value::String(b.as_base64()), DataType::String),
        Variant::Empty => return Err("the server returned no value (null Variant)".into()),
        Variant::Array(a) => {
            return Err(format!(
                "an OPC UA array of {} elements: read it with read_array (a `waveform` source), not as a scalar",
                a.values.len()
            ))
        }
        other => {
            return Err(format!(
                "OPC UA {} values are not supported (only scalars of built-in types)",
                variant_type_name(other)
            ))
        }
    })
}

/// The FOS type a write must encode for a node whose current value is `v`, if FOS can write it.
fn writable_type(v: &Variant) -> Option<DataType> {
    match v {
        Variant::Boolean(_) => Some(DataType::Bool),
        Variant::SByte(_) => Some(DataType::I8),
        Variant::Byte(_) => Some(DataType::U8),
        Variant::Int16(_) => Some(DataType::I16),
        Variant::UInt16(_) => Some(DataType::U16),
        Variant::Int32(_) => Some(DataType::I32),
        Variant::UInt32(_) => Some(DataType::U32),
        Variant::Int64(_) => Some(DataType::I64),
        Variant::UInt64(_) => Some(DataType::U64),
        Variant::Float(_) => Some(DataType::F32),
        Variant::Double(_) => Some(DataType::F64),
        Variant::String(_) => Some(DataType::String),
        _ => None,
    }
}

/// Encode `value` as the Variant of `ty` (one of the twelve FOS types, which are the OPC UA
/// built-ins Boolean..String). Refuses values out of the type's range.
pub(crate) fn value_to_variant(value: &Value, ty: DataType) -> Result<Variant, String> {
    fn bytes<const N: usize>(value: &Value, ty: DataType) -> Result<[u8; N], String> {
        value.to_be_bytes(ty)?.try_into().map_err(|_| format!("{ty} does not encode in {N} bytes"))
    }
    Ok(match ty {
        DataType::Bool => Variant::Boolean(bytes::<1>(value, ty)?[0] != 0),
        DataType::I8 => Variant::SByte(i8::from_be_bytes(bytes(value, ty)?)),
        DataType::U8 => Variant::Byte(u8::from_be_bytes(bytes(value, ty)?)),
        DataType::I16 => Variant::Int16(i16::from_be_bytes(bytes(value, ty)?)),
        DataType::U16 => Variant::UInt16(u16::from_be_bytes(bytes(value, ty)?)),
        DataType::I32 => Variant::Int32(i32::from_be_bytes(bytes(value, ty)?)),
        DataType::U32 => Variant::UInt32(u32::from_be_bytes(bytes(value, ty)?)),
        DataType::I64 => Variant::Int64(i64::from_be_bytes(bytes(value, ty)?)),
        DataType::U64 => Variant::UInt64(u64::from_be_bytes(bytes(value, ty)?)),
        DataType::F32 => {
            let x = value.as_f64().ok_or_else(|| format!("{value:?} is not a number"))?;
            if x.is_finite() && (x as f32).is_infinite() {
                return Err(format!("{x} is out of range for f32"));
            }
            Variant::Float(x as f32)
        }
        DataType::F64 => Variant::Double(value.as_f64().ok_or_else(|| format!("{value:?} is not a number"))?),
        DataType::String => match value {
            Value::String(s) => Variant::String(UAString::from(s.as_str())),
            other => return Err(format!("{other:?} is not a string")),
        },
    })
}

/// An OPC UA DateTime (100 ns ticks since 1601) as a SystemTime; None for the null DateTime.
fn to_system_time(t: &DateTime) -> Option<SystemTime> {
    if t.is_null() {
        return None;
    }
    let ticks = t.ticks().checked_sub(TICKS_1601_TO_1970)?;
    let d = |t: u64| Duration::from_secs(t / 10_000_000) + Duration::from_nanos((t % 10_000_000) * 100);
    if ticks >= 0 {
        UNIX_EPOCH.checked_add(d(ticks.unsigned_abs()))
    } else {
        UNIX_EPOCH.checked_sub(d(ticks.unsigned_abs()))
    }
}

/// The quality a Bad or Uncertain status code gives (Good: good).
pub(crate) fn status_quality(code: StatusCode) -> Quality {
    use SubStatusCode as S;
    if code.is_good() {
        return Quality::Good;
    }
    if code.is_uncertain() {
        return Quality::Uncertain;
    }
    match code.sub_code() {
        S::BadNodeIdUnknown
        | S::BadNodeIdInvalid
        | S::BadAttributeIdInvalid
        | S::BadNotReadable
        | S::BadUserAccessDenied
        | S::BadIndexRangeInvalid => Quality::BadAddress,
        S::BadTypeMismatch | S::BadDataEncodingInvalid | S::BadDataEncodingUnsupported => Quality::BadTypeMismatch,
        _ => Quality::BadDevice,
    }
}

/// A DataValue's SourceTimestamp, else its ServerTimestamp (both the device's), else `received`.
fn data_value_time(dv: &DataValue, received: SystemTime) -> (SystemTime, TimeSource) {
    dv.source_timestamp
        .as_ref()
        .and_then(to_system_time)
        .or_else(|| dv.server_timestamp.as_ref().and_then(to_system_time))
        .map_or((received, TimeSource::Received), |t| (t, TimeSource::Device))
}

/// A numeric element of an array as f64 (Boolean 0/1), or None for other types.
fn numeric_element(v: &Variant) -> Option<f64> {
    Some(match *v {
        Variant::Boolean(b) => f64::from(u8::from(b)),
        Variant::SByte(x) => f64::from(x),
        Variant::Byte(x) => f64::from(x),
        Variant::Int16(x) => f64::from(x),
        Variant::UInt16(x) => f64::from(x),
        Variant::Int32(x) => f64::from(x),
        Variant::UInt32(x) => f64::from(x),
        Variant::Int64(x) => x as f64,
        Variant::UInt64(x) => x as f64,
        Variant::Float(x) => f64::from(x),
        Variant::Double(x) => x,
        _ => return None,
    })
}

/// The number of elements of the array a DataValue holds, if it holds one.
fn array_len(dv: &DataValue) -> Option<usize> {
    match &dv.value {
        Some(Variant::Array(a)) => Some(a.values.len()),
        _ => None,
    }
}

/// An array sample from the DataValue of an array read (see the module documentation).
pub(crate) fn array_from_data_value(address: &str, dv: &DataValue, received: SystemTime) -> ArraySample {
    let status = dv.status.unwrap_or(StatusCode::Good);
    let (time, time_source) = data_value_time(dv, received);
    let bad = |quality: Quality, detail: String| ArraySample {
        time_source,
        ..ArraySample::bad(address, quality, detail, time)
    };
    let quality = status_quality(status);
    if !matches!(quality, Quality::Good | Quality::Uncertain) {
        return bad(quality, status_text(status));
    }
    let a = match dv.value.as_ref() {
        None | Some(Variant::Empty) => {
            return bad(Quality::BadDevice, format!("the server returned no value ({})", status_text(status)))
        }
        Some(Variant::Array(a)) => a,
        Some(other) => {
            return bad(
                Quality::BadTypeMismatch,
                format!("a scalar OPC UA {}, not an array (read it as a tag)", variant_type_name(other)),
            )
        }
    };
    if let Some(dims) = a.dimensions.as_ref().filter(|d| d.len() > 1) {
        return bad(
            Quality::BadTypeMismatch,
            format!("a {}-dimensional array {dims:?}; only one-dimensional arrays are read", dims.len()),
        );
    }
    let dtype = builtin_data_type(&NodeId::new(0, a.value_type as u32)).filter(|t| *t != DataType::String);
    let values: Option<Vec<f64>> = a.values.iter().map(numeric_element).collect();
    match (dtype, values) {
        (Some(dtype), Some(values)) => ArraySample {
            address: address.to_string(),
            values,
            dtype,
            quality,
            time,
            time_source,
            detail: (quality == Quality::Uncertain).then(|| status_text(status)),
        },
        _ => bad(
            Quality::BadTypeMismatch,
            format!("an array of OPC UA {:?}; only numeric arrays (Boolean to Double) are read", a.value_type),
        ),
    }
}

/// One sample from one DataValue of a Read reply or a data change notification.
/// `last_type` is the type given to a bad sample (the type the address last had; f64 if never).
pub(crate) fn sample_from_data_value(
    address: &str,
    dv: &DataValue,
    received: SystemTime,
    last_type: Option<DataType>,
) -> Sample {
    let status = dv.status.unwrap_or(StatusCode::Good);
    let (time, time_source) = data_value_time(dv, received);
    let fallback = last_type.unwrap_or(DataType::F64);
    let bad = |quality: Quality, detail: String| Sample {
        address: address.to_string(),
        value: None,
        dtype: fallback,
        quality,
        time,
        time_source,
        detail: Some(detail),
    };
    let quality = status_quality(status);
    if !matches!(quality, Quality::Good | Quality::Uncertain) {
        return bad(quality, status_text(status));
    }
    let Some(variant) = dv.value.as_ref() else {
        return bad(Quality::BadDevice, format!("the server returned no value ({})", status_text(status)));
    };
    match variant_to_value(variant) {
        Ok((value, dtype)) => Sample {
            address: address.to_string(),
            value: Some(value),
            dtype,
            quality,
            time,
            time_source,
            detail: (quality == Quality::Uncertain).then(|| status_text(status)),
        },
        Err(reason) if matches!(variant, Variant::Empty) => bad(Quality::BadDevice, reason),
        Err(reason) => bad(Quality::BadTypeMismatch, reason),
    }
}

#[async_trait]
impl Driver for OpcUaDriver {
    async fn connect(&mut self) -> Result<(), ConnectError> {
        self.disconnect().await;
        let client = self.client().await?;
        let connect_err = |what: String| ConnectError::Connect {
            endpoint: self.endpoint.clone(),
            source: io::Error::new(io::ErrorKind::ConnectionRefused, what),
        };
        // GetEndpoints, then pick the SecurityPolicy None / anonymous endpoint on our path.
        let endpoints = client
            .get_server_endpoints_from_url(self.server_url.as_str())
            .await
            .map_err(|e| connect_err(format!("GetEndpoints on {}: {e}", self.server_url)))?;
        let wanted: EndpointDescription =
            (self.server_url.as_str(), "None", MessageSecurityMode::None, UserTokenPolicy::anonymous()).into();
        let builder = client.session_builder().with_endpoints(endpoints.clone());
        let (session, event_loop) = builder
            .connect_to_matching_endpoint(wanted)
            .map(|b| b.user_identity_token(IdentityToken::Anonymous))
            .and_then(|b| b.build(client.certificate_store().clone()))
            .map_err(|e| {
                let offered: Vec<String> = endpoints
                    .iter()
                    .map(|ep| {
                        let policy = ep.security_policy_uri.as_ref().rsplit('#').next().unwrap_or("?").to_string();
                        format!("{} (policy {policy}, mode {:?})", ep.endpoint_url, ep.security_mode)
                    })
                    .collect();
                connect_err(format!(
                    "the server has no endpoint {} with SecurityPolicy None ({e}); it offers: {}; FOS \
                     supports only SecurityPolicy None with anonymous identity for now",
                    self.server_url,
                    offered.join(", ")
                ))
            })?;
        // Our Connection and poller own reconnects: the event loop ends when the transport drops.
        session.disable_reconnects();
        let (ended_tx, ended) = watch::channel(None);
        let task = tokio::spawn(async move {
            let code = event_loop.run().await;
            let _ = ended_tx.send(Some(code));
        });
        // Stored before waiting, so a timed-out connect is cleaned up by `disconnect`.
        self.link = Some(Link { session: session.clone(), ended: ended.clone(), task });
        tokio::select! {
            _ = session.wait_for_connection() => {}
            code = session_end(ended) => {
                return Err(connect_err(format!("session on {}: {}", self.server_url, status_text(code))));
            }
        }
        self.read_operation_limits().await;
        tracing::debug!(device = %self.endpoint, max_nodes_per_read = ?self.server_max_nodes_per_read, "OPC UA session up");
        Ok(())
    }

    async fn disconnect(&mut self) {
        let Some(link) = self.link.take() else { return };
        if link.is_up() {
            // CloseSession + CloseSecureChannel; waits for the event loop to see the close.
            let _ = tokio::time::timeout(self.timeout, link.session.disconnect()).await;
        }
        link.task.abort();
        let _ = link.task.await;
        self.server_max_nodes_per_read = None;
    }

    fn is_connected(&self) -> bool {
        self.link.as_ref().is_some_and(Link::is_up)
    }

    fn prepare(&mut self, addresses: &[String]) -> Result<PlanId, ConnectError> {
        let reads =
            addresses.iter().map(|a| parse_node_id(a).map(ReadValueId::new_value)).collect::<Result<Vec<_>, _>>()?;
        let types = vec![None; reads.len()];
        self.plans.push(Plan { addresses: addresses.into(), reads: reads.into(), types });
        Ok(PlanId(self.plans.len() - 1))
    }

    fn plan_requests(&self, plan: PlanId) -> usize {
        self.plans.get(plan.0).map_or(0, |p| p.reads.len().div_ceil(self.chunk_size()))
    }

    async fn read(&mut self, plan: PlanId) -> Result<Vec<Sample>, ConnectError> {
        let Some(p) = self.plans.get(plan.0) else {
            return Err(ConnectError::Other(format!("{}: unknown read plan {}", self.endpoint, plan.0)));
        };
        let (addresses, reads, mut types) = (p.addresses.clone(), p.reads.clone(), p.types.clone());
        let chunk = self.chunk_size();
        let mut out = Vec::with_capacity(reads.len());
        for (c, (part, ids)) in addresses.chunks(chunk).zip(reads.chunks(chunk)).enumerate() {
            let values = self.read_chunk(ids, "Read").await?;
            let received = SystemTime::now();
            for (i, (address, dv)) in part.iter().zip(values.iter()).enumerate() {
                let k = c * chunk + i;
                let s = sample_from_data_value(address, dv, received, types.get(k).copied().flatten());
                if s.value.is_some() {
                    if let Some(t) = types.get_mut(k) {
                        *t = Some(s.dtype);
                    }
                }
                out.push(s);
            }
        }
        if let Some(p) = self.plans.get_mut(plan.0) {
            p.types = types;
        }
        Ok(out)
    }

    async fn browse(&mut self) -> Result<Vec<BrowseEntry>, ConnectError> {
        let root: NodeId = ObjectId::ObjectsFolder.into();
        let mut seen: HashSet<NodeId> = HashSet::from([root.clone()]);
        let mut level: Vec<(NodeId, String)> = vec![(root, "Objects".to_string())];
        let mut out: Vec<BrowseEntry> = Vec::new();
        let mut variables: Vec<(usize, NodeId)> = Vec::new();
        'levels: for _ in 0..self.depth {
            let mut next = Vec::new();
            for parents in level.chunks(BROWSE_CHUNK.min(self.max_nodes)) {
                for (i, r) in self.browse_level(parents).await? {
                    // References to other servers are not followed.
                    if r.node_id.server_index != 0 {
                        continue;
                    }
                    let id = r.node_id.node_id;
                    if !seen.insert(id.clone()) {
                        continue;
                    }
                    if out.len() >= MAX_BROWSE_ENTRIES {
                        tracing::warn!(device = %self.endpoint, "browse stopped at {MAX_BROWSE_ENTRIES} entries");
                        break 'levels;
                    }
                    let name = ua_string(&r.browse_name.name);
                    let path = format!("{}/{}", parents.get(i).map_or("?", |p| p.1.as_str()), name);
                    let kind = match r.node_class {
                        NodeClass::Variable => {
                            variables.push((out.len(), id.clone()));
                            "variable"
                        }
                        _ => "object",
                    };
                    out.push(BrowseEntry {
                        address: id.to_string(),
                        name,
                        dtype: None,
                        kind: kind.into(),
                        detail: Some(path.clone()),
                    });
                    next.push((id, path));
                }
            }
            if next.is_empty() {
                break;
            }
            level = next;
        }
        // The variables' DataType attributes, for their FOS type.
        let chunk = self.chunk_size();
        for part in variables.chunks(chunk) {
            let ids: Vec<_> = part.iter().map(|(_, id)| ReadValueId::new(id.clone(), AttributeId::DataType)).collect();
            let values = self.read_chunk(&ids, "Read DataType").await?;
            for ((k, _), dv) in part.iter().zip(values) {
                let Some(entry) = out.get_mut(*k) else {
                    continue;
                };
                if let Some(Variant::NodeId(dt)) = &dv.value {
                    entry.dtype = builtin_data_type(dt);
                    if entry.dtype.is_none() {
                        entry.detail =
                            Some(format!("{} (OPC UA DataType {dt})", entry.detail.take().unwrap_or_default()));
                    }
                }
            }
        }
        Ok(out)
    }

    async fn subscribe(
        &mut self,
        addresses: &[String],
        interval: Duration,
        tx: mpsc::Sender<Sample>,
    ) -> Result<(), ConnectError> {
        let items =
            addresses.iter().map(|a| parse_node_id(a).map(|id| (a.clone(), id))).collect::<Result<Vec<_>, _>>()?;
        if items.is_empty() {
            return Err(ConnectError::Other(format!("{}: nothing to subscribe to (no addresses)", self.endpoint)));
        }
        if interval.is_zero() {
            return Err(ConnectError::Other(format!(
                "{}: the subscription interval must be above zero",
                self.endpoint
            )));
        }
        let session = self.session()?;
        let Some(ended) = self.link.as_ref().map(|l| l.ended.clone()) else {
            return Err(ConnectError::NotConnected { endpoint: self.endpoint.clone() });
        };
        let addrs: Arc<Vec<String>> = Arc::new(items.iter().map(|(a, _)| a.clone()).collect());
        let (itx, mut irx) = mpsc::channel::<Sample>(SUBSCRIPTION_QUEUE);
        let dropped = Arc::new(AtomicU64::new(0));
        let callback = {
            let addrs = addrs.clone();
            let dropped = dropped.clone();
            DataChangeCallback::new(move |dv: DataValue, item: &MonitoredItem| {
                let index = item.client_handle().checked_sub(1).and_then(|i| usize::try_from(i).ok());
                let Some(address) = index.and_then(|i| addrs.get(i)) else {
                    return;
                };
                let s = sample_from_data_value(address, &dv, SystemTime::now(), None);
                if itx.try_send(s).is_err() {
                    dropped.fetch_add(1, Ordering::Relaxed);
                }
            })
        };
        // Keep-alives at least every ~10 s; the lifetime is three keep-alive periods.
        let keep_alive = u32::try_from((10_000 / interval.as_millis().max(1)).clamp(3, 10_000)).unwrap_or(10);
        self.pacer.wait().await;
        let sub_id = timed(&self.endpoint, self.timeout, async {
            session
                .create_subscription(interval, keep_alive * 3, keep_alive, 0, 0, true, callback)
                .await
                .map_err(|e| self.service_error("CreateSubscription", e))
        })
        .await?;
        let sampling_ms = interval.as_secs_f64() * 1000.0;
        let chunk = self.chunk_size();
        for (c, part) in items.chunks(chunk).enumerate() {
            let requests: Vec<MonitoredItemCreateRequest> = part
                .iter()
                .enumerate()
                .map(|(i, (_, id))| {
                    let handle = u32::try_from(c * chunk + i + 1).unwrap_or(u32::MAX);
                    MonitoredItemCreateRequest::new(
                        ReadValueId::new_value(id.clone()),
                        MonitoringMode::Reporting,
                        MonitoringParameters {
                            client_handle: handle,
                            sampling_interval: sampling_ms,
                            filter: ExtensionObject::null(),
                            queue_size: 10,
                            discard_oldest: true,
                        },
                    )
                })
                .collect();
            self.pacer.wait().await;
            let created = timed(&self.endpoint, self.timeout, async {
                session
                    .create_monitored_items(sub_id, TimestampsToReturn::Both, requests)
                    .await
                    .map_err(|e| self.service_error("CreateMonitoredItems", e))
            })
            .await;
            let created = match created {
                Ok(c) => c,
                Err(e) => {
                    self.delete_subscription(&session, sub_id).await;
                    return Err(e);
                }
            };
            // A node the server refuses to monitor gets one bad sample now.
            for ((address, _), item) in part.iter().zip(created.iter()) {
                let code = item.result.status_code;
                if code.is_bad() {
                    let s = Sample::bad(address.clone(), DataType::F64, status_quality(code), status_text(code));
                    if tx.send(s).await.is_err() {
                        self.delete_subscription(&session, sub_id).await;
                        return Ok(());
                    }
                }
            }
        }
        let end = session_end(ended);
        tokio::pin!(end);
        let result = loop {
            tokio::select! {
                s = irx.recv() => {
                    let Some(s) = s else { break Ok(()) };
                    if tx.send(s).await.is_err() {
                        break Ok(());
                    }
                }
                _ = tx.closed() => break Ok(()),
                code = &mut end => {
                    break Err(ConnectError::Io {
                        endpoint: self.endpoint.clone(),
                        source: io::Error::new(
                            io::ErrorKind::ConnectionAborted,
                            format!("the session ended while subscribed ({})", status_text(code)),
                        ),
                    });
                }
            }
        };
        let lost = dropped.load(Ordering::Relaxed);
        if lost > 0 {
            tracing::warn!(device = %self.endpoint, dropped = lost, "subscription consumer too slow: data changes dropped");
        }
        if result.is_ok() && self.is_connected() {
            self.delete_subscription(&session, sub_id).await;
        }
        result
    }

    fn check_array(&self, address: &str) -> Result<(), ConnectError> {
        parse_node_id(address).map(|_| ())
    }

    async fn read_array(&mut self, address: &str) -> Result<ArraySample, ConnectError> {
        let node = parse_node_id(address)?;
        let limit = self.max_array;
        let too_large = |endpoint: &str, detail: String| ConnectError::TooLarge {
            endpoint: endpoint.to_string(),
            what: format!("the array {address}"),
            reason: format!(
                "{detail}; the limit is max_array={limit} elements (a parameter of the device URL, at most \
                 {MAX_MAX_ARRAY}): raise it to read this array"
            ),
        };
        let ranged = ReadValueId {
            node_id: node.clone(),
            attribute_id: AttributeId::Value as u32,
            index_range: NumericRange::Range(0, u32::try_from(limit).unwrap_or(u32::MAX)),
            data_encoding: QualifiedName::null(),
        };
        let read = |r: Result<Vec<DataValue>, ConnectError>| match r {
            Ok(mut v) => Ok(v.pop().unwrap_or_else(DataValue::null)),
            Err(ConnectError::TooLarge { endpoint, reason, .. }) => {
                tracing::debug!(device = %endpoint, address, %reason, "array reply refused");
                Err(too_large(&endpoint, "its reply was larger than the client accepts".into()))
            }
            Err(e) => Err(e),
        };
        let mut dv = read(self.read_chunk(&[ranged], "Read (array)").await)?;
        let status = dv.status.unwrap_or(StatusCode::Good).sub_code();
        if matches!(
            status,
            SubStatusCode::BadIndexRangeNoData
                | SubStatusCode::BadIndexRangeInvalid
                | SubStatusCode::BadIndexRangeDataMismatch
        ) {
            // An empty array, a scalar, or a server that takes no range on this node: the whole value.
            dv = read(self.read_chunk(&[ReadValueId::new_value(node)], "Read (array)").await)?;
        }
        if let Some(n) = array_len(&dv).filter(|&n| n > limit) {
            // With the range honoured the server sent `limit + 1`: the array has at least that many.
            let count = if n == limit + 1 { format!("more than {limit}") } else { n.to_string() };
            return Err(too_large(&self.endpoint, format!("it has {count} elements")));
        }
        Ok(array_from_data_value(address, &dv, SystemTime::now()))
    }

    async fn write(&mut self, address: &str, value: &Value) -> Result<(), ConnectError> {
        let node = parse_node_id(address)?;
        let ids = vec![ReadValueId::new_value(node.clone()), ReadValueId::new(node.clone(), AttributeId::DataType)];
        let current = self.read_chunk(&ids, "Read before Write").await?;
        let refused =
            |what: String, reason: String| ConnectError::Refused { endpoint: self.endpoint.clone(), what, reason };
        let (Some(cur), Some(dt)) = (current.first(), current.get(1)) else {
            return Err(self.frame_error("Read before Write returned too few results".into()));
        };
        let status = cur.status.unwrap_or(StatusCode::Good);
        if status.is_bad() {
            return Err(refused(format!("reading {address} before writing it"), status_text(status)));
        }
        // The node's current value's type; else its DataType attribute when it is a built-in.
        let ty = cur.value.as_ref().and_then(writable_type).or_else(|| match &dt.value {
            Some(Variant::NodeId(id)) => writable_data_type(id),
            _ => None,
        });
        let Some(ty) = ty else {
            let kind = cur.value.as_ref().map_or("null", variant_type_name);
            return Err(ConnectError::Other(format!(
                "{}: cannot write {address}: its value is an OPC UA {kind}, which FOS does not write \
                 (only Boolean, integers, Float, Double and String)",
                self.endpoint
            )));
        };
        let variant = value_to_variant(value, ty).map_err(|e| {
            ConnectError::Other(format!(
                "{}: cannot write {value} to {address} (the node holds {ty}): {e}",
                self.endpoint
            ))
        })?;
        let session = self.session()?;
        let wv = WriteValue {
            node_id: node,
            attribute_id: AttributeId::Value as u32,
            index_range: Default::default(),
            value: DataValue::value_only(variant),
        };
        self.pacer.wait().await;
        let results = timed(&self.endpoint, self.timeout, async {
            session.write(&[wv]).await.map_err(|e| self.service_error("Write", e))
        })
        .await?;
        let Some(code) = results.first().copied() else {
            return Err(self.frame_error("Write returned no result".into()));
        };
        if code.is_good() {
            Ok(())
        } else {
            Err(refused(format!("the write of {value} to {address}"), status_text(code)))
        }
    }

    fn protocol(&self) -> Protocol {
        Protocol::OpcUa
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn driver(url: &str) -> Result<OpcUaDriver, ConnectError> {
        OpcUaDriver::new(&DeviceUrl::parse(url).unwrap(), &ConnectOptions::default())
    }

    #[test]
    fn url_gives_the_opc_tcp_endpoint_and_checks_parameters() {
        let d = driver("opcua://127.0.0.1:14841/UA/Test").unwrap();
        assert_eq!(d.server_url(), "opc.tcp://127.0.0.1:14841/UA/Test");
        assert_eq!((d.max_nodes, d.depth), (DEFAULT_MAX_NODES, DEFAULT_DEPTH));
        assert!(d.pki_dir.to_string_lossy().contains("fos-opcua-pki"));
        let d = driver("opc.tcp://h:4840?max_nodes=7&depth=2&pki=/tmp/x&security=None").unwrap();
        assert_eq!(d.server_url(), "opc.tcp://h:4840/");
        assert_eq!((d.max_nodes, d.depth, d.pki_dir.clone()), (7, 2, PathBuf::from("/tmp/x")));
        let e = driver("opcua://h?security=sign").unwrap_err().to_string();
        assert!(e.contains("only security=none"), "{e}");
        assert!(driver("opcua://h?max_nodes=0").unwrap_err().to_string().contains("max_nodes"));
        assert!(driver("opcua://h?depth=0").unwrap_err().to_string().contains("depth"));
        assert!(driver("opcua://h?unit=1").unwrap_err().to_string().contains("unknown parameter"));
    }

    #[test]
    fn max_array_sets_the_clients_limits() {
        assert_eq!(driver("opcua://h").unwrap().max_array, DEFAULT_MAX_ARRAY);
        assert_eq!(driver("opcua://h?max_array=51200").unwrap().max_array, 51_200);
        let e = driver("opcua://h?max_array=0").unwrap_err().to_string();
        assert!(e.contains("max_array=0 is out of range"), "{e}");
        assert!(driver(&format!("opcua://h?max_array={}", MAX_MAX_ARRAY + 1)).is_err());
        // The default takes 1 s at 51.2 kHz with room: its Doubles fit one message, in chunks of
        // the smallest size a server may use, and the decoder takes any array such a message holds.
        for max in [DEFAULT_MAX_ARRAY, 51_200, MAX_MAX_ARRAY] {
            let l = Limits::for_max_array(max);
            assert!(l.message_bytes >= 8 * (max + 1) + MESSAGE_HEADROOM, "{max}: {l:?}");
            assert!(l.chunks * MIN_CHUNK_BODY >= l.message_bytes, "{max}: {l:?}");
            assert_eq!(l.array_len, l.message_bytes);
        }
        // Never below async-opcua's own defaults (scalar reads of many nodes need them).
        let l = Limits::for_max_array(10);
        assert_eq!(l.message_bytes, opcua::types::constants::MAX_MESSAGE_SIZE);
    }

    #[test]
    fn arrays_become_array_samples_and_everything_else_says_why_not() {
        use opcua::types::VariantScalarTypeId as T;
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let dv = |v: Variant| DataValue::value_only(v);
        let a = array_from_data_value("w", &dv(Variant::from(vec![1.5f64, -2.25, 1e300])), t0);
        assert_eq!((a.quality, a.dtype, a.values.clone()), (Quality::Good, DataType::F64, vec![1.5, -2.25, 1e300]));
        assert_eq!((a.time, a.time_source, a.detail), (t0, TimeSource::Received, None));
        let a = array_from_data_value("w", &dv(Variant::from(vec![-3i16, 7])), t0);
        assert_eq!((a.dtype, a.values), (DataType::I16, vec![-3.0, 7.0]));
        let a = array_from_data_value("w", &dv(Variant::from(vec![true, false])), t0);
        assert_eq!((a.dtype, a.values), (DataType::Bool, vec![1.0, 0.0]));
        let a = array_from_data_value("w", &dv(Variant::from((T::Double, Vec::<f64>::new()))), t0);
        assert_eq!((a.quality, a.values.len()), (Quality::Good, 0));
        // Uncertain keeps the values, with the status as detail.
        let mut u = dv(Variant::from(vec![1.0f32]));
        u.status = Some(StatusCode::UncertainLastUsableValue);
        let a = array_from_data_value("w", &u, t0);
        assert_eq!((a.quality, a.values.clone(), a.dtype), (Quality::Uncertain, vec![1.0], DataType::F32));
        assert!(a.detail.unwrap().starts_with("UncertainLastUsableValue"));
        for (v, want) in [
            (Variant::Double(1.0), "scalar OPC UA Double, not an array"),
            (Variant::from(vec!["a", "b"]), "only numeric arrays"),
            (Variant::from((T::Double, vec![1.0f64, 2.0, 3.0, 4.0], vec![2u32, 2])), "2-dimensional array"),
        ] {
            let a = array_from_data_value("w", &dv(v.clone()), t0);
            assert_eq!((a.quality, a.values.len()), (Quality::BadTypeMismatch, 0), "{v:?}");
            assert!(a.detail.as_deref().unwrap_or("").contains(want), "{v:?}: {a:?}");
        }
        let bad = DataValue { value: None, status: Some(StatusCode::BadNodeIdUnknown), ..DataValue::null() };
        let a = array_from_data_value("w", &bad, t0);
        assert_eq!(a.quality, Quality::BadAddress);
        assert!(a.detail.unwrap().starts_with("BadNodeIdUnknown"));
        let a = array_from_data_value("w", &dv(Variant::Empty), t0);
        assert_eq!(a.quality, Quality::BadDevice);
        // The source timestamp is the array's time.
        let mut d = dv(Variant::from(vec![0.0f64]));
        d.source_timestamp = Some(DateTime::ymd_hms(2024, 1, 2, 3, 4, 5));
        let a = array_from_data_value("w", &d, t0);
        assert_eq!((a.time, a.time_source), (UNIX_EPOCH + Duration::from_secs(1_704_164_645), TimeSource::Device));
        // A plain (scalar) read of an array says where to read it.
        assert!(variant_to_value(&Variant::from(vec![1.0f64, 2.0])).unwrap_err().contains("read_array"));
    }

    #[test]
    fn node_ids_parse_in_every_documented_form() {
        assert_eq!(parse_node_id("ns=2;s=Plant.Temp").unwrap(), NodeId::new(2, "Plant.Temp"));
        assert_eq!(parse_node_id("i=2258").unwrap(), NodeId::new(0, 2258u32));
        assert_eq!(parse_node_id(" ns=1;i=5 ").unwrap(), NodeId::new(1, 5u32));
        let g = "72962b91-fa75-4ae6-8d28-b404dc7daf63";
        assert_eq!(parse_node_id(&format!("ns=3;g={g}")).unwrap(), NodeId::new(3, Guid::from_str(g).unwrap()));
        assert_eq!(parse_node_id("ns=3;b=AQID").unwrap(), NodeId::new(3, ByteString::from(vec![1u8, 2, 3])));
        // The string form round-trips through Display (what browse returns as `address`).
        for a in ["ns=2;s=Plant.Temp", "i=2258", "ns=1;i=5", "ns=3;b=AQID", "ns=2;s=a;b=c"] {
            assert_eq!(parse_node_id(a).unwrap().to_string(), a);
        }
    }

    #[test]
    fn bad_node_ids_say_what_is_wrong_and_name_the_address() {
        let cases = [
            ("", "empty address"),
            ("Plant.Temp", "no identifier type"),
            ("ns=x;s=A", "namespace index \"x\""),
            ("ns=70000;i=1", "namespace index \"70000\""),
            ("ns=2", "must be followed by ';'"),
            ("i=abc", "numeric identifier \"abc\""),
            ("i=-1", "numeric identifier"),
            ("ns=1;g=zz", "is not a GUID"),
            ("ns=1;b=!!", "not valid base64"),
            ("ns=1;q=5", "unknown identifier type \"q=\""),
            ("nsu=urn:x;s=A", "namespace URIs"),
            ("s=", "string identifier is empty"),
        ];
        for (a, want) in cases {
            let e = parse_node_id(a).unwrap_err();
            assert!(matches!(e, ConnectError::Address { .. }), "{a}: {e:?}");
            let msg = e.to_string();
            assert!(msg.contains(want), "{a:?}: {msg}");
            assert!(msg.contains(&format!("{a:?}")), "{a:?}: {msg}");
        }
    }

    #[test]
    fn variants_map_to_fos_types() {
        let cases: Vec<(Variant, Value, DataType)> = vec![
            (Variant::Boolean(true), Value::Bool(true), DataType::Bool),
            (Variant::SByte(-3), Value::Int(-3), DataType::I8),
            (Variant::Byte(200), Value::UInt(200), DataType::U8),
            (Variant::Int16(-300), Value::Int(-300), DataType::I16),
            (Variant::UInt16(60_000), Value::UInt(60_000), DataType::U16),
            (Variant::Int32(-7), Value::Int(-7), DataType::I32),
            (Variant::UInt32(4_000_000_000), Value::UInt(4_000_000_000), DataType::U32),
            (Variant::Int64(i64::MIN), Value::Int(i64::MIN), DataType::I64),
            (Variant::UInt64(u64::MAX), Value::UInt(u64::MAX), DataType::U64),
            (Variant::Float(1.5), Value::Float(1.5), DataType::F32),
            (Variant::Double(21.5), Value::Float(21.5), DataType::F64),
            (Variant::from("hi"), Value::String("hi".into()), DataType::String),
            (
                Variant::from(DateTime::ymd_hms(2024, 1, 2, 3, 4, 5)),
                Value::String("2024-01-02T03:04:05.000Z".into()),
                DataType::String,
            ),
        ];
        for (v, want, ty) in cases {
            assert_eq!(variant_to_value(&v).unwrap(), (want, ty), "{v:?}");
        }
        assert!(variant_to_value(&Variant::Empty).unwrap_err().contains("no value"));
        let arr = Variant::from(vec![1i32, 2]);
        assert!(variant_to_value(&arr).unwrap_err().contains("array"), "{arr:?}");
    }

    #[test]
    fn writes_encode_the_nodes_type_and_refuse_out_of_range_values() {
        assert_eq!(value_to_variant(&Value::Int(-7), DataType::I32).unwrap(), Variant::Int32(-7));
        assert_eq!(value_to_variant(&Value::Float(99.25), DataType::F64).unwrap(), Variant::Double(99.25));
        assert_eq!(value_to_variant(&Value::Int(3), DataType::F32).unwrap(), Variant::Float(3.0));
        assert_eq!(value_to_variant(&Value::UInt(255), DataType::U8).unwrap(), Variant::Byte(255));
        assert_eq!(value_to_variant(&Value::Bool(true), DataType::Bool).unwrap(), Variant::Boolean(true));
        assert_eq!(value_to_variant(&Value::String("x".into()), DataType::String).unwrap(), Variant::from("x"));
        assert_eq!(value_to_variant(&Value::Int(i64::MIN), DataType::I64).unwrap(), Variant::Int64(i64::MIN));
        for (v, ty) in [
            (Value::Int(70_000), DataType::I16),
            (Value::Int(-1), DataType::U32),
            (Value::Int(2), DataType::Bool),
            (Value::Float(1e300), DataType::F32),
            (Value::String("a".into()), DataType::I32),
            (Value::Int(1), DataType::String),
            (Value::Float(1.5), DataType::I32),
        ] {
            assert!(value_to_variant(&v, ty).is_err(), "{v:?} as {ty}");
        }
    }

    #[test]
    fn status_codes_become_qualities_with_the_status_named() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let dv = |status: StatusCode| DataValue { value: None, status: Some(status), ..DataValue::null() };
        let s = sample_from_data_value("ns=2;s=X", &dv(StatusCode::BadNodeIdUnknown), t0, None);
        assert_eq!((s.quality, s.value.clone()), (Quality::BadAddress, None));
        assert!(s.detail.as_deref().unwrap_or("").starts_with("BadNodeIdUnknown"), "{s:?}");
        assert_eq!(
            sample_from_data_value("a", &dv(StatusCode::BadTypeMismatch), t0, None).quality,
            Quality::BadTypeMismatch
        );
        let s = sample_from_data_value("a", &dv(StatusCode::BadOutOfService), t0, Some(DataType::I32));
        assert_eq!((s.quality, s.dtype), (Quality::BadDevice, DataType::I32));
        // Uncertain keeps its value, with the status as detail.
        let mut u = DataValue::value_only(Variant::Double(1.0));
        u.status = Some(StatusCode::UncertainLastUsableValue);
        let s = sample_from_data_value("a", &u, t0, None);
        assert_eq!((s.quality, s.value.clone()), (Quality::Uncertain, Some(Value::Float(1.0))));
        assert!(s.detail.unwrap().starts_with("UncertainLastUsableValue"));
        // A Good status with a value and no timestamps: receive time.
        let s = sample_from_data_value("a", &DataValue::value_only(Variant::Int32(5)), t0, None);
        assert_eq!((s.quality, s.time, s.time_source), (Quality::Good, t0, TimeSource::Received));
        assert_eq!((s.value, s.dtype), (Some(Value::Int(5)), DataType::I32));
        // Good but null: bad_device; an array: bad_type_mismatch.
        let s = sample_from_data_value("a", &DataValue::value_only(Variant::Empty), t0, None);
        assert_eq!(s.quality, Quality::BadDevice);
        let s = sample_from_data_value("a", &DataValue::value_only(Variant::from(vec![1.0f64])), t0, None);
        assert_eq!(s.quality, Quality::BadTypeMismatch);
    }

    #[test]
    fn sample_time_is_source_then_server_then_received() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let src = DateTime::ymd_hms(2024, 1, 2, 3, 4, 5);
        let srv = DateTime::ymd_hms(2024, 1, 2, 3, 4, 6);
        let mut dv = DataValue::value_only(Variant::Double(1.0));
        dv.server_timestamp = Some(srv);
        let s = sample_from_data_value("a", &dv, t0, None);
        assert_eq!(s.time_source, TimeSource::Device);
        assert_eq!(s.time, UNIX_EPOCH + Duration::from_secs(1_704_164_646));
        dv.source_timestamp = Some(src);
        let s = sample_from_data_value("a", &dv, t0, None);
        assert_eq!(s.time, UNIX_EPOCH + Duration::from_secs(1_704_164_645));
        // Before 1970 still converts; the null DateTime counts as absent.
        assert_eq!(to_system_time(&DateTime::ymd(1969, 12, 31)), UNIX_EPOCH.checked_sub(Duration::from_secs(86_400)));
        assert_eq!(to_system_time(&DateTime::null()), None);
    }

    #[test]
    fn builtin_data_types_map_where_fos_has_a_type() {
        assert_eq!(builtin_data_type(&NodeId::new(0, 11u32)), Some(DataType::F64));
        assert_eq!(builtin_data_type(&NodeId::new(0, 6u32)), Some(DataType::I32));
        assert_eq!(builtin_data_type(&NodeId::new(0, 13u32)), Some(DataType::String));
        assert_eq!(builtin_data_type(&NodeId::new(0, 22u32)), None);
        assert_eq!(builtin_data_type(&NodeId::new(2, 11u32)), None);
    }

    #[test]
    fn connection_class_statuses_mean_the_connection_is_lost() {
        let e = map_service_error(
            "opcua://h:1",
            Duration::from_secs(1),
            false,
            "Read",
            UaError::new(StatusCode::BadConnectionClosed, "x"),
        );
        assert!(e.is_connection_lost(), "{e}");
        let e = map_service_error(
            "opcua://h:1",
            Duration::from_secs(1),
            false,
            "Read",
            UaError::new(StatusCode::BadTooManyOperations, "x"),
        );
        assert!(!e.is_connection_lost(), "{e}");
        assert!(e.to_string().contains("BadTooManyOperations"), "{e}");
        let e = map_service_error(
            "opcua://h:1",
            Duration::from_secs(1),
            true,
            "Read",
            UaError::new(StatusCode::BadTooManyOperations, "x"),
        );
        assert!(e.is_connection_lost(), "{e}");
        let e = map_service_error(
            "opcua://h:1",
            Duration::from_secs(1),
            false,
            "Read",
            UaError::new(StatusCode::BadTimeout, "x"),
        );
        assert!(matches!(e, ConnectError::Timeout { .. }));
        // A reply dropped for its size, or refused by the server for ours: the channel is intact.
        for code in [StatusCode::BadEncodingLimitsExceeded, StatusCode::BadResponseTooLarge] {
            let e = map_service_error("opcua://h:1", Duration::from_secs(1), false, "Read", UaError::new(code, "x"));
            assert!(matches!(e, ConnectError::TooLarge { .. }) && !e.is_connection_lost(), "{e}");
            assert!(e.to_string().contains("max_array"), "{e}");
        }
    }
}
