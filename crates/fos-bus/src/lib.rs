//! The scale-out link of the FOS edge pipeline over NATS JetStream.
//!
//! An edge site appends batches to its write-ahead log (`fos-wal`), each with a sequence number that is
//! contiguous per site. [`EdgePublisher`] publishes them to `fos.<site>.<jurisdiction>.batches`, waits
//! for the JetStream PubAck of each one, and sets `Nats-Msg-Id: <site>/<seq>` so that a re-publish after
//! a crash or a reconnect is dropped by the server's duplicate window. [`EdgePublisher::publish_from`]
//! returns the last acknowledged sequence, up to which the caller may truncate its WAL.
//!
//! Centrally, [`CentralConsumer`] reads the stream through a durable pull consumer with explicit acks,
//! checks the sequence per site (duplicates are skipped and acked, gaps are reported on the
//! [`Delivery`]) and acks a batch only when the caller calls [`Delivery::ack`], i.e. once the batch is
//! durable on its side.
//!
//! **TLS**: with [`PublisherConfig::tls`] / [`ConsumerConfig::tls`] set to a [`TlsConfig`], the
//! connection requires TLS whatever the URL's scheme, trusts only the configured CA, and presents a
//! client certificate when one is configured, so a server with `tls { verify: true }` admits only
//! clients holding a certificate of its CA (mutual TLS). Each file is checked before connecting, and
//! errors name it.
//!
//! Not covered here: credentials/NKeys, the object store for large payloads.

mod consumer;
mod publisher;
mod tls;

pub use consumer::{CentralConsumer, ConsumerConfig, Delivery, Gap};
pub use publisher::{EdgePublisher, PublishOutcome, PublisherConfig};
pub use tls::TlsConfig;

use std::time::Duration;

/// Default name of the JetStream stream that captures `fos.>`.
pub const DEFAULT_STREAM: &str = "FOS_BATCHES";

/// Default duplicate window of the stream: how long the server remembers a `Nats-Msg-Id`.
///
/// Beyond this window, a re-published batch is stored twice and the consumer's per-site check drops it.
pub const DEFAULT_DUPLICATE_WINDOW: Duration = Duration::from_secs(10 * 60);

/// Header that carries `<site>/<seq>` (JetStream's message-deduplication id).
pub const MSG_ID_HEADER: &str = "Nats-Msg-Id";

/// Every error of this crate; each names the server, subject, site or stream it concerns.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// A site or jurisdiction token is empty or holds characters outside `[A-Za-z0-9_-]`.
    #[error("invalid {kind} token {token:?}: only [A-Za-z0-9_-]+ is allowed")]
    InvalidToken {
        /// `"site"` or `"jurisdiction"`.
        kind: &'static str,
        /// The rejected token.
        token: String,
    },
    /// A TLS file is missing, unreadable or holds no usable PEM item, or the settings are inconsistent.
    #[error("TLS {role} {}: {problem}", file.display())]
    Tls {
        /// `"CA file"`, `"client certificate"` or `"client key"`.
        role: &'static str,
        /// The file.
        file: std::path::PathBuf,
        /// What is wrong with it.
        problem: String,
    },
    /// The first connection to the server failed (over TLS, the message names the TLS files).
    #[error("cannot connect to NATS server {server}: {message}")]
    Connect {
        /// Server URL.
        server: String,
        /// Cause, from async-nats.
        message: String,
    },
    /// The stream could not be created or read.
    #[error("JetStream stream {stream} on {server}: {message}")]
    Stream {
        /// Server URL.
        server: String,
        /// Stream name.
        stream: String,
        /// Cause, from async-nats.
        message: String,
    },
    /// A batch was not acknowledged by JetStream (server down, timeout, no stream).
    #[error("batch {site}/{seq} on subject {subject} not acknowledged by {server}: {message}")]
    Publish {
        /// Server URL.
        server: String,
        /// Subject published to.
        subject: String,
        /// Edge site.
        site: String,
        /// Batch sequence number.
        seq: u64,
        /// Cause, from async-nats.
        message: String,
    },
    /// The durable consumer could not be created, read or acked.
    #[error("consumer {durable} of stream {stream} on {server}: {message}")]
    Consumer {
        /// Server URL.
        server: String,
        /// Stream name.
        stream: String,
        /// Durable consumer name.
        durable: String,
        /// Cause, from async-nats.
        message: String,
    },
    /// A message in the stream does not follow the FOS subject/header layout (it is terminated).
    #[error("malformed message on subject {subject}: {reason}")]
    Malformed {
        /// Subject of the message.
        subject: String,
        /// What is wrong.
        reason: String,
    },
}

/// Result alias of this crate.
pub type Result<T, E = BusError> = std::result::Result<T, E>;

/// Checks a site or jurisdiction token: non-empty, `[A-Za-z0-9_-]` only.
pub fn validate_token(kind: &'static str, token: &str) -> Result<()> {
    let ok = !token.is_empty()
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(BusError::InvalidToken {
            kind,
            token: token.to_owned(),
        })
    }
}

/// The subject of a site's batches: `fos.<site>.<jurisdiction>.batches`, tokens validated.
pub fn batch_subject(site: &str, jurisdiction: &str) -> Result<String> {
    validate_token("site", site)?;
    validate_token("jurisdiction", jurisdiction)?;
    Ok(format!("fos.{site}.{jurisdiction}.batches"))
}

/// Splits `fos.<site>.<jurisdiction>.batches` into `(site, jurisdiction)`.
pub fn parse_subject(subject: &str) -> Result<(String, String)> {
    let malformed = |reason: &str| BusError::Malformed {
        subject: subject.to_owned(),
        reason: reason.to_owned(),
    };
    let parts: Vec<&str> = subject.split('.').collect();
    match parts.as_slice() {
        ["fos", site, jur, "batches"] => {
            validate_token("site", site).map_err(|e| malformed(&e.to_string()))?;
            validate_token("jurisdiction", jur).map_err(|e| malformed(&e.to_string()))?;
            Ok(((*site).to_owned(), (*jur).to_owned()))
        }
        _ => Err(malformed("expected fos.<site>.<jurisdiction>.batches")),
    }
}

/// Creates the stream (file storage, subjects `fos.>`) if it does not exist; an existing one is used as is.
pub(crate) async fn ensure_stream(
    js: &async_nats::jetstream::Context,
    server: &str,
    name: &str,
    duplicate_window: Duration,
) -> Result<async_nats::jetstream::stream::Stream> {
    use async_nats::jetstream::stream;
    js.get_or_create_stream(stream::Config {
        name: name.to_owned(),
        subjects: vec!["fos.>".to_owned()],
        storage: stream::StorageType::File,
        duplicate_window,
        ..Default::default()
    })
    .await
    .map_err(|e| BusError::Stream {
        server: server.to_owned(),
        stream: name.to_owned(),
        message: e.to_string(),
    })
}

/// Connects with unlimited reconnects and a capped, linear reconnect delay; over TLS (required) when
/// `tls` is set, after checking its files.
pub(crate) async fn connect(
    url: &str,
    max_reconnect_delay: Duration,
    tls: Option<&TlsConfig>,
) -> Result<async_nats::Client> {
    let mut options = async_nats::ConnectOptions::new()
        .max_reconnects(None)
        .reconnect_delay_callback(move |attempts| {
            let step = Duration::from_millis(50)
                .saturating_mul(u32::try_from(attempts).unwrap_or(u32::MAX));
            step.min(max_reconnect_delay)
        });
    if let Some(tls) = tls {
        tls.check()?;
        options = tls.apply(options);
    }
    options.connect(url).await.map_err(|e| BusError::Connect {
        server: url.to_owned(),
        message: match tls {
            Some(tls) => format!("{e} (over TLS: {})", tls.describe()),
            None => e.to_string(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_are_built_and_parsed() {
        assert_eq!(
            batch_subject("plant-1", "EU_de").unwrap(),
            "fos.plant-1.EU_de.batches"
        );
        assert_eq!(
            parse_subject("fos.plant-1.EU_de.batches").unwrap(),
            ("plant-1".to_owned(), "EU_de".to_owned())
        );
        assert!(parse_subject("fos.a.b.c").is_err());
        assert!(parse_subject("fos.a.batches").is_err());
    }

    #[test]
    fn bad_tokens_are_named() {
        for bad in ["", "a.b", "a*", ">", "a b", "é"] {
            let e = batch_subject(bad, "eu").unwrap_err();
            assert!(e.to_string().contains("site"), "{e}");
        }
        let e = batch_subject("ok", "e.u").unwrap_err();
        assert!(
            e.to_string().contains("jurisdiction") && e.to_string().contains("\"e.u\""),
            "{e}"
        );
    }
}
