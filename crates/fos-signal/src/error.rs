//! The crate's error type.
//!
//! Every constructor and `process` method validates its parameters and returns a
//! [`SignalError`] instead of panicking: zero lengths, non-finite or non-positive rates,
//! cut-offs at or above Nyquist, bands outside the spectrum and slices of the wrong length.

use thiserror::Error;

/// What went wrong in a DSP call. Only parameters are checked; data values (NaN samples) pass through.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum SignalError {
    /// A parameter is out of its valid range (zero length, NaN rate, cut-off above Nyquist, …).
    #[error("invalid parameter `{name}`: {reason}")]
    InvalidParameter {
        /// The parameter's name.
        name: &'static str,
        /// Why it was rejected, with the offending value.
        reason: String,
    },
    /// A slice passed to a plan does not have the length the plan was built for.
    #[error("length mismatch for `{name}`: expected {expected}, got {got}")]
    LengthMismatch {
        /// Which slice.
        name: &'static str,
        /// The length the plan needs.
        expected: usize,
        /// The length given.
        got: usize,
    },
    /// The two sample rates do not reduce to a ratio `up/down` with both terms ≤ [`crate::resample::MAX_RATIO_TERM`].
    #[error(
        "unsupported resampling ratio {fs_out} / {fs_in}: no ratio up/down with terms <= {max}"
    )]
    UnsupportedRatio {
        /// Input rate, Hz.
        fs_in: f64,
        /// Output rate, Hz.
        fs_out: f64,
        /// Largest allowed term.
        max: usize,
    },
    /// The FFT library rejected a call (a bug in this crate if it ever happens).
    #[error("fft: {0}")]
    Fft(String),
}

impl SignalError {
    pub(crate) fn param(name: &'static str, reason: impl Into<String>) -> Self {
        SignalError::InvalidParameter {
            name,
            reason: reason.into(),
        }
    }

    pub(crate) fn check_len(name: &'static str, expected: usize, got: usize) -> Result<(), Self> {
        if expected == got {
            Ok(())
        } else {
            Err(SignalError::LengthMismatch {
                name,
                expected,
                got,
            })
        }
    }
}

impl From<realfft::FftError> for SignalError {
    fn from(e: realfft::FftError) -> Self {
        SignalError::Fft(e.to_string())
    }
}
