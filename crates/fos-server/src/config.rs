//! [`ServerConfig`]: where the server listens and how long sessions live, with documented defaults.

use std::net::SocketAddr;
use std::time::Duration;

/// How the server runs. [`ServerConfig::default`] holds the defaults named on each field.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    /// Address to listen on; port 0 picks a free port ([`crate::Running::addr`] tells which).
    /// Default `127.0.0.1:8080` (this machine only).
    pub bind: SocketAddr,
    /// How long a login lasts; the session's signing key is wiped when it ends. Default 8 h.
    pub session_ttl: Duration,
    /// Mark the session cookie `Secure` (only sent over HTTPS): set it when a TLS proxy fronts the
    /// server. Default false (plain HTTP on localhost).
    pub secure_cookie: bool,
    /// Most points of a trend and of each spectrum. Default 2000.
    pub max_points: usize,
    /// Timeout of each device connect and request when an approved write executes. Default 3 s.
    pub execute_timeout: Duration,
    /// How often the event watcher looks for changes made outside the API. Default 2 s.
    pub watch_interval: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            session_ttl: Duration::from_secs(8 * 3600),
            secure_cookie: false,
            max_points: 2000,
            execute_timeout: Duration::from_secs(3),
            watch_interval: Duration::from_secs(2),
        }
    }
}
