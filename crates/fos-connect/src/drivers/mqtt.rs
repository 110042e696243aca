//! MQTT subscriptions, with Sparkplug B decoding ([`sparkplug`]).
//!
//! MQTT is publish/subscribe, so it is not a polled `Driver`:
//! `Connection::new("mqtt://...")` refuses, and [`subscribe`] is the entry point
//! (`fos subscribe`). What is implemented (OASIS MQTT 3.1.1, through `rumqttc`, plain TCP):
//! - CONNECT with a clean session and a keep-alive (§3.1), SUBSCRIBE to one or more topic
//!   filters at one QoS (§3.8), SUBACK failures reported as warnings (§3.9). Topic filters are
//!   checked before connecting ([`check_topic_filter`], §4.7: `#` last and alone in its level,
//!   `+` alone in its level, no NUL, at most 65535 bytes).
//! - Every PUBLISH received becomes one [`MqttEvent`]: the topic, the payload (UTF-8 text, or
//!   base64 when it is not), the QoS it was delivered at and the retain flag (§3.3.1: set on
//!   retained messages sent at subscription time).
//! - A broker that is down at start is an error ([`ConnectError::Connect`] naming the broker):
//!   the caller decides whether to retry. Once connected, a lost connection is reported as a
//!   [`MqttEvent::Warning`] and retried with exponential backoff; on reconnect the filters are
//!   subscribed again (the session is clean, so messages published meanwhile are lost, and a
//!   warning says so).
//! - With [`SubscribeOptions::sparkplug`], topics under `spBv1.0/` (and 2.2 `STATE/`) are decoded
//!   by a [`sparkplug::HostState`] into [`MqttEvent::Sparkplug`]; other topics stay raw messages.
//!
//! Not implemented: TLS (`mqtts://`), websockets, broker credentials, MQTT 5, persistent
//! sessions. FOS never publishes (no Sparkplug Rebirth requests, no STATE).
//!
//! Incoming packets are limited to [`MAX_PACKET`] bytes (MQTT 3.1.1 cannot tell the broker; a
//! larger message makes rumqttc drop the connection, which is then reported and retried).

pub mod sparkplug;

use std::io;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rumqttc::{AsyncClient, ConnectionError, Event, EventLoop, MqttOptions, Packet, QoS, SubscribeFilter};
use serde::{Serialize, Serializer};
use tokio::sync::mpsc;

use crate::error::ConnectError;
use crate::poll::Backoff;
use crate::sample::Sample;
use crate::url::{DeviceUrl, Protocol};

use self::sparkplug::{HostState, SparkplugMessage};

/// Largest MQTT packet accepted from the broker (Sparkplug payloads over
/// [`sparkplug::MAX_PAYLOAD`] are received but not decoded).
pub const MAX_PACKET: usize = 16 << 20;

/// How to subscribe. Defaults: no Sparkplug decoding, QoS 1, a generated client id, 30 s
/// keep-alive, 5 s to connect.
#[derive(Debug, Clone)]
pub struct SubscribeOptions {
    /// Decode `spBv1.0/...` topics as Sparkplug B (and subscribe to `spBv1.0/#` when no topic
    /// is given).
    pub sparkplug: bool,
    /// The maximum QoS to receive at: 0, 1 or 2.
    pub qos: u8,
    /// MQTT client id; default `fos-<pid>-<time>`. Two clients with the same id take the
    /// connection from each other.
    pub client_id: Option<String>,
    /// Keep-alive interval (whole seconds, at least 1 s; zero disables it).
    pub keep_alive: Duration,
    /// Longest wait for the first connection (TCP connect and CONNACK).
    pub timeout: Duration,
}

impl Default for SubscribeOptions {
    fn default() -> Self {
        SubscribeOptions {
            sparkplug: false,
            qos: 1,
            client_id: None,
            keep_alive: Duration::from_secs(30),
            timeout: Duration::from_secs(5),
        }
    }
}

/// How [`RawMessage::payload`] is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PayloadEncoding {
    /// The payload is UTF-8 text, shown as is.
    Utf8,
    /// The payload is binary, shown as standard base64 with padding (RFC 4648 §4).
    Base64,
}

/// A message on a non-Sparkplug topic, as received.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RawMessage {
    pub topic: String,
    pub payload: String,
    pub encoding: PayloadEncoding,
    /// The QoS the broker delivered it at (at most the subscription's).
    pub qos: u8,
    /// True for a retained message sent because we subscribed.
    pub retain: bool,
    /// When FOS received it.
    #[serde(serialize_with = "rfc3339")]
    pub time: SystemTime,
}

impl RawMessage {
    pub fn new(topic: impl Into<String>, payload: &[u8], qos: u8, retain: bool, time: SystemTime) -> RawMessage {
        let (payload, encoding) = match std::str::from_utf8(payload) {
            Ok(s) => (s.to_string(), PayloadEncoding::Utf8),
            Err(_) => (base64(payload), PayloadEncoding::Base64),
        };
        RawMessage { topic: topic.into(), payload, encoding, qos, retain, time }
    }
}

/// What a subscription delivers. Serialized as one compact JSON object with a `kind` of
/// `message`, `sparkplug` or `warning` (`{"kind":"warning","message":"..."}`).
#[derive(Debug, Clone, PartialEq)]
pub enum MqttEvent {
    Message(RawMessage),
    Sparkplug(SparkplugMessage),
    /// Something the user should know: connection lost or restored, a refused subscription,
    /// an undecodable Sparkplug message.
    Warning(String),
}

impl Serialize for MqttEvent {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        #[serde(tag = "kind", rename_all = "snake_case")]
        enum Tagged<'a> {
            Message(&'a RawMessage),
            Sparkplug(&'a SparkplugMessage),
            Warning { message: &'a str },
        }
        match self {
            MqttEvent::Message(m) => Tagged::Message(m),
            MqttEvent::Sparkplug(m) => Tagged::Sparkplug(m),
            MqttEvent::Warning(w) => Tagged::Warning { message: w },
        }
        .serialize(s)
    }
}

impl MqttEvent {
    /// One compact JSON line (`fos subscribe --json`).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self)
            .unwrap_or_else(|e| serde_json::json!({"kind": "warning", "message": e.to_string()}).to_string())
    }

    /// The FOS samples a Sparkplug event carries (none for the others).
    pub fn samples(&self) -> Vec<Sample> {
        match self {
            MqttEvent::Sparkplug(m) => m.samples(),
            _ => Vec::new(),
        }
    }
}

/// Check an MQTT topic filter (MQTT 3.1.1 §4.7).
pub fn check_topic_filter(filter: &str) -> Result<(), ConnectError> {
    let bad = |reason: &str| ConnectError::Address {
        protocol: "mqtt",
        address: filter.to_string(),
        reason: format!("{reason} (expected a topic filter such as plant/+/temperature or spBv1.0/#)"),
    };
    if filter.is_empty() {
        return Err(bad("empty topic filter"));
    }
    if filter.len() > usize::from(u16::MAX) {
        return Err(bad("longer than 65535 bytes"));
    }
    if filter.contains('\0') {
        return Err(bad("contains a NUL character"));
    }
    let levels: Vec<&str> = filter.split('/').collect();
    let last = levels.len().saturating_sub(1);
    for (i, level) in levels.iter().enumerate() {
        if level.contains('#') && (*level != "#" || i != last) {
            return Err(bad("'#' must be a whole level and the last one"));
        }
        if level.contains('+') && *level != "+" {
            return Err(bad("'+' must be a whole level"));
        }
    }
    Ok(())
}

/// Everything [`subscribe`] needs, checked before any I/O.
#[derive(Debug)]
struct Plan {
    endpoint: String,
    filters: Vec<String>,
    qos: QoS,
    options: MqttOptions,
    connect_timeout: Duration,
    sparkplug: bool,
}

impl Plan {
    fn new(url: &str, topics: &[String], opts: &SubscribeOptions) -> Result<Plan, ConnectError> {
        let u = DeviceUrl::parse(url)?;
        let url_err = |reason: &str| ConnectError::Url { url: url.to_string(), reason: reason.to_string() };
        if u.protocol != Protocol::Mqtt {
            return Err(url_err("subscriptions need an mqtt:// URL (mqtt://host:port)"));
        }
        u.check_params(&[])?;
        if !u.path.is_empty() {
            return Err(url_err("an MQTT URL has no path: give the topics separately"));
        }
        if url::Url::parse(url).is_ok_and(|p| !p.username().is_empty() || p.password().is_some()) {
            return Err(ConnectError::Unsupported {
                protocol: "mqtt",
                what: "broker credentials (user:password@)".into(),
            });
        }
        let qos = match opts.qos {
            0 => QoS::AtMostOnce,
            1 => QoS::AtLeastOnce,
            2 => QoS::ExactlyOnce,
            q => {
                return Err(ConnectError::Address {
                    protocol: "mqtt",
                    address: format!("qos {q}"),
                    reason: "QoS must be 0, 1 or 2".into(),
                })
            }
        };
        let filters: Vec<String> = match (topics.is_empty(), opts.sparkplug) {
            (true, true) => vec![format!("{}/#", sparkplug::NAMESPACE)],
            (true, false) => {
                return Err(ConnectError::Address {
                    protocol: "mqtt",
                    address: String::new(),
                    reason: "no topic filter given (e.g. plant/#)".into(),
                })
            }
            (false, _) => topics.to_vec(),
        };
        for f in &filters {
            check_topic_filter(f)?;
        }
        let client_id = match &opts.client_id {
            Some(id) if id.is_empty() => return Err(url_err("the MQTT client id must not be empty")),
            Some(id) => id.clone(),
            None => default_client_id(),
        };
        let mut options = MqttOptions::new(client_id, u.host.clone(), u.port);
        let keep_alive = if opts.keep_alive.is_zero() {
            Duration::ZERO
        } else {
            Duration::from_secs(opts.keep_alive.as_secs().clamp(1, u64::from(u16::MAX)))
        };
        options.set_keep_alive(keep_alive);
        options.set_clean_session(true);
        options.set_max_packet_size(MAX_PACKET, 64 * 1024);
        Ok(Plan {
            endpoint: u.endpoint(),
            filters,
            qos,
            options,
            connect_timeout: opts.timeout.max(Duration::from_millis(1)),
            sparkplug: opts.sparkplug,
        })
    }

    /// Ask for the subscriptions (sent by the event loop).
    fn request_subscriptions(&self, client: &AsyncClient) -> Result<(), String> {
        let filters = self.filters.iter().map(|f| SubscribeFilter::new(f.clone(), self.qos));
        client.try_subscribe_many(filters).map_err(|e| format!("{}: cannot subscribe: {e}", self.endpoint))
    }
}

/// `fos-<pid>-<time>`, within the 23 characters every MQTT 3.1.1 broker must accept.
fn default_client_id() -> String {
    let nanos =
        SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.subsec_nanos() ^ (d.as_secs() as u32)).unwrap_or(0);
    let mut id = format!("fos-{:x}-{:x}", std::process::id(), nanos);
    id.truncate(23);
    id
}

/// A connection error of the first connect, naming the broker.
fn connect_error(endpoint: &str, e: ConnectionError) -> ConnectError {
    let endpoint = endpoint.to_string();
    match e {
        ConnectionError::Io(source) => ConnectError::Connect { endpoint, source },
        ConnectionError::ConnectionRefused(code) => ConnectError::Refused {
            endpoint,
            what: "the MQTT connection".into(),
            reason: format!("CONNACK return code {code:?}"),
        },
        ConnectionError::NetworkTimeout => {
            ConnectError::Connect { endpoint, source: io::Error::new(io::ErrorKind::TimedOut, "no CONNACK in time") }
        }
        other => ConnectError::Connect { endpoint, source: io::Error::other(other.to_string()) },
    }
}

/// Wait for the first CONNACK, within `timeout`.
async fn first_connect(eventloop: &mut EventLoop, plan: &Plan) -> Result<(), ConnectError> {
    let wait = async {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => return Ok(()),
                Ok(_) => {}
                Err(e) => return Err(connect_error(&plan.endpoint, e)),
            }
        }
    };
    match tokio::time::timeout(plan.connect_timeout, wait).await {
        Ok(r) => r,
        Err(_) => Err(ConnectError::Timeout { endpoint: plan.endpoint.clone(), timeout: plan.connect_timeout }),
    }
}

/// One received PUBLISH as an event: Sparkplug-decoded where asked and the topic is Sparkplug's.
fn event_for(host: &mut HostState, sparkplug: bool, topic: &str, payload: &[u8], qos: QoS, retain: bool) -> MqttEvent {
    let now = SystemTime::now();
    let is_sparkplug = topic.starts_with("spBv1.0/") || topic.starts_with("STATE/");
    if sparkplug && is_sparkplug {
        match host.handle_at(topic, payload, now) {
            Ok(m) => MqttEvent::Sparkplug(m),
            Err(e) => MqttEvent::Warning(e.to_string()),
        }
    } else {
        MqttEvent::Message(RawMessage::new(topic, payload, qos as u8, retain, now))
    }
}

/// Subscribe to `topics` on the broker at `url` (`mqtt://host:port`) and send what arrives to
/// `tx` until `tx` is closed (then disconnect and return `Ok`).
///
/// The first connection must succeed within `opts.timeout`: a broker that is down at start
/// gives [`ConnectError::Connect`] (or `Timeout`/`Refused`) naming it. After that, a lost
/// connection is retried with backoff (0.5 s doubling to 30 s) and the subscriptions are
/// renewed; both are reported as [`MqttEvent::Warning`]s. Bad topic filters, QoS or URL are
/// errors before any I/O.
pub async fn subscribe(
    url: &str,
    topics: &[String],
    opts: SubscribeOptions,
    tx: mpsc::Sender<MqttEvent>,
) -> Result<(), ConnectError> {
    let plan = Plan::new(url, topics, &opts)?;
    let (client, mut eventloop) = AsyncClient::new(plan.options.clone(), 64);
    let mut net = eventloop.network_options();
    net.set_connection_timeout(plan.connect_timeout.as_secs().max(1));
    eventloop.set_network_options(net);

    first_connect(&mut eventloop, &plan).await?;
    tracing::debug!(endpoint = %plan.endpoint, filters = ?plan.filters, "mqtt connected");
    plan.request_subscriptions(&client).map_err(ConnectError::Other)?;

    let mut host = HostState::new();
    let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
    let mut lost: Option<String> = None;
    loop {
        let polled = tokio::select! {
            biased;
            () = tx.closed() => break,
            ev = eventloop.poll() => ev,
        };
        let event = match polled {
            Ok(Event::Incoming(Packet::Publish(p))) => {
                Some(event_for(&mut host, plan.sparkplug, &p.topic, &p.payload, p.qos, p.retain))
            }
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                backoff.reset();
                let renewed = plan.request_subscriptions(&client);
                let why = lost.take().map(|w| format!(" after {w}")).unwrap_or_default();
                Some(MqttEvent::Warning(match renewed {
                    Ok(()) => format!(
                        "{}: reconnected{why}; subscriptions renewed (messages published while \
                         disconnected were missed)",
                        plan.endpoint
                    ),
                    Err(e) => e,
                }))
            }
            Ok(Event::Incoming(Packet::SubAck(ack))) => {
                let refused: Vec<&str> = ack
                    .return_codes
                    .iter()
                    .zip(&plan.filters)
                    .filter(|(code, _)| matches!(code, rumqttc::SubscribeReasonCode::Failure))
                    .map(|(_, f)| f.as_str())
                    .collect();
                (!refused.is_empty()).then(|| {
                    MqttEvent::Warning(format!(
                        "{}: the broker refused the subscription to {}",
                        plan.endpoint,
                        refused.join(", ")
                    ))
                })
            }
            Ok(_) => None,
            Err(e) => {
                let delay = backoff.next_delay();
                tracing::debug!(endpoint = %plan.endpoint, error = %e, ?delay, "mqtt connection down");
                let first = lost.is_none();
                if first {
                    lost = Some(format!("connection loss ({e})"));
                }
                let warning = first.then(|| {
                    MqttEvent::Warning(format!(
                        "{}: connection to the broker lost ({e}); reconnecting with backoff",
                        plan.endpoint
                    ))
                });
                if let Some(w) = warning {
                    if tx.send(w).await.is_err() {
                        break;
                    }
                }
                tokio::select! {
                    () = tx.closed() => break,
                    () = tokio::time::sleep(delay) => {}
                }
                None
            }
        };
        if let Some(ev) = event {
            if tx.send(ev).await.is_err() {
                break;
            }
        }
    }
    let _ = client.try_disconnect();
    Ok(())
}

/// Standard base64 with padding (RFC 4648 §4).
pub(crate) fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let sym = |v: u32| char::from(ALPHABET.get((v & 63) as usize).copied().unwrap_or(b'='));
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = |i: usize| u32::from(chunk.get(i).copied().unwrap_or(0));
        let n = (b(0) << 16) | (b(1) << 8) | b(2);
        out.push(sym(n >> 18));
        out.push(sym(n >> 12));
        out.push(if chunk.len() > 1 { sym(n >> 6) } else { '=' });
        out.push(if chunk.len() > 2 { sym(n) } else { '=' });
    }
    out
}

/// RFC 3339 UTC with milliseconds; None for times before 1970 or after 9999 (which the
/// formatter cannot show).
pub(crate) fn rfc3339_string(t: SystemTime) -> Option<String> {
    let d = t.duration_since(UNIX_EPOCH).ok()?;
    (d.as_secs() < 253_402_300_800).then(|| humantime::format_rfc3339_millis(t).to_string())
}

pub(crate) fn rfc3339<S: Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    match rfc3339_string(*t) {
        Some(text) => s.serialize_str(&text),
        None => s.serialize_none(),
    }
}

pub(crate) fn opt_rfc3339<S: Serializer>(t: &Option<SystemTime>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => rfc3339(t, s),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_filters_follow_mqtt_4_7() {
        for ok in ["#", "+", "a/b", "a/+/c", "a/#", "+/+/#", "spBv1.0/G1/+/E1", "/a", "a//b"] {
            check_topic_filter(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for (bad, why) in [("", "empty"), ("a/#/b", "'#'"), ("a#", "'#'"), ("a/b+", "'+'"), ("a\0", "NUL")] {
            let e = check_topic_filter(bad).unwrap_err().to_string();
            assert!(e.contains(why) && e.contains("invalid mqtt address"), "{bad:?}: {e}");
        }
    }

    #[test]
    fn plan_checks_url_qos_and_topics_before_io() {
        let t = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let o = SubscribeOptions::default();
        let p = Plan::new("mqtt://127.0.0.1:11883", &t(&["a/#"]), &o).unwrap();
        assert_eq!(p.endpoint, "mqtt://127.0.0.1:11883");
        let sp = SubscribeOptions { sparkplug: true, ..SubscribeOptions::default() };
        assert_eq!(Plan::new("mqtt://h", &[], &sp).unwrap().filters, ["spBv1.0/#"]);
        let e = Plan::new("mqtt://h", &[], &o).unwrap_err().to_string();
        assert!(e.contains("no topic filter"), "{e}");
        let e = Plan::new("mqtt://h", &t(&["a/#/b"]), &o).unwrap_err().to_string();
        assert!(e.contains("\"a/#/b\""), "{e}");
        let e = Plan::new("mqtt://h", &t(&["a"]), &SubscribeOptions { qos: 3, ..o.clone() }).unwrap_err().to_string();
        assert!(e.contains("QoS must be 0, 1 or 2"), "{e}");
        let e = Plan::new("modbus://h", &t(&["a"]), &o).unwrap_err().to_string();
        assert!(e.contains("mqtt://"), "{e}");
        let e = Plan::new("mqtt://h?qos=1", &t(&["a"]), &o).unwrap_err().to_string();
        assert!(e.contains("unknown parameter"), "{e}");
        let e = Plan::new("mqtt://u:p@h", &t(&["a"]), &o).unwrap_err().to_string();
        assert!(e.contains("credentials"), "{e}");
        // Sub-second keep-alives (which rumqttc would panic on) are rounded up.
        Plan::new("mqtt://h", &t(&["a"]), &SubscribeOptions { keep_alive: Duration::from_millis(10), ..o }).unwrap();
        assert!(default_client_id().len() <= 23);
    }

    #[test]
    fn base64_matches_rfc4648_test_vectors() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(i.as_bytes()), o);
        }
    }

    #[test]
    fn events_are_compact_json_lines_with_a_kind() {
        let t = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        let m = MqttEvent::Message(RawMessage::new("a/b", b"21.5", 1, true, t));
        assert_eq!(
            m.to_json(),
            r#"{"kind":"message","topic":"a/b","payload":"21.5","encoding":"utf8","qos":1,"retain":true,"time":"2023-11-14T22:13:20.123Z"}"#
        );
        let b = MqttEvent::Message(RawMessage::new("a", &[0xff, 0], 0, false, t));
        assert!(b.to_json().contains(r#""payload":"/wA=","encoding":"base64""#), "{}", b.to_json());
        assert_eq!(MqttEvent::Warning("x".into()).to_json(), r#"{"kind":"warning","message":"x"}"#);
        let mut h = HostState::new();
        let ev = event_for(&mut h, true, "spBv1.0/STATE/h", br#"{"online":true}"#, QoS::AtLeastOnce, true);
        assert!(
            ev.to_json().starts_with(r#"{"kind":"sparkplug","topic":"spBv1.0/STATE/h","message_type":"STATE""#),
            "{}",
            ev.to_json()
        );
        // Sparkplug decoding off: Sparkplug topics stay raw.
        let ev = event_for(&mut h, false, "spBv1.0/G/NDATA/E", &[0xff], QoS::AtMostOnce, false);
        assert!(matches!(ev, MqttEvent::Message(_)));
        // Undecodable Sparkplug: a warning naming the topic.
        let ev = event_for(&mut h, true, "spBv1.0/G/NDATA/E", &[0x12, 0xff], QoS::AtMostOnce, false);
        assert!(matches!(&ev, MqttEvent::Warning(w) if w.contains("spBv1.0/G/NDATA/E")), "{ev:?}");
    }
}
