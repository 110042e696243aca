//! Sessions: `POST /api/login` checks the password against the site's users (argon2id) and unlocks the
//! user's signing key, which the session keeps in memory so approvals made through the API are signed
//! by that user; the password itself is not kept.
//!
//! - **Token**: 32 random bytes from the operating system, sent as 64 hex digits, both in the answer
//!   (for `Authorization: Bearer …`) and as the cookie `fos_session` (`HttpOnly; SameSite=Strict;
//!   Path=/`, `Secure` when configured), for the console. The server keeps only the token's SHA-256, so
//!   the session table never holds a usable token.
//! - **Expiry**: fixed, [`crate::ServerConfig::session_ttl`] after login. An expired session is removed
//!   at its next use and by a sweep at every login; `POST /api/logout` removes it at once.
//! - **The key**: the session holds the `fos_gate::AuthenticatedUser` behind an `Arc`; when the session is
//!   removed and the last request using it has finished, the user's `ed25519_dalek::SigningKey` is
//!   dropped, which zeroes it (the `zeroize` feature fos-gate enables).
//! - **Cross-site requests**: the cookie is `SameSite=Strict`; in addition a state-changing request
//!   authenticated by the cookie whose `Origin` names another host than `Host` is refused (403).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::extract::FromRequestParts;
use axum::http::header::{AUTHORIZATION, COOKIE, HOST, ORIGIN};
use axum::http::request::Parts;
use axum::http::Method;
use fos_site::AuthenticatedUser;
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::state::AppState;

/// The session cookie's name.
pub const COOKIE_NAME: &str = "fos_session";

struct Session {
    user: Arc<AuthenticatedUser>,
    expires: Instant,
    expires_unix: u64,
}

/// The live sessions, by the SHA-256 of their token.
pub(crate) struct Sessions {
    map: Mutex<HashMap<[u8; 32], Session>>,
    ttl: Duration,
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl Sessions {
    pub(crate) fn new(ttl: Duration) -> Sessions {
        Sessions { map: Mutex::new(HashMap::new()), ttl }
    }

    /// A new session for `user`: its token and its expiry (Unix seconds).
    pub(crate) fn create(&self, user: AuthenticatedUser) -> Result<(String, u64), ApiError> {
        let mut raw = [0u8; 32];
        getrandom::fill(&mut raw).map_err(|e| ApiError::internal(format!("the system's random generator failed: {e}")))?;
        let token = fos_prov::hex(&raw);
        let now = Instant::now();
        let expires_unix =
            SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()).saturating_add(self.ttl.as_secs());
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        map.retain(|_, s| s.expires > now);
        map.insert(digest(&token), Session { user: Arc::new(user), expires: now + self.ttl, expires_unix });
        Ok((token, expires_unix))
    }

    /// The user of a live session and its expiry.
    pub(crate) fn get(&self, token: &str) -> Option<(Arc<AuthenticatedUser>, u64)> {
        let key = digest(token);
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        match map.get(&key) {
            Some(s) if s.expires > Instant::now() => Some((s.user.clone(), s.expires_unix)),
            Some(_) => {
                map.remove(&key);
                None
            }
            None => None,
        }
    }

    /// Whether the session of this token digest is still live.
    pub(crate) fn is_live(&self, key: &[u8; 32]) -> bool {
        let map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        map.get(key).is_some_and(|s| s.expires > Instant::now())
    }

    /// Ends a session.
    pub(crate) fn remove(&self, token: &str) -> bool {
        self.map.lock().unwrap_or_else(PoisonError::into_inner).remove(&digest(token)).is_some()
    }

    /// Live sessions.
    pub(crate) fn len(&self) -> usize {
        let now = Instant::now();
        self.map.lock().unwrap_or_else(PoisonError::into_inner).values().filter(|s| s.expires > now).count()
    }
}

/// The `Set-Cookie` value of a session (`max_age` 0 clears it).
pub(crate) fn cookie(token: &str, max_age: u64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{COOKIE_NAME}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age}{secure}")
}

/// The token of a request: `Authorization: Bearer …`, else the session cookie. The second value says
/// whether it came from the cookie.
pub(crate) fn token_of(parts: &Parts) -> Option<(String, bool)> {
    if let Some(v) = parts.headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        let v = v.trim();
        if let Some(t) = v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")) {
            return Some((t.trim().to_owned(), false));
        }
    }
    for h in parts.headers.get_all(COOKIE) {
        let Ok(text) = h.to_str() else { continue };
        for pair in text.split(';') {
            if let Some((k, v)) = pair.trim().split_once('=') {
                if k == COOKIE_NAME && !v.is_empty() {
                    return Some((v.to_owned(), true));
                }
            }
        }
    }
    None
}

/// A logged-in request: the user (able to sign as themselves) and the session's token.
pub struct Authed {
    /// The user.
    pub user: Arc<AuthenticatedUser>,
    /// The token (to end the session at logout).
    pub(crate) token: String,
    /// The session's expiry, Unix seconds.
    pub expires_at: u64,
}

impl std::fmt::Debug for Authed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authed").field("user", &self.user.name()).field("expires_at", &self.expires_at).finish_non_exhaustive()
    }
}

impl Authed {
    /// The digest the session table keys on.
    pub(crate) fn key(&self) -> [u8; 32] {
        digest(&self.token)
    }
}

impl FromRequestParts<AppState> for Authed {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let Some((token, from_cookie)) = token_of(parts) else {
            return Err(ApiError::unauthorized("log in first: POST /api/login, then send the token as `Authorization: Bearer TOKEN`"));
        };
        let Some((user, expires_at)) = state.sessions().get(&token) else {
            return Err(ApiError::unauthorized("the session is unknown or has expired; log in again"));
        };
        if from_cookie && !matches!(parts.method, Method::GET | Method::HEAD) && cross_site(parts) {
            return Err(ApiError::forbidden("cross-site request refused: its Origin is not this server"));
        }
        Ok(Authed { user, token, expires_at })
    }
}

/// Whether the request's `Origin` names another host than its `Host`.
fn cross_site(parts: &Parts) -> bool {
    let Some(origin) = parts.headers.get(ORIGIN).and_then(|v| v.to_str().ok()) else { return false };
    let host = parts.headers.get(HOST).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let origin_host = origin.split_once("://").map_or(origin, |(_, rest)| rest).trim_end_matches('/');
    origin == "null" || !origin_host.eq_ignore_ascii_case(host)
}
