//! What went wrong on the wire ([`Diagnostic`]) and the server's whole output
//! ([`ServerReport`]): what the tools declared, as `runwire_model::Declaration`s, plus the
//! faults. Free of protobuf types.

use std::fmt;

use runwire_model::Declaration;
use serde::Serialize;

/// Stable codes of protocol faults, named in spec/protocol.md ("Errors and faults") and
/// listed in docs/errors.md. Every one makes the run uncacheable.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    strum::EnumIter,
    strum::EnumMessage,
)]
#[serde(rename_all = "snake_case")]
pub enum DiagnosticCode {
    /// A length prefix over the maximum; the connection was closed.
    FrameTooLarge,
    /// The peer closed the connection inside a frame.
    TruncatedFrame,
    /// A frame did not decode as a `ClientMessage`.
    MalformedMessage,
    /// A message with no body, or a body the server does not know or did not advertise.
    UnknownMessage,
    /// The first message was not `Hello`.
    HandshakeRequired,
    /// `Hello` listed no version the server speaks.
    UnsupportedVersion,
    /// A second `Hello` on one connection.
    DuplicateHello,
    /// A report with a bad argument (empty or relative path, empty pattern...).
    InvalidReport,
    /// A peer running as another user connected; it was refused.
    ForeignPeer,
    /// A connection was still open at the finish deadline.
    LingeringConnection,
    /// Reading from or writing to a connection failed.
    Io,
    /// A bug in the server (a connection's task panicked); only that connection is lost.
    Internal,
}

impl DiagnosticCode {
    /// The stable `snake_case` name, as serialized.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FrameTooLarge => "frame_too_large",
            Self::TruncatedFrame => "truncated_frame",
            Self::MalformedMessage => "malformed_message",
            Self::UnknownMessage => "unknown_message",
            Self::HandshakeRequired => "handshake_required",
            Self::UnsupportedVersion => "unsupported_version",
            Self::DuplicateHello => "duplicate_hello",
            Self::InvalidReport => "invalid_report",
            Self::ForeignPeer => "foreign_peer",
            Self::LingeringConnection => "lingering_connection",
            Self::Io => "io",
            Self::Internal => "internal",
        }
    }
}

impl fmt::Display for DiagnosticCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A protocol fault: what was wrong, and on which connection (numbered from 1 in accept
/// order; `None` for faults of the server as a whole).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Diagnostic {
    pub code: DiagnosticCode,
    pub message: String,
    pub connection: Option<u64>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(connection) = self.connection {
            write!(f, "protocol connection {connection}: ")?;
        }
        write!(f, "{} ({})", self.message, self.code)
    }
}

/// Everything a run's server saw: declarations sorted and de-duplicated (they are a set:
/// which connection sent what, in which order, does not matter), diagnostics in the order
/// they happened.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ServerReport {
    pub declarations: Vec<Declaration>,
    pub diagnostics: Vec<Diagnostic>,
    /// How many connections were accepted (refused foreign peers included). Not serialized:
    /// it depends on how a tool spreads its calls, not on what it declared.
    #[serde(skip)]
    pub connections: u64,
}

impl ServerReport {
    /// Whether any protocol fault happened (the run must not be cached).
    pub fn has_faults(&self) -> bool {
        !self.diagnostics.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diagnostics_name_the_connection_and_the_code() {
        let diagnostic = Diagnostic {
            code: DiagnosticCode::FrameTooLarge,
            message: "frame length 9 exceeds the maximum of 8 bytes".into(),
            connection: Some(3),
        };
        assert_eq!(
            diagnostic.to_string(),
            "protocol connection 3: frame length 9 exceeds the maximum of 8 bytes (frame_too_large)"
        );
    }
}
