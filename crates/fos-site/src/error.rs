//! [`SiteError`]: what a site operation refuses or fails at, sorted by what the caller should do about it,
//! so an HTTP layer maps each kind to its status without reading messages ([`SiteError::kind`],
//! [`ErrorKind::http_status`]).
//!
//! | kind | meaning | HTTP |
//! | --- | --- | --- |
//! | [`ErrorKind::Unauthenticated`] | unknown user or wrong password | 401 |
//! | [`ErrorKind::Forbidden`] | the policy or the person's role forbids it; the message says why | 403 |
//! | [`ErrorKind::NotFound`] | no such proposal, finding, record or site | 404 |
//! | [`ErrorKind::BadRequest`] | the request itself is wrong (a value out of range, a missing field) | 400 |
//! | [`ErrorKind::Conflict`] | the request is fine but the state does not allow it now (already executed, awaiting approval, expired, stopped) | 409 |
//! | [`ErrorKind::Io`] | reading or writing a file failed | 500 |
//! | [`ErrorKind::Internal`] | damaged files, a ledger that refuses an append, anything else | 500 |
//!
//! Messages name the thing and what to do, never a secret.

use std::error::Error as StdError;
use std::fmt;

/// The kind of a [`SiteError`]. See the module documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorKind {
    /// Unknown user or wrong password.
    Unauthenticated,
    /// The policy or the person's role forbids it.
    Forbidden,
    /// No such thing.
    NotFound,
    /// The request is malformed or out of range.
    BadRequest,
    /// The state does not allow it now.
    Conflict,
    /// A file could not be read or written.
    Io,
    /// Anything else: damaged files, the ledger refusing an append.
    Internal,
}

impl ErrorKind {
    /// The HTTP status an API answers with.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorKind::Unauthenticated => 401,
            ErrorKind::Forbidden => 403,
            ErrorKind::NotFound => 404,
            ErrorKind::BadRequest => 400,
            ErrorKind::Conflict => 409,
            ErrorKind::Io | ErrorKind::Internal => 500,
        }
    }
}

type Source = Box<dyn StdError + Send + Sync + 'static>;

/// What a site operation refuses or fails at.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SiteError {
    /// Unknown user or wrong password (deliberately the same message).
    #[error("{reason}")]
    Unauthenticated {
        /// Which user, and that the name or password is wrong.
        reason: String,
    },
    /// The policy or the person's role forbids it.
    #[error("{reason}")]
    Forbidden {
        /// Why, naming the rule.
        reason: String,
    },
    /// No such proposal, finding, record or site.
    #[error("{what}")]
    NotFound {
        /// What is missing, and where to look.
        what: String,
    },
    /// The request is wrong.
    #[error("{problem}")]
    BadRequest {
        /// What is wrong.
        problem: String,
    },
    /// The state does not allow it now.
    #[error("{problem}")]
    Conflict {
        /// Why not, now.
        problem: String,
    },
    /// A file could not be read or written.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, with the path.
        context: String,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// Anything else.
    #[error("{context}")]
    Internal {
        /// What failed (holding the cause's text too).
        context: String,
        /// The cause, where there is one.
        #[source]
        source: Option<Source>,
    },
}

/// The result of a site operation.
pub type Result<T, E = SiteError> = std::result::Result<T, E>;

impl SiteError {
    /// Its kind.
    pub fn kind(&self) -> ErrorKind {
        match self {
            SiteError::Unauthenticated { .. } => ErrorKind::Unauthenticated,
            SiteError::Forbidden { .. } => ErrorKind::Forbidden,
            SiteError::NotFound { .. } => ErrorKind::NotFound,
            SiteError::BadRequest { .. } => ErrorKind::BadRequest,
            SiteError::Conflict { .. } => ErrorKind::Conflict,
            SiteError::Io { .. } => ErrorKind::Io,
            SiteError::Internal { .. } => ErrorKind::Internal,
        }
    }

    /// A refusal by policy or role.
    pub fn forbidden(reason: impl Into<String>) -> SiteError {
        SiteError::Forbidden { reason: reason.into() }
    }

    /// Something missing.
    pub fn not_found(what: impl Into<String>) -> SiteError {
        SiteError::NotFound { what: what.into() }
    }

    /// A bad request.
    pub fn bad_request(problem: impl Into<String>) -> SiteError {
        SiteError::BadRequest { problem: problem.into() }
    }

    /// A request the state does not allow now.
    pub fn conflict(problem: impl Into<String>) -> SiteError {
        SiteError::Conflict { problem: problem.into() }
    }

    /// An internal failure with its cause; the message is `context: cause`.
    pub fn internal(context: impl fmt::Display, source: impl StdError + Send + Sync + 'static) -> SiteError {
        SiteError::Internal { context: format!("{context}: {source}"), source: Some(Box::new(source)) }
    }

    /// An internal failure without a cause.
    pub fn internal_msg(context: impl Into<String>) -> SiteError {
        SiteError::Internal { context: context.into(), source: None }
    }

    /// An I/O failure while doing `context` (name the path in it).
    pub fn io(context: impl Into<String>, source: std::io::Error) -> SiteError {
        SiteError::Io { context: context.into(), source }
    }

    /// The same error with `prefix: ` before its message (kind kept).
    pub fn context(self, prefix: impl fmt::Display) -> SiteError {
        match self {
            SiteError::Unauthenticated { reason } => SiteError::Unauthenticated { reason: format!("{prefix}: {reason}") },
            SiteError::Forbidden { reason } => SiteError::Forbidden { reason: format!("{prefix}: {reason}") },
            SiteError::NotFound { what } => SiteError::NotFound { what: format!("{prefix}: {what}") },
            SiteError::BadRequest { problem } => SiteError::BadRequest { problem: format!("{prefix}: {problem}") },
            SiteError::Conflict { problem } => SiteError::Conflict { problem: format!("{prefix}: {problem}") },
            SiteError::Io { context, source } => SiteError::Io { context: format!("{prefix}: {context}"), source },
            SiteError::Internal { context, source } => SiteError::Internal { context: format!("{prefix}: {context}"), source },
        }
    }
}

impl From<fos_gate::UserError> for SiteError {
    fn from(e: fos_gate::UserError) -> SiteError {
        use fos_gate::UserError as U;
        match e {
            U::InvalidCredentials => SiteError::Unauthenticated { reason: e.to_string() },
            U::InvalidName { .. } | U::WeakPassword { .. } | U::FirstUserMustBeAdmin { .. } => {
                SiteError::bad_request(e.to_string())
            }
            U::Duplicate { .. } => SiteError::conflict(e.to_string()),
            U::AdminRequired { .. } | U::NotAdmin { .. } | U::UnknownActing { .. } => SiteError::forbidden(e.to_string()),
            other => SiteError::Internal { context: other.to_string(), source: Some(Box::new(other)) },
        }
    }
}

/// The kind of a state-machine refusal: the person's role or the two-person rule (forbidden), the
/// proposal's state (conflict), or a signature that does not verify (forbidden).
pub(crate) fn transition_kind(e: &fos_gate::TransitionError) -> ErrorKind {
    use fos_gate::TransitionError as T;
    match e {
        T::RoleNotAllowed { .. } | T::SelfApproval { .. } | T::UnknownUser { .. } | T::BadSignature { .. } => {
            ErrorKind::Forbidden
        }
        T::NotAllowed { .. }
        | T::DuplicateApprover { .. }
        | T::NoEligibleRole { .. }
        | T::Halted { .. }
        | T::Expired { .. }
        | T::NotDue { .. } => ErrorKind::Conflict,
        T::WrongProposal { .. } | T::WrongVerdict { .. } | T::PayloadMismatch { .. } | T::BadTimestamp { .. } => {
            ErrorKind::BadRequest
        }
        _ => ErrorKind::Internal,
    }
}

/// A gate error as a site error, with `prefix: ` before the message (`refused` for refusals).
pub(crate) fn from_gate(e: fos_gate::GateError, prefix: &str) -> SiteError {
    use fos_gate::GateError as G;
    let msg = format!("{prefix}: {e}");
    match &e {
        G::Transition(t) => match transition_kind(t) {
            ErrorKind::Forbidden => SiteError::forbidden(msg),
            ErrorKind::Conflict => SiteError::conflict(msg),
            ErrorKind::BadRequest => SiteError::bad_request(msg),
            _ => SiteError::Internal { context: msg, source: Some(Box::new(e)) },
        },
        G::UnknownProposal { .. } => SiteError::not_found(msg),
        G::NotPermitted { .. } => SiteError::forbidden(msg),
        G::Halted { .. } | G::NotApproved { .. } | G::NotDurable { .. } | G::StaleToken { .. } | G::CapabilityExpired { .. } => {
            SiteError::conflict(msg)
        }
        G::DuplicateProposal { .. } => SiteError::conflict(msg),
        G::InvalidProposal { .. } => SiteError::bad_request(msg),
        _ => SiteError::Internal { context: msg, source: Some(Box::new(e)) },
    }
}

impl From<fos_gate::GateError> for SiteError {
    fn from(e: fos_gate::GateError) -> SiteError {
        use fos_gate::GateError as G;
        match e {
            G::Io { .. } | G::Corrupt { .. } => SiteError::Internal { context: e.to_string(), source: Some(Box::new(e)) },
            other => from_gate(other, "refused"),
        }
    }
}

impl From<fos_ledger::LedgerError> for SiteError {
    fn from(e: fos_ledger::LedgerError) -> SiteError {
        SiteError::Internal { context: e.to_string(), source: Some(Box::new(e)) }
    }
}

impl From<fos_prov::ProvError> for SiteError {
    fn from(e: fos_prov::ProvError) -> SiteError {
        SiteError::Internal { context: e.to_string(), source: Some(Box::new(e)) }
    }
}

