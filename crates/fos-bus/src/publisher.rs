//! Edge side: publishes WAL batches to JetStream, one at a time, each confirmed by a PubAck.

use std::time::Duration;

use async_nats::jetstream::{self, message::PublishMessage};
use bytes::Bytes;

use crate::{batch_subject, BusError, Result, TlsConfig, DEFAULT_DUPLICATE_WINDOW, DEFAULT_STREAM};

/// Settings of an [`EdgePublisher`].
#[derive(Debug, Clone)]
pub struct PublisherConfig {
    /// Stream created (if missing) to capture `fos.>`.
    pub stream: String,
    /// Duplicate window given to the stream when this publisher creates it.
    pub duplicate_window: Duration,
    /// How long a publish waits for its PubAck before it fails.
    pub ack_timeout: Duration,
    /// Upper bound of the delay between reconnect attempts (the client reconnects by itself, forever).
    pub max_reconnect_delay: Duration,
    /// TLS (required when set, mutual with a client certificate); `None`: plain text, the default.
    pub tls: Option<TlsConfig>,
}

impl Default for PublisherConfig {
    fn default() -> Self {
        Self {
            stream: DEFAULT_STREAM.to_owned(),
            duplicate_window: DEFAULT_DUPLICATE_WINDOW,
            ack_timeout: Duration::from_secs(5),
            max_reconnect_delay: Duration::from_secs(2),
            tls: None,
        }
    }
}

/// What [`EdgePublisher::publish_from`] achieved.
#[derive(Debug)]
#[must_use]
pub struct PublishOutcome {
    /// Last sequence acknowledged by JetStream in this call (`None`: none). The WAL may be
    /// truncated before `last_acked + 1`.
    pub last_acked: Option<u64>,
    /// The error that stopped the call, if it stopped before the end of the iterator. The caller
    /// retries later from `last_acked + 1`.
    pub error: Option<BusError>,
}

/// Publishes one site's batches to `fos.<site>.<jurisdiction>.batches`.
#[derive(Debug)]
pub struct EdgePublisher {
    js: jetstream::Context,
    client: async_nats::Client,
    server: String,
    site: String,
    subject: String,
}

impl EdgePublisher {
    /// Connects with [`PublisherConfig::default`].
    pub async fn connect(url: &str, site: &str, jurisdiction: &str) -> Result<Self> {
        Self::connect_with(url, site, jurisdiction, PublisherConfig::default()).await
    }

    /// Connects, validates the tokens and creates the stream if it does not exist.
    pub async fn connect_with(
        url: &str,
        site: &str,
        jurisdiction: &str,
        config: PublisherConfig,
    ) -> Result<Self> {
        let subject = batch_subject(site, jurisdiction)?;
        let client = crate::connect(url, config.max_reconnect_delay, config.tls.as_ref()).await?;
        let mut js = jetstream::new(client.clone());
        js.set_timeout(config.ack_timeout);
        crate::ensure_stream(&js, url, &config.stream, config.duplicate_window).await?;
        Ok(Self {
            js,
            client,
            server: url.to_owned(),
            site: site.to_owned(),
            subject,
        })
    }

    /// The subject this publisher writes to.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// Whether the client is connected right now (it reconnects by itself after an outage).
    pub fn is_connected(&self) -> bool {
        self.client.connection_state() == async_nats::connection::State::Connected
    }

    /// Publishes batch `seq` with `Nats-Msg-Id: <site>/<seq>` and waits for its PubAck.
    ///
    /// A PubAck flagged `duplicate` (the server already holds this id) counts as success.
    pub async fn publish(&self, seq: u64, payload: Bytes) -> Result<()> {
        let err = |message: String| BusError::Publish {
            server: self.server.clone(),
            subject: self.subject.clone(),
            site: self.site.clone(),
            seq,
            message,
        };
        let msg = PublishMessage::build()
            .payload(payload)
            .message_id(format!("{}/{seq}", self.site));
        let ack = self
            .js
            .send_publish(self.subject.clone(), msg)
            .await
            .map_err(|e| err(e.to_string()))?;
        ack.await.map_err(|e| err(e.to_string()))?;
        Ok(())
    }

    /// Publishes `(seq, payload)` in order, each waiting for its PubAck, and stops at the first
    /// failure so that nothing after an unacknowledged batch is stored ahead of it.
    pub async fn publish_from<I>(&self, batches: I) -> PublishOutcome
    where
        I: IntoIterator<Item = (u64, Bytes)>,
    {
        let mut last_acked = None;
        for (seq, payload) in batches {
            if let Err(e) = self.publish(seq, payload).await {
                return PublishOutcome {
                    last_acked,
                    error: Some(e),
                };
            }
            last_acked = Some(seq);
        }
        PublishOutcome {
            last_acked,
            error: None,
        }
    }
}
