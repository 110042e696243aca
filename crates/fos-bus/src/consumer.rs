//! Central side: a durable pull consumer that hands out batches in order per site, skips
//! duplicates, reports gaps, and acks only when the caller says a batch is durable.

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull, AckKind};
use bytes::Bytes;
use futures_util::StreamExt;

use crate::{
    parse_subject, BusError, Result, TlsConfig, DEFAULT_DUPLICATE_WINDOW, DEFAULT_STREAM,
    MSG_ID_HEADER,
};

/// Settings of a [`CentralConsumer`].
#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    /// Stream to read (created if missing, as by the publisher).
    pub stream: String,
    /// Duplicate window given to the stream if this consumer creates it.
    pub duplicate_window: Duration,
    /// How long the server waits for an ack before it redelivers. Must exceed the time the caller
    /// needs to make a batch durable: a redelivery of a batch already handed out is skipped and acked.
    pub ack_wait: Duration,
    /// Upper bound of the delay between reconnect attempts.
    pub max_reconnect_delay: Duration,
    /// TLS (required when set, mutual with a client certificate); `None`: plain text, the default.
    pub tls: Option<TlsConfig>,
}

impl Default for ConsumerConfig {
    fn default() -> Self {
        Self {
            stream: DEFAULT_STREAM.to_owned(),
            duplicate_window: DEFAULT_DUPLICATE_WINDOW,
            ack_wait: Duration::from_secs(30),
            max_reconnect_delay: Duration::from_secs(2),
            tls: None,
        }
    }
}

/// A hole in a site's sequence: batches `expected..got` never arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gap {
    /// The sequence that should have come next.
    pub expected: u64,
    /// The sequence that came instead.
    pub got: u64,
}

impl fmt::Display for Gap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GAP: expected seq {}, got {}", self.expected, self.got)
    }
}

/// One batch handed to the caller; the server keeps it until [`Delivery::ack`].
#[derive(Debug)]
pub struct Delivery {
    /// Edge site.
    pub site: String,
    /// Jurisdiction token of the subject.
    pub jurisdiction: String,
    /// Batch sequence of the site's WAL.
    pub seq: u64,
    /// Batch payload.
    pub payload: Bytes,
    /// Set when batches between the site's last seen sequence and this one are missing.
    pub gap: Option<Gap>,
    message: jetstream::Message,
    server: String,
    stream: String,
    durable: String,
}

impl Delivery {
    /// Acks the batch and waits for the server to confirm; call once the batch is durable.
    pub async fn ack(self) -> Result<()> {
        self.message
            .double_ack()
            .await
            .map_err(|e| BusError::Consumer {
                server: self.server.clone(),
                stream: self.stream.clone(),
                durable: self.durable.clone(),
                message: format!("ack of {}/{}: {e}", self.site, self.seq),
            })
    }
}

/// A durable pull consumer (explicit ack) over the batch stream.
pub struct CentralConsumer {
    messages: pull::Stream,
    last_seen: HashMap<String, u64>,
    duplicates: u64,
    gaps: Vec<(String, Gap)>,
    server: String,
    stream: String,
    durable: String,
}

impl fmt::Debug for CentralConsumer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CentralConsumer")
            .field("server", &self.server)
            .field("stream", &self.stream)
            .field("durable", &self.durable)
            .field("last_seen", &self.last_seen)
            .field("duplicates", &self.duplicates)
            .field("gaps", &self.gaps)
            .finish_non_exhaustive()
    }
}

impl CentralConsumer {
    /// Connects with [`ConsumerConfig::default`].
    pub async fn connect(url: &str, durable_name: &str) -> Result<Self> {
        Self::connect_with(url, durable_name, ConsumerConfig::default()).await
    }

    /// Connects and binds the durable consumer `durable_name` (created if missing).
    ///
    /// If the durable exists with deliveries still unacked (a previous instance pulled batches it
    /// never handed out or acked), it is recreated to start right after its ack floor, so that the
    /// new instance continues, in order, after the last acked batch instead of waiting `ack_wait`
    /// for out-of-order redeliveries. This assumes one instance per durable and in-order acks.
    pub async fn connect_with(
        url: &str,
        durable_name: &str,
        config: ConsumerConfig,
    ) -> Result<Self> {
        crate::validate_token("durable", durable_name)?;
        let err = |message: String| BusError::Consumer {
            server: url.to_owned(),
            stream: config.stream.clone(),
            durable: durable_name.to_owned(),
            message,
        };
        let client = crate::connect(url, config.max_reconnect_delay, config.tls.as_ref()).await?;
        let js = jetstream::new(client);
        let stream =
            crate::ensure_stream(&js, url, &config.stream, config.duplicate_window).await?;
        let mut pull_config = pull::Config {
            durable_name: Some(durable_name.to_owned()),
            ack_policy: jetstream::consumer::AckPolicy::Explicit,
            ack_wait: config.ack_wait,
            deliver_policy: jetstream::consumer::DeliverPolicy::All,
            ..Default::default()
        };
        if let Ok(info) = stream.consumer_info(durable_name).await {
            if info.num_ack_pending > 0 {
                stream
                    .delete_consumer(durable_name)
                    .await
                    .map_err(|e| err(format!("recreating after unacked deliveries: {e}")))?;
                pull_config.deliver_policy = jetstream::consumer::DeliverPolicy::ByStartSequence {
                    start_sequence: info.ack_floor.stream_sequence + 1,
                };
            }
        }
        let consumer: jetstream::consumer::PullConsumer = stream
            .get_or_create_consumer(durable_name, pull_config)
            .await
            .map_err(|e| err(e.to_string()))?;
        let messages = consumer.messages().await.map_err(|e| err(e.to_string()))?;
        Ok(Self {
            messages,
            last_seen: HashMap::new(),
            duplicates: 0,
            gaps: Vec::new(),
            server: url.to_owned(),
            stream: config.stream,
            durable: durable_name.to_owned(),
        })
    }

    /// Declares that `site`'s batches up to `seq` are already durable centrally (e.g. read back
    /// from the central store after a restart): older ones are skipped, a later start is a gap.
    pub fn set_last_seen(&mut self, site: &str, seq: u64) {
        self.last_seen.insert(site.to_owned(), seq);
    }

    /// Last sequence handed out per site.
    pub fn last_seen(&self) -> &HashMap<String, u64> {
        &self.last_seen
    }

    /// Duplicates skipped (and acked) so far.
    pub fn duplicates_skipped(&self) -> u64 {
        self.duplicates
    }

    /// Gaps reported so far, with their site.
    pub fn gaps(&self) -> &[(String, Gap)] {
        &self.gaps
    }

    /// Waits for the next new batch. Duplicates (seq ≤ last seen for the site) are acked and
    /// skipped; a gap is reported on the returned [`Delivery`] and in [`Self::gaps`]. The first
    /// batch of a site not declared with [`Self::set_last_seen`] is taken as its start.
    pub async fn next(&mut self) -> Result<Delivery> {
        loop {
            let message = match self.messages.next().await {
                Some(Ok(m)) => m,
                Some(Err(e)) => return Err(self.error(e.to_string())),
                None => return Err(self.error("message stream ended".to_owned())),
            };
            let (site, jurisdiction, seq) = match parse_message(&message) {
                Ok(parsed) => parsed,
                Err(e) => {
                    // A poison message would block nothing (no ordering across it) but would be
                    // redelivered forever: terminate it and report.
                    let _ = message.ack_with(AckKind::Term).await;
                    return Err(e);
                }
            };
            let gap = match self.last_seen.get(&site) {
                Some(&last) if seq <= last => {
                    self.duplicates += 1;
                    message.ack().await.map_err(|e| self.error(e.to_string()))?;
                    continue;
                }
                Some(&last) if seq != last + 1 => Some(Gap {
                    expected: last + 1,
                    got: seq,
                }),
                _ => None,
            };
            if let Some(g) = gap {
                self.gaps.push((site.clone(), g));
            }
            self.last_seen.insert(site.clone(), seq);
            return Ok(Delivery {
                site,
                jurisdiction,
                seq,
                payload: message.payload.clone(),
                gap,
                message,
                server: self.server.clone(),
                stream: self.stream.clone(),
                durable: self.durable.clone(),
            });
        }
    }

    fn error(&self, message: String) -> BusError {
        BusError::Consumer {
            server: self.server.clone(),
            stream: self.stream.clone(),
            durable: self.durable.clone(),
            message,
        }
    }
}

/// Reads `(site, jurisdiction, seq)` from the subject and the `Nats-Msg-Id: <site>/<seq>` header.
fn parse_message(message: &jetstream::Message) -> Result<(String, String, u64)> {
    let subject = message.subject.as_str();
    let (site, jurisdiction) = parse_subject(subject)?;
    let malformed = |reason: String| BusError::Malformed {
        subject: subject.to_owned(),
        reason,
    };
    let id = message
        .headers
        .as_ref()
        .and_then(|h| h.get(MSG_ID_HEADER))
        .map(|v| v.as_str())
        .ok_or_else(|| malformed(format!("no {MSG_ID_HEADER} header")))?;
    let seq = id
        .strip_prefix(site.as_str())
        .and_then(|rest| rest.strip_prefix('/'))
        .and_then(|s| s.parse::<u64>().ok())
        .ok_or_else(|| malformed(format!("{MSG_ID_HEADER} {id:?} is not {site}/<seq>")))?;
    Ok((site, jurisdiction, seq))
}
