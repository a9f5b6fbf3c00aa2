//! The caller-error type.

use std::fmt;

use runwire_model::ArgError;
use runwire_proto::ErrorCode;

/// A bad argument: the caller's bug, with a stable protocol code. Runner-side problems are
/// never a `ClientError` (see the crate doc). The rules are `runwire_model::arg`'s, the ones
/// the server applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientError(ArgError);

impl ClientError {
    /// The stable code, one of [`crate::CALLER_ERROR_CODES`].
    pub fn code(&self) -> ErrorCode {
        runwire_proto::caller_error_code(&self.0)
    }

    /// What was wrong and where, for a person.
    pub fn message(&self) -> &str {
        self.0.message()
    }
}

impl From<ArgError> for ClientError {
    fn from(error: ArgError) -> Self {
        Self(error)
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for ClientError {}
