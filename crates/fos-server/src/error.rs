//! Errors: [`ServerError`] for starting and running the server, and [`ApiError`], what a route answers
//! when it refuses or fails: `{"error": "…message…"}` with the status of its kind (401 not logged in or a
//! wrong password, 403 forbidden by policy or role with the reason, 404 not found, 400 bad request, 409
//! not now, 500 internal). Internal failures are logged with their detail and answered with a generic
//! message, so a response never shows the server's files or a cause chain.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use fos_site::{ErrorKind, SiteError};

/// What can stop the server from starting or running.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}; choose another address or port (port 0 picks a free one)")]
    Bind {
        /// The address.
        addr: std::net::SocketAddr,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// Serving failed.
    #[error("the HTTP server failed: {0}")]
    Serve(std::io::Error),
    /// The server task ended abnormally.
    #[error("the HTTP server task ended abnormally: {0}")]
    Task(String),
    /// The site could not be read at start-up.
    #[error("cannot read the site: {0}")]
    Site(#[from] SiteError),
}

/// An API error: a status and a message for the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The message sent as `{"error": message}`.
    pub message: String,
}

impl ApiError {
    /// An error with `status` and `message`.
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError { status, message: message.into() }
    }

    /// 400.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    /// 401.
    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, message)
    }

    /// 403.
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, message)
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }

    /// 500, with the detail logged and a generic message for the client.
    pub fn internal(detail: impl std::fmt::Display) -> ApiError {
        tracing::error!(%detail, "request failed");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error; the detail is in the server's log")
    }
}

impl From<SiteError> for ApiError {
    fn from(e: SiteError) -> ApiError {
        match e.kind() {
            ErrorKind::Io | ErrorKind::Internal => ApiError::internal(&e),
            kind => {
                let status = StatusCode::from_u16(kind.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                ApiError::new(status, e.to_string())
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(serde_json::json!({ "error": self.message }))).into_response()
    }
}
